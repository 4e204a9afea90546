/* io_tls.h - the DNS-over-TLS client transport (RFC 7858): TLS on the worker's loop through
 * memory BIOs, then the TCP transport's rules (length-prefixed messages, pipelining, answers in
 * any order, a per-connection query limit, idle timeout), plus a handshake timeout, a bound on
 * handshakes in progress, and room made for new clients by closing the oldest idle one. */
#ifndef JD_IO_TLS_H
#define JD_IO_TLS_H

#include <stdbool.h>
#include "wstate.h"

/* Start listening on w's DoT listener fds (ownership passes to libuv). 0 or a libuv error. */
int io_tls_open(struct worker *w);
/* Stop taking connections and queries; idle sessions close, the others after their last answer. */
void io_tls_drain(struct worker *w);
/* True when no DoT client connection is open. */
bool io_tls_idle(const struct worker *w);
/* Free what io_tls_open allocated, once the loop has ended. */
void io_tls_free(struct worker *w);

#endif
