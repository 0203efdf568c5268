/*
 * devcloud-autostart: apps are stopped by default; the first request
 * starts one (the proxy's "wake" command), each request pushes its
 * deadline (the proxy batches these into the deadlines sorted set), and
 * a sweeper stops the apps whose deadline has passed.
 *
 * Every transition of an app's state is one Lua script in Redis, so any
 * number of autostart replicas (and proxies) may act at once: a wake
 * takes the app's lock and only the holder starts it; a stop happens
 * only if the deadline is still past at the moment of the transition.
 */
#ifndef DC_AUTOSTART_H
#define DC_AUTOSTART_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "app.h"
#include "bus.h"
#include "driver.h"
#include "keys.h"
#include "service.h"

struct waiter {
	struct bus_request *req;	/* NULL: an internal wake (group) */
	struct waiter *next;
};

enum wake_phase {
	WAKE_LOADING,		/* reading the record, taking the lock */
	WAKE_STARTING,		/* driver start call in flight */
	WAKE_PROBING,		/* started, waiting for readiness */
	WAKE_WAITING,		/* another replica starts or stops it */
	WAKE_DONE,
};

/* One wake in progress per app: every request for it waits here. */
struct wake {
	struct autostart *as;
	char app[64];
	struct app rec;
	enum wake_phase phase;
	struct waiter *waiters;
	uv_timer_t timer;		/* probe backoff, polls, deadline */
	int probe_delay_ms;
	int probes;			/* readiness checks so far */
	bool grouped;			/* woken as another app's group */
	struct probe *probe;
	int64_t t_request;		/* monotonic ms */
	int64_t t_start_call;
	int64_t t_started;
	int64_t deadline;		/* monotonic ms: give up then */
	int pending;			/* Redis/driver callbacks naming it */
	bool finished;			/* unlinked: free when pending is 0 */
	struct wake *next;
};

/* One stop in progress per app. */
struct stop {
	struct autostart *as;
	char app[64];
	char reason[64];
	struct app rec;
	uv_timer_t timer;		/* the drain before the signal */
	struct bus_request *req;	/* manual stop: who to answer */
	struct stop *next;
};

/* The daemon's state, held in s->priv. */
struct autostart {
	struct service *svc;
	struct drivers *drivers;
	struct wake *wakes;
	struct stop *stops;
	uv_timer_t sweep;
	uv_timer_t reconcile;
	bool sweeping;
	bool closing;		/* shutting down: callbacks do nothing */
};

/* main.c: the hooks on the service skeleton */
int main(int argc, char **argv);

/* wake.c: the wake command */
void wake_request(struct autostart *as, const char *app,
    struct bus_request *req);
void wake_on_event(struct autostart *as, const struct msg *m);
void wake_on_exit(struct autostart *as, const char *app, const char *why);
void wake_abort_all(struct autostart *as);

/* stop.c: idle sweeps, manual stops, reconcile */
void stop_sweep_start(struct autostart *as);
void stop_request(struct autostart *as, const char *app, const char *reason,
    struct bus_request *req);
void stop_reconcile(struct autostart *as);
void stop_abort_all(struct autostart *as);

/* probe.c: readiness checks */
struct probe;
typedef void (*probe_cb)(bool ready, const char *why, void *arg);
/* Checks ADDR once per READY ("tcp" or "http:/path"); CB runs once. */
struct probe *probe_start(uv_loop_t *loop, const char *addr,
    const char *ready, probe_cb cb, void *arg);
/* Cancels: CB will not run. */
void probe_cancel(struct probe *p);

/* script.c: the state transitions, as Redis Lua scripts */
extern const char script_wake[];
extern const char script_ready[];
extern const char script_failed[];
extern const char script_stop_if_due[];
extern const char script_stop_now[];
extern const char script_stopped[];
extern const char script_exited[];
extern const char script_takeover[];

/* record.c: loading an app record, the keys its transitions touch */
typedef void (*record_cb)(struct autostart *as, const struct app *a,
    const char *err, void *arg);
int record_load(struct autostart *as, const char *app, record_cb cb,
    void *arg);
struct app_keys {
	char app[KEY_MAX];
	char lock[KEY_MAX];
	char transit[KEY_MAX];
	char deadlines[KEY_MAX];
};
/* Fills K for APP; 0, or -1 if APP is not a valid name. */
int record_keys(const char *app, struct app_keys *k);
/* Publishes an app event with the fields most carry. */
void record_publish(struct autostart *as, enum msg_type type,
    const char *app, const char *reason);

#endif
