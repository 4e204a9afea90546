/* io_tcp.c - the TCP client transport (RFC 7766): pipelined queries, answers in the order
 * they come, at most tcp_max_queries in flight per connection (reading pauses beyond), idle
 * timeout, a connection limit, and a cap on unread answers. A session keeps its requests in
 * flight on a list and detaches them when it closes: their upstream answers are still cached
 * and counted by the pipeline, and nothing is written to the closed handle. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "io_tcp.h"
#include "pipeline.h"

#define TCP_MAX_QUEUED (1u << 20)   /* bytes of unread answers before a client is cut off */

static void sess_close(struct tcp_session *s);
static void sess_process(struct tcp_session *s);

/* --- output --- */

struct tcp_write {
	uv_write_t req;
	struct tcp_session *s;
	size_t len;
	uint8_t data[];
};

static void sess_unref(struct tcp_session *s)
{
	if (--s->refs == 0) {
		free(s->rbuf);
		free(s);
	}
}

static void tcp_write_done(uv_write_t *req, int status)
{
	struct tcp_write *tw = (struct tcp_write *)req;
	struct tcp_session *s = tw->s;

	s->write_bytes -= tw->len;
	free(tw);
	if (status < 0)
		sess_close(s);
	sess_unref(s);
}

/* Send msg (len bytes, a DNS message, at w->scratch + 2 or anywhere) with its length prefix. */
static void sess_write(struct worker *w, struct tcp_session *s, const uint8_t *msg, size_t len)
{
	uint8_t *frame = w->scratch;
	uv_buf_t b;
	int n;

	if (s->closing)
		return;
	if (msg != frame + 2)
		memmove(frame + 2, msg, len);
	wr16(frame, (uint16_t)len);
	b = uv_buf_init((char *)frame, (unsigned)(len + 2));
	n = uv_try_write((uv_stream_t *)&s->h, &b, 1);
	if (n == (int)(len + 2))
		return;
	if (n < 0 && n != UV_EAGAIN) {
		sess_close(s);
		return;
	}
	if (n < 0)
		n = 0;
	size_t rest = len + 2 - (size_t)n;
	if (s->write_bytes + rest > TCP_MAX_QUEUED) {
		sess_close(s); /* the client does not read its answers */
		return;
	}
	struct tcp_write *tw = malloc(sizeof(*tw) + rest);
	if (!tw) {
		sess_close(s);
		return;
	}
	memcpy(tw->data, frame + n, rest);
	tw->s = s;
	tw->len = rest;
	b = uv_buf_init((char *)tw->data, (unsigned)rest);
	if (uv_write(&tw->req, (uv_stream_t *)&s->h, &b, 1, tcp_write_done) < 0) {
		free(tw);
		sess_close(s);
		return;
	}
	s->refs++;
	s->write_bytes += rest;
}

/* --- the vtable --- */

static size_t tcp_max_answer(const struct request *r)
{
	(void)r;
	return DNS_MAX_MSG;
}

static uint8_t *tcp_answer_buf(struct request *r)
{
	struct tcp_session *s = r->ctx;

	return s->w->scratch + 2; /* room for the length prefix in front */
}

static void tcp_send(struct request *r, const uint8_t *answer, size_t len)
{
	struct tcp_session *s = r->ctx;

	sess_write(s->w, s, answer, len);
}

static void sess_unlink(struct tcp_session *s, struct request *r)
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

/* The pipeline is done with r: off the session's list, and reading resumes if the session
 * paused at its query limit. */
static void tcp_done(struct request *r)
{
	struct tcp_session *s = r->ctx;
	struct worker *w = s->w;

	sess_unlink(s, r);
	request_unref(r);
	if (!s->closing && !s->reading && !s->processing && !w->draining &&
	    s->inflight < w->conf->tcp_max_queries)
		sess_process(s); /* resume a connection paused at its query limit */
	else if (w->draining && !s->inflight)
		sess_close(s);
}

static const struct transport tcp_transport = {
	.kind_name = "tcp",
	.kind = TRANSPORT_TCP,
	.stream = true,
	.max_answer = tcp_max_answer,
	.answer_buf = tcp_answer_buf,
	.send = tcp_send,
	.done = tcp_done,
};

/* --- input --- */

static void sess_handle_closed(uv_handle_t *h)
{
	sess_unref(h->data);
}

static void sess_close(struct tcp_session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	/* answers still upstream are cached and counted, never written here */
	for (struct request *r = s->reqs, *next; r; r = next) {
		next = r->cnext;
		request_detach(r);
		request_unref(r);
	}
	s->reqs = NULL;
	s->inflight = 0;
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->w->nsessions--;
	uv_close((uv_handle_t *)&s->h, sess_handle_closed);
	uv_close((uv_handle_t *)&s->idle, sess_handle_closed);
}

static void sess_on_idle(uv_timer_t *t)
{
	struct tcp_session *s = t->data;

	if (s->inflight)
		uv_timer_again(t); /* answers are still coming */
	else
		sess_close(s);
}

static void sess_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct tcp_session *s = h->data;
	size_t want = s->rcap ? s->rcap : 512;

	(void)hint;
	if (s->rcap - s->rlen < 512 && want < 2 + DNS_MAX_MSG)
		want *= 2;
	if (want > 2 + DNS_MAX_MSG)
		want = 2 + DNS_MAX_MSG;
	if (want != s->rcap) {
		uint8_t *nb = realloc(s->rbuf, want);
		if (nb) {
			s->rbuf = nb;
			s->rcap = want;
		}
	}
	*buf = uv_buf_init((char *)s->rbuf + s->rlen, (unsigned)(s->rcap - s->rlen));
}

static void sess_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

/* Hand one message to the pipeline on a request that is on the session's list. */
static void sess_query(struct worker *w, struct tcp_session *s, const uint8_t *msg, size_t len,
		       uint64_t now_ns)
{
	struct request *r = request_new(&w->reqs, &tcp_transport, s);

	if (!r) {
		wc_add(&w->st.dropped, 1);
		return;
	}
	r->start_ns = now_ns;
	r->id.addr = s->peer;
	r->cnext = s->reqs;
	if (s->reqs)
		s->reqs->cprev = r;
	s->reqs = request_ref(r); /* the session's reference; the pipeline takes the first */
	s->inflight++;
	pipeline_query(w, r, msg, len);
}

/* Answer every complete message in the buffer, up to the per-connection query limit. */
static void sess_process(struct tcp_session *s)
{
	struct worker *w = s->w;
	size_t off = 0;
	uint64_t now_ns = uv_hrtime();

	/* the loop itself goes on when an answer given inside it frees a slot */
	s->processing = true;
	while (!s->closing && s->rlen - off >= 2) {
		size_t mlen = rd16(s->rbuf + off);
		if (mlen < DNS_HDR) {
			s->processing = false;
			sess_close(s); /* no message to answer FORMERR to: RFC 7766 allows closing */
			return;
		}
		if (s->rlen - off < 2 + mlen)
			break;
		if (s->inflight >= w->conf->tcp_max_queries)
			break;
		wc_add(&w->st.tcp_queries, 1);
		sess_query(w, s, s->rbuf + off + 2, mlen, now_ns);
		off += 2 + mlen;
		uv_timer_again(&s->idle); /* only whole messages count as activity */
	}
	s->processing = false;
	if (s->closing)
		return;
	if (off) {
		memmove(s->rbuf, s->rbuf + off, s->rlen - off);
		s->rlen -= off;
	}
	bool want_read = s->inflight < w->conf->tcp_max_queries && !w->draining;
	if (want_read && !s->reading) {
		if (uv_read_start((uv_stream_t *)&s->h, sess_on_alloc, sess_on_read) == 0)
			s->reading = true;
	} else if (!want_read && s->reading) {
		uv_read_stop((uv_stream_t *)&s->h);
		s->reading = false;
	}
}

static void sess_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_session *s = h->data;

	(void)buf;
	if (nread < 0) {
		/* EOF or error: its requests in flight are detached */
		sess_close(s);
		return;
	}
	s->rlen += (size_t)nread;
	sess_process(s);
}

static void tcp_on_connection(uv_stream_t *server, int status)
{
	struct worker *w = server->data;
	struct tcp_session *s;
	unsigned limit = w->conf->tcp_max_clients / w->nworkers;
	int len;

	if (status < 0)
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->w = w;
	uv_tcp_init(&w->loop, &s->h);
	s->h.data = s;
	s->refs = 1;
	if (uv_accept(server, (uv_stream_t *)&s->h) < 0 || w->draining ||
	    w->nsessions >= (limit ? limit : 1)) {
		wc_add(&w->st.tcp_rejected, 1);
		uv_close((uv_handle_t *)&s->h, sess_handle_closed);
		return;
	}
	uv_timer_init(&w->loop, &s->idle);
	s->idle.data = s;
	s->refs = 2;
	len = sizeof(s->peer.u.ss);
	uv_tcp_getpeername(&s->h, &s->peer.u.sa, &len);
	s->peer.len = (socklen_t)len;
	uv_tcp_nodelay(&s->h, 1);
	s->next = w->sessions.next;
	s->prev = &w->sessions;
	w->sessions.next->prev = s;
	w->sessions.next = s;
	w->nsessions++;
	wc_add(&w->st.tcp_clients, 1);
	uv_timer_start(&s->idle, sess_on_idle, w->conf->tcp_idle_timeout, w->conf->tcp_idle_timeout);
	sess_process(s);
}

/* --- set-up and drain --- */

int io_tcp_open(struct worker *w)
{
	int rc;

	w->sessions.next = w->sessions.prev = &w->sessions;
	w->tcp_listen = calloc(w->ntcp_listen ? w->ntcp_listen : 1, sizeof(*w->tcp_listen));
	if (!w->tcp_listen)
		return UV_ENOMEM;
	for (unsigned i = 0; i < w->ntcp_listen; i++) {
		uv_tcp_t *t = &w->tcp_listen[i];
		uv_tcp_init(&w->loop, t);
		t->data = w;
		if ((rc = uv_tcp_open(t, w->tcp_fds[i])) < 0)
			return rc;
		w->tcp_fds[i] = -1; /* libuv owns it now */
		if ((rc = uv_listen((uv_stream_t *)t, 256, tcp_on_connection)) < 0)
			return rc;
	}
	return 0;
}

void io_tcp_drain(struct worker *w)
{
	for (unsigned i = 0; i < w->ntcp_listen; i++)
		if (!uv_is_closing((uv_handle_t *)&w->tcp_listen[i]))
			uv_close((uv_handle_t *)&w->tcp_listen[i], NULL);
	for (struct tcp_session *s = w->sessions.next, *next; s != &w->sessions; s = next) {
		next = s->next;
		if (!s->inflight)
			sess_close(s);
		else if (s->reading) {
			uv_read_stop((uv_stream_t *)&s->h);
			s->reading = false;
		}
	}
}

bool io_tcp_idle(const struct worker *w)
{
	return !w->nsessions;
}
