/*
 * A client connection. It carries one exchange at a time: read a request
 * head, route it, forward it (head rewritten, body streamed), forward the
 * response, then either take the next request (keep-alive; pipelined
 * requests wait in the read buffer, so answers go out in order) or close.
 *
 *   IDLE -> HEAD -> [HELD ->] CONNECT -> EXCHANGE -> IDLE ...
 *                                           \-> TUNNEL (101)
 *   any error answer -> LINGER (flush, shut down, drain, close)
 *
 * Bodies are never buffered whole: bytes read on one side are written to
 * the other at once, and a side is not read while the other has writes
 * queued (conn_update). One timer per connection serves every timeout;
 * it is re-armed lazily, so the warm path rarely touches the timer heap.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"

#define CONN_LINGER_MS 2000

static void conn_timer_cb(struct loop_timer *t);
static void conn_read_head(struct proxy_conn *c);
static void conn_pump_request(struct proxy_conn *c);
static void conn_pump_response(struct proxy_conn *c);
static void conn_update(struct proxy_conn *c);
static void conn_upstream_wfail(struct proxy_conn *c, int err);
static void conn_next(struct proxy_conn *c);

static const struct config *
conn_cfg(const struct proxy_conn *c)
{
	return c->s.w->px->cfg;
}

/* Sets the deadline MS from now; the timer only moves if it must fire
 * earlier than it would. */
void
conn_arm(struct proxy_conn *c, uint64_t ms)
{
	struct loop *l = &c->s.w->loop;

	c->deadline = l->now + ms;
	if (!loop_timer_active(&c->timer) || c->timer.due > c->deadline)
		loop_timer_start(l, &c->timer, ms, conn_timer_cb);
}

/* Pushes the deadline of an armed timer later, without touching it. */
static void
conn_touch(struct proxy_conn *c, uint64_t ms)
{
	c->deadline = c->s.w->loop.now + ms;
}

static void
conn_app_done(struct proxy_conn *c)
{
	if (c->app != NULL) {
		atomic_fetch_sub_explicit(&c->app->inflight, 1,
		    memory_order_relaxed);
		c->app = NULL;
	}
}

static void
conn_drop_head(struct proxy_conn *c)
{
	buf_put(&c->s.w->bufs, c->rqhead);
	c->rqhead = NULL;
}

static void
conn_stream_closed(struct proxy_stream *s)
{
	free(s->owner);
}

/* Lets go of what the request in progress holds: its place in the hold
 * or in an upstream's queue, its upstream connection, its app, its head. */
static void
conn_detach(struct proxy_conn *c)
{
	if (c->state == CONN_HELD)
		hold_remove(c);
	upstream_unqueue(c);
	if (c->up != NULL) {
		upstream_release(c->up, false);
		c->up = NULL;
	}
	conn_app_done(c);
	conn_drop_head(c);
}

void
conn_close(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;

	if (c->closing)
		return;
	c->closing = true;
	conn_detach(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	stat_gauge(&w->stats.conns, -1);
	atomic_fetch_sub_explicit(&w->px->conns, 1, memory_order_relaxed);
	loop_timer_stop(&w->loop, &c->timer);
	stream_close(&c->s);		/* frees C at the end of the round */
}

/*
 * True when nothing more can come from the client: it said so with its
 * request, which was read whole, and no byte of anything else is
 * buffered or known to be waiting in the socket.
 */
static bool
conn_client_done(const struct proxy_conn *c)
{
	return (c->s.flags & STREAM_EOF) || (c->client_close &&
	    c->rq_done && stream_avail(&c->s) == 0 &&
	    !(c->s.flags & STREAM_RD_READY));
}

/*
 * Flush what is queued, shut our side down, wait briefly for the
 * client's, then close: closing while the client still sends would reset
 * the connection and could lose the answer we just wrote. A client that
 * is done sending (conn_client_done) is closed as soon as the answer is
 * out: its socket has nothing unread, so close(2) ends it with a FIN.
 */
static void
conn_linger(struct proxy_conn *c)
{
	c->state = CONN_LINGER;
	/* close(2) sends what is held back, then the FIN, as a shutdown
	 * would */
	if (c->s.queued == 0 && conn_client_done(c)) {
		conn_close(c);
		return;
	}
	conn_arm(c, CONN_LINGER_MS);
	stream_shutdown(&c->s);		/* after the queue, if any */
	conn_update(c);
}

/* Sends B to the client (LAST: and then our FIN); closes C if the
 * socket is gone. */
static int
conn_write(struct proxy_conn *c, const uv_buf_t *b, unsigned n, bool last)
{
	if ((last ? stream_send_last(&c->s, b, n) : stream_send(&c->s, b,
	    n)) < 0) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* After an answer was queued: wait for the next request or close. */
static void
conn_settle(struct proxy_conn *c, bool keep)
{
	c->state = CONN_IDLE;
	if (!keep || (c->s.flags & STREAM_EOF)) {
		conn_linger(c);
		return;
	}
	conn_arm(c, (uint64_t)conn_cfg(c)->proxy.keepalive_timeout_ms);
	if (c->s.queued == 0)
		conn_next(c);
	else
		conn_update(c);
}

/*
 * Sends the proxy's own answer, LEN bytes in the worker's scratch. The
 * caller detached C before building it there: releasing an upstream
 * lets queued requests go, and their own answers use the scratch too.
 */
static void
conn_answer(struct proxy_conn *c, int status, size_t len, bool keep)
{
	uv_buf_t b = uv_buf_init(c->s.w->scratch, (unsigned)len);

	stats_count(c->s.w, status, UINT64_MAX);
	c->state = CONN_IDLE;
	if (conn_write(c, &b, 1, !keep) < 0)
		return;
	conn_settle(c, keep);
}

void
conn_fail(struct proxy_conn *c, int status, const char *detail,
    const char *extra)
{
	struct proxy_worker *w = c->s.w;
	bool keep = c->keep && c->rq_done;

	conn_detach(c);
	conn_answer(c, status, page_build(w->scratch, w->scratch_size, status,
	    detail, extra, keep), keep);
}

/*
 * The waiting page's answers: the page itself (a 503 that switches to
 * the app once ready, and wakes it) or, to its wait request, a 204.
 */
static void
conn_wake_answer(struct proxy_conn *c, bool page)
{
	struct proxy_worker *w = c->s.w;
	struct proxy_app *app = c->app;	/* outlives conn_detach */
	bool keep = c->keep && c->rq_done;

	if (page)
		hold_wake(w, app);
	conn_detach(c);
	conn_answer(c, page ? 503 : 204, page ?
	    wakepage_build(w->scratch, w->scratch_size, app->name, keep) :
	    wakepage_ready(w->scratch, w->scratch_size, keep), keep);
}

void
conn_wait_ready(struct proxy_conn *c)
{
	conn_wake_answer(c, false);
}

/* A request we will not forward: answer and close. */
static void
conn_reject(struct proxy_conn *c, int status, const char *why)
{
	stat_add(&c->s.w->stats.bad_requests, 1);
	log_debug("request refused", "peer=%s status=%d why=\"%s\"", c->peer,
	    status, why);
	c->keep = false;
	conn_fail(c, status, why, NULL);
}

static void
conn_timeout(struct proxy_conn *c)
{
	char detail[512];

	switch (c->state) {
	case CONN_IDLE:
	case CONN_LINGER:
		conn_close(c);
		break;
	case CONN_HEAD:
		c->keep = false;
		conn_fail(c, 408, "the request head did not arrive in time",
		    NULL);
		break;
	case CONN_HELD:
		snprintf(detail, sizeof(detail),
		    "app %s did not wake up in time", c->app->name);
		conn_fail(c, 504, detail, "Retry-After: 5\r\n");
		break;
	case CONN_CONNECT:
		if (c->queued != NULL) {
			snprintf(detail, sizeof(detail), "upstream %s: no "
			    "connection free in time", c->queued->addr);
			log_info("upstream queue timeout", "upstream=%s host=%s",
			    c->queued->addr, c->host);
			conn_fail(c, 504, detail, NULL);
			break;
		}
		snprintf(detail, sizeof(detail),
		    "upstream %s: connect timed out", c->up->pool->addr);
		stat_add(&c->s.w->stats.upstream_errors, 1);
		log_info("upstream connect failed", "upstream=%s err=timeout",
		    c->up->pool->addr);
		conn_fail(c, 504, detail, NULL);
		break;
	case CONN_EXCHANGE:
		if (c->rs_head_done) {
			conn_close(c);	/* mid-body: all we can do */
			break;
		}
		snprintf(detail, sizeof(detail),
		    "upstream %s did not answer in time", c->up->pool->addr);
		stat_add(&c->s.w->stats.upstream_errors, 1);
		log_info("upstream timeout", "upstream=%s host=%s",
		    c->up->pool->addr, c->host);
		c->keep = false;
		conn_fail(c, 504, detail, NULL);
		break;
	case CONN_TUNNEL:
		break;
	}
}

static void
conn_timer_cb(struct loop_timer *t)
{
	struct proxy_conn *c = (struct proxy_conn *)((char *)t -
	    offsetof(struct proxy_conn, timer));
	struct loop *l = &c->s.w->loop;

	if (c->deadline == 0)
		return;
	if (l->now < c->deadline) {
		loop_timer_start(l, t, c->deadline - l->now, conn_timer_cb);
		return;
	}
	c->deadline = 0;
	conn_timeout(c);
}

/*
 * Read interest, recomputed after every event: read each side while its
 * buffer has room. Bytes are only sent on once the other side's queue
 * is empty, so a slow reader stops us reading when the buffer fills,
 * and meanwhile the next bytes are already in.
 */
static void
conn_update(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;
	bool full = stream_avail(&c->s) >= w->bufs.size;
	bool on = true;

	switch (c->state) {
	case CONN_IDLE:
	case CONN_HEAD:
	case CONN_HELD:
	case CONN_CONNECT:
		on = !full;
		break;
	case CONN_EXCHANGE:
		/* A client that sent its whole request and said it sends
		 * nothing more is not read until the answer is out. */
		on = !full && !(c->up_wfail && !c->rq_done) &&
		    !(c->client_close && c->rq_done &&
		    stream_avail(&c->s) == 0);
		break;
	case CONN_TUNNEL:
		return;			/* tunnel.c decides */
	case CONN_LINGER:
		on = true;
		break;
	}
	stream_read(&c->s, on);
	/* an exchange's upstream is connected (conn_upstream_ready) */
	if (c->state == CONN_EXCHANGE && c->up != NULL)
		stream_read(&c->up->s, stream_avail(&c->up->s) <
		    w->bufs.size);
}

static void
conn_next(struct proxy_conn *c)
{
	if (stream_avail(&c->s) > 0) {
		conn_read_head(c);
		return;
	}
	stream_trim(&c->s);
	if (c->s.flags & STREAM_EOF) {
		conn_close(c);
		return;
	}
	conn_update(c);
}

/* Lower-cased host without port or trailing dot, into c->host. */
static size_t
conn_set_host(struct proxy_conn *c, const char *src, struct http_span h)
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

static void
conn_route(struct proxy_conn *c, const struct http_msg *m, size_t head_len)
{
	struct proxy_worker *w = c->s.w;
	struct proxy_buf *in = c->s.in;
	const char *src = in->data + in->start;
	const struct route *r;
	struct headers_req_ctx ctx = {c->peer, "http"};
	char detail[512];
	size_t hlen;
	ssize_t n;

	c->minor = m->minor;
	c->is_head = m->is_head;
	c->upgrade = http_wants_upgrade(m);
	c->keep = http_keep_alive(m);
	c->client_close = !c->keep;
	if (m->flags & HTTP_F_CHUNKED)
		http_body_init(&c->rq, HTTP_BODY_CHUNKED, 0);
	else
		http_body_init(&c->rq, HTTP_BODY_LENGTH,
		    m->content_length > 0 ? (uint64_t)m->content_length : 0);
	c->rq_done = c->rq.kind == HTTP_BODY_NONE;
	/* what a stale pooled connection lets us send again: a request
	 * with no body whose method says a second copy does no harm */
	c->rq_retryable = c->rq_done && (m->flags & HTTP_F_IDEMPOTENT);
	c->rs_started = c->rs_head_done = c->rs_done = false;
	c->retried = false;
	c->up_wfail = false;
	c->served++;
	hlen = conn_set_host(c, src, m->host);

	r = route_lookup(w->routes, c->host, hlen);
	if (r == NULL) {
		in->start += (uint32_t)head_len;
		snprintf(detail, sizeof(detail), "no route for domain %s",
		    c->host);
		conn_fail(c, 404, detail, NULL);
		return;
	}
	if ((c->rqhead = buf_get(&w->bufs)) == NULL) {
		conn_close(c);
		return;
	}
	n = headers_request(c->rqhead->data, w->bufs.size, src, m, &ctx);
	if (n < 0) {
		conn_reject(c, 431, "header fields too large");
		return;
	}
	c->rqhead->end = (uint32_t)n;
	in->start += (uint32_t)head_len;

	if (r->kind == TARGET_STATIC) {
		conn_forward(c, r->addr);
		return;
	}
	c->app = r->app;
	atomic_fetch_add_explicit(&c->app->inflight, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->app->requests_total, 1,
	    memory_order_relaxed);
	c->wait_only = wakepage_is_wait(src, m);
	if (r->running && c->wait_only)
		conn_wait_ready(c);
	else if (r->running)
		conn_forward(c, r->addr);
	else if (!c->wait_only && atomic_load(&c->app->wake_page) &&
	    wakepage_wanted(src, m))
		conn_wake_answer(c, true);
	else
		hold_add(c, c->app);
}

static void
conn_read_head(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;
	struct proxy_buf *in = c->s.in;
	struct http_err err;
	ssize_t n;

	/* RFC 9112 2.2: empty lines before a request line are ignored. */
	if (c->state == CONN_IDLE && in != NULL)
		while (in->start < in->end && (in->data[in->start] == '\r' ||
		    in->data[in->start] == '\n'))
			in->start++;
	if (stream_avail(&c->s) == 0) {
		conn_next(c);
		return;
	}
	if (c->state == CONN_IDLE) {
		c->state = CONN_HEAD;
		c->scan = 0;
		if (c->served > 0)
			conn_arm(c,
			    (uint64_t)conn_cfg(c)->proxy.header_timeout_ms);
	}
	n = http_head_find(in->data + in->start, in->end - in->start,
	    &w->px->limits, &c->scan, &err);
	if (n < 0) {
		conn_reject(c, err.status, err.why);
		return;
	}
	if (n == 0) {
		if (c->s.flags & STREAM_EOF)
			conn_close(c);
		else
			conn_update(c);
		return;
	}
	if (http_parse_request(in->data + in->start, (size_t)n,
	    &w->px->limits, &w->msg, &err) < 0) {
		conn_reject(c, err.status, err.why);
		return;
	}
	conn_route(c, &w->msg, (size_t)n);
}

void
conn_forward(struct proxy_conn *c, const char *addr)
{
	char detail[512];
	const char *why;
	int rc;

	c->state = CONN_CONNECT;
	rc = upstream_acquire(c->s.w, c, addr, &c->up, &why);
	if (rc < 0) {
		snprintf(detail, sizeof(detail), "upstream %s: %s", addr, why);
		stat_add(&c->s.w->stats.upstream_errors, 1);
		log_info("upstream connect failed", "upstream=%s err=\"%s\"",
		    addr, why);
		conn_fail(c, 502, detail, NULL);
		return;
	}
	if (rc == 1) {
		conn_upstream_ready(c, 0);
		return;
	}
	/* Connecting or queued: connect_timeout_ms bounds each wait. */
	conn_arm(c, (uint64_t)conn_cfg(c)->proxy.connect_timeout_ms);
	conn_update(c);
}

void
conn_upstream_ready(struct proxy_conn *c, int status)
{
	struct proxy_buf *in = c->s.in;
	uv_buf_t b[2];
	unsigned n = 0;
	int rc;

	if (status < 0) {
		char detail[512];

		snprintf(detail, sizeof(detail),
		    "upstream %s: connect failed: %s", c->up->pool->addr,
		    uv_strerror(status));
		stat_add(&c->s.w->stats.upstream_errors, 1);
		log_info("upstream connect failed", "upstream=%s err=\"%s\"",
		    c->up->pool->addr, uv_strerror(status));
		c->up = NULL;		/* upstream.c closes it */
		conn_fail(c, 502, detail, NULL);
		return;
	}
	c->state = CONN_EXCHANGE;
	c->scan = 0;
	c->up_wfail = false;
	c->t_start = c->s.w->loop.now_us;
	conn_arm(c, (uint64_t)conn_cfg(c)->proxy.upstream_timeout_ms);
	b[n++] = uv_buf_init(c->rqhead->data, c->rqhead->end);
	if (!c->rq_done && in != NULL && in->end > in->start) {
		size_t used;
		int r = http_body_scan(&c->rq, in->data + in->start,
		    in->end - in->start, &used);

		if (r < 0) {
			c->keep = false;
			conn_fail(c, 400, "bad chunked body", NULL);
			return;
		}
		b[n++] = uv_buf_init(in->data + in->start, (unsigned)used);
		in->start += (uint32_t)used;
		c->rq_done = r == 1;
	}
	if ((rc = stream_send(&c->up->s, b, n)) < 0) {
		conn_upstream_wfail(c, rc);
		return;
	}
	/* Keep the head only while a stale pooled connection may make us
	 * send it again on a fresh one. */
	if (!(c->rq_retryable && c->up->uses > 1 && !c->retried))
		conn_drop_head(c);
	if (!c->rq_done && (c->s.flags & STREAM_EOF) && stream_avail(&c->s)
	    == 0) {
		conn_close(c);
		return;
	}
	conn_update(c);
}

/*
 * The upstream stopped taking the request (it answered early and closed,
 * say). Its answer may already be on the way: stop sending, keep
 * reading, and let the read side decide.
 */
static void
conn_upstream_wfail(struct proxy_conn *c, int err)
{
	log_debug("upstream write failed", "upstream=%s err=\"%s\"",
	    c->up->pool->addr, uv_strerror(err));
	c->up_wfail = true;
	c->keep = false;
	conn_update(c);
}

static void
conn_pump_request(struct proxy_conn *c)
{
	struct proxy_buf *in = c->s.in;
	size_t used;
	uv_buf_t b;
	int r, rc;

	if (!c->rq_done && !c->up_wfail && c->up->s.queued == 0 &&
	    in != NULL && in->end > in->start) {
		r = http_body_scan(&c->rq, in->data + in->start,
		    in->end - in->start, &used);
		if (r < 0) {
			if (c->rs_started) {
				conn_close(c);
			} else {
				c->keep = false;
				conn_fail(c, 400, "bad chunked body", NULL);
			}
			return;
		}
		b = uv_buf_init(in->data + in->start, (unsigned)used);
		in->start += (uint32_t)used;
		c->rq_done = r == 1;
		if ((rc = stream_send(&c->up->s, &b, 1)) < 0) {
			conn_upstream_wfail(c, rc);
			return;
		}
	}
	if (!c->rq_done && (c->s.flags & STREAM_EOF) &&
	    stream_avail(&c->s) == 0) {
		conn_close(c);		/* the client gave up mid-body */
		return;
	}
	conn_update(c);
}

static void
conn_exchange_end(struct proxy_conn *c)
{
	struct proxy_up *up = c->up;
	bool reuse = c->up_keep && c->rq_done &&
	    stream_avail(&up->s) == 0 && !(up->s.flags & STREAM_EOF);

	c->up = NULL;
	upstream_release(up, reuse);
	conn_app_done(c);
	conn_drop_head(c);
	conn_settle(c, c->keep && c->rq_done);
}

/* The upstream failed or closed before the exchange was complete. */
static void
conn_upstream_broken(struct proxy_conn *c, int err)
{
	char addr[MSG_ADDR_MAX], detail[512];

	snprintf(addr, sizeof(addr), "%s", c->up->pool->addr);
	if (c->rs_started) {
		log_info("upstream broke mid-response", "upstream=%s err=\"%s\"",
		    addr, uv_strerror(err));
		stat_add(&c->s.w->stats.upstream_errors, 1);
		conn_close(c);
		return;
	}
	if (c->rqhead != NULL) {
		/* a pooled connection the upstream had closed meanwhile */
		upstream_release(c->up, false);
		c->up = NULL;
		c->retried = true;
		stat_add(&c->s.w->stats.upstream_retries, 1);
		conn_forward(c, addr);
		return;
	}
	stat_add(&c->s.w->stats.upstream_errors, 1);
	log_info("upstream closed without answering", "upstream=%s err=\"%s\"",
	    addr, uv_strerror(err));
	snprintf(detail, sizeof(detail),
	    "upstream %s closed the connection without answering", addr);
	c->keep = false;
	conn_fail(c, 502, detail, NULL);
}

static void
conn_bad_response(struct proxy_conn *c, const char *why)
{
	char detail[512];

	stat_add(&c->s.w->stats.upstream_errors, 1);
	log_info("bad upstream response", "upstream=%s why=\"%s\"",
	    c->up->pool->addr, why);
	snprintf(detail, sizeof(detail), "upstream %s sent a bad response: %s",
	    c->up->pool->addr, why);
	c->keep = false;
	conn_fail(c, 502, detail, NULL);
}

/*
 * The response head at the front of the upstream's buffer. Returns 1 when
 * one was handled, 0 when more bytes are needed, -1 when C left the
 * exchange (answered, tunneling or closed).
 */
static int
conn_response_head(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;
	struct proxy_buf *in = c->up->s.in;
	const char *src = in->data + in->start;
	struct http_msg *m = &w->msg;
	struct http_err err;
	enum http_body_kind kind;
	uint64_t len = 0;
	size_t used = 0;
	uv_buf_t b[2];
	ssize_t n, hl;
	int r = 0;

	n = http_head_find(src, in->end - in->start, &w->px->limits, &c->scan,
	    &err);
	if (n < 0) {
		conn_bad_response(c, "head too large");
		return -1;
	}
	if (n == 0)
		return 0;
	c->rs_started = true;
	conn_drop_head(c);
	if (http_parse_response(src, (size_t)n, m, &err) < 0) {
		conn_bad_response(c, err.why);
		return -1;
	}
	if (m->status < 200) {
		if (m->status == 101) {
			if (!c->upgrade) {
				conn_bad_response(c, "101 without Upgrade");
				return -1;
			}
			hl = headers_response(w->scratch, w->scratch_size, src,
			    m, true, c->minor, true);
			if (hl < 0) {
				conn_bad_response(c, "head too large");
				return -1;
			}
			stats_count(w, 101, w->loop.now_us - c->t_start);
			in->start += (uint32_t)n;
			b[0] = uv_buf_init(w->scratch, (unsigned)hl);
			if (conn_write(c, b, 1, false) == 0)
				tunnel_start(c);
			return -1;
		}
		/* interim answers (100 Continue) go to HTTP/1.1 clients */
		in->start += (uint32_t)n;
		c->scan = 0;
		if (c->minor == 1) {
			b[0] = uv_buf_init((char *)src, (unsigned)n);
			if (conn_write(c, b, 1, false) < 0)
				return -1;
		}
		return 1;
	}

	if (c->is_head || m->status == 204 || m->status == 304) {
		kind = HTTP_BODY_NONE;
	} else if (m->flags & HTTP_F_CHUNKED) {
		kind = HTTP_BODY_CHUNKED;
	} else if ((m->flags & HTTP_F_TE) || m->content_length < 0) {
		kind = HTTP_BODY_CLOSE;
	} else {
		kind = HTTP_BODY_LENGTH;
		len = (uint64_t)m->content_length;
	}
	http_body_init(&c->rs, kind, len);
	c->up_keep = http_keep_alive(m) && kind != HTTP_BODY_CLOSE;
	/* An answer before the whole request (an early 413, say) ends the
	 * connection: the rest of the request cannot be told apart. */
	c->keep = c->keep && kind != HTTP_BODY_CLOSE && c->rq_done &&
	    !(c->s.flags & STREAM_EOF) && !w->stopping &&
	    !(c->minor == 0 && kind == HTTP_BODY_CHUNKED);
	hl = headers_response(w->scratch, w->scratch_size, src, m, c->keep,
	    c->minor, false);
	if (hl < 0) {
		conn_bad_response(c, "head too large");
		return -1;
	}
	c->rs_head_done = true;
	stats_count(w, m->status, w->loop.now_us - c->t_start);
	in->start += (uint32_t)n;
	if (in->end > in->start) {
		r = http_body_scan(&c->rs, in->data + in->start,
		    in->end - in->start, &used);
		if (r < 0) {
			conn_bad_response(c, "bad chunked body");
			return -1;
		}
	} else {
		r = c->rs.kind == HTTP_BODY_NONE;
	}
	b[0] = uv_buf_init(w->scratch, (unsigned)hl);
	b[1] = uv_buf_init(in->data + in->start, (unsigned)used);
	in->start += (uint32_t)used;
	c->rs_done = r == 1;
	if (conn_write(c, b, used > 0 ? 2 : 1, c->rs_done && !c->keep) < 0)
		return -1;
	return 1;
}

static void
conn_pump_response(struct proxy_conn *c)
{
	struct proxy_up *up = c->up;
	size_t used;
	uv_buf_t b;
	int r;

	while (!c->rs_done && stream_avail(&up->s) > 0) {
		struct proxy_buf *in = up->s.in;

		if (!c->rs_head_done) {
			if ((r = conn_response_head(c)) < 0)
				return;
			if (r == 0)
				break;
			continue;
		}
		if (c->s.queued > 0)
			break;
		r = http_body_scan(&c->rs, in->data + in->start,
		    in->end - in->start, &used);
		if (r < 0) {
			log_info("bad upstream response",
			    "upstream=%s why=\"bad chunked body\"",
			    up->pool->addr);
			conn_close(c);
			return;
		}
		b = uv_buf_init(in->data + in->start, (unsigned)used);
		in->start += (uint32_t)used;
		c->rs_done = r == 1;
		if (conn_write(c, &b, 1, c->rs_done && !c->keep) < 0)
			return;
	}
	if (!c->rs_done && (up->s.flags & STREAM_EOF) &&
	    stream_avail(&up->s) == 0) {
		if (c->rs_head_done && c->rs.kind == HTTP_BODY_CLOSE) {
			c->rs_done = true;
		} else {
			conn_upstream_broken(c, UV_EOF);
			return;
		}
	}
	if (c->rs_done) {
		conn_exchange_end(c);
		return;
	}
	stream_trim(&up->s);
	conn_update(c);
}

void
conn_upstream_read(struct proxy_conn *c, int status)
{
	if (c->state == CONN_TUNNEL) {
		tunnel_pump(c, status);
		return;
	}
	if (c->state != CONN_EXCHANGE)
		return;
	if (status < 0 && status != UV_EOF) {
		conn_upstream_broken(c, status);
		return;
	}
	conn_touch(c, (uint64_t)conn_cfg(c)->proxy.upstream_timeout_ms);
	conn_pump_response(c);
}

void
conn_upstream_drain(struct proxy_conn *c, int status)
{
	if (status < 0) {
		if (c->state == CONN_EXCHANGE)
			conn_upstream_wfail(c, status);
		else
			conn_upstream_read(c, status);
		return;
	}
	if (c->state == CONN_TUNNEL)
		tunnel_pump(c, 0);
	else if (c->state == CONN_EXCHANGE)
		conn_pump_request(c);
}

static void
conn_client_read(struct proxy_stream *s, int status)
{
	struct proxy_conn *c = s->owner;

	if (status < 0 && status != UV_EOF) {
		conn_close(c);
		return;
	}
	switch (c->state) {
	case CONN_IDLE:
	case CONN_HEAD:
		if (c->s.queued > 0)
			conn_update(c);	/* our last answer first */
		else
			conn_read_head(c);
		break;
	case CONN_EXCHANGE:
		conn_touch(c,
		    (uint64_t)conn_cfg(c)->proxy.upstream_timeout_ms);
		conn_pump_request(c);
		break;
	case CONN_TUNNEL:
		tunnel_pump(c, status);
		break;
	case CONN_HELD:
		if (status == UV_EOF)
			conn_close(c);	/* gave up waiting: leave the queue */
		else
			conn_update(c);
		break;
	case CONN_CONNECT:
		if (status == UV_EOF && c->queued != NULL)
			conn_close(c);	/* gave up waiting: leave the queue */
		else
			conn_update(c);
		break;
	case CONN_LINGER:
		if (c->s.in != NULL)
			c->s.in->start = c->s.in->end;
		stream_trim(&c->s);
		if (status == UV_EOF)
			conn_close(c);
		break;
	}
}

static void
conn_client_drain(struct proxy_stream *s, int status)
{
	struct proxy_conn *c = s->owner;

	if (status < 0) {
		conn_close(c);
		return;
	}
	switch (c->state) {
	case CONN_EXCHANGE:
		conn_pump_response(c);
		break;
	case CONN_TUNNEL:
		tunnel_pump(c, 0);
		break;
	case CONN_IDLE:
		conn_next(c);
		break;
	case CONN_LINGER:
		/* the queue is out, and the shutdown queued after it */
		if (conn_client_done(c))
			conn_close(c);
		break;
	default:
		break;
	}
}

void
conn_accept(struct proxy_worker *w, int fd, const struct sockaddr *peer)
{
	struct proxy *px = w->px;
	struct proxy_conn *c;

	stat_add(&w->stats.accepted, 1);
	if (atomic_fetch_add_explicit(&px->conns, 1, memory_order_relaxed) >=
	    px->cfg->proxy.max_connections) {
		atomic_fetch_sub_explicit(&px->conns, 1, memory_order_relaxed);
		stat_add(&w->stats.refused, 1);
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		atomic_fetch_sub_explicit(&px->conns, 1, memory_order_relaxed);
		close(fd);
		return;
	}
	stream_init(&c->s, w, c, conn_client_read, conn_client_drain,
	    conn_stream_closed);
	if (stream_open(&c->s, fd) < 0) {
		atomic_fetch_sub_explicit(&px->conns, 1, memory_order_relaxed);
		close(fd);
		free(c);
		return;
	}
	if (peer->sa_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)peer, c->peer,
		    sizeof(c->peer));
	else
		uv_ip4_name((const struct sockaddr_in *)peer, c->peer,
		    sizeof(c->peer));
	loop_timer_init(&c->timer);
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	stat_gauge(&w->stats.conns, 1);
	c->state = CONN_IDLE;
	conn_arm(c, (uint64_t)px->cfg->proxy.header_timeout_ms);
	stream_read(&c->s, true);
}

void
conn_close_all(struct proxy_worker *w)
{
	while (w->conns != NULL)
		conn_close(w->conns);
}
