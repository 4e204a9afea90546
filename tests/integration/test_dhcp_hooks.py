#!/usr/bin/python3
"""The DHCP lease hooks in contrib/dhcp (jurisdns-dnsmasq-hook, jurisdns-kea-hook) against a real
redis-server.

Each test class starts its own redis-server (unix socket only, no persistence) in a temporary
directory and stops it by PID in tearDownClass; every test starts from an empty database. The
hooks are run as dnsmasq and Kea run them: dnsmasq with `add|old|del MAC IP [HOSTNAME]` and the
DNSMASQ_* environment, Kea (libdhcp_run_script.so) with the hook point as the only argument and
the lease in LEASE4_* / LEASES4_AT<i>_* variables and no other environment. When this runs as root
and /usr/sbin/dnsmasq exists, a real dnsmasq also runs the hook for the leases of its lease file.

What the hooks must write (contrib/dhcp/README.md): B = "jurisdns:{policy}:"; B lease:<IP> HASH
(mac or duid, hostname, expires, source) with EXPIREAT = expires + 300 (none for infinite leases),
B leases SET, PUBLISH "leases" on "jurisdns:policy:changed"; never B version.

Needs /usr/bin/redis-server and redis-cli (redis-server, redis-tools) and python3-redis."""

import glob
import ipaddress
import json
import os
import random
import shutil
import socket
import stat
import struct
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

try:
    import redis
except ImportError:  # reported by setUpModule: a suite that skips silently proves nothing
    redis = None

REDIS_SERVER = h.REDIS_SERVER
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
DNSMASQ = os.environ.get("DNSMASQ", "/usr/sbin/dnsmasq")
KEA_DHCP4 = os.environ.get("KEA_DHCP4", "/usr/sbin/kea-dhcp4")
KEA_RUN_SCRIPT = os.environ.get("KEA_RUN_SCRIPT") or next(iter(sorted(
    glob.glob("/usr/lib/*/kea/hooks/libdhcp_run_script.so") +
    glob.glob("/usr/lib/kea/hooks/libdhcp_run_script.so"))), "")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def contrib_dir():
    src = os.environ.get("abs_top_srcdir") or h.REPO
    return os.path.join(src, "contrib", "dhcp")


DNSMASQ_HOOK = os.path.join(contrib_dir(), "jurisdns-dnsmasq-hook")
KEA_HOOK = os.path.join(contrib_dir(), "jurisdns-kea-hook")

PREFIX = "jurisdns:"
B = PREFIX + "{policy}:"
CHANNEL = PREFIX + "policy:changed"
GRACE = 300

MAC = "aa:bb:cc:dd:ee:01"
DUID = "00:01:00:01:2c:3d:4e:5f:aa:bb:cc:dd:ee:01"


def setUpModule():
    if redis is None:
        raise RuntimeError("python3-redis is missing (apt-get install python3-redis)")
    for path, pkg in ((REDIS_SERVER, "redis-server"), (REDIS_CLI, "redis-tools")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise RuntimeError("%s not found (apt-get install %s)" % (path, pkg))
    for hook in (DNSMASQ_HOOK, KEA_HOOK):
        if not (os.path.isfile(hook) and os.access(hook, os.X_OK)):
            raise RuntimeError("%s missing or not executable" % hook)


def lease_key(ip, base=B):
    return base + "lease:" + ip


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


RedisServer = h.RedisServer


class Run:
    """The outcome of one hook run."""

    def __init__(self, proc, elapsed, logger_file):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.elapsed = elapsed
        try:
            with open(logger_file) as f:
                syslog = f.read()
        except OSError:
            syslog = ""
        # the hooks log to syslog when /dev/log is there (the logger stub records it), else to
        # stderr
        self.log = self.stderr + syslog

    def __repr__(self):
        return "<rc=%s %.2fs stdout=%r log=%r>" % (self.rc, self.elapsed, self.stdout, self.log)


STUB_LOGGER = """#!/bin/sh
printf '%s\\n' "$*" >> "{dir}/logger.log"
"""
# a command the hooks never run: if a hostile value reached a shell, this would record it
STUB_RM = """#!/bin/sh
printf '%s\\n' "$*" >> "{dir}/rm.log"
exit 1
"""
# records the argv of redis-cli (and whether REDISCLI_AUTH was set), then runs the real one
STUB_REDIS_CLI = """#!/bin/sh
printf '%s\\n' "$@" > "{dir}/redis-cli.argv"
if [ -n "${{REDISCLI_AUTH+x}}" ]; then echo set; else echo unset; fi > "{dir}/redis-cli.auth"
exec {real} "$@"
"""


class HookCase(unittest.TestCase):
    """One redis-server per class, flushed before every test; helpers to run the hooks."""

    redis_args = ()
    redis_password = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir("jd-dhcp-")
        try:
            cls.stubs = cls.tmp.file("stubs")
            os.makedirs(cls.stubs)
            write(os.path.join(cls.stubs, "logger"), STUB_LOGGER.format(dir=cls.tmp.path), 0o755)
            write(os.path.join(cls.stubs, "rm"), STUB_RM.format(dir=cls.tmp.path), 0o755)
            cls.cli_stubs = cls.tmp.file("cli-stubs")
            os.makedirs(cls.cli_stubs)
            write(os.path.join(cls.cli_stubs, "redis-cli"),
                  STUB_REDIS_CLI.format(dir=cls.tmp.path, real=REDIS_CLI), 0o755)
            cls.redis = RedisServer(cls.tmp, cls.redis_args, cls.redis_password)
            cls.redis.start()
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _teardown(cls):
        try:
            redis_server = getattr(cls, "redis", None)
            if redis_server is not None:
                redis_server.stop()
        finally:
            cls.tmp.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    def setUp(self):
        self.assertIsNotNone(self.redis.proc, "redis-server is not running")
        self.assertIsNone(self.redis.proc.poll(), "redis-server died:\n" + self.redis.read_log())
        self.r = self.redis.client()
        self.addCleanup(self.r.close)
        self.r.flushall()
        for name in ("logger.log", "rm.log", "marker", "redis-cli.argv", "redis-cli.auth"):
            try:
                os.unlink(self.tmp.file(name))
            except FileNotFoundError:
                pass

    def tearDown(self):
        # the daemon reads a missing version key as "Redis has no policy": never created
        if hasattr(self, "r"):
            self.assertEqual(self.r.keys("*version*"), [], "a hook created a version key")
        self.assertFalse(os.path.exists(self.tmp.file("rm.log")), "rm was run")

    # ---- running the hooks --------------------------------------------------------------------

    def base_env(self, redis_addr=None):
        return {
            "PATH": self.stubs + ":/usr/local/bin:/usr/bin:/bin",
            "JURISDNS_REDIS": redis_addr or "unix:" + self.redis.sock,
            # never the host's /etc/jurisdns/dhcp-hook.conf
            "JURISDNS_DHCP_HOOK_CONF": self.tmp.file("no-such.conf"),
        }

    def run_hook(self, hook, args, env=None, base=True, timeout=15.0):
        e = self.base_env() if base else {}
        if self.redis_password and base:
            e["JURISDNS_REDIS_PASSWORD"] = self.redis_password
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}
        t0 = time.monotonic()
        p = subprocess.run([hook] + list(args), env=e, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return Run(p, time.monotonic() - t0, self.tmp.file("logger.log"))

    def dnsmasq(self, *args, env=None, **kw):
        return self.run_hook(DNSMASQ_HOOK, args, env, **kw)

    def kea(self, hook_point, env=None, **kw):
        return self.run_hook(KEA_HOOK, [hook_point], env, **kw)

    def assertQuiet(self, run):
        """Exit 0, nothing on stdout (dnsmasq reads it for "init"), nothing logged."""
        self.assertEqual(run.rc, 0, run)
        self.assertEqual(run.stdout, b"", run)
        self.assertEqual(run.log, "", run)

    # ---- Redis ---------------------------------------------------------------------------------

    def subscribe(self, channel=CHANNEL):
        """A subscriber whose SUBSCRIBE the server has confirmed."""
        p = self.r.pubsub()
        self.addCleanup(p.close)
        p.subscribe(channel)
        deadline = time.monotonic() + 3.0
        for _ in range(100):
            m = p.get_message(timeout=0.05)
            if m and m["type"] == "subscribe":
                return p
            if time.monotonic() >= deadline:
                break
        self.fail("no subscribe confirmation on %s" % channel)

    def messages(self, p, want=1, timeout=3.0, settle=0.3):
        """The messages on p: waits (bounded) for `want` of them, then `settle` s for extras."""
        out = []
        deadline = time.monotonic() + timeout
        settle_end = None
        for _ in range(1000):
            now = time.monotonic()
            if now >= deadline or (settle_end is not None and now >= settle_end):
                break
            m = p.get_message(timeout=0.02)
            if m and m["type"] == "message":
                out.append(m["data"])
            if len(out) >= want and settle_end is None:
                settle_end = time.monotonic() + settle
        return out

    def assertLease(self, ip, fields, base=B, infinite=False):
        key = lease_key(ip, base)
        self.assertEqual(self.r.type(key), "hash", "%s: %s" % (key, self.r.keys("*")))
        self.assertEqual(self.r.hgetall(key), fields)
        self.assertIn(ip, self.r.smembers(base + "leases"))
        ttl = self.r.ttl(key)
        if infinite:
            self.assertEqual(ttl, -1, "an infinite lease has no expiry")
        else:
            expected = int(fields["expires"]) + GRACE - time.time()
            self.assertGreaterEqual(ttl, expected - 5, "TTL %s, expected ~%d" % (ttl, expected))
            self.assertLessEqual(ttl, expected + 1, "TTL %s, expected ~%d" % (ttl, expected))

    def assertKeys(self, keys):
        self.assertEqual(set(self.r.keys("*")), set(keys))


def dm_fields(mac, hostname, expires, idf="mac"):
    return {idf: mac, "hostname": hostname, "expires": str(expires), "source": "dnsmasq"}


def kea4_env(prefix, ip, mac=MAC, hostname="", cltt=None, valid=3600, state="default"):
    return {prefix + "_ADDRESS": ip, prefix + "_HWADDR": mac, prefix + "_HWADDR_TYPE": "1",
            prefix + "_HOSTNAME": hostname, prefix + "_CLTT": str(cltt or int(time.time())),
            prefix + "_VALID_LIFETIME": str(valid), prefix + "_STATE": state,
            prefix + "_SUBNET_ID": "1", prefix + "_CLIENT_ID": ""}


def kea6_env(prefix, ip, duid=DUID, hostname="", cltt=None, valid=3600, typ="IA_NA",
             state="default"):
    return {prefix + "_ADDRESS": ip, prefix + "_DUID": duid, prefix + "_HOSTNAME": hostname,
            prefix + "_CLTT": str(cltt or int(time.time())), prefix + "_VALID_LIFETIME": str(valid),
            prefix + "_PREFERRED_LIFETIME": str(valid // 2), prefix + "_STATE": state,
            prefix + "_TYPE": typ, prefix + "_IAID": "1", prefix + "_PREFIX_LEN": "128",
            prefix + "_HWADDR": "", prefix + "_HWADDR_TYPE": "", prefix + "_SUBNET_ID": "1"}


# ------------------------------------------------------------------------------------------------
# dnsmasq
# ------------------------------------------------------------------------------------------------

class Dnsmasq(HookCase):

    def add(self, action, mac, ip, *host, expires=None, env=None):
        e = {"DNSMASQ_LEASE_EXPIRES": str(expires), "DNSMASQ_INTERFACE": "eth0",
             "DNSMASQ_TIME_REMAINING": str(max(0, expires - int(time.time()))) if expires else None}
        e.update(env or {})
        return self.dnsmasq(action, mac, ip, *host, env=e)

    def test_add_with_hostname(self):
        p = self.subscribe()
        exp = int(time.time()) + 3600
        run = self.add("add", "AA:BB:CC:DD:EE:01", "192.168.1.23", "laptop", expires=exp)
        self.assertQuiet(run)
        self.assertLease("192.168.1.23", dm_fields(MAC, "laptop", exp))
        self.assertEqual(self.r.smembers(B + "leases"), {"192.168.1.23"})
        self.assertKeys([lease_key("192.168.1.23"), B + "leases"])
        self.assertEqual(self.messages(p), ["leases"])

    def test_old_renewal_with_a_changed_hostname(self):
        exp = int(time.time()) + 600
        self.assertQuiet(self.add("add", MAC, "192.168.1.23", "laptop", expires=exp))
        p = self.subscribe()
        exp2 = exp + 3000
        self.assertQuiet(self.add("old", MAC, "192.168.1.23", "laptop-2", expires=exp2))
        self.assertLease("192.168.1.23", dm_fields(MAC, "laptop-2", exp2))
        self.assertEqual(self.messages(p), ["leases"])
        # the name removed: "old" without a host name, the former one in DNSMASQ_OLD_HOSTNAME
        self.assertQuiet(self.add("old", MAC, "192.168.1.23", expires=exp2,
                                  env={"DNSMASQ_OLD_HOSTNAME": "laptop-2"}))
        self.assertLease("192.168.1.23", dm_fields(MAC, "", exp2))
        self.assertKeys([lease_key("192.168.1.23"), B + "leases"])

    def test_del_removes_the_lease(self):
        exp = int(time.time()) + 3600
        self.assertQuiet(self.add("add", MAC, "192.168.1.23", "laptop", expires=exp))
        self.assertQuiet(self.add("add", "aa:bb:cc:dd:ee:02", "192.168.1.24", expires=exp))
        p = self.subscribe()
        self.assertQuiet(self.add("del", MAC, "192.168.1.23", "laptop", expires=exp))
        self.assertFalse(self.r.exists(lease_key("192.168.1.23")))
        self.assertEqual(self.r.smembers(B + "leases"), {"192.168.1.24"})
        self.assertEqual(self.messages(p), ["leases"])
        self.assertQuiet(self.add("del", "aa:bb:cc:dd:ee:02", "192.168.1.24", expires=exp))
        self.assertKeys([])

    def test_add_without_hostname(self):
        exp = int(time.time()) + 3600
        self.assertQuiet(self.add("add", MAC, "10.1.2.3", expires=exp))
        self.assertLease("10.1.2.3", dm_fields(MAC, "", exp))

    def test_hostile_hostnames_are_stored_empty_and_never_run(self):
        marker = self.tmp.file("marker")
        hostile = ["'; rm -rf /'", "two words", 'quo"te', "it's", "line\nbreak", "tab\there",
                   "$(touch %s)" % marker, "`touch %s`" % marker, "x;touch %s" % marker,
                   "a|touch %s" % marker, "${IFS}x", "back\\slash", "h" * 64, "*",
                   "caf\u00e9"]
        exp = int(time.time()) + 3600
        for i, name in enumerate(hostile):
            ip = "10.0.0.%d" % (i + 1)
            with self.subTest(hostname=name):
                run = self.add("add", MAC, ip, name, expires=exp)
                self.assertEqual(run.rc, 0, run)
                self.assertEqual(run.stdout, b"", run)
                self.assertIn("host name", run.log)
                self.assertIn("not stored", run.log)
                self.assertLease(ip, dm_fields(MAC, "", exp))
        self.assertFalse(os.path.exists(marker), "a hostile host name was run")
        self.assertEqual(len(self.r.smembers(B + "leases")), len(hostile))
        # the longest name that is kept, and all the characters that are
        self.assertQuiet(self.add("add", MAC, "10.0.1.1", "h" * 63, expires=exp))
        self.assertEqual(self.r.hget(lease_key("10.0.1.1"), "hostname"), "h" * 63)
        self.assertQuiet(self.add("add", MAC, "10.0.1.2", "A-z_0.9", expires=exp))
        self.assertEqual(self.r.hget(lease_key("10.0.1.2"), "hostname"), "A-z_0.9")

    def test_bad_ip_is_rejected_and_logged(self):
        marker = self.tmp.file("marker")
        p = self.subscribe()
        exp = int(time.time()) + 3600
        bad = ["192.168.1.256", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4",
               "1.2.3.4\n", "1.2.3.4;touch %s" % marker, "$(touch %s)" % marker, "",
               "localhost", "2001:db8::g", "2001:db8:::1", "1::2::3", "1:2:3:4:5:6:7:8:9",
               ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "::ffff:192.0.2.1", "fe80::1%eth0",
               "12345::1", "1.2.3.4/24"]
        for ip in bad:
            for action in ("add", "del"):
                with self.subTest(ip=ip, action=action):
                    run = self.add(action, MAC, ip, "laptop", expires=exp)
                    self.assertEqual(run.rc, 0, run)
                    self.assertEqual(run.stdout, b"", run)
                    self.assertIn("is not an IPv4 or IPv6 address", run.log)
                    self.assertKeys([])
        self.assertFalse(os.path.exists(marker))
        self.assertEqual(self.messages(p, timeout=0.3), [], "nothing written, nothing published")

    def test_dhcpv6_add_stores_the_duid(self):
        p = self.subscribe()
        exp = int(time.time()) + 7200
        run = self.add("add", DUID.upper(), "2001:DB8:0:0:0:0:0:23", "phone", expires=exp,
                       env={"DNSMASQ_IAID": "1234", "DNSMASQ_SERVER_DUID": "00:01:00:01:aa:bb",
                            "DNSMASQ_MAC": MAC})
        self.assertQuiet(run)
        self.assertLease("2001:db8::23", dm_fields(DUID, "phone", exp, idf="duid"))
        self.assertNotIn("mac", self.r.hgetall(lease_key("2001:db8::23")))
        self.assertEqual(self.messages(p), ["leases"])
        self.assertQuiet(self.add("del", DUID, "2001:db8::23", "phone", expires=exp))
        self.assertKeys([])

    def test_dhcpv6_bad_duid_removes_the_lease(self):
        exp = int(time.time()) + 7200
        self.assertQuiet(self.add("add", DUID, "2001:db8::23", "phone", expires=exp))
        for duid in ["zz:01", "00", "00:01:", "0:1:2", "00::01", "00:01;x"]:
            with self.subTest(duid=duid):
                run = self.add("old", duid, "2001:db8::23", "phone", expires=exp)
                self.assertEqual(run.rc, 0, run)
                self.assertIn("DUID", run.log)
                self.assertFalse(self.r.exists(lease_key("2001:db8::23")))
                self.assertNotIn("2001:db8::23", self.r.smembers(B + "leases"))

    def test_ipv6_addresses_are_stored_in_canonical_form(self):
        exp = int(time.time()) + 3600
        forms = ["2001:DB8::1", "2001:db8:0:0:0:0:0:1", "2001:0db8:0000:0000:0000:0000:0000:0001",
                 "2001:db8:0:1:0:0:0:1", "2001:db8:0:0:1:0:0:1", "fe80::", "::", "::1",
                 "2001:db8::1:0:0:0", "2001:db8:1:2:3:4:5:6", "1:0:0:2:0:0:0:3", "0:0:1::"]
        for form in forms:
            canon = ipaddress.ip_address(form).compressed
            with self.subTest(form=form, canonical=canon):
                self.r.flushall()
                self.assertQuiet(self.add("add", DUID, form, expires=exp))
                self.assertEqual(self.r.smembers(B + "leases"), {canon})
                self.assertTrue(self.r.exists(lease_key(canon)))

    def test_non_ethernet_mac_removes_the_lease(self):
        exp = int(time.time()) + 3600
        self.assertQuiet(self.add("add", MAC, "10.9.9.9", "laptop", expires=exp))
        for mac in ["06-01:23:45:67:89:ab", "01-", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00",
                    "aa-bb-cc-dd-ee-ff", "gg:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:f;"]:
            with self.subTest(mac=mac):
                run = self.add("add", mac, "10.9.9.9", "laptop", expires=exp)
                self.assertEqual(run.rc, 0, run)
                self.assertIn("is not an Ethernet MAC address", run.log)
                self.assertFalse(self.r.exists(lease_key("10.9.9.9")))
                self.assertNotIn("10.9.9.9", self.r.smembers(B + "leases"))

    def test_infinite_lease_has_no_expiry(self):
        # dnsmasq passes DNSMASQ_LEASE_EXPIRES=0 and no DNSMASQ_TIME_REMAINING for them
        run = self.dnsmasq("add", MAC, "10.0.0.9", "server", env={"DNSMASQ_LEASE_EXPIRES": "0"})
        self.assertQuiet(run)
        self.assertLease("10.0.0.9", dm_fields(MAC, "server", 0), infinite=True)

    def test_lease_time_forms(self):
        now = int(time.time())
        # older dnsmasq end the value with a space
        self.assertQuiet(self.dnsmasq("add", MAC, "10.0.0.1",
                                      env={"DNSMASQ_LEASE_EXPIRES": "%d " % (now + 100)}))
        self.assertLease("10.0.0.1", dm_fields(MAC, "", now + 100))
        # HAVE_BROKEN_RTC builds: DNSMASQ_LEASE_LENGTH and DNSMASQ_TIME_REMAINING
        run = self.dnsmasq("add", MAC, "10.0.0.2", env={"DNSMASQ_LEASE_LENGTH": "7200",
                                                        "DNSMASQ_TIME_REMAINING": "3600"})
        self.assertQuiet(run)
        exp = int(self.r.hget(lease_key("10.0.0.2"), "expires"))
        self.assertTrue(now + 3600 <= exp <= int(time.time()) + 3600, exp - now)
        self.assertQuiet(self.dnsmasq("add", MAC, "10.0.0.3", env={"DNSMASQ_LEASE_LENGTH": "0"}))
        self.assertLease("10.0.0.3", dm_fields(MAC, "", 0), infinite=True)
        # a leading zero is not octal
        self.assertQuiet(self.dnsmasq("add", MAC, "10.0.0.4",
                                      env={"DNSMASQ_TIME_REMAINING": "0900"}))
        exp = int(self.r.hget(lease_key("10.0.0.4"), "expires"))
        self.assertTrue(now + 900 <= exp <= int(time.time()) + 900, exp - now)

    def test_lease_long_over_is_removed_not_stored(self):
        now = int(time.time())
        self.assertQuiet(self.add("add", MAC, "10.0.0.5", "x", expires=now + 3600))
        run = self.dnsmasq("old", MAC, "10.0.0.5", "x",
                           env={"DNSMASQ_LEASE_EXPIRES": str(now - GRACE - 10)})
        self.assertQuiet(run)
        self.assertKeys([])

    def test_init_and_other_actions_print_nothing_and_write_nothing(self):
        p = self.subscribe()
        for args in (["init"], ["tftp", "1234", "10.0.0.1", "/srv/tftp/pxelinux.0"],
                     ["arp-add", MAC, "10.0.0.1"], ["arp-del", MAC, "10.0.0.1"],
                     ["relay-snoop", "eth0", "fe80::1", "2001:db8:1::/64"], ["future-action"],
                     []):
            with self.subTest(args=args):
                run = self.dnsmasq(*args)
                self.assertQuiet(run)
        self.assertKeys([])
        self.assertEqual(self.messages(p, timeout=0.3), [])

    def test_runs_under_bash_too(self):
        # /bin/sh is dash on Debian; other systems have bash (or busybox) there
        bash = shutil.which("bash")
        if not bash:
            self.skipTest("no bash")
        exp = int(time.time()) + 3600
        env = self.base_env()
        env["DNSMASQ_LEASE_EXPIRES"] = str(exp)
        for ident, ip, idf in ((MAC, "10.0.0.7", "mac"), (DUID, "2001:db8::7", "duid")):
            p = subprocess.run([bash, "--posix", DNSMASQ_HOOK, "add", ident, ip, "b"],
                               env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
            self.assertEqual((p.returncode, p.stdout, p.stderr), (0, b"", b""))
            self.assertLease(ip, dm_fields(ident, "b", exp, idf=idf))


# ------------------------------------------------------------------------------------------------
# Kea
# ------------------------------------------------------------------------------------------------

class Kea(HookCase):

    def kea_fields(self, ident, hostname, expires, idf="mac"):
        return {idf: ident, "hostname": hostname, "expires": str(expires), "source": "kea"}

    def committed4(self, leases=(), deleted=(), env=None):
        e = {"QUERY4_TYPE": "DHCPREQUEST", "QUERY4_TXID": "1234",
             "LEASES4_SIZE": str(len(leases)), "DELETED_LEASES4_SIZE": str(len(deleted))}
        for i, kw in enumerate(leases):
            e.update(kea4_env("LEASES4_AT%d" % i, **kw))
        for i, kw in enumerate(deleted):
            e.update(kea4_env("DELETED_LEASES4_AT%d" % i, **kw))
        e.update(env or {})
        return self.kea("leases4_committed", e)

    def test_leases4_committed(self):
        p = self.subscribe()
        cltt = int(time.time())
        run = self.committed4([dict(ip="192.168.10.5", mac="AA:BB:CC:DD:EE:01",
                                    hostname="printer.example.org.", cltt=cltt, valid=3600)])
        self.assertQuiet(run)
        self.assertLease("192.168.10.5",
                         self.kea_fields(MAC, "printer.example.org", cltt + 3600))
        self.assertKeys([lease_key("192.168.10.5"), B + "leases"])
        self.assertEqual(self.messages(p), ["leases"])

    def test_lease4_release_removes(self):
        self.assertQuiet(self.committed4([dict(ip="192.168.10.5"), dict(ip="192.168.10.6")]))
        p = self.subscribe()
        e = {"QUERY4_TYPE": "DHCPRELEASE"}
        e.update(kea4_env("LEASE4", "192.168.10.5"))
        self.assertQuiet(self.kea("lease4_release", e))
        self.assertFalse(self.r.exists(lease_key("192.168.10.5")))
        self.assertEqual(self.r.smembers(B + "leases"), {"192.168.10.6"})
        self.assertEqual(self.messages(p), ["leases"])

    def test_lease4_expire_removes(self):
        self.assertQuiet(self.committed4([dict(ip="192.168.10.7")]))
        p = self.subscribe()
        for remove in ("true", "false"):
            e = {"REMOVE_LEASE": remove}
            e.update(kea4_env("LEASE4", "192.168.10.7", state="expired-reclaimed"))
            self.assertQuiet(self.kea("lease4_expire", e))
            self.assertKeys([])
        self.assertEqual(self.messages(p, want=2), ["leases", "leases"])

    def test_lease4_decline_and_recover_remove(self):
        for point in ("lease4_decline", "lease4_recover"):
            with self.subTest(hook=point):
                self.assertQuiet(self.committed4([dict(ip="192.168.10.8")]))
                self.assertTrue(self.r.exists(lease_key("192.168.10.8")))
                self.assertQuiet(self.kea(point, kea4_env("LEASE4", "192.168.10.8")))
                self.assertKeys([])

    def test_lease4_renew_updates(self):
        cltt = int(time.time())
        self.assertQuiet(self.committed4([dict(ip="192.168.10.9", hostname="a", cltt=cltt - 100)]))
        self.assertQuiet(self.kea("lease4_renew", kea4_env("LEASE4", "192.168.10.9", hostname="b",
                                                           cltt=cltt, valid=7200)))
        self.assertLease("192.168.10.9", self.kea_fields(MAC, "b", cltt + 7200))

    def test_committed_several_and_deleted_in_one_transaction(self):
        self.assertQuiet(self.committed4([dict(ip="10.5.0.1")]))
        p = self.subscribe()
        cltt = int(time.time())
        run = self.committed4(
            leases=[dict(ip="10.5.0.2", mac="aa:bb:cc:dd:ee:02", cltt=cltt),
                    dict(ip="10.5.0.3", mac="aa:bb:cc:dd:ee:03", hostname="three", cltt=cltt)],
            deleted=[dict(ip="10.5.0.1")])
        self.assertQuiet(run)
        self.assertEqual(self.r.smembers(B + "leases"), {"10.5.0.2", "10.5.0.3"})
        self.assertLease("10.5.0.3", self.kea_fields("aa:bb:cc:dd:ee:03", "three", cltt + 3600))
        self.assertFalse(self.r.exists(lease_key("10.5.0.1")))
        self.assertEqual(self.messages(p), ["leases"], "one PUBLISH per run")

    def test_committed_lease_not_active_is_removed(self):
        self.assertQuiet(self.committed4([dict(ip="10.6.0.1")]))
        self.assertQuiet(self.committed4([dict(ip="10.6.0.1", state="declined")]))
        self.assertKeys([])
        self.assertQuiet(self.committed4([dict(ip="10.6.0.1", valid=0)]))
        self.assertKeys([])

    def test_infinite_lifetime(self):
        self.assertQuiet(self.committed4([dict(ip="10.7.0.1", valid=4294967295)]))
        self.assertLease("10.7.0.1", self.kea_fields(MAC, "", 0), infinite=True)

    def test_hostile_values(self):
        marker = self.tmp.file("marker")
        run = self.committed4([dict(ip="10.8.0.1", hostname="'; rm -rf /'"),
                               dict(ip="10.8.0.2", hostname="$(touch %s)" % marker),
                               dict(ip="10.8.0.3;touch " + marker),
                               dict(ip="10.8.0.4", mac="aa:bb:cc:dd:ee:ff\ntouch " + marker)],
                              env={"LEASES4_AT0_CLTT": "$(touch %s)" % marker})
        self.assertEqual(run.rc, 0, run)
        self.assertFalse(os.path.exists(marker))
        self.assertEqual(self.r.smembers(B + "leases"), {"10.8.0.1", "10.8.0.2"})
        self.assertEqual(self.r.hget(lease_key("10.8.0.1"), "hostname"), "")
        self.assertEqual(self.r.hget(lease_key("10.8.0.2"), "hostname"), "")
        self.assertIn("is not an IP address", run.log)
        self.assertIn("is not an Ethernet MAC address", run.log)
        # a size that is not a number, or a huge one, is bounded
        run = self.kea("leases4_committed", {"LEASES4_SIZE": "1; touch " + marker})
        self.assertEqual(run.rc, 0, run)
        run = self.kea("leases4_committed", {"LEASES4_SIZE": "100000000"})
        self.assertEqual(run.rc, 0, run)
        self.assertLess(run.elapsed, 5)
        self.assertFalse(os.path.exists(marker))

    def test_wrong_family_is_ignored(self):
        e = kea4_env("LEASE4", "2001:db8::1")
        run = self.kea("lease4_renew", e)
        self.assertEqual(run.rc, 0, run)
        self.assertIn("is not an IPv4 address", run.log)
        self.assertKeys([])

    def test_leases6_committed(self):
        p = self.subscribe()
        cltt = int(time.time())
        e = {"LEASES6_SIZE": "2", "DELETED_LEASES6_SIZE": "0"}
        e.update(kea6_env("LEASES6_AT0", "2001:DB8:1::0:10", duid=DUID.upper(), hostname="tv",
                          cltt=cltt, valid=7200))
        e.update(kea6_env("LEASES6_AT1", "2001:db8:2::", typ="IA_PD"))
        run = self.kea("leases6_committed", e)
        self.assertQuiet(run)
        self.assertLease("2001:db8:1::10", self.kea_fields(DUID, "tv", cltt + 7200, idf="duid"))
        self.assertKeys([lease_key("2001:db8:1::10"), B + "leases"])
        self.assertEqual(self.messages(p), ["leases"])
        for point in ("lease6_release", "lease6_expire", "lease6_decline"):
            with self.subTest(hook=point):
                self.assertQuiet(self.kea("lease6_renew", kea6_env("LEASE6", "2001:db8:1::10")))
                self.assertTrue(self.r.exists(lease_key("2001:db8:1::10")))
                self.assertQuiet(self.kea(point, kea6_env("LEASE6", "2001:db8:1::10")))
                self.assertKeys([])

    def test_other_hook_points_do_nothing(self):
        for args in (["pkt4_receive"], ["lease4_select"], ["unknown"], []):
            with self.subTest(args=args):
                self.assertQuiet(self.run_hook(KEA_HOOK, args, kea4_env("LEASE4", "10.0.0.1")))
        self.assertKeys([])

    def test_kea_environment_only(self):
        """Kea's ProcessSpawn gives the script only its own variables (no PATH): the
        configuration comes from the file."""
        conf = write(self.tmp.file("kea-hook.conf"),
                     "JURISDNS_REDIS=unix:%s\n" % self.redis.sock)
        e = {"JURISDNS_DHCP_HOOK_CONF": conf, "LEASES4_SIZE": "1", "DELETED_LEASES4_SIZE": "0"}
        e.update(kea4_env("LEASES4_AT0", "10.11.0.1"))
        run = self.kea("leases4_committed", e, base=False)
        self.assertEqual((run.rc, run.stdout), (0, b""), run)
        self.assertEqual(self.r.smembers(B + "leases"), {"10.11.0.1"})


# ------------------------------------------------------------------------------------------------
# configuration, failures, the scripts themselves
# ------------------------------------------------------------------------------------------------

class Config(HookCase):

    def test_custom_prefix(self):
        p = self.subscribe("site1:policy:changed")
        exp = int(time.time()) + 3600
        run = self.dnsmasq("add", MAC, "10.0.0.1", "x",
                           env={"JURISDNS_REDIS_PREFIX": "site1:",
                                "DNSMASQ_LEASE_EXPIRES": str(exp)})
        self.assertQuiet(run)
        self.assertLease("10.0.0.1", dm_fields(MAC, "x", exp), base="site1:{policy}:")
        self.assertKeys(["site1:{policy}:lease:10.0.0.1", "site1:{policy}:leases"])
        self.assertEqual(self.messages(p), ["leases"])
        e = {"JURISDNS_REDIS_PREFIX": "site1:"}
        e.update(kea4_env("LEASE4", "10.0.0.1"))
        self.assertQuiet(self.kea("lease4_release", e))
        self.assertKeys([])

    def test_prefix_with_quote_and_backslash(self):
        # jurisdns accepts any printable prefix without spaces or braces
        prefix = 'a"b\\c:'
        exp = int(time.time()) + 3600
        self.assertQuiet(self.dnsmasq("add", MAC, "10.0.0.1", env={
            "JURISDNS_REDIS_PREFIX": prefix, "DNSMASQ_LEASE_EXPIRES": str(exp)}))
        self.assertKeys([prefix + "{policy}:lease:10.0.0.1", prefix + "{policy}:leases"])

    def test_bad_prefix_writes_nothing(self):
        for prefix in ("has space:", "br{ace}:", "tab\t:", "x" * 48):
            with self.subTest(prefix=prefix):
                run = self.dnsmasq("add", MAC, "10.0.0.1",
                                   env={"JURISDNS_REDIS_PREFIX": prefix,
                                        "DNSMASQ_LEASE_EXPIRES": "0"})
                self.assertEqual(run.rc, 0, run)
                self.assertIn("JURISDNS_REDIS_PREFIX", run.log)
                self.assertKeys([])

    def test_config_file(self):
        marker = self.tmp.file("marker")
        conf = write(self.tmp.file("hook.conf"),
                     "# jurisdns DHCP hooks\n"
                     "\n"
                     "  JURISDNS_REDIS = \"unix:%s\"  \n"
                     "export JURISDNS_REDIS_PREFIX='file:'\n"
                     "FOO=$(touch %s)\n"
                     "JURISDNS_REDIS_USER=`touch %s`\n"
                     "not a setting\n"
                     "JURISDNS_REDIS_PASSWORD=" % (self.redis.sock, marker, marker))
        exp = int(time.time()) + 3600
        run = self.dnsmasq("add", MAC, "10.0.0.1", env={
            "JURISDNS_REDIS": None, "JURISDNS_DHCP_HOOK_CONF": conf,
            "DNSMASQ_LEASE_EXPIRES": str(exp)})
        self.assertEqual(run.rc, 0, run)
        self.assertFalse(os.path.exists(marker), "the file was run")
        self.assertIn("unknown key 'FOO' ignored", run.log)
        self.assertIn("not KEY=value", run.log)
        # a user name with a space is refused before anything is sent
        self.assertIn("JURISDNS_REDIS_USER", run.log)
        self.assertKeys([])

        write(conf, "JURISDNS_REDIS=unix:%s\nJURISDNS_REDIS_PREFIX='file:'\n" % self.redis.sock)
        run = self.dnsmasq("add", MAC, "10.0.0.1", env={
            "JURISDNS_REDIS": None, "JURISDNS_DHCP_HOOK_CONF": conf,
            "DNSMASQ_LEASE_EXPIRES": str(exp)})
        self.assertQuiet(run)
        self.assertLease("10.0.0.1", dm_fields(MAC, "", exp), base="file:{policy}:")
        # the environment wins over the file
        self.r.flushall()
        run = self.dnsmasq("add", MAC, "10.0.0.1", env={
            "JURISDNS_REDIS_PREFIX": "env:", "JURISDNS_DHCP_HOOK_CONF": conf,
            "JURISDNS_REDIS": "unix:" + self.redis.sock, "DNSMASQ_LEASE_EXPIRES": str(exp)})
        self.assertQuiet(run)
        self.assertKeys(["env:{policy}:lease:10.0.0.1", "env:{policy}:leases"])

    def test_bad_addresses_are_logged(self):
        for addr in ("redis.example:6379", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",
                     "unix:relative.sock", "unix:", "[::1", "1.2.3.4:6379;touch x",
                     "unix:/" + "x" * 120):
            with self.subTest(addr=addr):
                run = self.dnsmasq("add", MAC, "10.0.0.1", env={"JURISDNS_REDIS": addr,
                                                                "DNSMASQ_LEASE_EXPIRES": "0"})
                self.assertEqual(run.rc, 0, run)
                self.assertIn("JURISDNS_REDIS", run.log)
                self.assertLess(run.elapsed, 5)

    def test_redis_down_exits_0_quickly_and_logs(self):
        cases = ["unix:" + self.tmp.file("missing.sock"),      # no socket
                 "127.0.0.1:%d" % h.free_port(),               # nothing listening
                 "192.0.2.1:6379"]                              # TEST-NET-1: no answer at all
        for addr in cases:
            with self.subTest(addr=addr):
                run = self.dnsmasq("add", MAC, "10.0.0.1", "x",
                                   env={"JURISDNS_REDIS": addr, "DNSMASQ_LEASE_EXPIRES": "0"})
                self.assertEqual(run.rc, 0, run)
                self.assertEqual(run.stdout, b"", run)
                self.assertLess(run.elapsed, 5.0, run)
                self.assertIn("leases not written", run.log)
                e = {"JURISDNS_REDIS": addr}
                e.update(kea4_env("LEASE4", "10.0.0.1"))
                run = self.kea("lease4_release", e)
                self.assertEqual(run.rc, 0, run)
                self.assertLess(run.elapsed, 5.0, run)
                self.assertIn("leases not written", run.log)
        self.assertKeys([])

    def test_silent_redis_is_given_up_after_the_timeout(self):
        # a TCP listener that never accepts: the kernel completes the handshake, redis-cli sends
        # its commands and waits for replies that never come; `timeout` ends it
        port = h.free_port()
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(lsock.close)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(8)
        addr = "127.0.0.1:%d" % port
        run = self.dnsmasq("add", MAC, "10.0.0.1", "x",
                           env={"JURISDNS_REDIS": addr, "DNSMASQ_LEASE_EXPIRES": "0"})
        self.assertEqual((run.rc, run.stdout), (0, b""), run)
        self.assertLess(run.elapsed, 5.0, run)
        self.assertIn("no answer within 3 s", run.log)
        e = {"JURISDNS_REDIS": addr, "LEASES4_SIZE": "1"}
        e.update(kea4_env("LEASES4_AT0", "10.0.0.1"))
        run = self.kea("leases4_committed", e)
        self.assertEqual((run.rc, run.stdout), (0, b""), run)
        self.assertLess(run.elapsed, 5.0, run)
        self.assertIn("no answer within 3 s", run.log)
        self.assertKeys([])

    def test_scripts(self):
        texts = {}
        for hook in (DNSMASQ_HOOK, KEA_HOOK):
            st = os.stat(hook)
            self.assertTrue(st.st_mode & stat.S_IXOTH, "%s is not executable" % hook)
            with open(hook) as f:
                text = f.read()
            texts[hook] = text
            self.assertTrue(text.startswith("#!/bin/sh\n"), hook)
            # the password never on a command line (ps shows it): REDISCLI_AUTH only
            self.assertNotIn("-a ", text, hook)
            self.assertNotIn("--pass", text, hook)
            self.assertIn("REDISCLI_AUTH", text, hook)
            self.assertIn("timeout", text, hook)
            # nothing sourced; the version key never written
            self.assertNotRegex(text, r"(?m)^\s*(\.|source)\s", hook)
            code = [l for l in text.splitlines() if not l.strip().startswith("#")]
            self.assertNotIn("version", "\n".join(code), hook)
            for sh in ("/bin/sh", "/bin/dash", shutil.which("bash")):
                if sh and os.path.exists(sh):
                    p = subprocess.run([sh, "-n", hook], capture_output=True, timeout=10)
                    self.assertEqual((p.returncode, p.stderr), (0, b""), "%s -n %s" % (sh, hook))

        def common(text):
            a = text.index("# ---- common part")
            b = text.index("# ---- end of the common part")
            return text[a:b]
        self.assertEqual(common(texts[DNSMASQ_HOOK]), common(texts[KEA_HOOK]),
                         "the common part of the two hooks differs")

    def test_shellcheck(self):
        sc = shutil.which("shellcheck")
        if not sc:
            self.skipTest("shellcheck not installed")
        p = subprocess.run([sc, "-s", "sh", DNSMASQ_HOOK, KEA_HOOK], capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())


class Password(HookCase):
    redis_password = "s3cr3t-Pa55 word"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.redis.client()
        try:
            # least privilege: the keys and channel of the prefix, the commands the hooks send
            r.execute_command("ACL", "SETUSER", "dhcphook", "on", ">hook-pw", "~jurisdns:*",
                              "&jurisdns:*", "-@all", "+multi", "+exec", "+discard", "+del",
                              "+hset", "+expireat", "+sadd", "+srem", "+publish", "+echo")
        finally:
            r.close()

    def argv_env(self, env):
        e = dict(env)
        e["PATH"] = self.cli_stubs + ":" + self.stubs + ":/usr/local/bin:/usr/bin:/bin"
        return e

    def test_password_from_the_environment_never_on_argv(self):
        exp = int(time.time()) + 3600
        run = self.dnsmasq("add", MAC, "10.0.0.1", "x", env=self.argv_env(
            {"DNSMASQ_LEASE_EXPIRES": str(exp)}))
        self.assertQuiet(run)
        self.assertLease("10.0.0.1", dm_fields(MAC, "x", exp))
        with open(self.tmp.file("redis-cli.argv")) as f:
            argv = f.read()
        self.assertNotIn(self.redis_password, argv)
        self.assertNotIn("s3cr3t", argv)
        with open(self.tmp.file("redis-cli.auth")) as f:
            self.assertEqual(f.read().strip(), "set")

    def test_without_password_nothing_is_written_and_it_is_logged(self):
        run = self.dnsmasq("add", MAC, "10.0.0.1", "x",
                           env={"JURISDNS_REDIS_PASSWORD": None, "DNSMASQ_LEASE_EXPIRES": "0"})
        self.assertEqual(run.rc, 0, run)
        self.assertIn("leases not written", run.log)
        self.assertIn("NOAUTH", run.log)
        self.assertKeys([])
        run = self.dnsmasq("add", MAC, "10.0.0.1", "x",
                           env={"JURISDNS_REDIS_PASSWORD": "wrong", "DNSMASQ_LEASE_EXPIRES": "0"})
        self.assertEqual(run.rc, 0, run)
        self.assertIn("leases not written", run.log)
        self.assertNotIn("wrong", run.log.replace("WRONGPASS", ""))
        self.assertKeys([])

    def test_acl_user_from_the_config_file(self):
        conf = write(self.tmp.file("hook.conf"),
                     "JURISDNS_REDIS=unix:%s\nJURISDNS_REDIS_USER=dhcphook\n"
                     "JURISDNS_REDIS_PASSWORD=hook-pw\n" % self.redis.sock)
        e = {"JURISDNS_DHCP_HOOK_CONF": conf, "LEASES4_SIZE": "1"}
        e.update(kea4_env("LEASES4_AT0", "10.0.0.2"))
        run = self.kea("leases4_committed", self.argv_env(e), base=False)
        self.assertQuiet(run)
        self.assertEqual(self.r.smembers(B + "leases"), {"10.0.0.2"})
        with open(self.tmp.file("redis-cli.argv")) as f:
            argv = f.read().split("\n")
        self.assertIn("dhcphook", argv)
        self.assertNotIn("hook-pw", argv)
        # the same user outside its keys: refused, logged, exit 0
        run = self.kea("leases4_committed",
                       self.argv_env(dict(e, JURISDNS_REDIS_PREFIX="other:")), base=False)
        self.assertEqual(run.rc, 0, run)
        self.assertIn("leases not written", run.log)
        self.assertKeys([B + "leases", lease_key("10.0.0.2")])


class Tcp(HookCase):
    """JURISDNS_REDIS as IP:port and [IPv6]:port."""

    @classmethod
    def setUpClass(cls):
        cls.port = h.free_port()
        cls.redis_args = ("--port", str(cls.port), "--bind", "127.0.0.1", "-::1")
        super().setUpClass()

    def test_ipv4_and_ipv6(self):
        addrs = ["127.0.0.1:%d" % self.port]
        c6 = redis.Redis(host="::1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            if c6.ping():
                addrs.append("[::1]:%d" % self.port)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            pass  # no ::1 here: IPv4 only
        finally:
            c6.close()
        for i, addr in enumerate(addrs):
            with self.subTest(addr=addr):
                run = self.dnsmasq("add", MAC, "10.0.0.%d" % (i + 1),
                                   env={"JURISDNS_REDIS": addr, "DNSMASQ_LEASE_EXPIRES": "0"})
                self.assertQuiet(run)
                self.assertIn("10.0.0.%d" % (i + 1), self.r.smembers(B + "leases"))


@unittest.skipUnless(os.path.isfile(DNSMASQ) and IS_ROOT,
                     "a real dnsmasq needs root and %s" % DNSMASQ)
class RealDnsmasq(HookCase):
    """dnsmasq itself runs the hook ("old") for every lease of its lease file when it starts."""

    def test_startup_reports_the_leases_of_the_lease_file(self):
        now = int(time.time())
        leases = write(self.tmp.file("dnsmasq.leases"),
                       "%d 02:00:00:00:00:01 127.0.0.51 camera *\n"
                       "0 02:00:00:00:00:02 127.0.0.52 server 01:02:00:00:00:00:02\n"
                       % (now + 7200))
        port = h.free_port()
        env = self.base_env()
        proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
             "--dhcp-range=127.0.0.50,127.0.0.60,12h", "--dhcp-leasefile=" + leases,
             "--dhcp-script=" + DNSMASQ_HOOK, "--interface=lo", "--bind-interfaces",
             "--dhcp-alternate-port=%d,%d" % (port, port + 1), "--log-facility=-",
             "--pid-file=", "--user=root"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            h.wait_for(lambda: self.r.scard(B + "leases") == 2, 10, interval=0.05,
                       what="the two leases in Redis")
        finally:
            h.stop_process(proc)
            out = proc.stdout.read().decode("utf-8", "replace")
            proc.stdout.close()
        self.assertLease("127.0.0.51", dm_fields("02:00:00:00:00:01", "camera", now + 7200))
        self.assertLease("127.0.0.52", dm_fields("02:00:00:00:00:02", "server", 0),
                         infinite=True)
        self.assertNotIn("jurisdns-dhcp", out)



class Relay:
    """A DHCPv4 relay agent on 127.0.0.2 (giaddr) talking to a server on 127.0.0.1: enough of
    DHCP to get, and release, a lease from a real kea-dhcp4."""

    def __init__(self, port, timeout=3.0):
        self.port = port
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.2", port))  # the server answers a relay on giaddr:server port
        self.s.settimeout(timeout)

    def close(self):
        self.s.close()

    def _packet(self, xid, mac, mtype, opts, ciaddr="0.0.0.0"):
        head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 1, xid, 0, 0,
                           socket.inet_aton(ciaddr), bytes(4), bytes(4),
                           socket.inet_aton("127.0.0.2"), mac.ljust(16, b"\0"), b"", b"")
        o = b"\x63\x82\x53\x63" + bytes([53, 1, mtype])
        for code, val in opts:
            o += bytes([code, len(val)]) + val
        return head + o + b"\xff"

    def _reply(self, xid, want):
        for _ in range(10):
            data = self.s.recvfrom(2048)[0]
            if len(data) < 240 or struct.unpack("!I", data[4:8])[0] != xid:
                continue
            opts, o, i = {}, data[240:], 0
            while i + 1 < len(o) and o[i] != 255:
                if o[i] == 0:
                    i += 1
                    continue
                opts[o[i]] = o[i + 2:i + 2 + o[i + 1]]
                i += 2 + o[i + 1]
            if opts.get(53) == bytes([want]):
                return socket.inet_ntoa(data[16:20]), opts
        raise AssertionError("no DHCP message %d from the server" % want)

    def lease(self, mac, hostname):
        """DISCOVER, OFFER, REQUEST, ACK: the address."""
        mac = bytes.fromhex(mac.replace(":", ""))
        xid = random.getrandbits(32)
        hn = [(12, hostname.encode())]
        self.s.sendto(self._packet(xid, mac, 1, hn), ("127.0.0.1", self.port))
        yiaddr, opts = self._reply(xid, 2)
        self.s.sendto(self._packet(xid, mac, 3, hn + [(50, socket.inet_aton(yiaddr)),
                                                      (54, opts[54])]),
                      ("127.0.0.1", self.port))
        return self._reply(xid, 5)[0]

    def release(self, mac, ip):
        mac = bytes.fromhex(mac.replace(":", ""))
        self.s.sendto(self._packet(random.getrandbits(32), mac, 7,
                                   [(54, socket.inet_aton("127.0.0.1"))], ciaddr=ip),
                      ("127.0.0.1", self.port))


@unittest.skipUnless(os.path.isfile(KEA_DHCP4) and KEA_RUN_SCRIPT and IS_ROOT,
                     "a real Kea needs root, %s and libdhcp_run_script.so (kea-dhcp4-server)"
                     % KEA_DHCP4)
class RealKea(HookCase):
    """kea-dhcp4 with libdhcp_run_script.so ("sync": false) runs the hook: a lease given
    (leases4_committed), released (lease4_release and leases4_committed with DELETED_LEASES4),
    expired (lease4_expire). Kea gives the script no environment of its own, so a wrapper names
    the configuration file."""

    def test_lease_given_released_and_expired(self):
        d = self.tmp.file("kea")
        os.makedirs(d)
        conf = write(os.path.join(d, "hook.conf"), "JURISDNS_REDIS=unix:%s\n" % self.redis.sock)
        wrapper = write(os.path.join(d, "hook-wrapper"),
                        "#!/bin/sh\nJURISDNS_DHCP_HOOK_CONF=%s exec %s \"$@\" 2>>%s/hook.err\n"
                        % (conf, KEA_HOOK, d), 0o755)
        port = h.free_port()
        cfg = {"Dhcp4": {
            "interfaces-config": {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "memfile", "persist": True,
                               "name": os.path.join(d, "leases4.csv"), "lfc-interval": 0},
            "valid-lifetime": 4, "renew-timer": 1, "rebind-timer": 2,
            "expired-leases-processing": {"reclaim-timer-wait-time": 1,
                                          "hold-reclaimed-time": 1,
                                          "flush-reclaimed-timer-wait-time": 1},
            "subnet4": [{"id": 1, "subnet": "127.0.0.0/8",
                         "pools": [{"pool": "127.0.0.100 - 127.0.0.200"}]}],
            "hooks-libraries": [{"library": KEA_RUN_SCRIPT,
                                 "parameters": {"name": wrapper, "sync": False}}],
            "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                         "output_options": [{"output": os.path.join(d, "kea.log")}]}]}}
        cfg_file = write(os.path.join(d, "kea-dhcp4.json"), json.dumps(cfg, indent=1))
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KEA_PIDFILE_DIR": d,
               "KEA_LOCKFILE_DIR": d}
        out = open(os.path.join(d, "kea.out"), "wb")
        self.addCleanup(out.close)
        proc = subprocess.Popen([KEA_DHCP4, "-c", cfg_file, "-p", str(port), "-P", str(port)],
                                env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
        self.addCleanup(h.stop_process, proc)
        relay = Relay(port)
        self.addCleanup(relay.close)

        def kea_log():
            parts = []
            for name in ("kea.out", "kea.log", "hook.err"):
                try:
                    with open(os.path.join(d, name)) as f:
                        parts.append(f.read()[-3000:])
                except OSError:
                    pass
            return "\n".join(parts)

        h.wait_for(lambda: proc.poll() is not None or "DHCP4_STARTED" in kea_log(), 10,
                   interval=0.05, what="kea-dhcp4 started")
        self.assertIsNone(proc.poll(), kea_log())

        mac1, mac2 = "02:00:00:00:aa:01", "02:00:00:00:aa:02"
        t0 = int(time.time())
        ip1 = relay.lease(mac1, "kitchen-cam")
        h.wait_for(lambda: self.r.exists(lease_key(ip1)), 5, interval=0.05,
                   what="the lease of %s in Redis; %s" % (ip1, kea_log()))
        fields = self.r.hgetall(lease_key(ip1))
        self.assertEqual({k: v for k, v in fields.items() if k != "expires"},
                         {"mac": mac1, "hostname": "kitchen-cam", "source": "kea"})
        self.assertTrue(t0 + 4 <= int(fields["expires"]) <= int(time.time()) + 4, fields)
        self.assertEqual(self.r.smembers(B + "leases"), {ip1})

        relay.release(mac1, ip1)
        h.wait_for(lambda: not self.r.exists(lease_key(ip1)), 5, interval=0.05,
                   what="the released lease gone from Redis; %s" % kea_log())

        ip2 = relay.lease(mac2, "phone")
        h.wait_for(lambda: self.r.exists(lease_key(ip2)), 5, interval=0.05,
                   what="the lease of %s in Redis" % ip2)
        # valid-lifetime 4 s, reclaimed within a second or two more: lease4_expire
        h.wait_for(lambda: not self.r.exists(lease_key(ip2)), 15, interval=0.1,
                   what="the expired lease gone from Redis; %s" % kea_log())
        self.assertEqual(self.r.smembers(B + "leases"), set())
        self.assertNotIn("jurisdns-dhcp", kea_log())
        self.assertEqual(h.stop_process(proc), (0, False), kea_log())



if __name__ == "__main__":
    h.main()
