#!/bin/bash
# Wake overhead of the process driver (not a test: it prints figures and
# never fails on a time). In one run, over N cold starts (default 20):
#
#   reference  the app started alone: spawn, then GETs until it answers
#   ttfb       a cold request through the proxy: time to its first byte
#   overhead   ttfb minus the reference median: what devcloud adds
#
# then C (default 1000) concurrent requests to the cold app: how many
# times it started (must be 1) and how many requests failed (must be 0).
# Target: overhead median <= 5 ms.  bench/wake.sh [N]
. "$(dirname "$0")/../tests/integration/lib.sh"

ulimit -n 8192 2>/dev/null
N=${1:-${N:-20}}
C=${C:-1000}
PY="python3 $ROOT/bench/wake_time.py"
cc -O2 -o "$T/app" "$ROOT/tests/apps/tinyhttp.c" || exit 1

start_redis || exit 1
AUTOSTART_EXTRA='sweep_interval_ms = 50;'
PROXY_EXTRA="hold_max_requests = $((C + 100)); max_connections = $((C + 1000));"
write_config
sed -i 's/level = "debug"/level = "warn"/' "$CONF"
start_daemons autostart proxy || { echo "daemons down (logs in $T)" >&2; exit 1; }
ctl app create bench --domain bench.test --ttl 3600 --command "exec $T/app" >/dev/null

stats() { # prints "median p99" of the numbers on stdin
	sort -n | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = v[int(NR * 0.99 + 0.999)]; printf "%.2f %.2f\n", m, p }'
}

: >"$T/ref"
: >"$T/ttfb"
for i in $(seq "$N"); do
	port=$(free_ports 1)
	$PY ref "$port" "$T/app" "$port" >>"$T/ref"
	$PY ttfb "$PROXY_PORT" bench.test >>"$T/ttfb"
	ctl app stop bench >/dev/null
done
read -r ref_med ref_p99 < <(stats <"$T/ref")
read -r ttfb_med ttfb_p99 < <(stats <"$T/ttfb")
awk -v r="$ref_med" '{ print $1 - r }' "$T/ttfb" >"$T/over"
read -r over_med over_p99 < <(stats <"$T/over")

"$BIN/devcloudctl" -c "$CONF" events app.waking >"$T/waking" &
PIDS+=($!)
sleep 0.3
read -r ok errors < <($PY crowd "$PROXY_PORT" bench.test "$C")
sleep 0.3
starts=$(grep -c '"app":"bench"' "$T/waking")

printf '%-34s %10s %10s\n' "process driver, $N cold starts" "median ms" "p99 ms"
printf '%-34s %10s %10s\n' "app alone (reference)" "$ref_med" "$ref_p99"
printf '%-34s %10s %10s\n' "cold request through devcloud" "$ttfb_med" "$ttfb_p99"
printf '%-34s %10s %10s\n' "wake overhead" "$over_med" "$over_p99"
echo "$C concurrent requests to a cold app: starts=$starts ok=$ok errors=$errors"
echo "process wake overhead median: $over_med ms"
