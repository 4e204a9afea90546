#!/usr/bin/python3
"""The answer cache: hits, TTL decrement, negative caching, keys, size 0, in-flight dedup.

The daemon runs with workers = 1: the cache and the in-flight table are per worker, so with
more workers identical queries from different sockets may legitimately reach upstream twice."""

import os
import select
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

import harness as h
from harness import make_query, udp, tcp


class Cache(h.JDTestCase):

    def setUp(self):
        self.up = self.fake(ttl=300, neg_ttl=300)
        self.jd = self.daemon([self.up])

    def test_second_query_served_from_cache(self):
        r1 = self.jd.q("hit.cache.test.")
        r2 = self.jd.q("hit.cache.test.")
        self.assertEqual(h.rrset_addresses(r1), ["192.0.2.99"])
        self.assertEqual(h.rrset_addresses(r2), ["192.0.2.99"])
        self.assertEqual(self.up.count("hit.cache.test."), 1)

    def test_udp_and_tcp_share_the_cache(self):
        self.jd.q("shared.cache.test.", transport="tcp")
        r = self.jd.q("shared.cache.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual(self.up.count("shared.cache.test."), 1)

    def test_ttl_decrements(self):
        # positive and negative answers (the SOA's TTL), over UDP and TCP, in one 2 s wait
        self.up.set_mode("nxttl.cache.test.", "nxdomain")
        r1 = self.jd.q("ttl.cache.test.")
        t1 = h.answer_ttl(r1)
        self.assertLessEqual(t1, 300)
        self.assertGreaterEqual(t1, 299)
        n1 = self.jd.q("nxttl.cache.test.")
        s1 = n1.authority[0].ttl
        time.sleep(2.0)
        for transport in ("udp", "tcp"):
            r2 = self.jd.q("ttl.cache.test.", transport=transport)
            t2 = h.answer_ttl(r2)
            self.assertTrue(t1 - 3 <= t2 <= t1 - 1, "%s TTL after 2 s: expected %d..%d, got %d"
                            % (transport, t1 - 3, t1 - 1, t2))
            n2 = self.jd.q("nxttl.cache.test.", transport=transport)
            self.assertEqual(n2.rcode(), dns.rcode.NXDOMAIN)
            s2 = n2.authority[0].ttl
            self.assertTrue(s1 - 3 <= s2 <= s1 - 1, "%s SOA TTL after 2 s: expected %d..%d, got %d"
                            % (transport, s1 - 3, s1 - 1, s2))
        self.assertEqual(self.up.count("ttl.cache.test."), 1)
        self.assertEqual(self.up.count("nxttl.cache.test."), 1)

    def test_case_insensitive_key_and_case_echoed_from_cache(self):
        self.jd.q("case.cache.test.")
        q = make_query("CaSe.CaChE.TeSt.")
        r = udp(q, self.jd.port)
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual(self.up.count("case.cache.test."), 1)

    def test_qtype_is_part_of_key(self):
        self.jd.q("types.cache.test.", "A")
        r = self.jd.q("types.cache.test.", "AAAA")
        self.assertEqual(h.rrset_addresses(r, dns.rdatatype.AAAA), ["2001:db8::99"])
        self.assertEqual(self.up.count("types.cache.test.", "A"), 1)
        self.assertEqual(self.up.count("types.cache.test.", "AAAA"), 1)

    def test_do_and_cd_are_separate_cache_keys(self):
        name = "keys.cache.test."
        variants = [dict(), dict(do=True), dict(cd=True), dict(do=True, cd=True)]
        for kw in variants:
            self.jd.q(name, **kw)
        self.assertEqual(self.up.count(name), 4, "each DO/CD combination is its own upstream query")
        seen = {(x.do, x.cd) for x in self.up.received(name)}
        self.assertEqual(seen, {(False, False), (True, False), (False, True), (True, True)})
        for kw in variants:
            self.jd.q(name, **kw)
        self.assertEqual(self.up.count(name), 4, "the repeats must be cache hits")

    def test_nxdomain_cached_with_soa(self):
        self.up.set_mode("nx.cache.test.", "nxdomain")
        for _ in range(3):
            q = make_query("nx.cache.test.")
            r = udp(q, self.jd.port)
            self.assertResponseTo(r, q, dns.rcode.NXDOMAIN)
            self.assertEqual([rr.rdtype for rr in r.authority], [dns.rdatatype.SOA])
            self.assertLessEqual(r.authority[0].ttl, 300)
        self.assertEqual(self.up.count("nx.cache.test."), 1)

    def test_nodata_cached_with_soa(self):
        self.up.set_mode("nodata.cache.test.", "nodata")
        for _ in range(3):
            q = make_query("nodata.cache.test.")
            r = udp(q, self.jd.port)
            self.assertResponseTo(r, q)
            self.assertEqual(r.answer, [])
            self.assertEqual([rr.rdtype for rr in r.authority], [dns.rdatatype.SOA])
        self.assertEqual(self.up.count("nodata.cache.test."), 1)

    def test_concurrent_misses_udp_and_tcp_mixed_case_make_one_upstream_query(self):
        name = "dedup2.cache.test."
        self.up.set_mode(name, "delay:300")
        variants = [name.upper(), name, "DeDuP2.CaChE.TeSt."]
        socks, queries = [], {}
        try:
            for i in range(12):
                q = make_query(variants[i % 3], qid=2000 + i)
                if i % 2:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.sendto(q.to_wire(), ("127.0.0.1", self.jd.port))
                else:
                    s = h.tcp_connect(self.jd.port)
                    s.sendall(h.frame(q.to_wire()))
                socks.append(s)
                queries[s] = q
            for s in socks:
                q = queries[s]
                if s.type == socket.SOCK_DGRAM:
                    s.settimeout(3)
                    r = dns.message.from_wire(s.recv(65535))
                else:
                    r = dns.message.from_wire(h.tcp_read_msg(s, 3))
                self.assertResponseTo(r, q)
                self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        finally:
            for s in socks:
                s.close()
        self.assertEqual(self.up.count(name), 1)

    def test_concurrent_identical_misses_make_one_upstream_query(self):
        name = "dedup.cache.test."
        self.up.set_mode(name, "delay:300")
        n = 20
        socks, ids = [], {}
        try:
            for i in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                q = make_query(name, qid=1000 + i)
                ids[s] = q.id
                s.sendto(q.to_wire(), ("127.0.0.1", self.jd.port))
            answered = {}
            deadline = time.monotonic() + 3.0
            while len(answered) < n and time.monotonic() < deadline:
                rl, _, _ = select.select([s for s in socks if s not in answered], [], [],
                                         max(0.0, deadline - time.monotonic()))
                for s in rl:
                    answered[s] = dns.message.from_wire(s.recv(65535))
        finally:
            for s in socks:
                s.close()
        self.assertEqual(len(answered), n, "only %d of %d clients answered" % (len(answered), n))
        for s, r in answered.items():
            self.assertEqual(r.id, ids[s])
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual(self.up.count(name), 1, "identical misses in flight must be merged")


class NegativeTtl(h.JDTestCase):

    def test_negative_ttl_is_soa_minimum(self):
        # SOA TTL 3600, MINIMUM 300: the negative TTL is 300
        up = self.fake()
        up.neg_ttl = 300
        jd = self.daemon([up])
        up.set_mode("neg.cache.test.", "nxdomain_soa3600")
        r = jd.q("neg.cache.test.")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        self.assertLessEqual(r.authority[0].ttl, 300, "SOA TTL in a negative answer: min(ttl, minimum)")

    def test_negative_ttl_capped_by_config(self):
        up = self.fake()
        jd = self.daemon([up], cache={"negative_ttl": 1})
        up.set_mode("negcap.cache.test.", "nxdomain")
        r1 = jd.q("negcap.cache.test.")
        self.assertEqual(r1.rcode(), dns.rcode.NXDOMAIN)
        self.assertLessEqual(r1.authority[0].ttl, 1)
        r2 = jd.q("negcap.cache.test.")
        self.assertEqual(r2.rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(up.count("negcap.cache.test."), 1)
        # expired after 1 s (bounded poll: at most 3 s)
        def expired():
            jd.q("negcap.cache.test.")
            return up.count("negcap.cache.test.") >= 2
        h.wait_for(expired, 3.0, interval=0.2, what="the negative entry to expire")

    def test_max_ttl_caps_answer_ttl(self):
        up = self.fake(ttl=3600)
        jd = self.daemon([up], cache={"max_ttl": 10})
        r = jd.q("maxttl.cache.test.")
        self.assertLessEqual(h.answer_ttl(r), 10)


class CacheOff(h.JDTestCase):

    def test_size_zero_every_query_goes_upstream(self):
        up = self.fake()
        jd = self.daemon([up], cache={"size": 0})
        for _ in range(3):
            r = jd.q("nocache.cache.test.")
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual(up.count("nocache.cache.test."), 3)


class CacheKnotTtls(h.KnotDaemonTestCase):

    def test_distinct_ttls_kept_per_rrset(self):
        r = udp(make_query("ttlmix.example.test.", "A"), self.port)
        self.assertLessEqual(h.answer_ttl(r), 60)
        self.assertGreaterEqual(h.answer_ttl(r), 58)
        r = udp(make_query("ttlmix.example.test.", "AAAA"), self.port)
        self.assertGreater(h.answer_ttl(r, dns.rdatatype.AAAA), 3000)

    def test_cached_ttl_never_above_original(self):
        for _ in range(3):
            r = udp(make_query("ttl60.example.test."), self.port)
            self.assertLessEqual(h.answer_ttl(r), 60)
            r = udp(make_query("ttl3600.example.test."), self.port)
            self.assertLessEqual(h.answer_ttl(r), 3600)
            self.assertGreater(h.answer_ttl(r), 3590)


if __name__ == "__main__":
    h.main()
