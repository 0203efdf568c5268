#!/bin/bash
# 50 developers' first requests at once, through two proxies, each
# asking its own idepool replica: every domain bound to exactly one
# member, no member bound twice, every request answered 200 (those
# beyond the ACTIVE tier wait for INACTIVE starts and cold creates), and
# the same domain asked through both proxies at once gets the same
# member. Real redis-server, bus, two proxies, two idepools, curl, and
# deploy/ide/ide.py (ready 300 ms after its start) as the IDE.
. "$(dirname "$0")/lib.sh"

pool_cleanup() {
	local rc=$? f p
	for f in "$T"/members/*/*/pid; do
		[ -f "$f" ] && read -r p _ <"$f" && [ -n "$p" ] &&
			kill -KILL -- "-$p" 2>/dev/null
	done
	(exit $rc)
	cleanup
}
trap pool_cleanup EXIT

N=50
PROXY_EXTRA='flush_interval_ms = 200; hold_timeout_ms = 60000;'
IDEPOOL_EXTRA="members_dir = \"$T/members\"; workspace_dir = \"$T/ws\";
	reconcile_interval_ms = 2000; max_concurrent_starts = 6;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
# The second proxy and idepool: the same file but for their own
# addresses; proxy 2 asks idepool 2.
p=($(free_ports 5))
PROXY2_PORT=${p[0]}
CONF2=$T/devcloud2.conf
sed -e "s|^proxy = { control = \"$CTL_proxy\"; admin = \"$ADMIN_proxy\";|proxy = { control = \"tcp://127.0.0.1:${p[1]}\"; admin = \"127.0.0.1:${p[2]}\";|" \
	-e "s|listen = \"127.0.0.1:$PROXY_PORT\"|listen = \"127.0.0.1:$PROXY2_PORT\"|" \
	-e "s|^idepool = { control = \"$CTL_idepool\"; admin = \"$ADMIN_idepool\";|idepool = { control = \"tcp://127.0.0.1:${p[3]}\"; admin = \"127.0.0.1:${p[4]}\";|" \
	"$CONF" >"$CONF2"
start_daemons proxy idepool || not_ok "daemons ready"
start proxy2 "$BIN/devcloud-proxy" -c "$CONF2"
start idepool2 "$BIN/devcloud-idepool" -c "$CONF2"
wait_for 10 healthz_is "127.0.0.1:${p[2]}" 200 || not_ok "proxy 2 ready"
wait_for 10 healthz_is "127.0.0.1:${p[4]}" 200 || not_ok "idepool 2 ready"
check "the second replicas use other addresses" \
	test "$(grep -c "127.0.0.1:$PROXY2_PORT" "$CONF2")" = 1

IDE="READY_DELAY_MS=300 exec python3 $ROOT/deploy/ide/ide.py"
ctl pool create ide --driver process --command "$IDE" --ready http:/ready \
	--domain '*.ide.test' --active 4 --inactive 4 --ttl 600 >/dev/null ||
	not_ok "pool create"
count() {
	ctl pool show ide 2>/dev/null |
		awk -v s="$1" 'f && $2 == s { n++ } /^MEMBER/ { f = 1 } END { print n + 0 }'
}
tiers_full() { [ "$(count active)" = 4 ] && [ "$(count inactive)" = 4 ]; }
wait_for 30 tiers_full || not_ok "the pool fills (active $(count active), inactive $(count inactive))"

# Each developer's first request, through both proxies at once: 2N
# requests in flight together.
clients=()
for i in $(seq $N); do
	for port in "$PROXY_PORT" "$PROXY2_PORT"; do
		curl -s -m 60 -o "$T/who.$i.$port" -w '%{http_code}' \
			-H "Host: dev$i.ide.test" "http://127.0.0.1:$port/whoami" \
			>"$T/status.$i.$port" &
		clients+=($!)
	done
done
wait "${clients[@]}"

failed=0
for f in "$T"/status.*; do
	[ "$(cat "$f")" = 200 ] || failed=$((failed + 1))
done
[ "$failed" = 0 ] && ok "all $((2 * N)) first requests answered 200" ||
	not_ok "all first requests answered 200 ($failed failed)"

same=0
for i in $(seq $N); do
	a=$(awk '{ print $1 }' "$T/who.$i.$PROXY_PORT")
	b=$(awk '{ print $1 }' "$T/who.$i.$PROXY2_PORT")
	[ -n "$a" ] && [ "$a" = "$b" ] && same=$((same + 1))
done
[ "$same" = "$N" ] && ok "each domain got the same member through both proxies" ||
	not_ok "each domain got one member through both proxies ($same of $N)"

rcli HGETALL "$(key domains)" | paste - - >"$T/domains"
rcli HGETALL "$(key leases)" | paste - - >"$T/leases"
check "$N domains bound" test "$(wc -l <"$T/domains")" = "$N"
check "$N leases recorded" test "$(wc -l <"$T/leases")" = "$N"
check "no member bound to two domains" \
	test "$(cut -f2 "$T/domains" | sort | uniq -d | wc -l)" = 0
pids=$(cat "$T"/who.*."$PROXY_PORT" | awk '{ print $1 }' | sort -u | wc -l)
check "$N distinct member processes served the $N domains" test "$pids" = "$N"
leased=$(count leased)
check "the pool shows $N leased members" test "$leased" = "$N"
tiers=$(grep '"type":"pool.leased"' "$T/idepool.log" "$T/idepool2.log" 2>/dev/null | wc -l)
from_active=$(grep -h 'msg="member leased"' "$T/idepool.log" "$T/idepool2.log" | grep -c 'tier=active')
from_other=$(grep -h 'msg="member leased"' "$T/idepool.log" "$T/idepool2.log" | grep -cE 'tier=(inactive|cold)')
echo "# leased from active: $from_active, from inactive or cold: $from_other"
check "both replicas leased members" \
	sh -c "grep -q 'msg=\"member leased\"' $T/idepool.log && grep -q 'msg=\"member leased\"' $T/idepool2.log"
check "requests beyond the ACTIVE tier waited for starts" test "$from_other" -gt 0
if wait_for 40 tiers_full; then
	ok "the pool refills to 4 active and 4 inactive after the rush"
else
	not_ok "the pool refills after the rush (active $(count active), inactive $(count inactive))"
fi
finish
