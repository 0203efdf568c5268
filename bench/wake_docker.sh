#!/bin/bash
# Wake overhead of the docker driver (not a test: it prints, it never
# fails on a time). Over N cold starts of one docker app (default 10):
#
#   ttfb       time to first byte of a cold request through the proxy
#              (proxy → autostart → Docker start → readiness → answer)
#   reference  the same container started alone in the same run: the
#              Engine API start call, then HTTP GETs until it answers
#   overhead   ttfb minus reference: what devcloud adds to `docker start`
#
# and then C (default 1000) concurrent requests to the cold app: how
# many times the container started (must be 1) and how many requests
# failed (must be 0). Target: overhead median <= 30 ms.
#
#   bench/wake_docker.sh [N]    N=10 C=1000 KEEP=1 (keep the temp dir)
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$(dirname "$0")/../tests/integration/lib_docker.sh"

ulimit -n 8192 2>/dev/null
N=${1:-${N:-10}}
C=${C:-1000}
APP=bench$$
DOMAIN=$APP.bench
CTR=devcloud-$APP

docker_up
docker_test_image || { echo "cannot build $TEST_IMAGE" >&2; exit 1; }
start_redis || { echo "redis-server did not start" >&2; exit 1; }
AUTOSTART_EXTRA="docker_socket = \"$DOCKER_SOCK\"; stop_grace_ms = 2000;"
PROXY_EXTRA="hold_max_requests = $((C + 100));"
write_config
sed -i 's/level = "debug"/level = "warn"/' "$CONF"
start_daemons autostart proxy ||
	{ echo "the daemons did not start (logs in $T)" >&2; KEEP=1; exit 1; }
docker_track "$CTR"
ctl app create "$APP" --domain "$DOMAIN" --driver docker \
	--image "$TEST_IMAGE" --cport 8080 --ttl 3600 >/dev/null ||
	{ echo "app create failed" >&2; exit 1; }

ttfb_ms() {
	curl -s -o /dev/null -m 30 -H "Host: $DOMAIN" \
		-w '%{http_code} %{time_starttransfer}\n' \
		"http://127.0.0.1:$PROXY_PORT/" |
		awk '$1 == 200 { printf "%.3f\n", $2 * 1000; exit }
		     { exit 1 }'
}
# The app's own start-to-ready: one API call, then GETs 1 ms apart.
reference_ms() {
	python3 - "$DOCKER_SOCK" "$CTR" <<'PY'
import http.client, json, socket, sys, time

class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)

def api(method, url):
    c = Unix(sys.argv[1])
    c.request(method, "/v1.41" + url, body=b"" if method == "POST" else None)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body

t0 = time.monotonic()
status, _ = api("POST", "/containers/%s/start" % sys.argv[2])
if status not in (204, 304):
    sys.exit("start: HTTP %d" % status)
_, body = api("GET", "/containers/%s/json" % sys.argv[2])
ip = json.loads(body)["NetworkSettings"]["IPAddress"]
while True:
    try:
        c = http.client.HTTPConnection(ip, 8080, timeout=1)
        c.request("GET", "/")
        if c.getresponse().status == 200:
            break
    except OSError:
        time.sleep(0.001)
print("%.3f" % ((time.monotonic() - t0) * 1000))
PY
}
wait_stopped() {
	wait_for 30 docker_not_running "$CTR" && wait_for 10 app_state_is "$APP" stopped
}

# The first wake creates the container: not a cold start of the kind
# measured, so it is done once before.
ttfb_ms >/dev/null && ctl app stop "$APP" >/dev/null && wait_stopped ||
	{ echo "the first wake failed (logs in $T)" >&2; KEEP=1; exit 1; }

: >"$T/samples"
# The two runs of a pair take turns going first: a start right after a
# stop pays for the stop's leftovers, and neither side should always pay.
reference_run() {
	ref=$(reference_ms) || { echo "reference run $i failed" >&2; exit 1; }
	docker stop -t 2 "$CTR" >/dev/null && wait_for 30 docker_not_running "$CTR"
}
cold_run() {
	ttfb=$(ttfb_ms) || { echo "cold request $i failed" >&2; KEEP=1; exit 1; }
	ctl app stop "$APP" >/dev/null && wait_stopped ||
		{ echo "stop $i failed" >&2; exit 1; }
}
for i in $(seq "$N"); do
	if [ $((i % 2)) -eq 1 ]; then
		reference_run
		cold_run
	else
		cold_run
		reference_run
	fi
	echo "$ttfb $ref" >>"$T/samples"
	printf '# run %2d: ttfb %8.2f ms  docker start+ready %8.2f ms\n' \
		"$i" "$ttfb" "$ref"
done

# C concurrent requests to the cold app; starts counted by Docker.
since=$(date +%s.%N)
python3 - "$PROXY_PORT" "$DOMAIN" "$C" >"$T/burst" <<'PY'
import http.client, sys, threading
port, host, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
go = threading.Barrier(n)
errors = []
def one():
    go.wait()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            errors.append(r.status)
    except OSError as e:
        errors.append(str(e))
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(len(errors))
kinds = {}
for e in errors:
    kinds[e] = kinds.get(e, 0) + 1
for e, k in sorted(kinds.items(), key=lambda x: -x[1]):
    print("# %d x %s" % (k, e), file=sys.stderr)
PY
starts=$(docker events --since "$since" --until "$(date +%s.%N)" \
	--filter "container=$CTR" --filter event=start | wc -l)

awk -v n="$N" -v c="$C" -v errors="$(cat "$T/burst")" -v starts="$starts" '
{ ttfb[NR] = $1; ref[NR] = $2; over[NR] = $1 - $2 }
function sort(a, k,   i, j, t) {
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
}
function median(a, k) {
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function p99(a, k,   i) {
	i = int(0.99 * k + 0.999999)
	return a[i < 1 ? 1 : i]
}
END {
	sort(ttfb, NR); sort(ref, NR); sort(over, NR)
	printf "docker wake over %d cold starts (ms):  median      p99\n", NR
	printf "  ttfb through the proxy        %10.2f %8.2f\n", \
		median(ttfb, NR), p99(ttfb, NR)
	printf "  docker start + ready alone    %10.2f %8.2f\n", \
		median(ref, NR), p99(ref, NR)
	printf "  overhead (ttfb - reference)   %10.2f %8.2f\n", \
		median(over, NR), p99(over, NR)
	printf "docker %d concurrent cold requests: %d start(s), %d error(s)\n", \
		c, starts, errors
	printf "docker wake overhead median: %.1f ms (target <= 30 ms)\n", \
		median(over, NR)
}' "$T/samples"
