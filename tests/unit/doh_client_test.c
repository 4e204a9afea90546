/* doh_client_test.c - unit tests for src/doh_client.h: the client session paired in memory with
 * an nghttp2 SERVER session written here. The server records each request (method, path,
 * headers, body) and answers only when a test tells it to, so answers can come out of order,
 * with HTTP errors, as RST_STREAM or GOAWAY, or not at all; garbage and a concurrency limit too.
 * Every test checks that each submitted query gets exactly one answer. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "doh_client.h"

/* --- the in-memory wire --- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const uint8_t *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 1024;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* --- the test server --- */

#define SRV_MAX_SID 512

struct srv_stream {
	bool seen, complete;
	char method[16], path[64], authority[64], ctype[64], accept[64], clen[16], scheme[16];
	uint8_t body[70000];
	size_t body_len;
	/* the response */
	uint8_t *resp;
	size_t resp_len, resp_off;
};

struct srv {
	nghttp2_session *h2;
	struct srv_stream *st[SRV_MAX_SID];
	unsigned ncomplete;
	int32_t last_complete;
};

/* --- what the client reports --- */

#define MAX_ANS 256

struct answer {
	uint64_t tag;
	int status;
	uint8_t msg[DOH_CLIENT_MAX_BODY];
	size_t len;
	bool has_msg;
};

struct fix {
	struct srv srv;
	struct doh_client *c;
	struct buf c2s;              /* client -> server */
	bool send_fails;
	struct answer *ans;
	unsigned nans;
	/* what answer_fn does besides recording */
	bool free_on_answer;
	bool retry_on_fail;
	uint64_t retry_tag;
	int retry_rc;
};

static struct srv_stream *srv_get(struct srv *s, int32_t sid)
{
	if (sid <= 0 || sid >= SRV_MAX_SID)
		return NULL;
	if (!s->st[sid])
		s->st[sid] = calloc(1, sizeof(struct srv_stream));
	return s->st[sid];
}

static void copy_hdr(char *dst, size_t dl, const uint8_t *v, size_t vl)
{
	size_t n = vl < dl - 1 ? vl : dl - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
}

static int srv_on_header(nghttp2_session *h, const nghttp2_frame *f, const uint8_t *name, size_t nl,
			 const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
	(void)h, (void)flags;
	struct srv_stream *st = srv_get(ud, f->hd.stream_id);
	if (!st)
		return 0;
	st->seen = true;
#define H(n, field) if (nl == strlen(n) && !memcmp(name, n, nl)) copy_hdr(st->field, sizeof(st->field), v, vl)
	H(":method", method);
	H(":path", path);
	H(":authority", authority);
	H(":scheme", scheme);
	H("content-type", ctype);
	H("accept", accept);
	H("content-length", clen);
#undef H
	return 0;
}

static int srv_on_data(nghttp2_session *h, uint8_t flags, int32_t sid, const uint8_t *d, size_t n, void *ud)
{
	(void)h, (void)flags;
	struct srv_stream *st = srv_get(ud, sid);
	if (st && st->body_len + n <= sizeof(st->body)) {
		memcpy(st->body + st->body_len, d, n);
		st->body_len += n;
	}
	return 0;
}

static int srv_on_frame_recv(nghttp2_session *h, const nghttp2_frame *f, void *ud)
{
	(void)h;
	struct srv *s = ud;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		struct srv_stream *st = srv_get(s, f->hd.stream_id);
		if (st) {
			st->complete = true;
			s->ncomplete++;
			s->last_complete = f->hd.stream_id;
		}
	}
	return 0;
}

static ssize_t srv_read_resp(nghttp2_session *h, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			     nghttp2_data_source *src, void *ud)
{
	(void)h, (void)sid, (void)ud;
	struct srv_stream *st = src->ptr;
	size_t n = st->resp_len - st->resp_off;
	if (n > len)
		n = len;
	memcpy(buf, st->resp + st->resp_off, n);
	st->resp_off += n;
	if (st->resp_off == st->resp_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void srv_init(struct srv *s, uint32_t max_streams)
{
	nghttp2_session_callbacks *cb;
	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_header_callback(cb, srv_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_on_frame_recv);
	assert_int_equal(nghttp2_session_server_new(&s->h2, cb, s), 0);
	nghttp2_session_callbacks_del(cb);
	nghttp2_settings_entry set[] = { { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams } };
	assert_int_equal(nghttp2_submit_settings(s->h2, NGHTTP2_FLAG_NONE, set, 1), 0);
}

static void srv_free(struct srv *s)
{
	nghttp2_session_del(s->h2);
	for (int i = 0; i < SRV_MAX_SID; i++)
		if (s->st[i]) {
			free(s->st[i]->resp);
			free(s->st[i]);
		}
}

/* Answer stream sid: status, content type (NULL: none), body. */
static void srv_respond(struct srv *s, int32_t sid, const char *status, const char *ctype, const uint8_t *body,
			size_t len)
{
	struct srv_stream *st = srv_get(s, sid);
	assert_non_null(st);
	st->resp = malloc(len + 1);
	if (len)
		memcpy(st->resp, body, len);
	st->resp_len = len;
	nghttp2_nv nv[2] = {
		{ (uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-type", (uint8_t *)(ctype ? ctype : ""), 12, ctype ? strlen(ctype) : 0,
		  NGHTTP2_NV_FLAG_NONE },
	};
	nghttp2_data_provider dp = { .source.ptr = st, .read_callback = srv_read_resp };
	assert_int_equal(nghttp2_submit_response(s->h2, sid, nv, ctype ? 2 : 1, len ? &dp : NULL), 0);
}

/* The answer of a query is the query with a different first byte: easy to check per tag. */
static void srv_echo(struct srv *s, int32_t sid)
{
	struct srv_stream *st = srv_get(s, sid);
	assert_true(st->complete);
	uint8_t b[DOH_CLIENT_MAX_BODY];
	memcpy(b, st->body, st->body_len);
	b[0] ^= 0x80;
	srv_respond(s, sid, "200", "application/dns-message", b, st->body_len);
}

/* --- client callbacks --- */

static int fx_send(void *arg, const uint8_t *b, size_t n)
{
	struct fix *f = arg;
	if (f->send_fails)
		return -1;
	buf_add(&f->c2s, b, n);
	return 0;
}

static void fx_answer(void *arg, uint64_t tag, int status, const uint8_t *msg, size_t len)
{
	struct fix *f = arg;
	assert_true(f->nans < MAX_ANS);
	struct answer *a = &f->ans[f->nans++];
	a->tag = tag;
	a->status = status;
	a->has_msg = msg != NULL;
	assert_true(len <= DOH_CLIENT_MAX_BODY);
	if (msg)
		memcpy(a->msg, msg, len);
	a->len = len;
	if (status == 200)
		assert_non_null(msg);
	if (status == -1) {
		assert_null(msg);
		assert_int_equal(len, 0);
	}
	if (f->free_on_answer) {
		f->free_on_answer = false;
		doh_client_free(f->c);
	}
	if (f->retry_on_fail && status != 200) {
		f->retry_on_fail = false;
		static const uint8_t q[] = "retry-query";
		f->retry_rc = doh_client_submit(f->c, q, sizeof(q), f->retry_tag);
	}
}

/* Move bytes both ways until nothing moves. Returns the client's last feed result. */
static int pump(struct fix *f)
{
	int rc = 0;
	for (int round = 0; round < 200; round++) {
		bool moved = false;
		if (f->c2s.len) {
			ssize_t n = nghttp2_session_mem_recv(f->srv.h2, f->c2s.p, f->c2s.len);
			assert_true(n >= 0);
			f->c2s.len = 0;
			moved = true;
		}
		struct buf s2c = { 0 };
		const uint8_t *d;
		ssize_t n;
		while ((n = nghttp2_session_mem_send(f->srv.h2, &d)) > 0)
			buf_add(&s2c, d, (size_t)n);
		if (s2c.len) {
			moved = true;
			if (f->c)
				rc = doh_client_feed(f->c, s2c.p, s2c.len); /* -1: the test decides when to free */
		}
		free(s2c.p);
		if (!moved)
			return rc;
		if (rc < 0)
			return rc;
	}
	fail_msg("pump did not settle");
	return -1;
}

static int setup_n(void **state, uint32_t max_streams)
{
	struct fix *f = calloc(1, sizeof(*f));
	f->ans = calloc(MAX_ANS, sizeof(struct answer));
	srv_init(&f->srv, max_streams);
	f->c = doh_client_new("dns.example:443", "/dns-query", fx_send, fx_answer, f);
	assert_non_null(f->c);
	assert_true(f->c2s.len > 24);   /* the preface and our SETTINGS went out at once */
	assert_memory_equal(f->c2s.p, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
	assert_int_equal(pump(f), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_n(state, 100);
}

static int setup_two_streams(void **state)
{
	return setup_n(state, 2);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	doh_client_free(f->c);
	srv_free(&f->srv);
	free(f->c2s.p);
	free(f->ans);
	free(f);
	return 0;
}

/* --- helpers --- */

static void make_query(uint8_t *q, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len; i++)
		q[i] = (uint8_t)(tag * 31 + i);
}

static int submit(struct fix *f, uint64_t tag, size_t len)
{
	uint8_t q[512];
	make_query(q, len, tag);
	return doh_client_submit(f->c, q, len, tag);
}

static const struct answer *answer_of(struct fix *f, uint64_t tag)
{
	const struct answer *found = NULL;
	for (unsigned i = 0; i < f->nans; i++)
		if (f->ans[i].tag == tag) {
			assert_null(found); /* exactly once */
			found = &f->ans[i];
		}
	return found;
}

static void assert_echo(struct fix *f, uint64_t tag, size_t len)
{
	const struct answer *a = answer_of(f, tag);
	assert_non_null(a);
	assert_int_equal(a->status, 200);
	assert_int_equal(a->len, len);
	uint8_t q[512];
	make_query(q, len, tag);
	q[0] ^= 0x80;
	assert_memory_equal(a->msg, q, len);
}

static void assert_failed(struct fix *f, uint64_t tag)
{
	const struct answer *a = answer_of(f, tag);
	assert_non_null(a);
	assert_int_equal(a->status, -1);
}

/* --- the tests --- */

static void test_post_request_and_200_answer(void **state)
{
	struct fix *f = *state;
	assert_true(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 7, 40), 0);
	assert_int_equal(f->nans, 0);    /* never inside submit */
	assert_int_equal(doh_client_inflight(f->c), 1);
	assert_int_equal(pump(f), 0);
	struct srv_stream *st = f->srv.st[1];
	assert_non_null(st);
	assert_true(st->complete);
	assert_string_equal(st->method, "POST");
	assert_string_equal(st->scheme, "https");
	assert_string_equal(st->path, "/dns-query");
	assert_string_equal(st->authority, "dns.example:443");
	assert_string_equal(st->ctype, "application/dns-message");
	assert_string_equal(st->accept, "application/dns-message");
	assert_string_equal(st->clen, "40");
	uint8_t q[40];
	make_query(q, 40, 7);
	assert_int_equal(st->body_len, 40);
	assert_memory_equal(st->body, q, 40);
	assert_int_equal(f->nans, 0);
	srv_echo(&f->srv, 1);
	assert_int_equal(pump(f), 0);
	assert_echo(f, 7, 40);
	assert_int_equal(doh_client_inflight(f->c), 0);
	assert_null(doh_client_why(f->c));
}

static void test_answers_out_of_order_on_one_connection(void **state)
{
	struct fix *f = *state;
	for (uint64_t t = 1; t <= 5; t++)
		assert_int_equal(submit(f, 100 + t, 20 + t), 0);
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->srv.ncomplete, 5);
	/* streams 1,3,5,7,9; answer 9, 1, 5, 3, 7 */
	int32_t order[] = { 9, 1, 5, 3, 7 };
	for (int i = 0; i < 5; i++) {
		srv_echo(&f->srv, order[i]);
		assert_int_equal(pump(f), 0);
		assert_int_equal(f->nans, i + 1);
		assert_int_equal(f->ans[i].tag, 100 + (uint64_t)(order[i] + 1) / 2);
	}
	for (uint64_t t = 1; t <= 5; t++)
		assert_echo(f, 100 + t, 20 + t);
}

static void test_http_error_statuses_are_passed_up(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(submit(f, 2, 30), 0);
	assert_int_equal(pump(f), 0);
	srv_respond(&f->srv, 1, "415", "text/plain", (const uint8_t *)"no", 2);
	srv_respond(&f->srv, 3, "503", NULL, NULL, 0);
	assert_int_equal(pump(f), 0);
	assert_int_equal(answer_of(f, 1)->status, 415);
	assert_int_equal(answer_of(f, 2)->status, 503);
	assert_false(answer_of(f, 2)->has_msg);
	/* the session is still good */
	assert_true(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 3, 30), 0);
	assert_int_equal(pump(f), 0);
	srv_echo(&f->srv, 5);
	assert_int_equal(pump(f), 0);
	assert_echo(f, 3, 30);
}

static void test_200_that_is_not_dns_message_fails(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(submit(f, 2, 30), 0);
	assert_int_equal(pump(f), 0);
	srv_respond(&f->srv, 1, "200", "text/html", (const uint8_t *)"<html>", 6);
	/* parameters after the type are fine */
	srv_respond(&f->srv, 3, "200", "Application/DNS-Message; x=y", (const uint8_t *)"abcdefghijklm", 13);
	assert_int_equal(pump(f), 0);
	assert_failed(f, 1);
	assert_int_equal(answer_of(f, 2)->status, 200);
	assert_int_equal(answer_of(f, 2)->len, 13);
}

static void test_rst_stream_fails_that_query_only(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(submit(f, 2, 31), 0);
	assert_int_equal(pump(f), 0);
	assert_int_equal(nghttp2_submit_rst_stream(f->srv.h2, NGHTTP2_FLAG_NONE, 1, NGHTTP2_INTERNAL_ERROR), 0);
	assert_int_equal(pump(f), 0);
	assert_failed(f, 1);
	assert_null(answer_of(f, 2));
	srv_echo(&f->srv, 3);
	assert_int_equal(pump(f), 0);
	assert_echo(f, 2, 31);
	assert_null(doh_client_why(f->c));
}

static void test_rst_before_request_body_ends(void **state)
{
	struct fix *f = *state;
	/* a reset with NO_ERROR and no response is still no answer */
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(pump(f), 0);
	assert_int_equal(nghttp2_submit_rst_stream(f->srv.h2, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR), 0);
	assert_int_equal(pump(f), 0);
	assert_failed(f, 1);
}

static void test_reset_after_200_headers_is_no_answer(void **state)
{
	struct fix *f = *state;
	/* a 200 whose body never ended (RST_STREAM NO_ERROR after the headers) is cut off */
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(pump(f), 0);
	nghttp2_nv nv[2] = {
		{ (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-type", (uint8_t *)"application/dns-message", 12, 23, NGHTTP2_NV_FLAG_NONE },
	};
	assert_int_equal(nghttp2_submit_headers(f->srv.h2, NGHTTP2_FLAG_NONE, 1, NULL, nv, 2, NULL), 0);
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->nans, 0);
	assert_int_equal(nghttp2_submit_rst_stream(f->srv.h2, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR), 0);
	assert_int_equal(pump(f), 0);
	assert_failed(f, 1);
}

static void test_goaway_fails_streams_above_last_id(void **state)
{
	struct fix *f = *state;
	for (uint64_t t = 1; t <= 3; t++)
		assert_int_equal(submit(f, t, 30), 0);
	assert_int_equal(pump(f), 0);
	/* the server will finish stream 1 only */
	assert_int_equal(nghttp2_submit_goaway(f->srv.h2, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0), 0);
	assert_int_equal(pump(f), 0);
	assert_failed(f, 2);
	assert_failed(f, 3);
	assert_null(answer_of(f, 1));
	assert_false(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 9, 30), -1);
	srv_echo(&f->srv, 1);
	/* the last stream done: the session is over */
	assert_int_equal(pump(f), -1);
	assert_echo(f, 1, 30);
	assert_int_equal(f->nans, 3);
	assert_string_equal(doh_client_why(f->c), "GOAWAY received");
	assert_int_equal(doh_client_inflight(f->c), 0);
}

static void test_goaway_with_nothing_in_flight_ends_session(void **state)
{
	struct fix *f = *state;
	assert_int_equal(nghttp2_submit_goaway(f->srv.h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0), 0);
	assert_int_equal(pump(f), -1);
	assert_false(doh_client_can_submit(f->c));
	assert_int_equal(f->nans, 0);
}

static void test_garbage_ends_session_and_fails_everything(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(submit(f, 2, 30), 0);
	assert_int_equal(pump(f), 0);
	/* a frame header announcing a 16 MiB HEADERS frame on stream 0, then junk */
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0x01, 0x00, 0, 0, 0, 0, 'g', 'a', 'r', 'b', 'a', 'g', 'e' };
	assert_int_equal(doh_client_feed(f->c, junk, sizeof(junk)), -1);
	assert_non_null(doh_client_why(f->c));
	assert_failed(f, 1);
	assert_failed(f, 2);
	assert_false(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 3, 30), -1);
	/* more bytes change nothing */
	assert_int_equal(doh_client_feed(f->c, junk, sizeof(junk)), -1);
	assert_int_equal(f->nans, 2);
	/* the client told the server why (GOAWAY went out) */
	assert_true(f->c2s.len > 0);
}

static void test_random_garbage_never_crashes(void **state)
{
	struct fix *f = *state;
	uint8_t junk[4096];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (uint8_t)(x >> 16);
	}
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(doh_client_feed(f->c, junk, sizeof(junk)), -1);
	assert_failed(f, 1);
}

static void test_concurrency_limit_of_the_peer(void **state)
{
	struct fix *f = *state; /* the server allows 2 streams */
	assert_true(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 1, 30), 0);
	assert_true(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 2, 30), 0);
	assert_false(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 3, 30), -1);
	assert_int_equal(pump(f), 0);
	assert_false(doh_client_can_submit(f->c));
	srv_echo(&f->srv, 3);
	assert_int_equal(pump(f), 0);
	assert_echo(f, 2, 30);
	assert_true(doh_client_can_submit(f->c));
	assert_int_equal(submit(f, 3, 30), 0);
	assert_int_equal(pump(f), 0);
	srv_echo(&f->srv, 5);
	srv_echo(&f->srv, 1);
	assert_int_equal(pump(f), 0);
	assert_echo(f, 1, 30);
	assert_echo(f, 3, 30);
}

static void test_default_limit_before_peer_settings(void **state)
{
	(void)state;
	struct fix f = { 0 };
	f.ans = calloc(MAX_ANS, sizeof(struct answer));
	f.c = doh_client_new("a", "/q", fx_send, fx_answer, &f);
	assert_non_null(f.c);
	unsigned n = 0;
	while (n < 1000 && doh_client_can_submit(f.c)) {
		uint8_t q[12] = { 0 };
		assert_int_equal(doh_client_submit(f.c, q, sizeof(q), n), 0);
		n++;
	}
	assert_int_equal(n, DOH_CLIENT_MAX_STREAMS);
	doh_client_free(f.c);
	assert_int_equal(f.nans, DOH_CLIENT_MAX_STREAMS);
	for (unsigned i = 0; i < f.nans; i++)
		assert_int_equal(f.ans[i].status, -1);
	free(f.c2s.p);
	free(f.ans);
}

static void test_free_fails_pending_once(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(submit(f, 2, 30), 0);
	assert_int_equal(pump(f), 0);
	doh_client_free(f->c);
	f->c = NULL;
	assert_int_equal(f->nans, 2);
	assert_failed(f, 1);
	assert_failed(f, 2);
}

static void test_free_inside_answer(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(submit(f, 2, 30), 0);
	assert_int_equal(submit(f, 3, 30), 0);
	assert_int_equal(pump(f), 0);
	srv_echo(&f->srv, 1);
	f->free_on_answer = true;
	struct doh_client *c = f->c;
	(void)c;
	assert_int_equal(pump(f), -1); /* the feed returned -1: c is gone */
	f->c = NULL;
	assert_echo(f, 1, 30);
	assert_failed(f, 2);
	assert_failed(f, 3);
	assert_int_equal(f->nans, 3);
}

static void test_retry_from_inside_answer(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(pump(f), 0);
	f->retry_on_fail = true;
	f->retry_tag = 77;
	f->retry_rc = 99;
	assert_int_equal(nghttp2_submit_rst_stream(f->srv.h2, NGHTTP2_FLAG_NONE, 1, NGHTTP2_REFUSED_STREAM), 0);
	assert_int_equal(pump(f), 0);
	assert_failed(f, 1);
	assert_int_equal(f->retry_rc, 0);
	assert_true(f->srv.st[3] && f->srv.st[3]->complete);
	assert_string_equal((char *)f->srv.st[3]->body, "retry-query");
	srv_respond(&f->srv, 3, "200", "application/dns-message", (const uint8_t *)"ok", 2);
	assert_int_equal(pump(f), 0);
	assert_int_equal(answer_of(f, 77)->status, 200);
	assert_memory_equal(answer_of(f, 77)->msg, "ok", 2);
}

static void test_body_over_cap_fails(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	assert_int_equal(submit(f, 2, 30), 0);
	assert_int_equal(pump(f), 0);
	static uint8_t big[DOH_CLIENT_MAX_BODY + 100];
	memset(big, 'x', sizeof(big));
	srv_respond(&f->srv, 1, "200", "application/dns-message", big, sizeof(big));
	/* exactly the cap is fine (the stream window is 65535 too) */
	srv_respond(&f->srv, 3, "200", "application/dns-message", big, DOH_CLIENT_MAX_BODY);
	assert_int_equal(pump(f), 0);
	assert_failed(f, 1);
	assert_int_equal(answer_of(f, 2)->status, 200);
	assert_int_equal(answer_of(f, 2)->len, DOH_CLIENT_MAX_BODY);
	assert_null(doh_client_why(f->c));
}

static void test_bad_submit_arguments(void **state)
{
	struct fix *f = *state;
	static uint8_t big[DOH_CLIENT_MAX_BODY + 1];
	assert_int_equal(doh_client_submit(f->c, big, 0, 1), -1);
	assert_int_equal(doh_client_submit(f->c, big, sizeof(big), 1), -1);
	assert_int_equal(doh_client_inflight(f->c), 0);
	assert_int_equal(doh_client_submit(f->c, big, DOH_CLIENT_MAX_BODY, 1), 0);
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->srv.st[1]->body_len, DOH_CLIENT_MAX_BODY);
}

static void test_send_failure_ends_session(void **state)
{
	struct fix *f = *state;
	assert_int_equal(submit(f, 1, 30), 0);
	f->send_fails = true;
	assert_int_equal(submit(f, 2, 30), -1); /* no answer_fn for this one */
	assert_string_equal(doh_client_why(f->c), "the connection failed");
	assert_false(doh_client_can_submit(f->c));
	assert_int_equal(f->nans, 0);
	doh_client_free(f->c);
	f->c = NULL;
	assert_int_equal(f->nans, 1);
	assert_failed(f, 1);
}

static void test_many_queries_one_session(void **state)
{
	struct fix *f = *state;
	/* 200 queries through 100-stream windows, answered newest first in each batch */
	uint64_t tag = 0, answered = 0;
	for (int batch = 0; batch < 4; batch++) {
		int32_t first = (int32_t)(2 * tag + 1);
		unsigned n = 0;
		while (n < 50 && doh_client_can_submit(f->c)) {
			assert_int_equal(submit(f, tag, 12 + tag % 200), 0);
			tag++, n++;
		}
		assert_int_equal(n, 50);
		assert_int_equal(pump(f), 0);
		for (int i = (int)n - 1; i >= 0; i--)
			srv_echo(&f->srv, first + 2 * i);
		assert_int_equal(pump(f), 0);
		answered += n;
		assert_int_equal(f->nans, answered);
	}
	for (uint64_t t = 0; t < tag; t++)
		assert_echo(f, t, 12 + t % 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_post_request_and_200_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answers_out_of_order_on_one_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_error_statuses_are_passed_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_200_that_is_not_dns_message_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_stream_fails_that_query_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_before_request_body_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_after_200_headers_is_no_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_goaway_fails_streams_above_last_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_goaway_with_nothing_in_flight_ends_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_ends_session_and_fails_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_garbage_never_crashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrency_limit_of_the_peer, setup_two_streams, teardown),
		cmocka_unit_test(test_default_limit_before_peer_settings),
		cmocka_unit_test_setup_teardown(test_free_fails_pending_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_inside_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_from_inside_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_over_cap_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_submit_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_failure_ends_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_queries_one_session, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
