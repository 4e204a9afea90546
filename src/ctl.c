/* ctl.c - jurisdns-ctl: read and change the policy that jurisdns instances share through Redis.
 * Every change is one MULTI/EXEC that also bumps the version, followed by a PUBLISH, so every
 * running instance applies it within a second. Synchronous hiredis; one line on stderr and a
 * non-zero exit on any error. The schema is in docs/redis-schema.md. */
#include "config.h"
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include "conf.h"
#include "ctl_clients.h"
#include "groups.h"
#include "label.h"
#include "policy.h"
#include "rconn.h"
#include "report.h"
#include "suffix.h"
#include "util.h"
#include "wire.h"

#define DEFAULT_CONF "/etc/jurisdns/jurisdns.conf"
#define DEFAULT_REDIS "127.0.0.1:6379"

struct ctl {
	redisContext *rc;
	struct redis_conf rcfg;
	struct conf *conf;           /* the configuration file's, or the defaults */
	struct ctl_clients *clients; /* the file's and Redis's clients, read on first use */
	char base[160];              /* <prefix>{policy}: */
	char sbase[160];             /* <prefix>{stats}: */
	char channel[160];
	bool json;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("jurisdns-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stdout);
	_exit(1); /* replies and buffers are still allocated: no leak report on the way out */
}

static void usage(FILE *f)
{
	fputs("usage: jurisdns-ctl [-c CONFIG] [-r ADDRESS] [-p PREFIX] [-u USER] [--json] COMMAND\n"
	      "\n"
	      "  client list                       clients with a policy in the file or in Redis\n"
	      "  client show CLIENT                one client (CLIENT: IP address, CIDR, MAC or name)\n"
	      "  client set CLIENT [--mode off|log|block] [--name NAME] [--block GROUPS] [--action ACTION]\n"
	      "                                    (a value of 'default' removes the setting)\n"
	      "  client del CLIENT                 remove a client's policy from Redis\n"
	      "  policy show                       the defaults, the version and the counts\n"
	      "  policy set [--mode M] [--block GROUPS] [--action ACTION]\n"
	      "  allow|deny add DOMAIN...          add to the operator's allow or deny list\n"
	      "  allow|deny del DOMAIN...\n"
	      "  allow|deny list\n"
	      "  groups                            the jurisdiction groups known to the configuration\n"
	      "  reload                            every instance reloads its configuration and policy\n"
	      "  instances                         the running instances: version, GeoIP database age, last flush\n"
	      "  stats [CLIENT]                    counters: totals and per client, or one client\n"
	      "  top CLIENT [GROUP]                the client's top domains per jurisdiction group\n"
	      "  tail [-n N] [-f] [--queries]      first contacts (or, with --queries, recent labelled\n"
	      "                                    queries): the last N (10), then follow with -f\n"
	      "  report --html FILE [--days N]     a self-contained HTML report (N days of history, 7)\n"
	      "\n"
	      "  -c CONFIG    read [redis], [labels] and the [client X] sections from CONFIG\n"
	      "               (default " DEFAULT_CONF " if it exists)\n"
	      "  -r ADDRESS   Redis: unix:/path, IP:port or [IPv6]:port (default [redis] address, else "
	      DEFAULT_REDIS ")\n"
	      "  -p PREFIX    key prefix (default [redis] prefix, else jurisdns:)\n"
	      "  -u USER      Redis ACL user; the password comes from JURISDNS_REDIS_PASSWORD or [redis]\n"
	      "  --json       machine-readable output for reads\n"
	      "\nExit status: 0 done, 1 error (one line on stderr), 2 usage.\n", f);
}

static void usage_error(const char *fmt, const char *arg) __attribute__((noreturn));
static void usage_error(const char *fmt, const char *arg)
{
	fputs("jurisdns-ctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see jurisdns-ctl --help)\n", stderr);
	fflush(stdout);
	_exit(2);
}

/* ---- Redis ---- */

static void connect_redis(struct ctl *c)
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

/* A command that must work; its reply (an error reply is fatal). */
static redisReply *cmd(struct ctl *c, const char *fmt, ...)
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

static void append(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (redisvAppendCommand(c->rc, fmt, ap) != REDIS_OK)
		die("out of memory");
	va_end(ap);
}

/* Queue MULTI ... (the caller appends the changes) */
static void begin(struct ctl *c)
{
	append(c, "MULTI");
}

/* ... INCR version, EXEC, PUBLISH; returns the new version. n: commands appended after MULTI. */
static long long commit(struct ctl *c, int n)
{
	redisReply *r;
	long long version;

	append(c, "INCR %s%s", c->base, "version");
	append(c, "EXEC");
	for (int i = 0; i < n + 2; i++) { /* MULTI's OK and one QUEUED per command */
		if (redisGetReply(c->rc, (void **)&r) != REDIS_OK)
			die("Redis at %s: %s", c->rcfg.address, c->rc->errstr);
		if (r->type == REDIS_REPLY_ERROR)
			die("Redis: %s", r->str);
		freeReplyObject(r);
	}
	if (redisGetReply(c->rc, (void **)&r) != REDIS_OK)
		die("Redis at %s: %s", c->rcfg.address, c->rc->errstr);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		die("Redis: the change was not applied (%s)", r->type == REDIS_REPLY_ERROR ? r->str : "EXEC failed");
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_ERROR)
			die("Redis: %s", r->element[i]->str);
	version = r->element[r->elements - 1]->integer;
	freeReplyObject(r);
	freeReplyObject(cmd(c, "PUBLISH %s %lld", c->channel, version));
	return version;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SMEMBERS, sorted; the reply owns the strings. */
static redisReply *members(struct ctl *c, const char *what, char ***out)
{
	redisReply *r = cmd(c, "SMEMBERS %s%s", c->base, what);

	if (r->type != REDIS_REPLY_ARRAY)
		die("Redis: %s%s is not a set", c->base, what);
	*out = calloc(r->elements + 1, sizeof(char *));
	if (!*out)
		die("out of memory");
	for (size_t i = 0; i < r->elements; i++)
		(*out)[i] = r->element[i]->str;
	qsort(*out, r->elements, sizeof(char *), cmp_str);
	return r;
}

/* ---- validation ---- */

/* The clients of the file and of Redis, read once (Redis must be connected). */
static struct ctl_clients *clients(struct ctl *c)
{
	char err[600];

	if (!c->clients)
		c->clients = ctl_clients_load(c->rc, c->base, &c->conf->policy, err, sizeof(err));
	if (!c->clients)
		die("%s", err);
	return c->clients;
}

/* A CLIENT argument: an address, canonicalised, else the id of a unique name. */
static void resolve(struct ctl *c, const char *arg, char *id, size_t len)
{
	char err[1200];

	if (ctl_client_canon(arg, id, len, err, sizeof(err)) == 0)
		return; /* an address is never a name */
	if (ctl_clients_resolve(clients(c), arg, id, len, err, sizeof(err)) < 0)
		die("%s", err);
}

static struct groups *load_groups(struct ctl *c)
{
	static struct groups *g;
	char path[512], err[600];

	if (g)
		return g;
	conf_groups_path(c->conf, path, sizeof(path));
	if (!path[0])
		return NULL;
	if (!(g = groups_load(path, err, sizeof(err))))
		die("%s", err);
	return g;
}

/* A block list: valid syntax, and every group known (when the groups file is at hand), with the
 * daemon's own check: names in any case, the nearest group suggested. */
static void check_block(struct ctl *c, const char *value)
{
	struct block_spec b[POLICY_MAX_BLOCK];
	unsigned n = 0;
	char err[1400];

	if (policy_parse_block(value, load_groups(c), b, &n, err, sizeof(err)) < 0)
		die("%s", err);
}

static void check_field(struct ctl *c, const char *field, const char *value)
{
	struct client_rule r;
	char err[300];

	if (!strcmp(value, "default"))
		return;
	policy_client_init(&r, "0.0.0.0/0", err, sizeof(err));
	if (policy_client_set(&r, field, value, NULL, err, sizeof(err)) < 0)
		die("%s", err);
	if (!strcmp(field, "block"))
		check_block(c, value);
}

/* "Example.COM." -> "example.com" */
static void domain_norm(const char *in, char *out, size_t len)
{
	uint8_t wire[256];
	char text[1100];

	if (domain_to_wire(in, wire) < 0 || wire[0] == 0)
		die("'%s' is not a domain name", in);
	wire_name_str(wire, sizeof(wire), text, sizeof(text));
	size_t tl = strlen(text);
	if (tl > 1 && text[tl - 1] == '.')
		text[tl - 1] = 0;
	snprintf(out, len, "%s", text);
}

/* ---- output ---- */

static void out(struct strbuf *b)
{
	if (b->oom)
		die("out of memory");
	if (b->len && fwrite(b->s, 1, b->len, stdout) != b->len)
		die("writing the output: %s", strerror(errno));
	sb_free(b);
}

/* HGETALL reply as JSON members ("k":"v",...) or "k: v" lines. */
static void fields(struct strbuf *b, const redisReply *h, bool json, bool *first)
{
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		if (json) {
			sb_str(b, *first ? "" : ",");
			sb_json(b, h->element[i]->str);
			sb_str(b, ":");
			sb_json(b, h->element[i + 1]->str);
		} else {
			sb_printf(b, "%s: %s\n", h->element[i]->str, h->element[i + 1]->str);
		}
		*first = false;
	}
}

static const char *hget(const redisReply *h, const char *field)
{
	for (size_t i = 0; i + 1 < h->elements; i += 2)
		if (!strcmp(h->element[i]->str, field))
			return h->element[i + 1]->str;
	return NULL;
}

/* ---- commands ---- */

struct opts {
	const char *mode, *name, *block, *action;
};

static void parse_opts(int argc, char **argv, int start, struct opts *o, bool with_name)
{
	for (int i = start; i < argc; i++) {
		const char **dst = NULL, *a = argv[i], *eq = strchr(a, '=');
		size_t kl = eq ? (size_t)(eq - a) : strlen(a);
		if (kl == 6 && !strncmp(a, "--mode", 6))
			dst = &o->mode;
		else if (kl == 7 && !strncmp(a, "--block", 7))
			dst = &o->block;
		else if (kl == 8 && !strncmp(a, "--action", 8))
			dst = &o->action;
		else if (with_name && kl == 6 && !strncmp(a, "--name", 6))
			dst = &o->name;
		if (!dst)
			usage_error("unexpected argument '%s'", a);
		if (eq)
			*dst = eq + 1;
		else if (++i < argc)
			*dst = argv[i];
		else
			usage_error("%s needs a value", a);
	}
	if (!o->mode && !o->name && !o->block && !o->action)
		usage_error("%s: nothing to set (--mode, --block, --action or --name)", argv[start - 1]);
}

/* HSET or HDEL each given field of key; returns the number of commands appended. */
static int set_fields(struct ctl *c, const char *key, const struct opts *o)
{
	const char *names[] = { "mode", "name", "block", "action" };
	const char *vals[] = { o->mode, o->name, o->block, o->action };
	int n = 0;

	for (int i = 0; i < 4; i++) {
		if (!vals[i])
			continue;
		bool clear = i == 1 ? !vals[i][0] : !strcmp(vals[i], "default");
		if (clear)
			append(c, "HDEL %s %s", key, names[i]);
		else
			append(c, "HSET %s %s %s", key, names[i], vals[i]);
		n++;
	}
	return n;
}

/* A field of the client's rule in force as stored ("" when the default applies). */
static const char *rule_value(const struct ctl_client *cl, const char *field, char *buf, size_t len)
{
	const char *v;

	if (cl->fields)
		return (v = hget(cl->fields, field)) ? v : "";
	ctl_rule_field(cl->file, field, buf, len);
	return buf;
}

/* The fields a rule sets, as JSON members, "k: v" lines, or "k v, k v" (inline). */
enum rule_style { RS_JSON, RS_LINES, RS_INLINE };
static void rule_fields(struct strbuf *b, const struct client_rule *r, enum rule_style st, bool *first)
{
	static const char *const names[] = { "mode", "name", "block", "action" };
	char v[300];

	for (int i = 0; i < 4; i++) {
		if (!ctl_rule_field(r, names[i], v, sizeof(v)))
			continue;
		if (st == RS_JSON) {
			sb_str(b, *first ? "" : ",");
			sb_json(b, names[i]);
			sb_str(b, ":");
			sb_json(b, v);
		} else if (st == RS_LINES) {
			sb_printf(b, "%s: %s\n", names[i], v);
		} else {
			sb_printf(b, "%s%s %s", *first ? "" : ", ", names[i], v);
		}
		*first = false;
	}
}

/* One client: a JSON object, or a row of the list. */
static void print_client(struct ctl *c, struct strbuf *b, const struct ctl_client *cl, bool first_in_list)
{
	const char *mode = policy_mode_name(ctl_client_mode(clients(c), cl));
	bool first = false;

	if (c->json) {
		sb_str(b, first_in_list ? "{\"id\":" : ",{\"id\":");
		sb_json(b, cl->id);
		if (cl->fields)
			fields(b, cl->fields, true, &first);
		else
			rule_fields(b, cl->file, RS_JSON, &first);
		sb_str(b, ",\"source\":");
		sb_json(b, ctl_client_source(cl));
		sb_str(b, ",\"effective_mode\":");
		sb_json(b, mode);
		if (cl->file && cl->fields) { /* both: the file's rule, replaced by Redis's */
			bool f = true;
			sb_str(b, ",\"file\":{");
			rule_fields(b, cl->file, RS_JSON, &f);
			sb_str(b, "}");
		}
		sb_str(b, "}");
	} else {
		char bl[300], ac[64], nm[64];
		const char *block = rule_value(cl, "block", bl, sizeof(bl));
		const char *action = rule_value(cl, "action", ac, sizeof(ac));
		const char *name = rule_value(cl, "name", nm, sizeof(nm));
		sb_printf(b, "%-20s %-6s %-14s %-9s %-10s %s\n", cl->id, mode, block[0] ? block : "-",
			  action[0] ? action : "-", ctl_client_source(cl), name);
	}
}

static const char *conf_name(const struct ctl *c)
{
	return c->conf->path ? c->conf->path : "the configuration file";
}

/* A note on stderr when a client set or removed in Redis is also a [client] of the file: for
 * one id the Redis rule is in force and replaces the file's as a whole. */
static void note_file_rule(struct ctl *c, const struct ctl_client *cl, bool removed)
{
	struct strbuf t = { 0 };
	bool none = true;

	if (!cl || !cl->file)
		return;
	rule_fields(&t, cl->file, RS_INLINE, &none);
	if (t.oom)
		die("out of memory");
	fprintf(stderr, "jurisdns-ctl: note: client %s is also defined in %s", cl->id, conf_name(c));
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

static int cmd_client(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	char id[128], key[400];
	const struct ctl_client *cl;

	if (argc < 2)
		usage_error("client: expected list, show, set or del%s", "");
	if (!strcmp(argv[1], "list")) {
		size_t n;
		if (argc != 2)
			usage_error("client list: unexpected argument '%s'", argv[2]);
		cl = ctl_clients_all(clients(c), &n);
		sb_str(&b, c->json ? "[" : "");
		if (!c->json && n)
			sb_printf(&b, "%-20s %-6s %-14s %-9s %-10s %s\n", "ID", "MODE", "BLOCK", "ACTION", "SOURCE",
				  "NAME");
		for (size_t i = 0; i < n; i++)
			print_client(c, &b, &cl[i], i == 0);
		sb_str(&b, c->json ? "]\n" : "");
		out(&b);
		return 0;
	}
	if (strcmp(argv[1], "show") && strcmp(argv[1], "set") && strcmp(argv[1], "del"))
		usage_error("client: unknown subcommand '%s' (list, show, set or del)", argv[1]);
	if (argc < 3)
		usage_error("client %s: expected a client (an address or a name)", argv[1]);
	if (strcmp(argv[1], "set") && argc != 3)
		usage_error("client: unexpected argument '%s'", argv[3]);
	struct opts o = { 0 };
	if (!strcmp(argv[1], "set"))
		parse_opts(argc, argv, 3, &o, true);
	resolve(c, argv[2], id, sizeof(id));
	cl = ctl_clients_find(clients(c), id);
	snprintf(key, sizeof(key), "%sclient:%s", c->base, id);
	if (!strcmp(argv[1], "show")) {
		if (!cl)
			die("client '%s' not found", id);
		if (c->json) {
			print_client(c, &b, cl, true);
			sb_str(&b, "\n");
		} else {
			bool first = true;
			sb_printf(&b, "id: %s\nsource: %s", id, ctl_client_source(cl));
			if (cl->sources == CTL_SRC_FILE)
				sb_printf(&b, " (%s)", conf_name(c));
			else if (cl->file)
				sb_str(&b, " (the Redis rule is in force)");
			sb_str(&b, "\n");
			if (cl->fields)
				fields(&b, cl->fields, false, &first);
			else
				rule_fields(&b, cl->file, RS_LINES, &first);
			sb_printf(&b, "effective mode: %s\n", policy_mode_name(ctl_client_mode(clients(c), cl)));
			if (cl->file && cl->fields) {
				first = true;
				sb_str(&b, "file rule (replaced by Redis's): ");
				rule_fields(&b, cl->file, RS_INLINE, &first);
				sb_str(&b, first ? "no settings\n" : "\n");
			}
		}
		out(&b);
		return 0;
	}
	if (!strcmp(argv[1], "set")) {
		if (o.mode)
			check_field(c, "mode", o.mode);
		if (o.name && o.name[0])
			check_field(c, "name", o.name);
		if (o.block)
			check_field(c, "block", o.block);
		if (o.action)
			check_field(c, "action", o.action);
		begin(c);
		append(c, "SADD %sclients %s", c->base, id);
		long long v = commit(c, 1 + set_fields(c, key, &o));
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
		    "[client %s] section there)", id, conf_name(c), id);
	begin(c);
	append(c, "SREM %sclients %s", c->base, id);
	append(c, "DEL %s", key);
	long long v = commit(c, 2);
	printf("client %s removed (policy version %lld)\n", id, v);
	fflush(stdout);
	note_file_rule(c, cl, true);
	return 0;
}

static long long card(struct ctl *c, const char *what)
{
	redisReply *r = cmd(c, "SCARD %s%s", c->base, what);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

static int cmd_policy(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	char key[200];

	snprintf(key, sizeof(key), "%sdefault", c->base);
	if (argc >= 2 && !strcmp(argv[1], "show")) {
		if (argc != 2)
			usage_error("policy show: unexpected argument '%s'", argv[2]);
		redisReply *v = cmd(c, "GET %sversion", c->base);
		redisReply *h = cmd(c, "HGETALL %s", key);
		bool first = false;
		long long nc = card(c, "clients"), na = card(c, "allow"), nd = card(c, "deny");
		if (c->json) {
			sb_printf(&b, "{\"version\":%s", v->type == REDIS_REPLY_STRING ? v->str : "null");
			fields(&b, h, true, &first);
			sb_printf(&b, ",\"clients\":%lld,\"allow\":%lld,\"deny\":%lld}\n", nc, na, nd);
		} else {
			sb_printf(&b, "version: %s\n", v->type == REDIS_REPLY_STRING ? v->str : "none (no policy in Redis)");
			fields(&b, h, false, &first);
			sb_printf(&b, "clients: %lld\nallow: %lld domains\ndeny: %lld domains\n", nc, na, nd);
		}
		freeReplyObject(v);
		freeReplyObject(h);
		out(&b);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "set")) {
		struct opts o = { 0 };
		parse_opts(argc, argv, 2, &o, false);
		if (o.mode)
			check_field(c, "mode", o.mode);
		if (o.block)
			check_field(c, "block", o.block);
		if (o.action)
			check_field(c, "action", o.action);
		begin(c);
		long long v = commit(c, set_fields(c, key, &o));
		printf("policy defaults updated (policy version %lld)\n", v);
		return 0;
	}
	usage_error("policy: expected show or set%s", "");
}

static int cmd_list(struct ctl *c, int argc, char **argv)
{
	const char *what = argv[0];
	struct strbuf b = { 0 };

	if (argc >= 2 && !strcmp(argv[1], "list")) {
		char **doms;
		redisReply *m;
		if (argc != 2)
			usage_error("list: unexpected argument '%s'", argv[2]);
		m = members(c, what, &doms);
		sb_str(&b, c->json ? "[" : "");
		for (size_t i = 0; doms[i]; i++) {
			if (c->json) {
				sb_str(&b, i ? "," : "");
				sb_json(&b, doms[i]);
			} else {
				sb_printf(&b, "%s\n", doms[i]);
			}
		}
		sb_str(&b, c->json ? "]\n" : "");
		free(doms);
		freeReplyObject(m);
		out(&b);
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
			redisReply *r = cmd(c, "SISMEMBER %s%s %s", c->base, what, doms[i]);
			if (r->integer != 1)
				die("'%s' is not on the %s list", doms[i], what);
			freeReplyObject(r);
		}
	}
	begin(c);
	for (int i = 2; i < argc; i++)
		append(c, "%s %s%s %s", add ? "SADD" : "SREM", c->base, what, doms[i]);
	long long v = commit(c, argc - 2);
	printf("%s list: %d %s %s (policy version %lld)\n", what, argc - 2,
	       argc - 2 == 1 ? "domain" : "domains", add ? "added" : "removed", v);
	free(doms);
	return 0;
}

static int cmd_groups(struct ctl *c, int argc, char **argv)
{
	struct groups *g;
	struct strbuf b = { 0 };

	if (argc != 1)
		usage_error("groups: unexpected argument '%s'", argv[1]);
	if (!(g = load_groups(c)))
		die("no jurisdiction groups file (set [labels] groups, or install zones/jurisdictions.conf)");
	sb_str(&b, c->json ? "[" : "");
	for (unsigned i = 0; i < groups_count(g); i++) {
		const struct jgroup *j = groups_get(g, i);
		const char (*cc)[3] = j->nexcept ? j->except : j->countries;
		unsigned ncc = j->nexcept ? j->nexcept : j->ncountries;
		if (c->json) {
			sb_str(&b, i ? ",{\"name\":" : "{\"name\":");
			sb_json(&b, j->name);
			sb_str(&b, j->nexcept ? ",\"countries_except\":[" : ",\"countries\":[");
			for (unsigned k = 0; k < ncc; k++) {
				sb_str(&b, k ? "," : "");
				sb_json(&b, cc[k]);
			}
			sb_printf(&b, "],\"asns\":%zu,\"domains\":%zu}", j->nasns, j->ndomains);
		} else {
			sb_printf(&b, "%s: %s", j->name, j->nexcept ? "countries except" : "countries");
			for (unsigned k = 0; k < ncc; k++)
				sb_printf(&b, " %s", cc[k]);
			sb_printf(&b, "; %zu operator ASNs; %zu vendor domains\n", j->nasns, j->ndomains);
		}
	}
	sb_str(&b, c->json ? "]\n" : "");
	out(&b);
	return 0;
}

/* ---- statistics ---- */

/* The display name of a client as the daemon names it: the name of the most specific rule
 * (file or Redis) covering it, else its DHCP host name, else "". *source (may be NULL): where the
 * rule is defined, "lease", or NULL. */
static void ctl_name_of(struct ctl *c, const char *id, char *buf, size_t len, const char **source)
{
	char err[600];

	if (ctl_clients_name(clients(c), id, buf, len, source, err, sizeof(err)) < 0)
		die("%s", err);
}

/* ,"name":"...","source":"..." (source null when no rule or lease names the client) */
static void name_json(struct strbuf *b, const char *name, const char *source)
{
	sb_str(b, ",\"name\":");
	sb_json(b, name);
	sb_str(b, ",\"source\":");
	if (source)
		sb_json(b, source);
	else
		sb_str(b, "null");
}

static long long hnum(const redisReply *h, const char *field)
{
	const char *v = hget(h, field);
	return v ? strtoll(v, NULL, 10) : 0;
}

/* "g:PRC=12 (hosted 10, operator 2)" for each group field of h */
static void group_summary(struct strbuf *b, const redisReply *h)
{
	bool any = false;

	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *f = h->element[i]->str;
		if (strncmp(f, "g:", 2) || strchr(f + 2, ':'))
			continue;
		char sub[GROUP_NAME_MAX + 16];
		sb_printf(b, "%s%s %s", any ? ", " : "", f + 2, h->element[i + 1]->str);
		bool first = true;
		for (int k = 0; k < 3; k++) {
			snprintf(sub, sizeof(sub), "%s:%s", f, label_kind_names[k]);
			const char *v = hget(h, sub);
			if (v) {
				sb_printf(b, "%s%s %s", first ? " (" : ", ", label_kind_names[k], v);
				first = false;
			}
		}
		if (!first)
			sb_str(b, ")");
		any = true;
	}
	if (!any)
		sb_str(b, "none");
}

static void stats_json(struct strbuf *b, const redisReply *h)
{
	sb_str(b, "{");
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		sb_str(b, i ? "," : "");
		sb_json(b, h->element[i]->str);
		sb_printf(b, ":%lld", strtoll(h->element[i + 1]->str, NULL, 10));
	}
	sb_str(b, "}");
}

static int cmd_stats(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	char id[128], name[128];
	const char *source;

	if (argc > 2)
		usage_error("stats: unexpected argument '%s'", argv[2]);
	if (argc == 2) {
		resolve(c, argv[1], id, sizeof(id));
		redisReply *h = cmd(c, "HGETALL %sclient:%s", c->sbase, id);
		if (h->type != REDIS_REPLY_ARRAY || !h->elements)
			die("no statistics for client '%s'", id);
		ctl_name_of(c, id, name, sizeof(name), &source);
		if (c->json) {
			sb_str(&b, "{\"id\":");
			sb_json(&b, id);
			name_json(&b, name, source);
			sb_str(&b, ",\"counters\":");
			stats_json(&b, h);
			sb_str(&b, "}\n");
		} else {
			sb_printf(&b, "client: %s%s%s%s\n", id, name[0] ? " (" : "", name, name[0] ? ")" : "");
			if (source)
				sb_printf(&b, "source: %s\n", source);
			sb_printf(&b, "queries: %lld\ncache hits: %lld\nblocked: %lld\nrewritten: %lld\n",
				  hnum(h, "queries"), hnum(h, "cache_hits"), hnum(h, "blocked"), hnum(h, "rewritten"));
			sb_str(&b, "groups: ");
			group_summary(&b, h);
			time_t first = (time_t)hnum(h, "first_seen"), last = (time_t)hnum(h, "last_seen");
			char t1[32] = "-", t2[32] = "-";
			struct tm tm;
			if (first && gmtime_r(&first, &tm))
				strftime(t1, sizeof(t1), "%Y-%m-%d %H:%M UTC", &tm);
			if (last && gmtime_r(&last, &tm))
				strftime(t2, sizeof(t2), "%Y-%m-%d %H:%M UTC", &tm);
			sb_printf(&b, "\nfirst seen: %s\nlast seen: %s\n", t1, t2);
		}
		freeReplyObject(h);
		out(&b);
		return 0;
	}
	redisReply *t = cmd(c, "HGETALL %stotal", c->sbase);
	char **ids;
	redisReply *m = cmd(c, "SMEMBERS %sclients", c->sbase);
	if (t->type != REDIS_REPLY_ARRAY || m->type != REDIS_REPLY_ARRAY)
		die("Redis: the statistics keys have the wrong type");
	ids = calloc(m->elements + 1, sizeof(char *));
	if (!ids)
		die("out of memory");
	for (size_t i = 0; i < m->elements; i++)
		ids[i] = m->element[i]->str;
	qsort(ids, m->elements, sizeof(char *), cmp_str);
	if (c->json) {
		sb_str(&b, "{\"total\":");
		stats_json(&b, t);
		sb_str(&b, ",\"clients\":[");
	} else {
		sb_printf(&b, "total: %lld queries, %lld cache hits, %lld blocked, %lld rewritten; groups: ",
			  hnum(t, "queries"), hnum(t, "cache_hits"), hnum(t, "blocked"), hnum(t, "rewritten"));
		group_summary(&b, t);
		sb_printf(&b, "\n\n%-20s %-20s %-10s %9s %8s %8s  %s\n", "CLIENT", "NAME", "SOURCE", "QUERIES",
			  "HITS", "BLOCKED", "GROUPS");
	}
	for (size_t i = 0; ids[i]; i++) {
		redisReply *h = cmd(c, "HGETALL %sclient:%s", c->sbase, ids[i]);
		ctl_name_of(c, ids[i], name, sizeof(name), &source);
		if (c->json) {
			sb_str(&b, i ? ",{\"id\":" : "{\"id\":");
			sb_json(&b, ids[i]);
			name_json(&b, name, source);
			sb_str(&b, ",\"counters\":");
			stats_json(&b, h);
			sb_str(&b, "}");
		} else {
			sb_printf(&b, "%-20s %-20.20s %-10s %9lld %8lld %8lld  ", ids[i], name, source ? source : "-",
				  hnum(h, "queries"), hnum(h, "cache_hits"), hnum(h, "blocked"));
			group_summary(&b, h);
			sb_str(&b, "\n");
		}
		freeReplyObject(h);
	}
	sb_str(&b, c->json ? "]}\n" : "");
	free(ids);
	freeReplyObject(m);
	freeReplyObject(t);
	out(&b);
	return 0;
}

static int cmd_top(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	char id[128];
	const char *groups[GROUPS_MAX];
	unsigned ng = 0;
	redisReply *h = NULL;

	if (argc < 2 || argc > 3)
		usage_error("top: expected CLIENT [GROUP]%s", "");
	resolve(c, argv[1], id, sizeof(id));
	if (argc == 3) {
		groups[ng++] = argv[2];
	} else {
		h = cmd(c, "HGETALL %sclient:%s", c->sbase, id);
		if (h->type != REDIS_REPLY_ARRAY || !h->elements)
			die("no statistics for client '%s'", id);
		for (size_t i = 0; i + 1 < h->elements && ng < GROUPS_MAX; i += 2) {
			const char *f = h->element[i]->str;
			if (!strncmp(f, "g:", 2) && !strchr(f + 2, ':'))
				groups[ng++] = f + 2;
		}
	}
	sb_str(&b, c->json ? "{" : "");
	for (unsigned g = 0; g < ng; g++) {
		redisReply *z = cmd(c, "ZREVRANGE %stop:%s:%s 0 -1 WITHSCORES", c->sbase, id, groups[g]);
		if (z->type != REDIS_REPLY_ARRAY)
			die("Redis: %stop:%s:%s is not a sorted set", c->sbase, id, groups[g]);
		if (c->json) {
			sb_str(&b, g ? "," : "");
			sb_json(&b, groups[g]);
			sb_str(&b, ":[");
		} else {
			sb_printf(&b, "%s%s:\n", g ? "\n" : "", groups[g]);
		}
		for (size_t i = 0; i + 1 < z->elements; i += 2) {
			if (c->json) {
				sb_str(&b, i ? ",{\"domain\":" : "{\"domain\":");
				sb_json(&b, z->element[i]->str);
				sb_printf(&b, ",\"count\":%lld}", strtoll(z->element[i + 1]->str, NULL, 10));
			} else {
				sb_printf(&b, "%10lld  %s\n", strtoll(z->element[i + 1]->str, NULL, 10), z->element[i]->str);
			}
		}
		sb_str(&b, c->json ? "]" : "");
		freeReplyObject(z);
	}
	sb_str(&b, c->json ? "}\n" : "");
	out(&b);
	if (h)
		freeReplyObject(h);
	return 0;
}

/* One stream entry as a line or a JSON object. */
static void event_out(struct ctl *c, struct strbuf *b, const redisReply *e)
{
	const redisReply *f = e->element[1];
	char name[128] = "";
	const char *client = hget(f, "client");

	if (client)
		ctl_name_of(c, client, name, sizeof(name), NULL);
	if (c->json) {
		sb_str(b, "{\"id\":");
		sb_json(b, e->element[0]->str);
		for (size_t i = 0; i + 1 < f->elements; i += 2) {
			sb_str(b, ",");
			sb_json(b, f->element[i]->str);
			sb_str(b, ":");
			sb_json(b, f->element[i + 1]->str);
		}
		sb_str(b, ",\"name\":");
		sb_json(b, name);
		sb_str(b, "}\n");
		return;
	}
	time_t ts = (time_t)strtoll(hget(f, "ts") ? hget(f, "ts") : "0", NULL, 10);
	char when[32] = "-";
	struct tm tm;
	const char *type = hget(f, "type"), *group = hget(f, "group"), *dom = hget(f, "domain");
	if (ts && gmtime_r(&ts, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	sb_printf(b, "%s  %s", when, client ? client : "?");
	if (name[0])
		sb_printf(b, " (%s)", name);
	if (!type)
		sb_printf(b, "  %s %s (%s:%s)\n", hget(f, "action") ? hget(f, "action") : "?", dom ? dom : "?",
			  group ? group : "?", hget(f, "reason") ? hget(f, "reason") : "?");
	else if (!strcmp(type, "group"))
		sb_printf(b, "  first contact with %s\n", group ? group : "?");
	else
		sb_printf(b, "  new domain in %s: %s (%s)\n", group ? group : "?", dom ? dom : "?",
			  hget(f, "reason") ? hget(f, "reason") : "?");
}

static int cmd_tail(struct ctl *c, int argc, char **argv)
{
	long long n = 10;
	bool follow = false;
	char last[64] = "$";
	const char *stream = "events";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
			follow = true;
		else if (!strcmp(argv[i], "--queries"))
			stream = "recent";
		else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			uint64_t v;
			if (parse_uint(argv[++i], 0, 100000, 0, &v) < 0)
				usage_error("tail -n '%s': expected a number", argv[i]);
			n = (long long)v;
		} else
			usage_error("tail: unexpected argument '%s' (-n N, -f, --queries)", argv[i]);
	}
	redisReply *r = cmd(c, "XREVRANGE %s%s + - COUNT %lld", c->sbase, stream, n);
	if (r->type != REDIS_REPLY_ARRAY)
		die("Redis: %s%s is not a stream", c->sbase, stream);
	struct strbuf b = { 0 };
	for (size_t i = r->elements; i-- > 0;)
		event_out(c, &b, r->element[i]);
	if (r->elements)
		snprintf(last, sizeof(last), "%s", r->element[0]->element[0]->str);
	freeReplyObject(r);
	out(&b);
	fflush(stdout);
	if (!follow)
		return 0;
	/* follow: block without a client timeout (the server side BLOCK does the waiting) */
	struct timeval none = { 0, 0 };
	redisSetTimeout(c->rc, none);
	for (;;) {
		r = cmd(c, "XREAD COUNT 100 BLOCK 0 STREAMS %s%s %s", c->sbase, stream, last);
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
			const redisReply *entries = r->element[0]->element[1];
			for (size_t i = 0; i < entries->elements; i++) {
				event_out(c, &b, entries->element[i]);
				snprintf(last, sizeof(last), "%s", entries->element[i]->element[0]->str);
			}
			out(&b);
			fflush(stdout);
		}
		freeReplyObject(r);
	}
}

/* report_opts.client_name: names as everywhere else in jurisdns-ctl (file clients too). */
static int report_name(void *ctx, const char *id, char *buf, size_t len, char *err, size_t errlen)
{
	return ctl_clients_name(ctx, id, buf, len, NULL, err, errlen);
}

static int cmd_report(struct ctl *c, int argc, char **argv)
{
	const char *file = NULL;
	unsigned days = 7;
	char err[300];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--html") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--days") && i + 1 < argc) {
			uint64_t v;
			if (parse_uint(argv[++i], 1, 90, 0, &v) < 0)
				usage_error("report --days '%s': expected 1 to 90", argv[i]);
			days = (unsigned)v;
		} else
			usage_error("report: unexpected argument '%s' (--html FILE [--days N])", argv[i]);
	}
	if (!file)
		usage_error("report: --html FILE is required%s", "");
	struct report_opts o = { .stats_base = c->sbase, .policy_base = c->base, .days = days,
				 .now = time(NULL), .client_name = report_name, .ctx = clients(c) };
	char tmp[1100];
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	FILE *f = fopen(tmp, "w");
	if (!f)
		die("%s: %s", tmp, strerror(errno));
	if (report_html(c->rc, &o, f, err, sizeof(err)) < 0) {
		fclose(f);
		unlink(tmp);
		die("%s", err);
	}
	if (fclose(f) != 0 || rename(tmp, file) != 0) {
		unlink(tmp);
		die("%s: %s", file, strerror(errno));
	}
	printf("report written to %s\n", file);
	return 0;
}

/* The heartbeats (S instance:NAME): which instances run, and how old their GeoIP data is. The keys
 * expire ~30 s after an instance's last flush, so there are few; SCAN is bounded all the same. */
static int cmd_instances(struct ctl *c, int argc, char **argv)
{
	struct strbuf b = { 0 };
	char pat[400], cursor[32] = "0";
	size_t skip = strlen(c->sbase) + strlen("instance:"), n = 0, k = 0;

	if (argc != 1)
		usage_error("instances: unexpected argument '%s'", argv[1]);
	for (const char *p = c->sbase; *p && k + 12 < sizeof(pat); p++) {
		if (strchr("*?[]\\", *p))
			pat[k++] = '\\';
		pat[k++] = *p;
	}
	snprintf(pat + k, sizeof(pat) - k, "instance:*");
	if (c->json)
		sb_str(&b, "[");
	for (int it = 0; it < 1000; it++) {
		redisReply *x = cmd(c, "SCAN %s MATCH %s COUNT 1000", cursor, pat);
		if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
		    x->element[0]->type != REDIS_REPLY_STRING || x->element[1]->type != REDIS_REPLY_ARRAY)
			die("Redis: unexpected reply to SCAN");
		for (size_t i = 0; i < x->element[1]->elements; i++) {
			const redisReply *key = x->element[1]->element[i];
			if (key->type != REDIS_REPLY_STRING || key->len <= skip)
				continue;
			redisReply *h = cmd(c, "HGETALL %b", key->str, key->len);
			if (h->type != REDIS_REPLY_ARRAY || !h->elements) {
				freeReplyObject(h);     /* expired between SCAN and HGETALL */
				continue;
			}
			const char *ver = hget(h, "version"), *age = hget(h, "geo_age_days"),
				   *flush = hget(h, "last_flush");
			long days = age ? strtol(age, NULL, 10) : -1;
			if (c->json) {
				sb_str(&b, n ? ",{\"instance\":" : "{\"instance\":");
				sb_json(&b, key->str + skip);
				sb_str(&b, ",\"version\":");
				if (ver)
					sb_json(&b, ver);
				else
					sb_str(&b, "null");
				if (days >= 0)
					sb_printf(&b, ",\"geo_age_days\":%ld", days);
				else
					sb_str(&b, ",\"geo_age_days\":null");
				sb_printf(&b, ",\"last_flush\":%lld}", flush ? strtoll(flush, NULL, 10) : 0LL);
			} else {
				time_t t = flush ? (time_t)strtoll(flush, NULL, 10) : 0;
				char when[32] = "-";
				struct tm tm;
				if (t && gmtime_r(&t, &tm))
					strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
				sb_printf(&b, "%s: version %s, ", key->str + skip, ver ? ver : "?");
				if (days >= 0)
					sb_printf(&b, "GeoIP database %ld day%s old", days, days == 1 ? "" : "s");
				else
					sb_str(&b, "no GeoIP database");
				sb_printf(&b, ", last flush %s\n", when);
			}
			n++;
			freeReplyObject(h);
		}
		snprintf(cursor, sizeof(cursor), "%s", x->element[0]->str);
		freeReplyObject(x);
		if (!strcmp(cursor, "0"))
			break;
	}
	if (c->json)
		sb_str(&b, "]\n");
	else if (!n)
		sb_str(&b, "no instance has flushed recently (a heartbeat needs [stats]; it expires "
			   "about 30 s after the last flush)\n");
	out(&b);
	return 0;
}

static int cmd_reload(struct ctl *c, int argc, char **argv)
{
	if (argc != 1)
		usage_error("reload: unexpected argument '%s'", argv[1]);
	redisReply *r = cmd(c, "PUBLISH %s reload", c->channel);
	printf("reload requested; %lld instance%s listening\n", r->integer, r->integer == 1 ? "" : "s");
	freeReplyObject(r);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};
	struct ctl c = { 0 };
	const char *conf_path = NULL, *address = NULL, *prefix = NULL, *user = NULL;
	char err[600];
	int opt;

	while ((opt = getopt_long(argc, argv, "+c:r:p:u:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 'r': address = optarg; break;
		case 'p': prefix = optarg; break;
		case 'u': user = optarg; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("jurisdns-ctl %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* --json may also follow the command */
	int n = 0;
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c.json = true;
		else
			argv[optind + n++] = argv[i];
	}
	argc = optind + n;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!conf_path && access(DEFAULT_CONF, F_OK) == 0)
		conf_path = DEFAULT_CONF;
	/* an upstream keeps conf_load from needing resolv.conf, which ctl has no use for */
	struct conf_overrides ov = { .nupstream = 1, .workers = -1 };
	if (addr_parse("127.0.0.1", 53, &ov.upstream[0], err, sizeof(err)) < 0 ||
	    !(c.conf = conf_load(conf_path, &ov, "/dev/null", err, sizeof(err))))
		die("%s", err);
	c.rcfg = c.conf->redis;
	if (address) {
		if (redis_address_check(address, err, sizeof(err)) < 0)
			die("-r %s", err);
		snprintf(c.rcfg.address, sizeof(c.rcfg.address), "%s", address);
	} else if (!c.rcfg.address[0]) {
		if (conf_path)
			die("%s has no [redis] address; give one with -r", conf_path);
		snprintf(c.rcfg.address, sizeof(c.rcfg.address), "%s", DEFAULT_REDIS);
	}
	if (prefix) {
		if (strlen(prefix) >= sizeof(c.rcfg.prefix) - 16 || strpbrk(prefix, " {}\t"))
			die("-p '%s': up to 47 printable characters, no spaces or braces", prefix);
		snprintf(c.rcfg.prefix, sizeof(c.rcfg.prefix), "%s", prefix);
	}
	if (user)
		snprintf(c.rcfg.user, sizeof(c.rcfg.user), "%s", user);
	if (getenv("JURISDNS_REDIS_PASSWORD"))
		snprintf(c.rcfg.password, sizeof(c.rcfg.password), "%s", getenv("JURISDNS_REDIS_PASSWORD"));
	snprintf(c.base, sizeof(c.base), "%s{policy}:", c.rcfg.prefix);
	snprintf(c.sbase, sizeof(c.sbase), "%s{stats}:", c.rcfg.prefix);
	snprintf(c.channel, sizeof(c.channel), "%spolicy:changed", c.rcfg.prefix);

	char **av = argv + optind;
	int ac = argc - optind;
	static const char *const cmds[] = { "client", "policy", "allow", "deny", "groups", "reload",
					    "instances", "stats", "top", "tail", "report" };
	bool known = false;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
		known |= !strcmp(av[0], cmds[i]);
	if (!known)
		usage_error("unknown command '%s'", av[0]);
	int rc;
	if (!strcmp(av[0], "groups")) {
		rc = cmd_groups(&c, ac, av);
		conf_unref(c.conf);
		return rc;
	}
	connect_redis(&c);
	rc = !strcmp(av[0], "client") ? cmd_client(&c, ac, av)
		 : !strcmp(av[0], "policy") ? cmd_policy(&c, ac, av)
		 : !strcmp(av[0], "reload") ? cmd_reload(&c, ac, av)
		 : !strcmp(av[0], "instances") ? cmd_instances(&c, ac, av)
		 : !strcmp(av[0], "stats")  ? cmd_stats(&c, ac, av)
		 : !strcmp(av[0], "top")    ? cmd_top(&c, ac, av)
		 : !strcmp(av[0], "tail")   ? cmd_tail(&c, ac, av)
		 : !strcmp(av[0], "report") ? cmd_report(&c, ac, av)
					    : cmd_list(&c, ac, av);
	ctl_clients_free(c.clients);
	redisFree(c.rc);
	conf_unref(c.conf);
	return rc;
}
