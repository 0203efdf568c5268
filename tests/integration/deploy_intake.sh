#!/bin/bash
# The deployer's intake: an artifact POSTed to /v1/apps/APP/releases
# becomes release N of APP, unpacked in releases_dir/APP/N and recorded
# in Redis, with deploy.started and deploy.done on the bus; the oldest
# releases past keep_releases go from disk and Redis. Bad artifacts are
# refused with deploy.failed naming the entry and the rule, and leave
# nothing behind; no token is 401, an unknown app 404, a held deploy
# lock 409. devcloudctl deploy and releases end to end. With no token
# configured, uploads are taken on a loopback admin address only. At
# shutdown a waiting upload gets 503; at start, what a crash left goes.
# Real redis-server, bus, deployer, devcloudctl, curl, tar, python3.
. "$(dirname "$0")/lib.sh"

TOKEN=deploy-s3cret
REL=$T/releases
DEPLOYER_EXTRA="token = \"$TOKEN\"; releases_dir = \"$REL\"; keep_releases = 2;
	max_artifact_bytes = 8388608; max_unpacked_bytes = 67108864;
	max_entries = 1000;"
start_redis || { not_ok "redis-server starts"; finish; }
write_config
# devcloudctl reads the token from the same file
start_daemons deployer || not_ok "daemons ready"
start events "$BIN/devcloudctl" -c "$CONF" events deploy.
ctl app create web --domain web.test --command true >/dev/null ||
	not_ok "create app web"
sleep 0.3	# the events subscriber is connected

URL=http://$ADMIN_deployer/v1/apps
# upload FILE [APP [CURL_ARGS...]]: POSTs FILE as APP's artifact with the
# token; the status, then the body, in $T/answer.
upload() {
	local f=$1 app=${2:-web}
	shift 2 2>/dev/null || shift $#
	curl -s -m 20 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
		-H "Authorization: Bearer $TOKEN" --data-binary "@$f" "$@" \
		"$URL/$app/releases"
}
# event TYPE RELEASE: the frame of TYPE for web's release RELEASE, if
# one came
event() {
	grep "\"type\":\"$1\"" "$T/events.log" | grep "\"app\":\"web\"" |
		grep "\"release\":\"$2\""
}
has_event() { [ -n "$(event "$1" "$2")" ]; }
# reason_of RELEASE: the reason of web's deploy.failed for RELEASE, as
# sent (the frame's JSON decoded)
reason_of() {
	event deploy.failed "$1" | head -n 1 |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["reason"])'
}
# on_disk: the names in releases_dir/web, sorted, on one line
on_disk() { ls -A "$REL/web" 2>/dev/null | sort -n | tr '\n' ' '; }
in_redis() { rcli zrange "$(key releases web)" 0 -1 | tr '\n' ' '; }
accepted() { sed -n 's/^accepted \([0-9]*\)$/\1/p' "$T/answer"; }

# --- artifacts -----------------------------------------------------------
A=$T/art
mkdir -p "$A/src/www"
echo "hello 1" >"$A/src/www/index.html"
printf '#!/bin/sh\necho hi\n' >"$A/src/run.sh"
chmod 755 "$A/src/run.sh"
tar czf "$A/good.tgz" -C "$A/src" .
# mktar OUT NAME TYPE [LINKNAME]: a gzip tar of one crafted entry
mktar() {
	python3 - "$@" <<'PY'
import io, sys, tarfile
out, name, kind = sys.argv[1:4]
ti = tarfile.TarInfo(name)
data = b""
if kind == "file":
    data = b"x\n"
    ti.size = len(data)
elif kind == "symlink":
    ti.type, ti.linkname = tarfile.SYMTYPE, sys.argv[4]
elif kind == "chr":
    ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
with tarfile.open(out, "w:gz") as t:
    t.addfile(tarfile.TarInfo("ok.txt"), io.BytesIO(b""))
    t.addfile(ti, io.BytesIO(data) if data else None)
PY
}
mktar "$A/dotdot.tgz" ../../etc/passwd file
mktar "$A/absolute.tgz" /etc/devcloud-x file
mktar "$A/symlink.tgz" www/escape symlink ../../../etc
mktar "$A/device.tgz" dev/null-again chr
# 1 GiB of zeros in one file of a tar, gzip -1'd to 4.5 MiB: refused at
# its header, before a byte is written
{
	python3 -c 'import sys, tarfile
ti = tarfile.TarInfo("zeros.bin"); ti.size = 1 << 30
sys.stdout.buffer.write(ti.tobuf(format=tarfile.GNU_FORMAT))'
	head -c 1G /dev/zero
} | gzip -1 >"$A/bomb.tgz"
head -c 1G /dev/zero | gzip -1 >"$A/zeros.gz"	# not even a tar
mkdir -p "$A/big"
head -c 300000 /dev/urandom >"$A/big/a.bin"
head -c 300000 /dev/urandom >"$A/big/b.bin"
tar czf "$A/big.tgz" -C "$A/big" a.bin b.bin
head -c 400000 "$A/big.tgz" >"$A/truncated.tgz"	# cut in b.bin
echo "just some text" >"$A/text.txt"

# --- a good artifact, twice ----------------------------------------------
st=$(upload "$A/good.tgz")
check "good artifact: 202 \"accepted 1\"" [ "$st:$(accepted)" = 202:1 ]
check "deploy.started for release 1" wait_for 10 has_event deploy.started 1
check "deploy.done for release 1" wait_for 10 has_event deploy.done 1
check "release 1 unpacked in releases_dir/web/1" \
	cmp -s "$A/src/www/index.html" "$REL/web/1/www/index.html"
check "its script kept its mode" [ -x "$REL/web/1/run.sh" ]
check "release 1 recorded: sha256, size, source, state" bash -c "
	[ \"\$(redis-cli -p $REDIS_PORT hget $(key release web 1) sha256)\" = \
	  \"$(sha256sum <"$A/good.tgz" | cut -d' ' -f1)\" ] &&
	[ \"\$(redis-cli -p $REDIS_PORT hget $(key release web 1) size)\" = \
	  \"$(stat -c %s "$A/good.tgz")\" ] &&
	[ \"\$(redis-cli -p $REDIS_PORT hget $(key release web 1) source)\" = upload ] &&
	[ \"\$(redis-cli -p $REDIS_PORT hget $(key release web 1) state)\" = ready ]"
check "the lock is released" [ "$(rcli exists "$(key deploy_lock web)")" = 0 ]
check "the stopped app's record names release 1 (its next wake runs it)" \
	[ "$(rcli hget "$(key app web)" release)" = 1 ]
ctl releases web >"$T/releases.out" 2>&1
check "devcloudctl releases lists release 1" \
	grep -qE "^\* 1 +[0-9-]+ [0-9:]+ +$(stat -c %s "$A/good.tgz") +$(sha256sum <"$A/good.tgz" | cut -c1-12) +ready +upload$" \
	"$T/releases.out"
st=$(upload "$A/good.tgz")
check "a second upload: 202 \"accepted 2\"" [ "$st:$(accepted)" = 202:2 ]
check "deploy.done for release 2" wait_for 10 has_event deploy.done 2
check "releases 1 and 2 on disk" [ "$(on_disk)" = "1 2 " ]

# --- keep_releases = 2, the current one kept besides ---------------------
# back to release 1 (by hand), then 3: 1 is the current one when 3 is
# recorded, so it is kept besides the newest two
check "rollback to release 1: 202" [ "$(curl -s -m 10 -o "$T/answer" -w '%{http_code}' \
	-H "Authorization: Bearer $TOKEN" -H 'X-Devcloud-Release: 1' -d '' \
	"$URL/web/rollback")" = 202 ]
check "rollback done, release 1 current" bash -c "
	for i in \$(seq 100); do
		[ \"\$(redis-cli -p $REDIS_PORT hget $(key app web) release)\" = 1 ] &&
		[ \"\$(redis-cli -p $REDIS_PORT exists $(key deploy_lock web))\" = 0 ] && exit 0
		sleep 0.1
	done; exit 1"
upload "$A/good.tgz" >/dev/null
wait_for 10 has_event deploy.done 3 || not_ok "deploy.done for 3"
check "keep_releases: 1 (current), 2, 3 on disk" [ "$(on_disk)" = "1 2 3 " ]
check "keep_releases: 1, 2, 3 in Redis" [ "$(in_redis)" = "1 2 3 " ]
for n in 4 5; do
	upload "$A/good.tgz" >/dev/null
	wait_for 10 has_event deploy.done $n || not_ok "deploy.done for $n"
done
# each deploy of the stopped app made its release current: 5 is, and
# the two before it are kept as rollback targets
check "keep_releases: 3, 4, 5 (current) on disk" [ "$(on_disk)" = "3 4 5 " ]
check "keep_releases: 3, 4, 5 in Redis" [ "$(in_redis)" = "3 4 5 " ]
check "keep_releases: the hashes of 1 and 2 are gone" \
	[ "$(rcli exists "$(key release web 1)" "$(key release web 2)")" = 0 ]
ctl releases web >"$T/releases.out" 2>&1
check "devcloudctl releases marks the current one" \
	grep -qE '^\* 5 ' "$T/releases.out"
check "devcloudctl releases lists 4 unmarked" grep -qE '^  4 ' "$T/releases.out"

# --- bad artifacts: refused, named, nothing left -------------------------
# bad FILE NAME REASON: FILE is accepted as a deploy that fails with a
# reason that starts with REASON, and the disk holds what it held
bad() {
	local f=$1 name=$2 want=$3 before st n got
	before=$(on_disk)
	st=$(upload "$f")
	n=$(accepted)
	if [ "$st" != 202 ] || [ -z "$n" ]; then
		not_ok "$name: accepted for checking (got $st: $(cat "$T/answer"))"
		return
	fi
	if ! wait_for 20 has_event deploy.failed "$n"; then
		not_ok "$name: deploy.failed"
		return
	fi
	got=$(reason_of "$n")
	if [ "${got#"$want"}" != "$got" ]; then
		ok "$name: deploy.failed says: $got"
	else
		not_ok "$name: deploy.failed says: $want... (got: $got)"
	fi
	check "$name: nothing left in releases_dir" [ "$(on_disk)" = "$before" ]
	check "$name: not recorded" [ "$(rcli exists "$(key release web "$n")")" = 0 ]
}
bad "$A/dotdot.tgz" "../../etc/passwd" \
	'entry "../../etc/passwd": path leaves the release directory'
bad "$A/absolute.tgz" "absolute path" 'entry "/etc/devcloud-x": absolute path'
bad "$A/symlink.tgz" "symlink out of the tree" \
	'entry "www/escape": symlink target "../../../etc" leaves the release directory'
bad "$A/device.tgz" "device node" 'entry "dev/null-again": device node'
bad "$A/bomb.tgz" "1 GiB of zeros in one file" \
	'entry "zeros.bin": unpacked size would pass max_unpacked'
bad "$A/zeros.gz" "a gzip of 1 GiB of zeros" 'artifact: no entries'
bad "$A/truncated.tgz" "truncated gzip" 'entry "b.bin": corrupt archive: truncated gzip input'
bad "$A/text.txt" "not an archive" 'artifact: not a tar archive'
check "the bomb wrote nothing (no temp dir, no file)" \
	[ -z "$(find "$REL" -name 'zeros.bin' -o -name '.*tmp*' | head -1)" ]
check "the lock is released after failures" \
	[ "$(rcli exists "$(key deploy_lock web)")" = 0 ]

# --- refusals at the door -------------------------------------------------
n_before=$(rcli get "$(key release_seq web)")
disk_before=$(on_disk)
st=$(curl -s -m 10 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
	--data-binary "@$A/good.tgz" "$URL/web/releases")
check "no token: 401" [ "$st" = 401 ]
st=$(upload "$A/good.tgz" web -H "Authorization: Bearer wrong")
check "wrong token: 401" [ "$st" = 401 ]
check "401: nothing written" [ "$(on_disk)" = "$disk_before" ]
check "401: no number taken" \
	[ "$(rcli get "$(key release_seq web)")" = "$n_before" ]
st=$(upload "$A/good.tgz" nosuchapp)
check "unknown app: 404 \"unknown app nosuchapp\"" \
	bash -c "[ '$st' = 404 ] && grep -qx 'unknown app nosuchapp' '$T/answer'"
check "unknown app: nothing on disk" [ ! -e "$REL/nosuchapp" ]
st=$(upload "$A/good.tgz" 'bad%20name')
check "invalid app name: 400" [ "$st" = 400 ]
st=$(upload /dev/null)
check "empty body: 400" [ "$st" = 400 ]
head -c 9000000 /dev/urandom >"$A/huge.tgz"
st=$(upload "$A/huge.tgz")
check "over max_artifact_bytes: 400" [ "$st" = 400 ]
check "400s: nothing written" [ "$(on_disk)" = "$disk_before" ]
check "400s: no number taken" \
	[ "$(rcli get "$(key release_seq web)")" = "$n_before" ]
rcli set "$(key deploy_lock web)" 41 PX 60000 >/dev/null
st=$(upload "$A/good.tgz")
check "a deploy in progress: 409 \"deploy 41 in progress\"" \
	bash -c "[ '$st' = 409 ] && grep -qx 'deploy 41 in progress' '$T/answer'"
check "409: nothing written" [ "$(rcli get "$(key release_seq web)")" = "$n_before" ]
rcli del "$(key deploy_lock web)" >/dev/null
st=$(upload "$A/good.tgz" web -H "X-Devcloud-Sha256: $(printf '0%.0s' $(seq 64))")
n=$(accepted)
check "a wrong X-Devcloud-Sha256: 202" [ "$st" = 202 ]
wait_for 10 has_event deploy.failed "$n"
case $(reason_of "$n") in
"artifact: sha256 is $(sha256sum <"$A/good.tgz" | cut -d' ' -f1), not 0000"*)
	ok "a wrong X-Devcloud-Sha256: deploy.failed names both sums" ;;
*) not_ok "a wrong X-Devcloud-Sha256: deploy.failed names both sums" ;;
esac
check "a wrong X-Devcloud-Sha256: nothing left" [ "$(on_disk)" = "$disk_before" ]


# --- devcloudctl deploy ---------------------------------------------------
ctl -w 20000 deploy web "$A/good.tgz" >"$T/ctl.out" 2>&1
rc=$?
n=$(sed -n 's/^deploy \([0-9]*\) of web accepted$/\1/p' "$T/ctl.out")
check "devcloudctl deploy: exit 0, done" \
	bash -c "[ $rc = 0 ] && grep -q '^deploy $n of web done' '$T/ctl.out'"
ctl releases web >"$T/releases.out" 2>&1
check "devcloudctl releases lists the new one, current" grep -qE "^\* $n " "$T/releases.out"
check "devcloudctl deploy of a bad artifact: exit 1 and the reason" \
	refused 1 'failed: entry "\.\./\.\./etc/passwd": path leaves the release directory' \
	ctl -w 20000 deploy web "$A/dotdot.tgz"
check "devcloudctl deploy to an unknown app: exit 1, 404" \
	refused 1 'answered 404: unknown app nosuchapp' \
	ctl deploy nosuchapp "$A/good.tgz"

# --- shutdown and restart ---------------------------------------------------
# An upload waiting for Redis when the deployer stops is answered 503 by
# the port; what a crash left in releases_dir goes at the next start.
rm -f "$T/answer"
rcli client pause 3000 >/dev/null
curl -s -m 10 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
	-H "Authorization: Bearer $TOKEN" --data-binary "@$A/good.tgz" \
	"$URL/web/releases" >"$T/paused.status" &
curl_pid=$!
sleep 0.5
kill "$PID_deployer"
wait "$curl_pid"
check "an upload waiting when the deployer stops: 503 \"shutting down\"" \
	bash -c "[ \"\$(cat '$T/paused.status')\" = 503 ] &&
		grep -qx 'shutting down' '$T/answer'"
check "the deployer stopped within 2 s" wait_for 2 bash -c "! kill -0 $PID_deployer"
mkdir -p "$REL/web/.9.tmp-AbC123/www" && touch "$REL/web/.9.tmp-AbC123/www/x"
# restarted with no token: uploads are taken on its loopback address
DEVCLOUD_DEPLOYER_TOKEN= start deployer2 "$BIN/devcloud-deployer" -c "$CONF"
check "a restarted deployer removes what a crash left" \
	wait_for 10 bash -c "[ ! -e '$REL/web/.9.tmp-AbC123' ]"
wait_for 10 healthz_is "$ADMIN_deployer" 200 || not_ok "deployer2 ready"
st=$(curl -s -m 20 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
	--data-binary "@$A/good.tgz" "$URL/web/releases")
check "no token configured, loopback admin address: 202" [ "$st" = 202 ]
# and with no token on an address that is not loopback, none
p=($(free_ports 2))
DEVCLOUD_DEPLOYER_TOKEN= DEVCLOUD_DEPLOYER_ADMIN=0.0.0.0:${p[0]} \
	DEVCLOUD_DEPLOYER_CONTROL=tcp://127.0.0.1:${p[1]} \
	start deployer3 "$BIN/devcloud-deployer" -c "$CONF"
wait_for 10 healthz_is "127.0.0.1:${p[0]}" 200 || not_ok "deployer3 ready"
st=$(curl -s -m 20 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
	--data-binary "@$A/good.tgz" "http://127.0.0.1:${p[0]}/v1/apps/web/releases")
check "no token configured, admin on 0.0.0.0: 401" \
	bash -c "[ '$st' = 401 ] && grep -q 'no deployer.token is configured' '$T/answer'"
finish
