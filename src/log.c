/* log.c - diagnostics to stderr. One write(2) per line keeps lines whole across threads. */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <unistd.h>
#include "log.h"

int log_max_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_msg(int level, const char *fmt, ...)
{
	char line[1024];
	int n, m;
	va_list ap;

	if (level > log_max_level)
		return;
	n = snprintf(line, sizeof(line), "jurisdns: %s: ", level_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* one writer at a time: stderr may be a file opened without O_APPEND */
	pthread_mutex_lock(&log_lock);
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	pthread_mutex_unlock(&log_lock);
}
