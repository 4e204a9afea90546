/* main.c - jurisdns-ctl: read and change the policy that jurisdns instances share through
 * Redis, and read the statistics they write there. This file has the command line: the
 * options, the configuration, and which command family runs (cmd_*.c). One line on stderr and
 * a non-zero exit on any error. The schema is in docs/redis-schema.md. */
#include "config.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"
#include "cmd_client.h"
#include "cmd_instances.h"
#include "cmd_policy.h"
#include "cmd_report.h"
#include "cmd_stats.h"
#include "cmd_web.h"
#include "conf.h"
#include "fail.h"
#include "rconn.h"
#include "session.h"

#define DEFAULT_CONF "/etc/jurisdns/jurisdns.conf"
#define DEFAULT_REDIS "127.0.0.1:6379"

static void usage(FILE *f)
{
	fputs("usage: jurisdns-ctl [-c CONFIG] [-r ADDRESS] [-p PREFIX] [-u USER] [--json] COMMAND\n"
	      "\n"
	      "  client list                       clients with a policy in the file or in Redis\n"
	      "  client show CLIENT                one client (CLIENT: IP address, CIDR, MAC or name)\n"
	      "  client set CLIENT [--mode off|log|block] [--name NAME] [--block GROUPS] [--action ACTION]\n"
	      "                  [--lock|--unlock] (a value of 'default' removes the setting; --lock\n"
	      "                                    keeps the device from changing itself in the console)\n"
	      "  client del CLIENT                 remove a client's policy from Redis\n"
	      "  policy show                       the defaults, the version and the counts\n"
	      "  policy set [--mode M] [--block GROUPS] [--action ACTION]\n"
	      "  allow|deny add DOMAIN...          add to the operator's allow or deny list\n"
	      "  allow|deny del DOMAIN...\n"
	      "  allow|deny list\n"
	      "  groups                            the jurisdiction groups known to the configuration\n"
	      "  reload                            every instance reloads its configuration and policy\n"
	      "  instances                         the running instances: version, GeoIP database age, last flush\n"
	      "  stats [CLIENT]                    counters: totals and per client, or one client\n"
	      "  top CLIENT [GROUP]                the client's top domains per jurisdiction group\n"
	      "  tail [-n N] [-f] [--queries]      first contacts (or, with --queries, recent labelled\n"
	      "                                    queries): the last N (10), then follow with -f\n"
	      "  report --html FILE [--days N]     a self-contained HTML report (N days of history, 7)\n"
	      "  web passwd [--file FILE]          set the console's admin password (read from the\n"
	      "                                    terminal, or one line of standard input)\n"
	      "\n"
	      "  client show, stats and report name the vendor of a device whose MAC address is known\n"
	      "  (from [labels] oui, default /usr/share/ieee-data).\n"
	      "\n"
	      "  -c CONFIG    read [redis], [labels] and the [client X] sections from CONFIG\n"
	      "               (default " DEFAULT_CONF " if it exists)\n"
	      "  -r ADDRESS   Redis: unix:/path, IP:port or [IPv6]:port (default [redis] address, else "
	      DEFAULT_REDIS ")\n"
	      "  -p PREFIX    key prefix (default [redis] prefix, else jurisdns:)\n"
	      "  -u USER      Redis ACL user; the password comes from JURISDNS_REDIS_PASSWORD or [redis]\n"
	      "  --json       machine-readable output for reads\n"
	      "\nExit status: 0 done, 1 error (one line on stderr), 2 usage.\n", f);
}

/* The configuration (the defaults without one), then the options over it. */
static void setup(struct ctl *c, const char *conf_path, const char *address, const char *prefix,
		  const char *user, bool redis)
{
	char err[600];

	if (!conf_path && access(DEFAULT_CONF, F_OK) == 0)
		conf_path = DEFAULT_CONF;
	/* an upstream keeps conf_load from needing resolv.conf, which ctl has no use for */
	struct conf_overrides ov = { .nupstream = 1, .workers = -1 };
	if (addr_parse("127.0.0.1", 53, &ov.upstream[0], err, sizeof(err)) < 0 ||
	    !(c->conf = conf_load(conf_path, &ov, "/dev/null", err, sizeof(err))))
		die("%s", err);
	c->rcfg = c->conf->redis;
	if (address) {
		if (redis_address_check(address, err, sizeof(err)) < 0)
			die("-r %s", err);
		snprintf(c->rcfg.address, sizeof(c->rcfg.address), "%s", address);
	} else if (!c->rcfg.address[0]) {
		if (conf_path && redis)
			die("%s has no [redis] address; give one with -r", conf_path);
		snprintf(c->rcfg.address, sizeof(c->rcfg.address), "%s", DEFAULT_REDIS);
	}
	if (prefix) {
		if (strlen(prefix) >= sizeof(c->rcfg.prefix) - 16 || strpbrk(prefix, " {}\t"))
			die("-p '%s': up to 47 printable characters, no spaces or braces", prefix);
		snprintf(c->rcfg.prefix, sizeof(c->rcfg.prefix), "%s", prefix);
	}
	if (user)
		snprintf(c->rcfg.user, sizeof(c->rcfg.user), "%s", user);
	if (getenv("JURISDNS_REDIS_PASSWORD"))
		snprintf(c->rcfg.password, sizeof(c->rcfg.password), "%s", getenv("JURISDNS_REDIS_PASSWORD"));
	ctl_keys(c);
}

static const struct {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
	bool redis;
} commands[] = {
	{ "client", cmd_client, true },       { "policy", cmd_policy, true },
	{ "allow", cmd_domains, true },       { "deny", cmd_domains, true },
	{ "groups", cmd_groups, false },      { "reload", cmd_reload, true },
	{ "instances", cmd_instances, true }, { "stats", cmd_stats, true },
	{ "top", cmd_top, true },             { "tail", cmd_tail, true },
	{ "report", cmd_report, true },       { "web", cmd_web, false },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};
	struct ctl c = { 0 };
	const char *conf_path = NULL, *address = NULL, *prefix = NULL, *user = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "+c:r:p:u:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 'r': address = optarg; break;
		case 'p': prefix = optarg; break;
		case 'u': user = optarg; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("jurisdns-ctl %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* --json may also follow the command */
	int n = 0;
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c.json = true;
		else
			argv[optind + n++] = argv[i];
	}
	argc = optind + n;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	char **av = argv + optind;
	int ac = argc - optind;
	size_t k = 0;
	while (k < sizeof(commands) / sizeof(*commands) && strcmp(av[0], commands[k].name))
		k++;
	/* the configuration is read first: its errors come before a usage error */
	setup(&c, conf_path, address, prefix, user,
	      k == sizeof(commands) / sizeof(*commands) || commands[k].redis);
	if (k == sizeof(commands) / sizeof(*commands))
		usage_error("unknown command '%s'", av[0]);
	if (commands[k].redis)
		ctl_connect(&c);
	int rc = commands[k].run(&c, ac, av);
	ctl_close(&c);
	return rc;
}
