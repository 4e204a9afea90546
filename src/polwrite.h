/* polwrite.h - the one way the policy in Redis is changed (jurisdns-ctl and the web console):
 * MULTI, the caller's commands, INCR P{policy}:version, EXEC, then PUBLISH the new version on
 * Ppolicy:changed so that every running instance re-reads the policy within a second
 * (docs/redis-schema.md, "Writers"). Synchronous hiredis, pipelined: nothing is read until
 * polwrite_commit. */
#ifndef JD_POLWRITE_H
#define JD_POLWRITE_H

#include <stdarg.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

/* Queue MULTI on rc. Returns 0, or -1 when out of memory. */
int polwrite_begin(redisContext *rc);
/* Queue one command of the change (redisAppendCommand's format). Returns 0 or -1 (memory). */
int polwrite_append(redisContext *rc, const char *fmt, ...);
/* polwrite_append with a va_list. */
int polwrite_vappend(redisContext *rc, const char *fmt, va_list ap);
/* Queue INCR base+version and EXEC, read every reply (n: the commands appended after
 * polwrite_begin), then PUBLISH the new version on channel. Returns the version, or -1 with one
 * line in err ("Redis at WHERE: ..." for a connection error, "Redis: ..." for an error reply).
 * where names the server in messages (its address). */
long long polwrite_commit(redisContext *rc, const char *base, const char *channel, int n,
			  const char *where, char *err, size_t errlen);

#endif
