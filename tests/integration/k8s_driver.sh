#!/bin/bash
# The kubernetes driver against a stand-in of the Kubernetes API
# (k8s_api_standin.py: the Deployment and scale endpoints as documented,
# over TLS with a bearer token; not a cluster, none can run here). Each
# stand-in deployment runs a real backend while it is scaled above 0.
#
# Cold request through the proxy → autostart scales the Deployment 0→N
# (a merge patch of its scale subresource), waits for a ready pod, and
# the backend answers; idle past the TTL → scaled back to 0 and the app
# is stopped; the next request wakes it again. The API's refusals (404,
# 403, 401, 500) and a hung API (timeout) give a 503 naming the app and
# an app.failed with the API's message, the app is failed, not stuck,
# and it starts once the API answers again.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null 2>&1 || skip_all "no openssl (Debian openssl)"

p=($(free_ports 6))
API_PORT=${p[0]}
WEB_PORT=${p[1]} API2_PORT=${p[2]} LOCKED_PORT=${p[3]} FLAKY_PORT=${p[4]}
HUNG_PORT=${p[5]}
SA=$T/serviceaccount
mkdir -p "$SA" "$T/pages"
echo "token-$$-$RANDOM" >"$T/api-token"	# what the stand-in wants
cp "$T/api-token" "$SA/token"			# what the driver sends
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$SA/key.pem" \
	-out "$SA/ca.crt" >"$T/openssl.log" 2>&1 ||
	{ not_ok "openssl makes the stand-in's certificate"; finish; }

# team-a/api's Service is named "localhost": the driver resolves it (its
# backend listens on the first address the name has here).
LOCAL_IP=$(python3 -c 'import socket; print(socket.getaddrinfo("localhost", 0, 0, socket.SOCK_STREAM)[0][4][0])')
start standin python3 "$(dirname "$0")/k8s_api_standin.py" \
	--port "$API_PORT" --token-file "$T/api-token" \
	--tls-cert "$SA/ca.crt" --tls-key "$SA/key.pem" --dir "$T/pages" \
	--log "$T/api.log" default/web="$WEB_PORT" team-a/api="$API2_PORT@$LOCAL_IP" \
	default/locked="$LOCKED_PORT" default/flaky="$FLAKY_PORT" \
	default/hung="$HUNG_PORT"
API=https://127.0.0.1:$API_PORT

# api METHOD PATH [CURL_ARGS...]: the stand-in, as a client with the token.
api() {
	local m=$1 path=$2
	shift 2
	curl -s -m 10 --cacert "$SA/ca.crt" -X "$m" \
		-H "Authorization: Bearer $(cat "$T/api-token")" "$@" "$API$path"
}
replicas() {
	api GET "/apis/apps/v1/namespaces/$1/deployments/$2/scale" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["replicas"])'
}
replicas_are() { [ "$(replicas "$1" "$2")" = "$3" ]; }
fault() { api POST /standin/fault -d "$1" >/dev/null; }
clear_faults() { api DELETE /standin/fault >/dev/null; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# api_logged METHOD PATH_SUFFIX TEXT: the stand-in saw such a request.
api_logged() { grep "\"method\": \"$1\"" "$T/api.log" | grep -F "$2\"" | grep -qF -- "$3"; }

check "the API stand-in answers over TLS with the token" \
	wait_for 10 replicas_are default web 0
check "the stand-in refuses a request without the token" bash -c \
	"curl -s --cacert '$SA/ca.crt' '$API/apis/apps/v1/namespaces/default/deployments/web' | grep -q '\"reason\": \"Unauthorized\"'"

start_redis || { not_ok "redis-server starts"; finish; }
AUTOSTART_EXTRA="sweep_interval_ms = 200; stop_grace_ms = 1000;"
write_config
cat >>"$CONF" <<CONF
drivers = { kubernetes_api = "$API"; kubernetes_token_file = "$SA/token";
            kubernetes_ca_file = "$SA/ca.crt"; kubernetes_timeout_ms = 1000; };
CONF
start bus "$BIN/devcloud-bus" -c "$CONF"
check "bus ready" wait_for 10 healthz_is "$BUS_ADMIN" 200
start events "$BIN/devcloudctl" -c "$CONF" events app.
start autostart "$BIN/devcloud-autostart" -c "$CONF"
start proxy "$BIN/devcloud-proxy" -c "$CONF"
check "autostart ready" wait_for 10 healthz_is "$ADMIN_autostart" 200
check "proxy ready" wait_for 10 healthz_is "$ADMIN_proxy" 200

get() {
	px_status "$1" "${2:-/}" -m 30 -o "$T/body" >"$T/status"
	cat "$T/body"
}
got() { [ "$(cat "$T/status")" = "$1" ]; }
served_by() { got 200 && grep -qF "deployment $1 served by its pod" "$T/body"; }
# recovers APP DEPLOYMENT: a request to a failed APP is served once its
# backoff (500 ms after the first failure) has passed.
recovers() { get "$1.test" >/dev/null; served_by "$2"; }
event() {
	grep "\"$1\"" "$T/events.log" | grep "\"$2\"" | sed 's,\\/,/,g; s,\\",",g' |
		grep -qF -- "$3"
}
create() {
	local name=$1 dep=$2 port=$3
	shift 3
	ctl app create "$name" --domain "$name.test" --driver kubernetes \
		--deployment "$dep" --service "${SVC_HOST:-127.0.0.1}:$port" \
		--ttl 2 --start-timeout 8000 "$@"
}

# --- the app's record: what the driver needs is checked at create ---
check "create without --deployment is refused" refused any \
	"needs its Deployment" ctl app create nodep --domain nodep.test \
	--driver kubernetes --service 127.0.0.1:1
check "create without --service is refused" refused any \
	"HOST:PORT of its Service" ctl app create nosvc --domain nosvc.test \
	--driver kubernetes --deployment web
check "a bad deployment name is refused" refused any "needs its Deployment" \
	ctl app create badname --domain badname.test --driver kubernetes \
	--deployment 'Web_1' --service 127.0.0.1:1
check "more than one instance is refused (replicas instead)" refused any \
	"max_instances 1" create multi web "$WEB_PORT" --max 2

# --- cold start through the proxy, idle stop, wake again ---
check "app create (kubernetes, deployment web, 2 replicas)" \
	create web web "$WEB_PORT" --replicas 2
check "a new kubernetes app is stopped" app_state_is web stopped
check "no pod before the first request" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$WEB_PORT) 2>/dev/null"
get web.test >/dev/null
check "cold request → 200 from the deployment's pod" served_by default/web
check "the scale subresource was patched to 2 (merge patch)" api_logged \
	PATCH /deployments/web/scale '"content_type": "application/merge-patch+json", "body": "{\"spec\":{\"replicas\":2}}", "code": 200'
check "the deployment is at 2 replicas" replicas_are default web 2
check "app is running" app_state_is web running
check "its address is the Service's" bash -c \
	"'$BIN/devcloudctl' -c '$CONF' app show web | grep -q '^addr *127.0.0.1:$WEB_PORT'"
check "its instance's host is \"kubernetes\"" \
	[ "$(rcli HGET "$(key instance web 1)" host)" = kubernetes ]
check "app.ready published" wait_for 5 event app.ready web ""
get web.test >/dev/null
check "a warm request → 200" served_by default/web
check "idle past the TTL → scaled to 0" wait_for 20 replicas_are default web 0
check "idle past the TTL → app stopped" wait_for 5 app_state_is web stopped
check "the pod is gone" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$WEB_PORT) 2>/dev/null"
check "app.stopped (idle) published" wait_for 5 event app.stopped web idle
get web.test >/dev/null
check "the next request wakes it again → 200" served_by default/web
check "scaled to 2 again" replicas_are default web 2
check "app stop scales it to 0" ctl app stop web
check "after app stop, 0 replicas" wait_for 10 replicas_are default web 0
check "after app stop, state stopped" wait_for 5 app_state_is web stopped

# --- a namespace of its own ---
SVC_HOST=localhost check "app create (deployment team-a/api, Service localhost)" \
	create api team-a/api "$API2_PORT"
get api.test >/dev/null
check "NS/NAME: cold request → 200 from team-a/api" served_by team-a/api
check "the Service's name was resolved ($LOCAL_IP)" [ "$(rcli HGET \
	"$(key instance api 1)" addr)" = "$(hostport "$LOCAL_IP" "$API2_PORT")" ]
check "team-a/api scaled to 1 (replicas default 1)" replicas_are team-a api 1
check "idle → team-a/api scaled to 0" wait_for 20 replicas_are team-a api 0

# --- the API says no ---
# failed_with APP TEXT: 503 naming APP, app.failed with TEXT, state failed.
failed_with() {
	got 503 && grep -qF "$1" "$T/body" &&
		wait_for 5 event app.failed "$1" "$2" &&
		wait_for 5 app_state_is "$1" failed
}
check "app create (deployment that does not exist)" \
	create missing nosuch "$WEB_PORT"
get missing.test >/dev/null
check "404 from the API → 503, app.failed with its message" failed_with \
	missing 'HTTP 404 NotFound: deployments.apps "nosuch" not found'

check "app create (deployment locked)" create locked locked "$LOCKED_PORT"
fault '{"deployment": "default/locked", "methods": ["PATCH"], "status": 403}'
get locked.test >/dev/null
check "403 on the scale patch → 503, app.failed says forbidden" failed_with \
	locked 'HTTP 403 Forbidden: deployments.apps "locked" is forbidden: User'
check "the 403 left it at 0 replicas" replicas_are default locked 0
clear_faults
check "once allowed, a request after the backoff → 200 (not stuck)" \
	wait_for 10 recovers locked default/locked

check "app create (deployment flaky)" create flaky flaky "$FLAKY_PORT"
fault '{"deployment": "default/flaky", "methods": ["GET"], "status": 500}'
get flaky.test >/dev/null
check "500 from the API → 503, app.failed says InternalError" failed_with \
	flaky 'HTTP 500 InternalError: Internal error occurred'
clear_faults
check "the failed start was scaled back to 0" replicas_are default flaky 0
check "once the API recovers, a request → 200" \
	wait_for 10 recovers flaky default/flaky

check "app create (deployment hung)" create hung hung "$HUNG_PORT"
fault '{"deployment": "default/hung", "delay_ms": 3000}'
get hung.test >/dev/null
check "a hung API → 503, app.failed says the call timed out" failed_with \
	hung 'timed out after 1000 ms'
clear_faults
check "once the API answers, a request → 200" \
	wait_for 10 recovers hung default/hung

# The token is read again for every call: a wrong one is a 401, the
# right one put back works at once (as when the kubelet rotates it).
ctl app stop locked >/dev/null 2>&1
check "locked stopped" wait_for 10 app_state_is locked stopped
echo "not-the-token" >"$SA/token"
get locked.test >/dev/null
check "a wrong token → 503, app.failed says Unauthorized" failed_with \
	locked 'HTTP 401 Unauthorized: Unauthorized'
cp "$T/api-token" "$SA/token"
check "the right token back → 200" wait_for 10 recovers locked default/locked

# A stop the API refuses leaves the app "stopping" (its pods still
# there); once the lock lapses, reconcile tries again and it stops.
get web.test >/dev/null
check "web woken again" served_by default/web
fault '{"deployment": "default/web", "methods": ["PATCH"], "status": 500}'
check "idle, the scale-down refused → the stop is logged as failed" \
	wait_for 20 grep -q 'app did not stop.*app=web.*InternalError' "$T/autostart.log"
check "the refused stop left the pods (replicas 2)" replicas_are default web 2
clear_faults
check "once the API answers, the stop is retried → 0 replicas" \
	wait_for 40 replicas_are default web 0
check "and the app is stopped, not stuck in stopping" \
	wait_for 10 app_state_is web stopped

# In a pod: no kubernetes_api, the API from KUBERNETES_SERVICE_HOST and
# _PORT as the kubelet sets them (the token and CA stay configured: the
# service account's directory is not the test's to write).
kill "$PID_autostart"
wait "$PID_autostart" 2>/dev/null
sed -i "s|kubernetes_api = \"$API\";||" "$CONF"
check "the config names no API server now" bash -c "! grep -q kubernetes_api '$CONF'"
start autostart2 env KUBERNETES_SERVICE_HOST=127.0.0.1 \
	KUBERNETES_SERVICE_PORT="$API_PORT" "$BIN/devcloud-autostart" -c "$CONF"
PID_autostart=$PID_autostart2
check "autostart with the in-cluster variables ready" \
	wait_for 10 healthz_is "$ADMIN_autostart" 200
ctl app stop api >/dev/null 2>&1
wait_for 10 replicas_are team-a api 0
get api.test >/dev/null
check "in-cluster API discovery: a cold request → 200" served_by team-a/api
check "team-a/api scaled up through https://\$KUBERNETES_SERVICE_HOST:PORT" \
	replicas_are team-a api 1

pong() { ctl ping autostart | grep -q '^autostart '; }
check "autostart still answers ping" pong
check "autostart logged no crash" bash -c \
	"kill -0 $PID_autostart && ! grep -qi 'sanitizer\|segmentation' \
	'$T/autostart.log' '$T/autostart2.log'"
finish
