#!/bin/bash
# encrypted.sh - DNS over TLS and DNS over HTTPS benchmark (issue 11), in one run:
#   jurisdns, dnsdist 1.7 and unbound 1.17 over UDP (reference), DoT and DoH, on `hit`
#   (q-household.txt after one warm pass of q-warm.txt over the same transport) and `miss`
#   (unique *.u.bench.test names), plus `direct` (dnsperf at knotd over UDP, ratio 1.00);
#   jurisdns's miss through a DoT upstream (client -DoT-> jurisdns -DoT-> dnsdist -> knotd)
#   against its plain miss through the same dnsdist (client -UDP-> jurisdns -UDP-> dnsdist),
#   flat out (`miss`: the chain's qps, which on two shared cores the relay bounds) and at one
#   offered rate below every chain's saturation (`mrate`, --chain-rate: jurisdns's CPU per
#   query under the same load);
#   TLS handshakes per second on fresh connections (dnsperf -m dot with one query per
#   connection, and `openssl s_time -new`).  DoH entries also run `h2hit`: h2load (Debian
#   nghttp2-client, optional) GETs of the q-warm.txt names after one pass of them, because
#   dnsperf's DoH client stalls against dnsdist 1.7's h2o frontend beyond one query in flight.
#
#   tests/bench/encrypted.sh [--duration S] [--rounds N] [--only LIST] [--jurisdns PATH] ...
#
# Run from the build directory (default --jurisdns ./src/jurisdns, a build without
# sanitizers: `/work/main/configure && make`).  Data: the zone and query files of the shared
# harness (../shared/bench, README.md there) in $BENCH_DATA (default /tmp/bench-data); they
# are generated with its gen_data.py when missing.  One test CA and one server certificate
# (bench.test, 127.0.0.1) made with openssl serve every server.  Everything listens on
# 127.0.0.1.  Each daemon runs in its own process group (setsid) and is stopped by that PGID
# (TERM, KILL after 5 s), also on exit or Ctrl-C; every wait is bounded.  CPU per query: the
# server's whole process group (all threads; reaped children included), utime+stime from
# /proc/PID/stat before and after dnsperf.  Output: a markdown table on stdout; results.tsv,
# table.md and the logs in --out (default /tmp/bench-results/encrypted-DATE).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=${BENCH_DIR:-$HERE/../../../shared/bench}
DATA=${BENCH_DATA:-/tmp/bench-data}
DURATION=10
ROUNDS=1
ONLY=""
JURISDNS=./src/jurisdns
THREADS=1          # jurisdns -w, unbound num-threads (dnsdist: one UDP listener)
CLIENTS=10         # dnsperf -c: TLS connections / UDP sockets
OUTSTANDING=200    # dnsperf -q
QTIMEOUT=2         # dnsperf -t
CHAIN_RATE=15000   # chain entries: the second miss run (mrate), dnsperf -Q; below every chain's
                   # saturation, so jurisdns's CPU per query is compared at the same load
DOH_METHOD=GET
BASE_PORT=24400    # knotd; servers at BASE_PORT+10.. (each: plain, DoT, DoH = +0, +1, +2); below
                   # the ephemeral range, where TIME-WAIT connections and random source ports would collide
OUT=""
KEEP=0

ALL_ENTRIES="jurisdns-udp jurisdns-dot jurisdns-doh dnsdist-udp dnsdist-dot dnsdist-doh
unbound-udp unbound-dot unbound-doh chain-udp-plain chain-dot-plain chain-dot-tls
hs-jurisdns hs-dnsdist hs-unbound"

usage() {
	cat <<EOF
usage: $0 [options]
  --duration S       seconds per measurement (default $DURATION)
  --rounds N         repeat everything N times; the table shows medians (default $ROUNDS)
  --only LIST        comma-separated entries or servers (jurisdns, dnsdist, unbound, chain, hs);
                     'direct' always runs.  Entries:
                     $(echo $ALL_ENTRIES)
  --jurisdns PATH    the jurisdns binary (default $JURISDNS)
  --threads N        jurisdns workers, unbound threads (default $THREADS)
  --clients N        dnsperf -c (default $CLIENTS)
  --outstanding N    dnsperf -q (default $OUTSTANDING)
  --chain-rate Q     qps of the chain entries' rate-limited miss run (default $CHAIN_RATE; 0: none)
  --doh-method M     GET or POST (default $DOH_METHOD)
  --base-port P      knotd on P, servers from P+10 (default $BASE_PORT)
  --out DIR          results directory (default /tmp/bench-results/encrypted-DATE)
  --keep             keep the temp dir (configs, certificates, daemon logs)
Entries: SERVER-TRANSPORT runs hit and miss; chain-CLIENT-UPSTREAM runs miss through dnsdist
(no cache) in front of knotd; hs-SERVER runs the handshake measurements on its DoT port.
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--jurisdns) JURISDNS=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--clients) CLIENTS=$2; shift ;;
	--outstanding) OUTSTANDING=$2; shift ;;
	--chain-rate) CHAIN_RATE=$2; shift ;;
	--doh-method) DOH_METHOD=$2; shift ;;
	--base-port) BASE_PORT=$2; shift ;;
	--out) OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
for v in DURATION ROUNDS THREADS CLIENTS OUTSTANDING CHAIN_RATE BASE_PORT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "--$(echo "$v" | tr 'A-Z_' 'a-z-') must be a whole number, not '${!v}'" >&2; exit 2; }
done

for t in dnsperf knotd kdig dig openssl python3 setsid /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done

ENTRIES=()
for e in $ALL_ENTRIES; do
	if [ -z "$ONLY" ] || [[ ",$ONLY," == *",$e,"* ]] || [[ ",$ONLY," == *",${e%%-*},"* ]] ||
		[[ $e == hs-* && ",$ONLY," == *",${e#hs-},"* ]]; then
		ENTRIES+=("$e")
	fi
done
for e in "${ENTRIES[@]}"; do
	case $e in jurisdns-*|chain-*|hs-jurisdns)
		[ -x "$JURISDNS" ] || { echo "no jurisdns binary at $JURISDNS (--jurisdns PATH)" >&2; exit 2; } ;;
	esac
done
[ -n "$JURISDNS" ] && [ -x "$JURISDNS" ] && JURISDNS=$(cd "$(dirname "$JURISDNS")" && pwd)/$(basename "$JURISDNS")

# ---------------------------------------------------------------- data (shared harness)
gen=$BENCH_DIR/gen_data.py
NA=$((DURATION * 150000)); [ $NA -lt 500000 ] && NA=500000
UNIQ=$DATA/u-a-$NA.txt
mkdir -p "$DATA" || exit 1
if [ ! -s "$DATA/bench.test.zone" ] || [ ! -s "$DATA/q-household.txt" ]; then
	[ -f "$gen" ] || { echo "no $gen (set BENCH_DIR)" >&2; exit 2; }
	echo "generating zone and query files in $DATA" >&2
	python3 "$gen" zone "$DATA" >/dev/null && python3 "$gen" queries "$DATA" >/dev/null || exit 1
fi
if [ ! -s "$UNIQ" ]; then
	[ -f "$gen" ] || { echo "no $gen (set BENCH_DIR)" >&2; exit 2; }
	python3 "$gen" unique "$UNIQ" a "$NA" >/dev/null || exit 1
fi

# ---------------------------------------------------------------- dirs, cleanup
OUT=${OUT:-/tmp/bench-results/encrypted-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" || exit 1
tmp=$(mktemp -d /tmp/jd-bench.XXXXXX) || exit 1
RESULTS=$OUT/results.tsv
HZ=$(getconf CLK_TCK)
. "$HERE/pgroup.sh"   # STARTED, log, pg_stat, pg_alive, launch, stop_pg, cleanup
# snap PG1 PG2 PG3 -> ticks of each group and of all processes
snap() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v p1="$1" -v p2="$2" -v p3="$3" '
		{ s = $0; sub(/^.*\) /, "", s); split(s, a, " "); t = a[12] + a[13] + a[14] + a[15]
		  all += t; if (a[3] == p1) t1 += t; if (a[3] == p2) t2 += t; if (a[3] == p3) t3 += t }
		END { print t1 + 0, t2 + 0, t3 + 0, all + 0 }'
}

port_busy() { ss -Hln "( sport = :$1 )" 2>/dev/null | grep -q .; }

# ask TRANSPORT PORT NAME: one query with kdig (udp, dot, doh); prints the answers
ask() {
	local how=()
	case $1 in dot) how=(+tls) ;; doh) how=(+https=/dns-query) ;; esac
	timeout 5 kdig @127.0.0.1 -p "$2" "${how[@]}" +time=1 +retry=0 +short "$3" A 2>/dev/null
}

# wait_ready TRANSPORT PORT PGID LOG: until h00000.bench.test A is answered (20 s at most)
wait_ready() {
	for _ in $(seq 1 40); do
		if ! pg_alive "$3"; then log "  exited during start-up; log tail:"; tail -5 "$4" >&2; return 1; fi
		[[ $(ask "$1" "$2" h00000.bench.test) =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ ]] && return 0
		sleep 0.5
	done
	log "  no $1 answer on port $2 after 20 s; log tail:"; tail -5 "$4" >&2
	return 1
}

# ---------------------------------------------------------------- certificates
make_certs() {
	local d=$tmp/pki
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=jurisdns bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		>/dev/null 2>&1 || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bench.test" \
		-keyout "$d/key.pem" -out "$d/server.csr" >/dev/null 2>&1 || return 1
	printf 'subjectAltName=DNS:bench.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/ext.cnf" -out "$d/cert.pem" >/dev/null 2>&1 || return 1
	cat "$d/cert.pem" "$d/ca.pem" >"$d/chain.pem"
	chmod 644 "$d"/*.pem
	CA=$d/ca.pem; CERT=$d/chain.pem; KEY=$d/key.pem
}

# ---------------------------------------------------------------- daemons
subst() {  # subst TEMPLATE OUTFILE KEY=VALUE... (@KEY@ -> VALUE, may be multi-line)
	python3 - "$@" <<'PY'
import sys
s = open(sys.argv[1]).read()
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    s = s.replace("@%s@" % k, v)
open(sys.argv[2], "w").write(s)
PY
}

UP_PORT=$BASE_PORT
start_knot() {
	local d=$tmp/knot
	mkdir -p "$d"
	subst "$BENCH_DIR/conf/knot.conf.in" "$d/knot.conf" DIR="$d" PORT="$UP_PORT" \
		ZONEFILE="$DATA/bench.test.zone" WORKERS=2
	port_busy "$UP_PORT" && { log "port $UP_PORT busy"; exit 1; }
	launch "$OUT/logs/knotd.log" knotd -c "$d/knot.conf"
	UP_PID=$LAST_PID
	wait_ready udp "$UP_PORT" "$UP_PID" "$OUT/logs/knotd.log" || { log "knotd did not start"; exit 1; }
}

# dnsdist_ooo CONF: out-of-order TCP to the backend too (knotd answers pipelined queries);
# without it dnsdist 1.7 opens a new TCP connection to knotd for each concurrent query of a
# TLS client (thousands of TIME-WAIT, SYN backlog full) and that is all one measures
dnsdist_ooo() { sed -i 's/mustResolve=true})/mustResolve=true, maxInFlight=1000})/' "$1"; }

# dnsdist as the encrypted upstream of the chain-* entries: plain on RELAY_PORT, DoT on +1,
# no cache; one process for all of them (it keeps no state between queries).  maxInFlight
# (here and in the dnsdist under test): without it dnsdist 1.7 answers the queries of one
# TCP/TLS connection one after the other.
RELAY_PORT=$((BASE_PORT + 5)); RELAY_PID=0
start_relay() {
	local d=$tmp/relay
	mkdir -p "$d"
	subst "$BENCH_DIR/conf/dnsdist.conf.in" "$d/dnsdist.conf" PORT="$RELAY_PORT" \
		UPSTREAM_PORT="$UP_PORT" LISTENERS=1 \
		CACHE="addTLSLocal(\"127.0.0.1:$((RELAY_PORT + 1))\", \"$CERT\", \"$KEY\", {provider=\"openssl\", maxInFlight=1000})"
	dnsdist_ooo "$d/dnsdist.conf"
	launch "$OUT/logs/relay-dnsdist.log" dnsdist --supervised --disable-syslog -C "$d/dnsdist.conf"
	RELAY_PID=$LAST_PID
	wait_ready dot "$((RELAY_PORT + 1))" "$RELAY_PID" "$OUT/logs/relay-dnsdist.log" || {
		log "relay dnsdist did not start"; stop_pg "$RELAY_PID"; RELAY_PID=0; return 1; }
}

# start_server SERVER TRANSPORT SCENARIO PORT DIR LOG [UPSTREAM]: sets SRV_PID; the server
# answers TRANSPORT on PORT (udp), PORT+1 (dot) or PORT+2 (doh); UPSTREAM (chain entries):
# plain or tls, through the relay
start_server() {
	local srv=$1 tr=$2 scen=$3 port=$4 d=$5 logf=$6 upk=${7:-} lines
	mkdir -p "$d"
	SRV_PID=0
	case $srv in
	jurisdns)
		{
			echo "; encrypted.sh: labels, GeoIP and the query log off (as tests/bench/labels-off.conf)"
			echo "[server]"
			echo "listen = 127.0.0.1:$port"
			echo "workers = $THREADS"
			echo "tcp_max_clients = 4096"
			case $tr in
			dot) printf 'tls_listen = 127.0.0.1:%s\ntls_certificate = %s\ntls_key = %s\n' "$((port + 1))" "$CERT" "$KEY" ;;
			doh) printf 'https_listen = 127.0.0.1:%s\nhttps_path = /dns-query\ntls_certificate = %s\ntls_key = %s\n' \
				"$((port + 2))" "$CERT" "$KEY" ;;
			esac
			echo "tls_dir = $d/tls"
			echo "[upstream]"
			case $upk in
			"") echo "server = 127.0.0.1:$UP_PORT" ;;
			plain) echo "server = 127.0.0.1:$RELAY_PORT" ;;
			tls) printf 'server = tls://127.0.0.1:%s#bench.test\nca_file = %s\n' "$((RELAY_PORT + 1))" "$CA" ;;
			esac
			printf '[geoip]\ndb =\n[labels]\ngroups =\n[log]\nquery_log =\n'
		} >"$d/jurisdns.conf"
		launch "$logf" "$JURISDNS" -c "$d/jurisdns.conf" ;;
	dnsdist)
		# packet cache for hit and conn (as the shared harness's `dnsdist`), none for miss
		# (`dnsdist-nocache`, its fastest forwarding path)
		lines="addTLSLocal(\"127.0.0.1:$((port + 1))\", \"$CERT\", \"$KEY\", {provider=\"openssl\", maxInFlight=1000})"
		lines+=$'\n'"addDOHLocal(\"127.0.0.1:$((port + 2))\", \"$CERT\", \"$KEY\", \"/dns-query\")"
		[ "$scen" != miss ] && lines+=$'\npc = newPacketCache(100000, {maxTTL=86400, minTTL=0}); getPool(""):setCache(pc)'
		subst "$BENCH_DIR/conf/dnsdist.conf.in" "$d/dnsdist.conf" PORT="$port" \
			UPSTREAM_PORT="$UP_PORT" LISTENERS=1 CACHE="$lines"
		dnsdist_ooo "$d/dnsdist.conf"
		launch "$logf" dnsdist --supervised --disable-syslog -C "$d/dnsdist.conf" ;;
	unbound)
		lines="    msg-cache-size: 64m"$'\n'"    rrset-cache-size: 128m"
		lines+=$'\n'"    interface: 127.0.0.1@$((port + 1))"$'\n'"    interface: 127.0.0.1@$((port + 2))"
		lines+=$'\n'"    tls-port: $((port + 1))"$'\n'"    https-port: $((port + 2))"
		lines+=$'\n'"    tls-service-key: \"$KEY\""$'\n'"    tls-service-pem: \"$CERT\""
		lines+=$'\n'"    http-endpoint: \"/dns-query\""$'\n'"    incoming-num-tcp: 4096"
		subst "$BENCH_DIR/conf/unbound.conf.in" "$d/unbound.conf" DIR="$d" PORT="$port" \
			UPSTREAM_PORT="$UP_PORT" THREADS="$THREADS" EXTRA="$lines"
		launch "$logf" unbound -d -c "$d/unbound.conf" ;;
	esac
	SRV_PID=$LAST_PID
}

# ---------------------------------------------------------------- measurement
printf 'round\tentry\tserver\ttransport\tscenario\tsent\tcompleted\tlost_pct\tqps\tavg_ms\terr_pct\tsrv_cpu_pct\tsrv_cpu_us_per_q\tup_cpu_us_per_q\trelay_cpu_us_per_q\tload_cpu_pct\tother_cpu_pct\tsteal_pct\tnote\n' >"$RESULTS"

tr_args() {  # tr_args TRANSPORT PORT -> dnsperf transport arguments (sets TRARGS)
	case $1 in
	udp) TRARGS=(-p "$2") ;;
	dot) TRARGS=(-m dot -p "$(($2 + 1))") ;;
	doh) TRARGS=(-m doh -p "$(($2 + 2))" -O doh-uri=https://bench.test/dns-query -O "doh-method=$DOH_METHOD") ;;
	esac
}

# measure ROUND ENTRY SERVER TRANSPORT SCENARIO PGID FILE dnsperf-args...: one TSV row
measure() {
	local round=$1 entry=$2 srv=$3 tr=$4 scen=$5 pg=$6 file=$7; shift 7
	local lf=$OUT/logs/$entry.$scen.r$round.dnsperf
	local f0 u0 r0 a0 f1 u1 r1 a1 t0 t1 st0 st1
	read -r f0 u0 r0 a0 < <(snap "$pg" "$UP_PID" "$RELAY_PID"); st0=$(awk '/^cpu /{print $9; exit}' /proc/stat)
	t0=$(date +%s.%N)
	timeout $((DURATION * 3 + 30)) /usr/bin/time -o "$lf.time" -f "%e %U %S" \
		dnsperf -s 127.0.0.1 -d "$file" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" \
		-t "$QTIMEOUT" -e "$@" >"$lf" 2>&1
	t1=$(date +%s.%N); st1=$(awk '/^cpu /{print $9; exit}' /proc/stat)
	read -r f1 u1 r1 a1 < <(snap "$pg" "$UP_PID" "$RELAY_PID")
	local same=0; [ "$pg" = "$UP_PID" ] && same=1
	awk -v r="$round" -v e="$entry" -v sv="$srv" -v tr="$tr" -v s="$scen" -v hz="$HZ" \
		-v f0="$f0" -v f1="$f1" -v u0="$u0" -v u1="$u1" -v r0="$r0" -v r1="$r1" -v a0="$a0" -v a1="$a1" \
		-v t0="$t0" -v t1="$t1" -v st0="$st0" -v st1="$st1" -v tf="$lf.time" -v same="$same" \
		-v relay="$RELAY_PID" -v lines="$(wc -l <"$file")" -v rate="$CHAIN_RATE" '
		/Queries sent:/ { sent = $3 }
		/Queries completed:/ { comp = $3 }
		/Queries lost:/ { lost = $3 }
		/Queries per second:/ { qps = $4 }
		/Run time/ { rt = $4 }
		/Average Latency/ { avg = $4 * 1000 }
		/Response codes:/ { for (i = 3; i <= NF; i++) if ($i == "NOERROR," || $i == "NXDOMAIN," || $i == "NOERROR" || $i == "NXDOMAIN") ok += $(i + 1) }
		END {
			if (sent == "") { printf "%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tdnsperf-failed\n", r, e, sv, tr, s; exit }
			el = t1 - t0; if (el <= 0) el = 1; if (rt <= 0 || rt > el) rt = el
			fc = (f1 - f0) / hz; uc = (u1 - u0) / hz; rc = (r1 - r0) / hz
			lc = 0; if ((getline l < tf) > 0) { split(l, c, " "); lc = c[2] + c[3] }
			other = 100 * ((a1 - a0) / hz - fc - (same ? 0 : uc) - (relay > 0 ? rc : 0) - lc) / el
			note = ((s == "miss" || s == "mrate") && sent > lines) ? "WRAPPED" : "-"
			if (s == "mrate" && qps < 0.95 * rate) note = "RATE-NOT-REACHED"
			if (sent > 0 && comp < sent / 2) note = "MOSTLY-LOST"
			printf "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.3f\t%.0f\t%.3f\t%.3f\t%.1f\t%.2f\t%.2f\t%s\t%.1f\t%.1f\t%.1f\t%s\n",
				r, e, sv, tr, s, sent, comp, (sent ? 100 * lost / sent : 0), qps, avg,
				(comp ? 100 * (comp - ok) / comp : 0), 100 * fc / rt, (comp ? 1e6 * fc / comp : 0),
				(comp ? 1e6 * uc / comp : 0), (relay > 0 && comp ? sprintf("%.2f", 1e6 * rc / comp) : "NA"),
				100 * lc / el, other, 100 * (st1 - st0) / hz / el, note
		}' "$lf" >>"$RESULTS"
	rm -f "$lf.time"
	tail -1 "$RESULTS" | awk -F'\t' '{ printf "    %-16s %-9s qps %7s lost %6s%% err %5s%%  srv cpu %5s%% %7s us/q  up %5s us/q  dnsperf %5s%%  other %5s%%  %s\n", $2, $5, $9, $8, $11, $12, $13, $14, $16, $17, $19 }' >&2
}

# s_time ROUND ENTRY SERVER PORT PGID: openssl s_time -new on the DoT port (TLS handshakes
# only, one at a time): one TSV row, qps = handshakes per second
s_time() {
	local round=$1 entry=$2 srv=$3 port=$4 pg=$5 lf=$OUT/logs/$2.s_time.r$1.log
	local f0 u0 r0 a0 f1 u1 r1 a1 t0 t1
	read -r f0 u0 r0 a0 < <(snap "$pg" "$UP_PID" "$RELAY_PID"); t0=$(date +%s.%N)
	timeout $((DURATION * 2 + 30)) /usr/bin/time -o "$lf.time" -f "%e %U %S" \
		openssl s_time -connect "127.0.0.1:$port" -new -time "$DURATION" >"$lf" 2>&1 </dev/null
	t1=$(date +%s.%N); read -r f1 u1 r1 a1 < <(snap "$pg" "$UP_PID" "$RELAY_PID")
	# "N connections in T real seconds"
	awk -v r="$round" -v e="$entry" -v sv="$srv" -v hz="$HZ" -v f0="$f0" -v f1="$f1" \
		-v a0="$a0" -v a1="$a1" -v t0="$t0" -v t1="$t1" -v tf="$lf.time" '
		/connections in [0-9.]+ real seconds/ { n = $1; secs = $4 }
		END {
			if (n == "" || secs <= 0) { printf "%s\t%s\t%s\ttls\ts_time\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\ts_time-failed\n", r, e, sv; exit }
			el = t1 - t0; fc = (f1 - f0) / hz
			lc = 0; if ((getline l < tf) > 0) { split(l, c, " "); lc = c[2] + c[3] }
			printf "%s\t%s\t%s\ttls\ts_time\t%d\t%d\t0\t%.0f\t%.3f\t0\t%.1f\t%.2f\t0\tNA\t%.1f\t%.1f\tNA\t-\n",
				r, e, sv, n, n, n / secs, 1000 * secs / n, 100 * fc / el, 1e6 * fc / n, 100 * lc / el,
				100 * ((a1 - a0) / hz - fc - lc) / el
		}' "$lf" >>"$RESULTS"
	rm -f "$lf.time"
	tail -1 "$RESULTS" | awk -F'\t' '{ printf "    %-16s %-9s handshakes/s %7s  srv cpu %5s%% %7s us/handshake\n", $2, $5, $9, $12, $13 }' >&2
}

# h2_uris PORT FILE: one GET URI per q-warm.txt line (?dns= base64url, ID 0, RD, EDNS 4096)
h2_uris() {
	python3 - "$1" "$DATA/q-warm.txt" >"$2" <<'PY'
import base64, struct, sys
port, src = sys.argv[1], sys.argv[2]
types = {"A": 1, "AAAA": 28, "CNAME": 5, "TXT": 16, "MX": 15, "NS": 2, "SOA": 6, "PTR": 12}
for line in open(src):
    f = line.split()
    if len(f) < 2 or f[1] not in types:
        continue
    qname = b"".join(bytes([len(l)]) + l.encode() for l in f[0].rstrip(".").split(".")) + b"\0"
    wire = struct.pack(">HHHHHH", 0, 0x0100, 1, 0, 0, 1) + qname + struct.pack(">HH", types[f[1]], 1)
    wire += b"\0" + struct.pack(">HHIH", 41, 4096, 0, 0)
    print("https://127.0.0.1:%s/dns-query?dns=%s" % (port, base64.urlsafe_b64encode(wire).rstrip(b"=").decode()))
PY
}

# h2hit ROUND ENTRY SERVER PORT PGID: h2load warm pass, then -D DURATION over the same URIs
h2hit() {
	local round=$1 entry=$2 srv=$3 port=$4 pg=$5 lf=$OUT/logs/$2.h2hit.r$1.log uris=$tmp/uris-$4.txt
	local f0 u0 r0 a0 f1 u1 r1 a1 t0 t1
	h2_uris "$port" "$uris"
	timeout 60 h2load -i "$uris" -n "$(wc -l <"$uris")" -c 1 -m 10 >"$lf.warm" 2>&1
	read -r f0 u0 r0 a0 < <(snap "$pg" "$UP_PID" "$RELAY_PID"); t0=$(date +%s.%N)
	timeout $((DURATION * 2 + 30)) /usr/bin/time -o "$lf.time" -f "%e %U %S" \
		h2load -i "$uris" -D "$DURATION" -c "$CLIENTS" -m $((OUTSTANDING / CLIENTS)) -t 1 >"$lf" 2>&1 </dev/null
	t1=$(date +%s.%N); read -r f1 u1 r1 a1 < <(snap "$pg" "$UP_PID" "$RELAY_PID")
	# "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
	# "status codes: N 2xx, ..."; "finished in 10.00s, 12345.60 req/s, ..."
	awk -v r="$round" -v e="$entry" -v sv="$srv" -v hz="$HZ" -v f0="$f0" -v f1="$f1" -v u0="$u0" -v u1="$u1" \
		-v a0="$a0" -v a1="$a1" -v t0="$t0" -v t1="$t1" -v tf="$lf.time" '
		/^finished in/ { secs = $3; sub(/s,$/, "", secs) }
		/^requests:/ { sent = $2; ok = $8 }
		/^status codes:/ { s2 = $3 }
		/^time for request:/ { avg = $6; u = avg; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", avg)
			avg = (u == "us") ? avg / 1000 : (u == "s") ? avg * 1000 : avg }
		END {
			if (sent == "" || secs <= 0) { printf "%s\t%s\t%s\tdoh\th2hit\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\th2load-failed\n", r, e, sv; exit }
			el = t1 - t0; fc = (f1 - f0) / hz; uc = (u1 - u0) / hz
			lc = 0; if ((getline l < tf) > 0) { split(l, c, " "); lc = c[2] + c[3] }
			note = (s2 + 0 < ok / 2) ? "MOSTLY-NOT-2xx" : "-"
			printf "%s\t%s\t%s\tdoh\th2hit\t%d\t%d\t%.3f\t%.0f\t%.3f\t%.3f\t%.1f\t%.2f\t%.2f\tNA\t%.1f\t%.1f\tNA\t%s\n",
				r, e, sv, sent, s2, (sent ? 100 * (sent - s2) / sent : 0), s2 / secs, avg, 0,
				100 * fc / el, (s2 ? 1e6 * fc / s2 : 0), (s2 ? 1e6 * uc / s2 : 0), 100 * lc / el,
				100 * ((a1 - a0) / hz - fc - uc - lc) / el, note
		}' "$lf" >>"$RESULTS"
	rm -f "$lf.time"
	tail -1 "$RESULTS" | awk -F'\t' '{ printf "    %-16s %-9s qps %7s not-2xx %6s%%  srv cpu %5s%% %7s us/q  h2load %5s%%  other %5s%%  %s\n", $2, $5, $9, $8, $12, $13, $16, $17, $19 }' >&2
}

failed_row() {  # ROUND ENTRY SERVER TRANSPORT SCENARIO NOTE
	printf '%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\t%s\n' "$@" >>"$RESULTS"
}

warm() {  # warm PORT-ARGS...: one pass of q-warm.txt over the measured transport
	timeout 120 dnsperf -s 127.0.0.1 -d "$DATA/q-warm.txt" -n 1 -c 1 -q 20 -t 2 -e "$@" \
		>>"$OUT/logs/warm.log" 2>&1
}

# run_entry ROUND ENTRY INDEX
run_entry() {
	local round=$1 entry=$2 port=$((BASE_PORT + 10 + 3 * $3)) srv tr scen upk="" scens
	case $entry in
	chain-*)   srv=jurisdns; tr=${entry#chain-}; upk=${tr#*-}; tr=${tr%-*}; scens=miss
		[ "$CHAIN_RATE" -gt 0 ] && scens="miss mrate"
		if [ "$RELAY_PID" = 0 ]; then start_relay || { failed_row "$round" "$entry" "$srv" "$tr" miss relay-failed; return; }; fi ;;
	hs-*)      srv=${entry#hs-}; tr="dot"; scens="conn s_time" ;;
	*)         srv=${entry%-*}; tr=${entry#*-}; scens="hit miss"
		[ "$tr" = doh ] && command -v h2load >/dev/null && scens="hit miss h2hit" ;;
	esac
	for scen in $scens; do
		local d=$tmp/$entry-$scen-r$round lf=$OUT/logs/$entry.$scen.r$round.log p
		for p in "$port" $((port + 1)) $((port + 2)); do
			for _ in $(seq 1 50); do port_busy "$p" || break; sleep 0.1; done
		done
		log "round $round: $entry $scen (port $port, transport $tr${upk:+, upstream $upk})"
		start_server "$srv" "$tr" "$scen" "$port" "$d" "$lf" "$upk"
		local tport=$port; [ $tr = dot ] && tport=$((port + 1)); [ $tr = doh ] && tport=$((port + 2))
		if ! wait_ready "$tr" "$tport" "$SRV_PID" "$lf"; then
			log "  $entry did not answer $tr; skipped"
			failed_row "$round" "$entry" "$srv" "$tr" "$scen" FAILED-TO-START
			stop_pg "$SRV_PID"; continue
		fi
		if [ -n "$upk" ]; then   # the chain really goes through the relay
			[ -n "$(ask udp "$port" cc0001.bench.test)" ] || log "  WARNING: no answer through the relay"
		fi
		tr_args "$tr" "$port"
		case $scen in
		hit)    warm "${TRARGS[@]}"
			measure "$round" "$entry" "$srv" "$tr" hit "$SRV_PID" "$DATA/q-household.txt" "${TRARGS[@]}" ;;
		miss)   measure "$round" "$entry" "$srv" "$tr" miss "$SRV_PID" "$UNIQ" "${TRARGS[@]}" ;;
		mrate)  measure "$round" "$entry" "$srv" "$tr" mrate "$SRV_PID" "$UNIQ" "${TRARGS[@]}" -Q "$CHAIN_RATE" ;;
		conn)   warm "${TRARGS[@]}"   # one fresh TLS connection per query (hits)
			measure "$round" "$entry" "$srv" "$tr" conn "$SRV_PID" "$DATA/q-household.txt" "${TRARGS[@]}" \
				-O num-queries-per-conn=1 ;;
		s_time) s_time "$round" "$entry" "$srv" "$((port + 1))" "$SRV_PID" ;;
		h2hit)  h2hit "$round" "$entry" "$srv" "$((port + 2))" "$SRV_PID" ;;
		esac
		pg_alive "$SRV_PID" || log "  $entry died during $scen"
		stop_pg "$SRV_PID"
		sleep 0.5
	done
}

# ---------------------------------------------------------------- main
{
	echo "date: $(date -Is)"
	echo "args: duration=$DURATION rounds=$ROUNDS threads=$THREADS clients=$CLIENTS outstanding=$OUTSTANDING doh_method=$DOH_METHOD chain_rate=$CHAIN_RATE"
	echo "entries: direct ${ENTRIES[*]}"
	echo "host: $(uname -r), $(nproc) CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "versions: $(dnsperf -h 2>&1 | grep -m1 Version) | knotd $(knotd -V | awk '{print $NF}')" \
		"| unbound $(unbound -V 2>/dev/null | awk '/^Version/{print $2}') | $(dnsdist -V 2>/dev/null | head -1 | cut -d' ' -f1-2)" \
		"| $(openssl version | cut -d' ' -f1-2) | jurisdns $("$JURISDNS" -V 2>/dev/null | head -1)"
} >"$OUT/meta.txt"
cat "$OUT/meta.txt" >&2

make_certs || { echo "openssl could not make the certificates" >&2; exit 1; }
start_knot
for round in $(seq 1 "$ROUNDS"); do
	log "round $round: direct (knotd over UDP)"
	measure "$round" direct knotd udp hit "$UP_PID" "$DATA/q-household.txt" -p "$UP_PORT"
	measure "$round" direct knotd udp miss "$UP_PID" "$UNIQ" -p "$UP_PORT"
	idx=0
	for entry in "${ENTRIES[@]}"; do
		idx=$((idx + 1))
		run_entry "$round" "$entry" "$idx"
	done
done
stop_pg "$RELAY_PID"; RELAY_PID=0
stop_pg "$UP_PID"

# ---------------------------------------------------------------- summary
python3 - "$RESULTS" <<'PY' | tee "$OUT/table.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(entry, scen, col):
    v = [float(r[col]) for r in rows if r["entry"] == entry and r["scenario"] == scen
         and r[col] not in ("NA", "") and r["note"] != "MOSTLY-LOST"]
    return statistics.median(v) if v else None
def notes(entry, scen):
    n = {r["note"] for r in rows if r["entry"] == entry and r["scenario"] == scen} - {"-"}
    return " ".join(sorted(n))
def f(v, fmt="%.0f"):
    return "n/a" if v is None else fmt % v
entries = []
for r in rows:
    if r["entry"] not in entries:
        entries.append(r["entry"])
dq = {s: med("direct", s, "qps") for s in ("hit", "miss")}
dq["h2hit"] = dq["hit"]
def cell(e, s):
    q = med(e, s, "qps")
    if q is None:
        return "n/a " + notes(e, s), "n/a"
    x = " (%.2f)" % (q / dq[s]) if dq.get(s) else ""
    return f(q) + x, f(med(e, s, "srv_cpu_us_per_q"), "%.1f")
print("| entry | transport | hit qps (x direct) | hit CPU µs/q | miss qps (x direct) | miss CPU µs/q |")
print("|---|---|---|---|---|---|")
for e in entries:
    if e.startswith(("chain-", "hs-")):
        continue
    tr = next(r["transport"] for r in rows if r["entry"] == e)
    h, hc = cell(e, "hit"); m, mc = cell(e, "miss")
    print("| %s | %s | %s | %s | %s | %s |" % (e, tr, h, hc, m, mc))
ch = [e for e in entries if e.startswith("chain-")]
if ch:
    print()
    print("Miss through dnsdist (no cache) in front of knotd: client -> jurisdns -> dnsdist -> knotd")
    print()
    rated = any(r["scenario"] == "mrate" for r in rows)
    print("| entry | client | upstream | miss qps (x direct) | jurisdns CPU µs/q | dnsdist CPU µs/q |"
          + (" at the same rate: qps, jurisdns CPU µs/q |" if rated else ""))
    print("|---|---|---|---|---|---|" + ("---|" if rated else ""))
    for e in ch:
        c, u = e.split("-")[1:]
        m, mc = cell(e, "miss")
        print("| %s | %s | %s | %s | %s | %s |" % (e, c, "DoT" if u == "tls" else "UDP", m, mc,
              f(med(e, "miss", "relay_cpu_us_per_q"), "%.1f"))
              + (" %s, %s |" % (f(med(e, "mrate", "qps")), f(med(e, "mrate", "srv_cpu_us_per_q"), "%.2f"))
                 if rated else ""))
h2 = [e for e in entries if any(r["entry"] == e and r["scenario"] == "h2hit" for r in rows)]
if h2:
    print()
    print("DoH hit with h2load (GET, the 1,950 q-warm.txt names after one pass of them; -c clients,"
          " -m outstanding/clients streams each)")
    print()
    print("| entry | hit qps (x direct) | hit CPU µs/q |")
    print("|---|---|---|")
    for e in h2:
        h, hc = cell(e, "h2hit")
        print("| %s | %s | %s |" % (e, h, hc))
hs = [e for e in entries if e.startswith("hs-")]
if hs:
    print()
    print("Fresh TLS connections: `conn` = dnsperf -m dot, one query per connection (full handshake,"
          " no resumption); `s_time` = openssl s_time -new (handshakes one at a time)")
    print()
    print("| server | conn/s (dnsperf) | server CPU µs/conn | lost % | handshakes/s (s_time) | server CPU µs/handshake |")
    print("|---|---|---|---|---|---|")
    for e in hs:
        print("| %s | %s | %s | %s | %s | %s |" % (e[3:], f(med(e, "conn", "qps")) + (" " + notes(e, "conn") if notes(e, "conn") else ""),
              f(med(e, "conn", "srv_cpu_us_per_q"), "%.1f"), f(med(e, "conn", "lost_pct"), "%.2f"),
              f(med(e, "s_time", "qps")), f(med(e, "s_time", "srv_cpu_us_per_q"), "%.1f")))
print()
print("Goals of issue 11:")
print()
def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b
for tr in ("dot", "doh"):
    sc = "hit"
    if tr == "doh" and (med("jurisdns-doh", "hit", "qps") is None or med("dnsdist-doh", "hit", "qps") is None):
        sc = "h2hit"   # dnsperf's DoH client and dnsdist 1.7: see h2hit
    j, d = med("jurisdns-" + tr, sc, "qps"), med("dnsdist-" + tr, sc, "qps")
    jc, dc = med("jurisdns-" + tr, sc, "srv_cpu_us_per_q"), med("dnsdist-" + tr, sc, "srv_cpu_us_per_q")
    r = ratio(j, d)
    print("- %s hit qps >= 1.2x dnsdist%s: %s" % (tr.upper(), " (h2load)" if sc == "h2hit" else "",
          "n/a (a side has no figure)" if r is None else
          "%.2fx (%s)" % (r, "met" if r >= 1.2 else "NOT met")))
    r = ratio(jc, dc)
    print("- %s hit CPU µs/q <= dnsdist: %s" % (tr.upper(), "n/a" if r is None else
          "%.1f vs %.1f (%s)" % (jc, dc, "met" if jc <= dc else "NOT met")))
    u = med("unbound-" + tr, sc, "qps")
    if j is not None and u:
        print("  (vs unbound %s hit: %.2fx)" % (tr.upper(), j / u))
r = ratio(med("chain-dot-tls", "miss", "qps"), med("chain-udp-plain", "miss", "qps"))
print("- DoT miss via a DoT upstream >= 0.8x plain miss, chain qps (2 cores shared with the relay,"
      " knotd and dnsperf): %s" % ("n/a (a side has no figure)" if r is None else
      "%.2fx (%s)" % (r, "met" if r >= 0.8 else "NOT met")))
# diagnostics, not the goal: jurisdns's own CPU per query, plain over DoT, at the same offered
# rate (mrate) and flat out (miss)
r = ratio(med("chain-udp-plain", "mrate", "srv_cpu_us_per_q"), med("chain-dot-tls", "mrate", "srv_cpu_us_per_q"))
if r is not None:
    short = " ".join(n for n in (notes("chain-udp-plain", "mrate"), notes("chain-dot-tls", "mrate")) if n)
    print("  (jurisdns's CPU µs/q plain / via DoT at the same offered rate: %.2fx%s)"
          % (r, "; not at the same rate: %s, lower --chain-rate" % short if short else ""))
r = ratio(med("chain-udp-plain", "miss", "srv_cpu_us_per_q"), med("chain-dot-tls", "miss", "srv_cpu_us_per_q"))
if r is not None:
    print("  (jurisdns's CPU µs/q plain / via DoT flat out: %.2fx)" % r)
PY
echo "results: $RESULTS  table: $OUT/table.md  logs: $OUT/logs" >&2
