#!/usr/bin/env python3
"""Encrypted upstreams ([upstream] server = tls://IP:PORT#NAME and https://IP:PORT/PATH#NAME):
dnsdist (addTLSLocal, addDOHLocal) with a test CA's certificate for dns.example, in front of
the fake upstream. Between jurisdns and dnsdist runs a small TCP relay that counts connections,
records the bytes jurisdns sends and can cut every connection, so that the tests see what goes
over the wire: answers over DoT and DoH, few connections for many queries, a certificate for
another name or a wrong pin -> SERVFAIL with nothing in clear and one log line, a dropped
connection -> reconnect, a dead first server -> the next one."""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (JDTestCase, TempDir, ede_of, free_port, main, make_query, run_cli, stop_process,  # noqa: E402
                     udp, wait_for)
import dns.rcode  # noqa: E402

DNSDIST = shutil.which("dnsdist")
OPENSSL = shutil.which("openssl")
NAME = "dns.example"


def make_ca_and_cert(tmp):
    """A test CA and a certificate for dns.example signed by it; returns (ca, cert, key, pin)."""
    ca, cakey = tmp.file("ca.crt"), tmp.file("ca.key")
    cert, key, csr, ext = tmp.file("srv.crt"), tmp.file("srv.key"), tmp.file("srv.csr"), tmp.file("ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: subprocess.run([OPENSSL] + list(a), check=True, capture_output=True, timeout=20)
    run("req", "-x509", *ec, "-keyout", cakey, "-out", ca, "-days", "2", "-subj", "/CN=jd test CA")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=" + NAME)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\n" % NAME)
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    pin = subprocess.run("%s x509 -in %s -pubkey -noout | %s pkey -pubin -outform der | %s dgst "
                         "-sha256 -binary | base64" % (OPENSSL, cert, OPENSSL, OPENSSL), shell=True,
                         capture_output=True, text=True, check=True, timeout=20).stdout.strip()
    return ca, cert, key, pin


def client_hello_extensions(rec):
    """The extension types of the TLS ClientHello at the start of rec (bytes a client sent)."""
    if len(rec) < 9 or rec[0] != 0x16 or rec[5] != 1:
        return []
    p = 9 + 2 + 32                         # record and handshake headers, version, random
    p += 1 + rec[p]                        # session id
    p += 2 + int.from_bytes(rec[p:p + 2], "big")   # cipher suites
    p += 1 + rec[p]                        # compression methods
    end = p + 2 + int.from_bytes(rec[p:p + 2], "big")
    p += 2
    types = []
    while p + 4 <= end and p + 4 <= len(rec):
        types.append(int.from_bytes(rec[p:p + 2], "big"))
        p += 4 + int.from_bytes(rec[p + 2:p + 4], "big")
    return types


PRE_SHARED_KEY = 41                        # TLS 1.3 resumption (RFC 8446 4.2.11)


class Dnsdist:
    """dnsdist with a DoT and a DoH listener in front of one backend."""

    def __init__(self, tmp, backend, cert, key):
        self.tmp = tmp
        self.dot_port, self.doh_port, self.udp_port = free_port(), free_port(), free_port()
        self.conf = tmp.file("dnsdist.conf")
        self.log = tmp.file("dnsdist.log")
        with open(self.conf, "w") as f:
            f.write('setLocal("127.0.0.1:%d")\n' % self.udp_port)
            f.write('newServer({address="%s"})\n' % backend)
            f.write('addTLSLocal("127.0.0.1:%d", "%s", "%s")\n' % (self.dot_port, cert, key))
            f.write('addDOHLocal("127.0.0.1:%d", "%s", "%s", "/dns-query")\n'
                    % (self.doh_port, cert, key))
            f.write('setSecurityPollSuffix("")\n')
        self.proc = None

    def start(self):
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen([DNSDIST, "--supervised", "--disable-syslog", "-C", self.conf],
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def up():
            for p in (self.dot_port, self.doh_port):
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=0.2).close()
                except OSError:
                    return False
            return True
        wait_for(up, 10, interval=0.1, what="dnsdist's TLS listeners")
        return self

    def stop(self):
        if self.proc:
            stop_process(self.proc)
            self.proc = None
            self._logf.close()


class Relay:
    """A TCP relay on its own port to target: counts connections, keeps the first bytes each
    client sent, and drop() cuts every open connection. Threads; bounded by stop()."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.conns = 0
        self.sent = []             # per connection: the bytes the client sent (first 64 KiB)
        self.open = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                continue
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += 1
                rec = bytearray()
                self.sent.append(rec)
                self.open.append((c, s))
            threading.Thread(target=self._pipe, args=(c, s, rec), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, None), daemon=True).start()

    def _pipe(self, a, b, rec):
        a.settimeout(0.2)
        while not self.stopping:
            try:
                d = a.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not d:
                break
            if rec is not None and len(rec) < 65536:
                rec.extend(d)
            try:
                b.sendall(d)
            except OSError:
                break
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        with self.lock:
            for c, s in self.open:
                for x in (c, s):
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self.open = []

    def stop(self):
        self.stopping = True
        self.drop()
        self.lsock.close()
        self.thread.join(2)


@unittest.skipUnless(DNSDIST and OPENSSL, "dnsdist or the openssl CLI not installed")
class EncryptedUpstreams(JDTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir("jd-enc-")
        cls.ca, cls.cert, cls.key, cls.pin = make_ca_and_cert(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.backend = self.fake()
        self.dd = Dnsdist(self.tmp, self.backend.addr, self.cert, self.key).start()
        self.addCleanup(self.dd.stop)

    def relay(self, port):
        r = Relay(port)
        self.addCleanup(r.stop)
        return r

    def enc_daemon(self, servers, **upstream):
        up = {"server": servers, "ca_file": self.ca, "timeout": 2000, "failover": 400}
        up.update(upstream)
        return self.daemon(upstream=up, cache={"size": 0})

    def ask(self, d, name, rcode=dns.rcode.NOERROR):
        q = make_query(name)
        r = udp(q, d.port, timeout=4)
        self.assertResponseTo(r, q, rcode)
        return r

    def backend_saw(self):
        """The queries that reached the backend, without dnsdist's own health checks."""
        return [q for q in self.backend.queries if "root-servers" not in str(q)]

    def answered_by_backend(self, r):
        self.assertEqual([rr.address for rrset in r.answer for rr in rrset], [self.backend.address])

    def test_dot_answers_over_few_connections(self):
        relay = self.relay(self.dd.dot_port)
        d = self.enc_daemon(["tls://127.0.0.1:%d#%s" % (relay.port, NAME)])
        for i in range(100):
            self.answered_by_backend(self.ask(d, "q%d.dot.example.com" % i))
        self.assertGreaterEqual(len(self.backend_saw()), 100)
        self.assertLessEqual(relay.conns, 2, "a TLS connection per query?")
        # everything it sent is TLS records (0x16 handshake first), never a DNS query in clear
        for rec in relay.sent:
            self.assertEqual(rec[:1], b"\x16")
            self.assertNotIn(b"\x02q1\x03dot", bytes(rec))
        self.assertIn("tls://127.0.0.1:%d#%s" % (relay.port, NAME), d.read_log())

    def test_doh_answers_over_one_connection(self):
        relay = self.relay(self.dd.doh_port)
        d = self.enc_daemon(["https://127.0.0.1:%d/dns-query#%s" % (relay.port, NAME)])
        for i in range(100):
            self.answered_by_backend(self.ask(d, "q%d.doh.example.com" % i))
        self.assertLessEqual(relay.conns, 2)

    def test_certificate_for_another_name_is_never_used(self):
        # a plain listener on the same port number (UDP) must see nothing
        plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(plain.close)
        relay = self.relay(self.dd.dot_port)
        plain.bind(("127.0.0.1", relay.port))
        plain.setblocking(False)
        url = "tls://127.0.0.1:%d#other.example" % relay.port
        d = self.enc_daemon([url])
        for i in range(6):
            self.ask(d, "bad%d.example.com" % i, dns.rcode.SERVFAIL)
        # RFC 8914: the client learns why (an EDNS client; Network Error while it is refused)
        q = make_query("bad-ede.example.com", edns=0)
        r = udp(q, d.port, timeout=4)
        self.assertResponseTo(r, q, dns.rcode.SERVFAIL)
        self.assertEqual(ede_of(r), [(23, "upstream TLS certificate refused")])
        self.assertEqual(self.backend_saw(), [])
        # down with backoff (1 s first): not a new handshake for every query
        self.assertLessEqual(relay.conns, 2)
        with self.assertRaises(BlockingIOError):
            plain.recv(4096)
        for rec in relay.sent:
            self.assertEqual(rec[:1], b"\x16")
        log = d.read_log()
        line = "upstream %s: certificate verify failed: hostname mismatch; not used" % url
        self.assertEqual(log.count(line), 1, log)

    def test_wrong_pin_servfail(self):
        url = "tls://127.0.0.1:%d#%s" % (self.dd.dot_port, NAME)
        d = self.enc_daemon([url], pin_sha256="A" * 43 + "=")
        self.ask(d, "pinned.example.com", dns.rcode.SERVFAIL)
        self.ask(d, "pinned2.example.com", dns.rcode.SERVFAIL)
        self.assertEqual(self.backend_saw(), [])
        self.assertEqual(d.read_log().count("certificate does not match pin_sha256; not used"), 1)

    def test_right_pin_without_ca(self):
        # ca_file = none: the pin alone is the identity (a self-signed upstream)
        d = self.enc_daemon(["tls://127.0.0.1:%d#any.example" % self.dd.dot_port], ca_file="none",
                            pin_sha256=self.pin)
        self.answered_by_backend(self.ask(d, "pin-ok.example.com"))

    def test_dropped_connection_reconnects_and_resumes(self):
        relay = self.relay(self.dd.dot_port)
        d = self.enc_daemon(["tls://127.0.0.1:%d#%s" % (relay.port, NAME)])
        for i in range(5):
            self.answered_by_backend(self.ask(d, "before%d.example.com" % i))
        relay.drop()
        for i in range(5):
            self.answered_by_backend(self.ask(d, "after%d.example.com" % i))
        self.assertEqual(relay.conns, 2)
        # the second connection resumed the first one's session
        self.assertNotIn(PRE_SHARED_KEY, client_hello_extensions(relay.sent[0]))
        self.assertIn(PRE_SHARED_KEY, client_hello_extensions(relay.sent[1]))

    def test_connection_dropped_with_queries_in_flight(self):
        # the upstream answers slowly; the connection breaks while 5 queries wait: they go again
        # on a new connection to the same server and are answered, not SERVFAILed (dnsdist asks
        # the fake over one TCP connection, which answers in turn: few, short delays)
        relay = self.relay(self.dd.dot_port)
        d = self.enc_daemon(["tls://127.0.0.1:%d#%s" % (relay.port, NAME)], failover=3000,
                            timeout=4000)
        self.answered_by_backend(self.ask(d, "warm.example.com"))
        names = ["slow%d.example.com" % i for i in range(3)]
        for n in names:
            self.backend.set_mode(n, "delay:250")
        results = {}

        def one(n):
            try:
                results[n] = self.ask(d, n)
            except BaseException as e:  # reported below
                results[n] = e
        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        wait_for(lambda: len([q for q in self.backend_saw() if "slow" in str(q)]) >= 1, 3,
                 what="the slow queries at the backend")
        relay.drop()
        for t in threads:
            t.join(8)
        for n in names:
            self.assertNotIsInstance(results.get(n), BaseException, results.get(n))
            self.answered_by_backend(results[n])
        self.assertEqual(relay.conns, 2)

    def test_failover_from_dead_tls_server(self):
        dead = free_port()
        d = self.enc_daemon(["tls://127.0.0.1:%d#%s" % (dead, NAME),
                             "tls://127.0.0.1:%d#%s" % (self.dd.dot_port, NAME)])
        t0 = time.monotonic()
        for i in range(3):
            self.answered_by_backend(self.ask(d, "fo%d.example.com" % i))
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn("upstream tls://127.0.0.1:%d#%s fails over TLS" % (dead, NAME), d.read_log())

    def test_mixed_with_plain_in_order(self):
        # the encrypted server first, the plain one second: answers come over TLS
        relay = self.relay(self.dd.dot_port)
        d = self.enc_daemon(["tls://127.0.0.1:%d#%s" % (relay.port, NAME), self.backend.addr])
        self.answered_by_backend(self.ask(d, "mixed.example.com"))
        self.assertEqual(relay.conns, 1)


class ConfigForms(unittest.TestCase):
    """The URL forms and their keys in the file and on the command line (-t checks only)."""

    def check(self, text):
        tmp = TempDir("jd-encconf-")
        self.addCleanup(tmp.cleanup)
        path = tmp.file("j.conf")
        with open(path, "w") as f:
            f.write(text)
        r = run_cli(["-t", "-c", path])
        return r.returncode, (r.stdout + r.stderr).replace(path, "FILE")

    def test_errors_name_the_line_and_the_form(self):
        cases = [
            ("[upstream]\nserver = tls://1.2.3.4\n",
             "FILE:2: server = tls://1.2.3.4: expected tls://IP:PORT#NAME"),
            ("[upstream]\n\nserver = https://1.2.3.4:443#x.example\n",
             "FILE:3: server = https://1.2.3.4:443#x.example: expected https://IP:PORT/PATH#NAME"),
            ("[upstream]\nserver = quic://1.2.3.4:853#x\n", "FILE:2: server = quic://1.2.3.4:853#x: unknown scheme"),
            ("[upstream]\npin_sha256 = abc\n", "FILE:2: pin_sha256 = abc: expected the base64"),
            ("[upstream]\nserver = tls://1.2.3.4:853#x.example\nca_file = none\n",
             "FILE:3: ca_file = none: give pin_sha256"),
            ("[upstream]\nserver = tls://1.2.3.4:853#x.example\nca_file = /nonexistent.pem\n",
             "FILE:3: ca_file = /nonexistent.pem: No such file or directory"),
        ]
        for text, want in cases:
            rc, out = self.check(text)
            self.assertNotEqual(rc, 0, text)
            self.assertIn(want, out)

    def test_valid_forms_and_command_line(self):
        rc, out = self.check("[upstream]\nserver = tls://127.0.0.1:853#dns.example\n"
                             "server = https://[::1]:443/dns-query#dns.example\nserver = 127.0.0.1\n")
        self.assertEqual(rc, 0, out)
        r = run_cli(["-t", "-u", "tls://127.0.0.1:853"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("-u tls://127.0.0.1:853: expected tls://IP:PORT#NAME", r.stderr)
        r = run_cli(["-t", "-u", "tls://127.0.0.1:853#dns.example", "-u", "192.0.2.1"])
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    main()
