/* fuzz_doh.c - libFuzzer target for the DoH request parser and answer lifetime (doh_req.h).
 *
 * The input is split at its first two NUL bytes into the method, the :path and the rest; the
 * rest is the body, and its first byte picks the content type (odd: application/dns-message,
 * with parameters when it is 3 mod 4; even: text/plain; 0: none). Invariants, trapping on
 * violation:
 *   - the status is one of 200, 400, 404, 405, 413, 415;
 *   - 200 gives a message inside the body (POST) or the decode buffer (GET), never empty,
 *     never longer than 65535; any other status gives none;
 *   - a GET's message is the base64url decoding of the dns parameter, and encoding it again
 *     gives the same text back (no padding, canonical);
 *   - doh_max_age never reads out of bounds (ASan) on the body taken as an answer.
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_doh */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "doh_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode in (n bytes) without padding into out; its length. */
static size_t fz_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[65536];
	static char enc[90000];
	const uint8_t *nul1 = memchr(data, 0, size), *nul2;
	struct doh_request q = { 0 };
	const uint8_t *msg;
	size_t len;

	if (!nul1)
		return 0;
	nul2 = memchr(nul1 + 1, 0, size - (size_t)(nul1 + 1 - data));
	if (!nul2)
		return 0;
	q.method = data;
	q.method_len = (size_t)(nul1 - data);
	q.path = nul1 + 1;
	q.path_len = (size_t)(nul2 - nul1 - 1);
	q.body = nul2 + 1;
	q.body_len = size - (size_t)(nul2 + 1 - data);
	if (q.body_len) {
		uint8_t sel = q.body[0];
		if (sel & 1) {
			q.ctype = (const uint8_t *)((sel & 3) == 3 ? "Application/DNS-Message; x=1"
								     : "application/dns-message");
			q.ctype_len = strlen((const char *)q.ctype);
		} else if (sel) {
			q.ctype = (const uint8_t *)"text/plain";
			q.ctype_len = 10;
		}
	}
	int st = doh_req_parse(&q, DOH_DEFAULT_PATH, buf, sizeof(buf), &msg, &len);
	CHECK(st == 200 || st == 400 || st == 404 || st == 405 || st == 413 || st == 415);
	if (st != 200) {
		CHECK(!msg && !len);
	} else {
		CHECK(msg && len > 0 && len <= DOH_MAX_BODY);
		if (msg == q.body) {
			CHECK(q.method_len == 4 && !memcmp(q.method, "POST", 4) && len == q.body_len);
		} else {
			CHECK(msg == buf && q.method_len == 3 && !memcmp(q.method, "GET", 3));
			/* the dns parameter decodes to msg, and msg encodes back to it */
			const uint8_t *v = NULL;
			size_t vn = 0;
			const uint8_t *qs = memchr(q.path, '?', q.path_len);
			size_t i = qs ? (size_t)(qs - q.path) + 1 : q.path_len;
			while (i < q.path_len && !v) {
				size_t e = i;
				while (e < q.path_len && q.path[e] != '&')
					e++;
				if (e - i >= 4 && !memcmp(q.path + i, "dns=", 4)) {
					v = q.path + i + 4;
					vn = e - i - 4;
				}
				i = e + 1;
			}
			CHECK(v && vn);
			size_t en = fz_encode(msg, len, enc);
			/* leftover bits may be non-zero in the input, so compare all but the last char */
			CHECK(en == vn && (en == 0 || !memcmp(enc, v, en - 1)));
		}
		(void)doh_max_age(msg, len);
	}
	(void)doh_max_age(q.body, q.body_len);
	return 0;
}
