/* fuzz_oui.c - libFuzzer target for the ieee-data CSV parser (oui_load) and the address and
 * MAC parsers of oui.h.
 *
 * The input is split at NUL bytes into oui.csv, mam.csv, oui36.csv and iab.csv of a private
 * directory (a file with no part is absent: only oui.csv is required). Invariants:
 *   - NULL exactly with err set, as one line;
 *   - every registration found is a vendor with a name of at most 120 bytes and a country of
 *     "" or two capital letters; a locally administered or multicast MAC is never made:PRC;
 *   - oui_address_country gives "" or two capital letters, oui_parse_mac accepts only
 *     "xx:xx:xx:xx:xx:xx" (or '-') and reads it back.
 * Build: ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_oui */
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "fuzz_file.h"
#include "oui.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool country_ok(const char *cc)
{
	return !cc[0] || (cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z' && !cc[2]);
}

static void check_vendor(const struct oui_vendor *v)
{
	if (!v)
		return;
	CHECK(v->name && strlen(v->name) <= 120);
	CHECK(country_ok(v->country));
}

static void check_text(const uint8_t *data, size_t size)
{
	char s[256], cc[3], back[20];
	uint8_t mac[6];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = 0;
	oui_address_country(s, cc);
	CHECK(country_ok(cc));
	if (oui_parse_mac(s, mac) == 0) {
		CHECK(strlen(s) == 17);
		snprintf(back, sizeof(back), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
			 mac[3], mac[4], mac[5]);
		for (size_t i = 2; i < 17; i += 3)
			if (s[i] == '-')
				s[i] = ':';
		CHECK(!strcasecmp(back, s));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const files[] = { "oui.csv", "mam.csv", "oui36.csv", "iab.csv" };
	char path[128], err[512] = "";
	const uint8_t *p = data, *end = data + size;

	for (size_t i = 0; i < 4; i++) {
		const uint8_t *nul = p ? memchr(p, 0, (size_t)(end - p)) : NULL;
		size_t n = p ? (size_t)((nul ? nul : end) - p) : 0;
		if (p)
			fuzz_write(files[i], p, n, path, sizeof(path));
		else {
			snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), files[i]);
			unlink(path);
		}
		p = nul ? nul + 1 : NULL;
	}
	check_text(data, size);
	struct oui *t = oui_load(fuzz_dir(), err, sizeof(err));
	if (!t) {
		CHECK(err[0] && !strchr(err, '\n'));
		return 0;
	}
	CHECK(oui_count(t) >= 1);
	/* every 6-byte window of the input as a MAC, and the same with the local and group bits
	 * cleared, so that registered prefixes are hit too */
	for (size_t i = 0; i + 6 <= size && i < 256; i++) {
		uint8_t mac[6];
		memcpy(mac, data + i, 6);
		const struct oui_vendor *v = oui_lookup(t, mac);
		check_vendor(v);
		if (mac[0] & 3)
			CHECK(v && !v->prc);
		mac[0] &= 0xfc;
		check_vendor(oui_lookup(t, mac));
	}
	/* the MAC of each run of 6 to 12 hex digits (an Assignment field), padded with zeros */
	for (size_t i = 0, found = 0; i < size && found < 64; i++) {
		uint8_t mac[6] = { 0 };
		size_t k = 0;
		while (i + k < size && k < 12 && strchr("0123456789abcdefABCDEF", data[i + k]) && data[i + k])
			k++;
		if (k < 6)
			continue;
		for (size_t j = 0; j < k; j++) {
			unsigned char c = data[i + j];
			unsigned h = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
			mac[j / 2] |= (uint8_t)(j % 2 ? h : h << 4);
		}
		check_vendor(oui_lookup(t, mac));
		found++;
		i += k - 1;
	}
	oui_ref(t);
	oui_unref(t);
	oui_unref(t);
	return 0;
}
