#!/bin/bash
# Forwarding: X-Forwarded-*, hop-by-hop fields removed, keep-alive on
# both sides and the upstream pool, pipelined requests answered in order,
# HEAD / 204 / 304 framing, HTTP/1.0 clients, chunked bodies both ways,
# Expect: 100-continue, close-delimited answers, an early answer.
. "$(dirname "$0")/proxy_env.bash"

start_backend B || { not_ok "backend starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }
route f.test "127.0.0.1:$B" || { not_ok "route add"; finish; }

# json FIELD: a field of the backend's /echo answer on stdin.
json() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
v = d[sys.argv[1]]
print("\n".join("%s: %s" % (k, x) for k, x in v) if isinstance(v, list) else v)' "$1"
}

px_curl f.test /echo -H 'X-Forwarded-For: 10.1.1.1' \
	-H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: evil.test' \
	-H 'Connection: X-Secret' -H 'X-Secret: 1' -H 'Keep-Alive: 300' \
	-H 'TE: trailers' -H 'Proxy-Connection: keep-alive' -H 'X-Keep: 1' |
	json headers >"$T/h.txt"
check "X-Forwarded-For appends the client" \
	grep -qx 'X-Forwarded-For: 10.1.1.1, 127.0.0.1' "$T/h.txt"
check "X-Forwarded-Proto is ours" grep -qx 'X-Forwarded-Proto: http' "$T/h.txt"
check "X-Forwarded-Host is the request's host" \
	grep -qx 'X-Forwarded-Host: f.test' "$T/h.txt"
check "hop-by-hop fields removed" \
	bash -c "! grep -qiE '^(x-secret|keep-alive|te|proxy-connection|connection):' '$T/h.txt'"
check "end-to-end fields kept" grep -qx 'X-Keep: 1' "$T/h.txt"

# Keep-alive both sides: one client connection, one upstream connection.
px_curl f.test /echo -o "$T/e1" -w '%{num_connects}\n' \
	--next -H 'Host: f.test' -s -o "$T/e2" -w '%{num_connects}\n' \
	"http://127.0.0.1:$PROXY_PORT/echo" >"$T/nc"
check "client connection kept alive" [ "$(tail -1 "$T/nc")" = 0 ]
# (no answer at all must not read as the same port twice)
p1=$(json peer_port <"$T/e1")
check "upstream connection reused" \
	[ "${p1:-none}" = "$(json peer_port <"$T/e2")" ]
p3=$(px_curl f.test /echo | json peer_port)
check "idle upstream connection pooled across clients" \
	[ "$p3" = "${p1:-none}" ]

# Pipelining: three requests in one write, the slow one in the middle.
raw 'GET /status/201 HTTP/1.1\r\nHost: f.test\r\n\r\nGET /slow/300 HTTP/1.1\r\nHost: f.test\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: f.test\r\nConnection: close\r\n\r\n' 5 >"$T/pipe"
check "pipelined requests answered in order" bash -c \
	"grep -ao 'HTTP/1.[01] [0-9]*' '$T/pipe' | tr '\n' ' ' |
	 grep -qx 'HTTP/1.1 201 HTTP/1.1 200 HTTP/1.1 202 '"
check "connection closed after Connection: close" grep -q '<EOF>$' "$T/pipe"

# HEAD, 204 and 304 carry no body: the next answer follows at once.
raw 'HEAD /bytes/100 HTTP/1.1\r\nHost: f.test\r\n\r\nGET /status/204 HTTP/1.1\r\nHost: f.test\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: f.test\r\n\r\nGET /status/203 HTTP/1.1\r\nHost: f.test\r\nConnection: close\r\n\r\n' 5 >"$T/frames"
check "HEAD keeps its Content-Length and sends no body" \
	grep -q '^Content-Length: 100' "$T/frames"
check "HEAD, 204, 304 framed: every answer arrives" bash -c \
	"grep -ao 'HTTP/1.[01] [0-9]*' '$T/frames' | tr '\n' ' ' |
	 grep -qx 'HTTP/1.1 200 HTTP/1.1 204 HTTP/1.1 304 HTTP/1.1 203 '"

# HTTP/1.0 clients.
raw 'GET /ping HTTP/1.0\r\nHost: f.test\r\n\r\n' 3 >"$T/h10"
check "HTTP/1.0 request answered and closed" \
	bash -c "grep -q 'pong<EOF>' '$T/h10' && grep -q '^Connection: close' '$T/h10'"
raw 'GET /ping HTTP/1.0\r\nHost: f.test\r\nConnection: keep-alive\r\n\r\nGET /ping HTTP/1.0\r\nHost: f.test\r\n\r\n' 3 >"$T/h10k"
check "HTTP/1.0 keep-alive honoured" bash -c \
	"[ \$(grep -ao 'HTTP/1.1 200' '$T/h10k' | wc -l) = 2 ] && grep -q '^Connection: keep-alive' '$T/h10k'"

# Chunked answers pass through intact, trailer included.
check "chunked download intact" bash -c \
	"[ \"\$(curl -s -m 20 -H 'Host: f.test' http://127.0.0.1:$PROXY_PORT/chunked/3000000 |
		sha256sum | cut -d' ' -f1)\" = $(sha_pattern 3000000) ]"
raw 'GET /chunked/10 HTTP/1.1\r\nHost: f.test\r\nConnection: close\r\n\r\n' 3 >"$T/chunked"
check "chunked framing and trailer forwarded" bash -c \
	"grep -q '^Transfer-Encoding: chunked' '$T/chunked' && grep -q '^X-Sum: done' '$T/chunked'"
# An HTTP/1.0 client cannot decode chunks (RFC 9112 7): it gets the bare
# body, ended by the connection's end.
check "chunked answer to HTTP/1.0: body without its framing" bash -c \
	"[ \"\$(curl -s -m 20 --http1.0 -H 'Host: f.test' http://127.0.0.1:$PROXY_PORT/chunked/300000 |
		sha256sum | cut -d' ' -f1)\" = $(sha_pattern 300000) ]"
raw 'GET /chunked/10 HTTP/1.0\r\nHost: f.test\r\n\r\n' 3 >"$T/chunked10"
check "chunked answer to HTTP/1.0: no Transfer-Encoding, closed" bash -c \
	"! grep -qi '^Transfer-Encoding' '$T/chunked10' && ! grep -qi '^Trailer' '$T/chunked10' &&
	 grep -q '^Connection: close' '$T/chunked10' && grep -q '<EOF>\$' '$T/chunked10'"
check "chunked answer to HTTP/1.0: exactly the 10 body bytes" bash -c \
	"[ \"\$(sed 's/<EOF>\$//' '$T/chunked10' | python3 -c 'import sys; d=sys.stdin.buffer.read(); print(len(d.split(b\"\\r\\n\\r\\n\", 1)[1]))')\" = 10 ]"

# Requests never forwarded as they are: TRACE would echo cookies and
# credentials back; a fragment would let the app see another path than
# the one routed on.
raw 'TRACE / HTTP/1.1\r\nHost: f.test\r\nMax-Forwards: 0\r\nCookie: s=1\r\n\r\n' 3 >"$T/trace"
check "TRACE refused with 405" grep -q '^HTTP/1.1 405' "$T/trace"
check "TRACE: the cookie is not echoed" bash -c "! grep -q 's=1' '$T/trace'"
raw 'GET /echo#/admin HTTP/1.1\r\nHost: f.test\r\n\r\n' 3 >"$T/frag"
check "fragment in the request target refused with 400" \
	grep -q '^HTTP/1.1 400' "$T/frag"

# Chunked and fixed-length uploads.
head -c 3000000 /dev/urandom >"$T/up.bin"
want=$(sha256sum "$T/up.bin" | cut -d' ' -f1)
px_curl f.test /echo -H 'Transfer-Encoding: chunked' --data-binary @"$T/up.bin" >"$T/upc"
check "chunked upload intact" [ "$(json body_sha256 <"$T/upc")" = "$want" ]
px_curl f.test /echo -H 'Expect:' --data-binary @"$T/up.bin" >"$T/upl"
check "fixed-length upload intact" [ "$(json body_sha256 <"$T/upl")" = "$want" ]

# Expect: 100-continue: the interim answer comes through before the body
# is sent.
python3 - "$PROXY_PORT" >"$T/continue" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
s.sendall(b"POST /echo HTTP/1.1\r\nHost: f.test\r\nContent-Length: 5\r\n"
          b"Expect: 100-continue\r\n\r\n")
first = s.recv(4096)
print("interim:", first.split(b"\r\n")[0].decode())
s.sendall(b"hello")
rest = b""
while b'"body_len": 5' not in rest:
    b = s.recv(65536)
    if not b:
        break
    rest += b
print("final:", rest.split(b"\r\n")[0].decode(), b'"body_len": 5' in rest)
PY
check "100 Continue forwarded before the body" \
	grep -qx 'interim: HTTP/1.1 100 Continue' "$T/continue"
check "body sent after 100 Continue arrives" \
	grep -qx 'final: HTTP/1.1 200 OK True' "$T/continue"

# A close-delimited answer: the client gets all of it and a close.
px_curl f.test /close/200000 -D "$T/close.h" -o "$T/close.b"
check "close-delimited body complete" [ "$(stat -c %s "$T/close.b")" = 200000 ]
check "close-delimited answer closes the client" \
	grep -qi '^Connection: close' "$T/close.h"

# An answer before the request body is complete ends the connection.
head -c 20000000 /dev/zero >"$T/big.bin"
code=$(px_status f.test /early -H 'Expect:' --data-binary @"$T/big.bin")
check "early answer forwarded" [ "$code" = 413 ]

# Absolute-form targets go to the authority's route, in origin form.
raw 'GET http://f.test/echo HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n' 3 >"$T/abs"
check "absolute-form target routed by its authority" \
	grep -q '"path": "/echo"' "$T/abs"

# A client that said Connection: close and sent nothing more is closed
# as soon as its answer is out, without waiting for its own FIN; one that
# sent more bytes after such a request still gets its whole answer.
python3 - "$PROXY_PORT" >"$T/quiet" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /bytes/5000 HTTP/1.1\r\nHost: f.test\r\nConnection: close\r\n\r\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print("got", len(out.split(b"\r\n\r\n", 1)[1]), flush=True)
time.sleep(3)          # keep our side open meanwhile
s.close()
PY
quiet=$!
check "Connection: close answered in full" wait_for 5 grep -qx 'got 5000' "$T/quiet"
check "closed without waiting for the client's FIN" \
	wait_for 2 metric_is devcloud_proxy_connections 0
kill "$quiet" 2>/dev/null
wait "$quiet" 2>/dev/null
raw 'GET /bytes/70000 HTTP/1.1\r\nHost: f.test\r\nConnection: close\r\n\r\nGARBAGE AFTER CLOSE' 3 >"$T/after"
check "bytes after Connection: close do not cut the answer" \
	python3 -c 'import sys
d = open(sys.argv[1], encoding="utf-8", newline="").read().encode("latin-1")
h, _, b = d.partition(b"\r\n\r\n")
want = (bytes(range(256)) * 300)[:70000] + b"<EOF>"
sys.exit(not (h.startswith(b"HTTP/1.1 200") and b == want))' "$T/after"

check "requests counted by status" \
	[ "$(metric 'devcloud_proxy_requests_total{status="2xx"}')" -gt 10 ]
check "upstream latency histogram rendered" \
	[ "$(metric 'devcloud_proxy_upstream_latency_seconds_count')" -gt 10 ]

finish
