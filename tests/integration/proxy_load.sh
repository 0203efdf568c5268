#!/bin/bash
# What the autoscaler reads: the proxy's in-flight figures per app in
# load:APP ("AVG PEAK MS TUNNELS" under the proxy's name), written while the app
# has load and once after, expiring when the proxy stops writing, never
# written for an idle app; and the regulator turning sustained load into
# a scale decision for autostart. The real proxy, autostart, regulator,
# the process driver and an app whose answers take 50 ms, loaded by hey.
. "$(dirname "$0")/lib.sh"

command -v hey >/dev/null || { not_ok "hey is installed (deploy/deps.sh)"; finish; }
PROXY_EXTRA='flush_interval_ms = 400;'
REGULATOR_EXTRA='scale_interval_ms = 200; scale_up_window_ms = 2000;
	scale_down_window_ms = 600000; panic_factor = 0; apps_refresh_ms = 1000;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy regulator || not_ok "daemons ready"

SLOW="exec python3 $ROOT/tests/apps/slowhttp.py"
check "app create busy" ctl app create busy --domain busy.test --ttl 600 \
	--command "$SLOW"
check "app create idle" ctl app create idle --domain idle.test --ttl 600 \
	--command "$SLOW"
rcli hset "$(key app busy)" target_concurrency 4 max_instances 3 >/dev/null
check "app.changed for the new bounds" ctl publish \
	"app.changed {\"v\":1,\"ts\":$(date +%s%3N),\"source\":\"test/1\",\"app\":\"busy\"}"
check "the regulator follows busy" wait_for 5 grep -q \
	'msg="app autoscaled" app=busy target_concurrency=4 min=1 max=3' \
	"$T/regulator.log"
check "busy wakes" [ "$(px_status busy.test / -m 30)" = 200 ]
check "idle wakes" [ "$(px_status idle.test / -m 30)" = 200 ]

# field_of APP: the proxy's field of the app's load hash; value_of APP:
# its value.
field_of() { rcli hkeys "$(key load "$1")" | grep '^proxy/'; }
value_of() { rcli hget "$(key load "$1")" "$(field_of "$1")"; }
FIGURE='^[0-9]+\.[0-9]{2} [0-9]+ [0-9]{13} [0-9]+$'

hey -z 4s -c 10 -host busy.test "http://127.0.0.1:$PROXY_PORT/" >"$T/hey.out" 2>&1 &
HEY=$!
loaded() { value_of busy | awk '{ exit !($1 >= 4 && $2 >= 4) }'; }
check "under load, the figure of busy shows it (10 in flight)" wait_for 5 loaded
inst=$(sed -n 's/.*msg="started" version=[^ ]* instance=\([^ ]*\) .*/\1/p' "$T/proxy.log")
check "the field is the proxy's name, proxy/INSTANCE" \
	[ "$(rcli hkeys "$(key load busy)")" = "proxy/$inst" ]
check "the value is AVG PEAK MS TUNNELS" grep -Eq "$FIGURE" <<<"$(value_of busy)"
ttl=$(rcli pttl "$(key load busy)")
check "the key expires within a few flush intervals" \
	[ "${ttl:-0}" -gt 0 -a "${ttl:-0}" -le 2000 ]
check "sustained load is asked of autostart: busy from 1 up" wait_for 10 \
	grep -Eq 'msg="scale decision" app=busy load=[0-9.]+ peak=[0-9]+ from=1 to=[23] want=3 reason="load above target"' \
	"$T/regulator.log"
check "decisions are counted" bash -c "curl -s http://$ADMIN_regulator/metrics |
	grep -Eq '^devcloud_regulator_scale_decisions_total [1-9]'"
wait "$HEY"
check "hey's requests were answered" grep -q '\[200\]' "$T/hey.out"

# After the load: one 0 figure, then no more writes, then the key is gone.
zero() { value_of busy | grep -q '^0\.00 0 '; }
check "the drop to 0 is written" wait_for 5 zero
v1=$(value_of busy)
sleep 1.2
check "then the proxy writes no more for it" [ "$(value_of busy)" = "$v1" ]
gone() { [ "$(rcli exists "$(key load busy)")" = 0 ]; }
check "and the figure expires" wait_for 5 gone
check "an app without requests since its wake has no load key" \
	[ "$(rcli exists "$(key load idle)")" = 0 ]
check "the idle app is not autoscaled" bash -c \
	"! grep -q 'msg=\"app autoscaled\" app=idle' '$T/regulator.log'"

finish
