/*
 * devcloud-idepool: entry point on the shared service skeleton.
 */
#include "idepool.h"
#include "service.h"

int
main(int argc, char **argv)
{
	static struct service s = {
		.name = "idepool",
		.summary = "The devcloud IDE pool: started IDE containers "
		    "handed out in milliseconds.",
	};

	return service_main(&s, argc, argv);
}
