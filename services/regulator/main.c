/*
 * devcloud-regulator: the daemon's hooks on the shared service skeleton. Its
 * state is a struct regulator in s->priv; every event it does not act on goes
 * to service_event_ignored.
 */
#include "regulator.h"
#include "service.h"

static int
regulator_init(struct service *s)
{
	struct regulator *rg = s->priv;

	rg->svc = s;
	return 0;
}

static void
regulator_on_event(struct service *s, const struct msg *m)
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
	static struct regulator rg;
	static struct service s = {
		.name = "regulator",
		.summary = "The devcloud regulator: stops the least recently "
		    "used apps of an overloaded host.",
		.init = regulator_init,
		.on_event = regulator_on_event,
		.priv = &rg,
	};

	return service_main(&s, argc, argv);
}
