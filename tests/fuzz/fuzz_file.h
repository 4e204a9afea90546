/* fuzz_file.h - for the fuzz targets whose parser reads a file: one private directory under
 * /dev/shm (tmpfs, so writing the input once per run stays cheap), made once per process, and
 * log output silenced so that rejected inputs print nothing. */
#ifndef JD_FUZZ_FILE_H
#define JD_FUZZ_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static char fuzz_dir_path[64];
static char fuzz_names[16][32];      /* the files written, removed at exit */
static unsigned fuzz_nnames;

static void fuzz_cleanup(void)
{
	char path[128];

	for (unsigned i = 0; i < fuzz_nnames; i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_dir_path, fuzz_names[i]);
		unlink(path);
	}
	rmdir(fuzz_dir_path);
}

/* The directory, created at the first call; aborts when it cannot be (nothing to fuzz then). */
static const char *fuzz_dir(void)
{
	char *dir = fuzz_dir_path;

	if (!dir[0]) {
		snprintf(dir, sizeof(fuzz_dir_path), "%s/jd-fuzz-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(dir))
			abort();
		log_max_level = -1; /* below LOG_ERR: nothing is printed */
		atexit(fuzz_cleanup);
	}
	return dir;
}

/* Write n bytes to dir/name (replacing it); path gets the full name. */
static void fuzz_write(const char *name, const void *data, size_t n, char *path, size_t pathlen)
{
	unsigned i;
	int fd;

	for (i = 0; i < fuzz_nnames && strcmp(fuzz_names[i], name); i++)
		;
	if (i == fuzz_nnames && i < sizeof(fuzz_names) / sizeof(fuzz_names[0]))
		snprintf(fuzz_names[fuzz_nnames++], sizeof(fuzz_names[0]), "%s", name);
	snprintf(path, pathlen, "%s/%s", fuzz_dir(), name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		abort();
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, (const char *)data + off, n - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	close(fd);
}

#endif
