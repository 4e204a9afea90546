/* label_test.c - unit tests for src/geo.h (lookups in the test GeoIP database built from
 * tests/data/geo-fixture.txt, field paths, describe, change detection), src/groups.h (loading,
 * list files, matching, errors, the shipped zones/jurisdictions.conf) and src/label.h (labelling
 * answers: A/AAAA along CNAME chains, HTTPS/SVCB hints, domain reasons, limits, malformed rdata).
 * Temporary files live in a private directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "geo.h"
#include "groups.h"
#include "label.h"
#include "wire.h"
#include "dnsbuild.h"

static char tmpdir[256];
static struct geo *GEO;          /* default paths, the test database */
static struct groups *GRP;       /* PRC (0) and RU (1), see GROUPS_CONF */
static struct dnsb B;

/* --- helpers --- */

static const char *mmdb_path(void)
{
	const char *p = getenv("TEST_MMDB");
	return p && *p ? p : "tests/data/test.mmdb";
}

static const char *tpath(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static void write_file(const char *name, const void *data, size_t n)
{
	char p[512];
	FILE *f = fopen(tpath(name, p, sizeof(p)), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *name, const char *text)
{
	write_file(name, text, strlen(text));
}

static void copy_file(const char *from, const char *to_name)
{
	FILE *f = fopen(from, "rb");
	static uint8_t buf[1 << 20];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(buf));
	write_file(to_name, buf, n);
}

static void sa_from(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
}

static void lookup(const struct geo *g, const char *ip, struct geo_result *r)
{
	struct sockaddr_storage ss;

	sa_from(ip, &ss);
	memset(r, 0x5a, sizeof(*r)); /* geo_lookup must fill every field */
	geo_lookup(g, (struct sockaddr *)&ss, r);
}

static struct groups *load_text(const char *name, const char *text, char *err, size_t errlen)
{
	char p[512];

	write_text(name, text);
	err[0] = 0;
	return groups_load(tpath(name, p, sizeof(p)), err, errlen);
}

/* Lower-case wire form of a text name. */
static size_t qwire(const char *name, uint8_t *out)
{
	size_t n = name_to_wire(name, out);
	wire_name_lower(out, n);
	return n;
}

/* Label the answer in B (question name qname, question ending at qend, ancount from the header).
 * The message is copied into a buffer of exactly its size so ASan catches any overread. */
static struct label *label_b(const char *qname, size_t qend)
{
	uint8_t qn[DNS_MAX_NAME + 1];
	size_t qlen = qwire(qname, qn);
	uint8_t *pkt = malloc(B.len);
	struct label *l;

	assert_non_null(pkt);
	memcpy(pkt, B.buf, B.len);
	l = label_answer(pkt, B.len, qend, g16(pkt + 6), qn, qlen, GEO, GRP);
	free(pkt);
	assert_non_null(l);
	assert_int_equal(atomic_load(&l->refs), 1);
	assert_true(l->naddrs <= l->total_addrs);
	assert_true(l->naddrs <= LABEL_MAX_ADDRS);
	assert_true(l->nreasons <= LABEL_MAX_REASONS);
	return l;
}

/* A header and question; returns the offset after the question. */
static size_t start(const char *qname, uint16_t qtype, uint16_t ancount)
{
	b_header(&B, 0x1234, F_QR | F_RD | F_RA, 1, ancount, 0, 0);
	b_question(&B, qname, qtype, 1);
	return B.len;
}

static void rr_a(const char *owner, const char *ip)
{
	uint8_t a[4];
	assert_int_equal(inet_pton(AF_INET, ip, a), 1);
	b_rr(&B, owner, TYPE_A, 1, 300, a, 4);
}

static void rr_aaaa(const char *owner, const char *ip)
{
	uint8_t a[16];
	assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
	b_rr(&B, owner, TYPE_AAAA, 1, 300, a, 16);
}

static void rr_cname(const char *owner, const char *target)
{
	uint8_t t[256];
	size_t n = name_to_wire(target, t);
	b_rr(&B, owner, TYPE_CNAME, 1, 300, t, (uint16_t)n);
}

static int find_reason(const struct label *l, const char *text)
{
	char buf[160];

	for (unsigned i = 0; i < l->nreasons; i++)
		if (!strcmp(label_reason_str(&l->reasons[i], buf, sizeof(buf)), text))
			return (int)i;
	return -1;
}

static void assert_reasons(const struct label *l, unsigned n, ...)
{
	va_list ap;

	if (l->nreasons != n) {
		char buf[160];
		for (unsigned i = 0; i < l->nreasons; i++)
			print_error("reason %u: %s\n", i, label_reason_str(&l->reasons[i], buf, sizeof(buf)));
	}
	assert_int_equal(l->nreasons, n);
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++) {
		const char *r = va_arg(ap, const char *);
		if (find_reason(l, r) < 0)
			fail_msg("reason %s missing", r);
	}
	va_end(ap);
}

static void assert_addr(const struct label_addr *a, const char *ip, bool known, const char *cc,
			uint32_t asn, const char *org)
{
	uint8_t want[16] = { 0 };

	if (strchr(ip, ':')) {
		assert_int_equal(inet_pton(AF_INET6, ip, want), 1);
		assert_true(a->v6);
	} else {
		want[10] = want[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, ip, want + 12), 1);
		assert_false(a->v6);
	}
	assert_memory_equal(a->ip, want, 16);
	assert_int_equal(a->known, known);
	assert_string_equal(a->cc, cc);
	assert_int_equal(a->asn, asn);
	assert_string_equal(a->org, org);
}

/* --- fixtures --- */

static const char GROUPS_CONF[] =
	"# test groups\n"
	"[jurisdiction PRC]\n"
	"countries = CN HK MO   ; comment\n"
	"asns = 4134 AS45102 as132203\n"
	"asns = lists/prc-asns.txt\n"
	"domains = iot.example.cn, vendor.test\n"
	"domains = lists/prc-domains.txt\n"
	"\n"
	"[jurisdiction RU]\n"
	"countries = ru,BY\n"
	"asns = 12389 8359 4134\n"
	"domains = yandex.ru vendor.test\n";

static int group_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	char p[512], err[512];
	struct geo_paths gp;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/jdlabelXXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(p, sizeof(p), "%s/lists", tmpdir);
	if (mkdir(p, 0700) < 0)
		return -1;
	geo_paths_default(&gp);
	GEO = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err));
	if (!GEO) {
		fprintf(stderr, "geo_open %s: %s\n", mmdb_path(), err);
		return -1;
	}
	FILE *f;
	snprintf(p, sizeof(p), "%s/lists/prc-asns.txt", tmpdir);
	if (!(f = fopen(p, "w")))
		return -1;
	fputs("# PRC operators\n\nAS37963   # Alibaba\n  9929 ; China Unicom\nas4609\n4134\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/lists/prc-domains.txt", tmpdir);
	if (!(f = fopen(p, "w")))
		return -1;
	fputs("# vendor clouds\nTuyaEU.com   # Tuya\nexample-cdn.cn.\n\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/groups.conf", tmpdir);
	if (!(f = fopen(p, "w")))
		return -1;
	fputs(GROUPS_CONF, f);
	fclose(f);
	GRP = groups_load(p, err, sizeof(err));
	if (!GRP) {
		fprintf(stderr, "groups_load: %s\n", err);
		return -1;
	}
	return 0;
}

static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[768];
	struct stat st;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int group_teardown(void **state)
{
	(void)state;
	geo_unref(GEO);
	groups_unref(GRP);
	rm_rf(tmpdir);
	return 0;
}

/* ============================== geo ============================== */

struct geo_case {
	const char *ip;
	bool found;
	const char *cc;
	uint32_t asn;
	const char *org;
};

static const struct geo_case GEO_CASES[] = {
	{ "192.0.2.1", true, "CN", 4134, "CHINANET-BACKBONE" },
	{ "192.0.2.63", true, "CN", 4134, "CHINANET-BACKBONE" },
	{ "192.0.2.64", true, "HK", 9929, "CHINA UNICOM Industrial Internet Backbone" },
	{ "192.0.2.130", true, "MO", 4609, "Companhia de Telecomunica\xc3\xa7\xc3\xb5" "es de Macau" },
	{ "192.0.2.200", true, "DE", 45102, "Alibaba US Technology Co., Ltd." },
	{ "198.51.100.1", true, "DE", 3320, "Deutsche Telekom AG" },
	{ "198.51.100.130", true, "US", 15169, "GOOGLE" },
	{ "198.51.100.200", true, "DE", 132203, "Tencent Building, Kejizhongyi Avenue" },
	{ "198.51.100.230", true, "DE", 0, "" },             /* country only */
	{ "198.51.100.245", true, "", 13335, "CLOUDFLARENET" }, /* ASN only */
	{ "203.0.113.1", true, "US", 16509, "AMAZON-02" },
	{ "203.0.113.130", true, "CN", 37963, "Hangzhou Alibaba Advertising Co.,Ltd." },
	{ "203.0.113.200", true, "TW", 3462, "Chunghwa Telecom Co., Ltd." },
	{ "203.0.113.230", true, "RU", 12389, "PJSC Rostelecom" },
	{ "203.0.113.241", false, "", 0, "" },                /* deliberately absent */
	{ "10.0.0.1", false, "", 0, "" },
	{ "2001:db8:1::1", true, "CN", 4134, "CHINANET-BACKBONE" },
	{ "2001:db8:2::1", true, "DE", 3320, "Deutsche Telekom AG" },
	{ "2001:db8:3:ffff::1", true, "US", 15169, "GOOGLE" },
	{ "2001:db8:4::1", true, "DE", 45102, "Alibaba US Technology Co., Ltd." },
	{ "2001:db8:5::1", true, "HK", 9929, "CHINA UNICOM Industrial Internet Backbone" },
	{ "2001:db8:6::1", true, "", 132203, "Tencent Building, Kejizhongyi Avenue" },
	{ "2001:db8:7::1", true, "US", 0, "" },
	{ "2001:db8:8::1", false, "", 0, "" },
	{ "2001:db8::1", false, "", 0, "" },
};

static void test_geo_lookup_fixture(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(GEO_CASES) / sizeof(GEO_CASES[0]); i++) {
		const struct geo_case *c = &GEO_CASES[i];
		struct geo_result r;
		lookup(GEO, c->ip, &r);
		if (r.found != c->found || strcmp(r.cc, c->cc) || r.asn != c->asn || strcmp(r.org, c->org))
			fail_msg("%s: got found=%d cc='%s' asn=%u org='%s'", c->ip, r.found, r.cc, r.asn, r.org);
	}
}

static void test_geo_lookup_null_geo(void **state)
{
	struct geo_result r;

	(void)state;
	lookup(NULL, "192.0.2.1", &r);
	assert_false(r.found);
	assert_string_equal(r.cc, "");
	assert_int_equal(r.asn, 0);
	assert_string_equal(r.org, "");
}

static void test_geo_open_missing(void **state)
{
	char p[512], err[512] = "";
	struct geo_paths gp;

	(void)state;
	geo_paths_default(&gp);
	tpath("no-such.mmdb", p, sizeof(p));
	assert_null(geo_open(p, NULL, &gp, err, sizeof(err)));
	assert_non_null(strstr(err, p));
	/* a missing ASN database fails the whole open and names that file */
	err[0] = 0;
	assert_null(geo_open(mmdb_path(), p, &gp, err, sizeof(err)));
	assert_non_null(strstr(err, p));
}

static void test_geo_open_garbage(void **state)
{
	char p[512], err[512] = "";
	uint8_t junk[4096];
	struct geo_paths gp;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		junk[i] = (uint8_t)x;
	}
	write_file("garbage.mmdb", junk, sizeof(junk));
	geo_paths_default(&gp);
	assert_null(geo_open(tpath("garbage.mmdb", p, sizeof(p)), NULL, &gp, err, sizeof(err)));
	assert_non_null(strstr(err, p));
	/* an empty file too */
	write_file("empty.mmdb", "", 0);
	err[0] = 0;
	assert_null(geo_open(tpath("empty.mmdb", p, sizeof(p)), NULL, &gp, err, sizeof(err)));
	assert_non_null(strstr(err, p));
	/* and a garbage ASN database */
	err[0] = 0;
	assert_null(geo_open(mmdb_path(), tpath("garbage.mmdb", p, sizeof(p)), &gp, err, sizeof(err)));
	assert_non_null(strstr(err, p));
}

static void test_geo_paths_check(void **state)
{
	char err[256];
	static const char *const good[] = {
		"country/iso_code,country_code",
		"country/iso_code, registered_country/iso_code ,country_code",
		"a",
		"a,b,c,d",
		"a/b/c/d/e/f",
		"a/b/c/d/e/f,b/c/d/e/f/g,c,d",
	};
	static const char *const bad[] = {
		"", ",", " , ", "a//b", "/a", "a/", "a,b,c,d,e", "a/b/c/d/e/f/g", "x,a//b",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err[0] = 0;
		if (geo_paths_check(good[i], err, sizeof(err)) != 0)
			fail_msg("'%s' rejected: %s", good[i], err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (geo_paths_check(bad[i], err, sizeof(err)) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(err[0] != 0);
	}
	/* the defaults are valid */
	struct geo_paths gp;
	geo_paths_default(&gp);
	assert_int_equal(geo_paths_check(gp.country, err, sizeof(err)), 0);
	assert_int_equal(geo_paths_check(gp.asn, err, sizeof(err)), 0);
	assert_int_equal(geo_paths_check(gp.org, err, sizeof(err)), 0);
}

static void test_geo_custom_paths(void **state)
{
	char err[256] = "";
	struct geo_paths gp;
	struct geo *g;
	struct geo_result r;

	(void)state;
	/* the fixture has only country/iso_code: registered_country gives nothing */
	geo_paths_default(&gp);
	snprintf(gp.country, sizeof(gp.country), "registered_country/iso_code");
	g = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err));
	assert_non_null(g);
	lookup(g, "192.0.2.1", &r);
	assert_true(r.found);
	assert_string_equal(r.cc, "");
	assert_int_equal(r.asn, 4134);
	assert_string_equal(r.org, "CHINANET-BACKBONE");
	geo_unref(g);

	/* alternatives are tried in order; a missing first one falls through */
	snprintf(gp.country, sizeof(gp.country), "country_code,country/iso_code");
	snprintf(gp.asn, sizeof(gp.asn), "asn");               /* absent in the fixture */
	snprintf(gp.org, sizeof(gp.org), "country/iso_code");  /* any string path */
	g = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err));
	assert_non_null(g);
	lookup(g, "2001:db8:5::1", &r);
	assert_true(r.found);
	assert_string_equal(r.cc, "HK");
	assert_int_equal(r.asn, 0);
	assert_string_equal(r.org, "HK");
	geo_unref(g);

	/* a path to a map or to a non-numeric string gives no value */
	snprintf(gp.country, sizeof(gp.country), "country");
	snprintf(gp.asn, sizeof(gp.asn), "autonomous_system_organization");
	snprintf(gp.org, sizeof(gp.org), "autonomous_system_number");
	g = geo_open(mmdb_path(), NULL, &gp, err, sizeof(err));
	assert_non_null(g);
	lookup(g, "192.0.2.1", &r);
	assert_true(r.found);
	assert_string_equal(r.cc, "");
	assert_int_equal(r.asn, 0);
	assert_string_equal(r.org, "");
	geo_unref(g);

	/* an invalid path list fails the open */
	geo_paths_default(&gp);
	snprintf(gp.asn, sizeof(gp.asn), "a//b");
	err[0] = 0;
	assert_null(geo_open(mmdb_path(), NULL, &gp, err, sizeof(err)));
	assert_true(err[0] != 0);
}

static void test_geo_separate_asn_db(void **state)
{
	char err[256] = "", desc[1024];
	struct geo_paths gp;
	struct geo *g;
	struct geo_result r;

	(void)state;
	geo_paths_default(&gp);
	g = geo_open(mmdb_path(), mmdb_path(), &gp, err, sizeof(err));
	assert_non_null(g);
	for (size_t i = 0; i < sizeof(GEO_CASES) / sizeof(GEO_CASES[0]); i++) {
		const struct geo_case *c = &GEO_CASES[i];
		lookup(g, c->ip, &r);
		if (r.found != c->found || strcmp(r.cc, c->cc) || r.asn != c->asn || strcmp(r.org, c->org))
			fail_msg("%s: got found=%d cc='%s' asn=%u org='%s'", c->ip, r.found, r.cc, r.asn, r.org);
	}
	geo_describe(g, desc, sizeof(desc));
	assert_non_null(strstr(desc, "; "));
	assert_non_null(strstr(strstr(desc, "; "), "jurisdns-test"));
	assert_false(geo_changed(g));
	geo_unref(g);
}

static void test_geo_describe(void **state)
{
	char desc[1024], small[16];

	(void)state;
	geo_describe(GEO, desc, sizeof(desc));
	assert_non_null(strstr(desc, "jurisdns-test"));
	assert_non_null(strstr(desc, "days old"));
	assert_non_null(strstr(desc, "2023-11-14"));
	assert_int_equal((long long)geo_build_time(GEO), 1700000000LL);
	/* a short buffer is truncated, never overrun */
	memset(small, 'x', sizeof(small));
	geo_describe(GEO, small, 8);
	assert_true(strlen(small) < 8);
	assert_int_equal(small[8], 'x');
}

static void test_geo_refcount(void **state)
{
	(void)state;
	assert_ptr_equal(geo_ref(GEO), GEO);
	geo_unref(GEO);
	assert_null(geo_ref(NULL));
	geo_unref(NULL);
}

static void test_geo_changed(void **state)
{
	char a[512], b[512], err[256] = "";
	struct geo_paths gp;
	struct geo *g;
	struct geo_result r;

	(void)state;
	copy_file(mmdb_path(), "changing.mmdb");
	geo_paths_default(&gp);
	g = geo_open(tpath("changing.mmdb", a, sizeof(a)), NULL, &gp, err, sizeof(err));
	assert_non_null(g);
	assert_false(geo_changed(g));
	assert_false(geo_changed(g));
	copy_file(mmdb_path(), "replacement.mmdb");
	assert_false(geo_changed(g));
	assert_int_equal(rename(tpath("replacement.mmdb", b, sizeof(b)), a), 0);
	assert_true(geo_changed(g));
	/* the open snapshot keeps working on the old mapping */
	lookup(g, "192.0.2.1", &r);
	assert_string_equal(r.cc, "CN");
	geo_unref(g);
	/* a fresh open of the new file is unchanged */
	g = geo_open(a, NULL, &gp, err, sizeof(err));
	assert_non_null(g);
	assert_false(geo_changed(g));
	geo_unref(g);
}

/* ============================== groups ============================== */

static void test_groups_load(void **state)
{
	const struct jgroup *prc, *ru;

	(void)state;
	assert_int_equal(groups_count(GRP), 2);
	prc = groups_get(GRP, 0);
	ru = groups_get(GRP, 1);
	assert_string_equal(prc->name, "PRC");
	assert_string_equal(ru->name, "RU");
	assert_int_equal(prc->ncountries, 3);
	assert_string_equal(prc->countries[0], "CN");
	assert_string_equal(prc->countries[1], "HK");
	assert_string_equal(prc->countries[2], "MO");
	assert_int_equal(ru->ncountries, 2);
	assert_string_equal(ru->countries[0], "RU"); /* upper-cased */
	assert_string_equal(ru->countries[1], "BY");
	/* 4134 45102 132203 + 37963 9929 4609 (4134 twice): sorted, unique */
	static const uint32_t want[] = { 4134, 4609, 9929, 37963, 45102, 132203 };
	assert_int_equal(prc->nasns, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(prc->asns[i], want[i]);
	assert_int_equal(ru->nasns, 3);
	assert_int_equal(ru->asns[0], 4134);
	assert_int_equal(ru->asns[1], 8359);
	assert_int_equal(ru->asns[2], 12389);
	assert_int_equal(prc->ndomains, 4);
	assert_int_equal(ru->ndomains, 2);
	/* refcounting */
	assert_ptr_equal(groups_ref(GRP), GRP);
	groups_unref(GRP);
}

static void test_groups_match_country_asn(void **state)
{
	(void)state;
	assert_int_equal(groups_match_country(GRP, "CN"), 1);
	assert_int_equal(groups_match_country(GRP, "HK"), 1);
	assert_int_equal(groups_match_country(GRP, "MO"), 1);
	assert_int_equal(groups_match_country(GRP, "RU"), 2);
	assert_int_equal(groups_match_country(GRP, "BY"), 2);
	assert_int_equal(groups_match_country(GRP, "DE"), 0);
	assert_int_equal(groups_match_country(GRP, "TW"), 0);
	assert_int_equal(groups_match_country(GRP, ""), 0);
	assert_int_equal(groups_match_asn(GRP, 4134), 3); /* in both */
	assert_int_equal(groups_match_asn(GRP, 45102), 1);
	assert_int_equal(groups_match_asn(GRP, 132203), 1);
	assert_int_equal(groups_match_asn(GRP, 37963), 1);
	assert_int_equal(groups_match_asn(GRP, 9929), 1);
	assert_int_equal(groups_match_asn(GRP, 4609), 1);
	assert_int_equal(groups_match_asn(GRP, 12389), 2);
	assert_int_equal(groups_match_asn(GRP, 8359), 2);
	assert_int_equal(groups_match_asn(GRP, 0), 0);
	assert_int_equal(groups_match_asn(GRP, 1), 0);
	assert_int_equal(groups_match_asn(GRP, 4133), 0);
	assert_int_equal(groups_match_asn(GRP, 4135), 0);
	assert_int_equal(groups_match_asn(GRP, UINT32_MAX), 0);
}

static uint32_t dmatch(const struct groups *g, const char *name, size_t *off)
{
	uint8_t w[DNS_MAX_NAME + 1];
	size_t n = qwire(name, w);

	*off = 9999;
	return groups_match_domain(g, w, n, off);
}

static void test_groups_match_domain(void **state)
{
	size_t off;

	(void)state;
	assert_int_equal(dmatch(GRP, "tuyaeu.com", &off), 1);
	assert_int_equal(off, 0);
	assert_int_equal(dmatch(GRP, "a.b.tuyaeu.com", &off), 1);
	assert_int_equal(off, 4); /* \1a \1b */
	assert_int_equal(dmatch(GRP, "A.B.TuyaEU.COM", &off), 1); /* lower-cased by qwire */
	assert_int_equal(off, 4);
	assert_int_equal(dmatch(GRP, "nottuyaeu.com", &off), 0);
	assert_int_equal(off, 9999);
	assert_int_equal(dmatch(GRP, "tuyaeu.com.evil.test", &off), 0);
	assert_int_equal(dmatch(GRP, "com", &off), 0);
	assert_int_equal(dmatch(GRP, ".", &off), 0);
	assert_int_equal(dmatch(GRP, "x.example-cdn.cn", &off), 1); /* trailing dot in the list */
	assert_int_equal(off, 2);
	assert_int_equal(dmatch(GRP, "example.cn", &off), 0);
	assert_int_equal(dmatch(GRP, "iot.example.cn", &off), 1);
	assert_int_equal(dmatch(GRP, "www.yandex.ru", &off), 2);
	assert_int_equal(off, 4);
	/* listed by both groups */
	assert_int_equal(dmatch(GRP, "api.vendor.test", &off), 3);
	assert_int_equal(off, 4);

	/* the longest matching suffix is reported */
	char err[512];
	struct groups *g = load_text("nested.conf",
				     "[jurisdiction A]\nasns = 1\ndomains = example.com\n"
				     "[jurisdiction B]\nasns = 2\ndomains = deep.example.com\n", err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(dmatch(g, "x.deep.example.com", &off), 3);
	assert_int_equal(off, 2);
	assert_int_equal(dmatch(g, "x.example.com", &off), 1);
	assert_int_equal(off, 2);
	groups_unref(g);

	/* an empty set matches nothing */
	g = groups_empty();
	assert_non_null(g);
	assert_int_equal(groups_count(g), 0);
	assert_int_equal(dmatch(g, "tuyaeu.com", &off), 0);
	assert_int_equal(groups_match_country(g, "CN"), 0);
	assert_int_equal(groups_match_asn(g, 4134), 0);
	groups_unref(g);
}

static void assert_load_error(const char *name, const char *text, const char *want)
{
	char err[1024];
	struct groups *g = load_text(name, text, err, sizeof(err));

	if (g) {
		groups_unref(g);
		fail_msg("%s: loaded, expected error '%s'", name, want);
	}
	if (!strstr(err, want))
		fail_msg("%s: error '%s' does not contain '%s'", name, err, want);
}

static void test_groups_errors(void **state)
{
	char p[512], want[700];

	(void)state;
	tpath("e1.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:3: ", p);
	assert_load_error("e1.conf", "[jurisdiction X]\ncountries = CN\nregions = EU\n", want);
	assert_load_error("e1.conf", "[jurisdiction X]\ncountries = CN\nregions = EU\n", "regions");

	tpath("e2.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:2: ", p);
	assert_load_error("e2.conf", "[jurisdiction X]\ncountries = CN CHN\n", want);
	assert_load_error("e2.conf", "[jurisdiction X]\ncountries = CN CHN\n", "CHN");
	assert_load_error("e2.conf", "[jurisdiction X]\ncountries = C1\n", "C1");
	assert_load_error("e2.conf", "[jurisdiction X]\ncountries = C\n", want);

	/* a bad ASN in a list file: the list file and its line */
	write_text("lists/bad-asns.txt", "# ok\n4134\n\nAS12x3 # broken\n");
	tpath("lists/bad-asns.txt", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:4: ", p);
	assert_load_error("e3.conf", "[jurisdiction X]\nasns = lists/bad-asns.txt\n", want);
	assert_load_error("e3.conf", "[jurisdiction X]\nasns = lists/bad-asns.txt\n", "AS12x3");
	write_text("lists/zero-asns.txt", "0\n");
	assert_load_error("e3.conf", "[jurisdiction X]\nasns = lists/zero-asns.txt\n", "zero-asns.txt:1: ");
	/* a bad domain in a list file */
	write_text("lists/bad-doms.txt", "good.example\nbad..example\n");
	tpath("lists/bad-doms.txt", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:2: ", p);
	assert_load_error("e3.conf", "[jurisdiction X]\ndomains = lists/bad-doms.txt\n", want);

	/* a missing list file: the conf file's line and the resolved list path */
	tpath("e4.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:3: ", p);
	assert_load_error("e4.conf", "[jurisdiction X]\n\nasns = 4134 missing-asns.txt\n", want);
	tpath("missing-asns.txt", p, sizeof(p));
	assert_load_error("e4.conf", "[jurisdiction X]\n\nasns = 4134 missing-asns.txt\n", p);
	tpath("missing-doms.txt", p, sizeof(p));
	assert_load_error("e4.conf", "[jurisdiction X]\ndomains = missing-doms.txt\n", p);

	/* a key outside a section */
	tpath("e5.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:2: ", p);
	assert_load_error("e5.conf", "# c\ncountries = CN\n[jurisdiction X]\n", want);

	/* a duplicate group */
	tpath("e6.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:4: ", p);
	assert_load_error("e6.conf", "[jurisdiction X]\ncountries = CN\n\n[jurisdiction X]\n", want);

	/* bad domains inline */
	tpath("e7.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:2: ", p);
	assert_load_error("e7.conf", "[jurisdiction X]\ndomains = ok.example bad$domain.example\n", want);
	assert_load_error("e7.conf", "[jurisdiction X]\ndomains = ok.example bad$domain.example\n",
			  "bad$domain.example");
	assert_load_error("e7.conf", "[jurisdiction X]\ndomains = a..b\n", want);
	assert_load_error("e7.conf", "[jurisdiction X]\ndomains = .example\n", want);

	/* a missing conf file names it */
	char err[512] = "";
	tpath("nope.conf", p, sizeof(p));
	assert_null(groups_load(p, err, sizeof(err)));
	assert_non_null(strstr(err, p));
}

static void test_groups_bad_headers(void **state)
{
	char p[512], want[700];

	(void)state;
	/* malformed section headers and lines (after a valid group; each bad header is followed by
	 * an asns line so that a wrongly accepted header still loads cleanly) */
	tpath("e8.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:3: ", p);
	static const char *const badhdr[] = {
		"[group X]", "[jurisdiction X", "[jurisdiction A.B]", "[jurisdiction A B]",
		"[jurisdiction PRC] x]", "[jurisdiction ]", "[jurisdiction ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789]",
		"just words",
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(badhdr) / sizeof(badhdr[0]); i++) {
		char text[256], err[512];
		snprintf(text, sizeof(text), "[jurisdiction OK]\nasns = 1\n%s\nasns = 2\n", badhdr[i]);
		struct groups *g = load_text("e8.conf", text, err, sizeof(err));
		if (g) {
			print_error("malformed section header '%s' accepted as group '%s'\n", badhdr[i],
				    groups_get(g, groups_count(g) - 1)->name);
			groups_unref(g);
			bad++;
		} else if (!strstr(err, want)) {
			print_error("'%s': error '%s' does not contain '%s'\n", badhdr[i], err, want);
			bad++;
		}
	}

	assert_int_equal(bad, 0);
}

/* The groups file is read through libinih: its lines keep their one meaning ("key = value",
 * never inih's "key: value" or an indented continuation line), a line too long for inih's
 * buffer is an error rather than split in two, and a byte-order mark is skipped. */
/* a list that names a directory is an error, not an empty list (fopen() opens a directory) */
static void test_groups_list_is_a_directory(void **state)
{
	(void)state;
	assert_load_error("d1.conf", "[jurisdiction X]\ndomains = ./lists\n", "lists: Is a directory");
	assert_load_error("d2.conf", "[jurisdiction X]\nasns = .\n", ": Is a directory");
}

static void test_groups_inih_lines(void **state)
{
	char p[512], want[700], text[600];
	struct groups *g;

	(void)state;
	tpath("i1.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:2: expected key = value", p);
	assert_load_error("i1.conf", "[jurisdiction X]\ncountries: CN\n", want);
	snprintf(want, sizeof(want), "%s:3: expected key = value", p);
	assert_load_error("i1.conf", "[jurisdiction X]\ncountries = CN\n    HK MO\n", want);

	/* 198 characters fit (with the newline, inih's 200-byte buffer is full); 199 do not */
	char line[200];
	memset(line, ' ', sizeof(line));
	memcpy(line, "countries = ", 12);
	for (int k = 0; k < 62; k++)
		memcpy(line + 12 + 3 * k, "CN,", 3);
	line[198] = 0;
	snprintf(text, sizeof(text), "[jurisdiction X]\n%s\n", line);
	g = load_text("i2.conf", text, want, sizeof(want));
	if (!g)
		fail_msg("%s", want);
	assert_int_equal(groups_get(g, 0)->ncountries, 62);
	groups_unref(g);
	line[198] = 'x';
	line[199] = 0;
	snprintf(text, sizeof(text), "[jurisdiction X]\n%s\nasns = 1\n", line);
	snprintf(want, sizeof(want), "%s:2: line longer than 198 characters", p);
	assert_load_error("i1.conf", text, want);

	g = load_text("i3.conf", "\xef\xbb\xbf[jurisdiction BOM] # c\ncountries = CN ; c\n", want,
		      sizeof(want));
	if (!g)
		fail_msg("%s", want);
	assert_string_equal(groups_get(g, 0)->name, "BOM");
	assert_int_equal(groups_match_country(g, "CN"), 1);
	groups_unref(g);
}

static void test_groups_misc_syntax(void **state)
{
	char err[512];
	size_t off;
	struct groups *g;

	(void)state;
	/* comments, blank lines, repeated keys add up, commas and tabs separate, empty values */
	g = load_text("ok.conf",
		      "; leading comment\n\n"
		      "[jurisdiction Alpha_1-x]  # trailing comment\n"
		      "countries =\tcn,\thk\n"
		      "countries = mo\n"
		      "asns =\n"
		      "asns = AS1 as2,3\n"
		      "domains = Foo.Example.\n",
		      err, sizeof(err));
	if (!g)
		fail_msg("%s", err);
	assert_int_equal(groups_count(g), 1);
	assert_string_equal(groups_get(g, 0)->name, "Alpha_1-x");
	assert_int_equal(groups_get(g, 0)->ncountries, 3);
	assert_int_equal(groups_match_country(g, "MO"), 1);
	assert_int_equal(groups_get(g, 0)->nasns, 3);
	assert_int_equal(groups_match_asn(g, 2), 1);
	assert_int_equal(dmatch(g, "bar.foo.example", &off), 1);
	assert_int_equal(off, 4);
	groups_unref(g);

	/* an empty file: no groups */
	g = load_text("empty.conf", "", err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(groups_count(g), 0);
	assert_int_equal(dmatch(g, "a.example", &off), 0);
	groups_unref(g);

	/* 32 groups are fine, 33 are not */
	char big[4096];
	size_t n = 0;
	for (int i = 0; i < GROUPS_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "[jurisdiction G%d]\nasns=%d\ndomains = g%d.example\n", i, i + 1, i);
	g = load_text("many.conf", big, err, sizeof(err));
	if (!g)
		fail_msg("%s", err);
	assert_int_equal(groups_count(g), GROUPS_MAX);
	assert_int_equal(dmatch(g, "x.g31.example", &off), 1u << 31);
	assert_int_equal(dmatch(g, "x.g0.example", &off), 1u);
	groups_unref(g);
	snprintf(big + n, sizeof(big) - n, "[jurisdiction G%d]\n", GROUPS_MAX);
	assert_load_error("many.conf", big, "many.conf:97: ");
}

/* A group with countries or domains but no ASNs (like the commented RU example without its asns
 * line). Run in a child process: under UBSan a failure aborts the whole program. */
static void test_groups_without_asns(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	write_text("noasns.conf", "[jurisdiction RU]\ncountries = RU BY\ndomains = yandex.ru\n"
				  "[jurisdiction Empty]\n");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char p[512], err[512] = "";
		size_t off;
		struct groups *g = groups_load(tpath("noasns.conf", p, sizeof(p)), err, sizeof(err));
		if (!g || groups_count(g) != 2 || groups_get(g, 0)->nasns != 0 ||
		    groups_match_asn(g, 12389) != 0 || groups_match_country(g, "BY") != 1 ||
		    dmatch(g, "mail.yandex.ru", &off) != 1)
			_exit(3);
		groups_unref(g);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("groups_load of a group without ASNs failed in the child (status 0x%x): "
			 "see the sanitizer report above", status);
}

static void test_groups_shipped(void **state)
{
	const char *top = getenv("abs_top_srcdir");
	char p[1024], err[1024] = "";
	struct groups *g;
	const struct jgroup *prc = NULL;
	size_t off;

	(void)state;
	snprintf(p, sizeof(p), "%s/zones/jurisdictions.conf", top && *top ? top : ".");
	g = groups_load(p, err, sizeof(err));
	if (!g)
		fail_msg("%s: %s", p, err);
	unsigned i;
	for (i = 0; i < groups_count(g); i++)
		if (!strcmp(groups_get(g, i)->name, "PRC"))
			prc = groups_get(g, i);
	assert_non_null(prc);
	i = (unsigned)(prc - groups_get(g, 0));
	assert_true(prc->nasns >= 300);
	for (size_t k = 1; k < prc->nasns; k++)
		assert_true(prc->asns[k - 1] < prc->asns[k]);
	static const uint32_t must[] = { 45102, 37963, 4134, 4837, 9808, 396986, 55967 };
	for (size_t k = 0; k < sizeof(must) / sizeof(must[0]); k++)
		if (!(groups_match_asn(g, must[k]) & (1u << i)))
			fail_msg("AS%u not in PRC", must[k]);
	assert_true(groups_match_country(g, "CN") & (1u << i));
	assert_true(groups_match_country(g, "HK") & (1u << i));
	assert_true(groups_match_country(g, "MO") & (1u << i));
	assert_false(groups_match_country(g, "TW") & (1u << i));
	assert_true(dmatch(g, "api.tuyaeu.com", &off) & (1u << i));
	assert_int_equal(off, 4);
	assert_true(prc->ndomains > 100);
	groups_unref(g);
}

/* ============================== label ============================== */

static void test_label_hosted_cn(void **state)
{
	struct label *l;
	size_t qe = start("www.example.com", TYPE_A, 2);

	(void)state;
	b_a(&B, 300, 192, 0, 2, 1);
	b_a(&B, 300, 192, 0, 2, 2);
	l = label_b("www.example.com", qe);
	assert_int_equal(l->total_addrs, 2);
	assert_int_equal(l->naddrs, 2);
	assert_addr(&l->addrs[0], "192.0.2.1", true, "CN", 4134, "CHINANET-BACKBONE");
	assert_addr(&l->addrs[1], "192.0.2.2", true, "CN", 4134, "CHINANET-BACKBONE");
	/* AS4134 is in both test groups; CN only in PRC; the same reason only once */
	assert_reasons(l, 3, "PRC:hosted:CN", "PRC:operator:AS4134", "RU:operator:AS4134");
	assert_int_equal(l->mask[LABEL_HOSTED], 1);
	assert_int_equal(l->mask[LABEL_OPERATOR], 3);
	assert_int_equal(l->mask[LABEL_DOMAIN], 0);
	assert_true(label_has_groups(l));
	assert_true(l->size >= sizeof(*l) + 2 * sizeof(struct label_addr));
	label_unref(l);
}

static void test_label_operator_only(void **state)
{
	struct label *l;
	size_t qe = start("shop.example.com", TYPE_A, 1);

	(void)state;
	b_a(&B, 300, 192, 0, 2, 200);
	l = label_b("shop.example.com", qe);
	assert_int_equal(l->naddrs, 1);
	assert_addr(&l->addrs[0], "192.0.2.200", true, "DE", 45102, "Alibaba US Technology Co., Ltd.");
	assert_reasons(l, 1, "PRC:operator:AS45102");
	assert_int_equal(l->reasons[0].kind, LABEL_OPERATOR);
	assert_string_equal(l->reasons[0].group, "PRC");
	assert_string_equal(l->reasons[0].detail, "AS45102");
	assert_int_equal(l->mask[LABEL_HOSTED], 0);
	assert_int_equal(l->mask[LABEL_OPERATOR], 1);
	label_unref(l);
}

static void test_label_cname_chain(void **state)
{
	struct label *l;
	size_t qe = start("WWW.Brand.example", TYPE_A, 5);

	(void)state;
	/* out of order on purpose: the A first, then c <- b <- qname */
	rr_a("c.edge.example", "203.0.113.130");
	rr_a("unrelated.example", "192.0.2.200"); /* not on the chain */
	rr_cname("b.cdn.example", "C.Edge.example");
	rr_cname("www.brand.example", "b.cdn.example");
	rr_a("b.other.example", "198.51.100.200"); /* not on the chain */
	l = label_b("WWW.Brand.example", qe);
	assert_int_equal(l->total_addrs, 1);
	assert_int_equal(l->naddrs, 1);
	assert_addr(&l->addrs[0], "203.0.113.130", true, "CN", 37963,
		    "Hangzhou Alibaba Advertising Co.,Ltd.");
	assert_reasons(l, 2, "PRC:hosted:CN", "PRC:operator:AS37963");
	label_unref(l);

	/* a CNAME whose owner is not on the chain is not followed */
	qe = start("q.example", TYPE_A, 2);
	rr_cname("other.example", "target.example");
	rr_a("target.example", "192.0.2.1");
	l = label_b("q.example", qe);
	assert_int_equal(l->total_addrs, 0);
	assert_int_equal(l->nreasons, 0);
	assert_false(label_has_groups(l));
	label_unref(l);

	/* a CNAME loop terminates */
	qe = start("loop1.example", TYPE_A, 3);
	rr_cname("loop1.example", "loop2.example");
	rr_cname("loop2.example", "loop1.example");
	rr_a("loop2.example", "192.0.2.65");
	l = label_b("loop1.example", qe);
	assert_int_equal(l->total_addrs, 1);
	assert_addr(&l->addrs[0], "192.0.2.65", true, "HK", 9929,
		    "CHINA UNICOM Industrial Internet Backbone");
	assert_reasons(l, 2, "PRC:hosted:HK", "PRC:operator:AS9929");
	label_unref(l);
}

static void test_label_compressed(void **state)
{
	struct label *l;
	size_t qe = start("www.example.org", TYPE_A, 3), tgt;
	uint8_t rd[64];

	(void)state;
	/* www.example.org (ptr 12) CNAME cdn.<ptr to example.org at 16> */
	b_ptr(&B, 12);
	b_u16(&B, TYPE_CNAME);
	b_u16(&B, 1);
	b_u32(&B, 60);
	b_u16(&B, 6);
	tgt = B.len;
	b_u8(&B, 3);
	b_bytes(&B, "cdn", 3);
	b_ptr(&B, 16);
	/* cdn.example.org (ptr to tgt) A 2x */
	const uint8_t a1[4] = { 203, 0, 113, 230 }, a2[4] = { 198, 51, 100, 130 };
	b_rr_ptr(&B, (uint16_t)tgt, TYPE_A, 1, 60, a1, 4);
	b_rr_ptr(&B, (uint16_t)tgt, TYPE_A, 1, 60, a2, 4);
	(void)rd;
	l = label_b("www.example.org", qe);
	assert_int_equal(l->naddrs, 2);
	assert_addr(&l->addrs[0], "203.0.113.230", true, "RU", 12389, "PJSC Rostelecom");
	assert_addr(&l->addrs[1], "198.51.100.130", true, "US", 15169, "GOOGLE");
	assert_reasons(l, 2, "RU:hosted:RU", "RU:operator:AS12389");
	assert_int_equal(l->mask[LABEL_HOSTED], 2);
	assert_int_equal(l->mask[LABEL_OPERATOR], 2);
	label_unref(l);
}

static void test_label_aaaa(void **state)
{
	struct label *l;
	size_t qe = start("v6.example", TYPE_AAAA, 3);

	(void)state;
	rr_aaaa("v6.example", "2001:db8:1::1");
	rr_aaaa("v6.example", "2001:db8:6::53");
	rr_aaaa("v6.example", "2001:db8:7::1");
	l = label_b("v6.example", qe);
	assert_int_equal(l->naddrs, 3);
	assert_addr(&l->addrs[0], "2001:db8:1::1", true, "CN", 4134, "CHINANET-BACKBONE");
	assert_addr(&l->addrs[1], "2001:db8:6::53", true, "", 132203,
		    "Tencent Building, Kejizhongyi Avenue");
	assert_addr(&l->addrs[2], "2001:db8:7::1", true, "US", 0, "");
	assert_reasons(l, 4, "PRC:hosted:CN", "PRC:operator:AS4134", "RU:operator:AS4134",
		       "PRC:operator:AS132203");
	label_unref(l);

	/* A and AAAA with a wrong rdlength are ignored */
	qe = start("bad.example", TYPE_A, 2);
	const uint8_t five[5] = { 192, 0, 2, 1, 0 };
	b_rr(&B, "bad.example", TYPE_A, 1, 60, five, 5);
	b_rr(&B, "bad.example", TYPE_AAAA, 1, 60, five, 4);
	l = label_b("bad.example", qe);
	assert_int_equal(l->total_addrs, 0);
	assert_int_equal(l->nreasons, 0);
	label_unref(l);
}

/* HTTPS/SVCB rdata: priority, target, then the given raw parameters. */
static uint16_t svcb_rdata(uint8_t *rd, const char *target, const void *params, size_t plen)
{
	size_t n = 0;

	rd[n++] = 0;
	rd[n++] = 1;
	n += name_to_wire(target, rd + n);
	memcpy(rd + n, params, plen);
	return (uint16_t)(n + plen);
}

static void test_label_https_hints(void **state)
{
	struct label *l;
	uint8_t rd[256];
	size_t qe = start("svc.example", TYPE_HTTPS, 2);
	static const uint8_t params[] = {
		0, 1, 0, 3, 2, 'h', '2',                  /* alpn */
		0, 4, 0, 8, 192, 0, 2, 65, 198, 51, 100, 1, /* ipv4hint */
		0, 5, 0, 2, 0xaa, 0xbb,                   /* ech (junk) */
		0, 6, 0, 32,                              /* ipv6hint */
		0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	};
	uint16_t n;

	(void)state;
	n = svcb_rdata(rd, ".", params, sizeof(params));
	b_rr_ptr(&B, 12, TYPE_HTTPS, 1, 60, rd, n);
	/* an SVCB with a target name, ipv4hint only */
	static const uint8_t p2[] = { 0, 4, 0, 4, 203, 0, 113, 230 };
	n = svcb_rdata(rd, "pool.svc.example", p2, sizeof(p2));
	b_rr_ptr(&B, 12, TYPE_SVCB, 1, 60, rd, n);
	l = label_b("svc.example", qe);
	assert_int_equal(l->total_addrs, 5);
	assert_int_equal(l->naddrs, 5);
	assert_addr(&l->addrs[0], "192.0.2.65", true, "HK", 9929,
		    "CHINA UNICOM Industrial Internet Backbone");
	assert_addr(&l->addrs[1], "198.51.100.1", true, "DE", 3320, "Deutsche Telekom AG");
	assert_addr(&l->addrs[2], "2001:db8:5::1", true, "HK", 9929,
		    "CHINA UNICOM Industrial Internet Backbone");
	assert_addr(&l->addrs[3], "2001:db8:2::2", true, "DE", 3320, "Deutsche Telekom AG");
	assert_addr(&l->addrs[4], "203.0.113.230", true, "RU", 12389, "PJSC Rostelecom");
	assert_reasons(l, 4, "PRC:hosted:HK", "PRC:operator:AS9929", "RU:hosted:RU",
		       "RU:operator:AS12389");
	label_unref(l);
}

static void test_label_domain(void **state)
{
	struct label *l;
	size_t qe;

	(void)state;
	/* the query name under a listed domain, no addresses (NODATA) */
	qe = start("a.b.TuyaEU.com", TYPE_A, 0);
	l = label_b("a.b.TuyaEU.com", qe);
	assert_int_equal(l->total_addrs, 0);
	assert_int_equal(l->naddrs, 0);
	assert_reasons(l, 1, "PRC:domain:tuyaeu.com");
	assert_int_equal(l->reasons[0].kind, LABEL_DOMAIN);
	assert_int_equal(l->mask[LABEL_DOMAIN], 1);
	assert_true(label_has_groups(l));
	label_unref(l);

	/* a CNAME target under a listed domain; the address itself is not labelled */
	qe = start("www.brand.example", TYPE_A, 2);
	rr_cname("www.brand.example", "x.IoT.example.cn");
	rr_a("x.iot.example.cn", "203.0.113.1");
	l = label_b("www.brand.example", qe);
	assert_int_equal(l->naddrs, 1);
	assert_addr(&l->addrs[0], "203.0.113.1", true, "US", 16509, "AMAZON-02");
	assert_reasons(l, 1, "PRC:domain:iot.example.cn");
	label_unref(l);

	/* a domain of both groups */
	qe = start("api.vendor.test", TYPE_A, 0);
	l = label_b("api.vendor.test", qe);
	assert_reasons(l, 2, "PRC:domain:vendor.test", "RU:domain:vendor.test");
	assert_int_equal(l->mask[LABEL_DOMAIN], 3);
	label_unref(l);

	/* not a label boundary */
	qe = start("nottuyaeu.com", TYPE_A, 0);
	l = label_b("nottuyaeu.com", qe);
	assert_int_equal(l->nreasons, 0);
	assert_false(label_has_groups(l));
	label_unref(l);
}

static void test_label_no_addresses(void **state)
{
	struct label *l;
	size_t qe = start("plain.example", TYPE_A, 0);

	(void)state;
	l = label_b("plain.example", qe);
	assert_int_equal(l->total_addrs, 0);
	assert_int_equal(l->naddrs, 0);
	assert_int_equal(l->nreasons, 0);
	assert_int_equal(l->mask[0] | l->mask[1] | l->mask[2], 0);
	assert_false(label_has_groups(l));
	assert_false(label_has_groups(NULL));
	label_unref(l);

	/* only a TXT and an MX: nothing */
	qe = start("plain.example", 16 /* TXT */, 2);
	b_rr_ptr(&B, 12, 16, 1, 60, "\3abc", 4);
	b_rr_ptr(&B, 12, 15, 1, 60, "\0\1\0", 3);
	l = label_b("plain.example", qe);
	assert_int_equal(l->total_addrs, 0);
	assert_int_equal(l->nreasons, 0);
	label_unref(l);
}

static void test_label_many_addresses(void **state)
{
	struct label *l;
	const unsigned N = LABEL_MAX_ADDRS + 8;
	size_t qe = start("many.example", TYPE_A, (uint16_t)N);

	(void)state;
	for (unsigned i = 0; i < N - 1; i++)
		b_a(&B, 300, 198, 51, 100, (uint8_t)(i + 1)); /* DE AS3320 */
	b_a(&B, 300, 192, 0, 2, 7);                            /* CN, beyond the kept ones */
	l = label_b("many.example", qe);
	assert_int_equal(l->total_addrs, N);
	assert_int_equal(l->naddrs, LABEL_MAX_ADDRS);
	assert_int_equal(l->size, sizeof(*l) + LABEL_MAX_ADDRS * sizeof(struct label_addr));
	for (unsigned i = 0; i < LABEL_MAX_ADDRS; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.51.100.%u", i + 1);
		assert_addr(&l->addrs[i], ip, true, "DE", 3320, "Deutsche Telekom AG");
	}
	/* all are labelled */
	assert_reasons(l, 3, "PRC:hosted:CN", "PRC:operator:AS4134", "RU:operator:AS4134");
	label_unref(l);
}

/* docs/query-log.md: at most 32 addresses are listed, "they are still labelled" and
 * answers_omitted counts the rest: an answer with more than 256 records (TCP) is labelled whole. */
static void test_label_very_many_records(void **state)
{
	struct label *l;
	const unsigned N = 300;
	size_t qe = start("huge.example", TYPE_A, (uint16_t)N);

	(void)state;
	for (unsigned i = 0; i < N - 1; i++)
		b_a(&B, 300, 198, 51, 100, (uint8_t)(i % 100 + 1)); /* DE AS3320 */
	b_a(&B, 300, 192, 0, 2, 7);                                 /* CN, the 300th record */
	l = label_b("huge.example", qe);
	unsigned naddrs = l->naddrs, total = l->total_addrs, nreasons = l->nreasons;
	bool cn = find_reason(l, "PRC:hosted:CN") >= 0;
	label_unref(l);
	assert_int_equal(naddrs, LABEL_MAX_ADDRS);
	if (total != N || !cn)
		fail_msg("total_addrs %u (want %u), %u reasons: records after the 256th are ignored",
			 total, N, nreasons);
}

static void test_label_unknown_address(void **state)
{
	struct label *l;
	size_t qe = start("unk.example", TYPE_A, 3);

	(void)state;
	b_a(&B, 300, 203, 0, 113, 241);
	b_a(&B, 300, 198, 51, 100, 241); /* ASN only */
	b_a(&B, 300, 198, 51, 100, 225); /* country only */
	l = label_b("unk.example", qe);
	assert_int_equal(l->naddrs, 3);
	assert_addr(&l->addrs[0], "203.0.113.241", false, "", 0, "");
	assert_addr(&l->addrs[1], "198.51.100.241", true, "", 13335, "CLOUDFLARENET");
	assert_addr(&l->addrs[2], "198.51.100.225", true, "DE", 0, "");
	assert_int_equal(l->nreasons, 0);
	assert_false(label_has_groups(l));
	label_unref(l);

	/* without a GeoIP database every address is unknown, domains still count */
	qe = start("x.tuyaeu.com", TYPE_A, 1);
	b_a(&B, 300, 192, 0, 2, 1);
	uint8_t qn[256];
	size_t qlen = qwire("x.tuyaeu.com", qn);
	l = label_answer(B.buf, B.len, qe, 1, qn, qlen, NULL, GRP);
	assert_non_null(l);
	assert_int_equal(l->naddrs, 1);
	assert_addr(&l->addrs[0], "192.0.2.1", false, "", 0, "");
	assert_reasons(l, 1, "PRC:domain:tuyaeu.com");
	label_unref(l);

	/* with an empty group set: addresses but no reasons */
	struct groups *empty = groups_empty();
	qe = start("x.tuyaeu.com", TYPE_A, 1);
	b_a(&B, 300, 192, 0, 2, 1);
	l = label_answer(B.buf, B.len, qe, 1, qn, qlen, GEO, empty);
	assert_non_null(l);
	assert_addr(&l->addrs[0], "192.0.2.1", true, "CN", 4134, "CHINANET-BACKBONE");
	assert_int_equal(l->nreasons, 0);
	assert_false(label_has_groups(l));
	label_unref(l);
	groups_unref(empty);
}

static void test_label_reason_str(void **state)
{
	struct label_reason r;
	char buf[128], small[8];

	(void)state;
	memset(&r, 0, sizeof(r));
	snprintf(r.group, sizeof(r.group), "PRC");
	r.kind = LABEL_HOSTED;
	snprintf(r.detail, sizeof(r.detail), "CN");
	assert_ptr_equal(label_reason_str(&r, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "PRC:hosted:CN");
	r.kind = LABEL_OPERATOR;
	snprintf(r.detail, sizeof(r.detail), "AS45102");
	assert_string_equal(label_reason_str(&r, buf, sizeof(buf)), "PRC:operator:AS45102");
	r.kind = LABEL_DOMAIN;
	snprintf(r.detail, sizeof(r.detail), "tuyaeu.com");
	assert_string_equal(label_reason_str(&r, buf, sizeof(buf)), "PRC:domain:tuyaeu.com");
	/* truncated, terminated */
	memset(small, 'x', sizeof(small));
	label_reason_str(&r, small, 5);
	assert_string_equal(small, "PRC:");
	assert_int_equal(small[5], 'x');
}

/* label_why: KIND:DETAIL, the AS name from the label's own addresses, control characters
 * replaced, cut at a UTF-8 character boundary. */
static void test_label_why(void **state)
{
	struct label *l;
	struct label_reason r;
	char buf[LABEL_WHY_MAX], small[8];
	size_t qe = start("shop.example.com", TYPE_A, 2);

	(void)state;
	b_a(&B, 300, 192, 0, 2, 200);                /* DE, AS45102 Alibaba */
	b_a(&B, 300, 192, 0, 2, 1);                  /* CN, AS4134 */
	l = label_b("shop.example.com", qe);
	int op = find_reason(l, "PRC:operator:AS45102"), ho = find_reason(l, "PRC:hosted:CN");
	assert_true(op >= 0 && ho >= 0);
	assert_ptr_equal(label_why(l, &l->reasons[op], buf, sizeof(buf)), buf);
	assert_string_equal(buf, "operator:AS45102 Alibaba US Technology Co., Ltd.");
	assert_string_equal(label_why(l, &l->reasons[ho], buf, sizeof(buf)), "hosted:CN");
	/* without the label (or without an address in the AS): the number alone */
	assert_string_equal(label_why(NULL, &l->reasons[op], buf, sizeof(buf)), "operator:AS45102");
	r = l->reasons[op];
	snprintf(r.detail, sizeof(r.detail), "AS3320");
	assert_string_equal(label_why(l, &r, buf, sizeof(buf)), "operator:AS3320");
	/* a name reason keeps its detail: never an AS name appended */
	r.by_name = true;
	snprintf(r.detail, sizeof(r.detail), "AS45102");
	assert_string_equal(label_why(l, &r, buf, sizeof(buf)), "operator:AS45102");
	r.kind = LABEL_DOMAIN;
	r.by_name = true;
	snprintf(r.detail, sizeof(r.detail), "tuyaeu.com");
	assert_string_equal(label_why(l, &r, buf, sizeof(buf)), "domain:tuyaeu.com");
	/* a hostile organisation: control characters become '?' */
	snprintf(l->addrs[0].org, sizeof(l->addrs[0].org), "Evil\n\x1b[31mCorp\x7f");
	assert_string_equal(label_why(l, &l->reasons[op], buf, sizeof(buf)), "operator:AS45102 Evil??[31mCorp?");
	/* the longest organisation fits whole (LABEL_WHY_MAX holds the longest why) */
	memset(l->addrs[0].org, 'o', sizeof(l->addrs[0].org) - 1);
	l->addrs[0].org[sizeof(l->addrs[0].org) - 1] = 0;
	label_why(l, &l->reasons[op], buf, sizeof(buf));
	assert_int_equal(strlen(buf), strlen("operator:AS45102 ") + GEO_ORG_MAX - 1);
	/* a cut inside a UTF-8 character drops the whole character */
	snprintf(l->addrs[0].org, sizeof(l->addrs[0].org), "Macau \xc3\xa9\xe2\x82\xac");
	label_why(l, &l->reasons[op], buf, sizeof("operator:AS45102 Macau \xc3"));
	assert_string_equal(buf, "operator:AS45102 Macau ");
	label_why(l, &l->reasons[op], buf, sizeof("operator:AS45102 Macau \xc3\xa9\xe2\x82"));
	assert_string_equal(buf, "operator:AS45102 Macau \xc3\xa9");
	label_why(l, &l->reasons[op], buf, sizeof(buf));
	assert_string_equal(buf, "operator:AS45102 Macau \xc3\xa9\xe2\x82\xac");
	/* truncated, terminated, nothing written past len */
	memset(small, 'x', sizeof(small));
	label_why(l, &l->reasons[ho], small, 5);
	assert_string_equal(small, "host");
	assert_int_equal(small[5], 'x');
	label_why(l, &l->reasons[ho], small, 0);
	assert_int_equal(small[0], 'h');
	label_unref(l);
}

static void test_label_refcount(void **state)
{
	struct label *l;
	size_t qe = start("www.example.com", TYPE_A, 1);

	(void)state;
	b_a(&B, 300, 192, 0, 2, 1);
	l = label_b("www.example.com", qe);
	assert_ptr_equal(label_ref(l), l);
	assert_ptr_equal(label_ref(l), l);
	assert_int_equal(atomic_load(&l->refs), 3);
	label_unref(l);
	label_unref(l);
	assert_int_equal(atomic_load(&l->refs), 1);
	assert_string_equal(l->addrs[0].cc, "CN"); /* still alive */
	label_unref(l);                           /* freed: ASan reports a leak otherwise */
	assert_null(label_ref(NULL));
	label_unref(NULL);
}

static void test_label_malformed(void **state)
{
	struct label *l;
	uint8_t rd[256];
	size_t qe;
	uint16_t n;

	(void)state;
	/* HTTPS: ipv4hint claims 8 bytes but the rdata ends after 4; an earlier good hint counts */
	qe = start("svc.example", TYPE_HTTPS, 1);
	static const uint8_t trunc[] = { 0, 6, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0,
					 0, 0, 9, 0, 4, 0, 8, 192, 0, 2, 1 };
	n = svcb_rdata(rd, ".", trunc, sizeof(trunc));
	b_rr_ptr(&B, 12, TYPE_HTTPS, 1, 60, rd, n);
	l = label_b("svc.example", qe);
	assert_true(l->total_addrs <= 1);
	if (l->total_addrs == 1)
		assert_addr(&l->addrs[0], "2001:db8:1::9", true, "CN", 4134, "CHINANET-BACKBONE");
	label_unref(l);

	/* HTTPS rdata cut at every length, as the last record of the message */
	static const uint8_t full[] = { 0, 4, 0, 8, 192, 0, 2, 1, 192, 0, 2, 2,
					0, 6, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 };
	uint16_t fulln = svcb_rdata(rd, "t.svc.example", full, sizeof(full));
	for (uint16_t cut = 0; cut <= fulln; cut++) {
		qe = start("svc.example", TYPE_HTTPS, 1);
		b_rr_ptr(&B, 12, TYPE_HTTPS, 1, 60, rd, cut);
		l = label_b("svc.example", qe);
		assert_true(l->total_addrs <= 3);
		label_unref(l);
		/* and the same rdata with a param length that runs past the message */
		qe = start("svc.example", TYPE_SVCB, 1);
		b_rr_ptr(&B, 12, TYPE_SVCB, 1, 60, rd, cut);
		B.len -= cut / 2; /* rdlength now points past the end */
		l = label_b("svc.example", qe);
		label_unref(l);
	}

	/* HTTPS whose target name runs past the rdata (a label length byte at the end) */
	qe = start("svc.example", TYPE_HTTPS, 1);
	static const uint8_t badtarget[] = { 0, 1, 40, 'a', 'b' };
	b_rr_ptr(&B, 12, TYPE_HTTPS, 1, 60, badtarget, sizeof(badtarget));
	l = label_b("svc.example", qe);
	assert_int_equal(l->total_addrs, 0);
	label_unref(l);

	/* HTTPS with a compressed target (not allowed) */
	qe = start("svc.example", TYPE_HTTPS, 1);
	static const uint8_t ptrtarget[] = { 0, 1, 0xc0, 12, 0, 4, 0, 4, 192, 0, 2, 1 };
	b_rr_ptr(&B, 12, TYPE_HTTPS, 1, 60, ptrtarget, sizeof(ptrtarget));
	l = label_b("svc.example", qe);
	assert_true(l->total_addrs <= 1);
	label_unref(l);

	/* CNAME pointing forward: not followed, the later A is not collected */
	qe = start("fwd.example", TYPE_A, 2);
	b_ptr(&B, 12);
	b_u16(&B, TYPE_CNAME);
	b_u16(&B, 1);
	b_u32(&B, 60);
	b_u16(&B, 2);
	size_t fwd_at = B.len;
	b_u16(&B, 0);
	size_t target = B.len;
	rr_a("next.example", "192.0.2.1");
	b_put16(&B, fwd_at, (uint16_t)(0xc000 | target));
	l = label_b("fwd.example", qe);
	assert_int_equal(l->total_addrs, 0);
	assert_int_equal(l->nreasons, 0);
	label_unref(l);

	/* CNAME pointing at itself, CNAME with an empty rdata, rdata running past the message */
	qe = start("self.example", TYPE_A, 3);
	size_t self = B.len;
	b_ptr(&B, 12);
	b_u16(&B, TYPE_CNAME);
	b_u16(&B, 1);
	b_u32(&B, 60);
	b_u16(&B, 2);
	b_ptr(&B, (uint16_t)(self + 10));
	b_rr_ptr(&B, 12, TYPE_CNAME, 1, 60, NULL, 0);
	b_rr_ptr(&B, 12, TYPE_CNAME, 1, 60, "\3abc", 4);
	B.len -= 2;
	l = label_b("self.example", qe);
	assert_int_equal(l->total_addrs, 0);
	label_unref(l);

	/* ancount larger than the records present; an A cut short at the end */
	qe = start("short.example", TYPE_A, 5);
	b_a(&B, 300, 192, 0, 2, 1);
	b_a(&B, 300, 192, 0, 2, 2);
	B.len -= 2;
	l = label_b("short.example", qe);
	assert_int_equal(l->total_addrs, 1);
	assert_addr(&l->addrs[0], "192.0.2.1", true, "CN", 4134, "CHINANET-BACKBONE");
	label_unref(l);

	/* an owner name with a pointer loop / out of range */
	qe = start("loop.example", TYPE_A, 2);
	b_ptr(&B, (uint16_t)B.len);
	b_rr_tail(&B, TYPE_A, 1, 60, "\300\0\2\1", 4);
	b_ptr(&B, 0x3fff);
	b_rr_tail(&B, TYPE_A, 1, 60, "\300\0\2\1", 4);
	l = label_b("loop.example", qe);
	assert_int_equal(l->total_addrs, 0);
	label_unref(l);

	/* every truncation of a realistic answer */
	qe = start("www.Brand.example", TYPE_A, 4);
	rr_cname("www.brand.example", "x.iot.example.cn");
	rr_a("x.iot.example.cn", "192.0.2.1");
	rr_aaaa("x.iot.example.cn", "2001:db8:4::1");
	static const uint8_t p3[] = { 0, 4, 0, 4, 203, 0, 113, 230 };
	n = svcb_rdata(rd, ".", p3, sizeof(p3));
	b_rr(&B, "x.iot.example.cn", TYPE_HTTPS, 1, 60, rd, n);
	size_t full_len = B.len;
	for (size_t cut = qe; cut <= full_len; cut++) {
		B.len = cut;
		l = label_b("www.brand.example", qe);
		if (cut == full_len) {
			assert_int_equal(l->total_addrs, 3);
			assert_reasons(l, 7, "PRC:domain:iot.example.cn", "PRC:hosted:CN",
				       "PRC:operator:AS4134", "RU:operator:AS4134", "PRC:operator:AS45102",
				       "RU:hosted:RU", "RU:operator:AS12389");
		}
		label_unref(l);
	}
}

static void test_label_many_reasons(void **state)
{
	char conf[8192], err[512];
	size_t n = 0;
	struct groups *saved = GRP, *g;
	struct label *l;

	(void)state;
	/* 20 groups all listing CN: more reasons than LABEL_MAX_REASONS, all in the mask */
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(conf + n, sizeof(conf) - n, "[jurisdiction G%02d]\ncountries = CN\nasns = 64512\n", i);
	g = load_text("twenty.conf", conf, err, sizeof(err));
	assert_non_null(g);
	GRP = g;
	size_t qe = start("cn.example", TYPE_A, 1);
	b_a(&B, 300, 192, 0, 2, 1);
	l = label_b("cn.example", qe);
	GRP = saved;
	assert_int_equal(l->nreasons, LABEL_MAX_REASONS);
	assert_int_equal(l->mask[LABEL_HOSTED], (1u << 20) - 1);
	assert_string_equal(l->reasons[0].group, "G00");
	label_unref(l);
	groups_unref(g);
}

/* The same fixture as GeoLite2-Country + GeoLite2-ASN (two files) and as IPinfo lite (other field
 * names, "AS4134" strings): the default field paths must give the same answers as our layout. */
static void test_geo_other_layouts_give_the_same_results(void **state)
{
	static const char *const ips[] = { "192.0.2.1", "192.0.2.70", "192.0.2.200", "198.51.100.1",
					   "203.0.113.241", "2001:db8:1::1", "2001:db8:4::9" };
	char base[512], country[600], asn[600], ipinfo[600], err[512];
	const char *t = getenv("TEST_MMDB");
	struct geo_paths p;
	struct geo *ours, *two, *ipi;

	snprintf(base, sizeof(base), "%s", t ? t : "tests/data/test.mmdb");
	base[strlen(base) - strlen(".mmdb")] = 0;
	snprintf(country, sizeof(country), "%s-country.mmdb", base);
	snprintf(asn, sizeof(asn), "%s-asn.mmdb", base);
	snprintf(ipinfo, sizeof(ipinfo), "%s-ipinfo.mmdb", base);
	geo_paths_default(&p);
	ours = geo_open(t ? t : "tests/data/test.mmdb", NULL, &p, err, sizeof(err));
	two = geo_open(country, asn, &p, err, sizeof(err));
	ipi = geo_open(ipinfo, NULL, &p, err, sizeof(err));
	assert_non_null(ours);
	assert_non_null(two);
	assert_non_null(ipi);
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		union { struct sockaddr sa; struct sockaddr_in sin; struct sockaddr_in6 sin6; } sa;
		struct geo_result a, b, c;
		memset(&sa, 0, sizeof(sa));
		if (strchr(ips[i], ':')) {
			sa.sin6.sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, ips[i], &sa.sin6.sin6_addr), 1);
		} else {
			sa.sin.sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, ips[i], &sa.sin.sin_addr), 1);
		}
		geo_lookup(ours, &sa.sa, &a);
		geo_lookup(two, &sa.sa, &b);
		geo_lookup(ipi, &sa.sa, &c);
		assert_string_equal(a.cc, b.cc);
		assert_int_equal(a.asn, b.asn);
		assert_string_equal(a.org, b.org);
		assert_string_equal(a.cc, c.cc);
		assert_int_equal(a.asn, c.asn);
		assert_string_equal(a.org, c.org);
	}
	/* and they are not all empty: 192.0.2.200 is DE, AS45102 */
	{
		struct sockaddr_in sin = { .sin_family = AF_INET };
		struct geo_result r;
		inet_pton(AF_INET, "192.0.2.200", &sin.sin_addr);
		geo_lookup(ipi, (struct sockaddr *)&sin, &r);
		assert_string_equal(r.cc, "DE");
		assert_int_equal(r.asn, 45102);
		geo_lookup(two, (struct sockaddr *)&sin, &r);
		assert_string_equal(r.cc, "DE");
		assert_int_equal(r.asn, 45102);
	}
	geo_unref(ours);
	geo_unref(two);
	geo_unref(ipi);
}

static void test_groups_countries_except(void **state)
{
	char dir[] = "/tmp/jd-except-XXXXXX", path[256], err[512];
	struct groups *g;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/j.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[jurisdiction PRC]\ncountries = CN HK MO\n"
	      "[jurisdiction non-EU]\ncountries_except = DE FR AT\n", f);
	fclose(f);
	g = groups_load(path, err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(groups_match_country(g, "CN"), 3);  /* PRC and non-EU */
	assert_int_equal(groups_match_country(g, "US"), 2);  /* non-EU only */
	assert_int_equal(groups_match_country(g, "DE"), 0);  /* excepted */
	assert_int_equal(groups_match_country(g, ""), 0);    /* unknown is never "outside the EU" */
	groups_unref(g);
	unlink(path);
	rmdir(dir);
}

/* ============================== CDN namespaces ============================== */

static uint32_t cmatch(const struct groups *g, const char *name, size_t *off, const char **op)
{
	uint8_t w[DNS_MAX_NAME + 1];
	size_t n = qwire(name, w);

	*off = 9999;
	*op = "unset";
	return groups_match_cdn(g, w, n, off, op);
}

/* Label the answer in B against groups g instead of GRP. */
static struct label *label_g(const struct groups *g, const char *qname, size_t qend)
{
	uint8_t qn[DNS_MAX_NAME + 1];
	size_t qlen = qwire(qname, qn);
	uint8_t *pkt = malloc(B.len);
	struct label *l;

	assert_non_null(pkt);
	memcpy(pkt, B.buf, B.len);
	l = label_answer(pkt, B.len, qend, g16(pkt + 6), qn, qlen, GEO, g);
	free(pkt);
	assert_non_null(l);
	assert_true(l->nreasons <= LABEL_MAX_REASONS);
	return l;
}

/* PRC (0) with a CDN list of its own, RU (1) sharing one suffix with another operator name */
static struct groups *cdn_groups(void)
{
	char err[512];
	struct groups *g;

	write_text("lists/cdn.txt",
		   "# test CDN list\n"
		   "Kunlunca.COM.   Alibaba Cloud   # source\n"
		   "eo.dnse2.com\tTencent EdgeOne ; source\n"
		   "\n"
		   "shared.test Shared Operator\n"
		   "kunlunca.com Someone Else   # a repeated suffix keeps its first operator\n");
	write_text("lists/cdn-ru.txt", "shared.test Other Name\nsub.shared.test Deeper Operator\n");
	g = load_text("cdn.conf",
		      "[jurisdiction PRC]\ncountries = CN\ncdn = lists/cdn.txt\n"
		      "[jurisdiction RU]\ncountries = RU\ncdn = lists/cdn-ru.txt\n", err, sizeof(err));
	if (!g)
		fail_msg("%s", err);
	return g;
}

static void test_groups_cdn(void **state)
{
	struct groups *g = cdn_groups();
	size_t off;
	const char *op;

	(void)state;
	assert_int_equal(groups_get(g, 0)->ncdn, 4);
	assert_int_equal(groups_get(g, 1)->ncdn, 2);
	assert_int_equal(groups_get(g, 0)->ndomains, 0);
	assert_int_equal(cmatch(g, "x.w.kunlunca.com", &off, &op), 1);
	assert_int_equal(off, 4); /* \1x \1w */
	assert_string_equal(op, "Alibaba Cloud");
	assert_int_equal(cmatch(g, "KUNLUNCA.com", &off, &op), 1);
	assert_int_equal(off, 0);
	assert_string_equal(op, "Alibaba Cloud");
	assert_int_equal(cmatch(g, "a.eo.dnse2.com", &off, &op), 1);
	assert_string_equal(op, "Tencent EdgeOne");
	/* suffix boundaries: no match on part of a label or on a parent */
	assert_int_equal(cmatch(g, "notkunlunca.com", &off, &op), 0);
	assert_string_equal(op, "");
	assert_int_equal(cmatch(g, "dnse2.com", &off, &op), 0);
	assert_int_equal(cmatch(g, "kunlunca.com.evil.example", &off, &op), 0);
	/* two groups: both bits, the operator of the longest match */
	assert_int_equal(cmatch(g, "a.shared.test", &off, &op), 3);
	assert_string_equal(op, "Shared Operator");
	assert_int_equal(cmatch(g, "a.sub.shared.test", &off, &op), 3);
	assert_int_equal(off, 2);
	assert_string_equal(op, "Deeper Operator");
	/* CDN suffixes are not vendor domains */
	assert_int_equal(dmatch(g, "x.w.kunlunca.com", &off), 0);
	groups_unref(g);

	/* errors, each as FILE:LINE: message of the list file */
	char p[512], want[700];
	tpath("lists/bad-cdn.txt", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:2: ", p);
	write_text("lists/bad-cdn.txt", "ok.example Op\nlonely.example   # no operator\n");
	assert_load_error("c1.conf", "[jurisdiction X]\ncdn = lists/bad-cdn.txt\n", want);
	assert_load_error("c1.conf", "[jurisdiction X]\ncdn = lists/bad-cdn.txt\n", "no operator name");
	write_text("lists/bad-cdn.txt", "ok.example Op\nbad$name.example Op\n");
	assert_load_error("c1.conf", "[jurisdiction X]\ncdn = lists/bad-cdn.txt\n", want);
	assert_load_error("c1.conf", "[jurisdiction X]\ncdn = lists/bad-cdn.txt\n", "bad$name.example");
	write_text("lists/bad-cdn.txt", "ok.example Op\nq.example Say \"hi\"\n");
	assert_load_error("c1.conf", "[jurisdiction X]\ncdn = lists/bad-cdn.txt\n", want);
	write_text("lists/bad-cdn.txt", "ok.example Op\n"
		   "a-rather-long-cdn-suffix.example An Operator Name Far Too Long For A Label\n");
	assert_load_error("c1.conf", "[jurisdiction X]\ncdn = lists/bad-cdn.txt\n", "67 characters");
	/* 67 characters together is the most: the detail "x.example (OPERATOR)" fits the label */
	char line[160], op58[59], err[512];
	memset(op58, 'O', 58);
	op58[58] = 0;
	snprintf(line, sizeof(line), "x.example %s\n", op58);
	write_text("lists/edge-cdn.txt", line);
	struct groups *eg = load_text("c3.conf", "[jurisdiction X]\ncdn = lists/edge-cdn.txt\n", err,
				      sizeof(err));
	if (!eg)
		fail_msg("%s", err);
	size_t qe = start("a.x.example", TYPE_A, 0);
	struct label *l = label_g(eg, "a.x.example", qe);
	assert_int_equal(l->nreasons, 1);
	assert_int_equal(strlen(l->reasons[0].detail), 9 + 58 + 3);
	label_unref(l);
	groups_unref(eg);
	snprintf(line, sizeof(line), "x.example %sO\n", op58);
	write_text("lists/edge-cdn.txt", line);
	assert_load_error("c3.conf", "[jurisdiction X]\ncdn = lists/edge-cdn.txt\n", "67 characters");
	assert_load_error("c2.conf", "[jurisdiction X]\ncdn = lists/missing-cdn.txt\n", "missing-cdn.txt");
	tpath("c2.conf", p, sizeof(p));
	snprintf(want, sizeof(want), "%s:2: ", p);
	assert_load_error("c2.conf", "[jurisdiction X]\ncdn = lists/missing-cdn.txt\n", want);
}

static void test_label_cdn_chain(void **state)
{
	struct groups *g = cdn_groups();
	struct label *l;
	size_t qe;

	(void)state;
	/* vendor name -> CDN name (mixed case) -> edge address in a neutral network (DE, AS3320) */
	qe = start("Cam.Vendor.example", TYPE_A, 3);
	rr_cname("cam.vendor.example", "cam-vendor-example.W.KunlunCA.com");
	rr_cname("cam-vendor-example.w.kunlunca.com", "edge7.w.kunlunca.com");
	rr_a("edge7.w.kunlunca.com", "198.51.100.10");
	l = label_g(g, "Cam.Vendor.example", qe);
	assert_int_equal(l->naddrs, 1);
	assert_addr(&l->addrs[0], "198.51.100.10", true, "DE", 3320, "Deutsche Telekom AG");
	/* the same suffix on two chain names is one reason */
	assert_reasons(l, 1, "PRC:operator:kunlunca.com (Alibaba Cloud)");
	assert_int_equal(l->reasons[0].kind, LABEL_OPERATOR);
	assert_true(l->reasons[0].by_name);
	assert_string_equal(l->reasons[0].detail, "kunlunca.com (Alibaba Cloud)");
	assert_int_equal(l->mask[LABEL_OPERATOR], 1);
	assert_int_equal(l->mask[LABEL_HOSTED] | l->mask[LABEL_DOMAIN], 0);
	assert_true(label_has_groups(l));
	label_unref(l);

	/* the chain leaves the answer: the CNAME target alone, no address */
	qe = start("api.vendor.example", TYPE_A, 1);
	rr_cname("api.vendor.example", "x.eo.dnse2.com");
	l = label_g(g, "api.vendor.example", qe);
	assert_int_equal(l->total_addrs, 0);
	assert_reasons(l, 1, "PRC:operator:eo.dnse2.com (Tencent EdgeOne)");
	label_unref(l);

	/* the query name itself in a CDN namespace */
	qe = start("a.sub.shared.test", TYPE_A, 0);
	l = label_g(g, "a.sub.shared.test", qe);
	/* each group's reason names the longest suffix in its own list; shared.test is listed by
	 * both, under the operator name read first */
	assert_reasons(l, 2, "PRC:operator:shared.test (Shared Operator)",
		       "RU:operator:sub.shared.test (Deeper Operator)");
	assert_int_equal(l->mask[LABEL_OPERATOR], 3);
	label_unref(l);

	/* an edge in an AS of a PRC operator: g lists no ASNs, so the name is the only reason; with
	 * GRP (AS45102 listed, no CDN list) the address is */
	qe = start("shop.vendor.example", TYPE_A, 2);
	rr_cname("shop.vendor.example", "s.w.kunlunca.com");
	rr_a("s.w.kunlunca.com", "192.0.2.200");
	l = label_g(g, "shop.vendor.example", qe);
	assert_reasons(l, 1, "PRC:operator:kunlunca.com (Alibaba Cloud)"); /* AS45102 not listed in g */
	label_unref(l);
	qe = start("shop.vendor.example", TYPE_A, 2);
	rr_cname("shop.vendor.example", "s.w.kunlunca.com");
	rr_a("s.w.kunlunca.com", "192.0.2.200");
	l = label_b("shop.vendor.example", qe); /* GRP lists AS45102, no CDN list */
	assert_reasons(l, 1, "PRC:operator:AS45102");
	assert_false(l->reasons[0].by_name);
	label_unref(l);

	/* no match: another label that ends the same, a CNAME not on the chain, a parent */
	qe = start("b.vendor.example", TYPE_A, 4);
	rr_cname("b.vendor.example", "x.notkunlunca.com");
	rr_a("x.notkunlunca.com", "198.51.100.11");
	rr_cname("unrelated.example", "y.w.kunlunca.com");
	rr_a("y.w.kunlunca.com", "198.51.100.12");
	l = label_g(g, "b.vendor.example", qe);
	assert_int_equal(l->total_addrs, 1);
	assert_int_equal(l->nreasons, 0);
	assert_false(label_has_groups(l));
	label_unref(l);
	qe = start("dnse2.com", TYPE_A, 0);
	l = label_g(g, "dnse2.com", qe);
	assert_int_equal(l->nreasons, 0);
	label_unref(l);
	groups_unref(g);
}

/* The shipped list: the CDNs named in the issue and two more lead into PRC; the big non-PRC CDNs
 * do not. Every edge is in a neutral range of the fixture (DE AS3320, US AS15169/AS16509). */
static void test_label_cdn_shipped(void **state)
{
	static const struct { const char *target, *reason; } prc[] = {
		{ "vendor-a.w.kunlunca.com", "PRC:operator:kunlunca.com (Alibaba Cloud)" },
		{ "vendor-b.cdn.dnsv1.com", "PRC:operator:dnsv1.com (Tencent Cloud)" },
		{ "vendor-c.eo.dnse2.com", "PRC:operator:dnse2.com (Tencent EdgeOne)" },
		{ "vendor-d.c.cdnhwc1.com", "PRC:operator:cdnhwc1.com (Huawei Cloud)" },
		{ "vendor-e.a.bdydns.com", "PRC:operator:bdydns.com (Baidu AI Cloud)" },
		{ "vendor-f.bytegslb.com", "PRC:operator:bytegslb.com (ByteDance)" },
		{ "vendor-g.wscdns.com", "PRC:operator:wscdns.com (Wangsu)" },
		{ "vendor-h.ksyuncdn.com", "PRC:operator:ksyuncdn.com (Kingsoft Cloud)" },
	};
	static const char *const neutral[] = {
		"vendor.example.com.edgekey.net", "e1234.a.akamaiedge.net", "a1.g.akamai.net",
		"vendor.example.com.edgesuite.net", "vendor.example.com.cdn.cloudflare.net",
		"d111111abcdef8.cloudfront.net", "vendor.map.fastly.net", "hwcdn.net", "x.hwcdn.net",
		"vendor.azureedge.net",
	};
	static const char *const edges[] = { "198.51.100.20", "198.51.100.130", "203.0.113.20" };
	const char *top = getenv("abs_top_srcdir");
	char p[1024], err[1024] = "";
	struct groups *g;
	struct label *l;
	size_t qe;

	(void)state;
	snprintf(p, sizeof(p), "%s/zones/jurisdictions.conf", top && *top ? top : ".");
	if (!(g = groups_load(p, err, sizeof(err))))
		fail_msg("%s: %s", p, err);
	assert_string_equal(groups_get(g, 0)->name, "PRC");
	assert_true(groups_get(g, 0)->ncdn >= 60);
	for (size_t i = 0; i < sizeof(prc) / sizeof(prc[0]); i++) {
		qe = start("device.vendor.example", TYPE_A, 3);
		rr_cname("device.vendor.example", prc[i].target);
		rr_a(prc[i].target, edges[i % 3]);
		rr_a(prc[i].target, edges[(i + 1) % 3]);
		l = label_g(g, "device.vendor.example", qe);
		assert_int_equal(l->naddrs, 2);
		assert_reasons(l, 1, prc[i].reason);
		assert_true(l->reasons[0].by_name);
		label_unref(l);
	}
	for (size_t i = 0; i < sizeof(neutral) / sizeof(neutral[0]); i++) {
		qe = start("device.vendor.example", TYPE_A, 2);
		rr_cname("device.vendor.example", neutral[i]);
		rr_a(neutral[i], edges[i % 3]);
		l = label_g(g, "device.vendor.example", qe);
		assert_int_equal(l->naddrs, 1);
		if (l->nreasons)
			fail_msg("%s is labelled", neutral[i]);
		label_unref(l);
	}
	groups_unref(g);
}

/* kind = bypass: a group of resolver names, domains only; each group's domain reason names the
 * longest suffix of its own list (issue 11 item 5) */
static void test_groups_bypass_kind(void **state)
{
	char err[512];
	struct groups *g;
	struct label *l;
	size_t qe, off;

	(void)state;
	g = load_text("bp.conf",
		      "[jurisdiction PRC]\ncountries = CN\ndomains = qq.com\n"
		      "[jurisdiction bypass]\nkind = bypass\ndomains = dns.weixin.qq.com dns.google\n",
		      err, sizeof(err));
	if (!g)
		fail_msg("%s", err);
	assert_int_equal(groups_get(g, 0)->kind, GROUP_JURISDICTION);
	assert_int_equal(groups_get(g, 1)->kind, GROUP_BYPASS);
	assert_int_equal(groups_get(g, 1)->ndomains, 2);
	assert_int_equal(dmatch(g, "a.dns.google", &off), 2);
	assert_int_equal(dmatch(g, "dns.weixin.qq.com", &off), 3);
	assert_int_equal(groups_domain_get(g, (const uint8_t *)"\3dns\6google", 12), 2);
	assert_int_equal(groups_domain_get(g, (const uint8_t *)"\1a\3dns\6google", 14), 0);
	/* a CN address: PRC for the country and its own suffix, bypass for the name only */
	qe = start("dns.weixin.qq.com", TYPE_A, 1);
	b_a(&B, 300, 192, 0, 2, 1);
	l = label_g(g, "dns.weixin.qq.com", qe);
	assert_reasons(l, 3, "PRC:hosted:CN", "PRC:domain:qq.com", "bypass:domain:dns.weixin.qq.com");
	assert_int_equal(l->mask[LABEL_HOSTED], 1);
	assert_int_equal(l->mask[LABEL_DOMAIN], 3);
	label_unref(l);
	qe = start("dns.google", TYPE_A, 1);
	b_a(&B, 300, 192, 0, 2, 1);
	l = label_g(g, "dns.google", qe);
	assert_reasons(l, 2, "PRC:hosted:CN", "bypass:domain:dns.google");
	label_unref(l);
	groups_unref(g);

	/* a bypass group takes no address or operator evidence, in either order; kind is checked */
	assert_load_error("bp1.conf", "[jurisdiction b]\nkind = bypass\ncountries = CN\n",
			  "bp1.conf:3: 'countries' in a bypass group");
	assert_load_error("bp1.conf", "[jurisdiction b]\nkind = bypass\nasns = 4134\n", "'asns' in a bypass");
	assert_load_error("bp1.conf", "[jurisdiction b]\nkind = bypass\ncountries_except = CN\n",
			  "'countries_except' in a bypass");
	assert_load_error("bp1.conf", "[jurisdiction b]\nkind = bypass\ncdn = lists/cdn.txt\n", "'cdn' in a bypass");
	assert_load_error("bp2.conf", "[jurisdiction b]\nasns = 4134\nkind = bypass\n",
			  "bp2.conf:3: a bypass group has domains only");
	assert_load_error("bp3.conf", "[jurisdiction b]\nkind = resolver\n", "bp3.conf:2: kind = 'resolver'");
	g = load_text("bp4.conf", "[jurisdiction b]\nkind = jurisdiction\ncountries = CN\n", err, sizeof(err));
	if (!g)
		fail_msg("%s", err);
	assert_int_equal(groups_get(g, 0)->kind, GROUP_JURISDICTION);
	groups_unref(g);
}

/* The shipped bypass group (zones/encrypted-dns.txt) loads and names the resolvers. */
static void test_groups_shipped_bypass(void **state)
{
	static const char *const listed[] = {
		"dns.google", "dns64.dns.google", "mozilla.cloudflare-dns.com", "one.one.one.one",
		"dns.quad9.net", "dns.adguard-dns.com", "doh.opendns.com", "abc123.dns.nextdns.io",
		"doh.dns.sb", "dns.alidns.com", "doh.pub", "dot.pub", "doh.360.cn", "dns.twnic.tw",
		"httpdns-sc.aliyuncs.com", "httpsdns.baidu.com", "dns.weixin.qq.com", "chrome.cloudflare-dns.com",
	};
	static const char *const not_listed[] = {
		"google.com", "www.google.com", "quad9.net", "nextdns.io", "qq.com", "baidu.com", "alidns.com",
		"ns1.alidns.com", "cloudflare.com", "example.com",
	};
	const char *top = getenv("abs_top_srcdir");
	char p[1024], err[1024] = "";
	struct groups *g;
	const struct jgroup *bp = NULL;
	unsigned bi = 0;
	size_t off;
	struct label *l;

	(void)state;
	snprintf(p, sizeof(p), "%s/zones/jurisdictions.conf", top && *top ? top : ".");
	if (!(g = groups_load(p, err, sizeof(err))))
		fail_msg("%s: %s", p, err);
	for (unsigned i = 0; i < groups_count(g); i++)
		if (!strcmp(groups_get(g, i)->name, "bypass"))
			bp = groups_get(g, bi = i);
	if (!bp)
		fail_msg("%s: no bypass group", p);
	assert_int_equal(bp->kind, GROUP_BYPASS);
	assert_int_equal(groups_get(g, 0)->kind, GROUP_JURISDICTION); /* PRC */
	assert_true(bp->ndomains >= 80);
	assert_int_equal(bp->ncountries + bp->nexcept, 0);
	assert_int_equal(bp->nasns, 0);
	assert_int_equal(bp->ncdn, 0);
	for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
		if (!(dmatch(g, listed[i], &off) & (1u << bi)))
			fail_msg("%s is not in the bypass group", listed[i]);
	for (size_t i = 0; i < sizeof(not_listed) / sizeof(not_listed[0]); i++)
		if (dmatch(g, not_listed[i], &off) & (1u << bi))
			fail_msg("%s is in the bypass group", not_listed[i]);
	/* a WeChat HTTPDNS lookup: PRC by its vendor domain, bypass by the resolver name */
	size_t qe = start("dns.weixin.qq.com", TYPE_A, 1);
	rr_a("dns.weixin.qq.com", "198.51.100.20");
	l = label_g(g, "dns.weixin.qq.com", qe);
	assert_reasons(l, 2, "PRC:domain:qq.com", "bypass:domain:dns.weixin.qq.com");
	label_unref(l);
	groups_unref(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geo_lookup_fixture),
		cmocka_unit_test(test_geo_lookup_null_geo),
		cmocka_unit_test(test_geo_open_missing),
		cmocka_unit_test(test_geo_open_garbage),
		cmocka_unit_test(test_geo_paths_check),
		cmocka_unit_test(test_geo_custom_paths),
		cmocka_unit_test(test_geo_separate_asn_db),
		cmocka_unit_test(test_geo_describe),
		cmocka_unit_test(test_geo_refcount),
		cmocka_unit_test(test_geo_changed),
		cmocka_unit_test(test_groups_load),
		cmocka_unit_test(test_groups_countries_except),
		cmocka_unit_test(test_geo_other_layouts_give_the_same_results),
		cmocka_unit_test(test_groups_match_country_asn),
		cmocka_unit_test(test_groups_match_domain),
		cmocka_unit_test(test_groups_errors),
		cmocka_unit_test(test_groups_bad_headers),
		cmocka_unit_test(test_groups_list_is_a_directory),
		cmocka_unit_test(test_groups_inih_lines),
		cmocka_unit_test(test_groups_misc_syntax),
		cmocka_unit_test(test_groups_without_asns),
		cmocka_unit_test(test_groups_shipped),
		cmocka_unit_test(test_groups_cdn),
		cmocka_unit_test(test_label_cdn_chain),
		cmocka_unit_test(test_label_cdn_shipped),
		cmocka_unit_test(test_label_hosted_cn),
		cmocka_unit_test(test_label_operator_only),
		cmocka_unit_test(test_label_cname_chain),
		cmocka_unit_test(test_label_compressed),
		cmocka_unit_test(test_label_aaaa),
		cmocka_unit_test(test_label_https_hints),
		cmocka_unit_test(test_label_domain),
		cmocka_unit_test(test_label_no_addresses),
		cmocka_unit_test(test_label_many_addresses),
		cmocka_unit_test(test_label_very_many_records),
		cmocka_unit_test(test_label_unknown_address),
		cmocka_unit_test(test_label_reason_str),
		cmocka_unit_test(test_label_why),
		cmocka_unit_test(test_label_refcount),
		cmocka_unit_test(test_label_malformed),
		cmocka_unit_test(test_label_many_reasons),
		cmocka_unit_test(test_groups_bypass_kind),
		cmocka_unit_test(test_groups_shipped_bypass),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
