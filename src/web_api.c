/* web_api.c - the console's JSON API (docs/web-api.md). One request: parse, check (session,
 * CSRF, lock), read or write Redis over a connection of its own, reply. The counts come from the
 * same hashes and the same reader (statsread.h) as jurisdns-ctl stats; the names, leases, rules
 * and modes from ctl_clients.h, as the ctl shows them; writes go through polwrite.h. */
#include "config.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <jansson.h>
#include <hiredis/hiredis.h>
#include "ctl_clients.h"
#include "oui.h"
#include "polwrite.h"
#include "rschema.h"
#include "statsread.h"
#include "web_api.h"
#include "web_auth.h"

#define HOURS_WEEK (7 * 24)
#define TOP_MAX 10                   /* domains per group on a device page */
#define FIRST_CONTACTS_MAX 20
#define EVENTS_SCAN 2000             /* newest first-contact events looked at for a device */

/* ---------------------------------------------------------------- replies */

static void reply_json(struct web_resp *r, int status, json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(doc);
	r->status = s ? status : 500;
	sb_str(&r->body, s ? s : "{\"error\":\"out of memory\"}");
	free(s);
}

static void reply_error(struct web_resp *r, int status, const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", json_string(msg));
	if (status == 503)
		json_object_set_new(o, "redis", json_false());
	reply_json(r, status, o);
}

/* A string of device-controlled text as JSON: invalid UTF-8 replaced, NULL as null. */
static json_t *jtext(const char *s)
{
	json_t *v;
	char *fixed;
	size_t n;

	if (!s)
		return json_null();
	if ((v = json_string(s)))
		return v;
	n = strlen(s);
	if (!(fixed = malloc(n + 1)))
		return json_null();
	for (size_t i = 0; i < n; i++)
		fixed[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	fixed[n] = 0;
	v = json_string(fixed);
	free(fixed);
	return v ? v : json_null();
}

/* ---------------------------------------------------------------- the body parser */

static bool is_domain(const char *s)
{
	size_t n = strlen(s), lab = 0;

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (!lab)
				return false;
			lab = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++lab > 63)
				return false;
		} else {
			return false;
		}
	}
	return lab > 0;
}

static int parse_list(json_t *v, const char *key, char ***out, unsigned *n, char *err, size_t errlen)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > WEB_API_LIST_MAX) {
		snprintf(err, errlen, "'%s' must be a list of at most %d domain names", key, WEB_API_LIST_MAX);
		return -1;
	}
	if (!(*out = calloc(json_array_size(v) + 1, sizeof(char *)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(v, i, e) {
		char d[256];
		if (!json_is_string(e) || json_string_length(e) >= sizeof(d)) {
			snprintf(err, errlen, "'%s' must be a list of domain names", key);
			return -1;
		}
		snprintf(d, sizeof(d), "%s", json_string_value(e));
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		size_t l = strlen(d);
		if (l && d[l - 1] == '.')
			d[l - 1] = 0;
		if (!is_domain(d)) {
			snprintf(err, errlen, "'%s': '%.60s' is not a domain name", key, json_string_value(e));
			return -1;
		}
		if (!((*out)[(*n)++] = strdup(d))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int parse_mode(json_t *v, bool with_default, struct web_body *out, char *err, size_t errlen)
{
	enum pmode m;
	const char *s = json_string_value(v);

	if (!s || (policy_parse_mode(s, &m) < 0 && !(with_default && !strcmp(s, "default")))) {
		snprintf(err, errlen, "'mode' must be \"off\", \"log\"%s or \"block\"",
			 with_default ? ", \"default\"" : "");
		return -1;
	}
	snprintf(out->mode, sizeof(out->mode), "%s", s);
	out->has_mode = true;
	return 0;
}

static int parse_block(json_t *v, struct web_body *out, char *err, size_t errlen)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > POLICY_MAX_BLOCK) {
		snprintf(err, errlen, "'block' must be a list of at most %d group names", POLICY_MAX_BLOCK);
		return -1;
	}
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);
		size_t n = s ? strlen(s) : 0;
		bool ok = n && n < sizeof(out->block[0]);
		for (size_t k = 0; ok && k < n; k++)
			ok = isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '-' || s[k] == ':';
		if (!ok) {
			snprintf(err, errlen, "'block' must be a list of group names like \"PRC\" or "
				 "\"PRC:operator\"");
			return -1;
		}
		memcpy(out->block[out->nblock++], s, n + 1);
	}
	out->has_block = true;
	return 0;
}

/* The {"mode", "block"} object of a policy's default. */
static int parse_default(json_t *v, struct web_body *out, char *err, size_t errlen)
{
	const char *k;
	json_t *e;

	if (!json_is_object(v)) {
		snprintf(err, errlen, "'default' must be an object with mode and block");
		return -1;
	}
	json_object_foreach(v, k, e) {
		if (!strcmp(k, "mode")) {
			if (parse_mode(e, false, out, err, errlen) < 0)
				return -1;
		} else if (!strcmp(k, "block")) {
			if (parse_block(e, out, err, errlen) < 0)
				return -1;
		} else {
			snprintf(err, errlen, "unknown field 'default.%.40s' (mode or block)", k);
			return -1;
		}
	}
	return 0;
}

static int parse_field(const char *k, json_t *v, enum web_body_kind kind, struct web_body *out,
		       char *err, size_t errlen)
{
	bool me = kind == WB_ME, dev = kind == WB_DEVICE;

	if ((me || dev) && !strcmp(k, "mode"))
		return parse_mode(v, dev, out, err, errlen);
	if ((me || dev) && !strcmp(k, "block"))
		return parse_block(v, out, err, errlen);
	if (dev && !strcmp(k, "locked")) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "'locked' must be true or false");
			return -1;
		}
		out->locked = json_is_true(v);
		out->has_locked = true;
		return 0;
	}
	if (dev && !strcmp(k, "name")) {
		struct client_rule cr;
		char why[200];
		const char *s = json_string_value(v);
		policy_client_init(&cr, "0.0.0.0/0", why, sizeof(why));
		if (!s || strlen(s) >= sizeof(out->name) ||
		    (s[0] && policy_client_set(&cr, RSCHEMA_RULE_NAME, s, NULL, why, sizeof(why)) < 0)) {
			snprintf(err, errlen, "'name' must be a text of at most %zu bytes without control "
				 "characters", sizeof(out->name) - 1);
			return -1;
		}
		snprintf(out->name, sizeof(out->name), "%s", s);
		out->has_name = true;
		return 0;
	}
	if (kind == WB_LOGIN && !strcmp(k, "password")) {
		const char *s = json_string_value(v);
		if (!s || !s[0] || strlen(s) >= sizeof(out->password)) {
			snprintf(err, errlen, "'password' must be a non-empty text of at most %zu bytes",
				 sizeof(out->password) - 1);
			return -1;
		}
		snprintf(out->password, sizeof(out->password), "%s", s);
		out->has_password = true;
		return 0;
	}
	if (kind == WB_POLICY && !strcmp(k, "default"))
		return parse_default(v, out, err, errlen);
	if (kind == WB_POLICY && !strcmp(k, "allow")) {
		out->has_allow = true;
		return parse_list(v, k, &out->allow, &out->nallow, err, errlen);
	}
	if (kind == WB_POLICY && !strcmp(k, "deny")) {
		out->has_deny = true;
		return parse_list(v, k, &out->deny, &out->ndeny, err, errlen);
	}
	static const char *const known[] = { "mode or block", "mode, block, locked or name", "password",
					     "default, allow or deny" };
	snprintf(err, errlen, "unknown field '%.40s' (%s)", k, known[kind]);
	return -1;
}

int web_api_parse_body(const uint8_t *body, size_t len, enum web_body_kind kind,
		       struct web_body *out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc, *v;
	const char *k;
	int rc = 0;

	if ((unsigned)kind > WB_POLICY) {
		snprintf(err, errlen, "no such request body");
		return -1;
	}
	if (len > WEB_API_BODY_MAX) {
		snprintf(err, errlen, "the body is larger than %d bytes", WEB_API_BODY_MAX);
		return -1;
	}
	if (!body || !len) {
		snprintf(err, errlen, "the body must be a JSON object");
		return -1;
	}
	/* no duplicate keys: which one counts would be a guess */
	if (!(doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je))) {
		snprintf(err, errlen, "the body is not valid JSON (%s at character %d)", je.text, je.position);
		return -1;
	}
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "the body must be a JSON object");
		json_decref(doc);
		return -1;
	}
	json_object_foreach(doc, k, v) {
		if ((rc = parse_field(k, v, kind, out, err, errlen)) < 0)
			break;
	}
	if (!rc && kind == WB_LOGIN && !out->has_password) {
		snprintf(err, errlen, "'password' is missing");
		rc = -1;
	}
	json_decref(doc);
	return rc;
}

void web_api_body_free(struct web_body *out)
{
	for (unsigned i = 0; out->allow && out->allow[i]; i++)
		free(out->allow[i]);
	for (unsigned i = 0; out->deny && out->deny[i]; i++)
		free(out->deny[i]);
	free(out->allow);
	free(out->deny);
	memset(out, 0, sizeof(*out));
}

int web_api_block_text(const struct web_body *b, const struct groups *g, char *out, size_t len,
		       char *err, size_t errlen)
{
	struct block_spec specs[POLICY_MAX_BLOCK];
	unsigned n = 0;
	size_t used = 0;

	out[0] = 0;
	for (unsigned i = 0; i < b->nblock; i++) {
		int w = snprintf(out + used, len - used, "%s%s", i ? "," : "", b->block[i]);
		if (w < 0 || (size_t)w >= len - used) {
			snprintf(err, errlen, "the block list is too long");
			return -1;
		}
		used += (size_t)w;
	}
	return policy_parse_block(out, g, specs, &n, err, errlen);
}

/* ---------------------------------------------------------------- Redis */

struct api {
	const struct web_req *q;
	const struct conf *conf;
	redisContext *rc;            /* NULL: Redis is not configured or not reachable (or failed) */
	redisContext *conn;          /* the connection, freed at the end (ctl_clients holds it) */
	char base[160], sbase[160], channel[160];
	struct ctl_clients *cs;      /* read on first use */
	struct groups *groups;       /* names only; NULL: no groups file */
	char peer[128];              /* the requesting device's id */
	bool admin;
	char err[600];
};

static redisContext *api_connect(const struct redis_conf *rcfg)
{
	char path[256], ip[64], err[300];
	int port = 0;
	unsigned ms = rcfg->timeout && rcfg->timeout < 1000 ? rcfg->timeout : 1000;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	redisContext *rc;

	if (!rcfg->address[0] ||
	    redis_address_parse(rcfg->address, path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)) < 0)
		return NULL;
	rc = path[0] ? redisConnectUnixWithTimeout(path, tv) : redisConnectWithTimeout(ip, port, tv);
	if (!rc || rc->err) {
		if (rc)
			redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	if (rcfg->password[0]) {
		redisReply *r = rcfg->user[0] ? redisCommand(rc, "AUTH %s %s", rcfg->user, rcfg->password)
					      : redisCommand(rc, "AUTH %s", rcfg->password);
		bool ok = r && r->type != REDIS_REPLY_ERROR;
		if (r)
			freeReplyObject(r);
		if (!ok) {
			redisFree(rc);
			return NULL;
		}
	}
	return rc;
}

/* A command; NULL (and the connection dropped, so the page says Redis is gone) on an I/O
 * error or an error reply. */
static redisReply *api_cmd(struct api *a, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	if (!a->rc)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(a->rc, fmt, ap);
	va_end(ap);
	if (r && r->type == REDIS_REPLY_ERROR) {
		snprintf(a->err, sizeof(a->err), "Redis: %s", r->str);
		freeReplyObject(r);
		return NULL;
	}
	if (!r) {
		snprintf(a->err, sizeof(a->err), "Redis at %s: %s", a->conf->redis.address, a->rc->errstr);
		a->rc = NULL;
	}
	return r;
}

static struct ctl_clients *api_clients(struct api *a)
{
	if (!a->cs && a->rc && !(a->cs = ctl_clients_load(a->rc, a->base, &a->conf->policy, a->err, sizeof(a->err)))) {
		/* out of step or gone: treat as no Redis */
		a->rc = NULL;
	}
	return a->cs;
}

/* The vendor table of [labels] oui, loaded once per directory and shared by every request. */
static pthread_mutex_t oui_lock = PTHREAD_MUTEX_INITIALIZER;
static struct oui *oui_table;
static char oui_table_dir[512];
static bool oui_tried;

static struct oui *api_oui(const struct conf *conf)
{
	struct oui *t;
	char err[600];

	pthread_mutex_lock(&oui_lock);
	if (!oui_tried || strcmp(oui_table_dir, conf->oui_dir)) {
		oui_unref(oui_table);
		oui_table = conf->oui_dir[0] ? oui_load(conf->oui_dir, err, sizeof(err)) : NULL;
		snprintf(oui_table_dir, sizeof(oui_table_dir), "%s", conf->oui_dir);
		oui_tried = true;
	}
	t = oui_table ? oui_ref(oui_table) : NULL;
	pthread_mutex_unlock(&oui_lock);
	return t;
}

/* ---------------------------------------------------------------- documents */

/* "PRC" or "PRC:operator" (one per reason given) for each entry of a block list. */
static json_t *block_json(const struct block_spec *b, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++) {
		if (b[i].kinds == 0x7) {
			json_array_append_new(a, json_string(b[i].group));
			continue;
		}
		for (int k = 0; k < LABEL_KINDS; k++)
			if (b[i].kinds & (1 << k)) {
				char s[GROUP_NAME_MAX + 16];
				snprintf(s, sizeof(s), "%s:%s", b[i].group, label_kind_names[k]);
				json_array_append_new(a, json_string(s));
			}
	}
	return a;
}

/* The defaults in force: the file's, with Redis's P{policy}:default over them. */
struct effective {
	enum pmode mode;
	struct block_spec block[POLICY_MAX_BLOCK];
	int nblock;
};

static void api_defaults(struct api *a, struct effective *e)
{
	const struct policy *p = &a->conf->policy;
	redisReply *h;

	e->mode = p->default_mode;
	e->nblock = (int)p->nblock;
	memcpy(e->block, p->block, sizeof(e->block));
	if (!(h = api_cmd(a, "HGETALL %s" RSCHEMA_POLICY_DEFAULT, a->base)))
		return;
	const char *m = statsread_hget(h, RSCHEMA_RULE_MODE), *b = statsread_hget(h, RSCHEMA_RULE_BLOCK);
	enum pmode pm;
	if (m && policy_parse_mode(m, &pm) == 0)
		e->mode = pm;
	if (b) {
		struct block_spec s[POLICY_MAX_BLOCK];
		unsigned n = 0;
		char err[600];
		if (policy_parse_block(b, NULL, s, &n, err, sizeof(err)) == 0) {
			memcpy(e->block, s, sizeof(s));
			e->nblock = (int)n;
		}
	}
	freeReplyObject(h);
}

/* Mode and block list of id: its own rule's, else the defaults. */
static void api_effective(struct api *a, const struct client_rule *r, struct effective *e)
{
	api_defaults(a, e);
	if (r && r->mode >= 0)
		e->mode = (enum pmode)r->mode;
	if (r && r->nblock >= 0) {
		memcpy(e->block, r->block, sizeof(e->block));
		e->nblock = r->nblock;
	}
}

static json_t *counts_json(const struct statsread_counts *c)
{
	json_t *o = json_object(), *g = json_object();

	json_object_set_new(o, "queries", json_integer(c->queries));
	json_object_set_new(o, "blocked", json_integer(c->blocked));
	for (unsigned i = 0; i < c->ngroups; i++) {
		json_t *x = json_object();
		json_object_set_new(x, "total", json_integer(c->g[i].total));
		for (int k = 0; k < LABEL_KINDS; k++)
			json_object_set_new(x, label_kind_names[k], json_integer(c->g[i].kind[k]));
		json_object_set_new(g, c->g[i].name, x);
	}
	json_object_set_new(o, "groups", g);
	return o;
}

/* "locked" of the client's Redis hash, NULL when not locked. */
static const char *locked_by(const struct ctl_client *cl)
{
	const char *v = cl ? statsread_hget(cl->fields, RSCHEMA_RULE_LOCKED) : NULL;

	return v && v[0] ? v : NULL;
}

/* counts, top and first_contacts of id into o; hourly too when with_hourly. -1: Redis failed. */
static int stats_into(struct api *a, json_t *o, const char *id, bool with_hourly)
{
	struct statsread_counts all = { 0 }, today = { 0 }, week = { 0 }, *hours;
	time_t now = time(NULL);
	unsigned ntoday = (unsigned)((now % 86400) / 3600) + 1;
	redisReply *h;

	if (!(hours = calloc(HOURS_WEEK, sizeof(*hours))))
		return -1;
	if (!(h = api_cmd(a, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s", a->sbase, id))) {
		free(hours);
		return -1;
	}
	statsread_add(&all, h);
	freeReplyObject(h);
	if (statsread_hours(a->rc, a->sbase, id, now, HOURS_WEEK, hours, &week, a->err, sizeof(a->err)) < 0) {
		free(hours);
		a->rc = NULL;
		return -1;
	}
	for (unsigned i = HOURS_WEEK - ntoday; i < HOURS_WEEK; i++) {
		today.queries += hours[i].queries;
		today.blocked += hours[i].blocked;
	}
	/* today's groups: the same sums by group (statsread keeps the first-met order) */
	for (unsigned i = HOURS_WEEK - ntoday; i < HOURS_WEEK; i++)
		for (unsigned g = 0; g < hours[i].ngroups; g++) {
			const struct statsread_group *src = &hours[i].g[g];
			struct statsread_group *dst = (struct statsread_group *)statsread_group(&today, src->name);
			if (!dst && today.ngroups < GROUPS_MAX) {
				dst = &today.g[today.ngroups++];
				memcpy(dst->name, src->name, sizeof(dst->name));
			}
			if (!dst)
				continue;
			dst->total += src->total;
			for (int k = 0; k < LABEL_KINDS; k++)
				dst->kind[k] += src->kind[k];
		}
	json_t *c = json_object();
	json_object_set_new(c, "today", counts_json(&today));
	json_object_set_new(c, "week", counts_json(&week));
	json_object_set_new(c, "all", counts_json(&all));
	json_object_set_new(o, "counts", c);
	json_object_set_new(o, "last_seen", all.last_seen ? json_integer(all.last_seen) : json_null());

	/* first contacts (newest first) and the reason of each domain's first contact */
	json_t *fc = json_array(), *reasons = json_object();
	redisReply *x = api_cmd(a, "XREVRANGE %s" RSCHEMA_STATS_EVENTS " + - COUNT %d", a->sbase, EVENTS_SCAN);
	for (size_t i = 0; x && x->type == REDIS_REPLY_ARRAY && i < x->elements; i++) {
		const redisReply *e = x->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
			continue;
		const redisReply *f = e->element[1];
		const char *cl = statsread_hget(f, "client"), *type = statsread_hget(f, "type");
		if (!cl || strcmp(cl, id) || !type)
			continue;
		const char *dom = statsread_hget(f, "domain"), *why = statsread_hget(f, "reason"),
			   *grp = statsread_hget(f, "group");
		if (dom && why && grp) {
			char key[GROUP_NAME_MAX + 300];
			snprintf(key, sizeof(key), "%s\t%s", grp, dom);
			json_object_set_new(reasons, key, jtext(why));
		}
		if (json_array_size(fc) < FIRST_CONTACTS_MAX) {
			json_t *ev = json_object();
			json_object_set_new(ev, "ts", json_integer(statsread_num(f, "ts")));
			json_object_set_new(ev, "type", jtext(type));
			json_object_set_new(ev, "group", jtext(grp));
			json_object_set_new(ev, "domain", jtext(dom));
			json_object_set_new(ev, "reason", jtext(why));
			json_array_append_new(fc, ev);
		}
	}
	if (x)
		freeReplyObject(x);
	json_object_set_new(o, "first_contacts", fc);

	json_t *top = json_object();
	for (unsigned g = 0; g < all.ngroups; g++) {
		json_t *l = json_array();
		struct statsread_top *tl = NULL;
		int nt = a->rc ? statsread_top(a->rc, a->sbase, id, all.g[g].name, TOP_MAX, &tl, a->err,
					       sizeof(a->err)) : -1;
		if (nt < 0 && a->rc && a->rc->err)
			a->rc = NULL; /* as api_cmd: the connection is gone */
		for (int i = 0; i < nt; i++) {
			char key[GROUP_NAME_MAX + 300];
			json_t *d = json_object();
			snprintf(key, sizeof(key), "%s\t%s", all.g[g].name, tl[i].domain);
			json_object_set_new(d, "domain", jtext(tl[i].domain));
			json_object_set_new(d, "count", json_integer(tl[i].count));
			json_t *why = json_object_get(reasons, key);
			json_object_set(d, "reason", why ? why : json_null());
			/* "operator:AS45102 Alibaba"; null when Redis has none (an older version counted it) */
			json_object_set_new(d, "why", tl[i].why[0] ? jtext(tl[i].why) : json_null());
			json_array_append_new(l, d);
		}
		free(tl);
		json_object_set_new(top, all.g[g].name, l);
	}
	json_decref(reasons);
	json_object_set_new(o, "top", top);

	if (with_hourly) {
		json_t *hl = json_array();
		for (unsigned i = 0; i < HOURS_WEEK; i++) {
			char hour[16];
			json_t *e = json_object(), *gs = json_object();
			statsread_hour(now - now % 3600 - (time_t)(HOURS_WEEK - 1 - i) * 3600, hour, sizeof(hour));
			json_object_set_new(e, "hour", json_string(hour));
			json_object_set_new(e, "queries", json_integer(hours[i].queries));
			json_object_set_new(e, "blocked", json_integer(hours[i].blocked));
			for (unsigned g = 0; g < hours[i].ngroups; g++) {
				json_t *k = json_object();
				json_object_set_new(k, "total", json_integer(hours[i].g[g].total));
				for (int r = 0; r < LABEL_KINDS; r++)
					json_object_set_new(k, label_kind_names[r], json_integer(hours[i].g[g].kind[r]));
				json_object_set_new(gs, hours[i].g[g].name, k);
			}
			json_object_set_new(e, "groups", gs);
			json_array_append_new(hl, e);
		}
		json_object_set_new(o, "hourly", hl);
	}
	free(hours);
	return 0;
}

/* The session id when the request carries a live one, else NULL. */
static const char *api_session(const struct web_req *q)
{
	return q->cookie_session && web_auth_session_valid(q->cookie_session, time(NULL)) ? q->cookie_session : NULL;
}

/* The rule in force for id, by the daemon's precedence: its own, else the most specific network
 * rule that covers its address (ctl_clients has already chosen between the file's and Redis's
 * rule of one id). *cl_out: the client of that rule, NULL in the file's view (without Redis). */
static const struct client_rule *rule_for(struct api *a, const char *id, const struct ctl_client **cl_out)
{
	struct cidr me;
	char err[200];
	bool addr = cidr_parse(id, &me, err, sizeof(err)) == 0;
	const struct client_rule *best = NULL;

	*cl_out = NULL;
	if (a->cs) {
		*cl_out = ctl_clients_covering(a->cs, id);
		return *cl_out ? ctl_client_rule(*cl_out) : NULL;
	}
	for (unsigned i = 0; addr && i < a->conf->policy.nclients; i++) {
		const struct client_rule *r = &a->conf->policy.clients[i];
		if (!r->by_mac && r->net.bits <= me.bits && cidr_match(&r->net, me.net) &&
		    (!best || r->net.bits > best->net.bits))
			best = r;
	}
	return best;
}

/* The /api/me document of id (the peer's own, or any for the admin). */
static json_t *device_doc(struct api *a, const char *id, bool hourly)
{
	json_t *o = json_object(), *groups = json_array();
	char name[128] = "", csrf[WEB_CSRF_HEX], macs[24];
	const struct ctl_client *cl = NULL;
	const struct client_rule *rule = NULL;
	struct effective e;
	struct ctl_clients *cs = api_clients(a);
	uint8_t mac[6];
	bool have_mac = false;

	json_object_set_new(o, "id", json_string(id));
	rule = rule_for(a, id, &cl);
	if (cs) {
		if (ctl_clients_name(cs, id, name, sizeof(name), NULL, a->err, sizeof(a->err)) < 0)
			name[0] = 0;
		have_mac = ctl_clients_mac(cs, id, mac, a->err, sizeof(a->err)) > 0;
	} else if (rule) { /* without Redis: the configuration file's view */
		snprintf(name, sizeof(name), "%s", rule->name);
	}
	api_effective(a, rule, &e);
	json_object_set_new(o, "name", name[0] ? jtext(name) : json_null());
	if (have_mac) {
		struct oui *t = api_oui(a->conf);
		const struct oui_vendor *v = oui_lookup(t, mac);
		snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
			 mac[4], mac[5]);
		json_object_set_new(o, "mac", json_string(macs));
		json_object_set_new(o, "vendor", v ? jtext(v->name) : json_null());
		oui_unref(t);
	} else {
		json_object_set_new(o, "mac", json_null());
		json_object_set_new(o, "vendor", json_null());
	}
	json_object_set_new(o, "mode", json_string(policy_mode_name(e.mode)));
	json_object_set_new(o, "block", block_json(e.block, e.nblock));
	const char *lk = locked_by(cl);
	json_object_set_new(o, "locked", json_boolean(lk != NULL));
	json_object_set_new(o, "locked_by", jtext(lk));
	for (unsigned i = 0; a->groups && i < groups_count(a->groups); i++)
		json_array_append_new(groups, json_string(groups_get(a->groups, i)->name));
	json_object_set_new(o, "groups", groups);
	json_object_set_new(o, "admin", json_boolean(a->admin));
	web_auth_csrf(api_session(a->q), &a->q->peer, csrf);
	json_object_set_new(o, "csrf", json_string(csrf));
	if (!a->rc || stats_into(a, o, id, hourly) < 0) {
		json_object_set_new(o, "redis", json_false());
		json_object_set_new(o, "counts", json_null());
		json_object_set_new(o, "top", json_object());
		json_object_set_new(o, "first_contacts", json_array());
		json_object_set_new(o, "last_seen", json_null());
		if (hourly)
			json_object_set_new(o, "hourly", json_array());
	} else {
		json_object_set_new(o, "redis", json_true());
	}
	return o;
}

/* ---------------------------------------------------------------- writes */

static bool json_body(const struct web_req *q)
{
	const char *ct = q->content_type;
	size_t n = strlen("application/json");

	return ct && !strncasecmp(ct, "application/json", n) && (!ct[n] || ct[n] == ';' || ct[n] == ' ');
}

/* Parse the body of kind; false with the reply made when it is no good. */
static bool api_body(const struct web_req *q, struct web_resp *r, enum web_body_kind kind,
		     struct web_body *b)
{
	char err[400];

	if (!json_body(q)) {
		reply_error(r, 415, "the body must be application/json");
		return false;
	}
	if (web_api_parse_body(q->body, q->body_len, kind, b, err, sizeof(err)) < 0) {
		reply_error(r, 400, err);
		return false;
	}
	return true;
}

static bool api_csrf(const struct web_req *q, struct web_resp *r)
{
	if (web_auth_csrf_ok(api_session(q), &q->peer, q->csrf))
		return true;
	reply_error(r, 403, "missing or wrong X-CSRF-Token header (take the csrf of GET /api/me)");
	return false;
}

static bool api_redis(struct api *a, struct web_resp *r)
{
	if (a->rc)
		return true;
	reply_error(r, 503, a->conf->redis.address[0]
		    ? "Redis is not reachable: changes need Redis ([redis] address); try again when it is up"
		    : "changes need Redis: set [redis] address in the configuration");
	return false;
}

/* Queue the client's settings (and its membership of the clients set); returns the count. */
static int queue_client(struct api *a, const char *id, const struct web_body *b, const char *block)
{
	int n = 0;

	polwrite_append(a->rc, "SADD %s" RSCHEMA_POLICY_CLIENTS " %s", a->base, id), n++;
	if (b->has_mode && !strcmp(b->mode, "default"))
		polwrite_append(a->rc, "HDEL %s" RSCHEMA_POLICY_CLIENT "%s %s", a->base, id, RSCHEMA_RULE_MODE), n++;
	else if (b->has_mode)
		polwrite_append(a->rc, "HSET %s" RSCHEMA_POLICY_CLIENT "%s %s %s", a->base, id, RSCHEMA_RULE_MODE, b->mode), n++;
	if (b->has_block)
		polwrite_append(a->rc, "HSET %s" RSCHEMA_POLICY_CLIENT "%s %s %s", a->base, id, RSCHEMA_RULE_BLOCK, block), n++;
	if (b->has_name && b->name[0])
		polwrite_append(a->rc, "HSET %s" RSCHEMA_POLICY_CLIENT "%s %s %s", a->base, id, RSCHEMA_RULE_NAME, b->name), n++;
	else if (b->has_name)
		polwrite_append(a->rc, "HDEL %s" RSCHEMA_POLICY_CLIENT "%s %s", a->base, id, RSCHEMA_RULE_NAME), n++;
	if (b->has_locked && b->locked)
		polwrite_append(a->rc, "HSET %s" RSCHEMA_POLICY_CLIENT "%s %s %s", a->base, id, RSCHEMA_RULE_LOCKED, "admin"), n++;
	else if (b->has_locked)
		polwrite_append(a->rc, "HDEL %s" RSCHEMA_POLICY_CLIENT "%s %s", a->base, id, RSCHEMA_RULE_LOCKED), n++;
	return n;
}

static bool api_commit(struct api *a, struct web_resp *r, int n)
{
	if (polwrite_commit(a->rc, a->base, a->channel, n, a->conf->redis.address, a->err, sizeof(a->err)) >= 0)
		return true;
	a->rc = NULL;
	reply_error(r, 503, a->err);
	return false;
}

/* PUT /api/me and PUT /api/devices/{id} */
static void put_client(struct api *a, struct web_resp *r, const char *id, enum web_body_kind kind)
{
	struct web_body b = { 0 };
	char block[400] = "", err[600];

	if (!api_csrf(a->q, r) || !api_body(a->q, r, kind, &b) || !api_redis(a, r))
		goto out;
	if (b.has_block && web_api_block_text(&b, a->groups, block, sizeof(block), err, sizeof(err)) < 0) {
		reply_error(r, 400, err);
		goto out;
	}
	if (kind == WB_ME) {
		struct ctl_clients *cs = api_clients(a);
		if (!cs) {
			api_redis(a, r);
			goto out;
		}
		const struct ctl_client *cl;
		rule_for(a, id, &cl); /* a locked network rule binds every device in it */
		if (locked_by(cl)) {
			reply_error(r, 403, "locked by the administrator");
			goto out;
		}
	}
	polwrite_begin(a->rc);
	if (api_commit(a, r, queue_client(a, id, &b, block))) {
		ctl_clients_free(a->cs); /* read again: the document shows the change */
		a->cs = NULL;
		reply_json(r, 200, device_doc(a, id, false));
	}
out:
	web_api_body_free(&b);
}

static void get_devices(struct api *a, struct web_resp *r)
{
	json_t *doc = json_object(), *list = json_array();
	struct ctl_clients *cs = api_clients(a);
	redisReply *m = cs ? api_cmd(a, "SMEMBERS %s" RSCHEMA_STATS_CLIENTS, a->sbase) : NULL;
	struct oui *t = api_oui(a->conf);
	size_t nrules = 0, nids = 0;
	const struct ctl_client *rules = cs ? ctl_clients_all(cs, &nrules) : NULL;
	const char **ids = NULL;
	struct effective def;

	if (!m || m->type != REDIS_REPLY_ARRAY) {
		if (m)
			freeReplyObject(m);
		oui_unref(t);
		json_decref(doc);
		json_decref(list);
		api_redis(a, r);
		return;
	}
	api_defaults(a, &def);
	ids = calloc(m->elements + nrules + 1, sizeof(*ids));
	for (size_t i = 0; ids && i < m->elements; i++)
		ids[nids++] = m->element[i]->str;
	for (size_t i = 0; ids && i < nrules; i++) {
		bool dup = false;
		for (size_t k = 0; k < m->elements && !dup; k++)
			dup = !strcmp(m->element[k]->str, rules[i].id);
		if (!dup && !rules[i].invalid)
			ids[nids++] = rules[i].id;
	}
	/* one pipeline for every device's counters, read in full before the names and MACs
	 * (ctl_clients_name and _mac may ask Redis themselves) */
	struct statsread_counts *counts = calloc(nids + 1, sizeof(*counts));
	for (size_t i = 0; counts && i < nids; i++)
		redisAppendCommand(a->rc, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s", a->sbase, ids[i]);
	for (size_t i = 0; counts && i < nids; i++) {
		redisReply *h = NULL;
		if (a->rc && (redisGetReply(a->rc, (void **)&h) != REDIS_OK || !h)) {
			a->rc = NULL;
		}
		statsread_add(&counts[i], h);
		if (h)
			freeReplyObject(h);
	}
	if (a->rc && ctl_clients_prefetch(cs, ids, nids, a->err, sizeof(a->err)) < 0)
		a->rc = NULL; /* names and MACs then fail one by one: shown as none */
	for (size_t i = 0; counts && i < nids; i++) {
		const struct statsread_counts c = counts[i];
		char name[128] = "", macs[24];
		uint8_t mac[6];
		const struct ctl_client *cl;
		const struct client_rule *rule = rule_for(a, ids[i], &cl);
		json_t *o = json_object(), *g = json_object();
		json_object_set_new(o, "id", jtext(ids[i]));
		if (ctl_clients_name(cs, ids[i], name, sizeof(name), NULL, a->err, sizeof(a->err)) < 0)
			name[0] = 0;
		json_object_set_new(o, "name", name[0] ? jtext(name) : json_null());
		if (ctl_clients_mac(cs, ids[i], mac, a->err, sizeof(a->err)) > 0) {
			const struct oui_vendor *v = oui_lookup(t, mac);
			snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
				 mac[3], mac[4], mac[5]);
			json_object_set_new(o, "mac", json_string(macs));
			json_object_set_new(o, "vendor", v ? jtext(v->name) : json_null());
		} else {
			json_object_set_new(o, "mac", json_null());
			json_object_set_new(o, "vendor", json_null());
		}
		json_object_set_new(o, "queries", json_integer(c.queries));
		for (unsigned k = 0; k < c.ngroups; k++)
			json_object_set_new(g, c.g[k].name, json_integer(c.g[k].total));
		json_object_set_new(o, "groups", g);
		json_object_set_new(o, "blocked", json_integer(c.blocked));
		json_object_set_new(o, "last_seen", c.last_seen ? json_integer(c.last_seen) : json_null());
		json_object_set_new(o, "mode", json_string(policy_mode_name(rule && rule->mode >= 0
									     ? (enum pmode)rule->mode : def.mode)));
		json_object_set_new(o, "locked", json_boolean(locked_by(cl) != NULL));
		json_array_append_new(list, o);
	}
	free(counts);
	free(ids);
	freeReplyObject(m);
	oui_unref(t);
	json_object_set_new(doc, "devices", list);
	reply_json(r, 200, doc);
}

static json_t *set_json(struct api *a, const char *what)
{
	json_t *l = json_array();
	redisReply *m = api_cmd(a, "SMEMBERS %s%s", a->base, what);

	for (size_t i = 0; m && m->type == REDIS_REPLY_ARRAY && i < m->elements; i++)
		json_array_append_new(l, jtext(m->element[i]->str));
	if (m)
		freeReplyObject(m);
	return l;
}

static json_t *policy_doc(struct api *a)
{
	json_t *o = json_object(), *d = json_object();
	struct effective e;

	api_defaults(a, &e);
	json_object_set_new(d, "mode", json_string(policy_mode_name(e.mode)));
	json_object_set_new(d, "block", block_json(e.block, e.nblock));
	json_object_set_new(o, "default", d);
	json_object_set_new(o, "allow", set_json(a, RSCHEMA_POLICY_ALLOW));
	json_object_set_new(o, "deny", set_json(a, RSCHEMA_POLICY_DENY));
	json_object_set_new(o, "redis", json_boolean(a->rc != NULL));
	return o;
}

static void put_policy(struct api *a, struct web_resp *r)
{
	struct web_body b = { 0 };
	char block[400] = "", err[600];
	int n = 0;

	if (!api_csrf(a->q, r) || !api_body(a->q, r, WB_POLICY, &b) || !api_redis(a, r))
		goto out;
	if (b.has_block && web_api_block_text(&b, a->groups, block, sizeof(block), err, sizeof(err)) < 0) {
		reply_error(r, 400, err);
		goto out;
	}
	polwrite_begin(a->rc);
	if (b.has_mode)
		polwrite_append(a->rc, "HSET %s" RSCHEMA_POLICY_DEFAULT " %s %s", a->base, RSCHEMA_RULE_MODE, b.mode), n++;
	if (b.has_block)
		polwrite_append(a->rc, "HSET %s" RSCHEMA_POLICY_DEFAULT " %s %s", a->base, RSCHEMA_RULE_BLOCK, block), n++;
	for (int s = 0; s < 2; s++) {
		bool has = s ? b.has_deny : b.has_allow;
		char **l = s ? b.deny : b.allow;
		const char *set = s ? RSCHEMA_POLICY_DENY : RSCHEMA_POLICY_ALLOW;
		if (!has)
			continue;
		polwrite_append(a->rc, "DEL %s%s", a->base, set), n++;
		for (unsigned i = 0; l && l[i]; i++)
			polwrite_append(a->rc, "SADD %s%s %s", a->base, set, l[i]), n++;
	}
	if (api_commit(a, r, n))
		reply_json(r, 200, policy_doc(a));
out:
	web_api_body_free(&b);
}

/* ---------------------------------------------------------------- login */

static void post_login(struct api *a, struct web_resp *r)
{
	struct web_body b = { 0 };
	const struct web_req *q = a->q;
	time_t now = time(NULL);
	char err[600], sid[WEB_SESSION_HEX], csrf[WEB_CSRF_HEX];
	unsigned wait;
	int ok;

	if ((wait = web_auth_login_wait(&q->peer, now))) {
		snprintf(r->retry_after, sizeof(r->retry_after), "%u", wait);
		reply_error(r, 429, "too many wrong passwords from this device; try again later");
		goto out;
	}
	if (!api_body(q, r, WB_LOGIN, &b))
		goto out;
	ok = web_auth_check_file(a->conf->web.password_file, b.password, err, sizeof(err));
	if (ok < 0) {
		json_t *o = json_object(); /* not a Redis matter: no "redis" member */
		json_object_set_new(o, "error", json_string("no admin password is set: run jurisdns-ctl "
							    "web passwd on the server"));
		reply_json(r, 503, o);
		goto out;
	}
	if (!ok) {
		/* this one is answered; from the 6th try in the window on, login_wait says 429 */
		web_auth_login_failed(&q->peer, now);
		reply_error(r, 401, "wrong password");
		goto out;
	}
	web_auth_login_ok(&q->peer);
	unsigned hours = a->conf->web.session_hours ? a->conf->web.session_hours : 12;
	if (web_auth_session_new(hours, now, sid) < 0) {
		reply_error(r, 500, "no randomness for a session");
		goto out;
	}
	web_auth_cookie(sid, hours * 3600, a->conf->web.tls, r->set_cookie, sizeof(r->set_cookie));
	web_auth_csrf(sid, &q->peer, csrf);
	json_t *o = json_object();
	json_object_set_new(o, "admin", json_true());
	json_object_set_new(o, "csrf", json_string(csrf));
	reply_json(r, 200, o);
out:
	explicit_bzero(&b.password, sizeof(b.password));
	web_api_body_free(&b);
}

static void post_logout(struct api *a, struct web_resp *r)
{
	char csrf[WEB_CSRF_HEX];

	if (!api_csrf(a->q, r))
		return;
	if (api_session(a->q))
		web_auth_session_end(a->q->cookie_session);
	web_auth_cookie(NULL, 0, a->conf->web.tls, r->set_cookie, sizeof(r->set_cookie));
	web_auth_csrf(NULL, &a->q->peer, csrf);
	json_t *o = json_object();
	json_object_set_new(o, "admin", json_false());
	json_object_set_new(o, "csrf", json_string(csrf));
	reply_json(r, 200, o);
}

/* ---------------------------------------------------------------- dispatch */

/* The peer's id as the policy names it (ctl_client_canon of its address). */
static int peer_id(const struct addr *peer, char *out, size_t len)
{
	uint8_t v6[16];
	char ip[INET6_ADDRSTRLEN], err[200];
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (peer->u.sa.sa_family != AF_INET && peer->u.sa.sa_family != AF_INET6)
		return -1;
	addr_to_v6(&peer->u.sa, v6);
	if (!memcmp(v6, mapped, 12))
		inet_ntop(AF_INET, v6 + 12, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, v6, ip, sizeof(ip));
	return ctl_client_canon(ip, out, len, err, sizeof(err));
}

static bool is(const struct web_req *q, const char *m)
{
	return q->method && !strcmp(q->method, m);
}

static void dispatch(struct api *a, struct web_resp *r)
{
	const struct web_req *q = a->q;
	bool get = is(q, "GET") || is(q, "HEAD"), put = is(q, "PUT"), post = is(q, "POST");

	switch (q->route) {
	case WR_API_ME:
		if (get)
			return reply_json(r, 200, device_doc(a, a->peer, false));
		if (put)
			return put_client(a, r, a->peer, WB_ME);
		break;
	case WR_API_LOGIN:
		if (post)
			return post_login(a, r);
		break;
	case WR_API_LOGOUT:
		if (post)
			return post_logout(a, r);
		break;
	case WR_API_EVENTS:
		if (!get)
			break;
		r->status = 200;
		r->sse = true;
		snprintf(r->sse_client, sizeof(r->sse_client), "%s", a->admin ? "" : a->peer);
		return;
	case WR_API_DEVICES:
	case WR_API_DEVICE:
	case WR_API_POLICY:
		if (!get && !put)
			break;
		if (!a->admin)
			return reply_error(r, 401, "this needs the admin password: log in first (POST /api/login)");
		if (q->route == WR_API_DEVICES && get)
			return get_devices(a, r);
		if (q->route == WR_API_DEVICE && !q->device[0])
			return reply_error(r, 404, "no such device");
		if (q->route == WR_API_DEVICE && get)
			return reply_json(r, 200, device_doc(a, q->device, true));
		if (q->route == WR_API_DEVICE)
			return put_client(a, r, q->device, WB_DEVICE);
		if (q->route == WR_API_POLICY && get)
			return reply_json(r, 200, policy_doc(a));
		if (q->route == WR_API_POLICY)
			return put_policy(a, r);
		break;
	default:
		return reply_error(r, 404, "no such API");
	}
	reply_error(r, 405, "method not allowed here");
}

void web_api_handle(const struct web_req *q, struct web_resp *r)
{
	struct api a = { .q = q, .conf = q->conf };
	char path[512], err[600];

	if (!q->conf) {
		reply_error(r, 500, "no configuration");
		return;
	}
	if (peer_id(&q->peer, a.peer, sizeof(a.peer)) < 0) {
		reply_error(r, 403, "this device has no address the policy can name");
		return;
	}
	a.admin = api_session(q) != NULL;
	conf_groups_path(q->conf, path, sizeof(path));
	a.groups = path[0] ? groups_load_names(path, err, sizeof(err)) : NULL;
	if (rschema_policy_base(a.base, sizeof(a.base), q->conf->redis.prefix) == 0 &&
	    rschema_stats_base(a.sbase, sizeof(a.sbase), q->conf->redis.prefix) == 0 &&
	    rschema_channel(a.channel, sizeof(a.channel), q->conf->redis.prefix) == 0 &&
	    q->route != WR_API_LOGIN && q->route != WR_API_LOGOUT && q->route != WR_API_EVENTS)
		a.rc = a.conn = api_connect(&q->conf->redis);
	dispatch(&a, r);
	ctl_clients_free(a.cs);
	if (a.groups)
		groups_unref(a.groups);
	if (a.conn)
		redisFree(a.conn);
}
