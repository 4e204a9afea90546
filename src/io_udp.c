/* io_udp.c - the UDP client transport: recvmmsg batches in, sendmmsg batches out (flushed by
 * the worker once per loop iteration), IP_PKTINFO for wildcard listeners, and the answer size
 * a datagram client takes (its EDNS size, clamped), beyond which the pipeline truncates. */
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "io_udp.h"
#include "pipeline.h"

_Static_assert(REQUEST_TP_PRIV >= CTL_LEN, "a request holds one reply control message");

static void udp_batch_flush(struct worker *w, struct udp_listener *l)
{
	unsigned done = 0;

	while (done < l->nout) {
		int n = sendmmsg(l->fd, l->out_msg + done, l->nout - done, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: the socket buffer is full, drop what is left, as a busy network
			 * would. Any other error concerns the first message only: skip it. */
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				wc_add(&w->st.send_errors, l->nout - done);
				break;
			}
			wc_add(&w->st.send_errors, 1);
			done++;
			continue;
		}
		done += (unsigned)n;
	}
	l->nout = 0;
}

void io_udp_flush(struct worker *w)
{
	struct udp_listener *l = w->dirty_listeners;

	w->dirty_listeners = NULL;
	for (; l; l = l->next_dirty) {
		l->dirty = false;
		udp_batch_flush(w, l);
	}
}

/* --- the vtable --- */

static size_t udp_max_answer(const struct request *r)
{
	const struct udp_listener *l = r->ctx;
	size_t s = r->q.edns ? r->q.edns_udp_size : 512;

	if (s < 512)
		s = 512;
	if (s > l->w->conf->max_udp_size)
		s = l->w->conf->max_udp_size;
	return s;
}

static uint8_t *udp_answer_buf(struct request *r)
{
	struct udp_listener *l = r->ctx;

	if (l->nout == BATCH)
		udp_batch_flush(l->w, l);
	return l->out_buf[l->nout];
}

/* The answer is already in the slot udp_answer_buf gave: queue it. */
static void udp_send(struct request *r, const uint8_t *answer, size_t len)
{
	struct udp_listener *l = r->ctx;
	struct worker *w = l->w;
	unsigned i = l->nout++;
	struct msghdr *m = &l->out_msg[i].msg_hdr;

	if (answer != l->out_buf[i])
		memmove(l->out_buf[i], answer, len);
	l->out_iov[i].iov_base = l->out_buf[i];
	l->out_iov[i].iov_len = len;
	l->out_addr[i] = r->id.addr;
	memset(m, 0, sizeof(*m));
	m->msg_name = &l->out_addr[i].u.sa;
	m->msg_namelen = r->id.addr.len;
	m->msg_iov = &l->out_iov[i];
	m->msg_iovlen = 1;
	if (r->tp_len) {
		memcpy(l->out_ctl[i], r->tp_priv, r->tp_len);
		m->msg_control = l->out_ctl[i];
		m->msg_controllen = r->tp_len;
	}
	if (!l->dirty) {
		l->dirty = true;
		l->next_dirty = w->dirty_listeners;
		w->dirty_listeners = l;
	}
}

static const struct transport udp_transport = {
	.kind_name = "udp",
	.kind = TRANSPORT_UDP,
	.stream = false,
	.max_answer = udp_max_answer,
	.answer_buf = udp_answer_buf,
	.send = udp_send,
	.done = NULL,
};

/* --- input --- */

/* Turn a received IP_PKTINFO/IPV6_PKTINFO into the control message that makes the answer
 * leave from the address the query came to. Returns its length (0 when none). */
static size_t udp_reply_ctl(const struct msghdr *rx, uint8_t *out)
{
	struct msghdr m = { .msg_control = out, .msg_controllen = CTL_LEN };

	for (struct cmsghdr *c = CMSG_FIRSTHDR(rx); c; c = CMSG_NXTHDR((struct msghdr *)rx, c)) {
		struct cmsghdr *o = CMSG_FIRSTHDR(&m);
		memset(out, 0, CTL_LEN);
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
			memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(struct in6_pktinfo));
			return CMSG_SPACE(sizeof(struct in6_pktinfo));
		}
	}
	return 0;
}

static void udp_on_readable(uv_poll_t *p, int status, int events)
{
	struct udp_listener *l = p->data;
	struct worker *w = l->w;
	int n;

	(void)events;
	if (status < 0) {
		/* libuv stops the handle on EPOLLERR: clear the error and listen on */
		int err;
		socklen_t el = sizeof(err);
		getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (!w->draining)
			uv_poll_start(&l->poll, UV_READABLE, udp_on_readable);
		return;
	}
	for (unsigned i = 0; i < BATCH; i++) {
		struct msghdr *m = &w->rx_msg[i].msg_hdr;
		w->rx_iov[i].iov_base = w->rx_buf[i];
		w->rx_iov[i].iov_len = UDP_BUF;
		m->msg_name = &w->rx_addr[i].u.ss;
		m->msg_namelen = sizeof(w->rx_addr[i].u.ss);
		m->msg_iov = &w->rx_iov[i];
		m->msg_iovlen = 1;
		m->msg_control = l->pktinfo ? w->rx_ctl[i] : NULL;
		m->msg_controllen = l->pktinfo ? CTL_LEN : 0;
		m->msg_flags = 0;
	}
	n = recvmmsg(l->fd, w->rx_msg, BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	uint64_t now_ns = uv_hrtime(); /* once per batch: the latency starts here */
	wc_add(&w->st.udp_queries, (unsigned)n);
	for (int i = 0; i < n; i++) {
		struct msghdr *m = &w->rx_msg[i].msg_hdr;
		struct request *r;
		if (m->msg_flags & MSG_TRUNC) {
			wc_add(&w->st.dropped, 1); /* larger than any query we take */
			continue;
		}
		if (!(r = request_new(&w->reqs, &udp_transport, l))) {
			wc_add(&w->st.dropped, 1); /* out of memory: as a busy network would */
			continue;
		}
		r->start_ns = now_ns;
		r->id.addr = w->rx_addr[i];
		r->id.addr.len = m->msg_namelen;
		r->tp_len = l->pktinfo ? (uint16_t)udp_reply_ctl(m, r->tp_priv) : 0;
		pipeline_query(w, r, w->rx_buf[i], w->rx_msg[i].msg_len);
	}
}

/* --- set-up and drain --- */

int io_udp_open(struct worker *w)
{
	int rc;

	w->udp = calloc(w->nudp ? w->nudp : 1, sizeof(*w->udp));
	if (!w->udp)
		return UV_ENOMEM;
	for (unsigned i = 0; i < w->nudp; i++) {
		struct udp_listener *l = calloc(1, sizeof(*l));
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (!l)
			return UV_ENOMEM;
		w->udp[i] = l;
		l->w = w;
		l->fd = w->udp_fds[i];
		getsockname(l->fd, (struct sockaddr *)&ss, &sl);
		l->family = ss.ss_family;
		if (ss.ss_family == AF_INET)
			l->pktinfo = ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
		else
			l->pktinfo = !memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &in6addr_any,
					     sizeof(in6addr_any));
		if ((rc = uv_poll_init(&w->loop, &l->poll, l->fd)) < 0)
			return rc;
		l->poll.data = l;
		if ((rc = uv_poll_start(&l->poll, UV_READABLE, udp_on_readable)) < 0)
			return rc;
	}
	return 0;
}

void io_udp_drain(struct worker *w)
{
	for (unsigned i = 0; i < w->nudp && w->udp && w->udp[i]; i++)
		uv_poll_stop(&w->udp[i]->poll);
}

static void udp_closed_noop(uv_handle_t *h)
{
	(void)h;
}

void io_udp_close(struct worker *w)
{
	for (unsigned i = 0; i < w->nudp && w->udp && w->udp[i]; i++)
		if (!uv_is_closing((uv_handle_t *)&w->udp[i]->poll))
			uv_close((uv_handle_t *)&w->udp[i]->poll, udp_closed_noop);
}
