/*
 * devcloud-idepool: keeps online-IDE containers started in an ACTIVE pool
 * with stopped spares in an INACTIVE pool; a visit takes an active one and
 * binds it to the developer's domain, a spare is started to refill, and
 * when the lease lapses the container goes back, its files wiped.
 *
 * Today the daemon runs on the shared service skeleton (ping, heartbeats,
 * health, metrics); the pool is its own issue.
 */
#ifndef DC_IDEPOOL_H
#define DC_IDEPOOL_H

#include "service.h"

/* The daemon's state, held in s->priv. */
struct idepool {
	struct service *svc;
};

/* main.c: the hooks on the service skeleton (no topics yet: on_event's
 * switch has only its default, which logs and counts) */
int main(int argc, char **argv);

#endif
