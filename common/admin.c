/*
 * The admin port: /healthz and /metrics over nng's HTTP server.
 * Handlers run on nng's threads and only read atomics. A daemon's own
 * routes are queued to its loop (admin.h); a request answered later
 * waits in the port's list, named by a number, until it is answered.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "admin.h"
#include "metrics.h"

/* A request on its way from nng's thread to the loop. */
struct admin_pending {
	nng_aio *aio;
	const struct admin_route *route;
	uint64_t id;			/* answered later: its number */
	STAILQ_ENTRY(admin_pending) link;
};
STAILQ_HEAD(admin_queue, admin_pending);

struct admin {
	nng_http_server *srv;
	admin_ready_fn ready;
	void *arg;
	/* routes: nng's threads queue, the loop answers */
	pthread_mutex_t mu;
	struct admin_queue queue;
	uv_async_t async;
	bool routed;			/* async initialised */
	bool stopping;			/* queue no more */
	/* answered later (loop thread only) */
	struct admin_queue waiting;
	uint64_t next_id;
};

static void
admin_respond(nng_aio *aio, uint16_t status, const char *ctype,
    const char *body, size_t len)
{
	nng_http_res *res;

	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, status);
	nng_http_res_set_header(res, "Content-Type", ctype);
	nng_http_res_copy_data(res, body, len);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void
admin_healthz(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct admin *a = nng_http_handler_get_data(h);
	char why[256] = "", body[300];
	int ok = a->ready(why, sizeof(why), a->arg);
	int n;

	n = snprintf(body, sizeof(body), ok ? "ok\n" : "not ready: %s\n", why);
	admin_respond(aio, ok ? 200 : 503, "text/plain", body, (size_t)n);
}

static void
admin_metrics(nng_aio *aio)
{
	struct metrics_buf b = {0};

	metrics_render(&b);
	admin_respond(aio, 200, "text/plain; version=0.0.4", b.data, b.len);
	free(b.data);
}

static int
admin_handler(struct admin *a, const char *path, void (*cb)(nng_aio *))
{
	nng_http_handler *h;

	if (nng_http_handler_alloc(&h, path, cb) != 0)
		return -1;
	nng_http_handler_set_method(h, "GET");
	nng_http_handler_set_data(h, a, NULL);
	if (nng_http_server_add_handler(a->srv, h) != 0) {
		nng_http_handler_free(h);
		return -1;
	}
	return 0;
}

const char *
admin_req_header(const struct admin_req *r, const char *name)
{
	return nng_http_req_get_header(r->nreq, name);
}

/* Runs one queued request's handler and sends its answer, or keeps P
 * in the waiting list for a later one (loop). True if P was kept. */
static bool
admin_route_run(struct admin *a, struct admin_pending *p)
{
	nng_http_req *req = nng_aio_get_input(p->aio, 0);
	struct admin_answer ans = {.status = 500, .body = ""};
	struct admin_req r = {0};
	char *uri, *q;
	void *body;
	size_t len;

	if ((uri = strdup(nng_http_req_get_uri(req))) == NULL) {
		admin_respond(p->aio, 503, "text/plain", "out of memory\n", 14);
		return false;
	}
	if ((q = strchr(uri, '?')) != NULL)
		*q++ = '\0';
	nng_http_req_get_data(req, &body, &len);
	r.method = nng_http_req_get_method(req);
	r.path = uri;
	r.query = q != NULL ? q : "";
	r.body = body;
	r.len = len;
	r.nreq = req;
	ans.later.a = a;
	ans.later.id = ++a->next_id;
	p->route->fn(&r, &ans, p->route->arg);
	free(uri);
	if (ans.status == ADMIN_LATER) {
		p->id = ans.later.id;
		STAILQ_INSERT_TAIL(&a->waiting, p, link);
		return true;
	}
	admin_respond(p->aio, (uint16_t)ans.status, "text/plain", ans.body,
	    strlen(ans.body));
	return false;
}

void
admin_answer_later(const struct admin_later *l, int status, const char *body)
{
	struct admin *a = l->a;
	struct admin_pending *p;

	STAILQ_FOREACH(p, &a->waiting, link)
		if (p->id == l->id)
			break;
	if (p == NULL)
		return;
	STAILQ_REMOVE(&a->waiting, p, admin_pending, link);
	admin_respond(p->aio, (uint16_t)status, "text/plain", body,
	    strlen(body));
	free(p);
}

bool
admin_token_equal(const char *given, size_t glen, const char *want)
{
	size_t wlen = strlen(want);
	unsigned char d = glen != wlen;

	for (size_t i = 0; i < wlen; i++)
		d |= (unsigned char)want[i] ^
		    (unsigned char)(i < glen ? given[i] : 0);
	return d == 0;
}

bool
admin_addr_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 ||
	    strncmp(addr, "[::1]:", 6) == 0 ||
	    strncmp(addr, "localhost:", 10) == 0;
}

/* Moves everything queued into Q. */
static void
admin_take(struct admin *a, struct admin_queue *q)
{
	pthread_mutex_lock(&a->mu);
	STAILQ_INIT(q);
	STAILQ_CONCAT(q, &a->queue);
	pthread_mutex_unlock(&a->mu);
}

static void
admin_async_cb(uv_async_t *h)
{
	struct admin *a = h->data;
	struct admin_queue q;
	struct admin_pending *p;

	admin_take(a, &q);
	while ((p = STAILQ_FIRST(&q)) != NULL) {
		STAILQ_REMOVE_HEAD(&q, link);
		if (!admin_route_run(a, p))
			free(p);
	}
}

/* What a route's nng handler knows: its daemon's port and the route. */
struct admin_binding {
	struct admin *a;
	const struct admin_route *route;
};

/* nng's thread: queue the request for the loop. */
static void
admin_route_cb(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct admin_binding *bd = nng_http_handler_get_data(h);
	struct admin *a = bd->a;
	struct admin_pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		admin_respond(aio, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	p->aio = aio;
	p->route = bd->route;
	pthread_mutex_lock(&a->mu);
	if (a->stopping) {
		pthread_mutex_unlock(&a->mu);
		free(p);
		admin_respond(aio, 503, "text/plain", "shutting down\n", 14);
		return;
	}
	STAILQ_INSERT_TAIL(&a->queue, p, link);
	pthread_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

int
admin_add_routes(struct admin *a, uv_loop_t *loop,
    const struct admin_route *routes, size_t n, char *err, size_t errlen)
{
	if (!a->routed) {
		if (uv_async_init(loop, &a->async, admin_async_cb) != 0) {
			snprintf(err, errlen, "admin: cannot set up routes");
			return -1;
		}
		a->async.data = a;
		a->routed = true;
	}
	for (size_t i = 0; i < n; i++) {
		struct admin_binding *bd;
		nng_http_handler *h;

		if ((bd = calloc(1, sizeof(*bd))) == NULL ||
		    nng_http_handler_alloc(&h, routes[i].path,
		    admin_route_cb) != 0) {
			free(bd);
			snprintf(err, errlen, "admin: cannot add %s",
			    routes[i].path);
			return -1;
		}
		bd->a = a;
		bd->route = &routes[i];
		if (routes[i].tree)
			nng_http_handler_set_tree(h);
		nng_http_handler_set_method(h, routes[i].method);
		nng_http_handler_collect_body(h, true, routes[i].max_body);
		nng_http_handler_set_data(h, bd, free);
		if (nng_http_server_add_handler(a->srv, h) != 0) {
			nng_http_handler_free(h);
			snprintf(err, errlen, "admin: cannot add %s",
			    routes[i].path);
			return -1;
		}
	}
	return 0;
}

struct admin *
admin_start(const char *addr, admin_ready_fn ready, void *arg, char *err,
    size_t errlen)
{
	struct admin *a;
	nng_url *url = NULL;
	char buf[300];
	int rv;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->ready = ready;
	a->arg = arg;
	pthread_mutex_init(&a->mu, NULL);
	STAILQ_INIT(&a->queue);
	STAILQ_INIT(&a->waiting);
	snprintf(buf, sizeof(buf), "http://%s", addr);
	if ((rv = nng_url_parse(&url, buf)) != 0 ||
	    (rv = nng_http_server_hold(&a->srv, url)) != 0) {
		snprintf(err, errlen, "admin address %s: %s", addr,
		    nng_strerror(rv));
		goto fail;
	}
	if (admin_handler(a, "/healthz", admin_healthz) != 0 ||
	    admin_handler(a, "/metrics", admin_metrics) != 0) {
		snprintf(err, errlen, "admin %s: cannot add handlers", addr);
		goto fail;
	}
	if ((rv = nng_http_server_start(a->srv)) != 0) {
		snprintf(err, errlen, "admin cannot listen on %s: %s", addr,
		    nng_strerror(rv));
		goto fail;
	}
	nng_url_free(url);
	return a;
fail:
	if (a->srv != NULL)
		nng_http_server_release(a->srv);
	if (url != NULL)
		nng_url_free(url);
	pthread_mutex_destroy(&a->mu);
	free(a);
	return NULL;
}

static void
admin_async_closed(uv_handle_t *h)
{
	struct admin *a = h->data;

	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* Loop thread. What is still queued or waiting is answered 503; A is
 * freed once its async handle has closed. */
void
admin_stop(struct admin *a)
{
	struct admin_queue q;
	struct admin_pending *p;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_mutex_unlock(&a->mu);
	admin_take(a, &q);
	STAILQ_CONCAT(&q, &a->waiting);
	while ((p = STAILQ_FIRST(&q)) != NULL) {
		STAILQ_REMOVE_HEAD(&q, link);
		admin_respond(p->aio, 503, "text/plain", "shutting down\n",
		    14);
		free(p);
	}
	nng_http_server_stop(a->srv);
	nng_http_server_release(a->srv);
	if (a->routed) {
		uv_close((uv_handle_t *)&a->async, admin_async_closed);
		return;
	}
	pthread_mutex_destroy(&a->mu);
	free(a);
}
