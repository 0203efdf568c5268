#!/bin/bash
# make up's Redis is durable: 200 apps registered with devcloudctl are
# all there after a kill -9 of redis-server and its restart with
# `deploy/up.sh redis` (the launch line make up uses: AOF, fsync every
# second). While Redis is down, a warm app is served through the proxy
# without a failed request, and once it is back the suite works on.
# make up here runs on an explicit DEVCLOUD_UP_PORT_BASE, which it uses
# as is. deploy/up.sh and deploy/down.sh, the real daemons, redis-server
# and the process driver.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_up.sh"

BASE=$(free_block) || { not_ok "a free block of ports"; finish; }
p=($(free_ports 2))
check "make up on DEVCLOUD_UP_PORT_BASE=$BASE" up_run DEVCLOUD_UP_PORT_BASE="$BASE" \
	DEVCLOUD_UP_REDIS_PORT="${p[0]}" DEVCLOUD_UP_HTTP_PORT="${p[1]}"
check "the base is used as is" up_layout_is "$BASE"
check "so are the redis and HTTP ports" \
	[ "$(up_port redis.address)-$(up_port proxy.listen)" = "${p[0]}-${p[1]}" ]
REDIS_PORT=${p[0]}
PROXY_PORT=${p[1]}
CONF=$UP_RUN/devcloud.conf
config_is() { [ "$(rcli config get "$1" | tail -n 1)" = "$2" ]; }
check "redis appends every write (appendonly yes)" config_is appendonly yes
check "and fsyncs once a second (appendfsync everysec)" \
	config_is appendfsync everysec
check "its data is in the run directory" \
	config_is dir "$UP_RUN/redis"

# Protected: make up's regulator watches this host's real pressure, and
# an app it stops to relieve the host is not what this test is about.
check "app create warm" ctl app create warm --domain warm.test --protect on \
	--command "exec python3 -m http.server \$PORT --bind 127.0.0.1 --directory $T"
check "warm is woken and served" [ "$(px_status warm.test / -m 20)" = 200 ]

# devcloudctl pauses after each command it publishes: ten at a time.
seq 200 | xargs -P 10 -I{} "$BIN/devcloudctl" -c "$CONF" app create 'd{}' \
	--domain 'd{}.test' --command true >/dev/null
rc=$?
check "200 apps registered" [ "$rc" = 0 ]
apps_before=$(rcli scard "$(key apps)")
check "202 apps in Redis (200, warm and the demo)" [ "$apps_before" = 202 ]

# warm, asked for in a loop; a line "MS STATUS" per request.
ask_warm() {
	while :; do
		echo "$(date +%s%3N) $(px_status warm.test / -m 5)"
		sleep 0.05
	done
}
start asks ask_warm
sleep 0.3
pid=$(cat "$UP_RUN/pids/redis.pid")
t_down=$(date +%s%3N)
kill -9 "$pid"
gone() { ! running "$pid"; }
check "redis-server killed with SIGKILL (pid $pid)" wait_for 5 gone
sleep 2
check "redis is down meanwhile" refused any 'refused|Could not connect' rcli ping
t_up=$(date +%s%3N)
check "deploy/up.sh redis starts it again" env DEVCLOUD_RUN="$UP_RUN" \
	"$ROOT/deploy/up.sh" redis
sleep 0.3
kill "$PID_asks"
check "with a new pid" [ "$(cat "$UP_RUN/pids/redis.pid")" != "$pid" ]

during=$(awk -v a="$t_down" -v b="$t_up" '$1 >= a && $1 < b' "$T/asks.log" |
	wc -l)
check "warm asked for during the outage ($during requests)" [ "$during" -ge 10 ]
failed=$(awk '$2 != 200' "$T/asks.log")
check "every request answered 200 ($(wc -l <"$T/asks.log") in all)" [ -z "$failed" ]
[ -z "$failed" ] || echo "$failed" | head -n 5 | sed 's/^/#   /' >&2

check "SCARD of the apps set is the same after the restart" \
	[ "$(rcli scard "$(key apps)")" = "$apps_before" ]
listed=$(ctl app list | grep -cE '^d[0-9]+ ')
check "devcloudctl app list shows all 200 ($listed)" [ "$listed" = 200 ]
check "refused while it runs" refused 1 'redis-server still runs' \
	env DEVCLOUD_RUN="$UP_RUN" "$ROOT/deploy/up.sh" redis

# The daemons reconnect: a new app is registered, woken and served.
check "app create after" ctl app create after --domain after.test --protect on \
	--command "exec python3 -m http.server \$PORT --bind 127.0.0.1 --directory $T"
served() { [ "$(px_status after.test / -m 20)" = 200 ]; }
check "it is woken and served" wait_for 10 served

pid=$(cat "$UP_RUN/pids/redis.pid")
check "make down" env DEVCLOUD_RUN="$UP_RUN" "$ROOT/deploy/down.sh"
check "stops the restarted redis-server too" wait_for 2 gone

finish
