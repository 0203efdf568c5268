#!/bin/bash
# Autoscaling end to end: an app with target_concurrency 4 and at most 3
# instances, whose answers take 50 ms, under hey's load through the real
# proxy. Sustained load scales it 1 -> 3; once the load stops and the
# down window has passed it goes back to 1; a burst shorter than the up
# window moves nothing; two regulator replicas take the same decisions
# as one. The real proxy, autostart (which carries out `scale`) and
# regulator, the process driver. The windows are short here; no check
# measures a time.
. "$(dirname "$0")/lib.sh"

command -v hey >/dev/null || { not_ok "hey is installed (deploy/deps.sh)"; finish; }
PROXY_EXTRA='flush_interval_ms = 200;'
AUTOSTART_EXTRA='drain_ms = 200; stop_grace_ms = 1000;'
UP_S=3
REGULATOR_EXTRA="scale_interval_ms = 300; scale_up_window_ms = $((UP_S * 1000));
	scale_down_window_ms = 5000; panic_factor = 4; scale_step = 2;
	apps_refresh_ms = 1000;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy regulator || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events app.
sleep 0.3

check "app create busy" ctl app create busy --domain busy.test --ttl 600 \
	--command "exec python3 $ROOT/tests/apps/slowhttp.py"
check "app update busy --min 1 --max 3 --target-concurrency 4" \
	ctl app update busy --min 1 --max 3 --target-concurrency 4
check "the regulator follows busy" wait_for 5 grep -q \
	'msg="app autoscaled" app=busy target_concurrency=4 min=1 max=3' \
	"$T/regulator.log"
check "busy wakes" [ "$(px_status busy.test / -m 30)" = 200 ]

instances() { rcli scard "$(key instances busy)"; }
has_instances() { [ "$(instances)" = "$1" ]; }
# scaled: the app.scaled events of busy so far, as "FROM>TO" words.
scaled() {
	grep '"type":"app.scaled".*"app":"busy"' "$T/events.log" |
		sed 's/.*"from":\([0-9]*\),"to":\([0-9]*\).*/\1>\2/' | tr '\n' ' '
}
# up_then_down "1>3 3>2 2>1 ": steps up from 1 to 3, then steps down
# to 1, each step starting where the last one ended (no decision taken
# twice). The windows may see a ramp in more than one interval, so 1>3
# or 1>2 2>3, and 3>1 or 3>2 2>1, are all one rise and one fall.
up_then_down() {
	local seq=($1) step prev=1 peaked=
	[ ${#seq[@]} -ge 2 ] || return 1
	for step in "${seq[@]}"; do
		[ "${step%>*}" = "$prev" ] || return 1
		if [ "${step#*>}" -gt "$prev" ]; then
			[ -z "$peaked" ] || return 1	# up again after down
		else
			peaked=1
		fi
		prev=${step#*>}
	done
	[ "$peaked" = 1 ] && [ "$prev" = 1 ] &&
		grep -q '>3' <<<"$1"
}
nscaled() { grep -c '"type":"app.scaled".*"app":"busy"' "$T/events.log"; }
load() { hey -z "$1" -c 10 -host busy.test "http://127.0.0.1:$PROXY_PORT/" \
	>>"$T/hey.out" 2>&1; }
decisions() {
	local a n=0 v
	for a in "$@"; do
		v=$(curl -s "http://$a/metrics" |
			awk '$1 == "devcloud_regulator_scale_decisions_total" { print $2 }')
		n=$((n + ${v:-0}))
	done
	echo "$n"
}

# Sustained load: 10 in flight for a target of 4 per instance.
load 8s &
HEY=$!
answered() {
	grep -Eq 'msg="(app scaled|scale refused)" app=busy' "$T/regulator.log"
}
wait_for 15 answered
if grep -q 'msg="scale refused" app=busy' "$T/regulator.log"; then
	not_ok "autostart carries out scale (it answered: $(grep -o 'msg="scale refused" app=busy .*' "$T/regulator.log" | head -n 1))"
	kill "$HEY" 2>/dev/null
	finish
fi
check "sustained load scales busy to 3 instances" wait_for 15 has_instances 3
check "app.scaled reaches 3" wait_for 5 grep -q \
	'"type":"app.scaled".*"app":"busy".*"to":3' "$T/events.log"
wait "$HEY"
check "after the load and the down window, back to 1" wait_for 30 has_instances 1
check "app.scaled ends at 1" wait_for 5 grep -q \
	'"type":"app.scaled".*"app":"busy".*"to":1' "$T/events.log"
one=$(scaled)
check "one replica: up to 3, then down to 1 ($one)" \
	up_then_down "$one"

# A burst shorter than the up window.
n=$(nscaled)
load 1s
sleep $((UP_S + 1))
check "a burst shorter than the up window does not scale" \
	[ "$(nscaled)" = "$n" ]
check "and busy still has 1 instance" has_instances 1

# Two replicas: the same decisions, each taken once.
p=($(free_ports 2))
start regulator2 env DEVCLOUD_INSTANCE=second \
	DEVCLOUD_REGULATOR_CONTROL="tcp://127.0.0.1:${p[0]}" \
	DEVCLOUD_REGULATOR_ADMIN="127.0.0.1:${p[1]}" \
	"$BIN/devcloud-regulator" -c "$CONF"
check "a second regulator starts" wait_for 10 healthz_is "127.0.0.1:${p[1]}" 200
check "it follows busy too" wait_for 5 grep -q \
	'msg="app autoscaled" app=busy' "$T/regulator2.log"
before=$(scaled)
d0=$(decisions "$ADMIN_regulator" "127.0.0.1:${p[1]}")
n=$(nscaled)
load 8s &
HEY=$!
check "two replicas: sustained load scales busy to 3" wait_for 15 has_instances 3
wait "$HEY"
check "two replicas: back to 1" wait_for 30 has_instances 1
sleep 1
two=$(scaled)
two=${two#"$before"}
check "two replicas decide as one: up to 3, down to 1, no step twice ($two)" \
	up_then_down "$two"
d1=$(decisions "$ADMIN_regulator" "127.0.0.1:${p[1]}")
check "one scale command per decision, whichever replica" \
	[ $((d1 - d0)) -eq $(($(nscaled) - n)) ]
check "no app.scaled repeats a count" bash -c \
	"! grep '\"type\":\"app.scaled\"' '$T/events.log' |
	grep -Eq '\"from\":([0-9]+),\"to\":\\1[,}]'"

finish
