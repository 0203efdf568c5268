# `make up` in an integration test, sourced after lib.sh: deploy/up.sh
# with its run directory in the test's temp dir ($UP_RUN), and a trap
# that runs deploy/down.sh in every run directory under $T before
# lib.sh's cleanup, however the test ends.
#
#   up_sh [VAR=VALUE...]   deploy/up.sh with that environment (which may
#                          name another DEVCLOUD_RUN); its exit status
#   up_run [VAR=VALUE...]  up_sh, its output kept in $T/up.out for
#                          up_addr, and shown as comments
#   up_addr SETTING        the address up.sh printed for SETTING
#                          (bus.in, proxy.admin, redis.address, ...)
#   up_port SETTING        the port of that address
#   up_layout_is BASE      every printed address of the port block is
#                          BASE plus its offset
#   up_pids                every PID make up recorded: daemons, redis
#                          and the apps' instances
#   running PID            PID runs (a zombie does not)
#   listening PORT         something listens on PORT, on any address
#   free_block             a port base whose 25 ports nobody listens on,
#                          out of the kernel's ephemeral range

UP_RUN=$T/up
UP_DAEMONS="proxy autostart regulator idepool deployer"

up_cleanup() {
	local rc=$? run
	for run in "$T"/*/pids; do
		DEVCLOUD_RUN=${run%/pids} "$ROOT/deploy/down.sh" >>"$T/down-trap.out" 2>&1
	done
	cleanup
	exit $rc
}
trap up_cleanup EXIT

up_sh() {
	env DEVCLOUD_RUN="$UP_RUN" DEVCLOUD_BUILD="${BIN%/bin}" "$@" \
		"$ROOT/deploy/up.sh" 2>&1
}
up_run() {
	local rc
	up_sh "$@" >"$T/up.out"
	rc=$?
	sed 's/^/# /' "$T/up.out"
	return $rc
}

up_addr() { awk -v s="$1" '$1 == s { print $2 }' "$T/up.out"; }
up_port() {
	local a
	a=$(up_addr "$1")
	echo "${a##*:}"
}

# The layout README and deploy/up.sh promise: the broker at +0, +1, +9,
# the daemons' control ports at +10..+14 and their admin at +20..+24.
up_layout_is() {
	local i=0 d rc=0
	up_offset_is "$1" bus.in 0 || rc=1
	up_offset_is "$1" bus.out 1 || rc=1
	up_offset_is "$1" bus.admin 9 || rc=1
	for d in $UP_DAEMONS; do
		up_offset_is "$1" "$d.control" $((10 + i)) || rc=1
		up_offset_is "$1" "$d.admin" $((20 + i)) || rc=1
		i=$((i + 1))
	done
	return $rc
}
up_offset_is() {
	[ "$(up_port "$2")" = $(($1 + $3)) ] && return 0
	echo "# $2 is \"$(up_addr "$2")\", not port $1 + $3" >&2
	return 1
}

up_pids() {
	local f
	for f in "$UP_RUN"/pids/*.pid "$UP_RUN"/apps/*.pid; do
		[ -f "$f" ] && cut -d' ' -f1 "$f"
	done
}

running() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }

free_block() {
	local b p
	for _ in $(seq 20); do
		b=$((20000 + RANDOM % 100 * 100))
		for p in $(seq "$b" $((b + 24))); do
			listening "$p" && continue 2
		done
		echo "$b"
		return 0
	done
	return 1
}
