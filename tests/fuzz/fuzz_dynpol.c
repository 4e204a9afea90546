/* fuzz_dynpol.c - libFuzzer target for the policy snapshot from Redis (dynpol_parse).
 *
 * Redis is written by other programs (jurisdns-ctl, the DHCP hooks, the operator's scripts), so
 * whatever text reaches the parser must never crash the daemon. The input is parsed twice: with
 * block groups unchecked and checked against a groups file with PRC and EU. When it is a
 * snapshot, the overlay is used as the daemon uses it: client lookups by address and by MAC,
 * lease names, the decision before resolution. Invariants (trap on violation):
 *   - NULL exactly when the text lacks the magic line; the overlay keeps the text as given;
 *   - a snapshot never takes a record with an unknown block group when the groups are checked;
 *   - a lease name is at most 63 bytes; the parse of the same text is the same (version,
 *     clients, leases, skipped).
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_dynpol */
#include "config.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "dynpol.h"
#include "fuzz_file.h"
#include "groups.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct groups *groups;
static struct policy file_policy;    /* the configuration's policy: empty */

/* Every block list names a group of g, spelt as g spells it. */
static void check_blocks(const struct dynpol *d, const struct groups *g)
{
	for (unsigned i = 0; i < d->p.nblock; i++)
		CHECK(groups_find(g, d->p.block[i].group) &&
		      !strcmp(groups_find(g, d->p.block[i].group), d->p.block[i].group));
	for (unsigned c = 0; c < d->p.nclients; c++) {
		const struct client_rule *r = &d->p.clients[c];
		CHECK(r->nblock <= POLICY_MAX_BLOCK);
		for (int i = 0; i < r->nblock; i++) {
			const char *n = groups_find(g, r->block[i].group);
			CHECK(n && !strcmp(n, r->block[i].group));
		}
	}
}

static void use(const struct dynpol *d, const uint8_t *data, size_t size)
{
	static const char *const v4[] = { "192.168.1.23", "192.168.1.40", "10.1.1.1", "0.0.0.0" };
	static const char *const v6[] = { "2001:db8::1", "::1", "fe80::1" };
	static const uint8_t wname[] = "\3www\7example\3com";
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	uint8_t mac[6] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	bool trusted;

	CHECK(d->len == size && memcmp(d->text, data, size) == 0 && d->text[size] == 0);
	CHECK(d->nleases == 0 || d->lease_index);
	for (size_t i = 0; i < sizeof(v4) / sizeof(*v4) + sizeof(v6) / sizeof(*v6); i++) {
		const struct sockaddr *sa;
		if (i < sizeof(v4) / sizeof(*v4)) {
			inet_pton(AF_INET, v4[i], &sin.sin_addr);
			sa = (const struct sockaddr *)&sin;
		} else {
			inet_pton(AF_INET6, v6[i - sizeof(v4) / sizeof(*v4)], &sin6.sin6_addr);
			sa = (const struct sockaddr *)&sin6;
		}
		const char *name = dynpol_lease_name(d, sa);
		CHECK(!name || strlen(name) < sizeof(((struct lease *)0)->name));
		const struct client_rule *c = policy_client(&file_policy, &d->p, sa, mac, &trusted);
		struct verdict v;
		if (c)
			CHECK(c->nblock <= POLICY_MAX_BLOCK && c->mode <= PMODE_BLOCK);
		memset(&v, 0, sizeof(v));
		policy_before(&file_policy, &d->p, c, sa, wname, sizeof(wname), &v);
	}
	/* each lease is found by its own address (the first of duplicates wins) */
	for (uint32_t k = 0; k < d->nleases && k < 64; k++) {
		memcpy(&sin6.sin6_addr, d->leases[k].ip, 16);
		CHECK(dynpol_lease_name(d, (const struct sockaddr *)&sin6) != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	bool magic = size >= strlen(DYNPOL_MAGIC) && !memcmp(data, DYNPOL_MAGIC, strlen(DYNPOL_MAGIC));

	if (!groups) {
		static const char text[] = "[jurisdiction PRC]\ncountries = CN\n"
					   "[jurisdiction EU]\ncountries = DE\n";
		char path[128];
		fuzz_write("groups.conf", text, sizeof(text) - 1, path, sizeof(path));
		groups = groups_load_names(path, err, sizeof(err));
		CHECK(groups);
		policy_init(&file_policy);
		policy_finish(&file_policy);
	}
	for (int k = 0; k < 2; k++) {
		struct dynpol *d = dynpol_parse((const char *)data, size, "redis", k ? groups : NULL, err,
						sizeof(err));
		CHECK(!d == !magic);
		if (!d)
			continue;
		use(d, data, size);
		if (k)
			check_blocks(d, groups);
		struct dynpol *again = dynpol_parse((const char *)data, size, "redis", k ? groups : NULL,
						    err, sizeof(err));
		CHECK(again && again->version == d->version && again->skipped == d->skipped &&
		      again->p.nclients == d->p.nclients && again->nleases == d->nleases);
		dynpol_unref(again);
		dynpol_ref(d);
		dynpol_unref(d);
		dynpol_unref(d);
	}
	return 0;
}
