/* suffix.c - open-addressing hash set of wire names; a lookup tries each suffix of the name at
 * a label boundary, so the cost is one hash probe per label. */
#include "config.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "suffix.h"
#include "util.h"
#include "wire.h"

struct slot {
	uint32_t value;
	uint32_t tag;                /* suffix_set_add_tagged: the first non-zero tag given */
	uint8_t len;                 /* 0 = empty */
	uint8_t name[255];
};

struct suffix_set {
	struct slot *slots;
	size_t cap, n;
};

#define SEED 0x6a75726973646e73ULL

struct suffix_set *suffix_set_new(void)
{
	struct suffix_set *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cap = 16;
	if (!(s->slots = calloc(s->cap, sizeof(*s->slots)))) {
		free(s);
		return NULL;
	}
	return s;
}

void suffix_set_free(struct suffix_set *s)
{
	if (s)
		free(s->slots);
	free(s);
}

size_t suffix_set_count(const struct suffix_set *s)
{
	return s ? s->n : 0;
}

static struct slot *find_slot(struct slot *slots, size_t cap, const uint8_t *name, size_t len)
{
	size_t i = (size_t)hash_bytes(name, len, SEED) & (cap - 1);

	for (;; i = (i + 1) & (cap - 1))
		if (!slots[i].len || (slots[i].len == len && !memcmp(slots[i].name, name, len)))
			return &slots[i];
}

int suffix_set_add(struct suffix_set *s, const uint8_t *name, size_t len, uint32_t value)
{
	return suffix_set_add_tagged(s, name, len, value, 0);
}

int suffix_set_add_tagged(struct suffix_set *s, const uint8_t *name, size_t len, uint32_t value,
			  uint32_t tag)
{
	struct slot *sl;

	if (len == 0 || len > 255)
		return -1;
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap * 2;
		struct slot *n = calloc(cap, sizeof(*n));
		if (!n)
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i].len)
				*find_slot(n, cap, s->slots[i].name, s->slots[i].len) = s->slots[i];
		free(s->slots);
		s->slots = n;
		s->cap = cap;
	}
	sl = find_slot(s->slots, s->cap, name, len);
	if (!sl->len) {
		sl->len = (uint8_t)len;
		memcpy(sl->name, name, len);
		s->n++;
	}
	sl->value |= value;
	if (!sl->tag)
		sl->tag = tag;
	return 0;
}

uint32_t suffix_set_match(const struct suffix_set *s, const uint8_t *name, size_t len,
			  size_t *suffix_off)
{
	return suffix_set_match_tag(s, name, len, suffix_off, NULL);
}

uint32_t suffix_set_match_tag(const struct suffix_set *s, const uint8_t *name, size_t len,
			      size_t *suffix_off, uint32_t *tag)
{
	uint32_t m = 0;

	if (!s || !s->n)
		return 0;
	/* every suffix at a label boundary, longest first; the root itself is never listed */
	for (size_t off = 0; off < len && name[off]; off += (size_t)name[off] + 1) {
		const struct slot *sl = find_slot(s->slots, s->cap, name + off, len - off);
		if (sl->len) {
			if (!m && suffix_off)
				*suffix_off = off;
			if (!m && tag)
				*tag = sl->tag;
			m |= sl->value;
		}
	}
	return m;
}

uint32_t suffix_set_get(const struct suffix_set *s, const uint8_t *name, size_t len)
{
	return suffix_set_get_tag(s, name, len, NULL);
}

uint32_t suffix_set_get_tag(const struct suffix_set *s, const uint8_t *name, size_t len, uint32_t *tag)
{
	if (!s || !s->n || !len)
		return 0;
	const struct slot *sl = find_slot(s->slots, s->cap, name, len);
	if (sl->len && tag)
		*tag = sl->tag;
	return sl->len ? sl->value : 0;
}

uint32_t suffix_set_longest_below(const struct suffix_set *s, const uint8_t *name, size_t len)
{
	if (!s || !s->n || !len || !name[0])
		return 0;
	for (size_t off = (size_t)name[0] + 1; off < len && name[off]; off += (size_t)name[off] + 1) {
		const struct slot *sl = find_slot(s->slots, s->cap, name + off, len - off);
		if (sl->len)
			return sl->value;
	}
	return 0;
}

int domain_to_wire(const char *text, uint8_t *out)
{
	size_t o = 0, lab = 0;
	const char *s = text;

	if (!*s || *s == '.')
		return -1;
	out[0] = 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (s[1] == 0)
				break;
			if (!out[lab] || s[1] == '.')
				return -1;
			lab = ++o;
			out[lab] = 0;
			continue;
		}
		uint8_t c = wire_lower_tab[(unsigned char)*s];
		if (!(isalnum(c) || c == '-' || c == '_') || out[lab] == 63 || o + 2 >= 254)
			return -1;
		out[++o] = c;
		out[lab]++;
	}
	if (!out[lab])
		return -1;
	out[++o] = 0;
	return (int)(o + 1);
}
