/* json.h - the daemon's one JSON writer (jw_*, not json_*: the ctl links jansson as well):
 * strings, numbers, objects and arrays appended to a strbuf (util.h), commas placed by the
 * writer. Strings are escaped so that any input gives valid JSON: '"' and '\' with a backslash,
 * control characters (and DEL) as \u00XX, bytes that are not valid UTF-8 as \ufffd; valid
 * UTF-8 is copied as it is. No allocation beyond the strbuf's own. */
#ifndef JD_JSON_H
#define JD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define JSON_MAX_DEPTH 32

/* A writer over a caller-owned strbuf; a plain struct on the stack, nothing to free. */
struct jw {
	struct strbuf *sb;
	unsigned depth;
	uint32_t more;               /* bit d: level d has a member already (the next needs a comma) */
	uint32_t objs;               /* bit d: level d is an object (else an array) */
	bool after_key;              /* a key was written: its value follows, no comma */
	bool bad;                    /* misuse (too deep, unbalanced, key outside an object) */
};

/* Start writing at the end of sb (whatever it holds already stays). */
void jw_init(struct jw *j, struct strbuf *sb);
/* True when everything written is one complete value so far and no memory ran out. */
bool jw_ok(const struct jw *j);

/* '{' and '}', '[' and ']'. */
void jw_obj(struct jw *j);
void jw_obj_end(struct jw *j);
void jw_arr(struct jw *j);
void jw_arr_end(struct jw *j);
/* The key of the next member of the current object (escaped like a string). */
void jw_key(struct jw *j, const char *k);

/* Values: a string (NULL writes null), n bytes of a string (NUL bytes escaped), numbers, a fixed
 * point number v / 10^decimals with all its decimals (jw_fixed(j, 1325, 3) -> 1.325), booleans,
 * null, and text that is already JSON (the caller vouches for it). */
void jw_str(struct jw *j, const char *s);
void jw_strn(struct jw *j, const char *s, size_t n);
void jw_uint(struct jw *j, uint64_t v);
void jw_int(struct jw *j, int64_t v);
void jw_fixed(struct jw *j, uint64_t v, unsigned decimals);
void jw_bool(struct jw *j, bool v);
void jw_null(struct jw *j);
void jw_raw(struct jw *j, const char *text);

/* For text built by hand around it: n bytes of s as a quoted, escaped JSON string. */
void jw_quote(struct strbuf *sb, const char *s, size_t n);

#endif
