/* stats_flush.c - the control thread's statistics: merge the workers' tables, turn the merged
 * counts into one EVAL per flush, resend it unchanged until Redis acknowledges it. */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "label.h"
#include "metrics_text.h"
#include "policy.h"
#include "rschema.h"
#include "stats_flush.h"
#include "util.h"
#include "wire.h"

/* The Redis side (key names, the flush script src/lua/stats_flush.lua) is src/rschema.h. */

struct acc_client {
	char id[64];
	struct stats_sums c;
};

struct acc_domain {
	unsigned client;             /* index into clients */
	char group[GROUP_NAME_MAX];
	char domain[256];
	uint8_t kind;
	char why[LABEL_WHY_MAX];     /* of the first table that had it, as kind */
	uint64_t count;
};

#define ACC_CLIENTS 4096
#define ACC_DOMAINS 8192
#define ACC_RECENT 1024

struct acc_recent {
	uint64_t ts;
	char client[64];
	char group[GROUP_NAME_MAX];
	char domain[256];
	char why[LABEL_WHY_MAX];
	uint8_t reason, action;
};

struct acc {
	bool used;
	struct stats_sums total;
	struct acc_client *clients;
	unsigned nclients, capclients;
	struct acc_domain *domains;
	unsigned ndomains, capdomains;
	struct acc_recent *recent;   /* a ring of ACC_RECENT, allocated when first needed */
	unsigned nrecent;            /* added since the last batch; the last ACC_RECENT are kept */
};

struct stats_sync {
	uv_loop_t *loop;
	struct redis_conf rcfg;
	struct stats_conf scfg;
	struct rconn *rc;
	uv_timer_t timer;            /* at exit: how long the last flush may take */
	struct acc acc;
	/* the batch in flight: resent as it is until Redis acknowledges it */
	char **argv;
	size_t *argvlen;
	int argc;
	bool waiting;
	uint64_t batch_queries;      /* in the batch in flight */
	char boot[24];               /* per-start part of the sequence */
	uint64_t seq;
	long geo_age;
	bool stopping;
	struct stats_sums cum;       /* since start, for the metrics endpoint */
	char base[160];              /* P{stats}: */
};

static struct acc_client *flush_acc_client(struct acc *a, const char *id)
{
	for (unsigned i = 0; i < a->nclients; i++)
		if (!strcmp(a->clients[i].id, id))
			return &a->clients[i];
	if (a->nclients == ACC_CLIENTS) {
		/* bounded during a long outage: the rest merge into "other" */
		if (strcmp(id, "other"))
			return flush_acc_client(a, "other");
		return &a->clients[a->nclients - 1];
	}
	if (a->nclients == a->capclients) {
		unsigned cap = a->capclients ? a->capclients * 2 : 64;
		struct acc_client *n = realloc(a->clients, cap * sizeof(*n));
		if (!n)
			return NULL;
		a->clients = n;
		a->capclients = cap;
	}
	struct acc_client *c = &a->clients[a->nclients++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	return c;
}

static void flush_acc_domain(struct acc *a, unsigned client, const char *group, const char *domain,
		       uint8_t kind, const char *why, uint64_t count)
{
	for (unsigned i = 0; i < a->ndomains; i++) {
		struct acc_domain *d = &a->domains[i];
		if (d->client == client && !strcmp(d->group, group) && !strcmp(d->domain, domain)) {
			d->count += count;
			return;
		}
	}
	if (a->ndomains == ACC_DOMAINS)
		return;
	if (a->ndomains == a->capdomains) {
		unsigned cap = a->capdomains ? a->capdomains * 2 : 64;
		struct acc_domain *n = realloc(a->domains, cap * sizeof(*n));
		if (!n)
			return;
		a->domains = n;
		a->capdomains = cap;
	}
	struct acc_domain *d = &a->domains[a->ndomains++];
	d->client = client;
	snprintf(d->group, sizeof(d->group), "%s", group);
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	d->kind = kind;
	snprintf(d->why, sizeof(d->why), "%s", why);
	d->count = count;
}

void stats_sync_merge(struct stats_sync *s, struct stats_table *t)
{
	struct acc *a = &s->acc;
	unsigned map[STATS_CLIENTS];
	char id[64];

	if (!t->used)
		return;
	stats_sums_add(&s->cum, &t->total, t);
	if (!s->rc) { /* metrics only: no Redis to flush to */
		stats_table_reset(t);
		return;
	}
	a->used = true;
	stats_sums_add(&a->total, &t->total, t);
	for (unsigned i = 0; i < STATS_CLIENTS; i++) {
		const struct stats_client *c = &t->clients[i];
		map[i] = UINT32_MAX;
		if (!c->kind)
			continue;
		stats_client_id(c, id, sizeof(id));
		struct acc_client *ac = flush_acc_client(a, id);
		if (!ac)
			continue;
		stats_sums_add(&ac->c, &c->c, t);
		map[i] = (unsigned)(ac - a->clients);
	}
	for (uint32_t i = 0; i < t->ndomains; i++) {
		const struct stats_domain *d = &t->domains[i];
		char text[1100];
		if (map[d->client] == UINT32_MAX)
			continue;
		wire_name_str(d->name, d->len, text, sizeof(text));
		size_t tl = strlen(text);
		if (tl > 1 && text[tl - 1] == '.')
			text[--tl] = 0;
		if (tl < 256)
			flush_acc_domain(a, map[d->client], t->gnames[d->group], text, d->kind, d->why, d->count);
	}
	uint32_t first = t->nrecent > STATS_RECENT ? t->nrecent - STATS_RECENT : 0;
	for (uint32_t i = first; i < t->nrecent && s->scfg.recent; i++) {
		const struct stats_recent *q = &t->recent[i % STATS_RECENT];
		struct stats_client tmp = { .kind = q->kind };
		if (!a->recent && !(a->recent = calloc(ACC_RECENT, sizeof(*a->recent))))
			break;
		struct acc_recent *r = &a->recent[a->nrecent++ % ACC_RECENT];
		memcpy(tmp.key, q->key, sizeof(tmp.key));
		stats_client_id(&tmp, r->client, sizeof(r->client));
		snprintf(r->group, sizeof(r->group), "%s", t->gnames[q->group]);
		wire_name_str(q->name, q->len, r->domain, sizeof(r->domain));
		size_t dl = strlen(r->domain);
		if (dl > 1 && r->domain[dl - 1] == '.')
			r->domain[dl - 1] = 0;
		r->ts = q->ts;
		r->reason = q->reason;
		snprintf(r->why, sizeof(r->why), "%s", q->why);
		r->action = q->action;
	}
	stats_table_reset(t);
}

/* ---- the flush ---- */

static const char *const fixed_names[] = { "queries", "cache_hits", "blocked", "rewritten" };

struct argbuf {
	char **v;
	size_t *len;
	int n, cap;
	bool oom;
};

static void flush_arg(struct argbuf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void flush_arg(struct argbuf *a, const char *fmt, ...)
{
	va_list ap;
	char tmp[600];
	int n;

	if (a->oom)
		return;
	if (a->n == a->cap) {
		int cap = a->cap ? a->cap * 2 : 256;
		char **v = realloc(a->v, (size_t)cap * sizeof(*v));
		size_t *l = v ? realloc(a->len, (size_t)cap * sizeof(*l)) : NULL;
		if (v)
			a->v = v;
		if (!v || !l) {
			a->oom = true;
			return;
		}
		a->len = l;
		a->cap = cap;
	}
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp) || !(a->v[a->n] = strdup(tmp))) {
		a->oom = true;
		return;
	}
	a->len[a->n++] = (size_t)n;
}

/* "n f1 v1 f2 v2 ..." for the non-zero counters */
static void flush_counts_args(struct argbuf *a, const struct stats_sums *c)
{
	int at = a->n, n = 0;

	flush_arg(a, "0"); /* the count, fixed below */
	for (int i = 0; i < ST_NFIXED; i++)
		if (c->n[i]) {
			flush_arg(a, "%s", fixed_names[i]);
			flush_arg(a, "%llu", (unsigned long long)c->n[i]);
			n++;
		}
	for (int i = 1; i <= PACT_LOCAL; i++)
		if (c->act[i]) {
			flush_arg(a, "a:%s", policy_action_name((enum paction)i));
			flush_arg(a, "%llu", (unsigned long long)c->act[i]);
			n++;
		}
	for (unsigned g = 0; g < c->ngroups; g++)
		for (int r = 0; r < 4; r++)
			if (c->g[g].v[r]) {
				if (r)
					flush_arg(a, "g:%s:%s", c->g[g].name, label_kind_names[r - 1]);
				else
					flush_arg(a, "g:%s", c->g[g].name);
				flush_arg(a, "%llu", (unsigned long long)c->g[g].v[r]);
				n++;
			}
	if (!a->oom) {
		free(a->v[at]);
		a->v[at] = NULL;
		char tmp[16];
		a->len[at] = (size_t)snprintf(tmp, sizeof(tmp), "%d", n);
		if (!(a->v[at] = strdup(tmp)))
			a->oom = true;
	}
}

static void flush_free_batch(struct stats_sync *s)
{
	for (int i = 0; i < s->argc; i++)
		free(s->argv[i]);
	free(s->argv);
	free(s->argvlen);
	s->argv = NULL;
	s->argvlen = NULL;
	s->argc = 0;
	s->batch_queries = 0;
}

/* Turn the merged counts into the next batch (a new sequence) and start merging afresh. */
static bool flush_build_batch(struct stats_sync *s)
{
	struct argbuf a = { 0 };
	struct acc *acc = &s->acc;
	char hour[16];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(hour, sizeof(hour), RSCHEMA_HOUR_FORMAT, &tm);
	flush_arg(&a, "EVAL");
	flush_arg(&a, "%s", ""); /* the script, set below */
	flush_arg(&a, "1");
	flush_arg(&a, "%s" RSCHEMA_STATS_APPLIED, s->base);
	flush_arg(&a, "%s", s->base);
	flush_arg(&a, "%s", s->scfg.instance);
	flush_arg(&a, "%s:%llu", s->boot, (unsigned long long)++s->seq);
	flush_arg(&a, "%s", hour);
	flush_arg(&a, "%u", s->scfg.retention * 3600);
	flush_arg(&a, "%u", s->scfg.top_domains);
	flush_arg(&a, "%u", s->scfg.events);
	flush_arg(&a, "%lld", (long long)now);
	flush_arg(&a, "%s", PACKAGE_VERSION);
	flush_arg(&a, "%ld", s->geo_age);
	flush_arg(&a, "%u", s->scfg.interval / 1000 * 3 + 30); /* heartbeat TTL */
	if (acc->used) {
		flush_arg(&a, "T");
		flush_counts_args(&a, &acc->total);
		for (unsigned i = 0; i < acc->nclients; i++) {
			flush_arg(&a, "C");
			flush_arg(&a, "%s", acc->clients[i].id);
			flush_counts_args(&a, &acc->clients[i].c);
		}
		for (unsigned i = 0; i < acc->ndomains; i++) {
			const struct acc_domain *d = &acc->domains[i];
			flush_arg(&a, "D");
			flush_arg(&a, "%s", acc->clients[d->client].id);
			flush_arg(&a, "%s", d->group);
			flush_arg(&a, "%s", d->domain);
			flush_arg(&a, "%llu", (unsigned long long)d->count);
			flush_arg(&a, "%s", label_kind_names[d->kind]);
			flush_arg(&a, "%s", d->why);
		}
		unsigned nr = acc->nrecent < ACC_RECENT ? acc->nrecent : ACC_RECENT;
		for (unsigned k = acc->nrecent - nr; k < acc->nrecent; k++) {
			const struct acc_recent *q = &acc->recent[k % ACC_RECENT];
			flush_arg(&a, "Q");
			flush_arg(&a, "%s", q->client);
			flush_arg(&a, "%s", q->group);
			flush_arg(&a, "%s", label_kind_names[q->reason]);
			flush_arg(&a, "%s", q->domain);
			flush_arg(&a, "%s", policy_action_name((enum paction)q->action));
			flush_arg(&a, "%llu", (unsigned long long)q->ts);
			flush_arg(&a, "%u", s->scfg.recent);
			flush_arg(&a, "%s", q->why);
		}
	}
	if (a.oom) {
		for (int i = 0; i < a.n; i++)
			free(a.v[i]);
		free(a.v);
		free(a.len);
		log_err("stats: out of memory building a flush; keeping the counts for the next one");
		s->seq--;
		return false;
	}
	free(a.v[1]);
	a.v[1] = NULL;
	a.len[1] = rschema_lua_stats_flush_len;
	s->argv = a.v;
	s->argvlen = a.len;
	s->argc = a.n;
	s->batch_queries = acc->total.n[ST_QUERIES];
	acc->used = false;
	memset(&acc->total, 0, sizeof(acc->total));
	acc->nclients = acc->ndomains = acc->nrecent = 0;
	return true;
}

static void flush_send_batch(struct stats_sync *s);
static void flush_close_now(struct stats_sync *s);

static void flush_on_reply(struct rconn *rc, redisReply *r, void *priv)
{
	struct stats_sync *s = priv;

	(void)rc;
	s->waiting = false;
	if (!r)
		return; /* the connection went away: the same batch goes again */
	if (r->type == REDIS_REPLY_ERROR) {
		log_warn("stats: the flush failed: %s; it is retried", r->str);
		return;
	}
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
		log_info("stats: flush %s had been applied already (its reply was lost); not counted twice",
			 s->argv[6]);
	flush_free_batch(s);
	if (s->stopping) {
		if (s->acc.used)
			stats_sync_flush(s);
		else {
			uv_timer_stop(&s->timer);
			flush_close_now(s);
		}
	}
}

static void flush_send_batch(struct stats_sync *s)
{
	if (s->waiting || !s->argc || !rconn_ready(s->rc))
		return;
	s->argv[1] = (char *)rschema_lua_stats_flush;
	if (rconn_command(s->rc, flush_on_reply, s, false, s->argc, (const char **)s->argv, s->argvlen) == 0)
		s->waiting = true;
	s->argv[1] = NULL;
}

void stats_sync_flush(struct stats_sync *s)
{
	if (!s->rc)
		return;
	if (!s->argc && !flush_build_batch(s))
		return;
	flush_send_batch(s);
}

static void flush_on_redis_state(struct rconn *rc, bool ready, void *data)
{
	(void)rc;
	if (ready)
		flush_send_batch(data);
}

struct stats_sync *stats_sync_start(uv_loop_t *loop, const struct redis_conf *rcfg,
				    const struct stats_conf *scfg)
{
	struct stats_sync *s = calloc(1, sizeof(*s));
	struct prng rng;

	if (!s)
		return NULL;
	s->loop = loop;
	if (rcfg)
		s->rcfg = *rcfg;
	s->scfg = *scfg;
	if (!s->scfg.instance[0] && gethostname(s->scfg.instance, sizeof(s->scfg.instance) - 1) < 0)
		snprintf(s->scfg.instance, sizeof(s->scfg.instance), "jurisdns");
	if (prng_seed(&rng) < 0)
		rng.s[0] = (uint64_t)time(NULL);
	snprintf(s->boot, sizeof(s->boot), "%016llx", (unsigned long long)prng_next(&rng));
	/* cannot fail: conf.c keeps the prefix well below the size */
	rschema_stats_base(s->base, sizeof(s->base), s->rcfg.prefix);
	s->geo_age = -1;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	if (rcfg && !(s->rc = rconn_new(loop, "stats", rcfg, flush_on_redis_state, s))) {
		uv_close((uv_handle_t *)&s->timer, NULL);
		free(s);
		return NULL;
	}
	return s;
}

void stats_sync_set_geo_age(struct stats_sync *s, long days)
{
	if (s)
		s->geo_age = days;
}

uint64_t stats_sync_pending_queries(const struct stats_sync *s)
{
	return s->batch_queries + s->acc.total.n[ST_QUERIES];
}

bool stats_sync_idle(const struct stats_sync *s)
{
	return !s->argc && !s->acc.used;
}

static void flush_on_closed(uv_handle_t *h)
{
	struct stats_sync *s = h->data;

	flush_free_batch(s);
	free(s->acc.clients);
	free(s->acc.domains);
	free(s->acc.recent);
	free(s);
}

static void flush_close_now(struct stats_sync *s)
{
	if (!stats_sync_idle(s))
		log_warn("stats: %llu queries could not be written to Redis before the exit",
			 (unsigned long long)stats_sync_pending_queries(s));
	if (s->rc)
		rconn_close(s->rc);
	s->rc = NULL;
	uv_close((uv_handle_t *)&s->timer, flush_on_closed);
}

static void flush_on_last_timeout(uv_timer_t *t)
{
	flush_close_now(t->data);
}

void stats_sync_stop(struct stats_sync *s)
{
	if (!s || s->stopping)
		return;
	s->stopping = true;
	if (!s->rc || stats_sync_idle(s) || !rconn_ready(s->rc)) {
		flush_close_now(s);
		return;
	}
	/* the last counts: flush, and close when Redis has them or the timeout passes */
	uv_timer_start(&s->timer, flush_on_last_timeout, s->rcfg.timeout, 0);
	stats_sync_flush(s);
}

const struct stats_sums *stats_sync_totals(const struct stats_sync *s)
{
	return &s->cum;
}

bool stats_sync_redis_up(const struct stats_sync *s)
{
	return rconn_ready(s->rc);
}

uint64_t stats_sync_unwritten(const struct stats_sync *s)
{
	return s->rc ? stats_sync_pending_queries(s) : 0;
}

void stats_sync_metrics(const struct stats_sync *s, struct strbuf *b)
{
	metrics_render_counts(b, s->scfg.instance, &s->cum, stats_sync_redis_up(s), stats_sync_unwritten(s));
}

const char *stats_sync_instance(const struct stats_sync *s)
{
	return s->scfg.instance;
}
