/* web.h - the household console's HTTP server (libmicrohttpd, threads of its own): the static
 * pages embedded from src/web/, /metrics, and /api/... handed to web_api.h. One daemon per
 * [web] listen address (HTTPS with the DoT certificate when [web] tls = yes) and one more,
 * plain HTTP serving only /metrics, for [stats] metrics_listen. Only sources inside the DNS
 * ACL reach the console. Nothing here touches a worker: the host gives the configuration and
 * the metrics text through the hooks, and the live feed through a web_events ring. */
#ifndef JD_WEB_H
#define JD_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include "util.h"

struct conf;
struct web;
struct web_events;

/* What the server asks its host for; called on the server's threads. */
struct web_hooks {
	/* A reference to the configuration in force (the caller drops it with conf_unref). */
	struct conf *(*conf_get)(void *data);
	/* The Prometheus text into b. 0, or -1 when it cannot be had now (503). */
	int (*metrics)(struct strbuf *b, void *data);
	void *data;
};

/* Listen on c's [web] listen addresses and its [stats] metrics_listen, with the hooks h and the
 * live feed ev (kept by the host; it must outlive the server). NULL with "what: reason" in err
 * when a socket cannot be opened or the certificate read; NULL with err "" when c has neither
 * (nothing to serve). */
struct web *web_start(const struct conf *c, const struct web_hooks *h, struct web_events *ev,
		      char *err, size_t errlen);
/* Stop every listener and wait for the connections' threads (SSE streams end at once). NULL
 * is fine. */
void web_stop(struct web *w);
/* True when a and b differ in what web_start reads (listen addresses, tls and its certificate,
 * metrics_listen): then the server must be restarted to follow b. */
bool web_conf_changed(const struct conf *a, const struct conf *b);

#endif
