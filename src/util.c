/* util.c - PRNG seeding, the table hash, number parsing, a text buffer, "did you mean". */
#include "config.h"
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include "util.h"

int prng_seed(struct prng *r)
{
	size_t got = 0;

	while (got < sizeof(r->s)) {
		ssize_t n = getrandom((uint8_t *)r->s + got, sizeof(r->s) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
	return 0;
}

static inline uint64_t mix64(uint64_t a, uint64_t b)
{
	__uint128_t m = (__uint128_t)a * b;
	return (uint64_t)m ^ (uint64_t)(m >> 64);
}

/* wyhash-style: 8 bytes at a time through a 128-bit multiply. */
uint64_t hash_bytes(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data;
	uint64_t h = seed ^ 0xa0761d6478bd642fULL ^ len;

	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = mix64(h ^ v, 0xe7037ed1a0b428dbULL);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = 0;
		memcpy(&v, p, len);
		h = mix64(h ^ v ^ ((uint64_t)len << 56), 0x8ebc6af09c88c6e3ULL);
	}
	return mix64(h, 0x589965cc75374cc3ULL);
}

int parse_uint(const char *s, uint64_t min, uint64_t max, int allow_suffix, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (allow_suffix && *end) {
		unsigned shift = 0;
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return -1;
		}
		if (v > (~0ULL >> shift))
			return -1;
		v <<= shift;
		end++;
	}
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void sb_put(struct strbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void sb_str(struct strbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		sb_put(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_put(b, big, (size_t)n);
	free(big);
}

void sb_free(struct strbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* Edits from a to b (insert, delete, change, swap two neighbours), case ignored; 99 for words too
 * long to be names. */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d[64][64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
			unsigned best = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1u < best)
				best = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < best)
				best = d[i][j - 1] + 1u;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1u < best)
				best = d[i - 2][j - 2] + 1u;
			d[i][j] = (unsigned char)best;
		}
	return d[la][lb];
}

const char *suggest_word(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	unsigned bestd = 99;
	size_t lw = strlen(word);

	for (size_t i = 0; i < n; i++) {
		size_t lc = strlen(cands[i]), shorter = lw < lc ? lw : lc;
		unsigned dist = edit_distance(word, cands[i]);
		/* one typo in a short word, two in a longer one: "CN" is no typo for "RU", nor "why"
		 * for "any" */
		if (dist < bestd && dist <= (shorter >= 5 ? 2u : 1u) && dist < shorter) {
			bestd = dist;
			best = cands[i];
		}
	}
	return best;
}

/* The link lives in the first bytes of a free block. Under AddressSanitizer the rest of a
 * kept block is poisoned, so a use after freelist_put is still reported as one after free(). */
struct freelist_node {
	struct freelist_node *next;
};

#if defined(__SANITIZE_ADDRESS__)
#define FL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FL_ASAN 1
#endif
#endif
#ifdef FL_ASAN
#include <sanitizer/asan_interface.h>
#define FL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define FL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define FL_POISON(p, n) ((void)(p), (void)(n))
#define FL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

void *freelist_get(struct freelist *fl, size_t size)
{
	struct freelist_node *b = fl->head;

	if (size < sizeof(*b))
		size = sizeof(*b);
	fl->size = size;
	if (!b)
		return malloc(size);
	fl->head = b->next;
	fl->n--;
	FL_UNPOISON((char *)b + sizeof(*b), size - sizeof(*b));
	return b;
}

void freelist_put(struct freelist *fl, void *p)
{
	struct freelist_node *b = p;

	if (!b)
		return;
	if (fl->n >= fl->max) {
		free(b);
		return;
	}
	b->next = fl->head;
	fl->head = b;
	fl->n++;
	FL_POISON((char *)b + sizeof(*b), fl->size - sizeof(*b));
}

void freelist_clear(struct freelist *fl)
{
	for (struct freelist_node *b = fl->head, *next; b; b = next) {
		next = b->next;
		FL_UNPOISON((char *)b + sizeof(*b), fl->size - sizeof(*b));
		free(b);
	}
	fl->head = NULL;
	fl->n = 0;
}

FILE *fopen_file(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);
	struct stat st;

	if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	return f;
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
