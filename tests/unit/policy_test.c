/* policy_test.c - policy decisions and the answers jurisdns writes for them (synth.c):
 * sinkhole, NXDOMAIN/NODATA with SOA, REFUSED, EDE, and strip over a real labelled answer. */
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
#include "cache.h"
#include "dnsbuild.h"
#include "label.h"
#include "policy.h"
#include "synth.h"
#include "wire.h"

static const char *mmdb_path(void)
{
	const char *t = getenv("TEST_MMDB");
	return t ? t : "tests/data/test.mmdb";
}

/* A client query: name/type, with or without EDNS. */
static void make_query(struct dns_query *q, const char *name, uint16_t type, bool edns)
{
	struct dnsb b = { .len = 0 };

	b_header(&b, 0x4242, 0x0100 | 0x0020 /* RD, AD */, 1, 0, 0, edns ? 1 : 0);
	b_question(&b, name, type, 1);
	if (edns)
		b_opt(&b, 1232, 0, 0, 0x8000, NULL, 0);
	assert_int_equal(wire_parse_query(b.buf, b.len, q), RCODE_NOERROR);
}

static struct groups *prc_groups(void)
{
	char dir[] = "/tmp/jd-pol-XXXXXX", path[256], err[256];
	struct groups *g;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/j.conf", dir);
	f = fopen(path, "w");
	fputs("[jurisdiction PRC]\ncountries = CN HK MO\nasns = 4134 45102\ndomains = tuyaeu.com\n", f);
	fclose(f);
	g = groups_load(path, err, sizeof(err));
	assert_non_null(g);
	unlink(path);
	rmdir(dir);
	return g;
}

static void policy_block_prc(struct policy *p, enum paction act, const char *spec)
{
	char err[128];

	policy_init(p);
	p->default_mode = PMODE_BLOCK;
	p->action = act;
	assert_int_equal(policy_parse_block(spec, NULL, p->block, &p->nblock, err, sizeof(err)), 0);
	policy_finish(p);
}

static const uint8_t *find_ede(const uint8_t *msg, size_t len, uint16_t *code, char *text)
{
	/* the OPT is the last record; its options follow its fixed part */
	for (size_t o = DNS_HDR; o + 11 <= len; o++)
		if (msg[o] == 0 && g16(msg + o + 1) == 41 && o + 11 + g16(msg + o + 9) == len) {
			const uint8_t *opt = msg + o + 11;
			if (g16(msg + o + 9) >= 6 && g16(opt) == 15) {
				*code = g16(opt + 4);
				memcpy(text, opt + 6, g16(opt + 2) - 2);
				text[g16(opt + 2) - 2] = 0;
				return opt;
			}
			return NULL;
		}
	return NULL;
}

static void test_sinkhole_a_with_ede_filtered(void **state)
{
	struct dns_query q;
	struct policy p;
	struct verdict v = { .mode = PMODE_BLOCK, .action = PACT_SINKHOLE, .ede = EDE_FILTERED };
	uint8_t out[SYNTH_MAX], ans[16] = { 0 };
	char text[128];
	uint16_t code;

	policy_init(&p);
	p.ttl = 42;
	inet_pton(AF_INET, "192.0.2.7", p.sink_a);
	snprintf(v.text, sizeof(v.text), "filtered by opt-in: PRC hosted:CN");
	make_query(&q, "WwW.Example.CN", TYPE_A, true);
	size_t n = synth_answer(&q, &p, &v, 1232, out);
	struct dns_answer a;
	uint16_t ttl_off[8];
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, TYPE_A, 1, &a, ttl_off, 8), 0);
	assert_int_equal(g16(out), 0x4242);
	assert_true(out[2] & 0x80);                   /* QR */
	assert_true(out[2] & 0x01);                   /* RD copied */
	assert_false(out[3] & 0x20);                  /* AD clear although the client set it */
	assert_false(out[2] & 0x04);                  /* AA clear */
	assert_int_equal(a.rcode, RCODE_NOERROR);
	assert_int_equal(a.ancount, 1);
	assert_int_equal(g32(out + ttl_off[0]), 42);
	static const uint8_t sink[4] = { 192, 0, 2, 7 };
	assert_memory_equal(out + ttl_off[0] + 6, sink, 4);
	assert_memory_equal(out + DNS_HDR, q.qname, q.qname_len); /* the client's case */
	assert_non_null(find_ede(out, n, &code, text));
	assert_int_equal(code, 17);
	assert_string_equal(text, "filtered by opt-in: PRC hosted:CN");
	(void)ans;
	policy_free(&p);
}

static void test_sinkhole_aaaa_and_other_types(void **state)
{
	struct dns_query q;
	struct policy p;
	struct verdict v = { .action = PACT_SINKHOLE, .ede = EDE_BLOCKED, .text = "x" };
	uint8_t out[SYNTH_MAX];
	struct dns_answer a;
	uint16_t ttl_off[8];

	policy_init(&p);
	make_query(&q, "v6.example", TYPE_AAAA, false);
	size_t n = synth_answer(&q, &p, &v, 1232, out);
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, TYPE_AAAA, 1, &a, ttl_off, 8), 0);
	assert_int_equal(a.ancount, 1);
	assert_int_equal(a.arcount, 0);               /* no EDNS from the client: no OPT */
	static const uint8_t zero[16];
	assert_memory_equal(out + ttl_off[0] + 6, zero, 16); /* :: */
	make_query(&q, "txt.example", 16, false);
	n = synth_answer(&q, &p, &v, 1232, out);
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, 16, 1, &a, ttl_off, 8), 0);
	assert_int_equal(a.ancount, 0);               /* NODATA for a type without a sinkhole */
	assert_true(a.has_soa);
	policy_free(&p);
}

static void test_nxdomain_and_nodata_carry_the_soa(void **state)
{
	struct dns_query q;
	struct policy p;
	struct verdict v = { .action = PACT_NXDOMAIN, .ede = EDE_BLOCKED, .text = "blocked" };
	uint8_t out[SYNTH_MAX];
	struct dns_answer a;
	uint16_t ttl_off[8];

	policy_init(&p);
	p.ttl = 30;
	make_query(&q, "cam.example", TYPE_A, true);
	size_t n = synth_answer(&q, &p, &v, 1232, out);
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, TYPE_A, 1, &a, ttl_off, 8), 0);
	assert_int_equal(a.rcode, RCODE_NXDOMAIN);
	assert_int_equal(a.ancount, 0);
	assert_int_equal(a.nscount, 1);
	assert_true(a.has_soa);
	assert_int_equal(a.soa_ttl_min, 30);          /* TTL and MINIMUM are the policy ttl */
	v.action = PACT_NODATA;
	n = synth_answer(&q, &p, &v, 1232, out);
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, TYPE_A, 1, &a, ttl_off, 8), 0);
	assert_int_equal(a.rcode, RCODE_NOERROR);
	assert_true(a.has_soa);
	v.action = PACT_REFUSE;
	n = synth_answer(&q, &p, &v, 1232, out);
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, TYPE_A, 1, &a, ttl_off, 8), 0);
	assert_int_equal(a.rcode, RCODE_REFUSED);
	assert_int_equal(a.nscount, 0);
	policy_free(&p);
}

static void test_deny_before_and_allow_wins(void **state)
{
	struct policy p;
	struct verdict v;
	uint8_t name[256];
	int len;

	policy_init(&p);
	p.deny = suffix_set_new();
	p.allow = suffix_set_new();
	char err[128];
	assert_int_equal(policy_add_domains(p.deny, "example.org", NULL, err, sizeof(err)), 0);
	assert_int_equal(policy_add_domains(p.allow, "ok.example.org", NULL, err, sizeof(err)), 0);
	assert_int_equal(policy_add_domains(p.deny, "not a domain!", NULL, err, sizeof(err)), -1);
	len = domain_to_wire("a.b.example.org", name);
	assert_true(policy_before(&p, NULL, NULL, NULL, name, (size_t)len, &v));
	assert_int_equal(v.ede, EDE_BLOCKED);
	assert_string_equal(v.text, "blocked by operator rule: deny example.org");
	len = domain_to_wire("x.ok.example.org", name);
	assert_false(policy_before(&p, NULL, NULL, NULL, name, (size_t)len, &v));
	len = domain_to_wire("example.com", name);
	assert_false(policy_before(&p, NULL, NULL, NULL, name, (size_t)len, &v));
	policy_free(&p);
}

static void test_client_rules_longest_prefix_and_mac(void **state)
{
	struct policy p;
	struct client_rule r;
	char err[128];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	bool trusted;
	const uint8_t mac[6] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

	policy_init(&p);
	memset(&r, 0, sizeof(r));
	r.mode = PMODE_LOG;
	r.action = r.nblock = -1;
	assert_int_equal(cidr_parse("192.168.1.0/24", &r.net, err, sizeof(err)), 0);
	snprintf(r.name, sizeof(r.name), "lan");
	policy_add_client(&p, &r);
	r.mode = PMODE_BLOCK;
	assert_int_equal(cidr_parse("192.168.1.23", &r.net, err, sizeof(err)), 0);
	snprintf(r.name, sizeof(r.name), "camera");
	policy_add_client(&p, &r);
	memset(&r.net, 0, sizeof(r.net));
	r.by_mac = true;
	memcpy(r.mac, mac, 6);
	snprintf(r.name, sizeof(r.name), "phone");
	policy_add_client(&p, &r);
	struct cidr fw;
	cidr_parse("192.168.1.1", &fw, err, sizeof(err));
	policy_add_trusted(&p, &fw);
	policy_finish(&p);

	inet_pton(AF_INET, "192.168.1.23", &sin.sin_addr);
	assert_string_equal(policy_client(&p, NULL, (struct sockaddr *)&sin, NULL, NULL)->name, "camera");
	inet_pton(AF_INET, "192.168.1.24", &sin.sin_addr);
	assert_string_equal(policy_client(&p, NULL, (struct sockaddr *)&sin, NULL, NULL)->name, "lan");
	/* the MAC counts only from the trusted forwarder */
	assert_string_equal(policy_client(&p, NULL, (struct sockaddr *)&sin, mac, &trusted)->name, "lan");
	assert_false(trusted);
	inet_pton(AF_INET, "192.168.1.1", &sin.sin_addr);
	assert_string_equal(policy_client(&p, NULL, (struct sockaddr *)&sin, mac, &trusted)->name, "phone");
	assert_true(trusted);
	inet_pton(AF_INET, "10.0.0.1", &sin.sin_addr);
	assert_null(policy_client(&p, NULL, (struct sockaddr *)&sin, NULL, NULL));
	uint8_t m[6];
	assert_int_equal(policy_parse_mac("AA:bb:cc:dd:ee:ff", m), 0);
	assert_int_equal(policy_parse_mac("aa:bb:cc:dd:ee", m), -1);
	assert_int_equal(policy_parse_mac("aa:bb:cc:dd:ee:fg", m), -1);
	policy_free(&p);
}

/* A cached answer: q CNAME t, t A 192.0.2.1 (CN AS4134), t A 198.51.100.130 (US), labelled. */
static struct cache_entry *labelled_entry(struct groups *g, struct geo *geo, struct dns_query *q)
{
	static struct dnsb b;
	struct dns_answer a;
	uint16_t ttl_off[16];
	uint8_t key[300];

	b.len = 0;
	b_header(&b, 1, 0x8180, 1, 3, 0, 0);
	b_question(&b, "mix.example", TYPE_A, 1);
	size_t tgt = b.len + 12; /* where the CNAME's target name starts */
	b_rr_ptr(&b, 12, TYPE_CNAME, 1, 300, "\x01t\x07" "example\x00", 11);
	b_rr_ptr(&b, (uint16_t)tgt, TYPE_A, 1, 300, "\xc0\x00\x02\x01", 4);
	b_rr_ptr(&b, (uint16_t)tgt, TYPE_A, 1, 300, "\xc6\x33\x64\x82", 4);
	make_query(q, "MIX.example", TYPE_A, true);
	size_t kl = wire_query_key(q, key);
	assert_int_equal(wire_parse_answer(b.buf, b.len, key, q->qname_len, TYPE_A, 1, &a, ttl_off, 16), 0);
	struct cache_entry *e = cache_entry_new(key, kl, 1, b.buf, b.len, &a, ttl_off, 300, 0, 86400, 0);
	assert_non_null(e);
	cache_entry_set_label(e, label_answer(b.buf, b.len, a.question_end, a.ancount, key,
					      q->qname_len, geo, g));
	assert_true(label_has_groups(e->label));
	return e;
}

static void test_strip_removes_only_blocked_addresses(void **state)
{
	struct groups *g = prc_groups();
	struct geo_paths gp;
	char err[256];
	geo_paths_default(&gp);
	struct geo *geo = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err));
	assert_non_null(geo);
	struct dns_query q;
	struct cache_entry *e = labelled_entry(g, geo, &q);
	struct policy p;
	struct verdict v;
	uint8_t name[256], out[4096];
	int nl = domain_to_wire("mix.example", name);

	policy_block_prc(&p, PACT_STRIP, "PRC:operator");
	assert_true(policy_after(&p, NULL, NULL, NULL, e->label, name, (size_t)nl, &v));
	size_t n = synth_strip(e, &q, &p, &v, 10500, 1232, out, sizeof(out));
	assert_true(n > 0);
	struct dns_answer a;
	uint16_t ttl_off[16];
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, TYPE_A, 1, &a, ttl_off, 16), 0);
	assert_int_equal(a.ancount, 2);               /* the CNAME and the US address */
	assert_false(out[3] & 0x20);                  /* AD clear */
	assert_int_equal(g32(out + ttl_off[0]), 290); /* aged by 10 s */
	assert_non_null(memmem(out, n, "\xc6\x33\x64\x82", 4));
	assert_null(memmem(out, n, "\xc0\x00\x02\x01", 4));
	uint16_t code;
	char text[128];
	assert_non_null(find_ede(out, n, &code, text));
	assert_int_equal(code, 17);
	/* too small a buffer: 0, the caller sets TC */
	assert_int_equal(synth_strip(e, &q, &p, &v, 0, 1232, out, 60), 0);
	policy_free(&p);

	/* blocking by country: only the CN address goes, as with the operator */
	cache_entry_free(e);
	e = labelled_entry(g, geo, &q);
	policy_block_prc(&p, PACT_STRIP, "PRC:hosted");
	assert_true(policy_after(&p, NULL, NULL, NULL, e->label, name, (size_t)nl, &v));
	n = synth_strip(e, &q, &p, &v, 0, 1232, out, sizeof(out));
	assert_int_equal(wire_parse_answer(out, n, q.qname, q.qname_len, TYPE_A, 1, &a, ttl_off, 16), 0);
	assert_int_equal(a.ancount, 2);               /* hosted:CN blocks only the CN address */
	policy_free(&p);
	cache_entry_free(e);
	geo_unref(geo);
	groups_unref(g);
}

static void test_log_mode_and_other_groups_pass(void **state)
{
	struct groups *g = prc_groups();
	struct geo_paths gp;
	char err[256];
	geo_paths_default(&gp);
	struct geo *geo = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err));
	struct dns_query q;
	struct cache_entry *e = labelled_entry(g, geo, &q);
	struct policy p;
	struct verdict v;
	uint8_t name[256];
	int nl = domain_to_wire("mix.example", name);

	policy_block_prc(&p, PACT_SINKHOLE, "RU");
	assert_false(policy_after(&p, NULL, NULL, NULL, e->label, name, (size_t)nl, &v)); /* another group */
	policy_free(&p);
	policy_block_prc(&p, PACT_SINKHOLE, "PRC");
	p.default_mode = PMODE_LOG;
	assert_false(policy_after(&p, NULL, NULL, NULL, e->label, name, (size_t)nl, &v)); /* not opted in */
	assert_int_equal(v.mode, PMODE_LOG);
	p.default_mode = PMODE_BLOCK;
	p.allow = suffix_set_new();
	assert_int_equal(policy_add_domains(p.allow, "example", NULL, err, sizeof(err)), 0);
	assert_false(policy_after(&p, NULL, NULL, NULL, e->label, name, (size_t)nl, &v)); /* allow wins */
	policy_free(&p);
	cache_entry_free(e);
	geo_unref(geo);
	groups_unref(g);
}

/* Group names are those of the groups file, in any case, stored as the file spells them; a
 * mistyped one is an error that says what was meant, never a block list that blocks nothing. */
static void test_block_groups_checked_against_the_groups_file(void **state)
{
	struct groups *g = prc_groups();
	struct block_spec b[POLICY_MAX_BLOCK];
	unsigned n = 0;
	char err[300];

	assert_int_equal(policy_parse_block("prc:hosted Prc:operator", g, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1); /* one group, however spelt */
	assert_string_equal(b[0].group, "PRC");
	assert_int_equal(b[0].kinds, (1 << LABEL_HOSTED) | (1 << LABEL_OPERATOR));
	n = 0;
	assert_int_equal(policy_parse_block("PRX", g, b, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown group 'PRX' in block (did you mean 'PRC'?)");
	assert_int_equal(policy_parse_block("China", g, b, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown group 'China' in block (groups are: PRC)");
	assert_int_equal(policy_parse_block("CN", g, b, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown group 'CN' in block ('CN' is a country; groups are: PRC)");
	assert_int_equal(policy_parse_block("PRC RU", g, b, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown group 'RU' in block ('RU' is a country; groups are: PRC)");
	assert_int_equal(policy_parse_block("prc:hostd", g, b, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown reason 'prc:hostd' in block (did you mean 'prc:hosted'?)");

	/* the same check for a client and for a default */
	struct client_rule r;
	struct policy p;
	policy_client_init(&r, "10.0.0.1", err, sizeof(err));
	assert_int_equal(policy_client_set(&r, "block", "Chna", g, err, sizeof(err)), -1);
	assert_int_equal(r.nblock, -1); /* unchanged */
	assert_int_equal(policy_client_set(&r, "block", "prc", g, err, sizeof(err)), 0);
	assert_string_equal(r.block[0].group, "PRC");
	policy_init(&p);
	assert_int_equal(policy_default_set(&p, "block", "PRX", g, err, sizeof(err)), -1);
	assert_false(p.has_block);
	assert_int_equal(policy_default_set(&p, "block", "pRc", g, err, sizeof(err)), 0);
	assert_string_equal(p.block[0].group, "PRC");
	policy_free(&p);
	groups_unref(g);
}

/* "block = prc" blocks what the groups file labels PRC. */
static void test_block_in_lower_case_blocks(void **state)
{
	struct groups *g = prc_groups();
	struct geo_paths gp;
	char err[256];
	geo_paths_default(&gp);
	struct geo *geo = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err));
	assert_non_null(geo);
	struct dns_query q;
	struct cache_entry *e = labelled_entry(g, geo, &q);
	struct policy p;
	struct verdict v;
	uint8_t name[256];
	int nl = domain_to_wire("mix.example", name);

	policy_init(&p);
	p.default_mode = PMODE_BLOCK;
	assert_int_equal(policy_parse_block("prc", g, p.block, &p.nblock, err, sizeof(err)), 0);
	policy_finish(&p);
	assert_true(policy_after(&p, NULL, NULL, NULL, e->label, name, (size_t)nl, &v));
	assert_int_equal(v.action, PACT_SINKHOLE);
	policy_free(&p);
	cache_entry_free(e);
	geo_unref(geo);
	groups_unref(g);
}

static void test_thousand_clients_each_find_their_rule(void **state)
{
	struct policy p;
	struct client_rule r;
	char err[128], ip[32];
	struct sockaddr_in sin = { .sin_family = AF_INET };

	policy_init(&p);
	memset(&r, 0, sizeof(r));
	r.action = r.nblock = -1;
	for (int i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
		assert_int_equal(cidr_parse(ip, &r.net, err, sizeof(err)), 0);
		r.mode = i % 3;
		snprintf(r.name, sizeof(r.name), "dev%d", i);
		assert_int_equal(policy_add_client(&p, &r), 0);
	}
	assert_int_equal(cidr_parse("10.0.0.0/8", &r.net, err, sizeof(err)), 0);
	snprintf(r.name, sizeof(r.name), "rest");
	policy_add_client(&p, &r);
	policy_finish(&p);
	for (int i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
		inet_pton(AF_INET, ip, &sin.sin_addr);
		const struct client_rule *c = policy_client(&p, NULL, (struct sockaddr *)&sin, NULL, NULL);
		assert_non_null(c);
		snprintf(err, sizeof(err), "dev%d", i);
		assert_string_equal(c->name, err);
	}
	inet_pton(AF_INET, "10.200.0.1", &sin.sin_addr);
	assert_string_equal(policy_client(&p, NULL, (struct sockaddr *)&sin, NULL, NULL)->name, "rest");
	policy_free(&p);
}

static void test_parse_block_and_actions(void **state)
{
	struct block_spec b[POLICY_MAX_BLOCK];
	unsigned n = 0;
	char err[128];
	enum paction a;
	enum pmode m;

	assert_int_equal(policy_parse_block("PRC:hosted, PRC:operator RU", NULL, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(b[0].group, "PRC");
	assert_int_equal(b[0].kinds, (1 << LABEL_HOSTED) | (1 << LABEL_OPERATOR));
	assert_int_equal(b[1].kinds, 7);
	assert_int_equal(policy_parse_block("PRC:nope", NULL, b, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown reason 'PRC:nope' in block (hosted, operator, domain or any)");
	assert_int_equal(policy_parse_block("PRC:hostd", NULL, b, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown reason 'PRC:hostd' in block (did you mean 'PRC:hosted'?)");
	assert_int_equal(policy_parse_action("strip", &a), 0);
	assert_int_equal(a, PACT_STRIP);
	assert_int_equal(policy_parse_action("pass", &a), -1);
	assert_int_equal(policy_parse_action("sinkhol", &a), -1);
	struct client_rule r;
	policy_client_init(&r, "10.0.0.1", err, sizeof(err));
	assert_int_equal(policy_client_set(&r, "action", "sinkhol", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "action = 'sinkhol': expected sinkhole, nxdomain, nodata, refuse, drop or "
				 "strip (did you mean 'sinkhole'?)");
	assert_int_equal(policy_client_set(&r, "action", "tcp-only", NULL, err, sizeof(err)), -1);
	assert_null(strstr(err, "did you mean")); /* an RPZ action, not a choice: nothing near */
	assert_int_equal(policy_parse_mode("block", &m), 0);
	assert_int_equal(policy_parse_mode("on", &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sinkhole_a_with_ede_filtered),
		cmocka_unit_test(test_sinkhole_aaaa_and_other_types),
		cmocka_unit_test(test_nxdomain_and_nodata_carry_the_soa),
		cmocka_unit_test(test_deny_before_and_allow_wins),
		cmocka_unit_test(test_client_rules_longest_prefix_and_mac),
		cmocka_unit_test(test_strip_removes_only_blocked_addresses),
		cmocka_unit_test(test_log_mode_and_other_groups_pass),
		cmocka_unit_test(test_parse_block_and_actions),
		cmocka_unit_test(test_block_groups_checked_against_the_groups_file),
		cmocka_unit_test(test_block_in_lower_case_blocks),
		cmocka_unit_test(test_thousand_clients_each_find_their_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
