/* listen_test.c - unit tests for src/listen.h: one socket per transport and address, the
 * address-in-use check, listen_same() for reloads and the text of the "listening on" line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "addr.h"
#include "conf.h"
#include "listen.h"

/* A configuration listening on the given addresses ("127.0.0.1:0"...), upstream 127.0.0.1. */
static struct conf *conf_with(const char *const *listen, unsigned n)
{
	struct conf_overrides ov = { .workers = -1 };
	char err[512];

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(addr_parse(listen[i], 0, &ov.listen[ov.nlisten++], err, sizeof(err)), 0);
	assert_int_equal(addr_parse("127.0.0.1:53", 53, &ov.upstream[ov.nupstream++], err, sizeof(err)), 0);
	struct conf *c = conf_load(NULL, &ov, "/nonexistent/resolv.conf", err, sizeof(err));
	assert_non_null(c);
	return c;
}

static int sock_type(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	return type;
}

/* A port that nothing on 127.0.0.1 and ::1 uses now (the kernel's pick for a TCP socket). */
static unsigned free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void test_one_udp_and_one_tcp_socket_per_address(void **state)
{
	char a4[64], a6[64];
	unsigned port = free_port();

	snprintf(a4, sizeof(a4), "127.0.0.1:%u", port);
	snprintf(a6, sizeof(a6), "[::1]:%u", port);
	const char *const addrs[] = { a4, a6 };
	struct conf *c = conf_with(addrs, 2);
	struct listen_set s;
	char err[300];

	assert_int_equal(listen_open(c, true, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n[LISTEN_UDP], 2);
	assert_int_equal(s.n[LISTEN_TCP], 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(sock_type(s.fds[LISTEN_UDP][i]), SOCK_DGRAM);
		assert_int_equal(sock_type(s.fds[LISTEN_TCP][i]), SOCK_STREAM);
	}
	listen_set_close(&s);
	assert_null(s.fds[LISTEN_UDP]);
	assert_int_equal(s.n[LISTEN_TCP], 0);
	conf_unref(c);
}

static void test_address_held_by_another_process_is_refused(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	char a[64], err[300];
	struct listen_set s;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(a, sizeof(a), "127.0.0.1:%u", ntohs(sin.sin_port));
	const char *const addrs[] = { a };
	struct conf *c = conf_with(addrs, 1);

	assert_int_equal(listen_open(c, true, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "(udp): address already in use"));
	assert_null(s.fds[LISTEN_UDP]);
	assert_null(s.fds[LISTEN_TCP]);
	close(fd);
	conf_unref(c);
}

static void test_listening_line_names_addresses_then_transports(void **state)
{
	static const char *const addrs[] = { "127.0.0.1:5335", "[::1]:5336" };
	struct conf *c = conf_with(addrs, 2);
	char buf[256], small[12];

	listen_describe(c, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:5335, [::1]:5336 (UDP and TCP)");
	listen_describe(c, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1); /* cut, still terminated */
	conf_unref(c);
}

static void test_reload_sees_changed_listen_addresses(void **state)
{
	static const char *const one[] = { "127.0.0.1:5335" };
	static const char *const other[] = { "127.0.0.1:5336" };
	static const char *const two[] = { "127.0.0.1:5335", "127.0.0.1:5336" };
	struct conf *a = conf_with(one, 1), *b = conf_with(one, 1), *c = conf_with(other, 1),
		    *d = conf_with(two, 2);

	assert_true(listen_same(a, b));
	assert_false(listen_same(a, c));
	assert_false(listen_same(a, d));
	conf_unref(a);
	conf_unref(b);
	conf_unref(c);
	conf_unref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_udp_and_one_tcp_socket_per_address),
		cmocka_unit_test(test_address_held_by_another_process_is_refused),
		cmocka_unit_test(test_listening_line_names_addresses_then_transports),
		cmocka_unit_test(test_reload_sees_changed_listen_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
