/* redispol.c - following the policy in Redis. */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "redispol.h"
#include "rschema.h"

struct redispol {
	uv_loop_t *loop;
	struct redis_conf cfg;
	struct redispol_hooks hooks;
	struct rconn *cmd, *sub;
	uv_timer_t refresh;
	struct dynpol *current;
	char base[128];              /* <prefix>{policy}: */
	char version_key[160];
	char channel[128];           /* <prefix>policy:changed */
	bool reading, again, warned_empty, stopping;
	unsigned handles;
};

static void read_policy(struct redispol *rp);

/* Lines of policy text starting with "lease\t" (or not). */
static void copy_lines(const char *text, bool leases, struct strbuf *out)
{
	const char *line = text, *nl;

	for (; *line; line = nl) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		bool is_lease = !strncmp(line, "lease\t", 6);
		if (is_lease == leases && strncmp(line, DYNPOL_MAGIC, strlen(DYNPOL_MAGIC)))
			sb_put(out, line, (size_t)(nl - line));
	}
}

/* The policy of old with the leases of fresh. */
static void with_new_leases(const char *old, const char *fresh, struct strbuf *out)
{
	sb_str(out, DYNPOL_MAGIC);
	copy_lines(fresh, true, out);
	copy_lines(old, false, out);
}

static void apply_text(struct redispol *rp, const char *text, size_t len)
{
	char err[300];
	const struct groups *g = rp->hooks.groups ? rp->hooks.groups(rp->hooks.data) : NULL;
	struct dynpol *d = dynpol_parse(text, len, "redis", g, err, sizeof(err));

	if (!d) {
		log_err("redis policy: %s; keeping the last policy", err);
		return;
	}
	log_info("redis policy: version %llu: %u clients, %zu allowed and %zu denied domains, %u DHCP "
		 "names%s", (unsigned long long)d->version, d->p.nclients, suffix_set_count(d->p.allow),
		 suffix_set_count(d->p.deny), d->nleases, d->skipped ? " (bad records skipped, see above)" : "");
	dynpol_unref(rp->current);
	rp->current = d;
	rp->hooks.apply(d, rp->hooks.data);
	if (rp->cfg.snapshot[0]) {
		int e = dynpol_save(d, rp->cfg.snapshot);
		if (e < 0)
			log_warn("redis policy: cannot save the snapshot %s: %s", rp->cfg.snapshot, strerror(-e));
	}
}

static void got_policy(struct rconn *rc, redisReply *r, void *priv)
{
	struct redispol *rp = priv;

	(void)rc;
	rp->reading = false;
	if (!r || rp->stopping)
		return; /* the connection went away; reconnecting reads again */
	if (r->type == REDIS_REPLY_ERROR) {
		log_warn("redis policy: reading the policy failed: %s; keeping version %llu", r->str,
			 rp->current ? (unsigned long long)rp->current->version : 0ULL);
	} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		   r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
		log_warn("redis policy: unexpected reply to the policy script; keeping the last policy");
	} else {
		const char *text = r->element[1]->str;
		size_t len = r->element[1]->len;
		struct strbuf merged = { 0 };
		if (r->element[0]->integer == 0) {
			if (!rp->warned_empty && rp->current)
				log_warn("redis policy: Redis has no policy (no %s key); keeping version %llu",
					 rp->version_key, (unsigned long long)rp->current->version);
			else if (!rp->warned_empty)
				log_info("redis policy: Redis has no policy yet (no %s key); the file's policy applies",
					 rp->version_key);
			rp->warned_empty = true;
			/* the last policy stays; DHCP names are taken as they are now */
			with_new_leases(rp->current ? rp->current->text : DYNPOL_MAGIC, text, &merged);
			text = merged.s;
			len = merged.len;
		} else {
			rp->warned_empty = false;
		}
		if (merged.oom)
			log_err("redis policy: out of memory; keeping the last policy");
		else if (!rp->current ? strcmp(text, DYNPOL_MAGIC) != 0
				      : rp->current->len != len || memcmp(rp->current->text, text, len))
			apply_text(rp, text, len);
		sb_free(&merged);
	}
	if (rp->again) {
		rp->again = false;
		read_policy(rp);
	}
}

static void read_policy(struct redispol *rp)
{
	/* everything in one round trip and one consistent view: src/lua/policy_read.lua */
	const char *argv[] = { "EVAL", rschema_lua_policy_read, "1", rp->version_key, rp->base };

	if (rp->stopping || !rconn_ready(rp->cmd))
		return;
	if (rp->reading) {
		rp->again = true; /* a change came while reading: read once more after */
		return;
	}
	if (rconn_command(rp->cmd, got_policy, rp, false, 5, argv, NULL) == 0)
		rp->reading = true;
}

static void on_message(struct rconn *rc, redisReply *r, void *priv)
{
	struct redispol *rp = priv;

	if (!r || rp->stopping)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		log_warn("redis policy: SUBSCRIBE %s: %s", rp->channel, r->str);
		rconn_reset(rc, r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(r->element[0]->str, "subscribe")) {
		read_policy(rp); /* messages may have been missed while we were away */
		return;
	}
	if (strcmp(r->element[0]->str, "message"))
		return;
	if (r->element[2]->type == REDIS_REPLY_STRING && !strcmp(r->element[2]->str, RSCHEMA_MSG_RELOAD)) {
		log_info("redis policy: reload requested on %s", rp->channel);
		if (rp->hooks.reload)
			rp->hooks.reload(rp->hooks.data);
	}
	read_policy(rp);
}

static void on_cmd_state(struct rconn *rc, bool ready, void *data)
{
	(void)rc;
	if (ready)
		read_policy(data);
}

static void on_sub_state(struct rconn *rc, bool ready, void *data)
{
	struct redispol *rp = data;
	const char *argv[] = { "SUBSCRIBE", rp->channel };

	if (ready && rconn_command(rc, on_message, rp, true, 2, argv, NULL) < 0)
		rconn_reset(rc, "cannot send SUBSCRIBE");
}

static void on_refresh(uv_timer_t *t)
{
	read_policy(t->data);
}

struct redispol *redispol_start(uv_loop_t *loop, const struct redis_conf *cfg,
				const struct redispol_hooks *hooks, struct dynpol *current)
{
	struct redispol *rp = calloc(1, sizeof(*rp));

	if (!rp)
		return NULL;
	rp->loop = loop;
	rp->cfg = *cfg;
	rp->hooks = *hooks;
	rp->current = dynpol_ref(current);
	/* cannot fail: conf.c keeps the prefix well below the sizes */
	rschema_policy_base(rp->base, sizeof(rp->base), cfg->prefix);
	rschema_key(rp->version_key, sizeof(rp->version_key), rp->base, RSCHEMA_POLICY_VERSION, NULL, NULL);
	rschema_channel(rp->channel, sizeof(rp->channel), cfg->prefix);
	uv_timer_init(loop, &rp->refresh);
	rp->refresh.data = rp;
	rp->handles = 1;
	if (cfg->refresh)
		uv_timer_start(&rp->refresh, on_refresh, cfg->refresh * 1000ULL, cfg->refresh * 1000ULL);
	rp->cmd = rconn_new(loop, "policy", cfg, on_cmd_state, rp);
	rp->sub = rconn_new(loop, "subscriber", cfg, on_sub_state, rp);
	if (!rp->cmd || !rp->sub) {
		redispol_stop(rp);
		return NULL;
	}
	return rp;
}

void redispol_refresh(struct redispol *rp)
{
	if (rp)
		read_policy(rp);
}

bool redispol_conf_changed(const struct redispol *rp, const struct redis_conf *cfg)
{
	return memcmp(&rp->cfg, cfg, sizeof(*cfg)) != 0;
}

static void on_closed(uv_handle_t *h)
{
	struct redispol *rp = h->data;

	dynpol_unref(rp->current);
	free(rp);
}

void redispol_stop(struct redispol *rp)
{
	if (!rp || rp->stopping)
		return;
	rp->stopping = true;
	rconn_close(rp->cmd);
	rconn_close(rp->sub);
	uv_close((uv_handle_t *)&rp->refresh, on_closed);
}
