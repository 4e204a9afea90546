/* polwrite.c - a policy change as one MULTI/EXEC with the version bump, then its PUBLISH. */
#include "config.h"
#include <stdio.h>
#include "polwrite.h"
#include "rschema.h"

int polwrite_vappend(redisContext *rc, const char *fmt, va_list ap)
{
	return redisvAppendCommand(rc, fmt, ap) == REDIS_OK ? 0 : -1;
}

int polwrite_append(redisContext *rc, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = polwrite_vappend(rc, fmt, ap);
	va_end(ap);
	return r;
}

int polwrite_begin(redisContext *rc)
{
	return polwrite_append(rc, "MULTI");
}

/* The next pipelined reply into *r; -1 with the connection's error in err. */
static int pw_reply(redisContext *rc, redisReply **r, const char *where, char *err, size_t errlen)
{
	if (redisGetReply(rc, (void **)r) == REDIS_OK && *r)
		return 0;
	snprintf(err, errlen, "Redis at %s: %s", where, rc->errstr[0] ? rc->errstr : "no reply");
	return -1;
}

long long polwrite_commit(redisContext *rc, const char *base, const char *channel, int n,
			  const char *where, char *err, size_t errlen)
{
	redisReply *r;
	long long version;
	int bad = 0;

	if (polwrite_append(rc, "INCR %s" RSCHEMA_POLICY_VERSION, base) < 0 ||
	    polwrite_append(rc, "EXEC") < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* MULTI's OK and one QUEUED per command; an error here makes EXEC fail (EXECABORT), but
	 * every reply must still be read to keep the connection in step */
	for (int i = 0; i < n + 2; i++) {
		if (pw_reply(rc, &r, where, err, errlen) < 0)
			return -1;
		if (r->type == REDIS_REPLY_ERROR && !bad++)
			snprintf(err, errlen, "Redis: %s", r->str);
		freeReplyObject(r);
	}
	if (pw_reply(rc, &r, where, bad ? NULL : err, bad ? 0 : errlen) < 0)
		return -1;
	if (!bad && (r->type != REDIS_REPLY_ARRAY || r->elements < 1)) {
		snprintf(err, errlen, "Redis: the change was not applied (%s)",
			 r->type == REDIS_REPLY_ERROR ? r->str : "EXEC failed");
		bad = 1;
	}
	for (size_t i = 0; !bad && i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis: %s", r->element[i]->str);
			bad = 1;
		}
	version = bad ? -1 : r->element[r->elements - 1]->integer;
	freeReplyObject(r);
	if (bad)
		return -1;
	r = redisCommand(rc, "PUBLISH %s %lld", channel, version);
	if (!r) {
		snprintf(err, errlen, "Redis at %s: %s", where, rc->errstr[0] ? rc->errstr : "no reply");
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "Redis: %s", r->str);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return version;
}
