/*
 * The message bus seen from a daemon (see bus.h for the model).
 *
 * Receiving: nng exposes a file descriptor that is readable while a
 * message waits (NNG_OPT_RECVFD). We poll it on the daemon's libuv loop
 * and drain with non-blocking receives, so handlers run on the loop
 * thread and may use everything the loop owns.
 *
 * Calling: bus_call() runs a req0 context per call; its aio callback (an
 * nng thread) only moves the finished call onto a locked list and wakes
 * the loop with uv_async, where the caller's callback runs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus.h"
#include "log.h"
#include "metrics.h"

#define BUS_MAX_PEERS 8		/* distinct URLs bus_call talks to */

static struct metric m_published = METRIC_COUNTER(
    "devcloud_bus_published_total", "Events published by this daemon.");
static struct metric m_received = METRIC_COUNTER(
    "devcloud_bus_received_total", "Events received by this daemon.");
static struct metric m_malformed = METRIC_COUNTER(
    "devcloud_bus_malformed_total",
    "Messages dropped because they did not decode.");
static struct metric m_commands = METRIC_COUNTER(
    "devcloud_bus_commands_total", "Commands received by this daemon.");
static pthread_once_t bus_metrics_once = PTHREAD_ONCE_INIT;

struct bus_request {
	nng_msg *msg;		/* the request; its header routes the reply */
};

struct bus_call {
	struct bus *bus;
	nng_ctx ctx;
	nng_aio *aio;
	bool receiving;
	int result;		/* nng error, 0 if a reply came */
	nng_msg *reply;
	bus_reply_cb cb;
	void *arg;
	char url[CONFIG_ADDR_MAX];
	struct bus_call *next;	/* on the done list */
	struct bus_call *inext;	/* on the in-flight list */
};

struct bus_peer {
	char url[CONFIG_ADDR_MAX];
	nng_socket sock;
};

/* A socket whose receive fd is polled on the loop. */
struct bus_poll {
	struct bus *bus;
	nng_socket sock;
	uv_poll_t poll;
	bool active;
	void (*on_msg)(struct bus *b, nng_msg *msg);
};

struct bus {
	uv_loop_t *loop;
	char source[MSG_NAME_MAX * 2];
	int max_msg;

	nng_socket pub;
	struct bus_poll sub;
	struct bus_poll ctl;
	bool have_ctl;
	_Atomic int pub_pipes;
	_Atomic int sub_pipes;

	struct bus_peer peers[BUS_MAX_PEERS];
	int npeers;

	uv_async_t wake;
	pthread_mutex_t lock;
	struct bus_call *done;		/* finished calls, under lock */
	struct bus_call *inflight;	/* loop thread only */

	bus_event_cb on_event;
	bus_command_cb on_command;
	void *arg;
};

static void
bus_metrics_init(void)
{
	metrics_register(&m_published);
	metrics_register(&m_received);
	metrics_register(&m_malformed);
	metrics_register(&m_commands);
}

static void
bus_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	_Atomic int *count = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(count, 1);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_fetch_sub(count, 1);
}

/*
 * Gives an event socket BUS_QUEUE_MSGS of queue. What nng still drops
 * beyond it cannot be counted here: pub0 and sub0 discard their oldest
 * queued message without an error, a return code or a statistic.
 */
static int
bus_set_queue(nng_socket s, const char *opt, char *err, size_t errlen)
{
	int rv;

	if ((rv = nng_socket_set_int(s, opt, BUS_QUEUE_MSGS)) != 0) {
		snprintf(err, errlen, "cannot set bus %s to %d: %s", opt,
		    BUS_QUEUE_MSGS, nng_strerror(rv));
		return -1;
	}
	return 0;
}

/* Redial fast: a restarted broker or daemon is found within a second. */
static void
bus_set_reconnect(nng_socket s)
{
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000);
}

static void
bus_poll_cb(uv_poll_t *h, int status, int events)
{
	struct bus_poll *bp = h->data;
	nng_msg *msg;
	int rv;

	(void)status;
	(void)events;
	/* Drain; bounded so one busy socket cannot starve the loop. */
	for (int i = 0; i < 256; i++) {
		rv = nng_recvmsg(bp->sock, &msg, NNG_FLAG_NONBLOCK);
		if (rv != 0) {
			if (rv != NNG_EAGAIN && rv != NNG_ECLOSED)
				log_warn("bus receive failed", "err=\"%s\"",
				    nng_strerror(rv));
			return;
		}
		bp->on_msg(bp->bus, msg);
	}
}

static int
bus_poll_start(struct bus *b, struct bus_poll *bp, char *err, size_t errlen)
{
	int fd, rv;

	bp->bus = b;
	if ((rv = nng_socket_get_int(bp->sock, NNG_OPT_RECVFD, &fd)) != 0) {
		snprintf(err, errlen, "cannot poll bus socket: %s",
		    nng_strerror(rv));
		return -1;
	}
	uv_poll_init(b->loop, &bp->poll, fd);
	bp->poll.data = bp;
	bp->active = true;
	uv_poll_start(&bp->poll, UV_READABLE, bus_poll_cb);
	return 0;
}

static void
bus_on_event(struct bus *b, nng_msg *msg)
{
	struct msg m;
	char err[256];

	if (msg_decode(&m, nng_msg_body(msg), nng_msg_len(msg), err,
	    sizeof(err)) != 0) {
		metric_add(&m_malformed, 1);
		log_warn("bus message dropped", "why=\"%s\" bytes=%zu", err,
		    nng_msg_len(msg));
	} else {
		metric_add(&m_received, 1);
		if (b->on_event != NULL)
			b->on_event(b, &m, b->arg);
	}
	nng_msg_free(msg);
}

static void
bus_on_command(struct bus *b, nng_msg *msg)
{
	struct bus_request *req;
	struct msg m;
	char err[256];

	metric_add(&m_commands, 1);
	if ((req = malloc(sizeof(*req))) == NULL) {
		nng_msg_free(msg);
		return;
	}
	req->msg = msg;
	if (msg_decode(&m, nng_msg_body(msg), nng_msg_len(msg), err,
	    sizeof(err)) != 0) {
		metric_add(&m_malformed, 1);
		log_warn("bad command", "why=\"%s\" bytes=%zu", err,
		    nng_msg_len(msg));
		bus_reply_error(b, req, err);
		return;
	}
	if (b->on_command == NULL) {
		bus_reply_error(b, req, "no commands here");
		return;
	}
	b->on_command(b, req, &m, b->arg);
}

static void bus_calls_drain(uv_async_t *h);

struct bus *
bus_open(uv_loop_t *loop, const struct config *cfg, const char *source,
    const char *control, bus_event_cb on_event, bus_command_cb on_command,
    void *arg, char *err, size_t errlen)
{
	struct bus *b;
	int rv;

	pthread_once(&bus_metrics_once, bus_metrics_init);
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->loop = loop;
	b->max_msg = cfg->bus.max_msg_bytes;
	snprintf(b->source, sizeof(b->source), "%s", source);
	b->on_event = on_event;
	b->on_command = on_command;
	b->arg = arg;
	pthread_mutex_init(&b->lock, NULL);
	b->sub.on_msg = bus_on_event;
	b->ctl.on_msg = bus_on_command;

	if ((rv = nng_pub0_open(&b->pub)) != 0 ||
	    (rv = nng_sub0_open(&b->sub.sock)) != 0) {
		snprintf(err, errlen, "cannot open bus sockets: %s",
		    nng_strerror(rv));
		goto fail;
	}
	nng_pipe_notify(b->pub, NNG_PIPE_EV_ADD_POST, bus_pipe_cb,
	    &b->pub_pipes);
	nng_pipe_notify(b->pub, NNG_PIPE_EV_REM_POST, bus_pipe_cb,
	    &b->pub_pipes);
	nng_pipe_notify(b->sub.sock, NNG_PIPE_EV_ADD_POST, bus_pipe_cb,
	    &b->sub_pipes);
	nng_pipe_notify(b->sub.sock, NNG_PIPE_EV_REM_POST, bus_pipe_cb,
	    &b->sub_pipes);
	bus_set_reconnect(b->pub);
	bus_set_reconnect(b->sub.sock);
	if (bus_set_queue(b->pub, NNG_OPT_SENDBUF, err, errlen) != 0 ||
	    bus_set_queue(b->sub.sock, NNG_OPT_RECVBUF, err, errlen) != 0)
		goto fail;
	nng_socket_set_size(b->sub.sock, NNG_OPT_RECVMAXSZ,
	    (size_t)b->max_msg);
	/* Non-blocking dials keep retrying in the background. */
	if ((rv = nng_dial(b->pub, cfg->bus.in, NULL, NNG_FLAG_NONBLOCK)) ||
	    (rv = nng_dial(b->sub.sock, cfg->bus.out, NULL,
	    NNG_FLAG_NONBLOCK))) {
		snprintf(err, errlen, "cannot dial bus %s / %s: %s",
		    cfg->bus.in, cfg->bus.out, nng_strerror(rv));
		goto fail;
	}
	if (control != NULL && control[0] != '\0') {
		if ((rv = nng_rep0_open_raw(&b->ctl.sock)) != 0) {
			snprintf(err, errlen, "cannot open control socket: %s",
			    nng_strerror(rv));
			goto fail;
		}
		b->have_ctl = true;
		nng_socket_set_size(b->ctl.sock, NNG_OPT_RECVMAXSZ,
		    (size_t)b->max_msg);
		/*
		 * Answers leave without blocking (NNG_FLAG_NONBLOCK): with
		 * nng's default send queue of the raw socket, a second
		 * answer sent while the first is still being written is
		 * refused (EAGAIN), and its requester waits for its retry.
		 * Several waiters of one wake are answered at once.
		 */
		if (bus_set_queue(b->ctl.sock, NNG_OPT_SENDBUF, err,
		    errlen) != 0)
			goto fail;
		if ((rv = nng_listen(b->ctl.sock, control, NULL, 0)) != 0) {
			snprintf(err, errlen, "cannot listen on %s: %s",
			    control, nng_strerror(rv));
			goto fail;
		}
	}
	if (bus_poll_start(b, &b->sub, err, errlen) != 0 ||
	    (b->have_ctl && bus_poll_start(b, &b->ctl, err, errlen) != 0))
		goto fail;
	uv_async_init(loop, &b->wake, bus_calls_drain);
	b->wake.data = b;
	return b;
fail:
	if (b->sub.active)
		uv_close((uv_handle_t *)&b->sub.poll, NULL);
	nng_close(b->pub);
	nng_close(b->sub.sock);
	if (b->have_ctl)
		nng_close(b->ctl.sock);
	pthread_mutex_destroy(&b->lock);
	free(b);
	return NULL;
}

static void
bus_free_cb(uv_handle_t *h)
{
	struct bus *b = h->data;

	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void
bus_call_free(struct bus_call *c)
{
	nng_aio_free(c->aio);
	nng_ctx_close(c->ctx);
	if (c->reply != NULL)
		nng_msg_free(c->reply);
	free(c);
}

void
bus_close(struct bus *b)
{
	struct bus_call *c, *next;

	if (b == NULL)
		return;
	uv_poll_stop(&b->sub.poll);
	uv_close((uv_handle_t *)&b->sub.poll, NULL);
	if (b->have_ctl) {
		uv_poll_stop(&b->ctl.poll);
		uv_close((uv_handle_t *)&b->ctl.poll, NULL);
	}
	/* Stop every call: after nng_aio_stop no callback is running. */
	for (c = b->inflight; c != NULL; c = c->inext)
		nng_aio_stop(c->aio);
	for (c = b->inflight; c != NULL; c = next) {
		next = c->inext;
		bus_call_free(c);
	}
	b->inflight = NULL;
	b->done = NULL;
	for (int i = 0; i < b->npeers; i++)
		nng_close(b->peers[i].sock);
	nng_close(b->pub);
	nng_close(b->sub.sock);
	if (b->have_ctl)
		nng_close(b->ctl.sock);
	uv_close((uv_handle_t *)&b->wake, bus_free_cb);
}

int
bus_subscribe(struct bus *b, const char *prefix)
{
	return nng_socket_set(b->sub.sock, NNG_OPT_SUB_SUBSCRIBE, prefix,
	    strlen(prefix)) == 0 ? 0 : -1;
}

int
bus_publish(struct bus *b, struct msg *m)
{
	char *buf;
	size_t len;
	int rv;

	snprintf(m->source, sizeof(m->source), "%s", b->source);
	if ((buf = msg_encode(m, &len)) == NULL) {
		log_error("cannot encode event", "type=%s",
		    msg_type_name(m->type) ? msg_type_name(m->type) : "?");
		return -1;
	}
	rv = nng_send(b->pub, buf, len, NNG_FLAG_NONBLOCK);
	free(buf);
	if (rv != 0 && rv != NNG_EAGAIN)
		return -1;
	metric_add(&m_published, 1);
	return 0;
}

bool
bus_connected(const struct bus *b)
{
	return b != NULL && atomic_load(&b->pub_pipes) > 0 &&
	    atomic_load(&b->sub_pipes) > 0;
}

int
bus_reply(struct bus *b, struct bus_request *req, struct msg *m)
{
	char *buf;
	size_t len;
	int rv = -1;

	snprintf(m->source, sizeof(m->source), "%s", b->source);
	if ((buf = msg_encode(m, &len)) == NULL) {
		log_error("cannot encode reply", "type=%s",
		    msg_type_name(m->type) ? msg_type_name(m->type) : "?");
		bus_request_drop(req);
		return -1;
	}
	nng_msg_clear(req->msg);	/* keeps the header: the route back */
	if ((rv = nng_msg_append(req->msg, buf, len)) == 0 &&
	    (rv = nng_sendmsg(b->ctl.sock, req->msg,
	    NNG_FLAG_NONBLOCK)) == 0)
		req->msg = NULL;	/* owned by the socket now */
	else
		log_warn("answer not sent", "type=%s err=\"%s\"",
		    msg_type_name(m->type) ? msg_type_name(m->type) : "?",
		    nng_strerror(rv));
	free(buf);
	bus_request_drop(req);
	return rv == 0 ? 0 : -1;
}

int
bus_reply_error(struct bus *b, struct bus_request *req, const char *reason)
{
	struct msg m;

	msg_init(&m, MSG_ERROR);
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	return bus_reply(b, req, &m);
}

void
bus_request_drop(struct bus_request *req)
{
	if (req == NULL)
		return;
	if (req->msg != NULL)
		nng_msg_free(req->msg);
	free(req);
}

/* Runs on an nng thread: only hands the call over to the loop. */
static void
bus_call_aio_cb(void *arg)
{
	struct bus_call *c = arg;
	struct bus *b = c->bus;
	int rv = nng_aio_result(c->aio);

	if (rv == 0 && !c->receiving) {
		c->receiving = true;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv != 0 && !c->receiving)
		nng_msg_free(nng_aio_get_msg(c->aio));	/* still ours */
	c->result = rv;
	if (rv == 0)
		c->reply = nng_aio_get_msg(c->aio);
	pthread_mutex_lock(&b->lock);
	c->next = b->done;
	b->done = c;
	pthread_mutex_unlock(&b->lock);
	uv_async_send(&b->wake);
}

static void
bus_inflight_remove(struct bus *b, struct bus_call *c)
{
	for (struct bus_call **pp = &b->inflight; *pp != NULL;
	    pp = &(*pp)->inext)
		if (*pp == c) {
			*pp = c->inext;
			return;
		}
}

static void
bus_call_finish(struct bus_call *c)
{
	struct msg r;
	char err[300];

	if (c->result != 0) {
		snprintf(err, sizeof(err), "%s from %s",
		    c->result == NNG_ETIMEDOUT ? "no answer in time" :
		    nng_strerror(c->result), c->url);
		c->cb(NULL, c->result == NNG_ETIMEDOUT ? BUS_ETIMEDOUT :
		    BUS_ETRANSPORT, err, c->arg);
		return;
	}
	if (msg_decode(&r, nng_msg_body(c->reply), nng_msg_len(c->reply),
	    err, sizeof(err)) != 0) {
		metric_add(&m_malformed, 1);
		c->cb(NULL, BUS_EBADREPLY, err, c->arg);
		return;
	}
	if (r.type == MSG_ERROR) {
		c->cb(NULL, BUS_EREPLY, r.reason, c->arg);
		return;
	}
	c->cb(&r, BUS_OK, NULL, c->arg);
}

static void
bus_calls_drain(uv_async_t *h)
{
	struct bus *b = h->data;
	struct bus_call *list, *c;

	pthread_mutex_lock(&b->lock);
	list = b->done;
	b->done = NULL;
	pthread_mutex_unlock(&b->lock);
	while ((c = list) != NULL) {
		list = c->next;
		bus_inflight_remove(b, c);
		bus_call_finish(c);
		bus_call_free(c);
	}
}

static struct bus_peer *
bus_peer_get(struct bus *b, const char *url)
{
	struct bus_peer *p;

	for (int i = 0; i < b->npeers; i++)
		if (strcmp(b->peers[i].url, url) == 0)
			return &b->peers[i];
	if (b->npeers == BUS_MAX_PEERS)
		return NULL;
	p = &b->peers[b->npeers];
	if (nng_req0_open(&p->sock) != 0)
		return NULL;
	bus_set_reconnect(p->sock);
	nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, (size_t)b->max_msg);
	if (nng_dial(p->sock, url, NULL, NNG_FLAG_NONBLOCK) != 0) {
		nng_close(p->sock);
		return NULL;
	}
	snprintf(p->url, sizeof(p->url), "%s", url);
	b->npeers++;
	return p;
}

int
bus_call(struct bus *b, const char *url, struct msg *m, int timeout_ms,
    bus_reply_cb cb, void *arg)
{
	struct bus_peer *p;
	struct bus_call *c;
	nng_msg *nm = NULL;
	char *buf;
	size_t len;

	snprintf(m->source, sizeof(m->source), "%s", b->source);
	if ((p = bus_peer_get(b, url)) == NULL ||
	    (buf = msg_encode(m, &len)) == NULL)
		return -1;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    nng_msg_alloc(&nm, 0) != 0 || nng_msg_append(nm, buf, len) != 0 ||
	    nng_ctx_open(&c->ctx, p->sock) != 0) {
		if (nm != NULL)
			nng_msg_free(nm);
		free(buf);
		free(c);
		return -1;
	}
	free(buf);
	if (nng_aio_alloc(&c->aio, bus_call_aio_cb, c) != 0) {
		nng_ctx_close(c->ctx);
		nng_msg_free(nm);
		free(c);
		return -1;
	}
	c->bus = b;
	c->cb = cb;
	c->arg = arg;
	snprintf(c->url, sizeof(c->url), "%s", url);
	c->inext = b->inflight;
	b->inflight = c;
	nng_aio_set_timeout(c->aio, timeout_ms);
	nng_aio_set_msg(c->aio, nm);
	nng_ctx_send(c->ctx, c->aio);
	return 0;
}

int
bus_call_sync(const char *url, const char *source, struct msg *m,
    int timeout_ms, struct msg *reply, char *err, size_t errlen)
{
	nng_socket s;
	nng_msg *nm = NULL;
	char *buf;
	size_t len;
	int rv, rc = -1;

	if (!config_url_valid(url)) {
		snprintf(err, errlen, "%s: not an nng URL", url);
		return -1;
	}
	snprintf(m->source, sizeof(m->source), "%s", source);
	if ((buf = msg_encode(m, &len)) == NULL) {
		snprintf(err, errlen, "cannot encode %s",
		    msg_type_name(m->type) ? msg_type_name(m->type) : "?");
		return -1;
	}
	if ((rv = nng_req0_open(&s)) != 0) {
		free(buf);
		snprintf(err, errlen, "cannot open socket: %s",
		    nng_strerror(rv));
		return -1;
	}
	bus_set_reconnect(s);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	/* A blocking dial: a daemon that is not there is an error now. */
	if ((rv = nng_dial(s, url, NULL, 0)) != 0 ||
	    (rv = nng_send(s, buf, len, 0)) != 0 ||
	    (rv = nng_recvmsg(s, &nm, 0)) != 0) {
		snprintf(err, errlen, "%s: %s", url,
		    rv == NNG_ETIMEDOUT ? "no answer in time (is the daemon "
		    "running?)" : nng_strerror(rv));
		goto fail;
	}
	if (msg_decode(reply, nng_msg_body(nm), nng_msg_len(nm), err,
	    errlen) != 0)
		goto fail;
	if (reply->type == MSG_ERROR) {
		snprintf(err, errlen, "%s", reply->reason);
		goto fail;
	}
	rc = 0;
fail:
	if (nm != NULL)
		nng_msg_free(nm);
	free(buf);
	nng_close(s);
	return rc;
}
