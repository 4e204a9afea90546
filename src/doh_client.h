/* doh_client.h - the HTTP/2 side of a DNS over HTTPS upstream (RFC 8484): one nghttp2 client
 * session that sends each DNS query as a POST on its own stream and hands back each answer.
 * It knows nothing of sockets or TLS: the owner feeds it the bytes that came in (after TLS
 * decryption) and it pushes the bytes to send out through send_fn (which the owner encrypts).
 *
 * Every submitted query gets exactly one answer_fn call: status 200 with the body, another HTTP
 * status (415, 503 ...) with whatever body came, or -1 when the stream was reset, refused by a
 * GOAWAY, cut off by the end of the session, or its answer broke the rules (body over
 * DOH_CLIENT_MAX_BODY, a 200 that is not application/dns-message). The body is only valid during
 * the call; the owner checks that it is a DNS message. */
#ifndef JD_DOH_CLIENT_H
#define JD_DOH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOH_CLIENT_MAX_BODY 65535    /* a DNS message, both ways */
#define DOH_CLIENT_MAX_STREAMS 100   /* in flight at once, below the peer's own limit */

struct doh_client;

/* Bytes to write to the peer, in order. Returns 0, or -1 when the transport is broken (the
 * session is then over). Called from inside doh_client_new/submit/feed, never from free. */
typedef int (*doh_send_fn)(void *arg, const uint8_t *bytes, size_t len);
/* The outcome of the query submitted with tag: status 200 (msg is the body), another HTTP
 * status, or -1 (msg NULL). It may call doh_client_submit (a retry) and doh_client_free. */
typedef void (*doh_answer_fn)(void *arg, uint64_t tag, int status, const uint8_t *msg, size_t len);

/* A session for https://authority/path (both copied). Writes the connection preface and our
 * SETTINGS through send_fn at once. NULL when out of memory or send_fn failed. */
struct doh_client *doh_client_new(const char *authority, const char *path, doh_send_fn send_fn,
				  doh_answer_fn answer_fn, void *arg);
/* Send the DNS message msg (copied, 1..DOH_CLIENT_MAX_BODY octets) as a POST on a new stream.
 * Returns 0 (answer_fn runs later, never inside this call), or -1 when it cannot be sent now
 * (see doh_client_can_submit; answer_fn will not run for it). */
int doh_client_submit(struct doh_client *c, const uint8_t *msg, size_t len, uint64_t tag);
/* Process bytes from the peer; answers and the bytes to send out follow from inside. Returns 0,
 * or -1 when the session is over (a protocol error, garbage, a GOAWAY with nothing left in
 * flight, send_fn failed): every query has been answered then, and the owner closes the
 * connection once the last bytes are sent (doh_client_why says why). Also -1 after free was
 * called from inside an answer_fn: c is gone then. */
int doh_client_feed(struct doh_client *c, const uint8_t *bytes, size_t len);
/* True when a new query may be submitted: the session is alive, no GOAWAY came, and fewer
 * streams are in flight than the peer's SETTINGS_MAX_CONCURRENT_STREAMS (and our own limit). */
bool doh_client_can_submit(const struct doh_client *c);
/* Queries submitted and not yet answered. */
unsigned doh_client_inflight(const struct doh_client *c);
/* Why the session is over, for the log ("GOAWAY received", "HTTP/2 protocol error" ...), or
 * NULL while it is alive. A static string. */
const char *doh_client_why(const struct doh_client *c);
/* Free c: every query still in flight gets its answer_fn(-1) first, once. NULL is fine. Safe
 * inside answer_fn (the feed that called it then returns -1). */
void doh_client_free(struct doh_client *c);

#endif
