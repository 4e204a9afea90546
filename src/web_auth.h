/* web_auth.h - the console's admin login: the password's yescrypt hash (libcrypt) in a file,
 * sessions (random ids with an expiry, kept in memory), CSRF tokens (HMAC-SHA256 under a key
 * random per process) and a per-source limit on failed logins. Thread-safe: one mutex. */
#ifndef JD_WEB_AUTH_H
#define JD_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "addr.h"

#define WEB_SESSION_COOKIE "jd_session"
#define WEB_SESSION_HEX 65           /* 32 random bytes as hex, and the NUL */
#define WEB_CSRF_HEX 65
#define WEB_HASH_MAX 256             /* a crypt(3) hash, NUL included */
#define WEB_LOGIN_FAILURES 5         /* failed logins per source ... */
#define WEB_LOGIN_WINDOW 300         /* ... within this many seconds: 429 until the window ends */

/* The yescrypt hash ("$y$...") of password into out (>= WEB_HASH_MAX). Returns 0, or -1 with
 * the reason in err. */
int web_auth_hash(const char *password, char *out, size_t outlen, char *err, size_t errlen);
/* 1 when password matches hash (compared in constant time), 0 when not or hash is no hash. */
int web_auth_verify(const char *password, const char *hash);
/* Check password against the one-line hash file at path (read on every call, so a new
 * `jurisdns-ctl web passwd` applies at once). 1 match, 0 wrong, -1 no usable file (err). */
int web_auth_check_file(const char *path, const char *password, char *err, size_t errlen);

/* Seconds until src may try to log in again (0: it may now). */
unsigned web_auth_login_wait(const struct addr *src, time_t now);
/* Count a failed login of src. Returns the seconds it must now wait (0: none). */
unsigned web_auth_login_failed(const struct addr *src, time_t now);
/* A successful login of src forgets its failures. */
void web_auth_login_ok(const struct addr *src);

/* A new session lasting hours from now, its id (hex) in id. Returns 0, or -1 (no randomness).
 * The oldest session is dropped when the table is full. */
int web_auth_session_new(unsigned hours, time_t now, char id[WEB_SESSION_HEX]);
/* True when id names a session that has not expired (NULL or "" is false). */
bool web_auth_session_valid(const char *id, time_t now);
/* End the session id (logout); unknown ids are ignored. */
void web_auth_session_end(const char *id);
/* The Set-Cookie value for session id with max_age seconds (id NULL: one that clears it),
 * with Secure when secure. Returns the length (truncated to len - 1). */
size_t web_auth_cookie(const char *id, unsigned max_age, bool secure, char *buf, size_t len);

/* The CSRF token of a session (session not NULL or "") or else of the client address peer. */
void web_auth_csrf(const char *session, const struct addr *peer, char out[WEB_CSRF_HEX]);
/* True when token is the CSRF token for session or peer (constant-time compare). */
bool web_auth_csrf_ok(const char *session, const struct addr *peer, const char *token);

/* Forget every session and failure (tests). */
void web_auth_reset(void);

#endif
