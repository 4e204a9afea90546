/* identity.c - the client id and its one text form. */
#include "config.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "identity.h"

size_t identity_text(const uint8_t *mac, const uint8_t ip16[16], char *buf, size_t len)
{
	int n;

	if (!len)
		return 0;
	if (mac) {
		n = snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
			     mac[4], mac[5]);
		return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
	}
	bool v4 = !memcmp(ip16, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
	char ip[INET6_ADDRSTRLEN];
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? ip16 + 12 : ip16, ip, sizeof(ip)))
		strcpy(ip, "?");
	n = snprintf(buf, len, "%s", ip);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t identity_str(const struct identity *id, char *buf, size_t len)
{
	uint8_t ip16[16];

	if (id->has_mac)
		return identity_text(id->mac, NULL, buf, len);
	addr_to_v6(&id->addr.u.sa, ip16);
	return identity_text(NULL, ip16, buf, len);
}
