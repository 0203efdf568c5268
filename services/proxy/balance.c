/*
 * Balancing: a route resolves to a set of upstreams (route.c: a static
 * address, or an app's ready instances), and one picker chooses the
 * member for each request. Each worker keeps, per set, a group: a pool
 * of connections per member and one queue for the whole set, so a
 * request waiting behind one busy member goes to whichever member frees
 * a slot first.
 *
 * The picker takes the member with the fewest requests outstanding on
 * this worker (least outstanding requests), round robin among equals. A
 * member that refused a connection or timed out is in backoff for
 * BALANCE_BACKOFF_MS and is skipped while another member is up; a
 * request never goes back to the member that just failed it. Counts are
 * the worker's own: no lock and no shared counter on the warm path.
 *
 * A group follows the snapshot: when the worker gets a new route table,
 * each group rebuilds its member list from its set (by key). On the warm
 * path a request finds its group by its set's index in the table, an
 * array slot the worker fills as requests come: no hash per request. A member
 * that left (draining, stopped) is no longer picked; its busy
 * connections finish, its idle ones are closed, and its pool goes when
 * the last one has.
 *
 * A freed slot is handed to the queue by the group's dispatch task, at
 * the end of the loop round: releasing a connection never runs another
 * client's exchange on the releaser's stack.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy.h"

#define BALANCE_BACKOFF_MS 1000

static void balance_dispatch_task(struct loop_task *t);

/* Rebuilds G's members from SET (NULL: the target is gone). */
static int
balance_rebuild(struct upstream_group *g, const struct backend_set *set,
    uint64_t gen)
{
	size_t n = set != NULL ? set->n : 0;
	struct upstream_pool **cur = NULL, *p;

	if (n > 0 && (cur = calloc(n, sizeof(*cur))) == NULL)
		return -1;
	LIST_FOREACH(p, &g->pools, link)
		p->member = false;
	for (size_t i = 0; i < n; i++) {
		LIST_FOREACH(p, &g->pools, link)
			if (strcmp(p->addr, set->b[i].addr) == 0)
				break;
		if (p == NULL &&
		    (p = upstream_pool_new(g, set->b[i].addr, set->b[i].id)) ==
		    NULL) {
			free(cur);
			return -1;
		}
		p->member = true;
		cur[i] = p;
	}
	free(g->cur);
	g->cur = cur;
	g->ncur = n;
	g->gen = gen;
	/* leavers: no new request; idle connections closed; busy ones
	 * finish (upstream_pool_gc frees the pool after the last) */
	for (struct upstream_pool *next, *q = LIST_FIRST(&g->pools);
	    q != NULL; q = next) {
		next = LIST_NEXT(q, link);
		if (!q->member) {
			upstream_close_idle(q);
			upstream_pool_gc(q);
		}
	}
	return 0;
}

/* Remembers G as the group of SET in this table's slots. */
static void
balance_slot_set(struct proxy_worker *w, const struct backend_set *set,
    struct upstream_group *g)
{
	size_t n = w->routes->nsets;

	if (w->nset_groups < n) {
		struct upstream_group **sg = realloc(w->set_groups,
		    n * sizeof(*sg));

		if (sg == NULL)
			return;		/* found by key next time */
		memset(sg + w->nset_groups, 0,
		    (n - w->nset_groups) * sizeof(*sg));
		w->set_groups = sg;
		w->nset_groups = n;
	}
	w->set_groups[set->idx] = g;
	g->slot = set->idx;
}

static struct upstream_group *
balance_group_slow(struct proxy_worker *w, const struct backend_set *set);

/* The warm path: SET's group by its index, no hash, no rebuild. */
struct upstream_group *
balance_group(struct proxy_worker *w, const struct backend_set *set)
{
	struct upstream_group *g;

	if (set->idx < w->nset_groups &&
	    (g = w->set_groups[set->idx]) != NULL)
		return g;
	return balance_group_slow(w, set);
}

/* The first request for SET in this table: its group by key (made if
 * need be), brought up to date, and given its slot. */
static struct upstream_group *
balance_group_slow(struct proxy_worker *w, const struct backend_set *set)
{
	struct upstream_group *g = map_get(&w->groups, set->key,
	    strlen(set->key));

	if (g == NULL) {
		if ((g = calloc(1, sizeof(*g))) == NULL)
			return NULL;
		g->w = w;
		g->slot = SIZE_MAX;
		LIST_INIT(&g->pools);
		TAILQ_INIT(&g->queue);
		if ((g->key = strdup(set->key)) == NULL ||
		    map_put(&w->groups, g->key, g) < 0) {
			free(g->key);
			free(g);
			return NULL;
		}
	}
	if (g->gen != w->routes->gen &&
	    balance_rebuild(g, set, w->routes->gen) < 0) {
		balance_gc(g);
		return NULL;
	}
	balance_slot_set(w, set, g);
	return g;
}

void
balance_gc(struct upstream_group *g)
{
	struct upstream_pool *p;

	if (!TAILQ_EMPTY(&g->queue) || g->dispatch.queued || g->dispatching)
		return;
	LIST_FOREACH(p, &g->pools, link)
		if (p->nopen > 0)
			return;
	while ((p = LIST_FIRST(&g->pools)) != NULL) {
		p->member = false;
		upstream_pool_gc(p);	/* unlinks it */
	}
	if (g->slot < g->w->nset_groups && g->w->set_groups[g->slot] == g)
		g->w->set_groups[g->slot] = NULL;
	map_del(&g->w->groups, g->key);
	free(g->cur);
	free(g->key);
	free(g);
}

/* Which member takes the next request; NULL if none can now. *NCAND:
 * how many members could, slots aside. */
static struct upstream_pool *
balance_pick(struct upstream_group *g, const struct proxy_conn *c,
    size_t *ncand)
{
	const struct upstream_pool *avoid = c->ex.avoid;
	uint64_t now = g->w->loop.now;
	struct upstream_pool *best = NULL;
	bool best_down = true;

	/* one member (a static route, a one-instance app): no choice */
	if (g->ncur == 1 && g->cur[0] != avoid) {
		*ncand = 1;
		return upstream_has_slot(g->cur[0], c->ex.retried) ?
		    g->cur[0] : NULL;
	}
	*ncand = 0;
	for (size_t i = 0; i < g->ncur; i++) {
		struct upstream_pool *p = g->cur[(g->rr + i) % g->ncur];
		bool down = p->down_until > now;

		if (p == avoid)
			continue;
		(*ncand)++;
		if (!upstream_has_slot(p, c->ex.retried))
			continue;
		if (best == NULL || (best_down && !down) ||
		    (down == best_down && p->nbusy < best->nbusy)) {
			best = p;
			best_down = down;
		}
	}
	return best;
}

static void
balance_enqueue(struct upstream_group *g, struct proxy_conn *c)
{
	c->ex.queued = g;
	TAILQ_INSERT_TAIL(&g->queue, c, ex.q_link);
	stat_gauge(&g->w->stats.upstream_queued, 1);
}

int
balance_acquire(struct upstream_group *g, struct proxy_conn *c,
    struct upstream_conn **upp, const char **why)
{
	struct upstream_pool *p;
	size_t ncand;

	/* Behind those already waiting, even if a slot just went free: the
	 * dispatch at the end of this round gives it to the first of them
	 * (and forwards it from the front of the queue: no waiting then). */
	if (!TAILQ_EMPTY(&g->queue) && !g->dispatching) {
		balance_enqueue(g, c);
		return 2;
	}
	if ((p = balance_pick(g, c, &ncand)) == NULL) {
		if (ncand == 0) {
			*why = g->ncur == 0 ? "no instance is ready" :
			    "no other instance to try";
			return -1;
		}
		balance_enqueue(g, c);
		return 2;
	}
	g->rr++;
	/* A retry goes out on a new connection: the pooled one it failed on
	 * may not be the only one the upstream has closed meanwhile. */
	return upstream_get(p, c, c->ex.retried, upp, why);
}

void
balance_unqueue(struct proxy_conn *c)
{
	struct upstream_group *g = c->ex.queued;

	if (g == NULL)
		return;
	TAILQ_REMOVE(&g->queue, c, ex.q_link);
	c->ex.queued = NULL;
	stat_gauge(&g->w->stats.upstream_queued, -1);
	balance_gc(g);
}

void
balance_slot_freed(struct upstream_group *g)
{
	if (!TAILQ_EMPTY(&g->queue))
		loop_post(&g->w->loop, &g->dispatch, balance_dispatch_task);
}

/* Forwards the queued requests the freed slots can take now. */
static void
balance_dispatch_task(struct loop_task *t)
{
	struct upstream_group *g = container_of(t, struct upstream_group,
	    dispatch);
	struct proxy_worker *w = g->w;
	struct proxy_conn *c;
	size_t ncand;

	g->dispatching = true;
	/* the stop closes every client next; no connection for them */
	while (!w->stopping && (c = TAILQ_FIRST(&g->queue)) != NULL) {
		if (balance_pick(g, c, &ncand) == NULL && ncand > 0)
			break;		/* every member busy: keep waiting */
		balance_unqueue(c);
		exchange_forward(c, g);
	}
	g->dispatching = false;
	balance_gc(g);
}

void
balance_backoff(struct upstream_pool *p)
{
	p->down_until = p->g->w->loop.now + BALANCE_BACKOFF_MS;
}

bool
balance_has_other(const struct upstream_group *g,
    const struct upstream_pool *p)
{
	for (size_t i = 0; i < g->ncur; i++)
		if (g->cur[i] != p)
			return true;
	return false;
}

const char *
balance_name(const struct upstream_group *g)
{
	return g->ncur == 1 ? g->cur[0]->addr : g->key;
}

void
balance_routes_changed(struct proxy_worker *w)
{
	size_t i = 0;
	struct map_slot *s;

	/* the slots are the old table's: refilled as requests come */
	if (w->nset_groups > 0)
		memset(w->set_groups, 0, w->nset_groups * sizeof(*w->set_groups));
	/* Rebuilding may free pools but never a group (an empty one is
	 * collected when its last connection closes), so the walk over
	 * the map is safe. */
	while ((s = map_next(&w->groups, &i)) != NULL) {
		struct upstream_group *g = s->val;
		const struct backend_set *set = route_table_set(w->routes,
		    g->key);

		g->slot = SIZE_MAX;
		if (balance_rebuild(g, set, w->routes->gen) < 0)
			log_warn("balancing group not rebuilt",
			    "target=%s err=\"out of memory\"", g->key);
		else if (set != NULL)
			balance_slot_set(w, set, g);
		if (!TAILQ_EMPTY(&g->queue))
			balance_slot_freed(g);
	}
}

void
balance_close_all(struct proxy_worker *w)
{
	size_t i = 0;
	struct map_slot *s;

	while ((s = map_next(&w->groups, &i)) != NULL) {
		struct upstream_group *g = s->val;
		struct upstream_pool *p;

		LIST_FOREACH(p, &g->pools, link)
			upstream_close_idle(p);
	}
}
