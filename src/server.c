/* server.c - the client side of a worker: UDP listeners batched with recvmmsg/sendmmsg, TCP
 * sessions (RFC 7766: pipelining, out-of-order answers, idle and connection limits), the ACL,
 * the cache-hit path, which neither allocates nor talks upstream, and on a miss one pending
 * entry per question: one upstream transaction, whose answer is labelled and cached once and
 * then decided per waiting client. */
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "fwdzone.h"
#include "server.h"
#include "synth.h"
#include "upstream.h"

#define TCP_MAX_QUEUED (1u << 20)   /* bytes of unread answers before a client is cut off */

static void session_close(struct tcp_session *s);
static void session_process(struct tcp_session *s);

/* --- UDP output batching --- */

static void listener_flush(struct worker *w, struct udp_listener *l)
{
	unsigned done = 0;

	while (done < l->nout) {
		int n = sendmmsg(l->fd, l->out_msg + done, l->nout - done, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: the socket buffer is full, drop what is left, as a busy network
			 * would. Any other error concerns the first message only: skip it. */
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				wc_add(&w->st.send_errors, l->nout - done);
				break;
			}
			wc_add(&w->st.send_errors, 1);
			done++;
			continue;
		}
		done += (unsigned)n;
	}
	l->nout = 0;
}

void server_flush(struct worker *w)
{
	struct udp_listener *l = w->dirty_listeners;

	w->dirty_listeners = NULL;
	for (; l; l = l->next_dirty) {
		l->dirty = false;
		listener_flush(w, l);
	}
}

static uint8_t *udp_out_slot(struct worker *w, struct udp_listener *l)
{
	if (l->nout == BATCH)
		listener_flush(w, l);
	return l->out_buf[l->nout];
}

static void udp_out_commit(struct worker *w, struct udp_listener *l, size_t len,
			   const struct addr *dst, const uint8_t *ctl, size_t ctl_len)
{
	unsigned i = l->nout++;
	struct msghdr *m = &l->out_msg[i].msg_hdr;

	l->out_iov[i].iov_base = l->out_buf[i];
	l->out_iov[i].iov_len = len;
	l->out_addr[i] = *dst;
	memset(m, 0, sizeof(*m));
	m->msg_name = &l->out_addr[i].u.sa;
	m->msg_namelen = dst->len;
	m->msg_iov = &l->out_iov[i];
	m->msg_iovlen = 1;
	if (ctl_len) {
		memcpy(l->out_ctl[i], ctl, ctl_len);
		m->msg_control = l->out_ctl[i];
		m->msg_controllen = ctl_len;
	}
	if (!l->dirty) {
		l->dirty = true;
		l->next_dirty = w->dirty_listeners;
		w->dirty_listeners = l;
	}
}

/* Turn a received IP_PKTINFO/IPV6_PKTINFO into the control message that makes the answer
 * leave from the address the query came to. Returns its length (0 when none). */
static size_t reply_ctl(const struct msghdr *rx, uint8_t *out)
{
	struct msghdr m = { .msg_control = out, .msg_controllen = CTL_LEN };

	for (struct cmsghdr *c = CMSG_FIRSTHDR(rx); c; c = CMSG_NXTHDR((struct msghdr *)rx, c)) {
		struct cmsghdr *o = CMSG_FIRSTHDR(&m);
		memset(out, 0, CTL_LEN);
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
			memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(struct in6_pktinfo));
			return CMSG_SPACE(sizeof(struct in6_pktinfo));
		}
	}
	return 0;
}

static size_t udp_max_len(const struct conf *c, const struct dns_query *q)
{
	size_t s = q->edns ? q->edns_udp_size : 512;

	if (s < 512)
		s = 512;
	if (s > c->max_udp_size)
		s = c->max_udp_size;
	return s;
}

/* --- TCP output --- */

struct tcp_write {
	uv_write_t req;
	struct tcp_session *s;
	size_t len;
	uint8_t data[];
};

static void session_unref(struct tcp_session *s)
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
		session_close(s);
	session_unref(s);
}

/* Send msg (len bytes, a DNS message) with its length prefix. */
static void tcp_send(struct worker *w, struct tcp_session *s, const uint8_t *msg, size_t len)
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
		session_close(s);
		return;
	}
	if (n < 0)
		n = 0;
	size_t rest = len + 2 - (size_t)n;
	if (s->write_bytes + rest > TCP_MAX_QUEUED) {
		session_close(s); /* the client does not read its answers */
		return;
	}
	struct tcp_write *tw = malloc(sizeof(*tw) + rest);
	if (!tw) {
		session_close(s);
		return;
	}
	memcpy(tw->data, frame + n, rest);
	tw->s = s;
	tw->len = rest;
	b = uv_buf_init((char *)tw->data, (unsigned)rest);
	if (uv_write(&tw->req, (uv_stream_t *)&s->h, &b, 1, tcp_write_done) < 0) {
		free(tw);
		session_close(s);
		return;
	}
	s->refs++;
	s->write_bytes += rest;
}

/* --- the query log --- */

static bool qlog_on(const struct worker *w)
{
	return w->conf->query_log[0] && w->conf->qlog_mode != QLOG_NONE;
}

/* Count the answer to r, and append a record for it to the worker's ring (the writer on the
 * control thread formats it). */
static void qlog_note(struct worker *w, const struct request *r, struct label *l, int rcode,
		      const char *upstream, const struct verdict *v)
{
	struct qlog_rec *rec;
	struct timespec ts;

	if (w->stats)
		stats_count(w->stats, v ? v->mode : w->conf->policy.default_mode, &r->src.u.sa,
			    r->q.has_mac ? r->q.mac : NULL, l, r->q.qname, r->q.qname_len, upstream == NULL,
			    v ? v->action : PACT_PASS);
	/* a client in mode off is counted in totals only, never logged by name */
	if (!qlog_on(w) || (v && v->mode == PMODE_OFF) ||
	    (w->conf->qlog_mode == QLOG_LABELLED && !label_has_groups(l) &&
	     (!v || v->action == PACT_PASS)))
		return;
	if (!(rec = qlog_ring_reserve(&w->qlog, r->q.qname_len)))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	rec->ts_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	rec->qtype = r->q.qtype;
	rec->rcode = (uint8_t)rcode;
	rec->cached = upstream == NULL;
	rec->latency_us = r->start_ns ? (uint32_t)((uv_hrtime() - r->start_ns) / 1000) : 0;
	rec->has_mac = r->q.has_mac;
	memcpy(rec->mac, r->q.mac, 6);
	rec->client = r->src;
	snprintf(rec->upstream_name, sizeof(rec->upstream_name), "%s", upstream ? upstream : "");
	rec->label = label_ref(l);
	rec->action = policy_action_name(v ? v->action : PACT_PASS);
	const char *name = v && v->client_name && v->client_name[0] ? v->client_name
							       : dynpol_lease_name(w->dyn, &r->src.u.sa);
	snprintf(rec->name, sizeof(rec->name), "%s", name ? name : "");
	memcpy(rec->qname, r->q.qname, r->q.qname_len);
	wire_name_lower(rec->qname, r->q.qname_len);
	if (qlog_ring_commit(&w->qlog, rec) && w->qlog_wake)
		uv_async_send(w->qlog_wake);
}

/* --- answering --- */

/* Count an answer handed to the transport: its rcode, and its latency since the read batch the
 * query came in (one clock read per answer: a vDSO call, no system call). */
static void count_answer(struct worker *w, const struct request *r, enum answer_kind k, int rcode)
{
	static const uint32_t bounds_us[ANSWER_NBUCKETS - 1] = { ANSWER_BUCKETS_US };
	uint64_t ns = uv_hrtime() - r->start_ns;
	unsigned b = 0;

	while (b < ANSWER_NBUCKETS - 1 && ns > (uint64_t)bounds_us[b] * 1000)
		b++;
	wc_add(&w->st.latency[k][b], 1);
	wc_add(&w->st.latency_sum_ns[k], ns);
	wc_add(&w->st.rcodes[rcode >= 0 && rcode < ANSWER_RCODES - 1 ? rcode : ANSWER_RCODES - 1], 1);
}

/* upstream as server_respond has it: NULL from the cache, "local" for a zone served here */
static enum answer_kind kind_of(const char *upstream)
{
	return !upstream ? ANS_HIT : !strcmp(upstream, "local") ? ANS_LOCAL : ANS_MISS;
}

/* Answer r as the policy says instead of with the real answer e (or not at all: drop). */
static void respond_verdict(struct worker *w, struct request *r, const struct verdict *v,
			    const struct cache_entry *e, const char *upstream)
{
	struct label *l = e ? e->label : NULL;

	if (v->action != PACT_DROP) {
		uint8_t *out = r->tcp ? w->scratch + 2 : udp_out_slot(w, r->udp);
		uint16_t our = (uint16_t)w->conf->max_udp_size;
		size_t n = 0;
		if (v->action == PACT_TCP_ONLY) {
			/* UDP only gets here: an empty answer with TC=1 sends the client to TCP */
			n = wire_write_error(&r->q, RCODE_NOERROR, our, out);
			wr16(out + 2, (uint16_t)(rd16(out + 2) | F_TC));
		} else if (v->action == PACT_STRIP && e) {
			size_t cap = r->tcp ? DNS_MAX_MSG : udp_max_len(w->conf, &r->q);
			n = synth_strip(e, &r->q, &w->conf->policy, v, uv_now(&w->loop), our, out, cap);
			if (!n) { /* does not fit a UDP answer: TC=1, the client asks over TCP */
				n = wire_write_error(&r->q, e->rcode, our, out);
				wr16(out + 2, (uint16_t)(rd16(out + 2) | F_TC));
			}
		} else {
			struct verdict sv = *v;
			if (sv.action == PACT_STRIP) /* no answer to strip (a deny rule): NODATA */
				sv.action = PACT_NODATA;
			n = synth_answer(&r->q, &w->conf->policy, &sv, our, out);
		}
		if (r->tcp)
			tcp_send(w, r->tcp, out, n);
		else
			udp_out_commit(w, r->udp, n, &r->src, r->ctl, r->ctl_len);
	}
	/* the rcode sent; for drop (nothing sent) the one the real answer had */
	int rcode = v->action == PACT_NXDOMAIN ? RCODE_NXDOMAIN
		    : v->action == PACT_REFUSE ? RCODE_REFUSED
		    : (v->action == PACT_DROP && e) ? e->rcode : RCODE_NOERROR;
	if (v->action != PACT_DROP)
		count_answer(w, r, !e ? ANS_LOCAL : kind_of(upstream),
			     v->action == PACT_STRIP && e ? e->rcode : rcode);
	qlog_note(w, r, l, rcode, upstream, v);
}

/* dnsmasq caches no answer to a query it added a MAC to, but it caches the others (its own, or
 * from clients off the link) and then serves them to every client, a blocked device included.
 * Said once per process, the first time it matters: a trusted forwarder asked without a MAC
 * for a name that some MAC client's rule blocks, and got the real answer. */
static atomic_bool forwarder_cache_warned;

static void warn_forwarder_cache(const struct policy *pol, const struct policy *ovl,
				 const struct request *r, const struct cache_entry *e,
				 const uint8_t *lname)
{
	const struct policy *lists[2] = { pol, ovl };

	for (int k = 0; k < 2; k++) {
		const struct policy *p = lists[k];
		for (unsigned i = 0; p && i < (p->index ? p->first_net : p->nclients); i++) {
			struct verdict v;
			bool trusted;
			if (!p->clients[i].by_mac)
				continue;
			/* the rule that MAC would really get from this forwarder (an overlay may win) */
			const struct client_rule *cr = policy_client(pol, ovl, &r->src.u.sa,
								     p->clients[i].mac, &trusted);
			if (!trusted)
				return;
			if (!policy_after(pol, ovl, cr, &r->src.u.sa, e->label, lname, r->q.qname_len, &v) ||
			    v.action == PACT_PASS)
				continue;
			if (atomic_exchange(&forwarder_cache_warned, true))
				return;
			char ip[INET6_ADDRSTRLEN] = "?", name[DNS_MAX_NAME * 4 + 1];
			if (r->src.u.sa.sa_family == AF_INET)
				inet_ntop(AF_INET, &r->src.u.sin.sin_addr, ip, sizeof(ip));
			else
				inet_ntop(AF_INET6, &r->src.u.sin6.sin6_addr, ip, sizeof(ip));
			log_warn("trusted forwarder %s asked for %s without a MAC option, and the rule of "
				 "client %02x:%02x:%02x:%02x:%02x:%02x blocks it: if the forwarder is dnsmasq, "
				 "set cache-size=0 there, or it serves this answer from its cache to that "
				 "client (said once)", ip, wire_name_str(lname, r->q.qname_len, name, sizeof(name)),
				 cr->mac[0], cr->mac[1], cr->mac[2], cr->mac[3], cr->mac[4], cr->mac[5]);
			return;
		}
	}
}

/* Answer r from e. upstream names where it came from (NULL: from the cache). */
static void server_respond(struct worker *w, struct request *r, const struct cache_entry *e,
			   const char *upstream)
{
	uint64_t now = uv_now(&w->loop);
	const struct policy *pol = &w->conf->policy, *ovl = w->dyn ? &w->dyn->p : NULL;
	struct verdict v;
	uint8_t lname[DNS_MAX_NAME];

	/* decided per client, on a hit as on a miss: one cached answer serves them all */
	memcpy(lname, r->q.qname, r->q.qname_len);
	wire_name_lower(lname, r->q.qname_len);
	bool mac_ok;
	const struct client_rule *cr = policy_client(pol, ovl, &r->src.u.sa, r->q.has_mac ? r->q.mac : NULL, &mac_ok);
	if (policy_after(pol, ovl, cr, &r->src.u.sa, e->label, lname, r->q.qname_len, &v) &&
	    !(v.action == PACT_TCP_ONLY && r->tcp)) {
		respond_verdict(w, r, &v, e, upstream);
		return;
	}
	/* cheap tests first: this runs only for trusted forwarders without a MAC, until it warned */
	if (!r->q.has_mac && pol->ntrusted && label_has_groups(e->label) &&
	    !atomic_load_explicit(&forwarder_cache_warned, memory_order_relaxed))
		warn_forwarder_cache(pol, ovl, r, e, lname);

	if (r->tcp) {
		size_t n = cache_write_answer(e, &r->q, now, DNS_MAX_MSG, (uint16_t)w->conf->max_udp_size,
					      w->scratch + 2);
		tcp_send(w, r->tcp, w->scratch + 2, n);
	} else {
		uint8_t *out = udp_out_slot(w, r->udp);
		size_t n = cache_write_answer(e, &r->q, now, udp_max_len(w->conf, &r->q),
					      (uint16_t)w->conf->max_udp_size, out);
		if (rd16(out + 2) & F_TC)
			wc_add(&w->st.truncated, 1);
		udp_out_commit(w, r->udp, n, &r->src, r->ctl, r->ctl_len);
	}
	count_answer(w, r, kind_of(upstream), e->rcode);
	qlog_note(w, r, e->label, e->rcode, upstream, &v);
}

static void server_respond_error(struct worker *w, struct request *r, int rcode)
{
	if (r->tcp) {
		size_t n = wire_write_error(&r->q, rcode, (uint16_t)w->conf->max_udp_size, w->scratch + 2);
		tcp_send(w, r->tcp, w->scratch + 2, n);
	} else {
		uint8_t *out = udp_out_slot(w, r->udp);
		size_t n = wire_write_error(&r->q, rcode, (uint16_t)w->conf->max_udp_size, out);
		udp_out_commit(w, r->udp, n, &r->src, r->ctl, r->ctl_len);
	}
	count_answer(w, r, ANS_ERROR, rcode);
	if (qlog_on(w)) {
		/* a client in mode off stays out of the log on errors too */
		struct verdict v;
		const struct policy *pol = &w->conf->policy, *ovl = w->dyn ? &w->dyn->p : NULL;
		policy_after(pol, ovl, policy_client(pol, ovl, &r->src.u.sa, r->q.has_mac ? r->q.mac : NULL, NULL),
			     NULL, NULL, r->q.qname, 0, &v);
		qlog_note(w, r, NULL, rcode, "", &v);
	}
}

static void server_request_done(struct worker *w, struct request *r)
{
	struct tcp_session *s = r->tcp;

	if (s) {
		s->inflight--;
		if (!s->closing && !s->reading && !w->draining &&
		    s->inflight < w->conf->tcp_max_queries)
			session_process(s); /* resume a connection paused at its query limit */
		else if (w->draining && !s->inflight)
			session_close(s);
		session_unref(s);
	}
	r->next = w->free_reqs;
	w->free_reqs = r;
	w->inflight--;
}

bool server_idle(const struct worker *w)
{
	return !w->inflight && !w->nsessions;
}

static struct request *request_get(struct worker *w)
{
	struct request *r = w->free_reqs;

	if (r)
		w->free_reqs = r->next;
	else if (!(r = malloc(sizeof(*r))))
		return NULL;
	w->inflight++;
	return r;
}

/* --- resolution: local answers and pending entries --- */

#define LOCAL_ZONE_TTL 300       /* seconds; the RFC's 10800 would outlive a reload by hours */

/* A name in a private zone that no upstream may see: the zone is served here, empty, through
 * the normal answer path (policy, statistics, query log with upstream "local"). Not cached, so
 * a [forward] zone added by a reload applies at once. */
static void answer_local(struct worker *w, struct request *r, const uint8_t *key, size_t keylen,
			 uint64_t hash, size_t zone_off)
{
	uint8_t pkt[SYNTH_MAX];
	struct dns_answer a;
	struct cache_entry *e = NULL;
	uint32_t ttl = w->conf->negative_ttl < LOCAL_ZONE_TTL ? w->conf->negative_ttl : LOCAL_ZONE_TTL;
	size_t len = synth_empty_zone(key, r->q.qname_len, r->q.qtype, r->q.qclass, r->q.flags,
				      zone_off, ttl, pkt);

	if (wire_parse_answer(pkt, len, key, r->q.qname_len, r->q.qtype, r->q.qclass, &a, w->ttl_off,
			      sizeof(w->ttl_off) / sizeof(w->ttl_off[0])) == 0)
		e = cache_entry_new(key, keylen, hash, pkt, len, &a, w->ttl_off, ttl, 0, w->conf->max_ttl,
				    uv_now(&w->loop));
	if (e)
		server_respond(w, r, e, "local");
	else
		server_respond_error(w, r, RCODE_SERVFAIL);
	server_request_done(w, r);
	cache_entry_free(e);
}

/* How long the cache keeps an answer. */
static uint32_t answer_ttl(const struct conf *c, const struct dns_answer *a)
{
	uint32_t t = a->min_ttl == UINT32_MAX ? 0 : a->min_ttl;

	if (a->rcode == RCODE_NXDOMAIN || (a->rcode == RCODE_NOERROR && a->ancount == 0)) {
		if (!a->has_soa)
			return 0; /* RFC 2308 5: no SOA, no negative caching */
		if (a->soa_ttl_min < t)
			t = a->soa_ttl_min;
		return t < c->negative_ttl ? t : c->negative_ttl;
	}
	if (a->rcode == RCODE_SERVFAIL)
		return c->servfail_ttl;
	if (a->rcode != RCODE_NOERROR)
		return 0;
	if (t < c->min_ttl)
		t = c->min_ttl;
	return t < c->max_ttl ? t : c->max_ttl;
}

/* The upstream transaction of pd ended (an upstream_cb): label the answer once, cache
 * it once, answer every waiter, free pd. */
static void pending_answered(void *arg, const uint8_t *pkt, size_t len, const struct dns_answer *a,
			     const char *upstream)
{
	struct pending *pd = arg;
	struct worker *w = pd->w;
	struct pending **pp = &w->dedup[pd->hash & w->dedup_mask];
	struct cache_entry *e = NULL;
	struct request *r, *next;
	bool stored;

	while (*pp && *pp != pd)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = pd->hnext;
	if (pkt)
		e = cache_entry_new(pd->key, pd->keylen, pd->hash, pkt, len, a, w->ttl_off,
				    answer_ttl(w->conf, a), a->rcode == RCODE_NOERROR ? w->conf->min_ttl : 0,
				    w->conf->max_ttl, uv_now(&w->loop));
	/* the label is computed once here, on the miss, and served with every hit */
	if (e && upstream && (a->rcode == RCODE_NOERROR || a->rcode == RCODE_NXDOMAIN) &&
	    (w->geo || groups_count(w->groups)))
		cache_entry_set_label(e, label_answer(pkt, len, a->question_end, a->ancount, pd->key,
						      pd->qname_len, w->geo, w->groups));
	stored = e && w->conf->cache_size && cache_store(w->cache, e) == 0;
	for (r = pd->waiters; r; r = next) {
		next = r->next;
		if (e)
			server_respond(w, r, e, upstream ? upstream : "");
		else
			server_respond_error(w, r, RCODE_SERVFAIL);
		server_request_done(w, r);
	}
	if (e && !stored)
		cache_entry_free(e);
	free(pd);
}

/* Resolve r's question: answer it here (a private zone), join the identical question in
 * flight, or start one. */
static void server_resolve(struct worker *w, struct request *r, const uint8_t *key, size_t keylen,
			   uint64_t hash)
{
	struct pending *pd;
	size_t b = hash & w->dedup_mask, zone_off = 0;

	if (upstream_is_local(w, key, r->q.qname_len, r->q.qclass, &zone_off)) {
		answer_local(w, r, key, keylen, hash, zone_off);
		return;
	}
	for (pd = w->dedup[b]; pd; pd = pd->hnext)
		if (pd->hash == hash && pd->keylen == keylen && !memcmp(pd->key, key, keylen)) {
			r->next = pd->waiters;
			pd->waiters = r;
			pd->nwaiters++;
			wc_add(&w->st.dedup_joins, 1);
			return;
		}
	if (!(pd = calloc(1, sizeof(*pd)))) {
		server_respond_error(w, r, RCODE_SERVFAIL);
		server_request_done(w, r);
		return;
	}
	pd->w = w;
	pd->hash = hash;
	pd->keylen = (uint16_t)keylen;
	pd->qname_len = r->q.qname_len;
	memcpy(pd->key, key, keylen);
	pd->waiters = r;
	pd->nwaiters = 1;
	r->next = NULL;
	pd->hnext = w->dedup[b];
	w->dedup[b] = pd;
	uquery_start(w, key, &r->q, pending_answered, pd); /* pd may be gone when it returns */
}

/* One query from a client, either transport. Answers at once (error, ACL, cache hit) or hands
 * a request to the upstream side. */
static void handle_query(struct worker *w, const uint8_t *pkt, size_t len, struct udp_listener *l,
			 struct tcp_session *s, const struct addr *src, const uint8_t *ctl,
			 size_t ctl_len, uint64_t now_ns)
{
	struct request tmp, *r;
	uint8_t key[DNS_MAX_NAME + 5];
	int rc;

	rc = wire_parse_query(pkt, len, &tmp.q);
	if (rc < 0) {
		wc_add(&w->st.dropped, 1);
		return;
	}
	/* an EDNS MAC is the client's identity only from a trusted forwarder: checked below */
	bool raw_mac = tmp.q.has_mac;
	tmp.q.has_mac = false;
	tmp.start_ns = now_ns;
	tmp.tcp = s;
	tmp.udp = l;
	tmp.src = *src;
	tmp.ctl_len = ctl_len;
	if (ctl_len)
		memcpy(tmp.ctl, ctl, ctl_len);
	if (!acl_permits(&w->conf->acl, &src->u.sa)) {
		server_respond_error(w, &tmp, RCODE_REFUSED);
		return;
	}
	if (rc != RCODE_NOERROR) {
		server_respond_error(w, &tmp, rc);
		return;
	}
	size_t keylen = wire_query_key(&tmp.q, key);
	/* QNAME rules act before resolution and save the upstream query; key starts with the
	 * lower-cased name */
	struct verdict v;
	const struct policy *pol = &w->conf->policy, *ovl = w->dyn ? &w->dyn->p : NULL;
	bool mac_ok;
	const struct client_rule *cr = policy_client(pol, ovl, &src->u.sa, raw_mac ? tmp.q.mac : NULL, &mac_ok);
	tmp.q.has_mac = mac_ok;
	if (policy_before(pol, ovl, cr, &src->u.sa, key, tmp.q.qname_len, &v) &&
	    !(v.action == PACT_TCP_ONLY && s)) { /* tcp-only: over TCP it is resolved as usual */
		respond_verdict(w, &tmp, &v, NULL, "");
		return;
	}
	uint64_t hash = hash_bytes(key, keylen, w->hash_seed);
	if (w->cache) {
		const struct cache_entry *e = cache_lookup(w->cache, key, keylen, hash, uv_now(&w->loop));
		if (e) {
			server_respond(w, &tmp, e, NULL);
			return;
		}
	}
	if (w->inflight >= w->conf->max_inflight || !(r = request_get(w))) {
		server_respond_error(w, &tmp, RCODE_SERVFAIL);
		return;
	}
	*r = tmp;
	if (s) {
		s->refs++;
		s->inflight++;
	}
	server_resolve(w, r, key, keylen, hash);
}

/* --- UDP input --- */

static void udp_on_readable(uv_poll_t *p, int status, int events)
{
	struct udp_listener *l = p->data;
	struct worker *w = l->w;
	int n;

	if (status < 0) {
		/* libuv stops the handle on EPOLLERR: clear the error and listen on */
		int err;
		socklen_t el = sizeof(err);
		getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (!w->draining)
			uv_poll_start(&l->poll, UV_READABLE, udp_on_readable);
		return;
	}
	for (unsigned i = 0; i < BATCH; i++) {
		struct msghdr *m = &w->rx_msg[i].msg_hdr;
		w->rx_iov[i].iov_base = w->rx_buf[i];
		w->rx_iov[i].iov_len = UDP_BUF;
		m->msg_name = &w->rx_addr[i].u.ss;
		m->msg_namelen = sizeof(w->rx_addr[i].u.ss);
		m->msg_iov = &w->rx_iov[i];
		m->msg_iovlen = 1;
		m->msg_control = l->pktinfo ? w->rx_ctl[i] : NULL;
		m->msg_controllen = l->pktinfo ? CTL_LEN : 0;
		m->msg_flags = 0;
	}
	n = recvmmsg(l->fd, w->rx_msg, BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	uint64_t now_ns = uv_hrtime(); /* once per batch: the latency starts here */
	wc_add(&w->st.udp_queries, (unsigned)n);
	for (int i = 0; i < n; i++) {
		struct msghdr *m = &w->rx_msg[i].msg_hdr;
		uint8_t ctl[CTL_LEN];
		size_t ctl_len = l->pktinfo ? reply_ctl(m, ctl) : 0;
		w->rx_addr[i].len = m->msg_namelen;
		if (m->msg_flags & MSG_TRUNC) {
			wc_add(&w->st.dropped, 1); /* larger than any query we take */
			continue;
		}
		handle_query(w, w->rx_buf[i], w->rx_msg[i].msg_len, l, NULL, &w->rx_addr[i], ctl, ctl_len,
			     now_ns);
	}
}

/* --- TCP input --- */

static void on_handle_closed(uv_handle_t *h)
{
	session_unref(h->data);
}

static void session_close(struct tcp_session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->w->nsessions--;
	uv_close((uv_handle_t *)&s->h, on_handle_closed);
	uv_close((uv_handle_t *)&s->idle, on_handle_closed);
}

static void on_idle(uv_timer_t *t)
{
	struct tcp_session *s = t->data;

	if (s->inflight)
		uv_timer_again(t); /* answers are still coming */
	else
		session_close(s);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct tcp_session *s = h->data;
	size_t want = s->rcap ? s->rcap : 512;

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

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

/* Answer every complete message in the buffer, up to the per-connection query limit. */
static void session_process(struct tcp_session *s)
{
	struct worker *w = s->w;
	size_t off = 0;
	uint64_t now_ns = uv_hrtime();

	while (!s->closing && s->rlen - off >= 2) {
		size_t mlen = rd16(s->rbuf + off);
		if (mlen < DNS_HDR) {
			session_close(s); /* no message to answer FORMERR to: RFC 7766 allows closing */
			return;
		}
		if (s->rlen - off < 2 + mlen)
			break;
		if (s->inflight >= w->conf->tcp_max_queries)
			break;
		wc_add(&w->st.tcp_queries, 1);
		handle_query(w, s->rbuf + off + 2, mlen, NULL, s, &s->peer, NULL, 0, now_ns);
		off += 2 + mlen;
		uv_timer_again(&s->idle); /* only whole messages count as activity */
	}
	if (s->closing)
		return;
	if (off) {
		memmove(s->rbuf, s->rbuf + off, s->rlen - off);
		s->rlen -= off;
	}
	bool want_read = s->inflight < w->conf->tcp_max_queries && !w->draining;
	if (want_read && !s->reading) {
		if (uv_read_start((uv_stream_t *)&s->h, on_alloc, on_read) == 0)
			s->reading = true;
	} else if (!want_read && s->reading) {
		uv_read_stop((uv_stream_t *)&s->h);
		s->reading = false;
	}
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_session *s = h->data;

	if (nread < 0) {
		/* EOF or error: answers still in flight are dropped when they arrive */
		session_close(s);
		return;
	}
	s->rlen += (size_t)nread;
	session_process(s);
}

static void on_connection(uv_stream_t *server, int status)
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
		uv_close((uv_handle_t *)&s->h, on_handle_closed);
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
	uv_timer_start(&s->idle, on_idle, w->conf->tcp_idle_timeout, w->conf->tcp_idle_timeout);
	session_process(s);
}

/* --- set-up and drain --- */

int server_open(struct worker *w)
{
	int rc;

	w->sessions.next = w->sessions.prev = &w->sessions;
	w->udp = calloc(w->nudp ? w->nudp : 1, sizeof(*w->udp));
	w->tcp_listen = calloc(w->ntcp_listen ? w->ntcp_listen : 1, sizeof(*w->tcp_listen));
	if (!w->udp || !w->tcp_listen)
		return UV_ENOMEM;
	for (unsigned i = 0; i < w->nudp; i++) {
		struct udp_listener *l = calloc(1, sizeof(*l));
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (!l)
			return UV_ENOMEM;
		w->udp[i] = l;
		l->w = w;
		l->fd = w->udp_fds[i];
		getsockname(l->fd, (struct sockaddr *)&ss, &sl);
		l->family = ss.ss_family;
		if (ss.ss_family == AF_INET)
			l->pktinfo = ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
		else
			l->pktinfo = !memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &in6addr_any,
					     sizeof(in6addr_any));
		if ((rc = uv_poll_init(&w->loop, &l->poll, l->fd)) < 0)
			return rc;
		l->poll.data = l;
		if ((rc = uv_poll_start(&l->poll, UV_READABLE, udp_on_readable)) < 0)
			return rc;
	}
	for (unsigned i = 0; i < w->ntcp_listen; i++) {
		uv_tcp_t *t = &w->tcp_listen[i];
		uv_tcp_init(&w->loop, t);
		t->data = w;
		if ((rc = uv_tcp_open(t, w->tcp_fds[i])) < 0)
			return rc;
		w->tcp_fds[i] = -1; /* libuv owns it now */
		if ((rc = uv_listen((uv_stream_t *)t, 256, on_connection)) < 0)
			return rc;
	}
	return 0;
}

void server_drain(struct worker *w)
{
	for (unsigned i = 0; i < w->nudp; i++)
		uv_poll_stop(&w->udp[i]->poll);
	for (unsigned i = 0; i < w->ntcp_listen; i++)
		if (!uv_is_closing((uv_handle_t *)&w->tcp_listen[i]))
			uv_close((uv_handle_t *)&w->tcp_listen[i], NULL);
	for (struct tcp_session *s = w->sessions.next, *next; s != &w->sessions; s = next) {
		next = s->next;
		if (!s->inflight)
			session_close(s);
		else if (s->reading) {
			uv_read_stop((uv_stream_t *)&s->h);
			s->reading = false;
		}
	}
}
