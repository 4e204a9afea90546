/* web_route.h - the household console's request router: a method and a raw request path (not
 * percent-decoded) to a route, a static file name or a device id. Pure: no I/O, no state, so it
 * is fuzzed (tests/fuzz/fuzz_webroute.c). Every path it does not know is WR_NONE (404). */
#ifndef JD_WEB_ROUTE_H
#define JD_WEB_ROUTE_H

#include <stddef.h>

enum web_route {
	WR_NONE = 0,                 /* 404 */
	WR_STATIC,                   /* an embedded file of src/web/ */
	WR_METRICS,                  /* /metrics */
	WR_API_ME,                   /* /api/me */
	WR_API_LOGIN,                /* /api/login */
	WR_API_LOGOUT,               /* /api/logout */
	WR_API_DEVICES,              /* /api/devices */
	WR_API_DEVICE,               /* /api/devices/{id} */
	WR_API_POLICY,               /* /api/policy */
	WR_API_EVENTS,               /* /api/events */
};

enum web_method { WM_OTHER = 0, WM_GET, WM_HEAD, WM_PUT, WM_POST };

#define WEB_FILE_MAX 64              /* a static file name, NUL included */
#define WEB_DEVICE_MAX 128           /* a device id, NUL included */

struct web_match {
	enum web_route route;
	int status;                  /* 0: routed; else 404 or 405 */
	char file[WEB_FILE_MAX];     /* WR_STATIC: "index.html", "app.js" */
	char device[WEB_DEVICE_MAX]; /* WR_API_DEVICE: canonical client id (IP, CIDR or MAC) */
};

/* The method of a request line ("GET", "HEAD", "PUT", "POST"; WM_OTHER for any other). */
enum web_method web_method_parse(const char *method);

/* Route method and the pathlen bytes of path (the part before '?', as the client sent it).
 * Fills m; returns m->route (WR_NONE with m->status 404, or the route with m->status 405 when
 * the method is not one the route takes). NUL bytes, "..", percent-encoded bytes outside a
 * device id, encoded slashes and empty segments are all 404. */
enum web_route web_route_match(enum web_method method, const char *path, size_t pathlen,
			       struct web_match *m);

/* Canonical client id of the len bytes of s (already decoded): an IPv4 or IPv6 address as
 * inet_ntop writes it, "ADDR/BITS" for a prefix, a MAC as "aa:bb:cc:dd:ee:ff". Returns 0 and
 * the text in out (>= WEB_DEVICE_MAX), or -1 when s is none of them. */
int web_route_device_id(const char *s, size_t len, char *out, size_t outlen);

#endif
