/* geo.c - MaxMind DB lookups. Databases are mmap'd by libmaxminddb; strings are copied out, so
 * results stay valid after the snapshot is released. */
#include "config.h"
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <unistd.h>
#include "geo.h"

struct path_set {
	unsigned n;
	const char *comp[GEO_MAX_ALTS][GEO_MAX_DEPTH + 1];
	char store[128];
};

struct geo {
	atomic_int refs;
	MMDB_s db, asn_db;
	bool has_asn_db;
	struct stat st, asn_st;
	struct path_set country, asn, org;
};

void geo_paths_default(struct geo_paths *p)
{
	/* GeoLite2/DB-IP/ours: country/iso_code; IPinfo lite: country_code;
	 * GeoLite2-ASN/ours: autonomous_system_*; IPinfo lite: asn ("AS13335"), as_name */
	snprintf(p->country, sizeof(p->country), "country/iso_code,registered_country/iso_code,country_code");
	snprintf(p->asn, sizeof(p->asn), "autonomous_system_number,asn");
	snprintf(p->org, sizeof(p->org), "autonomous_system_organization,as_name,asn_org");
}

static int path_set_parse(struct path_set *ps, const char *list, char *err, size_t errlen)
{
	char *save = NULL, *alt;

	memset(ps, 0, sizeof(*ps));
	if (strlen(list) >= sizeof(ps->store)) {
		snprintf(err, errlen, "'%s': longer than %zu characters", list, sizeof(ps->store) - 1);
		return -1;
	}
	strcpy(ps->store, list);
	for (alt = strtok_r(ps->store, ", \t", &save); alt; alt = strtok_r(NULL, ", \t", &save)) {
		unsigned d = 0;
		if (ps->n == GEO_MAX_ALTS) {
			snprintf(err, errlen, "'%s': at most %d alternatives", list, GEO_MAX_ALTS);
			return -1;
		}
		for (char *c = alt; c;) {
			char *slash = strchr(c, '/');
			if (slash)
				*slash = 0;
			if (!*c || d == GEO_MAX_DEPTH) {
				snprintf(err, errlen, "'%s': empty component or more than %d levels", list,
					 GEO_MAX_DEPTH);
				return -1;
			}
			ps->comp[ps->n][d++] = c;
			c = slash ? slash + 1 : NULL;
		}
		ps->comp[ps->n][d] = NULL;
		ps->n++;
	}
	if (!ps->n) {
		snprintf(err, errlen, "empty field path");
		return -1;
	}
	return 0;
}

int geo_paths_check(const char *list, char *err, size_t errlen)
{
	struct path_set ps;
	return path_set_parse(&ps, list, err, errlen);
}

static int open_one(const char *path, MMDB_s *db, struct stat *st, char *err, size_t errlen)
{
	int rc;

	if (access(path, R_OK) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s: not a usable MaxMind DB: %s", path, MMDB_strerror(rc));
		return -1;
	}
	if (stat(path, st) < 0)
		memset(st, 0, sizeof(*st));
	return 0;
}

struct geo *geo_open(const char *db, const char *asn_db, const struct geo_paths *paths, char *err,
		     size_t errlen)
{
	struct geo *g = calloc(1, sizeof(*g));

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&g->refs, 1);
	if (path_set_parse(&g->country, paths->country, err, errlen) < 0 ||
	    path_set_parse(&g->asn, paths->asn, err, errlen) < 0 ||
	    path_set_parse(&g->org, paths->org, err, errlen) < 0) {
		free(g);
		return NULL;
	}
	if (open_one(db, &g->db, &g->st, err, errlen) < 0) {
		free(g);
		return NULL;
	}
	if (asn_db && *asn_db) {
		if (open_one(asn_db, &g->asn_db, &g->asn_st, err, errlen) < 0) {
			MMDB_close(&g->db);
			free(g);
			return NULL;
		}
		g->has_asn_db = true;
	}
	return g;
}

struct geo *geo_ref(struct geo *g)
{
	if (g)
		atomic_fetch_add(&g->refs, 1);
	return g;
}

void geo_unref(struct geo *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	MMDB_close(&g->db);
	if (g->has_asn_db)
		MMDB_close(&g->asn_db);
	free(g);
}

/* The first alternative path that holds a value. */
static bool get_value(MMDB_entry_s *entry, const struct path_set *ps, MMDB_entry_data_s *out)
{
	for (unsigned i = 0; i < ps->n; i++) {
		MMDB_entry_s e = *entry;
		if (MMDB_aget_value(&e, out, ps->comp[i]) == MMDB_SUCCESS && out->has_data)
			return true;
	}
	return false;
}

static void copy_string(const MMDB_entry_data_s *d, char *out, size_t outlen)
{
	size_t n = d->data_size < outlen - 1 ? d->data_size : outlen - 1;

	if (d->type != MMDB_DATA_TYPE_UTF8_STRING) {
		out[0] = 0;
		return;
	}
	memcpy(out, d->utf8_string, n);
	out[n] = 0;
	/* never cut a UTF-8 sequence in half: drop a dangling lead or continuation run */
	if (n < d->data_size) {
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0xc0)
			n--;
		out[n] = 0;
	}
}

static uint32_t data_to_asn(const MMDB_entry_data_s *d)
{
	switch (d->type) {
	case MMDB_DATA_TYPE_UINT16: return d->uint16;
	case MMDB_DATA_TYPE_UINT32: return d->uint32;
	case MMDB_DATA_TYPE_UINT64: return d->uint64 <= UINT32_MAX ? (uint32_t)d->uint64 : 0;
	case MMDB_DATA_TYPE_UTF8_STRING: {
		/* IPinfo lite: "AS13335" */
		char buf[16];
		copy_string(d, buf, sizeof(buf));
		const char *p = buf;
		if ((p[0] == 'A' || p[0] == 'a') && (p[1] == 'S' || p[1] == 's'))
			p += 2;
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		return (*p && !*end && v <= UINT32_MAX) ? (uint32_t)v : 0;
	}
	default: return 0;
	}
}

void geo_lookup(const struct geo *g, const struct sockaddr *sa, struct geo_result *out)
{
	MMDB_lookup_result_s r;
	MMDB_entry_data_s d;
	int err;

	memset(out, 0, sizeof(*out));
	if (!g)
		return;
	r = MMDB_lookup_sockaddr(&g->db, sa, &err);
	if (err == MMDB_SUCCESS && r.found_entry) {
		out->found = true;
		if (get_value(&r.entry, &g->country, &d)) {
			char cc[8];
			copy_string(&d, cc, sizeof(cc));
			if (strlen(cc) == 2)
				memcpy(out->cc, cc, 3);
		}
		if (!g->has_asn_db) {
			if (get_value(&r.entry, &g->asn, &d))
				out->asn = data_to_asn(&d);
			if (get_value(&r.entry, &g->org, &d))
				copy_string(&d, out->org, sizeof(out->org));
		}
	}
	if (g->has_asn_db) {
		r = MMDB_lookup_sockaddr(&g->asn_db, sa, &err);
		if (err == MMDB_SUCCESS && r.found_entry) {
			out->found = true;
			if (get_value(&r.entry, &g->asn, &d))
				out->asn = data_to_asn(&d);
			if (get_value(&r.entry, &g->org, &d))
				copy_string(&d, out->org, sizeof(out->org));
		}
	}
}

time_t geo_build_time(const struct geo *g)
{
	return (time_t)g->db.metadata.build_epoch;
}

static void describe_one(const MMDB_s *db, char *buf, size_t len)
{
	const char *desc = "";
	time_t built = (time_t)db->metadata.build_epoch;
	struct tm tm;
	char date[32];
	long age = (long)((time(NULL) - built) / 86400);

	for (size_t i = 0; i < db->metadata.description.count; i++)
		if (!strcmp(db->metadata.description.descriptions[i]->language, "en"))
			desc = db->metadata.description.descriptions[i]->description;
	gmtime_r(&built, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	snprintf(buf, len, "%s (%s%s%s), built %s, %ld days old", db->filename, db->metadata.database_type,
		 *desc ? ": " : "", desc, date, age);
}

void geo_describe(const struct geo *g, char *buf, size_t len)
{
	size_t n;

	describe_one(&g->db, buf, len);
	n = strlen(buf);
	if (g->has_asn_db && n + 3 < len) {
		memcpy(buf + n, "; ", 3);
		describe_one(&g->asn_db, buf + n + 2, len - n - 2);
	}
}

static bool stat_changed(const char *path, const struct stat *old)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return false; /* gone: keep using the mapped copy */
	return st.st_ino != old->st_ino || st.st_size != old->st_size ||
	       st.st_mtim.tv_sec != old->st_mtim.tv_sec || st.st_mtim.tv_nsec != old->st_mtim.tv_nsec;
}

bool geo_changed(const struct geo *g)
{
	return stat_changed(g->db.filename, &g->st) ||
	       (g->has_asn_db && stat_changed(g->asn_db.filename, &g->asn_st));
}
