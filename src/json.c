/* json.c - the daemon's one JSON writer (see json.h). */
#include "config.h"
#include <string.h>
#include "json.h"

/* Length of the well-formed UTF-8 sequence at s (Unicode 15, table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* sb_put without the call while the buffer has room: the query log writes ~80 pieces a line. */
static inline void jw_put(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n < sb->cap && !sb->oom) {
		memcpy(sb->s + sb->len, s, n);
		sb->len += n;
		sb->s[sb->len] = 0;
		return;
	}
	sb_put(sb, s, n);
}

/* Bytes a string cannot carry as they are: 1 = escape, 2 = check as UTF-8. */
static const unsigned char jw_special[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 1, [0x80 ... 0xff] = 2,
};

void jw_quote(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run = p, *end = p + n;

	jw_put(sb, "\"", 1);
	while (p < end) {
		unsigned char c = *p;
		size_t ulen;
		if (!jw_special[c]) {
			p++;
			continue;
		}
		if (jw_special[c] == 2 && (ulen = utf8_valid_len(p, (size_t)(end - p)))) {
			p += ulen;
			continue;
		}
		jw_put(sb, (const char *)run, (size_t)(p - run));
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			jw_put(sb, e, 2);
		} else if (c < 0x80) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			jw_put(sb, e, 6);
		} else {
			jw_put(sb, "\\ufffd", 6); /* one per byte that starts no valid sequence */
		}
		run = ++p;
	}
	jw_put(sb, (const char *)run, (size_t)(p - run));
	jw_put(sb, "\"", 1);
}

void jw_init(struct jw *j, struct strbuf *sb)
{
	memset(j, 0, sizeof(*j));
	j->sb = sb;
}

bool jw_ok(const struct jw *j)
{
	return !j->bad && !j->sb->oom && j->depth == 0 && !j->after_key;
}

/* Before any value: the comma after a previous member, nothing after a key. */
static void jw_sep(struct jw *j)
{
	uint32_t bit = 1u << (j->depth & 31);

	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth && (j->more & bit))
		jw_put(j->sb, ",", 1);
	j->more |= bit;
}

static void jw_open(struct jw *j, char c)
{
	jw_sep(j);
	if (j->depth + 1 >= JSON_MAX_DEPTH) {
		j->bad = true;
		return;
	}
	jw_put(j->sb, &c, 1);
	j->depth++;
	j->more &= ~(1u << j->depth);
	if (c == '{')
		j->objs |= 1u << j->depth;
	else
		j->objs &= ~(1u << j->depth);
}

static void jw_close(struct jw *j, char c)
{
	bool obj = j->objs & (1u << j->depth);

	if (!j->depth || j->after_key || obj != (c == '}')) {
		j->bad = true;
		return;
	}
	jw_put(j->sb, &c, 1);
	j->depth--;
}

void jw_obj(struct jw *j) { jw_open(j, '{'); }
void jw_obj_end(struct jw *j) { jw_close(j, '}'); }
void jw_arr(struct jw *j) { jw_open(j, '['); }
void jw_arr_end(struct jw *j) { jw_close(j, ']'); }

void jw_key(struct jw *j, const char *k)
{
	if (!(j->objs & (1u << j->depth)) || j->after_key)
		j->bad = true;
	jw_sep(j);
	jw_quote(j->sb, k, strlen(k));
	jw_put(j->sb, ":", 1);
	j->after_key = true;
}

void jw_strn(struct jw *j, const char *s, size_t n)
{
	jw_sep(j);
	jw_quote(j->sb, s, n);
}

void jw_str(struct jw *j, const char *s)
{
	if (!s) {
		jw_null(j);
		return;
	}
	jw_strn(j, s, strlen(s));
}

/* Decimal digits of v into the end of buf; returns where they start. */
static char *json_digits(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

void jw_uint(struct jw *j, uint64_t v)
{
	char buf[24], *p = json_digits(buf + sizeof(buf), v);

	jw_sep(j);
	jw_put(j->sb, p, (size_t)(buf + sizeof(buf) - p));
}

void jw_int(struct jw *j, int64_t v)
{
	char buf[24], *p;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN included */

	p = json_digits(buf + sizeof(buf), u);
	if (v < 0)
		*--p = '-';
	jw_sep(j);
	jw_put(j->sb, p, (size_t)(buf + sizeof(buf) - p));
}

void jw_fixed(struct jw *j, uint64_t v, unsigned decimals)
{
	char buf[48], *end = buf + sizeof(buf), *p = end;

	if (decimals > 19)
		decimals = 19;
	for (unsigned i = 0; i < decimals; i++, v /= 10)
		*--p = (char)('0' + v % 10);
	if (decimals)
		*--p = '.';
	p = json_digits(p, v);
	jw_sep(j);
	jw_put(j->sb, p, (size_t)(end - p));
}

void jw_bool(struct jw *j, bool v)
{
	jw_sep(j);
	if (v)
		jw_put(j->sb, "true", 4);
	else
		jw_put(j->sb, "false", 5);
}

void jw_null(struct jw *j)
{
	jw_sep(j);
	jw_put(j->sb, "null", 4);
}

void jw_raw(struct jw *j, const char *text)
{
	jw_sep(j);
	jw_put(j->sb, text, strlen(text));
}
