#!/usr/bin/python3
"""The client TCP side (RFC 7766): pipelining, out-of-order answers, split messages, lying
length prefixes, idle timeout, connection limits."""

import os
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


class TcpClients(h.JDTestCase):

    def setUp(self):
        self.up = self.fake()
        self.up.set_mode("slow.tcp.test.", "delay:500")
        self.jd = self.daemon([self.up])

    def test_several_queries_on_one_connection(self):
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        for i in range(5):
            q = make_query("seq%d.tcp.test." % i)
            s.sendall(frame(q.to_wire()))
            r = dns.message.from_wire(tcp_read_msg(s))
            self.assertResponseTo(r, q)
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_pipelined_queries_answered_out_of_order(self):
        slow = make_query("slow.tcp.test.", qid=111)
        fast = make_query("fast.tcp.test.", qid=222)
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        s.sendall(frame(slow.to_wire()) + frame(fast.to_wire()))
        t0 = time.monotonic()
        first = dns.message.from_wire(tcp_read_msg(s, 3))
        t_first = time.monotonic() - t0
        second = dns.message.from_wire(tcp_read_msg(s, 3))
        self.assertEqual(first.id, 222, "the fast answer must not wait for the slow one")
        self.assertLess(t_first, 0.4)
        self.assertEqual(second.id, 111)
        self.assertResponseTo(first, fast)
        self.assertResponseTo(second, slow)

    def test_many_pipelined_queries_in_one_write(self):
        qs = {1000 + i: make_query("pipe%d.tcp.test." % i, qid=1000 + i) for i in range(20)}
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        s.sendall(b"".join(frame(q.to_wire()) for q in qs.values()))
        got = {}
        for _ in range(len(qs)):
            r = dns.message.from_wire(tcp_read_msg(s, 3))
            got[r.id] = r
        self.assertEqual(sorted(got), sorted(qs))
        for qid, r in got.items():
            self.assertResponseTo(r, qs[qid])

    def test_query_split_across_segments(self):
        q = make_query("split.tcp.test.")
        data = frame(q.to_wire())
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        # the length prefix itself split, then the body in pieces
        for chunk in (data[:1], data[1:2], data[2:9], data[9:20], data[20:]):
            s.sendall(chunk)
            time.sleep(0.03)
        r = dns.message.from_wire(tcp_read_msg(s))
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_two_queries_straddling_segments(self):
        q1, q2 = make_query("st1.tcp.test.", qid=1), make_query("st2.tcp.test.", qid=2)
        data = frame(q1.to_wire()) + frame(q2.to_wire())
        cut = len(frame(q1.to_wire())) + 3
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        s.sendall(data[:cut])
        time.sleep(0.05)
        s.sendall(data[cut:])
        ids = {dns.message.from_wire(tcp_read_msg(s)).id for _ in range(2)}
        self.assertEqual(ids, {1, 2})

    def test_lying_length_prefix_does_not_crash(self):
        q = make_query("liar.tcp.test.").to_wire()
        s = tcp_connect(self.jd.port)
        s.sendall(struct.pack("!H", 300) + q[:20])
        time.sleep(0.05)
        s.close()
        r = self.jd.q("after-liar.tcp.test.", transport="tcp")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertTrue(self.jd.alive())

    def test_client_closes_before_answer(self):
        s = tcp_connect(self.jd.port)
        s.sendall(frame(make_query("slow.tcp.test.").to_wire()))
        s.close()
        time.sleep(0.7)  # the upstream answer arrives after the client left
        self.assertTrue(self.jd.alive())
        r = self.jd.q("after-close.tcp.test.", transport="tcp")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_client_half_close_still_answered(self):
        q = make_query("halfclose.tcp.test.")
        s = tcp_connect(self.jd.port)
        self.addCleanup(s.close)
        s.sendall(frame(q.to_wire()))
        s.shutdown(socket.SHUT_WR)
        try:
            r = dns.message.from_wire(tcp_read_msg(s))
        except (ConnectionError, socket.timeout):
            return  # closing on EOF is allowed too (RFC 7766 leaves it open); no crash is what counts
        self.assertResponseTo(r, q)

    def assertCachedOnce(self, name):
        """Asked again after the upstream's delay: answered at once, from the cache (the
        upstream saw exactly one query for the name)."""
        t0 = time.monotonic()
        r = self.jd.q(name, transport="tcp")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertLess(time.monotonic() - t0, 0.3, "%s: not a cache hit" % name)
        self.assertEqual(self.up.count(name), 1, name)

    def test_answer_cached_after_client_closed_mid_flight(self):
        self.up.set_mode("late.tcp.test.", "delay:400")
        s = tcp_connect(self.jd.port)
        s.sendall(frame(make_query("late.tcp.test.").to_wire()))
        h.wait_for(lambda: self.up.count("late.tcp.test.") == 1, 3, what="the upstream query")
        s.close()  # while the question is upstream
        time.sleep(0.6)
        self.assertTrue(self.jd.alive())
        self.assertCachedOnce("late.tcp.test.")
        self.assertEqual(self.jd.stop(), 0)  # ASan: no use-after-free, no leak at exit

    def test_pipelined_queries_then_close_all_cached(self):
        names = ["late%d.tcp.test." % i for i in range(4)]
        for n in names:
            self.up.set_mode(n, "delay:400")
        s = tcp_connect(self.jd.port)
        # each name twice: the second joins the first one's upstream query
        s.sendall(b"".join(frame(make_query(n, qid=100 + i).to_wire())
                           for i, n in enumerate(names + names)))
        h.wait_for(lambda: all(self.up.count(n) for n in names), 3, what="the upstream queries")
        s.close()
        time.sleep(0.6)
        self.assertTrue(self.jd.alive())
        for n in names:
            self.assertCachedOnce(n)
        self.assertEqual(self.jd.stop(), 0)

    def test_live_client_answered_when_another_left_same_question(self):
        self.up.set_mode("shared.tcp.test.", "delay:400")
        q = make_query("shared.tcp.test.")
        gone = tcp_connect(self.jd.port)
        gone.sendall(frame(q.to_wire()))
        h.wait_for(lambda: self.up.count("shared.tcp.test.") == 1, 3, what="the upstream query")
        live = tcp_connect(self.jd.port)
        self.addCleanup(live.close)
        live.sendall(frame(q.to_wire()))
        gone.close()
        r = dns.message.from_wire(tcp_read_msg(live, 3))
        self.assertResponseTo(r, q)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertEqual(self.up.count("shared.tcp.test."), 1)
        self.assertEqual(self.jd.stop(), 0)


class TcpMaxQueries(h.JDTestCase):

    def test_more_pipelined_queries_than_tcp_max_queries_all_answered(self):
        up = self.fake(default="delay:100")
        jd = self.daemon([up], server={"tcp_max_queries": 8})
        n = 40
        s = tcp_connect(jd.port)
        self.addCleanup(s.close)
        s.sendall(b"".join(frame(make_query("mq%d.tcp.test." % i, qid=i).to_wire())
                           for i in range(n)))
        got = {}
        for _ in range(n):
            r = dns.message.from_wire(tcp_read_msg(s, 5))
            got[r.id] = r
        self.assertEqual(sorted(got), list(range(n)))
        self.assertTrue(all(r.rcode() == dns.rcode.NOERROR for r in got.values()))


    def test_resume_at_the_limit_answers_cache_hits_once(self):
        # paused at tcp_max_queries, a slow answer frees a slot; the next queries are cache
        # hits answered at once: each must be answered exactly once (the resume used to re-enter
        # the session's loop and answer the same bytes again)
        up = self.fake()
        up.set_mode("slow1.tcp.test.", "delay:300")
        up.set_mode("slow2.tcp.test.", "delay:300")
        jd = self.daemon([up], server={"tcp_max_queries": 2})
        hits = ["hit%d.tcp.test." % i for i in range(6)]
        for name in hits:
            h.query(name, "A", port=jd.port)
        names = ["slow1.tcp.test.", "slow2.tcp.test."] + hits
        s = tcp_connect(jd.port)
        self.addCleanup(s.close)
        s.sendall(b"".join(frame(make_query(n, qid=100 + i).to_wire())
                           for i, n in enumerate(names)))
        got = [dns.message.from_wire(tcp_read_msg(s, 5)).id for _ in names]
        self.assertEqual(sorted(got), list(range(100, 100 + len(names))))
        s.settimeout(0.5)
        with self.assertRaises(OSError):  # nothing more: no answer came twice
            tcp_read_msg(s, 0.5)

class TcpIdleTimeout(h.JDTestCase):

    def test_idle_connection_closed_after_timeout(self):
        up = self.fake()
        jd = self.daemon([up], server={"tcp_idle_timeout": 500})
        s = tcp_connect(jd.port)
        self.addCleanup(s.close)
        t0 = time.monotonic()
        self.assertTrue(h.is_closed(s, 3.0), "idle connection not closed within 3 s")
        dt = time.monotonic() - t0
        self.assertGreaterEqual(dt, 0.4, "closed too early (%.2fs)" % dt)
        self.assertLess(dt, 1.5, "closed after %.2fs, idle timeout is 0.5s" % dt)

    def test_idle_timer_restarts_after_a_query(self):
        up = self.fake()
        jd = self.daemon([up], server={"tcp_idle_timeout": 500})
        s = tcp_connect(jd.port)
        self.addCleanup(s.close)
        for i in range(3):  # 3 x 0.3 s > 0.5 s: the timer must restart after each query
            time.sleep(0.3)
            s.sendall(frame(make_query("idle%d.tcp.test." % i).to_wire()))
            tcp_read_msg(s)

    def test_slow_upstream_query_not_cut_by_idle_timeout(self):
        up = self.fake()
        up.set_mode("slowidle.tcp.test.", "delay:800")
        jd = self.daemon([up], server={"tcp_idle_timeout": 500})
        s = tcp_connect(jd.port)
        self.addCleanup(s.close)
        q = make_query("slowidle.tcp.test.")
        s.sendall(frame(q.to_wire()))
        r = dns.message.from_wire(tcp_read_msg(s, 3))
        self.assertResponseTo(r, q)


class TcpMaxClients(h.JDTestCase):

    def test_extra_connections_refused_existing_work(self):
        limit = 4
        up = self.fake()
        jd = self.daemon([up], server={"tcp_max_clients": limit})
        conns = []

        def close_all():
            for c in conns:
                c.close()
        self.addCleanup(close_all)
        for i in range(limit):
            s = tcp_connect(jd.port)
            conns.append(s)
            s.sendall(frame(make_query("keep%d.tcp.test." % i).to_wire()))
            tcp_read_msg(s)
        served_extra = 0
        for i in range(limit):
            try:
                s = tcp_connect(jd.port, timeout=1)
            except OSError:
                continue
            conns.append(s)
            try:
                s.sendall(frame(make_query("extra%d.tcp.test." % i).to_wire()))
                tcp_read_msg(s, 0.5)
                served_extra += 1
            except (OSError, ConnectionError, socket.timeout):
                pass
        self.assertEqual(served_extra, 0, "%d connections over tcp_max_clients were served" % served_extra)
        for i, s in enumerate(conns[:limit]):
            q = make_query("again%d.tcp.test." % i)
            s.sendall(frame(q.to_wire()))
            r = dns.message.from_wire(tcp_read_msg(s))
            self.assertResponseTo(r, q)
        self.assertTrue(jd.alive())
        # once the extra ones and one existing one are gone, a new connection works again
        for s in conns[limit - 1:]:
            s.close()
        del conns[limit - 1:]

        def new_conn_served():
            try:
                s = tcp_connect(jd.port, timeout=1)
            except OSError:
                return False
            try:
                s.sendall(frame(make_query("later.tcp.test.").to_wire()))
                tcp_read_msg(s, 0.5)
                return True
            except (OSError, ConnectionError, socket.timeout):
                return False
            finally:
                s.close()
        h.wait_for(new_conn_served, 3.0, interval=0.1, what="a connection slot to be freed")


class TcpIpv6(h.JDTestCase):

    def test_listen_on_ipv6_loopback(self):
        up = self.fake()
        try:
            h.free_port("::1")
        except OSError as e:
            self.skipTest("no ::1: %s" % e)
        jd = self.daemon([up], host="::1")
        q = make_query("v6.tcp.test.")
        for fn in (h.udp, h.tcp):
            r = fn(q, jd.port, host="::1")
            self.assertResponseTo(r, q)
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])


if __name__ == "__main__":
    h.main()
