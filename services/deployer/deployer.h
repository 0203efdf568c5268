/*
 * devcloud-deployer: replaces an app's running build with a new one (an
 * artifact from CI) without failing a request, and rolls back when the
 * new version is unhealthy.
 *
 * Today the daemon runs on the shared service skeleton (ping, heartbeats,
 * health, metrics); deployment is its own issue.
 */
#ifndef DC_DEPLOYER_H
#define DC_DEPLOYER_H

#include "service.h"

/* The daemon's state, held in s->priv. */
struct deployer {
	struct service *svc;
};

/* main.c: the hooks on the service skeleton (no topics yet: on_event's
 * switch has only its default, which logs and counts) */
int main(int argc, char **argv);

#endif
