/* label.c - walk an answer once: follow the CNAME chain from the query name, collect A/AAAA and
 * HTTPS/SVCB address hints of names on the chain, look each address up, and map them to groups.
 * Runs on the miss path only; everything is bounded by the answer's size. */
#include "config.h"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "label.h"
#include "util.h"
#include "wire.h"

#define MAX_CHAIN 16
#define MAX_ALL_ADDRS 512

const char *const label_kind_names[LABEL_KINDS] = { "hosted", "operator", "domain" };

int label_kind_parse(const char *s)
{
	for (int k = 0; k < LABEL_KINDS; k++)
		if (!strcmp(s, label_kind_names[k]))
			return k;
	return -1;
}

void label_unref(struct label *l)
{
	if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
		free(l);
}

const char *label_reason_str(const struct label_reason *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s:%s", r->group, label_kind_names[r->kind], r->detail);
	return buf;
}

/* The organisation the GeoIP database gives the AS of detail ("AS45102") in an address of l;
 * NULL when detail is not an AS number or no address in it has one. */
static const char *label_as_org(const struct label *l, const char *detail)
{
	unsigned long asn = 0;
	const char *p = detail + 2;

	if (!l || strncmp(detail, "AS", 2) || !*p)
		return NULL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || asn > UINT32_MAX / 10)
			return NULL;
		asn = asn * 10 + (unsigned long)(*p - '0');
	}
	for (unsigned i = 0; i < l->naddrs; i++)
		if (l->addrs[i].known && l->addrs[i].asn == asn && l->addrs[i].org[0])
			return l->addrs[i].org;
	return NULL;
}

const char *label_why(const struct label *l, const struct label_reason *r, char *buf, size_t len)
{
	char tmp[LABEL_WHY_MAX + GEO_ORG_MAX + 16];
	const char *org = NULL;
	size_t k = 0;

	if (!len)
		return buf;
	if (r->kind == LABEL_OPERATOR && !r->by_name)
		org = label_as_org(l, r->detail);
	snprintf(tmp, sizeof(tmp), "%s:%.*s%s%.*s", r->kind < LABEL_KINDS ? label_kind_names[r->kind] : "?",
		 (int)strnlen(r->detail, sizeof(r->detail)), r->detail, org ? " " : "",
		 org ? (int)strnlen(org, GEO_ORG_MAX) : 0, org ? org : "");
	for (; tmp[k] && k + 1 < len; k++)
		buf[k] = (unsigned char)tmp[k] < 0x20 || tmp[k] == 0x7f ? '?' : tmp[k];
	if (tmp[k] && ((unsigned char)tmp[k] & 0xc0) == 0x80) {
		/* cut inside a character: drop its first bytes too, so the text stays UTF-8 */
		while (k && ((unsigned char)buf[k - 1] & 0xc0) == 0x80)
			k--;
		if (k)
			k--;
	}
	buf[k] = 0;
	return buf;
}

struct chain {
	uint8_t name[MAX_CHAIN][DNS_MAX_NAME];
	uint16_t len[MAX_CHAIN];
	unsigned n;
};

static int chain_find(const struct chain *c, const uint8_t *name, size_t len)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->len[i] == len && !memcmp(c->name[i], name, len))
			return (int)i;
	return -1;
}

static void chain_add(struct chain *c, const uint8_t *name, size_t len)
{
	if (c->n < MAX_CHAIN && chain_find(c, name, len) < 0) {
		memcpy(c->name[c->n], name, len);
		c->len[c->n++] = (uint16_t)len;
	}
}

struct rr {
	uint16_t owner_off, rdata, rdlen, type;
};

/* every record of a 64 KB answer: at least 11 bytes each */
#define MAX_RRS (DNS_MAX_MSG / 11 + 1)

/* SVCB/HTTPS rdata: priority, target name (never compressed, RFC 9460 2.2), then key/length/value
 * parameters; 4 = ipv4hint, 6 = ipv6hint. */
static void svcb_hints(const uint8_t *pkt, const struct rr *r, uint8_t (*ips)[17], unsigned *n)
{
	size_t o = (size_t)r->rdata + 2, end = (size_t)r->rdata + r->rdlen;

	if (r->rdlen < 3)
		return;
	while (o < end && pkt[o]) { /* skip the target name */
		if (pkt[o] & 0xc0)
			return;
		o += (size_t)pkt[o] + 1;
	}
	o++;
	while (o + 4 <= end) {
		uint16_t key = rd16(pkt + o), vlen = rd16(pkt + o + 2);
		size_t v = o + 4;
		if (v + vlen > end)
			return;
		if (key == 4)
			for (size_t i = 0; i + 4 <= vlen && *n < MAX_ALL_ADDRS; i += 4) {
				memset(ips[*n], 0, 10);
				ips[*n][10] = ips[*n][11] = 0xff;
				memcpy(ips[*n] + 12, pkt + v + i, 4);
				ips[(*n)++][16] = 0;
			}
		if (key == 6)
			for (size_t i = 0; i + 16 <= vlen && *n < MAX_ALL_ADDRS; i += 16) {
				memcpy(ips[*n], pkt + v + i, 16);
				ips[(*n)++][16] = 1;
			}
		o = v + vlen;
	}
}

static void add_reason(struct label *l, const struct groups *gs, unsigned gi, int kind, bool by_name,
		       const char *detail)
{
	if (l->mask[kind] & (1u << gi)) {
		/* one reason per group and kind is enough for the log, but keep distinct details */
		for (unsigned i = 0; i < l->nreasons; i++)
			if (l->reasons[i].kind == kind && !strcmp(l->reasons[i].detail, detail) &&
			    !strcmp(l->reasons[i].group, groups_get(gs, gi)->name))
				return;
	}
	l->mask[kind] |= 1u << gi;
	if (l->nreasons == LABEL_MAX_REASONS)
		return;
	struct label_reason *r = &l->reasons[l->nreasons++];
	snprintf(r->group, sizeof(r->group), "%s", groups_get(gs, gi)->name);
	r->kind = (uint8_t)kind;
	r->by_name = by_name;
	snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

/* "example.com" (no trailing dot) for the wire name */
static void suffix_text(const uint8_t *name, size_t len, char *text, size_t size)
{
	size_t tl;

	wire_name_str(name, len, text, size);
	tl = strlen(text);
	if (tl > 1 && text[tl - 1] == '.')
		text[tl - 1] = 0;
}

struct label *label_answer(const uint8_t *pkt, size_t len, size_t question_end, uint16_t ancount,
			   const uint8_t *qname, size_t qname_len, const struct geo *geo,
			   const struct groups *groups)
{
	static __thread struct chain chain;
	static __thread struct rr rrs[MAX_RRS];
	static __thread uint8_t ips[MAX_ALL_ADDRS][17];
	uint8_t name[DNS_MAX_NAME];
	unsigned nrr = 0, nips = 0;
	size_t off = question_end;
	struct label *l;

	chain.n = 0;
	chain_add(&chain, qname, qname_len);
	/* index the answer section (wire_parse_answer has checked its bounds) */
	if (len > DNS_MAX_MSG)
		len = DNS_MAX_MSG;
	for (unsigned i = 0; i < ancount && nrr < MAX_RRS; i++) {
		size_t after;
		if (wire_name_unpack(pkt, len, off, name, &after) < 0 || after + 10 > len)
			break;
		rrs[nrr].owner_off = (uint16_t)off;
		rrs[nrr].type = rd16(pkt + after);
		rrs[nrr].rdlen = rd16(pkt + after + 8);
		rrs[nrr].rdata = (uint16_t)(after + 10);
		off = after + 10 + rrs[nrr].rdlen;
		if (off > len)
			break;
		nrr++;
	}
	/* follow CNAMEs (DNAME answers carry the synthesized CNAME): repeat until nothing new */
	for (unsigned pass = 0, grew = 1; grew && pass < MAX_CHAIN; pass++) {
		grew = 0;
		for (unsigned i = 0; i < nrr; i++) {
			int nl;
			uint8_t target[DNS_MAX_NAME];
			if (rrs[i].type != TYPE_CNAME)
				continue;
			if ((nl = wire_name_unpack(pkt, len, rrs[i].owner_off, name, NULL)) < 0 ||
			    chain_find(&chain, name, (size_t)nl) < 0)
				continue;
			int tl = wire_name_unpack(pkt, rrs[i].rdata + rrs[i].rdlen, rrs[i].rdata, target, NULL);
			if (tl > 0 && chain_find(&chain, target, (size_t)tl) < 0 && chain.n < MAX_CHAIN) {
				chain_add(&chain, target, (size_t)tl);
				grew = 1;
			}
		}
	}
	for (unsigned i = 0; i < nrr && nips < MAX_ALL_ADDRS; i++) {
		int nl;
		uint16_t t = rrs[i].type;
		if (t != TYPE_A && t != TYPE_AAAA && t != TYPE_SVCB && t != TYPE_HTTPS)
			continue;
		if ((nl = wire_name_unpack(pkt, len, rrs[i].owner_off, name, NULL)) < 0 ||
		    chain_find(&chain, name, (size_t)nl) < 0)
			continue;
		if (t == TYPE_A && rrs[i].rdlen == 4) {
			memset(ips[nips], 0, 10);
			ips[nips][10] = ips[nips][11] = 0xff;
			memcpy(ips[nips] + 12, pkt + rrs[i].rdata, 4);
			ips[nips++][16] = 0;
		} else if (t == TYPE_AAAA && rrs[i].rdlen == 16) {
			memcpy(ips[nips], pkt + rrs[i].rdata, 16);
			ips[nips++][16] = 1;
		} else if (t == TYPE_SVCB || t == TYPE_HTTPS) {
			svcb_hints(pkt, &rrs[i], ips, &nips);
		}
	}

	unsigned keep = nips < LABEL_MAX_ADDRS ? nips : LABEL_MAX_ADDRS;
	size_t size = sizeof(*l) + keep * sizeof(struct label_addr);
	/* not calloc: the reasons (1.7 KB) are written as they are added and read up to nreasons,
	 * the addresses up to naddrs are all written below */
	if (!(l = malloc(size)))
		return NULL;
	memset(l, 0, offsetof(struct label, reasons));
	atomic_init(&l->refs, 1);
	l->size = (uint32_t)size;
	l->total_addrs = (uint16_t)nips;
	l->naddrs = (uint16_t)keep;

	/* name reasons, from the query name and every name on the chain: vendor clouds behind CNAMEs
	 * (domain), and CDN or DNS-hosting namespaces of a group's operators (operator), whose edge
	 * addresses often sit in neutral networks abroad where neither country nor ASN tells */
	for (unsigned c = 0; c < chain.n; c++) {
		const uint8_t *nm = chain.name[c];
		char text[DNS_MAX_NAME * 4 + 1];
		uint32_t m, seen = 0;
		/* each suffix at a label boundary, longest first: each group's reason names the longest
		 * suffix of its own list (dns.weixin.qq.com for bypass, qq.com for PRC), one hash probe
		 * per label */
		for (size_t o = 0; o < chain.len[c] && nm[o]; o += (size_t)nm[o] + 1) {
			if (!(m = groups_domain_get(groups, nm + o, chain.len[c] - o) & ~seen))
				continue;
			seen |= m;
			suffix_text(nm + o, chain.len[c] - o, text, sizeof(text));
			for (unsigned gi = 0; m; gi++, m >>= 1)
				if (m & 1)
					add_reason(l, groups, gi, LABEL_DOMAIN, true, text);
		}
		seen = 0;
		/* the same for CDN namespaces */
		for (size_t o = 0; o < chain.len[c] && nm[o]; o += (size_t)nm[o] + 1) {
			const char *op = "";
			char detail[sizeof(l->reasons[0].detail)];
			if (!(m = groups_cdn_get(groups, nm + o, chain.len[c] - o, &op) & ~seen))
				continue;
			seen |= m;
			suffix_text(nm + o, chain.len[c] - o, text, sizeof(text));
			snprintf(detail, sizeof(detail), "%s (%s)", text, op);
			for (unsigned gi = 0; m; gi++, m >>= 1)
				if (m & 1)
					add_reason(l, groups, gi, LABEL_OPERATOR, true, detail);
		}
	}
	for (unsigned i = 0; i < nips; i++) {
		struct geo_result gr;
		union { struct sockaddr sa; struct sockaddr_in sin; struct sockaddr_in6 sin6; } sa;
		memset(&sa, 0, sizeof(sa));
		if (ips[i][16]) {
			sa.sin6.sin6_family = AF_INET6;
			memcpy(&sa.sin6.sin6_addr, ips[i], 16);
		} else {
			sa.sin.sin_family = AF_INET;
			memcpy(&sa.sin.sin_addr, ips[i] + 12, 4);
		}
		geo_lookup(geo, &sa.sa, &gr);
		if (i < keep) {
			struct label_addr *a = &l->addrs[i];
			memcpy(a->ip, ips[i], 16);
			a->v6 = ips[i][16];
			a->known = gr.found;
			memcpy(a->cc, gr.cc, 3);
			a->asn = gr.asn;
			memcpy(a->org, gr.org, sizeof(a->org));
		}
		uint32_t m = groups_match_country(groups, gr.cc);
		for (unsigned gi = 0; m; gi++, m >>= 1)
			if (m & 1)
				add_reason(l, groups, gi, LABEL_HOSTED, false, gr.cc);
		m = groups_match_asn(groups, gr.asn);
		if (m) {
			char asn[16];
			snprintf(asn, sizeof(asn), "AS%u", gr.asn);
			for (unsigned gi = 0; m; gi++, m >>= 1)
				if (m & 1)
					add_reason(l, groups, gi, LABEL_OPERATOR, false, asn);
		}
	}
	return l;
}
