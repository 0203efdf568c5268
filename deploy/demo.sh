#!/bin/bash
# Registers the demo app (process driver) with `make up`: a static page
# served by python3's http.server, stopped until someone visits
# http://demo.localhost:PORT/; and the demo IDE pool.
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

# The demo IDE pool: deploy/ide/ide.py as the IDE, one member ready and
# one spare; each NAME.ide.localhost gets its own, with the files of
# run/workspaces/NAME.ide.localhost.
popts=(--driver process --ready http:/ready --domain '*.ide.localhost'
	--active 1 --inactive 1 --ttl 300
	--command "mkdir -p tmp && TMPDIR=\$PWD/tmp exec python3 '$ROOT/deploy/ide/ide.py'")
if $CTL pool show ide >/dev/null 2>&1; then
	$CTL pool update ide "${popts[@]}" >/dev/null
else
	$CTL pool create ide "${popts[@]}" >/dev/null
fi || { echo "could not register the demo IDE pool" >&2; exit 1; }
echo "demo IDE pool: http://NAME.ide.localhost:$PORT/whoami (a member each)"
