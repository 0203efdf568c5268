/*
 * Starting one instance: the driver's start call, then readiness probes
 * until the instance answers or the app's start timeout passes. The
 * wake (the first instance) and the scaler (the others) both start
 * instances this way.
 *
 * The first probe goes out at once, then one every STARTER_PROBE_FINE_US
 * for the first STARTER_PROBE_FINE checks (a small app listens a few
 * hundred microseconds after its exec), one every millisecond up to
 * STARTER_PROBE_FAST checks, then a doubling backoff up to
 * STARTER_PROBE_MAX_MS. libuv's timers count whole milliseconds, so the
 * waits are a timerfd of the starter's own, polled by the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "autostart.h"

#define STARTER_PROBE_FINE 10
#define STARTER_PROBE_FINE_US 200
#define STARTER_PROBE_FAST 20
#define STARTER_PROBE_MAX_MS 100

static void starter_probe(struct starter *st);

static void
starter_free_cb(uv_handle_t *h)
{
	struct starter *st = h->data;

	close(st->tfd);
	free(st);
}

/* No more work: the starter goes once the driver's callback is back. */
static void
starter_finish(struct starter *st)
{
	st->cancelled = true;
	probe_cancel(st->probe);
	st->probe = NULL;
	uv_poll_stop(&st->timer);
	if (!st->driver_out)
		uv_close((uv_handle_t *)&st->timer, starter_free_cb);
}

/* Arms the wait before the next probe: US microseconds. */
static void
starter_wait(struct starter *st, long us)
{
	struct itimerspec its = {.it_value = {us / 1000000,
	    (us % 1000000) * 1000}};

	timerfd_settime(st->tfd, 0, &its, NULL);
}

static void
starter_done(struct starter *st, const char *why)
{
	if (!st->cancelled) {
		st->cancelled = true;
		st->cb(st, why, st->arg);
	}
	starter_finish(st);
}

static void
starter_probe_timer(uv_poll_t *t, int status, int events)
{
	struct starter *st = t->data;
	uint64_t n;

	(void)status;
	(void)events;
	if (read(st->tfd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;		/* not expired (spurious wake-up) */
	starter_probe(st);
}

static void
starter_probed(bool ready, const char *why, void *arg)
{
	struct starter *st = arg;
	char reason[300];

	st->probe = NULL;
	if (st->as->closing)
		return;
	if (ready) {
		starter_done(st, NULL);
		return;
	}
	if (service_mono_ms() >= st->deadline) {
		snprintf(reason, sizeof(reason), "not ready within %d ms "
		    "(last check: %s)", st->rec.start_timeout_ms, why);
		starter_done(st, reason);
		return;
	}
	if (++st->probes <= STARTER_PROBE_FINE) {
		starter_wait(st, STARTER_PROBE_FINE_US);
		return;
	}
	if (st->probes > STARTER_PROBE_FAST)
		st->probe_delay_ms *= 2;
	else
		st->probe_delay_ms = 1;
	if (st->probe_delay_ms > STARTER_PROBE_MAX_MS)
		st->probe_delay_ms = STARTER_PROBE_MAX_MS;
	starter_wait(st, st->probe_delay_ms * 1000L);
}

static void
starter_probe(struct starter *st)
{
	st->probe = probe_start(st->as->svc->loop, st->addr, st->rec.ready,
	    starter_probed, st);
	if (st->probe == NULL)
		starter_done(st, "out of memory");
}

static void
starter_started(const struct driver_result *r, void *arg)
{
	struct starter *st = arg;

	st->driver_out = false;
	if (st->as->closing)
		return;
	if (st->cancelled) {
		starter_finish(st);
		return;
	}
	if (!r->ok) {
		starter_done(st, r->err);
		return;
	}
	st->started = true;
	st->t_started = service_mono_ms();
	snprintf(st->addr, sizeof(st->addr), "%s", r->addr);
	snprintf(st->host, sizeof(st->host), "%s", r->host);
	starter_probe(st);
}

struct starter *
starter_run(struct autostart *as, const struct app *a, const char *inst,
    void (*cb)(struct starter *, const char *, void *), void *arg,
    char *err, size_t errlen)
{
	struct starter *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->as = as;
	st->rec = *a;
	/* an app with a current release runs its files (app.h) */
	if (app_release_apply(&st->rec, as->svc->cfg.deployer.releases_dir,
	    err, errlen) != 0) {
		free(st);
		return NULL;
	}
	snprintf(st->inst, sizeof(st->inst), "%s", inst);
	st->cb = cb;
	st->arg = arg;
	st->t_call = service_mono_ms();
	st->deadline = st->t_call + a->start_timeout_ms;
	if ((st->tfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    uv_poll_init(as->svc->loop, &st->timer, st->tfd) != 0) {
		snprintf(err, errlen, "cannot make a probe timer: %s",
		    strerror(errno));
		if (st->tfd >= 0)
			close(st->tfd);
		free(st);
		return NULL;
	}
	st->timer.data = st;
	uv_poll_start(&st->timer, UV_READABLE, starter_probe_timer);
	st->driver_out = true;
	if (driver_start(as->drivers, &st->rec, inst, starter_started, st, err,
	    errlen) != 0) {
		st->driver_out = false;
		st->cancelled = true;
		starter_finish(st);
		return NULL;
	}
	return st;
}

void
starter_cancel(struct starter *st)
{
	if (st != NULL && !st->cancelled)
		starter_finish(st);
}

static void
starter_stopped(const struct driver_result *r, void *arg)
{
	char *what = arg;

	if (!r->ok)
		log_warn("cannot stop a failed instance", "app=%s err=\"%s\"",
		    what, r->err);
	free(what);
}

void
starter_stop_failed(struct autostart *as, const struct app *a,
    const char *inst)
{
	char err[DRIVER_ERR_MAX], *what;

	if ((what = malloc(strlen(a->name) + strlen(inst) + 12)) == NULL)
		return;
	snprintf(what, strlen(a->name) + strlen(inst) + 12, "%s instance=%s",
	    a->name, inst);
	if (driver_stop(as->drivers, a, inst,
	    as->svc->cfg.autostart.stop_grace_ms, starter_stopped, what, err,
	    sizeof(err)) != 0) {
		log_warn("cannot stop a failed instance", "app=%s instance=%s "
		    "err=\"%s\"", a->name, inst, err);
		free(what);
	}
}
