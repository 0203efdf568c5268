// links: services/proxy/conn.c services/proxy/exchange.c services/proxy/dispatch.c services/proxy/stream.c services/proxy/loop.c services/proxy/upstream.c services/proxy/balance.c services/proxy/tunnel.c services/proxy/hold.c services/proxy/worker.c services/proxy/buf.c services/proxy/map.c services/proxy/route.c services/proxy/http.c services/proxy/headers.c services/proxy/page.c services/proxy/wakepage.c services/proxy/stats.c
/*
 * The proxy's client connection (services/proxy/conn.c) as a state
 * machine, seen from the wire. One worker is built by hand (t_setup) and
 * its loop is driven one round at a time; the client is one end of a
 * socketpair handed to conn_accept, the upstream is scripted: a listener
 * on 127.0.0.1 in this process, whose connections the test accepts,
 * reads and answers byte by byte. Each case is one state x event that
 * matters, and asserts only what a client or an upstream could see (the
 * bytes, who closes, how many connections the upstream gets), plus a few
 * of the gauges /metrics exports.
 *
 * Nothing here reads a connection's fields: a refactor of conn.c keeps
 * this test as it is, and only t_setup / t_teardown know the worker's
 * insides.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../services/proxy/proxy.h"
#include "unit.h"

#define T_WAIT_MS 2000		/* the longest any one expectation waits */
#define T_ROUND_MS 2		/* one loop round blocks this long at most */
#define T_PEERS 8
#define T_PEER_BUF 65536

/* A socket the test holds: a client's end, or an upstream connection. */
struct peer {
	int fd;
	size_t len;
	bool eof;			/* read returned 0 */
	int err;			/* errno of a failed read */
	char buf[T_PEER_BUF];		/* what arrived, NUL-terminated */
};

/* Per-case settings; 0 keeps the default. */
struct topts {
	int upstream_max_conns;
	int header_timeout_ms;
	int upstream_timeout_ms;
};

struct tenv {
	struct config cfg;
	struct proxy px;
	struct proxy_worker w;
	int lfd;			/* the scripted upstream's listener */
	int accepted;			/* connections it accepted */
	int npeers;
	struct peer peers[T_PEERS];
};

static uint64_t
t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
t_on_wake(struct loop *l)
{
	/* The test never registers the eventfd: nothing wakes the loop. */
	(void)l;
	unit_fail(__FILE__, __LINE__, "unexpected loop wake-up");
}

/* A port nothing listens on (bound, then let go). */
static int
t_closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/*
 * The worker, as worker_init builds one minus its listener and sweep:
 * config defaults, buffers and scratch, a loop, and a route table with
 *   a.test    -> the scripted upstream
 *   down.test -> a port nothing listens on
 * NULL (the case failed) when any of it, the listener above all, cannot
 * be had: a test that cannot listen fails, it does not skip.
 */
static struct tenv *
t_setup(const struct topts *o)
{
	struct tenv *t = calloc(1, sizeof(*t));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	struct proxy_worker *w;
	struct route_table *rt = NULL;
	char err[CONFIG_ERR_MAX], target[64];
	int down;

	if (t == NULL)
		return NULL;
	t->lfd = -1;
	w = &t->w;
	w->loop.epfd = w->loop.evfd = -1;
	if (config_load(&t->cfg, NULL, err, sizeof(err)) < 0) {
		unit_fail(__FILE__, __LINE__, "config: %s", err);
		goto fail;
	}
	/* what the cases rely on, whatever the environment says */
	t->cfg.proxy.workers = 1;
	t->cfg.proxy.max_connections = 1000;
	t->cfg.proxy.max_request_line = 8192;
	t->cfg.proxy.max_header_bytes = 32768;
	t->cfg.proxy.header_timeout_ms = o->header_timeout_ms > 0 ?
	    o->header_timeout_ms : 10000;
	t->cfg.proxy.keepalive_timeout_ms = 60000;
	t->cfg.proxy.connect_timeout_ms = 5000;
	t->cfg.proxy.upstream_timeout_ms = o->upstream_timeout_ms > 0 ?
	    o->upstream_timeout_ms : 60000;
	t->cfg.proxy.upstream_max_conns = o->upstream_max_conns;

	t->px.cfg = &t->cfg;
	t->px.nworkers = 1;
	t->px.workers = w;
	/* as main.c's proxy_bufsize: a whole head fits in one buffer */
	t->px.bufsize = ((size_t)t->cfg.proxy.max_request_line +
	    (size_t)t->cfg.proxy.max_header_bytes + 1024 + 4095) &
	    ~(size_t)4095;
	t->px.limits.max_line = (uint32_t)t->cfg.proxy.max_request_line;
	t->px.limits.max_fields = (uint32_t)t->cfg.proxy.max_header_bytes;

	w->px = &t->px;
	w->bufs.size = t->px.bufsize;
	w->bufs.max_free = 256;
	w->scratch_size = t->px.bufsize + 4096;
	w->listener.fd = -1;
	if ((w->scratch = malloc(w->scratch_size)) == NULL ||
	    loop_init(&w->loop) < 0) {
		unit_fail(__FILE__, __LINE__, "worker: %s", strerror(errno));
		goto fail;
	}

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0 ||
	    bind(t->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(t->lfd, 16) < 0 ||
	    getsockname(t->lfd, (struct sockaddr *)&sa, &salen) < 0 ||
	    (down = t_closed_port()) < 0) {
		unit_fail(__FILE__, __LINE__, "cannot listen on 127.0.0.1: %s",
		    strerror(errno));
		goto fail;
	}
	if ((rt = route_table_new()) == NULL)
		goto fail;
	snprintf(target, sizeof(target), "static:127.0.0.1:%d",
	    ntohs(sa.sin_port));
	if (route_table_add(rt, "a.test", target, NULL, NULL) < 0)
		goto fail;
	snprintf(target, sizeof(target), "static:127.0.0.1:%d", down);
	if (route_table_add(rt, "down.test", target, NULL, NULL) < 0 ||
	    route_table_seal(rt) < 0)
		goto fail;
	w->routes = rt;
	return t;
fail:
	unit_fail(__FILE__, __LINE__, "setup failed");
	route_table_unref(rt);
	if (t->lfd >= 0)
		close(t->lfd);
	loop_free(&w->loop);
	free(w->scratch);
	free(t);
	return NULL;
}

/* Stops the worker as worker_stop does, lets the end-of-round frees
 * run, then frees the rest. Every connection of the case is gone. */
static void
t_teardown(struct tenv *t)
{
	struct proxy_worker *w = &t->w;

	w->stopping = true;
	conn_close_all(w);
	balance_close_all(w);
	for (int i = 0; i < 100 && (w->loop.tasks != NULL ||
	    w->loop.defers != NULL); i++)
		loop_run_once(&w->loop, 0, t_on_wake);
	CHECK(w->loop.tasks == NULL && w->loop.defers == NULL);
	CHECK_INTEQ(atomic_load(&w->stats.conns), 0);
	CHECK_INTEQ(atomic_load(&w->stats.upstreams), 0);
	CHECK_INTEQ(w->groups.len, 0);
	route_table_unref(w->routes);
	buf_pool_drain(&w->bufs);
	map_free(&w->groups);
	free(w->set_groups);
	loop_free(&w->loop);
	free(w->scratch);
	for (int i = 0; i < t->npeers; i++)
		if (t->peers[i].fd >= 0)
			close(t->peers[i].fd);
	close(t->lfd);
	free(t);
}

static void
t_round(struct tenv *t)
{
	loop_run_once(&t->w.loop, T_ROUND_MS, t_on_wake);
}

static struct peer *
t_peer(struct tenv *t, int fd)
{
	struct peer *p;

	if (t->npeers == T_PEERS) {
		close(fd);
		return NULL;
	}
	p = &t->peers[t->npeers++];
	p->fd = fd;
	return p;
}

/* A new client connection, accepted by the worker from 127.0.0.1. */
static struct peer *
t_client(struct tenv *t)
{
	struct sockaddr_in from = {.sin_family = AF_INET,
	    .sin_port = htons(40000)};
	int sv[2];

	from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) < 0)
		return NULL;
	conn_accept(&t->w, sv[0], (struct sockaddr *)&from);
	return t_peer(t, sv[1]);
}

/* Reads what has arrived, without waiting. */
static void
peer_fill(struct peer *p)
{
	while (!p->eof && p->err == 0 && p->len < sizeof(p->buf) - 1) {
		ssize_t n = recv(p->fd, p->buf + p->len,
		    sizeof(p->buf) - 1 - p->len, MSG_DONTWAIT);

		if (n > 0) {
			p->len += (size_t)n;
			p->buf[p->len] = '\0';
		} else if (n == 0) {
			p->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			p->err = errno;
		} else {
			break;
		}
	}
}

static bool
peer_closed(struct peer *p)
{
	peer_fill(p);
	return p->eof || p->err != 0;
}

/* Forgets what was read so far (the next expectation starts afresh). */
static void
peer_clear(struct peer *p)
{
	peer_fill(p);
	p->len = 0;
	p->buf[0] = '\0';
}

static void
peer_send(struct peer *p, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(p->fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0) {
			unit_fail(__FILE__, __LINE__, "send: %s",
			    strerror(errno));
			return;
		}
		off += (size_t)n;
	}
}

/* Closes P with a reset instead of a FIN. */
static void
peer_reset(struct peer *p)
{
	struct linger lg = {1, 0};

	setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(p->fd);
	p->fd = -1;
}

static void
peer_close(struct peer *p)
{
	close(p->fd);
	p->fd = -1;
}

/* The body of the last message in P: what follows its last empty line. */
static const char *
peer_body(const struct peer *p)
{
	const char *b = NULL, *s = p->buf;

	while ((s = strstr(s, "\r\n\r\n")) != NULL)
		b = s += 4;
	return b != NULL ? b : "";
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *s = hay; (s = strstr(s, needle)) != NULL; s++)
		n++;
	return n;
}

/* ---- waiting: loop rounds until an expectation holds, or T_WAIT_MS */

enum t_cond { T_STR, T_CLOSED, T_CONNS, T_QUEUED };

static bool
t_holds(struct tenv *t, enum t_cond what, struct peer *p, const char *s,
    int64_t n)
{
	switch (what) {
	case T_STR:
		peer_fill(p);
		return strstr(p->buf, s) != NULL;
	case T_CLOSED:
		return peer_closed(p);
	case T_CONNS:
		return atomic_load(&t->w.stats.conns) == n;
	case T_QUEUED:
		return atomic_load(&t->w.stats.upstream_queued) == n;
	}
	return false;
}

static bool
t_until(struct tenv *t, enum t_cond what, struct peer *p, const char *s,
    int64_t n)
{
	uint64_t end = t_now() + T_WAIT_MS;

	while (!t_holds(t, what, p, s, n)) {
		if (t_now() >= end)
			return false;
		t_round(t);
	}
	return true;
}

/* P has received S (somewhere in what it read since its last clear). */
static bool
t_wait_str(struct tenv *t, struct peer *p, const char *s)
{
	return t_until(t, T_STR, p, s, 0);
}

/* P's other end closed or reset the connection. */
static bool
t_wait_closed(struct tenv *t, struct peer *p)
{
	return t_until(t, T_CLOSED, p, NULL, 0);
}

/* The worker has N client connections open (the conns gauge). */
static bool
t_wait_conns(struct tenv *t, int64_t n)
{
	return t_until(t, T_CONNS, NULL, NULL, n);
}

/* N requests wait for an upstream connection (the queue gauge). */
static bool
t_wait_queued(struct tenv *t, int64_t n)
{
	return t_until(t, T_QUEUED, NULL, NULL, n);
}

/* Runs rounds for MS: time for what should not happen to happen. */
static void
t_settle(struct tenv *t, int ms)
{
	uint64_t end = t_now() + (uint64_t)ms;

	while (t_now() < end)
		t_round(t);
}

/* The scripted upstream takes the proxy's next connection. */
static struct peer *
t_accept(struct tenv *t)
{
	uint64_t end = t_now() + T_WAIT_MS;
	int fd;

	while ((fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) < 0) {
		if (t_now() >= end)
			return NULL;
		t_round(t);
	}
	t->accepted++;
	return t_peer(t, fd);
}

/* No connection waits at the scripted upstream (after a short settle). */
static bool
t_no_accept(struct tenv *t)
{
	int fd;

	t_settle(t, 20);
	if ((fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return true;
	close(fd);
	t->accepted++;
	return false;
}

#define OK_ONE "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nbody-one"
#define OK_TWO "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nbody-two"
#define GET(path, host) "GET " path " HTTP/1.1\r\nHost: " host "\r\n\r\n"

/*
 * A new client sends RAW; the upstream connection the proxy opens for it
 * is accepted and has received UNTIL. The two peers in *CP and *UPP;
 * false (the case fails) if any step does not happen.
 */
static bool
t_forward(struct tenv *t, const char *raw, const char *until,
    struct peer **cp, struct peer **upp)
{
	if ((*cp = t_client(t)) == NULL)
		return false;
	peer_send(*cp, raw);
	return (*upp = t_accept(t)) != NULL && t_wait_str(t, *upp, until);
}

/*
 * One GET through a fresh client connection: the upstream connection it
 * went out on (accepted now, or UP if already open), answered with OK_ONE.
 */
static struct peer *
t_exchange(struct tenv *t, struct peer *c, struct peer *up)
{
	peer_clear(c);
	peer_send(c, GET("/one", "a.test"));
	if (up == NULL && (up = t_accept(t)) == NULL)
		return NULL;
	if (!t_wait_str(t, up, "\r\n\r\n"))
		return NULL;
	peer_send(up, OK_ONE);
	if (!t_wait_str(t, c, "body-one"))
		return NULL;
	peer_clear(up);
	return up;
}

/*
 * A case: NAME's body runs on a fresh worker built with the settings
 * given after NAME (designated initializers of struct topts), and the
 * worker is torn down whatever the body did: a failed REQUIRE returns
 * from the body only.
 */
#define T_CASE(name, ...)						\
	static void name##_body(struct tenv *t);			\
	static void							\
	name(void)							\
	{								\
		static const struct topts o_ = {__VA_ARGS__};		\
		struct tenv *t = t_setup(&o_);				\
									\
		if (t == NULL)						\
			return;						\
		name##_body(t);						\
		t_teardown(t);						\
	}								\
	static void							\
	name##_body(struct tenv *t)

/* A client that read its answer and the proxy's FIN closes its side:
 * the lingering connection then goes at once. */
static bool
t_client_done(struct tenv *t, struct peer *c, int64_t left)
{
	shutdown(c->fd, SHUT_WR);
	return t_wait_conns(t, left);
}

/* ---- IDLE and HEAD: reading requests */

/* Keep-alive: a second request on the same client connection goes out
 * on the same upstream connection. */
T_CASE(test_keepalive_reuse)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, GET("/one", "a.test"), "\r\n\r\n", &c, &up));
	CHECK(strncmp(up->buf, "GET /one HTTP/1.1\r\n", 19) == 0);
	CHECK_CONTAINS(up->buf, "\r\nHost: a.test\r\n");
	CHECK_CONTAINS(up->buf, "\r\nX-Forwarded-For: 127.0.0.1\r\n");
	CHECK_CONTAINS(up->buf, "\r\nX-Forwarded-Host: a.test\r\n");
	peer_send(up, OK_ONE);
	REQUIRE(t_wait_str(t, c, "body-one"));
	CHECK(strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(strstr(c->buf, "Connection: close") == NULL);

	peer_clear(up);
	peer_clear(c);
	peer_send(c, GET("/two", "a.test"));
	REQUIRE(t_wait_str(t, up, "\r\n\r\n"));
	CHECK(strncmp(up->buf, "GET /two HTTP/1.1\r\n", 19) == 0);
	peer_send(up, OK_TWO);
	REQUIRE(t_wait_str(t, c, "body-two"));
	CHECK(strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(t_no_accept(t));
	CHECK_INTEQ(t->accepted, 1);
	CHECK(!peer_closed(c));
	CHECK(!peer_closed(up));
}

/* Pipelining: two requests in one write. The second goes upstream only
 * once the first is answered, and the answers come back in order. */
T_CASE(test_pipelined)
{
	struct peer *c, *up;
	const char *one, *two;

	REQUIRE(t_forward(t, GET("/one", "a.test") GET("/two", "a.test"),
	    "\r\n\r\n", &c, &up));
	t_settle(t, 10);
	peer_fill(up);
	CHECK(strncmp(up->buf, "GET /one HTTP/1.1\r\n", 19) == 0);
	CHECK(strstr(up->buf, "GET /two") == NULL);	/* one at a time */
	peer_clear(up);
	peer_send(up, OK_ONE);
	REQUIRE(t_wait_str(t, up, "\r\n\r\n"));
	CHECK(strncmp(up->buf, "GET /two HTTP/1.1\r\n", 19) == 0);
	peer_send(up, OK_TWO);
	REQUIRE(t_wait_str(t, c, "body-two"));
	one = strstr(c->buf, "body-one");
	two = strstr(c->buf, "body-two");
	CHECK(one != NULL && one < two);
	CHECK_INTEQ(count(c->buf, "HTTP/1.1 200 OK\r\n"), 2);
	CHECK(t_no_accept(t));
	CHECK(!peer_closed(c));
}

/* A request with a body: forwarded as it comes, whole. */
T_CASE(test_request_body)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, "POST /p HTTP/1.1\r\nHost: a.test\r\n"
	    "Content-Length: 11\r\n\r\nhello",
	    "\r\n\r\nhello", &c, &up));
	peer_send(c, " world");
	REQUIRE(t_wait_str(t, up, "hello world"));
	CHECK_STREQ(peer_body(up), "hello world");
	CHECK_CONTAINS(up->buf, "\r\nContent-Length: 11\r\n");
	peer_send(up, OK_ONE);
	REQUIRE(t_wait_str(t, c, "body-one"));
	CHECK(!peer_closed(c));
}

/* The client says Connection: close: it gets its answer and a FIN; the
 * upstream connection is not the client's and goes back to the pool. */
T_CASE(test_client_connection_close)
{
	struct peer *c, *c2, *up;

	REQUIRE(t_forward(t, "GET /one HTTP/1.1\r\nHost: a.test\r\n"
	    "Connection: close\r\n\r\n",
	    "\r\n\r\n", &c, &up));
	/* Connection is hop by hop */
	CHECK(strstr(up->buf, "Connection: close") == NULL);
	peer_clear(up);
	peer_send(up, OK_ONE);
	REQUIRE(t_wait_str(t, c, "body-one"));
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK(t_wait_conns(t, 0));	/* the client had said it was done */

	REQUIRE((c2 = t_client(t)) != NULL);
	REQUIRE(t_exchange(t, c2, up) != NULL);
	CHECK(t_no_accept(t));
	CHECK_INTEQ(t->accepted, 1);
}

/* No route for the host: 404 from the proxy itself, and the client
 * connection stays open for the next request. */
T_CASE(test_no_route_404)
{
	struct peer *c;

	REQUIRE((c = t_client(t)) != NULL);
	peer_send(c, GET("/", "nowhere.test"));
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 404 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "nowhere.test");
	CHECK_CONTAINS(c->buf, "\r\nConnection: keep-alive\r\n");
	CHECK(t_no_accept(t));
	CHECK(!peer_closed(c));
	REQUIRE(t_exchange(t, c, NULL) != NULL);
	CHECK(!peer_closed(c));
}

/* Requests the proxy refuses, one client each: the status of the row,
 * Connection: close, a FIN, and nothing sent upstream. */
T_CASE(test_malformed_400_close)
{
	static const struct {
		const char *raw;
		const char *status;
	} rows[] = {
	    {"GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
		"Transfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 400 "},
	    {"NOT A REQUEST\r\n\r\n", "HTTP/1.1 400 "},
	    {"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},	/* no Host */
	    {"GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 400 "},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int before = unit_failures;
		struct peer *c;

		REQUIRE((c = t_client(t)) != NULL);
		peer_send(c, rows[i].raw);
		CHECK(t_wait_str(t, c, "</html>\n"));
		CHECK(strncmp(c->buf, rows[i].status,
		    strlen(rows[i].status)) == 0);
		CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
		CHECK(t_wait_closed(t, c));
		CHECK(t_client_done(t, c, 0));
		CHECK(t_no_accept(t));
		if (unit_failures != before)
			fprintf(stderr, "  (row %zu)\n", i);
	}
}

/* A bad request after a good one on a keep-alive connection: the 400
 * still closes it, whatever the request before it said. */
T_CASE(test_malformed_after_keepalive)
{
	struct peer *c;

	REQUIRE((c = t_client(t)) != NULL);
	REQUIRE(t_exchange(t, c, NULL) != NULL);
	peer_clear(c);
	peer_send(c, "GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: x"
	    "\r\n\r\n");
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 400 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK(t_client_done(t, c, 0));
}

/* HEAD: a head that does not arrive in time gets a 408 and a close. */
T_CASE(test_header_timeout_408, .header_timeout_ms = 50)
{
	struct peer *c;

	REQUIRE((c = t_client(t)) != NULL);
	peer_send(c, "GET / HTTP/1.1\r\nHost: a");
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 408 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK(t_client_done(t, c, 0));
	CHECK(t_no_accept(t));
}

/* ---- EXCHANGE: what the upstream answers */

/* A chunked answer reaches an HTTP/1.1 client byte for byte, however it
 * is cut, and the connections stay open for the next exchange. */
T_CASE(test_chunked_response)
{
	static const char *const pieces[] = {
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
	    "lo\r\n6\r", "\n world\r\n", "0\r", "\n\r\n",
	};
	struct peer *c, *up;

	REQUIRE(t_forward(t, GET("/one", "a.test"), "\r\n\r\n", &c, &up));
	peer_clear(up);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		peer_send(up, pieces[i]);
		t_settle(t, 5);
	}
	REQUIRE(t_wait_str(t, c, "0\r\n\r\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK_CONTAINS(c->buf, "\r\nTransfer-Encoding: chunked\r\n");
	CHECK(strstr(c->buf, "Content-Length") == NULL);
	CHECK(strstr(c->buf, "Connection: close") == NULL);
	CHECK_STREQ(strstr(c->buf, "\r\n\r\n") + 4,
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
	REQUIRE(t_exchange(t, c, up) != NULL);
	CHECK(t_no_accept(t));
}

/* An answer before the whole request body (an early 413): the client
 * gets it with Connection: close, then a FIN; the upstream connection,
 * whose request was cut short, is closed rather than reused. */
T_CASE(test_early_answer)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, "POST /up HTTP/1.1\r\nHost: a.test\r\n"
	    "Content-Length: 100000\r\n\r\n0123456789",
	    "0123456789", &c, &up));
	peer_send(up, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8"
	    "\r\n\r\ntoo-big!");
	REQUIRE(t_wait_str(t, c, "too-big!"));
	CHECK(strncmp(c->buf, "HTTP/1.1 413 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK(t_wait_closed(t, up));
	/* the rest of the body is read and dropped until the client is
	 * done, then the connection goes */
	peer_send(c, "more body");
	CHECK(t_client_done(t, c, 0));
	CHECK_INTEQ(count(c->buf, "HTTP/1.1 "), 1);
}

/* The same, with an upstream that closes right after its early answer
 * (as most servers do) while the client still sends. */
T_CASE(test_early_answer_then_close)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, "POST /up HTTP/1.1\r\nHost: a.test\r\n"
	    "Content-Length: 100000\r\n\r\n0123456789",
	    "0123456789", &c, &up));
	peer_send(up, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8"
	    "\r\nConnection: close\r\n\r\ntoo-big!");
	peer_close(up);
	peer_send(c, "more body");
	REQUIRE(t_wait_str(t, c, "too-big!"));
	CHECK(strncmp(c->buf, "HTTP/1.1 413 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK_INTEQ(count(c->buf, "HTTP/1.1 "), 1);
	peer_close(c);
	CHECK(t_wait_conns(t, 0));
	CHECK(t_no_accept(t));
}

/* The upstream breaks mid-body, with a reset (RST) or a plain close
 * (FIN): the client has the head and the part of the body that came,
 * then its connection closes. Never a completed answer, nor a second
 * one (a 502 page after a 200 head), nor the request sent again. */
static void
t_broken_mid_body(struct tenv *t, bool reset)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, GET("/one", "a.test"), "\r\n\r\n", &c, &up));
	peer_send(up, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
	REQUIRE(t_wait_str(t, c, "partial"));
	if (reset)
		peer_reset(up);
	else
		peer_close(up);
	CHECK(t_wait_closed(t, c));
	CHECK_STREQ(peer_body(c), "partial");
	CHECK_INTEQ(count(c->buf, "HTTP/1.1 "), 1);
	CHECK(t_wait_conns(t, 0));
	CHECK(t_no_accept(t));
}

T_CASE(test_upstream_reset_mid_body)
{
	t_broken_mid_body(t, true);
}

T_CASE(test_upstream_close_mid_body)
{
	t_broken_mid_body(t, false);
}

/* A fresh upstream connection closed without an answer: 502 and close,
 * and the request is not sent again. */
T_CASE(test_upstream_close_no_answer_502)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, GET("/one", "a.test"), "\r\n\r\n", &c, &up));
	peer_close(up);
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 502 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "without answering");
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK(t_client_done(t, c, 0));
	CHECK(t_no_accept(t));
	CHECK_INTEQ(t->accepted, 1);
}

/* The upstream does not answer within upstream_timeout_ms: 504 and
 * close; the upstream connection is given up, not pooled. */
T_CASE(test_upstream_timeout_504, .upstream_timeout_ms = 50)
{
	struct peer *c, *up;

	REQUIRE((c = t_client(t)) != NULL);
	peer_send(c, GET("/one", "a.test"));
	REQUIRE((up = t_accept(t)) != NULL);
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 504 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK(t_wait_closed(t, up));
	CHECK(t_client_done(t, c, 0));
}

/* A 101 to a request that did not ask for one is a bad answer: 502. */
T_CASE(test_unasked_101_502)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, GET("/", "a.test"), "\r\n\r\n", &c, &up));
	peer_send(up, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 502 ", 13) == 0);
	CHECK(t_wait_closed(t, c));
	CHECK(t_wait_closed(t, up));
	CHECK(t_client_done(t, c, 0));
}

/* CONNECT: nothing listens at the upstream's address: 502, and the
 * client connection (whose request was read whole) stays usable. */
T_CASE(test_connect_refused_502)
{
	struct peer *c;

	REQUIRE((c = t_client(t)) != NULL);
	peer_send(c, GET("/", "down.test"));
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 502 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "connect failed");
	CHECK(!peer_closed(c));
	REQUIRE(t_exchange(t, c, NULL) != NULL);
}

/* ---- the idle pool */

/* The upstream closed its idle keep-alive connection while the next
 * request was already on its way to it: an idempotent GET goes again on
 * a fresh connection and succeeds. */
T_CASE(test_stale_pooled_get_retried)
{
	struct peer *c, *up, *up2;

	REQUIRE((c = t_client(t)) != NULL);
	REQUIRE((up = t_exchange(t, c, NULL)) != NULL);
	peer_clear(c);
	/* both before the next round, the request first: it takes the
	 * pooled connection before the close is noticed */
	peer_send(c, GET("/two", "a.test"));
	peer_close(up);
	REQUIRE((up2 = t_accept(t)) != NULL);
	REQUIRE(t_wait_str(t, up2, "\r\n\r\n"));
	CHECK(strncmp(up2->buf, "GET /two HTTP/1.1\r\n", 19) == 0);
	peer_send(up2, OK_TWO);
	REQUIRE(t_wait_str(t, c, "body-two"));
	CHECK(strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK_INTEQ(count(c->buf, "HTTP/1.1 "), 1);
	CHECK(!peer_closed(c));
	CHECK_INTEQ(t->accepted, 2);
	/* the path taken: sent again (devcloud_proxy_upstream_retries) */
	CHECK_INTEQ(atomic_load(&t->w.stats.upstream_retries), 1);
}

/* The same with a POST and its body: it is not sent a second time; the
 * client gets a 502 and a close. */
T_CASE(test_stale_pooled_post_not_resent)
{
	struct peer *c, *up;

	REQUIRE((c = t_client(t)) != NULL);
	REQUIRE((up = t_exchange(t, c, NULL)) != NULL);
	peer_clear(c);
	peer_send(c, "POST /two HTTP/1.1\r\nHost: a.test\r\n"
	    "Content-Length: 4\r\n\r\ndata");
	peer_close(up);
	REQUIRE(t_wait_str(t, c, "</html>\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 502 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "\r\nConnection: close\r\n");
	CHECK(t_wait_closed(t, c));
	CHECK(t_no_accept(t));
	CHECK_INTEQ(t->accepted, 1);
	CHECK_INTEQ(atomic_load(&t->w.stats.upstream_retries), 0);
}

/* An idle pooled connection the upstream closed, noticed before any
 * request wants it: it leaves the pool, and the next request opens a
 * fresh one without a retry. */
T_CASE(test_idle_close_noticed)
{
	struct peer *c, *up, *up2;

	REQUIRE((c = t_client(t)) != NULL);
	REQUIRE((up = t_exchange(t, c, NULL)) != NULL);
	peer_close(up);
	t_settle(t, 20);
	CHECK_INTEQ(atomic_load(&t->w.stats.upstreams), 0);
	peer_clear(c);
	peer_send(c, GET("/two", "a.test"));
	REQUIRE((up2 = t_accept(t)) != NULL);
	REQUIRE(t_wait_str(t, up2, "\r\n\r\n"));
	peer_send(up2, OK_TWO);
	REQUIRE(t_wait_str(t, c, "body-two"));
	CHECK_INTEQ(atomic_load(&t->w.stats.upstream_retries), 0);
}

/* ---- CONNECT, queued for a slot: upstream_max_conns = 1 */

/* The queued request goes out when the slot frees, on the connection
 * just released to the pool. */
T_CASE(test_queued_served_after_release, .upstream_max_conns = 1)
{
	struct peer *a, *b, *up;

	REQUIRE((a = t_client(t)) != NULL);
	REQUIRE((b = t_client(t)) != NULL);
	peer_send(a, GET("/a", "a.test"));
	REQUIRE((up = t_accept(t)) != NULL);
	REQUIRE(t_wait_str(t, up, "\r\n\r\n"));
	peer_clear(up);
	peer_send(b, GET("/b", "a.test"));
	CHECK(t_wait_queued(t, 1));
	CHECK(t_no_accept(t));
	peer_send(up, OK_ONE);
	REQUIRE(t_wait_str(t, a, "body-one"));
	REQUIRE(t_wait_str(t, up, "\r\n\r\n"));
	CHECK(strncmp(up->buf, "GET /b HTTP/1.1\r\n", 17) == 0);
	CHECK_INTEQ(atomic_load(&t->w.stats.upstream_queued), 0);
	peer_send(up, OK_TWO);
	REQUIRE(t_wait_str(t, b, "body-two"));
	CHECK(t_no_accept(t));
	CHECK_INTEQ(t->accepted, 1);
}

/* The same when the upstream closes its connection after the answer:
 * the queued request gets a new one. */
T_CASE(test_queued_served_after_close, .upstream_max_conns = 1)
{
	struct peer *a, *b, *up, *up2;

	REQUIRE((a = t_client(t)) != NULL);
	REQUIRE((b = t_client(t)) != NULL);
	peer_send(a, GET("/a", "a.test"));
	REQUIRE((up = t_accept(t)) != NULL);
	REQUIRE(t_wait_str(t, up, "\r\n\r\n"));
	peer_send(b, GET("/b", "a.test"));
	CHECK(t_wait_queued(t, 1));
	peer_send(up, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n"
	    "Connection: close\r\n\r\nbody-one");
	REQUIRE(t_wait_str(t, a, "body-one"));
	CHECK(!peer_closed(a));		/* the upstream's close is not A's */
	REQUIRE((up2 = t_accept(t)) != NULL);
	REQUIRE(t_wait_str(t, up2, "\r\n\r\n"));
	CHECK(strncmp(up2->buf, "GET /b HTTP/1.1\r\n", 17) == 0);
	CHECK(t_wait_closed(t, up));
	peer_send(up2, OK_TWO);
	REQUIRE(t_wait_str(t, b, "body-two"));
}

/* A queued client leaves: its connection closes without an answer, it
 * leaves the queue, its request never goes upstream, and when the slot
 * frees a third client's request takes it. */
T_CASE(test_client_gone_while_queued, .upstream_max_conns = 1)
{
	struct peer *a, *b, *c, *up;

	REQUIRE((a = t_client(t)) != NULL);
	REQUIRE((b = t_client(t)) != NULL);
	peer_send(a, GET("/a", "a.test"));
	REQUIRE((up = t_accept(t)) != NULL);
	REQUIRE(t_wait_str(t, up, "\r\n\r\n"));
	peer_clear(up);
	peer_send(b, GET("/b", "a.test"));
	CHECK(t_wait_queued(t, 1));
	CHECK(t_no_accept(t));
	shutdown(b->fd, SHUT_WR);	/* B gives up */
	CHECK(t_wait_closed(t, b));
	CHECK_INTEQ(b->len, 0);
	CHECK(t_wait_queued(t, 0));
	CHECK(t_wait_conns(t, 1));

	peer_send(up, OK_ONE);
	REQUIRE(t_wait_str(t, a, "body-one"));
	t_settle(t, 10);
	peer_fill(up);
	CHECK_INTEQ(up->len, 0);	/* B's request was not sent */
	REQUIRE((c = t_client(t)) != NULL);
	peer_send(c, GET("/c", "a.test"));
	REQUIRE(t_wait_str(t, up, "\r\n\r\n"));
	CHECK(strncmp(up->buf, "GET /c HTTP/1.1\r\n", 17) == 0);
	peer_send(up, OK_TWO);
	REQUIRE(t_wait_str(t, c, "body-two"));
	CHECK(t_no_accept(t));
	CHECK_INTEQ(t->accepted, 1);
}

/* EXCHANGE, client side: the client goes away mid-body: both
 * connections close (the upstream's request cannot be finished). */
T_CASE(test_client_gone_mid_body)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, "POST /up HTTP/1.1\r\nHost: a.test\r\n"
	    "Content-Length: 100\r\n\r\n0123456789",
	    "0123456789", &c, &up));
	shutdown(c->fd, SHUT_WR);
	CHECK(t_wait_closed(t, c));
	CHECK_INTEQ(c->len, 0);
	CHECK(t_wait_closed(t, up));
	CHECK(t_wait_conns(t, 0));
}

/* ---- TUNNEL */

/* An Upgrade request answered 101: the 101 reaches the client, then
 * bytes flow both ways untouched; each side's FIN is passed on, and the
 * connection goes when both are done. */
T_CASE(test_upgrade_tunnel)
{
	struct peer *c, *up;

	REQUIRE(t_forward(t, "GET /ws HTTP/1.1\r\nHost: a.test\r\n"
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	    "\r\n\r\n", &c, &up));
	CHECK_CONTAINS(up->buf, "\r\nUpgrade: websocket\r\n");
	CHECK_CONTAINS(up->buf, "\r\nConnection: upgrade\r\n");
	peer_clear(up);
	peer_send(up, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
	REQUIRE(t_wait_str(t, c, "\r\n\r\n"));
	CHECK(strncmp(c->buf, "HTTP/1.1 101 ", 13) == 0);
	CHECK_CONTAINS(c->buf, "\r\nUpgrade: websocket\r\n");
	CHECK_CONTAINS(c->buf, "\r\nConnection: upgrade\r\n");
	peer_clear(c);

	peer_send(c, "ping-from-client");
	REQUIRE(t_wait_str(t, up, "ping-from-client"));
	peer_send(up, "pong-from-upstream");
	REQUIRE(t_wait_str(t, c, "pong-from-upstream"));
	CHECK_STREQ(up->buf, "ping-from-client");
	CHECK_STREQ(c->buf, "pong-from-upstream");

	/* the upstream is done sending: the client sees the FIN and can
	 * still send */
	shutdown(up->fd, SHUT_WR);
	CHECK(t_wait_closed(t, c));
	CHECK_STREQ(c->buf, "pong-from-upstream");
	peer_send(c, "late");
	REQUIRE(t_wait_str(t, up, "late"));
	shutdown(c->fd, SHUT_WR);
	CHECK(t_wait_closed(t, up));
	CHECK(t_wait_conns(t, 0));
	CHECK_INTEQ(atomic_load(&t->w.stats.upgrades), 1);
}

UNIT_TESTS = {
	/* IDLE, HEAD */
	{"keepalive reuse", test_keepalive_reuse},
	{"pipelined", test_pipelined},
	{"request body", test_request_body},
	{"client connection close", test_client_connection_close},
	{"no route 404", test_no_route_404},
	{"malformed 400 close", test_malformed_400_close},
	{"malformed after keep-alive", test_malformed_after_keepalive},
	{"header timeout 408", test_header_timeout_408},
	/* EXCHANGE */
	{"chunked response", test_chunked_response},
	{"early answer", test_early_answer},
	{"early answer then close", test_early_answer_then_close},
	{"upstream reset mid-body", test_upstream_reset_mid_body},
	{"upstream close mid-body", test_upstream_close_mid_body},
	{"upstream close no answer 502", test_upstream_close_no_answer_502},
	{"upstream timeout 504", test_upstream_timeout_504},
	{"unasked 101 502", test_unasked_101_502},
	{"client gone mid-body", test_client_gone_mid_body},
	/* CONNECT */
	{"connect refused 502", test_connect_refused_502},
	{"stale pooled GET retried", test_stale_pooled_get_retried},
	{"stale pooled POST not resent", test_stale_pooled_post_not_resent},
	{"idle close noticed", test_idle_close_noticed},
	{"queued served after release", test_queued_served_after_release},
	{"queued served after close", test_queued_served_after_close},
	{"client gone while queued", test_client_gone_while_queued},
	/* TUNNEL */
	{"upgrade tunnel", test_upgrade_tunnel},
	{NULL, NULL},
};
