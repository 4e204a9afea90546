/* qlog_ring.h - the query log's per-worker ring: a worker appends compact binary records to its
 * own single-producer ring (no lock, no system call, labels shared by reference); the control
 * thread consumes them (qlog_write.h). A full ring drops records and counts them. */
#ifndef JD_QLOG_RING_H
#define JD_QLOG_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "label.h"

/* Which queries a worker records ([log] query_log_mode). */
enum qlog_mode { QLOG_ALL = 0, QLOG_LABELLED = 1, QLOG_NONE = 2 };

/* One query as the worker saw it; the label (if any) holds a reference owned by the record. */
struct qlog_rec {
	uint32_t len;                /* bytes of the record, 8-aligned; 0 = wrap marker */
	uint16_t qtype;
	uint8_t rcode;
	uint8_t cached;
	uint64_t ts_ms;              /* wall clock */
	uint32_t latency_us;
	uint8_t qname_len;
	uint8_t mac[6];
	bool has_mac;
	struct addr client;
	char upstream_name[48];
	struct label *label;
	const char *action;          /* a static string: "pass", "sinkhole"... */
	const char *transport;       /* static: the transport's kind_name, "udp", "tcp", "dot" */
	char name[64];               /* the client's name (policy, else DHCP), "" when none */
	uint8_t qname[];             /* lower-case wire name */
};

struct qlog_ring {
	_Atomic uint64_t head;       /* bytes written, producer */
	_Atomic uint64_t tail;       /* bytes consumed, consumer */
	_Atomic uint64_t dropped;
	atomic_bool notified;
	size_t cap;                  /* power of two */
	uint8_t *buf;
};

/* An empty ring of cap bytes (a power of two). Returns 0, or -1 out of memory. */
int qlog_ring_init(struct qlog_ring *r, size_t cap);
/* Free the buffer (records still in it must have been consumed or discarded). */
void qlog_ring_free(struct qlog_ring *r);

/* Worker side: reserve room for a record with a qname of qname_len bytes. Returns NULL when the
 * ring is full (the drop is counted). Fill it, then qlog_ring_commit. */
struct qlog_rec *qlog_ring_reserve(struct qlog_ring *r, size_t qname_len);
/* Publish the reserved record. Returns true when the ring is over a quarter full (wake the
 * writer). */
bool qlog_ring_commit(struct qlog_ring *r, struct qlog_rec *rec);

/* Consumer side (one thread): hand every published record to fn, oldest first, then release its
 * label and give its room back (fn NULL: just drop them). Returns the number of records. */
size_t qlog_ring_consume(struct qlog_ring *r, void (*fn)(const struct qlog_rec *, void *), void *ctx);
/* Drop every record of the ring (no writer): releases their labels. */
void qlog_ring_discard(struct qlog_ring *r);

#endif
