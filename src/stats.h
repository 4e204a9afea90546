/* stats.h - per-client statistics: counted by the workers in memory (no locks, no Redis),
 * merged by the control thread about once a second and written to Redis in one script call
 * per flush, exactly once (a per-instance flush sequence the script applies once).
 * The keys are in docs/redis-schema.md. */
#ifndef JD_STATS_H
#define JD_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "groups.h"
#include "label.h"
#include "policy.h"
#include "rconn.h"
#include "util.h"

#define STATS_CLIENTS 256        /* distinct clients per worker table; more go to "other" */
#define STATS_DOMAINS 512        /* (client, group, domain) entries per worker table */
#define STATS_GROUPS 16          /* distinct groups per table */

enum stat_counter { ST_QUERIES, ST_HITS, ST_BLOCKED, ST_REWRITTEN, ST_NFIXED };

/* per group: any reason, hosted, operator, domain */
struct stats_counts {
	uint32_t n[ST_NFIXED];
	uint32_t g[STATS_GROUPS][4];
	uint32_t act[PACT_LOCAL + 1];
};

struct stats_client {
	uint8_t kind;                /* 0 empty, 1 IP (16 bytes, v4 mapped), 2 MAC */
	uint8_t key[16];
	struct stats_counts c;
};

struct stats_domain {
	uint16_t client;             /* index in clients[] */
	uint8_t group;               /* index in gnames[] */
	uint8_t kind;                /* the first reason seen: enum label_kind */
	uint32_t count;
	uint8_t len;
	uint8_t name[255];           /* lower-case wire */
};

#define STATS_RECENT 64          /* labelled queries kept per worker table for `recent` */

struct stats_recent {
	uint64_t ts;                 /* unix seconds */
	uint8_t kind;                /* client: as in struct stats_client */
	uint8_t key[16];
	uint8_t group;               /* index in gnames[] */
	uint8_t reason;              /* enum label_kind */
	uint8_t action;              /* enum paction */
	uint8_t len;
	uint8_t name[255];
};

/* One worker's counts for one interval. */
struct stats_table {
	struct stats_table *next;    /* in a worker's done or free stack */
	uint32_t nclients, ndomains, ngroups, used;
	char gnames[STATS_GROUPS][GROUP_NAME_MAX];
	struct stats_counts total;   /* every query, mode off included */
	struct stats_client clients[STATS_CLIENTS]; /* open addressing */
	struct stats_domain domains[STATS_DOMAINS];
	uint32_t dom_index[STATS_DOMAINS * 2]; /* domain index + 1 by hash */
	bool keep_recent;            /* [stats] recent > 0 */
	uint32_t nrecent;            /* labelled queries seen; the last STATS_RECENT are kept */
	struct stats_recent recent[STATS_RECENT];
};

struct stats_table *stats_table_new(void);
void stats_table_reset(struct stats_table *t);

/* Count one answer. mode: the client's; mac: the trusted MAC or NULL; sa: the client address;
 * label may be NULL; cached: from the cache; action: the verdict's. */
void stats_count(struct stats_table *t, enum pmode mode, const struct sockaddr *sa,
		 const uint8_t *mac, const struct label *l, const uint8_t *qname, size_t qlen,
		 bool cached, enum paction action);

/* Lock-free hand-over: a worker pushes, the control thread takes all at once. */
void stats_push(_Atomic(struct stats_table *) *stack, struct stats_table *t);
struct stats_table *stats_take_all(_Atomic(struct stats_table *) *stack);

/* ---- the control thread ---- */

struct stats_conf {
	bool enabled;
	char instance[64];           /* "" = host name */
	unsigned interval;           /* ms between flushes */
	unsigned retention;          /* hours the hourly buckets live */
	unsigned top_domains;        /* per client and group */
	unsigned events;             /* first-contact stream length */
	char metrics_listen[64];     /* "" = no metrics endpoint */
	unsigned recent;             /* length of the recent labelled queries stream, 0 = off */
};

struct stats_sync;

/* Connect to Redis for the flushes (configurations copied). rcfg NULL: no Redis, the counts
 * serve the metrics endpoint only. */
struct stats_sync *stats_sync_start(uv_loop_t *loop, const struct redis_conf *rcfg,
				    const struct stats_conf *scfg);
/* Merge a worker table into the counts waiting for the next flush, then reset the table. */
void stats_sync_merge(struct stats_sync *s, struct stats_table *t);
void stats_sync_set_geo_age(struct stats_sync *s, long days);
/* Send the batch waiting for Redis, or make one of what is merged and send it. Call every
 * interval, after merging. */
void stats_sync_flush(struct stats_sync *s);
/* Counts waiting for Redis (merged but not yet written), for tests and the log. */
uint64_t stats_sync_pending_queries(const struct stats_sync *s);
bool stats_sync_idle(const struct stats_sync *s);
/* Flush what is left (waiting at most [redis] timeout for Redis), then free everything. */
void stats_sync_stop(struct stats_sync *s);
/* The Prometheus exposition of the counts since start. */
void stats_sync_metrics(const struct stats_sync *s, struct strbuf *b);
/* The instance label: [stats] instance or the host name. */
const char *stats_sync_instance(const struct stats_sync *s);

extern const char stats_script[];

#endif
