#!/bin/bash
# devcloudctl and an app's instances: --min, --max and
# --target-concurrency on create and update (checked by the record's
# rules and the ceiling autostart.instances_max, a refusal changing
# nothing), `app show` and `app list` reading instances as autostart
# writes them, and `app scale` against the real autostart.
. "$(dirname "$0")/lib.sh"

AUTOSTART_EXTRA='instances_max = 4;'
start_redis || { not_ok "redis-server starts"; finish; }
write_config
start_daemons autostart || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events app.
sleep 0.3

field() { rcli HGET "$(key app "$1")" "$2"; }
record() { rcli HGETALL "$(key app "$1")"; }

# create: good values are stored as given, defaults otherwise.
check "app create with --min 2 --max 3 --target-concurrency 5" \
	ctl app create blog --domain blog.test --command 'exec sleep 60' \
	--min 2 --max 3 --target-concurrency 5
check "min_instances stored" [ "$(field blog min_instances)" = 2 ]
check "max_instances stored" [ "$(field blog max_instances)" = 3 ]
check "target_concurrency stored" [ "$(field blog target_concurrency)" = 5 ]
check "app create without them" \
	ctl app create plain --domain plain.test --command 'exec sleep 60'
check "defaults: one instance, no autoscaling" [ "$(field plain min_instances) \
$(field plain max_instances) $(field plain target_concurrency)" = "1 1 0" ]
check "max at the ceiling is taken" ctl app create wide --domain wide.test \
	--command x --max 4

# create: bad values refused with the reason, nothing written.
before=$(rcli DBSIZE)
while IFS='|' read -r name args pattern; do
	check "app create $args: refused" refused 2 "$pattern" \
		eval "ctl app create $name --domain $name.test $args"
	check "app create $args: no record" \
		[ "$(rcli EXISTS "$(key app "$name")")" = 0 ]
done <<'CASES'
c1|--command x --min 3 --max 2|max_instances 2 is below min_instances 3
c2|--command x --min 3|max_instances 1 is below min_instances 3
c3|--command x --min -1|min_instances: want a whole number from 1 to 64, got "-1"
c4|--command x --max -2|max_instances: want a whole number from 1 to 64, got "-2"
c5|--command x --max two|max_instances: want a whole number from 1 to 64, got "two"
c6|--command x --min 0|min_instances: want a whole number from 1 to 64, got "0"
c7|--command x --target-concurrency -1|target_concurrency: want a whole number from 0 to 1000000, got "-1"
c8|--command x --target-concurrency lots|target_concurrency: want a whole number
c9|--command x --max 5|max_instances 5 is above autostart.instances_max 4
c10|--command x --min 5 --max 5|max_instances 5 is above autostart.instances_max 4
c11|--command x --port 8080 --max 2|one fixed port cannot run as 2 instances
c12|--driver docker --container db1 --cport 80 --max 2|one existing container cannot run as 2 instances
c13|--command x --max 65|max_instances: want a whole number from 1 to 64
CASES
check "bad app create wrote nothing" [ "$(rcli DBSIZE)" = "$before" ]

# update: good values stored, app.changed published as for any update.
changes() { grep -c '"type":"app.changed".*"app":"blog"' "$T/events.log"; }
n=$(changes)
check "app update --max 4 --target-concurrency 8" \
	ctl app update blog --max 4 --target-concurrency 8
check "max_instances updated" [ "$(field blog max_instances)" = 4 ]
check "target_concurrency updated" [ "$(field blog target_concurrency)" = 8 ]
check "min_instances kept" [ "$(field blog min_instances)" = 2 ]
more_changes() { [ "$(changes)" -gt "$n" ]; }
check "app.changed published after the update" wait_for 5 more_changes
check "app update --min 1" ctl app update blog --min 1
check "min_instances lowered" [ "$(field blog min_instances)" = 1 ]

# update: bad values refused with the reason, the record unchanged.
check "app create a docker app on an existing container" \
	ctl app create box --domain box.test --driver docker --container db1 \
	--cport 80
while IFS='|' read -r name args pattern; do
	was=$(record "$name")
	check "app update $name $args: refused" refused 2 "$pattern" \
		eval "ctl app update $name $args"
	check "app update $name $args: record unchanged" \
		[ "$(record "$name")" = "$was" ]
done <<'CASES'
blog|--max 0|max_instances: want a whole number from 1 to 64, got "0"
blog|--min 3 --max 2|max_instances 2 is below min_instances 3
blog|--min 5|max_instances 4 is below min_instances 5
blog|--min -3|min_instances: want a whole number from 1 to 64, got "-3"
blog|--max 3x|max_instances: want a whole number from 1 to 64, got "3x"
blog|--max 9|max_instances 9 is above autostart.instances_max 4
blog|--target-concurrency -5|target_concurrency: want a whole number
blog|--port 8080|one fixed port cannot run as 4 instances
box|--max 2|one existing container cannot run as 2 instances
CASES

# The ceiling is the config's: with a lower one, a record above it is
# refused at its next write, even one that does not touch the counts.
low=$T/low.conf
sed 's/instances_max = 4;/instances_max = 2;/' "$CONF" >"$low"
was=$(record blog)
check "a record above a lowered ceiling is refused" refused 2 \
	'max_instances 4 is above autostart.instances_max 2 .*lower it with --max' \
	"$BIN/devcloudctl" -c "$low" app update blog --ttl 30
check "and left unchanged" [ "$(record blog)" = "$was" ]
check "DEVCLOUD_AUTOSTART_INSTANCES_MAX sets the ceiling too" refused 2 \
	'above autostart.instances_max 3' \
	env DEVCLOUD_AUTOSTART_INSTANCES_MAX=3 "$BIN/devcloudctl" -c "$CONF" \
	app update blog --ttl 30

# app show: instances as autostart writes them (PREFIX instances:APP,
# PREFIX instance:APP:ID) and the proxies' load (PREFIX load:APP).
now=$(date +%s%3N)
rcli SADD "$(key instances blog)" 1 2 10 >/dev/null
rcli HSET "$(key instance blog 1)" state ready addr 127.0.0.1:31001 \
	host web1 release r7 started $((now - 65000)) >/dev/null
rcli HSET "$(key instance blog 2)" state starting addr 127.0.0.1:31002 \
	host web1 release "" started $((now - 3000)) >/dev/null
rcli HSET "$(key instance blog 10)" state draining addr 127.0.0.1:31010 \
	host web2 release r6 started $((now - 7300000)) >/dev/null
rcli HSET "$(key load blog)" proxy/web1-1 "1.5 3 $now" \
	proxy/web2-1 "0.5 2 $((now - 500))" \
	proxy/gone-1 "9 9 $((now - 600000))" >/dev/null
ctl app show blog >"$T/show.out" 2>&1
check "app show exits 0" [ $? -eq 0 ]
check "app show keeps the record's fields" grep -qE '^max_instances +4$' "$T/show.out"
check "app show counts the instances" grep -qE '^instances +1 ready of 3$' "$T/show.out"
check "app show sums the fresh in-flight figures, not the stale one" \
	grep -qE '^in_flight +2\.0 avg, 5 peak \(2 proxies\), 1 stale figure left out$' \
	"$T/show.out"
check "app show has a header for the instances" \
	grep -qE '^INSTANCE +HOST +ADDR +STATE +RELEASE +AGE$' "$T/show.out"
check "instance 1: host, address, state, release, age" \
	grep -qE '^1 +web1 +127\.0\.0\.1:31001 +ready +r7 +1m0[4-9]s$' "$T/show.out"
check "instance 2: no release shown as -" \
	grep -qE '^2 +web1 +127\.0\.0\.1:31002 +starting +- +[3-9]s$' "$T/show.out"
check "instance 10: hours" \
	grep -qE '^10 +web2 +127\.0\.0\.1:31010 +draining +r6 +2h01m$' "$T/show.out"
check "instances in id order (2 before 10)" bash -c \
	"[ \"\$(grep -E '^(1|2|10) ' '$T/show.out' | cut -d' ' -f1 | tr '\n' ,)\" = 1,2,10, ]"
ctl app show plain >"$T/show-plain.out" 2>&1
check "an app without instances: none, and no figure" bash -c \
	"grep -qE '^instances +0 ready of 0$' '$T/show-plain.out' &&
	 grep -qE '^in_flight +- \(no figure' '$T/show-plain.out' &&
	 ! grep -q '^INSTANCE' '$T/show-plain.out'"
# A hash that is not what autostart writes is shown as unknown, not
# trusted, and the rest still shows.
rcli SADD "$(key instances plain)" 1 >/dev/null
rcli HSET "$(key instance plain 1)" started soon >/dev/null
rcli HSET "$(key load plain)" proxy/x "lots 2 $now" >/dev/null
ctl app show plain >"$T/show-bad.out" 2>&1
check "a bad instance hash shows as ?" bash -c \
	"grep -qE '^1 +\\? +\\? +\\? +- +-$' '$T/show-bad.out' &&
	 grep -qE '^in_flight +- .*1 stale figure left out' '$T/show-bad.out'"

# app list: ready/total per app.
ctl app list >"$T/list.out" 2>&1
check "app list has an INST column" grep -qE '^APP +STATE +DRIVER +ADDR +INST +DOMAINS$' "$T/list.out"
check "app list: blog 1/3" grep -qE '^blog +stopped +process +- +1/3 +blog\.test$' "$T/list.out"
check "app list: wide 0/0" grep -qE '^wide +stopped +process +- +0/0 +wide\.test$' "$T/list.out"
rcli DEL "$(key instances blog)" "$(key instance blog 1)" \
	"$(key instance blog 2)" "$(key instance blog 10)" "$(key load blog)" \
	"$(key instances plain)" "$(key instance plain 1)" "$(key load plain)" >/dev/null

# app scale: N is checked before anything is sent. The control address
# leads nowhere, so a command that was sent would end with exit 1 and
# "no answer", never 2 and the usage message.
nowhere() {
	DEVCLOUD_AUTOSTART_CONTROL=tcp://127.0.0.1:1 timeout 10 \
		"$BIN/devcloudctl" -c "$CONF" "$@"
}
for n in -1 x 3x +2 "" " 2" 99999999999; do
	re=$(printf '%s' "$n" | sed 's/[][\\.*^$+?(){}|]/\\&/g')
	check "app scale blog '$n': usage error, nothing sent" refused 2 \
		"app scale: N wants a number of instances \(0 or more\), got \"$re\"" \
		nowhere app scale blog "$n"
done
check "app scale without N: usage" refused 2 'usage: app scale NAME N' \
	nowhere app scale blog
check "app scale with a bad name: usage" refused 2 'is not a valid app name' \
	nowhere app scale 'no/such' 2
check "app scale with nobody answering: exit 1, saying so" refused 1 \
	'app scale: tcp://127.0.0.1:1' nowhere -w 500 app scale blog 2
check "an error from autostart is printed, exit 1" refused 1 \
	'^devcloudctl: app scale: ' ctl app scale nosuch 2

# says PATTERN COMMAND...: COMMAND succeeds and prints a line matching
# PATTERN (grep -E).
says() {
	local p=$1
	shift
	"$@" >"$T/says.out" 2>&1 && grep -qE -- "$p" "$T/says.out" && return 0
	sed 's/^/#   /' "$T/says.out" >&2
	return 1
}

# ---------------------------------------------------------------------
# NEEDS AUTOSTART'S `scale`: until autostart answers `scale` with
# `scale.ok`, it says "unknown command" and every check below fails.
# ---------------------------------------------------------------------
cc -O2 -o "$T/tinyhttp" "$ROOT/tests/apps/tinyhttp.c" || not_ok "build tinyhttp"
check "scale: app create web (1 to 3 instances)" ctl app create web \
	--domain web.test --command "exec $T/tinyhttp" --max 3
check "scale: app wake web" ctl app wake web
check "scale: app scale web 2 answers from 1 to 2" says \
	'^web: 2 instances \(was 1\)$' ctl app scale web 2
two_ready() { ctl app show web | grep -qE '^instances +2 ready of 2$'; }
check "scale: app show lists 2 ready instances" wait_for 20 two_ready
ctl app show web >"$T/show-web.out" 2>&1
check "scale: each with its host, address and age" \
	[ "$(grep -cE '^[^ ]+ +[^ ?]+ +127\.0\.0\.1:[0-9]+ +ready +[^ ]+ +[0-9]+s$' \
	"$T/show-web.out")" = 2 ]
check "scale: app list says 2/2" bash -c \
	"'$BIN/devcloudctl' -c '$CONF' app list | grep -qE '^web +running .* 2/2 +web\.test$'"
check "scale: app scale web 9 is clamped to max_instances 3" says \
	'^web: 9 instances asked, 3 set \(.*max_instances 3.*\)$' \
	ctl app scale web 9
check "scale: app scale web 0 is clamped to min_instances 1" says \
	'^web: 0 instances asked, 1 set \(.*min_instances 1.*\)$' \
	ctl app scale web 0
check "scale: app.scaled published with reason manual" wait_for 5 grep -q \
	'"type":"app.scaled".*"app":"web".*"reason":"manual"' "$T/events.log"

# app list pages: more apps than a page (500), read with SSCAN, sorted
# here; every app once, in order.
before=$(ctl app list | tail -n +2 | wc -l)
python3 - "$REDIS_PREFIX" <<'PY' | redis-cli -p "$REDIS_PORT" --pipe >/dev/null
import sys
p = sys.argv[1]
for i in range(1234):
    n = "pg%05d" % (1233 - i)
    for a in (("SADD", p + "apps", n),
              ("HSET", p + "app:" + n, "name", n, "state", "stopped",
               "driver", "process", "domains", n + ".test")):
        sys.stdout.write("*%d\r\n" % len(a) +
                         "".join("$%d\r\n%s\r\n" % (len(x), x) for x in a))
PY
ctl app list >"$T/biglist.out" 2>&1
check "app list: every app once across pages ($before + 1234)" [ \
	"$(tail -n +2 "$T/biglist.out" | awk '{ print $1 }' | sort -u | wc -l)" -eq $((before + 1234)) ]
check "app list: sorted by name across pages" bash -c \
	"tail -n +2 '$T/biglist.out' | awk '{ print \$1 }' | LC_ALL=C sort -c"
check "app list: a paged row reads its record" grep -qE '^pg00777 +stopped +process +- +0/0 +pg00777\.test$' "$T/biglist.out"

finish
