/* tls_conn.h - the server side of a TLS connection on the worker's loop, shared by the
 * encrypted client transports (io_tls.c: DNS over TLS, io_https.c: DNS over HTTPS). OpenSSL
 * runs on memory BIOs: socket reads go into the read BIO, the write BIO goes out through
 * tls_out.c with a cap on unsent bytes. A set of connections is one transport's
 * listeners and connections in one worker: it bounds handshakes in time (TLS_HANDSHAKE_MS) and
 * in number (TLS_MAX_HANDSHAKES, the oldest goes), makes room at the connection limit by
 * closing the least recently active idle connection, applies the idle timeout, and keeps each
 * connection's requests in flight on a list that closing detaches. Output is tls_out.c's: one
 * write per connection and loop pass. What runs inside TLS is the
 * transport's: its ops. */
#ifndef JD_TLS_CONN_H
#define JD_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "addr.h"
#include "tls_out.h"

#define TLS_MAX_QUEUED (1u << 20)    /* bytes of unsent TLS records before a client is cut off */
#define TLS_HANDSHAKE_MS 5000
#define TLS_MAX_HANDSHAKES 64        /* per worker and transport */

struct worker;
struct request;
struct tls_conn;

/* What a transport does with its connections. Called only by tls_conn.c. */
struct tls_conn_ops {
	/* The handshake is done (first call) or more bytes arrived: read with tls_conn_read and
	 * act. Not called once the connection is closing. */
	void (*process)(struct tls_conn *c);
	/* c is closing (its requests are detached already): drop what refers to the connection. */
	void (*closing)(struct tls_conn *c);
	/* The last reference went: free the transport's own buffers (not c itself). May be NULL. */
	void (*release)(struct tls_conn *c);
};

/* One client connection. A transport's connection struct starts with it. */
struct tls_conn {
	uv_tcp_t h;
	uv_timer_t timer;            /* the handshake timeout, then the idle timeout */
	struct worker *w;
	struct tls_conn_set *set;
	struct tls_conn *prev, *next; /* most recently active first */
	unsigned refs;               /* one per open handle and per queued write */
	unsigned inflight;           /* requests on reqs */
	struct request *reqs;        /* in flight, linked by cprev/cnext */
	struct tls_out out;
	bool closing, reading, handshaking;
	struct addr peer;
	struct ssl_st *ssl;
	struct bio_st *rbio, *wbio;  /* owned by ssl */
};

/* One transport's listeners and connections in one worker. */
struct tls_conn_set {
	struct worker *w;
	const struct tls_conn_ops *ops;
	size_t conn_size;            /* the transport's connection struct, tls_conn first */
	bool h2;                     /* ALPN h2 only (DoH); else dot when offered */
	uv_tcp_t *listen;
	unsigned nlisten;
	struct tls_conn head;        /* sentinel of the connection list */
	unsigned nconn, nhandshake;
	uint8_t in[65536];           /* one socket read, fed to the read BIO at once */
};

/* Make set w's set for ops and start listening on fds[0..nfds) (set to -1 as libuv takes them).
 * conn_size: the size of the transport's connection struct. 0 or a libuv error. */
int tls_conn_set_open(struct tls_conn_set *set, struct worker *w, int *fds, unsigned nfds,
		      const struct tls_conn_ops *ops, size_t conn_size, bool h2);
/* Stop taking connections: close the listeners and the connections with nothing in flight,
 * stop reading on the others (they close after their last answer: tls_conn_drop_req). */
void tls_conn_set_drain(struct tls_conn_set *set);
/* True when no connection of set is open. */
bool tls_conn_set_idle(const struct tls_conn_set *set);
/* Free what tls_conn_set_open allocated, once the loop has ended. */
void tls_conn_set_free(struct tls_conn_set *set);

/* Decrypt up to cap bytes into buf: the count, 0 when nothing more has arrived (what TLS had
 * to send is flushed), -1 when c closed (close_notify, a broken record). */
int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap);
/* Send len bytes of clear text with the rest of this loop pass's output: for DoT one DNS message
 * in a record of its own, for DoH HTTP/2 bytes collected into few records. False when c is
 * closing or closed by it (over TLS_MAX_QUEUED). */
bool tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t len);
/* Encrypt and send now what is queued, and whatever TLS itself has written. */
void tls_conn_flush(struct tls_conn *c);
/* c was active: first in line to stay at the connection limit, idle timer restarted. */
void tls_conn_touch(struct tls_conn *c);
/* Read from the socket or not (a transport pauses at its query limit). */
void tls_conn_want_read(struct tls_conn *c, bool want);
/* Close c: its requests in flight are detached, the ops' closing runs. Idempotent. */
void tls_conn_close(struct tls_conn *c);

/* Put r on c's list (the list takes a reference). */
void tls_conn_add_req(struct tls_conn *c, struct request *r);
/* The pipeline is done with r: off c's list, its reference dropped. While draining, c closes
 * with its last request. */
void tls_conn_drop_req(struct tls_conn *c, struct request *r);
/* r's client gave up on it (an HTTP/2 stream reset): off c's list, detached, reference dropped. */
void tls_conn_detach_req(struct tls_conn *c, struct request *r);

#endif
