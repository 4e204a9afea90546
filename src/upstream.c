/* upstream.c - the upstream side of a worker. One transaction (uquery) per distinct question in
 * flight, shared by every client asking it. Queries leave over a pool of connected UDP sockets
 * per upstream that is renewed all the time (RFC 5452 9.2): each query takes one of the least
 * recently used sockets at random, and a socket takes no new query after a random 16-128 queries
 * or 1-5 s; a fresh socket (a fresh random port) takes its place, and the old one is closed
 * once the answers to what it sent are in. An answer counts only if it comes from the connected
 * peer (the kernel checks) to a socket with that ID pending, and repeats the question - with
 * [upstream] case_randomization, in the exact random case it was sent in (0x20). TC=1 moves the
 * query to a pipelined TCP connection. Silence moves it to the next
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
#include "up_tls.h"
#include "upstream.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define DOWN_AFTER_FAILS 2
#define UP_TCP_IDLE_MS 10000

#define UP_POOL 32               /* UDP sockets that take queries, per upstream per worker */
#define UP_PICK 16               /* a query leaves from one of the least recently used this many */
#define UP_SOCK_OUT 2            /* queries per socket per send batch */
#define UP_RX 16                 /* datagrams per recvmmsg on one socket */
#define RETIRE_MIN_Q 16          /* a socket sends RETIRE_MIN_Q..RETIRE_MAX_Q queries ... */
#define RETIRE_MAX_Q 128
#define RETIRE_MIN_MS 1000       /* ... for at most RETIRE_MIN_MS..RETIRE_MAX_MS */
#define RETIRE_MAX_MS 5000
#define FLATTEN_AFTER 3          /* lower-cased answers in a row: the upstream flattens 0x20 */

/* One connected UDP socket. In the pool it takes queries; retired, it only waits for the
 * answers to the ones it sent, and is closed when the last of them ends. */
struct up_udp {
	uv_poll_t poll;
	int fd;
	bool dirty;                  /* queries queued: on w->dirty_up */
	bool retired;
	bool closing;                /* uv_close() called */
	struct upstream *up;
	struct up_udp *next_dirty;
	struct up_udp *prev, *next;  /* the upstream's open sockets; next alone: its spare list */
	struct attempt *attempts;    /* pending on this socket */
	unsigned npend;              /* how many: one recvmmsg takes at most that many answers */
	unsigned left;               /* queries it may still send */
	uint64_t retire_ms;          /* loop ms from which it sends nothing more */
	unsigned nout;
	struct mmsghdr out_msg[UP_SOCK_OUT];
	struct iovec out_iov[UP_SOCK_OUT];
	uint8_t out_buf[UP_SOCK_OUT][UP_QUERY_BUF];
};

/* A stream to an upstream: plain TCP (h), or DoT/DoH (tls, which owns its own socket; h is
 * then unused). Pipelined either way, answers matched by ID. */
struct up_tcp {
	uv_tcp_t h;
	uv_timer_t idle;
	uv_connect_t connect;
	struct upstream *up;         /* NULL once the upstream is gone */
	struct worker *w;
	struct attempt *attempts;
	struct up_tls *tls;          /* encrypted: up_tls.c's connection, NULL once it is over */
	bool enc;                    /* encrypted (h unused) */
	unsigned answered;           /* answers it carried: a drop after some is worth a reconnect */
	unsigned handles;            /* open libuv handles; freed at 0 */
	bool connected, closing;
	size_t rlen;
	uint8_t rbuf[2 + DNS_MAX_MSG];
};

/* One upstream server as seen by one worker. */
struct upstream {
	struct addr addr;
	struct up_url url;           /* how it is reached: plain, DoT or DoH */
	struct ssl_session_st *sess; /* encrypted: the session to resume on reconnect */
	bool tls_bad;                /* its certificate or pin was refused: down, never sent to */
	char name[320];              /* for the log: "1.2.3.4:53", "tls://1.2.3.4:853#dns.example" */
	unsigned fails;              /* consecutive failures */
	uint64_t down_until;         /* ms; skipped until then unless nothing else is left */
	unsigned backoff_ms;
	unsigned pending;            /* attempts in flight */
	bool retired;                /* removed by a reload; freed when pending drops to 0 */
	bool freeing;                /* its sockets are closing; freed with the last one */
	bool flattens;               /* answers 0x20 queries in lower case: they go out lower-case */
	unsigned flat_streak;        /* lower-cased answers to 0x20 queries in a row */
	struct upstream *next_retired;
	struct worker *w;
	struct up_udp *pool[UP_POOL]; /* the sockets taking queries, least recently used first */
	unsigned npool;
	struct up_udp *socks;        /* every open socket: the pool and the retired ones */
	struct up_udp *spare;        /* closed sockets' structs, for the next ones */
	unsigned handles;            /* sockets whose poll handle is not closed yet */
	struct up_tcp *tcp;
	struct up_stats *st;         /* its counters in w->st, by address */
};

/* How an attempt goes out. */
enum send_how {
	SEND_UDP,                    /* in random case when case_randomization is on */
	SEND_UDP_PLAIN,              /* lower-case: the answer to the random case was flattened */
	SEND_TCP,                    /* lower-case: a stream carries no off-path answers */
};

static void up_tcp_write(struct worker *w, struct up_tcp *c, struct attempt *a);
static void up_tcp_fail(struct up_tcp *c, int err);
static void upstream_release(struct upstream *up);
static void up_tcp_idle(uv_timer_t *t);
static void up_udp_maybe_close(struct up_udp *s);

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

/* --- pending attempts, by (socket, id): a UDP socket's few on its own list, the many of a
 * pipelined TCP connection in the worker's table --- */

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

/* The attempt pending on UDP socket s with that ID. Its list is short (what s sent and is
 * still waiting for, RETIRE_MAX_Q at most) and warm, unlike a slot of the big table. */
static struct attempt *up_udp_find(const struct up_udp *s, uint16_t id)
{
	for (struct attempt *a = s->attempts; a; a = a->snext)
		if (a->id == id)
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
	if (a->tcp)
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
	} else {
		((struct up_udp *)a->sock)->npend--;
		up_udp_maybe_close(a->sock);
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
	if (!up->down_until && why)
		log_warn("upstream %s %s: trying the others first for %u ms", up->name, why, up->backoff_ms);
	up->down_until = now + up->backoff_ms;
	wc_set(&up->st->down, 1);
}

/* The TLS check of an encrypted upstream changed: why is the reason it is refused, NULL when
 * it passes again. Logged once per server and change for the process, not once per worker
 * (each worker has its own connections and finds out on its own). */
static void upstream_tls_note(struct upstream *up, const char *why)
{
	static atomic_flag lock = ATOMIC_FLAG_INIT;
	static struct {
		char name[320];
		char why[200];
	} seen[CONF_MAX_UPSTREAM];
	static unsigned nseen;
	unsigned i;
	bool changed;

	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
	for (i = 0; i < nseen && strcmp(seen[i].name, up->name); i++)
		;
	if (i == nseen && why) { /* full (many reloads): the oldest entry goes */
		static unsigned next;
		if (nseen < CONF_MAX_UPSTREAM)
			nseen++;
		else
			i = next++ % CONF_MAX_UPSTREAM;
		snprintf(seen[i].name, sizeof(seen[i].name), "%s", up->name);
		seen[i].why[0] = 0;
	}
	changed = i < nseen && strcmp(seen[i].why, why ? why : "");
	if (changed)
		snprintf(seen[i].why, sizeof(seen[i].why), "%s", why ? why : "");
	atomic_flag_clear_explicit(&lock, memory_order_release);
	if (changed && why)
		log_warn("upstream %s: %s; not used", up->name, why);
	else if (changed)
		log_info("upstream %s: certificate accepted", up->name);
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
 * down, the one that comes back soonest (a probe), but never one whose certificate was refused
 * before its backoff is over. With retry, tried ones are candidates again. */
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
		if (up->tls_bad) {
			uq->cert_refused = true; /* for the Extended DNS Error */
			continue; /* refused certificate: no probe before its backoff is over */
		}
		if (up->down_until < best_down) {
			best_down = up->down_until;
			best = (int)i;
		}
	}
	return best;
}

/* A random ID not pending on the socket (UDP: s, TCP: c): two answers with one ID on one
 * socket could not be told apart. */
static uint16_t fresh_id(struct worker *w, const struct up_udp *s, const struct up_tcp *c)
{
	uint16_t id = 0;

	for (int tries = 0; tries < 16; tries++) {
		id = (uint16_t)prng_next(&w->rng);
		if (s ? !up_udp_find(s, id) : !pend_find(w, c, id))
			break;
	}
	return id;
}

/* --- 0x20: the QNAME in random case --- */

static uint64_t case_bits(uint64_t *x) /* splitmix64 */
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Flip the case of name's letters (lower-case on entry) by the bits drawn from seed: the same
 * seed gives the same case, so an attempt keeps 8 bytes, not the name. Length octets are below
 * 64, never letters, so the labels need no walking. */
static void case_apply(uint8_t *name, size_t len, uint64_t seed)
{
	uint64_t bits = 0;
	unsigned nbits = 0;

	for (size_t i = 0; i < len; i++) {
		if (name[i] < 'a' || name[i] > 'z')
			continue;
		if (!nbits) {
			bits = case_bits(&seed);
			nbits = 64;
		}
		name[i] ^= (uint8_t)((bits & 1) << 5);
		bits >>= 1;
		nbits--;
	}
}

/* Whether the question name of pkt (already checked to equal the key but for case) has the
 * exact case a sent: 0 yes (or a went out lower-case), 1 it is lower-cased (the upstream
 * flattens case, or a spoofer sent it so), -1 another case (spoofed). */
static int case_check(const struct attempt *a, const uint8_t *pkt)
{
	const struct uquery *uq = a->uq;
	uint8_t want[DNS_MAX_NAME];

	if (!a->case_seed)
		return 0;
	memcpy(want, uq->key, uq->qname_len);
	case_apply(want, uq->qname_len, a->case_seed);
	if (!memcmp(pkt + DNS_HDR, want, uq->qname_len))
		return 0;
	return memcmp(pkt + DNS_HDR, uq->key, uq->qname_len) ? -1 : 1;
}

/* An all-lower-case answer to one more 0x20 query of up: after FLATTEN_AFTER in a row, up
 * gets its queries in lower case from now on. Logged once per address for the process, not
 * once per worker (the workers find out each on its own). */
static void case_flattened(struct upstream *up)
{
	static atomic_flag lock = ATOMIC_FLAG_INIT;
	static struct addr seen[CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS];
	static unsigned nseen;
	bool first = true;

	if (up->flattens || ++up->flat_streak < FLATTEN_AFTER)
		return;
	up->flattens = true;
	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
	for (unsigned i = 0; i < nseen && first; i++)
		first = !addr_equal(&seen[i].u.sa, &up->addr.u.sa);
	if (first && nseen < sizeof(seen) / sizeof(seen[0]))
		seen[nseen++] = up->addr;
	atomic_flag_clear_explicit(&lock, memory_order_release);
	if (first)
		log_warn("upstream %s flattens the case of query names (%d answers in a row): "
			 "case_randomization is off for it", up->name, FLATTEN_AFTER);
}

/* --- sending --- */

static size_t write_upstream_query(struct worker *w, const struct attempt *a, uint8_t *out)
{
	const struct uquery *uq = a->uq;
	size_t len = wire_write_query(out, a->id, uq->key, uq->qname_len, uq->qtype, uq->qclass,
				      uq->flags, uq->edns_do, (uint16_t)w->conf->upstream_udp_size);

	if (a->case_seed)
		case_apply(out + DNS_HDR, uq->qname_len, a->case_seed);
	return len;
}

static void up_udp_queue(struct worker *w, struct up_udp *s, const struct attempt *a)
{
	unsigned i;

	if (s->nout == UP_SOCK_OUT)
		upstream_flush(w);
	i = s->nout++;
	s->out_iov[i].iov_base = s->out_buf[i];
	s->out_iov[i].iov_len = write_upstream_query(w, a, s->out_buf[i]);
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
static struct up_udp *up_udp_pick(struct worker *w, struct upstream *up);

/* Start one attempt of uq at up. Returns 0, or -1 when it could not be sent. */
static int attempt_start(struct worker *w, struct uquery *uq, struct upstream *up,
			 enum send_how how)
{
	struct attempt *a = NULL;
	bool tcp = how == SEND_TCP || up->url.proto != UP_PLAIN; /* encrypted: never in clear */

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
	a->case_seed = 0;
	if (!tcp && how == SEND_UDP && w->conf->case_randomization && !up->flattens)
		a->case_seed = prng_next(&w->rng) | 1;
	if (tcp) {
		struct up_tcp *c = up_tcp_get(w, up);
		if (!c)
			return -1;
		a->sock = c;
		a->id = fresh_id(w, NULL, c);
		a->written = false;
		sock_list_add(&c->attempts, a);
		size_t slot = pend_slot(w, c, a->id);
		a->hnext = w->pend[slot];
		w->pend[slot] = a;
		uv_timer_stop(&c->idle);
		wc_add(&up->st->tcp_queries, 1);
	} else {
		struct up_udp *s = up_udp_pick(w, up);
		if (!s)
			return -1;
		a->sock = s;
		a->id = fresh_id(w, s, NULL);
		sock_list_add(&s->attempts, a);
		s->npend++;
	}
	a->active = true;
	up->pending++;
	wc_add(&up->st->queries, 1);
	if (tcp) {
		struct up_tcp *c = a->sock;
		if (c->connected)
			up_tcp_write(w, c, a); /* else at connect, or at the handshake's end */
	} else {
		up_udp_queue(w, a->sock, a);
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
		if (attempt_start(w, uq, w->ups[i], SEND_UDP) == 0) {
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

	/* copied now: unlinking may free a retired upstream (name is NUL-terminated by addr_str) */
	if (up)
		memcpy(upname, up->name, strnlen(up->name, sizeof(upname) - 1) + 1);
	upname[sizeof(upname) - 1] = 0;
	uquery_unlink(w, uq);
	uq->cb(uq->cb_arg, pkt, len, a, up ? upname : NULL);
	freelist_put(&w->uq_free, uq);
}

/* No upstream gave a usable answer: SERVFAIL to everyone, remembered for servfail_ttl, with
 * an Extended DNS Error that says why: none answered in time (22), or none could be used (23:
 * unreachable, broken, or its certificate refused). */
static void uquery_fail(struct worker *w, struct uquery *uq, bool timed_out)
{
	uint8_t pkt[DNS_HDR + DNS_MAX_NAME + 4];
	struct dns_answer a;
	size_t len = wire_write_head(pkt, 0, (uint16_t)(F_QR | F_RA | (uq->flags & (F_RD | F_CD)) | RCODE_SERVFAIL),
				     uq->key, uq->qname_len, uq->qtype, uq->qclass);

	if (wire_parse_answer(pkt, len, uq->key, uq->qname_len, uq->qtype, uq->qclass, &a, w->ttl_off,
			      1) < 0)
		abort(); /* we just wrote it */
	if (timed_out) {
		a.ede = EDE_NO_REACHABLE_AUTHORITY;
		a.ede_text = EDE_TEXT_TIMEOUT;
	} else {
		a.ede = EDE_NETWORK_ERROR;
		a.ede_text = uq->cert_refused ? EDE_TEXT_CERT : EDE_TEXT_UNREACHABLE;
	}
	uquery_finish(w, uq, pkt, len, &a, NULL);
}

/* An attempt ended without an answer: wait for the others, or try the next upstream. */
static void uquery_next(struct worker *w, struct uquery *uq)
{
	for (unsigned i = 0; i < MAX_ATTEMPTS; i++)
		if (uq->att[i].active)
			return;
	if (uquery_send_next(w, uq, false) < 0)
		uquery_fail(w, uq, false);
}

/* The question of pkt, an answer to attempt a, checked but for case: whether a may take it.
 * In the wrong case it is spoofed: keep waiting. Lower-cased, the upstream may flatten case:
 * ask it again in lower case at once (waiting would not bring another answer). */
static bool attempt_case_ok(struct worker *w, struct attempt *a, uint8_t *pkt)
{
	struct uquery *uq = a->uq;
	struct upstream *up = a->up;
	int c = case_check(a, pkt);

	if (c == 0) {
		if (a->case_seed) {
			if (memcmp(pkt + DNS_HDR, uq->key, uq->qname_len)) /* a real 0x20 echo */
				up->flat_streak = 0;
			/* the client side and the cache see the question as if sent lower-case */
			memcpy(pkt + DNS_HDR, uq->key, uq->qname_len);
		}
		return true;
	}
	wc_add(&w->st.upstream_bad, 1);
	if (c < 0)
		return false;
	case_flattened(up);
	attempt_end(w, a);
	if (attempt_start(w, uq, up, SEND_UDP_PLAIN) < 0)
		uquery_next(w, uq);
	return false;
}

/* A message arrived for attempt a. */
static void attempt_answer(struct worker *w, struct attempt *a, uint8_t *pkt, size_t len, bool cut)
{
	struct uquery *uq = a->uq;
	struct upstream *up = a->up;
	struct dns_answer ans;

	if (!a->tcp && (cut || (len >= DNS_HDR && (rd16(pkt + 2) & F_TC)))) {
		if (wire_check_question(pkt, len, uq->key, uq->qname_len, uq->qtype, uq->qclass) < 0) {
			wc_add(&w->st.upstream_bad, 1);
			return; /* not the answer to this question: keep waiting */
		}
		if (!attempt_case_ok(w, a, pkt))
			return;
		attempt_end(w, a);
		if (attempt_start(w, uq, up, SEND_TCP) < 0)
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
	if (!attempt_case_ok(w, a, pkt))
		return;
	uint64_t rx_ns = w->up_rx_ns ? w->up_rx_ns : uv_hrtime(); /* UDP: once per read batch */
	uint64_t rtt_us = (rx_ns - a->sent_ns) / 1000, srtt = wc_get(&up->st->srtt_us);
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
	/* a socket has a few queries pending, not BATCH: ask for no more answers than it awaits
	 * (usually one: the kernel then stops after it instead of trying for a second datagram),
	 * and set up only that many; one at least, to take a late or stray datagram off */
	unsigned vlen = s->npend < 1 ? 1 : s->npend > UP_RX ? UP_RX : s->npend;
	for (unsigned i = 0; i < vlen; i++) {
		struct msghdr *m = &w->rx_msg[i].msg_hdr;
		memset(m, 0, sizeof(*m));
		w->rx_iov[i].iov_base = w->rx_buf[i];
		w->rx_iov[i].iov_len = UDP_BUF;
		m->msg_iov = &w->rx_iov[i];
		m->msg_iovlen = 1;
	}
	n = recvmmsg(s->fd, w->rx_msg, vlen, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == ECONNREFUSED)
			up_udp_refused(w, s);
		return;
	}
	/* an answer may end s's last attempt and close a retired s: the rest then find no ID */
	w->up_rx_ns = uv_hrtime(); /* when these answers came, for the RTT and the latency */
	for (int i = 0; i < n; i++) {
		size_t len = w->rx_msg[i].msg_len;
		struct attempt *a;
		if (len < DNS_HDR || !(a = up_udp_find(s, rd16(w->rx_buf[i])))) {
			wc_add(&w->st.upstream_bad, 1); /* unknown ID: late, duplicate or spoofed */
			continue;
		}
		attempt_answer(w, a, w->rx_buf[i], len, w->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC);
	}
	w->up_rx_ns = 0;
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
		up_udp_maybe_close(s); /* retired, and its attempts ended before they left */
	}
}

static void up_udp_closed(uv_handle_t *h)
{
	struct up_udp *s = h->data;
	struct upstream *up = s->up;

	close(s->fd);
	s->fd = -1;
	up->handles--;
	if (!up->freeing) {
		s->next = up->spare;
		up->spare = s;
		return;
	}
	free(s);
	if (up->handles == 0)
		free(up);
}

/* Close s: it is out of the pool, with nothing pending or queued. */
static void up_udp_close(struct up_udp *s)
{
	struct upstream *up = s->up;

	if (s->prev)
		s->prev->next = s->next;
	else
		up->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->closing = true;
	uv_close((uv_handle_t *)&s->poll, up_udp_closed);
}

/* A retired socket goes once nothing is pending on it and nothing is queued: an answer that
 * comes later meets a closed port (the kernel answers it with ICMP), never a lookup. */
static void up_udp_maybe_close(struct up_udp *s)
{
	if (s->retired && !s->closing && !s->attempts && !s->dirty)
		up_udp_close(s);
}

/* A fresh connected socket for up: a new random port. Returns NULL (errno set) on failure. */
static struct up_udp *up_udp_open(struct worker *w, struct upstream *up)
{
	struct up_udp *s = up->spare;
	int fd;

	if (s)
		up->spare = s->next;
	else if (!(s = malloc(sizeof(*s))))
		return NULL;
	memset(s, 0, offsetof(struct up_udp, out_msg)); /* the buffers are set up as they fill */
	s->fd = -1;
	s->up = up;
	fd = socket(up->addr.u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* the default receive buffer holds far more than the few answers pending on one socket:
	 * no setsockopt, one system call less per renewal. connect(): the kernel picks a random ephemeral port and drops datagrams from any other
	 * address or port, so spoofing needs the right port, ID and question at once. */
	if (connect(fd, &up->addr.u.sa, up->addr.len) < 0 || uv_poll_init(&w->loop, &s->poll, fd) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		goto fail;
	}
	s->fd = fd;
	s->poll.data = s;
	uv_poll_start(&s->poll, UV_READABLE, up_udp_readable);
	s->left = RETIRE_MIN_Q + (unsigned)(prng_next(&w->rng) % (RETIRE_MAX_Q - RETIRE_MIN_Q + 1));
	s->retire_ms = uv_now(&w->loop) + RETIRE_MIN_MS +
		       prng_next(&w->rng) % (RETIRE_MAX_MS - RETIRE_MIN_MS + 1);
	s->next = up->socks;
	if (up->socks)
		up->socks->prev = s;
	up->socks = s;
	up->handles++;
	return s;
fail:
	s->next = up->spare;
	up->spare = s;
	return NULL;
}

/* The socket for the next query to up: while the pool is not full, a new one (the pool grows
 * with use, so a rarely asked upstream holds few descriptors); then one of the UP_PICK least
 * recently used, at random, with room in this send batch, renewed first when its time or its
 * count is up. NULL when up has no socket and none opens. */
static struct up_udp *up_udp_pick(struct worker *w, struct upstream *up)
{
	uint64_t now = uv_now(&w->loop);
	unsigned n, j, k;
	struct up_udp *s;

	if (up->npool < UP_POOL && (s = up_udp_open(w, up))) {
		up->pool[up->npool++] = s; /* last: the most recently used */
		s->left--;
		return s;
	}
	if (!up->npool)
		return NULL;
	n = up->npool < UP_PICK ? up->npool : UP_PICK;
	j = (unsigned)(prng_next(&w->rng) % n);
	for (k = 0; k < n && up->pool[(j + k) % n]->nout >= UP_SOCK_OUT; k++)
		;
	if (k == n)
		upstream_flush(w); /* all of them full: send the batch now */
	else
		j = (j + k) % n;
	s = up->pool[j];
	if (!s->left || now >= s->retire_ms) {
		/* the fresh one first, so that the kernel cannot hand out the old port again */
		struct up_udp *f = up_udp_open(w, up);
		if (f) {
			up->pool[j] = f;
			s->retired = true;
			up_udp_maybe_close(s);
			s = f;
		} else { /* out of descriptors: the old port a little longer beats no query */
			s->left = RETIRE_MIN_Q;
			s->retire_ms = now + RETIRE_MIN_MS;
		}
	}
	s->left--;
	memmove(&up->pool[j], &up->pool[j + 1], (up->npool - j - 1) * sizeof(*up->pool));
	up->pool[up->npool - 1] = s;
	return s;
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
	struct up_write *uw;
	size_t len;
	uv_buf_t b;

	if (c->enc) {
		uint8_t q[UP_QUERY_BUF];
		len = write_upstream_query(w, a, q);
		a->written = true;
		if (!c->tls || up_tls_send(c->tls, q, len) < 0)
			up_tcp_fail(c, UV_EPIPE);
		return;
	}
	uw = malloc(sizeof(*uw) + 2 + UP_QUERY_BUF);
	if (!uw) {
		up_tcp_fail(c, UV_ENOMEM);
		return;
	}
	len = write_upstream_query(w, a, uw->data + 2);
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

/* An encrypted connection that answered before and then dropped: its queries go again on a
 * fresh connection to the same server (the next one would only be tried at failover time, and
 * a server that closes idle or busy streams is not down). Returns false when they cannot. */
static bool up_tls_requeue(struct worker *w, struct up_tcp *c)
{
	struct upstream *up = c->up;
	struct uquery *moved[64];
	unsigned n = 0;

	if (!up || !c->answered)
		return false;
	while (c->attempts) {
		struct attempt *a = c->attempts;
		unsigned i = 0;
		while (i < n && moved[i] != a->uq)
			i++;
		if (i == n && n < 64)
			moved[n++] = a->uq; /* beyond, the rest move at their failover time */
		attempt_end(w, a);
	}
	for (unsigned i = 0; i < n; i++)
		if (attempt_start(w, moved[i], up, SEND_TCP) < 0)
			uquery_next(w, moved[i]);
	return true;
}

static void up_tcp_fail(struct up_tcp *c, int err)
{
	struct worker *w = c->w;

	if (c->closing)
		return;
	c->closing = true;
	if (c->up && c->up->tcp == c)
		c->up->tcp = NULL;
	if (c->enc) {
		up_tls_close(c->tls); /* frees itself; nothing of it runs after this */
		c->tls = NULL;
		uv_close((uv_handle_t *)&c->idle, up_tcp_closed);
		if (err)
			up_tls_requeue(w, c);
		attempts_move_on(w, &c->attempts); /* what is left */
		return;
	}
	if (err && err != UV_EOF && c->up)
		upstream_failed(c->up, uv_now(&w->loop), !c->connected, "fails over TCP");
	uv_close((uv_handle_t *)&c->h, up_tcp_closed);
	uv_close((uv_handle_t *)&c->idle, up_tcp_closed);
	attempts_move_on(w, &c->attempts);
}

/* --- the callbacks of an encrypted connection (up_tls.c) --- */

static void up_enc_ready(void *arg)
{
	struct up_tcp *c = arg;
	struct worker *w = c->w;

	if (c->closing)
		return;
	c->connected = true;
	if (c->up && c->up->tls_bad) {
		c->up->tls_bad = false;
		upstream_tls_note(c->up, NULL);
	}
	for (struct attempt *a = c->attempts; a && !c->closing; a = a->snext)
		if (!a->written)
			up_tcp_write(w, c, a);
	if (!c->closing && !c->attempts)
		uv_timer_start(&c->idle, up_tcp_idle, UP_TCP_IDLE_MS, UP_TCP_IDLE_MS);
}

static void up_enc_answer(void *arg, uint16_t id, uint8_t *pkt, size_t len)
{
	struct up_tcp *c = arg;
	struct worker *w = c->w;
	struct attempt *a;

	if (c->closing)
		return;
	if (!(a = pend_find(w, c, id))) {
		wc_add(&w->st.upstream_bad, 1);
		return;
	}
	if (!pkt) { /* DoH: that stream failed; the connection goes on */
		wc_add(&w->st.upstream_bad, 1);
		struct uquery *uq = a->uq;
		attempt_end(w, a);
		uquery_next(w, uq);
		return;
	}
	c->answered++;
	attempt_answer(w, a, pkt, len, false);
}

static void up_enc_failed(void *arg, enum up_tls_fail kind, const char *why)
{
	struct up_tcp *c = arg;
	struct worker *w = c->w;
	struct upstream *up = c->up;

	c->tls = NULL; /* closed by up_tls.c already */
	if (c->closing)
		return;
	if (up && kind == UP_TLS_VERIFY) {
		up->tls_bad = true;
		upstream_tls_note(up, why);
		upstream_failed(up, uv_now(&w->loop), true, NULL);
	} else if (up && !c->answered) {
		/* never came up: refused, timed out, not TLS */
		char msg[240];
		snprintf(msg, sizeof(msg), "fails over TLS (%s)", why);
		upstream_failed(up, uv_now(&w->loop), true, msg);
	}
	up_tcp_fail(c, UV_ECONNRESET);
}

static const struct up_tls_cbs up_enc_cbs = {
	.ready = up_enc_ready,
	.answer = up_enc_answer,
	.failed = up_enc_failed,
};

static void up_tcp_idle(uv_timer_t *t)
{
	struct up_tcp *c = t->data;

	if (!c->attempts)
		up_tcp_fail(c, 0);
	else if (c->enc && !c->connected)
		up_tcp_fail(c, UV_ETIMEDOUT); /* the handshake went nowhere (up_tls times it out first) */
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

/* An encrypted connection to up: the TLS one of up_tls.c, the idle timer here. */
static struct up_tcp *up_enc_open(struct worker *w, struct upstream *up, struct up_tcp *c)
{
	const struct conf *conf = w->conf;
	struct up_tls_params p = {
		.url = &up->url,
		.ctx = conf->upstream_tls_ctx,
		.pins = (const uint8_t(*)[UP_PIN_LEN])conf->upstream_pin,
		.npins = conf->nupstream_pin,
		.check_chain = strcmp(conf->upstream_ca_file, "none") != 0,
		.resume = &up->sess,
	};

	c->enc = true;
	if (!p.ctx || !(c->tls = up_tls_open(&w->loop, &p, &up_enc_cbs, c))) {
		free(c);
		upstream_failed(up, uv_now(&w->loop), true, "cannot open a TLS connection");
		return NULL;
	}
	uv_timer_init(&w->loop, &c->idle);
	c->idle.data = c;
	c->handles = 1;
	uv_timer_start(&c->idle, up_tcp_idle, UP_TCP_IDLE_MS, UP_TCP_IDLE_MS);
	up->tcp = c;
	return c;
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
	if (up->url.proto != UP_PLAIN)
		return up_enc_open(w, up, c);
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

/* Close every socket of up (nothing is pending on it) and free it with the last one. */
static void upstream_free(struct upstream *up)
{
	struct worker *w = up->w;

	stats_upstream_unref(up->st);

	if (up->tcp) {
		up->tcp->up = NULL;
		up_tcp_fail(up->tcp, 0);
		up->tcp = NULL;
	}
	up_tls_session_free(up->sess); /* the connection no longer writes to it */
	up->sess = NULL;
	/* queries whose attempts were aborted before the flush are not sent */
	for (struct up_udp **pp = &w->dirty_up; *pp;)
		if ((*pp)->up == up)
			*pp = (*pp)->next_dirty;
		else
			pp = &(*pp)->next_dirty;
	while (up->spare) {
		struct up_udp *s = up->spare;
		up->spare = s->next;
		free(s);
	}
	up->freeing = true;
	up->npool = 0;
	while (up->socks)
		up_udp_close(up->socks);
	if (up->handles == 0)
		free(up);
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

/* How an upstream of the table is reached: url NULL for a plain one. */
struct up_want {
	const struct addr *addr;
	const struct up_url *url;
};

static bool up_want_is(const struct upstream *up, const struct up_want *want)
{
	enum up_proto proto = want->url ? want->url->proto : UP_PLAIN;

	if (!addr_equal(&up->addr.u.sa, &want->addr->u.sa) || up->url.proto != proto)
		return false;
	return proto == UP_PLAIN ||
	       (!strcmp(up->url.name, want->url->name) && !strcmp(up->url.path, want->url->path));
}

static struct upstream *upstream_new(struct worker *w, const struct up_want *want)
{
	const struct addr *addr = want->addr;
	struct upstream *up = calloc(1, sizeof(*up));

	if (!up)
		return NULL;
	up->w = w;
	up->addr = *addr;
	up->st = stats_upstream_slot(&w->st, addr);
	wc_add(&up->st->users, 1);
	wc_set(&up->st->down, 0);
	if (want->url && want->url->proto != UP_PLAIN) {
		up->url = *want->url;
		up->url.addr = *addr;
		up_url_str(&up->url, up->name, sizeof(up->name));
		return up; /* no UDP socket: nothing goes to it in clear */
	}
	up->url.addr = *addr;
	addr_str(&addr->u.sa, up->name, sizeof(up->name));
	/* one socket now, to tell at once when none opens; the pool grows with the queries */
	struct up_udp *s = up_udp_open(w, up);
	if (s)
		up->pool[up->npool++] = s;
	else if (w->idx == 0)
		log_warn("upstream %s: cannot open a UDP socket: %s", up->name, strerror(errno));
	return up;
}

/* The addresses the table must hold: the [upstream] servers in order, then each [forward]
 * server not yet among them; fwd gets each zone's servers as indexes. Returns the count. */
static unsigned upstreams_wanted(const struct conf *c, struct up_want *want,
				 uint8_t fwd[CONF_MAX_FORWARD][CONF_MAX_FORWARD_SERVERS])
{
	const unsigned cap = CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS;
	unsigned n = 0;

	for (unsigned i = 0; i < c->nupstream && n < cap; i++) {
		want[n].addr = &c->upstream[i];
		want[n++].url = c->upstream_url[i].proto != UP_PLAIN ? &c->upstream_url[i] : NULL;
	}
	for (unsigned z = 0; z < c->nforward && z < CONF_MAX_FORWARD; z++)
		for (unsigned k = 0; k < c->forward[z].nserver; k++) {
			const struct addr *a = &c->forward[z].server[k];
			unsigned j = 0;
			/* [forward] servers are plain: never the encrypted server at that address */
			while (j < n && (want[j].url || !addr_equal(&want[j].addr->u.sa, &a->u.sa)))
				j++;
			if (j == n && n < cap) { /* conf_load keeps it in bounds */
				want[n].addr = a;
				want[n++].url = NULL;
			}
			fwd[z][k] = j < n ? (uint8_t)j : UINT8_MAX;
		}
	return n;
}

int upstreams_apply(struct worker *w)
{
	struct upstream *next[CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS];
	struct up_want want[CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS];
	const struct conf *c = w->conf;
	unsigned n, built;
	int rc = 0;

	memset(w->fwd_ups, UINT8_MAX, sizeof(w->fwd_ups));
	n = upstreams_wanted(c, want, w->fwd_ups);
	for (built = 0; built < n; built++) {
		unsigned i = built;
		next[i] = NULL;
		for (unsigned j = 0; j < w->nups; j++)
			if (w->ups[j] && up_want_is(w->ups[j], &want[i])) {
				next[i] = w->ups[j];
				w->ups[j] = NULL;
				break;
			}
		if (!next[i] && !(next[i] = upstream_new(w, &want[i]))) {
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
	struct uquery *uq = freelist_get(&w->uq_free, sizeof(*uq));

	if (!uq) {
		cb(arg, NULL, 0, NULL, NULL);
		return;
	}
	memset(uq, 0, offsetof(struct uquery, key)); /* the key is copied in below */
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
		uquery_fail(w, uq, false);
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
		uquery_fail(w, uq, true);
	}
}

void uquery_abort_all(struct worker *w)
{
	while (w->deadlines.dnext != &w->deadlines)
		uquery_fail(w, w->deadlines.dnext, false);
}
