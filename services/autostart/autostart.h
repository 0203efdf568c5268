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
 *
 * An app runs as one or more instances. The wake starts the first; the
 * scaler (scale.c) keeps the live ones at the count asked for (the
 * record's min_instances, or a `scale` command within min..max),
 * starting or draining one at a time, and replaces one that died.
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
#include "probe.h"
#include "service.h"

struct waiter {
	struct bus_request *req;	/* NULL: an internal wake (group) */
	struct waiter *next;
};

enum wake_phase {
	WAKE_QUEUED,		/* held back: the host is overloaded */
	WAKE_LOADING,		/* reading the record, taking the lock */
	WAKE_STARTING,		/* driver start call in flight */
	WAKE_PROBING,		/* started, waiting for readiness */
	WAKE_WAITING,		/* another replica starts or stops it */
	WAKE_DONE,
};

struct starter;
struct stage;

/* One wake in progress per app: every request for it waits here. */
struct wake {
	struct autostart *as;
	char app[64];
	char inst[64];			/* the instance it starts */
	struct app rec;
	enum wake_phase phase;
	struct waiter *waiters;
	uv_timer_t timer;		/* polls while another replica acts */
	bool grouped;			/* woken as another app's group */
	struct starter *starter;	/* WAKE_STARTING, WAKE_PROBING */
	char host[DRIVER_HOST_MAX];
	int64_t t_request;		/* monotonic ms */
	int64_t t_start_call;
	int64_t t_started;
	int64_t deadline;		/* monotonic ms: give up then */
	int pending;			/* Redis callbacks naming it */
	bool finished;			/* unlinked: free when pending is 0 */
	bool admitted;			/* counted in as->admitted */
	struct wake *next;
};

/* The scaler of one app: at most one instance started or drained at a
 * time per app and replica. */
struct scaler {
	struct autostart *as;
	char app[64];
	char inst[64];			/* the instance being started/drained */
	struct app rec;
	struct starter *starter;
	uv_timer_t timer;		/* the drain */
	bool again;			/* asked again while busy: look again */
	int pending;			/* callbacks naming it */
	bool finished;
	struct scaler *next;
};

/* One stop in progress per app: every instance goes. */
struct stop {
	struct autostart *as;
	char app[64];
	char reason[64];
	struct app rec;
	uv_timer_t timer;		/* the drain before the signal */
	struct bus_request *req;	/* manual stop: who to answer */
	char insts[APP_INSTANCES_MAX][64];
	int ninsts;
	int left;			/* driver stops still out */
	char err[DRIVER_ERR_MAX];	/* the first that failed */
	struct stop *next;
};

/* The daemon's state, held in s->priv. */
struct autostart {
	struct service *svc;
	struct drivers *drivers;
	struct wake *wakes;
	struct stop *stops;
	struct scaler *scalers;
	struct stage *stages;		/* the deployer's (stage.c) */
	uv_timer_t sweep;
	uv_timer_t reconcile;
	bool sweeping;
	bool closing;		/* shutting down: callbacks do nothing */
	/* admission (wake.c): while this host is overloaded, at most
	 * autostart.max_concurrent_starts wakes start at once */
	bool overloaded;
	int admitted;		/* wakes past the gate, not yet over */
	char host[DRIVER_HOST_MAX];	/* this machine as a host */
};

/* main.c: the hooks on the service skeleton */
int main(int argc, char **argv);

/* wake.c: the wake command */
void wake_request(struct autostart *as, const char *app,
    struct bus_request *req);
void wake_on_event(struct autostart *as, const struct msg *m);
/* Instance INST of APP ended on its own. */
void wake_on_exit(struct autostart *as, const char *app, const char *inst,
    const char *why);
void wake_abort_all(struct autostart *as);
/* host.overloaded / host.recovered, or what Redis says of this host. */
void wake_host_state(struct autostart *as, const char *host,
    bool overloaded);

/* start.c: starting one instance and waiting until it answers */
struct starter {
	struct autostart *as;
	struct app rec;
	char inst[64];
	char addr[DRIVER_ADDR_MAX];
	char host[DRIVER_HOST_MAX];
	struct probe *probe;
	uv_poll_t timer;		/* probe backoff: TFD's expiries */
	int tfd;			/* a timerfd: waits below 1 ms */
	int probes;
	int probe_delay_ms;
	int64_t deadline;		/* monotonic ms */
	int64_t t_call, t_started;	/* monotonic ms */
	bool started;			/* the driver's start came back ok */
	bool cancelled;			/* CB will not run */
	bool driver_out;		/* the driver's callback is pending */
	void (*cb)(struct starter *st, const char *why, void *arg);
	void *arg;
};
/*
 * Starts instance INST of A and probes it until ready or A's start
 * timeout: CB runs once, with WHY NULL when it answers (st->addr,
 * st->host, the times) or the reason it does not. After a failure the
 * caller stops what may run (starter_stop_failed). NULL with ERR if the
 * driver refused at once. The starter frees itself after CB (or after
 * starter_cancel).
 */
struct starter *starter_run(struct autostart *as, const struct app *a,
    const char *inst, void (*cb)(struct starter *, const char *, void *),
    void *arg, char *err, size_t errlen);
/* CB will not run. */
void starter_cancel(struct starter *st);
/* Stops instance INST of A after a failed start (no answer expected). */
void starter_stop_failed(struct autostart *as, const struct app *a,
    const char *inst);

/* scale.c: the count of live instances kept where it was asked */
void scale_request(struct autostart *as, const struct msg *m,
    struct bus_request *req);
/* Looks at APP's instances now: start, drain or nothing. */
void scale_apply(struct autostart *as, const char *app);
/* Instance INST of APP died: true if it was one the scaler was starting
 * (its start fails now, rather than at its probe's timeout). */
bool scale_on_exit(struct autostart *as, const char *app, const char *inst,
    const char *why);
void scale_abort_all(struct autostart *as);

/* stage.c: the deployer's commands, stage (an instance started on a
 * release, not in service yet) and retire (one stopped and forgotten) */
void stage_request(struct autostart *as, const struct msg *m,
    struct bus_request *req);
/* Instance INST of APP died: true if it was being staged (the stage
 * fails now). */
bool stage_on_exit(struct autostart *as, const char *app, const char *inst,
    const char *why);
/* APP stopped (app.stopped): its stages fail now, not at their probe's
 * timeout. */
void stage_app_stopped(struct autostart *as, const char *app);
void stage_abort_all(struct autostart *as);

/* stop.c: idle sweeps, manual stops, reconcile */
void stop_sweep_start(struct autostart *as);
void stop_request(struct autostart *as, const char *app, const char *reason,
    struct bus_request *req);
void stop_reconcile(struct autostart *as);
void stop_abort_all(struct autostart *as);

/* script.c: the state transitions, as Redis Lua scripts */
extern const char script_wake[];
extern const char script_ready[];
extern const char script_failed[];
extern const char script_stop_if_due[];
extern const char script_stop_now[];
extern const char script_stopped[];
extern const char script_exited[];
extern const char script_takeover[];
extern const char script_scale[];
extern const char script_instance_reserve[];
extern const char script_instance_ready[];
extern const char script_instance_gone[];

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
	char instances[KEY_MAX];
	char hosts[KEY_MAX];
	char inst_tpl[KEY_MAX];		/* key_instance(APP, "X") */
	char host_tpl[KEY_MAX];		/* key_host("X") */
};
/* Fills K for APP; 0, or -1 if APP is not a valid name. */
int record_keys(const char *app, struct app_keys *k);
/* Publishes an app event with the fields most carry. */
void record_publish(struct autostart *as, enum msg_type type,
    const char *app, const char *reason);
/* Publishes an instance event (instance.ready: with ADDR and HOST). */
void record_publish_instance(struct autostart *as, enum msg_type type,
    const char *app, const char *inst, const char *addr, const char *host,
    const char *reason);

#endif
