/* policy.c - decisions per client and answer. Everything here is read-only after start-up or a
 * reload, and a decision neither allocates nor locks. */
#include "config.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "identity.h"
#include "label.h"
#include "policy.h"
#include "rschema.h"
#include "util.h"
#include "wire.h"

static const char *const mode_names[] = { "off", "log", "block", NULL };
static const char *const action_names[] = { "pass", "sinkhole", "nxdomain", "nodata", "refuse",
					    "drop", "strip", "tcp-only", "local", NULL };

const char *policy_action_name(enum paction a) { return action_names[a]; }
const char *policy_mode_name(enum pmode m) { return mode_names[m]; }

void policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->default_mode = PMODE_LOG;
	p->action = PACT_SINKHOLE;
	p->ttl = 60;
	/* sinkhole addresses: 0.0.0.0 and :: (all zero) */
}

void policy_free(struct policy *p)
{
	suffix_set_free(p->allow);
	suffix_set_free(p->deny);
	free(p->clients);
	free(p->trusted);
	free(p->index);
	rpz_free(&p->rpz);
	memset(p, 0, sizeof(*p));
}

static int word_index(const char *s, const char *const *words)
{
	for (int i = 0; words[i]; i++)
		if (!strcmp(s, words[i]))
			return i;
	return -1;
}

int policy_parse_mode(const char *s, enum pmode *out)
{
	int i = word_index(s, mode_names);

	if (i < 0)
		return -1;
	*out = (enum pmode)i;
	return 0;
}

int policy_parse_action(const char *s, enum paction *out)
{
	int i = word_index(s, action_names);

	if (i <= 0 || i >= PACT_TCP_ONLY) /* pass, tcp-only and local are not choices */
		return -1;
	*out = (enum paction)i;
	return 0;
}

/* " (did you mean 'x'?)" when a word of words is near s, else "" */
static void maybe_suggest(const char *s, const char *const *words, size_t n, char *out, size_t len)
{
	const char *sug = suggest_word(s, words, n);

	if (sug)
		snprintf(out, len, " (did you mean '%s'?)", sug);
	else
		out[0] = 0;
}

/* Why name is not a group of g, in one line: the nearest name, or what the groups are. */
static void unknown_group(const struct groups *g, const char *name, char *err, size_t errlen)
{
	const char *names[GROUPS_MAX];
	char list[GROUPS_MAX * (GROUP_NAME_MAX + 2)] = "";
	unsigned n = groups_count(g);
	const char *sug;

	for (unsigned i = 0; i < n; i++) {
		names[i] = groups_get(g, i)->name;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
	}
	if (!n)
		snprintf(err, errlen, "unknown group '%s' in block (the groups file defines none)", name);
	else if ((sug = suggest_word(name, names, n)))
		snprintf(err, errlen, "unknown group '%s' in block (did you mean '%s'?)", name, sug);
	else if (strlen(name) == 2 && isalpha((unsigned char)name[0]) && isalpha((unsigned char)name[1]))
		snprintf(err, errlen, "unknown group '%s' in block ('%s' is a country; groups are: %s)", name,
			 name, list);
	else
		snprintf(err, errlen, "unknown group '%s' in block (groups are: %s)", name, list);
}

/* "PRC", "PRC:operator", "PRC:hosted,PRC:domain", "RU:any"; with g, group names of g in any case */
int policy_parse_block(const char *value, const struct groups *g, struct block_spec *list, unsigned *n,
		       char *err, size_t errlen)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(value) >= sizeof(buf)) {
		snprintf(err, errlen, "block = '%s': too long", value);
		return -1;
	}
	strcpy(buf, value);
	for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		char *colon = strchr(tok, ':');
		uint8_t kinds = 0x7;
		unsigned i;
		if (colon) {
			*colon = 0;
			int k = label_kind_parse(colon + 1);
			if (k >= 0)
				kinds = (uint8_t)(1 << k);
			else if (strcmp(colon + 1, "any")) {
				const char *const words[] = { label_kind_names[0], label_kind_names[1],
							      label_kind_names[2], "any" };
				const char *near = suggest_word(colon + 1, words, 4);
				if (near)
					snprintf(err, errlen, "unknown reason '%.40s:%.40s' in block (did you mean "
						 "'%.40s:%s'?)", tok, colon + 1, tok, near);
				else
					snprintf(err, errlen, "unknown reason '%.40s:%.40s' in block (hosted, operator, "
						 "domain or any)", tok, colon + 1);
				return -1;
			}
		}
		if (!*tok || strlen(tok) >= GROUP_NAME_MAX) {
			snprintf(err, errlen, "block = '%s': bad group name", value);
			return -1;
		}
		if (g) {
			const char *canon = groups_find(g, tok);
			if (!canon) {
				unknown_group(g, tok, err, errlen);
				return -1;
			}
			strcpy(tok, canon); /* as the groups file spells it: labels compare exactly */
		}
		for (i = 0; i < *n && strcmp(list[i].group, tok); i++)
			;
		if (i == *n) {
			if (*n == POLICY_MAX_BLOCK) {
				snprintf(err, errlen, "block: at most %d groups", POLICY_MAX_BLOCK);
				return -1;
			}
			snprintf(list[i].group, sizeof(list[i].group), "%s", tok);
			list[i].kinds = 0;
			(*n)++;
		}
		list[i].kinds |= kinds;
	}
	return 0;
}

int policy_add_domains(struct suffix_set *set, const char *value, const char *base_dir, char *err,
		       size_t errlen)
{
	uint8_t wire[256];
	size_t vl = strlen(value);
	int len;

	if (vl > 4 && !strcmp(value + vl - 4, ".txt")) {
		char path[1024], line[512];
		int ln = 0;
		FILE *f;
		if (value[0] == '/' || !base_dir || !*base_dir)
			snprintf(path, sizeof(path), "%s", value);
		else
			snprintf(path, sizeof(path), "%s/%s", base_dir, value);
		if (!(f = fopen_file(path, "r"))) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		while (fgets(line, sizeof(line), f)) {
			char *t = line, *e;
			ln++;
			for (char *c = t; *c; c++)
				if (*c == '#' || *c == ';') {
					*c = 0;
					break;
				}
			while (isspace((unsigned char)*t))
				t++;
			e = t + strlen(t);
			while (e > t && isspace((unsigned char)e[-1]))
				*--e = 0;
			if (!*t)
				continue;
			if ((len = domain_to_wire(t, wire)) < 0 || suffix_set_add(set, wire, (size_t)len, 1) < 0) {
				snprintf(err, errlen, "%s:%d: '%s' is not a domain name", path, ln, t);
				fclose(f);
				return -1;
			}
		}
		fclose(f);
		return 0;
	}
	if ((len = domain_to_wire(value, wire)) < 0) {
		snprintf(err, errlen, "'%s' is neither a domain name nor a list file (*.txt)", value);
		return -1;
	}
	return suffix_set_add(set, wire, (size_t)len, 1) < 0 ? -1 : 0;
}

int policy_add_client(struct policy *p, const struct client_rule *r)
{
	/* capacity 16, then doubling whenever a power of two is full (geometric growth) */
	if (p->nclients == 0 || (p->nclients >= 16 && (p->nclients & (p->nclients - 1)) == 0)) {
		struct client_rule *n = realloc(p->clients, (p->nclients ? p->nclients * 2 : 16) * sizeof(*n));
		if (!n)
			return -1;
		p->clients = n;
	}
	p->clients[p->nclients++] = *r;
	return 0;
}

static bool is_exact(const struct client_rule *r)
{
	return r->by_mac || r->net.bits == 128;
}

/* exact rules (MACs, single hosts) first, then networks, longest prefix first */
static int by_prefix_desc(const void *a, const void *b)
{
	const struct client_rule *x = a, *y = b;
	if (is_exact(x) != is_exact(y))
		return is_exact(x) ? -1 : 1;
	return (int)y->net.bits - (int)x->net.bits;
}

/* MACs hash as 6 bytes, hosts as 16, so the two never meet */
static uint64_t rule_hash(const uint8_t *key, size_t len)
{
	return hash_bytes(key, len, 0x6a64636c69656e74ULL);
}

static const struct client_rule *index_find(const struct policy *p, const uint8_t *key, size_t len,
					    bool mac)
{
	if (!p->index)
		return NULL;
	for (size_t i = rule_hash(key, len) & p->index_mask; p->index[i]; i = (i + 1) & p->index_mask) {
		const struct client_rule *r = &p->clients[p->index[i] - 1];
		if (r->by_mac == mac && !memcmp(mac ? r->mac : r->net.net, key, len))
			return r;
	}
	return NULL;
}

int policy_add_trusted(struct policy *p, const struct cidr *c)
{
	struct cidr *n = realloc(p->trusted, (p->ntrusted + 1) * sizeof(*n));

	if (!n)
		return -1;
	n[p->ntrusted++] = *c;
	p->trusted = n;
	return 0;
}

int policy_parse_mac(const char *s, uint8_t mac[6])
{
	return wire_parse_mac(s, strlen(s), mac); /* the same parser as the EDNS text form */
}

void policy_finish(struct policy *p)
{
	size_t cap = 16;

	rpz_finish(&p->rpz);
	if (!p->nclients)
		return;
	qsort(p->clients, p->nclients, sizeof(*p->clients), by_prefix_desc);
	for (p->first_net = 0; p->first_net < p->nclients && is_exact(&p->clients[p->first_net]); p->first_net++)
		;
	while (cap < (size_t)p->first_net * 2)
		cap *= 2;
	free(p->index);
	if (!(p->index = calloc(cap, sizeof(*p->index)))) {
		p->first_net = 0; /* out of memory: fall back to scanning every rule */
		return;
	}
	p->index_mask = cap - 1;
	for (unsigned k = 0; k < p->first_net; k++) {
		const struct client_rule *r = &p->clients[k];
		size_t i = rule_hash(r->by_mac ? r->mac : r->net.net, r->by_mac ? 6 : 16) & p->index_mask;
		while (p->index[i]) {
			const struct client_rule *o = &p->clients[p->index[i] - 1];
			if (o->by_mac == r->by_mac &&
			    !memcmp(o->by_mac ? o->mac : o->net.net, r->by_mac ? r->mac : r->net.net, r->by_mac ? 6 : 16))
				break; /* a duplicate section: the first one wins */
			i = (i + 1) & p->index_mask;
		}
		if (!p->index[i])
			p->index[i] = k + 1;
	}
}

/* The rule of p for ip (and mac, when trusted), NULL when none. */
static const struct client_rule *client_lookup(const struct policy *p, const uint8_t ip[16],
					       const uint8_t *mac)
{
	const struct client_rule *r;

	if (p->index) {
		if (mac && (r = index_find(p, mac, 6, true)))
			return r;
		if ((r = index_find(p, ip, 16, false)))
			return r;
	}
	for (unsigned i = p->index ? p->first_net : 0; i < p->nclients; i++) {
		r = &p->clients[i];
		if (r->by_mac ? (mac && !memcmp(r->mac, mac, 6)) : cidr_match(&r->net, ip))
			return r;
	}
	return NULL;
}

static unsigned specificity(const struct client_rule *r)
{
	return r->by_mac ? 256 : r->net.bits;
}

const struct client_rule *policy_client(const struct policy *p, const struct policy *o,
					const struct sockaddr *sa, const uint8_t *mac, bool *mac_trusted)
{
	uint8_t ip[16];
	bool trusted = false;

	if (mac_trusted)
		*mac_trusted = false;
	if (!p->nclients && !(o && o->nclients) && !(mac && mac_trusted))
		return NULL;
	addr_to_v6(sa, ip);
	if (mac) {
		for (unsigned i = 0; i < p->ntrusted && !trusted; i++)
			trusted = cidr_match(&p->trusted[i], ip);
		if (mac_trusted)
			*mac_trusted = trusted;
	}
	const struct client_rule *rf = p->nclients ? client_lookup(p, ip, trusted ? mac : NULL) : NULL;
	const struct client_rule *ro = o && o->nclients ? client_lookup(o, ip, trusted ? mac : NULL) : NULL;
	if (!rf || (ro && specificity(ro) >= specificity(rf)))
		return ro;
	return rf;
}

int policy_client_init(struct client_rule *r, const char *id, char *err, size_t errlen)
{
	char why[160];

	memset(r, 0, sizeof(*r));
	r->mode = r->action = r->nblock = -1;
	if (strlen(id) == 17 && id[2] == ':' && id[5] == ':') {
		if (policy_parse_mac(id, r->mac) < 0) {
			snprintf(err, errlen, "'%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", id);
			return -1;
		}
		r->by_mac = true;
		return 0;
	}
	if (cidr_parse(id, &r->net, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s (expected an IP address, a CIDR or a MAC address)", why);
		return -1;
	}
	return 0;
}

void policy_client_id(const struct client_rule *r, char *buf, size_t len)
{
	char ip[IDENTITY_TEXT_MAX];
	bool v4 = !memcmp(r->net.net, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) && r->net.bits >= 96;

	if (r->by_mac) {
		identity_text(r->mac, NULL, buf, len);
		return;
	}
	identity_text(NULL, r->net.net, ip, sizeof(ip)); /* v4 exactly when identity shows a.b.c.d */
	if (r->net.bits == 128)
		snprintf(buf, len, "%s", ip);
	else
		snprintf(buf, len, "%s/%u", ip, v4 ? r->net.bits - 96u : r->net.bits);
}

static const char action_choices[] = "expected sinkhole, nxdomain, nodata, refuse, drop or strip";

static void bad_mode(const char *field, const char *value, char *err, size_t errlen)
{
	char sug[64];

	maybe_suggest(value, mode_names, 3, sug, sizeof(sug));
	snprintf(err, errlen, "%s = '%s': expected off, log or block%s", field, value, sug);
}

static void bad_action(const char *value, char *err, size_t errlen)
{
	char sug[64];

	maybe_suggest(value, action_names + 1, PACT_TCP_ONLY - 1, sug, sizeof(sug));
	snprintf(err, errlen, "action = '%s': %s%s", value, action_choices, sug);
}

int policy_client_set(struct client_rule *r, const char *field, const char *value,
		      const struct groups *g, char *err, size_t errlen)
{
	/* the fields of a Redis rule hash are the [client] keys of the file */
	if (!strcmp(field, RSCHEMA_RULE_MODE)) {
		enum pmode m;
		if (policy_parse_mode(value, &m) < 0) {
			bad_mode(field, value, err, errlen);
			return -1;
		}
		r->mode = (int)m;
		return 0;
	}
	if (!strcmp(field, RSCHEMA_RULE_ACTION)) {
		enum paction a;
		if (policy_parse_action(value, &a) < 0) {
			bad_action(value, err, errlen);
			return -1;
		}
		r->action = (int)a;
		return 0;
	}
	if (!strcmp(field, RSCHEMA_RULE_NAME)) {
		if (strlen(value) >= sizeof(r->name)) {
			snprintf(err, errlen, "name: longer than %zu bytes", sizeof(r->name) - 1);
			return -1;
		}
		for (const char *c = value; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				snprintf(err, errlen, "name: contains a control character");
				return -1;
			}
		snprintf(r->name, sizeof(r->name), "%s", value);
		return 0;
	}
	if (!strcmp(field, RSCHEMA_RULE_BLOCK)) {
		unsigned n = r->nblock < 0 ? 0 : (unsigned)r->nblock; /* adds, as in a config section */
		struct block_spec b[POLICY_MAX_BLOCK];
		memcpy(b, r->block, sizeof(b));
		if (policy_parse_block(value, g, b, &n, err, errlen) < 0)
			return -1; /* r is unchanged */
		memcpy(r->block, b, sizeof(b));
		r->nblock = (int)n;
		return 0;
	}
	return -2;
}

int policy_default_set(struct policy *p, const char *field, const char *value,
		       const struct groups *g, char *err, size_t errlen)
{
	if (!strcmp(field, RSCHEMA_RULE_MODE) || !strcmp(field, "default_mode")) {
		if (policy_parse_mode(value, &p->default_mode) < 0) {
			bad_mode(field, value, err, errlen);
			return -1;
		}
		p->has_mode = true;
		return 0;
	}
	if (!strcmp(field, RSCHEMA_RULE_ACTION)) {
		if (policy_parse_action(value, &p->action) < 0) {
			bad_action(value, err, errlen);
			return -1;
		}
		p->has_action = true;
		return 0;
	}
	if (!strcmp(field, RSCHEMA_RULE_BLOCK)) {
		unsigned n = 0;
		struct block_spec b[POLICY_MAX_BLOCK];
		if (policy_parse_block(value, g, b, &n, err, errlen) < 0)
			return -1;
		memcpy(p->block, b, sizeof(b));
		p->nblock = n;
		p->has_block = true;
		return 0;
	}
	return -2;
}

static void verdict_init(const struct policy *p, const struct policy *o, const struct client_rule *c,
			 struct verdict *v)
{
	v->block = NULL;
	v->nblock = 0;
	v->rule = NULL;
	v->mode = (c && c->mode >= 0) ? (enum pmode)c->mode
				      : (o && o->has_mode) ? o->default_mode : p->default_mode;
	v->action = PACT_PASS;
	v->ede = 0;
	v->text[0] = 0;
	v->client_name = c ? c->name : "";
}

bool policy_addr_blocked(const struct verdict *v, const struct label *l, const struct label_addr *a)
{
	char asn[16];

	snprintf(asn, sizeof(asn), "AS%u", a->asn);
	for (unsigned i = 0; i < l->nreasons; i++) {
		const struct label_reason *r = &l->reasons[i];
		/* a name on the chain is the vendor's or a CDN operator's: every address is theirs */
		bool hit = r->kind == LABEL_DOMAIN || r->by_name ||
			   (r->kind == LABEL_HOSTED && a->cc[0] && !strcmp(r->detail, a->cc)) ||
			   (r->kind == LABEL_OPERATOR && a->asn && !strcmp(r->detail, asn));
		if (!hit)
			continue;
		for (unsigned b = 0; b < v->nblock; b++)
			if (!strcmp(v->block[b].group, r->group) && (v->block[b].kinds & (1u << r->kind)))
				return true;
	}
	return false;
}

static void name_text(const uint8_t *name, size_t len, size_t off, char *buf, size_t buflen)
{
	size_t tl;

	wire_name_str(name + off, len - off, buf, buflen);
	tl = strlen(buf);
	if (tl > 1 && buf[tl - 1] == '.')
		buf[tl - 1] = 0;
}

static bool rpz_verdict(const struct rpz_rule *r, struct verdict *v)
{
	static const enum paction map[] = {
		[RPZ_NXDOMAIN] = PACT_NXDOMAIN, [RPZ_NODATA] = PACT_NODATA, [RPZ_PASSTHRU] = PACT_PASS,
		[RPZ_DROP] = PACT_DROP, [RPZ_TCP_ONLY] = PACT_TCP_ONLY, [RPZ_LOCAL] = PACT_LOCAL,
	};
	v->action = map[r->action];
	v->ede = EDE_BLOCKED;
	v->rule = r;
	snprintf(v->text, sizeof(v->text), "%s", r->text);
	return v->action != PACT_PASS;
}

/* The client-ip or QNAME trigger for this query, if any. */
static const struct rpz_rule *rpz_query_rule(const struct policy *p, const struct sockaddr *sa,
					     const uint8_t *qname, size_t len)
{
	const struct rpz_rule *r = NULL;
	uint8_t ip[16];

	if (!p->rpz.nrules)
		return NULL;
	if (sa && p->rpz.nclients) {
		addr_to_v6(sa, ip);
		r = rpz_match_client(&p->rpz, ip);
	}
	return r ? r : rpz_match_qname(&p->rpz, qname, len);
}

static enum paction action_for(const struct policy *p, const struct policy *o,
			       const struct client_rule *c)
{
	if (c && c->action >= 0)
		return (enum paction)c->action;
	return (o && o->has_action) ? o->action : p->action;
}

static bool allowed(const struct policy *p, const struct policy *o, const uint8_t *qname, size_t len)
{
	return suffix_set_match(p->allow, qname, len, NULL) ||
	       (o && suffix_set_match(o->allow, qname, len, NULL));
}

bool policy_before(const struct policy *p, const struct policy *o, const struct client_rule *c,
		   const struct sockaddr *sa, const uint8_t *qname, size_t len, struct verdict *v)
{
	size_t off = 0;
	char dom[128];
	const struct rpz_rule *r;

	verdict_init(p, o, c, v);
	if ((r = rpz_query_rule(p, sa, qname, len)))
		return rpz_verdict(r, v); /* rpz-passthru: no verdict, and no deny either */
	if (!suffix_set_match(p->deny, qname, len, &off) &&
	    !(o && suffix_set_match(o->deny, qname, len, &off)))
		return false;
	if (allowed(p, o, qname, len))
		return false;
	v->action = action_for(p, o, c);
	v->ede = EDE_BLOCKED;
	name_text(qname, len, off, dom, sizeof(dom));
	snprintf(v->text, sizeof(v->text), "blocked by operator rule: deny %s", dom);
	return true;
}

bool policy_after(const struct policy *p, const struct policy *o, const struct client_rule *c,
		  const struct sockaddr *sa, const struct label *l, const uint8_t *qname, size_t len,
		  struct verdict *v)
{
	const struct block_spec *block = p->block;
	unsigned nblock = p->nblock;
	const struct rpz_rule *r;

	verdict_init(p, o, c, v);
	if (p->rpz.nrules) {
		if ((r = rpz_query_rule(p, sa, qname, len)) && r->action == RPZ_PASSTHRU)
			return false; /* passthru exempts the name from every rule */
		if ((r = rpz_match_answer(&p->rpz, l)))
			return rpz_verdict(r, v);
	}
	if (v->mode != PMODE_BLOCK || !label_has_groups(l))
		return false;
	if (c && c->nblock >= 0) {
		block = c->block;
		nblock = (unsigned)c->nblock;
	} else if (o && o->has_block) {
		block = o->block;
		nblock = o->nblock;
	}
	v->block = block;
	v->nblock = nblock;
	for (unsigned i = 0; i < l->nreasons; i++) {
		const struct label_reason *lr = &l->reasons[i];
		for (unsigned b = 0; b < nblock; b++) {
			if (strcmp(block[b].group, lr->group) || !(block[b].kinds & (1u << lr->kind)))
				continue;
			if (allowed(p, o, qname, len))
				return false; /* the operator's allow list wins */
			v->action = action_for(p, o, c);
			v->ede = EDE_FILTERED;
			snprintf(v->text, sizeof(v->text), "filtered by opt-in: %s %s:%s", lr->group,
				 label_kind_names[lr->kind], lr->detail);
			return true;
		}
	}
	return false;
}
