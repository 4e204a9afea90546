#!/usr/bin/env python3
"""The Prometheus text endpoint ([stats] metrics_listen), with knotd and the real daemon, no Redis.

- the exposition format: HELP and TYPE before each family, one sample per line, escaped labels;
  `promtool check metrics` finds nothing to complain about
- exact counter deltas after a scripted set of queries (labelled, blocked, cache hits)
- the answer latency histogram by cache hit/miss/local/error and the rcode breakdown, exactly
- per-upstream counters with a FakeUpstream: queries, timeouts (silent), SERVFAIL, TCP, up, RTT
- the cache's entries, bytes and evictions with a tiny cache; the GeoIP database's age
- labels are instance, action, group, reason, cache, rcode, transport, upstream and le only:
  never a client or a domain
- 404 for another path, 405 for another method, a bounded answer to a junk request
- every metric the Grafana dashboard (contrib/grafana/jurisdns.json) uses is exposed
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest

import dns.rcode

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*)\})? '
                    r'(-?[0-9]+(?:\.[0-9]+)?)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')
ALLOWED_LABELS = {"instance", "action", "group", "reason", "cache", "rcode", "transport",
                  "upstream", "le"}
HIST = "jurisdns_answer_duration_seconds"
RCODES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other")


def http(port, request, timeout=3.0):
    """Send a raw request; return (status line, headers dict, body)."""
    data = h.http_raw(port, request, timeout)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(l.split(": ", 1) for l in lines[1:])
    return lines[0], headers, body.decode()


def scrape(port):
    status, headers, body = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == "HTTP/1.0 200 OK", status
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    assert int(headers["Content-Length"]) == len(body.encode()), headers
    return body


def parse(body):
    """{(name, frozenset(labels)): value}, checking the format on the way."""
    samples, families, seen_types = {}, [], {}
    for line in body.splitlines():
        if line.startswith("# HELP "):
            families.append(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge", "histogram"), line
            assert families and families[-1] == name, "TYPE without its HELP: %s" % line
            seen_types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in seen_types or seen_types.get(family) == "histogram", \
            "sample before its TYPE: %r" % line
        labels = dict(LABEL.findall(m.group(3) or ""))
        assert set(labels) <= ALLOWED_LABELS, "label outside %s: %r" % (ALLOWED_LABELS, line)
        assert ("le" in labels) == name.endswith("_bucket"), line
        v = m.group(4)
        samples[(name, frozenset(labels.items()))] = float(v) if "." in v else int(v)
    return samples


def value(samples, name, **labels):
    labels.setdefault("instance", "metrics-test")
    return samples.get((name, frozenset(labels.items())), 0)


def buckets(samples, cache):
    """[(le, cumulative count)] of the latency histogram for one cache label, by le."""
    out = []
    for (name, labels), v in samples.items():
        d = dict(labels)
        if name == HIST + "_bucket" and d.get("cache") == cache:
            out.append((float("inf") if d["le"] == "+Inf" else float(d["le"]), v))
    return sorted(out)


def promtool_problems(body):
    """What `promtool check metrics` says about body: "" when it is clean (no lint either)."""
    p = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    out = p.stdout.decode(errors="replace").strip()
    return out if p.returncode or out else ""


def settled(port):
    """The metrics once the start-up probe's count has been handed over (two equal scrapes
    three intervals apart)."""
    box = [parse(scrape(port))]

    def same():
        time.sleep(0.3)
        now = parse(scrape(port))
        done = now == box[0]
        box[0] = now
        return done
    h.wait_for(same, 5.0, interval=0.0, what="settled metrics")
    return box[0]


GROUPS = "[jurisdiction PRC]\ncountries = CN HK MO\nasns = 45102\ndomains = tuyaeu.com\n"
KNOT = None


def setUpModule():
    global KNOT
    h.require_binary()
    h.require_test_mmdb()
    KNOT = h.Knot(extra_zones=[("policy.test.", os.path.join(h.zone_dir(), "policy.zone"))])
    KNOT.start()


def tearDownModule():
    if KNOT is not None:
        KNOT.stop()


class Metrics(h.JDTestCase):

    def setUp(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        gpath = tmp.file("groups.conf")
        with open(gpath, "w") as f:
            f.write(GROUPS)
        self.mport = h.free_port()
        self.jd = h.Jurisdns(
            upstreams=[KNOT.addr], tmp=tmp, geoip={"db": h.test_mmdb()}, labels={"groups": gpath},
            clients=[("127.0.0.3", {"mode": "block", "block": "PRC"})],
            server={"deny": "127.0.0.4/32"},
            stats={"metrics_listen": "127.0.0.1:%d" % self.mport, "interval": 100,
                   "instance": "metrics-test"})
        self.addCleanup(self.jd.kill)
        self.addCleanup(self.jd.stop)
        self.jd.start()

    def ask(self, name, source="127.0.0.1"):
        return h.udp(h.make_query(name, "A"), self.jd.port, source=source)

    def settled(self):
        return settled(self.mport)

    def test_counters_and_format(self):
        before = self.settled()
        for _ in range(3):
            self.ask("cn.policy.test.")                        # PRC hosted; 2 cache hits
        self.ask("de.policy.test.")                            # no group
        self.ask("cn.policy.test.", source="127.0.0.3")        # blocked: sinkhole, a hit
        got = {}

        def delta(name, **labels):
            return value(got["after"], name, **labels) - value(before, name, **labels)

        def counted():  # the workers hand their counts over every interval (100 ms)
            got["after"] = parse(scrape(self.mport))
            return delta("jurisdns_queries_total") >= 5
        h.wait_for(counted, 3.0, interval=0.05, what="5 more queries in the metrics")
        after = got["after"]
        self.assertEqual(delta("jurisdns_queries_total"), 5, after)
        self.assertEqual(delta("jurisdns_cache_hits_total"), 3)
        self.assertEqual(delta("jurisdns_blocked_total"), 1)
        self.assertEqual(delta("jurisdns_policy_actions_total", action="sinkhole"), 1)
        self.assertEqual(delta("jurisdns_group_queries_total", group="PRC", reason="any"), 4)
        self.assertEqual(delta("jurisdns_group_queries_total", group="PRC", reason="hosted"), 4)
        self.assertEqual(delta("jurisdns_group_queries_total", group="PRC", reason="operator"), 0)
        self.assertEqual(value(after, "jurisdns_redis_up"), 0)     # no [redis]
        # no label names a client or a domain
        body = scrape(self.mport)
        self.assertNotIn("127.0.0.3", body)
        self.assertNotIn("policy.test", body)

    def test_latency_histogram_and_rcodes(self):
        before = self.settled()
        r = [self.ask("de.policy.test.") for _ in range(3)]      # a miss, then 2 hits
        r += [self.ask("nx.policy.test.") for _ in range(2)]     # NXDOMAIN: a miss, then a hit
        r.append(self.ask("de.policy.test.", source="127.0.0.4"))  # [server] deny: REFUSED
        self.assertEqual([dns.rcode.to_text(x.rcode()) for x in r],
                         ["NOERROR"] * 3 + ["NXDOMAIN"] * 2 + ["REFUSED"])
        after = parse(scrape(self.mport))  # counted as the answers leave: no interval to wait

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)
        counts = {k: delta(HIST + "_count", cache=k) for k in ("hit", "miss", "local", "error")}
        self.assertEqual(counts, {"hit": 3, "miss": 2, "local": 0, "error": 1})
        self.assertEqual({c: delta("jurisdns_answers_total", rcode=c) for c in RCODES},
                         {"NOERROR": 3, "FORMERR": 0, "SERVFAIL": 0, "NXDOMAIN": 2, "NOTIMP": 0,
                          "REFUSED": 1, "other": 0})
        self.assertEqual(delta("jurisdns_client_queries_total", transport="udp"), 6)
        self.assertEqual(delta("jurisdns_client_queries_total", transport="tcp"), 0)
        for kind in ("hit", "miss", "error"):
            b = buckets(after, kind)
            self.assertEqual(len(b), 15, b)
            self.assertEqual(b[0][0], 0.0001)
            self.assertEqual(b[-1], (float("inf"), value(after, HIST + "_count", cache=kind)))
            self.assertEqual([v for _, v in b], sorted(v for _, v in b), "not cumulative: %s" % b)
            took = delta(HIST + "_sum", cache=kind)
            self.assertGreater(took, 0)
            self.assertLess(took / counts[kind], 0.5, "%s answers took %.3fs on average" % (kind, took))
        # the 3 hits of this test are in buckets up to 0.5 s; none is in the last (> 2.5 s)
        hb, hb0 = dict(buckets(after, "hit")), dict(buckets(before, "hit"))
        self.assertEqual(hb[0.5] - hb0.get(0.5, 0), 3)
        self.assertTrue(self.jd.alive())

    def test_geoip_age(self):
        m = parse(scrape(self.mport))
        built = value(m, "jurisdns_geoip_build_timestamp_seconds")
        age = value(m, "jurisdns_geoip_age_seconds")
        self.assertGreater(built, 946684800, m)                   # after 2000
        self.assertLessEqual(built, time.time() + 60)
        self.assertGreaterEqual(age, 0)
        self.assertLess(age, 20 * 365 * 86400)
        self.assertLessEqual(abs(time.time() - built - age), 5)
        self.assertNotIn("jurisdns_geoip_age_days", scrape(self.mport))

    @unittest.skipUnless(shutil.which("promtool"), "promtool (package prometheus) is not installed")
    def test_promtool_check_metrics(self):
        self.settled()
        for name in ("cn.policy.test.", "cn.policy.test.", "nx.policy.test."):
            self.ask(name)
        self.ask("cn.policy.test.", source="127.0.0.3")
        self.ask("cn.policy.test.", source="127.0.0.4")
        body = scrape(self.mport)
        self.assertEqual(promtool_problems(body), "", body)
        self.assertIn(HIST + "_bucket", body)

    def test_listening_before_the_first_answer(self):
        # setUp returned once DNS was answered; /metrics must already accept (it is bound
        # before the workers start), with no retry here
        self.assertIn("jurisdns_queries_total", scrape(self.mport))

    def test_other_requests(self):
        status, _, _ = http(self.mport, b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(status, "HTTP/1.0 404 Not Found")
        status, _, _ = http(self.mport, b"POST /metrics HTTP/1.0\r\n\r\n")
        self.assertEqual(status, "HTTP/1.0 405 Method Not Allowed")
        try:  # too long: refused after 4 KiB; the rest of what we sent may reset the connection
            status, _, _ = http(self.mport, b"X" * 5000)
            # libmicrohttpd (web.c) answers a request line this long itself, as HTTP/1.1
            self.assertRegex(status, r"^HTTP/1\.[01] (431 Request Header Fields Too Large|414 URI Too Long)$")
        except ConnectionResetError:
            pass
        # a client that says nothing is cut off, and the endpoint still answers others
        idle = socket.create_connection(("127.0.0.1", self.mport), timeout=3)
        self.addCleanup(idle.close)
        self.assertIn("jurisdns_queries_total", scrape(self.mport))
        self.assertTrue(self.jd.alive())

    def test_grafana_dashboard_uses_exposed_metrics(self):
        path = os.path.join(h.REPO, "contrib", "grafana", "jurisdns.json")
        if os.environ.get("abs_top_srcdir"):
            path = os.path.join(os.environ["abs_top_srcdir"], "contrib", "grafana", "jurisdns.json")
        with open(path) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        used = {m for e in exprs for m in re.findall(r"\bjurisdns_[a-z_]+\b", e)}
        self.assertTrue(used)
        exposed = {name for name, _ in parse(scrape(self.mport))}
        exposed |= set(re.findall(r"^# TYPE (jurisdns_[a-z_]+)", scrape(self.mport), re.M))
        self.assertEqual(used - exposed, set(), "the dashboard uses metrics the endpoint lacks")


class LabelEscaping(h.JDTestCase):
    """An instance name with a double quote and a backslash (the configuration allows both):
    escaped as the text format wants, so promtool and a parser read back the name as it is."""

    NAME = 'm"t\\x'

    def test_instance_label_is_escaped(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        mport = h.free_port()
        jd = h.Jurisdns(upstreams=[KNOT.addr], tmp=tmp,
                        stats={"metrics_listen": "127.0.0.1:%d" % mport, "interval": 100,
                               "instance": self.NAME})
        self.addCleanup(jd.kill)
        jd.start()
        self.addCleanup(jd.stop)
        body = scrape(mport)
        self.assertIn('jurisdns_redis_up{instance="m\\"t\\\\x"} 0\n', body)
        self.assertNotIn("\\u00", body)
        names = {re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)
                 for (_, labels) in parse(body) for k, v in labels if k == "instance"}
        self.assertEqual(names, {self.NAME})
        if shutil.which("promtool"):
            self.assertEqual(promtool_problems(body), "", body)


class UpstreamMetrics(h.JDTestCase):
    """One FakeUpstream, a short failover and timeout, a tiny cache."""

    CACHE = 16384

    def setUp(self):
        self.up = self.fake()
        self.mport = h.free_port()
        self.jd = self.daemon(
            [self.up], upstream={"failover": 300, "timeout": 1000},
            cache={"size": self.CACHE})
        # DNS answers before the metrics listener is up (the control thread starts it after
        # the workers)
        h.wait_for(lambda: h.port_open(self.mport), 5.0, what="the metrics listener")

    def daemon(self, upstreams, **kw):
        return super().daemon(upstreams, stats={"metrics_listen": "127.0.0.1:%d" % self.mport,
                                                "interval": 100, "instance": "metrics-test"},
                              **kw)

    def ask(self, name, rcode=dns.rcode.NOERROR):
        q = h.make_query(name, "A")
        r = h.udp(q, self.jd.port)
        self.assertResponseTo(r, q, rcode)
        return r

    def test_upstream_counters(self):
        up = self.up.addr
        for name, mode in (("quiet.example.test.", "silent"), ("sf.example.test.", "servfail"),
                           ("tc.example.test.", "tc"), ("spoof.example.test.", "wrong_id")):
            self.up.set_mode(name, mode)
        before = settled(self.mport)
        self.assertEqual(value(before, "jurisdns_upstream_up", upstream=up), 1, before)

        def delta(m, name, **labels):
            return value(m, name, upstream=up, **labels) - value(before, name, upstream=up, **labels)

        # silent: an attempt every failover (300 ms) until the timeout (1 s), each a timeout
        self.ask("quiet.example.test.", dns.rcode.SERVFAIL)
        m = parse(scrape(self.mport))
        sent = self.up.count("quiet.example.test.")
        self.assertGreaterEqual(sent, 2)
        self.assertEqual(delta(m, "jurisdns_upstream_queries_total"), sent)
        self.assertEqual(delta(m, "jurisdns_upstream_timeouts_total"), sent)
        self.assertEqual(delta(m, "jurisdns_upstream_answers_total"), 0)
        self.assertEqual(value(m, "jurisdns_upstream_up", upstream=up), 0, "two timeouts: down")
        self.assertEqual(value(m, HIST + "_count", cache="miss")
                         - value(before, HIST + "_count", cache="miss"), 1)
        self.assertEqual(value(m, "jurisdns_answers_total", rcode="SERVFAIL")
                         - value(before, "jurisdns_answers_total", rcode="SERVFAIL"), 1)

        self.ask("ok.example.test.")                                # answers: up again
        self.ask("sf.example.test.", dns.rcode.SERVFAIL)            # the only upstream: passed on
        self.ask("tc.example.test.")                                # UDP TC=1, then TCP
        self.ask("spoof.example.test.")                             # a wrong ID first
        m = parse(scrape(self.mport))
        self.assertEqual(value(m, "jurisdns_upstream_up", upstream=up), 1)
        self.assertEqual(delta(m, "jurisdns_upstream_queries_total"), self.up.count())
        self.assertEqual(delta(m, "jurisdns_upstream_queries_total"), sent + 5)
        self.assertEqual(delta(m, "jurisdns_upstream_tcp_queries_total"), 1)
        self.assertEqual(delta(m, "jurisdns_upstream_timeouts_total"), sent)
        self.assertEqual(delta(m, "jurisdns_upstream_servfail_total"), 1)
        self.assertEqual(delta(m, "jurisdns_upstream_answers_total"), 3)
        self.assertEqual(value(m, "jurisdns_upstream_bad_messages_total")
                         - value(before, "jurisdns_upstream_bad_messages_total"), 1)
        rtt = value(m, "jurisdns_upstream_rtt_seconds", upstream=up)
        self.assertGreater(rtt, 0)
        self.assertLess(rtt, 0.5)
        self.assertEqual(value(m, "jurisdns_cache_capacity_bytes"), self.CACHE)
        if shutil.which("promtool"):
            self.assertEqual(promtool_problems(scrape(self.mport)), "")

    def test_cache_entries_and_evictions(self):
        before = settled(self.mport)
        self.assertEqual(value(before, "jurisdns_cache_entries"), 0)
        self.ask("one.example.test.")
        h.wait_for(lambda: value(parse(scrape(self.mport)), "jurisdns_cache_entries") == 1, 3.0,
                   what="the answer in jurisdns_cache_entries")
        m = parse(scrape(self.mport))
        self.assertGreater(value(m, "jurisdns_cache_bytes"), 0)
        self.assertEqual(value(m, "jurisdns_cache_evictions_total"), 0)
        n = 150  # far more than 16 KiB hold
        for i in range(n):
            self.ask("n%d.example.test." % i)
        got = {}

        def published():  # the worker copies the cache's figures every interval (100 ms)
            got["m"] = parse(scrape(self.mport))
            return value(got["m"], "jurisdns_cache_entries") + \
                value(got["m"], "jurisdns_cache_evictions_total") == n + 1
        h.wait_for(published, 3.0, what="entries + evictions = answers stored")
        m = got["m"]
        self.assertGreater(value(m, "jurisdns_cache_evictions_total"), 0)
        self.assertGreater(value(m, "jurisdns_cache_entries"), 1)
        self.assertLessEqual(value(m, "jurisdns_cache_bytes"), self.CACHE)
        self.assertEqual(value(m, HIST + "_count", cache="miss"), n + 1)


if __name__ == "__main__":
    h.main()
