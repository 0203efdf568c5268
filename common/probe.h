/*
 * Readiness probes, shared by whatever waits for something to answer
 * (autostart's instances, idepool's members). "tcp": the address accepts
 * a connection. "http:/path": a GET of path answers 2xx or 3xx. One
 * probe is one attempt, bounded by PROBE_TIMEOUT_MS; the caller decides
 * when to try again.
 */
#ifndef DC_PROBE_H
#define DC_PROBE_H

#include <stdbool.h>
#include <uv.h>

struct probe;
typedef void (*probe_cb)(bool ready, const char *why, void *arg);

/* Checks ADDR once per READY ("tcp" or "http:/path"); CB runs once. */
struct probe *probe_start(uv_loop_t *loop, const char *addr,
    const char *ready, probe_cb cb, void *arg);
/* Cancels: CB will not run. */
void probe_cancel(struct probe *p);

#endif
