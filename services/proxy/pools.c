/*
 * IDE pools, the proxy's side (DESIGN.md, "Pools and leases"). A route
 * "*.ide.example.test -> pool:ide" sends each domain under it to the
 * pool member leased to that domain. The main thread knows the leases
 * (the leases hash at load, pool.leased and pool.released events after)
 * and gives each running one an exact route of its own in the snapshot,
 * so a leased domain costs a worker what an app's domain costs.
 *
 * A request for a domain with no lease finds the pool's wildcard route,
 * whose set is empty: it is held under the pool's object like a sleeping
 * app's request, and the worker's WMSG_WAKE names the domain. The main
 * thread sends one "acquire" (pool, domain) to idepool per domain,
 * however many requests wait, and when the member is ready the held
 * requests of that domain go to it; a failure answers them with the
 * reason, naming the pool.
 *
 * Each lease is a struct proxy_app of kind PROXY_LEASE, so workers count
 * its requests and open exchanges (tunnels: IDEs live on WebSockets) as
 * they do an app's, and each flush pushes the lease's deadline:
 *
 *   ZADD leasedeadlines XX GT NOW+TTL domain ...
 *
 * XX: a lease released meanwhile is not brought back by a late flush.
 * Lease objects are never freed (workers may point at them); a domain
 * leased again reuses its object.
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

#define POOLS_SCORE_MAX 24

/* One acquire in flight, keyed in px->acquiring by its domain. */
struct pools_acquire {
	struct proxy *px;
	struct proxy_app *pool;
	char domain[];
};

static struct metric m_acquires = METRIC_COUNTER(
    "devcloud_proxy_acquires_total",
    "Acquire commands sent to idepool (a domain's first request).");
static struct metric m_acquire_failures = METRIC_COUNTER(
    "devcloud_proxy_acquire_failures_total",
    "Acquire commands that failed or timed out.");

/* A new object of KIND named NAME, in the registry list. */
static struct proxy_app *
pools_new(struct proxy *px, enum proxy_app_kind kind, const char *name)
{
	struct proxy_app *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->px = px;
	a->kind = kind;
	a->state = APP_STOPPED;
	return a;
}

static void
pools_list_add(struct proxy *px, struct proxy_app *a)
{
	pthread_mutex_lock(&px->apps_mu);
	a->next = px->app_list;
	px->app_list = a;
	pthread_mutex_unlock(&px->apps_mu);
}

struct proxy_app *
pools_get(struct proxy *px, const char *name)
{
	struct proxy_app *a = map_get(&px->pools, name, strlen(name));

	if (a != NULL)
		return a;
	if (!keys_name_valid(name) ||
	    (a = pools_new(px, PROXY_POOL, name)) == NULL)
		return NULL;
	if (map_put(&px->pools, a->name, a) < 0) {
		free(a);
		return NULL;
	}
	pools_list_add(px, a);
	return a;
}

/* DOMAIN's lease object, made on first use (not running). */
static struct proxy_app *
pools_lease(struct proxy *px, struct proxy_app *pool, const char *domain)
{
	struct proxy_app *a = map_get(&px->leases, domain, strlen(domain));

	if (a != NULL) {
		a->pool = pool;
		return a;
	}
	if (app_domain_valid(domain) < 0 ||
	    (a = pools_new(px, PROXY_LEASE, pool->name)) == NULL)
		return NULL;
	if ((a->domain = strdup(domain)) == NULL ||
	    map_put(&px->leases, a->domain, a) < 0) {
		free(a->domain);
		free(a);
		return NULL;
	}
	a->pool = pool;
	pools_list_add(px, a);
	return a;
}

/* DOMAIN is leased: its member MEMBER answers at ADDR. */
static struct proxy_app *
pools_lease_set(struct proxy *px, const char *pool, const char *domain,
    const char *member, const char *addr, int64_t ttl_s)
{
	struct proxy_app *p = pools_get(px, pool), *a;

	if (p == NULL || (a = pools_lease(px, p, domain)) == NULL)
		return NULL;
	if (a->state == APP_RUNNING && strcmp(a->addr, addr) == 0 &&
	    strcmp(a->member, member) == 0)
		return a;
	a->state = APP_RUNNING;
	snprintf(a->member, sizeof(a->member), "%s", member);
	snprintf(a->addr, sizeof(a->addr), "%s", addr);
	a->ttl_s = ttl_s > 0 && ttl_s < INT32_MAX ? (int)ttl_s : 0;
	apps_changed(px);
	return a;
}

static void
pools_lease_clear(struct proxy *px, const char *domain)
{
	struct proxy_app *a = map_get(&px->leases, domain, strlen(domain));

	if (a == NULL || a->state != APP_RUNNING)
		return;
	a->state = APP_STOPPED;
	a->addr[0] = '\0';
	a->member[0] = '\0';
	apps_changed(px);
}

void
pools_add_routes(struct proxy *px, struct route_table *t)
{
	struct map_slot *s;
	size_t i = 0;

	while ((s = map_next(&px->leases, &i)) != NULL) {
		struct proxy_app *a = s->val;

		if (apps_running(a) && route_table_add_lease(t, a) < 0)
			log_warn("lease route skipped", "domain=%s addr=%s",
			    a->domain, a->addr);
	}
}

/* Tells every worker how acquiring DOMAIN ended. STATUS 0: its lease's
 * route is in the snapshot sent first. */
static void
pools_broadcast(struct proxy *px, struct proxy_app *pool, const char *domain,
    int status, const char *reason)
{
	if (status == 0)
		apps_publish_now(px);
	for (int i = 0; i < px->nworkers; i++) {
		struct wmsg *m = calloc(1, sizeof(*m));

		if (m == NULL)
			continue;	/* its held requests will time out */
		m->type = WMSG_WAKE_DONE;
		m->app = pool;
		m->status = status;
		snprintf(m->domain, sizeof(m->domain), "%s", domain);
		snprintf(m->reason, sizeof(m->reason), "%s",
		    reason != NULL ? reason : "");
		worker_post(&px->workers[i], m);
	}
}

static void
pools_acquire_cb(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	struct pools_acquire *q = arg;
	struct proxy *px = q->px;

	map_del(&px->acquiring, q->domain);
	if (px->nworkers == 0)
		goto out;		/* shutting down */
	if (r != NULL && r->type == MSG_ACQUIRE_OK &&
	    strcmp(r->domain, q->domain) == 0 &&
	    pools_lease_set(px, q->pool->name, q->domain, r->instance,
	    r->addr, r->ttl_s) != NULL) {
		log_info("member leased", "pool=%s domain=%s member=%s addr=%s",
		    q->pool->name, q->domain, r->instance, r->addr);
		pools_broadcast(px, q->pool, q->domain, 0, NULL);
		goto out;
	}
	metric_add(&m_acquire_failures, 1);
	if (r != NULL)
		err = "unexpected answer from idepool";
	log_warn("acquire failed", "pool=%s domain=%s err=\"%s\"",
	    q->pool->name, q->domain, err);
	pools_broadcast(px, q->pool, q->domain,
	    st == BUS_ETIMEDOUT ? 504 : 503, err);
out:
	free(q);
}

void
pools_acquire(struct proxy *px, struct proxy_app *pool, const char *domain)
{
	struct proxy_app *a = map_get(&px->leases, domain, strlen(domain));
	struct pools_acquire *q;
	struct msg m;
	size_t dl = strlen(domain);

	if (a != NULL && apps_running(a) && a->pool == pool) {
		pools_broadcast(px, pool, domain, 0, NULL);
		return;
	}
	if (map_get(&px->acquiring, domain, dl) != NULL)
		return;
	if ((q = calloc(1, sizeof(*q) + dl + 1)) == NULL) {
		pools_broadcast(px, pool, domain, 503, "out of memory");
		return;
	}
	q->px = px;
	q->pool = pool;
	memcpy(q->domain, domain, dl + 1);
	msg_init(&m, MSG_ACQUIRE);
	snprintf(m.pool, sizeof(m.pool), "%s", pool->name);
	snprintf(m.domain, sizeof(m.domain), "%s", domain);
	if (map_put(&px->acquiring, q->domain, q) < 0 ||
	    px->svc->bus == NULL ||
	    bus_call(px->svc->bus, px->cfg->idepool.d.control, &m,
	    px->cfg->proxy.hold_timeout_ms, pools_acquire_cb, q) < 0) {
		map_del(&px->acquiring, q->domain);
		free(q);
		metric_add(&m_acquire_failures, 1);
		pools_broadcast(px, pool, domain, 503,
		    "cannot send the acquire command");
		return;
	}
	metric_add(&m_acquires, 1);
	log_info("acquiring member", "pool=%s domain=%s idepool=%s",
	    pool->name, domain, px->cfg->idepool.d.control);
}

bool
pools_on_event(struct proxy *px, const struct msg *m)
{
	switch (m->type) {
	case MSG_POOL_LEASED:
		if (pools_lease_set(px, m->pool, m->domain, m->instance,
		    m->addr, m->ttl_s) != NULL)
			pools_broadcast(px, pools_get(px, m->pool), m->domain,
			    0, NULL);
		return true;
	case MSG_POOL_RELEASED:
	case MSG_POOL_SAVE_FAILED:
		/* kept: the member is stopped and the domain refused until
		 * its files are saved */
		pools_lease_clear(px, m->domain);
		return true;
	default:
		return false;
	}
}

/* HGETALL leases: domain -> "POOL ID ADDR TTL". What the hash does not
 * hold is released. */
static void
pools_reload_cb(struct store *st, redisReply *r, void *arg)
{
	struct proxy *px = arg;
	struct map seen = {0};
	struct map_slot *s;
	size_t i = 0;

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t k = 0; k + 1 < r->elements; k += 2) {
		char pool[MSG_NAME_MAX], member[MSG_NAME_MAX];
		char addr[MSG_ADDR_MAX];
		long long ttl;
		const char *domain = r->element[k]->str;

		if (r->element[k]->type != REDIS_REPLY_STRING ||
		    r->element[k + 1]->type != REDIS_REPLY_STRING ||
		    sscanf(r->element[k + 1]->str, "%63s %63s %255s %lld",
		    pool, member, addr, &ttl) != 4 ||
		    pools_lease_set(px, pool, domain, member, addr, ttl) ==
		    NULL) {
			log_warn("bad lease ignored", "domain=\"%s\"",
			    r->element[k]->type == REDIS_REPLY_STRING ?
			    domain : "");
			continue;
		}
		/* the reply's strings outlive SEEN */
		(void)map_put(&seen, domain, px);
	}
	while ((s = map_next(&px->leases, &i)) != NULL) {
		struct proxy_app *a = s->val;

		if (apps_running(a) &&
		    map_get(&seen, a->domain, strlen(a->domain)) == NULL)
			pools_lease_clear(px, a->domain);
	}
	map_free(&seen);
}

void
pools_reload(struct proxy *px)
{
	char key[KEY_MAX];

	if (px->svc->store == NULL || !store_connected(px->svc->store))
		return;
	(void)store_command(px->svc->store, pools_reload_cb, px,
	    "HGETALL %s", key_leases(key, sizeof(key)));
}

void
pools_flush(struct proxy *px, struct proxy_app *head, int64_t now)
{
	struct store *st = px->svc->store;
	const char **av = NULL;
	char *scores = NULL, key[KEY_MAX];
	size_t n = 0, cap = 0;
	struct proxy_app **used = NULL;
	uint64_t *totals = NULL;

	for (struct proxy_app *a = head; a != NULL; a = a->active_next) {
		uint64_t total;

		if (a->kind != PROXY_LEASE || !apps_running(a))
			continue;
		total = atomic_load(&a->requests_total);
		if (total == a->flushed && atomic_load(&a->inflight) <= 0)
			continue;
		if (n == cap) {
			struct proxy_app **u;
			uint64_t *t;

			cap = cap == 0 ? 16 : cap * 2;
			if ((u = realloc(used, cap * sizeof(*u))) == NULL)
				goto done;
			used = u;
			if ((t = realloc(totals, cap * sizeof(*t))) == NULL)
				goto done;
			totals = t;
		}
		used[n] = a;
		totals[n++] = total;
	}
	if (n == 0)
		goto done;
	if ((av = calloc(4 + 2 * n, sizeof(*av))) == NULL ||
	    (scores = calloc(n, POOLS_SCORE_MAX)) == NULL)
		goto done;
	av[0] = "ZADD";
	av[1] = key_lease_deadlines(key, sizeof(key));
	av[2] = "XX";
	av[3] = "GT";
	for (size_t i = 0; i < n; i++) {
		int ttl = used[i]->ttl_s > 0 ? used[i]->ttl_s :
		    px->cfg->autostart.default_ttl_s;
		char *sc = scores + i * POOLS_SCORE_MAX;

		snprintf(sc, POOLS_SCORE_MAX, "%lld",
		    (long long)(now + (int64_t)ttl * 1000));
		av[4 + 2 * i] = sc;
		av[5 + 2 * i] = used[i]->domain;
	}
	if (store_commandv(st, NULL, NULL, (int)(4 + 2 * n), av, NULL) < 0) {
		log_warn("lease activity not flushed", "leases=%zu", n);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		used[i]->flushed = totals[i];
done:
	free(used);
	free(totals);
	free(av);
	free(scores);
}

void
pools_init(struct proxy *px)
{
	metrics_register(&m_acquires);
	metrics_register(&m_acquire_failures);
}
