#!/bin/bash
# The per-upstream connection cap (proxy.upstream_max_conns) and its
# queue: a burst of 300 requests to an upstream with a listen backlog of
# 1 that serves one request at a time all succeed, the upstream never
# holds more than the cap, and clients that give up or wait too long
# leave the queue.
. "$(dirname "$0")/proxy_env.bash"

port=$(free_ports 1)
start weak python3 "$HERE/weak_upstream.py" "$port" "$T/weak.max"
wait_for 10 test -s "$T/weak.max" || { not_ok "weak upstream starts"; finish; }
PROXY_EXTRA="upstream_max_conns = 4; connect_timeout_ms = 3000;"
start_suite || { not_ok "suite starts"; finish; }
route q.test "127.0.0.1:$port" || { not_ok "route add"; finish; }

# A burst: the first four connect, the rest wait their turn.
seq 300 | xargs -P 300 -I{} curl -s -o /dev/null -m 60 -w '%{http_code}\n' \
	-H 'Host: q.test' "http://127.0.0.1:$PROXY_PORT/r{}" >"$T/codes"
check "300 concurrent requests all answered 200" \
	[ "$(grep -cx 200 "$T/codes")" = 300 ]
echo "# codes: $(sort "$T/codes" | uniq -c | tr '\n' ' ')"
echo "# upstream peak connections: $(cat "$T/weak.max")"
check "the upstream never held more than 4 connections" \
	[ "$(cat "$T/weak.max")" -le 4 ]
check "the queued gauge is back to 0" \
	wait_for 5 metric_is devcloud_proxy_upstream_queued 0

# Four slow requests take every slot; the next ones queue.
curls=()
for i in 1 2 3 4; do
	px_status q.test /slow/5000 -m 30 >"$T/slow$i" &
	curls+=($!)
done
sleep 0.5
# One client gives up while queued, another waits past the timeout.
px_curl q.test /gone -m 0.5 -o /dev/null
px_status q.test /late -m 30 -o "$T/late" >"$T/late.code" &
curls+=($!)
sleep 0.3
check "a queued request shows in the gauge" \
	[ "$(metric devcloud_proxy_upstream_queued)" = 1 ]
wait "${curls[@]}"
check "the slow requests answered 200" \
	[ "$(grep -lx 200 "$T"/slow? | wc -l)" = 4 ]
check "a request queued past connect_timeout_ms gets 504" \
	[ "$(cat "$T/late.code")" = 504 ]
check "its page says no connection was free" \
	grep -q 'no connection free in time' "$T/late"
check "the queue is empty again" \
	[ "$(metric devcloud_proxy_upstream_queued)" = 0 ]
check "the proxy still serves" \
	[ "$(px_status q.test /after)" = 200 ]
check "the proxy is still running" kill -0 "$PID_proxy"

finish
