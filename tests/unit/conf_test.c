/* conf_test.c - unit tests for src/conf.h (conf_load, conf_read_resolv) and src/addr.h
 * (addr_parse, addr_str, cidr_parse, acl_permits). Config files live in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "addr.h"
#include "conf.h"
#include "fwdzone.h"
#include "suffix.h"

static char tmpdir[256];

static int group_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/jdconfXXXXXX", base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char p[512];

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
	return 0;
}

/* Write content to tmpdir/name; returns the path (static buffer per name slot). */
static const char *write_file(const char *name, const char *content)
{
	static char paths[8][512];
	static unsigned slot;
	char *p = paths[slot++ % 8];
	FILE *f;

	snprintf(p, 512, "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return p;
}

static const char *tmp_path(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

/* A resolv.conf with one usable nameserver, so nothing reads the host's. */
static const char *resolv1(void)
{
	return write_file("resolv1.conf", "nameserver 192.0.2.53\n");
}

static struct conf *load(const char *content, char *err, size_t errlen)
{
	const char *path = write_file("test.conf", content);

	return conf_load(path, NULL, resolv1(), err, errlen);
}

/* Loading content must fail with exactly "PATH:LINE: msg". */
static void expect_error(const char *content, int line, const char *msg)
{
	char err[512], want[1024];
	const char *path = write_file("err.conf", content);
	struct conf *c = conf_load(path, NULL, resolv1(), err, sizeof(err));

	if (c)
		conf_unref(c);
	assert_null(c);
	snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
	assert_string_equal(err, want);
}

static void addr_eq(const struct addr *a, const char *want)
{
	char buf[128];

	assert_string_equal(addr_str(&a->u.sa, buf, sizeof(buf)), want);
}

static struct addr sa(const char *s)
{
	struct addr a;
	char err[128];

	assert_int_equal(addr_parse(s, 53, &a, err, sizeof(err)), 0);
	return a;
}

static bool permits(const struct acl *acl, const char *ip)
{
	struct addr a = sa(ip);

	return acl_permits(acl, &a.u.sa);
}

/* ---------------------------------------------------------------- conf_load */

static void test_defaults_without_file(void **state)
{
	char err[256];
	struct conf *c = conf_load(NULL, NULL, resolv1(), err, sizeof(err));

	assert_non_null(c);
	assert_null(c->path);
	assert_int_equal(c->nlisten, 1);
	addr_eq(&c->listen[0], "127.0.0.1:5335");
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->tcp_idle_timeout, 10000);
	assert_int_equal(c->tcp_max_clients, 512);
	assert_int_equal(c->tcp_max_queries, 64);
	assert_int_equal(c->max_udp_size, 4096);
	assert_int_equal(c->max_inflight, 20000);
	assert_int_equal(c->timeout, 2500);
	assert_int_equal(c->failover, 1000);
	assert_int_equal(c->upstream_udp_size, 1232);
	assert_int_equal(c->cache_size, 64ULL << 20);
	assert_int_equal(c->min_ttl, 0);
	assert_int_equal(c->max_ttl, 86400);
	assert_int_equal(c->negative_ttl, 3600);
	assert_int_equal(c->servfail_ttl, 5);
	assert_true(c->upstream_from_resolv);
	assert_int_equal(c->nupstream, 1);
	addr_eq(&c->upstream[0], "192.0.2.53:53");
	assert_true(c->acl.nallow > 0);
	assert_int_equal(c->acl.ndeny, 0);
	assert_int_equal(atomic_load(&c->refs), 1);
	conf_unref(c);
}

static void test_empty_file_gives_defaults(void **state)
{
	char err[256];
	struct conf *c = load("; nothing here\n# nor here\n\n", err, sizeof(err));

	assert_non_null(c);
	assert_non_null(c->path);
	assert_string_equal(c->path, tmp_path("test.conf"));
	assert_int_equal(c->max_udp_size, 4096);
	assert_int_equal(c->nlisten, 1);
	conf_unref(c);
}

static void test_every_key_is_read(void **state)
{
	char err[256];
	struct conf *c = load("[server]\n"
			      "listen = 127.0.0.1:53\n"
			      "listen = [::1]:5353\n"
			      "workers = 4 ; four\n"
			      "allow = 192.0.2.0/24\n"
			      "allow = 2001:db8::/32\n"
			      "deny = 192.0.2.128/25\n"
			      "tcp_idle_timeout = 5000\n"
			      "tcp_max_clients = 100\n"
			      "tcp_max_queries = 10\n"
			      "max_udp_size = 1232\n"
			      "max_inflight = 1000\n"
			      "[upstream]\n"
			      "server = 9.9.9.9\n"
			      "server = [2620:fe::fe]:853\n"
			      "server = 1.1.1.1:5353\n"
			      "timeout = 1500\n"
			      "failover = 200\n"
			      "edns_buffer_size = 1400\n"
			      "[cache]\n"
			      "size = 16M\n"
			      "min_ttl = 30\n"
			      "max_ttl = 3600\n"
			      "negative_ttl = 600\n"
			      "servfail_ttl = 10\n",
			      err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(c->nlisten, 2);
	addr_eq(&c->listen[0], "127.0.0.1:53");
	addr_eq(&c->listen[1], "[::1]:5353");
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->acl.nallow, 2);
	assert_int_equal(c->acl.ndeny, 1);
	assert_int_equal(c->tcp_idle_timeout, 5000);
	assert_int_equal(c->tcp_max_clients, 100);
	assert_int_equal(c->tcp_max_queries, 10);
	assert_int_equal(c->max_udp_size, 1232);
	assert_int_equal(c->max_inflight, 1000);
	assert_int_equal(c->nupstream, 3);
	assert_false(c->upstream_from_resolv);
	addr_eq(&c->upstream[0], "9.9.9.9:53");
	addr_eq(&c->upstream[1], "[2620:fe::fe]:853");
	addr_eq(&c->upstream[2], "1.1.1.1:5353");
	assert_int_equal(c->timeout, 1500);
	assert_int_equal(c->failover, 200);
	assert_int_equal(c->upstream_udp_size, 1400);
	assert_int_equal(c->cache_size, 16ULL << 20);
	assert_int_equal(c->min_ttl, 30);
	assert_int_equal(c->max_ttl, 3600);
	assert_int_equal(c->negative_ttl, 600);
	assert_int_equal(c->servfail_ttl, 10);

	/* the ACL: allow replaces the default, deny wins */
	assert_true(permits(&c->acl, "192.0.2.1"));
	assert_false(permits(&c->acl, "192.0.2.200"));
	assert_true(permits(&c->acl, "2001:db8::1"));
	assert_false(permits(&c->acl, "127.0.0.1"));
	assert_false(permits(&c->acl, "10.0.0.1"));
	conf_unref(c);
}

static void test_deny_alone_keeps_default_allow(void **state)
{
	char err[256];
	struct conf *c = load("[server]\ndeny = 10.1.0.0/16\n", err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(c->acl.ndeny, 1);
	assert_false(permits(&c->acl, "10.1.2.3"));
	assert_true(permits(&c->acl, "10.2.3.4"));
	assert_true(permits(&c->acl, "127.0.0.1"));
	conf_unref(c);
}

static void test_cache_size_suffixes(void **state)
{
	static const struct { const char *v; uint64_t want; } cases[] = {
		{ "0", 0 }, { "1000", 1000 }, { "512K", 512ULL << 10 }, { "512k", 512ULL << 10 },
		{ "10M", 10ULL << 20 }, { "2G", 2ULL << 30 }, { "1024G", 1ULL << 40 },
	};
	char err[256], buf[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "[cache]\nsize = %s\n", cases[i].v);
		struct conf *c = load(buf, err, sizeof(err));
		assert_non_null(c);
		assert_int_equal(c->cache_size, cases[i].want);
		conf_unref(c);
	}
}

static void test_cache_size_errors(void **state)
{
	const char *range = "expected a whole number from 0 to 1099511627776 (suffix K, M or G allowed)";
	char msg[256];

	snprintf(msg, sizeof(msg), "size = '1025G': %s", range);
	expect_error("[cache]\nsize = 1025G\n", 2, msg);
	snprintf(msg, sizeof(msg), "size = '10X': %s", range);
	expect_error("[cache]\nsize = 10X\n", 2, msg);
	snprintf(msg, sizeof(msg), "size = '10MB': %s", range);
	expect_error("[cache]\nsize = 10MB\n", 2, msg);
	snprintf(msg, sizeof(msg), "size = 'M': %s", range);
	expect_error("[cache]\nsize = M\n", 2, msg);
	snprintf(msg, sizeof(msg), "size = '99999999999999999999G': %s", range);
	expect_error("[cache]\nsize = 99999999999999999999G\n", 2, msg);
}

static void test_out_of_range_numbers(void **state)
{
	expect_error("[server]\nworkers = 257\n", 2,
		     "workers = '257': expected a whole number from 0 to 256");
	expect_error("[server]\n\nmax_udp_size = 511\n", 3,
		     "max_udp_size = '511': expected a whole number from 512 to 4096");
	expect_error("[server]\nmax_udp_size = 4097\n", 2,
		     "max_udp_size = '4097': expected a whole number from 512 to 4096");
	expect_error("[server]\ntcp_idle_timeout = 99\n", 2,
		     "tcp_idle_timeout = '99': expected a whole number from 100 to 3600000");
	expect_error("[server]\ntcp_max_clients = 0\n", 2,
		     "tcp_max_clients = '0': expected a whole number from 1 to 100000");
	expect_error("[server]\ntcp_max_queries = 65536\n", 2,
		     "tcp_max_queries = '65536': expected a whole number from 1 to 65535");
	expect_error("[server]\nmax_inflight = 15\n", 2,
		     "max_inflight = '15': expected a whole number from 16 to 1000000");
	expect_error("[upstream]\ntimeout = 49\n", 2,
		     "timeout = '49': expected a whole number from 50 to 60000");
	expect_error("[upstream]\nfailover = 60001\n", 2,
		     "failover = '60001': expected a whole number from 10 to 60000");
	expect_error("[upstream]\nedns_buffer_size = 4097\n", 2,
		     "edns_buffer_size = '4097': expected a whole number from 512 to 4096");
	expect_error("[cache]\nmin_ttl = 86401\n", 2,
		     "min_ttl = '86401': expected a whole number from 0 to 86400");
	expect_error("[cache]\nmax_ttl = 2419201\n", 2,
		     "max_ttl = '2419201': expected a whole number from 0 to 2419200");
	expect_error("[cache]\nnegative_ttl = 86401\n", 2,
		     "negative_ttl = '86401': expected a whole number from 0 to 86400");
	expect_error("[cache]\nservfail_ttl = 301\n", 2,
		     "servfail_ttl = '301': expected a whole number from 0 to 300");
}

static void test_malformed_numbers(void **state)
{
	expect_error("[server]\nworkers = -1\n", 2,
		     "workers = '-1': expected a whole number from 0 to 256");
	expect_error("[server]\nworkers = 4K\n", 2, /* suffixes only for [cache] size */
		     "workers = '4K': expected a whole number from 0 to 256");
	expect_error("[server]\nworkers = 0x10\n", 2,
		     "workers = '0x10': expected a whole number from 0 to 256");
	expect_error("[server]\nworkers = four\n", 2,
		     "workers = 'four': expected a whole number from 0 to 256");
	expect_error("[server]\nworkers =\n", 2, "workers = '': expected a whole number from 0 to 256");
}

static void test_error_reports_first_error_line(void **state)
{
	expect_error("[server]\nworkers = 2\n; comment\nworkers = 300\nmax_udp_size = 1\n", 4,
		     "workers = '300': expected a whole number from 0 to 256");
}

static void test_syntax_error(void **state)
{
	expect_error("[server]\nworkers 4\n", 2, "syntax error (expected [section] or key = value)");
	expect_error("[server]\nworkers = 4\nnot ini\n", 3,
		     "syntax error (expected [section] or key = value)");
}

static void test_syntax_error_before_value_error_reports_syntax_error(void **state)
{
	/* The first error is the syntax error on line 2; its message must go with its line. */
	expect_error("[server]\nthis is not ini\nworkers = 300\n", 2,
		     "syntax error (expected [section] or key = value)");
	/* an unterminated section header, then a key that is therefore outside any section */
	expect_error("[server\nworkers = 4\n", 1, "syntax error (expected [section] or key = value)");
}

static void test_unknown_key_with_suggestion(void **state)
{
	expect_error("[server]\nlisen = 127.0.0.1:53\n", 2,
		     "unknown key 'lisen' in [server] (did you mean 'listen'?)");
	expect_error("[cache]\nmax_tll = 5\n", 2,
		     "unknown key 'max_tll' in [cache] (did you mean 'max_ttl'?)");
	expect_error("[upstream]\nservers = 1.1.1.1\n", 2,
		     "unknown key 'servers' in [upstream] (did you mean 'server'?)");
	/* a key of another section: written under the wrong header */
	expect_error("[upstream]\nlisten = 127.0.0.1:53\n", 2,
		     "unknown key 'listen' in [upstream] (did you mean 'listen' in [server]?)");
}

/* Every section takes the same suggestions: its own keys (case ignored), another section's, or
 * a section name written as a key. */
static void test_unknown_key_suggestion_everywhere(void **state)
{
	expect_error("[server]\nupstrem = 192.0.2.1\n", 2,
		     "unknown key 'upstrem' in [server] (did you mean a section [upstream]?)");
	expect_error("[redis]\nadress = 127.0.0.1\n", 2,
		     "unknown key 'adress' in [redis] (did you mean 'address'?)");
	expect_error("[stats]\nintervall = 100\n", 2,
		     "unknown key 'intervall' in [stats] (did you mean 'interval'?)");
	expect_error("[log]\nQuery_Log = -\n", 2, "unknown key 'Query_Log' in [log] (did you mean 'query_log'?)");
	expect_error("[geoip]\ndbb = x.mmdb\n", 2, "unknown key 'dbb' in [geoip] (did you mean 'db'?)");
	expect_error("[labels]\ngroup = x.conf\n", 2, "unknown key 'group' in [labels] (did you mean 'groups'?)");
	expect_error("[policy]\nblok = PRC\n", 2, "unknown key 'blok' in [policy] (did you mean 'block'?)");
	expect_error("[client 10.0.0.1]\nmdoe = block\n", 2,
		     "unknown key 'mdoe' in [client 10.0.0.1] (did you mean 'mode'?)");
	expect_error("[client 10.0.0.1]\nsinkhole_a = 0.0.0.0\n", 2,
		     "unknown key 'sinkhole_a' in [client 10.0.0.1] (did you mean 'sinkhole_a' in [policy]?)");
	expect_error("[client 10.0.0.1]\ncolour = red\n", 2,
		     "unknown key 'colour' in [client 10.0.0.1] (mode, name, block or action)");
}

/* [labels] groups = groups.conf (beside the configuration) with PRC and EU, then content. */
static struct conf *load_with_groups(const char *content, char *err, size_t errlen)
{
	char text[2048];

	write_file("groups.conf", "[jurisdiction PRC]\ncountries = CN HK MO\nasns = prc-asns.txt\n"
				  "[jurisdiction EU]\ncountries = DE FR\n");
	snprintf(text, sizeof(text), "[labels]\ngroups = groups.conf\n%s", content);
	return load(text, err, errlen);
}

static void expect_group_error(const char *content, int line, const char *msg)
{
	char err[512], want[1024];
	struct conf *c = load_with_groups(content, err, sizeof(err));

	if (c)
		conf_unref(c);
	assert_null(c);
	snprintf(want, sizeof(want), "%s:%d: %s", tmp_path("test.conf"), line, msg);
	assert_string_equal(err, want);
}

/* A mistyped group used to be accepted and to block nothing. Now it is an error on its line,
 * in [policy] and in [client X]; a group in another case is that group. */
static void test_block_groups_must_exist(void **state)
{
	char err[512];
	struct conf *c;

	/* line 3: after the two [labels] lines that load_with_groups puts first */
	expect_group_error("[policy]\nblock = China\n", 4, "unknown group 'China' in block (groups are: PRC, EU)");
	expect_group_error("[policy]\nblock = PRX\n", 4, "unknown group 'PRX' in block (did you mean 'PRC'?)");
	expect_group_error("[policy]\nblock = PRC\nblock = CN\n", 5,
			   "unknown group 'CN' in block ('CN' is a country; groups are: PRC, EU)");
	expect_group_error("[policy]\nblock = PRC:hostd\n", 4,
			   "unknown reason 'PRC:hostd' in block (did you mean 'PRC:hosted'?)");
	expect_group_error("[policy]\nblock = PRC:why\n", 4,
			   "unknown reason 'PRC:why' in block (hosted, operator, domain or any)");
	expect_group_error("[policy]\naction = sinkhol\n", 4,
			   "action = 'sinkhol': expected sinkhole, nxdomain, nodata, refuse, drop or strip "
			   "(did you mean 'sinkhole'?)");
	expect_group_error("[policy]\ndefault_mode = blok\n", 4,
			   "default_mode = 'blok': expected off, log or block (did you mean 'block'?)");
	expect_group_error("[client 10.0.0.1]\nmode = block\nblock = Chna\n", 5,
			   "unknown group 'Chna' in block (groups are: PRC, EU)");
	expect_group_error("[client 10.0.0.1]\nmode = block\nblock = prc:hosted eu:domain prx\n", 5,
			   "unknown group 'prx' in block (did you mean 'PRC'?)");
	expect_group_error("[client 10.0.0.1]\naction = nxdomian\n", 4,
			   "action = 'nxdomian': expected sinkhole, nxdomain, nodata, refuse, drop or strip "
			   "(did you mean 'nxdomain'?)");

	/* any case; stored as the groups file spells it, and merged with the same group */
	c = load_with_groups("[policy]\nblock = prc:hosted\nblock = Prc:operator eu\n"
			     "[client 10.0.0.1]\nblock = eU\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->policy.nblock, 2);
	assert_string_equal(c->policy.block[0].group, "PRC");
	assert_int_equal(c->policy.block[0].kinds, 3);
	assert_string_equal(c->policy.block[1].group, "EU");
	assert_int_equal(c->policy.nclients, 1);
	assert_string_equal(c->policy.clients[0].block[0].group, "EU");
	conf_unref(c);
}

/* The groups file is known wherever [labels] stands; without one, no group can be checked. */
static void test_block_groups_file(void **state)
{
	char err[512], want[1024], gpath[512];
	struct conf *c;

	write_file("groups.conf", "[jurisdiction PRC]\ncountries = CN\n");
	c = load("[policy]\nblock = prc\n[labels]\ngroups = groups.conf\n", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->policy.block[0].group, "PRC");
	conf_unref(c);

	write_file("bad-groups.conf", "[jurisdiction PRC\n");
	c = load("[labels]\ngroups = bad-groups.conf\n[policy]\nblock = PRC\n", err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:4: block: ", tmp_path("test.conf"));
	snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s:1: expected [jurisdiction NAME]",
		 tmp_path("bad-groups.conf"));
	assert_non_null(strstr(err, want));
	/* the groups file's own errors need no block list: they are the labels' to report */
	c = load("[labels]\ngroups = bad-groups.conf\n", err, sizeof(err));
	assert_non_null(c);
	conf_groups_path(c, gpath, sizeof(gpath));
	conf_unref(c);

	c = load("[server]\nworkers = 1\n", err, sizeof(err));
	assert_non_null(c);
	conf_groups_path(c, gpath, sizeof(gpath));
	conf_unref(c);
	if (!gpath[0]) /* no shipped groups file on this machine (the usual case in a build tree) */
		expect_error("[policy]\nblock = PRC\n", 2,
			     "block: no groups file to check the groups against (set groups in [labels])");
}

static void test_unknown_key_without_suggestion(void **state)
{
	expect_error("[server]\ncolour = blue\n", 2, "unknown key 'colour' in [server]");
}

static void test_unknown_section(void **state)
{
	/* the error names the header's line */
	expect_error("[srever]\nworkers = 4\n", 1, "unknown section [srever] (did you mean [server]?)");
	expect_error("[server]\nworkers = 2\n[cahce]\nsize = 1M\n", 3,
		     "unknown section [cahce] (did you mean [cache]?)");
	expect_error("[zzzzzzzzz]\na = 1\n", 1, "unknown section [zzzzzzzzz]");
}

static void test_unknown_empty_section(void **state)
{
	expect_error("[server]\nworkers = 2\n[redis_typo]\n", 3, "unknown section [redis_typo]");
}

static void test_overlong_line_is_an_error(void **state)
{
	char text[400];

	snprintf(text, sizeof(text), "[server]\n; %0300d\nworkers = 2\n", 0);
	expect_error(text, 2, "line longer than 198 characters");
}

static void test_key_outside_section(void **state)
{
	expect_error("workers = 4\n", 1, "key 'workers' outside a section (start with [server])");
}

static void test_bad_addresses(void **state)
{
	expect_error("[server]\nlisten = 1.2.3.4\n", 2, "listen = '1.2.3.4': missing ':PORT'");
	expect_error("[server]\nlisten = 1.2.3.300:53\n", 2,
		     "listen = '1.2.3.300': not a numeric IPv4 or IPv6 address");
	expect_error("[server]\nlisten = localhost:53\n", 2,
		     "listen = 'localhost': not a numeric IPv4 or IPv6 address");
	expect_error("[upstream]\nserver = dns.google\n", 2,
		     "server = 'dns.google': not a numeric IPv4 or IPv6 address");
	expect_error("[upstream]\nserver = 1.1.1.1:70000\n", 2,
		     "server = '70000': port must be 1-65535");
	expect_error("[upstream]\nserver = [::1\n", 2,
		     "server = '[::1': missing ']' after IPv6 address");
	expect_error("[server]\nallow = 10.0.0.1/8\n", 2, "allow = '10.0.0.1/8': host bits set after /8");
	expect_error("[server]\ndeny = 10.0.0.0/33\n", 2,
		     "deny = '10.0.0.0/33': prefix length must be 0-32");
	expect_error("[server]\nallow = example.com\n", 2,
		     "allow = 'example.com': not an IPv4 or IPv6 address");
}

static void test_too_many_listen_and_upstreams(void **state)
{
	char buf[4096];
	size_t o;

	o = (size_t)snprintf(buf, sizeof(buf), "[server]\n");
	for (int i = 0; i < CONF_MAX_LISTEN + 1; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "listen = 127.0.0.1:%d\n", 1000 + i);
	expect_error(buf, CONF_MAX_LISTEN + 2, "too many listen addresses (at most 32)");

	o = (size_t)snprintf(buf, sizeof(buf), "[upstream]\n");
	for (int i = 0; i < CONF_MAX_UPSTREAM + 1; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "server = 192.0.2.%d\n", i + 1);
	expect_error(buf, CONF_MAX_UPSTREAM + 2, "too many upstream servers (at most 16)");
}

static void test_exactly_max_listen_is_accepted(void **state)
{
	char buf[4096], err[256];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "[server]\n");

	for (int i = 0; i < CONF_MAX_LISTEN; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "listen = 127.0.0.1:%d\n", 1000 + i);
	struct conf *c = load(buf, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->nlisten, CONF_MAX_LISTEN);
	addr_eq(&c->listen[31], "127.0.0.1:1031");
	conf_unref(c);
}

static void test_min_ttl_above_max_ttl(void **state)
{
	char err[512], want[600];
	const char *path = write_file("ttl.conf", "[cache]\nmin_ttl = 100\nmax_ttl = 50\n");
	struct conf *c = conf_load(path, NULL, resolv1(), err, sizeof(err));

	assert_null(c);
	snprintf(want, sizeof(want), "%s:%d: [cache] min_ttl (100) is larger than max_ttl (50)", path, 3);
	assert_string_equal(err, want);

	/* equal is fine */
	path = write_file("ttl.conf", "[cache]\nmin_ttl = 50\nmax_ttl = 50\n");
	c = conf_load(path, NULL, resolv1(), err, sizeof(err));
	assert_non_null(c);
	conf_unref(c);
}

static void test_missing_file(void **state)
{
	char err[512], want[600];
	const char *path = tmp_path("does-not-exist.conf");
	struct conf *c = conf_load(path, NULL, resolv1(), err, sizeof(err));

	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
}

static void test_overrides_replace_file_values(void **state)
{
	char err[256];
	struct conf_overrides ov;
	const char *path = write_file("ov.conf", "[server]\nlisten = 127.0.0.1:53\nlisten = 127.0.0.2:53\n"
						 "workers = 4\n[upstream]\nserver = 9.9.9.9\n");

	memset(&ov, 0, sizeof(ov));
	ov.workers = -1;
	struct conf *c = conf_load(path, &ov, resolv1(), err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->nlisten, 2);
	conf_unref(c);

	ov.listen[0] = sa("[::1]:5300");
	ov.nlisten = 1;
	ov.upstream[0] = sa("192.0.2.1:5353");
	ov.upstream[1] = sa("192.0.2.2");
	ov.nupstream = 2;
	ov.workers = 7;
	c = conf_load(path, &ov, resolv1(), err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->nlisten, 1);
	addr_eq(&c->listen[0], "[::1]:5300");
	assert_int_equal(c->nupstream, 2);
	addr_eq(&c->upstream[0], "192.0.2.1:5353");
	addr_eq(&c->upstream[1], "192.0.2.2:53");
	assert_int_equal(c->workers, 7);
	assert_false(c->upstream_from_resolv);
	conf_unref(c);

	/* workers = 0 from the command line is a real value */
	ov.workers = 0;
	c = conf_load(path, &ov, resolv1(), err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->workers, 0);
	conf_unref(c);
}

static void test_overrides_without_file_skip_resolv(void **state)
{
	char err[256];
	struct conf_overrides ov;

	memset(&ov, 0, sizeof(ov));
	ov.workers = -1;
	ov.upstream[0] = sa("192.0.2.9");
	ov.nupstream = 1;
	struct conf *c = conf_load(NULL, &ov, tmp_path("no-resolv.conf"), err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->nupstream, 1);
	assert_false(c->upstream_from_resolv);
	addr_eq(&c->listen[0], "127.0.0.1:5335");
	conf_unref(c);
}

static void test_resolv_conf_fallback(void **state)
{
	char err[256];
	const char *rc = write_file("resolv.conf",
				    "# generated\n"
				    "search example.com\n"
				    "nameserver 192.0.2.1\n"
				    "nameserver\t2001:db8::53\n"
				    "nameserver fe80::1%eth0\n"
				    "; nameserver 192.0.2.99\n"
				    "nameserver\n"
				    "nameserver not-an-address\n"
				    "options ndots:2\n"
				    "  nameserver 192.0.2.3  \n");
	const char *path = write_file("noup.conf", "[server]\nworkers = 1\n");
	struct conf *c = conf_load(path, NULL, rc, err, sizeof(err));

	assert_non_null(c);
	assert_true(c->upstream_from_resolv);
	assert_int_equal(c->nupstream, 3);
	addr_eq(&c->upstream[0], "192.0.2.1:53");
	addr_eq(&c->upstream[1], "[2001:db8::53]:53");
	addr_eq(&c->upstream[2], "192.0.2.3:53");
	conf_unref(c);
}

static void test_no_upstream_and_no_resolv_is_error(void **state)
{
	char err[512], want[1024];
	const char *rc = tmp_path("missing-resolv.conf");
	struct conf *c = conf_load(NULL, NULL, rc, err, sizeof(err));

	assert_null(c);
	snprintf(want, sizeof(want), "config: no [upstream] server given and no usable nameserver in %s",
		 rc);
	assert_string_equal(err, want);

	const char *empty = write_file("empty-resolv.conf", "search example.com\nnameserver fe80::1%lo\n");
	const char *path = write_file("noup2.conf", "[cache]\nsize = 1M\n");
	c = conf_load(path, NULL, empty, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: no [upstream] server given and no usable nameserver in %s",
		 path, empty);
	assert_string_equal(err, want);
}

static void test_read_resolv_directly(void **state)
{
	char buf[2048], err[256];
	size_t o = 0;
	struct conf *c = conf_load(NULL, NULL, resolv1(), err, sizeof(err));

	assert_non_null(c);
	for (int i = 0; i < 20; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "nameserver 198.51.100.%d\n", i + 1);
	assert_int_equal(conf_read_resolv(c, write_file("many-resolv.conf", buf)), CONF_MAX_UPSTREAM);
	assert_int_equal(c->nupstream, CONF_MAX_UPSTREAM);
	addr_eq(&c->upstream[15], "198.51.100.16:53");
	assert_int_equal(conf_read_resolv(c, tmp_path("nope")), 0);
	assert_int_equal(c->nupstream, 0);
	conf_unref(c);
}

static void test_ref_unref(void **state)
{
	char err[256];
	struct conf *c = conf_load(NULL, NULL, resolv1(), err, sizeof(err));

	assert_non_null(c);
	assert_ptr_equal(conf_ref(c), c);
	assert_int_equal(atomic_load(&c->refs), 2);
	conf_unref(c);
	assert_int_equal(atomic_load(&c->refs), 1);
	conf_unref(c);
	conf_unref(NULL);
}

/* ---------------------------------------------------------------- addr_parse / addr_str */

static void test_addr_parse_ipv4_with_port(void **state)
{
	struct addr a;
	char err[128];

	assert_int_equal(addr_parse("192.0.2.1:5353", 0, &a, err, sizeof(err)), 0);
	assert_int_equal(a.u.sa.sa_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(a.u.sin.sin_port), 5353);
	assert_int_equal(ntohl(a.u.sin.sin_addr.s_addr), 0xc0000201);
}

static void test_addr_parse_bracketed_v6_with_port(void **state)
{
	struct addr a;
	char err[128];
	const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

	assert_int_equal(addr_parse("[2001:db8::1]:853", 0, &a, err, sizeof(err)), 0);
	assert_int_equal(a.u.sa.sa_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(a.u.sin6.sin6_port), 853);
	assert_memory_equal(&a.u.sin6.sin6_addr, want, 16);
	addr_eq(&a, "[2001:db8::1]:853");
}

static void test_addr_parse_default_port(void **state)
{
	struct addr a;
	char err[128];

	assert_int_equal(addr_parse("2001:db8::1", 53, &a, err, sizeof(err)), 0);
	addr_eq(&a, "[2001:db8::1]:53");
	assert_int_equal(addr_parse("[2001:db8::1]", 53, &a, err, sizeof(err)), 0);
	addr_eq(&a, "[2001:db8::1]:53");
	assert_int_equal(addr_parse("192.0.2.1", 53, &a, err, sizeof(err)), 0);
	addr_eq(&a, "192.0.2.1:53");
	/* an explicit port wins */
	assert_int_equal(addr_parse("192.0.2.1:54", 53, &a, err, sizeof(err)), 0);
	addr_eq(&a, "192.0.2.1:54");
}

static void test_addr_parse_errors(void **state)
{
	struct addr a;
	char err[128];

	assert_int_equal(addr_parse("192.0.2.1", 0, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'192.0.2.1': missing ':PORT'");
	assert_int_equal(addr_parse("2001:db8::1", 0, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'2001:db8::1': missing ':PORT'");
	assert_int_equal(addr_parse("[2001:db8::1", 53, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'[2001:db8::1': missing ']' after IPv6 address");
	assert_int_equal(addr_parse("[2001:db8::1]53", 53, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'[2001:db8::1]53': expected ':PORT' after ']'");
	assert_int_equal(addr_parse("192.0.2.1:0", 53, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'0': port must be 1-65535");
	assert_int_equal(addr_parse("192.0.2.1:65536", 53, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'65536': port must be 1-65535");
	assert_int_equal(addr_parse("192.0.2.1:", 53, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'': port must be 1-65535");
	assert_int_equal(addr_parse("192.0.2.1:http", 53, &a, err, sizeof(err)), -1);
	assert_int_equal(addr_parse("[]:53", 53, &a, err, sizeof(err)), -1);
	assert_int_equal(addr_parse(":53", 53, &a, err, sizeof(err)), -1);
	assert_int_equal(addr_parse("", 53, &a, err, sizeof(err)), -1);
	assert_int_equal(addr_parse("example.com:53", 53, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'example.com': not a numeric IPv4 or IPv6 address");
	assert_int_equal(addr_parse("[192.0.2.1]:53", 53, &a, err, sizeof(err)), 0); /* v4 in brackets */
	assert_int_equal(addr_parse("1.2.3.4.5:53", 53, &a, err, sizeof(err)), -1);
	/* a long bracketed string does not overflow */
	assert_int_equal(addr_parse("[1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa]:53", 53, &a,
				    err, sizeof(err)), -1);
}

static void test_addr_equal(void **state)
{
	struct addr a = sa("192.0.2.1:53"), b = sa("192.0.2.1:53"), c = sa("192.0.2.1:54"),
		    d = sa("[::1]:53"), e = sa("[::1]:53");

	assert_true(addr_equal(&a.u.sa, &b.u.sa));
	assert_false(addr_equal(&a.u.sa, &c.u.sa));
	assert_false(addr_equal(&a.u.sa, &d.u.sa));
	assert_true(addr_equal(&d.u.sa, &e.u.sa));
}

/* ---------------------------------------------------------------- cidr_parse */

static void test_cidr_parse_ipv4_prefix(void **state)
{
	struct cidr c;
	char err[128];
	const uint8_t want[16] = { [10] = 0xff, [11] = 0xff, [12] = 10 };

	assert_int_equal(cidr_parse("10.0.0.0/8", &c, err, sizeof(err)), 0);
	assert_int_equal(c.bits, 96 + 8);
	assert_memory_equal(c.net, want, 16);
	assert_int_equal(cidr_parse("0.0.0.0/0", &c, err, sizeof(err)), 0);
	assert_int_equal(c.bits, 96);
}

static void test_cidr_parse_ipv6_prefix_and_bare(void **state)
{
	struct cidr c;
	char err[128];

	assert_int_equal(cidr_parse("fe80::/10", &c, err, sizeof(err)), 0);
	assert_int_equal(c.bits, 10);
	assert_int_equal(c.net[0], 0xfe);
	assert_int_equal(c.net[1], 0x80);
	assert_int_equal(cidr_parse("::1", &c, err, sizeof(err)), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(cidr_parse("192.0.2.7", &c, err, sizeof(err)), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(cidr_parse("::/0", &c, err, sizeof(err)), 0);
	assert_int_equal(c.bits, 0);
}

static void test_cidr_parse_host_bits_error(void **state)
{
	struct cidr c;
	char err[128];

	assert_int_equal(cidr_parse("10.0.0.1/8", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "'10.0.0.1/8': host bits set after /8");
	assert_int_equal(cidr_parse("fe80::1/10", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "'fe80::1/10': host bits set after /10");
	assert_int_equal(cidr_parse("192.168.1.0/23", &c, err, sizeof(err)), -1);
	assert_int_equal(cidr_parse("192.168.2.0/23", &c, err, sizeof(err)), 0);
}

static void test_cidr_parse_errors(void **state)
{
	struct cidr c;
	char err[128];

	assert_int_equal(cidr_parse("10.0.0.0/33", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "'10.0.0.0/33': prefix length must be 0-32");
	assert_int_equal(cidr_parse("::/129", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "'::/129': prefix length must be 0-128");
	assert_int_equal(cidr_parse("10.0.0.0/", &c, err, sizeof(err)), -1);
	assert_int_equal(cidr_parse("10.0.0.0/8x", &c, err, sizeof(err)), -1);
	assert_int_equal(cidr_parse("10.0.0.0/-1", &c, err, sizeof(err)), -1);
	assert_int_equal(cidr_parse("/8", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "'/8': not a CIDR prefix");
	assert_int_equal(cidr_parse("banana/8", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "'banana': not an IPv4 or IPv6 address");
	assert_int_equal(cidr_parse("", &c, err, sizeof(err)), -1);
}

/* ---------------------------------------------------------------- acl_permits */

static void test_default_acl_allows_local_networks(void **state)
{
	struct acl acl = { 0 };
	static const char *const ok[] = {
		"127.0.0.1", "10.1.2.3", "192.168.1.1", "172.16.0.1", "172.31.255.255", "100.64.0.1",
		"169.254.1.1", "::1", "fd00::1", "fc00::1", "fe80::1", "::ffff:10.1.2.3",
	};

	assert_int_equal(acl_set_default(&acl), 0);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!permits(&acl, ok[i]))
			fail_msg("%s should be allowed by the default ACL", ok[i]);
	}
	acl_free(&acl);
}

static void test_default_acl_refuses_public_addresses(void **state)
{
	struct acl acl = { 0 };
	static const char *const no[] = {
		"8.8.8.8", "2001:db8::1", "172.32.0.1", "172.15.255.255", "100.128.0.1", "11.0.0.1",
		"192.169.0.1", "::2", "fec0::1", "::ffff:8.8.8.8", "0.0.0.0", "::",
	};

	assert_int_equal(acl_set_default(&acl), 0);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (permits(&acl, no[i]))
			fail_msg("%s should be refused by the default ACL", no[i]);
	}
	acl_free(&acl);
	assert_null(acl.allow);
	assert_int_equal(acl.nallow, 0);
}

static void test_deny_wins_over_allow(void **state)
{
	struct acl acl = { 0 };
	struct cidr c;
	char err[128];

	assert_int_equal(cidr_parse("10.0.0.0/8", &c, err, sizeof(err)), 0);
	assert_int_equal(acl_add(&acl, false, &c), 0);
	assert_int_equal(cidr_parse("10.1.0.0/16", &c, err, sizeof(err)), 0);
	assert_int_equal(acl_add(&acl, true, &c), 0);
	assert_true(permits(&acl, "10.2.3.4"));
	assert_false(permits(&acl, "10.1.2.3"));
	/* deny of the exact allowed prefix */
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, err, sizeof(err)), 0);
	assert_int_equal(acl_add(&acl, true, &c), 0);
	assert_false(permits(&acl, "10.2.3.4"));
	acl_free(&acl);
}

static void test_empty_acl_refuses_all(void **state)
{
	struct acl acl = { 0 };

	assert_false(permits(&acl, "127.0.0.1"));
	assert_false(permits(&acl, "::1"));
}

static void test_ipv4_prefix_does_not_match_ipv6_and_back(void **state)
{
	struct acl acl = { 0 };
	struct cidr c;
	char err[128];

	assert_int_equal(cidr_parse("0.0.0.0/0", &c, err, sizeof(err)), 0);
	assert_int_equal(acl_add(&acl, false, &c), 0);
	assert_true(permits(&acl, "8.8.8.8"));
	assert_false(permits(&acl, "2001:db8::1"));
	acl_free(&acl);
	assert_int_equal(cidr_parse("::/0", &c, err, sizeof(err)), 0);
	assert_int_equal(acl_add(&acl, false, &c), 0);
	assert_true(permits(&acl, "2001:db8::1"));
	assert_true(permits(&acl, "8.8.8.8")); /* everything, IPv4 (mapped) included */
	acl_free(&acl);
}

static void test_cidr_match_partial_byte(void **state)
{
	struct acl acl = { 0 };
	struct cidr c;
	char err[128];

	assert_int_equal(cidr_parse("192.0.2.64/27", &c, err, sizeof(err)), 0);
	assert_int_equal(acl_add(&acl, false, &c), 0);
	assert_false(permits(&acl, "192.0.2.63"));
	assert_true(permits(&acl, "192.0.2.64"));
	assert_true(permits(&acl, "192.0.2.95"));
	assert_false(permits(&acl, "192.0.2.96"));
	acl_free(&acl);
}

/* ---------------------------------------------------------------- [forward DOMAIN], private zones */

static void test_forward_sections(void **state)
{
	char err[256];
	uint8_t name[256];
	size_t off = 99;
	struct conf *c = load("[upstream]\nserver = 9.9.9.9\n"
			      "[forward lan]\nserver = 192.168.1.1\nserver = 192.168.1.2:5353\n"
			      "[forward 168.192.in-addr.arpa.]\nserver = 192.168.1.1\n"
			      "[forward  Home.Arpa ]\nserver = [fd00::1]\n",
			      err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(c->nforward, 3);
	assert_string_equal(c->forward[0].name, "lan");
	assert_int_equal(c->forward[0].nserver, 2);
	addr_eq(&c->forward[0].server[0], "192.168.1.1:53");
	addr_eq(&c->forward[0].server[1], "192.168.1.2:5353");
	assert_int_equal(c->forward[0].line, 3);
	addr_eq(&c->forward[2].server[0], "[fd00::1]:53");
	assert_true(c->protect_private_zones);
	int n = domain_to_wire("printer.LAN", name);
	assert_int_equal(fwdzones_forward(c->fwd, name, (size_t)n, &off), 0);
	assert_int_equal(off, 8);
	n = domain_to_wire("home.arpa", name);
	assert_int_equal(fwdzones_forward(c->fwd, name, (size_t)n, &off), 2);
	assert_int_equal(off, 0);
	n = domain_to_wire("plan", name);
	assert_int_equal(fwdzones_forward(c->fwd, name, (size_t)n, NULL), -1);
	conf_unref(c);
}

static void test_forward_errors(void **state)
{
	char err[512];
	struct conf *c;

	expect_error("[forward bad..name]\nserver = 192.168.1.1\n", 1,
		     "[forward bad..name]: 'bad..name' is not a domain name (letters, digits, '-' and '_' between dots)");
	expect_error("[upstream]\nserver = 9.9.9.9\n[forward]\nserver = 192.168.1.1\n", 3,
		     "[forward]: expected [forward DOMAIN], such as [forward lan]");
	expect_error("[forward .]\nserver = 192.168.1.1\n", 1,
		     "[forward .]: '.' is not a domain name (letters, digits, '-' and '_' between dots)");
	expect_error("[forward lan]\nserver = 192.168.1.1\n[forward LAN.]\nserver = 192.168.1.1\n", 3,
		     "[forward LAN.]: the zone already has a section on line 1");
	/* no server: the error names the section's header, also when it is the last one */
	expect_error("[forward lan]\n; nothing\n[upstream]\nserver = 9.9.9.9\n", 1,
		     "[forward lan]: no server given (add server = IP[:PORT])");
	expect_error("[upstream]\nserver = 9.9.9.9\n[forward lan]\n", 3,
		     "[forward lan]: no server given (add server = IP[:PORT])");
	expect_error("[forward lan]\nsever = 192.168.1.1\n", 2,
		     "unknown key 'sever' in [forward lan] (did you mean 'server'?)");
	expect_error("[forward lan]\nserver = 192.168.1.1\nzzzzzz = 1\n", 3,
		     "unknown key 'zzzzzz' in [forward lan] (only server)");
	c = load("[upstream]\nserver = 9.9.9.9\n[forward lan]\nserver = router.lan\n", err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "test.conf:4: server = "));

	/* at most CONF_MAX_FORWARD_SERVERS servers in a section */
	char text[8192];
	size_t o = (size_t)snprintf(text, sizeof(text), "[forward lan]\n");
	for (int i = 0; i <= CONF_MAX_FORWARD_SERVERS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "server = 192.168.1.%d\n", i + 1);
	snprintf(err, sizeof(err), "too many servers in [forward lan] (at most %d)", CONF_MAX_FORWARD_SERVERS);
	expect_error(text, CONF_MAX_FORWARD_SERVERS + 2, err);

	/* at most CONF_MAX_FORWARD sections; the same server in all of them is one address */
	o = 0;
	for (int i = 0; i <= CONF_MAX_FORWARD; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "[forward z%d.lan]\nserver = 192.168.1.1\n", i);
	snprintf(err, sizeof(err), "too many [forward] sections (at most %d)", CONF_MAX_FORWARD);
	expect_error(text, 2 * CONF_MAX_FORWARD + 1, err);

	/* at most CONF_MAX_FORWARD_ADDRS different addresses over all sections */
	o = 0;
	for (int i = 0; i <= CONF_MAX_FORWARD_ADDRS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "[forward z%d.lan]\nserver = 192.168.1.%d\n"
				      "server = 192.168.1.1\n", i, i + 1);
	snprintf(err, sizeof(err), "too many different [forward] server addresses (at most %d)",
		 CONF_MAX_FORWARD_ADDRS);
	expect_error(text, 3 * CONF_MAX_FORWARD_ADDRS + 2, err);
}

static void test_private_upstreams(void **state)
{
	char err[256];
	struct conf *c = load("[upstream]\nserver = 9.9.9.9\n", err, sizeof(err));

	/* auto: the private, loopback, link-local, ULA and CGNAT ranges */
	assert_non_null(c);
	assert_true(permits(&c->private_upstreams, "192.168.1.1"));
	assert_true(permits(&c->private_upstreams, "127.0.0.1"));
	assert_true(permits(&c->private_upstreams, "100.100.100.100"));
	assert_true(permits(&c->private_upstreams, "fd00::53"));
	assert_false(permits(&c->private_upstreams, "9.9.9.9"));
	assert_false(permits(&c->private_upstreams, "2620:fe::fe"));
	conf_unref(c);

	c = load("[upstream]\nserver = 9.9.9.9\nprivate_upstreams = none\nprotect_private_zones = no\n",
		 err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->private_upstreams.nallow, 0);
	assert_false(c->protect_private_zones);
	conf_unref(c);

	c = load("[upstream]\nserver = 9.9.9.9\nprivate_upstreams = 10.8.0.1\nprivate_upstreams = ::1\n",
		 err, sizeof(err));
	assert_non_null(c);
	assert_true(permits(&c->private_upstreams, "10.8.0.1"));
	assert_true(permits(&c->private_upstreams, "::1"));
	assert_false(permits(&c->private_upstreams, "192.168.1.1"));
	conf_unref(c);

	c = load("[upstream]\nprivate_upstreams = auto\nprivate_upstreams = 203.0.113.0/24\nserver = 9.9.9.9\n",
		 err, sizeof(err));
	assert_non_null(c);
	assert_true(permits(&c->private_upstreams, "192.168.1.1"));
	assert_true(permits(&c->private_upstreams, "203.0.113.53"));
	conf_unref(c);

	expect_error("[upstream]\nprivate_upstreams = none\nprivate_upstreams = 10.0.0.1\n", 3,
		     "private_upstreams = 10.0.0.1: cannot be combined with none");
	expect_error("[upstream]\nprivate_upstreams = 10.0.0.1\nprivate_upstreams = none\n", 3,
		     "private_upstreams = none: cannot be combined with other values");
	expect_error("[upstream]\nprivate_upstreams = router\n", 2,
		     "private_upstreams = 'router': not an IPv4 or IPv6 address (expected auto, none, an address or a CIDR)");
	expect_error("[upstream]\nprotect_private_zones = maybe\n", 2,
		     "protect_private_zones = 'maybe': expected one of no, yes");
	expect_error("[upstream]\nprivate_upstream = none\n", 2,
		     "unknown key 'private_upstream' in [upstream] (did you mean 'private_upstreams'?)");

	/* 0x20: off unless asked for */
	c = load("[upstream]\nserver = 9.9.9.9\n", err, sizeof(err));
	assert_non_null(c);
	assert_false(c->case_randomization);
	conf_unref(c);
	c = load("[upstream]\nserver = 9.9.9.9\ncase_randomization = yes\n", err, sizeof(err));
	assert_non_null(c);
	assert_true(c->case_randomization);
	conf_unref(c);
	expect_error("[upstream]\ncase_randomization = on\n", 2,
		     "case_randomization = 'on': expected one of no, yes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_without_file),
		cmocka_unit_test(test_empty_file_gives_defaults),
		cmocka_unit_test(test_every_key_is_read),
		cmocka_unit_test(test_deny_alone_keeps_default_allow),
		cmocka_unit_test(test_cache_size_suffixes),
		cmocka_unit_test(test_cache_size_errors),
		cmocka_unit_test(test_out_of_range_numbers),
		cmocka_unit_test(test_malformed_numbers),
		cmocka_unit_test(test_error_reports_first_error_line),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_syntax_error_before_value_error_reports_syntax_error),
		cmocka_unit_test(test_unknown_key_with_suggestion),
		cmocka_unit_test(test_unknown_key_without_suggestion),
		cmocka_unit_test(test_unknown_key_suggestion_everywhere),
		cmocka_unit_test(test_block_groups_must_exist),
		cmocka_unit_test(test_block_groups_file),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_unknown_empty_section),
		cmocka_unit_test(test_overlong_line_is_an_error),
		cmocka_unit_test(test_key_outside_section),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_too_many_listen_and_upstreams),
		cmocka_unit_test(test_exactly_max_listen_is_accepted),
		cmocka_unit_test(test_min_ttl_above_max_ttl),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_overrides_replace_file_values),
		cmocka_unit_test(test_overrides_without_file_skip_resolv),
		cmocka_unit_test(test_resolv_conf_fallback),
		cmocka_unit_test(test_no_upstream_and_no_resolv_is_error),
		cmocka_unit_test(test_read_resolv_directly),
		cmocka_unit_test(test_ref_unref),
		cmocka_unit_test(test_addr_parse_ipv4_with_port),
		cmocka_unit_test(test_addr_parse_bracketed_v6_with_port),
		cmocka_unit_test(test_addr_parse_default_port),
		cmocka_unit_test(test_addr_parse_errors),
		cmocka_unit_test(test_addr_equal),
		cmocka_unit_test(test_cidr_parse_ipv4_prefix),
		cmocka_unit_test(test_cidr_parse_ipv6_prefix_and_bare),
		cmocka_unit_test(test_cidr_parse_host_bits_error),
		cmocka_unit_test(test_cidr_parse_errors),
		cmocka_unit_test(test_default_acl_allows_local_networks),
		cmocka_unit_test(test_default_acl_refuses_public_addresses),
		cmocka_unit_test(test_deny_wins_over_allow),
		cmocka_unit_test(test_empty_acl_refuses_all),
		cmocka_unit_test(test_ipv4_prefix_does_not_match_ipv6_and_back),
		cmocka_unit_test(test_cidr_match_partial_byte),
		cmocka_unit_test(test_forward_sections),
		cmocka_unit_test(test_forward_errors),
		cmocka_unit_test(test_private_upstreams),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
