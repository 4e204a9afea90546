/* web_events.h - the console's live feed: a ring of the last WEB_EVENTS_MAX labelled queries,
 * pushed by the control thread's query-log drain and read by the web threads that stream
 * /api/events. A mutex and a condition variable; a reader that falls behind by more than the
 * ring loses the oldest records, never blocks the writer. */
#ifndef JD_WEB_EVENTS_H
#define JD_WEB_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "label.h"
#include "qlog_ring.h"

#define WEB_EVENTS_MAX 1024
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

/* Fill e from a query-log record. Returns false (e untouched) when the record names no group:
 * only labelled queries are shown. */
bool web_events_from_qlog(const struct qlog_rec *rec, struct web_event *e);
/* Append e (its seq is set here) and wake the readers. */
void web_events_push(struct web_events *r, const struct web_event *e);
/* The sequence number of the newest record (0: none yet): a new reader starts after it. */
uint64_t web_events_last(struct web_events *r);
/* Copy up to max records newer than *seq into out, oldest first, waiting up to timeout_ms for
 * one; *seq moves to the last one copied. Returns the count (0: timed out or woken). */
size_t web_events_wait(struct web_events *r, uint64_t *seq, int timeout_ms, struct web_event *out,
		       size_t max);
/* Wake every waiting reader now (the server is stopping). */
void web_events_wake(struct web_events *r);

#endif
