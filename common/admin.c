/*
 * The admin port: /healthz and /metrics over nng's HTTP server.
 * Handlers run on nng's threads and only read atomics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "admin.h"
#include "metrics.h"

struct admin {
	nng_http_server *srv;
	admin_ready_fn ready;
	void *arg;
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
	free(a);
	return NULL;
}

void
admin_stop(struct admin *a)
{
	if (a == NULL)
		return;
	nng_http_server_stop(a->srv);
	nng_http_server_release(a->srv);
	free(a);
}
