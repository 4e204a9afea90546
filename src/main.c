/* main.c - command line, listener sockets, worker threads and the control loop (signals:
 * SIGHUP reloads, SIGTERM/SIGINT drain and exit). */
#include "config.h"
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "conf.h"
#include "log.h"
#include "worker.h"

#define RESOLV_CONF "/etc/resolv.conf"

struct control {
	uv_loop_t *loop;
	uv_signal_t sighup, sigterm, sigint;
	uv_async_t worker_exit;
	bool stopping;
	struct conf *conf;
	const char *conf_path;
	struct conf_overrides ov;
	struct worker **workers;
	unsigned nworkers;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: jurisdns [-c FILE] [-t] [-l ADDR:PORT]... [-u ADDR:PORT]... [-w N] [-f] [-v] [-V] [-h]\n"
		"  -c FILE       configuration file (INI); without it, built-in defaults\n"
		"  -t            check the configuration and exit (0 valid, 1 not)\n"
		"  -l ADDR:PORT  listen on UDP and TCP (repeatable; replaces [server] listen)\n"
		"  -u ADDR:PORT  upstream server (repeatable; replaces [upstream] server)\n"
		"  -w N          worker threads (0 = one per CPU)\n"
		"  -f            stay in the foreground (always the case; for init scripts)\n"
		"  -v            more log output (repeat for debug)\n"
		"  -V            print the version and exit\n"
		"  -h            print this help and exit\n"
		"IPv6 addresses go in brackets: -l [::1]:5353. Defaults: listen 127.0.0.1:5353, upstreams\n"
		"from " RESOLV_CONF ". SIGHUP reloads the configuration, SIGTERM finishes queries and exits.\n");
}

/* One UDP or TCP socket bound to a, with SO_REUSEPORT so that every worker has its own. */
static int open_listener(const struct addr *a, int type, char *err, size_t errlen)
{
	int fd = socket(a->u.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	char as[64];

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (a->u.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
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
	if (type == SOCK_STREAM && listen(fd, 256) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "listen %s (%s): %s", addr_str(&a->u.sa, as, sizeof(as)),
		 type == SOCK_DGRAM ? "udp" : "tcp", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int open_worker_sockets(struct worker *w, const struct conf *c, char *err, size_t errlen)
{
	w->udp_fds = calloc(c->nlisten, sizeof(int));
	w->tcp_fds = calloc(c->nlisten, sizeof(int));
	if (!w->udp_fds || !w->tcp_fds) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < c->nlisten; i++) {
		if ((w->udp_fds[w->nudp] = open_listener(&c->listen[i], SOCK_DGRAM, err, errlen)) < 0)
			return -1;
		w->nudp++;
		if ((w->tcp_fds[w->ntcp_listen] = open_listener(&c->listen[i], SOCK_STREAM, err, errlen)) < 0)
			return -1;
		w->ntcp_listen++;
	}
	return 0;
}

static bool same_listeners(const struct conf *a, const struct conf *b)
{
	if (a->nlisten != b->nlisten || a->workers != b->workers)
		return false;
	for (unsigned i = 0; i < a->nlisten; i++)
		if (!addr_equal(&a->listen[i].u.sa, &b->listen[i].u.sa))
			return false;
	return true;
}

static void reload(struct control *ctl)
{
	char err[512];
	struct conf *c = conf_load(ctl->conf_path, &ctl->ov, RESOLV_CONF, err, sizeof(err));

	if (!c) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if (!same_listeners(ctl->conf, c))
		log_warn("reload: listen addresses and workers change only on restart");
	for (unsigned i = 0; i < ctl->nworkers; i++)
		worker_reconfigure(ctl->workers[i], c);
	conf_unref(ctl->conf);
	ctl->conf = c;
	log_info("reloaded %s (%u upstreams)", c->path ? c->path : "defaults", c->nupstream);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct control *ctl = h->data;

	if (ctl->stopping) {
		log_info("signal %d: already finishing queries in flight", signum);
		return;
	}
	if (signum == SIGHUP) {
		reload(ctl);
		return;
	}
	log_info("signal %d: finishing queries in flight, then exiting", signum);
	ctl->stopping = true;
	for (unsigned i = 0; i < ctl->nworkers; i++)
		worker_stop(ctl->workers[i]);
}

/* A worker thread has ended; when all have, stop watching signals and leave the loop. */
static void on_worker_exit(uv_async_t *h)
{
	struct control *ctl = h->data;

	for (unsigned i = 0; i < ctl->nworkers; i++)
		if (!atomic_load(&ctl->workers[i]->exited))
			return;
	/* from here until exit a late signal changes nothing */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	uv_close((uv_handle_t *)&ctl->sighup, NULL);
	uv_close((uv_handle_t *)&ctl->sigterm, NULL);
	uv_close((uv_handle_t *)&ctl->sigint, NULL);
	uv_close((uv_handle_t *)&ctl->worker_exit, NULL);
}

static unsigned cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

int main(int argc, char **argv)
{
	struct control ctl = { .ov = { .workers = -1 } };
	char err[512];
	bool check_only = false;
	int opt, verbose = 0;
	uint64_t v;

	while ((opt = getopt(argc, argv, "c:tl:u:w:fvVh")) != -1) {
		switch (opt) {
		case 'c':
			ctl.conf_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'l':
			if (ctl.ov.nlisten == CONF_MAX_LISTEN) {
				fprintf(stderr, "jurisdns: -l: at most %d listen addresses\n", CONF_MAX_LISTEN);
				return 2;
			}
			if (addr_parse(optarg, 0, &ctl.ov.listen[ctl.ov.nlisten], err, sizeof(err)) < 0) {
				fprintf(stderr, "jurisdns: -l %s\n", err);
				return 2;
			}
			ctl.ov.nlisten++;
			break;
		case 'u':
			if (ctl.ov.nupstream == CONF_MAX_UPSTREAM) {
				fprintf(stderr, "jurisdns: -u: at most %d upstreams\n", CONF_MAX_UPSTREAM);
				return 2;
			}
			if (addr_parse(optarg, 53, &ctl.ov.upstream[ctl.ov.nupstream], err, sizeof(err)) < 0) {
				fprintf(stderr, "jurisdns: -u %s\n", err);
				return 2;
			}
			ctl.ov.nupstream++;
			break;
		case 'w':
			if (parse_uint(optarg, 0, 256, 0, &v) < 0) {
				fprintf(stderr, "jurisdns: -w '%s': expected a number from 0 to 256\n", optarg);
				return 2;
			}
			ctl.ov.workers = (int)v;
			break;
		case 'f':
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("jurisdns %s (libuv %s)\n", PACKAGE_VERSION, uv_version_string());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "jurisdns: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	log_max_level = LOG_INFO + verbose;

	ctl.conf = conf_load(ctl.conf_path, &ctl.ov, RESOLV_CONF, err, sizeof(err));
	if (!ctl.conf) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration is valid\n", ctl.conf_path ? ctl.conf_path : "defaults");
		conf_unref(ctl.conf);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Workers inherit a mask without these, so only the control loop takes them, and none
	 * arriving before its watchers start can take the default action. */
	sigset_t ctl_signals;
	sigemptyset(&ctl_signals);
	sigaddset(&ctl_signals, SIGHUP);
	sigaddset(&ctl_signals, SIGTERM);
	sigaddset(&ctl_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &ctl_signals, NULL);
	ctl.loop = uv_default_loop();
	uv_async_init(ctl.loop, &ctl.worker_exit, on_worker_exit);
	ctl.worker_exit.data = &ctl;
	ctl.nworkers = ctl.conf->workers ? ctl.conf->workers : cpu_count();
	ctl.workers = calloc(ctl.nworkers, sizeof(*ctl.workers));
	if (!ctl.workers)
		return 1;
	for (unsigned i = 0; i < ctl.nworkers; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		if (!w) {
			log_err("out of memory");
			return 1;
		}
		w->idx = i;
		w->nworkers = ctl.nworkers;
		w->conf = conf_ref(ctl.conf);
		w->on_exit = &ctl.worker_exit;
		ctl.workers[i] = w;
		if (open_worker_sockets(w, ctl.conf, err, sizeof(err)) < 0) {
			log_err("%s", err);
			return 1;
		}
	}
	for (unsigned i = 0; i < ctl.nworkers; i++) {
		int rc = worker_start(ctl.workers[i]);
		if (rc < 0) {
			log_err("worker %u failed to start: %s", i, uv_strerror(rc));
			for (unsigned j = 0; j < i; j++) {
				worker_stop(ctl.workers[j]);
				worker_join(ctl.workers[j]);
			}
			worker_join(ctl.workers[i]);
			return 1;
		}
	}
	{
		char ls[64], us[64];
		log_info("listening on %s%s, %u workers, upstream %s%s%s", addr_str(&ctl.conf->listen[0].u.sa, ls, sizeof(ls)),
			 ctl.conf->nlisten > 1 ? " and more" : "", ctl.nworkers,
			 addr_str(&ctl.conf->upstream[0].u.sa, us, sizeof(us)),
			 ctl.conf->nupstream > 1 ? " and more" : "",
			 ctl.conf->upstream_from_resolv ? " (from " RESOLV_CONF ")" : "");
	}

	uv_signal_init(ctl.loop, &ctl.sighup);
	uv_signal_init(ctl.loop, &ctl.sigterm);
	uv_signal_init(ctl.loop, &ctl.sigint);
	ctl.sighup.data = ctl.sigterm.data = ctl.sigint.data = &ctl;
	uv_signal_start(&ctl.sighup, on_signal, SIGHUP);
	uv_signal_start(&ctl.sigterm, on_signal, SIGTERM);
	uv_signal_start(&ctl.sigint, on_signal, SIGINT);
	pthread_sigmask(SIG_UNBLOCK, &ctl_signals, NULL);
	uv_run(ctl.loop, UV_RUN_DEFAULT);

	for (unsigned i = 0; i < ctl.nworkers; i++) {
		worker_join(ctl.workers[i]);
		free(ctl.workers[i]->udp_fds);
		free(ctl.workers[i]->tcp_fds);
		free(ctl.workers[i]);
	}
	free(ctl.workers);
	conf_unref(ctl.conf);
	uv_loop_close(ctl.loop);
	log_info("stopped");
	return 0;
}
