/* web_api.h - the household console's JSON API (docs/web-api.md): GET/PUT /api/me, login and
 * logout, the admin's devices and policy, and the admission of /api/events. Bodies are parsed
 * with jansson, strictly (bounded, exact types, unknown fields rejected); replies are built with
 * it. Redis is read and written synchronously over a short-lived connection of its own per
 * request (hiredis, the [redis] timeout capped at 1 s); every write goes through polwrite.h, as
 * jurisdns-ctl's do. Called by web.c on its own threads: nothing here touches the workers. */
#ifndef JD_WEB_API_H
#define JD_WEB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "conf.h"
#include "groups.h"
#include "policy.h"
#include "util.h"
#include "web_route.h"

#define WEB_API_BODY_MAX 16384       /* bytes of a request body (web.c answers 413 beyond) */
#define WEB_API_LIST_MAX 1024        /* entries of an allow or deny list in one PUT /api/policy */

struct web_req {
	const char *method;          /* "GET", "PUT", "POST" */
	enum web_route route;        /* from web_route.h */
	char device[128];            /* route param: canonical client id, "" when none */
	const char *query;           /* raw query string or NULL */
	const uint8_t *body;
	size_t body_len;
	const char *content_type;    /* NULL when absent */
	const char *cookie_session;  /* value of the jd_session cookie or NULL */
	const char *csrf;            /* X-CSRF-Token header or NULL */
	struct addr peer;            /* the TCP peer */
	const struct conf *conf;     /* a reference held for the request */
};

struct web_resp {
	int status;                  /* HTTP status */
	struct strbuf body;          /* JSON (util.h strbuf), freed by web.c */
	char set_cookie[256];        /* "" = none */
	char retry_after[16];        /* "" = none */
	bool sse;                    /* GET /api/events accepted: web.c streams web_events */
	char sse_client[128];        /* only this client's events; "" = all (admin) */
};

/* Answer one /api request into r (r zeroed by the caller). Never fails: errors are JSON
 * {"error": "..."} replies with their status. */
void web_api_handle(const struct web_req *q, struct web_resp *r);

/* The bodies the API takes. */
enum web_body_kind {
	WB_ME,                       /* PUT /api/me: mode, block */
	WB_DEVICE,                   /* PUT /api/devices/{id}: mode, block, locked, name */
	WB_LOGIN,                    /* POST /api/login: password */
	WB_POLICY,                   /* PUT /api/policy: default {mode, block}, allow, deny */
};

/* A parsed body: has_X says that X was given. Zero it before web_api_parse_body. */
struct web_body {
	bool has_mode, has_block, has_locked, has_name, has_password, has_allow, has_deny;
	char mode[8];                /* "off", "log", "block" ("default" too for WB_DEVICE) */
	unsigned nblock;
	char block[POLICY_MAX_BLOCK][GROUP_NAME_MAX + 16]; /* "PRC" or "PRC:operator", unchecked groups */
	bool locked;
	char name[64];
	char password[256];
	char **allow, **deny;        /* lower-case domains without the final dot; owned */
	unsigned nallow, ndeny;
};

/* Parse len bytes of body as the JSON object of kind into out. Returns 0, or -1 with one
 * sentence in err (the 400 reply's message): not JSON, not an object, an unknown field, a field
 * of the wrong type or an invalid value. Never reads beyond len; len > WEB_API_BODY_MAX is an
 * error. Free out with web_api_body_free in every case. */
int web_api_parse_body(const uint8_t *body, size_t len, enum web_body_kind kind,
		       struct web_body *out, char *err, size_t errlen);
/* Free what out holds (the lists) and zero it. */
void web_api_body_free(struct web_body *out);
/* The body's block list as the policy stores it ("PRC,bypass:domain") checked against g (NULL:
 * unchecked) with the daemon's rules. Returns 0, or -1 with the reason in err. */
int web_api_block_text(const struct web_body *b, const struct groups *g, char *out, size_t len,
		       char *err, size_t errlen);

#endif
