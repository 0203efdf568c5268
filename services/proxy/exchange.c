/*
 * One HTTP exchange on a client connection, once dispatch.c has chosen
 * where it goes: the request head, rewritten there, is sent with the
 * body streamed behind it; the response head is parsed and rewritten,
 * its body relayed as it arrives. What the exchange holds lives in
 * struct exchange, cleared in one step when the next request begins;
 * conn.c owns the connection around it.
 *
 * A request is sent again on a fresh connection only when a pooled one
 * turns out stale and the request may safely go twice (rq_retryable);
 * any other upstream failure before the answer began is one error page
 * (exchange_upstream_error). After the answer began, all we can do is
 * close.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "proxy.h"

/* Body pieces one relay may send at once when removing chunk framing. */
#define EXCHANGE_DECHUNK_BUFS 16

static const struct config *
exchange_cfg(const struct proxy_conn *c)
{
	return c->s.w->px->cfg;
}

static void
exchange_drop_head(struct proxy_conn *c)
{
	buf_put(&c->s.w->bufs, c->ex.rqhead);
	c->ex.rqhead = NULL;
}

/*
 * The upstream ADDR failed this exchange before any of its answer went
 * to the client: count it, log MSG, and answer STATUS with a page that
 * says "upstream ADDR" and then WHY. A failure after the request went
 * out (EXCHANGE) ends the client connection too: what the upstream did
 * with the rest of it is unknown.
 */
static void __attribute__((format(printf, 5, 6)))
exchange_upstream_error(struct proxy_conn *c, int status, const char *addr,
    const char *msg, const char *fmt, ...)
{
	char why[256], detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(detail, sizeof(detail), "upstream %s%s", addr, why);
	stat_add(&c->s.w->stats.upstream_errors, 1);
	log_info(msg, "upstream=%s host=%s status=%d why=\"%s\"", addr,
	    c->host, status, why[0] == ':' ? why + 2 : why + 1);
	if (c->state == CONN_EXCHANGE)
		c->ex.keep = false;
	conn_fail(c, status, detail, NULL);
}

void
exchange_forward(struct proxy_conn *c, struct upstream_group *g)
{
	const char *why;
	int rc;

	c->state = CONN_CONNECT;
	rc = balance_acquire(g, c, &c->ex.up, &why);
	if (rc < 0) {
		exchange_upstream_error(c, 502, balance_name(g),
		    "upstream connect failed", ": %s", why);
		return;
	}
	if (rc == 1) {
		exchange_upstream_ready(c, 0);
		return;
	}
	/* Connecting or queued: connect_timeout_ms bounds each wait. */
	conn_arm(c, (uint64_t)exchange_cfg(c)->proxy.connect_timeout_ms);
	conn_update(c);
}

/*
 * The upstream stopped taking the request (it answered early and closed,
 * say). Its answer may already be on the way: stop sending, keep
 * reading, and let the read side decide.
 */
static void
exchange_upstream_wfail(struct proxy_conn *c, int err)
{
	log_debug("upstream write failed", "upstream=%s err=\"%s\"",
	    c->ex.up->pool->addr, uv_strerror(err));
	c->ex.up_wfail = true;
	c->ex.keep = false;
	conn_update(c);
}

/*
 * C's member refused its connection, did not connect in time, or did
 * not answer an idempotent request in time: it goes into backoff and,
 * if the group has another member this request has not failed on, the
 * request goes there (it was not sent, or may be sent twice).
 * RELEASE: give the connection back here (else upstream.c closes it).
 * Returns true when C was sent on.
 */
static bool
exchange_try_other(struct proxy_conn *c, const char *what, const char *why,
    bool release)
{
	struct exchange *ex = &c->ex;
	struct upstream_pool *p = ex->up->pool;
	struct upstream_group *g = p->g;

	balance_backoff(p);
	if (++ex->tries >= g->ncur || !balance_has_other(g, p))
		return false;
	log_info("upstream instance failed, trying another",
	    "upstream=%s instance=%s host=%s why=\"%s: %s\"", p->addr, p->id,
	    c->host, what, why);
	stat_add(&c->s.w->stats.upstream_errors, 1);
	if (release)
		upstream_release(ex->up, false);
	ex->up = NULL;
	ex->avoid = p;
	exchange_forward(c, g);
	return true;
}

void
exchange_upstream_ready(struct proxy_conn *c, int status)
{
	struct exchange *ex = &c->ex;
	struct proxy_buf *in = c->s.in;
	uv_buf_t b[2];
	unsigned n = 0;
	int rc;

	if (status < 0) {
		char addr[MSG_ADDR_MAX];

		snprintf(addr, sizeof(addr), "%s", ex->up->pool->addr);
		if (exchange_try_other(c, "connect failed", uv_strerror(status),
		    false))
			return;
		ex->up = NULL;		/* upstream.c closes it */
		exchange_upstream_error(c, 502, addr, "upstream connect failed",
		    ": connect failed: %s", uv_strerror(status));
		return;
	}
	c->state = CONN_EXCHANGE;
	ex->rs_scan = 0;
	ex->up_wfail = false;
	ex->t_start = c->s.w->loop.now_us;
	conn_arm(c, (uint64_t)exchange_cfg(c)->proxy.upstream_timeout_ms);
	b[n++] = uv_buf_init(ex->rqhead->data, ex->rqhead->end);
	if (!ex->rq_done && in != NULL && in->end > in->start) {
		size_t used;
		int r = http_body_scan(&ex->rq, in->data + in->start,
		    in->end - in->start, &used);

		if (r < 0) {
			ex->keep = false;
			conn_fail(c, 400, "bad chunked body", NULL);
			return;
		}
		b[n++] = uv_buf_init(in->data + in->start, (unsigned)used);
		in->start += (uint32_t)used;
		ex->rq_done = r == 1;
	}
	if ((rc = stream_send(&ex->up->s, b, n)) < 0) {
		exchange_upstream_wfail(c, rc);
		return;
	}
	/* Keep the head only while it may be sent again: on a fresh
	 * connection if this pooled one turns out stale, or to another
	 * member if this one does not answer in time. */
	if (!(ex->rq_retryable && ((ex->up->uses > 1 && !ex->retried) ||
	    ex->up->pool->g->ncur > 1)))
		exchange_drop_head(c);
	if (!ex->rq_done && (c->s.flags & STREAM_EOF) && stream_avail(&c->s)
	    == 0) {
		conn_close(c);
		return;
	}
	conn_update(c);
}

void
exchange_pump_request(struct proxy_conn *c)
{
	struct exchange *ex = &c->ex;
	struct proxy_buf *in = c->s.in;
	size_t used;
	uv_buf_t b;
	int r, rc;

	if (!ex->rq_done && !ex->up_wfail && ex->up->s.queued == 0 &&
	    in != NULL && in->end > in->start) {
		r = http_body_scan(&ex->rq, in->data + in->start,
		    in->end - in->start, &used);
		if (r < 0) {
			if (ex->rs_started) {
				conn_close(c);
			} else {
				ex->keep = false;
				conn_fail(c, 400, "bad chunked body", NULL);
			}
			return;
		}
		b = uv_buf_init(in->data + in->start, (unsigned)used);
		in->start += (uint32_t)used;
		ex->rq_done = r == 1;
		if ((rc = stream_send(&ex->up->s, &b, 1)) < 0) {
			exchange_upstream_wfail(c, rc);
			return;
		}
	}
	if (!ex->rq_done && (c->s.flags & STREAM_EOF) &&
	    stream_avail(&c->s) == 0) {
		conn_close(c);		/* the client gave up mid-body */
		return;
	}
	conn_update(c);
}

static void
exchange_end(struct proxy_conn *c)
{
	struct exchange *ex = &c->ex;
	struct upstream_conn *up = ex->up;
	bool reuse = ex->up_keep && ex->rq_done &&
	    stream_avail(&up->s) == 0 && !(up->s.flags & STREAM_EOF);

	ex->up = NULL;
	upstream_release(up, reuse);
	conn_detach(c);
	conn_settle(c, ex->keep && ex->rq_done);
}

/* The upstream failed or closed before the exchange was complete. */
static void
exchange_upstream_broken(struct proxy_conn *c, int err)
{
	struct exchange *ex = &c->ex;
	char addr[MSG_ADDR_MAX];

	snprintf(addr, sizeof(addr), "%s", ex->up->pool->addr);
	if (ex->rs_started) {
		log_info("upstream broke mid-response", "upstream=%s err=\"%s\"",
		    addr, uv_strerror(err));
		stat_add(&c->s.w->stats.upstream_errors, 1);
		conn_close(c);
		return;
	}
	if (ex->rqhead != NULL) {
		/* a pooled connection the upstream had closed meanwhile: the
		 * same member again, on a fresh connection */
		struct upstream_group *g = ex->up->pool->g;

		upstream_release(ex->up, false);
		ex->up = NULL;
		ex->retried = true;
		stat_add(&c->s.w->stats.upstream_retries, 1);
		exchange_forward(c, g);
		return;
	}
	exchange_upstream_error(c, 502, addr,
	    "upstream closed without answering",
	    " closed the connection without answering (%s)",
	    uv_strerror(err));
}

static void
exchange_bad_response(struct proxy_conn *c, const char *why)
{
	exchange_upstream_error(c, 502, c->ex.up->pool->addr,
	    "bad upstream response", " sent a bad response: %s", why);
}

/*
 * Takes the body bytes at the front of IN: *NB pieces in B to send to
 * the client, the chunk framing left out when the client speaks
 * HTTP/1.0. Returns as http_body_scan.
 */
static int
exchange_body_take(struct exchange *ex, struct proxy_buf *in, uv_buf_t *b,
    unsigned max, unsigned *nb)
{
	struct http_span d;
	size_t used;
	int r = 0;

	*nb = 0;
	if (!ex->rs_dechunk) {
		r = http_body_scan(&ex->rs, in->data + in->start,
		    in->end - in->start, &used);
		if (r >= 0 && used > 0)
			b[(*nb)++] = uv_buf_init(in->data + in->start,
			    (unsigned)used);
		if (r >= 0)
			in->start += (uint32_t)used;
		return r;
	}
	while (r == 0 && *nb < max && in->start < in->end) {
		r = http_body_dechunk(&ex->rs, in->data + in->start,
		    in->end - in->start, &used, &d);
		if (r < 0)
			return r;
		if (d.len > 0)
			b[(*nb)++] = uv_buf_init(in->data + in->start + d.off,
			    d.len);
		in->start += (uint32_t)used;
	}
	return r;
}

/* A 1xx answer at the front of IN (N bytes; M parsed). Returns 1, or
 * -1 when C left the exchange (tunneling or closed). */
static int
exchange_interim(struct proxy_conn *c, struct proxy_buf *in,
    const struct http_msg *m, size_t n)
{
	struct proxy_worker *w = c->s.w;
	const char *src = in->data + in->start;
	uv_buf_t b;
	ssize_t hl;

	if (m->status == 101) {
		if (!c->ex.upgrade) {
			exchange_bad_response(c, "101 without Upgrade");
			return -1;
		}
		hl = headers_response(w->scratch, w->scratch_size, src, m,
		    true, c->ex.minor, true);
		if (hl < 0) {
			exchange_bad_response(c, "head too large");
			return -1;
		}
		stats_count(w, 101, w->loop.now_us - c->ex.t_start);
		in->start += (uint32_t)n;
		b = uv_buf_init(w->scratch, (unsigned)hl);
		if (conn_write(c, &b, 1, false) == 0)
			tunnel_start(c);
		return -1;
	}
	/* interim answers (100 Continue) go to HTTP/1.1 clients */
	in->start += (uint32_t)n;
	c->ex.rs_scan = 0;
	if (c->ex.minor == 1) {
		b = uv_buf_init((char *)src, (unsigned)n);
		if (conn_write(c, &b, 1, false) < 0)
			return -1;
	}
	return 1;
}

/*
 * The response head at the front of the upstream's buffer. Returns 1 when
 * one was handled, 0 when more bytes are needed, -1 when C left the
 * exchange (answered, tunneling or closed).
 */
static int
exchange_response_head(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;
	struct exchange *ex = &c->ex;
	struct proxy_buf *in = ex->up->s.in;
	const char *src = in->data + in->start;
	struct http_msg *m = &w->msg;
	struct http_err err;
	enum http_body_kind kind;
	uint64_t len = 0;
	uv_buf_t b[1 + EXCHANGE_DECHUNK_BUFS];
	unsigned nb = 0;
	ssize_t n, hl;
	int r = 0;

	n = http_head_find(src, in->end - in->start, &w->px->limits,
	    &ex->rs_scan, &err);
	if (n < 0) {
		exchange_bad_response(c, "head too large");
		return -1;
	}
	if (n == 0)
		return 0;
	ex->rs_started = true;
	exchange_drop_head(c);
	if (http_parse_response(src, (size_t)n, m, &err) < 0) {
		exchange_bad_response(c, err.why);
		return -1;
	}
	if (m->status < 200)
		return exchange_interim(c, in, m, (size_t)n);

	if (ex->is_head || m->status == 204 || m->status == 304) {
		kind = HTTP_BODY_NONE;
	} else if (m->flags & HTTP_F_CHUNKED) {
		kind = HTTP_BODY_CHUNKED;
	} else if ((m->flags & HTTP_F_TE) || m->content_length < 0) {
		kind = HTTP_BODY_CLOSE;
	} else {
		kind = HTTP_BODY_LENGTH;
		len = (uint64_t)m->content_length;
	}
	http_body_init(&ex->rs, kind, len);
	ex->rs_dechunk = ex->minor == 0 && kind == HTTP_BODY_CHUNKED;
	ex->up_keep = http_keep_alive(m) && kind != HTTP_BODY_CLOSE;
	/* An answer before the whole request (an early 413, say) ends the
	 * connection: the rest of the request cannot be told apart. A
	 * chunked answer to HTTP/1.0 loses its framing: the connection's
	 * end marks the body's. */
	ex->keep = ex->keep && kind != HTTP_BODY_CLOSE && ex->rq_done &&
	    !(c->s.flags & STREAM_EOF) && !w->stopping && !ex->rs_dechunk;
	hl = headers_response(w->scratch, w->scratch_size, src, m, ex->keep,
	    ex->minor, false);
	if (hl < 0) {
		exchange_bad_response(c, "head too large");
		return -1;
	}
	ex->rs_head_done = true;
	stats_count(w, m->status, w->loop.now_us - ex->t_start);
	in->start += (uint32_t)n;
	b[0] = uv_buf_init(w->scratch, (unsigned)hl);
	if (in->end > in->start) {
		r = exchange_body_take(ex, in, b + 1, EXCHANGE_DECHUNK_BUFS,
		    &nb);
		if (r < 0) {
			exchange_bad_response(c, "bad chunked body");
			return -1;
		}
	} else {
		r = ex->rs.kind == HTTP_BODY_NONE;
	}
	ex->rs_done = r == 1;
	if (conn_write(c, b, 1 + nb, ex->rs_done && !ex->keep) < 0)
		return -1;
	return 1;
}

void
exchange_pump_response(struct proxy_conn *c)
{
	struct exchange *ex = &c->ex;
	struct upstream_conn *up = ex->up;
	uv_buf_t b[EXCHANGE_DECHUNK_BUFS];
	unsigned nb;
	int r;

	while (!ex->rs_done && stream_avail(&up->s) > 0) {
		if (!ex->rs_head_done) {
			if ((r = exchange_response_head(c)) < 0)
				return;
			if (r == 0)
				break;
			continue;
		}
		if (c->s.queued > 0)
			break;
		r = exchange_body_take(ex, up->s.in, b, EXCHANGE_DECHUNK_BUFS,
		    &nb);
		if (r < 0) {
			log_info("bad upstream response",
			    "upstream=%s why=\"bad chunked body\"",
			    up->pool->addr);
			conn_close(c);
			return;
		}
		ex->rs_done = r == 1;
		if (conn_write(c, b, nb, ex->rs_done && !ex->keep) < 0)
			return;
	}
	if (!ex->rs_done && (up->s.flags & STREAM_EOF) &&
	    stream_avail(&up->s) == 0) {
		if (ex->rs_head_done && ex->rs.kind == HTTP_BODY_CLOSE) {
			ex->rs_done = true;
		} else {
			exchange_upstream_broken(c, UV_EOF);
			return;
		}
	}
	if (ex->rs_done) {
		exchange_end(c);
		return;
	}
	stream_trim(&up->s);
	conn_update(c);
}

void
exchange_upstream_read(struct proxy_conn *c, int status)
{
	if (c->state == CONN_TUNNEL) {
		tunnel_pump(c, status);
		return;
	}
	if (c->state != CONN_EXCHANGE)
		return;
	if (status < 0 && status != UV_EOF) {
		exchange_upstream_broken(c, status);
		return;
	}
	conn_touch(c, (uint64_t)exchange_cfg(c)->proxy.upstream_timeout_ms);
	exchange_pump_response(c);
}

void
exchange_upstream_drain(struct proxy_conn *c, int status)
{
	if (status < 0) {
		if (c->state == CONN_EXCHANGE)
			exchange_upstream_wfail(c, status);
		else
			exchange_upstream_read(c, status);
		return;
	}
	if (c->state == CONN_TUNNEL)
		tunnel_pump(c, 0);
	else if (c->state == CONN_EXCHANGE)
		exchange_pump_request(c);
}

void
exchange_timeout(struct proxy_conn *c)
{
	struct exchange *ex = &c->ex;
	char detail[512];

	if (c->state == CONN_CONNECT && ex->queued != NULL) {
		snprintf(detail, sizeof(detail), "upstream %s: no connection "
		    "free in time", balance_name(ex->queued));
		log_info("upstream queue timeout", "upstream=%s host=%s",
		    balance_name(ex->queued), c->host);
		conn_fail(c, 504, detail, NULL);
		return;
	}
	if (c->state == CONN_CONNECT) {
		if (exchange_try_other(c, "connect", "timed out", true))
			return;
		exchange_upstream_error(c, 504, ex->up->pool->addr,
		    "upstream connect failed", ": connect timed out");
		return;
	}
	if (ex->rs_head_done) {
		conn_close(c);		/* mid-body: all we can do */
		return;
	}
	/* nothing of the answer yet, and the request may go twice */
	if (!ex->rs_started && ex->rqhead != NULL &&
	    exchange_try_other(c, "answer", "timed out", true))
		return;
	exchange_upstream_error(c, 504, ex->up->pool->addr, "upstream timeout",
	    " did not answer in time");
}
