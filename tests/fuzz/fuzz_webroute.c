/* fuzz_webroute.c - libFuzzer target for the console's request router (web_route.h) and the
 * API's JSON body parser (web_api_parse_body, web_api.h).
 *
 * Input: byte 0 picks the method (GET, HEAD, PUT, POST, other) and the body kind; the rest up
 * to the first NUL-free '\n' is the raw path, what follows is a request body. Invariants (trap
 * on violation):
 *   - the router never reads beyond the path's length and always returns a known route;
 *   - a static file name is one plain segment: no '/', no "..", no '%', not leading '.';
 *   - a device id re-parses to itself (canonical form is a fixed point), has no '%' or control
 *     byte, and an encoded slash never routes;
 *   - the body parser never fails without a message and frees cleanly (ASan checks leaks). */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "web_api.h"
#include "web_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum web_method methods[] = { WM_GET, WM_HEAD, WM_PUT, WM_POST, WM_OTHER };
	struct web_match m;
	char again[WEB_DEVICE_MAX], err[256];

	if (size < 1)
		return 0;
	enum web_method method = methods[data[0] % 5];
	enum web_body_kind kind = (enum web_body_kind)((data[0] >> 3) % 4);
	const uint8_t *nl = memchr(data + 1, '\n', size - 1);
	size_t plen = nl ? (size_t)(nl - data - 1) : size - 1;
	/* a copy of exactly plen bytes, so that ASan catches a read past the path */
	char *path = malloc(plen ? plen : 1);
	if (!path)
		return 0;
	memcpy(path, data + 1, plen);
	enum web_route r = web_route_match(method, path, plen, &m);
	CHECK(r >= WR_NONE && r <= WR_API_EVENTS && r == m.route);
	CHECK(r != WR_NONE || m.status == 404 || m.status == 405);
	CHECK(m.status == 0 || m.status == 404 || m.status == 405);
	if (r == WR_STATIC) {
		size_t fl = strlen(m.file);
		CHECK(fl > 0 && fl < WEB_FILE_MAX && m.file[0] != '.');
		CHECK(!strchr(m.file, '/') && !strchr(m.file, '%') && !strstr(m.file, ".."));
	}
	if (r == WR_API_DEVICE) {
		size_t dl = strlen(m.device);
		CHECK(dl > 0 && !strchr(m.device, '%'));
		for (size_t i = 0; i < dl; i++)
			CHECK((unsigned char)m.device[i] > 0x20 && (unsigned char)m.device[i] < 0x7f);
		CHECK(web_route_device_id(m.device, dl, again, sizeof(again)) == 0);
		CHECK(!strcmp(again, m.device));
		for (size_t i = 0; i + 2 < plen; i++)
			CHECK(!(path[i] == '%' && path[i + 1] == '2' && (path[i + 2] | 0x20) == 'f'));
	}
	free(path);

	if (nl) {
		const uint8_t *body = nl + 1;
		size_t blen = size - (size_t)(body - data);
		uint8_t *copy = malloc(blen ? blen : 1);
		struct web_body b;
		if (!copy)
			return 0;
		memcpy(copy, body, blen);
		memset(&b, 0, sizeof(b));
		err[0] = 0;
		if (web_api_parse_body(copy, blen, kind, &b, err, sizeof(err)) < 0)
			CHECK(err[0]);
		web_api_body_free(&b);
		free(copy);
	}
	return 0;
}
