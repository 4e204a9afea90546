/* utf8.h - reading UTF-8 that comes from Redis (host names, domains, vendor names): whatever a
 * device or a DHCP server wrote must still make valid JSON and HTML. */
#ifndef JD_CTL_UTF8_H
#define JD_CTL_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 sequence at p (n bytes available), with its code point
 * in *cp; 0 for an invalid, overlong, truncated or surrogate sequence. */
size_t utf8_decode(const unsigned char *p, size_t n, unsigned long *cp);
/* The bytes of s's first chars characters (a column is cut there, never inside a character;
 * an invalid byte counts as one character). */
size_t utf8_prefix(const char *s, size_t chars);

#endif
