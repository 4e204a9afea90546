/* special.c - names answered here: the private zones no upstream may see, resolver.arpa (DDR),
 * the Firefox canary and, when asked for, iCloud Private Relay. Each is answered like an
 * upstream answer (ID 0, no OPT) that the pipeline then writes for the client. */
#include "config.h"
#include <string.h>
#include "special.h"
#include "synth.h"
#include "upstream.h"
#include "util.h"

#define LOCAL_ZONE_TTL 300       /* seconds; the RFC's 10800 would outlive a reload by hours */
#define DDR_TTL 300              /* of the SVCB records: a new listener is announced soon */

/* lower-case wire names, the root byte included by sizeof */
static const uint8_t resolver_arpa[] = "\x08resolver\x04" "arpa";
static const uint8_t ddr_label[] = "\x04_dns";
static const uint8_t canary[] = "\x13use-application-dns\x03net";
static const uint8_t relay_mask[] = "\x04mask\x06icloud\x03" "com";
static const uint8_t relay_mask_h2[] = "\x07mask-h2\x06icloud\x03" "com";


/* The offset of zone (zlen bytes) in name (len bytes, lower-case wire) when name is zone or a
 * name below it, else -1. */
static int special_zone_off(const uint8_t *name, size_t len, const uint8_t *zone, size_t zlen)
{
	size_t o = 0;

	if (len < zlen || memcmp(name + len - zlen, zone, zlen))
		return -1;
	while (o < len - zlen) /* the suffix must start at a label */
		o += (size_t)name[o] + 1;
	return o == len - zlen ? (int)o : -1;
}


/* A negative answer (rcode NOERROR: NODATA, or NXDOMAIN) of the zone whose apex is at qname +
 * zone_off; with apex_soa the zone's SOA is the answer instead. out holds SPECIAL_MAX bytes. */
static size_t special_negative(const uint8_t *qname, uint16_t qname_len, uint16_t qtype,
			       uint16_t qclass, uint16_t flags, size_t zone_off, int rcode,
			       bool apex_soa, uint32_t ttl, uint8_t *out)
{
	size_t o = wire_write_head(out, 0, (uint16_t)(F_QR | F_AA | F_RA | (flags & (F_RD | F_CD)) | rcode),
				   qname, qname_len, qtype, qclass);

	o += synth_zone_rr(out + o, DNS_HDR + zone_off, TYPE_SOA, qclass, ttl);
	wr16(out + (apex_soa ? 6 : 8), 1);
	return o;
}

size_t special_svcb_rdata(uint16_t prio, const uint8_t *target, size_t target_len,
			  const struct ddr_endpoint *ep, uint8_t *out, size_t cap)
{
	bool doh = ep->alpn == DDR_DOH;
	const char *alpn = doh ? "h2" : "dot";
	size_t alen = strlen(alpn);
	unsigned nv4 = ep->nv4 < CONF_MAX_DDR_HINTS ? ep->nv4 : CONF_MAX_DDR_HINTS;
	unsigned nv6 = ep->nv6 < CONF_MAX_DDR_HINTS ? ep->nv6 : CONF_MAX_DDR_HINTS;
	const char *path = ep->path[0] ? ep->path : "/dns-query";
	size_t plen = strnlen(path, sizeof(ep->path));
	static const char tmpl[] = "{?dns}"; /* RFC 9461 5.1: the "dns" variable of RFC 8484 */
	size_t need = 2 + target_len + 4 + 1 + alen + 4 + 2 + (nv4 ? 4 + 4 * nv4 : 0) +
		      (nv6 ? 4 + 16 * nv6 : 0) + (doh ? 4 + plen + sizeof(tmpl) - 1 : 0);
	size_t o = 0;

	if (target_len < 2 || target_len > DNS_MAX_NAME || need > cap || need > 65535)
		return 0; /* "." (a lone root byte) is not allowed: RFC 9462 section 4 */
	wr16(out, prio);
	memcpy(out + 2, target, target_len); /* never compressed (RFC 9460 2.2) */
	o = 2 + target_len;
	/* SvcParamKeys in strictly increasing order (RFC 9460 2.2) */
	wr16(out + o, 1);                      /* alpn: one length-prefixed protocol id */
	wr16(out + o + 2, (uint16_t)(1 + alen));
	out[o + 4] = (uint8_t)alen;
	memcpy(out + o + 5, alpn, alen);
	o += 5 + alen;
	wr16(out + o, 3);                      /* port */
	wr16(out + o + 2, 2);
	wr16(out + o + 4, ep->port);
	o += 6;
	if (nv4) {
		wr16(out + o, 4);              /* ipv4hint */
		wr16(out + o + 2, (uint16_t)(4 * nv4));
		memcpy(out + o + 4, ep->v4, 4 * nv4);
		o += 4 + 4 * nv4;
	}
	if (nv6) {
		wr16(out + o, 6);              /* ipv6hint */
		wr16(out + o + 2, (uint16_t)(16 * nv6));
		memcpy(out + o + 4, ep->v6, 16 * nv6);
		o += 4 + 16 * nv6;
	}
	if (doh) {
		wr16(out + o, 7);              /* dohpath (RFC 9461 5) */
		wr16(out + o + 2, (uint16_t)(plen + sizeof(tmpl) - 1));
		memcpy(out + o + 4, path, plen);
		memcpy(out + o + 4 + plen, tmpl, sizeof(tmpl) - 1);
		o += 4 + plen + sizeof(tmpl) - 1;
	}
	return o;
}

size_t special_ddr_message(const uint8_t *qname, uint16_t qname_len, uint16_t qtype,
			   uint16_t flags, const uint8_t *target, size_t target_len,
			   const struct ddr_endpoint *eps, unsigned neps, uint32_t ttl, uint8_t *out,
			   size_t cap)
{
	size_t o;

	if (cap < DNS_HDR + (size_t)qname_len + 4 || qname_len < sizeof(resolver_arpa))
		return 0;
	/* without a name for the certificate there is nothing a client may use: RFC 9462 4 forbids
	 * the TargetName ".", and says NODATA when there is no Designated Resolver */
	if (!neps || !target_len) {
		if (cap < DNS_HDR + (size_t)qname_len + 4 + SYNTH_SOA_LEN)
			return 0;
		return special_negative(qname, qname_len, qtype, 1, flags,
					qname_len - sizeof(resolver_arpa), RCODE_NOERROR, false, ttl, out);
	}
	o = wire_write_head(out, 0, (uint16_t)(F_QR | F_AA | F_RA | (flags & (F_RD | F_CD))),
			    qname, qname_len, qtype, 1);
	for (unsigned i = 0; i < neps; i++) {
		if (o + 12 > cap)
			return 0;
		size_t n = special_svcb_rdata((uint16_t)(i + 1), target, target_len, &eps[i],
					      out + o + 12, cap - o - 12);
		if (!n)
			return 0;
		wr16(out + o, (uint16_t)(0xc000 | DNS_HDR)); /* the question's name */
		wr16(out + o + 2, TYPE_SVCB);
		wr16(out + o + 4, 1);
		wr32(out + o + 6, ttl);
		wr16(out + o + 10, (uint16_t)n);
		o += 12 + n;
	}
	wr16(out + 6, (uint16_t)neps);
	return o;
}

static bool special_is_relay(const uint8_t *key, size_t ql)
{
	return (ql == sizeof(relay_mask) && !memcmp(key, relay_mask, ql)) ||
	       (ql == sizeof(relay_mask_h2) && !memcmp(key, relay_mask_h2, ql));
}

bool special_before_cache(const struct conf *c, const uint8_t *key, size_t qname_len)
{
	return c->block_private_relay && special_is_relay(key, qname_len);
}

enum special_result special_answer(struct worker *w, const struct dns_query *q, const uint8_t *key,
				   size_t keylen, uint64_t hash, struct cache_entry **out)
{
	const struct conf *c = w->conf;
	uint8_t pkt[SPECIAL_MAX];
	struct dns_answer a;
	size_t zone_off = 0, len = 0, ql = q->qname_len;
	uint32_t neg = c->negative_ttl < LOCAL_ZONE_TTL ? c->negative_ttl : LOCAL_ZONE_TTL, ttl = neg;
	int zo;

	*out = NULL;
	if ((zo = special_zone_off(key, ql, resolver_arpa, sizeof(resolver_arpa))) >= 0) {
		/* RFC 9462 6.1 and 6.4: never forwarded, a locally served zone; NODATA for every
		 * other name and type, the SOA at the apex */
		if (zo == sizeof(ddr_label) - 1 && !memcmp(key, ddr_label, sizeof(ddr_label) - 1) &&
		    q->qclass == 1 && (q->qtype == TYPE_SVCB || q->qtype == TYPE_ANY)) {
			if (c->nddr && c->ddr_name_len)
				ttl = DDR_TTL;
			len = special_ddr_message(key, q->qname_len, q->qtype, q->flags, c->ddr_name,
						  c->ddr_name_len, c->ddr, c->nddr, ttl, pkt, sizeof(pkt));
		} else {
			len = special_negative(key, q->qname_len, q->qtype, q->qclass, q->flags,
					       (size_t)zo, RCODE_NOERROR,
					       zo == 0 && (q->qtype == TYPE_SOA || q->qtype == TYPE_ANY),
					       neg, pkt);
		}
	} else if ((zo = special_zone_off(key, ql, canary, sizeof(canary))) >= 0) {
		/* Firefox leaves its DoH off when this name has no address (NXDOMAIN or NODATA);
		 * NXDOMAIN for the names below too, as RFC 8020 says it implies */
		len = special_negative(key, q->qname_len, q->qtype, q->qclass, q->flags, (size_t)zo,
				       RCODE_NXDOMAIN, false, neg, pkt);
	} else if (c->block_private_relay && special_is_relay(key, ql)) {
		/* Apple's documented way for a network to turn Private Relay off */
		len = special_negative(key, q->qname_len, q->qtype, q->qclass, q->flags, 0,
				       RCODE_NXDOMAIN, false, neg, pkt);
	} else if (upstream_is_local(w, key, q->qname_len, q->qclass, &zone_off)) {
		len = synth_empty_zone(key, q->qname_len, q->qtype, q->qclass, q->flags, zone_off, ttl,
				       pkt);
	} else {
		return SPECIAL_NONE;
	}
	if (len && wire_parse_answer(pkt, len, key, q->qname_len, q->qtype, q->qclass, &a, w->ttl_off,
				     sizeof(w->ttl_off) / sizeof(w->ttl_off[0])) == 0)
		*out = cache_entry_new(key, keylen, hash, pkt, len, &a, w->ttl_off, ttl, 0,
				       c->max_ttl, uv_now(&w->loop));
	return *out ? SPECIAL_ANSWER : SPECIAL_FAILED;
}
