/* web_events.c - the live feed's ring. A slot holds what a reader filters on and the event's
 * SSE text, rendered once by the writer; readers copy the text out under the mutex, so a reader
 * holds nothing of the writer's between two looks. */
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "identity.h"
#include "json.h"
#include "label.h"
#include "web_events.h"
#include "wire.h"

struct web_slot {
	uint64_t seq;
	char client[48], ip[48];     /* for a device's own stream */
	char *text;                  /* "data: {...}\n\n" */
	size_t len;
};

struct web_events {
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* CLOCK_MONOTONIC */
	uint64_t last;               /* seq of the newest record */
	unsigned wakes;              /* bumped by web_events_wake */
	_Atomic int readers;
	uint64_t window_ms;          /* the writer's: start of the current second, and ... */
	unsigned in_window;          /* ... the records admitted in it */
	struct web_slot ring[WEB_EVENTS_MAX];
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
	for (unsigned i = 0; i < WEB_EVENTS_MAX; i++)
		free(r->ring[i].text);
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

void web_events_readers(struct web_events *r, int delta)
{
	atomic_fetch_add(&r->readers, delta);
}

bool web_events_admit(struct web_events *r, const struct qlog_rec *rec)
{
	if (atomic_load(&r->readers) <= 0 || !label_has_groups(rec->label) || !rec->label->nreasons)
		return false;
	if (rec->ts_ms - r->window_ms >= 1000) {
		r->window_ms = rec->ts_ms;
		r->in_window = 0;
	}
	return r->in_window++ < WEB_EVENTS_RATE;
}

/* e as one SSE event (the page's contract: docs/web-api.md). */
static void web_events_render(struct strbuf *b, const struct web_event *e)
{
	struct jw j;

	sb_str(b, "data: ");
	jw_init(&j, b);
	jw_obj(&j);
	jw_key(&j, "ts_ms");
	jw_uint(&j, e->ts_ms);
	jw_key(&j, "client");
	jw_str(&j, e->client);
	jw_key(&j, "ip");
	jw_str(&j, e->ip);
	jw_key(&j, "name");
	jw_str(&j, e->name[0] ? e->name : NULL);
	jw_key(&j, "qname");
	jw_str(&j, e->qname);
	jw_key(&j, "group");
	jw_str(&j, e->group);
	jw_key(&j, "reason");
	jw_str(&j, e->reason);
	jw_key(&j, "why");
	jw_arr(&j);
	for (unsigned i = 0; i < e->nwhy && i < WEB_EVENT_WHYS; i++)
		jw_str(&j, e->why[i]);
	jw_arr_end(&j);
	jw_key(&j, "action");
	jw_str(&j, e->action);
	jw_key(&j, "transport");
	jw_str(&j, e->transport[0] ? e->transport : NULL);
	jw_obj_end(&j);
	sb_str(b, "\n\n");
}

void web_events_push(struct web_events *r, const struct web_event *e)
{
	struct strbuf b = { 0 };

	web_events_render(&b, e); /* outside the lock: readers wait only for the copy */
	if (b.oom || !b.s) {
		sb_free(&b);
		return;
	}
	pthread_mutex_lock(&r->lock);
	struct web_slot *slot = &r->ring[r->last % WEB_EVENTS_MAX];
	free(slot->text);
	slot->text = b.s;
	slot->len = b.len;
	memcpy(slot->client, e->client, sizeof(slot->client));
	memcpy(slot->ip, e->ip, sizeof(slot->ip));
	slot->seq = ++r->last;
	pthread_mutex_unlock(&r->lock); /* no wake: readers look every tick */
}

uint64_t web_events_last(struct web_events *r)
{
	pthread_mutex_lock(&r->lock);
	uint64_t last = r->last;
	pthread_mutex_unlock(&r->lock);
	return last;
}

size_t web_events_read(struct web_events *r, uint64_t *seq, const char *client, struct strbuf *out)
{
	struct timespec until;
	size_t n = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)WEB_EVENTS_TICK_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	unsigned wakes = r->wakes;
	while (r->wakes == wakes)
		if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT)
			break;
	if (*seq > r->last)
		*seq = r->last; /* a reader from before a restart of the numbering */
	if (r->last - *seq > WEB_EVENTS_BATCH)
		*seq = r->last - WEB_EVENTS_BATCH; /* behind: the newest matter, the rest are skipped */
	for (; *seq < r->last; (*seq)++) {
		const struct web_slot *sl = &r->ring[*seq % WEB_EVENTS_MAX];
		if (client[0] && strcmp(client, sl->client) && strcmp(client, sl->ip))
			continue;
		sb_put(out, sl->text, sl->len);
		n++;
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
