#!/bin/bash
# make up on a busy machine: with some of its default ports taken (the
# bus's admin port of the first block, the first port of the second,
# redis's 6390 and HTTP's 8080, held by a listener of the test), make up
# moves to the next free block and ports, says so, and prints every
# address; the suite answers there, devcloudctl finds it through the
# generated config, and make down stops all of it and frees the ports.
# An explicit DEVCLOUD_UP_PORT_BASE whose block is busy is refused.
# deploy/up.sh and deploy/down.sh as users run them, the real daemons,
# redis-server and the process driver.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_up.sh"

# The listener takes what it can: a port someone else already holds is
# just as busy.
HELD="7409 7500 6390 8080"
start holder python3 -c '
import socket, sys, time
socks = []
for p in sys.argv[1:]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", int(p)))
        s.listen()
        socks.append(s)
    except OSError:
        pass
print("holding", flush=True)
time.sleep(3600)' $HELD
wait_for 5 grep -q holding "$T/holder.log" || not_ok "the listener holds its ports"
all_held() {
	local p
	for p in $HELD; do listening "$p" || return 1; done
}
check "ports $HELD are busy" all_held

check "make up starts" up_run
check "it says redis moved off 6390" \
	grep -qE '^redis: port 6390 is in use; using [0-9]+' "$T/up.out"
check "it says HTTP moved off 8080" \
	grep -qE '^HTTP: port 8080 is in use; using [0-9]+' "$T/up.out"
check "it says why the block at 7400 was skipped" \
	grep -qE '^ports 7400-7424: [0-9]+ \([a-z.]+\) is in use' "$T/up.out"
BASE=$(sed -n 's/.*ports from base \([0-9]*\).*/\1/p' "$T/up.out")
on_a_later_block() {
	[ "${BASE:-0}" -ge 7600 ] && [ $(((BASE - 7400) % 100)) = 0 ]
}
check "it chose a later block ($BASE)" on_a_later_block
check "every address of the block is base plus its offset" \
	up_layout_is "${BASE:-0}"
REDIS_PORT=$(up_port redis.address)
HTTP_PORT=$(up_port proxy.listen)
check "redis answers on the printed port ($REDIS_PORT)" [ "$(rcli ping)" = PONG ]
for d in bus $UP_DAEMONS; do
	check "$d /healthz 200 on the printed $d.admin" \
		healthz_is "$(up_addr "$d.admin")" 200
done
check "it prints the export line for devcloudctl" grep -qx \
	"  export DEVCLOUD_CONFIG=$UP_RUN/devcloud.conf" "$T/up.out"

CONF=$UP_RUN/devcloud.conf
lists_all() {
	local d out
	out=$(ctl status) || return 1
	for d in $UP_DAEMONS; do
		grep -qE "^$d .* alive\$" <<<"$out" || return 1
	done
}
check "devcloudctl -c RUN/devcloud.conf status lists the five daemons" \
	wait_for 10 lists_all

check "app create web" ctl app create web --domain web.test --protect on \
	--command "exec python3 -m http.server \$PORT --bind 127.0.0.1 --directory $T"
check "web is woken and served on the printed HTTP port ($HTTP_PORT)" \
	[ "$(status_of -m 20 -H 'Host: web.test' "http://127.0.0.1:$HTTP_PORT/")" = 200 ]

# The demo IDE pool: a member with the developer's files, files saved
# at release, the member made anew.
WS=$UP_RUN/workspaces/dev-a.ide.localhost
mkdir -p "$WS" && echo 'from the store' >"$WS/hello.txt"
ide() { curl -s -m 20 -H 'Host: dev-a.ide.localhost' "$@"; }
member_a() { ctl pool show ide | awk '$4 == "dev-a.ide.localhost" { print $1 }'; }
check "the demo pool serves dev-a.ide.localhost with its files" \
	[ "$(ide "http://127.0.0.1:$HTTP_PORT/ws/hello.txt")" = 'from the store' ]
M1=$(member_a)
ide -X PUT --data-binary 'written in the member' \
	"http://127.0.0.1:$HTTP_PORT/ws/new.txt" >/dev/null
check "pool release saves the member's files into the store" \
	sh -c "$BIN/devcloudctl -c $CONF pool release dev-a.ide.localhost >/dev/null &&
	grep -qx 'written in the member' $WS/new.txt"
check "the released member is gone" wait_for 10 sh -c "! test -e $UP_RUN/pool/ide/$M1"
check "the next visit gets a new member with both files" \
	[ "$(ide "http://127.0.0.1:$HTTP_PORT/ws/new.txt")" = 'written in the member' ]
check "... not the one released" [ -n "$M1" ] && [ "$(member_a)" != "$M1" ]
MEMBERS=$(cat "$UP_RUN"/pool/ide/*/pid 2>/dev/null | awk '{ print $1 }')

check "a second make up in the same run directory is refused" \
	refused 1 'seems to be up already' up_sh
check "an explicit base whose block is busy is refused, naming the port" \
	refused 1 "DEVCLOUD_UP_PORT_BASE=$BASE: port $BASE \\(bus.in\\) is in use" \
	up_sh DEVCLOUD_RUN="$T/up2" DEVCLOUD_UP_PORT_BASE="$BASE"
check "so is a partly busy one, with the port it found" \
	refused 1 'DEVCLOUD_UP_PORT_BASE=7400: port 74[0-9]{2} \([a-z.]+\) is in use' \
	up_sh DEVCLOUD_RUN="$T/up2" DEVCLOUD_UP_PORT_BASE=7400
check "and nothing was started for them" [ ! -d "$T/up2/pids" ]

# make down: every process make up started stops, and its ports are free.
pids=$(up_pids)
ports="$REDIS_PORT $HTTP_PORT $(seq "${BASE:-0}" $((${BASE:-0} + 24)))"
check "make down" env DEVCLOUD_RUN="$UP_RUN" "$ROOT/deploy/down.sh"
# none_is PREDICATE WHAT ITEM...: PREDICATE holds for no ITEM; else
# says which: "WHAT ITEM".
none_is() {
	local pred=$1 what=$2 i
	shift 2
	for i in "$@"; do
		"$pred" "$i" && { echo "# $what $i" >&2; return 1; }
	done
	return 0
}
check "no pid make up recorded still runs ($(echo $pids | wc -w) of them)" \
	none_is running "still running: pid" $pids
check "its ports are free again" none_is listening "still busy: port" $ports
check "no pool member still runs" none_is running "still running: member pid" $MEMBERS
check "no pid file is left" [ -z "$(ls "$UP_RUN/pids")" ]

finish
