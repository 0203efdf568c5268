/*
 * The wake command: start an app once, however many requests and
 * replicas ask for it at the same moment, and answer every one of them
 * with the app's address when it is ready (or with why it is not).
 *
 * Within this replica, requests for the same app join one struct wake.
 * Across replicas, script_wake hands the app's lock to exactly one of
 * them; the others poll until the app is running (or the starter fails),
 * waking early on app.ready / app.failed / app.stopped events.
 *
 * The wake starts the app's first instance (start.c); once it answers,
 * the scaler brings the app up to the count it should have. An instance
 * that dies is removed (wake_on_exit): the app stops with its last one,
 * otherwise the scaler replaces it.
 *
 * Admission: while this host is overloaded (the regulator's
 * host.overloaded, or hoststate in Redis at reconcile), at most
 * autostart.max_concurrent_starts wakes go past the gate at once; the
 * others wait in WAKE_QUEUED, their requests still held by the proxy,
 * and go on in the order they came as earlier ones finish or the host
 * recovers. The wake storm that overloaded a host cannot feed itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "autostart.h"

#define WAKE_POLL_MS 100	/* while another replica starts or stops it */
#define WAKE_LOCK_SLACK_MS 5000

static void wake_try(struct wake *w);
static void wake_fail(struct wake *w, const char *reason);
static void wake_admit(struct autostart *as);

static struct wake *
wake_find(struct autostart *as, const char *app)
{
	for (struct wake *w = as->wakes; w != NULL; w = w->next)
		if (strcmp(w->app, app) == 0)
			return w;
	return NULL;
}

static void
wake_free_cb(uv_handle_t *h)
{
	free(h->data);
}

/*
 * Unlinks W and frees it once its timer has closed and no Redis or
 * driver callback still names it: an app can exit, and fail its wake,
 * while its start call or its "ready" script is still out.
 */
static void
wake_free(struct wake *w)
{
	struct autostart *as = w->as;

	for (struct wake **pp = &as->wakes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	starter_cancel(w->starter);
	w->starter = NULL;
	w->phase = WAKE_DONE;
	w->finished = true;
	if (w->admitted) {
		w->admitted = false;
		as->admitted--;
	}
	if (w->pending == 0)
		uv_close((uv_handle_t *)&w->timer, wake_free_cb);
	wake_admit(as);
}

/*
 * A callback naming W came back. True if W is finished: then the caller
 * must not touch it (the last such callback frees it).
 */
static bool
wake_back(struct wake *w)
{
	w->pending--;
	if (!w->finished)
		return false;
	if (w->pending == 0)
		uv_close((uv_handle_t *)&w->timer, wake_free_cb);
	return true;
}

/* Answers and frees every waiter: with ADDR, or with the error REASON. */
static void
wake_reply_all(struct wake *w, const char *addr, const char *reason)
{
	struct bus *bus = w->as->svc->bus;
	struct waiter *wt, *next;
	struct msg m;

	for (wt = w->waiters; wt != NULL; wt = next) {
		next = wt->next;
		if (wt->req != NULL) {
			if (addr != NULL) {
				msg_init(&m, MSG_WAKE_OK);
				snprintf(m.app, sizeof(m.app), "%s", w->app);
				snprintf(m.addr, sizeof(m.addr), "%s", addr);
				snprintf(m.state, sizeof(m.state), "%s",
				    app_state_name(APP_RUNNING));
				bus_reply(bus, wt->req, &m);
			} else {
				bus_reply_error(bus, wt->req, reason);
			}
		}
		free(wt);
	}
	w->waiters = NULL;
}

/* The wake is over: every waiter is answered, W goes. */
static void
wake_answer(struct wake *w, const char *addr, const char *reason)
{
	wake_reply_all(w, addr, reason);
	wake_free(w);
}

static int
wake_lock_ms(const struct wake *w)
{
	return w->rec.start_timeout_ms + WAKE_LOCK_SLACK_MS;
}

static void
wake_ready_done(struct store *st, redisReply *r, void *arg)
{
	struct wake *w = arg;
	struct autostart *as = w->as;
	int64_t now = service_mono_ms();
	char app[64];
	struct msg m;
	bool more;

	if (wake_back(w))
		return;
	if (as->closing)
		return;
	snprintf(app, sizeof(app), "%s", w->app);	/* W goes first */

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
		wake_fail(w, r == NULL ? "redis connection lost" :
		    "the wake lock expired before the app was ready");
		return;
	}
	msg_init(&m, MSG_APP_READY);
	snprintf(m.app, sizeof(m.app), "%s", w->app);
	snprintf(m.addr, sizeof(m.addr), "%s", w->rec.addr);
	m.queued_ms = w->t_start_call - w->t_request;
	m.start_ms = w->t_started - w->t_start_call;
	m.ready_ms = now - w->t_started;
	bus_publish(w->as->svc->bus, &m);
	record_publish_instance(w->as, MSG_INSTANCE_READY, w->app, w->inst,
	    w->rec.addr, w->host, NULL);
	log_info("app ready", "app=%s addr=%s queued_ms=%lld start_ms=%lld "
	    "ready_ms=%lld instance=%s host=%s", w->app, w->rec.addr,
	    (long long)m.queued_ms, (long long)m.start_ms,
	    (long long)m.ready_ms, w->inst, w->host);
	more = w->rec.max_instances > 1;
	wake_answer(w, w->rec.addr, NULL);
	/* more instances if the app may have more than one (not on the
	 * first request's way: it was answered above) */
	if (more)
		scale_apply(as, app);
}

static void
wake_ready(struct wake *w)
{
	struct app_keys k;
	char deadline[32], now[32];

	/*
	 * A group member woken by its app has no deadline of its own: it
	 * lives as long as that app and is stopped with it (stop.c).
	 */
	if (w->grouped)
		snprintf(deadline, sizeof(deadline), "+inf");
	else
		snprintf(deadline, sizeof(deadline), "%lld",
		    (long long)(service_now_ms() +
		    (int64_t)w->rec.ttl_s * 1000));
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	w->pending++;
	if (record_keys(w->app, &k) != 0 ||
	    store_command(w->as->svc->store, wake_ready_done, w,
	    "EVAL %s 6 %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s",
	    script_ready, k.app, k.lock, k.transit, k.deadlines, k.instances,
	    k.hosts, w->app, w->as->svc->source, w->rec.addr, deadline,
	    w->inst, w->host, now, k.inst_tpl, k.host_tpl) != 0) {
		w->pending--;
		wake_fail(w, "redis unavailable");
	}
}

static void
wake_started(struct starter *st, const char *why, void *arg)
{
	struct wake *w = arg;

	w->starter = NULL;
	if (why != NULL) {
		wake_fail(w, why);
		return;
	}
	w->t_started = st->t_started;
	snprintf(w->rec.addr, sizeof(w->rec.addr), "%s", st->addr);
	snprintf(w->host, sizeof(w->host), "%s", st->host);
	w->phase = WAKE_PROBING;	/* answered: recorded next */
	wake_ready(w);
}

static void
wake_start(struct wake *w)
{
	struct autostart *as = w->as;
	char err[DRIVER_ERR_MAX];

	w->phase = WAKE_STARTING;
	w->deadline = service_mono_ms() + w->rec.start_timeout_ms;
	record_publish(as, MSG_APP_WAKING, w->app, NULL);
	/* An app's group (its database, say) wakes with it. */
	for (int i = 0; i < w->rec.ngroup; i++)
		wake_request(as, w->rec.group[i], NULL);
	w->t_start_call = service_mono_ms();
	if ((w->starter = starter_run(as, &w->rec, w->inst, wake_started, w,
	    err, sizeof(err))) == NULL)
		wake_fail(w, err);
}

static void
wake_poll_timer(uv_timer_t *t)
{
	wake_try(t->data);
}

static void
wake_decided(struct store *st, redisReply *r, void *arg)
{
	struct wake *w = arg;
	const char *what;
	char reason[700];

	if (wake_back(w))
		return;
	if (w->as->closing)
		return;

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		wake_answer(w, NULL, r == NULL ? "redis connection lost" :
		    r->type == REDIS_REPLY_ERROR ? r->str :
		    "unexpected reply from redis");
		return;
	}
	what = r->element[0]->str;
	if (strcmp(what, "start") == 0 && r->elements > 1 &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		snprintf(w->inst, sizeof(w->inst), "%s", r->element[1]->str);
		wake_start(w);
	} else if (strcmp(what, "running") == 0 && r->elements > 1) {
		wake_answer(w, r->element[1]->str, NULL);
	} else if (strcmp(what, "missing") == 0) {
		snprintf(reason, sizeof(reason), "no such app: %s", w->app);
		wake_answer(w, NULL, reason);
	} else if (strcmp(what, "backoff") == 0 && r->elements > 2) {
		snprintf(reason, sizeof(reason), "app %s failed to start: %s "
		    "(next try in %s ms)", w->app, r->element[1]->str,
		    r->element[2]->str);
		wake_answer(w, NULL, reason);
	} else if (service_mono_ms() >= w->deadline) {
		snprintf(reason, sizeof(reason), "app %s still %s after %d ms",
		    w->app, what, w->rec.start_timeout_ms);
		wake_answer(w, NULL, reason);
	} else {
		/* starting or stopping elsewhere: look again soon */
		w->phase = WAKE_WAITING;
		uv_timer_start(&w->timer, wake_poll_timer, WAKE_POLL_MS, 0);
	}
}

static void
wake_try(struct wake *w)
{
	struct app_keys k;
	char lock_ms[16], now[32];

	w->phase = WAKE_LOADING;
	snprintf(lock_ms, sizeof(lock_ms), "%d", wake_lock_ms(w));
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	w->pending++;
	if (record_keys(w->app, &k) != 0 ||
	    store_command(w->as->svc->store, wake_decided, w,
	    "EVAL %s 4 %s %s %s %s %s %s %s %s %s", script_wake, k.app, k.lock,
	    k.transit, k.instances, w->app, w->as->svc->source, lock_ms, now,
	    k.inst_tpl) != 0) {
		w->pending--;
		wake_answer(w, NULL, "redis unavailable");
	}
}

static void
wake_loaded(struct autostart *as, const struct app *a, const char *err,
    void *arg)
{
	struct wake *w = arg;

	if (w->as->closing)
		return;

	(void)as;
	if (err != NULL) {
		wake_answer(w, NULL, err);
		return;
	}
	w->rec = *a;
	w->phase = WAKE_QUEUED;
	wake_admit(as);
}

static int
wake_queued(const struct autostart *as)
{
	int n = 0;

	for (const struct wake *w = as->wakes; w != NULL; w = w->next)
		n += w->phase == WAKE_QUEUED;
	return n;
}

static bool
wake_gate_open(const struct autostart *as)
{
	return !as->overloaded ||
	    as->admitted < as->svc->cfg.autostart.max_concurrent_starts;
}

/* Lets queued wakes through the gate, oldest first, while it is open. */
static void
wake_admit(struct autostart *as)
{
	struct wake *oldest;

	while (!as->closing && wake_gate_open(as)) {
		oldest = NULL;
		for (struct wake *w = as->wakes; w != NULL; w = w->next)
			if (w->phase == WAKE_QUEUED && (oldest == NULL ||
			    w->t_request < oldest->t_request))
				oldest = w;
		if (oldest == NULL)
			return;
		oldest->admitted = true;
		as->admitted++;
		oldest->deadline = service_mono_ms() +
		    oldest->rec.start_timeout_ms +
		    as->svc->cfg.autostart.stop_grace_ms + WAKE_LOCK_SLACK_MS;
		if (service_mono_ms() - oldest->t_request > 10)
			log_info("wake admitted", "app=%s queued_ms=%lld",
			    oldest->app, (long long)(service_mono_ms() -
			    oldest->t_request));
		wake_try(oldest);
	}
}

void
wake_host_state(struct autostart *as, const char *host, bool overloaded)
{
	if (strcmp(host, as->host) != 0 || as->overloaded == overloaded)
		return;
	as->overloaded = overloaded;
	log_info(overloaded ? "host overloaded: starts limited" :
	    "host recovered: starts unlimited", "host=%s max=%d queued=%d",
	    host, as->svc->cfg.autostart.max_concurrent_starts,
	    wake_queued(as));
	wake_admit(as);
}

void
wake_request(struct autostart *as, const char *app, struct bus_request *req)
{
	struct waiter *wt;
	struct wake *w;

	if (!keys_name_valid(app)) {
		if (req != NULL)
			bus_reply_error(as->svc->bus, req, "invalid app name");
		return;
	}
	if ((wt = calloc(1, sizeof(*wt))) == NULL) {
		if (req != NULL)
			bus_reply_error(as->svc->bus, req, "out of memory");
		return;
	}
	wt->req = req;
	if ((w = wake_find(as, app)) != NULL) {
		wt->next = w->waiters;
		w->waiters = wt;
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		free(wt);
		if (req != NULL)
			bus_reply_error(as->svc->bus, req, "out of memory");
		return;
	}
	w->as = as;
	snprintf(w->app, sizeof(w->app), "%s", app);
	w->waiters = wt;
	w->grouped = req == NULL;
	w->t_request = service_mono_ms();
	uv_timer_init(as->svc->loop, &w->timer);
	w->timer.data = w;
	w->next = as->wakes;
	as->wakes = w;
	if (record_load(as, app, wake_loaded, w) != 0)
		wake_answer(w, NULL, "redis unavailable");
}

/*
 * The start failed. If we hold the lock: stop whatever was started,
 * record the failure (with its backoff) and tell the bus.
 */
static void
wake_fail(struct wake *w, const char *reason)
{
	struct autostart *as = w->as;
	char now[32];
	struct app_keys k;

	if (w->phase == WAKE_STARTING || w->phase == WAKE_PROBING) {
		log_warn("app failed to start", "app=%s reason=\"%s\" "
		    "instance=%s", w->app, reason, w->inst);
		starter_cancel(w->starter);
		w->starter = NULL;
		starter_stop_failed(as, &w->rec, w->inst);
		snprintf(now, sizeof(now), "%lld",
		    (long long)service_now_ms());
		if (record_keys(w->app, &k) == 0)
			store_command(as->svc->store, NULL, NULL,
			    "EVAL %s 4 %s %s %s %s %s %s %s %s %s %s %s",
			    script_failed, k.app, k.lock, k.transit,
			    k.instances, w->app, as->svc->source, reason, now,
			    w->inst, k.inst_tpl, k.host_tpl);
		record_publish(as, MSG_APP_FAILED, w->app, reason);
	}
	wake_answer(w, NULL, reason);
}

void
wake_on_event(struct autostart *as, const struct msg *m)
{
	struct wake *w = wake_find(as, m->app);

	/* Another replica finished: no need to wait for the next poll. */
	if (w != NULL && w->phase == WAKE_WAITING) {
		uv_timer_stop(&w->timer);
		wake_try(w);
	}
}

struct exited {
	struct autostart *as;
	char app[64];
	char inst[64];
	char reason[160];
};

static void
wake_exited_done(struct store *st, redisReply *r, void *arg)
{
	struct exited *e = arg;

	(void)st;
	if (e->as->closing) {
		free(e);
		return;
	}
	if (r != NULL && r->type == REDIS_REPLY_STRING &&
	    strcmp(r->str, "none") != 0) {
		log_info("instance ended on its own", "app=%s instance=%s "
		    "why=\"%s\"", e->app, e->inst, e->reason);
		record_publish_instance(e->as, MSG_INSTANCE_STOPPED, e->app,
		    e->inst, NULL, NULL, e->reason);
		if (strcmp(r->str, "app") == 0) {
			log_info("app ended on its own", "app=%s why=\"%s\"",
			    e->app, e->reason);
			record_publish(e->as, MSG_APP_STOPPED, e->app,
			    e->reason);
		} else {
			scale_apply(e->as, e->app);	/* a replacement */
		}
	}
	free(e);
}

void
wake_on_exit(struct autostart *as, const char *app, const char *inst,
    const char *why)
{
	struct wake *w = wake_find(as, app);
	struct app_keys k;
	struct exited *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	e->as = as;
	snprintf(e->app, sizeof(e->app), "%s", app);
	snprintf(e->inst, sizeof(e->inst), "%s", inst);
	snprintf(e->reason, sizeof(e->reason), "exited: %s", why);
	if (w != NULL && (w->phase == WAKE_PROBING ||
	    w->phase == WAKE_STARTING) && strcmp(w->inst, inst) == 0) {
		wake_fail(w, e->reason);
		free(e);
		return;
	}
	if (stage_on_exit(as, app, inst, e->reason) ||
	    scale_on_exit(as, app, inst, e->reason)) {
		free(e);
		return;
	}
	if (record_keys(app, &k) != 0 ||
	    store_command(as->svc->store, wake_exited_done, e,
	    "EVAL %s 3 %s %s %s %s %s %s %s %s", script_exited, k.app,
	    k.deadlines, k.instances, app, e->reason, inst, k.inst_tpl,
	    k.host_tpl) != 0)
		free(e);
}

/*
 * Shutdown: answer every waiter now, while the bus is still open. The
 * wakes themselves stay listed (reachable) because Redis and driver
 * callbacks may still name them; with as->closing set they do nothing.
 */
void
wake_abort_all(struct autostart *as)
{
	for (struct wake *w = as->wakes; w != NULL; w = w->next) {
		uv_timer_stop(&w->timer);
		starter_cancel(w->starter);
		w->starter = NULL;
		wake_reply_all(w, NULL, "autostart is shutting down");
		w->phase = WAKE_DONE;
	}
}
