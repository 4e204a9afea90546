#!/usr/bin/env python3
"""The console's HTTP server core (web.c, libmicrohttpd), with knotd and the real daemon.

- the DNS ACL: a source outside it gets no HTTP answer at all
- the security headers on every response (CSP, nosniff, no-referrer, frame-ancestors 'none')
- static files embedded from src/web/ with their content types, / and /admin; HEAD works
- 404 for unknown paths, traversal, NUL and encoded slashes; 405 for other methods; 413 bodies
- /metrics on the console's listener too (promtool check metrics)
- 8 slow-loris connections from one source: another source gets / within 1 s, DNS unaffected
- `jurisdns-ctl web passwd` writes a yescrypt hash read from standard input
- [web] tls = yes: HTTPS with the DoT (self-signed) certificate
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import unittest

import httpx

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
KNOT = None


def setUpModule():
    global KNOT
    KNOT = h.start_knot(test_geoip=False)


def tearDownModule():
    h.stop_knot(KNOT)


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def raw(host, port, data, timeout=3.0):
    """Send data, read until the server closes; b"" when it closed without a word."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        try:
            s.sendall(data)
        except OSError:
            return b""
        out = b""
        for _ in range(1000):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def dns_ok(jd, timeout=1.0):
    t0 = time.monotonic()
    r = h.udp(h.make_query("www.example.test.", "A"), jd.port, timeout=timeout)
    return r is not None and time.monotonic() - t0 < timeout


class WebServer(h.JDTestCase):

    def setUp(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp
        self.wport = h.free_port()
        self.mport = h.free_port()
        listen = ["127.0.0.1:%d" % self.wport]
        self.v6 = has_ipv6()
        if self.v6:
            self.wport6 = h.free_port("::1")
            listen.append("[::1]:%d" % self.wport6)
        self.jd = h.Jurisdns(upstreams=[KNOT.addr], tmp=tmp,
                             web={"listen": listen, "password_file": tmp.file("web.passwd")},
                             stats={"metrics_listen": "127.0.0.1:%d" % self.mport,
                                    "interval": 100})
        self.addCleanup(self.jd.kill)
        self.addCleanup(self.jd.stop)
        self.jd.start()
        # probed from another source: the server counts a connection against its source's
        # limit (8) until its thread has seen it close, and the slow-loris test uses all 8
        h.wait_for(lambda: h.port_open(self.wport, source="127.0.0.2"), 5.0,
                   what="the console listening")
        self.base = "http://127.0.0.1:%d" % self.wport

    def get(self, path, method="GET", **kw):
        with httpx.Client(timeout=3.0) as c:
            return c.request(method, self.base + path, **kw)

    def assertSecure(self, r):
        self.assertEqual(r.headers.get("content-security-policy"), CSP, r.headers)
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(r.headers.get("referrer-policy"), "no-referrer")

    def test_static_files_and_types(self):
        for path, ctype, needle in (("/", "text/html", b"<"), ("/admin", "text/html", b"<"),
                                    ("/app.js", "text/javascript", b""),
                                    ("/admin.js", "text/javascript", b""),
                                    ("/style.css", "text/css", b"")):
            r = self.get(path)
            self.assertEqual(r.status_code, 200, path)
            self.assertTrue(r.headers["content-type"].startswith(ctype), (path, r.headers))
            self.assertIn(needle, r.content)
            self.assertSecure(r)
        with open(os.path.join(os.environ.get("abs_top_srcdir", h.REPO), "src/web/index.html"), "rb") as f:
            self.assertEqual(self.get("/").content, f.read())
        r = self.get("/", method="HEAD")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.content, b"")
        self.assertSecure(r)

    def test_not_found_and_methods(self):
        for path in ("/nope.html", "/../etc/passwd", "/%2e%2e/etc/passwd", "/web/index.html",
                     "/.hidden", "/app.js%00", "/api/devices/10.0.0.0%2F24", "/api/devices/x%00"):
            r = self.get(path)
            self.assertEqual(r.status_code, 404, path)
            self.assertSecure(r)
        r = self.get("/", method="DELETE")
        self.assertEqual(r.status_code, 405)
        self.assertSecure(r)
        self.assertEqual(self.get("/metrics", method="POST").status_code, 405)
        self.assertEqual(self.get("/api/login", method="GET").status_code, 405)
        # a body over 16 KiB: 413, before it is read
        r = self.get("/api/login", method="POST", content=b"x" * 20000,
                     headers={"Content-Type": "application/json"})
        self.assertEqual(r.status_code, 413)
        # headers over the 32 KiB limit: refused by the library
        out = raw("127.0.0.1", self.wport, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 +
                  b"\r\n\r\n")
        self.assertTrue(out == b"" or out.split(b"\r\n")[0].split()[1] in (b"431", b"413", b"414"),
                        out[:200])
        self.assertTrue(dns_ok(self.jd))

    def test_metrics_on_the_console(self):
        h.wait_for(lambda: b"jurisdns_queries_total" in self.get("/metrics").content, 5.0,
                   what="metrics on the console's listener")
        r = self.get("/metrics")
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"))
        self.assertSecure(r)
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=r.content,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
            self.assertEqual((p.returncode, p.stdout.strip()), (0, b""))
        # the metrics_listen listener serves only /metrics
        out = raw("127.0.0.1", self.mport, b"GET / HTTP/1.0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.0 404"), out[:100])

    @unittest.skipUnless(has_ipv6(), "no ::1")
    def test_slow_loris_leaves_others_and_dns_alone(self):
        slow = []
        self.addCleanup(lambda: [s.close() for s in slow])
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", self.wport), timeout=3)
            s.sendall(b"G")
            slow.append(s)
        t_end = time.monotonic() + 4
        checked = 0
        while time.monotonic() < t_end:
            for s in slow:
                s.sendall(b"E")  # a header byte per second per connection
            t0 = time.monotonic()
            with httpx.Client(timeout=1.0) as c:
                r = c.get("http://[::1]:%d/" % self.wport6)
            self.assertEqual(r.status_code, 200)
            self.assertLess(time.monotonic() - t0, 1.0)
            self.assertTrue(dns_ok(self.jd))
            checked += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        self.assertGreaterEqual(checked, 3)
        # the slow source is at its limit of 8: a 9th connection gets no answer
        self.assertEqual(raw("127.0.0.1", self.wport, b"GET / HTTP/1.0\r\n\r\n", timeout=2), b"")

    def test_ctl_web_passwd_writes_a_yescrypt_hash(self):
        path = self.tmp.file("pw")
        p = subprocess.run([h.ctl_bin(), "-c", self.jd.conf, "web", "passwd", "--file", path],
                           input=b"correct horse battery\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(path) as f:
            line = f.read()
        self.assertTrue(line.startswith("$y$") and line.endswith("\n") and line.count("\n") == 1, line)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o077, 0o040)
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt  # libcrypt, like the daemon
            self.assertEqual(crypt.crypt("correct horse battery", line.strip()), line.strip())
        except ImportError:
            pass
        # the [web] password_file is the default target
        p = subprocess.run([h.ctl_bin(), "-c", self.jd.conf, "web", "passwd"], input=b"x\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        self.assertNotEqual(p.returncode, 0)  # too short
        self.assertFalse(os.path.exists(self.tmp.file("web.passwd")))


@unittest.skipUnless(has_ipv6(), "no ::1")
class WebAcl(h.JDTestCase):
    """[server] allow = 127.0.0.0/8: the console on ::1 refuses ::1."""

    def test_source_outside_the_acl_is_refused(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        p4, p6 = h.free_port(), h.free_port("::1")
        jd = h.Jurisdns(upstreams=[KNOT.addr], tmp=tmp, server={"allow": "127.0.0.0/8"},
                        web={"listen": ["127.0.0.1:%d" % p4, "[::1]:%d" % p6]})
        self.addCleanup(jd.kill)
        jd.start()
        self.addCleanup(jd.stop)
        h.wait_for(lambda: raw("127.0.0.1", p4, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1"),
                   5.0, what="the console on 127.0.0.1")
        self.assertEqual(raw("::1", p6, b"GET / HTTP/1.0\r\n\r\n"), b"")
        self.assertTrue(jd.alive())


class WebTls(h.JDTestCase):
    """[web] tls = yes: HTTPS with the self-signed DoT certificate from tls_dir."""

    def test_https_with_the_dot_certificate(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        port = h.free_port()
        tlsdir = tmp.file("tls")
        os.mkdir(tlsdir)
        jd = h.Jurisdns(upstreams=[KNOT.addr], tmp=tmp, server={"tls_dir": tlsdir},
                        web={"listen": "127.0.0.1:%d" % port, "tls": "yes"})
        self.addCleanup(jd.kill)
        jd.start()
        self.addCleanup(jd.stop)
        got = {}

        def served():
            try:
                with httpx.Client(verify=False, timeout=2.0) as c:
                    got["r"] = c.get("https://127.0.0.1:%d/" % port)
                return True
            except httpx.HTTPError:
                return False
        h.wait_for(served, 5.0, what="HTTPS on the console")
        r = got["r"]
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers.get("content-security-policy"), CSP)
        self.assertTrue(os.path.exists(os.path.join(tlsdir, "cert.pem")))
        import ssl
        pem = ssl.get_server_certificate(("127.0.0.1", port))
        with open(os.path.join(tlsdir, "cert.pem")) as f:
            self.assertEqual(ssl.PEM_cert_to_DER_cert(pem), ssl.PEM_cert_to_DER_cert(f.read()))
        # plain HTTP on the TLS port gets no page
        self.assertNotIn(b"<html", raw("127.0.0.1", port, b"GET / HTTP/1.0\r\n\r\n", timeout=2))


if __name__ == "__main__":
    h.main()
