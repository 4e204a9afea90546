/* session.c - jurisdns-ctl's connection to Redis and what it reads at most once. Synchronous
 * hiredis. The schema is in docs/redis-schema.md. */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "fail.h"
#include "polwrite.h"
#include "rconn.h"
#include "rschema.h"
#include "session.h"

void ctl_keys(struct ctl *c)
{
	if (rschema_policy_base(c->base, sizeof(c->base), c->rcfg.prefix) < 0 ||
	    rschema_stats_base(c->sbase, sizeof(c->sbase), c->rcfg.prefix) < 0 ||
	    rschema_channel(c->channel, sizeof(c->channel), c->rcfg.prefix) < 0)
		die("Redis key prefix '%s' is too long", c->rcfg.prefix);
}

void ctl_connect(struct ctl *c)
{
	char path[256], ip[64], err[300];
	int port = 0;
	struct timeval tv = { .tv_sec = c->rcfg.timeout / 1000, .tv_usec = (c->rcfg.timeout % 1000) * 1000 };

	if (redis_address_parse(c->rcfg.address, path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)) < 0)
		die("Redis address %s", err);
	c->rc = path[0] ? redisConnectUnixWithTimeout(path, tv) : redisConnectWithTimeout(ip, port, tv);
	if (!c->rc)
		die("out of memory");
	if (c->rc->err)
		die("cannot connect to Redis at %s: %s", c->rcfg.address, c->rc->errstr);
	redisSetTimeout(c->rc, tv);
	if (c->rcfg.password[0]) {
		redisReply *r = c->rcfg.user[0]
			? redisCommand(c->rc, "AUTH %s %s", c->rcfg.user, c->rcfg.password)
			: redisCommand(c->rc, "AUTH %s", c->rcfg.password);
		if (!r)
			die("Redis at %s: %s", c->rcfg.address, c->rc->errstr);
		if (r->type == REDIS_REPLY_ERROR)
			die("Redis at %s refused AUTH: %s", c->rcfg.address, r->str);
		freeReplyObject(r);
	}
}

void ctl_close(struct ctl *c)
{
	ctl_clients_free(c->clients);
	if (c->groups)
		groups_unref(c->groups);
	oui_unref(c->oui);
	if (c->rc)
		redisFree(c->rc);
	conf_unref(c->conf);
	memset(c, 0, sizeof(*c));
}

redisReply *ctl_cmd(struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(c->rc, fmt, ap);
	va_end(ap);
	if (!r)
		die("Redis at %s: %s", c->rcfg.address, c->rc->errstr[0] ? c->rc->errstr : "no reply");
	if (r->type == REDIS_REPLY_ERROR)
		die("Redis: %s", r->str);
	return r;
}

void ctl_append(struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = polwrite_vappend(c->rc, fmt, ap);
	va_end(ap);
	if (r < 0)
		die("out of memory");
}

void ctl_begin(struct ctl *c)
{
	if (polwrite_begin(c->rc) < 0)
		die("out of memory");
}

long long ctl_commit(struct ctl *c, int n)
{
	char err[600];
	long long version = polwrite_commit(c->rc, c->base, c->channel, n, c->rcfg.address, err, sizeof(err));

	if (version < 0)
		die("%s", err);
	return version;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

redisReply *ctl_members(struct ctl *c, const char *what, char ***out)
{
	redisReply *r = ctl_cmd(c, "SMEMBERS %s%s", c->base, what);

	if (r->type != REDIS_REPLY_ARRAY)
		die("Redis: %s%s is not a set", c->base, what);
	*out = calloc(r->elements + 1, sizeof(char *));
	if (!*out)
		die("out of memory");
	for (size_t i = 0; i < r->elements; i++)
		(*out)[i] = r->element[i]->str;
	qsort(*out, r->elements, sizeof(char *), by_str);
	return r;
}

struct ctl_clients *ctl_clients_of(struct ctl *c)
{
	char err[600];

	if (!c->clients)
		c->clients = ctl_clients_load(c->rc, c->base, &c->conf->policy, err, sizeof(err));
	if (!c->clients)
		die("%s", err);
	return c->clients;
}

void ctl_resolve(struct ctl *c, const char *arg, char *id, size_t len)
{
	char err[1200];

	if (ctl_client_canon(arg, id, len, err, sizeof(err)) == 0)
		return; /* an address is never a name */
	if (ctl_clients_resolve(ctl_clients_of(c), arg, id, len, err, sizeof(err)) < 0)
		die("%s", err);
}

struct groups *ctl_groups(struct ctl *c)
{
	char path[512], err[600];

	if (c->groups)
		return c->groups;
	conf_groups_path(c->conf, path, sizeof(path));
	if (!path[0])
		return NULL;
	if (!(c->groups = groups_load(path, err, sizeof(err))))
		die("%s", err);
	return c->groups;
}

void ctl_name_of(struct ctl *c, const char *id, char *buf, size_t len, const char **source)
{
	char err[600];

	if (ctl_clients_name(ctl_clients_of(c), id, buf, len, source, err, sizeof(err)) < 0)
		die("%s", err);
}

const char *ctl_conf_name(const struct ctl *c)
{
	return c->conf->path ? c->conf->path : "the configuration file";
}

/* The vendor table, read on first use. Like the daemon: the default directory may be missing
 * (no vendors, silently here: a command's output is not the place for the daemon's warning);
 * one set in the configuration that does not load is worth a note, but it fails no command. */
static const struct oui *vendor_table(struct ctl *c)
{
	char err[600];

	if (c->oui_tried)
		return c->oui;
	c->oui_tried = true;
	if (!c->conf->oui_dir[0])
		return NULL;
	if (!(c->oui = oui_load(c->conf->oui_dir, err, sizeof(err))) && c->conf->oui_set)
		fprintf(stderr, "jurisdns-ctl: note: %s (no device vendors shown)\n", err);
	return c->oui;
}

int ctl_vendor_of(struct ctl *c, const char *id, const struct oui_vendor **out, char *err,
		  size_t errlen)
{
	uint8_t mac[6];
	int known = ctl_clients_mac(ctl_clients_of(c), id, mac, err, errlen);

	*out = known > 0 ? oui_lookup(vendor_table(c), mac) : NULL;
	return known;
}

bool ctl_vendor(struct ctl *c, const char *id, const struct oui_vendor **out)
{
	char err[600];
	int known = ctl_vendor_of(c, id, out, err, sizeof(err));

	if (known < 0)
		die("%s", err);
	return known > 0;
}
