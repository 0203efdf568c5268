/*
 * Connections to upstreams. Each worker keeps, per upstream address, a
 * list of idle keep-alive connections; a request takes the most recently
 * used one (its socket is the likeliest to still be open) or opens a new
 * one. Idle connections keep reading, so an upstream that closes one is
 * noticed at once and it leaves the pool; the sweep timer closes those
 * idle longer than the keep-alive timeout.
 *
 * Per upstream, at most upstream_cap() connections are busy at once;
 * taking an idle one never waits. A request that needs a new connection
 * beyond that waits in the upstream's queue and is forwarded again,
 * in order, as connections are released. The hand-off runs as a task at
 * the end of the loop round: releasing a connection never runs another
 * client's exchange on the releaser's stack (which may be using the
 * worker's scratch buffer, or be about to free what it names). The cap
 * is per worker, so no lock is taken: the setting is shared out evenly
 * among the workers.
 *
 * Addresses are "host:port". Numeric hosts connect directly; names are
 * looked up on a short-lived thread (getaddrinfo blocks), never on the
 * loop.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "proxy.h"

#define UPSTREAM_IDLE_MAX 512	/* idle connections kept per upstream */

static void upstream_dispatch_task(struct loop_task *t);

static void
upstream_idle_unlink(struct upstream_conn *up)
{
	struct upstream_pool *u = up->pool;

	LIST_REMOVE(up, idle_link);
	up->idle = false;
	u->nidle--;
	stat_gauge(&u->w->stats.upstreams_idle, -1);
}

/* The busy connections allowed per upstream on this worker; 0: any. */
static size_t
upstream_cap(const struct proxy_worker *w)
{
	size_t max = (size_t)w->px->cfg->proxy.upstream_max_conns;
	size_t n = w->px->nworkers > 0 ? (size_t)w->px->nworkers : 1;

	return (max + n - 1) / n;
}

static bool
upstream_has_slot(const struct upstream_pool *u)
{
	size_t cap = upstream_cap(u->w);

	return !LIST_EMPTY(&u->idle) || cap == 0 || u->nbusy < cap;
}

static void
upstream_count(struct upstream_conn *up)
{
	up->busy = true;
	up->pool->nbusy++;
}

/* UP stops counting against the cap: requests waiting for a slot get
 * it at the end of the round, not on the stack of whoever freed it. */
void
upstream_uncount(struct upstream_conn *up)
{
	struct upstream_pool *u = up->pool;

	if (!up->busy)
		return;
	up->busy = false;
	u->nbusy--;
	if (!TAILQ_EMPTY(&u->queue))
		loop_post(&u->w->loop, &u->dispatch, upstream_dispatch_task);
}

/* U goes once nothing names it: no connection, no waiting request, no
 * dispatch queued or running. */
static void
upstream_pool_gc(struct upstream_pool *u)
{
	if (u->nopen > 0 || !TAILQ_EMPTY(&u->queue) || u->dispatch.queued ||
	    u->dispatching)
		return;
	map_del(&u->w->upstreams, u->addr);
	free(u->addr);
	free(u);
}

static void
upstream_enqueue(struct upstream_pool *u, struct proxy_conn *c)
{
	c->ex.queued = u;
	TAILQ_INSERT_TAIL(&u->queue, c, ex.q_link);
	stat_gauge(&u->w->stats.upstream_queued, 1);
}

void
upstream_unqueue(struct proxy_conn *c)
{
	struct upstream_pool *u = c->ex.queued;

	if (u == NULL)
		return;
	TAILQ_REMOVE(&u->queue, c, ex.q_link);
	c->ex.queued = NULL;
	stat_gauge(&u->w->stats.upstream_queued, -1);
	upstream_pool_gc(u);
}

/* Forwards the queued requests the freed slots can take now. */
static void
upstream_dispatch_task(struct loop_task *t)
{
	struct upstream_pool *u = container_of(t, struct upstream_pool,
	    dispatch);
	struct proxy_conn *c;

	/* the stop closes every client next; no connection for them */
	u->dispatching = true;
	while (!u->w->stopping && (c = TAILQ_FIRST(&u->queue)) != NULL &&
	    upstream_has_slot(u)) {
		upstream_unqueue(c);
		exchange_forward(c, u->addr);
	}
	u->dispatching = false;
	upstream_pool_gc(u);
}

static void
upstream_on_read(struct proxy_stream *s, int status)
{
	struct upstream_conn *up = s->owner;

	if (up->c != NULL) {
		exchange_upstream_read(up->c, status);
		return;
	}
	/* Idle: the upstream closed it, or sent bytes nobody asked for. */
	upstream_release(up, false);
}

static void
upstream_on_drain(struct proxy_stream *s, int status)
{
	struct upstream_conn *up = s->owner;

	if (up->c != NULL)
		exchange_upstream_drain(up->c, status);
}

static void
upstream_free(struct upstream_conn *up)
{
	struct upstream_pool *u = up->pool;

	stat_gauge(&u->w->stats.upstreams, -1);
	u->nopen--;
	free(up);
	upstream_pool_gc(u);
}

static void
upstream_on_close(struct proxy_stream *s)
{
	struct upstream_conn *up = s->owner;

	/* A lookup still out frees us when it comes back. */
	up->closed = true;
	if (!up->resolving)
		upstream_free(up);
}

static void
upstream_connect_cb(struct proxy_stream *s, int status)
{
	struct upstream_conn *up = s->owner;
	struct proxy_conn *c = up->c;

	if (status < 0) {
		/* the client first, while UP still names the upstream */
		up->c = NULL;
		if (c != NULL)
			exchange_upstream_ready(c, status);
		upstream_release(up, false);
		return;
	}
	stream_read(&up->s, true);
	if (c != NULL)
		exchange_upstream_ready(c, 0);
	else
		upstream_release(up, false);
}

static int
upstream_connect(struct upstream_conn *up, const struct sockaddr *sa)
{
	return stream_connect(&up->s, sa, upstream_connect_cb);
}

/* A name lookup, on a thread of its own: getaddrinfo blocks. */
struct upstream_lookup {
	struct proxy_worker *w;
	struct wmsg *m;			/* the answer, allocated up front */
	char host[256];
	char port[8];
};

static void *
upstream_lookup_thread(void *arg)
{
	struct upstream_lookup *lk = arg;
	struct addrinfo hints = {0}, *ai = NULL;
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(lk->host, lk->port, &hints, &ai);
	if (rc == 0 && ai->ai_addrlen <= sizeof(lk->m->sa)) {
		memcpy(&lk->m->sa, ai->ai_addr, ai->ai_addrlen);
		lk->m->status = 0;
	} else {
		lk->m->status = rc == 0 ? UV_EAI_FAMILY :
		    uv_translate_sys_error(rc == EAI_SYSTEM ? errno : EHOSTUNREACH);
		if (rc == EAI_NONAME || rc == EAI_AGAIN || rc == EAI_FAIL)
			lk->m->status = UV_EAI_NONAME;
	}
	if (ai != NULL)
		freeaddrinfo(ai);
	worker_post(lk->w, lk->m);
	free(lk);
	return NULL;
}

static int
upstream_lookup_start(struct proxy_worker *w, struct upstream_conn *up,
    const char *host, int port)
{
	struct upstream_lookup *lk = calloc(1, sizeof(*lk));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (lk == NULL || (lk->m = calloc(1, sizeof(*lk->m))) == NULL) {
		free(lk);
		return UV_ENOMEM;
	}
	lk->w = w;
	lk->m->type = WMSG_RESOLVED;
	lk->m->up = up;
	snprintf(lk->host, sizeof(lk->host), "%s", host);
	snprintf(lk->port, sizeof(lk->port), "%d", port);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, upstream_lookup_thread, lk);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(lk->m);
		free(lk);
		return UV_EAGAIN;
	}
	up->resolving = true;
	w->loop.nalive++;		/* the loop waits for the answer */
	return 0;
}

void
upstream_resolved(struct proxy_worker *w, struct wmsg *m)
{
	struct upstream_conn *up = m->up;
	struct proxy_conn *c = up->c;
	int rc = m->status;

	up->resolving = false;
	w->loop.nalive--;
	if (up->s.flags & STREAM_CLOSING) {
		if (up->closed)
			upstream_free(up);	/* else its close frees it */
		return;
	}
	if (rc == 0)
		rc = upstream_connect(up, (struct sockaddr *)&m->sa);
	if (rc < 0) {
		up->c = NULL;
		if (c != NULL)
			exchange_upstream_ready(c, rc);
		upstream_release(up, false);
	}
}

static struct upstream_conn *
upstream_open(struct upstream_pool *u, const char **why)
{
	struct proxy_worker *w = u->w;
	char host[256];
	struct sockaddr_storage ss;
	int portnum;
	struct upstream_conn *up;
	int rc;

	if (addr_parse(u->addr, 0, host, sizeof(host), &portnum, NULL) < 0) {
		*why = "bad upstream address";
		return NULL;
	}
	if ((up = calloc(1, sizeof(*up))) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	stream_init(&up->s, w, up, upstream_on_read, upstream_on_drain,
	    upstream_on_close);
	up->pool = u;
	u->nopen++;
	stat_gauge(&w->stats.upstreams, 1);

	if (uv_ip4_addr(host, portnum, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(host, portnum, (struct sockaddr_in6 *)&ss) == 0) {
		rc = upstream_connect(up, (struct sockaddr *)&ss);
	} else {
		rc = upstream_lookup_start(w, up, host, portnum);
	}
	if (rc < 0) {
		/* nothing was opened: undo by hand */
		*why = uv_strerror(rc);
		u->nopen--;
		stat_gauge(&w->stats.upstreams, -1);
		free(up);
		return NULL;
	}
	return up;
}

static struct upstream_pool *
upstream_pool_get(struct proxy_worker *w, const char *addr)
{
	struct upstream_pool *u = map_get(&w->upstreams, addr, strlen(addr));

	if (u != NULL)
		return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->w = w;
	LIST_INIT(&u->idle);
	TAILQ_INIT(&u->queue);
	if ((u->addr = strdup(addr)) == NULL ||
	    map_put(&w->upstreams, u->addr, u) < 0) {
		free(u->addr);
		free(u);
		return NULL;
	}
	return u;
}

int
upstream_acquire(struct proxy_worker *w, struct proxy_conn *c,
    const char *addr, struct upstream_conn **upp, const char **why)
{
	struct upstream_pool *u = upstream_pool_get(w, addr);
	struct upstream_conn *up;

	if (u == NULL) {
		*why = "out of memory";
		return -1;
	}
	/* Behind those already waiting, even if a slot just went free: the
	 * dispatch at the end of this round gives it to the first of them
	 * (and forwards it from the front of the queue: no waiting then). */
	if (!TAILQ_EMPTY(&u->queue) && !u->dispatching) {
		upstream_enqueue(u, c);
		return 2;
	}
	/* A retry goes out on a new connection: the pooled one it failed on
	 * may not be the only one the upstream has closed meanwhile. */
	if (!c->ex.retried && (up = LIST_FIRST(&u->idle)) != NULL) {
		upstream_idle_unlink(up);
		stat_add(&w->stats.upstream_reused, 1);
		upstream_count(up);
		up->c = c;
		up->uses++;
		*upp = up;
		return 1;
	}
	if (!upstream_has_slot(u)) {
		upstream_enqueue(u, c);
		return 2;
	}
	if ((up = upstream_open(u, why)) == NULL) {
		upstream_pool_gc(u);
		return -1;
	}
	upstream_count(up);
	up->c = c;
	up->uses = 1;
	*upp = up;
	return 0;
}

/* To the idle pool, or closed. */
static void
upstream_put(struct upstream_conn *up, bool reuse)
{
	struct proxy_worker *w = up->s.w;
	struct upstream_pool *u = up->pool;

	if (up->s.flags & STREAM_CLOSING)
		return;
	if (reuse && !w->stopping &&
	    u->nidle < UPSTREAM_IDLE_MAX && stream_avail(&up->s) == 0 &&
	    up->s.queued == 0 && !(up->s.flags & STREAM_EOF)) {
		stream_trim(&up->s);
		stream_read(&up->s, true);
		up->idle_since = w->loop.now;
		LIST_INSERT_HEAD(&u->idle, up, idle_link);
		up->idle = true;
		u->nidle++;
		stat_gauge(&w->stats.upstreams_idle, 1);
		return;
	}
	if (up->idle)
		upstream_idle_unlink(up);
	stream_close(&up->s);
}

void
upstream_release(struct upstream_conn *up, bool reuse)
{
	up->c = NULL;
	upstream_put(up, reuse);
	upstream_uncount(up);
}

void
upstream_sweep(struct proxy_worker *w, uint64_t now)
{
	uint64_t max = (uint64_t)w->px->cfg->proxy.keepalive_timeout_ms;
	size_t i = 0;
	struct map_slot *s;

	while ((s = map_next(&w->upstreams, &i)) != NULL) {
		struct upstream_pool *u = s->val;
		struct upstream_conn *up, *next;

		/* closing is deferred to the close callbacks, so the map
		 * and the lists stay as they are while we walk them */
		for (up = LIST_FIRST(&u->idle); up != NULL; up = next) {
			next = LIST_NEXT(up, idle_link);
			if (now - up->idle_since >= max)
				upstream_release(up, false);
		}
	}
}

void
upstream_close_all(struct proxy_worker *w)
{
	size_t i = 0;
	struct map_slot *s;

	while ((s = map_next(&w->upstreams, &i)) != NULL) {
		struct upstream_pool *u = s->val;

		while (!LIST_EMPTY(&u->idle))
			upstream_release(LIST_FIRST(&u->idle), false);
	}
}
