/* cmd_report.c - the report command: options, the file, and the names and vendors of the
 * devices as everywhere else in jurisdns-ctl (file clients and DHCP leases too). */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cmd_report.h"
#include "fail.h"
#include "report.h"
#include "util.h"

/* report_opts.client_name */
static int report_name(void *ctx, const char *id, char *buf, size_t len, char *err, size_t errlen)
{
	struct ctl *c = ctx;

	return ctl_clients_name(c->clients, id, buf, len, NULL, err, errlen);
}

/* report_opts.client_vendor */
static int report_vendor(void *ctx, const char *id, const struct oui_vendor **out, char *err,
			 size_t errlen)
{
	return ctl_vendor_of(ctx, id, out, err, errlen) < 0 ? -1 : 0;
}

int cmd_report(struct ctl *c, int argc, char **argv)
{
	const char *file = NULL;
	unsigned days = 7;
	char err[300], tmp[1100];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--html") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--days") && i + 1 < argc) {
			uint64_t v;
			if (parse_uint(argv[++i], 1, 90, 0, &v) < 0)
				usage_error("report --days '%s': expected 1 to 90", argv[i]);
			days = (unsigned)v;
		} else
			usage_error("report: unexpected argument '%s' (--html FILE [--days N])", argv[i]);
	}
	if (!file)
		usage_error("report: --html FILE is required%s", "");
	struct report_opts o = { .stats_base = c->sbase, .policy_base = c->base, .days = days,
				 .now = time(NULL), .client_name = report_name,
				 .client_vendor = report_vendor, .ctx = c };
	ctl_clients_of(c); /* read now: the callbacks must not exit with the file half written */
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	FILE *f = fopen(tmp, "w");
	if (!f)
		die("%s: %s", tmp, strerror(errno));
	if (report_html(c->rc, &o, f, err, sizeof(err)) < 0) {
		fclose(f);
		unlink(tmp);
		die("%s", err);
	}
	if (fclose(f) != 0 || rename(tmp, file) != 0) {
		unlink(tmp);
		die("%s: %s", file, strerror(errno));
	}
	printf("report written to %s\n", file);
	return 0;
}
