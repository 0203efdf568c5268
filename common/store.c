/*
 * The Redis connection: hiredis' async context on the daemon's libuv loop,
 * with reconnect and a capped exponential backoff.
 *
 * hiredis frees an async context itself after its connect callback
 * reports failure and after its disconnect callback: we only drop our
 * pointer there and arm the retry timer.
 *
 * The event glue is ours rather than hiredis' adapters/libuv.h: the 0.14
 * adapter ignores poll errors, so a refused connect is never reported and
 * the daemon would wait forever instead of retrying.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "addr.h"
#include "log.h"
#include "store.h"

#define STORE_RETRY_MIN_MS 100

struct store {
	uv_loop_t *loop;
	redisAsyncContext *ac;
	uv_timer_t retry;
	char addr[CONFIG_ADDR_MAX];
	int retry_ms;
	int retry_max_ms;
	_Atomic bool up;
	bool closing;
	store_state_cb on_state;
	void *arg;
};

/* One command in flight: who to call back. */
struct store_pending {
	struct store *st;
	store_reply_cb cb;
	void *arg;
};

static void store_connect(struct store *st);

/* hiredis <-> libuv: one poll handle per async context. */
struct store_ev {
	redisAsyncContext *ac;	/* NULL once hiredis let go of it */
	uv_poll_t poll;
	int events;
};

static void
store_ev_cb(uv_poll_t *h, int status, int events)
{
	struct store_ev *ev = h->data;

	/*
	 * On an error libuv stops the handle and reports no events: let
	 * hiredis find the socket error itself (connect refused, reset).
	 */
	if (status < 0)
		events = ev->events;
	if (ev->ac != NULL && (events & UV_READABLE))
		redisAsyncHandleRead(ev->ac);
	if (ev->ac != NULL && (events & UV_WRITABLE))
		redisAsyncHandleWrite(ev->ac);
}

static void
store_ev_update(struct store_ev *ev, int add, int del)
{
	ev->events = (ev->events | add) & ~del;
	if (ev->events != 0)
		uv_poll_start(&ev->poll, ev->events, store_ev_cb);
	else
		uv_poll_stop(&ev->poll);
}

static void store_ev_add_read(void *p) { store_ev_update(p, UV_READABLE, 0); }
static void store_ev_del_read(void *p) { store_ev_update(p, 0, UV_READABLE); }
static void store_ev_add_write(void *p) { store_ev_update(p, UV_WRITABLE, 0); }
static void store_ev_del_write(void *p) { store_ev_update(p, 0, UV_WRITABLE); }

static void
store_ev_free(uv_handle_t *h)
{
	free(h->data);
}

static void
store_ev_cleanup(void *p)
{
	struct store_ev *ev = p;

	ev->ac = NULL;
	uv_close((uv_handle_t *)&ev->poll, store_ev_free);
}

static int
store_ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct store_ev *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return -1;
	if (uv_poll_init(loop, &ev->poll, ac->c.fd) != 0) {
		free(ev);
		return -1;
	}
	ev->ac = ac;
	ev->poll.data = ev;
	ac->ev.data = ev;
	ac->ev.addRead = store_ev_add_read;
	ac->ev.delRead = store_ev_del_read;
	ac->ev.addWrite = store_ev_add_write;
	ac->ev.delWrite = store_ev_del_write;
	ac->ev.cleanup = store_ev_cleanup;
	return 0;
}

static void
store_retry_cb(uv_timer_t *t)
{
	store_connect(t->data);
}

static void
store_schedule_retry(struct store *st, const char *why)
{
	if (st->closing)
		return;
	log_warn("redis connect failed", "addr=%s err=\"%s\" retry_ms=%d",
	    st->addr, why, st->retry_ms);
	uv_timer_start(&st->retry, store_retry_cb, (uint64_t)st->retry_ms, 0);
	st->retry_ms *= 2;
	if (st->retry_ms > st->retry_max_ms)
		st->retry_ms = st->retry_max_ms;
}

static void
store_set_up(struct store *st, bool up)
{
	bool was = atomic_exchange(&st->up, up);

	if (was != up && st->on_state != NULL)
		st->on_state(st, up, st->arg);
}

static void
store_on_connect(const redisAsyncContext *ac, int status)
{
	struct store *st = ac->data;

	if (status != REDIS_OK) {
		st->ac = NULL;		/* hiredis frees it */
		store_schedule_retry(st, ac->errstr);
		return;
	}
	log_info("redis connected", "addr=%s", st->addr);
	st->retry_ms = STORE_RETRY_MIN_MS;
	store_set_up(st, true);
}

static void
store_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct store *st = ac->data;

	st->ac = NULL;			/* hiredis frees it */
	if (st->closing)
		return;
	log_warn("redis connection lost", "addr=%s err=\"%s\"", st->addr,
	    status == REDIS_OK ? "closed" : ac->errstr);
	store_set_up(st, false);
	store_schedule_retry(st, "connection lost");
}

static void
store_connect(struct store *st)
{
	char host[CONFIG_ADDR_MAX];
	redisAsyncContext *ac;
	const char *why;
	int port;

	/* the configuration checked it: this is only a safety net */
	if (addr_parse(st->addr, ADDR_UNIX, host, sizeof(host), &port,
	    &why) != 0) {
		store_schedule_retry(st, why);
		return;
	}
	ac = port == 0 ? redisAsyncConnectUnix(host) :
	    redisAsyncConnect(host, port);
	if (ac == NULL) {
		store_schedule_retry(st, "out of memory");
		return;
	}
	if (ac->err) {
		store_schedule_retry(st, ac->errstr);
		redisAsyncFree(ac);
		return;
	}
	ac->data = st;
	if (store_ev_attach(ac, st->loop) != 0) {
		redisAsyncFree(ac);
		store_schedule_retry(st, "cannot attach to the loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, store_on_connect);
	redisAsyncSetDisconnectCallback(ac, store_on_disconnect);
	st->ac = ac;
	/*
	 * hiredis 0.14 learns that the connect finished only when it next
	 * writes: queue a PING so the connect callback fires now.
	 */
	redisAsyncCommand(ac, NULL, NULL, "PING");
}

struct store *
store_open(uv_loop_t *loop, const struct config *cfg, store_state_cb on_state,
    void *arg)
{
	struct store *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->loop = loop;
	snprintf(st->addr, sizeof(st->addr), "%s", cfg->redis.address);
	st->retry_ms = STORE_RETRY_MIN_MS;
	st->retry_max_ms = cfg->redis.retry_max_ms;
	st->on_state = on_state;
	st->arg = arg;
	uv_timer_init(loop, &st->retry);
	st->retry.data = st;
	store_connect(st);
	return st;
}

static void
store_free_cb(uv_handle_t *h)
{
	free(h->data);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->closing = true;
	atomic_store(&st->up, false);
	uv_timer_stop(&st->retry);
	if (st->ac != NULL)
		redisAsyncDisconnect(st->ac);
	st->ac = NULL;
	uv_close((uv_handle_t *)&st->retry, store_free_cb);
}

bool
store_connected(const struct store *st)
{
	return st != NULL && atomic_load(&st->up);
}

static void
store_reply_trampoline(redisAsyncContext *ac, void *reply, void *priv)
{
	struct store_pending *p = priv;

	(void)ac;
	if (p->cb != NULL)
		p->cb(p->st, reply, p->arg);
	free(p);
}

static struct store_pending *
store_pending_new(struct store *st, store_reply_cb cb, void *arg)
{
	struct store_pending *p;

	if (st->ac == NULL || !atomic_load(&st->up) || st->closing)
		return NULL;
	if ((p = malloc(sizeof(*p))) == NULL)
		return NULL;
	p->st = st;
	p->cb = cb;
	p->arg = arg;
	return p;
}

int
store_command(struct store *st, store_reply_cb cb, void *arg,
    const char *fmt, ...)
{
	struct store_pending *p = store_pending_new(st, cb, arg);
	va_list ap;
	int rc;

	if (p == NULL)
		return -1;
	va_start(ap, fmt);
	rc = redisvAsyncCommand(st->ac, store_reply_trampoline, p, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		free(p);
		return -1;
	}
	return 0;
}

int
store_commandv(struct store *st, store_reply_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct store_pending *p = store_pending_new(st, cb, arg);

	if (p == NULL)
		return -1;
	if (redisAsyncCommandArgv(st->ac, store_reply_trampoline, p, argc,
	    argv, argvlen) != REDIS_OK) {
		free(p);
		return -1;
	}
	return 0;
}
