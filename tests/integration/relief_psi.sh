#!/bin/bash
# Host relief from the kernel's own figures: real memory pressure on
# this machine (a reader thrashing the page cache in a cgroup whose
# memory limit is far below what it reads) fires the regulator's PSI
# trigger on /proc/pressure/memory; host.overloaded arrives, the least
# recently used app is stopped first, the protected one never, and once
# the reader stops the host recovers and the stops cease.
# Real redis-server, bus, proxy, autostart, regulator, kernel PSI and
# the cgroup v1 memory controller.
. "$(dirname "$0")/lib.sh"

CGROOT=/sys/fs/cgroup/memory
[ -r /proc/pressure/memory ] || skip_all "no /proc/pressure (kernel without PSI)"
[ -w "$CGROOT" ] && [ -f "$CGROOT/memory.limit_in_bytes" ] ||
	skip_all "no writable cgroup v1 memory controller to make pressure in"
CG=$CGROOT/devcloud-psi-$$
mkdir "$CG" 2>/dev/null || skip_all "cannot create a memory cgroup here"
HOG=
psi_cleanup() {
	[ -n "$HOG" ] && kill "$HOG" 2>/dev/null && wait "$HOG" 2>/dev/null
	rm -f "$T/big"
	rmdir "$CG" 2>/dev/null
	cleanup
}
trap psi_cleanup EXIT
echo $((48 * 1024 * 1024)) >"$CG/memory.limit_in_bytes"

HOST=psi-h1
AUTOSTART_EXTRA="sweep_interval_ms = 100; stop_grace_ms = 1000; drain_ms = 100;
	host = \"$HOST\";"
PROXY_EXTRA='flush_interval_ms = 100;'
REGULATOR_WATCH_LOCAL=1
# 5 % of 2 s stalled fires; under 2 % over a step is recovered
REGULATOR_EXTRA="step_interval_ms = 700; stop_batch = 1;
	psi_memory_stall_us = 100000; psi_memory_window_us = 2000000;
	psi_memory_recover_pct = 2; psi_cpu_stall_us = 0; psi_io_stall_us = 0;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart proxy regulator || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events
cc -O2 -o "$T/tinyhttp" "$ROOT/tests/apps/tinyhttp.c" || not_ok "build tinyhttp"
check "the regulator watches memory pressure" grep -q \
	'msg="watching host pressure" host=psi-h1 resource=memory' "$T/regulator.log"

APPS="a1 a2 a3 a4 a5 a6"
for a in keep $APPS; do
	ctl app create "$a" --domain "$a.test" --ttl 600 \
		--command "exec $T/tinyhttp" >/dev/null || not_ok "create $a"
done
ctl app update keep --protect on >/dev/null
for a in keep $APPS; do
	px_status "$a.test" / >/dev/null
	sleep 0.25		# distinct last access, keep the oldest
done
check "every app running" wait_for 10 bash -c \
	"for a in keep $APPS; do [ \"\$('$BIN/devcloudctl' -c '$CONF' app show \$a | awk '\$1==\"state\"{print \$2}')\" = running ] || exit 1; done"
check "the host lists the apps" wait_for 5 bash -c \
	"[ \$(redis-cli -p $REDIS_PORT SCARD '$(key host "$HOST")') -eq 7 ]"
check "no overload before the pressure" [ "$(grep -c host.overloaded "$T/events.log")" -eq 0 ]

# The reader: a file written from inside the cgroup is charged to it;
# reading it again and again through a 48 MiB limit refaults every page.
cat >"$T/hog.py" <<'PY'
import mmap, sys
with open(sys.argv[1], "wb") as f:
    for _ in range(200):
        f.write(b"\1" * (1 << 20))
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
s = 0
while True:
    for off in range(0, len(m), 4096):
        s += m[off]
PY
( echo $BASHPID >"$CG/cgroup.procs"; exec python3 "$T/hog.py" "$T/big" ) &
HOG=$!
check "host.overloaded from psi" wait_for 30 grep -q \
	"\"type\":\"host.overloaded\".*\"host\":\"$HOST\".*\"origin\":\"psi\".*\"metric\":\"memory some %\"" \
	"$T/events.log"
check "an app stopped to relieve it" wait_for 10 bash -c \
	"grep '\"type\":\"app.stopping\"' '$T/events.log' | grep -q regulated"
check "the reader was still thrashing, not killed" kill "$HOG"
wait "$HOG" 2>/dev/null
HOG=
first=$(grep '"type":"app.stopping"' "$T/events.log" | grep regulated | head -1 |
	sed 's/.*"app":"\([^"]*\)".*/\1/')
check "the least recently used app went first ($first)" [ "$first" = a1 ]
check "host.recovered once the pressure is gone" wait_for 30 grep -q \
	"\"type\":\"host.recovered\".*\"host\":\"$HOST\".*\"origin\":\"psi\"" "$T/events.log"
sleep 0.3	# a stop sent just before the end may still be on its way
n=$(grep '"type":"app.stopping"' "$T/events.log" | grep -c regulated)
sleep 2			# about three steps
check "stops ceased after recovery ($n, then $(grep '"type":"app.stopping"' \
	"$T/events.log" | grep -c regulated))" [ "$(grep '"type":"app.stopping"' \
	"$T/events.log" | grep -c regulated)" -eq "$n" ]
check "the protected app was never stopped" app_state_is keep running
check "some apps were spared" app_state_is a6 running
check "the stops are in LRU order" bash -c "[ \"\$(grep '\"type\":\"app.stopping\"' \
	'$T/events.log' | grep regulated | sed 's/.*\"app\":\"\([^\"]*\)\".*/\1/' | tr '\n' ' ')\" = \
	\"\$(echo $APPS | tr ' ' '\n' | head -n $n | tr '\n' ' ')\" ]"
finish
