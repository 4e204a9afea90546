#!/usr/bin/python3
"""Upstream faults, with scriptable fake upstreams: failover, timeouts, error rcodes, spoofed
answers, truncation. Each test starts its own daemon so that upstream health state (backoff,
"down" marks) never carries over between tests."""

import os
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

SLACK = 0.3
# failover 1000 ms and timeout 2500 ms are the spec's defaults; the timeout tests use smaller
# values to keep the suite fast.


class Failover(h.JDTestCase):

    def timed(self, fn):
        t0 = time.monotonic()
        r = fn()
        return r, time.monotonic() - t0

    def test_silent_first_upstream_fails_over_to_second(self):
        a = self.fake(default="silent")
        b = self.fake(address="192.0.2.100")
        jd = self.daemon([a, b], upstream={"failover": 1000, "timeout": 2500})
        r, dt = self.timed(lambda: jd.q("failover.faults.test.", timeout=4))
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.100"])
        self.assertLess(dt, 1.0 + SLACK + 0.2, "failover took %.2fs" % dt)
        self.assertGreaterEqual(dt, 0.9, "second upstream asked before the failover delay (%.2fs)" % dt)
        self.assertEqual(a.count("failover.faults.test."), 1)
        self.assertEqual(b.count("failover.faults.test."), 1)

    def test_first_upstream_preferred(self):
        a = self.fake(address="192.0.2.101")
        b = self.fake(address="192.0.2.102")
        jd = self.daemon([a, b])
        for i in range(5):
            r = jd.q("pref%d.faults.test." % i)
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.101"])
        self.assertEqual(b.count(), 0)

    def test_all_upstreams_silent_gives_servfail_within_timeout(self):
        a = self.fake(default="silent")
        b = self.fake(default="silent")
        jd = self.daemon([a, b], upstream={"failover": 300, "timeout": 1000})
        q = make_query("allsilent.faults.test.", edns=0)
        r, dt = self.timed(lambda: udp(q, jd.port, timeout=3))
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertEqual(h.ede_of(r), [(22, "no upstream answered in time")])  # RFC 8914
        self.assertLess(dt, 1.0 + SLACK, "SERVFAIL after %.2fs, timeout is 1.0s" % dt)
        self.assertGreaterEqual(dt, 0.9, "SERVFAIL before the timeout (%.2fs)" % dt)
        self.assertGreaterEqual(a.count(), 1)
        self.assertGreaterEqual(b.count(), 1, "the second upstream was never tried")

    def test_all_upstreams_silent_servfail_over_tcp(self):
        a = self.fake(default="silent")
        jd = self.daemon([a], upstream={"failover": 200, "timeout": 600})
        q = make_query("allsilent-tcp.faults.test.")
        r, dt = self.timed(lambda: tcp(q, jd.port, timeout=3))
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertLess(dt, 0.6 + SLACK)

    def test_default_timeout_2500_servfail(self):
        a = self.fake(default="silent")
        jd = self.daemon([a])
        q = make_query("deftimeout.faults.test.")
        r, dt = self.timed(lambda: udp(q, jd.port, timeout=5))
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertGreaterEqual(dt, 2.4)
        self.assertLess(dt, 2.5 + SLACK)

    def test_dead_port_first_upstream_fails_over(self):
        dead = "127.0.0.1:%d" % h.free_port()  # nothing listens there
        b = self.fake(address="192.0.2.100")
        jd = self.daemon([dead, b])
        r, dt = self.timed(lambda: jd.q("dead.faults.test.", timeout=4))
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.100"])
        self.assertLess(dt, 1.0 + SLACK + 0.2)

    def test_slow_upstream_below_timeout_answers(self):
        a = self.fake()
        a.set_mode("slow.faults.test.", "delay:500")
        jd = self.daemon([a])
        r, dt = self.timed(lambda: jd.q("slow.faults.test.", timeout=4))
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertGreaterEqual(dt, 0.45)


class ErrorRcodes(h.JDTestCase):

    def test_refused_only_upstream_gives_servfail(self):
        a = self.fake(default="refused")
        jd = self.daemon([a])
        q = make_query("refused.faults.test.", edns=0)
        r = udp(q, jd.port, timeout=4)
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertEqual(h.ede_of(r), [(23, "no upstream reachable")])
        # a client without EDNS gets no OPT, so no EDE
        q = make_query("refused2.faults.test.")
        r = udp(q, jd.port, timeout=4)
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertEqual(r.edns, -1)

    def test_servfail_only_upstream_gives_servfail(self):
        a = self.fake(default="servfail")
        jd = self.daemon([a])
        q = make_query("servfail.faults.test.")
        r = udp(q, jd.port, timeout=4)
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)

    def test_refused_first_upstream_next_answers(self):
        a = self.fake(default="refused")
        b = self.fake(address="192.0.2.100")
        jd = self.daemon([a, b])
        r = jd.q("refused2.faults.test.", timeout=4)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.100"])

    def test_servfail_first_upstream_next_answers(self):
        a = self.fake(default="servfail")
        b = self.fake(address="192.0.2.100")
        jd = self.daemon([a, b])
        r = jd.q("servfail2.faults.test.", timeout=4)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.100"])

    def test_nxdomain_is_an_answer_not_a_failure(self):
        a = self.fake(default="nxdomain")
        b = self.fake(address="192.0.2.100")
        jd = self.daemon([a, b])
        r = jd.q("nx.faults.test.")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(b.count(), 0)


class BrokenUpstreams(h.JDTestCase):

    def test_upstream_tcp_closed_after_tc_gives_servfail_in_time(self):
        a = self.fake(default="tcp_close")
        jd = self.daemon([a], upstream={"failover": 300, "timeout": 1000})
        q = make_query("tcpclose.faults.test.")
        t0 = time.monotonic()
        r = udp(q, jd.port, timeout=3)
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertLess(time.monotonic() - t0, 1.0 + SLACK)
        self.assertGreaterEqual(a.count(transport="tcp"), 1)

    def test_unparseable_answer_ignored_servfail_at_timeout(self):
        a = self.fake(default="garbage")
        jd = self.daemon([a], upstream={"failover": 300, "timeout": 1000})
        q = make_query("garbage.faults.test.")
        t0 = time.monotonic()
        r = udp(q, jd.port, timeout=3)
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertLess(time.monotonic() - t0, 1.0 + SLACK)

    def test_unparseable_answer_from_first_second_answers(self):
        a = self.fake(default="garbage")
        b = self.fake(address="192.0.2.100")
        jd = self.daemon([a, b], upstream={"failover": 300, "timeout": 2000})
        r = jd.q("garbage2.faults.test.", timeout=3)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.100"])


class Spoofing(h.JDTestCase):

    def check_ignored(self, mode):
        a = self.fake(default=mode)
        jd = self.daemon([a], cache={"size": 0})
        name = "%s.faults.test." % mode.replace("_", "-")
        q = make_query(name)
        r = udp(q, jd.port, timeout=4)
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"],
                         "the spoofed answer (%s) was accepted" % h.FakeUpstream.SPOOF)
        return jd

    def test_wrong_id_answer_ignored(self):
        self.check_ignored("wrong_id")

    def test_wrong_question_answer_ignored(self):
        self.check_ignored("wrong_question")

    def test_wrong_port_answer_ignored(self):
        self.check_ignored("wrong_port")

    def test_spoofed_answer_not_cached(self):
        a = self.fake(default="wrong_id")
        jd = self.daemon([a])
        jd.q("spoofcache.faults.test.", timeout=4)
        a.default = "answer"
        r = jd.q("spoofcache.faults.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])


class Truncation(h.JDTestCase):

    def test_tc_answer_retried_over_tcp(self):
        a = self.fake(default="tc")
        jd = self.daemon([a])
        q = make_query("tc.faults.test.")
        r = udp(q, jd.port, timeout=4)
        self.assertResponseTo(r, q)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual(a.count("tc.faults.test.", transport="udp"), 1)
        self.assertEqual(a.count("tc.faults.test.", transport="tcp"), 1)

    def test_big_answer_tcp_upstream_then_tc_to_small_udp_client_and_full_over_tcp(self):
        a = self.fake(default="big")
        jd = self.daemon([a])
        q = make_query("big.faults.test.")
        r = udp(q, jd.port, timeout=4)
        self.assertResponseTo(r, q)
        self.assertTrue(r.flags & dns.flags.TC, "100 A records do not fit 512 bytes")
        self.assertEqual(r.answer, [])
        self.assertGreaterEqual(a.count("big.faults.test.", transport="tcp"), 1,
                                "the daemon never asked upstream over TCP")
        r = tcp(q, jd.port)
        self.assertResponseTo(r, q)
        self.assertEqual(len(h.rrset_addresses(r)), 100)
        self.assertEqual(a.count("big.faults.test.", transport="tcp"), 1,
                         "the full answer should have been cached")

    def test_big_answer_over_udp_to_4096_client(self):
        a = self.fake(default="big")
        jd = self.daemon([a])
        r = udp(make_query("big2.faults.test.", edns=0, payload=4096), jd.port, timeout=4)
        self.assertEqual(len(h.rrset_addresses(r)), 100)


class Ipv6Upstream(h.JDTestCase):

    def test_upstream_on_ipv6_loopback(self):
        try:
            a = self.fake(host="::1")
        except OSError as e:
            self.skipTest("no ::1: %s" % e)
        jd = self.daemon([a])
        r = jd.q("v6.faults.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual(a.count("v6.faults.test."), 1)


class ServfailCaching(h.JDTestCase):

    def test_servfail_cached_for_servfail_ttl(self):
        a = self.fake(default="servfail")
        jd = self.daemon([a], cache={"servfail_ttl": 5})
        jd.q("sfc.faults.test.", timeout=4)
        n = a.count("sfc.faults.test.")
        r = jd.q("sfc.faults.test.", timeout=4)
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        self.assertEqual(a.count("sfc.faults.test."), n, "SERVFAIL should be cached for 5 s")

    def test_servfail_ttl_zero_not_cached(self):
        a = self.fake(default="servfail")
        jd = self.daemon([a], cache={"servfail_ttl": 0})
        jd.q("sfz.faults.test.", timeout=4)
        n = a.count("sfz.faults.test.")
        jd.q("sfz.faults.test.", timeout=4)
        self.assertGreater(a.count("sfz.faults.test."), n)


if __name__ == "__main__":
    h.main()
