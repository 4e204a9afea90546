#!/bin/bash
# rss.sh JURISDNS_BIN [SECONDS] [CACHE] - RSS over a long `uniform` load (issue: flat within
# +-10 % once the cache is full). knotd serves the bench zone; dnsperf replays q-uniform.txt;
# the daemon's RSS is sampled every 10 s. A small cache (default 8M) makes eviction happen.
set -euo pipefail
bin=${1:?usage: $0 path/to/jurisdns [seconds] [cache]}
secs=${2:-300}
cache=${3:-8M}
. "$(dirname "$0")/lib.sh"
start_knot 55380
printf '[server]\nlisten = 127.0.0.1:55381\nworkers = 2\n[upstream]\nserver = 127.0.0.1:55380\n[cache]\nsize = %s\n' "$cache" > "$tmp/jd.conf"
"$bin" -c "$tmp/jd.conf" 2>"$tmp/jd.log" & jd=$!; pids+=($jd)
wait_answer 55381
dnsperf -s 127.0.0.1 -p 55381 -d "$data/q-uniform.txt" -c 10 -q 200 -l "$secs" > "$tmp/dnsperf.txt" 2>&1 & dp=$!; pids+=($dp)
echo "t_s rss_kib"
for t in $(seq 10 10 "$secs"); do
	sleep 10
	echo "$t $(awk '/VmRSS/ {print $2}' /proc/$jd/status)"
done
wait $dp || true
grep -E 'Queries (sent|completed|lost)|Queries per second' "$tmp/dnsperf.txt"
