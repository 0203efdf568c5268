/*
 * devcloudctl ping, status and events: the bus seen from a terminal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "bus.h"
#include "config.h"
#include "keys.h"
#include "msg.h"
#include "service.h"
#include "ctl.h"

#define STATUS_MAX 256

int
ctl_ping(struct ctl *c, int argc, char **argv)
{
	const struct config_daemon *d;
	struct msg m, r;
	char err[512];
	int64_t t0;

	if (argc != 1)
		return ctl_usage_error("usage: ping SERVICE");
	if ((d = config_daemon(&c->cfg, argv[0])) == NULL)
		return ctl_usage_error("ping: unknown service \"%s\" (proxy, "
		    "autostart, regulator, idepool, deployer)", argv[0]);
	msg_init(&m, MSG_PING);
	t0 = service_mono_ms();
	if (bus_call_sync(d->control, c->source, &m,
	    c->wait_ms >= 0 ? c->wait_ms : 2000, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "devcloudctl: ping %s: %s\n", argv[0], err);
		return 1;
	}
	printf("%s %s instance=%s uptime=%.1fs pid=%lld rtt=%lldms\n",
	    r.service, r.version, r.instance, (double)r.uptime_ms / 1000.0,
	    (long long)r.pid, (long long)(service_mono_ms() - t0));
	return 0;
}

/*
 * The socket is never closed: the process's exit ends it. nng 1.5.2's
 * nng_close() can block for good on a connected sub0 socket (seen under
 * load; fixed upstream after 1.5.2), and a command that has its answer
 * must not hang on the way out.
 */
int
ctl_subscribe(struct ctl *c, nng_socket *s, const char *prefix)
{
	int rv;

	if ((rv = nng_sub0_open(s)) != 0 ||
	    (rv = nng_socket_set(*s, NNG_OPT_SUB_SUBSCRIBE, prefix,
	    strlen(prefix))) != 0 ||
	    /* as deep as a daemon's: a burst arrives whole */
	    (rv = nng_socket_set_int(*s, NNG_OPT_RECVBUF,
	    BUS_QUEUE_MSGS)) != 0 ||
	    (rv = nng_dial(*s, c->cfg.bus.out, NULL, 0)) != 0) {
		fprintf(stderr, "devcloudctl: cannot reach the bus at %s: %s "
		    "(is devcloud-bus running?)\n", c->cfg.bus.out,
		    nng_strerror(rv));
		nng_close(*s);
		return -1;
	}
	nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, 1000);
	return 0;
}

struct status_row {
	char source[MSG_NAME_MAX * 2];
	char service[MSG_NAME_MAX];
	char instance[MSG_NAME_MAX];
	char version[MSG_NAME_MAX];
	int64_t ts;
	bool down;
	bool on_bus;
};

static struct status_row *
status_find(struct status_row *rows, int *n, const char *source)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(rows[i].source, source) == 0)
			return &rows[i];
	if (*n == STATUS_MAX)
		return NULL;
	memset(&rows[*n], 0, sizeof(rows[*n]));
	snprintf(rows[*n].source, sizeof(rows[*n].source), "%s", source);
	return &rows[(*n)++];
}

/* Adds the daemons Redis remembers, silent ones included. */
static void
status_from_redis(struct ctl *c, struct status_row *rows, int *n)
{
	char key[KEY_MAX];
	redisContext *rc;
	redisReply *r;

	if ((rc = ctl_redis(c, true)) == NULL)
		return;		/* the bus is what status is about */
	r = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES",
	    key_services(key, sizeof(key)));
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY &&
	    i + 1 < r->elements; i += 2) {
		struct status_row *row = status_find(rows, n,
		    r->element[i]->str);
		const char *slash = strchr(r->element[i]->str, '/');

		if (row == NULL || row->on_bus || slash == NULL)
			continue;
		snprintf(row->service, sizeof(row->service), "%.*s",
		    (int)(slash - r->element[i]->str), r->element[i]->str);
		snprintf(row->instance, sizeof(row->instance), "%s",
		    slash + 1);
		row->ts = strtoll(r->element[i + 1]->str, NULL, 10);
	}
	freeReplyObject(r);
	redisFree(rc);
}

static int
status_cmp(const void *a, const void *b)
{
	const struct status_row *x = a, *y = b;
	int d = strcmp(x->service, y->service);

	return d ? d : strcmp(x->instance, y->instance);
}

int
ctl_status(struct ctl *c, int argc, char **argv)
{
	static struct status_row rows[STATUS_MAX];
	int n = 0, alive = 0;
	int window = c->wait_ms >= 0 ? c->wait_ms :
	    c->cfg.bus.heartbeat_ms + 1000;
	int64_t until, now;
	nng_socket s;

	(void)argv;
	if (argc != 0)
		return ctl_usage_error("usage: status");
	if (ctl_subscribe(c, &s, "service.") != 0)
		return 1;
	/* Listen for one heartbeat interval: every live daemon speaks. */
	until = service_mono_ms() + window;
	while ((now = service_mono_ms()) < until) {
		struct status_row *row;
		struct msg m;
		char *buf, err[256];
		size_t len;

		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (int)(until - now));
		if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
			break;
		if (msg_decode(&m, buf, len, err, sizeof(err)) == 0 &&
		    (row = status_find(rows, &n, m.source)) != NULL) {
			snprintf(row->service, sizeof(row->service), "%s",
			    m.service);
			snprintf(row->instance, sizeof(row->instance), "%s",
			    m.instance);
			snprintf(row->version, sizeof(row->version), "%s",
			    m.version);
			row->ts = m.ts;
			row->down = m.type == MSG_SERVICE_DOWN;
			row->on_bus = true;
		}
		nng_free(buf, len);
	}
	/* no nng_close(s): see ctl_subscribe */
	status_from_redis(c, rows, &n);
	qsort(rows, (size_t)n, sizeof(rows[0]), status_cmp);
	printf("%-10s %-32s %-8s %9s  %s\n", "SERVICE", "INSTANCE", "VERSION",
	    "HEARTBEAT", "STATE");
	now = service_now_ms();
	for (int i = 0; i < n; i++) {
		const char *state = rows[i].down ? "down" :
		    rows[i].on_bus ? "alive" : "silent";

		alive += rows[i].on_bus && !rows[i].down;
		printf("%-10s %-32s %-8s %8.1fs  %s\n", rows[i].service,
		    rows[i].instance, rows[i].version[0] ? rows[i].version :
		    "-", (double)(now - rows[i].ts) / 1000.0, state);
	}
	if (alive == 0) {
		fprintf(stderr, "devcloudctl: no daemon heard on %s within "
		    "%d ms\n", c->cfg.bus.out, window);
		return 1;
	}
	return 0;
}

static volatile sig_atomic_t events_stop;

static void
events_sigint(int sig)
{
	(void)sig;
	events_stop = 1;
}

/* Prints FRAME's JSON with its topic added as "type". */
static void
events_print(const char *buf, size_t len)
{
	const char *sp = memchr(buf, ' ', len);
	size_t tl = (size_t)(sp - buf);
	const char *js = sp + 1;
	size_t jl = len - tl - 1;

	if (jl >= 2 && js[0] == '{')
		printf("{\"type\":\"%.*s\"%s%.*s\n", (int)tl, buf,
		    jl > 2 ? "," : "", (int)(jl - 1), js + 1);
	fflush(stdout);
}

int
ctl_events(struct ctl *c, int argc, char **argv)
{
	const char *prefix = argc > 0 ? argv[0] : "";
	int64_t until = c->wait_ms >= 0 ? service_mono_ms() + c->wait_ms : 0;
	long seen = 0;
	nng_socket s;

	if (argc > 1)
		return ctl_usage_error("usage: events [PREFIX]");
	if (ctl_subscribe(c, &s, prefix) != 0)
		return 1;
	signal(SIGINT, events_sigint);
	signal(SIGTERM, events_sigint);
	while (!events_stop && (c->count == 0 || seen < c->count)) {
		int64_t now = service_mono_ms();
		struct msg m;
		char *buf, err[256];
		size_t len;
		int rv;

		if (until != 0 && now >= until)
			break;
		/* Wake up now and then to notice signals and the deadline. */
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, until == 0 ? 200 :
		    (int)(until - now < 200 ? until - now : 200));
		if ((rv = nng_recv(s, &buf, &len, NNG_FLAG_ALLOC)) != 0) {
			if (rv == NNG_ETIMEDOUT)
				continue;
			break;
		}
		if (msg_decode(&m, buf, len, err, sizeof(err)) != 0)
			fprintf(stderr, "devcloudctl: dropped a malformed "
			    "event: %s\n", err);
		else {
			events_print(buf, len);
			seen++;
		}
		nng_free(buf, len);
	}
	/* no nng_close(s): see ctl_subscribe */
	return 0;
}

/* Sends BUF verbatim to bus.in from a fresh pub0 socket. */
static int
ctl_publish_frame(struct ctl *c, const char *what, const void *buf,
    size_t len)
{
	struct timespec linger = {0, 50 * 1000 * 1000};
	nng_socket s;
	int rv;

	if ((rv = nng_pub0_open(&s)) != 0 ||
	    (rv = nng_dial(s, c->cfg.bus.in, NULL, 0)) != 0 ||
	    (rv = nng_send(s, (void *)buf, len, 0)) != 0) {
		fprintf(stderr, "devcloudctl: cannot publish %s on %s: %s\n",
		    what, c->cfg.bus.in, nng_strerror(rv));
		nng_close(s);
		return -1;
	}
	nanosleep(&linger, NULL);	/* let the frame leave before close */
	nng_close(s);
	return 0;
}

int
ctl_publish(struct ctl *c, struct msg *m)
{
	char *buf;
	size_t len;
	int rv;

	snprintf(m->source, sizeof(m->source), "%s", c->source);
	if ((buf = msg_encode(m, &len)) == NULL)
		return -1;
	rv = ctl_publish_frame(c, msg_type_name(m->type), buf, len);
	free(buf);
	return rv;
}

int
ctl_publish_raw(struct ctl *c, int argc, char **argv)
{
	if (argc != 1)
		return ctl_usage_error("usage: publish FRAME");
	return ctl_publish_frame(c, "frame", argv[0], strlen(argv[0])) == 0 ?
	    0 : 1;
}
