/*
 * devcloud-proxy: the entry point. Fills the service description (name,
 * hooks) and lets service_main run the daemon; the hooks start the
 * workers, reload routes when Redis comes (back), apply bus events, and
 * stop the workers on shutdown. The daemon's state is a struct proxy in
 * s->priv.
 */
#include <stdio.h>

#include "log.h"
#include "proxy.h"
#include "service.h"

static size_t
proxy_bufsize(const struct config *cfg)
{
	/* A whole head must fit in one buffer, with room to spare. */
	size_t n = (size_t)cfg->proxy.max_request_line +
	    (size_t)cfg->proxy.max_header_bytes + 1024;

	if (n < 16384)
		n = 16384;
	return (n + 4095) & ~(size_t)4095;
}

static void
proxy_flush_cb(uv_timer_t *t)
{
	activity_flush(t->data);
}

static int
proxy_init(struct service *s)
{
	struct proxy *px = s->priv;
	char err[CONFIG_ERR_MAX];

	px->svc = s;
	px->cfg = &s->cfg;
	px->bufsize = proxy_bufsize(&s->cfg);
	px->limits.max_line = (uint32_t)s->cfg.proxy.max_request_line;
	px->limits.max_fields = (uint32_t)s->cfg.proxy.max_header_bytes;
	if (apps_init(px) < 0) {
		log_error("cannot start", "err=\"out of memory\"");
		return -1;
	}
	stats_init(px);
	uv_timer_init(s->loop, &px->flush);
	px->flush.data = px;
	uv_timer_start(&px->flush, proxy_flush_cb,
	    (uint64_t)s->cfg.proxy.flush_interval_ms,
	    (uint64_t)s->cfg.proxy.flush_interval_ms);
	activity_init(px);
	if (worker_start_all(px, err, sizeof(err)) < 0) {
		log_error("cannot start", "err=\"%s\"", err);
		return -1;
	}
	return 0;
}

static void
proxy_on_store(struct service *s, bool up)
{
	if (up)
		apps_reload(s->priv);
}

static void
proxy_on_event(struct service *s, const struct msg *m)
{
	apps_on_event(s->priv, m);
}

static void
proxy_shutdown(struct service *s)
{
	struct proxy *px = s->priv;
	int grace = px->cfg->proxy.stop_grace_ms;

	/* the drain's time counts into the stop's deadline (service.h) */
	service_stop_deadline((unsigned)(grace / 1000 + 3));
	worker_stop_all(px, grace);
	activity_flush(px);
	uv_close((uv_handle_t *)&px->flush, NULL);
	activity_shutdown(px);
	apps_shutdown(px);
}

static const char *const proxy_topics[] = {"route.", "app.", "instance.",
    "pool.leased", "pool.released", "pool.save_failed", NULL};

int
main(int argc, char **argv)
{
	/* static: what it still holds at exit stays reachable (no leak) */
	static struct proxy proxy;
	struct service s = {
		.name = "proxy",
		.summary = "the HTTP reverse proxy: routes by domain, holds "
		    "requests while apps wake",
		.topics = proxy_topics,
		.init = proxy_init,
		.on_store = proxy_on_store,
		.on_event = proxy_on_event,
		.shutdown = proxy_shutdown,
		.priv = &proxy,
	};

	return service_main(&s, argc, argv);
}
