/* cmd_instances.h - jurisdns-ctl instances and reload: the running daemons. */
#ifndef JD_CTL_CMD_INSTANCES_H
#define JD_CTL_CMD_INSTANCES_H

#include "session.h"

/* argv[0] is "instances": each instance's version, GeoIP database age and last flush. */
int cmd_instances(struct ctl *c, int argc, char **argv);
/* argv[0] is "reload": every instance reloads its configuration and policy. */
int cmd_reload(struct ctl *c, int argc, char **argv);

#endif
