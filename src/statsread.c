/* statsread.c - the statistics hashes read back as numbers. */
#include "config.h"
#include <stdbool.h>
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

/* A reply of redisCommand as an error line; true when it is one. */
static bool statsread_failed(redisContext *rc, const redisReply *r, int want, const char *what,
			     char *err, size_t errlen)
{
	if (!r)
		snprintf(err, errlen, "Redis: %s", rc->errstr[0] ? rc->errstr : "no reply");
	else if (r->type == REDIS_REPLY_ERROR)
		snprintf(err, errlen, "Redis: %s", r->str);
	else if (r->type != want)
		snprintf(err, errlen, "Redis: %s has the wrong type", what);
	else
		return false;
	return true;
}

int statsread_top(redisContext *rc, const char *sbase, const char *id, const char *group,
		  unsigned max, struct statsread_top **out, char *err, size_t errlen)
{
	char key[512];
	redisReply *z, *w = NULL;
	struct statsread_top *t;
	size_t n;

	*out = NULL;
	snprintf(key, sizeof(key), "%s" RSCHEMA_STATS_TOP "%s:%s", sbase, id, group);
	z = redisCommand(rc, "ZREVRANGE %s 0 %lld WITHSCORES", key, max ? (long long)max - 1 : -1LL);
	if (statsread_failed(rc, z, REDIS_REPLY_ARRAY, key, err, errlen)) {
		if (z)
			freeReplyObject(z);
		return -1;
	}
	if (!(n = z->elements / 2)) {
		freeReplyObject(z);
		return 0;
	}
	/* HMGET S why:ID:GROUP with the members: one value (or nil) per domain, in order */
	const char **argv = calloc(n + 2, sizeof(*argv));
	size_t *argvlen = calloc(n + 2, sizeof(*argvlen));
	t = calloc(n, sizeof(*t));
	snprintf(key, sizeof(key), "%s" RSCHEMA_STATS_WHY "%s:%s", sbase, id, group);
	if (argv && argvlen && t) {
		argv[0] = "HMGET";
		argv[1] = key;
		for (size_t i = 0; i < n; i++) {
			const redisReply *d = z->element[2 * i];
			argv[i + 2] = d->type == REDIS_REPLY_STRING ? d->str : "";
			argvlen[i + 2] = d->type == REDIS_REPLY_STRING ? d->len : 0;
		}
		argvlen[0] = 5;
		argvlen[1] = strlen(key);
		w = redisCommandArgv(rc, (int)n + 2, argv, argvlen);
	} else {
		snprintf(err, errlen, "out of memory");
	}
	free(argv);
	free(argvlen);
	if (!t || statsread_failed(rc, w, REDIS_REPLY_ARRAY, key, err, errlen)) {
		free(t);
		freeReplyObject(z);
		if (w)
			freeReplyObject(w);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *d = z->element[2 * i], *c = z->element[2 * i + 1],
				 *y = i < w->elements ? w->element[i] : NULL;
		snprintf(t[i].domain, sizeof(t[i].domain), "%s", d->type == REDIS_REPLY_STRING ? d->str : "");
		t[i].count = c->type == REDIS_REPLY_STRING ? strtoll(c->str, NULL, 10) : 0;
		if (y && y->type == REDIS_REPLY_STRING)
			snprintf(t[i].why, sizeof(t[i].why), "%s", y->str);
	}
	freeReplyObject(z);
	freeReplyObject(w);
	*out = t;
	return (int)n;
}
