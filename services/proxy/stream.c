/*
 * One TCP stream, either side of the proxy: a non-blocking socket,
 * registered once with the worker's loop, edge triggered, for reading
 * and writing, the first time it has to be waited for. An edge only
 * says "something changed", so the stream keeps what it learnt:
 * RD_READY until a read comes back short or EAGAIN, WR_READY until a
 * write does. Reading resumes, after a pause for backpressure, without
 * waiting for an event that will not come.
 *
 * Reads land in a pool buffer taken only when there is something to read
 * and given back as soon as it is empty. Writes go straight to the
 * socket; only what it would not take now is copied and queued, and the
 * owner stops reading the other side while anything is queued: that is
 * the whole backpressure scheme, and it bounds memory to about one
 * buffer per direction whatever the size of a body.
 */
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

#define STREAM_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
/* Reads in a row on one stream before letting the others have a turn. */
#define STREAM_READ_ROUNDS 8

struct stream_write {
	struct stream_write *next;
	size_t len;
	size_t off;			/* bytes of data[] already sent */
	char data[];
};

static void stream_io_cb(struct loop_io *io, uint32_t events);
static void stream_read_task(struct loop_task *t);

/* ---- plain TCP: the socket calls themselves */

static ssize_t
stream_tcp_recv(struct proxy_stream *s, char *buf, size_t len)
{
	return recv(s->io.fd, buf, len, 0);
}

static ssize_t
stream_tcp_send(struct proxy_stream *s, const uv_buf_t *bufs,
    unsigned nbufs, bool more)
{
	int flags = MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0);
	struct msghdr mh = {0};

	if (nbufs == 1)
		return send(s->io.fd, bufs[0].base, bufs[0].len, flags);
	/* uv_buf_t is laid out as struct iovec on Unix */
	mh.msg_iov = (struct iovec *)(uintptr_t)bufs;
	mh.msg_iovlen = nbufs;
	return sendmsg(s->io.fd, &mh, flags);
}

static void
stream_tcp_shutdown(struct proxy_stream *s)
{
	shutdown(s->io.fd, SHUT_WR);
}

const struct stream_ops stream_tcp_ops = {
	.recv = stream_tcp_recv,
	.send = stream_tcp_send,
	.shutdown = stream_tcp_shutdown,
	.short_read_drains = true,
};

/* ---- the stream */

void
stream_init(struct proxy_stream *s, struct proxy_worker *w, void *owner,
    stream_read_fn on_read, stream_drain_fn on_drain,
    stream_close_fn on_close)
{
	memset(s, 0, sizeof(*s));
	s->io.fd = -1;
	s->ops = &stream_tcp_ops;
	s->w = w;
	s->owner = owner;
	s->on_read = on_read;
	s->on_drain = on_drain;
	s->on_close = on_close;
}

static int
stream_watch(struct proxy_stream *s)
{
	if (!(s->flags & STREAM_UNWATCHED))
		return 0;
	if (loop_add(&s->w->loop, &s->io, s->io.fd, STREAM_EVENTS,
	    stream_io_cb) < 0)
		return uv_translate_sys_error(errno);
	s->flags &= ~STREAM_UNWATCHED;
	return 0;
}

/*
 * The stream waits for its socket: it wants to read and has found it
 * empty, or has bytes the socket would not take. An unwatched socket
 * joins the epoll set now; the kernel reports what is already pending.
 */
static int
stream_wait(struct proxy_stream *s)
{
	if ((s->flags & STREAM_CLOSING) || !((s->flags & STREAM_READING &&
	    !(s->flags & STREAM_RD_READY)) || s->queued > 0 ||
	    (s->flags & STREAM_CONNECTING)))
		return 0;
	return stream_watch(s);
}

int
stream_open(struct proxy_stream *s, int fd)
{
	s->io.fd = fd;
	s->io.cb = stream_io_cb;
	s->flags |= STREAM_UNWATCHED;
	if (s->flags & STREAM_CONNECTING)
		return stream_wait(s);
	/*
	 * An accepted socket is read at the end of this round, as if it had
	 * bytes (a client usually sends its request right after the
	 * handshake), rather than after a turn of the loop to hear so from
	 * epoll; it joins the epoll set when that read comes back short.
	 */
	s->flags |= STREAM_RD_READY | STREAM_WR_READY;
	return 0;
}

int
stream_connect(struct proxy_stream *s, const struct sockaddr *sa,
    stream_connect_fn on_connect)
{
	socklen_t len = sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd, one = 1, rc;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return uv_translate_sys_error(errno);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
		rc = uv_translate_sys_error(errno);
		close(fd);
		return rc;
	}
	/* Done or not, the result is read when the socket turns writable. */
	s->flags |= STREAM_CONNECTING;
	s->on_connect = on_connect;
	if ((rc = stream_open(s, fd)) < 0) {
		s->flags &= ~(STREAM_CONNECTING | STREAM_UNWATCHED);
		s->io.fd = -1;
		close(fd);
		return rc;
	}
	return 0;
}

/* Nothing to read for now: if the owner still wants bytes, the socket
 * is watched for them (an error in that is the owner's read error). */
static void
stream_await_read(struct proxy_stream *s)
{
	int rc = stream_wait(s);

	if (rc < 0) {
		s->flags &= ~STREAM_READING;
		s->on_read(s, rc);
	}
}

/*
 * Reads into the buffer and tells the owner, while the socket has more
 * and the owner still wants it (a few rounds at most, to stay fair to
 * the other connections; the rest is read at the end of the round).
 */
static void
stream_recv(struct proxy_stream *s)
{
	size_t size = s->w->bufs.size;

	for (int round = 0; round < STREAM_READ_ROUNDS; round++) {
		struct proxy_buf *b;
		size_t room;
		ssize_t n;

		if ((s->flags & (STREAM_READING | STREAM_RD_READY |
		    STREAM_CLOSING)) != (STREAM_READING | STREAM_RD_READY)) {
			stream_await_read(s);
			return;
		}
		if ((b = s->in) == NULL &&
		    (b = s->in = buf_get(&s->w->bufs)) == NULL) {
			s->flags &= ~STREAM_READING;
			s->on_read(s, UV_ENOBUFS);
			return;
		}
		if (b->start == b->end)
			b->start = b->end = 0;
		else if (b->end == size)
			buf_compact(b);
		if ((room = size - b->end) == 0) {
			s->flags &= ~STREAM_READING;	/* owner consumes */
			return;
		}
		n = s->ops->recv(s, b->data + b->end, room);
		if (n > 0) {
			/* a short read emptied the socket, unless a FIN or
			 * an error is known to follow */
			if ((size_t)n < room && s->ops->short_read_drains &&
			    !(s->flags & STREAM_RDHUP))
				s->flags &= ~STREAM_RD_READY;
			b->end += (uint32_t)n;
			s->on_read(s, 0);
			continue;
		}
		if (n == 0) {
			s->flags |= STREAM_EOF;
			s->flags &= ~(STREAM_READING | STREAM_RD_READY);
			stream_trim(s);
			s->on_read(s, UV_EOF);
		} else if (errno == EAGAIN || errno == EINTR) {
			s->flags &= ~STREAM_RD_READY;
			stream_trim(s);
			stream_await_read(s);
		} else {
			int err = uv_translate_sys_error(errno);

			s->flags &= ~(STREAM_READING | STREAM_RD_READY);
			stream_trim(s);
			s->on_read(s, err);
		}
		return;
	}
	/* rounds used up with bytes likely left: finish later this round */
	loop_post(&s->w->loop, &s->read_task, stream_read_task);
}

static void
stream_read_task(struct loop_task *t)
{
	struct proxy_stream *s = container_of(t, struct proxy_stream,
	    read_task);

	stream_recv(s);
}

void
stream_read(struct proxy_stream *s, bool on)
{
	if (s->flags & STREAM_CLOSING)
		return;
	if (!on || (s->flags & STREAM_EOF)) {
		s->flags &= ~STREAM_READING;
		return;
	}
	if (s->flags & STREAM_READING)
		return;
	s->flags |= STREAM_READING;
	/* Bytes that arrived while we were not reading made no new edge.
	 * A socket that cannot be watched is read too: the read reports
	 * the error. */
	if ((s->flags & STREAM_RD_READY) || stream_wait(s) < 0) {
		s->flags |= STREAM_RD_READY;
		loop_post(&s->w->loop, &s->read_task, stream_read_task);
	}
}

/* Sends what is queued. Returns 0 or a libuv error. */
static int
stream_flush(struct proxy_stream *s)
{
	while (s->wq != NULL) {
		struct stream_write *wr = s->wq;
		uv_buf_t b = uv_buf_init(wr->data + wr->off,
		    (unsigned)(wr->len - wr->off));
		ssize_t n = s->ops->send(s, &b, 1, false);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				s->flags &= ~STREAM_WR_READY;
				return 0;
			}
			return uv_translate_sys_error(errno);
		}
		wr->off += (size_t)n;
		s->queued -= (size_t)n;
		if (wr->off < wr->len) {
			s->flags &= ~STREAM_WR_READY;
			return 0;
		}
		s->wq = wr->next;
		if (s->wq == NULL)
			s->wq_tail = NULL;
		free(wr);
	}
	if (s->flags & STREAM_SHUT_PENDING) {
		s->flags &= ~STREAM_SHUT_PENDING;
		s->ops->shutdown(s);
	}
	return 0;
}

static void
stream_io_cb(struct loop_io *io, uint32_t events)
{
	struct proxy_stream *s = container_of(io, struct proxy_stream, io);
	int rc;

	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->flags |= STREAM_RD_READY;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->flags |= STREAM_RDHUP;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->flags |= STREAM_WR_READY;

	if (s->flags & STREAM_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(s->flags & STREAM_WR_READY))
			return;
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		s->flags &= ~STREAM_CONNECTING;
		s->on_connect(s, err != 0 ? uv_translate_sys_error(err) : 0);
		if (err != 0 || (s->flags & STREAM_CLOSING))
			return;
	}
	if ((s->flags & STREAM_WR_READY) && s->queued > 0) {
		if ((rc = stream_flush(s)) < 0) {
			s->on_drain(s, rc);
			return;
		}
		if (s->queued == 0)
			s->on_drain(s, 0);
		if (s->flags & STREAM_CLOSING)
			return;
	}
	stream_recv(s);
}

static int
stream_write(struct proxy_stream *s, const uv_buf_t *bufs, unsigned nbufs,
    bool more)
{
	struct stream_write *wr;
	size_t total = 0, done = 0, off = 0;

	if (s->flags & (STREAM_CLOSING | STREAM_SHUT))
		return UV_EPIPE;
	for (unsigned i = 0; i < nbufs; i++)
		total += bufs[i].len;
	if (total == 0)
		return 0;
	if (s->queued == 0 && (s->flags & STREAM_WR_READY)) {
		ssize_t n = s->ops->send(s, bufs, nbufs, more);

		if (n >= 0)
			done = (size_t)n;
		else if (errno != EAGAIN && errno != EINTR)
			return uv_translate_sys_error(errno);
		if (done == total)
			return 0;
		s->flags &= ~STREAM_WR_READY;
	}
	if ((wr = malloc(sizeof(*wr) + total - done)) == NULL)
		return UV_ENOMEM;
	wr->next = NULL;
	wr->len = total - done;
	wr->off = 0;
	for (unsigned i = 0; i < nbufs; i++) {
		size_t len = bufs[i].len, skip;

		if (done >= len) {
			done -= len;
			continue;
		}
		skip = done;
		done = 0;
		memcpy(wr->data + off, bufs[i].base + skip, len - skip);
		off += len - skip;
	}
	if (s->wq_tail != NULL)
		s->wq_tail->next = wr;
	else
		s->wq = wr;
	s->wq_tail = wr;
	s->queued += wr->len;
	return stream_wait(s);
}

int
stream_send(struct proxy_stream *s, const uv_buf_t *bufs, unsigned nbufs)
{
	return stream_write(s, bufs, nbufs, false);
}

int
stream_send_last(struct proxy_stream *s, const uv_buf_t *bufs,
    unsigned nbufs)
{
	/* MSG_MORE holds the bytes back until the owner's shutdown or
	 * close, so the answer and the FIN leave in one segment. */
	return stream_write(s, bufs, nbufs, true);
}

void
stream_shutdown(struct proxy_stream *s)
{
	if (s->flags & (STREAM_SHUT | STREAM_CLOSING) || s->io.fd < 0)
		return;
	s->flags |= STREAM_SHUT;
	if (s->queued > 0)
		s->flags |= STREAM_SHUT_PENDING;	/* after the queue */
	else
		s->ops->shutdown(s);
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
stream_free_task(struct loop_task *t)
{
	struct proxy_stream *s = container_of(t, struct proxy_stream,
	    free_task);

	if (s->read_task.queued) {
		/* a read was posted for the next round: free after it */
		loop_defer(&s->w->loop, &s->free_task, stream_free_task);
		return;
	}
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
	while (s->wq != NULL) {
		struct stream_write *wr = s->wq;

		s->wq = wr->next;
		free(wr);
	}
	s->wq_tail = NULL;
	s->queued = 0;
	buf_put(&s->w->bufs, s->in);
	s->in = NULL;
	if (s->io.fd >= 0)
		close(s->io.fd);	/* also leaves the epoll set */
	s->io.fd = -1;
	loop_defer(&s->w->loop, &s->free_task, stream_free_task);
}
