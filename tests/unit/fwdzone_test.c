/* fwdzone_test.c - unit tests for src/fwdzone.h: longest [forward] zone, label-wise and
 * case-insensitive matching (the caller lower-cases), and the built-in private zones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "fwdzone.h"
#include "suffix.h"
#include "wire.h"

static size_t wire(const char *text, uint8_t out[256])
{
	int n = domain_to_wire(text, out);

	assert_true(n > 0);
	return (size_t)n;
}

static int fwd(const struct fwdzones *z, const char *name, size_t *off)
{
	uint8_t w[256];
	size_t n = wire(name, w);

	return fwdzones_forward(z, w, n, off);
}

static bool priv(const struct fwdzones *z, const char *name, size_t *off)
{
	uint8_t w[256];
	size_t n = wire(name, w);

	return fwdzones_private(z, w, n, off);
}

static void add(struct fwdzones *z, const char *zone, unsigned idx)
{
	uint8_t w[256];
	size_t n = wire(zone, w);

	assert_int_equal(fwdzones_add(z, w, n, idx), 0);
}

static void test_forward_longest_label_match(void **state)
{
	struct fwdzones *z = fwdzones_new();
	size_t off = 99;

	assert_non_null(z);
	assert_int_equal(fwd(z, "printer.lan", NULL), -1); /* empty */
	add(z, "lan", 0);
	add(z, "office.lan", 1);
	add(z, "168.192.in-addr.arpa", 2);
	add(z, "1.168.192.in-addr.arpa", 3);

	assert_int_equal(fwd(z, "lan", &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(fwd(z, "printer.lan", &off), 0);
	assert_int_equal(off, 8);
	assert_int_equal(fwd(z, "PRINTER.Lan.", &off), 0); /* domain_to_wire lower-cases */
	assert_int_equal(fwd(z, "office.lan", &off), 1);
	assert_int_equal(fwd(z, "pc.office.lan", &off), 1);
	assert_int_equal(off, 3);
	assert_int_equal(fwd(z, "pc.xoffice.lan", NULL), 0);
	/* label-wise: plan and lan.example are not under lan */
	assert_int_equal(fwd(z, "plan", NULL), -1);
	assert_int_equal(fwd(z, "lan.example", NULL), -1);
	assert_int_equal(fwd(z, "x.lanx", NULL), -1);
	assert_int_equal(fwd(z, "7.2.168.192.in-addr.arpa", NULL), 2);
	assert_int_equal(fwd(z, "7.1.168.192.in-addr.arpa", &off), 3);
	assert_int_equal(off, 2);
	assert_int_equal(fwd(z, "168.192.in-addr.arpa", NULL), 2);
	assert_int_equal(fwd(z, "192.in-addr.arpa", NULL), -1);

	/* the same zone twice: reported, the first index stays */
	uint8_t w[256];
	size_t n = wire("LAN.", w);
	assert_int_equal(fwdzones_add(z, w, n, 9), 1);
	assert_int_equal(fwd(z, "printer.lan", NULL), 0);
	fwdzones_free(z);
}

static void test_private_zones(void **state)
{
	struct fwdzones *z = fwdzones_new();
	size_t off = 99;

	assert_non_null(z);
	/* 16 listed + 16 (172.16/12) + 64 (100.64/10) + :: and ::1 */
	assert_int_equal(fwdzones_private_count(z), 16 + 16 + 64 + 2);
	assert_true(priv(z, "1.1.168.192.in-addr.arpa", &off));
	assert_int_equal(off, 4);
	assert_true(priv(z, "168.192.in-addr.arpa", &off));
	assert_int_equal(off, 0);
	assert_true(priv(z, "5.4.3.10.in-addr.arpa", NULL));
	assert_true(priv(z, "1.0.16.172.in-addr.arpa", NULL));
	assert_true(priv(z, "1.0.31.172.in-addr.arpa", NULL));
	assert_false(priv(z, "1.0.15.172.in-addr.arpa", NULL));
	assert_false(priv(z, "1.0.32.172.in-addr.arpa", NULL));
	assert_true(priv(z, "1.0.64.100.in-addr.arpa", NULL));
	assert_true(priv(z, "1.0.127.100.in-addr.arpa", NULL));
	assert_false(priv(z, "1.0.63.100.in-addr.arpa", NULL));
	assert_false(priv(z, "1.0.128.100.in-addr.arpa", NULL));
	assert_true(priv(z, "1.0.0.127.in-addr.arpa", NULL));
	assert_true(priv(z, "1.1.254.169.in-addr.arpa", NULL));
	assert_true(priv(z, "5.2.0.192.in-addr.arpa", NULL));
	assert_true(priv(z, "255.255.255.255.in-addr.arpa", NULL));
	assert_false(priv(z, "8.8.8.8.in-addr.arpa", NULL));
	assert_false(priv(z, "in-addr.arpa", NULL));
	assert_true(priv(z, "printer.home.arpa", &off));
	assert_int_equal(off, 8);
	assert_false(priv(z, "printer.lan", NULL));
	assert_false(priv(z, "arpa", NULL));
	/* IPv6: ::1, ULA, link-local, documentation */
	assert_true(priv(z, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", &off));
	assert_int_equal(off, 0);
	assert_true(priv(z, "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", NULL));
	assert_false(priv(z, "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", NULL));
	assert_true(priv(z, "1.0.0.0.d.f.ip6.arpa", NULL));
	assert_false(priv(z, "1.0.0.0.c.f.ip6.arpa", NULL));
	assert_true(priv(z, "0.8.e.f.ip6.arpa", NULL));
	assert_true(priv(z, "0.b.e.f.ip6.arpa", NULL));
	assert_false(priv(z, "0.c.e.f.ip6.arpa", NULL));
	assert_true(priv(z, "1.8.b.d.0.1.0.0.2.ip6.arpa", NULL));
	assert_false(priv(z, "1.8.b.d.0.1.0.0.3.ip6.arpa", NULL));
	fwdzones_free(z);
	assert_false(fwdzones_private(NULL, (const uint8_t *)"\0", 1, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_longest_label_match),
		cmocka_unit_test(test_private_zones),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
