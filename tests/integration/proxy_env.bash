# Shared setup of the proxy's integration tests (sourced, not run):
# lib.sh's redis, config and process handling, plus a real upstream
# (proxy_backend.py), the broker, the proxy, and raw-socket helpers.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# start_backend VAR [HOST]: a proxy_backend.py on a free port of HOST
# (127.0.0.1 unless given), the port stored in $VAR.
start_backend() {
	local port host=${2:-127.0.0.1}
	port=$(free_ports 1 "$host")
	start "backend_$1" python3 "$HERE/proxy_backend.py" "$port" "$host"
	wait_for 10 curl -sf "http://$(hostport "$host" "$port")/ping" ||
		return 1
	printf -v "$1" '%s' "$port"
}

# start_suite: redis, config (PROXY_EXTRA adds proxy settings), the
# broker and the proxy, ready to serve.
start_suite() {
	start_redis || return 1
	write_config
	start_daemons proxy || return 1
	wait_for 10 bash -c "exec 3<>/dev/tcp/$PROXY_HOST/$PROXY_PORT"
}

# route DOMAIN TARGET: adds a route through devcloudctl (Redis + event)
# and waits until the proxy serves it (a 404 page names the domain).
route() {
	ctl route add "$1" "$2" >/dev/null || return 1
	wait_for 5 bash -c "! curl -s -m 2 -H 'Host: ${1/\*/probe}' \
		http://$(hostport "$PROXY_HOST" "$PROXY_PORT")/ping |
		grep -q 'no route for domain'"
}

# raw BYTES [WAIT]: sends BYTES (printf %b escapes) to the proxy on one
# connection and prints what comes back until the proxy closes it or
# WAIT seconds (default 2) pass.
raw() {
	python3 - "$PROXY_PORT" "$1" "${2:-2}" "$PROXY_HOST" <<'PY'
import socket, sys, time
port, data, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
data = data.encode().decode("unicode_escape").encode("latin-1")
s = socket.create_connection((sys.argv[4], port))
s.sendall(data)
s.settimeout(wait)
out = b""
end = time.time() + wait
try:
    while time.time() < end:
        b = s.recv(65536)
        if not b:
            out += b"<EOF>"
            break
        out += b
except socket.timeout:
    pass
sys.stdout.write(out.decode("latin-1"))
PY
}

# raw_status FILE: the status of the first answer in FILE (raw's output).
raw_status() { head -1 "$1" | cut -d' ' -f2; }

# raw_refused NAME STATUS BYTES: the request BYTES (as for raw) is
# answered STATUS and the connection is closed after it; reported as
# the check NAME, with the answer's first line when it fails.
raw_refused() {
	local f="$T/refused.$RANDOM"
	raw "$3" 3 >"$f"
	if [ "$(raw_status "$f")" = "$2" ] && grep -q '<EOF>$' "$f"; then
		ok "$1"
	else
		not_ok "$1 (got: $(head -1 "$f"))"
	fi
}

# metric NAME: the value of one line of the proxy's /metrics.
metric() {
	curl -s "http://$ADMIN_proxy/metrics" | awk -v n="$1" '$1 == n {print $2}'
}
# metric_is NAME VALUE: that line is there and reads VALUE (a missing
# line never equals a baseline that was missing too).
metric_is() {
	local v
	v=$(metric "$1")
	[ -n "$v" ] && [ "$v" = "$2" ]
}

# sha_pattern N: sha256 of the first N bytes of proxy_backend.py's
# pattern (what /bytes/N and /chunked/N send).
sha_pattern() {
	python3 -c 'import hashlib, sys
n = int(sys.argv[1]); h = hashlib.sha256(); b = bytes(range(256)) * 4096
while n > 0:
    h.update(b[:min(n, len(b))]); n -= min(n, len(b))
print(h.hexdigest())' "$1"
}

# rss_kb PID: resident set size now; hwm_kb PID: its peak.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
