/* web_api_test.c - the console API without a server: the strict body parser, the block list
 * check, the error mapping of web_api_handle (401, 403, 404, 405, 415, 400, 503 and the login's
 * 401 and 429) with a configuration whose Redis is not reachable, and the "locked" field that
 * the daemon's policy reader accepts and ignores. */
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
#include <jansson.h>
#include "conf.h"
#include "dynpol.h"
#include "groups.h"
#include "web_api.h"
#include "web_auth.h"

static char dir[64];

static const char *file(const char *name, const char *content)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(content, f);
	fclose(f);
	return path;
}

static int parse(const char *json, enum web_body_kind kind, struct web_body *b, char *err)
{
	memset(b, 0, sizeof(*b));
	return web_api_parse_body((const uint8_t *)json, strlen(json), kind, b, err, 300);
}

static void parse_me(void **state)
{
	struct web_body b;
	char err[300];

	(void)state;
	assert_int_equal(parse("{\"mode\": \"block\", \"block\": [\"PRC\", \"EU:domain\"]}", WB_ME, &b, err), 0);
	assert_true(b.has_mode && b.has_block && !b.has_locked);
	assert_string_equal(b.mode, "block");
	assert_int_equal(b.nblock, 2);
	assert_string_equal(b.block[1], "EU:domain");
	web_api_body_free(&b);
	assert_int_equal(parse("{}", WB_ME, &b, err), 0);
	assert_false(b.has_mode);
	web_api_body_free(&b);
}

static void parse_rejects(void **state)
{
	static const struct { const char *json; enum web_body_kind kind; const char *msg; } bad[] = {
		{ "", WB_ME, "must be a JSON object" },
		{ "[1]", WB_ME, "must be a JSON object" },
		{ "{\"mode\": \"block\"", WB_ME, "not valid JSON" },
		{ "{\"mode\": 1}", WB_ME, "'mode' must be" },
		{ "{\"mode\": \"loud\"}", WB_ME, "'mode' must be" },
		{ "{\"mode\": \"default\"}", WB_ME, "'mode' must be" },     /* the admin's only */
		{ "{\"block\": \"PRC\"}", WB_ME, "'block' must be" },
		{ "{\"block\": [\"P RC\"]}", WB_ME, "'block' must be" },
		{ "{\"block\": [1]}", WB_ME, "'block' must be" },
		{ "{\"block\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}", WB_ME, "at most 8" },
		{ "{\"locked\": true}", WB_ME, "unknown field 'locked'" },   /* a device cannot unlock itself */
		{ "{\"mode\": \"off\", \"colour\": 1}", WB_ME, "unknown field 'colour'" },
		{ "{\"mode\": \"off\", \"mode\": \"block\"}", WB_ME, "not valid JSON" },
		{ "{\"locked\": \"yes\"}", WB_DEVICE, "'locked' must be" },
		{ "{\"name\": \"a\\nb\"}", WB_DEVICE, "'name' must be" },
		{ "{}", WB_LOGIN, "'password' is missing" },
		{ "{\"password\": 5}", WB_LOGIN, "'password' must be" },
		{ "{\"password\": \"a\\u0000b\"}", WB_LOGIN, "not valid JSON" },
		{ "{\"allow\": [\"a..b\"]}", WB_POLICY, "is not a domain name" },
		{ "{\"default\": {\"action\": \"x\"}}", WB_POLICY, "unknown field 'default.action'" },
		{ "{\"deny\": \"x.com\"}", WB_POLICY, "'deny' must be" },
	};
	struct web_body b;
	char err[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (parse(bad[i].json, bad[i].kind, &b, err) != -1 || !strstr(err, bad[i].msg))
			fail_msg("%s: got '%s', want '%s'", bad[i].json, err, bad[i].msg);
		web_api_body_free(&b);
	}
	/* bounded: beyond the cap, and a body without a NUL is read only to its length */
	char *big = malloc(WEB_API_BODY_MAX + 2);
	memset(big, ' ', WEB_API_BODY_MAX + 1);
	memcpy(big, "{}", 2);
	memset(&b, 0, sizeof(b));
	assert_int_equal(web_api_parse_body((uint8_t *)big, WEB_API_BODY_MAX + 1, WB_ME, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	assert_int_equal(web_api_parse_body((uint8_t *)"{}xyz", 2, WB_ME, &b, err, sizeof(err)), 0);
	web_api_body_free(&b);
	free(big);
}

static void parse_device_policy(void **state)
{
	struct web_body b;
	char err[300];

	(void)state;
	assert_int_equal(parse("{\"mode\": \"default\", \"locked\": true, \"name\": \"Tablet\"}", WB_DEVICE, &b, err), 0);
	assert_true(b.has_locked && b.locked && b.has_name);
	assert_string_equal(b.name, "Tablet");
	web_api_body_free(&b);
	assert_int_equal(parse("{\"default\": {\"mode\": \"log\", \"block\": [\"PRC\"]}, \"allow\": "
			       "[\"Example.COM.\"], \"deny\": []}", WB_POLICY, &b, err), 0);
	assert_true(b.has_mode && b.has_allow && b.has_deny);
	assert_int_equal(b.nallow, 1);
	assert_string_equal(b.allow[0], "example.com");
	assert_int_equal(b.ndeny, 0);
	web_api_body_free(&b);
}

static void block_checked_against_groups(void **state)
{
	struct web_body b;
	char err[300], out[400];
	struct groups *g = groups_load_names(file("groups.conf", "[jurisdiction PRC]\ncountries = CN\n"), err, sizeof(err));

	(void)state;
	assert_non_null(g);
	assert_int_equal(parse("{\"block\": [\"PRC\", \"PRC:operator\"]}", WB_ME, &b, err), 0);
	assert_int_equal(web_api_block_text(&b, g, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "PRC,PRC:operator");
	web_api_body_free(&b);
	assert_int_equal(parse("{\"block\": [\"Mars\"]}", WB_ME, &b, err), 0);
	assert_int_equal(web_api_block_text(&b, g, out, sizeof(out), err, sizeof(err)), -1);
	web_api_body_free(&b);
	groups_unref(g);
}

/* ---- web_api_handle with Redis configured but not listening */

static struct conf *test_conf(void)
{
	char text[1024], err[512];
	struct conf *c;

	file("groups.conf", "[jurisdiction PRC]\ncountries = CN\n[jurisdiction EU]\ncountries = DE\n");
	snprintf(text, sizeof(text),
		 "[upstream]\nserver = 192.0.2.1\n[labels]\ngroups = %s/groups.conf\n"
		 "[policy]\ndefault_mode = log\n[client 192.0.2.5]\nmode = block\nname = Kitchen\n"
		 "[redis]\naddress = unix:%s/none.sock\n[web]\npassword_file = %s/web.passwd\n",
		 dir, dir, dir);
	c = conf_load(file("test.conf", text), NULL, file("resolv.conf", "nameserver 192.0.2.1\n"), err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	return c;
}

struct call {
	struct web_req q;
	struct web_resp r;
	json_t *doc;
};

static void call(struct call *c, struct conf *conf, const char *method, enum web_route route,
		 const char *body, const char *csrf, const char *peer)
{
	json_error_t je;

	memset(c, 0, sizeof(*c));
	c->q.method = method;
	c->q.route = route;
	c->q.body = (const uint8_t *)body;
	c->q.body_len = body ? strlen(body) : 0;
	c->q.content_type = body ? "application/json" : NULL;
	c->q.csrf = csrf;
	c->q.conf = conf;
	c->q.peer.u.sin.sin_family = AF_INET;
	inet_pton(AF_INET, peer ? peer : "192.0.2.5", &c->q.peer.u.sin.sin_addr);
	c->q.peer.len = sizeof(struct sockaddr_in);
	web_api_handle(&c->q, &c->r);
	c->doc = c->r.body.s ? json_loads(c->r.body.s, 0, &je) : NULL;
	if (!c->r.sse) /* every reply but the event stream's is a JSON document */
		assert_non_null(c->doc);
}

static void done(struct call *c)
{
	json_decref(c->doc);
	sb_free(&c->r.body);
}

static void handle_without_redis(void **state)
{
	struct conf *conf = test_conf();
	struct call c;
	char csrf[WEB_CSRF_HEX];

	(void)state;
	web_auth_reset();
	/* GET /api/me: the configuration's view, plainly without Redis */
	call(&c, conf, "GET", WR_API_ME, NULL, NULL, NULL);
	assert_int_equal(c.r.status, 200);
	assert_string_equal(json_string_value(json_object_get(c.doc, "id")), "192.0.2.5");
	assert_string_equal(json_string_value(json_object_get(c.doc, "name")), "Kitchen");
	assert_string_equal(json_string_value(json_object_get(c.doc, "mode")), "block");
	assert_true(json_is_false(json_object_get(c.doc, "redis")));
	assert_true(json_is_null(json_object_get(c.doc, "counts")));
	assert_int_equal(json_array_size(json_object_get(c.doc, "groups")), 2);
	snprintf(csrf, sizeof(csrf), "%s", json_string_value(json_object_get(c.doc, "csrf")));
	done(&c);
	/* another device sees its own id and the default mode */
	call(&c, conf, "GET", WR_API_ME, NULL, NULL, "192.0.2.6");
	assert_string_equal(json_string_value(json_object_get(c.doc, "id")), "192.0.2.6");
	assert_string_equal(json_string_value(json_object_get(c.doc, "mode")), "log");
	done(&c);
	/* writes: CSRF first (403), then Redis (503 with redis false) */
	call(&c, conf, "PUT", WR_API_ME, "{\"mode\": \"block\"}", NULL, NULL);
	assert_int_equal(c.r.status, 403);
	done(&c);
	call(&c, conf, "PUT", WR_API_ME, "{\"mode\": \"block\"}", "00", NULL);
	assert_int_equal(c.r.status, 403);
	done(&c);
	call(&c, conf, "PUT", WR_API_ME, "{\"mode\": 3}", NULL, NULL); /* the token is checked first */
	assert_int_equal(c.r.status, 403);
	done(&c);
	call(&c, conf, "PUT", WR_API_ME, "{\"mode\": \"block\"}", csrf, "192.0.2.6"); /* another's token */
	assert_int_equal(c.r.status, 403);
	done(&c);
	call(&c, conf, "PUT", WR_API_ME, "{\"mode\": \"block\"}", csrf, NULL);
	assert_int_equal(c.r.status, 503);
	assert_true(json_is_false(json_object_get(c.doc, "redis")));
	done(&c);
	call(&c, conf, "PUT", WR_API_ME, "{\"mode\": 3}", csrf, NULL);
	assert_int_equal(c.r.status, 400);
	done(&c);
	/* 415 without application/json */
	memset(&c, 0, sizeof(c));
	call(&c, conf, "PUT", WR_API_ME, NULL, csrf, NULL);
	assert_int_equal(c.r.status, 415);
	done(&c);
	/* admin routes need a session */
	call(&c, conf, "GET", WR_API_DEVICES, NULL, NULL, NULL);
	assert_int_equal(c.r.status, 401);
	done(&c);
	call(&c, conf, "PUT", WR_API_DEVICE, "{\"mode\": \"off\"}", csrf, NULL);
	assert_int_equal(c.r.status, 401);
	done(&c);
	call(&c, conf, "GET", WR_API_POLICY, NULL, NULL, NULL);
	assert_int_equal(c.r.status, 401);
	done(&c);
	call(&c, conf, "POST", WR_API_ME, "{}", csrf, NULL);
	assert_int_equal(c.r.status, 405);
	done(&c);
	call(&c, conf, "GET", WR_NONE, NULL, NULL, NULL);
	assert_int_equal(c.r.status, 404);
	done(&c);
	/* events: admitted, only the device's own */
	call(&c, conf, "GET", WR_API_EVENTS, "{}", NULL, NULL);
	assert_true(c.r.sse);
	assert_string_equal(c.r.sse_client, "192.0.2.5");
	done(&c);
	conf_unref(conf);
}

static void login_errors(void **state)
{
	struct conf *conf = test_conf();
	char hash[WEB_HASH_MAX], err[300];
	struct call c;

	(void)state;
	web_auth_reset();
	call(&c, conf, "POST", WR_API_LOGIN, "{\"password\": \"x\"}", NULL, NULL);
	assert_int_equal(c.r.status, 503); /* no password file */
	done(&c);
	assert_int_equal(web_auth_hash("secret", hash, sizeof(hash), err, sizeof(err)), 0);
	strcat(hash, "\n");
	file("web.passwd", hash);
	call(&c, conf, "POST", WR_API_LOGIN, "{\"password\": \"wrong\", \"user\": 1}", NULL, NULL);
	assert_int_equal(c.r.status, 400);
	done(&c);
	for (int i = 0; i < WEB_LOGIN_FAILURES; i++) { /* 5 wrong passwords: 401 each */
		call(&c, conf, "POST", WR_API_LOGIN, "{\"password\": \"wrong\"}", NULL, NULL);
		assert_int_equal(c.r.status, 401);
		done(&c);
	}
	call(&c, conf, "POST", WR_API_LOGIN, "{\"password\": \"wrong\"}", NULL, NULL);
	assert_int_equal(c.r.status, 429);
	assert_true(c.r.retry_after[0]);
	done(&c);
	call(&c, conf, "POST", WR_API_LOGIN, "{\"password\": \"secret\"}", NULL, NULL);
	assert_int_equal(c.r.status, 429); /* even the right one, until the window ends */
	done(&c);
	/* another source logs in; its session opens the admin routes (Redis still down: 503) */
	call(&c, conf, "POST", WR_API_LOGIN, "{\"password\": \"secret\"}", NULL, "192.0.2.9");
	assert_int_equal(c.r.status, 200);
	assert_non_null(strstr(c.r.set_cookie, "HttpOnly"));
	char sid[WEB_SESSION_HEX] = "";
	sscanf(c.r.set_cookie, "jd_session=%64[0-9a-f]", sid);
	assert_int_equal(strlen(sid), 64);
	done(&c);
	memset(&c, 0, sizeof(c));
	c.q.method = "GET";
	c.q.route = WR_API_DEVICES;
	c.q.cookie_session = sid;
	c.q.conf = conf;
	c.q.peer.u.sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.9", &c.q.peer.u.sin.sin_addr);
	web_api_handle(&c.q, &c.r);
	assert_int_equal(c.r.status, 503);
	sb_free(&c.r.body);
	conf_unref(conf);
}

static void locked_is_accepted(void **state)
{
	char err[256];
	const char *text = DYNPOL_MAGIC "version\t3\nclient\t192.0.2.7\tlocked\tadmin\n"
				       "client\t192.0.2.7\tmode\tblock\n";
	struct dynpol *d = dynpol_parse(text, strlen(text), "test", NULL, err, sizeof(err));

	(void)state;
	assert_non_null(d);
	assert_int_equal(d->skipped, 0);
	assert_int_equal(d->p.nclients, 1);
	assert_int_equal(d->p.clients[0].mode, PMODE_BLOCK);
	dynpol_unref(d);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/jd-webapi-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_me),
		cmocka_unit_test(parse_rejects),
		cmocka_unit_test(parse_device_policy),
		cmocka_unit_test(block_checked_against_groups),
		cmocka_unit_test(handle_without_redis),
		cmocka_unit_test(login_errors),
		cmocka_unit_test(locked_is_accepted),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
