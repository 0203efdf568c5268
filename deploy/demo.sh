#!/bin/bash
# Registers the demo app (process driver) with `make up`: a static page
# served by python3's http.server, stopped until someone visits
# http://demo.localhost:PORT/.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONF=$1
PORT=$2
CTL="$ROOT/build/bin/devcloudctl -c $CONF"

opts=(--domain demo.localhost --ttl 60 --ready http:/ --wake-page on
	--command "exec python3 -m http.server \$PORT --bind 127.0.0.1 --directory '$ROOT/deploy/demo'")
if $CTL app show demo >/dev/null 2>&1; then
	$CTL app update demo "${opts[@]}" >/dev/null
else
	$CTL app create demo "${opts[@]}" >/dev/null
fi || { echo "could not register the demo app" >&2; exit 1; }
echo "demo app: http://demo.localhost:$PORT/ (stopped until visited)"
