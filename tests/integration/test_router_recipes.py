#!/usr/bin/python3
"""The router recipes of docs/deployment.md, run as written there: the two nftables rulesets
("Nobody goes around it"), the RPZ file with the canary names and the dnsmasq DHCP
configuration ("The router hands out jurisdns") are read from the document between their
BEGIN/END markers, so that the document and this test cannot drift apart. Only the `define`
values of the rulesets, and the interface, addresses and hook path of the dnsmasq
configuration, are replaced.

The router is made of network namespaces. The module re-executes itself under
`unshare -m -n` (root needed): its own network namespace is the router, and a tmpfs on
/run/netns, private to its mount namespace, holds the named namespaces it creates, so nothing
is left on the host when it exits. Every address is a documentation one, inside these
namespaces only:

    client  eth0 198.51.100.10/26 2001:db8:1::10/64 --- jdlan0 198.51.100.1 2001:db8:1::1  router
    dnsbox  eth0 198.51.100.66/26 2001:db8:2::66/64 --- jddns0 198.51.100.65 2001:db8:2::1 router
    outside eth0 203.0.113.2/24 2001:db8:ff::2/64   --- jdwan0 203.0.113.1 2001:db8:ff::1  router
    outside lo: the hard-coded resolver 192.0.2.53 and 2001:db8:53::53 (DNS on 53, TCP
    listeners on 443 and 853)

Without `nft` (apt-get install nftables), dnsmasq or unshare, or without root, the module is
skipped (exit 77) with the reason."""

import ctypes
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

NETNS_ENV = "JD_TEST_ROUTER_NETNS"
IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = os.environ.get("NFT") or shutil.which("nft") or "/usr/sbin/nft"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
DNSMASQ = os.environ.get("DNSMASQ") or shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def _reexec_in_private_netns():
    """Run this module again in new network and mount namespaces and exit with its status; exit
    77 with the reason when they cannot be had."""
    why = None
    for path, pkg in ((NFT, "nftables"), (DNSMASQ, "dnsmasq-base"), (UNSHARE, "util-linux"),
                      (IP, "iproute2")):
        if not os.access(path, os.X_OK):
            why = "%s not found (apt-get install %s)" % (path, pkg)
            break
    if why is None:
        probe = subprocess.run([UNSHARE, "-m", "-n", "--", NFT, "add", "table", "inet", "probe"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=10)
        if probe.returncode != 0:
            why = ("no private network namespace with nftables here (unshare -m -n needs root): %s"
                   % probe.stdout.strip())
    if why:
        print("SKIP: " + why)
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(77)
    env = dict(os.environ)
    env[NETNS_ENV] = "1"
    rc = subprocess.run([UNSHARE, "-m", "-n", "--propagation", "private", "--", sys.executable,
                         os.path.abspath(__file__)] + sys.argv[1:], env=env,
                        timeout=300).returncode
    sys.exit(rc)


if __name__ == "__main__" and os.environ.get(NETNS_ENV) != "1":
    _reexec_in_private_netns()

import dns.exception
import dns.rcode

import harness as h

try:
    import redis
except ImportError:
    redis = None

CLIENT4, CLIENT6 = "198.51.100.10", "2001:db8:1::10"
ROUTER_LAN4, ROUTER_LAN6 = "198.51.100.1", "2001:db8:1::1"
BOX4, BOX6 = "198.51.100.66", "2001:db8:2::66"
OUTSIDE_WAN4 = "203.0.113.2"
ROUTER_WAN4 = "203.0.113.1"
HARD4, HARD6 = "192.0.2.53", "2001:db8:53::53"   # the resolver hard-coded in the device
PUBLIC_ANSWER = "203.0.113.80"                    # what the outside resolver answers
CLIENT_MAC = "02:00:00:00:00:10"

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def src_dir():
    return os.environ.get("abs_top_srcdir") or h.REPO


def doc_block(name):
    """The indented block between <!-- BEGIN name ... --> and <!-- END name --> in
    docs/deployment.md, without its indentation."""
    path = os.path.join(src_dir(), "docs", "deployment.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- BEGIN %s\b[^>]*-->\n(.*?)\n<!-- END %s -->" % (re.escape(name),
                                                                         re.escape(name)),
                  text, re.S)
    if not m:
        raise AssertionError("%s: no BEGIN/END %s block" % (path, name))
    return textwrap.dedent(m.group(1)).strip("\n") + "\n"


def ruleset(name, defines):
    """The nft ruleset of the document with the values of its defines replaced. Every define
    the test sets must be there, and no other."""
    text = doc_block(name)
    seen = []

    def repl(m):
        seen.append(m.group(1))
        if m.group(1) not in defines:
            raise AssertionError("docs/deployment.md %s: unexpected define %s" % (name, m.group(1)))
        return "define %s = %s" % (m.group(1), defines[m.group(1)])

    text = re.sub(r"^define (\w+) = [^#\n]*?(?=\s*(#|$))", repl, text, flags=re.M)
    if sorted(seen) != sorted(defines):
        raise AssertionError("docs/deployment.md %s: defines %s, the test expects %s"
                             % (name, seen, sorted(defines)))
    return text


def run(argv, timeout=10, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stdout.strip()))
    return r


def ip(*args, ns=None):
    return run([IP] + (["-n", ns] if ns else []) + list(args))


class netns:
    """`with netns("jdclient"):` the calling thread is in that namespace; sockets and processes
    made in the block stay there."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + self.name)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.back, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.back)


def sysctl(key, value, ns=None):
    argv = ["sysctl", "-q", "-w", "%s=%s" % (key, value)]
    run([IP, "netns", "exec", ns] + argv if ns else argv)


LINKS = (  # router side, namespace, router addresses, peer addresses
    ("jdlan0", "jdclient", (ROUTER_LAN4 + "/26", ROUTER_LAN6 + "/64"),
     (CLIENT4 + "/26", CLIENT6 + "/64")),
    ("jddns0", "jddnsbox", ("198.51.100.65/26", "2001:db8:2::1/64"), (BOX4 + "/26", BOX6 + "/64")),
    ("jdwan0", "jdoutside", (ROUTER_WAN4 + "/24", "2001:db8:ff::1/64"),
     (OUTSIDE_WAN4 + "/24", "2001:db8:ff::2/64")),
)

OUTSIDE = []    # the outside resolver (IPv4 and IPv6) and its TCP listeners


def setUpModule():
    if os.environ.get(NETNS_ENV) != "1":
        raise unittest.SkipTest("run as a script: it needs its own network namespaces")
    h.require_binary()
    os.makedirs("/run/netns", exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "jd-test-netns", "/run/netns"])
    ip("link", "set", "lo", "up")
    sysctl("net.ipv4.ip_forward", 1)
    sysctl("net.ipv6.conf.all.forwarding", 1)
    for rdev, ns, raddrs, paddrs in LINKS:
        ip("netns", "add", ns)
        ip("link", "set", "lo", "up", ns=ns)
        ip("link", "add", rdev, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sysctl("net.ipv6.conf.eth0.accept_ra", 0, ns=ns)
        for a in raddrs:
            ip("addr", "add", a, "dev", rdev, *(["nodad"] if ":" in a else []))
        for a in paddrs:
            ip("addr", "add", a, "dev", "eth0", *(["nodad"] if ":" in a else []), ns=ns)
        ip("link", "set", rdev, "up")
        ip("link", "set", "eth0", "up", ns=ns)
        if ns == "jdclient":
            ip("link", "set", "eth0", "address", CLIENT_MAC, ns=ns)
        ip("route", "add", "default", "via", raddrs[0].split("/")[0], ns=ns)
        ip("-6", "route", "add", "default", "via", raddrs[1].split("/")[0], ns=ns)
    # the Internet is behind jdwan0; the hard-coded resolver lives on the outside's lo
    ip("route", "add", "default", "via", OUTSIDE_WAN4)
    ip("-6", "route", "add", "default", "via", "2001:db8:ff::2")
    ip("addr", "add", HARD4 + "/32", "dev", "lo", ns="jdoutside")
    ip("addr", "add", HARD6 + "/128", "dev", "lo", ns="jdoutside")
    with netns("jdoutside"):
        for host in (HARD4, HARD6):
            OUTSIDE.append(h.FakeUpstream(address=PUBLIC_ANSWER, host=host, port=53).start())
            for port in (443, 853):
                s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
                s.listen(64)
                OUTSIDE.append(s)
    # a link just brought up can lose the first IPv6 neighbour solicitations: wait until every
    # namespace reaches the outside (no rules are loaded yet)
    for ns in ("jdclient", "jddnsbox"):
        for host in (HARD4, HARD6):
            h.wait_for(lambda: tcp_reaches(host, 853, 0.3, ns), 10, interval=0.1,
                       what="%s reaching %s:853" % (ns, host))


def tearDownModule():
    for o in OUTSIDE:
        if isinstance(o, socket.socket):
            o.close()
        else:
            o.stop()
    run([NFT, "flush", "ruleset"], check=False)


def nft_load(text, tmp):
    path = tmp.file("jurisdns.nft")
    with open(path, "w") as f:
        f.write(text)
    r = run([NFT, "-f", path], check=False)
    if r.returncode != 0:
        raise AssertionError("nft -f failed: %s\n%s" % (r.stdout, text))


def tcp_reaches(host, port, timeout=1.0, ns="jdclient"):
    """From the client: True when a TCP connection to host:port is accepted, False when it is
    refused (or times out)."""
    with netns(ns):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return True
    except (ConnectionRefusedError, socket.timeout, OSError):
        return False
    finally:
        s.close()


_n = [0]


def fresh(suffix="router.test"):
    _n[0] += 1
    return "r%d-%d.%s." % (_n[0], time.monotonic_ns() % 1000000, suffix)


class RouterCase(h.JDTestCase):
    """Flushes the router's ruleset before and after each test."""

    def setUp(self):
        run([NFT, "flush", "ruleset"])
        self.addCleanup(run, [NFT, "flush", "ruleset"], 10, False)
        self.tmp = h.TempDir("jd-router-")
        self.addCleanup(self.tmp.cleanup)
        for o in OUTSIDE:
            if not isinstance(o, socket.socket):
                o.clear()

    def start_jurisdns(self, ns=None, rpz=None):
        """jurisdns on 0.0.0.0:53 and [::]:53 (in namespace ns, else the router), forwarding
        to the outside resolver, query log of every query."""
        self.qlog = self.tmp.file("query-%s.log" % (ns or "router"))
        policy = {"default_mode": "log"}
        if rpz:
            path = self.tmp.file("bypass.rpz")
            with open(path, "w") as f:
                f.write(rpz)
            policy["rpz"] = path
        jd = h.Jurisdns(upstreams=[HARD4 + ":53"], tmp=self.tmp,
                        server={"listen": ["0.0.0.0:53", "[::]:53"],
                                "allow": ["127.0.0.0/8", "::1/128", "198.51.100.0/24",
                                          "2001:db8::/32"]},
                        log={"query_log": self.qlog, "query_log_mode": "all"}, policy=policy)
        self.addCleanup(jd.kill)
        if ns:
            with netns(ns):
                jd.start(wait=False)
                jd.wait_ready(port=53, host="127.0.0.1")
        else:
            jd.start(wait=False)
            jd.wait_ready(port=53, host="127.0.0.1")
        self.addCleanup(jd.stop)
        self.jd = jd
        return jd

    def ask(self, qname, server, transport="udp", timeout=2.0):
        """From the client to server:53; None when nothing came back."""
        q = h.make_query(qname, "A")
        with netns("jdclient"):
            try:
                if transport == "udp":
                    return h.udp(q, 53, host=server, timeout=timeout)
                return h.tcp(q, 53, host=server, timeout=timeout)
            except (dns.exception.Timeout, OSError):
                return None

    def qlog_client(self, qname):
        qname = qname.rstrip(".").lower()
        box = []

        def cond():
            box[:] = [l for l in h.read_jsonl(self.qlog) if l.get("qname") == qname]
            return bool(box)

        h.wait_for(cond, 3.0, what="a query-log line for %s; log:\n%s"
                   % (qname, self.jd.read_log()[-2000:]))
        return box[-1].get("client")

    def outside_sources(self, qname):
        return sorted({q.src[0] for o in OUTSIDE if not isinstance(o, socket.socket)
                       for q in o.received(qname)})

    def assert_redirected(self, transports=("udp", "tcp")):
        """Queries to the hard-coded resolver, IPv4 and IPv6, UDP and TCP, are answered by
        jurisdns (its query log has the client's own address), which asks the outside."""
        for server, client in ((HARD4, CLIENT4), (HARD6, CLIENT6)):
            for transport in transports:
                with self.subTest(server=server, transport=transport):
                    name = fresh()
                    r = self.ask(name, server, transport)
                    self.assertIsNotNone(r, "no answer from %s over %s; jurisdns log:\n%s"
                                         % (server, transport, self.jd.read_log()[-2000:]))
                    self.assertEqual(r.rcode(), dns.rcode.NOERROR, str(r))
                    self.assertEqual(h.rrset_addresses(r), [PUBLIC_ANSWER])
                    self.assertEqual(self.qlog_client(name), client,
                                     "jurisdns did not see the client's own address")
                    srcs = self.outside_sources(name)
                    self.assertNotIn(client, srcs, "the client reached the outside resolver")

    def assert_bypass_refused(self):
        for host in (HARD4, HARD6):
            with self.subTest(host=host):
                self.assertFalse(tcp_reaches(host, 853), "DoT to %s:853 got through" % host)
                # 443 to an address outside the DoH sets is other HTTPS: left alone
                self.assertTrue(tcp_reaches(host, 443), "HTTPS to %s:443 was blocked" % host)


class WithoutRules(RouterCase):
    """The control: without the rules the client goes around jurisdns."""

    def test_the_hard_coded_resolver_and_port_853_are_reached(self):
        self.start_jurisdns()
        for server, client in ((HARD4, CLIENT4), (HARD6, CLIENT6)):
            name = fresh()
            r = self.ask(name, server)
            self.assertIsNotNone(r)
            self.assertEqual(self.outside_sources(name), [client])
            self.assertEqual([l for l in h.read_jsonl(self.qlog)
                              if l.get("qname") == name.rstrip(".")], [])
            self.assertTrue(tcp_reaches(server, 853))


class OnRouter(RouterCase):
    """docs/deployment.md, "jurisdns (or dnsmasq in front of it) on the router itself"."""

    def load(self):
        nft_load(ruleset("nft-on-router", {"lan_if": '{ "jdlan0" }', "dns_port": "53"}), self.tmp)

    def test_port_53_to_anywhere_is_answered_by_jurisdns(self):
        self.start_jurisdns()
        self.load()
        self.assert_redirected()
        # jurisdns's own queries start on the router: they reach the outside untouched
        name = fresh()
        self.assertIsNotNone(self.ask(name, HARD4))
        self.assertEqual(self.outside_sources(name), [ROUTER_WAN4])

    def test_loading_the_file_again_replaces_the_table(self):
        self.start_jurisdns()
        self.load()
        self.load()
        listing = run([NFT, "list", "table", "inet", "jurisdns"]).stdout
        self.assertEqual(listing.count("redirect to"), 1, listing)
        self.assert_redirected(transports=("udp",))

    def test_dot_is_refused_and_other_https_is_not(self):
        self.load()
        self.assert_bypass_refused()

    def test_doh_to_an_address_in_the_set_is_refused(self):
        self.load()
        self.assertTrue(tcp_reaches(HARD4, 443))
        run([NFT, "add", "element", "inet", "jurisdns", "doh_v4", "{ %s }" % HARD4])
        run([NFT, "add", "element", "inet", "jurisdns", "doh_v6", "{ %s }" % HARD6])
        self.assertFalse(tcp_reaches(HARD4, 443))
        self.assertFalse(tcp_reaches(HARD6, 443))

    def test_the_canary_names_of_the_rpz_file_are_nxdomain(self):
        self.start_jurisdns(rpz=doc_block("rpz-bypass"))
        self.load()
        for name in ("use-application-dns.net.", "mask.icloud.com.", "mask-h2.icloud.com."):
            with self.subTest(name=name):
                r = self.ask(name, HARD4)
                self.assertIsNotNone(r)
                self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN, str(r))
        self.assertEqual(self.outside_sources("use-application-dns.net."), [])
        r = self.ask(fresh(), HARD4)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)

    def test_the_router_does_not_answer_the_internet(self):
        self.start_jurisdns()
        q = h.make_query(fresh(), "A")
        with netns("jdoutside"):
            # the control: the wildcard listener would answer (allow does not cover the
            # outside: REFUSED) before the rules, nothing after
            r = h.udp(q, 53, host=ROUTER_WAN4, timeout=2.0)
            self.assertEqual(r.rcode(), dns.rcode.REFUSED)
        self.load()
        with netns("jdoutside"):
            with self.assertRaises(dns.exception.Timeout):
                h.udp(q, 53, host=ROUTER_WAN4, timeout=0.7)


class SeparateBox(RouterCase):
    """docs/deployment.md, "jurisdns on another machine": jurisdns in the namespace jddnsbox
    behind the router's jddns0. jddns0 is one of the lan_if interfaces here, so that without
    the `saddr !=` exception jurisdns's own upstream queries would be sent back to it."""

    def load(self):
        nft_load(ruleset("nft-separate-box", {"lan_if": '{ "jdlan0", "jddns0" }',
                                              "jurisdns_v4": BOX4, "jurisdns_v6": BOX6}),
                 self.tmp)

    def test_port_53_to_anywhere_is_answered_by_the_jurisdns_box(self):
        self.start_jurisdns(ns="jddnsbox")
        self.load()
        self.assert_redirected()
        name = fresh()
        self.assertIsNotNone(self.ask(name, HARD6))
        # jurisdns asks its upstream (the outside, over IPv4) from the box: not sent back
        self.assertEqual(self.outside_sources(name), [BOX4])

    def test_dot_is_refused_and_other_https_is_not(self):
        self.load()
        self.assert_bypass_refused()


# ---- DHCP: the dnsmasq configuration of "The router hands out jurisdns" ----------------------

def dhcp_discover_request(timeout=3.0):
    """A DHCPv4 client on the client's eth0 (broadcast flag set, so that the server broadcasts
    its replies): DISCOVER, OFFER, REQUEST, ACK. Returns (address, options of the ACK)."""
    import random
    mac = bytes.fromhex(CLIENT_MAC.replace(":", ""))
    with netns("jdclient"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        s.bind(("0.0.0.0", 68))
        s.settimeout(timeout)
        xid = random.getrandbits(32)

        def packet(mtype, opts):
            head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                               bytes(4), bytes(4), bytes(4), bytes(4), mac.ljust(16, b"\0"),
                               b"", b"")
            o = b"\x63\x82\x53\x63" + bytes([53, 1, mtype])
            for code, val in opts:
                o += bytes([code, len(val)]) + val
            return head + o + b"\xff"

        def reply(want):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = s.recvfrom(2048)[0]
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
            raise AssertionError("no DHCP message %d" % want)

        hn = [(12, b"camera")]
        s.sendto(packet(1, hn), ("255.255.255.255", 67))
        yiaddr, opts = reply(2)
        s.sendto(packet(3, hn + [(50, socket.inet_aton(yiaddr)), (54, opts[54])]),
                 ("255.255.255.255", 67))
        return reply(5)
    finally:
        s.close()


@unittest.skipIf(redis is None, "python3-redis is missing")
class DhcpRecipe(h.RedisTestCase, RouterCase):
    """The dnsmasq configuration of the document, with the router's interface and addresses:
    the lease's DNS server (option 6) is jurisdns, and the hook writes the lease to Redis."""

    def setUp(self):
        RouterCase.setUp(self)
        h.RedisTestCase.setUp(self)

    def test_the_lease_names_jurisdns_and_reaches_redis(self):
        conf = doc_block("dnsmasq-dhcp")
        hook = os.path.join(src_dir(), "contrib", "dhcp", "jurisdns-dnsmasq-hook")
        subst = {"lan0": "jdlan0",
                 "192.168.1.100,192.168.1.199": "198.51.100.20,198.51.100.30",
                 "option:dns-server,192.168.1.1": "option:dns-server," + ROUTER_LAN4,
                 "[fd00:1::1]": "[%s]" % ROUTER_LAN6,
                 "/usr/libexec/jurisdns/jurisdns-dnsmasq-hook": hook}
        for old, new in subst.items():
            self.assertIn(old, conf, "docs/deployment.md dnsmasq-dhcp changed: update the test")
            conf = conf.replace(old, new)
        path = self.tmp.file("jurisdns-dhcp.conf")
        with open(path, "w") as f:
            f.write(conf)
        log = self.tmp.file("dnsmasq.log")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "JURISDNS_REDIS": "unix:" + self.redis.sock,
               "JURISDNS_DHCP_HOOK_CONF": self.tmp.file("no-such.conf")}
        proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--conf-file=" + path, "--no-ping",
             "--dhcp-leasefile=" + self.tmp.file("leases"), "--pid-file=", "--user=root",
             "--log-dhcp", "--log-facility=" + log],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.addCleanup(h.stop_process, proc)

        def dm_log():
            try:
                with open(log) as f:
                    return f.read()[-3000:]
            except OSError:
                return ""

        h.wait_for(lambda: proc.poll() is not None or "DHCP, IP range" in dm_log(), 5,
                   what="dnsmasq started")
        self.assertIsNone(proc.poll(), dm_log())
        addr, opts = dhcp_discover_request()
        self.assertEqual(opts.get(6), socket.inet_aton(ROUTER_LAN4),
                         "option 6 is not jurisdns; dnsmasq log:\n" + dm_log())
        key = "jurisdns:{policy}:lease:" + addr
        h.wait_for(lambda: self.r.exists(key), 5, interval=0.05,
                   what="the lease of %s in Redis; dnsmasq log:\n%s" % (addr, dm_log()))
        self.assertEqual(self.r.hget(key, "mac"), CLIENT_MAC)
        self.assertEqual(self.r.hget(key, "hostname"), "camera")
        self.assertEqual(self.r.hget(key, "source"), "dnsmasq")


if __name__ == "__main__":
    h.main()
