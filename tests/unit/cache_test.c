/* cache_test.c - unit tests for src/cache.h: store/lookup, expiry, TTL ageing, answer writing
 * (id, case, flags, AD, truncation, OPT), LRU eviction, limits and TTL clamps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "wire.h"
#include "dnsbuild.h"

#define SEED 0x0123456789abcdefULL

static struct dnsb ANS, QB;

/* A client query parsed by wire_parse_query. */
static void mkquery(struct dns_query *q, const char *name, uint16_t type, uint16_t id,
		    uint16_t flags, bool edns, bool do_bit, uint16_t udp)
{
	b_header(&QB, id, flags, 1, 0, 0, edns ? 1 : 0);
	b_question(&QB, name, type, 1);
	if (edns)
		b_opt(&QB, udp, 0, 0, do_bit ? EDNS_DO : 0, NULL, 0);
	assert_int_equal(wire_parse_query(QB.buf, QB.len, q), RCODE_NOERROR);
}

struct made {
	struct dns_answer a;
	uint16_t ttl_off[128];
	uint8_t key[DNS_MAX_NAME + 5];
	size_t keylen;
	uint64_t hash;
};

/* Parse ans as the answer to q and make an entry of it keyed by q. */
static struct cache_entry *mkentry(struct cache *c, const struct dnsb *ans, const struct dns_query *q,
				   uint32_t ttl, uint32_t min_ttl, uint32_t max_ttl, uint64_t now,
				   struct made *m)
{
	assert_int_equal(wire_parse_answer(ans->buf, ans->len, q->qname, q->qname_len, q->qtype,
					   q->qclass, &m->a, m->ttl_off, 128), 0);
	m->keylen = wire_query_key(q, m->key);
	m->hash = cache_hash(c, m->key, m->keylen);
	struct cache_entry *e = cache_entry_new(m->key, m->keylen, m->hash, ans->buf, ans->len, &m->a,
						m->ttl_off, ttl, min_ttl, max_ttl, now);
	assert_non_null(e);
	return e;
}

static const struct cache_entry *lookup(struct cache *c, const struct dns_query *q, uint64_t now)
{
	uint8_t key[DNS_MAX_NAME + 5];
	size_t n = wire_query_key(q, key);

	return cache_lookup(c, key, n, cache_hash(c, key, n), now);
}

/* www.example.com A: n A records with the given TTL, optionally an OPT (last). */
static void build_a_answer(struct dnsb *b, const char *name, unsigned n, uint32_t ttl, uint16_t flags,
			   bool opt)
{
	b_header(b, 0xaaaa, (uint16_t)(F_QR | F_RD | F_RA | flags), 1, (uint16_t)n, 0, opt ? 1 : 0);
	b_question(b, name, TYPE_A, 1);
	for (unsigned i = 0; i < n; i++)
		b_a(b, ttl, 192, 0, 2, (uint8_t)i);
	if (opt)
		b_opt(b, 1232, 0, 0, EDNS_DO, NULL, 0);
}

/* Two A records, an NS in authority and a glue A in additional, each TTL given. */
static void build_full_answer(struct dnsb *b, uint32_t t1, uint32_t t2, uint32_t t3, uint32_t t4,
			      uint16_t flags)
{
	const uint8_t ns_rd[] = { 2, 'n', 's', 0xc0, 16 };

	b_header(b, 0xaaaa, (uint16_t)(F_QR | F_RD | F_RA | flags), 1, 2, 1, 1);
	b_question(b, "www.example.com", TYPE_A, 1);
	b_a(b, t1, 192, 0, 2, 1);
	b_a(b, t2, 192, 0, 2, 2);
	b_rr_ptr(b, 16, TYPE_NS, 1, t3, ns_rd, sizeof(ns_rd));
	size_t ns_name = b->len - sizeof(ns_rd);
	b_rr_ptr(b, (uint16_t)ns_name, TYPE_A, 1, t4, "\xc0\0\2\x35", 4);
}

/* The output must itself be a well-formed answer for q. */
static void assert_reparses(const uint8_t *out, size_t n, const struct dns_query *q,
			    struct dns_answer *a, uint16_t *ttl)
{
	assert_int_equal(wire_parse_answer(out, n, q->qname, q->qname_len, q->qtype, q->qclass, a,
					   ttl, 128), 0);
}

static uint8_t OUT[65536 + 64];

/* ---------------------------------------------------------------- store and lookup */

static void test_store_then_lookup_hits(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;
	struct cache_stats st;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 2, 300, 0, false);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 1000, &m);
	uint32_t charge = e->charge;
	assert_int_equal(cache_store(c, e), 0);
	const struct cache_entry *got = cache_lookup(c, m.key, m.keylen, m.hash, 2000);
	assert_ptr_equal(got, e);
	assert_int_equal(got->len, ANS.len);
	assert_int_equal(got->arcount, 0);
	assert_int_equal(got->question_end, 12 + 17 + 4);
	assert_int_equal(got->nttl, 2);
	assert_int_equal(got->rcode, 0);
	assert_int_equal(got->stored_ms, 1000);
	assert_int_equal(got->expire_ms, 1000 + 300000);
	cache_get_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 0);
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, charge);
	cache_free(c);
}

static void test_lookup_is_case_insensitive_through_key(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, q2;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 300, 0, false);
	assert_int_equal(cache_store(c, mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m)), 0);
	mkquery(&q2, "WWW.EXAMPLE.COM", TYPE_A, 2, F_RD, false, false, 0);
	assert_non_null(lookup(c, &q2, 1));
	cache_free(c);
}

static void test_lookup_of_other_key_misses(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, other;
	struct made m;
	struct cache_stats st;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 300, 0, false);
	assert_int_equal(cache_store(c, mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m)), 0);

	mkquery(&other, "ww.example.com", TYPE_A, 1, F_RD, false, false, 0);
	assert_null(lookup(c, &other, 1));
	mkquery(&other, "www.example.com", TYPE_AAAA, 1, F_RD, false, false, 0);
	assert_null(lookup(c, &other, 1));
	mkquery(&other, "www.example.com", TYPE_A, 1, F_RD, true, true, 1232); /* DO */
	assert_null(lookup(c, &other, 1));
	mkquery(&other, "www.example.com", TYPE_A, 1, F_RD | F_CD, false, false, 0); /* CD */
	assert_null(lookup(c, &other, 1));
	mkquery(&other, "www.example.com", TYPE_A, 1, 0, false, false, 0); /* no RD */
	assert_null(lookup(c, &other, 1));
	/* EDNS without DO shares the key */
	mkquery(&other, "www.example.com", TYPE_A, 1, F_RD, true, false, 1232);
	assert_non_null(lookup(c, &other, 1));
	cache_get_stats(c, &st);
	assert_int_equal(st.misses, 5);
	assert_int_equal(st.hits, 1);
	cache_free(c);
}

static void test_expired_entry_misses(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;
	struct cache_stats st;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 300, 0, false);
	assert_int_equal(cache_store(c, mkentry(c, &ANS, &q, 300, 0, 86400, 1000, &m)), 0);
	assert_non_null(lookup(c, &q, 1000 + 299999));
	assert_null(lookup(c, &q, 1000 + 300000));
	cache_get_stats(c, &st);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	/* and it is gone, not merely hidden */
	assert_null(lookup(c, &q, 1000));
	cache_free(c);
}

static void test_store_replaces_entry_with_same_key(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;
	struct cache_stats st;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 300, 0, false);
	assert_int_equal(cache_store(c, mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m)), 0);
	build_a_answer(&ANS, "www.example.com", 3, 600, 0, false);
	struct cache_entry *e2 = mkentry(c, &ANS, &q, 600, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e2), 0);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, e2->charge);
	assert_int_equal(st.inserts, 2);
	const struct cache_entry *got = lookup(c, &q, 1);
	assert_ptr_equal(got, e2);
	assert_int_equal(g16(got->wire + 6), 3);
	cache_free(c);
}

static void test_ttl_zero_entry_is_refused(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 0, 0, false);
	struct cache_entry *e = mkentry(c, &ANS, &q, 0, 0, 86400, 5000, &m);
	assert_int_equal(cache_store(c, e), -1);
	cache_entry_free(e);
	cache_free(c);
}

static void test_store_into_null_cache_is_refused(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 60, 0, false);
	struct cache_entry *e = mkentry(c, &ANS, &q, 60, 0, 86400, 0, &m);
	assert_int_equal(cache_store(NULL, e), -1);
	cache_entry_free(e);
	cache_free(c);
	cache_free(NULL);
}

/* ---------------------------------------------------------------- cache_write_answer */

static void test_ttl_decremented_by_age(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;
	struct dns_answer a;
	uint16_t t[128];

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_full_answer(&ANS, 300, 300, 300, 300, 0);
	assert_int_equal(cache_store(c, mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m)), 0);
	const struct cache_entry *e = lookup(c, &q, 10500);
	assert_non_null(e);
	size_t n = cache_write_answer(e, &q, 10500, 4096, 1232, OUT);
	assert_int_equal(n, ANS.len);
	assert_reparses(OUT, n, &q, &a, t);
	assert_int_equal(a.nttl, 4);
	for (size_t i = 0; i < a.nttl; i++) {
		assert_int_equal(t[i], m.ttl_off[i]);
		assert_int_equal(g32(OUT + t[i]), 290);
	}
	/* the stored entry is not aged in place */
	n = cache_write_answer(e, &q, 0, 4096, 1232, OUT);
	assert_int_equal(g32(OUT + t[0]), 300);
	cache_free(c);
}

static void test_ttl_decrement_per_record_and_floor_at_zero(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_full_answer(&ANS, 300, 100, 20, 5, 0);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 1000, &m);
	assert_int_equal(cache_store(c, e), 0);
	cache_write_answer(e, &q, 1000 + 30999, 4096, 1232, OUT); /* 30 s */
	assert_int_equal(g32(OUT + m.ttl_off[0]), 270);
	assert_int_equal(g32(OUT + m.ttl_off[1]), 70);
	assert_int_equal(g32(OUT + m.ttl_off[2]), 0);
	assert_int_equal(g32(OUT + m.ttl_off[3]), 0);
	cache_free(c);
}

static void test_answer_has_client_id_and_question_case(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, client;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 2, 300, 0, false);
	assert_int_equal(cache_store(c, mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m)), 0);
	mkquery(&client, "wWw.ExAmPlE.cOm", TYPE_A, 0xcafe, F_RD, false, false, 0);
	const struct cache_entry *e = lookup(c, &client, 0);
	assert_non_null(e);
	size_t n = cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(n, ANS.len);
	assert_int_equal(g16(OUT), 0xcafe);
	assert_memory_equal(OUT + 12, "\3wWw\7ExAmPlE\3cOm\0", 17);
	/* the entry still has the upstream's question */
	assert_memory_equal(e->wire + 12, "\3www\7example\3com\0", 17);
	/* everything after the question is the upstream's */
	assert_memory_equal(OUT + 12 + 17, ANS.buf + 12 + 17, 4 + 16);
	cache_free(c);
}

static void test_answer_flags_from_client_and_entry(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, client;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD | F_CD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 300, F_AA | RCODE_NOERROR, false);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e), 0);
	mkquery(&client, "www.example.com", TYPE_A, 7, F_RD | F_CD, false, false, 0);
	cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(g16(OUT + 2), F_QR | F_RA | F_RD | F_CD); /* AA is not ours */

	/* a client without RD/CD (a different key, but the writer only looks at the query) */
	mkquery(&client, "www.example.com", TYPE_A, 7, 0, false, false, 0);
	cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(g16(OUT + 2), F_QR | F_RA);
	cache_free(c);
}

static void test_nxdomain_rcode_is_written(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	b_header(&ANS, 1, F_QR | F_RA | RCODE_NXDOMAIN, 1, 0, 1, 0);
	b_question(&ANS, "www.example.com", TYPE_A, 1);
	b_soa_ptr(&ANS, 16, 300, 300);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(e->rcode, RCODE_NXDOMAIN);
	assert_int_equal(cache_store(c, e), 0);
	size_t n = cache_write_answer(e, &q, 0, 512, 1232, OUT);
	assert_int_equal(n, ANS.len);
	assert_int_equal(g16(OUT + 2) & 0xf, RCODE_NXDOMAIN);
	assert_int_equal(g16(OUT + 8), 1);
	cache_free(c);
}

static void test_ad_only_if_client_do_or_ad(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, client;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 300, F_AD, false);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e), 0);

	mkquery(&client, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(g16(OUT + 2) & F_AD, 0);

	mkquery(&client, "www.example.com", TYPE_A, 1, F_RD, true, false, 1232);
	cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(g16(OUT + 2) & F_AD, 0);

	mkquery(&client, "www.example.com", TYPE_A, 1, F_RD, true, true, 1232);
	cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(g16(OUT + 2) & F_AD, F_AD);

	mkquery(&client, "www.example.com", TYPE_A, 1, F_RD | F_AD, false, false, 0);
	cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(g16(OUT + 2) & F_AD, F_AD);
	cache_free(c);
}

static void test_no_ad_when_upstream_did_not_set_it(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, client;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, "www.example.com", 1, 300, 0, false);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e), 0);
	mkquery(&client, "www.example.com", TYPE_A, 1, F_RD | F_AD, true, true, 1232);
	cache_write_answer(e, &client, 0, 512, 1232, OUT);
	assert_int_equal(g16(OUT + 2) & F_AD, 0);
	cache_free(c);
}

/* Question + nA A records + nT TXT records of txtlen rdata bytes in the additional section. */
static void build_big_answer(struct dnsb *b, unsigned na, unsigned nt, uint16_t txtlen)
{
	uint8_t txt[1024];

	memset(txt, 'x', sizeof(txt));
	txt[0] = (uint8_t)(txtlen - 1 > 255 ? 255 : txtlen - 1);
	b_header(b, 0xaaaa, F_QR | F_RD | F_RA, 1, (uint16_t)na, 0, (uint16_t)nt);
	b_question(b, "www.example.com", TYPE_A, 1);
	for (unsigned i = 0; i < na; i++)
		b_a(b, 300, 10, 0, (uint8_t)(i >> 8), (uint8_t)i);
	for (unsigned i = 0; i < nt; i++)
		b_rr_ptr(b, 12, 16, 1, 300, txt, txtlen);
}

static void test_truncation_drops_additional_section_first(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;
	struct dns_answer a;
	uint16_t t[128];

	mkquery(&q, "www.example.com", TYPE_A, 0x4321, F_RD, false, false, 0);
	build_big_answer(&ANS, 10, 5, 100);
	assert_int_equal(ANS.len, 33 + 160 + 5 * 112);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(e->ar_start, 33 + 160);
	assert_int_equal(e->arcount, 5);
	assert_int_equal(cache_store(c, e), 0);

	size_t n = cache_write_answer(e, &q, 0, 512, 1232, OUT);
	assert_int_equal(n, 33 + 160);
	assert_int_equal(g16(OUT), 0x4321);
	assert_int_equal(g16(OUT + 2) & F_TC, 0);
	assert_int_equal(g16(OUT + 4), 1);
	assert_int_equal(g16(OUT + 6), 10);
	assert_int_equal(g16(OUT + 8), 0);
	assert_int_equal(g16(OUT + 10), 0);
	assert_reparses(OUT, n, &q, &a, t);
	assert_int_equal(a.nttl, 10);

	/* with room for everything, everything */
	n = cache_write_answer(e, &q, 0, 1232, 1232, OUT);
	assert_int_equal(n, ANS.len);
	assert_int_equal(g16(OUT + 10), 5);
	assert_reparses(OUT, n, &q, &a, t);
	cache_free(c);
}

static void test_truncation_to_question_with_tc(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "WWW.example.com", TYPE_A, 0x4321, F_RD | F_CD, false, false, 0);
	build_big_answer(&ANS, 40, 0, 0);
	assert_int_equal(ANS.len, 33 + 640);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e), 0);

	size_t n = cache_write_answer(e, &q, 0, 512, 1232, OUT);
	assert_int_equal(n, 12 + 17 + 4);
	assert_int_equal(g16(OUT), 0x4321);
	assert_int_equal(g16(OUT + 2), F_QR | F_RA | F_TC | F_RD | F_CD);
	assert_int_equal(g16(OUT + 4), 1);
	assert_int_equal(g16(OUT + 6), 0);
	assert_int_equal(g16(OUT + 8), 0);
	assert_int_equal(g16(OUT + 10), 0);
	assert_memory_equal(OUT + 12, "\3WWW\7example\3com\0\0\1\0\1", 21);

	/* over TCP-sized buffers it all fits */
	n = cache_write_answer(e, &q, 0, 65535, 1232, OUT);
	assert_int_equal(n, ANS.len);
	assert_int_equal(g16(OUT + 2) & F_TC, 0);
	cache_free(c);
}

static void test_truncation_with_edns_keeps_opt(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 0x4321, F_RD, true, true, 512);
	build_big_answer(&ANS, 40, 0, 0);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e), 0);
	size_t n = cache_write_answer(e, &q, 0, 512, 1232, OUT);
	assert_int_equal(n, 12 + 17 + 4 + 11);
	assert_int_equal(g16(OUT + 2) & F_TC, F_TC);
	assert_int_equal(g16(OUT + 6), 0);
	assert_int_equal(g16(OUT + 10), 1);
	assert_int_equal(g16(OUT + n - 11 + 1), TYPE_OPT);
	assert_int_equal(g16(OUT + n - 11 + 3), 1232);
	assert_int_equal(g16(OUT + n - 11 + 7), EDNS_DO);
	cache_free(c);
}

static void test_truncation_boundary_counts_the_opt(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, eq;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	mkquery(&eq, "www.example.com", TYPE_A, 1, F_RD, true, false, 512);
	build_big_answer(&ANS, 1, 1, 451);
	assert_int_equal(ANS.len, 512);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e), 0);

	/* exactly max_len: all of it */
	size_t n = cache_write_answer(e, &q, 0, 512, 1232, OUT);
	assert_int_equal(n, 512);
	assert_int_equal(g16(OUT + 10), 1);
	/* the client's OPT would make it 523: the additional section goes */
	n = cache_write_answer(e, &eq, 0, 512, 1232, OUT);
	assert_int_equal(n, 33 + 16 + 11);
	assert_int_equal(g16(OUT + 10), 1); /* just the OPT */
	assert_int_equal(g16(OUT + 2) & F_TC, 0);
	/* 523 fits in 523 */
	n = cache_write_answer(e, &eq, 0, 523, 1232, OUT);
	assert_int_equal(n, 523);
	assert_int_equal(g16(OUT + 10), 2);
	cache_free(c);
}

static void test_opt_appended_for_edns_client(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q, client;
	struct made m;
	struct dns_answer a;
	uint16_t t[128];

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, true, true, 1232);
	build_full_answer(&ANS, 300, 300, 300, 300, 0);
	/* with an OPT from the upstream at the end */
	b_opt(&ANS, 4096, 0, 0, EDNS_DO, NULL, 0);
	b_set_counts(&ANS, 1, 2, 1, 2);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(e->len, ANS.len - 11); /* the upstream's OPT is not kept */
	assert_int_equal(e->arcount, 1);
	assert_int_equal(g16(e->wire + 10), 1);
	assert_int_equal(cache_store(c, e), 0);

	size_t n = cache_write_answer(e, &q, 0, 1232, 1400, OUT);
	assert_int_equal(n, ANS.len);
	assert_int_equal(g16(OUT + 10), 2);
	const uint8_t *opt = OUT + n - 11;
	assert_int_equal(opt[0], 0);
	assert_int_equal(g16(opt + 1), TYPE_OPT);
	assert_int_equal(g16(opt + 3), 1400);
	assert_int_equal(opt[5], 0);
	assert_int_equal(g16(opt + 7), EDNS_DO);
	assert_reparses(OUT, n, &q, &a, t);
	assert_int_equal(a.opt_off, n - 11);
	assert_true(a.opt_last);

	/* a client without EDNS gets no OPT */
	mkquery(&client, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	n = cache_write_answer(e, &client, 0, 1232, 1400, OUT);
	assert_int_equal(n, ANS.len - 11);
	assert_int_equal(g16(OUT + 10), 1);
	assert_reparses(OUT, n, &client, &a, t);
	assert_int_equal(a.opt_len, 0);

	/* DO is echoed as the client sent it */
	mkquery(&client, "www.example.com", TYPE_A, 1, F_RD, true, false, 1232);
	n = cache_write_answer(e, &client, 0, 1232, 1400, OUT);
	assert_int_equal(g16(OUT + n - 11 + 7), 0);
	cache_free(c);
}

static void test_opt_not_last_drops_additional_section(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	b_header(&ANS, 1, F_QR | F_RA, 1, 1, 0, 2);
	b_question(&ANS, "www.example.com", TYPE_A, 1);
	b_a(&ANS, 300, 1, 2, 3, 4);
	size_t ar = ANS.len;
	b_opt(&ANS, 1232, 0, 0, 0, NULL, 0);
	b_a(&ANS, 300, 5, 6, 7, 8);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(e->len, ar);
	assert_int_equal(e->arcount, 0);
	assert_int_equal(e->nttl, 1);
	assert_int_equal(e->ar_start, ar);
	assert_int_equal(cache_store(c, e), 0);
	size_t n = cache_write_answer(e, &q, 0, 512, 1232, OUT);
	assert_int_equal(n, ar);
	assert_int_equal(g16(OUT + 10), 0);
	cache_free(c);
}

/* ---------------------------------------------------------------- TTL clamps */

static void test_min_and_max_ttl_clamps(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_full_answer(&ANS, 5, 300, 100000, 0x80000001u, 0);
	struct cache_entry *e = mkentry(c, &ANS, &q, 60, 60, 3600, 0, &m);
	assert_int_equal(cache_store(c, e), 0);
	cache_write_answer(e, &q, 0, 4096, 1232, OUT);
	assert_int_equal(g32(OUT + m.ttl_off[0]), 60);   /* raised to min_ttl */
	assert_int_equal(g32(OUT + m.ttl_off[1]), 300);
	assert_int_equal(g32(OUT + m.ttl_off[2]), 3600); /* lowered to max_ttl */
	assert_int_equal(g32(OUT + m.ttl_off[3]), 60);   /* top bit: 0, then min_ttl */
	/* the entry's wire holds the clamped values */
	assert_int_equal(g32(e->wire + m.ttl_off[0]), 60);
	assert_int_equal(e->expire_ms, 60000);
	cache_free(c);
}

static void test_negative_soa_ttl_lowered_to_entry_ttl(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;
	const uint8_t cname[] = { 3, 'f', 'o', 'o', 0xc0, 16 };

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	/* NODATA after a CNAME: the CNAME TTL stays, the SOA gets the negative TTL */
	b_header(&ANS, 1, F_QR | F_RA, 1, 1, 1, 0);
	b_question(&ANS, "www.example.com", TYPE_A, 1);
	size_t cname_ttl = b_rr_ptr(&ANS, 12, TYPE_CNAME, 1, 3600, cname, sizeof(cname));
	size_t soa_ttl = b_soa_ptr(&ANS, 16, 3600, 300);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_true(m.a.has_soa);
	assert_int_equal(m.a.soa_ttl_min, 300);
	assert_int_equal(m.a.soa_ttl_off, soa_ttl);
	assert_int_equal(cache_store(c, e), 0);
	cache_write_answer(e, &q, 0, 4096, 1232, OUT);
	assert_int_equal(g32(OUT + cname_ttl), 3600);
	assert_int_equal(g32(OUT + soa_ttl), 300);
	cache_free(c);
}

static void test_negative_soa_ttl_below_entry_ttl_is_kept(void **state)
{
	struct cache *c = cache_new(1 << 20, SEED);
	struct dns_query q;
	struct made m;

	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	b_header(&ANS, 1, F_QR | F_RA | RCODE_NXDOMAIN, 1, 0, 1, 0);
	b_question(&ANS, "www.example.com", TYPE_A, 1);
	size_t soa_ttl = b_soa_ptr(&ANS, 16, 60, 900);
	struct cache_entry *e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_int_equal(cache_store(c, e), 0);
	cache_write_answer(e, &q, 0, 4096, 1232, OUT);
	assert_int_equal(g32(OUT + soa_ttl), 60);
	cache_free(c);
}

/* ---------------------------------------------------------------- limits and eviction */

static struct cache_entry *numbered_entry(struct cache *c, unsigned i, struct dns_query *q,
					  struct made *m)
{
	char name[64];

	snprintf(name, sizeof(name), "h%05u.example.com", i);
	mkquery(q, name, TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, name, 1, 300, 0, false);
	return mkentry(c, &ANS, q, 300, 0, 86400, 0, m);
}

static void test_lru_eviction_under_byte_limit(void **state)
{
	struct dns_query q;
	struct made m;
	struct cache_stats st;
	struct cache *probe = cache_new(1 << 20, SEED);
	struct cache_entry *e = numbered_entry(probe, 0, &q, &m);
	size_t charge = e->charge, limit = 10 * charge;

	cache_entry_free(e);
	cache_free(probe);
	struct cache *c = cache_new(limit, SEED);
	for (unsigned i = 0; i < 50; i++) {
		e = numbered_entry(c, i, &q, &m);
		assert_int_equal(e->charge, charge);
		assert_int_equal(cache_store(c, e), 0);
		cache_get_stats(c, &st);
		assert_true(st.bytes <= limit);
	}
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 10);
	assert_int_equal(st.evictions, 40);
	assert_int_equal(st.inserts, 50);
	assert_int_equal(st.bytes, 10 * charge);
	for (unsigned i = 0; i < 50; i++) {
		char name[64];
		snprintf(name, sizeof(name), "h%05u.example.com", i);
		mkquery(&q, name, TYPE_A, 1, F_RD, false, false, 0);
		if (i < 40)
			assert_null(lookup(c, &q, 1));
		else
			assert_non_null(lookup(c, &q, 1));
	}
	cache_free(c);
}

static void test_recently_used_entry_survives_eviction(void **state)
{
	struct dns_query q, q0, q1;
	struct made m;
	struct cache *c = cache_new(1 << 20, SEED);
	struct cache_entry *e = numbered_entry(c, 0, &q0, &m);
	size_t charge = e->charge;

	cache_entry_free(e);
	cache_set_limit(c, 10 * charge);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(cache_store(c, numbered_entry(c, i, &q, &m)), 0);
	cache_entry_free(numbered_entry(c, 0, &q0, &m));
	cache_entry_free(numbered_entry(c, 1, &q1, &m));
	assert_non_null(lookup(c, &q0, 1)); /* 0 becomes the most recent; 1 is now the oldest */
	assert_int_equal(cache_store(c, numbered_entry(c, 10, &q, &m)), 0);
	assert_non_null(lookup(c, &q0, 1));
	assert_null(lookup(c, &q1, 1));
	cache_free(c);
}

static void test_set_limit_zero_empties_and_disables(void **state)
{
	struct dns_query q;
	struct made m;
	struct cache_stats st;
	struct cache *c = cache_new(1 << 20, SEED);

	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(cache_store(c, numbered_entry(c, i, &q, &m)), 0);
	cache_set_limit(c, 0);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.evictions, 20);
	assert_null(lookup(c, &q, 1));
	struct cache_entry *e = numbered_entry(c, 99, &q, &m);
	assert_int_equal(cache_store(c, e), -1);
	cache_entry_free(e);
	/* and it can be enabled again */
	cache_set_limit(c, 1 << 20);
	assert_int_equal(cache_store(c, numbered_entry(c, 99, &q, &m)), 0);
	assert_non_null(lookup(c, &q, 1));
	cache_free(c);
}

static void test_set_limit_smaller_evicts_oldest(void **state)
{
	struct dns_query q;
	struct made m;
	struct cache_stats st;
	struct cache *c = cache_new(1 << 20, SEED);
	size_t charge = 0;

	for (unsigned i = 0; i < 20; i++) {
		struct cache_entry *e = numbered_entry(c, i, &q, &m);
		charge = e->charge;
		assert_int_equal(cache_store(c, e), 0);
	}
	cache_set_limit(c, 5 * charge);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 5);
	assert_int_equal(st.bytes, 5 * charge);
	assert_non_null(lookup(c, &q, 1)); /* the last one */
	cache_entry_free(numbered_entry(c, 14, &q, &m));
	assert_null(lookup(c, &q, 1));
	cache_free(c);
}

static void test_entry_larger_than_eighth_of_limit_is_refused(void **state)
{
	struct dns_query q;
	struct made m;
	struct cache *c = cache_new(1 << 20, SEED);
	struct cache_entry *e = numbered_entry(c, 0, &q, &m);
	size_t charge = e->charge;

	cache_set_limit(c, 8 * charge - 1);
	assert_int_equal(cache_store(c, e), -1);
	cache_set_limit(c, 8 * charge);
	assert_int_equal(cache_store(c, e), 0);
	assert_non_null(lookup(c, &q, 1));

	/* a big answer into a small cache */
	cache_set_limit(c, 4096);
	mkquery(&q, "www.example.com", TYPE_A, 1, F_RD, false, false, 0);
	build_big_answer(&ANS, 40, 0, 0);
	e = mkentry(c, &ANS, &q, 300, 0, 86400, 0, &m);
	assert_true(e->charge > 4096 / 8);
	assert_int_equal(cache_store(c, e), -1);
	cache_entry_free(e);
	cache_free(c);
}

static void test_many_entries_all_found(void **state)
{
	struct dns_query q;
	struct made m;
	struct cache_stats st;
	struct cache *c = cache_new(64 << 20, SEED);

	for (unsigned i = 0; i < 3000; i++)
		assert_int_equal(cache_store(c, numbered_entry(c, i, &q, &m)), 0);
	for (unsigned i = 0; i < 3000; i++) {
		char name[64];
		snprintf(name, sizeof(name), "h%05u.example.com", i);
		mkquery(&q, name, TYPE_A, 1, F_RD, false, false, 0);
		const struct cache_entry *e = lookup(c, &q, 1);
		assert_non_null(e);
		assert_memory_equal(e->wire + 12, q.qname, q.qname_len);
	}
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 3000);
	assert_int_equal(st.hits, 3000);
	assert_int_equal(st.evictions, 0);
	cache_free(c);
}

/* Every entry in one hash chain (hashes equal in their low 40 bits): removing one from the
 * middle (replaced), from the end (expired, LRU-evicted) or the head leaves the rest of the
 * chain intact, as the O(1) unlink through pprev must. */
static struct cache_entry *chained_entry(struct cache *c, unsigned i, uint32_t ttl,
					 struct dns_query *q, struct made *m, uint64_t *hash)
{
	char name[64];

	snprintf(name, sizeof(name), "c%05u.example.com", i);
	mkquery(q, name, TYPE_A, 1, F_RD, false, false, 0);
	build_a_answer(&ANS, name, 1, ttl, 0, false);
	assert_int_equal(wire_parse_answer(ANS.buf, ANS.len, q->qname, q->qname_len, q->qtype,
					   q->qclass, &m->a, m->ttl_off, 128), 0);
	m->keylen = wire_query_key(q, m->key);
	*hash = (uint64_t)(i + 1) << 40;
	return cache_entry_new(m->key, m->keylen, *hash, ANS.buf, ANS.len, &m->a, m->ttl_off, ttl,
			       0, 86400, 0);
}

static const struct cache_entry *chained_lookup(struct cache *c, unsigned i, uint64_t now)
{
	struct dns_query q;
	struct made m;
	uint64_t hash;
	struct cache_entry *probe = chained_entry(c, i, 300, &q, &m, &hash);
	const struct cache_entry *e = cache_lookup(c, m.key, m.keylen, hash, now);

	cache_entry_free(probe);
	return e;
}

static void test_removal_from_a_shared_chain(void **state)
{
	struct dns_query q;
	struct made m;
	uint64_t hash;
	struct cache_stats st;
	struct cache_entry *e = chained_entry(NULL, 0, 300, &q, &m, &hash);
	size_t charge = e->charge;
	struct cache *c = cache_new(40 * charge, SEED);

	cache_entry_free(e);
	/* 0..39, entry 7 with a short TTL; inserted at the chain's head, so 0 is its far end */
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(cache_store(c, chained_entry(c, i, i == 7 ? 1 : 300, &q, &m, &hash)), 0);
	for (unsigned i = 0; i < 40; i++)
		assert_non_null(chained_lookup(c, i, 0));
	assert_null(chained_lookup(c, 7, 5000));       /* expired: unlinked from the middle */
	struct cache_entry *r = chained_entry(c, 20, 600, &q, &m, &hash);
	assert_int_equal(cache_store(c, r), 0);        /* replaced: the old one unlinked */
	assert_ptr_equal(chained_lookup(c, 20, 0), r);
	assert_int_equal(cache_store(c, chained_entry(c, 40, 300, &q, &m, &hash)), 0); /* fits */
	assert_int_equal(cache_store(c, chained_entry(c, 41, 300, &q, &m, &hash)), 0);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 40);
	assert_int_equal(st.evictions, 1);             /* the least recently used: entry 0 */
	assert_null(chained_lookup(c, 0, 0));
	for (unsigned i = 1; i < 42; i++)
		if (i == 7)
			assert_null(chained_lookup(c, i, 0));
		else
			assert_non_null(chained_lookup(c, i, 0));
	cache_set_limit(c, 0);                         /* every one unlinked, head to tail */
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	assert_null(chained_lookup(c, 41, 0));
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_then_lookup_hits),
		cmocka_unit_test(test_lookup_is_case_insensitive_through_key),
		cmocka_unit_test(test_lookup_of_other_key_misses),
		cmocka_unit_test(test_expired_entry_misses),
		cmocka_unit_test(test_store_replaces_entry_with_same_key),
		cmocka_unit_test(test_ttl_zero_entry_is_refused),
		cmocka_unit_test(test_store_into_null_cache_is_refused),
		cmocka_unit_test(test_ttl_decremented_by_age),
		cmocka_unit_test(test_ttl_decrement_per_record_and_floor_at_zero),
		cmocka_unit_test(test_answer_has_client_id_and_question_case),
		cmocka_unit_test(test_answer_flags_from_client_and_entry),
		cmocka_unit_test(test_nxdomain_rcode_is_written),
		cmocka_unit_test(test_ad_only_if_client_do_or_ad),
		cmocka_unit_test(test_no_ad_when_upstream_did_not_set_it),
		cmocka_unit_test(test_truncation_drops_additional_section_first),
		cmocka_unit_test(test_truncation_to_question_with_tc),
		cmocka_unit_test(test_truncation_with_edns_keeps_opt),
		cmocka_unit_test(test_truncation_boundary_counts_the_opt),
		cmocka_unit_test(test_opt_appended_for_edns_client),
		cmocka_unit_test(test_opt_not_last_drops_additional_section),
		cmocka_unit_test(test_min_and_max_ttl_clamps),
		cmocka_unit_test(test_negative_soa_ttl_lowered_to_entry_ttl),
		cmocka_unit_test(test_negative_soa_ttl_below_entry_ttl_is_kept),
		cmocka_unit_test(test_lru_eviction_under_byte_limit),
		cmocka_unit_test(test_recently_used_entry_survives_eviction),
		cmocka_unit_test(test_set_limit_zero_empties_and_disables),
		cmocka_unit_test(test_set_limit_smaller_evicts_oldest),
		cmocka_unit_test(test_entry_larger_than_eighth_of_limit_is_refused),
		cmocka_unit_test(test_many_entries_all_found),
		cmocka_unit_test(test_removal_from_a_shared_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
