/*
 * Request/reply over the bus (common/bus.c): every way a bus_call ends
 * reaches the callback with its own bus_status, and the words in ERR stay
 * the ones logs and pages show. A bus calls its own control socket over
 * inproc; no broker runs (event dials retry in the background, unused).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <uv.h>

#include "bus.h"
#include "config.h"
#include "msg.h"
#include "unit.h"

#define CTL_URL "inproc://test-bus-ctl"
#define GARBAGE_URL "inproc://test-bus-garbage"
#define NOBODY_URL "inproc://test-bus-nobody"

struct result {
	bool done;
	enum bus_status st;
	bool have_r;
	struct msg r;
	char err[300];
};

/* The daemon side: the app name says how to answer. */
static void
test_command_cb(struct bus *b, struct bus_request *req, const struct msg *m,
    void *arg)
{
	struct msg r;

	if (strcmp(m->app, "ok") == 0) {
		msg_init(&r, MSG_WAKE_OK);
		snprintf(r.app, sizeof(r.app), "%s", m->app);
		snprintf(r.addr, sizeof(r.addr), "127.0.0.1:4000");
		bus_reply(b, req, &r);
	} else if (strcmp(m->app, "broken") == 0) {
		bus_reply_error(b, req, "app broken failed to start");
	} else {
		bus_request_drop(req);	/* the caller times out */
	}
}

static void
test_reply_cb(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	struct result *res = arg;

	res->done = true;
	res->st = st;
	if (r != NULL) {
		res->have_r = true;
		res->r = *r;
	}
	snprintf(res->err, sizeof(res->err), "%s", err ? err : "(null)");
}

static struct bus *
test_bus_open(uv_loop_t *loop)
{
	struct config cfg;
	struct bus *b;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.bus.in, sizeof(cfg.bus.in), "inproc://test-bus-in");
	snprintf(cfg.bus.out, sizeof(cfg.bus.out), "inproc://test-bus-out");
	cfg.bus.max_msg_bytes = 65536;
	uv_loop_init(loop);
	b = bus_open(loop, &cfg, "test/1", CTL_URL, NULL, test_command_cb,
	    NULL, err, sizeof(err));
	if (b == NULL)
		unit_fail(__FILE__, __LINE__, "bus_open: %s", err);
	return b;
}

static void
test_bus_close(uv_loop_t *loop, struct bus *b)
{
	bus_close(b);
	uv_run(loop, UV_RUN_DEFAULT);	/* runs the close callbacks */
	CHECK_INTEQ(uv_loop_close(loop), 0);
}

/*
 * Runs LOOP until RES is done or 5 s pass; if SERVE is set, answers each
 * request on it with bytes that are not a message.
 */
static void
test_wait(uv_loop_t *loop, struct result *res, nng_socket *serve)
{
	nng_msg *nm;

	for (int i = 0; i < 5000 && !res->done; i++) {
		if (serve != NULL &&
		    nng_recvmsg(*serve, &nm, NNG_FLAG_NONBLOCK) == 0) {
			nng_msg_clear(nm);
			if (nng_msg_append(nm, "garbage", 7) != 0 ||
			    nng_sendmsg(*serve, nm, 0) != 0)
				nng_msg_free(nm);
		}
		uv_run(loop, UV_RUN_NOWAIT);
		if (!res->done)
			usleep(1000);
	}
	CHECK(res->done);
}

/* Calls the bus's own control socket about APP. */
static void
test_call(const char *app, const char *url, int timeout_ms,
    struct result *res, nng_socket *serve)
{
	uv_loop_t loop;
	struct bus *b;
	struct msg m;

	memset(res, 0, sizeof(*res));
	if ((b = test_bus_open(&loop)) == NULL) {
		uv_loop_close(&loop);
		return;
	}
	msg_init(&m, MSG_WAKE);
	snprintf(m.app, sizeof(m.app), "%s", app);
	CHECK_INTEQ(bus_call(b, url, &m, timeout_ms, test_reply_cb, res), 0);
	test_wait(&loop, res, serve);
	test_bus_close(&loop, b);
}

static void
test_ok(void)
{
	struct result res;

	test_call("ok", CTL_URL, 2000, &res, NULL);
	CHECK_INTEQ(res.st, BUS_OK);
	REQUIRE(res.have_r);
	CHECK_INTEQ(res.r.type, MSG_WAKE_OK);
	CHECK_STREQ(res.r.addr, "127.0.0.1:4000");
	CHECK_STREQ(res.err, "(null)");
}

static void
test_error_reply(void)
{
	struct result res;

	test_call("broken", CTL_URL, 2000, &res, NULL);
	CHECK_INTEQ(res.st, BUS_EREPLY);
	CHECK(!res.have_r);
	CHECK_STREQ(res.err, "app broken failed to start");
}

/* The daemon holds the request past the timeout (autostart's slow wake). */
static void
test_timeout(void)
{
	struct result res;

	test_call("slow", CTL_URL, 200, &res, NULL);
	CHECK_INTEQ(res.st, BUS_ETIMEDOUT);
	CHECK(!res.have_r);
	CHECK_STREQ(res.err, "no answer in time from " CTL_URL);
}

/* Nobody listens: the dial does not block, so this too is a timeout. */
static void
test_no_daemon(void)
{
	struct result res;

	test_call("ok", NOBODY_URL, 200, &res, NULL);
	CHECK_INTEQ(res.st, BUS_ETIMEDOUT);
	CHECK_STREQ(res.err, "no answer in time from " NOBODY_URL);
}

static void
test_bad_reply(void)
{
	struct result res;
	nng_socket s;

	REQUIRE(nng_rep0_open(&s) == 0);
	if (nng_listen(s, GARBAGE_URL, NULL, 0) != 0) {
		unit_fail(__FILE__, __LINE__, "cannot listen on %s",
		    GARBAGE_URL);
		nng_close(s);
		return;
	}
	test_call("ok", GARBAGE_URL, 2000, &res, &s);
	nng_close(s);
	CHECK_INTEQ(res.st, BUS_EBADREPLY);
	CHECK(!res.have_r);
	CHECK(res.err[0] != '\0');
}

UNIT_TESTS = {
	{"ok", test_ok},
	{"error reply", test_error_reply},
	{"timeout", test_timeout},
	{"no daemon", test_no_daemon},
	{"bad reply", test_bad_reply},
	{NULL, NULL},
};
