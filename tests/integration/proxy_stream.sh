#!/bin/bash
# Streaming with bounded memory: a 1 GiB download and a 1 GiB upload
# (fixed length and chunked) through the proxy, each intact, while the
# proxy's resident memory grows by less than 16 MiB. Then a client that
# reads slowly: the proxy stops reading the upstream instead of
# buffering the difference.
. "$(dirname "$0")/proxy_env.bash"

GIB=1073741824
start_backend B || { not_ok "backend starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }
route s.test "127.0.0.1:$B" || { not_ok "route add"; finish; }

# warm up (pools, buffers, first allocations), then take the baseline
for _ in 1 2 3; do px_curl s.test /bytes/1000000 -o /dev/null; done
base=$(rss_kb "$PID_proxy")

want=$(sha_pattern $GIB)
got=$(curl -s -m 120 -H 'Host: s.test' "http://127.0.0.1:$PROXY_PORT/bytes/$GIB" |
	sha256sum | cut -d' ' -f1)
check "1 GiB download intact" [ "$got" = "$want" ]

# upload MODE: sends 1 GiB of zeros to /echo; prints the echoed length.
upload() {
	python3 - "$PROXY_PORT" "$1" <<'PY'
import json, socket, sys
port, mode = int(sys.argv[1]), sys.argv[2]
GIB, piece = 1 << 30, b"\0" * (1 << 20)
s = socket.create_connection(("127.0.0.1", port))
head = "POST /echo HTTP/1.1\r\nHost: s.test\r\nConnection: close\r\n"
head += ("Content-Length: %d\r\n" % GIB) if mode == "length" else \
    "Transfer-Encoding: chunked\r\n"
s.sendall(head.encode() + b"\r\n")
for _ in range(GIB // len(piece)):
    if mode == "length":
        s.sendall(piece)
    else:
        s.sendall(b"100000\r\n" + piece + b"\r\n")
if mode != "length":
    s.sendall(b"0\r\n\r\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(json.loads(out.split(b"\r\n\r\n", 1)[1])["body_len"])
PY
}
check "1 GiB fixed-length upload intact" [ "$(upload length)" = "$GIB" ]
check "1 GiB chunked upload intact" [ "$(upload chunked)" = "$GIB" ]

# A sanitizer build's allocator keeps freed memory aside: no RSS bound.
rss_check() {
	if [[ "$BIN" == */san-* ]]; then
		skip "$1" "sanitizer build"
	else
		check "$1" [ "$2" -lt 16384 ]
	fi
}
peak=$(hwm_kb "$PID_proxy")
echo "# proxy RSS: baseline ${base} kB, peak ${peak} kB after 3 GiB streamed"
rss_check "RSS grew by less than 16 MiB" $((peak - base))

# A client that does not read: the proxy must not buffer the answer.
python3 - "$PROXY_PORT" >"$T/stall" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /bytes/536870912 HTTP/1.1\r\nHost: s.test\r\n\r\n")
time.sleep(2)                   # the proxy and kernel buffers fill up
got = 0
while got < 536870912:
    b = s.recv(1 << 20)
    if not b:
        break
    got += len(b)
print(got >= 536870912)
PY
check "stalled client gets everything in the end" grep -qx 'True' "$T/stall"
peak2=$(hwm_kb "$PID_proxy")
rss_check "a stalled client does not grow the proxy" $((peak2 - base))
finish
