/* util.h - small helpers: big-endian access, a fast PRNG, a seeded hash, parsing, suggestions. */
#ifndef JD_UTIL_H
#define JD_UTIL_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* xoshiro256** state; one per thread, seeded from getrandom(). */
struct prng { uint64_t s[4]; };

/* Seed from the kernel's CSPRNG. Returns 0, or -errno. */
int prng_seed(struct prng *r);

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t prng_next(struct prng *r)
{
	uint64_t *s = r->s, res = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl64(s[3], 45);
	return res;
}

/* A seeded 64-bit hash for table keys (names chosen by clients): the seed is random per process,
 * so collisions cannot be precomputed. */
uint64_t hash_bytes(const void *data, size_t len, uint64_t seed);

/* Parse an unsigned decimal in [min,max] with an optional size suffix (K, M, G when
 * allow_suffix). Returns 0, or -1 when the text is not such a number. */
int parse_uint(const char *s, uint64_t min, uint64_t max, int allow_suffix, uint64_t *out);

/* The candidate nearest to word (case ignored, at most two edits away), for "did you mean"; NULL
 * when none is that near. The one helper for every misspelt name: keys, sections, groups. */
const char *suggest_word(const char *word, const char *const *cands, size_t n);

/* A LIFO free list of same-size blocks (per worker, single-threaded): what the miss path frees
 * is taken again by the next miss, cache-warm, without malloc/free. The list is kept short. */
struct freelist {
	void *head;
	unsigned n, max;             /* max: blocks kept; beyond it freelist_put frees */
	size_t size;                 /* the block size, for AddressSanitizer to poison kept blocks */
};
/* A block of size bytes (contents undefined): from the list, or malloc'ed. NULL when out of
 * memory. */
void *freelist_get(struct freelist *fl, size_t size);
/* Give p (from freelist_get with the same size, or NULL) back. */
void freelist_put(struct freelist *fl, void *p);
/* Free every block on the list. */
void freelist_clear(struct freelist *fl);

/* A growing text buffer. After running out of memory it ignores writes and keeps oom set. */
struct strbuf {
	char *s;                     /* NUL-terminated, NULL while empty */
	size_t len, cap;
	int oom;
};
/* The value of hex digit c (either case), or -1. */
int hex_digit(char c);

void sb_put(struct strbuf *b, const char *s, size_t n);
void sb_str(struct strbuf *b, const char *s);
void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(struct strbuf *b);

/* fopen() that refuses a directory (NULL, errno EISDIR): fopen() opens one for reading and
 * every read then fails, which would read as an empty list. */
FILE *fopen_file(const char *path, const char *mode);

#endif
