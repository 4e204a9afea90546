/* qlog_write.h - the query log's writer, on the control thread: drains the workers' rings
 * (qlog_ring.h), formats each record as one JSON line (docs/query-log.md) with the client shown
 * as configured ([log] client_id), and writes the lines to the file, reopened on SIGHUP. */
#ifndef JD_QLOG_WRITE_H
#define JD_QLOG_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include "oui.h"
#include "qlog_ring.h"

/* How a line shows the client: its IP (and MAC when known), its MAC, or an HMAC of either. */
enum client_id_mode { CLIENT_ID_IP = 0, CLIENT_ID_MAC = 1, CLIENT_ID_HASH = 2 };

struct qlog_writer;

/* A writer appending to path ("-": standard output). hash_key (NULL or "": a random key per
 * writer) keys the client ids of CLIENT_ID_HASH. Returns NULL with the reason in err. */
struct qlog_writer *qlog_writer_new(const char *path, enum client_id_mode id_mode,
				    const char *hash_key, char *err, size_t errlen);
/* The vendor table for the "vendor" and "made" fields of records with a MAC (NULL: none). The
 * writer takes its own reference and drops the one it had. */
void qlog_writer_set_oui(struct qlog_writer *w, struct oui *t);
/* Also hand every record to fn (NULL: none) as it is written, with ctx: the console's live
 * feed (control.c). */
void qlog_writer_set_tap(struct qlog_writer *w, void (*fn)(const struct qlog_rec *, void *), void *ctx);
/* Reopen the file (logrotate). Returns 0, or -1 with a logged reason (keeps the old fd). */
int qlog_writer_reopen(struct qlog_writer *w);
/* Format every record of the ring and write them out. Returns the number of records. */
size_t qlog_writer_drain(struct qlog_writer *w, struct qlog_ring *r);
/* Write what is buffered, close the file, free w (NULL is fine). */
void qlog_writer_free(struct qlog_writer *w);

/* Format one record as a JSON line (with '\n') into buf, the client id of CLIENT_ID_HASH keyed
 * with keylen bytes of key, with the device vendor from oui when the record has a MAC and oui is
 * not NULL. Returns its length, or 0 if it does not fit in buflen bytes. Exposed for tests. */
size_t qlog_format(const struct qlog_rec *rec, enum client_id_mode id_mode, const uint8_t *key,
		   size_t keylen, const struct oui *oui, char *buf, size_t buflen);

#endif
