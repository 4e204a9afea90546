/* request.c - requests: a per-worker free list and reference counts. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "request.h"

struct request *request_new(struct request_pool *p, const struct transport *tp, void *ctx)
{
	struct request *r = p->free;

	if (r) {
		p->free = r->next;
		p->nfree--;
	} else if (!(r = malloc(sizeof(*r)))) {
		return NULL;
	}
	/* only the header: q is filled by the parser, id.addr and tp_priv by the transport */
	r->next = r->cprev = r->cnext = NULL;
	r->pool = p;
	r->refs = 1;
	r->detached = false;
	r->padded = false;
	r->tp = tp;
	r->ctx = ctx;
	r->start_ns = 0;
	r->id.has_mac = false;
	r->tp_len = 0;
	p->live++;
	return r;
}

struct request *request_ref(struct request *r)
{
	r->refs++;
	return r;
}

void request_unref(struct request *r)
{
	struct request_pool *p = r->pool;

	if (--r->refs)
		return;
	r->next = p->free;
	p->free = r;
	p->nfree++;
	p->live--;
}

void request_detach(struct request *r)
{
	r->detached = true;
	r->ctx = NULL;
	r->cprev = r->cnext = NULL;
}

void request_pool_clear(struct request_pool *p)
{
	for (struct request *r = p->free, *next; r; r = next) {
		next = r->next;
		free(r);
	}
	p->free = NULL;
	p->nfree = 0;
}
