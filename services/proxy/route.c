/*
 * The route table: domain -> target. The main thread builds a table from
 * its copy of Redis' routes hash and app records, seals it, and hands a
 * reference to every worker; a sealed table never changes, so workers
 * read it without locks and the last one to drop it frees it.
 *
 * Lookup is an exact match first, then wildcards from the longest
 * suffix to the shortest: for a.b.example.com, "*.b.example.com" wins
 * over "*.example.com".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "proxy.h"
#include "target.h"

struct route_table *
route_table_new(void)
{
	static _Atomic uint64_t gen;
	struct route_table *t = calloc(1, sizeof(*t));

	if (t != NULL) {
		atomic_init(&t->refs, 1);
		t->gen = atomic_fetch_add(&gen, 1) + 1;
	}
	return t;
}

static void
route_set_free(struct backend_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->b[i].id);
		free(set->b[i].addr);
	}
	free(set->b);
	free(set->key);
	free(set);
}

/* Adds a member to SET; -1 on ENOMEM. */
static int
route_set_add(struct backend_set *set, const char *id, const char *addr)
{
	struct backend *b = realloc(set->b, (set->n + 1) * sizeof(*b));

	if (b == NULL)
		return -1;
	set->b = b;
	b = &set->b[set->n];
	b->id = strdup(id);
	b->addr = strdup(addr);
	if (b->id == NULL || b->addr == NULL) {
		free(b->id);
		free(b->addr);
		return -1;
	}
	set->n++;
	return 0;
}

/* The set of TARGET, made on first use: a static address, or the ready
 * instances of APP. */
static struct backend_set *
route_set_get(struct route_table *t, const char *target,
    const struct target *tg, const struct proxy_app *app)
{
	struct backend_set *set = map_get(&t->sets, target, strlen(target));

	if (set != NULL)
		return set;
	if ((set = calloc(1, sizeof(*set))) == NULL ||
	    (set->key = strdup(target)) == NULL)
		goto fail;
	/* No default: a new kind of target must say where it sends. */
	switch (tg->kind) {
	case TARGET_STATIC:
		if (route_set_add(set, "", tg->rest) < 0)
			goto fail;
		break;
	case TARGET_POOL:
		/* a pool's leases have routes of their own
		 * (route_table_add_lease); the wildcard sends nowhere */
		break;
	case TARGET_APP:
		if (!apps_running(app))
			break;
		/* its ready instances; the summary address until they are
		 * known (right after a wake) */
		for (size_t i = 0; i < app->ninst; i++)
			if (route_set_add(set, app->inst[i].id,
			    app->inst[i].addr) < 0)
				goto fail;
		if (app->ninst == 0 && route_set_add(set, "", app->addr) < 0)
			goto fail;
		break;
	}
	if (map_put(&t->sets, set->key, set) < 0)
		goto fail;
	return set;
fail:
	route_set_free(set);
	return NULL;
}

const struct backend_set *
route_table_set(const struct route_table *t, const char *target)
{
	return map_get(&t->sets, target, strlen(target));
}

int
route_table_add(struct route_table *t, const char *domain, const char *target,
    struct proxy_app *(*app_of)(const struct target *, void *), void *arg)
{
	struct route *r, *routes;
	struct target tg;

	if (app_domain_valid(domain) < 0 || target_parse(target, &tg,
	    NULL) < 0)
		return -1;
	routes = realloc(t->routes, (t->nroutes + 1) * sizeof(*routes));
	if (routes == NULL)
		return -1;
	t->routes = routes;
	r = &routes[t->nroutes];
	memset(r, 0, sizeof(*r));
	r->kind = tg.kind;
	if ((tg.kind == TARGET_APP || tg.kind == TARGET_POOL) &&
	    (r->app = app_of(&tg, arg)) == NULL)
		return -1;
	if ((r->set = route_set_get(t, target, &tg, r->app)) == NULL ||
	    (r->domain = strdup(domain)) == NULL)
		return -1;
	t->nroutes++;
	return 0;
}

int
route_table_add_lease(struct route_table *t, struct proxy_app *lease)
{
	struct backend_set *set;
	struct route *r, *routes;
	char key[TARGET_MAX + MSG_DOMAIN_MAX];

	if (lease->kind != PROXY_LEASE || !apps_running(lease) ||
	    app_domain_valid(lease->domain) < 0)
		return -1;
	/* a key no route's target can be: leases never share a set */
	snprintf(key, sizeof(key), " lease %s", lease->domain);
	if (map_get(&t->sets, key, strlen(key)) != NULL)
		return -1;
	if ((routes = realloc(t->routes, (t->nroutes + 1) *
	    sizeof(*routes))) == NULL)
		return -1;
	t->routes = routes;
	r = &routes[t->nroutes];
	memset(r, 0, sizeof(*r));
	r->kind = TARGET_POOL;
	r->app = lease;
	if ((set = calloc(1, sizeof(*set))) == NULL ||
	    (set->key = strdup(key)) == NULL ||
	    route_set_add(set, lease->member, lease->addr) < 0 ||
	    map_put(&t->sets, set->key, set) < 0) {
		route_set_free(set);
		return -1;
	}
	r->set = set;
	if ((r->domain = strdup(lease->domain)) == NULL)
		return -1;
	t->nroutes++;
	return 0;
}

int
route_table_seal(struct route_table *t)
{
	struct map_slot *ms;
	size_t j = 0;

	/* workers find their side of a set by its index, without a hash */
	while ((ms = map_next(&t->sets, &j)) != NULL)
		((struct backend_set *)ms->val)->idx = t->nsets++;
	for (size_t i = 0; i < t->nroutes; i++) {
		struct route *r = &t->routes[i];
		int rc;

		if (strncmp(r->domain, "*.", 2) == 0)
			rc = map_put(&t->wild, r->domain + 2, r);
		else
			rc = map_put(&t->exact, r->domain, r);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void
route_table_ref(struct route_table *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void
route_table_unref(struct route_table *t)
{
	if (t == NULL ||
	    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	size_t i = 0;
	struct map_slot *s;

	for (size_t j = 0; j < t->nroutes; j++)
		free((char *)t->routes[j].domain);
	while ((s = map_next(&t->sets, &i)) != NULL)
		route_set_free(s->val);
	free(t->routes);
	map_free(&t->exact);
	map_free(&t->wild);
	map_free(&t->sets);
	free(t);
}

const struct route *
route_lookup(const struct route_table *t, const char *host, size_t len)
{
	const struct route *r;

	if ((r = map_get(&t->exact, host, len)) != NULL)
		return r;
	if (t->wild.len == 0)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (host[i] == '.' && i + 1 < len &&
		    (r = map_get(&t->wild, host + i + 1, len - i - 1)) != NULL)
			return r;
	return NULL;
}
