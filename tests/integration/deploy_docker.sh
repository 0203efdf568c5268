#!/bin/bash
# Deploys with the docker driver against a real dockerd (the running
# one, or a private one): the release is mounted read-only at the app's
# --release-path in a container made for that release (its
# devcloud.release label), with $DEVCLOUD_RELEASE in its environment;
# a sleeping app's deploy starts nothing and its next request runs the
# release; a running app is switched start-first to a new container
# while requests keep coming, none failed, and the old container stops;
# an image deploy (devcloudctl deploy --image) runs the image, with no
# files mounted, and a rollback brings the files and the app's image
# back; an image deploy of a process app is refused.
# Real redis-server, bus, autostart, proxy, deployer, dockerd, curl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_docker.sh"

REL=$T/releases
DEPLOYER_EXTRA="releases_dir = \"$REL\"; drain_ms = 500; watch_ms = 500;
	watch_interval_ms = 200;"
docker_suite deploy.
start deployer "$BIN/devcloud-deployer" -c "$CONF"
check "deployer ready" wait_for 10 healthz_is "$ADMIN_deployer" 200

APP=dkr$$
docker_track "devcloud-$APP-1" "devcloud-$APP-2" "devcloud-$APP-3" \
	"devcloud-$APP-4"
A=$T/art
# artifact N: a release whose page says "release N"
artifact() {
	mkdir -p "$A/$1"
	echo "release $1" >"$A/$1/index.html"
	tar czf "$A/$1.tgz" -C "$A/$1" .
}
artifact one
artifact two
upload() {
	curl -s -m 20 -o "$T/answer" -w '%{http_code}' -H 'Expect:' \
		--data-binary "@$1" "http://$ADMIN_deployer/v1/apps/$APP/releases"
}
done_for() { grep '"type":"deploy.done"' "$T/events.log" | grep -q "\"release\":\"$1\""; }
page() { px_curl "$APP.test" /rel/index.html -m 20; }
label_of() {
	docker inspect -f '{{index .Config.Labels "devcloud.release"}}' "$1" 2>/dev/null
}
# ready_containers: the running containers of the app, with their label
ready_containers() {
	docker ps --filter "label=devcloud.app=$APP" \
		--format '{{.Names}} {{.Label "devcloud.release"}}' | sort
}

check "app create (image, --release-path /www/rel)" ctl app create "$APP" \
	--domain "$APP.test" --driver docker --image "$TEST_IMAGE" --cport 8080 \
	--release-path /www/rel --ttl 600 --ready http:/index.html
check "sleeping app: deploy accepted" [ "$(upload "$A/one.tgz")" = 202 ]
check "deploy 1 done" wait_for 20 done_for 1
check "no container started by the deploy" \
	[ -z "$(docker ps -q --filter "label=devcloud.app=$APP")" ]
check "its next request serves release 1 from the mount" \
	[ "$(page)" = "release one" ]
check "the container is labelled release 1" \
	[ "$(label_of "devcloud-$APP-1")" = 1 ]
check "the mount is read-only" bash -c "
	docker inspect -f '{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}' devcloud-$APP-1 |
	grep -qx '/www/rel false'"
check "\$DEVCLOUD_RELEASE is set in it" bash -c "
	docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' devcloud-$APP-1 |
	grep -qx 'DEVCLOUD_RELEASE=1'"

# requests all along the second deploy
(
	fails=0
	while [ ! -e "$T/stop" ]; do
		b=$(px_curl "$APP.test" /rel/index.html -m 10)
		case $b in "release one" | "release two") ;; *) fails=$((fails + 1)) ;; esac
	done
	echo "$fails" >"$T/fails"
) &
loop=$!
sleep 0.5
check "running app: deploy 2 accepted" [ "$(upload "$A/two.tgz")" = 202 ]
check "deploy 2 done" wait_for 60 done_for 2
touch "$T/stop"
wait "$loop"
check "no request failed during the deploy ($(cat "$T/fails"))" [ "$(cat "$T/fails")" = 0 ]
check "it serves release 2" [ "$(page)" = "release two" ]
check "one container runs, made for release 2" bash -c "
	[ \"\$(docker ps --filter label=devcloud.app=$APP --format '{{.Label \"devcloud.release\"}}')\" = 2 ]"

# --- an image deploy, then a rollback to the files -------------------------
# a second image made here (never pulled): the test image with its own page
IMG2=devcloud-test/busybox:dk$$
echo "image three" >"$T/page3"
docker create --name "mk$$" "$TEST_IMAGE" >/dev/null &&
	docker cp "$T/page3" "mk$$:/www/index.html" &&
	docker commit "mk$$" "$IMG2" >/dev/null
docker rm -f "mk$$" >/dev/null 2>&1
check "devcloudctl deploy --image" ctl -w 60000 deploy "$APP" --image "$IMG2" \
	--watch-ms 500
check "it serves the image's own page" [ "$(px_curl "$APP.test" / -m 20)" = "image three" ]
check "one container runs, of that image, made for release 3" bash -c "
	[ \"\$(docker ps --filter label=devcloud.app=$APP --format '{{.Image}} {{.Label \"devcloud.release\"}}')\" = '$IMG2 3' ]"
check "no files mounted for an image release" bash -c "
	id=\$(docker ps -q --filter label=devcloud.app=$APP);
	[ -z \"\$(docker inspect -f '{{range .Mounts}}{{.Destination}}{{end}}' \$id)\" ]"
check "the record names the image" [ "$(rcli hget "$(key app "$APP")" image)" = "$IMG2" ]
check "devcloudctl rollback: back to release 2" ctl -w 60000 rollback "$APP"
check "release 2's files served again" [ "$(page)" = "release two" ]
check "with the app's image again" [ "$(rcli hget "$(key app "$APP")" image)" = "$TEST_IMAGE" ]
check "an image deploy of a process app: 400" bash -c "
	$BIN/devcloudctl -c $CONF app create proc$$ --domain proc$$.test --command true >/dev/null &&
	[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		-d '{\"image\": \"x:1\"}' http://$ADMIN_deployer/v1/apps/proc$$/releases)\" = 400 ]"
docker rmi "$IMG2" >/dev/null 2>&1
finish
