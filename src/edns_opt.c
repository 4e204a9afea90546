/* edns_opt.c - keepalive and padding options on answers of stream transports (RFC 7828,
 * RFC 8467). The OPT record is found by walking the message: names are skipped, never
 * followed, so a compression loop cannot hold us. */
#include "config.h"
#include <string.h>
#include "edns_opt.h"
#include "util.h"

/* Skip a name at off; returns the offset after it or 0 when it runs past len. */
static size_t eo_skip_name(const uint8_t *m, size_t len, size_t off)
{
	for (unsigned labels = 0; off < len && labels < 128; labels++) {
		uint8_t b = m[off];
		if (b == 0)
			return off + 1;
		if ((b & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (b & 0xc0)
			return 0;
		off += 1 + (size_t)b;
	}
	return 0;
}

/* The offset of the last record's start, its type in *type, and its end in *end; 0 when the
 * message does not parse or has no record. */
static size_t eo_last_rr(const uint8_t *m, size_t len, uint16_t *type, size_t *end)
{
	size_t off = 12, last = 0;
	unsigned qd, rr;

	if (len < 12)
		return 0;
	qd = rd16(m + 4);
	rr = (unsigned)rd16(m + 6) + rd16(m + 8) + rd16(m + 10);
	for (unsigned i = 0; i < qd; i++) {
		if (!(off = eo_skip_name(m, len, off)) || off + 4 > len)
			return 0;
		off += 4;
	}
	for (unsigned i = 0; i < rr; i++) {
		size_t start = off;
		if (!(off = eo_skip_name(m, len, off)) || off + 10 > len)
			return 0;
		*type = rd16(m + off);
		size_t rdlen = rd16(m + off + 8);
		off += 10;
		if (off + rdlen > len)
			return 0;
		off += rdlen;
		last = start;
	}
	*end = off;
	return rr ? last : 0;
}

unsigned edns_opt_scan(const uint8_t *msg, size_t len)
{
	uint16_t type = 0;
	size_t end, start = eo_last_rr(msg, len, &type, &end), off;
	unsigned want = 0;

	/* the OPT of a query is its last record in practice (RFC 6891 puts it in additional) */
	if (!start || type != 41 || msg[start] != 0)
		return 0;
	off = start + 1 + 10;
	while (off + 4 <= end) {
		uint16_t code = rd16(msg + off), olen = rd16(msg + off + 2);
		if (off + 4 + olen > end)
			break;
		if (code == EDNS_OPT_KEEPALIVE)
			want |= EDNS_WANT_KEEPALIVE;
		else if (code == EDNS_OPT_PADDING)
			want |= EDNS_WANT_PADDING;
		off += 4 + (size_t)olen;
	}
	return want;
}

size_t edns_opt_append(uint8_t *msg, size_t len, size_t cap, unsigned want, uint16_t timeout_100ms,
		       size_t block)
{
	uint16_t type = 0;
	size_t end, start, n = len;

	if (!(want & (EDNS_WANT_KEEPALIVE | EDNS_WANT_PADDING)))
		return len;
	start = eo_last_rr(msg, len, &type, &end);
	if (!start || type != 41 || msg[start] != 0 || end != len)
		return len;
	if (want & EDNS_WANT_KEEPALIVE) {
		if (n + 6 > cap)
			return len;
		wr16(msg + n, EDNS_OPT_KEEPALIVE);
		wr16(msg + n + 2, 2);
		wr16(msg + n + 4, timeout_100ms);
		n += 6;
	}
	if ((want & EDNS_WANT_PADDING) && block) {
		size_t pad = (block - (n + 4) % block) % block;
		if (n + 4 + pad > cap || n + 4 + pad > 65535)
			return len;
		wr16(msg + n, EDNS_OPT_PADDING);
		wr16(msg + n + 2, (uint16_t)pad);
		memset(msg + n + 4, 0, pad);
		n += 4 + pad;
	}
	size_t rdlen_off = start + 1 + 8;
	wr16(msg + rdlen_off, (uint16_t)(rd16(msg + rdlen_off) + (n - len)));
	return n;
}
