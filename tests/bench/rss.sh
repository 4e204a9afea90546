#!/bin/bash
# rss.sh JURISDNS_BIN [SECONDS] [CACHE] - RSS over a long `uniform` load (issue: flat within
# +-10 % once the cache is full). knotd serves the bench zone; dnsperf replays q-uniform.txt;
# the daemon's RSS is sampled every 10 s. A small cache (default 8M) makes eviction happen.
set -euo pipefail
bin=${1:?usage: $0 path/to/jurisdns [seconds] [cache]}
secs=${2:-300}
cache=${3:-8M}
data=${BENCH_DATA:-/tmp/bench-data}
tmp=$(mktemp -d /tmp/jd-rss.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cat > "$tmp/knot.conf" <<EOK
server:
    listen: 127.0.0.1@55380
    rundir: $tmp
database:
    storage: $tmp
zone:
  - domain: bench.test.
    file: $data/bench.test.zone
log:
  - target: stderr
    any: error
EOK
knotd -c "$tmp/knot.conf" & pids+=($!)
printf '[server]\nlisten = 127.0.0.1:55381\nworkers = 2\n[upstream]\nserver = 127.0.0.1:55380\n[cache]\nsize = %s\n' "$cache" > "$tmp/jd.conf"
"$bin" -c "$tmp/jd.conf" 2>"$tmp/jd.log" & jd=$!; pids+=($jd)
for i in $(seq 1 50); do dig +short +tries=1 +timeout=1 @127.0.0.1 -p 55381 h00001.bench.test >/dev/null 2>&1 && break; sleep 0.1; done
dnsperf -s 127.0.0.1 -p 55381 -d "$data/q-uniform.txt" -c 10 -q 200 -l "$secs" > "$tmp/dnsperf.txt" 2>&1 & dp=$!; pids+=($dp)
echo "t_s rss_kib"
for t in $(seq 10 10 "$secs"); do
	sleep 10
	echo "$t $(awk '/VmRSS/ {print $2}' /proc/$jd/status)"
done
wait $dp || true
grep -E 'Queries (sent|completed|lost)|Queries per second' "$tmp/dnsperf.txt"
