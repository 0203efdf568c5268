#!/bin/bash
# The upstream pool when the upstream closes keep-alive connections on
# its own (pool_upstream.py keeps a record of every request it sees):
# a bodyless request written on a pooled connection that the upstream
# closes before answering is sent again, once, on a new connection (not
# on another pooled one: it may be stale too); a request with a body is
# not sent twice (502); a request that fails on a new connection is not
# retried; an idle connection the upstream closes leaves the pool at
# once.
. "$(dirname "$0")/proxy_env.bash"

U=$(free_ports 1)
REC=$T/upstream.rec
: >"$REC"
start upstream python3 "$HERE/pool_upstream.py" "$U" "$REC"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$U" ||
	{ not_ok "upstream starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }
route pool.test "127.0.0.1:$U" || { not_ok "route add"; finish; }

# get PATH [curl args]: through the proxy; prints "CODE BODY".
get() {
	local path=$1
	shift
	px_status pool.test "$path" -o "$T/body" "$@" >"$T/code"
	echo "$(cat "$T/code") $(cat "$T/body")"
}
# tries PATH: how PATH reached the upstream, one word per time in order:
# "new-" (the first request on its connection) or "reused-" (a later
# one), then "answered" or "dropped".
tries() {
	awk -v p="$1" '$4 == p {printf "%s%s-%s", sep, ($2 > 1 ? "reused" : "new"), $6
		sep = " "} END {print ""}' "$REC"
}
# conn PATH: the connection that carried PATH last.
conn() { awk -v p="$1" '$4 == p {c = $1} END {print c}' "$REC"; }
# idle_is N: the proxy holds N idle connections to the upstream (with
# one, the next request is written on it).
idle_is() { metric_is devcloud_proxy_upstream_idle_connections "$1"; }
# prime NAME PATH: the /stale/ PATH is answered (the upstream will end
# its connection's next request), then waits for that connection to be
# the one idle in the pool.
prime() {
	check "$1: primed on a pooled connection" \
		[ "$(get "$2")" = "200 stale" ]
	wait_for 2 idle_is 1
}

errors0=$(metric devcloud_proxy_upstream_errors_total)

# stale_retry HOW: the upstream ends the pooled connection the next
# request goes out on, having read the request (fin), or resetting it
# unread as a socket it had just closed would (rst): a GET is sent again
# on a new connection.
stale_retry() {
	local how=$1 path=/ok/$1-retry out

	prime "stale/$how" "/stale/$how"
	out=$(get "$path")
	check "stale/$how: a GET is answered 200 by the upstream, not 502" \
		[ "${out% conn=*}" = "200 $how-retry" ]
	check "stale/$how: dropped on the pooled connection, answered on a new one" \
		[ "$(tries "$path")" = "reused-dropped new-answered" ]
	check "stale/$how: the answer came from the new connection" \
		[ "${out##*conn=}" = "$(conn "$path")" ]
}
retries0=$(metric devcloud_proxy_upstream_retries_total)
stale_retry fin
stale_retry rst
check "each retry is counted" \
	[ "$(metric devcloud_proxy_upstream_retries_total)" = $((retries0 + 2)) ]
check "a retried request is not an upstream error" \
	metric_is devcloud_proxy_upstream_errors_total "$errors0"

# A request with a body on a stale connection: its body is not kept to
# send again, so it is a 502 and the upstream saw it once.
prime "stale + body" /stale/fin
out=$(get /ok/post-body -H 'Expect:' --data-binary hello)
check "stale + body: a POST with a body gets 502" [ "${out%% *}" = 502 ]
check "stale + body: the 502 page says the upstream closed without answering" \
	grep -q 'closed the connection without answering' "$T/body"
check "stale + body: the upstream saw it once, not twice" \
	[ "$(tries /ok/post-body)" = "reused-dropped" ]

# A POST without a body is not idempotent either (RFC 9110, 9.2.2): a
# second copy could do the thing twice, so it is not sent again.
prime "stale + POST" /stale/fin
out=$(get /ok/p0 -X POST -H 'Content-Length: 0')
check "stale + POST: a bodyless POST gets 502" [ "${out%% *}" = 502 ]
check "stale + POST: the upstream saw it once, not twice" \
	[ "$(tries /ok/p0)" = "reused-dropped" ]
# DELETE is idempotent: sent again on a new connection.
prime "stale + DELETE" /stale/fin
out=$(get /ok/d0 -X DELETE)
check "stale + DELETE: answered 200 on a new connection" \
	[ "${out% conn=*}" = "200 d0" ]
check "stale + DELETE: dropped, then answered" \
	[ "$(tries /ok/d0)" = "reused-dropped new-answered" ]

# Only once: a request dropped on the pooled connection and again on the
# new one is a 502 after exactly two tries.
check "twice: primed on a pooled connection" \
	[ "$(get /ok/warm | cut -d' ' -f1-2)" = "200 warm" ]
wait_for 2 idle_is 1
out=$(get /drop/twice)
check "dropped twice: 502" [ "${out%% *}" = 502 ]
check "dropped twice: the upstream saw exactly two tries" \
	[ "$(tries /drop/twice)" = "reused-dropped new-dropped" ]

# A request written on a new connection is never retried.
check "nothing pooled" wait_for 2 idle_is 0
out=$(get /drop/fresh)
check "dropped on a new connection: 502" [ "${out%% *}" = 502 ]
check "dropped on a new connection: the upstream saw it once" \
	[ "$(tries /drop/fresh)" = "new-dropped" ]

# An idle connection the upstream closes leaves the pool at once: the
# next request goes out on a new connection, no retry needed.
check "idle-close: answered" [ "$(get /idle-close/200)" = "200 idle-close" ]
check "idle-close: the closed connection leaves the pool" wait_for 3 idle_is 0
out=$(get /ok/after-idle)
check "idle-close: the next request is answered" \
	[ "${out% conn=*}" = "200 after-idle" ]
check "idle-close: sent once, on a new connection" \
	[ "$(tries /ok/after-idle)" = "new-answered" ]

# Every pooled connection is stale (an upstream that restarted, say):
# the second try goes out on a new connection, not on another of them.
px_curl pool.test /stale/fin/300 -o /dev/null &
p=$!
check "two stale: both primed" [ "$(get /stale/fin/300)" = "200 stale" ]
wait $p
check "two stale: two idle connections" wait_for 2 idle_is 2
out=$(get /ok/two-stale)
check "two stale: a GET is answered 200 by the upstream, not 502" \
	[ "${out% conn=*}" = "200 two-stale" ]
check "two stale: retried on a new connection, not the other stale one" \
	[ "$(tries /ok/two-stale)" = "reused-dropped new-answered" ]

finish
