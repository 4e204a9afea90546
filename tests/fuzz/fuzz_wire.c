/* fuzz_wire.c - libFuzzer target for the packet parsers and the cache writer.
 *
 * The input is treated both as a client query (wire_parse_query, then the error writer) and as
 * an upstream answer to the fixed question www.example.com/A/IN (wire_parse_answer). When the
 * answer is accepted it is turned into a cache entry and written back for several clients at
 * several UDP sizes; the invariants below trap on violation:
 *   - output length >= 12 and <= max(max_len, 512) + 11
 *   - header id == the client's id, QR set, QDCOUNT 1, the client's question (case kept)
 *   - TC=1 only as header + question (+ OPT), with empty answer and authority sections
 *   - without TC, the output is itself an acceptable answer (wire_parse_answer), with the
 *     answer and authority counts of the upstream's, an OPT last iff the client sent EDNS,
 *     and every TTL within the clamp.
 * The accepted answer is also labelled (a group owning example.com, so the domain reason fires)
 * and rewritten by the strip action: the label keeps its bounds, and a stripped answer is itself
 * an acceptable answer to the client's question.
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_wire */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include "cache.h"
#include "groups.h"
#include "label.h"
#include "policy.h"
#include "synth.h"
#include "util.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

#define TTL_CAP (DNS_MAX_MSG / 11 + 1)

static const uint8_t QNAME[] = "\3www\7example\3com";    /* 17 bytes with the root */
static const uint8_t QNAME_MIXED[] = "\3WwW\7ExAmPlE\3cOm";
#define QLEN 17

static uint16_t ttl_off[TTL_CAP], ttl_off2[TTL_CAP];
static uint8_t out[DNS_MAX_MSG + 512 + 11];
static struct cache *cache;

static void check_query_side(const uint8_t *data, size_t size)
{
	struct dns_query q;
	uint8_t key[DNS_MAX_NAME + 5];
	char text[DNS_MAX_NAME * 4 + 8];
	int rc = wire_parse_query(data, size, &q);

	if (rc < 0) {
		CHECK(rc == -1);
		return;
	}
	CHECK(rc == RCODE_NOERROR || rc == RCODE_FORMERR || rc == RCODE_NOTIMP ||
	      rc == RCODE_REFUSED || rc == RCODE_BADVERS);
	CHECK(q.qname_len <= DNS_MAX_NAME);
	if (q.question_end) {
		CHECK(q.question_end == DNS_HDR + q.qname_len + 4u);
		CHECK(q.question_end <= size);
		CHECK(memcmp(q.qname, data + DNS_HDR, q.qname_len) == 0);
		size_t kl = wire_query_key(&q, key);
		CHECK(kl == q.qname_len + 5u);
		wire_name_str(q.qname, q.qname_len, text, sizeof(text));
		CHECK(strlen(text) < sizeof(text));
	}
	if (rc == RCODE_NOERROR) {
		CHECK(q.question_end != 0);
		CHECK(q.qclass == 1);
		CHECK(!q.edns || q.edns_version == 0);
	}
	if (rc == RCODE_BADVERS)
		CHECK(q.edns && q.edns_version > 0);

	size_t n = wire_write_error(&q, rc == RCODE_NOERROR ? RCODE_SERVFAIL : rc, 1232, out);
	CHECK(n >= DNS_HDR && n <= DNS_HDR + DNS_MAX_NAME + 4 + 11);
	CHECK(rd16(out) == q.id);
	CHECK(rd16(out + 2) & F_QR);
	if (rc == RCODE_NOERROR && !q.edns) {
		/* what we write for errors parses as an answer to the same question */
		struct dns_answer a;
		CHECK(wire_parse_answer(out, n, q.qname, q.qname_len, q.qtype, q.qclass, &a, ttl_off2,
					TTL_CAP) == 0);
	}
}

/* The same policy as answer_ttl() in upstream.c, with the default configuration. */
static uint32_t entry_ttl(const struct dns_answer *a, uint32_t min_ttl, uint32_t max_ttl)
{
	uint32_t t = a->min_ttl == UINT32_MAX ? 0 : a->min_ttl;

	if (a->rcode == RCODE_NXDOMAIN || (a->rcode == RCODE_NOERROR && a->ancount == 0)) {
		if (!a->has_soa)
			return 0;
		if (a->soa_ttl_min < t)
			t = a->soa_ttl_min;
		return t < 3600 ? t : 3600;
	}
	if (a->rcode == RCODE_SERVFAIL)
		return 5;
	if (a->rcode != RCODE_NOERROR)
		return 0;
	if (t < min_ttl)
		t = min_ttl;
	return t < max_ttl ? t : max_ttl;
}

static void make_client(struct dns_query *q, uint16_t id, const uint8_t *qname, bool edns,
			bool do_bit, uint16_t flags)
{
	memset(q, 0, sizeof(*q));
	q->id = id;
	q->flags = flags;
	q->qtype = TYPE_A;
	q->qclass = 1;
	q->qname_len = QLEN;
	memcpy(q->qname, qname, QLEN);
	q->question_end = DNS_HDR + QLEN + 4;
	q->edns = edns;
	q->edns_do = do_bit;
	q->edns_udp_size = edns ? 1232 : 0;
}

static void check_written(const struct cache_entry *e, const struct dns_answer *up,
			  const struct dns_query *cq, size_t max_len, size_t n, uint32_t max_ttl)
{
	size_t cap = (max_len < 512 ? 512 : max_len) + 11;
	uint16_t flags;

	CHECK(n >= DNS_HDR);
	CHECK(n <= cap);
	if (max_len <= 4096)
		CHECK(n <= max_len + 11);
	CHECK(rd16(out) == cq->id);
	flags = rd16(out + 2);
	CHECK(flags & F_QR);
	CHECK(F_OPCODE(flags) == 0);
	CHECK((flags & F_RD) == (cq->flags & F_RD));
	CHECK((flags & F_CD) == (cq->flags & F_CD));
	CHECK((flags & 0xf) == (e->rcode & 0xf));
	if ((flags & F_AD) && !cq->edns_do)
		CHECK(cq->flags & F_AD);
	CHECK(rd16(out + 4) == 1);
	CHECK(n >= DNS_HDR + QLEN + 4u);
	CHECK(memcmp(out + DNS_HDR, cq->qname, QLEN) == 0);
	CHECK(rd16(out + DNS_HDR + QLEN) == TYPE_A && rd16(out + DNS_HDR + QLEN + 2) == 1);

	if (flags & F_TC) {
		CHECK(rd16(out + 6) == 0 && rd16(out + 8) == 0);
		CHECK(n == DNS_HDR + QLEN + 4u + (cq->edns ? 11u : 0u));
		CHECK(rd16(out + 10) == (cq->edns ? 1 : 0));
		return;
	}

	struct dns_answer a;
	CHECK(wire_parse_answer(out, n, cq->qname, cq->qname_len, cq->qtype, cq->qclass, &a,
				ttl_off2, TTL_CAP) == 0);
	CHECK(a.id == cq->id);
	CHECK(a.ancount == up->ancount);
	CHECK(a.nscount == up->nscount);
	CHECK(a.arcount <= up->arcount + (cq->edns ? 1u : 0u));
	if (cq->edns) {
		CHECK(a.opt_len == 11 && a.opt_last && a.opt_off == n - 11);
		CHECK(out[n - 11 + 5] == (uint8_t)(e->rcode >> 4));
	} else {
		CHECK(a.opt_len == 0);
	}
	CHECK((a.rcode & 0xf) == (e->rcode & 0xf));
	for (size_t i = 0; i < a.nttl; i++) {
		uint32_t v = rd32(out + ttl_off2[i]);
		CHECK(v <= max_ttl);
		CHECK(i >= e->nttl || ttl_off2[i] == e->ttl_off[i]);
	}
	CHECK(a.nttl <= e->nttl);
}

static struct groups *groups;

/* Label the entry's answer and strip it for a client that blocks the group. */
static void check_label_and_strip(struct cache_entry *e, const uint8_t *data, size_t size,
				  const struct dns_answer *a, const uint8_t *key, uint64_t now)
{
	static uint8_t out[DNS_MAX_MSG + 1024];
	struct label *l = label_answer(data, size, a->question_end, a->ancount, key, sizeof(QNAME),
				       NULL, groups);
	struct policy p;
	struct verdict v;
	struct block_spec spec = { .group = "PRC", .kinds = 7 };
	struct dns_query cq;

	if (!l)
		return;
	CHECK(l->naddrs <= LABEL_MAX_ADDRS && l->naddrs <= l->total_addrs);
	CHECK(l->nreasons <= LABEL_MAX_REASONS);
	cache_entry_set_label(e, l);
	policy_init(&p);
	memset(&v, 0, sizeof(v));
	v.mode = PMODE_BLOCK;
	v.action = PACT_STRIP;
	v.ede = EDE_FILTERED;
	v.block = &spec;
	v.nblock = 1;
	snprintf(v.text, sizeof(v.text), "fuzz");
	for (int k = 0; k < 2; k++) {
		make_client(&cq, 0x5151, QNAME_MIXED, k == 1, false, F_RD);
		size_t caps[] = { 512, 1232, sizeof(out) };
		for (size_t s = 0; s < 3; s++) {
			size_t n = synth_strip(e, &cq, &p, &v, now + 1500, 1232, out, caps[s]);
			struct dns_answer sa;
			static uint16_t soff[TTL_CAP];
			if (!n)
				continue;
			CHECK(n <= caps[s]);
			CHECK(rd16(out) == 0x5151);
			CHECK(wire_parse_answer(out, n, cq.qname, cq.qname_len, 1, 1, &sa, soff, TTL_CAP) == 0);
		}
	}
	policy_free(&p);
}

static void check_answer_side(const uint8_t *data, size_t size)
{
	struct dns_answer a;
	static const size_t sizes[] = { 512, 1232, 65535 };
	static const struct { uint32_t min, max; } clamps[] = { { 0, 86400 }, { 60, 3600 } };
	uint8_t key[DNS_MAX_NAME + 5];
	struct dns_query kq, cq;

	if (wire_check_question(data, size, QNAME, QLEN, TYPE_A, 1) != 0)
		CHECK(wire_parse_answer(data, size, QNAME, QLEN, TYPE_A, 1, &a, ttl_off, TTL_CAP) != 0);
	if (wire_parse_answer(data, size, QNAME, QLEN, TYPE_A, 1, &a, ttl_off, TTL_CAP) != 0)
		return;
	CHECK(wire_check_question(data, size, QNAME, QLEN, TYPE_A, 1) == 0);
	CHECK(a.question_end == DNS_HDR + QLEN + 4);
	CHECK(a.ar_start >= a.question_end && a.ar_start <= size);
	for (size_t i = 0; i < a.nttl; i++) {
		CHECK(ttl_off[i] + 4u <= size);
		CHECK(i == 0 || ttl_off[i] > ttl_off[i - 1]);
	}
	if (a.opt_len) {
		CHECK(a.opt_off >= a.ar_start && (size_t)a.opt_off + a.opt_len <= size);
		CHECK(!a.opt_last || (size_t)a.opt_off + a.opt_len == size);
	}
	if (a.has_soa) {
		CHECK(a.soa_ttl_off + 4u <= size);
		CHECK(a.soa_ttl_min <= (rd32(data + a.soa_ttl_off) > 0x7fffffff ? 0 : rd32(data + a.soa_ttl_off)));
	}

	make_client(&kq, 0x1111, QNAME, false, false, F_RD);
	size_t keylen = wire_query_key(&kq, key);
	uint64_t hash = cache_hash(cache, key, keylen);

	for (size_t c = 0; c < sizeof(clamps) / sizeof(clamps[0]); c++) {
		uint32_t ttl = entry_ttl(&a, clamps[c].min, clamps[c].max);
		uint64_t now = 1000000;
		struct cache_entry *e = cache_entry_new(key, keylen, hash, data, size, &a, ttl_off, ttl,
							clamps[c].min, clamps[c].max, now);
		if (!e)
			return;
		CHECK(e->len <= size && e->ar_start <= e->len);
		CHECK(e->question_end == a.question_end);
		if (c == 0 && groups)
			check_label_and_strip(e, data, size, &a, key, now);
		for (int v = 0; v < 6; v++) {
			make_client(&cq, (uint16_t)(0xbeef + v), (v & 1) ? QNAME_MIXED : QNAME, v >= 2,
				    v >= 4, (uint16_t)((v & 1 ? F_RD : 0) | (v == 3 ? F_CD | F_AD : 0)));
			for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
				size_t n = cache_write_answer(e, &cq, now + 10500, sizes[s], 1232, out);
				check_written(e, &a, &cq, sizes[s], n, clamps[c].max);
			}
		}
		/* Store and read back through the cache (replacement and eviction paths). */
		if (cache_store(cache, e) != 0) {
			cache_entry_free(e);
			continue;
		}
		const struct cache_entry *got = cache_lookup(cache, key, keylen, hash, now + 1);
		CHECK(got == e);
		if (got) {
			make_client(&cq, 0x4242, QNAME_MIXED, true, true, F_RD);
			size_t n = cache_write_answer(got, &cq, now + 2000, 512, 1232, out);
			check_written(got, &a, &cq, 512, n, clamps[c].max);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cache)
		cache = cache_new(64 << 10, 0x5eed);
	if (!groups) {
		char path[] = "/tmp/jd-fuzz-groups-XXXXXX", err[256];
		int fd = mkstemp(path);
		if (fd >= 0) {
			static const char text[] = "[jurisdiction PRC]\ncountries = CN\ndomains = example.com\n";
			if (write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1)
				groups = groups_load(path, err, sizeof(err));
			close(fd);
			unlink(path);
		}
	}
	check_query_side(data, size);
	check_answer_side(data, size);
	return 0;
}
