/* upstream.h - transactions to upstream servers: UDP and TCP, random IDs, answer checks,
 * failover, health, TC=1 -> TCP. Answers go back through a callback; this side knows nothing
 * of clients, requests or caches. */
#ifndef JD_UPSTREAM_H
#define JD_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "wstate.h"

/* Build w's upstream table from w->conf (after a reload: keep the health of the servers that
 * stay). Returns 0, or UV_ENOMEM with the table partly built. */
int upstreams_apply(struct worker *w);
/* Fail every transaction (their callbacks run) and retire every upstream. */
void upstreams_close(struct worker *w);
/* True when no upstream may see name (a private zone without private upstreams): it is to be
 * answered here; *zone_off says where the zone's apex starts in name. */
bool upstream_is_local(const struct worker *w, const uint8_t *name, size_t len, uint16_t qclass,
		       size_t *zone_off);
/* Resolve the question q (key: wire_query_key) upstream. cb(arg, ...) runs exactly once, maybe
 * before this returns (nothing to send to: a SERVFAIL; out of memory: pkt NULL). */
void uquery_start(struct worker *w, const uint8_t *key, const struct dns_query *q, upstream_cb cb,
		  void *arg);
/* Run the failovers and client timeouts that are due. */
void uquery_timer_run(struct worker *w);
/* When uquery_timer_run next has work (loop ms), or UINT64_MAX. */
uint64_t uquery_next_timer(const struct worker *w);
/* Send the queries queued in this loop iteration (sendmmsg batches). */
void upstream_flush(struct worker *w);
/* Fail every transaction now (their callbacks run). */
void uquery_abort_all(struct worker *w);

#endif
