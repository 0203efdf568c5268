/*
 * Readiness probes (probe.h): one attempt each, bounded by
 * PROBE_TIMEOUT_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "probe.h"

#define PROBE_TIMEOUT_MS 1000

struct probe {
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wreq;
	uv_timer_t timer;
	uv_getaddrinfo_t gai;
	char req[600];
	char buf[64];
	size_t len;
	bool http;
	bool done;		/* CB ran or was cancelled */
	bool tcp_init;
	int nclose;
	probe_cb cb;
	void *arg;
};

static void
probe_free_cb(uv_handle_t *h)
{
	struct probe *p = h->data;

	if (--p->nclose == 0)
		free(p);
}

static void
probe_close(struct probe *p)
{
	p->nclose = 1 + (p->tcp_init ? 1 : 0);
	uv_close((uv_handle_t *)&p->timer, probe_free_cb);
	if (p->tcp_init)
		uv_close((uv_handle_t *)&p->tcp, probe_free_cb);
}

static void
probe_finish(struct probe *p, bool ready, const char *why)
{
	if (p->done)
		return;
	p->done = true;
	p->cb(ready, why, p->arg);
	probe_close(p);
}

static void
probe_timeout(uv_timer_t *t)
{
	probe_finish(t->data, false, "no answer in time");
}

static void
probe_bad_addr(uv_timer_t *t)
{
	probe_finish(t->data, false, "address is not IP:PORT");
}

static void
probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct probe *p = h->data;

	(void)hint;
	buf->base = p->buf + p->len;
	buf->len = sizeof(p->buf) - 1 - p->len;
}

/* Enough of "HTTP/1.1 200" to judge: 2xx and 3xx mean ready. */
static void
probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct probe *p = s->data;
	char why[96];

	(void)buf;
	if (p->done)
		return;
	if (n < 0) {
		probe_finish(p, false, "closed before answering");
		return;
	}
	p->len += (size_t)n;
	p->buf[p->len] = '\0';
	if (p->len < 12 && p->len < sizeof(p->buf) - 1)
		return;
	if (strncmp(p->buf, "HTTP/1.", 7) != 0) {
		probe_finish(p, false, "not an HTTP answer");
		return;
	}
	if (p->buf[9] == '2' || p->buf[9] == '3') {
		probe_finish(p, true, NULL);
		return;
	}
	snprintf(why, sizeof(why), "answered %.3s", p->buf + 9);
	probe_finish(p, false, why);
}

static void
probe_written(uv_write_t *w, int status)
{
	struct probe *p = w->data;

	if (status != 0)
		probe_finish(p, false, uv_strerror(status));
}

static void
probe_connected(uv_connect_t *c, int status)
{
	struct probe *p = c->data;
	uv_buf_t b;

	if (p->done)
		return;
	if (status != 0) {
		probe_finish(p, false, uv_strerror(status));
		return;
	}
	if (!p->http) {
		probe_finish(p, true, NULL);
		return;
	}
	b = uv_buf_init(p->req, (unsigned)strlen(p->req));
	p->wreq.data = p;
	uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, probe_written);
	uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read);
}

struct probe *
probe_start(uv_loop_t *loop, const char *addr, const char *ready, probe_cb cb,
    void *arg)
{
	char host[CONFIG_ADDR_MAX];
	struct sockaddr_storage ss;
	struct probe *p;
	int port, rv;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->cb = cb;
	p->arg = arg;
	p->timer.data = p->tcp.data = p->conn.data = p;
	uv_timer_init(loop, &p->timer);
	uv_timer_start(&p->timer, probe_timeout, PROBE_TIMEOUT_MS, 0);
	if (addr_parse(addr, 0, host, sizeof(host), &port, NULL) != 0 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
		/* not an IP address: report it on the next loop turn */
		uv_timer_start(&p->timer, probe_bad_addr, 0, 0);
		return p;
	}
	if (strncmp(ready, "http:", 5) == 0) {
		p->http = true;
		snprintf(p->req, sizeof(p->req), "GET %.500s HTTP/1.0\r\n"
		    "Host: %s\r\nUser-Agent: devcloud-autostart\r\n\r\n",
		    ready + 5, addr);
	}
	uv_tcp_init(loop, &p->tcp);
	p->tcp_init = true;
	p->tcp.data = p;
	rv = uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&ss,
	    probe_connected);
	if (rv != 0)
		uv_timer_start(&p->timer, probe_timeout, 0, 0);
	return p;
}

void
probe_cancel(struct probe *p)
{
	if (p == NULL || p->done)
		return;
	p->done = true;
	probe_close(p);
}
