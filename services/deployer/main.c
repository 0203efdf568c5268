/*
 * devcloud-deployer: the daemon's hooks on the shared service skeleton. Its
 * state is a struct deployer in s->priv; its upload route is intake.c's;
 * every event it does not act on goes to service_event_ignored.
 */
#include <curl/curl.h>

#include "deployer.h"
#include "log.h"
#include "service.h"

static void
deployer_tick(uv_timer_t *t)
{
	struct deployer *dp = t->data;

	if (dp->stopping)
		return;
	watch_tick(dp);
	if (service_mono_ms() >= dp->recover_at) {
		dp->recover_at = service_mono_ms() + DEPLOYER_RECOVER_MS;
		recover_scan(dp);
	}
}

static int
deployer_init(struct service *s)
{
	struct deployer *dp = s->priv;

	dp->svc = s;
	intake_routes(dp);
	uv_timer_init(s->loop, &dp->tick);
	dp->tick.data = dp;
	uv_timer_start(&dp->tick, deployer_tick, DEPLOYER_TICK_MS,
	    DEPLOYER_TICK_MS);
	if (release_sweep(dp) != 0)
		log_warn("cannot sweep releases_dir", "dir=%s",
		    s->cfg.deployer.releases_dir);
	return 0;
}

static void
deployer_on_event(struct service *s, const struct msg *m)
{
	switch (m->type) {
	case MSG_INSTANCE_STOPPED:
		watch_on_event(s->priv, m);
		break;
	default:
		service_event_ignored(s, m);
		break;
	}
}

static void
deployer_shutdown(struct service *s)
{
	struct deployer *dp = s->priv;

	intake_shutdown(dp);
	uv_timer_stop(&dp->tick);
	uv_close((uv_handle_t *)&dp->tick, NULL);
}

int
main(int argc, char **argv)
{
	static const char *const topics[] = {"instance.", NULL};
	static struct deployer dp;
	static struct service s = {
		.name = "deployer",
		.summary = "The devcloud deployer: new builds replace running "
		    "ones without a failed request.",
		.topics = topics,
		.init = deployer_init,
		.on_event = deployer_on_event,
		.shutdown = deployer_shutdown,
		.priv = &dp,
	};

	/* before any thread: downloads run on the thread pool */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return service_main(&s, argc, argv);
}
