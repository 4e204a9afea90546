/* oui.c - the IEEE MAC address registrations of Debian's ieee-data, for the device vendor.
 *
 * The files are CSV (RFC 4180: quoted fields hold commas, quotes and line breaks; CRLF line
 * ends): Registry,Assignment,Organization Name,Organization Address. The address is the
 * street, city, state, country and postal code joined by spaces, so the country is not simply
 * the last word: "... Amsterdam  NL 1101 AA", "... Kowloon  HK NA", "... Beijing  CN". See
 * oui_address_country.
 *
 * Layout: each vendor (name and country) is stored once; each registration is one 64-bit word,
 * prefix << 28 | vendor index, in one sorted array per prefix length, searched longest first. */
#include "config.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oui.h"
#include "util.h"

#define IDX_BITS 28
#define IDX_MASK ((1ULL << IDX_BITS) - 1)
#define NAME_MAX_LEN 120
#define FILE_MAX (64u << 20)     /* far above the real 3 MB: a bigger file is not ieee-data */

enum { L24, L28, L36, NLEN };
static const unsigned len_bits[NLEN] = { 24, 28, 36 };

struct prefixes {
	uint64_t *v;
	size_t n, cap;
};

struct oui {
	_Atomic unsigned refs;
	struct prefixes p[NLEN];
	struct oui_vendor *vendors;
	size_t nvendors;
	char *names;                 /* every vendor name, NUL-separated */
};

/* The officially assigned ISO 3166-1 alpha-2 codes, sorted, and the withdrawn YU still found
 * in old registrations. A code must be one of them to count as the country. */
static const char iso3166[] =
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
	"BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
	"DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
	"GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
	"KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
	"MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
	"PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
	"SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
	"VN VU WF WS YE YT YU ZA ZM ZW";

static bool is_country(const char *w, size_t len)
{
	size_t lo = 0, hi = (sizeof(iso3166) - 1 + 1) / 3;

	if (len != 2)
		return false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(iso3166 + mid * 3, w, 2);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

#define MAX_WORDS 64

/* A postal code after the country: one to three short words with a digit in them ("518057",
 * "1101 AA", "H3B 1P5"), or "NA" (Hong Kong has none). */
static bool postal_like(const char *const *w, const size_t *wl, size_t n)
{
	bool digit = false;

	if (n < 1 || n > 3)
		return false;
	if (n == 1 && wl[0] == 2 && !strncmp(w[0], "NA", 2))
		return true;
	for (size_t i = 0; i < n; i++) {
		if (wl[i] > 10)
			return false;
		for (size_t k = 0; k < wl[i]; k++)
			digit |= w[i][k] >= '0' && w[i][k] <= '9';
	}
	return digit;
}

void oui_address_country(const char *addr, char cc[3])
{
	const char *w[MAX_WORDS];
	size_t wl[MAX_WORDS], n = 0;

	cc[0] = 0;
	for (const char *s = addr; *s;) {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n')
			e++;
		if (n == MAX_WORDS) { /* keep the last words: the country is near the end */
			memmove(w, w + 1, sizeof(w[0]) * (MAX_WORDS - 1));
			memmove(wl, wl + 1, sizeof(wl[0]) * (MAX_WORDS - 1));
			n--;
		}
		w[n] = s;
		wl[n++] = (size_t)(e - s);
		s = e;
	}
	/* the modern form: country, then a postal code */
	for (size_t k = n >= 2 ? n - 2 : 0; n >= 2 && k + 5 > n; k--) {
		if (is_country(w[k], wl[k]) && postal_like(w + k + 1, wl + k + 1, n - k - 1)) {
			memcpy(cc, w[k], 2);
			cc[2] = 0;
			return;
		}
		if (k == 0)
			break;
	}
	/* no postal code ("Beijing  CN"), or words after the country ("HK Tsuen Wan New
	 * Territories", "GB England"): the last code among the last few words */
	for (size_t k = n; k-- > 0 && k + 6 > n;) {
		if (is_country(w[k], wl[k])) {
			memcpy(cc, w[k], 2);
			cc[2] = 0;
			return;
		}
	}
}

/* ---- building ---- */

struct builder {
	struct oui *t;
	size_t vcap;
	char *names;
	size_t nlen, ncap;
	uint32_t *hash;              /* vendor index + 1, 0 = empty */
	size_t hcap;
	size_t skipped;
};

static uint32_t hash_vendor(const char *name, const char *cc)
{
	uint32_t h = 2166136261u;

	for (const char *s = name; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	h = (h ^ (unsigned char)cc[0]) * 16777619u;
	return (h ^ (unsigned char)cc[1]) * 16777619u;
}

static int hash_grow(struct builder *b)
{
	size_t cap = b->hcap ? b->hcap * 2 : 1024;
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -1;
	for (size_t i = 0; i < b->hcap; i++) {
		if (!b->hash[i])
			continue;
		const struct oui_vendor *v = &b->t->vendors[b->hash[i] - 1];
		size_t k = hash_vendor(b->names + (uintptr_t)v->name, v->country) & (cap - 1);
		while (h[k])
			k = (k + 1) & (cap - 1);
		h[k] = b->hash[i];
	}
	free(b->hash);
	b->hash = h;
	b->hcap = cap;
	return 0;
}

/* The index of vendor (name, cc), added when new. While building, vendor.name holds the offset
 * of the name in b->names. -1 when out of memory. */
static long intern(struct builder *b, const char *name, const char *cc)
{
	struct oui *t = b->t;
	size_t len = strlen(name);

	if ((t->nvendors + 1) * 2 > b->hcap && hash_grow(b) < 0)
		return -1;
	size_t k = hash_vendor(name, cc) & (b->hcap - 1);
	for (; b->hash[k]; k = (k + 1) & (b->hcap - 1)) {
		const struct oui_vendor *v = &t->vendors[b->hash[k] - 1];
		if (!strcmp(b->names + (uintptr_t)v->name, name) && !strcmp(v->country, cc))
			return b->hash[k] - 1;
	}
	if (t->nvendors == b->vcap) {
		size_t cap = b->vcap ? b->vcap * 2 : 4096;
		struct oui_vendor *nv = realloc(t->vendors, cap * sizeof(*nv));
		if (!nv)
			return -1;
		t->vendors = nv;
		b->vcap = cap;
	}
	if (b->nlen + len + 1 > b->ncap) {
		size_t cap = b->ncap ? b->ncap * 2 : 1 << 18;
		while (cap < b->nlen + len + 1)
			cap *= 2;
		char *nn = realloc(b->names, cap);
		if (!nn)
			return -1;
		b->names = nn;
		b->ncap = cap;
	}
	struct oui_vendor *v = &t->vendors[t->nvendors];
	v->name = (const char *)(uintptr_t)b->nlen;
	memcpy(v->country, cc, 3);
	v->prc = !strcmp(cc, "CN") || !strcmp(cc, "HK") || !strcmp(cc, "MO");
	memcpy(b->names + b->nlen, name, len + 1);
	b->nlen += len + 1;
	b->hash[k] = (uint32_t)++t->nvendors;
	return (long)t->nvendors - 1;
}

static int add_prefix(struct prefixes *p, uint64_t word)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 4096;
		uint64_t *nv = realloc(p->v, cap * sizeof(*nv));
		if (!nv)
			return -1;
		p->v = nv;
		p->cap = cap;
	}
	p->v[p->n++] = word;
	return 0;
}

/* The organisation as shown: one line, single spaces, at most NAME_MAX_LEN bytes (cut on a
 * UTF-8 character boundary). An unnamed ("Private") registration says so. */
static void clean_name(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	bool space = false;
	const char *s;

	for (s = in; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = n > 0;
			continue;
		}
		if (n + (space ? 2 : 1) >= outlen)
			break;
		if (space)
			out[n++] = ' ';
		space = false;
		out[n++] = (char)c;
	}
	if (*s && n > 0) { /* cut: drop a character whose bytes did not all fit */
		size_t start = n;
		while (start > 0 && ((unsigned char)out[start - 1] & 0xc0) == 0x80)
			start--;
		if (start > 0 && (unsigned char)out[start - 1] >= 0xc0) {
			unsigned char lead = (unsigned char)out[start - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
			if (n - (start - 1) < need)
				n = start - 1;
		}
	}
	out[n] = 0;
	if (!strcmp(out, "Private") || !out[0])
		snprintf(out, outlen, "private registration");
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
		: c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One CSV record of 4 fields into f (NUL-terminated in place). *pos moves past the record.
 * Returns the number of fields, 0 at the end. */
static int csv_record(char *buf, size_t len, size_t *pos, char **f, int maxf)
{
	size_t i = *pos, o;
	int nf = 0;

	if (i >= len)
		return 0;
	for (;;) {
		char *start = buf + i;
		o = i;
		if (i < len && buf[i] == '"') {
			i++;
			while (i < len) {
				if (buf[i] == '"') {
					if (i + 1 < len && buf[i + 1] == '"') {
						buf[o++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				buf[o++] = buf[i++];
			}
			while (i < len && buf[i] != ',' && buf[i] != '\n') /* junk after the quote */
				i++;
		} else {
			while (i < len && buf[i] != ',' && buf[i] != '\n')
				buf[o++] = buf[i++];
		}
		char sep = i < len ? buf[i] : '\n';
		if (o > (size_t)(start - buf) && buf[o - 1] == '\r' && sep == '\n')
			o--;
		if (nf < maxf)
			f[nf++] = start;
		buf[o] = 0; /* o <= i: the terminator never overwrites what is still to read */
		i++;
		if (sep == '\n')
			break;
	}
	*pos = i;
	return nf;
}

static int load_file(struct builder *b, const char *dir, const char *file, bool required,
		     size_t *count, char *err, size_t errlen)
{
	char path[1024], *buf = NULL, *f[4];
	FILE *fp;
	size_t len = 0, pos = 0;
	long size;
	int nf, ret = -1;

	*count = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!(fp = fopen_file(path, "rb"))) {
		if (errno == ENOENT && !required)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) < 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((unsigned long)size > FILE_MAX) {
		snprintf(err, errlen, "%s: %ld bytes, larger than an ieee-data file can be", path, size);
		goto out;
	}
	if (!(buf = malloc((size_t)size + 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	len = fread(buf, 1, (size_t)size, fp);
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	buf[len] = 0;
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) /* a byte-order mark */
		pos = 3;
	while ((nf = csv_record(buf, len, &pos, f, 4)) > 0) {
		char name[NAME_MAX_LEN + 1], cc[3];
		const char *a = nf >= 2 ? f[1] : "";
		size_t al = strlen(a);
		uint64_t prefix = 0;
		int li = al == 6 ? L24 : al == 7 ? L28 : al == 9 ? L36 : -1;
		for (size_t k = 0; li >= 0 && k < al; k++) {
			int h = hexval(a[k]);
			if (h < 0)
				li = -1;
			prefix = prefix << 4 | (unsigned)(h < 0 ? 0 : h);
		}
		if (nf < 3 || li < 0) {
			if (strcmp(f[0], "Registry") && (nf > 1 || f[0][0]))
				b->skipped++; /* not the header, not an empty line */
			continue;
		}
		clean_name(f[2], name, sizeof(name));
		oui_address_country(nf >= 4 ? f[3] : "", cc);
		long v = intern(b, name, cc);
		if (v < 0 || add_prefix(&b->t->p[li], prefix << IDX_BITS | (uint64_t)v) < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		(*count)++;
	}
	if (required && !*count) {
		snprintf(err, errlen, "%s: no MAC address registrations in it (not an ieee-data CSV file?)",
			 path);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	fclose(fp);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted, one word per prefix (a prefix listed twice keeps one of its vendors), trimmed. */
static void finish_prefixes(struct prefixes *p)
{
	size_t n = 0;

	if (!p->n)
		return;
	qsort(p->v, p->n, sizeof(*p->v), cmp_u64);
	for (size_t i = 0; i < p->n; i++)
		if (!n || p->v[i] >> IDX_BITS != p->v[n - 1] >> IDX_BITS)
			p->v[n++] = p->v[i];
	p->n = n;
	uint64_t *t = realloc(p->v, n * sizeof(*t));
	if (t)
		p->v = t;
	p->cap = n;
}

struct oui *oui_load(const char *dir, char *err, size_t errlen)
{
	static const struct { const char *file; bool required; } files[] = {
		{ "oui.csv", true }, { "mam.csv", false }, { "oui36.csv", false }, { "iab.csv", false },
	};
	struct builder b = { 0 };
	size_t count;

	if (!(b.t = calloc(1, sizeof(*b.t)))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b.t->refs = 1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (load_file(&b, dir, files[i].file, files[i].required, &count, err, errlen) < 0)
			goto fail;
	if (b.t->nvendors > IDX_MASK) {
		snprintf(err, errlen, "%s: too many vendors", dir);
		goto fail;
	}
	for (int l = 0; l < NLEN; l++)
		finish_prefixes(&b.t->p[l]);
	char *names = realloc(b.names, b.nlen ? b.nlen : 1);
	b.t->names = names ? names : b.names;
	for (size_t i = 0; i < b.t->nvendors; i++)
		b.t->vendors[i].name = b.t->names + (uintptr_t)b.t->vendors[i].name;
	struct oui_vendor *v = realloc(b.t->vendors, (b.t->nvendors ? b.t->nvendors : 1) * sizeof(*v));
	if (v)
		b.t->vendors = v;
	free(b.hash);
	return b.t;
fail:
	free(b.hash);
	free(b.names);
	b.t->names = NULL;
	oui_unref(b.t);
	return NULL;
}

struct oui *oui_ref(struct oui *t)
{
	if (t)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

void oui_unref(struct oui *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	for (int l = 0; l < NLEN; l++)
		free(t->p[l].v);
	free(t->vendors);
	free(t->names);
	free(t);
}

size_t oui_count(const struct oui *t)
{
	return t ? t->p[L24].n + t->p[L28].n + t->p[L36].n : 0;
}

/* The vendor index of prefix in p, or -1. */
static long find(const struct prefixes *p, uint64_t prefix)
{
	size_t lo = 0, hi = p->n;
	uint64_t key = prefix << IDX_BITS;

	while (lo < hi) { /* the first word >= key */
		size_t mid = lo + (hi - lo) / 2;
		if (p->v[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->n && p->v[lo] >> IDX_BITS == prefix)
		return (long)(p->v[lo] & IDX_MASK);
	return -1;
}

const struct oui_vendor *oui_lookup(const struct oui *t, const uint8_t mac[6])
{
	static const struct oui_vendor private_addr = { "private address", "", false };
	static const struct oui_vendor multicast = { "multicast", "", false };
	uint64_t m = 0;

	if (mac[0] & 0x01)
		return &multicast;
	if (mac[0] & 0x02)
		return &private_addr;
	if (!t)
		return NULL;
	for (int i = 0; i < 6; i++)
		m = m << 8 | mac[i];
	for (int l = NLEN; l-- > 0;) {
		long v = find(&t->p[l], m >> (48 - len_bits[l]));
		if (v >= 0)
			return &t->vendors[v];
	}
	return NULL;
}

int oui_parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
		if (lo < 0)
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5) {
			if (*s != ':' && *s != '-')
				return -1;
			s++;
		}
	}
	return *s ? -1 : 0;
}
