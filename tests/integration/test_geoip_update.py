#!/usr/bin/env python3
"""contrib/geoip/jurisdns-geoip-update, what jurisdns-geoip-update.timer runs daily, without a
network: `location update` is replaced by a command that "downloads" a libloc database file the
test makes (a newer one, a corrupt one, or none at all: offline). The database in use changes
only when the rebuilt file differs, jurisdns is reloaded only then, and any failure leaves the
old file in place with exactly one line on stderr."""

import json
import os
import shutil
import subprocess
import time

import harness as h

UPDATE = os.path.join(h.REPO, "contrib", "geoip", "jurisdns-geoip-update")
# The Debian python3 with the "location" module (build-mmdb's default, too).
PYTHON = os.environ.get("PYTHON", "/usr/bin/python3")

WRITE_LIBLOC = r"""
import sys, location
out, cc = sys.argv[1], sys.argv[2]
w = location.Writer()
w.vendor = "jurisdns test"
w.description = "test networks (documentation ranges)"
w.license = "CC0"
a = w.add_as(64496)
a.name = "TEST-AS-64496"
n = w.add_network("81.2.69.0/24")
n.country_code = cc
n.asn = 64496
n = w.add_network("198.51.100.0/24")
n.country_code = "US"
w.write(out)
"""


def write_libloc(path, cc):
    subprocess.run([PYTHON, "-c", WRITE_LIBLOC, path, cc], check=True, timeout=20)


class GeoipUpdate(h.JDTestCase):

    def setUp(self):
        if subprocess.run([PYTHON, "-c", "import location"], capture_output=True).returncode:
            self.fail("%s lacks the location module (apt-get install python3-location)" % PYTHON)
        self.tmp = h.TempDir("jd-geoup-")
        self.addCleanup(self.tmp.cleanup)
        self.state = self.tmp.file("state")
        os.mkdir(self.state)
        self.out = os.path.join(self.state, "geo.mmdb")
        self.locdb = os.path.join(self.state, "location.db")
        self.reloads = self.tmp.file("reloads")
        # the libloc databases a "download" brings: a first one, and a newer one with other data
        self.first = self.tmp.file("first.db")
        write_libloc(self.first, "CN")
        time.sleep(1.1)     # libloc's created_at has a resolution of one second
        self.newer = self.tmp.file("newer.db")
        write_libloc(self.newer, "DE")

    def run_update(self, fetch, reload=None, state=None):
        env = dict(os.environ, JD_GEOIP_STATE=state or self.state, JD_GEOIP_SYSTEM_LOCDBS="",
                   JD_GEOIP_FETCH=fetch, PYTHON=PYTHON,
                   JD_GEOIP_RELOAD=reload or "echo reload >>'%s'" % self.reloads)
        return subprocess.run([UPDATE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=60)

    def download(self, src):
        """A fetch command that puts src where `location update` would, exit 0 (a new file)."""
        return "cp '%s' '%s'" % (src, self.locdb)

    def nreloads(self):
        try:
            with open(self.reloads) as f:
                return len(f.read().split())
        except FileNotFoundError:
            return 0

    def content(self):
        with open(self.out, "rb") as f:
            return f.read()

    def assertOneLine(self, r):
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("jurisdns-geoip-update: "), lines[0])
        return lines[0]

    def first_build(self):
        r = self.run_update(self.download(self.first))
        self.assertEqual((r.returncode, r.stderr), (0, ""), r.stdout)
        self.assertTrue(os.path.exists(self.out))
        self.assertEqual(self.nreloads(), 1)
        return self.content(), os.stat(self.out)

    def test_rebuilds_and_reloads_only_when_the_data_changed(self):
        before, st = self.first_build()
        # nothing newer (libloc's `location update` exits 3): same bytes, no reload, file untouched
        r = self.run_update("exit 3")
        self.assertEqual((r.returncode, r.stderr), (0, ""), r.stdout)
        self.assertIn("up to date", r.stdout)
        self.assertEqual(self.nreloads(), 1)
        self.assertEqual(os.stat(self.out).st_ino, st.st_ino)
        # a newer database: a new file, one reload
        r = self.run_update(self.download(self.newer))
        self.assertEqual((r.returncode, r.stderr), (0, ""), r.stdout)
        self.assertNotEqual(self.content(), before)
        self.assertEqual(self.nreloads(), 2)

    def test_the_build_is_deterministic(self):
        before, _ = self.first_build()
        other = self.tmp.file("other")
        os.mkdir(other)
        shutil.copy(self.first, os.path.join(other, "location.db"))
        r = self.run_update("none", state=other)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(other, "geo.mmdb"), "rb") as f:
            self.assertEqual(f.read(), before)

    def test_offline_keeps_the_database_and_says_so_once(self):
        before, _ = self.first_build()
        r = self.run_update("echo 'Could not download a new database' >&2; exit 1")
        self.assertEqual(r.returncode, 0, r.stderr)
        line = self.assertOneLine(r)
        self.assertIn("Could not download a new database", line)
        self.assertEqual(self.content(), before)
        self.assertEqual(self.nreloads(), 1)

    def test_a_corrupt_download_keeps_the_database_and_says_so_once(self):
        before, _ = self.first_build()
        with open(self.newer, "rb") as f:
            data = f.read()
        for name, bad in (("truncated", data[:len(data) // 3]), ("garbage", b"not libloc\n" * 50)):
            with self.subTest(name):
                path = self.tmp.file(name + ".db")
                with open(path, "wb") as f:
                    f.write(bad)
                r = self.run_update(self.download(path))
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                line = self.assertOneLine(r)
                self.assertIn("keeping " + self.out, line)
                self.assertEqual(self.content(), before)
                self.assertEqual(self.nreloads(), 1)
                self.assertEqual(sorted(os.listdir(self.state)), ["geo.mmdb", "location.db"])

    def test_the_running_daemon_uses_the_new_data_after_the_reload(self):
        self.first_build()
        # build-mmdb, as MaxMind's writer, drops reserved ranges such as 192.0.2.0/24: this
        # address is in a public one (never contacted: it is only the data of an answer)
        up = self.fake(address="81.2.69.160")    # CN in the first libloc database, DE in the newer
        qlog = self.tmp.file("queries.jsonl")
        jd = self.daemon([up], geoip={"db": self.out, "max_age": 0, "check_interval": 0},
                         log={"query_log": qlog, "query_log_mode": "all"})

        def country(qname):
            """The country of the first answer of qname in the query log, None until it is there."""
            try:
                with open(qlog) as f:
                    for l in f:
                        e = json.loads(l)
                        if e["qname"] == qname and e["answers"]:
                            return e["answers"][0].get("country")
            except (OSError, ValueError):
                pass
            return None

        jd.q("a.example.test.")
        self.assertEqual(h.wait_for(lambda: country("a.example.test"), 5.0, what="a query log line"),
                         "CN")
        # check_interval = 0: only the SIGHUP that the update sends can bring the new data in
        r = self.run_update(self.download(self.newer), reload="kill -HUP %d" % jd.proc.pid)
        self.assertEqual((r.returncode, r.stderr), (0, ""), r.stdout)
        seen = []
        for i in range(25):         # a fresh name each time: no cached answer, a new lookup
            name = "b%d.example.test" % i
            jd.q(name + ".")
            seen.append(h.wait_for(lambda: country(name), 5.0, what=name + " in the query log"))
            if seen[-1] == "DE":
                break
            time.sleep(0.2)
        self.assertEqual(seen[-1], "DE", "countries after the update: %s; log:\n%s"
                         % (seen, jd.read_log()))

if __name__ == "__main__":
    h.main()
