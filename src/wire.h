/* wire.h - DNS wire format: strict bounds-checked parsing of queries and answers, and the
 * few messages jurisdns writes itself. No allocation; the caller owns every buffer. */
#ifndef JD_WIRE_H
#define JD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR 12
#define DNS_MAX_NAME 255
#define DNS_MAX_MSG 65535

enum dns_rcode {
	RCODE_NOERROR = 0, RCODE_FORMERR = 1, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3,
	RCODE_NOTIMP = 4, RCODE_REFUSED = 5, RCODE_BADVERS = 16,
};

enum dns_type {
	TYPE_A = 1, TYPE_NS = 2, TYPE_CNAME = 5, TYPE_SOA = 6, TYPE_AAAA = 28, TYPE_OPT = 41,
	TYPE_DNAME = 39, TYPE_SVCB = 64, TYPE_HTTPS = 65, TYPE_IXFR = 251, TYPE_AXFR = 252,
	TYPE_MAILB = 253, TYPE_MAILA = 254, TYPE_ANY = 255,
};

/* Header flag bits (second and third header bytes as one 16-bit word). */
#define F_QR 0x8000
#define F_AA 0x0400
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080
#define F_AD 0x0020
#define F_CD 0x0010
#define F_OPCODE(f) (((f) >> 11) & 0xf)
#define EDNS_DO 0x8000

/* Cache and dedup key flag bits. */
#define KEY_DO 1
#define KEY_CD 2
#define KEY_RD 4

/* A client query after wire_parse_query. */
struct dns_query {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype, qclass;
	uint16_t qname_len;              /* wire length of the name, root label included */
	uint16_t question_end;           /* offset after QTYPE/QCLASS; 0 if the question is unusable */
	uint8_t qname[DNS_MAX_NAME];     /* as sent: the case is echoed back */
	bool edns;                       /* an OPT record was present and parsed */
	uint8_t edns_version;
	bool edns_do;
	uint16_t edns_udp_size;          /* as advertised, not yet clamped */
	bool has_mac;                    /* a MAC option (below) with a valid value, not yet trusted */
	uint8_t mac[6];
};

/* The EDNS options dnsmasq puts the client's MAC address in. When a query has several, the
 * last one counts: dnsmasq appends its own after a client's option of the other code. */
#define EDNS_OPT_MAC 65001           /* --add-mac: the 6 bytes (also "aa:bb:cc:dd:ee:ff") */
#define EDNS_OPT_DEVICE_ID 65073     /* --add-mac=base64 "qrvM3e4B", --add-mac=text "aa:bb:..." */

/* "aa:bb:cc:dd:ee:ff" (exactly len 17 bytes, hex of either case, ':' between) -> 6 bytes.
 * Returns 0, or -1 leaving mac unchanged. The one parser of MAC text, config included. */
int wire_parse_mac(const char *s, size_t len, uint8_t mac[6]);

/* Parse a query. Returns RCODE_NOERROR when it should be resolved, an rcode (FORMERR, NOTIMP,
 * REFUSED, BADVERS) to answer with, or -1 to drop it silently (too short, or QR=1). The fields
 * needed for an error answer (id, flags, question if parseable, edns) are filled in either way. */
int wire_parse_query(const uint8_t *pkt, size_t len, struct dns_query *q);

/* Build the cache/dedup key: lower-cased name, type, class, KEY_* flags. Returns its length. */
size_t wire_query_key(const struct dns_query *q, uint8_t *key /* >= DNS_MAX_NAME + 5 */);

/* Write a header (id, flags, QDCOUNT 1, other counts 0) and one question. Returns the offset
 * after the question. */
size_t wire_write_head(uint8_t *out, uint16_t id, uint16_t flags, const uint8_t *qname,
		       uint16_t qname_len, uint16_t qtype, uint16_t qclass);

/* Write an answer with only the header, the question (when known) and an OPT when the client
 * sent one. Used for errors and for TC=1. Returns its length (<= 12 + 255 + 4 + 11). */
size_t wire_write_error(const struct dns_query *q, int rcode, uint16_t our_udp_size, uint8_t *out);

/* Write a query for upstream: the given id, lower-cased question, RD/CD as flags, and an OPT
 * with udp_size and DO. Returns its length. */
size_t wire_write_query(uint8_t *out, uint16_t id, const uint8_t *qname, uint16_t qname_len,
			uint16_t qtype, uint16_t qclass, uint16_t flags, bool edns_do, uint16_t udp_size);

/* An upstream answer after wire_parse_answer. */
struct dns_answer {
	uint16_t id, flags;
	int rcode;                       /* including the extended bits of the OPT */
	uint16_t qdcount, ancount, nscount, arcount;
	uint16_t question_end;
	uint16_t ar_start;               /* offset of the additional section */
	uint16_t opt_off, opt_len;       /* the OPT record, when present */
	bool opt_last;                   /* the OPT record is the message's last record */
	uint32_t min_ttl;                /* over all records except OPT; UINT32_MAX when none */
	bool has_soa;                    /* an SOA in the authority section */
	uint32_t soa_ttl_min;            /* min(SOA TTL, SOA MINIMUM) */
	uint16_t soa_ttl_off;            /* offset of that SOA's TTL field */
	uint16_t nttl;                   /* entries in ttl_off */
	/* set by the resolver, never parsed: the Extended DNS Error (RFC 8914) that goes with a
	 * failure made here (0: none) and its text (an index into wire_ede_text) */
	uint16_t ede;
	uint8_t ede_text;
};

/* Validate an upstream answer: well-formed to the last byte, QR=1, one question equal (case-
 * insensitively) to qname/qtype/qclass. ttl_off (capacity ttl_cap) receives the offset of
 * every TTL field except the OPT's. Returns 0, or -1 when it must be ignored. */
int wire_parse_answer(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qname_len,
		      uint16_t qtype, uint16_t qclass, struct dns_answer *a, uint16_t *ttl_off,
		      size_t ttl_cap);

/* Check only the header and question of an upstream message (for truncated ones that may not
 * parse to the end). Returns 0 when QR=1 and the question matches, else -1. */
int wire_check_question(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qname_len,
			uint16_t qtype, uint16_t qclass);

/* Read a possibly compressed name at off into out (lower-cased, uncompressed, <= 255 bytes).
 * Pointers must point strictly backwards, so there are no loops. Returns the name's length and
 * sets *next to the offset after it in the message, or returns -1. */
int wire_name_unpack(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, size_t *next);

/* Append an OPT RR at out (no header update): udp size, extended rcode bits, DO. Returns 11. */
size_t wire_write_opt(uint8_t *out, uint16_t udp_size, int rcode, bool edns_do);
/* Append an Extended DNS Error option (RFC 8914: info code, text of tl bytes) to the OPT record
 * at out + opt (its last record, ending at out + len). Returns the new length. */
size_t wire_add_ede(uint8_t *out, size_t opt, size_t len, uint16_t code, const char *text, size_t tl);

/* Extended DNS Errors of resolution failures (RFC 8914 4.23, 4.24) */
#define EDE_NO_REACHABLE_AUTHORITY 22
#define EDE_NETWORK_ERROR 23
/* Their texts, by index (a byte in every cache entry rather than a pointer) */
enum { EDE_TEXT_TIMEOUT, EDE_TEXT_UNREACHABLE, EDE_TEXT_CERT, EDE_TEXTS };
extern const char *const wire_ede_text[EDE_TEXTS];

/* The one case fold of DNS names (RFC 4343): 'A'..'Z' -> 'a'..'z', every other byte itself. So
 * length octets (0..63) are never changed and "\x03abc" never equals "\x23abc", as |0x20 would. */
extern const uint8_t wire_lower_tab[256];

/* Lower-case an uncompressed wire name in place (ASCII only). */
void wire_name_lower(uint8_t *name, size_t len);

/* True when the len bytes of wire names (or name tails) a and b are equal ignoring ASCII case:
 * label bytes fold, length octets must be equal. The one case-insensitive name compare. */
bool wire_name_equal_nocase(const uint8_t *a, const uint8_t *b, size_t len);

/* Format a wire name as text ("www.example.com.") into buf. Returns buf. */
const char *wire_name_str(const uint8_t *name, size_t len, char *buf, size_t buflen);

#endif
