/* tls_ctx_test.c - unit tests for src/tls_ctx.h: session tickets and the rotation of their keys.
 * A server context from tls_ctx_make() (its self-signed certificate made in a temporary
 * tls_dir) and a plain client context shake hands entirely in memory, over a BIO pair, while
 * the rotation clock (tls_ctx_set_clock) is moved by hand: a ticket resumes within its key's
 * period, resumes and is renewed with the next key in the period after, and is refused (a full
 * handshake that still succeeds) once its key is two rotations old. The first 16 bytes of a
 * ticket are the name of the key that sealed it, which shows which key the server used. Both
 * TLS 1.3 and TLS 1.2. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "tls_ctx.h"

#define HOUR 3600
#define PERIOD (12 * HOUR) /* TLS_TICKET_ROTATE_S in tls_ctx.c */

/* --- the injected clock --- */

static time_t fake_now = 1700000000;

static time_t fake_clock(void)
{
	return fake_now;
}

/* --- the server context, made once --- */

static char tmpdir[] = "/tmp/tls_ctx_test.XXXXXX";
static SSL_CTX *srv_ctx;

static int group_setup(void **state)
{
	struct conf *c = calloc(1, sizeof(*c));
	char pin[64], err[512] = "";

	(void)state;
	if (!c || !mkdtemp(tmpdir)) {
		free(c);
		return -1;
	}
	snprintf(c->tls_dir, sizeof(c->tls_dir), "%s", tmpdir);
	srv_ctx = tls_ctx_make(c, true, pin, sizeof(pin), err, sizeof(err));
	free(c);
	if (!srv_ctx) {
		fprintf(stderr, "tls_ctx_make: %s\n", err);
		return -1;
	}
	tls_ctx_set_clock(fake_clock);
	return 0;
}

static int group_teardown(void **state)
{
	char p[600];

	(void)state;
	tls_ctx_set_clock(NULL);
	SSL_CTX_free(srv_ctx);
	snprintf(p, sizeof(p), "%s/cert.pem", tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/key.pem", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	return 0;
}

/* --- one connection in memory --- */

struct hs {
	bool ok;            /* handshake done on both sides and a byte went each way */
	bool reused;        /* the client resumed (SSL_session_reused) */
	SSL_SESSION *sess;  /* the client's session after the connection, resumable */
	unsigned char name[16]; /* the key name at the head of sess's ticket */
};

/* An SSL call's result is fine when it is done or only waits for the peer. */
static bool ssl_wait(SSL *s, int rc)
{
	int e = SSL_get_error(s, rc);

	return rc > 0 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* Handshake until both sides are done (bounded). */
static bool pump_handshake(SSL *cli, SSL *srv)
{
	for (int i = 0; i < 50; i++) {
		int rc = SSL_do_handshake(cli), rs = SSL_do_handshake(srv);

		if (rc == 1 && rs == 1)
			return true;
		if (!ssl_wait(cli, rc) || !ssl_wait(srv, rs))
			return false;
	}
	return false;
}

/* Write one byte on from and read it on to (bounded): to also takes in what came before it,
 * such as TLS 1.3's NewSessionTicket messages. */
static bool pump_byte(SSL *from, SSL *to, char c)
{
	char got = 0;

	if (SSL_write(from, &c, 1) != 1)
		return false;
	for (int i = 0; i < 50; i++) {
		int r = SSL_read(to, &got, 1);

		if (r == 1)
			return got == c;
		if (!ssl_wait(to, r))
			return false;
	}
	return false;
}

/* Connect a client of TLS version ver to srv_ctx, offering resume (NULL: none). */
static struct hs hs_connect(int ver, SSL_SESSION *resume)
{
	struct hs h = { 0 };
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *cli = NULL, *srv = NULL;
	BIO *bc = NULL, *bs = NULL;

	assert_non_null(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	assert_int_equal(SSL_CTX_set_min_proto_version(cctx, ver), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(cctx, ver), 1);
	assert_non_null(cli = SSL_new(cctx));
	assert_non_null(srv = SSL_new(srv_ctx));
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(cli, bc, bc);
	SSL_set_bio(srv, bs, bs);
	SSL_set_connect_state(cli);
	SSL_set_accept_state(srv);
	if (resume)
		assert_int_equal(SSL_set_session(cli, resume), 1);

	h.ok = pump_handshake(cli, srv) && pump_byte(cli, srv, 'q') && pump_byte(srv, cli, 'a');
	if (h.ok) {
		assert_int_equal(SSL_version(cli), ver);
		h.reused = SSL_session_reused(cli) == 1;
		assert_int_equal(SSL_session_reused(srv), h.reused);
		h.sess = SSL_get1_session(cli);
		assert_non_null(h.sess);
		const unsigned char *tick = NULL;
		size_t len = 0;
		SSL_SESSION_get0_ticket(h.sess, &tick, &len);
		assert_true(len > sizeof(h.name));
		memcpy(h.name, tick, sizeof(h.name));
		/* a close_notify each way: an SSL freed without one marks its session not resumable */
		assert_true(SSL_shutdown(cli) >= 0);
		assert_true(SSL_shutdown(srv) >= 0);
	} else {
		ERR_print_errors_fp(stderr);
	}
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	if (h.sess)
		assert_true(SSL_SESSION_is_resumable(h.sess));
	return h;
}

/* --- the rotation --- */

static void check_rotation(int ver)
{
	/* far from the previous test's keys, which this run's first handshake pushes out */
	fake_now += 100 * PERIOD;
	const time_t t = fake_now;

	/* t: a full handshake, and a ticket sealed with the current key K0 */
	struct hs h0 = hs_connect(ver, NULL);
	assert_true(h0.ok);
	assert_false(h0.reused);

	/* t + 1 h: the ticket resumes; K0 is still current, so the ticket is not renewed (any
	 * new one would be sealed with K0 too) */
	fake_now = t + HOUR;
	struct hs h1 = hs_connect(ver, h0.sess);
	assert_true(h1.ok);
	assert_true(h1.reused);
	assert_memory_equal(h1.name, h0.name, sizeof(h0.name));

	/* t + 13 h: one rotation; K0 is now the previous key: it still resumes, and the ticket
	 * is renewed, sealed with the new key K1 */
	fake_now = t + PERIOD + HOUR;
	struct hs h2 = hs_connect(ver, h0.sess);
	assert_true(h2.ok);
	assert_true(h2.reused);
	assert_memory_not_equal(h2.name, h0.name, sizeof(h0.name));

	/* t + 13 h + 1 s: the renewed ticket resumes with K1, the current key */
	fake_now = t + PERIOD + HOUR + 1;
	struct hs h3 = hs_connect(ver, h2.sess);
	assert_true(h3.ok);
	assert_true(h3.reused);
	assert_memory_equal(h3.name, h2.name, sizeof(h2.name));

	/* t + 25 h: a second rotation (K2) drops K0: the old ticket gets a full handshake, which
	 * succeeds, and a new ticket sealed with K2 */
	fake_now = t + 2 * PERIOD + HOUR;
	struct hs h4 = hs_connect(ver, h0.sess);
	assert_true(h4.ok);
	assert_false(h4.reused);
	assert_memory_not_equal(h4.name, h0.name, sizeof(h0.name));
	assert_memory_not_equal(h4.name, h2.name, sizeof(h2.name));

	/* ... while the renewed ticket (K1, now the previous key) still resumes, renewed to K2 */
	struct hs h5 = hs_connect(ver, h2.sess);
	assert_true(h5.ok);
	assert_true(h5.reused);
	assert_memory_equal(h5.name, h4.name, sizeof(h4.name));

	/* no handshake for three periods (keys turn only at handshakes): K2 is past its time as
	 * the previous key too, so its ticket gets a full handshake */
	fake_now = t + 5 * PERIOD + HOUR;
	struct hs h6 = hs_connect(ver, h5.sess);
	assert_true(h6.ok);
	assert_false(h6.reused);
	assert_memory_not_equal(h6.name, h5.name, sizeof(h5.name));

	SSL_SESSION_free(h6.sess);
	SSL_SESSION_free(h0.sess);
	SSL_SESSION_free(h1.sess);
	SSL_SESSION_free(h2.sess);
	SSL_SESSION_free(h3.sess);
	SSL_SESSION_free(h4.sess);
	SSL_SESSION_free(h5.sess);
}

static void test_rotation_tls13(void **state)
{
	(void)state;
	check_rotation(TLS1_3_VERSION);
}

static void test_rotation_tls12(void **state)
{
	(void)state;
	check_rotation(TLS1_2_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotation_tls13),
		cmocka_unit_test(test_rotation_tls12),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
