/* tls_out.c - clear text in, TLS records out, one write per loop pass. The
 * write BIO is drained through a per-thread buffer into uv_try_write; only the part the kernel
 * does not take is copied into a uv_write request. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "tls_out.h"

#define TLS_OUT_CHUNK 65536          /* one drain of the write BIO: four full records */
#define TLS_OUT_MIN_CLEAR 4096

struct tlso_write {
	uv_write_t req;
	struct tls_out *o;
	size_t len;
	uint8_t data[];
};

static void tlso_on_idle(uv_idle_t *h);

void tls_out_init(struct tls_out *o, uv_loop_t *loop, uv_stream_t *stream, struct ssl_st *ssl,
		  struct bio_st *wbio, const struct tls_out_ops *ops, void *owner, size_t cap)
{
	memset(o, 0, sizeof(*o));
	uv_idle_init(loop, &o->idle);
	o->idle.data = owner;
	o->stream = stream;
	o->ssl = ssl;
	o->wbio = wbio;
	o->ops = ops;
	o->owner = owner;
	o->cap = cap;
}

static void tlso_kick(struct tls_out *o)
{
	if (!uv_is_active((uv_handle_t *)&o->idle))
		uv_idle_start(&o->idle, tlso_on_idle);
}

/* Encrypt the collected stream bytes. False when TLS fails. */
static bool tlso_encrypt(struct tls_out *o)
{
	int len = (int)o->clear_len;

	if (!len)
		return true;
	o->clear_len = 0;
	if (SSL_write(o->ssl, o->clear, len) <= 0) {
		ERR_clear_error();
		return false;
	}
	if (o->clear_cap > 4 * TLS_OUT_CHUNK) { /* a burst passed: do not keep its buffer */
		free(o->clear);
		o->clear = NULL;
		o->clear_cap = 0;
	}
	return true;
}

bool tls_out_record(struct tls_out *o, const uint8_t *data, size_t len)
{
	if (o->closed || !tlso_encrypt(o))
		return false;
	if (len && SSL_write(o->ssl, data, (int)len) <= 0) {
		ERR_clear_error();
		return false;
	}
	if ((size_t)BIO_ctrl_pending(o->wbio) + o->queued > o->cap)
		return false;
	tlso_kick(o);
	return true;
}

bool tls_out_stream(struct tls_out *o, const uint8_t *data, size_t len)
{
	if (o->closed || o->clear_len + len + o->queued > o->cap)
		return false;
	if (o->clear_len + len > o->clear_cap) {
		size_t cap = o->clear_cap ? o->clear_cap : TLS_OUT_MIN_CLEAR;
		while (cap < o->clear_len + len)
			cap *= 2;
		uint8_t *p = realloc(o->clear, cap);
		if (!p)
			return false;
		o->clear = p;
		o->clear_cap = cap;
	}
	memcpy(o->clear + o->clear_len, data, len);
	o->clear_len += len;
	tlso_kick(o);
	return true;
}

static void tlso_write_done(uv_write_t *req, int status)
{
	struct tlso_write *wr = (struct tlso_write *)req;
	struct tls_out *o = wr->o;
	void *owner = o->owner;
	const struct tls_out_ops *ops = o->ops;

	o->queued -= wr->len;
	free(wr);
	if (status < 0 && status != UV_ECANCELED && !o->closed)
		ops->broken(owner, uv_strerror(status));
	ops->release(owner); /* may free o */
}

/* Hand n bytes of buf to the socket: what try_write leaves goes into a uv_write. 0, or -1 after
 * broken. */
static int tlso_send(struct tls_out *o, const uint8_t *buf, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
	int k = o->queued ? 0 : uv_try_write(o->stream, &b, 1);
	struct tlso_write *wr;

	if (k == (int)n)
		return 0;
	if (k < 0 && k != UV_EAGAIN) {
		o->ops->broken(o->owner, uv_strerror(k));
		return -1;
	}
	if (k < 0)
		k = 0;
	size_t rest = n - (size_t)k;
	if (o->queued + rest > o->cap || !(wr = malloc(sizeof(*wr) + rest))) {
		o->ops->broken(o->owner, "does not read what is sent");
		return -1;
	}
	memcpy(wr->data, buf + k, rest);
	wr->o = o;
	wr->len = rest;
	b = uv_buf_init((char *)wr->data, (unsigned)rest);
	if (uv_write(&wr->req, o->stream, &b, 1, tlso_write_done) < 0) {
		free(wr);
		o->ops->broken(o->owner, "write failed");
		return -1;
	}
	o->ops->hold(o->owner);
	o->queued += rest;
	return 0;
}

void tls_out_flush(struct tls_out *o)
{
	static __thread uint8_t buf[TLS_OUT_CHUNK];
	int n;

	if (o->closed)
		return;
	if (uv_is_active((uv_handle_t *)&o->idle))
		uv_idle_stop(&o->idle);
	if (!tlso_encrypt(o)) {
		o->ops->broken(o->owner, "TLS write failed");
		return;
	}
	while (!o->closed && (n = BIO_read(o->wbio, buf, sizeof(buf))) > 0)
		if (tlso_send(o, buf, (size_t)n) < 0)
			return;
}

static void tlso_on_idle(uv_idle_t *h)
{
	struct tls_out *o = (struct tls_out *)h; /* idle is the first member */

	tls_out_flush(o);
}

void tls_out_close(struct tls_out *o, uv_close_cb cb)
{
	if (o->closed)
		return;
	o->closed = true;
	free(o->clear);
	o->clear = NULL;
	o->clear_len = o->clear_cap = 0;
	uv_close((uv_handle_t *)&o->idle, cb);
}
