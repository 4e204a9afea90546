/* cmd_web.h - jurisdns-ctl web: the household console's admin password. */
#ifndef JD_CTL_CMD_WEB_H
#define JD_CTL_CMD_WEB_H

#include "session.h"

/* argv[0] is "web": `web passwd [--file FILE]` reads the password (twice from a terminal, once
 * from standard input otherwise) and writes its yescrypt hash to FILE ([web] password_file),
 * atomically, mode 0640. */
int cmd_web(struct ctl *c, int argc, char **argv);

#endif
