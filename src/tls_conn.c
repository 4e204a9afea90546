/* tls_conn.c - server TLS connections on memory BIOs for the encrypted client transports: what
 * the socket reads is written into the read BIO, and whatever TLS wants to send is taken from
 * the write BIO and handed to uv_write. No blocking call, no thread. Hostile clients: a
 * handshake has TLS_HANDSHAKE_MS to finish; at most TLS_MAX_HANDSHAKES are in progress per set
 * (a new connection closes the oldest one beyond); at the connection limit the least recently
 * active idle connection is closed for a new one. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "request.h"
#include "tls_conn.h"
#include "tls_ctx.h"
#include "tls_out.h"
#include "wstate.h"

static void tlsc_unref(struct tls_conn *c)
{
	if (--c->refs == 0) {
		if (c->set->ops->release)
			c->set->ops->release(c);
		SSL_free(c->ssl);
		free(c);
	}
}

/* --- output: tls_out.c's, the connection's references held for queued writes --- */

static void tlsc_out_hold(void *owner)
{
	((struct tls_conn *)owner)->refs++;
}

static void tlsc_out_release(void *owner)
{
	tlsc_unref(owner);
}

static void tlsc_out_broken(void *owner, const char *why)
{
	(void)why; /* a client that went away or stopped reading: nothing to log */
	tls_conn_close(owner);
}

static const struct tls_out_ops tlsc_out_ops = {
	.hold = tlsc_out_hold,
	.release = tlsc_out_release,
	.broken = tlsc_out_broken,
};

void tls_conn_flush(struct tls_conn *c)
{
	if (!c->closing)
		tls_out_flush(&c->out);
}

bool tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t len)
{
	if (c->closing)
		return false;
	if (!(c->set->h2 ? tls_out_stream(&c->out, data, len) : tls_out_record(&c->out, data, len))) {
		tls_conn_close(c); /* the client does not read its answers */
		return false;
	}
	return true;
}

int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap)
{
	if (c->closing)
		return -1;
	int n = SSL_read(c->ssl, buf, (int)(cap > INT32_MAX ? INT32_MAX : cap));
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	ERR_clear_error();
	tls_conn_flush(c); /* tickets and key updates write too */
	if (c->closing)
		return -1;
	if (e != SSL_ERROR_WANT_READ) {
		tls_conn_close(c); /* close_notify, or a broken record */
		return -1;
	}
	return 0;
}

/* --- requests --- */

void tls_conn_add_req(struct tls_conn *c, struct request *r)
{
	r->cprev = NULL;
	r->cnext = c->reqs;
	if (c->reqs)
		c->reqs->cprev = r;
	c->reqs = request_ref(r);
	c->inflight++;
}

static void tlsc_unlink(struct tls_conn *c, struct request *r)
{
	if (r->cprev)
		r->cprev->cnext = r->cnext;
	else
		c->reqs = r->cnext;
	if (r->cnext)
		r->cnext->cprev = r->cprev;
	r->cprev = r->cnext = NULL;
	c->inflight--;
}

void tls_conn_drop_req(struct tls_conn *c, struct request *r)
{
	tlsc_unlink(c, r);
	request_unref(r);
	if (c->w->draining && !c->inflight)
		tls_conn_close(c);
}

void tls_conn_detach_req(struct tls_conn *c, struct request *r)
{
	tlsc_unlink(c, r);
	request_detach(r);
	request_unref(r);
}

/* --- connections --- */

static void tlsc_handle_closed(uv_handle_t *h)
{
	tlsc_unref(h->data);
}

static void tlsc_list_remove(struct tls_conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
}

static void tlsc_list_front(struct tls_conn_set *set, struct tls_conn *c)
{
	c->next = set->head.next;
	c->prev = &set->head;
	set->head.next->prev = c;
	set->head.next = c;
}

void tls_conn_touch(struct tls_conn *c)
{
	tlsc_list_remove(c);
	tlsc_list_front(c->set, c);
	uv_timer_again(&c->timer);
}

void tls_conn_close(struct tls_conn *c)
{
	struct tls_conn_set *set = c->set;

	if (c->closing)
		return;
	c->closing = true;
	tls_out_flush(&c->out); /* the last answers of this pass (a draining close) */
	for (struct request *r = c->reqs, *next; r; r = next) {
		next = r->cnext;
		request_detach(r);
		request_unref(r);
	}
	c->reqs = NULL;
	c->inflight = 0;
	set->ops->closing(c);
	if (c->handshaking)
		set->nhandshake--;
	tlsc_list_remove(c);
	set->nconn--;
	tls_out_close(&c->out, tlsc_handle_closed);
	uv_close((uv_handle_t *)&c->h, tlsc_handle_closed);
	uv_close((uv_handle_t *)&c->timer, tlsc_handle_closed);
}

static void tlsc_on_timer(uv_timer_t *t)
{
	struct tls_conn *c = t->data;

	if (c->inflight)
		uv_timer_again(t); /* answers are still coming */
	else
		tls_conn_close(c); /* a stalled handshake, or idle */
}

static void tlsc_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct tls_conn *c = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)c->set->in, sizeof(c->set->in));
}

static void tlsc_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

void tls_conn_want_read(struct tls_conn *c, bool want)
{
	if (c->closing)
		return;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->h, tlsc_on_alloc, tlsc_on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = false;
	}
}

/* Go on with the handshake, then hand over to the transport. */
static void tlsc_advance(struct tls_conn *c)
{
	struct worker *w = c->w;

	if (c->handshaking) {
		int rc = SSL_do_handshake(c->ssl);
		if (rc != 1) {
			int e = SSL_get_error(c->ssl, rc);
			ERR_clear_error();
			tls_conn_flush(c); /* the handshake's next flight, or an alert */
			if (c->closing)
				return;
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				tls_conn_close(c); /* not TLS, or nothing we accept */
				return;
			}
			tls_conn_want_read(c, true);
			return;
		}
		c->handshaking = false;
		c->set->nhandshake--;
		uv_timer_start(&c->timer, tlsc_on_timer, w->conf->tcp_idle_timeout,
			       w->conf->tcp_idle_timeout);
	}
	c->set->ops->process(c);
}

static void tlsc_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct tls_conn *c = h->data;

	if (nread < 0) {
		tls_conn_close(c); /* EOF or error: its requests in flight are detached */
		return;
	}
	if (nread == 0 || c->closing)
		return;
	if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
		tls_conn_close(c);
		return;
	}
	tlsc_advance(c);
}

/* Make room for a new connection: the oldest handshake beyond the bound goes, and at the
 * connection limit the least recently active connection with nothing in flight. False when
 * every connection is busy. */
static bool tlsc_make_room(struct tls_conn_set *set, unsigned limit)
{
	if (set->nhandshake >= TLS_MAX_HANDSHAKES)
		for (struct tls_conn *c = set->head.prev; c != &set->head; c = c->prev)
			if (c->handshaking) {
				tls_conn_close(c);
				break;
			}
	if (set->nconn < limit)
		return true;
	for (struct tls_conn *c = set->head.prev; c != &set->head; c = c->prev)
		if (!c->inflight) {
			tls_conn_close(c);
			return true;
		}
	return false;
}

static void tlsc_on_connection(uv_stream_t *server, int status)
{
	struct tls_conn_set *set = server->data;
	struct worker *w = set->w;
	unsigned limit = w->conf->tcp_max_clients / w->nworkers;
	struct tls_conn *c;
	int len;

	if (status < 0 || !(c = calloc(1, set->conn_size)))
		return;
	c->w = w;
	c->set = set;
	uv_tcp_init(&w->loop, &c->h);
	c->h.data = c;
	c->refs = 1;
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0 || w->draining || !w->conf->tls_ctx ||
	    !tlsc_make_room(set, limit ? limit : 1) || !(c->ssl = SSL_new(w->conf->tls_ctx))) {
		wc_add(&w->st.tcp_rejected, 1);
		uv_close((uv_handle_t *)&c->h, tlsc_handle_closed);
		return;
	}
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->rbio || !c->wbio) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		uv_close((uv_handle_t *)&c->h, tlsc_handle_closed);
		return;
	}
	BIO_set_mem_eof_return(c->rbio, -1); /* an empty read BIO means "more to come" */
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_accept_state(c->ssl);
	if (set->h2)
		tls_ctx_alpn_h2(c->ssl);
	uv_timer_init(&w->loop, &c->timer);
	c->timer.data = c;
	tls_out_init(&c->out, &w->loop, (uv_stream_t *)&c->h, c->ssl, c->wbio, &tlsc_out_ops, c,
		     TLS_MAX_QUEUED);
	c->refs = 3; /* the socket, the timer and the idle handle */
	len = sizeof(c->peer.u.ss);
	uv_tcp_getpeername(&c->h, &c->peer.u.sa, &len);
	c->peer.len = (socklen_t)len;
	uv_tcp_nodelay(&c->h, 1);
	tlsc_list_front(set, c);
	set->nconn++;
	c->handshaking = true;
	set->nhandshake++;
	wc_add(&w->st.tcp_clients, 1);
	uv_timer_start(&c->timer, tlsc_on_timer, TLS_HANDSHAKE_MS, 0);
	tlsc_advance(c);
}

/* --- set-up and drain --- */

int tls_conn_set_open(struct tls_conn_set *set, struct worker *w, int *fds, unsigned nfds,
		      const struct tls_conn_ops *ops, size_t conn_size, bool h2)
{
	int rc;

	set->w = w;
	set->ops = ops;
	set->conn_size = conn_size;
	set->h2 = h2;
	set->head.next = set->head.prev = &set->head;
	if (!nfds)
		return 0;
	if (!(set->listen = calloc(nfds, sizeof(*set->listen))))
		return UV_ENOMEM;
	for (unsigned i = 0; i < nfds; i++) {
		uv_tcp_t *t = &set->listen[i];
		uv_tcp_init(&w->loop, t);
		t->data = set;
		set->nlisten = i + 1;
		if ((rc = uv_tcp_open(t, fds[i])) < 0)
			return rc;
		fds[i] = -1; /* libuv owns it now */
		if ((rc = uv_listen((uv_stream_t *)t, 256, tlsc_on_connection)) < 0)
			return rc;
	}
	return 0;
}

void tls_conn_set_drain(struct tls_conn_set *set)
{
	for (unsigned i = 0; set->listen && i < set->nlisten; i++)
		if (!uv_is_closing((uv_handle_t *)&set->listen[i]))
			uv_close((uv_handle_t *)&set->listen[i], NULL);
	for (struct tls_conn *c = set->head.next, *next; c != &set->head; c = next) {
		next = c->next;
		if (!c->inflight)
			tls_conn_close(c);
		else
			tls_conn_want_read(c, false);
	}
}

bool tls_conn_set_idle(const struct tls_conn_set *set)
{
	return !set->nconn;
}

void tls_conn_set_free(struct tls_conn_set *set)
{
	free(set->listen);
	set->listen = NULL;
	set->nlisten = 0;
}
