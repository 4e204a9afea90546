/* metrics_text.h - the Prometheus exposition text of /metrics (text format 0.0.4), apart from
 * the server that sends it (metrics.h). Labels are instance, group, reason, action, cache, rcode,
 * transport, upstream (a server address from the configuration) and le: never a client or a
 * domain, so the series stay few. docs/metrics.md lists them. */
#ifndef JD_METRICS_TEXT_H
#define JD_METRICS_TEXT_H

#include <stdbool.h>
#include <stdint.h>
#include "stats_count.h"
#include "util.h"

struct worker;

/* What the render needs besides the per-client counts. */
struct metrics_input {
	const char *instance;
	struct worker *const *workers; /* counters summed over all of them */
	unsigned nworkers;
	uint64_t cache_capacity;     /* [cache] size, bytes */
	long long geo_built;         /* unix time the GeoIP database was built; 0: none loaded */
	long long now;               /* unix time */
};

/* Write the workers' figures into b: answer latency, rcodes, upstreams, cache, GeoIP age. */
void metrics_render_workers(struct strbuf *b, const struct metrics_input *in);

/* Write the per-client statistics' figures into b: queries, hits, blocked, rewritten, policy
 * actions and group queries by reason (cum: since start), the Redis connection's state, and
 * pending: the queries counted but not yet in Redis. */
void metrics_render_counts(struct strbuf *b, const char *instance, const struct stats_sums *cum,
			   bool redis_up, uint64_t pending);

#endif
