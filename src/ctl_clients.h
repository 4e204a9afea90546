/* ctl_clients.h - jurisdns-ctl's view of the clients: the configuration file's [client X]
 * sections, the client rules in Redis and the DHCP leases, merged by id with the daemon's
 * precedence (the most specific rule wins across the file and Redis; Redis's on a tie), and
 * the names a command line may use instead of an address. */
#ifndef JD_CTL_CLIENTS_H
#define JD_CTL_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "policy.h"

#define CTL_SRC_FILE 1u
#define CTL_SRC_REDIS 2u

/* One client id with a rule in the file, in Redis, or in both. */
struct ctl_client {
	char id[128];                    /* canonical (policy_client_id), or Redis's member as is */
	unsigned sources;                /* CTL_SRC_FILE | CTL_SRC_REDIS */
	bool invalid;                    /* a Redis member that is no client id (the daemon skips it) */
	const struct client_rule *file;  /* the file's rule (owned by the caller's policy), or NULL */
	struct client_rule redis;        /* the Redis rule as the daemon parses it (CTL_SRC_REDIS) */
	redisReply *fields;              /* its HGETALL, as stored (CTL_SRC_REDIS), else NULL */
};

struct ctl_clients;

/* Read the Redis client rules, the Redis default mode and the DHCP leases under policy_base
 * ("<prefix>{policy}:") through rc, and merge them with file's client rules. rc and file stay
 * the caller's and must outlive the result. NULL with one line in err on a Redis error. */
struct ctl_clients *ctl_clients_load(redisContext *rc, const char *policy_base,
				     const struct policy *file, char *err, size_t errlen);
void ctl_clients_free(struct ctl_clients *cs);

/* Every client with a rule, sorted by id; *n is their count. Owned by cs. */
const struct ctl_client *ctl_clients_all(const struct ctl_clients *cs, size_t *n);
/* The client whose id is id (canonical), NULL when neither the file nor Redis has a rule. */
const struct ctl_client *ctl_clients_find(const struct ctl_clients *cs, const char *id);

/* "file", "redis" or "file+redis". */
const char *ctl_client_source(const struct ctl_client *c);
/* The rule in force for the id itself: Redis's when both define it (the daemon's tie break). */
const struct client_rule *ctl_client_rule(const struct ctl_client *c);
/* The mode in force for the id: the rule's, else Redis's default, else the file's default. */
enum pmode ctl_client_mode(const struct ctl_clients *cs, const struct ctl_client *c);

/* Field (mode, name, block or action) of r as Redis would store it, into buf; false (buf "")
 * when r leaves it to the default. */
bool ctl_rule_field(const struct client_rule *r, const char *field, char *buf, size_t len);

/* The display name of id (a statistics id: an address or a MAC), as the daemon names it: the
 * name of the most specific rule covering id, else the DHCP lease's host name; "" when none.
 * *source (may be NULL) is set to that rule's client source, "lease", or NULL. Returns 0, or -1
 * with one line in err on a Redis error. */
int ctl_clients_name(const struct ctl_clients *cs, const char *id, char *buf, size_t len,
		     const char **source, char *err, size_t errlen);

/* The MAC address of the device behind id (a statistics or client id): id itself when it is a
 * MAC, else the MAC of the DHCP lease of the address id. Returns 1 with it in mac, 0 when none
 * is known (no lease, a DHCPv6 lease, a network), -1 with one line in err on a Redis error. */
int ctl_clients_mac(const struct ctl_clients *cs, const char *id, uint8_t mac[6], char *err,
		    size_t errlen);

/* Read in one pipeline what ctl_clients_name and ctl_clients_mac of each of the n ids would
 * ask Redis, so that those answer from memory (a page of a thousand devices is one round trip).
 * Returns 0, or -1 with one line in err (the connection is then unusable). */
int ctl_clients_prefetch(struct ctl_clients *cs, const char *const *ids, size_t n, char *err,
			 size_t errlen);
/* The client whose rule is in force for id, by the daemon's precedence: a MAC or a network only
 * its own; an address its own, else the most specific network covering it. NULL when none. */
const struct ctl_client *ctl_clients_covering(const struct ctl_clients *cs, const char *id);

/* A command-line address (IP address, CIDR or MAC) in canonical form. Returns 0, or -1 with
 * the reason in err. */
int ctl_client_canon(const char *arg, char *out, size_t len, char *err, size_t errlen);

/* A command-line CLIENT: an address (canonical, whether known or not), else a name matched
 * without regard to case against the file's and Redis's client names and the DHCP leases'
 * host names. Returns 0 with the id in out, or -1 with one line in err: not an address and no
 * such name, or a name of several ids (the candidates are listed). */
int ctl_clients_resolve(const struct ctl_clients *cs, const char *arg, char *out, size_t len,
			char *err, size_t errlen);

#endif
