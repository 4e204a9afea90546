/* web_events.c - the live feed's ring. Records are small fixed structs copied in and out under
 * the mutex, so a reader holds nothing of the writer's between two waits. */
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "identity.h"
#include "label.h"
#include "web_events.h"
#include "wire.h"

struct web_events {
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* CLOCK_MONOTONIC */
	uint64_t last;               /* seq of the newest record */
	unsigned wakes;              /* bumped by web_events_wake */
	struct web_event ring[WEB_EVENTS_MAX];
};

struct web_events *web_events_new(void)
{
	struct web_events *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	return r;
}

void web_events_free(struct web_events *r)
{
	if (!r)
		return;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

bool web_events_from_qlog(const struct qlog_rec *rec, struct web_event *e)
{
	const struct label *l = rec->label;
	uint8_t ip16[16];
	size_t n;

	if (!label_has_groups(l) || !l->nreasons)
		return false;
	memset(e, 0, sizeof(*e));
	e->ts_ms = rec->ts_ms;
	addr_to_v6(&rec->client.u.sa, ip16);
	identity_text(rec->has_mac ? rec->mac : NULL, ip16, e->client, sizeof(e->client));
	identity_text(NULL, ip16, e->ip, sizeof(e->ip));
	snprintf(e->name, sizeof(e->name), "%.*s", (int)strnlen(rec->name, sizeof(rec->name)), rec->name);
	wire_name_str(rec->qname, rec->qname_len, e->qname, sizeof(e->qname));
	n = strlen(e->qname);
	if (n > 1 && e->qname[n - 1] == '.')
		e->qname[n - 1] = 0;
	const struct label_reason *lr = &l->reasons[0];
	snprintf(e->group, sizeof(e->group), "%.*s", (int)strnlen(lr->group, sizeof(lr->group)), lr->group);
	label_why(l, lr, e->reason, sizeof(e->reason));
	for (unsigned i = 0; i < l->nreasons && e->nwhy < WEB_EVENT_WHYS; i++) {
		unsigned k;
		label_why(l, &l->reasons[i], e->why[e->nwhy], sizeof(e->why[0]));
		for (k = 0; k < e->nwhy && strcmp(e->why[k], e->why[e->nwhy]); k++)
			;
		if (k == e->nwhy) /* two groups for the same reason (hosted:CN) show it once */
			e->nwhy++;
	}
	snprintf(e->action, sizeof(e->action), "%s", rec->action ? rec->action : "pass");
	snprintf(e->transport, sizeof(e->transport), "%s", rec->transport ? rec->transport : "");
	return true;
}

void web_events_push(struct web_events *r, const struct web_event *e)
{
	pthread_mutex_lock(&r->lock);
	struct web_event *slot = &r->ring[r->last % WEB_EVENTS_MAX];
	*slot = *e;
	slot->seq = ++r->last;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

uint64_t web_events_last(struct web_events *r)
{
	pthread_mutex_lock(&r->lock);
	uint64_t last = r->last;
	pthread_mutex_unlock(&r->lock);
	return last;
}

size_t web_events_wait(struct web_events *r, uint64_t *seq, int timeout_ms, struct web_event *out,
		       size_t max)
{
	struct timespec until;
	size_t n = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	unsigned wakes = r->wakes;
	while (r->last <= *seq && r->wakes == wakes && timeout_ms > 0)
		if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT)
			break;
	if (*seq > r->last)
		*seq = r->last; /* a reader from before a restart of the numbering */
	if (r->last - *seq > WEB_EVENTS_MAX)
		*seq = r->last - WEB_EVENTS_MAX; /* fell behind: the oldest are gone */
	while (n < max && *seq < r->last) {
		out[n++] = r->ring[*seq % WEB_EVENTS_MAX];
		(*seq)++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

void web_events_wake(struct web_events *r)
{
	pthread_mutex_lock(&r->lock);
	r->wakes++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}
