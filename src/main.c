/* main.c - command line, listener sockets, worker threads and the control loop (signals:
 * SIGHUP reloads, SIGTERM/SIGINT drain and exit). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <maxminddb.h>
#include <time.h>
#include <uv.h>
#include "conf.h"
#include "geo.h"
#include "groups.h"
#include "qlog.h"
#include "log.h"
#include "metrics.h"
#include "oui.h"
#include "redispol.h"
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
	bool started;

	struct geo *geo;
	struct groups *groups;
	struct oui *oui;             /* device vendors for the query log, NULL when off */
	struct qlog_writer *qlog;
	char qlog_path[512];
	enum client_id_mode qlog_id;
	char qlog_key[128];
	uv_async_t qlog_wake;
	uv_timer_t qlog_timer, geo_timer;

	struct redispol *rpol;       /* NULL without [redis] address */
	struct stats_sync *stats;    /* NULL when stats are off */
	uv_timer_t stats_timer;
	struct metrics *metrics;     /* NULL without metrics_listen */
	char metrics_listen[64];
	struct dynpol *dyn;          /* the policy from Redis in force, NULL when none */
};

/* The refresh that changes something: the Debian libloc-database is a snapshot, so first fetch
 * the current one, then rebuild the file that jurisdns reads. */
#define GEO_REFRESH_HINT "run `location update`, then `build-mmdb --out %s` (the Debian " \
	"package does both daily: systemctl start jurisdns-geoip-update; contrib/geoip/README.md)"

#define QLOG_RING (8u << 20)
#define QLOG_DRAIN_MS 100

/* One line with every address that is really listened on (quickstart prints nothing of its own). */
static void log_listening(const struct control *ctl)
{
	const struct conf *c = ctl->conf;
	char ls[CONF_MAX_LISTEN * 48] = "", us[64], a[64];
	size_t n = 0;

	for (unsigned i = 0; i < c->nlisten && n < sizeof(ls); i++)
		n += (size_t)snprintf(ls + n, sizeof(ls) - n, "%s%s", i ? ", " : "",
				      addr_str(&c->listen[i].u.sa, a, sizeof(a)));
	log_info("listening on %s (UDP and TCP), %u workers, upstream %s%s%s", ls, ctl->nworkers,
		 addr_str(&c->upstream[0].u.sa, us, sizeof(us)), c->nupstream > 1 ? " and more" : "",
		 c->upstream_from_resolv ? " (from " RESOLV_CONF ")" : "");
}

static void geo_report(const struct conf *c, struct geo *g)
{
	char desc[512];
	long age = (long)((time(NULL) - geo_build_time(g)) / 86400);

	geo_describe(g, desc, sizeof(desc));
	log_info("geoip: %s", desc);
	if (c->geo_max_age && age > (long)c->geo_max_age)
		log_warn("geoip: the database is %ld days old (max_age = %u): " GEO_REFRESH_HINT, age,
			 c->geo_max_age, c->geo_db);
}

/* The device vendor table of c ([labels] oui), read anew on every call (SIGHUP refreshes it).
 * Like the GeoIP database: a configured directory must load at start-up, a missing default
 * (ieee-data not installed) is a warning, and a failed reload keeps the table in use. Only the
 * control thread's query-log writer uses it; the workers never see it. */
static int load_oui(struct control *ctl, const struct conf *c, bool startup, struct oui **out)
{
	char err[1200];

	*out = NULL;
	if (!c->oui_dir[0])
		return 0;
	if ((*out = oui_load(c->oui_dir, err, sizeof(err)))) {
		log_info("devices: %zu MAC address registrations from %s", oui_count(*out), c->oui_dir);
		return 0;
	}
	if (!startup && ctl->oui) {
		log_err("devices: %s (keeping the vendor table in use)", err);
		*out = oui_ref(ctl->oui);
		return 0;
	}
	if (c->oui_set) {
		log_err("devices: %s", err);
		return startup ? -1 : 0;
	}
	log_warn("devices: %s: the query log names no device vendors (install the ieee-data package, "
		 "or set [labels] oui, empty for none)", err);
	return 0;
}

/* Open the GeoIP databases and the groups of c. On failure a file named in the configuration is
 * an error at start-up and keeps the old snapshot on reload; a missing default is a warning.
 * At start-up both are tried, so that -t reports every bad file. */
static int load_labels(struct control *ctl, const struct conf *c, bool startup)
{
	char err[600], gpath[512];
	struct geo *g = NULL;
	struct groups *gr = NULL;
	int rc = 0;

	if (c->geo_db[0]) {
		g = geo_open(c->geo_db, c->asn_db, &c->geo_paths, err, sizeof(err));
		if (g) {
			geo_report(c, g);
		} else if (c->geo_db_set || !startup) {
			log_err("geoip: %s%s", err, startup ? "" : " (keeping the database in use)");
			if (startup)
				rc = -1;
			else
				g = geo_ref(ctl->geo);
		} else {
			log_warn("geoip: %s: answers get no country or ASN; " GEO_REFRESH_HINT, err, c->geo_db);
		}
	}
	conf_groups_path(c, gpath, sizeof(gpath));
	gr = gpath[0] ? groups_load(gpath, err, sizeof(err)) : groups_empty();
	if (!gr) {
		log_err("labels: %s%s", err, startup ? "" : " (keeping the groups in use)");
		if (startup && c->groups_set)
			rc = -1;
		else
			gr = ctl->groups ? groups_ref(ctl->groups) : groups_empty();
	} else if (gpath[0]) {
		log_info("labels: %u jurisdiction groups from %s", groups_count(gr), gpath);
	}
	struct oui *ou;
	if (load_oui(ctl, c, startup, &ou) < 0)
		rc = -1;
	if (rc < 0) {
		geo_unref(g);
		groups_unref(gr);
		oui_unref(ou);
		return -1;
	}
	geo_unref(ctl->geo);
	groups_unref(ctl->groups);
	oui_unref(ctl->oui);
	ctl->geo = g;
	ctl->groups = gr;
	ctl->oui = ou;
	if (ctl->qlog)
		qlog_writer_set_oui(ctl->qlog, ou);
	if (ctl->started)
		for (unsigned i = 0; i < ctl->nworkers; i++)
			worker_set_labels(ctl->workers[i], g, gr);
	return 0;
}

static void qlog_drain_all(struct control *ctl)
{
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		if (!ctl->workers[i] || !ctl->workers[i]->qlog.buf)
			continue;
		if (ctl->qlog)
			qlog_writer_drain(ctl->qlog, &ctl->workers[i]->qlog);
		else
			qlog_ring_discard(&ctl->workers[i]->qlog);
	}
}

static void on_qlog_tick(uv_timer_t *t) { qlog_drain_all(t->data); }
static void on_qlog_wake(uv_async_t *a) { qlog_drain_all(a->data); }

static bool qlog_wanted(const struct conf *c)
{
	return c->query_log[0] && c->qlog_mode != QLOG_NONE;
}

/* Open, reopen (same file: logrotate) or replace the query-log writer for c. */
static int setup_qlog(struct control *ctl, const struct conf *c, bool startup)
{
	char err[600];
	bool want = qlog_wanted(c);

	if (ctl->qlog) {
		qlog_drain_all(ctl);
		if (want && !strcmp(ctl->qlog_path, c->query_log) && ctl->qlog_id == c->client_id &&
		    !strcmp(ctl->qlog_key, c->client_hash_key))
			return qlog_writer_reopen(ctl->qlog);
		qlog_writer_free(ctl->qlog);
		ctl->qlog = NULL;
	}
	if (!want)
		return 0;
	ctl->qlog = qlog_writer_new(c->query_log, c->client_id, c->client_hash_key, err, sizeof(err));
	if (!ctl->qlog) {
		log_err("%s", err);
		return startup ? -1 : 0;
	}
	qlog_writer_set_oui(ctl->qlog, ctl->oui);
	snprintf(ctl->qlog_path, sizeof(ctl->qlog_path), "%s", c->query_log);
	snprintf(ctl->qlog_key, sizeof(ctl->qlog_key), "%s", c->client_hash_key);
	ctl->qlog_id = c->client_id;
	return 0;
}

/* 0 when the directory of path takes a new file; access(2), so that nothing is created. */
static int parent_dir_writable(const char *path)
{
	char dir[512];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return access(dir, W_OK | X_OK);
}

/* The query log that setup_qlog opens with O_APPEND | O_CREAT, checked without creating it: an
 * existing file must open for appending, a missing one needs a directory that takes it. */
static int check_query_log(const struct conf *c)
{
	int fd;

	if (!qlog_wanted(c) || !strcmp(c->query_log, "-"))
		return 0;
	if ((fd = open(c->query_log, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT && parent_dir_writable(c->query_log) == 0)
		return 0;
	log_err("query_log %s: %s", c->query_log, strerror(errno));
	return -1;
}

/* The Redis policy snapshot is saved as FILE.tmp, then renamed over FILE: its directory must
 * take new files. The built-in location is a warning only, like the default GeoIP database: a
 * system without /var/lib/jurisdns still serves, it just starts without a saved policy. */
static int check_snapshot_dir(const struct conf *c)
{
	if (!c->redis.address[0] || !c->redis.snapshot[0] || parent_dir_writable(c->redis.snapshot) == 0)
		return 0;
	if (!strcmp(c->redis.snapshot, JD_POLICY_SNAPSHOT)) {
		log_warn("redis policy: snapshot %s: %s: the policy from Redis is not saved (set [redis] "
			 "snapshot, empty for none)", c->redis.snapshot, strerror(errno));
		return 0;
	}
	log_err("redis policy: snapshot %s: %s", c->redis.snapshot, strerror(errno));
	return -1;
}

/* What start-up needs beyond a parsed configuration, and all that -t checks beyond conf_load:
 * the GeoIP databases, the groups and the vendor table (loaded into ctl), the query log and the snapshot
 * directory (checked, nothing created). No socket is bound here. Each problem is logged on its
 * own line; -1 when start-up must not go on. */
static int startup_checks(struct control *ctl)
{
	int rc = load_labels(ctl, ctl->conf, true);

	if (check_query_log(ctl->conf) < 0)
		rc = -1;
	if (check_snapshot_dir(ctl->conf) < 0)
		rc = -1;
	return rc;
}

static void on_geo_check(uv_timer_t *t)
{
	struct control *ctl = t->data;

	if (ctl->geo && geo_changed(ctl->geo)) {
		log_info("geoip: the database file changed, reloading");
		load_labels(ctl, ctl->conf, false);
	}
}

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
		"IPv6 addresses go in brackets: -l [::1]:5335. Defaults: listen 127.0.0.1:5335, upstreams\n"
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

/* SO_REUSEPORT would let us share a port with another running instance without a word. Bind
 * once without it first: if that fails, someone else has the address. */
static int check_address_free(const struct addr *a, int type, char *err, size_t errlen)
{
	int fd = socket(a->u.sa.sa_family, type | SOCK_CLOEXEC, 0), one = 1;
	char as[64];

	if (fd < 0)
		return 0; /* the real open reports it */
	if (a->u.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &a->u.sa, a->len) < 0 && errno == EADDRINUSE) {
		snprintf(err, errlen, "listen %s (%s): address already in use (another jurisdns or DNS "
			 "server is running?)", addr_str(&a->u.sa, as, sizeof(as)),
			 type == SOCK_DGRAM ? "udp" : "tcp");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int open_worker_sockets(struct worker *w, const struct conf *c, char *err, size_t errlen)
{
	for (unsigned i = 0; w->idx == 0 && i < c->nlisten; i++)
		if (check_address_free(&c->listen[i], SOCK_DGRAM, err, errlen) < 0 ||
		    check_address_free(&c->listen[i], SOCK_STREAM, err, errlen) < 0)
			return -1;
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

/* A new policy from Redis: every worker takes it between two queries. */
static void dyn_apply(struct dynpol *d, void *data)
{
	struct control *ctl = data;

	dynpol_unref(ctl->dyn);
	ctl->dyn = dynpol_ref(d);
	for (unsigned i = 0; i < ctl->nworkers; i++)
		worker_set_dynpol(ctl->workers[i], d, ctl->started);
}

static void reload(struct control *ctl);

/* Block lists from Redis are checked against the groups loaded now. */
static const struct groups *dyn_groups(void *data)
{
	return ((struct control *)data)->groups;
}

static void dyn_reload(void *data)
{
	struct control *ctl = data;

	if (!ctl->stopping)
		reload(ctl);
}

/* The snapshot saved from Redis the last time, for a start while Redis is down. */
static void load_snapshot(struct control *ctl, const struct conf *c)
{
	char err[600];
	struct dynpol *d;

	if (!c->redis.address[0] || !c->redis.snapshot[0])
		return;
	if (access(c->redis.snapshot, F_OK) != 0) {
		log_info("redis policy: no snapshot at %s yet; the policy from Redis applies once it is read",
			 c->redis.snapshot);
		return;
	}
	if (!(d = dynpol_load(c->redis.snapshot, ctl->groups, err, sizeof(err)))) {
		log_warn("redis policy: snapshot not used: %s", err);
		return;
	}
	log_info("redis policy: version %llu (%u clients) from the snapshot %s, until Redis answers",
		 (unsigned long long)d->version, d->p.nclients, c->redis.snapshot);
	dyn_apply(d, ctl);
	dynpol_unref(d);
}

/* Follow Redis as c says: start, restart on a changed [redis], re-read, or stop. */
static void setup_redis(struct control *ctl, const struct conf *c)
{
	static const struct redispol_hooks hooks_tmpl = { dyn_apply, dyn_reload, NULL, dyn_groups };
	struct redispol_hooks hooks = hooks_tmpl;

	if (ctl->rpol && !redispol_conf_changed(ctl->rpol, &c->redis)) {
		redispol_refresh(ctl->rpol);
		return;
	}
	redispol_stop(ctl->rpol);
	ctl->rpol = NULL;
	if (!c->redis.address[0]) {
		if (ctl->dyn) {
			log_info("redis policy: [redis] address is gone; the policy comes from the file alone");
			dyn_apply(NULL, ctl);
		}
		return;
	}
	hooks.data = ctl;
	if (!(ctl->rpol = redispol_start(ctl->loop, &c->redis, &hooks, ctl->dyn)))
		log_err("redis policy: out of memory; the policy comes from the file alone");
}

/* The workers' tables of the last interval: merge them, give them back, flush. */
static void collect_stats(struct control *ctl)
{
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		struct worker *w = ctl->workers[i];
		for (struct stats_table *t = stats_take_all(&w->stats_done), *next; t; t = next) {
			next = t->next;
			if (ctl->stats)
				stats_sync_merge(ctl->stats, t);
			stats_table_reset(t);
			if (atomic_load(&w->exited))
				free(t);
			else
				stats_push(&w->stats_free, t);
		}
	}
	if (ctl->stats)
		stats_sync_flush(ctl->stats);
}

static void on_stats_tick(uv_timer_t *t)
{
	collect_stats(t->data);
}

static void render_metrics(struct strbuf *b, void *data)
{
	struct control *ctl = data;

	collect_stats(ctl); /* the workers' tables so far: the figures are at most an interval old */
	if (!ctl->stats)
		return;
	stats_sync_metrics(ctl->stats, b);
	struct metrics_input in = { .instance = stats_sync_instance(ctl->stats), .workers = ctl->workers,
				    .nworkers = ctl->nworkers, .cache_capacity = ctl->conf->cache_size,
				    .geo_built = ctl->geo ? (long long)geo_build_time(ctl->geo) : 0,
				    .now = (long long)time(NULL) };
	metrics_render_workers(b, &in);
}

static void setup_metrics(struct control *ctl, const struct conf *c)
{
	char err[300];
	struct addr a;

	if (!strcmp(ctl->metrics_listen, c->stats.metrics_listen) && (ctl->metrics || !c->stats.metrics_listen[0]))
		return;
	metrics_stop(ctl->metrics);
	ctl->metrics = NULL;
	snprintf(ctl->metrics_listen, sizeof(ctl->metrics_listen), "%s", c->stats.metrics_listen);
	if (!c->stats.metrics_listen[0])
		return;
	if (addr_parse(c->stats.metrics_listen, 0, &a, err, sizeof(err)) < 0 ||
	    !(ctl->metrics = metrics_start(ctl->loop, &a, render_metrics, ctl, err, sizeof(err))))
		log_err("metrics: %s; no metrics endpoint", err);
	else
		log_info("metrics: Prometheus text at http://%s/metrics", c->stats.metrics_listen);
}

static void setup_stats(struct control *ctl, const struct conf *c)
{
	bool redis = c->stats.enabled && c->redis.address[0];
	bool want = redis || c->stats.metrics_listen[0];

	uv_timer_stop(&ctl->stats_timer);
	if (ctl->stats && (!want || memcmp(&ctl->conf->redis, &c->redis, sizeof(c->redis)) ||
			   memcmp(&ctl->conf->stats, &c->stats, sizeof(c->stats)))) {
		collect_stats(ctl);
		stats_sync_stop(ctl->stats); /* flushes what it has first */
		ctl->stats = NULL;
	}
	if (want && !ctl->stats && !(ctl->stats = stats_sync_start(ctl->loop, redis ? &c->redis : NULL, &c->stats)))
		log_err("stats: out of memory; not counting");
	if (ctl->stats && ctl->geo)
		stats_sync_set_geo_age(ctl->stats, (long)((time(NULL) - geo_build_time(ctl->geo)) / 86400));
	if (want)
		uv_timer_start(&ctl->stats_timer, on_stats_tick, c->stats.interval, c->stats.interval);
	setup_metrics(ctl, c);
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
	setup_stats(ctl, c); /* compares with the running configuration */
	for (unsigned i = 0; i < ctl->nworkers; i++)
		worker_reconfigure(ctl->workers[i], c);
	conf_unref(ctl->conf);
	ctl->conf = c;
	load_labels(ctl, c, false);
	setup_qlog(ctl, c, false);
	setup_redis(ctl, c);
	uv_timer_stop(&ctl->geo_timer);
	if (c->geo_check)
		uv_timer_start(&ctl->geo_timer, on_geo_check, c->geo_check * 1000ULL, c->geo_check * 1000ULL);
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
	uv_close((uv_handle_t *)&ctl->qlog_wake, NULL);
	uv_close((uv_handle_t *)&ctl->qlog_timer, NULL);
	uv_close((uv_handle_t *)&ctl->geo_timer, NULL);
	redispol_stop(ctl->rpol);
	ctl->rpol = NULL;
	/* every worker has pushed its last table: merge, then the last flush */
	uv_close((uv_handle_t *)&ctl->stats_timer, NULL);
	metrics_stop(ctl->metrics);
	ctl->metrics = NULL;
	collect_stats(ctl);
	stats_sync_stop(ctl->stats);
	ctl->stats = NULL;
	qlog_drain_all(ctl);
}

static void close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Free what start-up built when it fails before any worker thread runs (or after they all
 * ended): workers, their sockets and rings, the log writer, snapshots and the configuration. */
static int startup_failed(struct control *ctl)
{
	for (unsigned i = 0; ctl->workers && i < ctl->nworkers; i++) {
		struct worker *w = ctl->workers[i];
		if (!w)
			continue;
		if (!w->thread_started) {
			for (unsigned k = 0; k < w->nudp; k++)
				close(w->udp_fds[k]);
			for (unsigned k = 0; k < w->ntcp_listen; k++)
				close(w->tcp_fds[k]);
			conf_unref(w->conf);
			geo_unref(atomic_exchange(&w->next_geo, NULL));
			groups_unref(atomic_exchange(&w->next_groups, NULL));
			dynpol_unref(atomic_exchange(&w->next_dyn, NULL));
		}
		if (w->qlog.buf) {
			qlog_ring_discard(&w->qlog);
			qlog_ring_free(&w->qlog);
		}
		free(w->udp_fds);
		free(w->tcp_fds);
		free(w);
	}
	free(ctl->workers);
	qlog_writer_free(ctl->qlog);
	geo_unref(ctl->geo);
	groups_unref(ctl->groups);
	oui_unref(ctl->oui);
	dynpol_unref(ctl->dyn);
	conf_unref(ctl->conf);
	if (ctl->loop) {
		uv_walk(ctl->loop, close_handle, NULL);
		uv_run(ctl->loop, UV_RUN_DEFAULT);
		uv_loop_close(ctl->loop);
	}
	return 1;
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
	bool check_only = false, show_version = false;
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
			show_version = true;
			break;
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
	/* -t speaks of problems only, unless -v asks for more */
	log_max_level = (check_only ? LOG_WARN : LOG_INFO) + verbose;
	/* From here on SIGHUP, SIGTERM and SIGINT wait for the control loop: loading a large
	 * policy takes a while, and a signal then must not take the default action (kill us).
	 * Workers inherit the mask, so only the control loop ever takes them. */
	sigset_t ctl_signals;
	sigemptyset(&ctl_signals);
	sigaddset(&ctl_signals, SIGHUP);
	sigaddset(&ctl_signals, SIGTERM);
	sigaddset(&ctl_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &ctl_signals, NULL);
	if (show_version) {
		char verr[600];
		struct conf *vc = conf_load(ctl.conf_path, &ctl.ov, RESOLV_CONF, verr, sizeof(verr));
		printf("jurisdns %s (libuv %s, libmaxminddb %s)\n", PACKAGE_VERSION, uv_version_string(),
		       MMDB_lib_version());
		if (vc && vc->geo_db[0]) {
			struct geo *g = geo_open(vc->geo_db, vc->asn_db, &vc->geo_paths, verr, sizeof(verr));
			if (g) {
				char desc[512];
				geo_describe(g, desc, sizeof(desc));
				printf("GeoIP: %s\n", desc);
				geo_unref(g);
			} else {
				printf("GeoIP: none (%s)\n", verr);
			}
		} else {
			printf("GeoIP: none%s%s\n", vc ? "" : " (", vc ? "" : verr);
		}
		conf_unref(vc);
		return 0;
	}

	ctl.conf = conf_load(ctl.conf_path, &ctl.ov, RESOLV_CONF, err, sizeof(err));
	if (!ctl.conf) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check_only) {
		int rc = startup_checks(&ctl);
		if (rc == 0)
			printf("%s: configuration is valid\n", ctl.conf_path ? ctl.conf_path : "defaults");
		geo_unref(ctl.geo);
		groups_unref(ctl.groups);
		oui_unref(ctl.oui);
		conf_unref(ctl.conf);
		return rc < 0 ? 1 : 0;
	}

	signal(SIGPIPE, SIG_IGN);
	ctl.loop = uv_default_loop();
	uv_async_init(ctl.loop, &ctl.worker_exit, on_worker_exit);
	ctl.worker_exit.data = &ctl;
	uv_async_init(ctl.loop, &ctl.qlog_wake, on_qlog_wake);
	uv_timer_init(ctl.loop, &ctl.qlog_timer);
	uv_timer_init(ctl.loop, &ctl.geo_timer);
	uv_timer_init(ctl.loop, &ctl.stats_timer);
	ctl.qlog_wake.data = ctl.qlog_timer.data = ctl.geo_timer.data = ctl.stats_timer.data = &ctl;
	if (startup_checks(&ctl) < 0 || setup_qlog(&ctl, ctl.conf, true) < 0)
		return startup_failed(&ctl);
	load_snapshot(&ctl, ctl.conf);
	ctl.nworkers = ctl.conf->workers ? ctl.conf->workers : cpu_count();
	ctl.workers = calloc(ctl.nworkers, sizeof(*ctl.workers));
	if (!ctl.workers)
		return startup_failed(&ctl);
	for (unsigned i = 0; i < ctl.nworkers; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		if (!w) {
			log_err("out of memory");
			return startup_failed(&ctl);
		}
		ctl.workers[i] = w;
		w->idx = i;
		w->nworkers = ctl.nworkers;
		w->conf = conf_ref(ctl.conf);
		w->on_exit = &ctl.worker_exit;
		w->qlog_wake = &ctl.qlog_wake;
		if (qlog_ring_init(&w->qlog, QLOG_RING) < 0) {
			log_err("out of memory");
			return startup_failed(&ctl);
		}
		worker_set_labels_initial(w, ctl.geo, ctl.groups);
		worker_set_dynpol(w, ctl.dyn, false);
		if (open_worker_sockets(w, ctl.conf, err, sizeof(err)) < 0) {
			log_err("%s", err);
			return startup_failed(&ctl);
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
			return startup_failed(&ctl);
		}
	}
	ctl.started = true;
	setup_redis(&ctl, ctl.conf);
	setup_stats(&ctl, ctl.conf);
	uv_timer_start(&ctl.qlog_timer, on_qlog_tick, QLOG_DRAIN_MS, QLOG_DRAIN_MS);
	if (ctl.conf->geo_check)
		uv_timer_start(&ctl.geo_timer, on_geo_check, ctl.conf->geo_check * 1000ULL,
			       ctl.conf->geo_check * 1000ULL);
	log_listening(&ctl);

	uv_signal_init(ctl.loop, &ctl.sighup);
	uv_signal_init(ctl.loop, &ctl.sigterm);
	uv_signal_init(ctl.loop, &ctl.sigint);
	ctl.sighup.data = ctl.sigterm.data = ctl.sigint.data = &ctl;
	uv_signal_start(&ctl.sighup, on_signal, SIGHUP);
	uv_signal_start(&ctl.sigterm, on_signal, SIGTERM);
	uv_signal_start(&ctl.sigint, on_signal, SIGINT);
	pthread_sigmask(SIG_UNBLOCK, &ctl_signals, NULL);
	uv_run(ctl.loop, UV_RUN_DEFAULT);

	for (unsigned i = 0; i < ctl.nworkers; i++)
		worker_join(ctl.workers[i]);
	qlog_drain_all(&ctl);
	qlog_writer_free(ctl.qlog);
	geo_unref(ctl.geo);
	groups_unref(ctl.groups);
	oui_unref(ctl.oui);
	dynpol_unref(ctl.dyn);
	for (unsigned i = 0; i < ctl.nworkers; i++) {
		qlog_ring_free(&ctl.workers[i]->qlog);
		free(ctl.workers[i]->udp_fds);
		free(ctl.workers[i]->tcp_fds);
		for (struct stats_table *t = stats_take_all(&ctl.workers[i]->stats_free), *next; t; t = next) {
			next = t->next;
			free(t);
		}
		free(ctl.workers[i]);
	}
	free(ctl.workers);
	conf_unref(ctl.conf);
	uv_loop_close(ctl.loop);
	log_info("stopped");
	return 0;
}
