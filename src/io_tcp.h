/* io_tcp.h - the TCP client transport (RFC 7766): length-prefixed messages, pipelining,
 * answers in any order, a per-connection query limit, idle timeout and a connection limit.
 * It knows nothing of policy or caches: queries go to the pipeline. */
#ifndef JD_IO_TCP_H
#define JD_IO_TCP_H

#include <stdbool.h>
#include "wstate.h"

/* Start listening on w's TCP listener fds (ownership passes to libuv). Returns 0 or a libuv
 * error. */
int io_tcp_open(struct worker *w);
/* Stop taking connections and queries: close the listeners and idle sessions; the others
 * close once their last answer is out. */
void io_tcp_drain(struct worker *w);
/* True when no client connection is open. */
bool io_tcp_idle(const struct worker *w);

#endif
