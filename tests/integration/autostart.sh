#!/bin/bash
# Apps stopped by default, started by their first request, stopped when
# idle: the real proxy, the real autostart and the process driver.
. "$(dirname "$0")/lib.sh"

AUTOSTART_EXTRA='sweep_interval_ms = 100; stop_grace_ms = 2000;'
PROXY_EXTRA='flush_interval_ms = 200; hold_timeout_ms = 20000;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events app.
sleep 0.3

# A tiny app: python's http.server on $PORT serving a page with a token.
mkdir -p "$T/www"
echo "hello-$$" >"$T/www/index.html"
SERVE="exec python3 -m http.server \$PORT --bind 127.0.0.1 --directory $T/www"
get() { px_curl "$1" / -m 30; }
starts() { grep -c "msg=\"app process started\" app=$1 " "$T/autostart.log"; }
events() { grep -c "\"type\":\"$1\".*\"app\":\"$2\"" "$T/events.log"; }
seen() { [ "$(events "$1" "$2")" -ge 1 ]; }

check "app create" ctl app create hello --domain hello.test --ttl 2 \
	--command "$SERVE"
check "a new app is stopped" app_state_is hello stopped

# Cold request: held, the app started, the request served.
check "cold request is served" [ "$(get hello.test)" = "hello-$$" ]
check "the app is running" app_state_is hello running
check "app.waking published" wait_for 5 seen app.waking hello
check "app.ready carries the wake phases" wait_for 5 grep -q \
	'"type":"app.ready".*"app":"hello".*"queued_ms":[0-9]*,"start_ms":[0-9]*,"ready_ms":[0-9]*' \
	"$T/events.log"
check "warm request is served" [ "$(get hello.test)" = "hello-$$" ]
check "started once" [ "$(starts hello)" -eq 1 ]

# Idle past its TTL: stopped by the sweeper; the next request wakes it.
pid=$(awk '{ print $1 }' "$T/run/hello.pid")
check "idle app is stopped after its TTL" wait_for 15 app_state_is hello stopped
check "its process is gone" bash -c "! kill -0 $pid 2>/dev/null"
check "app.stopped says idle" wait_for 5 grep -q \
	'"type":"app.stopped".*"app":"hello".*"reason":"idle"' "$T/events.log"
check "the next request wakes it again" [ "$(get hello.test)" = "hello-$$" ]
check "started a second time" [ "$(starts hello)" -eq 2 ]

# 200 concurrent requests to a cold app: one start, 200 successes.
# (python's http.server keeps a backlog of 5: the crowd gets a C app)
cc -O2 -o "$T/tinyhttp" "$ROOT/tests/apps/tinyhttp.c" || not_ok "build tinyhttp"
check "app create crowd" ctl app create crowd --domain crowd.test --ttl 30 \
	--command "sleep 0.5; exec $T/tinyhttp"
seq 200 | xargs -P 200 -I{} curl -s -o /dev/null -m 60 -w '%{http_code}\n' \
	-H 'Host: crowd.test' "http://127.0.0.1:$PROXY_PORT/" >"$T/crowd.out"
check "200 concurrent cold requests all succeed" \
	[ "$(grep -c '^200$' "$T/crowd.out")" -eq 200 ]
check "and the app started exactly once" [ "$(starts crowd)" -eq 1 ]
check "one app.ready for them" [ "$(events app.ready crowd)" -eq 1 ]

# autostart restarts while an app runs: the app is adopted through its
# pid file, neither orphaned nor started twice, and still stopped when idle.
check "app create keep" ctl app create keep --domain keep.test --ttl 4 \
	--command "$SERVE"
check "keep serves" [ "$(get keep.test)" = "hello-$$" ]
kpid=$(awk '{ print $1 }' "$T/run/keep.pid")
kill "$PID_autostart"
wait "$PID_autostart" 2>/dev/null
check "the app outlives autostart" kill -0 "$kpid"
start autostart "$BIN/devcloud-autostart" -c "$CONF"
check "autostart back after a restart" wait_for 10 healthz_is "$ADMIN_autostart" 200
check "app wake after the restart answers" ctl app wake keep
check "the running app was kept, not started again" bash -c \
	"[ \$(awk '{print \$1}' '$T/run/keep.pid') = $kpid ] && kill -0 $kpid &&
	 ! grep -q 'msg=\"app process started\" app=keep ' '$T/autostart.log'"
check "the adopted app is stopped when idle" wait_for 20 app_state_is keep stopped
check "and its process is gone" wait_for 5 bash -c "! kill -0 $kpid 2>/dev/null"
check "it was adopted through its pid file" grep -q \
	"msg=\"adopted running app\" app=keep pid=$kpid" "$T/autostart.log"

# A group: the database wakes with its app and stops with it, whatever
# its own TTL.
check "app create db" ctl app create db --domain db.test --ttl 1 --command "$SERVE"
check "app create web with group db" ctl app create web --domain web.test \
	--ttl 3 --group db --command "$SERVE"
check "web serves" [ "$(get web.test)" = "hello-$$" ]
check "db woke with web" wait_for 5 app_state_is db running
sleep 2
check "db outlives its own TTL while web runs" app_state_is db running
check "web stops when idle" wait_for 15 app_state_is web stopped
check "db stops with web" wait_for 10 app_state_is db stopped

# A request that arrives while the app is stopping is held, and served
# once the app has stopped and woken again.
check "app create slowstop" ctl app create slowstop --domain slowstop.test \
	--ttl 1 --command "trap 'sleep 1; exit 0' TERM; python3 -m http.server \$PORT --bind 127.0.0.1 --directory $T/www & wait"
check "slowstop serves" [ "$(get slowstop.test)" = "hello-$$" ]
check "slowstop begins stopping" wait_for 15 app_state_is slowstop stopping
check "a request during stopping is served after the re-wake" \
	[ "$(get slowstop.test)" = "hello-$$" ]
check "slowstop was stopped, then started again" bash -c \
	"[ $(starts slowstop) -eq 2 ] && grep -q '\"type\":\"app.stopped\".*\"app\":\"slowstop\"' '$T/events.log'"

# An app that ignores SIGTERM is killed once its grace period is over.
check "app create stubborn" ctl app create stubborn --domain stubborn.test \
	--command "trap '' TERM; $SERVE & while :; do sleep 1; done"
check "stubborn serves" [ "$(get stubborn.test)" = "hello-$$" ]
spid=$(awk '{ print $1 }' "$T/run/stubborn.pid")
check "app stop stubborn" ctl -w 20000 app stop stubborn
check "it was killed after the grace period" grep -q \
	'msg="app ignored SIGTERM, killing it" app=stubborn .*grace_ms=2000' "$T/autostart.log"
check "its process group is gone" wait_for 5 bash -c "! kill -0 -- -$spid 2>/dev/null"

# A command that fails: 503 naming the app, app.failed with the reason.
check "app create broken" ctl app create broken --domain broken.test \
	--command "exit 3"
check "a failing app answers 503" [ "$(px_status broken.test / -m 30)" = 503 ]
check "the 503 names the app" grep -q broken <<<"$(get broken.test)"
check "app.failed says why" wait_for 5 grep -q \
	'"type":"app.failed".*"app":"broken".*"reason":"exited: exited with status 3"' \
	"$T/events.log"
check "the failed state is recorded" app_state_is broken failed
backs_off() {
	[ "$(px_status broken.test / -m 30)" = 503 ] && [ "$(starts broken)" -le 2 ]
}
check "repeated failures back off (no second start at once)" backs_off

# kill -9 of autostart while an app is starting: after a restart no app
# stays "starting" forever, and the app can be woken again.
check "app create slowstart" ctl app create slowstart --domain slowstart.test \
	--start-timeout 2000 --command "sleep 30"
px_curl slowstart.test / -m 30 -o /dev/null &
PIDS+=($!)
check "slowstart is starting" wait_for 10 app_state_is slowstart starting
kill -9 "$PID_autostart"
wait "$PID_autostart" 2>/dev/null
start autostart "$BIN/devcloud-autostart" -c "$CONF"
check "autostart back" wait_for 10 healthz_is "$ADMIN_autostart" 200
settled() { app_state_is slowstart stopped || app_state_is slowstart failed; }
check "no app stays starting after a crash" wait_for 30 settled
transit_empty() { [ -z "$(rcli SMEMBERS "$(key transit)")" ]; }
check "nothing left in transit" wait_for 10 transit_empty

# Bad arguments: a clear error and nothing written.
before=$(rcli DBSIZE)
for args in "bad1" "bad2 --domain x.test" "bad3 --domain 'no spaces' --command x" \
	"bad4 --domain y.test --command x --ttl 0" "bad5 --domain z.test --driver lxc --command x" \
	"bad6 --domain w.test --driver docker --cport 80" "bad7 --domain hello.test --command x" \
	"hello --domain v.test --command x" "'bad 8' --domain u.test --command x"; do
	check "app create $args fails, saying why" \
		refused any 'devcloudctl: ' eval "ctl app create $args"
done
check "bad app create wrote nothing" [ "$(rcli DBSIZE)" = "$before" ]

# Six clients wake one cold app at once: one start, and every one of
# them answered (all six answers leave together; none may be dropped).
ctl app create many --domain many.test --ttl 600 \
	--command "sleep 0.3; exec $T/tinyhttp" >/dev/null
waits=()
for i in 1 2 3 4 5 6; do
	ctl -w 10000 app wake many >"$T/many.$i" 2>&1 &
	waits+=($!)
done
answered=0
for p in "${waits[@]}"; do wait "$p" && answered=$((answered + 1)); done
check "six wakes of one cold app: all six answered ($answered)" [ "$answered" -eq 6 ]
check "six wakes of one cold app: one start" [ \
	"$(grep -c 'msg="app process started" app=many ' "$T/autostart.log")" -eq 1 ]

finish
