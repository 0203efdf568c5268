# Shared helpers for integration tests: a private temp dir, free ports,
# a private redis-server, the real daemons, and a trap that stops every
# process the test started (by PID) and removes the dir.
#
# A test sources this file, calls ok/not_ok per check, and ends with
# `finish`. A check that cannot run on this machine, and may lawfully
# not (no ::1, no dockerd), is reported with `skip NAME REASON`, or the
# whole test with `skip_all REASON`: "ok - TEST: NAME # SKIP REASON", as
# TAP writes it, which tests/run.sh counts as skipped, never as passed.
#
# Helpers written once for every test (and bench/): status_of and
# px_curl / px_status for HTTP, app_state_is for an app's state,
# refused for a command that must say no, key and rcli for Redis.

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
		while read -r p _; do	# one line per instance
			[ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null
		done <"$f"
	done
	# A sanitizer build reports to the daemons' logs and goes on (or
	# exits after the test has looked): each report is a failure. The
	# logs are in $T, or in a make up run directory under it.
	for p in "$T"/*.log "$T"/*/logs/*.log; do
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
# skip NAME REASON: the check NAME did not run here, because REASON.
skip() { echo "ok - $(basename "$0" .sh): $1 # SKIP $2"; }
# skip_all REASON: the whole test cannot run here; ends it.
skip_all() {
	skip "$(basename "$0" .sh)" "$1"
	finish
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
REDIS_PREFIX=${REDIS_PREFIX:-dc:}	# write_config gives it to the daemons
start_redis() {
	REDIS_PORT=${REDIS_PORT:-$(free_ports 1 "$REDIS_HOST")}
	start redis redis-server --port "$REDIS_PORT" --bind "$REDIS_HOST" \
		--save '' --appendonly no --dir "$T"
	wait_for 10 rcli ping
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
redis = { address = "$(hostport "$REDIS_HOST" "$REDIS_PORT")"; retry_max_ms = 400;
          prefix = "$REDIS_PREFIX"; };
bus = { in = "$BUS_IN"; out = "$BUS_OUT"; admin = "$BUS_ADMIN";
        heartbeat_ms = 300; };
proxy = { control = "$CTL_proxy"; admin = "$ADMIN_proxy";
          listen = "$(hostport "$PROXY_HOST" "$PROXY_PORT")"; workers = 1; ${PROXY_EXTRA:-} };
autostart = { control = "$CTL_autostart"; admin = "$ADMIN_autostart";
              run_dir = "$T/run"; ${AUTOSTART_EXTRA:-} };
regulator = { control = "$CTL_regulator"; admin = "$ADMIN_regulator";
              watch_local = ${REGULATOR_WATCH_LOCAL:-0}; ${REGULATOR_EXTRA:-} };
idepool = { control = "$CTL_idepool"; admin = "$ADMIN_idepool"; ${IDEPOOL_EXTRA:-} };
deployer = { control = "$CTL_deployer"; admin = "$ADMIN_deployer"; ${DEPLOYER_EXTRA:-} };
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

# status_of CURL_ARGS...: prints the HTTP status of one curl request
# (000 if no answer came). The body is dropped unless CURL_ARGS has an
# -o FILE of its own; -m 10 unless CURL_ARGS has an -m of its own.
status_of() {
	local a out=(-o /dev/null)
	for a in "$@"; do
		[ "$a" = -o ] && out=()
	done
	curl -s -m 10 "${out[@]}" -w '%{http_code}' "$@"
}
healthz_is() { [ "$(status_of -m 5 "http://$1/healthz")" = "$2" ]; }

# px_curl HOST PATH [CURL_ARGS...]: curl through the proxy, for HOST.
px_curl() {
	local host=$1 path=$2
	shift 2
	curl -s -m 10 -H "Host: $host" "$@" \
		"http://$(hostport "$PROXY_HOST" "$PROXY_PORT")$path"
}
# px_status HOST PATH [CURL_ARGS...]: status_of a request through the
# proxy, for HOST.
px_status() {
	local host=$1 path=$2
	shift 2
	status_of -H "Host: $host" "$@" \
		"http://$(hostport "$PROXY_HOST" "$PROXY_PORT")$path"
}

# refused RC PATTERN COMMAND...: COMMAND says no: it exits RC (a number,
# or "any" for any non-zero status) and prints a line matching PATTERN
# (grep -E) on stdout or stderr. Its output is left in $T/refused.out.
refused() {
	local want=$1 pattern=$2 rc
	shift 2
	"$@" >"$T/refused.out" 2>&1
	rc=$?
	if { [ "$want" = any ] && [ "$rc" -ne 0 ]; } || [ "$rc" = "$want" ]; then
		grep -qE -- "$pattern" "$T/refused.out" && return 0
		echo "# $1 said nothing matching \"$pattern\":" >&2
	else
		echo "# $1 exited $rc, not $want:" >&2
	fi
	head -n 5 "$T/refused.out" | sed 's/^/#   /' >&2
	return 1
}

# app_state APP: the app's state, as `devcloudctl app show` says it;
# app_state_is APP STATE: it is STATE (wait_for it to wait).
app_state() { ctl app show "$1" 2>/dev/null | awk '$1 == "state" { print $2 }'; }
app_state_is() { [ "$(app_state "$1")" = "$2" ]; }

# key NAME [ARG...]: the Redis key NAME with its arguments, as
# common/keys.h builds it (its comment table lists them all), under the
# prefix REDIS_PREFIX (the default "dc:"). Tests and bench/ name keys
# only through this function, so the schema is written twice: there
# and here.
key() {
	case "$1:$#" in
	routes:1 | apps:1 | deadlines:1 | lastaccess:1 | transit:1 | services:1 | \
	hosts:1 | deploying:1 | pools:1 | domains:1 | leases:1 | leasedeadlines:1)
		echo "$REDIS_PREFIX$1" ;;
	app:2 | instances:2 | host:2 | load:2 | hoststate:2 | relief:2)
		echo "${REDIS_PREFIX}$1:$2" ;;
	instance:3) echo "${REDIS_PREFIX}instance:$2:$3" ;;
	pool:2 | members:2 | free:2 | spare:2 | memberseq:2)
		echo "${REDIS_PREFIX}$1:$2" ;;
	member:3) echo "${REDIS_PREFIX}member:$2:$3" ;;
	wake_lock:2) echo "${REDIS_PREFIX}lock:wake:$2" ;;
	scale_lock:2) echo "${REDIS_PREFIX}lock:scale:$2" ;;
	deploy_lock:2) echo "${REDIS_PREFIX}lock:deploy:$2" ;;
	release_seq:2) echo "${REDIS_PREFIX}releaseseq:$2" ;;
	releases:2) echo "${REDIS_PREFIX}releases:$2" ;;
	release:3) echo "${REDIS_PREFIX}release:$2:$3" ;;
	relief_lock:2) echo "${REDIS_PREFIX}lock:relief:$2" ;;
	service:3) echo "${REDIS_PREFIX}service:$2/$3" ;;
	*)
		echo "key: no key \"$*\" in common/keys.h" >&2
		return 1
		;;
	esac
}
# rcli ARGS...: redis-cli against the test's redis-server.
rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
