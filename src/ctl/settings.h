/* settings.h - the settings a command line changes (client set, policy set): --mode, --block,
 * --action and --name, checked with the daemon's own rules before anything is written. */
#ifndef JD_CTL_SETTINGS_H
#define JD_CTL_SETTINGS_H

#include <stdbool.h>
#include "session.h"

struct settings {
	const char *mode, *name, *block, *action; /* NULL = not given; "default" clears */
};

/* argv[start..argc) as --mode/--block/--action (and --name when with_name), "--k v" or
 * "--k=v"; a usage error (exit 2) for anything else or for nothing given. */
void settings_parse(int argc, char **argv, int start, struct settings *s, bool with_name);
/* Every given value as the daemon would parse it (a block list against the groups file when
 * there is one); fatal with the daemon's message otherwise. */
void settings_check(struct ctl *c, const struct settings *s);
/* Queue an HSET (or, for "default" and an empty name, an HDEL) of the hash key for each given
 * setting; returns the number of commands queued. */
int settings_queue(struct ctl *c, const char *key, const struct settings *s);

#endif
