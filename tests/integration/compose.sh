#!/bin/bash
# The suite as deploy/docker-compose.yml runs it, on the images `make
# image` builds (deploy/image.sh), against the test's own dockerd: every
# service comes up (healthy, the demo one-shot exited 0); a request for
# demo.localhost on the published port wakes the demo container and
# gets 200; devcloudctl from the image sees every daemon on the bus;
# with three autostart replicas, 50 concurrent requests to a cold app
# start one container; each container killed in turn (SIGKILL) is
# restarted and nothing is lost or stuck (below); `down -v` leaves no
# container, network or volume of the project. Slow (the first run builds the images): not part of
# `make test`, run by `make test-containers`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

# The networks compose creates, on a private dockerd, come from a range
# no other private dockerd of a concurrent test uses.
docker_address_pool 213
docker_up

if docker-compose version >/dev/null 2>&1; then
	COMPOSE=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
	COMPOSE=(docker compose)
else
	not_ok "docker-compose or docker compose installed (Debian: docker-compose)"
	finish
fi
echo "# $("${COMPOSE[@]}" version | head -n 1)"

PROJECT=devcloud-test-$$
docker_deploy_env "$PROJECT"
DC=("${COMPOSE[@]}" -f "$ROOT/deploy/docker-compose.yml" -p "$PROJECT")
# dc ARGS...: docker-compose on the project, its output in $T/compose.log.
dc() { "${DC[@]}" "$@" >>"$T/compose.log" 2>&1; }
DAEMONS="bus proxy autostart regulator idepool deployer"
COLD=cold$$

# The project and the apps it started go before the dockerd does.
compose_cleanup() {
	local rc=$?
	docker ps -aq --filter label=devcloud.app | xargs -r docker rm -f \
		>/dev/null 2>&1
	"${DC[@]}" down -v -t 2 >/dev/null 2>&1
	(exit $rc)
	docker_cleanup
}
trap compose_cleanup EXIT

docker_images

t0=$(now)
check "docker-compose up -d" dc up -d
# health SERVICE: each of its containers running and healthy.
health() {
	local id ids
	ids=$("${DC[@]}" ps -q "$1") || return 1
	[ -n "$ids" ] || return 1
	for id in $ids; do
		[ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] ||
			return 1
	done
}
all_healthy() {
	local s
	for s in redis $DAEMONS; do
		health "$s" || return 1
	done
}
demo_done() {
	[ "$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' \
		"$("${DC[@]}" ps -q demo)" 2>/dev/null)" = "exited 0" ]
}
if wait_for 90 all_healthy; then
	ok "redis and every daemon healthy in $(since "$t0") from up"
else
	not_ok "redis and every daemon healthy"
	for s in redis $DAEMONS; do
		for id in $("${DC[@]}" ps -q "$s"); do
			echo "# $s: $(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$id")"
		done
	done
	tail -n 20 "$T/compose.log" | sed "s/^/# /"
	"${DC[@]}" logs --tail 20 2>&1 | sed 's/^/# /'
fi
check "the demo one-shot registered the app and exited 0" wait_for 60 demo_done

# A request through the published port wakes the demo app.
t0=$(now)
code=$(status_of -m 60 -o "$T/body" -H 'Host: demo.localhost' \
	"http://127.0.0.1:$DEVCLOUD_HTTP_PORT/")
if [ "$code" = 200 ] && grep -q 'devcloud demo' "$T/body"; then
	ok "demo.localhost woken and served in $(since "$t0")"
else
	not_ok "demo.localhost woken and served (got $code)"
	"${DC[@]}" logs --tail 20 proxy autostart 2>&1 | sed 's/^/# /'
fi
check "the demo container runs" \
	test "$(docker ps -q --filter label=devcloud.app=demo | wc -l)" -eq 1
net=$(docker ps -q --filter label=devcloud.app=demo | head -n 1 |
	xargs -r docker inspect -f \
	'{{range $n, $_ := .NetworkSettings.Networks}}{{$n}} {{end}}')
check "it is on the project's network (autostart.docker_network)" \
	test "$net" = "$PROJECT "

# devcloudctl from the image, on the project's network.
ctl_image() {
	docker run --rm --network "$PROJECT" \
		-e DEVCLOUD_REDIS=redis:6379 \
		-e DEVCLOUD_BUS_IN=tcp://bus:7400 \
		-e DEVCLOUD_BUS_OUT=tcp://bus:7401 \
		"devcloud:$TAG" devcloudctl "$@"
}
sees_all() {
	local d
	ctl_image -w 3000 status >"$T/status.out" 2>&1 || return 1
	for d in proxy autostart regulator idepool deployer; do
		grep -q "$d" "$T/status.out" || return 1
	done
}
if wait_for 30 sees_all; then
	ok "devcloudctl status from the image lists every daemon"
else
	not_ok "devcloudctl status from the image lists every daemon"
	sed 's/^/# /' "$T/status.out"
fi

# Three autostart replicas; a cold app, 50 requests at once: one start.
t0=$(now)
check "--scale autostart=3" dc up -d --scale autostart=3
scaled() {
	[ "$("${DC[@]}" ps -q autostart | wc -l)" -eq 3 ] && health autostart
}
check "three autostart replicas healthy" wait_for 60 scaled
echo "# scaled in $(since "$t0")"
check "a cold app registered" ctl_image app create "$COLD" \
	--domain "$COLD.localhost" --driver docker \
	--image "devcloud-demo:$TAG" --cport 8080
t0=$(now)
seq 50 | xargs -P 50 -I{} curl -s -m 60 -o /dev/null -w '%{http_code}\n' \
	-H "Host: $COLD.localhost" "http://127.0.0.1:$DEVCLOUD_HTTP_PORT/" \
	>"$T/codes"
echo "# 50 requests answered in $(since "$t0"): $(sort "$T/codes" | uniq -c | tr -s ' \n' ' ')"
check "50 concurrent requests to a cold app: all 200" \
	test "$(grep -c '^200$' "$T/codes")" -eq 50
n=$(docker ps -aq --filter "label=devcloud.app=$COLD" | wc -l)
check "one container started for them (got $n)" test "$n" -eq 1

# A part dies: each container of redis and of every daemon in turn gets
# SIGKILL while requests flow to the warm app demo. The kill is of the
# container's PID 1 from the host, as a crash or the OOM killer does:
# `docker kill` counts as a stop asked for, and a restart policy does
# not restart what was stopped on purpose. Each comes back (its restart
# count grows, it is healthy again); warm requests keep being answered
# (only the proxy's own death, one replica behind the published port,
# may fail some: they are printed); with an autostart replica just
# killed a cold app still wakes; after the last one, no app is left in
# starting or stopping and no record is lost.
COLD2=cold2$$
check "a second cold app registered" ctl_image app create "$COLD2" \
	--domain "$COLD2.localhost" --driver docker \
	--image "devcloud-demo:$TAG" --cport 8080
apps_before=$(ctl_image app list | tail -n +2 | awk '{ print $1 }' | sort)
warm() {
	while [ ! -e "$T/warm.stop" ]; do
		curl -s -m 5 -o /dev/null -w '%{http_code}\n' \
			-H 'Host: demo.localhost' "http://127.0.0.1:$DEVCLOUD_HTTP_PORT/"
		sleep 0.05
	done
}
warm >"$T/warm.codes" &
PID_warm=$!
PIDS+=("$PID_warm")
# failed_since N: warm answers after line N that were not 200.
failed_since() { tail -n +"$(($1 + 1))" "$T/warm.codes" | grep -vc '^200$'; }
restarted() {
	[ "$(docker inspect -f '{{.State.Running}} {{.RestartCount}}' "$1")" = \
		"true $(($2 + 1))" ]
}
for s in redis bus autostart regulator idepool deployer proxy; do
	id=$("${DC[@]}" ps -q "$s" | head -n 1)
	rc0=$(docker inspect -f '{{.RestartCount}}' "$id")
	line=$(wc -l <"$T/warm.codes")
	kill -KILL "$(docker inspect -f '{{.State.Pid}}' "$id")"
	check "$s: killed → restarted by its restart policy" \
		wait_for 60 restarted "$id" "$rc0"
	check "$s: healthy again" wait_for 90 health "$s"
	if [ "$s" = autostart ]; then
		code=$(status_of -m 60 -H "Host: $COLD2.localhost" \
			"http://127.0.0.1:$DEVCLOUD_HTTP_PORT/")
		check "with an autostart replica just killed, a cold app wakes (got $code)" \
			test "$code" = 200
	fi
	sleep 1	# warm requests after it is back
	f=$(failed_since "$line")
	echo "# $s killed: $(($(wc -l <"$T/warm.codes") - line)) warm requests, $f not 200"
	if [ "$s" = proxy ]; then
		check "warm requests served again after the proxy's restart" \
			test "$(tail -n 3 "$T/warm.codes" | grep -c '^200$')" -eq 3
	else
		check "$s killed: every warm request answered 200" test "$f" -eq 0
	fi
done
touch "$T/warm.stop"
wait "$PID_warm"
settled() {
	ctl_image app list >"$T/apps.after" 2>&1 || return 1
	! tail -n +2 "$T/apps.after" | awk '{ print $2 }' |
		grep -qE '^(starting|stopping)$'
}
check "no app left in starting or stopping" wait_for 60 settled
check "no app record lost" test "$(tail -n +2 "$T/apps.after" |
	awk '{ print $1 }' | sort)" = "$apps_before"

# down -v: nothing of the project is left. The app containers are not
# the project's (autostart made them): they go first, as the README says.
docker ps -aq --filter label=devcloud.app | xargs -r docker rm -f >/dev/null
t0=$(now)
check "docker-compose down -v" dc down -v -t 2
echo "# down in $(since "$t0")"
left() {
	docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
	docker network ls -q --filter "name=$PROJECT"
	docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
}
check "no container, network or volume of the project left" \
	test -z "$(left)"
finish
