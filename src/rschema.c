/* rschema.c - the Redis key names and the Lua scripts, in one place. */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "rschema.h"

/* The scripts: generated at build time from src/lua/NAME.lua by src/lua/embed.sh, into the
 * build tree (found through -I. from the top build directory, so a stale copy in the source
 * tree never wins). */
#include "src/lua_scripts.inc"

/* n, what snprintf returned into len bytes: 0, or -1 after truncation, leaving "" rather than
 * half a key name */
static int rschema_fits(char *buf, size_t len, int n)
{
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = 0;
		return -1;
	}
	return 0;
}

int rschema_policy_base(char *buf, size_t len, const char *prefix)
{
	return rschema_fits(buf, len, snprintf(buf, len, "%s" RSCHEMA_POLICY_TAG, prefix));
}

int rschema_stats_base(char *buf, size_t len, const char *prefix)
{
	return rschema_fits(buf, len, snprintf(buf, len, "%s" RSCHEMA_STATS_TAG, prefix));
}

int rschema_channel(char *buf, size_t len, const char *prefix)
{
	return rschema_fits(buf, len, snprintf(buf, len, "%s" RSCHEMA_CHANNEL, prefix));
}

int rschema_key(char *buf, size_t len, const char *base, const char *name, const char *id,
		const char *sub)
{
	return rschema_fits(buf, len, snprintf(buf, len, "%s%s%s%s%s", base, name, id ? id : "",
					       sub ? ":" : "", sub ? sub : ""));
}

int rschema_instance_pattern(char *buf, size_t len, const char *sbase)
{
	size_t k = 0;

	for (const char *p = sbase; *p; p++) {
		if (k + 2 >= len)
			return rschema_fits(buf, len, -1);
		if (strchr("*?[]\\", *p))
			buf[k++] = '\\';
		buf[k++] = *p;
	}
	return rschema_fits(buf + k, len - k, snprintf(buf + k, len - k, RSCHEMA_STATS_INSTANCE "*")) < 0
		? rschema_fits(buf, len, -1) : 0;
}
