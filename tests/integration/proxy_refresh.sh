#!/bin/bash
# What the proxy's periodic refresh repairs when an event was lost
# (route_refresh_ms = 300 ms here): each refresh reads again the records
# of the running apps, so a running app marked stopped in Redis without
# its event is no longer sent requests within a refresh or two; every
# tenth refresh reads everything, so a route written to Redis without
# its event is routed within ten. Changes are made with redis-cli
# directly (no event, as if it was lost). Real redis-server and proxy;
# the upstreams are tinyhttp processes started by the test.
. "$(dirname "$0")/lib.sh"

PROXY_EXTRA='route_refresh_ms = 300;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons proxy || not_ok "proxy ready"
cc -O2 -o "$T/tinyhttp" "$ROOT/tests/apps/tinyhttp.c" || not_ok "build tinyhttp"
P1=$(free_ports 1)
PORT=$P1 start up1 "$T/tinyhttp"
wait_for 5 bash -c "echo > /dev/tcp/127.0.0.1/$P1" || not_ok "upstream listens"

# an app the proxy believes running at P1 (its record says so)
rcli SADD "$(key apps)" web >/dev/null
rcli HSET "$(key app web)" name web domains web.test driver process \
	command true state running addr "127.0.0.1:$P1" >/dev/null
rcli HSET "$(key routes)" web.test app:web >/dev/null
check "a route written without its event is routed within ten refreshes" \
	wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -m 2 -H 'Host: web.test' http://127.0.0.1:$PROXY_PORT/)\" = 200 ]"
check "the proxy counts full reloads" bash -c "curl -s http://$ADMIN_proxy/metrics |
	grep -q '^devcloud_proxy_route_reloads_total [1-9]'"
reloads() { curl -s "http://$ADMIN_proxy/metrics" | awk '/^devcloud_proxy_route_reloads_total / { print $2 }'; }
r0=$(reloads)
sleep 1.2		# four refreshes
r1=$(reloads)
check "the refreshes between are light (full reloads $r0 -> $r1 in 4 refreshes)" \
	[ $((r1 - r0)) -le 1 ]

# the app stops without telling anyone, just after a full reload: only a
# light refresh can see it before the next full one (3 s later)
r2=$(reloads)
wait_for 5 bash -c "[ \"\$(curl -s http://$ADMIN_proxy/metrics | awk '/^devcloud_proxy_route_reloads_total / { print \$2 }')\" != $r2 ]"
rcli HSET "$(key app web)" state stopped addr "" >/dev/null
stopped_seen() {
	# a stopped app's request is held for a wake; 2 s later it is not
	# answered 200 by the old address
	[ "$(curl -s -o /dev/null -w '%{http_code}' -m 1 -H 'Host: web.test' \
		"http://127.0.0.1:$PROXY_PORT/")" != 200 ]
}
check "a lost app.stopped is repaired by a light refresh (well before the next full one)" \
	wait_for 2 stopped_seen
finish
