/*
 * Workers: one thread, one libuv loop and one listening socket each.
 * Every worker binds the same address with SO_REUSEPORT and the kernel
 * spreads new connections over them; a connection then stays on its
 * worker, with its upstream connections, its buffers and its timers, so
 * the request path shares nothing with other threads but a few relaxed
 * atomics.
 *
 * The main thread talks to a worker through its inbox (a locked list and
 * a uv_async): new route tables, ends of wakes, and the order to stop.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "store.h"

#define WORKER_BACKLOG 4096
#define WORKER_SWEEP_MS 1000
#define WORKER_FREE_BUFS 256
#define WORKER_ACCEPT_BATCH 64

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
	uv_async_send(&q->async);
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

/* Accepts what is waiting, a bounded number per turn so one busy
 * listener cannot starve the connections already open. */
static void
worker_accept_cb(uv_poll_t *h, int status, int events)
{
	struct proxy_worker *w = h->data;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < WORKER_ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(w->listen_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_accept(w, fd, (struct sockaddr *)&ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* out of descriptors: pause until the next sweep
			 * rather than spin on a readable listener */
			log_warn("accept paused", "worker=%d err=\"%s\"", w->id,
			    strerror(errno));
			uv_poll_stop(&w->listener);
			w->accept_paused = true;
		}
		break;
	}
}

static void
worker_sweep_cb(uv_timer_t *t)
{
	struct proxy_worker *w = t->data;

	upstream_sweep(w, uv_now(&w->loop));
	if (w->accept_paused && !w->stopping) {
		w->accept_paused = false;
		uv_poll_start(&w->listener, UV_READABLE, worker_accept_cb);
	}
}

static void
worker_stop(struct proxy_worker *w)
{
	w->stopping = true;
	uv_close((uv_handle_t *)&w->listener, NULL);
	close(w->listen_fd);
	w->listen_fd = -1;
	uv_close((uv_handle_t *)&w->sweep, NULL);
	conn_close_all(w);
	upstream_close_all(w);
	uv_close((uv_handle_t *)&w->inbox.async, NULL);
}

static void
worker_inbox_cb(uv_async_t *h)
{
	struct proxy_worker *w = h->data;
	struct wmsg *m = wqueue_take(&w->inbox), *next;

	for (; m != NULL; m = next) {
		next = m->next;
		switch (m->type) {
		case WMSG_ROUTES:
			route_table_unref(w->routes);
			w->routes = m->routes;
			break;
		case WMSG_WAKE_DONE:
			if (!w->stopping)
				hold_done(w, m->app, m->status, m->addr,
				    m->reason);
			break;
		case WMSG_STOP:
			if (!w->stopping)
				worker_stop(w);
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

	uv_run(&w->loop, UV_RUN_DEFAULT);
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
	map_free(&w->upstreams);
	if (uv_loop_close(&w->loop) != 0)
		log_warn("worker loop not empty at exit", "worker=%d", w->id);
	return NULL;
}

/* The listen address as a sockaddr (numeric, or resolved at start). */
static int
worker_addr(const char *listen, struct sockaddr_storage *ss, char *err,
    size_t errlen)
{
	char host[CONFIG_ADDR_MAX], port[8];
	struct addrinfo hints = {0}, *ai;
	int portnum, rc;
	size_t hl;

	if (store_parse_address(listen, host, sizeof(host), &portnum) < 0 ||
	    portnum == 0) {
		snprintf(err, errlen, "proxy.listen \"%s\" is not HOST:PORT",
		    listen);
		return -1;
	}
	hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
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
	int one = 1, rc;

	w->px = px;
	w->id = id;
	w->listen_fd = -1;
	w->bufs.size = px->bufsize;
	w->bufs.max_free = WORKER_FREE_BUFS;
	w->scratch_size = px->bufsize + 4096;
	if ((w->scratch = malloc(w->scratch_size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((rc = uv_loop_init(&w->loop)) < 0)
		goto fail;
	pthread_mutex_init(&w->inbox.mu, NULL);
	uv_async_init(&w->loop, &w->inbox.async, worker_inbox_cb);
	w->inbox.async.data = w;
	uv_timer_init(&w->loop, &w->sweep);
	w->sweep.data = w;
	uv_timer_start(&w->sweep, worker_sweep_cb, WORKER_SWEEP_MS,
	    WORKER_SWEEP_MS);
	/* Accepted sockets inherit TCP_NODELAY from the listener. */
	w->listen_fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (w->listen_fd < 0 ||
	    setsockopt(w->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 ||
	    setsockopt(w->listen_fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) < 0 ||
	    setsockopt(w->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) < 0 ||
	    bind(w->listen_fd, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0 ||
	    listen(w->listen_fd, WORKER_BACKLOG) < 0) {
		rc = uv_translate_sys_error(errno);
		goto fail;
	}
	if ((rc = uv_poll_init_socket(&w->loop, &w->listener,
	    w->listen_fd)) < 0)
		goto fail;
	w->listener.data = w;
	uv_poll_start(&w->listener, UV_READABLE, worker_accept_cb);
	route_table_ref(px->table);
	w->routes = px->table;
	return 0;
fail:
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	w->listen_fd = -1;
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
	for (int i = 0; i < n; i++) {
		if (pthread_create(&px->workers[i].thread, NULL, worker_main,
		    &px->workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker thread");
			return -1;
		}
		px->nworkers++;
	}
	log_info("listening", "addr=%s workers=%d buffer=%zu",
	    px->cfg->proxy.listen, n, px->bufsize);
	return 0;
}

void
worker_stop_all(struct proxy *px)
{
	/* The stop order is preallocated: it must not fail to be sent. */
	for (int i = 0; i < px->nworkers; i++) {
		px->workers[i].stop.type = WMSG_STOP;
		worker_post(&px->workers[i], &px->workers[i].stop);
	}
	for (int i = 0; i < px->nworkers; i++)
		pthread_join(px->workers[i].thread, NULL);
	for (int i = 0; i < px->nworkers; i++) {
		free(px->workers[i].scratch);
		pthread_mutex_destroy(&px->workers[i].inbox.mu);
	}
	px->nworkers = 0;
}
