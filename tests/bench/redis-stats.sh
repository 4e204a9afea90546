#!/bin/sh
# Redis for the statistics bench (tests/bench/stats-on.conf):
#   redis-stats.sh start    redis-server on unix:/tmp/jd-bench-redis/redis.sock, empty, stats reset
#   redis-stats.sh report   Redis commands run, queries counted, commands per 1,000 queries
#   redis-stats.sh stop
set -eu
dir=/tmp/jd-bench-redis
cli() { redis-cli -s "$dir/redis.sock" "$@"; }
case "${1:-}" in
start)
	mkdir -p "$dir"
	redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 --save '' \
		--appendonly no --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
	i=0
	while ! cli ping >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 50 ] || { echo "redis did not start" >&2; exit 1; }; sleep 0.1
	done
	cli flushall >/dev/null
	cli config resetstat >/dev/null
	;;
report)
	# every command but our own INFO and CONFIG (commands run by scripts count too)
	cmds=$(cli info commandstats | awk -F'[:=,]' '/^cmdstat_/ {
		name = substr($1, 9); if (name != "info" && name !~ /^config/) n += $3 }
		END { print n + 0 }')
	queries=$(cli hget 'jurisdns:{stats}:total' queries)
	echo "redis commands: $cmds"
	echo "queries counted: ${queries:-0}"
	awk -v c="$cmds" -v q="${queries:-0}" 'BEGIN { if (q > 0) printf "commands per 1,000 queries: %.3f\n", c * 1000 / q }'
	cli info commandstats | grep -v '^#' | grep -v '^$' || true
	;;
stop)
	[ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
	;;
*)
	echo "usage: $0 start|report|stop" >&2
	exit 2
	;;
esac
