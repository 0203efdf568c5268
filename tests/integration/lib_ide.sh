# A small online-IDE image for IDE pool tests and bench/idepool, sourced
# after lib.sh and lib_docker.sh.
#
#   ide_image    builds IDE_IMAGE FROM lib_docker.sh's TEST_IMAGE (docker
#                build, nothing pulled) and IDE_BROKEN_IMAGE from it.
#
# IDE_IMAGE serves /www on 8080 with busybox httpd, only after sleeping
# $IDE_READY_DELAY seconds (2 by default; `pool create --env` sets it), so
# a started member is not ready at once: INACTIVE and ACTIVE differ. Its
# CGI scripts are what a developer does in an IDE:
#
#   GET  /cgi-bin/f?/workspace/PATH    the file's bytes (404 if none);
#   POST /cgi-bin/f?/workspace/PATH    the body becomes the file
#                                      (/tmp/PATH too, nothing else)
#   GET  /cgi-bin/ls?/workspace        every path under it, sorted
#   GET  /cgi-bin/slow?SECONDS         answers after SECONDS
#   POST /cgi-bin/spawn                starts `sleep 3600` in the
#                                      background, prints its pid
#   GET  /cgi-bin/ps                   the processes (pid, command line)
#   GET  /cgi-bin/id                   the container's hostname: the first
#                                      12 digits of its id
#
# IDE_BROKEN_IMAGE exits 1 as soon as it starts.

IDE_IMAGE=devcloud-test/ide:1
IDE_BROKEN_IMAGE=devcloud-test/ide-broken:1
IDE_IMAGE_REV=2	# bump when ide_image changes what goes in it

ide_image() {
	local d=$T/ide-image
	[ "$(docker image inspect -f '{{index .Config.Labels "devcloud.ide"}}' \
		"$IDE_BROKEN_IMAGE" 2>/dev/null)" = "$IDE_IMAGE_REV" ] && return 0
	docker_test_image || return 1
	mkdir -p "$d/www/cgi-bin"
	cat >"$d/www/cgi-bin/f" <<'SH'
#!/bin/sh
p=$QUERY_STRING
case $p in
/workspace/*|/tmp/*) ;;
*) printf 'Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\n'; exit 0 ;;
esac
case $p in *..*) printf 'Status: 403 Forbidden\r\n\r\n'; exit 0 ;; esac
if [ "$REQUEST_METHOD" = POST ]; then
	mkdir -p "${p%/*}" && head -c "${CONTENT_LENGTH:-0}" >"$p" &&
		printf 'Content-Type: text/plain\r\n\r\nwrote %s\n' "$p" ||
		printf 'Status: 500 Internal Server Error\r\n\r\n'
elif [ -f "$p" ]; then
	printf 'Content-Type: application/octet-stream\r\n\r\n'
	cat "$p"
else
	printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno %s\n' "$p"
fi
SH
	cat >"$d/www/cgi-bin/ls" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
case $QUERY_STRING in
/workspace|/workspace/*|/tmp|/tmp/*) find "$QUERY_STRING" -mindepth 1 2>/dev/null | sort ;;
esac
SH
	cat >"$d/www/cgi-bin/slow" <<'SH'
#!/bin/sh
sleep "${QUERY_STRING:-1}"
printf 'Content-Type: text/plain\r\n\r\nslept %s\n' "${QUERY_STRING:-1}"
SH
	cat >"$d/www/cgi-bin/spawn" <<'SH'
#!/bin/sh
sleep 3600 </dev/null >/dev/null 2>&1 &
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$!"
SH
	cat >"$d/www/cgi-bin/ps" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
ps -o pid,args
SH
	cat >"$d/www/cgi-bin/id" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
hostname
SH
	cat >"$d/Dockerfile" <<DOCKERFILE
FROM $TEST_IMAGE
RUN /bin/busybox --install -s /bin
COPY www /www
RUN chmod 755 /www/cgi-bin/*
LABEL devcloud.ide=$IDE_IMAGE_REV
ENV IDE_READY_DELAY=2
CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep \$IDE_READY_DELAY & wait; busybox httpd -f -p 8080 -h /www & wait"]
DOCKERFILE
	DOCKER_BUILDKIT=0 docker build -q -t "$IDE_IMAGE" "$d" >"$T/ide-build.log" 2>&1 ||
		{ sed 's/^/# /' "$T/ide-build.log" >&2; return 1; }
	mkdir -p "$d/broken"
	printf 'FROM %s\nCMD ["/bin/sh", "-c", "exit 1"]\n' "$IDE_IMAGE" \
		>"$d/broken/Dockerfile"
	DOCKER_BUILDKIT=0 docker build -q -t "$IDE_BROKEN_IMAGE" "$d/broken" \
		>>"$T/ide-build.log" 2>&1 ||
		{ sed 's/^/# /' "$T/ide-build.log" >&2; return 1; }
}
