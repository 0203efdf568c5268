/*
 * devcloud-autostart: the daemon's hooks on the shared service skeleton.
 * Commands: wake, stop, scale, and the deployer's stage and retire. Events: app.* from other replicas, so that a
 * wake waiting on another replica's start or stop goes on at once, and
 * host.overloaded / host.recovered, which limit starts on this host. The
 * daemon's state is a struct autostart in s->priv.
 */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "autostart.h"

static void
autostart_on_exit(const char *app, const char *inst, const char *why,
    void *arg)
{
	struct autostart *as = arg;

	if (!as->closing)
		wake_on_exit(as, app, inst, why);
}

static int
autostart_init(struct service *s)
{
	struct autostart *as = s->priv;

	as->svc = s;
	host_name(s->cfg.autostart.host, as->host, sizeof(as->host));
	if ((as->drivers = drivers_open(s->loop, &s->cfg, autostart_on_exit,
	    as)) == NULL) {
		log_error("cannot start the drivers", "run_dir=%s",
		    s->cfg.autostart.run_dir);
		return -1;
	}
	stop_sweep_start(as);
	return 0;
}

static void
autostart_on_store(struct service *s, bool up)
{
	if (up)
		stop_reconcile(s->priv);
}

static void
autostart_on_event(struct service *s, const struct msg *m)
{
	switch (m->type) {
	case MSG_APP_READY:
	case MSG_APP_FAILED:
	case MSG_APP_STOPPED:
		if (m->type == MSG_APP_STOPPED)
			stage_app_stopped(s->priv, m->app);
		wake_on_event(s->priv, m);
		break;
	case MSG_HOST_OVERLOADED:
	case MSG_HOST_RECOVERED:
		wake_host_state(s->priv, m->host,
		    m->type == MSG_HOST_OVERLOADED);
		break;
	default:
		service_event_ignored(s, m);
		break;
	}
}

static bool
autostart_on_command(struct service *s, struct bus_request *req,
    const struct msg *m)
{
	switch (m->type) {
	case MSG_WAKE:
		wake_request(s->priv, m->app, req);
		return true;
	case MSG_STOP:
		stop_request(s->priv, m->app, m->reason[0] ? m->reason :
		    "manual", req);
		return true;
	case MSG_SCALE:
		scale_request(s->priv, m, req);
		return true;
	case MSG_STAGE:
	case MSG_RETIRE:
		stage_request(s->priv, m, req);
		return true;
	default:
		return false;
	}
}

static void
autostart_shutdown(struct service *s)
{
	struct autostart *as = s->priv;

	wake_abort_all(as);
	stop_abort_all(as);
	scale_abort_all(as);
	stage_abort_all(as);
	as->closing = true;
	drivers_close(as->drivers);
	as->drivers = NULL;
}

int
main(int argc, char **argv)
{
	static const char *const topics[] = {"app.", "host.", NULL};
	/* static: what it still holds at exit stays reachable (no leak) */
	static struct autostart as;
	static struct service s = {
		.name = "autostart",
		.summary = "The devcloud autostart: starts apps on their "
		    "first request and stops them when idle.",
		.topics = topics,
		.init = autostart_init,
		.on_store = autostart_on_store,
		.on_event = autostart_on_event,
		.on_command = autostart_on_command,
		.shutdown = autostart_shutdown,
		.priv = &as,
	};

	return service_main(&s, argc, argv);
}
