/*
 * devcloudctl's own Redis connection and one-shot publisher. A CLI may
 * block, within -w: both are synchronous.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "msg.h"
#include "store.h"
#include "ctl.h"

static int
ctl_wait(struct ctl *c)
{
	return c->wait_ms >= 0 ? c->wait_ms : 2000;
}

redisContext *
ctl_redis(struct ctl *c)
{
	struct timeval tv = {ctl_wait(c) / 1000, (ctl_wait(c) % 1000) * 1000};
	char host[CONFIG_ADDR_MAX];
	redisContext *rc;
	int port;

	if (store_parse_address(c->cfg.redis.address, host, sizeof(host),
	    &port) != 0) {
		fprintf(stderr, "devcloudctl: redis.address \"%s\" is not "
		    "HOST:PORT or /path/to/socket\n", c->cfg.redis.address);
		return NULL;
	}
	rc = port == 0 ? redisConnectUnixWithTimeout(host, tv) :
	    redisConnectWithTimeout(host, port, tv);
	if (rc == NULL || rc->err) {
		fprintf(stderr, "devcloudctl: cannot connect to redis at %s: "
		    "%s\n", c->cfg.redis.address,
		    rc ? rc->errstr : "out of memory");
		redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	return rc;
}

int
ctl_publish(struct ctl *c, struct msg *m)
{
	struct timespec linger = {0, 50 * 1000 * 1000};
	nng_socket s;
	char *buf;
	size_t len;
	int rv;

	snprintf(m->source, sizeof(m->source), "%s", c->source);
	if ((buf = msg_encode(m, &len)) == NULL)
		return -1;
	if ((rv = nng_pub0_open(&s)) != 0 ||
	    (rv = nng_dial(s, c->cfg.bus.in, NULL, 0)) != 0 ||
	    (rv = nng_send(s, buf, len, 0)) != 0) {
		fprintf(stderr, "devcloudctl: cannot publish %s on %s: %s "
		    "(the change is saved; daemons pick it up on their next "
		    "refresh)\n", msg_type_name(m->type), c->cfg.bus.in,
		    nng_strerror(rv));
		free(buf);
		nng_close(s);
		return -1;
	}
	free(buf);
	nanosleep(&linger, NULL);	/* let the frame leave before close */
	nng_close(s);
	return 0;
}
