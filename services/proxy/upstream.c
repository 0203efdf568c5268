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
 * in order, as connections are released. The cap is per worker, so no
 * lock is taken: the setting is shared out evenly among the workers.
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

static void
upstream_pool_unlink(struct upstream *u, struct proxy_up *up)
{
	if (up->idle_prev != NULL)
		up->idle_prev->idle_next = up->idle_next;
	else
		u->idle = up->idle_next;
	if (up->idle_next != NULL)
		up->idle_next->idle_prev = up->idle_prev;
	up->idle_prev = up->idle_next = NULL;
	u->nidle--;
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
upstream_has_slot(const struct proxy_worker *w, const struct upstream *u)
{
	size_t cap = upstream_cap(w);

	return u->idle != NULL || cap == 0 || u->nbusy < cap;
}

static void
upstream_count(struct proxy_up *up)
{
	up->busy = true;
	up->pool->nbusy++;
}

static void
upstream_enqueue(struct proxy_worker *w, struct upstream *u,
    struct proxy_conn *c)
{
	c->queued = u;
	c->q_next = NULL;
	c->q_prev = u->queue_tail;
	if (u->queue_tail != NULL)
		u->queue_tail->q_next = c;
	else
		u->queue = c;
	u->queue_tail = c;
	stat_gauge(&w->stats.upstream_queued, 1);
}

void
upstream_unqueue(struct proxy_conn *c)
{
	struct upstream *u = c->queued;

	if (u == NULL)
		return;
	if (c->q_prev != NULL)
		c->q_prev->q_next = c->q_next;
	else
		u->queue = c->q_next;
	if (c->q_next != NULL)
		c->q_next->q_prev = c->q_prev;
	else
		u->queue_tail = c->q_prev;
	c->q_prev = c->q_next = NULL;
	c->queued = NULL;
	stat_gauge(&c->s.w->stats.upstream_queued, -1);
}

/*
 * A slot of U was freed: forward the queued requests it can take now.
 * U outlives the loop: the connection just released still counts in
 * nopen until its close callback, at the end of the round.
 */
static void
upstream_dispatch(struct proxy_worker *w, struct upstream *u)
{
	struct proxy_conn *c;

	/* the stop closes every client next; no connection for them */
	if (w->stopping)
		return;
	while ((c = u->queue) != NULL && upstream_has_slot(w, u)) {
		upstream_unqueue(c);
		conn_forward(c, u->addr);
	}
}

static void
upstream_on_read(struct proxy_stream *s, int status)
{
	struct proxy_up *up = s->owner;

	if (up->c != NULL) {
		conn_upstream_read(up->c, status);
		return;
	}
	/* Idle: the upstream closed it, or sent bytes nobody asked for. */
	upstream_release(up, false);
}

static void
upstream_on_drain(struct proxy_stream *s, int status)
{
	struct proxy_up *up = s->owner;

	if (up->c != NULL)
		conn_upstream_drain(up->c, status);
}

/* U has no connection left: it goes. */
static void
upstream_pool_free(struct proxy_worker *w, struct upstream *u)
{
	map_del(&w->upstreams, u->addr);
	free(u->addr);
	free(u);
}

static void
upstream_free(struct proxy_up *up)
{
	struct proxy_worker *w = up->s.w;

	stat_gauge(&w->stats.upstreams, -1);
	if (--up->pool->nopen == 0)
		upstream_pool_free(w, up->pool);
	free(up);
}

static void
upstream_on_close(struct proxy_stream *s)
{
	struct proxy_up *up = s->owner;

	/* A lookup still out frees us when it comes back. */
	up->closed = true;
	if (!up->resolving)
		upstream_free(up);
}

static void
upstream_connect_cb(struct proxy_stream *s, int status)
{
	struct proxy_up *up = s->owner;
	struct proxy_conn *c = up->c;

	if (status < 0) {
		/* the client first, while UP still names the upstream */
		up->c = NULL;
		if (c != NULL)
			conn_upstream_ready(c, status);
		upstream_release(up, false);
		return;
	}
	stream_read(&up->s, true);
	if (c != NULL)
		conn_upstream_ready(c, 0);
	else
		upstream_release(up, false);
}

static int
upstream_connect(struct proxy_up *up, const struct sockaddr *sa)
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
upstream_lookup_start(struct proxy_worker *w, struct proxy_up *up,
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
	struct proxy_up *up = m->up;
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
			conn_upstream_ready(c, rc);
		upstream_release(up, false);
	}
}

static struct proxy_up *
upstream_open(struct proxy_worker *w, struct upstream *u, const char **why)
{
	char host[256];
	struct sockaddr_storage ss;
	int portnum;
	struct proxy_up *up;
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

int
upstream_acquire(struct proxy_worker *w, struct proxy_conn *c,
    const char *addr, struct proxy_up **upp, const char **why)
{
	struct upstream *u = map_get(&w->upstreams, addr, strlen(addr));
	struct proxy_up *up;

	if (u == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL ||
		    (u->addr = strdup(addr)) == NULL ||
		    map_put(&w->upstreams, u->addr, u) < 0) {
			if (u != NULL)
				free(u->addr);
			free(u);
			*why = "out of memory";
			return -1;
		}
	}
	/* A retry goes out on a new connection: the pooled one it failed on
	 * may not be the only one the upstream has closed meanwhile. */
	if (!c->retried && (up = u->idle) != NULL) {
		upstream_pool_unlink(u, up);
		stat_gauge(&w->stats.upstreams_idle, -1);
		stat_add(&w->stats.upstream_reused, 1);
		upstream_count(up);
		up->c = c;
		up->uses++;
		*upp = up;
		return 1;
	}
	/* nbusy > 0 here, so U stays while C waits in its queue */
	if (!upstream_has_slot(w, u)) {
		upstream_enqueue(w, u, c);
		return 2;
	}
	if ((up = upstream_open(w, u, why)) == NULL) {
		if (u->nopen == 0)
			upstream_pool_free(w, u);
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
upstream_put(struct proxy_up *up, bool reuse)
{
	struct proxy_worker *w = up->s.w;
	struct upstream *u = up->pool;

	if (up->s.flags & STREAM_CLOSING)
		return;
	if (reuse && !w->stopping &&
	    u->nidle < UPSTREAM_IDLE_MAX && stream_avail(&up->s) == 0 &&
	    up->s.queued == 0 && !(up->s.flags & STREAM_EOF)) {
		stream_trim(&up->s);
		stream_read(&up->s, true);
		up->idle_since = w->loop.now;
		up->idle_prev = NULL;
		up->idle_next = u->idle;
		if (u->idle != NULL)
			u->idle->idle_prev = up;
		u->idle = up;
		u->nidle++;
		stat_gauge(&w->stats.upstreams_idle, 1);
		return;
	}
	if (up->idle_prev != NULL || u->idle == up) {
		upstream_pool_unlink(u, up);
		stat_gauge(&w->stats.upstreams_idle, -1);
	}
	stream_close(&up->s);
}

void
upstream_release(struct proxy_up *up, bool reuse)
{
	bool busy = up->busy;

	up->c = NULL;
	if (busy) {
		up->busy = false;
		up->pool->nbusy--;
	}
	upstream_put(up, reuse);
	if (busy)
		upstream_dispatch(up->s.w, up->pool);
}

void
upstream_uncount(struct proxy_up *up)
{
	if (!up->busy)
		return;
	up->busy = false;
	up->pool->nbusy--;
	upstream_dispatch(up->s.w, up->pool);
}

void
upstream_sweep(struct proxy_worker *w, uint64_t now)
{
	uint64_t max = (uint64_t)w->px->cfg->proxy.keepalive_timeout_ms;
	size_t i = 0;
	struct map_slot *s;

	while ((s = map_next(&w->upstreams, &i)) != NULL) {
		struct upstream *u = s->val;
		struct proxy_up *up = u->idle, *next;

		/* closing is deferred to the close callbacks, so the map
		 * and the lists stay as they are while we walk them */
		for (; up != NULL; up = next) {
			next = up->idle_next;
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
		struct upstream *u = s->val;

		while (u->idle != NULL)
			upstream_release(u->idle, false);
	}
}
