#!/bin/bash
# Bad input and limits, as raw bytes on a socket: 414, 431, 408, the idle
# keep-alive timeout, every ambiguous framing refused with 400 and the
# connection closed (never forwarded), and the upstream's failures: down
# (502), too slow (504), not speaking HTTP (502), each with a page.
. "$(dirname "$0")/proxy_env.bash"

PROXY_EXTRA='max_request_line = 1024; max_header_bytes = 4096;
	header_timeout_ms = 600; keepalive_timeout_ms = 800;
	upstream_timeout_ms = 800; connect_timeout_ms = 800;'
start_backend B || { not_ok "backend starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }
route l.test "127.0.0.1:$B" || { not_ok "route add"; finish; }
dead=$(free_ports 1)
route down.test "127.0.0.1:$dead" || { not_ok "route add"; finish; }

# status_of FILE: the status of the first answer in FILE.
status_of() { head -1 "$1" | cut -d' ' -f2; }
# refused NAME STATUS BYTES: the request gets STATUS and the connection
# is closed.
refused() {
	local f="$T/r$RANDOM"
	raw "$3" 3 >"$f"
	if [ "$(status_of "$f")" = "$2" ] && grep -q '<EOF>$' "$f"; then
		ok "$1"
	else
		not_ok "$1 (got: $(head -1 "$f"))"
	fi
}

long=$(python3 -c 'print("a" * 1100)')
refused "request line too long: 414" 414 "GET /$long HTTP/1.1\r\nHost: l.test\r\n\r\n"
big=$(python3 -c 'print("X-Big: " + "b" * 1000 + "\\r\\n", end="")')
refused "header fields too large: 431" 431 \
	"GET / HTTP/1.1\r\nHost: l.test\r\n$big$big$big$big$big\r\n"
refused "too many header fields: 431" 431 \
	"GET / HTTP/1.1\r\nHost: l.test\r\n$(python3 -c 'print("A: b\\r\\n" * 200, end="")')\r\n"

# Ambiguous framing: refused, closed, and nothing reaches the upstream.
before=$(metric devcloud_proxy_upstream_latency_seconds_count)
refused "Content-Length with Transfer-Encoding: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
refused "duplicate Content-Length: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
refused "identical duplicate Content-Length: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'
refused "invalid Content-Length: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nContent-Length: -5\r\n\r\nhello'
refused "Content-Length list: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nContent-Length: 5,5\r\n\r\nhello'
refused "Transfer-Encoding not ending in chunked: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n'
refused "Transfer-Encoding other than chunked: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nTransfer-Encoding: identity\r\n\r\nhello'
refused "obsolete line folding: 400" 400 \
	'GET /echo HTTP/1.1\r\nHost: l.test\r\nX-A: 1\r\n  folded\r\n\r\n'
refused "whitespace before colon: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'
refused "bare LF: 400" 400 'GET /echo HTTP/1.1\nHost: l.test\n\n'
refused "missing Host: 400" 400 'GET /echo HTTP/1.1\r\n\r\n'
refused "HTTP/2.0 request line: 505" 505 'GET / HTTP/2.0\r\nHost: l.test\r\n\r\n'
check "refused requests never reached the upstream" \
	metric_is devcloud_proxy_upstream_latency_seconds_count "$before"

# A bad chunk size after the head: 400 if nothing was answered yet.
refused "bad chunk size: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'
refused "chunk size with sign: 400" 400 \
	'POST /echo HTTP/1.1\r\nHost: l.test\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n'

# Smuggling attempt: what would be a second request inside the body
# of the first must never be answered as one.
raw 'POST /echo HTTP/1.1\r\nHost: l.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /status/299 HTTP/1.1\r\nHost: l.test\r\n\r\n' 3 >"$T/smuggle"
check "smuggled request not answered" bash -c "! grep -q ' 299 ' '$T/smuggle'"

# Slow clients: a head that does not finish in time gets 408.
refused "slow head: 408 and close" 408 'GET / HTTP/1.1\r\nHost: l.test\r\n'

# Idle keep-alive connections are closed after the timeout.
raw 'GET /ping HTTP/1.1\r\nHost: l.test\r\n\r\n' 5 >"$T/idle"
check "idle keep-alive connection closed" grep -q 'pong<EOF>$' "$T/idle"
raw '' 3 >"$T/silent"
check "a connection that never sends is closed silently" \
	[ "$(cat "$T/silent")" = '<EOF>' ]

# Upstream failures.
px_curl down.test / -o "$T/502.html" -w '%{http_code}' >"$T/502.code"
check "upstream down: 502" [ "$(cat "$T/502.code")" = 502 ]
check "the 502 page names the upstream and the reason" \
	grep -q "127.0.0.1:$dead: connect failed: connection refused" "$T/502.html"
px_curl l.test /slow/3000 -o "$T/504.html" -w '%{http_code}' >"$T/504.code"
check "upstream too slow: 504" [ "$(cat "$T/504.code")" = 504 ]
check "the 504 page names the upstream" grep -q "127.0.0.1:$B did not answer in time" "$T/504.html"
check "upstream not speaking HTTP: 502" \
	[ "$(px_curl l.test /garbage -o /dev/null -w '%{http_code}')" = 502 ]
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
	[ "$(px_curl stuck.test / -o /dev/null -w '%{http_code}')" = 504 ]

check "bad requests counted" [ "$(metric devcloud_proxy_bad_requests_total)" -ge 15 ]
check "upstream errors counted" [ "$(metric devcloud_proxy_upstream_errors_total)" -ge 3 ]
finish
