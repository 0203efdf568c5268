/*
 * devcloud-idepool: the daemon's hooks on the shared service skeleton. Its
 * state is a struct idepool in s->priv; every event it does not act on goes
 * to service_event_ignored.
 */
#include "idepool.h"
#include "service.h"

static int
idepool_init(struct service *s)
{
	struct idepool *ip = s->priv;

	ip->svc = s;
	return 0;
}

static void
idepool_on_event(struct service *s, const struct msg *m)
{
	switch (m->type) {
	default:
		service_event_ignored(s, m);
		break;
	}
}

int
main(int argc, char **argv)
{
	static struct idepool ip;
	static struct service s = {
		.name = "idepool",
		.summary = "The devcloud IDE pool: started IDE containers "
		    "handed out in milliseconds.",
		.init = idepool_init,
		.on_event = idepool_on_event,
		.priv = &ip,
	};

	return service_main(&s, argc, argv);
}
