#!/bin/bash
# The swarm driver on a real one-node Docker Swarm (the test's dockerd,
# `docker swarm init`): an app is the Swarm service devcloud-NAME, made
# from its image on the first request and scaled between 0 and its
# replicas. Cold request through the proxy → the service is created at
# 1 replica, its task runs and answers (200, with the app's --env);
# idle past the TTL → scaled to 0, no task left running, the app
# stopped; the next request scales it up again (the same service). An
# app of 2 replicas runs 2 tasks and `app stop` takes them to 0. An
# image that does not exist → 503 and app.failed with Swarm's task
# error, and the service is left at 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

docker_address_pool 217
docker_up
# A running dockerd is used only when it is in no swarm: the test makes
# one and leaves it.
state=$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)
[ "$state" = inactive ] ||
	skip_all "the dockerd is in a swarm already (state: ${state:-unknown})"

APP=sw$$
APP2=swr$$
BAD=swb$$
SERVICES="devcloud-$APP devcloud-$APP2 devcloud-$BAD"
swarm_driver_cleanup() {
	local rc=$?
	docker service rm $SERVICES >/dev/null 2>&1
	docker swarm leave --force >/dev/null 2>&1
	[ -n "$DOCKER_PRIVATE" ] &&
		docker network rm docker_gwbridge >/dev/null 2>&1
	(exit $rc)
	docker_cleanup
}
trap swarm_driver_cleanup EXIT

n=$(shuf -i 1-254 -n 1)
if ! docker swarm init --advertise-addr 127.0.0.1 \
	--default-addr-pool "10.218.$n.0/24" \
	--default-addr-pool-mask-length 27 >"$T/swarm-init.log" 2>&1; then
	sed 's/^/# /' "$T/swarm-init.log"
	not_ok "docker swarm init"
	finish
fi
ok "docker swarm init (one node)"
if ! docker_test_image; then
	not_ok "test image $TEST_IMAGE builds from busybox-static"
	finish
fi
start_redis || { not_ok "redis-server starts"; finish; }
AUTOSTART_EXTRA="docker_socket = \"$DOCKER_SOCK\"; sweep_interval_ms = 200;
	stop_grace_ms = 2000;"
write_config
start bus "$BIN/devcloud-bus" -c "$CONF"
check "bus ready" wait_for 10 healthz_is "$BUS_ADMIN" 200
start events "$BIN/devcloudctl" -c "$CONF" events app.
start autostart "$BIN/devcloud-autostart" -c "$CONF"
start proxy "$BIN/devcloud-proxy" -c "$CONF"
check "autostart ready" wait_for 10 healthz_is "$ADMIN_autostart" 200
check "proxy ready" wait_for 10 healthz_is "$ADMIN_proxy" 200

PAGE='devcloud docker test page'
get() {
	px_status "$1" "${2:-/}" -m 30 -o "$T/body" >"$T/status"
	cat "$T/body"
}
got() { [ "$(cat "$T/status")" = "$1" ]; }
served() { got 200 && grep -qF "$PAGE" "$T/body"; }
event() {
	grep "\"$1\"" "$T/events.log" | grep "\"$2\"" | sed 's,\\/,/,g; s,\\",",g' |
		grep -qF -- "$3"
}
replicas() { docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "$1" 2>/dev/null; }
replicas_are() { [ "$(replicas "$1")" = "$2" ]; }
running_tasks() {
	docker service ps -q --filter desired-state=running "$1" 2>/dev/null |
		while read -r t; do
			docker inspect -f '{{.Status.State}}' "$t"
		done | grep -c '^running$'
}
running_are() { [ "$(running_tasks "$1")" = "$2" ]; }
no_service() { ! docker service inspect "$1" >/dev/null 2>&1; }

check "app create (swarm, image)" ctl app create "$APP" \
	--domain "$APP.test" --driver swarm --image "$TEST_IMAGE" \
	--cport 8080 --ttl 2 --env "MSG=hello from $APP"
check "create without --cport is refused" refused any "needs an image" \
	ctl app create "${APP}x" --domain "${APP}x.test" --driver swarm \
	--image "$TEST_IMAGE"
check "a new swarm app is stopped" app_state_is "$APP" stopped
check "no service before the first request" no_service "devcloud-$APP"

get "$APP.test" >/dev/null
check "cold request → 200 from the service's task" served
check "the service devcloud-$APP was created at 1 replica" \
	replicas_are "devcloud-$APP" 1
check "one task runs" running_are "devcloud-$APP" 1
check "it carries the label devcloud.app" bash -c "[ \"\$(docker service \
	inspect -f '{{index .Spec.Labels \"devcloud.app\"}}' devcloud-$APP)\" = $APP ]"
get "$APP.test" /env.txt >/dev/null
check "--env reached the task" grep -qF "hello from $APP" "$T/body"
check "app is running" app_state_is "$APP" running
check "app.ready published" wait_for 5 event app.ready "$APP" ""
node=$(docker node inspect self -f '{{.Description.Hostname}}')
node=${node%%.*}
check "its instance's host is the task's node ($node)" \
	[ "$(rcli HGET "$(key instance "$APP" 1)" host)" = "$node" ]
task_addr() {
	echo "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
		"$(docker ps -q --filter label=com.docker.swarm.service.name=devcloud-$APP)"):8080"
}
check "its address is the task's container address" \
	[ "$(rcli HGET "$(key instance "$APP" 1)" addr)" = "$(task_addr)" ]

check "idle past the TTL → scaled to 0" \
	wait_for 30 replicas_are "devcloud-$APP" 0
check "idle past the TTL → no task runs" wait_for 20 running_are "devcloud-$APP" 0
check "idle past the TTL → app stopped" wait_for 10 app_state_is "$APP" stopped
check "app.stopped (idle) published" wait_for 5 event app.stopped "$APP" idle

get "$APP.test" >/dev/null
check "the next request scales it up again → 200" served
check "1 replica again" replicas_are "devcloud-$APP" 1
check "still one service for the app" bash -c "[ \$(docker service ls -q \
	--filter label=devcloud.app=$APP | wc -l) -eq 1 ]"

# --- two replicas ---
check "app create (swarm, 2 replicas)" ctl app create "$APP2" \
	--domain "$APP2.test" --driver swarm --image "$TEST_IMAGE" \
	--cport 8080 --ttl 60 --replicas 2
get "$APP2.test" >/dev/null
check "cold request to the 2-replica app → 200" served
check "its service is at 2 replicas" replicas_are "devcloud-$APP2" 2
check "two tasks run" wait_for 20 running_are "devcloud-$APP2" 2
check "app stop scales it to 0" ctl app stop "$APP2"
check "after app stop, 0 replicas" replicas_are "devcloud-$APP2" 0
check "after app stop, no task runs" wait_for 20 running_are "devcloud-$APP2" 0
check "after app stop, state stopped" wait_for 5 app_state_is "$APP2" stopped

# --- Swarm cannot run it: an image that does not exist ---
check "app create (swarm, missing image)" ctl app create "$BAD" \
	--domain "$BAD.test" --driver swarm --image "devcloud-test/nosuch:$$" \
	--cport 8080 --ttl 2 --start-timeout 4000
get "$BAD.test" >/dev/null
check "missing image → 503 naming the app" bash -c \
	"[ \"\$(cat '$T/status')\" = 503 ] && grep -qF '$BAD' '$T/body'"
check "app.failed carries Swarm's task error" wait_for 10 \
	event app.failed "$BAD" "no task of devcloud-$BAD running in time: "
check "app is failed" app_state_is "$BAD" failed
check "the failed start left the service at 0" \
	wait_for 10 replicas_are "devcloud-$BAD" 0

pong() { ctl ping autostart | grep -q '^autostart '; }
check "autostart still answers ping" pong
check "autostart logged no crash" bash -c \
	"kill -0 $PID_autostart && ! grep -qi 'sanitizer\|segmentation' '$T/autostart.log'"
finish
