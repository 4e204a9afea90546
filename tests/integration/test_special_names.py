#!/usr/bin/env python3
"""Special names answered by jurisdns itself and never sent upstream (issue 11 item 4):

- resolver.arpa (DDR, RFC 9462): _dns.resolver.arpa SVCB gets NODATA while jurisdns has no
  DoT/DoH listener, as does every other name and type of the zone (6.4); the apex's SOA;
- use-application-dns.net: NXDOMAIN (Firefox leaves its own DoH off);
- [policy] block_private_relay = yes: NXDOMAIN for mask.icloud.com and mask-h2.icloud.com;
  by default (no) they are forwarded like any name.
Each answer is in the query log with upstream "local" and counted as cache="local" in
/metrics. The upstream is a FakeUpstream that records every query: it must see none of these.
Clients: dnspython and kdig."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.name
import dns.rcode
import dns.rdatatype

import harness as h

CANARY = "use-application-dns.net."
RESOLVER_NAMES = [("_dns.resolver.arpa.", "SVCB"), ("_dns.resolver.arpa.", "A"),
                  ("_dns.resolver.arpa.", "AAAA"), ("_dns.resolver.arpa.", "HTTPS"),
                  ("_DNS.Resolver.Arpa.", "SVCB"), ("resolver.arpa.", "A"),
                  ("resolver.arpa.", "NS"), ("x._dns.resolver.arpa.", "SVCB"),
                  ("foo.resolver.arpa.", "TXT")]


def local_answers(port):
    """jurisdns_answer_duration_seconds_count{cache="local"} from /metrics."""
    data = h.http_raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    m = re.search(r'^jurisdns_answer_duration_seconds_count\{[^}]*cache="local"[^}]*\} (\d+)$',
                  data.decode(), re.M)
    assert m, data.decode()[:2000]
    return int(m.group(1))


class SpecialNames(h.JDTestCase):

    def start(self, policy=None, server=None, metrics=False):
        self.up = self.fake(address="192.0.2.1")
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        self.qlog = tmp.file("q.jsonl")
        d = h.Jurisdns(upstreams=[self.up.addr], tmp=tmp, policy=policy, server=server,
                       log={"query_log": self.qlog, "query_log_mode": "all"})
        d.stats = None  # no [stats] section
        if metrics:
            self.mport = h.free_port()
            d.stats = {"metrics_listen": "127.0.0.1:%d" % self.mport, "interval": 100}
        self.addCleanup(d.kill)
        d.start()
        self.addCleanup(d.stop)
        return d

    def assertNegative(self, r, q, zone, rcode):
        self.assertResponseTo(r, q, rcode)
        self.assertEqual(len(r.answer), 0, r)
        self.assertEqual(len(r.authority), 1, r)
        soa = r.authority[0]
        self.assertEqual(soa.rdtype, dns.rdatatype.SOA)
        self.assertEqual(soa.name, dns.name.from_text(zone))
        self.assertGreater(soa.ttl, 0)
        self.assertLessEqual(soa.ttl, 300)
        self.assertEqual(soa[0].minimum, soa.ttl)  # RFC 2308: the negative TTL

    def assertNothingUpstream(self, *names):
        got = {q.qname_lower for q in self.up.received()}
        for n in names:
            self.assertNotIn(n.lower(), got)

    # --- resolver.arpa ------------------------------------------------------------------------

    def test_resolver_arpa_is_local_nodata(self):
        d = self.start(server={"ddr_name": "dns.home.example"})
        for name, qtype in RESOLVER_NAMES:
            for transport in (h.udp, h.tcp):
                q = h.make_query(name, qtype, edns=0)
                self.assertNegative(transport(q, d.port), q, "resolver.arpa.", dns.rcode.NOERROR)
        r = d.q("resolver.arpa.", "SOA")     # the apex of a locally served zone
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(r.answer[0].rdtype, dns.rdatatype.SOA)
        self.assertEqual(r.answer[0].name, dns.name.from_text("resolver.arpa."))
        # not below resolver.arpa: forwarded as usual
        self.assertEqual(d.q("www.example.test.", "A").answer[0][0].address, "192.0.2.1")
        self.assertEqual(d.q("xresolver.arpa.", "A").rcode(), dns.rcode.NOERROR)
        self.assertNothingUpstream(*[n for n, _ in RESOLVER_NAMES], "resolver.arpa.")
        self.assertEqual(self.up.count(), 2, self.up.received())

    def test_ddr_with_kdig(self):
        kdig = shutil.which("kdig")
        if not kdig:
            self.skipTest("kdig not installed")
        d = self.start()
        p = subprocess.run([kdig, "@127.0.0.1", "-p", str(d.port), "+timeout=2", "+retry=0",
                            "_dns.resolver.arpa", "SVCB"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("status: NOERROR", p.stdout)
        self.assertIn("ANSWER: 0", p.stdout)
        self.assertRegex(p.stdout, r"resolver\.arpa\.\s+\d+\s+IN\s+SOA\s+localhost\. nobody\.invalid\.")
        self.assertNothingUpstream("_dns.resolver.arpa.")

    # --- the Firefox canary ---------------------------------------------------------------------

    def test_firefox_canary_nxdomain(self):
        d = self.start()
        # Firefox asks A and AAAA; any type, and the names below, get NXDOMAIN
        for name, qtype in ((CANARY, "A"), (CANARY, "AAAA"), ("Use-Application-DNS.net.", "A"),
                            (CANARY, "HTTPS"), ("x." + CANARY, "A")):
            q = h.make_query(name, qtype)
            self.assertNegative(h.udp(q, d.port), q, CANARY, dns.rcode.NXDOMAIN)
        kdig = shutil.which("kdig")
        if kdig:
            p = subprocess.run([kdig, "@127.0.0.1", "-p", str(d.port), "+timeout=2", "+retry=0",
                                "+tcp", CANARY, "AAAA"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=10)
            self.assertIn("status: NXDOMAIN", p.stdout)
        self.assertNothingUpstream(CANARY, "x." + CANARY)
        self.assertEqual(self.up.count(), 0, self.up.received())

    # --- iCloud Private Relay -------------------------------------------------------------------

    def test_private_relay_forwarded_by_default(self):
        d = self.start()
        for name in ("mask.icloud.com.", "mask-h2.icloud.com."):
            self.assertEqual(d.q(name, "A").rcode(), dns.rcode.NOERROR)
            self.assertEqual(self.up.count(name), 1)

    def test_private_relay_blocked(self):
        d = self.start(policy={"block_private_relay": "yes"})
        for name in ("mask.icloud.com.", "mask-h2.icloud.com.", "MASK.icloud.com."):
            for qtype in ("A", "AAAA", "HTTPS"):
                q = h.make_query(name, qtype)
                self.assertNegative(h.udp(q, d.port), q, name.lower(), dns.rcode.NXDOMAIN)
        self.assertNothingUpstream("mask.icloud.com.", "mask-h2.icloud.com.")
        # exact names only
        self.assertEqual(d.q("www.icloud.com.", "A").rcode(), dns.rcode.NOERROR)
        self.assertEqual(d.q("x.mask.icloud.com.", "A").rcode(), dns.rcode.NOERROR)
        self.assertEqual(self.up.count(), 2, self.up.received())

    def test_private_relay_blocked_at_reload_despite_cache(self):
        # answered (and cached) while the block is off; after the reload that turns it on,
        # NXDOMAIN at once, not the cached address until its TTL ends
        d = self.start()
        for name in ("mask.icloud.com.", "mask-h2.icloud.com."):
            self.assertEqual(d.q(name, "A").answer[0][0].address, "192.0.2.1")
            self.assertEqual(d.q(name, "A").rcode(), dns.rcode.NOERROR)
            self.assertEqual(self.up.count(name), 1)  # the second came from the cache
        d.policy = dict(d.policy or {}, block_private_relay="yes")
        d.hup_and_wait()
        for name in ("mask.icloud.com.", "mask-h2.icloud.com."):
            q = h.make_query(name, "A")
            self.assertNegative(h.udp(q, d.port), q, name, dns.rcode.NXDOMAIN)

    # --- logged and counted like any answer -------------------------------------------------------

    def test_logged_and_counted_as_local(self):
        d = self.start(policy={"block_private_relay": "yes"}, metrics=True)
        asked = [("_dns.resolver.arpa.", "SVCB", "NOERROR"), ("resolver.arpa.", "SOA", "NOERROR"),
                 (CANARY, "A", "NXDOMAIN"), ("mask.icloud.com.", "AAAA", "NXDOMAIN")]
        before = local_answers(self.mport)
        for name, qtype, _ in asked:
            d.q(name, qtype)
        h.wait_for(lambda: local_answers(self.mport) - before >= len(asked), 3.0, interval=0.05,
                   what="%d local answers in /metrics" % len(asked))
        time.sleep(0.3)  # nothing more comes
        self.assertEqual(local_answers(self.mport) - before, len(asked))
        lines = h.wait_jsonl(self.qlog, len(asked))
        by = {(l["qname"], l["qtype"]): l for l in lines}
        for name, qtype, rcode in asked:
            line = by[(name.rstrip("."), qtype)]
            self.assertEqual(line["upstream"], "local", line)
            self.assertEqual(line["rcode"], rcode, line)
            self.assertFalse(line["cached"], line)
        self.assertEqual(self.up.count(), 0, self.up.received())


if __name__ == "__main__":
    h.main()
