/*
 * devcloud-deployer: entry point on the shared service skeleton.
 */
#include "deployer.h"
#include "service.h"

int
main(int argc, char **argv)
{
	static struct service s = {
		.name = "deployer",
		.summary = "The devcloud deployer: new builds replace running "
		    "ones without a failed request.",
	};

	return service_main(&s, argc, argv);
}
