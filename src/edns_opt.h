/* edns_opt.h - the EDNS options a stream transport adds to an answer: TCP keepalive (RFC 7828)
 * and padding (RFC 8467). The pipeline writes the OPT record; a transport finds what the query
 * asked for with edns_opt_scan() and adds the options with edns_opt_append() just before it
 * sends the answer. Pure functions on wire bytes: bad input is reported, never trusted. */
#ifndef JD_EDNS_OPT_H
#define JD_EDNS_OPT_H

#include <stddef.h>
#include <stdint.h>

#define EDNS_OPT_KEEPALIVE 11        /* RFC 7828 edns-tcp-keepalive */
#define EDNS_OPT_PADDING 12          /* RFC 7830 */
#define EDNS_PAD_BLOCK 468           /* RFC 8467 4.1: the server's recommended block */

#define EDNS_WANT_KEEPALIVE 1
#define EDNS_WANT_PADDING 2

/* The EDNS_WANT_* bits of the options in query msg's OPT record (0 when none or unparseable). */
unsigned edns_opt_scan(const uint8_t *msg, size_t len);
/* Add to answer msg (len bytes, room for cap) a keepalive option with timeout_100ms when
 * want has EDNS_WANT_KEEPALIVE, then a padding option that makes the whole message a
 * multiple of block octets when want has EDNS_WANT_PADDING. Only when the answer's last
 * record is its OPT; otherwise, or when there is no room, msg is left as it is. Returns the
 * new length. */
size_t edns_opt_append(uint8_t *msg, size_t len, size_t cap, unsigned want, uint16_t timeout_100ms,
		       size_t block);

#endif
