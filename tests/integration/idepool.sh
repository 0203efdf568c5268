#!/bin/bash
# IDE pools with the process driver: a developer's first request takes a
# ready member and finds their files in it; the pool refills to its
# tiers; the lease lapses, the files are saved and the member destroyed,
# and the next developer gets a member that never served anyone; the
# first developer comes back to their files, byte for byte. Then the
# limits and the failures: a workspace too large or holding a link out
# of it, a broken command tripping the breaker, a store that cannot be
# written (member kept, files recoverable), kill -9 of idepool during an
# acquire and during a release, and pool rm. Real redis-server, bus,
# proxy, idepool, curl, and deploy/ide/ide.py as the IDE.
. "$(dirname "$0")/lib.sh"

# Members are process groups of their own: idepool leaves them running
# when it stops (a restart finds them again), so the trap stops them by
# the pids their directories record, and unmounts the read-only store.
pool_cleanup() {
	local rc=$? f p
	[ -n "${RO:-}" ] && umount "$T/ws" 2>/dev/null
	for f in "$T"/members/*/*/pid "$T"/members2/*/*/pid; do
		[ -f "$f" ] && read -r p _ <"$f" && [ -n "$p" ] &&
			kill -KILL -- "-$p" 2>/dev/null
	done
	(exit $rc)
	cleanup
}
trap pool_cleanup EXIT

PROXY_EXTRA='flush_interval_ms = 100; hold_timeout_ms = 20000;'
IDEPOOL_EXTRA="members_dir = \"$T/members\"; workspace_dir = \"$T/ws\";
	sweep_interval_ms = 100; reconcile_interval_ms = 1000;
	workspace_max_bytes = 104857600; ready_timeout_ms = 10000;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons proxy idepool || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events

IDE="mkdir -p tmp && TMPDIR=\$PWD/tmp exec python3 $ROOT/deploy/ide/ide.py"
# count STATE [POOL]: members of POOL (ide) in STATE
count() {
	ctl pool show "${2:-ide}" 2>/dev/null |
		awk -v s="$1" 'f && $2 == s { n++ } /^MEMBER/ { f = 1 } END { print n + 0 }'
}
tiers_are() {
	[ "$(count active "${3:-}")" = "$1" ] && [ "$(count inactive "${3:-}")" = "$2" ]
}
# member_of DOMAIN: the member bound to DOMAIN, from Redis
member_of() { rcli HGET "$(key domains)" "$1" | sed 's,.*/,,'; }
events_of() { grep -c "\"type\":\"$1\"" "$T/events.log"; }
who() { px_curl "$1" /whoami | awk '{ print $1 }'; }

ctl pool create ide --driver process --command "$IDE" --ready http:/ready \
	--domain '*.ide.test' --active 2 --inactive 1 --ttl 2 >/dev/null ||
	not_ok "pool create"
if wait_for 15 tiers_are 2 1; then
	ok "pool fills its tiers: 2 active, 1 inactive"
else
	not_ok "pool fills its tiers (active $(count active), inactive $(count inactive))"
fi
check "pool list shows it" sh -c "$BIN/devcloudctl -c $CONF pool list | grep -q '^ide .*process'"

# --- developer A ---
mkdir -p "$T/ws/dev-a.ide.test/src/deep"
head -c 1048576 /dev/urandom >"$T/ws/dev-a.ide.test/src/deep/blob.bin"
echo 'int main(void) { return 0; }' >"$T/ws/dev-a.ide.test/src/main.c"
SUM_BLOB=$(sha256sum <"$T/ws/dev-a.ide.test/src/deep/blob.bin")

status=$(px_status dev-a.ide.test /ws/src/main.c -o "$T/a_main.c")
if [ "$status" = 200 ] && cmp -s "$T/a_main.c" "$T/ws/dev-a.ide.test/src/main.c"; then
	ok "A's first request is served by a member with A's files"
else
	not_ok "A's first request is served with A's files (status $status)"
fi
px_curl dev-a.ide.test /ws/src/deep/blob.bin -o "$T/a_blob.bin"
check "A's 1 MB file is in the member, byte for byte" \
	test "$(sha256sum <"$T/a_blob.bin")" = "$SUM_BLOB"
MA=$(member_of dev-a.ide.test)
PA=$(who dev-a.ide.test)
check "the lease names a member" test -n "$MA"
grep '"type":"pool.leased"' "$T/events.log" | grep -q '"domain":"dev-a.ide.test".*"tier":"active"' ||
	wait_for 5 sh -c "grep '\"type\":\"pool.leased\"' $T/events.log | grep -q dev-a.ide.test"
check "pool.leased names A's domain, from the active tier" \
	sh -c "grep '\"type\":\"pool.leased\"' $T/events.log | grep dev-a.ide.test | grep -q '\"tier\":\"active\"'"
if wait_for 15 tiers_are 2 1; then
	ok "the pool refills to 2 active and 1 inactive after the lease"
else
	not_ok "the pool refills (active $(count active), inactive $(count inactive))"
fi

# A works: files in the workspace, in /tmp, a background process
px_curl dev-a.ide.test /ws/notes/todo.txt -X PUT --data-binary 'A was here' >/dev/null
head -c 300000 /dev/urandom >"$T/a_new.bin"
px_curl dev-a.ide.test /ws/new.bin -X PUT --data-binary "@$T/a_new.bin" >/dev/null
px_curl dev-a.ide.test /tmp/dev-a-secret -X PUT --data-binary 'token' >/dev/null
SPAWNED=$(px_curl dev-a.ide.test /spawn -X POST)
check "A's background process runs" kill -0 "$SPAWNED"

# activity pushes the deadline: requests every 0.5 s for 3 s (ttl 2 s)
for _ in 1 2 3 4 5 6; do
	px_curl dev-a.ide.test /whoami >/dev/null
	sleep 0.5
done
check "a lease in use outlives its ttl (same member)" \
	test "$(member_of dev-a.ide.test)" = "$MA"
# an open exchange (an IDE's WebSocket is one) keeps it too: 4 s > ttl
check "a lease with an exchange open for twice its ttl is kept" \
	sh -c "test \"\$(curl -s -m 10 -H 'Host: dev-a.ide.test' http://127.0.0.1:$PROXY_PORT/sleep/4)\" = slept"
check "... the same member after it" test "$(member_of dev-a.ide.test)" = "$MA"

# A goes away: released, saved, destroyed
if wait_for 10 sh -c "grep '\"type\":\"pool.released\"' $T/events.log | grep -q dev-a.ide.test"; then
	ok "A's lease lapses: pool.released"
else
	not_ok "A's lease lapses"
fi
grep '"type":"pool.released"' "$T/events.log" | grep dev-a.ide.test | grep -q '"reason":"idle"' &&
	ok "the release says idle" || not_ok "the release says idle"
check "A's member is destroyed (its directory is gone)" \
	wait_for 10 sh -c "! test -e $T/members/ide/$MA"
check "A's background process is gone" wait_for 10 sh -c "! kill -0 $SPAWNED 2>/dev/null"
check "A's workspace is saved in the store" \
	cmp -s "$T/ws/dev-a.ide.test/new.bin" "$T/a_new.bin"
check "the saved workspace has A's note" \
	grep -qx 'A was here' "$T/ws/dev-a.ide.test/notes/todo.txt"
check "A's /tmp is not in the store" test ! -e "$T/ws/dev-a.ide.test/tmp"

# --- developer B ---
PB=$(who dev-b.ide.test)
MB=$(member_of dev-b.ide.test)
check "B gets a member" test -n "$MB"
check "B's member is not A's (member id)" test "$MB" != "$MA"
check "B's member is not A's process" test "$PB" != "$PA"
check "B's /tmp has nothing of A's" test -z "$(px_curl dev-b.ide.test /tmp)"
no_proc_of_a() { ! px_curl dev-b.ide.test /procs | grep -qx "$SPAWNED"; }
check "B's member runs no process of A's" no_proc_of_a
check "B's workspace has none of A's files" \
	test "$(px_status dev-b.ide.test /ws/src/main.c)" = 404

# --- A comes back ---
wait_for 10 sh -c "test -z \"\$(redis-cli -h $REDIS_HOST -p $REDIS_PORT HGET $(key domains) dev-a.ide.test)\"" || true
px_curl dev-a.ide.test /ws/src/deep/blob.bin -o "$T/a_blob2.bin"
check "A comes back: the 1 MB file byte for byte" \
	test "$(sha256sum <"$T/a_blob2.bin")" = "$SUM_BLOB"
px_curl dev-a.ide.test /ws/new.bin -o "$T/a_new2.bin"
check "A comes back: the file A wrote in the member" cmp -s "$T/a_new2.bin" "$T/a_new.bin"
check "A comes back to a new member" test "$(member_of dev-a.ide.test)" != "$MA"

# --- manual release ---
if ctl pool release dev-a.ide.test >"$T/release.out" 2>&1 &&
	grep -q 'released' "$T/release.out"; then
	ok "pool release DOMAIN saves and releases at once"
else
	not_ok "pool release DOMAIN ($(head -c 200 "$T/release.out"))"
fi
check "after a manual release the domain is unbound" \
	wait_for 5 sh -c "test -z \"\$(redis-cli -h $REDIS_HOST -p $REDIS_PORT HGET $(key domains) dev-a.ide.test)\""
refused 1 'no lease' ctl pool release nobody.ide.test &&
	ok "pool release of a domain with no lease says so" ||
	not_ok "pool release of a domain with no lease says so"

# --- limits ---
mkdir -p "$T/ws/big.ide.test"
truncate -s 110000000 "$T/ws/big.ide.test/huge.bin"	# sparse: costs no disk
px_curl big.ide.test / -o "$T/big.html" -w '%{http_code}' >"$T/big.status"
if [ "$(cat "$T/big.status")" = 503 ] && grep -q 'pool ide' "$T/big.html" &&
	grep -qiE 'bytes|max|large|limit' "$T/big.html"; then
	ok "a workspace over workspace_max_bytes is refused with a page saying so"
else
	not_ok "a workspace over the limit is refused ($(cat "$T/big.status"): $(head -c 300 "$T/big.html"))"
fi
check "the too large workspace is left as it was" \
	test "$(stat -c %s "$T/ws/big.ide.test/huge.bin")" = 110000000
mkdir -p "$T/ws/evil.ide.test"
ln -s /etc "$T/ws/evil.ide.test/etc"
px_curl evil.ide.test / -o "$T/evil.html" -w '%{http_code}' >"$T/evil.status"
if [ "$(cat "$T/evil.status")" = 503 ] && grep -qiE 'link|outside|leaves' "$T/evil.html"; then
	ok "a workspace with a symlink out of it is refused, naming it"
else
	not_ok "a symlink out of the workspace is refused ($(cat "$T/evil.status"): $(head -c 300 "$T/evil.html"))"
fi
check "nothing of /etc went into any member" \
	sh -c "! find $T/members -name passwd | grep -q ."
check "no domain stays bound after a refused acquire" \
	wait_for 5 sh -c "test -z \"\$(redis-cli -h $REDIS_HOST -p $REDIS_PORT HGET $(key domains) evil.ide.test)\$(redis-cli -h $REDIS_HOST -p $REDIS_PORT HGET $(key domains) big.ide.test)\""

# --- the breaker ---
ctl pool create broken --driver process \
	--command "echo start >>$T/broken.starts; exit 1" --domain '*.broken.test' \
	--active 1 --inactive 0 >/dev/null || not_ok "pool create broken"
if wait_for 20 sh -c "grep '\"type\":\"pool.failing\"' $T/events.log | grep -q broken"; then
	ok "a broken command trips the breaker: pool.failing"
else
	not_ok "a broken command trips the breaker"
fi
sleep 2
n=$(wc -l <"$T/broken.starts" 2>/dev/null || echo 0)
[ "$n" -le 3 ] && [ "$n" -ge 1 ] && ok "no more than 3 starts of the broken member ($n)" ||
	not_ok "no more than 3 starts of the broken member ($n)"
check "pool show gives the reason" \
	sh -c "$BIN/devcloudctl -c $CONF pool show broken | grep -q '^failing .*not ready\|^failing .*did not start\|^failing .*3 failures'"
st=$(px_status x.broken.test / -o "$T/broken.html")
[ "$st" = 503 ] && grep -q 'failing' "$T/broken.html" &&
	ok "a request to a failing pool gets 503 saying so" ||
	not_ok "a request to a failing pool gets 503 saying so ($st)"
ctl pool resume broken >/dev/null
check "pool resume starts again" wait_for 10 sh -c "test \$(wc -l <$T/broken.starts) -gt $n"

# --- the store cannot be written: the member is kept ---
px_curl dev-c.ide.test /ws/keep.txt -X PUT --data-binary 'keep me' >/dev/null
MC=$(member_of dev-c.ide.test)
mount --bind "$T/ws" "$T/ws" && mount -o remount,ro,bind "$T/ws" && RO=1
if [ -n "${RO:-}" ]; then
	ctl pool release dev-c.ide.test >"$T/rel_c.out" 2>&1
	if wait_for 10 sh -c "grep '\"type\":\"pool.save_failed\"' $T/events.log | grep -q dev-c.ide.test"; then
		ok "a save into a read-only store: pool.save_failed"
	else
		not_ok "a save into a read-only store: pool.save_failed ($(cat "$T/rel_c.out"))"
	fi
	check "the member is kept" test "$(count kept)" = 1
	check "the kept member's files are there" \
		grep -qx 'keep me' "$T/members/ide/$MC/workspace/keep.txt"
	st=$(px_status dev-c.ide.test / -o "$T/kept.html")
	[ "$st" = 503 ] && grep -q 'could not be saved' "$T/kept.html" &&
		ok "the developer is told, nothing is handed out over the kept files" ||
		not_ok "a request for the kept workspace is refused ($st)"
	umount "$T/ws"
	RO=
	if ctl pool release dev-c.ide.test >/dev/null 2>&1 &&
		grep -qx 'keep me' "$T/ws/dev-c.ide.test/keep.txt"; then
		ok "once the store is writable, pool release saves the kept files"
	else
		not_ok "pool release saves the kept files"
	fi
else
	not_ok "the store can be made read-only (mount --bind)"
fi

# --- kill -9 of idepool during an acquire ---
ctl pool create slow --driver process --command "READY_DELAY_MS=3000 $IDE" \
	--ready http:/ready --domain '*.slow.test' --active 0 --inactive 0 --ttl 60 >/dev/null
px_status dev-k.slow.test /whoami >"$T/k1.status" &
wait_for 5 sh -c "test -n \"\$(redis-cli -h $REDIS_HOST -p $REDIS_PORT HGET $(key domains) dev-k.slow.test)\""
MK=$(member_of dev-k.slow.test)
kill -9 "$PID_idepool"
wait "$PID_idepool" 2>/dev/null
start idepool "$BIN/devcloud-idepool" -c "$CONF"
wait_for 10 healthz_is "$ADMIN_idepool" 200 || not_ok "idepool restarts"
# The proxy's acquire is sent again to the new idepool (nng's req
# resends on a new pipe): the domain ends bound to another member.
if wait_for 20 sh -c "m=\$(redis-cli -h $REDIS_HOST -p $REDIS_PORT HGET $(key domains) dev-k.slow.test); test -n \"\$m\" && test \"\${m#slow/}\" != $MK"; then
	ok "kill -9 during an acquire: the half-bound member is let go, the domain bound anew"
else
	not_ok "kill -9 during an acquire: the domain is bound anew ($(rcli HGET "$(key domains)" dev-k.slow.test))"
fi
check "kill -9 during an acquire: its member is destroyed" \
	wait_for 10 sh -c "! test -e $T/members/slow/$MK"
st=$(px_status dev-k.slow.test /whoami)
[ "$st" = 200 ] && ok "the developer's next request is served" ||
	not_ok "the developer's next request is served ($st)"
check "the held request was served too" wait_for 10 grep -qx 200 "$T/k1.status"
check "the domain is leased, not half-way" \
	test "$(rcli HGET "$(key member slow "$(member_of dev-k.slow.test)")" state)" = leased
check "kill -9 during an acquire: no member stuck in binding" \
	test "$(count binding slow)" = 0

# --- kill -9 of idepool during a release ---
head -c 67108864 /dev/urandom >"$T/big_r.bin" 2>/dev/null
px_curl dev-r.ide.test /ws/big.bin -X PUT --data-binary "@$T/big_r.bin" >/dev/null
MR=$(member_of dev-r.ide.test)
ctl -w 20000 pool release dev-r.ide.test >/dev/null 2>&1 &
caught=
for _ in $(seq 500); do
	if [ "$(rcli HGET "$(key member ide "$MR")" state)" = releasing ]; then
		kill -9 "$PID_idepool"
		caught=1
		break
	fi
	sleep 0.002
done
if [ -n "$caught" ]; then
	wait "$PID_idepool" 2>/dev/null
	ok "idepool killed with a release in progress"
	start idepool "$BIN/devcloud-idepool" -c "$CONF"
	wait_for 10 healthz_is "$ADMIN_idepool" 200 || not_ok "idepool restarts"
	if wait_for 30 sh -c "! test -e $T/members/ide/$MR"; then
		ok "kill -9 during a release: the release is finished after restart"
	else
		not_ok "kill -9 during a release: the release is finished"
	fi
	check "kill -9 during a release: no workspace lost (64 MB byte for byte)" \
		cmp -s "$T/ws/dev-r.ide.test/big.bin" "$T/big_r.bin"
	check "kill -9 during a release: the domain is unbound" \
		test -z "$(rcli HGET "$(key domains)" dev-r.ide.test)"
else
	not_ok "idepool killed with a release in progress (never saw it)"
fi
rm -f "$T/big_r.bin" "$T/ws/dev-r.ide.test/big.bin"

# --- reconcile: an orphan and a lost member ---
mkdir -p "$T/members/ide/m999/workspace"
check "an orphan member directory is removed" wait_for 10 sh -c "! test -e $T/members/ide/m999"

# --- pool rm ---
px_status dev-z.ide.test /ws/z.txt -X PUT --data-binary 'zzz' >/dev/null
refused 1 'lease' ctl pool rm ide && ok "pool rm with leases is refused" ||
	not_ok "pool rm with leases is refused"
ctl pool rm ide --force >/dev/null || not_ok "pool rm --force"
if wait_for 30 sh -c "! redis-cli -h $REDIS_HOST -p $REDIS_PORT SISMEMBER $(key pools) ide | grep -q 1"; then
	ok "pool rm --force removes the pool"
else
	not_ok "pool rm --force removes the pool"
fi
check "pool rm --force saved the workspaces first" grep -qx zzz "$T/ws/dev-z.ide.test/z.txt"
check "pool rm leaves no member" sh -c "test -z \"\$(ls -A $T/members/ide 2>/dev/null)\""
check "pool rm removes its route" test -z "$(rcli HGET "$(key routes)" '*.ide.test')"
grep '"type":"pool.released"' "$T/events.log" | grep dev-z.ide.test | grep -q pool_removed &&
	ok "the release says pool_removed" || not_ok "the release says pool_removed"
check "idepool serves /metrics with members by state" \
	sh -c "curl -s http://$ADMIN_idepool/metrics | grep -q 'devcloud_idepool_members{pool=\"slow\"'"
finish
