/* doh_req.h - the HTTP side of DNS over HTTPS (RFC 8484), as pure functions on bytes: which
 * DNS message an HTTP/2 request carries (GET ?dns= base64url, POST application/dns-message) or
 * which HTTP error status it gets, and how long an answer may be cached (cache-control). No
 * I/O and no allocation: io_https.c feeds it what the stream received. */
#ifndef JD_DOH_REQ_H
#define JD_DOH_REQ_H

#include <stddef.h>
#include <stdint.h>

#define DOH_MAX_BODY 65535           /* a DNS message's largest size; a longer body gets 413 */
#define DOH_DEFAULT_PATH "/dns-query"

/* What one stream received; a field not received is NULL with length 0. */
struct doh_request {
	const uint8_t *method;
	size_t method_len;
	const uint8_t *path;         /* :path, with its query string */
	size_t path_len;
	const uint8_t *ctype;        /* content-type */
	size_t ctype_len;
	const uint8_t *body;
	size_t body_len;
};

/* The HTTP status for q on the endpoint doh_path (a NUL-terminated path such as "/dns-query"):
 * 200 with the DNS message at *msg (*len bytes: in q->body for POST, decoded into buf, cap
 * bytes, for GET); 400 bad base64, no or an empty dns parameter, an empty body; 404 another
 * path; 405 another method (answer with "allow: GET, POST"); 413 a body over DOH_MAX_BODY;
 * 415 another content type. The DNS message itself is not checked (the pipeline answers a
 * malformed one with FORMERR). */
int doh_req_parse(const struct doh_request *q, const char *doh_path, uint8_t *buf, size_t cap,
		  const uint8_t **msg, size_t *len);

/* Decode base64url without padding (RFC 4648 5, RFC 8484 6) from in (n bytes) into out (cap
 * bytes): the decoded length, or -1 when in is not such base64url or does not fit. */
long doh_base64url_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* The cache-control max-age of DNS answer msg (len bytes; RFC 8484 5.1): the smallest TTL of
 * the answer section; without answers, the smaller of the SOA's TTL and MINIMUM in the
 * authority section (RFC 2308 5); 0 when there is neither or msg does not parse. */
uint32_t doh_max_age(const uint8_t *msg, size_t len);

#endif
