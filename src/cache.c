/* cache.c - the answer cache. Entries are one allocation each (header, key, wire, TTL offsets),
 * made on insert, which is on the miss path. A hit copies the wire into the caller's buffer and
 * patches id, question and TTLs: no allocation, no parsing. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "cache.h"
#include "util.h"

#define ENTRY_OVERHEAD 64                /* hash slot and allocator overhead, roughly */

/* Entries are the resolver's memory: a new field goes into padding or is weighed (64-bit) */
_Static_assert(sizeof(void *) != 8 || sizeof(struct cache_entry) == 104, "cache_entry grew");

struct cache {
	struct cache_entry **buckets;
	size_t nbuckets;                 /* power of two */
	struct cache_entry lru;          /* sentinel: lru.next is most recent */
	size_t bytes, max_bytes, entries;
	uint64_t seed;
	struct cache_stats st;
};

struct cache *cache_new(size_t max_bytes, uint64_t seed)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->nbuckets = 1024;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->lru.next = c->lru.prev = &c->lru;
	c->max_bytes = max_bytes;
	c->seed = seed;
	return c;
}

static void lru_unlink(struct cache_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push_front(struct cache *c, struct cache_entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

/* Put e first in its bucket. */
static void chain_insert(struct cache_entry **head, struct cache_entry *e)
{
	e->hnext = *head;
	e->pprev = head;
	if (*head)
		(*head)->pprev = &e->hnext;
	*head = e;
}

static void entry_remove(struct cache *c, struct cache_entry *e)
{
	/* no walk of the bucket: the LRU tail is cold, and so would be every entry before it */
	*e->pprev = e->hnext;
	if (e->hnext)
		e->hnext->pprev = e->pprev;
	lru_unlink(e);
	c->bytes -= e->charge;
	c->entries--;
	cache_entry_free(e);
}

static void evict_to(struct cache *c, size_t limit)
{
	while (c->bytes > limit && c->lru.prev != &c->lru) {
		entry_remove(c, c->lru.prev);
		c->st.evictions++;
	}
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	evict_to(c, 0);
	free(c->buckets);
	free(c);
}

void cache_set_limit(struct cache *c, size_t max_bytes)
{
	c->max_bytes = max_bytes;
	evict_to(c, max_bytes);
}

uint64_t cache_hash(const struct cache *c, const uint8_t *key, size_t keylen)
{
	return hash_bytes(key, keylen, c->seed);
}

static struct cache_entry *find(struct cache *c, const uint8_t *key, size_t keylen, uint64_t hash)
{
	for (struct cache_entry *e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == hash && e->keylen == keylen && !memcmp(e->data, key, keylen))
			return e;
	return NULL;
}

const struct cache_entry *cache_lookup(struct cache *c, const uint8_t *key, size_t keylen,
				       uint64_t hash, uint64_t now_ms)
{
	struct cache_entry *e = find(c, key, keylen, hash);

	if (!e) {
		c->st.misses++;
		return NULL;
	}
	if (now_ms >= e->expire_ms) {
		entry_remove(c, e);
		c->st.expired++;
		c->st.misses++;
		return NULL;
	}
	if (c->lru.next != e) {
		lru_unlink(e);
		lru_push_front(c, e);
	}
	c->st.hits++;
	return e;
}

static void grow(struct cache *c)
{
	size_t n = c->nbuckets * 2;
	struct cache_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			chain_insert(&b[e->hash & (n - 1)], e);
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

struct cache_entry *cache_entry_new(const uint8_t *key, size_t keylen, uint64_t hash,
				    const uint8_t *pkt, size_t len, const struct dns_answer *a,
				    const uint16_t *ttl_off, uint32_t ttl, uint32_t min_ttl,
				    uint32_t max_ttl, uint64_t now_ms)
{
	struct cache_entry *e;
	size_t wire_len = len, ar_start = a->ar_start;
	uint16_t arcount = a->arcount;
	size_t nttl = a->nttl, size;

	/* Leave the OPT out: the client gets its own. When it is not last, drop the whole
	 * additional section rather than move records that may be compression targets. */
	if (a->opt_len) {
		if (a->opt_last) {
			wire_len = a->opt_off;
			arcount--;
		} else {
			wire_len = ar_start;
			arcount = 0;
		}
		while (nttl && ttl_off[nttl - 1] >= wire_len)
			nttl--;
	}
	size = sizeof(*e) + keylen + wire_len + 1 + nttl * sizeof(uint16_t);
	e = malloc(size);
	if (!e)
		return NULL;
	e->hnext = e->prev = e->next = NULL;
	e->pprev = NULL;
	e->label = NULL;
	e->hash = hash;
	e->stored_ms = now_ms;
	e->expire_ms = now_ms + (uint64_t)ttl * 1000;
	e->charge = (uint32_t)(size + ENTRY_OVERHEAD);
	e->keylen = (uint16_t)keylen;
	e->len = (uint16_t)wire_len;
	e->ar_start = (uint16_t)ar_start;
	e->arcount = arcount;
	e->question_end = a->question_end;
	e->nttl = (uint16_t)nttl;
	e->rcode = a->rcode;
	e->ede = a->ede;
	e->ede_text = a->ede_text;
	uint8_t *p = e->data;
	memcpy(p, key, keylen);
	p += keylen;
	memcpy(p, pkt, wire_len);
	e->wire = p;
	p += wire_len;
	if ((uintptr_t)p & 1)
		p++;
	memcpy(p, ttl_off, nttl * sizeof(uint16_t));
	e->ttl_off = (const uint16_t *)(void *)p;
	wr16(e->wire + 10, arcount);
	for (size_t i = 0; i < nttl; i++) {
		uint8_t *t = e->wire + ttl_off[i];
		uint32_t v = rd32(t);
		if (v > 0x7fffffff)
			v = 0;
		if (v < min_ttl)
			v = min_ttl;
		if (v > max_ttl)
			v = max_ttl;
		if (v > ttl && a->has_soa && ttl_off[i] == a->soa_ttl_off)
			v = ttl; /* RFC 2308 5: the SOA of a negative answer carries the negative TTL */
		wr32(t, v);
	}
	return e;
}

void cache_entry_free(struct cache_entry *e)
{
	if (e)
		label_unref(e->label);
	free(e);
}

void cache_entry_set_label(struct cache_entry *e, struct label *l)
{
	label_unref(e->label);
	e->label = l;
	if (l)
		e->charge += l->size;
}

int cache_store(struct cache *c, struct cache_entry *e)
{
	struct cache_entry *old;

	if (!c || !c->max_bytes || e->expire_ms <= e->stored_ms || e->charge > c->max_bytes / 8)
		return -1; /* no single answer may take an eighth of the cache */
	old = find(c, e->data, e->keylen, e->hash);
	if (old)
		entry_remove(c, old);
	evict_to(c, c->max_bytes - e->charge);
	chain_insert(&c->buckets[e->hash & (c->nbuckets - 1)], e);
	lru_push_front(c, e);
	c->bytes += e->charge;
	c->entries++;
	c->st.inserts++;
	if (c->entries > c->nbuckets / 2) /* a miss walks the whole chain: keep chains short */
		grow(c);
	return 0;
}

void cache_get_stats(const struct cache *c, struct cache_stats *st)
{
	*st = c->st;
	st->entries = c->entries;
	st->bytes = c->bytes;
}

size_t cache_write_answer(const struct cache_entry *e, const struct dns_query *q, uint64_t now_ms,
			  size_t max_len, uint16_t our_udp_size, uint8_t *out)
{
	const char *text = e->ede && e->ede_text < EDE_TEXTS ? wire_ede_text[e->ede_text] : "";
	size_t tl = strlen(text);
	size_t opt = q->edns ? 11 + (e->ede ? 6 + tl : 0) : 0, len = e->len;
	uint16_t arcount = e->arcount, flags;
	uint32_t age = (uint32_t)((now_ms - e->stored_ms) / 1000);

	if (len + opt > max_len) {
		len = e->ar_start;
		arcount = 0;
		if (len + opt > max_len) {
			/* Nothing useful fits: the client retries over TCP. */
			struct dns_query tq = *q;
			size_t n = wire_write_error(&tq, e->rcode, our_udp_size, out);
			wr16(out + 2, (uint16_t)(rd16(out + 2) | F_TC));
			return n;
		}
	}
	memcpy(out, e->wire, len);
	wr16(out, q->id);
	flags = rd16(e->wire + 2);
	/* AD only for clients that asked for DNSSEC data or AD (RFC 6840 5.8); AA is not ours. */
	flags = (uint16_t)(F_QR | F_RA | (q->flags & (F_RD | F_CD)) | (e->rcode & 0xf) |
			   ((q->edns_do || (q->flags & F_AD)) ? (flags & F_AD) : 0));
	wr16(out + 2, flags);
	wr16(out + 10, arcount);
	memcpy(out + DNS_HDR, q->qname, q->qname_len);
	for (size_t i = 0; i < e->nttl && e->ttl_off[i] < len; i++) {
		uint32_t v = rd32(out + e->ttl_off[i]);
		wr32(out + e->ttl_off[i], v > age ? v - age : 0);
	}
	if (q->edns) {
		size_t o = len;
		len += wire_write_opt(out + len, our_udp_size, e->rcode, q->edns_do);
		if (e->ede)
			len = wire_add_ede(out, o, len, e->ede, text, tl);
		wr16(out + 10, (uint16_t)(arcount + 1));
	}
	return len;
}
