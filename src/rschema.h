/* rschema.h - the Redis schema in one place, shared by the daemon and jurisdns-ctl: the name of
 * every key, the channel and its messages, and the Lua scripts (src/lua/NAME.lua, embedded at
 * build time). docs/redis-schema.md is the contract and uses the same names: P is the [redis]
 * prefix, a policy key is P{policy}:NAME and a statistics key P{stats}:NAME (the hash tags keep
 * each family on one Redis Cluster slot, as one script or MULTI needs).
 *
 * The names below are string literals relative to a base, so they join format strings:
 *     redisCommand(rc, "HGETALL %s" RSCHEMA_STATS_CLIENT "%s", sbase, id)
 * The Lua scripts build the same names from the base they are given (ARGV[1]); tests/unit/
 * rschema_test.c checks that they agree. */
#ifndef JD_RSCHEMA_H
#define JD_RSCHEMA_H

#include <stddef.h>

/* ---- the bases: P + tag ---- */
#define RSCHEMA_POLICY_TAG "{policy}:"     /* P{policy}: starts every policy key */
#define RSCHEMA_STATS_TAG "{stats}:"       /* P{stats}: starts every statistics key */

/* ---- policy keys: P{policy}: + ... ---- */
#define RSCHEMA_POLICY_VERSION "version"   /* string: the policy version, INCRed in each change's MULTI; none = no policy */
#define RSCHEMA_POLICY_DEFAULT "default"   /* hash: mode, block, action for clients without a rule */
#define RSCHEMA_POLICY_CLIENTS "clients"   /* set: the client ids with a rule */
#define RSCHEMA_POLICY_CLIENT "client:"    /* + ID, hash: one client's mode, block, action, name */
#define RSCHEMA_POLICY_ALLOW "allow"       /* set: domains never blocked */
#define RSCHEMA_POLICY_DENY "deny"         /* set: domains answered with the action for everyone */
#define RSCHEMA_POLICY_LEASES "leases"     /* set: addresses with a DHCP lease (contrib/dhcp hooks) */
#define RSCHEMA_POLICY_LEASE "lease:"      /* + IP, hash: mac or duid, hostname, expires, source */
#define RSCHEMA_LEASE_HOSTNAME "hostname"  /* the field of a lease hash that names the client */
#define RSCHEMA_LEASE_MAC "mac"            /* the field of a lease hash with a DHCPv4 client's MAC */
/* the fields of a rule hash (default, client:ID) that both jurisdns-ctl writes and the daemon
 * parses (policy_client_set(), which reads the file's [client] keys of the same names) */
#define RSCHEMA_RULE_MODE "mode"
#define RSCHEMA_RULE_BLOCK "block"
#define RSCHEMA_RULE_ACTION "action"
#define RSCHEMA_RULE_NAME "name"           /* client:ID only */
#define RSCHEMA_RULE_LOCKED "locked"       /* client:ID only: who locked its mode (the daemon ignores it) */

/* ---- the channel: P + ... ---- */
#define RSCHEMA_CHANNEL "policy:changed"   /* writers publish the new version after EXEC */
#define RSCHEMA_MSG_RELOAD "reload"        /* message: every instance reloads everything (as SIGHUP) */
#define RSCHEMA_MSG_LEASES "leases"        /* message from the DHCP hooks: re-read (the leases) */

/* ---- statistics keys: P{stats}: + ... ---- */
#define RSCHEMA_STATS_TOTAL "total"        /* hash: all-time counters of every client; + ":" HOUR per hour */
#define RSCHEMA_STATS_CLIENTS "clients"    /* set: the ids of the clients counted */
#define RSCHEMA_STATS_CLIENT "client:"     /* + ID, hash: a client's all-time counters; + ":" HOUR per hour */
#define RSCHEMA_STATS_TOP "top:"           /* + ID ":" GROUP, sorted set: the client's domains in GROUP */
#define RSCHEMA_STATS_WHY "why:"           /* + ID ":" GROUP, hash: domain of top:ID:GROUP -> why ("operator:AS45102 Alibaba") */
#define RSCHEMA_STATS_SEEN "seen:"         /* + ID ":" GROUP, set: the domains reached in GROUP */
#define RSCHEMA_STATS_EVENTS "events"      /* stream: first contacts (type group or domain) */
#define RSCHEMA_STATS_RECENT "recent"      /* stream: recent labelled queries ([stats] recent) */
#define RSCHEMA_STATS_APPLIED "applied"    /* hash: instance -> sequence of its last applied flush */
#define RSCHEMA_STATS_INSTANCE "instance:" /* + NAME, hash: heartbeat (version, geo_age_days, last_flush) */
#define RSCHEMA_HB_VERSION "version"       /* heartbeat field: the instance's jurisdns version */
#define RSCHEMA_HB_GEO_AGE "geo_age_days"  /* heartbeat field: its GeoIP database's age, -1 none */
#define RSCHEMA_HB_LAST_FLUSH "last_flush" /* heartbeat field: unix time of its last flush */
#define RSCHEMA_HOUR_FORMAT "%Y%m%d%H"     /* strftime() of HOUR in hourly keys, in UTC */

/* Write P{policy}: into buf; -1 when it does not fit in len bytes (buf is then ""), else 0. */
int rschema_policy_base(char *buf, size_t len, const char *prefix);
/* Write P{stats}: into buf; -1 when it does not fit, else 0. */
int rschema_stats_base(char *buf, size_t len, const char *prefix);
/* Write the channel Ppolicy:changed into buf; -1 when it does not fit, else 0. */
int rschema_channel(char *buf, size_t len, const char *prefix);
/* Write base + name [+ id] [+ ":" sub] into buf (id, sub NULL: left out), e.g.
 * (sbase, RSCHEMA_STATS_TOP, id, group) = P{stats}:top:ID:GROUP and
 * (sbase, RSCHEMA_STATS_TOTAL, NULL, hour) = P{stats}:total:HOUR; -1 when it does not fit. */
int rschema_key(char *buf, size_t len, const char *base, const char *name, const char *id,
		const char *sub);
/* Write the SCAN MATCH pattern of every heartbeat key into buf: sbase (P{stats}:) with the glob
 * characters *?[]\ escaped, then "instance:*"; -1 when it does not fit, else 0. */
int rschema_instance_pattern(char *buf, size_t len, const char *sbase);

/* ---- the Lua scripts (src/lua/NAME.lua), NUL-terminated, and their lengths ---- */
/* The policy read (redispol): KEYS[1] = P{policy}:version, ARGV[1] = P{policy}:; returns
 * {1, snapshot text}, or {0, text with the leases only} when there is no version key. */
extern const char rschema_lua_policy_read[];
extern const size_t rschema_lua_policy_read_len;
/* One statistics flush (stats): KEYS[1] = P{stats}:applied; ARGV as documented in the file;
 * returns 1, or 0 when the batch's sequence was applied already. */
extern const char rschema_lua_stats_flush[];
extern const size_t rschema_lua_stats_flush_len;

#endif
