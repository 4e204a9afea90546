#!/usr/bin/python3
"""The [policy] and [client X] sections, end to end: per-client modes (off, log, block), the
groups a block-mode client avoids (by reason), the operator's allow and deny lists (inline and
*.txt list files), every action (sinkhole, nxdomain, nodata, refuse, drop) with the exact answer
jurisdns writes (SOA, TTL, flags, EDNS Extended DNS Error), the query log's action field, SIGHUP,
TCP, and the configuration errors.

knotd serves tests/zones/policy.zone (policy.test.) and tests/zones/tuyaeu.zone (tuyaeu.com.); the
daemon uses the test GeoIP database and a groups file of the test's own (GROUPS below), so that
exactly AS45102 is a PRC operator and AS4134 (CN) is PRC by hosting only. Clients differ by
source address (127.0.0.2, 127.0.0.3... on loopback)."""

import os
import re
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

import harness as h

KNOT = None
ZONES = h.POLICY_ZONES

GROUPS = h.PRC_GROUPS     # AS4134 (CN) is not listed: see harness.py

EDE_BLOCKED = 15
EDE_FILTERED = 17
HOSTED_CN = "filtered by opt-in: PRC hosted:CN"
OPERATOR = "filtered by opt-in: PRC operator:AS45102"
DOMAIN = "filtered by opt-in: PRC domain:tuyaeu.com"

SOA_MNAME, SOA_RNAME = h.SYNTH_SOA_MNAME, h.SYNTH_SOA_RNAME

A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
NOERROR = dns.rcode.NOERROR
NXDOMAIN = dns.rcode.NXDOMAIN
REFUSED = dns.rcode.REFUSED


def setUpModule():
    global KNOT
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def fresh(suffix):
    """A name nobody asked before: a cache miss of its own."""
    return h.fresh_name("p", suffix)


write = h.write_file
wait_log = h.Jurisdns.wait_log            # wait_log(jd, text, count=1, timeout=3.0)
hup_and_wait = h.Jurisdns.hup_and_wait    # rewrite the config (text or attributes), SIGHUP, wait
real_lines = h.real_lines
ede_of = h.ede_of


def lines_for(path, qname, n=1, qtype="A", timeout=3.0):
    """Wait until the query log at path has n lines for qname/qtype; return them."""
    return h.wait_log_lines(path, n, timeout, qname=qname.rstrip(".").lower(), qtype=qtype)


mkq = h.edns_query        # a query, with EDNS (version 0) unless edns=False
ask = h.ask_from          # (query, response) from a source address


def raw_tcp_from(wire, port, source, timeout=3.0):
    """Send one framed query from source over a fresh TCP connection; the reply bytes or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.sendall(h.frame(wire))
        try:
            return h.tcp_read_msg(s, timeout)
        except (socket.timeout, ConnectionError, OSError):
            return None
    finally:
        s.close()


class PolicyCase(h.JDTestCase):
    """A daemon per test (start()) or per class (start_class()), forwarding to knotd or to a
    FakeUpstream, with the tests' groups file, the test GeoIP database and a query log."""

    @staticmethod
    def _args(policy, clients, qlog_mode="all", groups=GROUPS, **kw):
        """make_daemon keywords: the groups file, the test GeoIP database, a query log."""
        return dict(groups=groups, test_geoip=True, query_log=qlog_mode, policy=policy,
                    clients=list(clients), **kw)

    def start(self, policy=None, clients=(), upstreams=None, start=True, **kw):
        self.jd = self.daemon(upstreams or [KNOT], start=start, **self._args(policy, clients, **kw))
        self.qlog = self.jd.qlog
        return self.jd

    @classmethod
    def start_class(cls, policy, clients, **kw):
        cls.start_class_daemon(upstreams=[KNOT], **cls._args(policy, clients, **kw))

    @classmethod
    def stop_class(cls):
        cls.stop_class_daemon()

    # --- assertions --------------------------------------------------------------------------

    def assertSynthFlags(self, r, q):
        """QR, RA; AD and AA clear (this is not the real answer); RD as the client sent it."""
        self.assertTrue(r.flags & dns.flags.QR)
        self.assertFalse(r.flags & dns.flags.AD, "AD set on a rewritten answer:\n%s" % r)
        self.assertFalse(r.flags & dns.flags.AA, "AA set on a rewritten answer:\n%s" % r)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertTrue(r.flags & dns.flags.RA, "RA clear:\n%s" % r)
        self.assertEqual(bool(r.flags & dns.flags.RD), bool(q.flags & dns.flags.RD),
                         "RD not copied from the query:\n%s" % r)

    def assertEde(self, r, q, code, text):
        """EDE (code, text) when the query had EDNS; no OPT at all when it had none."""
        if q.edns >= 0:
            self.assertGreaterEqual(r.edns, 0, "no OPT in the answer to an EDNS query:\n%s" % r)
            self.assertEqual(ede_of(r), [(code, text)], "EDE of:\n%s" % r)
        else:
            self.assertEqual(r.edns, -1, "OPT in the answer to a query without EDNS:\n%s" % r)
            self.assertEqual(list(r.options), [])
        self.assertEqual(r.additional, [], "unexpected additional records:\n%s" % r)

    def assertSynthSoa(self, r, q, ttl):
        self.assertEqual(len(r.authority), 1, "expected one SOA in AUTHORITY:\n%s" % r)
        soa = r.authority[0]
        self.assertEqual(soa.rdtype, dns.rdatatype.SOA, r)
        self.assertEqual(len(soa), 1)
        self.assertEqual(soa.name.to_text(), q.question[0].name.to_text(),
                         "the SOA's owner is not the query name (with its case)")
        self.assertEqual(soa.ttl, ttl, "SOA TTL")
        rd = soa[0]
        self.assertEqual(rd.mname, SOA_MNAME)
        self.assertEqual(rd.rname, SOA_RNAME)
        self.assertEqual(rd.minimum, ttl, "SOA MINIMUM")

    def assertSinkhole(self, r, q, address, ttl=60, ede=None):
        """NOERROR and exactly one A/AAAA record `address` with TTL ttl, no AUTHORITY."""
        self.assertResponseTo(r, q, NOERROR)
        self.assertSynthFlags(r, q)
        qtype = q.question[0].rdtype
        self.assertEqual(len(r.answer), 1, "expected one sinkhole record:\n%s" % r)
        rr = r.answer[0]
        self.assertEqual(rr.rdtype, qtype, r)
        self.assertEqual(rr.name.to_text(), q.question[0].name.to_text())
        self.assertEqual(rr.ttl, ttl, "sinkhole TTL")
        self.assertEqual([x.address for x in rr], [address])
        self.assertEqual(r.authority, [], r)
        if ede:
            self.assertEde(r, q, *ede)

    def assertNegative(self, r, q, rcode, ttl=60, ede=None):
        """NXDOMAIN or NODATA: no answer, the synthesized SOA."""
        self.assertResponseTo(r, q, rcode)
        self.assertSynthFlags(r, q)
        self.assertEqual(r.answer, [], r)
        self.assertSynthSoa(r, q, ttl)
        if ede:
            self.assertEde(r, q, *ede)

    def assertRefused(self, r, q, ede=None):
        self.assertResponseTo(r, q, REFUSED)
        self.assertSynthFlags(r, q)
        self.assertEqual((r.answer, r.authority, r.additional), ([], [], []), r)
        if ede:
            self.assertEde(r, q, *ede)

    def assertDropped(self, jd, qname, qtype="A", source="127.0.0.1", transport="udp",
                      edns=True):
        t0 = time.monotonic()
        with self.assertRaises(dns.exception.Timeout,
                               msg="answered although the action is drop"):
            ask(jd, qname, qtype, source=source, transport=transport, timeout=1.0, edns=edns)
        self.assertLess(time.monotonic() - t0, 3.0)

    def assertReal(self, r, q, addresses, rdtype=A):
        """The real answer: the addresses of the zone, no EDE."""
        self.assertResponseTo(r, q, NOERROR)
        self.assertEqual(h.rrset_addresses(r, rdtype), sorted(addresses), r)
        self.assertEqual(ede_of(r), [], "EDE on a passed answer:\n%s" % r)


# --------------------------------------------------------------------------------------------
# every action, one client each
# --------------------------------------------------------------------------------------------

SINK, NXD, NOD, REF, DROP, LOGC = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5",
                                   "127.0.0.6", "127.0.0.7")


class Actions(PolicyCase):
    TTL = 42

    @classmethod
    def setUpClass(cls):
        cls.start_class(
            policy={"default_mode": "log", "block": "PRC", "ttl": cls.TTL},
            clients=[(SINK, {"mode": "block", "name": "sinkhole-client"}),
                     (NXD, {"mode": "block", "action": "nxdomain"}),
                     (NOD, {"mode": "block", "action": "nodata"}),
                     (REF, {"mode": "block", "action": "refuse"}),
                     (DROP, {"mode": "block", "action": "drop"}),
                     (LOGC, {"mode": "log"})])

    @classmethod
    def tearDownClass(cls):
        cls.stop_class()

    def setUp(self):
        self.assertAlive()

    # sinkhole ---------------------------------------------------------------------------------

    def test_sinkhole_a(self):
        q, r = ask(self.jd, "cn.policy.test.", "A", source=SINK)
        self.assertSinkhole(r, q, "0.0.0.0", self.TTL, (EDE_FILTERED, HOSTED_CN))

    def test_sinkhole_aaaa(self):
        q, r = ask(self.jd, "cn.policy.test.", "AAAA", source=SINK)
        self.assertSinkhole(r, q, "::", self.TTL, (EDE_FILTERED, HOSTED_CN))

    def test_sinkhole_other_types_are_nodata(self):
        # the domain reason labels every type of a1.tuyaeu.com (knotd: NODATA for TXT and MX)
        for qtype in ("TXT", "MX"):
            q, r = ask(self.jd, "a1.tuyaeu.com.", qtype, source=SINK)
            self.assertNegative(r, q, NOERROR, self.TTL, (EDE_FILTERED, DOMAIN))
        # HTTPS whose address hint is in CN
        q, r = ask(self.jd, "svc.policy.test.", "HTTPS", source=SINK)
        self.assertNegative(r, q, NOERROR, self.TTL, (EDE_FILTERED, HOSTED_CN))

    def test_sinkhole_behind_cname(self):
        q, r = ask(self.jd, "cam.policy.test.", "A", source=SINK)
        self.assertSinkhole(r, q, "0.0.0.0", self.TTL, (EDE_FILTERED, DOMAIN))

    def test_unlabelled_answer_passes(self):
        q, r = ask(self.jd, "de.policy.test.", "A", source=SINK)
        self.assertReal(r, q, ["198.51.100.8"])
        q, r = ask(self.jd, "de.policy.test.", "TXT", source=SINK)
        self.assertResponseTo(r, q, NOERROR)
        self.assertEqual([rr.rdtype for rr in r.answer], [dns.rdatatype.TXT])

    def test_log_client_gets_the_real_answer(self):
        for src in (LOGC, "127.0.0.1"):  # [client] mode = log; no section: default_mode = log
            q, r = ask(self.jd, "cn.policy.test.", "A", source=src)
            self.assertReal(r, q, ["192.0.2.6"])
            q, r = ask(self.jd, "cn.policy.test.", "AAAA", source=src)
            self.assertReal(r, q, ["2001:db8:1::6"], AAAA)

    # nxdomain / nodata / refuse / drop --------------------------------------------------------

    def test_nxdomain(self):
        for qtype in ("A", "AAAA", "MX"):
            name = "a1.tuyaeu.com." if qtype == "MX" else "cn.policy.test."
            q, r = ask(self.jd, name, qtype, source=NXD)
            self.assertNegative(r, q, NXDOMAIN, self.TTL,
                                (EDE_FILTERED, DOMAIN if qtype == "MX" else HOSTED_CN))

    def test_nodata(self):
        for qtype in ("A", "AAAA"):
            q, r = ask(self.jd, "cn.policy.test.", qtype, source=NOD)
            self.assertNegative(r, q, NOERROR, self.TTL, (EDE_FILTERED, HOSTED_CN))

    def test_refuse(self):
        q, r = ask(self.jd, "cn.policy.test.", "A", source=REF)
        self.assertRefused(r, q, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(self.jd, "a1.tuyaeu.com.", "A", source=REF)
        self.assertRefused(r, q, (EDE_FILTERED, DOMAIN))

    def test_drop(self):
        self.assertDropped(self.jd, "cn.policy.test.", source=DROP)
        self.assertDropped(self.jd, "cn.policy.test.", source=DROP, edns=False)
        self.assertDropped(self.jd, "cn.policy.test.", source=DROP, transport="tcp")
        # an unlabelled name is still answered for this client
        q, r = ask(self.jd, "de.policy.test.", source=DROP)
        self.assertReal(r, q, ["198.51.100.8"])

    # without EDNS, and the header -------------------------------------------------------------

    def test_no_edns_no_opt(self):
        name = "cn.policy.test."
        q, r = ask(self.jd, name, source=SINK, edns=False)
        self.assertSinkhole(r, q, "0.0.0.0", self.TTL, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(self.jd, name, "AAAA", source=SINK, edns=False)
        self.assertSinkhole(r, q, "::", self.TTL, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(self.jd, "a1.tuyaeu.com.", "TXT", source=SINK, edns=False)
        self.assertNegative(r, q, NOERROR, self.TTL, (EDE_FILTERED, DOMAIN))
        q, r = ask(self.jd, name, source=NXD, edns=False)
        self.assertNegative(r, q, NXDOMAIN, self.TTL, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(self.jd, name, source=NOD, edns=False)
        self.assertNegative(r, q, NOERROR, self.TTL, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(self.jd, name, source=REF, edns=False)
        self.assertRefused(r, q, (EDE_FILTERED, HOSTED_CN))

    def test_ad_clear_even_when_asked(self):
        for src in (SINK, NXD, NOD, REF):
            q, r = ask(self.jd, "cn.policy.test.", source=src, ad=True, do=True)
            self.assertFalse(r.flags & dns.flags.AD, "AD set (client %s):\n%s" % (src, r))
            self.assertEqual(len(ede_of(r)), 1, r)

    def test_rd_copied(self):
        for src in (SINK, NXD, NOD, REF):
            for rd in (True, False):
                q, r = ask(self.jd, "cn.policy.test.", source=src, rd=rd)
                self.assertEqual(bool(r.flags & dns.flags.RD), rd,
                                 "RD=%d not copied (client %s):\n%s" % (rd, src, r))

    def test_question_case_echoed(self):
        name = "Cn.PoLiCy.TeSt."
        q, r = ask(self.jd, name, source=SINK)
        self.assertSinkhole(r, q, "0.0.0.0", self.TTL, (EDE_FILTERED, HOSTED_CN))
        self.assertEqual(r.question[0].name.to_text(), name)
        q, r = ask(self.jd, name, source=NXD)
        self.assertNegative(r, q, NXDOMAIN, self.TTL, (EDE_FILTERED, HOSTED_CN))
        self.assertEqual(r.authority[0].name.to_text(), name)

    # TCP -------------------------------------------------------------------------------------

    def test_tcp_answer_is_the_udp_answer(self):
        for src in (SINK, NXD, NOD, REF):
            for qtype, edns in (("A", True), ("AAAA", False), ("TXT", True)):
                name = "a1.tuyaeu.com." if qtype == "TXT" else "cn.policy.test."
                wire = mkq(name, qtype, edns=edns, qid=0x1234).to_wire()
                u = h.raw_udp(wire, self.jd.port, source=src, timeout=3.0)
                t = raw_tcp_from(wire, self.jd.port, src)
                self.assertIsNotNone(u, "no UDP answer (%s %s)" % (src, qtype))
                self.assertIsNotNone(t, "no TCP answer (%s %s)" % (src, qtype))
                self.assertEqual(t, u, "TCP and UDP answers differ for %s %s from %s:\n%s\n---\n%s"
                                 % (name, qtype, src, dns.message.from_wire(u),
                                    dns.message.from_wire(t)))
        q, r = ask(self.jd, "cn.policy.test.", source=NXD, transport="tcp")
        self.assertNegative(r, q, NXDOMAIN, self.TTL, (EDE_FILTERED, HOSTED_CN))

    # the query log ---------------------------------------------------------------------------

    def test_query_log_action_field(self):
        name = fresh("cn.policy.test")
        want = {LOGC: ("pass", "NOERROR"), SINK: ("sinkhole", "NOERROR"),
                NXD: ("nxdomain", "NXDOMAIN"), NOD: ("nodata", "NOERROR"),
                REF: ("refuse", "REFUSED"), DROP: ("drop", None)}
        order = [LOGC, SINK, NXD, NOD, REF, DROP]
        for src in order:
            if src == DROP:
                self.assertDropped(self.jd, name, source=src)
            else:
                ask(self.jd, name, source=src)
        lines = lines_for(self.qlog, name, n=len(order))
        self.assertEqual([l["client"] for l in lines], order)
        for l in lines:
            action, rcode = want[l["client"]]
            self.assertEqual(l["action"], action, l)
            if rcode:
                self.assertEqual(l["rcode"], rcode, l)
            # the labels are those of the real answer, for every client
            self.assertEqual(l["labels"], [{"group": "PRC", "reason": "hosted:CN"}], l)
        self.assertIs(lines[0]["cached"], False)
        self.assertEqual(lines[0]["upstream"], KNOT.addr)
        self.assertEqual(lines[0]["answers"][0]["ip"], "192.0.2.7")
        for l in lines[1:]:
            self.assertIs(l["cached"], True, l)


class SinkholeAddresses(PolicyCase):

    def test_custom_sinkhole_addresses_default_ttl(self):
        # default_mode = block for every client, default action (sinkhole), default ttl (60)
        jd = self.start(policy={"default_mode": "block", "block": "PRC",
                                "sinkhole_a": "10.11.12.13", "sinkhole_aaaa": "fd00::53"})
        q, r = ask(jd, "cn.policy.test.", "A")
        self.assertSinkhole(r, q, "10.11.12.13", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, "cn.policy.test.", "AAAA")
        self.assertSinkhole(r, q, "fd00::53", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, "a1.tuyaeu.com.", "MX")
        self.assertNegative(r, q, NOERROR, 60, (EDE_FILTERED, DOMAIN))

    def test_policy_action_applies_to_clients_without_their_own(self):
        jd = self.start(policy={"default_mode": "block", "block": "PRC", "action": "nxdomain",
                                "ttl": 7},
                        clients=[("127.0.0.2", {"action": "refuse"})])
        q, r = ask(jd, "cn.policy.test.")
        self.assertNegative(r, q, NXDOMAIN, 7, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")
        self.assertRefused(r, q, (EDE_FILTERED, HOSTED_CN))


# --------------------------------------------------------------------------------------------
# block by reason
# --------------------------------------------------------------------------------------------

class Reasons(PolicyCase):
    CLIENTS = {
        "127.0.0.2": "PRC:operator",
        "127.0.0.3": "PRC:domain",
        "127.0.0.4": "PRC:hosted",
        "127.0.0.5": "PRC",
        "127.0.0.6": "PRC:any",
        "127.0.0.7": "PRC:operator, PRC:domain",
        "127.0.0.8": "PRC:hosted PRC:operator",
        "127.0.0.9": "RU",
    }
    # name -> (address, reason kind, EDE text)
    NAMES = {
        "cn.policy.test.": ("192.0.2.6", "hosted", HOSTED_CN),
        "ali-de.policy.test.": ("192.0.2.194", "operator", OPERATOR),
        "a1.tuyaeu.com.": ("198.51.100.7", "domain", DOMAIN),
        "de.policy.test.": ("198.51.100.8", None, None),
    }

    @classmethod
    def setUpClass(cls):
        # RU: a group of the file that none of these names is in (an unknown one is an error)
        cls.start_class(policy={"block": "PRC"},
                        clients=[(ip, {"mode": "block", "block": b})
                                 for ip, b in cls.CLIENTS.items()],
                        groups=GROUPS + "[jurisdiction RU]\ncountries = RU BY\n")

    @classmethod
    def tearDownClass(cls):
        cls.stop_class()

    def kinds(self, spec):
        out = set()
        for tok in spec.replace(",", " ").split():
            g, _, k = tok.partition(":")
            if g != "PRC":
                continue
            out |= {"hosted", "operator", "domain"} if k in ("", "any") else {k}
        return out

    def test_matrix(self):
        for ip, spec in self.CLIENTS.items():
            for name, (addr, kind, text) in self.NAMES.items():
                with self.subTest(client=ip, block=spec, name=name):
                    q, r = ask(self.jd, name, source=ip)
                    if kind in self.kinds(spec):
                        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, text))
                    else:
                        self.assertReal(r, q, [addr])

    def test_operator_blocks_de_alibaba_not_cn_chinanet(self):
        q, r = ask(self.jd, "x.ali-de.policy.test.", source="127.0.0.2")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, OPERATOR))
        q, r = ask(self.jd, "x.cn.policy.test.", source="127.0.0.2")
        self.assertReal(r, q, ["192.0.2.7"])

    def test_domain_blocks_behind_cname(self):
        q, r = ask(self.jd, "cam.policy.test.", source="127.0.0.3")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, DOMAIN))


# --------------------------------------------------------------------------------------------
# modes: default_mode, [client] overrides, longest prefix, off clients and the query log
# --------------------------------------------------------------------------------------------

class Modes(PolicyCase):

    def test_default_mode_block_and_overrides(self):
        jd = self.start(policy={"default_mode": "block", "block": "PRC"},
                        clients=[("127.0.0.3", {"mode": "log"}), ("127.0.0.4", {"mode": "off"})])
        name = fresh("cn.policy.test")
        q, r = ask(jd, name)                                  # no section: default_mode
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, name, source="127.0.0.2")              # no section either
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, name, source="127.0.0.3")              # mode = log
        self.assertReal(r, q, ["192.0.2.7"])
        q, r = ask(jd, name, source="127.0.0.4")              # mode = off
        self.assertReal(r, q, ["192.0.2.7"])
        # marker from a logged client: once its line is written, every earlier one is too
        marker = fresh("de.policy.test")
        ask(jd, marker, source="127.0.0.3")
        lines_for(self.qlog, marker)
        lines = [l for l in h.read_jsonl(self.qlog) if l["qname"] == name.lower()]
        self.assertEqual([(l["client"], l["action"]) for l in lines],
                         [("127.0.0.1", "sinkhole"), ("127.0.0.2", "sinkhole"),
                          ("127.0.0.3", "pass")])
        self.assertNotIn("127.0.0.4", [l["client"] for l in h.read_jsonl(self.qlog)],
                         "a mode = off client was written to the query log")

    def test_longest_prefix_wins(self):
        # the /24 comes first in the file, the /32 and /31 after it, a /8 last
        jd = self.start(policy={"default_mode": "log", "block": "PRC"},
                        clients=[("127.0.0.0/24", {"mode": "block", "name": "lan"}),
                                 ("127.0.0.5", {"mode": "log", "name": "laptop"}),
                                 ("127.0.0.6/31", {"mode": "block", "action": "nxdomain"}),
                                 ("127.0.0.0/8", {"mode": "off"})])
        name = "cn.policy.test."
        q, r = ask(jd, name, source="127.0.0.2")        # /24
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, name, source="127.0.0.5")        # /32
        self.assertReal(r, q, ["192.0.2.6"])
        q, r = ask(jd, name, source="127.0.0.7")        # /31
        self.assertNegative(r, q, NXDOMAIN, 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, name, source="127.0.1.1")        # /8 only: off
        self.assertReal(r, q, ["192.0.2.6"])

    def test_off_client_not_logged_even_for_errors(self):
        up = self.fake(address="198.51.100.1")
        up.set_mode("sf.example.", "servfail")
        up.set_mode("to.example.", "silent")
        jd = self.start(upstreams=[up], upstream={"timeout": 300},
                        policy={"default_mode": "log", "deny": "denied.example"},
                        clients=[("127.0.0.4", {"mode": "off"})])
        q, r = ask(jd, "sf.example.", source="127.0.0.4", timeout=5)
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        q, r = ask(jd, "to.example.", source="127.0.0.4", timeout=5)     # upstream timeout
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        q, r = ask(jd, "denied.example.", source="127.0.0.4")
        self.assertSinkhole(r, q, "0.0.0.0", 60)
        q, r = ask(jd, "ok.example.", source="127.0.0.4")
        self.assertReal(r, q, ["198.51.100.1"])
        marker = "marker.example."
        ask(jd, marker)
        lines_for(self.qlog, marker)
        offenders = [l for l in h.read_jsonl(self.qlog) if l["client"] == "127.0.0.4"]
        self.assertEqual(offenders, [], "mode = off client in the query log")


    def test_off_client_not_logged_when_refused(self):
        # refused by the server's ACL, and an opcode jurisdns does not implement: still an off
        # client, still not to be logged
        jd = self.start(policy={"default_mode": "log"}, server={"deny": "127.0.0.4/32"},
                        clients=[("127.0.0.4", {"mode": "off"})])
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.4")
        self.assertEqual(r.rcode(), REFUSED)
        marker = fresh("de.policy.test")
        ask(jd, marker)
        lines_for(self.qlog, marker)
        offenders = [l for l in h.read_jsonl(self.qlog) if l["client"] == "127.0.0.4"]
        self.assertEqual(offenders, [], "mode = off client in the query log")


# --------------------------------------------------------------------------------------------
# one cached answer, different clients
# --------------------------------------------------------------------------------------------

class PerClientCache(PolicyCase):
    BLOCK, LOG, NXC = "127.0.0.2", "127.0.0.3", "127.0.0.4"

    def setUp(self):
        # the fake upstream answers every name with 192.0.2.1: CN, AS4134 (hosted:CN)
        self.up = self.fake(address="192.0.2.1")
        self.start(upstreams=[self.up], policy={"block": "PRC"},
                   clients=[(self.BLOCK, {"mode": "block"}), (self.LOG, {"mode": "log"}),
                            (self.NXC, {"mode": "block", "action": "nxdomain"})])

    def check(self, order, name):
        for src in order:
            q, r = ask(self.jd, name, source=src)
            if src == self.LOG:
                self.assertReal(r, q, ["192.0.2.1"])
            elif src == self.BLOCK:
                self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
            else:
                self.assertNegative(r, q, NXDOMAIN, 60, (EDE_FILTERED, HOSTED_CN))
        self.assertEqual(self.up.count(name), 1, self.up.received(name))
        lines = lines_for(self.qlog, name, n=len(order))
        self.assertEqual([l["cached"] for l in lines], [False] + [True] * (len(order) - 1))
        self.assertEqual([l["client"] for l in lines], list(order))

    def test_log_client_first(self):
        self.check([self.LOG, self.BLOCK, self.NXC, self.LOG, self.BLOCK], "one.cache.example.")

    def test_block_client_first(self):
        self.check([self.BLOCK, self.LOG, self.NXC, self.BLOCK, self.LOG], "two.cache.example.")

    def test_waiters_of_one_upstream_query(self):
        name = "inflight.cache.example."
        self.up.set_mode(name, "delay:400")
        res = {}

        def one(src):
            try:
                res[src] = ask(self.jd, name, source=src, timeout=4.0)
            except Exception as e:  # reported below
                res[src] = e

        ts = [threading.Thread(target=one, args=(s,)) for s in (self.BLOCK, self.LOG, self.NXC)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=6)
        for src in (self.BLOCK, self.LOG, self.NXC):
            self.assertIsInstance(res.get(src), tuple, res.get(src))
        self.assertSinkhole(res[self.BLOCK][1], res[self.BLOCK][0], "0.0.0.0", 60,
                            (EDE_FILTERED, HOSTED_CN))
        self.assertReal(res[self.LOG][1], res[self.LOG][0], ["192.0.2.1"])
        self.assertNegative(res[self.NXC][1], res[self.NXC][0], NXDOMAIN, 60,
                            (EDE_FILTERED, HOSTED_CN))
        self.assertEqual(self.up.count(name), 1, self.up.received(name))


# --------------------------------------------------------------------------------------------
# the operator's deny and allow lists
# --------------------------------------------------------------------------------------------

DENY_BLOCKED = "blocked by operator rule: deny blocked.example"
DENY_OTHER = "blocked by operator rule: deny other.example"


class DenyAllow(PolicyCase):
    OFF, NXC = "127.0.0.3", "127.0.0.4"

    def setUp(self):
        # the fake upstream answers 198.51.100.1 (DE, AS3320: no label)
        self.up = self.fake(address="198.51.100.1")

    def start_inline(self, **kw):
        return self.start(upstreams=[self.up],
                          policy={"default_mode": "log", "block": "PRC",
                                  "deny": ["blocked.example", "other.example"],
                                  "allow": "ok.blocked.example"},
                          clients=[(self.OFF, {"mode": "off"}),
                                   (self.NXC, {"mode": "block", "action": "nxdomain"})], **kw)

    def check_lists(self, jd):
        # denied: every client, every mode, subdomains, without an upstream query
        q, r = ask(jd, "blocked.example.")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_BLOCKED, DENY_BLOCKED))
        q, r = ask(jd, "a.b.blocked.example.", source=self.OFF)
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_BLOCKED, DENY_BLOCKED))
        q, r = ask(jd, "x.blocked.example.", "AAAA", source="127.0.0.9")
        self.assertSinkhole(r, q, "::", 60, (EDE_BLOCKED, DENY_BLOCKED))
        q, r = ask(jd, "other.example.", "TXT")
        self.assertNegative(r, q, NOERROR, 60, (EDE_BLOCKED, DENY_OTHER))
        q, r = ask(jd, "y.blocked.example.", source=self.NXC)     # the client's action
        self.assertNegative(r, q, NXDOMAIN, 60, (EDE_BLOCKED, DENY_BLOCKED))
        q, r = ask(jd, "BloCKed.EXAMPLE.", edns=False)
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_BLOCKED, DENY_BLOCKED))
        for n in ("blocked.example.", "a.b.blocked.example.", "x.blocked.example.",
                  "other.example.", "y.blocked.example."):
            self.assertEqual(self.up.count(n), 0, "denied name %s went upstream" % n)
        # allowed below a denied name: resolved, for every client
        for name, src in (("ok.blocked.example.", "127.0.0.1"),
                          ("deep.ok.blocked.example.", self.OFF),
                          ("ok.blocked.example.", self.NXC)):
            q, r = ask(jd, name, source=src)
            self.assertReal(r, q, ["198.51.100.1"])
        self.assertEqual(self.up.count("ok.blocked.example."), 1)
        self.assertEqual(self.up.count("deep.ok.blocked.example."), 1)
        # a suffix is matched at a label boundary only
        for name in ("notblocked.example.", "blocked.example.net.", "example."):
            q, r = ask(jd, name)
            self.assertReal(r, q, ["198.51.100.1"])
            self.assertEqual(self.up.count(name), 1, name)

    def test_inline_lists(self):
        self.check_lists(self.start_inline())

    def test_list_files_relative_to_the_config(self):
        jd = self.start(upstreams=[self.up], start=False,
                        policy={"default_mode": "log", "deny": "lists/deny.txt",
                                "allow": "allow.txt"},
                        clients=[(self.OFF, {"mode": "off"}),
                                 (self.NXC, {"mode": "block", "action": "nxdomain"})])
        write(jd.tmp.file("lists/deny.txt"),
              "# the operator's deny list\n"
              "\n"
              "  Blocked.Example   # inline comment\n"
              "; another comment\n"
              "other.example.\n")
        write(jd.tmp.file("allow.txt"), "ok.blocked.example\n")
        # the daemon runs in another directory than the config's
        self.assertNotEqual(os.path.realpath(os.getcwd()), os.path.realpath(jd.tmp.path))
        jd.start()
        self.addCleanup(jd.stop)
        self.check_lists(jd)

    def test_deny_query_log(self):
        jd = self.start_inline()
        ask(jd, "logged.blocked.example.")
        ask(jd, "logged.blocked.example.", source=self.NXC)
        ask(jd, "logged.blocked.example.", source=self.OFF)
        marker = "marker.example."
        ask(jd, marker)
        lines_for(self.qlog, marker)
        lines = lines_for(self.qlog, "logged.blocked.example", n=2)
        self.assertEqual([(l["client"], l["action"], l["rcode"]) for l in lines],
                         [("127.0.0.1", "sinkhole", "NOERROR"),
                          (self.NXC, "nxdomain", "NXDOMAIN")])
        for l in lines:
            self.assertIsNone(l["upstream"], l)
            self.assertEqual((l["answers"], l["labels"]), ([], []), l)

    def test_deny_logged_in_labelled_mode(self):
        jd = self.start_inline(qlog_mode="labelled")
        ask(jd, "plain.example.")                          # unlabelled, passed: not logged
        ask(jd, "lab.blocked.example.")                    # rewritten: logged
        line = lines_for(self.qlog, "lab.blocked.example")[0]
        self.assertEqual(line["action"], "sinkhole")
        self.assertEqual([l["qname"] for l in real_lines(h.read_jsonl(self.qlog))],
                         ["lab.blocked.example"])

    def test_deny_over_tcp(self):
        jd = self.start_inline()
        q, r = ask(jd, "t.blocked.example.", transport="tcp")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_BLOCKED, DENY_BLOCKED))
        q, r = ask(jd, "t.blocked.example.", transport="tcp", source=self.NXC, edns=False)
        self.assertNegative(r, q, NXDOMAIN, 60, (EDE_BLOCKED, DENY_BLOCKED))
        self.assertEqual(self.up.count("t.blocked.example."), 0)

    def test_allow_wins_over_jurisdiction_blocking(self):
        jd = self.start(policy={"default_mode": "block", "block": "PRC",
                                "allow": ["cn.policy.test", "a1.tuyaeu.com"]})
        q, r = ask(jd, "cn.policy.test.")
        self.assertReal(r, q, ["192.0.2.6"])
        q, r = ask(jd, "sub.cn.policy.test.")
        self.assertReal(r, q, ["192.0.2.7"])
        q, r = ask(jd, "a1.tuyaeu.com.")
        self.assertReal(r, q, ["198.51.100.7"])
        # not allowed: still blocked
        q, r = ask(jd, "ali-de.policy.test.")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, OPERATOR))
        q, r = ask(jd, "svc.policy.test.", "HTTPS")
        self.assertNegative(r, q, NOERROR, 60, (EDE_FILTERED, HOSTED_CN))


# --------------------------------------------------------------------------------------------
# SIGHUP
# --------------------------------------------------------------------------------------------

class Reload(PolicyCase):

    def test_sighup_switches_a_client_from_log_to_block(self):
        jd = self.start(policy={"block": "PRC"}, clients=[("127.0.0.2", {"mode": "log"})])
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")
        self.assertReal(r, q, ["192.0.2.6"])
        pid = jd.proc.pid
        jd.clients = [("127.0.0.2", {"mode": "block"})]
        jd.policy["deny"] = "de.policy.test"
        hup_and_wait(jd)
        self.assertTrue(jd.alive())
        self.assertEqual(jd.proc.pid, pid)
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")          # a cache hit
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, fresh("cn.policy.test"), source="127.0.0.2")    # a miss
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, "cn.policy.test.")                              # others unchanged
        self.assertReal(r, q, ["192.0.2.6"])
        q, r = ask(jd, "de.policy.test.")                              # the new deny rule
        self.assertSinkhole(r, q, "0.0.0.0", 60,
                            (EDE_BLOCKED, "blocked by operator rule: deny de.policy.test"))
        # and back
        jd.clients = [("127.0.0.2", {"mode": "log"})]
        del jd.policy["deny"]
        hup_and_wait(jd)
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")
        self.assertReal(r, q, ["192.0.2.6"])
        q, r = ask(jd, "de.policy.test.")
        self.assertReal(r, q, ["198.51.100.8"])

    def test_bad_policy_on_sighup_keeps_the_old(self):
        jd = self.start(policy={"block": "PRC"}, clients=[("127.0.0.2", {"mode": "block"})])
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        jd.clients = [("127.0.0.2", {"mode": "log", "action": "explode"})]
        jd.reload()
        h.wait_for(lambda: "explode" in jd.read_log(), 3.0, interval=0.05,
                   what="the config error in the log:\n" + jd.read_log())
        time.sleep(0.2)
        self.assertTrue(jd.alive(), jd.read_log())
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))

    def test_unknown_group_on_sighup_keeps_the_old(self):
        # a mistyped group is refused like any bad value: blocking does not silently stop
        jd = self.start(policy={"block": "PRC"}, clients=[("127.0.0.2", {"mode": "block"})])
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        jd.policy["block"] = "China"
        jd.reload()
        wait_log(jd, "reload failed, keeping the running configuration: %s:" % jd.conf)
        self.assertIn("unknown group 'China' in block (groups are: PRC)", jd.read_log())
        self.assertTrue(jd.alive(), jd.read_log())
        q, r = ask(jd, fresh("cn.policy.test"), source="127.0.0.2")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))


class GroupNames(PolicyCase):
    """Group names are those of the groups file, in any case."""

    def test_block_in_lower_case_blocks(self):
        jd = self.start(policy={"block": "prc", "action": "sinkhole"},
                        clients=[("127.0.0.2", {"mode": "block"}),
                                 ("127.0.0.3", {"mode": "block", "block": "Prc:operator"})])
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.2")
        self.assertSinkhole(r, q, "0.0.0.0", 60, (EDE_FILTERED, HOSTED_CN))
        q, r = ask(jd, "cn.policy.test.", source="127.0.0.3")     # hosted:CN only: passes
        self.assertReal(r, q, ["192.0.2.6"])
        q, r = ask(jd, "cn.policy.test.")                         # log mode: the real answer
        self.assertReal(r, q, ["192.0.2.6"])

    def test_unknown_group_does_not_start(self):
        jd = self.start(policy={"block": "China"}, clients=[("127.0.0.2", {"mode": "block"})],
                        start=False)
        jd.write_config()
        p = h.run_cli(["-c", jd.conf, "-f"], timeout=10)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"^%s:\d+: unknown group 'China' in block \(groups are: PRC\)$"
                         % re.escape(jd.conf))


# --------------------------------------------------------------------------------------------
# configuration errors (jurisdns -t -c FILE)
# --------------------------------------------------------------------------------------------

BASE = ("[server]\n"                  # 1
        "listen = 127.0.0.1:5353\n"   # 2
        "[upstream]\n"                # 3
        "server = 127.0.0.1:53\n"     # 4
        "[labels]\n"                  # 5: block lists name groups of this file
        "groups = %s\n" % h.shipped_groups())  # 6
NEXT = 7                              # the first line after BASE


class ConfigErrors(h.JDTestCase):

    def setUp(self):
        self.tmp = h.TempDir()
        self.addCleanup(self.tmp.cleanup)

    def check(self, text, name="jd.conf"):
        path = write(self.tmp.file(name), BASE + text)
        return path, h.run_cli(["-t", "-c", path])

    def assertValid(self, text):
        path, p = self.check(text)
        self.assertEqual(p.returncode, 0, "valid config rejected:\n%s\n%s" % (text, p.stderr))

    def assertInvalidAt(self, text, line, pattern=None):
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, "invalid config accepted (rc %d):\n%s\n%s"
                         % (p.returncode, text, p.stderr))
        m = re.search(r"^%s:(\d+): (.+)$" % re.escape(path), p.stderr, re.M)
        self.assertIsNotNone(m, "no 'FILE:LINE: message' on stderr: %r" % p.stderr)
        self.assertEqual(int(m.group(1)), line, "wrong line in %r" % p.stderr)
        if pattern:
            self.assertRegex(m.group(2), pattern)
        return m.group(2)

    def test_full_policy_valid(self):
        write(self.tmp.file("deny.txt"), "bad.example\n")
        self.assertValid("[policy]\n"
                         "default_mode = block\n"
                         "block = PRC:hosted, PRC:operator PRC:domain\n"
                         "action = nodata\n"
                         "sinkhole_a = 10.0.0.1\n"
                         "sinkhole_aaaa = fd00::1\n"
                         "ttl = 0\n"
                         "allow = good.example\n"
                         "deny = deny.txt\n"
                         "deny = worse.example\n"
                         "[client 127.0.0.2]\n"
                         "mode = off\n"
                         "name = kitchen-camera\n"
                         "block = PRC:any\n"
                         "action = drop\n"
                         "[client 10.0.0.0/8]\n"
                         "mode = log\n"
                         "[client fd00::/8]\n"
                         "mode = block\n")

    def test_unknown_action(self):
        self.assertInvalidAt("[policy]\naction = explode\n", NEXT + 1, r"action.*explode")
        self.assertInvalidAt("[policy]\naction = pass\n", NEXT + 1, r"action.*pass")
        self.assertInvalidAt("[client 127.0.0.2]\nmode = block\naction = sinkhol\n", NEXT + 2,
                             r"action.*sinkhol")

    def test_unknown_mode(self):
        self.assertInvalidAt("[policy]\ndefault_mode = paranoid\n", NEXT + 1, r"paranoid")
        self.assertInvalidAt("[client 127.0.0.2]\nname = x\nmode = blocking\n", NEXT + 2,
                             r"mode.*blocking")

    def test_unknown_group(self):
        # a mistyped group used to pass -t and then block nothing
        self.assertInvalidAt("[policy]\nblock = China\n", NEXT + 1,
                             r"^unknown group 'China' in block \(groups are: PRC, bypass\)$")
        self.assertInvalidAt("[policy]\nblock = PRX\n", NEXT + 1,
                             r"^unknown group 'PRX' in block \(did you mean 'PRC'\?\)$")
        self.assertInvalidAt("[policy]\nblock = CN\n", NEXT + 1,
                             r"^unknown group 'CN' in block \('CN' is a country; groups are: PRC, bypass\)$")
        self.assertInvalidAt("[client 127.0.0.2]\nmode = block\nblock = PRC:hosted Chna\n", NEXT + 2,
                             r"^unknown group 'Chna' in block")
        self.assertValid("[policy]\nblock = prc\n[client 127.0.0.2]\nblock = Prc:hosted\n")

    def test_block_without_a_groups_file(self):
        # without [labels] groups and without a shipped file no group is known: an error too
        path = write(self.tmp.file("nolabels.conf"), "[upstream]\nserver = 127.0.0.1:53\n"
                     "[labels]\ngroups = %s\n[policy]\nblock = PRC\n" % self.tmp.file("none.conf"))
        p = h.run_cli(["-t", "-c", path])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"^%s:6: block: .*none\.conf: No such file" % re.escape(path))

    def test_bad_block_reason(self):
        self.assertInvalidAt("[policy]\nblock = PRC:nope\n", NEXT + 1, r"PRC:nope")
        self.assertInvalidAt("[client 127.0.0.2]\nblock = PRC:hosted, PRC:nope\n", NEXT + 1,
                             r"PRC:nope")

    def test_bad_sinkhole_addresses(self):
        self.assertInvalidAt("[policy]\nsinkhole_a = 1.2.3\n", NEXT + 1, r"sinkhole_a.*1\.2\.3")
        self.assertInvalidAt("[policy]\nsinkhole_a = ::1\n", NEXT + 1, r"sinkhole_a")
        self.assertInvalidAt("[policy]\nsinkhole_aaaa = 10.0.0.1\n", NEXT + 1, r"sinkhole_aaaa")

    def test_bad_ttl(self):
        self.assertInvalidAt("[policy]\nttl = 86401\n", NEXT + 1, r"ttl")
        self.assertInvalidAt("[policy]\nttl = -1\n", NEXT + 1, r"ttl")

    def test_client_not_an_ip(self):
        # the header (or the first key under it) is named
        path, p = self.check("[client not-an-ip]\nmode = block\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"%s:(%d|%d): .*not-an-ip" % (re.escape(path),
                                                                NEXT, NEXT + 1))
        path, p = self.check("[client 127.0.0.0/33]\nmode = block\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(path + ":", p.stderr)

    def test_client_not_an_ip_without_keys(self):
        # a section that names no valid client is an error even when it has no keys
        path, p = self.check("[client not-an-ip]\n[policy]\nttl = 5\n")
        self.assertEqual(p.returncode, 1, "[client not-an-ip] accepted:\n" + p.stderr)
        self.assertRegex(p.stderr, r"%s:%d: .*not-an-ip" % (re.escape(path), NEXT))

    def test_client_mac(self):
        # a malformed MAC is an error naming the section's line; a well-formed one is valid
        path, p = self.check("[client aa:bb:cc:dd:ee:zz]\nmode = block\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"%s:%d: .*aa:bb:cc:dd:ee:zz" % (re.escape(path), NEXT))
        path, p = self.check("[client aa:bb:cc:dd:ee:ff]\nmode = block\n")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unknown_key_in_client(self):
        msg = self.assertInvalidAt("[client 127.0.0.2]\nmode = block\ncolour = red\n", NEXT + 2,
                                   r"colour")
        self.assertIn("client 127.0.0.2", msg)
        msg = self.assertInvalidAt("[client 127.0.0.2]\nmdoe = block\n", NEXT + 1, r"mdoe")
        self.assertIn("mode", msg)

    def test_unknown_key_in_policy(self):
        self.assertInvalidAt("[policy]\nactoin = drop\n", NEXT + 1, r"actoin.*action")

    def test_bad_domain_inline(self):
        self.assertInvalidAt("[policy]\ndeny = bad..example\n", NEXT + 1, r"bad\.\.example")
        self.assertInvalidAt("[policy]\nallow = exa$mple.com\n", NEXT + 1, r"exa\$mple")

    def test_bad_domain_in_list_file(self):
        lst = write(self.tmp.file("lists/deny.txt"),
                    "# comment\n"
                    "good.example\n"
                    "bad..example\n")
        path, p = self.check("[policy]\nttl = 5\ndeny = lists/deny.txt\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("%s:3:" % lst, p.stderr, "the list file and line are not named")
        self.assertIn("bad..example", p.stderr)
        self.assertRegex(p.stderr, r"%s:%d: " % (re.escape(path), NEXT + 2))

    def test_missing_list_file(self):
        path, p = self.check("[policy]\nallow = nowhere.txt\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(self.tmp.file("nowhere.txt"), p.stderr)
        self.assertRegex(p.stderr, r"%s:%d: " % (re.escape(path), NEXT + 1))


class MacIdentity(PolicyCase):
    """EDNS option 65001 (dnsmasq --add-mac) names the client, but only from a trusted
    forwarder."""

    FWD, OTHER = "127.0.0.9", "127.0.0.10"
    MAC = bytes.fromhex("aabbccddeeff")

    def setUp(self):
        self.start(policy={"default_mode": "log", "block": "PRC", "action": "nxdomain",
                           "trusted_forwarder": self.FWD},
                   clients=[("aa:bb:cc:dd:ee:ff", {"mode": "block", "name": "phone"})])

    def ask_mac(self, source, mac):
        opts = [dns.edns.GenericOption(65001, mac)] if mac else None
        return ask(self.jd, "cn.policy.test.", "A", source=source, options=opts)

    def test_mac_from_trusted_forwarder_selects_the_client(self):
        q, r = self.ask_mac(self.FWD, self.MAC)
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        line = lines_for(self.qlog, "cn.policy.test", 1)[-1]
        self.assertEqual(line["mac"], "aa:bb:cc:dd:ee:ff")
        self.assertEqual(line["action"], "nxdomain")

    def test_mac_in_text_form_works_too(self):
        q, r = self.ask_mac(self.FWD, b"AA:BB:CC:DD:EE:FF")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)

    def test_mac_from_anyone_else_is_ignored(self):
        q, r = self.ask_mac(self.OTHER, self.MAC)
        self.assertReal(r, q, ["192.0.2.6"])
        line = lines_for(self.qlog, "cn.policy.test", 1)[-1]
        self.assertNotIn("mac", line)
        self.assertEqual(line["client"], self.OTHER)

    def test_other_mac_from_the_forwarder_gets_the_default(self):
        q, r = self.ask_mac(self.FWD, bytes.fromhex("001122334455"))
        self.assertReal(r, q, ["192.0.2.6"])
        line = lines_for(self.qlog, "cn.policy.test", 1)[-1]
        self.assertEqual(line["mac"], "00:11:22:33:44:55")


if __name__ == "__main__":
    h.main()
