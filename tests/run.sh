#!/bin/bash
# Runs every unit test binary and every integration script, and ends
# with one line: "N passed, N failed, N skipped".
#
# Each test prints one line per case, as TAP does:
#
#   ok - NAME                  passed
#   not ok - NAME              failed
#   ok - NAME # SKIP REASON    skipped: counted apart, never as passed
#
# A case is skipped only when this machine lacks what it needs and may
# lawfully lack it (no IPv6 loopback, no way to run dockerd, a sanitizer
# build where a memory bound means nothing); C tests say SKIP("reason")
# (tests/unit/unit.h), shell tests `skip NAME REASON` or `skip_all
# REASON` (tests/integration/lib.sh). Every skipped case is listed under
# its test. A program that exits non-zero without reporting a failed
# case counts as one failure, and so does one that reports no case at
# all: a test that stops reporting cannot pass by saying nothing.
# TESTS="pattern ..." runs only the tests whose path matches one of the
# patterns; the slow tests/integration/compose.sh and swarm.sh run only
# then.
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
skipped=0
failures=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/devcloud-tests.XXXXXX")

SKIP_RE='^ok - .* # SKIP'

run_one() {
	local t=$1 name log rc p f s also=""
	name=$(basename "$t")
	log="$logdir/$name.log"
	printf '%-40s ' "$name"
	# A test that hangs is stopped (its trap cleans up) and counts as failed.
	timeout -k 10 "${TEST_TIMEOUT:-600}" "$t" >"$log" 2>&1 </dev/null
	rc=$?
	[ "$rc" -eq 124 ] && echo "not ok - $name: still running after ${TEST_TIMEOUT:-600} s" >>"$log"
	s=$(grep -c "$SKIP_RE" "$log")
	p=$(($(grep -c '^ok - ' "$log") - s))
	f=$(grep -c '^not ok - ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name: exited $rc" >>"$log"
		f=1
	elif [ $((p + f + s)) -eq 0 ]; then
		echo "not ok - $name: reported no case" >>"$log"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	[ "$s" -gt 0 ] && also=", $s skipped"
	if [ "$f" -gt 0 ]; then
		echo "$p passed, $f FAILED$also"
		failures+=("$name")
		grep '^not ok - ' "$log" | sed 's/^/    /'
		grep "$SKIP_RE" "$log" | sed 's/^/    /'
		echo "    --- last lines of $log:"
		tail -n 25 "$log" | sed 's/^/    | /'
	else
		echo "$p passed$also"
		grep "$SKIP_RE" "$log" | sed 's/^/    /'
	fi
}

tests=()
BUILD=${DEVCLOUD_BUILD:-build}
export DEVCLOUD_BUILD=$BUILD
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] && tests+=("$t")
done
for t in tests/integration/*.sh; do
	case $(basename "$t") in lib*.sh) continue ;; esac
	# Slow ones (they build container images) run only when TESTS
	# names them: make test-containers.
	case $(basename "$t") in
	compose.sh | swarm.sh) [ -n "${TESTS:-}" ] || continue ;;
	esac
	[ -f "$t" ] && tests+=("$t")
done
# matches T: T's path matches a pattern of TESTS (all when it is empty).
matches() {
	local p
	[ -n "${TESTS:-}" ] || return 0
	for p in $TESTS; do
		[[ "$1" == *${p}* ]] && return 0
	done
	return 1
}
for t in "${tests[@]}"; do
	matches "$t" && run_one "$t"
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]} (logs in $logdir)"
[ ${#failures[@]} -eq 0 ] && rm -rf "$logdir"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
