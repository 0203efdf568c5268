#!/bin/bash
# Deploys from a URL: the deployer downloads the artifact with libcurl
# (JSON body {url, sha256}, or devcloudctl deploy --url). A good URL
# with its checksum becomes the current release, its source the URL; a
# wrong checksum, a URL that answers 404, one that never answers (the
# download's timeout), one that redirects too often, and one that is
# bigger than the cap are each refused with their reason, the current
# release untouched; the CI server's bearer token from the config is
# sent. A malformed JSON body is 400. Real redis-server, bus, deployer,
# devcloudctl, curl, and python3's http.server as the CI server.
. "$(dirname "$0")/lib.sh"

REL=$T/releases
DEPLOYER_EXTRA="releases_dir = \"$REL\"; fetch_timeout_ms = 1500;
	fetch_connect_timeout_ms = 1000; fetch_max_redirects = 2;
	fetch_bearer = \"ci-t0ken\"; max_artifact_bytes = 65536;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons deployer || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events deploy.
ctl app create web --domain web.test --command true >/dev/null ||
	not_ok "create app web"

# the CI server: /art/* needs the bearer token; /loop redirects to
# itself; a second port accepts connections and never answers
P=($(free_ports 2))
mkdir -p "$T/www/art"
echo "hello" >"$T/src.txt"
tar czf "$T/www/art/good.tgz" -C "$T" src.txt
head -c 200000 /dev/urandom >"$T/big.bin"
tar czf "$T/www/art/big.tgz" -C "$T" big.bin
cat >"$T/ci.py" <<'PY'
import http.server, os, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/art/") and \
                self.headers.get("Authorization") != "Bearer ci-t0ken":
            self.send_error(401)
            return
        super().do_GET()
    def log_message(self, *a):
        pass
os.chdir(sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
start ci python3 "$T/ci.py" "${P[0]}" "$T/www"
start hang python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', ${P[1]})); s.listen(16)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)"
wait_for 10 bash -c "curl -s -o /dev/null http://127.0.0.1:${P[0]}/" || not_ok "CI server up"
CI=http://127.0.0.1:${P[0]}
GOOD_SHA=$(sha256sum <"$T/www/art/good.tgz" | cut -d' ' -f1)

# post JSON: the status; the body in $T/answer
post() {
	curl -s -m 20 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
		-H 'Content-Type: application/json' --data-binary "$1" \
		"http://$ADMIN_deployer/v1/apps/web/releases"
}
accepted() { sed -n 's/^accepted \([0-9]*\)$/\1/p' "$T/answer"; }
event() {
	grep "\"type\":\"$1\"" "$T/events.log" | grep "\"release\":\"$2\""
}
has_event() { [ -n "$(event "$1" "$2")" ]; }
reason_of() {
	event deploy.failed "$1" | head -n 1 |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["reason"])'
}
current() { rcli hget "$(key app web)" release; }
# refused_url JSON NAME REASON: accepted, then deploy.failed whose
# reason contains REASON, the current release still 1
refused_url() {
	local st n got
	st=$(post "$1")
	n=$(accepted)
	if [ "$st" != 202 ] || [ -z "$n" ]; then
		not_ok "$2: accepted ($st $(cat "$T/answer"))"
		return
	fi
	if ! wait_for 20 has_event deploy.failed "$n"; then
		not_ok "$2: deploy.failed"
		return
	fi
	got=$(reason_of "$n")
	case $got in
	*"$3"*) ok "$2: deploy.failed says: $got" ;;
	*) not_ok "$2: deploy.failed says ...$3... (got: $got)" ;;
	esac
	check "$2: the current release is still 1" [ "$(current)" = 1 ]
	check "$2: nothing on disk" [ ! -e "$REL/web/$n" ]
}

st=$(post "{\"url\":\"$CI/art/good.tgz\",\"sha256\":\"$GOOD_SHA\"}")
check "a URL with its sha256: 202 accepted 1" [ "$st:$(accepted)" = 202:1 ]
check "deploy 1 done" wait_for 20 has_event deploy.done 1
check "release 1 current, downloaded whole" bash -c "
	[ \"\$(redis-cli -p $REDIS_PORT hget $(key app web) release)\" = 1 ] &&
	cmp -s $T/src.txt $REL/web/1/src.txt"
check "its source is the URL" \
	[ "$(rcli hget "$(key release web 1)" source)" = "$CI/art/good.tgz" ]
check "its sha256 recorded" [ "$(rcli hget "$(key release web 1)" sha256)" = "$GOOD_SHA" ]

refused_url "{\"url\":\"$CI/art/good.tgz\",\"sha256\":\"$(printf 0%.0s {1..64})\"}" \
	"wrong sha256" "sha256 is $GOOD_SHA, not 0000"
refused_url "{\"url\":\"$CI/art/missing.tgz\"}" "a URL that answers 404" \
	"HTTP 404"
refused_url "{\"url\":\"http://127.0.0.1:${P[1]}/art/good.tgz\"}" \
	"a URL that never answers" "timed out"
refused_url "{\"url\":\"$CI/loop\"}" "a redirect loop" "redirect"
refused_url "{\"url\":\"$CI/art/big.tgz\"}" "an artifact over the cap" \
	"larger than deployer.max_artifact_bytes"

check "devcloudctl deploy --url --sha256" ctl -w 20000 deploy web \
	--url "$CI/art/good.tgz" --sha256 "$GOOD_SHA"
check "...made the new release current" [ "$(current)" -gt 1 ]
check "not JSON: 400" [ "$(post '{"url": ')" = 400 ]
check "no url: 400" [ "$(post '{"sha256": "x"}')" = 400 ]
check "not http(s): 400" [ "$(post '{"url": "file:///etc/passwd"}')" = 400 ]
check "400 says why" grep -q 'http:// or https://' "$T/answer"
finish
