/* special.c - names answered here: the private zones no upstream may see. */
#include "config.h"
#include "special.h"
#include "synth.h"
#include "upstream.h"

#define LOCAL_ZONE_TTL 300       /* seconds; the RFC's 10800 would outlive a reload by hours */

enum special_result special_answer(struct worker *w, const struct dns_query *q, const uint8_t *key,
				   size_t keylen, uint64_t hash, struct cache_entry **out)
{
	uint8_t pkt[SYNTH_MAX];
	struct dns_answer a;
	size_t zone_off = 0;

	*out = NULL;
	if (!upstream_is_local(w, key, q->qname_len, q->qclass, &zone_off))
		return SPECIAL_NONE;
	uint32_t ttl = w->conf->negative_ttl < LOCAL_ZONE_TTL ? w->conf->negative_ttl : LOCAL_ZONE_TTL;
	size_t len = synth_empty_zone(key, q->qname_len, q->qtype, q->qclass, q->flags, zone_off, ttl,
				      pkt);
	if (wire_parse_answer(pkt, len, key, q->qname_len, q->qtype, q->qclass, &a, w->ttl_off,
			      sizeof(w->ttl_off) / sizeof(w->ttl_off[0])) == 0)
		*out = cache_entry_new(key, keylen, hash, pkt, len, &a, w->ttl_off, ttl, 0,
				       w->conf->max_ttl, uv_now(&w->loop));
	return *out ? SPECIAL_ANSWER : SPECIAL_FAILED;
}
