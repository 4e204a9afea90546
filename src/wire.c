/* wire.c - DNS message parsing and writing with explicit bounds on every read.
 * Input from the network is hostile: every length is checked before it is used. */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "util.h"
#include "wire.h"

/* Built at compile time: ASCII 'A'..'Z' to 'a'..'z', every other byte to itself. */
#define LOW1(c) ((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c))
#define LOW4(c) LOW1(c), LOW1((c) + 1), LOW1((c) + 2), LOW1((c) + 3)
#define LOW16(c) LOW4(c), LOW4((c) + 4), LOW4((c) + 8), LOW4((c) + 12)
#define LOW64(c) LOW16(c), LOW16((c) + 16), LOW16((c) + 32), LOW16((c) + 48)
const uint8_t wire_lower_tab[256] = { LOW64(0), LOW64(64), LOW64(128), LOW64(192) };

static inline uint8_t lower(uint8_t c) { return wire_lower_tab[c]; }

void wire_name_lower(uint8_t *name, size_t len)
{
	for (size_t i = 0; i < len; i++)
		name[i] = lower(name[i]);
}

bool wire_name_equal_nocase(const uint8_t *a, const uint8_t *b, size_t len)
{
	/* one loop, no branch on the byte's kind: the table leaves length octets (0..63) and every
	 * other non-letter as they are, so they must match exactly */
	for (size_t i = 0; i < len; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* Skip a possibly compressed name. Returns the offset after it, or -1. The one walk over
 * compressed names: the name is read whole, so a pointer loop or a pointer to garbage is
 * caught here too. */
static int name_skip(const uint8_t *pkt, size_t len, size_t off)
{
	uint8_t scratch[DNS_MAX_NAME];
	size_t next;

	if (wire_name_unpack(pkt, len, off, scratch, &next) < 0)
		return -1;
	return (int)next;
}

/* Read an uncompressed name (as in a question). Returns its wire length, or -1. */
static int name_plain(const uint8_t *pkt, size_t len, size_t off)
{
	size_t start = off;

	for (;;) {
		if (off >= len)
			return -1;
		uint8_t l = pkt[off];
		if (l & 0xc0)
			return -1;
		off += (size_t)l + 1;
		if (off - start > DNS_MAX_NAME)
			return -1;
		if (l == 0)
			return (int)(off - start);
	}
}

/* The offset after the question at DNS_HDR when it is qname (any case), qtype, qclass; else -1. */
static int question_end(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qname_len,
			uint16_t qtype, uint16_t qclass)
{
	size_t off = DNS_HDR;
	int n = name_plain(pkt, len, off);

	if (n != qname_len || off + (size_t)n + 4 > len ||
	    !wire_name_equal_nocase(pkt + off, qname, qname_len))
		return -1;
	off += (size_t)n;
	if (rd16(pkt + off) != qtype || rd16(pkt + off + 2) != qclass)
		return -1;
	return (int)(off + 4);
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

int wire_parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	uint8_t m[6];

	if (len != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		int hi = hexval((uint8_t)s[i * 3]), lo = hexval((uint8_t)s[i * 3 + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
			return -1;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, 6);
	return 0;
}

static int b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* dnsmasq --add-mac=base64: the 6 bytes as 8 characters of the standard alphabet, no padding
 * (6 bytes need none). */
static int parse_mac_base64(const uint8_t *v, uint8_t mac[6])
{
	uint32_t acc[2] = { 0, 0 };

	for (int i = 0; i < 8; i++) {
		int d = b64val(v[i]);
		if (d < 0)
			return -1;
		acc[i / 4] = acc[i / 4] << 6 | (uint32_t)d;
	}
	for (int h = 0; h < 2; h++) {
		mac[h * 3] = (uint8_t)(acc[h] >> 16);
		mac[h * 3 + 1] = (uint8_t)(acc[h] >> 8);
		mac[h * 3 + 2] = (uint8_t)acc[h];
	}
	return 0;
}

/* One MAC option: 65001 carries the 6 bytes (or, as some tools send it, the text form), 65073
 * the base64 or the text form. A value of any other shape means no MAC, even when an earlier
 * option had one: the last option is the one the forwarder added. */
static void parse_mac_option(uint16_t code, const uint8_t *v, size_t len, struct dns_query *q)
{
	uint8_t mac[6];
	bool ok;

	if (code == EDNS_OPT_MAC && len == 6) {
		memcpy(mac, v, 6);
		ok = true;
	} else if (code == EDNS_OPT_DEVICE_ID && len == 8) {
		ok = parse_mac_base64(v, mac) == 0;
	} else {
		ok = wire_parse_mac((const char *)v, len, mac) == 0;
	}
	q->has_mac = ok;
	if (ok)
		memcpy(q->mac, mac, 6);
}

int wire_parse_query(const uint8_t *pkt, size_t len, struct dns_query *q)
{
	size_t off = DNS_HDR;
	uint16_t qd, an, ns, ar;
	int n;

	q->question_end = 0;
	q->qname_len = 0;
	q->edns = false;
	q->edns_do = false;
	q->edns_version = 0;
	q->edns_udp_size = 0;
	q->has_mac = false;
	q->qtype = q->qclass = 0;
	if (len < DNS_HDR)
		return -1;
	q->id = rd16(pkt);
	q->flags = rd16(pkt + 2);
	if (q->flags & F_QR)
		return -1;
	qd = rd16(pkt + 4);
	an = rd16(pkt + 6);
	ns = rd16(pkt + 8);
	ar = rd16(pkt + 10);
	if (qd != 1)
		return F_OPCODE(q->flags) ? RCODE_NOTIMP : RCODE_FORMERR;

	n = name_plain(pkt, len, off);
	if (n < 0 || off + (size_t)n + 4 > len)
		return RCODE_FORMERR;
	memcpy(q->qname, pkt + off, (size_t)n);
	q->qname_len = (uint16_t)n;
	off += (size_t)n;
	q->qtype = rd16(pkt + off);
	q->qclass = rd16(pkt + off + 2);
	off += 4;
	q->question_end = (uint16_t)off;

	if (F_OPCODE(q->flags) != 0)
		return RCODE_NOTIMP;
	if (an || ns)
		return RCODE_FORMERR;

	/* Additional section: at most one OPT; other records (TSIG...) are skipped. */
	for (unsigned i = 0; i < ar; i++) {
		int end = name_skip(pkt, len, off);
		if (end < 0 || (size_t)end + 10 > len)
			return RCODE_FORMERR;
		const uint8_t *rr = pkt + end;
		uint16_t type = rd16(rr), rdlen = rd16(rr + 8);
		size_t rdata = (size_t)end + 10;
		if (rdata + rdlen > len)
			return RCODE_FORMERR;
		if (type == TYPE_OPT) {
			if (q->edns || end != (int)off + 1 || pkt[off] != 0)
				return RCODE_FORMERR; /* second OPT, or OPT not at the root */
			for (size_t o = rdata; o < rdata + rdlen;) {
				if (o + 4 > rdata + rdlen || o + 4 + rd16(pkt + o + 2) > rdata + rdlen)
					return RCODE_FORMERR;
				uint16_t code = rd16(pkt + o);
				if (code == EDNS_OPT_MAC || code == EDNS_OPT_DEVICE_ID)
					parse_mac_option(code, pkt + o + 4, rd16(pkt + o + 2), q);
				o += 4 + rd16(pkt + o + 2);
			}
			q->edns = true;
			q->edns_udp_size = rd16(rr + 2);
			q->edns_version = rr[5];
			q->edns_do = (rd16(rr + 6) & EDNS_DO) != 0;
		}
		off = rdata + rdlen;
	}
	if (q->edns && q->edns_version > 0)
		return RCODE_BADVERS;
	if (q->qtype == TYPE_AXFR || q->qtype == TYPE_IXFR)
		return RCODE_REFUSED; /* zone transfers are not forwarded */
	if (q->qtype == TYPE_MAILA || q->qtype == TYPE_MAILB || q->qtype == TYPE_OPT)
		return RCODE_NOTIMP;
	if (q->qclass != 1)
		return RCODE_REFUSED; /* only class IN is forwarded */
	return RCODE_NOERROR;
}

size_t wire_query_key(const struct dns_query *q, uint8_t *key)
{
	size_t n = q->qname_len;

	for (size_t i = 0; i < n; i++)
		key[i] = lower(q->qname[i]);
	wr16(key + n, q->qtype);
	wr16(key + n + 2, q->qclass);
	key[n + 4] = (uint8_t)((q->edns_do ? KEY_DO : 0) | ((q->flags & F_CD) ? KEY_CD : 0) |
			       ((q->flags & F_RD) ? KEY_RD : 0));
	return n + 5;
}

size_t wire_write_opt(uint8_t *out, uint16_t udp_size, int rcode, bool edns_do)
{
	out[0] = 0;
	wr16(out + 1, TYPE_OPT);
	wr16(out + 3, udp_size);
	out[5] = (uint8_t)(rcode >> 4);
	out[6] = 0;
	wr16(out + 7, edns_do ? EDNS_DO : 0);
	wr16(out + 9, 0);
	return 11;
}

const char *const wire_ede_text[EDE_TEXTS] = {
	[EDE_TEXT_TIMEOUT] = "no upstream answered in time",
	[EDE_TEXT_UNREACHABLE] = "no upstream reachable",
	[EDE_TEXT_CERT] = "upstream TLS certificate refused",
};

size_t wire_add_ede(uint8_t *out, size_t opt, size_t len, uint16_t code, const char *text, size_t tl)
{
	wr16(out + len, 15); /* EDNS option: Extended DNS Error */
	wr16(out + len + 2, (uint16_t)(2 + tl));
	wr16(out + len + 4, code);
	memcpy(out + len + 6, text, tl);
	wr16(out + opt + 9, (uint16_t)(rd16(out + opt + 9) + 6 + tl)); /* the OPT's RDLENGTH */
	return len + 6 + tl;
}

size_t wire_write_head(uint8_t *out, uint16_t id, uint16_t flags, const uint8_t *qname,
		       uint16_t qname_len, uint16_t qtype, uint16_t qclass)
{
	size_t off = DNS_HDR;

	wr16(out, id);
	wr16(out + 2, flags);
	wr16(out + 4, 1);
	memset(out + 6, 0, 6);
	memcpy(out + off, qname, qname_len);
	off += qname_len;
	wr16(out + off, qtype);
	wr16(out + off + 2, qclass);
	return off + 4;
}

size_t wire_write_error(const struct dns_query *q, int rcode, uint16_t our_udp_size, uint8_t *out)
{
	size_t off = DNS_HDR;
	uint16_t flags = (uint16_t)(F_QR | (q->flags & (0x7800 | F_RD | F_CD)) | F_RA | (rcode & 0xf));

	if (q->question_end) {
		off = wire_write_head(out, q->id, flags, q->qname, q->qname_len, q->qtype, q->qclass);
	} else {
		wr16(out, q->id);
		wr16(out + 2, flags);
		memset(out + 4, 0, 8);
	}
	/* An OPT only when the client's OPT was understood (RFC 6891 7: not on FORMERR for it). */
	if (q->edns && (rcode != RCODE_FORMERR || q->question_end)) {
		off += wire_write_opt(out + off, our_udp_size, rcode, q->edns_do);
		wr16(out + 10, 1);
	}
	return off;
}

size_t wire_write_query(uint8_t *out, uint16_t id, const uint8_t *qname, uint16_t qname_len,
			uint16_t qtype, uint16_t qclass, uint16_t flags, bool edns_do, uint16_t udp_size)
{
	size_t off = wire_write_head(out, id, flags & (F_RD | F_CD), qname, qname_len, qtype, qclass);

	off += wire_write_opt(out + off, udp_size, 0, edns_do);
	wr16(out + 10, 1);
	return off;
}

int wire_parse_answer(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qname_len,
		      uint16_t qtype, uint16_t qclass, struct dns_answer *a, uint16_t *ttl_off,
		      size_t ttl_cap)
{
	size_t off;
	int n;

	memset(a, 0, sizeof(*a));
	a->min_ttl = UINT32_MAX;
	if (len < DNS_HDR || len > DNS_MAX_MSG)
		return -1;
	a->id = rd16(pkt);
	a->flags = rd16(pkt + 2);
	a->rcode = a->flags & 0xf;
	a->qdcount = rd16(pkt + 4);
	a->ancount = rd16(pkt + 6);
	a->nscount = rd16(pkt + 8);
	a->arcount = rd16(pkt + 10);
	if (!(a->flags & F_QR) || F_OPCODE(a->flags) != 0 || a->qdcount != 1)
		return -1;
	if ((n = question_end(pkt, len, qname, qname_len, qtype, qclass)) < 0)
		return -1;
	off = (size_t)n;
	a->question_end = (uint16_t)off;

	unsigned total = (unsigned)a->ancount + a->nscount + a->arcount;
	for (unsigned i = 0; i < total; i++) {
		int end = name_skip(pkt, len, off);
		if (end < 0 || (size_t)end + 10 > len)
			return -1;
		const uint8_t *rr = pkt + end;
		uint16_t type = rd16(rr), rdlen = rd16(rr + 8);
		uint32_t ttl = rd32(rr + 4);
		size_t rdata = (size_t)end + 10;
		if (rdata + rdlen > len)
			return -1;
		if (i == (unsigned)a->ancount + a->nscount)
			a->ar_start = (uint16_t)off;
		if (type == TYPE_OPT) {
			if (i < (unsigned)a->ancount + a->nscount || a->opt_len)
				return -1;
			a->opt_off = (uint16_t)off;
			a->opt_len = (uint16_t)(rdata + rdlen - off);
			a->opt_last = (i == total - 1);
			a->rcode |= rr[4] << 4; /* TTL bytes: extended rcode, version, flags */
		} else {
			if (ttl > 0x7fffffff)
				ttl = 0; /* RFC 2181 8: values with the top bit set are zero */
			if (ttl < a->min_ttl)
				a->min_ttl = ttl;
			if (a->nttl >= ttl_cap)
				return -1;
			ttl_off[a->nttl++] = (uint16_t)(end + 4);
			if (type == TYPE_SOA && i >= a->ancount && i < (unsigned)a->ancount + a->nscount &&
			    !a->has_soa) {
				/* MINIMUM is the last 4 bytes of the rdata, after two names and 4 words */
				int mn = name_skip(pkt, rdata + rdlen, rdata);
				int rn = mn < 0 ? -1 : name_skip(pkt, rdata + rdlen, (size_t)mn);
				if (rn < 0 || (size_t)rn + 20 != rdata + rdlen)
					return -1;
				uint32_t minimum = rd32(pkt + rn + 16);
				a->has_soa = true;
				a->soa_ttl_min = ttl < minimum ? ttl : minimum;
				a->soa_ttl_off = (uint16_t)(end + 4);
			}
		}
		off = rdata + rdlen;
	}
	if (total <= (unsigned)a->ancount + a->nscount)
		a->ar_start = (uint16_t)off;
	if (off != len)
		return -1; /* trailing garbage: not what the upstream meant to send */
	return 0;
}

int wire_name_unpack(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, size_t *next)
{
	size_t o = 0, limit = off;
	bool jumped = false;

	for (;;) {
		if (off >= len)
			return -1;
		uint8_t l = pkt[off];
		if ((l & 0xc0) == 0xc0) {
			if (off + 2 > len)
				return -1;
			size_t target = rd16(pkt + off) & 0x3fff;
			if (target >= limit)
				return -1; /* strictly backwards: no loops */
			if (!jumped && next)
				*next = off + 2;
			jumped = true;
			limit = target;
			off = target;
			continue;
		}
		if (l & 0xc0)
			return -1;
		if (o + l + 1 > DNS_MAX_NAME || off + 1 + l > len)
			return -1;
		out[o++] = l;
		for (uint8_t i = 0; i < l; i++)
			out[o++] = lower(pkt[off + 1 + i]);
		off += (size_t)l + 1;
		if (l == 0) {
			if (!jumped && next)
				*next = off;
			return (int)o;
		}
	}
}

int wire_check_question(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qname_len,
			uint16_t qtype, uint16_t qclass)
{
	if (len < DNS_HDR || !(rd16(pkt + 2) & F_QR) || rd16(pkt + 4) != 1)
		return -1;
	return question_end(pkt, len, qname, qname_len, qtype, qclass) < 0 ? -1 : 0;
}

const char *wire_name_str(const uint8_t *name, size_t len, char *buf, size_t buflen)
{
	size_t o = 0, w = 0;

	if (buflen == 0)
		return buf;
	while (o < len && name[o] && w + 1 < buflen) {
		uint8_t l = name[o++];
		for (uint8_t i = 0; i < l && o < len && w + 5 < buflen; i++, o++) {
			uint8_t c = name[o];
			if (c == '.' || c == '\\')
				w += (size_t)snprintf(buf + w, buflen - w, "\\%c", c);
			else if (c > 32 && c < 127)
				buf[w++] = (char)c;
			else
				w += (size_t)snprintf(buf + w, buflen - w, "\\%03u", c);
		}
		if (w + 1 < buflen)
			buf[w++] = '.';
	}
	if (w == 0 && buflen > 1)
		buf[w++] = '.';
	buf[w] = 0;
	return buf;
}
