#!/usr/bin/python3
"""Jurisdiction labels and the JSON-lines query log, end to end: knotd serves tests/zones/
labels.zone (labels.test.) and tests/zones/tuyaeu.zone (tuyaeu.com., a vendor cloud domain listed
in zones/prc-domains.txt); the daemon forwards to it with the test GeoIP database
(tests/data/test.mmdb, built from tests/data/geo-fixture.txt) and the shipped PRC group.

Covered: hosted/operator/domain reasons, CNAME chains, HTTPS hints, AAAA, unknown addresses, the
exact line format, labels on cache hits, query_log_mode, client_id, log reopen on SIGHUP, GeoIP
reload (SIGHUP, check_interval, broken file), `-V`, a missing database at start."""

import hashlib
import hmac
import ipaddress
import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode
import dns.rdatatype

import harness as h

KNOT = None
ZONES = [("labels.test.", os.path.join(h.zone_dir(), "labels.zone")),
         ("tuyaeu.com.", os.path.join(h.zone_dir(), "tuyaeu.zone"))]

KEYS = ["ts", "client", "qname", "qtype", "rcode", "cached", "upstream", "transport", "latency_ms",
        "answers", "labels", "action"]
ANSWER_KEYS = ["ip", "country", "asn", "as_org"]
LABEL_KEYS = ["group", "reason"]
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# the fixture's records (tests/data/geo-fixture.txt)
CHINANET = ("CN", 4134, "CHINANET-BACKBONE")
UNICOM_HK = ("HK", 9929, "CHINA UNICOM Industrial Internet Backbone")
CTM_MO = ("MO", 4609, "Companhia de Telecomunica\u00e7\u00f5es de Macau")
ALI_DE = ("DE", 45102, "Alibaba US Technology Co., Ltd.")
TENCENT_DE = ("DE", 132203, "Tencent Building, Kejizhongyi Avenue")
DTAG = ("DE", 3320, "Deutsche Telekom AG")
UNKNOWN = ("unknown", None, None)


def ans(ip, rec):
    return {"ip": ip, "country": rec[0], "asn": rec[1], "as_org": rec[2]}


def prc(*reasons):
    return [{"group": "PRC", "reason": r} for r in reasons]


def setUpModule():
    global KNOT
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


wait_log = h.Jurisdns.wait_log            # wait_log(jd, text, count=1, timeout=3.0)
real_lines = h.real_lines


def hup_and_wait(jd):
    """SIGHUP (the config file as it is) and wait for the 'reloaded' line that ends the reload."""
    jd.hup_and_wait(rewrite=False)


def lines_for(path, qname, qtype="A", n=1, timeout=3.0):
    """Wait until the log at path has n lines for qname/qtype; return those lines."""
    return h.wait_log_lines(path, n, timeout, qname=qname, qtype=qtype)


class LabelLogMixin:
    """Helpers shared by the test classes (self.qlog is the query-log path)."""

    def logging_daemon(self, upstreams=None, mode="all", **kw):
        """A started daemon (self.daemon keywords) forwarding to knotd unless upstreams says
        otherwise, with the test GeoIP database unless geoip is given, and a query log of that
        mode (self.qlog)."""
        kw.setdefault("test_geoip", "geoip" not in kw)
        jd = self.daemon(upstreams or [KNOT], query_log=mode, **kw)
        self.qlog = jd.qlog
        return jd

    def check_line(self, line):
        """Format checks every line must pass."""
        self.assertEqual(line.keys_order, KEYS, "keys or their order changed: %r" % line)
        self.assertRegex(line["ts"], TS_RE)
        self.assertIsInstance(line["cached"], bool)
        self.assertIsInstance(line["latency_ms"], float)
        self.assertGreaterEqual(line["latency_ms"], 0.0)
        self.assertEqual(line["action"], "pass")
        for a in line["answers"]:
            self.assertEqual(a.keys_order, ANSWER_KEYS, a)
        for lab in line["labels"]:
            self.assertEqual(lab.keys_order, LABEL_KEYS, lab)
        if line["cached"]:
            self.assertIsNone(line["upstream"])

    def logged(self, qname, qtype="A", n=1):
        ls = lines_for(self.qlog, qname.rstrip(".").lower(), qtype, n)
        for l in ls:
            self.check_line(l)
        return ls

    def assertLabelled(self, qname, qtype, answers, labels, transport="udp"):
        """Query, then check the answer's rcode and the log line's answers and labels."""
        r = self.jd.q(qname, qtype, transport=transport)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR, r)
        line = self.logged(qname, qtype)[0]
        self.assertEqual(line["answers"], answers, line)
        self.assertEqual(line["labels"], labels, line)
        self.assertEqual(line["rcode"], "NOERROR")
        self.assertFalse(line["cached"])
        self.assertEqual(line["upstream"], KNOT.addr)
        return line


class Labels(LabelLogMixin, h.ClassDaemonTestCase):
    """One daemon for the class, logging every query (query_log_mode = all) to a file."""

    @classmethod
    def daemon_args(cls):
        return dict(upstreams=[KNOT], test_geoip=True, query_log="all")

    # --- reasons ----------------------------------------------------------------------------

    def test_hosted_cn(self):
        self.assertLabelled("cn.labels.test.", "A", [ans("192.0.2.1", CHINANET)],
                            prc("hosted:CN", "operator:AS4134"))

    def test_hosted_hk(self):
        self.assertLabelled("hk.labels.test.", "A", [ans("192.0.2.65", UNICOM_HK)],
                            prc("hosted:HK", "operator:AS9929"))

    def test_hosted_mo_utf8_org(self):
        line = self.assertLabelled("mo.labels.test.", "A", [ans("192.0.2.129", CTM_MO)],
                                   prc("hosted:MO", "operator:AS4609"))
        # the organisation is written as raw UTF-8, not as \u escapes
        with open(self.qlog, "rb") as f:
            raw = f.read()
        self.assertIn("Companhia de Telecomunica\u00e7\u00f5es de Macau".encode("utf-8"), raw)
        self.assertEqual(line["answers"][0]["as_org"].count("\u00e7"), 1)

    def test_operator_only_alibaba_in_de(self):
        line = self.assertLabelled("ali-de.labels.test.", "A", [ans("192.0.2.193", ALI_DE)],
                                   prc("operator:AS45102"))
        self.assertEqual(line["answers"][0]["country"], "DE")

    def test_operator_only_tencent_in_de(self):
        self.assertLabelled("tencent-de.labels.test.", "A", [ans("198.51.100.193", TENCENT_DE)],
                            prc("operator:AS132203"))

    def test_domain_label_vendor_cloud(self):
        # tuyaeu.com is in zones/prc-domains.txt; the address itself (DE, AS3320) is unlabelled
        self.assertLabelled("a1.tuyaeu.com.", "A", [ans("198.51.100.7", DTAG)],
                            prc("domain:tuyaeu.com"))

    def test_domain_label_behind_cname(self):
        # cam.labels.test is a CNAME to a1.tuyaeu.com (another zone: knotd gives only the CNAME)
        r = self.jd.q("cam.labels.test.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual([rr.rdtype for rr in r.answer], [dns.rdatatype.CNAME])
        line = self.logged("cam.labels.test")[0]
        self.assertEqual(line["answers"], [])
        self.assertEqual(line["labels"], prc("domain:tuyaeu.com"))

    def test_domain_label_on_nxdomain(self):
        r = self.jd.q("nx.tuyaeu.com.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        line = self.logged("nx.tuyaeu.com")[0]
        self.assertEqual(line["rcode"], "NXDOMAIN")
        self.assertEqual(line["answers"], [])
        self.assertEqual(line["labels"], prc("domain:tuyaeu.com"))
        self.assertEqual(line["upstream"], KNOT.addr)

    def test_cname_chain_labels_the_final_address(self):
        r = self.jd.q("a.chain.labels.test.", "A")
        self.assertEqual([rr.rdtype for rr in r.answer],
                         [dns.rdatatype.CNAME, dns.rdatatype.CNAME, dns.rdatatype.A])
        line = self.logged("a.chain.labels.test")[0]
        self.assertEqual(line["answers"], [ans("192.0.2.3", CHINANET)])
        self.assertEqual(line["labels"], prc("hosted:CN", "operator:AS4134"))

    def test_cname_chain_to_unlabelled_address(self):
        self.assertLabelled("a.plain.labels.test.", "A", [ans("198.51.100.3", DTAG)], [])

    def test_https_hints(self):
        r = self.jd.q("svc.labels.test.", "HTTPS")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        line = self.logged("svc.labels.test", "HTTPS")[0]
        self.assertEqual(line["answers"], [ans("198.51.100.4", DTAG), ans("192.0.2.66", UNICOM_HK),
                                           ans("2001:db8:1::4", CHINANET)])
        self.assertEqual(line["labels"], prc("hosted:HK", "operator:AS9929", "hosted:CN",
                                             "operator:AS4134"))

    def test_https_hints_unlabelled(self):
        self.assertLabelled("svcde.labels.test.", "HTTPS",
                            [ans("198.51.100.5", DTAG), ans("2001:db8:2::5", DTAG)], [])

    def test_aaaa_cn(self):
        self.assertLabelled("v6cn.labels.test.", "AAAA", [ans("2001:db8:1::1", CHINANET)],
                            prc("hosted:CN", "operator:AS4134"))

    def test_aaaa_de_unlabelled(self):
        self.assertLabelled("v6de.labels.test.", "AAAA", [ans("2001:db8:2::1", DTAG)], [])

    def test_unknown_addresses(self):
        r = self.jd.q("unknown.labels.test.", "A")
        self.assertEqual(h.rrset_addresses(r), ["203.0.113.241", "203.0.113.250"])
        line = self.logged("unknown.labels.test")[0]
        self.assertEqual(sorted(line["answers"], key=lambda a: a["ip"]),
                         [ans("203.0.113.241", UNKNOWN), ans("203.0.113.250", UNKNOWN)])
        self.assertEqual(line["labels"], [])

    def test_unknown_ipv6(self):
        self.assertLabelled("unknown6.labels.test.", "AAAA", [ans("2001:db8:ff::1", UNKNOWN)], [])

    def test_partial_records(self):
        self.assertLabelled("cconly.labels.test.", "A", [ans("198.51.100.225", ("DE", None, None))],
                            [])
        self.assertLabelled("asnonly.labels.test.", "A",
                            [ans("198.51.100.241", ("unknown", 13335, "CLOUDFLARENET"))], [])

    def test_one_cn_address_among_others(self):
        r = self.jd.q("mixed.labels.test.", "A")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.2", "198.51.100.2"])
        line = self.logged("mixed.labels.test")[0]
        self.assertEqual(sorted(line["answers"], key=lambda a: a["ip"]),
                         [ans("192.0.2.2", CHINANET), ans("198.51.100.2", DTAG)])
        self.assertEqual(line["labels"], prc("hosted:CN", "operator:AS4134"))

    # --- the line itself ---------------------------------------------------------------------

    def test_exact_line_format(self):
        before = time.time()
        r = self.jd.q("FmT.Labels.TEST.", "A")
        self.assertEqual(h.rrset_addresses(r), ["192.0.2.4"])
        line = self.logged("fmt.labels.test")[0]
        after = time.time()
        self.assertEqual(line.keys_order, KEYS)
        self.assertEqual(line["client"], "127.0.0.1")
        self.assertEqual(line["qname"], "fmt.labels.test")   # lower case, no trailing dot
        self.assertEqual(line["qtype"], "A")
        self.assertEqual(line["rcode"], "NOERROR")
        self.assertIs(line["cached"], False)
        self.assertEqual(line["upstream"], KNOT.addr)
        self.assertGreaterEqual(line["latency_ms"], 0.0)
        self.assertLess(line["latency_ms"], 3000.0)
        self.assertEqual(line["answers"], [ans("192.0.2.4", CHINANET)])
        self.assertEqual(line["labels"], prc("hosted:CN", "operator:AS4134"))
        self.assertEqual(line["action"], "pass")
        # the timestamp is UTC, milliseconds, and taken while the query was handled
        ts = time.mktime(time.strptime(line["ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        ts += int(line["ts"][20:23]) / 1000.0
        self.assertGreaterEqual(ts, before - 1.0)
        self.assertLessEqual(ts, after + 1.0)
        # exact text of the fixed part of the line
        with open(self.qlog, "rb") as f:
            raw = [l for l in f.read().split(b"\n") if b'"qname":"fmt.labels.test"' in l][0]
        tail = (b',"answers":[{"ip":"192.0.2.4","country":"CN","asn":4134,'
                b'"as_org":"CHINANET-BACKBONE"}],"labels":[{"group":"PRC","reason":"hosted:CN"},'
                b'{"group":"PRC","reason":"operator:AS4134"}],"action":"pass"}')
        self.assertTrue(raw.endswith(tail), raw)
        self.assertRegex(raw.decode(), r'^\{"ts":"[^"]+","client":"127\.0\.0\.1","qname":'
                                       r'"fmt\.labels\.test","qtype":"A","rcode":"NOERROR",'
                                       r'"cached":false,"upstream":"127\.0\.0\.1:\d+",'
                                       r'"transport":"udp","latency_ms":\d+\.\d{3},"answers":')

    def test_every_line_is_well_formed(self):
        self.jd.q("cn.labels.test.", "A")
        lines = h.wait_jsonl(self.qlog, 1)
        for l in lines:
            self.check_line(l)

    def test_cache_hit_keeps_labels(self):
        for qtype in ("A", "AAAA"):
            r1 = self.jd.q("cachehit.labels.test.", qtype)
            r2 = self.jd.q("cachehit.labels.test.", qtype)
            self.assertEqual(h.rrset_addresses(r1, dns.rdatatype.from_text(qtype)),
                             h.rrset_addresses(r2, dns.rdatatype.from_text(qtype)))
            first, second = self.logged("cachehit.labels.test", qtype, 2)[:2]
            self.assertIs(first["cached"], False)
            self.assertEqual(first["upstream"], KNOT.addr)
            self.assertIs(second["cached"], True)
            self.assertIsNone(second["upstream"])
            self.assertGreaterEqual(second["latency_ms"], 0.0)
            self.assertEqual(second["answers"], first["answers"])
            self.assertEqual(second["labels"], first["labels"])
            self.assertEqual(second["labels"], prc("hosted:HK", "operator:AS9929"))
        self.assertEqual(first["answers"], [ans("2001:db8:5::67", UNICOM_HK)])

    def test_tcp_query_is_logged(self):
        self.assertLabelled("tcpq.labels.test.", "A", [ans("192.0.2.130", CTM_MO)],
                            prc("hosted:MO", "operator:AS4609"), transport="tcp")

    def test_nxdomain_line(self):
        r = self.jd.q("nx.labels.test.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        line = self.logged("nx.labels.test")[0]
        self.assertEqual((line["rcode"], line["cached"], line["upstream"], line["answers"],
                          line["labels"]), ("NXDOMAIN", False, KNOT.addr, [], []))


class Modes(LabelLogMixin, h.JDTestCase):
    """query_log_mode, query_log, client_id: one daemon per test."""

    QUERIES = [("cn.labels.test.", "A", True), ("de.labels.test.", "A", False),
               ("ali-de.labels.test.", "A", True), ("unknown.labels.test.", "A", False),
               ("a1.tuyaeu.com.", "A", True), ("nx.labels.test.", "A", False),
               ("v6cn.labels.test.", "AAAA", True), ("svcde.labels.test.", "HTTPS", False)]

    def start(self, log=None, geoip=None, **kw):
        """A daemon forwarding to knotd; query_log = "FILE" in log means a file in its tmp dir
        (self.qlog)."""
        jd = self.daemon([KNOT.addr], start=False,
                         geoip=geoip if geoip is not None else {"db": h.test_mmdb(),
                                                                "check_interval": 0},
                         log=log, **kw)
        self.qlog = None
        if log is not None and log.get("query_log") == "FILE":
            self.qlog = jd.logsec["query_log"] = jd.tmp.file("query.log")
        jd.start()
        self.addCleanup(jd.stop)
        self.jd = jd
        return jd

    def run_queries(self):
        for name, qtype, _ in self.QUERIES:
            self.jd.q(name, qtype)
        # a labelled marker last: once it is in the log, every earlier line is too (one worker,
        # the writer keeps the order of the ring)
        self.jd.q("marker.freshcn.labels.test.", "A")

    def test_mode_labelled_writes_only_labelled(self):
        self.start(log={"query_log": "FILE", "query_log_mode": "labelled"})
        self.run_queries()
        lines_for(self.qlog, "marker.freshcn.labels.test")
        lines = h.read_jsonl(self.qlog)
        got = [(l["qname"], l["qtype"]) for l in lines]
        want = [(n.rstrip("."), t) for n, t, lab in self.QUERIES if lab]
        want.append(("marker.freshcn.labels.test", "A"))
        self.assertEqual(got, want)
        for l in lines:
            self.check_line(l)
            self.assertTrue(l["labels"], l)

    def test_mode_all_writes_every_query(self):
        self.start(log={"query_log": "FILE", "query_log_mode": "all"})
        self.run_queries()
        lines_for(self.qlog, "marker.freshcn.labels.test")
        lines = real_lines(h.read_jsonl(self.qlog))
        got = [(l["qname"], l["qtype"]) for l in lines]
        want = [(n.rstrip("."), t) for n, t, _ in self.QUERIES]
        want.append(("marker.freshcn.labels.test", "A"))
        self.assertEqual(got, want)
        for l, (_, _, lab) in zip(lines, self.QUERIES):
            self.check_line(l)
            self.assertEqual(bool(l["labels"]), lab, l)

    def test_mode_none_writes_nothing(self):
        self.start(log={"query_log": "FILE", "query_log_mode": "none"})
        self.run_queries()
        time.sleep(0.6)  # several writer periods (~100 ms)
        self.assertEqual(h.read_jsonl(self.qlog), [])
        if os.path.exists(self.qlog):
            self.assertEqual(os.path.getsize(self.qlog), 0)

    def test_empty_query_log_is_off(self):
        jd = self.start(log={"query_log": "", "query_log_mode": "all"})
        self.run_queries()
        time.sleep(0.6)
        self.assertNotIn('"qname"', jd.read_log())

    def test_default_log_is_stdout_labelled(self):
        # no [log] section: query_log = "-" (stdout) and query_log_mode = labelled
        jd = self.start(log=None)
        self.run_queries()

        def json_lines():
            import json
            return [json.loads(l) for l in jd.read_log().splitlines() if l.startswith("{")]

        h.wait_for(lambda: any(l["qname"] == "marker.freshcn.labels.test" for l in json_lines()),
                   3.0, interval=0.05, what="the marker on stdout:\n" + jd.read_log())
        got = [(l["qname"], l["qtype"]) for l in json_lines()]
        want = [(n.rstrip("."), t) for n, t, lab in self.QUERIES if lab]
        want.append(("marker.freshcn.labels.test", "A"))
        self.assertEqual(got, want)

    def hashed_client(self, key, source=None):
        self.start(log={"query_log": "FILE", "query_log_mode": "all", "client_id": "hash",
                        "client_hash_key": key})
        r = h.query("cn.labels.test.", "A", port=self.jd.port) if source is None else \
            h.udp(h.make_query("cn.labels.test.", "A"), self.jd.port, source=source)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        line = self.logged("cn.labels.test")[0]
        with open(self.qlog, "rb") as f:
            raw = f.read()
        return line, raw

    @staticmethod
    def expected_hash(key, ip):
        v6 = ipaddress.IPv6Address("::ffff:" + ip).packed
        return "h:" + hmac.new(key.encode(), v6, hashlib.sha256).hexdigest()[:16]

    def test_client_id_hash(self):
        l1, raw1 = self.hashed_client("k-one")
        self.jd.stop()
        l2, raw2 = self.hashed_client("k-one")
        self.jd.stop()
        l3, raw3 = self.hashed_client("k-two")
        self.assertRegex(l1["client"], r"^h:[0-9a-f]{16}$")
        self.assertEqual(l1["client"], l2["client"], "same key and IP, different id")
        self.assertNotEqual(l1["client"], l3["client"], "another key, same id")
        self.assertEqual(l1["client"], self.expected_hash("k-one", "127.0.0.1"))
        self.assertEqual(l3["client"], self.expected_hash("k-two", "127.0.0.1"))
        for raw in (raw1, raw2, raw3):
            self.assertNotIn(b"127.0.0.1\"", raw.replace(
                ('"upstream":"%s"' % KNOT.addr).encode(), b""))
            self.assertNotIn(b'"mac"', raw)
        self.assertEqual(l1.keys_order, KEYS)

    def test_client_id_hash_differs_per_ip(self):
        l1, _ = self.hashed_client("k-one", source="127.0.0.2")
        self.assertEqual(l1["client"], self.expected_hash("k-one", "127.0.0.2"))
        self.assertNotEqual(l1["client"], self.expected_hash("k-one", "127.0.0.1"))

    def test_client_id_mac_without_mac_falls_back_to_ip(self):
        self.start(log={"query_log": "FILE", "query_log_mode": "all", "client_id": "mac"})
        self.jd.q("cn.labels.test.", "A")
        line = self.logged("cn.labels.test")[0]
        self.assertEqual(line["client"], "127.0.0.1")

    def test_acl_refused_is_logged(self):
        self.start(log={"query_log": "FILE", "query_log_mode": "all"},
                   server={"deny": "127.0.0.2/32"})
        r = h.udp(h.make_query("cn.labels.test.", "A"), self.jd.port, source="127.0.0.2")
        self.assertEqual(r.rcode(), dns.rcode.REFUSED)
        line = self.logged("cn.labels.test")[0]
        self.assertEqual((line["client"], line["rcode"], line["cached"], line["upstream"],
                          line["answers"], line["labels"]),
                         ("127.0.0.2", "REFUSED", False, None, [], []))

    def test_upstream_servfail_and_timeout_lines(self):
        up = self.fake()
        up.set_mode("sf.labels.test.", "servfail")
        up.set_mode("to.labels.test.", "silent")
        jd = self.logging_daemon([up], upstream={"timeout": 300})
        self.assertEqual(jd.q("sf.labels.test.").rcode(), dns.rcode.SERVFAIL)
        self.assertEqual(jd.q("to.labels.test.", timeout=5).rcode(), dns.rcode.SERVFAIL)
        # an upstream SERVFAIL is not an answer to pass on: the daemon's own SERVFAIL (after
        # failover/timeout) is logged without an upstream, like a timeout
        sf = self.logged("sf.labels.test")[0]
        self.assertEqual((sf["rcode"], sf["cached"], sf["upstream"], sf["answers"], sf["labels"]),
                         ("SERVFAIL", False, None, [], []))
        to = self.logged("to.labels.test")[0]
        self.assertEqual((to["rcode"], to["cached"], to["upstream"], to["answers"], to["labels"]),
                         ("SERVFAIL", False, None, [], []))
        self.assertGreaterEqual(to["latency_ms"], 250.0)


class Reopen(LabelLogMixin, h.JDTestCase):

    def test_sighup_reopens_the_log(self):
        jd = self.logging_daemon(mode="labelled")
        jd.q("cn.labels.test.")
        lines_for(self.qlog, "cn.labels.test")
        rotated = self.qlog + ".1"
        os.rename(self.qlog, rotated)
        jd.q("hk.labels.test.")       # written before the SIGHUP: still to the renamed file
        lines_for(rotated, "hk.labels.test")
        hup_and_wait(jd)
        jd.q("mo.labels.test.")
        new = lines_for(self.qlog, "mo.labels.test")
        self.assertEqual([l["qname"] for l in h.read_jsonl(self.qlog)], ["mo.labels.test"])
        self.assertEqual(new[0]["labels"], prc("hosted:MO", "operator:AS4609"))
        self.assertEqual([l["qname"] for l in h.read_jsonl(rotated)],
                         ["cn.labels.test", "hk.labels.test"])
        self.assertTrue(jd.alive())


MODIFIED = """
# modified copy of the fixture: 198.51.100.0/25 moves to CN (was DE AS3320)
198.51.100.0/25     CN  AS4837    "CHINA UNICOM China169 Backbone"
192.0.2.0/26        CN  AS4134    "CHINANET-BACKBONE"
2001:db8:2::/48     CN  AS4837    "CHINA UNICOM China169 Backbone"
"""
UNICOM_CN = ("CN", 4837, "CHINA UNICOM China169 Backbone")


class GeoReload(LabelLogMixin, h.JDTestCase):

    def setUp(self):
        self.tmp = h.TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.db = self.tmp.file("geo.mmdb")
        shutil.copyfile(h.test_mmdb(), self.db)
        self.n = 0

    def build_modified(self):
        fx = self.tmp.file("modified-fixture.txt")
        with open(fx, "w") as f:
            f.write(MODIFIED)
        return h.make_test_mmdb(fx, self.tmp.file("modified.mmdb"))

    def start(self, check_interval):
        self.jd = self.logging_daemon(geoip={"db": self.db, "check_interval": check_interval})
        return self.jd

    def fresh(self, zone="fresh"):
        """A name nobody asked before (a cache miss): its line."""
        self.n += 1
        name = "n%d-%d.%s.labels.test" % (self.n, time.monotonic_ns() % 1000000, zone)
        self.jd.q(name + ".", "A")
        return self.logged(name)[0]

    def test_sighup_reloads_a_replaced_db(self):
        self.start(check_interval=0)
        self.assertEqual(self.fresh()["answers"], [ans("198.51.100.6", DTAG)])
        os.replace(self.build_modified(), self.db)
        time.sleep(0.3)
        self.assertEqual(self.fresh()["answers"], [ans("198.51.100.6", DTAG)],
                         "check_interval = 0 and no SIGHUP: the old database must stay")
        hup_and_wait(self.jd)
        line = self.fresh()
        self.assertEqual(line["answers"], [ans("198.51.100.6", UNICOM_CN)])
        self.assertEqual(line["labels"], prc("hosted:CN", "operator:AS4837"))

    def test_check_interval_picks_up_a_replaced_db(self):
        self.start(check_interval=1)
        self.assertEqual(self.fresh()["answers"], [ans("198.51.100.6", DTAG)])
        os.replace(self.build_modified(), self.db)
        t0 = time.monotonic()
        line = None
        while time.monotonic() - t0 < 3.5:
            line = self.fresh()
            if line["answers"][0]["country"] == "CN":
                break
            time.sleep(0.1)
        self.assertEqual(line["answers"], [ans("198.51.100.6", UNICOM_CN)],
                         "not reloaded within 3.5 s of the replacement; log:\n" + self.jd.read_log())
        self.assertEqual(line["labels"], prc("hosted:CN", "operator:AS4837"))
        self.assertIn("database file changed", self.jd.read_log())

    def test_broken_db_on_sighup_keeps_the_old_one(self):
        jd = self.start(check_interval=0)
        before = self.fresh("freshcn")
        self.assertEqual(before["answers"], [ans("192.0.2.5", CHINANET)])
        bad = self.tmp.file("bad.mmdb")
        with open(bad, "wb") as f:
            f.write(b"this is not a MaxMind DB\n" + bytes(range(256)) * 64)
        os.replace(bad, self.db)
        hup_and_wait(jd)
        log = jd.read_log()
        errs = [l for l in log.splitlines() if "error" in l.lower() and self.db in l]
        self.assertTrue(errs, "no error line naming %s in the log:\n%s" % (self.db, log))
        self.assertTrue(jd.alive())
        after = self.fresh("freshcn")
        self.assertEqual(after["answers"], [ans("192.0.2.5", CHINANET)])
        self.assertEqual(after["labels"], prc("hosted:CN", "operator:AS4134"))
        self.assertEqual(after["labels"], before["labels"])


class GeoCli(h.JDTestCase):

    def conf(self, geoip):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        jd = h.Jurisdns(upstreams=[KNOT.addr], tmp=tmp, geoip=geoip)
        jd.write_config()
        return jd

    def test_version_prints_geoip_line(self):
        jd = self.conf({"db": h.test_mmdb()})
        r = h.run_cli(["-V", "-c", jd.conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        geo = [l for l in r.stdout.splitlines() if l.startswith("GeoIP:")]
        self.assertEqual(len(geo), 1, r.stdout)
        self.assertIn(h.test_mmdb(), geo[0])
        self.assertIn("(jurisdns-test: jurisdns test GeoIP database built from geo-fixture.txt",
                      geo[0])
        m = re.search(r"built (\d{4}-\d{2}-\d{2}), (\d+) days old$", geo[0])
        self.assertIsNotNone(m, geo[0])
        self.assertEqual(m.group(1), "2023-11-14")     # the fixture's fixed build epoch
        days = (time.time() - 1700000000) // 86400
        self.assertIn(int(m.group(2)), (days - 1, days, days + 1), geo[0])

    def test_version_with_missing_db(self):
        jd = self.conf({"db": "/nonexistent/dir/geo.mmdb"})
        r = h.run_cli(["-V", "-c", jd.conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^GeoIP: none \(.*/nonexistent/dir/geo\.mmdb")

    def test_missing_configured_db_exits_1(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        missing = tmp.file("no-such-geo.mmdb")
        jd = h.Jurisdns(upstreams=[KNOT.addr], tmp=tmp, geoip={"db": missing})
        self.addCleanup(jd.kill)
        jd.start(wait=False)
        try:
            rc = jd.proc.wait(timeout=5)
        except Exception:
            self.fail("jurisdns did not exit with a missing [geoip] db; log:\n" + jd.read_log())
        self.assertEqual(rc, 1, jd.read_log())
        self.assertIn(missing, jd.read_log())

    def test_garbage_configured_db_exits_1(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        bad = tmp.file("garbage.mmdb")
        with open(bad, "wb") as f:
            f.write(b"\x00garbage" * 100)
        jd = h.Jurisdns(upstreams=[KNOT.addr], tmp=tmp, geoip={"db": bad})
        self.addCleanup(jd.kill)
        jd.start(wait=False)
        rc = jd.proc.wait(timeout=5)
        self.assertEqual(rc, 1, jd.read_log())
        self.assertIn(bad, jd.read_log())

    DEFAULT_DB = "/var/lib/jurisdns/geo.mmdb"

    def test_default_db_missing_still_starts(self):
        if os.path.exists(self.DEFAULT_DB):
            self.skipTest("%s exists on this machine: the missing-default case cannot be tested"
                          % self.DEFAULT_DB)
        jd = self.daemon([KNOT.addr], log={"query_log": "-", "query_log_mode": "all"})
        log = jd.read_log()
        self.assertIn(self.DEFAULT_DB, log)
        self.assertIn("warning", log)
        jd.q("a1.tuyaeu.com.")
        # no database: no country or ASN, but the domain reason still works

        def line():
            import json
            ls = [json.loads(l) for l in jd.read_log().splitlines()
                  if l.startswith("{") and '"a1.tuyaeu.com"' in l]
            return ls[0] if ls else None

        l = h.wait_for(line, 3.0, interval=0.05, what="the a1.tuyaeu.com line")
        self.assertEqual(l["answers"], [ans("198.51.100.7", UNKNOWN)])
        self.assertEqual(l["labels"], prc("domain:tuyaeu.com"))

    def test_default_db_present_is_used(self):
        if not os.path.exists(self.DEFAULT_DB):
            self.skipTest("%s does not exist on this machine" % self.DEFAULT_DB)
        jd = self.daemon([KNOT.addr])
        self.assertIn("geoip: %s" % self.DEFAULT_DB, jd.read_log())


class Groups(LabelLogMixin, h.JDTestCase):
    """[labels] groups = a file of our own; SIGHUP reloads it."""

    write_groups = staticmethod(h.write_file)

    def test_custom_groups_and_reload(self):
        # every group has an ASN: see test_group_without_asns_starts
        jd = self.logging_daemon(mode="labelled",
                                 groups="[jurisdiction EU]\ncountries = DE\nasns = 64496\n"
                                        "[jurisdiction CLOUD]\nasns = AS3320\ndomains = tuyaeu.com\n")
        gpath = jd.groups
        jd.q("a1.tuyaeu.com.")
        l = self.logged("a1.tuyaeu.com")[0]
        self.assertEqual(l["labels"], [{"group": "CLOUD", "reason": "domain:tuyaeu.com"},
                                       {"group": "EU", "reason": "hosted:DE"},
                                       {"group": "CLOUD", "reason": "operator:AS3320"}])
        jd.q("cn.labels.test.")        # CN is in no group now: not logged (labelled mode)
        self.write_groups(gpath, "[jurisdiction ONLYCN]\ncountries = CN\nasns = 64496\n")
        hup_and_wait(jd)
        jd.q("hk.labels.test.")        # unlabelled after the reload: not logged
        jd.q("n1.freshcn.labels.test.")
        l = self.logged("n1.freshcn.labels.test")[0]
        self.assertEqual(l["labels"], [{"group": "ONLYCN", "reason": "hosted:CN"}])
        self.assertEqual([x["qname"] for x in h.read_jsonl(self.qlog)],
                         ["a1.tuyaeu.com", "n1.freshcn.labels.test"])

    def test_broken_groups_on_reload_keeps_the_old(self):
        jd = self.logging_daemon(mode="labelled",
                                 groups="[jurisdiction EU]\ncountries = DE\nasns = 64496\n")
        gpath = jd.groups
        self.write_groups(gpath, "[jurisdiction EU]\ncountries = CN\nbogus_key = 1\n")
        hup_and_wait(jd)
        self.assertIn(gpath, jd.read_log())
        self.assertIn("keeping the groups in use", jd.read_log())
        jd.q("de.labels.test.")
        l = self.logged("de.labels.test")[0]
        self.assertEqual(l["labels"], [{"group": "EU", "reason": "hosted:DE"}])

    def test_group_without_asns_starts(self):
        # a group with countries only (no asns key) is valid per zones/jurisdictions.conf
        jd = self.logging_daemon(mode="labelled", groups="[jurisdiction EU]\ncountries = DE\n")
        jd.q("de.labels.test.")
        l = self.logged("de.labels.test")[0]
        self.assertEqual(l["labels"], [{"group": "EU", "reason": "hosted:DE"}])


if __name__ == "__main__":
    h.main()
