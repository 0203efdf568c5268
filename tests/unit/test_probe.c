// links:
/*
 * The readiness probe (common/probe.c) against a real
 * listener on the loop: "tcp" and "http:/path" on 127.0.0.1 and on the
 * IPv6 loopback written "[::1]:PORT", a refused connection, and the
 * addresses it must refuse without connecting (a bare IPv6 address, a
 * name, a unix path). Without ::1 on this machine the IPv6 case is
 * skipped; a listener that cannot be had on 127.0.0.1 is a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "probe.h"
#include "unit.h"

/* A tiny HTTP server: answers ANSWER to one request per connection. */
struct server {
	uv_tcp_t tcp;
	int port;
	const char *answer;
	char seen[1024];	/* the last request's bytes */
	size_t seen_len;
};

struct client {
	uv_tcp_t tcp;
	uv_write_t wreq;
	struct server *srv;
	char buf[1024];
};

struct result {
	bool done, ready;
	char why[128];
};

static void
client_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
client_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct client *c = h->data;

	(void)hint;
	b->base = c->buf;
	b->len = sizeof(c->buf);
}

static void
client_written(uv_write_t *w, int status)
{
	struct client *c = w->data;

	(void)status;
	uv_close((uv_handle_t *)&c->tcp, client_close_cb);
}

static void
client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct client *c = s->data;
	struct server *srv = c->srv;
	uv_buf_t out;

	if (n < 0) {
		uv_close((uv_handle_t *)&c->tcp, client_close_cb);
		return;
	}
	if (srv->seen_len + (size_t)n >= sizeof(srv->seen))
		n = (ssize_t)(sizeof(srv->seen) - 1 - srv->seen_len);
	memcpy(srv->seen + srv->seen_len, b->base, (size_t)n);
	srv->seen_len += (size_t)n;
	srv->seen[srv->seen_len] = '\0';
	if (strstr(srv->seen, "\r\n\r\n") == NULL)
		return;
	uv_read_stop(s);
	out = uv_buf_init((char *)srv->answer, (unsigned)strlen(srv->answer));
	c->wreq.data = c;
	uv_write(&c->wreq, s, &out, 1, client_written);
}

static void
server_conn(uv_stream_t *s, int status)
{
	struct server *srv = s->data;
	struct client *c;

	if (status != 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->srv = srv;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(s, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, client_close_cb);
		return;
	}
	srv->seen_len = 0;
	srv->seen[0] = '\0';
	uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read);
}

/* Listens on HOST, port chosen by the kernel; 0, or a libuv error. */
static int
server_start(uv_loop_t *loop, struct server *srv, const char *host)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rv;

	memset(srv, 0, sizeof(*srv));
	srv->answer = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	if (strchr(host, ':') != NULL)
		rv = uv_ip6_addr(host, 0, (struct sockaddr_in6 *)&ss);
	else
		rv = uv_ip4_addr(host, 0, (struct sockaddr_in *)&ss);
	if (rv != 0)
		return rv;
	uv_tcp_init(loop, &srv->tcp);
	srv->tcp.data = srv;
	if ((rv = uv_tcp_bind(&srv->tcp, (struct sockaddr *)&ss, 0)) != 0 ||
	    (rv = uv_listen((uv_stream_t *)&srv->tcp, 8, server_conn)) != 0 ||
	    (rv = uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&ss,
	    &len)) != 0) {
		uv_close((uv_handle_t *)&srv->tcp, NULL);
		uv_run(loop, UV_RUN_DEFAULT);
		return rv;
	}
	srv->port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

static void
server_stop(uv_loop_t *loop, struct server *srv)
{
	uv_close((uv_handle_t *)&srv->tcp, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
}

static void
probe_done(bool ready, const char *why, void *arg)
{
	struct result *r = arg;

	r->done = true;
	r->ready = ready;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
}

/* Runs one probe of ADDR to its end. */
static struct result
probe_run(uv_loop_t *loop, const char *addr, const char *ready)
{
	struct result r = {0};

	if (probe_start(loop, addr, ready, probe_done, &r) == NULL) {
		snprintf(r.why, sizeof(r.why), "probe_start: out of memory");
		return r;
	}
	while (!r.done && uv_run(loop, UV_RUN_ONCE) != 0)
		;
	uv_run(loop, UV_RUN_NOWAIT);	/* the probe's close callbacks */
	return r;
}

static void
loop_done(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_INTEQ(uv_loop_close(loop), 0);
}

/* tcp and http probes of a listener on HOST, written as ADDR_FMT. */
static void
probe_listener(const char *host, const char *addr_fmt)
{
	uv_loop_t loop;
	struct server srv;
	struct result r;
	char addr[64], hosthdr[80];
	int rv;

	REQUIRE(uv_loop_init(&loop) == 0);
	if ((rv = server_start(&loop, &srv, host)) != 0) {
		loop_done(&loop);
		/* A machine may have no IPv6 loopback; every one has 127.0.0.1. */
		if (strchr(host, ':') != NULL && (rv == UV_EADDRNOTAVAIL ||
		    rv == UV_EAFNOSUPPORT))
			SKIP("cannot listen on %s: %s", host, uv_strerror(rv));
		unit_fail(__FILE__, __LINE__, "cannot listen on %s: %s", host,
		    uv_strerror(rv));
		return;
	}
	snprintf(addr, sizeof(addr), addr_fmt, srv.port);

	r = probe_run(&loop, addr, "tcp");
	CHECK(r.done);
	if (!r.ready)
		unit_fail(__FILE__, __LINE__, "tcp probe of %s: %s", addr,
		    r.why);

	r = probe_run(&loop, addr, "http:/healthz");
	CHECK(r.done);
	if (!r.ready)
		unit_fail(__FILE__, __LINE__, "http probe of %s: %s", addr,
		    r.why);
	CHECK_CONTAINS(srv.seen, "GET /healthz HTTP/1.0\r\n");
	snprintf(hosthdr, sizeof(hosthdr), "\r\nHost: %s\r\n", addr);
	CHECK_CONTAINS(srv.seen, hosthdr);

	srv.answer = "HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n";
	r = probe_run(&loop, addr, "http:/healthz");
	CHECK(r.done && !r.ready);
	CHECK_CONTAINS(r.why, "503");

	server_stop(&loop, &srv);
	loop_done(&loop);
}

static void
test_ipv4(void)
{
	probe_listener("127.0.0.1", "127.0.0.1:%d");
}

static void
test_ipv6(void)
{
	probe_listener("::1", "[::1]:%d");
}

/* A port nobody listens on: the probe says so, it does not hang. */
static void
test_refused(void)
{
	uv_loop_t loop;
	struct server srv;
	struct result r;
	char addr[64];
	int port;

	REQUIRE(uv_loop_init(&loop) == 0);
	REQUIRE(server_start(&loop, &srv, "127.0.0.1") == 0);
	port = srv.port;
	server_stop(&loop, &srv);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	r = probe_run(&loop, addr, "tcp");
	CHECK(r.done && !r.ready);
	CHECK(strstr(r.why, "refused") != NULL ||
	    strstr(r.why, "no answer") != NULL);
	loop_done(&loop);
}

/* Not IP:PORT by addr_parse's rule: refused before any connect. */
static void
test_bad_addresses(void)
{
	static const char *const bad[] = {
		"::1:8080", "::1", "[::1]", "[::1]:0", "localhost:8080",
		"/run/app.sock", "127.0.0.1:+80", "127.0.0.1", "",
	};
	uv_loop_t loop;
	struct result r;

	REQUIRE(uv_loop_init(&loop) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = probe_run(&loop, bad[i], "tcp");
		if (!r.done || r.ready || strstr(r.why, "not IP:PORT") == NULL)
			unit_fail(__FILE__, __LINE__, "\"%s\": done=%d "
			    "ready=%d why=\"%s\"", bad[i], r.done, r.ready,
			    r.why);
	}
	loop_done(&loop);
}

UNIT_TESTS = {
	{"tcp and http on 127.0.0.1", test_ipv4},
	{"tcp and http on [::1]", test_ipv6},
	{"connection refused", test_refused},
	{"bad addresses", test_bad_addresses},
	{NULL, NULL},
};
