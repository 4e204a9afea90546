/* tls_ctx.h - the server's TLS context for DNS over TLS: the configured certificate chain and
 * key, or a self-signed certificate made once and kept in tls_dir; TLS 1.2 and 1.3 only, with
 * session tickets. Made on the control thread at start and reload; workers only SSL_new() it. */
#ifndef JD_TLS_CTX_H
#define JD_TLS_CTX_H

#include <stddef.h>
#include <time.h>
#include "conf.h"

struct ssl_st;

/* A context for c's [server] tls_* keys, its certificate's SPKI pin (base64 of the SHA-256 of
 * the SubjectPublicKeyInfo, as kdig +tls-pin takes it) in pin (>= 45 bytes). make_self: may
 * create the self-signed pair when it is missing (not for -t). NULL with "FILE: reason" in
 * err. */
struct ssl_ctx_st *tls_ctx_make(const struct conf *c, bool make_self, char *pin, size_t pinlen,
				char *err, size_t errlen);
/* Mark ssl (from a tls_ctx_make context, before its handshake) as DNS over HTTPS: its ALPN is
 * h2 only. Called on the workers; only sets a flag on ssl. */
void tls_ctx_alpn_h2(struct ssl_st *ssl);
/* For tests: the clock of session-ticket key rotation (NULL: time()). */
void tls_ctx_set_clock(time_t (*now)(void));

#endif
