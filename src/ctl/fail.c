/* fail.c - jurisdns-ctl's two ways out. Both leave through _exit: replies, buffers and JSON
 * values may still be allocated, and a short-lived command has no use for freeing them (nor for
 * a leak report on the way out). */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include "fail.h"

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("jurisdns-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stdout);
	_exit(1);
}

void usage_error(const char *fmt, const char *arg)
{
	fputs("jurisdns-ctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see jurisdns-ctl --help)\n", stderr);
	fflush(stdout);
	_exit(2);
}
