/* cache.h - a per-worker answer cache: wire-format answers keyed by (name, type, class, flags),
 * LRU eviction under a byte limit. Single-threaded: each worker owns one. */
#ifndef JD_CACHE_H
#define JD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "label.h"
#include "wire.h"

struct cache_entry {
	struct cache_entry *hnext;        /* hash chain ... */
	struct cache_entry **pprev;       /* ... and what points at this entry: O(1) removal */
	struct cache_entry *prev, *next;  /* LRU list, most recent first */
	uint64_t hash;
	uint64_t stored_ms, expire_ms;
	uint32_t charge;                  /* bytes counted against the limit */
	uint16_t keylen;
	uint16_t len;                     /* wire length, OPT removed */
	uint16_t ar_start;                /* length without the additional section */
	uint16_t arcount;                 /* additional records, OPT removed */
	uint16_t question_end;
	uint16_t nttl;
	int rcode;                        /* with extended bits */
	uint16_t ede;                     /* an Extended DNS Error of a failure made here, or 0 ... */
	uint8_t ede_text;                 /* ... and its text: wire_ede_text[] (both in padding) */
	struct label *label;              /* jurisdiction label, one reference; NULL = none */
	uint8_t *wire;
	const uint16_t *ttl_off;
	uint8_t data[];                   /* the key (keylen bytes), then wire and TTL offsets; no
					   * key pointer: the entry stays as small as before pprev */
};

struct cache_stats {
	uint64_t hits, misses, inserts, evictions, expired;
	size_t entries, bytes;
};

struct cache;

/* A cache of at most max_bytes. seed randomises the hash. NULL on allocation failure. */
struct cache *cache_new(size_t max_bytes, uint64_t seed);
void cache_free(struct cache *c);

/* Change the byte limit, evicting as needed. 0 empties the cache and disables it. */
void cache_set_limit(struct cache *c, size_t max_bytes);

uint64_t cache_hash(const struct cache *c, const uint8_t *key, size_t keylen);

/* Find a live entry; marks it recently used. The pointer is valid until the next insert. */
const struct cache_entry *cache_lookup(struct cache *c, const uint8_t *key, size_t keylen,
				       uint64_t hash, uint64_t now_ms);

/* Make an entry (owned by the caller) from an answer checked by wire_parse_answer: every TTL
 * clamped to [min_ttl, max_ttl], expiring after ttl seconds, the OPT record left out.
 * NULL when out of memory. */
struct cache_entry *cache_entry_new(const uint8_t *key, size_t keylen, uint64_t hash,
				    const uint8_t *pkt, size_t len, const struct dns_answer *a,
				    const uint16_t *ttl_off, uint32_t ttl, uint32_t min_ttl,
				    uint32_t max_ttl, uint64_t now_ms);
void cache_entry_free(struct cache_entry *e);

/* Attach a label (taking over its reference) and count its size against the cache. */
void cache_entry_set_label(struct cache_entry *e, struct label *l);

/* Hand e to the cache, replacing an entry with the same key. Returns 0 when stored (the cache
 * owns e and it stays valid until the next store), or -1 when not (disabled, ttl 0, too large:
 * the caller still owns e). */
int cache_store(struct cache *c, struct cache_entry *e);

void cache_get_stats(const struct cache *c, struct cache_stats *st);

/* Write an answer for client query q from entry e: its id, its question case, fresh flags and
 * TTLs decremented by the entry's age. When the message exceeds max_len (UDP) the additional
 * section is dropped, then everything but the question with TC=1. An OPT goes last when the
 * client sent one. out must hold max(max_len, 512) + 11 bytes. Returns the length. */
size_t cache_write_answer(const struct cache_entry *e, const struct dns_query *q, uint64_t now_ms,
			  size_t max_len, uint16_t our_udp_size, uint8_t *out);

#endif
