/*
 * devcloud-deployer: the daemon's hooks on the shared service skeleton. Its
 * state is a struct deployer in s->priv; its upload route is intake.c's;
 * every event it does not act on goes to service_event_ignored.
 */
#include "deployer.h"
#include "log.h"
#include "service.h"

static int
deployer_init(struct service *s)
{
	struct deployer *dp = s->priv;

	dp->svc = s;
	intake_routes(dp);
	if (release_sweep(dp) != 0)
		log_warn("cannot sweep releases_dir", "dir=%s",
		    s->cfg.deployer.releases_dir);
	return 0;
}

static void
deployer_on_event(struct service *s, const struct msg *m)
{
	switch (m->type) {
	default:
		service_event_ignored(s, m);
		break;
	}
}

static void
deployer_shutdown(struct service *s)
{
	intake_shutdown(s->priv);
}

int
main(int argc, char **argv)
{
	static struct deployer dp;
	static struct service s = {
		.name = "deployer",
		.summary = "The devcloud deployer: new builds replace running "
		    "ones without a failed request.",
		.init = deployer_init,
		.on_event = deployer_on_event,
		.shutdown = deployer_shutdown,
		.priv = &dp,
	};

	return service_main(&s, argc, argv);
}
