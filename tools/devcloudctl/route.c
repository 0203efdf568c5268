/*
 * devcloudctl route add|rm|list: static routes, kept in Redis (the
 * routes hash) and announced with route.changed so that every proxy
 * replica applies them at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "app.h"
#include "keys.h"
#include "msg.h"
#include "target.h"
#include "ctl.h"

static int
route_announce(struct ctl *c, const char *domain, const char *target)
{
	struct msg m;

	msg_init(&m, MSG_ROUTE_CHANGED);
	snprintf(m.domain, sizeof(m.domain), "%s", domain);
	snprintf(m.target, sizeof(m.target), "%s", target);
	if (ctl_publish(c, &m) != 0) {
		fprintf(stderr, "devcloudctl: the change is saved; proxies "
		    "apply it at their next full reload (every tenth "
		    "proxy.route_refresh_ms, or on a reconnect)\n");
		return -1;
	}
	return 0;
}

static int
route_add(struct ctl *c, redisContext *rc, char *domain, const char *upstream)
{
	char key[KEY_MAX], target[TARGET_MAX];
	redisReply *r;
	const char *why;

	if (app_domain_normalize(domain) != 0)
		return ctl_usage_error("route add: \"%s\" is not a domain "
		    "(letters, digits, '-', '_', dots; \"*.\" in front for a "
		    "wildcard)", domain);
	if (strncmp(upstream, "pool:", 5) == 0) {
		/* an IDE pool: each domain under it to its lease */
		if (target_format(target, sizeof(target), TARGET_POOL,
		    upstream + 5) == NULL)
			return ctl_usage_error("route add: \"%s\" is not a "
			    "pool name", upstream + 5);
	} else if (addr_parse(upstream, 0, NULL, 0, NULL, &why) != 0) {
		return ctl_usage_error("route add: upstream \"%s\" %s",
		    upstream, why);
	} else if (target_format(target, sizeof(target), TARGET_STATIC,
	    upstream) == NULL)
		return ctl_usage_error("route add: upstream \"%s\" is too "
		    "long", upstream);
	r = redisCommand(rc, "HSET %s %s %s", key_routes(key, sizeof(key)),
	    domain, target);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "devcloudctl: route add: redis: %s\n",
		    r ? r->str : rc->errstr);
		freeReplyObject(r);
		return 1;
	}
	freeReplyObject(r);
	route_announce(c, domain, target);
	printf("%s -> %s\n", domain, upstream);
	return 0;
}

static int
route_rm(struct ctl *c, redisContext *rc, char *domain)
{
	char key[KEY_MAX];
	redisReply *r;
	int rv = 1;

	if (app_domain_normalize(domain) != 0)
		return ctl_usage_error("route rm: \"%s\" is not a domain",
		    domain);
	r = redisCommand(rc, "HDEL %s %s", key_routes(key, sizeof(key)),
	    domain);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		fprintf(stderr, "devcloudctl: route rm: redis: %s\n",
		    r && r->str ? r->str : rc->errstr);
	else if (r->integer == 0)
		fprintf(stderr, "devcloudctl: route rm: no route for %s\n",
		    domain);
	else
		rv = 0;
	freeReplyObject(r);
	if (rv == 0)
		route_announce(c, domain, "");
	return rv;
}

static int
route_cmp(const void *a, const void *b)
{
	const redisReply *const *x = a, *const *y = b;

	return strcmp((*x)->str, (*y)->str);
}

static int
route_list(redisContext *rc)
{
	char key[KEY_MAX];
	redisReply *r;

	r = redisCommand(rc, "HGETALL %s", key_routes(key, sizeof(key)));
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		fprintf(stderr, "devcloudctl: route list: redis: %s\n",
		    r && r->str ? r->str : rc->errstr);
		freeReplyObject(r);
		return 1;
	}
	/* Pairs (domain, target): sort by domain, as pairs. */
	qsort(r->element, r->elements / 2, 2 * sizeof(redisReply *),
	    route_cmp);
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		printf("%-40s %s\n", r->element[i]->str,
		    r->element[i + 1]->str);
	freeReplyObject(r);
	return 0;
}

int
ctl_route(struct ctl *c, int argc, char **argv)
{
	redisContext *rc;
	int rv;

	if (argc < 1)
		return ctl_usage_error("route: add, rm or list?");
	if (strcmp(argv[0], "add") == 0 && argc != 3)
		return ctl_usage_error("usage: route add DOMAIN HOST:PORT");
	if (strcmp(argv[0], "rm") == 0 && argc != 2)
		return ctl_usage_error("usage: route rm DOMAIN");
	if (strcmp(argv[0], "list") == 0 && argc != 1)
		return ctl_usage_error("usage: route list");
	if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "rm") != 0 &&
	    strcmp(argv[0], "list") != 0)
		return ctl_usage_error("route: unknown subcommand \"%s\"",
		    argv[0]);
	if ((rc = ctl_redis(c, false)) == NULL)
		return 1;
	if (strcmp(argv[0], "add") == 0)
		rv = route_add(c, rc, argv[1], argv[2]);
	else if (strcmp(argv[0], "rm") == 0)
		rv = route_rm(c, rc, argv[1]);
	else
		rv = route_list(rc);
	redisFree(rc);
	return rv;
}
