/* web_events.h - the console's live feed: a ring of the last WEB_EVENTS_MAX labelled queries,
 * pushed by the control thread's query-log drain and read by the web threads that stream
 * /api/events. Its cost does not grow with the DNS load: nothing is made while no stream is
 * open, at most WEB_EVENTS_RATE records a second enter the ring (the feed is then a sample; the
 * query log has every query), each record is rendered as SSE text once at push, and a reader
 * wakes every WEB_EVENTS_TICK_MS to copy at most WEB_EVENTS_BATCH records (the newest) rather
 * than on every push. A reader that falls behind loses the oldest records, never blocks the
 * writer. */
#ifndef JD_WEB_EVENTS_H
#define JD_WEB_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "label.h"
#include "qlog_ring.h"
#include "util.h"

#define WEB_EVENTS_MAX 1024
#define WEB_EVENTS_RATE 500          /* records a second into the ring, at most */
#define WEB_EVENTS_TICK_MS 200       /* how often a reader looks */
#define WEB_EVENTS_BATCH 25          /* records a reader takes per look, at most */
#define WEB_EVENT_WHYS 8             /* reasons of one query in the feed; the rest are left out */

/* One labelled query, as text ready for JSON (web.c escapes it). */
struct web_event {
	uint64_t seq;                /* 1, 2, ... in push order */
	uint64_t ts_ms;              /* wall clock */
	char client[48];             /* the client id: its MAC when known, else its address */
	char ip[48];                 /* its address */
	char name[64];               /* policy or DHCP name, "" when none */
	char qname[256];             /* without the final dot */
	char group[32];              /* the first reason's group */
	char reason[128];            /* the first reason's why: "operator:AS45102 Alibaba" */
	unsigned nwhy;               /* entries of why[] */
	char why[WEB_EVENT_WHYS][LABEL_WHY_MAX]; /* every reason's label_why(), distinct, label order */
	char action[16];             /* "pass", "sinkhole"... */
	char transport[8];           /* "udp", "tcp", "dot" */
};

struct web_events;

/* An empty ring; NULL when out of memory. */
struct web_events *web_events_new(void);
/* Free it (NULL is fine); no reader or writer may use it any more. */
void web_events_free(struct web_events *r);

/* A stream opens (+1) or closes (-1). */
void web_events_readers(struct web_events *r, int delta);
/* Is rec for the feed now: a stream is open, rec is labelled, and the rate allows? For the one
 * writer, before it makes the event. */
bool web_events_admit(struct web_events *r, const struct qlog_rec *rec);
/* Fill e from a query-log record. Returns false (e untouched) when the record names no group:
 * only labelled queries are shown. */
bool web_events_from_qlog(const struct qlog_rec *rec, struct web_event *e);
/* Append e, rendered as one SSE "data:" event (its seq is set here). */
void web_events_push(struct web_events *r, const struct web_event *e);
/* The sequence number of the newest record (0: none yet): a new reader starts after it. */
uint64_t web_events_last(struct web_events *r);
/* Wait WEB_EVENTS_TICK_MS (less when woken), then append to out the SSE text of the records
 * newer than *seq whose client id or address is client ("" = every record), oldest first, at
 * most WEB_EVENTS_BATCH of the newest; *seq moves past them. Returns the count appended. */
size_t web_events_read(struct web_events *r, uint64_t *seq, const char *client, struct strbuf *out);
/* Wake every waiting reader now (the server is stopping). */
void web_events_wake(struct web_events *r);

#endif
