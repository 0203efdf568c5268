/*
 * The scaler: keeps a running app's live instances (starting or ready)
 * at the count it should have — its min_instances, or what a `scale`
 * command set within min..max. One instance at a time per app and
 * replica: script_instance_reserve compares, then reserves a new
 * instance (start.c starts it; instance.ready) or marks the newest one
 * draining (instance.draining; it is stopped after autostart.drain_ms,
 * when the proxies have stopped sending to it: instance.stopped), and
 * the scaler looks again until they match. The reservation is atomic,
 * so replicas scaling the same app never start the same slot twice.
 *
 * A start that fails is not retried at once (a broken image would loop):
 * the next trigger (a scale, a wake, an instance's death) tries again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "autostart.h"

static void scale_reserve(struct scaler *sc);

static struct scaler *
scale_find(struct autostart *as, const char *app)
{
	for (struct scaler *sc = as->scalers; sc != NULL; sc = sc->next)
		if (strcmp(sc->app, app) == 0)
			return sc;
	return NULL;
}

static void
scale_free_cb(uv_handle_t *h)
{
	free(h->data);
}

/* SC is done: unlinked now, freed once no callback names it. */
static void
scale_finish(struct scaler *sc)
{
	struct autostart *as = sc->as;

	for (struct scaler **pp = &as->scalers; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	starter_cancel(sc->starter);
	sc->starter = NULL;
	uv_timer_stop(&sc->timer);
	sc->finished = true;
	if (sc->pending == 0)
		uv_close((uv_handle_t *)&sc->timer, scale_free_cb);
}

/* A callback naming SC came back: true if SC is finished (hands off). */
static bool
scale_back(struct scaler *sc)
{
	sc->pending--;
	if (!sc->finished)
		return sc->as->closing;
	if (sc->pending == 0)
		uv_close((uv_handle_t *)&sc->timer, scale_free_cb);
	return true;
}

/* Sends SC's script CMD (printf-style, as store_command) with SC as the
 * callback's argument; finishes SC if it cannot be sent. */
#define SCALE_CALL(sc, cb, ...) do { \
	(sc)->pending++; \
	if (store_command((sc)->as->svc->store, cb, sc, __VA_ARGS__) != 0) { \
		(sc)->pending--; \
		scale_finish(sc); \
	} \
} while (0)

static void
scale_gone_done(struct store *st, redisReply *r, void *arg)
{
	struct scaler *sc = arg;

	(void)st;
	(void)r;
	if (scale_back(sc))
		return;
	scale_reserve(sc);		/* look again */
}

/* Instance sc->inst is gone (drained and stopped, or failed): forget
 * it; then look again (AGAIN) or stop here. */
static void
scale_gone(struct scaler *sc, const char *reason, bool again)
{
	struct app_keys k;

	record_publish_instance(sc->as, MSG_INSTANCE_STOPPED, sc->app,
	    sc->inst, NULL, NULL, reason);
	if (record_keys(sc->app, &k) != 0) {
		scale_finish(sc);
		return;
	}
	if (!again) {
		store_command(sc->as->svc->store, NULL, NULL,
		    "EVAL %s 1 %s %s %s %s %s", script_instance_gone,
		    k.instances, sc->app, sc->inst, k.inst_tpl, k.host_tpl);
		scale_finish(sc);
		return;
	}
	SCALE_CALL(sc, scale_gone_done, "EVAL %s 1 %s %s %s %s %s",
	    script_instance_gone, k.instances, sc->app, sc->inst, k.inst_tpl,
	    k.host_tpl);
}

static void
scale_ready_done(struct store *st, redisReply *r, void *arg)
{
	struct scaler *sc = arg;

	(void)st;
	if (scale_back(sc))
		return;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
		/* not wanted any more (the app stopped meanwhile) */
		log_info("instance not needed after all", "app=%s instance=%s",
		    sc->app, sc->inst);
		starter_stop_failed(sc->as, &sc->rec, sc->inst);
		scale_gone(sc, "not needed", false);
		return;
	}
	scale_reserve(sc);
}

static void
scale_started(struct starter *st, const char *why, void *arg)
{
	struct scaler *sc = arg;
	struct app_keys k;
	char now[32];

	sc->starter = NULL;		/* it goes after this callback */
	if (why != NULL) {
		log_warn("instance failed to start", "app=%s instance=%s "
		    "reason=\"%s\"", sc->app, sc->inst, why);
		starter_stop_failed(sc->as, &sc->rec, sc->inst);
		scale_gone(sc, why, false);
		return;
	}
	log_info("instance ready", "app=%s instance=%s addr=%s host=%s "
	    "start_ms=%lld ready_ms=%lld", sc->app, sc->inst, st->addr,
	    st->host, (long long)(st->t_started - st->t_call),
	    (long long)(service_mono_ms() - st->t_started));
	record_publish_instance(sc->as, MSG_INSTANCE_READY, sc->app, sc->inst,
	    st->addr, st->host, NULL);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (record_keys(sc->app, &k) != 0) {
		scale_finish(sc);
		return;
	}
	SCALE_CALL(sc, scale_ready_done, "EVAL %s 3 %s %s %s %s %s %s %s %s "
	    "%s %s", script_instance_ready, k.app, k.instances, k.hosts,
	    sc->app, sc->inst, st->addr, st->host, now, k.inst_tpl,
	    k.host_tpl);
}

static void
scale_stopped(const struct driver_result *r, void *arg)
{
	struct scaler *sc = arg;

	if (scale_back(sc))
		return;
	if (!r->ok) {
		log_error("instance did not stop", "app=%s instance=%s "
		    "err=\"%s\"", sc->app, sc->inst, r->err);
		scale_finish(sc);
		return;
	}
	log_info("instance stopped", "app=%s instance=%s reason=\"scale "
	    "down\"", sc->app, sc->inst);
	scale_gone(sc, "scale down", true);
}

static void
scale_drained(uv_timer_t *t)
{
	struct scaler *sc = t->data;
	char err[DRIVER_ERR_MAX];

	if (sc->as->closing)
		return;
	sc->pending++;
	if (driver_stop(sc->as->drivers, &sc->rec, sc->inst,
	    sc->as->svc->cfg.autostart.stop_grace_ms, scale_stopped, sc, err,
	    sizeof(err)) != 0) {
		sc->pending--;
		log_error("instance did not stop", "app=%s instance=%s "
		    "err=\"%s\"", sc->app, sc->inst, err);
		scale_finish(sc);
	}
}

static void
scale_reserved(struct store *st, redisReply *r, void *arg)
{
	struct scaler *sc = arg;
	const char *what;
	char err[DRIVER_ERR_MAX];

	(void)st;
	if (scale_back(sc))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		log_warn("scaling stopped", "app=%s why=\"%s\"", sc->app,
		    r == NULL ? "redis connection lost" :
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		scale_finish(sc);
		return;
	}
	what = r->element[0]->str;
	if (r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING)
		snprintf(sc->inst, sizeof(sc->inst), "%s", r->element[1]->str);
	if (strcmp(what, "start") == 0 && r->elements > 1) {
		log_info("starting instance", "app=%s instance=%s", sc->app,
		    sc->inst);
		if ((sc->starter = starter_run(sc->as, &sc->rec, sc->inst,
		    scale_started, sc, err, sizeof(err))) == NULL) {
			log_warn("instance failed to start", "app=%s "
			    "instance=%s reason=\"%s\"", sc->app, sc->inst,
			    err);
			scale_gone(sc, err, false);
		}
	} else if (strcmp(what, "drain") == 0 && r->elements > 1) {
		log_info("draining instance", "app=%s instance=%s drain_ms=%d",
		    sc->app, sc->inst, sc->as->svc->cfg.autostart.drain_ms);
		record_publish_instance(sc->as, MSG_INSTANCE_DRAINING, sc->app,
		    sc->inst, NULL, NULL, "scale down");
		uv_timer_start(&sc->timer, scale_drained,
		    (uint64_t)sc->as->svc->cfg.autostart.drain_ms, 0);
	} else if (sc->again) {
		sc->again = false;
		scale_reserve(sc);
	} else {
		scale_finish(sc);	/* "ok" or "idle" */
	}
}

static void
scale_reserve(struct scaler *sc)
{
	struct app_keys k;
	char now[32];

	if (record_keys(sc->app, &k) != 0) {
		scale_finish(sc);
		return;
	}
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	SCALE_CALL(sc, scale_reserved, "EVAL %s 2 %s %s %s %s",
	    script_instance_reserve, k.app, k.instances, now, k.inst_tpl);
}

static void
scale_loaded(struct autostart *as, const struct app *a, const char *err,
    void *arg)
{
	struct scaler *sc = arg;

	(void)as;
	if (scale_back(sc))
		return;
	if (err != NULL) {
		log_warn("scaling stopped", "app=%s why=\"%s\"", sc->app, err);
		scale_finish(sc);
		return;
	}
	sc->rec = *a;
	scale_reserve(sc);
}

void
scale_apply(struct autostart *as, const char *app)
{
	struct scaler *sc;

	if (as->closing || !keys_name_valid(app))
		return;
	if ((sc = scale_find(as, app)) != NULL) {
		sc->again = true;
		return;
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return;
	sc->as = as;
	snprintf(sc->app, sizeof(sc->app), "%s", app);
	uv_timer_init(as->svc->loop, &sc->timer);
	sc->timer.data = sc;
	sc->next = as->scalers;
	as->scalers = sc;
	sc->pending++;
	if (record_load(as, app, scale_loaded, sc) != 0) {
		sc->pending--;
		scale_finish(sc);
	}
}

bool
scale_on_exit(struct autostart *as, const char *app, const char *inst,
    const char *why)
{
	struct scaler *sc = scale_find(as, app);

	if (sc == NULL || sc->starter == NULL || strcmp(sc->inst, inst) != 0)
		return false;
	starter_cancel(sc->starter);
	sc->starter = NULL;
	log_warn("instance failed to start", "app=%s instance=%s "
	    "reason=\"%s\"", app, inst, why);
	scale_gone(sc, why, false);
	return true;
}

/* --- the scale command --- */

struct scale_ask {
	struct autostart *as;
	struct bus_request *req;
	char app[64];
	char reason[MSG_TEXT_MAX];
	int64_t asked;
};

static void
scale_decided(struct store *st, redisReply *r, void *arg)
{
	struct scale_ask *sa = arg;
	struct autostart *as = sa->as;
	int64_t live, to, mn, mx;
	struct msg m;
	char why[160] = "";

	(void)st;
	if (as->closing) {
		free(sa);
		return;
	}
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		bus_reply_error(as->svc->bus, sa->req, r == NULL ?
		    "redis connection lost" : r->type == REDIS_REPLY_ERROR ?
		    r->str : "unexpected reply from redis");
		free(sa);
		return;
	}
	if (strcmp(r->element[0]->str, "ok") != 0 || r->elements < 5) {
		snprintf(why, sizeof(why), "no such app: %s", sa->app);
		bus_reply_error(as->svc->bus, sa->req, why);
		free(sa);
		return;
	}
	live = r->element[1]->integer;
	to = r->element[2]->integer;
	mn = r->element[3]->integer;
	mx = r->element[4]->integer;
	if (to > sa->asked)
		snprintf(why, sizeof(why), "raised to min_instances %lld",
		    (long long)mn);
	else if (to < sa->asked)
		snprintf(why, sizeof(why), "clamped to max_instances %lld",
		    (long long)mx);
	msg_init(&m, MSG_SCALE_OK);
	snprintf(m.app, sizeof(m.app), "%s", sa->app);
	m.from = live;
	m.to = to;
	snprintf(m.reason, sizeof(m.reason), "%s", why);
	bus_reply(as->svc->bus, sa->req, &m);
	log_info("app scaled", "app=%s from=%lld to=%lld reason=\"%s\"%s%s",
	    sa->app, (long long)live, (long long)to, sa->reason,
	    why[0] ? " note=" : "", why);
	if (to != live) {
		msg_init(&m, MSG_APP_SCALED);
		snprintf(m.app, sizeof(m.app), "%s", sa->app);
		m.from = live;
		m.to = to;
		snprintf(m.reason, sizeof(m.reason), "%s", sa->reason);
		bus_publish(as->svc->bus, &m);
	}
	scale_apply(as, sa->app);
	free(sa);
}

void
scale_request(struct autostart *as, const struct msg *m,
    struct bus_request *req)
{
	struct scale_ask *sa;
	struct app_keys k;
	char to[24];

	if (!keys_name_valid(m->app) || record_keys(m->app, &k) != 0) {
		bus_reply_error(as->svc->bus, req, "invalid app name");
		return;
	}
	if (m->to < 0 || m->to > APP_INSTANCES_MAX) {
		bus_reply_error(as->svc->bus, req, "instances out of range");
		return;
	}
	if ((sa = calloc(1, sizeof(*sa))) == NULL) {
		bus_reply_error(as->svc->bus, req, "out of memory");
		return;
	}
	sa->as = as;
	sa->req = req;
	sa->asked = m->to;
	snprintf(sa->app, sizeof(sa->app), "%s", m->app);
	snprintf(sa->reason, sizeof(sa->reason), "%s",
	    m->reason[0] != '\0' ? m->reason : "manual");
	snprintf(to, sizeof(to), "%lld", (long long)m->to);
	if (store_command(as->svc->store, scale_decided, sa,
	    "EVAL %s 2 %s %s %s %s", script_scale, k.app, k.instances, to,
	    k.inst_tpl) != 0) {
		bus_reply_error(as->svc->bus, req, "redis unavailable");
		free(sa);
	}
}

/* Shutdown: scalers stay listed; with as->closing their callbacks do
 * nothing more. */
void
scale_abort_all(struct autostart *as)
{
	for (struct scaler *sc = as->scalers; sc != NULL; sc = sc->next) {
		uv_timer_stop(&sc->timer);
		starter_cancel(sc->starter);
		sc->starter = NULL;
	}
}
