/* session.h - one run of jurisdns-ctl: the configuration, the Redis connection and what is
 * read from them at most once (the clients, the groups, the device vendor table). Every change
 * to the policy is one MULTI/EXEC that also bumps the version, followed by a PUBLISH, so every
 * running instance applies it within a second. Any error is fatal (die): one line on stderr. */
#ifndef JD_CTL_SESSION_H
#define JD_CTL_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include "conf.h"
#include "ctl_clients.h"
#include "groups.h"
#include "oui.h"

struct ctl {
	redisContext *rc;
	struct redis_conf rcfg;
	struct conf *conf;           /* the configuration file's, or the defaults */
	struct ctl_clients *clients; /* the file's and Redis's clients, read on first use */
	struct groups *groups;       /* read on first use */
	struct oui *oui;             /* [labels] oui, read on first use; NULL when off or unreadable */
	bool oui_tried;
	/* The Redis key names (docs/redis-schema.md) */
	char base[160];              /* <prefix>{policy}: */
	char sbase[160];             /* <prefix>{stats}: */
	char channel[160];           /* <prefix>policy:changed */
	bool json;
};

/* Set base, sbase and channel from rcfg.prefix. */
void ctl_keys(struct ctl *c);
/* Connect to rcfg.address (and AUTH when a password is set). */
void ctl_connect(struct ctl *c);
/* Free everything the session holds. */
void ctl_close(struct ctl *c);

/* A command that must work; its reply (an error reply is fatal). The caller frees it. */
redisReply *ctl_cmd(struct ctl *c, const char *fmt, ...);
/* Queue a command (pipelined; its reply is read by ctl_commit). */
void ctl_append(struct ctl *c, const char *fmt, ...);
/* Queue MULTI; the caller then queues its changes with ctl_append. */
void ctl_begin(struct ctl *c);
/* Queue INCR version and EXEC, read every reply, PUBLISH the version; returns it. n: the
 * commands appended after ctl_begin. */
long long ctl_commit(struct ctl *c, int n);
/* SMEMBERS base + what, sorted into *out (NULL-terminated, the strings owned by the returned
 * reply; the caller frees both). */
redisReply *ctl_members(struct ctl *c, const char *what, char ***out);

/* The clients of the file and of Redis, read once (Redis must be connected). */
struct ctl_clients *ctl_clients_of(struct ctl *c);
/* A CLIENT argument: an address, canonicalised, else the id of a unique name. */
void ctl_resolve(struct ctl *c, const char *arg, char *id, size_t len);
/* The groups file of the configuration, read once; NULL when there is none. */
struct groups *ctl_groups(struct ctl *c);
/* The display name of a client as the daemon names it (ctl_clients_name); *source may be NULL. */
void ctl_name_of(struct ctl *c, const char *id, char *buf, size_t len, const char **source);
/* The configuration file's path, or "the configuration file". */
const char *ctl_conf_name(const struct ctl *c);
/* Who made the device behind id: true when its MAC is known (id is a MAC, or an address whose
 * DHCP lease has one), with *out the registrant from the [labels] oui table ("private address"
 * for a randomised MAC, even without the table), NULL when no registration covers it or the
 * table is off; false (*out NULL) when no MAC is known. As the query log's "vendor". */
bool ctl_vendor(struct ctl *c, const char *id, const struct oui_vendor **out);
/* ctl_vendor that returns a Redis error: 1 (a MAC is known) or 0 with *out set, or -1 with one
 * line in err. */
int ctl_vendor_of(struct ctl *c, const char *id, const struct oui_vendor **out, char *err,
		  size_t errlen);

#endif
