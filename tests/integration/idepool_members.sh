#!/bin/bash
# idepool's docker members against a real dockerd: the cases of
# tests/unit/test_idepool_member.c (lifecycle, load_refused,
# save_refused, owner, gone, errors) run by its binary with the docker driver,
# on the test image (busybox httpd serving /www on 8080; the pool's
# workspace is /www/ws, so what is loaded is served). Then what the
# cases must have left: no container of the test's pools.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

BINARY=${DEVCLOUD_BUILD:-$ROOT/build}/tests/test_idepool_member
[ -x "$BINARY" ] || { not_ok "$BINARY is built (make unit)"; finish; }

docker_up
if ! docker_test_image; then
	not_ok "test image $TEST_IMAGE builds from busybox-static"
	finish
fi

# The same image run as "1000:1000", a user its passwd does not know.
USER_IMAGE=devcloud-test/busybox-user:$TEST_IMAGE_REV
if ! docker image inspect "$USER_IMAGE" >/dev/null 2>&1; then
	cid=$(docker create "$TEST_IMAGE") &&
		docker commit --change 'USER 1000:1000' "$cid" "$USER_IMAGE" \
			>/dev/null
	docker rm -f "$cid" >/dev/null 2>&1
	docker image inspect "$USER_IMAGE" >/dev/null 2>&1 ||
		{ not_ok "image $USER_IMAGE made from $TEST_IMAGE"; finish; }
fi

# The binary names its pools t<its pid>-...: whatever it leaves is
# removed by the trap too.
cleanup_pools() {
	docker ps -aq --filter "label=devcloud.pool" --filter \
		"name=devcloud-pool-t$1-" | xargs -r docker rm -f >/dev/null 2>&1
}

# Its lines, renamed to this test's: "ok - idepool_members: docker: CASE".
TMPDIR=$T DEVCLOUD_TEST_MEMBER_DRIVER=docker \
	DEVCLOUD_TEST_DOCKER_SOCK=$DOCKER_SOCK DEVCLOUD_TEST_IMAGE=$TEST_IMAGE \
	DEVCLOUD_TEST_IMAGE_USER=$USER_IMAGE \
	"$BINARY" >"$T/cases.out" 2>"$T/cases.log" &
pid=$!
wait $pid
rc=$?
sed 's/^/# /' "$T/cases.log"
sed -E 's/^(not )?ok - test_idepool_member\.c: /\1ok - idepool_members: docker: /' \
	"$T/cases.out"
grep -q '^not ok' "$T/cases.out" && FAILS=$((FAILS + 1))
[ "$rc" -eq 0 ] || [ "$FAILS" -gt 0 ] ||
	not_ok "the cases' binary exited $rc"
[ "$(grep -cE '^(not )?ok' "$T/cases.out")" -ge 6 ] ||
	not_ok "every case reported (got: $(tr '\n' ' ' <"$T/cases.out"))"

left=$(docker ps -aq --filter "name=devcloud-pool-t$pid-")
if [ -z "$left" ]; then
	ok "no container left by the cases"
else
	not_ok "containers left by the cases: $left"
	cleanup_pools "$pid"
fi
finish
