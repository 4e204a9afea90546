/* main.c - the command line: options, -V, -t, loading the configuration; the server itself
 * runs in control.c. */
#include "config.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <maxminddb.h>
#include <uv.h>
#include "addr.h"
#include "conf.h"
#include "control.h"
#include "geo.h"
#include "log.h"
#include "util.h"

#define RESOLV_CONF "/etc/resolv.conf"

static void jurisdns_usage(FILE *f)
{
	fprintf(f,
		"usage: jurisdns [-c FILE] [-t] [-l ADDR:PORT]... [-u ADDR:PORT]... [-w N] [-f] [-v] [-V] [-h]\n"
		"  -c FILE       configuration file (INI); without it, built-in defaults\n"
		"  -t            check the configuration and exit (0 valid, 1 not)\n"
		"  -l ADDR:PORT  listen on UDP and TCP (repeatable; replaces [server] listen)\n"
		"  -u ADDR:PORT  upstream server, or tls://IP:PORT#NAME, https://IP:PORT/PATH#NAME\n"
		"                (repeatable; replaces [upstream] server)\n"
		"  -w N          worker threads (0 = one per CPU)\n"
		"  -f            stay in the foreground (always the case; for init scripts)\n"
		"  -v            more log output (repeat for debug)\n"
		"  -V            print the version and exit\n"
		"  -h            print this help and exit\n"
		"IPv6 addresses go in brackets: -l [::1]:5335. Defaults: listen 127.0.0.1:5335, upstreams\n"
		"from " RESOLV_CONF ". SIGHUP reloads the configuration, SIGTERM finishes queries and exits.\n");
}

int main(int argc, char **argv)
{
	struct conf_overrides ov = { .workers = -1 };
	const char *conf_path = NULL;
	struct conf *conf;
	char err[512];
	bool check_only = false, show_version = false;
	int opt, verbose = 0;
	uint64_t v;

	while ((opt = getopt(argc, argv, "c:tl:u:w:fvVh")) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'l':
			if (ov.nlisten == CONF_MAX_LISTEN) {
				fprintf(stderr, "jurisdns: -l: at most %d listen addresses\n", CONF_MAX_LISTEN);
				return 2;
			}
			if (addr_parse(optarg, 0, &ov.listen[ov.nlisten], err, sizeof(err)) < 0) {
				fprintf(stderr, "jurisdns: -l %s\n", err);
				return 2;
			}
			ov.nlisten++;
			break;
		case 'u':
			if (ov.nupstream == CONF_MAX_UPSTREAM) {
				fprintf(stderr, "jurisdns: -u: at most %d upstreams\n", CONF_MAX_UPSTREAM);
				return 2;
			}
			if (up_url_parse(optarg, &ov.upstream_url[ov.nupstream], err, sizeof(err)) < 0) {
				fprintf(stderr, "jurisdns: -u %s\n", err);
				return 2;
			}
			ov.upstream[ov.nupstream] = ov.upstream_url[ov.nupstream].addr;
			ov.nupstream++;
			break;
		case 'w':
			if (parse_uint(optarg, 0, 256, 0, &v) < 0) {
				fprintf(stderr, "jurisdns: -w '%s': expected a number from 0 to 256\n", optarg);
				return 2;
			}
			ov.workers = (int)v;
			break;
		case 'f':
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			show_version = true;
			break;
		case 'h':
			jurisdns_usage(stdout);
			return 0;
		default:
			jurisdns_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "jurisdns: unexpected argument '%s'\n", argv[optind]);
		jurisdns_usage(stderr);
		return 2;
	}
	/* -t speaks of problems only, unless -v asks for more */
	log_max_level = (check_only ? LOG_WARN : LOG_INFO) + verbose;
	/* From here on SIGHUP, SIGTERM and SIGINT wait for the control loop: loading a large
	 * policy takes a while, and a signal then must not take the default action (kill us). */
	control_block_signals();
	if (show_version) {
		char verr[600];
		struct conf *vc = conf_load(conf_path, &ov, RESOLV_CONF, verr, sizeof(verr));
		printf("jurisdns %s (libuv %s, libmaxminddb %s)\n", PACKAGE_VERSION, uv_version_string(),
		       MMDB_lib_version());
		if (vc && vc->geo_db[0]) {
			struct geo *g = geo_open(vc->geo_db, vc->asn_db, &vc->geo_paths, verr, sizeof(verr));
			if (g) {
				char desc[512];
				geo_describe(g, desc, sizeof(desc));
				printf("GeoIP: %s\n", desc);
				geo_unref(g);
			} else {
				printf("GeoIP: none (%s)\n", verr);
			}
		} else {
			printf("GeoIP: none%s%s\n", vc ? "" : " (", vc ? "" : verr);
		}
		conf_unref(vc);
		return 0;
	}

	conf = conf_load(conf_path, &ov, RESOLV_CONF, err, sizeof(err));
	if (!conf) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check_only) {
		int rc = control_check(conf);
		if (rc == 0)
			printf("%s: configuration is valid\n", conf_path ? conf_path : "defaults");
		conf_unref(conf);
		return rc < 0 ? 1 : 0;
	}
	return control_run(conf, conf_path, &ov, RESOLV_CONF);
}
