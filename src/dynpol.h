/* dynpol.h - the policy from Redis: an immutable, refcounted overlay on the file's policy.
 *
 * Its one external form is a text snapshot: what the control thread builds from the Redis reply,
 * what it saves to disk for a cold start, and what it compares to see whether anything changed.
 * One record per line, fields separated by tabs, each field escaped (\\ \t \n \r \xHH):
 *
 *     jurisdns-policy 1
 *     version	42
 *     default	mode	block
 *     allow	example.com
 *     deny	ads.example
 *     client	192.168.1.23	mode	block
 *     client	aa:bb:cc:dd:ee:ff	name	Tablet
 *     lease	192.168.1.40	kitchen-camera
 *     error	client:10.1.1.1	WRONGTYPE Operation against a key holding the wrong kind of value
 *
 *     client	192.168.1.40	locked	admin
 *
 * A client's "locked" field (who locked its mode, RSCHEMA_RULE_LOCKED) is accepted and has no
 * effect on answers: it only stops the device from changing its own rule in the console.
 * Bad records (an unknown mode, a bad CIDR, an unknown field, a block group the groups file does
 * not define) are skipped with a logged reason; a bad client drops that client only. */
#ifndef JD_DYNPOL_H
#define JD_DYNPOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "policy.h"
#include "util.h"

struct lease {
	uint8_t ip[16];              /* IPv4 mapped */
	char name[64];
};

struct dynpol {
	atomic_int refs;
	uint64_t version;            /* the writers' counter; 0 when Redis had none */
	unsigned skipped;            /* records skipped as bad */
	struct policy p;             /* the overlay: clients, allow, deny, has_* defaults */
	struct lease *leases;        /* DHCP host names by address (contrib/dhcp hooks) */
	uint32_t nleases, *lease_index;
	size_t lease_mask;
	char *text;                  /* the snapshot it was built from */
	size_t len;
};

#define DYNPOL_MAGIC "jurisdns-policy 1\n"

/* Build an overlay from snapshot text (copied). Bad records are logged with where (e.g.
 * "redis" or the file name) and skipped; block groups must be groups of g (any case), unless g
 * is NULL. Returns NULL only when the text is not a snapshot (no magic line) or memory runs out,
 * with the reason in err. */
struct dynpol *dynpol_parse(const char *text, size_t len, const char *where, const struct groups *g,
			    char *err, size_t errlen);

/* Read and parse a snapshot file, as dynpol_parse; NULL with the reason in err. */
struct dynpol *dynpol_load(const char *path, const struct groups *g, char *err, size_t errlen);
/* Write d's text to path atomically (a temporary file, fsync, rename). Returns 0 or -errno. */
int dynpol_save(const struct dynpol *d, const char *path);

/* The DHCP host name of the address, NULL when none. */
const char *dynpol_lease_name(const struct dynpol *d, const struct sockaddr *sa);

struct dynpol *dynpol_ref(struct dynpol *d);
void dynpol_unref(struct dynpol *d);

/* One field of a snapshot record, escaped, onto b. */
void sb_field(struct strbuf *b, const char *s, size_t n);

#endif
