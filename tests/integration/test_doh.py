#!/usr/bin/env python3
"""DNS over HTTPS for clients (RFC 8484, issue 11 item 2): [server] https_listen and
https_path, HTTP/2 over TLS (ALPN h2) with the self-signed certificate. Real clients: kdig
+https and python3-httpx with HTTP/2 (python3-h2 for a stream reset by hand). GET ?dns= and
POST application/dns-message answer as UDP does, with cache-control max-age the smallest TTL
(the SOA's for a negative answer); 400, 404, 405 (with allow), 413 (before the whole body),
415; FORMERR inside a 200; the query log's transport "doh"; DDR announcing alpn h2 with its
dohpath; 50 concurrent streams on one connection; clients that go away mid-query; the DoH
counter in /metrics."""
import asyncio
import base64
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype

import harness as h

try:
    import httpx
    import h2.config
    import h2.connection
    import h2.events
except ImportError:  # reported by the skip below
    httpx = None

KDIG = shutil.which("kdig")
CT = "application/dns-message"


def b64(wire):
    return base64.urlsafe_b64encode(wire).rstrip(b"=").decode()


def client(**kw):
    return httpx.Client(http2=True, verify=False, timeout=kw.pop("timeout", 5.0), **kw)


def h2_connect(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=3))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    return s, conn


def raw_post_status(port, path, size, announce):
    """POST size bytes as fast as flow control lets us; the :status that comes back, as soon as
    it comes (before the whole body when the server answers early)."""
    s, conn = h2_connect(port)
    try:
        hdrs = [(":method", "POST"), (":path", path), (":scheme", "https"),
                (":authority", "127.0.0.1"), ("content-type", CT)]
        if announce:
            hdrs.append(("content-length", str(size)))
        conn.send_headers(1, hdrs)
        sent, body = 0, b"\0" * size
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if sent < size:
                n = min(conn.local_flow_control_window(1), conn.max_outbound_frame_size,
                        size - sent)
                if n > 0:
                    conn.send_data(1, body[sent:sent + n], end_stream=sent + n == size)
                    sent += n
            s.sendall(conn.data_to_send())
            s.settimeout(0.2)
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return None
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == 1:
                    return int(dict(ev.headers)[b":status"])
        return None
    finally:
        s.close()


@unittest.skipUnless(httpx is not None, "python3-httpx / python3-h2 not installed")
class DoH(h.JDTestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binary()

    def doh_daemon(self, server=None, stats=None, upstreams=(), **kw):
        d = self.tls_daemon("https_listen", server, upstreams=upstreams, stats=stats, **kw)
        d.https_port = d.tls_port
        d.url = "https://127.0.0.1:%d" % d.tls_port
        return d

    def test_get_and_post_answer_as_udp_with_cache_control(self):
        up = self.fake(ttl=300, neg_ttl=120)
        d = self.doh_daemon(upstreams=[up])
        q = dns.message.make_query("a.example.", "A")
        q.id = 0  # RFC 8484 4.1: 0 for GET, so that HTTP caches can share
        udp = h.udp(q, d.port)
        with client() as c:
            g = c.get(d.url + "/dns-query", params={"dns": b64(q.to_wire())})
            self.assertEqual(g.status_code, 200, g.text)
            self.assertEqual(g.http_version, "HTTP/2")
            self.assertEqual(g.headers["content-type"], CT)
            self.assertEqual(int(g.headers["content-length"]), len(g.content))
            gm = dns.message.from_wire(g.content)
            self.assertResponseTo(gm, q)
            self.assertEqual(h.rrset_addresses(gm), h.rrset_addresses(udp))
            self.assertEqual(h.rrset_addresses(gm), ["192.0.2.99"])
            age = int(g.headers["cache-control"].split("=")[1])
            self.assertEqual(g.headers["cache-control"], "max-age=%d" % age)
            self.assertTrue(290 <= age <= 300, age)
            self.assertEqual(age, gm.answer[0].ttl)
            p = c.post(d.url + "/dns-query", content=q.to_wire(), headers={"content-type": CT})
            self.assertEqual(p.status_code, 200, p.text)
            pm = dns.message.from_wire(p.content)
            self.assertResponseTo(pm, q)
            self.assertEqual(h.rrset_addresses(pm), h.rrset_addresses(udp))
            # a negative answer: the SOA's TTL and MINIMUM (RFC 2308), here both 120
            nq = dns.message.make_query("n.example.", "TXT")
            n = c.post(d.url + "/dns-query", content=nq.to_wire(), headers={"content-type": CT})
            nm = dns.message.from_wire(n.content)
            self.assertEqual(len(nm.answer), 0)
            nage = int(n.headers["cache-control"].split("=")[1])
            self.assertTrue(110 <= nage <= 120, n.headers)
            # the query string may carry more than dns=
            g2 = c.get(d.url + "/dns-query?ct=x&dns=" + b64(q.to_wire()))
            self.assertEqual(g2.status_code, 200)
            # EDNS padding asked: the answer is padded (RFC 8467, as over DoT)
            pq = dns.message.make_query("pad.example.", "A", use_edns=0,
                                        options=[dns.edns.GenericOption(12, b"")])
            pa = c.post(d.url + "/dns-query", content=pq.to_wire(), headers={"content-type": CT})
            self.assertEqual(len(pa.content) % 468, 0, len(pa.content))

    def test_error_statuses_and_formerr_in_200(self):
        up = self.fake()
        d = self.doh_daemon(upstreams=[up], server={"https_path": "/q"})
        wire = dns.message.make_query("e.example.", "A").to_wire()
        with client() as c:
            def get(path):
                return c.get(d.url + path).status_code
            self.assertEqual(get("/q?dns=" + b64(wire)), 200)
            self.assertEqual(get("/dns-query?dns=" + b64(wire)), 404)  # not the configured path
            self.assertEqual(get("/q/x?dns=" + b64(wire)), 404)
            self.assertEqual(get("/q?dns=***"), 400)                   # not base64url
            self.assertEqual(get("/q?dns=" + b64(wire) + "=="), 400)   # padded
            self.assertEqual(get("/q?other=1"), 400)                   # no dns parameter
            self.assertEqual(get("/q"), 400)
            self.assertEqual(get("/q?dns="), 400)                      # empty
            r = c.put(d.url + "/q", content=wire, headers={"content-type": CT})
            self.assertEqual(r.status_code, 405)
            self.assertEqual(r.headers["allow"], "GET, POST")
            self.assertEqual(c.delete(d.url + "/q").status_code, 405)
            r = c.post(d.url + "/q", content=wire, headers={"content-type": "text/plain"})
            self.assertEqual(r.status_code, 415)
            self.assertEqual(c.post(d.url + "/q", content=wire).status_code, 415)  # none
            r = c.post(d.url + "/q", content=b"", headers={"content-type": CT})
            self.assertEqual(r.status_code, 400)
            # 413: announced by content-length, or found while the DATA arrives; both answered
            # before the whole body (then the stream is reset), so with a raw HTTP/2 client
            self.assertEqual(raw_post_status(d.https_port, "/q", 70000, announce=True), 413)
            self.assertEqual(raw_post_status(d.https_port, "/q", 70000, announce=False), 413)
            self.assertEqual(raw_post_status(d.https_port, "/q", 65535, announce=False), 200)
            # a malformed DNS message: FORMERR inside a 200, as over UDP
            bad = struct.pack("!HHHHHH", 0x1234, 0x0100, 0, 0, 0, 0)
            r = c.post(d.url + "/q", content=bad, headers={"content-type": CT})
            self.assertEqual(r.status_code, 200)
            m = dns.message.from_wire(r.content)
            self.assertEqual(m.rcode(), dns.rcode.FORMERR)
            self.assertEqual(m.id, 0x1234)
            # the connection survived all of it
            self.assertEqual(get("/q?dns=" + b64(wire)), 200)
        self.assertTrue(d.alive())

    @unittest.skipUnless(KDIG, "kdig (knot-dnsutils) not installed")
    def test_kdig_https_and_query_log_and_ddr(self):
        up = self.fake()
        tmp = h.TempDir("jd-dohlog-")
        self.addCleanup(tmp.cleanup)
        qlog = tmp.file("q.jsonl")
        d = self.doh_daemon(upstreams=[up], server={"ddr_name": "dns.home.example"},
                            log={"query_log": qlog, "query_log_mode": "all"})
        r = subprocess.run([KDIG, "@127.0.0.1", "-p", str(d.https_port), "+https", "+time=3",
                            "+retry=0", "k.example.", "A"], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("192.0.2.99", r.stdout)
        self.assertIn("HTTP/2-POST", r.stdout)
        self.assertIn("status: 200", r.stdout)
        r = subprocess.run([KDIG, "@127.0.0.1", "-p", str(d.https_port), "+https-get",
                            "+time=3", "+retry=0", "kg.example.", "A"], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("192.0.2.99", r.stdout)
        self.assertIn("HTTP/2-GET", r.stdout)
        # DDR over DoH itself: alpn h2, the port and the dohpath template
        q = dns.message.make_query("_dns.resolver.arpa.", "SVCB")
        with client() as c:
            a = c.post(d.url + "/dns-query", content=q.to_wire(), headers={"content-type": CT})
        m = dns.message.from_wire(a.content)
        self.assertEqual(len(m.answer), 1, m)
        text = list(m.answer[0])[0].to_text()
        self.assertIn('alpn="h2"', text)
        self.assertRegex(text, r'port="?%d"?' % d.https_port)
        self.assertRegex(text, r'(dohpath|key7)="/dns-query\{\?dns\}"')  # key7: dohpath
        self.assertEqual(up.count(qname="_dns.resolver.arpa."), 0)
        h.query("u.example.", "A", port=d.port)
        h.wait_log_lines(qlog, qname="u.example")   # the last one: the lines before it are in
        lines = h.wait_jsonl(qlog, 4)
        by = {l["qname"]: l["transport"] for l in lines}
        self.assertEqual(by["k.example"], "doh")
        self.assertEqual(by["kg.example"], "doh")
        self.assertEqual(by["_dns.resolver.arpa"], "doh")
        self.assertEqual(by["u.example"], "udp")
        self.assertEqual({l["client"] for l in lines if l["transport"] == "doh"}, {"127.0.0.1"})

    def test_fifty_concurrent_streams_answered_out_of_order(self):
        up = self.fake()
        up.set_mode("slow.example.", "delay:400")
        d = self.doh_daemon(upstreams=[up])
        names = ["slow.example."] + ["c%d.example." % i for i in range(49)]
        done = []

        async def run():
            async with httpx.AsyncClient(http2=True, verify=False, timeout=10.0) as c:
                await c.get(d.url + "/dns-query", params={"dns": b64(
                    dns.message.make_query("warm.example.", "A").to_wire())})

                async def one(n):
                    q = dns.message.make_query(n, "A")
                    r = await c.post(d.url + "/dns-query", content=q.to_wire(),
                                     headers={"content-type": CT})
                    done.append(n)
                    return r
                return await asyncio.gather(*(one(n) for n in names))

        rs = asyncio.run(asyncio.wait_for(run(), 20))
        self.assertEqual([r.status_code for r in rs], [200] * 50)
        self.assertEqual({r.http_version for r in rs}, {"HTTP/2"})
        for n, r in zip(names, rs):
            m = dns.message.from_wire(r.content)
            self.assertEqual(m.question[0].name.to_text(), n)
            self.assertEqual(h.rrset_addresses(m), ["192.0.2.99"])
        self.assertEqual(done[-1], "slow.example.")  # answered last: not in order
        self.assertTrue(d.alive())

    def test_client_gone_mid_query(self):
        up = self.fake()
        up.set_mode("gone.example.", "delay:500")
        up.set_mode("reset.example.", "delay:500")
        d = self.doh_daemon(upstreams=[up])
        # a stream reset by hand, then the whole connection closed, both with the query upstream
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.https_port), timeout=3))
        self.assertEqual(s.selected_alpn_protocol(), "h2")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        for sid, n in ((1, "reset.example."), (3, "gone.example.")):
            path = "/dns-query?dns=" + b64(dns.message.make_query(n, "A").to_wire())
            conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "https"),
                                    (":authority", "127.0.0.1")], end_stream=True)
        s.sendall(conn.data_to_send())
        h.wait_for(lambda: up.count(qname="gone.example.") and up.count(qname="reset.example."),
                   3, what="the queries upstream")
        conn.reset_stream(1)
        s.sendall(conn.data_to_send())
        s.close()
        time.sleep(0.7)  # the upstream answers arrive for nobody
        self.assertTrue(d.alive(), d.read_log())
        with client() as c:
            r = c.get(d.url + "/dns-query", params={"dns": b64(
                dns.message.make_query("gone.example.", "A").to_wire())})
        self.assertEqual(r.status_code, 200)
        self.assertEqual(h.rrset_addresses(dns.message.from_wire(r.content)), ["192.0.2.99"])
        self.assertEqual(up.count(qname="gone.example."), 1)  # cached although nobody was there
        # an ALPN without h2 is refused on this listener
        ctx2 = ssl.create_default_context()
        ctx2.check_hostname = False
        ctx2.verify_mode = ssl.CERT_NONE
        ctx2.set_alpn_protocols(["http/1.1"])
        with self.assertRaises((ssl.SSLError, OSError)):
            ctx2.wrap_socket(socket.create_connection(("127.0.0.1", d.https_port), timeout=3))

    def test_doh_counter_in_metrics(self):
        up = self.fake()
        mport = h.free_port()
        d = self.doh_daemon(upstreams=[up], stats={"metrics_listen": "127.0.0.1:%d" % mport,
                                                   "interval": 100})
        with client() as c:
            for i in range(3):
                c.get(d.url + "/dns-query", params={"dns": b64(
                    dns.message.make_query("m%d.example." % i, "A").to_wire())})

        def count():
            body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=2).read()
            for line in body.decode().splitlines():
                if line.startswith("jurisdns_client_queries_total") and 'transport="doh"' in line:
                    return int(float(line.split()[-1]))
            return None
        h.wait_for(lambda: count() == 3, 5, what="3 DoH queries in /metrics")


if __name__ == "__main__":
    h.main()
