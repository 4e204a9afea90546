/* qlog.h - the query log. Workers append compact binary records to their own single-producer
 * ring (no lock, no system call, labels shared by reference); the control thread drains the
 * rings, formats JSON lines and writes them. A full ring drops records and counts them. */
#ifndef JD_QLOG_H
#define JD_QLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "label.h"
#include "oui.h"

enum qlog_mode { QLOG_ALL = 0, QLOG_LABELLED = 1, QLOG_NONE = 2 };
enum client_id_mode { CLIENT_ID_IP = 0, CLIENT_ID_MAC = 1, CLIENT_ID_HASH = 2 };

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

int qlog_ring_init(struct qlog_ring *r, size_t cap);
void qlog_ring_free(struct qlog_ring *r);

/* Worker side: reserve room for a record with a qname of qname_len bytes. Returns NULL when the
 * ring is full (the drop is counted). Fill it, then qlog_ring_commit. */
struct qlog_rec *qlog_ring_reserve(struct qlog_ring *r, size_t qname_len);
/* Publish the reserved record. Returns true when the ring is over a quarter full (wake the
 * writer). */
bool qlog_ring_commit(struct qlog_ring *r, struct qlog_rec *rec);

/* The writer, on the control thread. */
struct qlog_writer;

struct qlog_writer *qlog_writer_new(const char *path, enum client_id_mode id_mode,
				    const char *hash_key, char *err, size_t errlen);
/* The vendor table for the "vendor" and "made" fields of records with a MAC (NULL: none). The
 * writer takes its own reference and drops the one it had. */
void qlog_writer_set_oui(struct qlog_writer *w, struct oui *t);
/* Reopen the file (logrotate). Returns 0, or -1 with a logged reason (keeps the old fd). */
int qlog_writer_reopen(struct qlog_writer *w);
/* Format every record of the ring and write them out. Returns the number of records. */
size_t qlog_writer_drain(struct qlog_writer *w, struct qlog_ring *r);
void qlog_writer_free(struct qlog_writer *w);
/* Drop every record of the ring (no writer): releases their labels. */
void qlog_ring_discard(struct qlog_ring *r);

/* Format one record as a JSON line (with '\n') into buf, with the device vendor from oui when
 * the record has a MAC and oui is not NULL. Returns its length, or 0 if it does not fit.
 * Exposed for tests. */
size_t qlog_format(const struct qlog_rec *rec, enum client_id_mode id_mode, const uint8_t *key,
		   size_t keylen, const struct oui *oui, char *buf, size_t buflen);

#endif
