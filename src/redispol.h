/* redispol.h - the policy kept in Redis, followed from the control thread: a full read (one Lua
 * script, one round trip) on connect, on every message on <prefix>policy:changed and every
 * `refresh` seconds. Each read that differs from the last builds a new dynpol snapshot, hands it
 * to apply() and saves it to disk. When Redis is down, or has no policy (no version key), the
 * last snapshot stays. The schema is in docs/redis-schema.md, its names and the script in
 * rschema.h. */
#ifndef JD_REDISPOL_H
#define JD_REDISPOL_H

#include <uv.h>
#include "dynpol.h"
#include "rconn.h"

struct redispol;

struct redispol_hooks {
	void (*apply)(struct dynpol *d, void *data); /* a new snapshot (the callee takes a ref) */
	void (*reload)(void *data);                  /* "reload" was published: reload everything */
	void *data;
	/* the groups in force, which block lists must name (NULL, or returning NULL: unchecked) */
	const struct groups *(*groups)(void *data);
};

/* Start following Redis. current: the snapshot in force (from the disk, or a previous
 * redispol), or NULL. */
struct redispol *redispol_start(uv_loop_t *loop, const struct redis_conf *cfg,
				const struct redispol_hooks *hooks, struct dynpol *current);
/* Read the policy now (SIGHUP). */
void redispol_refresh(struct redispol *rp);
/* True when cfg differs from what rp runs with (then stop it and start a new one). */
bool redispol_conf_changed(const struct redispol *rp, const struct redis_conf *cfg);
void redispol_stop(struct redispol *rp);

#endif
