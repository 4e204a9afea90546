/* fwdzone.c - two suffix sets: the [forward] zones (value = zone number + 1) and the built-in
 * private zones. The suffix set reports the longest listed suffix; its exact value then names
 * the zone, since values of nested zones are OR-ed together on a match. */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include "fwdzone.h"
#include "suffix.h"

struct fwdzones {
	struct suffix_set *forward;
	struct suffix_set *private;
};

/* Locally served zones (the IANA registry of RFC 6303 section 6, with RFC 7793's CGNAT
 * zones added), and home.arpa (RFC 8375). The 16..31.172 and 64..127.100 ranges, and the
 * two long ip6.arpa names, are generated below. */
static const char *const private_zones[] = {
	"10.in-addr.arpa",          /* RFC 1918 */
	"168.192.in-addr.arpa",
	"0.in-addr.arpa",           /* "this" network, RFC 6890 */
	"127.in-addr.arpa",         /* loopback */
	"254.169.in-addr.arpa",     /* link-local */
	"2.0.192.in-addr.arpa",     /* documentation: TEST-NET-1, -2, -3 */
	"100.51.198.in-addr.arpa",
	"113.0.203.in-addr.arpa",
	"255.255.255.255.in-addr.arpa", /* broadcast */
	"d.f.ip6.arpa",             /* unique local fd00::/8 */
	"8.e.f.ip6.arpa",           /* link-local fe80::/10 */
	"9.e.f.ip6.arpa",
	"a.e.f.ip6.arpa",
	"b.e.f.ip6.arpa",
	"8.b.d.0.1.0.0.2.ip6.arpa", /* documentation 2001:db8::/32 */
	"home.arpa",                /* RFC 8375 */
};

static int add_text(struct suffix_set *s, const char *text)
{
	uint8_t wire[256];
	int n = domain_to_wire(text, wire);

	return n < 0 ? -1 : suffix_set_add(s, wire, (size_t)n, 1);
}

static int add_private(struct suffix_set *s)
{
	char name[80];
	char six[2][80];

	for (size_t i = 0; i < sizeof(private_zones) / sizeof(*private_zones); i++)
		if (add_text(s, private_zones[i]) < 0)
			return -1;
	for (int b = 16; b <= 31; b++) { /* 172.16.0.0/12 */
		snprintf(name, sizeof(name), "%d.172.in-addr.arpa", b);
		if (add_text(s, name) < 0)
			return -1;
	}
	for (int b = 64; b <= 127; b++) { /* 100.64.0.0/10, shared address space (RFC 7793) */
		snprintf(name, sizeof(name), "%d.100.in-addr.arpa", b);
		if (add_text(s, name) < 0)
			return -1;
	}
	/* :: and ::1: 32 nibbles each */
	for (int k = 0; k < 2; k++) {
		size_t o = 0;
		for (int i = 0; i < 32; i++)
			o += (size_t)snprintf(six[k] + o, sizeof(six[k]) - o, "%c.", (k && !i) ? '1' : '0');
		snprintf(six[k] + o, sizeof(six[k]) - o, "ip6.arpa");
		if (add_text(s, six[k]) < 0)
			return -1;
	}
	return 0;
}

struct fwdzones *fwdzones_new(void)
{
	struct fwdzones *z = calloc(1, sizeof(*z));

	if (!z || !(z->forward = suffix_set_new()) || !(z->private = suffix_set_new()) ||
	    add_private(z->private) < 0) {
		fwdzones_free(z);
		return NULL;
	}
	return z;
}

void fwdzones_free(struct fwdzones *z)
{
	if (!z)
		return;
	suffix_set_free(z->forward);
	suffix_set_free(z->private);
	free(z);
}

int fwdzones_add(struct fwdzones *z, const uint8_t *zone, size_t len, unsigned idx)
{
	if (suffix_set_get(z->forward, zone, len))
		return 1;
	return suffix_set_add(z->forward, zone, len, idx + 1) < 0 ? -1 : 0;
}

int fwdzones_forward(const struct fwdzones *z, const uint8_t *name, size_t len, size_t *zone_off)
{
	size_t off = 0;

	if (!z || !suffix_set_match(z->forward, name, len, &off))
		return -1;
	if (zone_off)
		*zone_off = off;
	return (int)suffix_set_get(z->forward, name + off, len - off) - 1;
}

bool fwdzones_private(const struct fwdzones *z, const uint8_t *name, size_t len, size_t *zone_off)
{
	size_t off = 0;

	if (!z || !suffix_set_match(z->private, name, len, &off))
		return false;
	if (zone_off)
		*zone_off = off;
	return true;
}

size_t fwdzones_private_count(const struct fwdzones *z)
{
	return z ? suffix_set_count(z->private) : 0;
}
