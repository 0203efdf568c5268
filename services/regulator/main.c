/*
 * devcloud-regulator: entry point on the shared service skeleton.
 */
#include "regulator.h"
#include "service.h"

int
main(int argc, char **argv)
{
	static struct service s = {
		.name = "regulator",
		.summary = "The devcloud regulator: stops the least recently "
		    "used apps of an overloaded host.",
	};

	return service_main(&s, argc, argv);
}
