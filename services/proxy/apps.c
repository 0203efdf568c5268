/*
 * The main thread's side of routing: the routes and app states as Redis
 * holds them, kept current by bus events and reloaded in full at start,
 * on every store reconnect and every APPS_FULL_EVERY route_refresh_ms
 * (so a lost event is repaired), and published to the workers as a
 * sealed route table. The route_refresh_ms between read again only the
 * records of the running apps (a lost app.stopped or instance event is
 * the one that sends requests to the wrong place): with 100,000 apps a
 * full reload reads 100,000 records, which is not a thing to do every
 * 30 s.
 *
 * It also owns waking: workers holding requests for a sleeping app post
 * WMSG_WAKE; one wake command per app goes to autostart, and its answer
 * (or an app.ready / app.failed event) is broadcast to every worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "service.h"
#include "store.h"
#include "target.h"

/* A route as loaded: the key of px->routes is its domain. */
struct route_src {
	char *target;
	char domain[];
};

/* One reply expected by a reload, tagged with its generation. */
struct apps_load {
	struct proxy *px;
	uint64_t gen;
	struct proxy_app *app;		/* record loads */
};

static struct metric m_reloads = METRIC_COUNTER(
    "devcloud_proxy_route_reloads_total",
    "Full reloads of routes and apps from Redis.");
static struct metric m_routes = METRIC_GAUGE("devcloud_proxy_routes",
    "Routes in the current table.");
static struct metric m_bad_routes = METRIC_COUNTER(
    "devcloud_proxy_bad_routes_total",
    "Routes ignored because their domain or target is malformed.");
static struct metric m_wakes = METRIC_COUNTER("devcloud_proxy_wakes_total",
    "Wake commands sent to autostart.");
static struct metric m_wake_failures = METRIC_COUNTER(
    "devcloud_proxy_wake_failures_total",
    "Wake commands that failed or timed out.");
static struct metric m_bad_records = METRIC_COUNTER(
    "devcloud_proxy_bad_app_records_total",
    "App records not applied because a field is malformed.");

struct proxy_app *
apps_get(struct proxy *px, const char *name)
{
	struct proxy_app *a = map_get(&px->apps, name, strlen(name));

	if (a != NULL)
		return a;
	if (!keys_name_valid(name) || (a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->px = px;
	a->state = APP_STOPPED;		/* until its record is read */
	if (map_put(&px->apps, a->name, a) < 0) {
		free(a);
		return NULL;
	}
	pthread_mutex_lock(&px->apps_mu);
	a->next = px->app_list;
	px->app_list = a;
	pthread_mutex_unlock(&px->apps_mu);
	return a;
}

static struct proxy_app *
apps_of(const struct target *tg, void *arg)
{
	return tg->kind == TARGET_POOL ? pools_get(arg, tg->rest) :
	    apps_get(arg, tg->rest);
}

/* Tells every worker how waking A ended. STATUS 0: forward to ADDR. */
static void apps_publish_cb(uv_idle_t *h);

static void
apps_broadcast(struct proxy *px, struct proxy_app *a, int status,
    const char *reason)
{
	/* The workers forward held requests to the app's instances as the
	 * snapshot has them: the one with them goes out first (the same
	 * queue, in order). */
	if (status == 0)
		apps_publish_now(px);
	for (int i = 0; i < px->nworkers; i++) {
		struct wmsg *m = calloc(1, sizeof(*m));

		if (m == NULL)
			continue;	/* its held requests will time out */
		m->type = WMSG_WAKE_DONE;
		m->app = a;
		m->status = status;
		snprintf(m->addr, sizeof(m->addr), "%s", a->addr);
		snprintf(m->reason, sizeof(m->reason), "%s",
		    reason != NULL ? reason : "");
		worker_post(&px->workers[i], m);
	}
}

static void
apps_publish_cb(uv_idle_t *h)
{
	struct proxy *px = h->data;
	struct route_table *t, *old;
	struct map_slot *s;
	size_t i = 0;

	uv_idle_stop(h);
	px->published_ms = uv_now(px->svc->loop);
	if ((t = route_table_new()) == NULL)
		goto fail;
	while ((s = map_next(&px->routes, &i)) != NULL) {
		struct route_src *r = s->val;

		if (route_table_add(t, r->domain, r->target, apps_of, px) < 0)
			log_warn("route skipped", "domain=%s target=\"%s\"",
			    r->domain, r->target);
	}
	pools_add_routes(px, t);
	if (route_table_seal(t) < 0)
		goto fail;
	old = px->table;
	px->table = t;
	metric_set(&m_routes, (int64_t)t->nroutes);
	for (int w = 0; w < px->nworkers; w++) {
		struct wmsg *m = calloc(1, sizeof(*m));

		if (m == NULL)
			continue;	/* the next publish will reach it */
		route_table_ref(t);
		m->type = WMSG_ROUTES;
		m->routes = t;
		worker_post(&px->workers[w], m);
	}
	route_table_unref(old);
	return;
fail:
	route_table_unref(t);
	log_error("route table not rebuilt", "err=\"out of memory\"");
}

void
apps_publish_now(struct proxy *px)
{
	apps_publish_cb(&px->publish);
}

/*
 * A rebuild copies every route, and each worker frees the table it
 * replaces: a reload of N apps must not rebuild once per reply (N
 * rebuilds of N routes, and the workers busy freeing tables instead of
 * serving). So while record or instance reads are out, the rebuild
 * waits for the last of them, but never more than APPS_PUBLISH_MAX_MS
 * after the previous one, so that a steady trickle of events cannot
 * hold it back.
 */
#define APPS_PUBLISH_MAX_MS 100

void
apps_changed(struct proxy *px)
{
	if (px->fetching > 0 && uv_now(px->svc->loop) - px->published_ms <
	    APPS_PUBLISH_MAX_MS) {
		px->publish_due = true;
		return;
	}
	px->publish_due = false;
	/* a no-op while a publish is pending: one rebuild takes them all */
	uv_idle_start(&px->publish, apps_publish_cb);
}

/* A record or instance read came back (or never went out). */
static void
apps_fetched(struct proxy *px)
{
	if (--px->fetching == 0 && px->publish_due)
		apps_changed(px);
}

/* Sets DOMAIN -> TARGET in px->routes (TARGET NULL or "": removed). */
static void
apps_route_set(struct proxy *px, const char *domain, const char *target)
{
	char d[MSG_DOMAIN_MAX];
	struct route_src *r;
	struct target tg;
	size_t i;

	for (i = 0; domain[i] != '\0' && i + 1 < sizeof(d); i++)
		d[i] = domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 :
		    domain[i];
	d[i] = '\0';
	if (app_domain_valid(d) < 0 || (target != NULL && target[0] != '\0' &&
	    target_parse(target, &tg, NULL) < 0)) {
		metric_add(&m_bad_routes, 1);
		log_warn("bad route ignored", "domain=\"%s\" target=\"%s\"",
		    domain, target != NULL ? target : "");
		return;
	}
	if ((r = map_del(&px->routes, d)) != NULL) {
		free(r->target);
		free(r);
	}
	if (target == NULL || target[0] == '\0')
		return;
	if ((r = malloc(sizeof(*r) + strlen(d) + 1)) == NULL ||
	    (r->target = strdup(target)) == NULL) {
		free(r);
		return;
	}
	memcpy(r->domain, d, strlen(d) + 1);
	if (map_put(&px->routes, r->domain, r) < 0) {
		free(r->target);
		free(r);
	}
}

static void
apps_routes_clear(struct proxy *px)
{
	struct map_slot *s;
	size_t i = 0;

	while ((s = map_next(&px->routes, &i)) != NULL) {
		struct route_src *r = s->val;

		free(r->target);
		free(r);
	}
	map_free(&px->routes);
}

/* The ready instances of an app, sorted by id: {id, addr, ...}.
 * KEYS instances; ARGV inst_tpl (key_instance(APP, "X")). */
static const char apps_instances_script[] =
    "local ids = redis.call('SMEMBERS', KEYS[1])\n"
    "table.sort(ids)\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local v = redis.call('HMGET', string.sub(ARGV[1], 1, -2) .. id,"
    " 'state', 'addr')\n"
    "  if v[1] == 'ready' and v[2] then\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = v[2]\n"
    "  end\n"
    "end\n"
    "return out\n";

static void
apps_instances_clear(struct proxy_app *a)
{
	free(a->inst);
	a->inst = NULL;
	a->ninst = 0;
}

/* Adds or replaces instance ID of A; -1 on ENOMEM. */
static int
apps_instance_set(struct proxy_app *a, const char *id, const char *addr)
{
	struct proxy_instance *in;
	size_t i;

	for (i = 0; i < a->ninst && strcmp(a->inst[i].id, id) != 0; i++)
		;
	if (i == a->ninst) {
		if ((in = realloc(a->inst, (a->ninst + 1) * sizeof(*in))) ==
		    NULL)
			return -1;
		a->inst = in;
		a->ninst++;
	}
	snprintf(a->inst[i].id, sizeof(a->inst[i].id), "%s", id);
	snprintf(a->inst[i].addr, sizeof(a->inst[i].addr), "%s", addr);
	return 0;
}

static void
apps_instance_remove(struct proxy_app *a, const char *id)
{
	for (size_t i = 0; i < a->ninst; i++)
		if (strcmp(a->inst[i].id, id) == 0) {
			a->inst[i] = a->inst[--a->ninst];
			return;
		}
}

static void
apps_instances_cb(struct store *st, redisReply *r, void *arg)
{
	struct apps_load *l = arg;
	struct proxy_app *a = l->app;
	struct proxy *px = l->px;

	(void)st;
	free(l);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && apps_running(a)) {
		apps_instances_clear(a);
		for (size_t i = 0; i + 1 < r->elements; i += 2)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    r->element[i + 1]->type == REDIS_REPLY_STRING &&
			    apps_instance_set(a, r->element[i]->str,
			    r->element[i + 1]->str) < 0)
				break;
		apps_changed(px);
	}
	apps_fetched(px);
}

/* Reads A's ready instances again (they are what requests go to). */
static void
apps_instances_fetch(struct proxy *px, struct proxy_app *a)
{
	struct apps_load *l = calloc(1, sizeof(*l));
	char key[KEY_MAX], tpl[KEY_MAX];

	if (l == NULL || key_instances(key, sizeof(key), a->name) == NULL ||
	    key_instance(tpl, sizeof(tpl), a->name, "X") == NULL) {
		free(l);
		return;
	}
	l->px = px;
	l->app = a;
	px->fetching++;
	if (store_command(px->svc->store, apps_instances_cb, l,
	    "EVAL %s 1 %s %s", apps_instances_script, key, tpl) < 0) {
		free(l);
		apps_fetched(px);
	}
}

/*
 * Applies an app record (HGETALL reply) to A. A malformed record is
 * logged, counted and dropped: A keeps what it knew.
 */
static void
apps_record(struct proxy *px, struct proxy_app *a, const redisReply *r)
{
	bool was = apps_running(a);
	struct app_summary sum;
	char err[600];

	if (app_summary_from_hash(&sum, r, err, sizeof(err)) != 0) {
		metric_add(&m_bad_records, 1);
		log_warn("bad app record ignored", "app=%s err=\"%s\"",
		    a->name, err);
		return;
	}
	a->state = sum.state;
	snprintf(a->addr, sizeof(a->addr), "%s", sum.addr);
	a->ttl_s = sum.ttl_s;
	atomic_store(&a->wake_page, sum.wake_page);
	if (!apps_running(a)) {
		a->addr[0] = '\0';
		apps_instances_clear(a);
	} else {
		apps_instances_fetch(px, a);
		if (!was)
			apps_broadcast(px, a, 0, NULL);
	}
	apps_changed(px);
}

static void
apps_record_cb(struct store *st, redisReply *r, void *arg)
{
	struct apps_load *l = arg;
	struct proxy *px = l->px;

	(void)st;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY)
		apps_record(px, l->app, r);
	free(l);
	apps_fetched(px);
}

static void
apps_fetch(struct proxy *px, struct proxy_app *a)
{
	struct apps_load *l = calloc(1, sizeof(*l));
	char key[KEY_MAX];

	if (l == NULL || key_app(key, sizeof(key), a->name) == NULL) {
		free(l);
		return;
	}
	l->px = px;
	l->app = a;
	px->fetching++;
	if (store_command(px->svc->store, apps_record_cb, l, "HGETALL %s",
	    key) < 0) {
		free(l);
		apps_fetched(px);
	}
}

/* Fetches the record of the app TARGET routes to, if it routes to one. */
static void
apps_fetch_target(struct proxy *px, const char *target)
{
	struct proxy_app *a;
	struct target tg;

	if (target_parse(target, &tg, NULL) == 0 && tg.kind == TARGET_APP &&
	    (a = apps_get(px, tg.rest)) != NULL)
		apps_fetch(px, a);
}

static void
apps_routes_cb(struct store *st, redisReply *r, void *arg)
{
	struct apps_load *l = arg;
	struct proxy *px = l->px;
	struct map_slot *s;
	size_t i = 0;

	(void)st;
	if (r == NULL || l->gen != px->load_gen) {
		free(l);
		return;
	}
	free(l);
	if (r->type != REDIS_REPLY_ARRAY) {
		log_warn("routes not loaded", "err=\"%s\"",
		    r->type == REDIS_REPLY_ERROR ? r->str : "not a hash");
		return;
	}
	apps_routes_clear(px);
	for (size_t k = 0; k + 1 < r->elements; k += 2)
		if (r->element[k]->str != NULL && r->element[k + 1]->str !=
		    NULL)
			apps_route_set(px, r->element[k]->str,
			    r->element[k + 1]->str);
	/* Then every app a route points at. */
	while ((s = map_next(&px->routes, &i)) != NULL) {
		struct route_src *rs = s->val;

		apps_fetch_target(px, rs->target);
	}
	metric_add(&m_reloads, 1);
	if (!px->loaded)
		log_info("routes loaded", "routes=%zu", px->routes.len);
	px->loaded = true;
	apps_changed(px);
}

void
apps_reload(struct proxy *px)
{
	struct apps_load *l;
	char key[KEY_MAX];

	if (px->svc->store == NULL || !store_connected(px->svc->store) ||
	    (l = calloc(1, sizeof(*l))) == NULL)
		return;
	l->px = px;
	l->gen = ++px->load_gen;
	pools_reload(px);
	if (store_command(px->svc->store, apps_routes_cb, l, "HGETALL %s",
	    key_routes(key, sizeof(key))) < 0)
		free(l);
}

/* A refresh reads every record this often (in route_refresh_ms). */
#define APPS_FULL_EVERY 10

/* Reads again the records of the running apps only. */
static void
apps_reload_running(struct proxy *px)
{
	struct proxy_app *a;

	if (px->svc->store == NULL || !store_connected(px->svc->store))
		return;
	pthread_mutex_lock(&px->apps_mu);
	a = px->app_list;
	pthread_mutex_unlock(&px->apps_mu);
	/* the list only grows at its head: safe to walk from a snapshot */
	for (; a != NULL; a = a->next)
		if (apps_running(a))
			apps_fetch(px, a);
}

static void
apps_refresh_cb(uv_timer_t *t)
{
	struct proxy *px = t->data;

	if (++px->refreshes % APPS_FULL_EVERY == 0)
		apps_reload(px);
	else
		apps_reload_running(px);
}

static void
apps_wake_cb(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	struct proxy_app *a = arg;
	struct proxy *px = a->px;

	a->waking = false;
	if (px->nworkers == 0)
		return;			/* shutting down */
	if (r != NULL && r->type == MSG_WAKE_OK && r->addr[0] != '\0') {
		log_info("app woken", "app=%s addr=%s", a->name, r->addr);
		a->state = APP_RUNNING;
		snprintf(a->addr, sizeof(a->addr), "%s", r->addr);
		apps_changed(px);
		apps_broadcast(px, a, 0, NULL);
		return;
	}
	if (apps_running(a)) {
		/* app.ready came first: held requests went on already */
		return;
	}
	metric_add(&m_wake_failures, 1);
	if (r != NULL)
		err = "unexpected answer from autostart";
	log_warn("wake failed", "app=%s err=\"%s\"", a->name, err);
	/* The app may still be starting: a timeout is the gateway's, 504. */
	apps_broadcast(px, a, st == BUS_ETIMEDOUT ? 504 : 503, err);
}

static void
apps_wake(struct proxy *px, struct proxy_app *a)
{
	struct msg m;

	if (apps_running(a)) {
		apps_broadcast(px, a, 0, NULL);
		return;
	}
	if (a->waking)
		return;
	msg_init(&m, MSG_WAKE);
	snprintf(m.app, sizeof(m.app), "%s", a->name);
	if (px->svc->bus == NULL ||
	    bus_call(px->svc->bus, px->cfg->autostart.d.control, &m,
	    px->cfg->proxy.hold_timeout_ms, apps_wake_cb, a) < 0) {
		metric_add(&m_wake_failures, 1);
		apps_broadcast(px, a, 503, "cannot send the wake command");
		return;
	}
	a->waking = true;
	metric_add(&m_wakes, 1);
	log_info("waking app", "app=%s autostart=%s", a->name,
	    px->cfg->autostart.d.control);
}

static void
apps_inbox_cb(uv_async_t *h)
{
	struct proxy *px = h->data;
	struct wmsg *m = wqueue_take(&px->inbox), *next;

	for (; m != NULL; m = next) {
		next = m->next;
		if (m->type == WMSG_WAKE && px->nworkers > 0 &&
		    m->app->kind == PROXY_POOL)
			pools_acquire(px, m->app, m->domain);
		else if (m->type == WMSG_WAKE && px->nworkers > 0)
			apps_wake(px, m->app);
		else if (m->type == WMSG_ROUTES_OLD)
			route_table_unref(m->routes);
		free(m);
	}
}

void
apps_on_event(struct proxy *px, const struct msg *m)
{
	struct proxy_app *a;

	switch (m->type) {
	case MSG_ROUTE_CHANGED:
		apps_route_set(px, m->domain, m->target);
		apps_fetch_target(px, m->target);
		apps_changed(px);
		break;
	case MSG_APP_READY:
		if ((a = apps_get(px, m->app)) == NULL)
			break;
		a->state = APP_RUNNING;
		snprintf(a->addr, sizeof(a->addr), "%s", m->addr);
		apps_changed(px);
		apps_broadcast(px, a, 0, NULL);
		break;
	case MSG_INSTANCE_READY:
		/* at once: the next request may go to it */
		if ((a = map_get(&px->apps, m->app, strlen(m->app))) == NULL ||
		    !apps_running(a))
			break;
		/* the app's first instance, known so far by the summary
		 * address alone, gets its id; any other joins it, and the
		 * list is read again in case one was missed */
		if (a->ninst == 0 && strcmp(a->addr, m->addr) == 0) {
			/* the same address: the snapshot need not change */
			apps_instance_set(a, m->instance, m->addr);
			break;
		}
		if ((a->ninst > 0 || apps_instance_set(a, "", a->addr) == 0) &&
		    apps_instance_set(a, m->instance, m->addr) == 0)
			apps_changed(px);
		apps_instances_fetch(px, a);
		break;
	case MSG_INSTANCE_DRAINING:
	case MSG_INSTANCE_STOPPED:
		/* at once: no new request goes to it; then the record, whose
		 * summary address may have named it */
		if ((a = map_get(&px->apps, m->app, strlen(m->app))) == NULL)
			break;
		apps_instance_remove(a, m->instance);
		log_info("instance out of service", "app=%s instance=%s "
		    "why=%s", a->name, m->instance, msg_type_name(m->type));
		apps_changed(px);
		apps_fetch(px, a);
		break;
	case MSG_APP_STOPPING:
	case MSG_APP_STOPPED:
	case MSG_APP_FAILED:
		if ((a = map_get(&px->apps, m->app, strlen(m->app))) == NULL)
			break;
		a->state = m->type == MSG_APP_STOPPING ? APP_STOPPING :
		    m->type == MSG_APP_STOPPED ? APP_STOPPED : APP_FAILED;
		a->addr[0] = '\0';
		apps_instances_clear(a);
		apps_changed(px);
		if (m->type == MSG_APP_FAILED)
			apps_broadcast(px, a, 503, m->reason);
		break;
	case MSG_APP_CHANGED:
		if ((a = map_get(&px->apps, m->app, strlen(m->app))) != NULL)
			apps_fetch(px, a);
		break;
	default:
		if (!pools_on_event(px, m))
			service_event_ignored(px->svc, m);
		break;
	}
}

int
apps_init(struct proxy *px)
{
	uv_loop_t *loop = px->svc->loop;

	metrics_register(&m_reloads);
	metrics_register(&m_routes);
	metrics_register(&m_bad_routes);
	metrics_register(&m_wakes);
	metrics_register(&m_wake_failures);
	metrics_register(&m_bad_records);
	pools_init(px);
	pthread_mutex_init(&px->apps_mu, NULL);
	pthread_mutex_init(&px->inbox.mu, NULL);
	if ((px->table = route_table_new()) == NULL ||
	    route_table_seal(px->table) < 0)
		return -1;
	uv_async_init(loop, &px->inbox_async, apps_inbox_cb);
	px->inbox_async.data = px;
	px->inbox.async = &px->inbox_async;
	uv_idle_init(loop, &px->publish);
	px->publish.data = px;
	uv_timer_init(loop, &px->refresh);
	px->refresh.data = px;
	uv_timer_start(&px->refresh, apps_refresh_cb,
	    (uint64_t)px->cfg->proxy.route_refresh_ms,
	    (uint64_t)px->cfg->proxy.route_refresh_ms);
	return 0;
}

void
apps_shutdown(struct proxy *px)
{
	uv_close((uv_handle_t *)&px->inbox_async, NULL);
	uv_close((uv_handle_t *)&px->publish, NULL);
	uv_close((uv_handle_t *)&px->refresh, NULL);
	/* Drop what workers posted last; they are stopped now. */
	for (struct wmsg *m = wqueue_take(&px->inbox), *next; m != NULL;
	    m = next) {
		next = m->next;
		if (m->type == WMSG_ROUTES_OLD)
			route_table_unref(m->routes);
		free(m);
	}
}
