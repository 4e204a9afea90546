/* rpz.c - loading Response Policy Zones with ldns and matching their triggers. A zone is read
 * once (start-up, reload); matching uses hash sets for names and short CIDR lists for addresses. */
#include "config.h"
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "rpz.h"
#include "wire.h"

/* CNAME targets with a meaning of their own, as wire names (any case matches) */
static const struct {
	const uint8_t *name;
	size_t len;
	enum rpz_action action;
} rpz_special_targets[] = {
#define RPZ_TARGET(w, a) { (const uint8_t *)(w), sizeof(w), (a) } /* sizeof: the root byte too */
	RPZ_TARGET("\x0crpz-passthru", RPZ_PASSTHRU),
	RPZ_TARGET("\x08rpz-drop", RPZ_DROP),
	RPZ_TARGET("\x0crpz-tcp-only", RPZ_TCP_ONLY),
#undef RPZ_TARGET
};

void rpz_free(struct rpz *z)
{
	for (unsigned i = 0; i < z->nrules; i++) {
		for (unsigned k = 0; k < z->rules[i].nrrs; k++)
			free(z->rules[i].rrs[k].rdata);
		free(z->rules[i].rrs);
	}
	free(z->rules);
	suffix_set_free(z->names);
	suffix_set_free(z->wild);
	free(z->ips);
	free(z->clients);
	memset(z, 0, sizeof(*z));
}

/* Grow *p (n used of *cap elements of size sz) to hold one more; geometric, so loading a large
 * zone is linear. Returns 0, or -1 when out of memory. */
static int grow(void **p, unsigned n, unsigned *cap, size_t sz)
{
	unsigned ncap;
	void *np;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	if (!(np = realloc(*p, ncap * sz)))
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

static int new_rule(struct rpz *z, enum rpz_action a, const char *text)
{
	struct rpz_rule *n;

	if (grow((void **)&z->rules, z->nrules, &z->cap_rules, sizeof(*n)) < 0)
		return -1;
	n = z->rules;
	memset(&n[z->nrules], 0, sizeof(*n));
	n[z->nrules].action = a;
	n[z->nrules].zone = z->nzones;
	snprintf(n[z->nrules].text, sizeof(n[z->nrules].text), "%s", text);
	return (int)z->nrules++;
}

static int add_rr(struct rpz_rule *r, const ldns_rr *rr)
{
	ldns_buffer *b = ldns_buffer_new(512);
	struct rpz_rr *n;

	if (!b)
		return -1;
	if (ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK || ldns_buffer_position(b) > 65535 ||
	    !(n = realloc(r->rrs, (r->nrrs + 1) * sizeof(*n)))) {
		ldns_buffer_free(b);
		return -1;
	}
	r->rrs = n;
	n += r->nrrs;
	n->type = ldns_rr_get_type(rr);
	n->ttl = ldns_rr_ttl(rr);
	n->rdlen = (uint16_t)ldns_buffer_position(b);
	if (!(n->rdata = malloc(n->rdlen ? n->rdlen : 1))) {
		ldns_buffer_free(b);
		return -1;
	}
	memcpy(n->rdata, ldns_buffer_begin(b), n->rdlen);
	r->nrrs++;
	ldns_buffer_free(b);
	return 0;
}

/* The labels of a wire name, first to last (root excluded). Returns the count. */
static int labels_of(const uint8_t *name, size_t len, char out[][64], int max)
{
	int n = 0;

	for (size_t o = 0; o < len && name[o] && n < max; o += (size_t)name[o] + 1) {
		memcpy(out[n], name + o + 1, name[o]);
		out[n++][name[o]] = 0;
	}
	return n;
}

/* "32.4.3.2.1" -> 1.2.3.4/32; "128.zz.1.db8.2001" -> 2001:db8:1::/128 */
static int ip_trigger(char lab[][64], int n, struct cidr *out, char *err, size_t errlen)
{
	char text[8192] = "";
	size_t tl = 0;

	if (n < 2 || n > 10) {
		snprintf(err, errlen, "not an address trigger (PREFIX.d.c.b.a or PREFIX.ipv6-groups)");
		return -1;
	}
	bool v4 = n == 5;
	for (int i = 1; i < n && v4; i++) {
		char *end;
		long o = strtol(lab[i], &end, 10);
		v4 = lab[i][0] && !*end && o >= 0 && o <= 255;
	}
	if (v4) {
		for (int i = 4; i >= 1; i--)
			tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "%s%s", lab[i], i > 1 ? "." : "");
	} else {
		for (int i = n - 1; i >= 1; i--)
			tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "%s%s",
					       strcmp(lab[i], "zz") ? lab[i] : "", i > 1 ? ":" : "");
		if (text[0] == ':')
			memmove(text + 1, text, strlen(text) + 1);
		tl = strlen(text);
		if (tl && text[tl - 1] == ':' && (tl < 2 || text[tl - 2] != ':'))
			strcat(text, ":");
	}
	tl = strlen(text);
	if (tl + 2 + strlen(lab[0]) > sizeof(text))
		return -1;
	text[tl] = '/';
	strcpy(text + tl + 1, lab[0]);
	return cidr_parse(text, out, err, errlen);
}

static int add_net(struct rpz_net **list, unsigned *n, unsigned *cap, const struct cidr *c,
		   unsigned rule)
{
	if (grow((void **)list, *n, cap, sizeof(**list)) < 0)
		return -1;
	(*list)[*n].net = *c;
	(*list)[(*n)++].rule = rule;
	return 0;
}

int rpz_load(struct rpz *z, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int line = 0;
	unsigned first_rule = z->nrules;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct stat st_f;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* a directory opens, but every read fails without reaching the end: the loop below would
	 * spin on it (rpz = . in the configuration hung the start-up) */
	if (fstat(fileno(f), &st_f) == 0 && S_ISDIR(st_f.st_mode)) {
		snprintf(err, errlen, "%s: %s", path, strerror(EISDIR));
		fclose(f);
		return -1;
	}
	/* RR by RR rather than ldns_zone_new_frm_fp_l, which leaks what it built when a line fails */
	ldns_rr_list *rrs = ldns_rr_list_new();
	ldns_rdf *origin_rdf = NULL, *prev = NULL;
	ldns_rr *soa = NULL;
	uint32_t ttl = 3600;
	while (rrs && !feof(f) && !ferror(f)) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin_rdf, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN || st == LDNS_STATUS_SYNTAX_INCLUDE)
			continue;
		if (st != LDNS_STATUS_OK) {
			snprintf(err, errlen, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(st));
			ldns_rr_free(rr);
			ldns_rr_list_deep_free(rrs);
			ldns_rdf_deep_free(origin_rdf);
			ldns_rdf_deep_free(prev);
			fclose(f);
			return -1;
		}
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && !soa)
			soa = rr;
		ldns_rr_list_push_rr(rrs, rr);
	}
	bool read_failed = ferror(f);
	fclose(f);
	ldns_rdf_deep_free(origin_rdf);
	ldns_rdf_deep_free(prev);
	if (read_failed) {
		snprintf(err, errlen, "%s: read error", path);
		ldns_rr_list_deep_free(rrs);
		return -1;
	}
	if (!rrs || !soa) {
		snprintf(err, errlen, "%s: %s", path,
			 rrs ? "no SOA record (a policy zone needs one to set its origin)" : "out of memory");
		ldns_rr_list_deep_free(rrs);
		return -1;
	}
	if ((!z->names && !(z->names = suffix_set_new())) || (!z->wild && !(z->wild = suffix_set_new()))) {
		snprintf(err, errlen, "out of memory");
		ldns_rr_list_deep_free(rrs);
		return -1;
	}
	const ldns_rdf *origin = ldns_rr_owner(soa);
	const uint8_t *ow = ldns_rdf_data(origin);
	size_t olen = ldns_rdf_size(origin);

	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		const ldns_rdf *owner = ldns_rr_owner(rr);
		const uint8_t *on = ldns_rdf_data(owner);
		size_t len = ldns_rdf_size(owner), tlen;
		uint8_t trig[256];
		char lab[128][64], text[300], where[320];
		int nl;

		if (len <= olen || !wire_name_equal_nocase(on + len - olen, ow, olen))
			continue; /* the apex (SOA, NS) or outside the zone */
		/* the trigger: the owner without the origin, made a name of its own */
		tlen = len - olen;
		{
			size_t o = 0;
			while (o < tlen)
				o += (size_t)on[o] + 1;
			if (o != tlen)
				continue; /* not at a label boundary */
		}
		memcpy(trig, on, tlen);
		trig[tlen++] = 0;
		wire_name_lower(trig, tlen);
		wire_name_str(trig, tlen, text, sizeof(text));
		if (strlen(text) > 1)
			text[strlen(text) - 1] = 0;
		snprintf(where, sizeof(where), "rpz %s: %s", base, text);
		nl = labels_of(trig, tlen, lab, 128);

		/* the action */
		enum rpz_action act = RPZ_LOCAL;
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) == 1) {
			const ldns_rdf *t = ldns_rr_rdf(rr, 0);
			const uint8_t *td = ldns_rdf_data(t);
			size_t ts = ldns_rdf_size(t);
			if (ts == 1)
				act = RPZ_NXDOMAIN;
			else if (ts == 3 && td[0] == 1 && td[1] == '*')
				act = RPZ_NODATA;
			for (size_t k = 0; k < sizeof(rpz_special_targets) / sizeof(*rpz_special_targets); k++)
				if (ts == rpz_special_targets[k].len &&
				    wire_name_equal_nocase(td, rpz_special_targets[k].name, ts))
					act = rpz_special_targets[k].action;
		}

		/* the trigger kind */
		struct cidr net;
		char cerr[160];
		bool ipt = nl >= 1 && !strcmp(lab[nl - 1], "rpz-ip");
		bool cipt = nl >= 1 && !strcmp(lab[nl - 1], "rpz-client-ip");
		if (nl >= 1 && (!strcmp(lab[nl - 1], "rpz-nsdname") || !strcmp(lab[nl - 1], "rpz-nsip")))
			continue; /* name-server triggers need a recursive resolver; a forwarder skips them */
		if (ipt || cipt) {
			if (ip_trigger(lab, nl - 1, &net, cerr, sizeof(cerr)) < 0) {
				snprintf(err, errlen, "%s: trigger %s: %s", path, text, cerr);
				ldns_rr_list_deep_free(rrs);
				return -1;
			}
			/* more records for a trigger this file already has: local data adds up, and
			 * otherwise the first record's action stands */
			struct rpz_net *list = ipt ? z->ips : z->clients;
			unsigned nlist = ipt ? z->nips : z->nclients, k;
			for (k = 0; k < nlist; k++)
				if (list[k].rule >= first_rule && !memcmp(&list[k].net, &net, sizeof(net)))
					break;
			if (k < nlist) {
				struct rpz_rule *old = &z->rules[list[k].rule];
				if (old->action == RPZ_LOCAL && act == RPZ_LOCAL && add_rr(old, rr) < 0)
					goto oom;
				continue;
			}
			int r = new_rule(z, act, where);
			if (r < 0 || (act == RPZ_LOCAL && add_rr(&z->rules[r], rr) < 0) ||
			    add_net(ipt ? &z->ips : &z->clients, ipt ? &z->nips : &z->nclients,
				    ipt ? &z->cap_ips : &z->cap_clients, &net, (unsigned)r) < 0)
				goto oom;
			continue;
		}
		bool wildcard = nl >= 1 && !strcmp(lab[0], "*");
		struct suffix_set *set = wildcard ? z->wild : z->names;
		const uint8_t *key = wildcard ? trig + 2 : trig;
		size_t klen = wildcard ? tlen - 2 : tlen;
		uint32_t have = suffix_set_get(set, key, klen);
		if (have) {
			struct rpz_rule *old = &z->rules[have - 1];
			/* an earlier zone wins; more local data for the same trigger adds up */
			if (have - 1 >= first_rule && old->action == RPZ_LOCAL && act == RPZ_LOCAL &&
			    add_rr(old, rr) < 0)
				goto oom;
			continue;
		}
		int r = new_rule(z, act, where);
		if (r < 0 || (act == RPZ_LOCAL && add_rr(&z->rules[r], rr) < 0) ||
		    suffix_set_add(set, key, klen, (uint32_t)r + 1) < 0)
			goto oom;
	}
	z->nzones++;
	ldns_rr_list_deep_free(rrs);
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
	ldns_rr_list_deep_free(rrs);
	return -1;
}

static int net_desc(const void *a, const void *b)
{
	const struct rpz_net *x = a, *y = b;
	if (x->net.bits != y->net.bits)
		return (int)y->net.bits - (int)x->net.bits;
	return (int)x->rule - (int)y->rule; /* then the earlier zone */
}

void rpz_finish(struct rpz *z)
{
	if (z->nips)
		qsort(z->ips, z->nips, sizeof(*z->ips), net_desc);
	if (z->nclients)
		qsort(z->clients, z->nclients, sizeof(*z->clients), net_desc);
}

const struct rpz_rule *rpz_match_qname(const struct rpz *z, const uint8_t *lname, size_t len)
{
	uint32_t e, w;

	if (!z->nrules)
		return NULL;
	e = suffix_set_get(z->names, lname, len);
	w = suffix_set_longest_below(z->wild, lname, len);
	if (e && w) /* the first zone with any match wins; within one zone the exact name */
		return z->rules[w - 1].zone < z->rules[e - 1].zone ? &z->rules[w - 1] : &z->rules[e - 1];
	if (e)
		return &z->rules[e - 1];
	return w ? &z->rules[w - 1] : NULL;
}

const struct rpz_rule *rpz_match_client(const struct rpz *z, const uint8_t ip[16])
{
	for (unsigned i = 0; i < z->nclients; i++)
		if (cidr_match(&z->clients[i].net, ip))
			return &z->rules[z->clients[i].rule];
	return NULL;
}

const struct rpz_rule *rpz_match_answer(const struct rpz *z, const struct label *l)
{
	if (!z->nips || !l)
		return NULL;
	for (unsigned i = 0; i < z->nips; i++)
		for (unsigned k = 0; k < l->naddrs; k++)
			if (cidr_match(&z->ips[i].net, l->addrs[k].ip))
				return &z->rules[z->ips[i].rule];
	return NULL;
}
