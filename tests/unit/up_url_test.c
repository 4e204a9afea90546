/* up_url_test.c - unit tests for the upstream URL forms of src/up_tls.h: plain addresses keep
 * their old meaning (port 53 by default), tls:// and https:// need a port, a name and (DoH) a
 * path; every malformed form is refused with the expected shape in the message; the SPKI pin
 * is 44 characters of base64; and the TLS client context refuses a missing ca_file. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "up_tls.h"

static void test_plain_forms(void **state)
{
	struct up_url u;
	char err[300], buf[400];

	(void)state;
	assert_int_equal(up_url_parse("192.0.2.1", &u, err, sizeof(err)), 0);
	assert_int_equal(u.proto, UP_PLAIN);
	assert_string_equal(up_url_str(&u, buf, sizeof(buf)), "192.0.2.1:53");
	assert_int_equal(up_url_parse("[2001:db8::1]:5353", &u, err, sizeof(err)), 0);
	assert_int_equal(u.proto, UP_PLAIN);
	assert_string_equal(up_url_str(&u, buf, sizeof(buf)), "[2001:db8::1]:5353");
	assert_int_equal(up_url_parse("not-an-ip", &u, err, sizeof(err)), -1);
}

static void test_tls_form(void **state)
{
	struct up_url u;
	char err[300], buf[400];

	(void)state;
	assert_int_equal(up_url_parse("tls://192.0.2.1:853#dns.example", &u, err, sizeof(err)), 0);
	assert_int_equal(u.proto, UP_DOT);
	assert_string_equal(u.name, "dns.example");
	assert_int_equal(ntohs(u.addr.u.sin.sin_port), 853);
	assert_string_equal(up_url_str(&u, buf, sizeof(buf)), "tls://192.0.2.1:853#dns.example");
	assert_int_equal(up_url_parse("tls://[::1]:8853#dot.example", &u, err, sizeof(err)), 0);
	assert_int_equal(u.addr.u.sa.sa_family, AF_INET6);
	assert_string_equal(up_url_str(&u, buf, sizeof(buf)), "tls://[::1]:8853#dot.example");

	static const char *const bad[] = {
		"tls://1.2.3.4",             /* no port, no name */
		"tls://1.2.3.4:853",         /* no name */
		"tls://1.2.3.4#x.example",   /* no port */
		"tls://[::1]#x.example",     /* no port */
		"tls://1.2.3.4:853#",        /* empty name */
		"tls://1.2.3.4:853#a b",     /* not a host name */
		"tls://1.2.3.4:853#.x",
		"tls://host.example:853#x",  /* names are not resolved */
		"tls://1.2.3.4:99999#x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(up_url_parse(bad[i], &u, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "expected tls://IP:PORT#NAME"));
		assert_non_null(strstr(err, bad[i]));
	}
}

static void test_https_form(void **state)
{
	struct up_url u;
	char err[300], buf[400];

	(void)state;
	assert_int_equal(up_url_parse("https://192.0.2.1:443/dns-query#doh.example", &u, err, sizeof(err)), 0);
	assert_int_equal(u.proto, UP_DOH);
	assert_string_equal(u.name, "doh.example");
	assert_string_equal(u.path, "/dns-query");
	assert_string_equal(up_url_str(&u, buf, sizeof(buf)), "https://192.0.2.1:443/dns-query#doh.example");
	assert_int_equal(up_url_parse("https://[2001:db8::2]:8443/a/b#x.example", &u, err, sizeof(err)), 0);
	assert_string_equal(u.path, "/a/b");

	static const char *const bad[] = {
		"https://1.2.3.4:443#x.example",          /* no path */
		"https://1.2.3.4:443/#x.example",         /* empty path */
		"https://1.2.3.4:443/dns-query",          /* no name */
		"https://1.2.3.4/dns-query#x.example",    /* no port */
		"https://1.2.3.4:443/q?dns=x#x.example",  /* a query string is ours to write */
		"https://1.2.3.4:443/a b#x.example",
		"https://1.2.3.4:443/p#",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(up_url_parse(bad[i], &u, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "expected https://IP:PORT/PATH#NAME"));
	}
	assert_int_equal(up_url_parse("quic://1.2.3.4:853#x", &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown scheme"));
}

static void test_pin(void **state)
{
	uint8_t pin[UP_PIN_LEN];

	(void)state;
	assert_int_equal(up_pin_parse("6eYIA3HyGe9bZnX50FNOsldpybZM8KcC2PG9ICK2kbw=", pin), 0);
	assert_int_equal(pin[0], 0xe9);
	assert_int_equal(pin[31], 0xbc);
	assert_int_equal(up_pin_parse("", pin), -1);
	assert_int_equal(up_pin_parse("6eYIA3HyGe9bZnX50FNOsldpybZM8KcC2PG9ICK2kbw", pin), -1);
	assert_int_equal(up_pin_parse("6eYIA3HyGe9bZnX50FNOsldpybZM8KcC2PG9ICK2k!w=", pin), -1);
	assert_int_equal(up_pin_parse("6eYIA3HyGe9bZnX50FNOsldpybZM8KcC2PG9ICK2kbw==", pin), -1);
}

static void test_ctx(void **state)
{
	char err[300];
	SSL_CTX *ctx;

	(void)state;
	assert_null(up_tls_ctx_new("/nonexistent/ca.pem", err, sizeof(err)));
	assert_non_null(strstr(err, "ca_file = /nonexistent/ca.pem"));
	ctx = up_tls_ctx_new("none", err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_forms),
		cmocka_unit_test(test_tls_form),
		cmocka_unit_test(test_https_form),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_ctx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
