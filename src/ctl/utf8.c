/* utf8.c - one UTF-8 decoder for jurisdns-ctl's JSON and the HTML report. */
#include "config.h"
#include <string.h>
#include "utf8.h"

size_t utf8_decode(const unsigned char *p, size_t n, unsigned long *cp)
{
	size_t len;
	unsigned long c, min;

	if (!n)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	c = p[0] & (0x3fu >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

size_t utf8_prefix(const char *s, size_t chars)
{
	size_t n = strlen(s), i = 0;
	unsigned long cp;

	while (i < n && chars--) {
		size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);
		i += len ? len : 1;
	}
	return i;
}
