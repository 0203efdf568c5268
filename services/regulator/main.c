/*
 * devcloud-regulator: the daemon's hooks on the shared service skeleton.
 * Events: app.changed (an app's record, so its autoscaling, may have
 * changed), app.scaled (the count autostart now aims at), and
 * host.overloaded / host.recovered (another replica's relief episode);
 * the other app.* events go to service_event_ignored. No command of its
 * own; the webhooks are routes on its admin port (alerts.c). Its state
 * is a struct regulator in s->priv.
 */
#include "regulator.h"
#include "service.h"

static int
regulator_init(struct service *s)
{
	struct regulator *rg = s->priv;

	rg->svc = s;
	autoscale_init(rg);
	relief_init(rg);
	alerts_routes(rg, s);
	return local_init(rg);
}

static void
regulator_on_store(struct service *s, bool up)
{
	if (up) {
		autoscale_refresh(s->priv);
		relief_refresh(s->priv);
	}
}

static void
regulator_on_event(struct service *s, const struct msg *m)
{
	switch (m->type) {
	case MSG_APP_CHANGED:
		autoscale_app_changed(s->priv, m);
		break;
	case MSG_APP_SCALED:
		autoscale_app_scaled(s->priv, m);
		break;
	case MSG_HOST_OVERLOADED:
	case MSG_HOST_RECOVERED:
		relief_on_event(s->priv, m);
		break;
	default:
		service_event_ignored(s, m);
		break;
	}
}

static void
regulator_shutdown(struct service *s)
{
	struct regulator *rg = s->priv;

	rg->closing = true;
	autoscale_shutdown(rg);
	relief_shutdown(rg);
	local_shutdown(rg);
}

int
main(int argc, char **argv)
{
	static const char *const topics[] = {"app.changed", "app.scaled",
	    "host.", NULL};
	/* static: what it still holds at exit stays reachable (no leak) */
	static struct regulator rg;
	static struct service s = {
		.name = "regulator",
		.summary = "The devcloud regulator: scales busy apps out and "
		    "quiet ones in (autoscaler), and stops the least recently "
		    "used apps of an overloaded host.",
		.topics = topics,
		.init = regulator_init,
		.on_store = regulator_on_store,
		.on_event = regulator_on_event,
		.shutdown = regulator_shutdown,
		.priv = &rg,
	};

	return service_main(&s, argc, argv);
}
