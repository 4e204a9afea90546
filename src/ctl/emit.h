/* emit.h - jurisdns-ctl's output on stdout: text built in a strbuf, and JSON built with jansson
 * (one compact document per line, keys in the order they were set). Every string that goes into
 * JSON is made valid UTF-8 first (an invalid byte becomes U+FFFD), so the output always parses,
 * whatever a device or a DHCP server put in Redis. Out of memory is fatal (die). */
#ifndef JD_CTL_EMIT_H
#define JD_CTL_EMIT_H

#include <stdbool.h>
#include <jansson.h>
#include <hiredis/hiredis.h>
#include "util.h"

/* Write b to stdout and free it. */
void emit_text(struct strbuf *b);
/* Write v as one compact line to stdout and release it. */
void emit_json(json_t *v);
/* Append v as one compact line to b and release it. */
void emit_json_line(struct strbuf *b, json_t *v);

/* New values (never NULL). */
json_t *jobj(void);
json_t *jarr(void);
/* s as a JSON string; NULL gives null. */
json_t *jstr(const char *s);
json_t *jint(long long n);
/* A decimal integer as Redis stores it ("12"): the number; anything else: the text as a string. */
json_t *jnum_text(const char *s);

/* o[key] = v (v's reference is taken over); a key set twice keeps its first place. */
void jset(json_t *o, const char *key, json_t *v);
/* Append v to the array a (v's reference is taken over). */
void jpush(json_t *a, json_t *v);
/* Every field of an HGETALL reply into o, as strings (as_int: as integers, strtoll). */
void jset_hash(json_t *o, const redisReply *h, bool as_int);

#endif
