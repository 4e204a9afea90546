/* listen.c - opening the client sockets of every transport. A transport is a row of
 * listen_rows[]: its addresses in the configuration and its kind of socket. A new transport
 * (DNS over TLS, over HTTPS) is a new row and a new enum listen_transport value. */
#include "config.h"
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "addr.h"
#include "listen.h"

struct listen_row {
	const char *name;            /* in error messages */
	const char *label;           /* in the start-up line */
	int type;                    /* SOCK_DGRAM or SOCK_STREAM */
	/* the addresses of c that the transport listens on */
	const struct addr *(*addrs)(const struct conf *c, unsigned *n);
};

/* [server] listen, and -l: plain DNS, over UDP and over TCP. */
static const struct addr *listen_dns_addrs(const struct conf *c, unsigned *n)
{
	*n = c->nlisten;
	return c->listen;
}

/* [server] tls_listen: DNS over TLS (io_tls.c). */
static const struct addr *listen_tls_addrs(const struct conf *c, unsigned *n)
{
	*n = c->ntls_listen;
	return c->tls_listen;
}

/* [server] https_listen: DNS over HTTPS (io_https.c). */
static const struct addr *listen_https_addrs(const struct conf *c, unsigned *n)
{
	*n = c->nhttps_listen;
	return c->https_listen;
}

/* Indexed by enum listen_transport. */
static const struct listen_row listen_rows[LISTEN_TRANSPORTS] = {
	[LISTEN_UDP] = { "udp", "UDP", SOCK_DGRAM, listen_dns_addrs },
	[LISTEN_TCP] = { "tcp", "TCP", SOCK_STREAM, listen_dns_addrs },
	[LISTEN_TLS] = { "tls", "DNS over TLS", SOCK_STREAM, listen_tls_addrs },
	[LISTEN_HTTPS] = { "https", "DNS over HTTPS", SOCK_STREAM, listen_https_addrs },
};

/* The most addresses any transport of c listens on. */
static unsigned listen_max_addrs(const struct conf *c)
{
	unsigned max = 0, n;

	for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++) {
		listen_rows[t].addrs(c, &n);
		if (n > max)
			max = n;
	}
	return max;
}

/* One socket bound to a, with SO_REUSEPORT so that every worker has its own. */
static int listen_socket(const struct listen_row *row, const struct addr *a, char *err, size_t errlen)
{
	int fd = socket(a->u.sa.sa_family, row->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	char as[64];

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (a->u.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (row->type == SOCK_DGRAM) {
		int buf = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		/* the local address for answers on wildcard listeners */
		if (a->u.sa.sa_family == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		else
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (bind(fd, &a->u.sa, a->len) < 0)
		goto fail;
	if (row->type == SOCK_STREAM && listen(fd, 256) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "listen %s (%s): %s", addr_str(&a->u.sa, as, sizeof(as)), row->name,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* SO_REUSEPORT would let us share a port with another running instance without a word. Bind
 * once without it first: if that fails, someone else has the address. */
static int listen_check_free(const struct listen_row *row, const struct addr *a, char *err, size_t errlen)
{
	int fd = socket(a->u.sa.sa_family, row->type | SOCK_CLOEXEC, 0), one = 1;
	char as[64];

	if (fd < 0)
		return 0; /* the real open reports it */
	if (a->u.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (row->type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &a->u.sa, a->len) < 0 && errno == EADDRINUSE) {
		snprintf(err, errlen, "listen %s (%s): address already in use (another jurisdns or DNS "
			 "server is running?)", addr_str(&a->u.sa, as, sizeof(as)), row->name);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void listen_set_forget(struct listen_set *s)
{
	for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++) {
		free(s->fds[t]);
		s->fds[t] = NULL;
		s->n[t] = 0;
	}
}

void listen_set_close(struct listen_set *s)
{
	for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++)
		for (unsigned k = 0; k < s->n[t]; k++)
			if (s->fds[t][k] >= 0)
				close(s->fds[t][k]);
	listen_set_forget(s);
}

/* Address by address, every transport of it in table order (UDP, then TCP, as the first error
 * reported depends on it). */
int listen_open(const struct conf *c, bool check_free, struct listen_set *s, char *err, size_t errlen)
{
	unsigned max = listen_max_addrs(c), n;
	const struct addr *a;

	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; check_free && i < max; i++)
		for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++)
			if ((a = listen_rows[t].addrs(c, &n)) && i < n &&
			    listen_check_free(&listen_rows[t], &a[i], err, errlen) < 0)
				return -1;
	for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++) {
		listen_rows[t].addrs(c, &n);
		if (n && !(s->fds[t] = calloc(n, sizeof(int)))) {
			snprintf(err, errlen, "out of memory");
			listen_set_forget(s);
			return -1;
		}
	}
	for (unsigned i = 0; i < max; i++)
		for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++) {
			if (!(a = listen_rows[t].addrs(c, &n)) || i >= n)
				continue;
			int fd = listen_socket(&listen_rows[t], &a[i], err, errlen);
			if (fd < 0) {
				listen_set_close(s);
				return -1;
			}
			s->fds[t][s->n[t]++] = fd;
		}
	return 0;
}

bool listen_same(const struct conf *a, const struct conf *b)
{
	for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++) {
		unsigned na, nb;
		const struct addr *la = listen_rows[t].addrs(a, &na), *lb = listen_rows[t].addrs(b, &nb);
		if (na != nb)
			return false;
		for (unsigned i = 0; i < na; i++)
			if (!addr_equal(&la[i].u.sa, &lb[i].u.sa))
				return false;
	}
	return true;
}

/* snprintf at buf + *n, never past len. */
static void listen_append(char *buf, size_t len, size_t *n, const char *s)
{
	if (*n >= len)
		return;
	int k = snprintf(buf + *n, len - *n, "%s", s);
	*n += k > 0 ? (size_t)k : 0;
}

/* Rows with the same addresses are one group: "A, B (UDP and TCP)"; groups are joined by "; ". */
void listen_describe(const struct conf *c, char *buf, size_t len)
{
	size_t n = 0;
	bool first_group = true;

	if (len)
		buf[0] = '\0';
	for (unsigned t = 0; t < LISTEN_TRANSPORTS; t++) {
		unsigned na, same = 0, k = 0;
		const struct addr *a = listen_rows[t].addrs(c, &na);
		bool seen = false;
		char as[64];

		for (unsigned u = 0; u < t; u++)
			seen |= listen_rows[u].addrs == listen_rows[t].addrs;
		if (seen || !na)
			continue;
		for (unsigned u = t; u < LISTEN_TRANSPORTS; u++)
			same += listen_rows[u].addrs == listen_rows[t].addrs;
		if (!first_group)
			listen_append(buf, len, &n, "; ");
		first_group = false;
		for (unsigned i = 0; i < na; i++) {
			if (i)
				listen_append(buf, len, &n, ", ");
			listen_append(buf, len, &n, addr_str(&a[i].u.sa, as, sizeof(as)));
		}
		listen_append(buf, len, &n, " (");
		for (unsigned u = t; u < LISTEN_TRANSPORTS; u++) {
			if (listen_rows[u].addrs != listen_rows[t].addrs)
				continue;
			if (k)
				listen_append(buf, len, &n, k + 1 == same ? " and " : ", ");
			listen_append(buf, len, &n, listen_rows[u].label);
			k++;
		}
		listen_append(buf, len, &n, ")");
	}
}
