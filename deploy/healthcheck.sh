#!/bin/sh
# The image's HEALTHCHECK: GET /healthz on the admin address of the
# daemon this container runs (its PID 1, devcloud-NAME). The address is
# $DEVCLOUD_HEALTH_ADDR if set, else $DEVCLOUD_<NAME>_ADMIN, else
# NAME.admin in $DEVCLOUD_CONFIG. A container that runs no daemon
# (devcloudctl) is healthy.
set -u
name=$(tr '\0' '\n' </proc/1/cmdline | head -n 1)
name=${name##*/}
case $name in
devcloud-*) name=${name#devcloud-} ;;
*) exit 0 ;;
esac
addr=${DEVCLOUD_HEALTH_ADDR:-}
if [ -z "$addr" ]; then
	var=DEVCLOUD_$(echo "$name" | tr a-z A-Z)_ADMIN
	addr=$(printenv "$var" || true)
fi
if [ -z "$addr" ] && [ -r "${DEVCLOUD_CONFIG:-}" ]; then
	# The NAME = { ... admin = "..."; } of a file written as
	# deploy/devcloud.conf is.
	addr=$(awk -v sec="$name" '
		$1 == sec && $2 == "=" { in_sec = 1; next }
		in_sec && /^};/ { in_sec = 0 }
		in_sec && $1 == "admin" { gsub(/[";]/, "", $3); print $3; exit }
	' "$DEVCLOUD_CONFIG")
fi
if [ -z "$addr" ]; then
	echo "devcloud-healthcheck: no admin address for $name" >&2
	exit 1
fi
# An admin address on every interface is asked on the loopback.
case $addr in
0.0.0.0:*) addr=127.0.0.1:${addr#0.0.0.0:} ;;
"[::]:"*) addr="[::1]:${addr#\[::\]:}" ;;
esac
exec curl -fsS -m 2 -o /dev/null "http://$addr/healthz"
