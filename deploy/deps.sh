#!/bin/sh
# Checks (or installs, with "install") the Debian packages devcloud needs
# to build and to run its tests, and its benchmarks too with a second
# argument "bench". Each missing piece is named with the package that
# provides it.
set -u

# what to look for          the Debian package that provides it
CHECKS='
pkg:libuv                   libuv1-dev
pkg:hiredis                 libhiredis-dev
pkg:json-c                  libjson-c-dev
pkg:libconfig               libconfig-dev
pkg:libcurl                 libcurl4-openssl-dev
pkg:libarchive              libarchive-dev
hdr:nng/nng.h               libnng-dev
bin:pkg-config              pkg-config
bin:cc                      gcc
bin:clang                   clang
rt:libclang_rt.fuzzer       libclang-rt-dev
bin:make                    make
bin:redis-server            redis-server
bin:redis-cli               redis-tools
bin:curl                    curl
bin:hey                     hey
bin:python3                 python3
bin:dockerd                 docker.io
bin:busybox                 busybox-static
bin:ip                      iproute2
bin:node                    nodejs
bin:npm                     npm
bin:chromium                chromium
bin:kubectl                 kubernetes-client
py:yaml                     python3-yaml
'
# and for the benchmarks (make bench): the reference servers, the load
# generators, what their scripts compute with
BENCH_CHECKS='
bin:nginx                   nginx
bin:haproxy                 haproxy
bin:wrk                     wrk
bin:bc                      bc
bin:debootstrap             debootstrap
'
[ "${2:-}" = bench ] && CHECKS="$CHECKS$BENCH_CHECKS"

missing=""
check_one() {
	case "$1" in
	pkg:*) command -v pkg-config >/dev/null 2>&1 &&
		pkg-config --exists "${1#pkg:}" ;;
	hdr:*) [ -f "/usr/include/${1#hdr:}" ] ;;
	bin:*) command -v "${1#bin:}" >/dev/null 2>&1 ;;
	# Debian's python3 modules are for /usr/bin/python3
	py:*) /usr/bin/python3 -c "import ${1#py:}" >/dev/null 2>&1 ;;
	# a clang runtime library (make fuzz: -fsanitize=fuzzer,address)
	rt:*) command -v clang >/dev/null 2>&1 && [ -f "$(clang \
		-print-file-name="${1#rt:}-$(uname -m).a")" ] ;;
	esac
}

set -f
echo "$CHECKS" | while read -r what pkg; do
	[ -n "$what" ] || continue
	check_one "$what" || echo "$pkg ${what#*:}"
done > "${TMPDIR:-/tmp}/devcloud-deps.$$"
missing=$(cut -d' ' -f1 "${TMPDIR:-/tmp}/devcloud-deps.$$" | sort -u | tr '\n' ' ')
report=$(cat "${TMPDIR:-/tmp}/devcloud-deps.$$")
rm -f "${TMPDIR:-/tmp}/devcloud-deps.$$"

case "${1:-check}" in
check)
	[ -z "$missing" ] && exit 0
	echo "$report" | while read -r pkg what; do
		echo "missing $what: install the Debian package $pkg" >&2
	done
	echo "run 'make deps' to install them all (apt-get, as root)" >&2
	exit 1
	;;
install)
	[ -z "$missing" ] && exit 0
	echo "installing: $missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends $missing
	;;
*)
	echo "usage: $0 check|install [bench]" >&2
	exit 2
	;;
esac
