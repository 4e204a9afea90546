/* rconn.c - an asynchronous Redis connection that keeps itself up. */
#include "config.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/adapters/libuv.h>
#include "log.h"
#include "rconn.h"
#include "util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct rconn {
	uv_loop_t *loop;
	char name[32];
	struct redis_conf cfg;
	redisAsyncContext *ac;       /* NULL while down */
	uv_timer_t timer;            /* connect or command timeout */
	uv_timer_t retry;            /* reconnect after the backoff */
	unsigned backoff_ms;
	unsigned pending;            /* commands waiting for their first reply */
	unsigned failures;           /* attempts since the last success */
	unsigned handles;            /* open timers; freed at 0 after close */
	bool ready, closing;
	rconn_state_cb on_state;
	void *data;
	struct prng rng;
};

struct cmd {
	struct rconn *rc;
	redisAsyncContext *ac;
	rconn_reply_cb cb;
	void *priv;
	bool subscribe, answered;
};

static void start_connect(struct rconn *rc);

/* "unix:/p" or "/p" -> path; "1.2.3.4:6379", "[::1]:6379", "1.2.3.4" -> ip and port. */
int redis_address_parse(const char *a, char *path, size_t pathlen, char *ip, size_t iplen,
			 int *port, char *err, size_t errlen)
{
	const char *p = a, *colon;
	uint64_t v = 6379;
	unsigned char tmp[16];

	path[0] = ip[0] = 0;
	if (!strncmp(a, "unix:", 5) || a[0] == '/') {
		const char *s = a[0] == '/' ? a : a + 5;
		if (s[0] != '/' || strlen(s) >= pathlen || strlen(s) >= 108) {
			snprintf(err, errlen, "'%s': a unix socket needs an absolute path shorter than 108 bytes", a);
			return -1;
		}
		snprintf(path, pathlen, "%s", s);
		return 0;
	}
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (!end || (size_t)(end - p - 1) >= iplen || (end[1] && end[1] != ':')) {
			snprintf(err, errlen, "'%s': expected [IPv6]:port", a);
			return -1;
		}
		snprintf(ip, iplen, "%.*s", (int)(end - p - 1), p + 1);
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strchr(p, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL, snprintf(ip, iplen, "%s", p); /* a bare IPv6 address */
		else if ((size_t)(colon ? colon - p : (ptrdiff_t)strlen(p)) >= iplen) {
			snprintf(err, errlen, "'%s': address too long", a);
			return -1;
		} else
			snprintf(ip, iplen, "%.*s", (int)(colon ? colon - p : (ptrdiff_t)strlen(p)), p);
	}
	if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) != 1) {
		snprintf(err, errlen, "'%s': not a numeric IP address or unix:/path (host names are not "
			 "resolved: hiredis would block)", a);
		return -1;
	}
	if (colon && parse_uint(colon + 1, 1, 65535, 0, &v) < 0) {
		snprintf(err, errlen, "'%s': bad port", a);
		return -1;
	}
	*port = (int)v;
	return 0;
}

int redis_address_check(const char *address, char *err, size_t errlen)
{
	char path[256], ip[64];
	int port;

	return redis_address_parse(address, path, sizeof(path), ip, sizeof(ip), &port, err, errlen);
}

bool rconn_ready(const struct rconn *rc)
{
	return rc && rc->ready;
}

static void set_ready(struct rconn *rc)
{
	/* A server that accepts but never answers (stopped, overloaded) connects fine: the
	 * backoff is reset by the first reply, not here. */
	if (rc->failures)
		log_debug("redis %s: connected to %s", rc->name, rc->cfg.address);
	else
		log_info("redis %s: connected to %s", rc->name, rc->cfg.address);
	rc->ready = true;
	if (rc->on_state)
		rc->on_state(rc, true, rc->data);
}

static void on_retry(uv_timer_t *t)
{
	start_connect(t->data);
}

static void schedule_retry(struct rconn *rc)
{
	unsigned ms = rc->backoff_ms;

	if (rc->closing)
		return;
	ms = ms - ms / 5 + (unsigned)(prng_next(&rc->rng) % (2 * (ms / 5) + 1)); /* +-20 % */
	uv_timer_start(&rc->retry, on_retry, ms, 0);
	rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
}

/* A failure: say so the first time, quietly after that (the backoff keeps trying). */
static void failed(struct rconn *rc, const char *what, const char *why)
{
	if (rc->failures++ == 0)
		log_warn("redis %s: %s %s: %s; retrying with backoff", rc->name, what, rc->cfg.address, why);
	else
		log_debug("redis %s: %s %s: %s", rc->name, what, rc->cfg.address, why);
}

/* Drop the current context (if any) and, unless closing, reconnect later. */
static void drop(struct rconn *rc)
{
	redisAsyncContext *ac = rc->ac;
	bool was_ready = rc->ready;

	rc->ac = NULL;
	rc->ready = false;
	rc->pending = 0;
	uv_timer_stop(&rc->timer);
	if (ac) {
		ac->data = NULL;     /* its disconnect callback is ours to ignore */
		redisAsyncFree(ac);  /* pending callbacks run now, with NULL */
	}
	if (was_ready && rc->on_state)
		rc->on_state(rc, false, rc->data);
	schedule_retry(rc);
}

void rconn_reset(struct rconn *rc, const char *why)
{
	if (!rc->ac)
		return;
	failed(rc, "dropping the connection to", why);
	drop(rc);
}

static void on_timeout(uv_timer_t *t)
{
	struct rconn *rc = t->data;
	char why[64];

	snprintf(why, sizeof(why), "no reply within %u ms", rc->cfg.timeout);
	failed(rc, rc->ac && rc->ac->c.flags & REDIS_CONNECTED ? "timeout talking to" : "timeout connecting to", why);
	drop(rc);
}

static void arm_timeout(struct rconn *rc)
{
	if (rc->pending)
		uv_timer_start(&rc->timer, on_timeout, rc->cfg.timeout, 0);
	else
		uv_timer_stop(&rc->timer);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cmd *c = privdata;
	struct rconn *rc = c->rc;
	bool first = !c->answered;

	c->answered = true;
	if (first && ac == rc->ac && rc->pending) {
		rc->pending--;
		arm_timeout(rc);
	}
	/* a real answer on a ready connection (not the AUTH refusal) ends a failure streak */
	if (reply && ((redisReply *)reply)->type != REDIS_REPLY_ERROR && rc->ready && ac == rc->ac &&
	    rc->failures) {
		log_info("redis %s: %s answers again, after %u failed attempt%s", rc->name,
			 rc->cfg.address, rc->failures, rc->failures == 1 ? "" : "s");
		rc->failures = 0;
		rc->backoff_ms = BACKOFF_MIN_MS;
	}
	c->cb(rc, reply, c->priv);
	if (!reply || !c->subscribe)
		free(c);
}

int rconn_command(struct rconn *rc, rconn_reply_cb cb, void *priv, bool subscribe, int argc,
		  const char **argv, const size_t *argvlen)
{
	struct cmd *c;

	if (!rc->ac || !(rc->ac->c.flags & REDIS_CONNECTED) || !(c = calloc(1, sizeof(*c))))
		return -1;
	*c = (struct cmd){ .rc = rc, .ac = rc->ac, .cb = cb, .priv = priv, .subscribe = subscribe };
	if (redisAsyncCommandArgv(rc->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
		free(c);
		return -1;
	}
	if (rc->pending++ == 0)
		arm_timeout(rc);
	return 0;
}

static void on_auth(struct rconn *rc, redisReply *r, void *priv)
{
	(void)priv;
	if (!r)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		failed(rc, "AUTH refused by", r->str);
		drop(rc);
		return;
	}
	set_ready(rc);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	if (!rc)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		rc->ac = NULL;
		rc->pending = 0;
		uv_timer_stop(&rc->timer);
		failed(rc, "cannot connect to", ac->errstr[0] ? ac->errstr : "connection failed");
		schedule_retry(rc);
		return;
	}
	rc->pending = 0;
	uv_timer_stop(&rc->timer);
	if (ac->c.connection_type == REDIS_CONN_TCP)
		redisEnableKeepAlive((redisContext *)&ac->c); /* a silent peer shows within a minute */
	if (rc->cfg.password[0]) {
		const char *argv[3] = { "AUTH", rc->cfg.user, rc->cfg.password };
		int argc = 3;
		if (!rc->cfg.user[0]) {
			argv[1] = rc->cfg.password;
			argc = 2;
		}
		if (rconn_command(rc, on_auth, NULL, false, argc, argv, NULL) < 0) {
			failed(rc, "cannot send AUTH to", "out of memory");
			drop(rc);
		}
		return;
	}
	set_ready(rc);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	(void)status;
	if (!rc || ac != rc->ac)
		return;
	/* hiredis frees the context after this callback */
	bool was_ready = rc->ready;
	rc->ac = NULL;
	rc->ready = false;
	rc->pending = 0;
	uv_timer_stop(&rc->timer);
	failed(rc, "lost the connection to", ac->errstr[0] ? ac->errstr : "closed by the server");
	if (was_ready && rc->on_state)
		rc->on_state(rc, false, rc->data);
	schedule_retry(rc);
}

static void start_connect(struct rconn *rc)
{
	char path[256], ip[64], err[200];
	int port = 0;
	redisAsyncContext *ac;

	if (rc->closing || rc->ac)
		return;
	if (redis_address_parse(rc->cfg.address, path, sizeof(path), ip, sizeof(ip), &port, err, sizeof(err)) < 0) {
		log_err("redis %s: %s", rc->name, err); /* conf checked it; not reached */
		return;
	}
	ac = path[0] ? redisAsyncConnectUnix(path) : redisAsyncConnect(ip, port);
	if (!ac || ac->err) {
		failed(rc, "cannot connect to", ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		schedule_retry(rc);
		return;
	}
	ac->data = rc;
	if (redisLibuvAttach(ac, rc->loop) != REDIS_OK) {
		failed(rc, "cannot watch the socket of", "libuv attach failed");
		redisAsyncFree(ac);
		schedule_retry(rc);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	rc->ac = ac;
	rc->pending = 1; /* the connect itself */
	arm_timeout(rc);
}

struct rconn *rconn_new(uv_loop_t *loop, const char *name, const struct redis_conf *cfg,
			rconn_state_cb on_state, void *data)
{
	struct rconn *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->loop = loop;
	snprintf(rc->name, sizeof(rc->name), "%s", name);
	rc->cfg = *cfg;
	rc->on_state = on_state;
	rc->data = data;
	rc->backoff_ms = BACKOFF_MIN_MS;
	if (prng_seed(&rc->rng) < 0)
		rc->rng.s[0] = (uint64_t)(uintptr_t)rc | 1; /* jitter only */
	uv_timer_init(loop, &rc->timer);
	uv_timer_init(loop, &rc->retry);
	rc->timer.data = rc->retry.data = rc;
	rc->handles = 2;
	start_connect(rc);
	return rc;
}

static void on_closed(uv_handle_t *h)
{
	struct rconn *rc = h->data;

	if (--rc->handles == 0)
		free(rc);
}

void rconn_close(struct rconn *rc)
{
	if (!rc || rc->closing)
		return;
	rc->closing = true;
	rc->on_state = NULL;
	drop(rc);
	uv_close((uv_handle_t *)&rc->timer, on_closed);
	uv_close((uv_handle_t *)&rc->retry, on_closed);
}
