/*
 * devcloudctl's own Redis connection. A CLI may block, within -w.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "store.h"
#include "ctl.h"

static int
ctl_wait(struct ctl *c)
{
	return c->wait_ms >= 0 ? c->wait_ms : 2000;
}

redisContext *
ctl_redis(struct ctl *c, bool quiet)
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
		if (!quiet)
			fprintf(stderr, "devcloudctl: cannot connect to redis at %s: "
			    "%s\n", c->cfg.redis.address,
			    rc ? rc->errstr : "out of memory");
		redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	return rc;
}
