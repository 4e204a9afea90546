#!/usr/bin/python3
"""Signals: SIGTERM exits 0 promptly (also with queries in flight), SIGHUP re-reads the
configuration, an invalid configuration on SIGHUP keeps the old one and is logged."""

import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.message
import dns.rcode

import harness as h
from harness import make_query


def wait_log(jd, text, timeout=3.0):
    return h.wait_for(lambda: text in jd.read_log(), timeout, interval=0.05,
                      what="%r in the log" % text)


class Sigterm(h.JDTestCase):

    def test_sigterm_exits_0_quickly(self):
        up = self.fake()
        jd = self.daemon([up], start=False)
        jd.start()
        jd.q("before.sig.test.")
        t0 = time.monotonic()
        self.assertEqual(jd.stop(timeout=5), 0)
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_sigterm_idle_tcp_client_does_not_block_exit(self):
        up = self.fake()
        jd = self.daemon([up], start=False, server={"tcp_idle_timeout": 60000})
        jd.start()
        s = h.tcp_connect(jd.port)
        self.addCleanup(s.close)
        s.sendall(h.frame(make_query("idle.sig.test.").to_wire()))
        h.tcp_read_msg(s)
        t0 = time.monotonic()
        self.assertEqual(jd.stop(timeout=5), 0)
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_sigterm_with_query_in_flight_answers_it_and_exits_0(self):
        up = self.fake()
        up.set_mode("inflight.sig.test.", "delay:500")
        jd = self.daemon([up], start=False)
        jd.start()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        q = make_query("inflight.sig.test.")
        s.sendto(q.to_wire(), ("127.0.0.1", jd.port))
        h.wait_for(lambda: up.count("inflight.sig.test."), 2.0, what="the upstream query")
        jd.proc.send_signal(signal.SIGTERM)
        s.settimeout(3.0)
        try:
            r = dns.message.from_wire(s.recv(65535))
        except socket.timeout:
            r = None
        # wait for the exit caused by the first SIGTERM (a second one is not what is tested)
        rc = jd.proc.wait(timeout=5)
        self.assertEqual(rc, 0, jd.read_log())
        self.assertIsNotNone(r, "the query in flight at SIGTERM got no answer")
        self.assertEqual(r.id, q.id)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_second_sigterm_during_drain_still_exits_0(self):
        # "SIGTERM: exit 0": a second SIGTERM while queries drain must not kill the process
        # with the signal's default action.
        up = self.fake()
        up.set_mode("drain.sig.test.", "delay:1500")
        jd = self.daemon([up], start=False)
        jd.start()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.sendto(make_query("drain.sig.test.").to_wire(), ("127.0.0.1", jd.port))
        h.wait_for(lambda: up.count("drain.sig.test."), 2.0, what="the upstream query")
        jd.proc.send_signal(signal.SIGTERM)
        try:
            wait_log(jd, "finishing queries", timeout=1.0)  # the first one is being handled
        except AssertionError:
            pass
        self.assertIsNone(jd.proc.poll(), "exited before the query in flight was answered")
        jd.proc.send_signal(signal.SIGTERM)
        rc = jd.proc.wait(timeout=5)
        self.assertEqual(rc, 0, "second SIGTERM during drain: exit status %s; log:\n%s"
                         % (rc, jd.read_log()))

    def test_sigint_exits_0(self):
        up = self.fake()
        jd = self.daemon([up], start=False)
        jd.start()
        jd.proc.send_signal(signal.SIGINT)
        rc = jd.proc.wait(timeout=5)
        self.assertEqual(rc, 0)


class Sighup(h.JDTestCase):

    def test_sighup_switches_upstream(self):
        a = self.fake(address="192.0.2.101")
        b = self.fake(address="192.0.2.102")
        jd = self.daemon([a])
        self.assertEqual(h.rrset_addresses(jd.q("before.hup.test.")), ["192.0.2.101"])
        jd.upstream["server"] = [b.addr]
        jd.reload()

        def switched():
            r = jd.q("after%d.hup.test." % time.monotonic_ns())
            return h.rrset_addresses(r) == ["192.0.2.102"]
        h.wait_for(switched, 3.0, interval=0.05, what="queries to go to the new upstream")
        n = a.count()
        for i in range(5):
            self.assertEqual(h.rrset_addresses(jd.q("post%d.hup.test." % i)), ["192.0.2.102"])
        self.assertEqual(a.count(), n, "the old upstream still gets queries after the reload")
        self.assertTrue(jd.alive())

    def test_sighup_invalid_config_keeps_old_and_logs_file(self):
        a = self.fake(address="192.0.2.101")
        b = self.fake(address="192.0.2.102")
        jd = self.daemon([a])
        jd.q("ok.hup.test.")
        good = jd.config()
        jd.reload("[server]\nlisten = %s\nbogus = 1\n[upstream]\nserver = %s\n"
                  % (jd.listen_addr, b.addr))
        wait_log(jd, os.path.basename(jd.conf))
        self.assertTrue(jd.alive(), "an invalid config on SIGHUP killed the daemon")
        for i in range(3):
            r = jd.q("still%d.hup.test." % i)
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.101"])
        self.assertEqual(b.count(), 0)
        # a later valid config is picked up
        jd.upstream["server"] = [b.addr]
        jd.reload()
        h.wait_for(lambda: h.rrset_addresses(jd.q("later%d.hup.test." % time.monotonic_ns()))
                   == ["192.0.2.102"], 3.0, interval=0.05, what="the valid reload")

    def test_sighup_changes_acl(self):
        up = self.fake()
        jd = self.daemon([up])
        self.assertEqual(jd.q("acl1.hup.test.").rcode(), dns.rcode.NOERROR)
        jd.server["allow"] = "10.0.0.0/8"
        jd.reload()
        h.wait_for(lambda: jd.q("acl2.hup.test.").rcode() == dns.rcode.REFUSED, 3.0,
                   interval=0.05, what="the new ACL")

    def test_repeated_sighup_under_load(self):
        up = self.fake()
        jd = self.daemon([up])
        for i in range(10):
            jd.proc.send_signal(signal.SIGHUP)
            r = jd.q("load%d.hup.test." % i, transport="udp" if i % 2 else "tcp")
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        time.sleep(0.1)
        self.assertTrue(jd.alive(), jd.read_log())
        r = jd.q("final.hup.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_sighup_then_cached_name_still_answers(self):
        up = self.fake()
        jd = self.daemon([up])
        jd.q("cached.hup.test.")
        jd.reload()
        r = jd.q("cached.hup.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])


if __name__ == "__main__":
    h.main()
