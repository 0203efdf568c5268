#!/bin/bash
# Docker pool members with idepool.docker_bind_dir: each member's
# workspace is a host directory bind-mounted into its container, so a
# developer's files go in and out without dockerd's archive calls. A
# first request is served with the developer's files; a file written in
# the container is saved at release; the container and its directory go
# with the lease; the next developer gets a new, empty directory; a
# container whose image runs as a numeric user gets its files as that
# user. Real dockerd, redis-server, bus, proxy, idepool, curl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

docker_up || docker_skip "no dockerd"
docker_test_image || { not_ok "the test image"; finish; }
pools_gone() {
	local p
	for p in bp up; do
		docker ps -aq --filter "label=devcloud.pool=$p" |
			xargs -r docker rm -f >/dev/null 2>&1
	done
}
bind_cleanup() {
	local rc=$?
	pools_gone
	(exit $rc)
	docker_cleanup
}
trap bind_cleanup EXIT

PROXY_EXTRA='flush_interval_ms = 100; hold_timeout_ms = 30000;'
IDEPOOL_EXTRA="docker_socket = \"$DOCKER_SOCK\"; docker_bind_dir = \"$T/bind\";
	workspace_dir = \"$T/ws\"; sweep_interval_ms = 100;
	reconcile_interval_ms = 2000;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons proxy idepool || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events

member_of() { rcli HGET "$(key domains)" "$1" | sed 's,.*/,,'; }
ctl pool create bp --image "$TEST_IMAGE" --cport 8080 --workspace /www/ws \
	--domain '*.bp.test' --active 2 --inactive 0 --ttl 2 >/dev/null ||
	not_ok "pool create"
free_ok() { [ "$(rcli SCARD "$(key free bp)")" = 2 ]; }
check "the pool has 2 ready members" wait_for 30 free_ok

mkdir -p "$T/ws/dev-a.bp.test/sub"
head -c 200000 /dev/urandom >"$T/ws/dev-a.bp.test/sub/blob.bin"
st=$(px_status dev-a.bp.test /ws/sub/blob.bin -o "$T/blob.out")
[ "$st" = 200 ] && cmp -s "$T/blob.out" "$T/ws/dev-a.bp.test/sub/blob.bin" &&
	ok "the first request is served with the developer's files" ||
	not_ok "the first request is served with the developer's files ($st)"
MA=$(member_of dev-a.bp.test)
check "the files are in the member's bind directory" \
	cmp -s "$T/bind/bp/$MA/sub/blob.bin" "$T/ws/dev-a.bp.test/sub/blob.bin"
check "the container sees them at its workspace" \
	docker exec "devcloud-pool-bp-$MA" sh -c 'test -f /www/ws/sub/blob.bin'
docker exec "devcloud-pool-bp-$MA" sh -c 'echo made inside >/www/ws/new.txt'

if wait_for 15 sh -c "grep '\"type\":\"pool.released\"' $T/events.log | grep -q dev-a.bp.test"; then
	ok "the lease lapses"
else
	not_ok "the lease lapses"
fi
check "the file written in the container is saved in the store" \
	wait_for 5 grep -qx 'made inside' "$T/ws/dev-a.bp.test/new.txt"
check "the released container is removed" \
	wait_for 10 sh -c "! docker inspect devcloud-pool-bp-$MA >/dev/null 2>&1"
check "its bind directory is removed" wait_for 10 test ! -e "$T/bind/bp/$MA"

px_status dev-b.bp.test /ws/ >/dev/null
MB=$(member_of dev-b.bp.test)
check "B gets another member" test -n "$MB" -a "$MB" != "$MA"
check "B's workspace has nothing of A's" \
	docker exec "devcloud-pool-bp-$MB" sh -c '! test -e /www/ws/new.txt &&
		! test -e /www/ws/sub'
st=$(px_status dev-a.bp.test /ws/new.txt -o "$T/new.out")
[ "$st" = 200 ] && grep -qx 'made inside' "$T/new.out" &&
	ok "A comes back to the file made in the container" ||
	not_ok "A comes back to the file made in the container ($st)"

# an image running as a numeric user: its workspace is that user's
mkdir -p "$T/img"
printf 'FROM %s\nUSER 1000:1000\n' "$TEST_IMAGE" >"$T/img/Dockerfile"
if docker build -q -t devcloud-test/bind-user:1 "$T/img" >/dev/null 2>&1; then
	ctl pool create up --image devcloud-test/bind-user:1 --cport 8080 \
		--workspace /tmp/ws --ready tcp --domain '*.up.test' --active 1 \
		--inactive 0 --ttl 60 >/dev/null
	mkdir -p "$T/ws/dev-u.up.test" && echo mine >"$T/ws/dev-u.up.test/f.txt"
	px_status dev-u.up.test / >/dev/null
	MU=$(member_of dev-u.up.test)
	check "a numeric USER owns its bind directory" \
		test "$(stat -c %u:%g "$T/bind/up/$MU" 2>/dev/null)" = 1000:1000
	check "... and the files loaded into it" \
		test "$(stat -c %u:%g "$T/bind/up/$MU/f.txt" 2>/dev/null)" = 1000:1000
	check "the container's user can write there" \
		docker exec "devcloud-pool-up-$MU" sh -c 'echo w >/tmp/ws/w.txt'
else
	not_ok "a USER 1000:1000 image builds from the local test image"
fi
finish
