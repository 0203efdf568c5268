/*
 * devcloud-regulator: protects oversold hosts. When a host metric
 * crosses its threshold it stops the apps on that host that were used
 * least recently, and scales busy apps out and quiet ones in.
 *
 * Today it runs the autoscaler: every regulator.scale_interval_ms, each
 * running app whose record sets target_concurrency has its load (what
 * the proxies flush to load:APP) turned into a number of instances, and
 * a change is asked of autostart with the scale command. The regulator
 * never starts or stops anything itself. Host regulation is its own
 * issue.
 *
 * This header is the table of contents: every prototype, grouped under
 * the file that defines it.
 */
#ifndef DC_REGULATOR_H
#define DC_REGULATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "app.h"
#include "service.h"

/* ------------------------------------------------------------------ */
/* decide.c: the autoscaler's decision, a pure function of the figures */

/*
 * The recent wants (instances asked for by each figure, already within
 * min..max) of one app, as two monotonic queues: the least want of the
 * up window and the most of the down window are each at a queue's
 * front. Wants are at most APP_INSTANCES_MAX apart, so a queue whose
 * values strictly rise (or fall) never holds more than that.
 */
#define SCALE_QUEUE_MAX (APP_INSTANCES_MAX + 2)

struct scale_sample {
	int64_t ms;
	int want;
};

struct scale_queue {
	struct scale_sample s[SCALE_QUEUE_MAX];
	int head, len;
};

struct scale_history {
	int64_t first_ms;		/* first figure since the reset; 0: none */
	int64_t last_ms;		/* the latest figure */
	struct scale_queue lo;		/* rising: least want at the front */
	struct scale_queue hi;		/* falling: most want at the front */
};

struct scale_params {
	int target;			/* in-flight requests per instance, > 0 */
	int min, max;			/* the record's min/max_instances */
	int64_t up_window_ms;
	int64_t down_window_ms;
	int panic_factor;		/* 0: no panic */
	int step;			/* >= 1 */
	int64_t max_gap_ms;		/* a longer silence resets the history */
};

struct scale_decision {
	int want;			/* ceil(load / target), within min..max */
	int to;				/* instances to ask for */
	const char *reason;		/* static: "load above target", ... */
};

/* Forgets every figure (the app stopped, or figures stopped coming). */
void scale_history_reset(struct scale_history *h);

/*
 * Adds the figure LOAD (in-flight requests summed over the proxies) at
 * NOW to H, and decides for an app that has CURRENT instances. Returns 1
 * with D->to != CURRENT when it should scale, else 0 (D->to ==
 * CURRENT). D->want is set either way.
 */
int scale_decide(struct scale_history *h, const struct scale_params *p,
    int64_t now, double load, int current, struct scale_decision *d);

/* ------------------------------------------------------------------ */
/* autoscale.c: the autoscaler's loop (Redis figures, lock, scale) */

/* One app with a target_concurrency, as the autoscaler follows it. */
struct autoscale_app {
	struct regulator *rg;
	char name[MSG_NAME_MAX];
	enum app_state state;
	int target, min, max;
	struct scale_history h;
	int scaled_to;			/* from app.scaled or scale.ok; 0: none */
	int64_t scaled_ms;
	int64_t retry_ms;		/* after a refused scale: ask again then */
	int backoff_ms;			/* doubles with each refusal, to 60 s */
	/* the tick in flight */
	int pending;			/* Redis replies and calls naming it */
	bool asking;			/* a scale command is out */
	bool gone;			/* no longer autoscaled: free when idle */
	bool tick_ok;			/* every reply of the tick came */
	double load, peak;
	int ninst, ready;		/* instances listed, starting or ready */
	uint64_t seen_gen;		/* the last full refresh that saw it */
	struct autoscale_app *next;
};

void autoscale_init(struct regulator *rg);
/* Redis is (back): read every app again. */
void autoscale_refresh(struct regulator *rg);
/* app.changed: read APP's record again (or forget it if removed). */
void autoscale_app_changed(struct regulator *rg, const struct msg *m);
/* app.scaled: the count autostart now aims at. */
void autoscale_app_scaled(struct regulator *rg, const struct msg *m);
void autoscale_shutdown(struct regulator *rg);

/* ------------------------------------------------------------------ */
/* relief.c: an overloaded host loses its least recently used apps */

/* The known hosts are read again this often (autostart registers its
 * host every 5 s). */
#define RELIEF_HOSTS_MS 5000

struct relief_host {
	struct regulator *rg;
	char name[MSG_NAME_MAX];
	bool registered;		/* in the hosts zset: webhooks may name it */
	bool overloaded;		/* this replica takes part in an episode */
	bool stepping;			/* a pick script is out */
	uint64_t step_ns;		/* when it went out (uv_hrtime) */
	bool told_empty, told_limit;	/* logged once per episode */
	char metric[MSG_NAME_MAX * 2];	/* the episode's figure, for reasons */
	double value;
	uv_timer_t step;
	struct relief_host *next;
};

void relief_init(struct regulator *rg);
/*
 * HOST crossed its threshold (FIRING) or fell below the lower one, as
 * ORIGIN ("psi", "alertmanager", "open-falcon") saw METRIC at VALUE.
 * 0, or -1 if HOST is not a valid name or Redis is away.
 */
int relief_signal(struct regulator *rg, const char *host, const char *origin,
    const char *metric, double value, bool firing);
/* host.overloaded / host.recovered from any replica. */
void relief_on_event(struct regulator *rg, const struct msg *m);
/* Reads the registered hosts again. */
void relief_refresh(struct regulator *rg);
/* HOST is registered (autostart has run instances there). */
bool relief_host_known(struct regulator *rg, const char *host);
void relief_shutdown(struct regulator *rg);

/* ------------------------------------------------------------------ */
/* alerts.c: the webhooks (Alertmanager, Open-Falcon) on the admin port */

/* Gives S the routes; from init, before the admin port starts. */
void alerts_routes(struct regulator *rg, struct service *s);

/* ------------------------------------------------------------------ */
/* local.c: the local source (PSI triggers, MemAvailable) */

/* Arms the triggers when regulator.watch_local is on; 0 or -1. */
int local_init(struct regulator *rg);
void local_shutdown(struct regulator *rg);

/* ------------------------------------------------------------------ */
/* webhook.c: Alertmanager's and Open-Falcon's alert payloads read into
 * host signals. Its prototypes are in webhook.h, which needs nothing
 * else, so its unit test and fuzz target link webhook.c alone. */

/* ------------------------------------------------------------------ */
/* main.c: the hooks on the service skeleton */

/* The daemon's state, held in s->priv. */
struct regulator {
	struct service *svc;
	struct autoscale_app *apps;	/* followed apps */
	uv_timer_t tick;
	uv_timer_t refresh;
	uint64_t refresh_gen;
	int refresh_pending;		/* replies of the full refresh */
	struct relief_host *hosts;	/* hosts known or signalled */
	uv_timer_t hosts_timer;
	struct local *local;		/* the local source, or NULL */
	bool closing;			/* shutting down: callbacks do nothing */
};

int main(int argc, char **argv);

#endif
