#!/usr/bin/python3
"""Bypass is visible (issue 11 item 5): the shipped groups file has a group `bypass` (kind =
bypass) whose domains are zones/encrypted-dns.txt, the public DoH/DoT resolvers and the HTTPDNS
services of PRC app SDKs. A query for one of them is labelled bypass in the query log, counted per
device in the statistics in Redis, shown by jurisdns-ctl (groups, stats, top) and in the HTML
report, and a client with `block = bypass` gets the block action.

One daemon with the shipped groups (zones/jurisdictions.conf), the test GeoIP database, a
FakeUpstream answering every A query with 198.51.100.130 (US, AS15169 in tests/data/geo-fixture.txt:
no group by address) and a redis-server (unix socket, stopped by its PID) for the statistics.

Clients: C1 127.0.0.1 log mode; C3 127.0.0.3 block = bypass; C4 127.0.0.4 block = PRC, bypass.

Needs /usr/bin/redis-server (or $REDIS_SERVER), python3-redis and src/jurisdns-ctl."""

import json
import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns
import dns.rcode

import harness as h

try:
    import redis
except ImportError:  # reported by setUpModule
    redis = None

S = "jurisdns:{stats}:"
C1, C3, C4 = "127.0.0.1", "127.0.0.3", "127.0.0.4"
US_GOOGLE = "198.51.100.130"
CTL = h.ctl_bin()
EDE_FILTERED = 17


def setUpModule():
    h.require_redis()
    h.require_binary()
    h.require_test_mmdb()


ede_of = h.ede_of


class Bypass(h.RedisTestCase, h.JDTestCase):
    redis_tmp_prefix = "jd-bypass-redis-"

    def ctl(self, *args, conf="/dev/null"):
        p = subprocess.run([CTL, "-c", conf, "-r", self.redis.address] + list(args),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def ask(self, jd, name, source):
        q = h.make_query(name, "A", edns=0)
        r = h.udp(q, jd.port, source=source, timeout=3.0)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR, "%s from %s:\n%s" % (name, source, r))
        return sorted(rd.to_text() for rrset in r.answer for rd in rrset), ede_of(r)

    def test_bypass_log_stats_ctl_report_block(self):
        up = self.fake(address=US_GOOGLE)
        jd = self.daemon([up], start=False, test_geoip=True, query_log="all",
                         labels={"groups": h.shipped_groups()},
                         policy={"default_mode": "log", "action": "sinkhole"},
                         clients=[(C3, {"mode": "block", "block": "bypass"}),
                                  (C4, {"mode": "block", "block": "PRC, bypass"})],
                         redis={"address": self.redis.address, "snapshot": "", "refresh": 0},
                         stats={"instance": "t1", "interval": 60000, "retention_days": 2})
        tmp, qlog = jd.tmp, jd.qlog
        jd.start()

        # C1, log mode: three resolver names (the answers pass), one ordinary name
        for name in ("dns.google", "mozilla.cloudflare-dns.com", "doh.pub"):
            self.assertEqual(self.ask(jd, name, C1), ([US_GOOGLE], []), name)
        self.assertEqual(self.ask(jd, "www.example.com", C1), ([US_GOOGLE], []))
        self.assertEqual(self.ask(jd, "dns.weixin.qq.com", C1), ([US_GOOGLE], []))
        # C3, block = bypass: the resolver is refused (sinkhole, EDE 17 naming the reason), the
        # rest passes, also a PRC vendor domain
        ans, ede = self.ask(jd, "dns.google", C3)
        self.assertEqual(ans, ["0.0.0.0"])
        self.assertEqual(ede, [(EDE_FILTERED, "filtered by opt-in: bypass domain:dns.google")])
        self.assertEqual(self.ask(jd, "www.example.com", C3), ([US_GOOGLE], []))
        self.assertEqual(self.ask(jd, "a1.tuyaeu.com", C3), ([US_GOOGLE], []))
        # C4, block = PRC, bypass: both
        self.assertEqual(self.ask(jd, "httpsdns.baidu.com", C4)[0], ["0.0.0.0"])
        self.assertEqual(self.ask(jd, "a1.tuyaeu.com", C4)[0], ["0.0.0.0"])
        self.assertEqual(self.ask(jd, "www.example.com", C4)[0], [US_GOOGLE])
        jd.stop()    # the last flush writes the statistics

        # the query log: group bypass, reason domain:NAME (the listed name)
        recs = h.read_jsonl(qlog)
        def rec(client, qname):
            got = [r for r in recs if r["client"] == client and r["qname"] == qname]
            self.assertEqual(len(got), 1, "%s %s in %s" % (client, qname, recs))
            return got[0]
        self.assertEqual(rec(C1, "dns.google")["labels"], [{"group": "bypass", "reason": "domain:dns.google"}])
        self.assertEqual(rec(C1, "dns.google")["action"], "pass")
        self.assertEqual(rec(C1, "mozilla.cloudflare-dns.com")["labels"],
                         [{"group": "bypass", "reason": "domain:cloudflare-dns.com"}])
        self.assertEqual(rec(C1, "doh.pub")["labels"], [{"group": "bypass", "reason": "domain:doh.pub"}])
        self.assertEqual(rec(C1, "www.example.com")["labels"], [])
        # a PRC app's HTTPDNS: PRC by its vendor domain, bypass by the resolver name
        self.assertCountEqual(rec(C1, "dns.weixin.qq.com")["labels"],
                              [{"group": "PRC", "reason": "domain:qq.com"},
                               {"group": "bypass", "reason": "domain:dns.weixin.qq.com"}])
        self.assertEqual(rec(C3, "dns.google")["action"], "sinkhole")
        self.assertEqual(rec(C3, "a1.tuyaeu.com")["action"], "pass")
        self.assertEqual(rec(C4, "httpsdns.baidu.com")["action"], "sinkhole")

        # the statistics, per device
        c1 = self.r.hgetall(S + "client:" + C1)
        self.assertEqual((c1.get("g:bypass"), c1.get("g:bypass:domain")), ("4", "4"), c1)
        self.assertFalse([k for k in c1 if k.startswith("g:bypass:") and k != "g:bypass:domain"], c1)
        self.assertEqual(c1.get("g:PRC"), "1", c1)
        c3 = self.r.hgetall(S + "client:" + C3)
        self.assertEqual((c3.get("g:bypass"), c3.get("blocked")), ("1", "1"), c3)
        c4 = self.r.hgetall(S + "client:" + C4)
        self.assertEqual((c4.get("g:bypass"), c4.get("g:PRC"), c4.get("blocked")), ("1", "2", "2"), c4)
        self.assertEqual(self.r.hget(S + "total", "g:bypass"), "6")

        # jurisdns-ctl: stats, top, groups
        one = json.loads(self.ctl("--json", "stats", C1))
        self.assertEqual(one["counters"]["g:bypass"], 4, one)
        top = json.loads(self.ctl("--json", "top", C1))
        self.assertIn("bypass", top)
        self.assertEqual(len(top["bypass"]), 4, top)
        self.assertTrue(all(d["count"] == 1 for d in top["bypass"]), top)
        ctl_conf = tmp.file("ctl.conf")
        with open(ctl_conf, "w") as f:
            f.write("[labels]\ngroups = %s\n" % h.shipped_groups())
        groups = json.loads(self.ctl("--json", "groups", conf=ctl_conf))
        kinds = {g["name"]: g["kind"] for g in groups}
        self.assertEqual(kinds, {"PRC": "jurisdiction", "bypass": "bypass"}, groups)
        text = self.ctl("groups", conf=ctl_conf)
        self.assertRegex(text, r"(?m)^bypass: encrypted DNS bypass; \d+ resolver names$")
        self.assertRegex(text, r"(?m)^PRC: countries CN HK MO; ")

        # the report: the group's column and its queries
        page = tmp.file("report.html")
        self.ctl("report", "--html", page)
        with open(page, encoding="utf-8") as f:
            html = f.read()
        self.assertIn('data-group="bypass"', html)
        self.assertIn("dns.google", html)
        self.assertIn("The shipped group bypass is not a jurisdiction", html)


if __name__ == "__main__":
    h.main()
