#!/bin/bash
# The proxy's graceful stop (proxy.stop_grace_ms): on SIGTERM it stops
# accepting, closes its idle keep-alive connections, and lets a request
# in flight finish with its whole answer before it exits; a request
# still running when the grace ends is cut. Real proxy, redis-server and
# a slow upstream (tests/apps/slowhttp.py).
. "$(dirname "$0")/lib.sh"

PROXY_EXTRA='stop_grace_ms = 3000;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons proxy || not_ok "proxy ready"
UP=$(free_ports 1)
PORT=$UP DELAY_MS=1500 start slow python3 "$ROOT/tests/apps/slowhttp.py"
wait_for 5 bash -c "echo > /dev/tcp/127.0.0.1/$UP" || not_ok "upstream listens"
ctl route add slow.test "127.0.0.1:$UP" >/dev/null
check "routed" wait_for 5 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Host: slow.test' http://127.0.0.1:$PROXY_PORT/)\" = 200 ]"

# a request in flight (1.5 s to answer), then SIGTERM half-way
curl -s -m 10 -o "$T/body" -w '%{http_code}' -H 'Host: slow.test' \
	"http://127.0.0.1:$PROXY_PORT/" >"$T/inflight" &
req=$!
sleep 0.5
t0=$(date +%s%3N)
kill -TERM "$PID_proxy"
sleep 0.2
check "no new connection once stopping" bash -c \
	"! curl -s -o /dev/null -m 2 -H 'Host: slow.test' http://127.0.0.1:$PROXY_PORT/"
wait "$req"
check "the request in flight got its whole answer ($(cat "$T/inflight"))" \
	bash -c "[ \"\$(cat '$T/inflight')\" = 200 ] && grep -qx slow '$T/body'"
check "then the proxy exits" wait_for 5 bash -c "! kill -0 $PID_proxy 2>/dev/null"
wait "$PID_proxy"
check "exit status 0" [ $? -eq 0 ]
t1=$(date +%s%3N)
check "it waited for the answer, not for the whole grace ($((t1 - t0)) ms)" \
	[ $((t1 - t0)) -lt 2900 ]

# the grace ends before a slower answer: cut, and the proxy still exits
start proxy2 "$BIN/devcloud-proxy" -c "$CONF"
check "proxy restarted" wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Host: slow.test' http://127.0.0.1:$PROXY_PORT/)\" = 200 ]"
kill "$PID_slow"; wait "$PID_slow" 2>/dev/null
PORT=$UP DELAY_MS=8000 start slow2 python3 "$ROOT/tests/apps/slowhttp.py"
wait_for 5 bash -c "echo > /dev/tcp/127.0.0.1/$UP"
curl -s -m 20 -o /dev/null -w '%{http_code}' -H 'Host: slow.test' \
	"http://127.0.0.1:$PROXY_PORT/" >"$T/cut" &
req=$!
sleep 0.5
t0=$(date +%s%3N)
kill -TERM "$PID_proxy2"
wait "$req"
wait "$PID_proxy2"
t1=$(date +%s%3N)
check "a request longer than the grace is cut ($(cat "$T/cut"))" [ "$(cat "$T/cut")" != 200 ]
check "at the end of the grace ($((t1 - t0)) ms)" [ $((t1 - t0)) -ge 2900 -a $((t1 - t0)) -lt 6000 ]
finish
