/* emit.c - jurisdns-ctl's stdout: text and JSON (jansson). */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit.h"
#include "fail.h"
#include "utf8.h"

void emit_text(struct strbuf *b)
{
	if (b->oom)
		die("out of memory");
	if (b->len && fwrite(b->s, 1, b->len, stdout) != b->len)
		die("writing the output: %s", strerror(errno));
	sb_free(b);
}

void emit_json_line(struct strbuf *b, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	if (!s)
		die("out of memory");
	sb_str(b, s);
	sb_str(b, "\n");
	free(s);
	json_decref(v);
}

void emit_json(json_t *v)
{
	struct strbuf b = { 0 };

	emit_json_line(&b, v);
	emit_text(&b);
}

static json_t *made(json_t *v)
{
	if (!v)
		die("out of memory");
	return v;
}

json_t *jobj(void)
{
	return made(json_object());
}

json_t *jarr(void)
{
	return made(json_array());
}

/* s with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD. */
static char *valid_utf8(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(3 * n + 1);

	if (!out)
		die("out of memory");
	for (size_t i = 0; i < n;) {
		unsigned long cp;
		size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (len) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = 0;
	return out;
}

static json_t *jnull(void)
{
	return made(json_null());
}

json_t *jstr(const char *s)
{
	if (!s)
		return jnull();
	json_t *v = json_string(s);
	if (!v) { /* not UTF-8 (or out of memory): mend it */
		char *m = valid_utf8(s);
		v = json_string(m);
		free(m);
	}
	return made(v);
}

json_t *jint(long long n)
{
	return made(json_integer((json_int_t)n));
}

json_t *jnum_text(const char *s)
{
	char *end;

	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (s[0] && !*end && !errno)
		return jint(n);
	return jstr(s);
}

static bool is_utf8(const char *s)
{
	size_t n = strlen(s);
	unsigned long cp;

	for (size_t i = 0, len; i < n; i += len)
		if (!(len = utf8_decode((const unsigned char *)s + i, n - i, &cp)))
			return false;
	return true;
}

void jset(json_t *o, const char *key, json_t *v)
{
	int rc;

	if (is_utf8(key)) {
		rc = json_object_set_new(o, key, v);
	} else { /* a field name from Redis that is not UTF-8 (jansson would refuse it) */
		char *m = valid_utf8(key);
		rc = json_object_set_new(o, m, v);
		free(m);
	}
	if (rc < 0)
		die("out of memory");
}

void jpush(json_t *a, json_t *v)
{
	if (json_array_append_new(a, v) < 0)
		die("out of memory");
}

void jset_hash(json_t *o, const redisReply *h, bool as_int)
{
	for (size_t i = 0; i + 1 < h->elements; i += 2)
		jset(o, h->element[i]->str,
		     as_int ? jint(strtoll(h->element[i + 1]->str, NULL, 10)) : jstr(h->element[i + 1]->str));
}
