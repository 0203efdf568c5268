#!/bin/bash
# The docker driver follows Docker's event stream, against a real dockerd:
# a container killed behind devcloud's back is reported at once (the
# driver's "instance exited" line, autostart's app.stopped "exited: ..."),
# not at the next inspect; a container autostart stops itself (idle TTL,
# app stop) is not reported as an exit; the driver's containers carry
# the app and instance labels; a restarted dockerd → the stream
# reconnects (logged once per outage) and a later kill is still noticed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

docker_suite

# Names unique to this run: the dockerd may be shared.
KILL_APP=dek$$		# killed behind devcloud's back
IDLE_APP=dei$$		# stopped by autostart when idle
KILL_CT=devcloud-$KILL_APP-1
IDLE_CT=devcloud-$IDLE_APP-1
PAGE='devcloud docker test page'
docker_track "$KILL_CT" "$IDLE_CT"
ALOG=$T/autostart.log

get() {
	px_status "$1" "${2:-/}" -m 20 -o "$T/body" >"$T/status"
	cat "$T/body"
}
served() { [ "$(cat "$T/status")" = 200 ] && grep -qF "$PAGE" "$T/body"; }
label_is() {
	[ "$(docker inspect -f "{{index .Config.Labels \"$2\"}}" "$1" \
		2>/dev/null)" = "$3" ]
}
# event TYPE APP TEXT: an event of TYPE for APP mentioning TEXT was seen.
event() {
	grep "\"$1\"" "$T/events.log" | grep "\"$2\"" | sed 's,\\/,/,g' |
		grep -qF -- "$3"
}
# exits APP: how many exits the driver reported for APP.
exits() { grep 'msg="instance exited"' "$ALOG" | grep -c " app=$1 "; }
exits_are() { [ "$(exits "$1")" -eq "$2" ]; }
logged() { grep -c "msg=\"$1\"" "$ALOG"; }
logged_is() { [ "$(logged "$1")" -eq "$2" ]; }

check "the driver follows docker events from the start" \
	wait_for 10 logged_is "docker event stream connected" 1

for app in "$KILL_APP" "$IDLE_APP"; do
	ttl=300
	[ "$app" = "$IDLE_APP" ] && ttl=2
	check "app create $app (docker, image, ttl $ttl)" ctl app create \
		"$app" --domain "$app.test" --driver docker \
		--image "$TEST_IMAGE" --cport 8080 --ttl "$ttl"
done

# --- the container carries the app, the instance; the host is Docker's ---
get "$KILL_APP.test" >/dev/null
check "cold request → 200" served
check "$KILL_CT carries devcloud.app=$KILL_APP" \
	label_is "$KILL_CT" devcloud.app "$KILL_APP"
check "$KILL_CT carries devcloud.instance=1" \
	label_is "$KILL_CT" devcloud.instance 1
name=$(docker info -f '{{.Name}}' | sed 's/[^A-Za-z0-9_-].*//' | cut -c1-63)
check "the host is the docker daemon's Name ($name)" \
	grep -q "msg=\"docker daemon named\" .*host=$name\$" "$ALOG"

# --- docker kill behind devcloud's back: known from the event stream ---
docker kill "$KILL_CT" >/dev/null
check "docker kill → the driver reports the instance exited" \
	wait_for 10 grep -q "msg=\"instance exited\" app=$KILL_APP instance=1 container=$KILL_CT why=\"exited with status 137\"" "$ALOG"
check "docker kill → app.stopped \"exited: exited with status 137\"" \
	wait_for 10 event app.stopped "$KILL_APP" "exited: exited with status 137"
check "docker kill → app stopped" wait_for 10 app_state_is "$KILL_APP" stopped
get "$KILL_APP.test" >/dev/null
check "the next request starts it again → 200" served

# --- stops autostart asks for are not exits ---
get "$IDLE_APP.test" >/dev/null
check "cold request ($IDLE_APP) → 200" served
check "idle past the TTL → $IDLE_CT stopped" \
	wait_for 20 docker_not_running "$IDLE_CT"
check "idle → app.stopped (idle)" wait_for 10 event app.stopped "$IDLE_APP" idle
check "app stop $KILL_APP" ctl app stop "$KILL_APP"
check "app stop → $KILL_CT stopped" wait_for 10 docker_not_running "$KILL_CT"
# Docker's events come in order: once a later death is reported, the
# deaths of those stops have been read.
get "$KILL_APP.test" >/dev/null
check "a request wakes $KILL_APP again → 200" served
docker kill "$KILL_CT" >/dev/null
check "a second docker kill is reported" wait_for 10 exits_are "$KILL_APP" 2
check "the idle stop was not reported as an exit" exits_are "$IDLE_APP" 0
check "no app.stopped \"exited\" for the idle app" \
	bash -c "! grep '\"$IDLE_APP\"' '$T/events.log' | grep -q exited"
check "app stop was not reported as an exit (two kills, two exits)" \
	exits_are "$KILL_APP" 2

# --- an app of two instances: a killed container is replaced ---
TWO_APP=de2$$
docker_track "devcloud-$TWO_APP-1" "devcloud-$TWO_APP-2"
check "app create $TWO_APP (docker, image)" ctl app create "$TWO_APP" \
	--domain "$TWO_APP.test" --driver docker --image "$TEST_IMAGE" \
	--cport 8080 --ttl 300
check "app update $TWO_APP --min 2 --max 2" ctl app update "$TWO_APP" \
	--min 2 --max 2
get "$TWO_APP.test" >/dev/null
check "cold request ($TWO_APP) → 200" served
check "two containers run: devcloud-$TWO_APP-1 and -2" wait_for 20 \
	docker_running "devcloud-$TWO_APP-2"
check "each carries its instance label" \
	label_is "devcloud-$TWO_APP-2" devcloud.instance 2
check "instance.ready for instance 2 names the docker host ($name)" \
	wait_for 10 event instance.ready "$TWO_APP" "\"host\":\"$name\""
t0=$(docker inspect -f '{{.State.StartedAt}}' "devcloud-$TWO_APP-2")
docker kill "devcloud-$TWO_APP-2" >/dev/null
check "docker kill of instance 2 → instance.stopped \"exited: ...\"" \
	wait_for 10 event instance.stopped "$TWO_APP" 'exited: exited with status 137'
check "the app stays running" app_state_is "$TWO_APP" running
check "requests are served meanwhile" bash -c \
	"[ \"\$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'Host: $TWO_APP.test' http://127.0.0.1:$PROXY_PORT/)\" = 200 ]"
restarted() {
	docker_running "devcloud-$TWO_APP-2" && [ "$(docker inspect -f \
		'{{.State.StartedAt}}' "devcloud-$TWO_APP-2")" != "$t0" ]
}
check "instance 2 is replaced (its container runs again)" wait_for 20 restarted
check "and ready again" wait_for 10 bash -c \
	"[ \$(grep '\"instance.ready\"' '$T/events.log' | grep -c '\"$TWO_APP\"') -ge 3 ]"
check "app stop $TWO_APP stops both" ctl app stop "$TWO_APP"
check "both containers stopped" wait_for 20 bash -c \
	"! docker inspect -f '{{.State.Running}}' devcloud-$TWO_APP-1 devcloud-$TWO_APP-2 | grep -q true"

# --- an existing container (no label of ours) killed by the OOM killer ---
# PID 1 serves the page until /tmp/oom appears, then becomes a memory hog.
OOM_APP=deo$$
OOM_CT=devcloud-test-oom-$$
docker_track "$OOM_CT"
if [ "$(docker info -f '{{.MemoryLimit}}')" != true ]; then
	skip "OOM kill → reported as such" "this dockerd cannot limit memory"
else
	docker create --name "$OOM_CT" --memory 16m --memory-swap 16m \
		"$TEST_IMAGE" sh -c 'busybox httpd -f -p 8080 -h /www &
		while [ ! -f /tmp/oom ]; do sleep 0.1; done
		exec tail -c 200000000 /dev/zero' >/dev/null
	check "app create $OOM_APP (docker, container)" ctl app create \
		"$OOM_APP" --domain "$OOM_APP.test" --driver docker \
		--container "$OOM_CT" --cport 8080 --ttl 300
	get "$OOM_APP.test" >/dev/null
	check "cold request ($OOM_APP) → 200" served
	docker exec "$OOM_CT" sh -c '>/tmp/oom'
	check "OOM kill → the driver reports \"killed: out of memory\"" \
		wait_for 10 grep -q "msg=\"instance exited\" app=$OOM_APP instance=1 container=$OOM_CT why=\"killed: out of memory\"" "$ALOG"
	check "OOM kill → app.stopped \"exited: killed: out of memory\"" \
		wait_for 10 event app.stopped "$OOM_APP" "exited: killed: out of memory"
fi

# --- dockerd restarts: the stream reconnects, a later kill is noticed ---
if [ -z "$DOCKER_PRIVATE" ]; then
	skip "dockerd restarted → stream reconnects" \
		"the dockerd is shared, not the test's to restart"
	finish
fi
get "$KILL_APP.test" >/dev/null
check "$KILL_APP runs before dockerd restarts" served
check "dockerd stopped and started again" docker_restart
check "the stream's loss is logged" \
	wait_for 10 logged_is "docker event stream lost" 1
check "the stream reconnects (logged)" \
	wait_for 20 logged_is "docker event stream reconnected" 1
check "the outage was logged once, not per retry" \
	logged_is "docker event stream lost" 1
check "no further outage logged" \
	logged_is "docker event stream cannot connect" 0
# dockerd stopped the container on its way down; autostart knows it.
check "$KILL_APP stopped with dockerd" wait_for 10 app_state_is "$KILL_APP" stopped
n=$(exits "$KILL_APP")
get "$KILL_APP.test" >/dev/null
check "after the restart a request starts $KILL_APP → 200" served
docker kill "$KILL_CT" >/dev/null
check "docker kill after the restart is reported" \
	wait_for 10 exits_are "$KILL_APP" $((n + 1))
check "… and autostart marks the app stopped" \
	wait_for 10 app_state_is "$KILL_APP" stopped
check "autostart logged no crash" bash -c \
	"kill -0 $PID_autostart && ! grep -qi 'sanitizer\|segmentation' '$ALOG'"

finish
