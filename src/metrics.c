/* metrics.c - a Prometheus text endpoint on the control thread: GET /metrics, one response per
 * connection, then close. Small on purpose: bounded requests, a few connections, a timeout.
 * The text itself comes from the render callback (metrics_text.c). */
#include "config.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "log.h"
#include "metrics.h"

#define MAX_REQUEST 2048
#define MAX_CONNS 16
#define CONN_TIMEOUT_MS 5000

struct mconn;

struct metrics {
	uv_tcp_t listener;
	uv_loop_t *loop;
	metrics_render_fn render;
	void *data;
	unsigned nconns;
	struct mconn *conns[MAX_CONNS];
	bool closing, listener_closed;
};

struct mconn {
	uv_tcp_t h;
	uv_timer_t timer;
	uv_write_t wr;
	struct metrics *m;
	struct strbuf out;
	size_t len;
	unsigned handles;
	bool answered;
	char buf[MAX_REQUEST];
};

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void conn_closed(uv_handle_t *h)
{
	struct mconn *c = h->data;

	struct metrics *m = c->m;

	if (--c->handles)
		return;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (m->conns[i] == c)
			m->conns[i] = NULL;
	m->nconns--;
	sb_free(&c->out);
	free(c);
	if (m->listener_closed && !m->nconns)
		free(m);
}

static void conn_close(struct mconn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->h)) {
		uv_close((uv_handle_t *)&c->h, conn_closed);
		uv_close((uv_handle_t *)&c->timer, conn_closed);
	}
}

static void on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

static void respond(struct mconn *c, const char *status, const char *type, const char *body, size_t blen)
{
	sb_printf(&c->out, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		  status, type, blen);
	sb_put(&c->out, body, blen);
	if (c->out.oom) {
		conn_close(c);
		return;
	}
	uv_buf_t b = uv_buf_init(c->out.s, (unsigned)c->out.len);
	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->h);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->h, &b, 1, on_written) < 0)
		conn_close(c);
}

static void handle(struct mconn *c)
{
	char *eol = memchr(c->buf, '\n', c->len);
	size_t ll = eol ? (size_t)(eol - c->buf) : 0;
	static const char nf[] = "not found: the metrics are at /metrics\n";

	if (ll > 4 && !memcmp(c->buf, "GET ", 4)) {
		const char *path = c->buf + 4;
		size_t pl = strcspn(path, " ?\r\n");
		if ((pl == 8 && !memcmp(path, "/metrics", 8))) {
			struct strbuf body = { 0 };
			c->m->render(&body, c->m->data);
			if (body.oom) {
				sb_free(&body);
				respond(c, "500 Internal Server Error", "text/plain", "out of memory\n", 14);
				return;
			}
			respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body.s ? body.s : "", body.len);
			sb_free(&body);
			return;
		}
		respond(c, "404 Not Found", "text/plain", nf, sizeof(nf) - 1);
		return;
	}
	respond(c, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct mconn *c = h->data;

	(void)suggested;
	*b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct mconn *c = s->data;

	(void)b;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	if (c->answered)
		return;
	if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n"))
		handle(c);
	else if (c->len >= sizeof(c->buf) - 1)
		respond(c, "431 Request Header Fields Too Large", "text/plain", "too large\n", 10);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct metrics *m = server->data;
	struct mconn *c;

	if (status < 0 || m->closing)
		return;
	if (m->nconns >= MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
		/* accept and drop, or the listener keeps waking us */
		uv_tcp_t *t = malloc(sizeof(*t));
		if (t && uv_tcp_init(m->loop, t) == 0 && uv_accept(server, (uv_stream_t *)t) == 0)
			uv_close((uv_handle_t *)t, free_handle);
		else
			free(t);
		return;
	}
	c->m = m;
	uv_tcp_init(m->loop, &c->h);
	uv_timer_init(m->loop, &c->timer);
	c->h.data = c->timer.data = c;
	c->handles = 2;
	m->nconns++;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (!m->conns[i]) {
			m->conns[i] = c;
			break;
		}
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0 ||
	    uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, CONN_TIMEOUT_MS, 0);
}

struct metrics *metrics_start(uv_loop_t *loop, const struct addr *listen, metrics_render_fn render,
			      void *data, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	char as[64];
	int rc;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->loop = loop;
	m->render = render;
	m->data = data;
	uv_tcp_init(loop, &m->listener);
	m->listener.data = m;
	if ((rc = uv_tcp_bind(&m->listener, &listen->u.sa, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&m->listener, 16, on_connection)) < 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", addr_str(&listen->u.sa, as, sizeof(as)),
			 uv_strerror(rc));
		uv_close((uv_handle_t *)&m->listener, free_handle); /* the listener is m's first member */
		return NULL;
	}
	return m;
}

static void listener_closed(uv_handle_t *h)
{
	struct metrics *m = h->data;

	m->listener_closed = true;
	if (!m->nconns)
		free(m);
}

void metrics_stop(struct metrics *m)
{
	if (!m || m->closing)
		return;
	m->closing = true;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (m->conns[i])
			conn_close(m->conns[i]);
	uv_close((uv_handle_t *)&m->listener, listener_closed);
}
