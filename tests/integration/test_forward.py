#!/usr/bin/python3
"""Forwarding against a real authoritative server (knotd serving tests/zones/test.zone), and
the flags that are forwarded upstream (checked with the fake upstream)."""

import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

import harness as h
from harness import make_query, udp, tcp


class ForwardViaKnot(h.KnotDaemonTestCase):

    def ask(self, qname, qtype="A", transport="udp", **kw):
        q = make_query(qname, qtype, **kw)
        r = (udp if transport == "udp" else tcp)(q, self.port)
        return q, r

    def test_a_record(self):
        q, r = self.ask("www.example.test.")
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.1"])
        self.assertTrue(r.flags & dns.flags.RA, "RA must be set")
        self.assertTrue(r.flags & dns.flags.RD, "RD must be copied from the query")

    def test_aaaa_record(self):
        q, r = self.ask("www.example.test.", "AAAA")
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r, dns.rdatatype.AAAA), ["2001:db8::1"])

    def test_a_record_over_tcp(self):
        q, r = self.ask("host2.example.test.", transport="tcp")
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["198.51.100.2"])

    def test_cname_chain(self):
        q, r = self.ask("a.chain.example.test.")
        self.assertResponseTo(r, q)
        chain = [(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype), rr[0].to_text())
                 for rr in r.answer]
        self.assertEqual(chain, [
            ("a.chain.example.test.", "CNAME", "b.chain.example.test."),
            ("b.chain.example.test.", "CNAME", "c.chain.example.test."),
            ("c.chain.example.test.", "A", "192.0.2.33"),
        ])

    def test_https_record_with_hints(self):
        q, r = self.ask("www.example.test.", "HTTPS")
        self.assertResponseTo(r, q)
        self.assertEqual(len(r.answer), 1)
        rd = r.answer[0][0]
        self.assertEqual(r.answer[0].rdtype, dns.rdatatype.HTTPS)
        text = rd.to_text()
        self.assertIn('ipv4hint="192.0.2.1"', text)
        self.assertIn('ipv6hint="2001:db8::1"', text)
        self.assertIn('alpn="h2,h3"', text)

    def test_svcb_record_with_hints(self):
        q, r = self.ask("_dns.svc.example.test.", "SVCB")
        self.assertResponseTo(r, q)
        rd = r.answer[0][0]
        self.assertEqual(r.answer[0].rdtype, dns.rdatatype.SVCB)
        self.assertEqual(rd.target.to_text(), "svc.example.test.")
        self.assertIn('ipv4hint="192.0.2.10"', rd.to_text())
        self.assertIn('ipv6hint="2001:db8::10"', rd.to_text())

    def test_txt_record(self):
        q, r = self.ask("txt.example.test.", "TXT")
        self.assertResponseTo(r, q)
        self.assertEqual(r.answer[0][0].strings, (b"hello jurisdns", b"second string"))

    def test_nxdomain_has_soa(self):
        q, r = self.ask("does-not-exist.example.test.")
        self.assertResponseTo(r, q, dns.rcode.NXDOMAIN)
        self.assertEqual(r.answer, [])
        self.assertEqual([rr.rdtype for rr in r.authority], [dns.rdatatype.SOA])
        self.assertLessEqual(r.authority[0].ttl, 300)

    def test_nodata_has_soa(self):
        q, r = self.ask("aonly.example.test.", "AAAA")
        self.assertResponseTo(r, q)
        self.assertEqual(r.answer, [])
        self.assertEqual([rr.rdtype for rr in r.authority], [dns.rdatatype.SOA])

    def test_empty_non_terminal_is_nodata(self):
        q, r = self.ask("ent.example.test.")
        self.assertResponseTo(r, q)
        self.assertEqual(r.answer, [])
        self.assertEqual([rr.rdtype for rr in r.authority], [dns.rdatatype.SOA])

    def test_question_case_echoed_on_miss_and_hit(self):
        for name in ("MiXeD.ExAmPlE.test.", "mixed.example.TEST.", "MIXED.EXAMPLE.TEST."):
            q, r = self.ask(name)
            self.assertResponseTo(r, q)  # checks the exact case of the question
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.9"])

    def test_id_echoed(self):
        for qid in (0, 1, 0x8000, 0xffff, random.randrange(65536)):
            q, r = self.ask("www.example.test.", qid=qid)
            self.assertEqual(r.id, qid)

    def test_rd_zero_copied(self):
        q, r = self.ask("host3.example.test.", rd=False)
        self.assertResponseTo(r, q)
        self.assertFalse(r.flags & dns.flags.RD, "RD=0 in the query must give RD=0")
        self.assertTrue(r.flags & dns.flags.RA)

    def test_answer_over_512_without_edns_truncated(self):
        q, r = self.ask("many40.example.test.")
        self.assertResponseTo(r, q)
        self.assertTrue(r.flags & dns.flags.TC, "a >512 byte answer needs TC=1 without EDNS")
        self.assertEqual(r.answer, [])
        self.assertEqual(r.edns, -1, "no OPT in the response to a query without one")

    def test_answer_over_512_with_edns_fits(self):
        q, r = self.ask("many40.example.test.", edns=0, payload=1232)
        self.assertResponseTo(r, q)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(len(h.rrset_addresses(r)), 40)

    def test_answer_over_1232_fetched_over_tcp_upstream_given_over_udp_4096(self):
        q, r = self.ask("many100.example.test.", edns=0, payload=4096)
        self.assertResponseTo(r, q)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(len(h.rrset_addresses(r)), 100)

    def test_answer_over_1232_truncated_for_1232_client_and_full_over_tcp(self):
        q, r = self.ask("many100.example.test.", edns=0, payload=1232)
        self.assertTrue(r.flags & dns.flags.TC)
        self.assertEqual(r.answer, [])
        self.assertEqual(len(r.question), 1)
        q, r = self.ask("many100.example.test.", transport="tcp")
        self.assertResponseTo(r, q)
        self.assertEqual(len(h.rrset_addresses(r)), 100)

    def test_64k_answer_over_tcp(self):
        q, r = self.ask("huge.example.test.", "TXT", transport="tcp")
        self.assertResponseTo(r, q)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(len(r.answer), 1)
        self.assertEqual(len(r.answer[0]), 230)
        self.assertGreater(len(r.to_wire()), 60000)

    def test_64k_answer_over_udp_truncated(self):
        q, r = self.ask("huge.example.test.", "TXT", edns=0, payload=4096)
        self.assertResponseTo(r, q)
        self.assertTrue(r.flags & dns.flags.TC)
        self.assertEqual(r.answer, [])


class FlagsForwarded(h.JDTestCase):
    """What the daemon sends upstream and how it treats the upstream's AD bit."""

    def setUp(self):
        self.up = self.fake()
        self.jd = self.daemon([self.up])

    def test_rd_forwarded(self):
        self.jd.q("rd1.flags.test.", rd=True)
        self.assertTrue(all(x.rd for x in self.up.received("rd1.flags.test.")))

    def test_cd_forwarded(self):
        r = self.jd.q("cd.flags.test.", cd=True)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        got = self.up.received("cd.flags.test.")
        self.assertTrue(got, "no upstream query")
        self.assertTrue(all(x.cd for x in got), "CD not forwarded: %r" % got)
        self.assertTrue(r.flags & dns.flags.CD, "CD should be echoed to the client")

    def test_do_forwarded(self):
        r = self.jd.q("do.flags.test.", do=True)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        got = self.up.received("do.flags.test.")
        self.assertTrue(got and all(x.do for x in got), "DO not forwarded: %r" % got)
        self.assertGreaterEqual(r.edns, 0, "OPT expected in the response")

    def test_upstream_query_has_edns(self):
        self.jd.q("edns.flags.test.")
        got = self.up.received("edns.flags.test.")
        self.assertTrue(got)
        self.assertTrue(all(x.edns == 0 for x in got), "upstream queries should carry EDNS0")

    def test_ad_not_set_when_client_asked_neither_ad_nor_do(self):
        # RFC 6840 5.8: AD only when the query had AD or DO. The fake upstream sets AD.
        self.up.set_mode("ad.flags.test.", "answer_ad")
        r = self.jd.q("ad.flags.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertFalse(r.flags & dns.flags.AD, "AD must be clear: the client set neither AD nor DO")

    def test_ad_kept_when_client_set_ad(self):
        self.up.set_mode("ad2.flags.test.", "answer_ad")
        r = self.jd.q("ad2.flags.test.", ad=True)
        self.assertTrue(r.flags & dns.flags.AD, "AD from upstream should pass when the client set AD")


class Listeners(h.JDTestCase):

    def test_wildcard_listener_answers_from_the_queried_address(self):
        # dnspython checks that the answer comes from the address it sent to
        up = self.fake()
        jd = self.daemon([up], start=False)
        jd.server["listen"] = ["0.0.0.0:%d" % jd.port]
        jd.start()
        for dst in ("127.0.0.1", "127.0.0.2", "127.0.0.53"):
            q = make_query("wild.listen.test.")
            r = udp(q, jd.port, host=dst)
            self.assertResponseTo(r, q)
            r = tcp(q, jd.port, host=dst)
            self.assertResponseTo(r, q)

    def test_udp_burst_of_distinct_names_all_answered(self):
        import select
        import socket
        import time
        up = self.fake()
        jd = self.daemon([up])
        n = 300
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        want = {}
        for i in range(n):
            q = make_query("burst%d.listen.test." % i, qid=i)
            want[i] = q
            s.sendto(q.to_wire(), ("127.0.0.1", jd.port))
        got = {}
        deadline = time.monotonic() + 5
        while len(got) < n and time.monotonic() < deadline:
            rl, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
            if rl:
                r = dns.message.from_wire(s.recv(65535))
                got[r.id] = r
        self.assertEqual(len(got), n, "%d of %d answered" % (len(got), n))
        for i, r in got.items():
            self.assertResponseTo(r, want[i])
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])


if __name__ == "__main__":
    h.main()
