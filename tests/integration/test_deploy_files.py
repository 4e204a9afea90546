#!/usr/bin/env python3
"""The files a household admin deploys beside the daemon tell the truth: the logrotate config
keeps the query log writable for the service's own user, the systemd unit lets jurisdns write
where its example configuration writes, the GeoIP warning names the refresh that works, and the
man pages are complete."""

import json
import os
import re
import shutil
import subprocess

import harness as h

CONTRIB = os.path.join(h.REPO, "contrib")
DOCS = os.path.join(h.REPO, "docs")
NOBODY = 65534
LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"


class AsNobody(h.Jurisdns):
    """The daemon as an unprivileged user, as under systemd's DynamicUser."""

    def argv(self):
        return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + \
            super().argv()


class Logrotate(h.JDTestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run the daemon as another user")
        if not os.path.exists(LOGROTATE):
            self.fail("logrotate not found (apt-get install logrotate)")
        self.knot = h.Knot()
        self.knot.start()
        self.addCleanup(self.knot.stop)

    def lines(self, path):
        try:
            with open(path) as f:
                return [json.loads(l) for l in f if l.startswith("{")]
        except OSError:
            return []

    def test_rotation_keeps_the_log_writable_by_the_service_user(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        os.chmod(tmp.path, 0o755)
        logdir = os.path.join(tmp.path, "log")
        os.mkdir(logdir, 0o755)
        os.chown(logdir, NOBODY, NOBODY)
        qlog = os.path.join(logdir, "queries.jsonl")
        jd = AsNobody(upstreams=[self.knot.addr], tmp=tmp,
                      log={"query_log": qlog, "query_log_mode": "all"})
        self.addCleanup(jd.kill)
        jd.start()
        self.addCleanup(jd.stop)
        os.chmod(jd.conf, 0o644)
        jd.q("www.example.test.")
        h.wait_for(lambda: any(l["qname"] == "www.example.test" for l in self.lines(qlog)), 3.0,
                   what="the first line in the query log")
        self.assertEqual(os.stat(qlog).st_uid, NOBODY)

        with open(os.path.join(CONTRIB, "jurisdns.logrotate")) as f:
            conf = f.read()
        self.assertIn("/var/log/jurisdns/queries.jsonl", conf)
        conf = conf.replace("/var/log/jurisdns/queries.jsonl", qlog)
        conf = re.sub(r"(?m)^(\s*)systemctl kill .*$", r"\1kill -HUP %d" % jd.proc.pid, conf)
        rconf = tmp.file("logrotate.conf")
        with open(rconf, "w") as f:
            f.write(conf)
        r = subprocess.run([LOGROTATE, "-f", "-s", tmp.file("logrotate.state"), rconf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(os.path.exists(qlog + ".1"), os.listdir(logdir))

        # after the SIGHUP the daemon writes on, into a file of its own
        def written():
            jd.q("host2.example.test.")
            return any(l["qname"] == "host2.example.test" for l in self.lines(qlog))
        h.wait_for(written, 5.0, interval=0.2,
                   what="a line in the new query log after rotation; log:\n" + jd.read_log())
        self.assertEqual(os.stat(qlog).st_uid, NOBODY)
        self.assertTrue(any(l["qname"] == "www.example.test" for l in self.lines(qlog + ".1")))


def unit_directives(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")) or "=" not in line:
                continue
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def conf_values(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith((";", "#", "[")) or "=" not in line:
                continue
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.split(";")[0].strip())
    return out


class SystemdUnit(h.JDTestCase):

    def test_the_example_config_writes_only_where_the_unit_allows(self):
        u = unit_directives(os.path.join(CONTRIB, "jurisdns.service.in"))
        self.assertIn("strict", u.get("ProtectSystem", []))
        writable = []
        for k, base in (("StateDirectory", "/var/lib"), ("LogsDirectory", "/var/log"),
                        ("RuntimeDirectory", "/run"), ("CacheDirectory", "/var/cache")):
            for v in u.get(k, []):
                writable += [os.path.join(base, d) for d in v.split()]
        for v in u.get("ReadWritePaths", []):
            writable += v.split()
        c = conf_values(os.path.join(CONTRIB, "jurisdns.conf"))
        wants = [os.path.dirname(p) for p in c.get("query_log", []) if p not in ("", "-")]
        wants.append("/var/lib/jurisdns")     # the Redis policy snapshot (default path)
        for d in wants:
            self.assertTrue(any(d == w or d.startswith(w + "/") for w in writable),
                            "%s is read-only under the unit (writable: %s)" % (d, writable))

    def test_reload_is_sighup(self):
        u = unit_directives(os.path.join(CONTRIB, "jurisdns.service.in"))
        self.assertTrue(any("HUP" in v for v in u.get("ExecReload", [])), u.get("ExecReload"))

    def installed_units(self, tmp):
        """The units as `make install` writes them, pointing at the binaries of this build."""
        paths = {"@sbindir@": os.path.dirname(h.jurisdns_bin()), "@sysconfdir@": "/etc",
                 "@jdlibexecdir@": os.path.join(h.REPO, "contrib", "geoip")}
        out = []
        for src in ("jurisdns.service.in", "geoip/jurisdns-geoip-update.service.in"):
            with open(os.path.join(CONTRIB, src)) as f:
                text = f.read()
            for k, v in paths.items():
                text = text.replace(k, v)
            dst = tmp.file(os.path.basename(src)[:-3])
            with open(dst, "w") as f:
                f.write(text)
            out.append(dst)
        shutil.copy(os.path.join(CONTRIB, "geoip", "jurisdns-geoip-update.timer"), tmp.path)
        return out + [tmp.file("jurisdns-geoip-update.timer")]

    def test_the_sandbox_scores_better_than_debians_dnsdist_and_unbound(self):
        # systemd 252 on Debian 12 scores dnsdist.service 2.1 and unbound.service 9.6
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        units = self.installed_units(tmp)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + units, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        for unit in units[:2]:
            r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            self.assertTrue(m, r.stdout)
            self.assertLess(float(m.group(1)), 2.1, r.stdout)
        u = unit_directives(os.path.join(CONTRIB, "jurisdns.service.in"))
        self.assertEqual(u.get("User"), ["jurisdns"])
        self.assertNotIn("DynamicUser", u)
        self.assertEqual(u.get("CapabilityBoundingSet"), ["CAP_NET_BIND_SERVICE"])
        self.assertEqual(u.get("ProtectSystem"), ["strict"])
        self.assertEqual(u.get("RestrictAddressFamilies"), ["AF_INET AF_INET6 AF_UNIX"])
        self.assertTrue(u.get("SystemCallFilter"))
        with open(os.path.join(CONTRIB, "sysusers.d", "jurisdns.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^u jurisdns - .* /var/lib/jurisdns$")

    def test_the_geoip_timer_runs_daily_with_a_random_delay(self):
        u = unit_directives(os.path.join(CONTRIB, "geoip", "jurisdns-geoip-update.timer"))
        self.assertEqual(u.get("OnCalendar"), ["daily"])
        self.assertTrue(u.get("RandomizedDelaySec"))
        self.assertEqual(u.get("Persistent"), ["true"])


class GeoWarning(h.JDTestCase):

    def test_old_database_warning_names_a_refresh_that_works(self):
        # the test database has a fixed build date in 2023: older than max_age = 90 days
        knot = h.Knot()
        knot.start()
        self.addCleanup(knot.stop)
        jd = self.daemon([knot.addr], geoip={"db": h.test_mmdb(), "max_age": 90})
        warn = [l for l in jd.read_log().splitlines() if "warning" in l and "days old" in l]
        self.assertEqual(len(warn), 1, jd.read_log())
        self.assertIn("location update", warn[0])
        self.assertIn("build-mmdb --out %s" % h.test_mmdb(), warn[0])


class ManPages(h.JDTestCase):

    def render(self, page):
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual((r.returncode, r.stderr), (0, ""), page)

    def test_pages_render_and_refer_to_each_other(self):
        pages = {"jurisdns.8": ("jurisdns.conf (5)", "jurisdns-ctl (1)"),
                 "jurisdns-ctl.1": ("jurisdns (8)", "jurisdns.conf (5)"),
                 "jurisdns.conf.5": ("jurisdns (8)", "jurisdns-ctl (1)")}
        for page, refs in pages.items():
            path = os.path.join(DOCS, page)
            self.assertTrue(os.path.exists(path), path)
            self.render(path)
            with open(path) as f:
                text = f.read()
            see = text[text.find(".SH SEE ALSO"):]
            self.assertGreater(text.find(".SH SEE ALSO"), 0, page)
            flat = re.sub(r"\\f[BIRP]|\.BR |\.B |\.IR ", "", see).replace("\\-", "-")
            for ref in refs:
                self.assertIn(ref, flat, "%s: SEE ALSO lacks %s" % (page, ref))
            # pages are installed; docs/*.md are not
            self.assertNotIn("docs/configuration.md", text, page)
        with open(os.path.join(h.REPO, "Makefile.am")) as f:
            self.assertRegex(f.read(), r"dist_man_MANS = .*docs/jurisdns\.conf\.5")


if __name__ == "__main__":
    h.main()
