/* doh_client.c - DNS over HTTPS (RFC 8484) client streams on an nghttp2 session, over byte
 * callbacks only (the owner does TLS and sockets).
 *
 * Streams are found by their ID in our own list, never through nghttp2's stream user data or
 * data source pointers, so nothing nghttp2 keeps can point at a freed stream. Answers are not
 * delivered from inside nghttp2's callbacks: a closed stream moves to the done list, which is
 * drained once nghttp2 has returned. answer_fn can therefore submit a retry (which writes at
 * once) or free the client. */
#include "doh_client.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct doh_stream {
	struct doh_stream *next;
	uint64_t tag;
	int32_t sid;
	int status;                  /* :status, 0 until seen */
	int result;                  /* for answer_fn, set when the stream closes */
	bool ctype_ok;               /* content-type: application/dns-message */
	bool ended;                  /* the peer ended its side (END_STREAM) */
	bool failed;                 /* body too long, bad status: answer -1 */
	uint8_t *body;
	size_t body_len, body_cap;
	size_t req_len, req_off;
	uint8_t req[];               /* the query */
};

struct doh_client {
	nghttp2_session *h2;
	doh_send_fn send_fn;
	doh_answer_fn answer_fn;
	void *arg;
	struct doh_stream *live;     /* submitted, stream not closed (unordered) */
	unsigned nlive;
	struct doh_stream *done_head, *done_tail; /* closed, answer not yet delivered (FIFO) */
	unsigned ndone;
	const char *why;             /* set once the session is over */
	bool goaway_recv, goaway_sent;
	bool draining, free_requested;
	char *authority, *path;
};

/* --- stream lists --- */

static struct doh_stream *dohc_find_live(struct doh_client *c, int32_t sid)
{
	for (struct doh_stream *st = c->live; st; st = st->next)
		if (st->sid == sid)
			return st;
	return NULL;
}

static void dohc_unlink_live(struct doh_client *c, struct doh_stream *st)
{
	for (struct doh_stream **pp = &c->live; *pp; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			c->nlive--;
			return;
		}
}

/* The stream is over with this result: queue its answer. */
static void dohc_finish(struct doh_client *c, struct doh_stream *st, int result)
{
	dohc_unlink_live(c, st);
	st->result = result;
	st->next = NULL;
	if (c->done_tail)
		c->done_tail->next = st;
	else
		c->done_head = st;
	c->done_tail = st;
	c->ndone++;
}

static void dohc_stream_free(struct doh_stream *st)
{
	free(st->body);
	free(st);
}

/* Every stream still open is cut off. */
static void dohc_fail_live(struct doh_client *c)
{
	while (c->live)
		dohc_finish(c, c->live, -1);
}

static void dohc_over(struct doh_client *c, const char *why)
{
	if (!c->why)
		c->why = why;
	dohc_fail_live(c);
}

/* Deliver the queued answers, oldest first. answer_fn may submit (appending to the queue) or
 * ask for free; after that the rest are still delivered, by the free (all: this is the free). */
static void dohc_deliver(struct doh_client *c, bool all)
{
	c->draining = true;
	struct doh_stream *st;
	while ((all || !c->free_requested) && (st = c->done_head)) {
		c->done_head = st->next;
		if (!c->done_head)
			c->done_tail = NULL;
		c->ndone--;
		if (st->result == 200)
			c->answer_fn(c->arg, st->tag, 200, st->body ? st->body : (const uint8_t *)"", st->body_len);
		else
			c->answer_fn(c->arg, st->tag, st->result, NULL, 0);
		dohc_stream_free(st);
	}
	c->draining = false;
}

/* --- nghttp2 callbacks (they only record; nothing calls out to the owner from here) --- */

static int dohc_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
			  const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	(void)s, (void)flags;
	struct doh_client *c = ud;
	struct doh_stream *st;
	if (f->hd.type != NGHTTP2_HEADERS || !(st = dohc_find_live(c, f->hd.stream_id)))
		return 0;
	if (nlen == 7 && !memcmp(name, ":status", 7)) {
		/* nghttp2 has checked it is 3 digits */
		int v = 0;
		for (size_t i = 0; i < vlen && i < 3; i++)
			v = v * 10 + (value[i] - '0');
		st->status = v;
	} else if (nlen == 12 && !memcmp(name, "content-type", 12)) {
		/* parameters after ';' are allowed; the type itself is case-insensitive */
		static const char want[] = "application/dns-message";
		size_t wl = sizeof(want) - 1;
		st->ctype_ok = vlen >= wl && !strncasecmp((const char *)value, want, wl) &&
			       (vlen == wl || value[wl] == ';' || value[wl] == ' ');
	}
	return 0;
}

static int dohc_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
			void *ud)
{
	(void)flags;
	struct doh_client *c = ud;
	struct doh_stream *st = dohc_find_live(c, sid);
	if (!st || st->failed)
		return 0;
	if (len > DOH_CLIENT_MAX_BODY - st->body_len) {
		/* not a DNS message: stop the peer sending more */
		st->failed = true;
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
		return 0;
	}
	if (st->body_len + len > st->body_cap) {
		size_t cap = st->body_cap ? st->body_cap : 512;
		while (cap < st->body_len + len)
			cap *= 2;
		if (cap > DOH_CLIENT_MAX_BODY)
			cap = DOH_CLIENT_MAX_BODY;
		uint8_t *b = realloc(st->body, cap);
		if (!b) {
			st->failed = true;
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_INTERNAL_ERROR);
			return 0;
		}
		st->body = b;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len, data, len);
	st->body_len += len;
	return 0;
}

static int dohc_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void)s;
	struct doh_client *c = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		/* nghttp2 closes the streams above last_stream_id (REFUSED_STREAM) by itself */
		c->goaway_recv = true;
		return 0;
	}
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		struct doh_stream *st = dohc_find_live(c, f->hd.stream_id);
		if (st)
			st->ended = true;
	}
	return 0;
}

static int dohc_on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void)s;
	struct doh_client *c = ud;
	if (f->hd.type == NGHTTP2_GOAWAY)
		c->goaway_sent = true;
	return 0;
}

/* A request whose HEADERS could not go out (a GOAWAY came first) is over. nghttp2 reports no
 * DATA here: a stream that loses its body is closed, and dohc_on_close answers it. */
static int dohc_on_not_sent(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud)
{
	(void)s, (void)err;
	struct doh_client *c = ud;
	struct doh_stream *st;
	if (f->hd.type == NGHTTP2_HEADERS && (st = dohc_find_live(c, f->hd.stream_id)))
		dohc_finish(c, st, -1);
	return 0;
}

static int dohc_on_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	(void)s;
	struct doh_client *c = ud;
	struct doh_stream *st = dohc_find_live(c, sid);
	if (!st)
		return 0;
	int result;
	if (st->failed || code != NGHTTP2_NO_ERROR || !st->ended || st->status < 100)
		result = -1;
	else if (st->status == 200 && !st->ctype_ok)
		result = -1;         /* a 200 that is not a DNS message is no answer */
	else
		result = st->status;
	dohc_finish(c, st, result);
	return 0;
}

static ssize_t dohc_read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			      nghttp2_data_source *src, void *ud)
{
	(void)s, (void)src;
	struct doh_client *c = ud;
	struct doh_stream *st = dohc_find_live(c, sid);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets that stream only */
	size_t n = st->req_len - st->req_off;
	if (n > len)
		n = len;
	memcpy(buf, st->req + st->req_off, n);
	st->req_off += n;
	if (st->req_off == st->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* --- sending --- */

/* Hand everything nghttp2 has to send to send_fn. */
static void dohc_flush(struct doh_client *c)
{
	if (c->why)
		return;
	/* bounded: each round takes bytes out of nghttp2's queue, which only our calls fill */
	for (;;) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);
		if (n < 0) {
			dohc_over(c, nghttp2_strerror((int)n));
			return;
		}
		if (n == 0)
			break;
		if (c->send_fn(c->arg, data, (size_t)n) != 0) {
			dohc_over(c, "the connection failed");
			return;
		}
	}
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
		dohc_over(c, c->goaway_sent ? "HTTP/2 protocol error" :
			     c->goaway_recv ? "GOAWAY received" : "HTTP/2 session ended");
}

/* --- the contract --- */

struct doh_client *doh_client_new(const char *authority, const char *path, doh_send_fn send_fn,
				  doh_answer_fn answer_fn, void *arg)
{
	struct doh_client *c = calloc(1, sizeof(*c));
	nghttp2_session_callbacks *cb = NULL;
	if (!c || !(c->authority = strdup(authority)) || !(c->path = strdup(path)) ||
	    nghttp2_session_callbacks_new(&cb) != 0)
		goto fail;
	c->send_fn = send_fn;
	c->answer_fn = answer_fn;
	c->arg = arg;
	nghttp2_session_callbacks_set_on_header_callback(cb, dohc_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, dohc_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, dohc_on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, dohc_on_frame_send);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, dohc_on_not_sent);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, dohc_on_close);
	int rc = nghttp2_session_client_new(&c->h2, cb, c);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0)
		goto fail;
	/* no server push (and so no pushed streams either) */
	nghttp2_settings_entry set[] = { { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
					 { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0 } };
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, set, sizeof(set) / sizeof(set[0])) != 0)
		goto fail;
	dohc_flush(c);
	if (c->why)
		goto fail;
	return c;
fail:
	if (c) {
		if (c->h2)
			nghttp2_session_del(c->h2);
		free(c->authority);
		free(c->path);
		free(c);
	}
	return NULL;
}

bool doh_client_can_submit(const struct doh_client *c)
{
	if (c->why || c->goaway_recv || c->free_requested ||
	    !nghttp2_session_check_request_allowed(c->h2))
		return false;
	uint32_t peer = nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	uint32_t lim = peer < DOH_CLIENT_MAX_STREAMS ? peer : DOH_CLIENT_MAX_STREAMS;
	return c->nlive < lim;
}

unsigned doh_client_inflight(const struct doh_client *c)
{
	return c->nlive + c->ndone;
}

const char *doh_client_why(const struct doh_client *c)
{
	return c->why;
}

#define DOHC_NV(n, v, vl) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE }

int doh_client_submit(struct doh_client *c, const uint8_t *msg, size_t len, uint64_t tag)
{
	if (!len || len > DOH_CLIENT_MAX_BODY || !doh_client_can_submit(c))
		return -1;
	struct doh_stream *st = calloc(1, sizeof(*st) + len);
	if (!st)
		return -1;
	memcpy(st->req, msg, len);
	st->req_len = len;
	st->tag = tag;
	char clen[16];
	int cl = snprintf(clen, sizeof(clen), "%zu", len);
	static const char ct[] = "application/dns-message";
	nghttp2_nv nv[] = {
		DOHC_NV(":method", "POST", 4),
		DOHC_NV(":scheme", "https", 5),
		DOHC_NV(":authority", c->authority, strlen(c->authority)),
		DOHC_NV(":path", c->path, strlen(c->path)),
		DOHC_NV("content-type", ct, sizeof(ct) - 1),
		DOHC_NV("accept", ct, sizeof(ct) - 1),
		DOHC_NV("content-length", clen, (size_t)cl),
	};
	nghttp2_data_provider dp = { .source.ptr = NULL, .read_callback = dohc_read_body };
	int32_t sid = nghttp2_submit_request(c->h2, NULL, nv, sizeof(nv) / sizeof(nv[0]), &dp, NULL);
	if (sid < 0) {
		free(st);
		return -1;
	}
	st->sid = sid;
	st->next = c->live;
	c->live = st;
	c->nlive++;
	/* (a stream that closes while this writes, e.g. its body went out after the peer's whole
	 * answer, is answered at the next feed: answer_fn never runs inside submit) */
	dohc_flush(c);
	if (c->why) {
		/* the session died under this query: the caller learns it here, not from answer_fn */
		struct doh_stream **pp;
		for (pp = &c->done_head; *pp && *pp != st; pp = &(*pp)->next)
			;
		if (*pp) {
			*pp = st->next;
			c->ndone--;
			if (c->done_tail == st) {
				c->done_tail = NULL;
				for (struct doh_stream *t = c->done_head; t; t = t->next)
					c->done_tail = t;
			}
		} else {
			dohc_unlink_live(c, st);
		}
		dohc_stream_free(st);
		return -1;
	}
	return 0;
}

static void dohc_destroy(struct doh_client *c)
{
	if (c->h2) {
		nghttp2_session_del(c->h2);
		c->h2 = NULL;
	}
	if (!c->why)
		c->why = "closed";
	dohc_fail_live(c);
	/* answer_fn may not submit (why is set) and its free is ignored (free_requested) */
	c->free_requested = false;
	dohc_deliver(c, true);
	free(c->authority);
	free(c->path);
	free(c);
}

int doh_client_feed(struct doh_client *c, const uint8_t *bytes, size_t len)
{
	if (!c->why && len) {
		ssize_t n = nghttp2_session_mem_recv(c->h2, bytes, len);
		if (n < 0)
			dohc_over(c, nghttp2_strerror((int)n));
	}
	/* WINDOW_UPDATEs, SETTINGS ACKs, RST_STREAMs, our GOAWAY after garbage */
	dohc_flush(c);
	dohc_deliver(c, false);
	if (c->free_requested) {
		dohc_destroy(c);
		return -1;
	}
	return c->why ? -1 : 0;
}

void doh_client_free(struct doh_client *c)
{
	if (!c)
		return;
	if (c->draining) {
		/* inside answer_fn: the feed that runs it finishes the job */
		c->free_requested = true;
		return;
	}
	dohc_destroy(c);
}
