/* worker.h - one worker thread: start, stop, and the snapshots the control thread hands it.
 * The thread's state is in wstate.h; the control thread reads only its counters, query log
 * ring and exit flag. */
#ifndef JD_WORKER_H
#define JD_WORKER_H

#include "wstate.h"

/* Start a worker thread on the given listener fds (ownership passes). Returns 0 or -errno. */
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

#endif
