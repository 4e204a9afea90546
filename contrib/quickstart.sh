#!/bin/sh
# quickstart.sh run|test - install what jurisdns needs on Debian 12, build it, then either run it
# in the foreground (127.0.0.1:5335, upstreams from /etc/resolv.conf) or run the whole test suite.
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
run) pkgs="$BUILD_DEPS $GEO_DEPS" ;;
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
	echo "quickstart: starting jurisdns; it logs the addresses it listens on, then one JSON line per"
	echo "quickstart: labelled query (with the default address: dig @127.0.0.1 -p 5335 www.baidu.com)"
	exec ./src/jurisdns "$@"
	;;
test)
	if ! make -j2 check; then
		cat test-suite.log 2>/dev/null | tail -n 200
		exit 1
	fi
	;;
esac
