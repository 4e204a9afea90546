/* metrics_text.c - the /metrics exposition text: the workers' live counters (read through
 * worker_stats_of, summed over the workers) and the per-client statistics' totals. It depends
 * on neither the HTTP server nor Redis. */
#include "config.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"
#include "label.h"
#include "metrics_text.h"
#include "policy.h"
#include "worker.h"

/* The slots must hold every server a configuration can name at once (stats_count.h). */
_Static_assert(UP_STATS_MAX >= CONF_MAX_UPSTREAM + CONF_MAX_FORWARD_ADDRS,
	       "UP_STATS_MAX below the servers one configuration may name");

/* s as a quoted label value. The text format escapes backslash, double quote and newline, and
 * nothing else: any other byte (a tab, UTF-8) goes as it is (a JSON-style \u0009 is no escape
 * there). */
static void mt_label_value(struct strbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (const char *run = s;; s++) {
		if (*s && *s != '"' && *s != '\\' && *s != '\n')
			continue;
		sb_put(b, run, (size_t)(s - run));
		if (!*s)
			break;
		sb_put(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		run = s + 1;
	}
	sb_put(b, "\"", 1);
}

static void mt_head(struct strbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{instance="..." then the caller's labels and value */
static void mt_sample(struct strbuf *b, const char *name, const struct metrics_input *in)
{
	sb_printf(b, "%s{instance=", name);
	mt_label_value(b, in->instance);
}

static void mt_total(struct strbuf *b, const struct metrics_input *in, const char *name, const char *help,
		     size_t off)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < in->nworkers; i++)
		n += wc_get((const wcounter *)((const char *)worker_stats_of(in->workers[i]) + off));
	mt_head(b, name, "counter", help);
	mt_sample(b, name, in);
	sb_printf(b, "} %llu\n", (unsigned long long)n);
}

static void mt_latency(struct strbuf *b, const struct metrics_input *in)
{
	static const uint32_t bounds_us[ANSWER_NBUCKETS - 1] = { ANSWER_BUCKETS_US };
	static const char *const kinds[ANS_KINDS] = { "hit", "miss", "local", "error" };
	static const char name[] = "jurisdns_answer_duration_seconds";

	mt_head(b, name, "histogram",
		"Time from the arrival of a query to its answer being handed to the socket, by where the "
		"answer came from (hit: the cache, miss: upstream, local: made here, error: made up at once).");
	for (int k = 0; k < ANS_KINDS; k++) {
		uint64_t cum = 0, sum = 0;
		for (unsigned i = 0; i < in->nworkers; i++)
			sum += wc_get(&worker_stats_of(in->workers[i])->latency_sum_ns[k]);
		for (int j = 0; j < ANSWER_NBUCKETS; j++) {
			for (unsigned i = 0; i < in->nworkers; i++)
				cum += wc_get(&worker_stats_of(in->workers[i])->latency[k][j]);
			mt_sample(b, "jurisdns_answer_duration_seconds_bucket", in);
			if (j < ANSWER_NBUCKETS - 1)
				sb_printf(b, ",cache=\"%s\",le=\"%g\"} %llu\n", kinds[k], bounds_us[j] / 1e6,
					  (unsigned long long)cum);
			else
				sb_printf(b, ",cache=\"%s\",le=\"+Inf\"} %llu\n", kinds[k], (unsigned long long)cum);
		}
		mt_sample(b, "jurisdns_answer_duration_seconds_sum", in);
		sb_printf(b, ",cache=\"%s\"} %llu.%09llu\n", kinds[k], (unsigned long long)(sum / 1000000000),
			  (unsigned long long)(sum % 1000000000));
		mt_sample(b, "jurisdns_answer_duration_seconds_count", in);
		sb_printf(b, ",cache=\"%s\"} %llu\n", kinds[k], (unsigned long long)cum);
	}
}

static void mt_rcodes(struct strbuf *b, const struct metrics_input *in)
{
	static const char *const names[ANSWER_RCODES] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
							  "NOTIMP", "REFUSED", "other" };

	mt_head(b, "jurisdns_answers_total", "counter", "Answers sent to clients, by rcode.");
	for (int r = 0; r < ANSWER_RCODES; r++) {
		uint64_t n = 0;
		for (unsigned i = 0; i < in->nworkers; i++)
			n += wc_get(&worker_stats_of(in->workers[i])->rcodes[r]);
		mt_sample(b, "jurisdns_answers_total", in);
		sb_printf(b, ",rcode=\"%s\"} %llu\n", names[r], (unsigned long long)n);
	}
}

struct up_sum {
	struct addr addr;
	uint64_t v[5];               /* queries, tcp_queries, answers, timeouts, servfail */
	uint64_t srtt_sum;
	unsigned srtt_n;
	bool used, down;
};

static void mt_upstreams(struct strbuf *b, const struct metrics_input *in)
{
	static const char *const names[5] = { "jurisdns_upstream_queries_total",
					      "jurisdns_upstream_tcp_queries_total",
					      "jurisdns_upstream_answers_total",
					      "jurisdns_upstream_timeouts_total",
					      "jurisdns_upstream_servfail_total" };
	static const char *const help[5] = {
		"Queries sent to the upstream (attempts: failovers and retries over TCP included).",
		"Queries sent to the upstream over TCP (after a truncated answer).",
		"Answers taken from the upstream (NOERROR and NXDOMAIN).",
		"Queries to the upstream that got no answer within [upstream] failover or timeout ms.",
		"SERVFAIL answers from the upstream (the query then goes to the next one)." };
	struct up_sum ups[UP_STATS_MAX];
	unsigned n = 0;
	char name[64];

	for (unsigned i = 0; i < in->nworkers; i++) {
		const struct worker_stats *st = worker_stats_of(in->workers[i]);
		unsigned m = atomic_load_explicit(&st->nups, memory_order_acquire);
		struct up_stats_view u;
		for (unsigned j = 0; j < m && j < UP_STATS_MAX; j++) {
			if (!stats_upstream_read(st, j, &u))
				continue; /* being given to another server right now: next scrape */
			unsigned k = 0;
			while (k < n && !addr_equal(&ups[k].addr.u.sa, &u.addr.u.sa))
				k++;
			if (k == n) {
				if (n == UP_STATS_MAX)
					continue;
				memset(&ups[n], 0, sizeof(ups[n]));
				ups[n++].addr = u.addr;
			}
			uint64_t v[5] = { u.queries, u.tcp_queries, u.answers, u.timeouts, u.servfail };
			for (int f = 0; f < 5; f++)
				ups[k].v[f] += v[f];
			if (u.srtt_us) {
				ups[k].srtt_sum += u.srtt_us;
				ups[k].srtt_n++;
			}
			if (u.users) {
				ups[k].used = true;
				ups[k].down |= u.down != 0;
			}
		}
	}
	mt_head(b, "jurisdns_upstream_up", "gauge",
		"0 while a worker has the upstream marked down after failures (tried last), until it answers again.");
	for (unsigned k = 0; k < n; k++)
		if (ups[k].used) {
			mt_sample(b, "jurisdns_upstream_up", in);
			sb_printf(b, ",upstream=\"%s\"} %d\n", addr_str(&ups[k].addr.u.sa, name, sizeof(name)),
				  !ups[k].down);
		}
	for (int f = 0; f < 5; f++) {
		mt_head(b, names[f], "counter", help[f]);
		for (unsigned k = 0; k < n; k++) {
			mt_sample(b, names[f], in);
			sb_printf(b, ",upstream=\"%s\"} %llu\n", addr_str(&ups[k].addr.u.sa, name, sizeof(name)),
				  (unsigned long long)ups[k].v[f]);
		}
	}
	mt_head(b, "jurisdns_upstream_rtt_seconds", "gauge",
		"Smoothed round-trip time of the upstream's answers (averaged over the workers).");
	for (unsigned k = 0; k < n; k++)
		if (ups[k].srtt_n) {
			uint64_t us = ups[k].srtt_sum / ups[k].srtt_n;
			mt_sample(b, "jurisdns_upstream_rtt_seconds", in);
			sb_printf(b, ",upstream=\"%s\"} %llu.%06llu\n",
				  addr_str(&ups[k].addr.u.sa, name, sizeof(name)),
				  (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
		}
}

void metrics_render_workers(struct strbuf *b, const struct metrics_input *in)
{
	uint64_t udp = 0, tcp = 0, dot = 0, doh = 0, entries = 0, bytes = 0;

	mt_latency(b, in);
	mt_rcodes(b, in);
	for (unsigned i = 0; i < in->nworkers; i++) {
		udp += wc_get(&worker_stats_of(in->workers[i])->udp_queries);
		tcp += wc_get(&worker_stats_of(in->workers[i])->tcp_queries);
		dot += wc_get(&worker_stats_of(in->workers[i])->dot_queries);
		doh += wc_get(&worker_stats_of(in->workers[i])->doh_queries);
		entries += wc_get(&worker_stats_of(in->workers[i])->cache_entries);
		bytes += wc_get(&worker_stats_of(in->workers[i])->cache_bytes);
	}
	mt_head(b, "jurisdns_client_queries_total", "counter",
		"Messages received from clients (UDP datagrams, TCP and DoT messages, DoH requests), malformed ones included.");
	mt_sample(b, "jurisdns_client_queries_total", in);
	sb_printf(b, ",transport=\"udp\"} %llu\n", (unsigned long long)udp);
	mt_sample(b, "jurisdns_client_queries_total", in);
	sb_printf(b, ",transport=\"tcp\"} %llu\n", (unsigned long long)tcp);
	mt_sample(b, "jurisdns_client_queries_total", in);
	sb_printf(b, ",transport=\"dot\"} %llu\n", (unsigned long long)dot);
	mt_sample(b, "jurisdns_client_queries_total", in);
	sb_printf(b, ",transport=\"doh\"} %llu\n", (unsigned long long)doh);
	mt_total(b, in, "jurisdns_dropped_queries_total", "Client messages dropped unanswered: not a DNS query, or too long.",
		 offsetof(struct worker_stats, dropped));
	mt_total(b, in, "jurisdns_truncated_answers_total", "UDP answers sent with TC=1 (too long for the client).",
		 offsetof(struct worker_stats, truncated));
	mt_total(b, in, "jurisdns_dedup_joins_total", "Queries that joined an identical upstream query already in flight.",
		 offsetof(struct worker_stats, dedup_joins));
	mt_total(b, in, "jurisdns_send_errors_total", "Datagrams the kernel did not take (full socket buffer), clients and upstreams.",
		 offsetof(struct worker_stats, send_errors));
	mt_total(b, in, "jurisdns_tcp_connections_total", "Client TCP connections accepted.",
		 offsetof(struct worker_stats, tcp_clients));
	mt_total(b, in, "jurisdns_tcp_rejected_total", "Client TCP connections closed at once (tcp_max_clients, shutting down).",
		 offsetof(struct worker_stats, tcp_rejected));
	mt_total(b, in, "jurisdns_upstream_bad_messages_total",
		 "Upstream messages ignored: unknown ID (late, duplicate, spoofed), another question, malformed, "
		 "or an rcode other than NOERROR, NXDOMAIN and SERVFAIL.",
		 offsetof(struct worker_stats, upstream_bad));
	mt_upstreams(b, in);
	mt_head(b, "jurisdns_cache_entries", "gauge", "Answers in the cache (all workers).");
	mt_sample(b, "jurisdns_cache_entries", in);
	sb_printf(b, "} %llu\n", (unsigned long long)entries);
	mt_head(b, "jurisdns_cache_bytes", "gauge", "Bytes the cache holds, as charged against [cache] size.");
	mt_sample(b, "jurisdns_cache_bytes", in);
	sb_printf(b, "} %llu\n", (unsigned long long)bytes);
	mt_head(b, "jurisdns_cache_capacity_bytes", "gauge", "[cache] size: the most the cache holds.");
	mt_sample(b, "jurisdns_cache_capacity_bytes", in);
	sb_printf(b, "} %llu\n", (unsigned long long)in->cache_capacity);
	mt_total(b, in, "jurisdns_cache_evictions_total", "Answers evicted before they expired, to make room.",
		 offsetof(struct worker_stats, cache_evictions));
	mt_head(b, "jurisdns_geoip_build_timestamp_seconds", "gauge",
		"When the GeoIP database was built (unix time); absent without a database.");
	if (in->geo_built) {
		mt_sample(b, "jurisdns_geoip_build_timestamp_seconds", in);
		sb_printf(b, "} %lld\n", in->geo_built);
	}
	mt_head(b, "jurisdns_geoip_age_seconds", "gauge",
		"Age of the GeoIP database: now minus its build time; absent without a database.");
	if (in->geo_built) {
		mt_sample(b, "jurisdns_geoip_age_seconds", in);
		sb_printf(b, "} %lld\n", in->now - in->geo_built);
	}
}

void metrics_render_counts(struct strbuf *b, const char *inst, const struct stats_sums *c,
			   bool redis_up, uint64_t pending)
{
	static const char *const help[] = { "Queries answered.", "Answers from the cache.",
					    "Answers replaced by the policy (sinkhole, NXDOMAIN, NODATA, REFUSED, drop, TCP-only).",
					    "Answers edited by the policy (strip, RPZ local data)." };
	static const char *const names[] = { "jurisdns_queries_total", "jurisdns_cache_hits_total",
					     "jurisdns_blocked_total", "jurisdns_rewritten_total" };

	for (int i = 0; i < ST_NFIXED; i++) {
		mt_head(b, names[i], "counter", help[i]);
		sb_printf(b, "%s{instance=", names[i]);
		mt_label_value(b, inst);
		sb_printf(b, "} %llu\n", (unsigned long long)c->n[i]);
	}
	mt_head(b, "jurisdns_policy_actions_total", "counter", "Answers by policy action.");
	for (int i = 1; i <= PACT_LOCAL; i++) {
		sb_str(b, "jurisdns_policy_actions_total{instance=");
		mt_label_value(b, inst);
		sb_printf(b, ",action=\"%s\"} %llu\n", policy_action_name((enum paction)i),
			  (unsigned long long)c->act[i]);
	}
	mt_head(b, "jurisdns_group_queries_total", "counter",
		"Queries whose answer led into a jurisdiction group, by reason (any = at least one).");
	for (unsigned g = 0; g < c->ngroups; g++)
		for (int r = 0; r < 4; r++) {
			sb_str(b, "jurisdns_group_queries_total{instance=");
			mt_label_value(b, inst);
			sb_str(b, ",group=");
			mt_label_value(b, c->g[g].name);
			sb_printf(b, ",reason=\"%s\"} %llu\n", r ? label_kind_names[r - 1] : "any",
				  (unsigned long long)c->g[g].v[r]);
		}
	sb_str(b, "# HELP jurisdns_redis_up Whether the statistics connection to Redis is up.\n"
		  "# TYPE jurisdns_redis_up gauge\njurisdns_redis_up{instance=");
	mt_label_value(b, inst);
	sb_printf(b, "} %d\n", redis_up ? 1 : 0);
	sb_str(b, "# HELP jurisdns_stats_pending_queries Queries counted but not yet in Redis.\n"
		  "# TYPE jurisdns_stats_pending_queries gauge\njurisdns_stats_pending_queries{instance=");
	mt_label_value(b, inst);
	sb_printf(b, "} %llu\n", (unsigned long long)pending);
}
