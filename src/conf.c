/* conf.c - INI configuration via libinih. Every key is validated where it is read, and the first
 * error is reported as "FILE:LINE: message" with a suggestion for misspelt names. */
#include "config.h"
#include <arpa/inet.h>
#include <ini.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "conf.h"
#include "fwdzone.h"
#include "oui.h"
#include "rconn.h"
#include "util.h"

struct parse_ctx {
	struct conf *c;
	FILE *f;
	int lineno;                  /* line the reader returned last */
	int err_line;
	char err[256];
	bool failed;
	bool listen_seen, upstream_seen, allow_seen, tls_listen_seen;
	bool https_listen_seen;
	unsigned forward;            /* the [forward DOMAIN] being read: its index + 1, 0 = none */
	bool private_seen, private_none; /* [upstream] private_upstreams */
	int ca_line;                 /* [upstream] ca_file, for its errors */
	int ttl_line;                /* last line that set min_ttl or max_ttl */
	char dir[512];               /* the file's directory, for relative list files */
	char client_section[128];    /* the [client X] being read */
	struct client_rule client;
	bool have_client;
	struct groups *groups;       /* the group names block lists must use, read at the first block */
	bool groups_tried;
	char groups_err[300];        /* why there are none */
};

struct key_def {
	const char *section, *name;
};

static const struct key_def known_keys[] = {
	{ "server", "listen" }, { "server", "workers" }, { "server", "allow" }, { "server", "deny" },
	{ "server", "tcp_idle_timeout" }, { "server", "tcp_max_clients" },
	{ "server", "tcp_max_queries" }, { "server", "max_udp_size" }, { "server", "max_inflight" },
	{ "server", "ddr_name" },
	{ "server", "tls_listen" }, { "server", "tls_certificate" }, { "server", "tls_key" },
	{ "server", "tls_dir" }, { "server", "https_listen" }, { "server", "https_path" },
	{ "upstream", "server" }, { "upstream", "timeout" }, { "upstream", "failover" },
	{ "upstream", "edns_buffer_size" }, { "upstream", "private_upstreams" },
	{ "upstream", "protect_private_zones" }, { "upstream", "case_randomization" },
	{ "upstream", "ca_file" }, { "upstream", "pin_sha256" },
	{ "cache", "size" }, { "cache", "min_ttl" }, { "cache", "max_ttl" },
	{ "cache", "negative_ttl" }, { "cache", "servfail_ttl" },
	{ "geoip", "db" }, { "geoip", "asn_db" }, { "geoip", "country_path" }, { "geoip", "asn_path" },
	{ "geoip", "org_path" }, { "geoip", "max_age" }, { "geoip", "check_interval" },
	{ "labels", "groups" }, { "labels", "oui" },
	{ "log", "query_log" }, { "log", "query_log_mode" }, { "log", "client_id" },
	{ "log", "client_hash_key" },
	{ "policy", "default_mode" }, { "policy", "block" }, { "policy", "action" },
	{ "policy", "sinkhole_a" }, { "policy", "sinkhole_aaaa" }, { "policy", "ttl" },
	{ "policy", "allow" }, { "policy", "deny" }, { "policy", "trusted_forwarder" },
	{ "policy", "rpz" }, { "policy", "block_private_relay" },
	{ "redis", "address" }, { "redis", "user" }, { "redis", "password" }, { "redis", "prefix" },
	{ "redis", "timeout" }, { "redis", "refresh" }, { "redis", "snapshot" },
	{ "stats", "enabled" }, { "stats", "instance" }, { "stats", "interval" },
	{ "stats", "retention_days" }, { "stats", "top_domains" }, { "stats", "events" },
	{ "stats", "metrics_listen" }, { "stats", "recent" },
	{ "web", "listen" }, { "web", "tls" }, { "web", "password_file" }, { "web", "session_hours" },
};

static const char *const client_keys[] = { "mode", "name", "block", "action" };

static const char *const forward_keys[] = { "server" };

static const char *const known_sections[] = { "server", "upstream", "cache", "geoip", "labels", "log",
					     "policy", "redis", "stats", "web" };

static int fail(struct parse_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse_ctx *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->failed) {
		va_start(ap, fmt);
		vsnprintf(p->err, sizeof(p->err), fmt, ap);
		va_end(ap);
		p->failed = true;
		p->err_line = p->lineno;
	}
	return 0; /* inih: 0 = error on this line */
}

#define NKEYS (sizeof(known_keys) / sizeof(*known_keys))
#define NSECTIONS (sizeof(known_sections) / sizeof(*known_sections))

/* The one message for an unknown key: the nearest key of its section (cands); else the nearest
 * key of another section (written under the wrong header); else a section of that name. hint
 * (may be NULL) lists the keys when nothing is near. */
static int unknown_key(struct parse_ctx *p, const char *section, const char *name,
		       const char *const *cands, size_t n, const char *hint)
{
	const char *all[NKEYS], *s;

	if ((s = suggest_word(name, cands, n)))
		return fail(p, "unknown key '%s' in [%s] (did you mean '%s'?)", name, section, s);
	for (size_t i = 0; i < NKEYS; i++)
		all[i] = known_keys[i].name;
	if ((s = suggest_word(name, all, NKEYS)))
		for (size_t i = 0; i < NKEYS; i++)
			if (all[i] == s)
				return fail(p, "unknown key '%s' in [%s] (did you mean '%s' in [%s]?)", name,
					    section, s, known_keys[i].section);
	if ((s = suggest_word(name, known_sections, NSECTIONS)))
		return fail(p, "unknown key '%s' in [%s] (did you mean a section [%s]?)", name, section, s);
	return hint ? fail(p, "unknown key '%s' in [%s] (%s)", name, section, hint)
		    : fail(p, "unknown key '%s' in [%s]", name, section);
}

/* The groups that block lists are checked against: the names in the groups file, read once, at
 * the first block key (so a configuration without block lists never reads it). NULL after
 * reporting why there are none. */
static const struct groups *block_groups(struct parse_ctx *p)
{
	char path[512];

	if (!p->groups_tried) {
		p->groups_tried = true;
		conf_groups_path(p->c, path, sizeof(path));
		if (!path[0])
			snprintf(p->groups_err, sizeof(p->groups_err),
				 "no groups file to check the groups against (set groups in [labels])");
		else
			p->groups = groups_load_names(path, p->groups_err, sizeof(p->groups_err));
	}
	if (!p->groups)
		fail(p, "block: %s", p->groups_err);
	return p->groups;
}

/* A file named in the configuration: relative to the configuration file's directory. */
static int set_path(struct parse_ctx *p, const char *name, const char *value, char *out, size_t outlen)
{
	int n;

	if (!*value || value[0] == '/' || !strcmp(value, "-") || !p->dir[0])
		n = snprintf(out, outlen, "%s", value);
	else
		n = snprintf(out, outlen, "%s/%s", p->dir, value);
	if (n < 0 || (size_t)n >= outlen)
		return fail(p, "%s: path longer than %zu characters", name, outlen - 1);
	return 1;
}

static int set_string(struct parse_ctx *p, const char *name, const char *value, char *out, size_t outlen)
{
	if (strlen(value) >= outlen)
		return fail(p, "%s: longer than %zu characters", name, outlen - 1);
	strcpy(out, value);
	return 1;
}

/* value must be one of the NULL-terminated words; *out gets its index */
static int set_enum(struct parse_ctx *p, const char *name, const char *value,
		    const char *const *words, int *out)
{
	char list[128] = "";

	for (int i = 0; words[i]; i++) {
		if (!strcmp(value, words[i])) {
			*out = i;
			return 1;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", words[i]);
	}
	return fail(p, "%s = '%s': expected one of %s", name, value, list);
}

static int get_uint(struct parse_ctx *p, const char *name, const char *v, uint64_t min, uint64_t max,
		    bool suffix, uint64_t *out)
{
	if (parse_uint(v, min, max, suffix, out) < 0)
		return fail(p, "%s = '%s': expected a whole number from %llu to %llu%s", name, v,
			    (unsigned long long)min, (unsigned long long)max,
			    suffix ? " (suffix K, M or G allowed)" : "");
	return 1;
}

#define UINT_KEY(sec, key, field, min, max)                                                        \
	if (!strcmp(section, sec) && !strcmp(name, key)) {                                         \
		uint64_t v_;                                                                       \
		if (!get_uint(p, key, value, min, max, false, &v_))                                \
			return 0;                                                                  \
		c->field = (unsigned)v_;                                                           \
		return 1;                                                                          \
	}

static void flush_client(struct parse_ctx *p)
{
	if (p->have_client && policy_add_client(&p->c->policy, &p->client) < 0)
		fail(p, "out of memory");
	p->have_client = false;
}

/* [client 192.168.1.23] or [client 192.168.1.0/24] */
static int client_key(struct parse_ctx *p, const char *section, const char *name, const char *value)
{
	char err[200];

	if (strcmp(section, p->client_section)) {
		flush_client(p);
		snprintf(p->client_section, sizeof(p->client_section), "%s", section);
		if (policy_client_init(&p->client, section + 7, err, sizeof(err)) < 0)
			return fail(p, "[%s]: %s", section, err);
		p->have_client = true;
	}
	const struct groups *g = NULL;
	if (!strcmp(name, "block") && !(g = block_groups(p)))
		return 0;
	int rc = policy_client_set(&p->client, name, value, g, err, sizeof(err));
	if (rc == -1)
		return fail(p, "%s", err);
	if (rc == 0)
		return 1;
	return unknown_key(p, section, name, client_keys, sizeof(client_keys) / sizeof(*client_keys),
			   "mode, name, block or action");
}

/* --- [forward DOMAIN] sections and the private zones --- */

/* The [forward] section being read ends (another section or the end of the file): it must
 * have named a server. The error points at its header. */
static void forward_end(struct parse_ctx *p)
{
	const struct conf_forward *f;

	if (!p->forward)
		return;
	f = &p->c->forward[p->forward - 1];
	p->forward = 0;
	if (!f->nserver && !p->failed) {
		fail(p, "[forward %s]: no server given (add server = IP[:PORT])", f->name);
		p->err_line = f->line;
	}
}

/* The header [forward DOMAIN], checked as it is read so that an empty or a repeated section is
 * an error too. header is the text between the brackets. */
static void forward_begin(struct parse_ctx *p, const char *header)
{
	struct conf *c = p->c;
	const char *d = header + 7; /* after "forward" */
	char text[256];
	uint8_t wire[256];
	size_t l;
	int n;

	while (*d == ' ' || *d == '\t')
		d++;
	l = strlen(d);
	while (l && (d[l - 1] == ' ' || d[l - 1] == '\t'))
		l--;
	if (!l || (header[7] != ' ' && header[7] != '\t')) {
		fail(p, "[%s]: expected [forward DOMAIN], such as [forward lan]", header);
		return;
	}
	snprintf(text, sizeof(text), "%.*s", (int)l, d);
	if ((n = domain_to_wire(text, wire)) < 0) {
		fail(p, "[%s]: '%s' is not a domain name (letters, digits, '-' and '_' between dots)",
		     header, text);
		return;
	}
	for (unsigned i = 0; i < c->nforward; i++)
		if (c->forward[i].zone_len == (unsigned)n && !memcmp(c->forward[i].zone, wire, (size_t)n)) {
			fail(p, "[%s]: the zone already has a section on line %d", header, c->forward[i].line);
			return;
		}
	if (c->nforward == CONF_MAX_FORWARD) {
		fail(p, "too many [forward] sections (at most %d)", CONF_MAX_FORWARD);
		return;
	}
	struct conf_forward *grown = realloc(c->forward, (c->nforward + 1) * sizeof(*grown));
	if (!grown) {
		fail(p, "out of memory");
		return;
	}
	c->forward = grown;
	struct conf_forward *f = &c->forward[c->nforward];
	memset(f, 0, sizeof(*f));
	memcpy(f->zone, wire, (size_t)n);
	f->zone_len = (unsigned)n;
	snprintf(f->name, sizeof(f->name), "%s", text);
	f->line = p->lineno;
	if (fwdzones_add(c->fwd, wire, (size_t)n, c->nforward) < 0) {
		fail(p, "out of memory");
		return;
	}
	p->forward = ++c->nforward;
}

/* Distinct server addresses over all [forward] sections. */
static unsigned forward_addrs(const struct conf *c, const struct addr *extra, bool *extra_new)
{
	unsigned n = 0;

	*extra_new = true;
	for (unsigned i = 0; i < c->nforward; i++)
		for (unsigned j = 0; j < c->forward[i].nserver; j++) {
			const struct addr *a = &c->forward[i].server[j];
			bool seen = false;
			for (unsigned k = 0; k <= i && !seen; k++)
				for (unsigned m = 0; m < (k == i ? j : c->forward[k].nserver) && !seen; m++)
					seen = addr_equal(&c->forward[k].server[m].u.sa, &a->u.sa);
			n += !seen;
			if (addr_equal(&a->u.sa, &extra->u.sa))
				*extra_new = false;
		}
	return n;
}

static int forward_key(struct parse_ctx *p, const char *section, const char *name, const char *value)
{
	struct conf *c = p->c;
	char err[200];

	if (!p->forward)
		return 1; /* its header was wrong: reported already */
	struct conf_forward *f = &c->forward[p->forward - 1];
	if (!strcmp(name, "server")) {
		struct addr a;
		bool fresh;
		if (f->nserver == CONF_MAX_FORWARD_SERVERS)
			return fail(p, "too many servers in [%s] (at most %d)", section, CONF_MAX_FORWARD_SERVERS);
		if (addr_parse(value, 53, &a, err, sizeof(err)) < 0)
			return fail(p, "server = %s", err);
		if (forward_addrs(c, &a, &fresh) == CONF_MAX_FORWARD_ADDRS && fresh)
			return fail(p, "too many different [forward] server addresses (at most %d)",
				    CONF_MAX_FORWARD_ADDRS);
		f->server[f->nserver++] = a;
		return 1;
	}
	return unknown_key(p, section, name, forward_keys, sizeof(forward_keys) / sizeof(*forward_keys),
			   "only server");
}

/* [upstream] private_upstreams and protect_private_zones */
static int private_key(struct parse_ctx *p, const char *name, const char *value)
{
	struct acl *acl = &p->c->private_upstreams;
	char err[200];

	if (!strcmp(name, "protect_private_zones")) {
		static const char *const yn[] = { "no", "yes", NULL };
		int v;
		if (!set_enum(p, name, value, yn, &v))
			return 0;
		p->c->protect_private_zones = v == 1;
		return 1;
	}
	/* repeatable; the first one replaces the default (auto) */
	if (!p->private_seen)
		acl_free(acl);
	p->private_seen = true;
	if (!strcmp(value, "none")) {
		if (acl->nallow)
			return fail(p, "private_upstreams = none: cannot be combined with other values");
		p->private_none = true;
		return 1;
	}
	if (p->private_none)
		return fail(p, "private_upstreams = %s: cannot be combined with none", value);
	if (!strcmp(value, "auto")) {
		struct acl d = { 0 };
		int rc = acl_set_default(&d);
		for (unsigned i = 0; rc == 0 && i < d.nallow; i++)
			rc = acl_add(acl, false, &d.allow[i]);
		acl_free(&d);
		return rc < 0 ? fail(p, "out of memory") : 1;
	}
	struct cidr cd;
	if (cidr_parse(value, &cd, err, sizeof(err)) < 0)
		return fail(p, "private_upstreams = %s (expected auto, none, an address or a CIDR)", err);
	if (acl_add(acl, false, &cd) < 0)
		return fail(p, "out of memory");
	return 1;
}

static int policy_key(struct parse_ctx *p, const char *name, const char *value)
{
	struct policy *pol = &p->c->policy;
	char err[300];

	if (!strcmp(name, "default_mode") || !strcmp(name, "action")) {
		if (policy_default_set(pol, name, value, NULL, err, sizeof(err)) < 0)
			return fail(p, "%s", err);
		return 1;
	}
	if (!strcmp(name, "block")) { /* adds to the list: block may be given on several lines */
		const struct groups *g = block_groups(p);
		if (!g)
			return 0;
		if (policy_parse_block(value, g, pol->block, &pol->nblock, err, sizeof(err)) < 0)
			return fail(p, "%s", err);
		return 1;
	}
	if (!strcmp(name, "sinkhole_a")) {
		if (inet_pton(AF_INET, value, pol->sink_a) != 1)
			return fail(p, "sinkhole_a = '%s': not an IPv4 address", value);
		return 1;
	}
	if (!strcmp(name, "sinkhole_aaaa")) {
		if (inet_pton(AF_INET6, value, pol->sink_aaaa) != 1)
			return fail(p, "sinkhole_aaaa = '%s': not an IPv6 address", value);
		return 1;
	}
	if (!strcmp(name, "ttl")) {
		uint64_t v;
		if (!get_uint(p, name, value, 0, 86400, false, &v))
			return 0;
		pol->ttl = (uint32_t)v;
		return 1;
	}
	if (!strcmp(name, "rpz")) {
		char path[1024];
		if (value[0] == '/' || !p->dir[0])
			snprintf(path, sizeof(path), "%s", value);
		else
			snprintf(path, sizeof(path), "%s/%s", p->dir, value);
		if (rpz_load(&pol->rpz, path, err, sizeof(err)) < 0)
			return fail(p, "rpz = %s", err);
		return 1;
	}
	if (!strcmp(name, "block_private_relay")) {
		static const char *const yn[] = { "no", "yes", NULL };
		int v;
		if (!set_enum(p, name, value, yn, &v))
			return 0;
		p->c->block_private_relay = v == 1;
		return 1;
	}
	if (!strcmp(name, "trusted_forwarder")) {
		struct cidr cd;
		if (cidr_parse(value, &cd, err, sizeof(err)) < 0)
			return fail(p, "trusted_forwarder = %s", err);
		if (policy_add_trusted(pol, &cd) < 0)
			return fail(p, "out of memory");
		return 1;
	}
	if (!strcmp(name, "allow") || !strcmp(name, "deny")) {
		struct suffix_set **set = name[0] == 'a' ? &pol->allow : &pol->deny;
		if (!*set && !(*set = suffix_set_new()))
			return fail(p, "out of memory");
		if (policy_add_domains(*set, value, p->dir, err, sizeof(err)) < 0)
			return fail(p, "%s = %s", name, err);
		return 1;
	}
	const char *names[NKEYS];
	size_t n = 0;
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(known_keys[i].section, "policy"))
			names[n++] = known_keys[i].name;
	return unknown_key(p, "policy", name, names, n, NULL);
}

/* [server] listen and [upstream] server: the first one in the file replaces the defaults, the
 * others add up to max. */
static int add_addr(struct parse_ctx *p, bool *seen, struct addr *list, unsigned *n, unsigned max,
		    uint16_t default_port, const char *name, const char *value, const char *what)
{
	char err[200];

	if (!*seen)
		*n = 0;
	*seen = true;
	if (*n == max)
		return fail(p, "too many %s (at most %u)", what, max);
	if (addr_parse(value, default_port, &list[*n], err, sizeof(err)) < 0)
		return fail(p, "%s = %s", name, err);
	(*n)++;
	return 1;
}

/* [upstream] server: ADDR[:PORT], tls://IP:PORT#NAME or https://IP:PORT/PATH#NAME; the first
 * one replaces the defaults. */
static int add_upstream(struct parse_ctx *p, const char *value)
{
	struct conf *c = p->c;
	char err[400];

	if (!p->upstream_seen)
		c->nupstream = 0;
	p->upstream_seen = true;
	if (c->nupstream == CONF_MAX_UPSTREAM)
		return fail(p, "too many upstream servers (at most %u)", CONF_MAX_UPSTREAM);
	if (up_url_parse(value, &c->upstream_url[c->nupstream], err, sizeof(err)) < 0)
		return fail(p, "server = %s", err);
	c->upstream[c->nupstream] = c->upstream_url[c->nupstream].addr;
	c->nupstream++;
	return 1;
}

/* The client TLS context for the encrypted [upstream] servers, when there are any. */
static bool conf_upstream_tls(struct conf *c, const char *path, int ca_line, char *err, size_t errlen)
{
	char why[600];
	bool any = false;

	for (unsigned i = 0; i < c->nupstream; i++)
		any |= c->upstream_url[i].proto != UP_PLAIN;
	if (!any)
		return true;
	if (!strcmp(c->upstream_ca_file, "none") && !c->nupstream_pin) {
		snprintf(err, errlen, "%s:%d: ca_file = none: give pin_sha256, or nothing would be checked",
			 path ? path : "config", ca_line);
		return false;
	}
	if (!(c->upstream_tls_ctx = up_tls_ctx_new(c->upstream_ca_file, why, sizeof(why)))) {
		if (ca_line)
			snprintf(err, errlen, "%s:%d: %s", path ? path : "config", ca_line, why);
		else
			snprintf(err, errlen, "%s: %s", path ? path : "config", why);
		return false;
	}
	return true;
}

/* [web]: listen is repeatable and an empty value turns the console off (the default). */
static int web_key(struct parse_ctx *p, const char *name, const char *value)
{
	struct conf *c = p->c;
	uint64_t v;

	if (!strcmp(name, "listen")) {
		if (!*value) {
			c->web.nlisten = 0;
			return 1;
		}
		bool seen = true;
		return add_addr(p, &seen, c->web.listen, &c->web.nlisten, CONF_MAX_WEB_LISTEN, 0, name,
				value, "[web] listen addresses");
	}
	if (!strcmp(name, "tls")) {
		static const char *const yn[] = { "no", "yes", NULL };
		int t;
		if (!set_enum(p, name, value, yn, &t))
			return 0;
		c->web.tls = t == 1;
		return 1;
	}
	if (!strcmp(name, "password_file"))
		return set_path(p, name, value, c->web.password_file, sizeof(c->web.password_file));
	if (!strcmp(name, "session_hours")) {
		if (!get_uint(p, name, value, 1, 24 * 365, false, &v))
			return 0;
		c->web.session_hours = (unsigned)v;
		return 1;
	}
	const char *names[] = { "listen", "tls", "password_file", "session_hours" };
	return unknown_key(p, "web", name, names, 4, NULL);
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	struct conf *c = p->c;
	char err[200];

	if (p->failed)
		return 1; /* report only the first error */
	if (!name) /* section header (INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;

	if (!strncmp(section, "client ", 7))
		return client_key(p, section, name, value);
	if (!strncmp(section, "forward", 7) && (section[7] == ' ' || section[7] == '\t'))
		return forward_key(p, section, name, value);
	if (!strcmp(section, "upstream") &&
	    (!strcmp(name, "private_upstreams") || !strcmp(name, "protect_private_zones")))
		return private_key(p, name, value);
	bool section_known = false;
	for (size_t i = 0; i < sizeof(known_sections) / sizeof(*known_sections); i++)
		section_known |= !strcmp(section, known_sections[i]);
	if (!section_known) {
		const char *s = suggest_word(section, known_sections, NSECTIONS);
		if (!*section)
			return fail(p, "key '%s' outside a section (start with [server])", name);
		return s ? fail(p, "unknown section [%s] (did you mean [%s]?)", section, s)
			 : fail(p, "unknown section [%s]", section);
	}

	if (!strcmp(section, "server") && !strcmp(name, "listen"))
		return add_addr(p, &p->listen_seen, c->listen, &c->nlisten, CONF_MAX_LISTEN, 0, name,
				value, "listen addresses");
	if (!strcmp(section, "server") && (!strcmp(name, "allow") || !strcmp(name, "deny"))) {
		struct cidr cidr;
		bool deny = name[0] == 'd';
		if (!deny && !p->allow_seen) {
			free(c->acl.allow);
			c->acl.allow = NULL;
			c->acl.nallow = 0;
			p->allow_seen = true;
		}
		if (cidr_parse(value, &cidr, err, sizeof(err)) < 0)
			return fail(p, "%s = %s", name, err);
		if (acl_add(&c->acl, deny, &cidr) < 0)
			return fail(p, "out of memory");
		return 1;
	}
	if (!strcmp(section, "server") && !strcmp(name, "tls_listen"))
		return add_addr(p, &p->tls_listen_seen, c->tls_listen, &c->ntls_listen, CONF_MAX_LISTEN,
				853, name, value, "tls_listen addresses");
	if (!strcmp(section, "server") && !strcmp(name, "https_listen"))
		return add_addr(p, &p->https_listen_seen, c->https_listen, &c->nhttps_listen,
				CONF_MAX_LISTEN, 443, name, value, "https_listen addresses");
	if (!strcmp(section, "server") && !strcmp(name, "https_path")) {
		/* matched byte for byte against :path before its query string */
		if (value[0] != '/' || strpbrk(value, "?#% \t"))
			return fail(p, "https_path = '%s': expected an absolute path such as /dns-query "
				    "(no query string, '#', '%%' or spaces)", value);
		if (strlen(value) >= sizeof(c->https_path))
			return fail(p, "https_path: longer than %zu characters", sizeof(c->https_path) - 1);
		snprintf(c->https_path, sizeof(c->https_path), "%s", value);
		return 1;
	}
	if (!strcmp(section, "server") && !strcmp(name, "tls_certificate"))
		return set_path(p, name, value, c->tls_certificate, sizeof(c->tls_certificate));
	if (!strcmp(section, "server") && !strcmp(name, "tls_key"))
		return set_path(p, name, value, c->tls_key, sizeof(c->tls_key));
	if (!strcmp(section, "server") && !strcmp(name, "tls_dir"))
		return set_path(p, name, value, c->tls_dir, sizeof(c->tls_dir));
	if (!strcmp(section, "server") && !strcmp(name, "ddr_name")) {
		/* the name in the certificate of the DoT/DoH listeners (RFC 9462 section 4) */
		int n = 0;
		if (!strcmp(value, "."))
			return fail(p, "ddr_name = '.': RFC 9462 forbids the TargetName \".\" here; "
				    "give the name in the listeners' certificate");
		if (*value && (n = domain_to_wire(value, c->ddr_name)) < 0)
			return fail(p, "ddr_name = '%s': not a host name", value);
		c->ddr_name_len = (unsigned)n; /* "": unset */
		return 1;
	}
	if (!strcmp(section, "upstream") && !strcmp(name, "server"))
		return add_upstream(p, value);
	if (!strcmp(section, "upstream") && !strcmp(name, "ca_file")) {
		p->ca_line = p->lineno;
		if (!strcmp(value, "none"))
			return set_string(p, name, value, c->upstream_ca_file, sizeof(c->upstream_ca_file));
		return set_path(p, name, value, c->upstream_ca_file, sizeof(c->upstream_ca_file));
	}
	if (!strcmp(section, "upstream") && !strcmp(name, "pin_sha256")) {
		if (c->nupstream_pin == CONF_MAX_PINS)
			return fail(p, "too many pin_sha256 (at most %u)", CONF_MAX_PINS);
		if (up_pin_parse(value, c->upstream_pin[c->nupstream_pin]) < 0)
			return fail(p, "pin_sha256 = %s: expected the base64 of a SHA-256 (44 characters)", value);
		c->nupstream_pin++;
		return 1;
	}
	if (!strcmp(section, "cache") && !strcmp(name, "size")) {
		uint64_t v;
		if (!get_uint(p, name, value, 0, 1ULL << 40, true, &v))
			return 0;
		c->cache_size = v;
		return 1;
	}
	if (!strcmp(section, "geoip") && !strcmp(name, "db")) {
		c->geo_db_set = true;
		return set_path(p, name, value, c->geo_db, sizeof(c->geo_db));
	}
	if (!strcmp(section, "geoip") && !strcmp(name, "asn_db"))
		return set_path(p, name, value, c->asn_db, sizeof(c->asn_db));
	if (!strcmp(section, "geoip") && strstr(name, "_path")) {
		char *dst = !strcmp(name, "country_path") ? c->geo_paths.country
			    : !strcmp(name, "asn_path")   ? c->geo_paths.asn
			    : !strcmp(name, "org_path")   ? c->geo_paths.org : NULL;
		if (dst) {
			if (geo_paths_check(value, err, sizeof(err)) < 0)
				return fail(p, "%s = %s", name, err);
			return set_string(p, name, value, dst, sizeof(c->geo_paths.country));
		}
	}
	if (!strcmp(section, "labels") && !strcmp(name, "oui")) {
		c->oui_set = true;
		return set_path(p, name, value, c->oui_dir, sizeof(c->oui_dir));
	}
	if (!strcmp(section, "labels") && !strcmp(name, "groups")) {
		c->groups_set = true;
		return set_path(p, name, value, c->groups, sizeof(c->groups));
	}
	if (!strcmp(section, "log") && !strcmp(name, "query_log"))
		return set_path(p, name, value, c->query_log, sizeof(c->query_log));
	if (!strcmp(section, "log") && !strcmp(name, "client_hash_key"))
		return set_string(p, name, value, c->client_hash_key, sizeof(c->client_hash_key));
	if (!strcmp(section, "log") && !strcmp(name, "query_log_mode")) {
		static const char *const modes[] = { "all", "labelled", "none", NULL };
		int v;
		if (!set_enum(p, name, value, modes, &v))
			return 0;
		c->qlog_mode = (enum qlog_mode)v;
		return 1;
	}
	if (!strcmp(section, "log") && !strcmp(name, "client_id")) {
		static const char *const modes[] = { "ip", "mac", "hash", NULL };
		int v;
		if (!set_enum(p, name, value, modes, &v))
			return 0;
		c->client_id = (enum client_id_mode)v;
		return 1;
	}
	if (!strcmp(section, "policy"))
		return policy_key(p, name, value);
	if (!strcmp(section, "redis") && !strcmp(name, "address")) {
		if (*value && redis_address_check(value, err, sizeof(err)) < 0)
			return fail(p, "address = %s", err);
		return set_string(p, name, value, c->redis.address, sizeof(c->redis.address));
	}
	if (!strcmp(section, "redis") && !strcmp(name, "user"))
		return set_string(p, name, value, c->redis.user, sizeof(c->redis.user));
	if (!strcmp(section, "redis") && !strcmp(name, "password"))
		return set_string(p, name, value, c->redis.password, sizeof(c->redis.password));
	if (!strcmp(section, "redis") && !strcmp(name, "snapshot"))
		return set_path(p, name, value, c->redis.snapshot, sizeof(c->redis.snapshot));
	if (!strcmp(section, "redis") && !strcmp(name, "prefix")) {
		for (const char *ch = value; *ch; ch++)
			if (*ch <= ' ' || *ch > '~' || *ch == '{' || *ch == '}')
				return fail(p, "prefix = '%s': printable characters only, no spaces or braces", value);
		return set_string(p, name, value, c->redis.prefix, sizeof(c->redis.prefix) - 16);
	}
	if (!strcmp(section, "stats") && !strcmp(name, "enabled")) {
		static const char *const yn[] = { "no", "yes", NULL };
		int v;
		if (!set_enum(p, name, value, yn, &v))
			return 0;
		c->stats.enabled = v == 1;
		return 1;
	}
	if (!strcmp(section, "stats") && !strcmp(name, "instance")) {
		for (const char *ch = value; *ch; ch++)
			if (*ch <= ' ' || *ch > '~' || *ch == '{' || *ch == '}' || *ch == ':')
				return fail(p, "instance = '%s': printable characters only, no spaces, braces or colons", value);
		return set_string(p, name, value, c->stats.instance, sizeof(c->stats.instance));
	}
	if (!strcmp(section, "stats") && !strcmp(name, "metrics_listen")) {
		struct addr a;
		if (*value && addr_parse(value, 0, &a, err, sizeof(err)) < 0)
			return fail(p, "metrics_listen = %s", err);
		return set_string(p, name, value, c->stats.metrics_listen, sizeof(c->stats.metrics_listen));
	}
	if (!strcmp(section, "stats") && !strcmp(name, "retention_days")) {
		uint64_t v;
		if (!get_uint(p, name, value, 1, 3650, false, &v))
			return 0;
		c->stats.retention = (unsigned)v * 24;
		return 1;
	}
	if (!strcmp(section, "web"))
		return web_key(p, name, value);
	UINT_KEY("stats", "interval", stats.interval, 100, 60000)
	UINT_KEY("stats", "top_domains", stats.top_domains, 1, 10000)
	UINT_KEY("stats", "events", stats.events, 10, 10000000)
	UINT_KEY("stats", "recent", stats.recent, 0, 10000000)
	UINT_KEY("redis", "timeout", redis.timeout, 50, 60000)
	UINT_KEY("redis", "refresh", redis.refresh, 0, 86400)
	UINT_KEY("geoip", "max_age", geo_max_age, 0, 3650)
	UINT_KEY("geoip", "check_interval", geo_check, 0, 86400)
	UINT_KEY("server", "workers", workers, 0, 256)
	UINT_KEY("server", "tcp_idle_timeout", tcp_idle_timeout, 100, 3600000)
	UINT_KEY("server", "tcp_max_clients", tcp_max_clients, 1, 100000)
	UINT_KEY("server", "tcp_max_queries", tcp_max_queries, 1, 65535)
	UINT_KEY("server", "max_udp_size", max_udp_size, 512, 4096)
	UINT_KEY("server", "max_inflight", max_inflight, 16, 1000000)
	if (!strcmp(section, "upstream") && !strcmp(name, "case_randomization")) {
		static const char *const yn[] = { "no", "yes", NULL };
		int v;
		if (!set_enum(p, name, value, yn, &v))
			return 0;
		c->case_randomization = v == 1;
		return 1;
	}
	UINT_KEY("upstream", "timeout", timeout, 50, 60000)
	UINT_KEY("upstream", "failover", failover, 10, 60000)
	UINT_KEY("upstream", "edns_buffer_size", upstream_udp_size, 512, 4096)
	if (!strcmp(section, "cache") && (!strcmp(name, "min_ttl") || !strcmp(name, "max_ttl")))
		p->ttl_line = p->lineno;
	UINT_KEY("cache", "min_ttl", min_ttl, 0, 86400)
	UINT_KEY("cache", "max_ttl", max_ttl, 0, 604800 * 4)
	UINT_KEY("cache", "negative_ttl", negative_ttl, 0, 86400)
	UINT_KEY("cache", "servfail_ttl", servfail_ttl, 0, 300)

	const char *names[NKEYS];
	size_t n = 0;
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(known_keys[i].section, section))
			names[n++] = known_keys[i].name;
	return unknown_key(p, section, name, names, n, NULL);
}

static bool section_known(const char *name)
{
	for (size_t i = 0; i < sizeof(known_sections) / sizeof(*known_sections); i++)
		if (!strcmp(name, known_sections[i]))
			return true;
	return false;
}

/* inih's line reader, wrapped: it counts lines (so errors name the right one), refuses lines
 * longer than inih's buffer (which would split them silently), and checks section headers as
 * they come, so an unknown section is an error even when it has no keys. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	char *line = fgets(str, num, p->f);
	size_t n;

	if (!line)
		return NULL;
	p->lineno++;
	n = strlen(line);
	if (n == (size_t)num - 1 && line[n - 1] != '\n' && !feof(p->f)) {
		fail(p, "line longer than %d characters", num - 2);
		int ch;
		while ((ch = fgetc(p->f)) != EOF && ch != '\n')
			;
		line[0] = 0;
		return line;
	}
	const char *t = line;
	while (*t == ' ' || *t == '\t')
		t++;
	if (*t == '[' && !p->failed) {
		char name[300]; /* room for [forward DOMAIN] with the longest domain */
		size_t k = 0;
		for (t++; *t && *t != ']' && k < sizeof(name) - 1; t++)
			name[k++] = *t;
		name[k] = 0;
		forward_end(p); /* a new section: the [forward] before it is complete */
		if (*t == ']' && !strncmp(name, "client ", 7)) {
			/* check the client's address here, so an empty section is caught too */
			struct cidr cd;
			uint8_t mac[6];
			char cerr[160];
			const char *who = name + 7;
			if (policy_parse_mac(who, mac) < 0 && cidr_parse(who, &cd, cerr, sizeof(cerr)) < 0)
				fail(p, "[%s]: %s (expected an IP address, a CIDR or a MAC address)", name, cerr);
		} else if (*t == ']' && !strncmp(name, "forward", 7) && (!name[7] || name[7] == ' ' || name[7] == '\t')) {
			forward_begin(p, name);
		} else if (*t == ']' && !section_known(name)) {
			const char *sug = suggest_word(name, known_sections, NSECTIONS);
			if (sug)
				fail(p, "unknown section [%s] (did you mean [%s]?)", name, sug);
			else
				fail(p, "unknown section [%s]", name);
		}
	}
	return line;
}

/* Pass one reads [labels] groups alone, so that block lists are checked against the right groups
 * file wherever the sections stand. Errors are left to pass two. */
static int groups_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *pre = user;

	if (name && !strcmp(section, "labels") && !strcmp(name, "groups")) {
		pre->c->groups_set = true;
		set_path(pre, name, value, pre->c->groups, sizeof(pre->c->groups));
	}
	return 1;
}

int conf_read_resolv(struct conf *c, const char *resolv_conf)
{
	FILE *f = fopen(resolv_conf, "r");
	char line[512], err[200];

	c->nupstream = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && c->nupstream < CONF_MAX_UPSTREAM) {
		char *tok = strtok(line, " \t\r\n");
		if (!tok || strcmp(tok, "nameserver"))
			continue;
		tok = strtok(NULL, " \t\r\n");
		if (!tok)
			continue;
		char *pct = strchr(tok, '%'); /* fe80::1%eth0: scope ids are not supported */
		if (pct)
			continue;
		if (addr_parse(tok, 53, &c->upstream[c->nupstream], err, sizeof(err)) == 0)
			c->nupstream++;
	}
	fclose(f);
	return (int)c->nupstream;
}

static void conf_defaults(struct conf *c)
{
	char err[64];

	atomic_init(&c->refs, 1);
	addr_parse("127.0.0.1:5335", 0, &c->listen[0], err, sizeof(err));
	c->nlisten = 1;
	c->workers = 0;
	acl_set_default(&c->acl);
	c->tcp_idle_timeout = 10000;
	c->tcp_max_clients = 512;
	c->tcp_max_queries = 64;
	c->max_udp_size = 4096;
	c->max_inflight = 20000;
	c->timeout = 2500;
	c->failover = 1000;
	c->upstream_udp_size = 1232;
	c->protect_private_zones = true;
	c->cache_size = 64ULL << 20;
	c->min_ttl = 0;
	c->max_ttl = 86400;
	c->negative_ttl = 3600;
	c->servfail_ttl = 5;
	snprintf(c->geo_db, sizeof(c->geo_db), "%s", JD_GEO_DB);
	snprintf(c->oui_dir, sizeof(c->oui_dir), "%s", OUI_DEFAULT_DIR);
	geo_paths_default(&c->geo_paths);
	c->geo_max_age = 90;
	c->geo_check = 60;
	c->query_log[0] = '-';
	c->qlog_mode = QLOG_LABELLED;
	c->client_id = CLIENT_ID_IP;
	policy_init(&c->policy);
	snprintf(c->redis.prefix, sizeof(c->redis.prefix), "jurisdns:");
	snprintf(c->redis.snapshot, sizeof(c->redis.snapshot), "%s", JD_POLICY_SNAPSHOT);
	snprintf(c->tls_dir, sizeof(c->tls_dir), "%s", JD_TLS_DIR);
	snprintf(c->https_path, sizeof(c->https_path), "/dns-query");
	snprintf(c->web.password_file, sizeof(c->web.password_file), "%s", JD_WEB_PASSWORD_FILE);
	c->web.session_hours = 12;
	c->redis.timeout = 2000;
	c->redis.refresh = 60;
	c->stats.enabled = true;
	c->stats.interval = 1000;
	c->stats.retention = 30 * 24;
	c->stats.top_domains = 100;
	c->stats.events = 10000;
}

/* The DDR endpoint of listener a (alpn: DoT, or DoH on path): one per alpn and port, with the
 * listeners' addresses as hints (a wildcard gives none: the client uses the address it asked). */
static void conf_ddr_add(struct conf *c, enum ddr_alpn alpn, const struct addr *a, const char *path)
{
	uint16_t port = ntohs(a->u.sa.sa_family == AF_INET6 ? a->u.sin6.sin6_port : a->u.sin.sin_port);
	struct ddr_endpoint *e = NULL;

	for (unsigned k = 0; k < c->nddr; k++)
		if (c->ddr[k].alpn == alpn && c->ddr[k].port == port)
			e = &c->ddr[k];
	if (!e) {
		if (c->nddr == CONF_MAX_DDR)
			return;
		e = &c->ddr[c->nddr++];
		memset(e, 0, sizeof(*e));
		e->alpn = alpn;
		e->port = port;
		snprintf(e->path, sizeof(e->path), "%s", path);
	}
	if (a->u.sa.sa_family == AF_INET) {
		const struct sockaddr_in *s4 = &a->u.sin;
		if (s4->sin_addr.s_addr != htonl(INADDR_ANY) && e->nv4 < CONF_MAX_DDR_HINTS)
			memcpy(e->v4[e->nv4++], &s4->sin_addr, 4);
	} else if (a->u.sa.sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = &a->u.sin6;
		if (!IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) && e->nv6 < CONF_MAX_DDR_HINTS)
			memcpy(e->v6[e->nv6++], &s6->sin6_addr, 16);
	}
}

/* The DDR endpoints: the DoT listeners in the order of tls_listen, then the DoH ones. */
static void conf_fill_ddr(struct conf *c)
{
	for (unsigned i = 0; i < c->ntls_listen; i++)
		conf_ddr_add(c, DDR_DOT, &c->tls_listen[i], "");
	for (unsigned i = 0; i < c->nhttps_listen; i++)
		conf_ddr_add(c, DDR_DOH, &c->https_listen[i], c->https_path);
}

struct conf *conf_load(const char *path, const struct conf_overrides *ov, const char *resolv_conf,
		       char *err, size_t errlen)
{
	struct conf *c = calloc(1, sizeof(*c));
	struct parse_ctx p = { .c = c };

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	conf_defaults(c);
	if (!(c->fwd = fwdzones_new()) || acl_set_default(&c->private_upstreams) < 0) {
		snprintf(err, errlen, "out of memory");
		conf_unref(c);
		return NULL;
	}
	if (path) {
		FILE *f = fopen(path, "r");
		int line;
		if (!f) {
			snprintf(err, errlen, "%s: cannot open: %m", path);
			conf_unref(c);
			return NULL;
		}
		p.f = f;
		const char *slash = strrchr(path, '/');
		if (slash)
			snprintf(p.dir, sizeof(p.dir), "%.*s", (int)(slash - path), path);
		struct parse_ctx pre = { .c = c };
		memcpy(pre.dir, p.dir, sizeof(pre.dir));
		ini_parse_file(f, groups_key, &pre);
		rewind(f);
		line = ini_parse_stream(read_line, &p, on_key, &p);
		groups_unref(p.groups);
		if (!p.failed)
			flush_client(&p);
		forward_end(&p);
		fclose(f);
		if (line != 0 || p.failed) {
			/* whichever came first: inih's syntax error or ours */
			if (p.failed && (line <= 0 || p.err_line <= line))
				snprintf(err, errlen, "%s:%d: %s", path, p.err_line, p.err);
			else
				snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
					 path, line);
			conf_unref(c);
			return NULL;
		}
		c->path = strdup(path);
	}
	policy_finish(&c->policy);
	if (ov && ov->nlisten) {
		memcpy(c->listen, ov->listen, sizeof(ov->listen));
		c->nlisten = ov->nlisten;
	}
	if (ov && ov->nupstream) {
		memcpy(c->upstream, ov->upstream, sizeof(ov->upstream));
		memcpy(c->upstream_url, ov->upstream_url, sizeof(ov->upstream_url));
		for (unsigned i = 0; i < ov->nupstream; i++)
			if (c->upstream_url[i].proto == UP_PLAIN)
				c->upstream_url[i].addr = c->upstream[i];
		c->nupstream = ov->nupstream;
	}
	if (ov && ov->workers >= 0)
		c->workers = (unsigned)ov->workers;
	if (c->min_ttl > c->max_ttl) {
		snprintf(err, errlen, "%s:%d: [cache] min_ttl (%u) is larger than max_ttl (%u)",
			 path ? path : "config", p.ttl_line, c->min_ttl, c->max_ttl);
		conf_unref(c);
		return NULL;
	}
	conf_fill_ddr(c);
	if (!conf_upstream_tls(c, path, p.ca_line, err, errlen)) {
		conf_unref(c);
		return NULL;
	}
	if (!c->nupstream) {
		c->upstream_from_resolv = true;
		if (conf_read_resolv(c, resolv_conf) == 0) {
			snprintf(err, errlen, "%s: no [upstream] server given and no usable nameserver in %s",
				 path ? path : "config", resolv_conf);
			conf_unref(c);
			return NULL;
		}
	}
	return c;
}

void conf_groups_path(const struct conf *c, char *buf, size_t len)
{
	char exe[400];
	ssize_t n;

	if (c->groups_set) {
		snprintf(buf, len, "%s", c->groups);
		return;
	}
	/* the shipped file: installed, or beside the binary in a source tree */
	snprintf(buf, len, "%s/jurisdictions.conf", JD_PKGDATADIR);
	if (access(buf, R_OK) == 0 || (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	snprintf(buf, len, "%s/../zones/jurisdictions.conf", exe);
	if (access(buf, R_OK) != 0)
		buf[0] = 0;
}

struct conf *conf_ref(struct conf *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void conf_unref(struct conf *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	acl_free(&c->acl);
	policy_free(&c->policy);
	acl_free(&c->private_upstreams);
	free(c->forward);
	fwdzones_free(c->fwd);
	SSL_CTX_free(c->tls_ctx);
	SSL_CTX_free(c->upstream_tls_ctx);
	free(c->path);
	free(c);
}
