#!/bin/bash
# The waiting page, in a real browser: headless Chromium asks for a
# sleeping app with --wake-page on, sees the "starting" page at once, and
# is switched to the app's own content the moment it is ready. API
# clients are held instead, never shown the page.
. "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
if [ -z "$CHROMIUM" ]; then
	not_ok "chromium is installed (Debian package chromium)"
	finish
fi
if [ ! -d "$ROOT/tests/node_modules/playwright-core" ]; then
	(cd "$ROOT/tests" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
		{ not_ok "npm ci installs playwright-core"; finish; }
fi

AUTOSTART_EXTRA='sweep_interval_ms = 100;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy || not_ok "daemons ready"

mkdir -p "$T/www"
token="slow-app-content-$$"
echo "<html><body><h1>$token</h1></body></html>" >"$T/www/index.html"
# Two seconds to start: long enough to see the page, short enough to wait.
check "app create with the waiting page" ctl app create slow \
	--domain slow.localhost --domain api.localhost --ttl 60 --wake-page on \
	--command "sleep 2; exec python3 -m http.server \$PORT --bind 127.0.0.1 --directory $T/www"

# *.localhost resolves to the loopback in Chromium itself.
CHROMIUM=$CHROMIUM NODE_PATH="$ROOT/tests/node_modules" timeout 120 \
	node "$ROOT/tests/integration/wakepage.js" \
	"http://slow.localhost:$PROXY_PORT/" "$token" "$T" >"$T/browser.json" 2>"$T/browser.err"
cat "$T/browser.json" >&2
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$T/browser.json" "$1"; }
check "the browser got the waiting page first (503)" [ "$(field firstStatus)" = 503 ]
check "the page says the app is starting" bash -c "[[ '$(field firstHeading)' == Starting\ slow* ]]"
check "the page switched to the app by itself" [ "$(field finalText)" = "$token" ]
check "at the same address" [ "$(field finalUrl)" = "http://slow.localhost:$PROXY_PORT/" ]
check "no browser error" [ -z "$(field error)" ]
check "screenshots taken" [ -s "$T/waking.png" -a -s "$T/ready.png" ]
check "the app was started once" [ "$(grep -c 'app process started. app=slow ' "$T/autostart.log")" -eq 1 ]

# An API client is held and gets the app itself, even cold.
ctl app stop slow >/dev/null
check "stopped again" app_state_is slow stopped
body=$(px_curl api.localhost / -m 30 -H 'Accept: application/json')
check "an API client is held, not shown the page" bash -c "[[ '$body' == *$token* ]]"
ctl app stop slow >/dev/null
code=$(px_status api.localhost / -m 30 \
	-H 'Accept: text/html;q=0, application/json')
check "text/html;q=0 is not a browser" [ "$code" = 200 ]

finish
