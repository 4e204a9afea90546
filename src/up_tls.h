/* up_tls.h - client connections to encrypted upstreams on the worker's uv loop: DNS over TLS
 * (RFC 7858: pipelined, 2-byte length prefixes) and DNS over HTTPS (RFC 8484: HTTP/2 over TLS,
 * ALPN h2, one POST stream per query). OpenSSL runs on memory BIOs; the peer must present a
 * certificate for the configured name that chains to the CA store, and match a pin when pins
 * are given. The connection knows nothing of transactions: it carries DNS messages and reports
 * back through callbacks. Also the parser of the upstream URL forms. */
#ifndef JD_UP_TLS_H
#define JD_UP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "addr.h"

struct ssl_ctx_st;
struct ssl_session_st;
struct up_tls;

enum up_proto { UP_PLAIN, UP_DOT, UP_DOH };

/* One [upstream] server as written: ADDR[:PORT], tls://IP:PORT#NAME, https://IP:PORT/PATH#NAME. */
struct up_url {
	struct addr addr;
	enum up_proto proto;
	char name[256];              /* DoT/DoH: the name the certificate must carry (and SNI) */
	char path[128];              /* DoH: "/dns-query" */
};

#define UP_PIN_LEN 32                /* SHA-256 */

/* Parse one server (plain ones default to port 53). Returns 0, or -1 with a reason in err
 * ("expected tls://IP:PORT#NAME"). */
int up_url_parse(const char *s, struct up_url *u, char *err, size_t errlen);
/* u as "1.2.3.4:53", "tls://1.2.3.4:853#dns.example" or "https://1.2.3.4:443/dns-query#dns.example". */
const char *up_url_str(const struct up_url *u, char *buf, size_t len);
/* Parse a base64 SPKI SHA-256 pin into pin. Returns 0 or -1. */
int up_pin_parse(const char *b64, uint8_t pin[UP_PIN_LEN]);
/* A client context: TLS 1.2+, certificates checked against ca_file ("" = the system store,
 * "none" = no chain check: pins only). Caller frees it with SSL_CTX_free. NULL with the reason
 * in err. */
struct ssl_ctx_st *up_tls_ctx_new(const char *ca_file, char *err, size_t errlen);

enum up_tls_fail {
	UP_TLS_NET,                  /* refused, reset, closed, timed out, not TLS */
	UP_TLS_VERIFY,               /* certificate, name, pin or ALPN rejected: never use it */
};

/* What a connection reports. No callback runs inside up_tls_open, up_tls_send or up_tls_close. */
struct up_tls_cbs {
	void (*ready)(void *arg);    /* handshake done and checked: messages may be sent */
	/* one DNS message came in; for DoH, pkt NULL says the stream of the query with that ID
	 * failed (HTTP status, reset). The callback may close the connection. */
	void (*answer)(void *arg, uint16_t id, uint8_t *pkt, size_t len);
	/* the connection is over (no callback follows); why is for the log */
	void (*failed)(void *arg, enum up_tls_fail kind, const char *why);
};

struct up_tls_params {
	const struct up_url *url;
	struct ssl_ctx_st *ctx;      /* from up_tls_ctx_new */
	const uint8_t (*pins)[UP_PIN_LEN]; /* SPKI pins, any one must match; npins 0: none */
	unsigned npins;
	bool check_chain;            /* false with ca_file = none */
	/* where the session is kept for resumption: read at open, replaced by new tickets until
	 * up_tls_close (the owner frees it with up_tls_session_free) */
	struct ssl_session_st **resume;
};

/* Connect and start the handshake. NULL when nothing could be set up (no callback runs). */
struct up_tls *up_tls_open(uv_loop_t *loop, const struct up_tls_params *p, const struct up_tls_cbs *cbs,
			   void *arg);
/* Send one DNS message (after ready). Returns 0, or -1 when the connection cannot take it (it
 * then fails through the callback later). */
int up_tls_send(struct up_tls *t, const uint8_t *msg, size_t len);
/* Close t; no callback runs after this. Safe to call again, and from inside a callback. */
void up_tls_close(struct up_tls *t);
/* Free a kept session (NULL is fine). */
void up_tls_session_free(struct ssl_session_st *s);

#endif
