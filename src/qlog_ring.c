/* qlog_ring.c - the query log's per-worker single-producer ring (see qlog_ring.h). */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "label.h"
#include "qlog_ring.h"

int qlog_ring_init(struct qlog_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->buf = malloc(cap);
	if (!r->buf)
		return -1;
	r->cap = cap;
	return 0;
}

void qlog_ring_free(struct qlog_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

static size_t qlog_rec_size(size_t qname_len)
{
	return (sizeof(struct qlog_rec) + qname_len + 7) & ~(size_t)7;
}

struct qlog_rec *qlog_ring_reserve(struct qlog_ring *r, size_t qname_len)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t len = qlog_rec_size(qname_len), pos = head & (r->cap - 1), need = len;

	if (r->cap - pos < len)
		need += r->cap - pos; /* skip to the start */
	if (head - tail + need > r->cap) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return NULL;
	}
	if (r->cap - pos < len) {
		((struct qlog_rec *)(void *)(r->buf + pos))->len = 0; /* wrap marker */
		atomic_store_explicit(&r->head, head + (r->cap - pos), memory_order_release);
		pos = 0;
	}
	struct qlog_rec *rec = (struct qlog_rec *)(void *)(r->buf + pos);
	rec->len = (uint32_t)len;
	rec->qname_len = (uint8_t)qname_len;
	rec->label = NULL;           /* the pointers are never left to chance */
	rec->action = NULL;
	rec->transport = NULL;
	return rec;
}

bool qlog_ring_commit(struct qlog_ring *r, struct qlog_rec *rec)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed) + rec->len;
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->head, head, memory_order_release);
	if (head - tail > r->cap / 4 && !atomic_exchange_explicit(&r->notified, true, memory_order_relaxed))
		return true;
	return false;
}

size_t qlog_ring_consume(struct qlog_ring *r, void (*fn)(const struct qlog_rec *, void *), void *ctx)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t n = 0;

	atomic_store_explicit(&r->notified, false, memory_order_relaxed);
	while (tail < head) {
		size_t pos = tail & (r->cap - 1);
		struct qlog_rec *rec = (struct qlog_rec *)(void *)(r->buf + pos);
		if (rec->len == 0) { /* wrap marker */
			tail += r->cap - pos;
			continue;
		}
		if (fn)
			fn(rec, ctx);
		label_unref(rec->label);
		tail += rec->len;
		if ((++n & 1023) == 0) /* give room back early under load */
			atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	return n;
}

void qlog_ring_discard(struct qlog_ring *r)
{
	qlog_ring_consume(r, NULL, NULL);
}
