/* metrics.h - the Prometheus text endpoint (`[stats] metrics_listen`), on the control thread.
 * Labels are instance, group, reason, action, cache, rcode, transport, upstream (a server address
 * from the configuration) and le: never a client or a domain. */
#ifndef JD_METRICS_H
#define JD_METRICS_H

#include <uv.h>
#include "addr.h"
#include "util.h"

struct metrics;

/* Writes the exposition text into b. */
typedef void (*metrics_render_fn)(struct strbuf *b, void *data);

/* Listen on addr. NULL with the reason in err (address in use...). */
struct metrics *metrics_start(uv_loop_t *loop, const struct addr *listen, metrics_render_fn render,
			      void *data, char *err, size_t errlen);
/* Stop listening; open connections finish or time out. */
void metrics_stop(struct metrics *m);

struct worker;

/* What the render needs besides the per-client counts of stats.c. */
struct metrics_input {
	const char *instance;
	struct worker *const *workers; /* counters summed over all of them */
	unsigned nworkers;
	uint64_t cache_capacity;     /* [cache] size, bytes */
	long long geo_built;         /* unix time the GeoIP database was built; 0: none loaded */
	long long now;               /* unix time */
};

/* Writes the workers' figures: answer latency, rcodes, upstreams, cache, GeoIP age. */
void metrics_render_workers(struct strbuf *b, const struct metrics_input *in);

#endif
