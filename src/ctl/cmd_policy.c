/* cmd_policy.c - the policy defaults, the allow and deny lists, the groups. The keys:
 * P{policy}:default (hash), P{policy}:version, P{policy}:allow and P{policy}:deny (sets). */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd_policy.h"
#include "emit.h"
#include "fail.h"
#include "rschema.h"
#include "settings.h"
#include "wire.h"

static long long card(struct ctl *c, const char *what)
{
	redisReply *r = ctl_cmd(c, "SCARD %s%s", c->base, what);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

static void policy_show(struct ctl *c, const char *key)
{
	struct strbuf b = { 0 };
	redisReply *v = ctl_cmd(c, "GET %s" RSCHEMA_POLICY_VERSION, c->base);
	redisReply *h = ctl_cmd(c, "HGETALL %s", key);
	long long nc = card(c, RSCHEMA_POLICY_CLIENTS), na = card(c, RSCHEMA_POLICY_ALLOW),
		  nd = card(c, RSCHEMA_POLICY_DENY);

	if (c->json) {
		json_t *o = jobj();
		jset(o, "version", v->type == REDIS_REPLY_STRING ? jnum_text(v->str) : jstr(NULL));
		jset_hash(o, h, false);
		jset(o, "clients", jint(nc));
		jset(o, "allow", jint(na));
		jset(o, "deny", jint(nd));
		emit_json(o);
	} else {
		sb_printf(&b, "version: %s\n", v->type == REDIS_REPLY_STRING ? v->str : "none (no policy in Redis)");
		for (size_t i = 0; i + 1 < h->elements; i += 2)
			sb_printf(&b, "%s: %s\n", h->element[i]->str, h->element[i + 1]->str);
		sb_printf(&b, "clients: %lld\nallow: %lld domains\ndeny: %lld domains\n", nc, na, nd);
		emit_text(&b);
	}
	freeReplyObject(v);
	freeReplyObject(h);
}

int cmd_policy(struct ctl *c, int argc, char **argv)
{
	char key[200];

	snprintf(key, sizeof(key), "%s" RSCHEMA_POLICY_DEFAULT, c->base);
	if (argc >= 2 && !strcmp(argv[1], "show")) {
		if (argc != 2)
			usage_error("policy show: unexpected argument '%s'", argv[2]);
		policy_show(c, key);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "set")) {
		struct settings s = { 0 };
		settings_parse(argc, argv, 2, &s, false);
		settings_check(c, &s);
		ctl_begin(c);
		long long v = ctl_commit(c, settings_queue(c, key, &s));
		printf("policy defaults updated (policy version %lld)\n", v);
		return 0;
	}
	usage_error("policy: expected show or set%s", "");
}

/* "Example.COM." -> "example.com" */
static void domain_norm(const char *in, char *out, size_t len)
{
	uint8_t w[256];
	char text[1100];

	if (domain_to_wire(in, w) < 0 || w[0] == 0)
		die("'%s' is not a domain name", in);
	wire_name_str(w, sizeof(w), text, sizeof(text));
	size_t tl = strlen(text);
	if (tl > 1 && text[tl - 1] == '.')
		text[tl - 1] = 0;
	snprintf(out, len, "%s", text);
}

static void domains_list(struct ctl *c, const char *set)
{
	struct strbuf b = { 0 };
	char **doms;
	redisReply *m = ctl_members(c, set, &doms);

	if (c->json) {
		json_t *a = jarr();
		for (size_t i = 0; doms[i]; i++)
			jpush(a, jstr(doms[i]));
		emit_json(a);
	} else {
		for (size_t i = 0; doms[i]; i++)
			sb_printf(&b, "%s\n", doms[i]);
		emit_text(&b);
	}
	free(doms);
	freeReplyObject(m);
}

int cmd_domains(struct ctl *c, int argc, char **argv)
{
	const char *what = argv[0]; /* the command: allow or deny */
	const char *set = !strcmp(what, "allow") ? RSCHEMA_POLICY_ALLOW : RSCHEMA_POLICY_DENY;

	if (argc >= 2 && !strcmp(argv[1], "list")) {
		if (argc != 2)
			usage_error("list: unexpected argument '%s'", argv[2]);
		domains_list(c, set);
		return 0;
	}
	if (argc < 3 || (strcmp(argv[1], "add") && strcmp(argv[1], "del")))
		usage_error("%s: expected add DOMAIN..., del DOMAIN... or list", what);
	bool add = !strcmp(argv[1], "add");
	char (*doms)[1100] = calloc((size_t)argc, sizeof(*doms));
	if (!doms)
		die("out of memory");
	for (int i = 2; i < argc; i++)
		domain_norm(argv[i], doms[i], sizeof(doms[i]));
	if (!add) {
		for (int i = 2; i < argc; i++) {
			redisReply *r = ctl_cmd(c, "SISMEMBER %s%s %s", c->base, set, doms[i]);
			if (r->integer != 1)
				die("'%s' is not on the %s list", doms[i], what);
			freeReplyObject(r);
		}
	}
	ctl_begin(c);
	for (int i = 2; i < argc; i++)
		ctl_append(c, "%s %s%s %s", add ? "SADD" : "SREM", c->base, set, doms[i]);
	long long v = ctl_commit(c, argc - 2);
	printf("%s list: %d %s %s (policy version %lld)\n", what, argc - 2,
	       argc - 2 == 1 ? "domain" : "domains", add ? "added" : "removed", v);
	free(doms);
	return 0;
}

int cmd_groups(struct ctl *c, int argc, char **argv)
{
	struct groups *g;
	struct strbuf b = { 0 };
	json_t *a = NULL;

	if (argc != 1)
		usage_error("groups: unexpected argument '%s'", argv[1]);
	if (!(g = ctl_groups(c)))
		die("no jurisdiction groups file (set [labels] groups, or install zones/jurisdictions.conf)");
	if (c->json)
		a = jarr();
	for (unsigned i = 0; i < groups_count(g); i++) {
		const struct jgroup *j = groups_get(g, i);
		const char (*cc)[3] = j->nexcept ? j->except : j->countries;
		unsigned ncc = j->nexcept ? j->nexcept : j->ncountries;
		if (a) {
			json_t *o = jobj(), *l = jarr();
			jset(o, "name", jstr(j->name));
			jset(o, "kind", jstr(j->kind == GROUP_BYPASS ? "bypass" : "jurisdiction"));
			for (unsigned k = 0; k < ncc; k++)
				jpush(l, jstr(cc[k]));
			jset(o, j->nexcept ? "countries_except" : "countries", l);
			jset(o, "asns", jint((long long)j->nasns));
			jset(o, "domains", jint((long long)j->ndomains));
			jpush(a, o);
		} else if (j->kind == GROUP_BYPASS) {
			/* not a jurisdiction: countries and operators would read as if it were one */
			sb_printf(&b, "%s: encrypted DNS bypass; %zu resolver names\n", j->name, j->ndomains);
		} else {
			sb_printf(&b, "%s: %s", j->name, j->nexcept ? "countries except" : "countries");
			for (unsigned k = 0; k < ncc; k++)
				sb_printf(&b, " %s", cc[k]);
			sb_printf(&b, "; %zu operator ASNs; %zu vendor domains\n", j->nasns, j->ndomains);
		}
	}
	if (a)
		emit_json(a);
	else
		emit_text(&b);
	return 0;
}
