/* doh_req.c - DNS over HTTPS requests and answers as bytes (RFC 8484): the endpoint's path,
 * method, content type and body or ?dns= parameter checked in the order a client can act on
 * (404, 405, 415, then 413/400), and the answer's freshness lifetime. Bad input is normal
 * input: every read is bounds-checked and nothing is trusted. */
#include "config.h"
#include <stdbool.h>
#include <string.h>
#include "doh_req.h"

static const char doh_ctype[] = "application/dns-message";

/* 0..63 for a base64url character, -1 otherwise. */
static int doh_b64_value(uint8_t ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

long doh_base64url_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	if (n % 4 == 1)
		return -1; /* 6 bits cannot end a byte */
	for (size_t i = 0; i < n; i++) {
		int v = doh_b64_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (long)o;
}

/* The content type is application/dns-message, in any case, parameters allowed. */
static bool doh_ctype_ok(const uint8_t *t, size_t n)
{
	size_t k = sizeof(doh_ctype) - 1;

	if (!t || n < k)
		return false;
	for (size_t i = 0; i < k; i++) {
		uint8_t ch = t[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch - 'A' + 'a');
		if (ch != (uint8_t)doh_ctype[i])
			return false;
	}
	for (size_t i = k; i < n; i++) /* only whitespace, then ";" parameters */
		if (t[i] == ';')
			return true;
		else if (t[i] != ' ' && t[i] != '\t')
			return false;
	return true;
}

static bool doh_method_is(const struct doh_request *q, const char *m)
{
	size_t n = strlen(m);

	return q->method && q->method_len == n && !memcmp(q->method, m, n);
}

/* The ?dns= value of query string qs (n bytes, after the '?'): 1 found (*v, *vn), 0 not. */
static int doh_dns_param(const uint8_t *qs, size_t n, const uint8_t **v, size_t *vn)
{
	size_t i = 0;

	while (i <= n) {
		size_t e = i;
		while (e < n && qs[e] != '&')
			e++;
		if (e - i >= 4 && !memcmp(qs + i, "dns=", 4)) {
			*v = qs + i + 4;
			*vn = e - i - 4;
			return 1;
		}
		i = e + 1;
	}
	return 0;
}

int doh_req_parse(const struct doh_request *q, const char *doh_path, uint8_t *buf, size_t cap,
		  const uint8_t **msg, size_t *len)
{
	size_t plen = strlen(doh_path), qs = 0;
	const uint8_t *v;
	size_t vn;

	*msg = NULL;
	*len = 0;
	if (!q->path || q->path_len < plen || memcmp(q->path, doh_path, plen) ||
	    (q->path_len > plen && q->path[plen] != '?'))
		return 404;
	if (q->path_len > plen)
		qs = plen + 1;
	if (doh_method_is(q, "GET")) {
		if (!qs || !doh_dns_param(q->path + qs, q->path_len - qs, &v, &vn) || !vn)
			return 400;
		long n = doh_base64url_decode(v, vn, buf, cap);
		if (n <= 0)
			return 400;
		*msg = buf;
		*len = (size_t)n;
		return 200;
	}
	if (!doh_method_is(q, "POST"))
		return 405;
	if (!doh_ctype_ok(q->ctype, q->ctype_len))
		return 415;
	if (q->body_len > DOH_MAX_BODY)
		return 413;
	if (!q->body_len)
		return 400;
	*msg = q->body;
	*len = q->body_len;
	return 200;
}

/* --- the answer's lifetime --- */

/* The offset just past the name at o in msg, or 0 when it runs off the end. */
static size_t doh_skip_name(const uint8_t *msg, size_t len, size_t o)
{
	for (unsigned labels = 0; o < len && labels < 128; labels++) {
		uint8_t l = msg[o];
		if (l == 0)
			return o + 1;
		if ((l & 0xc0) == 0xc0)
			return o + 2 <= len ? o + 2 : 0;
		if (l & 0xc0)
			return 0;
		o += 1 + (size_t)l;
	}
	return 0;
}

static uint32_t doh_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t doh_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t doh_max_age(const uint8_t *msg, size_t len)
{
	size_t o = 12;
	unsigned qd, an, ns;
	uint32_t min = UINT32_MAX;

	if (len < 12)
		return 0;
	qd = doh_rd16(msg + 4);
	an = doh_rd16(msg + 6);
	ns = doh_rd16(msg + 8);
	for (unsigned i = 0; i < qd; i++) {
		if (!(o = doh_skip_name(msg, len, o)) || o + 4 > len)
			return 0;
		o += 4;
	}
	for (unsigned i = 0; i < an + (an ? 0 : ns); i++) {
		if (!(o = doh_skip_name(msg, len, o)) || o + 10 > len)
			return 0;
		uint16_t type = doh_rd16(msg + o);
		uint32_t ttl = doh_rd32(msg + o + 4);
		size_t rdlen = doh_rd16(msg + o + 8);
		o += 10;
		if (o + rdlen > len)
			return 0;
		if (i < an) {
			if (ttl < min)
				min = ttl;
		} else if (type == 6) { /* SOA: MINIMUM is the last 4 bytes of its RDATA */
			if (rdlen < 22)
				return 0;
			uint32_t minimum = doh_rd32(msg + o + rdlen - 4);
			min = ttl < minimum ? ttl : minimum;
			break;
		}
		o += rdlen;
	}
	if (min == UINT32_MAX)
		return 0;
	return min > 0x7fffffff ? 0x7fffffff : min;
}
