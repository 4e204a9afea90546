#!/usr/bin/python3
"""Response Policy Zones ([policy] rpz = FILE), end to end through the real daemon: QNAME and
wildcard triggers (NXDOMAIN, NODATA with the synthesized SOA and EDE 15 "rpz FILE: TRIGGER"),
rpz-passthru over jurisdiction blocking and the deny list, rpz-drop, rpz-tcp-only (TC=1 over UDP,
the real answer over TCP), local data (A, AAAA, TXT, CNAME, NODATA for other types), rpz-ip on
real answers from knotd (IPv4, IPv6, also from the cache), rpz-client-ip, clients in mode = off,
precedence between files, relative paths, configuration errors (jurisdns -t), SIGHUP with a
broken zone, and the query log's action field.

knotd serves tests/zones/rpz-data.zone (rpz-data.test.); the policy zone is tests/zones/test.rpz.
The daemon uses the test GeoIP database and the tests' own PRC group (192.0.2.0/26 is CN)."""

import os
import re
import shutil
import signal
import sys
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
ZONES = [("rpz-data.test.", os.path.join(h.zone_dir(), "rpz-data.zone"))]
RPZ = os.path.join(h.zone_dir(), "test.rpz")

GROUPS = ("[jurisdiction PRC]\n"
          "countries = CN HK MO\n"
          "asns = 45102\n")

EDE_BLOCKED = 15
EDE_FILTERED = 17
TTL = 42          # [policy] ttl: the synthesized SOA
LOCAL_TTL = 120   # $TTL of test.rpz: the local data

SOA_MNAME, SOA_RNAME = h.SYNTH_SOA_MNAME, h.SYNTH_SOA_RNAME

A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
TXT = dns.rdatatype.TXT
CNAME = dns.rdatatype.CNAME
NOERROR = dns.rcode.NOERROR
NXDOMAIN = dns.rcode.NXDOMAIN

OFF = "127.0.0.9"       # [client] mode = off
BLOCKED = "127.0.0.7"   # 32.7.0.0.127.rpz-client-ip CNAME .


def setUpModule():
    global KNOT
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def rpz_text(trigger, name="test.rpz"):
    return "rpz %s: %s" % (name, trigger)


write = h.write_file
wait_log = h.Jurisdns.wait_log            # wait_log(jd, text, count=1, timeout=3.0)
ede_of = h.ede_of


mkq = h.edns_query        # a query, with EDNS (version 0) unless edns=False
ask = h.ask_from          # (query, response) from a source address


def lines_for(path, qname, n=1, qtype="A", timeout=3.0):
    return h.wait_log_lines(path, n, timeout, qname=qname.rstrip(".").lower(), qtype=qtype)


class RpzCase(h.JDTestCase):
    """Daemons forwarding to knotd with the test GeoIP database, the tests' groups and a query
    log; policy = the [policy] section."""

    @staticmethod
    def _args(policy, clients=(), **kw):
        """make_daemon keywords: knotd, the groups, the test GeoIP database, a query log."""
        return dict(upstreams=[KNOT], groups=GROUPS, test_geoip=True, query_log="all",
                    policy=policy, clients=list(clients), **kw)

    def start(self, policy, clients=(), start=True, **kw):
        self.jd = self.daemon(start=start, **self._args(policy, clients, **kw))
        self.qlog = self.jd.qlog
        return self.jd

    # --- assertions --------------------------------------------------------------------------

    def assertSynthFlags(self, r, q):
        self.assertTrue(r.flags & dns.flags.QR)
        self.assertFalse(r.flags & dns.flags.AD, "AD set on a rewritten answer:\n%s" % r)
        self.assertFalse(r.flags & dns.flags.AA, "AA set on a rewritten answer:\n%s" % r)
        self.assertFalse(r.flags & dns.flags.TC, r)
        self.assertTrue(r.flags & dns.flags.RA, "RA clear:\n%s" % r)

    def assertEde(self, r, q, code, text):
        if q.edns >= 0:
            self.assertGreaterEqual(r.edns, 0, "no OPT in the answer to an EDNS query:\n%s" % r)
            self.assertEqual(ede_of(r), [(code, text)], "EDE of:\n%s" % r)
        else:
            self.assertEqual(r.edns, -1, "OPT in the answer to a query without EDNS:\n%s" % r)
        self.assertEqual(r.additional, [], "unexpected additional records:\n%s" % r)

    def assertSynthSoa(self, r, q, ttl=TTL):
        self.assertEqual(len(r.authority), 1, "expected one SOA in AUTHORITY:\n%s" % r)
        soa = r.authority[0]
        self.assertEqual(soa.rdtype, dns.rdatatype.SOA, r)
        self.assertEqual(soa.name.to_text(), q.question[0].name.to_text(), r)
        self.assertEqual(soa.ttl, ttl, "SOA TTL:\n%s" % r)
        self.assertEqual(soa[0].mname, SOA_MNAME)
        self.assertEqual(soa[0].rname, SOA_RNAME)
        self.assertEqual(soa[0].minimum, ttl)

    def assertNegative(self, r, q, rcode, text, code=EDE_BLOCKED):
        """NXDOMAIN or NODATA written by jurisdns: no answer, the synthesized SOA, the EDE."""
        self.assertResponseTo(r, q, rcode)
        self.assertSynthFlags(r, q)
        self.assertEqual(r.answer, [], r)
        self.assertSynthSoa(r, q)
        self.assertEde(r, q, code, text)

    def assertReal(self, r, q, addresses, rdtype=A):
        self.assertResponseTo(r, q, NOERROR)
        self.assertEqual(h.rrset_addresses(r, rdtype), sorted(addresses), r)
        self.assertEqual(ede_of(r), [], "EDE on a passed answer:\n%s" % r)

    def assertDropped(self, jd, qname, qtype="A", source="127.0.0.1", transport="udp"):
        t0 = time.monotonic()
        with self.assertRaises(dns.exception.Timeout,
                               msg="%s %s answered (%s) although the action is drop"
                               % (qname, qtype, transport)):
            ask(jd, qname, qtype, source=source, transport=transport, timeout=1.0)
        self.assertLess(time.monotonic() - t0, 3.0)


# --------------------------------------------------------------------------------------------
# one daemon with tests/zones/test.rpz for every rule
# --------------------------------------------------------------------------------------------

class Rules(h.ClassDaemonTestCase, RpzCase):

    @classmethod
    def daemon_args(cls):
        return cls._args(policy={"default_mode": "block", "block": "PRC", "ttl": TTL,
                                 "deny": "denied.rpz-data.test", "rpz": RPZ},
                         clients=[(OFF, {"mode": "off"})])

    # QNAME -------------------------------------------------------------------------------------

    def test_qname_nxdomain(self):
        for qtype in ("A", "AAAA", "TXT"):
            q, r = ask(self.jd, "nx.rpz-data.test.", qtype)
            self.assertNegative(r, q, NXDOMAIN, rpz_text("nx.rpz-data.test"))
        q, r = ask(self.jd, "nx.rpz-data.test.", edns=False)
        self.assertNegative(r, q, NXDOMAIN, rpz_text("nx.rpz-data.test"))
        # the query's case is echoed and does not matter for the trigger
        q, r = ask(self.jd, "Nx.RPZ-Data.TEST.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("nx.rpz-data.test"))
        # not below the name
        q, r = ask(self.jd, "sub.nx.rpz-data.test.")
        self.assertEqual(ede_of(r), [], r)

    def test_wildcard_nodata(self):
        for name in ("a.wild.rpz-data.test.", "b.c.wild.rpz-data.test."):
            for qtype in ("A", "AAAA"):
                q, r = ask(self.jd, name, qtype)
                self.assertNegative(r, q, NOERROR, rpz_text("*.wild.rpz-data.test"))
        # the wildcard's own name is not matched
        q, r = ask(self.jd, "wild.rpz-data.test.")
        self.assertReal(r, q, ["198.51.100.22"])

    def test_untouched_name(self):
        q, r = ask(self.jd, "plain.rpz-data.test.")
        self.assertReal(r, q, ["198.51.100.20"])
        q, r = ask(self.jd, "plain.rpz-data.test.", "AAAA")
        self.assertReal(r, q, ["2001:db8:2::20"], AAAA)

    def test_ns_triggers_skipped(self):
        # 32.20.100.51.198.rpz-nsip is plain's address: skipped, not taken for an rpz-ip trigger
        q, r = ask(self.jd, "plain.rpz-data.test.")
        self.assertReal(r, q, ["198.51.100.20"])

    # passthru -----------------------------------------------------------------------------------

    def test_passthru_over_jurisdiction_blocking(self):
        q, r = ask(self.jd, "prc-ctl.rpz-data.test.")     # the control: CN-hosted, sinkholed
        self.assertResponseTo(r, q, NOERROR)
        self.assertEqual(h.rrset_addresses(r), ["0.0.0.0"], r)
        self.assertEqual(ede_of(r), [(EDE_FILTERED, "filtered by opt-in: PRC hosted:CN")], r)
        for _ in range(2):                                   # a miss, then a cache hit
            q, r = ask(self.jd, "prc.rpz-data.test.")
            self.assertReal(r, q, ["192.0.2.10"])

    def test_passthru_over_deny_list(self):
        q, r = ask(self.jd, "x.denied.rpz-data.test.")     # the control: on the deny list
        self.assertResponseTo(r, q, NOERROR)
        self.assertEqual(h.rrset_addresses(r), ["0.0.0.0"], r)
        self.assertEqual(ede_of(r), [(EDE_BLOCKED,
                                      "blocked by operator rule: deny denied.rpz-data.test")], r)
        for transport in ("udp", "tcp"):
            q, r = ask(self.jd, "ok.denied.rpz-data.test.", transport=transport)
            self.assertReal(r, q, ["198.51.100.41"])

    # drop, tcp-only ------------------------------------------------------------------------------

    def test_drop(self):
        self.assertDropped(self.jd, "drop.rpz-data.test.")
        self.assertDropped(self.jd, "drop.rpz-data.test.", "AAAA")
        self.assertDropped(self.jd, "drop.rpz-data.test.", transport="tcp")
        q, r = ask(self.jd, "plain.rpz-data.test.")     # still answering
        self.assertReal(r, q, ["198.51.100.20"])

    def test_tcp_only(self):
        for qtype in ("A", "TXT"):
            q, r = ask(self.jd, "tcponly.rpz-data.test.", qtype)
            self.assertResponseTo(r, q, NOERROR)
            self.assertTrue(r.flags & dns.flags.TC, "TC clear on the UDP answer:\n%s" % r)
            self.assertEqual((r.answer, r.authority), ([], []), r)
        q, r = ask(self.jd, "tcponly.rpz-data.test.", transport="tcp")
        self.assertReal(r, q, ["198.51.100.24"])
        self.assertFalse(r.flags & dns.flags.TC)
        q, r = ask(self.jd, "tcponly.rpz-data.test.", "TXT", transport="tcp")
        self.assertResponseTo(r, q, NOERROR)
        self.assertEqual([b"".join(rd.strings) for rr in r.answer for rd in rr],
                         [b"real over tcp"], r)
        # UDP again after the TCP query filled the cache: still TC=1
        q, r = ask(self.jd, "tcponly.rpz-data.test.")
        self.assertTrue(r.flags & dns.flags.TC, r)
        self.assertEqual(r.answer, [], r)

    # local data ---------------------------------------------------------------------------------

    def assertLocal(self, r, q, rdtype, texts, ttl=LOCAL_TTL):
        self.assertResponseTo(r, q, NOERROR)
        self.assertSynthFlags(r, q)
        self.assertEqual(len(r.answer), 1, r)
        rr = r.answer[0]
        self.assertEqual(rr.rdtype, rdtype, r)
        self.assertEqual(rr.name.to_text(), q.question[0].name.to_text())
        self.assertEqual(rr.ttl, ttl, r)
        self.assertEqual(sorted(x.to_text() for x in rr), sorted(texts), r)
        self.assertEqual(r.authority, [], r)
        self.assertEde(r, q, EDE_BLOCKED, rpz_text(q.question[0].name.to_text().rstrip(".")
                                                   .lower()))

    def test_local_data(self):
        name = "intranet.rpz-data.test."
        q, r = ask(self.jd, name, "A")
        self.assertLocal(r, q, A, ["10.1.2.3"])
        q, r = ask(self.jd, name, "AAAA")
        self.assertLocal(r, q, AAAA, ["fd00::10"])
        q, r = ask(self.jd, name, "TXT")
        self.assertLocal(r, q, TXT, ['"local data from test.rpz"'])
        q, r = ask(self.jd, name, "A", edns=False)
        self.assertLocal(r, q, A, ["10.1.2.3"])
        # a type without local data: NODATA with the SOA
        for qtype in ("MX", "SRV"):
            q, r = ask(self.jd, name, qtype)
            self.assertNegative(r, q, NOERROR, rpz_text("intranet.rpz-data.test"))
        # over TCP as well
        q, r = ask(self.jd, name, "A", transport="tcp")
        self.assertLocal(r, q, A, ["10.1.2.3"])

    def test_local_cname_answers_every_type(self):
        for qtype in ("A", "AAAA", "TXT", "MX"):
            q, r = ask(self.jd, "moved.rpz-data.test.", qtype)
            self.assertResponseTo(r, q, NOERROR)
            self.assertTrue(r.answer, r)
            first = r.answer[0]
            self.assertEqual(first.rdtype, CNAME, r)
            self.assertEqual(first.name.to_text(), "moved.rpz-data.test.")
            self.assertEqual([x.target.to_text() for x in first], ["plain.rpz-data.test."])
            self.assertEqual(first.ttl, LOCAL_TTL)
            self.assertEqual(ede_of(r), [(EDE_BLOCKED, rpz_text("moved.rpz-data.test"))], r)

    # rpz-ip ---------------------------------------------------------------------------------------

    def test_rpz_ip_v4(self):
        for i in range(2):  # a miss, then from the cache
            q, r = ask(self.jd, "ip4.rpz-data.test.")
            self.assertNegative(r, q, NXDOMAIN, rpz_text("32.66.100.51.198.rpz-ip"))
        for i in range(2):  # 198.51.100.112/28
            q, r = ask(self.jd, "ip4net.rpz-data.test.")
            self.assertNegative(r, q, NOERROR, rpz_text("28.112.100.51.198.rpz-ip"))
        # one address of two is enough
        q, r = ask(self.jd, "ip4multi.rpz-data.test.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("32.66.100.51.198.rpz-ip"))
        # a neighbour address: untouched
        q, r = ask(self.jd, "near.rpz-data.test.")
        self.assertReal(r, q, ["198.51.100.67"])

    def test_rpz_ip_v6(self):
        for i in range(2):
            q, r = ask(self.jd, "ip6.rpz-data.test.", "AAAA")
            self.assertNegative(r, q, NXDOMAIN, rpz_text("64.zz.66.2.db8.2001.rpz-ip"))
        for i in range(2):
            q, r = ask(self.jd, "ip6exact.rpz-data.test.", "AAAA")
            self.assertNegative(r, q, NOERROR, rpz_text("128.99.zz.2.db8.2001.rpz-ip"))
        q, r = ask(self.jd, "near.rpz-data.test.", "AAAA")
        self.assertReal(r, q, ["2001:db8:2:67::1"], AAAA)

    def test_rpz_ip_cached_answer_logged_as_cached(self):
        name = "ip4.rpz-data.test."
        ask(self.jd, name)
        q, r = ask(self.jd, name)
        self.assertNegative(r, q, NXDOMAIN, rpz_text("32.66.100.51.198.rpz-ip"))
        lines = lines_for(self.qlog, name, n=2)
        self.assertIs(lines[-1]["cached"], True, lines[-1])
        self.assertEqual(lines[-1]["action"], "nxdomain", lines[-1])

    # rpz-client-ip, mode = off ----------------------------------------------------------------------

    def test_client_ip(self):
        for name in ("plain.rpz-data.test.", "intranet.rpz-data.test.", "example.test."):
            q, r = ask(self.jd, name, source=BLOCKED)
            self.assertNegative(r, q, NXDOMAIN, rpz_text("32.7.0.0.127.rpz-client-ip"))
        q, r = ask(self.jd, "plain.rpz-data.test.", source="127.0.0.1")
        self.assertReal(r, q, ["198.51.100.20"])
        q, r = ask(self.jd, "plain.rpz-data.test.", source="127.0.0.8")
        self.assertReal(r, q, ["198.51.100.20"])
        q, r = ask(self.jd, "plain.rpz-data.test.", source=BLOCKED, transport="tcp")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("32.7.0.0.127.rpz-client-ip"))

    def test_mode_off_client(self):
        # the client really is off: CN-hosted answers pass
        q, r = ask(self.jd, "prc-ctl.rpz-data.test.", source=OFF)
        self.assertReal(r, q, ["192.0.2.11"])
        # yet every RPZ rule applies
        q, r = ask(self.jd, "nx.rpz-data.test.", source=OFF)
        self.assertNegative(r, q, NXDOMAIN, rpz_text("nx.rpz-data.test"))
        q, r = ask(self.jd, "a.wild.rpz-data.test.", source=OFF)
        self.assertNegative(r, q, NOERROR, rpz_text("*.wild.rpz-data.test"))
        q, r = ask(self.jd, "ip4.rpz-data.test.", source=OFF)
        self.assertNegative(r, q, NXDOMAIN, rpz_text("32.66.100.51.198.rpz-ip"))
        q, r = ask(self.jd, "ip6.rpz-data.test.", "AAAA", source=OFF)
        self.assertNegative(r, q, NXDOMAIN, rpz_text("64.zz.66.2.db8.2001.rpz-ip"))
        q, r = ask(self.jd, "intranet.rpz-data.test.", source=OFF)
        self.assertLocal(r, q, A, ["10.1.2.3"])
        self.assertDropped(self.jd, "drop.rpz-data.test.", source=OFF)
        q, r = ask(self.jd, "tcponly.rpz-data.test.", source=OFF)
        self.assertTrue(r.flags & dns.flags.TC, r)


# --------------------------------------------------------------------------------------------
# the query log
# --------------------------------------------------------------------------------------------

class QueryLog(RpzCase):

    def test_action_field(self):
        jd = self.start(policy={"rpz": RPZ, "ttl": TTL})
        cases = [("nx.rpz-data.test.", "A", "udp", "nxdomain", "NXDOMAIN"),
                 ("a.wild.rpz-data.test.", "A", "udp", "nodata", "NOERROR"),
                 ("drop.rpz-data.test.", "A", "udp", "drop", None),
                 ("tcponly.rpz-data.test.", "A", "udp", "tcp-only", "NOERROR"),
                 ("intranet.rpz-data.test.", "A", "udp", "local", "NOERROR"),
                 ("intranet.rpz-data.test.", "MX", "udp", "local", "NOERROR"),
                 ("ip4.rpz-data.test.", "A", "udp", "nxdomain", "NXDOMAIN"),
                 ("plain.rpz-data.test.", "A", "udp", "pass", "NOERROR")]
        for name, qtype, transport, action, rcode in cases:
            if action == "drop":
                self.assertDropped(jd, name, qtype, transport=transport)
            else:
                ask(jd, name, qtype, transport=transport)
        for name, qtype, transport, action, rcode in cases:
            lines = lines_for(self.qlog, name, n=1, qtype=qtype)
            self.assertEqual(len(lines), 1, lines)
            self.assertEqual(lines[0]["action"], action, lines[0])
            if rcode:
                self.assertEqual(lines[0]["rcode"], rcode, lines[0])
        # the TCP retry of a tcp-only name resolves as usual
        ask(jd, "tcponly.rpz-data.test.", transport="tcp")
        lines = lines_for(self.qlog, "tcponly.rpz-data.test.", n=2)
        self.assertEqual(lines[1]["action"], "pass", lines[1])
        # client-ip
        ask(jd, "plain.rpz-data.test.", source=BLOCKED)
        lines = [l for l in lines_for(self.qlog, "plain.rpz-data.test.", n=2)
                 if l["client"] == BLOCKED]
        self.assertEqual([l["action"] for l in lines], ["nxdomain"], lines)


# --------------------------------------------------------------------------------------------
# files: precedence, relative paths, errors, SIGHUP
# --------------------------------------------------------------------------------------------

SOA = ("$TTL 60\n"
       "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
       "@ NS localhost.\n")


class Files(RpzCase):

    def test_first_file_wins(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        first = write(tmp.file("first.rpz"), "$ORIGIN first.\n" + SOA +
                      "plain.rpz-data.test CNAME .\n"
                      "*.wild.rpz-data.test CNAME .\n")
        second = write(tmp.file("second.rpz"), "$ORIGIN second.\n" + SOA +
                       "plain.rpz-data.test CNAME rpz-passthru.\n"
                       "*.wild.rpz-data.test CNAME rpz-passthru.\n"
                       "near.rpz-data.test CNAME *.\n")
        jd = self.start(policy={"rpz": [first, second], "ttl": TTL})
        q, r = ask(jd, "plain.rpz-data.test.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("plain.rpz-data.test", "first.rpz"))
        q, r = ask(jd, "x.wild.rpz-data.test.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("*.wild.rpz-data.test", "first.rpz"))
        q, r = ask(jd, "near.rpz-data.test.")
        self.assertNegative(r, q, NOERROR, rpz_text("near.rpz-data.test", "second.rpz"))

    def test_rpz_ip_local_data(self):
        # local data on an rpz-ip owner: the records of the query's type, whatever their order
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        z = write(tmp.file("ipl.rpz"), "$ORIGIN ipl.\n" + SOA +
                  "32.66.100.51.198.rpz-ip TXT \"rewritten\"\n"
                  "32.66.100.51.198.rpz-ip A 10.9.9.9\n")
        jd = self.start(policy={"rpz": z, "ttl": TTL})
        q, r = ask(jd, "ip4.rpz-data.test.")
        self.assertResponseTo(r, q, NOERROR)
        self.assertEqual(h.rrset_addresses(r), ["10.9.9.9"], r)
        self.assertEqual(ede_of(r), [(EDE_BLOCKED, rpz_text("32.66.100.51.198.rpz-ip", "ipl.rpz"))],
                         r)

    def test_relative_path_from_the_config_directory(self):
        jd = self.start(policy={"rpz": "zones/rel.rpz", "ttl": TTL}, start=False)
        write(os.path.join(os.path.dirname(jd.conf), "zones", "rel.rpz"),
              SOA + "plain.rpz-data.test CNAME .\n")
        jd.start()
        self.addCleanup(jd.stop)
        q, r = ask(jd, "plain.rpz-data.test.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("plain.rpz-data.test", "rel.rpz"))

    def check(self, zone_text, name="broken.rpz"):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        zpath = tmp.file(name)
        if zone_text is not None:
            write(zpath, zone_text)
        conf = write(tmp.file("jd.conf"),
                     "[server]\nlisten = 127.0.0.1:5353\n[upstream]\nserver = 127.0.0.1:53\n"
                     "[policy]\nrpz = %s\n" % name)
        return zpath, h.run_cli(["-t", "-c", conf])

    def test_check_accepts_a_good_zone(self):
        zpath, p = self.check(open(RPZ).read(), "good.rpz")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_syntax_error_names_file_and_line(self):
        zpath, p = self.check("$ORIGIN rpz.\n" + SOA +          # lines 1-4
                              "ok.example CNAME .\n"              # 5
                              "bad.example A 1.2.3\n")            # 6
        self.assertEqual(p.returncode, 1, p.stderr)
        out = p.stdout + p.stderr
        self.assertIn("rpz = %s:6:" % zpath, out)

    def test_check_no_soa(self):
        zpath, p = self.check("$ORIGIN rpz.\nok.example CNAME .\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        out = p.stdout + p.stderr
        self.assertIn("rpz = %s" % zpath, out)
        self.assertIn("SOA", out)

    def test_check_bad_ip_trigger(self):
        for trig in ("33.1.2.3.4.rpz-ip", "32.1.2.300.4.rpz-ip",
                     "40.0.1.168.192.rpz-client-ip"):
            zpath, p = self.check("$ORIGIN rpz.\n" + SOA + "%s CNAME .\n" % trig)
            self.assertEqual(p.returncode, 1, "%s accepted: %s" % (trig, p.stderr))
            self.assertIn(trig, p.stdout + p.stderr)
            self.assertIn(zpath, p.stdout + p.stderr)

    def test_check_missing_file(self):
        zpath, p = self.check(None, "missing.rpz")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(zpath, p.stdout + p.stderr)

    def test_broken_zone_on_sighup_keeps_the_old_policy(self):
        tmp = h.TempDir()
        self.addCleanup(tmp.cleanup)
        zpath = write(tmp.file("live.rpz"), "$ORIGIN live.\n" + SOA +
                      "nx.rpz-data.test CNAME .\n")
        jd = self.start(policy={"rpz": zpath, "ttl": TTL})
        q, r = ask(jd, "nx.rpz-data.test.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("nx.rpz-data.test", "live.rpz"))
        pid = jd.proc.pid
        # a good change is taken
        write(zpath, "$ORIGIN live.\n" + SOA + "nx.rpz-data.test CNAME .\n"
              "plain.rpz-data.test CNAME *.\n")
        n = jd.read_log().count("reloaded ")
        jd.reload()
        wait_log(jd, "reloaded ", n + 1)
        q, r = ask(jd, "plain.rpz-data.test.")
        self.assertNegative(r, q, NOERROR, rpz_text("plain.rpz-data.test", "live.rpz"))
        # a broken one is not
        write(zpath, "$ORIGIN live.\n" + SOA + "near.rpz-data.test CNAME .\n"
              "garbage here A 1.2.3\n")
        jd.reload()
        wait_log(jd, "reload failed")
        time.sleep(0.2)
        self.assertTrue(jd.alive(), jd.read_log())
        self.assertEqual(jd.proc.pid, pid)
        self.assertIn(zpath, jd.read_log())
        q, r = ask(jd, "nx.rpz-data.test.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("nx.rpz-data.test", "live.rpz"))
        q, r = ask(jd, "plain.rpz-data.test.")
        self.assertNegative(r, q, NOERROR, rpz_text("plain.rpz-data.test", "live.rpz"))
        q, r = ask(jd, "near.rpz-data.test.")
        self.assertReal(r, q, ["198.51.100.67"])
        # removing the file on SIGHUP is an error as well
        os.unlink(zpath)
        jd.reload()
        wait_log(jd, "reload failed", 2)
        q, r = ask(jd, "nx.rpz-data.test.")
        self.assertNegative(r, q, NXDOMAIN, rpz_text("nx.rpz-data.test", "live.rpz"))


if __name__ == "__main__":
    h.main()
