/* stats_count.c - a worker's counting: the per-client table, counted per answer (open
 * addressing in fixed arrays, no allocation, no locks), and the upstream slots of its live
 * counters. The control thread takes the tables through a lock-free stack. */
#include "config.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "identity.h"
#include "stats_count.h"
#include "util.h"
#include "wire.h"


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

static int count_group_index(struct stats_table *t, const char *name)
{
	for (uint32_t i = 0; i < t->ngroups; i++)
		if (!strcmp(t->gnames[i], name))
			return (int)i;
	if (t->ngroups == STATS_GROUPS)
		return -1;
	snprintf(t->gnames[t->ngroups], GROUP_NAME_MAX, "%s", name);
	return (int)t->ngroups++;
}

/* The client's slot; NULL once the table is full (the caller then counts into "other"). */
static struct stats_client *count_client_slot(struct stats_table *t, uint8_t kind, const uint8_t *key)
{
	size_t klen = kind == 2 ? 6 : 16;
	uint32_t mask = STATS_CLIENTS - 1;
	uint32_t i = (uint32_t)hash_bytes(key, klen, 0x737461747321ULL) & mask;

	for (uint32_t n = 0; n < STATS_CLIENTS; n++, i = (i + 1) & mask) {
		struct stats_client *c = &t->clients[i];
		if (c->kind == kind && !memcmp(c->key, key, klen))
			return c;
		if (!c->kind) {
			/* one slot stays free so that lookups end, and one is kept for "other" */
			if (t->nclients >= STATS_CLIENTS - (kind == 3 ? 1u : 2u))
				break;
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

/* r: the first reason of l for the group; its why is written once, with the entry */
static void count_domain(struct stats_table *t, uint16_t client, uint8_t group, const struct label *l,
			 const struct label_reason *r, const uint8_t *qname, size_t qlen)
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
			e->kind = r->kind;
			label_why(l, r, e->why, sizeof(e->why));
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
	uint8_t kinds[LABEL_MAX_REASONS], first_r[LABEL_MAX_REASONS]; /* first_r: index in l->reasons */
	unsigned ng = 0;

	t->used = 1;
	for (unsigned r = 0; l && r < l->nreasons; r++) {
		int g = count_group_index(t, l->reasons[r].group);
		unsigned k;
		if (g < 0)
			continue;
		for (k = 0; k < ng && gidx[k] != g; k++)
			;
		if (k == ng) {
			gidx[ng] = g;
			kinds[ng] = 0;
			first_r[ng] = (uint8_t)r;
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
	struct stats_client *c = count_client_slot(t, kind, key);
	if (!c) {
		static const uint8_t other[16] = { 0 };
		c = count_client_slot(t, 3, other);
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
		count_domain(t, (uint16_t)(c - t->clients), (uint8_t)gidx[i], l, &l->reasons[first_r[i]], lower,
			     qlen);
	if (t->keep_recent) {
		struct stats_recent *q = &t->recent[t->nrecent++ % STATS_RECENT];
		q->ts = (uint64_t)time(NULL);
		q->kind = c->kind;
		memcpy(q->key, c->key, sizeof(q->key));
		q->group = (uint8_t)gidx[0];
		q->reason = l->reasons[first_r[0]].kind;
		label_why(l, &l->reasons[first_r[0]], q->why, sizeof(q->why));
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

void stats_sums_add(struct stats_sums *a, const struct stats_counts *c, const struct stats_table *t)
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

void stats_client_id(const struct stats_client *c, char *buf, size_t len)
{
	if (c->kind == 3)
		snprintf(buf, len, "other");
	else
		identity_text(c->kind == 2 ? c->key : NULL, c->key, buf, len);
}

/* ---- upstream slots of the live counters ---- */

/* Give slot u to addr with its counters at 0. The reader sees gen odd, or changed, and skips. */
static void count_slot_assign(struct up_stats *u, const struct addr *addr)
{
	unsigned g = atomic_load_explicit(&u->gen, memory_order_relaxed);

	atomic_store_explicit(&u->gen, g + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	u->addr = *addr;
	wcounter *c[] = { &u->queries, &u->tcp_queries, &u->answers, &u->timeouts, &u->servfail,
			  &u->srtt_us, &u->down, &u->users };
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		wc_set(c[i], 0);
	atomic_store_explicit(&u->gen, g + 2, memory_order_release);
}

struct up_stats *stats_upstream_slot(struct worker_stats *st, const struct addr *addr)
{
	unsigned n = atomic_load_explicit(&st->nups, memory_order_relaxed);
	struct up_stats *u = NULL;

	for (unsigned i = 0; i < n; i++)
		if (addr_equal(&st->ups[i].addr.u.sa, &addr->u.sa)) {
			u = &st->ups[i];
			break;
		}
	if (!u && n < UP_STATS_MAX) {
		u = &st->ups[n];
		u->addr = *addr; /* not yet visible: nups publishes it */
		atomic_store_explicit(&st->nups, n + 1, memory_order_release);
	}
	for (unsigned i = 0; !u && i < n; i++)
		if (!st->ups[i].refs) {
			u = &st->ups[i];
			count_slot_assign(u, addr);
		}
	if (!u)
		u = &st->ups[UP_STATS_MAX]; /* more referenced servers than slots: not reached */
	u->refs++;
	return u;
}

void stats_upstream_unref(struct up_stats *u)
{
	if (u->refs)
		u->refs--;
}

bool stats_upstream_read(const struct worker_stats *st, unsigned i, struct up_stats_view *v)
{
	const struct up_stats *u = &st->ups[i];
	unsigned g = atomic_load_explicit(&u->gen, memory_order_acquire);

	if (g & 1)
		return false;
	v->addr = u->addr;
	v->queries = wc_get(&u->queries);
	v->tcp_queries = wc_get(&u->tcp_queries);
	v->answers = wc_get(&u->answers);
	v->timeouts = wc_get(&u->timeouts);
	v->servfail = wc_get(&u->servfail);
	v->srtt_us = wc_get(&u->srtt_us);
	v->down = wc_get(&u->down);
	v->users = wc_get(&u->users);
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&u->gen, memory_order_relaxed) == g;
}
