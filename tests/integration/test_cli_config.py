#!/usr/bin/python3
"""Command line and configuration file: -V, -h, bad options, -t with valid and invalid files
(FILE:LINE: message), -l/-u overriding the file, repeatable listen addresses."""

import os
import re
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


if __name__ == "__main__":
    h.main()
