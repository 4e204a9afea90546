/* qlog_write.c - the query log's JSON-lines writer on the control thread (see qlog_write.h). */
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "hmac.h"
#include "json.h"
#include "label.h"
#include "log.h"
#include "identity.h"
#include "qlog_write.h"
#include "util.h"
#include "wire.h"

#define WRITE_BUF (1 << 20)          /* write out once this much is buffered */
#define HASH_KEY_MAX 128             /* as long as [log] client_hash_key may be */

struct qlog_writer {
	char *path;
	int fd;
	enum client_id_mode id_mode;
	struct hmac *idh;            /* keyed with client_hash_key (or a random key) */
	struct strbuf out;           /* formatted lines not written yet */
	uint64_t dropped_reported;
	uint64_t lost_oom;           /* lines not formatted for want of memory */
	struct oui *oui;             /* vendors, NULL when off; looked up here, never in a worker */
	void (*tap)(const struct qlog_rec *, void *); /* the console's live feed, or NULL */
	void *tap_ctx;
};

/* --- one line --- */

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

/* "client" and, by mode, "mac" and "name". The hash never comes with either: it would undo it. */
static void qlog_put_client(struct jw *j, const struct qlog_rec *rec, enum client_id_mode mode,
			    struct hmac *idh)
{
	char ip[64], mac[18];
	const struct sockaddr *sa = &rec->client.u.sa;

	if (mode == CLIENT_ID_HASH) {
		uint8_t id[16], h[32];
		size_t idlen;
		char hex[2 + 16 + 1];
		if (rec->has_mac) {
			memcpy(id, rec->mac, 6);
			idlen = 6;
		} else {
			addr_to_v6(sa, id);
			idlen = 16;
		}
		hmac_sha256(idh, id, idlen, h); /* zeroes on an OpenSSL failure: never the address */
		snprintf(hex, sizeof(hex), "h:%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3],
			 h[4], h[5], h[6], h[7]);
		jw_key(j, "client");
		jw_str(j, hex);
		return;
	}
	jw_key(j, "client");
	if (mode == CLIENT_ID_MAC && rec->has_mac) {
		identity_text(rec->mac, NULL, mac, sizeof(mac));
		jw_str(j, mac);
	} else {
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &rec->client.u.sin.sin_addr, ip, sizeof(ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &rec->client.u.sin6.sin6_addr, ip, sizeof(ip));
		else
			strcpy(ip, "?");
		jw_str(j, ip);
		if (rec->has_mac) {
			identity_text(rec->mac, NULL, mac, sizeof(mac));
			jw_key(j, "mac");
			jw_str(j, mac);
		}
	}
	if (rec->name[0]) {
		jw_key(j, "name");
		jw_strn(j, rec->name, strnlen(rec->name, sizeof(rec->name)));
	}
}

/* "vendor" (null when no registration covers the MAC) and "made":"PRC" for a vendor registered
 * in CN, HK or MO: information about the device, never an input to the policy. */
static void qlog_put_vendor(struct jw *j, const struct qlog_rec *rec, const struct oui *oui)
{
	const struct oui_vendor *v;

	if (!rec->has_mac || !oui)
		return;
	v = oui_lookup(oui, rec->mac);
	jw_key(j, "vendor");
	jw_str(j, v ? v->name : NULL);
	if (v && v->prc) {
		jw_key(j, "made");
		jw_str(j, "PRC");
	}
}

static void qlog_put_answers(struct jw *j, const struct label *l)
{
	jw_key(j, "answers");
	jw_arr(j);
	for (unsigned i = 0; l && i < l->naddrs; i++) {
		const struct label_addr *a = &l->addrs[i];
		char ip[64];
		if (a->v6)
			inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		else
			inet_ntop(AF_INET, a->ip + 12, ip, sizeof(ip));
		jw_obj(j);
		jw_key(j, "ip");
		jw_str(j, ip);
		jw_key(j, "country");
		jw_str(j, a->cc[0] ? a->cc : "unknown");
		jw_key(j, "asn");
		if (a->asn)
			jw_uint(j, a->asn);
		else
			jw_null(j);
		jw_key(j, "as_org");
		jw_str(j, a->org[0] ? a->org : NULL);
		jw_obj_end(j);
	}
	jw_arr_end(j);
	if (l && l->total_addrs > l->naddrs) {
		jw_key(j, "answers_omitted");
		jw_uint(j, (unsigned)(l->total_addrs - l->naddrs));
	}
}

static void qlog_put_labels(struct jw *j, const struct label *l)
{
	char reason[128];

	jw_key(j, "labels");
	jw_arr(j);
	for (unsigned i = 0; l && i < l->nreasons; i++) {
		const struct label_reason *r = &l->reasons[i];
		snprintf(reason, sizeof(reason), "%s:%s", label_kind_names[r->kind], r->detail);
		jw_obj(j);
		jw_key(j, "group");
		jw_str(j, r->group);
		jw_key(j, "reason");
		jw_str(j, reason);
		jw_obj_end(j);
	}
	jw_arr_end(j);
}

/* RFC 3339 UTC with milliseconds, "2026-11-23T10:40:40.805Z", without stdio: once a line. */
static void qlog_ts(uint64_t ts_ms, char out[32])
{
	time_t secs = (time_t)(ts_ms / 1000);
	unsigned ms = (unsigned)(ts_ms % 1000), f[6];
	struct tm tm;
	char *p = out;

	if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		snprintf(out, 32, "%lld.%03uZ", (long long)secs, ms); /* never from a real clock */
		return;
	}
	f[0] = (unsigned)tm.tm_year + 1900;
	f[1] = (unsigned)tm.tm_mon + 1;
	f[2] = (unsigned)tm.tm_mday;
	f[3] = (unsigned)tm.tm_hour;
	f[4] = (unsigned)tm.tm_min;
	f[5] = (unsigned)tm.tm_sec;
	for (int i = 0; i < 6; i++) {
		if (i == 0) {
			*p++ = (char)('0' + f[0] / 1000);
			*p++ = (char)('0' + f[0] / 100 % 10);
		}
		*p++ = (char)('0' + f[i] / 10 % 10);
		*p++ = (char)('0' + f[i] % 10);
		*p++ = "--T::."[i];
	}
	*p++ = (char)('0' + ms / 100);
	*p++ = (char)('0' + ms / 10 % 10);
	*p++ = (char)('0' + ms % 10);
	*p++ = 'Z';
	*p = 0;
}

/* Append rec's line to out. Returns false when memory ran out (out->oom is set). */
static bool qlog_line(const struct qlog_rec *rec, enum client_id_mode mode, struct hmac *idh,
		      const struct oui *oui, struct strbuf *out)
{
	char name[DNS_MAX_NAME * 4 + 8], t[48], ts[32];
	struct jw j;
	size_t nl;

	jw_init(&j, out);
	jw_obj(&j);
	qlog_ts(rec->ts_ms, ts);
	jw_key(&j, "ts");
	jw_str(&j, ts);
	qlog_put_client(&j, rec, mode, idh);
	qlog_put_vendor(&j, rec, oui);
	wire_name_str(rec->qname, rec->qname_len, name, sizeof(name));
	nl = strlen(name);
	if (nl > 1 && name[nl - 1] == '.')
		name[nl - 1] = 0;
	jw_key(&j, "qname");
	jw_str(&j, name);
	jw_key(&j, "qtype");
	jw_str(&j, qtype_name(rec->qtype, t, sizeof(t)));
	jw_key(&j, "rcode");
	jw_str(&j, rcode_name(rec->rcode, t, sizeof(t)));
	jw_key(&j, "cached");
	jw_bool(&j, rec->cached);
	jw_key(&j, "upstream");
	jw_str(&j, rec->upstream_name[0] ? rec->upstream_name : NULL);
	if (rec->transport) { /* the client's transport: "udp", "tcp", "dot" */
		jw_key(&j, "transport");
		jw_str(&j, rec->transport);
	}
	jw_key(&j, "latency_ms");
	jw_fixed(&j, rec->latency_us, 3);
	qlog_put_answers(&j, rec->label);
	qlog_put_labels(&j, rec->label);
	jw_key(&j, "action");
	jw_str(&j, rec->action ? rec->action : "pass");
	jw_obj_end(&j);
	sb_put(out, "\n", 1);
	return jw_ok(&j);
}

size_t qlog_format(const struct qlog_rec *rec, enum client_id_mode id_mode, const uint8_t *key,
		   size_t keylen, const struct oui *oui, char *buf, size_t buflen)
{
	struct strbuf sb = { 0 };
	struct hmac *idh = NULL;
	char err[256];
	size_t n = 0;

	if (id_mode == CLIENT_ID_HASH && !(idh = hmac_new(key, keylen, err, sizeof(err))))
		return 0;
	if (qlog_line(rec, id_mode, idh, oui, &sb) && sb.len <= buflen) {
		memcpy(buf, sb.s, sb.len);
		n = sb.len;
	}
	hmac_free(idh);
	sb_free(&sb);
	return n;
}

/* --- the file --- */

static int qlog_open(const char *path)
{
	if (!strcmp(path, "-"))
		return dup(STDOUT_FILENO);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

struct qlog_writer *qlog_writer_new(const char *path, enum client_id_mode id_mode,
				    const char *hash_key, char *err, size_t errlen)
{
	struct qlog_writer *w = calloc(1, sizeof(*w));
	uint8_t key[HASH_KEY_MAX];
	size_t keylen;

	if (!w || !(w->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->fd = -1;
	w->id_mode = id_mode;
	if (hash_key && *hash_key) {
		keylen = strlen(hash_key) < sizeof(key) ? strlen(hash_key) : sizeof(key);
		memcpy(key, hash_key, keylen);
	} else {
		/* no key configured: hashes are stable only until the next restart */
		keylen = 32;
		if (getrandom(key, keylen, 0) != (ssize_t)keylen) {
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			goto fail;
		}
	}
	w->idh = hmac_new(key, keylen, err, errlen);
	explicit_bzero(key, sizeof(key));
	if (!w->idh)
		goto fail;
	if ((w->fd = qlog_open(path)) < 0) {
		snprintf(err, errlen, "query_log %s: %s", path, strerror(errno));
		goto fail;
	}
	return w;
fail:
	if (w) {
		hmac_free(w->idh);
		free(w->path);
		free(w);
	}
	return NULL;
}

int qlog_writer_reopen(struct qlog_writer *w)
{
	int fd = qlog_open(w->path);

	if (fd < 0) {
		log_err("query_log %s: cannot reopen: %s (still writing to the old file)", w->path,
			strerror(errno));
		return -1;
	}
	close(w->fd);
	w->fd = fd;
	return 0;
}

static void qlog_flush(struct qlog_writer *w)
{
	size_t off = 0, len = w->out.len;

	while (off < len) {
		ssize_t n = write(w->fd, w->out.s + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("query_log %s: write failed: %s (%zu bytes lost)", w->path, strerror(errno),
				len - off);
			break;
		}
		off += (size_t)n;
	}
	w->out.len = 0; /* the buffer is kept for the next lines */
}

static void qlog_write_rec(const struct qlog_rec *rec, void *ctx)
{
	struct qlog_writer *w = ctx;
	size_t mark = w->out.len;

	if (w->tap)
		w->tap(rec, w->tap_ctx);

	if (!qlog_line(rec, w->id_mode, w->idh, w->oui, &w->out) && w->out.oom) {
		/* keep the whole lines before this one, lose this one, try again with the next */
		w->out.len = mark;
		if (w->out.s)
			w->out.s[mark] = 0;
		w->out.oom = 0;
		w->lost_oom++;
		qlog_flush(w);
	}
	if (w->out.len >= WRITE_BUF)
		qlog_flush(w);
}

size_t qlog_writer_drain(struct qlog_writer *w, struct qlog_ring *r)
{
	uint64_t lost = w->lost_oom;
	size_t n = qlog_ring_consume(r, qlog_write_rec, w);
	uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);

	qlog_flush(w);
	if (w->lost_oom != lost)
		log_err("query_log: out of memory, %llu lines lost so far",
			(unsigned long long)w->lost_oom);
	if (dropped != w->dropped_reported) {
		log_warn("query_log: %llu records dropped so far (the writer did not keep up)",
			 (unsigned long long)dropped);
		w->dropped_reported = dropped;
	}
	return n;
}

void qlog_writer_set_tap(struct qlog_writer *w, void (*fn)(const struct qlog_rec *, void *), void *ctx)
{
	w->tap = fn;
	w->tap_ctx = ctx;
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
	qlog_flush(w);
	oui_unref(w->oui);
	close(w->fd);
	hmac_free(w->idh);
	sb_free(&w->out);
	free(w->path);
	free(w);
}
