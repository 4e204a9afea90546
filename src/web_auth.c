/* web_auth.c - the console's admin login. The password file holds one crypt(3) hash and is read
 * at each login; only libcrypt sees the password. Sessions and login failures live in small
 * fixed tables (a household has a handful of admins and browsers): the oldest entry makes room,
 * so a flood of sources costs no memory. Session ids and the CSRF key come from RAND_bytes. */
#include "config.h"
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "web_auth.h"

#define SESSIONS 64
#define SOURCES 256

struct wa_session {
	char id[WEB_SESSION_HEX];    /* "" = free */
	time_t expires, created;
};

struct wa_source {
	uint8_t ip[16];
	bool used;
	unsigned n;                  /* failures in fail[] (a ring of the last WEB_LOGIN_FAILURES) */
	time_t fail[WEB_LOGIN_FAILURES];
	time_t last;
};

static pthread_mutex_t wa_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wa_session wa_sessions[SESSIONS];
static struct wa_source wa_sources[SOURCES];
static uint8_t wa_key[32];
static bool wa_keyed;

static void wa_hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

int web_auth_hash(const char *password, char *out, size_t outlen, char *err, size_t errlen)
{
	char *setting = crypt_gensalt_ra("$y$", 0, NULL, 0);
	void *data = NULL;
	int size = 0;
	const char *h;
	int rc = -1;

	if (!setting) {
		snprintf(err, errlen, "crypt_gensalt: %s", strerror(errno));
		return -1;
	}
	h = crypt_ra(password, setting, &data, &size);
	if (!h || h[0] == '*')
		snprintf(err, errlen, "crypt: %s", strerror(errno ? errno : EINVAL));
	else if (strlen(h) >= outlen)
		snprintf(err, errlen, "crypt: the hash is too long");
	else {
		strcpy(out, h);
		rc = 0;
	}
	if (data)
		explicit_bzero(data, (size_t)size);
	free(data);
	free(setting);
	return rc;
}

int web_auth_verify(const char *password, const char *hash)
{
	void *data = NULL;
	int size = 0, ok = 0;
	const char *h;
	size_t hl = strlen(hash);

	if (hl < 4 || hash[0] != '$')
		return 0;
	h = crypt_ra(password, hash, &data, &size);
	if (h && h[0] != '*' && strlen(h) == hl && CRYPTO_memcmp(h, hash, hl) == 0)
		ok = 1;
	if (data)
		explicit_bzero(data, (size_t)size);
	free(data);
	return ok;
}

int web_auth_check_file(const char *path, const char *password, char *err, size_t errlen)
{
	char line[WEB_HASH_MAX + 2];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s (set a password with `jurisdns-ctl web passwd`)", path,
			 strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		snprintf(err, errlen, "%s: empty (set a password with `jurisdns-ctl web passwd`)", path);
		return -1;
	}
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = 0;
	if (n < 4 || line[0] != '$') {
		snprintf(err, errlen, "%s: the first line is not a crypt(3) hash", path);
		return -1;
	}
	return web_auth_verify(password, line);
}

/* --- failed logins per source --- */

static struct wa_source *wa_source_find(const struct addr *src, bool create, time_t now)
{
	uint8_t ip[16];
	struct wa_source *oldest = NULL;

	addr_to_v6(&src->u.sa, ip);
	for (unsigned i = 0; i < SOURCES; i++) {
		struct wa_source *s = &wa_sources[i];
		if (s->used && !memcmp(s->ip, ip, 16))
			return s;
		if (!oldest || !s->used || (oldest->used && s->last < oldest->last))
			oldest = s;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	memcpy(oldest->ip, ip, 16);
	oldest->used = true;
	oldest->last = now;
	return oldest;
}

/* Seconds left of the lockout of s: WEB_LOGIN_FAILURES failures, the oldest within the window. */
static unsigned wa_wait(const struct wa_source *s, time_t now)
{
	time_t oldest;

	if (!s || s->n < WEB_LOGIN_FAILURES)
		return 0;
	oldest = s->fail[s->n % WEB_LOGIN_FAILURES];
	for (unsigned i = 0; i < WEB_LOGIN_FAILURES; i++)
		if (s->fail[i] < oldest)
			oldest = s->fail[i];
	if (now >= oldest + WEB_LOGIN_WINDOW)
		return 0;
	return (unsigned)(oldest + WEB_LOGIN_WINDOW - now);
}

unsigned web_auth_login_wait(const struct addr *src, time_t now)
{
	pthread_mutex_lock(&wa_lock);
	unsigned w = wa_wait(wa_source_find(src, false, now), now);
	pthread_mutex_unlock(&wa_lock);
	return w;
}

unsigned web_auth_login_failed(const struct addr *src, time_t now)
{
	pthread_mutex_lock(&wa_lock);
	struct wa_source *s = wa_source_find(src, true, now);
	s->fail[s->n % WEB_LOGIN_FAILURES] = now;
	s->n++;
	if (s->n >= 2 * WEB_LOGIN_FAILURES)
		s->n -= WEB_LOGIN_FAILURES; /* the ring's position is all that matters */
	s->last = now;
	unsigned w = wa_wait(s, now);
	pthread_mutex_unlock(&wa_lock);
	return w;
}

void web_auth_login_ok(const struct addr *src)
{
	pthread_mutex_lock(&wa_lock);
	struct wa_source *s = wa_source_find(src, false, 0);
	if (s)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&wa_lock);
}

/* --- sessions --- */

int web_auth_session_new(unsigned hours, time_t now, char id[WEB_SESSION_HEX])
{
	uint8_t r[32];
	struct wa_session *slot = NULL;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	wa_hex(r, sizeof(r), id);
	pthread_mutex_lock(&wa_lock);
	for (unsigned i = 0; i < SESSIONS; i++) {
		struct wa_session *s = &wa_sessions[i];
		if (!s->id[0] || s->expires <= now) {
			slot = s;
			break;
		}
		if (!slot || s->created < slot->created)
			slot = s;
	}
	memcpy(slot->id, id, WEB_SESSION_HEX);
	slot->created = now;
	slot->expires = now + (time_t)hours * 3600;
	pthread_mutex_unlock(&wa_lock);
	return 0;
}

static struct wa_session *wa_session_find(const char *id)
{
	if (!id || strlen(id) != WEB_SESSION_HEX - 1)
		return NULL;
	for (unsigned i = 0; i < SESSIONS; i++)
		if (wa_sessions[i].id[0] && CRYPTO_memcmp(wa_sessions[i].id, id, WEB_SESSION_HEX - 1) == 0)
			return &wa_sessions[i];
	return NULL;
}

bool web_auth_session_valid(const char *id, time_t now)
{
	pthread_mutex_lock(&wa_lock);
	struct wa_session *s = wa_session_find(id);
	bool ok = s && s->expires > now;
	if (s && !ok)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&wa_lock);
	return ok;
}

void web_auth_session_end(const char *id)
{
	pthread_mutex_lock(&wa_lock);
	struct wa_session *s = wa_session_find(id);
	if (s)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&wa_lock);
}

size_t web_auth_cookie(const char *id, unsigned max_age, bool secure, char *buf, size_t len)
{
	int n = snprintf(buf, len, WEB_SESSION_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%u%s",
			 id ? id : "", id ? max_age : 0, secure ? "; Secure" : "");

	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

/* --- CSRF --- */

static void wa_csrf(const char *session, const struct addr *peer, char out[WEB_CSRF_HEX])
{
	uint8_t msg[1 + WEB_SESSION_HEX], mac[32];
	size_t mlen;

	if (!wa_keyed) {
		if (RAND_bytes(wa_key, sizeof(wa_key)) != 1) {
			out[0] = 0; /* no token matches "" below */
			return;
		}
		wa_keyed = true;
	}
	if (session && *session) {
		mlen = strnlen(session, WEB_SESSION_HEX - 1);
		msg[0] = 's';
		memcpy(msg + 1, session, mlen);
	} else {
		msg[0] = 'a';
		addr_to_v6(&peer->u.sa, msg + 1);
		mlen = 16;
	}
	size_t got = 0;
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, wa_key, sizeof(wa_key), msg, mlen + 1, mac,
		       sizeof(mac), &got) || got != sizeof(mac)) {
		out[0] = 0;
		return;
	}
	wa_hex(mac, 32, out);
}

void web_auth_csrf(const char *session, const struct addr *peer, char out[WEB_CSRF_HEX])
{
	pthread_mutex_lock(&wa_lock);
	wa_csrf(session, peer, out);
	pthread_mutex_unlock(&wa_lock);
}

bool web_auth_csrf_ok(const char *session, const struct addr *peer, const char *token)
{
	char want[WEB_CSRF_HEX];

	if (!token || strlen(token) != WEB_CSRF_HEX - 1)
		return false;
	web_auth_csrf(session, peer, want);
	return want[0] && CRYPTO_memcmp(want, token, WEB_CSRF_HEX - 1) == 0;
}

void web_auth_reset(void)
{
	pthread_mutex_lock(&wa_lock);
	memset(wa_sessions, 0, sizeof(wa_sessions));
	memset(wa_sources, 0, sizeof(wa_sources));
	pthread_mutex_unlock(&wa_lock);
}
