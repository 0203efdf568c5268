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
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "proxy.h"
#include "target.h"

struct route_table *
route_table_new(void)
{
	struct route_table *t = calloc(1, sizeof(*t));

	if (t != NULL)
		atomic_init(&t->refs, 1);
	return t;
}

int
route_table_add(struct route_table *t, const char *domain, const char *target,
    struct proxy_app *(*app_of)(const char *, void *), void *arg)
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
	if ((r->domain = strdup(domain)) == NULL)
		return -1;
	/* No default: a new kind of target must say what its route holds. */
	switch (tg.kind) {
	case TARGET_STATIC:
		r->addr = strdup(tg.rest);
		break;
	case TARGET_APP:
		if ((r->app = app_of(tg.rest, arg)) == NULL) {
			free((char *)r->domain);
			return -1;
		}
		r->running = apps_running(r->app);
		r->addr = strdup(r->running ? r->app->addr : "");
		break;
	}
	if (r->addr == NULL) {
		free((char *)r->domain);
		return -1;
	}
	t->nroutes++;
	return 0;
}

int
route_table_seal(struct route_table *t)
{
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
	for (size_t i = 0; i < t->nroutes; i++) {
		free((char *)t->routes[i].domain);
		free((char *)t->routes[i].addr);
	}
	free(t->routes);
	map_free(&t->exact);
	map_free(&t->wild);
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
