/* dynpol_test.c - the Redis policy overlay: snapshot parsing, escaping, bad records skipped,
 * save and load, and how the overlay combines with the file's policy in decisions. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cmocka.h>
#include "dynpol.h"
#include "policy.h"
#include "rconn.h"
#include "suffix.h"

static struct dynpol *parse_with(const char *text, const struct groups *g)
{
	char err[256];
	struct dynpol *d = dynpol_parse(text, strlen(text), "test", g, err, sizeof(err));

	assert_non_null(d);
	return d;
}

/* group names unchecked */
static struct dynpol *parse(const char *text)
{
	return parse_with(text, NULL);
}

/* The names of a groups file with PRC and EU. */
static struct groups *test_groups(void)
{
	char dir[] = "/tmp/jd-dyn-XXXXXX", path[256], err[256];
	struct groups *g;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/j.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("[jurisdiction PRC]\ncountries = CN\n[jurisdiction EU]\ncountries = DE\n", f);
	fclose(f);
	g = groups_load_names(path, err, sizeof(err));
	assert_non_null(g);
	unlink(path);
	rmdir(dir);
	return g;
}

static const struct client_rule *lookup(const struct policy *file, const struct policy *o,
					const char *ip, const uint8_t *mac)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	bool trusted;

	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
		return policy_client(file, o, (struct sockaddr *)&sin, mac, &trusted);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return policy_client(file, o, (struct sockaddr *)&sin6, mac, &trusted);
}

static void test_parse_full(void **state)
{
	(void)state;
	struct dynpol *d = parse(DYNPOL_MAGIC
				 "version\t42\n"
				 "default\tmode\tblock\n"
				 "default\tblock\tPRC:operator\n"
				 "default\taction\tnxdomain\n"
				 "allow\tok.example\n"
				 "deny\tads.example\n"
				 "deny\tTracker.Example.\n"
				 "client\t192.168.1.23\n"
				 "client\t192.168.1.23\tmode\tlog\n"
				 "client\t192.168.1.23\tname\tKid\\'s\\ttablet\\\\x\n"
				 "client\t10.0.0.0/8\tblock\tPRC\n"
				 "client\taa:bb:cc:dd:ee:ff\tmode\toff\n");
	assert_int_equal(d->version, 42);
	assert_int_equal(d->skipped, 1); /* \' is not an escape: that record is skipped */
	assert_true(d->p.has_mode && d->p.has_block && d->p.has_action);
	assert_int_equal(d->p.default_mode, PMODE_BLOCK);
	assert_int_equal(d->p.action, PACT_NXDOMAIN);
	assert_int_equal(d->p.nblock, 1);
	assert_string_equal(d->p.block[0].group, "PRC");
	assert_int_equal(d->p.block[0].kinds, 1 << LABEL_OPERATOR);
	assert_int_equal(suffix_set_count(d->p.deny), 2);
	assert_int_equal(suffix_set_count(d->p.allow), 1);
	assert_int_equal(d->p.nclients, 3);
	dynpol_unref(d);

	d = parse(DYNPOL_MAGIC "client\t192.168.1.23\tname\tKid's\\ttablet\\\\x\\x01\n");
	assert_int_equal(d->skipped, 1); /* a control character in a name */
	assert_int_equal(d->p.nclients, 0);
	dynpol_unref(d);
	d = parse(DYNPOL_MAGIC "client\t192.168.1.23\tname\tKid's\\ttab\\\\x\n");
	assert_int_equal(d->skipped, 1); /* a tab is a control character too */
	dynpol_unref(d);
	d = parse(DYNPOL_MAGIC "client\t192.168.1.23\tname\tKid's tablet \\\\o/\n");
	assert_int_equal(d->skipped, 0);
	assert_string_equal(d->p.clients[0].name, "Kid's tablet \\o/");
	dynpol_unref(d);
}

static void test_bad_records_skipped(void **state)
{
	(void)state;
	struct dynpol *d = parse(DYNPOL_MAGIC
				 "version\tseven\n"                       /* bad version */
				 "default\tmode\tblokc\n"                 /* bad default */
				 "default\tcolour\tred\n"                 /* unknown default */
				 "deny\tbad..name\n"                      /* bad domain */
				 "deny\tgood.example\n"
				 "client\t10.1.1.1/8\n"                   /* host bits set */
				 "client\t10.1.1.1/8\tmode\tblock\n"
				 "client\t10.2.0.0/16\tmode\tblock\n"
				 "client\t10.2.0.0/16\tblock\tNOPE:why\n" /* bad reason: whole client */
				 "client\t10.3.0.1\tcolour\tred\n"        /* unknown field: whole client */
				 "client\t10.4.0.1\tmode\n"               /* no value */
				 "client\t10.5.0.1\tmode\tblock\n"        /* fine */
				 "error\tjurisdns:{policy}:allow\tWRONGTYPE Operation\n"
				 "frobnicate\tx\n"
				 "\n# a comment\n");
	assert_int_equal(d->version, 0);
	assert_false(d->p.has_mode);
	assert_int_equal(suffix_set_count(d->p.deny), 1);
	assert_int_equal(d->p.nclients, 2); /* 10.4.0.1 (mode ignored) and 10.5.0.1 */
	assert_int_equal(d->skipped, 10);
	struct policy empty;
	policy_init(&empty);
	const struct client_rule *r = lookup(&empty, &d->p, "10.5.0.1", NULL);
	assert_non_null(r);
	assert_int_equal(r->mode, PMODE_BLOCK);
	assert_null(lookup(&empty, &d->p, "10.2.0.9", NULL));
	assert_null(lookup(&empty, &d->p, "10.3.0.1", NULL));
	policy_free(&empty);
	dynpol_unref(d);
}

/* A block group that the groups file does not define drops that client whole (one record
 * skipped, however many fields it has), and a default block list alone; any case is fine. */
static void test_unknown_group_skipped(void **state)
{
	(void)state;
	struct groups *g = test_groups();
	struct dynpol *d = parse_with(DYNPOL_MAGIC
				      "default\tmode\tblock\n"
				      "default\tblock\tPRX\n"               /* skipped alone */
				      "client\t10.1.0.1\tmode\tblock\n"
				      "client\t10.1.0.1\tblock\tChna\n"     /* the whole client */
				      "client\t10.1.0.1\tname\tTablet\n"
				      "client\t10.2.0.1\tblock\tprc:hosted eu\n" /* any case */
				      "client\t10.3.0.1\tblock\tCN\n",        /* a country, not a group */
				      g);
	struct policy empty;

	assert_int_equal(d->skipped, 3);
	assert_true(d->p.has_mode);
	assert_false(d->p.has_block);
	assert_int_equal(d->p.nclients, 1);
	policy_init(&empty);
	assert_null(lookup(&empty, &d->p, "10.1.0.1", NULL));
	assert_null(lookup(&empty, &d->p, "10.3.0.1", NULL));
	const struct client_rule *r = lookup(&empty, &d->p, "10.2.0.1", NULL);
	assert_non_null(r);
	assert_int_equal(r->nblock, 2);
	assert_string_equal(r->block[0].group, "PRC"); /* as the groups file spells it */
	assert_int_equal(r->block[0].kinds, 1 << LABEL_HOSTED);
	assert_string_equal(r->block[1].group, "EU");
	policy_free(&empty);
	dynpol_unref(d);
	groups_unref(g);
}

static void test_not_a_snapshot(void **state)
{
	(void)state;
	char err[256];

	assert_null(dynpol_parse("version\t1\n", 10, "x", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "not a jurisdns policy snapshot"));
	assert_null(dynpol_load("/nonexistent/snap", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

static void test_escape_roundtrip(void **state)
{
	(void)state;
	struct strbuf b = { 0 };
	const char raw[] = "a\tb\nc\rd\\e\x01" "f\x7f" "g h\xc3\xa9";
	char err[256];

	sb_str(&b, DYNPOL_MAGIC "client\t192.0.2.1\tname\t");
	sb_field(&b, raw, sizeof(raw) - 1);
	sb_str(&b, "\n");
	assert_non_null(strstr(b.s, "a\\tb\\nc\\rd\\\\e\\x01f\\x7fg h\xc3\xa9"));
	/* the name has control characters, so the client is refused, but the escapes parse */
	struct dynpol *d = dynpol_parse(b.s, b.len, "x", NULL, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(d->skipped, 1);
	dynpol_unref(d);
	sb_free(&b);
	sb_field(&b, "plain", 5);
	assert_string_equal(b.s, "plain");
	sb_free(&b);
}

static void test_save_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/jd-dynpol-XXXXXX", path[300], err[320];
	struct dynpol *d = parse(DYNPOL_MAGIC "version\t9\nclient\t192.0.2.7\tmode\tblock\n"), *l;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/snap", dir);
	assert_int_equal(dynpol_save(d, path), 0);
	l = dynpol_load(path, NULL, err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(l->version, 9);
	assert_int_equal(l->len, d->len);
	assert_memory_equal(l->text, d->text, d->len);
	snprintf(err, sizeof(err), "%s.tmp", path);
	assert_int_not_equal(access(err, F_OK), 0); /* renamed, not left behind */
	assert_int_equal(dynpol_save(d, "/nonexistent-dir/snap"), -ENOENT);
	unlink(path);
	rmdir(dir);
	dynpol_unref(l);
	dynpol_unref(d);
}

static void test_overlay_precedence(void **state)
{
	(void)state;
	struct policy file;
	struct client_rule r;
	char err[256];
	uint8_t mac[6] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	struct cidr fwd;

	policy_init(&file);
	assert_int_equal(policy_client_init(&r, "192.168.1.0/24", err, sizeof(err)), 0);
	snprintf(r.name, sizeof(r.name), "file-lan");
	policy_add_client(&file, &r);
	assert_int_equal(policy_client_init(&r, "192.168.1.5", err, sizeof(err)), 0);
	snprintf(r.name, sizeof(r.name), "file-host");
	policy_add_client(&file, &r);
	assert_int_equal(cidr_parse("127.0.0.1", &fwd, err, sizeof(err)), 0);
	policy_add_trusted(&file, &fwd);
	policy_finish(&file);

	struct dynpol *d = parse(DYNPOL_MAGIC
				 "client\t192.168.0.0/16\tname\tredis-wide\n"
				 "client\t192.168.1.0/24\tname\tredis-lan\n"
				 "client\taa:bb:cc:dd:ee:ff\tname\tredis-mac\n"
				 "client\t2001:db8::/32\tname\tredis-v6\n");
	/* a host rule of the file beats a network of Redis */
	assert_string_equal(lookup(&file, &d->p, "192.168.1.5", NULL)->name, "file-host");
	/* the same prefix in both: Redis wins */
	assert_string_equal(lookup(&file, &d->p, "192.168.1.9", NULL)->name, "redis-lan");
	/* only Redis has it */
	assert_string_equal(lookup(&file, &d->p, "192.168.7.9", NULL)->name, "redis-wide");
	assert_string_equal(lookup(&file, &d->p, "2001:db8::1", NULL)->name, "redis-v6");
	/* a MAC from Redis, trusted through the file's forwarder */
	assert_string_equal(lookup(&file, &d->p, "127.0.0.1", mac)->name, "redis-mac");
	/* the same MAC from an untrusted source is ignored */
	assert_null(lookup(&file, &d->p, "127.0.0.2", mac));
	assert_null(lookup(&file, &d->p, "10.0.0.1", NULL));
	/* without an overlay, the file alone */
	assert_string_equal(lookup(&file, NULL, "192.168.1.9", NULL)->name, "file-lan");
	dynpol_unref(d);
	policy_free(&file);
}

static void test_overlay_decisions(void **state)
{
	(void)state;
	struct policy file;
	struct verdict v;
	uint8_t name[256];
	int len;
	char err[256];

	policy_init(&file);
	file.deny = suffix_set_new();
	assert_int_equal(policy_add_domains(file.deny, "file-deny.example", NULL, err, sizeof(err)), 0);
	policy_finish(&file);
	struct dynpol *d = parse(DYNPOL_MAGIC "default\tmode\tblock\ndefault\taction\tnodata\n"
				 "deny\tredis-deny.example\nallow\tok.file-deny.example\n"
				 "client\t192.0.2.1\taction\trefuse\n");
	/* the deny lists add up; Redis's allow list exempts a name under the file's deny */
	len = domain_to_wire("x.redis-deny.example", name);
	assert_true(policy_before(&file, &d->p, NULL, NULL, name, (size_t)len, &v));
	assert_int_equal(v.action, PACT_NODATA); /* the default action from Redis */
	assert_int_equal(v.mode, PMODE_BLOCK);   /* the default mode from Redis */
	assert_string_equal(v.text, "blocked by operator rule: deny redis-deny.example");
	len = domain_to_wire("a.file-deny.example", name);
	assert_true(policy_before(&file, &d->p, NULL, NULL, name, (size_t)len, &v));
	assert_string_equal(v.text, "blocked by operator rule: deny file-deny.example");
	len = domain_to_wire("a.ok.file-deny.example", name);
	assert_false(policy_before(&file, &d->p, NULL, NULL, name, (size_t)len, &v));
	/* a client's own action beats the default */
	const struct client_rule *c = lookup(&file, &d->p, "192.0.2.1", NULL);
	assert_non_null(c);
	len = domain_to_wire("redis-deny.example", name);
	assert_true(policy_before(&file, &d->p, c, NULL, name, (size_t)len, &v));
	assert_int_equal(v.action, PACT_REFUSE);
	/* without the overlay: the file's defaults */
	len = domain_to_wire("a.file-deny.example", name);
	assert_true(policy_before(&file, NULL, NULL, NULL, name, (size_t)len, &v));
	assert_int_equal(v.action, PACT_SINKHOLE);
	assert_int_equal(v.mode, PMODE_LOG);
	len = domain_to_wire("x.redis-deny.example", name);
	assert_false(policy_before(&file, NULL, NULL, NULL, name, (size_t)len, &v));
	dynpol_unref(d);
	policy_free(&file);
}

static void test_client_helpers(void **state)
{
	(void)state;
	struct client_rule r;
	char err[256], id[64];

	assert_int_equal(policy_client_init(&r, "AA:BB:CC:DD:EE:0F", err, sizeof(err)), 0);
	policy_client_id(&r, id, sizeof(id));
	assert_string_equal(id, "aa:bb:cc:dd:ee:0f");
	assert_int_equal(policy_client_init(&r, "2001:DB8:0:0::1", err, sizeof(err)), 0);
	policy_client_id(&r, id, sizeof(id));
	assert_string_equal(id, "2001:db8::1");
	assert_int_equal(policy_client_init(&r, "10.0.0.0/8", err, sizeof(err)), 0);
	policy_client_id(&r, id, sizeof(id));
	assert_string_equal(id, "10.0.0.0/8");
	assert_int_equal(policy_client_init(&r, "2001:db8::/32", err, sizeof(err)), 0);
	policy_client_id(&r, id, sizeof(id));
	assert_string_equal(id, "2001:db8::/32");
	assert_int_equal(policy_client_init(&r, "aa:bb:cc:dd:ee:gg", err, sizeof(err)), -1);
	assert_int_equal(policy_client_init(&r, "kitchen", err, sizeof(err)), -1);
	assert_int_equal(policy_client_init(&r, "192.0.2.1", err, sizeof(err)), 0);
	assert_int_equal(policy_client_set(&r, "mode", "blokc", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "mode = 'blokc': expected off, log or block (did you mean 'block'?)");
	assert_int_equal(policy_client_set(&r, "colour", "red", NULL, err, sizeof(err)), -2);
	assert_int_equal(policy_client_set(&r, "block", "PRC:hosted", NULL, err, sizeof(err)), 0);
	assert_int_equal(policy_client_set(&r, "block", "PRC:operator RU", NULL, err, sizeof(err)), 0);
	assert_int_equal(r.nblock, 2); /* adds, merging PRC's reasons */
	assert_int_equal(r.block[0].kinds, (1 << LABEL_HOSTED) | (1 << LABEL_OPERATOR));
	assert_int_equal(policy_client_set(&r, "block", "PRC:why", NULL, err, sizeof(err)), -1);
	assert_int_equal(r.nblock, 2); /* unchanged by the bad value */
	char longname[80];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[79] = 0;
	assert_int_equal(policy_client_set(&r, "name", longname, NULL, err, sizeof(err)), -1);
}

static void test_leases(void **state)
{
	(void)state;
	struct dynpol *d = parse(DYNPOL_MAGIC
				 "lease\t192.168.1.40\tkitchen-camera\n"
				 "lease\t2001:db8::23\tphone\n"
				 "lease\t192.168.1.40\tduplicate\n"      /* the first one wins */
				 "lease\t192.168.1.0/24\tnetwork\n"      /* not an address: skipped */
				 "lease\tkitchen\tx\n"                   /* skipped */
				 "lease\t192.168.1.41\tbad\\x01name\n"); /* control character: skipped */
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	assert_int_equal(d->skipped, 3);
	inet_pton(AF_INET, "192.168.1.40", &sin.sin_addr);
	assert_string_equal(dynpol_lease_name(d, (struct sockaddr *)&sin), "kitchen-camera");
	inet_pton(AF_INET, "192.168.1.41", &sin.sin_addr);
	assert_null(dynpol_lease_name(d, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "2001:db8::23", &sin6.sin6_addr);
	assert_string_equal(dynpol_lease_name(d, (struct sockaddr *)&sin6), "phone");
	assert_null(dynpol_lease_name(NULL, (struct sockaddr *)&sin6));
	dynpol_unref(d);
	/* many: the table grows and every name is found */
	struct strbuf b = { 0 };
	sb_str(&b, DYNPOL_MAGIC);
	for (int i = 0; i < 3000; i++)
		sb_printf(&b, "lease\t10.0.%d.%d\thost-%d\n", i / 256, i % 256, i);
	d = parse(b.s);
	assert_int_equal(d->nleases, 3000);
	for (int i = 0; i < 3000; i += 7) {
		char ip[32], want[32];
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		snprintf(want, sizeof(want), "host-%d", i);
		inet_pton(AF_INET, ip, &sin.sin_addr);
		assert_string_equal(dynpol_lease_name(d, (struct sockaddr *)&sin), want);
	}
	dynpol_unref(d);
	sb_free(&b);
}

static void test_redis_address(void **state)
{
	(void)state;
	char path[256], ip[64], err[256];
	int port = 0;

	assert_int_equal(redis_address_parse("unix:/run/r.sock", path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)), 0);
	assert_string_equal(path, "/run/r.sock");
	assert_int_equal(redis_address_parse("/run/r.sock", path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)), 0);
	assert_string_equal(path, "/run/r.sock");
	assert_int_equal(redis_address_parse("127.0.0.1:6380", path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)), 0);
	assert_string_equal(ip, "127.0.0.1");
	assert_int_equal(port, 6380);
	assert_int_equal(redis_address_parse("10.0.0.1", path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)), 0);
	assert_int_equal(port, 6379);
	assert_int_equal(redis_address_parse("[::1]:7000", path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)), 0);
	assert_string_equal(ip, "::1");
	assert_int_equal(port, 7000);
	assert_int_equal(redis_address_parse("::1", path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)), 0);
	assert_string_equal(ip, "::1");
	assert_int_equal(redis_address_check("redis.lan:6379", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a numeric IP address"));
	assert_int_equal(redis_address_check("127.0.0.1:0", err, sizeof(err)), -1);
	assert_int_equal(redis_address_check("127.0.0.1:70000", err, sizeof(err)), -1);
	assert_int_equal(redis_address_check("unix:relative.sock", err, sizeof(err)), -1);
	assert_int_equal(redis_address_check("[::1", err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_bad_records_skipped),
		cmocka_unit_test(test_unknown_group_skipped),
		cmocka_unit_test(test_not_a_snapshot),
		cmocka_unit_test(test_escape_roundtrip),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_overlay_precedence),
		cmocka_unit_test(test_overlay_decisions),
		cmocka_unit_test(test_client_helpers),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_redis_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
