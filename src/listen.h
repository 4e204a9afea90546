/* listen.h - the client sockets of every transport: one table row per transport says which
 * addresses of the configuration it listens on and what kind of socket it needs. Each worker
 * gets its own set (SO_REUSEPORT), so the kernel spreads clients over the workers. */
#ifndef JD_LISTEN_H
#define JD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include "conf.h"

/* The client transports, in the order of the table in listen.c. */
enum listen_transport {
	LISTEN_UDP,
	LISTEN_TCP,
	LISTEN_TLS,                  /* [server] tls_listen: DNS over TLS */
	LISTEN_HTTPS,                /* [server] https_listen: DNS over HTTPS */
	LISTEN_TRANSPORTS
};

/* One worker's listener sockets, per transport (fds[t][0..n[t])). */
struct listen_set {
	int *fds[LISTEN_TRANSPORTS];
	unsigned n[LISTEN_TRANSPORTS];
};

/* Open one set of listener sockets for every address of c. check_free: first make sure that no
 * other process holds an address (do it for the first set only: the others share the ports).
 * 0, or -1 with the reason in err and nothing left open in s. The fds belong to the caller:
 * listen_set_close() or hand them on. */
int listen_open(const struct conf *c, bool check_free, struct listen_set *s, char *err, size_t errlen);
/* Close every fd of s that is still >= 0 and free its arrays; s is empty afterwards. */
void listen_set_close(struct listen_set *s);
/* Free the arrays of s, not closing the fds (they were handed on); s is empty afterwards. */
void listen_set_forget(struct listen_set *s);
/* True when a and b listen on the same addresses with every transport. */
bool listen_same(const struct conf *a, const struct conf *b);
/* "127.0.0.1:5335, [::1]:5335 (UDP and TCP)": what c listens on, for the start-up line. */
void listen_describe(const struct conf *c, char *buf, size_t len);

#endif
