#!/bin/bash
# Deploys across deployer replicas and deployer crashes: one deploy per
# app at a time whichever replica is asked (the other answers 409
# "deploy N in progress"); a deployer killed with -9 while its new
# instances start, and one killed after its switch while the old ones
# drain: once the lock's lease lapses, a replica's recovery leaves the
# app running exactly one release (the one its record names), no staged
# or draining instance, no orphan process, and the deploy marked failed
# (before the switch) or done (after it). Then a sleeping app deployed
# with --wake runs the new release at once, and an app stopped while its
# deploy starts new instances gets the release for its next wake; with
# autostart killed -9 while it stages, the deploy goes on with the
# autostart that replaces it and nothing the dead one staged is left. Real redis-server, bus,
# autostart, proxy, two deployers, devcloudctl, curl, python3.
. "$(dirname "$0")/lib.sh"

REL=$T/releases
AUTOSTART_EXTRA='sweep_interval_ms = 100; stop_grace_ms = 2000; drain_ms = 300;'
PROXY_EXTRA='flush_interval_ms = 200; hold_timeout_ms = 20000;'
DEPLOYER_EXTRA="releases_dir = \"$REL\"; drain_ms = 4000; watch_ms = 500;
	watch_interval_ms = 200;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy deployer || not_ok "daemons ready"
# a second deployer replica, on its own ports
P2=($(free_ports 2))
ADMIN2=127.0.0.1:${P2[1]}
start deployer2 env DEVCLOUD_DEPLOYER_CONTROL=tcp://127.0.0.1:${P2[0]} \
	DEVCLOUD_DEPLOYER_ADMIN=$ADMIN2 "$BIN/devcloud-deployer" -c "$CONF"
check "second deployer ready" wait_for 10 healthz_is "$ADMIN2" 200
start events "$BIN/devcloudctl" -c "$CONF" events
sleep 0.3

A=$T/art
artifact() {
	mkdir -p "$A/$1"
	cp "$ROOT/tests/apps/release_app.py" "$A/$1/app.py"
	[ -z "${2:-}" ] || echo "$2" >"$A/$1/mode"
	tar czf "$A/$1.tgz" -C "$A/$1" .
}
artifact good
artifact slow slow
# upload ADMIN FILE [CURL_ARGS...]: web's artifact to the deployer at
# ADMIN; the status, then the body, in $T/answer.
upload() {
	local a=$1 f=$2
	shift 2
	curl -s -m 20 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
		--data-binary "@$f" "$@" "http://$a/v1/apps/web/releases"
}
accepted() { sed -n 's/^accepted \([0-9]*\)$/\1/p' "$T/answer"; }
event() {
	grep "\"type\":\"$1\"" "$T/events.log" | grep "\"app\":\"web\"" |
		grep "\"release\":\"$2\"" | grep -- "${3:-}"
}
has_event() { [ -n "$(event "$@")" ]; }
states() {
	local id
	for id in $(rcli smembers "$(key instances web)" | sort -n); do
		printf '%s=%s/%s ' "$id" \
			"$(rcli hget "$(key instance web "$id")" state)" \
			"$(rcli hget "$(key instance web "$id")" release)"
	done
}
only_release() {
	local s
	s=$(states)
	[ "$(echo "$s" | wc -w)" -eq "$2" ] &&
		[ -z "$(echo "$s" | tr ' ' '\n' | grep -v "=ready/$1\$" | grep .)" ]
}
live_pids() {
	awk '{ print $1 }' "$T/run/web.pid" 2>/dev/null |
		while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done
}
# the app processes running: those the pid file names, and any other
# release_app.py running in one of this test's releases (an orphan
# would be one, whoever its parent is now)
napps() {
	local p n=0
	for p in $(pgrep -f "python3 app.py"); do
		case $(readlink "/proc/$p/cwd" 2>/dev/null) in
		"$REL"/*) n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}
napps_is() { [ "$(napps)" -eq "$1" ] && [ "$(live_pids | wc -l)" -eq "$1" ]; }
clean() {
	[ "$(rcli exists "$(key deploy_lock web)")" = 0 ] &&
		[ -z "$(rcli hget "$(key app web)" deploying)" ] &&
		[ "$(rcli scard "$(key deploying)")" = 0 ]
}

check "app create web" ctl app create web --domain web.test --ttl 600 \
	--command "python3 app.py" --start-timeout 10000
st=$(upload "$ADMIN_deployer" "$A/good.tgz")
check "release 1 made current" wait_for 10 has_event deploy.done 1
check "a request starts it on release 1" \
	[ "$(px_curl web.test / -m 20)" = "release 1" ]
ctl app update web --min 2 --max 2 >/dev/null
ctl app scale web 2 >/dev/null
check "two instances on release 1" wait_for 20 only_release 1 2

# --- one deploy per app, whichever replica ------------------------------
st=$(upload "$ADMIN_deployer" "$A/slow.tgz")
check "a slow release accepted as 2 by the first deployer" \
	[ "$st:$(accepted)" = 202:2 ]
check "it is starting its instances" \
	wait_for 10 has_event deploy.progress 2 '"phase":"starting"'
st=$(upload "$ADMIN2" "$A/good.tgz")
check "the second deployer answers 409 deploy 2 in progress" \
	[ "$st:$(cat "$T/answer")" = "409:deploy 2 in progress" ]
check "the record says deploying 2" \
	[ "$(rcli hget "$(key app web)" deploying)" = 2 ]
check "deploy 2 done" wait_for 30 has_event deploy.done 2
check "two instances on release 2" wait_for 10 only_release 2 2
check "no deploy mark left" clean

# --- kill -9 before the switch ----------------------------------------------
st=$(upload "$ADMIN_deployer" "$A/slow.tgz")
check "a slow release accepted as 3" [ "$st:$(accepted)" = 202:3 ]
wait_for 10 has_event deploy.progress 3 '"phase":"starting"' ||
	not_ok "deploy 3 starting"
sleep 1
{ kill -9 "$PID_deployer"; wait "$PID_deployer"; } 2>/dev/null
check "its staged instances exist" bash -c "
	for id in \$(redis-cli -p $REDIS_PORT smembers $(key instances web)); do
		[ \"\$(redis-cli -p $REDIS_PORT hget $(key instance web X | sed 's/X$//')\$id state)\" = staged ] && exit 0
	done; exit 1"
start deployer "$BIN/devcloud-deployer" -c "$CONF"
check "the deployer restarts" wait_for 10 healthz_is "$ADMIN_deployer" 200
check "deploy 3 marked failed after the restart" \
	wait_for 30 has_event deploy.failed 3
check "...by the recovery: before the switch, 2 keeps serving" \
	has_event deploy.failed 3 'before the switch; release 2 keeps serving'
check "two instances, all on release 2, none staged" wait_for 20 only_release 2 2
check "the record names release 2" [ "$(rcli hget "$(key app web)" release)" = 2 ]
check "exactly two app processes, no orphan" wait_for 20 napps_is 2
check "no deploy mark left" clean
check "it serves release 2" [ "$(px_curl web.test / -m 10)" = "release 2" ]

# --- kill -9 after the switch, while the old ones drain ---------------------
check "deployer ready again" wait_for 10 healthz_is "$ADMIN_deployer" 200
st=$(upload "$ADMIN_deployer" "$A/good.tgz")
check "release 4 accepted" [ "$st:$(accepted)" = 202:4 ]
check "deploy 4 switched" wait_for 20 has_event deploy.switched 4
{ kill -9 "$PID_deployer"; wait "$PID_deployer"; } 2>/dev/null
check "the old ones are draining" bash -c "redis-cli -p $REDIS_PORT keys '$(key instance web X | sed 's/X$//')*' | while read k; do redis-cli -p $REDIS_PORT hget \$k state; done | grep -q draining"
check "deploy 4 marked done by the second deployer's recovery" \
	wait_for 30 has_event deploy.done 4
check "two instances, all on release 4" wait_for 20 only_release 4 2
check "exactly two app processes, no orphan" wait_for 20 napps_is 2
check "no deploy mark left" clean
check "it serves release 4" [ "$(px_curl web.test / -m 10)" = "release 4" ]

# --- a sleeping app deployed with --wake ---------------------------------
check "app stop web" ctl app stop web
check "web stopped" wait_for 20 app_state_is web stopped
check "devcloudctl deploy --wake (to the second deployer)" env DEVCLOUD_DEPLOYER_ADMIN=$ADMIN2 \
	"$BIN/devcloudctl" -c "$CONF" -w 30000 deploy web "$A/good.tgz" --wake
check "it runs at once, on release 5" wait_for 10 only_release 5 2
check "it serves release 5" [ "$(px_curl web.test / -m 10)" = "release 5" ]

# --- the app stopped while its new instances start ---------------------
st=$(upload "$ADMIN2" "$A/slow.tgz")
check "a slow release accepted as 6" [ "$st:$(accepted)" = 202:6 ]
wait_for 10 has_event deploy.progress 6 '"phase":"starting"' ||
	not_ok "deploy 6 starting"
check "app stop web, mid-deploy" ctl app stop web
check "deploy 6 done all the same" wait_for 30 has_event deploy.done 6
check "the record names release 6 for the next wake" \
	[ "$(rcli hget "$(key app web)" release)" = 6 ]
check "nothing runs" wait_for 20 napps_is 0
check "its next request runs release 6" \
	[ "$(px_curl web.test / -m 30)" = "release 6" ]
check "two instances on release 6" wait_for 20 only_release 6 2

# --- autostart killed -9 while it stages ----------------------------------
st=$(upload "$ADMIN2" "$A/slow.tgz")
check "a slow release accepted as 7" [ "$st:$(accepted)" = 202:7 ]
wait_for 10 has_event deploy.progress 7 '"phase":"starting"' ||
	not_ok "deploy 7 starting"
sleep 1
{ kill -9 "$PID_autostart"; wait "$PID_autostart"; } 2>/dev/null
start autostart "$BIN/devcloud-autostart" -c "$CONF"
check "autostart restarts" wait_for 10 healthz_is "$ADMIN_autostart" 200
# nng resends the stage requests to the new autostart, which stages
# again: the deploy goes on, and what the dead one staged is retired
check "deploy 7 done all the same" wait_for 60 has_event deploy.done 7
check "two instances, all on release 7, none staged" wait_for 20 only_release 7 2
check "exactly two app processes: the dead one's staged ones stopped" \
	wait_for 20 napps_is 2
check "no deploy mark left" clean
finish
