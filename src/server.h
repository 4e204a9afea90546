/* server.h - the client side of a worker: UDP and TCP listeners, the ACL, the policy, the
 * cache, the in-flight dedup of questions and the answers (the pipeline, not yet split from
 * its transports). */
#ifndef JD_SERVER_H
#define JD_SERVER_H

#include "wstate.h"

/* Start listening on w's listener fds (ownership passes to libuv). Returns 0 or a libuv error. */
int server_open(struct worker *w);
/* Stop taking queries: close listeners and idle sessions, let the rest finish. */
void server_drain(struct worker *w);
/* Send the UDP answers queued in this loop iteration (sendmmsg batches). */
void server_flush(struct worker *w);
/* True when nothing is left to answer: no request in flight and no TCP session open. */
bool server_idle(const struct worker *w);

#endif
