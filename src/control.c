/* control.c - the control thread. Its uv loop takes the signals (SIGHUP reloads, SIGTERM and
 * SIGINT drain and exit), reloads the configuration and the label snapshots (GeoIP, groups,
 * device vendors), follows the policy in Redis (redispol, which calls back only through its
 * hooks), drains the workers' query-log rings into the writer, merges and flushes their
 * statistics, runs the console's HTTP server (web.c: /metrics too) and feeds its live view,
 * and starts, stops and frees the workers. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "control.h"
#include "dynpol.h"
#include "geo.h"
#include "groups.h"
#include "listen.h"
#include "tls_ctx.h"
#include "log.h"
#include "metrics_text.h"
#include "oui.h"
#include "qlog_write.h"
#include "redispol.h"
#include "stats_flush.h"
#include "web.h"
#include "web_events.h"
#include "worker.h"

struct control {
	uv_loop_t *loop;
	uv_signal_t sighup, sigterm, sigint;
	uv_async_t worker_exit;
	bool stopping;
	struct conf *conf;
	const char *conf_path;
	const char *resolv_conf;
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
	struct web *web;             /* the console and /metrics; NULL when neither is configured */
	struct conf *web_conf;       /* the configuration web was started with */
	struct web_events *events;   /* the console's live feed, made with the first [web] listen */
	pthread_mutex_t conf_lock;   /* conf, as the web threads read it (control_web_conf) */
	/* /metrics is rendered here, on the control thread, for a web thread that waits */
	struct {
		pthread_mutex_t lock;
		pthread_cond_t cond;     /* CLOCK_MONOTONIC */
		uv_async_t ask;
		uint64_t asked, served;  /* requests made, and answered by the text in out */
		struct strbuf out;
		bool closed;             /* the loop is not there to answer: fail at once */
	} mb;
	struct dynpol *dyn;          /* the policy from Redis in force, NULL when none */
};

/* The refresh that changes something: the Debian libloc-database is a snapshot, so first fetch
 * the current one, then rebuild the file that jurisdns reads. */
#define GEO_REFRESH_HINT "run `location update`, then `build-mmdb --out %s` (the Debian " \
	"package does both daily: systemctl start jurisdns-geoip-update; contrib/geoip/README.md)"

#define QLOG_DRAIN_MS 100

/* One line with every address that is really listened on (quickstart prints nothing of its own). */
static void control_log_listening(const struct control *ctl)
{
	const struct conf *c = ctl->conf;
	char ls[CONF_MAX_LISTEN * 48 * LISTEN_TRANSPORTS], us[400];

	listen_describe(c, ls, sizeof(ls));
	if (c->upstream_url[0].proto != UP_PLAIN) /* encrypted: say so, with the name it must show */
		up_url_str(&c->upstream_url[0], us, sizeof(us));
	else
		addr_str(&c->upstream[0].u.sa, us, sizeof(us));
	log_info("listening on %s, %u workers, upstream %s%s%s%s%s", ls, ctl->nworkers,
		 us, c->nupstream > 1 ? " and more" : "",
		 c->upstream_from_resolv ? " (from " : "", c->upstream_from_resolv ? ctl->resolv_conf : "",
		 c->upstream_from_resolv ? ")" : "");
}

static void control_geo_report(const struct conf *c, struct geo *g)
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
static int control_load_oui(struct control *ctl, const struct conf *c, bool startup, struct oui **out)
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
static int control_load_labels(struct control *ctl, const struct conf *c, bool startup)
{
	char err[600], gpath[512];
	struct geo *g = NULL;
	struct groups *gr = NULL;
	int rc = 0;

	if (c->geo_db[0]) {
		g = geo_open(c->geo_db, c->asn_db, &c->geo_paths, err, sizeof(err));
		if (g) {
			control_geo_report(c, g);
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
	if (control_load_oui(ctl, c, startup, &ou) < 0)
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

/* A query-log record for the console's live feed: labelled ones only, while it serves. */
static void control_qlog_event(const struct qlog_rec *rec, void *data)
{
	struct control *ctl = data;
	struct web_event e;

	if (ctl->events && ctl->web && web_events_admit(ctl->events, rec) &&
	    web_events_from_qlog(rec, &e))
		web_events_push(ctl->events, &e);
}

static void control_qlog_drain(struct control *ctl)
{
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		if (!ctl->workers[i])
			continue;
		if (ctl->qlog)
			qlog_writer_drain(ctl->qlog, worker_qlog(ctl->workers[i]));
		else if (ctl->events && ctl->web)
			qlog_ring_consume(worker_qlog(ctl->workers[i]), control_qlog_event, ctl);
		else
			qlog_ring_discard(worker_qlog(ctl->workers[i]));
	}
}

static void control_on_qlog_tick(uv_timer_t *t) { control_qlog_drain(t->data); }
static void control_on_qlog_wake(uv_async_t *a) { control_qlog_drain(a->data); }

static bool control_qlog_wanted(const struct conf *c)
{
	return c->query_log[0] && c->qlog_mode != QLOG_NONE;
}

/* Open, reopen (same file: logrotate) or replace the query-log writer for c. */
static int control_setup_qlog(struct control *ctl, const struct conf *c, bool startup)
{
	char err[600];
	bool want = control_qlog_wanted(c);

	if (ctl->qlog) {
		control_qlog_drain(ctl);
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
	qlog_writer_set_tap(ctl->qlog, control_qlog_event, ctl);
	snprintf(ctl->qlog_path, sizeof(ctl->qlog_path), "%s", c->query_log);
	snprintf(ctl->qlog_key, sizeof(ctl->qlog_key), "%s", c->client_hash_key);
	ctl->qlog_id = c->client_id;
	return 0;
}

/* 0 when the directory of path takes a new file; access(2), so that nothing is created. */
static int control_dir_writable(const char *path)
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

/* The query log that control_setup_qlog opens with O_APPEND | O_CREAT, checked without creating it: an
 * existing file must open for appending, a missing one needs a directory that takes it. */
static int control_check_query_log(const struct conf *c)
{
	int fd;

	if (!control_qlog_wanted(c) || !strcmp(c->query_log, "-"))
		return 0;
	if ((fd = open(c->query_log, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT && control_dir_writable(c->query_log) == 0)
		return 0;
	log_err("query_log %s: %s", c->query_log, strerror(errno));
	return -1;
}

/* The Redis policy snapshot is saved as FILE.tmp, then renamed over FILE: its directory must
 * take new files. The built-in location is a warning only, like the default GeoIP database: a
 * system without /var/lib/jurisdns still serves, it just starts without a saved policy. */
static int control_check_snapshot_dir(const struct conf *c)
{
	if (!c->redis.address[0] || !c->redis.snapshot[0] || control_dir_writable(c->redis.snapshot) == 0)
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
/* The DNS-over-TLS context of c, when it has tls_listen addresses. make_self: start-up or
 * reload may make the self-signed certificate; -t only checks what is there. */
static int control_setup_tls(struct conf *c, bool make_self)
{
	char err[700], pin[64];

	if (!c->ntls_listen && !c->nhttps_listen && !(c->web.nlisten && c->web.tls))
		return 0; /* DoH and the console's HTTPS use the DoT certificate */
	err[0] = '\0';
	if (!(c->tls_ctx = tls_ctx_make(c, make_self, pin, sizeof(pin), err, sizeof(err)))) {
		if (!err[0])
			return 0; /* -t before the first start: no self-signed certificate yet */
		log_err("%s", err);
		return -1;
	}
	if (make_self && (c->ntls_listen || c->nhttps_listen) && !c->ddr_name_len)
		log_warn("%s without [server] ddr_name: _dns.resolver.arpa gets NODATA, so "
			 "clients do not discover DNS over TLS or HTTPS (DDR, RFC 9462)",
			 c->ntls_listen ? "tls_listen" : "https_listen");
	if (make_self)
		log_info("DNS over TLS: certificate %s, SPKI pin (sha256, base64) %s",
			 c->tls_certificate[0] ? c->tls_certificate : "self-signed, in tls_dir", pin);
	return 0;
}

static int control_startup_checks(struct control *ctl)
{
	int rc = control_load_labels(ctl, ctl->conf, true);

	/* ctl->loop is set when really starting, not for -t */
	if (control_setup_tls(ctl->conf, ctl->loop != NULL) < 0)
		rc = -1;
	if (control_check_query_log(ctl->conf) < 0)
		rc = -1;
	if (control_check_snapshot_dir(ctl->conf) < 0)
		rc = -1;
	return rc;
}

static void control_on_geo_check(uv_timer_t *t)
{
	struct control *ctl = t->data;

	if (ctl->geo && geo_changed(ctl->geo)) {
		log_info("geoip: the database file changed, reloading");
		control_load_labels(ctl, ctl->conf, false);
	}
}

/* A new policy from Redis: every worker takes it between two queries. */
static void control_dyn_apply(struct dynpol *d, void *data)
{
	struct control *ctl = data;

	dynpol_unref(ctl->dyn);
	ctl->dyn = dynpol_ref(d);
	for (unsigned i = 0; i < ctl->nworkers; i++)
		worker_set_dynpol(ctl->workers[i], d, ctl->started);
}

static void control_reload(struct control *ctl);

/* Block lists from Redis are checked against the groups loaded now. */
static const struct groups *control_dyn_groups(void *data)
{
	return ((struct control *)data)->groups;
}

static void control_dyn_reload(void *data)
{
	struct control *ctl = data;

	if (!ctl->stopping)
		control_reload(ctl);
}

/* The snapshot saved from Redis the last time, for a start while Redis is down. */
static void control_load_snapshot(struct control *ctl, const struct conf *c)
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
	control_dyn_apply(d, ctl);
	dynpol_unref(d);
}

/* Follow Redis as c says: start, restart on a changed [redis], re-read, or stop. */
static void control_setup_redis(struct control *ctl, const struct conf *c)
{
	static const struct redispol_hooks hooks_tmpl = { control_dyn_apply, control_dyn_reload, NULL,
							  control_dyn_groups };
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
			control_dyn_apply(NULL, ctl);
		}
		return;
	}
	hooks.data = ctl;
	if (!(ctl->rpol = redispol_start(ctl->loop, &c->redis, &hooks, ctl->dyn)))
		log_err("redis policy: out of memory; the policy comes from the file alone");
}

/* The workers' tables of the last interval: merge them, give them back, flush. */
static void control_collect_stats(struct control *ctl)
{
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		for (struct stats_table *t = worker_take_stats(ctl->workers[i]), *next; t; t = next) {
			next = t->next;
			if (ctl->stats)
				stats_sync_merge(ctl->stats, t);
			stats_table_reset(t);
			worker_give_stats(ctl->workers[i], t);
		}
	}
	if (ctl->stats)
		stats_sync_flush(ctl->stats);
}

static void control_on_stats_tick(uv_timer_t *t)
{
	control_collect_stats(t->data);
}

static void control_render_metrics(struct strbuf *b, void *data)
{
	struct control *ctl = data;

	control_collect_stats(ctl); /* the workers' tables so far: the figures are at most an interval old */
	if (!ctl->stats)
		return;
	stats_sync_metrics(ctl->stats, b);
	struct metrics_input in = { .instance = stats_sync_instance(ctl->stats), .workers = ctl->workers,
				    .nworkers = ctl->nworkers, .cache_capacity = ctl->conf->cache_size,
				    .geo_built = ctl->geo ? (long long)geo_build_time(ctl->geo) : 0,
				    .now = (long long)time(NULL) };
	metrics_render_workers(b, &in);
}

/* web hook, on a web thread: a reference to the configuration in force. */
static struct conf *control_web_conf(void *data)
{
	struct control *ctl = data;

	pthread_mutex_lock(&ctl->conf_lock);
	struct conf *c = conf_ref(ctl->conf);
	pthread_mutex_unlock(&ctl->conf_lock);
	return c;
}

/* web hook, on a web thread: ask the control loop for the metrics text and wait up to 3 s.
 * The stats live on the control thread, so it is the one that renders them. */
static int control_web_metrics(struct strbuf *b, void *data)
{
	struct control *ctl = data;
	struct timespec until;
	int rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 3;
	pthread_mutex_lock(&ctl->mb.lock);
	if (!ctl->mb.closed) {
		uint64_t mine = ++ctl->mb.asked;
		uv_async_send(&ctl->mb.ask);
		while (ctl->mb.served < mine && !ctl->mb.closed)
			if (pthread_cond_timedwait(&ctl->mb.cond, &ctl->mb.lock, &until) == ETIMEDOUT)
				break;
		if (ctl->mb.served >= mine) {
			sb_put(b, ctl->mb.out.s ? ctl->mb.out.s : "", ctl->mb.out.len);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&ctl->mb.lock);
	return rc;
}

/* On the control loop: render once for every request made so far. */
static void control_on_metrics_ask(uv_async_t *a)
{
	struct control *ctl = a->data;
	struct strbuf b = { 0 };

	pthread_mutex_lock(&ctl->mb.lock);
	uint64_t target = ctl->mb.asked;
	pthread_mutex_unlock(&ctl->mb.lock);
	if (target == ctl->mb.served)
		return;
	control_render_metrics(&b, ctl);
	pthread_mutex_lock(&ctl->mb.lock);
	sb_free(&ctl->mb.out);
	ctl->mb.out = b;
	ctl->mb.served = target;
	pthread_cond_broadcast(&ctl->mb.cond);
	pthread_mutex_unlock(&ctl->mb.lock);
}

/* Stop the server; a web thread waiting for metrics gives up at once (the control thread,
 * which would answer it, waits here for that thread). */
static void control_web_stop(struct control *ctl)
{
	if (!ctl->web)
		return;
	pthread_mutex_lock(&ctl->mb.lock);
	ctl->mb.closed = true;
	pthread_cond_broadcast(&ctl->mb.cond);
	pthread_mutex_unlock(&ctl->mb.lock);
	web_stop(ctl->web);
	ctl->web = NULL;
	pthread_mutex_lock(&ctl->mb.lock);
	ctl->mb.closed = false;
	ctl->mb.served = ctl->mb.asked;
	pthread_mutex_unlock(&ctl->mb.lock);
}

/* Start, restart (changed listeners or certificate) or stop the console and /metrics for c. */
static void control_setup_web(struct control *ctl, struct conf *c)
{
	static const struct web_hooks hooks_tmpl = { control_web_conf, control_web_metrics, NULL };
	struct web_hooks hooks = hooks_tmpl;
	char err[700];

	if (ctl->web_conf && !web_conf_changed(ctl->web_conf, c) && (ctl->web || (!c->web.nlisten &&
	    !c->stats.metrics_listen[0])))
		return;
	control_web_stop(ctl);
	conf_unref(ctl->web_conf);
	ctl->web_conf = conf_ref(c);
	if (c->web.nlisten && !ctl->events && !(ctl->events = web_events_new()))
		log_err("web: out of memory; the console shows no live queries");
	hooks.data = ctl;
	if (!(ctl->web = web_start(c, &hooks, ctl->events, err, sizeof(err)))) {
		if (err[0])
			log_err("web: %s; no console%s", err, c->stats.metrics_listen[0] ? " and no metrics endpoint" : "");
		return;
	}
	for (unsigned i = 0; i < c->web.nlisten; i++) {
		char as[64];
		log_info("web: the console at %s://%s/", c->web.tls ? "https" : "http",
			 addr_str(&c->web.listen[i].u.sa, as, sizeof(as)));
	}
	if (c->stats.metrics_listen[0])
		log_info("metrics: Prometheus text at http://%s/metrics", c->stats.metrics_listen);
}

static void control_setup_stats(struct control *ctl, struct conf *c)
{
	bool redis = c->stats.enabled && c->redis.address[0];
	bool want = redis || c->stats.metrics_listen[0];

	uv_timer_stop(&ctl->stats_timer);
	if (ctl->stats && (!want || memcmp(&ctl->conf->redis, &c->redis, sizeof(c->redis)) ||
			   memcmp(&ctl->conf->stats, &c->stats, sizeof(c->stats)))) {
		control_collect_stats(ctl);
		stats_sync_stop(ctl->stats); /* flushes what it has first */
		ctl->stats = NULL;
	}
	if (want && !ctl->stats && !(ctl->stats = stats_sync_start(ctl->loop, redis ? &c->redis : NULL, &c->stats)))
		log_err("stats: out of memory; not counting");
	if (ctl->stats && ctl->geo)
		stats_sync_set_geo_age(ctl->stats, (long)((time(NULL) - geo_build_time(ctl->geo)) / 86400));
	if (want)
		uv_timer_start(&ctl->stats_timer, control_on_stats_tick, c->stats.interval, c->stats.interval);
}

static void control_reload(struct control *ctl)
{
	char err[512];
	struct conf *c = conf_load(ctl->conf_path, &ctl->ov, ctl->resolv_conf, err, sizeof(err));

	if (!c) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if (control_setup_tls(c, true) < 0) {
		log_err("reload failed, keeping the running configuration and certificate");
		conf_unref(c);
		return;
	}
	if (!listen_same(ctl->conf, c) || ctl->conf->workers != c->workers)
		log_warn("reload: listen addresses and workers change only on restart");
	control_setup_stats(ctl, c); /* compares with the running configuration */
	control_setup_web(ctl, c);
	for (unsigned i = 0; i < ctl->nworkers; i++)
		worker_reconfigure(ctl->workers[i], c);
	pthread_mutex_lock(&ctl->conf_lock);
	conf_unref(ctl->conf);
	ctl->conf = c;
	pthread_mutex_unlock(&ctl->conf_lock);
	control_load_labels(ctl, c, false);
	control_setup_qlog(ctl, c, false);
	control_setup_redis(ctl, c);
	uv_timer_stop(&ctl->geo_timer);
	if (c->geo_check)
		uv_timer_start(&ctl->geo_timer, control_on_geo_check, c->geo_check * 1000ULL, c->geo_check * 1000ULL);
	log_info("reloaded %s (%u upstreams)", c->path ? c->path : "defaults", c->nupstream);
}

static void control_on_signal(uv_signal_t *h, int signum)
{
	struct control *ctl = h->data;

	if (ctl->stopping) {
		log_info("signal %d: already finishing queries in flight", signum);
		return;
	}
	if (signum == SIGHUP) {
		control_reload(ctl);
		return;
	}
	log_info("signal %d: finishing queries in flight, then exiting", signum);
	ctl->stopping = true;
	for (unsigned i = 0; i < ctl->nworkers; i++)
		worker_stop(ctl->workers[i]);
}

/* A worker thread has ended; when all have, stop watching signals and leave the loop. */
static void control_on_worker_exit(uv_async_t *h)
{
	struct control *ctl = h->data;

	for (unsigned i = 0; i < ctl->nworkers; i++)
		if (!worker_exited(ctl->workers[i]))
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
	control_web_stop(ctl);
	ctl->mb.closed = true; /* no web thread is left to ask */
	uv_close((uv_handle_t *)&ctl->mb.ask, NULL);
	control_collect_stats(ctl);
	stats_sync_stop(ctl->stats);
	ctl->stats = NULL;
	control_qlog_drain(ctl);
}

static void control_close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Free what start-up built when it fails before any worker thread runs (or after they all
 * ended): workers, their sockets and rings, the log writer, snapshots and the configuration. */
static int control_startup_failed(struct control *ctl)
{
	control_web_stop(ctl);
	conf_unref(ctl->web_conf);
	web_events_free(ctl->events);
	for (unsigned i = 0; ctl->workers && i < ctl->nworkers; i++)
		worker_free(ctl->workers[i]);
	free(ctl->workers);
	qlog_writer_free(ctl->qlog);
	geo_unref(ctl->geo);
	groups_unref(ctl->groups);
	oui_unref(ctl->oui);
	dynpol_unref(ctl->dyn);
	conf_unref(ctl->conf);
	if (ctl->loop) {
		uv_walk(ctl->loop, control_close_handle, NULL);
		uv_run(ctl->loop, UV_RUN_DEFAULT);
		uv_loop_close(ctl->loop);
	}
	return 1;
}


static unsigned control_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static void control_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

void control_block_signals(void)
{
	sigset_t set;

	control_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int control_check(struct conf *c)
{
	struct control ctl = { .conf = c };
	int rc = control_startup_checks(&ctl);

	geo_unref(ctl.geo);
	groups_unref(ctl.groups);
	oui_unref(ctl.oui);
	return rc;
}

/* Workers, each with its query-log ring, snapshots and listener sockets, not started yet. */
static int control_build_workers(struct control *ctl)
{
	char err[512];

	ctl->nworkers = ctl->conf->workers ? ctl->conf->workers : control_cpu_count();
	if (!(ctl->workers = calloc(ctl->nworkers, sizeof(*ctl->workers))))
		return -1;
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		struct worker *w = worker_new(i, ctl->nworkers, ctl->conf, &ctl->worker_exit, &ctl->qlog_wake);
		struct listen_set ls;
		if (!w) {
			log_err("out of memory");
			return -1;
		}
		ctl->workers[i] = w;
		worker_set_labels_initial(w, ctl->geo, ctl->groups);
		worker_set_dynpol(w, ctl->dyn, false);
		if (listen_open(ctl->conf, i == 0, &ls, err, sizeof(err)) < 0) {
			log_err("%s", err);
			return -1;
		}
		worker_set_listeners(w, &ls);
	}
	return 0;
}

/* Start every worker thread; when one fails, stop and join those that run. */
static int control_start_workers(struct control *ctl)
{
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		int rc = worker_start(ctl->workers[i]);
		if (rc < 0) {
			log_err("worker %u failed to start: %s", i, uv_strerror(rc));
			for (unsigned j = 0; j < i; j++) {
				worker_stop(ctl->workers[j]);
				worker_join(ctl->workers[j]);
			}
			worker_join(ctl->workers[i]);
			return -1;
		}
	}
	return 0;
}

int control_run(struct conf *c, const char *conf_path, const struct conf_overrides *ov,
		const char *resolv_conf)
{
	struct control ctl = { .conf = c, .conf_path = conf_path, .ov = *ov, .resolv_conf = resolv_conf };
	sigset_t signals;

	signal(SIGPIPE, SIG_IGN);
	ctl.loop = uv_default_loop();
	uv_async_init(ctl.loop, &ctl.worker_exit, control_on_worker_exit);
	ctl.worker_exit.data = &ctl;
	uv_async_init(ctl.loop, &ctl.qlog_wake, control_on_qlog_wake);
	uv_timer_init(ctl.loop, &ctl.qlog_timer);
	uv_timer_init(ctl.loop, &ctl.geo_timer);
	uv_timer_init(ctl.loop, &ctl.stats_timer);
	ctl.qlog_wake.data = ctl.qlog_timer.data = ctl.geo_timer.data = ctl.stats_timer.data = &ctl;
	pthread_mutex_init(&ctl.conf_lock, NULL);
	pthread_mutex_init(&ctl.mb.lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctl.mb.cond, &ca);
	pthread_condattr_destroy(&ca);
	uv_async_init(ctl.loop, &ctl.mb.ask, control_on_metrics_ask);
	ctl.mb.ask.data = &ctl;
	if (control_startup_checks(&ctl) < 0 || control_setup_qlog(&ctl, ctl.conf, true) < 0)
		return control_startup_failed(&ctl);
	control_load_snapshot(&ctl, ctl.conf);
	if (control_build_workers(&ctl) < 0)
		return control_startup_failed(&ctl);
	/* the console and /metrics listen before the first DNS answer: whoever saw jurisdns answer
	 * can scrape it (a request waits for the loop, which runs below) */
	control_setup_web(&ctl, ctl.conf);
	if (control_start_workers(&ctl) < 0)
		return control_startup_failed(&ctl);
	ctl.started = true;
	control_setup_redis(&ctl, ctl.conf);
	control_setup_stats(&ctl, ctl.conf);
	uv_timer_start(&ctl.qlog_timer, control_on_qlog_tick, QLOG_DRAIN_MS, QLOG_DRAIN_MS);
	if (ctl.conf->geo_check)
		uv_timer_start(&ctl.geo_timer, control_on_geo_check, ctl.conf->geo_check * 1000ULL,
			       ctl.conf->geo_check * 1000ULL);
	control_log_listening(&ctl);

	uv_signal_init(ctl.loop, &ctl.sighup);
	uv_signal_init(ctl.loop, &ctl.sigterm);
	uv_signal_init(ctl.loop, &ctl.sigint);
	ctl.sighup.data = ctl.sigterm.data = ctl.sigint.data = &ctl;
	uv_signal_start(&ctl.sighup, control_on_signal, SIGHUP);
	uv_signal_start(&ctl.sigterm, control_on_signal, SIGTERM);
	uv_signal_start(&ctl.sigint, control_on_signal, SIGINT);
	control_signal_set(&signals);
	pthread_sigmask(SIG_UNBLOCK, &signals, NULL);
	uv_run(ctl.loop, UV_RUN_DEFAULT);

	for (unsigned i = 0; i < ctl.nworkers; i++)
		worker_join(ctl.workers[i]);
	control_qlog_drain(&ctl);
	qlog_writer_free(ctl.qlog);
	geo_unref(ctl.geo);
	groups_unref(ctl.groups);
	oui_unref(ctl.oui);
	dynpol_unref(ctl.dyn);
	for (unsigned i = 0; i < ctl.nworkers; i++)
		worker_free(ctl.workers[i]);
	free(ctl.workers);
	conf_unref(ctl.web_conf);
	web_events_free(ctl.events);
	sb_free(&ctl.mb.out);
	conf_unref(ctl.conf);
	uv_loop_close(ctl.loop);
	log_info("stopped");
	return 0;
}
