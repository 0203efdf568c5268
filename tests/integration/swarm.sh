#!/bin/bash
# The suite as deploy/devcloud-stack.yml runs it on Docker Swarm, on the
# images `make image` builds, against the test's own dockerd made a
# one-node swarm: `docker stack deploy` brings every service to its
# replicas, the demo one-shot registers the app; a request on the port
# the routing mesh publishes wakes it (200); scaled to three proxies,
# all three run and serve; a rolling update of the proxy under load
# (hey) is measured. The routing mesh needs IPVS: on a kernel without
# it, the proxy is switched to DNS round robin without a published
# port, and the requests come from a container on the stack's network
# (the mesh case is then reported skipped). The failures of the update
# are its failed requests are printed ("# failed requests
# during the rolling update: N"), not asserted (the proxy does not drain
# on SIGTERM yet); `docker stack rm` leaves no service or network of the
# stack. Slow (the first run builds the images): not part of `make
# test`, run by `make test-containers`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

docker_address_pool 213
docker_up
# A running dockerd is used when it is in no swarm: the test makes one
# and leaves it, which would take a node out of a swarm of its own.
state=$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)
[ "$state" = inactive ] ||
	skip_all "the dockerd is in a swarm already (state: ${state:-unknown})"
command -v hey >/dev/null 2>&1 || skip_all "no hey (Debian package hey)"

STACK=devcloud-test-$$
CLIENT=$STACK-client
docker_deploy_env "$STACK"
DAEMONS="bus proxy autostart regulator idepool deployer"

# quiet COMMAND...: COMMAND without its output.
quiet() { "$@" >/dev/null; }

# The stack, the apps it started and the swarm go before the dockerd.
swarm_cleanup() {
	local rc=$?
	docker ps -aq --filter label=devcloud.app | xargs -r docker rm -f \
		>/dev/null 2>&1
	docker service ls -q --filter label=devcloud.app |
		xargs -r docker service rm >/dev/null 2>&1
	docker stack rm "$STACK" >/dev/null 2>&1
	docker rm -f "$CLIENT" >/dev/null 2>&1
	docker swarm leave --force >/dev/null 2>&1
	# The swarm's bridge on the host, which a private dockerd would
	# leave behind.
	[ -n "$DOCKER_PRIVATE" ] &&
		docker network rm docker_gwbridge >/dev/null 2>&1
	(exit $rc)
	docker_cleanup
}
trap swarm_cleanup EXIT

# The overlay networks from a range of their own too.
n=$(shuf -i 1-254 -n 1)
check "docker swarm init" quiet docker swarm init --advertise-addr 127.0.0.1 \
	--default-addr-pool "10.214.$n.0/24" --default-addr-pool-mask-length 27

docker_images

t0=$(now)
if ! docker stack deploy --resolve-image never --detach=true \
	-c "$ROOT/deploy/devcloud-stack.yml" "$STACK" >"$T/deploy.log" 2>&1; then
	sed 's/^/# /' "$T/deploy.log"
	not_ok "docker stack deploy"
	finish
fi
ok "docker stack deploy"

# Without IPVS (no ip_vs module) neither the routing mesh nor a virtual
# IP carries a packet: the proxy goes to DNS round robin, unpublished,
# and a client container on the network sends the requests (curl and
# the host's hey).
if [ -e /proc/net/ip_vs ]; then
	MESH=1
	URL=http://127.0.0.1:$DEVCLOUD_HTTP_PORT/
	echo "# requests through the routing mesh, on $URL"
else
	MESH=""
	URL=http://proxy:8080/
	skip "requests through the routing mesh" "no IPVS in this kernel (ip_vs)"
	check "proxy switched to dnsrr, unpublished" \
		quiet docker service update --detach=true --publish-rm 8080 \
		--endpoint-mode dnsrr "${STACK}_proxy"
	docker_track "$CLIENT"
	check "a client container on the stack's network" \
		quiet docker run -d --name "$CLIENT" --network "$STACK" \
		-v "$(command -v hey):/usr/local/bin/hey:ro" \
		"devcloud:$TAG" sleep infinity
fi
# req CURL_ARGS...: curl from the host or from the client container.
req() {
	if [ -n "$MESH" ]; then
		curl "$@"
	else
		docker exec "$CLIENT" curl "$@"
	fi
}

# replicas SERVICE N: N tasks of STACK_SERVICE running, each container
# healthy.
replicas() {
	local ids id
	[ "$(docker service ps -q --filter desired-state=running \
		--format '{{.CurrentState}}' "${STACK}_$1" | grep -c '^Running')" \
		-eq "$2" ] || return 1
	ids=$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_$1")
	[ "$(echo "$ids" | grep -c .)" -eq "$2" ] || return 1
	for id in $ids; do
		[ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] ||
			return 1
	done
}
all_up() {
	replicas redis 1 && replicas proxy 2 && replicas regulator 1 || return 1
	for s in bus autostart idepool deployer; do
		replicas "$s" 1 || return 1
	done
}
if wait_for 120 all_up; then
	ok "every service at its replicas, healthy, in $(since "$t0") from deploy"
else
	not_ok "every service at its replicas, healthy"
	docker service ls --filter "label=com.docker.stack.namespace=$STACK" |
		sed 's/^/# /'
	for s in redis $DAEMONS; do
		docker service ps --no-trunc "${STACK}_$s" 2>&1 | tail -n 3 |
			sed 's/^/# /'
	done
fi
demo_done() {
	docker service ps --format '{{.CurrentState}}' "${STACK}_demo" |
		grep -q '^Complete'
}
check "the demo one-shot registered the app and completed" wait_for 60 demo_done

# A request through the routing mesh wakes the demo app.
t0=$(now)
code=$(req -s -m 60 -o - -w '\n%{http_code}' -H 'Host: demo.localhost' "$URL" \
	>"$T/body")
code=$(tail -n 1 "$T/body")
if [ "$code" = 200 ] && grep -q 'devcloud demo' "$T/body"; then
	ok "demo.localhost woken and served in $(since "$t0")"
else
	not_ok "demo.localhost woken and served (got $code)"
	docker service logs --tail 20 "${STACK}_proxy" 2>&1 | sed 's/^/# /'
	docker service logs --tail 20 "${STACK}_autostart" 2>&1 | sed 's/^/# /'
fi
check "the demo container runs" \
	test "$(docker ps -q --filter label=devcloud.app=demo | wc -l)" -eq 1

# An app with the swarm driver: autostart (in the stack) creates its
# service on the stack's network (drivers.swarm_network), and the proxy
# reaches it by the service's name.
SWAPP=swapp$$
check "a swarm-driver app registered" quiet docker run --rm \
	--network "$STACK" -e DEVCLOUD_REDIS=redis:6379 \
	-e DEVCLOUD_BUS_IN=tcp://bus:7400 -e DEVCLOUD_BUS_OUT=tcp://bus:7401 \
	"devcloud:$TAG" devcloudctl app create "$SWAPP" \
	--domain "$SWAPP.localhost" --driver swarm \
	--image "devcloud-demo:$TAG" --cport 8080
code=$(req -s -m 60 -o - -w '\n%{http_code}' -H "Host: $SWAPP.localhost" \
	"$URL" >"$T/body")
code=$(tail -n 1 "$T/body")
if [ "$code" = 200 ]; then
	ok "its first request creates the service and is served"
else
	not_ok "its first request creates the service and is served (got $code)"
	docker service ps --no-trunc "devcloud-$SWAPP" 2>&1 | sed 's/^/# /'
	docker service logs --tail 30 "${STACK}_autostart" 2>&1 | sed 's/^/# /'
	docker service logs --tail 10 "${STACK}_proxy" 2>&1 | sed 's/^/# /'
fi
check "its service devcloud-$SWAPP is on the stack's network" bash -c \
	"docker service inspect -f '{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}' \
	devcloud-$SWAPP | xargs -n1 docker network inspect -f '{{.Name}}' |
	grep -qx '$STACK'"

# Three proxies: all running and healthy, and 30 requests all served.
t0=$(now)
check "docker service scale proxy=3" \
	quiet docker service scale --detach=true "${STACK}_proxy=3"
check "three proxy replicas running and healthy" wait_for 60 replicas proxy 3
echo "# scaled in $(since "$t0")"
for _ in $(seq 30); do
	req -s -m 10 -o /dev/null -w '%{http_code}\n' \
		-H 'Host: demo.localhost' "$URL"
done >"$T/codes"
echo "# 30 requests: $(sort "$T/codes" | uniq -c | tr -s ' \n' ' ')"
check "30 requests through three proxies: all 200" \
	test "$(grep -c '^200$' "$T/codes")" -eq 30
# Each replica answered some: its own requests_total on /metrics.
served=0
for id in $(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_proxy"); do
	n=$(docker exec "$id" curl -s -m 2 http://127.0.0.1:7420/metrics 2>/dev/null |
		awk '/^devcloud_proxy_requests_total/ { s += $2 } END { print s + 0 }')
	echo "# proxy $id: $n requests"
	[ "$n" -gt 0 ] && served=$((served + 1))
done
check "each of the three proxies served requests (got $served)" \
	test "$served" -eq 3

# A rolling update of the proxy (start-first, one at a time) under load:
# two hey on the warm route for as long as the update runs, each with
# two clients at 50 requests/s: one on kept-alive connections (Go's
# client sends a request again when a reused connection closes before
# it was written), one on a new connection per request.
# load_start NAME HEY_ARGS...: hey in the background, its report in
# $T/NAME.out once load_stop NAME has stopped it.
load_start() {
	local name=$1
	shift
	if [ -n "$MESH" ]; then
		hey "$@" >"$T/$name.out" 2>&1 &
	else
		docker exec "$CLIENT" sh -c \
			'n=$1; shift; hey "$@" >/tmp/$n.out 2>&1 & echo $! >/tmp/$n.pid; wait' \
			sh "$name" "$@" &
	fi
	printf -v "PID_load_$name" %s "$!"
}
# hey stops on SIGINT and prints its report.
load_stop() {
	local v=PID_load_$1 pid
	pid=${!v}
	if [ -n "$MESH" ]; then
		kill -INT "$pid" 2>/dev/null
		wait "$pid"
	else
		docker exec "$CLIENT" sh -c 'kill -INT "$(cat "/tmp/$1.pid")"' sh "$1"
		wait "$pid"
		docker exec "$CLIENT" cat "/tmp/$1.out" >"$T/$1.out"
	fi
}
# hey_count all|failed NAME: from hey's distributions of status codes
# ("[200]	N responses") and errors ("[N]	Get ...: EOF"), every
# request, or those that failed: every answer but a 200, every error.
hey_count() {
	awk -v want="$1" '
		/^Status code distribution/ { sec = "status"; next }
		/^Error distribution/ { sec = "error"; next }
		!/^  \[[0-9]+\]/ { next }
		{ n = $1; gsub(/[][]/, "", n) }
		sec == "status" && want == "all" { s += $2 }
		sec == "status" && want == "failed" && n != 200 { s += $2 }
		sec == "error" { s += n }
		END { print s + 0 }' "$T/$2.out"
}
LOADS="keepalive fresh"
load_start keepalive -z 300s -c 2 -q 50 -host demo.localhost "$URL"
load_start fresh -z 300s -c 2 -q 50 -disable-keepalive \
	-host demo.localhost "$URL"
sleep 2
t0=$(now)
if docker service update --force --detach=false "${STACK}_proxy" \
	>"$T/update.log" 2>&1; then
	ok "docker service update --force proxy in $(since "$t0")"
else
	not_ok "docker service update --force proxy"
	tail -n 5 "$T/update.log" | sed 's/^/# /'
fi
sleep 2
total=0
failed=0
for l in $LOADS; do
	load_stop "$l"
	t=$(hey_count all "$l")
	f=$(hey_count failed "$l")
	check "hey ($l) reported its requests (got $t)" test "$t" -gt 0
	echo "# $l connections: $t requests, $f failed"
	sed -n '/^Error distribution/,$p' "$T/$l.out" | sed 's/^/# /'
	total=$((total + t))
	failed=$((failed + f))
done
echo "# requests during the rolling update: $total"
echo "# failed requests during the rolling update: $failed"
check "three proxy replicas running after the update" \
	wait_for 30 replicas proxy 3

# stack rm: no service or network of the stack left. The app containers
# and services are not the stack's (autostart made them): they go first.
docker ps -aq --filter label=devcloud.app | xargs -r docker rm -f >/dev/null
docker service ls -q --filter label=devcloud.app | xargs -r docker service rm \
	>/dev/null
docker rm -f "$CLIENT" >/dev/null 2>&1
t0=$(now)
check "docker stack rm" quiet docker stack rm "$STACK"
left() {
	docker service ls -q --filter "label=com.docker.stack.namespace=$STACK"
	docker network ls -q --filter "label=com.docker.stack.namespace=$STACK"
	docker network ls -q --filter "name=$STACK"
}
none_left() { [ -z "$(left)" ]; }
check "no service or network of the stack left" wait_for 60 none_left
echo "# removed in $(since "$t0")"
finish
