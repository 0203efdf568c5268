#!/bin/bash
# make up: a private redis-server and the whole suite on this machine,
# with the process driver. Logs, pid files and the generated config go
# to one run directory ($DEVCLOUD_RUN, default ./run). `make down` stops
# exactly the processes started here.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/bin
RUN=${DEVCLOUD_RUN:-$ROOT/run}
REDIS_PORT=${DEVCLOUD_UP_REDIS_PORT:-6390}
HTTP_PORT=${DEVCLOUD_UP_HTTP_PORT:-8080}
DAEMONS="proxy autostart regulator idepool deployer"

mkdir -p "$RUN/pids" "$RUN/logs" "$RUN/redis"
if ls "$RUN"/pids/*.pid >/dev/null 2>&1; then
	echo "devcloud seems to be up already (pid files in $RUN/pids);" \
		"run 'make down' first" >&2
	exit 1
fi

port_busy() {
	python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(0)
sys.exit(1)' "$1"
}
for p in "$REDIS_PORT" "$HTTP_PORT" 7400 7401 7409 7410 7411 7412 7413 7414 \
	7420 7421 7422 7423 7424; do
	if port_busy "$p"; then
		echo "port $p is in use: free it, or set DEVCLOUD_UP_REDIS_PORT /" \
			"DEVCLOUD_UP_HTTP_PORT for the redis and HTTP ports" >&2
		exit 1
	fi
done

# The shipped example, with the local redis port, HTTP port and run dir.
sed -e "s|127.0.0.1:6379|127.0.0.1:$REDIS_PORT|" \
	-e "s|\"0.0.0.0:8080\"|\"0.0.0.0:$HTTP_PORT\"|" \
	-e "s|\"/tmp/devcloud\"|\"$RUN/apps\"|" \
	"$ROOT/deploy/devcloud.conf" >"$RUN/devcloud.conf"
CONF=$RUN/devcloud.conf

launch() {
	local name=$1
	shift
	"$@" >>"$RUN/logs/$name.log" 2>&1 &
	echo $! >"$RUN/pids/$name.pid"
}

launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
	--dir "$RUN/redis" --save 60 1
for _ in $(seq 50); do
	redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
	sleep 0.1
done
launch bus "$BIN/devcloud-bus" -c "$CONF"
for d in $DAEMONS; do
	launch "$d" "$BIN/devcloud-$d" -c "$CONF"
done

# Wait until every daemon says it is ready (bounded).
for d in $DAEMONS; do
	admin=$(sed -n "/^$d *=/,/};/s/.*admin *= *\"\([^\"]*\)\".*/\1/p" "$CONF")
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$admin/healthz")" = 200 ] && break
		sleep 0.1
	done
done
[ -x "$ROOT/deploy/demo.sh" ] && "$ROOT/deploy/demo.sh" "$CONF" "$HTTP_PORT"

cat <<MSG
devcloud is up. Run directory: $RUN (config, logs/, pids/)
  proxy:     http://localhost:$HTTP_PORT/
  redis:     127.0.0.1:$REDIS_PORT
  bus:       tcp://127.0.0.1:7400 (in), tcp://127.0.0.1:7401 (out)
  admin:     http://127.0.0.1:7420/metrics (proxy; 7421-7424 for the others)
Try:
  export DEVCLOUD_CONFIG=$CONF
  build/bin/devcloudctl status
  build/bin/devcloudctl events
Stop it with: make down
MSG
