/* pipeline.c - one query's way through a worker, whatever transport it came by: the ACL and
 * the client's identity, the policy before resolution, the cache-hit path (which neither
 * allocates nor talks upstream), names answered here, and on a miss one pending entry per
 * question: one upstream transaction, whose answer is labelled and cached once and then
 * decided per waiting client. The only caller of policy, cache, upstream, label, synth, stats
 * and qlog for a query; it never touches a socket (the transport's vtable does). */
#include "config.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "identity.h"
#include "log.h"
#include "pipeline.h"
#include "special.h"
#include "synth.h"
#include "upstream.h"

/* --- counting and the query log --- */

/* The console's live feed ([web] listen) reads the same records, so it turns them on too. */
static bool pipe_qlog_on(const struct worker *w)
{
	return (w->conf->query_log[0] || w->conf->web.nlisten) && w->conf->qlog_mode != QLOG_NONE;
}

/* Count the answer to r in the statistics, and append a record for it to the worker's ring
 * (the writer on the control thread formats it). upstream: the name for the log (NULL: "") */
static void pipe_note(struct worker *w, const struct request *r, struct label *l, int rcode,
		      enum answer_kind kind, const char *upstream, const struct verdict *v)
{
	struct qlog_rec *rec;
	struct timespec ts;
	bool cached = kind == ANS_HIT;

	if (w->stats)
		stats_count(w->stats, v ? v->mode : w->conf->policy.default_mode, &r->id.addr.u.sa,
			    r->id.has_mac ? r->id.mac : NULL, l, r->q.qname, r->q.qname_len, cached,
			    v ? v->action : PACT_PASS);
	/* a client in mode off is counted in totals only, never logged by name */
	if (!pipe_qlog_on(w) || (v && v->mode == PMODE_OFF) ||
	    ((w->conf->qlog_mode == QLOG_LABELLED || !w->conf->query_log[0]) && !label_has_groups(l) &&
	     (!v || v->action == PACT_PASS)))
		return;
	if (!(rec = qlog_ring_reserve(&w->qlog, r->q.qname_len)))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	rec->ts_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	rec->qtype = r->q.qtype;
	rec->rcode = (uint8_t)rcode;
	rec->cached = cached;
	rec->latency_us = r->start_ns ? (uint32_t)((uv_hrtime() - r->start_ns) / 1000) : 0;
	rec->has_mac = r->id.has_mac;
	memcpy(rec->mac, r->id.mac, 6);
	rec->client = r->id.addr;
	snprintf(rec->upstream_name, sizeof(rec->upstream_name), "%s", upstream ? upstream : "");
	rec->label = label_ref(l);
	rec->action = policy_action_name(v ? v->action : PACT_PASS);
	rec->transport = r->tp ? r->tp->kind_name : NULL;
	const char *name = v && v->client_name && v->client_name[0]
				   ? v->client_name
				   : dynpol_lease_name(w->dyn, &r->id.addr.u.sa);
	snprintf(rec->name, sizeof(rec->name), "%s", name ? name : "");
	memcpy(rec->qname, r->q.qname, r->q.qname_len);
	wire_name_lower(rec->qname, r->q.qname_len);
	if (qlog_ring_commit(&w->qlog, rec) && w->qlog_wake)
		uv_async_send(w->qlog_wake);
}

/* Count an answer handed to the transport: its rcode, and its latency since the read batch the
 * query came in until now, or for an upstream answer until its read batch (read once for the
 * batch: a vDSO call saved per miss). */
static void pipe_count(struct worker *w, const struct request *r, enum answer_kind k, int rcode)
{
	static const uint32_t bounds_us[ANSWER_NBUCKETS - 1] = { ANSWER_BUCKETS_US };
	uint64_t ns = (w->up_rx_ns ? w->up_rx_ns : uv_hrtime()) - r->start_ns;
	unsigned b = 0;

	while (b < ANSWER_NBUCKETS - 1 && ns > (uint64_t)bounds_us[b] * 1000)
		b++;
	wc_add(&w->st.latency[k][b], 1);
	wc_add(&w->st.latency_sum_ns[k], ns);
	wc_add(&w->st.rcodes[rcode >= 0 && rcode < ANSWER_RCODES - 1 ? rcode : ANSWER_RCODES - 1], 1);
}

/* The pipeline is done with r: its transport drops its hold, then r goes back to the pool. */
static void pipe_finish(struct request *r)
{
	if (!r->detached && r->tp->done)
		r->tp->done(r);
	request_unref(r);
}

/* --- answering --- */

/* Answer r as the policy says instead of with the real answer e (or not at all: drop). kind:
 * where e came from (an answer made here without e is ANS_LOCAL). */
static void respond_verdict(struct worker *w, struct request *r, const struct verdict *v,
			    const struct cache_entry *e, enum answer_kind kind, const char *upstream)
{
	struct label *l = e ? e->label : NULL;

	if (v->action != PACT_DROP && !r->detached) {
		uint8_t *out = r->tp->answer_buf(r);
		uint16_t our = (uint16_t)w->conf->max_udp_size;
		size_t n = 0;
		if (v->action == PACT_TCP_ONLY) {
			/* datagrams only get here: an empty answer with TC=1 sends the client to TCP */
			n = wire_write_error(&r->q, RCODE_NOERROR, our, out);
			wr16(out + 2, (uint16_t)(rd16(out + 2) | F_TC));
		} else if (v->action == PACT_STRIP && e) {
			n = synth_strip(e, &r->q, &w->conf->policy, v, uv_now(&w->loop), our, out,
					r->tp->max_answer(r));
			if (!n) { /* does not fit the client's size: TC=1, the client asks over TCP */
				n = wire_write_error(&r->q, e->rcode, our, out);
				wr16(out + 2, (uint16_t)(rd16(out + 2) | F_TC));
			}
		} else {
			struct verdict sv = *v;
			if (sv.action == PACT_STRIP) /* no answer to strip (a deny rule): NODATA */
				sv.action = PACT_NODATA;
			n = synth_answer(&r->q, &w->conf->policy, &sv, our, out);
		}
		r->tp->send(r, out, n);
	}
	/* the rcode sent; for drop (nothing sent) the one the real answer had */
	int rcode = v->action == PACT_NXDOMAIN ? RCODE_NXDOMAIN
		    : v->action == PACT_REFUSE ? RCODE_REFUSED
		    : (v->action == PACT_DROP && e) ? e->rcode : RCODE_NOERROR;
	if (v->action != PACT_DROP)
		pipe_count(w, r, !e ? ANS_LOCAL : kind, v->action == PACT_STRIP && e ? e->rcode : rcode);
	pipe_note(w, r, l, rcode, e ? kind : ANS_LOCAL, upstream, v);
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
			const struct client_rule *cr = policy_client(pol, ovl, &r->id.addr.u.sa,
								     p->clients[i].mac, &trusted);
			if (!trusted)
				return;
			if (!policy_after(pol, ovl, cr, &r->id.addr.u.sa, e->label, lname, r->q.qname_len,
					  &v) ||
			    v.action == PACT_PASS)
				continue;
			if (atomic_exchange(&forwarder_cache_warned, true))
				return;
			char ip[IDENTITY_TEXT_MAX], mac[IDENTITY_TEXT_MAX], name[DNS_MAX_NAME * 4 + 1];
			identity_str(&(struct identity){ .addr = r->id.addr }, ip, sizeof(ip));
			identity_text(cr->mac, NULL, mac, sizeof(mac));
			log_warn("trusted forwarder %s asked for %s without a MAC option, and the rule of "
				 "client %s blocks it: if the forwarder is dnsmasq, set cache-size=0 there, "
				 "or it serves this answer from its cache to that client (said once)", ip,
				 wire_name_str(lname, r->q.qname_len, name, sizeof(name)), mac);
			return;
		}
	}
}

/* Answer r from e. kind: where e came from; upstream: its name for the log (NULL: a hit). */
static void pipe_answer(struct worker *w, struct request *r, const struct cache_entry *e,
			enum answer_kind kind, const char *upstream)
{
	const struct policy *pol = &w->conf->policy, *ovl = w->dyn ? &w->dyn->p : NULL;
	struct verdict v;
	uint8_t lname[DNS_MAX_NAME];

	/* decided per client, on a hit as on a miss: one cached answer serves them all */
	memcpy(lname, r->q.qname, r->q.qname_len);
	wire_name_lower(lname, r->q.qname_len);
	const struct client_rule *cr = policy_client(pol, ovl, &r->id.addr.u.sa,
						     r->id.has_mac ? r->id.mac : NULL, NULL);
	if (policy_after(pol, ovl, cr, &r->id.addr.u.sa, e->label, lname, r->q.qname_len, &v) &&
	    !(v.action == PACT_TCP_ONLY && r->tp->stream)) {
		respond_verdict(w, r, &v, e, kind, upstream);
		return;
	}
	/* cheap tests first: this runs only for trusted forwarders without a MAC, until it warned */
	if (!r->id.has_mac && pol->ntrusted && label_has_groups(e->label) &&
	    !atomic_load_explicit(&forwarder_cache_warned, memory_order_relaxed))
		warn_forwarder_cache(pol, ovl, r, e, lname);

	if (!r->detached) {
		uint8_t *out = r->tp->answer_buf(r);
		size_t n = cache_write_answer(e, &r->q, uv_now(&w->loop), r->tp->max_answer(r),
					      (uint16_t)w->conf->max_udp_size, out);
		if (rd16(out + 2) & F_TC) /* only a datagram transport's size makes this */
			wc_add(&w->st.truncated, 1);
		r->tp->send(r, out, n);
	}
	pipe_count(w, r, kind, e->rcode);
	pipe_note(w, r, e->label, e->rcode, kind, upstream, &v);
}

static void pipe_error(struct worker *w, struct request *r, int rcode)
{
	if (!r->detached) {
		uint8_t *out = r->tp->answer_buf(r);
		size_t n = wire_write_error(&r->q, rcode, (uint16_t)w->conf->max_udp_size, out);
		r->tp->send(r, out, n);
	}
	pipe_count(w, r, ANS_ERROR, rcode);
	if (pipe_qlog_on(w)) {
		/* a client in mode off stays out of the log on errors too */
		struct verdict v;
		const struct policy *pol = &w->conf->policy, *ovl = w->dyn ? &w->dyn->p : NULL;
		policy_after(pol, ovl,
			     policy_client(pol, ovl, &r->id.addr.u.sa, r->id.has_mac ? r->id.mac : NULL,
					   NULL),
			     NULL, NULL, r->q.qname, 0, &v);
		pipe_note(w, r, NULL, rcode, ANS_ERROR, "", &v);
	}
}

bool pipeline_idle(const struct worker *w)
{
	return !w->reqs.live;
}

/* --- resolution: pending entries --- */

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

/* The upstream transaction of pd ended (an upstream_cb): label the answer once, cache it
 * once, answer every waiter (a detached one is counted and logged, not written), free pd. */
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
			pipe_answer(w, r, e, ANS_MISS, upstream ? upstream : "");
		else
			pipe_error(w, r, RCODE_SERVFAIL);
		pipe_finish(r);
	}
	if (e && !stored)
		cache_entry_free(e);
	freelist_put(&w->pd_free, pd);
}

/* Resolve r's question: join the identical question in flight, or start one. */
static void pipe_resolve(struct worker *w, struct request *r, const uint8_t *key, size_t keylen,
			 uint64_t hash)
{
	struct pending *pd;
	size_t b = hash & w->dedup_mask;

	for (pd = w->dedup[b]; pd; pd = pd->hnext)
		if (pd->hash == hash && pd->keylen == keylen && !memcmp(pd->key, key, keylen)) {
			r->next = pd->waiters;
			pd->waiters = r;
			pd->nwaiters++;
			wc_add(&w->st.dedup_joins, 1);
			return;
		}
	if (!(pd = freelist_get(&w->pd_free, sizeof(*pd)))) { /* every field is set below */
		pipe_error(w, r, RCODE_SERVFAIL);
		pipe_finish(r);
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

/* --- the way in --- */

void pipeline_query(struct worker *w, struct request *r, const uint8_t *pkt, size_t len)
{
	uint8_t key[DNS_MAX_NAME + 5];
	int rc = wire_parse_query(pkt, len, &r->q);

	if (rc < 0) {
		wc_add(&w->st.dropped, 1);
		pipe_finish(r);
		return;
	}
	/* identity: an EDNS MAC is the client's only from a trusted forwarder (checked below) */
	r->id.has_mac = false;
	if (!acl_permits(&w->conf->acl, &r->id.addr.u.sa)) {
		pipe_error(w, r, RCODE_REFUSED);
		pipe_finish(r);
		return;
	}
	if (rc != RCODE_NOERROR) {
		pipe_error(w, r, rc);
		pipe_finish(r);
		return;
	}
	size_t keylen = wire_query_key(&r->q, key);
	/* decide: QNAME rules act before resolution and save the upstream query; key starts with
	 * the lower-cased name */
	struct verdict v;
	const struct policy *pol = &w->conf->policy, *ovl = w->dyn ? &w->dyn->p : NULL;
	bool mac_ok;
	const struct client_rule *cr = policy_client(pol, ovl, &r->id.addr.u.sa,
						     r->q.has_mac ? r->q.mac : NULL, &mac_ok);
	if (mac_ok) {
		r->id.has_mac = true;
		memcpy(r->id.mac, r->q.mac, 6);
	}
	if (policy_before(pol, ovl, cr, &r->id.addr.u.sa, key, r->q.qname_len, &v) &&
	    !(v.action == PACT_TCP_ONLY && r->tp->stream)) { /* tcp-only: a stream resolves as usual */
		respond_verdict(w, r, &v, NULL, ANS_LOCAL, "");
		pipe_finish(r);
		return;
	}
	uint64_t hash = hash_bytes(key, keylen, w->hash_seed);
	if (w->cache && !special_before_cache(w->conf, key, r->q.qname_len)) {
		const struct cache_entry *e = cache_lookup(w->cache, key, keylen, hash, uv_now(&w->loop));
		if (e) {
			pipe_answer(w, r, e, ANS_HIT, NULL);
			pipe_finish(r);
			return;
		}
	}
	struct cache_entry *se;
	switch (special_answer(w, &r->q, key, keylen, hash, &se)) {
	case SPECIAL_ANSWER:
		pipe_answer(w, r, se, ANS_LOCAL, "local");
		pipe_finish(r);
		cache_entry_free(se);
		return;
	case SPECIAL_FAILED:
		pipe_error(w, r, RCODE_SERVFAIL);
		pipe_finish(r);
		return;
	case SPECIAL_NONE:
		break;
	}
	/* r itself is live: more than max_inflight live means max_inflight others wait already */
	if (w->reqs.live > w->conf->max_inflight) {
		pipe_error(w, r, RCODE_SERVFAIL);
		pipe_finish(r);
		return;
	}
	pipe_resolve(w, r, key, keylen, hash);
}
