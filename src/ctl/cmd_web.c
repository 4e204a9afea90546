/* cmd_web.c - jurisdns-ctl web passwd: the console's admin password, stored only as a yescrypt
 * hash (web_auth.h) in [web] password_file. The file is replaced by rename, so the daemon,
 * which reads it at each login, sees the old hash or the new one, never half of one. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cmd_web.h"
#include "conf.h"
#include "fail.h"
#include "web_auth.h"

#define PASS_MAX 256

/* One line from f without its newline; false at EOF or when it is too long. */
static bool web_read_line(FILE *f, char *buf, size_t len)
{
	if (!fgets(buf, (int)len, f))
		return false;
	size_t n = strcspn(buf, "\r\n");
	if (buf[n] == 0 && n == len - 1)
		return false; /* no newline within the buffer: too long */
	buf[n] = 0;
	return true;
}

/* From the terminal with echo off, prompt on it. */
static bool web_read_tty(FILE *tty, const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	bool ok, restore = tcgetattr(fileno(tty), &old) == 0;

	fputs(prompt, tty);
	fflush(tty);
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	ok = web_read_line(tty, buf, len);
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	return ok;
}

static void web_write_hash(const char *path, const char *hash)
{
	char tmp[600];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		die("%s: path too long", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0)
		die("%s: %s", tmp, strerror(errno));
	size_t n = strlen(hash);
	if (write(fd, hash, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		die("%s: %s", tmp, strerror(e));
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		die("%s: %s", path, strerror(e));
	}
}

int cmd_web(struct ctl *c, int argc, char **argv)
{
	char pw[PASS_MAX], again[PASS_MAX], hash[WEB_HASH_MAX], err[300];
	const char *path = c->conf->web.password_file;

	if (argc < 2 || strcmp(argv[1], "passwd"))
		usage_error("web: expected 'passwd'%s", "");
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--file") && i + 1 < argc)
			path = argv[++i];
		else
			usage_error("web passwd: unexpected '%s' (web passwd [--file FILE])", argv[i]);
	}
	if (!path[0])
		die("web passwd: no file: set [web] password_file or give --file");
	if (isatty(STDIN_FILENO)) {
		FILE *tty = fopen("/dev/tty", "r+e");
		if (!tty)
			die("/dev/tty: %s", strerror(errno));
		bool ok = web_read_tty(tty, "New console password: ", pw, sizeof(pw)) &&
			  web_read_tty(tty, "Again: ", again, sizeof(again));
		fclose(tty);
		if (!ok)
			die("web passwd: no password read (at most %d characters)", PASS_MAX - 2);
		if (strcmp(pw, again)) {
			explicit_bzero(pw, sizeof(pw));
			explicit_bzero(again, sizeof(again));
			die("web passwd: the two passwords differ; nothing changed");
		}
		explicit_bzero(again, sizeof(again));
	} else if (!web_read_line(stdin, pw, sizeof(pw))) {
		die("web passwd: no password on standard input (one line, at most %d characters)", PASS_MAX - 2);
	}
	if (strlen(pw) < 8) {
		explicit_bzero(pw, sizeof(pw));
		die("web passwd: the password needs at least 8 characters");
	}
	int rc = web_auth_hash(pw, hash, sizeof(hash), err, sizeof(err));
	explicit_bzero(pw, sizeof(pw));
	if (rc < 0)
		die("web passwd: %s", err);
	web_write_hash(path, hash);
	printf("console password set in %s\n", path);
	return 0;
}
