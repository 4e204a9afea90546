/* json_test.c - unit tests for src/json.h: string escaping (quotes, backslashes, control
 * characters, DEL, NUL bytes, valid UTF-8 kept, every kind of invalid UTF-8 replaced), numbers,
 * fixed point, objects and arrays with their commas, and misuse reported by jw_ok. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "util.h"

/* s (n bytes) through jw_quote, compared with want. */
static void check_quote(const char *s, size_t n, const char *want)
{
	struct strbuf sb = { 0 };

	jw_quote(&sb, s, n);
	assert_false(sb.oom);
	if (strcmp(sb.s, want))
		fail_msg("got %s, want %s", sb.s, want);
	sb_free(&sb);
}

#define Q(lit, want) check_quote(lit, sizeof(lit) - 1, want)

static void test_json_escape_ascii(void **state)
{
	(void)state;
	Q("", "\"\"");
	Q("plain text: 1/2 {x} [y]", "\"plain text: 1/2 {x} [y]\"");
	Q("a\"b", "\"a\\\"b\"");
	Q("a\\b", "\"a\\\\b\"");
	Q("\"\\\"", "\"\\\"\\\\\\\"\"");
	Q("tab\tnl\ncr\r", "\"tab\\u0009nl\\u000acr\\u000d\"");
	Q("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	Q("a\0b", "\"a\\u0000b\""); /* a NUL inside the given length */
	Q("\\DDD \\255", "\"\\\\DDD \\\\255\""); /* wire_name_str's escapes, escaped again */
}

static void test_json_escape_utf8(void **state)
{
	(void)state;
	/* well-formed: copied as they are, shortest and longest of each length */
	Q("\xc2\x80 \xdf\xbf", "\"\xc2\x80 \xdf\xbf\"");
	Q("caf\xc3\xa9 \xe4\xb8\xad\xe5\x9b\xbd", "\"caf\xc3\xa9 \xe4\xb8\xad\xe5\x9b\xbd\"");
	Q("\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf", "\"\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf\"");
	Q("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xf0\x9f\x98\x80", "\"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xf0\x9f\x98\x80\"");
	Q("\xe2\x80\xa8", "\"\xe2\x80\xa8\""); /* U+2028 is valid JSON */
	/* ill-formed: one \ufffd per byte that starts no valid sequence */
	Q("\x80", "\"\\ufffd\"");                          /* lone continuation */
	Q("\xbf\xbf", "\"\\ufffd\\ufffd\"");
	Q("\xc0\xaf", "\"\\ufffd\\ufffd\"");               /* overlong '/' */
	Q("\xc1\xbf", "\"\\ufffd\\ufffd\"");
	Q("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");     /* overlong, 3 bytes */
	Q("\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* overlong, 4 bytes */
	Q("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");     /* a surrogate, U+D800 */
	Q("\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\"");     /* U+DFFF */
	Q("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
	Q("\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	Q("\xfe\xff", "\"\\ufffd\\ufffd\"");
	Q("a\xc3", "\"a\\ufffd\"");                         /* truncated at the end */
	Q("\xe4\xb8", "\"\\ufffd\\ufffd\"");
	Q("\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"");
	Q("\xc3" "A", "\"\\ufffdA\"");                      /* truncated by an ASCII byte */
	Q("\xe4\xb8\"", "\"\\ufffd\\ufffd\\\"\"");          /* ... by a quote, still escaped */
	/* latin-1 "café" next to valid UTF-8: only the stray byte is replaced */
	Q("caf\xe9 \xc3\xa9", "\"caf\\ufffd \xc3\xa9\"");
}

/* Every single byte and every pair of bytes gives a string a strict reader accepts: no raw
 * control character, no raw byte that is not part of a well-formed sequence. */
static void test_json_escape_all_pairs(void **state)
{
	struct strbuf sb = { 0 };

	(void)state;
	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++) {
			char in[2] = { (char)a, (char)b };
			sb.len = 0;
			jw_quote(&sb, in, 2);
			assert_false(sb.oom);
			const unsigned char *p = (const unsigned char *)sb.s + 1, *e = (const unsigned char *)sb.s + sb.len - 1;
			assert_int_equal(sb.s[0], '"');
			assert_int_equal(*e, '"');
			for (; p < e; p++) {
				assert_true(*p >= 0x20 && *p != 0x7f);
				if (*p == '\\') {
					p++;
					assert_true(*p == '"' || *p == '\\' || *p == 'u');
					if (*p == 'u')
						p += 4;
				} else if (*p == '"') {
					fail_msg("raw quote for %02x %02x", a, b);
				} else if (*p >= 0x80) {
					/* only a whole 2-byte sequence can be copied from two input bytes */
					assert_true(*p >= 0xc2 && *p <= 0xdf && p[1] >= 0x80 && p[1] <= 0xbf);
					p++;
				}
			}
		}
	sb_free(&sb);
}

static const char *done(struct jw *j, struct strbuf *sb)
{
	assert_true(jw_ok(j));
	return sb->s;
}

static void test_json_numbers(void **state)
{
	struct strbuf sb = { 0 };
	struct jw j;

	(void)state;
	jw_init(&j, &sb);
	jw_arr(&j);
	jw_uint(&j, 0);
	jw_uint(&j, 7);
	jw_uint(&j, 4294967295u);
	jw_uint(&j, UINT64_MAX);
	jw_int(&j, 0);
	jw_int(&j, -1);
	jw_int(&j, INT64_MAX);
	jw_int(&j, INT64_MIN);
	jw_arr_end(&j);
	assert_string_equal(done(&j, &sb), "[0,7,4294967295,18446744073709551615,0,-1,"
				      "9223372036854775807,-9223372036854775808]");
	sb_free(&sb);

	jw_init(&j, &sb);
	jw_arr(&j);
	jw_fixed(&j, 1325, 3);
	jw_fixed(&j, 0, 3);
	jw_fixed(&j, 7, 3);
	jw_fixed(&j, 1000, 3);
	jw_fixed(&j, 4294967295u, 3);
	jw_fixed(&j, 42, 0);
	jw_fixed(&j, 5, 1);
	jw_fixed(&j, UINT64_MAX, 19);
	jw_fixed(&j, 1, 25); /* more decimals than a uint64_t has: 19 */
	jw_arr_end(&j);
	assert_string_equal(done(&j, &sb), "[1.325,0.000,0.007,1.000,4294967.295,42,0.5,"
				      "1.8446744073709551615,0.0000000000000000001]");
	sb_free(&sb);
}

static void test_json_structure(void **state)
{
	struct strbuf sb = { 0 };
	struct jw j;

	(void)state;
	jw_init(&j, &sb);
	jw_obj(&j);
	jw_obj_end(&j);
	assert_string_equal(done(&j, &sb), "{}");
	sb_free(&sb);

	jw_init(&j, &sb);
	jw_obj(&j);
	jw_key(&j, "a");
	jw_str(&j, "x");
	jw_key(&j, "n");
	jw_null(&j);
	jw_key(&j, "s");
	jw_str(&j, NULL);
	jw_key(&j, "t");
	jw_bool(&j, true);
	jw_key(&j, "f");
	jw_bool(&j, false);
	jw_key(&j, "e");
	jw_arr(&j);
	jw_arr_end(&j);
	jw_key(&j, "l");
	jw_arr(&j);
	jw_obj(&j);
	jw_key(&j, "k\"q");
	jw_strn(&j, "ab\0c", 4);
	jw_obj_end(&j);
	jw_obj(&j);
	jw_obj_end(&j);
	jw_arr(&j);
	jw_uint(&j, 1);
	jw_arr_end(&j);
	jw_raw(&j, "{\"pre\":1}");
	jw_arr_end(&j);
	jw_key(&j, "z");
	jw_uint(&j, 2);
	jw_obj_end(&j);
	assert_string_equal(done(&j, &sb),
		"{\"a\":\"x\",\"n\":null,\"s\":null,\"t\":true,\"f\":false,\"e\":[],"
		"\"l\":[{\"k\\\"q\":\"ab\\u0000c\"},{},[1],{\"pre\":1}],\"z\":2}");
	sb_free(&sb);

	/* appends after what the buffer holds */
	sb_str(&sb, "prefix ");
	jw_init(&j, &sb);
	jw_arr(&j);
	jw_str(&j, "a");
	jw_arr_end(&j);
	assert_string_equal(done(&j, &sb), "prefix [\"a\"]");
	sb_free(&sb);
}

static void test_json_misuse(void **state)
{
	struct strbuf sb = { 0 };
	struct jw j;

	(void)state;
	/* unclosed */
	jw_init(&j, &sb);
	jw_obj(&j);
	assert_false(jw_ok(&j));
	sb_free(&sb);
	/* a key in an array, or at the top */
	jw_init(&j, &sb);
	jw_arr(&j);
	jw_key(&j, "k");
	jw_uint(&j, 1);
	jw_arr_end(&j);
	assert_false(jw_ok(&j));
	sb_free(&sb);
	jw_init(&j, &sb);
	jw_key(&j, "k");
	assert_false(jw_ok(&j));
	sb_free(&sb);
	/* a key without a value, then a close */
	jw_init(&j, &sb);
	jw_obj(&j);
	jw_key(&j, "k");
	jw_obj_end(&j);
	assert_false(jw_ok(&j));
	sb_free(&sb);
	/* mismatched and extra closes */
	jw_init(&j, &sb);
	jw_obj(&j);
	jw_arr_end(&j);
	assert_false(jw_ok(&j));
	sb_free(&sb);
	jw_init(&j, &sb);
	jw_arr_end(&j);
	assert_false(jw_ok(&j));
	sb_free(&sb);
	/* too deep: refused, never past the bit masks */
	jw_init(&j, &sb);
	for (int i = 0; i < JSON_MAX_DEPTH + 5; i++)
		jw_arr(&j);
	for (int i = 0; i < JSON_MAX_DEPTH + 5; i++)
		jw_arr_end(&j);
	assert_false(jw_ok(&j));
	sb_free(&sb);
	/* the deepest allowed is fine */
	jw_init(&j, &sb);
	for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
		jw_arr(&j);
	for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
		jw_arr_end(&j);
	assert_true(jw_ok(&j));
	assert_int_equal(sb.len, 2 * (JSON_MAX_DEPTH - 1));
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escape_ascii),
		cmocka_unit_test(test_json_escape_utf8),
		cmocka_unit_test(test_json_escape_all_pairs),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_json_structure),
		cmocka_unit_test(test_json_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
