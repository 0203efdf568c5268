#!/bin/bash
# Bad input and limits, as raw bytes on a socket: 414, 431, 408, the idle
# keep-alive timeout, every ambiguous framing refused with 400 and the
# connection closed (never forwarded; the cases are tests/data/http's),
# and the upstream's failures: down (502), too slow (504), not speaking
# HTTP (502), each with a page.
. "$(dirname "$0")/proxy_env.bash"

PROXY_EXTRA='max_request_line = 1024; max_header_bytes = 4096;
	header_timeout_ms = 600; keepalive_timeout_ms = 800;
	upstream_timeout_ms = 800; connect_timeout_ms = 800;'
start_backend B || { not_ok "backend starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }
route l.test "127.0.0.1:$B" || { not_ok "route add"; finish; }
dead=$(free_ports 1)
route down.test "127.0.0.1:$dead" || { not_ok "route add"; finish; }

long=$(python3 -c 'print("a" * 1100)')
raw_refused "request line too long: 414" 414 "GET /$long HTTP/1.1\r\nHost: l.test\r\n\r\n"
big=$(python3 -c 'print("X-Big: " + "b" * 1000 + "\\r\\n", end="")')
raw_refused "header fields too large: 431" 431 \
	"GET / HTTP/1.1\r\nHost: l.test\r\n$big$big$big$big$big\r\n"
raw_refused "too many header fields: 431" 431 \
	"GET / HTTP/1.1\r\nHost: l.test\r\n$(python3 -c 'print("A: b\\r\\n" * 200, end="")')\r\n"

# Ambiguous framing and every other request the parser refuses, from
# tests/data/http (the unit test reads the same files): refused with the
# same status, closed, and nothing reaches the upstream.
before=$(metric devcloud_proxy_upstream_latency_seconds_count)
n=0
while IFS=$'\t' read -r name status bytes; do
	raw_refused "refused request $name: $status" "$status" "$bytes"
	n=$((n + 1))
done < <(python3 "$ROOT/tests/http_cases.py" list request refused)
check "tests/data/http has refused requests ($n)" [ "$n" -ge 12 ]
check "refused requests never reached the upstream" \
	metric_is devcloud_proxy_upstream_latency_seconds_count "$before"

# A bad chunked body after an accepted head: 400 if nothing was answered
# yet.
n=0
while IFS=$'\t' read -r name status bytes; do
	raw_refused "refused chunked body $name: $status" "$status" \
		"POST /echo HTTP/1.1\r\nHost: l.test\r\nTransfer-Encoding: chunked\r\n\r\n$bytes"
	n=$((n + 1))
done < <(python3 "$ROOT/tests/http_cases.py" list chunked refused)
check "tests/data/http has refused chunked bodies ($n)" [ "$n" -ge 2 ]

# Smuggling attempt: what would be a second request inside the body
# of the first must never be answered as one.
raw 'POST /echo HTTP/1.1\r\nHost: l.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /status/299 HTTP/1.1\r\nHost: l.test\r\n\r\n' 3 >"$T/smuggle"
check "smuggled request not answered" bash -c "! grep -q ' 299 ' '$T/smuggle'"

# Slow clients: a head that does not finish in time gets 408.
raw_refused "slow head: 408 and close" 408 'GET / HTTP/1.1\r\nHost: l.test\r\n'

# Idle keep-alive connections are closed after the timeout.
raw 'GET /ping HTTP/1.1\r\nHost: l.test\r\n\r\n' 5 >"$T/idle"
check "idle keep-alive connection closed" grep -q 'pong<EOF>$' "$T/idle"
raw '' 3 >"$T/silent"
check "a connection that never sends is closed silently" \
	[ "$(cat "$T/silent")" = '<EOF>' ]

# Upstream failures.
check "upstream down: 502" [ "$(px_status down.test / -o "$T/502.html")" = 502 ]
check "the 502 page names the upstream and the reason" \
	grep -q "127.0.0.1:$dead: connect failed: connection refused" "$T/502.html"
check "upstream too slow: 504" \
	[ "$(px_status l.test /slow/3000 -o "$T/504.html")" = 504 ]
check "the 504 page names the upstream" grep -q "127.0.0.1:$B did not answer in time" "$T/504.html"
check "upstream not speaking HTTP: 502" \
	[ "$(px_status l.test /garbage)" = 502 ]
check "the proxy still serves after all that" [ "$(px_curl l.test /ping)" = pong ]

# A listener whose backlog is full drops new SYNs: connecting times out.
full=$(free_ports 1)
start backlog python3 -c '
import socket, sys, time
l = socket.socket()
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(0)
fill = [socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        for _ in range(2)]
print("full", flush=True)
time.sleep(3600)' "$full"
wait_for 5 grep -q full "$T/backlog.log"
route stuck.test "127.0.0.1:$full" || not_ok "route add stuck.test"
check "connect timeout: 504" \
	[ "$(px_status stuck.test /)" = 504 ]

check "bad requests counted" [ "$(metric devcloud_proxy_bad_requests_total)" -ge 15 ]
check "upstream errors counted" [ "$(metric devcloud_proxy_upstream_errors_total)" -ge 3 ]
finish
