/* groups.h - jurisdiction groups: which countries, operator ASNs and vendor domains belong to a
 * jurisdiction (zones/jurisdictions.conf). An immutable, refcounted snapshot like struct geo. */
#ifndef JD_GROUPS_H
#define JD_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GROUPS_MAX 32
#define GROUP_NAME_MAX 32
#define GROUP_MAX_COUNTRIES 64

/* kind = of a group: a jurisdiction (countries, operators, vendor domains), or the names of
 * resolvers that take DNS away from jurisdns (encrypted DNS, HTTPDNS), which has domains only */
enum group_kind { GROUP_JURISDICTION = 0, GROUP_BYPASS = 1 };

struct jgroup {
	char name[GROUP_NAME_MAX];
	uint8_t kind;                /* enum group_kind */
	char countries[GROUP_MAX_COUNTRIES][3];
	unsigned ncountries;
	char except[GROUP_MAX_COUNTRIES][3]; /* countries_except: any known country but these */
	unsigned nexcept;
	uint32_t *asns;              /* sorted, unique */
	size_t nasns;
	size_t ndomains;
	size_t ncdn;                 /* CDN and DNS-hosting suffixes (cdn = list files) */
};

struct groups;

/* Load a groups file. Relative list paths are taken from the file's directory. NULL with
 * "FILE:LINE: message" in err on any error (unknown key, bad ASN, unreadable list...). */
struct groups *groups_load(const char *path, char *err, size_t errlen);
/* Only the group names of a groups file (no countries, ASNs or domains), to check a configuration
 * against: cheap, the list files are not read. NULL with "FILE:LINE: message" in err. */
struct groups *groups_load_names(const char *path, char *err, size_t errlen);
/* An empty set (no labels), for running without a groups file. */
struct groups *groups_empty(void);
struct groups *groups_ref(struct groups *g);
void groups_unref(struct groups *g);

unsigned groups_count(const struct groups *g);
const struct jgroup *groups_get(const struct groups *g, unsigned i);
/* The group called name, ignoring case: its own spelling (owned by g), or NULL when none is. */
const char *groups_find(const struct groups *g, const char *name);

/* Bit i set when group i lists the country (two letters), or has countries_except and does not
 * list it there. An empty (unknown) country matches nothing. */
uint32_t groups_match_country(const struct groups *g, const char *cc);
/* Bit i set when group i lists the ASN. */
uint32_t groups_match_asn(const struct groups *g, uint32_t asn);
/* Bit i set when a suffix of the wire name (lower case, uncompressed) is in group i's domain
 * list; *suffix_off gets the offset of the longest matching suffix of the first group matched. */
uint32_t groups_match_domain(const struct groups *g, const uint8_t *name, size_t len,
			     size_t *suffix_off);
/* Bit i set when exactly this wire name is in group i's domain list. */
uint32_t groups_domain_get(const struct groups *g, const uint8_t *name, size_t len);
/* Bit i set when a suffix of the wire name (lower case, uncompressed) is in group i's CDN list:
 * a CDN or DNS-hosting namespace run by an operator of that jurisdiction. *suffix_off gets the
 * offset of the longest matching suffix, *operator_name (if not NULL) the name of its operator
 * (owned by g, "" when none matched). */
uint32_t groups_match_cdn(const struct groups *g, const uint8_t *name, size_t len,
			  size_t *suffix_off, const char **operator_name);
/* Bit i set when exactly this wire name is in group i's CDN list; *operator_name as above. A
 * suffix listed more than once (by two groups) keeps the first operator name. */
uint32_t groups_cdn_get(const struct groups *g, const uint8_t *name, size_t len,
			const char **operator_name);

#endif
