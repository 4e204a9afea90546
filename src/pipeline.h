/* pipeline.h - one query's way through a worker: identity -> decide (before resolution) ->
 * cache -> upstream (one pending entry per question) -> label once -> decide (after, per
 * client) -> answer through the client's transport -> count and log. Transports call in with
 * bytes; answers go out through their vtable (transport.h). */
#ifndef JD_PIPELINE_H
#define JD_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include "request.h"
#include "wstate.h"

/* One query from a client: pkt (len bytes, read during this call only) on r, which its
 * transport took from w->reqs and filled (tp, ctx, id.addr, start_ns, tp_priv). The pipeline
 * takes over the caller's reference. It answers at once (error, ACL, policy, cache hit) or
 * when the upstream transaction ends; either way it calls r->tp->done once unless detached. */
void pipeline_query(struct worker *w, struct request *r, const uint8_t *pkt, size_t len);
/* True when no request is live (a drain may finish once the transports are idle too). */
bool pipeline_idle(const struct worker *w);

#endif
