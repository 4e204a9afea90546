/* fuzz_conf.c - libFuzzer target for the INI configuration (conf_load), [policy] and
 * [client X] blocks included.
 *
 * The input is written as jurisdns.conf into a private directory that also holds what a
 * configuration may name by a relative path: groups.conf (PRC, EU), domains.txt, zone.rpz and
 * resolv.conf. conf_load reads the file twice (groups first, then everything). Invariants:
 *   - NULL exactly when err is set, as one line that starts with the file's name;
 *   - an accepted configuration is within its limits (listen, upstream, forward, TTLs, policy).
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_conf */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "conf.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char resolv[128];

static void setup(void)
{
	static const char groups[] = "[jurisdiction PRC]\ncountries = CN HK MO\n"
				     "[jurisdiction EU]\ncountries = DE FR\n";
	static const char domains[] = "example.cn\n# a comment\nads.example.net\n";
	static const char zone[] = "$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
				   "@ NS localhost.\nads.example.net CNAME .\n"
				   "32.1.2.0.192.rpz-ip CNAME .\n";
	static const char rc[] = "nameserver 127.0.0.1\n";
	char path[128];

	fuzz_write("groups.conf", groups, sizeof(groups) - 1, path, sizeof(path));
	fuzz_write("domains.txt", domains, sizeof(domains) - 1, path, sizeof(path));
	fuzz_write("zone.rpz", zone, sizeof(zone) - 1, path, sizeof(path));
	fuzz_write("resolv.conf", rc, sizeof(rc) - 1, resolv, sizeof(resolv));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128], err[512] = "";
	struct conf *c;

	if (!resolv[0])
		setup();
	fuzz_write("jurisdns.conf", data, size, path, sizeof(path));
	c = conf_load(path, NULL, resolv, err, sizeof(err));
	if (!c) {
		CHECK(err[0] && !strchr(err, '\n') && !strncmp(err, path, strlen(path)));
		return 0;
	}
	CHECK(c->nlisten >= 1 && c->nlisten <= CONF_MAX_LISTEN);
	CHECK(c->nupstream >= 1 && c->nupstream <= CONF_MAX_UPSTREAM);
	CHECK(c->nforward <= CONF_MAX_FORWARD);
	for (unsigned i = 0; i < c->nforward; i++)
		CHECK(c->forward[i].nserver >= 1 && c->forward[i].nserver <= CONF_MAX_FORWARD_SERVERS);
	CHECK(c->min_ttl <= c->max_ttl);
	CHECK(c->policy.nblock <= POLICY_MAX_BLOCK);
	for (unsigned i = 0; i < c->policy.nclients; i++)
		CHECK(c->policy.clients[i].nblock <= POLICY_MAX_BLOCK);
	CHECK(c->path && !strcmp(c->path, path));
	conf_ref(c);
	conf_unref(c);
	conf_unref(c);
	return 0;
}
