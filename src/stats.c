/* stats.c - counting on the workers, merging and flushing on the control thread. */
#include "config.h"
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "label.h"
#include "stats.h"
#include "util.h"
#include "wire.h"

/* ---- worker side ---- */

struct stats_table *stats_table_new(void)
{
	return calloc(1, sizeof(struct stats_table));
}

void stats_table_reset(struct stats_table *t)
{
	if (!t->used)
		return;
	memset(&t->total, 0, sizeof(t->total));
	memset(t->clients, 0, sizeof(t->clients));
	memset(t->dom_index, 0, sizeof(t->dom_index));
	t->nclients = t->ndomains = t->ngroups = t->used = t->nrecent = 0;
}

static int group_index(struct stats_table *t, const char *name)
{
	for (uint32_t i = 0; i < t->ngroups; i++)
		if (!strcmp(t->gnames[i], name))
			return (int)i;
	if (t->ngroups == STATS_GROUPS)
		return -1;
	snprintf(t->gnames[t->ngroups], GROUP_NAME_MAX, "%s", name);
	return (int)t->ngroups++;
}

/* The client's slot; the last slot is "other" once the table is full. */
static struct stats_client *client_slot(struct stats_table *t, uint8_t kind, const uint8_t *key)
{
	size_t klen = kind == 2 ? 6 : 16;
	uint32_t mask = STATS_CLIENTS - 1;
	uint32_t i = (uint32_t)hash_bytes(key, klen, 0x737461747321ULL) & mask;

	for (uint32_t n = 0; n < STATS_CLIENTS; n++, i = (i + 1) & mask) {
		struct stats_client *c = &t->clients[i];
		if (c->kind == kind && !memcmp(c->key, key, klen))
			return c;
		if (!c->kind) {
			if (t->nclients == STATS_CLIENTS - 1)
				break; /* keep one free slot so that lookups end */
			c->kind = kind;
			memset(c->key, 0, sizeof(c->key));
			memcpy(c->key, key, klen);
			t->nclients++;
			return c;
		}
	}
	return NULL;
}

static void count_into(struct stats_counts *c, const int *gidx, const uint8_t *kinds, unsigned ng,
		       bool cached, enum paction action)
{
	c->n[ST_QUERIES]++;
	c->n[ST_HITS] += cached;
	if (action != PACT_PASS) {
		c->act[action]++;
		if (action == PACT_STRIP || action == PACT_LOCAL)
			c->n[ST_REWRITTEN]++;
		else
			c->n[ST_BLOCKED]++;
	}
	for (unsigned i = 0; i < ng; i++) {
		c->g[gidx[i]][0]++;
		for (unsigned k = 0; k < 3; k++)
			c->g[gidx[i]][k + 1] += (kinds[i] >> k) & 1;
	}
}

static void count_domain(struct stats_table *t, uint16_t client, uint8_t group, uint8_t kind,
			 const uint8_t *qname, size_t qlen)
{
	uint32_t mask = STATS_DOMAINS * 2 - 1;
	uint64_t h = hash_bytes(qname, qlen, client * 131u + group);
	uint32_t i = (uint32_t)h & mask;

	for (uint32_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
		uint32_t d = t->dom_index[i];
		if (!d) {
			if (t->ndomains == STATS_DOMAINS)
				return; /* the top lists are approximate; the counters stay exact */
			struct stats_domain *e = &t->domains[t->ndomains];
			e->client = client;
			e->group = group;
			e->kind = kind;
			e->count = 1;
			e->len = (uint8_t)qlen;
			memcpy(e->name, qname, qlen);
			t->dom_index[i] = ++t->ndomains;
			return;
		}
		struct stats_domain *e = &t->domains[d - 1];
		if (e->client == client && e->group == group && e->len == qlen && !memcmp(e->name, qname, qlen)) {
			e->count++;
			return;
		}
	}
}

void stats_count(struct stats_table *t, enum pmode mode, const struct sockaddr *sa,
		 const uint8_t *mac, const struct label *l, const uint8_t *qname, size_t qlen,
		 bool cached, enum paction action)
{
	int gidx[LABEL_MAX_REASONS];
	uint8_t kinds[LABEL_MAX_REASONS], first_kind[LABEL_MAX_REASONS];
	unsigned ng = 0;

	t->used = 1;
	for (unsigned r = 0; l && r < l->nreasons; r++) {
		int g = group_index(t, l->reasons[r].group);
		unsigned k;
		if (g < 0)
			continue;
		for (k = 0; k < ng && gidx[k] != g; k++)
			;
		if (k == ng) {
			gidx[ng] = g;
			kinds[ng] = 0;
			first_kind[ng] = l->reasons[r].kind;
			ng++;
		}
		kinds[k] |= (uint8_t)(1u << l->reasons[r].kind);
	}
	count_into(&t->total, gidx, kinds, ng, cached, action);
	if (mode == PMODE_OFF)
		return; /* anonymous: totals only */
	uint8_t key[16];
	uint8_t kind = mac ? 2 : 1;
	if (mac)
		memcpy(key, mac, 6);
	else
		addr_to_v6(sa, key);
	struct stats_client *c = client_slot(t, kind, key);
	if (!c) {
		static const uint8_t other[16] = { 0 };
		c = client_slot(t, 3, other);
		if (!c)
			return;
	}
	count_into(&c->c, gidx, kinds, ng, cached, action);
	if (!ng || qlen > 255)
		return;
	uint8_t lower[255];
	memcpy(lower, qname, qlen);
	wire_name_lower(lower, qlen);
	for (unsigned i = 0; i < ng; i++)
		count_domain(t, (uint16_t)(c - t->clients), (uint8_t)gidx[i], first_kind[i], lower, qlen);
	if (t->keep_recent) {
		struct stats_recent *q = &t->recent[t->nrecent++ % STATS_RECENT];
		q->ts = (uint64_t)time(NULL);
		q->kind = c->kind;
		memcpy(q->key, c->key, sizeof(q->key));
		q->group = (uint8_t)gidx[0];
		q->reason = first_kind[0];
		q->action = (uint8_t)action;
		q->len = (uint8_t)qlen;
		memcpy(q->name, lower, qlen);
	}
}

void stats_push(_Atomic(struct stats_table *) *stack, struct stats_table *t)
{
	struct stats_table *head = atomic_load(stack);

	do
		t->next = head;
	while (!atomic_compare_exchange_weak(stack, &head, t));
}

struct stats_table *stats_take_all(_Atomic(struct stats_table *) *stack)
{
	return atomic_exchange(stack, NULL);
}

/* ---- control side: the merged counts ---- */

struct acc_counts {
	uint64_t n[ST_NFIXED];
	uint64_t act[PACT_LOCAL + 1];
	unsigned ngroups;
	struct {
		char name[GROUP_NAME_MAX];
		uint64_t v[4];
	} g[STATS_GROUPS];
};

struct acc_client {
	char id[64];
	struct acc_counts c;
};

struct acc_domain {
	unsigned client;             /* index into clients */
	char group[GROUP_NAME_MAX];
	char domain[256];
	uint8_t kind;
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
	uint8_t reason, action;
};

struct acc {
	bool used;
	struct acc_counts total;
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
	struct acc_counts cum;       /* since start, for the metrics endpoint */
	char base[160], applied_key[200];
};

static void merge_counts(struct acc_counts *a, const struct stats_counts *c, const struct stats_table *t)
{
	for (int i = 0; i < ST_NFIXED; i++)
		a->n[i] += c->n[i];
	for (int i = 0; i <= PACT_LOCAL; i++)
		a->act[i] += c->act[i];
	for (uint32_t g = 0; g < t->ngroups; g++) {
		if (!c->g[g][0])
			continue;
		unsigned k;
		for (k = 0; k < a->ngroups && strcmp(a->g[k].name, t->gnames[g]); k++)
			;
		if (k == a->ngroups) {
			if (k == STATS_GROUPS)
				continue;
			snprintf(a->g[k].name, GROUP_NAME_MAX, "%s", t->gnames[g]);
			memset(a->g[k].v, 0, sizeof(a->g[k].v));
			a->ngroups++;
		}
		for (int r = 0; r < 4; r++)
			a->g[k].v[r] += c->g[g][r];
	}
}

static void client_id_text(const struct stats_client *c, char *buf, size_t len)
{
	if (c->kind == 3) {
		snprintf(buf, len, "other");
	} else if (c->kind == 2) {
		snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", c->key[0], c->key[1], c->key[2],
			 c->key[3], c->key[4], c->key[5]);
	} else if (!memcmp(c->key, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		inet_ntop(AF_INET, c->key + 12, buf, (socklen_t)len);
	} else {
		inet_ntop(AF_INET6, c->key, buf, (socklen_t)len);
	}
}

static struct acc_client *acc_client(struct acc *a, const char *id)
{
	for (unsigned i = 0; i < a->nclients; i++)
		if (!strcmp(a->clients[i].id, id))
			return &a->clients[i];
	if (a->nclients == ACC_CLIENTS) {
		/* bounded during a long outage: the rest merge into "other" */
		if (strcmp(id, "other"))
			return acc_client(a, "other");
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

static void acc_domain(struct acc *a, unsigned client, const char *group, const char *domain,
		       uint8_t kind, uint64_t count)
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
	d->count = count;
}

void stats_sync_merge(struct stats_sync *s, struct stats_table *t)
{
	struct acc *a = &s->acc;
	unsigned map[STATS_CLIENTS];
	char id[64];

	if (!t->used)
		return;
	merge_counts(&s->cum, &t->total, t);
	if (!s->rc) { /* metrics only: no Redis to flush to */
		stats_table_reset(t);
		return;
	}
	a->used = true;
	merge_counts(&a->total, &t->total, t);
	for (unsigned i = 0; i < STATS_CLIENTS; i++) {
		const struct stats_client *c = &t->clients[i];
		map[i] = UINT32_MAX;
		if (!c->kind)
			continue;
		client_id_text(c, id, sizeof(id));
		struct acc_client *ac = acc_client(a, id);
		if (!ac)
			continue;
		merge_counts(&ac->c, &c->c, t);
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
			acc_domain(a, map[d->client], t->gnames[d->group], text, d->kind, d->count);
	}
	uint32_t first = t->nrecent > STATS_RECENT ? t->nrecent - STATS_RECENT : 0;
	for (uint32_t i = first; i < t->nrecent && s->scfg.recent; i++) {
		const struct stats_recent *q = &t->recent[i % STATS_RECENT];
		struct stats_client tmp = { .kind = q->kind };
		if (!a->recent && !(a->recent = calloc(ACC_RECENT, sizeof(*a->recent))))
			break;
		struct acc_recent *r = &a->recent[a->nrecent++ % ACC_RECENT];
		memcpy(tmp.key, q->key, sizeof(tmp.key));
		client_id_text(&tmp, r->client, sizeof(r->client));
		snprintf(r->group, sizeof(r->group), "%s", t->gnames[q->group]);
		wire_name_str(q->name, q->len, r->domain, sizeof(r->domain));
		size_t dl = strlen(r->domain);
		if (dl > 1 && r->domain[dl - 1] == '.')
			r->domain[dl - 1] = 0;
		r->ts = q->ts;
		r->reason = q->reason;
		r->action = q->action;
	}
	stats_table_reset(t);
}

/* ---- the flush ---- */

/* Exactly once: a batch carries (instance, seq); the script applies a seq once, and a batch is
 * resent unchanged until acknowledged. Every key shares the {stats} hash tag. */
const char stats_script[] =
	"local b, inst, seq, hour = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
	"local ret, topcap, evcap, now = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]\n"
	"local hb = b .. 'instance:' .. inst\n"
	"redis.call('HSET', hb, 'version', ARGV[9], 'geo_age_days', ARGV[10], 'last_flush', now)\n"
	"redis.call('EXPIRE', hb, ARGV[11])\n"
	"if redis.call('HGET', KEYS[1], inst) == seq then return 0 end\n"
	"local function add(key, i)\n"
	"  local n, first = tonumber(ARGV[i]), {}\n"
	"  for k = 1, n do\n"
	"    local f, v = ARGV[i + 2 * k - 1], tonumber(ARGV[i + 2 * k])\n"
	"    if redis.call('HINCRBY', key, f, v) == v then first[#first + 1] = f end\n"
	"  end\n"
	"  return i + 1 + 2 * n, first\n"
	"end\n"
	"local function event(...)\n"
	"  redis.call('XADD', b .. 'events', 'MAXLEN', '~', evcap, '*', ...)\n"
	"end\n"
	"local i = 12\n"
	"while i <= #ARGV do\n"
	"  local t = ARGV[i]\n"
	"  if t == 'T' then\n"
	"    local j = add(b .. 'total', i + 1)\n"
	"    add(b .. 'total:' .. hour, i + 1)\n"
	"    redis.call('EXPIRE', b .. 'total:' .. hour, ret)\n"
	"    i = j\n"
	"  elseif t == 'C' then\n"
	"    local id = ARGV[i + 1]\n"
	"    local key = b .. 'client:' .. id\n"
	"    redis.call('SADD', b .. 'clients', id)\n"
	"    local j, first = add(key, i + 2)\n"
	"    add(key .. ':' .. hour, i + 2)\n"
	"    redis.call('EXPIRE', key .. ':' .. hour, ret)\n"
	"    redis.call('HSETNX', key, 'first_seen', now)\n"
	"    redis.call('HSET', key, 'last_seen', now)\n"
	"    for _, f in ipairs(first) do\n"
	"      if string.sub(f, 1, 2) == 'g:' and not string.find(f, ':', 3, true) then\n"
	"        event('type', 'group', 'client', id, 'group', string.sub(f, 3), 'ts', now, 'instance', inst)\n"
	"      end\n"
	"    end\n"
	"    i = j\n"
	"  elseif t == 'D' then\n"
	"    local id, g, d, c, why = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]\n"
	"    local top = b .. 'top:' .. id .. ':' .. g\n"
	"    redis.call('ZINCRBY', top, c, d)\n"
	"    if redis.call('ZCARD', top) > topcap then redis.call('ZREMRANGEBYRANK', top, 0, -topcap - 1) end\n"
	"    redis.call('EXPIRE', top, ret)\n"
	"    local seen = b .. 'seen:' .. id .. ':' .. g\n"
	"    if redis.call('SADD', seen, d) == 1 then\n"
	"      event('type', 'domain', 'client', id, 'group', g, 'domain', d, 'reason', why, 'ts', now, 'instance', inst)\n"
	"    end\n"
	"    redis.call('EXPIRE', seen, ret)\n"
	"    i = i + 6\n"
	"  elseif t == 'Q' then\n"
	"    redis.call('XADD', b .. 'recent', 'MAXLEN', '~', ARGV[i + 7], '*', 'client', ARGV[i + 1],\n"
	"      'group', ARGV[i + 2], 'reason', ARGV[i + 3], 'domain', ARGV[i + 4], 'action', ARGV[i + 5],\n"
	"      'ts', ARGV[i + 6], 'instance', inst)\n"
	"    i = i + 8\n"
	"  else\n"
	"    return redis.error_reply('jurisdns stats: bad record at ' .. i)\n"
	"  end\n"
	"end\n"
	"redis.call('HSET', KEYS[1], inst, seq)\n"
	"return 1\n";

static const char *const fixed_names[] = { "queries", "cache_hits", "blocked", "rewritten" };

struct argbuf {
	char **v;
	size_t *len;
	int n, cap;
	bool oom;
};

static void arg(struct argbuf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argbuf *a, const char *fmt, ...)
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
static void counts_args(struct argbuf *a, const struct acc_counts *c)
{
	int at = a->n, n = 0;

	arg(a, "0"); /* the count, fixed below */
	for (int i = 0; i < ST_NFIXED; i++)
		if (c->n[i]) {
			arg(a, "%s", fixed_names[i]);
			arg(a, "%llu", (unsigned long long)c->n[i]);
			n++;
		}
	for (int i = 1; i <= PACT_LOCAL; i++)
		if (c->act[i]) {
			arg(a, "a:%s", policy_action_name((enum paction)i));
			arg(a, "%llu", (unsigned long long)c->act[i]);
			n++;
		}
	for (unsigned g = 0; g < c->ngroups; g++)
		for (int r = 0; r < 4; r++)
			if (c->g[g].v[r]) {
				if (r)
					arg(a, "g:%s:%s", c->g[g].name, label_kind_names[r - 1]);
				else
					arg(a, "g:%s", c->g[g].name);
				arg(a, "%llu", (unsigned long long)c->g[g].v[r]);
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

static void free_batch(struct stats_sync *s)
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
static bool build_batch(struct stats_sync *s)
{
	struct argbuf a = { 0 };
	struct acc *acc = &s->acc;
	char hour[16];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(hour, sizeof(hour), "%Y%m%d%H", &tm);
	arg(&a, "EVAL");
	arg(&a, "%s", ""); /* the script, set below */
	arg(&a, "1");
	arg(&a, "%sapplied", s->base);
	arg(&a, "%s", s->base);
	arg(&a, "%s", s->scfg.instance);
	arg(&a, "%s:%llu", s->boot, (unsigned long long)++s->seq);
	arg(&a, "%s", hour);
	arg(&a, "%u", s->scfg.retention * 3600);
	arg(&a, "%u", s->scfg.top_domains);
	arg(&a, "%u", s->scfg.events);
	arg(&a, "%lld", (long long)now);
	arg(&a, "%s", PACKAGE_VERSION);
	arg(&a, "%ld", s->geo_age);
	arg(&a, "%u", s->scfg.interval / 1000 * 3 + 30); /* heartbeat TTL */
	if (acc->used) {
		arg(&a, "T");
		counts_args(&a, &acc->total);
		for (unsigned i = 0; i < acc->nclients; i++) {
			arg(&a, "C");
			arg(&a, "%s", acc->clients[i].id);
			counts_args(&a, &acc->clients[i].c);
		}
		for (unsigned i = 0; i < acc->ndomains; i++) {
			const struct acc_domain *d = &acc->domains[i];
			arg(&a, "D");
			arg(&a, "%s", acc->clients[d->client].id);
			arg(&a, "%s", d->group);
			arg(&a, "%s", d->domain);
			arg(&a, "%llu", (unsigned long long)d->count);
			arg(&a, "%s", label_kind_names[d->kind]);
		}
		unsigned nr = acc->nrecent < ACC_RECENT ? acc->nrecent : ACC_RECENT;
		for (unsigned k = acc->nrecent - nr; k < acc->nrecent; k++) {
			const struct acc_recent *q = &acc->recent[k % ACC_RECENT];
			arg(&a, "Q");
			arg(&a, "%s", q->client);
			arg(&a, "%s", q->group);
			arg(&a, "%s", label_kind_names[q->reason]);
			arg(&a, "%s", q->domain);
			arg(&a, "%s", policy_action_name((enum paction)q->action));
			arg(&a, "%llu", (unsigned long long)q->ts);
			arg(&a, "%u", s->scfg.recent);
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
	a.len[1] = sizeof(stats_script) - 1;
	s->argv = a.v;
	s->argvlen = a.len;
	s->argc = a.n;
	s->batch_queries = acc->total.n[ST_QUERIES];
	acc->used = false;
	memset(&acc->total, 0, sizeof(acc->total));
	acc->nclients = acc->ndomains = acc->nrecent = 0;
	return true;
}

static void send_batch(struct stats_sync *s);
static void close_now(struct stats_sync *s);

static void on_flushed(struct rconn *rc, redisReply *r, void *priv)
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
	free_batch(s);
	if (s->stopping) {
		if (s->acc.used)
			stats_sync_flush(s);
		else {
			uv_timer_stop(&s->timer);
			close_now(s);
		}
	}
}

static void send_batch(struct stats_sync *s)
{
	if (s->waiting || !s->argc || !rconn_ready(s->rc))
		return;
	s->argv[1] = (char *)stats_script;
	if (rconn_command(s->rc, on_flushed, s, false, s->argc, (const char **)s->argv, s->argvlen) == 0)
		s->waiting = true;
	s->argv[1] = NULL;
}

void stats_sync_flush(struct stats_sync *s)
{
	if (!s->rc)
		return;
	if (!s->argc && !build_batch(s))
		return;
	send_batch(s);
}

static void on_state(struct rconn *rc, bool ready, void *data)
{
	(void)rc;
	if (ready)
		send_batch(data);
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
	snprintf(s->base, sizeof(s->base), "%s{stats}:", s->rcfg.prefix);
	s->geo_age = -1;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	if (rcfg && !(s->rc = rconn_new(loop, "stats", rcfg, on_state, s))) {
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

static void on_closed(uv_handle_t *h)
{
	struct stats_sync *s = h->data;

	free_batch(s);
	free(s->acc.clients);
	free(s->acc.domains);
	free(s->acc.recent);
	free(s);
}

static void close_now(struct stats_sync *s)
{
	if (!stats_sync_idle(s))
		log_warn("stats: %llu queries could not be written to Redis before the exit",
			 (unsigned long long)stats_sync_pending_queries(s));
	if (s->rc)
		rconn_close(s->rc);
	s->rc = NULL;
	uv_close((uv_handle_t *)&s->timer, on_closed);
}

static void on_last_flush_timeout(uv_timer_t *t)
{
	close_now(t->data);
}

void stats_sync_stop(struct stats_sync *s)
{
	if (!s || s->stopping)
		return;
	s->stopping = true;
	if (!s->rc || stats_sync_idle(s) || !rconn_ready(s->rc)) {
		close_now(s);
		return;
	}
	/* the last counts: flush, and close when Redis has them or the timeout passes */
	uv_timer_start(&s->timer, on_last_flush_timeout, s->rcfg.timeout, 0);
	stats_sync_flush(s);
}

/* One counter family: HELP, TYPE and the samples that are not zero (all of them for totals). */
static void family(struct strbuf *b, const char *name, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
}

void stats_sync_metrics(const struct stats_sync *s, struct strbuf *b)
{
	const struct acc_counts *c = &s->cum;
	const char *inst = s->scfg.instance;
	static const char *const help[] = { "Queries answered.", "Answers from the cache.",
					    "Answers replaced by the policy (sinkhole, NXDOMAIN, NODATA, REFUSED, drop, TCP-only).",
					    "Answers edited by the policy (strip, RPZ local data)." };
	static const char *const names[] = { "jurisdns_queries_total", "jurisdns_cache_hits_total",
					     "jurisdns_blocked_total", "jurisdns_rewritten_total" };

	for (int i = 0; i < ST_NFIXED; i++) {
		family(b, names[i], help[i]);
		sb_printf(b, "%s{instance=", names[i]);
		sb_json(b, inst);
		sb_printf(b, "} %llu\n", (unsigned long long)c->n[i]);
	}
	family(b, "jurisdns_policy_actions_total", "Answers by policy action.");
	for (int i = 1; i <= PACT_LOCAL; i++) {
		sb_str(b, "jurisdns_policy_actions_total{instance=");
		sb_json(b, inst);
		sb_printf(b, ",action=\"%s\"} %llu\n", policy_action_name((enum paction)i),
			  (unsigned long long)c->act[i]);
	}
	family(b, "jurisdns_group_queries_total",
	       "Queries whose answer led into a jurisdiction group, by reason (any = at least one).");
	for (unsigned g = 0; g < c->ngroups; g++)
		for (int r = 0; r < 4; r++) {
			sb_str(b, "jurisdns_group_queries_total{instance=");
			sb_json(b, inst);
			sb_str(b, ",group=");
			sb_json(b, c->g[g].name);
			sb_printf(b, ",reason=\"%s\"} %llu\n", r ? label_kind_names[r - 1] : "any",
				  (unsigned long long)c->g[g].v[r]);
		}
	sb_str(b, "# HELP jurisdns_redis_up Whether the statistics connection to Redis is up.\n"
		  "# TYPE jurisdns_redis_up gauge\njurisdns_redis_up{instance=");
	sb_json(b, inst);
	sb_printf(b, "} %d\n", rconn_ready(s->rc) ? 1 : 0);
	sb_str(b, "# HELP jurisdns_stats_pending_queries Queries counted but not yet in Redis.\n"
		  "# TYPE jurisdns_stats_pending_queries gauge\njurisdns_stats_pending_queries{instance=");
	sb_json(b, inst);
	sb_printf(b, "} %llu\n", (unsigned long long)(s->rc ? stats_sync_pending_queries(s) : 0));
}

const char *stats_sync_instance(const struct stats_sync *s)
{
	return s->scfg.instance;
}
