#!/usr/bin/python3
"""Who made each device (issue 12): the IEEE registrant of a client's MAC address, from
[labels] oui (a copy of tests/data/ieee, so that the test can change it), end to end.

A query from the trusted forwarder 127.0.0.1 carries a MAC (EDNS option 65001, as dnsmasq
--add-mac sends it). The daemon names the vendor in the query log (`vendor`, `made`), counts
the MAC as a statistics client in Redis, and jurisdns-ctl names the vendor in `client show`,
`stats` (text and JSON) and the HTML report: for a MAC id, for an address whose DHCP lease has
a MAC, and "private address" for a randomised (locally administered) MAC. After the fixture
changes, a SIGHUP makes the daemon log the new vendor.

Needs /usr/bin/redis-server (or $REDIS_SERVER) and python3-redis."""

import json
import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns

import harness as h

try:
    import redis
except ImportError:  # reported by setUpModule
    redis = None

P = "jurisdns:"
S = P + "{stats}:"

HUAWEI_MAC = "10:32:7e:00:00:01"                  # MA-L 10327E, registered in CN
HUAWEI = "Huawei Device Co., Ltd."
CISCO_MAC = "f4:bd:9e:00:00:02"                   # MA-L F4BD9E, registered in US
CISCO = "Cisco Systems, Inc"
RANDOM_MAC = "02:1a:2b:3c:4d:5e"                  # locally administered
LEASED = "127.0.0.2"                              # no MAC in its queries; its lease has CISCO_MAC
RENAMED = "Renamed Devices GmbH"


def fixture_dir():
    return os.path.join(os.environ.get("abs_top_srcdir") or h.REPO, "tests", "data", "ieee")


def setUpModule():
    h.require_redis()
    h.require_binary()


class Vendor(h.RedisTestCase, h.JDTestCase):
    redis_tmp_prefix = "jd-vendor-redis-"

    def setUp(self):
        super().setUp()
        self.tmp = h.TempDir("jd-vendor-")
        self.addCleanup(self.tmp.cleanup)
        self.ieee = self.tmp.file("ieee")
        shutil.copytree(fixture_dir(), self.ieee)
        self.qlog = self.tmp.file("query.log")
        up = self.fake()
        self.jd = self.daemon(
            [up], tmp=self.tmp, query_log="all",
            labels={"groups": h.shipped_groups(), "oui": self.ieee},
            policy={"default_mode": "log", "trusted_forwarder": "127.0.0.1/32"},
            clients=[(HUAWEI_MAC, {"name": "phone"})],
            redis={"address": self.redis.address, "snapshot": "", "refresh": 0,
                   "timeout": 1000},
            stats={"instance": "v1", "interval": 200, "retention_days": 2})

    def ask(self, qname, mac=None, source="127.0.0.1"):
        opts = [dns.edns.GenericOption(65001, bytes.fromhex(mac.replace(":", "")))] if mac else None
        q = h.make_query(qname, "A", edns=0, options=opts)
        return h.udp(q, self.jd.port, source=source, timeout=3.0)

    def ctl(self, *args):
        p = subprocess.run([h.ctl_bin(), "-c", self.jd.conf] + list(args), capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(p.returncode, 0, "jurisdns-ctl %s: %s" % (" ".join(args), p.stderr))
        return p.stdout

    def log_line(self, qname):
        box = []

        def found():
            box[:] = [l for l in h.read_jsonl(self.qlog) if l["qname"] == qname]
            return bool(box)
        h.wait_for(found, 5.0, interval=0.05, what="a query-log line for %s" % qname)
        return box[0]

    def test_vendor_in_log_ctl_and_report_then_sighup(self):
        self.r.sadd(P + "{policy}:leases", LEASED)
        self.r.hset(P + "{policy}:lease:" + LEASED,
                    mapping={"mac": CISCO_MAC, "hostname": "printer", "expires": "0",
                             "source": "dnsmasq"})
        self.ask("a.vendor.test.", mac=HUAWEI_MAC)
        self.ask("b.vendor.test.", mac=RANDOM_MAC)
        self.ask("c.vendor.test.", source=LEASED)
        line = self.log_line("a.vendor.test")
        self.assertEqual((line.get("mac"), line.get("vendor"), line.get("made")),
                         (HUAWEI_MAC, HUAWEI, "PRC"), line)
        self.assertEqual(self.log_line("b.vendor.test").get("vendor"), "private address")
        want = {HUAWEI_MAC, RANDOM_MAC, LEASED}
        h.wait_for(lambda: want <= self.r.smembers(S + "clients"), 5.0, interval=0.05,
                   what="the statistics clients %s; log:\n%s" % (want, self.jd.read_log()))

        # jurisdns-ctl stats --json: the vendor of a MAC id, of a leased address, a private one
        got = {c["id"]: c for c in json.loads(self.ctl("--json", "stats"))["clients"]}
        self.assertEqual((got[HUAWEI_MAC].get("vendor"), got[HUAWEI_MAC].get("made")),
                         (HUAWEI, "PRC"))
        self.assertEqual((got[LEASED].get("vendor"), got[LEASED].get("made")), (CISCO, None))
        self.assertEqual(got[RANDOM_MAC].get("vendor"), "private address")
        one = json.loads(self.ctl("stats", "phone", "--json"))
        self.assertEqual((one["id"], one["vendor"], one["made"]), (HUAWEI_MAC, HUAWEI, "PRC"))
        # the text: a VENDOR column, and the vendor of one client
        text = self.ctl("stats")
        self.assertIn("VENDOR", text)
        row = [l for l in text.splitlines() if l.startswith(HUAWEI_MAC + " ")]
        self.assertEqual(len(row), 1, text)
        self.assertIn("Huawei Device Co., [PRC]", row[0])
        self.assertIn("Cisco Systems, Inc", [l for l in text.splitlines()
                                             if l.startswith(LEASED + " ")][0])
        one = self.ctl("stats", HUAWEI_MAC)
        self.assertIn("vendor: %s\nmade: PRC\n" % HUAWEI, one)
        # client show (a [client MAC] of the file), text and JSON
        show = self.ctl("client", "show", "phone")
        self.assertIn("vendor: %s\nmade: PRC\n" % HUAWEI, show)
        got = json.loads(self.ctl("--json", "client", "show", HUAWEI_MAC))
        self.assertEqual((got["vendor"], got["made"]), (HUAWEI, "PRC"))
        # the report
        page_path = self.tmp.file("report.html")
        self.ctl("report", "--html", page_path)
        with open(page_path, encoding="utf-8") as f:
            page = f.read()
        self.assertIn('<td data-client="%s" data-field="vendor" data-made="PRC">%s' %
                      (HUAWEI_MAC, HUAWEI), page)
        self.assertIn('<td data-client="%s" data-field="vendor">%s</td>' % (LEASED, CISCO), page)
        self.assertIn('<td data-client="%s" data-field="vendor">private address</td>' % RANDOM_MAC,
                      page)

        # a new ieee-data: SIGHUP, and the daemon names the new registrant
        path = os.path.join(self.ieee, "oui.csv")
        with open(path, encoding="utf-8", newline="") as f:
            csv = f.read()
        self.assertIn("MA-L,10327E,", csv)
        lines = [l for l in csv.split("\r\n") if not l.startswith("MA-L,10327E,")]
        lines.insert(1, "MA-L,10327E,%s,Hauptstrasse 1 Berlin  DE 10115 " % RENAMED)
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
            f.write("\r\n".join(lines))
        os.replace(path + ".tmp", path)
        before = self.jd.read_log().count("MAC address registrations")
        self.jd.signal(signal.SIGHUP)
        h.wait_for(lambda: self.jd.read_log().count("MAC address registrations") > before, 5.0,
                   interval=0.05, what="the vendor table reloaded; log:\n%s" % self.jd.read_log())
        self.ask("d.vendor.test.", mac=HUAWEI_MAC)
        line = self.log_line("d.vendor.test")
        self.assertEqual((line.get("vendor"), line.get("made")), (RENAMED, None), line)
        got = json.loads(self.ctl("--json", "client", "show", HUAWEI_MAC))
        self.assertEqual((got["vendor"], got.get("made")), (RENAMED, None))


if __name__ == "__main__":
    h.main()
