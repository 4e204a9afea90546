/* fuzz_rpz.c - libFuzzer target for Response Policy Zones (rpz_load, through ldns' zone
 * parser, then the trigger decoding of rpz.c: QNAME, wildcard, rpz-ip, rpz-client-ip).
 *
 * The input is written as zone.rpz and loaded twice into one struct rpz (a second zone of lower
 * precedence with the same triggers), then matched. Invariants:
 *   - -1 exactly with err set, as one line; a failed load leaves nothing to leak after rpz_free;
 *   - the second load adds no name trigger (an earlier zone wins) and one rule per address
 *     trigger, which sorts after the first zone's, so every match is a rule of zone 0;
 *   - a rule's local data has rdata for every record, and addresses sorted longest prefix first.
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_rpz */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz_file.h"
#include "rpz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rule(const struct rpz *z, const struct rpz_rule *r)
{
	if (!r)
		return;
	CHECK(r >= z->rules && r < z->rules + z->nrules);
	CHECK(r->zone == 0);
	CHECK(r->action <= RPZ_LOCAL);
	CHECK(memchr(r->text, 0, sizeof(r->text)));
}

static void use(const struct rpz *z)
{
	static const uint8_t names[][24] = { "\3ads\7example\3net", "\1x\7tracker\7example\3net",
					     "\3www\7example\3com", "" };
	static const size_t lens[] = { 17, 23, 17, 1 };
	static struct label *l;
	uint8_t ip[16] = { 0 };

	if (!l && !(l = calloc(1, sizeof(*l) + sizeof(l->addrs[0]))))
		abort();

	for (unsigned i = 0; i < z->nrules; i++)
		for (unsigned k = 0; k < z->rules[i].nrrs; k++)
			CHECK(z->rules[i].rrs[k].rdata);
	for (unsigned i = 1; i < z->nips; i++)
		CHECK(z->ips[i - 1].net.bits >= z->ips[i].net.bits);
	for (unsigned i = 1; i < z->nclients; i++)
		CHECK(z->clients[i - 1].net.bits >= z->clients[i].net.bits);
	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++)
		check_rule(z, rpz_match_qname(z, names[i], lens[i]));
	/* the addresses of the triggers themselves match */
	for (unsigned i = 0; i < z->nips && i < 8; i++) {
		memcpy(l->addrs[0].ip, z->ips[i].net.net, 16);
		l->naddrs = l->total_addrs = 1;
		CHECK(rpz_match_answer(z, l));
		check_rule(z, rpz_match_answer(z, l));
	}
	for (unsigned i = 0; i < z->nclients && i < 8; i++) {
		CHECK(rpz_match_client(z, z->clients[i].net.net));
		check_rule(z, rpz_match_client(z, z->clients[i].net.net));
	}
	ip[10] = ip[11] = 0xff;
	ip[12] = 192, ip[14] = 2, ip[15] = 1;
	check_rule(z, rpz_match_client(z, ip));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128], err[512] = "";
	struct rpz z;

	memset(&z, 0, sizeof(z));
	fuzz_write("zone.rpz", data, size, path, sizeof(path));
	if (rpz_load(&z, path, err, sizeof(err)) < 0) {
		CHECK(err[0] && !strchr(err, '\n'));
		rpz_free(&z);
		return 0;
	}
	unsigned nrules = z.nrules, nnets = z.nips + z.nclients;
	err[0] = 0;
	CHECK(rpz_load(&z, path, err, sizeof(err)) == 0);
	CHECK(z.nrules == nrules + nnets && z.nzones == 2);
	rpz_finish(&z);
	use(&z);
	rpz_free(&z);
	return 0;
}
