# Shared helpers for integration tests: a private temp dir, free ports,
# a private redis-server, the real daemons, and a trap that stops every
# process the test started (by PID) and removes the dir.
#
# A test sources this file, calls ok/not_ok per check, and ends with
# `finish`.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${DEVCLOUD_BUILD:-$ROOT/build}/bin
T=$(mktemp -d "${TMPDIR:-/tmp}/devcloud-it.XXXXXX")
PIDS=()
FAILS=0

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
	done
	# Apps the process driver started run in their own process groups,
	# named by the pid files in the test's run_dir.
	for f in "$T"/run/*.pid; do
		[ -f "$f" ] || continue
		read -r p _ <"$f"
		[ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null
	done
	# A sanitizer build reports to the daemons' logs and goes on (or
	# exits after the test has looked): each report is a failure.
	for p in "$T"/*.log; do
		[ -f "$p" ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$p" &&
			not_ok "sanitizer report in $(basename "$p")"
	done
	if [ "$FAILS" -eq 0 ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$T"
	else
		echo "# test files kept in $T" >&2
	fi
	[ "$FAILS" -eq 0 ] || exit 1
}
trap cleanup EXIT

ok() { echo "ok - $(basename "$0" .sh): $1"; }
not_ok() {
	echo "not ok - $(basename "$0" .sh): $1"
	FAILS=$((FAILS + 1))
}
# check NAME COMMAND...: ok if the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
finish() { [ "$FAILS" -eq 0 ]; exit $?; }

# free_ports N [HOST]: N distinct free TCP ports on HOST (127.0.0.1, or
# an IPv6 address such as ::1), one per line.
free_ports() {
	python3 - "$1" "${2:-127.0.0.1}" <<'PY'
import socket, sys
host = sys.argv[2]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(family)
    s.bind((host, 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# hostport HOST PORT: the address as devcloud writes it ([HOST]:PORT for
# an IPv6 HOST).
hostport() {
	case $1 in
	*:*) echo "[$1]:$2" ;;
	*) echo "$1:$2" ;;
	esac
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; 1 if never.
wait_for() {
	local tries=$(($1 * 10))
	shift
	while [ "$tries" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	return 1
}

# start NAME COMMAND...: runs COMMAND in the background, logging to
# $T/NAME.log, and remembers its PID in PID_<NAME>.
start() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	printf -v "PID_${name//-/_}" '%s' $!
}

# start_redis: a private redis-server on a free port of REDIS_HOST
# (127.0.0.1 unless set); sets REDIS_PORT.
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
start_redis() {
	REDIS_PORT=${REDIS_PORT:-$(free_ports 1 "$REDIS_HOST")}
	start redis redis-server --port "$REDIS_PORT" --bind "$REDIS_HOST" \
		--save '' --appendonly no --dir "$T"
	wait_for 10 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping
}

# write_config: $T/devcloud.conf with every address on a free port; sets
# CONF and ADMIN_<daemon> / CTL_<daemon> / PROXY_PORT. The proxy listens
# on PROXY_HOST (127.0.0.1 unless set).
PROXY_HOST=${PROXY_HOST:-127.0.0.1}
write_config() {
	local p
	p=($(free_ports 15))
	BUS_IN=tcp://127.0.0.1:${p[0]}
	BUS_OUT=tcp://127.0.0.1:${p[1]}
	BUS_ADMIN=127.0.0.1:${p[2]}
	PROXY_PORT=${p[3]}
	[ "$PROXY_HOST" = 127.0.0.1 ] || PROXY_PORT=$(free_ports 1 "$PROXY_HOST")
	local i=4 d
	for d in proxy autostart regulator idepool deployer; do
		printf -v "CTL_$d" 'tcp://127.0.0.1:%s' "${p[$i]}"
		printf -v "ADMIN_$d" '127.0.0.1:%s' "${p[$((i + 1))]}"
		i=$((i + 2))
	done
	CONF=$T/devcloud.conf
	cat >"$CONF" <<CONF
log = { level = "debug"; };
redis = { address = "$(hostport "$REDIS_HOST" "$REDIS_PORT")"; retry_max_ms = 400; };
bus = { in = "$BUS_IN"; out = "$BUS_OUT"; admin = "$BUS_ADMIN";
        heartbeat_ms = 300; };
proxy = { control = "$CTL_proxy"; admin = "$ADMIN_proxy";
          listen = "$(hostport "$PROXY_HOST" "$PROXY_PORT")"; workers = 1; ${PROXY_EXTRA:-} };
autostart = { control = "$CTL_autostart"; admin = "$ADMIN_autostart";
              run_dir = "$T/run"; ${AUTOSTART_EXTRA:-} };
regulator = { control = "$CTL_regulator"; admin = "$ADMIN_regulator"; };
idepool = { control = "$CTL_idepool"; admin = "$ADMIN_idepool"; };
deployer = { control = "$CTL_deployer"; admin = "$ADMIN_deployer"; };
CONF
	export DEVCLOUD_CONFIG=$CONF
}

ctl() { "$BIN/devcloudctl" -c "$CONF" "$@"; }

# start_daemons DAEMON...: the broker and each daemon on $CONF, then
# waits (bounded) until every daemon's /healthz is ready; 1 if one is not.
start_daemons() {
	local d v rc=0
	start bus "$BIN/devcloud-bus" -c "$CONF"
	for d in "$@"; do
		start "$d" "$BIN/devcloud-$d" -c "$CONF"
	done
	for d in "$@"; do
		v="ADMIN_$d"
		wait_for 10 healthz_is "${!v}" 200 || {
			echo "# $d not ready (log: $T/$d.log)" >&2
			rc=1
		}
	done
	return $rc
}

# http_status URL: prints the HTTP status code (000 if none).
http_status() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$1"; }
healthz_is() { [ "$(http_status "http://$1/healthz")" = "$2" ]; }
