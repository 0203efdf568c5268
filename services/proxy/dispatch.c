/*
 * Where a request goes: its Host, looked up in the worker's route
 * snapshot, names a target, and the target's kind decides (one switch,
 * dispatch_request): a static address or an app's ready instances are a
 * backend set to forward to (exchange.c); an app with none is held while
 * it wakes (hold.c) or, for a browser, answered with the waiting page. A
 * kind this proxy cannot serve is logged, counted and answered 502.
 * Adding a kind is one table in common/target.c, one case in route.c's
 * set builder and one case here.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "proxy.h"

/* Lower-cased host without port or trailing dot, into c->host. */
static size_t
dispatch_set_host(struct proxy_conn *c, const char *src, struct http_span h)
{
	const char *p = src + h.off;
	size_t n = 0, len = h.len;

	if (len > 0 && p[0] == '[') {
		const char *rb = memchr(p, ']', len);

		len = rb != NULL ? (size_t)(rb - p) + 1 : len;
	} else {
		const char *colon = memchr(p, ':', len);

		if (colon != NULL)
			len = (size_t)(colon - p);
	}
	if (len > 0 && p[len - 1] == '.')
		len--;
	if (len >= sizeof(c->host))
		len = sizeof(c->host) - 1;
	for (; n < len; n++) {
		char ch = p[n];

		c->host[n] = ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
	}
	c->host[n] = '\0';
	return n;
}

/* Forwards C's request to a member of SET. */
static void
dispatch_to_set(struct proxy_conn *c, const struct backend_set *set)
{
	struct upstream_group *g = balance_group(c->s.w, set);

	if (g == NULL) {
		conn_fail(c, 503, "out of memory", "Retry-After: 1\r\n");
		return;
	}
	exchange_forward(c, g);
}

void
dispatch_route(struct proxy_conn *c)
{
	const struct route *r = route_lookup(c->s.w->routes, c->host,
	    strlen(c->host));
	char detail[512];

	if (r != NULL && r->set->n > 0) {
		struct proxy_app *was = c->ex.app;

		/* A request held for a pool goes to the domain's lease now:
		 * it counts for the lease, whose deadline the flush pushes
		 * while it is in flight (a WebSocket opened by the first
		 * request keeps the member). Lease objects are never freed. */
		if (was != NULL && was->kind == PROXY_POOL && r->app != NULL &&
		    r->app->kind == PROXY_LEASE) {
			atomic_fetch_sub_explicit(&was->inflight, 1,
			    memory_order_relaxed);
			c->ex.app = r->app;
			atomic_fetch_add_explicit(&r->app->inflight, 1,
			    memory_order_relaxed);
			atomic_fetch_add_explicit(&r->app->requests_total, 1,
			    memory_order_relaxed);
			apps_touch(r->app);
		}
		dispatch_to_set(c, r->set);
		return;
	}
	snprintf(detail, sizeof(detail), "%s has no ready instance", c->host);
	conn_fail(c, 503, detail, "Retry-After: 1\r\n");
}

/* The request M for app R->app: forward it, hold it while the app
 * wakes, or answer with the waiting page. */
static void
dispatch_to_app(struct proxy_conn *c, const struct route *r,
    const char *src, const struct http_msg *m)
{
	struct exchange *ex = &c->ex;

	ex->app = r->app;
	atomic_fetch_add_explicit(&ex->app->inflight, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ex->app->requests_total, 1,
	    memory_order_relaxed);
	apps_touch(ex->app);
	ex->wait_only = wakepage_is_wait(src, m);
	if (r->set->n > 0 && ex->wait_only)
		conn_wake_answer(c, false);
	else if (r->set->n > 0)
		dispatch_to_set(c, r->set);
	else if (!ex->wait_only && atomic_load(&ex->app->wake_page) &&
	    wakepage_wanted(src, m))
		conn_wake_answer(c, true);
	else if (c->s.w->draining)
		conn_fail(c, 503, "the proxy is stopping", NULL);
	else
		hold_add(c, ex->app);
}

void
dispatch_request(struct proxy_conn *c, const struct http_msg *m,
    size_t head_len)
{
	struct proxy_worker *w = c->s.w;
	struct proxy_buf *in = c->s.in;
	const char *src = in->data + in->start;
	struct exchange *ex = &c->ex;
	const struct route *r;
	struct headers_req_ctx ctx = {c->peer, "http"};
	char detail[512];
	size_t hlen;
	ssize_t n;

	*ex = (struct exchange){0};
	ex->minor = m->minor;
	ex->is_head = m->is_head;
	ex->upgrade = http_wants_upgrade(m);
	ex->keep = http_keep_alive(m);
	ex->client_close = !ex->keep;
	if (m->flags & HTTP_F_CHUNKED)
		http_body_init(&ex->rq, HTTP_BODY_CHUNKED, 0);
	else
		http_body_init(&ex->rq, HTTP_BODY_LENGTH,
		    m->content_length > 0 ? (uint64_t)m->content_length : 0);
	ex->rq_done = ex->rq.kind == HTTP_BODY_NONE;
	/* what a stale pooled connection lets us send again: a request
	 * with no body whose method says a second copy does no harm */
	ex->rq_retryable = ex->rq_done && (m->flags & HTTP_F_IDEMPOTENT);
	hlen = dispatch_set_host(c, src, m->host);

	r = route_lookup(w->routes, c->host, hlen);
	if (r == NULL) {
		in->start += (uint32_t)head_len;
		snprintf(detail, sizeof(detail), "no route for domain %s",
		    c->host);
		conn_fail(c, 404, detail, NULL);
		return;
	}
	if ((ex->rqhead = buf_get(&w->bufs)) == NULL) {
		conn_close(c);
		return;
	}
	n = headers_request(ex->rqhead->data, w->bufs.size, src, m, &ctx);
	if (n < 0) {
		conn_reject(c, 431, "header fields too large");
		return;
	}
	ex->rqhead->end = (uint32_t)n;
	in->start += (uint32_t)head_len;

	switch (r->kind) {
	case TARGET_STATIC:
		dispatch_to_set(c, r->set);
		break;
	case TARGET_APP:
	case TARGET_POOL:
		/* a lease's route counts for the lease; a pool's wildcard
		 * has no member: the request waits for an acquire */
		dispatch_to_app(c, r, src, m);
		break;
	default:
		stat_add(&w->stats.bad_targets, 1);
		log_warn("route target of unknown kind", "host=%s kind=%d",
		    c->host, (int)r->kind);
		snprintf(detail, sizeof(detail), "the route for domain %s "
		    "has a target this proxy cannot serve", c->host);
		conn_fail(c, 502, detail, NULL);
		break;
	}
}

