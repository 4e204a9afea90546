/* suffix.h - a set of domain names matched by suffix: "example.com" matches itself and every
 * name below it. Names are lower-case wire format; each carries a 32-bit value (OR-ed when a
 * name is added twice), such as a bit per jurisdiction group. */
#ifndef JD_SUFFIX_H
#define JD_SUFFIX_H

#include <stddef.h>
#include <stdint.h>

struct suffix_set;

struct suffix_set *suffix_set_new(void);
void suffix_set_free(struct suffix_set *s);

/* Add name (lower-case wire format). Returns 0, or -1 when out of memory. */
int suffix_set_add(struct suffix_set *s, const uint8_t *name, size_t len, uint32_t value);

size_t suffix_set_count(const struct suffix_set *s);

/* OR of the values of every listed suffix of name (lower-case wire). *suffix_off (if not NULL)
 * gets the offset of the longest one that matched. 0 when none. */
uint32_t suffix_set_match(const struct suffix_set *s, const uint8_t *name, size_t len,
			  size_t *suffix_off);

/* The value stored for exactly this name, 0 when it is not in the set. */
uint32_t suffix_set_get(const struct suffix_set *s, const uint8_t *name, size_t len);

/* The value of the longest listed proper suffix of name (the name itself not counted), 0 when
 * none: what a "*.example.com" wildcard entry stored as "example.com" matches. */
uint32_t suffix_set_longest_below(const struct suffix_set *s, const uint8_t *name, size_t len);

/* "Example.COM." -> lower-case wire format into out (256 bytes). Returns its length or -1 when
 * the text is not a host name (letters, digits, '-', '_'). */
int domain_to_wire(const char *text, uint8_t *out);

#endif
