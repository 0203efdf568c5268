/*
 * Workers: one thread, one event loop (loop.c) and one listening socket
 * each.
 * Every worker binds the same address with SO_REUSEPORT and the kernel
 * spreads new connections over them by a hash; a worker that gets one
 * while another has fewer connections hands it over (see hand-off
 * below). A connection then stays on its worker, with its upstream
 * connections, its buffers and its timers, so the request path shares
 * nothing with other threads but a few relaxed atomics.
 *
 * The main thread talks to a worker through its inbox (a locked list and
 * the loop's eventfd): new route tables, ends of wakes, and the order to
 * stop; name lookups done on threads of their own answer there too.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "proxy.h"

#define WORKER_BACKLOG 4096
#define WORKER_SWEEP_MS 1000
#define WORKER_FREE_BUFS 256
#define WORKER_ACCEPT_BATCH 64
/* A new connection goes to another worker only if that one has more
 * than this many fewer connections: an even split is left alone. */
#define WORKER_HANDOFF_SLACK 1
#define HANDOFF_BATCH 64

void
wqueue_push(struct wqueue *q, struct wmsg *m)
{
	m->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	pthread_mutex_unlock(&q->mu);
	if (q->loop != NULL)
		loop_wake(q->loop);
	else
		uv_async_send(q->async);
}

struct wmsg *
wqueue_take(struct wqueue *q)
{
	struct wmsg *m;

	pthread_mutex_lock(&q->mu);
	m = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->mu);
	return m;
}

void
worker_post(struct proxy_worker *w, struct wmsg *m)
{
	wqueue_push(&w->inbox, m);
}

/* ---- hand-off: the kernel picks a listener, and so a worker, by a
 * hash of the connection's addresses, whatever that worker's load. A
 * worker that accepts while another has fewer connections hands the
 * new one over: a locked ring and a wake-up, cheap next to the wait a
 * request sees behind a busier loop. */

static int64_t
worker_load(struct proxy_worker *w)
{
	return atomic_load_explicit(&w->stats.conns, memory_order_relaxed) +
	    atomic_load_explicit(&w->handoff.backlog, memory_order_relaxed);
}

/* The worker that should take a connection W accepted. */
static struct proxy_worker *
worker_pick(struct proxy_worker *w)
{
	struct proxy *px = w->px;
	struct proxy_worker *best = w;
	int64_t least = worker_load(w) - WORKER_HANDOFF_SLACK;

	for (int i = 0; i < px->nworkers; i++) {
		struct proxy_worker *v = &px->workers[i];
		int64_t load;

		if (v != w && (load = worker_load(v)) < least) {
			best = v;
			least = load;
		}
	}
	return best;
}

/* Gives FD to W. False if W cannot take it (full, or stopped). */
static bool
handoff_push(struct proxy_worker *w, int fd, const struct sockaddr *peer)
{
	struct handoff *h = &w->handoff;
	struct handoff_slot *slot;

	pthread_mutex_lock(&h->mu);
	if (h->closed || h->len == HANDOFF_SLOTS) {
		pthread_mutex_unlock(&h->mu);
		return false;
	}
	slot = &h->slot[(h->head + h->len) % HANDOFF_SLOTS];
	slot->fd = fd;
	memcpy(&slot->peer, peer, peer->sa_family == AF_INET6 ?
	    sizeof(slot->peer.in6) : sizeof(slot->peer.in));
	atomic_store_explicit(&h->backlog, ++h->len, memory_order_relaxed);
	pthread_mutex_unlock(&h->mu);
	loop_wake(&w->loop);
	return true;
}

/* Opens what other workers handed over; with CLOSE_ALL, closes it
 * instead and takes no more (the worker is stopping). */
static void
handoff_take(struct proxy_worker *w, bool close_all)
{
	struct handoff *h = &w->handoff;
	struct handoff_slot slot[HANDOFF_BATCH];
	unsigned n;

	do {
		pthread_mutex_lock(&h->mu);
		h->closed |= close_all;
		for (n = 0; n < HANDOFF_BATCH && h->len > 0; n++) {
			slot[n] = h->slot[h->head];
			h->head = (h->head + 1) % HANDOFF_SLOTS;
			h->len--;
		}
		atomic_store_explicit(&h->backlog, h->len,
		    memory_order_relaxed);
		pthread_mutex_unlock(&h->mu);
		for (unsigned i = 0; i < n; i++) {
			if (close_all)
				close(slot[i].fd);
			else
				conn_accept(w, slot[i].fd, &slot[i].peer.sa);
		}
	} while (n == HANDOFF_BATCH);
}

/*
 * Accepts what is waiting, a bounded number per event so one busy
 * listener cannot starve the connections already open. The listener is
 * level triggered: what is left is reported again next round.
 *
 * Accepting until EAGAIN costs a failed accept4 per event, which on a
 * lightly loaded proxy is one system call per connection for nothing.
 * So the bound follows the queue instead: it shrinks to what the last
 * event found when that ended in EAGAIN, and doubles when the listener
 * is reported again in the very next round after an event that used the
 * whole bound (the queue had more). One connection at a time then costs
 * a single accept4; a burst is drained in a few rounds.
 */
static void
worker_accept_cb(struct loop_io *io, uint32_t events)
{
	struct proxy_worker *w = container_of(io, struct proxy_worker,
	    listener);
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned n, max = w->accept_max;
	int fd;

	(void)events;
	if (w->accept_full && w->accept_round + 1 == w->loop.round &&
	    max < WORKER_ACCEPT_BATCH)
		max *= 2;
	w->accept_round = w->loop.round;
	w->accept_full = false;
	for (n = 0; n < max; n++) {
		len = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			struct proxy_worker *to = worker_pick(w);

			if (to != w && handoff_push(to, fd,
			    (struct sockaddr *)&ss))
				stat_add(&w->stats.handed_off, 1);
			else
				conn_accept(w, fd, (struct sockaddr *)&ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* out of descriptors: pause until the next sweep
			 * rather than spin on a readable listener */
			log_warn("accept paused", "worker=%d err=\"%s\"", w->id,
			    strerror(errno));
			loop_mod(&w->loop, io, 0);
			w->accept_paused = true;
		}
		/* the queue is empty (or accept failed): what it held is
		 * the bound for the next event */
		w->accept_max = n > 0 ? n : 1;
		return;
	}
	w->accept_max = max;
	w->accept_full = true;
}

static void
worker_sweep_cb(struct loop_timer *t)
{
	struct proxy_worker *w = container_of(t, struct proxy_worker, sweep);

	upstream_sweep(w, w->loop.now);
	if (w->accept_paused && w->listener.fd >= 0) {
		w->accept_paused = false;
		loop_mod(&w->loop, &w->listener, EPOLLIN);
	}
	loop_timer_start(&w->loop, &w->sweep, WORKER_SWEEP_MS,
	    worker_sweep_cb);
}

static void
worker_stop(struct proxy_worker *w)
{
	w->stopping = true;
	handoff_take(w, true);
	close(w->listener.fd);
	w->listener.fd = -1;
	loop_timer_stop(&w->loop, &w->sweep);
	conn_close_all(w);
	balance_close_all(w);
	loop_stop(&w->loop);
}

static void
worker_drain_task(struct loop_task *t)
{
	struct proxy_worker *w = container_of(t, struct proxy_worker,
	    drain_task);

	if (!w->stopping && LIST_EMPTY(&w->conns))
		worker_stop(w);
}

void
worker_drain_check(struct proxy_worker *w)
{
	/* at the end of the round: a connection is closing on the stack */
	loop_post(&w->loop, &w->drain_task, worker_drain_task);
}

static void
worker_drain_timeout(struct loop_timer *t)
{
	struct proxy_worker *w = container_of(t, struct proxy_worker,
	    drain_timer);

	if (!w->stopping) {
		log_info("drain timed out: closing what is left", "worker=%d",
		    w->id);
		worker_stop(w);
	}
}

/*
 * The graceful stop: no new connection; the idle ones closed, held
 * requests answered 503, the others closed after their answer; the
 * worker stops when none is left, or after GRACE_MS.
 */
static void
worker_drain(struct proxy_worker *w, uint64_t grace_ms)
{
	struct proxy_conn *c, *next;

	if (w->draining || w->stopping)
		return;
	w->draining = true;
	close(w->listener.fd);
	w->listener.fd = -1;
	handoff_take(w, false);		/* served, then closed */
	for (c = LIST_FIRST(&w->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if (c->state == CONN_IDLE)
			conn_close(c);
		else if (c->state == CONN_HELD)
			conn_fail(c, 503, "the proxy is stopping", NULL);
	}
	loop_timer_start(&w->loop, &w->drain_timer, grace_ms,
	    worker_drain_timeout);
	worker_drain_check(w);
}

static void
worker_on_wake(struct loop *l)
{
	struct proxy_worker *w = container_of(l, struct proxy_worker, loop);
	struct wmsg *m = wqueue_take(&w->inbox), *next;
	struct route_table *old;

	if (!w->stopping)
		handoff_take(w, false);
	for (; m != NULL; m = next) {
		next = m->next;
		switch (m->type) {
		case WMSG_ROUTES:
			old = w->routes;
			w->routes = m->routes;
			balance_routes_changed(w);
			if (old == NULL)
				break;
			/*
			 * The old table goes back to the main thread to be
			 * freed there: freeing 100,000 routes here would
			 * hold this worker's connections for tens of ms.
			 */
			m->type = WMSG_ROUTES_OLD;
			m->routes = old;
			wqueue_push(&w->px->inbox, m);
			continue;
		case WMSG_WAKE_DONE:
			if (!w->stopping)
				hold_done(w, m->app, m->domain, m->status,
				    m->reason);
			break;
		case WMSG_RESOLVED:
			upstream_resolved(w, m);
			break;
		case WMSG_STOP:
			if (!w->stopping)
				worker_stop(w);
			break;
		case WMSG_DRAIN:
			worker_drain(w, (uint64_t)m->status);
			break;
		default:
			log_warn("unknown worker message", "type=%d",
			    (int)m->type);
			break;
		}
		if (m != &w->stop)
			free(m);
	}
}

static void *
worker_main(void *arg)
{
	struct proxy_worker *w = arg;

	loop_run(&w->loop, worker_on_wake);
	/* Messages posted while stopping were never read. */
	for (struct wmsg *m = wqueue_take(&w->inbox), *next; m != NULL;
	    m = next) {
		next = m->next;
		if (m->type == WMSG_ROUTES)
			route_table_unref(m->routes);
		if (m != &w->stop)
			free(m);
	}
	route_table_unref(w->routes);
	w->routes = NULL;
	buf_pool_drain(&w->bufs);
	map_free(&w->groups);
	free(w->set_groups);
	loop_free(&w->loop);
	return NULL;
}

/* The listen address as a sockaddr (numeric, or resolved at start). */
static int
worker_addr(const char *listen, struct sockaddr_storage *ss, char *err,
    size_t errlen)
{
	char host[CONFIG_ADDR_MAX], port[8];
	struct addrinfo hints = {0}, *ai;
	const char *why;
	int portnum, rc;

	if (addr_parse(listen, 0, host, sizeof(host), &portnum, &why) < 0) {
		snprintf(err, errlen, "proxy.listen \"%s\" %s", listen, why);
		return -1;
	}
	if (uv_ip4_addr(host, portnum, (struct sockaddr_in *)ss) == 0 ||
	    uv_ip6_addr(host, portnum, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	snprintf(port, sizeof(port), "%d", portnum);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "proxy.listen %s: %s", listen,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static int
worker_init(struct proxy *px, struct proxy_worker *w, int id,
    const struct sockaddr *sa, char *err, size_t errlen)
{
	int one = 1, rc, fd = -1;

	w->px = px;
	w->id = id;
	w->bufs.size = px->bufsize;
	w->bufs.max_free = WORKER_FREE_BUFS;
	w->scratch_size = px->bufsize + 4096;
	if ((w->scratch = malloc(w->scratch_size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->listener.fd = -1;
	w->accept_max = 1;
	LIST_INIT(&w->conns);
	LIST_INIT(&w->held);
	if (loop_init(&w->loop) < 0) {
		rc = uv_translate_sys_error(errno);
		goto fail;
	}
	pthread_mutex_init(&w->inbox.mu, NULL);
	pthread_mutex_init(&w->handoff.mu, NULL);
	w->inbox.loop = &w->loop;
	loop_timer_init(&w->sweep);
	loop_timer_init(&w->drain_timer);
	loop_timer_start(&w->loop, &w->sweep, WORKER_SWEEP_MS,
	    worker_sweep_cb);
	/*
	 * Accepted sockets inherit TCP_NODELAY from the listener. With
	 * TCP_DEFER_ACCEPT a connection is accepted once its first bytes are
	 * in (or after about a second without any): the read that follows
	 * accept4 finds the request instead of EAGAIN, which cost a
	 * failed recv, an epoll_ctl and another epoll_wait for a third to a
	 * half of the connections of a lightly loaded proxy.
	 */
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one,
	    sizeof(one)) < 0 ||
	    bind(fd, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0 ||
	    listen(fd, WORKER_BACKLOG) < 0 ||
	    loop_add(&w->loop, &w->listener, fd, EPOLLIN,
	    worker_accept_cb) < 0) {
		rc = uv_translate_sys_error(errno);
		goto fail;
	}
	route_table_ref(px->table);
	w->routes = px->table;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	w->listener.fd = -1;
	snprintf(err, errlen, "listen on %s: %s", px->cfg->proxy.listen,
	    uv_strerror(rc));
	return -1;
}

int
worker_start_all(struct proxy *px, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int n = px->cfg->proxy.workers;

	if (n <= 0)
		n = (int)uv_available_parallelism();
	if (worker_addr(px->cfg->proxy.listen, &ss, err, errlen) < 0)
		return -1;
	if ((px->workers = calloc((size_t)n, sizeof(*px->workers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Bind every listener before starting any thread, so a busy port
	 * fails the start instead of half of the workers. */
	for (int i = 0; i < n; i++)
		if (worker_init(px, &px->workers[i], i,
		    (struct sockaddr *)&ss, err, errlen) < 0)
			return -1;
	/* Workers read nworkers (to hand connections over): it is set
	 * before the first of them starts and not changed after. */
	px->nworkers = n;
	for (int i = 0; i < n; i++) {
		if (pthread_create(&px->workers[i].thread, NULL, worker_main,
		    &px->workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker thread");
			return -1;
		}
		px->nthreads++;
	}
	log_info("listening", "addr=%s workers=%d buffer=%zu",
	    px->cfg->proxy.listen, n, px->bufsize);
	return 0;
}

void
worker_stop_all(struct proxy *px, int grace_ms)
{
	/* The stop order is preallocated: it must not fail to be sent. */
	for (int i = 0; i < px->nthreads; i++) {
		px->workers[i].stop.type = grace_ms > 0 ? WMSG_DRAIN :
		    WMSG_STOP;
		px->workers[i].stop.status = grace_ms;
		worker_post(&px->workers[i], &px->workers[i].stop);
	}
	for (int i = 0; i < px->nthreads; i++)
		pthread_join(px->workers[i].thread, NULL);
	for (int i = 0; i < px->nthreads; i++) {
		free(px->workers[i].scratch);
		pthread_mutex_destroy(&px->workers[i].inbox.mu);
		pthread_mutex_destroy(&px->workers[i].handoff.mu);
	}
	px->nworkers = px->nthreads = 0;
}
