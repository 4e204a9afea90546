/* statsread.c - the statistics hashes read back as numbers. */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rschema.h"
#include "statsread.h"

const char *statsread_hget(const redisReply *h, const char *field)
{
	if (!h || h->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < h->elements; i += 2)
		if (h->element[i]->type == REDIS_REPLY_STRING && h->element[i + 1]->type == REDIS_REPLY_STRING &&
		    !strcmp(h->element[i]->str, field))
			return h->element[i + 1]->str;
	return NULL;
}

long long statsread_num(const redisReply *h, const char *field)
{
	const char *v = statsread_hget(h, field);

	return v ? strtoll(v, NULL, 10) : 0;
}

static struct statsread_group *group_slot(struct statsread_counts *c, const char *name, size_t len)
{
	if (!len || len >= GROUP_NAME_MAX)
		return NULL;
	for (unsigned i = 0; i < c->ngroups; i++)
		if (strlen(c->g[i].name) == len && !memcmp(c->g[i].name, name, len))
			return &c->g[i];
	if (c->ngroups >= GROUPS_MAX)
		return NULL;
	struct statsread_group *g = &c->g[c->ngroups++];
	memset(g, 0, sizeof(*g));
	memcpy(g->name, name, len);
	return g;
}

void statsread_add(struct statsread_counts *c, const redisReply *h)
{
	if (!h || h->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const redisReply *f = h->element[i], *v = h->element[i + 1];
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		long long n = strtoll(v->str, NULL, 10);
		if (!strcmp(f->str, "queries"))
			c->queries += n;
		else if (!strcmp(f->str, "cache_hits"))
			c->cache_hits += n;
		else if (!strcmp(f->str, "blocked"))
			c->blocked += n;
		else if (!strcmp(f->str, "rewritten"))
			c->rewritten += n;
		else if (!strcmp(f->str, "first_seen")) {
			if (n && (!c->first_seen || n < c->first_seen))
				c->first_seen = n;
		} else if (!strcmp(f->str, "last_seen")) {
			if (n > c->last_seen)
				c->last_seen = n;
		} else if (!strncmp(f->str, "g:", 2)) {
			const char *name = f->str + 2, *colon = strchr(name, ':');
			struct statsread_group *g = group_slot(c, name, colon ? (size_t)(colon - name) : strlen(name));
			int k = colon ? label_kind_parse(colon + 1) : -1;
			if (!g)
				continue;
			if (!colon)
				g->total += n;
			else if (k >= 0)
				g->kind[k] += n;
		}
	}
}

const struct statsread_group *statsread_group(const struct statsread_counts *c, const char *name)
{
	for (unsigned i = 0; i < c->ngroups; i++)
		if (!strcmp(c->g[i].name, name))
			return &c->g[i];
	return NULL;
}

void statsread_hour(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, RSCHEMA_HOUR_FORMAT, &tm))
		snprintf(buf, len, "0000000000");
}

int statsread_hours(redisContext *rc, const char *sbase, const char *id, time_t now, unsigned nh,
		    struct statsread_counts *per_hour, struct statsread_counts *sum, char *err,
		    size_t errlen)
{
	char hour[16];
	int rc_ok = 0;

	now -= now % 3600;
	for (unsigned i = 0; i < nh; i++) {
		statsread_hour(now - (time_t)(nh - 1 - i) * 3600, hour, sizeof(hour));
		if (redisAppendCommand(rc, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s:%s", sbase, id, hour) != REDIS_OK) {
			snprintf(err, errlen, "out of memory");
			return -1; /* the connection is out of step: the caller drops it */
		}
	}
	for (unsigned i = 0; i < nh; i++) {
		redisReply *r;
		if (redisGetReply(rc, (void **)&r) != REDIS_OK || !r) {
			snprintf(err, errlen, "Redis: %s", rc->errstr[0] ? rc->errstr : "no reply");
			return -1;
		}
		if (r->type == REDIS_REPLY_ERROR && !rc_ok) {
			snprintf(err, errlen, "Redis: %s", r->str);
			rc_ok = -1;
		}
		if (per_hour)
			statsread_add(&per_hour[i], r);
		if (sum)
			statsread_add(sum, r);
		freeReplyObject(r);
	}
	return rc_ok;
}
