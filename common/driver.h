/*
 * Drivers: how an app is started and stopped. One interface, several
 * implementations, chosen by the app record's "driver" field; the
 * daemons never know which one they talk to.
 *
 *   process  fork/exec of a shell command in its own process group
 *            (driver_process.c)
 *   docker   the Docker Engine API over its unix socket (driver_docker.c)
 *   swarm    a Docker Swarm service scaled between 0 and the app's
 *            replicas (driver_swarm.c)
 *   kubernetes  a Deployment's scale subresource (driver_kubernetes.c)
 *
 * Drivers start and stop instances: an app may run as several, each
 * named by its id (keys_name_valid), which the driver puts into what it
 * creates (a process's line in the app's pid file, a container's name).
 *
 * Every call is asynchronous and made on the daemon's loop thread; the
 * callback runs on the loop thread too, exactly once per accepted call.
 * A driver that must block (libcurl) does so on libuv's thread pool.
 * Starting an instance returns its address and host; readiness is the
 * caller's job.
 */
#ifndef DC_DRIVER_H
#define DC_DRIVER_H

#include <stdbool.h>
#include <uv.h>

#include "app.h"
#include "config.h"

#define DRIVER_ERR_MAX 512
#define DRIVER_ADDR_MAX 256
#define DRIVER_HOST_MAX 64

struct drivers;

/*
 * Result of a driver call. ok: the call did what it was asked; for
 * start and inspect, running, addr and host say where the instance
 * answers and on which host it runs.
 */
struct driver_result {
	bool ok;
	bool running;
	char addr[DRIVER_ADDR_MAX];
	char host[DRIVER_HOST_MAX];
	char err[DRIVER_ERR_MAX];
};

typedef void (*driver_cb)(const struct driver_result *r, void *arg);

/* Called when an instance exits on its own (crash, OOM kill, not a stop
 * we asked for). */
typedef void (*driver_exit_cb)(const char *app, const char *inst,
    const char *why, void *arg);

struct drivers *drivers_open(uv_loop_t *loop, const struct config *cfg,
    driver_exit_cb on_exit, void *arg);
/* Stops watching; apps keep running (they are found again at start). */
void drivers_close(struct drivers *d);

/* Driver names known to this build, for validation. */
bool driver_known(const char *name);

/*
 * Each returns 0 if the call was accepted (CB will run), or -1 with the
 * reason in ERR if it was refused at once (CB will not run).
 */
int driver_start(struct drivers *d, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen);
int driver_stop(struct drivers *d, const struct app *a, const char *inst,
    int grace_ms, driver_cb cb, void *arg, char *err, size_t errlen);
int driver_inspect(struct drivers *d, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen);

/*
 * The name this machine goes by as a host (DESIGN.md, "Instances and
 * hosts"): CONFIGURED when set, else the host name, cut at its first
 * dot and to what keys_name_valid takes. Into BUF; returns BUF.
 */
const char *host_name(const char *configured, char *buf, size_t len);

/* --- implementations, used by driver.c only --- */

struct driver_ops {
	const char *name;
	void *(*open)(uv_loop_t *loop, const struct config *cfg,
	    driver_exit_cb on_exit, void *arg);
	void (*close)(void *self);
	int (*start)(void *self, const struct app *a, const char *inst,
	    driver_cb cb, void *arg, char *err, size_t errlen);
	int (*stop)(void *self, const struct app *a, const char *inst,
	    int grace_ms, driver_cb cb, void *arg, char *err, size_t errlen);
	int (*inspect)(void *self, const struct app *a, const char *inst,
	    driver_cb cb, void *arg, char *err, size_t errlen);
};

extern const struct driver_ops driver_process_ops;
extern const struct driver_ops driver_docker_ops;
extern const struct driver_ops driver_swarm_ops;
extern const struct driver_ops driver_kubernetes_ops;

#endif
