/*
 * Stopping apps: the idle sweeper, manual stops, and the reconciler that
 * repairs transitions a dead replica left half done (and says, in the
 * hosts set, that this machine is still seen).
 *
 * The sweeper asks Redis only for the apps that are due (a range of the
 * deadlines sorted set), so a sweep costs O(apps due), not O(apps). Each
 * due app is stopped only if script_stop_if_due still finds its deadline
 * past at that moment: a request the proxy counted meanwhile wins.
 *
 * Between "stopping" and the signal there is a short drain: proxies
 * learn from app.stopping to hold new requests (and wake the app again
 * once it is stopped), and what they had already sent can finish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "autostart.h"

#define STOP_DRAIN_MS 200
#define STOP_BATCH 64		/* due apps taken per sweep */
#define STOP_RECONCILE_MS 5000
#define STOP_LOCK_SLACK_MS 10000

static int
stop_lock_ms(const struct autostart *as)
{
	return STOP_DRAIN_MS + as->svc->cfg.autostart.stop_grace_ms +
	    STOP_LOCK_SLACK_MS;
}

static struct stop *
stop_find(struct autostart *as, const char *app)
{
	for (struct stop *s = as->stops; s != NULL; s = s->next)
		if (strcmp(s->app, app) == 0)
			return s;
	return NULL;
}

static void
stop_free_cb(uv_handle_t *h)
{
	free(h->data);
}

/* Answers a manual stop of APP (if REQ): stopped, or the error ERR. */
static void
stop_reply(struct autostart *as, struct bus_request *req, const char *app,
    const char *err)
{
	struct msg m;

	if (req == NULL)
		return;
	if (err != NULL) {
		bus_reply_error(as->svc->bus, req, err);
		return;
	}
	msg_init(&m, MSG_STOP_OK);
	snprintf(m.app, sizeof(m.app), "%s", app);
	snprintf(m.state, sizeof(m.state), "%s", app_state_name(APP_STOPPED));
	bus_reply(as->svc->bus, req, &m);
}

static void
stop_finish(struct stop *s, const char *err)
{
	struct autostart *as = s->as;

	for (struct stop **pp = &as->stops; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	stop_reply(as, s->req, s->app, err);
	s->req = NULL;
	uv_close((uv_handle_t *)&s->timer, stop_free_cb);
}

static void
stop_recorded(struct store *st, redisReply *r, void *arg)
{
	struct stop *s = arg;

	if (s->as->closing)
		return;

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
		log_warn("stop not recorded", "app=%s why=\"%s\"", s->app,
		    r == NULL ? "redis connection lost" : "lock expired");
		stop_finish(s, "the stop lock expired");
		return;
	}
	for (int i = 0; i < s->ninsts; i++)
		record_publish_instance(s->as, MSG_INSTANCE_STOPPED, s->app,
		    s->insts[i], NULL, NULL, s->reason);
	record_publish(s->as, MSG_APP_STOPPED, s->app, s->reason);
	log_info("app stopped", "app=%s reason=%s", s->app, s->reason);
	/* What woke with the app stops with it. */
	for (int i = 0; i < s->rec.ngroup; i++)
		stop_request(s->as, s->rec.group[i], s->reason, NULL);
	stop_finish(s, NULL);
}

static void
stop_driver_done(const struct driver_result *r, void *arg)
{
	struct stop *s = arg;
	struct app_keys k;

	if (s->as->closing)
		return;

	if (!r->ok && s->err[0] == '\0')
		snprintf(s->err, sizeof(s->err), "%s", r->err);
	if (--s->left > 0)
		return;
	if (s->err[0] != '\0') {
		/* Leave it "stopping": the lock expires, reconcile retries. */
		log_error("app did not stop", "app=%s err=\"%s\"", s->app,
		    s->err);
		stop_finish(s, s->err);
		return;
	}
	if (record_keys(s->app, &k) != 0 ||
	    store_command(s->as->svc->store, stop_recorded, s,
	    "EVAL %s 4 %s %s %s %s %s %s %s %s %s", script_stopped, k.app,
	    k.lock, k.transit, k.instances, s->app, s->as->svc->source,
	    s->reason, k.inst_tpl, k.host_tpl) != 0)
		stop_finish(s, "redis unavailable");
}

/* Every instance of the app, stopped at once. */
static void
stop_instances(struct store *st, redisReply *r, void *arg)
{
	struct stop *s = arg;
	struct autostart *as = s->as;
	char derr[DRIVER_ERR_MAX];

	(void)st;
	if (as->closing)
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		stop_finish(s, "redis connection lost");
		return;
	}
	for (size_t i = 0; i < r->elements && s->ninsts < APP_INSTANCES_MAX;
	    i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    keys_name_valid(r->element[i]->str))
			snprintf(s->insts[s->ninsts++], sizeof(s->insts[0]),
			    "%s", r->element[i]->str);
	/* an app started before it had instances runs as instance 1 */
	if (s->ninsts == 0)
		snprintf(s->insts[s->ninsts++], sizeof(s->insts[0]), "1");
	s->left = s->ninsts + 1;	/* the loop's own count below */
	for (int i = 0; i < s->ninsts; i++) {
		if (driver_stop(as->drivers, &s->rec, s->insts[i],
		    as->svc->cfg.autostart.stop_grace_ms, stop_driver_done, s,
		    derr, sizeof(derr)) != 0) {
			if (s->err[0] == '\0')
				snprintf(s->err, sizeof(s->err), "%s", derr);
			s->left--;
		}
	}
	{
		struct driver_result done = {.ok = true};

		stop_driver_done(&done, s);	/* the loop's count */
	}
}

static void
stop_loaded(struct autostart *as, const struct app *a, const char *err,
    void *arg)
{
	struct stop *s = arg;
	struct app_keys k;

	if (s->as->closing)
		return;

	if (err != NULL) {
		stop_finish(s, err);
		return;
	}
	s->rec = *a;
	if (record_keys(s->app, &k) != 0 ||
	    store_command(as->svc->store, stop_instances, s, "SMEMBERS %s",
	    k.instances) != 0)
		stop_finish(s, "redis unavailable");
}

static void
stop_drained(uv_timer_t *t)
{
	struct stop *s = t->data;

	if (s->as->closing)
		return;

	if (record_load(s->as, s->app, stop_loaded, s) != 0)
		stop_finish(s, "redis unavailable");
}

/* The app is "stopping" and we hold its lock: drain, signal, record. */
static void
stop_run(struct autostart *as, const char *app, const char *reason,
    struct bus_request *req)
{
	struct stop *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		if (req != NULL)
			bus_reply_error(as->svc->bus, req, "out of memory");
		return;		/* the lock expires; reconcile finishes it */
	}
	s->as = as;
	s->req = req;
	snprintf(s->app, sizeof(s->app), "%s", app);
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	uv_timer_init(as->svc->loop, &s->timer);
	s->timer.data = s;
	s->next = as->stops;
	as->stops = s;
	log_info("stopping app", "app=%s reason=%s", app, reason);
	record_publish(as, MSG_APP_STOPPING, app, reason);
	uv_timer_start(&s->timer, stop_drained, STOP_DRAIN_MS, 0);
}

/* What a Redis callback needs to go on with one app. */
struct stop_ask {
	struct autostart *as;
	char app[64];
	char reason[64];
	struct bus_request *req;	/* manual stop: who to answer */
};

static struct stop_ask *
stop_ask_new(struct autostart *as, const char *app, const char *reason,
    struct bus_request *req)
{
	struct stop_ask *sa = calloc(1, sizeof(*sa));

	if (sa == NULL)
		return NULL;
	sa->as = as;
	sa->req = req;
	snprintf(sa->app, sizeof(sa->app), "%s", app);
	snprintf(sa->reason, sizeof(sa->reason), "%s", reason);
	return sa;
}

/* --- the sweeper --- */

static void
stop_due_decided(struct store *st, redisReply *r, void *arg)
{
	struct stop_ask *sa = arg;

	(void)st;
	if (!sa->as->closing && r != NULL && r->type == REDIS_REPLY_INTEGER &&
	    r->integer == 1)
		stop_run(sa->as, sa->app, sa->reason, NULL);
	free(sa);
}

static void
stop_due(struct autostart *as, const char *app)
{
	struct app_keys k;
	char now[32], lock_ms[16];
	struct stop_ask *sa;

	if (stop_find(as, app) != NULL ||
	    (sa = stop_ask_new(as, app, "idle", NULL)) == NULL)
		return;
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	snprintf(lock_ms, sizeof(lock_ms), "%d", stop_lock_ms(as));
	if (record_keys(app, &k) != 0 ||
	    store_command(as->svc->store, stop_due_decided, sa,
	    "EVAL %s 4 %s %s %s %s %s %s %s %s", script_stop_if_due,
	    k.deadlines, k.app, k.lock, k.transit, app, as->svc->source, now,
	    lock_ms) != 0)
		free(sa);
}

static void
stop_sweep_reply(struct store *st, redisReply *r, void *arg)
{
	struct autostart *as = arg;

	if (as->closing)
		return;

	(void)st;
	as->sweeping = false;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    keys_name_valid(r->element[i]->str))
			stop_due(as, r->element[i]->str);
}

static void
stop_sweep_tick(uv_timer_t *t)
{
	struct autostart *as = t->data;
	char dl[KEY_MAX], now[32];

	if (as->sweeping || !store_connected(as->svc->store))
		return;
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (key_deadlines(dl, sizeof(dl)) != NULL &&
	    store_command(as->svc->store, stop_sweep_reply, as,
	    "ZRANGEBYSCORE %s -inf %s LIMIT 0 %d", dl, now, STOP_BATCH) == 0)
		as->sweeping = true;
}

/* --- manual stops --- */

static void
stop_now_decided(struct store *st, redisReply *r, void *arg)
{
	struct stop_ask *sa = arg;
	char why[160];

	if (sa->as->closing) {
		free(sa);
		return;
	}

	(void)st;
	/* Without a request (a group member) only "stopping" matters. */
	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		stop_reply(sa->as, sa->req, sa->app, r == NULL ?
		    "redis connection lost" : "unexpected reply");
	} else if (strcmp(r->str, "stopping") == 0) {
		stop_run(sa->as, sa->app, sa->reason, sa->req);
	} else if (strcmp(r->str, "missing") == 0) {
		snprintf(why, sizeof(why), "no such app: %s", sa->app);
		stop_reply(sa->as, sa->req, sa->app, why);
	} else if (strcmp(r->str, "stopped") == 0) {
		stop_reply(sa->as, sa->req, sa->app, NULL);
	} else {
		snprintf(why, sizeof(why), "app %s is %s; try again when it "
		    "is running", sa->app, r->str);
		stop_reply(sa->as, sa->req, sa->app, why);
	}
	free(sa);
}

void
stop_request(struct autostart *as, const char *app, const char *reason,
    struct bus_request *req)
{
	struct app_keys k;
	char lock_ms[16];
	struct stop_ask *sa;

	if (!keys_name_valid(app) ||
	    (sa = stop_ask_new(as, app, reason, req)) == NULL) {
		if (req != NULL)
			bus_reply_error(as->svc->bus, req, "invalid app name");
		return;
	}
	snprintf(lock_ms, sizeof(lock_ms), "%d", stop_lock_ms(as));
	if (record_keys(app, &k) != 0 ||
	    store_command(as->svc->store, stop_now_decided, sa,
	    "EVAL %s 4 %s %s %s %s %s %s %s %s", script_stop_now, k.app,
	    k.lock, k.transit, k.deadlines, app, as->svc->source, lock_ms,
	    reason) != 0) {
		if (req != NULL)
			bus_reply_error(as->svc->bus, req, "redis unavailable");
		free(sa);
	}
}

/* --- reconcile: transitions whose replica died --- */

static void
stop_takeover_decided(struct store *st, redisReply *r, void *arg)
{
	struct stop_ask *sa = arg;

	(void)st;
	if (!sa->as->closing && r != NULL &&
	    r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		log_warn("taking over an interrupted transition",
		    "app=%s", sa->app);
		stop_run(sa->as, sa->app, sa->reason, NULL);
	}
	free(sa);
}

static void
stop_transit_reply(struct store *st, redisReply *r, void *arg)
{
	struct autostart *as = arg;
	struct app_keys k;
	char lock_ms[16];

	if (as->closing)
		return;

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	snprintf(lock_ms, sizeof(lock_ms), "%d", stop_lock_ms(as));
	for (size_t i = 0; i < r->elements; i++) {
		const char *app = r->element[i]->str;
		struct stop_ask *sa;

		/* Ours in progress hold their lock: the script skips them. */
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    record_keys(app, &k) != 0 ||
		    (sa = stop_ask_new(as, app, "interrupted", NULL)) == NULL)
			continue;
		if (store_command(as->svc->store, stop_takeover_decided, sa,
		    "EVAL %s 3 %s %s %s %s %s %s", script_takeover, k.app,
		    k.lock, k.transit, app, as->svc->source, lock_ms) != 0)
			free(sa);
	}
}

/* What the regulator last said of this host: a lost event is repaired. */
static void
stop_hoststate_reply(struct store *st, redisReply *r, void *arg)
{
	struct autostart *as = arg;

	(void)st;
	if (as->closing || r == NULL || (r->type != REDIS_REPLY_STRING &&
	    r->type != REDIS_REPLY_NIL))
		return;
	wake_host_state(as, as->host, r->type == REDIS_REPLY_STRING &&
	    strcmp(r->str, "1") == 0);
}

void
stop_reconcile(struct autostart *as)
{
	char transit[KEY_MAX], hosts[KEY_MAX], state[KEY_MAX];

	if (key_transit(transit, sizeof(transit)) != NULL)
		store_command(as->svc->store, stop_transit_reply, as,
		    "SMEMBERS %s", transit);
	/* this machine is seen: its process instances run here */
	if (key_hosts(hosts, sizeof(hosts)) != NULL)
		store_command(as->svc->store, NULL, NULL, "ZADD %s %lld %s",
		    hosts, (long long)service_now_ms(), as->host);
	if (key_hoststate(state, sizeof(state), as->host) != NULL)
		store_command(as->svc->store, stop_hoststate_reply, as,
		    "HGET %s overloaded", state);
}

static void
stop_reconcile_tick(uv_timer_t *t)
{
	stop_reconcile(t->data);
}

void
stop_sweep_start(struct autostart *as)
{
	uv_timer_init(as->svc->loop, &as->sweep);
	uv_timer_init(as->svc->loop, &as->reconcile);
	as->sweep.data = as->reconcile.data = as;
	uv_timer_start(&as->sweep, stop_sweep_tick,
	    (uint64_t)as->svc->cfg.autostart.sweep_interval_ms,
	    (uint64_t)as->svc->cfg.autostart.sweep_interval_ms);
	uv_timer_start(&as->reconcile, stop_reconcile_tick, STOP_RECONCILE_MS,
	    STOP_RECONCILE_MS);
}

/* Shutdown: as wake_abort_all, stops stay listed and do nothing more. */
void
stop_abort_all(struct autostart *as)
{
	uv_timer_stop(&as->sweep);
	uv_timer_stop(&as->reconcile);
	for (struct stop *s = as->stops; s != NULL; s = s->next) {
		uv_timer_stop(&s->timer);
		stop_reply(as, s->req, s->app, "autostart is shutting down");
		s->req = NULL;
	}
}
