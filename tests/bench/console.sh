#!/bin/bash
# console.sh - the household console's bench (issue 13 "Performance"), in one run:
#   api   1,000 devices x 30 days of hourly buckets in a private Redis (tests/bench/console_fill.py,
#         through the schema of docs/redis-schema.md, pipelined with redis-cli --pipe); jurisdns
#         with [web] listen and a password; after a login, --requests times each:
#         GET /api/devices, GET /api/devices/ID (a different device each time), GET /api/me, and
#         the "device page": everything admin.js loads for one device (/admin, style.css, app.js,
#         admin.js, /api/me, /api/devices/ID, the first byte of /api/events), summed.
#         Server time = curl's time_starttransfer - time_pretransfer (request sent -> first byte
#         back; the replies are built whole before the first byte). Goals: devices < 100 ms,
#         device page < 150 ms.
#   dns   dnsperf `hit` (q-household.txt after one pass of q-warm.txt) and `miss` (unique names)
#         against jurisdns with the same data and config, once without and once with --sse
#         admin browsers (curl -N on /api/events, each from its own 127.0.0.X: 8 per source is
#         the server's limit) connected; prints qps with/without and jurisdns's CPU µs per
#         query. Odd rounds run without SSE first, even rounds with SSE first; the verdict uses
#         the median of the per-round ratios. Goal: within 5 %.
#         --labelled all (default) labels every bench.test name (group PRC by domain), so every
#         query is an event the SSE streams carry: the worst case; none: no query is labelled.
#
#   tests/bench/console.sh [--duration S] [--rounds N] [--only api,dns] [--jurisdns PATH] ...
#
# Run from a release build directory (default ./src/jurisdns and ./src/jurisdns-ctl: configure
# without --enable-sanitizers, CFLAGS=-O2).  DNS data: the zone and query files of the shared
# harness (../shared/bench) in $BENCH_DATA (default /tmp/bench-data), generated when missing.
# Everything listens on 127.0.0.1 (Redis on a unix socket in the temp dir); each daemon runs in
# its own process group (setsid) and is stopped by that PGID (TERM, KILL after 5 s), also on
# exit or Ctrl-C; every wait is bounded. Output: a summary on stdout; results.tsv, summary.txt
# and logs in --out (default /tmp/bench-results/console-DATE).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=${BENCH_DIR:-$HERE/../../../shared/bench}
DATA=${BENCH_DATA:-/tmp/bench-data}
DURATION=10
ROUNDS=1
ONLY="api,dns"
JURISDNS=./src/jurisdns
CTL=./src/jurisdns-ctl
DEVICES=1000
DAYS=30
REQUESTS=50
SSE=10
LABELLED=all
THREADS=1
CLIENTS=10
OUTSTANDING=200
BASE_PORT=24700    # knotd; jurisdns DNS +10, console +11
OUT=""
KEEP=0
PASSWORD="bench console password"

usage() {
	cat <<EOF
usage: $0 [options]
  --duration S       seconds per dnsperf measurement (default $DURATION)
  --rounds N         repeat the dns part N times; medians (default $ROUNDS)
  --only LIST        api, dns or both (default $ONLY)
  --jurisdns PATH    the daemon (default $JURISDNS); --ctl PATH jurisdns-ctl (default $CTL)
  --devices N        devices in Redis (default $DEVICES); --days D hourly buckets (default $DAYS)
  --requests N       requests per API measurement (default $REQUESTS)
  --sse N            SSE clients in the dns part (default $SSE)
  --labelled all|none  bench.test names labelled (events for SSE) or not (default $LABELLED)
  --threads N        jurisdns workers (default $THREADS)
  --clients N        dnsperf -c (default $CLIENTS); --outstanding N dnsperf -q (default $OUTSTANDING)
  --base-port P      knotd on P, jurisdns on P+10 (DNS) and P+11 (console) (default $BASE_PORT)
  --out DIR          results directory (default /tmp/bench-results/console-DATE)
  --keep             keep the temp dir (configs, Redis socket, logs)
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--jurisdns) JURISDNS=$2; shift ;;
	--ctl) CTL=$2; shift ;;
	--devices) DEVICES=$2; shift ;;
	--days) DAYS=$2; shift ;;
	--requests) REQUESTS=$2; shift ;;
	--sse) SSE=$2; shift ;;
	--labelled) LABELLED=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--clients) CLIENTS=$2; shift ;;
	--outstanding) OUTSTANDING=$2; shift ;;
	--base-port) BASE_PORT=$2; shift ;;
	--out) OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

want() { [[ ",$ONLY," == *",$1,"* ]]; }
for t in redis-server redis-cli curl python3 setsid; do
	command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done
if want dns; then
	for t in dnsperf knotd kdig; do command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }; done
fi
for b in "$JURISDNS" "$CTL"; do [ -x "$b" ] || { echo "not built: $b (--jurisdns, --ctl)" >&2; exit 2; }; done
JURISDNS=$(cd "$(dirname "$JURISDNS")" && pwd)/$(basename "$JURISDNS")
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
case $LABELLED in all|none) ;; *) echo "--labelled all or none" >&2; exit 2 ;; esac

OUT=${OUT:-/tmp/bench-results/console-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" || exit 1
tmp=$(mktemp -d /tmp/jd-bench.XXXXXX) || exit 1
RESULTS=$OUT/results.tsv
. "$HERE/pgroup.sh"   # STARTED, log, pg_alive, launch, stop_pg, cleanup

UP_PORT=$BASE_PORT
DNS_PORT=$((BASE_PORT + 10))
WEB_PORT=$((BASE_PORT + 11))
WEB=http://127.0.0.1:$WEB_PORT
RSOCK=$tmp/redis.sock

# ---------------------------------------------------------------- Redis, filled
rcli() { redis-cli -s "$RSOCK" "$@"; }
launch "$OUT/logs/redis.log" redis-server --port 0 --unixsocket "$RSOCK" --unixsocketperm 700 \
	--save '' --appendonly no --dir "$tmp"
REDIS_PID=$LAST_PID
for _ in $(seq 1 50); do rcli ping >/dev/null 2>&1 && break; sleep 0.1; done
rcli ping >/dev/null 2>&1 || { log "redis-server did not start"; exit 1; }
log "filling Redis: $DEVICES devices x $DAYS days of hourly buckets"
t0=$(date +%s.%N)
python3 "$HERE/console_fill.py" --devices "$DEVICES" --days "$DAYS" |
	rcli --pipe >"$OUT/logs/fill.log" 2>&1 || { log "fill failed:"; tail -3 "$OUT/logs/fill.log" >&2; exit 1; }
t1=$(date +%s.%N)
FILL="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, $(rcli dbsize) keys, $(rcli info memory | awk -F: '/^used_memory_human/ { sub(/\r/, "", $2); print $2 }')"
log "filled: $FILL ($(tail -1 "$OUT/logs/fill.log"))"

# ---------------------------------------------------------------- knotd (the dns part's upstream)
UP_PID=0
if want dns; then
	gen=$BENCH_DIR/gen_data.py
	NA=$((DURATION * 150000)); [ $NA -lt 500000 ] && NA=500000
	UNIQ=$DATA/u-a-$NA.txt
	mkdir -p "$DATA" || exit 1
	if [ ! -s "$DATA/bench.test.zone" ] || [ ! -s "$DATA/q-household.txt" ]; then
		log "generating zone and query files in $DATA"
		python3 "$gen" zone "$DATA" >/dev/null && python3 "$gen" queries "$DATA" >/dev/null || exit 1
	fi
	[ -s "$UNIQ" ] || python3 "$gen" unique "$UNIQ" a "$NA" >/dev/null || exit 1
	mkdir -p "$tmp/knot"
	cat >"$tmp/knot/knot.conf" <<EOK
server:
    listen: 127.0.0.1@$UP_PORT
    rundir: $tmp/knot
    udp-workers: 2
    tcp-workers: 2
database:
    storage: $tmp/knot
zone:
  - domain: bench.test.
    file: $DATA/bench.test.zone
log:
  - target: stderr
    any: error
EOK
	launch "$OUT/logs/knotd.log" knotd -c "$tmp/knot/knot.conf"
	UP_PID=$LAST_PID
fi

# ---------------------------------------------------------------- jurisdns
printf '%s\n' "$PASSWORD" | "$CTL" web passwd --file "$tmp/web.passwd" >"$OUT/logs/passwd.log" 2>&1 ||
	{ log "jurisdns-ctl web passwd failed:"; cat "$OUT/logs/passwd.log" >&2; exit 1; }
{
	echo "[jurisdiction PRC]"
	echo "countries = CN HK MO"
	[ "$LABELLED" = all ] && echo "domains = bench.test"
	echo "[jurisdiction EU]"
	echo "countries = DE FR"
} >"$tmp/groups.conf"
cat >"$tmp/jurisdns.conf" <<EOC
; console.sh: the console with a filled Redis; no GeoIP (the groups label by domain only)
[server]
listen = 127.0.0.1:$DNS_PORT
workers = $THREADS
[upstream]
server = 127.0.0.1:$UP_PORT
[geoip]
db =
[labels]
groups = $tmp/groups.conf
[log]
query_log =
[policy]
default_mode = log
[redis]
address = unix:$RSOCK
snapshot =
[stats]
instance = bench
[web]
listen = 127.0.0.1:$WEB_PORT
password_file = $tmp/web.passwd
EOC

JD_PID=0
start_jd() {  # start_jd LOG: until the console answers / (20 s at most)
	launch "$1" "$JURISDNS" -f -c "$tmp/jurisdns.conf"
	JD_PID=$LAST_PID
	for _ in $(seq 1 100); do
		pg_alive "$JD_PID" || { log "jurisdns exited; log tail:"; tail -5 "$1" >&2; return 1; }
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$WEB/")" = 200 ] && return 0
		sleep 0.2
	done
	log "the console did not answer; log tail:"; tail -5 "$1" >&2
	return 1
}
login() {  # cookie jar in $tmp/cookies
	local code
	code=$(curl -s -o "$tmp/login.json" -w '%{http_code}' -c "$tmp/cookies" -H 'Content-Type: application/json' \
		--data "{\"password\": \"$PASSWORD\"}" "$WEB/api/login")
	[ "$code" = 200 ] || { log "login failed: HTTP $code $(cat "$tmp/login.json")"; return 1; }
}

printf 'part\tround\tname\tn\tmedian_ms\tp95_ms\tmax_ms\tnote\n' >"$RESULTS"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

# stats NAME NOTE < one server time in seconds per line: a TSV row and a summary line
stats_row() {
	python3 -c '
import statistics, sys
name, note, goal = sys.argv[1], sys.argv[2], float(sys.argv[3])
v = sorted(float(x) * 1000 for x in sys.stdin if x.strip())
if not v:
    print("api\t1\t%s\t0\tNA\tNA\tNA\tno-data" % name); sys.exit()
p95 = v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
print("api\t1\t%s\t%d\t%.1f\t%.1f\t%.1f\t%s" % (name, len(v), statistics.median(v), p95, v[-1],
      note + ("" if goal <= 0 else (" goal<%.0fms:%s" % (goal, "met" if p95 < goal else "NOT-met")))))
' "$@"
}

# curl_times URL...: one connection (keep-alive), each URL once; "code server_s bytes" per line
curl_times() {
	local a=() u
	for u in "$@"; do a+=(-o /dev/null "$u"); done   # -o is per URL
	curl -s -b "$tmp/cookies" --max-time 60 --interface "${SRC:-127.0.0.1}" \
		-w '%{http_code} %{time_pretransfer} %{time_starttransfer} %{size_download}\n' "${a[@]}" |
		awk '{ printf "%s %.6f %s\n", $1, $3 - $2, $4 }'
}

# ---------------------------------------------------------------- the API part
api_part() {
	local ids urls=() i id f
	start_jd "$OUT/logs/jurisdns-api.log" || return 1
	login || return 1
	# the device ids, in the order the list gives them
	curl -s -b "$tmp/cookies" "$WEB/api/devices" >"$tmp/devices.json"
	python3 - "$tmp/devices.json" "$DEVICES" "$RSOCK" <<'PY' >&2 || log "WARNING: the device list does not match Redis"
import json, subprocess, sys
d = json.load(open(sys.argv[1]))["devices"]
ids = {x["id"] for x in d}
want = int(sys.argv[2])
print("  /api/devices lists %d devices (%d filled)" % (len(d), want))
# one device's all-time queries against the hash the list reads
x = next(x for x in d if x["id"].startswith("10.1."))
q = subprocess.run(["redis-cli", "-s", sys.argv[3], "HGET", "jurisdns:{stats}:client:" + x["id"], "queries"],
                   capture_output=True, text=True).stdout.strip()
print("  %s: queries %s in the list, %s in Redis" % (x["id"], x["queries"], q))
sys.exit(0 if len([i for i in ids if i.startswith("10.1.")]) == want and str(x["queries"]) == q else 1)
PY
	ids=$(python3 -c 'import json, sys; print("\n".join(x["id"] for x in json.load(open(sys.argv[1]))["devices"] if x["id"].startswith("10.1.")))' "$tmp/devices.json" |
		awk -v n="$REQUESTS" 'NR % 7 == 1 && c < n { print; c++ }')
	curl_times "$WEB/api/devices" >/dev/null   # the first one: connections, caches

	urls=(); for i in $(seq 1 "$REQUESTS"); do urls+=("$WEB/api/devices"); done
	curl_times "${urls[@]}" >"$tmp/t-devices"
	urls=(); for id in $ids; do urls+=("$WEB/api/devices/$id"); done
	curl_times "${urls[@]}" >"$tmp/t-device"
	urls=(); for i in $(seq 1 "$REQUESTS"); do urls+=("$WEB/api/me"); done
	curl_times "${urls[@]}" >"$tmp/t-me"
	# the device page: what admin.js loads, one connection as a browser would reuse
	# each page view from its own 127.0.0.X: the server notices a closed SSE stream only at its
	# next write (keepalive, 5 s), and allows 8 connections per source
	: >"$tmp/t-page"
	local k=0
	for id in $ids; do
		k=$((k + 1)); SRC=127.0.1.$((k % 250 + 1))
		SRC=$SRC curl_times "$WEB/admin" "$WEB/style.css" "$WEB/app.js" "$WEB/admin.js" "$WEB/api/me" \
			"$WEB/api/devices/$id" >"$tmp/t-one"
		curl -s -N -b "$tmp/cookies" -o /dev/null --max-time 0.5 --interface "$SRC" \
			-w '%{http_code} %{time_pretransfer} %{time_starttransfer}\n' "$WEB/api/events" |
			awk '{ printf "%s %.6f 0\n", $1, $3 - $2 }' >>"$tmp/t-one"
		awk '{ s += $2 } END { printf "%.6f\n", s }' "$tmp/t-one" >>"$tmp/t-page"
		awk '$1 != 200 { bad++ } END { exit bad > 0 }' "$tmp/t-one" || log "WARNING: a device page request was not 200: $(tr '\n' ' ' <"$tmp/t-one")"
	done
	for f in devices device me; do
		awk '$1 != 200 { bad++ } END { exit bad > 0 }' "$tmp/t-$f" || log "WARNING: not every $f reply was 200"
	done
	local sz
	sz=$(awk 'NR == 1 { print $3 }' "$tmp/t-devices")
	awk '{ print $2 }' "$tmp/t-devices" | stats_row "GET /api/devices" "${sz}B" 100 >>"$RESULTS"
	awk '{ print $2 }' "$tmp/t-device" | stats_row "GET /api/devices/ID" "$(awk 'NR == 1 { print $3 }' "$tmp/t-device")B" 0 >>"$RESULTS"
	awk '{ print $2 }' "$tmp/t-me" | stats_row "GET /api/me" "-" 0 >>"$RESULTS"
	stats_row "device page" "7-requests" 150 <"$tmp/t-page" >>"$RESULTS"
	stop_pg "$JD_PID"
}

# ---------------------------------------------------------------- the DNS part
dnsperf_qps() {  # dnsperf_qps FILE LOG: prints qps
	timeout $((DURATION * 3 + 30)) dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$1" -l "$DURATION" \
		-c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$2" 2>&1
	awk '/Queries per second:/ { print $4 }' "$2"
}

# CPU µs per answered query of jurisdns's process group during one dnsperf run
cpu_us_per_q() {  # cpu_us_per_q TICKS_BEFORE TICKS_AFTER DNSPERF_LOG
	awk -v t0="$1" -v t1="$2" -v hz="$(getconf CLK_TCK)" '/Queries completed:/ { n = $3 }
		END { if (n > 0) printf "%.1f", (t1 - t0) * 1e6 / hz / n; else print "NA" }' "$3"
}

dns_part() {  # odd rounds run without SSE first, even rounds with: the order cancels out
	local round=$1 mode scen q sse_pids=() i p modes="nosse sse" t0 t1 cpu
	[ $((round % 2)) = 0 ] && modes="sse nosse"
	for mode in $modes; do
		for scen in hit miss; do
			start_jd "$OUT/logs/jurisdns-$mode-$scen-r$round.log" || return 1
			sse_pids=()
			if [ $mode = sse ]; then
				login || return 1
				for i in $(seq 1 "$SSE"); do
					launch "$tmp/sse-$i.out" curl -s -N -b "$tmp/cookies" --interface "127.0.0.$((10 + i))" \
						--max-time $((DURATION * 4 + 60)) "$WEB/api/events"
					sse_pids+=("$LAST_PID")
				done
				sleep 1
			fi
			local qfile=$UNIQ
			if [ $scen = hit ]; then
				timeout 120 dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$DATA/q-warm.txt" -n 1 -c 1 -q 20 -t 2 \
					>>"$OUT/logs/warm.log" 2>&1
				qfile=$DATA/q-household.txt
			fi
			t0=$(pg_stat "$JD_PID"); t0=${t0#* }
			q=$(dnsperf_qps "$qfile" "$OUT/logs/dnsperf-$mode-$scen-r$round.log")
			t1=$(pg_stat "$JD_PID"); t1=${t1#* }
			cpu=$(cpu_us_per_q "$t0" "$t1" "$OUT/logs/dnsperf-$mode-$scen-r$round.log")
			local alive=0 bytes=0
			for p in "${sse_pids[@]}"; do pg_alive "$p" && alive=$((alive + 1)); done
			for p in "${sse_pids[@]}"; do stop_pg "$p"; done
			for i in $(seq 1 "$SSE"); do [ -f "$tmp/sse-$i.out" ] && bytes=$((bytes + $(stat -c %s "$tmp/sse-$i.out"))); done
			rm -f "$tmp"/sse-*.out
			local note="cpu_us_q=$cpu"
			[ $mode = sse ] && note="$note,sse-alive=$alive/$SSE,sse-bytes=$bytes"
			printf 'dns\t%s\t%s-%s\t%s\t%s\tNA\tNA\t%s\n' "$round" "$scen" "$mode" "$DURATION" "${q:-NA}" "$note" >>"$RESULTS"
			log "  round $round $scen $mode: ${q:-NA} qps $note"
			pg_alive "$JD_PID" || log "  jurisdns died during $scen $mode"
			stop_pg "$JD_PID"
			sleep 0.5
		done
	done
}

{
	echo "date: $(date -Is)"
	echo "args: devices=$DEVICES days=$DAYS requests=$REQUESTS duration=$DURATION rounds=$ROUNDS sse=$SSE labelled=$LABELLED threads=$THREADS"
	echo "host: $(uname -r), $(nproc) CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "jurisdns: $("$JURISDNS" -V 2>/dev/null | head -1) ($JURISDNS)"
	echo "fill: $FILL"
} >"$OUT/meta.txt"
cat "$OUT/meta.txt" >&2

if want api; then
	log "api: $REQUESTS requests each"
	api_part || log "the api part failed"
fi
if want dns; then
	for round in $(seq 1 "$ROUNDS"); do
		log "dns round $round: hit and miss, without and with $SSE SSE clients"
		dns_part "$round" || log "the dns part failed"
	done
fi
stop_pg "$UP_PID"

python3 - "$RESULTS" <<'PY' | tee "$SUMMARY"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
api = [r for r in rows if r["part"] == "api"]
if api:
    print("| request | n | median ms | p95 ms | max ms | note |")
    print("|---|---|---|---|---|---|")
    for r in api:
        print("| %s | %s | %s | %s | %s | %s |" % (r["name"], r["n"], r["median_ms"], r["p95_ms"],
              r["max_ms"], r["note"].replace("-", "") if r["note"] == "-" else r["note"]))
dns = [r for r in rows if r["part"] == "dns" and r["median_ms"] != "NA"]
def cpu(r):
    for kv in r["note"].split(","):
        if kv.startswith("cpu_us_q=") and kv[9:] != "NA":
            return float(kv[9:])
    return None
if dns:
    def med(n, f=lambda r: float(r["median_ms"])):
        v = [f(r) for r in dns if r["name"] == n and f(r) is not None]
        return statistics.median(v) if v else None
    def paired(s):  # the ratio within each round (the two runs closest in time), then the median
        by = {}
        for r in dns:
            if r["name"].startswith(s + "-"):
                by.setdefault(r["round"], {})[r["name"][len(s) + 1:]] = float(r["median_ms"])
        v = [d["sse"] / d["nosse"] for d in by.values() if d.get("nosse") and "sse" in d]
        return (statistics.median(v), min(v), max(v)) if v else None
    print()
    print("| scenario | qps without SSE | qps with SSE | ratio of medians | per-round ratio: median (min-max) "
          "| CPU µs/q without | CPU µs/q with | goal >= 0.95 |")
    print("|---|---|---|---|---|---|---|---|")
    for s in ("hit", "miss"):
        a, b = med(s + "-nosse"), med(s + "-sse")
        pr = paired(s)
        ca, cb = med(s + "-nosse", cpu), med(s + "-sse", cpu)
        if a and b and pr:
            print("| %s | %.0f | %.0f | %.3f | %.3f (%.3f-%.3f) | %s | %s | %s |" % (
                s, a, b, b / a, pr[0], pr[1], pr[2], ca if ca is not None else "NA",
                cb if cb is not None else "NA", "met" if pr[0] >= 0.95 else "NOT met"))
PY
echo "results: $RESULTS  summary: $SUMMARY  logs: $OUT/logs" >&2
