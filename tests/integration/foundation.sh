#!/bin/bash
# The suite's skeleton end to end: a private redis-server, the broker and
# the five daemons on free ports; ping, status, events, health through a
# Redis outage, garbage on the bus, bad configs, clean shutdown.
. "$(dirname "$0")/lib.sh"

DAEMONS=${DAEMONS:-"proxy autostart regulator idepool deployer"}

start_redis || { not_ok "redis-server starts"; finish; }
write_config

# A missing library is named with the Debian package that provides it.
mkdir -p "$T/no-pkgconfig"
PKG_CONFIG_LIBDIR=$T/no-pkgconfig "$ROOT/deploy/deps.sh" check >"$T/deps.out" 2>&1
rc=$?
check "deps check fails when libraries are missing" [ "$rc" -eq 1 ]
check "and names their Debian packages" bash -c \
	"grep -q 'missing libuv: install the Debian package libuv1-dev' '$T/deps.out' &&
	 grep -q 'missing hiredis: install the Debian package libhiredis-dev' '$T/deps.out' &&
	 grep -q \"run 'make deps'\" '$T/deps.out'"
check "deps check passes here" "$ROOT/deploy/deps.sh" check

# Program surface: --version, --help, -t on the real config.
for d in bus $DAEMONS; do
	check "devcloud-$d --version" bash -c \
		"'$BIN/devcloud-$d' --version | grep -q '^devcloud-$d [0-9]'"
	check "devcloud-$d --help" bash -c \
		"'$BIN/devcloud-$d' --help | grep -q -- '-t'"
	check "devcloud-$d -t accepts the config" bash -c \
		"'$BIN/devcloud-$d' -t -c '$CONF' | grep -q 'configuration OK'"
done

# Start daemons before the broker: they must wait for it.
for d in $DAEMONS; do
	start "$d" "$BIN/devcloud-$d" -c "$CONF"
done
sleep 0.5
start bus "$BIN/devcloud-bus" -c "$CONF"

for d in $DAEMONS; do
	v="ADMIN_$d"
	check "$d /healthz ready" wait_for 10 healthz_is "${!v}" 200
	check "ping $d" bash -c "'$BIN/devcloudctl' -c '$CONF' ping $d |
		grep -q '^$d [0-9.]* instance='"
done

ctl status >"$T/status.out" 2>&1
for d in $DAEMONS; do
	check "status lists $d alive" grep -q "^$d .* alive$" "$T/status.out"
done

ctl -w 3000 -n 5 events service.up >"$T/events.out" 2>&1
check "events prints heartbeats as JSON lines" bash -c \
	"[ \$(grep -c '^{\"type\":\"service.up\",\"v\":1,' '$T/events.out') -eq 5 ] &&
	 python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' '$T/events.out'"

# Redis goes away: every daemon turns not-ready, then ready again.
kill "$PID_redis"
wait "$PID_redis" 2>/dev/null
for d in $DAEMONS; do
	v="ADMIN_$d"
	check "$d /healthz not ready without redis" wait_for 10 healthz_is "${!v}" 503
done
check "healthz says why" bash -c \
	"curl -s http://$ADMIN_autostart/healthz | grep -q 'redis.*not connected'"
start_redis || not_ok "redis-server restarts"
for d in $DAEMONS; do
	v="ADMIN_$d"
	check "$d reconnects to redis" wait_for 15 healthz_is "${!v}" 200
	check "$d logged the retry with its backoff" \
		grep -q 'msg="redis connect failed".*retry_ms=' "$T/$d.log"
done

# Garbage on the bus: logged, counted, dropped; nobody falls over.
for frame in 'not a frame' 'app.ready {' 'app.ready []' \
	'app.ready {"v":1,"ts":1,"source":"x"}' \
	'app.ready {"v":"1","ts":1,"source":"x","app":"a","addr":"b"}' \
	'no.such.type {"v":1}' "service.up $(head -c 70000 /dev/zero | tr '\0' x)"; do
	ctl publish "$frame" || not_ok "publish garbage"
done
# (in a subshell: autostart may close the socket before the write
# ends, and the SIGPIPE is the subshell's, not the test's)
(printf '\x00\x53\x50\x00garbage\r\n\r\n' >/dev/tcp/127.0.0.1/${CTL_autostart##*:}) 2>/dev/null
check "garbage counted as malformed" wait_for 5 bash -c \
	"curl -s http://$ADMIN_autostart/metrics |
	 grep -q '^devcloud_bus_malformed_total [1-9]'"
for d in $DAEMONS; do
	check "$d alive after garbage" bash -c \
		"'$BIN/devcloudctl' -c '$CONF' ping $d >/dev/null"
done
check "broker counts forwarded frames" bash -c \
	"curl -s http://$BUS_ADMIN/metrics | grep -q '^devcloud_broker_messages_total [1-9]'"

# The broker restarts: daemons redial by themselves.
kill "$PID_bus"
wait "$PID_bus" 2>/dev/null
check "healthz not ready without the broker" wait_for 10 \
	healthz_is "$ADMIN_deployer" 503
start bus "$BIN/devcloud-bus" -c "$CONF"
# every daemon, not one: service.down below is lost by one still redialing
for d in $DAEMONS; do
	v="ADMIN_$d"
	check "$d healthz ready again with the broker back" wait_for 10 \
		healthz_is "${!v}" 200
done

# Bad configs: exit 1 naming file:line and the setting, touching nothing.
printf 'redis = {\n  address = "127.0.0.1:1";\n  retry_max_ms = 5;\n};\n' >"$T/bad1.conf"
printf 'bus = {\n  heartbeat_ms = "fast";\n};\n' >"$T/bad2.conf"
printf 'proxy = {\n  listen = "127.0.0.1:99999"\n};\n' >"$T/bad3.conf"
printf 'nosuch = {\n x = 1;\n};\n' >"$T/bad4.conf"
printf 'redis = { address = "a:1" }\n;;\n' >"$T/bad5.conf"
for spec in "bad1.conf:3:redis.retry_max_ms" "bad2.conf:2:bus.heartbeat_ms" \
	"bad3.conf:2:proxy.listen" "bad4.conf:1:nosuch" "bad5.conf:2:"; do
	f=${spec%%:*}
	rest=${spec#*:}
	line=${rest%%:*}
	setting=${rest#*:}
	for d in autostart proxy; do
		check "$d exits 1 on $f, naming $f:$line $setting" \
			refused 1 "$T/$f:$line: $setting" "$BIN/devcloud-$d" -c "$T/$f"
	done
done
DEVCLOUD_PROXY_WORKERS=many "$BIN/devcloud-regulator" -t -c "$CONF" >"$T/env.out" 2>&1
check "bad environment value names the variable" \
	grep -q 'environment DEVCLOUD_PROXY_WORKERS: proxy.workers' "$T/env.out"

# CLI against nothing: a clear message and a non-zero exit, never a hang.
cat >"$T/nothing.conf" <<CONF
bus = { in = "tcp://127.0.0.1:1"; out = "tcp://127.0.0.1:1"; };
autostart = { control = "tcp://127.0.0.1:1"; };
CONF
nothing() { timeout 10 "$BIN/devcloudctl" -c "$T/nothing.conf" "$@"; }
check "ping with no daemon fails cleanly" \
	refused 1 'ping autostart: tcp://127.0.0.1:1' nothing ping autostart
check "status with no bus fails cleanly" \
	refused 1 'cannot reach the bus' nothing status
check "events with no bus fails cleanly" \
	refused 1 'cannot reach the bus' nothing events
check "unknown command exits 2" \
	refused 2 'unknown command' timeout 10 "$BIN/devcloudctl" -c "$CONF" nosuch

# Shutdown: SIGTERM, service.down on the bus, exit 0 within a second.
ctl -w 4000 -n 5 events service.down >"$T/down.out" 2>&1 &
PIDS+=($!)
ev=$!
sleep 0.5
for d in $DAEMONS; do
	v="PID_$d"
	kill -TERM "${!v}"
done
for d in $DAEMONS; do
	v="PID_$d"
	# a bounded wait, not a timing: a daemon still there after 1 s is stuck
	check "$d stops within 1 s of SIGTERM" \
		wait_for 1 bash -c "! kill -0 ${!v} 2>/dev/null"
	wait "${!v}"
	check "$d exits 0" [ $? -eq 0 ]
	check "$d logged its stop" grep -q 'msg="stopped"' "$T/$d.log"
done
wait "$ev"
for d in $DAEMONS; do
	check "service.down from $d" grep -q "\"service\":\"$d\"" "$T/down.out"
done

finish
