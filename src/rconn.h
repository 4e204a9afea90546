/* rconn.h - one asynchronous Redis connection on the control thread's loop (hiredis with its
 * libuv adapter): connect to a numeric IP:port or a unix socket, AUTH, time commands out with
 * a uv_timer (hiredis 0.14 has no timeouts), and reconnect with jittered exponential backoff.
 * Never used on a worker. */
#ifndef JD_RCONN_H
#define JD_RCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <uv.h>

struct redis_conf {
	char address[256];           /* "unix:/path", "/path", "IP:port", "[IPv6]:port"; "" = none */
	char user[64];               /* "" = AUTH with the password only */
	char password[256];          /* "" = no AUTH */
	char prefix[64];             /* key prefix, default "jurisdns:" */
	unsigned timeout;            /* ms per command */
	unsigned refresh;            /* s between full policy reads */
	char snapshot[512];          /* policy snapshot file, "" = none */
};

/* Check a Redis address: 0, or -1 with a reason in err. */
int redis_address_check(const char *address, char *err, size_t errlen);
/* Split it: a unix socket path into path (ip = ""), or ip and port (path = ""). */
int redis_address_parse(const char *address, char *path, size_t pathlen, char *ip, size_t iplen,
			int *port, char *err, size_t errlen);

struct rconn;

/* Called when the connection is up and authenticated (ready = true), and when it is lost or
 * given up (ready = false). */
typedef void (*rconn_state_cb)(struct rconn *rc, bool ready, void *data);
/* A reply; r is NULL when the connection went away before it came. */
typedef void (*rconn_reply_cb)(struct rconn *rc, redisReply *r, void *priv);

/* Start connecting (name is for the log). cfg is copied. */
struct rconn *rconn_new(uv_loop_t *loop, const char *name, const struct redis_conf *cfg,
			rconn_state_cb on_state, void *data);
bool rconn_ready(const struct rconn *rc);
/* Send a command. subscribe: the callback stays for every message that follows (SUBSCRIBE),
 * and only the first reply counts for the timeout. Returns 0, or -1 when not connected. */
int rconn_command(struct rconn *rc, rconn_reply_cb cb, void *priv, bool subscribe, int argc,
		  const char **argv, const size_t *argvlen);
/* Drop the connection now and reconnect after the backoff (used on protocol errors). */
void rconn_reset(struct rconn *rc, const char *why);
/* Disconnect and free once libuv has closed the handles. Pending callbacks get NULL. */
void rconn_close(struct rconn *rc);

#endif
