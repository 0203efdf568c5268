/*
 * The life of a daemon (see service.h): everything the five daemons do
 * alike, so that each daemon's own folder holds only its concern.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "service.h"

/* Time given to the last publish to leave before the sockets close. */
#define SERVICE_LINGER_MS 100
#define SERVICE_STOP_MAX_S 3	/* see service_stop_deadline */

struct service_rt {
	struct service *s;
	struct admin *admin;
	uv_timer_t heartbeat;
	uv_timer_t linger;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	bool stopping;
};

int64_t
service_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
service_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
service_usage(FILE *f, const char *prog, const char *summary)
{
	fprintf(f,
	    "usage: %s [-t] [-c FILE]\n"
	    "%s\n\n"
	    "  -c FILE     read FILE (default: $DEVCLOUD_CONFIG, else built-in "
	    "defaults)\n"
	    "  -t          check the configuration and exit\n"
	    "  --version   print the version and exit\n"
	    "  --help      print this help and exit\n\n"
	    "Environment: DEVCLOUD_REDIS, DEVCLOUD_BUS_IN, DEVCLOUD_BUS_OUT, "
	    "DEVCLOUD_INSTANCE,\nand DEVCLOUD_<SECTION>_<SETTING> for any "
	    "setting (see docs/config.md).\n", prog, summary);
}

int
service_parse_args(const char *prog, const char *summary, int argc,
    char **argv, struct service_args *a, int *exit_status)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"config", required_argument, NULL, 'c'},
		{"test", no_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->config_path = optarg;
			break;
		case 't':
			a->check_only = true;
			break;
		case 'h':
			service_usage(stdout, prog, summary);
			*exit_status = 0;
			return -1;
		case 'V':
			printf("%s %s\n", prog, DC_VERSION);
			*exit_status = 0;
			return -1;
		default:
			service_usage(stderr, prog, summary);
			*exit_status = 2;
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog,
		    argv[optind]);
		*exit_status = 2;
		return -1;
	}
	return 0;
}

int
service_load_config(const char *prog, const struct service_args *a,
    struct config *cfg)
{
	const char *path = a->config_path != NULL ? a->config_path :
	    getenv("DEVCLOUD_CONFIG");
	char err[CONFIG_ERR_MAX];

	if (config_load(cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: configuration error: %s\n", prog, err);
		return -1;
	}
	if (keys_init(cfg->redis.prefix) != 0) {
		fprintf(stderr, "%s: configuration error: redis.prefix\n",
		    prog);
		return -1;
	}
	log_set_level(log_level_parse(cfg->log_level));
	if (a->check_only)
		printf("%s: configuration OK (%s)\n", prog,
		    cfg->path[0] ? cfg->path : "built-in defaults");
	return 0;
}

void
service_instance(const struct config *cfg, char *buf, size_t len)
{
	char host[64] = "host";

	if (cfg->instance[0] != '\0') {
		snprintf(buf, len, "%s", cfg->instance);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	/* Keep the instance key-safe whatever the hostname holds. */
	for (char *p = host; *p != '\0'; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-", *p))
			*p = '_';
	host[40] = '\0';
	snprintf(buf, len, "%s-%ld", host, (long)getpid());
}

static void
service_fill_identity(struct service *s, struct msg *m)
{
	snprintf(m->service, sizeof(m->service), "%s", s->name);
	snprintf(m->instance, sizeof(m->instance), "%s", s->instance);
	snprintf(m->version, sizeof(m->version), "%s", DC_VERSION);
	m->uptime_ms = service_mono_ms() - s->started_ms;
	m->pid = getpid();
}

static void
service_heartbeat_cb(uv_timer_t *t)
{
	struct service_rt *rt = t->data;
	struct service *s = rt->s;
	char key[KEY_MAX];
	struct msg m;

	msg_init(&m, MSG_SERVICE_UP);
	service_fill_identity(s, &m);
	snprintf(m.control, sizeof(m.control), "%s", s->conf->control);
	bus_publish(s->bus, &m);
	if (key_services(key, sizeof(key)) != NULL)
		store_command(s->store, NULL, NULL, "ZADD %s %lld %s", key,
		    (long long)service_now_ms(), s->source);
}

static void
service_on_store(struct store *st, bool up, void *arg)
{
	struct service_rt *rt = arg;

	(void)st;
	if (rt->s->on_store != NULL && !rt->stopping)
		rt->s->on_store(rt->s, up);
}

static void
service_on_event(struct bus *b, const struct msg *m, void *arg)
{
	struct service_rt *rt = arg;

	(void)b;
	if (rt->s->on_event != NULL && !rt->stopping)
		rt->s->on_event(rt->s, m);
}

/*
 * One counter per message type, registered when its first event is
 * ignored (so /metrics lists only the types a daemon has met). Only the
 * loop thread registers them.
 */
static struct {
	struct metric m;
	char name[96];
} service_ignored[MSG_TYPE_COUNT];

void
service_event_ignored(struct service *s, const struct msg *m)
{
	(void)s;
	const char *type = msg_type_name(m->type);

	log_debug("event ignored", "type=%s source=%s", type ? type : "?",
	    m->source);
	if (type == NULL || (unsigned)m->type >= MSG_TYPE_COUNT)
		return;
	if (service_ignored[m->type].m.name == NULL) {
		struct metric *c = &service_ignored[m->type].m;

		snprintf(service_ignored[m->type].name,
		    sizeof(service_ignored[m->type].name),
		    "devcloud_events_ignored_total{type=\"%s\"}", type);
		c->name = service_ignored[m->type].name;
		c->help = "Bus events a daemon received and does not act on.";
		c->kind = METRIC_KIND_COUNTER;
		metrics_register(c);
	}
	metric_add(&service_ignored[m->type].m, 1);
}

static void
service_on_command(struct bus *b, struct bus_request *req,
    const struct msg *m, void *arg)
{
	struct service_rt *rt = arg;
	struct service *s = rt->s;
	struct msg r;

	switch (m->type) {
	case MSG_PING:
		msg_init(&r, MSG_PING_OK);
		service_fill_identity(s, &r);
		bus_reply(b, req, &r);
		break;
	default:
		if (s->on_command != NULL && !rt->stopping &&
		    s->on_command(s, req, m))
			break;
		log_warn("unknown command", "type=%s source=%s",
		    msg_type_name(m->type), m->source);
		bus_reply_error(b, req, "unknown command");
		break;
	}
}

static int
service_ready(char *why, size_t len, void *arg)
{
	struct service *s = arg;

	if (!store_connected(s->store)) {
		snprintf(why, len, "redis %s not connected",
		    s->cfg.redis.address);
		return 0;
	}
	if (!bus_connected(s->bus)) {
		snprintf(why, len, "bus %s / %s not connected", s->cfg.bus.in,
		    s->cfg.bus.out);
		return 0;
	}
	return 1;
}

/*
 * Handles that are not ours (hiredis' poll handle, a daemon's timers) are
 * unref'ed rather than closed: their owners close them, and the loop no
 * longer waits for them.
 */
static void
service_unref_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	uv_unref(h);
}

/* Second half of the shutdown, once service.down had time to leave. */
static void
service_linger_cb(uv_timer_t *t)
{
	struct service_rt *rt = t->data;
	struct service *s = rt->s;

	admin_stop(rt->admin);
	rt->admin = NULL;
	bus_close(s->bus);
	store_close(s->store);
	uv_close((uv_handle_t *)&rt->heartbeat, NULL);
	uv_close((uv_handle_t *)&rt->linger, NULL);
	uv_close((uv_handle_t *)&rt->sigterm, NULL);
	uv_close((uv_handle_t *)&rt->sigint, NULL);
	/* Whatever the daemon left open must not keep us running. */
	uv_walk(s->loop, service_unref_any, NULL);
}

static void
service_stop_alarm(int sig)
{
	static const char line[] = "level=error msg=\"shutdown stuck: "
	    "exiting without closing (a socket's close did not return)\"\n";

	(void)sig;
	(void)!write(2, line, sizeof(line) - 1);
	_exit(1);
}

void
service_stop_deadline(unsigned seconds)
{
	signal(SIGALRM, service_stop_alarm);
	alarm(seconds);
}

static void
service_signal_cb(uv_signal_t *h, int signum)
{
	struct service_rt *rt = h->data;
	struct service *s = rt->s;
	char key[KEY_MAX];
	struct msg m;

	if (rt->stopping)
		return;
	rt->stopping = true;
	log_info("shutting down", "signal=%s", strsignal(signum));
	service_stop_deadline(SERVICE_STOP_MAX_S);
	uv_timer_stop(&rt->heartbeat);
	if (s->shutdown != NULL)
		s->shutdown(s);
	msg_init(&m, MSG_SERVICE_DOWN);
	service_fill_identity(s, &m);
	snprintf(m.reason, sizeof(m.reason), "signal %s", strsignal(signum));
	bus_publish(s->bus, &m);
	if (key_services(key, sizeof(key)) != NULL)
		store_command(s->store, NULL, NULL, "ZREM %s %s", key,
		    s->source);
	uv_timer_start(&rt->linger, service_linger_cb, SERVICE_LINGER_MS, 0);
}

int
service_main(struct service *s, int argc, char **argv)
{
	char prog[64], err[CONFIG_ERR_MAX];
	struct service_args args;
	struct service_rt rt = {.s = s};
	int status;

	snprintf(prog, sizeof(prog), "devcloud-%s", s->name);
	log_init(s->name);
	if (service_parse_args(prog, s->summary, argc, argv, &args,
	    &status) != 0)
		return status;
	if (service_load_config(prog, &args, &s->cfg) != 0)
		return 1;
	if (args.check_only)
		return 0;
	s->conf = config_daemon(&s->cfg, s->name);
	service_instance(&s->cfg, s->instance, sizeof(s->instance));
	snprintf(s->source, sizeof(s->source), "%s/%s", s->name, s->instance);
	s->started_ms = service_mono_ms();
	s->loop = uv_default_loop();
	signal(SIGPIPE, SIG_IGN);

	if (s->init != NULL && s->init(s) != 0)
		return 1;
	s->store = store_open(s->loop, &s->cfg, service_on_store, &rt);
	s->bus = bus_open(s->loop, &s->cfg, s->source, s->conf->control,
	    service_on_event, service_on_command, &rt, err, sizeof(err));
	if (s->store == NULL || s->bus == NULL) {
		log_error("cannot start", "err=\"%s\"",
		    s->bus == NULL ? err : "out of memory");
		return 1;
	}
	for (const char *const *t = s->topics; t != NULL && *t != NULL; t++)
		bus_subscribe(s->bus, *t);
	if ((rt.admin = admin_start(s->conf->admin, service_ready, s, err,
	    sizeof(err))) == NULL) {
		log_error("cannot start admin port", "err=\"%s\"", err);
		return 1;
	}
	if (s->nroutes > 0 && admin_add_routes(rt.admin, s->loop, s->routes,
	    s->nroutes, err, sizeof(err)) != 0) {
		log_error("cannot start admin port", "err=\"%s\"", err);
		return 1;
	}
	uv_timer_init(s->loop, &rt.heartbeat);
	uv_timer_init(s->loop, &rt.linger);
	rt.heartbeat.data = rt.linger.data = &rt;
	uv_signal_init(s->loop, &rt.sigterm);
	uv_signal_init(s->loop, &rt.sigint);
	rt.sigterm.data = rt.sigint.data = &rt;
	uv_signal_start(&rt.sigterm, service_signal_cb, SIGTERM);
	uv_signal_start(&rt.sigint, service_signal_cb, SIGINT);
	/* First heartbeat soon after start, then every interval. */
	uv_timer_start(&rt.heartbeat, service_heartbeat_cb, 200,
	    (uint64_t)s->cfg.bus.heartbeat_ms);
	log_info("started", "version=%s instance=%s control=%s admin=%s "
	    "redis=%s bus_in=%s bus_out=%s", DC_VERSION, s->instance,
	    s->conf->control, s->conf->admin, s->cfg.redis.address,
	    s->cfg.bus.in, s->cfg.bus.out);

	uv_run(s->loop, UV_RUN_DEFAULT);
	uv_loop_close(s->loop);
	log_info("stopped", "uptime_ms=%lld",
	    (long long)(service_mono_ms() - s->started_ms));
	return 0;
}
