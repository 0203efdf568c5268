/*
 * Loading an app's record from Redis, the keys of its transitions, and
 * publishing app events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "autostart.h"

struct record_load {
	struct autostart *as;
	char app[64];
	record_cb cb;
	void *arg;
};

static void
record_loaded(struct store *st, redisReply *r, void *arg)
{
	struct record_load *rl = arg;
	struct app *a;
	char err[600] = "", ferr[300];

	(void)st;
	if ((a = malloc(sizeof(*a))) == NULL) {
		rl->cb(rl->as, NULL, "out of memory", rl->arg);
		free(rl);
		return;
	}
	app_defaults(a, rl->as->svc->cfg.autostart.default_ttl_s,
	    rl->as->svc->cfg.autostart.start_timeout_ms);
	if (r == NULL)
		snprintf(err, sizeof(err), "redis connection lost");
	else if (r->type != REDIS_REPLY_ARRAY)
		snprintf(err, sizeof(err), "redis: %s",
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	else if (r->elements == 0)
		snprintf(err, sizeof(err), "no such app: %s", rl->app);
	else if (app_from_hash(a, r, ferr, sizeof(ferr)) != 0)
		snprintf(err, sizeof(err), "app %s: bad record: %s", rl->app,
		    ferr);
	rl->cb(rl->as, err[0] ? NULL : a, err[0] ? err : NULL, rl->arg);
	free(a);
	free(rl);
}

int
record_load(struct autostart *as, const char *app, record_cb cb, void *arg)
{
	struct record_load *rl;
	char key[KEY_MAX];

	if (key_app(key, sizeof(key), app) == NULL ||
	    (rl = calloc(1, sizeof(*rl))) == NULL)
		return -1;
	rl->as = as;
	rl->cb = cb;
	rl->arg = arg;
	snprintf(rl->app, sizeof(rl->app), "%s", app);
	if (store_command(as->svc->store, record_loaded, rl, "HGETALL %s",
	    key) != 0) {
		free(rl);
		return -1;
	}
	return 0;
}

int
record_keys(const char *app, struct app_keys *k)
{
	return key_app(k->app, sizeof(k->app), app) == NULL ||
	    key_wake_lock(k->lock, sizeof(k->lock), app) == NULL ||
	    key_transit(k->transit, sizeof(k->transit)) == NULL ||
	    key_deadlines(k->deadlines, sizeof(k->deadlines)) == NULL ||
	    key_instances(k->instances, sizeof(k->instances), app) == NULL ||
	    key_hosts(k->hosts, sizeof(k->hosts)) == NULL ||
	    key_instance(k->inst_tpl, sizeof(k->inst_tpl), app, "X") == NULL ||
	    key_host(k->host_tpl, sizeof(k->host_tpl), "X") == NULL ? -1 : 0;
}

void
record_publish(struct autostart *as, enum msg_type type, const char *app,
    const char *reason)
{
	struct msg m;

	msg_init(&m, type);
	snprintf(m.app, sizeof(m.app), "%s", app);
	if (reason != NULL)
		snprintf(m.reason, sizeof(m.reason), "%s", reason);
	bus_publish(as->svc->bus, &m);
}

void
record_publish_instance(struct autostart *as, enum msg_type type,
    const char *app, const char *inst, const char *addr, const char *host,
    const char *reason)
{
	struct msg m;

	msg_init(&m, type);
	snprintf(m.app, sizeof(m.app), "%s", app);
	snprintf(m.instance, sizeof(m.instance), "%s", inst);
	if (addr != NULL)
		snprintf(m.addr, sizeof(m.addr), "%s", addr);
	if (host != NULL)
		snprintf(m.host, sizeof(m.host), "%s", host);
	if (reason != NULL)
		snprintf(m.reason, sizeof(m.reason), "%s", reason);
	bus_publish(as->svc->bus, &m);
}
