/*
 * The admin port of a daemon: GET /healthz answers 200 "ok" when the
 * daemon is ready (its readiness callback says so) or 503 with the
 * reason; GET /metrics answers the Prometheus text of metrics.h.
 * Served by nng's HTTP server on its own threads: the readiness callback
 * must only read atomics.
 */
#ifndef DC_ADMIN_H
#define DC_ADMIN_H

#include <stddef.h>

struct admin;

/* Writes why the daemon is not ready into WHY and returns 0, or 1 if ready. */
typedef int (*admin_ready_fn)(char *why, size_t len, void *arg);

/* Listens on ADDR ("HOST:PORT"). Returns NULL with ERR set. */
struct admin *admin_start(const char *addr, admin_ready_fn ready, void *arg,
    char *err, size_t errlen);
void admin_stop(struct admin *a);

#endif
