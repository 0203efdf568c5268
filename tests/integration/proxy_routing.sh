#!/bin/bash
# Routing by Host: exact domains, wildcards (the most specific wins), the
# 404 page naming an unknown domain, route changes reaching the proxy by
# the route.changed event alone, and a change the event missed repaired
# by the full reload that follows a Redis reconnect.
. "$(dirname "$0")/proxy_env.bash"

# A refresh far away: only events and reconnects may update routes.
PROXY_EXTRA='route_refresh_ms = 3600000;'
start_backend B1 || { not_ok "backend 1 starts"; finish; }
start_backend B2 || { not_ok "backend 2 starts"; finish; }
start_backend B3 || { not_ok "backend 3 starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }

check "route add exact" route a.example.test "127.0.0.1:$B1"
check "route add wildcard" route '*.example.test' "127.0.0.1:$B2"
check "route add deeper wildcard" route '*.ide.example.test' "127.0.0.1:$B3"

# Which backend answered: each reports the port it listens on.
which() {
	px_curl "$1" /echo | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["server_port"])
except Exception:
    print("none")'
}

check "exact domain goes to its upstream" \
	[ "$(which a.example.test)" = "$B1" ]
check "wildcard matches a subdomain" \
	[ "$(which b.example.test)" = "$B2" ]
check "wildcard matches several labels deep" \
	[ "$(which x.y.example.test)" = "$B2" ]
check "most specific wildcard wins" \
	[ "$(which dev1.ide.example.test)" = "$B3" ]
check "a wildcard does not match its own apex" \
	[ "$(which ide.example.test)" = "$B2" ]
check "host is case-insensitive, port and trailing dot ignored" \
	[ "$(which A.Example.TEST.:8080)" = "$B1" ]

check "unknown domain gets 404" \
	[ "$(px_status nowhere.test /x -o "$T/404.html")" = 404 ]
check "the 404 page names the domain" grep -q 'nowhere.test' "$T/404.html"
check "the apex of the wildcard's parent is unknown" \
	[ "$(px_status example.test /)" = 404 ]

# A change reaches the proxy through route.changed (refresh is 1 h).
ctl route add a.example.test "127.0.0.1:$B3" >/dev/null
is_backend() { [ "$(which "$1")" = "$2" ]; }
check "route change applied from the event" \
	wait_for 5 is_backend a.example.test "$B3"
ctl route rm '*.ide.example.test' >/dev/null
check "route removal applied from the event" \
	wait_for 5 is_backend dev1.ide.example.test "$B2"

# A change written to Redis without an event is picked up by the reload
# that follows a reconnect.
rcli HSET "$(key routes)" silent.test "static:127.0.0.1:$B1" >/dev/null
sleep 0.3
check "a change without an event is not seen yet" \
	[ "$(px_status silent.test /)" = 404 ]
rcli CLIENT KILL TYPE normal >/dev/null
check "the reload after a reconnect repairs it" \
	wait_for 10 is_backend silent.test "$B1"

# Malformed routes in Redis are skipped, the rest still served: the
# good route written with them shows the reload that read them is done.
rcli HSET "$(key routes)" 'bad domain' "static:127.0.0.1:$B1" \
	ok2.test "static:nonsense" good.test "static:127.0.0.1:$B2" >/dev/null
rcli CLIENT KILL TYPE normal >/dev/null
check "a good route beside bad ones is loaded" \
	wait_for 10 is_backend good.test "$B2"
check "bad routes do not break the table" \
	[ "$(px_curl silent.test /ping)" = pong ]
check "bad routes are counted" \
	[ "$(metric devcloud_proxy_bad_routes_total)" -ge 2 ]

finish
