/* qlog_test.c - unit tests for src/qlog_ring.h, src/qlog_write.h and src/hmac.h: the per-worker
 * ring (reserve/commit/consume order, wrap-around, full ring and drop counting, the wake-up
 * signal, discarding with label references), the JSON-lines writer (exact lines per
 * docs/query-log.md, escaping and UTF-8, names, client identifiers, buffer limits, the file
 * writer and its reopen for log rotation) and HMAC-SHA256 (RFC 4231 vectors, and the same ids as
 * the hand-made HMAC the log used before OpenSSL). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <ldns/sha2.h>
#include <cmocka.h>

#include "geo.h"
#include "groups.h"
#include "hmac.h"
#include "label.h"
#include "qlog_ring.h"
#include "qlog_write.h"
#include "web_events.h"
#include "wire.h"
#include "dnsbuild.h"

static char tmpdir[256];
static struct geo *GEO;
static struct groups *GRP;

/* 2026-11-23T10:40:40.805Z */
#define TS_EXAMPLE 1795430440805ULL

/* --- helpers --- */

static const char *mmdb_path(void)
{
	const char *p = getenv("TEST_MMDB");
	return p && *p ? p : "tests/data/test.mmdb";
}

static const char *tpath(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[768];
	struct stat st;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int group_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	char p[512], err[512];
	struct geo_paths gp;
	FILE *f;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/jdqlogXXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	geo_paths_default(&gp);
	if (!(GEO = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err)))) {
		fprintf(stderr, "geo_open %s: %s\n", mmdb_path(), err);
		return -1;
	}
	snprintf(p, sizeof(p), "%s/groups.conf", tmpdir);
	if (!(f = fopen(p, "w")))
		return -1;
	fputs("[jurisdiction PRC]\ncountries = CN HK MO\nasns = 4134 45102\ndomains = tuyaeu.com\n", f);
	fclose(f);
	if (!(GRP = groups_load(p, err, sizeof(err)))) {
		fprintf(stderr, "groups_load: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	geo_unref(GEO);
	groups_unref(GRP);
	rm_rf(tmpdir);
	return 0;
}

/* A record on the stack, big enough for any qname. */
struct recbuf {
	union {
		struct qlog_rec r;
		uint8_t b[sizeof(struct qlog_rec) + 256];
	} u;
};

static void set_client(struct addr *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (strchr(ip, ':')) {
		a->u.sin6.sin6_family = AF_INET6;
		a->u.sin6.sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &a->u.sin6.sin6_addr), 1);
		a->len = sizeof(struct sockaddr_in6);
	} else {
		a->u.sin.sin_family = AF_INET;
		a->u.sin.sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &a->u.sin.sin_addr), 1);
		a->len = sizeof(struct sockaddr_in);
	}
}

/* Fill every field of rec; the qname from text (lower-cased wire). */
static void fill(struct qlog_rec *rec, const char *qname, uint16_t qtype, uint8_t rcode, bool cached,
		 uint64_t ts_ms, uint32_t latency_us, const char *client, const char *upstream,
		 struct label *l)
{
	uint8_t w[DNS_MAX_NAME + 1];
	size_t n = name_to_wire(qname, w);

	wire_name_lower(w, n);
	rec->qtype = qtype;
	rec->rcode = rcode;
	rec->cached = cached;
	rec->ts_ms = ts_ms;
	rec->latency_us = latency_us;
	rec->qname_len = (uint8_t)n;
	memset(rec->mac, 0, sizeof(rec->mac));
	rec->has_mac = false;
	set_client(&rec->client, client, 40000);
	snprintf(rec->upstream_name, sizeof(rec->upstream_name), "%s", upstream ? upstream : "");
	rec->label = l;
	rec->transport = NULL; /* not written: the format tests keep their exact lines */
	memcpy(rec->qname, w, n);
}

static struct qlog_rec *mkrec(struct recbuf *rb, const char *qname)
{
	memset(rb, 0, sizeof(*rb));
	fill(&rb->u.r, qname, TYPE_A, RCODE_NOERROR, false, TS_EXAMPLE, 1325, "192.0.2.10",
	     "192.0.2.53:53", NULL);
	return &rb->u.r;
}

/* A hand-made label (freed by label_unref like the real ones). */
static struct label *mklabel(unsigned naddrs, unsigned total)
{
	size_t size = sizeof(struct label) + naddrs * sizeof(struct label_addr);
	struct label *l = calloc(1, size);

	assert_non_null(l);
	atomic_init(&l->refs, 1);
	l->size = (uint32_t)size;
	l->naddrs = (uint16_t)naddrs;
	l->total_addrs = (uint16_t)total;
	return l;
}

static void set_addr(struct label *l, unsigned i, const char *ip, bool known, const char *cc,
		     uint32_t asn, const char *org)
{
	struct label_addr *a = &l->addrs[i];

	memset(a, 0, sizeof(*a));
	if (strchr(ip, ':')) {
		a->v6 = true;
		assert_int_equal(inet_pton(AF_INET6, ip, a->ip), 1);
	} else {
		a->ip[10] = a->ip[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, ip, a->ip + 12), 1);
	}
	a->known = known;
	snprintf(a->cc, sizeof(a->cc), "%s", cc);
	a->asn = asn;
	snprintf(a->org, sizeof(a->org), "%s", org);
}

static void add_reason(struct label *l, const char *group, int kind, const char *detail)
{
	struct label_reason *r = &l->reasons[l->nreasons++];

	snprintf(r->group, sizeof(r->group), "%s", group);
	r->kind = (uint8_t)kind;
	snprintf(r->detail, sizeof(r->detail), "%s", detail);
	l->mask[kind] |= 1;
}

/* --- a small JSON checker --- */

static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
	if (*p != '"')
		return NULL;
	for (p++; *p != '"'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *js_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *js_value(const char *p, int depth)
{
	if (depth > 16)
		return NULL;
	p = js_ws(p);
	switch (*p) {
	case '{':
		p = js_ws(p + 1);
		if (*p == '}')
			return p + 1;
		for (;;) {
			if (!(p = js_string(js_ws(p))))
				return NULL;
			p = js_ws(p);
			if (*p++ != ':')
				return NULL;
			if (!(p = js_value(p, depth + 1)))
				return NULL;
			p = js_ws(p);
			if (*p == '}')
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	case '[':
		p = js_ws(p + 1);
		if (*p == ']')
			return p + 1;
		for (;;) {
			if (!(p = js_value(p, depth + 1)))
				return NULL;
			p = js_ws(p);
			if (*p == ']')
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	case '"':
		return js_string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return js_number(p);
	}
}

/* One JSON object and a final newline, nothing else. */
static void assert_json_line(const char *line, size_t len)
{
	char *s = malloc(len + 1);
	const char *e;

	assert_non_null(s);
	memcpy(s, line, len);
	s[len] = 0;
	assert_true(len > 2);
	if (strlen(s) != len)
		fail_msg("NUL byte in the line");
	assert_int_equal(s[len - 1], '\n');
	assert_null(memchr(s, '\n', len - 1));
	assert_int_equal(s[0], '{');
	e = js_value(s, 0);
	if (!e || e != s + len - 1)
		fail_msg("not valid JSON: %s", s);
	free(s);
}

/* The decoded value of string field key (first occurrence), or NULL when absent/not a string. */
static char *js_get_str(const char *line, const char *key, char *out, size_t outlen)
{
	char pat[64];
	const char *p;
	size_t o = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if (!(p = strstr(line, pat)))
		return NULL;
	for (p += strlen(pat); *p != '"' && o + 1 < outlen; p++) {
		if (*p == '\\') {
			p++;
			switch (*p) {
			case 'u': {
				char hex[5] = { p[1], p[2], p[3], p[4], 0 };
				out[o++] = (char)strtoul(hex, NULL, 16);
				p += 4;
				break;
			}
			case 'n': out[o++] = '\n'; break;
			case 't': out[o++] = '\t'; break;
			default: out[o++] = *p; break;
			}
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
	return out;
}

/* Format into a heap buffer of exactly buflen bytes (ASan checks the bounds). */
static size_t fmt(const struct qlog_rec *rec, enum client_id_mode mode, const char *key, char *out,
		  size_t outlen)
{
	char *buf = malloc(8192);
	size_t n;

	assert_non_null(buf);
	n = qlog_format(rec, mode, (const uint8_t *)key, key ? strlen(key) : 0, NULL, buf, 8192);
	assert_true(n > 0);
	assert_true(n < outlen);
	assert_json_line(buf, n);
	memcpy(out, buf, n);
	out[n] = 0;
	free(buf);
	return n;
}

/* Reference HMAC-SHA256 (RFC 2104). */
static void ref_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len, uint8_t out[32])
{
	uint8_t k[64] = { 0 }, ipad[64 + 256], opad[64 + 32];

	if (keylen > 64)
		ldns_sha256(key, (unsigned)keylen, k);
	else
		memcpy(k, key, keylen);
	for (int i = 0; i < 64; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	memcpy(ipad + 64, msg, len);
	ldns_sha256(ipad, (unsigned)(64 + len), opad + 64);
	ldns_sha256(opad, sizeof(opad), out);
}

static void ref_id(const char *key, const uint8_t *msg, size_t len, char out[19])
{
	uint8_t h[32];

	ref_hmac((const uint8_t *)key, strlen(key), msg, len, h);
	snprintf(out, 19, "h:%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4], h[5],
		 h[6], h[7]);
}

/* Read a whole file into buf (NUL-terminated); returns its number of lines. */
static int read_lines(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	int lines = 0;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			lines++;
	if (n)
		assert_int_equal(buf[n - 1], '\n');
	/* every line is a JSON object */
	for (char *p = buf, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_json_line(p, (size_t)(nl - p + 1));
	}
	return lines;
}

/* --- the ring, read the way the header describes it --- */

static size_t rec_bytes(size_t qname_len)
{
	return (sizeof(struct qlog_rec) + qname_len + 7) & ~(size_t)7;
}

/* The next committed record (skipping wrap markers), or NULL; consumes it. */
static struct qlog_rec *ring_pop(struct qlog_ring *r)
{
	uint64_t tail = atomic_load(&r->tail), head = atomic_load(&r->head);

	while (tail < head) {
		size_t pos = tail & (r->cap - 1);
		struct qlog_rec *rec = (struct qlog_rec *)(void *)(r->buf + pos);
		if (rec->len == 0) {
			tail += r->cap - pos;
			continue;
		}
		assert_true(rec->len % 8 == 0);
		assert_true(pos + rec->len <= r->cap);
		atomic_store(&r->tail, tail + rec->len);
		return rec;
	}
	atomic_store(&r->tail, tail);
	return NULL;
}

/* Reserve and fill a record with a qname of qlen bytes whose content is derived from seq. */
static struct qlog_rec *push_seq(struct qlog_ring *r, uint32_t seq, size_t qlen)
{
	struct qlog_rec *rec = qlog_ring_reserve(r, qlen);

	if (!rec)
		return NULL;
	assert_true((uint8_t *)rec >= r->buf && (uint8_t *)rec + rec_bytes(qlen) <= r->buf + r->cap);
	assert_int_equal(rec->len, rec_bytes(qlen));
	assert_int_equal(rec->qname_len, qlen);
	rec->qtype = (uint16_t)seq;
	rec->rcode = 0;
	rec->cached = 0;
	rec->ts_ms = TS_EXAMPLE + seq;
	rec->latency_us = seq;
	rec->has_mac = false;
	set_client(&rec->client, "192.0.2.10", 1);
	snprintf(rec->upstream_name, sizeof(rec->upstream_name), "u%u", seq);
	rec->label = NULL;
	for (size_t i = 0; i < qlen; i++)
		rec->qname[i] = (uint8_t)(seq * 7 + i);
	return rec;
}

static void check_seq(const struct qlog_rec *rec, uint32_t seq, size_t qlen)
{
	char u[16];

	assert_non_null(rec);
	assert_int_equal(rec->latency_us, seq);
	assert_int_equal(rec->ts_ms, TS_EXAMPLE + seq);
	assert_int_equal(rec->qtype, (uint16_t)seq);
	assert_int_equal(rec->qname_len, qlen);
	snprintf(u, sizeof(u), "u%u", seq);
	assert_string_equal(rec->upstream_name, u);
	for (size_t i = 0; i < qlen; i++)
		assert_int_equal(rec->qname[i], (uint8_t)(seq * 7 + i));
}

/* ============================== ring ============================== */

static void test_ring_order(void **state)
{
	struct qlog_ring r;
	static const size_t lens[] = { 1, 17, 255, 0, 8, 64, 100, 3, 254, 9 };
	const size_t n = sizeof(lens) / sizeof(lens[0]);

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 1 << 16), 0);
	assert_int_equal(r.cap, 1 << 16);
	assert_null(ring_pop(&r));
	for (uint32_t i = 0; i < n; i++) {
		struct qlog_rec *rec = push_seq(&r, i, lens[i]);
		assert_non_null(rec);
		qlog_ring_commit(&r, rec);
	}
	assert_int_equal(atomic_load(&r.dropped), 0);
	for (uint32_t i = 0; i < n; i++)
		check_seq(ring_pop(&r), i, lens[i]);
	assert_null(ring_pop(&r));
	assert_int_equal(atomic_load(&r.head), atomic_load(&r.tail));

	/* a reserved but uncommitted record is not visible */
	struct qlog_rec *rec = push_seq(&r, 99, 5);
	assert_non_null(rec);
	assert_null(ring_pop(&r));
	qlog_ring_commit(&r, rec);
	check_seq(ring_pop(&r), 99, 5);
	qlog_ring_free(&r);
	assert_null(r.buf);
}

static void test_ring_wrap(void **state)
{
	struct qlog_ring r;
	struct qlog_rec *rec;
	const size_t S = rec_bytes(20);
	uint32_t seq = 0;

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 4096), 0);
	/* move near the end, consuming as we go */
	while ((atomic_load(&r.head) & 4095) + S <= 4096 && atomic_load(&r.head) < 4096) {
		rec = push_seq(&r, seq, 20);
		assert_non_null(rec);
		qlog_ring_commit(&r, rec);
		check_seq(ring_pop(&r), seq, 20);
		seq++;
	}
	/* two records still pending at the end of the buffer, then three that must wrap */
	uint64_t h0 = atomic_load(&r.head);
	assert_true((h0 & 4095) + S > 4096 || h0 == 4096);
	uint32_t first = seq;
	for (int i = 0; i < 3; i++, seq++) {
		rec = push_seq(&r, seq, 20);
		assert_non_null(rec);
		if (i == 0 && (h0 & 4095))
			assert_ptr_equal(rec, r.buf); /* after the wrap marker */
		qlog_ring_commit(&r, rec);
	}
	assert_int_equal(atomic_load(&r.dropped), 0);
	for (uint32_t i = first; i < seq; i++)
		check_seq(ring_pop(&r), i, 20);
	assert_null(ring_pop(&r));

	/* many wraps with varying sizes and a lagging consumer */
	uint32_t next_pop = seq;
	size_t qlen_of[64];
	for (uint32_t k = 0; k < 2000; k++, seq++) {
		size_t ql = (seq * 37u) % 256;
		rec = push_seq(&r, seq, ql);
		if (!rec) {
			/* full: consume two and retry */
			for (int j = 0; j < 2; j++, next_pop++)
				check_seq(ring_pop(&r), next_pop, qlen_of[next_pop % 64]);
			rec = push_seq(&r, seq, ql);
		}
		assert_non_null(rec);
		qlen_of[seq % 64] = ql;
		qlog_ring_commit(&r, rec);
		if (seq - next_pop >= 6 || k % 5 == 0) {
			check_seq(ring_pop(&r), next_pop, qlen_of[next_pop % 64]);
			next_pop++;
		}
		assert_true(seq + 1 - next_pop < 64);
	}
	for (; next_pop < seq; next_pop++)
		check_seq(ring_pop(&r), next_pop, qlen_of[next_pop % 64]);
	assert_null(ring_pop(&r));
	qlog_ring_free(&r);
}

static void test_ring_full(void **state)
{
	struct qlog_ring r;
	struct qlog_rec *rec;
	const size_t S = rec_bytes(0);
	uint32_t n = 0;

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 4096), 0);
	while ((rec = push_seq(&r, n, 0))) {
		qlog_ring_commit(&r, rec);
		n++;
		assert_true(n <= 4096 / S);
	}
	assert_int_equal(n, 4096 / S);
	assert_int_equal(atomic_load(&r.dropped), 1);
	assert_null(qlog_ring_reserve(&r, 0));
	assert_null(qlog_ring_reserve(&r, 200));
	assert_int_equal(atomic_load(&r.dropped), 3);
	assert_true(atomic_load(&r.head) - atomic_load(&r.tail) <= 4096);

	/* one out: room for one more (wrapping when the end is too short) */
	check_seq(ring_pop(&r), 0, 0);
	rec = push_seq(&r, n, 0);
	assert_non_null(rec);
	qlog_ring_commit(&r, rec);
	n++;
	assert_null(qlog_ring_reserve(&r, 0));
	assert_int_equal(atomic_load(&r.dropped), 4);
	for (uint32_t i = 1; i < n; i++)
		check_seq(ring_pop(&r), i, 0);
	assert_null(ring_pop(&r));
	/* drops are never reset by the ring itself */
	rec = push_seq(&r, n, 0);
	assert_non_null(rec);
	qlog_ring_commit(&r, rec);
	assert_int_equal(atomic_load(&r.dropped), 4);
	qlog_ring_discard(&r);
	qlog_ring_free(&r);
}

static void test_ring_commit_signal(void **state)
{
	struct qlog_ring r;
	struct qlog_rec *rec;
	const size_t S = rec_bytes(0);
	unsigned trues = 0, first_true = 0;

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 4096), 0);
	for (unsigned i = 1; i <= 4096 / S; i++) {
		rec = push_seq(&r, i, 0);
		assert_non_null(rec);
		if (qlog_ring_commit(&r, rec)) {
			trues++;
			if (!first_true)
				first_true = i;
		}
	}
	assert_int_equal(trues, 1);
	assert_int_equal(first_true, 1024 / S + 1); /* the first commit over a quarter */

	/* after the writer (here: discard) ran, the next crossing signals again; a wrap marker's
	 * skipped bytes count as used, so work out where the crossing must come */
	qlog_ring_discard(&r);
	unsigned expect = 0;
	{
		uint64_t pos = atomic_load(&r.head) % 4096, used = 0;
		for (unsigned i = 1; !expect; i++) {
			uint64_t need = S + (4096 - pos < S ? 4096 - pos : 0);
			used += need;
			pos = (pos + need) % 4096;
			if (used > 1024)
				expect = i;
		}
	}
	trues = first_true = 0;
	for (unsigned i = 1; i <= 1024 / S + 3; i++) {
		rec = push_seq(&r, i, 0);
		assert_non_null(rec);
		if (qlog_ring_commit(&r, rec)) {
			trues++;
			if (!first_true)
				first_true = i;
		}
	}
	assert_int_equal(trues, 1);
	assert_int_equal(first_true, expect);

	/* and after a drain through a writer */
	char p[512], err[256];
	struct qlog_writer *w = qlog_writer_new(tpath("signal.jsonl", p, sizeof(p)), CLIENT_ID_IP,
						  NULL, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(qlog_writer_drain(w, &r), 1024 / S + 3);
	for (unsigned i = 1; i <= 1024 / S + 1; i++) {
		rec = push_seq(&r, i, 0);
		assert_non_null(rec);
		assert_int_equal(qlog_ring_commit(&r, rec), i == 1024 / S + 1);
	}
	qlog_ring_discard(&r);
	qlog_writer_free(w);
	qlog_ring_free(&r);
}

static struct label *real_label(void)
{
	struct dnsb *b = malloc(sizeof(*b));
	uint8_t qn[64];
	size_t qe, qlen;
	struct label *l;

	assert_non_null(b);
	b_header(b, 1, F_QR | F_RD | F_RA, 1, 2, 0, 0);
	b_question(b, "www.example.cn", TYPE_A, 1);
	qe = b->len;
	b_a(b, 60, 192, 0, 2, 1);
	b_a(b, 60, 203, 0, 113, 241);
	qlen = name_to_wire("www.example.cn", qn);
	l = label_answer(b->buf, b->len, qe, 2, qn, qlen, GEO, GRP);
	free(b);
	assert_non_null(l);
	assert_int_equal(l->naddrs, 2);
	assert_true(label_has_groups(l));
	return l;
}

static void test_ring_discard_labels(void **state)
{
	struct qlog_ring r;
	struct label *l = real_label();
	struct qlog_rec *rec;

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 4096), 0);
	for (uint32_t i = 0; i < 30; i++) {
		rec = push_seq(&r, i, (i * 13) % 60);
		if (!rec) { /* a full ring: drop like a worker */
			assert_true(i > 5);
			continue;
		}
		rec->label = (i % 3) ? label_ref(l) : NULL;
		qlog_ring_commit(&r, rec);
		if (i == 10) {
			/* a partial discard mid-way, then more records (wrapping) */
			qlog_ring_discard(&r);
			assert_int_equal(atomic_load(&l->refs), 1);
			assert_int_equal(atomic_load(&r.head), atomic_load(&r.tail));
		}
	}
	assert_true(atomic_load(&l->refs) > 1);
	qlog_ring_discard(&r);
	assert_int_equal(atomic_load(&l->refs), 1);
	assert_null(ring_pop(&r));
	/* discarding an empty ring is harmless */
	qlog_ring_discard(&r);
	label_unref(l); /* the last reference: ASan reports a leak if any was lost */
	qlog_ring_free(&r);
}

/* ============================== format ============================== */

static void test_format_doc_examples(void **state)
{
	struct recbuf rb;
	struct label *l;
	char out[4096];
	size_t n;

	(void)state;
	l = mklabel(1, 1);
	set_addr(l, 0, "192.0.2.1", true, "CN", 4134, "CHINANET-BACKBONE");
	add_reason(l, "PRC", LABEL_HOSTED, "CN");
	add_reason(l, "PRC", LABEL_OPERATOR, "AS4134");
	memset(&rb, 0, sizeof(rb));
	fill(&rb.u.r, "www.example.cn", TYPE_A, RCODE_NOERROR, false, TS_EXAMPLE, 14325, "192.168.1.23",
	     "192.0.2.53:53", l);
	n = fmt(&rb.u.r, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_string_equal(out,
		"{\"ts\":\"2026-11-23T10:40:40.805Z\",\"client\":\"192.168.1.23\",\"qname\":\"www.example.cn\","
		"\"qtype\":\"A\",\"rcode\":\"NOERROR\",\"cached\":false,\"upstream\":\"192.0.2.53:53\","
		"\"latency_ms\":14.325,\"answers\":[{\"ip\":\"192.0.2.1\",\"country\":\"CN\",\"asn\":4134,"
		"\"as_org\":\"CHINANET-BACKBONE\"}],\"labels\":[{\"group\":\"PRC\",\"reason\":\"hosted:CN\"},"
		"{\"group\":\"PRC\",\"reason\":\"operator:AS4134\"}],\"action\":\"pass\"}\n");
	assert_int_equal(n, strlen(out));
	label_unref(l);

	l = mklabel(1, 1);
	set_addr(l, 0, "198.51.100.7", true, "DE", 45102, "Alibaba (US) Technology Co., Ltd.");
	add_reason(l, "PRC", LABEL_OPERATOR, "AS45102");
	memset(&rb, 0, sizeof(rb));
	fill(&rb.u.r, "API.Example-Inverter.com", TYPE_A, RCODE_NOERROR, true, 1795430441002ULL, 6,
	     "192.168.1.40", NULL, l);
	fmt(&rb.u.r, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_string_equal(out,
		"{\"ts\":\"2026-11-23T10:40:41.002Z\",\"client\":\"192.168.1.40\","
		"\"qname\":\"api.example-inverter.com\",\"qtype\":\"A\",\"rcode\":\"NOERROR\",\"cached\":true,"
		"\"upstream\":null,\"latency_ms\":0.006,\"answers\":[{\"ip\":\"198.51.100.7\",\"country\":\"DE\","
		"\"asn\":45102,\"as_org\":\"Alibaba (US) Technology Co., Ltd.\"}],"
		"\"labels\":[{\"group\":\"PRC\",\"reason\":\"operator:AS45102\"}],\"action\":\"pass\"}\n");
	label_unref(l);
}

static void test_format_ts_and_client(void **state)
{
	struct recbuf rb;
	char out[4096];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");
	static const struct { uint64_t ms; const char *s; } ts[] = {
		{ TS_EXAMPLE, "\"ts\":\"2026-11-23T10:40:40.805Z\"" },
		{ 0, "\"ts\":\"1970-01-01T00:00:00.000Z\"" },
		{ 1700000000001ULL, "\"ts\":\"2023-11-14T22:13:20.001Z\"" },
		{ 1709251199999ULL, "\"ts\":\"2024-02-29T23:59:59.999Z\"" },
		{ 1704067200050ULL, "\"ts\":\"2024-01-01T00:00:00.050Z\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		rec->ts_ms = ts[i].ms;
		fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
		assert_true(!strncmp(out, "{", 1));
		if (strncmp(out + 1, ts[i].s, strlen(ts[i].s)))
			fail_msg("got %s, want %s", out, ts[i].s);
	}
	rec->ts_ms = TS_EXAMPLE;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"client\":\"192.0.2.10\",\"qname\":"));
	assert_null(strstr(out, "40000")); /* no port */
	assert_null(strstr(out, "\"mac\""));
	set_client(&rec->client, "2001:db8::42", 53);
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"client\":\"2001:db8::42\",\"qname\":"));
	set_client(&rec->client, "::ffff:192.0.2.99", 53);
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"client\":\"::ffff:192.0.2.99\","));
	/* MAC mode without a MAC: the IP */
	fmt(rec, CLIENT_ID_MAC, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"client\":\"::ffff:192.0.2.99\",\"qname\":"));
}

static void test_format_qname(void **state)
{
	struct recbuf rb;
	char out[8192], v[1024];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");

	(void)state;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "\"qname\":\"www.example.com\","));
	/* the root */
	rec->qname[0] = 0;
	rec->qname_len = 1;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "\"qname\":\".\","));
	/* a TLD */
	memcpy(rec->qname, "\2cn\0", 4);
	rec->qname_len = 4;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "\"qname\":\"cn\","));

	/* '"', '\\', a dot and a control byte inside a label: \DDD and \X in the presentation
	 * form, then JSON-escaped */
	static const uint8_t odd[] = { 8, 'a', '"', 'b', '\\', 'c', 0x01, '.', 'd', 3, 'c', 'o', 'm', 0 };
	memcpy(rec->qname, odd, sizeof(odd));
	rec->qname_len = sizeof(odd);
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "\"qname\":\"a\\\"b\\\\\\\\c\\\\001\\\\.d.com\","));
	assert_non_null(js_get_str(out, "qname", v, sizeof(v)));
	assert_string_equal(v, "a\"b\\\\c\\001\\.d.com");
	for (const char *p = out; *p; p++)
		assert_true((unsigned char)*p >= 0x20 || *p == '\n');

	/* a maximal name of non-printable bytes: valid JSON, the whole name */
	uint8_t big[255];
	size_t o = 0;
	for (int lab = 0; lab < 4; lab++) {
		uint8_t ll = lab < 3 ? 63 : 61;
		big[o++] = ll;
		for (uint8_t i = 0; i < ll; i++)
			big[o++] = (uint8_t)(i % 2 ? 0x7f : 0xff);
	}
	big[o++] = 0;
	assert_int_equal(o, 255);
	memcpy(rec->qname, big, o);
	rec->qname_len = (uint8_t)o;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(js_get_str(out, "qname", v, sizeof(v)));
	assert_int_equal(strlen(v), 250 * 4 + 3); /* \DDD each, three dots */
	assert_int_equal(strncmp(v, "\\255\\127\\255", 12), 0);
}

static void test_format_names(void **state)
{
	struct recbuf rb;
	char out[4096], want[64];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");
	static const struct { uint16_t t; const char *n; } types[] = {
		{ 1, "A" }, { 28, "AAAA" }, { 65, "HTTPS" }, { 64, "SVCB" }, { 5, "CNAME" },
		{ 15, "MX" }, { 16, "TXT" }, { 12, "PTR" }, { 255, "ANY" }, { 1234, "TYPE1234" },
		{ 0, "TYPE0" }, { 65535, "TYPE65535" },
	};
	static const struct { uint8_t rc; const char *n; } rcodes[] = {
		{ 0, "NOERROR" }, { 1, "FORMERR" }, { 2, "SERVFAIL" }, { 3, "NXDOMAIN" }, { 4, "NOTIMP" },
		{ 5, "REFUSED" }, { 16, "BADVERS" }, { 12, "RCODE12" }, { 15, "RCODE15" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		rec->qtype = types[i].t;
		fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
		snprintf(want, sizeof(want), ",\"qtype\":\"%s\",\"rcode\":", types[i].n);
		if (!strstr(out, want))
			fail_msg("qtype %u: %s", types[i].t, out);
	}
	rec->qtype = 1;
	for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		rec->rcode = rcodes[i].rc;
		fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
		snprintf(want, sizeof(want), ",\"rcode\":\"%s\",\"cached\":", rcodes[i].n);
		if (!strstr(out, want))
			fail_msg("rcode %u: %s", rcodes[i].rc, out);
	}
}

static void test_format_fields(void **state)
{
	struct recbuf rb;
	char out[4096];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");

	(void)state;
	/* cached */
	rec->cached = 1;
	snprintf(rec->upstream_name, sizeof(rec->upstream_name), "%s", "");
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"cached\":true,\"upstream\":null,\"latency_ms\":1.325,"));
	/* from an upstream */
	rec->cached = 0;
	snprintf(rec->upstream_name, sizeof(rec->upstream_name), "%s", "[2001:db8::53]:853");
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"cached\":false,\"upstream\":\"[2001:db8::53]:853\","));
	/* an upstream name that needs escaping */
	snprintf(rec->upstream_name, sizeof(rec->upstream_name), "%s", "q\"9\\x\t");
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"upstream\":\"q\\\"9\\\\x\\u0009\","));
	/* latency */
	static const struct { uint32_t us; const char *s; } lat[] = {
		{ 1325, "1.325" }, { 0, "0.000" }, { 7, "0.007" }, { 1000, "1.000" },
		{ 999999, "999.999" }, { 4294967295u, "4294967.295" },
	};
	for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
		char want[64];
		rec->latency_us = lat[i].us;
		fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
		snprintf(want, sizeof(want), ",\"latency_ms\":%s,\"answers\":[],\"labels\":[],", lat[i].s);
		if (!strstr(out, want))
			fail_msg("%u us: %s", lat[i].us, out);
	}
	const char *tail = ",\"action\":\"pass\"}\n";
	assert_string_equal(out + strlen(out) - strlen(tail), tail);
}

/* docs/query-log.md: upstream is "" when no upstream answered (SERVFAIL after the timeout) or for
 * an error answered locally (src/server.c passes "" with cached = false), null only for a cache
 * hit. */
static void test_format_upstream_empty_not_cached(void **state)
{
	struct recbuf rb;
	char out[4096];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");

	(void)state;
	rec->cached = 0;
	rec->rcode = RCODE_SERVFAIL;
	rec->upstream_name[0] = 0;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	if (!strstr(out, ",\"cached\":false,\"upstream\":null,"))
		fail_msg("want \"upstream\":null for an uncached answer without upstream: %s", out);
}

static void test_format_answers(void **state)
{
	struct recbuf rb;
	char out[8192];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");
	struct label *l = mklabel(4, 4);

	(void)state;
	set_addr(l, 0, "203.0.113.241", false, "", 0, "");
	set_addr(l, 1, "198.51.100.245", true, "", 13335, "CLOUDFLARENET");
	set_addr(l, 2, "198.51.100.230", true, "DE", 0, "");
	set_addr(l, 3, "2001:db8:1::1", true, "CN", 4134, "A \"quoted\" \\ org\x01");
	rec->label = l;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out,
		",\"answers\":[{\"ip\":\"203.0.113.241\",\"country\":\"unknown\",\"asn\":null,\"as_org\":null},"
		"{\"ip\":\"198.51.100.245\",\"country\":\"unknown\",\"asn\":13335,\"as_org\":\"CLOUDFLARENET\"},"
		"{\"ip\":\"198.51.100.230\",\"country\":\"DE\",\"asn\":null,\"as_org\":null},"
		"{\"ip\":\"2001:db8:1::1\",\"country\":\"CN\",\"asn\":4134,"
		"\"as_org\":\"A \\\"quoted\\\" \\\\ org\\u0001\"}],\"labels\":[],\"action\":\"pass\"}\n"));
	assert_null(strstr(out, "answers_omitted"));
	label_unref(l);

	/* more addresses than kept: answers_omitted; labels of all kinds and groups */
	l = mklabel(2, 40);
	set_addr(l, 0, "192.0.2.1", true, "CN", 4134, "CHINANET-BACKBONE");
	set_addr(l, 1, "192.0.2.2", true, "CN", 4134, "CHINANET-BACKBONE");
	add_reason(l, "PRC", LABEL_DOMAIN, "tuyaeu.com");
	add_reason(l, "PRC", LABEL_HOSTED, "CN");
	add_reason(l, "RU", LABEL_OPERATOR, "AS4134");
	rec->label = l;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out,
		"\"as_org\":\"CHINANET-BACKBONE\"}],\"answers_omitted\":38,\"labels\":["
		"{\"group\":\"PRC\",\"reason\":\"domain:tuyaeu.com\"},"
		"{\"group\":\"PRC\",\"reason\":\"hosted:CN\"},"
		"{\"group\":\"RU\",\"reason\":\"operator:AS4134\"}],\"action\":\"pass\"}\n"));
	label_unref(l);

	/* a label without addresses (a domain reason only) */
	l = mklabel(0, 0);
	add_reason(l, "PRC", LABEL_DOMAIN, "tuyaeu.com");
	rec->label = l;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"answers\":[],\"labels\":[{\"group\":\"PRC\",\"reason\":\"domain:tuyaeu.com\"}],"));
	label_unref(l);

	/* a real label from label_answer */
	l = real_label();
	rec->label = l;
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out,
		",\"answers\":[{\"ip\":\"192.0.2.1\",\"country\":\"CN\",\"asn\":4134,\"as_org\":\"CHINANET-BACKBONE\"},"
		"{\"ip\":\"203.0.113.241\",\"country\":\"unknown\",\"asn\":null,\"as_org\":null}],"
		"\"labels\":[{\"group\":\"PRC\",\"reason\":\"hosted:CN\"},{\"group\":\"PRC\",\"reason\":\"operator:AS4134\"}],"));
	label_unref(l);
}

static void test_format_client_hash(void **state)
{
	struct recbuf rb;
	char out[4096], a[32], b[32], c[32], want4[19], want16[19], want6[19];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");
	const char *key = "secret key", *key2 = "secret kez";

	(void)state;
	set_client(&rec->client, "192.0.2.10", 1111);
	fmt(rec, CLIENT_ID_HASH, key, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", a, sizeof(a)));
	assert_int_equal(strlen(a), 18);
	assert_int_equal(strncmp(a, "h:", 2), 0);
	assert_int_equal(strspn(a + 2, "0123456789abcdef"), 16);
	assert_null(strstr(out, "192.0.2.10"));
	assert_null(strstr(out, "\"mac\""));
	/* HMAC-SHA256(key, IP): the 4 address bytes or the IPv4-mapped 16 */
	uint8_t v4[4] = { 192, 0, 2, 10 }, v4m[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 10 };
	ref_id(key, v4, 4, want4);
	ref_id(key, v4m, 16, want16);
	if (strcmp(a, want4) && strcmp(a, want16))
		fail_msg("%s is neither %s nor %s", a, want4, want16);

	/* stable for the same key and address, whatever the port */
	set_client(&rec->client, "192.0.2.10", 2222);
	fmt(rec, CLIENT_ID_HASH, key, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", b, sizeof(b)));
	assert_string_equal(a, b);
	/* another key, another id */
	fmt(rec, CLIENT_ID_HASH, key2, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", b, sizeof(b)));
	assert_string_not_equal(a, b);
	/* another address, another id */
	set_client(&rec->client, "192.0.2.11", 1111);
	fmt(rec, CLIENT_ID_HASH, key, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", c, sizeof(c)));
	assert_string_not_equal(a, c);
	/* IPv6 */
	set_client(&rec->client, "2001:db8::10", 1111);
	fmt(rec, CLIENT_ID_HASH, key, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", c, sizeof(c)));
	assert_null(strstr(out, "2001:db8"));
	uint8_t v6[16];
	inet_pton(AF_INET6, "2001:db8::10", v6);
	ref_id(key, v6, 16, want6);
	assert_string_equal(c, want6);
	/* a key longer than the SHA-256 block is hashed first (RFC 2104) */
	char longkey[101];
	memset(longkey, 'k', 100);
	longkey[100] = 0;
	fmt(rec, CLIENT_ID_HASH, longkey, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", c, sizeof(c)));
	ref_id(longkey, v6, 16, want6);
	assert_string_equal(c, want6);

	/* with a MAC: the MAC is hashed, it does not appear, the IP does not matter */
	rec->has_mac = true;
	memcpy(rec->mac, "\xaa\xbb\xcc\xdd\xee\xff", 6);
	fmt(rec, CLIENT_ID_HASH, key, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", b, sizeof(b)));
	assert_null(strstr(out, "aa:bb"));
	assert_null(strstr(out, "\"mac\""));
	ref_id(key, rec->mac, 6, want6);
	assert_string_equal(b, want6);
	set_client(&rec->client, "192.0.2.99", 1);
	fmt(rec, CLIENT_ID_HASH, key, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", c, sizeof(c)));
	assert_string_equal(b, c);
}

static void test_format_client_mac(void **state)
{
	struct recbuf rb;
	char out[4096];
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");

	(void)state;
	rec->has_mac = true;
	memcpy(rec->mac, "\xaa\xbb\xcc\xdd\xee\xff", 6);
	fmt(rec, CLIENT_ID_MAC, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"client\":\"aa:bb:cc:dd:ee:ff\",\"qname\":"));
	assert_null(strstr(out, "192.0.2.10"));
	assert_null(strstr(out, "\"mac\""));
	/* ip mode with a MAC: both */
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"client\":\"192.0.2.10\",\"mac\":\"aa:bb:cc:dd:ee:ff\",\"qname\":"));
	memcpy(rec->mac, "\x00\x01\x0a\x10\xa0\xff", 6);
	fmt(rec, CLIENT_ID_MAC, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"client\":\"00:01:0a:10:a0:ff\","));
}

static void test_format_small_buffer(void **state)
{
	struct recbuf rb;
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");
	struct label *l = real_label();
	char out[4096];
	size_t full;

	(void)state;
	rec->label = l;
	full = fmt(rec, CLIENT_ID_HASH, "k", out, sizeof(out));
	for (size_t len = 0; len < full + 8; len++) {
		char *buf = malloc(len ? len : 1);
		assert_non_null(buf);
		size_t n = qlog_format(rec, CLIENT_ID_HASH, (const uint8_t *)"k", 1, NULL, buf, len);
		if (len < full)
			assert_int_equal(n, 0);
		else if (len > full)
			assert_int_equal(n, full);
		else
			assert_true(n == 0 || n == full); /* room for the line, none for a NUL */
		if (n)
			assert_memory_equal(buf, out, n);
		free(buf);
	}
	label_unref(l);
}

/* ============================== writer ============================== */

static void push_named(struct qlog_ring *r, const char *qname, struct label *l, uint32_t lat)
{
	uint8_t w[DNS_MAX_NAME + 1];
	size_t n = name_to_wire(qname, w);
	struct qlog_rec *rec = qlog_ring_reserve(r, n);

	assert_non_null(rec);
	fill(rec, qname, TYPE_A, RCODE_NOERROR, false, TS_EXAMPLE, lat, "192.0.2.10", "192.0.2.53:53", l);
	qlog_ring_commit(r, rec);
}

static void test_writer_file(void **state)
{
	struct qlog_ring r;
	struct qlog_writer *w;
	char p[512], err[256] = "", v[256];
	static char buf[1 << 16];
	struct label *l = real_label();

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 4096), 0);
	w = qlog_writer_new(tpath("q.jsonl", p, sizeof(p)), CLIENT_ID_IP, "key", err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(qlog_writer_drain(w, &r), 0);
	assert_int_equal(read_lines(p, buf, sizeof(buf)), 0);
	push_named(&r, "one.example", label_ref(l), 1);
	push_named(&r, "two.example", NULL, 2);
	push_named(&r, "three.example", label_ref(l), 3);
	assert_int_equal(atomic_load(&l->refs), 3);
	assert_int_equal(qlog_writer_drain(w, &r), 3);
	assert_int_equal(atomic_load(&l->refs), 1); /* the drain released the records' references */
	assert_int_equal(atomic_load(&r.head), atomic_load(&r.tail));
	assert_int_equal(read_lines(p, buf, sizeof(buf)), 3);
	char *l2 = strchr(buf, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	assert_string_equal(js_get_str(buf, "qname", v, sizeof(v)), "one.example");
	assert_string_equal(js_get_str(l2, "qname", v, sizeof(v)), "two.example");
	assert_string_equal(js_get_str(l3, "qname", v, sizeof(v)), "three.example");
	assert_non_null(strstr(buf, "\"reason\":\"hosted:CN\""));
	assert_true(strstr(l2, "\"labels\":[]") < l3);

	/* appends; records across the ring's wrap come out in order */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 7; i++) {
			char q[64];
			snprintf(q, sizeof(q), "r%d-%d.%.*s.example", round, i, i * 7, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
			push_named(&r, q, (i & 1) ? label_ref(l) : NULL, (uint32_t)(round * 10 + i));
		}
		assert_int_equal(qlog_writer_drain(w, &r), 7);
	}
	assert_int_equal(atomic_load(&l->refs), 1);
	assert_int_equal(read_lines(p, buf, sizeof(buf)), 3 + 35);
	char *line = buf;
	for (int k = 0; k < 3; k++)
		line = strchr(line, '\n') + 1;
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 7; i++) {
			char want[32];
			snprintf(want, sizeof(want), "r%d-%d.", round, i);
			assert_non_null(js_get_str(line, "qname", v, sizeof(v)));
			assert_int_equal(strncmp(v, want, strlen(want)), 0);
			line = strchr(line, '\n') + 1;
		}
	qlog_writer_free(w);
	qlog_ring_discard(&r);
	label_unref(l);
	qlog_ring_free(&r);
}

static void test_writer_reopen(void **state)
{
	struct qlog_ring r;
	struct qlog_writer *w;
	char p[512], old[512], err[256] = "";
	static char buf[1 << 16];

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 8192), 0);
	w = qlog_writer_new(tpath("rot.jsonl", p, sizeof(p)), CLIENT_ID_IP, NULL, err, sizeof(err));
	assert_non_null(w);
	push_named(&r, "a.example", NULL, 1);
	push_named(&r, "b.example", NULL, 2);
	assert_int_equal(qlog_writer_drain(w, &r), 2);
	/* logrotate: rename, then lines still go to the old file until the reopen */
	assert_int_equal(rename(p, tpath("rot.jsonl.1", old, sizeof(old))), 0);
	push_named(&r, "c.example", NULL, 3);
	assert_int_equal(qlog_writer_drain(w, &r), 1);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(qlog_writer_reopen(w), 0);
	push_named(&r, "d.example", NULL, 4);
	push_named(&r, "e.example", NULL, 5);
	assert_int_equal(qlog_writer_drain(w, &r), 2);
	assert_int_equal(read_lines(old, buf, sizeof(buf)), 3);
	assert_non_null(strstr(buf, "\"qname\":\"c.example\""));
	assert_int_equal(read_lines(p, buf, sizeof(buf)), 2);
	assert_non_null(strstr(buf, "\"qname\":\"d.example\""));
	assert_non_null(strstr(buf, "\"qname\":\"e.example\""));
	assert_null(strstr(buf, "\"qname\":\"c.example\""));
	qlog_writer_free(w);

	/* a failed reopen keeps the old file */
	char dir[512], moved[512], path2[600];
	tpath("logdir", dir, sizeof(dir));
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path2, sizeof(path2), "%s/q.jsonl", dir);
	w = qlog_writer_new(path2, CLIENT_ID_IP, NULL, err, sizeof(err));
	assert_non_null(w);
	tpath("logdir.old", moved, sizeof(moved));
	assert_int_equal(rename(dir, moved), 0);
	assert_int_equal(qlog_writer_reopen(w), -1);
	push_named(&r, "f.example", NULL, 6);
	assert_int_equal(qlog_writer_drain(w, &r), 1);
	qlog_writer_free(w);
	snprintf(path2, sizeof(path2), "%s/q.jsonl", moved);
	assert_int_equal(read_lines(path2, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "\"qname\":\"f.example\""));
	qlog_ring_free(&r);
}

static void test_writer_bad_path(void **state)
{
	char p[512], err[512] = "";

	(void)state;
	tpath("no-such-dir/q.jsonl", p, sizeof(p));
	assert_null(qlog_writer_new(p, CLIENT_ID_IP, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, p));
	err[0] = 0;
	assert_null(qlog_writer_new(tmpdir, CLIENT_ID_HASH, "k", err, sizeof(err))); /* a directory */
	assert_non_null(strstr(err, tmpdir));
	qlog_writer_free(NULL);
}

/* The id in a written line must be the one qlog_format gives for the configured key. */
static void drain_one_client(const char *file, const char *key, char *id, size_t idlen)
{
	struct qlog_ring r;
	struct qlog_writer *w;
	char p[512], err[256] = "";
	static char buf[1 << 14];

	assert_int_equal(qlog_ring_init(&r, 4096), 0);
	w = qlog_writer_new(tpath(file, p, sizeof(p)), CLIENT_ID_HASH, key, err, sizeof(err));
	assert_non_null(w);
	push_named(&r, "www.example.com", NULL, 1);
	assert_int_equal(qlog_writer_drain(w, &r), 1);
	qlog_writer_free(w);
	qlog_ring_free(&r);
	assert_int_equal(read_lines(p, buf, sizeof(buf)), 1);
	assert_non_null(js_get_str(buf, "client", id, idlen));
	assert_null(strstr(buf, "192.0.2.10"));
}

static void test_writer_hash_key(void **state)
{
	char a[32], b[32], out[4096];
	struct recbuf rb;
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");

	(void)state;
	drain_one_client("k1.jsonl", "short key", a, sizeof(a));
	fmt(rec, CLIENT_ID_HASH, "short key", out, sizeof(out));
	assert_non_null(js_get_str(out, "client", b, sizeof(b)));
	assert_string_equal(a, b);
	drain_one_client("k2.jsonl", "short kez", b, sizeof(b));
	assert_string_not_equal(a, b);
	/* no key: a random one per writer */
	drain_one_client("k3.jsonl", NULL, a, sizeof(a));
	drain_one_client("k4.jsonl", "", b, sizeof(b));
	assert_int_equal(strncmp(a, "h:", 2), 0);
	assert_string_not_equal(a, b);
}

/* docs/query-log.md: HMAC-SHA256(client_hash_key, ...); the key may be longer than 64 bytes
 * (conf client_hash_key[128]): two keys that differ only after byte 64 must give different ids,
 * the ones qlog_format gives for the whole key. */
static void test_writer_long_hash_key(void **state)
{
	char k1[101], k2[101], a[32], b[32], want[32], out[4096];
	struct recbuf rb;
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");

	(void)state;
	memset(k1, 'k', 100);
	k1[100] = 0;
	memcpy(k2, k1, sizeof(k1));
	k1[99] = '1';
	k2[99] = '2';
	drain_one_client("long1.jsonl", k1, a, sizeof(a));
	drain_one_client("long2.jsonl", k2, b, sizeof(b));
	fmt(rec, CLIENT_ID_HASH, k1, out, sizeof(out));
	assert_non_null(js_get_str(out, "client", want, sizeof(want)));
	if (!strcmp(a, b))
		fail_msg("keys differing after byte 64 give the same id %s (the key is truncated)", a);
	assert_string_equal(a, want);
}

/* ============================== the split and HMAC ============================== */

static void count_rec(const struct qlog_rec *rec, void *ctx)
{
	uint32_t *next = ctx;

	check_seq(rec, *next, (*next * 3) % 40);
	(*next)++;
}

/* qlog_ring_consume: every record once, oldest first, across wraps; labels released; room
 * given back; a NULL callback only drops. */
static void test_ring_consume(void **state)
{
	struct qlog_ring r;
	struct label *l = real_label();
	uint32_t seq = 0, next = 0;
	size_t total = 0;

	(void)state;
	assert_int_equal(qlog_ring_init(&r, 4096), 0);
	assert_int_equal(qlog_ring_consume(&r, count_rec, &next), 0);
	for (int round = 0; round < 20; round++) {
		uint32_t first = seq;
		struct qlog_rec *rec;
		while (seq - first < 9 && (rec = push_seq(&r, seq, (seq * 3) % 40))) {
			rec->label = (seq & 1) ? label_ref(l) : NULL;
			qlog_ring_commit(&r, rec);
			seq++;
		}
		total += qlog_ring_consume(&r, count_rec, &next);
		assert_int_equal(next, seq);
		assert_int_equal(atomic_load(&r.head), atomic_load(&r.tail));
		assert_int_equal(atomic_load(&l->refs), 1);
	}
	assert_int_equal(total, seq);
	assert_int_equal(atomic_load(&r.dropped), 0);
	struct qlog_rec *rec = push_seq(&r, seq, 1);
	assert_non_null(rec);
	rec->label = label_ref(l);
	qlog_ring_commit(&r, rec);
	assert_int_equal(qlog_ring_consume(&r, NULL, NULL), 1);
	assert_int_equal(atomic_load(&l->refs), 1);
	label_unref(l);
	qlog_ring_free(&r);
}

static void hexstr(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void check_hmac(const void *key, size_t keylen, const void *msg, size_t len, const char *want)
{
	char err[256] = "", got[65];
	uint8_t out[32];
	struct hmac *h = hmac_new(key, keylen, err, sizeof(err));

	if (!h)
		fail_msg("hmac_new: %s", err);
	/* twice with the same context: the key is kept between messages */
	for (int i = 0; i < 2; i++) {
		memset(out, 0x55, sizeof(out));
		assert_int_equal(hmac_sha256(h, msg, len, out), 0);
		hexstr(out, 32, got);
		if (strncmp(got, want, strlen(want)))
			fail_msg("HMAC: got %s, want %s", got, want);
	}
	hmac_free(h);
}

/* RFC 4231, HMAC-SHA256 of test cases 1-4, 5 (truncated to 128 bits), 6 and 7; and the empty key
 * and message. */
static void test_hmac_rfc4231(void **state)
{
	uint8_t k20[20], k25[25], kaa[131], d50[50];

	(void)state;
	memset(k20, 0x0b, sizeof(k20));
	check_hmac(k20, 20, "Hi There", 8,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(k20, 0xaa, sizeof(k20));
	memset(d50, 0xdd, sizeof(d50));
	check_hmac(k20, 20, d50, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	for (int i = 0; i < 25; i++)
		k25[i] = (uint8_t)(i + 1);
	memset(d50, 0xcd, sizeof(d50));
	check_hmac(k25, 25, d50, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	memset(k20, 0x0c, sizeof(k20));
	check_hmac(k20, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b");
	memset(kaa, 0xaa, sizeof(kaa));
	check_hmac(kaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	static const char m7[] = "This is a test using a larger than block-size key and a larger than "
				 "block-size data. The key needs to be hashed before being used by the "
				 "HMAC algorithm.";
	check_hmac(kaa, 131, m7, sizeof(m7) - 1,
		   "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
	check_hmac("", 0, "", 0, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	hmac_free(NULL);
}

/* The ids are the ones the hand-made HMAC over ldns_sha256 (before OpenSSL) wrote for the same
 * key: logs keep joining across the upgrade. The values were computed with that code. */
static void test_format_client_hash_unchanged(void **state)
{
	struct recbuf rb;
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");
	char out[4096], id[32], k100[101], k64[65];

	(void)state;
	memset(k100, 'k', 100);
	k100[100] = 0;
	memset(k64, 'x', 64);
	k64[64] = 0;
	set_client(&rec->client, "192.0.2.10", 1);
	fmt(rec, CLIENT_ID_HASH, "secret key", out, sizeof(out));
	assert_string_equal(js_get_str(out, "client", id, sizeof(id)), "h:6351d7f721be0ddb");
	set_client(&rec->client, "2001:db8::10", 1);
	fmt(rec, CLIENT_ID_HASH, "secret key", out, sizeof(out));
	assert_string_equal(js_get_str(out, "client", id, sizeof(id)), "h:e6fcd8415c5afc93");
	fmt(rec, CLIENT_ID_HASH, k100, out, sizeof(out));
	assert_string_equal(js_get_str(out, "client", id, sizeof(id)), "h:b7f31861b1971100");
	fmt(rec, CLIENT_ID_HASH, k64, out, sizeof(out));
	assert_string_equal(js_get_str(out, "client", id, sizeof(id)), "h:0859c4a91d88f21e");
	rec->has_mac = true;
	memcpy(rec->mac, "\xaa\xbb\xcc\xdd\xee\xff", 6);
	fmt(rec, CLIENT_ID_HASH, "secret key", out, sizeof(out));
	assert_string_equal(js_get_str(out, "client", id, sizeof(id)), "h:8e6a8f8919203c77");
	/* and through the file writer */
	drain_one_client("unchanged.jsonl", "secret key", id, sizeof(id));
	assert_string_equal(id, "h:6351d7f721be0ddb");
}

/* Names, vendors' and AS organisations' text may be any bytes: valid UTF-8 goes out as it is,
 * other bytes as \ufffd, control characters escaped; the line stays valid JSON. */
static void test_format_utf8(void **state)
{
	struct recbuf rb;
	struct qlog_rec *rec = mkrec(&rb, "www.example.com");
	struct label *l = mklabel(1, 1);
	char out[4096];

	(void)state;
	set_addr(l, 0, "192.0.2.1", true, "CN", 4134, "\xe4\xb8\xad\xe5\x9b\xbd\xe7\x94\xb5\xe4\xbf\xa1 Caf\xc3\xa9");
	rec->label = l;
	snprintf(rec->name, sizeof(rec->name), "%s", "kid\xe9s tablet\x01\xc3");
	fmt(rec, CLIENT_ID_IP, NULL, out, sizeof(out));
	assert_non_null(strstr(out, ",\"name\":\"kid\\ufffds tablet\\u0001\\ufffd\",\"qname\":"));
	assert_non_null(strstr(out, ",\"as_org\":\"\xe4\xb8\xad\xe5\x9b\xbd\xe7\x94\xb5\xe4\xbf\xa1 Caf\xc3\xa9\"}"));
	/* a name filling its field: no NUL needed to stop */
	memset(rec->name, 'n', sizeof(rec->name));
	rec->name[sizeof(rec->name) - 1] = 0;
	fmt(rec, CLIENT_ID_MAC, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "\"name\":\"nnnnnnnn"));
	label_unref(l);
}

/* The live feed's record: every reason's why (the AS with its name), each text once, at most
 * WEB_EVENT_WHYS; reason and group are the first label's. */
static void test_web_event_whys(void **state)
{
	struct recbuf rb;
	struct qlog_rec *rec = mkrec(&rb, "ali-de.policy.test");
	struct web_event e;
	struct label *l = mklabel(1, 1);
	char detail[16];

	(void)state;
	set_addr(l, 0, "192.0.2.194", true, "DE", 45102, "Alibaba US Technology Co., Ltd.");
	add_reason(l, "PRC", LABEL_OPERATOR, "AS45102");
	add_reason(l, "EU", LABEL_HOSTED, "DE");
	add_reason(l, "RU", LABEL_HOSTED, "DE"); /* the same text for another group: shown once */
	rec->label = l;
	assert_true(web_events_from_qlog(rec, &e));
	assert_string_equal(e.qname, "ali-de.policy.test");
	assert_string_equal(e.group, "PRC");
	assert_string_equal(e.reason, "operator:AS45102 Alibaba US Technology Co., Ltd.");
	assert_int_equal(e.nwhy, 2);
	assert_string_equal(e.why[0], "operator:AS45102 Alibaba US Technology Co., Ltd.");
	assert_string_equal(e.why[1], "hosted:DE");
	/* more distinct reasons than the record holds: the first WEB_EVENT_WHYS */
	for (unsigned i = l->nreasons; i < LABEL_MAX_REASONS; i++) {
		snprintf(detail, sizeof(detail), "d%u.example", i);
		add_reason(l, "PRC", LABEL_DOMAIN, detail);
	}
	assert_true(web_events_from_qlog(rec, &e));
	assert_int_equal(e.nwhy, WEB_EVENT_WHYS);
	assert_string_equal(e.why[WEB_EVENT_WHYS - 1], "domain:d8.example");
	/* no group: not in the feed */
	l->nreasons = 0;
	memset(l->mask, 0, sizeof(l->mask));
	assert_false(web_events_from_qlog(rec, &e));
	label_unref(l);
}

/* The feed's ring: nothing is admitted without a reader or beyond WEB_EVENTS_RATE a second; a
 * record is read back as its SSE text, filtered by client; a reader far behind gets the newest
 * WEB_EVENTS_BATCH. */
static void test_web_events_ring(void **state)
{
	struct recbuf rb;
	struct qlog_rec *rec = mkrec(&rb, "cn.policy.test");
	struct label *l = mklabel(1, 1);
	struct web_events *r = web_events_new();
	struct web_event e;
	struct strbuf out = { 0 };
	uint64_t seq = 0;
	unsigned admitted = 0;

	(void)state;
	assert_non_null(r);
	set_addr(l, 0, "192.0.2.10", true, "CN", 4134, "Chinanet");
	add_reason(l, "PRC", LABEL_HOSTED, "CN");
	rec->label = l;
	rec->ts_ms = 1000000;
	assert_false(web_events_admit(r, rec)); /* no stream open: not even made */
	web_events_readers(r, 1);
	for (unsigned i = 0; i < 3 * WEB_EVENTS_RATE; i++)
		admitted += web_events_admit(r, rec);
	assert_int_equal(admitted, WEB_EVENTS_RATE);
	rec->ts_ms += 1000; /* the next second */
	assert_true(web_events_admit(r, rec));
	assert_true(web_events_from_qlog(rec, &e));
	web_events_push(r, &e);
	assert_int_equal(web_events_read(r, &seq, "", &out), 1);
	assert_int_equal(seq, 1);
	assert_non_null(strstr(out.s, "data: {\"ts_ms\":"));
	assert_non_null(strstr(out.s, "\"why\":[\"hosted:CN\"]"));
	assert_int_equal(out.s[out.len - 1], '\n');
	assert_int_equal(out.s[out.len - 2], '\n');
	sb_free(&out);
	/* another device's stream sees nothing of it */
	seq = 0;
	assert_int_equal(web_events_read(r, &seq, "192.0.2.99", &out), 0);
	assert_int_equal(seq, 1);
	/* far behind: the newest WEB_EVENTS_BATCH */
	for (unsigned i = 0; i < 3 * WEB_EVENTS_BATCH; i++)
		web_events_push(r, &e);
	seq = 1;
	assert_int_equal(web_events_read(r, &seq, "", &out), WEB_EVENTS_BATCH);
	assert_int_equal(seq, web_events_last(r));
	sb_free(&out);
	/* an unlabelled record is never admitted */
	l->nreasons = 0;
	memset(l->mask, 0, sizeof(l->mask));
	rec->ts_ms += 1000;
	assert_false(web_events_admit(r, rec));
	web_events_readers(r, -1);
	web_events_free(r);
	label_unref(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_order),
		cmocka_unit_test(test_ring_wrap),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_ring_commit_signal),
		cmocka_unit_test(test_ring_discard_labels),
		cmocka_unit_test(test_format_doc_examples),
		cmocka_unit_test(test_format_ts_and_client),
		cmocka_unit_test(test_format_qname),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_format_fields),
		cmocka_unit_test(test_format_upstream_empty_not_cached),
		cmocka_unit_test(test_format_answers),
		cmocka_unit_test(test_format_client_hash),
		cmocka_unit_test(test_format_client_mac),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_writer_file),
		cmocka_unit_test(test_writer_reopen),
		cmocka_unit_test(test_writer_bad_path),
		cmocka_unit_test(test_writer_hash_key),
		cmocka_unit_test(test_writer_long_hash_key),
		cmocka_unit_test(test_ring_consume),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_format_client_hash_unchanged),
		cmocka_unit_test(test_format_utf8),
		cmocka_unit_test(test_web_event_whys),
		cmocka_unit_test(test_web_events_ring),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
