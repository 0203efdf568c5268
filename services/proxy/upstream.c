/*
 * Connections to one upstream address. Each pool (one member of a
 * balancing group, balance.c) keeps a list of idle keep-alive
 * connections; a request takes the most recently used one (its socket
 * is the likeliest to still be open) or opens a new one. Idle
 * connections keep reading, so an upstream that closes one is noticed
 * at once and it leaves the pool; the sweep timer closes those idle
 * longer than the keep-alive timeout.
 *
 * At most upstream_cap() connections of a pool are busy at once; taking
 * an idle one never waits. The cap is per worker, so no lock is taken:
 * the setting is shared out evenly among the workers. When a busy
 * connection is released its group hears of the free slot, and hands it
 * to a waiting request at the end of the round.
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

static struct proxy_worker *
upstream_worker(const struct upstream_pool *p)
{
	return p->g->w;
}

static void
upstream_idle_unlink(struct upstream_conn *up)
{
	struct upstream_pool *p = up->pool;

	LIST_REMOVE(up, idle_link);
	up->idle = false;
	p->nidle--;
	stat_gauge(&upstream_worker(p)->stats.upstreams_idle, -1);
}

/* The busy connections allowed per upstream on this worker; 0: any. */
static size_t
upstream_cap(const struct proxy_worker *w)
{
	size_t max = (size_t)w->px->cfg->proxy.upstream_max_conns;
	size_t n = w->px->nworkers > 0 ? (size_t)w->px->nworkers : 1;

	return (max + n - 1) / n;
}

bool
upstream_has_slot(const struct upstream_pool *p, bool fresh)
{
	size_t cap = upstream_cap(upstream_worker(p));

	return (!fresh && !LIST_EMPTY(&p->idle)) || cap == 0 ||
	    p->nbusy < cap;
}

static void
upstream_count(struct upstream_conn *up)
{
	up->busy = true;
	up->pool->nbusy++;
}

void
upstream_uncount(struct upstream_conn *up)
{
	if (!up->busy)
		return;
	up->busy = false;
	up->pool->nbusy--;
	balance_slot_freed(up->pool->g);
}

struct upstream_pool *
upstream_pool_new(struct upstream_group *g, const char *addr, const char *id)
{
	struct upstream_pool *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->addr = strdup(addr)) == NULL ||
	    (p->id = strdup(id)) == NULL) {
		if (p != NULL)
			free(p->addr);
		free(p);
		return NULL;
	}
	p->g = g;
	LIST_INIT(&p->idle);
	LIST_INSERT_HEAD(&g->pools, p, link);
	return p;
}

void
upstream_pool_gc(struct upstream_pool *p)
{
	if (p->member || p->nopen > 0)
		return;
	LIST_REMOVE(p, link);
	free(p->addr);
	free(p->id);
	free(p);
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
	struct upstream_pool *p = up->pool;
	struct upstream_group *g = p->g;

	stat_gauge(&g->w->stats.upstreams, -1);
	p->nopen--;
	free(up);
	upstream_pool_gc(p);
	balance_gc(g);
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
upstream_open(struct upstream_pool *p, const char **why)
{
	struct proxy_worker *w = upstream_worker(p);
	char host[256];
	struct sockaddr_storage ss;
	int portnum;
	struct upstream_conn *up;
	int rc;

	if (addr_parse(p->addr, 0, host, sizeof(host), &portnum, NULL) < 0) {
		*why = "bad upstream address";
		return NULL;
	}
	if ((up = calloc(1, sizeof(*up))) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	stream_init(&up->s, w, up, upstream_on_read, upstream_on_drain,
	    upstream_on_close);
	up->pool = p;
	p->nopen++;
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
		p->nopen--;
		stat_gauge(&w->stats.upstreams, -1);
		free(up);
		return NULL;
	}
	return up;
}

int
upstream_get(struct upstream_pool *p, struct proxy_conn *c, bool fresh,
    struct upstream_conn **upp, const char **why)
{
	struct proxy_worker *w = upstream_worker(p);
	struct upstream_conn *up;

	if (!fresh && (up = LIST_FIRST(&p->idle)) != NULL) {
		upstream_idle_unlink(up);
		stat_add(&w->stats.upstream_reused, 1);
		upstream_count(up);
		up->c = c;
		up->uses++;
		*upp = up;
		return 1;
	}
	if ((up = upstream_open(p, why)) == NULL)
		return -1;
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
	struct upstream_pool *p = up->pool;
	struct proxy_worker *w = upstream_worker(p);

	if (up->s.flags & STREAM_CLOSING)
		return;
	if (reuse && !w->stopping && p->member &&
	    p->nidle < UPSTREAM_IDLE_MAX && stream_avail(&up->s) == 0 &&
	    up->s.queued == 0 && !(up->s.flags & STREAM_EOF)) {
		stream_trim(&up->s);
		stream_read(&up->s, true);
		up->idle_since = w->loop.now;
		LIST_INSERT_HEAD(&p->idle, up, idle_link);
		up->idle = true;
		p->nidle++;
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
upstream_close_idle(struct upstream_pool *p)
{
	/* closing is deferred to the close callbacks: P stays */
	while (!LIST_EMPTY(&p->idle))
		upstream_release(LIST_FIRST(&p->idle), false);
}

void
upstream_sweep(struct proxy_worker *w, uint64_t now)
{
	uint64_t max = (uint64_t)w->px->cfg->proxy.keepalive_timeout_ms;
	size_t i = 0;
	struct map_slot *s;

	while ((s = map_next(&w->groups, &i)) != NULL) {
		struct upstream_group *g = s->val;
		struct upstream_pool *p;

		/* closing is deferred to the close callbacks, so the map
		 * and the lists stay as they are while we walk them */
		LIST_FOREACH(p, &g->pools, link) {
			struct upstream_conn *up, *next;

			for (up = LIST_FIRST(&p->idle); up != NULL; up = next) {
				next = LIST_NEXT(up, idle_link);
				if (now - up->idle_since >= max)
					upstream_release(up, false);
			}
		}
	}
}
