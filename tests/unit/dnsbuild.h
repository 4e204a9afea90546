/* dnsbuild.h - a tiny DNS message builder for the unit tests (header, question, RRs, OPT).
 * Everything is static inline so each test file may use any subset without warnings. */
#ifndef JD_TEST_DNSBUILD_H
#define JD_TEST_DNSBUILD_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct dnsb {
	uint8_t buf[65536 + 64];
	size_t len;
};

static inline void b_u8(struct dnsb *b, uint8_t v)
{
	assert(b->len + 1 <= sizeof(b->buf));
	b->buf[b->len++] = v;
}

static inline void b_u16(struct dnsb *b, uint16_t v)
{
	b_u8(b, (uint8_t)(v >> 8));
	b_u8(b, (uint8_t)v);
}

static inline void b_u32(struct dnsb *b, uint32_t v)
{
	b_u16(b, (uint16_t)(v >> 16));
	b_u16(b, (uint16_t)v);
}

static inline void b_bytes(struct dnsb *b, const void *p, size_t n)
{
	assert(b->len + n <= sizeof(b->buf));
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static inline void b_put16(struct dnsb *b, size_t off, uint16_t v)
{
	b->buf[off] = (uint8_t)(v >> 8);
	b->buf[off + 1] = (uint8_t)v;
}

/* "www.Example.com" (or "." / "" for the root) to wire format. Returns the wire length. */
static inline size_t name_to_wire(const char *s, uint8_t *out)
{
	size_t o = 0;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		if (l == 0) { /* "." or a trailing dot */
			s++;
			continue;
		}
		out[o++] = (uint8_t)l;
		memcpy(out + o, s, l);
		o += l;
		s += l;
	}
	out[o++] = 0;
	return o;
}

static inline void b_name(struct dnsb *b, const char *name)
{
	uint8_t w[1024];
	b_bytes(b, w, name_to_wire(name, w));
}

/* A compression pointer to off. */
static inline void b_ptr(struct dnsb *b, uint16_t off)
{
	b_u16(b, (uint16_t)(0xc000 | off));
}

static inline void b_header(struct dnsb *b, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
			    uint16_t ns, uint16_t ar)
{
	b->len = 0;
	b_u16(b, id);
	b_u16(b, flags);
	b_u16(b, qd);
	b_u16(b, an);
	b_u16(b, ns);
	b_u16(b, ar);
}

static inline void b_set_counts(struct dnsb *b, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	b_put16(b, 4, qd);
	b_put16(b, 6, an);
	b_put16(b, 8, ns);
	b_put16(b, 10, ar);
}

static inline void b_question(struct dnsb *b, const char *name, uint16_t type, uint16_t cls)
{
	b_name(b, name);
	b_u16(b, type);
	b_u16(b, cls);
}

/* The fixed part of an RR after its owner: type, class, ttl, rdlength, rdata. Returns the
 * offset of the TTL field. */
static inline size_t b_rr_tail(struct dnsb *b, uint16_t type, uint16_t cls, uint32_t ttl,
			       const void *rdata, uint16_t rdlen)
{
	size_t ttl_off;

	b_u16(b, type);
	b_u16(b, cls);
	ttl_off = b->len;
	b_u32(b, ttl);
	b_u16(b, rdlen);
	if (rdlen)
		b_bytes(b, rdata, rdlen);
	return ttl_off;
}

/* An RR whose owner is a pointer to off (12 = the question name). Returns the TTL offset. */
static inline size_t b_rr_ptr(struct dnsb *b, uint16_t owner_off, uint16_t type, uint16_t cls,
			      uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	b_ptr(b, owner_off);
	return b_rr_tail(b, type, cls, ttl, rdata, rdlen);
}

/* An RR with an uncompressed owner. Returns the TTL offset. */
static inline size_t b_rr(struct dnsb *b, const char *owner, uint16_t type, uint16_t cls,
			  uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	b_name(b, owner);
	return b_rr_tail(b, type, cls, ttl, rdata, rdlen);
}

/* An A record for the question name (pointer to offset 12). Returns the TTL offset. */
static inline size_t b_a(struct dnsb *b, uint32_t ttl, uint8_t a, uint8_t bb, uint8_t c, uint8_t d)
{
	const uint8_t ip[4] = { a, bb, c, d };
	return b_rr_ptr(b, 12, 1, 1, ttl, ip, 4);
}

/* An OPT RR: root owner, udp size, extended rcode, version, flags (DO = 0x8000), options. */
static inline void b_opt(struct dnsb *b, uint16_t udp, uint8_t ext_rcode, uint8_t version,
			 uint16_t flags, const void *opts, uint16_t optlen)
{
	b_u8(b, 0);
	b_u16(b, 41);
	b_u16(b, udp);
	b_u8(b, ext_rcode);
	b_u8(b, version);
	b_u16(b, flags);
	b_u16(b, optlen);
	if (optlen)
		b_bytes(b, opts, optlen);
}

/* An SOA in the authority section, owner given as a pointer (usually to 12): mname and rname
 * are uncompressed. Returns the TTL offset. */
static inline size_t b_soa_ptr(struct dnsb *b, uint16_t owner_off, uint32_t ttl, uint32_t minimum)
{
	uint8_t rd[128];
	size_t n = 0;

	n += name_to_wire("ns.example.com", rd + n);
	n += name_to_wire("hostmaster.example.com", rd + n);
	const uint32_t words[5] = { 2024010101u, 7200, 3600, 1209600, minimum };
	for (int i = 0; i < 5; i++) {
		rd[n++] = (uint8_t)(words[i] >> 24);
		rd[n++] = (uint8_t)(words[i] >> 16);
		rd[n++] = (uint8_t)(words[i] >> 8);
		rd[n++] = (uint8_t)words[i];
	}
	return b_rr_ptr(b, owner_off, 6, 1, ttl, rd, (uint16_t)n);
}

static inline uint16_t g16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
