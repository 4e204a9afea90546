/* metrics.c - a Prometheus text endpoint on the control thread: GET /metrics, one response per
 * connection, then close. Small on purpose: bounded requests, a few connections, a timeout.
 * Below the server, the text of the workers' counters (which does not depend on the server). */
#include "config.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "metrics.h"
#include "worker.h"

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

/* --- the workers' counters as exposition text --- */

static void head(struct strbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{instance="..." then the caller's labels and value */
static void sample(struct strbuf *b, const char *name, const struct metrics_input *in)
{
	sb_printf(b, "%s{instance=", name);
	sb_json(b, in->instance);
}

static void total(struct strbuf *b, const struct metrics_input *in, const char *name, const char *help,
		  size_t off)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < in->nworkers; i++)
		n += wc_get((wcounter *)((char *)&in->workers[i]->st + off));
	head(b, name, "counter", help);
	sample(b, name, in);
	sb_printf(b, "} %llu\n", (unsigned long long)n);
}

static void render_latency(struct strbuf *b, const struct metrics_input *in)
{
	static const uint32_t bounds_us[ANSWER_NBUCKETS - 1] = { ANSWER_BUCKETS_US };
	static const char *const kinds[ANS_KINDS] = { "hit", "miss", "local", "error" };
	static const char name[] = "jurisdns_answer_duration_seconds";

	head(b, name, "histogram",
	     "Time from the arrival of a query to its answer being handed to the socket, by where the "
	     "answer came from (hit: the cache, miss: upstream, local: made here, error: made up at once).");
	for (int k = 0; k < ANS_KINDS; k++) {
		uint64_t cum = 0, sum = 0;
		for (unsigned i = 0; i < in->nworkers; i++)
			sum += wc_get(&in->workers[i]->st.latency_sum_ns[k]);
		for (int j = 0; j < ANSWER_NBUCKETS; j++) {
			for (unsigned i = 0; i < in->nworkers; i++)
				cum += wc_get(&in->workers[i]->st.latency[k][j]);
			sample(b, "jurisdns_answer_duration_seconds_bucket", in);
			if (j < ANSWER_NBUCKETS - 1)
				sb_printf(b, ",cache=\"%s\",le=\"%g\"} %llu\n", kinds[k], bounds_us[j] / 1e6,
					  (unsigned long long)cum);
			else
				sb_printf(b, ",cache=\"%s\",le=\"+Inf\"} %llu\n", kinds[k], (unsigned long long)cum);
		}
		sample(b, "jurisdns_answer_duration_seconds_sum", in);
		sb_printf(b, ",cache=\"%s\"} %llu.%09llu\n", kinds[k], (unsigned long long)(sum / 1000000000),
			  (unsigned long long)(sum % 1000000000));
		sample(b, "jurisdns_answer_duration_seconds_count", in);
		sb_printf(b, ",cache=\"%s\"} %llu\n", kinds[k], (unsigned long long)cum);
	}
}

static void render_rcodes(struct strbuf *b, const struct metrics_input *in)
{
	static const char *const names[ANSWER_RCODES] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
							  "NOTIMP", "REFUSED", "other" };

	head(b, "jurisdns_answers_total", "counter", "Answers sent to clients, by rcode.");
	for (int r = 0; r < ANSWER_RCODES; r++) {
		uint64_t n = 0;
		for (unsigned i = 0; i < in->nworkers; i++)
			n += wc_get(&in->workers[i]->st.rcodes[r]);
		sample(b, "jurisdns_answers_total", in);
		sb_printf(b, ",rcode=\"%s\"} %llu\n", names[r], (unsigned long long)n);
	}
}

struct up_sum {
	const struct addr *addr;
	uint64_t v[5];               /* queries, tcp_queries, answers, timeouts, servfail */
	uint64_t srtt_sum;
	unsigned srtt_n;
	bool used, down;
};

static void render_upstreams(struct strbuf *b, const struct metrics_input *in)
{
	static const char *const names[5] = { "jurisdns_upstream_queries_total",
					      "jurisdns_upstream_tcp_queries_total",
					      "jurisdns_upstream_answers_total",
					      "jurisdns_upstream_timeouts_total",
					      "jurisdns_upstream_servfail_total" };
	static const char *const help[5] = {
		"Queries sent to the upstream (attempts: failovers and retries over TCP included).",
		"Queries sent to the upstream over TCP (after a truncated answer).",
		"Answers taken from the upstream (NOERROR and NXDOMAIN).",
		"Queries to the upstream that got no answer within [upstream] failover or timeout ms.",
		"SERVFAIL answers from the upstream (the query then goes to the next one)." };
	struct up_sum ups[UP_STATS_MAX];
	unsigned n = 0;
	char name[64];

	for (unsigned i = 0; i < in->nworkers; i++) {
		struct worker_stats *st = &in->workers[i]->st;
		unsigned m = atomic_load_explicit(&st->nups, memory_order_acquire);
		for (unsigned j = 0; j < m; j++) {
			struct up_stats *u = &st->ups[j];
			unsigned k = 0;
			while (k < n && !addr_equal(&ups[k].addr->u.sa, &u->addr.u.sa))
				k++;
			if (k == n) {
				if (n == UP_STATS_MAX)
					continue;
				memset(&ups[n], 0, sizeof(ups[n]));
				ups[n++].addr = &u->addr;
			}
			wcounter *c[5] = { &u->queries, &u->tcp_queries, &u->answers, &u->timeouts, &u->servfail };
			for (int f = 0; f < 5; f++)
				ups[k].v[f] += wc_get(c[f]);
			uint64_t srtt = wc_get(&u->srtt_us);
			if (srtt) {
				ups[k].srtt_sum += srtt;
				ups[k].srtt_n++;
			}
			if (wc_get(&u->users)) {
				ups[k].used = true;
				ups[k].down |= wc_get(&u->down) != 0;
			}
		}
	}
	head(b, "jurisdns_upstream_up", "gauge",
	     "0 while a worker has the upstream marked down after failures (tried last), until it answers again.");
	for (unsigned k = 0; k < n; k++)
		if (ups[k].used) {
			sample(b, "jurisdns_upstream_up", in);
			sb_printf(b, ",upstream=\"%s\"} %d\n", addr_str(&ups[k].addr->u.sa, name, sizeof(name)),
				  !ups[k].down);
		}
	for (int f = 0; f < 5; f++) {
		head(b, names[f], "counter", help[f]);
		for (unsigned k = 0; k < n; k++) {
			sample(b, names[f], in);
			sb_printf(b, ",upstream=\"%s\"} %llu\n", addr_str(&ups[k].addr->u.sa, name, sizeof(name)),
				  (unsigned long long)ups[k].v[f]);
		}
	}
	head(b, "jurisdns_upstream_rtt_seconds", "gauge",
	     "Smoothed round-trip time of the upstream's answers (averaged over the workers).");
	for (unsigned k = 0; k < n; k++)
		if (ups[k].srtt_n) {
			uint64_t us = ups[k].srtt_sum / ups[k].srtt_n;
			sample(b, "jurisdns_upstream_rtt_seconds", in);
			sb_printf(b, ",upstream=\"%s\"} %llu.%06llu\n",
				  addr_str(&ups[k].addr->u.sa, name, sizeof(name)),
				  (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
		}
}

void metrics_render_workers(struct strbuf *b, const struct metrics_input *in)
{
	uint64_t udp = 0, tcp = 0, entries = 0, bytes = 0;

	render_latency(b, in);
	render_rcodes(b, in);
	for (unsigned i = 0; i < in->nworkers; i++) {
		udp += wc_get(&in->workers[i]->st.udp_queries);
		tcp += wc_get(&in->workers[i]->st.tcp_queries);
		entries += wc_get(&in->workers[i]->st.cache_entries);
		bytes += wc_get(&in->workers[i]->st.cache_bytes);
	}
	head(b, "jurisdns_client_queries_total", "counter",
	     "Messages received from clients (UDP datagrams, TCP messages), malformed ones included.");
	sample(b, "jurisdns_client_queries_total", in);
	sb_printf(b, ",transport=\"udp\"} %llu\n", (unsigned long long)udp);
	sample(b, "jurisdns_client_queries_total", in);
	sb_printf(b, ",transport=\"tcp\"} %llu\n", (unsigned long long)tcp);
	total(b, in, "jurisdns_dropped_queries_total", "Client messages dropped unanswered: not a DNS query, or too long.",
	      offsetof(struct worker_stats, dropped));
	total(b, in, "jurisdns_truncated_answers_total", "UDP answers sent with TC=1 (too long for the client).",
	      offsetof(struct worker_stats, truncated));
	total(b, in, "jurisdns_dedup_joins_total", "Queries that joined an identical upstream query already in flight.",
	      offsetof(struct worker_stats, dedup_joins));
	total(b, in, "jurisdns_send_errors_total", "Datagrams the kernel did not take (full socket buffer), clients and upstreams.",
	      offsetof(struct worker_stats, send_errors));
	total(b, in, "jurisdns_tcp_connections_total", "Client TCP connections accepted.",
	      offsetof(struct worker_stats, tcp_clients));
	total(b, in, "jurisdns_tcp_rejected_total", "Client TCP connections closed at once (tcp_max_clients, shutting down).",
	      offsetof(struct worker_stats, tcp_rejected));
	total(b, in, "jurisdns_upstream_bad_messages_total",
	      "Upstream messages ignored: unknown ID (late, duplicate, spoofed), another question, malformed, "
	      "or an rcode other than NOERROR, NXDOMAIN and SERVFAIL.",
	      offsetof(struct worker_stats, upstream_bad));
	render_upstreams(b, in);
	head(b, "jurisdns_cache_entries", "gauge", "Answers in the cache (all workers).");
	sample(b, "jurisdns_cache_entries", in);
	sb_printf(b, "} %llu\n", (unsigned long long)entries);
	head(b, "jurisdns_cache_bytes", "gauge", "Bytes the cache holds, as charged against [cache] size.");
	sample(b, "jurisdns_cache_bytes", in);
	sb_printf(b, "} %llu\n", (unsigned long long)bytes);
	head(b, "jurisdns_cache_capacity_bytes", "gauge", "[cache] size: the most the cache holds.");
	sample(b, "jurisdns_cache_capacity_bytes", in);
	sb_printf(b, "} %llu\n", (unsigned long long)in->cache_capacity);
	total(b, in, "jurisdns_cache_evictions_total", "Answers evicted before they expired, to make room.",
	      offsetof(struct worker_stats, cache_evictions));
	head(b, "jurisdns_geoip_build_timestamp_seconds", "gauge",
	     "When the GeoIP database was built (unix time); absent without a database.");
	if (in->geo_built) {
		sample(b, "jurisdns_geoip_build_timestamp_seconds", in);
		sb_printf(b, "} %lld\n", in->geo_built);
	}
	head(b, "jurisdns_geoip_age_seconds", "gauge",
	     "Age of the GeoIP database: now minus its build time; absent without a database.");
	if (in->geo_built) {
		sample(b, "jurisdns_geoip_age_seconds", in);
		sb_printf(b, "} %lld\n", in->now - in->geo_built);
	}
}
