#!/usr/bin/env python3
"""Encrypted upstreams (issue 11, point 3): [upstream] server = tls://IP:PORT#NAME and
https://IP:PORT/PATH#NAME, ca_file, pin_sha256, against dnsdist (addTLSLocal, addDOHLocal) in
front of the fake upstream, with a CA and certificates made here by the openssl command.

Between jurisdns and dnsdist sits a TCP proxy of this file: it counts connections (reuse: never
a TLS connection per query), keeps what jurisdns sent (nothing in clear text), and can cut a
connection in the middle of an answer."""

import os
import re
import selectors
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402

ANSWER = "192.0.2.99"       # what the fake upstream behind dnsdist answers


class TcpProxy:
    """127.0.0.1:port -> 127.0.0.1:target, in a thread. .accepted counts connections; .c2s
    holds the bytes each connection sent towards the target (first 64 KiB); arm_cut() makes the
    next chunk from the target go out half, then both sides are reset."""

    def __init__(self, target):
        self.target = target
        self.accepted = 0
        self.c2s = []              # one bytearray per connection
        self.cuts = 0
        self._cut_armed = False
        self._stop = False
        self._lock = threading.Lock()
        self._peer = {}            # sock -> (other sock, index in c2s or None)

    def start(self):
        for _ in range(50):
            port = h.free_port()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                break
            except OSError:
                s.close()
        else:
            raise RuntimeError("TcpProxy: cannot bind")
        s.listen(64)
        s.setblocking(False)
        self.port, self.lsock = port, s
        self.sel = selectors.DefaultSelector()
        self.sel.register(s, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="tcp-proxy-%d" % port, daemon=True)
        self._thread.start()
        return self

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def arm_cut(self):
        with self._lock:
            self._cut_armed = True

    def sent_by_client(self):
        with self._lock:
            return [bytes(b) for b in self.c2s]

    def stop(self):
        self._stop = True
        self._thread.join(timeout=5)
        for s in list(self._peer):
            s.close()
        self._peer.clear()
        self.lsock.close()

    def _close_pair(self, a, reset=False):
        b = self._peer.get(a, (None, None))[0]
        for s in (a, b):
            if s is None or s not in self._peer:
                continue
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sel.unregister(s)
            del self._peer[s]
            s.close()

    def _run(self):
        while not self._stop:
            for key, _ in self.sel.select(timeout=0.05):
                s = key.fileobj
                if s is self.lsock:
                    try:
                        c, _ = s.accept()
                    except OSError:
                        continue
                    try:
                        u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                    except OSError:
                        c.close()
                        continue
                    with self._lock:
                        self.accepted += 1
                        self.c2s.append(bytearray())
                        idx = len(self.c2s) - 1
                    c.setblocking(True)
                    u.setblocking(True)
                    self._peer[c] = (u, idx)      # from the client: record
                    self._peer[u] = (c, None)     # from the target
                    self.sel.register(c, selectors.EVENT_READ, None)
                    self.sel.register(u, selectors.EVENT_READ, None)
                    continue
                if s not in self._peer:
                    continue
                other, idx = self._peer[s]
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._close_pair(s)
                    continue
                if idx is not None:
                    with self._lock:
                        if len(self.c2s[idx]) < 65536:
                            self.c2s[idx] += data
                else:
                    with self._lock:
                        cut, self._cut_armed = self._cut_armed, False
                    if cut:
                        # half of an answer's TLS record, then a reset both ways
                        try:
                            other.sendall(data[:max(1, len(data) // 2)])
                        except OSError:
                            pass
                        self.cuts += 1
                        self._close_pair(s, reset=True)
                        continue
                try:
                    other.sendall(data)
                except OSError:
                    self._close_pair(s)


class EncryptedUpstreams(h.JDTestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binary()
        cls.tmp = h.TempDir("jd-uptls-")
        cls.ca = h.TestCA(cls.tmp)
        cls.good = cls.ca.issue("dns.test")
        cls.other = cls.ca.issue("other.test")
        cls.backend = h.FakeUpstream(address=ANSWER).start()
        # frontends [0]: a certificate for dns.test, [1]: one for other.test
        cls.dd = h.Dnsdist(cls.tmp, cls.backend.addr, tls=[cls.good, cls.other],
                           doh=[cls.good, cls.other])
        try:
            cls.dd.start()
        except BaseException:
            cls.backend.stop()
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dd.stop()
        cls.backend.stop()
        cls.tmp.cleanup()

    def setUp(self):
        self.assertTrue(self.dd.proc is not None and self.dd.proc.poll() is None,
                        "dnsdist died; log:\n" + self.dd.read_log())

    # ---- helpers --------------------------------------------------------------------------
    def proxy(self, target):
        p = TcpProxy(target).start()
        self.addCleanup(p.stop)
        return p

    def url(self, scheme, proxy_or_addr, name="dns.test"):
        addr = proxy_or_addr.addr if hasattr(proxy_or_addr, "addr") else proxy_or_addr
        if scheme == "tls":
            return "tls://%s#%s" % (addr, name)
        return "https://%s%s#%s" % (addr, self.dd.doh_path, name)

    def frontend(self, scheme, good=True):
        ports = self.dd.tls_ports if scheme == "tls" else self.dd.doh_ports
        return ports[0 if good else 1]

    def enc_daemon(self, servers, **upstream):
        up = {"ca_file": self.ca.ca}
        up.update(upstream)
        return self.daemon(upstreams=servers, upstream=up)

    def ask(self, d, name, timeout=5.0):
        q = h.make_query(name, "A")
        r = h.udp(q, d.port, timeout=timeout)
        self.assertResponseTo(r, q, r.rcode())
        return r

    def assertAnswered(self, d, name, timeout=5.0):
        r = self.ask(d, name, timeout)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR",
                         "%s: %s\n--- jurisdns log:\n%s" % (name, r, d.read_log()[-3000:]))
        self.assertEqual(h.rrset_addresses(r), [ANSWER])
        return r

    def assertServfail(self, d, name):
        r = self.ask(d, name, timeout=6.0)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "SERVFAIL", "%s: %s" % (name, r))

    def assertAllTls(self, proxy, names=()):
        """Every connection jurisdns opened began with a TLS handshake record, and no name it
        was asked for appears in what it sent."""
        sent = proxy.sent_by_client()
        for i, b in enumerate(sent):
            if b:
                self.assertEqual(b[:1], b"\x16", "connection %d did not start with TLS: %r" % (i, b[:32]))
            for n in names:
                label = n.split(".")[0].encode()
                self.assertNotIn(label, b, "%s went out in clear on connection %d" % (n, i))

    # ---- the tests ------------------------------------------------------------------------
    def test_answers_via_tls_and_https_upstreams(self):
        for scheme in ("tls", "https"):
            with self.subTest(scheme=scheme):
                p = self.proxy(self.frontend(scheme))
                d = self.enc_daemon([self.url(scheme, p)])
                name = "first-%s.enc.example." % scheme
                self.assertAnswered(d, name)
                self.assertEqual(self.backend.count(name), 1)
                self.assertGreaterEqual(p.accepted, 1)
                self.assertAllTls(p, [name])
                d.stop()

    def test_connections_are_reused(self):
        """100 queries (50 one after the other, 50 at once) over a few connections at most."""
        for scheme in ("tls", "https"):
            with self.subTest(scheme=scheme):
                p = self.proxy(self.frontend(scheme))
                d = self.enc_daemon([self.url(scheme, p)])
                for i in range(50):
                    self.assertAnswered(d, "seq%d-%s.reuse.example." % (i, scheme))
                names = ["par%d-%s.reuse.example." % (i, scheme) for i in range(50)]
                socks = {}
                try:
                    for n in names:
                        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        q = h.make_query(n, "A")
                        s.sendto(q.to_wire(), ("127.0.0.1", d.port))
                        socks[s] = (n, q)
                    got = {}
                    deadline = time.monotonic() + 8
                    sel = selectors.DefaultSelector()
                    for s in socks:
                        sel.register(s, selectors.EVENT_READ)
                    while len(got) < len(socks) and time.monotonic() < deadline:
                        for key, _ in sel.select(timeout=0.2):
                            s = key.fileobj
                            n, q = socks[s]
                            got[n] = dns.message.from_wire(s.recv(65535))
                            sel.unregister(s)
                    sel.close()
                finally:
                    for s in socks:
                        s.close()
                self.assertEqual(sorted(got), sorted(names), "answers missing")
                for n, r in got.items():
                    self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR", n)
                    self.assertEqual(h.rrset_addresses(r), [ANSWER], n)
                self.assertLessEqual(p.accepted, 3, "%d TLS connections for 100 queries" % p.accepted)
                self.assertAllTls(p)
                d.stop()

    def test_certificate_for_another_name(self):
        """SERVFAIL, the reason logged once over 10 queries, and nothing in clear: not over UDP
        or TCP to the same address and port, and nothing reached dnsdist's backend."""
        for scheme in ("tls", "https"):
            with self.subTest(scheme=scheme):
                p = self.proxy(self.frontend(scheme, good=False))
                # plain DNS on the same address and port would catch a fallback to UDP
                catcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.addCleanup(catcher.close)
                catcher.bind(("127.0.0.1", p.port))
                catcher.setblocking(False)
                url = self.url(scheme, p)
                d = self.enc_daemon([url])
                names = ["wrongname%d-%s.enc.example." % (i, scheme) for i in range(10)]
                for n in names:
                    self.assertServfail(d, n)
                for n in names:
                    self.assertEqual(self.backend.count(n), 0, "%s reached the backend" % n)
                with self.assertRaises(BlockingIOError):
                    catcher.recv(65535)
                self.assertAllTls(p, names)
                log = d.read_log()
                d.stop()
                why = [ln for ln in log.splitlines()
                       if url in ln and re.search(r"(?i)certificate|verif|host ?name", ln)]
                self.assertEqual(len(why), 1, "expected one line saying why, got:\n%s\n--- log:\n%s"
                                 % ("\n".join(why), log[-3000:]))
                self.assertRegex(why[0], r"(?i)host ?name|name mismatch|mismatch")

    def test_pin_that_does_not_match(self):
        for scheme in ("tls", "https"):
            with self.subTest(scheme=scheme):
                p = self.proxy(self.frontend(scheme))
                url = self.url(scheme, p)
                d = self.enc_daemon([url], pin_sha256=h.TestCA.spki_pin(self.other[0]))
                names = ["badpin%d-%s.enc.example." % (i, scheme) for i in range(3)]
                for n in names:
                    self.assertServfail(d, n)
                    self.assertEqual(self.backend.count(n), 0)
                self.assertAllTls(p, names)
                log = d.read_log()
                d.stop()
                why = [ln for ln in log.splitlines() if url in ln and re.search(r"(?i)pin", ln)]
                self.assertEqual(len(why), 1, "expected one line about the pin:\n" + log[-3000:])

    def test_matching_pin_without_ca(self):
        for scheme in ("tls", "https"):
            with self.subTest(scheme=scheme):
                p = self.proxy(self.frontend(scheme))
                d = self.enc_daemon([self.url(scheme, p)], ca_file="none",
                                    pin_sha256=h.TestCA.spki_pin(self.good[0]))
                self.assertAnswered(d, "pinned-%s.enc.example." % scheme)
                d.stop()

    def test_connection_cut_mid_stream(self):
        """The upstream's connection is reset in the middle of an answer: later queries are
        still answered (over a new connection)."""
        for scheme in ("tls", "https"):
            with self.subTest(scheme=scheme):
                p = self.proxy(self.frontend(scheme))
                d = self.enc_daemon([self.url(scheme, p)])
                self.assertAnswered(d, "beforecut-%s.enc.example." % scheme)
                p.arm_cut()
                # this one is in flight when the cut comes: answered (retried) or SERVFAIL
                r = self.ask(d, "duringcut-%s.enc.example." % scheme, timeout=6.0)
                self.assertIn(dns.rcode.to_text(r.rcode()), ("NOERROR", "SERVFAIL"))
                self.assertEqual(p.cuts, 1, "the proxy did not cut")
                for i in range(5):
                    self.assertAnswered(d, "aftercut%d-%s.enc.example." % (i, scheme))
                self.assertGreaterEqual(p.accepted, 2)
                self.assertTrue(d.alive())
                d.stop()

    def test_failover_from_dead_tls_upstream(self):
        dead = h.free_port()      # nothing listens there: connection refused
        for scheme in ("tls", "https"):
            with self.subTest(scheme=scheme):
                p = self.proxy(self.frontend(scheme))
                d = self.enc_daemon([self.url(scheme, "127.0.0.1:%d" % dead), self.url(scheme, p)])
                t0 = time.monotonic()
                self.assertAnswered(d, "failover-%s.enc.example." % scheme, timeout=6.0)
                self.assertLess(time.monotonic() - t0, 5.0)
                for i in range(3):
                    self.assertAnswered(d, "failover%d-%s.enc.example." % (i, scheme))
                d.stop()


if __name__ == "__main__":
    h.main()
