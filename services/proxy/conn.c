/*
 * A client connection: its life from accept to close. It carries one
 * exchange at a time (exchange.c): read a request head, hand it to the
 * exchange, then either take the next request (keep-alive; pipelined
 * requests wait in the read buffer, so answers go out in order) or close.
 *
 *   IDLE -> HEAD -> [HELD ->] CONNECT -> EXCHANGE -> IDLE ...
 *                                           \-> TUNNEL (101)
 *   any error answer -> LINGER (flush, shut down, drain, close)
 *
 * State x event: what each event does in each state ("-": cannot
 * happen; "update": recompute read interest, nothing else).
 *
 *            client bytes   client EOF     client drained  upstream     timer
 *                                                          event
 *  IDLE      read head      close          next request    -            close
 *  HEAD      read head      close          -               -            408
 *  HELD      update         close (gave    -               -            504
 *                           up waiting)
 *  CONNECT   update         close if       -               connected:   504
 *                           queued                         EXCHANGE /
 *                                                          failed: 502
 *  EXCHANGE  pump request   pump request   pump response   pump         504 before
 *                           (mid-body:                     response     the answer,
 *                           close)                                      else close
 *  TUNNEL    pump both      pump both      pump both       pump both    -
 *  LINGER    discard        close          close if done   -            close
 *
 * Outside events: the app woke (hold_done: HELD -> CONNECT, or its
 * error page), a slot freed in the upstream's queue (the dispatch task,
 * at the end of the round: CONNECT -> CONNECT with a connection). A
 * socket error on the client closes in any state.
 *
 * Bodies are never buffered whole: bytes read on one side are written to
 * the other at once, and a side is not read while the other has writes
 * queued (conn_update). One timer per connection serves every timeout;
 * it is re-armed lazily, so the warm path rarely touches the timer heap.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"

#define CONN_LINGER_MS 2000
/* Closed connections a worker keeps for the next ones: calloc and free
 * were 300 of the 8,600 instructions of a one-request connection. */
#define CONN_FREE_MAX 256

static void conn_timer_cb(struct loop_timer *t);
static void conn_read_head(struct proxy_conn *c);
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

void
conn_touch(struct proxy_conn *c, uint64_t ms)
{
	c->deadline = c->s.w->loop.now + ms;
}

/* A cleared connection object: a kept one, or a new one. */
static struct proxy_conn *
conn_new(struct proxy_worker *w)
{
	struct proxy_conn *c = w->conn_free;

	if (c == NULL)
		return calloc(1, sizeof(*c));
	w->conn_free = LIST_NEXT(c, link);	/* the free list's link */
	w->nconn_free--;
	memset(c, 0, sizeof(*c));
	return c;
}

/* The end of C's memory: kept for the next connection, unless the worker
 * stops (conn_close_all frees what is kept). */
static void
conn_stream_closed(struct proxy_stream *s)
{
	struct proxy_conn *c = s->owner;
	struct proxy_worker *w = s->w;

	if (w->stopping || w->nconn_free >= CONN_FREE_MAX) {
		free(c);
		return;
	}
	LIST_NEXT(c, link) = w->conn_free;
	w->conn_free = c;
	w->nconn_free++;
}

void
conn_detach(struct proxy_conn *c)
{
	struct exchange *ex = &c->ex;

	if (c->state == CONN_HELD)
		hold_remove(c);
	balance_unqueue(c);
	if (ex->up != NULL) {
		upstream_release(ex->up, false);
		ex->up = NULL;
	}
	if (ex->app != NULL) {
		atomic_fetch_sub_explicit(&ex->app->inflight, 1,
		    memory_order_relaxed);
		if (c->state == CONN_TUNNEL)
			atomic_fetch_sub_explicit(&ex->app->tunnels, 1,
			    memory_order_relaxed);
		ex->app = NULL;
	}
	buf_put(&c->s.w->bufs, ex->rqhead);
	ex->rqhead = NULL;
}

void
conn_close(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;

	if (c->closing)
		return;
	c->closing = true;
	conn_detach(c);
	LIST_REMOVE(c, link);
	stat_gauge(&w->stats.conns, -1);
	atomic_fetch_sub_explicit(&w->px->conns, 1, memory_order_relaxed);
	loop_timer_stop(&w->loop, &c->timer);
	stream_close(&c->s);		/* frees C at the end of the round */
	if (w->draining)
		worker_drain_check(w);
}

/*
 * True when nothing more can come from the client: it said so with its
 * request, which was read whole, and no byte of anything else is
 * buffered or known to be waiting in the socket.
 */
static bool
conn_client_done(const struct proxy_conn *c)
{
	return (c->s.flags & STREAM_EOF) || (c->ex.client_close &&
	    c->ex.rq_done && stream_avail(&c->s) == 0 &&
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

int
conn_write(struct proxy_conn *c, const uv_buf_t *b, unsigned n, bool last)
{
	if ((last ? stream_send_last(&c->s, b, n) : stream_send(&c->s, b,
	    n)) < 0) {
		conn_close(c);
		return -1;
	}
	return 0;
}

void
conn_settle(struct proxy_conn *c, bool keep)
{
	c->state = CONN_IDLE;
	if (c->s.w->draining)
		keep = false;		/* the proxy is stopping */
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

/* Sends the proxy's own answer, LEN bytes in the worker's scratch. */
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
	bool keep = c->ex.keep && c->ex.rq_done;

	conn_detach(c);
	conn_answer(c, status, page_build(w->scratch, w->scratch_size, status,
	    detail, extra, keep), keep);
}

void
conn_wake_answer(struct proxy_conn *c, bool page)
{
	struct proxy_worker *w = c->s.w;
	struct proxy_app *app = c->ex.app;	/* outlives conn_detach */
	bool keep = c->ex.keep && c->ex.rq_done;

	if (page)
		hold_wake(w, app, c->host);
	conn_detach(c);
	conn_answer(c, page ? 503 : 204, page ?
	    wakepage_build(w->scratch, w->scratch_size, app->name, keep) :
	    wakepage_ready(w->scratch, w->scratch_size, keep), keep);
}

void
conn_reject(struct proxy_conn *c, int status, const char *why)
{
	stat_add(&c->s.w->stats.bad_requests, 1);
	log_debug("request refused", "peer=%s status=%d why=\"%s\"", c->peer,
	    status, why);
	c->ex.keep = false;
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
		c->ex.keep = false;
		conn_fail(c, 408, "the request head did not arrive in time",
		    NULL);
		break;
	case CONN_HELD:
		if (c->ex.app->kind == PROXY_POOL)
			snprintf(detail, sizeof(detail), "pool %s did not "
			    "lease a member to %s in time", c->ex.app->name,
			    c->host);
		else
			snprintf(detail, sizeof(detail),
			    "app %s did not wake up in time", c->ex.app->name);
		conn_fail(c, 504, detail, "Retry-After: 5\r\n");
		break;
	case CONN_CONNECT:
	case CONN_EXCHANGE:
		exchange_timeout(c);
		break;
	case CONN_TUNNEL:
		break;
	}
}

static void
conn_timer_cb(struct loop_timer *t)
{
	struct proxy_conn *c = container_of(t, struct proxy_conn, timer);
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
void
conn_update(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;
	const struct exchange *ex = &c->ex;
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
		on = !full && !(ex->up_wfail && !ex->rq_done) &&
		    !(ex->client_close && ex->rq_done &&
		    stream_avail(&c->s) == 0);
		break;
	case CONN_TUNNEL:
		return;			/* tunnel.c decides */
	case CONN_LINGER:
		on = true;
		break;
	}
	stream_read(&c->s, on);
	/* an exchange's upstream is connected (exchange_upstream_ready) */
	if (c->state == CONN_EXCHANGE && ex->up != NULL)
		stream_read(&ex->up->s, stream_avail(&ex->up->s) <
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
	c->served++;
	dispatch_request(c, &w->msg, (size_t)n);
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
		exchange_pump_request(c);
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
		if (status == UV_EOF && c->ex.queued != NULL)
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
		exchange_pump_response(c);
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
	case CONN_HEAD:
	case CONN_HELD:
	case CONN_CONNECT:
		/* an answer drained before this request: nothing waits */
		break;
	}
}

/*
 * PEER's address as text, for X-Forwarded-For and logs. IPv4 by hand:
 * uv_ip4_name goes through snprintf, and was a sixth of the
 * instructions the proxy spent on a one-request connection.
 */
static void
conn_peer_name(struct proxy_conn *c, const struct sockaddr *peer)
{
	const unsigned char *b;
	char *o = c->peer;

	if (peer->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)peer, c->peer,
		    sizeof(c->peer));
		return;
	}
	b = (const unsigned char *)&((const struct sockaddr_in *)peer)->
	    sin_addr;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		*o++ = i < 3 ? '.' : '\0';
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
	if ((c = conn_new(w)) == NULL) {
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
	conn_peer_name(c, peer);
	loop_timer_init(&c->timer);
	LIST_INSERT_HEAD(&w->conns, c, link);
	stat_gauge(&w->stats.conns, 1);
	c->state = CONN_IDLE;
	conn_arm(c, (uint64_t)px->cfg->proxy.header_timeout_ms);
	stream_read(&c->s, true);
}

void
conn_close_all(struct proxy_worker *w)
{
	struct proxy_conn *c;

	while (!LIST_EMPTY(&w->conns))
		conn_close(LIST_FIRST(&w->conns));
	while ((c = w->conn_free) != NULL) {
		w->conn_free = LIST_NEXT(c, link);
		free(c);
	}
	w->nconn_free = 0;
}
