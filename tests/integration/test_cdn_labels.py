#!/usr/bin/python3
"""Operators behind CDN names, end to end (issue 12, item 6): a vendor's name CNAMEs into a PRC CDN
whose edge address sits in a neutral network abroad. knotd serves tests/zones/cdn.zone as the root
zone, so each answer carries the whole chain; the daemon forwards to it with the test GeoIP
database and the shipped groups (zones/jurisdictions.conf with zones/prc-cdn.txt).

Covered: eight chains into the CDNs named in the issue and two more are labelled PRC "operator"
with the suffix and the operator in the reason; Akamai, Cloudflare and CloudFront chains and a
look-alike suffix are not; the label of a cached answer; a block-mode client blocking PRC or
PRC:operator gets the sinkhole, one blocking PRC:hosted or PRC:domain the real answer, and one
with action strip an answer without the edge addresses."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns
import dns.rcode
import dns.rdatatype

import harness as h

KNOT = None
ZONES = [(".", os.path.join(h.zone_dir(), "cdn.zone"))]

# qname -> (edge addresses, reason): the chains into PRC CDNs
PRC_CHAINS = {
    "cam.vendor-a.test": (["198.51.100.21", "198.51.100.22"], "operator:kunlunca.com (Alibaba Cloud)"),
    "api.vendor-b.test": (["198.51.100.131"], "operator:dnsv1.com (Tencent Cloud)"),
    "fw.vendor-c.test": (["203.0.113.23"], "operator:dnse2.com (Tencent EdgeOne)"),
    "ota.vendor-d.test": (["198.51.100.24"], "operator:cdnhwc1.com (Huawei Cloud)"),
    "img.vendor-e.test": (["203.0.113.25"], None),  # two Baidu suffixes, see test_two_suffixes
    "app.vendor-f.test": (["198.51.100.132"], "operator:bytegslb.com (ByteDance)"),
    "dl.vendor-g.test": (["198.51.100.26"], "operator:wscdns.com (Wangsu)"),
    "cloud.vendor-h.test": (["203.0.113.27"], "operator:ksyuncdn.com (Kingsoft Cloud)"),
}
BAIDU = ["operator:bdydns.com (Baidu AI Cloud)", "operator:jomodns.com (Baidu AI Cloud)"]
# chains that must stay unlabelled
NEUTRAL = {
    "www.shop-i.test": ["198.51.100.41"],   # Akamai (edgekey.net -> akamaiedge.net)
    "www.shop-j.test": ["198.51.100.42"],   # Cloudflare (cdn.cloudflare.net)
    "www.shop-k.test": ["203.0.113.43"],    # CloudFront
    "www.shop-l.test": ["198.51.100.44"],   # x.notkunlunca.com: not a label boundary
}

EDE_FILTERED = 17
SINK, OPER, HOSTED, DOMAIN, STRIP = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"


def setUpModule():
    global KNOT
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


def lines_for(path, qname, n=1, client="127.0.0.1", timeout=3.0):
    """Wait until the log at path has n lines for qname (type A) from client; return them."""
    return h.wait_log_lines(path, n, timeout, qname=qname, qtype="A", client=client)


def ask(jd, qname, source="127.0.0.1", qtype="A"):
    q = h.make_query(qname + ".", qtype, edns=0)
    return q, h.udp(q, jd.port, source=source)


ede_of = h.ede_of


class CdnLabels(h.ClassDaemonTestCase):
    """One daemon for the class: log mode for 127.0.0.1, block-mode clients by source address."""

    @classmethod
    def daemon_args(cls):
        return dict(upstreams=[KNOT], test_geoip=True, query_log="all",
                    policy={"default_mode": "log", "block": "PRC"},
                    clients=[(SINK, {"mode": "block"}),
                             (OPER, {"mode": "block", "block": "PRC:operator"}),
                             (HOSTED, {"mode": "block", "block": "PRC:hosted"}),
                             (DOMAIN, {"mode": "block", "block": "PRC:domain"}),
                             (STRIP, {"mode": "block", "action": "strip"})])

    def labels(self, qname, n=1):
        return lines_for(self.qlog, qname, n)[n - 1]["labels"]

    def test_prc_cdn_chains_are_labelled_operator(self):
        for qname, (edges, reason) in PRC_CHAINS.items():
            with self.subTest(qname=qname):
                q, r = ask(self.jd, qname)
                self.assertResponseTo(r, q)
                self.assertEqual(h.rrset_addresses(r), sorted(edges), r)
                self.assertEqual(ede_of(r), [])
                line = lines_for(self.qlog, qname)[0]
                self.assertEqual(line["action"], "pass")
                # the edges themselves are neutral: known, in DE/US, no PRC AS
                for a in line["answers"]:
                    self.assertIn(a["country"], ("DE", "US"), a)
                    self.assertIn(a["asn"], (3320, 15169, 16509), a)
                want = BAIDU if reason is None else [reason]
                self.assertEqual(line["labels"], [{"group": "PRC", "reason": x} for x in want])

    def test_two_suffixes(self):
        """Two CDN names of the chain, two suffixes: a reason each."""
        ask(self.jd, "img.vendor-e.test")
        self.assertEqual(self.labels("img.vendor-e.test"),
                         [{"group": "PRC", "reason": x} for x in BAIDU])

    def test_non_prc_cdn_chains_stay_unlabelled(self):
        for qname, edges in NEUTRAL.items():
            with self.subTest(qname=qname):
                q, r = ask(self.jd, qname)
                self.assertResponseTo(r, q)
                self.assertEqual(h.rrset_addresses(r), edges, r)
                self.assertEqual(self.labels(qname), [])
                for src in (SINK, OPER, STRIP):  # nobody blocks them
                    q, r = ask(self.jd, qname, source=src)
                    self.assertEqual(h.rrset_addresses(r), edges, r)

    def test_cached_answer_keeps_the_label(self):
        qname = "dl.vendor-g.test"
        ask(self.jd, qname)
        n = len(lines_for(self.qlog, qname))
        ask(self.jd, qname)
        line = lines_for(self.qlog, qname, n + 1)[n]
        self.assertTrue(line["cached"], line)
        self.assertEqual(line["labels"], [{"group": "PRC", "reason": "operator:wscdns.com (Wangsu)"}])

    def test_block_mode_gets_the_sinkhole(self):
        for qname, (edges, reason) in PRC_CHAINS.items():
            text = "filtered by opt-in: PRC " + (reason or BAIDU[0])
            for src in (SINK, OPER):
                with self.subTest(qname=qname, client=src):
                    q, r = ask(self.jd, qname, source=src)
                    self.assertResponseTo(r, q)
                    self.assertEqual([(rr.rdtype, [x.address for x in rr]) for rr in r.answer],
                                     [(dns.rdatatype.A, ["0.0.0.0"])], r)
                    self.assertEqual(ede_of(r), [(EDE_FILTERED, text)])
        line = lines_for(self.qlog, "cam.vendor-a.test", client=SINK)[-1]
        self.assertEqual(line["action"], "sinkhole")
        self.assertEqual(line["labels"], [{"group": "PRC", "reason": PRC_CHAINS["cam.vendor-a.test"][1]}])

    def test_other_reasons_do_not_block(self):
        for src in (HOSTED, DOMAIN):
            with self.subTest(client=src):
                q, r = ask(self.jd, "cam.vendor-a.test", source=src)
                self.assertEqual(h.rrset_addresses(r), ["198.51.100.21", "198.51.100.22"], r)
                self.assertEqual(ede_of(r), [])

    def test_strip_removes_every_edge_address(self):
        """A name reason covers every address of the answer, IPv4 and IPv6."""
        for qtype, rdtype in (("A", dns.rdatatype.A), ("AAAA", dns.rdatatype.AAAA)):
            with self.subTest(qtype=qtype):
                q, r = ask(self.jd, "cam.vendor-a.test", source=STRIP, qtype=qtype)
                self.assertResponseTo(r, q)
                self.assertEqual(h.rrset_addresses(r, rdtype), [], r)
        # the real answer has them
        q, r = ask(self.jd, "cam.vendor-a.test", qtype="AAAA")
        self.assertEqual(h.rrset_addresses(r, dns.rdatatype.AAAA), ["2001:db8:2::21"], r)


if __name__ == "__main__":
    h.main()
