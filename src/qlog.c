/* qlog.c - query-log rings (workers) and the JSON-lines writer (control thread). */
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ldns/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "label.h"
#include "qlog.h"
#include "util.h"
#include "wire.h"

#define WRITE_BUF (1 << 20)
#define LINE_MAX_LEN 16384

int qlog_ring_init(struct qlog_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->buf = malloc(cap);
	if (!r->buf)
		return -1;
	r->cap = cap;
	return 0;
}

void qlog_ring_free(struct qlog_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

static size_t rec_size(size_t qname_len)
{
	return (sizeof(struct qlog_rec) + qname_len + 7) & ~(size_t)7;
}

struct qlog_rec *qlog_ring_reserve(struct qlog_ring *r, size_t qname_len)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t len = rec_size(qname_len), pos = head & (r->cap - 1), need = len;

	if (r->cap - pos < len)
		need += r->cap - pos; /* skip to the start */
	if (head - tail + need > r->cap) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return NULL;
	}
	if (r->cap - pos < len) {
		((struct qlog_rec *)(void *)(r->buf + pos))->len = 0; /* wrap marker */
		atomic_store_explicit(&r->head, head + (r->cap - pos), memory_order_release);
		pos = 0;
	}
	struct qlog_rec *rec = (struct qlog_rec *)(void *)(r->buf + pos);
	rec->len = (uint32_t)len;
	rec->qname_len = (uint8_t)qname_len;
	rec->label = NULL;           /* the pointers are never left to chance */
	rec->action = NULL;
	return rec;
}

bool qlog_ring_commit(struct qlog_ring *r, struct qlog_rec *rec)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed) + rec->len;
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->head, head, memory_order_release);
	if (head - tail > r->cap / 4 && !atomic_exchange_explicit(&r->notified, true, memory_order_relaxed))
		return true;
	return false;
}

/* --- writer --- */

struct qlog_writer {
	char *path;
	int fd;
	enum client_id_mode id_mode;
	uint8_t key[128];            /* as long as [log] client_hash_key may be */
	size_t keylen;
	char *buf;
	size_t len;
	uint64_t dropped_reported;
	struct oui *oui;             /* vendors, NULL when off; looked up here, never in a worker */
};

static int open_log(const char *path)
{
	if (!strcmp(path, "-"))
		return dup(STDOUT_FILENO);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

struct qlog_writer *qlog_writer_new(const char *path, enum client_id_mode id_mode,
				    const char *hash_key, char *err, size_t errlen)
{
	struct qlog_writer *w = calloc(1, sizeof(*w));

	if (!w || !(w->buf = malloc(WRITE_BUF)) || !(w->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->id_mode = id_mode;
	if (hash_key && *hash_key) {
		w->keylen = strlen(hash_key) < sizeof(w->key) ? strlen(hash_key) : sizeof(w->key);
		memcpy(w->key, hash_key, w->keylen);
	} else {
		/* no key configured: hashes are stable only until the next restart */
		w->keylen = 32;
		if (getrandom(w->key, w->keylen, 0) != (ssize_t)w->keylen) {
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			goto fail;
		}
	}
	if ((w->fd = open_log(path)) < 0) {
		snprintf(err, errlen, "query_log %s: %s", path, strerror(errno));
		goto fail;
	}
	return w;
fail:
	if (w) {
		free(w->buf);
		free(w->path);
		free(w);
	}
	return NULL;
}

int qlog_writer_reopen(struct qlog_writer *w)
{
	int fd = open_log(w->path);

	if (fd < 0) {
		log_err("query_log %s: cannot reopen: %s (still writing to the old file)", w->path,
			strerror(errno));
		return -1;
	}
	close(w->fd);
	w->fd = fd;
	return 0;
}

static void flush_buf(struct qlog_writer *w)
{
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("query_log %s: write failed: %s (%zu bytes lost)", w->path, strerror(errno),
				w->len - off);
			break;
		}
		off += (size_t)n;
	}
	w->len = 0;
}

/* Hand every published record to fn, oldest first, and give the room back. Returns the count. */
static size_t ring_consume(struct qlog_ring *r, void (*fn)(const struct qlog_rec *, void *), void *ctx)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t n = 0;

	atomic_store_explicit(&r->notified, false, memory_order_relaxed);
	while (tail < head) {
		size_t pos = tail & (r->cap - 1);
		struct qlog_rec *rec = (struct qlog_rec *)(void *)(r->buf + pos);
		if (rec->len == 0) { /* wrap marker */
			tail += r->cap - pos;
			continue;
		}
		fn(rec, ctx);
		label_unref(rec->label);
		tail += rec->len;
		if ((++n & 1023) == 0) /* give room back early under load */
			atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	return n;
}

static void write_rec(const struct qlog_rec *rec, void *ctx)
{
	struct qlog_writer *w = ctx;

	if (WRITE_BUF - w->len < LINE_MAX_LEN)
		flush_buf(w);
	w->len += qlog_format(rec, w->id_mode, w->key, w->keylen, w->oui, w->buf + w->len,
			      WRITE_BUF - w->len);
}

size_t qlog_writer_drain(struct qlog_writer *w, struct qlog_ring *r)
{
	size_t n = ring_consume(r, write_rec, w);
	uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);

	flush_buf(w);
	if (dropped != w->dropped_reported) {
		log_warn("query_log: %llu records dropped so far (the writer did not keep up)",
			 (unsigned long long)dropped);
		w->dropped_reported = dropped;
	}
	return n;
}

static void skip_rec(const struct qlog_rec *rec, void *ctx) {}

void qlog_ring_discard(struct qlog_ring *r)
{
	ring_consume(r, skip_rec, NULL);
}

void qlog_writer_set_oui(struct qlog_writer *w, struct oui *t)
{
	struct oui *old = w->oui;

	w->oui = oui_ref(t);
	oui_unref(old);
}

void qlog_writer_free(struct qlog_writer *w)
{
	if (!w)
		return;
	flush_buf(w);
	oui_unref(w->oui);
	close(w->fd);
	free(w->buf);
	free(w->path);
	free(w);
}

/* --- JSON --- */

struct out {
	char *p;
	size_t left;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n >= o->left) {
		o->overflow = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
	o->left -= n;
}

static void puts_raw(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->p, o->left, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->left) {
		o->overflow = true;
		return;
	}
	o->p += n;
	o->left -= (size_t)n;
}

/* A JSON string: quotes, backslashes and control characters escaped; other bytes as they are
 * (names and AS organisations are UTF-8 or ASCII with \DDD escapes from wire_name_str). */
static void put_jstr(struct out *o, const char *s)
{
	put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(o, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			putf(o, "\\u%04x", c);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

static const char *rcode_name(unsigned rc, char *buf, size_t len)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
					     "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
					     "NOTZONE" };
	if (rc < sizeof(names) / sizeof(names[0]))
		return names[rc];
	if (rc == 16)
		return "BADVERS";
	snprintf(buf, len, "RCODE%u", rc);
	return buf;
}

static const char *qtype_name(unsigned t, char *buf, size_t len)
{
	static const struct { unsigned t; const char *n; } names[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" }, { 13, "HINFO" },
		{ 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 35, "NAPTR" },
		{ 39, "DNAME" }, { 43, "DS" }, { 46, "RRSIG" }, { 47, "NSEC" }, { 48, "DNSKEY" },
		{ 50, "NSEC3" }, { 52, "TLSA" }, { 64, "SVCB" }, { 65, "HTTPS" }, { 99, "SPF" },
		{ 255, "ANY" }, { 257, "CAA" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == t)
			return names[i].n;
	snprintf(buf, len, "TYPE%u", t);
	return buf;
}

static void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
			uint8_t out[32])
{
	uint8_t k[64] = { 0 }, inner[64 + 64], outer[64 + 32], ih[32];

	if (keylen > 64) {
		ldns_sha256(key, (unsigned)keylen, k);
	} else {
		memcpy(k, key, keylen);
	}
	for (int i = 0; i < 64; i++) {
		inner[i] = k[i] ^ 0x36;
		outer[i] = k[i] ^ 0x5c;
	}
	if (len > 64)
		len = 64;
	memcpy(inner + 64, msg, len);
	ldns_sha256(inner, (unsigned)(64 + len), ih);
	memcpy(outer + 64, ih, 32);
	ldns_sha256(outer, sizeof(outer), out);
}

static void put_client(struct out *o, const struct qlog_rec *rec, enum client_id_mode mode,
		       const uint8_t *key, size_t keylen)
{
	char ip[64];
	const struct sockaddr *sa = &rec->client.u.sa;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &rec->client.u.sin.sin_addr, ip, sizeof(ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &rec->client.u.sin6.sin6_addr, ip, sizeof(ip));
	else
		strcpy(ip, "?");
	if (mode == CLIENT_ID_HASH) {
		uint8_t id[16], mac[32];
		size_t idlen;
		if (rec->has_mac) {
			memcpy(id, rec->mac, 6);
			idlen = 6;
		} else {
			addr_to_v6(sa, id);
			idlen = 16;
		}
		hmac_sha256(key, keylen, id, idlen, mac);
		putf(o, "\"client\":\"h:%02x%02x%02x%02x%02x%02x%02x%02x\"", mac[0], mac[1], mac[2], mac[3],
		     mac[4], mac[5], mac[6], mac[7]);
		return;
	}
	if (mode == CLIENT_ID_MAC && rec->has_mac) {
		putf(o, "\"client\":\"%02x:%02x:%02x:%02x:%02x:%02x\"", rec->mac[0], rec->mac[1],
		     rec->mac[2], rec->mac[3], rec->mac[4], rec->mac[5]);
		if (rec->name[0]) {
			puts_raw(o, ",\"name\":");
			put_jstr(o, rec->name);
		}
		return;
	}
	puts_raw(o, "\"client\":");
	put_jstr(o, ip);
	if (rec->has_mac)
		putf(o, ",\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\"", rec->mac[0], rec->mac[1], rec->mac[2],
		     rec->mac[3], rec->mac[4], rec->mac[5]);
	if (rec->name[0]) {
		puts_raw(o, ",\"name\":");
		put_jstr(o, rec->name);
	}
}

/* ,"vendor":"..." (null when no registration covers the MAC) and ,"made":"PRC" for a vendor
 * registered in CN, HK or MO: information about the device, never an input to the policy. */
static void put_vendor(struct out *o, const struct qlog_rec *rec, const struct oui *oui)
{
	const struct oui_vendor *v;

	if (!rec->has_mac || !oui)
		return;
	v = oui_lookup(oui, rec->mac);
	puts_raw(o, ",\"vendor\":");
	if (v)
		put_jstr(o, v->name);
	else
		puts_raw(o, "null");
	if (v && v->prc)
		puts_raw(o, ",\"made\":\"PRC\"");
}

size_t qlog_format(const struct qlog_rec *rec, enum client_id_mode id_mode, const uint8_t *key,
		   size_t keylen, const struct oui *oui, char *buf, size_t buflen)
{
	struct out o = { buf, buflen, false };
	char tmp[DNS_MAX_NAME * 4 + 8], t2[32];
	time_t secs = (time_t)(rec->ts_ms / 1000);
	struct tm tm;
	const struct label *l = rec->label;

	gmtime_r(&secs, &tm);
	strftime(t2, sizeof(t2), "%Y-%m-%dT%H:%M:%S", &tm);
	putf(&o, "{\"ts\":\"%s.%03uZ\",", t2, (unsigned)(rec->ts_ms % 1000));
	put_client(&o, rec, id_mode, key, keylen);
	put_vendor(&o, rec, oui);
	wire_name_str(rec->qname, rec->qname_len, tmp, sizeof(tmp));
	size_t tl = strlen(tmp);
	if (tl > 1 && tmp[tl - 1] == '.')
		tmp[tl - 1] = 0;
	puts_raw(&o, ",\"qname\":");
	put_jstr(&o, tmp);
	putf(&o, ",\"qtype\":\"%s\"", qtype_name(rec->qtype, t2, sizeof(t2)));
	putf(&o, ",\"rcode\":\"%s\"", rcode_name(rec->rcode, t2, sizeof(t2)));
	putf(&o, ",\"cached\":%s", rec->cached ? "true" : "false");
	if (rec->upstream_name[0]) {
		puts_raw(&o, ",\"upstream\":");
		put_jstr(&o, rec->upstream_name);
	} else {
		puts_raw(&o, ",\"upstream\":null");
	}
	putf(&o, ",\"latency_ms\":%u.%03u", rec->latency_us / 1000, rec->latency_us % 1000);
	puts_raw(&o, ",\"answers\":[");
	for (unsigned i = 0; l && i < l->naddrs; i++) {
		const struct label_addr *a = &l->addrs[i];
		char ip[64];
		if (a->v6)
			inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		else
			inet_ntop(AF_INET, a->ip + 12, ip, sizeof(ip));
		putf(&o, "%s{\"ip\":\"%s\",\"country\":", i ? "," : "", ip);
		if (a->cc[0])
			put_jstr(&o, a->cc);
		else
			puts_raw(&o, "\"unknown\"");
		if (a->asn)
			putf(&o, ",\"asn\":%u", a->asn);
		else
			puts_raw(&o, ",\"asn\":null");
		puts_raw(&o, ",\"as_org\":");
		if (a->org[0])
			put_jstr(&o, a->org);
		else
			puts_raw(&o, "null");
		put(&o, "}", 1);
	}
	puts_raw(&o, "]");
	if (l && l->total_addrs > l->naddrs)
		putf(&o, ",\"answers_omitted\":%u", (unsigned)(l->total_addrs - l->naddrs));
	puts_raw(&o, ",\"labels\":[");
	for (unsigned i = 0; l && i < l->nreasons; i++) {
		const struct label_reason *r = &l->reasons[i];
		snprintf(tmp, sizeof(tmp), "%s:%s", label_kind_names[r->kind], r->detail);
		putf(&o, "%s{\"group\":", i ? "," : "");
		put_jstr(&o, r->group);
		puts_raw(&o, ",\"reason\":");
		put_jstr(&o, tmp);
		put(&o, "}", 1);
	}
	putf(&o, "],\"action\":\"%s\"}\n", rec->action ? rec->action : "pass");
	if (o.overflow)
		return 0;
	return (size_t)(o.p - buf);
}
