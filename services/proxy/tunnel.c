/*
 * Upgraded connections (WebSocket and any other protocol a 101 switches
 * to): from then on the proxy copies bytes both ways, untouched, for as
 * long as either side keeps its half open. An EOF from one side shuts
 * the other side's write half once everything before it was written;
 * the tunnel closes when both halves are done or either side fails.
 * The app stays counted as active for the tunnel's whole life.
 */
#include "proxy.h"

/* Moves what FROM has read to TO. Returns 0 or a libuv error. */
static int
tunnel_pipe(struct proxy_stream *from, struct proxy_stream *to)
{
	size_t n = stream_avail(from);
	int rc;

	if (n > 0 && to->queued == 0) {
		uv_buf_t b = uv_buf_init(from->in->data + from->in->start,
		    (unsigned)n);

		if ((rc = stream_send(to, &b, 1)) < 0)
			return rc;
		from->in->start += (uint32_t)n;
		stream_trim(from);
	}
	if ((from->flags & STREAM_EOF) && stream_avail(from) == 0)
		stream_shutdown(to);
	stream_read(from, stream_avail(from) < from->w->bufs.size);
	return 0;
}

void
tunnel_pump(struct proxy_conn *c, int status)
{
	struct proxy_stream *a = &c->s, *b = &c->ex.up->s;

	if ((status < 0 && status != UV_EOF) || tunnel_pipe(a, b) < 0 ||
	    tunnel_pipe(b, a) < 0) {
		conn_close(c);
		return;
	}
	if ((a->flags & STREAM_EOF) && (b->flags & STREAM_EOF) &&
	    a->queued == 0 && b->queued == 0)
		conn_close(c);
}

void
tunnel_start(struct proxy_conn *c)
{
	c->state = CONN_TUNNEL;
	c->deadline = 0;		/* no timeout: it lives as long as used */
	stat_add(&c->s.w->stats.upgrades, 1);
	if (c->ex.app != NULL)		/* conn_detach takes it back */
		atomic_fetch_add_explicit(&c->ex.app->tunnels, 1,
		    memory_order_relaxed);
	/* a long-lived tunnel must not starve the app's requests */
	upstream_uncount(c->ex.up);
	tunnel_pump(c, 0);
}
