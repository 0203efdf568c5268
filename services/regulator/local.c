/*
 * The local source: the host this regulator runs on, watched through
 * the kernel's pressure stall information (Documentation/accounting/
 * psi.rst).
 *
 * For each of memory, cpu and io with a stall_us set, a trigger
 * "some STALL_US WINDOW_US" is written to /proc/pressure/RES and its
 * descriptor polled for POLLPRI: the kernel wakes us when the tasks of
 * the host were stalled on RES for STALL_US within WINDOW_US. Nothing
 * is polled while the host is calm.
 *
 * Once a trigger fires the host is overloaded (relief_signal). From
 * then on a timer reads the "some" line's total every step interval
 * and takes the share of that interval spent stalled; the host has
 * recovered when that share falls below RES's recover_pct, a lower
 * threshold than the trigger's (hysteresis). MemAvailable, when
 * mem_available_min_mb is set, has no trigger: it is read on the same
 * timer, which then runs all the time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "log.h"
#include "regulator.h"

#define LOCAL_RES 3
#define LOCAL_MEMAVAIL LOCAL_RES	/* the cause when it is MemAvailable */

struct local_res {
	struct local *l;
	const char *name;		/* "memory" */
	const struct config_psi *cfg;
	int fd;				/* the trigger, polled; -1: not watched */
	uv_poll_t poll;
	uint64_t total;			/* "some" total (us) at MS */
	int64_t ms;
	double pct;			/* stalled share of the last interval */
};

struct local {
	struct regulator *rg;
	char host[DRIVER_HOST_MAX];
	struct local_res res[LOCAL_RES];
	uv_timer_t tick;
	bool ticking;
	bool overloaded;
	int cause;			/* index into res, or LOCAL_MEMAVAIL */
	char metric[64];
};

static const char *const res_names[LOCAL_RES] = {"memory", "cpu", "io"};

/* The "some" total of /proc/pressure/NAME, in microseconds; -1 on error. */
static int
psi_total(const char *name, uint64_t *total)
{
	char path[64], buf[256];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/pressure/%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (strncmp(buf, "some ", 5) != 0 ||
	    (p = strstr(buf, " total=")) == NULL)
		return -1;
	return sscanf(p, " total=%" SCNu64, total) == 1 ? 0 : -1;
}

/* MemAvailable in MiB; -1 on error. */
static int64_t
mem_available_mb(void)
{
	char line[256];
	long long kb = -1;
	FILE *f;

	if ((f = fopen("/proc/meminfo", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}

/* Takes R's figure now: the stalled share since the last one. */
static void
res_sample(struct local_res *r, int64_t now)
{
	uint64_t total;

	if (psi_total(r->name, &total) != 0)
		return;
	if (r->ms > 0 && now > r->ms && total >= r->total)
		r->pct = (double)(total - r->total) / 10.0 /
		    (double)(now - r->ms);
	r->total = total;
	r->ms = now;
}

static void local_tick_cb(uv_timer_t *t);

static void
local_tick_set(struct local *l)
{
	const struct config *cfg = &l->rg->svc->cfg;
	bool want = l->overloaded || cfg->regulator.mem_available_min_mb > 0;
	uint64_t every = (uint64_t)cfg->regulator.step_interval_ms;

	if (want && !l->ticking)
		uv_timer_start(&l->tick, local_tick_cb, every, every);
	else if (!want && l->ticking)
		uv_timer_stop(&l->tick);
	l->ticking = want;
}

static void
local_signal(struct local *l, double value, bool firing)
{
	if (relief_signal(l->rg, l->host, "psi", l->metric, value, firing) != 0)
		log_warn("host signal not sent", "host=%s metric=\"%s\"",
		    l->host, l->metric);
}

static void
local_enter(struct local *l, int cause, double value)
{
	l->overloaded = true;
	l->cause = cause;
	if (cause == LOCAL_MEMAVAIL)
		snprintf(l->metric, sizeof(l->metric), "MemAvailable MiB");
	else
		snprintf(l->metric, sizeof(l->metric), "%s some %%",
		    l->res[cause].name);
	local_signal(l, value, true);
	local_tick_set(l);
}

static void
local_tick_cb(uv_timer_t *t)
{
	struct local *l = t->data;
	const struct config *cfg = &l->rg->svc->cfg;
	int64_t now = service_mono_ms();
	int64_t avail = -1;

	for (int i = 0; i < LOCAL_RES; i++)
		if (l->res[i].fd >= 0)
			res_sample(&l->res[i], now);
	if (cfg->regulator.mem_available_min_mb > 0)
		avail = mem_available_mb();
	if (!l->overloaded) {
		if (avail >= 0 && avail < cfg->regulator.mem_available_min_mb)
			local_enter(l, LOCAL_MEMAVAIL, (double)avail);
		return;
	}
	if (l->cause == LOCAL_MEMAVAIL) {
		int64_t up = cfg->regulator.mem_available_recover_mb >
		    cfg->regulator.mem_available_min_mb ?
		    cfg->regulator.mem_available_recover_mb :
		    cfg->regulator.mem_available_min_mb;

		if (avail < 0)
			return;
		l->overloaded = avail < up;
		local_signal(l, (double)avail, l->overloaded);
	} else {
		struct local_res *r = &l->res[l->cause];

		l->overloaded = r->pct >= r->cfg->recover_pct;
		local_signal(l, r->pct, l->overloaded);
	}
	if (!l->overloaded)
		local_tick_set(l);
}

/* The kernel says R stalled past its trigger. */
static void
local_poll_cb(uv_poll_t *p, int status, int events)
{
	struct local_res *r = p->data;
	struct local *l = r->l;
	double floor;

	if (status < 0 || (events & UV_DISCONNECT)) {
		log_error("psi trigger lost", "resource=%s err=\"%s\"",
		    r->name, status < 0 ? uv_strerror(status) : "closed");
		uv_poll_stop(p);
		return;
	}
	/* at least the trigger's share; more if the last figure says so */
	floor = 100.0 * r->cfg->stall_us / r->cfg->window_us;
	res_sample(r, service_mono_ms());
	log_debug("psi trigger", "resource=%s pct=%.1f", r->name, r->pct);
	if (l->overloaded)
		return;
	local_enter(l, (int)(r - l->res), r->pct > floor ? r->pct : floor);
}

/* Arms R's trigger; 0, or -1 with the reason logged. */
static int
res_open(struct local *l, struct local_res *r)
{
	char path[64], trig[64];
	int n;

	snprintf(path, sizeof(path), "/proc/pressure/%s", r->name);
	n = snprintf(trig, sizeof(trig), "some %d %d", r->cfg->stall_us,
	    r->cfg->window_us);
	if ((r->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0 ||
	    write(r->fd, trig, (size_t)n + 1) < 0) {
		log_error("cannot watch host pressure", "file=%s trigger=\"%s\" "
		    "err=\"%s\"%s", path, trig, strerror(errno),
		    errno == EINVAL ? " hint=\"without CAP_SYS_RESOURCE the "
		    "window must be a multiple of 2 s\"" : "");
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
		return -1;
	}
	uv_poll_init(l->rg->svc->loop, &r->poll, r->fd);
	r->poll.data = r;
	uv_poll_start(&r->poll, UV_PRIORITIZED, local_poll_cb);
	res_sample(r, service_mono_ms());
	log_info("watching host pressure", "host=%s resource=%s trigger=\"%s\"",
	    l->host, r->name, trig);
	return 0;
}

int
local_init(struct regulator *rg)
{
	const struct config *cfg = &rg->svc->cfg;
	const struct config_psi *psi[LOCAL_RES] = {&cfg->regulator.psi_memory,
	    &cfg->regulator.psi_cpu, &cfg->regulator.psi_io};
	struct local *l;
	int watched = 0;

	if (!cfg->regulator.watch_local)
		return 0;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	l->rg = rg;
	host_name(cfg->regulator.host[0] ? cfg->regulator.host :
	    cfg->autostart.host, l->host, sizeof(l->host));
	uv_timer_init(rg->svc->loop, &l->tick);
	l->tick.data = l;
	for (int i = 0; i < LOCAL_RES; i++) {
		l->res[i] = (struct local_res){.l = l, .name = res_names[i],
		    .cfg = psi[i], .fd = -1};
		if (psi[i]->stall_us > 0 && res_open(l, &l->res[i]) == 0)
			watched++;
	}
	rg->local = l;
	local_tick_set(l);
	if (watched == 0 && cfg->regulator.mem_available_min_mb == 0)
		log_warn("host pressure not watched", "host=%s", l->host);
	return 0;
}

void
local_shutdown(struct regulator *rg)
{
	struct local *l = rg->local;

	if (l == NULL)
		return;
	uv_timer_stop(&l->tick);
	for (int i = 0; i < LOCAL_RES; i++)
		if (l->res[i].fd >= 0)
			uv_poll_stop(&l->res[i].poll);
}
