"""Shared helpers for the jurisdns integration tests.

Only the standard library and dnspython (Debian's python3-dnspython) are used.

- free_port(): a port number that is free on 127.0.0.1 for UDP and TCP.
- Knot: an authoritative knotd serving tests/zones/test.zone (zone example.test.).
- FakeUpstream: a scriptable DNS server (UDP + TCP) running in a thread, recording every query.
- Jurisdns: the daemon under test, started from a generated config file.
- udp()/tcp()/raw_udp()/raw_tcp()/tcp_send_frames(): client helpers.
- RedisServer: redis-server on a unix socket in a temp dir (python3-redis for its client).
- TestCA, Dnsdist: a CA and certificates made with the openssl command; dnsdist with DoT and DoH
  frontends in front of a plain backend (an encrypted upstream that no one here wrote).

- LoggedProcess: the base of Knot, RedisServer, Dnsdist and Jurisdns (log file, bounded
  readiness loop, stop by PID).
- start_knot()/stop_knot(), make_daemon(), JDTestCase.daemon()/tls_daemon(),
  ClassDaemonTestCase: the set-up the test modules share (see README.md, "Shared set-up").

Every process started here is stopped by its PID; every wait is bounded.

Environment:
  JURISDNS_BIN      path of the daemon (default $abs_top_builddir/src/jurisdns, else
                    <repo>/src/jurisdns)
  abs_top_builddir  automake's build dir (set by `make check`)
  abs_top_srcdir    automake's source dir (the zones are in $abs_top_srcdir/tests/zones)
  KNOTD             path of knotd (default /usr/sbin/knotd)
  JD_TEST_KEEP      if set, temporary directories are kept (for debugging)
"""

import heapq
import os
import random
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

ZONE_ORIGIN = "example.test."


def _first_existing(*paths):
    for p in paths:
        if p and os.path.exists(p):
            return p
    return paths[-1]


def _tree_path(env_dir, *parts):
    """$env_dir/parts when that variable is set and the path exists, else <repo>/parts."""
    cands = []
    if os.environ.get(env_dir):
        cands.append(os.path.join(os.environ[env_dir], *parts))
    cands.append(os.path.join(REPO, *parts))
    return _first_existing(*cands)


def _built(override, *parts):
    """$override when set, else the build dir's (or the repo's) parts."""
    return os.environ.get(override) or _tree_path("abs_top_builddir", *parts)


def jurisdns_bin():
    return _built("JURISDNS_BIN", "src", "jurisdns")


def ctl_bin():
    return _built("JURISDNS_CTL", "src", "jurisdns-ctl")


def zone_dir():
    return _tree_path("abs_top_srcdir", "tests", "zones")


KNOTD = os.environ.get("KNOTD", "/usr/sbin/knotd")

# knotd's extra zones of the policy tests: tests/zones/policy.zone (policy.test.: cn.policy.test
# is "PRC hosted:CN", ali-de.policy.test "PRC operator:AS45102", de.policy.test has no label)
# and tests/zones/tuyaeu.zone (tuyaeu.com., a vendor cloud domain)
POLICY_ZONES = [("policy.test.", os.path.join(zone_dir(), "policy.zone")),
                ("tuyaeu.com.", os.path.join(zone_dir(), "tuyaeu.zone"))]

# the policy tests' own PRC group: AS4134 (CHINANET, 192.0.2.0/26 in the GeoIP fixture) is
# deliberately not listed, so a CN address of it is "hosted:CN" only and 192.0.2.192/26 (DE,
# AS45102) is "operator:AS45102" only
PRC_GROUPS = ("[jurisdiction PRC]\n"
              "countries = CN HK MO\n"
              "asns = 45102\n"
              "domains = tuyaeu.com\n")


def shipped_groups():
    """Path of the shipped zones/jurisdictions.conf in the source tree."""
    src = os.environ.get("abs_top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "..", "..")
    return os.path.join(src, "zones", "jurisdictions.conf")


def require_binary(testcase_cls=None):
    """Fail when the daemon binary is missing: a suite that skips silently proves nothing."""
    b = jurisdns_bin()
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        raise RuntimeError("jurisdns binary not found at %s (build it, or set JURISDNS_BIN)" % b)
    return b


def require_knotd():
    if not (os.path.isfile(KNOTD) and os.access(KNOTD, os.X_OK)):
        raise RuntimeError("knotd not found at %s (apt-get install knot, or set KNOTD)" % KNOTD)


def require_redis():
    """python3-redis and redis-server ($REDIS_SERVER), else RuntimeError (for setUpModule)."""
    import importlib.util
    if importlib.util.find_spec("redis") is None:   # python3-redis: only these tests need it
        raise RuntimeError("python3-redis is missing (apt-get install python3-redis)")
    if not (os.path.isfile(REDIS_SERVER) and os.access(REDIS_SERVER, os.X_OK)):
        raise RuntimeError("redis-server not found at %s (apt-get install redis-server, or set "
                           "REDIS_SERVER)" % REDIS_SERVER)


def require_ctl():
    """The path of jurisdns-ctl, else RuntimeError (for setUpModule)."""
    c = ctl_bin()
    if not (os.path.isfile(c) and os.access(c, os.X_OK)):
        raise RuntimeError("jurisdns-ctl not built at %s (make src/jurisdns-ctl)" % c)
    return c


# --------------------------------------------------------------------------------------------
# ports, temp dirs
# --------------------------------------------------------------------------------------------

_port_lock = threading.Lock()
_ports_given = set()


_port_rng = random.Random(os.getpid() ^ int(time.time() * 1000))


def free_port(host="127.0.0.1"):
    """A port that is free for both UDP and TCP on host. Chosen below the kernel's ephemeral
    range (32768-60999), where the client and upstream sockets of tests running in parallel
    take their ports: a port handed out here cannot be taken by one of those before it is
    bound."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = _port_rng.randrange(10000, 32000)
        with _port_lock:
            if port in _ports_given:
                continue
        t = socket.socket(fam, socket.SOCK_STREAM)
        u = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            t.bind((host, port))
            u.bind((host, port))
        except OSError:
            continue
        finally:
            t.close()
            u.close()
        with _port_lock:
            _ports_given.add(port)
        return port
    raise RuntimeError("no free port found")


class TempDir:
    def __init__(self, prefix="jd-test-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        if os.environ.get("JD_TEST_KEEP"):
            sys.stderr.write("keeping %s\n" % self.path)
            return
        shutil.rmtree(self.path, ignore_errors=True)


def wait_for(cond, timeout, interval=0.02, what="condition"):
    """Poll cond() until it returns a true value; bounded by timeout seconds. what names the
    condition in the failure (a callable: called then, so that it can show the state)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what() if callable(what) else what))
        time.sleep(interval)


def write_file(path, text):
    """Write text to path (making its directory); returns path."""
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def http_raw(port, request, timeout=3.0, host="127.0.0.1"):
    """Send the raw bytes of one HTTP request; return all bytes until the server closes."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        for _ in range(1000):  # bounded: the server closes after one response
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def port_open(port, host="127.0.0.1", source=None):
    """True when a TCP connection to host:port (from source, an address) is accepted (within
    0.2 s)."""
    try:
        socket.create_connection((host, port), timeout=0.2,
                                 source_address=(source, 0) if source else None).close()
        return True
    except OSError:
        return False


def stop_process(proc, timeout=5.0):
    """SIGTERM, wait, then SIGKILL. Returns (exit code, killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return proc.returncode, True


class LoggedProcess:
    """A process we started, its stdout+stderr in the file .log, stopped by its PID (SIGTERM,
    bounded wait, SIGKILL). Subclasses set .log and start it with _spawn()."""

    proc = None
    log = None
    _logf = None

    def _spawn(self, argv, mode="ab"):
        self._logf = open(self.log, mode)
        self.proc = subprocess.Popen(argv, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return self.proc

    def _wait_up(self, name, probe, timeout, what, interval=0.05, on_timeout=None):
        """Poll probe() (an exception counts as "not yet") until it is true, bounded by timeout.
        RuntimeError with the log when the process exits first or the time runs out (then it is
        stopped, with on_timeout when given)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (name, self.proc.returncode,
                                                               self.read_log()))
            try:
                if probe():
                    return self
            except Exception:
                pass
            if time.monotonic() >= deadline:
                log = self.read_log()
                (on_timeout or self.stop)()
                raise RuntimeError("%s did not %s within %.0fs:\n%s" % (name, what, timeout, log))
            time.sleep(interval)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _close_log(self):
        if self._logf:
            self._logf.close()
            self._logf = None

    def _terminate(self, timeout=5.0):
        """Stop the process by PID and close its log: (exit code, killed); (None, False) when
        none was running."""
        proc, self.proc = self.proc, None
        try:
            return stop_process(proc, timeout) if proc is not None else (None, False)
        finally:
            self._close_log()

    def stop(self):
        self._terminate(5.0)


# --------------------------------------------------------------------------------------------
# client helpers
# --------------------------------------------------------------------------------------------

def edns_query(qname, qtype="A", edns=True, **kw):
    """make_query() with EDNS (version 0) unless edns is False."""
    if edns:
        kw.setdefault("edns", 0)
    return make_query(qname, qtype, **kw)


def ask_from(jd, qname, qtype="A", source="127.0.0.1", transport="udp", timeout=3.0, edns=True,
             **kw):
    """(query, response) of an edns_query() to the daemon jd from the source address."""
    q = edns_query(qname, qtype, edns=edns, **kw)
    if transport == "udp":
        return q, udp(q, jd.port, source=source, timeout=timeout)
    return q, tcp(q, jd.port, source=source, timeout=timeout)


_fresh_n = [0]


def fresh_name(prefix, suffix):
    """A name nobody asked before (a cache miss of its own): PREFIX<n>-<time>.SUFFIX."""
    _fresh_n[0] += 1
    return "%s%d-%d.%s" % (prefix, _fresh_n[0], time.monotonic_ns() % 1000000, suffix)


def make_query(qname, qtype="A", *, rd=True, cd=False, ad=False, edns=None, payload=1232,
               do=False, options=None, qid=None):
    """A dns.message.Message query. edns: None = no OPT unless do/options need one; 0 = OPT v0."""
    q = dns.message.make_query(qname, qtype, use_edns=False)
    if qid is not None:
        q.id = qid
    if not rd:
        q.flags &= ~dns.flags.RD
    if cd:
        q.flags |= dns.flags.CD
    if ad:
        q.flags |= dns.flags.AD
    if edns is None and (do or options):
        edns = 0
    if edns is not None:
        q.use_edns(edns, dns.flags.DO if do else 0, payload, options=options or [])
    return q


def udp(q, port, host="127.0.0.1", timeout=3.0, source=None, ignore_unexpected=False):
    """Send a dnspython query over UDP, return the parsed response (raises dns.exception.Timeout)."""
    return dns.query.udp(q, host, port=port, timeout=timeout, source=source,
                         ignore_unexpected=ignore_unexpected)


def tcp(q, port, host="127.0.0.1", timeout=5.0, source=None):
    return dns.query.tcp(q, host, port=port, timeout=timeout, source=source)


def query(qname, qtype="A", port=None, transport="udp", host="127.0.0.1", **kw):
    timeout = kw.pop("timeout", 3.0)
    q = make_query(qname, qtype, **kw)
    if transport == "udp":
        return udp(q, port, host=host, timeout=timeout)
    return tcp(q, port, host=host, timeout=timeout)


def raw_udp(data, port, host="127.0.0.1", timeout=1.0, source=None, expect_reply=True):
    """Send raw bytes; return the reply bytes or None when nothing came within timeout."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(data, (host, port))
        if not expect_reply and timeout == 0:
            return None
        try:
            return s.recvfrom(65535)[0]
        except socket.timeout:
            return None
    finally:
        s.close()


def recv_exact(sock, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("recv_exact timed out (%d of %d bytes)" % (len(buf), n))
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def tcp_read_msg(sock, timeout=3.0):
    """Read one length-prefixed DNS message; returns bytes."""
    deadline = time.monotonic() + timeout
    (n,) = struct.unpack("!H", recv_exact(sock, 2, deadline))
    return recv_exact(sock, n, deadline)


def tcp_connect(port, host="127.0.0.1", timeout=3.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def raw_tcp(data, port, host="127.0.0.1", timeout=2.0, nreplies=1):
    """Send raw bytes (caller frames them) on a fresh connection; return list of reply bytes
    (fewer than nreplies when the server closed or went silent)."""
    s = tcp_connect(port, host, timeout)
    out = []
    try:
        s.sendall(data)
        for _ in range(nreplies):
            try:
                out.append(tcp_read_msg(s, timeout))
            except (socket.timeout, ConnectionError, OSError):
                break
    finally:
        s.close()
    return out


def is_closed(sock, timeout):
    """True when the peer closes the connection (EOF or reset) within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = sock.recv(4096)
        except socket.timeout:
            return False
        except (ConnectionResetError, OSError):
            return True
        if not d:
            return True
    return False


def rrset_addresses(msg, rdtype=dns.rdatatype.A):
    out = []
    for rrset in msg.answer:
        if rrset.rdtype == rdtype:
            out.extend(r.address for r in rrset)
    return sorted(out)


def answer_ttl(msg, rdtype=dns.rdatatype.A):
    for rrset in msg.answer:
        if rrset.rdtype == rdtype:
            return rrset.ttl
    raise AssertionError("no %s rrset in answer:\n%s" % (dns.rdatatype.to_text(rdtype), msg))


def header_flags(wire):
    return struct.unpack("!H", wire[2:4])[0]


# the owner and mailbox of the SOA record jurisdns writes into the answers it makes up
SYNTH_SOA_MNAME = dns.name.from_text("jurisdns.invalid.")
SYNTH_SOA_RNAME = dns.name.from_text("nobody.invalid.")


def ede_of(r):
    """[(code, text)] of a response's Extended DNS Error options."""
    return [(o.code, o.text) for o in r.options if isinstance(o, dns.edns.EDEOption)]


# --------------------------------------------------------------------------------------------
# knotd
# --------------------------------------------------------------------------------------------

REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")


class RedisServer(LoggedProcess):
    """redis-server on a unix socket in its own directory (no TCP port, no persistence), run in
    the foreground and stopped by its PID. start() again after stop()/kill() gives an EMPTY
    server on the same socket path."""

    def __init__(self, tmp, args=(), password=None):
        self.dir = tmp.file("redis")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.log = os.path.join(self.dir, "redis.log")
        self.args = list(args)
        self.password = password

    @property
    def address(self):
        return "unix:" + self.sock

    def client(self, password=None, socket_timeout=3.0, **kw):
        import redis  # python3-redis: only the Redis tests need it
        return redis.Redis(unix_socket_path=self.sock, decode_responses=True,
                           password=password if password is not None else self.password,
                           socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
                           **kw)

    def start(self, timeout=10.0):
        argv = [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", self.dir] + self.args
        if self.password and "--requirepass" not in self.args:
            argv += ["--requirepass", self.password]
        self._spawn(argv)
        return self._wait_up("redis-server", self._pong, timeout, "answer PING", interval=0.02,
                             on_timeout=self.kill)

    def _pong(self):
        c = self.client(socket_timeout=0.3)
        try:
            return c.ping()
        finally:
            c.close()

    def kill(self):
        """SIGKILL by PID: no goodbye to the clients, the socket file stays behind."""
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
            self._close_log()




class RedisTestCase(unittest.TestCase):
    """One redis-server per class (started again if a test left it dead), flushed before every
    test; self.r is a client for the test."""

    redis_args = ()
    redis_password = None
    redis_tmp_prefix = "jd-redis-"

    @classmethod
    def setUpClass(cls):
        cls.rtmp = TempDir(cls.redis_tmp_prefix)
        cls.redis = RedisServer(cls.rtmp, cls.redis_args, cls.redis_password)
        try:
            cls.redis.start()
        except BaseException:
            cls.redis.kill()
            cls.rtmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.redis.stop()
        finally:
            cls.rtmp.cleanup()

    def setUp(self):
        if not self.redis.alive():
            self.redis.start()
        self.r = self.redis.client()
        self.addCleanup(self.r.close)
        self.r.flushall()


class Knot(LoggedProcess):
    """knotd serving example.test. from tests/zones/test.zone on 127.0.0.1:port."""

    def __init__(self, tmp=None, zone_file=None, extra_zones=()):
        """extra_zones: (origin, zone file) pairs served next to example.test."""
        require_knotd()
        self._own_tmp = tmp is None
        self.tmp = tmp or TempDir("jd-knot-")
        self.dir = os.path.join(self.tmp.path, "knot")
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        self.port = free_port()
        self.zone_file = zone_file or os.path.join(zone_dir(), "test.zone")
        self.extra_zones = [(o if o.endswith(".") else o + ".", f) for o, f in extra_zones]
        self.conf = os.path.join(self.dir, "knot.conf")
        self.log = os.path.join(self.dir, "knotd.log")

    def _write_conf(self):
        # The zone file is copied so that knotd never writes into the source tree.
        zf = os.path.join(self.dir, "example.test.zone")
        shutil.copyfile(self.zone_file, zf)
        with open(self.conf, "w") as f:
            f.write(
                "server:\n"
                "    rundir: \"%(d)s\"\n"
                "    listen: 127.0.0.1@%(port)d\n"
                "    udp-workers: 1\n"
                "    tcp-workers: 1\n"
                "    background-workers: 1\n"
                "database:\n"
                "    storage: \"%(d)s/db\"\n"
                "control:\n"
                "    listen: \"%(d)s/knot.sock\"\n"
                "log:\n"
                "  - target: stderr\n"
                "    any: notice\n"
                "zone:\n"
                "  - domain: example.test.\n"
                "    file: \"%(zf)s\"\n"
                "    zonefile-sync: -1\n"
                "    zonefile-load: whole\n"
                "    journal-content: none\n"
                % {"d": self.dir, "port": self.port, "zf": zf})
            for origin, src in self.extra_zones:
                ezf = os.path.join(self.dir, "%szone" % origin)
                shutil.copyfile(src, ezf)
                f.write("  - domain: %s\n"
                        "    file: \"%s\"\n"
                        "    zonefile-sync: -1\n"
                        "    zonefile-load: whole\n"
                        "    journal-content: none\n" % (origin, ezf))

    def start(self, timeout=10.0):
        self._write_conf()
        self._spawn([KNOTD, "-c", self.conf], mode="wb")
        return self._wait_up("knotd", self._zones_loaded, timeout, "answer the SOA queries")

    def _zones_loaded(self):
        for origin in [ZONE_ORIGIN] + [o for o, _ in self.extra_zones]:
            r = udp(make_query(origin, "SOA", rd=False), self.port, timeout=0.2)
            if r.rcode() != dns.rcode.NOERROR or not r.answer:
                return False
        return True

    def stop(self):
        self._terminate(5.0)
        if self._own_tmp:
            self.tmp.cleanup()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port


# --------------------------------------------------------------------------------------------
# fake upstream
# --------------------------------------------------------------------------------------------

class UpQuery:
    """One query received by FakeUpstream."""

    def __init__(self, transport, msg, wire, src):
        self.transport = transport          # "udp" or "tcp"
        self.time = time.monotonic()
        self.src = src
        self.sport = src[1] if transport == "udp" and src else None   # the sender's UDP port
        self.wire = wire
        self.id = msg.id
        self.flags = msg.flags
        q = msg.question[0] if len(msg.question) else None
        self.qname = q.name.to_text() if q is not None else None   # case as received
        self.qname_lower = self.qname.lower() if q is not None else None
        self.qtype = q.rdtype if q is not None else None
        self.edns = msg.edns
        self.payload = msg.payload if msg.edns >= 0 else None
        self.do = bool(msg.ednsflags & dns.flags.DO) if msg.edns >= 0 else False
        self.options = list(msg.options) if msg.edns >= 0 else []
        self.rd = bool(msg.flags & dns.flags.RD)
        self.cd = bool(msg.flags & dns.flags.CD)
        self.ad = bool(msg.flags & dns.flags.AD)

    def __repr__(self):
        return "<UpQuery %s %s %s id=%d rd=%d cd=%d do=%d>" % (
            self.transport, self.qname, dns.rdatatype.to_text(self.qtype), self.id, self.rd,
            self.cd, self.do)


class FakeUpstream:
    """A scriptable DNS server on 127.0.0.1 (UDP and TCP on the same port) in a thread.

    Modes (set globally with default= or per lower-cased qname with set_mode()):
      answer          A <address> (AAAA 2001:db8::99), TTL <ttl>; other types: NODATA
      silent          never answer
      servfail/refused/nxdomain/nodata   (SOA TTL = SOA MINIMUM = neg_ttl)
      nxdomain_soa3600  NXDOMAIN whose SOA has TTL 3600 and MINIMUM neg_ttl
      tc              UDP: TC=1 and no records; TCP: the normal answer
      wrong_id        UDP: first an answer with another ID (address SPOOF), after 100 ms the right one
      wrong_question  UDP: first an answer for another name (address SPOOF), then the right one
      wrong_port      UDP: first an answer from another source port (address SPOOF), then the right one
      wrong_case      UDP: first an answer whose question has the case of its letters swapped
                      (address SPOOF, as a spoofer who cannot see the 0x20 case), then the right one
      flatten_case    the normal answer, but its question and owner names lower-cased (as some
                      upstreams and middleboxes do)
      delay:MS        the normal answer after MS milliseconds
      big             100 A records (> 1232 bytes): over UDP truncated like a real server (TC=1)
      drop_udp        never answer over UDP, answer over TCP
      answer_ad       the normal answer with AD=1
      tcp_close       UDP: TC=1; TCP: the connection is closed without an answer
      garbage         UDP and TCP: the right ID, QR=1, then bytes that do not parse
      bigadd          the normal answer plus 40 A records in the additional section (> 512 B),
                      never truncated (it fits the daemon's advertised EDNS size)
    Every query is recorded (see UpQuery) in .queries. forge() sends a forged UDP answer from
    the fake's own address and port to any port, e.g. one the daemon used earlier.
    """

    SPOOF = "203.0.113.66"
    BIG_COUNT = 100

    def __init__(self, default="answer", address="192.0.2.99", ttl=300, neg_ttl=300,
                 host="127.0.0.1", port=None):
        self.host = host
        self.want_port = port      # None = a free port (a fixed one, e.g. 53, in a test netns)
        self.default = default
        self.address = address
        self.ttl = ttl
        self.neg_ttl = neg_ttl
        self.modes = {}
        self.queries = []
        self.lock = threading.Lock()
        self.port = None
        self._timers = []          # heap of (time, seq, fn)
        self._seq = 0
        self._stop = False
        self._thread = None
        self._conns = {}           # sock -> bytearray
        self._tcp_out = {}         # sock -> bytearray pending writes
        self.errors = []

    # ---- control --------------------------------------------------------------------------
    def set_mode(self, qname, mode):
        with self.lock:
            self.modes[qname.lower().rstrip(".") + "."] = mode

    def mode_for(self, qname):
        with self.lock:
            return self.modes.get(qname.lower(), self.default)

    def clear(self):
        with self.lock:
            self.queries = []

    def received(self, qname=None, qtype=None, transport=None):
        """Recorded queries, filtered by (case-insensitive) qname, qtype, transport."""
        if qname is not None:
            qname = qname.lower().rstrip(".") + "."
        if isinstance(qtype, str):
            qtype = dns.rdatatype.from_text(qtype)
        with self.lock:
            return [q for q in self.queries
                    if (qname is None or q.qname_lower == qname)
                    and (qtype is None or q.qtype == qtype)
                    and (transport is None or q.transport == transport)]

    def count(self, qname=None, qtype=None, transport=None):
        return len(self.received(qname, qtype, transport))

    @property
    def addr(self):
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    def start(self):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(1 if self.want_port else 50):
            port = self.want_port or free_port(self.host)
            u = socket.socket(fam, socket.SOCK_DGRAM)
            t = socket.socket(fam, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                u.bind((self.host, port))
                t.bind((self.host, port))
            except OSError:
                u.close()
                t.close()
                continue
            break
        else:
            raise RuntimeError("FakeUpstream: cannot bind")
        t.listen(64)
        u.setblocking(False)
        t.setblocking(False)
        self.port = port
        self.udp = u
        self.tcp = t
        self.spoof_sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.spoof_sock.bind((self.host, 0))
        self.sel = selectors.DefaultSelector()
        self.sel.register(u, selectors.EVENT_READ, "udp")
        self.sel.register(t, selectors.EVENT_READ, "accept")
        self._thread = threading.Thread(target=self._run, name="fake-upstream-%d" % port,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None
        for s in list(self._conns):
            s.close()
        self._conns.clear()
        for s in (getattr(self, "udp", None), getattr(self, "tcp", None),
                  getattr(self, "spoof_sock", None)):
            if s:
                s.close()

    # ---- loop -----------------------------------------------------------------------------
    def _later(self, delay, fn):
        self._seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, self._seq, fn))

    def _run(self):
        while not self._stop:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                try:
                    fn()
                except Exception as e:  # a closed connection etc.
                    self.errors.append(repr(e))
            timeout = 0.05
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
            try:
                events = self.sel.select(timeout)
            except (OSError, ValueError):
                break
            for key, mask in events:
                try:
                    self._event(key, mask)
                except Exception as e:
                    self.errors.append(repr(e))

    def _event(self, key, mask):
        kind = key.data
        if kind == "udp":
            for _ in range(64):
                try:
                    data, src = self.udp.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                self._handle(data, "udp", src, None)
        elif kind == "accept":
            try:
                c, src = self.tcp.accept()
            except (BlockingIOError, InterruptedError):
                return
            c.setblocking(False)
            self._conns[c] = bytearray()
            self._tcp_out[c] = bytearray()
            self.sel.register(c, selectors.EVENT_READ, "conn")
        elif kind == "conn":
            c = key.fileobj
            if mask & selectors.EVENT_READ:
                try:
                    d = c.recv(65535)
                except (BlockingIOError, InterruptedError):
                    d = None
                except OSError:
                    d = b""
                if d == b"":
                    self._close(c)
                    return
                if d:
                    buf = self._conns[c]
                    buf += d
                    while len(buf) >= 2:
                        n = struct.unpack("!H", buf[:2])[0]
                        if len(buf) < 2 + n:
                            break
                        msg = bytes(buf[2:2 + n])
                        del buf[:2 + n]
                        self._handle(msg, "tcp", c.getpeername() if c.fileno() >= 0 else None, c)
            if mask & selectors.EVENT_WRITE:
                self._flush(c)

    def _close(self, c):
        try:
            self.sel.unregister(c)
        except Exception:
            pass
        self._conns.pop(c, None)
        self._tcp_out.pop(c, None)
        c.close()

    def _flush(self, c):
        out = self._tcp_out.get(c)
        if out is None:
            return
        try:
            n = c.send(out)
            del out[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(c)
            return
        self.sel.modify(c, selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0), "conn")

    def _send_tcp(self, c, wire):
        if c not in self._tcp_out:
            return
        self._tcp_out[c] += frame(wire)
        self._flush(c)

    def forge(self, uq, dport, address=None):
        """Send, from the fake's own address and port, an answer (A <address>, default SPOOF)
        to the recorded UDP query uq, with its ID and question (exact case), to the daemon's
        port dport instead of the port uq came from."""
        msg = dns.message.from_wire(uq.wire)
        r = self._response(msg)
        r.answer.append(dns.rrset.from_text(msg.question[0].name, self.ttl, "IN", "A",
                                            address or self.SPOOF))
        self.udp.sendto(r.to_wire(), (uq.src[0], dport) + tuple(uq.src[2:]))

    def _send_udp(self, wire, dst, sock=None):
        (sock or self.udp).sendto(wire, dst)

    # ---- answers --------------------------------------------------------------------------
    def _response(self, msg, rcode=dns.rcode.NOERROR):
        r = dns.message.make_response(msg, recursion_available=True)
        r.set_rcode(rcode)
        return r

    def _soa(self, zone="example.test.", ttl=None):
        return dns.rrset.from_text(zone, self.neg_ttl if ttl is None else ttl, "IN", "SOA",
                                   "ns1.%s hostmaster.%s 1 7200 3600 1209600 %d"
                                   % (zone, zone, self.neg_ttl))

    def _normal(self, msg, big=False):
        r = self._response(msg)
        q = msg.question[0]
        if big and q.rdtype == dns.rdatatype.A:
            rr = dns.rrset.RRset(q.name, dns.rdataclass.IN, dns.rdatatype.A)
            rr.update_ttl(self.ttl)
            for i in range(self.BIG_COUNT):
                rr.add(dns.rdata.from_text("IN", "A", "198.51.%d.%d" % (100 + i // 200, 1 + i % 200)))
            r.answer.append(rr)
        elif q.rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(q.name, self.ttl, "IN", "A", self.address))
        elif q.rdtype == dns.rdatatype.AAAA:
            r.answer.append(dns.rrset.from_text(q.name, self.ttl, "IN", "AAAA", "2001:db8::99"))
        else:
            r.authority.append(self._soa())
        return r

    def _to_wire(self, r, transport, msg):
        """Render; over UDP truncate like a real server to the requester's size."""
        if transport == "tcp":
            return r.to_wire(max_size=65535)
        limit = msg.payload if msg.edns >= 0 else 512
        limit = max(512, limit)
        try:
            return r.to_wire(max_size=limit)
        except dns.exception.TooBig:
            t = self._response(msg)
            t.flags |= dns.flags.TC
            return t.to_wire()

    def _handle(self, data, transport, src, conn):
        try:
            msg = dns.message.from_wire(data)
        except Exception as e:
            self.errors.append("unparseable query: %r" % e)
            return
        if not msg.question:
            return
        uq = UpQuery(transport, msg, data, src)
        with self.lock:
            self.queries.append(uq)
        mode = self.mode_for(uq.qname_lower)

        def send(wire, delay=0.0, sock=None):
            if transport == "tcp":
                fn = lambda: self._send_tcp(conn, wire)
            else:
                fn = lambda: self._send_udp(wire, src, sock)
            if delay > 0:
                self._later(delay, fn)
            else:
                fn()

        if mode == "silent":
            return
        if mode == "drop_udp" and transport == "udp":
            return
        if mode == "servfail":
            return send(self._response(msg, dns.rcode.SERVFAIL).to_wire())
        if mode == "refused":
            return send(self._response(msg, dns.rcode.REFUSED).to_wire())
        if mode in ("nxdomain", "nxdomain_soa3600"):
            r = self._response(msg, dns.rcode.NXDOMAIN)
            r.authority.append(self._soa(ttl=3600 if mode == "nxdomain_soa3600" else None))
            return send(r.to_wire())
        if mode == "nodata":
            r = self._response(msg)
            r.authority.append(self._soa())
            return send(r.to_wire())
        if mode == "tc" and transport == "udp":
            r = self._response(msg)
            r.flags |= dns.flags.TC
            return send(r.to_wire())
        if mode.startswith("delay:"):
            ms = int(mode.split(":", 1)[1])
            return send(self._to_wire(self._normal(msg), transport, msg), delay=ms / 1000.0)
        if mode == "tcp_close":
            # UDP: TC=1; TCP: the connection is closed without an answer
            if transport == "udp":
                r = self._response(msg)
                r.flags |= dns.flags.TC
                return send(r.to_wire())
            return self._later(0, lambda: self._close(conn))
        if mode == "garbage":
            # the right ID and QR=1, then bytes that do not parse
            return send(data[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + b"\xff" * 20)
        if mode == "answer_ad":
            r = self._normal(msg)
            r.flags |= dns.flags.AD
            return send(self._to_wire(r, transport, msg))
        if mode == "flatten_case":
            low = dns.message.from_wire(data)
            low.question[0].name = dns.name.from_text(uq.qname_lower)
            return send(self._to_wire(self._normal(low), transport, low))
        if mode == "bigadd":
            # a small answer plus a large additional section (> 512 bytes in all)
            r = self._normal(msg)
            for i in range(40):
                r.additional.append(dns.rrset.from_text(
                    "extra%02d.example.test." % i, self.ttl, "IN", "A", "198.51.100.%d" % (i + 1)))
            return send(r.to_wire(max_size=65535))
        good = self._to_wire(self._normal(msg, big=(mode == "big")), transport, msg)
        if transport == "udp" and mode in ("wrong_id", "wrong_question", "wrong_port",
                                           "wrong_case"):
            spoof = self._normal(msg)
            spoof.answer = []
            name = msg.question[0].name
            if mode == "wrong_case":
                name = dns.name.from_text(uq.qname.swapcase())
                spoof.question = [dns.rrset.RRset(name, dns.rdataclass.IN, msg.question[0].rdtype)]
            if mode == "wrong_question":
                other = dns.name.from_text("spoof.example.test.")
                spoof.question = [dns.rrset.RRset(other, dns.rdataclass.IN, msg.question[0].rdtype)]
                name = other
            spoof.answer.append(dns.rrset.from_text(name, self.ttl, "IN", "A", self.SPOOF))
            if mode == "wrong_id":
                spoof.id = (msg.id + 1 + random.randrange(0xfffe)) & 0xffff
            send(spoof.to_wire(), sock=self.spoof_sock if mode == "wrong_port" else None)
            return send(good, delay=0.1)
        return send(good)


# --------------------------------------------------------------------------------------------
# a test CA and dnsdist as an encrypted (DoT, DoH) upstream
# --------------------------------------------------------------------------------------------

OPENSSL_BIN = shutil.which("openssl") or "/usr/bin/openssl"
DNSDIST_BIN = os.environ.get("DNSDIST", "/usr/bin/dnsdist")


def _openssl(*args, cwd=None):
    r = subprocess.run([OPENSSL_BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=30, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args), r.stdout.decode("utf-8", "replace")))
    return r.stdout


class TestCA:
    """A throw-away CA made with the openssl command in tmp: .ca is its certificate (PEM), and
    issue(name) makes a server certificate (EC P-256, subjectAltName DNS:name) signed by it."""

    def __init__(self, tmp, cn="jurisdns test CA"):
        self.tmp = tmp
        self.ca = tmp.file("ca.crt")
        self.ca_key = tmp.file("ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=" + cn,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name):
        """(certificate, key) for name; the certificate file holds the leaf then the CA."""
        base = self.tmp.file("srv-" + name)
        key, csr, leaf, ext = base + ".key", base + ".csr", base + ".leaf.crt", base + ".ext"
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" % name)
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                 "-set_serial", str(random.randrange(1, 1 << 62)), "-days", "2", "-extfile", ext,
                 "-out", leaf)
        chain = base + ".crt"
        with open(chain, "wb") as out:
            for p in (leaf, self.ca):
                with open(p, "rb") as f:
                    out.write(f.read())
        return chain, key

    @staticmethod
    def spki_pin(cert):
        """base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate in cert (RFC 7858 pin)."""
        import base64
        import hashlib
        pub = _openssl("x509", "-in", cert, "-pubkey", "-noout")
        der = subprocess.run([OPENSSL_BIN, "pkey", "-pubin", "-outform", "der"], input=pub,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


def require_dnsdist():
    if not (os.path.isfile(DNSDIST_BIN) and os.access(DNSDIST_BIN, os.X_OK)):
        raise RuntimeError("dnsdist not found at %s (apt-get install dnsdist, or set DNSDIST)" % DNSDIST_BIN)


class Dnsdist(LoggedProcess):
    """dnsdist (1.7: --supervised, Lua config with -C) on 127.0.0.1 in front of one backend.

    backend: "IP:PORT" of a plain DNS server (Knot, FakeUpstream). tls: a list of (cert, key)
    pairs, one addTLSLocal (DoT) frontend each, on .tls_ports[i]; doh: the same for addDOHLocal
    (HTTP/2, path .doh_path) on .doh_ports[i]. .port is its plain UDP/TCP listener. Stopped by
    PID; its log (stdout) is in .log."""

    def __init__(self, tmp, backend, tls=(), doh=(), doh_path="/dns-query"):
        require_dnsdist()
        self.tmp = tmp
        self.backend = backend
        self.tls = list(tls)
        self.doh = list(doh)
        self.doh_path = doh_path
        self.port = free_port()
        self.tls_ports = [free_port() for _ in self.tls]
        self.doh_ports = [free_port() for _ in self.doh]
        self.web_port = free_port()
        self.web_key = "jd-test-key"
        self.conf = tmp.file("dnsdist-%d.conf" % self.port)
        self.log = tmp.file("dnsdist-%d.log" % self.port)

    def config(self):
        lua = ['setSecurityPollSuffix("")',         # no query to the outside world
               'setLocal("127.0.0.1:%d")' % self.port,
               'newServer({address="%s", name="backend"})' % self.backend,
               'webserver("127.0.0.1:%d")' % self.web_port,
               'setWebserverConfig({password="%s", apiKey="%s", acl="127.0.0.1/32"})'
               % (self.web_key, self.web_key)]
        for (cert, key), port in zip(self.tls, self.tls_ports):
            lua.append('addTLSLocal("127.0.0.1:%d", "%s", "%s", {minTLSVersion="tls1.2"})'
                       % (port, cert, key))
        for (cert, key), port in zip(self.doh, self.doh_ports):
            lua.append('addDOHLocal("127.0.0.1:%d", "%s", "%s", "%s", {minTLSVersion="tls1.2"})'
                       % (port, cert, key, self.doh_path))
        return "\n".join(lua) + "\n"

    def start(self, timeout=10.0):
        with open(self.conf, "w") as f:
            f.write(self.config())
        self._spawn([DNSDIST_BIN, "--supervised", "--disable-syslog", "-C", self.conf])
        return self._wait_up("dnsdist", self._listening, timeout, "come up")

    def _listening(self):
        udp(make_query("dnsdist.ready.probe.", "A"), self.port, timeout=0.2)
        for p in self.tls_ports + self.doh_ports:
            tcp_connect(p, timeout=0.2).close()
        return True

    def stats(self):
        """The web API's /api/v1/servers/localhost (frontends, servers, statistics) as a dict."""
        import json
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/servers/localhost" % self.web_port,
                                     headers={"X-API-Key": self.web_key})
        with urllib.request.urlopen(req, timeout=3) as r:
            return json.loads(r.read().decode())

    @property
    def tls_addrs(self):
        return ["127.0.0.1:%d" % p for p in self.tls_ports]

    @property
    def doh_addrs(self):
        return ["127.0.0.1:%d" % p for p in self.doh_ports]


# --------------------------------------------------------------------------------------------
# the daemon
# --------------------------------------------------------------------------------------------

class Jurisdns(LoggedProcess):
    """The daemon under test.

    server/upstream/cache: dicts of key -> value (or list of values for repeatable keys) that go
    into the generated config file. listen defaults to one 127.0.0.1 port; workers to 1 (the
    cache and the in-flight table are per worker, so counting tests need one worker).
    redis/stats/web: the [redis], [stats] and [web] sections (None = left out), kept as the
    attributes .redis, .stats, .web (change them, then reload()).
    """

    def __init__(self, upstreams=(), server=None, upstream=None, cache=None, extra_args=(),
                 config_text=None, tmp=None, use_config=True, host="127.0.0.1", geoip=None,
                 labels=None, log=None, policy=None, clients=None, redis=None, stats=None,
                 web=None):
        self.bin = require_binary()
        self._own_tmp = tmp is None
        self.tmp = tmp or TempDir("jd-daemon-")
        self.host = host
        self.port = free_port(host)
        self.listen_addr = ("[%s]:%d" if ":" in host else "%s:%d") % (host, self.port)
        self.server = {"listen": self.listen_addr, "workers": 1}
        self.server.update(server or {})
        self.upstream = {"server": list(upstreams)}
        self.upstream.update(upstream or {})
        self.cache = dict(cache or {})
        # [geoip], [labels], [log]: written only when given (None = section left out)
        self.geoip = dict(geoip) if geoip is not None else None
        # the shipped groups by explicit path: the daemon's own fallback (zones/ beside the
        # binary's directory) does not exist in an out-of-tree build such as make distcheck
        self.labels = dict(labels) if labels is not None else {"groups": shipped_groups()}
        self.logsec = dict(log) if log is not None else None
        # [policy] (None = left out) and [client X] sections: a list of (address or CIDR, dict)
        self.policy = dict(policy) if policy is not None else None
        self.clients = [(a, dict(kv)) for a, kv in (clients or [])]
        self.redis, self.stats, self.web = [dict(s) if s is not None else None
                                            for s in (redis, stats, web)]
        self.extra_args = list(extra_args)
        self.config_text = config_text
        self.use_config = use_config
        self.conf = self.tmp.file("jurisdns-%d.conf" % self.port)
        self.log = self.tmp.file("jurisdns-%d.log" % self.port)

    @staticmethod
    def render(sections):
        out = []
        for name, kv in sections:
            if kv is None:
                continue
            out.append("[%s]" % name)
            for k, v in kv.items():
                vals = v if isinstance(v, (list, tuple)) else [v]
                for one in vals:
                    out.append("%s = %s" % (k, one))
            out.append("")
        return "\n".join(out) + "\n"

    def config(self):
        if self.config_text is not None:
            return self.config_text
        return self.render([("server", self.server), ("upstream", self.upstream),
                            ("cache", self.cache or None), ("geoip", self.geoip),
                            ("labels", self.labels), ("log", self.logsec),
                            ("policy", self.policy)]
                           + [("client %s" % a, kv) for a, kv in self.clients]
                           + [("redis", self.redis), ("stats", self.stats), ("web", self.web)])

    def write_config(self, text=None):
        with open(self.conf, "w") as f:
            f.write(self.config() if text is None else text)

    def argv(self):
        a = [self.bin]
        if self.use_config:
            a += ["-c", self.conf]
        a += ["-f"] + self.extra_args
        return a

    def start(self, timeout=10.0, wait=True):
        if self.use_config:
            self.write_config()
        self._spawn(self.argv())
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0, port=None, host=None):
        """Ready = the daemon answers over UDP. The probe is an opcode STATUS message, which must
        be answered (NOTIMP) without going upstream; if that stays unanswered while TCP already
        accepts, a QDCOUNT=0 query (FORMERR) is tried too. Fails with the log when the process
        exits."""
        port = port or self.port
        host = host or self.host
        deadline = time.monotonic() + timeout
        probe = bytearray(make_query("ready.probe.", "A").to_wire())
        probe[2] = (probe[2] & 0x87) | (2 << 3)  # opcode STATUS
        formerr = struct.pack("!HHHHHH", 0x4242, 0x0100, 0, 0, 0, 0)
        tcp_ok_at = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("jurisdns exited with %s before answering; log:\n%s"
                                     % (self.proc.returncode, self.read_log()))
            if raw_udp(bytes(probe), port, host, timeout=0.1) is not None:
                return
            if tcp_ok_at is None:
                try:
                    tcp_connect(port, host, timeout=0.2).close()
                    tcp_ok_at = time.monotonic()
                except OSError:
                    pass
            elif time.monotonic() - tcp_ok_at > 1.0:
                if raw_udp(formerr, port, host, timeout=0.1) is not None:
                    return
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError("jurisdns did not answer within %.0fs; log:\n%s"
                                     % (timeout, self.read_log()))
            time.sleep(0.03)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, text=None):
        """Rewrite the config (when text or attributes changed) and send SIGHUP."""
        self.write_config(text)
        self.proc.send_signal(signal.SIGHUP)

    def wait_log(self, text, count=1, timeout=3.0):
        """Wait (bounded) until text occurs at least count times in the daemon's own log."""
        return wait_for(lambda: self.read_log().count(text) >= count, timeout, interval=0.05,
                        what="%r (x%d) in the daemon log:\n%s" % (text, count, self.read_log()))

    def hup_and_wait(self, text=None, rewrite=True):
        """SIGHUP (after rewriting the config from text or the attributes, unless rewrite is
        False) and wait for the next 'reloaded' line, which ends the reload."""
        n = self.read_log().count("reloaded ")
        if rewrite:
            self.write_config(text)
        self.proc.send_signal(signal.SIGHUP)
        self.wait_log("reloaded ", n + 1)

    def stop(self, timeout=5.0):
        """SIGTERM; returns the exit code. Raises AssertionError when it did not exit 0 in time
        (after killing it)."""
        if self.proc is None:
            return None
        rc, killed = self._terminate(timeout)
        if killed:
            raise AssertionError("jurisdns did not exit within %.0fs of SIGTERM; log:\n%s"
                                 % (timeout, self.read_log()))
        if rc != 0:
            raise AssertionError("jurisdns exited with %s after SIGTERM (expected 0); log:\n%s"
                                 % (rc, self.read_log()))
        return rc

    def kill(self):
        self._terminate(2.0)

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self._own_tmp:
                self.tmp.cleanup()

    # convenience -----------------------------------------------------------------------------
    def q(self, qname, qtype="A", transport="udp", **kw):
        return query(qname, qtype, port=self.port, transport=transport, host=self.host, **kw)


def run_cli(args, timeout=10.0, input_=None):
    """Run the binary with args; returns CompletedProcess (text)."""
    b = require_binary()
    return subprocess.run([b] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout, text=True)


# --------------------------------------------------------------------------------------------
# GeoIP test database and the JSON-lines query log
# --------------------------------------------------------------------------------------------

def test_mmdb():
    """The test GeoIP database built by `make check` from tests/data/geo-fixture.txt: $TEST_MMDB,
    else $abs_top_builddir/tests/data/test.mmdb, else <repo>/tests/data/test.mmdb."""
    return _built("TEST_MMDB", "tests", "data", "test.mmdb")


def require_test_mmdb():
    p = test_mmdb()
    if not os.path.isfile(p):
        raise RuntimeError("test GeoIP database not found at %s (run `make tests/data/test.mmdb`, "
                           "or set TEST_MMDB)" % p)
    return p


def data_dir():
    return _tree_path("abs_top_srcdir", "tests", "data")


def make_test_mmdb(fixture, out, timeout=60.0):
    """Build an .mmdb from a fixture text with tests/data/make-test-mmdb (needs perl and
    libmaxmind-db-writer-perl). Raises with the tool's output when it fails."""
    tool = os.path.join(data_dir(), "make-test-mmdb")
    r = subprocess.run(["perl", tool, fixture, out], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError("make-test-mmdb %s failed (%d):\n%s" % (fixture, r.returncode, r.stdout))
    return out


def read_jsonl(path):
    """The complete lines of a JSON-lines file, parsed (a trailing partial line is ignored).
    A missing file is an empty list."""
    import json
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n")[:-1]:
        out.append(json.loads(line.decode("utf-8"), object_pairs_hook=list_pairs_dict))
    return out


class list_pairs_dict(dict):
    """A dict that also remembers its keys in the order they came in the JSON text (.keys_order)."""

    def __init__(self, pairs):
        super().__init__(pairs)
        self.keys_order = [k for k, _ in pairs]


def wait_jsonl(path, n, timeout=3.0, what=None):
    """Wait (bounded) until path holds at least n complete JSON lines; return all of them."""
    box = []

    def cond():
        lines = read_jsonl(path)
        box[:] = [lines]
        return len(lines) >= n

    try:
        wait_for(cond, timeout, interval=0.05, what=what or "%d query-log lines in %s" % (n, path))
    except AssertionError as e:
        raise AssertionError("%s; have %d: %r" % (e, len(box[0]) if box else 0,
                                                   box[0] if box else None))
    return box[0]


def wait_log_lines(path, n=1, timeout=3.0, **match):
    """Wait (bounded) until the query log at path has n lines whose fields equal match (e.g.
    qname="a.example", qtype="A"); return those lines."""
    box = [[]]

    def cond():
        box[0] = [l for l in read_jsonl(path) if all(l.get(k) == v for k, v in match.items())]
        return len(box[0]) >= n

    wait_for(cond, timeout, interval=0.05,
             what=lambda: "%d query-log line(s) with %r in %s (have: %r)"
             % (n, match, path, read_jsonl(path)[-5:]))
    return box[0]


def real_lines(lines):
    """Query-log lines without the harness's readiness probes."""
    return [l for l in lines if l["qname"] != "ready.probe"]


class _CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    """unittest.main wrapper: prints a closing 'N passed, N failed, N skipped' line; exits 1 on
    any failure or error, and also when no test passed (a run that tests nothing fails), else 0."""
    runner = unittest.TextTestRunner(resultclass=_CountingResult,
                                     verbosity=int(os.environ.get("JD_TEST_VERBOSE", "2")))
    prog = unittest.main(exit=False, testRunner=runner)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(getattr(r, "unexpectedSuccesses", []))
    skipped = len(r.skipped)
    print("%d passed, %d failed, %d skipped" % (r.passed, failed, skipped))
    if failed:
        sys.exit(1)
    if r.passed == 0:
        sys.exit(1)
    sys.exit(0)


# --------------------------------------------------------------------------------------------
# the set-up of a module or class: knotd, a daemon with the test GeoIP database and groups
# --------------------------------------------------------------------------------------------

def start_knot(extra_zones=(), test_geoip=True):
    """For setUpModule: check for the daemon (and, with test_geoip, the test GeoIP database),
    then start a knotd serving example.test. and extra_zones; stop it with stop_knot()."""
    require_binary()
    if test_geoip:
        require_test_mmdb()
    return Knot(extra_zones=extra_zones).start()


def stop_knot(knot):
    """For tearDownModule: stop knot when it was started."""
    if knot is not None:
        knot.stop()


def make_daemon(tmp, upstreams=(), groups=None, test_geoip=False, query_log=None, cls=None,
                **kw):
    """A Jurisdns (or cls) in tmp, not started; kw are Jurisdns keywords. upstreams: addresses
    or objects with .addr (Knot, FakeUpstream). groups: the text of a groups file, written to
    tmp/groups.conf for [labels] groups (jd.groups is its path). test_geoip: [geoip] db = the
    test database, check_interval = 0. query_log: None = no query log, else its mode ("" = the
    default): [log] query_log = tmp/query.log (jd.qlog) merged with kw's log."""
    if groups is not None:
        kw["labels"] = dict(kw.get("labels") or {},
                            groups=write_file(tmp.file("groups.conf"), groups))
    if test_geoip:
        kw.setdefault("geoip", {"db": test_mmdb(), "check_interval": 0})
    qlog = tmp.file("query.log")
    if query_log is not None:
        log = {"query_log": qlog}
        if query_log:
            log["query_log_mode"] = query_log
        log.update(kw.get("log") or {})
        kw["log"] = log
    jd = (cls or Jurisdns)(upstreams=[u.addr if hasattr(u, "addr") else u for u in upstreams],
                           tmp=tmp, **kw)
    jd.qlog = qlog
    jd.groups = jd.labels.get("groups")
    return jd


# --------------------------------------------------------------------------------------------
# unittest base classes
# --------------------------------------------------------------------------------------------

class JDTestCase(unittest.TestCase):
    """Helpers that register their own cleanup (also when a test fails)."""

    def fake(self, **kw):
        f = FakeUpstream(**kw).start()
        self.addCleanup(f.stop)
        return f

    def daemon(self, upstreams=(), start=True, tmp=None, **kw):
        """A daemon for this test (make_daemon keywords) in tmp, else in a temp dir of its own;
        the test's cleanup stops it (asserting exit 0) and kills what is left."""
        if tmp is None:
            tmp = TempDir()
            self.addCleanup(tmp.cleanup)
        d = make_daemon(tmp, upstreams, **kw)
        self.addCleanup(d.kill)     # runs after stop() below: a no-op when stop() worked
        if start:
            d.start()
            self.addCleanup(d.stop)
        return d

    def tls_daemon(self, listen_key, server=None, start=True, **kw):
        """A daemon (self.daemon keywords) with an encrypted listener: [server] listen_key
        (tls_listen, https_listen) on a free port (d.tls_port) with its certificates made in
        d.tls_dir. Started, it is ready once that port accepts connections."""
        tmp = TempDir("jd-tls-")
        self.addCleanup(tmp.cleanup)
        port = free_port()
        srv = {listen_key: "127.0.0.1:%d" % port, "tls_dir": tmp.file("tls")}
        srv.update(server or {})
        d = self.daemon(server=srv, start=start, tmp=tmp, **kw)
        d.tls_port = port
        d.tls_dir = srv["tls_dir"]
        if start:
            wait_for(lambda: port_open(port), 5, what="the %s port; log:\n%s"
                     % (listen_key, d.read_log()))
        return d

    @classmethod
    def start_class_daemon(cls, **kw):
        """For setUpClass: one daemon (make_daemon keywords) as cls.jd in the temp dir cls.tmp,
        cls.qlog its query log; when it does not start it is killed and cls.tmp removed."""
        cls.tmp = TempDir()
        cls.jd = make_daemon(cls.tmp, **kw)
        cls.qlog = cls.jd.qlog
        try:
            cls.jd.start()
        except BaseException:
            cls.jd.kill()
            cls.tmp.cleanup()
            raise
        return cls.jd

    @classmethod
    def stop_class_daemon(cls):
        """For tearDownClass: stop cls.jd (asserting exit 0), kill what is left, remove cls.tmp."""
        try:
            cls.jd.stop()
        finally:
            cls.jd.kill()
            cls.tmp.cleanup()

    def assertAlive(self, jd=None):
        jd = jd or self.jd
        self.assertTrue(jd.alive(), "jurisdns died earlier; log:\n" + jd.read_log())

    def assertResponseTo(self, r, q, rcode=dns.rcode.NOERROR):
        """Common checks: QR, ID, question echoed exactly, rcode, RA."""
        self.assertTrue(r.flags & dns.flags.QR, "QR not set")
        self.assertEqual(r.id, q.id, "ID not echoed")
        self.assertEqual(len(r.question), 1, "question not echoed")
        self.assertEqual(r.question[0].name.to_text(), q.question[0].name.to_text(),
                         "question name (with its case) not echoed")
        self.assertEqual(r.question[0].rdtype, q.question[0].rdtype)
        self.assertEqual(dns.rcode.to_text(r.rcode()), dns.rcode.to_text(rcode),
                         "unexpected rcode in:\n%s" % r)


class ClassDaemonTestCase(JDTestCase):
    """One daemon for the whole class, made from daemon_args() (make_daemon keywords) as cls.jd
    in cls.tmp (cls.qlog its query log); every test first checks that it is still alive."""

    @classmethod
    def daemon_args(cls):
        return {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_class_daemon(**cls.daemon_args())

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_class_daemon()
        finally:
            super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.assertAlive()


class KnotDaemonTestCase(JDTestCase):
    """One knotd and one jurisdns (forwarding to it) for the whole class."""

    daemon_server = {}
    daemon_cache = {}
    daemon_upstream = {}

    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.knot = Knot()
        try:
            cls.knot.start()
            cls.jd = Jurisdns(upstreams=[cls.knot.addr], server=dict(cls.daemon_server),
                              cache=dict(cls.daemon_cache), upstream=dict(cls.daemon_upstream))
            cls.jd.start()
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _teardown(cls):
        jd = getattr(cls, "jd", None)
        try:
            if jd is not None:
                try:
                    jd.stop()
                finally:
                    jd.kill()
                    jd.tmp.cleanup()
        finally:
            cls.knot.stop()

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    def setUp(self):
        self.assertAlive()

    @property
    def port(self):
        return self.jd.port
