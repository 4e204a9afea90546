/* ctl_clients.c - the clients jurisdns-ctl shows and accepts by name: the configuration file's
 * [client X] rules, the rules in Redis and the DHCP leases, merged by id.
 *
 * The precedence is the daemon's (policy_client in policy.c): the most specific rule wins
 * across the two sources (a MAC, then a host, then the longest prefix), Redis's on a tie, and a
 * rule replaces the other as a whole. So for one id defined in both, the Redis rule is in
 * force and the file's fields do not apply. Names are matched without regard to case; an
 * argument that parses as an address is always an address. */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "label.h"
#include "ctl_clients.h"
#include "rschema.h"

#define MAX_CANDIDATES 16

struct lease {
	char ip[64];                 /* canonical */
	char name[64];
};

struct ctl_clients {
	redisContext *rc;
	char base[160];
	const struct policy *file;
	struct ctl_client *v;
	size_t n, cap;
	struct lease *leases;
	size_t nleases, leasecap;
	int redis_mode;              /* Redis's default mode, -1 = none (the file's applies) */
	struct cc_hint *hints;       /* ctl_clients_prefetch: HGET answers by key, sorted */
	size_t nhints;
};

/* One prefetched HGET: "KEY\tFIELD" -> value ("" for none). */
struct cc_hint {
	char *key, *val;
};

static int cc_fail(char *err, size_t errlen, const char *what, const redisContext *rc, const redisReply *r)
{
	snprintf(err, errlen, "Redis: %s%s%s", what, what[0] ? ": " : "",
		 r && r->type == REDIS_REPLY_ERROR ? r->str
		 : rc->errstr[0]                  ? rc->errstr
						  : "unexpected reply");
	return -1;
}

int ctl_client_canon(const char *arg, char *out, size_t len, char *err, size_t errlen)
{
	struct client_rule r;

	if (policy_client_init(&r, arg, err, errlen) < 0)
		return -1;
	policy_client_id(&r, out, len);
	return 0;
}

static struct ctl_client *cc_entry(struct ctl_clients *cs, const char *id)
{
	for (size_t i = 0; i < cs->n; i++)
		if (!strcmp(cs->v[i].id, id))
			return &cs->v[i];
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 16;
		struct ctl_client *n = realloc(cs->v, cap * sizeof(*n));
		if (!n)
			return NULL;
		cs->v = n;
		cs->cap = cap;
	}
	struct ctl_client *c = &cs->v[cs->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->redis.mode = c->redis.action = c->redis.nblock = -1;
	return c;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct ctl_client *)a)->id, ((const struct ctl_client *)b)->id);
}

/* For each member of the set base + set: send fmt (base and the member for its two %s),
 * pipelined, then hand every reply to each(); each() may keep a reply (it sets *reply to
 * NULL), the others are freed here. The one place that reads a set of ids and a key per id. */
static int fetch_each(struct ctl_clients *cs, const char *set, const char *fmt,
		      int (*each)(struct ctl_clients *cs, const char *member, redisReply **reply,
				  char *err, size_t errlen),
		      char *err, size_t errlen)
{
	redisReply *m = redisCommand(cs->rc, "SMEMBERS %s%s", cs->base, set), **h = NULL;
	size_t n;
	int ret = -1;

	if (!m || m->type != REDIS_REPLY_ARRAY) {
		char w[200];
		snprintf(w, sizeof(w), "SMEMBERS %s%s", cs->base, set);
		cc_fail(err, errlen, w, cs->rc, m);
		if (m)
			freeReplyObject(m);
		return -1;
	}
	n = m->elements;
	if (!(h = calloc(n + 1, sizeof(*h)))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (redisAppendCommand(cs->rc, fmt, cs->base, m->element[i]->str) != REDIS_OK) {
			snprintf(err, errlen, "out of memory");
			goto out; /* the connection is out of step: the caller exits */
		}
	for (size_t i = 0; i < n; i++) {
		void *r = NULL;
		if (redisGetReply(cs->rc, &r) != REDIS_OK) {
			cc_fail(err, errlen, "", cs->rc, NULL);
			goto out;
		}
		h[i] = r;
	}
	for (size_t i = 0; i < n; i++)
		if (h[i]->type == REDIS_REPLY_ERROR) {
			cc_fail(err, errlen, "", cs->rc, h[i]);
			goto out;
		}
	for (size_t i = 0; i < n; i++)
		if (each(cs, m->element[i]->str, &h[i], err, errlen) < 0)
			goto out;
	ret = 0;
out:
	for (size_t i = 0; h && i < n; i++)
		if (h[i])
			freeReplyObject(h[i]);
	free(h);
	freeReplyObject(m);
	return ret;
}

/* fetch_each: a member of the clients set and its HGETALL client:ID. */
static int add_redis_rule(struct ctl_clients *cs, const char *member, redisReply **reply,
			  char *err, size_t errlen)
{
	char id[128], why[200];
	bool valid = ctl_client_canon(member, id, sizeof(id), why, sizeof(why)) == 0;

	if (!valid)
		snprintf(id, sizeof(id), "%s", member); /* shown as stored; the daemon skips it */
	struct ctl_client *c = cc_entry(cs, id);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (c->fields)
		return 0; /* the same id twice in other spellings: the first */
	c->sources |= CTL_SRC_REDIS;
	c->invalid = !valid;
	if (valid)
		policy_client_init(&c->redis, id, why, sizeof(why));
	c->fields = *reply;
	*reply = NULL;
	for (size_t k = 0; c->fields->type == REDIS_REPLY_ARRAY && k + 1 < c->fields->elements; k += 2)
		policy_client_set(&c->redis, c->fields->element[k]->str, c->fields->element[k + 1]->str,
				  NULL, why, sizeof(why)); /* a bad field is skipped, as by the daemon */
	return 0;
}

/* fetch_each: a member of the leases set and its HGET lease:IP hostname. */
static int add_lease(struct ctl_clients *cs, const char *member, redisReply **reply, char *err,
		     size_t errlen)
{
	const redisReply *h = *reply;
	struct lease l;
	char why[200];

	if (h->type != REDIS_REPLY_STRING || !h->len || h->len >= sizeof(l.name) ||
	    ctl_client_canon(member, l.ip, sizeof(l.ip), why, sizeof(why)) < 0)
		return 0; /* expired, nameless or not an address: the daemon skips it too */
	snprintf(l.name, sizeof(l.name), "%s", h->str);
	if (cs->nleases == cs->leasecap) {
		size_t cap = cs->leasecap ? cs->leasecap * 2 : 16;
		struct lease *v = realloc(cs->leases, cap * sizeof(*v));
		if (!v) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		cs->leases = v;
		cs->leasecap = cap;
	}
	cs->leases[cs->nleases++] = l;
	return 0;
}

struct ctl_clients *ctl_clients_load(redisContext *rc, const char *policy_base,
				     const struct policy *file, char *err, size_t errlen)
{
	struct ctl_clients *cs = calloc(1, sizeof(*cs));

	if (!cs) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cs->rc = rc;
	cs->file = file;
	cs->redis_mode = -1;
	snprintf(cs->base, sizeof(cs->base), "%s", policy_base);
	for (unsigned i = 0; i < file->nclients; i++) {
		char id[128];
		policy_client_id(&file->clients[i], id, sizeof(id));
		struct ctl_client *c = cc_entry(cs, id);
		if (!c) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (!c->file) {
			c->file = &file->clients[i];
			c->sources |= CTL_SRC_FILE;
		}
	}
	if (fetch_each(cs, RSCHEMA_POLICY_CLIENTS, "HGETALL %s" RSCHEMA_POLICY_CLIENT "%s", add_redis_rule,
		       err, errlen) < 0 ||
	    fetch_each(cs, RSCHEMA_POLICY_LEASES, "HGET %s" RSCHEMA_POLICY_LEASE "%s " RSCHEMA_LEASE_HOSTNAME,
		       add_lease, err, errlen) < 0)
		goto fail;
	redisReply *r = redisCommand(rc, "HGET %s" RSCHEMA_POLICY_DEFAULT " " RSCHEMA_RULE_MODE, cs->base);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		cc_fail(err, errlen, "HGET " RSCHEMA_POLICY_DEFAULT " " RSCHEMA_RULE_MODE, rc, r);
		if (r)
			freeReplyObject(r);
		goto fail;
	}
	enum pmode m;
	if (r->type == REDIS_REPLY_STRING && policy_parse_mode(r->str, &m) == 0)
		cs->redis_mode = (int)m;
	freeReplyObject(r);
	if (cs->n)
		qsort(cs->v, cs->n, sizeof(*cs->v), by_id);
	return cs;
fail:
	ctl_clients_free(cs);
	return NULL;
}

void ctl_clients_free(struct ctl_clients *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++)
		if (cs->v[i].fields)
			freeReplyObject(cs->v[i].fields);
	free(cs->v);
	free(cs->leases);
	for (size_t i = 0; i < cs->nhints; i++) {
		free(cs->hints[i].key);
		free(cs->hints[i].val);
	}
	free(cs->hints);
	free(cs);
}

const struct ctl_client *ctl_clients_all(const struct ctl_clients *cs, size_t *n)
{
	*n = cs->n;
	return cs->v;
}

const struct ctl_client *ctl_clients_find(const struct ctl_clients *cs, const char *id)
{
	struct ctl_client key;

	if (!cs->n)
		return NULL;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, cs->v, cs->n, sizeof(*cs->v), by_id);
}

const char *ctl_client_source(const struct ctl_client *c)
{
	return c->sources == (CTL_SRC_FILE | CTL_SRC_REDIS) ? "file+redis"
	       : c->sources == CTL_SRC_FILE                 ? "file"
							    : "redis";
}

const struct client_rule *ctl_client_rule(const struct ctl_client *c)
{
	return (c->sources & CTL_SRC_REDIS) ? &c->redis : c->file;
}

enum pmode ctl_client_mode(const struct ctl_clients *cs, const struct ctl_client *c)
{
	const struct client_rule *r = ctl_client_rule(c);

	if (r && r->mode >= 0)
		return (enum pmode)r->mode;
	return cs->redis_mode >= 0 ? (enum pmode)cs->redis_mode : cs->file->default_mode;
}

bool ctl_rule_field(const struct client_rule *r, const char *field, char *buf, size_t len)
{
	buf[0] = 0;
	if (!strcmp(field, RSCHEMA_RULE_MODE) && r->mode >= 0)
		snprintf(buf, len, "%s", policy_mode_name((enum pmode)r->mode));
	else if (!strcmp(field, RSCHEMA_RULE_ACTION) && r->action >= 0)
		snprintf(buf, len, "%s", policy_action_name((enum paction)r->action));
	else if (!strcmp(field, RSCHEMA_RULE_NAME))
		snprintf(buf, len, "%s", r->name);
	else if (!strcmp(field, RSCHEMA_RULE_BLOCK) && r->nblock >= 0) {
		size_t used = 0;
		for (int i = 0; i < r->nblock && used < len; i++) {
			const struct block_spec *b = &r->block[i];
			for (int k = 0; k < 3 && used < len; k++) {
				if (b->kinds == 0x7 && k > 0)
					break;
				if (b->kinds != 0x7 && !(b->kinds & (1 << k)))
					continue;
				int w = snprintf(buf + used, len - used, "%s%s%s%s", used ? "," : "", b->group,
						 b->kinds == 0x7 ? "" : ":", b->kinds == 0x7 ? "" : label_kind_names[k]);
				used += w > 0 ? (size_t)w : 0;
			}
		}
	}
	return buf[0] != 0;
}

static unsigned cc_specificity(const struct client_rule *r)
{
	return r->by_mac ? 256 : r->net.bits;
}

/* The entry whose rule covers id most specifically (Redis's on a tie, as ctl_client_rule). */
static const struct ctl_client *covering(const struct ctl_clients *cs, const char *id)
{
	struct client_rule q;
	char why[200];
	const struct ctl_client *best = NULL;
	unsigned best_spec = 0;

	if (policy_client_init(&q, id, why, sizeof(why)) < 0)
		return NULL;
	if (q.by_mac || q.net.bits != 128) { /* a MAC or a network: only its own rule */
		char canon[128];
		policy_client_id(&q, canon, sizeof(canon));
		return ctl_clients_find(cs, canon);
	}
	for (size_t i = 0; i < cs->n; i++) {
		const struct client_rule *r = ctl_client_rule(&cs->v[i]);
		if (!r || cs->v[i].invalid || r->by_mac || !cidr_match(&r->net, q.net.net))
			continue;
		if (!best || cc_specificity(r) > best_spec) {
			best = &cs->v[i];
			best_spec = cc_specificity(r);
		}
	}
	return best;
}

/* HGET base + what + id, field into buf ("" when missing); what: RSCHEMA_POLICY_CLIENT or _LEASE. */
static int by_hint(const void *a, const void *b)
{
	return strcmp(((const struct cc_hint *)a)->key, ((const struct cc_hint *)b)->key);
}

static int cc_hget(const struct ctl_clients *cs, const char *what, const char *id, const char *field,
		char *buf, size_t len, char *err, size_t errlen)
{
	char key[600];
	struct cc_hint k = { key, NULL }, *hit;

	snprintf(key, sizeof(key), "%s%s\t%s", what, id, field);
	if (cs->nhints && (hit = bsearch(&k, cs->hints, cs->nhints, sizeof(k), by_hint))) {
		snprintf(buf, len, "%s", hit->val);
		return 0;
	}
	redisReply *r = redisCommand(cs->rc, "HGET %s%s%s %s", cs->base, what, id, field);

	buf[0] = 0;
	if (!r || r->type == REDIS_REPLY_ERROR) {
		cc_fail(err, errlen, "", cs->rc, r);
		if (r)
			freeReplyObject(r);
		return -1;
	}
	if (r->type == REDIS_REPLY_STRING)
		snprintf(buf, len, "%s", r->str);
	freeReplyObject(r);
	return 0;
}

int ctl_clients_name(const struct ctl_clients *cs, const char *id, char *buf, size_t len,
		     const char **source, char *err, size_t errlen)
{
	const struct ctl_client *c = covering(cs, id);
	const struct client_rule *r = c ? ctl_client_rule(c) : NULL;

	if (source)
		*source = c ? ctl_client_source(c) : NULL;
	buf[0] = 0;
	if (r && r->name[0]) {
		snprintf(buf, len, "%s", r->name);
		return 0;
	}
	/* A client hash outside the clients set is not in force, but it has always named the id. */
	if (!(c && (c->sources & CTL_SRC_REDIS)) && cc_hget(cs, RSCHEMA_POLICY_CLIENT, id, RSCHEMA_RULE_NAME, buf, len, err, errlen) < 0)
		return -1;
	if (buf[0]) {
		if (source && !*source)
			*source = "redis";
		return 0;
	}
	if (cc_hget(cs, RSCHEMA_POLICY_LEASE, id, RSCHEMA_LEASE_HOSTNAME, buf, len, err, errlen) < 0)
		return -1;
	if (buf[0] && source && !*source)
		*source = "lease";
	return 0;
}

int ctl_clients_mac(const struct ctl_clients *cs, const char *id, uint8_t mac[6], char *err,
		    size_t errlen)
{
	struct client_rule q;
	char why[200], canon[128], text[64];

	if (policy_client_init(&q, id, why, sizeof(why)) < 0)
		return 0;
	if (q.by_mac) {
		memcpy(mac, q.mac, 6);
		return 1;
	}
	if (q.net.bits != 128)
		return 0; /* a network is no one device */
	policy_client_id(&q, canon, sizeof(canon));
	if (cc_hget(cs, RSCHEMA_POLICY_LEASE, canon, RSCHEMA_LEASE_MAC, text, sizeof(text), err, errlen) < 0)
		return -1;
	if (!text[0] || policy_client_init(&q, text, why, sizeof(why)) < 0 || !q.by_mac)
		return 0; /* no lease, a DHCPv6 lease (a DUID), or not a MAC */
	memcpy(mac, q.mac, 6);
	return 1;
}

int ctl_clients_prefetch(struct ctl_clients *cs, const char *const *ids, size_t n, char *err,
			 size_t errlen)
{
	/* what ctl_clients_name and ctl_clients_mac may HGET for an id */
	static const char *const what[] = { RSCHEMA_POLICY_CLIENT, RSCHEMA_POLICY_LEASE, RSCHEMA_POLICY_LEASE };
	static const char *const field[] = { RSCHEMA_RULE_NAME, RSCHEMA_LEASE_HOSTNAME, RSCHEMA_LEASE_MAC };
	struct cc_hint *h = calloc(n * 3 + 1, sizeof(*h));
	size_t nh = 0;
	int rc = 0;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			if (redisAppendCommand(cs->rc, "HGET %s%s%s %s", cs->base, what[k], ids[i], field[k]) != REDIS_OK)
				rc = -1;
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 3; k++) {
			redisReply *r = NULL;
			char key[600];
			if (rc < 0 || redisGetReply(cs->rc, (void **)&r) != REDIS_OK || !r) {
				rc = -1; /* the connection is gone: nothing more to read */
				continue;
			}
			snprintf(key, sizeof(key), "%s%s\t%s", what[k], ids[i], field[k]);
			if (r->type != REDIS_REPLY_ERROR && (h[nh].key = strdup(key)) &&
			    (h[nh].val = strdup(r->type == REDIS_REPLY_STRING ? r->str : "")))
				nh++;
			else if (h[nh].key) {
				free(h[nh].key);
				h[nh].key = NULL;
			}
			freeReplyObject(r);
		}
	if (rc < 0) {
		cc_fail(err, errlen, "", cs->rc, NULL);
		for (size_t i = 0; i < nh; i++) {
			free(h[i].key);
			free(h[i].val);
		}
		free(h);
		return -1;
	}
	qsort(h, nh, sizeof(*h), by_hint);
	for (size_t i = 0; i < cs->nhints; i++) {
		free(cs->hints[i].key);
		free(cs->hints[i].val);
	}
	free(cs->hints);
	cs->hints = h;
	cs->nhints = nh;
	return 0;
}

const struct ctl_client *ctl_clients_covering(const struct ctl_clients *cs, const char *id)
{
	return covering(cs, id);
}

struct candidate {
	const char *id;
	char sources[32];
};

/* Add source to id's candidate; false when the list is full and id is not on it. */
static bool candidate_add(struct candidate *v, size_t *n, const char *id, const char *source)
{
	size_t i;

	for (i = 0; i < *n && strcmp(v[i].id, id); i++)
		;
	if (i == *n) {
		if (*n == MAX_CANDIDATES)
			return false;
		v[i].id = id;
		v[i].sources[0] = 0;
		(*n)++;
	}
	if (!strstr(v[i].sources, source))
		snprintf(v[i].sources + strlen(v[i].sources), sizeof(v[i].sources) - strlen(v[i].sources),
			 "%s%s", v[i].sources[0] ? "+" : "", source);
	return true;
}

static int by_candidate_id(const void *a, const void *b)
{
	return strcmp(((const struct candidate *)a)->id, ((const struct candidate *)b)->id);
}

int ctl_clients_resolve(const struct ctl_clients *cs, const char *arg, char *out, size_t len,
			char *err, size_t errlen)
{
	struct candidate cand[MAX_CANDIDATES];
	size_t n = 0, more = 0;
	char why[300];

	if (ctl_client_canon(arg, out, len, why, sizeof(why)) == 0)
		return 0;
	for (size_t i = 0; arg[0] && i < cs->n; i++) {
		const struct ctl_client *c = &cs->v[i];
		if (c->file && !strcasecmp(c->file->name, arg))
			more += !candidate_add(cand, &n, c->id, "file");
		if ((c->sources & CTL_SRC_REDIS) && !c->invalid && !strcasecmp(c->redis.name, arg))
			more += !candidate_add(cand, &n, c->id, "redis");
	}
	for (size_t i = 0; arg[0] && i < cs->nleases; i++)
		if (!strcasecmp(cs->leases[i].name, arg))
			more += !candidate_add(cand, &n, cs->leases[i].ip, "lease");
	if (n == 1) {
		snprintf(out, len, "%s", cand[0].id);
		return 0;
	}
	if (n == 0) {
		/* something like an address (a MAC, an IPv6 address, a CIDR) is most likely a typo */
		if (strpbrk(arg, ":/") || strspn(arg, "0123456789.") == strlen(arg))
			snprintf(err, errlen, "client %s", why);
		else
			snprintf(err, errlen, "client '%s' not found: no client in the configuration file or "
				 "Redis and no DHCP lease has that name (and it is no IP address, CIDR or MAC)", arg);
		return -1;
	}
	qsort(cand, n, sizeof(*cand), by_candidate_id);
	int w = snprintf(err, errlen, "name '%s' is ambiguous:", arg);
	for (size_t i = 0; i < n && w >= 0 && (size_t)w < errlen; i++)
		w += snprintf(err + w, errlen - (size_t)w, "%s %s (%s)", i ? "," : "", cand[i].id,
			      cand[i].sources);
	if (more && w >= 0 && (size_t)w < errlen)
		snprintf(err + w, errlen - (size_t)w, ", and more");
	return -1;
}
