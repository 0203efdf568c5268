/*
 * devcloud-autostart: entry point on the shared service skeleton.
 */
#include "autostart.h"
#include "service.h"

int
main(int argc, char **argv)
{
	static const char *const topics[] = {"app.", NULL};
	static struct service s = {
		.name = "autostart",
		.summary = "The devcloud autostart: starts apps on their first "
		    "request and stops them when idle.",
		.topics = topics,
	};

	return service_main(&s, argc, argv);
}
