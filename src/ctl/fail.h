/* fail.h - how jurisdns-ctl stops on an error: one line on stderr and exit status 1, or, for a
 * command line it cannot use, exit status 2 with a pointer to --help. */
#ifndef JD_CTL_FAIL_H
#define JD_CTL_FAIL_H

/* "jurisdns-ctl: MESSAGE" on stderr, then exit 1 (stdout is flushed first). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* "jurisdns-ctl: MESSAGE (see jurisdns-ctl --help)" on stderr, then exit 2; fmt has one %s. */
void usage_error(const char *fmt, const char *arg) __attribute__((noreturn));

#endif
