/* control.h - the control thread: its loop takes the signals (SIGHUP reloads, SIGTERM/SIGINT
 * drain and exit), holds the snapshots the workers run on (configuration, GeoIP, groups, the
 * policy from Redis), and runs the query-log writer, the statistics flushes and /metrics. */
#ifndef JD_CONTROL_H
#define JD_CONTROL_H

#include "conf.h"

/* Keep SIGHUP, SIGTERM and SIGINT pending for the control loop from now on (threads created
 * later inherit the mask): call it before the configuration is loaded, as loading a large
 * policy takes a while and a signal then must not kill the process. */
void control_block_signals(void);
/* What start-up needs beyond a parsed configuration, as `-t` checks it: the GeoIP databases,
 * the groups, the vendor table, the query log and the snapshot directory (nothing created, no
 * socket bound). Each problem is logged on its own line. 0, or -1 when start-up would fail.
 * c stays the caller's. */
int control_check(struct conf *c);
/* Run the server on c (the reference passes) until SIGTERM or SIGINT has drained every worker.
 * conf_path (NULL: defaults), ov and resolv_conf are what SIGHUP reloads with. Returns the exit
 * status: 0 after a drain, 1 when start-up failed (the reason logged). */
int control_run(struct conf *c, const char *conf_path, const struct conf_overrides *ov,
		const char *resolv_conf);

#endif
