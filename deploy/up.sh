#!/bin/bash
# make up: a private redis-server and the whole suite on this machine,
# with the process driver. Logs, pid files, Redis's data and the
# generated config go to one run directory ($DEVCLOUD_RUN, default
# ./run). `make down` stops exactly the processes started here.
#
# Ports: one block of 25 from DEVCLOUD_UP_PORT_BASE (see block_ports);
# unset, the first block of 7400, 7500, ... 8300 whose ports are all
# free on 127.0.0.1. Redis listens on DEVCLOUD_UP_REDIS_PORT and the
# proxy on DEVCLOUD_UP_HTTP_PORT; unset, on 6390 and 8080, or on the
# next free port when those are taken. A port that is set explicitly and
# busy is refused. The generated run/devcloud.conf is the one place that
# names every address; everything below reads them back from it.
#
#   deploy/up.sh          start everything
#   deploy/up.sh redis    start only redis-server again, after it died,
#                         on the port and data of the run directory
#
# The binaries come from $DEVCLOUD_BUILD/bin (default ./build/bin).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DEVCLOUD_BUILD:-$ROOT/build}/bin
RUN=$(mkdir -p "${DEVCLOUD_RUN:-$ROOT/run}" && cd "${DEVCLOUD_RUN:-$ROOT/run}" && pwd) ||
	exit 1
CONF=$RUN/devcloud.conf
DAEMONS="proxy autostart regulator idepool deployer"
BLOCK_FIRST=7400	# where the search for a free block starts,
BLOCK_STEP=100		# how far apart the blocks tried are,
BLOCK_TRIES=10		# and how many are tried

# block_ports BASE: "SETTING PORT" for every address of the block at BASE
# (the setting as section.name in devcloud.conf). The layout: the broker
# at +0 (in), +1 (out) and +9 (admin); each daemon's control at +10..+14
# and admin at +20..+24, in the order of DAEMONS.
block_ports() {
	local i=0 d
	echo "bus.in $(($1 + 0))"
	echo "bus.out $(($1 + 1))"
	echo "bus.admin $(($1 + 9))"
	for d in $DAEMONS; do
		echo "$d.control $(($1 + 10 + i))"
		echo "$d.admin $(($1 + 20 + i))"
		i=$((i + 1))
	done
}

# busy_ports HOST PORT...: those of the PORTs a listener could not bind
# on HOST, one per line, in the order given.
busy_ports() {
	python3 - "$@" <<'PY'
import socket, sys
for p in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((sys.argv[1], int(p)))
    except OSError:
        print(p)
    finally:
        s.close()
PY
}

# pick_port VAR WHAT HOST DEFAULT SETVAR: sets VAR to the port in the
# variable SETVAR if it is set (1 if that port is busy on HOST), else to
# DEFAULT or, when DEFAULT is busy, to the first free port of the 99
# after it, and says so.
pick_port() {
	local var=$1 what=$2 host=$3 def=$4 setvar=$5 busy p
	p=${!setvar:-}
	if [ -n "$p" ]; then
		if [ -n "$(busy_ports "$host" "$p")" ]; then
			echo "$setvar=$p: port $p is in use on $host" >&2
			return 1
		fi
		printf -v "$var" '%s' "$p"
		return 0
	fi
	busy=" $(busy_ports "$host" $(seq "$def" $((def + 99))) | tr '\n' ' ')"
	for p in $(seq "$def" $((def + 99))); do
		[[ "$busy" == *" $p "* ]] && continue
		[ "$p" = "$def" ] ||
			echo "$what: port $def is in use; using $p ($setvar chooses)"
		printf -v "$var" '%s' "$p"
		return 0
	done
	echo "$what: ports $def-$((def + 99)) are all in use; set $setvar" >&2
	return 1
}

# block_busy BASE: the first port of the block at BASE that is taken
# (by another program, or by the redis or HTTP port), as "PORT
# (SETTING)"; nothing if the whole block is free.
block_busy() {
	local ports busy setting port
	ports=$(block_ports "$1")
	busy=" $(busy_ports 127.0.0.1 $(cut -d' ' -f2 <<<"$ports") |
		tr '\n' ' ') $REDIS_PORT $HTTP_PORT "
	while read -r setting port; do
		if [[ "$busy" == *" $port "* ]]; then
			echo "$port ($setting)"
			return
		fi
	done <<<"$ports"
}

# pick_base: sets BASE to DEVCLOUD_UP_PORT_BASE, or to the first free
# block when it is not set.
pick_base() {
	local b busy
	if [ -n "${DEVCLOUD_UP_PORT_BASE:-}" ]; then
		b=$DEVCLOUD_UP_PORT_BASE
		if ! [[ "$b" =~ ^[0-9]+$ ]] || [ "$b" -lt 1024 ] ||
			[ "$b" -gt $((65535 - 24)) ]; then
			echo "DEVCLOUD_UP_PORT_BASE=$b: not a port from 1024" \
				"to $((65535 - 24))" >&2
			return 1
		fi
		busy=$(block_busy "$b")
		if [ -n "$busy" ]; then
			echo "DEVCLOUD_UP_PORT_BASE=$b: port $busy is in use;" \
				"choose another base, or unset it and make up" \
				"picks a free block" >&2
			return 1
		fi
		BASE=$b
		return 0
	fi
	for b in $(seq "$BLOCK_FIRST" "$BLOCK_STEP" \
		$((BLOCK_FIRST + BLOCK_STEP * (BLOCK_TRIES - 1)))); do
		busy=$(block_busy "$b")
		if [ -z "$busy" ]; then
			BASE=$b
			return 0
		fi
		echo "ports $b-$((b + 24)): $busy is in use; trying the next block"
	done
	echo "no free block of ports from $BLOCK_FIRST to $((b + 24));" \
		"set DEVCLOUD_UP_PORT_BASE" >&2
	return 1
}

# write_conf: $CONF, the shipped example with every port make up chose
# and the run directory; 1 if a setting was not found to rewrite.
write_conf() {
	local expr=() setting port sec key got
	while read -r setting port; do
		sec=${setting%%.*} key=${setting#*.}
		# In section SEC, the port at the end of KEY's quoted address.
		expr+=(-e "/^$sec = {/,/^};/s|^\( *$key = \"[^\"]*:\)[0-9]*\"|\1$port\"|")
	done < <(all_ports)
	sed "${expr[@]}" -e "s|\"/tmp/devcloud\"|\"$RUN/apps\"|" \
		-e "s|\"/var/lib/devcloud/releases\"|\"$RUN/releases\"|" \
		-e "s|\"/tmp/devcloud/pool\"|\"$RUN/pool\"|" \
		-e "s|\"/var/lib/devcloud/workspaces\"|\"$RUN/workspaces\"|" \
		"$ROOT/deploy/devcloud.conf" >"$CONF" || return 1
	while read -r setting port; do
		got=$(conf_get "$setting")
		if [ "${got##*:}" != "$port" ]; then
			echo "$CONF: $setting is \"$got\", not port $port:" \
				"deploy/devcloud.conf has no such line" >&2
			return 1
		fi
	done < <(all_ports)
}
# all_ports: "SETTING PORT" for every address make up sets.
all_ports() {
	echo "proxy.listen $HTTP_PORT"
	echo "redis.address $REDIS_PORT"
	block_ports "$BASE"
}

# conf_get SECTION.SETTING: its quoted value in $CONF.
conf_get() {
	sed -n "/^${1%%.*} = {/,/^};/s/^ *${1#*.} = \"\([^\"]*\)\".*/\1/p" \
		"$CONF"
}

launch() {
	local name=$1
	shift
	"$@" >>"$RUN/logs/$name.log" 2>&1 &
	echo $! >"$RUN/pids/$name.pid"
}

# start_redis: redis-server on the port of $CONF, its data in $RUN/redis,
# and waits (bounded) until it has loaded its data. Durable: every write
# goes to the append-only file, which is fsync'd once a second, so a
# crash loses at most the last second. No RDB snapshots besides: Redis
# loads the AOF when there is one, so a snapshot would be a second copy
# that is never read, at the cost of a fork each time.
start_redis() {
	local port
	port=$(conf_get redis.address)
	port=${port##*:}
	launch redis redis-server --port "$port" --bind 127.0.0.1 \
		--dir "$RUN/redis" --appendonly yes --appendfsync everysec \
		--save ''
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	echo "redis-server on port $port did not answer in 10 s" \
		"(log: $RUN/logs/redis.log)" >&2
	return 1
}

# healthy ADDRESS: its /healthz answers 200 within 10 s.
healthy() {
	for _ in $(seq 100); do
		[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' \
			"http://$1/healthz")" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

# `deploy/up.sh redis`: redis-server again, as make up started it.
if [ "${1:-}" = redis ]; then
	if [ ! -f "$CONF" ]; then
		echo "no $CONF: make up first" >&2
		exit 1
	fi
	pid=$(cat "$RUN/pids/redis.pid" 2>/dev/null)
	# Debian's redis-server is a link to redis-check-rdb.
	case $(readlink "/proc/${pid:-0}/exe" 2>/dev/null) in
	*/redis-server | */redis-check-rdb)
		echo "redis-server still runs (pid $pid)" >&2
		exit 1
		;;
	esac
	start_redis || exit 1
	echo "redis-server started again on $(conf_get redis.address)" \
		"(pid $(cat "$RUN/pids/redis.pid")), data from $RUN/redis"
	exit 0
elif [ -n "${1:-}" ]; then
	echo "usage: deploy/up.sh [redis]" >&2
	exit 2
fi

if ls "$RUN"/pids/*.pid >/dev/null 2>&1; then
	echo "devcloud seems to be up already (pid files in $RUN/pids);" \
		"run 'make down' first" >&2
	exit 1
fi

pick_port REDIS_PORT redis 127.0.0.1 6390 DEVCLOUD_UP_REDIS_PORT || exit 1
# The proxy listens on every address: its port must be free on all.
pick_port HTTP_PORT HTTP 0.0.0.0 8080 DEVCLOUD_UP_HTTP_PORT || exit 1
if [ "$REDIS_PORT" = "$HTTP_PORT" ]; then
	echo "redis and HTTP cannot both use port $REDIS_PORT" >&2
	exit 1
fi
pick_base || exit 1
write_conf || exit 1
mkdir -p "$RUN/pids" "$RUN/logs" "$RUN/redis" || exit 1

# From here on, a failure stops what did start: the next make up would
# otherwise find its pid files.
fail() {
	echo "$*" >&2
	DEVCLOUD_RUN=$RUN "$ROOT/deploy/down.sh" >/dev/null
	exit 1
}
start_redis || fail "make up stopped"
launch bus "$BIN/devcloud-bus" -c "$CONF"
for d in $DAEMONS; do
	launch "$d" "$BIN/devcloud-$d" -c "$CONF"
done

# Wait until every daemon says it is ready (bounded).
for d in bus $DAEMONS; do
	healthy "$(conf_get "$d.admin")" ||
		fail "$d is not ready after 10 s (log: $RUN/logs/$d.log);" \
			"make up stopped"
done
[ -x "$ROOT/deploy/demo.sh" ] && "$ROOT/deploy/demo.sh" "$CONF" "$HTTP_PORT"

echo "devcloud is up. Run directory: $RUN (devcloud.conf, logs/, pids/, redis/)"
echo "Addresses (ports from base $BASE; admin ones answer /healthz and /metrics):"
while read -r setting _; do
	printf '  %-18s %s\n' "$setting" "$(conf_get "$setting")"
done < <(all_ports)
cat <<MSG
  proxy:             http://localhost:$HTTP_PORT/
Try:
  export DEVCLOUD_CONFIG=$CONF
  $BIN/devcloudctl status
  $BIN/devcloudctl events
Stop it with: make down
MSG
