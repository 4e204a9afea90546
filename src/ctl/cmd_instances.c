/* cmd_instances.c - the heartbeats S instance:NAME (S = P{stats}:) and the reload message on
 * the policy channel P policy:changed. */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cmd_instances.h"
#include "emit.h"
#include "fail.h"
#include "reply.h"
#include "rschema.h"

/* One heartbeat as a line of b, or as an object of a. */
static void instance_out(struct strbuf *b, json_t *a, const char *name, const redisReply *h)
{
	const char *ver = reply_hget(h, RSCHEMA_HB_VERSION), *age = reply_hget(h, RSCHEMA_HB_GEO_AGE),
		   *flush = reply_hget(h, RSCHEMA_HB_LAST_FLUSH);
	long days = age ? strtol(age, NULL, 10) : -1;

	if (a) {
		json_t *o = jobj();
		jset(o, "instance", jstr(name));
		jset(o, "version", jstr(ver));
		jset(o, "geo_age_days", days >= 0 ? jint(days) : jstr(NULL));
		jset(o, "last_flush", jint(flush ? strtoll(flush, NULL, 10) : 0));
		jpush(a, o);
		return;
	}
	time_t t = flush ? (time_t)strtoll(flush, NULL, 10) : 0;
	char when[32] = "-";
	struct tm tm;
	if (t && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	sb_printf(b, "%s: version %s, ", name, ver ? ver : "?");
	if (days >= 0)
		sb_printf(b, "GeoIP database %ld day%s old", days, days == 1 ? "" : "s");
	else
		sb_str(b, "no GeoIP database");
	sb_printf(b, ", last flush %s\n", when);
}

/* The keys expire ~30 s after an instance's last flush, so there are few; SCAN is bounded all
 * the same. */
int cmd_instances(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	char pat[400], cursor[32] = "0";
	size_t skip = strlen(c->sbase) + strlen(RSCHEMA_STATS_INSTANCE), n = 0;
	json_t *a = c->json ? jarr() : NULL;

	if (argc != 1)
		usage_error("instances: unexpected argument '%s'", argv[1]);
	if (rschema_instance_pattern(pat, sizeof(pat), c->sbase) < 0)
		die("Redis key prefix '%s' is too long", c->rcfg.prefix);
	for (int it = 0; it < 1000; it++) {
		redisReply *x = ctl_cmd(c, "SCAN %s MATCH %s COUNT 1000", cursor, pat);
		if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
		    x->element[0]->type != REDIS_REPLY_STRING || x->element[1]->type != REDIS_REPLY_ARRAY)
			die("Redis: unexpected reply to SCAN");
		for (size_t i = 0; i < x->element[1]->elements; i++) {
			const redisReply *key = x->element[1]->element[i];
			if (key->type != REDIS_REPLY_STRING || key->len <= skip)
				continue;
			redisReply *h = ctl_cmd(c, "HGETALL %b", key->str, key->len);
			if (h->type == REDIS_REPLY_ARRAY && h->elements) { /* else expired since the SCAN */
				instance_out(&b, a, key->str + skip, h);
				n++;
			}
			freeReplyObject(h);
		}
		snprintf(cursor, sizeof(cursor), "%s", x->element[0]->str);
		freeReplyObject(x);
		if (!strcmp(cursor, "0"))
			break;
	}
	if (a) {
		emit_json(a);
		return 0;
	}
	if (!n)
		sb_str(&b, "no instance has flushed recently (a heartbeat needs [stats]; it expires "
			   "about 30 s after the last flush)\n");
	emit_text(&b);
	return 0;
}

int cmd_reload(struct ctl *c, int argc, char **argv)
{
	if (argc != 1)
		usage_error("reload: unexpected argument '%s'", argv[1]);
	redisReply *r = ctl_cmd(c, "PUBLISH %s " RSCHEMA_MSG_RELOAD, c->channel);
	printf("reload requested; %lld instance%s listening\n", r->integer, r->integer == 1 ? "" : "s");
	freeReplyObject(r);
	return 0;
}
