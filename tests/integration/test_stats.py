#!/usr/bin/python3
"""Per-client statistics in Redis ([stats] section, src/stats_count.c, src/stats_flush.c), end to end against a real
redis-server.

Keys (docs/redis-schema.md), with P = "jurisdns:" and S = P + "{stats}:":
  S total, S total:YYYYMMDDHH (HASH: queries, cache_hits, blocked, rewritten, a:<action>,
  g:<GROUP>, g:<GROUP>:hosted|operator|domain); S clients (SET); S client:<ID> (HASH, the same
  fields plus first_seen/last_seen) and S client:<ID>:<HOUR>; S top:<ID>:<GROUP> (ZSET);
  S seen:<ID>:<GROUP> (SET); S events (STREAM); S applied (HASH instance -> seq);
  S instance:<NAME> (HASH heartbeat, with a TTL).

Each class starts its own redis-server on a unix socket in a temporary directory and stops it by
PID; every test starts its own daemon(s), forwarding to one knotd that serves
tests/zones/policy.zone and tests/zones/tuyaeu.zone, with the test GeoIP database and the tests'
own groups file (as in test_redis.py):
  cn.policy.test, *.cn.policy.test   PRC hosted:CN
  ali-de.policy.test                 PRC operator:AS45102
  a1.tuyaeu.com                      PRC domain (tuyaeu.com)
  de.policy.test                     no label

Every daemon has one worker, so the cache (and thus cache_hits) is predictable.

Needs /usr/bin/redis-server (or $REDIS_SERVER) and python3-redis."""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.exception
import dns.rcode

import harness as h

try:
    import redis
except ImportError:  # reported by setUpModule
    redis = None

REDIS_SERVER = h.REDIS_SERVER

KNOT = None
ZONES = h.POLICY_ZONES

GROUPS = h.PRC_GROUPS

P = "jurisdns:"
S = P + "{stats}:"

CN = "cn.policy.test"
ALI = "ali-de.policy.test"
TUYA = "a1.tuyaeu.com"
DE = "de.policy.test"

C1, C2, C3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"   # log, off, block PRC

# why each name is labelled (src/label.c label_why): the AS with its name from the GeoIP database
WHY = {CN: "hosted:CN", ALI: "operator:AS45102 Alibaba US Technology Co., Ltd.",
       TUYA: "domain:tuyaeu.com"}

VERSION = None


def package_version():
    for d in (os.environ.get("abs_top_builddir"), h.REPO):
        if not d:
            continue
        try:
            with open(os.path.join(d, "config.h")) as f:
                m = re.search(r'#define PACKAGE_VERSION "([^"]*)"', f.read())
                if m:
                    return m.group(1)
        except OSError:
            pass
    return None


def setUpModule():
    global KNOT, VERSION
    h.require_redis()
    VERSION = package_version()
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


def utc_hour(t=None):
    return time.strftime("%Y%m%d%H", time.gmtime(t if t is not None else time.time()))


RedisServer = h.RedisServer


def udp_bound(host, port):
    """True when a UDP socket is bound to host:port (read from /proc/net/udp)."""
    want = "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(host))[0], port)
    try:
        with open("/proc/net/udp") as f:
            return any(line.split()[1] == want for line in f.readlines()[1:])
    except OSError:
        return False


class StatsJurisdns(h.Jurisdns):
    """The daemon (with [redis] and [stats] sections) whose wait_ready() is replaced: the
    harness's probe (an opcode STATUS message, answered NOTIMP) is counted as a query (in the
    totals and for 127.0.0.1), and it may be sent more than once, which would make the exact
    counts below uncertain. Instead, readiness = the UDP socket is
    bound (queries sent from then on wait in its buffer until the worker reads them)."""

    def wait_ready(self, timeout=10.0, port=None, host=None):
        port = port or self.port
        host = host or self.host
        deadline = time.monotonic() + timeout
        while not udp_bound(host, port):
            if self.proc.poll() is not None:
                raise AssertionError("jurisdns exited with %s; log:\n%s"
                                     % (self.proc.returncode, self.read_log()))
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError("jurisdns did not bind %s:%d within %.0fs; log:\n%s"
                                     % (host, port, timeout, self.read_log()))
            time.sleep(0.02)


class StatsCase(h.RedisTestCase, h.JDTestCase):
    """Daemons per test, against the class's redis-server (see h.RedisTestCase)."""

    redis_tmp_prefix = "jd-stats-redis-"

    def make_jd(self, instance="t1", stats=None, redis_conf=None, clients=None, start=True):
        rc = {"address": self.redis.address, "snapshot": "", "refresh": 0, "timeout": 1000}
        rc.update(redis_conf or {})
        sc = {"instance": instance, "interval": 200, "retention_days": 2}
        sc.update(stats or {})
        if clients is None:
            clients = [(C2, {"mode": "off"}), (C3, {"mode": "block", "block": "PRC"})]
        jd = self.daemon([KNOT], start=start, cls=StatsJurisdns, groups=GROUPS, test_geoip=True,
                         policy={"default_mode": "log", "block": "PRC"},
                         clients=clients, redis=rc, stats=sc)
        jd.instance = instance
        if start:
            self.wait_heartbeat(jd)
        return jd

    def wait_heartbeat(self, jd, timeout=5.0):
        """The first flush reached Redis (the heartbeat is written by every flush)."""
        h.wait_for(lambda: self.r.exists(S + "instance:" + jd.instance), timeout, interval=0.02,
                   what="the heartbeat of %s; log:\n%s" % (jd.instance, jd.read_log()))

    # --- queries ------------------------------------------------------------------------------

    def ask(self, jd, name, source=C1, timeout=2.0):
        q = h.make_query(name, "A")
        return h.udp(q, jd.port, source=source, timeout=timeout)

    def answers(self, r):
        return sorted(rd.to_text() for rrset in r.answer for rd in rrset)

    # --- Redis side ---------------------------------------------------------------------------

    def total(self):
        return int(self.r.hget(S + "total", "queries") or 0)

    def wait_total(self, n, timeout=5.0, jd=None):
        h.wait_for(lambda: self.total() >= n, timeout, interval=0.02,
                   what="total queries >= %d (have %d)%s"
                   % (n, self.total(), "; log:\n" + jd.read_log() if jd else ""))
        self.assertEqual(self.total(), n, "more queries counted than were sent")

    def hash_counts(self, key):
        """The hash without first_seen/last_seen, values as ints."""
        d = self.r.hgetall(key)
        return {k: int(v) for k, v in d.items() if k not in ("first_seen", "last_seen")}


class TestCounters(StatsCase):

    def script(self, jd):
        """The scripted sequence: 13 queries from 3 clients (see the expected counts below)."""
        # C1, mode log: miss, hit, miss, hit, miss, miss
        for name in (CN, CN, DE, DE, ALI, TUYA):
            r = self.ask(jd, name, C1)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertNotEqual(self.answers(r), ["0.0.0.0"], name)
        # C2, mode off: hit, hit, miss
        for name in (CN, DE, "x.cn.policy.test"):
            r = self.ask(jd, name, C2)
            self.assertNotEqual(self.answers(r), ["0.0.0.0"], name)
        # C3, mode block PRC: hit (sinkhole), hit (pass), miss (sinkhole), hit (sinkhole)
        for name, sink in ((CN, True), (DE, False), ("y.cn.policy.test", True),
                           ("y.cn.policy.test", True)):
            r = self.ask(jd, name, C3)
            self.assertEqual(self.answers(r) == ["0.0.0.0"], sink, "%s: %s" % (name, r))

    EXP_C1 = {"queries": 6, "cache_hits": 2, "g:PRC": 4, "g:PRC:hosted": 2,
              "g:PRC:operator": 1, "g:PRC:domain": 1}
    EXP_C3 = {"queries": 4, "cache_hits": 3, "blocked": 3, "a:sinkhole": 3, "g:PRC": 3,
              "g:PRC:hosted": 3}
    EXP_TOTAL = {"queries": 13, "cache_hits": 7, "blocked": 3, "a:sinkhole": 3, "g:PRC": 9,
                 "g:PRC:hosted": 7, "g:PRC:operator": 1, "g:PRC:domain": 1}

    def test_exact_counters_after_sigterm(self):
        """A long interval: nothing but the start-up heartbeat is flushed before SIGTERM; the
        last flush at exit writes the exact counts; a client in mode off has no client keys."""
        jd = self.make_jd(stats={"interval": 60000}, start=False)
        jd.start()
        self.addCleanup(jd.stop)
        t0 = int(time.time())
        self.script(jd)
        jd.stop()
        t1 = int(time.time())
        self.assertEqual(self.hash_counts(S + "total"), self.EXP_TOTAL, jd.read_log())
        self.assertEqual(self.r.smembers(S + "clients"), {C1, C3})
        self.assertEqual(self.hash_counts(S + "client:" + C1), self.EXP_C1)
        self.assertEqual(self.hash_counts(S + "client:" + C3), self.EXP_C3)
        for c in (C1, C3):
            d = self.r.hgetall(S + "client:" + c)
            self.assertTrue(t0 - 1 <= int(d["first_seen"]) <= int(d["last_seen"]) <= t1 + 1, d)
        self.assertEqual([k for k in self.r.keys(S + "*") if C2 in k], [],
                         "a client in mode off must have no keys of its own")
        self.assertNotIn("could not be written", jd.read_log())

    def test_exact_counters_periodic_flush(self):
        """The same counts reach Redis through the periodic flushes (interval 200 ms), and
        stay exact after two more intervals."""
        jd = self.make_jd()
        self.script(jd)
        self.wait_total(13, jd=jd)
        time.sleep(0.5)
        self.assertEqual(self.hash_counts(S + "total"), self.EXP_TOTAL)
        self.assertEqual(self.hash_counts(S + "client:" + C1), self.EXP_C1)
        self.assertEqual(self.hash_counts(S + "client:" + C3), self.EXP_C3)
        self.assertFalse(self.r.exists(S + "client:" + C2))
        self.assertEqual(self.r.smembers(S + "clients"), {C1, C3})

    def test_hourly_bucket(self):
        """The current UTC hour's buckets hold the same counts, with a TTL of retention_days."""
        jd = self.make_jd(stats={"interval": 60000, "retention_days": 2}, start=False)
        jd.start()
        self.addCleanup(jd.stop)
        h0 = utc_hour()
        self.script(jd)
        jd.stop()
        h1 = utc_hour()
        ret = 2 * 86400
        if h0 != h1:
            self.skipTest("the UTC hour changed during the test")
        for key, exp in ((S + "total:" + h1, self.EXP_TOTAL),
                         (S + "client:%s:%s" % (C1, h1), self.EXP_C1),
                         (S + "client:%s:%s" % (C3, h1), self.EXP_C3)):
            self.assertEqual(self.hash_counts(key), exp, key)
            ttl = self.r.ttl(key)
            self.assertTrue(ret - 60 < ttl <= ret, "%s: TTL %d, want (%d, %d]"
                            % (key, ttl, ret - 60, ret))
        self.assertEqual(sorted(self.r.keys(S + "total:*")), [S + "total:" + h1])
        self.assertEqual(self.r.keys(S + "client:%s:*" % C2), [])


CTL = h.ctl_bin()


class TestCtl(StatsCase):
    """jurisdns-ctl stats, top and tail read exactly what the daemon wrote."""

    def ctl(self, *args):
        p = subprocess.run([CTL, "-c", "/dev/null", "-r", self.redis.address] + list(args), capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_stats_top_tail(self):
        jd = self.make_jd(stats={"interval": 60000, "recent": 100}, start=False)
        jd.start()
        self.addCleanup(jd.stop)
        TestCounters.script(self, jd)
        jd.stop()
        self.r.hset("jurisdns:{policy}:client:" + C1, "name", "laptop")
        all_ = json.loads(self.ctl("--json", "stats"))
        self.assertEqual({k: v for k, v in all_["total"].items()}, TestCounters.EXP_TOTAL)
        ids = [c["id"] for c in all_["clients"]]
        self.assertEqual(sorted(ids), sorted([C1, C3]))
        one = json.loads(self.ctl("stats", C1, "--json"))
        self.assertEqual(one["name"], "laptop")
        counters = {k: v for k, v in one["counters"].items() if k not in ("first_seen", "last_seen")}
        self.assertEqual(counters, TestCounters.EXP_C1)
        self.assertIn("queries: 6", self.ctl("stats", C1))
        top = json.loads(self.ctl("--json", "top", C1))
        want = self.r.zrevrange(S + "top:%s:PRC" % C1, 0, -1, withscores=True)
        self.assertEqual([(d["domain"], d["count"]) for d in top["PRC"]],
                         [(d, int(c)) for d, c in want])
        self.assertTrue(top["PRC"])
        events = [json.loads(l) for l in self.ctl("--json", "tail", "-n", "100").splitlines()]
        self.assertEqual(len(events), self.r.xlen(S + "events"))
        self.assertEqual({(e["client"], e["type"]) for e in events if e["type"] == "group"},
                         {(C1, "group"), (C3, "group")})
        recent = [json.loads(l) for l in self.ctl("--json", "tail", "--queries", "-n", "100").splitlines()]
        # every labelled query of a client in log or block mode: C1 4, C3 3
        self.assertEqual(len(recent), 7, recent)
        self.assertEqual(sum(1 for q in recent if q["action"] == "sinkhole"), 3)
        self.assertTrue(all(q["group"] == "PRC" for q in recent))
        # errors: one line, exit 1
        p = subprocess.run([CTL, "-c", "/dev/null", "-r", self.redis.address, "stats", "10.9.9.9"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual((p.returncode, p.stderr.count("\n")), (1, 1), p.stderr)

    def test_instances_show_the_age_of_their_geoip_database(self):
        self.assertIn("no instance has flushed recently", self.ctl("instances"))
        self.make_jd(instance="geo-age")
        hb = self.r.hgetall(S + "instance:geo-age")
        days = int(hb["geo_age_days"])
        self.assertGreater(days, 365, hb)      # the test database was built in 2023
        text = self.ctl("instances")
        self.assertRegex(text, r"(?m)^geo-age: version %s, GeoIP database %d days old, last flush "
                         r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$" % (re.escape(hb["version"]), days))
        inst = json.loads(self.ctl("--json", "instances"))
        self.assertEqual(inst, [{"instance": "geo-age", "version": hb["version"],
                                 "geo_age_days": days, "last_flush": inst[0]["last_flush"]}])
        self.assertLess(abs(inst[0]["last_flush"] - time.time()), 60)

    def test_top_stats_tail_show_why(self):
        """jurisdns-ctl top, stats CLIENT and tail show why each domain was labelled."""
        jd = self.make_jd(stats={"interval": 60000}, start=False)
        jd.start()
        self.addCleanup(jd.stop)
        for name in (ALI, ALI, CN, TUYA):
            self.ask(jd, name, C1)
        jd.stop()
        text = self.ctl("top", C1)
        self.assertRegex(text, r"(?m)^ +2  %s \(%s\)$" % (re.escape(ALI), re.escape(WHY[ALI])))
        self.assertRegex(text, r"(?m)^ +1  %s \(domain:tuyaeu\.com\)$" % re.escape(TUYA))
        top = json.loads(self.ctl("--json", "top", C1, "PRC"))
        self.assertEqual(top["PRC"][0], {"domain": ALI, "count": 2, "why": WHY[ALI]})
        self.assertEqual({d["domain"]: d["why"] for d in top["PRC"]}, {d: WHY[d] for d in (ALI, CN, TUYA)})
        one = json.loads(self.ctl("--json", "stats", C1))
        self.assertEqual(one["top"]["PRC"], top["PRC"])
        text = self.ctl("stats", C1)
        self.assertIn("top in PRC:\n", text)
        self.assertRegex(text, r"(?m)^ +1  %s \(hosted:CN\)$" % re.escape(CN))
        tail = self.ctl("tail")
        self.assertIn("new domain in PRC: %s (%s)" % (ALI, WHY[ALI]), tail)
        # a top set written without the why hash (an older version): no why, no error
        self.r.delete(S + "why:%s:PRC" % C1)
        top = json.loads(self.ctl("--json", "top", C1))
        self.assertEqual({d["why"] for d in top["PRC"]}, {None})
        self.assertRegex(self.ctl("top", C1), r"(?m)^ +2  %s$" % re.escape(ALI))


class TestTopAndEvents(StatsCase):

    def test_top_domains_cap(self):
        """top_domains = 3; five labelled names (wildcards below cn.policy.test) with distinct
        counts in one flush: the ZSET keeps the three most queried, the seen SET all five."""
        jd = self.make_jd(stats={"interval": 60000, "top_domains": 3}, start=False)
        jd.start()
        self.addCleanup(jd.stop)
        names = ["t%d.cn.policy.test" % i for i in range(1, 6)]
        for i, name in enumerate(names):
            for _ in range(i + 1):
                self.ask(jd, name, C1)
        jd.stop()
        top = S + "top:%s:PRC" % C1
        self.assertLessEqual(self.r.zcard(top), 3)
        self.assertEqual(dict(self.r.zrange(top, 0, -1, withscores=True)),
                         {names[2]: 3.0, names[3]: 4.0, names[4]: 5.0})
        self.assertEqual(self.r.smembers(S + "seen:%s:PRC" % C1), set(names))
        self.assertTrue(0 < self.r.ttl(top) <= 2 * 86400)
        self.assertEqual(int(self.r.hget(S + "total", "queries")), 15)

    def test_first_contact_events_once(self):
        """One group event per (client, group), one domain event per (client, group, domain),
        even when the names come again in later flushes; none for a client in mode off."""
        jd = self.make_jd()
        t0 = int(time.time())
        sent = 0
        for rnd in range(3):
            for name in (CN, ALI, TUYA, DE):
                self.ask(jd, name, C1)
                self.ask(jd, name, C2)
                sent += 2
            self.ask(jd, CN, C3)
            sent += 1
            self.wait_total(sent, jd=jd)
        time.sleep(0.5)   # two more intervals
        t1 = int(time.time())
        self.assertEqual(self.total(), sent)
        ev = self.r.xrange(S + "events")
        self.assertEqual(self.r.xlen(S + "events"), 6, ev)
        groups = sorted((f["client"], f["group"]) for _, f in ev if f["type"] == "group")
        doms = sorted((f["client"], f["group"], f["domain"], f["reason"])
                      for _, f in ev if f["type"] == "domain")
        self.assertEqual(groups, [(C1, "PRC"), (C3, "PRC")])
        self.assertEqual(doms, [(C1, "PRC", TUYA, "domain"), (C1, "PRC", ALI, "operator"),
                                (C1, "PRC", CN, "hosted"), (C3, "PRC", CN, "hosted")])
        for _, f in ev:
            self.assertEqual(f["instance"], "t1")
            self.assertTrue(t0 - 1 <= int(f["ts"]) <= t1 + 1, f)
            want = {"type", "client", "group", "ts", "instance"}
            if f["type"] == "domain":
                want |= {"domain", "reason", "why"}
                self.assertEqual(f["why"], WHY[f["domain"]], f)
            self.assertEqual(set(f), want, f)

    def test_heartbeat(self):
        jd = self.make_jd(instance="hb-1")
        key = S + "instance:hb-1"
        hb = self.r.hgetall(key)
        self.assertEqual(set(hb), {"version", "geo_age_days", "last_flush"}, hb)
        if VERSION:
            self.assertEqual(hb["version"], VERSION)
        self.assertTrue(hb["version"])
        self.assertTrue(abs(int(hb["last_flush"]) - time.time()) < 60, hb)
        self.assertGreaterEqual(int(hb["geo_age_days"]), 0, hb)
        ttl = self.r.ttl(key)
        self.assertTrue(0 < ttl <= 30, "heartbeat TTL %d" % ttl)
        # refreshed by every flush, also without queries
        first = int(hb["last_flush"])
        h.wait_for(lambda: int(self.r.hget(key, "last_flush")) > first, 3.0, interval=0.05,
                   what="a later heartbeat")
        self.assertIn("hb-1", self.r.hgetall(S + "applied"))

    def test_two_instances_add_up(self):
        a = self.make_jd(instance="inst-a")
        b = self.make_jd(instance="inst-b")
        for _ in range(3):
            for name in (CN, DE):
                self.ask(a, name, C1)
        for _ in range(4):
            for name in (CN, ALI):
                self.ask(b, name, C1)
            self.ask(b, CN, C3)
        a.stop()
        b.stop()
        # a: 6 queries (CN x3, DE x3; 4 hits); b: 12 queries (CN x4 + ALI x4 from C1,
        # CN x4 sinkholed from C3; 10 hits)
        self.assertEqual(self.hash_counts(S + "total"),
                         {"queries": 18, "cache_hits": 14, "blocked": 4, "a:sinkhole": 4,
                          "g:PRC": 15, "g:PRC:hosted": 11, "g:PRC:operator": 4})
        self.assertEqual(self.hash_counts(S + "client:" + C1),
                         {"queries": 14, "cache_hits": 10, "g:PRC": 11, "g:PRC:hosted": 7,
                          "g:PRC:operator": 4})
        self.assertEqual(set(self.r.hgetall(S + "applied")), {"inst-a", "inst-b"})
        # one group event for C1 although two instances saw it first: the counter is shared
        ev = self.r.xrange(S + "events")
        self.assertEqual(sorted((f["type"], f["client"], f.get("domain", ""))
                                for _, f in ev),
                         [("domain", C1, ALI), ("domain", C1, CN), ("domain", C3, CN),
                          ("group", C1, ""), ("group", C3, "")])

    def test_why_follows_top(self):
        """S why:ID:GROUP says why each domain of S top:ID:GROUP was labelled (the AS with its
        name for an operator label), has the same members when top_domains trims the top set,
        and the same expiry; the recent stream carries it too."""
        jd = self.make_jd(stats={"interval": 60000, "top_domains": 3, "recent": 100}, start=False)
        jd.start()
        self.addCleanup(jd.stop)
        for name in (ALI, ALI, ALI, ALI, TUYA, TUYA, TUYA, CN, CN, DE):
            self.ask(jd, name, C1)
        jd.stop()
        top, why = S + "top:%s:PRC" % C1, S + "why:%s:PRC" % C1
        self.assertEqual(self.r.hgetall(why), {d: WHY[d] for d in (ALI, TUYA, CN)}, jd.read_log())
        recent = {f["domain"]: f["why"] for _, f in self.r.xrange(S + "recent")}
        self.assertEqual(recent, {d: WHY[d] for d in (ALI, TUYA, CN)})
        self.assertTrue(0 < self.r.ttl(why) <= 2 * 86400)
        self.assertLessEqual(abs(self.r.ttl(why) - self.r.ttl(top)), 1)
        # a new daemon, more names below cn.policy.test: the least counted leave both keys
        jd = self.make_jd(stats={"interval": 60000, "top_domains": 3}, start=False)
        jd.start()
        self.addCleanup(jd.stop)
        for name in ("w1.cn.policy.test",) * 5 + ("w2.cn.policy.test",) * 6:
            self.ask(jd, name, C1)
        jd.stop()
        members = set(self.r.zrange(top, 0, -1))
        self.assertEqual(members, {ALI, "w1.cn.policy.test", "w2.cn.policy.test"})
        self.assertEqual(self.r.hgetall(why), {ALI: WHY[ALI], "w1.cn.policy.test": "hosted:CN",
                                               "w2.cn.policy.test": "hosted:CN"})


class TestOutage(StatsCase):
    """Redis with an append-only file: what was flushed before a SIGKILL survives the restart."""

    redis_args = ("--appendonly", "yes", "--appendfsync", "always")

    def test_outage_exact_once(self):
        jd = self.make_jd(redis_conf={"timeout": 500})
        n, m = 200, 100
        names = (CN, DE, ALI, "o1.cn.policy.test")
        for i in range(n):
            self.ask(jd, names[i % len(names)], C1)
        self.wait_total(n, jd=jd)
        self.redis.kill()
        answered = 0
        for i in range(m):
            r = self.ask(jd, names[i % len(names)], C1 if i % 2 else C3)
            answered += r.rcode() == dns.rcode.NOERROR
        self.assertEqual(answered, m, "every query must be answered while Redis is down")
        time.sleep(3.0)
        self.redis.start()
        self.r = self.redis.client()
        self.addCleanup(self.r.close)
        # The daemon may reconnect and flush the m queries before this read: n or n + m, but
        # never fewer than n (the AOF kept what was flushed before the kill).
        self.assertIn(self.total(), (n, n + m),
                      "the AOF did not keep what was flushed before the kill")
        h.wait_for(lambda: self.total() >= n + m, 10.0, interval=0.05,
                   what="total queries == %d after the restart (have %d); log:\n%s"
                   % (n + m, self.total(), jd.read_log()))
        self.assertEqual(self.total(), n + m)
        time.sleep(1.0)
        self.assertEqual(self.total(), n + m, "counted twice")
        c1 = int(self.r.hget(S + "client:" + C1, "queries"))
        c3 = int(self.r.hget(S + "client:" + C3, "queries"))
        self.assertEqual((c1, c3), (n + m // 2, m // 2))


class TestLostReply(StatsCase):
    """A flush whose reply is lost (Redis asleep longer than [redis] timeout) is not counted
    twice, nor lost."""

    redis_args = ("--enable-debug-command", "yes")

    def test_lost_reply_not_counted_twice(self):
        jd = self.make_jd(redis_conf={"timeout": 200})
        stop = threading.Event()
        sleeps = []

        def sleeper():
            c = self.redis.client(socket_timeout=5.0)
            try:
                for _ in range(3):
                    if stop.wait(0.35):
                        return
                    c.execute_command("DEBUG", "SLEEP", "0.6")
                    sleeps.append(time.monotonic())
            finally:
                c.close()

        th = threading.Thread(target=sleeper, daemon=True)
        answered = sent = 0
        # queries all along the three sleeps and 0.5 s after them; bounded in count and time
        deadline = time.monotonic() + 8.0
        after = None
        th.start()
        try:
            for i in range(2000):
                now = time.monotonic()
                if now > deadline:
                    break
                if not th.is_alive():
                    after = after or now + 0.5
                    if now > after:
                        break
                # a query whose answer comes after the client's timeout was still counted
                sent += 1
                try:
                    self.ask(jd, (CN, DE, ALI)[i % 3], C1 if i % 2 else C3, timeout=1.0)
                except dns.exception.Timeout:
                    continue
                answered += 1
                time.sleep(0.005)
        finally:
            stop.set()
            th.join(10)
        self.assertFalse(th.is_alive())
        self.assertEqual(len(sleeps), 3, "DEBUG SLEEP did not run 3 times")
        self.assertGreater(answered, 50)
        # Every answered query is counted exactly once. A query that timed out at the client was
        # counted too if the daemon saw it: total lies in [answered, sent], and equals sent when
        # nothing timed out. More than sent would be a double count.
        h.wait_for(lambda: self.total() >= answered, 10.0, interval=0.05,
                   what="total queries >= %d (have %d); log:\n%s"
                   % (answered, self.total(), jd.read_log()))
        time.sleep(1.0)
        total = self.total()
        self.assertGreaterEqual(total, answered, "log:\n" + jd.read_log())
        self.assertLessEqual(total, sent, "double count; log:\n" + jd.read_log())
        if answered == sent:
            self.assertEqual(total, sent)
        jd.stop()
        # the stop flushes what is still pending: still no loss and no double count
        self.assertGreaterEqual(self.total(), total)
        self.assertLessEqual(self.total(), sent)
        log = jd.read_log()
        applied_already = "had been applied already" in log
        sys.stderr.write("\n[test_stats] lost reply: %d queries; 'had been applied already' in "
                         "the log: %s\n" % (sent, applied_already))


if __name__ == "__main__":
    h.main()
