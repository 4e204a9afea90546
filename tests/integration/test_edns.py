#!/usr/bin/python3
"""Client-side EDNS: OPT echo, BADVERS, UDP size limits, dropping the additional section
before truncating."""

import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

import harness as h
from harness import make_query, udp, tcp


class EdnsViaKnot(h.KnotDaemonTestCase):

    def test_no_opt_in_query_no_opt_in_response(self):
        q = make_query("www.example.test.")
        r = udp(q, self.port)
        self.assertResponseTo(r, q)
        self.assertEqual(r.edns, -1)

    def test_opt_in_query_opt_in_response(self):
        q = make_query("www.example.test.", edns=0, payload=1232)
        r = udp(q, self.port)
        self.assertResponseTo(r, q)
        self.assertEqual(r.edns, 0)
        self.assertGreaterEqual(r.payload, 512)

    def test_opt_in_tcp_query_opt_in_response(self):
        q = make_query("www.example.test.", edns=0)
        r = tcp(q, self.port)
        self.assertEqual(r.edns, 0)
        q = make_query("www.example.test.")
        r = tcp(q, self.port)
        self.assertEqual(r.edns, -1)

    def test_edns_version_1_gives_badvers(self):
        q = make_query("www.example.test.", edns=1)
        wire = h.raw_udp(q.to_wire(), self.port)
        self.assertIsNotNone(wire, "no answer to an EDNS version 1 query")
        self.assertEqual(struct.unpack("!H", wire[:2])[0], q.id)
        self.assertEqual(h.header_flags(wire) & 0xf, 0, "header rcode field must be 0 for BADVERS")
        r = dns.message.from_wire(wire)
        self.assertEqual(r.rcode(), dns.rcode.BADVERS, "expected BADVERS (16), got %s" % r.rcode())
        self.assertEqual(r.edns, 0, "BADVERS answer must carry an OPT with version 0")
        self.assertEqual(r.answer, [])

    def test_client_payload_below_512_treated_as_512(self):
        # the SVCB answer (with its additional records) is > 100 bytes but < 512
        q = make_query("_dns.svc.example.test.", "SVCB", edns=0, payload=100)
        r = udp(q, self.port)
        self.assertResponseTo(r, q)
        self.assertFalse(r.flags & dns.flags.TC, "payload < 512 must be treated as 512")
        self.assertEqual(len(r.answer), 1)

    def test_client_payload_512_truncates_600_byte_answer(self):
        q = make_query("many40.example.test.", edns=0, payload=512)
        wire = h.raw_udp(q.to_wire(), self.port)
        self.assertLessEqual(len(wire), 512)
        r = dns.message.from_wire(wire)
        self.assertResponseTo(r, q)
        self.assertTrue(r.flags & dns.flags.TC)
        self.assertEqual(r.answer, [])
        self.assertEqual(r.edns, 0, "the TC answer keeps the OPT for an EDNS client")

    def test_udp_answer_never_exceeds_client_size(self):
        for payload in (512, 700, 1000, 1232, 1700, 4096):
            q = make_query("many100.example.test.", edns=0, payload=payload)
            wire = h.raw_udp(q.to_wire(), self.port)
            self.assertIsNotNone(wire)
            self.assertLessEqual(len(wire), max(512, payload), "payload %d" % payload)
            r = dns.message.from_wire(wire)
            if len(r.answer):
                self.assertEqual(len(h.rrset_addresses(r)), 100, "partial answer at %d" % payload)
                self.assertFalse(r.flags & dns.flags.TC)
            else:
                self.assertTrue(r.flags & dns.flags.TC)
        # 100 A records take 1638 bytes: they fit 1700 and 4096 but not 1232
        r = udp(make_query("many100.example.test.", edns=0, payload=1700), self.port)
        self.assertEqual(len(h.rrset_addresses(r)), 100)

    def test_unknown_edns_option_ignored(self):
        opt = dns.edns.GenericOption(65001, b"\x01\x02\x03")
        q = make_query("www.example.test.", edns=0, options=[opt])
        r = udp(q, self.port)
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.1"])


class MaxUdpSize(h.KnotDaemonTestCase):
    daemon_server = {"max_udp_size": 1232}

    def test_max_udp_size_caps_client_buffer(self):
        q = make_query("many100.example.test.", edns=0, payload=4096)
        wire = h.raw_udp(q.to_wire(), self.port)
        self.assertIsNotNone(wire)
        self.assertLessEqual(len(wire), 1232)
        r = dns.message.from_wire(wire)
        self.assertTrue(r.flags & dns.flags.TC, "1638-byte answer must not go out with max_udp_size 1232")
        self.assertEqual(r.answer, [])

    def test_smaller_answer_still_fits(self):
        q = make_query("many40.example.test.", edns=0, payload=4096)
        r = udp(q, self.port)
        self.assertEqual(len(h.rrset_addresses(r)), 40)


class AdditionalDroppedFirst(h.JDTestCase):

    def setUp(self):
        self.up = self.fake(default="bigadd")
        self.jd = self.daemon([self.up])

    def check_no_tc_and_no_additional(self, q):
        wire = h.raw_udp(q.to_wire(), self.jd.port)
        self.assertIsNotNone(wire)
        self.assertLessEqual(len(wire), 512)
        r = dns.message.from_wire(wire)
        self.assertResponseTo(r, q)
        self.assertFalse(r.flags & dns.flags.TC,
                         "the answer fits once the additional section is dropped: no TC expected")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual([rr for rr in r.additional if rr.rdtype != dns.rdatatype.OPT], [])
        return r

    def test_additional_dropped_without_edns(self):
        r = self.check_no_tc_and_no_additional(make_query("add1.example.test."))
        self.assertEqual(r.edns, -1)

    def test_additional_dropped_with_edns_512(self):
        r = self.check_no_tc_and_no_additional(make_query("add2.example.test.", edns=0, payload=512))
        self.assertEqual(r.edns, 0)

    def test_additional_kept_when_it_fits(self):
        q = make_query("add3.example.test.", edns=0, payload=4096)
        r = udp(q, self.jd.port)
        self.assertEqual(len([rr for rr in r.additional if rr.rdtype == dns.rdatatype.A]), 40)

    def test_additional_kept_over_tcp(self):
        q = make_query("add4.example.test.")
        r = tcp(q, self.jd.port)
        self.assertEqual(len([rr for rr in r.additional if rr.rdtype == dns.rdatatype.A]), 40)


if __name__ == "__main__":
    h.main()
