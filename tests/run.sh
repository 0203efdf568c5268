#!/bin/bash
# Runs every unit test binary and every integration script, and ends
# with one line: "N passed, N failed".
#
# Each test prints "ok - NAME" or "not ok - NAME" per case; a program
# that exits non-zero without reporting a failed case counts as one.
# TESTS="pattern" runs only the tests whose path matches.
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/devcloud-tests.XXXXXX")

run_one() {
	local t=$1 name log rc p f
	name=$(basename "$t")
	log="$logdir/$name.log"
	printf '%-40s ' "$name"
	# A test that hangs is stopped (its trap cleans up) and counts as failed.
	timeout -k 10 "${TEST_TIMEOUT:-600}" "$t" >"$log" 2>&1 </dev/null
	rc=$?
	[ "$rc" -eq 124 ] && echo "not ok - $name: still running after ${TEST_TIMEOUT:-600} s" >>"$log"
	p=$(grep -c '^ok - ' "$log")
	f=$(grep -c '^not ok - ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name: exited $rc" >>"$log"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -gt 0 ]; then
		echo "$p passed, $f FAILED"
		failures+=("$name")
		grep '^not ok - ' "$log" | sed 's/^/    /'
		echo "    --- last lines of $log:"
		tail -n 25 "$log" | sed 's/^/    | /'
	else
		echo "$p passed"
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
	[ -f "$t" ] && tests+=("$t")
done
for t in "${tests[@]}"; do
	if [ -n "${TESTS:-}" ] && [[ "$t" != *${TESTS}* ]]; then
		continue
	fi
	run_one "$t"
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]} (logs in $logdir)"
[ ${#failures[@]} -eq 0 ] && rm -rf "$logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
