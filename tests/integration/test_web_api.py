#!/usr/bin/python3
"""The console's JSON API (docs/web-api.md, src/web_api.c) against a real daemon with [web]
listen, a redis-server on a unix socket (harness RedisServer) and knotd serving
tests/zones/policy.zone and tuyaeu.zone with the test GeoIP database and a groups file of the
test's own (as tests/integration/test_stats.py):

  cn.policy.test      PRC hosted:CN
  ali-de.policy.test  PRC operator:AS45102
  a1.tuyaeu.com       PRC domain
  de.policy.test      no label

Devices differ by source address on loopback (127.0.0.x); the API names the TCP peer's address.
Checks: GET /api/me equals the Redis hashes (and jurisdns-ctl stats), the CSRF rule, PUT /api/me
written through the one policy path (version bump, publish: the next DNS query is sinkholed),
no way to change another device without the admin, login errors and the rate limit, the admin's
device list, a locked device, the page without Redis, and 10 SSE clients plus a slow-loris
client with DNS unaffected.

Needs /usr/bin/redis-server, python3-redis and python3-httpx."""

import json
import os
import socket
import subprocess
import sys
import time
import unittest
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

try:
    import httpx
except ImportError:  # reported by setUpModule
    httpx = None
try:
    import redis
except ImportError:
    redis = None

KNOT = None
ZONES = h.POLICY_ZONES
GROUPS = ("[jurisdiction PRC]\ncountries = CN HK MO\nasns = 45102\ndomains = tuyaeu.com\n"
          "[jurisdiction EU]\ncountries = DE FR\n")
P = "jurisdns:"
PP = P + "{policy}:"
S = P + "{stats}:"
CN, ALI, TUYA, DE = "cn.policy.test", "ali-de.policy.test", "a1.tuyaeu.com", "de.policy.test"
PASSWORD = "correct horse battery"


def setUpModule():
    global KNOT
    if httpx is None:
        raise RuntimeError("python3-httpx is needed")
    h.require_redis()
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


write = h.write_file


def password_hash(pw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # Python 3.11: libcrypt's crypt(3), which web_auth verifies with
        return crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))


class WebCase(h.RedisTestCase, h.JDTestCase):
    redis_tmp_prefix = "jd-webapi-redis-"

    def make_jd(self, redis_address=None, clients=None):
        tmp = h.TempDir("jd-webapi-")
        self.addCleanup(tmp.cleanup)
        pwfile = write(tmp.file("web.passwd"), password_hash(PASSWORD) + "\n")
        self.web_port = h.free_port()
        jd = self.daemon([KNOT], tmp=tmp, groups=GROUPS, test_geoip=True, query_log="",
                         policy={"default_mode": "log", "block": "PRC"},
                         clients=clients or [],
                         redis={"address": redis_address or self.redis.address,
                                "snapshot": "", "refresh": 0, "timeout": 1000},
                         stats={"instance": "w1", "interval": 200},
                         web={"listen": "127.0.0.1:%d" % self.web_port, "password_file": pwfile})
        self.base = "http://127.0.0.1:%d" % self.web_port
        h.wait_for(lambda: h.port_open(self.web_port), 5.0, interval=0.05,
                   what="the console on %s; log:\n%s" % (self.base, jd.read_log()))
        return jd

    def http(self, source="127.0.0.1"):
        c = httpx.Client(base_url=self.base, timeout=5.0,
                         transport=httpx.HTTPTransport(local_address=source))
        self.addCleanup(c.close)
        return c

    def ask(self, jd, name, source):
        return h.udp(h.make_query(name, "A"), jd.port, source=source, timeout=2.0)

    @staticmethod
    def sinkholed(r):
        return sorted(rd.to_text() for rrset in r.answer for rd in rrset) == ["0.0.0.0"]

    def put_me(self, c, body, token):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-CSRF-Token"] = token
        return c.put("/api/me", content=json.dumps(body), headers=headers)

    def login(self, source):
        c = self.http(source)
        r = c.post("/api/login", json={"password": PASSWORD})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIn("HttpOnly", r.headers.get("set-cookie", ""))
        return c, r.json()["csrf"]


class TestMe(WebCase):

    def test_counts_equal_redis(self):
        jd = self.make_jd()
        for name in (CN, ALI, TUYA, DE, CN):
            self.ask(jd, name, "127.0.0.5")
        key = S + "client:127.0.0.5"
        h.wait_for(lambda: int(self.r.hget(key, "queries") or 0) >= 5, 5.0, interval=0.05,
                   what="the stats flush of 127.0.0.5")
        me = self.http("127.0.0.5").get("/api/me")
        self.assertEqual(me.status_code, 200, me.text)
        self.assertEqual(me.headers.get("cache-control"), "no-store")
        d = me.json()
        self.assertEqual(d["id"], "127.0.0.5")
        self.assertTrue(d["redis"])
        self.assertEqual(d["mode"], "log")
        self.assertEqual(d["block"], ["PRC"])
        self.assertEqual(sorted(d["groups"]), ["EU", "PRC"])
        allh = self.r.hgetall(key)
        a = d["counts"]["all"]
        self.assertEqual(a["queries"], int(allh["queries"]))
        self.assertEqual(a["queries"], 5)
        prc = a["groups"]["PRC"]
        self.assertEqual(prc["total"], int(allh["g:PRC"]))
        for k in ("hosted", "operator", "domain"):
            self.assertEqual(prc[k], int(allh.get("g:PRC:" + k, 0)), k)
        hour = self.r.hgetall(key + ":" + time.strftime("%Y%m%d%H", time.gmtime()))
        self.assertEqual(d["counts"]["today"]["queries"], int(hour["queries"]))
        self.assertEqual(d["counts"]["week"]["queries"], int(hour["queries"]))
        top = {e["domain"]: e["count"] for e in d["top"]["PRC"]}
        self.assertEqual(top.get(CN), 2)
        # the same numbers as jurisdns-ctl stats
        out = subprocess.run([h.ctl_bin(), "-r", self.redis.address, "--json", "stats", "127.0.0.5"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["counters"]["queries"], a["queries"])

    def test_put_me_csrf_then_block(self):
        jd = self.make_jd()
        self.assertFalse(self.sinkholed(self.ask(jd, CN, "127.0.0.6")))
        c = self.http("127.0.0.6")
        token = c.get("/api/me").json()["csrf"]
        v0 = int(self.r.get(PP + "version") or 0)
        self.assertEqual(self.put_me(c, {"mode": "block"}, None).status_code, 403)
        self.assertEqual(self.put_me(c, {"mode": "block"}, "00" * 32).status_code, 403)
        other = self.http("127.0.0.7").get("/api/me").json()["csrf"]
        self.assertEqual(self.put_me(c, {"mode": "block"}, other).status_code, 403)
        self.assertIsNone(self.r.hget(PP + "client:127.0.0.6", "mode"))
        r = self.put_me(c, {"mode": "block", "block": ["Mars"]}, token)
        self.assertEqual(r.status_code, 400, r.text)
        r = self.put_me(c, {"mode": "block", "block": ["PRC"]}, token)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["mode"], "block")
        self.assertEqual(self.r.hget(PP + "client:127.0.0.6", "mode"), "block")
        self.assertEqual(self.r.hget(PP + "client:127.0.0.6", "block"), "PRC")
        self.assertTrue(self.r.sismember(PP + "clients", "127.0.0.6"))
        self.assertEqual(int(self.r.get(PP + "version")), v0 + 1)
        # the publish makes the daemon apply it within a second (a new name each time: no cache)
        deadline = time.monotonic() + 1.0
        while True:
            if self.sinkholed(self.ask(jd, "p%d.cn.policy.test" % int(time.monotonic() * 1000), "127.0.0.6")):
                break
            self.assertLess(time.monotonic(), deadline, "not sinkholed 1 s after PUT /api/me")
            time.sleep(0.05)
        # another device is unchanged
        self.assertFalse(self.sinkholed(self.ask(jd, CN, "127.0.0.7")))
        self.assertIsNone(self.r.hget(PP + "client:127.0.0.7", "mode"))

    def test_no_change_of_another_device(self):
        self.make_jd()
        c = self.http("127.0.0.8")
        token = c.get("/api/me").json()["csrf"]
        for method in ("GET", "PUT"):
            r = c.request(method, "/api/devices/127.0.0.9", content=json.dumps({"mode": "off"}),
                          headers={"Content-Type": "application/json", "X-CSRF-Token": token})
            self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(c.get("/api/devices").status_code, 401)
        self.assertFalse(self.r.exists(PP + "client:127.0.0.9"))
        # a device cannot lock, unlock or rename itself either
        self.assertEqual(self.put_me(c, {"locked": False}, token).status_code, 400)
        self.assertEqual(self.put_me(c, {"mode": "off", "id": "127.0.0.9"}, token).status_code, 400)

    def test_locked_device(self):
        jd = self.make_jd()
        out = subprocess.run([h.ctl_bin(), "-r", self.redis.address, "client", "set", "127.0.0.10",
                              "--mode", "block", "--block", "PRC", "--lock"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.r.hget(PP + "client:127.0.0.10", "locked"), "jurisdns-ctl")
        c = self.http("127.0.0.10")
        d = c.get("/api/me").json()
        self.assertTrue(d["locked"])
        self.assertEqual(d["locked_by"], "jurisdns-ctl")
        r = self.put_me(c, {"mode": "off"}, d["csrf"])
        self.assertEqual(r.status_code, 403, r.text)
        self.assertIn("locked", r.json()["error"])
        self.assertEqual(self.r.hget(PP + "client:127.0.0.10", "mode"), "block")
        # the daemon accepts the field: the locked client keeps its rule (block)
        deadline = time.monotonic() + 1.5
        while not self.sinkholed(self.ask(jd, "l%d.cn.policy.test" % int(time.monotonic() * 1000), "127.0.0.10")):
            self.assertLess(time.monotonic(), deadline, "a locked client lost its rule; log:\n" + jd.read_log())
            time.sleep(0.05)
        self.assertNotIn("skipped", jd.read_log())
        out = subprocess.run([h.ctl_bin(), "-r", self.redis.address, "client", "set", "127.0.0.10", "--unlock"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.put_me(c, {"mode": "off"}, d["csrf"]).status_code, 200)

    def test_top_domains_say_why(self):
        """Each top domain of /api/me and /api/devices/{id} has why it was labelled, from
        S why:ID:GROUP: the AS with its name for an operator label."""
        jd = self.make_jd()
        for name in (ALI, ALI, TUYA, CN):
            self.ask(jd, name, "127.0.0.11")
        h.wait_for(lambda: int(self.r.hget(S + "client:127.0.0.11", "queries") or 0) >= 4, 5.0,
                   interval=0.05, what="the stats flush of 127.0.0.11")
        want = {"PRC": {ALI: "operator:AS45102 Alibaba US Technology Co., Ltd.",
                        TUYA: "domain:tuyaeu.com", CN: "hosted:CN"},
                "EU": {ALI: "hosted:DE", TUYA: "hosted:DE"}}
        self.assertEqual(self.r.hgetall(S + "why:127.0.0.11:PRC"), want["PRC"])
        d = self.http("127.0.0.11").get("/api/me").json()
        got = {g: {e["domain"]: e["why"] for e in l} for g, l in d["top"].items()}
        self.assertEqual(got, want)
        self.assertEqual(d["top"]["PRC"][0], {"domain": ALI, "count": 2, "reason": "operator",
                                              "why": want["PRC"][ALI]})
        c, _ = self.login("127.0.0.12")
        dev = c.get("/api/devices/127.0.0.11").json()
        self.assertEqual(dev["top"], d["top"])


class TestAdmin(WebCase):

    def test_login_errors_and_rate_limit(self):
        self.make_jd()
        c = self.http("127.0.0.20")
        r = c.post("/api/login", json={"password": "wrong"})
        self.assertEqual(r.status_code, 401, r.text)
        self.assertNotIn("set-cookie", r.headers)
        # 5 wrong passwords in the window are answered; the 6th try is rate-limited
        codes = [c.post("/api/login", json={"password": "wrong"}).status_code for _ in range(5)]
        self.assertEqual(codes, [401, 401, 401, 401, 429])
        r = c.post("/api/login", json={"password": PASSWORD})
        self.assertEqual(r.status_code, 429)
        self.assertTrue(r.headers.get("retry-after"))
        # another source is not limited
        self.login("127.0.0.21")

    def test_devices_list(self):
        jd = self.make_jd(clients=[("127.0.0.33", {"mode": "off", "name": "Fridge"})])
        self.ask(jd, CN, "127.0.0.31")
        self.ask(jd, DE, "127.0.0.32")
        h.wait_for(lambda: self.r.scard(S + "clients") >= 2, 5.0, interval=0.05, what="stats")
        c, token = self.login("127.0.0.30")
        r = c.get("/api/devices")
        self.assertEqual(r.status_code, 200, r.text)
        devs = {d["id"]: d for d in r.json()["devices"]}
        self.assertIn("127.0.0.31", devs)
        self.assertIn("127.0.0.32", devs)
        self.assertEqual(devs["127.0.0.31"]["queries"], int(self.r.hget(S + "client:127.0.0.31", "queries")))
        self.assertEqual(devs["127.0.0.31"]["groups"].get("PRC"), 1)
        self.assertEqual(devs["127.0.0.33"]["name"], "Fridge")
        self.assertEqual(devs["127.0.0.33"]["mode"], "off")
        d = c.get("/api/devices/127.0.0.31").json()
        self.assertEqual(len(d["hourly"]), 168)
        self.assertEqual(d["hourly"][-1]["queries"], 1)
        # the admin changes another device and locks it
        r = c.put("/api/devices/127.0.0.32", json={"mode": "block", "locked": True},
                  headers={"X-CSRF-Token": token})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.r.hget(PP + "client:127.0.0.32", "locked"), "admin")
        r = c.post("/api/logout", headers={"X-CSRF-Token": token})
        self.assertEqual(r.status_code, 200)
        self.assertEqual(c.get("/api/devices").status_code, 401)


class TestWithoutRedis(WebCase):

    def test_me_and_put(self):
        tmp = h.TempDir("jd-webapi-none-")
        self.addCleanup(tmp.cleanup)
        self.make_jd(redis_address="unix:" + tmp.file("nothing.sock"),
                     clients=[("127.0.0.40", {"mode": "block", "name": "Cam"})])
        c = self.http("127.0.0.40")
        d = c.get("/api/me").json()
        self.assertFalse(d["redis"])
        self.assertEqual(d["mode"], "block")
        self.assertEqual(d["name"], "Cam")
        self.assertIsNone(d["counts"])
        r = self.put_me(c, {"mode": "off"}, d["csrf"])
        self.assertEqual(r.status_code, 503, r.text)
        self.assertFalse(r.json()["redis"])
        self.assertIn("Redis", r.json()["error"])


class TestEvents(WebCase):

    def sse(self, source, cookie):
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(3.0)
        s.connect(("127.0.0.1", self.web_port))
        self.addCleanup(s.close)
        s.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                   "Cookie: jd_session=%s\r\n\r\n" % cookie).encode())
        return s

    def read_until(self, s, needle, timeout=3.0):
        buf, deadline = b"", time.monotonic() + timeout
        while needle not in buf and time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        return buf

    def test_ten_sse_clients_and_a_slow_loris(self):
        jd = self.make_jd()
        c, _ = self.login("127.0.0.50")
        cookie = c.cookies.get("jd_session")
        self.assertTrue(cookie)
        streams = [self.sse("127.0.1.%d" % (i + 1), cookie) for i in range(10)]
        for s in streams:
            self.assertIn(b"200", self.read_until(s, b"\r\n\r\n").split(b"\r\n", 1)[0])
        # a slow-loris client: an unfinished request, one byte at a time
        loris = socket.create_connection(("127.0.0.1", self.web_port), timeout=3.0)
        self.addCleanup(loris.close)
        loris.sendall(b"GET /api/me HTTP/1.1\r\nHost: x\r\n")
        worst = 0.0
        for i in range(20):
            try:
                loris.send(b"X")
            except OSError:
                pass
            t = time.monotonic()
            r = self.ask(jd, "e%d.cn.policy.test" % i if i else CN, "127.0.0.51")
            worst = max(worst, time.monotonic() - t)
            self.assertTrue(r.answer)
            time.sleep(0.02)
        self.assertLess(worst, 0.5, "DNS slowed down by the web clients")
        for i, s in enumerate(streams):
            got = self.read_until(s, CN.encode())
            self.assertIn(CN.encode(), got, "SSE client %d: %r" % (i, got[-300:]))
            self.assertIn(b"data: ", got)

    def test_event_has_every_why(self):
        """An SSE event lists why for every label of the answer: ali-de.policy.test is hosted in
        DE (EU) by AS45102 (PRC operator)."""
        jd = self.make_jd()
        c, _ = self.login("127.0.0.52")
        s = self.sse("127.0.0.52", c.cookies.get("jd_session"))
        self.assertIn(b"200", self.read_until(s, b"\r\n\r\n").split(b"\r\n", 1)[0])
        self.ask(jd, ALI, "127.0.0.53")
        got = self.read_until(s, b"\n\n", timeout=0.1) + self.read_until(s, ALI.encode() + b'"')
        got += self.read_until(s, b"\n\n")
        ev = [json.loads(l[6:]) for l in got.decode().splitlines() if l.startswith("data: ")]
        ev = [e for e in ev if e.get("qname") == ALI]
        self.assertEqual(len(ev), 1, got)
        self.assertEqual(sorted(ev[0]["why"]), ["hosted:DE", "operator:AS45102 Alibaba US Technology Co., Ltd."])
        self.assertIn(ev[0]["reason"], ev[0]["why"])
        self.assertEqual(ev[0]["client"], "127.0.0.53")


if __name__ == "__main__":
    h.main()
