/* metrics_text_test.c - unit tests for src/metrics_text.h: label values are escaped as the
 * Prometheus text format wants (backslash, double quote and newline; nothing else). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "metrics_text.h"

static void test_label_values_are_escaped_as_the_text_format_wants(void **state)
{
	(void)state;
	struct stats_sums c = { 0 };
	struct strbuf b = { 0 };

	c.ngroups = 1;
	/* a tab and UTF-8 go as they are; JSON's \u0009 and \u000a are no escapes there */
	snprintf(c.g[0].name, sizeof(c.g[0].name), "a\"b\\c\nd\te\xc3\xa9");
	c.g[0].v[0] = 7;
	metrics_render_counts(&b, "in\"st\\1", &c, true, 0);
	assert_false(b.oom);
	assert_non_null(strstr(b.s, "jurisdns_redis_up{instance=\"in\\\"st\\\\1\"} 1\n"));
	assert_non_null(strstr(b.s, "jurisdns_group_queries_total{instance=\"in\\\"st\\\\1\","
				    "group=\"a\\\"b\\\\c\\nd\te\xc3\xa9\",reason=\"any\"} 7\n"));
	assert_null(strstr(b.s, "\\u00"));
	sb_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_values_are_escaped_as_the_text_format_wants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
