/* request.h - one query's life, from the transport that read it to its answer (or to the
 * upstream answer of a client that went away). A request owns its buffers (no allocation per
 * query: requests come from a per-worker free list) and is refcounted: the pipeline holds one
 * reference until it is done, a stream transport one while the request is on its connection's
 * list. When the client goes away first, the transport detaches the request: its answer is
 * still cached, labelled and counted, but nothing is written to the closed connection. */
#ifndef JD_REQUEST_H
#define JD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "identity.h"
#include "transport.h"
#include "wire.h"

#define REQUEST_TP_PRIV 64           /* the transport's own bytes (UDP: an in6_pktinfo cmsg) */

/* A worker's requests: taken, and given back when their last reference goes. */
struct request_pool {
	struct request *free;        /* LIFO: the most recently used (cache-warm) first */
	unsigned nfree;
	unsigned live;               /* taken and not back yet */
};

struct request {
	struct request *next;        /* its pending entry's waiters, or the pool's free list */
	struct request *cprev, *cnext; /* its connection's in-flight list (stream transports) */
	struct request_pool *pool;
	unsigned refs;
	bool detached;               /* its client went away: ctx is NULL, tp is never called */
	bool padded;                 /* the query came padded (EDNS padding, DoT/DoH: issue 11) */
	const struct transport *tp;  /* kept once detached: its kind still names the transport */
	void *ctx;                   /* the transport's connection or listener */
	uint64_t start_ns;           /* uv_hrtime() when its read batch arrived */
	struct identity id;          /* id.addr filled by the transport, the MAC by the pipeline */
	uint16_t tp_len;
	_Alignas(max_align_t) uint8_t tp_priv[REQUEST_TP_PRIV]; /* aligned: it holds a cmsghdr */
	struct dns_query q;
};

/* A request from p with one reference (the caller's), fields zeroed but the buffers, tp and
 * ctx set. NULL when out of memory. Allocates only when the free list is empty. */
struct request *request_new(struct request_pool *p, const struct transport *tp, void *ctx);
/* Take one more reference. Returns r. */
struct request *request_ref(struct request *r);
/* Drop a reference; at the last one r goes back to its pool's free list. */
void request_unref(struct request *r);
/* r's client went away (its connection closed): forget the connection. Idempotent. The
 * caller drops the reference it held for the connection itself. */
void request_detach(struct request *r);
/* Free every request on p's free list (the worker's end). Requests still live are not
 * touched; there are none once the loop has ended. */
void request_pool_clear(struct request_pool *p);

#endif
