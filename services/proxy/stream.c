/*
 * One TCP stream, either side of the proxy. Reads land in a pool buffer
 * taken only when the socket is readable and given back as soon as it is
 * empty. Writes go straight to the socket (uv_try_write); only what the
 * socket would not take now is copied and queued, and the owner stops
 * reading the other side while anything is queued: that is the whole
 * backpressure scheme, and it bounds memory to about one buffer per
 * direction whatever the size of a body.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

struct stream_write {
	uv_write_t req;
	size_t len;
	char data[];
};

static void
stream_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct proxy_stream *s = h->data;
	struct proxy_buf *b = s->in;

	(void)suggested;
	if (b == NULL && (b = s->in = buf_get(&s->w->bufs)) == NULL) {
		*buf = uv_buf_init(NULL, 0);	/* read_cb gets UV_ENOBUFS */
		return;
	}
	if (b->start == b->end)
		b->start = b->end = 0;
	else if (b->end == s->w->bufs.size)
		buf_compact(b);
	*buf = uv_buf_init(b->data + b->end, (unsigned)(s->w->bufs.size -
	    b->end));
}

static void
stream_read_cb(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
	struct proxy_stream *s = h->data;

	(void)buf;
	if (n > 0) {
		s->in->end += (uint32_t)n;
		s->on_read(s, 0);
	} else if (n == 0) {
		stream_trim(s);		/* EAGAIN: nothing to keep */
	} else {
		if (n == UV_EOF)
			s->flags |= STREAM_EOF;
		stream_read(s, false);
		stream_trim(s);
		s->on_read(s, (int)n);
	}
}

int
stream_init(struct proxy_stream *s, struct proxy_worker *w, void *owner,
    stream_read_fn on_read, stream_drain_fn on_drain,
    stream_close_fn on_close)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->w = w;
	s->owner = owner;
	s->on_read = on_read;
	s->on_drain = on_drain;
	s->on_close = on_close;
	if ((rc = uv_tcp_init(&w->loop, &s->tcp)) < 0)
		return rc;
	s->tcp.data = s;
	s->flags = STREAM_OPEN;
	return 0;
}

void
stream_read(struct proxy_stream *s, bool on)
{
	if (s->flags & STREAM_CLOSING)
		return;
	if (on && !(s->flags & (STREAM_READING | STREAM_EOF))) {
		if (uv_read_start((uv_stream_t *)&s->tcp, stream_alloc_cb,
		    stream_read_cb) == 0)
			s->flags |= STREAM_READING;
	} else if (!on && (s->flags & STREAM_READING)) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->flags &= ~STREAM_READING;
	}
}

static void
stream_write_cb(uv_write_t *req, int status)
{
	struct stream_write *wr = (struct stream_write *)req;
	struct proxy_stream *s = req->handle->data;

	s->queued -= wr->len;
	free(wr);
	if (s->flags & STREAM_CLOSING)
		return;
	if (status < 0)
		s->on_drain(s, status);
	else if (s->queued == 0)
		s->on_drain(s, 0);
}

int
stream_send(struct proxy_stream *s, const uv_buf_t *bufs, unsigned nbufs)
{
	struct stream_write *wr;
	size_t total = 0, done = 0, off = 0;
	uv_buf_t b;
	int rc;

	if (s->flags & (STREAM_CLOSING | STREAM_SHUT))
		return UV_EPIPE;
	for (unsigned i = 0; i < nbufs; i++)
		total += bufs[i].len;
	if (total == 0)
		return 0;
	if (s->queued == 0) {
		rc = uv_try_write((uv_stream_t *)&s->tcp, bufs, nbufs);
		if (rc >= 0)
			done = (size_t)rc;
		else if (rc != UV_EAGAIN)
			return rc;
		if (done == total)
			return 0;
	}
	if ((wr = malloc(sizeof(*wr) + total - done)) == NULL)
		return UV_ENOMEM;
	wr->len = total - done;
	for (unsigned i = 0; i < nbufs; i++) {
		size_t len = bufs[i].len, skip = 0;

		if (done >= len) {
			done -= len;
			continue;
		}
		skip = done;
		done = 0;
		memcpy(wr->data + off, bufs[i].base + skip, len - skip);
		off += len - skip;
	}
	b = uv_buf_init(wr->data, (unsigned)wr->len);
	if ((rc = uv_write(&wr->req, (uv_stream_t *)&s->tcp, &b, 1,
	    stream_write_cb)) < 0) {
		free(wr);
		return rc;
	}
	s->queued += wr->len;
	return 0;
}

static void
stream_shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)status;
	free(req);
}

void
stream_shutdown(struct proxy_stream *s)
{
	uv_shutdown_t *req;

	if (s->flags & (STREAM_SHUT | STREAM_CLOSING))
		return;
	s->flags |= STREAM_SHUT;
	if ((req = malloc(sizeof(*req))) == NULL)
		return;
	if (uv_shutdown(req, (uv_stream_t *)&s->tcp, stream_shutdown_cb) < 0)
		free(req);
}

void
stream_trim(struct proxy_stream *s)
{
	if (s->in != NULL && s->in->start == s->in->end) {
		buf_put(&s->w->bufs, s->in);
		s->in = NULL;
	}
}

static void
stream_close_cb(uv_handle_t *h)
{
	struct proxy_stream *s = h->data;

	buf_put(&s->w->bufs, s->in);
	s->in = NULL;
	if (s->on_close != NULL)
		s->on_close(s);
}

void
stream_close(struct proxy_stream *s)
{
	if (s->flags & STREAM_CLOSING)
		return;
	s->flags |= STREAM_CLOSING;
	s->flags &= ~STREAM_READING;
	uv_close((uv_handle_t *)&s->tcp, stream_close_cb);
}
