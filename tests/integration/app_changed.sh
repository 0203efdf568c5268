#!/bin/bash
# A change to a running app's record reaches the proxy at once through
# app.changed, not at its next periodic reload: after `app update --ttl`
# the proxy pushes the new TTL as the app's deadline on the next request.
# The reload is set to 10 minutes, so only the event can bring the change
# within the test's bounds. The real proxy, autostart and process driver.
. "$(dirname "$0")/lib.sh"

PROXY_EXTRA='flush_interval_ms = 100; route_refresh_ms = 600000;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events app.
sleep 0.3

cc -O2 -o "$T/tinyhttp" "$ROOT/tests/apps/tinyhttp.c" || not_ok "build tinyhttp"
code() { curl -s -o /dev/null -m 30 -w '%{http_code}' -H "Host: $1" "http://127.0.0.1:$PROXY_PORT/"; }
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
# deadline_left APP: ms from now to the app's deadline in Redis.
deadline_left() {
	local d
	d=$(rcli zscore dc:deadlines "$1")
	[ -n "$d" ] || return 1
	echo $((${d%.*} - $(date +%s%3N)))
}
# pushed_beyond APP S: a request, then (within a few flushes) a deadline
# more than S seconds away. GT keeps deadlines from moving back, so a
# deadline this far can only come from a TTL of more than S.
pushed_beyond() {
	local left
	[ "$(code "$1.test")" = 200 ] || return 1
	for _ in 1 2 3 4 5; do
		sleep 0.1
		left=$(deadline_left "$1") && [ "$left" -gt $(($2 * 1000)) ] &&
			return 0
	done
	return 1
}

check "app create tt with ttl 60" ctl app create tt --domain tt.test --ttl 60 \
	--command "exec $T/tinyhttp"
check "the first request wakes and is served" [ "$(code tt.test)" = 200 ]
running() { [ "$(rcli hget dc:app:tt state)" = running ]; }
check "the app is running" wait_for 5 running
check "the proxy pushes the deadline by ttl 60" wait_for 5 pushed_beyond tt 50
left=$(deadline_left tt)
check "and no further" [ "${left:-999999}" -le 60000 ]

# The operator's path: devcloudctl writes the record and says so.
changes() { grep -c '"type":"app.changed".*"app":"tt"' "$T/events.log"; }
before=$(changes)
check "app update --ttl 3600" ctl app update tt --ttl 3600
more_changes() { [ "$(changes)" -gt "$before" ]; }
check "app.changed published" wait_for 5 more_changes
check "the proxy pushes the new ttl on the next request" \
	wait_for 5 pushed_beyond tt 3000

# The event alone: the record changed behind the proxy's back is not
# seen, until an app.changed names the app.
rcli hset dc:app:tt ttl 7200 >/dev/null
sleep 0.5
[ "$(code tt.test)" = 200 ] || not_ok "served after the silent change"
sleep 0.5
left=$(deadline_left tt)
between() { [ "$1" -gt "$2" ] && [ "$1" -le "$3" ]; }
check "a silent change is not seen (ttl 3600 still)" \
	between "${left:-0}" 3000000 3600000
check "devcloudctl publish app.changed" ctl publish \
	"app.changed {\"v\":1,\"ts\":$(date +%s%3N),\"source\":\"test/1\",\"app\":\"tt\"}"
check "the proxy reads the record again on app.changed" \
	wait_for 5 pushed_beyond tt 7000

# A bad record is not applied: the proxy keeps its copy and says why.
rcli hset dc:app:tt ttl soon >/dev/null
ctl publish "app.changed {\"v\":1,\"ts\":$(date +%s%3N),\"source\":\"test/1\",\"app\":\"tt\"}" >/dev/null
check "a malformed record is logged and dropped" wait_for 5 grep -q \
	'msg="bad app record ignored" app=tt err="ttl: ' "$T/proxy.log"
check "and counted" wait_for 5 bash -c "curl -s http://$ADMIN_proxy/metrics |
	grep -q '^devcloud_proxy_bad_app_records_total 1$'"
check "the app is still served as before" [ "$(code tt.test)" = 200 ]

finish
