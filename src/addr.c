/* addr.c - numeric address parsing and the client ACL. */
#include "config.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "util.h"

int addr_parse(const char *s, uint16_t default_port, struct addr *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port = NULL;
	uint64_t p = default_port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			snprintf(err, errlen, "'%s': missing ']' after IPv6 address", s);
			return -1;
		}
		hl = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1]) {
			snprintf(err, errlen, "'%s': expected ':PORT' after ']'", s);
			return -1;
		}
		s++;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {
			/* bare IPv6 without brackets: only valid without a port */
			hl = strlen(s);
		} else {
			hl = colon ? (size_t)(colon - s) : strlen(s);
			if (colon)
				port = colon + 1;
		}
	}
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not an IP address", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = 0;
	if (port) {
		if (parse_uint(port, 1, 65535, 0, &p) < 0) {
			snprintf(err, errlen, "'%s': port must be 1-65535", port);
			return -1;
		}
	} else if (!default_port) {
		snprintf(err, errlen, "'%s': missing ':PORT'", host);
		return -1;
	}
	if (inet_pton(AF_INET, host, &out->u.sin.sin_addr) == 1) {
		out->u.sin.sin_family = AF_INET;
		out->u.sin.sin_port = htons((uint16_t)p);
		out->len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->u.sin6.sin6_addr) == 1) {
		out->u.sin6.sin6_family = AF_INET6;
		out->u.sin6.sin6_port = htons((uint16_t)p);
		out->len = sizeof(struct sockaddr_in6);
		return 0;
	}
	snprintf(err, errlen, "'%s': not a numeric IPv4 or IPv6 address", host);
	return -1;
}

const char *addr_str(const struct sockaddr *sa, char *buf, size_t buflen)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, buflen, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, buflen, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, buflen, "(unknown family %d)", sa->sa_family);
	}
	return buf;
}

bool addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

void addr_to_v6(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	} else {
		memset(out, 0, 16);
	}
}

bool cidr_match(const struct cidr *c, const uint8_t ip[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->net, ip, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		return (c->net[full] & mask) == (ip[full] & mask);
	}
	return true;
}

int cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t bits;
	unsigned maxbits, offset;
	struct in_addr a4;

	memset(out, 0, sizeof(*out));
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not a CIDR prefix", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = 0;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		out->net[10] = out->net[11] = 0xff;
		memcpy(out->net + 12, &a4, 4);
		maxbits = 32;
		offset = 96;
	} else if (inet_pton(AF_INET6, host, out->net) == 1) {
		maxbits = 128;
		offset = 0;
	} else {
		snprintf(err, errlen, "'%s': not an IPv4 or IPv6 address", host);
		return -1;
	}
	bits = maxbits;
	if (slash && parse_uint(slash + 1, 0, maxbits, 0, &bits) < 0) {
		snprintf(err, errlen, "'%s': prefix length must be 0-%u", s, maxbits);
		return -1;
	}
	out->bits = (uint8_t)(bits + offset);
	for (unsigned i = out->bits; i < 128; i++) {
		if (out->net[i / 8] & (0x80 >> (i % 8))) {
			snprintf(err, errlen, "'%s': host bits set after /%u", s, (unsigned)bits);
			return -1;
		}
	}
	return 0;
}

int acl_add(struct acl *acl, bool deny, const struct cidr *c)
{
	struct cidr **list = deny ? &acl->deny : &acl->allow;
	unsigned *n = deny ? &acl->ndeny : &acl->nallow;
	struct cidr *grown = realloc(*list, (*n + 1) * sizeof(**list));

	if (!grown)
		return -1;
	grown[(*n)++] = *c;
	*list = grown;
	return 0;
}

int acl_set_default(struct acl *acl)
{
	static const char *const defaults[] = {
		"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
		"169.254.0.0/16", "::1", "fc00::/7", "fe80::/10",
	};
	char err[128];

	free(acl->allow);
	acl->allow = NULL;
	acl->nallow = 0;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		struct cidr c;
		if (cidr_parse(defaults[i], &c, err, sizeof(err)) < 0 || acl_add(acl, false, &c) < 0)
			return -1;
	}
	return 0;
}

bool acl_permits(const struct acl *acl, const struct sockaddr *sa)
{
	uint8_t ip[16];
	bool ok = false;

	addr_to_v6(sa, ip);
	for (unsigned i = 0; i < acl->ndeny; i++)
		if (cidr_match(&acl->deny[i], ip))
			return false;
	for (unsigned i = 0; i < acl->nallow && !ok; i++)
		ok = cidr_match(&acl->allow[i], ip);
	return ok;
}

void acl_free(struct acl *acl)
{
	free(acl->allow);
	free(acl->deny);
	acl->allow = acl->deny = NULL;
	acl->nallow = acl->ndeny = 0;
}
