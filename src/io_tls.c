/* io_tls.c - the DNS-over-TLS client transport (RFC 7858). OpenSSL runs on memory BIOs: what
 * the socket reads is written into the read BIO, and whatever TLS wants to send is taken from
 * the write BIO and handed to uv_write. No blocking call, no thread. Inside TLS it is the TCP
 * transport again: 2-byte length prefixes, pipelined queries answered in the order they come,
 * at most tcp_max_queries in flight per connection, the idle timeout, a cap on unread answers.
 * Hostile clients: a handshake has TLS_HANDSHAKE_MS to finish; at most TLS_MAX_HANDSHAKES are
 * in progress per worker (a new connection closes the oldest one beyond); at the connection
 * limit the least recently active idle connection is closed for a new one. A session keeps its
 * requests on a list and detaches them when it closes, as io_tcp does. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "edns_opt.h"
#include "io_tls.h"
#include "pipeline.h"

#define TLS_MAX_QUEUED (1u << 20)    /* bytes of unsent TLS records before a client is cut off */
#define TLS_HANDSHAKE_MS 5000
#define TLS_MAX_HANDSHAKES 64        /* per worker */
#define TLS_PAD_ROOM 1024            /* answers leave room for the keepalive and padding options */

struct tls_sess {
	uv_tcp_t h;
	uv_timer_t timer;            /* the handshake timeout, then the idle timeout */
	struct worker *w;
	struct tls_sess *prev, *next; /* most recently active first */
	unsigned refs;               /* one per open handle and per queued write */
	unsigned inflight;
	struct request *reqs;        /* in flight, linked by cprev/cnext */
	size_t write_bytes;
	bool closing, reading, handshaking;
	bool processing;             /* in ts_process: an answer given at once must not re-enter it */
	struct addr peer;
	SSL *ssl;
	BIO *rbio, *wbio;            /* owned by ssl */
	size_t rlen, rcap;
	uint8_t *rbuf;               /* clear text: grows to the largest message, at most 2 + 65535 */
};

struct tls_worker {
	uv_tcp_t *listen;
	struct tls_sess head;        /* sentinel of the session list */
	unsigned nsess, nhandshake;
	uint8_t in[65536];           /* one socket read, fed to the read BIO at once */
	uint8_t out[32768];
};

static void ts_close(struct tls_sess *s);
static void ts_process(struct tls_sess *s);

static void ts_unref(struct tls_sess *s)
{
	if (--s->refs == 0) {
		SSL_free(s->ssl);
		free(s->rbuf);
		free(s);
	}
}

/* --- output --- */

struct tls_write {
	uv_write_t req;
	struct tls_sess *s;
	size_t len;
	uint8_t data[];
};

static void ts_write_done(uv_write_t *req, int status)
{
	struct tls_write *tw = (struct tls_write *)req;
	struct tls_sess *s = tw->s;

	s->write_bytes -= tw->len;
	free(tw);
	if (status < 0)
		ts_close(s);
	ts_unref(s);
}

/* Send what TLS has written to the write BIO: try_write first, queue the rest. */
static void ts_flush(struct tls_sess *s)
{
	struct tls_worker *tw = s->w->tls;
	int n;

	while (!s->closing && (n = BIO_read(s->wbio, tw->out, sizeof(tw->out))) > 0) {
		uv_buf_t b = uv_buf_init((char *)tw->out, (unsigned)n);
		int k = s->write_bytes ? 0 : uv_try_write((uv_stream_t *)&s->h, &b, 1);
		if (k == n)
			continue;
		if (k < 0 && k != UV_EAGAIN) {
			ts_close(s);
			return;
		}
		if (k < 0)
			k = 0;
		size_t rest = (size_t)(n - k);
		struct tls_write *wr;
		if (s->write_bytes + rest > TLS_MAX_QUEUED || !(wr = malloc(sizeof(*wr) + rest))) {
			ts_close(s); /* the client does not read its answers */
			return;
		}
		memcpy(wr->data, tw->out + k, rest);
		wr->s = s;
		wr->len = rest;
		b = uv_buf_init((char *)wr->data, (unsigned)rest);
		if (uv_write(&wr->req, (uv_stream_t *)&s->h, &b, 1, ts_write_done) < 0) {
			free(wr);
			ts_close(s);
			return;
		}
		s->refs++;
		s->write_bytes += rest;
	}
}

/* --- the vtable --- */

static size_t tls_max_answer(const struct request *r)
{
	(void)r;
	return DNS_MAX_MSG - TLS_PAD_ROOM;
}

static uint8_t *tls_answer_buf(struct request *r)
{
	struct tls_sess *s = r->ctx;

	return s->w->scratch + 2; /* room for the length prefix in front */
}

static void tls_send(struct request *r, const uint8_t *answer, size_t len)
{
	struct tls_sess *s = r->ctx;
	struct worker *w = s->w;
	uint8_t *frame = w->scratch;
	unsigned want = r->tp_len ? r->tp_priv[0] : 0;

	if (s->closing)
		return;
	if (answer != frame + 2)
		memmove(frame + 2, answer, len);
	len = edns_opt_append(frame + 2, len, DNS_MAX_MSG, want,
			      (uint16_t)(w->conf->tcp_idle_timeout / 100), EDNS_PAD_BLOCK);
	r->padded = want & EDNS_WANT_PADDING;
	wr16(frame, (uint16_t)len);
	if (SSL_write(s->ssl, frame, (int)(len + 2)) <= 0) {
		ERR_clear_error();
		ts_close(s);
		return;
	}
	ts_flush(s);
}

static void ts_unlink(struct tls_sess *s, struct request *r)
{
	if (r->cprev)
		r->cprev->cnext = r->cnext;
	else
		s->reqs = r->cnext;
	if (r->cnext)
		r->cnext->cprev = r->cprev;
	r->cprev = r->cnext = NULL;
	s->inflight--;
}

static void tls_done(struct request *r)
{
	struct tls_sess *s = r->ctx;
	struct worker *w = s->w;

	ts_unlink(s, r);
	request_unref(r);
	if (!s->closing && !s->reading && !s->processing && !w->draining &&
	    s->inflight < w->conf->tcp_max_queries)
		ts_process(s); /* resume a connection paused at its query limit */
	else if (w->draining && !s->inflight)
		ts_close(s);
}

static const struct transport tls_transport = {
	.kind_name = "dot",
	.kind = TRANSPORT_DOT,
	.stream = true,
	.max_answer = tls_max_answer,
	.answer_buf = tls_answer_buf,
	.send = tls_send,
	.done = tls_done,
};

/* --- sessions --- */

static void ts_handle_closed(uv_handle_t *h)
{
	ts_unref(h->data);
}

static void ts_list_remove(struct tls_sess *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
}

static void ts_list_front(struct tls_worker *tw, struct tls_sess *s)
{
	s->next = tw->head.next;
	s->prev = &tw->head;
	tw->head.next->prev = s;
	tw->head.next = s;
}

static void ts_close(struct tls_sess *s)
{
	struct tls_worker *tw = s->w->tls;

	if (s->closing)
		return;
	s->closing = true;
	for (struct request *r = s->reqs, *next; r; r = next) {
		next = r->cnext;
		request_detach(r);
		request_unref(r);
	}
	s->reqs = NULL;
	s->inflight = 0;
	if (s->handshaking)
		tw->nhandshake--;
	ts_list_remove(s);
	tw->nsess--;
	uv_close((uv_handle_t *)&s->h, ts_handle_closed);
	uv_close((uv_handle_t *)&s->timer, ts_handle_closed);
}

static void ts_on_timer(uv_timer_t *t)
{
	struct tls_sess *s = t->data;

	if (s->inflight)
		uv_timer_again(t); /* answers are still coming */
	else
		ts_close(s); /* a stalled handshake, or idle */
}

static void ts_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct tls_sess *s = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)s->w->tls->in, sizeof(s->w->tls->in));
}

/* Room for need bytes of clear text in the read buffer. */
static bool ts_reserve(struct tls_sess *s, size_t need)
{
	if (need > 2 + DNS_MAX_MSG)
		need = 2 + DNS_MAX_MSG;
	if (s->rcap >= need)
		return true;
	size_t cap = s->rcap ? s->rcap : 512;
	while (cap < need)
		cap *= 2;
	if (cap > 2 + DNS_MAX_MSG)
		cap = 2 + DNS_MAX_MSG;
	uint8_t *nb = realloc(s->rbuf, cap);
	if (!nb)
		return false;
	s->rbuf = nb;
	s->rcap = cap;
	return true;
}

static void ts_query(struct worker *w, struct tls_sess *s, const uint8_t *msg, size_t len, uint64_t now_ns)
{
	struct request *r = request_new(&w->reqs, &tls_transport, s);

	if (!r) {
		wc_add(&w->st.dropped, 1);
		return;
	}
	r->start_ns = now_ns;
	r->id.addr = s->peer;
	r->tp_priv[0] = (uint8_t)edns_opt_scan(msg, len);
	r->tp_len = 1;
	r->cnext = s->reqs;
	if (s->reqs)
		s->reqs->cprev = r;
	s->reqs = request_ref(r);
	s->inflight++;
	pipeline_query(w, r, msg, len);
}

/* Go on with the handshake: 1 done, 0 it needs more from the client, -1 the session closed. */
static int ts_handshake(struct tls_sess *s)
{
	struct worker *w = s->w;
	int rc = SSL_do_handshake(s->ssl);

	if (rc == 1) {
		s->handshaking = false;
		w->tls->nhandshake--;
		uv_timer_start(&s->timer, ts_on_timer, w->conf->tcp_idle_timeout, w->conf->tcp_idle_timeout);
		return 1;
	}
	int e = SSL_get_error(s->ssl, rc);
	ERR_clear_error();
	ts_flush(s); /* the handshake's next flight, or an alert */
	if (s->closing)
		return -1;
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
		ts_close(s); /* not TLS, or nothing we accept */
		return -1;
	}
	return 0;
}

static void ts_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

static void ts_process_run(struct tls_sess *s);

/* Decrypt what there is and answer every complete message, up to the query limit. Not
 * re-entered: an answer from the cache comes back (tls_done) inside ts_query. */
static void ts_process(struct tls_sess *s)
{
	ts_process_run(s);
	s->processing = false;
}

static void ts_process_run(struct tls_sess *s)
{
	struct worker *w = s->w;
	uint64_t now_ns = uv_hrtime();
	bool more = true;
	int hs = s->handshaking ? ts_handshake(s) : 1;

	if (hs < 0)
		return;
	s->processing = true; /* a cache hit is answered (and done) inside ts_query */
	while (hs && !s->closing) {
		size_t off = 0;
		while (s->rlen - off >= 2 && s->inflight < w->conf->tcp_max_queries) {
			size_t mlen = rd16(s->rbuf + off);
			if (mlen < DNS_HDR) {
				ts_close(s);
				return;
			}
			if (s->rlen - off < 2 + mlen)
				break;
			ts_query(w, s, s->rbuf + off + 2, mlen, now_ns);
			if (s->closing)
				return;
			off += 2 + mlen;
			ts_list_remove(s);
			ts_list_front(w->tls, s);
			uv_timer_again(&s->timer);
		}
		if (off) {
			memmove(s->rbuf, s->rbuf + off, s->rlen - off);
			s->rlen -= off;
		}
		if (!more || s->inflight >= w->conf->tcp_max_queries)
			break;
		size_t need = s->rlen >= 2 ? 2 + (size_t)rd16(s->rbuf) : 2;
		if (!ts_reserve(s, need > s->rlen + 512 ? need : s->rlen + 512)) {
			ts_close(s);
			return;
		}
		int n = SSL_read(s->ssl, s->rbuf + s->rlen, (int)(s->rcap - s->rlen));
		if (n <= 0) {
			int e = SSL_get_error(s->ssl, n);
			ERR_clear_error();
			ts_flush(s); /* tickets and key updates write too */
			if (e != SSL_ERROR_WANT_READ) {
				ts_close(s); /* close_notify, or a broken record */
				return;
			}
			more = false;
			continue; /* parse what the last read completed */
		}
		s->rlen += (size_t)n;
	}
	if (s->closing)
		return;
	ts_flush(s);
	if (s->closing)
		return;
	bool want_read = s->inflight < w->conf->tcp_max_queries && !w->draining;
	if (want_read && !s->reading) {
		if (uv_read_start((uv_stream_t *)&s->h, ts_on_alloc, ts_on_read) == 0)
			s->reading = true;
	} else if (!want_read && s->reading) {
		uv_read_stop((uv_stream_t *)&s->h);
		s->reading = false;
	}
}

static void ts_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct tls_sess *s = h->data;

	if (nread < 0) {
		ts_close(s); /* EOF or error: its requests in flight are detached */
		return;
	}
	if (nread == 0)
		return;
	if (BIO_write(s->rbio, buf->base, (int)nread) != (int)nread) {
		ts_close(s);
		return;
	}
	ts_process(s);
}

/* Make room for a new connection: the oldest handshake beyond the bound goes, and at the
 * connection limit the least recently active connection with nothing in flight. False when
 * every connection is busy. */
static bool ts_make_room(struct worker *w, unsigned limit)
{
	struct tls_worker *tw = w->tls;

	if (tw->nhandshake >= TLS_MAX_HANDSHAKES)
		for (struct tls_sess *s = tw->head.prev; s != &tw->head; s = s->prev)
			if (s->handshaking) {
				ts_close(s);
				break;
			}
	if (tw->nsess < limit)
		return true;
	for (struct tls_sess *s = tw->head.prev; s != &tw->head; s = s->prev)
		if (!s->inflight) {
			ts_close(s);
			return true;
		}
	return false;
}

static void tls_on_connection(uv_stream_t *server, int status)
{
	struct worker *w = server->data;
	struct tls_worker *tw = w->tls;
	unsigned limit = w->conf->tcp_max_clients / w->nworkers;
	struct tls_sess *s;
	int len;

	if (status < 0 || !(s = calloc(1, sizeof(*s))))
		return;
	s->w = w;
	uv_tcp_init(&w->loop, &s->h);
	s->h.data = s;
	s->refs = 1;
	if (uv_accept(server, (uv_stream_t *)&s->h) < 0 || w->draining || !w->conf->tls_ctx ||
	    !ts_make_room(w, limit ? limit : 1) || !(s->ssl = SSL_new(w->conf->tls_ctx))) {
		wc_add(&w->st.tcp_rejected, 1);
		uv_close((uv_handle_t *)&s->h, ts_handle_closed);
		return;
	}
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	if (!s->rbio || !s->wbio) {
		BIO_free(s->rbio);
		BIO_free(s->wbio);
		uv_close((uv_handle_t *)&s->h, ts_handle_closed);
		return;
	}
	BIO_set_mem_eof_return(s->rbio, -1); /* an empty read BIO means "more to come" */
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	SSL_set_accept_state(s->ssl);
	uv_timer_init(&w->loop, &s->timer);
	s->timer.data = s;
	s->refs = 2;
	len = sizeof(s->peer.u.ss);
	uv_tcp_getpeername(&s->h, &s->peer.u.sa, &len);
	s->peer.len = (socklen_t)len;
	uv_tcp_nodelay(&s->h, 1);
	ts_list_front(tw, s);
	tw->nsess++;
	s->handshaking = true;
	tw->nhandshake++;
	wc_add(&w->st.tcp_clients, 1);
	uv_timer_start(&s->timer, ts_on_timer, TLS_HANDSHAKE_MS, 0);
	ts_process(s);
}

/* --- set-up and drain --- */

int io_tls_open(struct worker *w)
{
	int rc;

	if (!(w->tls = calloc(1, sizeof(*w->tls))))
		return UV_ENOMEM;
	w->tls->head.next = w->tls->head.prev = &w->tls->head;
	if (!w->ntls_listen)
		return 0;
	if (!(w->tls->listen = calloc(w->ntls_listen, sizeof(*w->tls->listen))))
		return UV_ENOMEM;
	for (unsigned i = 0; i < w->ntls_listen; i++) {
		uv_tcp_t *t = &w->tls->listen[i];
		uv_tcp_init(&w->loop, t);
		t->data = w;
		if ((rc = uv_tcp_open(t, w->tls_fds[i])) < 0)
			return rc;
		w->tls_fds[i] = -1; /* libuv owns it now */
		if ((rc = uv_listen((uv_stream_t *)t, 256, tls_on_connection)) < 0)
			return rc;
	}
	return 0;
}

void io_tls_drain(struct worker *w)
{
	struct tls_worker *tw = w->tls;

	if (!tw)
		return;
	for (unsigned i = 0; tw->listen && i < w->ntls_listen; i++)
		if (!uv_is_closing((uv_handle_t *)&tw->listen[i]))
			uv_close((uv_handle_t *)&tw->listen[i], NULL);
	for (struct tls_sess *s = tw->head.next, *next; s != &tw->head; s = next) {
		next = s->next;
		if (!s->inflight)
			ts_close(s);
		else if (s->reading) {
			uv_read_stop((uv_stream_t *)&s->h);
			s->reading = false;
		}
	}
}

bool io_tls_idle(const struct worker *w)
{
	return !w->tls || !w->tls->nsess;
}

void io_tls_free(struct worker *w)
{
	if (!w->tls)
		return;
	free(w->tls->listen);
	free(w->tls);
	w->tls = NULL;
}
