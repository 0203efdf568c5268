#!/bin/bash
# The deployer's switch-over, start-first: a sleeping app's deploy makes
# the release current without waking it, and its next request runs it;
# a running app with two instances is deployed 5 times in a row under
# steady load (hey, 8 clients at 50 requests/s each, plus a keep-alive checker that
# reads every answer) with zero failed requests, every answer from one
# release, and exactly the new release's instances left each time; a
# release that never gets ready is refused before the switch, the old
# one serving, still zero failed; a release that answers 500s after the
# switch is rolled back within the watch window (deploy.rolledback),
# and so is one whose instances die after the switch;
# devcloudctl rollback goes back by hand. Real redis-server, bus,
# autostart, proxy, deployer, curl, hey, python3.
. "$(dirname "$0")/lib.sh"

command -v hey >/dev/null || { not_ok "hey is installed"; finish; }
REL=$T/releases
AUTOSTART_EXTRA='sweep_interval_ms = 100; stop_grace_ms = 2000; drain_ms = 300;'
PROXY_EXTRA='flush_interval_ms = 200; hold_timeout_ms = 20000;'
DEPLOYER_EXTRA="releases_dir = \"$REL\"; drain_ms = 500; watch_ms = 1500;
	watch_interval_ms = 200; watch_failures = 2;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy deployer || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events
sleep 0.3

URL=http://$ADMIN_deployer/v1/apps
A=$T/art
# artifact NAME [MODE]: $A/NAME.tgz, the test app with its mode file
artifact() {
	mkdir -p "$A/$1"
	cp "$ROOT/tests/apps/release_app.py" "$A/$1/app.py"
	[ -z "${2:-}" ] || echo "$2" >"$A/$1/mode"
	tar czf "$A/$1.tgz" -C "$A/$1" .
}
artifact good
artifact never exit
artifact bad 500
artifact crash crash
# upload FILE [CURL_ARGS...]: POSTs FILE as web's artifact; the status,
# then the body, in $T/answer.
upload() {
	local f=$1
	shift
	curl -s -m 20 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
		--data-binary "@$f" "$@" "$URL/web/releases"
}
accepted() { sed -n 's/^accepted \([0-9]*\)$/\1/p' "$T/answer"; }
event() {
	grep "\"type\":\"$1\"" "$T/events.log" | grep "\"app\":\"web\"" |
		grep "\"release\":\"$2\""
}
has_event() { [ -n "$(event "$1" "$2")" ]; }
ended() { has_event deploy.done "$1" || has_event deploy.failed "$1"; }
field() {
	event "$1" "$2" | head -n 1 |
		python3 -c "import json, sys; print(json.load(sys.stdin)['$3'])"
}
current() { rcli hget "$(key app web)" release; }
# states: "ID=STATE/RELEASE" of web's instances, sorted, on one line
states() {
	local id
	for id in $(rcli smembers "$(key instances web)" | sort -n); do
		printf '%s=%s/%s ' "$id" \
			"$(rcli hget "$(key instance web "$id")" state)" \
			"$(rcli hget "$(key instance web "$id")" release)"
	done
}
# only_release N COUNT: web has COUNT instances, every one ready on N
only_release() {
	local s
	s=$(states)
	[ "$(echo "$s" | wc -w)" -eq "$2" ] &&
		[ -z "$(echo "$s" | tr ' ' '\n' | grep -v "=ready/$1\$" | grep .)" ]
}
# live_pids: the app processes the pid file names that still run
live_pids() {
	awk '{ print $1 }' "$T/run/web.pid" 2>/dev/null |
		while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done
}
failures() {
	awk '/^Error distribution/ { e = 1; next }
	     e && /^ *\[[0-9]+\]/ { gsub(/[][]/, "", $1); n += $1; next }
	     /^ *\[[0-9]+\]\t*[0-9]+ responses/ { gsub(/[][]/, "", $1);
		if ($1 != 200) n += $2 }
	     END { print n + 0 }' "$1"
}

# db: web's sidekick (its group), woken with it, never touched by a deploy
check "app create db (web's sidekick)" ctl app create db --ttl 600 --domain db.test \
	--command "python3 -m http.server \$PORT --bind 127.0.0.1"
check "app create web" ctl app create web --domain web.test --ttl 600 \
	--command "python3 app.py" --start-timeout 5000 --group db

# --- a sleeping app: the release becomes current, nothing starts --------
st=$(upload "$A/good.tgz")
check "sleeping app: 202 accepted 1" [ "$st:$(accepted)" = 202:1 ]
check "deploy.done for release 1" wait_for 10 has_event deploy.done 1
check "the record names release 1" [ "$(current)" = 1 ]
check "the deploy did not wake it" app_state_is web stopped
check "no deploy mark left" [ -z "$(rcli hget "$(key app web)" deploying)" ]
check "its next request runs release 1" \
	[ "$(px_curl web.test / -m 20)" = "release 1" ]
check "its instance records release 1" only_release 1 1

# --- a running app, two instances, 5 deploys under load ------------------
check "app update web --min 2 --max 2" ctl app update web --min 2 --max 2
check "app scale web 2" ctl app scale web 2
check "two ready instances" wait_for 20 only_release 1 2
check "the sidekick runs" wait_for 20 app_state_is db running
db_pids=$(awk '{ print $1 }' "$T/run/db.pid")
start hey hey -z 600s -c 8 -q 50 \
	-host web.test "http://127.0.0.1:$PROXY_PORT/"
start check python3 "$ROOT/tests/integration/deploy_check.py" \
	"$PROXY_PORT" web.test 4 "$T/stop"
sleep 1
for n in 2 3 4 5 6; do
	st=$(upload "$A/good.tgz" -H "X-Devcloud-Check: /")
	[ "$st:$(accepted)" = "202:$n" ] || not_ok "deploy $n accepted ($st)"
	wait_for 30 ended $n || not_ok "deploy $n ended"
	has_event deploy.done $n || not_ok "deploy $n done: $(field deploy.failed $n reason)"
	only_release $n 2 || not_ok "after deploy $n: only release $n runs ($(states))"
done
check "5 deploys: deploy.done for 2..6" bash -c "
	for n in 2 3 4 5 6; do grep -q '\"type\":\"deploy.done\".*\"release\":\"'\$n'\"' $T/events.log || exit 1; done"
check "each switched (deploy.switched)" [ "$(grep -c '"type":"deploy.switched"' "$T/events.log")" -eq 5 ]
check "deploy.progress names the phases" bash -c "
	grep '\"type\":\"deploy.progress\"' $T/events.log | grep -q '\"phase\":\"starting\"' &&
	grep '\"type\":\"deploy.progress\"' $T/events.log | grep -q '\"phase\":\"switching\"' &&
	grep '\"type\":\"deploy.progress\"' $T/events.log | grep -q '\"phase\":\"watching\"'"
check "release 6 current, two instances on it" bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget $(key app web) release)\" = 6 ]"
check "exactly two app processes run" [ "$(live_pids | wc -l)" -eq 2 ]
check "the sidekick kept running through the deploys, same process" bash -c "
	[ \"\$(awk '{ print \$1 }' $T/run/db.pid)\" = '$db_pids' ] && kill -0 $db_pids"

# --- a release that never gets ready: refused, old serving ---------------
st=$(upload "$A/never.tgz")
check "never-ready release accepted as 7" [ "$st:$(accepted)" = 202:7 ]
check "deploy 7 failed" wait_for 30 has_event deploy.failed 7
check "it failed before the switch, in the starting phase" \
	[ "$(field deploy.failed 7 phase)" = starting ]
check "its reason says why" bash -c "field() { :; }; grep '\"type\":\"deploy.failed\"' $T/events.log | grep '\"release\":\"7\"' | grep -q 'exited\|ready'"
check "release 6 still current and serving on two" only_release 6 2
check "release 7 marked failed" [ "$(rcli hget "$(key release web 7)" state)" = failed ]
sleep 1
touch "$T/stop"
kill -INT "$PID_hey" 2>/dev/null
wait_for 15 bash -c "! kill -0 $PID_check 2>/dev/null" || not_ok "checker ends"
wait_for 15 bash -c "! kill -0 $PID_hey 2>/dev/null" || not_ok "hey ends"
total=$(awk '$1 == 200 { n += $3 } END { print n + 0 }' "$T/check.log")
check "the checker saw requests ($total)" [ "$total" -gt 500 ]
check "hey: 0 failed requests" [ "$(failures "$T/hey.log")" = 0 ]
check "checker: 0 errors, only 200s" bash -c "
	[ \"\$(tail -n 1 $T/check.log)\" = 'errors 0' ] &&
	! grep -v '^errors' $T/check.log | grep -qv '^200 '"
check "checker: every answer is one whole release (1..6)" bash -c "
	! grep -v '^errors' $T/check.log | grep -qvE '^200 release_[1-6] [0-9]+$'"
grep -E "Requests/sec|responses|Error" "$T/hey.log" | sed 's/^/# hey: /'
sed 's/^/# checker: /' "$T/check.log"

# --- a release that answers 500 after the switch: rolled back -----------
st=$(upload "$A/bad.tgz")
check "500 release accepted as 8" [ "$st:$(accepted)" = 202:8 ]
check "deploy.rolledback for 8" wait_for 30 has_event deploy.rolledback 8
check "deploy 8 failed in the watch" wait_for 10 has_event deploy.failed 8
check "...phase watch, reason names the 500" bash -c "
	grep '\"type\":\"deploy.failed\"' $T/events.log | grep '\"release\":\"8\"' |
	grep '\"phase\":\"watch\"' | grep -q 'rolled back to release 6.*answered 500'"
check "release 6 current again, two instances" wait_for 10 only_release 6 2
check "release 8 marked bad" [ "$(rcli hget "$(key release web 8)" state)" = bad ]
check "devcloudctl releases shows it bad, 6 current" bash -c "
	$BIN/devcloudctl -c $CONF releases web >$T/rels &&
	grep -qE '^  8 .* bad ' $T/rels && grep -qE '^\\* 6 .* ready ' $T/rels"
check "it serves release 6" [ "$(px_curl web.test / -m 10)" = "release 6" ]

# --- a release whose instances die after the switch: rolled back --------
st=$(upload "$A/crash.tgz")
check "crashing release accepted as 9" [ "$st:$(accepted)" = 202:9 ]
check "deploy.rolledback for 9" wait_for 30 has_event deploy.rolledback 9
check "...because an instance ended" bash -c "
	grep '\"type\":\"deploy.rolledback\"' $T/events.log | grep '\"release\":\"9\"' |
	grep -q 'instance [0-9]* ended: exited'"
check "deploy 9 failed in the watch" wait_for 10 has_event deploy.failed 9
# every new instance died: the app may have stopped with them, its
# record pointed back at 6 for its next wake
check "the record names release 6 again" [ "$(current)" = 6 ]
check "it serves release 6" [ "$(px_curl web.test / -m 20)" = "release 6" ]
check "release 6 on two instances" wait_for 20 only_release 6 2

check "/metrics counts the two rollbacks" bash -c "
	curl -s -m 5 http://$ADMIN_deployer/metrics |
	grep -qx 'devcloud_deployer_deploys_total{outcome=\"rolledback\"} 2'"

# --- rollback by hand -----------------------------------------------------
check "devcloudctl rollback web 5" ctl rollback web 5
check "release 5 current, two instances" wait_for 30 only_release 5 2
check "it serves release 5" [ "$(px_curl web.test / -m 10)" = "release 5" ]
check "rollback: not to the current one" \
	refused 1 "release 5 is the current one" ctl rollback web 5
check "rollback: no such release" refused 1 "no release 99" ctl rollback web 99
check "exactly two app processes run" wait_for 10 bash -c "[ \$(awk '{print \$1}' $T/run/web.pid | while read p; do kill -0 \$p 2>/dev/null && echo \$p; done | wc -l) -eq 2 ]"
finish
