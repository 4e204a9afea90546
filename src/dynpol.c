/* dynpol.c - the overlay policy from Redis and its text snapshot. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dynpol.h"
#include "log.h"
#include "rschema.h"
#include "util.h"

#define MAX_FIELDS 4
#define SNAPSHOT_MAX (64u << 20) /* a snapshot file larger than this is not ours */

void sb_field(struct strbuf *b, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[5];
		if (c >= 0x20 && c != 0x7f && c != '\\')
			continue;
		sb_put(b, s + run, i - run);
		run = i + 1;
		if (c == '\\')
			sb_put(b, "\\\\", 2);
		else if (c == '\t')
			sb_put(b, "\\t", 2);
		else if (c == '\n')
			sb_put(b, "\\n", 2);
		else if (c == '\r')
			sb_put(b, "\\r", 2);
		else {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			sb_put(b, esc, 4);
		}
	}
	sb_put(b, s + run, n - run);
}

/* Unescape s in place; returns -1 on a bad escape or an embedded NUL. */
static int unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s != '\\') {
			*o++ = *s;
			continue;
		}
		switch (*++s) {
		case '\\': *o++ = '\\'; break;
		case 't': *o++ = '\t'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 'x': {
			int h = s[1] ? hex_digit(s[1]) : -1, l = h >= 0 && s[2] ? hex_digit(s[2]) : -1;
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			*o++ = (char)(h * 16 + l);
			s += 2;
			break;
		}
		default:
			return -1;
		}
	}
	*o = 0;
	return 0;
}

struct builder {
	struct dynpol *d;
	const char *where;
	const struct groups *groups; /* block lists name these; NULL = unchecked */
	unsigned line;
	char id[128];                /* the client being built, "" when none */
	struct client_rule cr;
	bool cr_bad;
	int oom;
};

static void skip(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(struct builder *b, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->d->skipped++;
	log_warn("%s:%u: policy record skipped: %s", b->where, b->line, msg);
}

static void flush_client(struct builder *b)
{
	if (b->id[0] && !b->cr_bad && policy_add_client(&b->d->p, &b->cr) < 0)
		b->oom = 1;
	b->id[0] = 0;
}

static void client_record(struct builder *b, char **f, unsigned nf)
{
	char err[200];

	if (strcmp(f[1], b->id)) {
		flush_client(b);
		snprintf(b->id, sizeof(b->id), "%.127s", f[1]);
		b->cr_bad = policy_client_init(&b->cr, f[1], err, sizeof(err)) < 0;
		if (b->cr_bad)
			skip(b, "client '%s': %s", f[1], err);
	}
	if (b->cr_bad || nf < 3)
		return;
	if (nf != 4) {
		skip(b, "client '%s': field '%s' has no value", f[1], f[2]);
		return;
	}
	/* "locked" (who locked the mode: the console and jurisdns-ctl --lock) binds the writers,
	 * not the answers: the daemon keeps the client's mode as it is */
	if (!strcmp(f[2], RSCHEMA_RULE_LOCKED))
		return;
	int rc = policy_client_set(&b->cr, f[2], f[3], b->groups, err, sizeof(err));
	if (rc == -2)
		snprintf(err, sizeof(err), "unknown field '%.60s' (mode, name, block, action or locked)", f[2]);
	if (rc < 0) {
		/* a bad value drops the client: half a rule could block or open more than meant */
		b->cr_bad = true;
		skip(b, "client '%s' ignored: %s", f[1], err);
	}
}

static void lease_record(struct builder *b, const char *ip, const char *name)
{
	struct dynpol *d = b->d;
	struct client_rule tmp;
	char err[200];

	if (policy_client_init(&tmp, ip, err, sizeof(err)) < 0 || tmp.by_mac || tmp.net.bits != 128) {
		skip(b, "lease: '%s' is not an IP address", ip);
		return;
	}
	if (policy_client_set(&tmp, RSCHEMA_RULE_NAME, name, NULL, err, sizeof(err)) < 0) {
		skip(b, "lease %s: %s", ip, err);
		return;
	}
	uint32_t n0 = d->nleases;
	if (n0 == 0 || (n0 >= 16 && (n0 & (n0 - 1)) == 0)) { /* 16, then doubling when full */
		struct lease *n = realloc(d->leases, (n0 ? n0 * 2 : 16) * sizeof(*n));
		if (!n) {
			b->oom = 1;
			return;
		}
		d->leases = n;
	}
	memcpy(d->leases[d->nleases].ip, tmp.net.net, 16);
	snprintf(d->leases[d->nleases].name, sizeof(d->leases[0].name), "%s", tmp.name);
	d->nleases++;
}

static uint64_t lease_hash(const uint8_t ip[16])
{
	return hash_bytes(ip, 16, 0x6c65617365ULL);
}

/* An open-addressing index over the leases (the first of duplicates wins). */
static int index_leases(struct dynpol *d)
{
	size_t cap = 16;

	if (!d->nleases)
		return 0;
	while (cap < (size_t)d->nleases * 2)
		cap *= 2;
	if (!(d->lease_index = calloc(cap, sizeof(*d->lease_index))))
		return -1;
	d->lease_mask = cap - 1;
	for (uint32_t k = 0; k < d->nleases; k++) {
		size_t i = lease_hash(d->leases[k].ip) & d->lease_mask;
		while (d->lease_index[i] && memcmp(d->leases[d->lease_index[i] - 1].ip, d->leases[k].ip, 16))
			i = (i + 1) & d->lease_mask;
		if (!d->lease_index[i])
			d->lease_index[i] = k + 1;
	}
	return 0;
}

const char *dynpol_lease_name(const struct dynpol *d, const struct sockaddr *sa)
{
	uint8_t ip[16];

	if (!d || !d->lease_index)
		return NULL;
	addr_to_v6(sa, ip);
	for (size_t i = lease_hash(ip) & d->lease_mask; d->lease_index[i]; i = (i + 1) & d->lease_mask)
		if (!memcmp(d->leases[d->lease_index[i] - 1].ip, ip, 16))
			return d->leases[d->lease_index[i] - 1].name;
	return NULL;
}

static void record(struct builder *b, char **f, unsigned nf)
{
	struct dynpol *d = b->d;
	char err[200];

	if (!strcmp(f[0], "client") && nf >= 2) {
		client_record(b, f, nf);
		return;
	}
	flush_client(b);
	if (!strcmp(f[0], "version") && nf == 2) {
		uint64_t v;
		if (parse_uint(f[1], 0, UINT64_MAX, 0, &v) < 0)
			skip(b, "version '%s' is not a number", f[1]);
		else
			d->version = v;
	} else if (!strcmp(f[0], "default") && nf == 3) {
		int rc = policy_default_set(&d->p, f[1], f[2], b->groups, err, sizeof(err));
		if (rc == -2)
			skip(b, "default: unknown field '%s' (mode, block or action)", f[1]);
		else if (rc < 0)
			skip(b, "default %s ignored: %s", f[1], err);
	} else if ((!strcmp(f[0], "allow") || !strcmp(f[0], "deny")) && nf == 2) {
		struct suffix_set **set = f[0][0] == 'a' ? &d->p.allow : &d->p.deny;
		uint8_t wire[256];
		int len = domain_to_wire(f[1], wire);
		if (len < 0)
			skip(b, "%s: '%s' is not a domain name", f[0], f[1]);
		else if ((!*set && !(*set = suffix_set_new())) || suffix_set_add(*set, wire, (size_t)len, 1) < 0)
			b->oom = 1;
	} else if (!strcmp(f[0], "lease") && nf == 3) {
		lease_record(b, f[1], f[2]);
	} else if (!strcmp(f[0], "error") && nf == 3) {
		skip(b, "%s: %s", f[1], f[2]);
	} else {
		skip(b, "unknown record '%s' with %s fields", f[0], nf == 1 ? "no" : "wrong");
	}
}

struct dynpol *dynpol_parse(const char *text, size_t len, const char *where, const struct groups *g,
			    char *err, size_t errlen)
{
	struct dynpol *d = calloc(1, sizeof(*d));
	struct builder b = { .d = d, .where = where, .groups = g };
	size_t ml = strlen(DYNPOL_MAGIC);

	if (!d || !(d->text = malloc(len + 1))) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&d->refs, 1);
	policy_init(&d->p);
	memcpy(d->text, text, len);
	d->text[len] = 0;
	d->len = len;
	if (len < ml || memcmp(text, DYNPOL_MAGIC, ml)) {
		snprintf(err, errlen, "%s: not a jurisdns policy snapshot (no '%.*s' line)", where,
			 (int)ml - 1, DYNPOL_MAGIC);
		dynpol_unref(d);
		return NULL;
	}
	char *work = malloc(len + 1), *next;
	if (!work) {
		dynpol_unref(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(work, text, len);
	work[len] = 0;
	b.line = 1;
	for (char *line = work + ml; *line && !b.oom; line = next) {
		char *f[MAX_FIELDS + 1], *p = line;
		unsigned nf = 0;
		bool bad = false;
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		else
			next = line + strlen(line);
		b.line++;
		if (!*line || *line == '#')
			continue;
		while (nf <= MAX_FIELDS) {
			f[nf++] = p;
			if (!(p = strchr(p, '\t')))
				break;
			*p++ = 0;
		}
		if (nf > MAX_FIELDS) {
			skip(&b, "'%s' record with more than %d fields", f[0], MAX_FIELDS);
			continue;
		}
		for (unsigned i = 0; i < nf && !bad; i++)
			bad = unescape(f[i]) < 0;
		if (bad) {
			skip(&b, "'%s' record has a bad escape or a NUL byte", f[0]);
			continue;
		}
		record(&b, f, nf);
	}
	flush_client(&b);
	free(work);
	if (b.oom || index_leases(d) < 0) {
		dynpol_unref(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	policy_finish(&d->p);
	return d;
}

struct dynpol *dynpol_load(const char *path, const struct groups *g, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	struct dynpol *d = NULL;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SNAPSHOT_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %u MiB", path, SNAPSHOT_MAX >> 20);
		close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size)
		snprintf(err, errlen, "%s: %s", path, buf ? "short read" : "out of memory");
	else
		d = dynpol_parse(buf, got, path, g, err, errlen);
	free(buf);
	return d;
}

int dynpol_save(const struct dynpol *d, const char *path)
{
	char tmp[1100];
	int fd, rc = 0;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
		return -errno;
	while (off < d->len) {
		ssize_t n = write(fd, d->text + off, d->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

struct dynpol *dynpol_ref(struct dynpol *d)
{
	if (d)
		atomic_fetch_add(&d->refs, 1);
	return d;
}

void dynpol_unref(struct dynpol *d)
{
	if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	policy_free(&d->p);
	free(d->leases);
	free(d->lease_index);
	free(d->text);
	free(d);
}
