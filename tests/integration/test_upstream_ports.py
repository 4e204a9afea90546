#!/usr/bin/python3
"""Upstream queries an off-path attacker cannot guess (RFC 5452 9.2): the UDP source ports
rotate (a pool of sockets per upstream, each retired after a few queries or seconds), and with
[upstream] case_randomization = yes the QNAME goes out in random case (0x20) and an answer in
another case is dropped; an upstream that flattens the case is detected and 0x20 is switched
off for it."""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.message
import dns.name

import harness as h
from harness import make_query, udp

# the longest a socket lives (docs/architecture.md, upstream section): a query sent after this
# much time never leaves from a port used before it
RETIRE_MAX_S = 5.0
GOOD = ["192.0.2.99"]


def wait_received(fake, qname, n=1, timeout=3.0):
    """The queries fake received for qname, once there are n (bounded wait)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fake.received(qname, transport="udp")
        if len(got) >= n:
            return got
        time.sleep(0.01)
    return fake.received(qname, transport="udp")


class PortRotation(h.JDTestCase):

    def test_twenty_consecutive_queries_leave_from_ten_ports(self):
        a = self.fake()
        jd = self.daemon([a], cache={"size": 0})
        ports = []
        for i in range(20):
            name = "seq%02d.ports.test." % i
            r = jd.q(name)
            self.assertEqual(h.rrset_addresses(r), GOOD)
            got = a.received(name, transport="udp")
            self.assertEqual(len(got), 1, name)
            ports.append(got[0].sport)
        self.assertGreaterEqual(len(set(ports)), 10, "source ports: %s" % ports)

    def test_burst_of_twenty_queries_leaves_from_ten_ports(self):
        """Sent at once, so that they share a send batch: batching must not mean one port."""
        a = self.fake()
        jd = self.daemon([a], cache={"size": 0})
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.settimeout(3.0)
        names = ["burst%02d.ports.test." % i for i in range(20)]
        for n in names:
            s.sendto(make_query(n).to_wire(), ("127.0.0.1", jd.port))
        for _ in names:
            r = dns.message.from_wire(s.recv(4096))
            self.assertEqual(h.rrset_addresses(r), GOOD)
        ports = [q.sport for n in names for q in a.received(n, transport="udp")]
        self.assertEqual(len(ports), 20)
        self.assertGreaterEqual(len(set(ports)), 10, "source ports: %s" % ports)

    def test_forged_answer_to_a_retired_port_not_accepted(self):
        """An attacker who saw the ports of earlier queries forges answers to all of them for
        a later query (right upstream address and port, right ID and question): the later query
        left from a fresh port, the old ones take nothing."""
        a = self.fake()
        jd = self.daemon([a], cache={"size": 0},
                         upstream={"failover": 4000, "timeout": 4000})
        old = set()
        for i in range(20):
            name = "old%02d.ports.test." % i
            self.assertEqual(h.rrset_addresses(jd.q(name)), GOOD)
            old.update(q.sport for q in a.received(name, transport="udp"))
        time.sleep(RETIRE_MAX_S + 0.5)
        fresh = None
        for attempt in range(3):  # a fresh port equal to a closed old one: rare, try again
            name = "late%d.ports.test." % attempt
            a.set_mode(name, "delay:1500")
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(s.close)
            s.settimeout(4.0)
            q = make_query(name)
            s.sendto(q.to_wire(), ("127.0.0.1", jd.port))
            got = wait_received(a, name)
            self.assertEqual(len(got), 1, name)
            for port in sorted(old):
                a.forge(got[0], port)
            r = dns.message.from_wire(s.recv(4096))
            self.assertResponseTo(r, q)
            self.assertEqual(h.rrset_addresses(r), GOOD,
                             "a forged answer to an old port (%s) was accepted" % sorted(old))
            if got[0].sport not in old:
                fresh = got[0].sport
                break
        self.assertIsNotNone(fresh, "queries keep leaving from the ports used %.1f s before: %s"
                             % (RETIRE_MAX_S, sorted(old)))


def mixed(name):
    """A client's name in mixed case: every other letter upper-cased."""
    out, up = [], False
    for c in name:
        if c.isalpha():
            up = not up
            c = c.upper() if up else c.lower()
        out.append(c)
    return "".join(out)


class CaseRandomization(h.JDTestCase):

    def daemon_0x20(self, a, on="yes", **kw):
        up = {"case_randomization": on}
        up.update(kw)
        return self.daemon([a], cache={"size": 0}, upstream=up)

    def test_queries_go_out_in_random_case_answers_in_the_clients_case(self):
        a = self.fake()
        jd = self.daemon_0x20(a)
        differ = 0
        for i in range(20):
            name = mixed("randomcase%02d.zerox.test." % i)
            q = make_query(name)
            r = udp(q, jd.port)
            self.assertResponseTo(r, q)  # the question with the client's exact case
            self.assertEqual(h.rrset_addresses(r), GOOD)
            for rr in r.answer:
                self.assertEqual(rr.name, dns.name.from_text(name))  # case-insensitive
            got = a.received(name, transport="udp")
            self.assertEqual(len(got), 1, name)
            sent = got[0].qname
            self.assertEqual(sent.lower(), name.lower())
            if sent != name.lower() and sent != name:
                differ += 1
        # 18 letters a name: a random case equals one given case once in 2^18
        self.assertGreaterEqual(differ, 19, "the QNAME case was not randomised")

    def test_answer_in_the_wrong_case_is_dropped(self):
        a = self.fake(default="wrong_case")
        jd = self.daemon_0x20(a)
        for i in range(3):
            q = make_query("wrongcase%d.zerox.test." % i)
            r = udp(q, jd.port, timeout=4)
            self.assertResponseTo(r, q)
            self.assertEqual(h.rrset_addresses(r), GOOD,
                             "the spoofed answer (%s) in the wrong case was accepted"
                             % h.FakeUpstream.SPOOF)
        self.assertNotIn("flattens", jd.read_log())  # a spoofer is no flattening upstream

    def test_flattening_upstream_detected_and_0x20_off_for_it(self):
        a = self.fake(default="flatten_case")
        jd = self.daemon_0x20(a)
        names = ["flatten%02d.zerox.test." % i for i in range(8)]
        for name in names:
            q = make_query(name)
            r = udp(q, jd.port, timeout=4)
            self.assertResponseTo(r, q)
            self.assertEqual(h.rrset_addresses(r), GOOD, name)
        lines = [l for l in jd.read_log().splitlines() if "flattens" in l]
        self.assertEqual(len(lines), 1, "log lines about flattening: %s" % lines)
        self.assertIn(a.addr, lines[0])
        for name in names[-3:]:  # after detection: sent once, in lower case
            got = a.received(name, transport="udp")
            self.assertEqual([g.qname for g in got], [name], name)

    def test_off_queries_go_out_lower_case_as_before(self):
        for setting in (None, "no"):
            a = self.fake()
            if setting is None:
                jd = self.daemon([a], cache={"size": 0})
            else:
                jd = self.daemon_0x20(a, on=setting)
            for i in range(5):
                name = mixed("caseoff%d.zerox.test." % i)
                q = make_query(name)
                r = udp(q, jd.port)
                self.assertResponseTo(r, q)
                got = a.received(name, transport="udp")
                self.assertEqual([g.qname for g in got], [name.lower()], setting)
            jd.stop()


if __name__ == "__main__":
    h.main()
