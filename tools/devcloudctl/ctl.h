/*
 * devcloudctl: the command-line client of devcloud. It reads the same
 * configuration as the daemons (-c FILE, $DEVCLOUD_CONFIG, environment)
 * and talks to them over the bus and Redis. Every command ends within a
 * bounded time (-w MS) with a clear message when something is not there.
 */
#ifndef DC_CTL_H
#define DC_CTL_H

#include <stdbool.h>

#include <hiredis/hiredis.h>
#include <nng/nng.h>

#include "config.h"
#include "msg.h"

struct ctl {
	struct config cfg;
	int wait_ms;		/* -w: how long to wait for an answer */
	long count;		/* -n: events: stop after this many */
	char source[128];	/* "devcloudctl/host-pid" */
};

/* main.c: "devcloudctl: MESSAGE" on stderr; exit status 1, or 2 (usage) */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* bus.c: ping, status, events, publish */
int ctl_ping(struct ctl *c, int argc, char **argv);
int ctl_status(struct ctl *c, int argc, char **argv);
int ctl_events(struct ctl *c, int argc, char **argv);
int ctl_publish_raw(struct ctl *c, int argc, char **argv);
/* Publishes M on bus.in (fills source); 0 or -1 with a message. */
int ctl_publish(struct ctl *c, struct msg *m);
/* Opens *S, a sub0 socket on bus.out subscribed to PREFIX, never to be
 * closed (bus.c says why); 0, or -1 with a message. */
int ctl_subscribe(struct ctl *c, nng_socket *s, const char *prefix);

/* app show's "field value" lines: the widest name, target_concurrency */
#define CTL_FIELD_WIDTH 18

/* app.c: app create|update|rm|list|show|wake|stop|scale */
int ctl_app(struct ctl *c, int argc, char **argv);

/*
 * instances.c: an app's instances, read (never written) in pipelines.
 * ctl_instances_show prints APP's instance count, its in-flight
 * requests and one row per instance; 0, or 1 with a message printed.
 * ctl_instances_count fills READY[i] and TOTAL[i] (the caller's, one per
 * of the N app NAMES); 0, or -1 with a message.
 */
int ctl_instances_show(struct ctl *c, redisContext *rc, const char *app);
int ctl_instances_count(redisContext *rc, char *const *names, size_t n,
    int *ready, int *total);

/* hosts.c: the registered hosts and the regulator's view of each;
 * ctl_hash_get: the value of FIELD in the HGETALL reply R, or "" */
int ctl_hosts(struct ctl *c, int argc, char **argv);
const char *ctl_hash_get(const redisReply *r, const char *field);

/* deploy.c: deploy APP FILE (an upload to the deployer, then its
 * outcome from the bus) and releases APP */
int ctl_deploy(struct ctl *c, int argc, char **argv);
int ctl_releases(struct ctl *c, int argc, char **argv);
/* rollback APP [N]: back to release N (by default the one before) */
int ctl_rollback(struct ctl *c, int argc, char **argv);

/* pool.c: pool create|update|rm|list|show|pause|resume|release */
int ctl_pool(struct ctl *c, int argc, char **argv);

/* route.c: route add|rm|list */
int ctl_route(struct ctl *c, int argc, char **argv);

/* redis.c: a synchronous connection for the CLI (NULL: message printed) */
redisContext *ctl_redis(struct ctl *c, bool quiet);

#endif
