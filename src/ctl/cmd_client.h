/* cmd_client.h - jurisdns-ctl client list|show|set|del: the per-client rules of the
 * configuration file and of Redis. */
#ifndef JD_CTL_CMD_CLIENT_H
#define JD_CTL_CMD_CLIENT_H

#include "session.h"

/* argv[0] is "client". Returns the exit status (errors are fatal). */
int cmd_client(struct ctl *c, int argc, char **argv);

#endif
