/*
 * One TCP stream, either side of the proxy: a non-blocking socket we own,
 * watched by a uv_poll handle, read with recv(2) and written with
 * send(2)/sendmsg(2) directly. (libuv's stream layer goes through
 * read/write/writev and costs measurably more per request; the proxy
 * needs nothing else from it.)
 *
 * Reads land in a pool buffer taken only when the socket is readable and
 * given back as soon as it is empty. Writes go straight to the socket;
 * only what it would not take now is copied and queued, and the owner
 * stops reading the other side while anything is queued: that is the
 * whole backpressure scheme, and it bounds memory to about one buffer
 * per direction whatever the size of a body.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

struct stream_write {
	struct stream_write *next;
	size_t len;
	size_t off;			/* bytes of data[] already sent */
	char data[];
};

static void stream_poll_cb(uv_poll_t *h, int status, int events);

/* Re-registers the events we want: readable while reading, writable
 * while connecting or while writes are queued. */
static void
stream_watch(struct proxy_stream *s)
{
	int ev = 0;

	if (s->flags & STREAM_CLOSING)
		return;
	if (s->flags & STREAM_READING)
		ev |= UV_READABLE;
	if (s->queued > 0 || (s->flags & STREAM_CONNECTING))
		ev |= UV_WRITABLE;
	if (ev == s->events)
		return;
	s->events = ev;
	if (ev == 0)
		uv_poll_stop(&s->poll);
	else
		uv_poll_start(&s->poll, ev, stream_poll_cb);
}

void
stream_init(struct proxy_stream *s, struct proxy_worker *w, void *owner,
    stream_read_fn on_read, stream_drain_fn on_drain,
    stream_close_fn on_close)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->w = w;
	s->owner = owner;
	s->on_read = on_read;
	s->on_drain = on_drain;
	s->on_close = on_close;
}

int
stream_open(struct proxy_stream *s, int fd)
{
	int rc;

	if ((rc = uv_poll_init_socket(&s->w->loop, &s->poll, fd)) < 0)
		return rc;
	s->poll.data = s;
	s->fd = fd;
	s->flags |= STREAM_OPEN;
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
	if ((rc = stream_open(s, fd)) < 0) {
		close(fd);
		return rc;
	}
	/* Done or not, the result is read when the socket turns writable. */
	s->on_connect = on_connect;
	s->flags |= STREAM_CONNECTING;
	stream_watch(s);
	return 0;
}

/*
 * Reads into the buffer and tells the owner. A read that filled all the
 * room there was probably left more in the socket: read again at once
 * (a few times at most, to stay fair to other connections) rather than
 * going back to the poll for it.
 */
#define STREAM_READ_ROUNDS 8

static void
stream_recv(struct proxy_stream *s)
{
	size_t size = s->w->bufs.size;

	for (int round = 0; round < STREAM_READ_ROUNDS; round++) {
		struct proxy_buf *b = s->in;
		size_t room;
		ssize_t n;

		if (b == NULL && (b = s->in = buf_get(&s->w->bufs)) == NULL) {
			stream_read(s, false);
			s->on_read(s, UV_ENOBUFS);
			return;
		}
		if (b->start == b->end)
			b->start = b->end = 0;
		else if (b->end == size)
			buf_compact(b);
		if ((room = size - b->end) == 0) {
			stream_read(s, false);	/* the owner must consume */
			return;
		}
		n = recv(s->fd, b->data + b->end, room, 0);
		if (n > 0) {
			b->end += (uint32_t)n;
			s->on_read(s, 0);
			if ((size_t)n < room || (s->flags & (STREAM_CLOSING |
			    STREAM_READING)) != STREAM_READING)
				return;
			continue;
		}
		if (n == 0) {
			s->flags |= STREAM_EOF;
			stream_read(s, false);
			stream_trim(s);
			s->on_read(s, UV_EOF);
		} else if (errno == EAGAIN || errno == EINTR) {
			stream_trim(s);
		} else {
			int err = uv_translate_sys_error(errno);

			stream_read(s, false);
			stream_trim(s);
			s->on_read(s, err);
		}
		return;
	}
}

void
stream_read_now(struct proxy_stream *s)
{
	if ((s->flags & STREAM_READING) && !(s->flags & STREAM_CLOSING))
		stream_recv(s);
}

void
stream_read(struct proxy_stream *s, bool on)
{
	if (s->flags & STREAM_CLOSING)
		return;
	if (on && !(s->flags & STREAM_EOF))
		s->flags |= STREAM_READING;
	else
		s->flags &= ~STREAM_READING;
	stream_watch(s);
}

/* Sends what is queued. Returns 0 or a libuv error. */
static int
stream_flush(struct proxy_stream *s)
{
	while (s->wq != NULL) {
		struct stream_write *wr = s->wq;
		ssize_t n = send(s->fd, wr->data + wr->off, wr->len - wr->off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return uv_translate_sys_error(errno);
		}
		wr->off += (size_t)n;
		s->queued -= (size_t)n;
		if (wr->off < wr->len)
			return 0;
		s->wq = wr->next;
		if (s->wq == NULL)
			s->wq_tail = NULL;
		free(wr);
	}
	if (s->flags & STREAM_SHUT_PENDING) {
		s->flags &= ~STREAM_SHUT_PENDING;
		shutdown(s->fd, SHUT_WR);
	}
	return 0;
}

static void
stream_poll_cb(uv_poll_t *h, int status, int events)
{
	struct proxy_stream *s = h->data;
	int rc;

	/* On POLLERR libuv stops the handle and says UV_EBADF: the socket's
	 * own error (or the data still queued before it) is what counts. */
	if (status < 0) {
		s->events = 0;
		events = UV_READABLE | UV_WRITABLE;
	}
	if (s->flags & STREAM_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0 && status < 0)
			err = ECONNREFUSED;
		s->flags &= ~STREAM_CONNECTING;
		stream_watch(s);
		s->on_connect(s, err != 0 ? uv_translate_sys_error(err) : 0);
		return;
	}
	if ((events & UV_WRITABLE) && s->queued > 0) {
		if ((rc = stream_flush(s)) < 0) {
			s->on_drain(s, rc);
			return;
		}
		if (s->queued == 0) {
			stream_watch(s);
			s->on_drain(s, 0);
		}
		if (s->flags & STREAM_CLOSING)
			return;
	}
	if ((events & (UV_READABLE | UV_DISCONNECT)) &&
	    (s->flags & STREAM_READING))
		stream_recv(s);
	if (status < 0)
		stream_watch(s);	/* re-arm what libuv stopped */
}

int
stream_send(struct proxy_stream *s, const uv_buf_t *bufs, unsigned nbufs)
{
	struct stream_write *wr;
	size_t total = 0, done = 0, off = 0;

	if (s->flags & (STREAM_CLOSING | STREAM_SHUT))
		return UV_EPIPE;
	for (unsigned i = 0; i < nbufs; i++)
		total += bufs[i].len;
	if (total == 0)
		return 0;
	if (s->queued == 0) {
		ssize_t n;

		if (nbufs == 1) {
			n = send(s->fd, bufs[0].base, bufs[0].len,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			struct msghdr mh = {0};

			/* uv_buf_t is laid out as struct iovec on Unix */
			mh.msg_iov = (struct iovec *)(uintptr_t)bufs;
			mh.msg_iovlen = nbufs;
			n = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		if (n >= 0)
			done = (size_t)n;
		else if (errno != EAGAIN && errno != EINTR)
			return uv_translate_sys_error(errno);
		if (done == total)
			return 0;
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
	stream_watch(s);
	return 0;
}

void
stream_shutdown(struct proxy_stream *s)
{
	if (s->flags & (STREAM_SHUT | STREAM_CLOSING) || s->fd < 0)
		return;
	s->flags |= STREAM_SHUT;
	if (s->queued > 0)
		s->flags |= STREAM_SHUT_PENDING;	/* after the queue */
	else
		shutdown(s->fd, SHUT_WR);
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
stream_release(struct proxy_stream *s)
{
	while (s->wq != NULL) {
		struct stream_write *wr = s->wq;

		s->wq = wr->next;
		free(wr);
	}
	s->wq_tail = NULL;
	s->queued = 0;
	buf_put(&s->w->bufs, s->in);
	s->in = NULL;
}

static void
stream_close_cb(uv_handle_t *h)
{
	struct proxy_stream *s = h->data;

	stream_release(s);
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
	if (!(s->flags & STREAM_OPEN)) {
		/* never opened: nothing to wait for */
		stream_release(s);
		if (s->on_close != NULL)
			s->on_close(s);
		return;
	}
	uv_close((uv_handle_t *)&s->poll, stream_close_cb);
	close(s->fd);		/* uv_close stopped polling it */
	s->fd = -1;
}
