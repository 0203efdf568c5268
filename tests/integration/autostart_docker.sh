#!/bin/bash
# Autostart with the docker driver against a real dockerd (the running
# one, or a private one this test starts): cold request → the container
# starts and answers through the proxy; idle past the TTL → the container
# is stopped and the app is `stopped`; the next request wakes it again.
# Both kinds of docker app: an image (the driver creates devcloud-NAME-ID)
# and an existing container. Docker's errors (no such container, daemon
# unreachable) → 503 naming the app and app.failed with Docker's message.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

docker_suite app.

# Names unique to this run: the dockerd may be shared.
IMG_APP=dki$$
CT_APP=dkc$$
MISSING_APP=dkm$$
DOWN_APP=dkd$$
CT=devcloud-test-$$
PAGE='devcloud docker test page'
docker_track "devcloud-$IMG_APP-1" "devcloud-$DOWN_APP-1" "$CT"

# get DOMAIN [PATH]: the body through the proxy, status in $T/status.
get() {
	px_status "$1" "${2:-/}" -m 20 -o "$T/body" >"$T/status"
	cat "$T/body"
}
got() { [ "$(cat "$T/status")" = "$1" ]; }
served() { got 200 && grep -qF "$PAGE" "$T/body"; }
labelled() {
	[ "$(docker inspect -f '{{index .Config.Labels "devcloud.app"}}' \
		"$1" 2>/dev/null)" = "$2" ]
}
# event TYPE APP TEXT: an event of TYPE for APP mentioning TEXT was seen
# (JSON may write "/" as "\/").
event() {
	grep "\"$1\"" "$T/events.log" | grep "\"$2\"" | sed 's,\\/,/,g' |
		grep -qF -- "$3"
}
pong() { ctl ping autostart | grep -q '^autostart '; }

# --- an image app: the driver creates devcloud-NAME-ID ---
check "app create (docker, image)" ctl app create "$IMG_APP" \
	--domain "$IMG_APP.test" --driver docker --image "$TEST_IMAGE" \
	--cport 8080 --ttl 2 --env "MSG=hello from $IMG_APP"
check "a new docker app is stopped" app_state_is "$IMG_APP" stopped
check "no container before the first request" \
	bash -c "! docker inspect 'devcloud-$IMG_APP-1' >/dev/null 2>&1"

body=$(get "$IMG_APP.test")
check "cold request → 200 with the container's page" served
served || echo "# got $(cat "$T/status"): $body"
check "the container devcloud-$IMG_APP-1 runs" docker_running "devcloud-$IMG_APP-1"
check "it carries the label devcloud.app" \
	labelled "devcloud-$IMG_APP-1" "$IMG_APP"
get "$IMG_APP.test" /env.txt >/dev/null
check "--env reached the container" grep -qF "hello from $IMG_APP" "$T/body"
check "app is running" app_state_is "$IMG_APP" running
check "app.ready published" wait_for 5 event app.ready "$IMG_APP" ""

check "idle past the TTL → container stopped" \
	wait_for 20 docker_not_running "devcloud-$IMG_APP-1"
check "idle past the TTL → app stopped" wait_for 5 app_state_is "$IMG_APP" stopped
check "app.stopped (idle) published" \
	wait_for 5 event app.stopped "$IMG_APP" idle

get "$IMG_APP.test" >/dev/null
check "the next request wakes it again → 200" served
check "the same container runs again" docker_running "devcloud-$IMG_APP-1"
check "still one container for the app" bash -c "[ \$(docker ps -aq \
	--filter 'label=devcloud.app=$IMG_APP' | wc -l) -eq 1 ]"

# --- an existing container, created by the test ---
docker create --name "$CT" -e "MSG=existing" "$TEST_IMAGE" >/dev/null
check "app create (docker, container)" ctl app create "$CT_APP" \
	--domain "$CT_APP.test" --driver docker --container "$CT" \
	--cport 8080 --ttl 2
get "$CT_APP.test" >/dev/null
check "cold request to the container app → 200" served
check "container $CT runs" docker_running "$CT"
check "idle → $CT stopped" wait_for 20 docker_not_running "$CT"
check "idle → container app stopped" wait_for 5 app_state_is "$CT_APP" stopped
check "app wake starts it" ctl app wake "$CT_APP"
check "after app wake, $CT runs" docker_running "$CT"
check "app stop stops it" ctl app stop "$CT_APP"
check "after app stop, $CT is not running" \
	wait_for 10 docker_not_running "$CT"
check "after app stop, state stopped" wait_for 5 app_state_is "$CT_APP" stopped
get "$CT_APP.test" >/dev/null
check "a request after app stop wakes it → 200" got 200

# --- Docker says no: the container does not exist ---
check "app create (docker, missing container)" ctl app create \
	"$MISSING_APP" --domain "$MISSING_APP.test" --driver docker \
	--container "nosuch-$$" --cport 8080 --ttl 2
get "$MISSING_APP.test" >/dev/null
check "missing container → 503" got 503
check "the 503 names the app" grep -qF "$MISSING_APP" "$T/body"
check "app.failed carries Docker's message" wait_for 5 \
	event app.failed "$MISSING_APP" "No such container: nosuch-$$"
check "app is failed" app_state_is "$MISSING_APP" failed
check "autostart still answers ping" pong

# --- the Docker daemon cannot be reached ---
kill "$PID_autostart"
wait "$PID_autostart" 2>/dev/null
start autostart2 env DEVCLOUD_AUTOSTART_DOCKER_SOCKET=/nonexistent.sock \
	"$BIN/devcloud-autostart" -c "$CONF"
check "autostart with an unreachable docker_socket starts" \
	wait_for 10 healthz_is "$ADMIN_autostart" 200
check "app create (docker, image, daemon unreachable)" ctl app create \
	"$DOWN_APP" --domain "$DOWN_APP.test" --driver docker \
	--image "$TEST_IMAGE" --cport 8080 --ttl 2
get "$DOWN_APP.test" >/dev/null
check "daemon unreachable → 503" got 503
check "the 503 names the app" grep -qF "$DOWN_APP" "$T/body"
check "app.failed says the socket cannot be reached" wait_for 5 \
	event app.failed "$DOWN_APP" "cannot reach /nonexistent.sock"
check "autostart still answers ping" pong
check "autostart logged no crash" bash -c \
	"kill -0 $PID_autostart2 && ! grep -qi 'sanitizer\|segmentation' \
	'$T/autostart2.log'"

finish
