/* wire_test.c - unit tests for src/wire.h: query parsing, keys, error and upstream query
 * writing, answer validation, OPT writing, name helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "wire.h"
#include "dnsbuild.h"

static struct dnsb B;

/* A standard query: id 0x1234, RD, one question, optional OPT. */
static void build_query(struct dnsb *b, const char *name, uint16_t type, uint16_t cls, bool edns,
			uint16_t udp, bool do_bit)
{
	b_header(b, 0x1234, F_RD, 1, 0, 0, edns ? 1 : 0);
	b_question(b, name, type, cls);
	if (edns)
		b_opt(b, udp, 0, 0, do_bit ? EDNS_DO : 0, NULL, 0);
}

static int parse(const struct dnsb *b, struct dns_query *q)
{
	memset(q, 0xa5, sizeof(*q));
	return wire_parse_query(b->buf, b->len, q);
}

/* The one case-insensitive name compare folds letters only: a length octet 3 is no 35 (3|0x20),
 * nor is '@' a '`', '[' a '{', '_' a DEL or 0x11 a '1'. */
static void test_name_equal_nocase_folds_letters_only(void **state)
{
#define EQ(a, b, n) wire_name_equal_nocase((const uint8_t *)(a), (const uint8_t *)(b), (n))
	(void)state;
	assert_true(EQ("\x03" "abc\x00", "\x03" "ABC\x00", 5));
	assert_true(EQ("\x01" "Z\x00", "\x01" "z\x00", 3));
	assert_false(EQ("\x03" "abc\x00", "\x23" "abc\x00", 5));
	assert_false(EQ("\x23" "abc\x00", "\x03" "ABC\x00", 5));
	assert_false(EQ("\x01@", "\x01`", 2));
	assert_false(EQ("\x01[", "\x01{", 2));
	assert_false(EQ("\x01_", "\x01\x7f", 2));
	assert_false(EQ("\x01\x11", "\x01" "1", 2));
	assert_false(EQ("\x01\xc1", "\x01\xe1", 2));
	assert_true(EQ("", "", 0));
#undef EQ
	for (int c = 0; c < 256; c++) {
		int want = c >= 'A' && c <= 'Z' ? c + 32 : c;
		assert_int_equal(wire_lower_tab[c], want);
	}
	/* the in-place lower-casing uses the same table: length octets stay */
	uint8_t n[] = "\x03WwW\x3f";
	wire_name_lower(n, 5);
	assert_memory_equal(n, "\x03www\x3f", 5);
}

/* ---------------------------------------------------------------- wire_parse_query */

static void test_query_shorter_than_header_is_dropped(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	assert_int_equal(wire_parse_query(B.buf, 11, &q), -1);
	assert_int_equal(wire_parse_query(B.buf, 0, &q), -1);
}

static void test_query_with_qr_set_is_dropped(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_put16(&B, 2, F_QR | F_RD);
	assert_int_equal(parse(&B, &q), -1);
}

static void test_query_with_qdcount_zero_is_formerr(void **state)
{
	struct dns_query q;

	b_header(&B, 0x4242, F_RD, 0, 0, 0, 0);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
	assert_int_equal(q.id, 0x4242);
	assert_int_equal(q.flags, F_RD);
	assert_int_equal(q.question_end, 0);
	assert_false(q.edns);
}

static void test_query_with_qdcount_two_is_formerr(void **state)
{
	struct dns_query q;

	b_header(&B, 1, 0, 2, 0, 0, 0);
	b_question(&B, "a.example", TYPE_A, 1);
	b_question(&B, "b.example", TYPE_A, 1);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
	assert_int_equal(q.question_end, 0);
}

static void test_query_qdcount_zero_with_opcode_is_notimp(void **state)
{
	struct dns_query q;

	b_header(&B, 1, 2 << 11, 0, 0, 0, 0); /* STATUS */
	assert_int_equal(parse(&B, &q), RCODE_NOTIMP);
}

static void test_query_with_opcode_is_notimp(void **state)
{
	struct dns_query q;

	build_query(&B, "Example.com", TYPE_A, 1, false, 0, false);
	b_put16(&B, 2, (uint16_t)(F_RD | (4 << 11))); /* NOTIFY */
	assert_int_equal(parse(&B, &q), RCODE_NOTIMP);
	assert_int_equal(q.question_end, B.len); /* question kept for the answer */
	assert_int_equal(q.qtype, TYPE_A);
	assert_memory_equal(q.qname, B.buf + 12, 13);
}

static void test_query_with_answer_record_is_formerr(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_a(&B, 60, 1, 2, 3, 4);
	b_set_counts(&B, 1, 1, 0, 0);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
	assert_int_equal(q.question_end, 12 + 13 + 4);
	assert_int_equal(q.qtype, TYPE_A);
	assert_int_equal(q.qclass, 1);
}

static void test_query_with_authority_record_is_formerr(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_a(&B, 60, 1, 2, 3, 4);
	b_set_counts(&B, 1, 0, 1, 0);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void raw_question_query(const uint8_t *name, size_t n, bool with_type)
{
	b_header(&B, 7, 0, 1, 0, 0, 0);
	b_bytes(&B, name, n);
	if (with_type) {
		b_u16(&B, TYPE_A);
		b_u16(&B, 1);
	}
}

static void test_query_label_type_0x40_is_formerr(void **state)
{
	struct dns_query q;
	uint8_t name[80] = { 0x40 };

	memset(name + 1, 'a', 64);
	name[65] = 0;
	raw_question_query(name, 66, true);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
	assert_int_equal(q.question_end, 0);
}

static void test_query_label_type_0x80_is_formerr(void **state)
{
	struct dns_query q;
	const uint8_t name[] = { 0x81, 'a', 0 };

	raw_question_query(name, sizeof(name), true);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_label_of_63_is_accepted(void **state)
{
	struct dns_query q;
	uint8_t name[80] = { 63 };

	memset(name + 1, 'a', 63);
	name[64] = 0;
	raw_question_query(name, 65, true);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_int_equal(q.qname_len, 65);
}

static void test_query_label_running_past_end_is_formerr(void **state)
{
	struct dns_query q;
	const uint8_t name[] = { 7, 'e', 'x', 'a' };

	raw_question_query(name, sizeof(name), false);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_name_without_root_is_formerr(void **state)
{
	struct dns_query q;
	const uint8_t name[] = { 3, 'c', 'o', 'm' };

	raw_question_query(name, sizeof(name), false);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_compression_pointer_in_question_is_formerr(void **state)
{
	struct dns_query q;
	const uint8_t name[] = { 3, 'w', 'w', 'w', 0xc0, 12 };

	raw_question_query(name, sizeof(name), true);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

/* A name of exactly total wire bytes made of 63-byte labels and a shorter last one. */
static size_t long_name(uint8_t *out, size_t total)
{
	size_t o = 0, left = total - 1; /* the root label */

	while (left) {
		size_t l = left - 1 > 63 ? 63 : left - 1;
		if (left - (l + 1) == 1) /* avoid leaving a single byte, which cannot be a label */
			l--;
		out[o++] = (uint8_t)l;
		memset(out + o, 'x', l);
		o += l;
		left -= l + 1;
	}
	out[o++] = 0;
	return o;
}

static void test_query_name_of_255_is_accepted(void **state)
{
	struct dns_query q;
	uint8_t name[300];
	size_t n = long_name(name, 255);

	assert_int_equal(n, 255);
	raw_question_query(name, n, true);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_int_equal(q.qname_len, 255);
	assert_memory_equal(q.qname, name, 255);
}

static void test_query_name_over_255_is_formerr(void **state)
{
	struct dns_query q;
	uint8_t name[400];
	size_t n = long_name(name, 256);

	assert_int_equal(n, 256);
	raw_question_query(name, n, true);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
	n = long_name(name, 320);
	raw_question_query(name, n, true);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_missing_qtype_qclass_is_formerr(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	for (size_t cut = 1; cut <= 4; cut++) {
		assert_int_equal(wire_parse_query(B.buf, B.len - cut, &q), RCODE_FORMERR);
		assert_int_equal(q.question_end, 0);
	}
	assert_int_equal(wire_parse_query(B.buf, B.len, &q), RCODE_NOERROR);
}

static void test_query_two_opt_records_is_formerr(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, true, 1232, false);
	b_opt(&B, 1232, 0, 0, 0, NULL, 0);
	b_set_counts(&B, 1, 0, 0, 2);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_opt_with_non_root_owner_is_formerr(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_name(&B, "example.com");
	b_rr_tail(&B, TYPE_OPT, 1232, 0, NULL, 0);
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
	/* also with the owner as a pointer to the question name */
	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_ptr(&B, 12);
	b_rr_tail(&B, TYPE_OPT, 1232, 0, NULL, 0);
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_opt_option_length_past_rdata_is_formerr(void **state)
{
	struct dns_query q;
	/* option code 10 (COOKIE), length 8, but only 4 bytes follow */
	const uint8_t opts[] = { 0, 10, 0, 8, 1, 2, 3, 4 };

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_opt(&B, 1232, 0, 0, 0, opts, sizeof(opts));
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_opt_truncated_option_header_is_formerr(void **state)
{
	struct dns_query q;
	const uint8_t opts[] = { 0, 10 };

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_opt(&B, 1232, 0, 0, 0, opts, sizeof(opts));
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_opt_rdata_past_end_is_formerr(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, true, 1232, false);
	b_put16(&B, B.len - 2, 4); /* rdlength 4, nothing follows */
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_missing_additional_record_is_formerr(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
}

static void test_query_opt_with_valid_options_is_accepted(void **state)
{
	struct dns_query q;
	const uint8_t opts[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 12, 0, 0 };

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_opt(&B, 4096, 0, 0, EDNS_DO, opts, sizeof(opts));
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_true(q.edns);
	assert_true(q.edns_do);
	assert_int_equal(q.edns_udp_size, 4096);
}

/* ---------------------------------------------------------------- EDNS MAC options */

static const uint8_t MAC1[6] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01 };

/* A query whose OPT holds the options opts (code, length, value...) and nothing else. */
static int parse_with_options(const uint8_t *opts, size_t len, struct dns_query *q)
{
	build_query(&B, "www.qq.com", TYPE_A, 1, false, 0, false);
	b_opt(&B, 1232, 0, 0, 0, opts, (uint16_t)len);
	b_set_counts(&B, 1, 0, 0, 1);
	return parse(&B, q);
}

/* One option code with a text value. */
static int parse_mac_text(uint16_t code, const char *value, struct dns_query *q)
{
	uint8_t opts[64];
	size_t n = strlen(value);

	assert_true(n + 4 <= sizeof(opts));
	opts[0] = (uint8_t)(code >> 8);
	opts[1] = (uint8_t)code;
	opts[2] = 0;
	opts[3] = (uint8_t)n;
	memcpy(opts + 4, value, n);
	return parse_with_options(opts, n + 4, q);
}

static void test_mac_option_65001_binary(void **state)
{
	struct dns_query q;
	const uint8_t opts[] = { 0xfd, 0xe9, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01 };

	assert_int_equal(parse_with_options(opts, sizeof(opts), &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	assert_memory_equal(q.mac, MAC1, 6);
}

static void test_mac_option_65073_base64_as_dnsmasq_sends_it(void **state)
{
	struct dns_query q;

	/* dnsmasq --add-mac=base64 for aa:bb:cc:dd:ee:01 (seen on the wire) */
	assert_int_equal(parse_mac_text(EDNS_OPT_DEVICE_ID, "qrvM3e4B", &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	assert_memory_equal(q.mac, MAC1, 6);
	/* every character of the alphabet, '+' and '/' included: fb ef be ff ff ff */
	const uint8_t all[6] = { 0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff };
	assert_int_equal(parse_mac_text(EDNS_OPT_DEVICE_ID, "++++////", &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	assert_memory_equal(q.mac, all, 6);
	const uint8_t zero[6] = { 0 };
	assert_int_equal(parse_mac_text(EDNS_OPT_DEVICE_ID, "AAAAAAAA", &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	assert_memory_equal(q.mac, zero, 6);
}

static void test_mac_option_65073_text_as_dnsmasq_sends_it(void **state)
{
	struct dns_query q;

	assert_int_equal(parse_mac_text(EDNS_OPT_DEVICE_ID, "aa:bb:cc:dd:ee:01", &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	assert_memory_equal(q.mac, MAC1, 6);
	assert_int_equal(parse_mac_text(EDNS_OPT_DEVICE_ID, "AA:BB:CC:DD:EE:01", &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	assert_memory_equal(q.mac, MAC1, 6);
}

static void test_mac_option_malformed_values_mean_no_mac(void **state)
{
	static const char *const bad[] = {
		"qrvM3e4",              /* base64, 7 characters */
		"qrvM3e4B=",            /* 9: padding is not what dnsmasq sends */
		"qrvM3e4=",             /* '=' inside the 8 */
		"qrvM3e-B",             /* the URL-safe alphabet is not dnsmasq's */
		"qrvM 3e4",
		"aa:bb:cc:dd:ee:0",     /* text, 16 */
		"aa:bb:cc:dd:ee:011",   /* 18 */
		"aa:bb:cc:dd:ee:0g",    /* not hex */
		"aa-bb-cc-dd-ee-01",    /* dnsmasq writes colons */
		"aa:bb:cc:dd:ee 01",
		" a:bb:cc:dd:ee:01",
		"+a:bb:cc:dd:ee:01",
		"",
		"aabbccddee01",
	};
	struct dns_query q;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_mac_text(EDNS_OPT_DEVICE_ID, bad[i], &q), RCODE_NOERROR);
		if (q.has_mac)
			fail_msg("65073 \"%s\" was taken for a MAC", bad[i]);
	}
	/* 65001 with 5 or 7 bytes, or 8 bytes of base64 (that is 65073's form) */
	const uint8_t short5[] = { 0xfd, 0xe9, 0, 5, 1, 2, 3, 4, 5 };
	assert_int_equal(parse_with_options(short5, sizeof(short5), &q), RCODE_NOERROR);
	assert_false(q.has_mac);
	const uint8_t long7[] = { 0xfd, 0xe9, 0, 7, 1, 2, 3, 4, 5, 6, 7 };
	assert_int_equal(parse_with_options(long7, sizeof(long7), &q), RCODE_NOERROR);
	assert_false(q.has_mac);
	assert_int_equal(parse_mac_text(EDNS_OPT_MAC, "qrvM3e4B", &q), RCODE_NOERROR);
	assert_false(q.has_mac);
	/* a 6-byte 65073 is not the binary form */
	const uint8_t bin65073[] = { 0xfe, 0x31, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01 };
	assert_int_equal(parse_with_options(bin65073, sizeof(bin65073), &q), RCODE_NOERROR);
	assert_false(q.has_mac);
	/* an option of another code that looks like a MAC */
	assert_int_equal(parse_mac_text(65074, "aa:bb:cc:dd:ee:01", &q), RCODE_NOERROR);
	assert_false(q.has_mac);
}

static void test_mac_option_last_one_counts(void **state)
{
	struct dns_query q;
	/* a client's own 65001, then the one dnsmasq --add-mac=base64 appends */
	const uint8_t two[] = { 0xfd, 0xe9, 0, 6, 0, 0x11, 0x22, 0x33, 0x44, 0x55,
				0xfe, 0x31, 0, 8, 'q', 'r', 'v', 'M', '3', 'e', '4', 'B' };
	assert_int_equal(parse_with_options(two, sizeof(two), &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	assert_memory_equal(q.mac, MAC1, 6);
	/* a valid MAC followed by a malformed one: no MAC at all */
	const uint8_t bad_last[] = { 0xfd, 0xe9, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01,
				     0xfe, 0x31, 0, 3, 'a', 'b', 'c' };
	assert_int_equal(parse_with_options(bad_last, sizeof(bad_last), &q), RCODE_NOERROR);
	assert_false(q.has_mac);
}

static void test_mac_option_is_not_written_upstream(void **state)
{
	struct dns_query q;
	uint8_t out[512];

	assert_int_equal(parse_mac_text(EDNS_OPT_DEVICE_ID, "aa:bb:cc:dd:ee:01", &q), RCODE_NOERROR);
	assert_true(q.has_mac);
	/* the upstream query is written from the parsed fields: an OPT without options */
	size_t n = wire_write_query(out, 7, q.qname, q.qname_len, q.qtype, q.qclass, q.flags,
				    q.edns_do, 1232);
	assert_int_equal(n, 12 + q.qname_len + 4 + 11);
	assert_int_equal(g16(out + n - 2), 0); /* RDLENGTH of the OPT */
	assert_int_equal(wire_parse_query(out, n, &q), RCODE_NOERROR);
	assert_false(q.has_mac);
}

static void test_parse_mac_text_is_strict(void **state)
{
	uint8_t m[6] = { 9, 9, 9, 9, 9, 9 }, keep[6] = { 9, 9, 9, 9, 9, 9 };

	assert_int_equal(wire_parse_mac("aa:bb:cc:dd:ee:01", 17, m), 0);
	assert_memory_equal(m, MAC1, 6);
	memcpy(m, keep, 6);
	assert_int_equal(wire_parse_mac("aa:bb:cc:dd:ee:01", 16, m), -1);
	assert_int_equal(wire_parse_mac("aa:bb:cc:dd:ee:0x", 17, m), -1);
	assert_int_equal(wire_parse_mac("aa:bb:cc:dd:ee:\0""1", 17, m), -1);
	assert_int_equal(wire_parse_mac("aa.bb.cc.dd.ee.01", 17, m), -1);
	assert_memory_equal(m, keep, 6); /* a failure leaves mac as it was */
}

static void test_query_edns_version_1_is_badvers(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_opt(&B, 1400, 0, 1, EDNS_DO, NULL, 0);
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_BADVERS);
	assert_true(q.edns);
	assert_int_equal(q.edns_version, 1);
	assert_int_equal(q.edns_udp_size, 1400);
	assert_true(q.edns_do);
	assert_int_equal(q.question_end, 12 + 13 + 4);
}

static void test_query_axfr_is_refused(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_AXFR, 1, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_REFUSED);
	assert_int_equal(q.qtype, TYPE_AXFR);
}

static void test_query_ixfr_is_refused(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_IXFR, 1, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_REFUSED);
}

static void test_query_class_chaos_is_refused(void **state)
{
	struct dns_query q;

	build_query(&B, "version.bind", 16, 3, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_REFUSED);
	assert_int_equal(q.qclass, 3);
	build_query(&B, "example.com", TYPE_A, 255, false, 0, false); /* ANY class */
	assert_int_equal(parse(&B, &q), RCODE_REFUSED);
}

static void test_query_maila_mailb_opt_types_are_notimp(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_MAILA, 1, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_NOTIMP);
	build_query(&B, "example.com", TYPE_MAILB, 1, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_NOTIMP);
	build_query(&B, "example.com", TYPE_OPT, 1, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_NOTIMP);
}

static void test_query_normal_without_edns(void **state)
{
	struct dns_query q;

	build_query(&B, "www.example.com", TYPE_AAAA, 1, false, 0, false);
	b_put16(&B, 2, F_RD | F_CD);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.flags, F_RD | F_CD);
	assert_int_equal(q.qtype, TYPE_AAAA);
	assert_int_equal(q.qclass, 1);
	assert_int_equal(q.qname_len, 17);
	assert_int_equal(q.question_end, 12 + 17 + 4);
	assert_memory_equal(q.qname, "\3www\7example\3com\0", 17);
	assert_false(q.edns);
	assert_false(q.edns_do);
	assert_int_equal(q.edns_udp_size, 0);
	assert_int_equal(q.edns_version, 0);
}

static void test_query_normal_with_edns_extracts_udp_size_and_do(void **state)
{
	struct dns_query q;

	build_query(&B, "www.example.com", TYPE_A, 1, true, 1232, true);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_true(q.edns);
	assert_true(q.edns_do);
	assert_int_equal(q.edns_udp_size, 1232);
	assert_int_equal(q.edns_version, 0);
	assert_int_equal(q.question_end, 12 + 17 + 4);

	build_query(&B, "www.example.com", TYPE_A, 1, true, 512, false);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_true(q.edns);
	assert_false(q.edns_do);
	assert_int_equal(q.edns_udp_size, 512);
}

static void test_query_root_name_is_accepted(void **state)
{
	struct dns_query q;

	build_query(&B, ".", TYPE_NS, 1, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_int_equal(q.qname_len, 1);
	assert_int_equal(q.qname[0], 0);
	assert_int_equal(q.qtype, TYPE_NS);
}

static void test_query_non_opt_additional_record_is_skipped(void **state)
{
	struct dns_query q;
	const uint8_t rd[6] = { 1, 2, 3, 4, 5, 6 };

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_rr(&B, "key.example", 250 /* TSIG */, 255, 0, rd, sizeof(rd));
	b_opt(&B, 1232, 0, 0, 0, NULL, 0);
	b_set_counts(&B, 1, 0, 0, 2);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_true(q.edns);
}

static void test_query_trailing_bytes_are_tolerated(void **state)
{
	struct dns_query q;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_u32(&B, 0xdeadbeef);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_int_equal(q.question_end, 12 + 13 + 4);
}

static void test_query_question_case_is_preserved(void **state)
{
	struct dns_query q;

	build_query(&B, "WwW.ExAmPlE.CoM", TYPE_A, 1, false, 0, false);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	assert_memory_equal(q.qname, "\3WwW\7ExAmPlE\3CoM\0", 17);
}

/* ---------------------------------------------------------------- wire_query_key */

static void test_query_key_lowercases_and_appends_type_class(void **state)
{
	struct dns_query q;
	uint8_t key[DNS_MAX_NAME + 5];

	build_query(&B, "WWW.Example.COM", TYPE_AAAA, 1, false, 0, false);
	b_put16(&B, 2, 0);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	size_t n = wire_query_key(&q, key);
	assert_int_equal(n, 17 + 5);
	assert_memory_equal(key, "\3www\7example\3com\0\0\x1c\0\1\0", 22);
	/* the query itself is not modified */
	assert_memory_equal(q.qname, "\3WWW\7Example\3COM\0", 17);
}

static void test_query_key_flags_do_cd_rd(void **state)
{
	struct dns_query q;
	uint8_t key[DNS_MAX_NAME + 5];
	size_t n;

	build_query(&B, "a.b", TYPE_A, 1, true, 1232, true);
	b_put16(&B, 2, 0);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	n = wire_query_key(&q, key);
	assert_int_equal(key[n - 1], KEY_DO);

	build_query(&B, "a.b", TYPE_A, 1, false, 0, false);
	b_put16(&B, 2, F_CD);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	n = wire_query_key(&q, key);
	assert_int_equal(key[n - 1], KEY_CD);

	b_put16(&B, 2, F_RD);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	n = wire_query_key(&q, key);
	assert_int_equal(key[n - 1], KEY_RD);

	b_put16(&B, 2, F_AD | F_AA); /* other flags do not matter */
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	n = wire_query_key(&q, key);
	assert_int_equal(key[n - 1], 0);

	build_query(&B, "a.b", TYPE_A, 1, true, 1232, true);
	b_put16(&B, 2, F_RD | F_CD);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	n = wire_query_key(&q, key);
	assert_int_equal(n, 5 + 5);
	assert_int_equal(key[n - 1], KEY_DO | KEY_CD | KEY_RD);
}

static void test_query_key_differs_by_type_and_class(void **state)
{
	struct dns_query q;
	uint8_t k1[DNS_MAX_NAME + 5], k2[DNS_MAX_NAME + 5];
	size_t n1, n2;

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	parse(&B, &q);
	n1 = wire_query_key(&q, k1);
	build_query(&B, "EXAMPLE.com", TYPE_AAAA, 1, false, 0, false);
	parse(&B, &q);
	n2 = wire_query_key(&q, k2);
	assert_int_equal(n1, n2);
	assert_memory_equal(k1, k2, 13); /* same name, case-folded */
	assert_memory_not_equal(k1, k2, n1);
}

/* ---------------------------------------------------------------- wire_write_error */

static void test_write_error_echoes_id_question_and_flags(void **state)
{
	struct dns_query q;
	uint8_t out[512];

	build_query(&B, "WwW.Example.com", TYPE_A, 1, false, 0, false);
	b_put16(&B, 2, F_RD | F_CD | F_AA | F_TC | F_AD);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	size_t n = wire_write_error(&q, RCODE_SERVFAIL, 1232, out);
	assert_int_equal(n, 12 + 17 + 4);
	assert_int_equal(g16(out), 0x1234);
	assert_int_equal(g16(out + 2), F_QR | F_RA | F_RD | F_CD | RCODE_SERVFAIL);
	assert_int_equal(g16(out + 4), 1);
	assert_int_equal(g16(out + 6), 0);
	assert_int_equal(g16(out + 8), 0);
	assert_int_equal(g16(out + 10), 0);
	assert_memory_equal(out + 12, "\3WwW\7Example\3com\0\0\1\0\1", 21);
}

static void test_write_error_without_rd_cd_leaves_them_clear(void **state)
{
	struct dns_query q;
	uint8_t out[512];

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_put16(&B, 2, 0);
	parse(&B, &q);
	wire_write_error(&q, RCODE_REFUSED, 1232, out);
	assert_int_equal(g16(out + 2), F_QR | F_RA | RCODE_REFUSED);
}

static void test_write_error_adds_opt_only_with_client_edns(void **state)
{
	struct dns_query q;
	uint8_t out[512];
	size_t n;

	build_query(&B, "example.com", TYPE_A, 1, true, 4096, true);
	assert_int_equal(parse(&B, &q), RCODE_NOERROR);
	n = wire_write_error(&q, RCODE_REFUSED, 1232, out);
	assert_int_equal(n, 12 + 13 + 4 + 11);
	assert_int_equal(g16(out + 10), 1);
	const uint8_t *opt = out + 12 + 13 + 4;
	assert_int_equal(opt[0], 0);
	assert_int_equal(g16(opt + 1), TYPE_OPT);
	assert_int_equal(g16(opt + 3), 1232); /* our size, not the client's */
	assert_int_equal(opt[5], 0);
	assert_int_equal(opt[6], 0);
	assert_int_equal(g16(opt + 7), EDNS_DO);
	assert_int_equal(g16(opt + 9), 0);

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	parse(&B, &q);
	n = wire_write_error(&q, RCODE_REFUSED, 1232, out);
	assert_int_equal(n, 12 + 13 + 4);
	assert_int_equal(g16(out + 10), 0);
}

static void test_write_error_badvers_puts_extended_rcode_in_opt(void **state)
{
	struct dns_query q;
	uint8_t out[512];

	build_query(&B, "example.com", TYPE_A, 1, false, 0, false);
	b_opt(&B, 1232, 0, 1, 0, NULL, 0);
	b_set_counts(&B, 1, 0, 0, 1);
	assert_int_equal(parse(&B, &q), RCODE_BADVERS);
	size_t n = wire_write_error(&q, RCODE_BADVERS, 1400, out);
	assert_int_equal(n, 12 + 13 + 4 + 11);
	assert_int_equal(g16(out + 2) & 0xf, RCODE_BADVERS & 0xf); /* 0 */
	assert_int_equal(g16(out + 10), 1);
	const uint8_t *opt = out + n - 11;
	assert_int_equal(opt[5], RCODE_BADVERS >> 4); /* 1 */
	assert_int_equal(opt[6], 0);                  /* we speak version 0 */
	assert_int_equal(g16(opt + 3), 1400);
	assert_int_equal(g16(opt + 7), 0);
}

static void test_write_error_without_question(void **state)
{
	struct dns_query q;
	uint8_t out[512];

	b_header(&B, 0xbeef, F_RD, 0, 0, 0, 0);
	assert_int_equal(parse(&B, &q), RCODE_FORMERR);
	size_t n = wire_write_error(&q, RCODE_FORMERR, 1232, out);
	assert_int_equal(n, 12);
	assert_int_equal(g16(out), 0xbeef);
	assert_int_equal(g16(out + 2), F_QR | F_RA | F_RD | RCODE_FORMERR);
	assert_int_equal(g16(out + 4), 0);
	assert_int_equal(g16(out + 10), 0);
}

static void test_write_error_formerr_without_question_has_no_opt(void **state)
{
	struct dns_query q;
	uint8_t out[512];

	memset(&q, 0, sizeof(q));
	q.id = 9;
	q.edns = true;
	q.question_end = 0;
	size_t n = wire_write_error(&q, RCODE_FORMERR, 1232, out);
	assert_int_equal(n, 12);
	assert_int_equal(g16(out + 10), 0);
	/* other rcodes still get one */
	n = wire_write_error(&q, RCODE_SERVFAIL, 1232, out);
	assert_int_equal(n, 23);
	assert_int_equal(g16(out + 10), 1);
}

static void test_write_error_echoes_opcode_for_notimp(void **state)
{
	struct dns_query q;
	uint8_t out[512];

	build_query(&B, "example.com", TYPE_SOA, 1, false, 0, false);
	b_put16(&B, 2, (uint16_t)(4 << 11 | F_AA));
	assert_int_equal(parse(&B, &q), RCODE_NOTIMP);
	size_t n = wire_write_error(&q, RCODE_NOTIMP, 1232, out);
	assert_int_equal(n, 12 + 13 + 4);
	assert_int_equal(g16(out + 2), F_QR | (4 << 11) | F_RA | RCODE_NOTIMP);
	assert_int_equal(g16(out + 4), 1);
}

/* ---------------------------------------------------------------- wire_write_query */

static void test_write_query_layout(void **state)
{
	uint8_t name[64], out[512];
	size_t nl = name_to_wire("www.example.com", name);
	size_t n = wire_write_query(out, 0xabcd, name, (uint16_t)nl, TYPE_AAAA, 1,
				    F_QR | F_AA | F_RD | F_CD | F_AD | 0xf, true, 1232);

	assert_int_equal(n, 12 + nl + 4 + 11);
	assert_int_equal(g16(out), 0xabcd);
	assert_int_equal(g16(out + 2), F_RD | F_CD);
	assert_int_equal(g16(out + 4), 1);
	assert_int_equal(g16(out + 6), 0);
	assert_int_equal(g16(out + 8), 0);
	assert_int_equal(g16(out + 10), 1);
	assert_memory_equal(out + 12, name, nl);
	assert_int_equal(g16(out + 12 + nl), TYPE_AAAA);
	assert_int_equal(g16(out + 12 + nl + 2), 1);
	const uint8_t *opt = out + 12 + nl + 4;
	assert_int_equal(opt[0], 0);
	assert_int_equal(g16(opt + 1), TYPE_OPT);
	assert_int_equal(g16(opt + 3), 1232);
	assert_int_equal(g16(opt + 7), EDNS_DO);

	/* what we write, we parse as a query */
	struct dns_query q;
	assert_int_equal(wire_parse_query(out, n, &q), RCODE_NOERROR);
	assert_true(q.edns_do);
	assert_int_equal(q.edns_udp_size, 1232);

	n = wire_write_query(out, 1, name, (uint16_t)nl, TYPE_A, 1, 0, false, 512);
	assert_int_equal(g16(out + 2), 0);
	assert_int_equal(g16(out + n - 11 + 7), 0);
	assert_int_equal(g16(out + n - 11 + 3), 512);
}

/* ---------------------------------------------------------------- wire_write_opt */

static void test_write_opt_fields(void **state)
{
	uint8_t out[16];

	memset(out, 0xee, sizeof(out));
	assert_int_equal(wire_write_opt(out, 1232, 0, false), 11);
	assert_memory_equal(out, "\0\0\x29\x04\xd0\0\0\0\0\0\0", 11);
	assert_int_equal(out[11], 0xee);
	assert_int_equal(wire_write_opt(out, 4096, RCODE_BADVERS, true), 11);
	assert_memory_equal(out, "\0\0\x29\x10\0\1\0\x80\0\0\0", 11);
	/* rcode 0x35: the upper 8 bits (0x3) go in the OPT */
	wire_write_opt(out, 512, 0x35, false);
	assert_int_equal(out[5], 3);
}

/* ---------------------------------------------------------------- name helpers */

static void test_name_lower_ascii_only(void **state)
{
	uint8_t name[] = { 3, 'W', 'w', 'W', 4, 'A', 'z', 0xc4, '@', 3, '[', 'Z', '`', 0 };
	const uint8_t want[] = { 3, 'w', 'w', 'w', 4, 'a', 'z', 0xc4, '@', 3, '[', 'z', '`', 0 };

	wire_name_lower(name, sizeof(name));
	assert_memory_equal(name, want, sizeof(want));
}

static void test_name_str_formats_dotted(void **state)
{
	uint8_t name[64];
	char buf[128];
	size_t n = name_to_wire("www.Example.com", name);

	assert_string_equal(wire_name_str(name, n, buf, sizeof(buf)), "www.Example.com.");
	assert_ptr_equal(wire_name_str(name, n, buf, sizeof(buf)), buf);
	assert_string_equal(wire_name_str((const uint8_t *)"", 1, buf, sizeof(buf)), ".");
}

static void test_name_str_escapes_special_bytes(void **state)
{
	const uint8_t name[] = { 5, 'a', '.', 'b', '\\', ' ', 1, 0x7f, 0 };
	char buf[128];

	assert_string_equal(wire_name_str(name, sizeof(name), buf, sizeof(buf)),
			    "a\\.b\\\\\\032.\\127.");
}

static void test_name_str_small_buffer_stays_terminated(void **state)
{
	uint8_t name[300];
	char buf[16];
	size_t n = long_name(name, 255);

	memset(buf, 'Z', sizeof(buf));
	wire_name_str(name, n, buf, 10);
	assert_true(strlen(buf) < 10);
	assert_int_equal(buf[10], 'Z'); /* nothing past buflen */
	assert_int_equal(strncmp(buf, "xxxx", 4), 0);
	/* buflen 1: empty string; buflen 0: untouched */
	buf[0] = 'Q';
	wire_name_str(name, n, buf, 1);
	assert_int_equal(buf[0], 0);
	buf[0] = 'Q';
	wire_name_str(name, n, buf, 0);
	assert_int_equal(buf[0], 'Q');
}

static void test_name_str_truncated_wire_does_not_overread(void **state)
{
	const uint8_t name[] = { 10, 'a', 'b' }; /* label claims 10 bytes, only 2 present */
	char buf[64];

	assert_string_equal(wire_name_str(name, sizeof(name), buf, sizeof(buf)), "ab.");
}

/* ---------------------------------------------------------------- wire_parse_answer */

#define QNAME "\3www\7example\3com"
#define QNAME_LEN 17

struct ans {
	struct dnsb b;
	size_t ttl[16];
	size_t nttl;
};

static struct ans A;

/* A NOERROR answer for www.example.com/A: two A records, one NS in authority, one A glue in
 * additional. */
static void build_answer(struct ans *a, bool opt)
{
	const uint8_t ns_rd[] = { 2, 'n', 's', 0xc0, 16 }; /* ns.example.com */
	struct dnsb *b = &a->b;

	a->nttl = 0;
	b_header(b, 0x5555, F_QR | F_RD | F_RA, 1, 2, 1, opt ? 2 : 1);
	b_question(b, "www.example.com", TYPE_A, 1);
	a->ttl[a->nttl++] = b_a(b, 300, 192, 0, 2, 1);
	a->ttl[a->nttl++] = b_a(b, 200, 192, 0, 2, 2);
	a->ttl[a->nttl++] = b_rr_ptr(b, 16, TYPE_NS, 1, 86400, ns_rd, sizeof(ns_rd));
	size_t ns_name = b->len - sizeof(ns_rd);
	a->ttl[a->nttl++] = b_rr_ptr(b, (uint16_t)ns_name, TYPE_A, 1, 3600, "\xc0\0\2\x35", 4);
	if (opt)
		b_opt(b, 1232, 0, 0, EDNS_DO, NULL, 0);
}

static int parse_ans(const struct dnsb *b, struct dns_answer *a, uint16_t *ttl_off, size_t cap)
{
	return wire_parse_answer(b->buf, b->len, (const uint8_t *)QNAME, QNAME_LEN, TYPE_A, 1, a,
				 ttl_off, cap);
}

static void test_answer_valid_is_accepted(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.id, 0x5555);
	assert_int_equal(a.flags, F_QR | F_RD | F_RA);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.qdcount, 1);
	assert_int_equal(a.ancount, 2);
	assert_int_equal(a.nscount, 1);
	assert_int_equal(a.arcount, 1);
	assert_int_equal(a.question_end, 12 + 17 + 4);
	assert_int_equal(a.min_ttl, 200);
	assert_int_equal(a.opt_len, 0);
	assert_false(a.has_soa);
	assert_int_equal(a.nttl, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(t[i], A.ttl[i]);
	assert_int_equal(g32(A.b.buf + t[0]), 300);
	assert_int_equal(g32(A.b.buf + t[2]), 86400);
	/* the additional section starts at the glue record: 6 bytes before its TTL */
	assert_int_equal(a.ar_start, A.ttl[3] - 6); /* pointer owner, type, class */
}

static void test_answer_question_compared_case_insensitively(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	memcpy(A.b.buf + 12, "\3WWW\7ExAmple\3COM", 16);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
}

static void test_answer_with_qr_clear_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	b_put16(&A.b, 2, F_RD | F_RA);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_with_opcode_or_qdcount_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	b_put16(&A.b, 2, F_QR | (1 << 11));
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
	build_answer(&A, false);
	b_put16(&A.b, 4, 2);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
	b_put16(&A.b, 4, 0);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_wrong_question_name_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	A.b.buf[13] = 'v'; /* vww.example.com */
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
	/* a different length */
	build_answer(&A, false);
	assert_int_equal(wire_parse_answer(A.b.buf, A.b.len, (const uint8_t *)"\7example\3com", 13,
					   TYPE_A, 1, &a, t, 16), -1);
}

static void test_answer_wrong_question_type_or_class_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	assert_int_equal(wire_parse_answer(A.b.buf, A.b.len, (const uint8_t *)QNAME, QNAME_LEN,
					   TYPE_AAAA, 1, &a, t, 16), -1);
	assert_int_equal(wire_parse_answer(A.b.buf, A.b.len, (const uint8_t *)QNAME, QNAME_LEN,
					   TYPE_A, 3, &a, t, 16), -1);
}

static void test_answer_trailing_garbage_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	b_u8(&A.b, 0);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_truncated_rr_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	size_t full = A.b.len;
	for (size_t cut = 1; cut < full - (12 + 21); cut++)
		assert_int_equal(wire_parse_answer(A.b.buf, full - cut, (const uint8_t *)QNAME,
						   QNAME_LEN, TYPE_A, 1, &a, t, 16), -1);
	/* a count larger than the records present */
	b_put16(&A.b, 10, 2);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_forward_compression_pointer_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	b_header(&A.b, 1, F_QR, 1, 1, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	size_t here = A.b.len;
	b_ptr(&A.b, (uint16_t)(here + 2)); /* points forward */
	b_rr_tail(&A.b, TYPE_A, 1, 60, "\1\2\3\4", 4);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
	/* the same record with a backward pointer is fine */
	b_put16(&A.b, here, 0xc000 | 12);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
}

static void test_answer_pointer_loop_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	/* a pointer to itself */
	b_header(&A.b, 1, F_QR, 1, 1, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_ptr(&A.b, (uint16_t)A.b.len);
	b_rr_tail(&A.b, TYPE_A, 1, 60, "\1\2\3\4", 4);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);

	/* two records whose owners point at each other */
	b_header(&A.b, 1, F_QR, 1, 2, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	size_t first = A.b.len;
	b_ptr(&A.b, (uint16_t)(first + 16)); /* -> owner of the second record (forward) */
	b_rr_tail(&A.b, TYPE_A, 1, 60, "\1\2\3\4", 4);
	assert_int_equal(A.b.len, first + 16);
	b_ptr(&A.b, (uint16_t)first);
	b_rr_tail(&A.b, TYPE_A, 1, 60, "\1\2\3\4", 4);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);

	/* a label followed by a pointer back into the same name */
	b_header(&A.b, 1, F_QR, 1, 1, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	size_t own = A.b.len;
	b_u8(&A.b, 1);
	b_u8(&A.b, 'x');
	b_ptr(&A.b, (uint16_t)own + 2);
	b_rr_tail(&A.b, TYPE_A, 1, 60, "\1\2\3\4", 4);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_bad_label_in_record_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	b_header(&A.b, 1, F_QR, 1, 1, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_u8(&A.b, 0x41);
	b_u8(&A.b, 'a');
	b_u8(&A.b, 0);
	b_rr_tail(&A.b, TYPE_A, 1, 60, "\1\2\3\4", 4);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_too_many_ttls_for_capacity_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	assert_int_equal(parse_ans(&A.b, &a, t, 3), -1);
	assert_int_equal(parse_ans(&A.b, &a, t, 4), 0);
}

static void test_answer_too_short_or_long_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	assert_int_equal(wire_parse_answer(A.b.buf, 11, (const uint8_t *)QNAME, QNAME_LEN,
					   TYPE_A, 1, &a, t, 16), -1);
	assert_int_equal(wire_parse_answer(A.b.buf, 65536, (const uint8_t *)QNAME, QNAME_LEN,
					   TYPE_A, 1, &a, t, 16), -1);
}

static void test_answer_min_ttl_and_top_bit_ttl_counts_as_zero(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, false);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.min_ttl, 200);
	b_put16(&A.b, A.ttl[2], 0x8000); /* NS TTL 0x80005180 */
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.min_ttl, 0);
	/* 0x7fffffff is still a valid TTL */
	build_answer(&A, false);
	for (size_t i = 0; i < A.nttl; i++) {
		b_put16(&A.b, A.ttl[i], 0x7fff);
		b_put16(&A.b, A.ttl[i] + 2, 0xffff);
	}
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.min_ttl, 0x7fffffff);
}

static void test_answer_without_records_has_max_min_ttl(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	b_header(&A.b, 1, F_QR | RCODE_SERVFAIL, 1, 0, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.min_ttl, UINT32_MAX);
	assert_int_equal(a.nttl, 0);
	assert_int_equal(a.rcode, RCODE_SERVFAIL);
	assert_int_equal(a.ar_start, A.b.len);
	assert_int_equal(a.question_end, A.b.len);
}

static void test_answer_ar_start_without_additional_is_end(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	b_header(&A.b, 1, F_QR, 1, 1, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_a(&A.b, 60, 1, 2, 3, 4);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.ar_start, A.b.len);
}

static void test_answer_opt_last_fields(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_answer(&A, true);
	size_t opt_off = A.b.len - 11;
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.opt_off, opt_off);
	assert_int_equal(a.opt_len, 11);
	assert_true(a.opt_last);
	assert_int_equal(a.nttl, 4); /* the OPT's "TTL" is not listed */
	assert_int_equal(a.min_ttl, 200);
	assert_int_equal(a.ar_start, A.ttl[3] - 6); /* pointer owner, type, class */
	assert_int_equal(a.arcount, 2);
}

static void test_answer_opt_not_last_and_with_options(void **state)
{
	struct dns_answer a;
	uint16_t t[16];
	const uint8_t opts[] = { 0, 10, 0, 4, 1, 2, 3, 4 };

	b_header(&A.b, 1, F_QR, 1, 1, 0, 2);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_a(&A.b, 60, 1, 2, 3, 4);
	size_t ar = A.b.len;
	b_opt(&A.b, 4096, 0, 0, 0, opts, sizeof(opts));
	size_t glue_ttl = b_a(&A.b, 30, 5, 6, 7, 8);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.opt_off, ar);
	assert_int_equal(a.opt_len, 11 + sizeof(opts));
	assert_false(a.opt_last);
	assert_int_equal(a.ar_start, ar);
	assert_int_equal(a.nttl, 2);
	assert_int_equal(t[1], glue_ttl);
	assert_int_equal(a.min_ttl, 30);
}

static void test_answer_opt_in_answer_section_or_twice_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	b_header(&A.b, 1, F_QR, 1, 1, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_opt(&A.b, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);

	b_header(&A.b, 1, F_QR, 1, 0, 0, 2);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_opt(&A.b, 1232, 0, 0, 0, NULL, 0);
	b_opt(&A.b, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_extended_rcode_from_opt(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	b_header(&A.b, 1, F_QR | 0, 1, 0, 0, 1);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_opt(&A.b, 1232, 1, 0, 0, NULL, 0); /* ext rcode 1 + header 0 = 16 BADVERS */
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.rcode, RCODE_BADVERS);

	b_header(&A.b, 1, F_QR | 3, 1, 0, 0, 1);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_opt(&A.b, 1232, 2, 0, 0, NULL, 0);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.rcode, 0x23);

	/* the EDNS version byte is not part of the rcode */
	b_header(&A.b, 1, F_QR | 3, 1, 0, 0, 1);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_opt(&A.b, 1232, 0, 1, 0, NULL, 0);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.rcode, RCODE_NXDOMAIN);
}

static void build_nxdomain(struct ans *a, uint32_t soa_ttl, uint32_t minimum)
{
	struct dnsb *b = &a->b;

	a->nttl = 0;
	b_header(b, 0x7777, F_QR | F_RD | F_RA | RCODE_NXDOMAIN, 1, 0, 1, 0);
	b_question(b, "www.example.com", TYPE_A, 1);
	a->ttl[a->nttl++] = b_soa_ptr(b, 16, soa_ttl, minimum);
}

static void test_answer_soa_ttl_min_is_min_of_ttl_and_minimum(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_nxdomain(&A, 3600, 300);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.rcode, RCODE_NXDOMAIN);
	assert_true(a.has_soa);
	assert_int_equal(a.soa_ttl_min, 300);
	assert_int_equal(a.soa_ttl_off, A.ttl[0]);
	assert_int_equal(t[0], A.ttl[0]);
	assert_int_equal(a.min_ttl, 3600);

	build_nxdomain(&A, 60, 900);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_int_equal(a.soa_ttl_min, 60);
	assert_int_equal(a.min_ttl, 60);
}

static void test_answer_soa_in_answer_section_is_not_negative_soa(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	b_header(&A.b, 1, F_QR, 1, 1, 0, 0);
	b_question(&A.b, "www.example.com", TYPE_A, 1);
	b_soa_ptr(&A.b, 16, 3600, 300);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	assert_false(a.has_soa);
}

static void test_answer_malformed_soa_rdata_is_rejected(void **state)
{
	struct dns_answer a;
	uint16_t t[16];

	build_nxdomain(&A, 3600, 300);
	/* one byte too many in the rdata */
	size_t rdlen_off = A.ttl[0] + 4;
	uint16_t rdlen = g16(A.b.buf + rdlen_off);
	b_put16(&A.b, rdlen_off, (uint16_t)(rdlen + 1));
	b_u8(&A.b, 0);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
	/* too short: rdata ends in the middle of the numbers */
	build_nxdomain(&A, 3600, 300);
	b_put16(&A.b, rdlen_off, (uint16_t)(rdlen - 4));
	A.b.len -= 4;
	assert_int_equal(parse_ans(&A.b, &a, t, 16), -1);
}

static void test_answer_ttl_offsets_point_at_ttl_fields(void **state)
{
	struct dns_answer a;
	uint16_t t[16];
	const uint32_t want[] = { 300, 200, 86400, 3600 };

	build_answer(&A, true);
	assert_int_equal(parse_ans(&A.b, &a, t, 16), 0);
	for (size_t i = 0; i < a.nttl; i++) {
		assert_int_equal(g32(A.b.buf + t[i]), want[i]);
		/* type and class precede the TTL */
		assert_int_equal(g16(A.b.buf + t[i] - 2), 1);
	}
}

/* ---------------------------------------------------------------- wire_check_question */

static void test_check_question_matches_header_and_question_only(void **state)
{
	build_answer(&A, false);
	/* a truncated message still passes */
	assert_int_equal(wire_check_question(A.b.buf, 12 + 21, (const uint8_t *)QNAME,
					     QNAME_LEN, TYPE_A, 1), 0);
	assert_int_equal(wire_check_question(A.b.buf, 12 + 20, (const uint8_t *)QNAME,
					     QNAME_LEN, TYPE_A, 1), -1);
	assert_int_equal(wire_check_question(A.b.buf, A.b.len, (const uint8_t *)QNAME,
					     QNAME_LEN, TYPE_AAAA, 1), -1);
	assert_int_equal(wire_check_question(A.b.buf, A.b.len, (const uint8_t *)"\3WWW\7example\3com",
					     QNAME_LEN, TYPE_A, 1), 0);
	assert_int_equal(wire_check_question(A.b.buf, 11, (const uint8_t *)QNAME, QNAME_LEN,
					     TYPE_A, 1), -1);
	b_put16(&A.b, 2, 0);
	assert_int_equal(wire_check_question(A.b.buf, A.b.len, (const uint8_t *)QNAME,
					     QNAME_LEN, TYPE_A, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_equal_nocase_folds_letters_only),
		cmocka_unit_test(test_query_shorter_than_header_is_dropped),
		cmocka_unit_test(test_query_with_qr_set_is_dropped),
		cmocka_unit_test(test_query_with_qdcount_zero_is_formerr),
		cmocka_unit_test(test_query_with_qdcount_two_is_formerr),
		cmocka_unit_test(test_query_qdcount_zero_with_opcode_is_notimp),
		cmocka_unit_test(test_query_with_opcode_is_notimp),
		cmocka_unit_test(test_query_with_answer_record_is_formerr),
		cmocka_unit_test(test_query_with_authority_record_is_formerr),
		cmocka_unit_test(test_query_label_type_0x40_is_formerr),
		cmocka_unit_test(test_query_label_type_0x80_is_formerr),
		cmocka_unit_test(test_query_label_of_63_is_accepted),
		cmocka_unit_test(test_query_label_running_past_end_is_formerr),
		cmocka_unit_test(test_query_name_without_root_is_formerr),
		cmocka_unit_test(test_query_compression_pointer_in_question_is_formerr),
		cmocka_unit_test(test_query_name_of_255_is_accepted),
		cmocka_unit_test(test_query_name_over_255_is_formerr),
		cmocka_unit_test(test_query_missing_qtype_qclass_is_formerr),
		cmocka_unit_test(test_query_two_opt_records_is_formerr),
		cmocka_unit_test(test_query_opt_with_non_root_owner_is_formerr),
		cmocka_unit_test(test_query_opt_option_length_past_rdata_is_formerr),
		cmocka_unit_test(test_query_opt_truncated_option_header_is_formerr),
		cmocka_unit_test(test_query_opt_rdata_past_end_is_formerr),
		cmocka_unit_test(test_query_missing_additional_record_is_formerr),
		cmocka_unit_test(test_query_opt_with_valid_options_is_accepted),
		cmocka_unit_test(test_mac_option_65001_binary),
		cmocka_unit_test(test_mac_option_65073_base64_as_dnsmasq_sends_it),
		cmocka_unit_test(test_mac_option_65073_text_as_dnsmasq_sends_it),
		cmocka_unit_test(test_mac_option_malformed_values_mean_no_mac),
		cmocka_unit_test(test_mac_option_last_one_counts),
		cmocka_unit_test(test_mac_option_is_not_written_upstream),
		cmocka_unit_test(test_parse_mac_text_is_strict),
		cmocka_unit_test(test_query_edns_version_1_is_badvers),
		cmocka_unit_test(test_query_axfr_is_refused),
		cmocka_unit_test(test_query_ixfr_is_refused),
		cmocka_unit_test(test_query_class_chaos_is_refused),
		cmocka_unit_test(test_query_maila_mailb_opt_types_are_notimp),
		cmocka_unit_test(test_query_normal_without_edns),
		cmocka_unit_test(test_query_normal_with_edns_extracts_udp_size_and_do),
		cmocka_unit_test(test_query_root_name_is_accepted),
		cmocka_unit_test(test_query_non_opt_additional_record_is_skipped),
		cmocka_unit_test(test_query_trailing_bytes_are_tolerated),
		cmocka_unit_test(test_query_question_case_is_preserved),
		cmocka_unit_test(test_query_key_lowercases_and_appends_type_class),
		cmocka_unit_test(test_query_key_flags_do_cd_rd),
		cmocka_unit_test(test_query_key_differs_by_type_and_class),
		cmocka_unit_test(test_write_error_echoes_id_question_and_flags),
		cmocka_unit_test(test_write_error_without_rd_cd_leaves_them_clear),
		cmocka_unit_test(test_write_error_adds_opt_only_with_client_edns),
		cmocka_unit_test(test_write_error_badvers_puts_extended_rcode_in_opt),
		cmocka_unit_test(test_write_error_without_question),
		cmocka_unit_test(test_write_error_formerr_without_question_has_no_opt),
		cmocka_unit_test(test_write_error_echoes_opcode_for_notimp),
		cmocka_unit_test(test_write_query_layout),
		cmocka_unit_test(test_write_opt_fields),
		cmocka_unit_test(test_name_lower_ascii_only),
		cmocka_unit_test(test_name_str_formats_dotted),
		cmocka_unit_test(test_name_str_escapes_special_bytes),
		cmocka_unit_test(test_name_str_small_buffer_stays_terminated),
		cmocka_unit_test(test_name_str_truncated_wire_does_not_overread),
		cmocka_unit_test(test_answer_valid_is_accepted),
		cmocka_unit_test(test_answer_question_compared_case_insensitively),
		cmocka_unit_test(test_answer_with_qr_clear_is_rejected),
		cmocka_unit_test(test_answer_with_opcode_or_qdcount_is_rejected),
		cmocka_unit_test(test_answer_wrong_question_name_is_rejected),
		cmocka_unit_test(test_answer_wrong_question_type_or_class_is_rejected),
		cmocka_unit_test(test_answer_trailing_garbage_is_rejected),
		cmocka_unit_test(test_answer_truncated_rr_is_rejected),
		cmocka_unit_test(test_answer_forward_compression_pointer_is_rejected),
		cmocka_unit_test(test_answer_pointer_loop_is_rejected),
		cmocka_unit_test(test_answer_bad_label_in_record_is_rejected),
		cmocka_unit_test(test_answer_too_many_ttls_for_capacity_is_rejected),
		cmocka_unit_test(test_answer_too_short_or_long_is_rejected),
		cmocka_unit_test(test_answer_min_ttl_and_top_bit_ttl_counts_as_zero),
		cmocka_unit_test(test_answer_without_records_has_max_min_ttl),
		cmocka_unit_test(test_answer_ar_start_without_additional_is_end),
		cmocka_unit_test(test_answer_opt_last_fields),
		cmocka_unit_test(test_answer_opt_not_last_and_with_options),
		cmocka_unit_test(test_answer_opt_in_answer_section_or_twice_is_rejected),
		cmocka_unit_test(test_answer_extended_rcode_from_opt),
		cmocka_unit_test(test_answer_soa_ttl_min_is_min_of_ttl_and_minimum),
		cmocka_unit_test(test_answer_soa_in_answer_section_is_not_negative_soa),
		cmocka_unit_test(test_answer_malformed_soa_rdata_is_rejected),
		cmocka_unit_test(test_answer_ttl_offsets_point_at_ttl_fields),
		cmocka_unit_test(test_check_question_matches_header_and_question_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
