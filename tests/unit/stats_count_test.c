/* stats_count_test.c - unit tests for src/stats_count.h: a worker's per-client table (totals for
 * every mode, per-client counts only for log/block, the "other" client once the table is full,
 * per-group reasons, the lower-cased domain entries, the recent ring, reset), the sums the
 * control thread makes of it, the client-id text, the lock-free hand-over, and the upstream
 * counter slots (kept by address, reclaimed only when full and unreferenced, read as a whole). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "stats_count.h"

static struct sockaddr_in v4(const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(5353) };

	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

static struct label *label_of(const char *group, const uint8_t *kinds, unsigned n)
{
	struct label *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	for (unsigned i = 0; i < n; i++) {
		snprintf(l->reasons[i].group, sizeof(l->reasons[i].group), "%s", group);
		l->reasons[i].kind = kinds[i];
	}
	l->nreasons = (uint16_t)n;
	return l;
}

/* www.Example.CN. in wire form */
static const uint8_t QNAME[] = "\3www\7Example\2CN";

static void test_off_mode_counts_totals_only(void **state)
{
	(void)state;
	struct stats_table *t = stats_table_new();
	struct sockaddr_in a = v4("192.0.2.1");
	uint8_t k[] = { LABEL_HOSTED };
	struct label *l = label_of("PRC", k, 1);

	stats_count(t, PMODE_OFF, (struct sockaddr *)&a, NULL, l, QNAME, sizeof(QNAME), true, PACT_PASS);
	assert_int_equal(t->total.n[ST_QUERIES], 1);
	assert_int_equal(t->total.n[ST_HITS], 1);
	assert_int_equal(t->total.g[0][0], 1);
	assert_int_equal(t->total.g[0][1 + LABEL_HOSTED], 1);
	assert_int_equal(t->nclients, 0);
	assert_int_equal(t->ndomains, 0);
	free(l);
	free(t);
}

static void test_client_groups_actions_and_domain(void **state)
{
	(void)state;
	struct stats_table *t = stats_table_new();
	struct sockaddr_in a = v4("192.0.2.1");
	uint8_t k[] = { LABEL_HOSTED, LABEL_OPERATOR };
	struct label *l = label_of("PRC", k, 2);
	char id[64];

	t->keep_recent = true;
	stats_count(t, PMODE_BLOCK, (struct sockaddr *)&a, NULL, l, QNAME, sizeof(QNAME), false, PACT_SINKHOLE);
	stats_count(t, PMODE_LOG, (struct sockaddr *)&a, NULL, l, QNAME, sizeof(QNAME), true, PACT_STRIP);
	stats_count(t, PMODE_LOG, (struct sockaddr *)&a, NULL, NULL, QNAME, sizeof(QNAME), false, PACT_PASS);
	assert_int_equal(t->nclients, 1);
	assert_int_equal(t->ngroups, 1);
	assert_string_equal(t->gnames[0], "PRC");

	const struct stats_client *c = NULL;
	for (unsigned i = 0; i < STATS_CLIENTS; i++)
		if (t->clients[i].kind)
			c = &t->clients[i];
	assert_non_null(c);
	stats_client_id(c, id, sizeof(id));
	assert_string_equal(id, "192.0.2.1");
	assert_int_equal(c->c.n[ST_QUERIES], 3);
	assert_int_equal(c->c.n[ST_HITS], 1);
	assert_int_equal(c->c.n[ST_BLOCKED], 1);
	assert_int_equal(c->c.n[ST_REWRITTEN], 1);
	assert_int_equal(c->c.act[PACT_SINKHOLE], 1);
	assert_int_equal(c->c.act[PACT_STRIP], 1);
	/* one group counted once per answer, each reason once */
	assert_int_equal(c->c.g[0][0], 2);
	assert_int_equal(c->c.g[0][1 + LABEL_HOSTED], 2);
	assert_int_equal(c->c.g[0][1 + LABEL_OPERATOR], 2);
	assert_int_equal(c->c.g[0][1 + LABEL_DOMAIN], 0);

	/* one domain entry, lower-cased, with the first reason */
	assert_int_equal(t->ndomains, 1);
	assert_int_equal(t->domains[0].count, 2);
	assert_int_equal(t->domains[0].kind, LABEL_HOSTED);
	assert_memory_equal(t->domains[0].name, "\3www\7example\2cn", sizeof(QNAME));
	/* only labelled queries are recent */
	assert_int_equal(t->nrecent, 2);
	assert_int_equal(t->recent[1].action, PACT_STRIP);

	stats_table_reset(t);
	assert_int_equal(t->nclients, 0);
	assert_int_equal(t->ndomains, 0);
	assert_int_equal(t->nrecent, 0);
	assert_int_equal(t->total.n[ST_QUERIES], 0);
	free(l);
	free(t);
}

/* Each (client, group, domain) entry keeps label_why() of the group's first reason, with the
 * AS name of the label's address; the recent ring that of the first reason. */
static void test_domain_and_recent_why(void **state)
{
	(void)state;
	struct stats_table *t = stats_table_new();
	struct sockaddr_in a = v4("192.0.2.1");
	struct label *l = calloc(1, sizeof(*l) + sizeof(struct label_addr));
	uint8_t k[] = { LABEL_DOMAIN };
	struct label *other = label_of("PRC", k, 1);
	static const struct { const char *group, *detail; uint8_t kind; } rs[] = {
		{ "PRC", "AS45102", LABEL_OPERATOR }, { "EU", "DE", LABEL_HOSTED }, { "PRC", "CN", LABEL_HOSTED },
	};

	assert_non_null(l);
	for (unsigned i = 0; i < 3; i++) {
		snprintf(l->reasons[i].group, sizeof(l->reasons[i].group), "%s", rs[i].group);
		snprintf(l->reasons[i].detail, sizeof(l->reasons[i].detail), "%s", rs[i].detail);
		l->reasons[i].kind = rs[i].kind;
	}
	l->nreasons = 3;
	l->naddrs = 1;
	l->addrs[0].known = true;
	l->addrs[0].asn = 45102;
	snprintf(l->addrs[0].org, sizeof(l->addrs[0].org), "Alibaba US Technology Co., Ltd.");
	snprintf(other->reasons[0].detail, sizeof(other->reasons[0].detail), "example.cn");
	t->keep_recent = true;
	stats_count(t, PMODE_LOG, (struct sockaddr *)&a, NULL, l, QNAME, sizeof(QNAME), false, PACT_PASS);
	/* the same domain labelled otherwise later in the interval: the entry keeps its first why */
	stats_count(t, PMODE_LOG, (struct sockaddr *)&a, NULL, other, QNAME, sizeof(QNAME), true, PACT_PASS);
	assert_int_equal(t->ndomains, 2);
	for (unsigned i = 0; i < t->ndomains; i++) {
		const struct stats_domain *d = &t->domains[i];
		if (!strcmp(t->gnames[d->group], "PRC")) {
			assert_int_equal(d->count, 2);
			assert_int_equal(d->kind, LABEL_OPERATOR);
			assert_string_equal(d->why, "operator:AS45102 Alibaba US Technology Co., Ltd.");
		} else {
			assert_string_equal(t->gnames[d->group], "EU");
			assert_int_equal(d->count, 1);
			assert_string_equal(d->why, "hosted:DE");
		}
	}
	assert_int_equal(t->nrecent, 2);
	assert_string_equal(t->recent[0].why, "operator:AS45102 Alibaba US Technology Co., Ltd.");
	assert_string_equal(t->recent[1].why, "domain:example.cn");
	assert_int_equal(t->recent[1].reason, LABEL_DOMAIN);
	free(other);
	free(l);
	free(t);
}

static void test_mac_client_and_other_when_full(void **state)
{
	(void)state;
	struct stats_table *t = stats_table_new();
	struct sockaddr_in a = v4("192.0.2.1");
	const uint8_t mac[6] = { 0xaa, 0xbb, 0xcc, 0x00, 0x11, 0x22 };
	char id[64];

	stats_count(t, PMODE_LOG, (struct sockaddr *)&a, mac, NULL, QNAME, sizeof(QNAME), false, PACT_PASS);
	for (unsigned i = 0; i < STATS_CLIENTS + 10; i++) {
		struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + i) };
		stats_count(t, PMODE_LOG, (struct sockaddr *)&b, NULL, NULL, QNAME, sizeof(QNAME), false, PACT_PASS);
	}
	/* one slot stays free so that lookups end; the last one taken is "other", which gets every
	 * query of the clients past the table (it used to find no slot: they went uncounted) */
	assert_int_equal(t->nclients, STATS_CLIENTS - 1);
	assert_int_equal(t->total.n[ST_QUERIES], STATS_CLIENTS + 11);
	unsigned sum = 0, others = 0, macs = 0;
	for (unsigned i = 0; i < STATS_CLIENTS; i++) {
		const struct stats_client *c = &t->clients[i];
		if (!c->kind)
			continue;
		sum += c->c.n[ST_QUERIES];
		stats_client_id(c, id, sizeof(id));
		if (!strcmp(id, "other"))
			others += c->c.n[ST_QUERIES];
		if (!strcmp(id, "aa:bb:cc:00:11:22"))
			macs++;
	}
	assert_int_equal(sum, STATS_CLIENTS + 11);
	assert_int_equal(macs, 1);
	assert_int_equal(others, STATS_CLIENTS + 11 - (STATS_CLIENTS - 2));
	free(t);
}

static void test_client_id_ipv6(void **state)
{
	(void)state;
	struct stats_client c = { .kind = 1 };
	char id[64];

	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", c.key), 1);
	stats_client_id(&c, id, sizeof(id));
	assert_string_equal(id, "2001:db8::1");
}

static void test_sums_merge_groups_by_name(void **state)
{
	(void)state;
	struct stats_table *t1 = stats_table_new(), *t2 = stats_table_new();
	struct sockaddr_in a = v4("192.0.2.1");
	uint8_t kh[] = { LABEL_HOSTED }, kd[] = { LABEL_DOMAIN };
	struct label *prc = label_of("PRC", kh, 1), *ru = label_of("RU", kd, 1);
	struct stats_sums s;

	memset(&s, 0, sizeof(s));
	/* the two tables index their groups differently */
	stats_count(t1, PMODE_LOG, (struct sockaddr *)&a, NULL, prc, QNAME, sizeof(QNAME), false, PACT_PASS);
	stats_count(t2, PMODE_LOG, (struct sockaddr *)&a, NULL, ru, QNAME, sizeof(QNAME), false, PACT_NXDOMAIN);
	stats_count(t2, PMODE_LOG, (struct sockaddr *)&a, NULL, prc, QNAME, sizeof(QNAME), false, PACT_PASS);
	stats_sums_add(&s, &t1->total, t1);
	stats_sums_add(&s, &t2->total, t2);
	assert_int_equal(s.n[ST_QUERIES], 3);
	assert_int_equal(s.n[ST_BLOCKED], 1);
	assert_int_equal(s.act[PACT_NXDOMAIN], 1);
	assert_int_equal(s.ngroups, 2);
	assert_string_equal(s.g[0].name, "PRC");
	assert_int_equal(s.g[0].v[0], 2);
	assert_int_equal(s.g[0].v[1 + LABEL_HOSTED], 2);
	assert_string_equal(s.g[1].name, "RU");
	assert_int_equal(s.g[1].v[1 + LABEL_DOMAIN], 1);
	free(prc);
	free(ru);
	free(t1);
	free(t2);
}

static void test_push_take_all(void **state)
{
	(void)state;
	_Atomic(struct stats_table *) stack = NULL;
	struct stats_table *a = stats_table_new(), *b = stats_table_new();

	stats_push(&stack, a);
	stats_push(&stack, b);
	struct stats_table *got = stats_take_all(&stack);
	assert_ptr_equal(got, b);
	assert_ptr_equal(got->next, a);
	assert_null(a->next);
	assert_null(stats_take_all(&stack));
	free(a);
	free(b);
}

static struct addr server(unsigned i)
{
	struct addr a = { .len = sizeof(struct sockaddr_in) };

	a.u.sin.sin_family = AF_INET;
	a.u.sin.sin_port = htons(53);
	a.u.sin.sin_addr.s_addr = htonl(0xc0000200u + i); /* 192.0.2.i */
	return a;
}

static void test_upstream_slot_same_address_same_slot(void **state)
{
	(void)state;
	struct worker_stats *st = calloc(1, sizeof(*st));
	struct addr a = server(1), b = server(2);
	struct up_stats_view v;

	struct up_stats *u1 = stats_upstream_slot(st, &a);
	wc_add(&u1->queries, 5);
	struct up_stats *u2 = stats_upstream_slot(st, &b);
	assert_ptr_not_equal(u1, u2);
	/* a reload keeps the server: same slot, counts kept */
	stats_upstream_unref(u1);
	assert_ptr_equal(stats_upstream_slot(st, &a), u1);
	assert_int_equal(atomic_load(&st->nups), 2);
	assert_true(stats_upstream_read(st, 0, &v));
	assert_true(addr_equal(&v.addr.u.sa, &a.u.sa));
	assert_int_equal(v.queries, 5);
	free(st);
}

/* The review finding: slots of servers that reloads removed were never reused, so after 64
 * distinct addresses every new server went uncounted into the unshown spare. */
static void test_upstream_slots_reclaimed_when_full(void **state)
{
	(void)state;
	struct worker_stats *st = calloc(1, sizeof(*st));
	struct up_stats *u[UP_STATS_MAX];
	struct up_stats_view v;

	/* many reloads, each with another server: every slot taken, then released */
	for (unsigned i = 0; i < UP_STATS_MAX; i++) {
		struct addr a = server(i);
		u[i] = stats_upstream_slot(st, &a);
		assert_ptr_equal(u[i], &st->ups[i]);
		wc_add(&u[i]->queries, 100 + i);
		stats_upstream_unref(u[i]);
	}
	/* server 0 is still in use; the others are gone */
	struct addr a0 = server(0);
	assert_ptr_equal(stats_upstream_slot(st, &a0), u[0]);

	struct addr fresh = server(200);
	struct up_stats *n = stats_upstream_slot(st, &fresh);
	assert_ptr_not_equal(n, &st->ups[UP_STATS_MAX]); /* not the unshown spare */
	assert_ptr_not_equal(n, u[0]);                   /* not the one in use */
	assert_int_equal(atomic_load(&st->nups), UP_STATS_MAX);
	unsigned i = (unsigned)(n - st->ups);
	assert_true(stats_upstream_read(st, i, &v));
	assert_true(addr_equal(&v.addr.u.sa, &fresh.u.sa));
	assert_int_equal(v.queries, 0); /* the old server's counts are not inherited */
	assert_int_equal(atomic_load(&n->gen) % 2, 0);
	assert_int_equal(atomic_load(&n->gen), 2);

	/* every slot referenced: the spare takes the rest (more servers than one conf may name) */
	for (unsigned k = 0; k < UP_STATS_MAX; k++)
		if (&st->ups[k] != n && &st->ups[k] != u[0]) {
			struct addr a = server(300 + k);
			assert_ptr_not_equal(stats_upstream_slot(st, &a), &st->ups[UP_STATS_MAX]);
		}
	struct addr one_more = server(250);
	assert_ptr_equal(stats_upstream_slot(st, &one_more), &st->ups[UP_STATS_MAX]);
	free(st);
}

static void test_upstream_read_skips_slot_mid_change(void **state)
{
	(void)state;
	struct worker_stats *st = calloc(1, sizeof(*st));
	struct addr a = server(1);
	struct up_stats_view v;

	stats_upstream_slot(st, &a);
	atomic_store(&st->ups[0].gen, 3); /* as while being reclaimed */
	assert_false(stats_upstream_read(st, 0, &v));
	atomic_store(&st->ups[0].gen, 4);
	assert_true(stats_upstream_read(st, 0, &v));
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_mode_counts_totals_only),
		cmocka_unit_test(test_client_groups_actions_and_domain),
		cmocka_unit_test(test_domain_and_recent_why),
		cmocka_unit_test(test_mac_client_and_other_when_full),
		cmocka_unit_test(test_client_id_ipv6),
		cmocka_unit_test(test_sums_merge_groups_by_name),
		cmocka_unit_test(test_push_take_all),
		cmocka_unit_test(test_upstream_slot_same_address_same_slot),
		cmocka_unit_test(test_upstream_slots_reclaimed_when_full),
		cmocka_unit_test(test_upstream_read_skips_slot_mid_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
