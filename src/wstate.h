/* wstate.h - the state of one worker thread: its loop, client listeners, cache, upstream
 * transactions, counters. Everything here belongs to one thread; nothing is shared but the conf
 * (refcounted) and the atomics that the control thread uses to talk to the worker. Types only:
 * the functions live in worker.h (thread), io_udp.h and io_tcp.h (client transports),
 * pipeline.h (queries) and upstream.h (servers). */
#ifndef JD_WSTATE_H
#define JD_WSTATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include "addr.h"
#include "cache.h"
#include "conf.h"
#include "dynpol.h"
#include "geo.h"
#include "groups.h"
#include "qlog_ring.h"
#include "request.h"
#include "stats_count.h"
#include "util.h"
#include "wire.h"

#define BATCH 64                 /* datagrams per recvmmsg/sendmmsg */
#define UDP_BUF 4096             /* largest UDP datagram we take or send */
#define UP_QUERY_BUF 320         /* largest query we send upstream (12 + 255 + 4 + 11) */
#define MAX_ATTEMPTS 4           /* upstream attempts per transaction */
#define CTL_LEN 64               /* room for one in6_pktinfo control message */

struct worker;
struct uquery;
struct pending;
struct tls_worker;
struct https_worker;

/* Where a UDP answer goes out from: the listener's fd, plus the local address when the
 * listener is bound to a wildcard address. */
struct udp_listener {
	uv_poll_t poll;
	int fd;
	int family;
	bool pktinfo;
	bool dirty;
	struct worker *w;
	struct udp_listener *next_dirty;
	unsigned nout;
	struct mmsghdr out_msg[BATCH];
	struct iovec out_iov[BATCH];
	struct addr out_addr[BATCH];
	uint8_t out_ctl[BATCH][CTL_LEN];
	uint8_t out_buf[BATCH][UDP_BUF];
};

/* A client TCP connection. refs: one per open libuv handle and one per queued write; the
 * struct is freed when it drops to zero. Its requests in flight are on reqs, and closing
 * detaches them, so a late answer never looks for it. */
struct tcp_session {
	uv_tcp_t h;
	uv_timer_t idle;
	struct worker *w;
	struct tcp_session *prev, *next;
	unsigned refs;
	unsigned inflight;           /* requests on reqs */
	struct request *reqs;        /* in flight, linked by cprev/cnext */
	size_t write_bytes;          /* queued but not yet written */
	bool closing, reading;
	bool processing;             /* in sess_process: a query answered at once (cache hit) must
				      * not re-enter it, or it would answer the same bytes again */
	struct addr peer;
	size_t rlen, rcap;
	uint8_t *rbuf;               /* grows to the largest message seen, at most 2 + 65535 */
};

/* An upstream's UDP sockets and TCP connection, and the upstream itself, are upstream.c's. */
struct up_udp;
struct up_tcp;
struct upstream;

/* One query sent to one upstream. */
struct attempt {
	struct attempt *hnext;       /* pending table (TCP; UDP ones are on their socket's list) */
	struct attempt *sprev, *snext; /* per-socket list */
	struct uquery *uq;
	struct upstream *up;
	void *sock;                  /* struct up_udp or struct up_tcp */
	uint64_t sent_ms;
	uint64_t sent_ns;            /* uv_hrtime(), for the round-trip time */
	uint64_t case_seed;          /* 0x20: the QNAME's case comes from it; 0 = sent lower-case */
	uint16_t id;
	bool active, tcp, written;
	bool timed_out;              /* counted as a timeout already */
};

/* Called once per transaction with the checked answer (a SERVFAIL made here when no upstream
 * answered: upstream NULL), or with pkt NULL when none could be started (out of memory). a's
 * TTL offsets are in w->ttl_off until the callback returns. */
typedef void (*upstream_cb)(void *arg, const uint8_t *pkt, size_t len, const struct dns_answer *a,
			    const char *upstream);

/* An upstream transaction: one per pending entry of the client side. It knows the question,
 * not who asked it. */
struct uquery {
	struct uquery *dprev, *dnext; /* deadline list (client timeout) */
	struct uquery *fprev, *fnext; /* failover list */
	struct worker *w;
	upstream_cb cb;
	void *cb_arg;
	uint64_t deadline_ms, failover_ms;
	uint64_t tried;              /* bit per upstream index */
	struct attempt att[MAX_ATTEMPTS];
	uint16_t qtype, qclass, flags;
	bool edns_do;
	bool cert_refused;           /* an upstream was passed over for its refused certificate */
	uint16_t qname_len;
	uint8_t key[DNS_MAX_NAME + 5]; /* starts with the lower-cased name */
};

/* A question being resolved for one or more clients (the client side's in-flight dedup): one
 * upstream transaction, its answer labelled and cached once, then decided per waiter. */
struct pending {
	struct pending *hnext;       /* dedup table */
	struct worker *w;
	uint64_t hash;
	struct request *waiters;
	unsigned nwaiters;
	uint16_t qname_len;
	uint16_t keylen;
	uint8_t key[DNS_MAX_NAME + 5];
};

/* The counters (wcounter, struct worker_stats, struct up_stats) are in stats_count.h. */

struct worker {
	unsigned idx, nworkers;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t async;
	uv_timer_t timer;            /* next deadline or failover */
	uv_timer_t drain_timer;
	uv_check_t flush;
	atomic_bool stop;
	_Atomic(struct conf *) next_conf;
	struct conf *conf;
	_Atomic(struct geo *) next_geo;
	_Atomic(struct groups *) next_groups;
	atomic_bool labels_pending;
	_Atomic(struct dynpol *) next_dyn;
	atomic_bool dyn_pending;
	struct dynpol *dyn;          /* the policy from Redis, NULL when none */
	struct geo *geo;             /* NULL: no GeoIP database */
	struct groups *groups;       /* never NULL once started */
	struct qlog_ring qlog;
	struct stats_table *stats;   /* counting now; NULL when stats are off */
	struct stats_table *spare;   /* emptied tables given back by the control thread */
	_Atomic(struct stats_table *) stats_done, stats_free;
	uv_timer_t stats_timer;
	uv_async_t *qlog_wake;       /* the control loop's: the ring is filling up */
	struct prng rng;
	struct cache *cache;
	uint64_t hash_seed;

	int *udp_fds, *tcp_fds;      /* given by main; closed by the worker */
	unsigned nudp, ntcp_listen;
	int *tls_fds;                /* DNS over TLS listeners, the same way */
	unsigned ntls_listen;
	struct tls_worker *tls;      /* io_tls.c's */
	int *https_fds;              /* DNS over HTTPS listeners, the same way */
	unsigned nhttps_listen;
	struct https_worker *https;  /* io_https.c's */
	struct udp_listener **udp;
	uv_tcp_t *tcp_listen;
	struct udp_listener *dirty_listeners;
	struct up_udp *dirty_up;

	/* the [upstream] servers (ups[0..nmain), in order), then the [forward] servers not among
	 * them: one health state per address */
	struct upstream *ups[CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS];
	unsigned nups, nmain;
	uint64_t private_ups;        /* bit per index: [upstream] servers that may see private names */
	uint8_t fwd_ups[CONF_MAX_FORWARD][CONF_MAX_FORWARD_SERVERS]; /* per [forward] zone: indexes */
	struct upstream *retired;

	struct attempt **pend;
	size_t pend_mask;
	struct pending **dedup;
	size_t dedup_mask;
	struct uquery deadlines;     /* sentinels of the two FIFO timeout lists */
	struct uquery failovers;
	unsigned nuq;
	struct freelist uq_free;     /* struct uquery blocks, for the next miss */
	struct freelist pd_free;     /* struct pending blocks */
	uint64_t up_rx_ns;           /* uv_hrtime() of the upstream read batch being handled; 0 outside */

	struct request_pool reqs;    /* every live request, and the free list */
	struct tcp_session sessions; /* sentinel */
	unsigned nsessions;
	bool draining, closing;

	struct mmsghdr rx_msg[BATCH];
	struct iovec rx_iov[BATCH];
	struct addr rx_addr[BATCH];
	uint8_t rx_ctl[BATCH][CTL_LEN];
	uint8_t rx_buf[BATCH][UDP_BUF];
	uint16_t ttl_off[DNS_MAX_MSG / 11 + 1];
	uint8_t scratch[2 + DNS_MAX_MSG + 64];

	struct worker_stats st;
	int exit_code;
	uv_async_t *on_exit;         /* the control loop's, sent once the thread is done */
	atomic_bool exited;
	bool thread_started;         /* set by worker_start: the thread owns and frees its state */
	/* The control thread wakes the loop through async only while wakeable: from a started
	 * loop until just before uv_loop_close, which closes the fd uv_async_send writes to (a
	 * send after it aborts the process). Both change under wake_lock. */
	uv_mutex_t wake_lock;
	bool wakeable;
};

#endif
