#!/bin/bash
# make down: stops exactly the processes `make up` started, by the PIDs
# it recorded, and only if each PID still runs the program it started.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${DEVCLOUD_RUN:-$ROOT/run}

shopt -s nullglob
pids=("$RUN"/pids/*.pid)
if [ ${#pids[@]} -eq 0 ]; then
	echo "devcloud is not up (no pid files in $RUN/pids)"
	exit 0
fi

# Daemons first, then the broker, then redis.
order=()
for f in "${pids[@]}"; do
	case $(basename "$f") in
	redis.pid | bus.pid) ;;
	*) order+=("$f") ;;
	esac
done
[ -f "$RUN/pids/bus.pid" ] && order+=("$RUN/pids/bus.pid")
[ -f "$RUN/pids/redis.pid" ] && order+=("$RUN/pids/redis.pid")

for f in "${order[@]}"; do
	name=$(basename "$f" .pid)
	pid=$(cat "$f")
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
	case "$exe" in
	*/devcloud-* | *redis-server* | *redis-check-rdb*) ;;
	*)
		echo "$name: pid $pid is gone or is not ours; skipping"
		rm -f "$f"
		continue
		;;
	esac
	kill "$pid"
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$name: pid $pid did not stop in 5 s; killing it"
		kill -9 "$pid"
	fi
	echo "stopped $name (pid $pid)"
	rm -f "$f"
done

# Apps the process driver started: their pid files hold "PID PORT START".
for f in "$RUN"/apps/*.pid; do
	read -r pid _ <"$f" || continue
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
		echo "stopped app $(basename "$f" .pid) (pid $pid)"
	fi
	rm -f "$f"
done
