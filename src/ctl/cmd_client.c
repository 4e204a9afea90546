/* cmd_client.c - jurisdns-ctl client: list, show, set and del. A Redis rule for an id replaces
 * the file's rule for that id as a whole (the daemon's precedence, see ctl_clients.h), and the
 * commands say so. The keys: P{policy}:clients (set) and P{policy}:client:ID (hash). */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "cmd_client.h"
#include "emit.h"
#include "fail.h"
#include "policy.h"
#include "reply.h"
#include "rschema.h"
#include "settings.h"

static const char *const rule_names[] = { RSCHEMA_RULE_MODE, RSCHEMA_RULE_NAME, RSCHEMA_RULE_BLOCK, RSCHEMA_RULE_ACTION };

/* A field of the client's rule in force as stored ("" when the default applies). */
static const char *rule_value(const struct ctl_client *cl, const char *field, char *buf, size_t len)
{
	const char *v;

	if (cl->fields)
		return (v = reply_hget(cl->fields, field)) ? v : "";
	ctl_rule_field(cl->file, field, buf, len);
	return buf;
}

/* The fields a rule sets, into o. */
static void rule_json(json_t *o, const struct client_rule *r)
{
	char v[300];

	for (int i = 0; i < 4; i++)
		if (ctl_rule_field(r, rule_names[i], v, sizeof(v)))
			jset(o, rule_names[i], jstr(v));
}

/* The fields a rule sets as "k: v" lines, or "k v, k v" (inline); *first: nothing written yet. */
static void rule_text(struct strbuf *b, const struct client_rule *r, bool lines, bool *first)
{
	char v[300];

	for (int i = 0; i < 4; i++) {
		if (!ctl_rule_field(r, rule_names[i], v, sizeof(v)))
			continue;
		if (lines)
			sb_printf(b, "%s: %s\n", rule_names[i], v);
		else
			sb_printf(b, "%s%s %s", *first ? "" : ", ", rule_names[i], v);
		*first = false;
	}
}

/* With a known MAC: ,"vendor":"..." (null when no registration covers it) and ,"made":"PRC",
 * as in the query log. */
static void vendor_json(struct ctl *c, json_t *o, const char *id)
{
	const struct oui_vendor *v;

	if (!ctl_vendor(c, id, &v))
		return;
	jset(o, "vendor", jstr(v ? v->name : NULL));
	if (v && v->prc)
		jset(o, "made", jstr("PRC"));
}

/* One client as a JSON object (the list leaves the vendor to show: it lists rules). */
static json_t *client_json(struct ctl *c, const struct ctl_client *cl, bool with_vendor)
{
	json_t *o = jobj();

	jset(o, "id", jstr(cl->id));
	if (cl->fields)
		jset_hash(o, cl->fields, false);
	else
		rule_json(o, cl->file);
	jset(o, "source", jstr(ctl_client_source(cl)));
	jset(o, "effective_mode", jstr(policy_mode_name(ctl_client_mode(ctl_clients_of(c), cl))));
	if (cl->file && cl->fields) { /* both: the file's rule, replaced by Redis's */
		json_t *f = jobj();
		rule_json(f, cl->file);
		jset(o, "file", f);
	}
	if (with_vendor)
		vendor_json(c, o, cl->id);
	return o;
}

/* A note on stderr when a client set or removed in Redis is also a [client] of the file: for
 * one id the Redis rule is in force and replaces the file's as a whole. */
static void note_file_rule(struct ctl *c, const struct ctl_client *cl, bool removed)
{
	struct strbuf t = { 0 };
	bool none = true;

	if (!cl || !cl->file)
		return;
	rule_text(&t, cl->file, false, &none);
	if (t.oom)
		die("out of memory");
	fprintf(stderr, "jurisdns-ctl: note: client %s is also defined in %s", cl->id, ctl_conf_name(c));
	if (removed)
		fprintf(stderr, "; its rule there applies again%s%s%s\n", none ? "" : " (", none ? "" : t.s,
			none ? "" : ")");
	else if (none)
		fprintf(stderr, "; the Redis rule replaces that one\n");
	else
		fprintf(stderr, "; for this id the Redis rule is in force and replaces the file's (%s) as "
			"a whole\n", t.s);
	sb_free(&t);
}

static int client_list(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	size_t n;
	const struct ctl_client *cl;

	if (argc != 2)
		usage_error("client list: unexpected argument '%s'", argv[2]);
	cl = ctl_clients_all(ctl_clients_of(c), &n);
	if (c->json) {
		json_t *a = jarr();
		for (size_t i = 0; i < n; i++)
			jpush(a, client_json(c, &cl[i], false));
		emit_json(a);
		return 0;
	}
	if (n)
		sb_printf(&b, "%-20s %-6s %-14s %-9s %-10s %s\n", "ID", "MODE", "BLOCK", "ACTION", "SOURCE",
			  "NAME");
	for (size_t i = 0; i < n; i++) {
		char bl[300], ac[64], nm[64];
		const char *block = rule_value(&cl[i], RSCHEMA_RULE_BLOCK, bl, sizeof(bl));
		const char *action = rule_value(&cl[i], RSCHEMA_RULE_ACTION, ac, sizeof(ac));
		const char *name = rule_value(&cl[i], RSCHEMA_RULE_NAME, nm, sizeof(nm));
		sb_printf(&b, "%-20s %-6s %-14s %-9s %-10s %s\n", cl[i].id,
			  policy_mode_name(ctl_client_mode(ctl_clients_of(c), &cl[i])), block[0] ? block : "-",
			  action[0] ? action : "-", ctl_client_source(&cl[i]), name);
	}
	emit_text(&b);
	return 0;
}

static void client_show(struct ctl *c, const char *id, const struct ctl_client *cl)
{
	struct strbuf b = { 0 };
	bool first = true;

	if (!cl)
		die("client '%s' not found", id);
	if (c->json) {
		emit_json(client_json(c, cl, true));
		return;
	}
	sb_printf(&b, "id: %s\nsource: %s", id, ctl_client_source(cl));
	if (cl->sources == CTL_SRC_FILE)
		sb_printf(&b, " (%s)", ctl_conf_name(c));
	else if (cl->file)
		sb_str(&b, " (the Redis rule is in force)");
	sb_str(&b, "\n");
	if (cl->fields)
		for (size_t i = 0; i + 1 < cl->fields->elements; i += 2)
			sb_printf(&b, "%s: %s\n", cl->fields->element[i]->str, cl->fields->element[i + 1]->str);
	else
		rule_text(&b, cl->file, true, &first);
	sb_printf(&b, "effective mode: %s\n", policy_mode_name(ctl_client_mode(ctl_clients_of(c), cl)));
	if (cl->file && cl->fields) {
		first = true;
		sb_str(&b, "file rule (replaced by Redis's): ");
		rule_text(&b, cl->file, false, &first);
		sb_str(&b, first ? "no settings\n" : "\n");
	}
	const struct oui_vendor *v;
	if (ctl_vendor(c, id, &v))
		sb_printf(&b, "vendor: %s\n%s", v ? v->name : "unknown", v && v->prc ? "made: PRC\n" : "");
	emit_text(&b);
}

int cmd_client(struct ctl *c, int argc, char **argv)
{
	char id[128], key[400];
	const struct ctl_client *cl;
	struct settings s = { 0 };
	long long v;

	if (argc < 2)
		usage_error("client: expected list, show, set or del%s", "");
	if (!strcmp(argv[1], "list"))
		return client_list(c, argc, argv);
	if (strcmp(argv[1], "show") && strcmp(argv[1], "set") && strcmp(argv[1], "del"))
		usage_error("client: unknown subcommand '%s' (list, show, set or del)", argv[1]);
	if (argc < 3)
		usage_error("client %s: expected a client (an address or a name)", argv[1]);
	if (strcmp(argv[1], "set") && argc != 3)
		usage_error("client: unexpected argument '%s'", argv[3]);
	int lock = 0; /* client set --lock / --unlock: 1 / -1 */
	if (!strcmp(argv[1], "set")) {
		int k = 3;
		for (int i = 3; i < argc; i++) { /* take them out; settings_parse gets the rest */
			if (!strcmp(argv[i], "--lock") || !strcmp(argv[i], "--unlock")) {
				int l = argv[i][2] == 'l' ? 1 : -1;
				if (lock && lock != l)
					usage_error("client set: --lock and --unlock together%s", "");
				lock = l;
			} else {
				argv[k++] = argv[i];
			}
		}
		argc = k;
		if (!lock || argc > 3)
			settings_parse(argc, argv, 3, &s, true);
	}
	ctl_resolve(c, argv[2], id, sizeof(id));
	cl = ctl_clients_find(ctl_clients_of(c), id);
	snprintf(key, sizeof(key), "%s" RSCHEMA_POLICY_CLIENT "%s", c->base, id);
	if (!strcmp(argv[1], "show")) {
		client_show(c, id, cl);
		return 0;
	}
	if (!strcmp(argv[1], "set")) {
		settings_check(c, &s);
		ctl_begin(c);
		ctl_append(c, "SADD %s" RSCHEMA_POLICY_CLIENTS " %s", c->base, id);
		if (lock > 0) /* who locked it, shown to the device */
			ctl_append(c, "HSET %s %s %s", key, RSCHEMA_RULE_LOCKED, "jurisdns-ctl");
		else if (lock < 0)
			ctl_append(c, "HDEL %s %s", key, RSCHEMA_RULE_LOCKED);
		v = ctl_commit(c, 1 + (lock != 0) + settings_queue(c, key, &s));
		printf("client %s updated (policy version %lld)\n", id, v);
		fflush(stdout);
		note_file_rule(c, cl, false);
		return 0;
	}
	/* del */
	if (!cl)
		die("client '%s' not found", id);
	if (!(cl->sources & CTL_SRC_REDIS))
		die("cannot delete client %s: it is defined only in %s, not in Redis (remove its "
		    "[client %s] section there)", id, ctl_conf_name(c), id);
	ctl_begin(c);
	ctl_append(c, "SREM %s" RSCHEMA_POLICY_CLIENTS " %s", c->base, id);
	ctl_append(c, "DEL %s", key);
	v = ctl_commit(c, 2);
	printf("client %s removed (policy version %lld)\n", id, v);
	fflush(stdout);
	note_file_rule(c, cl, true);
	return 0;
}
