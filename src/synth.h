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

#endif
