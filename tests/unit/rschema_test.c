/* rschema_test.c - unit tests for src/rschema.h: the key builders give the names of
 * docs/redis-schema.md, the Lua scripts are embedded byte for byte as src/lua/NAME.lua, and the
 * scripts build their keys from the same names as the C side. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rschema.h"

#ifndef RSCHEMA_LUA_DIR
#define RSCHEMA_LUA_DIR "src/lua"
#endif

static void test_bases_and_channel_follow_the_prefix(void **state)
{
	char b[64];

	assert_int_equal(rschema_policy_base(b, sizeof(b), "jurisdns:"), 0);
	assert_string_equal(b, "jurisdns:{policy}:");
	assert_int_equal(rschema_stats_base(b, sizeof(b), "jurisdns:"), 0);
	assert_string_equal(b, "jurisdns:{stats}:");
	assert_int_equal(rschema_channel(b, sizeof(b), "jurisdns:"), 0);
	assert_string_equal(b, "jurisdns:policy:changed");
	assert_int_equal(rschema_policy_base(b, sizeof(b), "home/"), 0);
	assert_string_equal(b, "home/{policy}:");
	assert_int_equal(rschema_channel(b, sizeof(b), ""), 0);
	assert_string_equal(b, "policy:changed");
}

/* key(name, id, sub) under base, as a string */
static const char *key(const char *base, const char *name, const char *id, const char *sub)
{
	static char k[256];

	assert_int_equal(rschema_key(k, sizeof(k), base, name, id, sub), 0);
	return k;
}

static void test_policy_keys_are_the_documented_ones(void **state)
{
	char p[64];

	assert_int_equal(rschema_policy_base(p, sizeof(p), "jurisdns:"), 0);
	assert_string_equal(key(p, RSCHEMA_POLICY_VERSION, NULL, NULL), "jurisdns:{policy}:version");
	assert_string_equal(key(p, RSCHEMA_POLICY_DEFAULT, NULL, NULL), "jurisdns:{policy}:default");
	assert_string_equal(key(p, RSCHEMA_POLICY_CLIENTS, NULL, NULL), "jurisdns:{policy}:clients");
	assert_string_equal(key(p, RSCHEMA_POLICY_CLIENT, "192.168.1.23", NULL),
			    "jurisdns:{policy}:client:192.168.1.23");
	assert_string_equal(key(p, RSCHEMA_POLICY_CLIENT, "2001:db8::7", NULL),
			    "jurisdns:{policy}:client:2001:db8::7");
	assert_string_equal(key(p, RSCHEMA_POLICY_ALLOW, NULL, NULL), "jurisdns:{policy}:allow");
	assert_string_equal(key(p, RSCHEMA_POLICY_DENY, NULL, NULL), "jurisdns:{policy}:deny");
	assert_string_equal(key(p, RSCHEMA_POLICY_LEASES, NULL, NULL), "jurisdns:{policy}:leases");
	assert_string_equal(key(p, RSCHEMA_POLICY_LEASE, "192.168.1.50", NULL),
			    "jurisdns:{policy}:lease:192.168.1.50");
	assert_string_equal(RSCHEMA_MSG_RELOAD, "reload");
	assert_string_equal(RSCHEMA_MSG_LEASES, "leases");
	assert_string_equal(RSCHEMA_LEASE_HOSTNAME, "hostname");
	/* the literals join format strings, as the ctl uses them */
	snprintf(p, sizeof(p), "SADD %s" RSCHEMA_POLICY_CLIENTS " %s", "P{policy}:", "10.0.0.1");
	assert_string_equal(p, "SADD P{policy}:clients 10.0.0.1");
}

static void test_stats_keys_are_the_documented_ones(void **state)
{
	char s[64];

	assert_int_equal(rschema_stats_base(s, sizeof(s), "jurisdns:"), 0);
	assert_string_equal(key(s, RSCHEMA_STATS_TOTAL, NULL, NULL), "jurisdns:{stats}:total");
	assert_string_equal(key(s, RSCHEMA_STATS_TOTAL, NULL, "2026112312"),
			    "jurisdns:{stats}:total:2026112312");
	assert_string_equal(key(s, RSCHEMA_STATS_CLIENTS, NULL, NULL), "jurisdns:{stats}:clients");
	assert_string_equal(key(s, RSCHEMA_STATS_CLIENT, "192.168.1.23", NULL),
			    "jurisdns:{stats}:client:192.168.1.23");
	assert_string_equal(key(s, RSCHEMA_STATS_CLIENT, "192.168.1.23", "2026112312"),
			    "jurisdns:{stats}:client:192.168.1.23:2026112312");
	assert_string_equal(key(s, RSCHEMA_STATS_TOP, "192.168.1.23", "PRC"),
			    "jurisdns:{stats}:top:192.168.1.23:PRC");
	assert_string_equal(key(s, RSCHEMA_STATS_SEEN, "aa:bb:cc:dd:ee:ff", "PRC"),
			    "jurisdns:{stats}:seen:aa:bb:cc:dd:ee:ff:PRC");
	assert_string_equal(key(s, RSCHEMA_STATS_EVENTS, NULL, NULL), "jurisdns:{stats}:events");
	assert_string_equal(key(s, RSCHEMA_STATS_RECENT, NULL, NULL), "jurisdns:{stats}:recent");
	assert_string_equal(key(s, RSCHEMA_STATS_APPLIED, NULL, NULL), "jurisdns:{stats}:applied");
	assert_string_equal(key(s, RSCHEMA_STATS_INSTANCE, "router", NULL),
			    "jurisdns:{stats}:instance:router");
	assert_string_equal(RSCHEMA_HOUR_FORMAT, "%Y%m%d%H");
}

static void test_a_name_that_does_not_fit_is_refused_whole(void **state)
{
	char b[12];

	assert_int_equal(rschema_policy_base(b, sizeof(b), "jurisdns:"), -1);
	assert_string_equal(b, "");
	assert_int_equal(rschema_stats_base(b, sizeof(b), "jurisdns:"), -1);
	assert_string_equal(b, "");
	assert_int_equal(rschema_channel(b, sizeof(b), "jurisdns:"), -1);
	assert_string_equal(b, "");
	assert_int_equal(rschema_key(b, sizeof(b), "P{stats}:", RSCHEMA_STATS_TOP, "10.0.0.1", "PRC"), -1);
	assert_string_equal(b, "");
	assert_int_equal(rschema_key(b, 11, "P{stats}:", "a", NULL, NULL), 0); /* exactly fits */
	assert_string_equal(b, "P{stats}:a");
}

static void test_the_heartbeat_pattern_escapes_the_prefix(void **state)
{
	char b[64];

	assert_int_equal(rschema_instance_pattern(b, sizeof(b), "jurisdns:{stats}:"), 0);
	assert_string_equal(b, "jurisdns:{stats}:instance:*");
	assert_int_equal(rschema_instance_pattern(b, sizeof(b), "a*b?[c]\\{stats}:"), 0);
	assert_string_equal(b, "a\\*b\\?\\[c\\]\\\\{stats}:instance:*");
	assert_int_equal(rschema_instance_pattern(b, 20, "jurisdns:{stats}:"), -1);
	assert_string_equal(b, "");
}

/* The file src/lua/NAME.lua, NUL-terminated; *len its size. */
static char *read_lua(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s.lua", RSCHEMA_LUA_DIR, name);
	if (!(f = fopen(path, "rb")))
		fail_msg("%s: cannot open", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void assert_embedded(const char *name, const char *script, size_t script_len)
{
	size_t len;
	char *want = read_lua(name, &len);

	assert_true(script_len > 0);
	assert_int_equal(script_len, len);
	assert_int_equal(strlen(script), len); /* the NUL is there, and nothing stops it early */
	assert_memory_equal(script, want, len);
	free(want);
}

static void test_scripts_are_the_lua_files_byte_for_byte(void **state)
{
	assert_embedded("policy_read", rschema_lua_policy_read, rschema_lua_policy_read_len);
	assert_embedded("stats_flush", rschema_lua_stats_flush, rschema_lua_stats_flush_len);
}

/* The script builds the key as base .. 'NAME' */
static void assert_script_names(const char *script, const char *name)
{
	char quoted[64];

	snprintf(quoted, sizeof(quoted), "b .. '%s'", name);
	if (!strstr(script, quoted))
		fail_msg("the script has no %s", quoted);
}

static void test_scripts_use_the_schema_names(void **state)
{
	assert_script_names(rschema_lua_policy_read, RSCHEMA_POLICY_LEASES);
	assert_script_names(rschema_lua_policy_read, RSCHEMA_POLICY_LEASE);
	assert_script_names(rschema_lua_policy_read, RSCHEMA_POLICY_DEFAULT);
	assert_script_names(rschema_lua_policy_read, RSCHEMA_POLICY_CLIENTS);
	assert_script_names(rschema_lua_policy_read, RSCHEMA_POLICY_CLIENT);
	assert_true(strstr(rschema_lua_policy_read, "'" RSCHEMA_POLICY_ALLOW "', '" RSCHEMA_POLICY_DENY "'"));
	assert_true(strstr(rschema_lua_policy_read, "'" RSCHEMA_LEASE_HOSTNAME "'"));
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_TOTAL);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_CLIENTS);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_CLIENT);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_TOP);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_SEEN);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_WHY);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_EVENTS);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_RECENT);
	assert_script_names(rschema_lua_stats_flush, RSCHEMA_STATS_INSTANCE);
	/* the heartbeat's fields, which jurisdns-ctl instances and the report read */
	assert_true(strstr(rschema_lua_stats_flush, "'" RSCHEMA_HB_VERSION "', ARGV[9], '" RSCHEMA_HB_GEO_AGE
				 "', ARGV[10], '" RSCHEMA_HB_LAST_FLUSH "', now"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bases_and_channel_follow_the_prefix),
		cmocka_unit_test(test_policy_keys_are_the_documented_ones),
		cmocka_unit_test(test_stats_keys_are_the_documented_ones),
		cmocka_unit_test(test_a_name_that_does_not_fit_is_refused_whole),
		cmocka_unit_test(test_the_heartbeat_pattern_escapes_the_prefix),
		cmocka_unit_test(test_scripts_are_the_lua_files_byte_for_byte),
		cmocka_unit_test(test_scripts_use_the_schema_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
