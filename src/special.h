/* special.h - names answered here and never sent upstream: the private zones that no
 * upstream may see (RFC 6303 empty zones). Issue 11 adds _dns.resolver.arpa (DDR) and the
 * canary names here. The answers go through the normal pipeline (policy, stats, query log
 * with upstream "local") and are not cached, so a reload applies at once. */
#ifndef JD_SPECIAL_H
#define JD_SPECIAL_H

#include <stddef.h>
#include <stdint.h>
#include "wstate.h"

enum special_result {
	SPECIAL_NONE,                /* not a special name: resolve it */
	SPECIAL_ANSWER,              /* answered: *out is the answer */
	SPECIAL_FAILED               /* a special name, but out of memory: SERVFAIL */
};

/* Is q (key, keylen, hash: wire_query_key and its hash) a name answered here? On
 * SPECIAL_ANSWER *out is its answer as a cache entry that is in no cache; the caller frees it
 * with cache_entry_free. */
enum special_result special_answer(struct worker *w, const struct dns_query *q, const uint8_t *key,
				   size_t keylen, uint64_t hash, struct cache_entry **out);

#endif
