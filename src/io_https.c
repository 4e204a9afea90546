/* io_https.c - the DNS-over-HTTPS client transport (RFC 8484). TLS is tls_conn.c's (ALPN h2
 * only); inside it an nghttp2 server session on memory buffers: decrypted bytes go in with
 * nghttp2_session_mem_recv, its output comes out with nghttp2_session_mem_send and is encrypted
 * with the rest of the loop pass's output (tls_out.c). Nothing calls the pipeline from inside
 * an nghttp2 callback: a stream whose request is complete goes on the connection's ready list,
 * served once nghttp2 has returned. At most
 * HTTPS_MAX_STREAMS concurrent streams (SETTINGS) and tcp_max_queries requests in flight per
 * connection (beyond, ready streams wait and reading pauses). A stream reset by the client
 * detaches its request; so does a closing connection (tls_conn.c). A request refers to its
 * stream only until its answer is submitted, so a stream may be freed as soon as it closes. */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "doh_req.h"
#include "edns_opt.h"
#include "io_https.h"
#include "pipeline.h"
#include "tls_conn.h"

#define HTTPS_MAX_STREAMS 100        /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define HTTPS_MAX_PATH 16384         /* :path with ?dns=: a 65535-byte message is 87382 */
#define HTTPS_PAD_ROOM 1024          /* answers leave room for the padding option */

struct h2_stream {
	struct h2_stream *prev, *next; /* the connection's streams */
	struct h2_stream *rnext;     /* the ready list */
	int32_t id;
	bool ready;                  /* on the ready list, or served */
	int status;                  /* an error found while receiving (413), else 0 */
	bool early;                  /* answered before the request ended: reset it once sent */
	struct request *req;         /* in flight until its answer is submitted */
	uint8_t method[8];
	size_t method_len;
	uint8_t ctype[64];
	size_t ctype_len;
	bool has_ctype;
	uint8_t *path;
	size_t path_len;
	uint8_t *body;
	size_t blen, bcap;
	uint8_t *ans;                /* the answer being sent */
	size_t alen, aoff;
};

struct https_conn {
	struct tls_conn c;           /* first: tls_conn.c allocates and frees the whole struct */
	nghttp2_session *h2;         /* made once the handshake is done */
	struct h2_stream streams;    /* sentinel */
	struct h2_stream *ready, **ready_tail;
	bool processing;             /* in hs_process: answers are flushed at its end */
};

struct https_worker {
	struct tls_conn_set set;
	nghttp2_session_callbacks *cbs;
	uint8_t in[16384];           /* clear text, fed to nghttp2 */
	uint8_t msg[DNS_MAX_MSG];    /* a GET query, decoded */
};

/* The stream of a request is in tp_priv until its answer is submitted. */
static struct h2_stream *hs_req_stream(const struct request *r)
{
	struct h2_stream *st = NULL;

	if (r->tp_len >= 1 + sizeof(st))
		memcpy(&st, r->tp_priv + 1, sizeof(st));
	return st;
}

static void hs_req_set_stream(struct request *r, struct h2_stream *st)
{
	memcpy(r->tp_priv + 1, &st, sizeof(st));
	r->tp_len = 1 + sizeof(st);
}

static void hs_stream_free(struct h2_stream *st)
{
	free(st->path);
	free(st->body);
	free(st->ans);
	free(st);
}

static struct h2_stream *hs_find(struct https_conn *hc, int32_t id)
{
	for (struct h2_stream *st = hc->streams.next; st != &hc->streams; st = st->next)
		if (st->id == id)
			return st;
	return NULL;
}

static void hs_ready_push(struct https_conn *hc, struct h2_stream *st)
{
	if (st->ready)
		return;
	st->ready = true;
	st->rnext = NULL;
	*hc->ready_tail = st;
	hc->ready_tail = &st->rnext;
}

static void hs_ready_remove(struct https_conn *hc, struct h2_stream *st)
{
	for (struct h2_stream **p = &hc->ready; *p; p = &(*p)->rnext)
		if (*p == st) {
			*p = st->rnext;
			if (!*p)
				hc->ready_tail = p;
			return;
		}
}

/* --- output --- */

/* Hand everything nghttp2 wants to send to TLS (sent with the rest of this pass's output), and
 * close the connection once HTTP/2 is done with it (GOAWAY both ways, or a fatal error). */
static void hs_flush(struct https_conn *hc)
{
	while (!hc->c.closing) {
		const uint8_t *data;
		ssize_t k = nghttp2_session_mem_send(hc->h2, &data);
		if (k < 0) {
			tls_conn_close(&hc->c);
			return;
		}
		if (k == 0)
			break;
		if (!tls_conn_write(&hc->c, data, (size_t)k))
			return;
	}
	if (!hc->c.closing && !nghttp2_session_want_read(hc->h2) && !nghttp2_session_want_write(hc->h2))
		tls_conn_close(&hc->c);
}

static ssize_t hs_read_answer(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
			      uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct h2_stream *st = src->ptr;
	size_t n = st->alen - st->aoff;

	(void)s;
	(void)id;
	(void)user;
	if (n > length)
		n = length;
	memcpy(buf, st->ans + st->aoff, n);
	st->aoff += n;
	if (st->aoff == st->alen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define HS_NV(n, v, vl) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE }

/* An error status with no body (405 says what is allowed). */
static void hs_submit_error(struct https_conn *hc, struct h2_stream *st, int status)
{
	char code[8];
	nghttp2_nv nv[3] = {
		HS_NV(":status", code, 3),
		HS_NV("content-length", "0", 1),
		HS_NV("allow", "GET, POST", 9),
	};

	snprintf(code, sizeof(code), "%03u", (unsigned)status % 1000u);
	nghttp2_submit_response(hc->h2, st->id, nv, status == 405 ? 3 : 2, NULL);
}

/* --- the vtable --- */

static size_t https_max_answer(const struct request *r)
{
	(void)r;
	return DNS_MAX_MSG - HTTPS_PAD_ROOM;
}

static uint8_t *https_answer_buf(struct request *r)
{
	struct https_conn *hc = r->ctx;

	return hc->c.w->scratch;
}

static void https_send(struct request *r, const uint8_t *answer, size_t len)
{
	struct https_conn *hc = r->ctx;
	struct h2_stream *st = hs_req_stream(r);
	unsigned want = r->tp_priv[0] & EDNS_WANT_PADDING; /* no EDNS keepalive: HTTP/2 has its own */
	uint8_t *buf = hc->c.w->scratch;
	char clen[8], age[24];

	if (hc->c.closing || !st)
		return;
	hs_req_set_stream(r, NULL);
	st->req = NULL;
	if (answer != buf)
		memmove(buf, answer, len);
	len = edns_opt_append(buf, len, DNS_MAX_MSG, want, 0, EDNS_PAD_BLOCK);
	r->padded = want != 0;
	if (!(st->ans = malloc(len ? len : 1))) {
		nghttp2_submit_rst_stream(hc->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
	} else {
		memcpy(st->ans, buf, len);
		st->alen = len;
		int cl = snprintf(clen, sizeof(clen), "%zu", len);
		int al = snprintf(age, sizeof(age), "max-age=%u", (unsigned)doh_max_age(buf, len));
		nghttp2_nv nv[4] = {
			HS_NV(":status", "200", 3),
			HS_NV("content-type", "application/dns-message", 23),
			HS_NV("content-length", clen, (size_t)cl),
			HS_NV("cache-control", age, (size_t)al),
		};
		nghttp2_data_provider dp = { .source.ptr = st, .read_callback = hs_read_answer };
		nghttp2_submit_response(hc->h2, st->id, nv, 4, &dp);
	}
	if (!hc->processing)
		hs_flush(hc);
}

static void hs_process(struct tls_conn *c);

static void https_done(struct request *r)
{
	struct https_conn *hc = r->ctx;
	struct h2_stream *st = hs_req_stream(r);
	struct worker *w = hc->c.w;

	if (st && !hc->c.closing) {
		/* not answered: not a DNS message, or dropped by the policy */
		st->req = NULL;
		hs_submit_error(hc, st, 400);
		if (!hc->processing)
			hs_flush(hc);
	}
	tls_conn_drop_req(&hc->c, r);
	if (!hc->c.closing && !hc->processing && !w->draining && hc->ready)
		hs_process(&hc->c); /* serve the streams that waited for the query limit */
}

static const struct transport https_transport = {
	.kind_name = "doh",
	.kind = TRANSPORT_DOH,
	.stream = true,
	.max_answer = https_max_answer,
	.answer_buf = https_answer_buf,
	.send = https_send,
	.done = https_done,
};

/* --- nghttp2 callbacks: they record, and never call out of this file --- */

static int hs_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct https_conn *hc = user;
	struct h2_stream *st;

	(void)s;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (!(st = calloc(1, sizeof(*st))))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	st->id = f->hd.stream_id;
	st->next = hc->streams.next;
	st->prev = &hc->streams;
	hc->streams.next->prev = st;
	hc->streams.next = st;
	return 0;
}

static int hs_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
			size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct h2_stream *st = hs_find(user, f->hd.stream_id);

	(void)s;
	(void)flags;
	if (!st || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (nlen == 7 && !memcmp(name, ":method", 7)) {
		st->method_len = vlen < sizeof(st->method) ? vlen : sizeof(st->method);
		memcpy(st->method, value, st->method_len); /* a longer one is not GET or POST */
	} else if (nlen == 5 && !memcmp(name, ":path", 5)) {
		if (vlen > HTTPS_MAX_PATH || st->path) {
			st->status = 400;
			return 0;
		}
		if (!(st->path = malloc(vlen ? vlen : 1)))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream */
		memcpy(st->path, value, vlen);
		st->path_len = vlen;
	} else if (nlen == 12 && !memcmp(name, "content-type", 12)) {
		st->has_ctype = true;
		st->ctype_len = vlen < sizeof(st->ctype) ? vlen : sizeof(st->ctype);
		memcpy(st->ctype, value, st->ctype_len);
	} else if (nlen == 14 && !memcmp(name, "content-length", 14)) {
		if (vlen > 5 || (vlen == 5 && memcmp(value, "65535", 5) > 0))
			st->status = 413; /* announced too long: answered before the body comes */
	}
	return 0;
}

static int hs_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
		      size_t len, void *user)
{
	struct https_conn *hc = user;
	struct h2_stream *st = hs_find(hc, id);

	(void)s;
	(void)flags;
	if (!st || st->status || st->ready)
		return 0;
	if (st->blen + len > DOH_MAX_BODY) {
		st->status = 413;
		free(st->body);
		st->body = NULL;
		st->blen = st->bcap = 0;
		hs_ready_push(hc, st); /* answered now, not after the whole body */
		return 0;
	}
	if (st->blen + len > st->bcap) {
		size_t cap = st->bcap ? st->bcap : 512;
		while (cap < st->blen + len)
			cap *= 2;
		uint8_t *nb = realloc(st->body, cap);
		if (!nb)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		st->body = nb;
		st->bcap = cap;
	}
	memcpy(st->body + st->blen, data, len);
	st->blen += len;
	return 0;
}

static int hs_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct https_conn *hc = user;
	struct h2_stream *st;

	(void)s;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	if (!(st = hs_find(hc, f->hd.stream_id)))
		return 0;
	if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) || (f->hd.type == NGHTTP2_HEADERS && st->status))
		hs_ready_push(hc, st);
	return 0;
}

static int hs_on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct h2_stream *st;

	/* an error answered before the request's end: the rest of the body is not wanted */
	if (f->hd.type == NGHTTP2_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    (st = hs_find(user, f->hd.stream_id)) && st->early)
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int hs_on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
	struct https_conn *hc = user;
	struct h2_stream *st = hs_find(hc, id);

	(void)s;
	(void)code;
	if (!st)
		return 0;
	if (st->req) /* reset by the client before its answer: the answer is still cached */
		tls_conn_detach_req(&hc->c, st->req);
	hs_ready_remove(hc, st);
	st->prev->next = st->next;
	st->next->prev = st->prev;
	hs_stream_free(st);
	return 0;
}

/* --- serving streams --- */

/* Serve one complete stream: an HTTP error, or its query into the pipeline. */
static void hs_serve(struct https_conn *hc, struct h2_stream *st, uint64_t now_ns)
{
	struct worker *w = hc->c.w;
	struct doh_request q = {
		.method = st->method_len ? st->method : NULL,
		.method_len = st->method_len,
		.path = st->path,
		.path_len = st->path_len,
		.ctype = st->has_ctype ? st->ctype : NULL,
		.ctype_len = st->ctype_len,
		.body = st->body,
		.body_len = st->blen,
	};
	const uint8_t *msg;
	size_t len;
	int status = st->status;

	if (!status)
		status = doh_req_parse(&q, w->conf->https_path, w->https->msg, sizeof(w->https->msg),
				       &msg, &len);
	if (status != 200) {
		st->early = !nghttp2_session_get_stream_remote_close(hc->h2, st->id);
		hs_submit_error(hc, st, status);
		return;
	}
	struct request *r = request_new(&w->reqs, &https_transport, hc);
	if (!r) {
		wc_add(&w->st.dropped, 1);
		nghttp2_submit_rst_stream(hc->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
		return;
	}
	r->start_ns = now_ns;
	r->id.addr = hc->c.peer;
	r->tp_priv[0] = (uint8_t)edns_opt_scan(msg, len);
	hs_req_set_stream(r, st);
	st->req = r;
	tls_conn_add_req(&hc->c, r);
	wc_add(&w->st.doh_queries, 1);
	tls_conn_touch(&hc->c);
	pipeline_query(w, r, msg, len);
	free(st->body); /* the pipeline has taken what it needs */
	st->body = NULL;
	st->blen = st->bcap = 0;
}

/* The handshake is done: start HTTP/2 with our SETTINGS. */
static bool hs_start(struct https_conn *hc)
{
	struct https_worker *hw = hc->c.w->https;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, HTTPS_MAX_STREAMS },
	};

	if (nghttp2_session_server_new(&hc->h2, hw->cbs, hc) != 0) {
		hc->h2 = NULL;
		return false;
	}
	return nghttp2_submit_settings(hc->h2, NGHTTP2_FLAG_NONE, iv, 1) == 0;
}

static void hs_process_run(struct https_conn *hc)
{
	struct worker *w = hc->c.w;
	struct https_worker *hw = w->https;
	uint64_t now_ns = uv_hrtime();
	unsigned limit = w->conf->tcp_max_queries;

	if (!hc->h2 && !hs_start(hc)) {
		tls_conn_close(&hc->c);
		return;
	}
	for (;;) {
		while (hc->ready && hc->c.inflight < limit && !hc->c.closing) {
			struct h2_stream *st = hc->ready;
			if (!(hc->ready = st->rnext))
				hc->ready_tail = &hc->ready;
			hs_serve(hc, st, now_ns);
		}
		if (hc->c.closing || hc->ready || w->draining)
			break; /* at the query limit: read on when an answer makes room */
		int n = tls_conn_read(&hc->c, hw->in, sizeof(hw->in));
		if (n <= 0)
			break;
		if (nghttp2_session_mem_recv(hc->h2, hw->in, (size_t)n) < 0) {
			hs_flush(hc); /* nghttp2 has queued a GOAWAY */
			tls_conn_close(&hc->c);
			return;
		}
	}
	if (hc->c.closing)
		return;
	hs_flush(hc);
	tls_conn_want_read(&hc->c, !hc->ready && !w->draining);
}

static void hs_process(struct tls_conn *c)
{
	struct https_conn *hc = (struct https_conn *)c;

	if (!hc->streams.next) {
		hc->streams.next = hc->streams.prev = &hc->streams;
		hc->ready_tail = &hc->ready;
	}
	hc->processing = true;
	hs_process_run(hc);
	hc->processing = false;
}

static void hs_closing(struct tls_conn *c)
{
	struct https_conn *hc = (struct https_conn *)c;

	/* tls_conn has detached the requests: no stream may point at one any more */
	for (struct h2_stream *st = hc->streams.next; st && st != &hc->streams; st = st->next)
		st->req = NULL;
	hc->ready = NULL;
	hc->ready_tail = &hc->ready;
}

static void hs_release(struct tls_conn *c)
{
	struct https_conn *hc = (struct https_conn *)c;

	nghttp2_session_del(hc->h2); /* calls no callback */
	for (struct h2_stream *st = hc->streams.next, *next; st && st != &hc->streams; st = next) {
		next = st->next;
		hs_stream_free(st);
	}
}

static const struct tls_conn_ops https_ops = {
	.process = hs_process,
	.closing = hs_closing,
	.release = hs_release,
};

/* --- set-up and drain --- */

int io_https_open(struct worker *w)
{
	nghttp2_session_callbacks *cbs;

	if (!(w->https = calloc(1, sizeof(*w->https))))
		return UV_ENOMEM;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return UV_ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, hs_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, hs_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, hs_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, hs_on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, hs_on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, hs_on_stream_close);
	w->https->cbs = cbs;
	return tls_conn_set_open(&w->https->set, w, w->https_fds, w->nhttps_listen, &https_ops,
				 sizeof(struct https_conn), true);
}

void io_https_drain(struct worker *w)
{
	if (w->https)
		tls_conn_set_drain(&w->https->set);
}

bool io_https_idle(const struct worker *w)
{
	return !w->https || tls_conn_set_idle(&w->https->set);
}

void io_https_free(struct worker *w)
{
	if (!w->https)
		return;
	tls_conn_set_free(&w->https->set);
	nghttp2_session_callbacks_del(w->https->cbs);
	free(w->https);
	w->https = NULL;
}
