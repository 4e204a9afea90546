/* synth.c - policy answers. The question is echoed with the client's case; records use a
 * compression pointer to it (offset 12), so the message stays small. */
#include "config.h"
#include <string.h>
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

size_t synth_answer(const struct dns_query *q, const struct policy *p, const struct verdict *v,
		    uint16_t our_udp_size, uint8_t *out)
{
	size_t o = DNS_HDR;
	uint16_t an = 0, ns = 0, ar = 0;
	int rcode = RCODE_NOERROR;
	bool sink = v->action == PACT_SINKHOLE && (q->qtype == TYPE_A || q->qtype == TYPE_AAAA);

	if (v->action == PACT_NXDOMAIN)
		rcode = RCODE_NXDOMAIN;
	else if (v->action == PACT_REFUSE)
		rcode = RCODE_REFUSED;
	wr16(out, q->id);
	/* QR, the client's RD and CD, RA; AA and AD clear: this is not the real answer */
	wr16(out + 2, (uint16_t)(F_QR | (q->flags & (F_RD | F_CD)) | F_RA | rcode));
	wr16(out + 4, 1);
	memcpy(out + o, q->qname, q->qname_len);
	o += q->qname_len;
	wr16(out + o, q->qtype);
	wr16(out + o + 2, q->qclass);
	o += 4;
	if (sink) {
		size_t alen = q->qtype == TYPE_A ? 4 : 16;
		o += put_rr_head(out + o, q->qtype, p->ttl, (uint16_t)alen);
		memcpy(out + o, q->qtype == TYPE_A ? p->sink_a : p->sink_aaaa, alen);
		o += alen;
		an = 1;
	} else if (v->action != PACT_REFUSE) {
		/* NXDOMAIN, NODATA, and a sinkhole for other types: an SOA for negative caching */
		o += put_soa(out + o, p->ttl);
		ns = 1;
	}
	if (q->edns) {
		size_t tl = strnlen(v->text, sizeof(v->text));
		size_t opt = o;
		o += wire_write_opt(out + o, our_udp_size, rcode, q->edns_do);
		if (v->ede) {
			wr16(out + o, 15); /* EDNS option: Extended DNS Error */
			wr16(out + o + 2, (uint16_t)(2 + tl));
			wr16(out + o + 4, v->ede);
			memcpy(out + o + 6, v->text, tl);
			o += 6 + tl;
			wr16(out + opt + 9, (uint16_t)(6 + tl)); /* the OPT's RDLENGTH */
		}
		ar = 1;
	}
	wr16(out + 6, an);
	wr16(out + 8, ns);
	wr16(out + 10, ar);
	return o;
}
