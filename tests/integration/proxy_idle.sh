#!/bin/bash
# 10,000 concurrent idle client connections, each after one request
# (keep-alive), held with bounded memory: the proxy's RSS per idle
# connection is reported and must stay under 4 KiB (an idle connection
# holds no buffer), and the proxy keeps serving meanwhile.
# Two workers share them evenly: the kernel's hash alone would leave
# them about a hundred apart; a worker hands a new connection to a less
# loaded one.
. "$(dirname "$0")/proxy_env.bash"
export DEVCLOUD_PROXY_WORKERS=2

N=${N:-10000}
if [ "$(ulimit -n)" -lt $((N + 200)) ]; then
	ulimit -n $((N + 200)) 2>/dev/null ||
		{ not_ok "needs $((N + 200)) file descriptors (ulimit -n)"; finish; }
fi
PROXY_EXTRA='keepalive_timeout_ms = 120000; header_timeout_ms = 120000;'
start_backend B || { not_ok "backend starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }
route idle.test "127.0.0.1:$B" || { not_ok "route add"; finish; }
for _ in 1 2 3; do px_curl idle.test /ping >/dev/null; done
base=$(rss_kb "$PID_proxy")

# The client holds N connections open until $T/stop appears.
python3 - "$PROXY_PORT" "$N" "$T/stop" >"$T/clients" 2>&1 <<'PY' &
import os, selectors, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
req = b"GET /ping HTTP/1.1\r\nHost: idle.test\r\n\r\n"
socks, answered = [], 0
sel = selectors.DefaultSelector()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    socks.append(s)
    # keep the proxy's backlog and the backend's threads in step
    while i - answered > 200 or (i == n - 1 and answered < n):
        for key, _ in sel.select(timeout=10):
            data = key.fileobj.recv(4096)
            if b"pong" in data:
                answered += 1
                sel.unregister(key.fileobj)
print("answered", answered, flush=True)
while not os.path.exists(sys.argv[3]):
    time.sleep(0.1)
# an idle connection the proxy closed reads as EOF
open_ = 0
for s in socks:
    try:
        open_ += s.recv(1) != b""
    except BlockingIOError:
        open_ += 1
print("still open", open_, flush=True)
PY
client=$!
wait_for 120 grep -q '^answered' "$T/clients"
check "$N connections each got an answer" grep -qx "answered $N" "$T/clients"
open=$(metric devcloud_proxy_connections)
check "the proxy counts them open ($open)" [ "$open" = "$N" ]
w0=$(metric 'devcloud_proxy_worker_connections{worker="0"}')
w1=$(metric 'devcloud_proxy_worker_connections{worker="1"}')
w0=${w0:-0} w1=${w1:-0}
check "two workers hold them all ($w0 + $w1)" [ "$((w0 + w1))" = "$N" ]
check "evenly: at most 4 apart ($w0, $w1)" \
	[ "$((w0 > w1 ? w0 - w1 : w1 - w0))" -le 4 ]
handed=$(metric devcloud_proxy_handoffs_total)
check "some were handed from one worker to the other ($handed)" \
	[ "$handed" -gt 0 ]
rss=$(rss_kb "$PID_proxy")
per=$(( (rss - base) * 1024 / N ))
echo "# proxy RSS: ${base} kB before, ${rss} kB with $N idle connections: ${per} bytes each"
if [[ "$BIN" == */san-* ]]; then
	skip "idle connections cost under 4 KiB each" "sanitizer build"
else
	check "idle connections cost under 4 KiB each" [ "$per" -lt 4096 ]
fi
check "the proxy serves new requests meanwhile" [ "$(px_curl idle.test /ping)" = pong ]
touch "$T/stop"
wait "$client"
check "all connections were still open at the end" grep -qx "still open $N" "$T/clients"
check "the proxy sees them close" \
	wait_for 10 metric_is devcloud_proxy_connections 0
finish
