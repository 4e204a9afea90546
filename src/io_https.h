/* io_https.h - the DNS-over-HTTPS client transport (RFC 8484): HTTP/2 (nghttp2, ALPN h2) over
 * the shared TLS connection (tls_conn.c) on the worker's loop. Each stream carries one query
 * (GET ?dns= or POST application/dns-message, doh_req.c) and gets its answer in any order;
 * concurrent streams are bounded per connection, and a client that goes away detaches its
 * requests. */
#ifndef JD_IO_HTTPS_H
#define JD_IO_HTTPS_H

#include <stdbool.h>
#include "wstate.h"

/* Start listening on w's DoH listener fds (ownership passes to libuv). 0 or a libuv error. */
int io_https_open(struct worker *w);
/* Stop taking connections and queries; idle connections close, the others after their last answer. */
void io_https_drain(struct worker *w);
/* True when no DoH client connection is open. */
bool io_https_idle(const struct worker *w);
/* Free what io_https_open allocated, once the loop has ended. */
void io_https_free(struct worker *w);

#endif
