/* oui_test.c - unit tests for src/oui.h: the ieee-data CSV files (real lines in
 * tests/data/ieee: quoting, line breaks, CRLF, "Private"), the longest registered prefix, the
 * registrant's country and the made:PRC flag, and the addresses that name no vendor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "oui.h"
#include "qlog_write.h"

#ifndef OUI_FIXTURE_DIR
#define OUI_FIXTURE_DIR "tests/data/ieee"
#endif

static struct oui *fixture(void)
{
	char err[600] = "";
	struct oui *t = oui_load(OUI_FIXTURE_DIR, err, sizeof(err));

	if (!t)
		fail_msg("oui_load: %s", err);
	return t;
}

static const struct oui_vendor *look(const struct oui *t, const char *mac)
{
	uint8_t m[6];

	assert_int_equal(oui_parse_mac(mac, m), 0);
	return oui_lookup(t, m);
}

static void assert_vendor(const struct oui *t, const char *mac, const char *name, const char *cc,
			  bool prc)
{
	const struct oui_vendor *v = look(t, mac);

	if (!v)
		fail_msg("%s: no vendor, expected %s", mac, name);
	assert_string_equal(v->name, name);
	assert_string_equal(v->country, cc);
	assert_int_equal(v->prc, prc);
}

static void test_every_registration_of_the_fixture_is_read(void **state)
{
	struct oui *t = fixture();

	/* 15 MA-L, 4 MA-M, 3 MA-S, 1 IAB: every record, the multi-line ones included */
	assert_int_equal(oui_count(t), 15 + 4 + 3 + 1);
	oui_unref(t);
}

static void test_quoted_names_and_prc_vendors(void **state)
{
	struct oui *t = fixture();

	assert_vendor(t, "10:32:7e:01:02:03", "Huawei Device Co., Ltd.", "CN", true);
	assert_vendor(t, "44:47:CC:AA:BB:CC", "Hangzhou Hikvision Digital Technology Co.,Ltd.", "CN", true);
	assert_vendor(t, "f4-bd-9e-00-00-01", "Cisco Systems, Inc", "US", false);
	assert_vendor(t, "00:1e:fc:00:00:01", "JSC \"MASSA-K\"", "RU", false);   /* "" in quotes */
	assert_vendor(t, "98:ba:39:00:00:01", "Doro AB", "SE", false);
	/* a quoted address over five lines, then the next record as usual */
	assert_vendor(t, "3c:b0:7e:00:00:01", "Arounds Intelligent Equipment Co., Ltd.", "CN", true);
	assert_vendor(t, "00:50:c2:00:00:01", "IEEE Registration Authority", "US", false);
	oui_unref(t);
}

static void test_country_before_a_postal_code_with_letters(void **state)
{
	struct oui *t = fixture();

	assert_vendor(t, "30:ea:26:00:00:01", "Sycada BV", "NL", false);     /* NL 1101 AA */
	assert_vendor(t, "c4:29:96:00:00:01", "Signify B.V.", "NL", false);  /* NL 5656AE */
	assert_vendor(t, "54:9c:27:00:00:01", "Plasma Cloud Limited", "HK", true); /* HK NA */
	oui_unref(t);
}

static void test_longest_prefix_wins(void **state)
{
	struct oui *t = fixture();

	/* MA-S 70B3D5A68 and F2F inside the MA-L 70B3D5 of the IEEE Registration Authority */
	assert_vendor(t, "70:b3:d5:a6:8f:ff", "Zhejiang Zhaolong Interconnect Technology Co.,Ltd", "CN", true);
	assert_vendor(t, "70:b3:d5:f2:f0:00", "TELEPLATFORMS", "RU", false);
	assert_vendor(t, "70:b3:d5:a6:90:00", "IEEE Registration Authority", "US", false);
	/* MA-M 208593D (CN) in 208593; 883CC56 (HK, a quoted address with a line break) has no MA-L */
	assert_vendor(t, "20:85:93:d1:23:45", "Shanghai Kenmyond Industrial Network Equipment Co.,Ltd", "CN", true);
	assert_vendor(t, "20:85:93:c1:23:45", "IEEE Registration Authority", "US", false);
	assert_vendor(t, "88:3c:c5:61:23:45", "mfJebsen Electronics Ltd.", "HK", true);
	assert_null(look(t, "88:3c:c5:71:23:45"));
	/* a "Private" MA-M registration: the vendor chose not to be listed */
	assert_vendor(t, "74:1a:e0:90:00:01", "private registration", "", false);
	assert_vendor(t, "74:1a:e0:80:00:01", "IEEE Registration Authority", "US", false);
	/* IAB, 36 bits */
	assert_vendor(t, "00:50:c2:7d:50:01", "DEUTA-WERKE GmbH", "DE", false);
	oui_unref(t);
}

static void test_private_multicast_and_unknown(void **state)
{
	struct oui *t = fixture();

	/* locally administered (randomised): never a guess, even inside a registered block */
	assert_vendor(t, "12:32:7e:01:02:03", "private address", "", false);
	assert_vendor(t, "da:a1:19:00:00:01", "private address", "", false);
	assert_vendor(t, "11:32:7e:01:02:03", "multicast", "", false);
	assert_vendor(t, "01:00:5e:00:00:fb", "multicast", "", false);
	assert_null(look(t, "00:00:01:00:00:01"));
	assert_null(look(t, "fc:fc:fc:00:00:01"));
	assert_vendor(t, "00:00:00:00:00:00", "XEROX CORPORATION", "US", false);
	/* no table: still the two answers that need none */
	uint8_t m[6] = { 0x10, 0x32, 0x7e, 1, 2, 3 };
	assert_null(oui_lookup(NULL, m));
	m[0] = 0x02;
	assert_string_equal(oui_lookup(NULL, m)->name, "private address");
	oui_unref(t);
	oui_unref(NULL);
}

static void test_address_country(void **state)
{
	static const struct { const char *addr, *cc; } cases[] = {
		{ "No.555 Qianmo Road Hangzhou Zhejiang CN 310052 ", "CN" },
		{ "Burgemeester Stramanweg 105B Amsterdam  NL 1101 AA ", "NL" },
		{ "TussenDiepen 4 Drachten Friesland NL 9206 AD   ", "NL" },  /* AD is a country too */
		{ "Room 1002, Kowloon, Hong Kong Hong Kong  HK NA ", "HK" },
		{ "Unit 3709, Lippo Centre, Hong Kong Hong Kong HK Hong Kong ", "HK" },
		{ "615 Rene Levesque West\nSuite 500 Montreal Quebec CA H3B 1P5 ", "CA" },
		{ "4th Floor Lawford House London England GB N3 1 RL ", "GB" },
		{ "PO Box 108042 Auckland  NZ  ", "NZ" },
		{ "Avenida da Praia Grande Macau  MO 999078 ", "MO" },
		{ "Beijing  CN", "CN" },
		{ "2801 Network Blvd, Suite 200 Frisco TX US TX 75034 ", "US" }, /* TX is no country */
		{ "", "" },
		{ "   ", "" },
		{ "2744 Yorkmont Road Charlotte", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cc[3];
		oui_address_country(cases[i].addr, cc);
		if (strcmp(cc, cases[i].cc))
			fail_msg("'%s': country '%s', expected '%s'", cases[i].addr, cc, cases[i].cc);
	}
}

static void test_parse_mac(void **state)
{
	uint8_t m[6];

	assert_int_equal(oui_parse_mac("AA:bb:0C:dd:ee:0f", m), 0);
	assert_int_equal(m[0], 0xaa);
	assert_int_equal(m[5], 0x0f);
	assert_int_equal(oui_parse_mac("aa-bb-cc-dd-ee-ff", m), 0);
	assert_int_equal(oui_parse_mac("aa:bb:cc:dd:ee", m), -1);
	assert_int_equal(oui_parse_mac("aa:bb:cc:dd:ee:ff:00", m), -1);
	assert_int_equal(oui_parse_mac("aabbccddeeff", m), -1);
	assert_int_equal(oui_parse_mac("aa:bb:cc:dd:ee:fg", m), -1);
	assert_int_equal(oui_parse_mac("", m), -1);
}

static char tmpdir[256];

static void write_file(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(p, "wb"));
	fputs(text, f);
	fclose(f);
}

static void test_bad_directories_and_files(void **state)
{
	char err[600], p[512];
	struct oui *t;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/jdouiXXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	/* no oui.csv: an error naming the file */
	assert_null(oui_load(tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "oui.csv"));
	assert_non_null(strstr(err, "No such file"));
	/* a file that is not ieee-data */
	write_file("oui.csv", "hello, world\n\x01\x02\x03\n");
	assert_null(oui_load(tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "no MAC address registrations"));
	/* bad lines are skipped; a record without address, LF line ends, an unterminated quote
	 * (it takes the rest of the file), no final newline */
	write_file("oui.csv", "Registry,Assignment,Organization Name,Organization Address\n"
		   "MA-L,ZZ0000,Bad,x\nMA-L,1234,Short,x\n\n"
		   "MA-L,08BBCC,Last One,\n\"unterminated,\nMA-L,08BBCD,Eaten,x\n");
	write_file("mam.csv", "MA-M,08BBCC1,\"Quoted\"\"Name\"\"\",\"Road\r\nShenzhen  CN 518057\"");
	assert_non_null(t = oui_load(tmpdir, err, sizeof(err)));
	assert_int_equal(oui_count(t), 2);
	assert_vendor(t, "08:bb:cc:00:00:00", "Last One", "", false);
	assert_null(look(t, "08:bb:cd:00:00:00"));
	assert_vendor(t, "08:bb:cc:10:00:00", "Quoted\"Name\"", "CN", true);
	oui_unref(t);
	/* an unreadable optional file is an error, a missing one is not */
	snprintf(p, sizeof(p), "%s/oui36.csv", tmpdir);
	assert_int_equal(mkdir(p, 0700), 0); /* a directory cannot be read as a file */
	assert_null(t = oui_load(tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "oui36.csv"));
	rmdir(p);
	snprintf(p, sizeof(p), "%s/oui.csv", tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/mam.csv", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	assert_null(oui_load("/nonexistent/ieee-data", err, sizeof(err)));
}

/* The query-log fields: vendor for a record with a MAC, made only for PRC registrants. */
static void test_query_log_vendor_fields(void **state)
{
	struct oui *t = fixture();
	char buf[4096];
	static const uint8_t qname[] = "\x07" "example" "\x03" "com";
	_Alignas(8) uint8_t mem[sizeof(struct qlog_rec) + sizeof(qname)] = { 0 };
	struct qlog_rec *rec = (struct qlog_rec *)(void *)mem;

	rec->qtype = 1;
	rec->qname_len = sizeof(qname);
	memcpy(rec->qname, qname, sizeof(qname));
	rec->client.u.sin.sin_family = AF_INET;
	rec->has_mac = true;
	memcpy(rec->mac, "\x44\x47\xcc\x01\x02\x03", 6);
	assert_true(qlog_format(rec, CLIENT_ID_IP, NULL, 0, t, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"vendor\":\"Hangzhou Hikvision Digital Technology Co.,Ltd.\","
				    "\"made\":\"PRC\","));
	memcpy(rec->mac, "\x00\x1e\xfc\x01\x02\x03", 6);
	assert_true(qlog_format(rec, CLIENT_ID_MAC, NULL, 0, t, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"vendor\":\"JSC \\\"MASSA-K\\\"\""));
	assert_null(strstr(buf, "\"made\""));
	memcpy(rec->mac, "\x06\x1e\xfc\x01\x02\x03", 6);
	assert_true(qlog_format(rec, CLIENT_ID_HASH, (const uint8_t *)"k", 1, t, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"vendor\":\"private address\""));
	memcpy(rec->mac, "\x00\x00\x01\x01\x02\x03", 6);
	assert_true(qlog_format(rec, CLIENT_ID_IP, NULL, 0, t, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"vendor\":null"));
	/* no table, or no MAC: no vendor field */
	assert_true(qlog_format(rec, CLIENT_ID_IP, NULL, 0, NULL, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "vendor"));
	rec->has_mac = false;
	assert_true(qlog_format(rec, CLIENT_ID_IP, NULL, 0, t, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "vendor"));
	oui_unref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_registration_of_the_fixture_is_read),
		cmocka_unit_test(test_quoted_names_and_prc_vendors),
		cmocka_unit_test(test_country_before_a_postal_code_with_letters),
		cmocka_unit_test(test_longest_prefix_wins),
		cmocka_unit_test(test_private_multicast_and_unknown),
		cmocka_unit_test(test_address_country),
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_bad_directories_and_files),
		cmocka_unit_test(test_query_log_vendor_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
