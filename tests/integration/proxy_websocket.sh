#!/bin/bash
# WebSocket through the proxy (npm's `ws` on both ends): the Upgrade is
# forwarded, 101 comes back, and then messages of every size flow both
# ways, byte for byte, until the client closes. A request that asks for
# an Upgrade the upstream refuses stays plain HTTP.
. "$(dirname "$0")/proxy_env.bash"

if [ ! -d "$ROOT/tests/node_modules/ws" ]; then
	(cd "$ROOT/tests" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
		{ not_ok "npm ci installs ws"; finish; }
fi
start_backend B || { not_ok "backend starts"; finish; }
start_suite || { not_ok "suite starts"; finish; }
WS=$(free_ports 1)
start ws_server node "$HERE/proxy_ws.js" server "$WS"
wait_for 10 grep -q listening "$T/ws_server.log" || { not_ok "ws server starts"; finish; }
route ws.test "127.0.0.1:$WS" || { not_ok "route add"; finish; }
route plain.test "127.0.0.1:$B" || { not_ok "route add"; finish; }

node "$HERE/proxy_ws.js" client "ws://127.0.0.1:$PROXY_PORT/chat" ws.test \
	>"$T/client.out" 2>&1
check "messages echoed through the tunnel" grep -q '^ok echo 56 messages' "$T/client.out"
check "server pushes reach the client" grep -q '^ok server pushed' "$T/client.out"
check "closed cleanly" grep -q '^ok closed cleanly 1000' "$T/client.out"
check "the upgrade was counted" [ "$(metric devcloud_proxy_upgrades_total)" -ge 1 ]

# Two clients at once, each on its own tunnel.
node "$HERE/proxy_ws.js" client "ws://127.0.0.1:$PROXY_PORT/a" ws.test >"$T/c1" 2>&1 &
c1=$!
node "$HERE/proxy_ws.js" client "ws://127.0.0.1:$PROXY_PORT/b" ws.test >"$T/c2" 2>&1
wait $c1
check "concurrent tunnels" bash -c "grep -q '^ok echo' '$T/c1' && grep -q '^ok echo' '$T/c2'"

# The upstream ignores the Upgrade: a plain answer, the connection stays
# HTTP and serves the next request.
raw 'GET /echo HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /ping HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n' 3 >"$T/plain"
check "refused upgrade answered as HTTP" grep -q '"Upgrade", "websocket"' "$T/plain"
check "then the connection carries on" grep -q 'pong<EOF>' "$T/plain"
check "tunnels close with their clients" \
	wait_for 5 metric_is devcloud_proxy_connections 0
finish
