# Docker helpers for integration tests, sourced after lib.sh.
#
#   docker_up          a dockerd to talk to: the running one if `docker
#                      info` works, else a private one under $T (stopped
#                      by the trap), with the arguments DOCKERD_EXTRA
#                      too if set. Sets DOCKER_HOST and DOCKER_SOCK.
#                      Where Docker truly cannot run, the test is
#                      skipped (lib.sh's skip_all "docker unavailable:
#                      WHY"): counted as skipped, never as passed.
#   docker_test_image  the tiny local image TEST_IMAGE, imported from the
#                      host's busybox-static; never pulled.
#   docker_track NAME  a container the trap removes.
#   docker_restart     stops the private dockerd (by PID, as its own
#                      shutdown would: containers stopped) and starts it
#                      again with the same arguments; 1 if it does not
#                      come back. Only for a private dockerd
#                      (DOCKER_PRIVATE set).
#
# The test image serves /www on port 8080 with busybox httpd; at start
# it writes $MSG to /www/env.txt, so a test can see an app's --env. Its
# shell (PID 1) exits on SIGTERM, so `docker stop` is quick and graceful.

TEST_IMAGE=devcloud-test/busybox:1
TEST_IMAGE_REV=4	# bump when docker_test_image changes
DOCKER_CONTAINERS=()
DOCKER_PRIVATE=""
DOCKER_BRIDGE=""
DOCKERD_ARGS=()

docker_skip() { skip_all "docker unavailable: $1"; }

# Containers first (while their daemon still runs), then lib.sh's
# cleanup stops the private dockerd with everything else in PIDS.
docker_cleanup() {
	local rc=$?
	if [ ${#DOCKER_CONTAINERS[@]} -gt 0 ]; then
		docker rm -f "${DOCKER_CONTAINERS[@]}" >/dev/null 2>&1
	fi
	if [ -n "$DOCKER_PRIVATE" ] && [ -n "${PID_dockerd:-}" ]; then
		docker_stop_private
		# Whatever it left mounted under $T, before $T is removed.
		grep -o " $T/[^ ]*" /proc/mounts | sort -r |
			xargs -r -n1 umount -l 2>/dev/null
	fi
	[ -n "$DOCKER_BRIDGE" ] && ip link del "$DOCKER_BRIDGE" 2>/dev/null
	cleanup
	exit $rc
}
trap docker_cleanup EXIT

docker_track() { DOCKER_CONTAINERS+=("$@"); }

# dockerd stops its containers and containerd on SIGTERM; give it longer
# than lib.sh's five seconds. 1 if it is still running after 20 s.
docker_stop_private() {
	kill "$PID_dockerd" 2>/dev/null
	for _ in $(seq 200); do
		kill -0 "$PID_dockerd" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# The private dockerd, on its socket under $T: started by docker_up and
# by docker_restart, always with DOCKERD_ARGS.
docker_start_private() {
	start dockerd dockerd "${DOCKERD_ARGS[@]}"
}

docker_restart() {
	local old=$PID_dockerd p keep=()
	[ -n "$DOCKER_PRIVATE" ] || return 1
	docker_stop_private || return 1
	# The old PID leaves the list the trap kills: it may be reused.
	for p in "${PIDS[@]}"; do
		[ "$p" = "$old" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
	mv "$T/dockerd.log" "$T/dockerd.$old.log"
	docker_start_private
	wait_for 60 docker info
}

# A bridge of our own on a free 172.30.N.0/24: two private dockerds
# running at once on the default docker0 would hand out the same IPs.
docker_bridge() {
	local n br=dc$$
	command -v ip >/dev/null 2>&1 || return 1
	for n in $(shuf -i 1-254 -n 20); do
		ip -4 route | grep -q "^172\.30\.$n\." && continue
		ip link add name "$br" type bridge 2>/dev/null || return 1
		DOCKER_BRIDGE=$br
		# An address of its own, as Docker gives docker0: else the
		# bridge takes its lowest port's, which changes as containers
		# come and go, and a container's ARP entry for the host goes
		# stale: its answers are lost for up to a minute.
		ip link set dev "$br" address "$(printf '02:dc:%02x:%02x:%02x:%02x' \
			$((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))" &&
			ip addr add "172.30.$n.1/24" dev "$br" &&
			ip link set "$br" up && return 0
		return 1
	done
	return 1
}

docker_up() {
	command -v docker >/dev/null 2>&1 ||
		docker_skip "no docker client (Debian package docker.io)"
	if docker info >/dev/null 2>&1; then
		DOCKER_SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
		case "$DOCKER_SOCK" in
		unix://*) DOCKER_SOCK=${DOCKER_SOCK#unix://} ;;
		*) docker_skip "DOCKER_HOST=$DOCKER_SOCK is not a unix socket" ;;
		esac
		echo "# using the running dockerd at $DOCKER_SOCK"
		return 0
	fi
	command -v dockerd >/dev/null 2>&1 ||
		docker_skip "no dockerd running and none installed (docker.io)"
	[ "$(id -u)" -eq 0 ] ||
		docker_skip "no dockerd running, and starting one needs root"

	# A private daemon: its own state, sockets and pid file under $T.
	# No iptables rules: the host reaches containers on the bridge
	# directly, and the test leaves the host's firewall untouched.
	DOCKER_PRIVATE=1
	DOCKER_SOCK=$T/docker.sock
	mkdir -p "$T/docker"
	local net=()
	docker_bridge && net=(--bridge "$DOCKER_BRIDGE")
	DOCKERD_ARGS=(--data-root "$T/docker/data"
		--exec-root "$T/docker/exec" --pidfile "$T/docker/dockerd.pid"
		-H "unix://$DOCKER_SOCK" --iptables=false --ip6tables=false
		--shutdown-timeout 2 "${net[@]}"
		${DOCKERD_EXTRA[@]+"${DOCKERD_EXTRA[@]}"})
	docker_start_private
	export DOCKER_HOST=unix://$DOCKER_SOCK
	if ! wait_for 60 docker info; then
		local why
		why=$(grep -m1 -E 'level=(fatal|error)|failed to start' \
			"$T/dockerd.log" | cut -c1-300)
		kill -0 "$PID_dockerd" 2>/dev/null &&
			why="dockerd did not answer within 60 s${why:+: $why}"
		docker_skip "private dockerd failed: ${why:-see $T/dockerd.log}"
	fi
	echo "# started a private dockerd at $DOCKER_SOCK"
}

docker_test_image() {
	# Rebuilt only when this file changes what goes in it.
	[ "$(docker image inspect -f '{{index .Config.Labels "devcloud.test"}}' \
		"$TEST_IMAGE" 2>/dev/null)" = "$TEST_IMAGE_REV" ] && return 0
	local bb=/bin/busybox root=$T/image old
	old=$(docker image inspect -f '{{.Id}}' "$TEST_IMAGE" 2>/dev/null)
	if [ ! -x "$bb" ] || ldd "$bb" >/dev/null 2>&1; then
		echo "# $bb is missing or not static: install busybox-static" >&2
		return 1
	fi
	mkdir -p "$root/bin" "$root/www" "$root/tmp"
	cp "$bb" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	echo '<h1>devcloud docker test page</h1>' >"$root/www/index.html"
	tar -C "$root" -c . | docker import \
		-c 'ENV PATH=/bin' \
		-c "LABEL devcloud.test=$TEST_IMAGE_REV" \
		-c 'EXPOSE 8080' \
		-c 'CMD ["/bin/sh", "-c", "echo \"$MSG\" >/www/env.txt; trap \"exit 0\" TERM; busybox httpd -f -p 8080 -h /www & wait"]' \
		- "$TEST_IMAGE" >/dev/null || return 1
	# The previous revision, unless a container still uses it.
	[ -n "$old" ] && docker rmi "$old" >/dev/null 2>&1
	return 0
}

# docker_running NAME: the container exists and runs.
docker_running() {
	[ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]
}
docker_not_running() {
	[ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = false ]
}

# docker_suite [EVENTS_PREFIX]: the test's dockerd and image, redis, the
# config (autostart on that dockerd's socket), the bus, autostart and the
# proxy, and $T/events.log of the bus events (those under EVENTS_PREFIX,
# or all). A step that fails is reported and ends the test.
docker_suite() {
	local d v
	docker_up
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
	start events "$BIN/devcloudctl" -c "$CONF" events ${1:-}
	start autostart "$BIN/devcloud-autostart" -c "$CONF"
	start proxy "$BIN/devcloud-proxy" -c "$CONF"
	for d in autostart proxy; do
		v="ADMIN_$d"
		check "$d ready" wait_for 10 healthz_is "${!v}" 200
	done
}

# docker_address_pool A: the networks a private dockerd creates come
# from a free 10.A.N.0/24 (a /27 each), a range no concurrent private
# dockerd uses: sets DOCKERD_EXTRA for docker_up, or leaves it unset
# when none is free.
docker_address_pool() {
	local n
	for n in $(shuf -i 1-254 -n 20); do
		ip -4 route 2>/dev/null | grep -q "^10\.$1\.$n\." && continue
		DOCKERD_EXTRA=(--default-address-pool "base=10.$1.$n.0/24,size=27")
		return 0
	done
	return 1
}

# now: milliseconds since the epoch. since T0: the time from T0 to now,
# in seconds ("1.25 s").
now() { echo $(($(date +%s%N) / 1000000)); }
since() { printf '%d.%02d s' $((($(now) - $1) / 1000)) $(((($(now) - $1) % 1000) / 10)); }

# docker_deploy_env NAME: the variables deploy/docker-compose.yml and
# deploy/devcloud-stack.yml read, for a project or stack NAME: the
# images of this VERSION (TAG), the network NAME, a free port for the
# proxy (DEVCLOUD_HTTP_PORT) and the test's Docker socket.
docker_deploy_env() {
	TAG=$(cat "$ROOT/VERSION")
	DEVCLOUD_HTTP_PORT=$(free_ports 1)
	export DEVCLOUD_TAG=$TAG DEVCLOUD_NETWORK=$1 DEVCLOUD_HTTP_PORT
	export DOCKER_SOCKET=$DOCKER_SOCK
}

# docker_images: the images of deploy/Dockerfile (deploy/image.sh, which
# builds them once and loads them from build/image afterwards) on the
# test's dockerd, reported; a failure ends the test.
docker_images() {
	local t0
	t0=$(now)
	if ! "$ROOT/deploy/image.sh" >"$T/image.log" 2>&1; then
		sed 's/^/# /' "$T/image.log"
		not_ok "make image builds devcloud:$(cat "$ROOT/VERSION")"
		finish
	fi
	sed 's/^/# /' "$T/image.log"
	ok "images built or loaded in $(since "$t0")"
}
