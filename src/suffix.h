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

/* suffix_set_add that also gives the name a tag (such as an index into a table of its owner's
 * names); a name added again keeps its first non-zero tag. */
int suffix_set_add_tagged(struct suffix_set *s, const uint8_t *name, size_t len, uint32_t value,
			  uint32_t tag);

size_t suffix_set_count(const struct suffix_set *s);

/* OR of the values of every listed suffix of name (lower-case wire). *suffix_off (if not NULL)
 * gets the offset of the longest one that matched. 0 when none. */
uint32_t suffix_set_match(const struct suffix_set *s, const uint8_t *name, size_t len,
			  size_t *suffix_off);

/* suffix_set_match that also gives, in *tag (if not NULL), the tag of the longest match (0 when
 * it has none); *tag is left alone when nothing matches. */
uint32_t suffix_set_match_tag(const struct suffix_set *s, const uint8_t *name, size_t len,
			      size_t *suffix_off, uint32_t *tag);

/* The value stored for exactly this name, 0 when it is not in the set. */
uint32_t suffix_set_get(const struct suffix_set *s, const uint8_t *name, size_t len);
/* suffix_set_get that also gives the name's tag in *tag (if not NULL; left alone when absent). */
uint32_t suffix_set_get_tag(const struct suffix_set *s, const uint8_t *name, size_t len, uint32_t *tag);

/* The value of the longest listed proper suffix of name (the name itself not counted), 0 when
 * none: what a "*.example.com" wildcard entry stored as "example.com" matches. */
uint32_t suffix_set_longest_below(const struct suffix_set *s, const uint8_t *name, size_t len);

/* "Example.COM." -> lower-case wire format into out (256 bytes). Returns its length or -1 when
 * the text is not a host name (letters, digits, '-', '_'). */
int domain_to_wire(const char *text, uint8_t *out);

#endif
