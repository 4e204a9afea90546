/* request_test.c - unit tests for src/request.h: references, detaching from a closed
 * connection, and the free list that keeps the hot path free of malloc. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "request.h"

static const struct transport fake_stream = { .kind_name = "tcp", .kind = TRANSPORT_TCP,
					      .stream = true };

static void test_new_request_has_one_reference_and_is_live(void **state)
{
	struct request_pool p = { 0 };
	int conn;
	struct request *r = request_new(&p, &fake_stream, &conn);

	(void)state;
	assert_non_null(r);
	assert_int_equal(r->refs, 1);
	assert_ptr_equal(r->tp, &fake_stream);
	assert_ptr_equal(r->ctx, &conn);
	assert_false(r->detached);
	assert_false(r->id.has_mac);
	assert_int_equal(p.live, 1);
	request_unref(r);
	assert_int_equal(p.live, 0);
	assert_int_equal(p.nfree, 1);
	request_pool_clear(&p);
	assert_null(p.free);
}

static void test_last_unref_returns_it_to_the_free_list(void **state)
{
	struct request_pool p = { 0 };
	struct request *r = request_new(&p, &fake_stream, NULL);

	(void)state;
	request_ref(r); /* the connection's */
	request_unref(r);
	assert_int_equal(p.live, 1);
	assert_int_equal(p.nfree, 0);
	request_unref(r);
	assert_int_equal(p.live, 0);
	assert_int_equal(p.nfree, 1);
	assert_ptr_equal(p.free, r);
	request_pool_clear(&p);
}

static void test_free_list_reused_last_in_first_out(void **state)
{
	struct request_pool p = { 0 };
	struct request *a = request_new(&p, &fake_stream, NULL);
	struct request *b = request_new(&p, &fake_stream, NULL);

	(void)state;
	assert_ptr_not_equal(a, b);
	a->detached = true;
	a->id.has_mac = true;
	a->tp_len = 12;
	a->refs = 1;
	request_unref(a);
	request_unref(b);
	/* the warmest first, and every header field reset */
	struct request *c = request_new(&p, &fake_stream, NULL);
	struct request *d = request_new(&p, &fake_stream, NULL);
	assert_ptr_equal(c, b);
	assert_ptr_equal(d, a);
	assert_false(d->detached);
	assert_false(d->id.has_mac);
	assert_int_equal(d->tp_len, 0);
	assert_int_equal(d->refs, 1);
	assert_int_equal(p.nfree, 0);
	assert_int_equal(p.live, 2);
	request_unref(c);
	request_unref(d);
	request_pool_clear(&p);
}

/* a connection closes while its query is upstream: the request stays live for the pipeline,
 * forgets the connection, and goes back to the pool when the answer is done */
static void test_detach_keeps_the_pipeline_reference(void **state)
{
	struct request_pool p = { 0 };
	int conn;
	struct request *r = request_new(&p, &fake_stream, &conn);

	(void)state;
	request_ref(r); /* the connection's */
	request_detach(r);
	request_unref(r); /* the connection drops its own */
	assert_true(r->detached);
	assert_null(r->ctx);
	assert_ptr_equal(r->tp, &fake_stream); /* its kind still names the transport */
	assert_int_equal(p.live, 1);
	request_detach(r); /* idempotent */
	assert_int_equal(r->refs, 1);
	request_unref(r); /* the pipeline's */
	assert_int_equal(p.live, 0);
	assert_int_equal(p.nfree, 1);
	request_pool_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_request_has_one_reference_and_is_live),
		cmocka_unit_test(test_last_unref_returns_it_to_the_free_list),
		cmocka_unit_test(test_free_list_reused_last_in_first_out),
		cmocka_unit_test(test_detach_keeps_the_pipeline_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
