/* settings.c - --mode/--block/--action/--name from the command line to HSET/HDEL. */
#include "config.h"
#include <string.h>
#include "fail.h"
#include "policy.h"
#include "rschema.h"
#include "settings.h"

void settings_parse(int argc, char **argv, int start, struct settings *s, bool with_name)
{
	for (int i = start; i < argc; i++) {
		const char **dst = NULL, *a = argv[i], *eq = strchr(a, '=');
		size_t kl = eq ? (size_t)(eq - a) : strlen(a);
		if (kl == 6 && !strncmp(a, "--mode", 6))
			dst = &s->mode;
		else if (kl == 7 && !strncmp(a, "--block", 7))
			dst = &s->block;
		else if (kl == 8 && !strncmp(a, "--action", 8))
			dst = &s->action;
		else if (with_name && kl == 6 && !strncmp(a, "--name", 6))
			dst = &s->name;
		if (!dst)
			usage_error("unexpected argument '%s'", a);
		if (eq)
			*dst = eq + 1;
		else if (++i < argc)
			*dst = argv[i];
		else
			usage_error("%s needs a value", a);
	}
	if (!s->mode && !s->name && !s->block && !s->action)
		usage_error("%s: nothing to set (--mode, --block, --action or --name)", argv[start - 1]);
}

/* A block list: valid syntax, and every group known (when the groups file is at hand), with the
 * daemon's own check: names in any case, the nearest group suggested. */
static void check_block(struct ctl *c, const char *value)
{
	struct block_spec b[POLICY_MAX_BLOCK];
	unsigned n = 0;
	char err[1400];

	if (policy_parse_block(value, ctl_groups(c), b, &n, err, sizeof(err)) < 0)
		die("%s", err);
}

static void check_field(struct ctl *c, const char *field, const char *value)
{
	struct client_rule r;
	char err[300];

	if (!value || !strcmp(value, "default"))
		return;
	policy_client_init(&r, "0.0.0.0/0", err, sizeof(err));
	if (policy_client_set(&r, field, value, NULL, err, sizeof(err)) < 0)
		die("%s", err);
	if (!strcmp(field, RSCHEMA_RULE_BLOCK))
		check_block(c, value);
}

void settings_check(struct ctl *c, const struct settings *s)
{
	check_field(c, RSCHEMA_RULE_MODE, s->mode);
	if (s->name && s->name[0])
		check_field(c, RSCHEMA_RULE_NAME, s->name);
	check_field(c, RSCHEMA_RULE_BLOCK, s->block);
	check_field(c, RSCHEMA_RULE_ACTION, s->action);
}

int settings_queue(struct ctl *c, const char *key, const struct settings *s)
{
	const char *names[] = { RSCHEMA_RULE_MODE, RSCHEMA_RULE_NAME, RSCHEMA_RULE_BLOCK, RSCHEMA_RULE_ACTION };
	const char *vals[] = { s->mode, s->name, s->block, s->action };
	int n = 0;

	for (int i = 0; i < 4; i++) {
		if (!vals[i])
			continue;
		bool clear = i == 1 ? !vals[i][0] : !strcmp(vals[i], "default");
		if (clear)
			ctl_append(c, "HDEL %s %s", key, names[i]);
		else
			ctl_append(c, "HSET %s %s %s", key, names[i], vals[i]);
		n++;
	}
	return n;
}
