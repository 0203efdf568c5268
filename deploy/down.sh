#!/bin/bash
# make down: stops exactly the processes `make up` started, by the PIDs
# it recorded, and only if each PID still runs the program it started.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${DEVCLOUD_RUN:-$ROOT/run}

shopt -s nullglob

# alive PID [STARTTIME]: PID runs (a zombie has ended: up.sh is not
# there to reap its children) and, if STARTTIME is given, started then
# (/proc/PID/stat's field 22): it is not a recycled PID.
alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=(${st##*) })	# the fields after the command's name, from 3
	[ "${st[0]}" != Z ] && { [ -z "${2:-}" ] || [ "${st[19]}" = "$2" ]; }
}
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
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		echo "$name: pid $pid did not stop in 5 s; killing it"
		kill -9 "$pid"
	fi
	echo "stopped $name (pid $pid)"
	rm -f "$f"
done

# Apps the process driver started: their pid files hold a line "PID
# PORT STARTTIME ID" per instance, each the leader of its process group.
groups=()
for f in "$RUN"/apps/*.pid; do
	while read -r pid _ start _; do
		alive "$pid" "$start" || continue
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
		echo "stopped app $(basename "$f" .pid) (pid $pid)"
		groups+=("$pid")
	done <"$f"
	rm -f "$f"
done
# IDE pool members (process driver): "PID STARTTIME PORT" in each
# member's directory; idepool leaves them running when it stops.
for f in "$RUN"/pool/*/*/pid; do
	read -r pid start _ <"$f"
	alive "$pid" "$start" || continue
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
	echo "stopped pool member $(basename "$(dirname "$f")") (pid $pid)"
	groups+=("$pid")
done
for pid in "${groups[@]}"; do
	for _ in $(seq 50); do
		alive "$pid" || continue 2
		sleep 0.1
	done
	echo "app pid $pid did not stop in 5 s; killing its group"
	kill -KILL -- "-$pid" 2>/dev/null
done
