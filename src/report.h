/* report.h - jurisdns-ctl report --html: one self-contained HTML page (no network, no
 * scripts, inline SVG charts) built from the statistics and the policy in Redis. */
#ifndef JD_REPORT_H
#define JD_REPORT_H

#include <stdio.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include "oui.h"

struct report_opts {
	const char *stats_base;      /* "<prefix>{stats}:" */
	const char *policy_base;     /* "<prefix>{policy}:" (client names) */
	/* The display name of a client id into buf ("" for none); 0, or -1 with one line in err.
	 * NULL: the Redis policy's name, else the DHCP lease's host name. */
	int (*client_name)(void *ctx, const char *id, char *buf, size_t len, char *err, size_t errlen);
	/* Who made the device behind a client id, into *out (NULL when unknown); 0, or -1 with one
	 * line in err. NULL: no vendor column entries. */
	int (*client_vendor)(void *ctx, const char *id, const struct oui_vendor **out, char *err,
			     size_t errlen);
	void *ctx;
	unsigned days;               /* history shown, from the hourly buckets */
	time_t now;
};

/* Read Redis and write the page to out. Returns 0, or -1 with one line in err. */
int report_html(redisContext *rc, const struct report_opts *o, FILE *out, char *err, size_t errlen);

#endif
