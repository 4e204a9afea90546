/* identity.h - who a query is from: its source address and, from a trusted forwarder only,
 * the MAC address the forwarder added. One formatter of the client-id text that stats keys,
 * the query log, the ctl and warnings show. */
#ifndef JD_IDENTITY_H
#define JD_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"

#define IDENTITY_TEXT_MAX 48         /* an IPv6 address (45) or a MAC (17), and the NUL */

struct identity {
	struct addr addr;            /* the client as the transport sees it */
	bool has_mac;                /* mac is the client's: from a trusted forwarder */
	uint8_t mac[6];
};

/* The client-id text: mac as "aa:bb:cc:dd:ee:ff" when mac is not NULL, else ip16 (the 16-byte
 * form of addr_to_v6) as an address, IPv4-mapped ones as a.b.c.d. Returns the text's length
 * (truncated to len - 1 when len is short). */
size_t identity_text(const uint8_t *mac, const uint8_t ip16[16], char *buf, size_t len);
/* The client-id text of id: its MAC when it has one, else its address (no port). */
size_t identity_str(const struct identity *id, char *buf, size_t len);

#endif
