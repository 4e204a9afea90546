/* synth.c - policy answers. The question is echoed with the client's case; records use a
 * compression pointer to it (offset 12), so the message stays small. */
#include "config.h"
#include <string.h>
#include "cache.h"
#include "label.h"
#include "synth.h"
#include "util.h"

/* jurisdns.invalid. and nobody.invalid.: names that cannot exist (RFC 6761) */
static const uint8_t soa_mname[] = "\x08jurisdns\x07invalid";
static const uint8_t soa_rname[] = "\x06nobody\x07invalid";

static size_t put_rr_head(uint8_t *p, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	wr16(p, 0xc000 | DNS_HDR); /* the question's name */
	wr16(p + 2, type);
	wr16(p + 4, 1);
	wr32(p + 6, ttl);
	wr16(p + 10, rdlen);
	return 12;
}

static size_t put_soa(uint8_t *p, uint32_t ttl)
{
	size_t mn = sizeof(soa_mname), rn = sizeof(soa_rname); /* both include the root byte */
	size_t o = put_rr_head(p, TYPE_SOA, ttl, (uint16_t)(mn + rn + 20));

	memcpy(p + o, soa_mname, mn);
	o += mn;
	memcpy(p + o, soa_rname, rn);
	o += rn;
	wr32(p + o, 1);            /* serial */
	wr32(p + o + 4, 3600);     /* refresh */
	wr32(p + o + 8, 600);      /* retry */
	wr32(p + o + 12, 86400);   /* expire */
	wr32(p + o + 16, ttl);     /* minimum: the negative TTL (RFC 2308) */
	return o + 20;
}

/* The OPT at out + o with the verdict's Extended DNS Error; returns the new length. */
static size_t put_opt_ede(uint8_t *out, size_t o, const struct dns_query *q, const struct verdict *v,
			  int rcode, uint16_t our_udp_size)
{
	size_t opt = o;

	o += wire_write_opt(out + o, our_udp_size, rcode, q->edns_do);
	if (v->ede)
		o = wire_add_ede(out, opt, o, v->ede, v->text, strnlen(v->text, sizeof(v->text)));
	return o;
}

/* QR, the client's RD and CD, RA; AA and AD clear: this is not the answer as it came */
static size_t put_head(uint8_t *out, const struct dns_query *q, int rcode)
{
	return wire_write_head(out, q->id, (uint16_t)(F_QR | (q->flags & (F_RD | F_CD)) | F_RA | (rcode & 0xf)),
			       q->qname, q->qname_len, q->qtype, q->qclass);
}

size_t synth_answer(const struct dns_query *q, const struct policy *p, const struct verdict *v,
		    uint16_t our_udp_size, uint8_t *out)
{
	size_t o;
	uint16_t an = 0, ns = 0, ar = 0;
	int rcode = RCODE_NOERROR;
	bool sink = v->action == PACT_SINKHOLE && (q->qtype == TYPE_A || q->qtype == TYPE_AAAA);

	if (v->action == PACT_NXDOMAIN)
		rcode = RCODE_NXDOMAIN;
	else if (v->action == PACT_REFUSE)
		rcode = RCODE_REFUSED;
	o = put_head(out, q, rcode);
	if (v->action == PACT_LOCAL && v->rule) {
		/* RPZ local data: the records of the query's type (a CNAME answers any type) */
		for (unsigned i = 0; i < v->rule->nrrs; i++) {
			const struct rpz_rr *rr = &v->rule->rrs[i];
			if (rr->type != q->qtype && rr->type != TYPE_CNAME && q->qtype != TYPE_ANY)
				continue;
			if (o + 12 + rr->rdlen + 11 + 6 + sizeof(v->text) > SYNTH_MAX)
				break;
			o += put_rr_head(out + o, rr->type, rr->ttl, rr->rdlen);
			memcpy(out + o, rr->rdata, rr->rdlen);
			o += rr->rdlen;
			an++;
		}
		if (!an) {
			o += put_soa(out + o, p->ttl);
			ns = 1;
		}
	} else if (sink) {
		size_t alen = q->qtype == TYPE_A ? 4 : 16;
		o += put_rr_head(out + o, q->qtype, p->ttl, (uint16_t)alen);
		memcpy(out + o, q->qtype == TYPE_A ? p->sink_a : p->sink_aaaa, alen);
		o += alen;
		an = 1;
	} else if (v->action != PACT_REFUSE && v->action != PACT_LOCAL) {
		/* NXDOMAIN, NODATA, and a sinkhole for other types: an SOA for negative caching */
		o += put_soa(out + o, p->ttl);
		ns = 1;
	}
	if (q->edns) {
		o = put_opt_ede(out, o, q, v, rcode, our_udp_size);
		ar = 1;
	}
	wr16(out + 6, an);
	wr16(out + 8, ns);
	wr16(out + 10, ar);
	return o;
}

/* Is the 16-byte address (IPv4 mapped) one the verdict blocks? Addresses beyond the label's
 * list are judged by the reasons alone: blocked when any blocked reason exists. */
static bool ip_blocked(const struct verdict *v, const struct label *l, const uint8_t ip[16], bool v6)
{
	for (unsigned i = 0; i < l->naddrs; i++)
		if (l->addrs[i].v6 == v6 && !memcmp(l->addrs[i].ip, ip, 16))
			return policy_addr_blocked(v, l, &l->addrs[i]);
	return l->total_addrs > l->naddrs;
}

static bool svcb_blocked(const struct verdict *v, const struct label *l, const uint8_t *rd, size_t rdlen)
{
	size_t o = 2;

	while (o < rdlen && rd[o]) { /* target name, never compressed */
		if (rd[o] & 0xc0)
			return false;
		o += (size_t)rd[o] + 1;
	}
	o++;
	while (o + 4 <= rdlen) {
		uint16_t key = rd16(rd + o), vlen = rd16(rd + o + 2);
		const uint8_t *val = rd + o + 4;
		uint8_t ip[16];
		if (o + 4 + vlen > rdlen)
			return false;
		for (size_t i = 0; key == 4 && i + 4 <= vlen; i += 4) {
			memset(ip, 0, 10);
			ip[10] = ip[11] = 0xff;
			memcpy(ip + 12, val + i, 4);
			if (ip_blocked(v, l, ip, false))
				return true;
		}
		for (size_t i = 0; key == 6 && i + 16 <= vlen; i += 16)
			if (ip_blocked(v, l, val + i, true))
				return true;
		o += 4 + vlen;
	}
	return false;
}

/* rdata whose names may be compressed (RFC 3597 3: only these older types), written expanded */
static int copy_rdata(const uint8_t *pkt, size_t len, uint16_t type, size_t rd, size_t rdlen,
		      uint8_t *out, size_t cap)
{
	uint8_t name[DNS_MAX_NAME];
	size_t fixed = 0, o = 0, end = rd + rdlen;
	int nl;

	switch (type) {
	case TYPE_CNAME: case TYPE_NS: case TYPE_DNAME: case 12 /* PTR */:
		break;
	case 15 /* MX */:
		fixed = 2;
		break;
	case 33 /* SRV */:
		fixed = 6;
		break;
	case TYPE_SOA:
		break;
	default:
		if (rdlen > cap)
			return -1;
		memcpy(out, pkt + rd, rdlen);
		return (int)rdlen;
	}
	if (fixed + 1 > rdlen || fixed > cap)
		return -1;
	memcpy(out, pkt + rd, fixed);
	o = fixed;
	size_t at = rd + fixed, next;
	for (int names = type == TYPE_SOA ? 2 : 1; names > 0; names--) {
		if ((nl = wire_name_unpack(pkt, end, at, name, &next)) < 0 || o + (size_t)nl > cap)
			return -1;
		memcpy(out + o, name, (size_t)nl);
		o += (size_t)nl;
		at = next;
	}
	if (type == TYPE_SOA) {
		if (at + 20 != end || o + 20 > cap)
			return -1;
		memcpy(out + o, pkt + at, 20);
		o += 20;
	}
	return (int)o;
}

size_t synth_strip(const struct cache_entry *e, const struct dns_query *q, const struct policy *p,
		   const struct verdict *v, uint64_t now_ms, uint16_t our_udp_size, uint8_t *out,
		   size_t cap)
{
	const uint8_t *pkt = e->wire;
	size_t len = e->len, off = e->question_end, o;
	uint16_t ancount = rd16(pkt + 6), kept = 0, addrs = 0;
	uint32_t age = (uint32_t)((now_ms - e->stored_ms) / 1000);
	uint8_t name[DNS_MAX_NAME];

	if (cap < DNS_HDR + q->qname_len + 4 + 11 + 6 + sizeof(v->text))
		return 0;
	cap -= 11 + 6 + sizeof(v->text); /* room for the OPT with the EDE */
	o = put_head(out, q, e->rcode);
	for (unsigned i = 0; i < ancount; i++) {
		size_t after;
		int nl = wire_name_unpack(pkt, len, off, name, &after);
		if (nl < 0 || after + 10 > len)
			return 0;
		uint16_t type = rd16(pkt + after), rdlen = rd16(pkt + after + 8);
		uint32_t ttl = rd32(pkt + after + 4);
		size_t rd = after + 10;
		off = rd + rdlen;
		if (off > len)
			return 0;
		if (type == TYPE_A && rdlen == 4) {
			uint8_t ip[16] = { 0 };
			ip[10] = ip[11] = 0xff;
			memcpy(ip + 12, pkt + rd, 4);
			if (ip_blocked(v, e->label, ip, false))
				continue;
			addrs++;
		} else if (type == TYPE_AAAA && rdlen == 16) {
			if (ip_blocked(v, e->label, pkt + rd, true))
				continue;
			addrs++;
		} else if ((type == TYPE_HTTPS || type == TYPE_SVCB) &&
			   svcb_blocked(v, e->label, pkt + rd, rdlen)) {
			continue;
		}
		if (o + (size_t)nl + 10 > cap)
			return 0;
		memcpy(out + o, name, (size_t)nl);
		o += (size_t)nl;
		memcpy(out + o, pkt + after, 4); /* type, class */
		wr32(out + o + 4, ttl > age ? ttl - age : 0);
		int w = copy_rdata(pkt, len, type, rd, rdlen, out + o + 10, cap - o - 10);
		if (w < 0)
			return 0;
		wr16(out + o + 8, (uint16_t)w);
		o += 10 + (size_t)w;
		kept++;
	}
	if (!addrs && (q->qtype == TYPE_A || q->qtype == TYPE_AAAA)) {
		struct verdict nodata = *v;
		nodata.action = PACT_NODATA;
		return synth_answer(q, p, &nodata, our_udp_size, out);
	}
	wr16(out + 6, kept);
	wr16(out + 8, 0);
	wr16(out + 10, 0);
	if (q->edns) {
		o = put_opt_ede(out, o, q, v, e->rcode, our_udp_size);
		wr16(out + 10, 1);
	}
	return o;
}

/* --- empty zones served here (RFC 6303) --- */

static const uint8_t localhost[] = "\x09localhost";

_Static_assert(SYNTH_SOA_LEN == 12 + sizeof(localhost) + sizeof(soa_rname) + 20, "SYNTH_SOA_LEN");

size_t synth_zone_rr(uint8_t *p, size_t owner, uint16_t type, uint16_t qclass, uint32_t ttl)
{
	size_t o = 12, hn = sizeof(localhost), rn = sizeof(soa_rname); /* with the root byte */

	wr16(p, (uint16_t)(0xc000 | owner));
	wr16(p + 2, type);
	wr16(p + 4, qclass);
	wr32(p + 6, ttl);
	memcpy(p + o, localhost, hn);
	o += hn;
	if (type == TYPE_SOA) {
		memcpy(p + o, soa_rname, rn);
		o += rn;
		wr32(p + o, 1);            /* serial */
		wr32(p + o + 4, 3600);     /* refresh */
		wr32(p + o + 8, 1200);     /* retry */
		wr32(p + o + 12, 604800);  /* expire */
		wr32(p + o + 16, ttl);     /* minimum: the negative TTL (RFC 2308) */
		o += 20;
	}
	wr16(p + 10, (uint16_t)(o - 12));
	return o;
}

size_t synth_empty_zone(const uint8_t *qname, uint16_t qname_len, uint16_t qtype, uint16_t qclass,
			uint16_t flags, size_t zone_off, uint32_t ttl, uint8_t *out)
{
	bool apex = zone_off == 0;
	int rcode = apex ? RCODE_NOERROR : RCODE_NXDOMAIN;
	size_t o = wire_write_head(out, 0, (uint16_t)(F_QR | F_AA | F_RA | (flags & (F_RD | F_CD)) | rcode),
				   qname, qname_len, qtype, qclass);
	size_t zone = DNS_HDR + zone_off; /* the apex, inside the question's name */
	uint16_t an = 0, ns = 0;

	if (apex && (qtype == TYPE_SOA || qtype == TYPE_ANY)) {
		o += synth_zone_rr(out + o, zone, TYPE_SOA, 1, ttl);
		an++;
	}
	if (apex && (qtype == TYPE_NS || qtype == TYPE_ANY)) {
		o += synth_zone_rr(out + o, zone, TYPE_NS, 1, ttl);
		an++;
	}
	if (!an) {
		o += synth_zone_rr(out + o, zone, TYPE_SOA, 1, ttl);
		ns = 1;
	}
	wr16(out + 6, an);
	wr16(out + 8, ns);
	return o;
}
