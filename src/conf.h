/* conf.h - the configuration: parsed from the INI file and the command line, then immutable.
 * Workers hold a reference; a reload builds a new one and swaps it in. */
#ifndef JD_CONF_H
#define JD_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "addr.h"
#include "geo.h"
#include "policy.h"
#include "qlog_write.h"
#include "rconn.h"
#include "stats_count.h"
#include "up_tls.h"

#define CONF_MAX_LISTEN 32
#define CONF_MAX_UPSTREAM 16
#define CONF_MAX_PINS 8              /* [upstream] pin_sha256 */
#define CONF_MAX_FORWARD 64          /* [forward DOMAIN] sections */
#define CONF_MAX_FORWARD_SERVERS 8   /* servers in one [forward] section */
#define CONF_MAX_FORWARD_ADDRS 32    /* distinct server addresses in all [forward] sections */

struct fwdzones;

#define CONF_MAX_WEB_LISTEN 8
/* [web]: the console's HTTP listeners (none: off), HTTPS with the DoT certificate, the admin
 * password's hash file and how long a login lasts. */
struct web_conf {
	struct addr listen[CONF_MAX_WEB_LISTEN];
	unsigned nlisten;
	bool tls;
	char password_file[512];
	unsigned session_hours;
};

/* One [forward DOMAIN] section: names at or below DOMAIN go only to these servers. */
struct conf_forward {
	uint8_t zone[256];           /* lower-case wire format */
	unsigned zone_len;
	char name[256];              /* as text, for messages */
	struct addr server[CONF_MAX_FORWARD_SERVERS]; /* in order of preference */
	unsigned nserver;
	int line;                    /* of the section header, for errors */
};

/* One encrypted endpoint of jurisdns announced by DDR (RFC 9462) for _dns.resolver.arpa. The
 * DoT and DoH listener keys fill these in; until they exist there are none. */
#define CONF_MAX_DDR 8               /* endpoints */
#define CONF_MAX_DDR_HINTS 4         /* addresses of each family per endpoint */
enum ddr_alpn { DDR_DOT, DDR_DOH };
struct ddr_endpoint {
	enum ddr_alpn alpn;          /* "dot", or "h2" with a dohpath */
	uint16_t port;
	uint8_t v4[CONF_MAX_DDR_HINTS][4];   /* ipv4hint; none for a wildcard listener */
	unsigned nv4;
	uint8_t v6[CONF_MAX_DDR_HINTS][16];  /* ipv6hint */
	unsigned nv6;
	char path[128];              /* DoH: "/dns-query"; the dohpath is it + "{?dns}" */
};

struct conf {
	atomic_int refs;
	char *path;                  /* NULL when running on built-in defaults */

	struct addr listen[CONF_MAX_LISTEN];
	unsigned nlisten;
	unsigned workers;            /* 0 = one per CPU */
	struct acl acl;
	unsigned tcp_idle_timeout;   /* ms */
	unsigned tcp_max_clients;
	unsigned tcp_max_queries;    /* in flight per connection */
	unsigned max_udp_size;       /* cap on the client's EDNS buffer size */
	unsigned max_inflight;       /* per worker */
	uint8_t ddr_name[256];       /* [server] ddr_name, lower-case wire; the DDR TargetName */
	unsigned ddr_name_len;       /* 0: unset, then _dns.resolver.arpa gets NODATA */
	struct ddr_endpoint ddr[CONF_MAX_DDR]; /* in order of preference (SvcPriority 1..n) */
	unsigned nddr;
	struct addr tls_listen[CONF_MAX_LISTEN]; /* [server] tls_listen: DNS over TLS (io_tls.c) */
	unsigned ntls_listen;
	char tls_certificate[512];   /* PEM chain; "" = the self-signed one in tls_dir */
	char tls_key[512];
	char tls_dir[512];           /* where the self-signed certificate is kept */
	struct ssl_ctx_st *tls_ctx;  /* made by tls_ctx.c at start and reload; freed with the conf */
	struct addr https_listen[CONF_MAX_LISTEN]; /* [server] https_listen: DNS over HTTPS (io_https.c) */
	unsigned nhttps_listen;
	char https_path[128];        /* [server] https_path: the DoH endpoint, "/dns-query" */

	struct addr upstream[CONF_MAX_UPSTREAM];
	unsigned nupstream;
	struct up_url upstream_url[CONF_MAX_UPSTREAM]; /* beside upstream[]: plain, tls:// or https:// */
	char upstream_ca_file[512];  /* [upstream] ca_file: "" = the system store, "none" = pins only */
	uint8_t upstream_pin[CONF_MAX_PINS][UP_PIN_LEN]; /* [upstream] pin_sha256, any one must match */
	unsigned nupstream_pin;
	struct ssl_ctx_st *upstream_tls_ctx; /* for the encrypted servers (up_tls.c); NULL: none */
	bool upstream_from_resolv;
	unsigned timeout;            /* ms until SERVFAIL */
	unsigned failover;           /* ms of silence before the next upstream is tried */
	unsigned upstream_udp_size;  /* EDNS buffer size we advertise upstream */
	struct acl private_upstreams; /* [upstream] servers that may see private names */
	bool protect_private_zones;  /* private reverse zones and home.arpa: never to the others */
	bool case_randomization;     /* 0x20: random QNAME case upstream, answers must repeat it */

	struct conf_forward *forward; /* [forward DOMAIN] sections */
	unsigned nforward;
	struct fwdzones *fwd;        /* those zones and the built-in private zones, for lookups */

	uint64_t cache_size;         /* bytes, 0 = off */
	unsigned min_ttl, max_ttl, negative_ttl, servfail_ttl;

	char geo_db[512];            /* "" = none */
	bool geo_db_set;             /* given in the file: then it must open */
	char asn_db[512];
	struct geo_paths geo_paths;
	unsigned geo_max_age;        /* days; warn when older; 0 = never */
	unsigned geo_check;          /* seconds between checks for a changed file; 0 = never */

	char groups[512];            /* jurisdiction groups file, "" = none */
	bool groups_set;
	char oui_dir[512];           /* ieee-data directory for device vendors, "" = off */
	bool oui_set;                /* given in the file: then it must load */

	struct policy policy;        /* [policy] and [client X] */
	bool block_private_relay;    /* [policy]: NXDOMAIN for iCloud Private Relay's names */
	struct redis_conf redis;     /* [redis] */
	struct stats_conf stats;     /* [stats]; counted only with a [redis] address */

	struct web_conf web;         /* [web]: the household console (web.c) */

	char query_log[512];         /* "" = off, "-" = standard output */
	enum qlog_mode qlog_mode;
	enum client_id_mode client_id;
	char client_hash_key[128];
};

/* Built-in locations, overridable at build time. */
#ifndef JD_GEO_DB
#define JD_GEO_DB "/var/lib/jurisdns/geo.mmdb"
#endif
#ifndef JD_TLS_DIR
#define JD_TLS_DIR "/var/lib/jurisdns/tls"
#endif
#ifndef JD_WEB_PASSWORD_FILE
#define JD_WEB_PASSWORD_FILE "/var/lib/jurisdns/web.passwd"
#endif
#ifndef JD_POLICY_SNAPSHOT
#define JD_POLICY_SNAPSHOT "/var/lib/jurisdns/policy.snapshot"
#endif

/* Command-line overrides, applied after the file. */
struct conf_overrides {
	struct addr listen[CONF_MAX_LISTEN];
	unsigned nlisten;
	struct addr upstream[CONF_MAX_UPSTREAM];
	struct up_url upstream_url[CONF_MAX_UPSTREAM]; /* zero: plain */
	unsigned nupstream;
	int workers;                 /* -1 = not given */
};

/* Load path (NULL = defaults only), apply overrides, fill defaults (upstreams from
 * resolv_conf when none). On error returns NULL and writes "FILE:LINE: message" to err. */
struct conf *conf_load(const char *path, const struct conf_overrides *ov, const char *resolv_conf,
		       char *err, size_t errlen);

/* Read "nameserver" lines of a resolv.conf into c->upstream (port 53). Returns the count. */
int conf_read_resolv(struct conf *c, const char *resolv_conf);

/* The jurisdiction groups file: [labels] groups, else the shipped one (installed, or in the
 * source tree beside the binary); "" when there is none. */
void conf_groups_path(const struct conf *c, char *buf, size_t len);

struct conf *conf_ref(struct conf *c);
void conf_unref(struct conf *c);

#endif
