/*
 * devcloud-deployer: replaces an app's running build with a new one (an
 * artifact from CI) without failing a request, and rolls back when the
 * new version is unhealthy.
 *
 * Today the daemon runs on the shared service skeleton (ping, heartbeats,
 * health, metrics) and has its artifact checker; the deploy itself is
 * still to come.
 */
#ifndef DC_DEPLOYER_H
#define DC_DEPLOYER_H

#include "service.h"

/* The daemon's state, held in s->priv. */
struct deployer {
	struct service *svc;
};

/* artifact.c: an artifact checked (checksum, sizes) and unpacked safely
 * into a release directory; its prototypes are in artifact.h, which
 * needs nothing else, so its unit test and fuzz target link it alone */

/* main.c: the hooks on the service skeleton (no topics yet: on_event's
 * switch has only its default, which logs and counts) */
int main(int argc, char **argv);

#endif
