/* web_route.c - the console's router. The path arrives raw (web.c turns libmicrohttpd's
 * unescaping off), so what the router checks is what the client sent: a static file name is
 * plain characters only, and only a device id is percent-decoded, then parsed as an address or
 * a MAC, which keeps every decoded byte from reaching a file name or a Redis key unchecked. */
#include "config.h"
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"
#include "util.h"
#include "web_route.h"

enum web_method web_method_parse(const char *method)
{
	static const struct { const char *name; enum web_method m; } names[] = {
		{ "GET", WM_GET }, { "HEAD", WM_HEAD }, { "PUT", WM_PUT }, { "POST", WM_POST },
	};

	for (size_t i = 0; method && i < sizeof(names) / sizeof(*names); i++)
		if (!strcmp(method, names[i].name))
			return names[i].m;
	return WM_OTHER;
}

/* Percent-decode len bytes of s into out (outlen with the NUL). -1 on a bad escape, a decoded
 * NUL or slash, or when it does not fit. */
static int wr_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = hex_digit(s[i + 1])) < 0 || (lo = hex_digit(s[i + 2])) < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
			if (c == '/')
				return -1;
		}
		if (c == 0 || c < 0x20 || c >= 0x7f)
			return -1;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

static int wr_mac(const char *s, size_t len, char *out, size_t outlen)
{
	unsigned b[6];

	if (len != 17)
		return -1;
	for (unsigned i = 0; i < 6; i++) {
		int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':' && s[i * 3 + 2] != '-'))
			return -1;
		if (i > 0 && s[i * 3 - 1] != s[2])
			return -1; /* one separator throughout */
		b[i] = (unsigned)(hi << 4 | lo);
	}
	snprintf(out, outlen, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return 0;
}

int web_route_device_id(const char *s, size_t len, char *out, size_t outlen)
{
	char buf[WEB_DEVICE_MAX], ip[INET6_ADDRSTRLEN], err[128];
	const char *slash;
	struct cidr cidr;
	uint8_t a[16];

	if (!len || len >= sizeof(buf) || outlen < WEB_DEVICE_MAX || memchr(s, 0, len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (wr_mac(buf, len, out, outlen) == 0)
		return 0;
	if ((slash = strchr(buf, '/'))) {
		if (cidr_parse(buf, &cidr, err, sizeof(err)) < 0)
			return -1;
		bool v4 = !memcmp(cidr.net, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) && cidr.bits >= 96 &&
			  strchr(buf, ':') == NULL;
		if (v4)
			inet_ntop(AF_INET, cidr.net + 12, ip, sizeof(ip));
		else
			inet_ntop(AF_INET6, cidr.net, ip, sizeof(ip));
		snprintf(out, outlen, "%s/%u", ip, v4 ? cidr.bits - 96u : cidr.bits);
		return 0;
	}
	if (inet_pton(AF_INET, buf, a) == 1) {
		inet_ntop(AF_INET, a, out, (socklen_t)outlen);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a) == 1) {
		if (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
			inet_ntop(AF_INET, a + 12, out, (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
		return 0;
	}
	return -1;
}

/* A static file's name: one segment of letters, digits, '-', '_' and single dots, not leading. */
static bool wr_file_name(const char *s, size_t len)
{
	if (!len || len >= WEB_FILE_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_' || c == '.';
		if (!ok || (c == '.' && i + 1 < len && s[i + 1] == '.'))
			return false;
	}
	return true;
}

static bool wr_is(const char *path, size_t len, const char *lit)
{
	return strlen(lit) == len && !memcmp(path, lit, len);
}

/* Which methods each route takes. */
static bool wr_allows(enum web_route r, enum web_method m)
{
	bool get = m == WM_GET || m == WM_HEAD;

	switch (r) {
	case WR_STATIC:
	case WR_METRICS:
	case WR_API_DEVICES:
	case WR_API_EVENTS:
		return get;
	case WR_API_ME:
	case WR_API_DEVICE:
	case WR_API_POLICY:
		return get || m == WM_PUT;
	case WR_API_LOGIN:
	case WR_API_LOGOUT:
		return m == WM_POST;
	case WR_NONE:
		break;
	}
	return false;
}

static enum web_route wr_path(const char *path, size_t len, struct web_match *m)
{
	static const struct { const char *path; enum web_route r; } fixed[] = {
		{ "/metrics", WR_METRICS }, { "/api/me", WR_API_ME }, { "/api/login", WR_API_LOGIN },
		{ "/api/logout", WR_API_LOGOUT }, { "/api/devices", WR_API_DEVICES },
		{ "/api/policy", WR_API_POLICY }, { "/api/events", WR_API_EVENTS },
	};
	static const char dev[] = "/api/devices/";
	char id[WEB_DEVICE_MAX];

	if (!len || path[0] != '/' || memchr(path, 0, len))
		return WR_NONE;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		if (wr_is(path, len, fixed[i].path))
			return fixed[i].r;
	if (len > sizeof(dev) - 1 && !memcmp(path, dev, sizeof(dev) - 1)) {
		const char *s = path + sizeof(dev) - 1;
		size_t n = len - (sizeof(dev) - 1);
		/* one raw slash is a prefix length ("10.0.0.0/24"); an encoded one is refused */
		if (wr_decode(s, n, id, sizeof(id)) < 0 ||
		    web_route_device_id(id, strlen(id), m->device, sizeof(m->device)) < 0)
			return WR_NONE;
		return WR_API_DEVICE;
	}
	if (wr_is(path, len, "/") || wr_is(path, len, "/index.html")) {
		snprintf(m->file, sizeof(m->file), "index.html");
		return WR_STATIC;
	}
	if (wr_is(path, len, "/admin") || wr_is(path, len, "/admin.html")) {
		snprintf(m->file, sizeof(m->file), "admin.html");
		return WR_STATIC;
	}
	if (wr_file_name(path + 1, len - 1)) {
		memcpy(m->file, path + 1, len - 1);
		m->file[len - 1] = 0;
		return WR_STATIC;
	}
	return WR_NONE;
}

enum web_route web_route_match(enum web_method method, const char *path, size_t pathlen,
			       struct web_match *m)
{
	memset(m, 0, sizeof(*m));
	m->route = path ? wr_path(path, pathlen, m) : WR_NONE;
	if (m->route == WR_NONE) {
		m->file[0] = m->device[0] = 0;
		m->status = method == WM_OTHER ? 405 : 404;
		return WR_NONE;
	}
	if (!wr_allows(m->route, method))
		m->status = 405;
	return m->route;
}
