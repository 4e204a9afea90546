/* rpz_test.c - Response Policy Zones (rpz.c): loading zone files with and without $ORIGIN, every
 * action, QNAME and wildcard triggers, rpz-ip and rpz-client-ip (IPv4, IPv6 with zz), skipped
 * name-server triggers, precedence between files, and the load errors (missing file, syntax
 * error with its line, no SOA, bad address triggers). Run under ASan/LSan for the leaks. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cmocka.h>
#include "dnsbuild.h"
#include "groups.h"
#include "label.h"
#include "rpz.h"

#define SOA_LINE "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\n"

/* A temporary directory per test for the zone files. */
struct tmpd {
	char dir[64];
	char paths[8][256];
	int n;
	struct rpz z;                /* freed by the teardown too, also after a failed assertion */
};

static struct rpz *Z(void **state)
{
	return &((struct tmpd *)*state)->z;
}

static int setup(void **state)
{
	struct tmpd *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/jd-rpz-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmpd *t = *state;

	for (int i = 0; i < t->n; i++)
		unlink(t->paths[i]);
	rmdir(t->dir);
	rpz_free(&t->z);
	free(t);
	return 0;
}

/* Write a zone file named name with text; returns its path. */
static const char *zone(void **state, const char *name, const char *text)
{
	struct tmpd *t = *state;
	char *p;
	FILE *f;

	assert_true(t->n < 8);
	p = t->paths[t->n++];
	snprintf(p, 256, "%s/%s", t->dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* Load one zone into a fresh rpz; fails the test on an error. */
static void load1(void **state, struct rpz *z, const char *name, const char *text)
{
	char err[512] = "";

	memset(z, 0, sizeof(*z));
	if (rpz_load(z, zone(state, name, text), err, sizeof(err)) != 0)
		fail_msg("rpz_load failed: %s", err);
	rpz_finish(z);
}

/* rpz_load is expected to fail; returns the message in err. */
static void load_fails(void **state, const char *name, const char *text, char *err, size_t errlen)
{
	struct rpz *zp = Z(state);

	memset(zp, 0, sizeof(*zp));
	err[0] = 0;
	assert_int_equal(rpz_load(zp, zone(state, name, text), err, errlen), -1);
	assert_true(err[0] != 0);
	rpz_free(zp);
}

static const struct rpz_rule *qn(const struct rpz *z, const char *name)
{
	uint8_t w[256];
	size_t n = name_to_wire(name, w);
	return rpz_match_qname(z, w, n);
}

static void ip16(const char *text, uint8_t ip[16])
{
	struct in_addr a4;

	memset(ip, 0, 16);
	if (inet_pton(AF_INET, text, &a4) == 1) {
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &a4, 4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, ip), 1);
	}
}

static const struct rpz_rule *client(const struct rpz *z, const char *text)
{
	uint8_t ip[16];
	ip16(text, ip);
	return rpz_match_client(z, ip);
}

/* A label with the given addresses, built by hand (naddrs, addrs[].ip). */
static struct label *mklabel(const char *const *addrs, unsigned n)
{
	struct label *l = calloc(1, sizeof(*l) + (n ? n : 1) * sizeof(struct label_addr));

	assert_non_null(l);
	l->naddrs = l->total_addrs = (uint16_t)n;
	for (unsigned i = 0; i < n; i++) {
		ip16(addrs[i], l->addrs[i].ip);
		l->addrs[i].v6 = strchr(addrs[i], ':') != NULL;
	}
	return l;
}

static const struct rpz_rule *answer1(const struct rpz *z, const char *addr)
{
	struct label *l = mklabel(&addr, 1);
	const struct rpz_rule *r = rpz_match_answer(z, l);
	free(l);
	return r;
}

#define assert_action(r, a) do { \
	const struct rpz_rule *r_ = (r); \
	assert_non_null(r_); \
	assert_int_equal(r_->action, (a)); \
} while (0)

/* --------------------------------------------------------------------------------------------
 * loading: origins and actions
 * ------------------------------------------------------------------------------------------ */

static const char ACTIONS[] =
	"$TTL 60\n"
	SOA_LINE
	"ads.example.net           CNAME .\n"
	"*.tracker.example.net     CNAME *.\n"
	"safe.tracker.example.net  CNAME rpz-passthru.\n"
	"bad.example.net           CNAME rpz-drop.\n"
	"big.example.net           CNAME rpz-tcp-only.\n"
	"intranet.example.net      A    192.168.1.10\n"
	"intranet.example.net      AAAA fd00::10\n"
	"intranet.example.net      TXT  \"served from rpz\"\n"
	"moved.example.net         CNAME www.example.org.\n";

static void check_actions(const struct rpz *z, const char *base)
{
	char want[128];
	const struct rpz_rule *r;

	assert_action(qn(z, "ads.example.net"), RPZ_NXDOMAIN);
	snprintf(want, sizeof(want), "rpz %s: ads.example.net", base);
	assert_string_equal(qn(z, "ads.example.net")->text, want);
	assert_action(qn(z, "a.tracker.example.net"), RPZ_NODATA);
	snprintf(want, sizeof(want), "rpz %s: *.tracker.example.net", base);
	assert_string_equal(qn(z, "a.tracker.example.net")->text, want);
	assert_action(qn(z, "safe.tracker.example.net"), RPZ_PASSTHRU);
	assert_action(qn(z, "bad.example.net"), RPZ_DROP);
	assert_action(qn(z, "big.example.net"), RPZ_TCP_ONLY);

	r = qn(z, "intranet.example.net");
	assert_action(r, RPZ_LOCAL);
	assert_int_equal(r->nrrs, 3); /* A + AAAA + TXT on one owner: one rule */
	assert_int_equal(r->rrs[0].type, 1);
	assert_int_equal(r->rrs[0].ttl, 60);
	assert_int_equal(r->rrs[0].rdlen, 4);
	assert_memory_equal(r->rrs[0].rdata, "\xc0\xa8\x01\x0a", 4);
	assert_int_equal(r->rrs[1].type, 28);
	assert_int_equal(r->rrs[1].rdlen, 16);
	assert_memory_equal(r->rrs[1].rdata,
			    "\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10", 16);
	assert_int_equal(r->rrs[2].type, 16);
	assert_int_equal(r->rrs[2].rdlen, 16);
	assert_memory_equal(r->rrs[2].rdata, "\x0fserved from rpz", 16);

	r = qn(z, "moved.example.net");
	assert_action(r, RPZ_LOCAL); /* a CNAME elsewhere is local data */
	assert_int_equal(r->nrrs, 1);
	assert_int_equal(r->rrs[0].type, 5);
	{
		uint8_t w[64];
		size_t n = name_to_wire("www.example.org", w);
		assert_int_equal(r->rrs[0].rdlen, n);
		assert_memory_equal(r->rrs[0].rdata, w, n); /* uncompressed */
	}
	/* nothing else */
	assert_null(qn(z, "example.net"));
	assert_null(qn(z, "other.example.net"));
	assert_null(qn(z, "tracker.example.net"));
	assert_null(qn(z, "x.ads.example.net"));
	/* the apex records are no triggers */
	assert_null(qn(z, "."));
}

static void test_load_without_origin(void **state)
{
	struct rpz *zp = Z(state);

	/* no $ORIGIN: the origin is the root, owners are full names (example.rpz style) */
	load1(state, zp, "plain.rpz", ACTIONS);
	check_actions(zp, "plain.rpz");
	assert_int_equal(zp->nzones, 1);
	rpz_free(zp);
}

static void test_load_with_origin(void **state)
{
	struct rpz *zp = Z(state);
	char text[2048];

	snprintf(text, sizeof(text), "$ORIGIN rpz.local.\n$TTL 60\n%s", ACTIONS);
	load1(state, zp, "origin.rpz", text);
	check_actions(zp, "origin.rpz");
	/* the origin is not part of the trigger */
	assert_null(qn(zp, "ads.example.net.rpz.local"));
	rpz_free(zp);
}

static void test_origin_is_the_soa_owner(void **state)
{
	struct rpz *zp = Z(state);

	/* absolute owner names below an SOA owner that is not the root */
	load1(state, zp, "abs.rpz",
	      "$TTL 60\n"
	      "policy.example. SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
	      "policy.example. NS localhost.\n"
	      "ads.example.net.policy.example. CNAME .\n"
	      "outside.example.org. CNAME .\n"            /* not below the origin: ignored */
	      "*.wild.example.net.policy.example. CNAME *.\n");
	assert_action(qn(zp, "ads.example.net"), RPZ_NXDOMAIN);
	assert_string_equal(qn(zp, "ads.example.net")->text, "rpz abs.rpz: ads.example.net");
	assert_action(qn(zp, "x.wild.example.net"), RPZ_NODATA);
	assert_null(qn(zp, "outside.example.org"));
	assert_null(qn(zp, "ads.example.net.policy.example"));
	rpz_free(zp);
}

static void test_special_targets_case_insensitive(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "case.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "a.example CNAME RPZ-PASSTHRU.\n"
	      "b.example CNAME Rpz-Drop.\n"
	      "c.example CNAME rpz-TCP-only.\n"
	      "d.example CNAME rpz-passthru.example.\n"   /* a name below: local data */
	      "e.example CNAME x.\n");
	assert_action(qn(zp, "a.example"), RPZ_PASSTHRU);
	assert_action(qn(zp, "b.example"), RPZ_DROP);
	assert_action(qn(zp, "c.example"), RPZ_TCP_ONLY);
	assert_action(qn(zp, "d.example"), RPZ_LOCAL);
	assert_action(qn(zp, "e.example"), RPZ_LOCAL);
	rpz_free(zp);
}

/* --------------------------------------------------------------------------------------------
 * QNAME matching
 * ------------------------------------------------------------------------------------------ */

static void test_qname_exact_and_wildcard(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "w.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "*.x.example CNAME .\n"
	      "exact.example CNAME *.\n");
	assert_null(qn(zp, "x.example"));                 /* not the name itself */
	assert_action(qn(zp, "a.x.example"), RPZ_NXDOMAIN);
	assert_action(qn(zp, "a.b.x.example"), RPZ_NXDOMAIN);
	assert_null(qn(zp, "ax.example"));
	assert_null(qn(zp, "x.example.com"));
	assert_action(qn(zp, "exact.example"), RPZ_NODATA);
	assert_null(qn(zp, "a.exact.example"));           /* an exact trigger has no subtree */
	assert_null(qn(zp, "example"));
	rpz_free(zp);
}

static void test_qname_case_insensitive(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "c.rpz",
	      "$ORIGIN RPZ.Local.\n"
	      "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
	      "ADS.Example.NET CNAME .\n"
	      "*.Tracker.EXAMPLE CNAME *.\n"
	      "mixed.example.rpz.LOCAL. CNAME rpz-drop.\n");
	/* the query side is lower-case wire (as the server passes it) */
	assert_action(qn(zp, "ads.example.net"), RPZ_NXDOMAIN);
	assert_string_equal(qn(zp, "ads.example.net")->text, "rpz c.rpz: ads.example.net");
	assert_action(qn(zp, "a.tracker.example"), RPZ_NODATA);
	assert_action(qn(zp, "mixed.example"), RPZ_DROP);
	rpz_free(zp);
}

/* The owner is inside the origin only when the names are equal but for the case of letters.
 * "evil.abc.bbbbbbbbbbbbbbbbb.ccccccccccccc." ends in \x03abc\x11b..\x0dc.. and the origin
 * "abc1bbbbbbbbbbbbbbbbb-ccccccccccccc." is \x23abc1b..-c..: byte for byte equal under |0x20
 * (3 and 35, 0x11 and '1', 0x0d and '-'), so a compare that folds length octets (or any
 * non-letter) made "evil" a trigger of a zone it is not in. */
static void test_origin_compare_keeps_length_octets(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "o.rpz",
	      "$ORIGIN abc1bbbbbbbbbbbbbbbbb-ccccccccccccc.\n"
	      SOA_LINE
	      "evil.abc.bbbbbbbbbbbbbbbbb.ccccccccccccc. CNAME .\n"
	      "good CNAME .\n"
	      "Upper.ABC1bbbbbbbbbbbbbbbbb-CCCCCCCCCCCCC. CNAME rpz-drop.\n");
	assert_null(qn(zp, "evil"));
	assert_null(qn(zp, "evil.abc.bbbbbbbbbbbbbbbbb.ccccccccccccc"));
	assert_action(qn(zp, "good"), RPZ_NXDOMAIN);
	assert_action(qn(zp, "upper"), RPZ_DROP); /* letters still fold */
	assert_int_equal(zp->nrules, 2);
	rpz_free(zp);

	/* a label byte 0x11 is no '1' (0x11 | 0x20 == '1') */
	load1(state, zp, "p.rpz",
	      "$ORIGIN rpz1.local.\n"
	      SOA_LINE
	      "bad.rpz\\017.local. CNAME .\n"
	      "ok CNAME .\n");
	assert_null(qn(zp, "bad"));
	assert_action(qn(zp, "ok"), RPZ_NXDOMAIN);
	assert_int_equal(zp->nrules, 1);
	rpz_free(zp);
}

static void test_longest_wildcard_wins(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "l.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "*.example CNAME .\n"
	      "*.b.example CNAME *.\n"
	      "*.c.b.example CNAME rpz-passthru.\n"
	      "exact.c.b.example CNAME rpz-drop.\n");
	assert_action(qn(zp, "a.example"), RPZ_NXDOMAIN);
	assert_action(qn(zp, "b.example"), RPZ_NXDOMAIN);   /* *.example, not *.b.example */
	assert_action(qn(zp, "a.b.example"), RPZ_NODATA);
	assert_action(qn(zp, "c.b.example"), RPZ_NODATA);
	assert_action(qn(zp, "a.c.b.example"), RPZ_PASSTHRU);
	assert_action(qn(zp, "zp->y.c.b.example"), RPZ_PASSTHRU);
	assert_action(qn(zp, "exact.c.b.example"), RPZ_DROP); /* exact before any wildcard */
	assert_null(qn(zp, "example"));
	rpz_free(zp);
}

/* --------------------------------------------------------------------------------------------
 * rpz-ip, rpz-client-ip, skipped triggers
 * ------------------------------------------------------------------------------------------ */

static void test_rpz_ip_v4(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "ip.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "32.1.2.0.192.rpz-ip CNAME .\n"
	      "24.0.2.0.192.rpz-ip CNAME *.\n"
	      "16.0.0.0.10.rpz-ip CNAME rpz-drop.\n"
	      "8.0.0.0.10.rpz-ip CNAME rpz-tcp-only.\n");
	assert_int_equal(zp->nips, 4);
	assert_action(answer1(zp, "192.0.2.1"), RPZ_NXDOMAIN);  /* /32 before /24 */
	assert_string_equal(answer1(zp, "192.0.2.1")->text, "rpz ip.rpz: 32.1.2.0.192.rpz-ip");
	assert_action(answer1(zp, "192.0.2.2"), RPZ_NODATA);
	assert_action(answer1(zp, "192.0.2.255"), RPZ_NODATA);
	assert_null(answer1(zp, "192.0.3.1"));
	assert_action(answer1(zp, "10.0.5.5"), RPZ_DROP);       /* /16 before /8 */
	assert_action(answer1(zp, "10.1.5.5"), RPZ_TCP_ONLY);
	assert_null(answer1(zp, "11.0.0.1"));
	/* an IPv6 address with the same low bytes is no IPv4 match */
	assert_null(answer1(zp, "::c000:201"));
	/* no client-ip triggers: the rpz-ip ones are for answers only */
	assert_null(client(zp, "192.0.2.1"));
	/* any address of the answer */
	{
		const char *addrs[] = { "198.51.100.1", "2001:db8::5", "192.0.2.77" };
		struct label *l = mklabel(addrs, 3);
		assert_action(rpz_match_answer(zp, l), RPZ_NODATA);
		l->naddrs = 2;
		assert_null(rpz_match_answer(zp, l));
		l->naddrs = 0;
		assert_null(rpz_match_answer(zp, l));
		free(l);
	}
	assert_null(rpz_match_answer(zp, NULL));
	/* the QNAME sets do not see address triggers */
	assert_null(qn(zp, "32.1.2.0.192.rpz-ip"));
	rpz_free(zp);
}

static void test_rpz_ip_v6(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "ip6.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "48.zz.1.db8.2001.rpz-ip CNAME .\n"
	      "128.1.zz.db8.2001.rpz-ip CNAME *.\n"
	      "128.1.zz.rpz-ip CNAME rpz-drop.\n");
	assert_action(answer1(zp, "2001:db8:1::1"), RPZ_NXDOMAIN);
	assert_action(answer1(zp, "2001:db8:1:ffff::1"), RPZ_NXDOMAIN);
	assert_null(answer1(zp, "2001:db8:2::1"));
	assert_action(answer1(zp, "2001:db8::1"), RPZ_NODATA);    /* 128.1.zz.db8.2001 */
	assert_null(answer1(zp, "2001:db8::2"));
	assert_action(answer1(zp, "::1"), RPZ_DROP);               /* 128.1.zz */
	assert_null(answer1(zp, "127.0.0.1"));
	rpz_free(zp);
}

static void test_rpz_ip_via_label_answer(void **state)
{
	struct rpz *zp = Z(state);
	struct dnsb b = { .len = 0 };
	const uint8_t aaaa[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 };
	uint8_t qname[64];
	size_t qlen = name_to_wire("www.example.com", qname), qend;
	struct label *l;
	struct groups *g = groups_empty();

	assert_non_null(g);
	load1(state, zp, "la.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "48.zz.1.db8.2001.rpz-ip CNAME .\n"
	      "32.9.2.0.192.rpz-ip CNAME *.\n");
	/* an answer with an A and an AAAA, labelled without GeoIP data */
	b_header(&b, 1, 0x8180, 1, 2, 0, 0);
	b_question(&b, "www.example.com", 1, 1);
	qend = b.len;
	b_a(&b, 60, 198, 51, 100, 1);
	b_rr_ptr(&b, 12, 28, 1, 60, aaaa, 16);
	l = label_answer(b.buf, b.len, qend, 2, qname, qlen, NULL, g);
	assert_non_null(l);
	assert_int_equal(l->naddrs, 2);
	assert_action(rpz_match_answer(zp, l), RPZ_NXDOMAIN);
	label_unref(l);

	b_header(&b, 1, 0x8180, 1, 1, 0, 0);
	b_question(&b, "www.example.com", 1, 1);
	qend = b.len;
	b_a(&b, 60, 192, 0, 2, 9);
	l = label_answer(b.buf, b.len, qend, 1, qname, qlen, NULL, g);
	assert_non_null(l);
	assert_action(rpz_match_answer(zp, l), RPZ_NODATA);
	label_unref(l);

	b_header(&b, 1, 0x8180, 1, 1, 0, 0);
	b_question(&b, "www.example.com", 1, 1);
	qend = b.len;
	b_a(&b, 60, 192, 0, 2, 10);
	l = label_answer(b.buf, b.len, qend, 1, qname, qlen, NULL, g);
	assert_non_null(l);
	assert_null(rpz_match_answer(zp, l));
	label_unref(l);
	groups_unref(g);
	rpz_free(zp);
}

static void test_rpz_client_ip(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "cl.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "32.7.0.0.127.rpz-client-ip CNAME rpz-drop.\n"
	      "24.0.0.0.127.rpz-client-ip CNAME .\n"
	      "64.zz.db8.2001.rpz-client-ip CNAME *.\n");
	assert_int_equal(zp->nclients, 3);
	assert_int_equal(zp->nips, 0);
	assert_action(client(zp, "127.0.0.7"), RPZ_DROP);
	assert_string_equal(client(zp, "127.0.0.7")->text, "rpz cl.rpz: 32.7.0.0.127.rpz-client-ip");
	assert_action(client(zp, "127.0.0.1"), RPZ_NXDOMAIN);
	assert_null(client(zp, "127.0.1.1"));
	assert_action(client(zp, "2001:db8::53"), RPZ_NODATA);
	assert_null(client(zp, "2001:db8:0:1::53"));
	assert_null(answer1(zp, "127.0.0.7")); /* client triggers are not answer triggers */
	assert_null(qn(zp, "32.7.0.0.127.rpz-client-ip"));
	rpz_free(zp);
}

static void test_ns_triggers_skipped(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "ns.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "ns1.evil.example.rpz-nsdname CNAME .\n"
	      "*.evil.example.rpz-nsdname CNAME .\n"
	      "32.1.2.0.192.rpz-nsip CNAME .\n"
	      "128.1.zz.rpz-nsip CNAME .\n"
	      "kept.example CNAME .\n");
	assert_int_equal(zp->nrules, 1);
	assert_int_equal(zp->nips, 0);
	assert_int_equal(zp->nclients, 0);
	assert_null(qn(zp, "ns1.evil.example.rpz-nsdname"));
	assert_null(qn(zp, "ns1.evil.example"));
	assert_null(answer1(zp, "192.0.2.1"));
	assert_action(qn(zp, "kept.example"), RPZ_NXDOMAIN);
	rpz_free(zp);
}

/* --------------------------------------------------------------------------------------------
 * precedence
 * ------------------------------------------------------------------------------------------ */

static void test_first_file_wins(void **state)
{
	struct rpz *zp = Z(state);
	char err[512] = "";
	const char *a = zone(state, "first.rpz",
			     "$ORIGIN rpz.local.\n" SOA_LINE
			     "same.example CNAME .\n"
			     "*.wild.example CNAME .\n"
			     "local.example A 192.0.2.1\n"
			     "32.1.2.0.192.rpz-ip CNAME .\n"
			     "32.7.0.0.127.rpz-client-ip CNAME .\n");
	const char *b = zone(state, "second.rpz",
			     "$ORIGIN other.rpz.\n" SOA_LINE
			     "same.example CNAME rpz-drop.\n"
			     "*.wild.example CNAME *.\n"
			     "local.example A 192.0.2.2\n"   /* no accumulation across files */
			     "only2.example CNAME rpz-tcp-only.\n"
			     "32.1.2.0.192.rpz-ip CNAME rpz-drop.\n"
			     "32.7.0.0.127.rpz-client-ip CNAME rpz-drop.\n");

	memset(zp, 0, sizeof(*zp));
	assert_int_equal(rpz_load(zp, a, err, sizeof(err)), 0);
	assert_int_equal(rpz_load(zp, b, err, sizeof(err)), 0);
	rpz_finish(zp);
	assert_int_equal(zp->nzones, 2);
	assert_action(qn(zp, "same.example"), RPZ_NXDOMAIN);
	assert_string_equal(qn(zp, "same.example")->text, "rpz first.rpz: same.example");
	assert_action(qn(zp, "a.wild.example"), RPZ_NXDOMAIN);
	assert_action(qn(zp, "local.example"), RPZ_LOCAL);
	assert_int_equal(qn(zp, "local.example")->nrrs, 1);
	assert_memory_equal(qn(zp, "local.example")->rrs[0].rdata, "\xc0\x00\x02\x01", 4);
	assert_action(qn(zp, "only2.example"), RPZ_TCP_ONLY);
	assert_string_equal(qn(zp, "only2.example")->text, "rpz second.rpz: only2.example");
	assert_action(answer1(zp, "192.0.2.1"), RPZ_NXDOMAIN);
	assert_string_equal(answer1(zp, "192.0.2.1")->text, "rpz first.rpz: 32.1.2.0.192.rpz-ip");
	assert_action(client(zp, "127.0.0.7"), RPZ_NXDOMAIN);
	rpz_free(zp);

	/* the other order */
	memset(zp, 0, sizeof(*zp));
	assert_int_equal(rpz_load(zp, b, err, sizeof(err)), 0);
	assert_int_equal(rpz_load(zp, a, err, sizeof(err)), 0);
	rpz_finish(zp);
	assert_action(qn(zp, "same.example"), RPZ_DROP);
	assert_action(qn(zp, "a.wild.example"), RPZ_NODATA);
	assert_memory_equal(qn(zp, "local.example")->rrs[0].rdata, "\xc0\x00\x02\x02", 4);
	assert_action(answer1(zp, "192.0.2.1"), RPZ_DROP);
	assert_action(client(zp, "127.0.0.7"), RPZ_DROP);
	rpz_free(zp);
}

/* The first zone with any match wins, whether its trigger is exact or a wildcard. */
static void test_earlier_wildcard_beats_later_exact_name(void **state)
{
	struct rpz z;
	char err[512];
	const char *head = "$TTL 60\n@ SOA localhost. h.localhost. 1 3600 600 86400 60\n@ NS localhost.\n";
	char a[512], b[512];

	snprintf(a, sizeof(a), "%s*.example.net CNAME *.\n", head);
	snprintf(b, sizeof(b), "%sads.example.net CNAME .\nother.example.org CNAME .\n", head);
	memset(&z, 0, sizeof(z));
	assert_int_equal(rpz_load(&z, zone(state, "first.rpz", a), err, sizeof(err)), 0);
	assert_int_equal(rpz_load(&z, zone(state, "second.rpz", b), err, sizeof(err)), 0);
	rpz_finish(&z);
	assert_int_equal(qn(&z, "ads.example.net")->action, RPZ_NODATA); /* first zone's wildcard */
	assert_int_equal(qn(&z, "other.example.org")->action, RPZ_NXDOMAIN);
	rpz_free(&z);
	/* the other order: now the exact name of the first zone wins */
	memset(&z, 0, sizeof(z));
	assert_int_equal(rpz_load(&z, zone(state, "first2.rpz", b), err, sizeof(err)), 0);
	assert_int_equal(rpz_load(&z, zone(state, "second2.rpz", a), err, sizeof(err)), 0);
	rpz_finish(&z);
	assert_int_equal(qn(&z, "ads.example.net")->action, RPZ_NXDOMAIN);
	assert_int_equal(qn(&z, "x.example.net")->action, RPZ_NODATA);
	rpz_free(&z);
}

static void test_first_record_wins_within_a_file(void **state)
{
	struct rpz *zp = Z(state);

	load1(state, zp, "dup.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "x.example CNAME .\n"
	      "x.example A 192.0.2.1\n"
	      "y.example A 192.0.2.1\n"
	      "y.example CNAME *.\n"
	      "y.example AAAA 2001:db8::1\n");
	assert_action(qn(zp, "x.example"), RPZ_NXDOMAIN);
	assert_int_equal(qn(zp, "x.example")->nrrs, 0);
	assert_action(qn(zp, "y.example"), RPZ_LOCAL);
	assert_int_equal(qn(zp, "y.example")->nrrs, 2); /* A and AAAA; the CNAME *. is no data */
	rpz_free(zp);
}

/* Local data on an rpz-ip owner: A + AAAA should be one rule as for a QNAME trigger. */
static void test_rpz_ip_local_data_accumulates(void **state)
{
	struct rpz *zp = Z(state);
	const struct rpz_rule *r;

	load1(state, zp, "ipl.rpz",
	      "$ORIGIN rpz.local.\n" SOA_LINE
	      "32.1.2.0.192.rpz-ip A 198.51.100.1\n"
	      "32.1.2.0.192.rpz-ip AAAA 2001:db8::1\n");
	r = answer1(zp, "192.0.2.1");
	assert_action(r, RPZ_LOCAL);
	assert_int_equal(r->nrrs, 2);
	rpz_free(zp);
}

/* --------------------------------------------------------------------------------------------
 * errors
 * ------------------------------------------------------------------------------------------ */

static void test_missing_file(void **state)
{
	struct tmpd *t = *state;
	struct rpz *zp = Z(state);
	char path[300], err[512] = "";

	snprintf(path, sizeof(path), "%s/nope.rpz", t->dir);
	memset(zp, 0, sizeof(*zp));
	assert_int_equal(rpz_load(zp, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	rpz_free(zp);
}

/* rpz = . (a directory) opens but never reads to the end: it is an error, not an endless loop
 * (the alarm kills a load that spins, as it did). */
static void test_directory_is_an_error(void **state)
{
	struct tmpd *t = *state;
	struct rpz *zp = Z(state);
	char err[512] = "";

	memset(zp, 0, sizeof(*zp));
	alarm(10);
	assert_int_equal(rpz_load(zp, t->dir, err, sizeof(err)), -1);
	alarm(0);
	assert_non_null(strstr(err, t->dir));
	assert_non_null(strstr(err, "directory"));
	rpz_free(zp);
}

static void test_syntax_error_line(void **state)
{
	char err[512], want[300];
	const char *text = "$ORIGIN rpz.local.\n"   /* 1 */
			   "$TTL 60\n"              /* 2 */
			   SOA_LINE                 /* 3, 4 */
			   "ok.example CNAME .\n"   /* 5 */
			   "\n"                     /* 6 */
			   "bad.example A 1.2.3\n"  /* 7 */
			   "after.example CNAME .\n";
	struct tmpd *t = *state;

	load_fails(state, "syn.rpz", text, err, sizeof(err));
	snprintf(want, sizeof(want), "%s/syn.rpz:7:", t->dir);
	if (strncmp(err, want, strlen(want)))
		fail_msg("err '%s' does not start with '%s'", err, want);

	load_fails(state, "syn2.rpz", "$ORIGIN rpz.local.\n" SOA_LINE "x.example BOGUSTYPE foo\n", err,
		   sizeof(err));
	snprintf(want, sizeof(want), "%s/syn2.rpz:4:", t->dir);
	if (strncmp(err, want, strlen(want)))
		fail_msg("err '%s' does not start with '%s'", err, want);
}

static void test_no_soa(void **state)
{
	char err[512];
	struct tmpd *t = *state;
	char want[300];

	load_fails(state, "nosoa.rpz", "$ORIGIN rpz.local.\n$TTL 60\nads.example CNAME .\n", err,
		   sizeof(err));
	snprintf(want, sizeof(want), "%s/nosoa.rpz", t->dir);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "SOA"));
	load_fails(state, "empty.rpz", "", err, sizeof(err));
	assert_non_null(strstr(err, "SOA"));
}

static void test_bad_ip_triggers(void **state)
{
	static const char *const bad[] = {
		"33.1.2.3.4.rpz-ip",          /* prefix beyond 32 */
		"32.1.2.300.4.rpz-ip",        /* an octet beyond 255 */
		"32.1.2.3.rpz-ip",            /* three octets */
		"129.1.zz.db8.2001.rpz-ip",   /* prefix beyond 128 */
		"48.zz.1.zz.2001.rpz-ip",     /* two zz */
		"48.zz.1.db8.gggg.rpz-ip",    /* not hex */
		"x.1.2.0.192.rpz-client-ip",  /* no prefix length */
		"rpz-ip",                     /* nothing at all */
	};
	char text[512], err[512], name[32];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "$ORIGIN rpz.local.\n" SOA_LINE "ok.example CNAME .\n%s CNAME .\n",
			 bad[i]);
		snprintf(name, sizeof(name), "bad%zu.rpz", i);
		{
			struct rpz *zp = Z(state);
			memset(zp, 0, sizeof(*zp));
			err[0] = 0;
			int rc = rpz_load(zp, zone(state, name, text), err, sizeof(err));
			rpz_free(zp);
			if (rc != -1)
				fail_msg("trigger %s accepted", bad[i]);
		}
		/* the message names the trigger */
		char trig[64];
		snprintf(trig, sizeof(trig), "%s", bad[i]);
		if (!strstr(err, trig))
			fail_msg("err '%s' does not name '%s'", err, trig);
		if (!strstr(err, name))
			fail_msg("err '%s' does not name the file %s", err, name);
		/* the temp files are removed by the teardown; avoid running out of slots */
		{
			struct tmpd *t = *state;
			unlink(t->paths[--t->n]);
		}
	}
}

static void test_error_after_rules_no_leak(void **state)
{
	struct rpz *zp = Z(state);
	char err[512];

	/* a good zone, then a bad one into the same rpz: the caller frees everything */
	memset(zp, 0, sizeof(*zp));
	assert_int_equal(rpz_load(zp, zone(state, "g.rpz", "$ORIGIN rpz.local.\n" SOA_LINE
					   "a.example A 192.0.2.1\n"
					   "a.example TXT \"x\"\n"
					   "32.1.2.0.192.rpz-ip CNAME .\n"),
				  err, sizeof(err)), 0);
	assert_int_equal(rpz_load(zp, zone(state, "b.rpz", "$ORIGIN rpz.local.\n" SOA_LINE
					   "b.example A 192.0.2.1\n"
					   "c.example A 1.2.3\n"),
				  err, sizeof(err)), -1);
	assert_int_equal(rpz_load(zp, zone(state, "c.rpz", "$ORIGIN rpz.local.\n" SOA_LINE
					   "d.example A 192.0.2.1\n"
					   "33.1.2.0.192.rpz-ip CNAME .\n"),
				  err, sizeof(err)), -1);
	rpz_free(zp);
	rpz_free(zp); /* twice is harmless: rpz_free zeroes */
}

static void test_empty_rpz_matches_nothing(void **state)
{
	struct rpz *zp = Z(state);

	memset(zp, 0, sizeof(*zp));
	rpz_finish(zp);
	assert_null(qn(zp, "ads.example.net"));
	assert_null(client(zp, "127.0.0.1"));
	assert_null(answer1(zp, "192.0.2.1"));
	rpz_free(zp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_without_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_with_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_origin_is_the_soa_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_targets_case_insensitive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qname_exact_and_wildcard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qname_case_insensitive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_origin_compare_keeps_length_octets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longest_wildcard_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz_ip_v4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz_ip_v6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz_ip_via_label_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz_client_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ns_triggers_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_file_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_earlier_wildcard_beats_later_exact_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_record_wins_within_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz_ip_local_data_accumulates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_error_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_soa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ip_triggers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_after_rules_no_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_rpz_matches_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
