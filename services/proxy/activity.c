/*
 * Activity: which apps were used since the last flush. Workers count
 * requests and open exchanges (tunnels, long downloads) in each app's
 * atomics; every flush_interval_ms the main thread turns the apps whose
 * request count moved since it last flushed, or that have an exchange
 * open, into two commands sent in one pipeline, whatever the number of
 * apps or requests:
 *
 *   ZADD lastaccess NOW app ...            when the app was last used
 *   ZADD deadlines GT NOW+TTL app ...      it may not stop before this
 *
 * GT only ever pushes a deadline later, so replicas flushing at once
 * cannot shorten each other's. An app with a connection still open
 * counts as used at every flush, however long the connection lasts.
 *
 * It also measures what the autoscaler needs: each app's in-flight count
 * is sampled on the main thread ten times per flush interval (at most
 * every 100 ms), and each flush writes the mean and the peak of those
 * samples to the app's load hash (common/load.h), under this proxy's
 * name, for apps with load in this interval or the one before; idle
 * apps cost no write.
 *
 * Samples and flushes walk only the apps in use: a worker starting an
 * exchange puts its app on px->touched (apps_touch, once until the main
 * thread looks), the main thread moves those into px->active_list, and
 * a flush takes out the apps with nothing left to write (no request
 * since, nothing open, a zero load written). With 100,000 registered
 * apps a flush costs what the apps used in the second cost
 * (bench/scale-apps).
 */
#include <stdio.h>
#include <stdlib.h>

#include "keys.h"
#include "load.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "service.h"
#include "store.h"

#define ACTIVITY_SCORE_MAX 24

/* What a flush costs the main thread (building and queueing the
 * pipeline; Redis runs it after): the largest one so far. */
static struct metric m_flush_max_apps = METRIC_GAUGE(
    "devcloud_proxy_flush_max_apps",
    "Apps in the largest activity flush so far.");
static struct metric m_flush_max_us = METRIC_GAUGE(
    "devcloud_proxy_flush_max_us",
    "Main-thread time of that flush, in microseconds.");

struct activity_use {
	struct proxy_app *app;
	uint64_t total;			/* requests_total as read */
};

/* Moves the apps workers touched since the last call to the active
 * list. */
static void
activity_collect(struct proxy *px)
{
	struct proxy_app *a, *next;

	a = atomic_exchange_explicit(&px->touched, NULL, memory_order_acquire);
	for (; a != NULL; a = next) {
		next = a->touched_next;
		atomic_store_explicit(&a->touched, false, memory_order_release);
		if (a->active)
			continue;
		a->active = true;
		a->active_next = px->active_list;
		px->active_list = a;
	}
}

/* Takes out of the active list the apps a flush has nothing more to
 * write for. */
static void
activity_prune(struct proxy *px)
{
	struct proxy_app **pp = &px->active_list, *a;

	while ((a = *pp) != NULL) {
		if (a->kind == PROXY_POOL)	/* nothing of its own to write */
			a->flushed = atomic_load(&a->requests_total);
		if (a->flushed == atomic_load(&a->requests_total) &&
		    atomic_load(&a->inflight) <= 0 && !a->load_sent &&
		    a->load_samples == 0) {
			*pp = a->active_next;
			a->active = false;
		} else {
			pp = &a->active_next;
		}
	}
}

/* Adds the in-flight count of every app in use now to its samples. */
static void
activity_sample(struct proxy *px)
{
	struct proxy_app *a;

	activity_collect(px);
	for (a = px->active_list; a != NULL; a = a->active_next) {
		int64_t n = atomic_load_explicit(&a->inflight,
		    memory_order_relaxed);

		if (n < 0)
			n = 0;
		a->load_sum += n;
		a->load_samples++;
		if (n > a->load_peak)
			a->load_peak = n;
	}
}

static void
activity_sample_cb(uv_timer_t *t)
{
	activity_sample(t->data);
}

void
activity_init(struct proxy *px)
{
	uint64_t every = (uint64_t)px->cfg->proxy.flush_interval_ms / 10;

	if (every > 100)
		every = 100;
	if (every < 1)
		every = 1;
	metrics_register(&m_flush_max_apps);
	metrics_register(&m_flush_max_us);
	uv_timer_init(px->svc->loop, &px->sample);
	px->sample.data = px;
	uv_timer_start(&px->sample, activity_sample_cb, every, every);
}

void
activity_shutdown(struct proxy *px)
{
	uv_close((uv_handle_t *)&px->sample, NULL);
}

/*
 * Writes the load figure of each app of the list from HEAD that had load
 * since the last flush, or whose last written figure was not 0, and
 * starts the next interval. Commands go out in the same pipeline as the
 * activity's (hiredis writes them in one go at the end of the turn).
 */
static void
activity_load_flush(struct proxy *px, struct proxy_app *head, int64_t now)
{
	struct store *st = px->svc->store;
	int interval = px->cfg->proxy.flush_interval_ms;
	char key[KEY_MAX], val[LOAD_VALUE_MAX], ttl[24];
	size_t n = 0;

	snprintf(ttl, sizeof(ttl), "%lld",
	    (long long)interval * LOAD_TTL_INTERVALS);
	for (struct proxy_app *a = head; a != NULL; a = a->active_next) {
		struct load_figure f;
		bool busy;

		if (a->kind != PROXY_APP) {
			/* the autoscaler reads apps' figures only */
			a->load_sum = a->load_peak = 0;
			a->load_samples = 0;
			continue;
		}
		if (a->load_samples == 0)
			continue;
		f.avg = (double)a->load_sum / a->load_samples;
		f.peak = a->load_peak;
		f.ms = now;
		f.tunnels = atomic_load_explicit(&a->tunnels,
		    memory_order_relaxed);
		if (f.tunnels < 0)
			f.tunnels = 0;
		busy = a->load_sum > 0 || a->load_peak > 0;
		if (busy || a->load_sent) {
			if (key_load(key, sizeof(key), a->name) == NULL ||
			    load_format(val, sizeof(val), &f) < 0)
				continue;
			if (store_command(st, NULL, NULL, "HSET %s %s %s", key,
			    px->svc->source, val) < 0 ||
			    store_command(st, NULL, NULL, "PEXPIRE %s %s", key,
			    ttl) < 0)
				continue;	/* kept for the next flush */
			n++;
		}
		a->load_sent = busy;
		a->load_sum = 0;
		a->load_peak = 0;
		a->load_samples = 0;
	}
	if (n > 0)
		log_debug("load flushed", "apps=%zu", n);
}

void
activity_flush(struct proxy *px)
{
	struct store *st = px->svc->store;
	struct proxy_app *a;
	struct activity_use *used = NULL;
	char klast[KEY_MAX], kdead[KEY_MAX], now_s[ACTIVITY_SCORE_MAX];
	char *scores = NULL;
	const char **av1 = NULL, **av2 = NULL;
	size_t n = 0, cap = 0;
	int64_t now = service_now_ms();
	uint64_t t0 = uv_hrtime();

	if (st == NULL || !store_connected(st))
		return;			/* counts stay for the next flush */
	/* The sample taken now closes the interval, so it never has none. */
	activity_sample(px);
	a = px->active_list;
	activity_load_flush(px, a, now);
	pools_flush(px, a, now);
	for (; a != NULL; a = a->active_next) {
		uint64_t total = atomic_load(&a->requests_total);

		if (a->kind != PROXY_APP || (total == a->flushed &&
		    atomic_load(&a->inflight) <= 0))
			continue;
		if (n == cap) {
			struct activity_use *u;

			cap = cap == 0 ? 16 : cap * 2;
			if ((u = realloc(used, cap * sizeof(*u))) == NULL)
				goto done;
			used = u;
		}
		used[n].app = a;
		used[n++].total = total;
	}
	if (n == 0)
		goto done;
	av1 = calloc(2 + 2 * n, sizeof(*av1));
	av2 = calloc(3 + 2 * n, sizeof(*av2));
	scores = calloc(n, ACTIVITY_SCORE_MAX);
	if (av1 == NULL || av2 == NULL || scores == NULL)
		goto done;
	snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
	av1[0] = av2[0] = "ZADD";
	av1[1] = key_lastaccess(klast, sizeof(klast));
	av2[1] = key_deadlines(kdead, sizeof(kdead));
	av2[2] = "GT";
	for (size_t i = 0; i < n; i++) {
		int ttl = used[i].app->ttl_s > 0 ? used[i].app->ttl_s :
		    px->cfg->autostart.default_ttl_s;
		char *sc = scores + i * ACTIVITY_SCORE_MAX;

		snprintf(sc, ACTIVITY_SCORE_MAX, "%lld",
		    (long long)(now + (int64_t)ttl * 1000));
		av1[2 + 2 * i] = now_s;
		av1[3 + 2 * i] = used[i].app->name;
		av2[3 + 2 * i] = sc;
		av2[4 + 2 * i] = used[i].app->name;
	}
	if (store_commandv(st, NULL, NULL, (int)(2 + 2 * n), av1, NULL) < 0 ||
	    store_commandv(st, NULL, NULL, (int)(3 + 2 * n), av2, NULL) < 0) {
		log_warn("activity not flushed", "apps=%zu", n);
		goto done;
	}
	/* Sent: only now are the request counts spent (those that came
	 * meanwhile count for the next flush). */
	for (size_t i = 0; i < n; i++)
		used[i].app->flushed = used[i].total;
	activity_prune(px);
	if ((int64_t)n > metric_get(&m_flush_max_apps)) {
		metric_set(&m_flush_max_apps, (int64_t)n);
		metric_set(&m_flush_max_us,
		    (int64_t)((uv_hrtime() - t0) / 1000));
	}
done:
	free(used);
	free(av1);
	free(av2);
	free(scores);
}
