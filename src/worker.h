/* worker.h - one worker thread: build, start, stop, and the snapshots the control thread hands
 * it. The struct is opaque here: its state is in wstate.h, which only the worker's own modules
 * include. The control thread reaches it through these functions alone: its counters, query-log
 * ring, finished statistics tables and exit flag. */
#ifndef JD_WORKER_H
#define JD_WORKER_H

#include <stdbool.h>
#include <uv.h>
#include "listen.h"

struct conf;
struct dynpol;
struct geo;
struct groups;
struct qlog_ring;
struct stats_table;
struct worker;
struct worker_stats;

/* Worker idx of n, not started, on configuration c (a reference is taken). on_exit: sent once
 * its thread has ended; qlog_wake: sent when its query-log ring fills up (both the control
 * loop's, and they must outlive the worker). NULL when out of memory. Free with worker_free. */
struct worker *worker_new(unsigned idx, unsigned n, struct conf *c, uv_async_t *on_exit,
			  uv_async_t *qlog_wake);
/* Hand the worker its listener sockets before it starts: the fds and arrays of s pass to the
 * worker (closed by its thread, or by worker_free if it never starts); s is left empty. */
void worker_set_listeners(struct worker *w, struct listen_set *s);

/* Start the worker's thread on the listeners it was given. Returns 0 or -errno. */
int worker_start(struct worker *w);
/* Ask the worker to finish in-flight queries and exit; then join it. */
void worker_stop(struct worker *w);
void worker_join(struct worker *w);
/* Hand the worker a new configuration (a reference is taken). */
void worker_reconfigure(struct worker *w, struct conf *c);
/* Hand the worker new GeoIP and group snapshots (references are taken; geo may be NULL). */
void worker_set_labels(struct worker *w, struct geo *geo, struct groups *groups);
/* The same before the worker starts (no wake-up). */
void worker_set_labels_initial(struct worker *w, struct geo *geo, struct groups *groups);
/* Hand the worker a new Redis policy overlay (a reference is taken; NULL = none). wake: false
 * before the worker starts. */
void worker_set_dynpol(struct worker *w, struct dynpol *d, bool wake);

/* The worker's live counters, for the control thread's /metrics (read them with wc_get; they
 * stay valid until worker_free). */
const struct worker_stats *worker_stats_of(const struct worker *w);
/* True once the worker's thread has ended (its on_exit was sent). */
bool worker_exited(const struct worker *w);
/* The worker's query-log ring, which the control thread drains (the worker keeps it). */
struct qlog_ring *worker_qlog(struct worker *w);
/* The per-client tables the worker has finished, a list through ->next (NULL: none). The caller
 * owns them until it gives each one back. */
struct stats_table *worker_take_stats(struct worker *w);
/* Give back an emptied table for the worker to count into again (freed if it has exited). */
void worker_give_stats(struct worker *w, struct stats_table *t);
/* Free a worker that never started, or whose thread has been joined, and all it still holds. */
void worker_free(struct worker *w);

#endif
