/* fuzz_groups.c - libFuzzer target for the jurisdiction groups file (groups_load, via libinih)
 * and its list files.
 *
 * The input up to its first NUL byte is the groups file; what follows is list.txt beside it (a
 * default list when there is no NUL), which the file may name as an ASN, domain or CDN list.
 * Both loaders run (groups_load and groups_load_names). Invariants:
 *   - NULL exactly when err is set, as one line; the names-only load accepts whatever the full
 *     load accepts, with the same groups in the same order;
 *   - every group's ASNs are sorted and unique, and each is found by groups_match_asn;
 *   - lookups (country, domain, CDN) return bits of existing groups only.
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_groups */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz_file.h"
#include "groups.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use(const struct groups *g)
{
	static const uint8_t names[][24] = { "\3www\7example\2cn", "\7example\3com", "\1a\1b\1c", "" };
	static const size_t lens[] = { 16, 13, 7, 1 };
	unsigned n = groups_count(g);
	uint32_t all = n >= 32 ? UINT32_MAX : (1u << n) - 1;
	size_t off;
	const char *op;

	CHECK(n <= GROUPS_MAX);
	for (unsigned i = 0; i < n; i++) {
		const struct jgroup *jg = groups_get(g, i);
		CHECK(jg->name[0] && strlen(jg->name) < GROUP_NAME_MAX);
		CHECK(groups_find(g, jg->name) == jg->name);
		CHECK(jg->ncountries <= GROUP_MAX_COUNTRIES && jg->nexcept <= GROUP_MAX_COUNTRIES);
		for (size_t k = 0; k < jg->nasns; k++) {
			CHECK(k == 0 || jg->asns[k - 1] < jg->asns[k]);
			if (k < 8)
				CHECK(groups_match_asn(g, jg->asns[k]) & (1u << i));
		}
		for (unsigned k = 0; k < jg->ncountries && k < 8; k++)
			CHECK(groups_match_country(g, jg->countries[k]) & (1u << i));
	}
	CHECK((groups_match_country(g, "CN") & ~all) == 0);
	CHECK(groups_match_country(g, "") == 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		uint32_t m = groups_match_domain(g, names[i], lens[i], &off);
		CHECK((m & ~all) == 0 && (!m || off < lens[i]));
		m = groups_match_cdn(g, names[i], lens[i], &off, &op);
		CHECK((m & ~all) == 0 && op && (!m || off < lens[i]));
		m = groups_cdn_get(g, names[i], lens[i], &op);
		CHECK((m & ~all) == 0 && op);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char default_list[] = "example.cn\nAS4134\n";
	const uint8_t *nul = memchr(data, 0, size);
	size_t glen = nul ? (size_t)(nul - data) : size;
	char path[128], lpath[128], err[512] = "", err2[512] = "";

	fuzz_write("groups.conf", data, glen, path, sizeof(path));
	if (nul)
		fuzz_write("list.txt", nul + 1, size - glen - 1, lpath, sizeof(lpath));
	else
		fuzz_write("list.txt", default_list, sizeof(default_list) - 1, lpath, sizeof(lpath));
	struct groups *g = groups_load(path, err, sizeof(err));
	struct groups *names = groups_load_names(path, err2, sizeof(err2));
	if (!g)
		CHECK(err[0] && !strchr(err, '\n'));
	if (!names)
		CHECK(err2[0] && !strchr(err2, '\n'));
	if (g) {
		CHECK(names && groups_count(names) == groups_count(g));
		for (unsigned i = 0; i < groups_count(g); i++)
			CHECK(!strcmp(groups_get(g, i)->name, groups_get(names, i)->name));
		use(g);
	}
	if (names)
		use(names);
	groups_ref(g);
	groups_unref(g);
	groups_unref(g);
	groups_unref(names);
	return 0;
}
