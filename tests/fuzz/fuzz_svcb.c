/* fuzz_svcb.c - libFuzzer target for the DDR SVCB writer (special_ddr_message, special.h).
 *
 * The input is read as a list of endpoints: a count (0..CONF_MAX_DDR), a TargetName made of
 * arbitrary label bytes (0..255 bytes of wire, possibly none: no ddr_name), the question's case,
 * a buffer size, and per endpoint the alpn kind, port, 0..4 IPv4 and 0..4 IPv6 hints and a DoH
 * path of printable characters. The invariants below trap on violation:
 *   - with the full SPECIAL_MAX buffer the answer is always written (the size bound holds);
 *   - with a smaller buffer it is written whole or not at all (0), never cut;
 *   - what is written parses with ldns (ldns_wire2pkt) and with wire_parse_answer as an answer
 *     to the question, every record prints with ldns_rr2str;
 *   - endpoints and a target: NOERROR, one SVCB per endpoint, SvcPriority 1..n, SvcParamKeys in
 *     strictly increasing order, alpn/port as given, dohpath only for DoH; otherwise NODATA
 *     with one SOA of resolver.arpa.
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_svcb */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>
#include "conf.h"
#include "special.h"
#include "util.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/* A TargetName of arbitrary label bytes, at most 255 bytes with the root; 0 = none. */
static size_t take_name(struct input *in, uint8_t *out)
{
	unsigned labels = take(in) % 8;
	size_t o = 0;

	if (!labels)
		return 0;
	for (unsigned i = 0; i < labels; i++) {
		size_t len = (size_t)(take(in) % 63) + 1;
		if (o + 1 + len + 1 > DNS_MAX_NAME)
			break;
		out[o++] = (uint8_t)len;
		for (size_t k = 0; k < len; k++)
			out[o++] = take(in);
	}
	if (!o) /* not even one label fits: a one-letter name */
		out[o++] = 1, out[o++] = 'a';
	out[o++] = 0;
	return o;
}

static void take_endpoint(struct input *in, struct ddr_endpoint *e)
{
	uint8_t b = take(in);

	memset(e, 0, sizeof(*e));
	e->alpn = b & 1 ? DDR_DOH : DDR_DOT;
	e->port = (uint16_t)(take(in) << 8 | take(in));
	e->nv4 = (b >> 1) % (CONF_MAX_DDR_HINTS + 1);
	e->nv6 = (b >> 4) % (CONF_MAX_DDR_HINTS + 1);
	for (unsigned i = 0; i < e->nv4; i++)
		for (int k = 0; k < 4; k++)
			e->v4[i][k] = take(in);
	for (unsigned i = 0; i < e->nv6; i++)
		for (int k = 0; k < 16; k++)
			e->v6[i][k] = take(in);
	size_t plen = take(in) % sizeof(e->path); /* 0: the default /dns-query */
	if (plen) {
		e->path[0] = '/';
		for (size_t k = 1; k < plen; k++)
			e->path[k] = (char)('!' + take(in) % ('~' - '!' + 1));
	}
}

/* Walk one SVCB RDATA: priority, keys in strictly increasing order, values as written. */
static void check_rdata(const uint8_t *rd, size_t len, uint16_t prio, const struct ddr_endpoint *e,
			const uint8_t *target, size_t target_len)
{
	size_t o = 2 + target_len;
	int last = -1;
	bool alpn = false, port = false, path = false;

	CHECK(len >= o && rd16(rd) == prio && !memcmp(rd + 2, target, target_len));
	while (o < len) {
		CHECK(o + 4 <= len);
		uint16_t key = rd16(rd + o), vlen = rd16(rd + o + 2);
		const uint8_t *v = rd + o + 4;
		CHECK((int)key > last && o + 4 + vlen <= len);
		last = key;
		switch (key) {
		case 1:
			alpn = true;
			CHECK(e->alpn == DDR_DOH ? vlen == 3 && !memcmp(v, "\2h2", 3)
						 : vlen == 4 && !memcmp(v, "\3dot", 4));
			break;
		case 3:
			port = true;
			CHECK(vlen == 2 && rd16(v) == e->port);
			break;
		case 4:
			CHECK(vlen == 4 * e->nv4 && e->nv4 && !memcmp(v, e->v4, vlen));
			break;
		case 6:
			CHECK(vlen == 16 * e->nv6 && e->nv6 && !memcmp(v, e->v6, vlen));
			break;
		case 7:
			path = true;
			CHECK(e->alpn == DDR_DOH && vlen > 6 && v[0] == '/' &&
			      !memcmp(v + vlen - 6, "{?dns}", 6));
			break;
		default:
			CHECK(0);
		}
		o += 4 + (size_t)vlen;
	}
	CHECK(alpn && port && path == (e->alpn == DDR_DOH));
}

static void check_message(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qlen,
			  uint16_t qtype, const uint8_t *target, size_t target_len,
			  const struct ddr_endpoint *eps, unsigned neps)
{
	static uint16_t ttl_off[DNS_MAX_MSG / 11 + 1];
	struct dns_answer a;
	ldns_pkt *p = NULL;
	bool positive = neps && target_len;

	CHECK(ldns_wire2pkt(&p, pkt, len) == LDNS_STATUS_OK);
	CHECK(ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR);
	ldns_rr_list *an = ldns_pkt_answer(p), *ns = ldns_pkt_authority(p);
	CHECK(ldns_rr_list_rr_count(an) == (positive ? neps : 0));
	CHECK(ldns_rr_list_rr_count(ns) == (positive ? 0 : 1));
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		CHECK(ldns_rr_get_type(ldns_rr_list_rr(an, i)) == LDNS_RR_TYPE_SVCB);
		char *s = ldns_rr2str(ldns_rr_list_rr(an, i));
		CHECK(s);
		free(s);
	}
	for (size_t i = 0; i < ldns_rr_list_rr_count(ns); i++) {
		CHECK(ldns_rr_get_type(ldns_rr_list_rr(ns, i)) == LDNS_RR_TYPE_SOA);
		char *s = ldns_rr2str(ldns_rr_list_rr(ns, i));
		CHECK(s);
		free(s);
	}
	ldns_pkt_free(p);
	CHECK(wire_parse_answer(pkt, len, qname, qlen, qtype, 1, &a, ttl_off,
				sizeof(ttl_off) / sizeof(*ttl_off)) == 0);
	/* the records themselves, in order: owner a pointer to the question */
	size_t o = DNS_HDR + qlen + 4;
	for (unsigned i = 0; positive && i < neps; i++) {
		CHECK(o + 12 <= len && rd16(pkt + o) == (0xc000 | DNS_HDR) && rd16(pkt + o + 2) == TYPE_SVCB);
		size_t rdlen = rd16(pkt + o + 10);
		CHECK(o + 12 + rdlen <= len);
		check_rdata(pkt + o + 12, rdlen, (uint16_t)(i + 1), &eps[i], target, target_len);
		o += 12 + rdlen;
	}
	CHECK(!positive || o == len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[SPECIAL_MAX];
	static struct ddr_endpoint eps[CONF_MAX_DDR];
	struct input in = { data, size };
	uint8_t target[DNS_MAX_NAME + 1], qname[] = "\4_dns\10resolver\4arpa";
	unsigned neps = take(&in) % (CONF_MAX_DDR + 1);
	size_t target_len = take_name(&in, target);
	uint8_t caseb = take(&in);
	uint16_t qtype = caseb & 0x80 ? TYPE_ANY : TYPE_SVCB;

	for (size_t i = 0; i + 1 < sizeof(qname); i++) /* the client's case is kept */
		if ((caseb >> (i % 7)) & 1 && qname[i] >= 'a' && qname[i] <= 'z')
			qname[i] = (uint8_t)(qname[i] - 'a' + 'A');
	size_t cap = (size_t)(take(&in) << 8 | take(&in)) % (SPECIAL_MAX + 1);
	for (unsigned i = 0; i < neps; i++)
		take_endpoint(&in, &eps[i]);

	size_t n = special_ddr_message(qname, sizeof(qname), qtype, F_RD, target, target_len, eps,
				       neps, 300, out, sizeof(out));
	CHECK(n > 0 && n <= sizeof(out));
	check_message(out, n, qname, sizeof(qname), qtype, target, target_len, eps, neps);

	size_t m = special_ddr_message(qname, sizeof(qname), qtype, F_RD, target, target_len, eps,
				       neps, 300, out, cap);
	CHECK(m == 0 || m == n);
	CHECK((m == n) == (cap >= n));
	if (m)
		check_message(out, m, qname, sizeof(qname), qtype, target, target_len, eps, neps);
	return 0;
}
