/* upstream.c - the upstream side of a worker. One transaction (uquery) per distinct question in
 * flight, shared by every client asking it. Queries leave over a few persistent connected UDP
 * sockets per upstream with random source ports and random IDs; an answer counts only if it
 * comes from the connected peer (the kernel checks), carries a pending ID and repeats the
 * question. TC=1 moves the query to a pipelined TCP connection. Silence moves it to the next
 * upstream after `failover` ms; a SERVFAIL goes back at `timeout` at the latest. Every
 * transaction ends in one call of its callback; nothing here knows who asked.
 * A name goes only to the upstreams its route allows: a [forward] zone's servers, or for the
 * private zones only private upstreams, else nobody (upstream_is_local()). */
#include "config.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fwdzone.h"
#include "log.h"
#include "upstream.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define DOWN_AFTER_FAILS 2
#define UP_TCP_IDLE_MS 10000

static void up_tcp_write(struct worker *w, struct up_tcp *c, struct attempt *a);
static void up_tcp_fail(struct up_tcp *c, int err);
static void upstream_release(struct upstream *up);
static void up_tcp_idle(uv_timer_t *t);

/* --- timeout lists: FIFO, so each is sorted by deadline --- */

static void dl_remove(struct uquery *uq)
{
	if (uq->dnext) {
		uq->dprev->dnext = uq->dnext;
		uq->dnext->dprev = uq->dprev;
		uq->dnext = uq->dprev = NULL;
	}
}

static void fo_remove(struct uquery *uq)
{
	if (uq->fnext) {
		uq->fprev->fnext = uq->fnext;
		uq->fnext->fprev = uq->fprev;
		uq->fnext = uq->fprev = NULL;
	}
}

static void fo_append(struct worker *w, struct uquery *uq, uint64_t when)
{
	fo_remove(uq);
	uq->failover_ms = when;
	uq->fnext = &w->failovers;
	uq->fprev = w->failovers.fprev;
	w->failovers.fprev->fnext = uq;
	w->failovers.fprev = uq;
}

/* --- pending attempts, by (socket, id) --- */

static size_t pend_slot(const struct worker *w, const void *sock, uint16_t id)
{
	uint64_t k = (uint64_t)(uintptr_t)sock ^ ((uint64_t)id << 48) ^ id;
	return (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 20) & w->pend_mask;
}

static struct attempt *pend_find(struct worker *w, const void *sock, uint16_t id)
{
	for (struct attempt *a = w->pend[pend_slot(w, sock, id)]; a; a = a->hnext)
		if (a->sock == sock && a->id == id)
			return a;
	return NULL;
}

static void pend_del(struct worker *w, struct attempt *a)
{
	struct attempt **pp = &w->pend[pend_slot(w, a->sock, a->id)];

	while (*pp && *pp != a)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = a->hnext;
}

static void sock_list_add(struct attempt **head, struct attempt *a)
{
	a->sprev = NULL;
	a->snext = *head;
	if (*head)
		(*head)->sprev = a;
	*head = a;
}

static struct attempt **sock_list_head(struct attempt *a)
{
	return a->tcp ? &((struct up_tcp *)a->sock)->attempts : &((struct up_udp *)a->sock)->attempts;
}

static void attempt_end(struct worker *w, struct attempt *a)
{
	struct attempt **head;

	if (!a->active)
		return;
	a->active = false;
	pend_del(w, a);
	head = sock_list_head(a);
	if (a->sprev)
		a->sprev->snext = a->snext;
	else
		*head = a->snext;
	if (a->snext)
		a->snext->sprev = a->sprev;
	if (a->tcp) {
		struct up_tcp *c = a->sock;
		if (!c->attempts && !c->closing)
			uv_timer_start(&c->idle, up_tcp_idle, UP_TCP_IDLE_MS, UP_TCP_IDLE_MS);
	}
	a->up->pending--;
	upstream_release(a->up);
}

/* --- upstream health --- */

static void upstream_ok(struct upstream *up)
{
	if (up->down_until)
		log_info("upstream %s is answering again", up->name);
	up->fails = 0;
	up->backoff_ms = 0;
	up->down_until = 0;
	wc_set(&up->st->down, 0);
	wc_add(&up->st->answers, 1);
}

static void upstream_failed(struct upstream *up, uint64_t now, bool hard, const char *why)
{
	up->fails++;
	if (!hard && up->fails < DOWN_AFTER_FAILS)
		return;
	up->backoff_ms = up->backoff_ms ? up->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (up->backoff_ms > BACKOFF_MAX_MS)
		up->backoff_ms = BACKOFF_MAX_MS;
	if (!up->down_until)
		log_warn("upstream %s %s: trying the others first for %u ms", up->name, why, up->backoff_ms);
	up->down_until = now + up->backoff_ms;
	wc_set(&up->st->down, 1);
}

/* --- which upstreams may see a name --- */

#define ROUTE_LOCAL -1
#define ROUTE_MAX (CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS)

/* The upstreams (indexes into w->ups, in order of preference) that may get a question for
 * name: the servers of the longest [forward] zone that covers it; for a private zone (RFC
 * 6303, home.arpa), only the private [upstream] servers; else every [upstream] server.
 * Returns their count, or ROUTE_LOCAL when none may see the name: then the private zone is
 * answered here, and *zone_off says where its apex starts in name. */
static int route(const struct worker *w, const uint8_t *name, size_t len, uint16_t qclass,
		 uint8_t idx[ROUTE_MAX], size_t *zone_off)
{
	const struct conf *c = w->conf;
	size_t off = 0;
	int n = 0, z = fwdzones_forward(c->fwd, name, len, &off);

	if (z >= 0 && (unsigned)z < c->nforward && z < CONF_MAX_FORWARD) {
		for (unsigned k = 0; k < c->forward[z].nserver; k++)
			if (w->fwd_ups[z][k] < w->nups)
				idx[n++] = w->fwd_ups[z][k];
		return n;
	}
	bool priv = c->protect_private_zones && qclass == 1 /* IN */ &&
		    fwdzones_private(c->fwd, name, len, &off);
	for (unsigned i = 0; i < w->nmain; i++)
		if (!priv || ((w->private_ups >> i) & 1))
			idx[n++] = (uint8_t)i;
	if (priv && !n) {
		if (zone_off)
			*zone_off = off;
		return ROUTE_LOCAL;
	}
	return n;
}

bool upstream_is_local(const struct worker *w, const uint8_t *name, size_t len, uint16_t qclass,
		       size_t *zone_off)
{
	uint8_t idx[ROUTE_MAX];

	return route(w, name, len, qclass, idx, zone_off) == ROUTE_LOCAL;
}

/* The first upstream of the route that is not down and not tried yet; if all untried ones are
 * down, the one that comes back soonest (a probe). With retry, tried ones are candidates again. */
static int upstream_pick(struct worker *w, struct uquery *uq, const uint8_t *idx, int n, bool retry)
{
	uint64_t now = uv_now(&w->loop), best_down = UINT64_MAX;
	int best = -1;

	for (int k = 0; k < n; k++) {
		unsigned i = idx[k];
		struct upstream *up = w->ups[i];
		if (!retry && (uq->tried & ((uint64_t)1 << i)))
			continue;
		if (up->down_until <= now)
			return (int)i;
		if (up->down_until < best_down) {
			best_down = up->down_until;
			best = (int)i;
		}
	}
	return best;
}

/* --- sending --- */

static uint16_t fresh_id(struct worker *w, const void *sock)
{
	uint16_t id = 0;

	for (int tries = 0; tries < 16; tries++) {
		id = (uint16_t)prng_next(&w->rng);
		if (!pend_find(w, sock, id))
			break;
	}
	return id;
}

static size_t write_upstream_query(struct worker *w, struct uquery *uq, uint16_t id, uint8_t *out)
{
	return wire_write_query(out, id, uq->key, uq->qname_len, uq->qtype, uq->qclass, uq->flags,
				uq->edns_do, (uint16_t)w->conf->upstream_udp_size);
}

static void up_udp_queue(struct worker *w, struct up_udp *s, struct uquery *uq, uint16_t id)
{
	unsigned i;

	if (s->nout == BATCH)
		upstream_flush(w);
	i = s->nout++;
	s->out_iov[i].iov_base = s->out_buf[i];
	s->out_iov[i].iov_len = write_upstream_query(w, uq, id, s->out_buf[i]);
	memset(&s->out_msg[i].msg_hdr, 0, sizeof(struct msghdr));
	s->out_msg[i].msg_hdr.msg_iov = &s->out_iov[i];
	s->out_msg[i].msg_hdr.msg_iovlen = 1;
	if (!s->dirty) {
		s->dirty = true;
		s->next_dirty = w->dirty_up;
		w->dirty_up = s;
	}
}

static struct up_tcp *up_tcp_get(struct worker *w, struct upstream *up);

/* Start one attempt of uq at up. Returns 0, or -1 when it could not be sent. */
static int attempt_start(struct worker *w, struct uquery *uq, struct upstream *up, bool tcp)
{
	struct attempt *a = NULL;

	for (unsigned i = 0; i < MAX_ATTEMPTS && !a; i++)
		if (!uq->att[i].active)
			a = &uq->att[i];
	if (!a)
		return -1;
	a->uq = uq;
	a->up = up;
	a->tcp = tcp;
	a->sent_ms = uv_now(&w->loop);
	a->sent_ns = uv_hrtime();
	a->timed_out = false;
	if (tcp) {
		struct up_tcp *c = up_tcp_get(w, up);
		if (!c)
			return -1;
		a->sock = c;
		a->id = fresh_id(w, c);
		a->written = false;
		sock_list_add(&c->attempts, a);
		uv_timer_stop(&c->idle);
		wc_add(&up->st->tcp_queries, 1);
	} else {
		struct up_udp *s = &up->udp[prng_next(&w->rng) % UP_SOCKS];
		if (s->fd < 0)
			return -1;
		a->sock = s;
		a->id = fresh_id(w, s);
		sock_list_add(&s->attempts, a);
	}
	size_t slot = pend_slot(w, a->sock, a->id);
	a->hnext = w->pend[slot];
	w->pend[slot] = a;
	a->active = true;
	up->pending++;
	wc_add(&up->st->queries, 1);
	if (tcp) {
		struct up_tcp *c = a->sock;
		if (c->connected)
			up_tcp_write(w, c, a);
	} else {
		up_udp_queue(w, a->sock, uq, a->id);
	}
	return 0;
}

/* Send uq to the next upstream. Returns 0, or -1 when none is left. */
static int uquery_send_next(struct worker *w, struct uquery *uq, bool retry)
{
	uint8_t idx[ROUTE_MAX];
	/* routed anew each time: a reload may have changed the table */
	int nidx = route(w, uq->key, uq->qname_len, uq->qclass, idx, NULL);

	for (int n = 0; n <= nidx; n++) {
		int i = upstream_pick(w, uq, idx, nidx, retry);
		if (i < 0)
			return -1;
		uq->tried |= (uint64_t)1 << i;
		if (attempt_start(w, uq, w->ups[i], false) == 0) {
			fo_append(w, uq, uv_now(&w->loop) + w->conf->failover);
			return 0;
		}
	}
	return -1;
}

/* --- finishing --- */

static void uquery_unlink(struct worker *w, struct uquery *uq)
{
	dl_remove(uq);
	fo_remove(uq);
	for (unsigned i = 0; i < MAX_ATTEMPTS; i++)
		attempt_end(w, &uq->att[i]);
	w->nuq--;
}

/* Hand the checked message pkt (from upstream up; NULL when made here) to the callback, then
 * free uq. */
static void uquery_finish(struct worker *w, struct uquery *uq, const uint8_t *pkt, size_t len,
			  const struct dns_answer *a, const struct upstream *up)
{
	char upname[sizeof(up->name)];

	/* copied now: unlinking may free a retired upstream */
	snprintf(upname, sizeof(upname), "%s", up ? up->name : "");
	uquery_unlink(w, uq);
	uq->cb(uq->cb_arg, pkt, len, a, up ? upname : NULL);
	free(uq);
}

/* No upstream gave a usable answer: SERVFAIL to everyone, remembered for servfail_ttl. */
static void uquery_fail(struct worker *w, struct uquery *uq)
{
	uint8_t pkt[DNS_HDR + DNS_MAX_NAME + 4];
	struct dns_answer a;
	size_t len = wire_write_head(pkt, 0, (uint16_t)(F_QR | F_RA | (uq->flags & (F_RD | F_CD)) | RCODE_SERVFAIL),
				     uq->key, uq->qname_len, uq->qtype, uq->qclass);

	if (wire_parse_answer(pkt, len, uq->key, uq->qname_len, uq->qtype, uq->qclass, &a, w->ttl_off,
			      1) < 0)
		abort(); /* we just wrote it */
	uquery_finish(w, uq, pkt, len, &a, NULL);
}

/* An attempt ended without an answer: wait for the others, or try the next upstream. */
static void uquery_next(struct worker *w, struct uquery *uq)
{
	for (unsigned i = 0; i < MAX_ATTEMPTS; i++)
		if (uq->att[i].active)
			return;
	if (uquery_send_next(w, uq, false) < 0)
		uquery_fail(w, uq);
}

/* A message arrived for attempt a. */
static void attempt_answer(struct worker *w, struct attempt *a, const uint8_t *pkt, size_t len,
			   bool cut)
{
	struct uquery *uq = a->uq;
	struct upstream *up = a->up;
	struct dns_answer ans;

	if (!a->tcp && (cut || (len >= DNS_HDR && (rd16(pkt + 2) & F_TC)))) {
		if (wire_check_question(pkt, len, uq->key, uq->qname_len, uq->qtype, uq->qclass) < 0) {
			wc_add(&w->st.upstream_bad, 1);
			return; /* not the answer to this question: keep waiting */
		}
		attempt_end(w, a);
		if (attempt_start(w, uq, up, true) < 0)
			uquery_next(w, uq);
		return;
	}
	if (wire_parse_answer(pkt, len, uq->key, uq->qname_len, uq->qtype, uq->qclass, &ans, w->ttl_off,
			      sizeof(w->ttl_off) / sizeof(w->ttl_off[0])) < 0) {
		wc_add(&w->st.upstream_bad, 1);
		if (a->tcp) { /* a TCP stream carries no spoofed answers: this one is broken */
			attempt_end(w, a);
			uquery_next(w, uq);
		}
		return;
	}
	uint64_t rtt_us = (uv_hrtime() - a->sent_ns) / 1000, srtt = wc_get(&up->st->srtt_us);
	wc_set(&up->st->srtt_us, srtt ? srtt - srtt / 8 + rtt_us / 8 : rtt_us); /* as TCP does */
	switch (ans.rcode) {
	case RCODE_NOERROR:
	case RCODE_NXDOMAIN:
		upstream_ok(up);
		uquery_finish(w, uq, pkt, len, &ans, up);
		return;
	default:
		/* SERVFAIL, REFUSED, NOTIMP, FORMERR, BADVERS...: not an answer to pass on */
		wc_add(ans.rcode == RCODE_SERVFAIL ? &up->st->servfail : &w->st.upstream_bad, 1);
		attempt_end(w, a);
		uquery_next(w, uq);
	}
}

/* End every attempt on a failed socket, then send each transaction on. A transaction may have
 * two attempts on one socket, so it is collected once: uquery_next may free it. */
static void attempts_move_on(struct worker *w, struct attempt **head)
{
	struct uquery *moved[256];
	unsigned n = 0;

	while (*head) {
		struct attempt *a = *head;
		unsigned i = 0;
		while (i < n && moved[i] != a->uq)
			i++;
		if (i == n && n < 256)
			moved[n++] = a->uq; /* beyond 256, the rest move at their failover time */
		attempt_end(w, a);
	}
	for (unsigned i = 0; i < n; i++)
		uquery_next(w, moved[i]);
}

/* --- UDP sockets --- */

/* The upstream refused (ICMP port unreachable): move everything on this socket elsewhere. */
static void up_udp_refused(struct worker *w, struct up_udp *s)
{
	upstream_failed(s->up, uv_now(&w->loop), true, "refuses connections");
	attempts_move_on(w, &s->attempts);
}

static void up_udp_readable(uv_poll_t *p, int status, int events)
{
	struct up_udp *s = p->data;
	struct worker *w = s->up->w;
	int n;

	if (status < 0) {
		/* libuv stops the handle on EPOLLERR (a pending ICMP error): take the error, resume */
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		uv_poll_start(&s->poll, UV_READABLE, up_udp_readable);
		if (err == ECONNREFUSED)
			up_udp_refused(w, s);
		return;
	}
	for (unsigned i = 0; i < BATCH; i++) {
		struct msghdr *m = &w->rx_msg[i].msg_hdr;
		memset(m, 0, sizeof(*m));
		w->rx_iov[i].iov_base = w->rx_buf[i];
		w->rx_iov[i].iov_len = UDP_BUF;
		m->msg_iov = &w->rx_iov[i];
		m->msg_iovlen = 1;
	}
	n = recvmmsg(s->fd, w->rx_msg, BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == ECONNREFUSED)
			up_udp_refused(w, s);
		return;
	}
	for (int i = 0; i < n; i++) {
		size_t len = w->rx_msg[i].msg_len;
		struct attempt *a;
		if (len < DNS_HDR || !(a = pend_find(w, s, rd16(w->rx_buf[i])))) {
			wc_add(&w->st.upstream_bad, 1); /* unknown ID: late, duplicate or spoofed */
			continue;
		}
		attempt_answer(w, a, w->rx_buf[i], len, w->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC);
	}
}

void upstream_flush(struct worker *w)
{
	struct up_udp *s = w->dirty_up;

	w->dirty_up = NULL;
	for (; s; s = s->next_dirty) {
		unsigned done = 0;
		s->dirty = false;
		while (done < s->nout) {
			int n = sendmmsg(s->fd, s->out_msg + done, s->nout - done, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				/* lost datagrams are recovered by failover */
				wc_add(&w->st.send_errors, 1);
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				done++;
				continue;
			}
			done += (unsigned)n;
		}
		s->nout = 0;
	}
}

static int up_udp_open(struct worker *w, struct upstream *up, struct up_udp *s)
{
	int fd = socket(up->addr.u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int buf = 1 << 20;

	s->fd = -1;
	s->up = up;
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	/* connect(): the kernel picks a random ephemeral port and drops datagrams from any other
	 * address or port, so spoofing needs the right port, ID and question at once. */
	if (connect(fd, &up->addr.u.sa, up->addr.len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (uv_poll_init(&w->loop, &s->poll, fd) < 0) {
		close(fd);
		return -EINVAL;
	}
	s->fd = fd;
	s->poll.data = s;
	uv_poll_start(&s->poll, UV_READABLE, up_udp_readable);
	return 0;
}

/* --- TCP connections: one per upstream per worker, pipelined --- */

struct up_write {
	uv_write_t req;
	uint8_t data[];
};

static void up_write_done(uv_write_t *req, int status)
{
	free(req);
}

static void up_tcp_write(struct worker *w, struct up_tcp *c, struct attempt *a)
{
	struct up_write *uw = malloc(sizeof(*uw) + 2 + UP_QUERY_BUF);
	size_t len;
	uv_buf_t b;

	if (!uw) {
		up_tcp_fail(c, UV_ENOMEM);
		return;
	}
	len = write_upstream_query(w, a->uq, a->id, uw->data + 2);
	wr16(uw->data, (uint16_t)len);
	b = uv_buf_init((char *)uw->data, (unsigned)len + 2);
	a->written = true;
	if (uv_write(&uw->req, (uv_stream_t *)&c->h, &b, 1, up_write_done) < 0) {
		free(uw);
		up_tcp_fail(c, UV_EPIPE);
	}
}

static void up_tcp_closed(uv_handle_t *h)
{
	struct up_tcp *c = h->data;

	if (--c->handles == 0)
		free(c);
}

static void up_tcp_fail(struct up_tcp *c, int err)
{
	struct worker *w = c->w;

	if (c->closing)
		return;
	c->closing = true;
	if (c->up && c->up->tcp == c)
		c->up->tcp = NULL;
	if (err && err != UV_EOF && c->up)
		upstream_failed(c->up, uv_now(&w->loop), !c->connected, "fails over TCP");
	uv_close((uv_handle_t *)&c->h, up_tcp_closed);
	uv_close((uv_handle_t *)&c->idle, up_tcp_closed);
	attempts_move_on(w, &c->attempts);
}

static void up_tcp_idle(uv_timer_t *t)
{
	struct up_tcp *c = t->data;

	if (!c->attempts)
		up_tcp_fail(c, 0);
}

static void up_tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct up_tcp *c = h->data;

	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(sizeof(c->rbuf) - c->rlen));
}

static void up_tcp_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct up_tcp *c = h->data;
	struct worker *w = c->w;
	size_t off = 0;

	if (nread < 0) {
		up_tcp_fail(c, (int)nread);
		return;
	}
	c->rlen += (size_t)nread;
	while (!c->closing && c->rlen - off >= 2) {
		size_t mlen = rd16(c->rbuf + off);
		struct attempt *a;
		if (c->rlen - off < 2 + mlen)
			break;
		if (mlen >= DNS_HDR && (a = pend_find(w, c, rd16(c->rbuf + off + 2))))
			attempt_answer(w, a, c->rbuf + off + 2, mlen, false);
		else
			wc_add(&w->st.upstream_bad, 1);
		off += 2 + mlen;
	}
	if (c->closing)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static void up_tcp_connected(uv_connect_t *req, int status)
{
	struct up_tcp *c = req->data;
	struct worker *w = c->w;

	if (c->closing)
		return;
	if (status < 0) {
		up_tcp_fail(c, status);
		return;
	}
	c->connected = true;
	uv_tcp_nodelay(&c->h, 1);
	if (uv_read_start((uv_stream_t *)&c->h, up_tcp_alloc, up_tcp_read) < 0) {
		up_tcp_fail(c, UV_EPIPE);
		return;
	}
	for (struct attempt *a = c->attempts; a && !c->closing; a = a->snext)
		if (!a->written)
			up_tcp_write(w, c, a);
	if (!c->closing && !c->attempts)
		uv_timer_start(&c->idle, up_tcp_idle, UP_TCP_IDLE_MS, UP_TCP_IDLE_MS);
}

static struct up_tcp *up_tcp_get(struct worker *w, struct upstream *up)
{
	struct up_tcp *c = up->tcp;

	if (c && !c->closing)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->w = w;
	c->up = up;
	uv_tcp_init(&w->loop, &c->h);
	uv_timer_init(&w->loop, &c->idle);
	c->h.data = c->idle.data = c->connect.data = c;
	c->handles = 2;
	if (uv_tcp_connect(&c->connect, &c->h, &up->addr.u.sa, up_tcp_connected) < 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->h, up_tcp_closed);
		uv_close((uv_handle_t *)&c->idle, up_tcp_closed);
		upstream_failed(up, uv_now(&w->loop), true, "refuses TCP connections");
		return NULL;
	}
	uv_timer_start(&c->idle, up_tcp_idle, UP_TCP_IDLE_MS, UP_TCP_IDLE_MS);
	up->tcp = c;
	return c;
}

/* --- upstream objects --- */

static unsigned upstream_handles(struct upstream *up)
{
	unsigned n = 0;

	for (unsigned i = 0; i < UP_SOCKS; i++)
		n += up->udp[i].fd >= 0;
	return n;
}

static void up_udp_closed(uv_handle_t *h)
{
	struct up_udp *s = h->data;
	struct upstream *up = s->up;

	close(s->fd);
	s->fd = -1;
	if (upstream_handles(up) == 0)
		free(up);
}

static void upstream_free(struct upstream *up)
{
	if (up->tcp) {
		up->tcp->up = NULL;
		up_tcp_fail(up->tcp, 0);
		up->tcp = NULL;
	}
	if (upstream_handles(up) == 0) {
		free(up);
		return;
	}
	for (unsigned i = 0; i < UP_SOCKS; i++)
		if (up->udp[i].fd >= 0)
			uv_close((uv_handle_t *)&up->udp[i].poll, up_udp_closed);
}

/* A retired upstream goes away with its last attempt. */
static void upstream_release(struct upstream *up)
{
	struct worker *w = up->w;

	if (!up->retired || up->pending)
		return;
	for (struct upstream **pp = &w->retired; *pp; pp = &(*pp)->next_retired)
		if (*pp == up) {
			*pp = up->next_retired;
			break;
		}
	upstream_free(up);
}

/* The counters of the upstream at addr: its slot, or a new one (published for the metrics), or
 * the unshown spare once the table is full. */
static struct up_stats *up_stats_slot(struct worker *w, const struct addr *addr)
{
	struct worker_stats *st = &w->st;
	unsigned n = atomic_load_explicit(&st->nups, memory_order_relaxed);

	for (unsigned i = 0; i < n; i++)
		if (addr_equal(&st->ups[i].addr.u.sa, &addr->u.sa))
			return &st->ups[i];
	if (n == UP_STATS_MAX)
		return &st->ups[UP_STATS_MAX];
	st->ups[n].addr = *addr;
	atomic_store_explicit(&st->nups, n + 1, memory_order_release);
	return &st->ups[n];
}

static struct upstream *upstream_new(struct worker *w, const struct addr *addr)
{
	struct upstream *up = calloc(1, sizeof(*up));
	int rc;

	if (!up)
		return NULL;
	up->w = w;
	up->addr = *addr;
	up->st = up_stats_slot(w, addr);
	wc_add(&up->st->users, 1);
	wc_set(&up->st->down, 0);
	addr_str(&addr->u.sa, up->name, sizeof(up->name));
	for (unsigned i = 0; i < UP_SOCKS; i++) {
		if ((rc = up_udp_open(w, up, &up->udp[i])) < 0 && i == 0 && w->idx == 0)
			log_warn("upstream %s: cannot open a UDP socket: %s", up->name, strerror(-rc));
	}
	return up;
}

/* The addresses the table must hold: the [upstream] servers in order, then each [forward]
 * server not yet among them; fwd gets each zone's servers as indexes. Returns the count. */
static unsigned upstreams_wanted(const struct conf *c, const struct addr **want,
				 uint8_t fwd[CONF_MAX_FORWARD][CONF_MAX_FORWARD_SERVERS])
{
	const unsigned cap = CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS;
	unsigned n = 0;

	for (unsigned i = 0; i < c->nupstream && n < cap; i++)
		want[n++] = &c->upstream[i];
	for (unsigned z = 0; z < c->nforward && z < CONF_MAX_FORWARD; z++)
		for (unsigned k = 0; k < c->forward[z].nserver; k++) {
			const struct addr *a = &c->forward[z].server[k];
			unsigned j = 0;
			while (j < n && !addr_equal(&want[j]->u.sa, &a->u.sa))
				j++;
			if (j == n && n < cap) /* conf_load keeps it in bounds */
				want[n++] = a;
			fwd[z][k] = j < n ? (uint8_t)j : UINT8_MAX;
		}
	return n;
}

int upstreams_apply(struct worker *w)
{
	struct upstream *next[CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS];
	const struct addr *want[CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS];
	const struct conf *c = w->conf;
	unsigned n, built;
	int rc = 0;

	memset(w->fwd_ups, UINT8_MAX, sizeof(w->fwd_ups));
	n = upstreams_wanted(c, want, w->fwd_ups);
	for (built = 0; built < n; built++) {
		unsigned i = built;
		next[i] = NULL;
		for (unsigned j = 0; j < w->nups; j++)
			if (w->ups[j] && addr_equal(&w->ups[j]->addr.u.sa, &want[i]->u.sa)) {
				next[i] = w->ups[j];
				w->ups[j] = NULL;
				break;
			}
		if (!next[i] && !(next[i] = upstream_new(w, want[i]))) {
			rc = UV_ENOMEM; /* go on with the ones built: route() skips the others */
			break;
		}
	}
	for (unsigned j = 0; j < w->nups; j++) {
		struct upstream *up = w->ups[j];
		if (!up)
			continue;
		up->retired = true;
		wc_set(&up->st->users, wc_get(&up->st->users) - 1);
		up->next_retired = w->retired;
		w->retired = up;
		upstream_release(up);
	}
	memcpy(w->ups, next, built * sizeof(*next));
	w->nups = built;
	w->nmain = c->nupstream < built ? c->nupstream : built;
	w->private_ups = 0;
	for (unsigned i = 0; i < w->nmain; i++)
		if (acl_permits(&c->private_upstreams, &w->ups[i]->addr.u.sa))
			w->private_ups |= (uint64_t)1 << i;
	return rc;
}

void upstreams_close(struct worker *w)
{
	uquery_abort_all(w);
	for (unsigned j = 0; j < w->nups; j++) {
		w->ups[j]->retired = true;
		wc_set(&w->ups[j]->st->users, wc_get(&w->ups[j]->st->users) - 1);
		w->ups[j]->next_retired = w->retired;
		w->retired = w->ups[j];
		upstream_release(w->ups[j]);
	}
	w->nups = 0;
}

/* --- transactions --- */

void uquery_start(struct worker *w, const uint8_t *key, const struct dns_query *q, upstream_cb cb,
		  void *arg)
{
	struct uquery *uq = calloc(1, sizeof(*uq));

	if (!uq) {
		cb(arg, NULL, 0, NULL, NULL);
		return;
	}
	uq->w = w;
	uq->cb = cb;
	uq->cb_arg = arg;
	memcpy(uq->key, key, q->qname_len);
	uq->qname_len = q->qname_len;
	uq->qtype = q->qtype;
	uq->qclass = q->qclass;
	uq->flags = q->flags & (F_RD | F_CD);
	uq->edns_do = q->edns_do;
	w->nuq++;
	uq->deadline_ms = uv_now(&w->loop) + w->conf->timeout;
	uq->dnext = &w->deadlines;
	uq->dprev = w->deadlines.dprev;
	w->deadlines.dprev->dnext = uq;
	w->deadlines.dprev = uq;
	if (uquery_send_next(w, uq, false) < 0)
		uquery_fail(w, uq);
}

uint64_t uquery_next_timer(const struct worker *w)
{
	uint64_t next = UINT64_MAX;

	if (w->deadlines.dnext != &w->deadlines)
		next = w->deadlines.dnext->deadline_ms;
	if (w->failovers.fnext != &w->failovers && w->failovers.fnext->failover_ms < next)
		next = w->failovers.fnext->failover_ms;
	return next;
}

/* Silence for `failover` ms: count it against the upstream and ask another (or the same one
 * again when it is the only one), keeping the earlier attempts open. */
static void uquery_failover(struct worker *w, struct uquery *uq)
{
	uint64_t now = uv_now(&w->loop), last = 0;
	struct attempt *latest = NULL;

	for (unsigned i = 0; i < MAX_ATTEMPTS; i++)
		if (uq->att[i].active && uq->att[i].sent_ms >= last) {
			last = uq->att[i].sent_ms;
			latest = &uq->att[i];
		}
	if (latest) {
		latest->timed_out = true;
		wc_add(&latest->up->st->timeouts, 1);
		upstream_failed(latest->up, now, false, "does not answer");
	}
	if (uquery_send_next(w, uq, false) < 0)
		uquery_send_next(w, uq, true);
}

void uquery_timer_run(struct worker *w)
{
	uint64_t now = uv_now(&w->loop);

	while (w->failovers.fnext != &w->failovers && w->failovers.fnext->failover_ms <= now) {
		struct uquery *uq = w->failovers.fnext;
		fo_remove(uq);
		uquery_failover(w, uq);
	}
	while (w->deadlines.dnext != &w->deadlines && w->deadlines.dnext->deadline_ms <= now) {
		struct uquery *uq = w->deadlines.dnext;
		for (unsigned i = 0; i < MAX_ATTEMPTS; i++) /* the attempts still unanswered */
			if (uq->att[i].active && !uq->att[i].timed_out)
				wc_add(&uq->att[i].up->st->timeouts, 1);
		uquery_fail(w, uq);
	}
}

void uquery_abort_all(struct worker *w)
{
	while (w->deadlines.dnext != &w->deadlines)
		uquery_fail(w, w->deadlines.dnext);
}
