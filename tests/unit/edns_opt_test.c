/* edns_opt_test.c - unit tests for src/edns_opt.h: finding the keepalive and padding options
 * of a query (built with ldns, as a client would), and adding them to an answer whose last
 * record is its OPT: the answer parses with ldns, is padded to 468-octet blocks, carries the
 * timeout; bad or OPT-less messages are left as they are. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "edns_opt.h"

/* A query for example.com A with EDNS and the given options (code, empty value) as wire. */
static size_t mkquery(uint8_t *out, size_t cap, const uint16_t *codes, size_t n)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str("example.com."), LDNS_RR_TYPE_A,
					 LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_edns_option_list *l = ldns_edns_option_list_new();
	uint8_t *wire = NULL;
	size_t len = 0;

	ldns_pkt_set_edns_udp_size(p, 1232);
	for (size_t i = 0; i < n; i++)
		ldns_edns_option_list_push(l, ldns_edns_new_from_data(codes[i], 0, NULL));
	ldns_pkt_set_edns_option_list(p, l);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

static void test_scan(void **state)
{
	uint8_t q[512];
	uint16_t pad[] = { EDNS_OPT_PADDING }, both[] = { 10, EDNS_OPT_KEEPALIVE, EDNS_OPT_PADDING };
	size_t n;

	(void)state;
	n = mkquery(q, sizeof(q), NULL, 0);
	assert_int_equal(edns_opt_scan(q, n), 0);
	n = mkquery(q, sizeof(q), pad, 1);
	assert_int_equal(edns_opt_scan(q, n), EDNS_WANT_PADDING);
	n = mkquery(q, sizeof(q), both, 3);
	assert_int_equal(edns_opt_scan(q, n), EDNS_WANT_PADDING | EDNS_WANT_KEEPALIVE);
	for (size_t k = 0; k < n; k++) /* truncated: never past the end, never a false option */
		assert_true(edns_opt_scan(q, k) == 0);
}

static void test_append(void **state)
{
	uint8_t m[2048];
	uint16_t none[] = { 0 };
	size_t n = mkquery(m, sizeof(m), none, 0), out;
	ldns_pkt *p = NULL;

	(void)state;
	m[2] |= 0x80; /* as an answer */
	out = edns_opt_append(m, n, sizeof(m), EDNS_WANT_KEEPALIVE | EDNS_WANT_PADDING, 70, 468);
	assert_int_equal(out % 468, 0);
	assert_int_equal(ldns_wire2pkt(&p, m, out), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
	ldns_edns_option_list *l = ldns_pkt_edns_get_option_list(p);
	assert_non_null(l);
	assert_int_equal(ldns_edns_option_list_get_count(l), 2);
	ldns_edns_option *ka = ldns_edns_option_list_get_option(l, 0);
	assert_int_equal(ldns_edns_get_code(ka), EDNS_OPT_KEEPALIVE);
	assert_int_equal(ldns_edns_get_size(ka), 2);
	assert_int_equal(ldns_edns_get_data(ka)[1], 70);
	assert_int_equal(ldns_edns_get_code(ldns_edns_option_list_get_option(l, 1)), EDNS_OPT_PADDING);
	ldns_pkt_free(p);

	/* no room: unchanged */
	n = mkquery(m, sizeof(m), none, 0);
	assert_int_equal(edns_opt_append(m, n, n + 10, EDNS_WANT_PADDING, 0, 468), n);
	/* nothing asked: unchanged */
	assert_int_equal(edns_opt_append(m, n, sizeof(m), 0, 0, 468), n);
	/* no OPT: unchanged */
	ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str("example.com."), LDNS_RR_TYPE_A,
					 LDNS_RR_CLASS_IN, LDNS_RD);
	uint8_t *wire = NULL;
	size_t len = 0;
	assert_int_equal(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
	memcpy(m, wire, len);
	free(wire);
	ldns_pkt_free(q);
	assert_int_equal(edns_opt_append(m, len, sizeof(m), EDNS_WANT_PADDING, 0, 468), len);
	/* garbage: unchanged, no read past the end */
	memset(m, 0xff, 64);
	assert_int_equal(edns_opt_append(m, 64, sizeof(m), EDNS_WANT_PADDING, 0, 468), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
