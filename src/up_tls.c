/* up_tls.c - client connections to DoT and DoH upstreams. What the socket reads goes into the
 * read BIO; what goes out is tls_out.c's, shared with the server side (tls_conn.c): the queries
 * of one loop pass leave in one TLS write and one system call. The handshake checks the certificate against the name (SNI and
 * SSL_set1_host) and the CA store, then the SPKI pins; a failure is reported as UP_TLS_VERIFY
 * and nothing is ever sent on that connection. New session tickets are kept in the owner's
 * slot, so a reconnect resumes. DoH runs doh_client.c's HTTP/2 session inside the TLS stream:
 * one POST per query, answers matched by the query's ID (its tag); queries beyond the streams
 * the peer allows wait in order. The memory is freed when both handles have closed. */
#include "config.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "doh_client.h"
#include "tls_out.h"
#include "up_tls.h"
#include "util.h"

#define UPT_HANDSHAKE_MS 5000        /* connect + handshake, then the owner's timeouts rule */
#define UPT_MAX_QUEUED (1u << 20)    /* bytes of unsent TLS records before giving up */
#define UPT_MAX_MSG 65535
#define UPT_MAX_QUEUED_Q 1024       /* DoH queries waiting for a stream */

/* Queries beyond the streams the session may have open wait here, in order. */
struct upt_queued {
	struct upt_queued *next;
	size_t len;
	uint8_t msg[];
};

struct up_tls {
	uv_tcp_t h;
	uv_timer_t timer;
	uv_connect_t connect;
	const struct up_tls_cbs *cbs;
	void *arg;
	unsigned refs;               /* open handles and queued writes */
	bool closing, handshaking, connected;
	enum up_proto proto;
	SSL *ssl;
	BIO *rbio, *wbio;            /* owned by ssl */
	struct tls_out out;          /* one write per loop pass */
	struct ssl_session_st **resume;
	const uint8_t (*pins)[UP_PIN_LEN];
	unsigned npins;
	struct doh_client *h2;       /* DoH */
	struct upt_queued *queued, *queued_tail; /* DoH: waiting for a free stream */
	unsigned nqueued;
	char authority[256], path[128];
	size_t rlen;                 /* DoT: clear text read so far */
	uint8_t rbuf[2 + UPT_MAX_MSG];
};

static int upt_ex_idx = -1;
static pthread_once_t upt_once = PTHREAD_ONCE_INIT;

static void upt_fail(struct up_tls *t, enum up_tls_fail kind, const char *why);

/* --- the URL forms --- */

static int url_err(char *err, size_t errlen, const char *s, const char *want)
{
	snprintf(err, errlen, "%s: expected %s", s, want);
	return -1;
}

/* The IP:PORT part of a URL (a port is required: there is no default worth guessing). */
static int url_hostport(const char *s, size_t n, struct addr *a)
{
	char buf[80], e[100];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (!(buf[0] == '[' ? strstr(buf, "]:") : strchr(buf, ':')))
		return -1; /* no port */
	return addr_parse(buf, 0, a, e, sizeof(e));
}

/* A host name for SNI and the certificate check: letters, digits, '-', '.', not empty. */
static bool url_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

int up_url_parse(const char *s, struct up_url *u, char *err, size_t errlen)
{
	static const char tls_want[] = "tls://IP:PORT#NAME";
	static const char https_want[] = "https://IP:PORT/PATH#NAME";
	const char *rest, *hash, *slash;

	memset(u, 0, sizeof(*u));
	if (!strncmp(s, "tls://", 6)) {
		u->proto = UP_DOT;
		rest = s + 6;
		hash = strchr(rest, '#');
		if (!hash || url_hostport(rest, (size_t)(hash - rest), &u->addr) < 0 ||
		    !url_name_ok(hash + 1))
			return url_err(err, errlen, s, tls_want);
		snprintf(u->name, sizeof(u->name), "%s", hash + 1);
		return 0;
	}
	if (!strncmp(s, "https://", 8)) {
		u->proto = UP_DOH;
		rest = s + 8;
		hash = strchr(rest, '#');
		slash = strchr(rest, '/');
		if (!hash || !slash || slash > hash || url_hostport(rest, (size_t)(slash - rest), &u->addr) < 0 ||
		    (size_t)(hash - slash) >= sizeof(u->path) || hash - slash < 2 || !url_name_ok(hash + 1))
			return url_err(err, errlen, s, https_want);
		memcpy(u->path, slash, (size_t)(hash - slash));
		for (const char *c = u->path; *c; c++)
			if ((unsigned char)*c <= ' ' || *c == '?' || (unsigned char)*c >= 0x7f)
				return url_err(err, errlen, s, https_want);
		snprintf(u->name, sizeof(u->name), "%s", hash + 1);
		return 0;
	}
	if (strstr(s, "://")) {
		snprintf(err, errlen, "%s: unknown scheme (expected IP[:PORT], %s or %s)", s, tls_want,
			 https_want);
		return -1;
	}
	u->proto = UP_PLAIN;
	return addr_parse(s, 53, &u->addr, err, errlen);
}

const char *up_url_str(const struct up_url *u, char *buf, size_t len)
{
	char a[64];

	addr_str(&u->addr.u.sa, a, sizeof(a));
	if (u->proto == UP_DOT)
		snprintf(buf, len, "tls://%s#%s", a, u->name);
	else if (u->proto == UP_DOH)
		snprintf(buf, len, "https://%s%s#%s", a, u->path, u->name);
	else
		snprintf(buf, len, "%s", a);
	return buf;
}

int up_pin_parse(const char *b64, uint8_t pin[UP_PIN_LEN])
{
	uint8_t out[48];
	size_t n = strlen(b64);

	/* 32 bytes are 44 characters with one '=' */
	if (n != 44 || b64[43] != '=' || EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n) != 33)
		return -1;
	memcpy(pin, out, UP_PIN_LEN);
	return 0;
}

/* --- the context --- */

/* A new ticket: keep it in the owner's slot (the ticket of TLS 1.3 comes after the handshake). */
static int upt_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct up_tls *t = SSL_get_ex_data(ssl, upt_ex_idx);

	if (!t || !t->resume)
		return 0;
	SSL_SESSION_free(*t->resume);
	*t->resume = sess;
	return 1; /* the reference is ours */
}

static void upt_ex_init(void)
{
	upt_ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

struct ssl_ctx_st *up_tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	pthread_once(&upt_once, upt_ex_init);
	if (upt_ex_idx < 0 || !(ctx = SSL_CTX_new(TLS_client_method()))) {
		snprintf(err, errlen, "cannot make a TLS client context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, upt_new_session);
	if (!strcmp(ca_file, "none"))
		return ctx;
	if (*ca_file && access(ca_file, R_OK) != 0) {
		snprintf(err, errlen, "ca_file = %s: %s", ca_file, strerror(errno));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (*ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
		     : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		unsigned long e = ERR_get_error();
		const char *r = e ? ERR_reason_error_string(e) : NULL;
		snprintf(err, errlen, "ca_file = %s: %s", *ca_file ? ca_file : "(system store)",
			 r ? r : "no certificates in it");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void up_tls_session_free(struct ssl_session_st *s)
{
	SSL_SESSION_free(s);
}

/* --- handles and output --- */

static void upt_unref(struct up_tls *t)
{
	if (--t->refs)
		return;
	doh_client_free(t->h2); /* its answers to what is in flight find t closing */
	while (t->queued) {
		struct upt_queued *q = t->queued;
		t->queued = q->next;
		free(q);
	}
	/* closed without close_notify (an idle close, or the peer's drop): without this, SSL_free
	 * would mark the session not resumable, and the next connection a full handshake */
	if (t->ssl && !t->handshaking)
		SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(t->ssl);
	free(t);
}

static void upt_handle_closed(uv_handle_t *h)
{
	upt_unref(h->data);
}

void up_tls_close(struct up_tls *t)
{
	if (!t || t->closing)
		return;
	t->closing = true;
	t->resume = NULL;
	tls_out_close(&t->out, upt_handle_closed);
	uv_close((uv_handle_t *)&t->h, upt_handle_closed);
	uv_close((uv_handle_t *)&t->timer, upt_handle_closed);
}

static void upt_fail(struct up_tls *t, enum up_tls_fail kind, const char *why)
{
	if (t->closing)
		return;
	const struct up_tls_cbs *cbs = t->cbs;
	void *arg = t->arg;
	up_tls_close(t);
	cbs->failed(arg, kind, why);
}

/* Output is tls_out.c's; the connection is held while a write is queued. */
static void upt_out_hold(void *owner)
{
	((struct up_tls *)owner)->refs++;
}

static void upt_out_release(void *owner)
{
	upt_unref(owner);
}

static void upt_out_broken(void *owner, const char *why)
{
	upt_fail(owner, UP_TLS_NET, why);
}

static const struct tls_out_ops upt_out_ops = {
	.hold = upt_out_hold,
	.release = upt_out_release,
	.broken = upt_out_broken,
};

/* Send what TLS has written, and the clear text queued in this pass. */
static void upt_flush(struct up_tls *t)
{
	if (!t->closing)
		tls_out_flush(&t->out);
}

/* --- HTTP/2 (DoH): doh_client.c's session inside the TLS stream --- */

static int upt_h2_send(void *arg, const uint8_t *bytes, size_t len)
{
	struct up_tls *t = arg;

	if (t->closing || !tls_out_stream(&t->out, bytes, len))
		return -1;
	return 0;
}

static void upt_h2_answer(void *arg, uint64_t tag, int status, const uint8_t *msg, size_t len)
{
	struct up_tls *t = arg;
	bool ok = status == 200 && msg && len >= 12 && len <= sizeof(t->rbuf);

	if (t->closing) /* in-flight queries answered -1 by doh_client_free */
		return;
	if (ok)
		memcpy(t->rbuf, msg, len); /* the callee may rewrite it; rbuf is unused by DoH */
	/* matched by the query's ID (the tag): RFC 8484 lets a server answer with ID 0 */
	if (ok)
		wr16(t->rbuf, (uint16_t)tag);
	t->cbs->answer(t->arg, (uint16_t)tag, ok ? t->rbuf : NULL, ok ? len : 0);
}

/* Submit the queued queries the session has room for. */
static void upt_h2_drain(struct up_tls *t)
{
	while (!t->closing && t->queued && doh_client_can_submit(t->h2)) {
		struct upt_queued *q = t->queued;
		t->queued = q->next;
		if (!t->queued)
			t->queued_tail = NULL;
		t->nqueued--;
		int rc = doh_client_submit(t->h2, q->msg, q->len, rd16(q->msg));
		uint16_t id = rd16(q->msg);
		free(q);
		if (rc < 0 && !t->closing)
			t->cbs->answer(t->arg, id, NULL, 0);
	}
}

static int upt_h2_query(struct up_tls *t, const uint8_t *msg, size_t len)
{
	struct upt_queued *q;

	if (!t->queued && doh_client_can_submit(t->h2)) {
		if (doh_client_submit(t->h2, msg, len, rd16(msg)) < 0)
			return -1;
		return t->closing ? -1 : 0;
	}
	if (t->nqueued >= UPT_MAX_QUEUED_Q || !(q = malloc(sizeof(*q) + len)))
		return -1;
	q->next = NULL;
	q->len = len;
	memcpy(q->msg, msg, len);
	if (t->queued_tail)
		t->queued_tail->next = q;
	else
		t->queued = q;
	t->queued_tail = q;
	t->nqueued++;
	return 0;
}

/* --- the handshake and its checks --- */

/* Whether the peer's SPKI matches a pin (none given: yes). */
static bool upt_pin_ok(struct up_tls *t)
{
	uint8_t *der = NULL, md[SHA256_DIGEST_LENGTH];
	X509 *cert;
	int n;

	if (!t->npins)
		return true;
	if (!(cert = SSL_get0_peer_certificate(t->ssl)) ||
	    (n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der)) <= 0)
		return false;
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	for (unsigned i = 0; i < t->npins; i++)
		if (!memcmp(md, t->pins[i], UP_PIN_LEN))
			return true;
	return false;
}

static void upt_handshake_done(struct up_tls *t)
{
	const unsigned char *alpn = NULL;
	unsigned alen = 0;

	t->handshaking = false;
	uv_timer_stop(&t->timer);
	if (!upt_pin_ok(t)) {
		upt_fail(t, UP_TLS_VERIFY, "certificate does not match pin_sha256");
		return;
	}
	if (t->proto == UP_DOH) {
		SSL_get0_alpn_selected(t->ssl, &alpn, &alen);
		if (alen != 2 || memcmp(alpn, "h2", 2)) {
			upt_fail(t, UP_TLS_VERIFY, "does not speak HTTP/2 (ALPN h2)");
			return;
		}
		t->h2 = doh_client_new(t->authority, t->path, upt_h2_send, upt_h2_answer, t);
		if (!t->h2) {
			upt_fail(t, UP_TLS_NET, "cannot start HTTP/2");
			return;
		}
		upt_flush(t); /* the preface and our SETTINGS */
		if (t->closing)
			return;
	}
	t->cbs->ready(t->arg);
}

/* Go on with the handshake: false when it is not done (or failed). */
static bool upt_handshake(struct up_tls *t)
{
	char why[200];
	int rc = SSL_do_handshake(t->ssl);

	if (rc == 1) {
		upt_flush(t);
		if (!t->closing)
			upt_handshake_done(t);
		return !t->closing;
	}
	int e = SSL_get_error(t->ssl, rc);
	unsigned long ee = ERR_peek_error();
	long v = SSL_get_verify_result(t->ssl);
	upt_flush(t); /* the next flight, or our alert */
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return false;
	}
	if (v != X509_V_OK) {
		snprintf(why, sizeof(why), "certificate verify failed: %s", X509_verify_cert_error_string(v));
		ERR_clear_error();
		upt_fail(t, UP_TLS_VERIFY, why);
		return false;
	}
	snprintf(why, sizeof(why), "TLS handshake failed: %s",
		 ee ? ERR_reason_error_string(ee) ? ERR_reason_error_string(ee) : "error" : "connection closed");
	ERR_clear_error();
	upt_fail(t, UP_TLS_NET, why);
	return false;
}

/* DoT: hand over every complete message in rbuf. */
static void upt_dot_messages(struct up_tls *t)
{
	size_t off = 0;

	while (!t->closing && t->rlen - off >= 2) {
		size_t mlen = rd16(t->rbuf + off);
		if (t->rlen - off < 2 + mlen)
			break;
		if (mlen >= 12)
			t->cbs->answer(t->arg, rd16(t->rbuf + off + 2), t->rbuf + off + 2, mlen);
		off += 2 + mlen;
	}
	if (t->closing)
		return;
	memmove(t->rbuf, t->rbuf + off, t->rlen - off);
	t->rlen -= off;
}

/* Decrypt what arrived and pass it on. */
static void upt_read_clear(struct up_tls *t)
{
	uint8_t buf[16384];

	while (!t->closing) {
		uint8_t *dst = t->proto == UP_DOT ? t->rbuf + t->rlen : buf;
		size_t room = t->proto == UP_DOT ? sizeof(t->rbuf) - t->rlen : sizeof(buf);
		int n = SSL_read(t->ssl, dst, (int)room);
		if (n <= 0) {
			int e = SSL_get_error(t->ssl, n);
			ERR_clear_error();
			upt_flush(t); /* key updates write too */
			if (t->closing)
				return;
			if (e != SSL_ERROR_WANT_READ)
				upt_fail(t, UP_TLS_NET, e == SSL_ERROR_ZERO_RETURN ? "closed the TLS connection"
										: "broke the TLS connection");
			return;
		}
		if (t->proto == UP_DOT) {
			t->rlen += (size_t)n;
			upt_dot_messages(t);
			continue;
		}
		if (doh_client_feed(t->h2, buf, (size_t)n) < 0) {
			const char *why = doh_client_why(t->h2);
			upt_flush(t); /* a GOAWAY of ours, the last bytes */
			upt_fail(t, UP_TLS_NET, why ? why : "ended the HTTP/2 session");
			return;
		}
		if (t->closing)
			return;
		upt_h2_drain(t);
	}
}

static void upt_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static __thread uint8_t in[65536];

	(void)h;
	(void)hint;
	*buf = uv_buf_init((char *)in, sizeof(in));
}

static void upt_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct up_tls *t = h->data;

	if (t->closing)
		return;
	if (nread < 0) {
		upt_fail(t, UP_TLS_NET, nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	if (BIO_write(t->rbio, buf->base, (int)nread) != nread) {
		upt_fail(t, UP_TLS_NET, "out of memory");
		return;
	}
	if (t->handshaking && !upt_handshake(t))
		return;
	upt_read_clear(t);
}

static void upt_on_timer(uv_timer_t *tm)
{
	upt_fail(tm->data, UP_TLS_NET, "TLS handshake timed out");
}

static void upt_connected(uv_connect_t *req, int status)
{
	struct up_tls *t = req->data;

	if (t->closing)
		return;
	if (status < 0) {
		upt_fail(t, UP_TLS_NET, uv_strerror(status));
		return;
	}
	t->connected = true;
	uv_tcp_nodelay(&t->h, 1);
	if (uv_read_start((uv_stream_t *)&t->h, upt_alloc, upt_on_read) < 0) {
		upt_fail(t, UP_TLS_NET, "cannot read");
		return;
	}
	upt_handshake(t);
}

struct up_tls *up_tls_open(uv_loop_t *loop, const struct up_tls_params *p, const struct up_tls_cbs *cbs,
			   void *arg)
{
	static const unsigned char alpn_h2[] = { 2, 'h', '2' };
	const struct up_url *u = p->url;
	struct up_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cbs = cbs;
	t->arg = arg;
	t->proto = u->proto;
	t->pins = p->pins;
	t->npins = p->npins;
	t->resume = p->resume;
	snprintf(t->authority, sizeof(t->authority), "%s", u->name);
	snprintf(t->path, sizeof(t->path), "%s", u->path);
	if (!(t->ssl = SSL_new(p->ctx)) || !(t->rbio = BIO_new(BIO_s_mem())))
		goto fail;
	if (!(t->wbio = BIO_new(BIO_s_mem()))) {
		BIO_free(t->rbio);
		goto fail;
	}
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_connect_state(t->ssl);
	SSL_set_ex_data(t->ssl, upt_ex_idx, t);
	if (SSL_set_tlsext_host_name(t->ssl, u->name) != 1)
		goto fail;
	if (p->check_chain) {
		SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
		if (SSL_set1_host(t->ssl, u->name) != 1)
			goto fail;
	} else {
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL); /* the pin is the identity */
	}
	if (u->proto == UP_DOH && SSL_set_alpn_protos(t->ssl, alpn_h2, sizeof(alpn_h2)) != 0)
		goto fail;
	if (p->resume && *p->resume)
		SSL_set_session(t->ssl, *p->resume);
	uv_tcp_init(loop, &t->h);
	uv_timer_init(loop, &t->timer);
	t->h.data = t->timer.data = t->connect.data = t;
	tls_out_init(&t->out, loop, (uv_stream_t *)&t->h, t->ssl, t->wbio, &upt_out_ops, t, UPT_MAX_QUEUED);
	t->refs = 3; /* the socket, the timer and the idle handle */
	t->handshaking = true;
	if (uv_tcp_connect(&t->connect, &t->h, &u->addr.u.sa, upt_connected) < 0) {
		t->resume = NULL;
		t->closing = true; /* no callback: the caller learns from the NULL */
		tls_out_close(&t->out, upt_handle_closed);
		uv_close((uv_handle_t *)&t->h, upt_handle_closed);
		uv_close((uv_handle_t *)&t->timer, upt_handle_closed);
		return NULL;
	}
	uv_timer_start(&t->timer, upt_on_timer, UPT_HANDSHAKE_MS, 0);
	return t;
fail:
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
	return NULL;
}

int up_tls_send(struct up_tls *t, const uint8_t *msg, size_t len)
{
	uint8_t frame[2 + 512];

	if (t->closing || t->handshaking || len < 12 || len > sizeof(frame) - 2)
		return -1;
	if (t->proto == UP_DOH)
		return upt_h2_query(t, msg, len);
	wr16(frame, (uint16_t)len);
	memcpy(frame + 2, msg, len);
	return tls_out_record(&t->out, frame, len + 2) ? 0 : -1;
}
