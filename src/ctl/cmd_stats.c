/* cmd_stats.c - statistics from Redis. The keys (docs/redis-schema.md, "Statistics"):
 * S total and S client:ID (hashes), S clients (set), S top:ID:GROUP (sorted sets), S events
 * and S recent (streams), with S = P{stats}:. A client is shown with the name the daemon gives
 * it and with the vendor of its device when its MAC is known (the id itself, or its lease). */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include "cmd_stats.h"
#include "emit.h"
#include "fail.h"
#include "label.h"
#include "reply.h"
#include "rschema.h"
#include "statsread.h"
#include "utf8.h"
#include "util.h"

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* a counter, read as the web console reads it (statsread.h) */
static long long hnum(const redisReply *h, const char *field)
{
	return statsread_num(h, field);
}

/* "g:PRC=12 (hosted 10, operator 2)" for each group field of h */
static void group_summary(struct strbuf *b, const redisReply *h)
{
	bool any = false;

	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *f = h->element[i]->str;
		if (strncmp(f, "g:", 2) || strchr(f + 2, ':'))
			continue;
		char sub[GROUP_NAME_MAX + 16];
		sb_printf(b, "%s%s %s", any ? ", " : "", f + 2, h->element[i + 1]->str);
		bool first = true;
		for (int k = 0; k < 3; k++) {
			snprintf(sub, sizeof(sub), "%s:%s", f, label_kind_names[k]);
			const char *v = reply_hget(h, sub);
			if (v) {
				sb_printf(b, "%s%s %s", first ? " (" : ", ", label_kind_names[k], v);
				first = false;
			}
		}
		if (!first)
			sb_str(b, ")");
		any = true;
	}
	if (!any)
		sb_str(b, "none");
}

/* {"id":...,"name":...,"source":...,"vendor":...[,"made":"PRC"],"counters":{...}} */
static json_t *client_stats_json(struct ctl *c, const char *id, const redisReply *h)
{
	json_t *o = jobj(), *n = jobj();
	const struct oui_vendor *v;
	const char *source;
	char name[128];

	ctl_name_of(c, id, name, sizeof(name), &source);
	jset(o, "id", jstr(id));
	jset(o, "name", jstr(name));
	jset(o, "source", jstr(source));
	if (ctl_vendor(c, id, &v)) { /* as in the query log: only with a known MAC */
		jset(o, "vendor", jstr(v ? v->name : NULL));
		if (v && v->prc)
			jset(o, "made", jstr("PRC"));
	}
	jset_hash(n, h, true);
	jset(o, "counters", n);
	return o;
}

/* The top domains of id in group (max 0: all) as lines "COUNT  DOMAIN (WHY)" into b, or as
 * {"domain", "count", "why"} objects into l when l is not NULL. */
static void top_list(struct ctl *c, const char *id, const char *group, unsigned max, struct strbuf *b,
		     json_t *l)
{
	struct statsread_top *t;
	char err[600];
	int n = statsread_top(c->rc, c->sbase, id, group, max, &t, err, sizeof(err));

	if (n < 0)
		die("%s", err);
	for (int i = 0; i < n; i++) {
		if (l) {
			json_t *o = jobj();
			jset(o, "domain", jstr(t[i].domain));
			jset(o, "count", jint(t[i].count));
			jset(o, "why", jstr(t[i].why[0] ? t[i].why : NULL));
			jpush(l, o);
		} else {
			bool w = t[i].why[0];
			sb_printf(b, "%10lld  %s%s%s%s\n", t[i].count, t[i].domain, w ? " (" : "", w ? t[i].why : "",
				  w ? ")" : "");
		}
	}
	free(t);
}

/* {"PRC": [top_list objects]} / "top in PRC:" lines for the groups of the client hash h, the
 * first STATS_TOP_SHOWN domains of each, as the web console's device page shows them */
#define STATS_TOP_SHOWN 10
static void top_of_groups(struct ctl *c, const char *id, const redisReply *h, struct strbuf *b, json_t *o)
{
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *f = h->element[i]->str;
		if (strncmp(f, "g:", 2) || strchr(f + 2, ':'))
			continue;
		json_t *l = o ? jarr() : NULL;
		if (!o)
			sb_printf(b, "top in %s:\n", f + 2);
		top_list(c, id, f + 2, STATS_TOP_SHOWN, b, l);
		if (l)
			jset(o, f + 2, l);
	}
}

static void stats_one(struct ctl *c, const char *arg)
{
	struct strbuf b = { 0 };
	char id[128], name[128], t1[32] = "-", t2[32] = "-";
	const char *source;
	struct tm tm;

	ctl_resolve(c, arg, id, sizeof(id));
	redisReply *h = ctl_cmd(c, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s", c->sbase, id);
	if (h->type != REDIS_REPLY_ARRAY || !h->elements)
		die("no statistics for client '%s'", id);
	if (c->json) {
		json_t *o = client_stats_json(c, id, h), *top = jobj();
		top_of_groups(c, id, h, NULL, top);
		jset(o, "top", top);
		emit_json(o);
		freeReplyObject(h);
		return;
	}
	ctl_name_of(c, id, name, sizeof(name), &source);
	sb_printf(&b, "client: %s%s%s%s\n", id, name[0] ? " (" : "", name, name[0] ? ")" : "");
	if (source)
		sb_printf(&b, "source: %s\n", source);
	const struct oui_vendor *v;
	if (ctl_vendor(c, id, &v))
		sb_printf(&b, "vendor: %s\n%s", v ? v->name : "unknown", v && v->prc ? "made: PRC\n" : "");
	sb_printf(&b, "queries: %lld\ncache hits: %lld\nblocked: %lld\nrewritten: %lld\n",
		  hnum(h, "queries"), hnum(h, "cache_hits"), hnum(h, "blocked"), hnum(h, "rewritten"));
	sb_str(&b, "groups: ");
	group_summary(&b, h);
	time_t first = (time_t)hnum(h, "first_seen"), last = (time_t)hnum(h, "last_seen");
	if (first && gmtime_r(&first, &tm))
		strftime(t1, sizeof(t1), "%Y-%m-%d %H:%M UTC", &tm);
	if (last && gmtime_r(&last, &tm))
		strftime(t2, sizeof(t2), "%Y-%m-%d %H:%M UTC", &tm);
	sb_printf(&b, "\nfirst seen: %s\nlast seen: %s\n", t1, t2);
	top_of_groups(c, id, h, &b, NULL);
	freeReplyObject(h);
	emit_text(&b);
}

/* "Huawei Device Co., Ltd. [PRC]" cut to the column; "unknown" for a MAC no registration
 * covers, "-" when no MAC is known. */
static void vendor_cell(struct ctl *c, const char *id, char *buf, size_t len)
{
	const struct oui_vendor *v;

	if (!ctl_vendor(c, id, &v))
		snprintf(buf, len, "-");
	else if (!v)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%.*s%s", (int)utf8_prefix(v->name, v->prc ? 18 : 24), v->name,
			 v->prc ? " [PRC]" : "");
}

static void stats_all(struct ctl *c)
{
	struct strbuf b = { 0 };
	char name[128], vend[64];
	const char *source;
	char **ids;
	redisReply *t = ctl_cmd(c, "HGETALL %s" RSCHEMA_STATS_TOTAL, c->sbase);
	redisReply *m = ctl_cmd(c, "SMEMBERS %s" RSCHEMA_STATS_CLIENTS, c->sbase);
	json_t *doc = NULL, *list = NULL;

	if (t->type != REDIS_REPLY_ARRAY || m->type != REDIS_REPLY_ARRAY)
		die("Redis: the statistics keys have the wrong type");
	if (!(ids = calloc(m->elements + 1, sizeof(char *))))
		die("out of memory");
	for (size_t i = 0; i < m->elements; i++)
		ids[i] = m->element[i]->str;
	qsort(ids, m->elements, sizeof(char *), by_str);
	if (c->json) {
		json_t *tot = jobj();
		doc = jobj();
		list = jarr();
		jset_hash(tot, t, true);
		jset(doc, "total", tot);
		jset(doc, "clients", list);
	} else {
		sb_printf(&b, "total: %lld queries, %lld cache hits, %lld blocked, %lld rewritten; groups: ",
			  hnum(t, "queries"), hnum(t, "cache_hits"), hnum(t, "blocked"), hnum(t, "rewritten"));
		group_summary(&b, t);
		sb_printf(&b, "\n\n%-20s %-20s %-10s %-24s %9s %8s %8s  %s\n", "CLIENT", "NAME", "SOURCE",
			  "VENDOR", "QUERIES", "HITS", "BLOCKED", "GROUPS");
	}
	for (size_t i = 0; ids[i]; i++) {
		redisReply *h = ctl_cmd(c, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s", c->sbase, ids[i]);
		if (list) {
			jpush(list, client_stats_json(c, ids[i], h));
		} else {
			ctl_name_of(c, ids[i], name, sizeof(name), &source);
			vendor_cell(c, ids[i], vend, sizeof(vend));
			sb_printf(&b, "%-20s %-20.20s %-10s %-24s %9lld %8lld %8lld  ", ids[i], name,
				  source ? source : "-", vend, hnum(h, "queries"), hnum(h, "cache_hits"),
				  hnum(h, "blocked"));
			group_summary(&b, h);
			sb_str(&b, "\n");
		}
		freeReplyObject(h);
	}
	free(ids);
	freeReplyObject(m);
	freeReplyObject(t);
	if (doc)
		emit_json(doc);
	else
		emit_text(&b);
}

int cmd_stats(struct ctl *c, int argc, char **argv)
{
	if (argc > 2)
		usage_error("stats: unexpected argument '%s'", argv[2]);
	if (argc == 2)
		stats_one(c, argv[1]);
	else
		stats_all(c);
	return 0;
}

int cmd_top(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	char id[128];
	const char *groups[GROUPS_MAX];
	unsigned ng = 0;
	redisReply *h = NULL;
	json_t *doc = c->json ? jobj() : NULL;

	if (argc < 2 || argc > 3)
		usage_error("top: expected CLIENT [GROUP]%s", "");
	ctl_resolve(c, argv[1], id, sizeof(id));
	if (argc == 3) {
		groups[ng++] = argv[2];
	} else {
		h = ctl_cmd(c, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s", c->sbase, id);
		if (h->type != REDIS_REPLY_ARRAY || !h->elements)
			die("no statistics for client '%s'", id);
		for (size_t i = 0; i + 1 < h->elements && ng < GROUPS_MAX; i += 2) {
			const char *f = h->element[i]->str;
			if (!strncmp(f, "g:", 2) && !strchr(f + 2, ':'))
				groups[ng++] = f + 2;
		}
	}
	for (unsigned g = 0; g < ng; g++) {
		json_t *l = doc ? jarr() : NULL;
		if (!doc)
			sb_printf(&b, "%s%s:\n", g ? "\n" : "", groups[g]);
		top_list(c, id, groups[g], 0, &b, l);
		if (l)
			jset(doc, groups[g], l);
	}
	if (doc)
		emit_json(doc);
	else
		emit_text(&b);
	if (h)
		freeReplyObject(h);
	return 0;
}

/* One stream entry as a line or a JSON object. */
static void event_out(struct ctl *c, struct strbuf *b, const redisReply *e)
{
	const redisReply *f = e->element[1];
	char name[128] = "";
	const char *client = reply_hget(f, "client");

	if (client)
		ctl_name_of(c, client, name, sizeof(name), NULL);
	if (c->json) {
		json_t *o = jobj();
		jset(o, "id", jstr(e->element[0]->str));
		jset_hash(o, f, false);
		jset(o, "name", jstr(name));
		emit_json_line(b, o); /* one object per line */
		return;
	}
	const char *ts = reply_hget(f, "ts"), *type = reply_hget(f, "type"), *group = reply_hget(f, "group"),
		   *dom = reply_hget(f, "domain"), *reason = reply_hget(f, "reason"),
		   *action = reply_hget(f, "action"), *why = reply_hget(f, "why");
	time_t t = (time_t)strtoll(ts ? ts : "0", NULL, 10);
	char when[32] = "-";
	struct tm tm;
	if (why && why[0])
		reason = why; /* "operator:AS45102 Alibaba" rather than the kind alone */
	if (t && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	sb_printf(b, "%s  %s", when, client ? client : "?");
	if (name[0])
		sb_printf(b, " (%s)", name);
	if (!type)
		sb_printf(b, "  %s %s (%s:%s)\n", action ? action : "?", dom ? dom : "?", group ? group : "?",
			  reason ? reason : "?");
	else if (!strcmp(type, "group"))
		sb_printf(b, "  first contact with %s\n", group ? group : "?");
	else
		sb_printf(b, "  new domain in %s: %s (%s)\n", group ? group : "?", dom ? dom : "?",
			  reason ? reason : "?");
}

int cmd_tail(struct ctl *c, int argc, char **argv)
{
	long long n = 10;
	bool follow = false;
	char last[64] = "$";
	const char *stream = RSCHEMA_STATS_EVENTS;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
			follow = true;
		else if (!strcmp(argv[i], "--queries"))
			stream = RSCHEMA_STATS_RECENT;
		else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			uint64_t v;
			if (parse_uint(argv[++i], 0, 100000, 0, &v) < 0)
				usage_error("tail -n '%s': expected a number", argv[i]);
			n = (long long)v;
		} else
			usage_error("tail: unexpected argument '%s' (-n N, -f, --queries)", argv[i]);
	}
	redisReply *r = ctl_cmd(c, "XREVRANGE %s%s + - COUNT %lld", c->sbase, stream, n);
	if (r->type != REDIS_REPLY_ARRAY)
		die("Redis: %s%s is not a stream", c->sbase, stream);
	struct strbuf b = { 0 };
	for (size_t i = r->elements; i-- > 0;)
		event_out(c, &b, r->element[i]);
	if (r->elements)
		snprintf(last, sizeof(last), "%s", r->element[0]->element[0]->str);
	freeReplyObject(r);
	emit_text(&b);
	fflush(stdout);
	if (!follow)
		return 0;
	/* follow: block without a client timeout (the server side BLOCK does the waiting) */
	struct timeval none = { 0, 0 };
	redisSetTimeout(c->rc, none);
	for (;;) {
		r = ctl_cmd(c, "XREAD COUNT 100 BLOCK 0 STREAMS %s%s %s", c->sbase, stream, last);
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
			const redisReply *entries = r->element[0]->element[1];
			for (size_t i = 0; i < entries->elements; i++) {
				event_out(c, &b, entries->element[i]);
				snprintf(last, sizeof(last), "%s", entries->element[i]->element[0]->str);
			}
			emit_text(&b);
			fflush(stdout);
		}
		freeReplyObject(r);
	}
}
