/* web_auth_test.c - the console's login: yescrypt hashes, the hash file, sessions, CSRF and
 * the per-source login limit. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "addr.h"
#include "web_auth.h"

static void test_hash_and_verify(void **state)
{
	char hash[WEB_HASH_MAX], hash2[WEB_HASH_MAX], err[200];

	(void)state;
	assert_int_equal(web_auth_hash("correct horse", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "$y$", 3);
	assert_int_equal(web_auth_verify("correct horse", hash), 1);
	assert_int_equal(web_auth_verify("correct horsf", hash), 0);
	assert_int_equal(web_auth_verify("correct horse", ""), 0);
	assert_int_equal(web_auth_verify("correct horse", "*0"), 0);
	assert_int_equal(web_auth_hash("correct horse", hash2, sizeof(hash2), err, sizeof(err)), 0);
	assert_string_not_equal(hash, hash2); /* salted */
}

static void test_password_file(void **state)
{
	char path[] = "/tmp/jd-web-auth-XXXXXX", hash[WEB_HASH_MAX], err[300];
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(web_auth_check_file(path, "pw", err, sizeof(err)), -1); /* empty */
	assert_int_equal(web_auth_hash("s3cret-pass", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s\n", hash);
	fclose(f);
	assert_int_equal(web_auth_check_file(path, "s3cret-pass", err, sizeof(err)), 1);
	assert_int_equal(web_auth_check_file(path, "wrong", err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(web_auth_check_file(path, "s3cret-pass", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "web passwd"));
}

static void test_sessions_expire_and_end(void **state)
{
	char id[WEB_SESSION_HEX], id2[WEB_SESSION_HEX], cookie[256];

	(void)state;
	web_auth_reset();
	assert_int_equal(web_auth_session_new(12, 1000, id), 0);
	assert_int_equal(strlen(id), 64);
	assert_true(web_auth_session_valid(id, 1000));
	assert_true(web_auth_session_valid(id, 1000 + 12 * 3600 - 1));
	assert_false(web_auth_session_valid(id, 1000 + 12 * 3600));
	assert_false(web_auth_session_valid(id, 1000)); /* gone for good */
	assert_int_equal(web_auth_session_new(1, 1000, id2), 0);
	assert_string_not_equal(id, id2);
	web_auth_session_end(id2);
	assert_false(web_auth_session_valid(id2, 1000));
	assert_false(web_auth_session_valid(NULL, 1000));
	assert_false(web_auth_session_valid("", 1000));
	web_auth_cookie(id, 3600, true, cookie, sizeof(cookie));
	assert_non_null(strstr(cookie, "jd_session="));
	assert_non_null(strstr(cookie, "; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600; Secure"));
	web_auth_cookie(NULL, 0, false, cookie, sizeof(cookie));
	assert_string_equal(cookie, "jd_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
}

static void test_csrf(void **state)
{
	struct addr a, b;
	char err[64], t1[WEB_CSRF_HEX], t2[WEB_CSRF_HEX], ts[WEB_CSRF_HEX], sid[WEB_SESSION_HEX];

	(void)state;
	assert_int_equal(addr_parse("192.168.1.23:5000", 0, &a, err, sizeof(err)), 0);
	assert_int_equal(addr_parse("192.168.1.24:5000", 0, &b, err, sizeof(err)), 0);
	web_auth_csrf(NULL, &a, t1);
	web_auth_csrf(NULL, &b, t2);
	assert_int_equal(strlen(t1), 64);
	assert_string_not_equal(t1, t2);
	assert_true(web_auth_csrf_ok(NULL, &a, t1));
	assert_false(web_auth_csrf_ok(NULL, &b, t1));
	assert_false(web_auth_csrf_ok(NULL, &a, NULL));
	assert_false(web_auth_csrf_ok(NULL, &a, ""));
	assert_int_equal(web_auth_session_new(1, time(NULL), sid), 0);
	web_auth_csrf(sid, &a, ts);
	assert_string_not_equal(ts, t1);
	assert_true(web_auth_csrf_ok(sid, &b, ts)); /* a session's token, from any address */
	assert_false(web_auth_csrf_ok(sid, &a, t1));
}

static void test_login_rate_limit(void **state)
{
	struct addr a, b;
	char err[64];
	time_t now = 100000;

	(void)state;
	web_auth_reset();
	assert_int_equal(addr_parse("10.0.0.5:1", 0, &a, err, sizeof(err)), 0);
	assert_int_equal(addr_parse("10.0.0.6:1", 0, &b, err, sizeof(err)), 0);
	for (int i = 0; i < WEB_LOGIN_FAILURES - 1; i++) {
		assert_int_equal(web_auth_login_wait(&a, now + i), 0);
		assert_int_equal(web_auth_login_failed(&a, now + i), 0);
	}
	assert_int_equal(web_auth_login_failed(&a, now + 10), WEB_LOGIN_WINDOW - 10);
	assert_int_equal(web_auth_login_wait(&a, now + 20), WEB_LOGIN_WINDOW - 20);
	assert_int_equal(web_auth_login_wait(&b, now + 20), 0); /* per source */
	assert_int_equal(web_auth_login_wait(&a, now + WEB_LOGIN_WINDOW), 0);
	/* a success forgets the failures */
	web_auth_login_failed(&b, now);
	web_auth_login_ok(&b);
	for (int i = 0; i < WEB_LOGIN_FAILURES - 1; i++)
		assert_int_equal(web_auth_login_failed(&b, now + i), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_and_verify),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_sessions_expire_and_end),
		cmocka_unit_test(test_csrf),
		cmocka_unit_test(test_login_rate_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
