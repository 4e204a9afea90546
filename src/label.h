/* label.h - the jurisdiction label of an answer: its addresses (A, AAAA along the CNAME chain,
 * and HTTPS/SVCB ipv4hint/ipv6hint) with country, ASN and AS organisation, and the groups they
 * and the chain's names (vendor domains, CDN namespaces of a group's operators) lead into, with
 * the reason. Computed once per upstream answer and stored with the cache entry,
 * so a cache hit costs nothing. */
#ifndef JD_LABEL_H
#define JD_LABEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "geo.h"
#include "groups.h"

#define LABEL_MAX_ADDRS 32       /* addresses kept for the log; all are labelled */
#define LABEL_MAX_REASONS 16

enum label_kind { LABEL_HOSTED = 0, LABEL_OPERATOR = 1, LABEL_DOMAIN = 2 };
#define LABEL_KINDS 3

/* The one table of reason names, indexed by enum label_kind: "hosted", "operator", "domain".
 * The log, the stats keys, the metrics, the policy syntax and the ctl all spell them so. */
extern const char *const label_kind_names[LABEL_KINDS];

/* The enum label_kind named s (exact, lower case), or -1. */
int label_kind_parse(const char *s);

struct label_addr {
	uint8_t ip[16];              /* IPv4 as ::ffff:a.b.c.d */
	bool v6;
	bool known;                  /* found in the GeoIP database */
	char cc[3];
	uint32_t asn;
	char org[GEO_ORG_MAX];
};

struct label_reason {
	char group[GROUP_NAME_MAX];
	uint8_t kind;                /* enum label_kind */
	bool by_name;                /* found by a name on the CNAME chain, not by an address: it
				      * covers every address of the answer (domain, CDN operator) */
	/* "CN", "AS45102", "tuyaeu.com", "kunlunca.com (Alibaba Cloud)"; 71 bytes keep a reason at
	 * 105 bytes: 16 of them are in every cached answer */
	char detail[71];
};

struct label {
	atomic_int refs;             /* the cache entry and each query-log record in flight */
	uint32_t size;               /* bytes of this allocation */
	uint16_t total_addrs;        /* in the answer, perhaps more than naddrs */
	uint16_t naddrs;
	uint16_t nreasons;
	uint32_t mask[3];            /* per kind: bit per group index at labelling time */
	struct label_reason reasons[LABEL_MAX_REASONS];
	struct label_addr addrs[];
};

/* Label the checked answer pkt (ancount records after the question at question_end) to the
 * query name qname (lower-case wire). Returns a new label (caller frees with free()), or NULL
 * when out of memory. A label with no addresses and no reasons is still returned. */
struct label *label_answer(const uint8_t *pkt, size_t len, size_t question_end, uint16_t ancount,
			   const uint8_t *qname, size_t qname_len, const struct geo *geo,
			   const struct groups *groups);

static inline struct label *label_ref(struct label *l)
{
	if (l)
		atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
	return l;
}

/* Drop a reference; frees the label with the last one. Safe from any thread. */
void label_unref(struct label *l);

/* True when the label names at least one group. */
static inline bool label_has_groups(const struct label *l)
{
	return l && (l->mask[0] | l->mask[1] | l->mask[2]);
}

/* "PRC:hosted:CN" style text for reason r, into buf. Returns buf. */
const char *label_reason_str(const struct label_reason *r, char *buf, size_t len);

/* Bytes that hold any why text of label_why() with its NUL (longer ones are cut). */
#define LABEL_WHY_MAX 96

/* Why reason r of l labelled the answer, as "KIND:DETAIL" into buf: "hosted:CN",
 * "domain:tuyaeu.com", "operator:kunlunca.com (Alibaba Cloud)", and for an AS reason the AS's
 * name from the GeoIP database when an address of l has it: "operator:AS45102 Alibaba US
 * Technology Co., Ltd." (l may be NULL: no name). GeoIP text is not trusted: control characters
 * become '?', and a cut to fit len falls on a UTF-8 character boundary. Returns buf. */
const char *label_why(const struct label *l, const struct label_reason *r, char *buf, size_t len);

#endif
