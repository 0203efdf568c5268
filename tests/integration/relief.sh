#!/bin/bash
# Host relief through the webhooks: an Alertmanager or Open-Falcon alert
# for a host makes the regulator stop that host's least recently used
# apps, one per step, never a protected one, an app with an open
# WebSocket only after the idle ones; the resolved alert ends it. Bad
# payloads and missing tokens are refused and stop nothing; two
# replicas receiving the same alert stop each app once; wakes during
# the overload are held to max_concurrent_starts and all served after.
# Real redis-server, bus, proxy, autostart, regulator(s), curl, node ws.
. "$(dirname "$0")/lib.sh"

TOKEN=s3cret-token
HOST=relief-h1
AUTOSTART_EXTRA="sweep_interval_ms = 100; stop_grace_ms = 1000; drain_ms = 100;
	host = \"$HOST\"; max_concurrent_starts = 1;"
PROXY_EXTRA='flush_interval_ms = 100; hold_timeout_ms = 30000;'
REGULATOR_EXTRA="token = \"$TOKEN\"; step_interval_ms = 300; stop_batch = 1;
	max_stops_per_episode = 50;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy regulator || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events
cc -O2 -o "$T/tinyhttp" "$ROOT/tests/apps/tinyhttp.c" || not_ok "build tinyhttp"

RG=http://$ADMIN_regulator
AM=$ROOT/tests/data/webhooks/alertmanager_firing.json
# am_body FILE: the documentation's payload FILE cut to its first alert,
# about $HOST. alert FILE [CURL_ARGS]: POSTs it to the first regulator's
# Alertmanager webhook; prints the status.
am_body() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["alerts"] = d["alerts"][:1]
d["alerts"][0]["labels"]["instance"] = sys.argv[2] + ":9100"
print(json.dumps(d, indent=1))' "$1" "$HOST"
}
alert() {
	local f=$1
	shift
	am_body "$f" >"$T/alert.json"
	status_of -X POST -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' --data-binary "@$T/alert.json" \
		"$@" "$RG/v1/alerts/alertmanager"
}
running() { app_state_is "$1" running; }
stopped() { app_state_is "$1" stopped; }
# the apps named in app.stopping events, in order, as one line
stopping_order() {
	grep '"type":"app.stopping"' "$T/events.log" | grep 'regulated' |
		sed 's/.*"app":"\([^"]*\)".*/\1/' | tr '\n' ' '
}
nregulated() { grep '"type":"app.stopping"' "$T/events.log" | grep -c regulated; }

# knows URL: the regulator at URL takes alerts for $HOST (a resolved
# alert for a calm host changes nothing); it reads the registered hosts
# every 5 s
knows() {
	am_body "$ROOT/tests/data/webhooks/alertmanager_resolved.json" >"$T/known.json"
	[ "$(status_of -X POST -H "Authorization: Bearer $TOKEN" \
		--data-binary "@$T/known.json" "$1/v1/alerts/alertmanager")" = 200 ]
}
check "the regulator knows host $HOST" wait_for 10 knows "$RG"

# Five apps on the host, used in a known order: old1 first, ..., new4
# last; keep is protected and the oldest of all.
APPS="old1 mid2 mid3 new4"
for a in keep $APPS; do
	ctl app create "$a" --domain "$a.test" --ttl 600 \
		--command "exec $T/tinyhttp" >/dev/null || not_ok "create $a"
done
check "app update keep --protect on" ctl app update keep --protect on
check "app show says protect on" bash -c \
	"'$BIN/devcloudctl' -c '$CONF' app show keep | grep -qE '^protect +on'"
wake_in_order() {
	local a
	for a in keep $APPS; do
		[ "$(px_status "$a.test" /)" = 200 ] || return 1
		sleep 0.3	# a flush apart: distinct last access
	done
}
check "the apps wake in order" wake_in_order
la() { rcli ZSCORE "$(key lastaccess)" "$1"; }
check "last access follows the order" wait_for 5 bash -c \
	"[ \"\$(redis-cli -p $REDIS_PORT ZSCORE '$(key lastaccess)' new4)\" != '' ]"
check "the host lists every app's instance" wait_for 5 bash -c \
	"[ \$(redis-cli -p $REDIS_PORT SCARD '$(key host "$HOST")') -eq 5 ]"

# ---- refusals: nothing stopped ----
check "no token: 401" [ "$(status_of -X POST --data-binary @"$AM" \
	"$RG/v1/alerts/alertmanager")" = 401 ]
check "wrong token: 401" [ "$(status_of -X POST -H 'Authorization: Bearer nope' \
	--data-binary @"$AM" "$RG/v1/alerts/alertmanager")" = 401 ]
bad() {	# bad NAME BODY PATTERN: 400 whose body matches PATTERN
	local out
	printf '%s' "$2" >"$T/bad.json"
	out=$(curl -s -m 10 -w ' %{http_code}' -X POST \
		-H "Authorization: Bearer $TOKEN" --data-binary "@$T/bad.json" \
		"$RG/v1/alerts/alertmanager")
	case "$out" in
	*" 400") echo "$out" | grep -qiE -- "$3" ;;
	*) echo "# $1: got $out" >&2; return 1 ;;
	esac
}
check "bad JSON: 400" bad json '{"version": "4", "alerts": [' 'json|truncated|parse'
check "missing host label: 400" bad nohost \
	'{"version":"4","status":"firing","receiver":"r","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"","groupKey":"k","truncatedAlerts":0,"alerts":[{"status":"firing","labels":{"alertname":"x"},"annotations":{},"startsAt":"2026-11-30T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"f"}]}' \
	'instance'
check "wrong types: 400" bad types \
	'{"version":"4","status":"firing","alerts":[{"status":7,"labels":[]}]}' 'status|labels|must|expected'
HOST=nosuchhost am_body "$AM" >"$T/unknown.json"
check "unknown host: 400" bad unknown "$(cat "$T/unknown.json")" 'unknown host'
head -c 600000 /dev/zero | tr '\0' ' ' >"$T/big.json"
big=$(status_of -X POST -H "Authorization: Bearer $TOKEN" \
	--data-binary @"$T/big.json" "$RG/v1/alerts/alertmanager")
check "oversized: refused ($big)" [ "$big" = 400 -o "$big" = 413 ]
check "refusals are counted" bash -c "curl -s $RG/metrics |
	grep -q '^devcloud_regulator_webhook_refused_total{reason=\"bad_payload\"} [1-9]'"
sleep 0.7
check "nothing was stopped by a refused payload" [ "$(nregulated)" -eq 0 ]
for a in keep $APPS; do
	running "$a" || not_ok "$a still running after the refusals"
done

# ---- Alertmanager: firing -> LRU stops, one per step; resolved -> end
check "firing alert: 200" [ "$(alert "$AM")" = 200 ]
check "host.overloaded on the bus" wait_for 5 grep -q \
	"\"type\":\"host.overloaded\".*\"host\":\"$HOST\".*\"origin\":\"alertmanager\"" \
	"$T/events.log"
check "two apps stopped by relief" wait_for 10 bash -c \
	"[ \$(grep '\"type\":\"app.stopping\"' '$T/events.log' | grep -c regulated) -ge 2 ]"
check "resolved alert: 200" [ "$(alert "$ROOT/tests/data/webhooks/alertmanager_resolved.json")" = 200 ]
check "host.recovered on the bus" wait_for 5 grep -q \
	"\"type\":\"host.recovered\".*\"host\":\"$HOST\"" "$T/events.log"
sleep 0.2	# a stop sent just before the end may still be on its way
n=$(nregulated)
order=$(stopping_order)
check "least recently used first: $order" bash -c "[[ '$order' == 'old1 mid2 '* ]]"
sleep 1.2	# four steps
check "stops cease once recovered ($n then $(nregulated))" [ "$(nregulated)" -eq "$n" ]
check "the protected app was never stopped" running keep
check "the reason names the metric" grep -q \
	'"type":"app.stopping".*"reason":"regulated: ' "$T/events.log"
check "devcloudctl hosts shows the host, recovered, with its stops" bash -c \
	"'$BIN/devcloudctl' -c '$CONF' hosts | grep -qE '^$HOST +[0-9.]+s +[0-9]+ +ok .* +$n +stopped '"

# ---- Open-Falcon: PROBLEM (GET, token in the query) -> stops; OK -> end
OF="endpoint=$HOST.example.com&metric=mem.memfree.percent&status=PROBLEM&step=1&priority=0&time=2026-11-30+05%3A00%3A00&tpl_id=1&exp_id=0&stra_id=2&tags=&left_value=3.5"
for a in $APPS; do px_status "$a.test" / >/dev/null; sleep 0.3; done
check "apps running again" wait_for 10 bash -c \
	"for a in $APPS; do [ \"\$('$BIN/devcloudctl' -c '$CONF' app show \$a | awk '\$1==\"state\"{print \$2}')\" = running ] || exit 1; done"
before=$(nregulated)
check "open-falcon without token: 401" [ "$(status_of "$RG/v1/alerts/open-falcon?$OF")" = 401 ]
check "open-falcon bad status: 400" [ "$(status_of \
	"$RG/v1/alerts/open-falcon?${OF/PROBLEM/MAYBE}&token=$TOKEN")" = 400 ]
check "open-falcon PROBLEM: 200" [ "$(status_of "$RG/v1/alerts/open-falcon?$OF&token=$TOKEN")" = 200 ]
check "open-falcon: host.overloaded" wait_for 5 grep -q \
	"\"type\":\"host.overloaded\".*\"origin\":\"open-falcon\".*\"metric\":\"mem.memfree.percent\",\"value\":3.5" \
	"$T/events.log"
check "open-falcon: an app stopped" wait_for 10 bash -c \
	"[ \$(grep '\"type\":\"app.stopping\"' '$T/events.log' | grep -c regulated) -gt $before ]"
check "open-falcon OK (a form POST): 200" [ "$(status_of -X POST \
	--data "${OF/PROBLEM/OK}" "$RG/v1/alerts/open-falcon?token=$TOKEN")" = 200 ]
check "open-falcon: host.recovered" wait_for 5 grep -q \
	"\"type\":\"host.recovered\".*\"origin\":\"open-falcon\"" "$T/events.log"
check "protected app still running" running keep

# ---- two replicas, the same alert: each app stopped once ----
for a in $APPS; do px_status "$a.test" / >/dev/null; done
check "apps running before the replicas' test" wait_for 10 bash -c \
	"for a in $APPS; do [ \"\$('$BIN/devcloudctl' -c '$CONF' app show \$a | awk '\$1==\"state\"{print \$2}')\" = running ] || exit 1; done"
p2=($(free_ports 2))
DEVCLOUD_INSTANCE=reg2 DEVCLOUD_REGULATOR_ADMIN=127.0.0.1:${p2[0]} \
	DEVCLOUD_REGULATOR_CONTROL=tcp://127.0.0.1:${p2[1]} \
	start regulator2 "$BIN/devcloud-regulator" -c "$CONF"
check "second regulator ready" wait_for 10 healthz_is "127.0.0.1:${p2[0]}" 200
check "second regulator knows the host" wait_for 10 knows "http://127.0.0.1:${p2[0]}"
mark=$(wc -l <"$T/events.log")
am_body "$AM" >"$T/alert.json"
posts=()
for url in "$RG" "http://127.0.0.1:${p2[0]}"; do
	curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
		--data-binary @"$T/alert.json" "$url/v1/alerts/alertmanager" &
	posts+=($!)
done
wait "${posts[@]}"
check "both replicas: every unprotected app stopped" wait_for 15 bash -c \
	"for a in $APPS; do [ \"\$('$BIN/devcloudctl' -c '$CONF' app show \$a | awk '\$1==\"state\"{print \$2}')\" = stopped ] || exit 1; done"
sleep 1
stops_after() { tail -n +"$mark" "$T/events.log" | grep '"type":"app.stopping"' | grep regulated; }
check "one host.overloaded for the two replicas" [ \
	"$(tail -n +"$mark" "$T/events.log" | grep -c '"type":"host.overloaded"')" -eq 1 ]
for a in $APPS; do
	check "$a stopped once by the two replicas" [ "$(stops_after | grep -c "\"app\":\"$a\"")" -eq 1 ]
done
asked=$(cat "$T/regulator.log" "$T/regulator2.log" |
	grep -c 'msg="stopping least recently used app"')
check "a replica sent the stops ($asked stop commands over the test)" bash -c \
	"grep -q 'stopping least recently used app' '$T/regulator.log' || grep -q 'stopping least recently used app' '$T/regulator2.log'"
alert "$ROOT/tests/data/webhooks/alertmanager_resolved.json" >/dev/null
check "recovered again" wait_for 5 bash -c \
	"[ \"\$(redis-cli -p $REDIS_PORT HGET '$(key hoststate "$HOST")' overloaded)\" = 0 ]"
kill "$PID_regulator2" 2>/dev/null

# ---- an open WebSocket: stopped only after every idle app ----
if [ -d "$ROOT/tests/node_modules/ws" ]; then
	WSA=chat
	ctl app create $WSA --domain $WSA.test --ttl 600 \
		--command "exec node $ROOT/tests/integration/proxy_ws.js server \$PORT" >/dev/null
	px_status $WSA.test / >/dev/null	# ws answers a plain GET 426
	check "websocket app wakes" wait_for 10 app_state_is $WSA running
	python3 - "$PROXY_PORT" $WSA.test >"$T/wsclient.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" % sys.argv[2]).encode())
print(s.recv(4096).split(b"\r\n")[0].decode(), flush=True)
while s.recv(4096):
    pass
PY
	WSC=$!
	PIDS+=($WSC)
	check "websocket client upgraded" wait_for 10 grep -q ' 101 ' "$T/wsclient.log"
	sleep 0.5
	# the others are used after the WebSocket opened: more recent
	for a in $APPS; do px_status "$a.test" / >/dev/null; sleep 0.2; done
	check "apps running before the WebSocket test" wait_for 10 bash -c \
		"for a in $APPS; do [ \"\$('$BIN/devcloudctl' -c '$CONF' app show \$a | awk '\$1==\"state\"{print \$2}')\" = running ] || exit 1; done"
	check "the proxy reports the open tunnel" wait_for 5 bash -c \
		"redis-cli -p $REDIS_PORT HVALS '$(key load $WSA)' | grep -qE ' 1\$'"
	mark=$(wc -l <"$T/events.log")
	check "firing again: 200" [ "$(alert "$AM")" = 200 ]
	check "every app stopped, the WebSocket one too" wait_for 15 app_state_is $WSA stopped
	order=$(tail -n +"$mark" "$T/events.log" | grep '"type":"app.stopping"' |
		grep regulated | sed 's/.*"app":"\([^"]*\)".*/\1/' | tr '\n' ' ')
	check "the WebSocket app went last: $order" bash -c "[[ '$order' == *' $WSA ' ]]"
	alert "$ROOT/tests/data/webhooks/alertmanager_resolved.json" >/dev/null
	kill "$WSC" 2>/dev/null
else
	skip "an open WebSocket is stopped last" "npm's ws not installed (npm ci in tests/)"
fi
check "protected app still running at the end" running keep

# ---- admission: wakes on an overloaded host, at most 1 at a time ----
check "recovered before the admission test" wait_for 5 bash -c \
	"[ \"\$(redis-cli -p $REDIS_PORT HGET '$(key hoststate "$HOST")' overloaded)\" = 0 ]"
for i in 1 2 3; do
	ctl app create "slow$i" --domain "slow$i.test" --ttl 600 \
		--command "sleep 1.5; exec $T/tinyhttp" >/dev/null
done
for a in $APPS; do ctl app update "$a" --protect on >/dev/null; done
check "firing: overloaded" [ "$(alert "$AM")" = 200 ]
check "autostart limits its starts" wait_for 5 grep -q \
	'msg="host overloaded: starts limited"' "$T/autostart.log"
mark=$(wc -l <"$T/events.log")
held=()
for i in 1 2 3; do
	px_status "slow$i.test" / -m 30 >"$T/slow$i.status" &
	held+=($!)
done
served() { cat "$T"/slow?.status 2>/dev/null | grep -c 200; }
check "one held wake is served while overloaded" wait_for 10 bash -c \
	"[ \$(cat '$T'/slow?.status 2>/dev/null | grep -c 200) -ge 1 ]"
upto=$(wc -l <"$T/events.log")
check "the others still wait at the gate ($(served) served)" [ "$(served)" -lt 3 ]
# how many slow apps were between app.waking and app.ready at once
overlap() {
	sed -n "$mark,${upto}p" "$T/events.log" |
		grep -E '"type":"app.(waking|ready)".*"app":"slow' |
		awk '/app.waking/ { n++; if (n > max) max = n } /app.ready/ { n-- }
		     END { print max + 0 }'
}
check "at most one start at a time while overloaded (max $(overlap))" [ "$(overlap)" -eq 1 ]
alert "$ROOT/tests/data/webhooks/alertmanager_resolved.json" >/dev/null
wait "${held[@]}"
for i in 1 2 3; do
	check "held request slow$i served ($(cat "$T/slow$i.status"))" grep -q 200 "$T/slow$i.status"
done
check "a wake waited at the gate" grep -q 'msg="wake admitted"' "$T/autostart.log"

# ---- the tunnel rule on its own: an open tunnel keeps an app's last
# access fresh (the proxy counts it in flight), so above both rules
# agree. Here the proxy is gone and the figures are set by hand: tun has
# the oldest last access but a tunnel open, and still goes last.
for a in old1 mid2; do ctl app update "$a" --protect off >/dev/null; done
for a in slow1 slow2 slow3; do ctl app update "$a" --protect on >/dev/null; done
ctl app create tun --domain tun.test --ttl 600 --command "exec $T/tinyhttp" >/dev/null
for a in old1 mid2 tun; do px_status "$a.test" / >/dev/null; done
check "old1 mid2 tun running" wait_for 10 bash -c \
	"for a in old1 mid2 tun; do [ \"\$('$BIN/devcloudctl' -c '$CONF' app show \$a | awk '\$1==\"state\"{print \$2}')\" = running ] || exit 1; done"
kill "$PID_proxy"
wait "$PID_proxy" 2>/dev/null
now=$(($(date +%s) * 1000))
rcli ZADD "$(key lastaccess)" 1000 tun 2000 old1 3000 mid2 >/dev/null
rcli DEL "$(key load old1)" "$(key load mid2)" >/dev/null
rcli HSET "$(key load tun)" proxy/gone "1.00 1 $now 1" >/dev/null
rcli PERSIST "$(key load tun)" >/dev/null	# the dead proxy's expiry
mark=$(wc -l <"$T/events.log")
check "firing with the proxy gone: 200" [ "$(alert "$AM")" = 200 ]
check "old1, mid2 and tun stopped" wait_for 10 app_state_is tun stopped
order=$(tail -n +"$mark" "$T/events.log" | grep '"type":"app.stopping"' |
	grep regulated | sed 's/.*"app":"\([^"]*\)".*/\1/' | tr '\n' ' ')
check "the app with a tunnel goes after the idle ones: $order" [ "$order" = "old1 mid2 tun " ]
finish
