#!/bin/sh
# Start a redis-server on unix:/tmp/jd-bench-redis/redis.sock and load the policy of
# policy-on.conf into it: default mode block, block PRC, 1,000 clients (10.0.0.1.. and
# 127.0.0.1). For tests/bench/policy-redis.conf. Stop it with: redis-policy.sh stop
set -eu
dir=/tmp/jd-bench-redis
ctl=${JURISDNS_CTL:-./src/jurisdns-ctl}
if [ "${1:-}" = stop ]; then
	[ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
	exit 0
fi
mkdir -p "$dir"
redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 --save '' \
	--appendonly no --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
i=0
while ! redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 50 ] || { echo "redis did not start" >&2; exit 1; }; sleep 0.1
done
redis-cli -s "$dir/redis.sock" flushall >/dev/null
# one pipeline: the clients of policy-on.conf, in the same modes
awk '
/^\[client / { id = substr($2, 1, length($2) - 1); next }
/^mode = / { mode[id] = $3; ids[++n] = id; next }
/^name = / { name[id] = $3 }
END {
	for (i = 1; i <= n; i++) {
		id = ids[i]
		printf "SADD jurisdns:{policy}:clients %s\n", id
		printf "HSET jurisdns:{policy}:client:%s mode %s name %s\n", id, mode[id], name[id]
	}
	print "HSET jurisdns:{policy}:default mode block block PRC"
	print "SET jurisdns:{policy}:version 1"
}' "$(dirname "$0")/policy-on.conf" | redis-cli -s "$dir/redis.sock" >/dev/null
"$ctl" -r "unix:$dir/redis.sock" policy show
