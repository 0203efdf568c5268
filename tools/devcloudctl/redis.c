/*
 * devcloudctl's own Redis connection. A CLI may block, within -w.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "msg.h"
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
	const char *why;
	int port;

	if (addr_parse(c->cfg.redis.address, ADDR_UNIX, host, sizeof(host),
	    &port, &why) != 0) {
		fprintf(stderr, "devcloudctl: redis.address \"%s\" %s\n",
		    c->cfg.redis.address, why);
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
