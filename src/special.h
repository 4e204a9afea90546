/* special.h - names answered here and never sent upstream:
 * - the private zones that no upstream may see (RFC 6303 empty zones);
 * - resolver.arpa (DDR, RFC 9462): _dns.resolver.arpa SVCB lists jurisdns's own encrypted
 *   endpoints, every other name and type of the zone is NODATA;
 * - use-application-dns.net and below: NXDOMAIN (the Firefox canary turns its DoH off);
 * - mask.icloud.com and mask-h2.icloud.com: NXDOMAIN with [policy] block_private_relay.
 * The answers go through the normal pipeline (policy, stats, query log with upstream "local")
 * and are not cached, so a reload applies at once. */
#ifndef JD_SPECIAL_H
#define JD_SPECIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "wstate.h"

enum special_result {
	SPECIAL_NONE,                /* not a special name: resolve it */
	SPECIAL_ANSWER,              /* answered: *out is the answer */
	SPECIAL_FAILED               /* a special name, but out of memory: SERVFAIL */
};

#define SPECIAL_MAX 8192         /* room for CONF_MAX_DDR endpoints with the longest names */

/* Is q (key, keylen, hash: wire_query_key and its hash) a name answered here? On
 * SPECIAL_ANSWER *out is its answer as a cache entry that is in no cache; the caller frees it
 * with cache_entry_free. */
enum special_result special_answer(struct worker *w, const struct dns_query *q, const uint8_t *key,
				   size_t keylen, uint64_t hash, struct cache_entry **out);

/* Must the name key (qname_len bytes of it) skip the cache? True for the Private Relay names
 * while block_private_relay is on: their answers from before a reload that turned it on may be
 * cached. The other special names are never forwarded, so never cached. */
bool special_before_cache(const struct conf *c, const uint8_t *key, size_t qname_len);

/* The RDATA of one DDR SVCB record (RFC 9460 2.2, keys of RFC 9461 in ascending order: alpn,
 * port, ipv4hint, ipv6hint, dohpath) for endpoint ep with SvcPriority prio and TargetName target
 * (wire, target_len bytes, never "."). Returns its length, or 0 when it does not fit in cap. */
size_t special_svcb_rdata(uint16_t prio, const uint8_t *target, size_t target_len,
			  const struct ddr_endpoint *ep, uint8_t *out, size_t cap);

/* The whole answer to qname (wire, as asked: "_dns.resolver.arpa." in any case) SVCB/ANY IN
 * with ID 0: one SVCB record per endpoint, SvcPriority 1..n, TTL ttl, owner a pointer to the
 * question. With no endpoints or no target (target_len 0): NODATA with the SOA of
 * resolver.arpa (negative TTL ttl). flags: the query's RD and CD are kept. Returns the length,
 * or 0 when it does not fit in cap. */
size_t special_ddr_message(const uint8_t *qname, uint16_t qname_len, uint16_t qtype,
			   uint16_t flags, const uint8_t *target, size_t target_len,
			   const struct ddr_endpoint *eps, unsigned neps, uint32_t ttl, uint8_t *out,
			   size_t cap);

#endif
