/* transport.h - what a client transport gives the pipeline: the query's bytes arrive through
 * pipeline_query() on a request the transport filled (client address, kind, connection), and
 * the answer goes back through the transport's vtable. A transport knows nothing of policy or
 * caches; the pipeline knows nothing of sockets. Types only. */
#ifndef JD_TRANSPORT_H
#define JD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct request;

enum transport_kind {
	TRANSPORT_UDP,
	TRANSPORT_TCP,
	TRANSPORT_DOT,               /* issue 11: io_tls.c */
	TRANSPORT_DOH,               /* issue 11: io_https.c */
	TRANSPORT_KINDS
};

/* One per transport, static const. The pipeline calls answer_buf, writes at most max_answer
 * bytes there, then send; done once per request that is not detached. None of them is called
 * for a detached request (its client went away). */
struct transport {
	const char *kind_name;       /* "udp", "tcp", "dot", "doh": for the query log */
	enum transport_kind kind;
	bool stream;                 /* a stream: never truncated, and tcp-only rules are met */
	/* The largest answer r's client takes (UDP: its EDNS size, clamped; a stream: 65535). */
	size_t (*max_answer)(const struct request *r);
	/* Where to write r's answer, max_answer(r) bytes (UDP: the next sendmmsg slot, no copy). */
	uint8_t *(*answer_buf)(struct request *r);
	/* Send the answer written at answer_buf (len bytes) to r's client. */
	void (*send)(struct request *r, const uint8_t *answer, size_t len);
	/* The pipeline is done with r: the transport drops its hold (NULL: it holds none). */
	void (*done)(struct request *r);
};

#endif
