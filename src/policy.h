/* policy.h - who gets what: client modes (off, log, block), the jurisdiction groups a client
 * avoids, the operator's allow and deny lists, and the action for a blocked answer. Part of the
 * immutable configuration snapshot; decisions read it without locks. */
#ifndef JD_POLICY_H
#define JD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "addr.h"
#include "groups.h"
#include "label.h"
#include "rpz.h"
#include "suffix.h"

enum pmode { PMODE_OFF = 0, PMODE_LOG = 1, PMODE_BLOCK = 2 };
enum paction {
	PACT_PASS = 0, PACT_SINKHOLE, PACT_NXDOMAIN, PACT_NODATA, PACT_REFUSE, PACT_DROP, PACT_STRIP,
	/* from RPZ only, not a choice for [policy] action: */
	PACT_TCP_ONLY, PACT_LOCAL,
};

#define POLICY_MAX_BLOCK 8
#define EDE_BLOCKED 15           /* RFC 8914: an operator rule */
#define EDE_FILTERED 17          /* RFC 8914: the client's own opt-in */

/* A group to avoid and for which reasons (bit 1 << enum label_kind). */
struct block_spec {
	char group[GROUP_NAME_MAX];
	uint8_t kinds;
};

struct client_rule {
	struct cidr net;
	bool by_mac;                 /* matched by MAC (from a trusted forwarder), not net */
	uint8_t mac[6];
	char name[64];
	int mode;                    /* enum pmode, -1 = the default */
	int action;                  /* enum paction, -1 = the default */
	int nblock;                  /* -1 = the default list */
	struct block_spec block[POLICY_MAX_BLOCK];
};

struct policy {
	enum pmode default_mode;
	enum paction action;
	struct block_spec block[POLICY_MAX_BLOCK];
	unsigned nblock;
	uint8_t sink_a[4], sink_aaaa[16];
	uint32_t ttl;                /* TTL of rewritten answers */
	struct suffix_set *allow, *deny;
	struct client_rule *clients; /* MAC rules first, then longest prefix first */
	unsigned nclients;
	struct cidr *trusted;        /* forwarders whose EDNS MAC option is believed */
	unsigned ntrusted;
	/* built by policy_finish: single hosts and MACs by hash, networks in a short list */
	struct rpz rpz;              /* [policy] rpz = FILE, in order of precedence */
	uint32_t *index;             /* open addressing, client index + 1, 0 = empty */
	size_t index_mask;
	unsigned first_net;          /* clients[first_net..] are networks, longest first */
	/* In an overlay (the policy from Redis), which defaults it sets; the rest come from the file. */
	bool has_mode, has_action, has_block;
};

/* What to do with one answer for one client. */
struct verdict {
	const struct block_spec *block; /* the client's list, for strip */
	unsigned nblock;
	enum pmode mode;             /* the client's */
	enum paction action;         /* PACT_PASS: the answer as it is */
	uint16_t ede;                /* EDE_BLOCKED or EDE_FILTERED */
	char text[96];               /* EDE extra text: the group and reason, or the rule */
	const char *client_name;     /* "" when none */
	const struct rpz_rule *rule; /* the RPZ rule behind the verdict, if any (local data) */
};

void policy_init(struct policy *p);
void policy_free(struct policy *p);

/* Parsers for the configuration. Return 0, or -1 with a reason in err. */
int policy_parse_mode(const char *s, enum pmode *out);
int policy_parse_action(const char *s, enum paction *out);
/* A block list ("PRC PRC:operator ...") added to list. With g, every group must be one of g (in any
 * case: stored as g spells it), else an error that names the nearest group; g NULL takes any name. */
int policy_parse_block(const char *value, const struct groups *g, struct block_spec *list, unsigned *n,
		       char *err, size_t errlen);
/* One domain or a *.txt list file (relative to base_dir) into set. */
int policy_add_domains(struct suffix_set *set, const char *value, const char *base_dir, char *err,
		       size_t errlen);
int policy_add_client(struct policy *p, const struct client_rule *r);
/* A client rule for id (an IP address, a CIDR or a MAC), every field "the default".
 * Returns 0, or -1 with a reason in err. */
int policy_client_init(struct client_rule *r, const char *id, char *err, size_t errlen);
/* Set field (mode, name, block or action) of a client rule; block groups are checked against g
 * as in policy_parse_block. Returns 0, -1 with a reason in err for a bad value, or -2 for an
 * unknown field. */
int policy_client_set(struct client_rule *r, const char *field, const char *value,
		      const struct groups *g, char *err, size_t errlen);
/* Set one default of p (mode, block or action; "mode" is default_mode) and mark it as set; block
 * groups are checked against g. Returns 0, -1 with a reason in err, or -2 for an unknown field. */
int policy_default_set(struct policy *p, const char *field, const char *value,
		       const struct groups *g, char *err, size_t errlen);
/* The client's id as text: "aa:bb:cc:dd:ee:ff", "192.0.2.1" or "192.0.2.0/24". */
void policy_client_id(const struct client_rule *r, char *buf, size_t len);
/* Sort client rules longest prefix first; call once after the last policy_add_client. */
void policy_finish(struct policy *p);

/* The client's rule, NULL when none matches. mac (may be NULL) is used only when sa is a
 * trusted forwarder of p; *mac_trusted says whether it was. The overlay o (may be NULL) is
 * searched too, and the most specific rule of the two wins: a MAC, then a host, then the longest
 * prefix; on a tie, the overlay's. */
const struct client_rule *policy_client(const struct policy *p, const struct policy *o,
					const struct sockaddr *sa, const uint8_t *mac, bool *mac_trusted);
int policy_add_trusted(struct policy *p, const struct cidr *c);
/* "aa:bb:cc:dd:ee:ff" -> 6 bytes. Returns 0 or -1. */
int policy_parse_mac(const char *s, uint8_t mac[6]);

/* Before resolution, for every client: RPZ client-ip and QNAME triggers, then the operator's
 * deny list (the allow list and rpz-passthru win). True and v filled when the query is to be
 * answered by v instead of being resolved. */
bool policy_before(const struct policy *p, const struct policy *o, const struct client_rule *c,
		   const struct sockaddr *sa, const uint8_t *qname, size_t len, struct verdict *v);

/* After resolution: RPZ rpz-ip triggers on the answer's addresses (every client), then a client
 * in block mode avoids the groups of its block list. v->mode is always set; returns true when
 * v->action is not PACT_PASS. */
bool policy_after(const struct policy *p, const struct policy *o, const struct client_rule *c,
		  const struct sockaddr *sa, const struct label *l, const uint8_t *qname, size_t len,
		  struct verdict *v);

/* For strip: true when address a of label l is one the verdict's block list avoids. */
bool policy_addr_blocked(const struct verdict *v, const struct label *l, const struct label_addr *a);

const char *policy_action_name(enum paction a);
const char *policy_mode_name(enum pmode m);

#endif
