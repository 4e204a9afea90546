#!/usr/bin/python3
"""jurisdns-ctl and the configuration file's clients (issue 14, item 7): the [client X] sections
of -c CONFIG are shown by `client list`, `client show`, `stats`, `top` and `report --html`,
marked with their source ("file", "redis" or "file+redis"), and any CLIENT argument may be a
name (of a file client, a Redis client or a DHCP lease) instead of an address.

Keys (docs/redis-schema.md): B = "jurisdns:{policy}:" (clients, client:ID, leases, lease:IP),
S = "jurisdns:{stats}:". One redis-server per class (unix socket, stopped by PID); the daemon
tests forward to one knotd serving tests/zones/policy.zone with the test GeoIP database and the
tests' PRC group (cn.policy.test is "PRC hosted:CN", de.policy.test has no label).

Needs /usr/bin/redis-server (or $REDIS_SERVER), python3-redis, knotd, and src/jurisdns-ctl."""

import json
import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

try:
    import redis
except ImportError:  # reported by setUpModule
    redis = None

CTL = h.ctl_bin()
B = "jurisdns:{policy}:"
S = "jurisdns:{stats}:"
CAM = "127.0.0.3"

GROUPS = h.PRC_GROUPS
ZONES = h.POLICY_ZONES
KNOT = None

# README's first example: a device named in the file
FILE_CLIENTS = [(CAM, {"name": "kitchen-camera", "mode": "block", "block": "PRC"}),
                ("10.9.0.0/16", {"name": "Tablet"})]


def setUpModule():
    global KNOT
    h.require_redis()
    h.require_ctl()
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


write = h.write_file


class CtlCase(h.RedisTestCase, h.JDTestCase):
    redis_tmp_prefix = "jd-ctlconf-redis-"

    def setUp(self):
        super().setUp()
        self.tmp = h.TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.groups = write(self.tmp.file("groups.conf"), GROUPS)
        # the ctl's own config: [labels], [redis] and the clients (never /etc/jurisdns)
        self.conf = write(self.tmp.file("ctl.conf"), h.Jurisdns.render(
            [("labels", {"groups": self.groups}), ("redis", {"address": self.redis.address})]
            + [("client %s" % a, kv) for a, kv in FILE_CLIENTS]))

    def ctl(self, *args, conf=None):
        return subprocess.run([CTL, "-c", conf or self.conf] + list(args), capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=10)

    def ok(self, *args, **kw):
        p = self.ctl(*args, **kw)
        self.assertEqual(p.returncode, 0, "jurisdns-ctl %s:\n%s%s" % (" ".join(args), p.stdout,
                                                                      p.stderr))
        return p

    def json(self, *args, **kw):
        return json.loads(self.ok(*(args + ("--json",)), **kw).stdout)

    def fails(self, *args, **kw):
        """Exit 1, nothing on stdout, one line on stderr; returns that line."""
        p = self.ctl(*args, **kw)
        self.assertEqual(p.returncode, 1, "jurisdns-ctl %s: exit %d\n%s%s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        self.assertEqual(p.stdout, "")
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("jurisdns-ctl: "), lines[0])
        return lines[0]

    def lease(self, ip, hostname):
        self.r.sadd(B + "leases", ip)
        self.r.hset(B + "lease:" + ip, mapping={"hostname": hostname, "mac": "02:00:00:00:00:01",
                                                "expires": "0", "source": "dnsmasq"})


class FileClients(CtlCase):
    """The ctl alone, against Redis and the config file."""

    def test_show_file_client_marked_as_file(self):
        got = self.json("client", "show", CAM)
        self.assertEqual(got, {"id": CAM, "name": "kitchen-camera", "mode": "block",
                               "block": "PRC", "source": "file", "effective_mode": "block"})
        p = self.ok("client", "show", CAM)
        self.assertIn("source: file", p.stdout)
        self.assertIn("kitchen-camera", p.stdout)

    def test_show_by_name_any_case(self):
        for name in ("kitchen-camera", "Kitchen-CAMERA"):
            self.assertEqual(self.json("client", "show", name)["id"], CAM)
        # a Redis client's name and a DHCP lease's host name work too
        self.ok("client", "set", "127.0.0.9", "--name", "hall-sensor", "--mode", "log")
        self.assertEqual(self.json("client", "show", "hall-sensor"),
                         {"id": "127.0.0.9", "name": "hall-sensor", "mode": "log",
                          "source": "redis", "effective_mode": "log"})
        self.lease("10.1.1.5", "kids-phone")
        self.ok("client", "set", "kids-phone", "--mode", "block")
        self.assertEqual(self.r.hgetall(B + "client:10.1.1.5"), {"mode": "block"})

    def test_list_has_file_and_redis_clients(self):
        self.ok("client", "set", "127.0.0.9", "--mode", "log")
        got = {o["id"]: o for o in self.json("client", "list")}
        self.assertEqual({i: o["source"] for i, o in got.items()},
                         {CAM: "file", "10.9.0.0/16": "file", "127.0.0.9": "redis"})
        self.assertEqual(got["10.9.0.0/16"]["effective_mode"], "log")  # the built-in default
        text = self.ok("client", "list").stdout.splitlines()
        self.assertIn("SOURCE", text[0])
        row = [l for l in text if l.startswith(CAM)]
        self.assertEqual(len(row), 1, text)
        self.assertEqual(row[0].split()[1:2] + row[0].split()[-2:], ["block", "file",
                                                                     "kitchen-camera"])

    def test_set_and_del_on_a_file_client(self):
        p = self.ok("client", "set", "kitchen-camera", "--mode", "log")
        self.assertIn("note:", p.stderr)
        self.assertIn("also defined in", p.stderr)
        self.assertEqual(self.r.smembers(B + "clients"), {CAM})
        self.assertEqual(self.r.hgetall(B + "client:" + CAM), {"mode": "log"})
        got = self.json("client", "show", CAM)
        self.assertEqual((got["source"], got["mode"], got["effective_mode"]),
                         ("file+redis", "log", "log"), got)
        self.assertEqual(got["file"], {"name": "kitchen-camera", "mode": "block", "block": "PRC"})
        # del removes the Redis override; the file's rule is back
        p = self.ok("client", "del", CAM)
        self.assertIn("applies again", p.stderr)
        self.assertEqual(self.r.smembers(B + "clients"), set())
        self.assertEqual(self.json("client", "show", CAM)["source"], "file")
        # a client only in the file cannot be deleted
        msg = self.fails("client", "del", CAM)
        self.assertIn("only in", msg)
        self.assertIn(self.conf, msg)
        self.assertEqual(self.r.keys("*"), [B + "version"])

    def test_ambiguous_name_lists_candidates(self):
        self.lease("10.1.1.5", "tablet")
        for name, args in (("tablet", ("client", "show", "tablet")), ("TABLET", ("top", "TABLET")),
                           ("tablet", ("stats", "tablet")),
                           ("tablet", ("client", "set", "tablet", "--mode", "log"))):
            msg = self.fails(*args)
            self.assertIn("name '%s' is ambiguous: 10.1.1.5 (lease), 10.9.0.0/16 (file)" % name, msg)
        self.assertFalse(self.r.exists(B + "clients"))

    def test_unknown_name_not_found(self):
        for args in (("client", "show", "no-such-device"), ("top", "no-such-device"),
                     ("stats", "no-such-device"), ("client", "del", "no-such-device")):
            msg = self.fails(*args)
            self.assertIn("'no-such-device' not found", msg)
        # a bad address stays an address error
        msg = self.fails("client", "show", "10.1.1.1/8")
        self.assertIn("10.1.1.1/8", msg)
        self.assertNotIn("name", msg)

    def test_an_address_is_never_a_name(self):
        # a Redis client named like the file client's address
        self.ok("client", "set", "127.0.0.9", "--name", CAM)
        self.assertEqual(self.json("client", "show", CAM)["id"], CAM)

    def test_bad_config_is_one_line(self):
        bad = write(self.tmp.file("bad.conf"), "[client 127.0.0.3]\nmdoe = block\n")
        msg = self.fails("client", "list", conf=bad)
        self.assertIn("bad.conf:2", msg)


class WithDaemon(CtlCase):
    """The names the daemon's statistics are shown with, from the daemon's own config."""

    def test_stats_top_report_show_file_names(self):
        jd = self.daemon([KNOT], test_geoip=True, labels={"groups": self.groups},
                         policy={"default_mode": "log"}, clients=FILE_CLIENTS,
                         redis={"address": self.redis.address, "snapshot": "", "refresh": 0,
                                "timeout": 1000},
                         stats={"instance": "t1", "interval": 60000, "retention_days": 2})
        for name in ("cn.policy.test", "cn.policy.test", "de.policy.test"):
            h.udp(h.make_query(name, "A"), jd.port, source=CAM, timeout=2.0)
        jd.stop()                                     # the last flush writes the counts
        self.assertIn(CAM, self.r.smembers(S + "clients"), jd.read_log())
        # all clients: the name from the file, marked
        got = {c["id"]: c for c in self.json("stats", conf=jd.conf)["clients"]}
        self.assertEqual((got[CAM]["name"], got[CAM]["source"]), ("kitchen-camera", "file"))
        rows = [l for l in self.ok("stats", conf=jd.conf).stdout.splitlines()
                if l.startswith(CAM + " ")]
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0].split()[1:3], ["kitchen-camera", "file"])
        # one client, by name
        one = self.json("stats", "kitchen-camera", conf=jd.conf)
        self.assertEqual((one["id"], one["name"], one["counters"]["queries"]),
                         (CAM, "kitchen-camera", 3))
        # top by name: what the daemon wrote
        top = self.json("top", "kitchen-camera", conf=jd.conf)
        want = self.r.zrevrange(S + "top:%s:PRC" % CAM, 0, -1, withscores=True)
        self.assertTrue(want)
        self.assertEqual([(d["domain"], d["count"]) for d in top["PRC"]],
                         [(d, int(c)) for d, c in want])
        # the HTML report names the device
        html = self.tmp.file("report.html")
        self.ok("report", "--html", html, conf=jd.conf)
        with open(html) as f:
            page = f.read()
        self.assertIn('data-client="%s" data-field="name">kitchen-camera</td>' % CAM, page)


if __name__ == "__main__":
    h.main()
