#!/bin/bash
# Holding requests for sleeping apps, with the real autostart answering
# the wake command: concurrent requests for a stopped app are held, one
# wake is sent, all are forwarded once it runs; the hold is bounded by
# count and by bytes (503 with Retry-After, naming the app, for a
# request over either bound); a held client that leaves is dropped; a
# failed wake is a 503 and a slow one a 504, each naming the app.
# Activity (last access, deadline) is flushed to Redis, and an open
# WebSocket keeps its app active; an Upgrade can be held too.
. "$(dirname "$0")/proxy_env.bash"

if [ ! -d "$ROOT/tests/node_modules/ws" ]; then
	(cd "$ROOT/tests" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
		{ not_ok "npm ci installs ws"; finish; }
fi
PROXY_EXTRA='hold_max_requests = 4; hold_max_bytes = 4096;
	hold_timeout_ms = 4000; flush_interval_ms = 200;'
start_suite || { not_ok "suite starts"; finish; }
start autostart "$BIN/devcloud-autostart" -c "$CONF"
wait_for 10 healthz_is "$ADMIN_autostart" 200 || { not_ok "autostart starts"; finish; }

BACKEND="python3 $HERE/proxy_backend.py"
ctl app create sleepy --domain sleepy.test --ttl 60 \
	--command "sleep 1 && exec $BACKEND \$PORT" >/dev/null ||
	not_ok "app create sleepy"
ctl app create broken --domain broken.test --command "exit 3" \
	--start-timeout 2000 >/dev/null || not_ok "app create broken"
ctl app create glacial --domain glacial.test --command "exec sleep 60" \
	--start-timeout 30000 >/dev/null || not_ok "app create glacial"
# bulky starts when the test lets it: once $T/bulky.go exists.
ctl app create bulky --domain bulky.test --ttl 60 --command \
	"until [ -e $T/bulky.go ]; do sleep 0.05; done; exec $BACKEND \$PORT" \
	>/dev/null ||
	not_ok "app create bulky"
ctl app create wsapp --domain ws.test --ttl 60 \
	--command "exec node $HERE/proxy_ws.js server \$PORT" >/dev/null ||
	not_ok "app create wsapp"
routed() { [ "$(px_status sleepy.test /nothing-yet -m 1)" != 404 ]; }
wait_for 5 routed

# Three requests at once for a stopped app: all held, one wake, all
# answered by the app.
pids=()
for i in 1 2 3; do
	px_status sleepy.test /echo -m 20 -o "$T/held$i" >"$T/code$i" &
	pids+=($!)
done
wait "${pids[@]}"
check "held requests all answered once the app runs" \
	bash -c "cat '$T/code1' '$T/code2' '$T/code3' | grep -qx 200200200"
check "held requests reached the app" grep -q '"body_len": 0' "$T/held1"
check "one wake for the three requests" \
	[ "$(metric devcloud_proxy_wakes_total)" = 1 ]
check "app record says running" app_state_is sleepy running
# served warm: pong, and still the one wake
warm() {
	[ "$(px_curl sleepy.test /ping)" = pong ] &&
		metric_is devcloud_proxy_wakes_total 1
}
check "warm path: no further wake" warm

# Activity reaches Redis: last access now, deadline now + ttl.
# score ZSET APP: APP's score in the zset named ZSET in keys.h, in whole ms.
score() { rcli ZSCORE "$(key "$1")" "$2" | cut -d. -f1; }
now=$(($(date +%s) * 1000))
flushed() { [ "$(score lastaccess sleepy)" -ge $((now - 5000)) ]; }
check "last access flushed" wait_for 3 flushed
check "deadline pushed to now + ttl" \
	[ "$(score deadlines sleepy)" -ge $((now + 55000)) ]

# The bound: 4 may wait; more get 503 with Retry-After.
ctl app stop sleepy >/dev/null
wait_for 10 app_state_is sleepy stopped
sleep 0.3
pids=()
for i in 1 2 3 4 5 6; do
	px_status sleepy.test /ping -m 20 -D "$T/b$i.h" >"$T/b$i" &
	pids+=($!)
done
wait "${pids[@]}"
check "over the hold bound: 503" \
	[ "$(grep -lx 503 "$T"/b[1-6] | wc -l)" = 2 ]
check "within the bound: forwarded" \
	[ "$(grep -lx 200 "$T"/b[1-6] | wc -l)" = 4 ]
check "503 carries Retry-After" bash -c "grep -qi '^Retry-After: ' $T/b*.h"

# A held client that leaves is dropped from the queue.
px_curl glacial.test / -m 1 -o /dev/null
check "a client that gives up leaves the queue" \
	wait_for 3 metric_is devcloud_proxy_held_requests 0

# A wake that fails: 503 naming the app and the reason.
check "failed wake: 503" \
	[ "$(px_status broken.test / -m 20 -o "$T/broken.html")" = 503 ]
check "the 503 page names the app" grep -q 'app broken could not be woken' "$T/broken.html"

# A wake slower than the hold timeout: 504 naming the app.
check "slow wake: 504" \
	[ "$(px_status glacial.test / -m 20 -o "$T/glacial.html")" = 504 ]
check "the 504 page names the app" grep -q 'app glacial' "$T/glacial.html"

# An Upgrade held while its app wakes, then tunneled; the open tunnel
# keeps the app's last access moving without any request.
node "$HERE/proxy_ws.js" client "ws://127.0.0.1:$PROXY_PORT/" ws.test \
	>"$T/ws.out" 2>&1
check "held WebSocket upgrade tunneled after the wake" \
	grep -q '^ok echo 56 messages' "$T/ws.out"
python3 - "$PROXY_PORT" >"$T/hold-open" <<'PY' &
import base64, os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\n"
           "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: %s\r\n\r\n" % key).encode())
print(s.recv(4096).split(b"\r\n")[0].decode(), flush=True)
time.sleep(3)
PY
holder=$!
wait_for 5 grep -q '101' "$T/hold-open"
a=$(rcli ZSCORE "$(key lastaccess)" wsapp)
sleep 1.2
b=$(rcli ZSCORE "$(key lastaccess)" wsapp)
check "an open tunnel keeps its app active" \
	python3 -c "import sys; sys.exit(0 if float('$b') > float('$a') else 1)"
wait $holder

# The byte bound (hold_max_bytes = 4096). A held request counts the head
# the proxy forwards (the client's, hop-by-hop fields out, X-Forwarded-*
# in) plus whatever of its body was already read when it was held. The
# sizes keep ~500 bytes from the bound either way: a big head is ~1.6 KB.
#
# hreq NAME PAD BODY: a request for bulky.test with a PAD-byte X-Pad
# field and a BODY-byte body (a POST then), written in one piece; the
# whole answer goes to $T/NAME.
hreq() {
	python3 - "$PROXY_PORT" "$1" "$2" "$3" >"$T/$1" <<'PY'
import socket, sys
port, name, pad, blen = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4])
head = "%s /echo?%s HTTP/1.1\r\nHost: bulky.test\r\nX-Pad: %s\r\n" % (
    "POST" if blen else "GET", name, "p" * pad)
if blen:
    head += "Content-Length: %d\r\n" % blen
head += "Connection: close\r\n\r\n"
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(20)
s.sendall(head.encode() + b"b" * blen)
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except OSError:
    pass
sys.stdout.write(out.decode("latin-1"))
PY
}
held_is() { metric_is "devcloud_proxy_app_held{app=\"$1\"}" "$2"; }
# hold NAME PAD BODY N: hreq in the background (its pid added to HELD),
# then waits until bulky has N held requests; 1 if it never does.
HELD=()
hold() {
	hreq "$1" "$2" "$3" &
	HELD+=($!)
	wait_for 5 held_is bulky "$4"
}
# over_bound NAME: a 503 with Retry-After whose page names the app.
over_bound() {
	[ "$(raw_status "$T/$1")" = 503 ] && grep -qi '^Retry-After: ' "$T/$1" &&
		grep -q 'app bulky is starting' "$T/$1"
}
# forwarded NAME: a 200 from the app, for this very request.
forwarded() {
	[ "$(raw_status "$T/$1")" = 200 ] &&
		grep -q "\"path\": \"/echo?$1\"" "$T/$1"
}

hold big1 1500 0 1
hold big2 1500 0 2
hreq big3 1500 0		# 3 x 1.6 KB > 4 KB
check "over the byte bound: 503, Retry-After, a page naming the app" \
	over_bound big3
hreq body1 0 1500		# 2 x 1.6 KB + 0.2 KB head + 1.5 KB body
check "a buffered body counts toward the byte bound" over_bound body1
check "the refused requests were not held" held_is bulky 2
# 2 x 1.6 KB + 0.2 KB: still within
check "within the byte bound, a third request is held" hold small1 0 0 3
hold small2 0 0 4
# The count bound (4) is reached now: these two are refused by count.
hreq big4 1500 0
hreq big5 1500 0
check "over the count bound at once: 503" \
	[ "$(raw_status "$T/big4")$(raw_status "$T/big5")" = 503503 ]
touch "$T/bulky.go"
wait "${HELD[@]}"
for r in big1 big2 small1 small2; do
	check "held within the bounds, then answered by the app: $r" forwarded "$r"
done

# The refusals leave the byte count as it was: asleep again, the same
# two big requests are held and a third is over the bound.
rm "$T/bulky.go"
ctl app stop bulky >/dev/null
wait_for 10 app_state_is bulky stopped
sleep 0.3
HELD=()
hold big6 1500 0 1
hold big7 1500 0 2
hreq big8 1500 0
check "after refusals by count, the byte bound is still 4 KB" over_bound big8
touch "$T/bulky.go"
wait "${HELD[@]}"
for r in big6 big7; do
	check "the next wake answers the held ones: $r" forwarded "$r"
done
finish
