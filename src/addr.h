/* addr.h - socket addresses and CIDR access lists. */
#ifndef JD_ADDR_H
#define JD_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
		struct sockaddr_storage ss;
	} u;
	socklen_t len;
};

/* Parse "1.2.3.4:53", "[2001:db8::1]:53", or without ":PORT" when default_port != 0.
 * Only numeric addresses. Returns 0, or -1 with a reason in err. */
int addr_parse(const char *s, uint16_t default_port, struct addr *out, char *err, size_t errlen);

/* Format as "1.2.3.4:53" / "[::1]:53" into buf (>= 64 bytes). Returns buf. */
const char *addr_str(const struct sockaddr *sa, char *buf, size_t buflen);

/* True when both are the same family, address and port. */
bool addr_equal(const struct sockaddr *a, const struct sockaddr *b);

/* One CIDR prefix: IPv4 is kept as IPv4-mapped IPv6 so one compare serves both. */
struct cidr {
	uint8_t net[16];
	uint8_t bits; /* 0..128 */
};

/* Parse "10.0.0.0/8", "fe80::/10" or a bare address (full length). Host bits must be zero.
 * Returns 0, or -1 with a reason in err. */
int cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen);

/* Map a socket address to the 16-byte form used by cidr_match. */
void addr_to_v6(const struct sockaddr *sa, uint8_t out[16]);

bool cidr_match(const struct cidr *c, const uint8_t ip[16]);

/* Allow and deny lists; deny wins. */
struct acl {
	struct cidr *allow;
	unsigned nallow;
	struct cidr *deny;
	unsigned ndeny;
};

/* Fill acl->allow with the default: loopback, RFC 1918, 100.64/10, fc00::/7, fe80::/10. */
int acl_set_default(struct acl *acl);
int acl_add(struct acl *acl, bool deny, const struct cidr *c);
bool acl_permits(const struct acl *acl, const struct sockaddr *sa);
void acl_free(struct acl *acl);

#endif
