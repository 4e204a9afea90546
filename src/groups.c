/* groups.c - jurisdiction groups. Countries are a short list per group, ASNs a sorted array
 * (binary search), domains and CDN suffixes one hash set each of wire-format suffixes for all
 * groups, each with a bitmask of the groups that list it (a CDN suffix also with its operator's
 * name). Lookups never allocate. */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <ini.h>
#include "groups.h"
#include "suffix.h"
#include "util.h"

struct groups {
	atomic_int refs;
	struct jgroup g[GROUPS_MAX];
	unsigned n;
	struct suffix_set *domains;  /* value: bit per group */
	struct suffix_set *cdn;      /* value: bit per group; tag: 1 + index into cdn_ops */
	char **cdn_ops;              /* operator names of the CDN entries, each stored once */
	size_t ncdn_ops;
};

struct groups *groups_empty(void)
{
	struct groups *g = calloc(1, sizeof(*g));

	if (g)
		if (g && (!(g->domains = suffix_set_new()) || !(g->cdn = suffix_set_new()))) {
		suffix_set_free(g->domains);
		free(g);
		return NULL;
	}
	if (g)
		atomic_init(&g->refs, 1);
	return g;
}

struct groups *groups_ref(struct groups *g)
{
	if (g)
		atomic_fetch_add(&g->refs, 1);
	return g;
}

void groups_unref(struct groups *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (unsigned i = 0; i < g->n; i++)
		free(g->g[i].asns);
	suffix_set_free(g->domains);
	suffix_set_free(g->cdn);
	for (size_t i = 0; i < g->ncdn_ops; i++)
		free(g->cdn_ops[i]);
	free(g->cdn_ops);
	free(g);
}

unsigned groups_count(const struct groups *g) { return g->n; }
const struct jgroup *groups_get(const struct groups *g, unsigned i) { return &g->g[i]; }

uint32_t groups_match_country(const struct groups *g, const char *cc)
{
	uint32_t m = 0;

	if (!cc[0])
		return 0;
	for (unsigned i = 0; i < g->n; i++) {
		const struct jgroup *jg = &g->g[i];
		bool excepted = false;
		for (unsigned j = 0; j < jg->ncountries; j++)
			if (jg->countries[j][0] == cc[0] && jg->countries[j][1] == cc[1])
				m |= 1u << i;
		for (unsigned j = 0; j < jg->nexcept; j++)
			excepted |= jg->except[j][0] == cc[0] && jg->except[j][1] == cc[1];
		if (jg->nexcept && !excepted)
			m |= 1u << i;
	}
	return m;
}

uint32_t groups_match_asn(const struct groups *g, uint32_t asn)
{
	uint32_t m = 0;

	if (!asn)
		return 0;
	for (unsigned i = 0; i < g->n; i++) {
		size_t lo = 0, hi = g->g[i].nasns;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (g->g[i].asns[mid] < asn)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < g->g[i].nasns && g->g[i].asns[lo] == asn)
			m |= 1u << i;
	}
	return m;
}

uint32_t groups_match_domain(const struct groups *g, const uint8_t *name, size_t len,
			     size_t *suffix_off)
{
	return suffix_set_match(g->domains, name, len, suffix_off);
}

uint32_t groups_domain_get(const struct groups *g, const uint8_t *name, size_t len)
{
	return suffix_set_get(g->domains, name, len);
}

uint32_t groups_match_cdn(const struct groups *g, const uint8_t *name, size_t len,
			  size_t *suffix_off, const char **operator_name)
{
	uint32_t tag = 0, m = suffix_set_match_tag(g->cdn, name, len, suffix_off, &tag);

	if (operator_name)
		*operator_name = m && tag && tag <= g->ncdn_ops ? g->cdn_ops[tag - 1] : "";
	return m;
}

uint32_t groups_cdn_get(const struct groups *g, const uint8_t *name, size_t len,
			const char **operator_name)
{
	uint32_t tag = 0, m = suffix_set_get_tag(g->cdn, name, len, &tag);

	if (operator_name)
		*operator_name = m && tag && tag <= g->ncdn_ops ? g->cdn_ops[tag - 1] : "";
	return m;
}

/* --- loading --- */

struct loader {
	const char *path;
	char dir[512];
	char *err;
	size_t errlen;
	struct groups *g;
	FILE *f;                     /* the groups file, read by groups_read_line for inih */
	int lineno;                  /* its line being read */
	int cur;                     /* the group whose section this is, -1 before the first */
	bool names_only;             /* [jurisdiction NAME] lines alone: the rest is not parsed */
	int err_line;                /* the groups file's line of the first error, 0 when none */
};

static int lerr(struct loader *l, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int lerr(struct loader *l, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(l->err, l->errlen, "%s:%d: ", file, line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < l->errlen)
		vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	l->err_line = l->lineno > 0 ? l->lineno : 1;
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static void strip_comment(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '#' || *p == ';') {
			*p = 0;
			return;
		}
}

/* "AS45102", "as45102" or "45102" */
static int parse_asn(const char *tok, uint32_t *out)
{
	uint64_t v;

	if ((tok[0] == 'A' || tok[0] == 'a') && (tok[1] == 'S' || tok[1] == 's'))
		tok += 2;
	if (parse_uint(tok, 1, UINT32_MAX, 0, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static void resolve_path(const struct loader *l, const char *p, char *out, size_t outlen)
{
	if (p[0] == '/' || !l->dir[0])
		snprintf(out, outlen, "%s", p);
	else
		snprintf(out, outlen, "%s/%s", l->dir, p);
}

static int add_asn(struct jgroup *jg, uint32_t asn)
{
	/* capacity 16, then doubling whenever a power of two is full (geometric growth) */
	if (jg->nasns == 0 || (jg->nasns >= 16 && (jg->nasns & (jg->nasns - 1)) == 0)) {
		uint32_t *n = realloc(jg->asns, (jg->nasns ? jg->nasns * 2 : 16) * sizeof(*n));
		if (!n)
			return -1;
		jg->asns = n;
	}
	jg->asns[jg->nasns++] = asn;
	return 0;
}

static int add_domain(struct loader *l, const uint8_t *wire, int len, unsigned gi)
{
	if (suffix_set_add(l->g->domains, wire, (size_t)len, 1u << gi) < 0)
		return -1;
	l->g->g[gi].ndomains++;
	return 0;
}

/* The index + 1 of operator name op in the groups' table, added when new; 0 when out of memory.
 * Lists name a few operators many times, so a linear search over them is cheap enough. */
static uint32_t cdn_operator(struct groups *g, const char *op)
{
	for (size_t i = 0; i < g->ncdn_ops; i++)
		if (!strcmp(g->cdn_ops[i], op))
			return (uint32_t)i + 1;
	char **n = realloc(g->cdn_ops, (g->ncdn_ops + 1) * sizeof(*n));
	if (!n)
		return 0;
	g->cdn_ops = n;
	if (!(n[g->ncdn_ops] = strdup(op)))
		return 0;
	return (uint32_t)++g->ncdn_ops;
}

/* One entry t (trimmed, no comment) of a list file at path:ln for group gi. Returns 0, or -1
 * with the error set. */
typedef int list_entry_fn(struct loader *l, char *t, unsigned gi, const char *path, int ln);

/* An ASN list: one AS number a line. */
static int asn_entry(struct loader *l, char *t, unsigned gi, const char *path, int ln)
{
	uint32_t asn;

	if (parse_asn(t, &asn) < 0)
		return lerr(l, path, ln, "'%s' is not an AS number", t);
	if (add_asn(&l->g->g[gi], asn) < 0)
		return lerr(l, path, ln, "out of memory");
	return 0;
}

/* A domain list: one domain a line. */
static int domain_entry(struct loader *l, char *t, unsigned gi, const char *path, int ln)
{
	uint8_t wire[256];
	int len = domain_to_wire(t, wire);

	if (len < 0)
		return lerr(l, path, ln, "'%s' is not a domain name", t);
	if (add_domain(l, wire, len, gi) < 0)
		return lerr(l, path, ln, "out of memory");
	return 0;
}

/* A CDN list: "SUFFIX OPERATOR NAME" a line. */
static int cdn_entry(struct loader *l, char *t, unsigned gi, const char *path, int ln)
{
	uint8_t wire[256];
	int len;
	uint32_t tag;
	char *op;

	for (op = t; *op && !isspace((unsigned char)*op); op++)
		;
	if (*op)
		*op++ = 0;
	op = trim(op);
	if ((len = domain_to_wire(t, wire)) < 0)
		return lerr(l, path, ln, "'%s' is not a domain name", t);
	if (!*op)
		return lerr(l, path, ln, "'%s' has no operator name (SUFFIX OPERATOR NAME)", t);
	for (const char *c = op; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\' || (unsigned char)*c == 0x7f)
			return lerr(l, path, ln, "operator name with a control character, '\"' or '\\'");
	/* the label detail is "SUFFIX (OPERATOR)" in struct label_reason (71 bytes) */
	if (strlen(t) + strlen(op) + 3 >= 71)
		return lerr(l, path, ln, "suffix and operator name longer than 67 characters together");
	if (!(tag = cdn_operator(l->g, op)) ||
	    suffix_set_add_tagged(l->g->cdn, wire, (size_t)len, 1u << gi, tag) < 0)
		return lerr(l, path, ln, "out of memory");
	l->g->g[gi].ncdn++;
	return 0;
}

/* A list file named on the groups file's current line: one entry a line, read by entry; '#' or
 * ';' starts a comment (the source). List files are plain lines, not INI. */
static int load_list(struct loader *l, const char *file, unsigned gi, list_entry_fn *entry)
{
	char path[1024], line[1024];
	FILE *f;
	int ln = 0;

	resolve_path(l, file, path, sizeof(path));
	if (!(f = fopen_file(path, "r")))
		return lerr(l, l->path, l->lineno, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *t;
		ln++;
		strip_comment(line);
		t = trim(line);
		if (*t && entry(l, t, gi, path, ln) < 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* t: exactly "[jurisdiction NAME]", NAME of letters, digits, '-' and '_'. Starts that group. */
static int groups_section(struct loader *l, const char *t)
{
	static const char prefix[] = "[jurisdiction ";
	char name[64];
	size_t k = 0;
	const char *s = t + sizeof(prefix) - 1;

	if (strncmp(t, prefix, sizeof(prefix) - 1))
		return lerr(l, l->path, l->lineno, "expected [jurisdiction NAME] (letters, digits, - and _)");
	while ((isalnum((unsigned char)*s) || *s == '-' || *s == '_') && k < sizeof(name) - 1)
		name[k++] = *s++;
	name[k] = 0;
	if (!k || s[0] != ']' || s[1])
		return lerr(l, l->path, l->lineno, "expected [jurisdiction NAME] (letters, digits, - and _)");
	if (strlen(name) >= GROUP_NAME_MAX || l->g->n == GROUPS_MAX)
		return lerr(l, l->path, l->lineno, "group name too long or more than %d groups", GROUPS_MAX);
	if (groups_find(l->g, name)) /* names are case-insensitive */
		return lerr(l, l->path, l->lineno, "group %s defined twice", name);
	l->cur = (int)l->g->n++;
	snprintf(l->g->g[l->cur].name, GROUP_NAME_MAX, "%s", name);
	return 0;
}

/* inih's reader: the next line of the groups file with its comment ('#' or ';' anywhere) and
 * indent cut off, so inih sees no continuation lines. Section headers are checked and taken
 * here: inih does not report an empty section, and an empty group is still a group. NULL at the
 * end or after the first error. */
static char *groups_read_line(char *str, int num, void *stream)
{
	struct loader *l = stream;
	size_t n;
	char *t;

	if (l->err_line || !fgets(str, num, l->f))
		return NULL;
	l->lineno++;
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n') {
		int ch = getc(l->f);
		if (ch != EOF) {
			/* inih's buffer is fixed: a longer line would be split silently */
			lerr(l, l->path, l->lineno, "line longer than %d characters", num - 2);
			return NULL;
		}
	}
	if (l->lineno == 1 && !memcmp(str, "\xef\xbb\xbf", 3)) /* a byte-order mark */
		memmove(str, str + 3, strlen(str + 3) + 1);
	strip_comment(str);
	t = trim(str);
	if (*t == '[') {
		if (groups_section(l, t) < 0)
			return NULL;
	} else if (*t && l->names_only) {
		*t = 0;
	} else if (*t && t[strcspn(t, "=:")] != '=') {
		/* inih would take "key: value" too; this format has only "key = value" */
		lerr(l, l->path, l->lineno, "expected key = value");
		return NULL;
	}
	memmove(str, t, strlen(t) + 1);
	return str;
}

/* inih's handler: one "key = value" of the current group. Returns 1; errors go to l. */
static int groups_on_key(void *user, const char *section, const char *key, const char *value)
{
	struct loader *l = user;
	char val[1024], *save = NULL, *tok;

	(void)section; /* groups_read_line keeps the current group */
	if (l->err_line || l->names_only)
		return 1;
	if (l->cur < 0) {
		lerr(l, l->path, l->lineno, "'%s' outside a [jurisdiction NAME] section", key);
		return 1;
	}
	struct jgroup *jg = &l->g->g[l->cur];
	unsigned gi = (unsigned)l->cur;
	bool except = !strcmp(key, "countries_except");
	bool countries = except || !strcmp(key, "countries"), asns = !strcmp(key, "asns"),
	     domains = !strcmp(key, "domains"), cdn = !strcmp(key, "cdn");
	if (!strcmp(key, "kind")) {
		if (strcmp(value, "jurisdiction") && strcmp(value, "bypass")) {
			lerr(l, l->path, l->lineno, "kind = '%s': jurisdiction or bypass", value);
			return 1;
		}
		jg->kind = !strcmp(value, "bypass") ? GROUP_BYPASS : GROUP_JURISDICTION;
		if (jg->kind == GROUP_BYPASS && (jg->ncountries || jg->nexcept || jg->nasns || jg->ncdn))
			lerr(l, l->path, l->lineno, "a bypass group has domains only (no countries, asns or cdn)");
		return 1;
	}
	if (!countries && !asns && !domains && !cdn) {
		lerr(l, l->path, l->lineno,
		     "unknown key '%s' (kind, countries, countries_except, asns, domains or cdn)", key);
		return 1;
	}
	/* resolver names are not a jurisdiction: no address or operator evidence applies to them */
	if (jg->kind == GROUP_BYPASS && !domains) {
		lerr(l, l->path, l->lineno, "'%s' in a bypass group (kind = bypass has domains only)", key);
		return 1;
	}
	snprintf(val, sizeof(val), "%s", value);
	for (tok = strtok_r(val, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		if (countries) {
			if (strlen(tok) != 2 || !isalpha((unsigned char)tok[0]) || !isalpha((unsigned char)tok[1])) {
				lerr(l, l->path, l->lineno, "'%s' is not a two-letter country code", tok);
				return 1;
			}
			unsigned *nc = except ? &jg->nexcept : &jg->ncountries;
			char (*list)[3] = except ? jg->except : jg->countries;
			if (*nc == GROUP_MAX_COUNTRIES) {
				lerr(l, l->path, l->lineno, "more than %d countries", GROUP_MAX_COUNTRIES);
				return 1;
			}
			list[*nc][0] = (char)toupper((unsigned char)tok[0]);
			list[*nc][1] = (char)toupper((unsigned char)tok[1]);
			list[(*nc)++][2] = 0;
		} else if (asns) {
			uint32_t asn;
			if (parse_asn(tok, &asn) < 0) {
				if (load_list(l, tok, gi, asn_entry) < 0)
					return 1;
			} else if (add_asn(jg, asn) < 0) {
				lerr(l, l->path, l->lineno, "out of memory");
				return 1;
			}
		} else if (cdn) {
			/* list files only: an entry needs its operator's name, with spaces */
			if (load_list(l, tok, gi, cdn_entry) < 0)
				return 1;
		} else if (strchr(tok, '/') || !strcmp(tok + (strlen(tok) > 4 ? strlen(tok) - 4 : 0), ".txt")) {
			if (load_list(l, tok, gi, domain_entry) < 0)
				return 1;
		} else {
			uint8_t wire[256];
			int len = domain_to_wire(tok, wire);
			if (len <= 0) {
				lerr(l, l->path, l->lineno, "'%s' is neither a domain nor a list file (*.txt)", tok);
				return 1;
			}
			if (add_domain(l, wire, len, gi) < 0) {
				lerr(l, l->path, l->lineno, "out of memory");
				return 1;
			}
		}
	}
	return 1;
}

/* The groups file goes through libinih like the main configuration (conf.c). */
static struct groups *load(const char *path, bool names_only, char *err, size_t errlen)
{
	struct loader l = { .path = path, .err = err, .errlen = errlen, .cur = -1,
			    .names_only = names_only };
	const char *slash = strrchr(path, '/');
	int line;

	if (slash && (size_t)(slash - path) < sizeof(l.dir))
		snprintf(l.dir, sizeof(l.dir), "%.*s", (int)(slash - path), path);
	if (!(l.g = groups_empty())) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!(l.f = fopen_file(path, "r"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	line = ini_parse_stream(groups_read_line, &l, groups_on_key, &l);
	fclose(l.f);
	/* whichever came first: inih's own syntax error (not expected: the reader passes it only
	 * headers and key = value lines) or ours */
	if (line != 0 && (!l.err_line || (line > 0 && line < l.err_line))) {
		if (line > 0)
			snprintf(err, errlen, "%s:%d: expected [jurisdiction NAME] or key = value", path, line);
		else
			snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	if (l.err_line)
		goto fail;
	for (unsigned i = 0; i < l.g->n; i++) {
		struct jgroup *jg = &l.g->g[i];
		size_t o = 0;
		if (!jg->nasns)
			continue; /* a group may have no ASNs (asns is NULL then) */
		qsort(jg->asns, jg->nasns, sizeof(*jg->asns), cmp_u32);
		for (size_t k = 0; k < jg->nasns; k++)
			if (!o || jg->asns[o - 1] != jg->asns[k])
				jg->asns[o++] = jg->asns[k];
		jg->nasns = o;
	}
	return l.g;
fail:
	groups_unref(l.g);
	return NULL;
}

struct groups *groups_load(const char *path, char *err, size_t errlen)
{
	return load(path, false, err, errlen);
}

struct groups *groups_load_names(const char *path, char *err, size_t errlen)
{
	return load(path, true, err, errlen);
}

const char *groups_find(const struct groups *g, const char *name)
{
	for (unsigned i = 0; i < g->n; i++)
		if (!strcasecmp(g->g[i].name, name))
			return g->g[i].name;
	return NULL;
}
