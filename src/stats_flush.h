/* stats_flush.h - the control thread's side of the per-client statistics: merge the workers'
 * tables (stats_count.h) about once a second and write them to Redis in one script call per
 * flush, exactly once (a per-instance flush sequence the script applies once); while Redis is
 * down the merged counts grow in value, not in size, and go out once it is back.
 * The keys are in docs/redis-schema.md. */
#ifndef JD_STATS_FLUSH_H
#define JD_STATS_FLUSH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "rconn.h"
#include "stats_count.h"
#include "util.h"

struct stats_sync;

/* Connect to Redis for the flushes (configurations copied). rcfg NULL: no Redis, the counts
 * serve the metrics endpoint only. NULL when out of memory. */
struct stats_sync *stats_sync_start(uv_loop_t *loop, const struct redis_conf *rcfg,
				    const struct stats_conf *scfg);
/* Merge a worker table into the counts waiting for the next flush, then reset the table. */
void stats_sync_merge(struct stats_sync *s, struct stats_table *t);
/* The GeoIP database's age in days for the instance heartbeat (-1: none); s may be NULL. */
void stats_sync_set_geo_age(struct stats_sync *s, long days);
/* Send the batch waiting for Redis, or make one of what is merged and send it. Call every
 * interval, after merging. */
void stats_sync_flush(struct stats_sync *s);
/* Counts waiting for Redis (merged but not yet written), for tests and the log. */
uint64_t stats_sync_pending_queries(const struct stats_sync *s);
/* Nothing waits for Redis: no batch in flight and nothing merged since. */
bool stats_sync_idle(const struct stats_sync *s);
/* Flush what is left (waiting at most [redis] timeout for Redis), then free everything. */
void stats_sync_stop(struct stats_sync *s);
/* The counts since start (owned by s), for the metrics endpoint. */
const struct stats_sums *stats_sync_totals(const struct stats_sync *s);
/* Whether the statistics connection to Redis is up (false without Redis). */
bool stats_sync_redis_up(const struct stats_sync *s);
/* Queries counted but not yet in Redis; 0 without Redis. */
uint64_t stats_sync_unwritten(const struct stats_sync *s);
/* The Prometheus exposition of the counts since start (rendered by metrics_text.c). */
void stats_sync_metrics(const struct stats_sync *s, struct strbuf *b);
/* The instance label: [stats] instance or the host name. */
const char *stats_sync_instance(const struct stats_sync *s);

#endif
