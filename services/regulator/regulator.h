/*
 * devcloud-regulator: protects oversold hosts. When a host metric
 * crosses its threshold it stops the apps on that host that were used
 * least recently, and scales busy apps out and quiet ones in.
 *
 * Today the daemon runs on the shared service skeleton (ping, heartbeats,
 * health, metrics); host regulation is its own issue.
 */
#ifndef DC_REGULATOR_H
#define DC_REGULATOR_H

#include "service.h"

/* The daemon's state, held in s->priv. */
struct regulator {
	struct service *svc;
};

/* main.c: the hooks on the service skeleton (no topics yet: on_event's
 * switch has only its default, which logs and counts) */
int main(int argc, char **argv);

#endif
