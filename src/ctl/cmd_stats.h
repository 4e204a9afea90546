/* cmd_stats.h - jurisdns-ctl stats, top and tail: the per-client statistics the daemons write
 * to Redis ([stats]), read back exactly as stored. */
#ifndef JD_CTL_CMD_STATS_H
#define JD_CTL_CMD_STATS_H

#include "session.h"

/* argv[0] is "stats": the totals and every client, or one client (argv[1]). */
int cmd_stats(struct ctl *c, int argc, char **argv);
/* argv[0] is "top": a client's top domains per group. */
int cmd_top(struct ctl *c, int argc, char **argv);
/* argv[0] is "tail": the last first contacts (or labelled queries), then follow with -f;
 * with -f it does not return. */
int cmd_tail(struct ctl *c, int argc, char **argv);

#endif
