#!/bin/bash
# IDE pools with the docker driver: real dockerd (lib_docker.sh), real
# redis-server, bus, proxy and idepool, and lib_ide.sh's IDE image
# (busybox httpd and CGI scripts, ready 2 s after it starts). A
# developer's first request takes an ACTIVE member and finds their files
# in it; the pool refills to its tiers, INACTIVE members created and not
# running; the lease lapses, the files are saved and the container
# removed, and the next developer gets another container, with nothing
# of the first one's /tmp or processes; the first developer comes back
# to their files, byte for byte; a first request longer than the TTL
# keeps its member. Then the failures: a broken image
# trips the breaker, a read-only store keeps the member stopped with the
# files in it, kill -9 of idepool during an acquire and during a release
# leaves no member half-way, no workspace lost, no orphan container.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"
. "$(dirname "$0")/lib_ide.sh"

# Pools (and so containers, "devcloud-pool-POOL-ID") named for this run:
# a shared dockerd may hold another test's.
IDE=ide$$
BROKEN=broken$$
SLOW=slow$$

# idepool first (it would refill), then every container of our pools,
# then the read-only store, then lib_docker's cleanup (dockerd, lib.sh).
pool_docker_cleanup() {
	local rc=$? p
	[ -n "${PID_idepool:-}" ] && kill_idepool
	if [ -n "${DOCKER_SOCK:-}" ]; then
		for p in "$IDE" "$BROKEN" "$SLOW"; do
			docker ps -aq --filter "label=devcloud.pool=$p" |
				xargs -r docker rm -f >/dev/null 2>&1
		done
	fi
	[ -n "${RO:-}" ] && umount "$T/ws" 2>/dev/null
	(exit $rc)
	docker_cleanup
}
trap pool_docker_cleanup EXIT

docker_up
if ! ide_image; then
	not_ok "IDE image $IDE_IMAGE builds FROM $TEST_IMAGE"
	finish
fi
start_redis || { not_ok "redis-server starts"; finish; }
PROXY_EXTRA='flush_interval_ms = 100; hold_timeout_ms = 30000;'
IDEPOOL_EXTRA="docker_socket = \"$DOCKER_SOCK\"; members_dir = \"$T/members\";
	workspace_dir = \"$T/ws\"; sweep_interval_ms = 100;
	reconcile_interval_ms = 1000; workspace_max_bytes = 104857600;
	ready_timeout_ms = 15000;"
write_config
start_daemons proxy idepool || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events

# kill_idepool: kill -9, reaped at once (bash says nothing of it)
kill_idepool() { { kill -9 "$PID_idepool" && wait "$PID_idepool"; } 2>/dev/null; }
# restart_idepool: a new idepool on the same config, the old one's log
# kept as idepool.PID.log. The old PID (killed) leaves the list the
# trap kills: it may be reused.
restart_idepool() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$PID_idepool" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
	mv "$T/idepool.log" "$T/idepool.$PID_idepool.log"
	start idepool "$BIN/devcloud-idepool" -c "$CONF"
}
# count STATE [POOL]: members of POOL ($IDE) in STATE, as pool show says
count() {
	ctl pool show "${2:-$IDE}" 2>/dev/null |
		awk -v s="$1" 'f && $2 == s { n++ } /^MEMBER/ { f = 1 } END { print n + 0 }'
}
tiers_are() { [ "$(count active)" = "$1" ] && [ "$(count inactive)" = "$2" ]; }
# members_in STATE [POOL]: their ids
members_in() {
	ctl pool show "${2:-$IDE}" 2>/dev/null |
		awk -v s="$1" 'f && $2 == s { print $1 } /^MEMBER/ { f = 1 }'
}
# member_of DOMAIN: the member bound to DOMAIN, from Redis
member_of() { rcli HGET "$(key domains)" "$1" | sed 's,.*/,,'; }
unbound() { [ -z "$(rcli HGET "$(key domains)" "$1")" ]; }
# cid POOL MEMBER: the member's container id, from Docker
cid() { docker inspect -f '{{.Id}}' "devcloud-pool-$1-$2" 2>/dev/null; }
# gone CID: Docker has no such container, running or not
gone() { [ -z "$(docker ps -aq --no-trunc --filter "id=$1")" ]; }
event_for() { grep "\"type\":\"$1\"" "$T/events.log" | grep -q "$2"; }
# ide HOST CGI [CURL_ARGS]: a request to the IDE's CGI, through the proxy
ide() {
	local host=$1 cgi=$2
	shift 2
	px_curl "$host" "/cgi-bin/$cgi" "$@"
}
# docker_matches_redis POOL: the containers labelled for POOL are exactly
# the members Redis has for it (no orphan, none lost)
docker_matches_redis() {
	[ "$(rcli SMEMBERS "$(key members "$1")" | sort)" = \
		"$(docker ps -a --filter "label=devcloud.pool=$1" \
			--format '{{.Label "devcloud.member"}}' | sort)" ]
}
inactive_not_running() {
	local m n=0
	for m in $(members_in inactive); do
		docker_not_running "devcloud-pool-$IDE-$m" || return 1
		n=$((n + 1))
	done
	[ "$n" -ge 1 ]
}
active_running() {
	local m n=0
	for m in $(members_in active); do
		docker_running "devcloud-pool-$IDE-$m" || return 1
		n=$((n + 1))
	done
	[ "$n" -ge 1 ]
}

ctl pool create "$IDE" --image "$IDE_IMAGE" --cport 8080 --ready http:/ \
	--domain '*.ide.test' --workspace /workspace --active 2 --inactive 1 \
	--ttl 3 >/dev/null || not_ok "pool create"
if wait_for 40 tiers_are 2 1; then
	ok "pool fills its tiers: 2 active, 1 inactive"
else
	not_ok "pool fills its tiers (active $(count active), inactive $(count inactive))"
fi
check "INACTIVE members are created, not running (docker inspect)" inactive_not_running
check "ACTIVE members are running" active_running

# --- developer A: files in the store before the first request ---
WA=$T/ws/dev-a.ide.test
mkdir -p "$WA/src/deep/er" "$WA/docs"
head -c 1048576 /dev/urandom >"$WA/src/deep/blob.bin"
echo 'int main(void) { return 0; }' >"$WA/src/main.c"
echo 'three levels down' >"$WA/src/deep/er/note.txt"
printf 'readme\n' >"$WA/docs/README"
SUM_BLOB=$(sha256sum <"$WA/src/deep/blob.bin")

status=$(px_status dev-a.ide.test '/cgi-bin/f?/workspace/src/main.c' -o "$T/a_main.c")
if [ "$status" = 200 ] && cmp -s "$T/a_main.c" "$WA/src/main.c"; then
	ok "A's first request is served by a member with A's files"
else
	not_ok "A's first request is served with A's files (status $status)"
fi
ide dev-a.ide.test 'f?/workspace/src/deep/blob.bin' -o "$T/a_blob.bin"
check "A's 1 MB file is in the member, sha256 through the proxy" \
	test "$(sha256sum <"$T/a_blob.bin")" = "$SUM_BLOB"
check "A's nested file is in the member" \
	test "$(ide dev-a.ide.test 'f?/workspace/src/deep/er/note.txt')" = 'three levels down'
MA=$(member_of dev-a.ide.test)
CA=$(cid "$IDE" "$MA")
HA=$(ide dev-a.ide.test id)
check "A is served by the container of the member leased to A" \
	test -n "$HA" -a -n "$CA" -a "${CA#"$HA"}" != "$CA"
wait_for 5 event_for pool.leased dev-a.ide.test
check "pool.leased names A's domain, from the active tier" \
	sh -c "grep '\"type\":\"pool.leased\"' $T/events.log | grep dev-a.ide.test | grep -q '\"tier\":\"active\"'"
if wait_for 30 tiers_are 2 1; then
	ok "the pool refills to 2 active and 1 inactive after the lease"
else
	not_ok "the pool refills (active $(count active), inactive $(count inactive))"
fi
check "after the refill, INACTIVE members are not running" inactive_not_running

# A works: files in the workspace, in /tmp, a background process
ide dev-a.ide.test 'f?/workspace/notes/todo.txt' -X POST --data-binary 'A was here' >/dev/null
head -c 300000 /dev/urandom >"$T/a_new.bin"
ide dev-a.ide.test 'f?/workspace/new.bin' -X POST --data-binary "@$T/a_new.bin" >/dev/null
ide dev-a.ide.test 'f?/tmp/dev-a-secret' -X POST --data-binary 'token' >/dev/null
SPAWNED=$(ide dev-a.ide.test spawn -X POST)
check "A's workspace lists the files A wrote" \
	sh -c "curl -s -H 'Host: dev-a.ide.test' 'http://127.0.0.1:$PROXY_PORT/cgi-bin/ls?/workspace' |
		grep -qx /workspace/notes/todo.txt"
check "A's /tmp has A's file" \
	test "$(ide dev-a.ide.test 'f?/tmp/dev-a-secret')" = token
check "A's background process runs (pid $SPAWNED)" \
	sh -c "curl -s -H 'Host: dev-a.ide.test' http://127.0.0.1:$PROXY_PORT/cgi-bin/ps |
		grep -q '^ *$SPAWNED sleep 3600'"

# A goes away: released (idle), saved, the container removed
if wait_for 15 event_for pool.released dev-a.ide.test; then
	ok "A's lease lapses: pool.released"
else
	not_ok "A's lease lapses"
fi
check "the release says idle" \
	sh -c "grep '\"type\":\"pool.released\"' $T/events.log | grep dev-a.ide.test | grep -q '\"reason\":\"idle\"'"
check "A's container is removed (docker ps -a has no $HA)" wait_for 15 gone "$CA"
check "A's workspace is saved in the store" cmp -s "$WA/new.bin" "$T/a_new.bin"
check "the saved workspace has A's note" grep -qx 'A was here' "$WA/notes/todo.txt"
check "A's /tmp is not in the store" test ! -e "$WA/dev-a-secret" -a ! -e "$WA/tmp"

# --- developer B ---
HB=$(ide dev-b.ide.test id)
MB=$(member_of dev-b.ide.test)
check "B gets a member" test -n "$MB" -a -n "$HB"
check "B's container is not A's ($HB, A's $HA)" test "$HB" != "$HA"
check "B's member is not A's" test "$MB" != "$MA"
check "B's /tmp has nothing of A's" \
	test "$(px_status dev-b.ide.test '/cgi-bin/f?/tmp/dev-a-secret')" = 404
check "B's /tmp is empty" test -z "$(ide dev-b.ide.test 'ls?/tmp')"
no_sleep_in_b() {
	local ps
	ps=$(ide dev-b.ide.test ps) && echo "$ps" | grep -q httpd &&
		! echo "$ps" | grep -q 'sleep 3600'
}
check "A's process is not in B's ps" no_sleep_in_b
check "B's workspace has none of A's files" \
	test -z "$(ide dev-b.ide.test 'ls?/workspace')"

# --- A comes back ---
ide dev-a.ide.test 'f?/workspace/src/deep/blob.bin' -o "$T/a_blob2.bin"
check "A comes back: the 1 MB file byte for byte" \
	test "$(sha256sum <"$T/a_blob2.bin")" = "$SUM_BLOB"
ide dev-a.ide.test 'f?/workspace/new.bin' -o "$T/a_new2.bin"
check "A comes back: the file A wrote in the member, byte for byte" \
	cmp -s "$T/a_new2.bin" "$T/a_new.bin"
check "A comes back: A's note" \
	test "$(ide dev-a.ide.test 'f?/workspace/notes/todo.txt')" = 'A was here'
check "A comes back to another container" \
	sh -c "h=\$(curl -s -H 'Host: dev-a.ide.test' http://127.0.0.1:$PROXY_PORT/cgi-bin/id); test -n \"\$h\" -a \"\$h\" != $HA"

# --- a first request that outlives the ttl keeps its member: it is
# held for the pool, then counts for the lease while in flight (as a
# WebSocket opened by a developer's first request would) ---
st=$(px_status dev-s.ide.test '/cgi-bin/slow?5' -m 20 -o "$T/slow.out")
if [ "$st" = 200 ] && grep -qx 'slept 5' "$T/slow.out"; then
	ok "a first request longer than the ttl (5 s, ttl 3 s) is answered"
else
	not_ok "a first request longer than the ttl is answered ($st: $(head -c 200 "$T/slow.out" 2>/dev/null))"
	grep -h dev-s.ide.test "$T/proxy.log" "$T"/idepool*.log | sed 's/^/# /'
fi
check "its lease was not released while the request was in flight" \
	sh -c "! grep '\"type\":\"pool.released\"' $T/events.log | grep -q dev-s.ide.test"

# --- the breaker: an image that exits 1 at once ---
T0=$(date +%s.%N)
ctl pool create "$BROKEN" --image "$IDE_BROKEN_IMAGE" --cport 8080 \
	--ready http:/ --domain '*.broken.test' --active 1 --inactive 0 \
	>/dev/null || not_ok "pool create $BROKEN"
if wait_for 30 event_for pool.failing "\"pool\":\"$BROKEN\""; then
	ok "a broken image trips the breaker: pool.failing"
else
	not_ok "a broken image trips the breaker"
fi
sleep 3	# long enough for a fourth start, were there one
starts=$(docker events --since "$T0" --until "$(date +%s.%N)" \
	--filter event=start --filter "label=devcloud.pool=$BROKEN" | wc -l)
failed=$(grep -c "member failed.*pool=$BROKEN " "$T/idepool.log")
if [ "$starts" -ge 1 ] && [ "$starts" -le 3 ]; then
	ok "no more than 3 starts of the broken image ($starts by docker events)"
else
	not_ok "no more than 3 starts of the broken image ($starts by docker events)"
fi
check "as many members failed as started ($failed)" test "$failed" = "$starts"
check "one pool.failing, not one per failure" \
	test "$(grep '"type":"pool.failing"' "$T/events.log" | grep -c "\"pool\":\"$BROKEN\"")" = 1
check "pool show gives the reason" \
	sh -c "$BIN/devcloudctl -c $CONF pool show $BROKEN | grep -Eq '^failing .*(exited|did not start|not ready).*3 failures'"
st=$(px_status x.broken.test / -o "$T/broken.html")
[ "$st" = 503 ] && grep -q 'failing' "$T/broken.html" &&
	ok "a request to a failing pool gets 503 saying so" ||
	not_ok "a request to a failing pool gets 503 saying so ($st)"

# --- the store cannot be written: the member is kept, stopped ---
ide dev-c.ide.test 'f?/workspace/keep/me.txt' -X POST --data-binary 'keep me' >/dev/null
MC=$(member_of dev-c.ide.test)
CC=$(cid "$IDE" "$MC")
mount --bind "$T/ws" "$T/ws" && mount -o remount,ro,bind "$T/ws" && RO=1
if [ -n "${RO:-}" ] && [ -n "$CC" ]; then
	ctl pool release dev-c.ide.test >"$T/rel_c.out" 2>&1
	if wait_for 10 event_for pool.save_failed dev-c.ide.test; then
		ok "a save into a read-only store: pool.save_failed"
	else
		not_ok "a save into a read-only store: pool.save_failed ($(cat "$T/rel_c.out"))"
	fi
	check "pool release says the files could not be saved" \
		grep -q 'could not be saved' "$T/rel_c.out"
	check "the member is kept: its container exists, stopped" \
		wait_for 15 docker_not_running "$CC"
	check "pool show says kept" test "$(count kept)" = 1
	docker cp "$CC:/workspace/keep/me.txt" "$T/recovered.txt" 2>/dev/null
	check "the files are recoverable: docker cp out of the stopped container" \
		grep -qx 'keep me' "$T/recovered.txt"
	st=$(px_status dev-c.ide.test /cgi-bin/id -o "$T/kept.html")
	[ "$st" = 503 ] && grep -q 'could not be saved' "$T/kept.html" &&
		ok "the developer is told; nothing else is handed out over the kept files" ||
		not_ok "a request for the kept workspace is refused ($st)"
	umount "$T/ws" && RO=
	if ctl pool release dev-c.ide.test >/dev/null 2>&1 &&
		grep -qx 'keep me' "$T/ws/dev-c.ide.test/keep/me.txt"; then
		ok "once the store is writable, pool release saves the kept files"
	else
		not_ok "pool release saves the kept files"
	fi
	check "then the kept container is removed" wait_for 15 gone "$CC"
else
	not_ok "the store can be made read-only (mount --bind: ${RO:-no}) and dev-c has a member (${CC:-none})"
	[ -n "${RO:-}" ] && umount "$T/ws" && RO=
fi

# --- kill -9 of idepool during an acquire (a cold one: create, start,
# 2 s to ready) ---
ctl pool create "$SLOW" --image "$IDE_IMAGE" --cport 8080 --ready http:/ \
	--domain '*.slow.test' --workspace /workspace --active 0 --inactive 0 \
	--ttl 60 >/dev/null || not_ok "pool create $SLOW"
mkdir -p "$T/ws/dev-k.slow.test"
echo 'k was here' >"$T/ws/dev-k.slow.test/k.txt"
px_status dev-k.slow.test '/cgi-bin/f?/workspace/k.txt' -m 60 -o "$T/k1.body" >"$T/k1.status" &
wait_for 10 sh -c "! test -z \"\$(redis-cli -h $REDIS_HOST -p $REDIS_PORT HGET $(key domains) dev-k.slow.test)\""
MK=$(member_of dev-k.slow.test)
KSTATE=$(rcli HGET "$(key member "$SLOW" "$MK")" state)
kill_idepool
check "idepool killed while the acquire was under way (member $MK $KSTATE)" \
	test -n "$MK" -a "$KSTATE" = binding
restart_idepool
wait_for 10 healthz_is "$ADMIN_idepool" 200 || not_ok "idepool restarts"
# The proxy's acquire is sent again to the new idepool (nng's req
# resends on a new pipe): the domain ends bound to another member.
rebound() {
	local m
	m=$(member_of dev-k.slow.test)
	[ -n "$m" ] && [ "$m" != "$MK" ] &&
		[ "$(rcli HGET "$(key member "$SLOW" "$m")" state)" = leased ]
}
if wait_for 30 rebound; then
	ok "kill -9 during an acquire: the half-bound member is let go, the domain leased anew"
else
	not_ok "kill -9 during an acquire: the domain is leased anew ($(rcli HGET "$(key domains)" dev-k.slow.test))"
fi
check "kill -9 during an acquire: the held request is served, with the files" \
	wait_for 30 sh -c "grep -qx 200 $T/k1.status && grep -qx 'k was here' $T/k1.body"
check "kill -9 during an acquire: no member stuck in binding" \
	test "$(count binding "$SLOW")" = 0
check "kill -9 during an acquire: the workspace is intact" \
	grep -qx 'k was here' "$T/ws/dev-k.slow.test/k.txt"
if wait_for 20 docker_matches_redis "$SLOW"; then
	ok "kill -9 during an acquire: no orphan container (docker ps -a = Redis' members)"
else
	not_ok "kill -9 during an acquire: orphan containers (docker: $(docker ps -a \
		--filter "label=devcloud.pool=$SLOW" --format '{{.Label "devcloud.member"}}' |
		tr '\n' ' '); redis: $(rcli SMEMBERS "$(key members "$SLOW")" | tr '\n' ' '))"
fi

# --- kill -9 of idepool during a release (64 MB to save) ---
head -c 67108864 /dev/urandom >"$T/big_r.bin"
ide dev-r.ide.test 'f?/workspace/big.bin' -m 60 -X POST --data-binary "@$T/big_r.bin" >/dev/null
MR=$(member_of dev-r.ide.test)
CR=$(cid "$IDE" "$MR")
ctl -w 30000 pool release dev-r.ide.test >/dev/null 2>&1 &
caught=
for _ in $(seq 1000); do
	if [ "$(rcli HGET "$(key member "$IDE" "$MR")" state)" = releasing ]; then
		kill_idepool
		caught=1
		break
	fi
	sleep 0.002
done
if [ -n "$caught" ]; then
	ok "idepool killed with a release under way"
	restart_idepool
	wait_for 10 healthz_is "$ADMIN_idepool" 200 || not_ok "idepool restarts"
	if wait_for 40 gone "$CR"; then
		ok "kill -9 during a release: the release is finished after restart (container removed)"
	else
		not_ok "kill -9 during a release: the release is finished (container $CR still there)"
	fi
	check "kill -9 during a release: no workspace lost (64 MB byte for byte)" \
		cmp -s "$T/ws/dev-r.ide.test/big.bin" "$T/big_r.bin"
	check "kill -9 during a release: the domain is unbound" unbound dev-r.ide.test
	check "kill -9 during a release: no member stuck in releasing" \
		test "$(count releasing)" = 0
else
	not_ok "idepool killed with a release under way (never saw it releasing)"
fi
rm -f "$T/big_r.bin" "$T/ws/dev-r.ide.test/big.bin"
if wait_for 20 docker_matches_redis "$IDE"; then
	ok "after both restarts, no orphan container (docker ps -a = Redis' members)"
else
	not_ok "orphan containers after the restarts (docker: $(docker ps -a \
		--filter "label=devcloud.pool=$IDE" --format '{{.Label "devcloud.member"}}' |
		tr '\n' ' '); redis: $(rcli SMEMBERS "$(key members "$IDE")" | tr '\n' ' '))"
fi

# --- an orphan container made behind idepool's back is removed ---
docker create --name "devcloud-pool-$IDE-m9999" --label "devcloud.pool=$IDE" \
	--label devcloud.member=m9999 "$IDE_IMAGE" >/dev/null
check "an orphan container of the pool is removed by reconcile" \
	wait_for 15 sh -c "test -z \"\$(docker ps -aq --filter name=devcloud-pool-$IDE-m9999)\""

# --- pool rm --force: every workspace saved, every container removed ---
ide dev-z.ide.test 'f?/workspace/z.txt' -X POST --data-binary 'zzz' >/dev/null
for p in "$IDE" "$BROKEN" "$SLOW"; do
	ctl pool rm "$p" --force >/dev/null || not_ok "pool rm $p --force"
done
no_container_left() {
	[ -z "$(docker ps -aq --filter "label=devcloud.pool=$IDE")$(docker ps -aq \
		--filter "label=devcloud.pool=$BROKEN")$(docker ps -aq \
		--filter "label=devcloud.pool=$SLOW")" ]
}
check "pool rm --force removes every container of the pools" wait_for 30 no_container_left
check "pool rm --force saved the workspaces first" grep -qx zzz "$T/ws/dev-z.ide.test/z.txt"
finish
