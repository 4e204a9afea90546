/* cmd_policy.h - jurisdns-ctl policy show|set, allow|deny add|del|list and groups: the
 * defaults every client without a rule of its own gets, the operator's domain lists, and the
 * jurisdiction groups a block list may name. */
#ifndef JD_CTL_CMD_POLICY_H
#define JD_CTL_CMD_POLICY_H

#include "session.h"

/* argv[0] is "policy". Returns the exit status (errors are fatal). */
int cmd_policy(struct ctl *c, int argc, char **argv);
/* argv[0] is "allow" or "deny" (the list). */
int cmd_domains(struct ctl *c, int argc, char **argv);
/* argv[0] is "groups"; needs no Redis. */
int cmd_groups(struct ctl *c, int argc, char **argv);

#endif
