/*
 * The autoscaler's loop. Every regulator.scale_interval_ms, for each
 * app it follows (a record with target_concurrency > 0), it reads in one
 * round the record's state and bounds, the load hash the proxies flush
 * (common/load.h) and the app's instances, then decides (decide.c).
 * Only running apps are decided; the others' history is forgotten.
 *
 * Which apps it follows: every app is read at start, when Redis comes
 * back and every regulator.apps_refresh_ms (O(apps), rarely); an
 * app.changed reads that one app at once. A tick costs O(apps followed).
 *
 * A decision is taken by one replica per app per interval: the lock
 * (SET lock:scale:APP SOURCE NX PX interval) goes to the first, the
 * others leave it. It is then asked of autostart with the scale command;
 * the count autostart answers (scale.ok, or any replica's app.scaled)
 * stands for the current one until the instances catch up with it, so
 * no replica asks twice for the same change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "load.h"
#include "log.h"
#include "metrics.h"
#include "regulator.h"
#include "store.h"

static struct metric m_decisions = METRIC_COUNTER(
    "devcloud_regulator_scale_decisions_total",
    "Autoscaler decisions taken by this replica (scale commands sent).");
static struct metric m_failures = METRIC_COUNTER(
    "devcloud_regulator_scale_failures_total",
    "Scale commands that autostart refused or did not answer.");
static struct metric m_locked = METRIC_COUNTER(
    "devcloud_regulator_scale_locked_total",
    "Decisions left to another replica that took the app's lock first.");
static struct metric m_apps = METRIC_GAUGE("devcloud_regulator_autoscaled_apps",
    "Apps with a target_concurrency the autoscaler follows.");
static struct metric m_bad_records = METRIC_COUNTER(
    "devcloud_regulator_bad_records_total",
    "App records or load figures not used because they are malformed.");

/* The longest wait before asking again after autostart refused. */
#define SCALE_BACKOFF_MAX_MS 60000

/* The record fields the autoscaler reads, in HMGET's order. */
static const char *const rec_fields[] = {"state", "target_concurrency",
    "min_instances", "max_instances"};
#define NREC_FIELDS (sizeof(rec_fields) / sizeof(rec_fields[0]))

/* A record read for the app list (refresh or app.changed). */
struct fetch {
	struct regulator *rg;
	uint64_t gen;			/* the refresh it belongs to; 0: none */
	char name[MSG_NAME_MAX];
};

static void tick_done(struct autoscale_app *e);

static const struct config *
cfg_of(const struct regulator *rg)
{
	return &rg->svc->cfg;
}

static struct autoscale_app *
app_find(struct regulator *rg, const char *name)
{
	for (struct autoscale_app *e = rg->apps; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
apps_count(struct regulator *rg)
{
	int64_t n = 0;

	for (struct autoscale_app *e = rg->apps; e != NULL; e = e->next)
		n += !e->gone;
	metric_set(&m_apps, n);
}

/* Frees E if it is gone and nothing names it any more. While shutting
 * down nothing is freed: the list keeps it reachable. */
static void
app_release(struct autoscale_app *e)
{
	struct regulator *rg = e->rg;

	if (!e->gone || e->pending > 0 || e->asking || rg->closing)
		return;
	for (struct autoscale_app **pp = &rg->apps; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	free(e);
}

static void
app_forget(struct autoscale_app *e, const char *why)
{
	if (e->gone)
		return;
	e->gone = true;
	log_info("app no longer autoscaled", "app=%s why=\"%s\"", e->name,
	    why);
	apps_count(e->rg);
	app_release(e);
}

/*
 * Reads the HMGET reply R of rec_fields into *A (defaults first). 1 if
 * the record exists, 0 if it does not, -1 if a field is malformed.
 */
static int
rec_parse(const char *name, const redisReply *r, struct app *a)
{
	char err[600];
	int present = 0;

	app_defaults(a, 0, 0);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
	    r->elements != NREC_FIELDS)
		return -1;
	for (size_t i = 0; i < NREC_FIELDS; i++) {
		const redisReply *v = r->element[i];

		if (v->type != REDIS_REPLY_STRING)
			continue;
		present = 1;
		if (app_set(a, rec_fields[i], v->str, err, sizeof(err)) < 0) {
			metric_add(&m_bad_records, 1);
			log_warn("bad app record ignored", "app=%s err=\"%s\"",
			    name, err);
			return -1;
		}
	}
	return present;
}

static void
app_apply(struct autoscale_app *e, const struct app *a)
{
	e->state = a->state;
	e->target = a->target_concurrency;
	e->min = a->min_instances;
	e->max = a->max_instances;
}

/* ---- the app list ------------------------------------------------ */

static void
refresh_sweep(struct regulator *rg)
{
	struct autoscale_app *e, *next;

	for (e = rg->apps; e != NULL; e = next) {
		next = e->next;
		if (e->seen_gen != rg->refresh_gen)
			app_forget(e, "not in the apps set");
	}
}

static void
fetch_cb(struct store *st, redisReply *r, void *arg)
{
	struct fetch *f = arg;
	struct regulator *rg = f->rg;
	struct autoscale_app *e;
	struct app a;
	int rc;

	(void)st;
	if (rg->closing || r == NULL)
		goto done;
	e = app_find(rg, f->name);
	if ((rc = rec_parse(f->name, r, &a)) < 0) {
		if (e != NULL)
			e->seen_gen = rg->refresh_gen;	/* keep it */
		goto done;
	}
	if (rc == 0 || a.target_concurrency <= 0) {
		if (e != NULL)
			app_forget(e, rc == 0 ? "removed" :
			    "target_concurrency 0");
		goto done;
	}
	if (e == NULL || e->gone) {
		if (e != NULL) {
			/* back before it was freed: start afresh */
			e->gone = false;
			scale_history_reset(&e->h);
		} else {
			if ((e = calloc(1, sizeof(*e))) == NULL)
				goto done;
			e->rg = rg;
			snprintf(e->name, sizeof(e->name), "%s", f->name);
			e->next = rg->apps;
			rg->apps = e;
		}
		log_info("app autoscaled", "app=%s target_concurrency=%d "
		    "min=%d max=%d", e->name, a.target_concurrency,
		    a.min_instances, a.max_instances);
		apps_count(rg);
	}
	app_apply(e, &a);
	e->seen_gen = rg->refresh_gen;
done:
	if (f->gen != 0 && f->gen == rg->refresh_gen &&
	    --rg->refresh_pending == 0 && !rg->closing && r != NULL)
		refresh_sweep(rg);
	free(f);
}

/* Reads NAME's record; GEN: the refresh it is part of, or 0. */
static int
fetch(struct regulator *rg, const char *name, uint64_t gen)
{
	const char *argv[2 + NREC_FIELDS];
	char key[KEY_MAX];
	struct fetch *f;

	if (key_app(key, sizeof(key), name) == NULL ||
	    (f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->rg = rg;
	f->gen = gen;
	snprintf(f->name, sizeof(f->name), "%s", name);
	argv[0] = "HMGET";
	argv[1] = key;
	for (size_t i = 0; i < NREC_FIELDS; i++)
		argv[2 + i] = rec_fields[i];
	if (store_commandv(rg->svc->store, fetch_cb, f, 2 + NREC_FIELDS,
	    argv, NULL) < 0) {
		free(f);
		return -1;
	}
	return 0;
}

static void
refresh_cb(struct store *st, redisReply *r, void *arg)
{
	struct regulator *rg = arg;

	(void)st;
	rg->refresh_pending--;
	if (rg->closing || r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++) {
		const char *name = r->element[i]->str;

		if (name == NULL || !keys_name_valid(name))
			continue;
		if (fetch(rg, name, rg->refresh_gen) == 0)
			rg->refresh_pending++;
	}
	if (rg->refresh_pending == 0)
		refresh_sweep(rg);
}

void
autoscale_refresh(struct regulator *rg)
{
	char key[KEY_MAX];

	if (rg->closing || rg->refresh_pending > 0 || rg->svc->store == NULL ||
	    !store_connected(rg->svc->store))
		return;
	rg->refresh_gen++;
	if (store_command(rg->svc->store, refresh_cb, rg, "SMEMBERS %s",
	    key_apps(key, sizeof(key))) == 0)
		rg->refresh_pending++;
}

static void
refresh_timer_cb(uv_timer_t *t)
{
	autoscale_refresh(t->data);
}

void
autoscale_app_changed(struct regulator *rg, const struct msg *m)
{
	struct autoscale_app *e = app_find(rg, m->app);

	if (strcmp(m->state, "removed") == 0) {
		if (e != NULL)
			app_forget(e, "removed");
		return;
	}
	if (rg->svc->store != NULL && store_connected(rg->svc->store))
		fetch(rg, m->app, 0);
}

void
autoscale_app_scaled(struct regulator *rg, const struct msg *m)
{
	struct autoscale_app *e = app_find(rg, m->app);

	if (e == NULL || e->gone || m->to < 1)
		return;
	e->scaled_to = (int)m->to;
	e->scaled_ms = service_mono_ms();
}

/* ---- one tick of one app ----------------------------------------- */

static void
tick_reply(struct autoscale_app *e)
{
	if (--e->pending == 0)
		tick_done(e);
}

static void
rec_cb(struct store *st, redisReply *r, void *arg)
{
	struct autoscale_app *e = arg;
	struct app a;
	int rc;

	(void)st;
	if (e->rg->closing || r == NULL) {
		e->tick_ok = false;
	} else if ((rc = rec_parse(e->name, r, &a)) < 0) {
		e->tick_ok = false;
	} else if (rc == 0) {
		e->tick_ok = false;
		app_forget(e, "removed");
	} else if (a.target_concurrency <= 0) {
		e->tick_ok = false;
		app_forget(e, "target_concurrency 0");
	} else {
		app_apply(e, &a);
	}
	tick_reply(e);
}

/* Sums the fresh figures of the load hash; stale ones are deleted. */
static void
load_cb(struct store *st, redisReply *r, void *arg)
{
	struct autoscale_app *e = arg;
	struct regulator *rg = e->rg;
	int64_t now = service_now_ms();
	int64_t fresh = load_fresh_ms(cfg_of(rg)->proxy.flush_interval_ms);
	char key[KEY_MAX];

	if (rg->closing || r == NULL || r->type != REDIS_REPLY_ARRAY) {
		e->tick_ok = false;
		goto done;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const char *field = r->element[i]->str;
		struct load_figure f;

		if (field == NULL || load_parse(r->element[i + 1]->str,
		    &f) < 0) {
			metric_add(&m_bad_records, 1);
			log_warn("bad load figure ignored", "app=%s field=%s",
			    e->name, field != NULL ? field : "?");
			continue;
		}
		if (now - f.ms > fresh) {
			/* a proxy that went quiet or away; its key entry
			 * would otherwise live as long as another's */
			if (now - f.ms > 2 * fresh &&
			    key_load(key, sizeof(key), e->name) != NULL)
				store_command(st, NULL, NULL, "HDEL %s %s", key,
				    field);
			continue;
		}
		e->load += f.avg;
		e->peak += (double)f.peak;
	}
done:
	tick_reply(e);
}

static void
inst_cb(struct store *st, redisReply *r, void *arg)
{
	struct autoscale_app *e = arg;

	(void)st;
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		e->tick_ok = false;
	else if (r->type == REDIS_REPLY_STRING &&
	    (strcmp(r->str, "starting") == 0 || strcmp(r->str, "ready") == 0))
		e->ready++;
	tick_reply(e);
}

/* The instances' ids: each one's state is read next. */
static void
members_cb(struct store *st, redisReply *r, void *arg)
{
	struct autoscale_app *e = arg;
	char key[KEY_MAX];

	if (e->rg->closing || r == NULL || r->type != REDIS_REPLY_ARRAY) {
		e->tick_ok = false;
		goto done;
	}
	for (size_t i = 0; i < r->elements; i++) {
		const char *id = r->element[i]->str;

		if (id == NULL || key_instance(key, sizeof(key), e->name,
		    id) == NULL)
			continue;
		e->ninst++;
		if (store_command(st, inst_cb, e, "HGET %s state", key) == 0)
			e->pending++;
		else
			e->tick_ok = false;
	}
done:
	tick_reply(e);
}

static void
scale_cb(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	struct autoscale_app *e = arg;

	(void)st;
	e->asking = false;
	if (e->rg->closing)
		return;
	if (r != NULL && r->type == MSG_SCALE_OK) {
		log_info("app scaled", "app=%s from=%lld to=%lld%s%s%s",
		    e->name, (long long)r->from, (long long)r->to,
		    r->reason[0] ? " reason=\"" : "", r->reason,
		    r->reason[0] ? "\"" : "");
		if (r->to >= 1) {
			e->scaled_to = (int)r->to;
			e->scaled_ms = service_mono_ms();
		}
		e->backoff_ms = 0;
	} else {
		/* an autostart that cannot scale is not asked every tick */
		int iv = cfg_of(e->rg)->regulator.scale_interval_ms;

		e->backoff_ms = e->backoff_ms == 0 ? iv : 2 * e->backoff_ms;
		if (e->backoff_ms > SCALE_BACKOFF_MAX_MS)
			e->backoff_ms = SCALE_BACKOFF_MAX_MS;
		e->retry_ms = service_mono_ms() + e->backoff_ms;
		metric_add(&m_failures, 1);
		log_warn("scale refused", "app=%s autostart=%s err=\"%s\" "
		    "retry_ms=%d", e->name, cfg_of(e->rg)->autostart.d.control,
		    r != NULL ? "unexpected answer" : err, e->backoff_ms);
	}
	app_release(e);
}

/* What a decision carries from the lock to the command. */
struct ask {
	struct autoscale_app *e;
	struct scale_decision d;
	int from;
};

static void
lock_cb(struct store *st, redisReply *r, void *arg)
{
	struct ask *k = arg;
	struct autoscale_app *e = k->e;
	struct regulator *rg = e->rg;
	struct msg m;

	(void)st;
	e->pending--;
	if (rg->closing || r == NULL || e->gone)
		goto done;
	if (r->type != REDIS_REPLY_STATUS) {
		metric_add(&m_locked, 1);
		log_debug("scale decision left to another replica",
		    "app=%s to=%d", e->name, k->d.to);
		goto done;
	}
	msg_init(&m, MSG_SCALE);
	snprintf(m.app, sizeof(m.app), "%s", e->name);
	m.to = k->d.to;
	snprintf(m.reason, sizeof(m.reason), "%s", k->d.reason);
	metric_add(&m_decisions, 1);
	log_info("scale decision", "app=%s load=%.2f peak=%.0f from=%d to=%d "
	    "want=%d reason=\"%s\"", e->name, e->load, e->peak, k->from,
	    k->d.to, k->d.want, k->d.reason);
	if (rg->svc->bus == NULL || bus_call(rg->svc->bus,
	    cfg_of(rg)->autostart.d.control, &m,
	    cfg_of(rg)->bus.call_timeout_ms, scale_cb, e) < 0) {
		metric_add(&m_failures, 1);
		log_warn("scale refused", "app=%s err=\"cannot send the scale "
		    "command\"", e->name);
		goto done;
	}
	e->asking = true;
done:
	free(k);
	app_release(e);
}

static void
ask(struct autoscale_app *e, const struct scale_decision *d, int from)
{
	struct regulator *rg = e->rg;
	char key[KEY_MAX], px[24];
	struct ask *k;

	if (key_scale_lock(key, sizeof(key), e->name) == NULL ||
	    (k = calloc(1, sizeof(*k))) == NULL)
		return;
	k->e = e;
	k->d = *d;
	k->from = from;
	snprintf(px, sizeof(px), "%d", cfg_of(rg)->regulator.scale_interval_ms);
	if (store_command(rg->svc->store, lock_cb, k, "SET %s %s NX PX %s",
	    key, rg->svc->source, px) < 0) {
		free(k);
		return;
	}
	e->pending++;
}

static void
tick_done(struct autoscale_app *e)
{
	struct regulator *rg = e->rg;
	const struct config *cfg = cfg_of(rg);
	struct scale_params p;
	struct scale_decision d;
	int64_t now = service_mono_ms();
	int current;

	if (rg->closing || e->gone || !e->tick_ok || e->asking) {
		app_release(e);
		return;
	}
	if (e->state != APP_RUNNING) {
		scale_history_reset(&e->h);
		e->scaled_to = 0;
		return;
	}
	/* A running app has at least one instance, even one whose
	 * instances are not listed (a driver that does not record them). */
	current = e->ready > 0 ? e->ready : 1;
	if (e->scaled_to > 0) {
		if (current == e->scaled_to || now - e->scaled_ms >
		    cfg->autostart.start_timeout_ms)
			e->scaled_to = 0;	/* caught up, or never will */
		else
			current = e->scaled_to;
	}
	p.target = e->target;
	p.min = e->min;
	p.max = e->max;
	p.up_window_ms = cfg->regulator.scale_up_window_ms;
	p.down_window_ms = cfg->regulator.scale_down_window_ms;
	p.panic_factor = cfg->regulator.panic_factor;
	p.step = cfg->regulator.scale_step;
	p.max_gap_ms = 5 * (int64_t)cfg->regulator.scale_interval_ms;
	if (scale_decide(&e->h, &p, now, e->load, current, &d) &&
	    now >= e->retry_ms)
		ask(e, &d, current);
	else
		log_debug("autoscale figure", "app=%s load=%.2f peak=%.0f "
		    "instances=%d want=%d", e->name, e->load, e->peak, current,
		    d.want);
}

static void
tick_app(struct autoscale_app *e)
{
	struct store *st = e->rg->svc->store;
	char krec[KEY_MAX], kload[KEY_MAX], kinst[KEY_MAX];
	const char *argv[2 + NREC_FIELDS];

	if (e->gone || e->pending > 0 || e->asking)
		return;			/* the last tick is still out */
	if (key_app(krec, sizeof(krec), e->name) == NULL ||
	    key_load(kload, sizeof(kload), e->name) == NULL ||
	    key_instances(kinst, sizeof(kinst), e->name) == NULL)
		return;
	e->tick_ok = true;
	e->load = e->peak = 0;
	e->ninst = e->ready = 0;
	argv[0] = "HMGET";
	argv[1] = krec;
	for (size_t i = 0; i < NREC_FIELDS; i++)
		argv[2 + i] = rec_fields[i];
	/* pending covers the three before any reply can run */
	e->pending = 3;
	if (store_commandv(st, rec_cb, e, 2 + NREC_FIELDS, argv, NULL) < 0)
		e->pending--, e->tick_ok = false;
	if (store_command(st, load_cb, e, "HGETALL %s", kload) < 0)
		e->pending--, e->tick_ok = false;
	if (store_command(st, members_cb, e, "SMEMBERS %s", kinst) < 0)
		e->pending--, e->tick_ok = false;
	if (e->pending == 0)
		tick_done(e);
}

static void
tick_cb(uv_timer_t *t)
{
	struct regulator *rg = t->data;
	struct autoscale_app *e, *next;

	if (rg->svc->store == NULL || !store_connected(rg->svc->store))
		return;
	for (e = rg->apps; e != NULL; e = next) {
		next = e->next;
		tick_app(e);
	}
}

void
autoscale_init(struct regulator *rg)
{
	const struct config *cfg = cfg_of(rg);

	metrics_register(&m_decisions);
	metrics_register(&m_failures);
	metrics_register(&m_locked);
	metrics_register(&m_apps);
	metrics_register(&m_bad_records);
	uv_timer_init(rg->svc->loop, &rg->tick);
	rg->tick.data = rg;
	uv_timer_start(&rg->tick, tick_cb,
	    (uint64_t)cfg->regulator.scale_interval_ms,
	    (uint64_t)cfg->regulator.scale_interval_ms);
	uv_timer_init(rg->svc->loop, &rg->refresh);
	rg->refresh.data = rg;
	uv_timer_start(&rg->refresh, refresh_timer_cb,
	    (uint64_t)cfg->regulator.apps_refresh_ms,
	    (uint64_t)cfg->regulator.apps_refresh_ms);
}

void
autoscale_shutdown(struct regulator *rg)
{
	rg->closing = true;
	uv_close((uv_handle_t *)&rg->tick, NULL);
	uv_close((uv_handle_t *)&rg->refresh, NULL);
}
