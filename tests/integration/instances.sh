#!/bin/bash
# Apps with several instances (process driver): the scaler starts the
# app's min_instances, the proxy spreads requests over them by least
# outstanding requests, an instance killed under load costs at most the
# requests it had in flight and is replaced, and the idle TTL stops them
# all. Real redis-server, autostart, proxy; `hey` makes the load.
. "$(dirname "$0")/lib.sh"

command -v hey >/dev/null || { not_ok "hey is installed"; finish; }
AUTOSTART_EXTRA='sweep_interval_ms = 100; stop_grace_ms = 2000; drain_ms = 300;'
PROXY_EXTRA='flush_interval_ms = 200; hold_timeout_ms = 20000;
	upstream_timeout_ms = 1500;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events
sleep 0.3

APP="exec python3 $ROOT/tests/apps/instance_app.py $T/hits $T/delay"
# events TYPE APP [MORE]: how many TYPE events of APP (MORE: a pattern
# the rest of the line must match too)
events() {
	grep "\"type\":\"$1\"" "$T/events.log" | grep "\"app\":\"$2\"" |
		grep -c -- "${3:-}"
}
events_ge() { [ "$(events "$1" "$2" "${4:-}")" -ge "$3" ]; }
# ready_ports APP: the ports of APP's ready instances, one per line.
ready_ports() {
	local id
	for id in $(rcli SMEMBERS "$(key instances "$1")"); do
		[ "$(rcli HGET "$(key instance "$1" "$id")" state)" = ready ] &&
			rcli HGET "$(key instance "$1" "$id")" addr | sed 's/.*://'
	done
}
nready() { ready_ports "$1" | wc -l; }
nready_is() { [ "$(nready "$1")" -eq "$2" ]; }
# spread: how many requests each port answered since hits was emptied.
spread() { sort "$T/hits" | uniq -c | awk '{ print $2, $1 }'; }
# the proxy sends to every ready instance of web
all_seen() {
	: >"$T/hits"
	for _ in $(seq 30); do px_curl web.test / -o /dev/null; done
	[ "$(spread | wc -l)" -eq "$(nready web)" ]
}
# failures HEY_OUTPUT: requests that got no 200 (errors or other codes)
failures() {
	awk '/^Error distribution/ { e = 1; next }
	     e && /^ *\[[0-9]+\]/ { gsub(/[][]/, "", $1); n += $1; next }
	     /^ *\[[0-9]+\]\t*[0-9]+ responses/ { gsub(/[][]/, "", $1);
		if ($1 != 200) n += $2 }
	     END { print n + 0 }' "$1"
}

check "app create web" ctl app create web --domain web.test --ttl 8 \
	--command "$APP"
check "app update web --min 3 --max 3" ctl app update web --min 3 --max 3
check "a cold request is served" [ "$(px_status web.test / -m 20)" = 200 ]
check "the scaler brings it to min_instances: 3 ready" wait_for 20 nready_is web 3
check "three instance.ready events" wait_for 5 events_ge instance.ready web 3
check "each instance.ready names its host" grep -q \
	'"type":"instance.ready".*"app":"web".*"host":"[A-Za-z0-9_-]*"' "$T/events.log"
host=$(rcli HGET "$(key instance web 1)" host)
check "the host lists the app's instances" \
	[ "$(rcli SMEMBERS "$(key host "$host")" | grep -c '^web/')" -eq 3 ]
check "the host is registered with when it was seen" \
	[ -n "$(rcli ZSCORE "$(key hosts)" "$host")" ]
seen1=$(rcli ZSCORE "$(key hosts)" "$host")
check "the proxy sends to all three" wait_for 10 all_seen

# 3 instances share 3,000 requests within 20% of a third each.
: >"$T/hits"
hey -n 3000 -c 30 -host web.test "http://127.0.0.1:$PROXY_PORT/" >"$T/hey1" 2>&1
spread >"$T/spread1"
echo "# spread of 3000 requests (port count):" $(cat "$T/spread1")
check "3000 requests answered" [ "$(wc -l <"$T/hits")" -eq 3000 ]
check "each instance took 800..1200 of them" \
	awk 'NF == 2 && ($2 < 800 || $2 > 1200) { bad = 1 } END { exit bad || NR != 3 }' "$T/spread1"

# One instance made slow (50 ms an answer): least outstanding requests
# sends it visibly fewer.
slow=$(ready_ports web | head -1)
echo 50 >"$T/delay.$slow"
: >"$T/hits"
hey -n 1500 -c 30 -host web.test "http://127.0.0.1:$PROXY_PORT/" >"$T/hey2" 2>&1
rm -f "$T/delay.$slow"
spread >"$T/spread2"
echo "# spread with port $slow slow:" $(cat "$T/spread2")
check "the slow instance took under half the others' average" awk -v s="$slow" \
	'$1 == s { sc = $2; next } { o += $2; n++ } END { exit !(n == 2 && sc < o / n / 2) }' \
	"$T/spread2"

# An instance that stops answering: after proxy.upstream_timeout_ms an
# idempotent request goes to another instance instead of failing, and
# the silent one is skipped for a while.
hung=$(ready_ports web | tail -1)
echo 60000 >"$T/delay.$hung"
: >"$T/hits"
for _ in $(seq 12); do px_status web.test / -m 10; echo; done >"$T/codes"
rm -f "$T/delay.$hung"
echo "# 12 GETs while port $hung did not answer:" $(sort "$T/codes" | uniq -c)
check "every GET answered 200 by another instance" \
	[ "$(grep -c '^200$' "$T/codes")" -eq 12 ]
check "the proxy logged the retry elsewhere" grep -q \
	'msg="upstream instance failed, trying another" .*why="answer: timed out"' \
	"$T/proxy.log"
check "the silent instance answered none of them" bash -c "! grep -qx '$hung' '$T/hits'"

# kill -9 of one of 3 instances under load: it is dropped, the requests
# it had in flight fail at most, the app keeps serving, it is replaced.
victim_id=2
victim=$(awk -v id="$victim_id" '$4 == id { print $1 }' "$T/run/web.pid")
hey -z 4s -c 20 -host web.test "http://127.0.0.1:$PROXY_PORT/" >"$T/hey3" 2>&1 &
hey_pid=$!
sleep 1.5
t_kill=$(date +%s%3N)
check "kill -9 instance $victim_id under load" kill -9 "$victim"
wait "$hey_pid"
# when the proxy took it out of service (its log's timestamp, in ms)
t_out=$(grep -m1 "msg=\"instance out of service\" app=web instance=$victim_id " \
	"$T/proxy.log" | sed 's/^ts=\([^ ]*\) .*/\1/')
[ -n "$t_out" ] && echo "# the proxy stopped sending to the killed instance" \
	"$(($(date -d "$t_out" +%s%3N) - t_kill)) ms after kill -9"
failed=$(failures "$T/hey3")
echo "# requests failed when an instance was killed under load: $failed" \
	"(of $(awk '/^ *\[200\]/ { print $2 }' "$T/hey3") answered 200; 20 in flight at most)"
check "failed requests at most those in flight (20)" [ "$failed" -le 20 ]
check "instance.stopped names the killed one" wait_for 5 events_ge \
	instance.stopped web 1 "\"instance\":\"$victim_id\""
check "and says why" events_ge instance.stopped web 1 '"reason":"exited: killed by signal 9"'

check "the app keeps serving" [ "$(px_status web.test /)" = 200 ]
check "it was replaced: 3 ready again" wait_for 20 nready_is web 3
check "the app stayed running (no app.stopped)" [ "$(events app.stopped web)" -eq 0 ]
check "the proxy sends to all three again" wait_for 10 all_seen

# Idle: the TTL stops every instance; the record keeps none.
pids=$(awk '{ print $1 }' "$T/run/web.pid" | tr '\n' ' ')
gone() { for p in $pids; do ! kill -0 "$p" 2>/dev/null || return 1; done; }
check "the idle app is stopped (ttl 8 s)" wait_for 30 app_state_is web stopped
check "every instance process is gone" wait_for 5 gone
check "no instance left in redis" [ "$(rcli SCARD "$(key instances web)")" -eq 0 ]
check "an instance.stopped for each, reason idle" wait_for 5 events_ge \
	instance.stopped web 3 '"reason":"idle"'
check "the next request wakes it" [ "$(px_status web.test / -m 20)" = 200 ]
check "3 ready after the wake" wait_for 20 nready_is web 3
check "the woken app reuses instance ids 1..3" \
	[ "$(rcli SMEMBERS "$(key instances web)" | sort | tr '\n' ' ')" = '1 2 3 ' ]

check "the host is seen again while autostart runs" \
	[ "$(rcli ZSCORE "$(key hosts)" "$host")" -gt "$seen1" ]
check "autostart logged no crash" bash -c "! grep -qi 'sanitizer\|segv' '$T/autostart.log'"
finish
