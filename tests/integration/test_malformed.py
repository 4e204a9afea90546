#!/usr/bin/python3
"""Malformed and hostile client packets: exact error answers for the cases the spec names,
then a bounded barrage of garbage over UDP and TCP after which the daemon must still answer."""

import os
import random
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags
import dns.message
import dns.rcode

import harness as h
from harness import make_query, frame, tcp_connect, tcp_read_msg


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = b"\x03www\x07example\x04test\x00" + struct.pack("!HH", 1, 1)


def rcode_of(wire):
    return h.header_flags(wire) & 0xf


class Malformed(h.JDTestCase):

    @classmethod
    def setUpClass(cls):
        h.require_binary()

    def setUp(self):
        self.up = self.fake()
        self.jd = self.daemon([self.up])

    def send(self, data, timeout=0.5):
        return h.raw_udp(data, self.jd.port, timeout=timeout)

    def assertErrorAnswer(self, data, rcode, qid=0x1234):
        wire = self.send(data, timeout=1.0)
        self.assertIsNotNone(wire, "no answer; expected %s" % dns.rcode.to_text(rcode))
        self.assertGreaterEqual(len(wire), 12)
        self.assertEqual(struct.unpack("!H", wire[:2])[0], qid, "ID not echoed")
        flags = h.header_flags(wire)
        self.assertTrue(flags & 0x8000, "QR not set")
        self.assertEqual(flags & 0xf, rcode, "rcode %d, expected %s" % (flags & 0xf,
                                                                       dns.rcode.to_text(rcode)))
        return wire

    def assertNoAnswer(self, data, timeout=0.3):
        wire = self.send(data, timeout=timeout)
        self.assertIsNone(wire, "unexpected answer %r" % (wire,))

    def assertStillServing(self):
        self.assertTrue(self.jd.alive(), "jurisdns died; log:\n" + self.jd.read_log())
        r = self.jd.q("alive.malformed.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        r = self.jd.q("alive.malformed.test.", transport="tcp")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    # --- exact behaviour -----------------------------------------------------------------------
    def test_short_packets_are_ignored(self):
        # 0-byte datagrams and any packet shorter than a header get no answer
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.settimeout(0.3)
        for n in range(12):
            s.sendto(header()[:n], ("127.0.0.1", self.jd.port))
        with self.assertRaises(socket.timeout, msg="a packet shorter than 12 bytes got an answer"):
            s.recvfrom(65535)
        self.assertStillServing()

    def test_qr_set_is_never_answered(self):
        self.assertNoAnswer(header(flags=0x8100) + QUESTION)
        self.assertNoAnswer(header(flags=0x8100 | 5) + QUESTION)   # a REFUSED "response"
        self.assertNoAnswer(header(flags=0x8000, qd=0))
        self.assertStillServing()

    def test_opcode_not_query_gives_notimp(self):
        for opcode in (1, 2, 4, 5, 6, 15):
            with self.subTest(opcode=opcode):
                self.assertErrorAnswer(header(flags=0x0100 | (opcode << 11)) + QUESTION,
                                       dns.rcode.NOTIMP)

    def test_qdcount_zero_gives_formerr(self):
        self.assertErrorAnswer(header(qd=0), dns.rcode.FORMERR)

    def test_qdcount_two_gives_formerr(self):
        self.assertErrorAnswer(header(qd=2) + QUESTION + QUESTION, dns.rcode.FORMERR)

    def test_qdcount_lies_gives_formerr(self):
        self.assertErrorAnswer(header(qd=2) + QUESTION, dns.rcode.FORMERR)

    def test_label_longer_than_63_gives_formerr(self):
        q = b"\x40" + b"a" * 64 + b"\x04test\x00" + struct.pack("!HH", 1, 1)
        self.assertErrorAnswer(header() + q, dns.rcode.FORMERR)

    def test_name_longer_than_255_gives_formerr(self):
        q = (b"\x3f" + b"a" * 63) * 4 + b"\x05abcde\x00" + struct.pack("!HH", 1, 1)
        self.assertErrorAnswer(header() + q, dns.rcode.FORMERR)

    def test_label_past_end_gives_formerr(self):
        self.assertErrorAnswer(header() + b"\x20abc", dns.rcode.FORMERR)

    def test_missing_qtype_gives_formerr(self):
        self.assertErrorAnswer(header() + b"\x03www\x00\x00", dns.rcode.FORMERR)

    def test_compression_loop_in_question(self):
        # a pointer to itself at offset 12
        wire = self.send(header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1), timeout=0.5)
        if wire is not None:
            self.assertEqual(rcode_of(wire), dns.rcode.FORMERR)
        self.assertStillServing()

    def test_compression_pointer_forward_in_question(self):
        wire = self.send(header() + b"\xc0\x20" + struct.pack("!HH", 1, 1) + b"\x00" * 20,
                         timeout=0.5)
        if wire is not None:
            self.assertIn(rcode_of(wire), (dns.rcode.FORMERR,))
        self.assertStillServing()

    def test_reserved_label_type_gives_formerr(self):
        self.assertErrorAnswer(header() + b"\x80abc\x00" + struct.pack("!HH", 1, 1),
                               dns.rcode.FORMERR)

    def test_ancount_without_records_gives_formerr(self):
        self.assertErrorAnswer(header(an=1) + QUESTION, dns.rcode.FORMERR)

    def test_arcount_without_records_gives_formerr(self):
        self.assertErrorAnswer(header(ar=3) + QUESTION, dns.rcode.FORMERR)

    def test_truncated_opt_gives_formerr(self):
        opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 10) + b"\x00\x0a"  # rdlen 10, 2 given
        self.assertErrorAnswer(header(ar=1) + QUESTION + opt, dns.rcode.FORMERR)

    def test_two_opt_records_gives_formerr(self):
        # RFC 6891 6.1.1: more than one OPT is a FORMERR
        opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
        self.assertErrorAnswer(header(ar=2) + QUESTION + opt + opt, dns.rcode.FORMERR)

    def test_formerr_over_tcp(self):
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        s.sendall(frame(header(qd=0)))
        wire = tcp_read_msg(s)
        self.assertEqual(struct.unpack("!H", wire[:2])[0], 0x1234)
        self.assertEqual(rcode_of(wire), dns.rcode.FORMERR)

    def test_tcp_zero_length_prefix(self):
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        s.sendall(b"\x00\x00")
        time.sleep(0.05)
        try:
            s.sendall(frame(make_query("zero.malformed.test.").to_wire()))
            tcp_read_msg(s, 1.0)
        except (OSError, ConnectionError, socket.timeout):
            pass  # closing the connection is fine
        self.assertStillServing()

    def test_tcp_short_message_in_frame(self):
        # a 5-byte message inside a correct frame: no answer (shorter than a header)
        replies = h.raw_tcp(frame(b"\x12\x34\x01\x00\x00"), self.jd.port, timeout=0.5)
        self.assertEqual(replies, [])
        self.assertStillServing()

    # --- barrage -------------------------------------------------------------------------------
    def hostile_packets(self, rng, n):
        base = make_query("www.example.test.", qid=0x4321).to_wire()
        kinds = []
        for i in range(n):
            k = i % 10
            if k == 0:
                p = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
            elif k == 1:  # flip random bytes of a valid query
                b = bytearray(base)
                for _ in range(rng.randrange(1, 6)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                p = bytes(b)
            elif k == 2:  # truncated valid query
                p = base[:rng.randrange(len(base))]
            elif k == 3:  # label length > 63 / past the end
                p = header() + bytes([rng.randrange(64, 256)]) + b"abc" * rng.randrange(0, 40)
            elif k == 4:  # compression pointers in the question
                ptr = 0xc000 | rng.randrange(0, 64)
                p = header() + b"\x01a" + struct.pack("!H", ptr) + struct.pack("!HH", 1, 1)
            elif k == 5:  # wrong counts
                p = header(qd=rng.randrange(65536), an=rng.randrange(65536),
                           ns=rng.randrange(65536), ar=rng.randrange(65536)) + QUESTION
            elif k == 6:  # random header, valid question
                p = bytes(rng.randrange(256) for _ in range(12)) + QUESTION
            elif k == 7:  # OPT with garbage options
                opts = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
                opt = b"\x00" + struct.pack("!HHIH", 41, rng.randrange(65536),
                                            rng.randrange(1 << 32), (len(opts) + rng.randrange(-3, 4)) % 65536) + opts
                p = header(ar=1) + QUESTION + opt
            elif k == 8:  # many tiny labels (name > 255)
                p = header() + b"\x01a" * rng.randrange(100, 200) + b"\x00" + struct.pack("!HH", 1, 1)
            else:  # a real query for an odd type/class
                p = header(qid=rng.randrange(65536)) + QUESTION[:-4] + struct.pack(
                    "!HH", rng.choice([0, 41, 251, 252, 255, 65535]), rng.choice([1, 3, 254, 255, 0]))
            kinds.append(p)
        return kinds

    def test_udp_barrage_then_normal_query(self):
        rng = random.Random(12345)
        packets = self.hostile_packets(rng, 400)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.setblocking(False)
        deadline = time.monotonic() + 10
        for i, p in enumerate(packets):
            s.sendto(p, ("127.0.0.1", self.jd.port))
            if i % 20 == 19:  # drain replies; pace a little so nothing is lost to buffers
                time.sleep(0.002)
                for _ in range(100):
                    try:
                        reply = s.recv(65535)
                    except BlockingIOError:
                        break
                    self.assertGreaterEqual(len(reply), 12)
                    self.assertTrue(h.header_flags(reply) & 0x8000)
            self.assertLess(time.monotonic(), deadline)
        self.assertStillServing()

    def test_tcp_barrage_then_normal_query(self):
        rng = random.Random(54321)
        packets = self.hostile_packets(rng, 150)
        deadline = time.monotonic() + 20
        for i, p in enumerate(packets):
            self.assertLess(time.monotonic(), deadline, "TCP barrage took too long")
            mode = i % 4
            if mode == 0:
                data = frame(p)                                   # correct prefix
            elif mode == 1:
                data = struct.pack("!H", len(p) + rng.randrange(1, 500)) + p   # prefix too large
            elif mode == 2:
                data = b"\x00\x00" + frame(p)                     # zero-length message first
            else:
                data = p                                          # no prefix at all
            try:
                s = tcp_connect(self.jd.port, timeout=1)
            except OSError as e:
                self.fail("connect failed during barrage (packet %d): %s" % (i, e))
            try:
                s.sendall(data)
                if mode == 0 and i % 8 == 0:
                    try:
                        tcp_read_msg(s, 0.1)
                    except (OSError, ConnectionError, socket.timeout):
                        pass
            except OSError:
                pass
            finally:
                s.close()
        # many messages on one connection
        s = tcp_connect(self.jd.port)
        try:
            s.sendall(b"".join(frame(p) for p in packets[:50] if len(p) >= 12))
        except OSError:
            pass
        s.close()
        self.assertStillServing()


class Acl(h.JDTestCase):

    def test_source_outside_allow_list_refused(self):
        up = self.fake()
        jd = self.daemon([up], server={"allow": "10.0.0.0/8"})
        q = make_query("acl.malformed.test.")
        r = h.udp(q, jd.port)
        self.assertResponseTo(r, q, dns.rcode.REFUSED)
        self.assertEqual(r.answer, [])
        r = h.tcp(q, jd.port)
        self.assertResponseTo(r, q, dns.rcode.REFUSED)
        self.assertEqual(up.count(), 0, "a refused query must not go upstream")

    def test_deny_wins_over_default_allow(self):
        up = self.fake()
        jd = self.daemon([up], server={"deny": "127.0.0.2/32"})
        q = make_query("deny.malformed.test.")
        r = h.udp(q, jd.port, source="127.0.0.2")
        self.assertResponseTo(r, q, dns.rcode.REFUSED)
        r = h.udp(q, jd.port, source="127.0.0.1")
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_deny_wins_over_explicit_allow(self):
        up = self.fake()
        jd = self.daemon([up], server={"allow": "127.0.0.0/8", "deny": "127.0.0.2/32"})
        q = make_query("deny2.malformed.test.")
        r = h.tcp(q, jd.port, source="127.0.0.2")
        self.assertResponseTo(r, q, dns.rcode.REFUSED)
        r = h.udp(q, jd.port, source="127.0.0.3")
        self.assertResponseTo(r, q)

    def test_refused_echoes_question_case(self):
        up = self.fake()
        jd = self.daemon([up], server={"allow": "10.0.0.0/8"})
        q = make_query("MiXeD.AcL.tEsT.")
        r = h.udp(q, jd.port)
        self.assertResponseTo(r, q, dns.rcode.REFUSED)


if __name__ == "__main__":
    h.main()
