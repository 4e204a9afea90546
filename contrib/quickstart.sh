#!/bin/sh
# quickstart.sh run|test - install what jurisdns needs on Debian 12, build it, then either run it
# in the foreground or run the whole test suite. `run` serves plain DNS on 127.0.0.1:5335, DNS
# over TLS on 127.0.0.1:8853 and DNS over HTTPS on https://127.0.0.1:8443/dns-query (with a
# self-signed certificate), and the web console on http://127.0.0.1:8053/, forwarding to the
# upstreams of /etc/resolv.conf (or -u ADDR:PORT). Its state (configuration, certificate, a
# private redis-server on a unix socket) is in .quickstart/ of the tree (QUICKSTART_DIR).
# Safe to repeat: packages already installed are not fetched again, a configured tree is reused;
# `test` re-runs configure (keeping its options) when the tree was configured without the tests.
# CONFIGURE_FLAGS (e.g. --enable-sanitizers) is passed to configure when it runs.
set -eu

cd "$(dirname "$0")/.."
what=${1:-run}
shift 2>/dev/null || true

BUILD_DEPS="build-essential autoconf automake pkg-config libuv1-dev libldns-dev libmaxminddb-dev \
libhiredis-dev libinih-dev libssl-dev libjansson-dev libnghttp2-dev libmicrohttpd-dev libcrypt-dev"
TEST_DEPS="libcmocka-dev knot python3 python3-dnspython python3-redis redis-server redis-tools \
libmaxmind-db-writer-perl chromium dnsmasq-base iproute2 nftables prometheus logrotate util-linux \
knot-dnsutils dnsdist python3-httpx python3-h2 python3-selenium chromium-driver"

GEO_DEPS="location libloc-database libmaxmind-db-writer-perl ieee-data"
GEO_DB=/var/lib/jurisdns/geo.mmdb

case $what in
run) pkgs="$BUILD_DEPS $GEO_DEPS redis-server" ;;
test) pkgs="$BUILD_DEPS $TEST_DEPS" ;;
*) echo "usage: $0 run|test [jurisdns options]" >&2; exit 2 ;;
esac

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "quickstart: installing$missing"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

[ -x configure ] || autoreconf -fi
if [ ! -f Makefile ]; then
	if [ "$what" = test ]; then
		./configure --enable-tests ${CONFIGURE_FLAGS:-}
	else
		./configure ${CONFIGURE_FLAGS:-}
	fi
elif [ "$what" = test ] && ! ./config.status --config | grep -q -- "--enable-tests"; then
	# Configured by `run`, before the test dependencies were here: configure again, with the
	# same options, so that no test is left out.
	echo "quickstart: configuring again with the test dependencies"
	eval "./configure $(./config.status --config) --enable-tests"
fi
make -j"$(nproc)"

case $what in
run)
	# The default GeoIP database, built once from Debian's libloc-database (CC BY-SA 4.0).
	if [ ! -s "$GEO_DB" ]; then
		echo "quickstart: building $GEO_DB from the IPFire Location database (about 30 s)"
		as_root mkdir -p "$(dirname "$GEO_DB")"
		as_root ./contrib/geoip/build-mmdb --out "$GEO_DB.tmp"
		as_root mv "$GEO_DB.tmp" "$GEO_DB"
	fi
	state=${QUICKSTART_DIR:-$PWD/.quickstart}
	mkdir -p "$state/tls"
	chmod 700 "$state"
	cat >"$state/jurisdns.conf" <<CONF
# written by contrib/quickstart.sh run; see docs/configuration.md
[server]
listen = 127.0.0.1:5335
tls_listen = 127.0.0.1:8853
https_listen = 127.0.0.1:8443
tls_dir = $state/tls
[redis]
address = unix:$state/redis.sock
snapshot = $state/policy.snapshot
[web]
listen = 127.0.0.1:8053
password_file = $state/web.passwd
CONF
	# A private Redis for the policy, the statistics and the console: no TCP port, a socket only
	# its owner may use, its data kept in the state directory between runs.
	rm -f "$state/redis.sock"
	redis-server --port 0 --unixsocket "$state/redis.sock" --unixsocketperm 700 \
		--dir "$state" --dbfilename redis.rdb --save "60 1" --appendonly no \
		--logfile "$state/redis.log" --daemonize no &
	redis_pid=$!
	jd_pid=""
	stop() {
		for p in $jd_pid $redis_pid; do kill "$p" 2>/dev/null || true; done
		for p in $jd_pid $redis_pid; do wait "$p" 2>/dev/null || true; done
	}
	trap 'stop; exit 0' INT TERM
	trap stop EXIT
	for _ in $(seq 50); do [ -S "$state/redis.sock" ] && break; sleep 0.1; done
	echo "quickstart: starting jurisdns; it logs the addresses it listens on, then one JSON line per"
	echo "quickstart: labelled query (try: dig @127.0.0.1 -p 5335 www.baidu.com; kdig +tls @127.0.0.1"
	echo "quickstart: -p 8853 www.baidu.com; the console: http://127.0.0.1:8053/; set its admin"
	echo "quickstart: password with ./src/jurisdns-ctl -c $state/jurisdns.conf web passwd)"
	./src/jurisdns -c "$state/jurisdns.conf" "$@" &
	jd_pid=$!
	status=0
	wait "$jd_pid" || status=$?
	jd_pid=""
	exit "$status"
	;;
test)
	if ! make -j2 check; then
		cat test-suite.log 2>/dev/null | tail -n 200
		exit 1
	fi
	;;
esac
