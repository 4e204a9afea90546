/* web_route_test.c - the console's router: routes, methods, static names, device ids. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "web_route.h"

static enum web_route route(enum web_method m, const char *path, struct web_match *wm)
{
	return web_route_match(m, path, strlen(path), wm);
}

static void test_known_routes(void **state)
{
	struct web_match m;

	(void)state;
	assert_int_equal(route(WM_GET, "/", &m), WR_STATIC);
	assert_string_equal(m.file, "index.html");
	assert_int_equal(route(WM_HEAD, "/admin", &m), WR_STATIC);
	assert_string_equal(m.file, "admin.html");
	assert_int_equal(route(WM_GET, "/app.js", &m), WR_STATIC);
	assert_string_equal(m.file, "app.js");
	assert_int_equal(route(WM_GET, "/metrics", &m), WR_METRICS);
	assert_int_equal(route(WM_PUT, "/api/me", &m), WR_API_ME);
	assert_int_equal(m.status, 0);
	assert_int_equal(route(WM_POST, "/api/login", &m), WR_API_LOGIN);
	assert_int_equal(route(WM_POST, "/api/logout", &m), WR_API_LOGOUT);
	assert_int_equal(route(WM_GET, "/api/devices", &m), WR_API_DEVICES);
	assert_int_equal(route(WM_GET, "/api/policy", &m), WR_API_POLICY);
	assert_int_equal(route(WM_GET, "/api/events", &m), WR_API_EVENTS);
}

static void test_methods(void **state)
{
	struct web_match m;

	(void)state;
	assert_int_equal(web_method_parse("GET"), WM_GET);
	assert_int_equal(web_method_parse("DELETE"), WM_OTHER);
	assert_int_equal(web_method_parse("get"), WM_OTHER);
	route(WM_POST, "/metrics", &m);
	assert_int_equal(m.status, 405);
	route(WM_GET, "/api/login", &m);
	assert_int_equal(m.status, 405);
	route(WM_PUT, "/api/devices", &m);
	assert_int_equal(m.status, 405);
	route(WM_OTHER, "/", &m);
	assert_int_equal(m.status, 405);
	route(WM_OTHER, "/nowhere", &m);
	assert_int_equal(m.status, 405);
}

static void test_hostile_paths_are_404(void **state)
{
	static const char *const bad[] = {
		"", "x", "//", "/../etc/passwd", "/a/../b", "/..", "/.hidden", "/%2e%2e/x", "/app%2ejs",
		"/web/index.html", "/api/devices/", "/api/devices/1.2.3.4%2F24", "/api/devices/1.2.3.4%2f24",
		"/api/devices/1.2.3.4%00", "/api/devices/%zz", "/api/devices/%4", "/api/devices/foo",
		"/api/devices/1.2.3.4/33", "/api/devices/aa:bb:cc:dd:ee", "/api/devices/aa:bb-cc:dd:ee:ff",
		"/api/me/", "/metrics/", "/a b",
	};
	struct web_match m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(route(WM_GET, bad[i], &m), WR_NONE);
		assert_int_equal(m.status, 404);
	}
	/* an embedded NUL: the length says more than strlen */
	assert_int_equal(web_route_match(WM_GET, "/app.js\0x", 9, &m), WR_NONE);
	assert_int_equal(m.status, 404);
	/* only the given length is read */
	assert_int_equal(web_route_match(WM_GET, "/metricsXYZ", 8, &m), WR_METRICS);
}

static void test_device_ids_canonical(void **state)
{
	struct web_match m;

	(void)state;
	assert_int_equal(route(WM_GET, "/api/devices/192.168.1.23", &m), WR_API_DEVICE);
	assert_string_equal(m.device, "192.168.1.23");
	assert_int_equal(route(WM_GET, "/api/devices/AA-BB-CC-DD-EE-0F", &m), WR_API_DEVICE);
	assert_string_equal(m.device, "aa:bb:cc:dd:ee:0f");
	assert_int_equal(route(WM_PUT, "/api/devices/aa%3Abb%3Acc%3Add%3Aee%3Aff", &m), WR_API_DEVICE);
	assert_string_equal(m.device, "aa:bb:cc:dd:ee:ff");
	assert_int_equal(route(WM_GET, "/api/devices/2001:DB8:0::1", &m), WR_API_DEVICE);
	assert_string_equal(m.device, "2001:db8::1");
	assert_int_equal(route(WM_GET, "/api/devices/::ffff:10.0.0.1", &m), WR_API_DEVICE);
	assert_string_equal(m.device, "10.0.0.1");
	assert_int_equal(route(WM_GET, "/api/devices/10.0.0.0/24", &m), WR_API_DEVICE);
	assert_string_equal(m.device, "10.0.0.0/24");
	assert_int_equal(route(WM_GET, "/api/devices/fd00::/8", &m), WR_API_DEVICE);
	assert_string_equal(m.device, "fd00::/8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_routes),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_hostile_paths_are_404),
		cmocka_unit_test(test_device_ids_canonical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
