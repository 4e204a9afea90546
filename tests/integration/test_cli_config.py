#!/usr/bin/python3
"""Command line and configuration file: -V, -h, bad options, -t with valid and invalid files
(FILE:LINE: message), -l/-u overriding the file, repeatable listen addresses."""

import os
import re
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode

import harness as h
from harness import make_query


class Cli(h.JDTestCase):

    @classmethod
    def setUpClass(cls):
        h.require_binary()

    def test_version(self):
        p = h.run_cli(["-V"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.splitlines()[0], r"^jurisdns \d+\.\d+")

    def test_help(self):
        p = h.run_cli(["-h"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage", p.stdout.lower())
        for opt in ("-c", "-t", "-l", "-u", "-w", "-f", "-V", "-h"):
            self.assertIn(opt, p.stdout)

    def test_bad_option_exit_2_with_usage_on_stderr(self):
        p = h.run_cli(["-Z"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage", p.stderr.lower())
        self.assertEqual(p.stdout, "")

    def test_missing_option_argument_exit_2(self):
        p = h.run_cli(["-c"])
        self.assertEqual(p.returncode, 2)

    def test_bad_listen_address_on_command_line_exit_2(self):
        p = h.run_cli(["-t", "-l", "not-an-address"])
        self.assertEqual(p.returncode, 2, p.stderr)


class ConfigCheck(h.JDTestCase):

    def setUp(self):
        self.tmp = h.TempDir()
        self.addCleanup(self.tmp.cleanup)

    def write(self, text, name="jd.conf"):
        path = self.tmp.file(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, text):
        path = self.write(text)
        return path, h.run_cli(["-t", "-c", path])

    def assertValid(self, text):
        path, p = self.check(text)
        self.assertEqual(p.returncode, 0, "valid config rejected:\n%s\n%s" % (text, p.stderr))

    def assertInvalidAt(self, text, line, pattern=None):
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, "invalid config accepted (rc %d):\n%s" % (p.returncode, text))
        m = re.search(r"^%s:(\d+): (.+)$" % re.escape(path), p.stderr, re.M)
        self.assertIsNotNone(m, "no 'FILE:LINE: message' on stderr: %r" % p.stderr)
        self.assertEqual(int(m.group(1)), line, "wrong line in %r" % p.stderr)
        if pattern:
            self.assertRegex(m.group(2), pattern)
        return m.group(2)

    FULL = (
        "; a full configuration\n"
        "[server]\n"
        "listen = 127.0.0.1:5353\n"
        "listen = [::1]:5353\n"
        "workers = 2\n"
        "allow = 10.0.0.0/8\n"
        "allow = fc00::/7\n"
        "deny = 127.0.0.2/32\n"
        "tcp_idle_timeout = 10000\n"
        "tcp_max_clients = 256\n"
        "tcp_max_queries = 64\n"
        "max_udp_size = 4096\n"
        "[upstream]\n"
        "server = 127.0.0.1:53\n"
        "server = [::1]:53\n"
        "timeout = 2500\n"
        "failover = 1000\n"
        "[cache]\n"
        "size = 64M\n"
        "min_ttl = 0\n"
        "max_ttl = 86400\n"
        "negative_ttl = 3600\n"
        "servfail_ttl = 5\n"
    )

    def test_full_config_valid(self):
        self.assertValid(self.FULL)

    def test_inline_comments_valid(self):
        self.assertValid("[server]\nlisten = 127.0.0.1:5353      ; repeatable\n"
                         "[upstream]\nserver = 127.0.0.1:53 ; first\n")

    def test_size_suffixes(self):
        for size in ("0", "1024", "512K", "64M", "1G"):
            with self.subTest(size=size):
                self.assertValid("[upstream]\nserver = 127.0.0.1:53\n[cache]\nsize = %s\n" % size)

    def test_unknown_key(self):
        self.assertInvalidAt("[server]\nlisten = 127.0.0.1:5353\nlisen = 1.2.3.4:53\n", 3, "lisen")

    def test_unknown_section(self):
        # the error names the section header's line, and an empty unknown section is an error too
        self.assertInvalidAt("[upstream]\nserver = 127.0.0.1:53\n\n[cahce]\nsize = 1M\n", 4, "cahce")
        self.assertInvalidAt("[upstream]\nserver = 127.0.0.1:53\n[redsi]\n", 3, "redsi")

    def test_bad_listen_address(self):
        self.assertInvalidAt("[server]\nlisten = 999.1.1.1:53\n[upstream]\nserver = 127.0.0.1:53\n", 2)

    def test_bad_upstream_address(self):
        self.assertInvalidAt("[upstream]\nserver = localhost:53x\n", 2)

    def test_bad_cidr(self):
        self.assertInvalidAt("[upstream]\nserver = 127.0.0.1:53\n[server]\nallow = 10.0.0.0/33\n", 4)

    def test_out_of_range_numbers(self):
        cases = [
            ("server", "workers", "100000"),
            ("server", "max_udp_size", "100"),
            ("server", "max_udp_size", "70000"),
            ("server", "tcp_max_clients", "-1"),
            ("upstream", "timeout", "abc"),
            ("cache", "size", "64X"),
            ("cache", "max_ttl", "99999999999"),
        ]
        for sec, key, val in cases:
            with self.subTest(key=key, val=val):
                text = "[upstream]\nserver = 127.0.0.1:53\n[%s]\n%s = %s\n" % (sec, key, val)
                self.assertInvalidAt(text, 4)

    def test_missing_file(self):
        p = h.run_cli(["-t", "-c", self.tmp.file("nope.conf")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.conf", p.stderr)


class Overrides(h.JDTestCase):

    def test_dash_l_overrides_file_listen(self):
        up = self.fake()
        jd = self.daemon([up], start=False)
        other = h.free_port()
        jd.extra_args = ["-l", "127.0.0.1:%d" % other]
        file_port = jd.port
        jd.start(wait=False)
        self.addCleanup(jd.stop)
        jd.wait_ready(port=other)
        r = h.query("dashl.cli.test.", port=other)
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        self.assertIsNone(h.raw_udp(make_query("x.cli.test.").to_wire(), file_port, timeout=0.3),
                          "the file's listen address is still served although -l was given")

    def test_repeated_dash_l_listens_on_all(self):
        up = self.fake()
        jd = self.daemon([up], start=False)
        p1, p2 = h.free_port(), h.free_port()
        jd.extra_args = ["-l", "127.0.0.1:%d" % p1, "-l", "127.0.0.1:%d" % p2]
        jd.start(wait=False)
        self.addCleanup(jd.stop)
        jd.wait_ready(port=p1)
        jd.wait_ready(port=p2)
        for p in (p1, p2):
            for t in ("udp", "tcp"):
                r = h.query("multi.cli.test.", port=p, transport=t)
                self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])
        # the log says where it really listens (quickstart.sh prints no address of its own)
        self.assertIn("listening on 127.0.0.1:%d, 127.0.0.1:%d (UDP and TCP)" % (p1, p2),
                      jd.read_log())

    def test_default_listen_is_not_mdns(self):
        # 5353 is mDNS (avahi-daemon holds it on most desktops); the default is 5335
        r = h.run_cli(["-h"])
        self.assertIn("listen 127.0.0.1:5335", r.stdout + r.stderr)
        self.assertNotIn("5353", r.stdout + r.stderr)

    def test_dash_l_ipv6(self):
        up = self.fake()
        try:
            p6 = h.free_port("::1")
        except OSError as e:
            self.skipTest("no ::1: %s" % e)
        jd = self.daemon([up], start=False)
        jd.extra_args = ["-l", "[::1]:%d" % p6]
        jd.start(wait=False)
        self.addCleanup(jd.stop)
        jd.wait_ready(port=p6, host="::1")
        r = h.query("v6.cli.test.", port=p6, host="::1")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_dash_u_overrides_file_upstream(self):
        a = self.fake(address="192.0.2.101")
        b = self.fake(address="192.0.2.102")
        jd = self.daemon([a], start=False)
        jd.extra_args = ["-u", b.addr]
        jd.start()
        self.addCleanup(jd.stop)
        r = jd.q("dashu.cli.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.102"])
        self.assertEqual(a.count(), 0)

    def test_no_config_file_with_dash_l_and_dash_u(self):
        up = self.fake()
        jd = self.daemon([up], start=False, use_config=False)
        jd.extra_args = ["-l", jd.listen_addr, "-u", up.addr, "-w", "1"]
        jd.start()
        self.addCleanup(jd.stop)
        r = jd.q("noconf.cli.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_two_workers(self):
        up = self.fake()
        jd = self.daemon([up], server={"workers": 2})
        for i in range(10):
            r = jd.q("w%d.cli.test." % i, transport="udp" if i % 2 else "tcp")
            self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_workers_zero_one_per_cpu(self):
        up = self.fake()
        jd = self.daemon([up], server={"workers": 0})
        r = jd.q("w0.cli.test.")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.99"])

    def test_bad_config_does_not_start(self):
        up = self.fake()
        jd = self.daemon([up], start=False, server={"bogus_key": 1})
        jd.start(wait=False)
        try:
            rc = jd.proc.wait(timeout=5)
        finally:
            jd.kill()
        self.assertEqual(rc, 1)
        self.assertRegex(jd.read_log(), re.escape(jd.conf) + r":\d+: ")


class StartupChecks(h.JDTestCase):
    """-t makes the checks of a start (issue 14): every file or directory that stops a start
    (GeoIP databases, groups, policy zones, the query log, the Redis snapshot's directory) also
    fails -t, and the other way round; -t binds no socket and creates no file."""

    @classmethod
    def setUpClass(cls):
        h.require_binary()

    def setUp(self):
        self.tmp = h.TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.up = self.fake()

    def path(self, name, text=None):
        p = self.tmp.file(name)
        if text is not None:
            with open(p, "w") as f:
                f.write(text)
        return p

    def configured(self, extra="", **kw):
        """A daemon (not started) whose config file is written; extra: more sections."""
        jd = self.daemon([self.up], start=False, **kw)
        if extra:
            jd.config_text = jd.config() + extra
        jd.write_config()
        return jd

    def check(self, jd):
        return h.run_cli(["-t", "-c", jd.conf])

    def assertRejected(self, pattern, extra="", **kw):
        """-t exits 1 naming the problem, and a start of the same file exits 1 with it too."""
        jd = self.configured(extra, **kw)
        p = self.check(jd)
        self.assertEqual(p.returncode, 1, "-t accepted it:\n%s\nstdout %r\nstderr %r"
                         % (jd.config(), p.stdout, p.stderr))
        self.assertRegex(p.stderr, pattern)
        self.assertNotIn("is valid", p.stdout)
        jd.start(wait=False)
        try:
            rc = jd.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            jd.kill()
        self.assertEqual(rc, 1, "the daemon did not refuse to start; log:\n" + jd.read_log())
        self.assertRegex(jd.read_log(), pattern)
        return p.stderr

    def assertAccepted(self, extra="", **kw):
        """-t exits 0 with no error line, and the daemon starts, answers and stops cleanly."""
        jd = self.configured(extra, **kw)
        p = self.check(jd)
        self.assertEqual(p.returncode, 0, "-t rejected it:\n%s\nstderr %r" % (jd.config(), p.stderr))
        self.assertIn("%s: configuration is valid" % jd.conf, p.stdout)
        self.assertNotIn("error", p.stderr)
        jd.start()
        self.addCleanup(jd.stop)
        self.assertEqual(h.rrset_addresses(jd.q("checked.cli.test.")), ["192.0.2.99"])
        return p.stderr

    # GeoIP ------------------------------------------------------------------------------------

    def test_missing_geoip_db(self):
        self.assertRejected(r"(?m)^jurisdns: error: geoip: /nonexistent\.mmdb: No such file or directory$",
                            geoip={"db": "/nonexistent.mmdb"})

    def test_missing_asn_db(self):
        nope = self.tmp.file("nope-asn.mmdb")
        self.assertRejected(r"geoip: %s: No such file or directory" % re.escape(nope),
                            geoip={"db": h.require_test_mmdb(), "asn_db": nope})

    def test_geoip_db_that_is_not_an_mmdb(self):
        text = self.path("text.mmdb", "this is not a MaxMind DB\n" * 10)
        self.assertRejected(r"geoip: %s: not a usable MaxMind DB" % re.escape(text),
                            geoip={"db": text})

    def test_missing_default_geoip_db_is_only_a_warning(self):
        # no [geoip] db: the built-in location, which this test machine lacks (or has)
        self.assertAccepted()

    # groups and policy zones ------------------------------------------------------------------

    def test_groups_file_with_an_error(self):
        groups = self.path("groups.conf", "[jurisdiction X]\ncountries = CN\nbogus = 1\n")
        self.assertRejected(r"labels: %s:3: " % re.escape(groups), labels={"groups": groups})

    def test_missing_groups_file(self):
        groups = self.tmp.file("nope-groups.conf")
        self.assertRejected(r"labels: %s: No such file or directory" % re.escape(groups),
                            labels={"groups": groups})

    def test_missing_rpz_file(self):
        rpz = self.tmp.file("nope.rpz")
        self.assertRejected(r":\d+: rpz = %s: No such file or directory" % re.escape(rpz),
                            policy={"rpz": rpz})

    def test_rpz_file_with_a_syntax_error(self):
        rpz = self.path("bad.rpz", "$TTL 60\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n"
                        "@ NS localhost.\nbad.example CNAME\n")
        self.assertRejected(r":\d+: rpz = %s:4: " % re.escape(rpz), policy={"rpz": rpz})

    # where jurisdns writes --------------------------------------------------------------------

    def test_query_log_in_a_missing_directory(self):
        qlog = self.tmp.file("missing/query.log")
        self.assertRejected(r"query_log %s: No such file or directory" % re.escape(qlog),
                            log={"query_log": qlog})
        self.assertFalse(os.path.exists(os.path.dirname(qlog)))

    def test_query_log_in_a_directory_that_is_a_file(self):
        # root bypasses permission bits, but not a parent that is a regular file
        qlog = os.path.join(self.path("plain-file", "x\n"), "query.log")
        self.assertRejected(r"query_log %s: Not a directory" % re.escape(qlog), log={"query_log": qlog})

    def test_query_log_that_is_a_directory(self):
        qlog = self.tmp.file("a-directory")
        os.mkdir(qlog)
        self.assertRejected(r"query_log %s: Is a directory" % re.escape(qlog), log={"query_log": qlog})

    def test_check_creates_no_query_log_and_leaves_one_untouched(self):
        new = self.tmp.file("new.log")
        jd = self.configured(log={"query_log": new})
        p = self.check(jd)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(new), "-t created the query log")
        old = self.path("old.log", "{\"old\": 1}\n")
        st = os.stat(old)
        jd = self.configured(log={"query_log": old})
        p = self.check(jd)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(old) as f:
            self.assertEqual(f.read(), "{\"old\": 1}\n")
        self.assertEqual(os.stat(old).st_mtime_ns, st.st_mtime_ns)

    def test_redis_snapshot_in_a_directory_that_is_a_file(self):
        snap = os.path.join(self.path("plain-file", "x\n"), "policy.snapshot")
        self.assertRejected(r"redis policy: snapshot %s: Not a directory" % re.escape(snap),
                            extra="[redis]\naddress = 127.0.0.1:1\nsnapshot = %s\n" % snap)

    def test_redis_snapshot_without_redis_is_not_checked(self):
        snap = os.path.join(self.path("plain-file", "x\n"), "policy.snapshot")
        self.assertAccepted(extra="[redis]\nsnapshot = %s\n" % snap)

    # together ---------------------------------------------------------------------------------

    def test_every_problem_is_reported(self):
        qlog = self.tmp.file("missing/query.log")
        groups = self.tmp.file("nope-groups.conf")
        err = self.assertRejected(r"geoip: /nonexistent\.mmdb", geoip={"db": "/nonexistent.mmdb"},
                                  labels={"groups": groups}, log={"query_log": qlog})
        lines = [l for l in err.splitlines() if l.startswith("jurisdns: error: ")]
        self.assertEqual(len(lines), 3, err)
        self.assertIn(groups, lines[1])
        self.assertIn(qlog, lines[2])

    def test_full_good_config_passes_both(self):
        qlog = self.tmp.file("query.log")
        snap = self.tmp.file("policy.snapshot")
        rpz = self.path("good.rpz", "$TTL 60\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n"
                        "@ NS localhost.\nads.example CNAME .\n")
        self.assertAccepted(extra="[redis]\naddress = 127.0.0.1:1\nsnapshot = %s\n" % snap,
                            geoip={"db": h.require_test_mmdb()}, log={"query_log": qlog},
                            policy={"rpz": rpz})

    def test_check_binds_nothing(self):
        jd = self.configured()
        held = []
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            self.addCleanup(s.close)
            s.bind(("127.0.0.1", jd.port))
            if kind == socket.SOCK_STREAM:
                s.listen(1)
            held.append(s)
        p = self.check(jd)
        self.assertEqual(p.returncode, 0, "-t tried the listen address: %r" % p.stderr)
        self.assertIn("is valid", p.stdout)


if __name__ == "__main__":
    h.main()
