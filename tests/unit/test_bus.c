/*
 * The bus seen from a daemon (common/bus.c).
 *
 * Request/reply: every way a bus_call ends reaches the callback with its
 * own bus_status, and the words in ERR stay the ones logs and pages show.
 * A bus calls its own control socket over inproc; no broker runs (event
 * dials retry in the background, unused).
 *
 * Events: a burst published by one bus reaches another bus whole through
 * the real broker (build/bin/devcloud-bus, next to this test's binary),
 * started on free ports for the case and stopped by its PID.
 */
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

#define BURST_EVENTS 1000	/* say, the app.stopped of a drained host */
#define BURST_QUIET_MS 2000	/* nothing new for this long: the rest is lost */
#define BURST_BUSY_MS 500	/* a busy subscriber's pause, see test_burst */

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
	/* test_reply_cb writes "(null)" for no reason at all */
	CHECK(res.err[0] != '\0' && strcmp(res.err, "(null)") != 0);
}

/* N free TCP ports on 127.0.0.1, found as tests/integration/lib.sh does. */
static int
test_free_ports(int *ports, int n)
{
	struct sockaddr_in sa;
	socklen_t len;
	int fds[8], rc = 0, i;

	if (n > 8)
		return -1;
	for (i = 0; i < n; i++) {
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(sa);
		if ((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&sa, &len) != 0) {
			rc = -1;
			i++;
			break;
		}
		ports[i] = ntohs(sa.sin_port);
	}
	while (i-- > 0)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

/*
 * Starts the devcloud-bus of this test's build (BUILD/tests/test_bus ->
 * BUILD/bin/devcloud-bus) on CFG's addresses and ADMIN, configured by the
 * environment only. Returns its PID, or -1 with the failure recorded.
 */
static pid_t
test_broker_start(const struct config *cfg, const char *admin)
{
	char exe[PATH_MAX], path[PATH_MAX + 32], *slash;
	ssize_t n;
	pid_t pid;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0) {
		unit_fail(__FILE__, __LINE__, "cannot read /proc/self/exe");
		return -1;
	}
	exe[n] = '\0';
	for (int up = 0; up < 2; up++)
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
	snprintf(path, sizeof(path), "%s/bin/devcloud-bus", exe);
	if (access(path, X_OK) != 0) {
		unit_fail(__FILE__, __LINE__, "%s: not built (run make)", path);
		return -1;
	}
	if ((pid = fork()) != 0) {
		if (pid < 0)
			unit_fail(__FILE__, __LINE__, "cannot fork the broker");
		return pid;
	}
	/* If the test dies, so does its broker. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	unsetenv("DEVCLOUD_CONFIG");
	setenv("DEVCLOUD_BUS_IN", cfg->bus.in, 1);
	setenv("DEVCLOUD_BUS_OUT", cfg->bus.out, 1);
	setenv("DEVCLOUD_BUS_ADMIN", admin, 1);
	execl(path, path, (char *)NULL);
	_exit(127);
}

/* SIGTERM, then SIGKILL if it is still there 5 s later. */
static void
test_broker_stop(pid_t pid)
{
	int status = 0;

	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			return;
		}
		usleep(10000);
	}
	unit_fail(__FILE__, __LINE__, "broker %d ignored SIGTERM", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* A subscriber: its own bus and loop, on its own thread. */
struct burst_sub {
	uv_loop_t loop;
	uv_async_t stop;
	struct bus *bus;
	_Atomic int warm;		/* warm-up events seen */
	_Atomic int got;		/* distinct burst events seen */
	_Atomic bool hold;		/* be busy at the first burst event */
	_Atomic bool holding;		/* and now it is */
	bool seen[BURST_EVENTS];	/* loop thread only */
};

static void
burst_on_event(struct bus *b, const struct msg *m, void *arg)
{
	struct burst_sub *s = arg;
	char *end;
	long i;

	(void)b;
	if (m->type != MSG_APP_STOPPED)
		return;
	if (strcmp(m->app, "warm-up") == 0) {
		atomic_fetch_add(&s->warm, 1);
		return;
	}
	if (strncmp(m->app, "burst-", 6) != 0)
		return;
	i = strtol(m->app + 6, &end, 10);
	if (*end == '\0' && i >= 0 && i < BURST_EVENTS && !s->seen[i]) {
		s->seen[i] = true;
		atomic_fetch_add(&s->got, 1);
	}
	/* A daemon busy with other work: its loop reads nothing meanwhile. */
	while (atomic_load(&s->hold)) {
		atomic_store(&s->holding, true);
		usleep(1000);
	}
}

static void
burst_stop_cb(uv_async_t *h)
{
	struct burst_sub *s = h->data;

	bus_close(s->bus);
	uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *
burst_sub_run(void *arg)
{
	struct burst_sub *s = arg;

	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void
burst_publish(struct bus *b, const char *app)
{
	struct msg m;

	msg_init(&m, MSG_APP_STOPPED);
	snprintf(m.app, sizeof(m.app), "%s", app);
	snprintf(m.reason, sizeof(m.reason), "drained");
	CHECK_INTEQ(bus_publish(b, &m), 0);
}

/*
 * BURST_EVENTS events published at once, with no pause, reach a
 * subscriber through the broker: each hop (the publisher's pub0, the
 * broker's sub0 and pub0, the subscriber's sub0) must queue them all.
 * If BUSY, the subscriber's loop is held at the first event of the burst
 * until BURST_BUSY_MS after the last is sent, so the rest wait in its
 * sub0 queue. (Were the burst slower to arrive than that, the subscriber
 * would only read it sooner: the pause can make the case easier, never
 * fail it.)
 */
static void
test_burst(bool busy)
{
	struct burst_sub *sub;
	struct config cfg;
	struct bus *pub = NULL;
	uv_loop_t loop;
	pthread_t thread;
	pid_t broker;
	char admin[64], app[MSG_NAME_MAX], err[256];
	int ports[3], got, last = -1, quiet_ms = 0;

	REQUIRE(test_free_ports(ports, 3) == 0);
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.bus.in, sizeof(cfg.bus.in), "tcp://127.0.0.1:%d",
	    ports[0]);
	snprintf(cfg.bus.out, sizeof(cfg.bus.out), "tcp://127.0.0.1:%d",
	    ports[1]);
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", ports[2]);
	cfg.bus.max_msg_bytes = 65536;
	REQUIRE((sub = calloc(1, sizeof(*sub))) != NULL);
	if ((broker = test_broker_start(&cfg, admin)) < 0) {
		free(sub);
		return;
	}

	uv_loop_init(&sub->loop);
	sub->bus = bus_open(&sub->loop, &cfg, "test/sub", NULL,
	    burst_on_event, NULL, sub, err, sizeof(err));
	uv_loop_init(&loop);
	pub = bus_open(&loop, &cfg, "test/pub", NULL, NULL, NULL, NULL, err,
	    sizeof(err));
	if (sub->bus == NULL || pub == NULL) {
		unit_fail(__FILE__, __LINE__, "bus_open: %s", err);
		goto close;
	}
	CHECK_INTEQ(bus_subscribe(sub->bus, "app."), 0);
	uv_async_init(&sub->loop, &sub->stop, burst_stop_cb);
	sub->stop.data = sub;
	if (pthread_create(&thread, NULL, burst_sub_run, sub) != 0) {
		unit_fail(__FILE__, __LINE__, "pthread_create failed");
		uv_close((uv_handle_t *)&sub->stop, NULL);
		goto close;
	}

	/*
	 * pub0 sends to nobody until every pipe (publisher -> broker ->
	 * subscriber) is up: publish until one warm-up event gets through.
	 */
	for (int i = 0; i < 1000 && atomic_load(&sub->warm) == 0; i++) {
		burst_publish(pub, "warm-up");
		usleep(10000);
	}
	CHECK(atomic_load(&sub->warm) > 0);

	atomic_store(&sub->hold, busy);
	for (int i = 0; i < BURST_EVENTS; i++) {
		snprintf(app, sizeof(app), "burst-%d", i);
		burst_publish(pub, app);
	}
	if (busy) {
		for (int i = 0; i < 1000 && !atomic_load(&sub->holding); i++)
			usleep(10000);
		CHECK(atomic_load(&sub->holding));
		usleep(BURST_BUSY_MS * 1000);
		atomic_store(&sub->hold, false);
	}
	/* Wait while events keep coming; a long pause means the rest are lost. */
	while ((got = atomic_load(&sub->got)) < BURST_EVENTS &&
	    quiet_ms < BURST_QUIET_MS) {
		if (got != last)
			quiet_ms = 0;
		last = got;
		usleep(10000);
		quiet_ms += 10;
	}
	fprintf(stderr, "burst: sent=%d received=%d\n", BURST_EVENTS, got);
	CHECK_INTEQ(got, BURST_EVENTS);

	uv_async_send(&sub->stop);
	pthread_join(thread, NULL);
	sub->bus = NULL;	/* closed on its thread */
close:
	if (sub->bus != NULL) {
		bus_close(sub->bus);
		uv_run(&sub->loop, UV_RUN_DEFAULT);
	}
	CHECK_INTEQ(uv_loop_close(&sub->loop), 0);
	if (pub != NULL)
		bus_close(pub);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INTEQ(uv_loop_close(&loop), 0);
	test_broker_stop(broker);
	free(sub);
}

static void
test_burst_keeps_up(void)
{
	test_burst(false);
}

static void
test_burst_busy(void)
{
	test_burst(true);
}

UNIT_TESTS = {
	{"ok", test_ok},
	{"error reply", test_error_reply},
	{"timeout", test_timeout},
	{"no daemon", test_no_daemon},
	{"bad reply", test_bad_reply},
	{"burst through the broker", test_burst_keeps_up},
	{"burst to a busy subscriber", test_burst_busy},
	{NULL, NULL},
};
