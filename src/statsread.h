/* statsread.h - reading the per-client statistics the daemons write to Redis ([stats],
 * docs/redis-schema.md "Statistics"), shared by jurisdns-ctl stats and the web console so that
 * both show the same numbers: the counters of one hash (S client:ID, S total, or one of their
 * hourly S ...:HOUR hashes) and the sum of a run of hourly hashes. Synchronous hiredis. */
#ifndef JD_STATSREAD_H
#define JD_STATSREAD_H

#include <stddef.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include "groups.h"
#include "label.h"

/* g:GROUP (any reason) and g:GROUP:hosted, :operator, :domain */
struct statsread_group {
	char name[GROUP_NAME_MAX];
	long long total, kind[LABEL_KINDS]; /* kind by enum label_kind */
};

struct statsread_counts {
	long long queries, cache_hits, blocked, rewritten;
	long long first_seen, last_seen;    /* unix s; 0 = not stored */
	unsigned ngroups;
	struct statsread_group g[GROUPS_MAX]; /* in the order first met */
};

/* The value of field in h (an HGETALL reply), NULL when h is NULL or has no such field. */
const char *statsread_hget(const redisReply *h, const char *field);
/* A counter of h as a number, 0 when absent. */
long long statsread_num(const redisReply *h, const char *field);
/* Add the counters of h (an HGETALL reply) into c: sums, first_seen the earliest, last_seen
 * the latest. Groups beyond GROUPS_MAX are left out. */
void statsread_add(struct statsread_counts *c, const redisReply *h);
/* The group named name in c, NULL when c has none. */
const struct statsread_group *statsread_group(const struct statsread_counts *c, const char *name);

/* HOUR of t as in the hourly keys (RSCHEMA_HOUR_FORMAT, UTC) into buf (>= 11 bytes). */
void statsread_hour(time_t t, char *buf, size_t len);
/* The hourly hashes S client:ID:HOUR of the nh hours that end with the hour of now (oldest
 * first), read in one pipeline: each added into per_hour[i] (may be NULL; nh zeroed entries)
 * and all into sum (may be NULL). Returns 0, or -1 with one line in err on a Redis error. */
int statsread_hours(redisContext *rc, const char *sbase, const char *id, time_t now, unsigned nh,
		    struct statsread_counts *per_hour, struct statsread_counts *sum, char *err,
		    size_t errlen);

/* One domain of a top list (S top:ID:GROUP) with why it was labelled (S why:ID:GROUP). */
struct statsread_top {
	char domain[256];
	long long count;
	char why[2 * LABEL_WHY_MAX]; /* "operator:AS45102 Alibaba"; "" when Redis has none */
};

/* The domains of S top:ID:GROUP, most counted first, at most max of them (0: all), each with its
 * why: into *out (caller frees with free(); NULL when none). Returns the count, or -1 with one
 * line in err on a Redis error or a key of the wrong type (the caller may drop the connection). */
int statsread_top(redisContext *rc, const char *sbase, const char *id, const char *group,
		  unsigned max, struct statsread_top **out, char *err, size_t errlen);

#endif
