/* cmd_report.h - jurisdns-ctl report --html FILE [--days N]: the HTML report (report.h),
 * written to FILE.tmp and renamed, so that FILE is always a whole page. */
#ifndef JD_CTL_CMD_REPORT_H
#define JD_CTL_CMD_REPORT_H

#include "session.h"

/* argv[0] is "report". Returns the exit status (errors are fatal). */
int cmd_report(struct ctl *c, int argc, char **argv);

#endif
