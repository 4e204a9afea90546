#!/usr/bin/env python3
"""Conditional forwarding ([forward DOMAIN] sections) and the private zones (RFC 6303 reverse
zones of private addresses, home.arpa): each name goes only to the upstreams that may see it,
and a private name that no upstream may see is answered NXDOMAIN here, with the zone's SOA.

Every test upstream listens on 127.0.0.1 or ::1, which count as private by default; the tests
that need a "public" upstream say which ones are private with [upstream] private_upstreams."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.name
import dns.rcode
import dns.rdatatype

from harness import (JDTestCase, Jurisdns, TempDir, main, make_query, run_cli, tcp, udp,
                     wait_for, wait_jsonl)

REV = "1.1.168.192.in-addr.arpa."


class ForwardZones(JDTestCase):

    def start(self, upstreams, forward=(), upstream=None, log=None, start=True):
        """jurisdns with [upstream] servers and [forward ZONE] sections: (zone, [servers])."""
        d = self.daemon(upstreams, start=False, upstream=upstream, log=log)
        text = d.config()
        for zone, servers in forward:
            text += Jurisdns.render([("forward %s" % zone, {"server": [s.addr for s in servers]})])
        d.config_text = text
        if start:
            d.start()
            self.addCleanup(d.stop)
        return d

    def assertLocalNxdomain(self, r, q, zone, rcode=dns.rcode.NXDOMAIN):
        self.assertResponseTo(r, q, rcode)
        self.assertEqual(len(r.answer), 0)
        self.assertEqual(len(r.authority), 1, r)
        soa = r.authority[0]
        self.assertEqual(soa.rdtype, dns.rdatatype.SOA)
        self.assertEqual(soa.name, dns.name.from_text(zone))
        self.assertEqual(soa[0].mname, dns.name.from_text("localhost."))
        self.assertEqual(soa[0].rname, dns.name.from_text("nobody.invalid."))
        self.assertLessEqual(soa.ttl, 300)
        self.assertGreater(soa.ttl, 0)

    # --- [forward DOMAIN] ---------------------------------------------------------------------

    def test_lan_goes_to_the_router_only(self):
        main_up = self.fake(address="192.0.2.1")
        router = self.fake(address="192.168.1.50")
        d = self.start([main_up], forward=[("lan", [router])])

        r = d.q("printer.lan.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.168.1.50"])
        q = make_query("PRINTER.Lan.", "AAAA")  # case-insensitive; another type, not a cache hit
        self.assertResponseTo(udp(q, d.port), q)
        r = d.q("lan.", "SOA")           # the zone's apex itself
        r = d.q("x.example.test.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.1"])
        r = d.q("plan.", "A")            # not under lan: label-wise
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.1"])

        self.assertEqual(sorted(q.qname_lower for q in router.received()),
                         ["lan.", "printer.lan.", "printer.lan."])
        self.assertEqual(sorted(q.qname_lower for q in main_up.received()),
                         ["plan.", "x.example.test."])

    def test_longest_zone_wins_and_servers_fail_over(self):
        main_up = self.fake(address="192.0.2.1")
        dead = self.fake(default="silent")
        router = self.fake(address="192.168.1.50")
        office = self.fake(address="10.1.1.1")
        d = self.start([main_up], upstream={"failover": 100},
                       forward=[("lan", [dead, router]), ("office.lan", [office])])

        r = d.q("pc.office.lan.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["10.1.1.1"])
        # the first server is silent: the second answers, the main upstream never hears of it
        r = d.q("nas.lan.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.168.1.50"])
        self.assertEqual(dead.count("nas.lan."), 1)
        self.assertEqual(router.count("nas.lan."), 1)
        self.assertEqual(office.count("nas.lan."), 0)
        self.assertEqual(router.count("pc.office.lan."), 0)
        self.assertEqual(main_up.count(), 0)

    def test_forward_server_tcp_fallback(self):
        main_up = self.fake(address="192.0.2.1")
        router = self.fake(address="192.168.1.50", default="tc")
        d = self.start([main_up], forward=[("lan", [router])])
        r = d.q("tv.lan.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.168.1.50"])
        self.assertEqual(router.count("tv.lan.", transport="udp"), 1)
        self.assertEqual(router.count("tv.lan.", transport="tcp"), 1)
        self.assertEqual(main_up.count(), 0)

    def test_reload_adds_a_forward_zone(self):
        main_up = self.fake(address="192.0.2.1")
        router = self.fake(address="192.168.1.50")
        d = self.start([main_up])
        r = d.q("a.lan.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.1"])
        d.config_text += Jurisdns.render([("forward lan", {"server": router.addr})])
        d.reload()

        n = [0]

        def moved():  # a new name each time: the main upstream's answers are cached
            n[0] += 1
            r = d.q("b%d.lan." % n[0], "A")
            return r.answer and r.answer[0][0].address == "192.168.1.50"
        wait_for(moved, 5.0, interval=0.1, what="lan forwarded to the router after SIGHUP")

    # --- private zones ---------------------------------------------------------------------------

    def test_private_reverse_answered_locally_without_private_upstream(self):
        main_up = self.fake(address="192.0.2.1")
        qlog = os.path.join(self.tmpdir(), "q.jsonl")
        d = self.start([main_up], upstream={"private_upstreams": "none"},
                       log={"query_log": qlog, "query_log_mode": "all"})

        q = make_query(REV, "PTR")
        self.assertLocalNxdomain(udp(q, d.port), q, "168.192.in-addr.arpa.")
        q = make_query("printer.home.arpa.", "A")
        self.assertLocalNxdomain(udp(q, d.port), q, "home.arpa.")
        q = make_query("printer.home.arpa.", "A")
        self.assertLocalNxdomain(tcp(q, d.port), q, "home.arpa.")
        # ::1 is a zone of one name: its apex, so NODATA
        loop6 = "1." + "0." * 31 + "ip6.arpa."
        q = make_query(loop6, "PTR")
        self.assertLocalNxdomain(udp(q, d.port), q, loop6, rcode=dns.rcode.NOERROR)
        q = make_query("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.", "PTR")
        self.assertLocalNxdomain(udp(q, d.port), q, "8.e.f.ip6.arpa.")
        q = make_query("9.8.64.100.in-addr.arpa.", "PTR", edns=0)  # CGNAT (RFC 7793), with EDNS
        r = udp(q, d.port)
        self.assertLocalNxdomain(r, q, "64.100.in-addr.arpa.")
        self.assertEqual(r.edns, 0)

        # the apex: its SOA when asked, else NODATA with the SOA
        r = d.q("10.in-addr.arpa.", "SOA")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(r.answer[0].rdtype, dns.rdatatype.SOA)
        self.assertEqual(r.answer[0].name, dns.name.from_text("10.in-addr.arpa."))
        r = d.q("10.in-addr.arpa.", "NS")
        self.assertEqual(r.answer[0][0].target, dns.name.from_text("localhost."))
        r = d.q("10.in-addr.arpa.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(len(r.answer), 0)
        self.assertEqual(r.authority[0].rdtype, dns.rdatatype.SOA)

        # public reverse names and other names still go out
        r = d.q("8.8.8.8.in-addr.arpa.", "PTR")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        r = d.q("x.example.test.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.1"])
        self.assertEqual(sorted(q.qname_lower for q in main_up.received()),
                         ["8.8.8.8.in-addr.arpa.", "x.example.test."])

        # the query log names the answer's source "local"
        lines = wait_jsonl(qlog, 11)
        by_name = {l["qname"]: l for l in lines}
        self.assertEqual(by_name[REV.rstrip(".")]["upstream"], "local")
        self.assertEqual(by_name[REV.rstrip(".")]["rcode"], "NXDOMAIN")
        self.assertEqual(by_name["x.example.test"]["upstream"], main_up.addr)

    def test_private_reverse_goes_only_to_private_upstreams(self):
        public = self.fake(address="192.0.2.1")
        private = self.fake(address="192.0.2.2", host="::1")
        d = self.start([public, private], upstream={"private_upstreams": "::1"})
        r = d.q(REV, "PTR")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        r = d.q("x.example.test.", "A")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.1"])
        self.assertEqual(private.count(REV), 1)
        self.assertEqual(public.count(REV), 0)
        self.assertEqual(public.count("x.example.test."), 1)

    def test_loopback_upstream_counts_as_private_with_auto(self):
        up = self.fake(address="192.0.2.1")
        d = self.start([up], upstream={"private_upstreams": "auto"})  # the default, said aloud
        self.assertEqual(d.q(REV, "PTR").rcode(), dns.rcode.NOERROR)
        self.assertEqual(up.count(REV), 1)

    def test_forward_zone_wins_over_the_private_rule(self):
        main_up = self.fake(address="192.0.2.1")
        router = self.fake(address="192.168.1.50")
        d = self.start([main_up], upstream={"private_upstreams": "none"},
                       forward=[("168.192.in-addr.arpa", [router]), ("home.arpa", [router])])
        self.assertEqual(d.q(REV, "PTR").rcode(), dns.rcode.NOERROR)
        self.assertEqual(d.q("tv.home.arpa.", "A").answer[0][0].address, "192.168.1.50")
        q = make_query("1.0.0.10.in-addr.arpa.", "PTR")  # another private zone: still local
        self.assertLocalNxdomain(udp(q, d.port), q, "10.in-addr.arpa.")
        self.assertEqual(router.count(REV), 1)
        self.assertEqual(router.count("tv.home.arpa."), 1)
        self.assertEqual(main_up.count(), 0)

    def test_protection_off_sends_private_names_anywhere(self):
        up = self.fake(address="192.0.2.1")
        d = self.start([up], upstream={"private_upstreams": "none", "protect_private_zones": "no"})
        self.assertEqual(d.q(REV, "PTR").rcode(), dns.rcode.NOERROR)
        self.assertEqual(up.count(REV), 1)

    def test_bad_forward_section_is_an_error(self):
        up = self.fake()
        d = self.start([up], forward=[("bad..lan", [up])], start=False)
        d.write_config()
        p = run_cli(["-c", d.conf, "-f"])
        self.assertNotEqual(p.returncode, 0)
        line = d.config_text.splitlines().index("[forward bad..lan]") + 1
        self.assertIn("%s:%d: [forward bad..lan]: 'bad..lan' is not a domain name" % (d.conf, line),
                      p.stderr + p.stdout)

    def tmpdir(self):
        t = TempDir()
        self.addCleanup(t.cleanup)
        return t.path


if __name__ == "__main__":
    main()
