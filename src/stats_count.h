/* stats_count.h - what a worker counts, on its hot path, without locks or Redis:
 *  - the per-client table (struct stats_table): counted per answer, handed to the control thread
 *    about once a second (a lock-free stack), merged and flushed there (stats_flush.h);
 *  - the live counters for /metrics (struct worker_stats): written by the worker only, read by
 *    the control thread with relaxed atomic loads (metrics_text.h). */
#ifndef JD_STATS_COUNT_H
#define JD_STATS_COUNT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "addr.h"
#include "groups.h"
#include "label.h"
#include "policy.h"

/* The [stats] section: read by the workers (enabled, recent) and the control thread. */
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

/* ---- the per-client table ---- */

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
	uint8_t kind;                /* 0 empty, 1 IP (16 bytes, v4 mapped), 2 MAC, 3 "other" */
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
	char why[LABEL_WHY_MAX];     /* label_why() of that reason: "operator:AS45102 Alibaba" */
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
	char why[LABEL_WHY_MAX];     /* label_why() of the reason */
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

/* An empty table (zeroed, caller frees with free()), or NULL when out of memory. */
struct stats_table *stats_table_new(void);
/* Empty a table for the next interval (cheap when nothing was counted). */
void stats_table_reset(struct stats_table *t);

/* Count one answer. mode: the client's; mac: the trusted MAC or NULL; sa: the client address;
 * label may be NULL; cached: from the cache; action: the verdict's. */
void stats_count(struct stats_table *t, enum pmode mode, const struct sockaddr *sa,
		 const uint8_t *mac, const struct label *l, const uint8_t *qname, size_t qlen,
		 bool cached, enum paction action);

/* Lock-free hand-over: a worker pushes, the control thread takes all at once. */
void stats_push(_Atomic(struct stats_table *) *stack, struct stats_table *t);
struct stats_table *stats_take_all(_Atomic(struct stats_table *) *stack);

/* Counts summed over tables (on the control thread), groups by name. */
struct stats_sums {
	uint64_t n[ST_NFIXED];
	uint64_t act[PACT_LOCAL + 1];
	unsigned ngroups;
	struct {
		char name[GROUP_NAME_MAX];
		uint64_t v[4];       /* any reason, hosted, operator, domain */
	} g[STATS_GROUPS];
};

/* Add c, counted in table t (whose group names it indexes), to a; groups past STATS_GROUPS are
 * left out. */
void stats_sums_add(struct stats_sums *a, const struct stats_counts *c, const struct stats_table *t);

/* The text id of a table's client: "192.0.2.1", "2001:db8::1", "aa:bb:cc:dd:ee:ff" or "other". */
void stats_client_id(const struct stats_client *c, char *buf, size_t len);

/* ---- the live counters for /metrics ---- */

/* A counter that one worker writes and the control thread reads for /metrics. A relaxed load
 * and store, not an atomic add: there is one writer, so it compiles to a plain add. */
typedef _Atomic uint64_t wcounter;

static inline void wc_add(wcounter *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void wc_set(wcounter *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t wc_get(const wcounter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Upper bounds (microseconds) of the answer latency histogram; a last bucket takes the rest. */
#define ANSWER_BUCKETS_US 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, \
			  500000, 1000000, 2500000
#define ANSWER_NBUCKETS 15

/* Where an answer came from, for the latency histogram. */
enum answer_kind {
	ANS_HIT,                     /* the cache */
	ANS_MISS,                    /* an upstream transaction (SERVFAIL when none answered included) */
	ANS_LOCAL,                   /* made here: the policy before any lookup, private zones */
	ANS_ERROR,                   /* made up at once: ACL REFUSED, FORMERR, NOTIMP, overload */
	ANS_KINDS
};

#define ANSWER_RCODES 7              /* NOERROR..REFUSED (0-5), then any other */

/* Upstream counter slots per worker. At most CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS (48)
 * addresses are in use at once; the rest of the table keeps the counts of servers that a reload
 * removed, in case they come back. When it is full, the slot of a server that no struct upstream
 * points at any more is reclaimed (stats_upstream_slot), so the table does not run out however
 * often reloads change the servers. */
#define UP_STATS_MAX 64

/* One upstream's counters in one worker, by address: an upstream that a reload keeps keeps its
 * counts. A slot is filled, then published by nups (release). Its address changes only when the
 * slot is reclaimed, between two increments of gen (odd while it changes: a seqlock, so that the
 * reader skips a slot it caught mid-change). */
struct up_stats {
	atomic_uint gen;
	unsigned refs;               /* struct upstreams pointing here (worker thread only) */
	struct addr addr;
	wcounter queries, tcp_queries, answers, timeouts, servfail;
	wcounter srtt_us;            /* smoothed round-trip time, 0 before the first answer */
	wcounter down;               /* 1 while marked down (failures), until it answers again */
	wcounter users;              /* struct upstreams on it in the worker's tables */
};

struct worker_stats {
	wcounter udp_queries, tcp_queries, dropped, truncated, dedup_joins;
	wcounter dot_queries, doh_queries; /* messages read over DoT, DoH streams served */
	wcounter upstream_bad, send_errors, tcp_clients, tcp_rejected;
	wcounter rcodes[ANSWER_RCODES]; /* answers sent to clients */
	wcounter latency[ANS_KINDS][ANSWER_NBUCKETS]; /* per bucket, not cumulative */
	wcounter latency_sum_ns[ANS_KINDS];
	wcounter cache_entries, cache_bytes, cache_evictions; /* copied every stats interval */
	atomic_uint nups;
	struct up_stats ups[UP_STATS_MAX + 1]; /* the last one: a spare, never shown (not reached) */
};

/* The worker's slot for the upstream at addr, with a reference taken: the one it has, else a
 * new one (published for the metrics), else a reclaimed one (of a server without references,
 * its counts dropped), else the unshown spare. Worker thread only. */
struct up_stats *stats_upstream_slot(struct worker_stats *st, const struct addr *addr);
/* Drop the reference of stats_upstream_slot (when its struct upstream is freed). */
void stats_upstream_unref(struct up_stats *u);

/* A consistent copy of one upstream slot, as read by the control thread. */
struct up_stats_view {
	struct addr addr;
	uint64_t queries, tcp_queries, answers, timeouts, servfail, srtt_us, down, users;
};

/* Copy slot i of st (i < nups, loaded with acquire). false: the slot is being reclaimed now,
 * skip it this time. */
bool stats_upstream_read(const struct worker_stats *st, unsigned i, struct up_stats_view *v);

#endif
