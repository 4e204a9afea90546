/* report.c - jurisdns-ctl report --html: the statistics in Redis as one self-contained page.
 *
 * The page loads nothing and runs nothing (inline CSS and SVG, no script): it is meant to be
 * mailed, archived and opened offline, and a report about where devices talk to must not talk
 * to anywhere itself. Every count is printed exactly as Redis returned it, and the key numbers
 * carry data-* attributes so that a test (or a scraper) can compare them with Redis. Everything
 * read from Redis is untrusted text (client ids, DHCP host names, domains): it is escaped.
 * The work is bounded: REP_READ client hashes, REP_ROWS rows, REP_CHARTS charts of at most
 * REP_MAX_DAYS * 24 hours. The schema is in docs/redis-schema.md ("Statistics"). */
#include "config.h"
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include "ctl/reply.h"
#include "ctl/utf8.h"
#include "label.h"
#include "report.h"
#include "rschema.h"
#include "util.h"

#define REP_READ 10000       /* client hashes read, to find the most exposed */
#define REP_ROWS 200         /* rows of the device table (and devices with top domains) */
#define REP_CHARTS 12        /* devices with an exposure chart */
#define REP_GROUPS 16        /* groups shown: as many as a worker counts (STATS_GROUPS) */
#define REP_INSTANCES 64
#define REP_SCANS 1000       /* SCAN calls looking for heartbeats */
#define REP_EVENTS 50
#define REP_MAX_DAYS 90
#define REP_PALETTE 8
#define REP_FLUSH 65536      /* the page goes out in pieces of about this size */

/* chart geometry, in SVG user units */
#define CH_W 960
#define CH_H 200
#define CH_ML 56
#define CH_MR 8
#define CH_MT 26
#define CH_MB 34
#define CH_PW (CH_W - CH_ML - CH_MR)
#define CH_PH (CH_H - CH_MT - CH_MB)

static const char *const palette[REP_PALETTE] = { "#c0392b", "#2471a3", "#d68910", "#229954",
						  "#7d3c98", "#17a589", "#a04000", "#5d6d7e" };

struct dev {
	const char *id;              /* in rep.members */
	redisReply *h;               /* HGETALL client:ID */
	unsigned long long gsum;     /* g:GROUP summed over its groups: the sort key */
	unsigned long long queries;
	char *name;                  /* the policy's name, the lease's host name, or NULL */
	const struct oui_vendor *vendor; /* who made it (the caller's table), or NULL */
};

struct rep {
	redisContext *rc;
	const char *sb, *pb;         /* stats and policy key bases */
	time_t now;
	FILE *out;
	struct strbuf b;
	char *err;
	size_t errlen;
	redisReply *total, *members;
	const char *groups[REP_GROUPS]; /* in total or in a client hash, sorted */
	unsigned ngroups;
	struct dev *devs;
	size_t ndevs, nrows;
	unsigned days, nhours;
	time_t hour0;                /* the start of the first hour charted */
	int (*client_name)(void *ctx, const char *id, char *buf, size_t len, char *err, size_t errlen);
	int (*client_vendor)(void *ctx, const char *id, const struct oui_vendor **out, char *err,
			     size_t errlen);
	void *ctx;
};

/* ---- errors and Redis ---- */

static int rep_fail(struct rep *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rep_fail(struct rep *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err[0])
		return -1; /* the first error is the one worth reporting */
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *rc_errstr(const struct rep *r)
{
	return r->rc->errstr[0] ? r->rc->errstr : "no reply";
}

/* x, or NULL with err set when there is none or it is an error reply (then freed). */
static redisReply *checked(struct rep *r, redisReply *x)
{
	if (!x) {
		rep_fail(r, "Redis: %s", rc_errstr(r));
		return NULL;
	}
	if (x->type == REDIS_REPLY_ERROR) {
		rep_fail(r, "Redis: %s", x->str);
		freeReplyObject(x);
		return NULL;
	}
	return x;
}

static redisReply *rcmd(struct rep *r, const char *fmt, ...)
{
	va_list ap;
	redisReply *x;

	va_start(ap, fmt);
	x = redisvCommand(r->rc, fmt, ap);
	va_end(ap);
	return checked(r, x);
}

/* Read the replies of `sent` appended commands into v[0..n) (NULL for a failed one); every
 * reply is read even after an error, so that the connection stays in step. sent < n means
 * that appending ran out of memory. */
static int pipe_read(struct rep *r, redisReply **v, size_t n, size_t sent)
{
	int ret = 0;

	memset(v, 0, n * sizeof(*v));
	for (size_t i = 0; i < sent; i++) {
		void *x = NULL;
		if (redisGetReply(r->rc, &x) != REDIS_OK)
			return rep_fail(r, "Redis: %s", rc_errstr(r)); /* the connection is gone */
		if (!(v[i] = checked(r, x)))
			ret = -1;
	}
	return sent < n ? rep_fail(r, "out of memory") : ret;
}

static void free_replies(redisReply **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (v[i])
			freeReplyObject(v[i]);
	free(v);
}

/* A hash as HGETALL returns it: field, value, ... all strings. */
static bool is_hash(const redisReply *h)
{
	if (h->type != REDIS_REPLY_ARRAY || h->elements % 2)
		return false;
	for (size_t i = 0; i < h->elements; i++)
		if (h->element[i]->type != REDIS_REPLY_STRING)
			return false;
	return true;
}

/* The value as Redis has it; a field that was never incremented is absent and means 0. */
static const char *hval(const redisReply *h, const char *field)
{
	const char *v = reply_hget(h, field);
	return v ? v : "0";
}

static unsigned long long num(const char *s)
{
	return s ? strtoull(s, NULL, 10) : 0;
}

/* A g:GROUP field (not g:GROUP:kind): the group's name, else NULL. */
static const char *group_of(const char *field)
{
	if (strncmp(field, "g:", 2) || !field[2] || strchr(field + 2, ':'))
		return NULL;
	return field + 2;
}

/* ---- text ---- */

/* The length of the valid UTF-8 sequence at p that a page may show, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned long cp;
	size_t len = utf8_decode(p, n, &cp);

	if (!len)
		return 0;
	/* bidirectional overrides and isolates could make a name read as another one */
	if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return len;
}

/* s as HTML text or a double-quoted attribute value: markup characters as entities; control
 * characters and bytes that are not UTF-8 as U+FFFD, so the page stays valid UTF-8 whatever a
 * device or a DHCP server put in Redis. */
static void sb_html_n(struct strbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0, i = 0;

	while (i < n) {
		const char *rep = NULL;
		size_t len = 1;
		switch (p[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f || !(len = utf8_seq(p + i, n - i)))
				rep = "\xef\xbf\xbd";
		}
		if (!rep) {
			i += len;
			continue;
		}
		sb_put(b, s + run, i - run);
		sb_str(b, rep);
		run = ++i;
	}
	sb_put(b, s + run, n - run);
}

static void sb_html(struct strbuf *b, const char *s)
{
	sb_html_n(b, s, strlen(s));
}

/* unix seconds (text from Redis) as "YYYY-MM-DD HH:MM:SS", or "-" */
static void fmt_unix(char *buf, size_t len, const char *s)
{
	time_t t = (time_t)num(s);
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "-");
}

static void fmt_time(char *buf, size_t len, time_t t, const char *fmt)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, fmt, &tm))
		snprintf(buf, len, "?");
}

/* A cell with a count as Redis has it; attrs name it for machines. */
static void num_cell(struct strbuf *b, const char *client, const char *field, const char *v)
{
	sb_str(b, "<td class=\"n\" data-client=\"");
	sb_html(b, client);
	sb_str(b, "\" data-field=\"");
	sb_html(b, field);
	sb_str(b, "\">");
	sb_html(b, v);
	sb_str(b, "</td>");
}

static void pct(struct strbuf *b, unsigned long long part, unsigned long long whole)
{
	if (whole)
		sb_printf(b, "%.1f%%", 100.0 * (double)part / (double)whole);
	else
		sb_str(b, "-");
}

static const char *dev_label(const struct dev *d)
{
	return d->name ? d->name : d->id;
}

/* Write what is buffered. Pieces keep a page with 12 charts of 90 days out of one big buffer. */
static int flush_out(struct rep *r, bool final)
{
	if (r->b.oom)
		return rep_fail(r, "out of memory");
	if (r->b.len && fwrite(r->b.s, 1, r->b.len, r->out) != r->b.len)
		return rep_fail(r, "writing the report: %s", strerror(errno));
	r->b.len = 0;
	if (final && fflush(r->out) != 0)
		return rep_fail(r, "writing the report: %s", strerror(errno));
	return 0;
}

static int maybe_flush(struct rep *r)
{
	return r->b.len >= REP_FLUSH || r->b.oom ? flush_out(r, false) : 0;
}

/* ---- reading ---- */

static void add_group(struct rep *r, const char *g)
{
	for (unsigned i = 0; i < r->ngroups; i++)
		if (!strcmp(r->groups[i], g))
			return;
	if (r->ngroups < REP_GROUPS)
		r->groups[r->ngroups++] = g;
}

static void add_groups(struct rep *r, const redisReply *h)
{
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *g = group_of(h->element[i]->str);
		if (g)
			add_group(r, g);
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Most exposed first: queries into the groups, then queries, then the id (a stable page). */
static int cmp_dev(const void *a, const void *b)
{
	const struct dev *x = a, *y = b;

	if (x->gsum != y->gsum)
		return x->gsum < y->gsum ? 1 : -1;
	if (x->queries != y->queries)
		return x->queries < y->queries ? 1 : -1;
	return strcmp(x->id, y->id);
}

static int read_total(struct rep *r)
{
	if (!(r->total = rcmd(r, "HGETALL %s" RSCHEMA_STATS_TOTAL, r->sb)))
		return -1;
	if (!is_hash(r->total))
		return rep_fail(r, "Redis: %s" RSCHEMA_STATS_TOTAL " is not a hash", r->sb);
	return 0;
}

static void dev_sums(struct dev *d)
{
	d->queries = num(reply_hget(d->h, "queries"));
	for (size_t i = 0; i + 1 < d->h->elements; i += 2)
		if (group_of(d->h->element[i]->str))
			d->gsum += num(d->h->element[i + 1]->str);
}

/* Every client's hash (up to REP_READ), pipelined, sorted by exposure. */
static int read_devices(struct rep *r)
{
	size_t n, sent = 0;
	redisReply **v;

	if (!(r->members = rcmd(r, "SMEMBERS %s" RSCHEMA_STATS_CLIENTS, r->sb)))
		return -1;
	if (r->members->type != REDIS_REPLY_ARRAY)
		return rep_fail(r, "Redis: %sclients is not a set", r->sb);
	n = r->members->elements < REP_READ ? r->members->elements : REP_READ;
	if (!n)
		return 0;
	r->devs = calloc(n, sizeof(*r->devs));
	v = calloc(n, sizeof(*v));
	if (!r->devs || !v) {
		free(v);
		return rep_fail(r, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (r->members->element[i]->type != REDIS_REPLY_STRING) {
			free(v);
			return rep_fail(r, "Redis: %sclients has a member that is not a string", r->sb);
		}
	while (sent < n && redisAppendCommand(r->rc, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s", r->sb,
					      r->members->element[sent]->str) == REDIS_OK)
		sent++;
	int ret = pipe_read(r, v, n, sent);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		struct dev *d = &r->devs[r->ndevs++];
		d->id = r->members->element[i]->str;
		d->h = v[i];
		v[i] = NULL;
		if (!is_hash(d->h))
			ret = rep_fail(r, "Redis: %s" RSCHEMA_STATS_CLIENT "%s is not a hash", r->sb, d->id);
		else
			dev_sums(d);
	}
	free_replies(v, n);
	if (ret < 0)
		return -1;
	qsort(r->devs, r->ndevs, sizeof(*r->devs), cmp_dev);
	r->nrows = r->ndevs < REP_ROWS ? r->ndevs : REP_ROWS;
	return 0;
}

/* The groups of the totals and of the devices shown (the totals hold them all unless Redis
 * was written by hand), in name order so that colours and columns are stable. */
static void collect_groups(struct rep *r)
{
	add_groups(r, r->total);
	for (size_t i = 0; i < r->nrows; i++)
		add_groups(r, r->devs[i].h);
	qsort(r->groups, r->ngroups, sizeof(*r->groups), cmp_name);
}

/* A non-empty string reply, copied; NULL otherwise. */
static int name_from(struct rep *r, const redisReply *x, char **out)
{
	if (*out || !x || x->type != REDIS_REPLY_STRING || !x->len)
		return 0;
	if (!(*out = strdup(x->str)))
		return rep_fail(r, "out of memory");
	return 0;
}

/* Display names of n clients (NULL when none): the caller's, else the policy's name, else the
 * DHCP lease's host name (two pipelined HGETs each). */
static int fetch_names(struct rep *r, const char *const *ids, char **names, size_t n)
{
	size_t sent = 0;
	redisReply **v;

	if (!n)
		return 0;
	if (r->client_name) {
		char buf[256];
		for (size_t i = 0; i < n; i++) {
			if (r->client_name(r->ctx, ids[i], buf, sizeof(buf), r->err, r->errlen) < 0)
				return -1;
			if (buf[0] && !(names[i] = strdup(buf)))
				return rep_fail(r, "out of memory");
		}
		return 0;
	}
	if (!(v = calloc(2 * n, sizeof(*v))))
		return rep_fail(r, "out of memory");
	while (sent < 2 * n && redisAppendCommand(r->rc, sent % 2
							  ? "HGET %s" RSCHEMA_POLICY_LEASE "%s " RSCHEMA_LEASE_HOSTNAME
							  : "HGET %s" RSCHEMA_POLICY_CLIENT "%s " RSCHEMA_RULE_NAME,
						  r->pb, ids[sent / 2]) == REDIS_OK)
		sent++;
	int ret = pipe_read(r, v, 2 * n, sent);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (name_from(r, v[2 * i], &names[i]) < 0 || name_from(r, v[2 * i + 1], &names[i]) < 0)
			ret = -1;
	free_replies(v, 2 * n);
	return ret;
}

static int read_dev_names(struct rep *r)
{
	const char **ids;
	char **names;
	int ret;

	if (!r->nrows)
		return 0;
	ids = calloc(r->nrows, sizeof(*ids));
	names = calloc(r->nrows, sizeof(*names));
	if (!ids || !names) {
		free(ids);
		free(names);
		return rep_fail(r, "out of memory");
	}
	for (size_t i = 0; i < r->nrows; i++)
		ids[i] = r->devs[i].id;
	ret = fetch_names(r, ids, names, r->nrows);
	for (size_t i = 0; i < r->nrows; i++)
		r->devs[i].name = names[i];
	for (size_t i = 0; ret == 0 && r->client_vendor && i < r->nrows; i++)
		ret = r->client_vendor(r->ctx, r->devs[i].id, &r->devs[i].vendor, r->err, r->errlen);
	free(ids);
	free(names);
	return ret;
}

/* ---- the page: head and header ---- */

static void page_head(struct rep *r)
{
	struct strbuf *b = &r->b;

	sb_str(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		  "<title>jurisdns report</title>\n<style>\n"
		  "body{font:14px/1.4 system-ui,sans-serif;color:#1c2833;background:#fff;margin:24px}\n"
		  "h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;"
		  "border-bottom:1px solid #d5d8dc}h3{font-size:15px;margin:16px 0 4px}\n"
		  "table{border-collapse:collapse;margin:4px 0 12px}\n"
		  "th,td{border:1px solid #d5d8dc;padding:3px 8px;text-align:left;vertical-align:top}\n"
		  "th{background:#eaecee}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
		  "tr:nth-child(even) td{background:#f8f9f9}\n"
		  ".totals span{display:inline-block;margin:0 18px 6px 0}.totals b{font-size:18px}\n"
		  ".made{color:#c0392b;font-size:12px}.muted{color:#717d7e}.id{color:#717d7e;font-size:12px}\n"
		  "figure{margin:8px 0 16px}figcaption{font-size:12px;color:#717d7e}\n"
		  "svg{display:block;max-width:100%;height:auto;border:1px solid #eaecee}\n"
		  "svg text{font:11px system-ui,sans-serif;fill:#34495e}svg .t{font-size:13px;font-weight:600}\n"
		  "svg .ax{stroke:#7f8c8d;stroke-width:1}svg .gr{stroke:#eaecee;stroke-width:1}\n"
		  ".legend span{display:inline-block;margin-right:14px}"
		  ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}\n");
	for (unsigned i = 0; i < REP_PALETTE; i++)
		sb_printf(b, ".g%u{fill:%s}.s%u{background:%s}\n", i, palette[i], i, palette[i]);
	sb_str(b, "</style>\n</head>\n<body>\n<h1>jurisdns report</h1>\n");
}

static void header_times(struct rep *r)
{
	char now[40], from[40], to[40];

	fmt_time(now, sizeof(now), r->now, "%Y-%m-%d %H:%M:%S UTC");
	fmt_time(from, sizeof(from), r->hour0, "%Y-%m-%d %H:00");
	fmt_time(to, sizeof(to), r->hour0 + (time_t)(r->nhours - 1) * 3600, "%Y-%m-%d %H:00 UTC");
	sb_printf(&r->b, "<p>Generated <time data-generated=\"%lld\">%s</time>. Charts: the last "
		  "<span data-days=\"%u\">%u</span> days, hourly, %s to %s. All times are UTC.</p>\n",
		  (long long)r->now, now, r->days, r->days, from, to);
}

static int add_key(struct rep *r, char **keys, size_t *n, const redisReply *k)
{
	if (k->type != REDIS_REPLY_STRING || *n == REP_INSTANCES)
		return 0;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(keys[i], k->str))
			return 0; /* SCAN may return a key twice */
	if (!(keys[*n] = strdup(k->str)))
		return rep_fail(r, "out of memory");
	(*n)++;
	return 0;
}

/* The heartbeat keys, sorted. SCAN, bounded in calls: they expire, and there are few. */
static int scan_instances(struct rep *r, char **keys, size_t *n)
{
	char pat[400], cursor[32] = "0";

	if (rschema_instance_pattern(pat, sizeof(pat), r->sb) < 0)
		return rep_fail(r, "Redis key prefix too long: %s", r->sb);
	for (int it = 0; it < REP_SCANS; it++) {
		redisReply *x = rcmd(r, "SCAN %s MATCH %s COUNT 1000", cursor, pat);
		if (!x)
			return -1;
		if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
		    x->element[0]->type != REDIS_REPLY_STRING || x->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(x);
			return rep_fail(r, "Redis: unexpected reply to SCAN");
		}
		for (size_t i = 0; i < x->element[1]->elements; i++)
			if (add_key(r, keys, n, x->element[1]->element[i]) < 0) {
				freeReplyObject(x);
				return -1;
			}
		snprintf(cursor, sizeof(cursor), "%s", x->element[0]->str);
		freeReplyObject(x);
		if (!strcmp(cursor, "0"))
			break;
	}
	qsort(keys, *n, sizeof(*keys), cmp_name);
	return 0;
}

static void instance_row(struct rep *r, const char *name, const redisReply *h)
{
	struct strbuf *b = &r->b;
	const char *geo = reply_hget(h, RSCHEMA_HB_GEO_AGE);
	char when[40];

	fmt_unix(when, sizeof(when), reply_hget(h, RSCHEMA_HB_LAST_FLUSH));
	sb_str(b, "<tr data-instance=\"");
	sb_html(b, name);
	sb_str(b, "\"><td>");
	sb_html(b, name);
	sb_str(b, "</td><td data-field=\"version\">");
	sb_html(b, reply_hget(h, RSCHEMA_HB_VERSION) ? reply_hget(h, RSCHEMA_HB_VERSION) : "?");
	sb_str(b, "</td><td class=\"n\" data-field=\"geo_age_days\">");
	sb_html(b, geo ? geo : "?");
	sb_str(b, geo && !strcmp(geo, "-1") ? " <span class=\"muted\">(no GeoIP database)</span>" : "");
	sb_str(b, "</td><td data-field=\"last_flush\" data-value=\"");
	sb_html(b, reply_hget(h, RSCHEMA_HB_LAST_FLUSH) ? reply_hget(h, RSCHEMA_HB_LAST_FLUSH) : "");
	sb_printf(b, "\">%s</td></tr>\n", when);
}

static int sec_instances(struct rep *r)
{
	char *keys[REP_INSTANCES];
	size_t n = 0, skip = strlen(r->sb) + strlen(RSCHEMA_STATS_INSTANCE);
	int ret = scan_instances(r, keys, &n);

	sb_str(&r->b, "<h2>Instances</h2>\n");
	if (ret == 0 && !n)
		sb_str(&r->b, "<p class=\"muted\">No instance has flushed recently (a heartbeat expires "
			      "about 30 s after its instance's last flush).</p>\n");
	else if (ret == 0)
		sb_str(&r->b, "<table><tr><th>instance</th><th>version</th><th class=\"n\">GeoIP "
			      "database age (days)</th><th>last flush (UTC)</th></tr>\n");
	for (size_t i = 0; ret == 0 && i < n; i++) {
		redisReply *h = rcmd(r, "HGETALL %s", keys[i]);
		if (!h || !is_hash(h))
			ret = h ? rep_fail(r, "Redis: %s is not a hash", keys[i]) : -1;
		else
			instance_row(r, strlen(keys[i]) > skip ? keys[i] + skip : keys[i], h);
		if (h)
			freeReplyObject(h);
	}
	if (ret == 0 && n)
		sb_str(&r->b, "</table>\n");
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	return ret;
}

static void total_span(struct rep *r, const char *label, const char *field)
{
	sb_printf(&r->b, "<span>%s <b data-total=\"%s\">", label, field);
	sb_html(&r->b, hval(r->total, field));
	sb_str(&r->b, "</b></span>\n");
}

static void total_cell(struct rep *r, const char *field)
{
	sb_str(&r->b, "<td class=\"n\" data-total=\"");
	sb_html(&r->b, field);
	sb_str(&r->b, "\">");
	sb_html(&r->b, hval(r->total, field));
	sb_str(&r->b, "</td>");
}

static void group_totals(struct rep *r)
{
	struct strbuf *b = &r->b;
	char f[80];

	sb_str(b, "<table><tr><th>group</th><th class=\"n\">queries into it</th><th class=\"n\">share"
		  "</th><th class=\"n\">hosted</th><th class=\"n\">operator</th><th class=\"n\">domain"
		  "</th></tr>\n");
	for (unsigned g = 0; g < r->ngroups; g++) {
		snprintf(f, sizeof(f), "g:%s", r->groups[g]);
		sb_str(b, "<tr data-group=\"");
		sb_html(b, r->groups[g]);
		sb_printf(b, "\"><td><i class=\"s%u\"></i>", g % REP_PALETTE);
		sb_html(b, r->groups[g]);
		sb_str(b, "</td>");
		total_cell(r, f);
		sb_str(b, "<td class=\"n\">");
		pct(b, num(reply_hget(r->total, f)), num(reply_hget(r->total, "queries")));
		sb_str(b, "</td>");
		for (int k = 0; k < 3; k++) {
			snprintf(f, sizeof(f), "g:%s:%s", r->groups[g], label_kind_names[k]);
			total_cell(r, f);
		}
		sb_str(b, "</tr>\n");
	}
	sb_str(b, "</table>\n");
}

static void sec_totals(struct rep *r)
{
	sb_str(&r->b, "<h2>Totals</h2>\n<p class=\"totals\">\n");
	total_span(r, "queries", "queries");
	total_span(r, "cache hits", "cache_hits");
	total_span(r, "blocked", "blocked");
	total_span(r, "rewritten", "rewritten");
	sb_str(&r->b, "</p>\n");
	if (r->ngroups)
		group_totals(r);
	else
		sb_str(&r->b, "<p class=\"muted\">No query has led into a jurisdiction group.</p>\n");
	sb_str(&r->b, "<p class=\"muted\">A query whose answer leads into a group for several "
		      "reasons counts once in the group and once per reason (hosted: the address is "
		      "in the group's countries; operator: its network belongs to one of the group's "
		      "operators; domain: a vendor domain of the group). The shipped group bypass is "
		      "not a jurisdiction: its queries are for public DNS-over-HTTPS/TLS resolvers and "
		      "app HTTPDNS services, by which a device resolves around jurisdns.</p>\n");
}

/* ---- devices ---- */

/* A time from the client's hash, in UTC; the unix seconds as Redis has them in data-value. */
static void seen_cell(struct strbuf *b, const struct dev *d, const char *field)
{
	const char *v = reply_hget(d->h, field);
	char when[40];

	fmt_unix(when, sizeof(when), v);
	sb_str(b, "<td data-client=\"");
	sb_html(b, d->id);
	sb_printf(b, "\" data-field=\"%s\" data-value=\"", field);
	sb_html(b, v ? v : "");
	sb_printf(b, "\">%s</td>", when);
}

/* Who made the device: the IEEE registrant of its MAC, and made:PRC as in the query log. */
static void vendor_cell(struct strbuf *b, const struct dev *d)
{
	sb_str(b, "<td data-client=\"");
	sb_html(b, d->id);
	sb_str(b, "\" data-field=\"vendor\"");
	if (d->vendor && d->vendor->prc)
		sb_str(b, " data-made=\"PRC\"");
	sb_str(b, ">");
	if (d->vendor) {
		sb_html(b, d->vendor->name);
		if (d->vendor->prc)
			sb_str(b, " <span class=\"made\">made: PRC</span>");
	} else {
		sb_str(b, "<span class=\"muted\">-</span>");
	}
	sb_str(b, "</td>");
}

static void dev_row(struct rep *r, const struct dev *d)
{
	struct strbuf *b = &r->b;
	char f[80];

	sb_str(b, "<tr data-client=\"");
	sb_html(b, d->id);
	sb_str(b, "\"><td data-client=\"");
	sb_html(b, d->id);
	sb_str(b, "\" data-field=\"name\">");
	sb_html(b, dev_label(d));
	sb_str(b, "</td><td>");
	sb_html(b, d->id);
	sb_str(b, "</td>");
	vendor_cell(b, d);
	num_cell(b, d->id, "queries", hval(d->h, "queries"));
	num_cell(b, d->id, "blocked", hval(d->h, "blocked"));
	for (unsigned g = 0; g < r->ngroups; g++) {
		snprintf(f, sizeof(f), "g:%s", r->groups[g]);
		num_cell(b, d->id, f, hval(d->h, f));
		sb_str(b, "<td class=\"n\">");
		pct(b, num(reply_hget(d->h, f)), d->queries);
		sb_str(b, "</td>");
	}
	seen_cell(b, d, "first_seen");
	seen_cell(b, d, "last_seen");
	sb_str(b, "</tr>\n");
}

static int sec_devices(struct rep *r)
{
	struct strbuf *b = &r->b;

	sb_printf(b, "<h2>Devices</h2>\n<p><span data-count=\"devices\">%zu</span> devices counted "
		  "(clients in policy mode off count in the totals only). Sorted by queries into the "
		  "groups, then by queries.", r->members ? r->members->elements : 0);
	if (r->ndevs > r->nrows || (r->members && r->members->elements > r->ndevs))
		sb_printf(b, " The first %zu are shown.", r->nrows);
	sb_str(b, "</p>\n");
	if (!r->nrows)
		return 0;
	sb_str(b, "<table><thead><tr><th>name</th><th>id</th><th>vendor</th><th class=\"n\">queries</th>"
		  "<th class=\"n\">blocked</th>");
	for (unsigned g = 0; g < r->ngroups; g++) {
		sb_str(b, "<th class=\"n\">");
		sb_html(b, r->groups[g]);
		sb_str(b, "</th><th class=\"n\">");
		sb_html(b, r->groups[g]);
		sb_str(b, " share</th>");
	}
	sb_str(b, "<th>first seen (UTC)</th><th>last seen (UTC)</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < r->nrows; i++) {
		dev_row(r, &r->devs[i]);
		if (maybe_flush(r) < 0)
			return -1;
	}
	sb_str(b, "</tbody></table>\n");
	return 0;
}

/* ---- exposure charts ---- */

/* The hourly values of every group for key_base + "YYYYMMDDHH": HMGET per hour, pipelined.
 * v[h] is an array of ngroups strings or nils. */
static int read_hours(struct rep *r, const char *key_base, redisReply **v)
{
	const char *argv[2 + REP_GROUPS];
	char key[400], fields[REP_GROUPS][80];
	size_t sent = 0;

	argv[0] = "HMGET";
	argv[1] = key;
	for (unsigned g = 0; g < r->ngroups; g++) {
		snprintf(fields[g], sizeof(fields[g]), "g:%s", r->groups[g]);
		argv[2 + g] = fields[g];
	}
	for (; sent < r->nhours; sent++) {
		char hour[16];
		fmt_time(hour, sizeof(hour), r->hour0 + (time_t)sent * 3600, RSCHEMA_HOUR_FORMAT);
		snprintf(key, sizeof(key), "%s%s", key_base, hour);
		if (redisAppendCommandArgv(r->rc, 2 + (int)r->ngroups, argv, NULL) != REDIS_OK)
			break; /* hiredis has copied the arguments: key can be reused */
	}
	if (pipe_read(r, v, r->nhours, sent) < 0)
		return -1;
	for (unsigned h = 0; h < r->nhours; h++) {
		if (v[h]->type != REDIS_REPLY_ARRAY || v[h]->elements != r->ngroups)
			return rep_fail(r, "Redis: unexpected reply to HMGET %s...", key_base);
		for (unsigned g = 0; g < r->ngroups; g++)
			if (v[h]->element[g]->type != REDIS_REPLY_STRING &&
			    v[h]->element[g]->type != REDIS_REPLY_NIL)
				return rep_fail(r, "Redis: unexpected reply to HMGET %s...", key_base);
	}
	return 0;
}

static const char *hour_value(redisReply **v, unsigned h, unsigned g)
{
	const redisReply *x = v[h]->element[g];
	return x->type == REDIS_REPLY_STRING ? x->str : NULL;
}

/* Tick labels at aligned UTC hours: every 6 hours for one or two days, else whole days, at
 * most about 12 of them so that they do not overlap. */
static void chart_axis(struct rep *r, unsigned long long max)
{
	struct strbuf *b = &r->b;
	unsigned step = r->days <= 2 ? 6 : 24 * ((r->days + 11) / 12);
	double bw = (double)CH_PW / r->nhours;

	sb_printf(b, "<line class=\"gr\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
		  "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%llu</text>"
		  "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n",
		  CH_ML, CH_MT, CH_ML + CH_PW, CH_MT, CH_ML - 4, CH_MT + 4, max, CH_ML - 4, CH_MT + CH_PH);
	for (unsigned h = 0; h < r->nhours; h++) {
		time_t t = r->hour0 + (time_t)h * 3600;
		char label[24];
		if ((t / 3600) % step)
			continue;
		fmt_time(label, sizeof(label), t, step < 24 ? "%m-%d %H:00" : "%m-%d");
		double x = CH_ML + h * bw;
		sb_printf(b, "<line class=\"ax\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>"
			  "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			  x, CH_MT + CH_PH, x, CH_MT + CH_PH + 5, x, CH_MT + CH_PH + 18, label);
	}
	sb_printf(b, "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
		  "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
		  CH_ML, CH_MT, CH_ML, CH_MT + CH_PH, CH_ML, CH_MT + CH_PH, CH_ML + CH_PW, CH_MT + CH_PH);
}

/* One hour's stacked bars, each with the count as Redis has it (data-value, and a tooltip). */
static void chart_hour(struct rep *r, redisReply **v, unsigned h, unsigned long long max)
{
	double bw = (double)CH_PW / r->nhours, x = CH_ML + h * bw, y = CH_MT + CH_PH;
	char hour[16], when[24];

	fmt_time(hour, sizeof(hour), r->hour0 + (time_t)h * 3600, RSCHEMA_HOUR_FORMAT);
	fmt_time(when, sizeof(when), r->hour0 + (time_t)h * 3600, "%Y-%m-%d %H:00");
	for (unsigned g = 0; g < r->ngroups; g++) {
		const char *s = hour_value(v, h, g);
		unsigned long long n = num(s);
		if (!n)
			continue;
		double ht = (double)n * CH_PH / (double)max;
		y -= ht;
		sb_printf(&r->b, "<rect class=\"g%u\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			  "height=\"%.2f\" data-hour=\"%s\" data-group=\"", g % REP_PALETTE, x, y,
			  bw > 2 ? bw - 1 : bw, ht, hour);
		sb_html(&r->b, r->groups[g]);
		sb_str(&r->b, "\" data-value=\"");
		sb_html(&r->b, s);
		sb_printf(&r->b, "\"><title>%s UTC, ", when);
		sb_html(&r->b, r->groups[g]);
		sb_str(&r->b, ": ");
		sb_html(&r->b, s);
		sb_str(&r->b, "</title></rect>");
	}
}

/* One chart: key_base + hour for every hour shown; id is "total" or the client's id. */
static int chart(struct rep *r, const char *key_base, const char *id, const char *title)
{
	redisReply **v = calloc(r->nhours, sizeof(*v));
	unsigned long long max = 0;

	if (!v)
		return rep_fail(r, "out of memory");
	if (read_hours(r, key_base, v) < 0) {
		free_replies(v, r->nhours);
		return -1;
	}
	for (unsigned h = 0; h < r->nhours; h++) {
		unsigned long long sum = 0;
		for (unsigned g = 0; g < r->ngroups; g++)
			sum += num(hour_value(v, h, g));
		max = sum > max ? sum : max;
	}
	sb_str(&r->b, "<figure data-chart=\"");
	sb_html(&r->b, id);
	sb_printf(&r->b, "\">\n<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">"
		  "<title>", CH_W, CH_H, CH_W, CH_H);
	sb_html(&r->b, title);
	sb_printf(&r->b, "</title>\n<text class=\"t\" x=\"%d\" y=\"17\">", CH_ML);
	sb_html(&r->b, title);
	sb_str(&r->b, "</text>\n");
	chart_axis(r, max ? max : 1);
	for (unsigned h = 0; max && h < r->nhours; h++)
		chart_hour(r, v, h, max);
	if (!max)
		sb_printf(&r->b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no queries into a group "
			  "in these hours</text>", CH_ML + CH_PW / 2, CH_MT + CH_PH / 2);
	sb_str(&r->b, "\n</svg>\n</figure>\n");
	free_replies(v, r->nhours);
	return maybe_flush(r);
}

static void legend(struct rep *r)
{
	sb_str(&r->b, "<p class=\"legend\">");
	for (unsigned g = 0; g < r->ngroups; g++) {
		sb_printf(&r->b, "<span><i class=\"s%u\"></i>", g % REP_PALETTE);
		sb_html(&r->b, r->groups[g]);
		sb_str(&r->b, "</span>");
	}
	sb_str(&r->b, "</p>\n");
}

static int sec_charts(struct rep *r)
{
	char base[400], title[400];

	sb_printf(&r->b, "<h2>Exposure over time</h2>\n<p>Queries into each group per hour (UTC), "
		  "from the hourly counters; an hour without a counter counts 0. The %d devices with "
		  "the most queries into the groups, and all clients together.</p>\n", REP_CHARTS);
	if (!r->ngroups) {
		sb_str(&r->b, "<p class=\"muted\">No query has led into a jurisdiction group.</p>\n");
		return 0;
	}
	legend(r);
	snprintf(base, sizeof(base), "%s" RSCHEMA_STATS_TOTAL ":", r->sb); /* + HOUR */
	snprintf(title, sizeof(title), "All clients: queries into the groups per hour, last %u days",
		 r->days);
	if (chart(r, base, "total", title) < 0)
		return -1;
	for (size_t i = 0, n = 0; i < r->nrows && n < REP_CHARTS && r->devs[i].gsum; i++, n++) {
		const struct dev *d = &r->devs[i];
		snprintf(base, sizeof(base), "%s" RSCHEMA_STATS_CLIENT "%s:", r->sb, d->id);
		if (d->name)
			snprintf(title, sizeof(title), "%.100s (%.64s): queries into the groups per hour",
				 d->name, d->id);
		else
			snprintf(title, sizeof(title), "%.64s: queries into the groups per hour", d->id);
		if (chart(r, base, d->id, title) < 0)
			return -1;
	}
	return 0;
}

/* ---- top domains ---- */

static bool is_zrange(const redisReply *z)
{
	if (z->type != REDIS_REPLY_ARRAY || z->elements % 2)
		return false;
	for (size_t i = 0; i < z->elements; i++)
		if (z->element[i]->type != REDIS_REPLY_STRING)
			return false;
	return true;
}

static void top_table(struct rep *r, const struct dev *d, const char *group, const redisReply *z)
{
	struct strbuf *b = &r->b;

	sb_str(b, "<h3>");
	sb_html(b, dev_label(d));
	sb_str(b, " <span class=\"id\">");
	sb_html(b, d->id);
	sb_str(b, "</span>: ");
	sb_html(b, group);
	sb_str(b, "</h3>\n<table><tr><th>domain</th><th class=\"n\">queries</th></tr>\n");
	for (size_t i = 0; i + 1 < z->elements; i += 2) {
		sb_str(b, "<tr><td>");
		sb_html(b, z->element[i]->str);
		sb_str(b, "</td><td class=\"n\" data-top=\"");
		sb_html(b, d->id);
		sb_str(b, "\" data-group=\"");
		sb_html(b, group);
		sb_str(b, "\" data-domain=\"");
		sb_html(b, z->element[i]->str);
		sb_str(b, "\">");
		sb_html(b, z->element[i + 1]->str);
		sb_str(b, "</td></tr>\n");
	}
	sb_str(b, "</table>\n");
}

/* The ten top domains of every shown device in every group, pipelined. */
static int sec_top(struct rep *r)
{
	size_t n = r->nrows * r->ngroups, sent = 0, shown = 0;
	redisReply **v;

	sb_str(&r->b, "<h2>Top domains</h2>\n<p>Per device and group, the ten domains queried most "
		      "(approximate by design: see docs/redis-schema.md).</p>\n");
	if (!n || !(v = calloc(n, sizeof(*v))))
		return n ? rep_fail(r, "out of memory") : 0;
	while (sent < n && redisAppendCommand(r->rc, "ZREVRANGE %s" RSCHEMA_STATS_TOP "%s:%s 0 9 WITHSCORES", r->sb,
					      r->devs[sent / r->ngroups].id,
					      r->groups[sent % r->ngroups]) == REDIS_OK)
		sent++;
	int ret = pipe_read(r, v, n, sent);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		const struct dev *d = &r->devs[i / r->ngroups];
		if (!is_zrange(v[i]))
			ret = rep_fail(r, "Redis: %s" RSCHEMA_STATS_TOP "%s:%s is not a sorted set", r->sb, d->id,
				   r->groups[i % r->ngroups]);
		else if (v[i]->elements) {
			top_table(r, d, r->groups[i % r->ngroups], v[i]);
			shown++;
			ret = maybe_flush(r);
		}
	}
	free_replies(v, n);
	if (ret == 0 && !shown)
		sb_str(&r->b, "<p class=\"muted\">None recorded.</p>\n");
	return ret;
}

/* ---- first contacts ---- */

/* An entry of XREVRANGE: [id, [field, value, ...]]. */
static bool is_entry(const redisReply *e)
{
	return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
	       e->element[0]->type == REDIS_REPLY_STRING && is_hash(e->element[1]);
}

static void event_cell(struct strbuf *b, const char *field, const char *v)
{
	sb_printf(b, "<td data-field=\"%s\">", field);
	sb_html(b, v ? v : "");
	sb_str(b, "</td>");
}

static void event_row(struct rep *r, const redisReply *e, const char *name)
{
	struct strbuf *b = &r->b;
	const redisReply *f = e->element[1];
	const char *client = reply_hget(f, "client"), *type = reply_hget(f, "type");
	char when[40];

	fmt_unix(when, sizeof(when), reply_hget(f, "ts"));
	sb_str(b, "<tr data-event=\"");
	sb_html(b, e->element[0]->str);
	sb_str(b, "\"><td data-field=\"ts\" data-value=\"");
	sb_html(b, reply_hget(f, "ts") ? reply_hget(f, "ts") : "");
	sb_printf(b, "\">%s</td><td data-field=\"client\" data-client=\"", when);
	sb_html(b, client ? client : "");
	sb_str(b, "\">");
	sb_html(b, name ? name : client ? client : "?");
	if (name && client) {
		sb_str(b, " <span class=\"id\">");
		sb_html(b, client);
		sb_str(b, "</span>");
	}
	sb_str(b, "</td>");
	event_cell(b, "group", reply_hget(f, "group"));
	if (type && !strcmp(type, "group"))
		sb_str(b, "<td data-field=\"domain\" class=\"muted\">first query into the group</td>");
	else
		event_cell(b, "domain", reply_hget(f, "domain"));
	event_cell(b, "reason", reply_hget(f, "reason"));
	sb_str(b, "</tr>\n");
}

static int events_table(struct rep *r, const redisReply *x)
{
	size_t n = x->elements;
	const char **ids = calloc(n, sizeof(*ids));
	char **names = calloc(n, sizeof(*names));
	int ret = ids && names ? 0 : rep_fail(r, "out of memory");

	for (size_t i = 0; ret == 0 && i < n; i++) {
		ids[i] = reply_hget(x->element[i]->element[1], "client");
		ids[i] = ids[i] ? ids[i] : "";
	}
	if (ret == 0)
		ret = fetch_names(r, ids, names, n);
	if (ret == 0) {
		sb_str(&r->b, "<table><tr><th>time (UTC)</th><th>device</th><th>group</th>"
			      "<th>domain</th><th>reason</th></tr>\n");
		for (size_t i = 0; i < n; i++)
			event_row(r, x->element[i], names[i]);
		sb_str(&r->b, "</table>\n");
	}
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(ids);
	return ret;
}

static int sec_events(struct rep *r)
{
	redisReply *x = rcmd(r, "XREVRANGE %s" RSCHEMA_STATS_EVENTS " + - COUNT %d", r->sb, REP_EVENTS);
	int ret = 0;

	sb_printf(&r->b, "<h2>First contacts</h2>\n<p>The last %d first contacts, newest first: a "
		  "device's first query into a group, or a domain new to it in a group.</p>\n",
		  REP_EVENTS);
	if (!x)
		return -1;
	if (x->type != REDIS_REPLY_ARRAY)
		ret = rep_fail(r, "Redis: %s" RSCHEMA_STATS_EVENTS " is not a stream", r->sb);
	for (size_t i = 0; ret == 0 && i < x->elements; i++)
		if (!is_entry(x->element[i]))
			ret = rep_fail(r, "Redis: unexpected entry in %s" RSCHEMA_STATS_EVENTS, r->sb);
	if (ret == 0 && !x->elements)
		sb_str(&r->b, "<p class=\"muted\">None recorded.</p>\n");
	else if (ret == 0)
		ret = events_table(r, x);
	freeReplyObject(x);
	return ret;
}

/* ---- the whole ---- */

static int build(struct rep *r)
{
	if (read_total(r) < 0 || read_devices(r) < 0 || read_dev_names(r) < 0)
		return -1;
	collect_groups(r);
	page_head(r);
	header_times(r);
	if (sec_instances(r) < 0)
		return -1;
	sec_totals(r);
	if (sec_devices(r) < 0 || sec_charts(r) < 0 || sec_top(r) < 0 || sec_events(r) < 0)
		return -1;
	sb_str(&r->b, "<p class=\"muted\">jurisdns " PACKAGE_VERSION "</p>\n</body>\n</html>\n");
	return flush_out(r, true);
}

int report_html(redisContext *rc, const struct report_opts *o, FILE *out, char *err, size_t errlen)
{
	char dummy[1];
	struct rep r = { .rc = rc, .sb = o->stats_base, .pb = o->policy_base, .now = o->now,
			 .out = out, .err = errlen ? err : dummy, .errlen = errlen ? errlen : 1,
			 .client_name = o->client_name, .client_vendor = o->client_vendor, .ctx = o->ctx };
	int ret;

	r.err[0] = 0;
	r.days = o->days < 1 ? 1 : o->days > REP_MAX_DAYS ? REP_MAX_DAYS : o->days;
	r.nhours = r.days * 24;
	r.hour0 = o->now / 3600 * 3600 - (time_t)(r.nhours - 1) * 3600;
	ret = build(&r);
	for (size_t i = 0; i < r.ndevs; i++) {
		freeReplyObject(r.devs[i].h);
		free(r.devs[i].name);
	}
	free(r.devs);
	if (r.members)
		freeReplyObject(r.members);
	if (r.total)
		freeReplyObject(r.total);
	sb_free(&r.b);
	return ret;
}
