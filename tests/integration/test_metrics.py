#!/usr/bin/env python3
"""The Prometheus text endpoint ([stats] metrics_listen), with knotd and the real daemon, no Redis.

- the exposition format: HELP and TYPE before each family, one sample per line, escaped labels
- exact counter deltas after a scripted set of queries (labelled, blocked, cache hits)
- labels are instance, action, group and reason only: never a client or a domain
- 404 for another path, 405 for another method, a bounded answer to a junk request
- every metric the Grafana dashboard (contrib/grafana/jurisdns.json) uses is exposed
"""

import json
import os
import re
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*)\})? (-?[0-9]+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')
ALLOWED_LABELS = {"instance", "action", "group", "reason"}


class MetricsJurisdns(h.Jurisdns):
    def __init__(self, *a, stats=None, **kw):
        super().__init__(*a, **kw)
        self.stats = dict(stats or {})

    def config(self):
        return super().config() + self.render([("stats", self.stats)])


def http(port, request, timeout=3.0):
    """Send a raw request; return (status line, headers dict, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        for _ in range(1000):  # bounded: the server closes after one response
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
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
            assert kind in ("counter", "gauge"), line
            assert families and families[-1] == name, "TYPE without its HELP: %s" % line
            seen_types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        assert name in seen_types, "sample before its TYPE: %r" % line
        labels = dict(LABEL.findall(m.group(3) or ""))
        assert set(labels) <= ALLOWED_LABELS, "label outside %s: %r" % (ALLOWED_LABELS, line)
        samples[(name, frozenset(labels.items()))] = int(m.group(4))
    return samples


def value(samples, name, **labels):
    labels.setdefault("instance", "metrics-test")
    return samples.get((name, frozenset(labels.items())), 0)


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
        self.jd = MetricsJurisdns(
            upstreams=[KNOT.addr], tmp=tmp, geoip={"db": h.test_mmdb()}, labels={"groups": gpath},
            clients=[("127.0.0.3", {"mode": "block", "block": "PRC"})],
            stats={"metrics_listen": "127.0.0.1:%d" % self.mport, "interval": 100,
                   "instance": "metrics-test"})
        self.addCleanup(self.jd.kill)
        self.addCleanup(self.jd.stop)
        self.jd.start()

    def ask(self, name, source="127.0.0.1"):
        return h.udp(h.make_query(name, "A"), self.jd.port, source=source)

    def settled(self):
        """The metrics once the start-up probe's count has been handed over (two equal
        scrapes three intervals apart)."""
        box = [parse(scrape(self.mport))]

        def same():
            time.sleep(0.3)
            now = parse(scrape(self.mport))
            done = now == box[0]
            box[0] = now
            return done
        h.wait_for(same, 5.0, interval=0.0, what="settled metrics")
        return box[0]

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
        self.assertEqual(value(after, "jurisdns_geoip_age_days") >= 0, True)
        # no label names a client or a domain
        body = scrape(self.mport)
        self.assertNotIn("127.0.0.3", body)
        self.assertNotIn("policy.test", body)

    def test_other_requests(self):
        status, _, _ = http(self.mport, b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(status, "HTTP/1.0 404 Not Found")
        status, _, _ = http(self.mport, b"POST /metrics HTTP/1.0\r\n\r\n")
        self.assertEqual(status, "HTTP/1.0 405 Method Not Allowed")
        try:  # too long: refused after 2 KiB; the rest of what we sent may reset the connection
            status, _, _ = http(self.mport, b"X" * 5000)
            self.assertEqual(status, "HTTP/1.0 431 Request Header Fields Too Large")
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


if __name__ == "__main__":
    h.main()
