#!/bin/sh
# Builds the images of deploy/Dockerfile on whatever Docker the
# environment points at (DOCKER_HOST): devcloud:VERSION (every daemon and
# devcloudctl), devcloud-redis:VERSION and devcloud-demo:VERSION (for
# deploy/docker-compose.yml). `make image` runs it.
#
# No registry is needed: when debian:bookworm-slim is not there, it is
# made with debootstrap from Debian's mirror ($DEBIAN_MIRROR) and
# `docker import`ed; the tarball is kept in build/image to import again
# into another dockerd. Inside the build, apt-get uses Debian's mirror
# over the host's network (--network host: a dockerd without iptables
# rules gives its bridge no way out). Images built from the same source
# are kept, as a `docker save` tarball too: a fresh dockerd loads them
# instead of building again. FORCE=1 builds anyway.
set -eu
cd "$(dirname "$0")/.."

VERSION=$(cat VERSION)
BASE=debian:bookworm-slim
CACHE=${DEVCLOUD_IMAGE_CACHE:-build/image}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGES="devcloud:$VERSION devcloud-redis:$VERSION devcloud-demo:$VERSION"

say() { echo "image: $*"; }
die() { echo "image: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 ||
	die "no Docker at ${DOCKER_HOST:-the default socket} (docker info failed)"
mkdir -p "$CACHE"

# debian:bookworm-slim: from the tarball of an earlier run, else from
# debootstrap (as root; installed if missing).
base() {
	docker image inspect "$BASE" >/dev/null 2>&1 && return 0
	tarball=$CACHE/bookworm-minbase.tar
	if [ ! -s "$tarball" ]; then
		[ "$(id -u)" -eq 0 ] ||
			die "$BASE is missing and debootstrap needs root"
		if ! command -v debootstrap >/dev/null 2>&1; then
			say "installing debootstrap"
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends debootstrap
		fi
		root=$(mktemp -d "${TMPDIR:-/tmp}/devcloud-debootstrap.XXXXXX")
		say "debootstrap --variant=minbase bookworm from $MIRROR"
		if ! debootstrap --variant=minbase bookworm "$root" "$MIRROR" \
		    >"$CACHE/debootstrap.log" 2>&1; then
			rm -rf "$root"
			die "debootstrap failed (log: $CACHE/debootstrap.log)"
		fi
		rm -rf "$root"/var/cache/apt/archives/*.deb \
			"$root"/var/lib/apt/lists/*
		tar -C "$root" -c . >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
		rm -rf "$root"
	fi
	say "importing $BASE from $tarball"
	docker import -c 'CMD ["bash"]' "$tarball" "$BASE" >/dev/null
}

# What goes into the build context (the files git knows, less those
# under .dockerignore's names), with their content: images with this
# label are built from this source.
source_key() {
	skip=$(grep -v '^#' .dockerignore | sed 's/[.]/\\./g' | paste -sd'|')
	git ls-files -z --cached --others --exclude-standard |
		grep -zvE "^($skip)(/|\$)" |
		sort -z | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16
}

built_from() {
	for i in $IMAGES; do
		[ "$(docker image inspect -f \
		    '{{index .Config.Labels "devcloud.source"}}' "$i" \
		    2>/dev/null)" = "$1" ] || return 1
	done
}

# NAME:latest for each NAME:VERSION, which docker-compose.yml runs.
tag_latest() {
	for i in $IMAGES; do
		docker tag "$i" "${i%:*}:latest"
	done
}

base
key=$(source_key)
saved=$CACHE/devcloud-$VERSION-$key.tar
if [ -z "${FORCE:-}" ] && built_from "$key"; then
	tag_latest
	say "$IMAGES are up to date (source $key)"
	exit 0
fi
if [ -z "${FORCE:-}" ] && [ -s "$saved" ]; then
	say "loading $IMAGES from $saved"
	docker load -i "$saved" >/dev/null
	built_from "$key" && tag_latest && exit 0
fi
for t in redis:devcloud-redis demo:devcloud-demo runtime:devcloud; do
	say "building ${t#*:}:$VERSION (stage ${t%%:*})"
	log=$CACHE/build-${t%%:*}.log
	if ! docker build --network host -f deploy/Dockerfile \
	    --target "${t%%:*}" --label "devcloud.source=$key" \
	    --label "devcloud.version=$VERSION" \
	    -t "${t#*:}:$VERSION" . >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "building ${t#*:}:$VERSION failed (log: $log)"
	fi
done
rm -f "$CACHE"/devcloud-"$VERSION"-*.tar
# shellcheck disable=SC2086
docker save -o "$saved.tmp" $IMAGES && mv "$saved.tmp" "$saved"
tag_latest
say "built $IMAGES (source $key)"
