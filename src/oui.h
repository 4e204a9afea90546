/* oui.h - who made a device: the IEEE registrations of MAC address blocks (Debian's ieee-data:
 * oui.csv MA-L 24 bits, mam.csv MA-M 28 bits, oui36.csv MA-S and iab.csv IAB 36 bits), the
 * longest prefix first. The table is immutable once loaded and shared by reference; it is for
 * the control thread and jurisdns-ctl, never for the query path. */
#ifndef JD_OUI_H
#define JD_OUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUI_DEFAULT_DIR "/usr/share/ieee-data"

/* A registrant: its name and the country of its address ("" when the file gives none). */
struct oui_vendor {
	const char *name;
	char country[3];
	bool prc;                    /* registered in CN, HK or MO: the device label made:PRC */
};

struct oui;

/* Read the CSV files of dir (oui.csv is required; the others are used when present). Returns a
 * table with one reference, or NULL with one line in err. */
struct oui *oui_load(const char *dir, char *err, size_t errlen);
struct oui *oui_ref(struct oui *t);
void oui_unref(struct oui *t);
/* The number of registrations (all lengths) in t. */
size_t oui_count(const struct oui *t);

/* The registrant of mac, owned by t (or static): "private address" for a locally administered
 * (randomised) MAC and "multicast" for a group address, neither of them made:PRC; NULL when no
 * registration covers it. t may be NULL (then only those two answers). */
const struct oui_vendor *oui_lookup(const struct oui *t, const uint8_t mac[6]);

/* "aa:bb:cc:dd:ee:ff" (or '-' separated, any case) into mac. Returns 0, or -1 when it is none. */
int oui_parse_mac(const char *s, uint8_t mac[6]);

/* The country of an ieee-data address ("... Shenzhen Guangdong CN 518057"): the ISO 3166 code
 * before the postal code, into cc ("" when none is found). Exposed for tests. */
void oui_address_country(const char *addr, char cc[3]);

#endif
