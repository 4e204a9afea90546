#!/bin/bash
# profile.sh JURISDNS_BIN [CONF_EXTRA] - where a forwarded query (the bench `miss` load) spends its
# CPU: user against kernel time per query (from /proc/PID/stat), and a perf profile of the daemon
# grouped by source file (one file is one step of the pipeline, or a library). The daemon runs
# with one worker pinned to CPU 1, knotd and dnsperf on CPU 0, as `run.sh --pin` does.
# CONF_EXTRA (a file) is appended to the daemon's config, e.g. tests/bench/policy-on.conf parts.
set -euo pipefail
bin=${1:?usage: $0 path/to/jurisdns [extra.conf]}
extra=${2:-}
. "$(dirname "$0")/lib.sh"
qfile=$(ls "$data"/u-a-*.txt | head -n1)
start_knot 55392 1
printf '[server]\nlisten = 127.0.0.1:55393\nworkers = 1\n[upstream]\nserver = 127.0.0.1:55392\n' > "$tmp/jd.conf"
[ -z "$extra" ] || cat "$extra" >> "$tmp/jd.conf"
taskset -c 1 "$bin" -c "$tmp/jd.conf" 2>"$tmp/jd.log" & jd=$!; pids+=($jd)
taskset -pc 0 "${pids[0]}" >/dev/null
wait_answer 55393
tck=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$jd/stat")
perf record -q -g -p "$jd" -o "$tmp/perf.data" -- sleep 8 >/dev/null 2>&1 & perf=$!
taskset -c 0 dnsperf -s 127.0.0.1 -p 55393 -d "$qfile" -c 10 -T 1 -l 10 > "$tmp/dnsperf.txt" 2>&1
wait $perf || true
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$jd/stat")
q=$(awk '/Queries completed:/ {print $3}' "$tmp/dnsperf.txt")
qps=$(awk '/Queries per second:/ {print $4}' "$tmp/dnsperf.txt")
awk -v q="$q" -v qps="$qps" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v t="$tck" 'BEGIN {
	printf "queries %d  qps %.0f  CPU us/query: user %.2f  kernel %.2f  total %.2f\n",
	       q, qps, u / t * 1e6 / q, s / t * 1e6 / q, (u + s) / t * 1e6 / q }'
# self time by source file (ours) or by library/kernel
perf report -i "$tmp/perf.data" --no-children --sort dso,sym -F overhead,dso,sym --stdio 2>/dev/null |
	grep -E '^ +[0-9.]+%' > "$tmp/syms.txt" || true
echo "self time by place:"
nm -l --defined-only "$bin" 2>/dev/null | awk 'NF >= 4 { f = $4; sub(/:[0-9]+$/, "", f); n = split(f, p, "/"); print $3, p[n] }' > "$tmp/srcmap.txt"
awk -v bin="$(basename "$bin")" 'NR == FNR { src[$1] = $2; next }
	{ pct = $1; sub(/%/, "", pct); dso = $2; sym = $NF
	  if (dso == "[kernel.kallsyms]") w = "kernel"
	  else if (dso == bin) w = "jurisdns:" ((sym in src) ? src[sym] : "?")
	  else w = dso
	  s[w] += pct }
	END { for (k in s) printf "%6.1f%%  %s\n", s[k], k }' "$tmp/srcmap.txt" "$tmp/syms.txt" | sort -rn | head -n 25
echo "top symbols:"
sort -rn "$tmp/syms.txt" | head -n 30
