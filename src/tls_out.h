/* tls_out.h - the way out of one TLS connection on memory BIOs, shared by the server side
 * (tls_conn.c: DoT and DoH clients) and the client side (up_tls.c: encrypted upstreams). What a
 * pass of the loop writes is sent in the loop's idle phase (or at an explicit flush) with one
 * write: a pass that answers 100 pipelined queries makes one system call, not 100. A DNS
 * message over TLS is one record of its own (tls_out_record): peers that wait for the socket
 * between two messages never see a second one hidden in the record of the first (systemd
 * PR 22132; dnsdist 1.7 closes such a connection after its receive timeout). An HTTP/2 byte
 * stream has no such boundaries: it is collected and encrypted in one SSL_write
 * (tls_out_stream). What the socket does not take at once is queued with uv_write, up to a cap
 * of unsent bytes. */
#ifndef JD_TLS_OUT_H
#define JD_TLS_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ssl_st;
struct bio_st;

/* What the owner does for its tls_out. Called only by tls_out.c, never from inside tls_out_record
 * or tls_out_stream. */
struct tls_out_ops {
	void (*hold)(void *owner);   /* a write is queued: keep the owner until its release */
	void (*release)(void *owner); /* a queued write has ended */
	/* nothing more can be sent (a socket error, the cap, no memory): the owner closes */
	void (*broken)(void *owner, const char *why);
};

struct tls_out {
	uv_idle_t idle;              /* the deferred flush; data = the owner */
	uv_stream_t *stream;
	struct ssl_st *ssl;
	struct bio_st *wbio;
	const struct tls_out_ops *ops;
	void *owner;
	size_t cap;                  /* clear text waiting plus bytes queued in uv_write */
	size_t queued;               /* bytes handed to uv_write and not yet written */
	uint8_t *clear;              /* stream bytes of this pass, not encrypted yet */
	size_t clear_len, clear_cap;
	bool closed;
};

/* Set o up for ssl (whose write BIO is wbio) on stream. The idle handle is initialised on loop:
 * the owner closes it with tls_out_close and counts it as one of its handles. */
void tls_out_init(struct tls_out *o, uv_loop_t *loop, uv_stream_t *stream, struct ssl_st *ssl,
		  struct bio_st *wbio, const struct tls_out_ops *ops, void *owner, size_t cap);
/* Encrypt len bytes now as one record; it goes out with this pass's flush. False when o is
 * closed, TLS fails or o is over its cap (the owner closes; broken is not called from here). */
bool tls_out_record(struct tls_out *o, const uint8_t *data, size_t len);
/* Collect len bytes of a byte stream; they are encrypted together at this pass's flush. False
 * as for tls_out_record. */
bool tls_out_stream(struct tls_out *o, const uint8_t *data, size_t len);
/* Encrypt the stream bytes collected so far and send everything TLS has written (handshake flights,
 * tickets, alerts too). May call ops->broken. */
void tls_out_flush(struct tls_out *o);
/* Stop sending: clear text not flushed is dropped, writes already queued are cancelled when
 * the owner closes the stream. Closes the idle handle with cb (its data is the owner). */
void tls_out_close(struct tls_out *o, uv_close_cb cb);

#endif
