/* fwdzone.h - which zone decides where a name is resolved: the longest [forward DOMAIN] zone
 * that covers it, or else one of the locally served private zones (reverse zones of private
 * and special addresses, RFC 6303 and RFC 7793, and home.arpa, RFC 8375) that must not leak
 * to a public upstream. Names are lower-case wire format; "lan" covers "lan" and "printer.lan"
 * but not "plan". */
#ifndef JD_FWDZONE_H
#define JD_FWDZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fwdzones;

/* An empty table of [forward] zones, with the built-in private zones. NULL when out of memory. */
struct fwdzones *fwdzones_new(void);
void fwdzones_free(struct fwdzones *z);

/* Add [forward] zone number idx (lower-case wire). Returns 0, 1 when the zone is already
 * there (nothing changed), or -1 when out of memory. */
int fwdzones_add(struct fwdzones *z, const uint8_t *zone, size_t len, unsigned idx);

/* The number of the longest [forward] zone that is name or a parent of it, or -1 when none is.
 * *zone_off (if not NULL) gets the offset in name where that zone starts. */
int fwdzones_forward(const struct fwdzones *z, const uint8_t *name, size_t len, size_t *zone_off);

/* True when name is in (or is the apex of) a built-in private zone; *zone_off (if not NULL)
 * gets the offset of that zone's apex in name. */
bool fwdzones_private(const struct fwdzones *z, const uint8_t *name, size_t len, size_t *zone_off);

/* How many built-in private zones there are (for tests and the documentation). */
size_t fwdzones_private_count(const struct fwdzones *z);

#endif
