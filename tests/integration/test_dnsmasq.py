#!/usr/bin/python3
"""dnsmasq in front of jurisdns, end to end with the real /usr/sbin/dnsmasq: the three forms of
--add-mac (EDNS option 65001 with the 6 bytes; 65073 with base64 "qrvM3e4B" or text
"aa:bb:cc:dd:ee:01") name the device behind it, the option never goes upstream, and the warning
when the forwarder asks without a MAC for a name a MAC client's rule blocks (dnsmasq would serve
that answer from its cache to the blocked device: docs/deployment.md, cache-size=0).

dnsmasq learns a client's MAC from the kernel's neighbour table, so the module runs in a private
network namespace of its own (it re-executes itself under `unshare -n`; root needed) where lo
carries ::2 and a port-less bridge ::3, each with a permanent neighbour entry: a query from ::2 comes from the device
aa:bb:cc:dd:ee:01 (a [client] in block mode), one from ::3 from aa:bb:cc:dd:ee:02 (no rule), and
one from ::1 (the router itself) has no MAC. dnsmasq listens on ::1 and forwards to jurisdns on
::1 (trusted_forwarder = ::1), which forwards to a FakeUpstream on 127.0.0.1. Without unshare or
root, the module is skipped (exit 77) with the reason."""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

NETNS_ENV = "JD_TEST_DNSMASQ_NETNS"
IP = shutil.which("ip") or "/usr/sbin/ip"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
DNSMASQ = os.environ.get("DNSMASQ") or shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def _reexec_in_private_netns():
    """Run this module again in a new network namespace and exit with its status; exit 77 with
    the reason when no namespace can be had."""
    why = None
    if not os.access(DNSMASQ, os.X_OK):
        why = "dnsmasq not found at %s (apt-get install dnsmasq-base, or set DNSMASQ)" % DNSMASQ
    elif not os.access(UNSHARE, os.X_OK):
        why = "unshare not found (util-linux)"
    else:
        probe = subprocess.run([UNSHARE, "-n", "--", IP, "link", "set", "lo", "up"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=10)
        if probe.returncode != 0:
            why = "no private network namespace here (unshare -n needs root): %s" % probe.stdout.strip()
    if why:
        print("SKIP: " + why)
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(77)
    env = dict(os.environ)
    env[NETNS_ENV] = "1"
    rc = subprocess.run([UNSHARE, "-n", "--", sys.executable, os.path.abspath(__file__)]
                        + sys.argv[1:], env=env, timeout=300).returncode
    sys.exit(rc)


if __name__ == "__main__" and os.environ.get(NETNS_ENV) != "1":
    _reexec_in_private_netns()

import dns.edns
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

import harness as h

DEVICE_MAC = "aa:bb:cc:dd:ee:01"      # behind ::2, [client] in block mode
OTHER_MAC = "aa:bb:cc:dd:ee:02"       # behind ::3, no rule
DEVICE, OTHER, ROUTER = "::2", "::3", "::1"
REAL = "192.0.2.99"                   # FakeUpstream's answer
SINK = "198.51.100.7"
GROUPS = "[jurisdiction PRC]\ncountries = CN\ndomains = qq.com\n"
WARNING = "without a MAC option"

FAKE = None


def _ip(*args):
    r = subprocess.run([IP] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stdout.strip()))


def setUpModule():
    global FAKE
    if os.environ.get(NETNS_ENV) != "1":
        raise unittest.SkipTest("run as a script: it needs its own network namespace")
    h.require_binary()
    # the kernel drops a looped-back frame whose destination MAC is not the device's own, so
    # each MAC gets a device of its own: lo, and a bridge without ports (local delivery only)
    _ip("link", "set", "lo", "up")
    _ip("link", "add", "jdother0", "type", "bridge")
    for dev, addr, mac in (("lo", DEVICE, DEVICE_MAC), ("jdother0", OTHER, OTHER_MAC)):
        _ip("link", "set", dev, "address", mac)
        _ip("link", "set", dev, "up")
        _ip("-6", "addr", "add", addr + "/128", "dev", dev, "nodad")
        _ip("-6", "neigh", "add", addr, "lladdr", mac, "dev", dev, "nud", "permanent")
    FAKE = h.FakeUpstream(address=REAL).start()


def tearDownModule():
    if FAKE is not None:
        FAKE.stop()


_n = [0]


def fresh(suffix="qq.com"):
    """A name nobody asked before (no cache in dnsmasq or jurisdns has it)."""
    _n[0] += 1
    return "m%d-%d.%s." % (_n[0], time.monotonic_ns() % 1000000, suffix)


class Dnsmasq:
    """/usr/sbin/dnsmasq on [::1]:port forwarding to upstream, with --add-mac[=form]."""

    def __init__(self, tmp, upstream_port, form, cache_size):
        self.port = h.free_port("::1")
        self.log = tmp.file("dnsmasq-%d.log" % self.port)
        add = "--add-mac" + ("=" + form if form else "")
        self.argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                     "--no-hosts", "--bind-interfaces", "--listen-address=::1",
                     "--port=%d" % self.port, "--server=::1#%d" % upstream_port, add,
                     "--cache-size=%d" % cache_size, "--pid-file=", "--user=root",
                     "--log-queries", "--log-facility=" + self.log]
        self.proc = None

    def start(self, timeout=5.0):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("dnsmasq exited with %s: %s" % (
                    self.proc.returncode, self.proc.stderr.read().decode("utf-8", "replace")))
            try:
                h.tcp_connect(self.port, "::1", timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() >= deadline:
                    self.stop()
                    raise AssertionError("dnsmasq did not listen on [::1]:%d" % self.port)
                time.sleep(0.05)

    def read_log(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            h.stop_process(self.proc, timeout=3)
            self.proc.stderr.close()
            self.proc = None


class DnsmasqCase(h.JDTestCase):
    """A jurisdns on [::1] (trusted_forwarder ::1, [client aa:bb:cc:dd:ee:01] mode block) with a
    query log, and a dnsmasq in front of it."""

    def start_pair(self, form, cache_size=0):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        groups = tmp.file("groups.conf")
        with open(groups, "w") as f:
            f.write(GROUPS)
        self.qlog = tmp.file("query.log")
        self.jd = self.daemon([FAKE], host="::1", labels={"groups": groups},
                              log={"query_log": self.qlog, "query_log_mode": "all"},
                              policy={"default_mode": "log", "block": "PRC",
                                      "action": "sinkhole", "sinkhole_a": SINK,
                                      "trusted_forwarder": "::1"},
                              clients=[(DEVICE_MAC, {"mode": "block", "name": "camera"})])
        self.dm = Dnsmasq(tmp, self.jd.port, form, cache_size).start()
        self.addCleanup(self.dm.stop)

    def ask(self, qname, source, timeout=3.0):
        """A query to dnsmasq from source; returns the addresses of the answer."""
        q = h.make_query(qname, "A")
        try:
            r = h.udp(q, self.dm.port, host="::1", source=source, timeout=timeout)
        except dns.exception.Timeout:
            self.fail("no answer from dnsmasq for %s from %s\ndnsmasq log:\n%s\njurisdns log:\n%s"
                      % (qname, source, self.dm.read_log()[-3000:], self.jd.read_log()[-3000:]))
        self.assertEqual(r.rcode(), dns.rcode.NOERROR, str(r))
        return h.rrset_addresses(r)

    def qlog_line(self, qname):
        qname = qname.rstrip(".").lower()
        box = []

        def cond():
            box[:] = [l for l in h.read_jsonl(self.qlog) if l.get("qname") == qname]
            return bool(box)

        h.wait_for(cond, 3.0, what="a query-log line for %s" % qname)
        return box[-1]


class _Forms:
    """The same checks for each form of dnsmasq --add-mac."""

    FORM = None

    def setUp(self):
        self.start_pair(self.FORM)

    def test_blocked_device_gets_the_sinkhole(self):
        name = fresh()
        self.assertEqual(self.ask(name, DEVICE), [SINK],
                         "the device behind dnsmasq was not recognised by its MAC\n" + self.dm.read_log())
        line = self.qlog_line(name)
        self.assertEqual(line.get("mac"), DEVICE_MAC, line)
        self.assertEqual(line.get("action"), "sinkhole", line)

    def test_other_device_gets_the_real_answer_and_its_own_mac(self):
        name = fresh()
        self.assertEqual(self.ask(name, OTHER), [REAL])
        self.assertEqual(self.qlog_line(name).get("mac"), OTHER_MAC)

    def test_the_router_itself_has_no_mac(self):
        name = fresh()
        self.assertEqual(self.ask(name, ROUTER), [REAL])
        self.assertNotIn("mac", self.qlog_line(name))

    def test_mac_option_is_not_sent_upstream(self):
        name = fresh()
        self.assertEqual(self.ask(name, DEVICE), [SINK])
        ups = FAKE.received(name)
        self.assertEqual(len(ups), 1, ups)
        self.assertEqual([o.otype for o in ups[0].options], [],
                         "EDNS options went upstream: %r" % ups[0].options)


class AddMacBinary(_Forms, DnsmasqCase):
    FORM = ""          # option 65001, the 6 bytes


class AddMacBase64(_Forms, DnsmasqCase):
    FORM = "base64"    # option 65073, "qrvM3e4B"


class AddMacText(_Forms, DnsmasqCase):
    FORM = "text"      # option 65073, "aa:bb:cc:dd:ee:01"


class CachingForwarder(DnsmasqCase):
    """dnsmasq caches answers to queries without a MAC and serves them to every device: why
    docs/deployment.md says cache-size=0, and the warning jurisdns logs."""

    def test_dnsmasq_cache_hands_the_blocked_device_the_real_answer(self):
        # what cache-size=0 is for; should dnsmasq ever change, the docs need to follow
        self.start_pair("base64", cache_size=150)
        name = fresh()
        self.assertEqual(self.ask(name, ROUTER), [REAL])
        self.assertEqual(self.ask(name, DEVICE), [REAL],
                         "dnsmasq no longer serves its cache to MAC clients: update "
                         "docs/deployment.md")

    def test_cache_size_0_keeps_the_blocked_device_blocked(self):
        self.start_pair("base64", cache_size=0)
        name = fresh()
        self.assertEqual(self.ask(name, ROUTER), [REAL])
        self.assertEqual(self.ask(name, DEVICE), [SINK])

    def test_one_warning_when_the_forwarder_asks_without_a_mac_for_a_blocked_name(self):
        self.start_pair("base64", cache_size=150)
        # not a warning: a name nobody's rule blocks, and a blocked name asked with a MAC
        self.assertEqual(self.ask(fresh("example.org"), ROUTER), [REAL])
        self.assertEqual(self.ask(fresh(), DEVICE), [SINK])
        self.assertEqual(self.ask(fresh(), OTHER), [REAL])
        time.sleep(0.2)
        self.assertNotIn(WARNING, self.jd.read_log())

        first = fresh()
        self.assertEqual(self.ask(first, ROUTER), [REAL])
        h.wait_for(lambda: WARNING in self.jd.read_log(), 3.0, what="the warning")
        lines = [l for l in self.jd.read_log().splitlines() if WARNING in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("warn", lines[0])
        self.assertIn("trusted forwarder ::1 ", lines[0])
        self.assertIn(first.lower(), lines[0])
        self.assertIn(DEVICE_MAC, lines[0])
        self.assertIn("cache-size=0", lines[0])

        self.assertEqual(self.ask(fresh(), ROUTER), [REAL])
        time.sleep(0.3)
        self.assertEqual(self.jd.read_log().count(WARNING), 1, "warned twice:\n" + self.jd.read_log())


if __name__ == "__main__":
    h.main()
