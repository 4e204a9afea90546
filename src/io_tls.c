/* io_tls.c - the DNS-over-TLS client transport (RFC 7858). The TLS connection (memory BIOs,
 * handshake bounds, write queue, idle eviction) is tls_conn.c's; inside TLS it is the TCP
 * transport again: 2-byte length prefixes, pipelined queries answered in the order they come,
 * at most tcp_max_queries in flight per connection, the idle timeout, a cap on unread answers.
 * A connection keeps its requests on a list and detaches them when it closes, as io_tcp does. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "edns_opt.h"
#include "io_tls.h"
#include "pipeline.h"
#include "tls_conn.h"

#define TLS_PAD_ROOM 1024            /* answers leave room for the keepalive and padding options */

struct tls_sess {
	struct tls_conn c;           /* first: tls_conn.c allocates and frees the whole struct */
	bool processing;             /* in ts_process: an answer given at once must not re-enter it */
	size_t rlen, rcap;
	uint8_t *rbuf;               /* clear text: grows to the largest message, at most 2 + 65535 */
};

struct tls_worker {
	struct tls_conn_set set;
};

static void ts_process(struct tls_conn *c);

/* --- the vtable --- */

static size_t tls_max_answer(const struct request *r)
{
	(void)r;
	return DNS_MAX_MSG - TLS_PAD_ROOM;
}

static uint8_t *tls_answer_buf(struct request *r)
{
	struct tls_sess *s = r->ctx;

	return s->c.w->scratch + 2; /* room for the length prefix in front */
}

static void tls_send(struct request *r, const uint8_t *answer, size_t len)
{
	struct tls_sess *s = r->ctx;
	struct worker *w = s->c.w;
	uint8_t *frame = w->scratch;
	unsigned want = r->tp_len ? r->tp_priv[0] : 0;

	if (s->c.closing)
		return;
	if (answer != frame + 2)
		memmove(frame + 2, answer, len);
	len = edns_opt_append(frame + 2, len, DNS_MAX_MSG, want,
			      (uint16_t)(w->conf->tcp_idle_timeout / 100), EDNS_PAD_BLOCK);
	r->padded = want & EDNS_WANT_PADDING;
	wr16(frame, (uint16_t)len);
	tls_conn_write(&s->c, frame, len + 2);
}

static void tls_done(struct request *r)
{
	struct tls_sess *s = r->ctx;
	struct worker *w = s->c.w;

	tls_conn_drop_req(&s->c, r);
	if (!s->c.closing && !s->c.reading && !s->processing && !w->draining &&
	    s->c.inflight < w->conf->tcp_max_queries)
		ts_process(&s->c); /* resume a connection paused at its query limit */
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

/* --- connections --- */

static void ts_closing(struct tls_conn *c)
{
	(void)c; /* nothing but the requests, which tls_conn detached */
}

static void ts_release(struct tls_conn *c)
{
	free(((struct tls_sess *)c)->rbuf);
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
	r->id.addr = s->c.peer;
	r->tp_priv[0] = (uint8_t)edns_opt_scan(msg, len);
	r->tp_len = 1;
	tls_conn_add_req(&s->c, r);
	wc_add(&w->st.dot_queries, 1);
	pipeline_query(w, r, msg, len);
}

static void ts_process_run(struct tls_sess *s);

/* Decrypt what there is and answer every complete message, up to the query limit. Not
 * re-entered: an answer from the cache comes back (tls_done) inside ts_query. */
static void ts_process(struct tls_conn *c)
{
	struct tls_sess *s = (struct tls_sess *)c;

	s->processing = true;
	ts_process_run(s);
	s->processing = false;
}

static void ts_process_run(struct tls_sess *s)
{
	struct worker *w = s->c.w;
	uint64_t now_ns = uv_hrtime();
	bool more = true;

	while (!s->c.closing) {
		size_t off = 0;
		while (s->rlen - off >= 2 && s->c.inflight < w->conf->tcp_max_queries) {
			size_t mlen = rd16(s->rbuf + off);
			if (mlen < DNS_HDR) {
				tls_conn_close(&s->c);
				return;
			}
			if (s->rlen - off < 2 + mlen)
				break;
			ts_query(w, s, s->rbuf + off + 2, mlen, now_ns);
			if (s->c.closing)
				return;
			off += 2 + mlen;
			tls_conn_touch(&s->c);
		}
		if (off) {
			memmove(s->rbuf, s->rbuf + off, s->rlen - off);
			s->rlen -= off;
		}
		if (!more || s->c.inflight >= w->conf->tcp_max_queries)
			break;
		size_t need = s->rlen >= 2 ? 2 + (size_t)rd16(s->rbuf) : 2;
		if (!ts_reserve(s, need > s->rlen + 512 ? need : s->rlen + 512)) {
			tls_conn_close(&s->c);
			return;
		}
		int n = tls_conn_read(&s->c, s->rbuf + s->rlen, s->rcap - s->rlen);
		if (n < 0)
			return;
		if (n == 0) {
			more = false;
			continue; /* parse what the last read completed */
		}
		s->rlen += (size_t)n;
	}
	if (s->c.closing)
		return;
	tls_conn_flush(&s->c);
	tls_conn_want_read(&s->c, s->c.inflight < w->conf->tcp_max_queries && !w->draining);
}

static const struct tls_conn_ops tls_ops = {
	.process = ts_process,
	.closing = ts_closing,
	.release = ts_release,
};

/* --- set-up and drain --- */

int io_tls_open(struct worker *w)
{
	if (!(w->tls = calloc(1, sizeof(*w->tls))))
		return UV_ENOMEM;
	return tls_conn_set_open(&w->tls->set, w, w->tls_fds, w->ntls_listen, &tls_ops,
				 sizeof(struct tls_sess), false);
}

void io_tls_drain(struct worker *w)
{
	if (w->tls)
		tls_conn_set_drain(&w->tls->set);
}

bool io_tls_idle(const struct worker *w)
{
	return !w->tls || tls_conn_set_idle(&w->tls->set);
}

void io_tls_free(struct worker *w)
{
	if (!w->tls)
		return;
	tls_conn_set_free(&w->tls->set);
	free(w->tls);
	w->tls = NULL;
}
