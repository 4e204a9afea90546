/* worker.c - a worker thread: its loop, timers, configuration swaps and orderly shutdown.
 * The control thread talks to it only through two atomics and one uv_async. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "io_tcp.h"
#include "io_https.h"
#include "io_tls.h"
#include "io_udp.h"
#include "pipeline.h"
#include "upstream.h"
#include "worker.h"
#include "wstate.h"

static void worker_maybe_finish(struct worker *w);

static void on_timer(uv_timer_t *t);

static void worker_arm_timer(struct worker *w)
{
	uint64_t next = uquery_next_timer(w), now = uv_now(&w->loop);

	if (next == UINT64_MAX)
		uv_timer_stop(&w->timer);
	else
		uv_timer_start(&w->timer, on_timer, next > now ? next - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct worker *w = t->data;

	uquery_timer_run(w);
	worker_arm_timer(w);
	/* The check phase comes only after the next poll, which may block: send now. */
	upstream_flush(w);
	io_udp_flush(w);
	if (w->draining)
		worker_maybe_finish(w);
}

/* Once per loop iteration, after all I/O callbacks: send what they queued, in batches, and
 * arm the timer for transactions they started (their deadlines are FIFO: only an idle timer
 * needs it). Draining, this is where the worker sees that its last answer went out. */
static void on_check(uv_check_t *h)
{
	struct worker *w = h->data;

	upstream_flush(w);
	io_udp_flush(w);
	if (!uv_is_active((uv_handle_t *)&w->timer) && !w->closing)
		worker_arm_timer(w);
	if (w->draining)
		worker_maybe_finish(w);
}

static void close_cb_noop(uv_handle_t *h) {}

static void close_all(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, close_cb_noop);
}

static void worker_finish(struct worker *w)
{
	if (w->closing)
		return;
	w->closing = true;
	upstream_flush(w);
	io_udp_flush(w);
	upstreams_close(w);
	io_udp_flush(w);
	/* upstream and session handles close themselves; the rest closes here */
	io_udp_close(w);
	uv_close((uv_handle_t *)&w->async, close_cb_noop);
	uv_close((uv_handle_t *)&w->timer, close_cb_noop);
	uv_close((uv_handle_t *)&w->drain_timer, close_cb_noop);
	uv_close((uv_handle_t *)&w->stats_timer, close_cb_noop);
	uv_close((uv_handle_t *)&w->flush, close_cb_noop);
}

static void worker_maybe_finish(struct worker *w)
{
	if (w->draining && pipeline_idle(w) && io_tcp_idle(w) && io_tls_idle(w) &&
	    io_https_idle(w))
		worker_finish(w);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct worker *w = t->data;

	/* Every transaction has answered by `timeout`; this is the backstop. */
	uquery_abort_all(w);
	worker_finish(w);
}

static bool stats_wanted(const struct conf *c)
{
	return (c->stats.enabled && c->redis.address[0]) || c->stats.metrics_listen[0];
}

/* Hand the table of the last interval to the control thread and count into a fresh one. */
static void stats_publish(struct worker *w)
{
	if (!w->stats || !w->stats->used)
		return;
	stats_push(&w->stats_done, w->stats);
	if (!w->spare)
		w->spare = stats_take_all(&w->stats_free);
	if ((w->stats = w->spare))
		w->spare = w->stats->next;
	else if (!(w->stats = stats_table_new()))
		log_err("worker %u: out of memory for statistics; not counting", w->idx);
	if (w->stats)
		w->stats->keep_recent = w->conf->stats.recent > 0;
}

/* The cache's figures for /metrics (the cache itself is this thread's alone). */
static void cache_publish(struct worker *w)
{
	struct cache_stats cs;

	cache_get_stats(w->cache, &cs);
	wc_set(&w->st.cache_entries, cs.entries);
	wc_set(&w->st.cache_bytes, cs.bytes);
	wc_set(&w->st.cache_evictions, cs.evictions);
}

static void on_stats_timer(uv_timer_t *t)
{
	stats_publish(t->data);
	cache_publish(t->data);
}

static void stats_setup(struct worker *w)
{
	if (!stats_wanted(w->conf)) {
		stats_publish(w);
		free(w->stats); /* empty or published */
		w->stats = NULL;
		uv_timer_stop(&w->stats_timer);
		return;
	}
	if (!w->stats && !(w->stats = stats_table_new()))
		log_err("worker %u: out of memory for statistics; not counting", w->idx);
	if (w->stats)
		w->stats->keep_recent = w->conf->stats.recent > 0;
	uv_timer_start(&w->stats_timer, on_stats_timer, w->conf->stats.interval, w->conf->stats.interval);
}

static void apply_conf(struct worker *w, struct conf *c)
{
	conf_unref(w->conf);
	w->conf = c;
	cache_set_limit(w->cache, c->cache_size / w->nworkers);
	if (upstreams_apply(w) < 0)
		log_err("worker %u: out of memory applying the new upstreams", w->idx);
	stats_setup(w);
}

/* From the control thread: the loop takes the pending changes (or the stop) at its next turn;
 * nothing once the loop is closing (the changes are then dropped with the worker). */
static void worker_wake(struct worker *w)
{
	uv_mutex_lock(&w->wake_lock);
	if (w->wakeable)
		uv_async_send(&w->async);
	uv_mutex_unlock(&w->wake_lock);
}

static void worker_set_wakeable(struct worker *w, bool on)
{
	uv_mutex_lock(&w->wake_lock);
	w->wakeable = on;
	uv_mutex_unlock(&w->wake_lock);
}

void worker_set_labels(struct worker *w, struct geo *geo, struct groups *groups)
{
	geo_unref(atomic_exchange(&w->next_geo, geo_ref(geo)));
	groups_unref(atomic_exchange(&w->next_groups, groups_ref(groups)));
	atomic_store(&w->labels_pending, true);
	worker_wake(w);
}

void worker_set_labels_initial(struct worker *w, struct geo *geo, struct groups *groups)
{
	atomic_store(&w->next_geo, geo_ref(geo));
	atomic_store(&w->next_groups, groups_ref(groups));
	atomic_store(&w->labels_pending, true);
}

void worker_set_dynpol(struct worker *w, struct dynpol *d, bool wake)
{
	dynpol_unref(atomic_exchange(&w->next_dyn, dynpol_ref(d)));
	atomic_store(&w->dyn_pending, true);
	if (wake)
		worker_wake(w);
}

static void apply_dynpol(struct worker *w)
{
	if (!atomic_exchange(&w->dyn_pending, false))
		return;
	dynpol_unref(w->dyn);
	w->dyn = atomic_exchange(&w->next_dyn, NULL);
}

static void apply_labels(struct worker *w)
{
	if (!atomic_exchange(&w->labels_pending, false))
		return;
	struct groups *g = atomic_exchange(&w->next_groups, NULL);
	geo_unref(w->geo);
	w->geo = atomic_exchange(&w->next_geo, NULL);
	if (g) {
		groups_unref(w->groups);
		w->groups = g;
	}
}

static void on_async(uv_async_t *h)
{
	struct worker *w = h->data;
	struct conf *c = atomic_exchange(&w->next_conf, NULL);

	if (c)
		apply_conf(w, c);
	apply_labels(w);
	apply_dynpol(w);
	if (atomic_load(&w->stop) && !w->draining) {
		w->draining = true;
		io_udp_drain(w);
		io_tcp_drain(w);
		io_tls_drain(w);
		io_https_drain(w);
		uv_timer_start(&w->drain_timer, on_drain_timeout, w->conf->timeout + 500, 0);
		worker_maybe_finish(w);
	}
}

static int worker_init(struct worker *w)
{
	int rc;

	if ((rc = uv_loop_init(&w->loop)) < 0)
		return rc;
	if ((rc = prng_seed(&w->rng)) < 0)
		return rc;
	w->hash_seed = prng_next(&w->rng);
	w->cache = cache_new(w->conf->cache_size / w->nworkers, w->hash_seed);
	w->pend_mask = (1u << 16) - 1;
	w->pend = calloc(w->pend_mask + 1, sizeof(*w->pend));
	w->uq_free.max = w->pd_free.max = 1024;
	w->dedup_mask = (1u << 14) - 1;
	w->dedup = calloc(w->dedup_mask + 1, sizeof(*w->dedup));
	if (!w->cache || !w->pend || !w->dedup)
		return UV_ENOMEM;
	apply_labels(w);
	apply_dynpol(w);
	if (!w->groups && !(w->groups = groups_empty()))
		return UV_ENOMEM;
	w->deadlines.dnext = w->deadlines.dprev = &w->deadlines;
	w->failovers.fnext = w->failovers.fprev = &w->failovers;
	uv_async_init(&w->loop, &w->async, on_async);
	uv_timer_init(&w->loop, &w->timer);
	uv_timer_init(&w->loop, &w->drain_timer);
	uv_check_init(&w->loop, &w->flush);
	uv_timer_init(&w->loop, &w->stats_timer);
	w->async.data = w->timer.data = w->drain_timer.data = w->flush.data = w->stats_timer.data = w;
	stats_setup(w);
	uv_check_start(&w->flush, on_check);
	if ((rc = io_udp_open(w)) < 0 || (rc = io_tcp_open(w)) < 0 || (rc = io_tls_open(w)) < 0 ||
	    (rc = io_https_open(w)) < 0)
		return rc;
	return upstreams_apply(w);
}

static uv_sem_t started;

static void worker_main(void *arg)
{
	struct worker *w = arg;
	int rc = worker_init(w);

	w->exit_code = rc;
	if (rc == 0)
		worker_set_wakeable(w, true);
	uv_sem_post(&started);
	if (rc == 0)
		uv_run(&w->loop, UV_RUN_DEFAULT);
	/* close whatever is left (everything, after a failed start), then let callbacks run */
	uv_walk(&w->loop, close_all, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	worker_set_wakeable(w, false);
	uv_loop_close(&w->loop);
	for (unsigned i = 0; i < w->nudp; i++) {
		close(w->udp_fds[i]);
		free(w->udp ? w->udp[i] : NULL);
	}
	for (unsigned i = 0; i < w->ntcp_listen; i++)
		if (w->tcp_fds[i] >= 0)
			close(w->tcp_fds[i]);
	for (unsigned i = 0; i < w->ntls_listen; i++)
		if (w->tls_fds[i] >= 0)
			close(w->tls_fds[i]);
	io_tls_free(w);
	for (unsigned i = 0; i < w->nhttps_listen; i++)
		if (w->https_fds[i] >= 0)
			close(w->https_fds[i]);
	io_https_free(w);
	request_pool_clear(&w->reqs);
	freelist_clear(&w->uq_free);
	freelist_clear(&w->pd_free);
	/* the last counts go to the control thread, which flushes them after every worker ended */
	if (w->stats && w->stats->used)
		stats_push(&w->stats_done, w->stats);
	else
		free(w->stats);
	w->stats = NULL;
	for (struct stats_table *t = w->spare, *next; t; t = next) {
		next = t->next;
		free(t);
	}
	w->spare = NULL;
	cache_free(w->cache);
	free(w->pend);
	free(w->dedup);
	free(w->udp);
	free(w->tcp_listen);
	conf_unref(w->conf);
	conf_unref(atomic_exchange(&w->next_conf, NULL));
	w->conf = NULL;
	geo_unref(w->geo);
	geo_unref(atomic_exchange(&w->next_geo, NULL));
	groups_unref(w->groups);
	groups_unref(atomic_exchange(&w->next_groups, NULL));
	dynpol_unref(w->dyn);
	dynpol_unref(atomic_exchange(&w->next_dyn, NULL));
	w->dyn = NULL;
	w->geo = NULL;
	w->groups = NULL;
	atomic_store(&w->exited, true);
	if (w->on_exit)
		uv_async_send(w->on_exit);
}

int worker_start(struct worker *w)
{
	int rc;

	if (w->idx == 0 && uv_sem_init(&started, 0) < 0)
		return UV_ENOMEM;
	if ((rc = uv_thread_create(&w->thread, worker_main, w)) < 0)
		return rc;
	w->thread_started = true;
	uv_sem_wait(&started);
	return w->exit_code;
}

void worker_stop(struct worker *w)
{
	atomic_store(&w->stop, true);
	worker_wake(w);
}

void worker_join(struct worker *w)
{
	uv_thread_join(&w->thread);
}

void worker_reconfigure(struct worker *w, struct conf *c)
{
	struct conf *old = atomic_exchange(&w->next_conf, conf_ref(c));

	conf_unref(old);
	worker_wake(w);
}

const struct worker_stats *worker_stats_of(const struct worker *w)
{
	return &w->st;
}

/* --- building and taking apart a worker (the control thread) --- */

#define WORKER_QLOG_RING (8u << 20)  /* bytes of query-log records between two drains */

struct worker *worker_new(unsigned idx, unsigned n, struct conf *c, uv_async_t *on_exit,
			  uv_async_t *qlog_wake)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if (qlog_ring_init(&w->qlog, WORKER_QLOG_RING) < 0) {
		free(w);
		return NULL;
	}
	w->idx = idx;
	w->nworkers = n;
	w->conf = conf_ref(c);
	w->on_exit = on_exit;
	w->qlog_wake = qlog_wake;
	uv_mutex_init(&w->wake_lock);
	return w;
}

void worker_set_listeners(struct worker *w, struct listen_set *s)
{
	free(w->udp_fds);
	free(w->tcp_fds);
	free(w->tls_fds);
	w->tls_fds = s->fds[LISTEN_TLS];
	w->ntls_listen = s->n[LISTEN_TLS];
	free(w->https_fds);
	w->https_fds = s->fds[LISTEN_HTTPS];
	w->nhttps_listen = s->n[LISTEN_HTTPS];
	w->udp_fds = s->fds[LISTEN_UDP];
	w->nudp = s->n[LISTEN_UDP];
	w->tcp_fds = s->fds[LISTEN_TCP];
	w->ntcp_listen = s->n[LISTEN_TCP];
	memset(s, 0, sizeof(*s));
}

bool worker_exited(const struct worker *w)
{
	return atomic_load(&w->exited);
}

struct qlog_ring *worker_qlog(struct worker *w)
{
	return &w->qlog;
}

struct stats_table *worker_take_stats(struct worker *w)
{
	return stats_take_all(&w->stats_done);
}

void worker_give_stats(struct worker *w, struct stats_table *t)
{
	if (atomic_load(&w->exited))
		free(t);
	else
		stats_push(&w->stats_free, t);
}

static void worker_free_tables(struct stats_table *t)
{
	for (struct stats_table *next; t; t = next) {
		next = t->next;
		free(t);
	}
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	/* a thread that ran has closed its sockets and dropped its references itself */
	if (!w->thread_started) {
		for (unsigned k = 0; k < w->nudp; k++)
			close(w->udp_fds[k]);
		for (unsigned k = 0; k < w->ntcp_listen; k++)
			if (w->tcp_fds[k] >= 0)
				close(w->tcp_fds[k]);
		for (unsigned k = 0; k < w->ntls_listen; k++)
			if (w->tls_fds[k] >= 0)
				close(w->tls_fds[k]);
		for (unsigned k = 0; k < w->nhttps_listen; k++)
			if (w->https_fds[k] >= 0)
				close(w->https_fds[k]);
		conf_unref(w->conf);
	}
	/* and what the control thread handed over after the thread had let go of its own */
	conf_unref(atomic_exchange(&w->next_conf, NULL));
	geo_unref(atomic_exchange(&w->next_geo, NULL));
	groups_unref(atomic_exchange(&w->next_groups, NULL));
	dynpol_unref(atomic_exchange(&w->next_dyn, NULL));
	qlog_ring_discard(&w->qlog); /* its records hold label references */
	qlog_ring_free(&w->qlog);
	free(w->udp_fds);
	free(w->tcp_fds);
	free(w->tls_fds);
	free(w->https_fds);
	worker_free_tables(stats_take_all(&w->stats_done));
	worker_free_tables(stats_take_all(&w->stats_free));
	uv_mutex_destroy(&w->wake_lock);
	free(w);
}
