/* rpz.h - Response Policy Zones (draft-vixie-dnsop-dns-rpz): zone files loaded with ldns whose
 * owner names are triggers (a query name, a *.wildcard, an answer address under rpz-ip, a client
 * address under rpz-client-ip) and whose records say what to do (CNAME . = NXDOMAIN, CNAME *. =
 * NODATA, rpz-passthru., rpz-drop., rpz-tcp-only., or local data to answer with). */
#ifndef JD_RPZ_H
#define JD_RPZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "label.h"
#include "suffix.h"

enum rpz_action { RPZ_NXDOMAIN, RPZ_NODATA, RPZ_PASSTHRU, RPZ_DROP, RPZ_TCP_ONLY, RPZ_LOCAL };

struct rpz_rr {
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t *rdata;              /* uncompressed */
};

struct rpz_rule {
	enum rpz_action action;
	unsigned zone;               /* which file, in order: the first zone that matches wins */
	char text[96];               /* "rpz local.rpz: ads.example.com" for the EDE */
	struct rpz_rr *rrs;          /* local data */
	unsigned nrrs;
};

struct rpz_net {
	struct cidr net;
	unsigned rule;
};

struct rpz {
	struct rpz_rule *rules;
	unsigned nrules, cap_rules;
	struct suffix_set *names;    /* exact QNAME triggers: value = rule + 1 */
	struct suffix_set *wild;     /* "*.x" stored as x: value = rule + 1 */
	struct rpz_net *ips, *clients; /* longest prefix first after rpz_finish */
	unsigned nips, nclients, cap_ips, cap_clients;
	unsigned nzones;
};

/* Load one zone file (later files have lower precedence: a trigger already defined by an earlier
 * zone is kept). Returns 0, or -1 with "FILE:LINE: message" in err. */
int rpz_load(struct rpz *z, const char *path, char *err, size_t errlen);
void rpz_finish(struct rpz *z);
void rpz_free(struct rpz *z);

/* Triggers. NULL when nothing matches. */
const struct rpz_rule *rpz_match_qname(const struct rpz *z, const uint8_t *lname, size_t len);
const struct rpz_rule *rpz_match_client(const struct rpz *z, const uint8_t ip[16]);
/* Any address of the label (the answer) in an rpz-ip trigger. */
const struct rpz_rule *rpz_match_answer(const struct rpz *z, const struct label *l);

#endif
