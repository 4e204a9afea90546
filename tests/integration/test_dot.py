#!/usr/bin/env python3
"""DNS over TLS for clients (RFC 7858, issue 11 item 1): [server] tls_listen with the
self-signed certificate made on first start (its SPKI pin logged, equal to what kdig checks),
or a provided certificate and key; pipelining, padding (RFC 8467), the EDNS TCP keepalive
(RFC 7828), a bad key failing start (and -t) on one line, and hostile clients: garbage instead
of a ClientHello, a stalled handshake, 500 half-open connections and idle connections beyond
the limit, after which a new client is still answered within 1 s; a client that closes with a
query in flight (the answer is still cached). Clients: kdig +tls and dnspython dns.query.tls."""
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

import harness as h

KDIG = shutil.which("kdig")
OPENSSL = shutil.which("openssl")


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def dot(q, port, timeout=3.0):
    return dns.query.tls(q, "127.0.0.1", port=port, timeout=timeout, ssl_context=client_ctx())


def tls_connect(port, timeout=3.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s = client_ctx().wrap_socket(raw)
    s.settimeout(timeout)
    return s


def read_msg(s, deadline):
    def exact(n):
        buf = b""
        for _ in range(10000):  # bounded
            if len(buf) >= n or time.monotonic() > deadline:
                break
            chunk = s.recv(n - len(buf))
            if not chunk:
                break
            buf += chunk
        if len(buf) < n:
            raise AssertionError("connection closed or timed out")
        return buf
    n = struct.unpack("!H", exact(2))[0]
    return exact(n)


def kdig(port, *args):
    return subprocess.run([KDIG, "@127.0.0.1", "-p", str(port), "+time=2", "+retry=0"] + list(args),
                          capture_output=True, text=True, timeout=20)


class DoTDaemon(h.JDTestCase):
    def dot_daemon(self, server=None, start=True, **kw):
        d = self.tls_daemon("tls_listen", server, start=start, **kw)
        if not start:
            self.addCleanup(d.stop)     # the test starts it
        return d

    def pin_from_log(self, d):
        m = re.search(r"SPKI pin \(sha256, base64\) (\S+)", d.read_log())
        self.assertTrue(m, d.read_log())
        return m.group(1)


@unittest.skipUnless(KDIG, "kdig (knot-dnsutils) not installed")
class SelfSigned(DoTDaemon):
    @classmethod
    def setUpClass(cls):
        h.require_binary()

    def test_self_signed_pin_kept_and_checked_by_kdig(self):
        up = self.fake()
        d = self.dot_daemon(upstreams=[up])
        pin = self.pin_from_log(d)
        key = os.path.join(d.tls_dir, "key.pem")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        r = kdig(d.tls_port, "+tls-pin=" + pin, "a.example.", "A")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("192.0.2.99", r.stdout)
        self.assertIn("TLS1.", r.stdout)
        wrong = ("A" if pin[0] != "A" else "B") + pin[1:]
        r = kdig(d.tls_port, "+tls-pin=" + wrong, "b.example.", "A")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("192.0.2.99", r.stdout)
        # the same certificate on the next start
        d.stop()
        d.start()
        h.wait_for(lambda: h.port_open(d.tls_port), 5, what="the DoT port")
        self.assertEqual(re.findall(r"SPKI pin \(sha256, base64\) (\S+)", d.read_log())[-1], pin)
        r = kdig(d.tls_port, "+tls-pin=" + pin, "c.example.", "A")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_dnspython_pipelining_padding_keepalive(self):
        up = self.fake()
        up.set_mode("slow.example.", "delay:300")
        d = self.dot_daemon(upstreams=[up], server={"tcp_idle_timeout": 7000})
        r = dot(dns.message.make_query("one.example.", "A"), d.tls_port)
        self.assertEqual([a.address for a in r.answer[0]], ["192.0.2.99"])
        # pipelining: the slow one first, its answer comes last
        s = tls_connect(d.tls_port)
        self.addCleanup(s.close)
        names = ["slow.example."] + ["p%d.example." % i for i in range(5)]
        qs = [dns.message.make_query(n, "A", use_edns=0) for n in names]
        s.sendall(b"".join(h.frame(q.to_wire()) for q in qs))
        deadline = time.monotonic() + 5
        got = [dns.message.from_wire(read_msg(s, deadline)) for _ in qs]
        self.assertEqual({m.id for m in got}, {q.id for q in qs})
        self.assertEqual(got[-1].question[0].name.to_text(), "slow.example.")
        # padding: the answer is a multiple of 468 octets, with the keepalive as well
        q = dns.message.make_query("pad.example.", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(12, b""),
                                            dns.edns.GenericOption(11, b"")])
        s.sendall(h.frame(q.to_wire()))
        wire = read_msg(s, time.monotonic() + 3)
        self.assertEqual(len(wire) % 468, 0, len(wire))
        m = dns.message.from_wire(wire)
        ka = [o for o in m.options if o.otype == 11]
        self.assertEqual(len(ka), 1)
        self.assertEqual(ka[0].to_wire(), struct.pack("!H", 70))  # 7000 ms in 100 ms units
        # without the options, none in the answer
        q = dns.message.make_query("plain.example.", "A", use_edns=0)
        s.sendall(h.frame(q.to_wire()))
        m = dns.message.from_wire(read_msg(s, time.monotonic() + 3))
        self.assertEqual([o for o in m.options if o.otype in (11, 12)], [])

    def test_session_resumption_and_query_log_transport(self):
        up = self.fake()
        tmp = h.TempDir("jd-dotlog-")
        self.addCleanup(tmp.cleanup)
        qlog = tmp.file("q.jsonl")
        d = self.dot_daemon(upstreams=[up], log={"query_log": qlog, "query_log_mode": "all"})
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_ctx()
            ctx.minimum_version = ctx.maximum_version = version
            sess = None
            for i in range(2):
                raw = socket.create_connection(("127.0.0.1", d.tls_port), timeout=3)
                s = ctx.wrap_socket(raw, session=sess)
                s.settimeout(3)
                q = dns.message.make_query("r%d.example." % i, "A")
                s.sendall(h.frame(q.to_wire()))
                dns.message.from_wire(read_msg(s, time.monotonic() + 3))
                if i:
                    self.assertTrue(s.session_reused, version)
                sess = s.session
                s.close()
        # TLS 1.1 is refused
        ctx = client_ctx()
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            with self.assertRaises((ssl.SSLError, OSError)):
                ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.tls_port), timeout=3))
        except ssl.SSLError:
            pass  # this Python cannot even offer TLS 1.1
        h.query("u.example.", "A", port=d.port)
        h.query("t.example.", "A", port=d.port, transport="tcp")
        lines = h.wait_jsonl(qlog, 6)
        by = {l["qname"]: l["transport"] for l in lines}
        self.assertEqual(by["r0.example"], "dot")
        self.assertEqual(by["u.example"], "udp")
        self.assertEqual(by["t.example"], "tcp")

    def test_ddr_announces_dot_and_minus_t_creates_nothing(self):
        up = self.fake()
        d = self.dot_daemon(upstreams=[up], start=False, server={"ddr_name": "dns.home.example"})
        d.write_config()
        p = subprocess.run([d.bin, "-c", d.conf, "-t"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(d.tls_dir))
        d.start()
        h.wait_for(lambda: h.port_open(d.tls_port), 5, what="the DoT port")
        r = h.query("_dns.resolver.arpa.", "SVCB", port=d.port)
        self.assertEqual(len(r.answer), 1, r)
        rd = list(r.answer[0])[0]
        self.assertEqual(rd.target.to_text(), "dns.home.example.")
        text = rd.to_text()
        self.assertIn('alpn="dot"', text)
        self.assertRegex(text, r'port="?%d"?' % d.tls_port)
        self.assertNotIn("ddr_name", d.read_log())
        self.assertEqual(up.count(), 0)
        # over DoT too, and without ddr_name a warning
        r = dot(dns.message.make_query("_dns.resolver.arpa.", "SVCB"), d.tls_port)
        self.assertEqual(len(r.answer), 1)
        d2 = self.dot_daemon(upstreams=[up])
        self.assertIn("tls_listen without [server] ddr_name", d2.read_log())

    def test_query_limit_resume_answers_each_query_once(self):
        up = self.fake()
        for n in ("slow1.example.", "slow2.example."):
            up.set_mode(n, "delay:300")
        d = self.dot_daemon(upstreams=[up], server={"tcp_max_queries": 2})
        hits = ["c%d.example." % i for i in range(6)]
        for n in hits:  # cached: answered at once when read
            h.query(n, "A", port=d.port)
        s = tls_connect(d.tls_port)
        self.addCleanup(s.close)
        qs = [dns.message.make_query(n, "A") for n in ["slow1.example.", "slow2.example."] + hits]
        s.sendall(b"".join(h.frame(q.to_wire()) for q in qs))
        deadline = time.monotonic() + 5
        got = [dns.message.from_wire(read_msg(s, deadline)).id for _ in qs]
        self.assertEqual(sorted(got), sorted(q.id for q in qs))
        s.settimeout(0.5)
        with self.assertRaises((socket.timeout, ssl.SSLError, TimeoutError)):
            s.recv(1)  # nothing more: no query answered twice

    def test_client_closes_mid_flight(self):
        up = self.fake()
        up.set_mode("late.example.", "delay:400")
        d = self.dot_daemon(upstreams=[up])
        s = tls_connect(d.tls_port)
        s.sendall(h.frame(dns.message.make_query("late.example.", "A").to_wire()))
        h.wait_for(lambda: up.count("late.example.") >= 1, 3, what="the query upstream")
        s.close()
        time.sleep(0.6)
        r = dot(dns.message.make_query("late.example.", "A"), d.tls_port)
        self.assertEqual([a.address for a in r.answer[0]], ["192.0.2.99"])
        self.assertEqual(up.count("late.example."), 1)  # answered from the cache
        self.assertTrue(d.alive())

    def test_hostile_clients(self):
        up = self.fake()
        d = self.dot_daemon(upstreams=[up], server={"tcp_max_clients": 200})
        # garbage instead of a ClientHello: closed, the daemon lives
        g = socket.create_connection(("127.0.0.1", d.tls_port), timeout=3)
        g.sendall(b"\x00\x10GET / HTTP/1.0\r\n\r\n" * 10)
        self.assertTrue(h.is_closed(g, 3))
        g.close()
        # a stalled handshake is closed after the handshake timeout (5 s)
        st = socket.create_connection(("127.0.0.1", d.tls_port), timeout=3)
        self.addCleanup(st.close)
        # 500 half-open connections, then 150 idle TLS ones (beyond tcp_max_clients with them)
        half = []
        self.addCleanup(lambda: [c.close() for c in half])
        for _ in range(500):
            half.append(socket.create_connection(("127.0.0.1", d.tls_port), timeout=3))
        idle = []
        self.addCleanup(lambda: [c.close() for c in idle])
        for _ in range(150):
            idle.append(tls_connect(d.tls_port))
        t0 = time.monotonic()
        r = dot(dns.message.make_query("new.example.", "A"), d.tls_port, timeout=1.0)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual([a.address for a in r.answer[0]], ["192.0.2.99"])
        self.assertTrue(h.is_closed(st, 7))
        self.assertTrue(d.alive())


@unittest.skipUnless(OPENSSL and KDIG, "openssl CLI or kdig not installed")
class ProvidedCertificate(DoTDaemon):
    def make_pair(self, tmp, name):
        cert, key = tmp.file(name + ".crt"), tmp.file(name + ".key")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=dot.test"], check=True, capture_output=True,
                       timeout=30)
        return cert, key

    @staticmethod
    def spki_pin(cert):
        return subprocess.run(
            "%s x509 -in %s -pubkey -noout | %s pkey -pubin -outform der | %s dgst -sha256 -binary"
            " | base64" % (OPENSSL, cert, OPENSSL, OPENSSL), shell=True, capture_output=True,
            text=True, timeout=30, check=True).stdout.strip()

    def test_sighup_reloads_certificate(self):
        tmp = h.TempDir("jd-dotpem-")
        self.addCleanup(tmp.cleanup)
        a_cert, a_key = self.make_pair(tmp, "a")
        b_cert, b_key = self.make_pair(tmp, "b")
        up = self.fake()
        d = self.dot_daemon(upstreams=[up], server={"tls_certificate": a_cert, "tls_key": a_key})
        pa, pb = self.spki_pin(a_cert), self.spki_pin(b_cert)
        self.assertEqual(kdig(d.tls_port, "+tls-pin=" + pa, "a.example.").returncode, 0)
        d.server.update({"tls_certificate": b_cert, "tls_key": b_key})
        d.reload()
        h.wait_for(lambda: kdig(d.tls_port, "+tls-pin=" + pb, "b.example.").returncode == 0, 5,
                   interval=0.2, what="the new certificate")
        self.assertNotEqual(kdig(d.tls_port, "+tls-pin=" + pa, "c.example.").returncode, 0)
        # a bad key on reload: the running certificate stays
        d.server["tls_key"] = a_key
        d.reload()
        h.wait_for(lambda: "reload failed" in d.read_log(), 5, what="the reload error")
        self.assertEqual(kdig(d.tls_port, "+tls-pin=" + pb, "d.example.").returncode, 0)

    def test_provided_pair_and_bad_key(self):
        tmp = h.TempDir("jd-dotpem-")
        self.addCleanup(tmp.cleanup)
        cert, key = self.make_pair(tmp, "a")
        pub = subprocess.run(
            "%s x509 -in %s -pubkey -noout | %s pkey -pubin -outform der | %s dgst -sha256 -binary"
            " | base64" % (OPENSSL, cert, OPENSSL, OPENSSL), shell=True, capture_output=True,
            text=True, timeout=30, check=True).stdout.strip()
        up = self.fake()
        d = self.dot_daemon(upstreams=[up], server={"tls_certificate": cert, "tls_key": key})
        self.assertEqual(self.pin_from_log(d), pub)
        r = kdig(d.tls_port, "+tls-pin=" + pub, "x.example.", "A")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("192.0.2.99", r.stdout)
        self.assertFalse(os.path.exists(d.tls_dir))  # no self-signed one made
        d.stop()
        # a key that is not a key, and a key of another pair: one line, exit non-zero
        bad = tmp.file("bad.key")
        with open(bad, "w") as f:
            f.write("not a key\n")
        _, other = self.make_pair(tmp, "b")
        for k, want in ((bad, "not a usable PEM private key"), (other, "does not match")):
            d.server["tls_key"] = k
            d.write_config()
            for extra in ([], ["-t"]):
                p = subprocess.run([d.bin, "-c", d.conf, "-f"] + extra, capture_output=True,
                                   text=True, timeout=20)
                self.assertNotEqual(p.returncode, 0, p.stderr)
                errs = [l for l in p.stderr.splitlines() if "error" in l]
                self.assertEqual(len(errs), 1, p.stderr)
                self.assertIn(want, errs[0])
                self.assertIn(k, errs[0])


if __name__ == "__main__":
    unittest.main()
