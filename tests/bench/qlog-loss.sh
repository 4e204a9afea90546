#!/bin/bash
# qlog-loss.sh JURISDNS_BIN [SECONDS] - does the query log keep up? Replays the bench `uniform`
# load (dnsperf -c 10 -q 200) with query_log_mode = all and compares the number of log lines
# with the queries dnsperf got answers to. Needs ../shared/bench data (run its run.sh once).
set -euo pipefail
bin=${1:?usage: $0 path/to/jurisdns [seconds]}
secs=${2:-10}
. "$(dirname "$0")/lib.sh"
start_knot 55370
cat > "$tmp/jd.conf" <<EOC
[server]
listen = 127.0.0.1:55371
workers = 2
[upstream]
server = 127.0.0.1:55370
[log]
query_log = $tmp/queries.jsonl
query_log_mode = all
EOC
"$bin" -c "$tmp/jd.conf" 2>"$tmp/jd.log" & jd=$!; pids+=($jd)
wait_answer 55371
dnsperf -s 127.0.0.1 -p 55371 -d "$data/q-uniform.txt" -c 10 -q 200 -l "$secs" > "$tmp/dnsperf.txt" 2>&1
kill -TERM "$jd"; wait "$jd" || true
completed=$(awk '/Queries completed:/ {print $3}' "$tmp/dnsperf.txt")
lines=$(wc -l < "$tmp/queries.jsonl")
dropped=$(grep -o 'query_log: [0-9]* records dropped' "$tmp/jd.log" | tail -n1 || true)
echo "dnsperf completed $completed, log lines $lines (incl. 1 readiness query), qps $(awk '/Queries per second/ {print $4}' "$tmp/dnsperf.txt") ${dropped:+($dropped)}"
