/* wstate.h - the state of one worker thread: its loop, client listeners, cache, upstream
 * transactions, counters. Everything here belongs to one thread; nothing is shared but the conf
 * (refcounted) and the atomics that the control thread uses to talk to the worker. Types only:
 * the functions live in worker.h (thread), server.h (clients) and upstream.h (servers). */
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
#include "qlog.h"
#include "stats.h"
#include "util.h"
#include "wire.h"

#define BATCH 64                 /* datagrams per recvmmsg/sendmmsg */
#define UDP_BUF 4096             /* largest UDP datagram we take or send */
#define UP_QUERY_BUF 320         /* largest query we send upstream (12 + 255 + 4 + 11) */
#define UP_SOCKS 4               /* UDP sockets per upstream per worker */
#define MAX_ATTEMPTS 4           /* upstream attempts per transaction */
#define CTL_LEN 64               /* room for one in6_pktinfo control message */

struct worker;
struct uquery;
struct pending;

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

/* A client TCP connection. refs: one per open libuv handle and one per request in flight;
 * the struct is freed when it drops to zero, so late answers find it closing, not freed. */
struct tcp_session {
	uv_tcp_t h;
	uv_timer_t idle;
	struct worker *w;
	struct tcp_session *prev, *next;
	unsigned refs;
	unsigned inflight;
	size_t write_bytes;          /* queued but not yet written */
	bool closing, reading;
	struct addr peer;
	size_t rlen, rcap;
	uint8_t *rbuf;               /* grows to the largest message seen, at most 2 + 65535 */
};

/* A client's query waiting for an upstream answer. */
struct request {
	struct request *next;        /* its pending entry's waiter list, or the free list */
	struct tcp_session *tcp;     /* NULL for UDP */
	struct udp_listener *udp;
	struct addr src;
	uint8_t ctl[CTL_LEN];        /* local address for wildcard listeners */
	size_t ctl_len;
	uint64_t start_ns;           /* uv_hrtime() when its read batch arrived */
	struct dns_query q;
};

struct up_udp {
	uv_poll_t poll;
	int fd;
	bool dirty;
	struct upstream *up;
	struct up_udp *next_dirty;
	struct attempt *attempts;    /* pending on this socket */
	unsigned nout;
	struct mmsghdr out_msg[BATCH];
	struct iovec out_iov[BATCH];
	uint8_t out_buf[BATCH][UP_QUERY_BUF];
};

struct up_tcp {
	uv_tcp_t h;
	uv_timer_t idle;
	uv_connect_t connect;
	struct upstream *up;         /* NULL once the upstream is gone */
	struct worker *w;
	struct attempt *attempts;
	unsigned handles;            /* open libuv handles; freed at 0 */
	bool connected, closing;
	size_t rlen;
	uint8_t rbuf[2 + DNS_MAX_MSG];
};

/* One upstream server as seen by one worker. */
struct upstream {
	struct addr addr;
	char name[64];
	unsigned fails;              /* consecutive failures */
	uint64_t down_until;         /* ms; skipped until then unless nothing else is left */
	unsigned backoff_ms;
	unsigned pending;            /* attempts in flight */
	bool retired;                /* removed by a reload; freed when pending drops to 0 */
	struct upstream *next_retired;
	struct worker *w;
	struct up_udp udp[UP_SOCKS];
	struct up_tcp *tcp;
	struct up_stats *st;         /* its counters in w->st, by address */
};

/* One query sent to one upstream. */
struct attempt {
	struct attempt *hnext;       /* pending table */
	struct attempt *sprev, *snext; /* per-socket list */
	struct uquery *uq;
	struct upstream *up;
	void *sock;                  /* struct up_udp or struct up_tcp */
	uint64_t sent_ms;
	uint64_t sent_ns;            /* uv_hrtime(), for the round-trip time */
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

/* A counter that one worker writes and the control thread reads for /metrics. A relaxed load
 * and store, not an atomic add: there is one writer, so it compiles to a plain add. */
typedef _Atomic uint64_t wcounter;

static inline void wc_add(wcounter *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void wc_set(wcounter *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t wc_get(wcounter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Upper bounds (microseconds) of the answer latency histogram; a last bucket takes the rest. */
#define ANSWER_BUCKETS_US 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, \
			  500000, 1000000, 2500000
#define ANSWER_NBUCKETS 15

/* Where an answer came from, for the latency histogram. */
enum answer_kind {
	ANS_HIT,                     /* the cache */
	ANS_MISS,                    /* an upstream transaction (SERVFAIL when none answered included) */
	ANS_LOCAL,                   /* made here: the policy before any lookup, private zones */
	ANS_ERROR,                   /* made up at once: ACL REFUSED, FORMERR, NOTIMP, overload */
	ANS_KINDS
};

#define ANSWER_RCODES 7              /* NOERROR..REFUSED (0-5), then any other */
#define UP_STATS_MAX (4 * CONF_MAX_UPSTREAM)

/* One upstream's counters in one worker, by address: an upstream that a reload keeps keeps its
 * counts. A slot is filled, then published by nups (release); its address never changes. */
struct up_stats {
	struct addr addr;
	wcounter queries, tcp_queries, answers, timeouts, servfail;
	wcounter srtt_us;            /* smoothed round-trip time, 0 before the first answer */
	wcounter down;               /* 1 while marked down (failures), until it answers again */
	wcounter users;              /* struct upstreams on it in the worker's tables */
};

struct worker_stats {
	wcounter udp_queries, tcp_queries, dropped, truncated, dedup_joins;
	wcounter upstream_bad, send_errors, tcp_clients, tcp_rejected;
	wcounter rcodes[ANSWER_RCODES]; /* answers sent to clients */
	wcounter latency[ANS_KINDS][ANSWER_NBUCKETS]; /* per bucket, not cumulative */
	wcounter latency_sum_ns[ANS_KINDS];
	wcounter cache_entries, cache_bytes, cache_evictions; /* copied every stats interval */
	atomic_uint nups;
	struct up_stats ups[UP_STATS_MAX + 1]; /* the last one takes upstreams past the table, unshown */
};

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

	struct request *free_reqs;
	unsigned inflight;           /* requests waiting for upstream */
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
};

#endif
