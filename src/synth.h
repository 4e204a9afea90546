/* synth.h - answers jurisdns writes itself for a policy verdict: sinkhole addresses, NXDOMAIN
 * or NODATA with a synthesized SOA, REFUSED; AD clear, a short TTL, and an Extended DNS Error
 * (RFC 8914) naming the rule when the client speaks EDNS. */
#ifndef JD_SYNTH_H
#define JD_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include "policy.h"
#include "wire.h"

#define SYNTH_MAX 768            /* the largest answer synth_answer writes */

/* Write the answer to q for verdict v (not PACT_PASS, not PACT_DROP) into out (SYNTH_MAX bytes).
 * Returns its length. */
size_t synth_answer(const struct dns_query *q, const struct policy *p, const struct verdict *v,
		    uint16_t our_udp_size, uint8_t *out);

struct cache_entry;

/* strip: the answer of e to q without the A/AAAA records (and HTTPS/SVCB records whose address
 * hints) the verdict blocks; names written uncompressed so that removing records cannot break a
 * compression pointer; TTLs aged; authority and additional sections left out; AD clear; EDE as
 * for the other actions. When no address record is left, the NODATA answer instead. Returns the
 * length, or 0 when the result does not fit in cap (the caller truncates). */
size_t synth_strip(const struct cache_entry *e, const struct dns_query *q, const struct policy *p,
		   const struct verdict *v, uint64_t now_ms, uint16_t our_udp_size, uint8_t *out,
		   size_t cap);

/* The answer of an empty zone served here (RFC 6303 section 3) to an upstream-style question
 * (qname lower-case wire; the zone's apex at qname + zone_off; flags: RD and CD as asked):
 * NXDOMAIN below the apex; at the apex the zone's SOA or NS record (localhost.) when asked for,
 * else NODATA; negative answers carry the SOA "ZONE ttl SOA localhost. nobody.invalid. 1 3600
 * 1200 604800 ttl". ID 0, no OPT: it is served like an upstream answer. out holds SYNTH_MAX
 * bytes. Returns the length. */
size_t synth_empty_zone(const uint8_t *qname, uint16_t qname_len, uint16_t qtype, uint16_t qclass,
			uint16_t flags, size_t zone_off, uint32_t ttl, uint8_t *out);

/* One record of a zone served here, at p, its owner a compression pointer to the message offset
 * owner: "localhost." for NS, "localhost. nobody.invalid. 1 3600 1200 604800 ttl" for SOA (the
 * minimum is the negative TTL, RFC 2308). Returns its length (SYNTH_SOA_LEN for the SOA). */
#define SYNTH_SOA_LEN 59
size_t synth_zone_rr(uint8_t *p, size_t owner, uint16_t type, uint16_t qclass, uint32_t ttl);

#endif
