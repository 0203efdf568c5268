#!/bin/bash
# IPv6 literals end to end on the loopback ::1, written [::1]:PORT as the
# configuration wants them: a redis-server bound to ::1 only, reached by
# the proxy, autostart and devcloudctl; the proxy listening on [::1]; a
# static route to a backend on [::1]. A bare IPv6 address is refused
# with a message that says to bracket it.
REDIS_HOST=::1
PROXY_HOST=::1
. "$(dirname "$0")/proxy_env.bash"

if ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
	2>/dev/null; then
	skip_all "no ::1 on this machine"
fi

start_backend B6 ::1 || { not_ok "backend on [::1] starts"; finish; }
start_suite || { not_ok "redis and the proxy start on [::1]"; finish; }
check "the config names redis and the listener as [::1]:PORT" bash -c \
	"grep -qF 'address = \"[::1]:$REDIS_PORT\"' '$CONF' &&
	 grep -qF 'listen = \"[::1]:$PROXY_PORT\"' '$CONF'"
check "devcloud-proxy -t accepts it" bash -c \
	"'$BIN/devcloud-proxy' -t -c '$CONF' | grep -q 'configuration OK'"
check "redis listens on ::1 only" bash -c \
	"! redis-cli -h 127.0.0.1 -p $REDIS_PORT ping >/dev/null 2>&1"

check "the proxy reached redis at [::1]" \
	grep -qF "msg=\"redis connected\" addr=[::1]:$REDIS_PORT" "$T/proxy.log"
start autostart "$BIN/devcloud-autostart" -c "$CONF"
check "autostart reaches redis at [::1]" \
	wait_for 10 healthz_is "$ADMIN_autostart" 200

# devcloudctl's own Redis connection, and its check of the upstream.
check "devcloudctl route add to [::1]:PORT" route v6.example.test "[::1]:$B6"
check "the route is stored bracketed" \
	[ "$(rcli HGET "$(key routes)" v6.example.test)" = "static:[::1]:$B6" ]

# The proxy, listening on [::1], forwards to the backend on [::1].
px_curl v6.example.test /echo >"$T/echo.json"
check "a static route to [::1]:PORT reaches the backend" python3 -c '
import json, sys
sys.exit(json.load(open(sys.argv[1]))["server_port"] != int(sys.argv[2]))' \
	"$T/echo.json" "$B6"
check "the proxy answers on [::1] only" bash -c \
	"! curl -s -m 2 -o /dev/null http://127.0.0.1:$PROXY_PORT/"

# A bare IPv6 address is ambiguous: refused, and the message says why.
check "devcloudctl refuses an unbracketed IPv6 upstream" \
	refused 2 brackets ctl route add bare.example.test "::1:$B6"
check "a daemon refuses an unbracketed IPv6 redis address" \
	refused 1 'redis.address.*brackets' env DEVCLOUD_REDIS="::1:$REDIS_PORT" \
	"$BIN/devcloud-autostart" -t -c "$CONF"
bad_before=$(metric devcloud_proxy_bad_routes_total)
rcli HSET "$(key routes)" bare.example.test "static:::1:$B6" >/dev/null
rcli CLIENT KILL TYPE normal >/dev/null
bad_routes_counted() {
	[ "$(metric devcloud_proxy_bad_routes_total)" -gt "${bad_before:-0}" ]
}
check "the proxy skips such a route written to Redis by hand" \
	wait_for 10 bad_routes_counted
check "and still serves the good one" \
	[ "$(px_curl v6.example.test /ping)" = pong ]

finish
