/* geo.h - GeoIP lookups (country, ASN, AS organisation) in MaxMind-format databases through
 * libmaxminddb. A struct geo is an immutable, refcounted snapshot: a reload opens a new one and
 * workers swap their pointer between queries. */
#ifndef JD_GEO_H
#define JD_GEO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define GEO_MAX_ALTS 4           /* alternative field paths per value */
#define GEO_MAX_DEPTH 6          /* components per path */
#define GEO_ORG_MAX 64

/* Field paths, each a list of alternatives tried in order, each a '/'-separated path:
 * "country/iso_code,country_code". */
struct geo_paths {
	char country[128], asn[128], org[128];
};

/* Defaults that cover GeoLite2 Country/City + ASN, DB-IP lite, IPinfo lite and our own. */
void geo_paths_default(struct geo_paths *p);

/* Check a path list; returns 0 or -1 with a reason in err. */
int geo_paths_check(const char *list, char *err, size_t errlen);

struct geo_result {
	bool found;                  /* any record for the address */
	char cc[3];                  /* ISO 3166 code, "" when unknown */
	uint32_t asn;                /* 0 when unknown */
	char org[GEO_ORG_MAX];       /* "" when unknown */
};

struct geo;

/* Open db (country, and ASN if it has it) and optionally asn_db. NULL with a reason in err
 * when a file cannot be opened or is not a MaxMind DB. */
struct geo *geo_open(const char *db, const char *asn_db, const struct geo_paths *paths, char *err,
		     size_t errlen);
struct geo *geo_ref(struct geo *g);
void geo_unref(struct geo *g);

/* Look up one address (AF_INET or AF_INET6 sockaddr). Never fails: unknown fields stay empty. */
void geo_lookup(const struct geo *g, const struct sockaddr *sa, struct geo_result *out);

/* One line about the databases: type, description, build date and age in days. */
void geo_describe(const struct geo *g, char *buf, size_t len);

/* Build time of the main database (metadata build_epoch). */
time_t geo_build_time(const struct geo *g);

/* True when a file changed on disk since it was opened (size, mtime or inode). */
bool geo_changed(const struct geo *g);

#endif
