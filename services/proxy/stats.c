/*
 * /metrics for the proxy. Hot counters live per worker (one writer each,
 * no locked instructions on the request path) and are summed here when
 * the admin thread renders; per-app lines come from the app registry.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "proxy.h"

/* Upper bounds of the latency histogram's buckets, in microseconds. */
static const uint64_t stats_bounds_us[STATS_LATENCY_BUCKETS] = {
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	1000000, 5000000,
};

void
stats_count(struct proxy_worker *w, int status, uint64_t usec)
{
	int cls = status / 100;
	size_t i;

	stat_add(&w->stats.requests[cls >= 1 && cls <= 5 ? cls - 1 : 5], 1);
	if (usec == UINT64_MAX)
		return;
	for (i = 0; i < STATS_LATENCY_BUCKETS && usec > stats_bounds_us[i];
	    i++)
		;
	stat_add(&w->stats.latency[i], 1);
	stat_add(&w->stats.latency_sum_us, usec);
	stat_add(&w->stats.latency_count, 1);
}

#define SUM(field) ({ \
	uint64_t s_ = 0; \
	for (int i_ = 0; i_ < px->nworkers; i_++) \
		s_ += (uint64_t)atomic_load_explicit( \
		    &px->workers[i_].stats.field, memory_order_relaxed); \
	s_; })

static void
stats_family(struct metrics_buf *b, const char *name, const char *type,
    const char *help)
{
	metrics_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* A family of one sample, V: the sum of the workers' values, which
 * for a gauge are signed. */
static void
stats_scalar(struct metrics_buf *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	stats_family(b, name, type, help);
	if (strcmp(type, "gauge") == 0)
		metrics_buf_printf(b, "%s %" PRId64 "\n", name, (int64_t)v);
	else
		metrics_buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void
stats_render(struct metrics_buf *b, void *arg)
{
	static const char *const classes[STATS_STATUS_CLASSES] = {
		"1xx", "2xx", "3xx", "4xx", "5xx", "other",
	};
	struct proxy *px = arg;
	uint64_t cum = 0;

	stats_family(b, "devcloud_proxy_requests_total", "counter",
	    "Requests answered, by status class.");
	for (int c = 0; c < STATS_STATUS_CLASSES; c++)
		metrics_buf_printf(b,
		    "devcloud_proxy_requests_total{status=\"%s\"} %" PRIu64
		    "\n", classes[c], SUM(requests[c]));

	stats_family(b, "devcloud_proxy_upstream_latency_seconds",
	    "histogram", "Time from sending a request upstream to its "
	    "response head.");
	for (int i = 0; i <= STATS_LATENCY_BUCKETS; i++) {
		cum += SUM(latency[i]);
		if (i < STATS_LATENCY_BUCKETS)
			metrics_buf_printf(b, "devcloud_proxy_upstream_latency"
			    "_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			    (double)stats_bounds_us[i] / 1e6, cum);
		else
			metrics_buf_printf(b, "devcloud_proxy_upstream_latency"
			    "_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	metrics_buf_printf(b,
	    "devcloud_proxy_upstream_latency_seconds_sum %.6f\n"
	    "devcloud_proxy_upstream_latency_seconds_count %" PRIu64 "\n",
	    (double)SUM(latency_sum_us) / 1e6, SUM(latency_count));

	stats_scalar(b, "devcloud_proxy_connections", "gauge",
	    "Open client connections.", SUM(conns));
	stats_family(b, "devcloud_proxy_worker_connections", "gauge",
	    "Open client connections, by worker.");
	for (int i = 0; i < px->nworkers; i++)
		metrics_buf_printf(b, "devcloud_proxy_worker_connections"
		    "{worker=\"%d\"} %" PRId64 "\n", i, atomic_load_explicit(
		    &px->workers[i].stats.conns, memory_order_relaxed));
	stats_scalar(b, "devcloud_proxy_upstream_connections", "gauge",
	    "Open upstream connections.", SUM(upstreams));
	stats_scalar(b, "devcloud_proxy_upstream_idle_connections", "gauge",
	    "Upstream connections idle in the pools.", SUM(upstreams_idle));
	stats_scalar(b, "devcloud_proxy_upstream_queued", "gauge",
	    "Requests waiting for a free upstream connection "
	    "(proxy.upstream_max_conns).", SUM(upstream_queued));
	stats_scalar(b, "devcloud_proxy_held_requests", "gauge",
	    "Requests waiting for their app to wake.", SUM(held));
	stats_scalar(b, "devcloud_proxy_accepted_total", "counter",
	    "Client connections accepted.", SUM(accepted));
	stats_scalar(b, "devcloud_proxy_handoffs_total", "counter",
	    "Connections accepted by one worker and handed to a less loaded "
	    "one.", SUM(handed_off));
	stats_scalar(b, "devcloud_proxy_refused_total", "counter",
	    "Client connections closed at once: over max_connections.",
	    SUM(refused));
	stats_scalar(b, "devcloud_proxy_bad_requests_total", "counter",
	    "Requests refused as malformed or over a limit.",
	    SUM(bad_requests));
	stats_scalar(b, "devcloud_proxy_upstream_errors_total", "counter",
	    "Upstream connect failures, timeouts and broken responses.",
	    SUM(upstream_errors));
	stats_scalar(b, "devcloud_proxy_upstream_reused_total", "counter",
	    "Requests sent on a pooled upstream connection.",
	    SUM(upstream_reused));
	stats_scalar(b, "devcloud_proxy_upstream_retries_total", "counter",
	    "Requests sent again on a new connection after a pooled one "
	    "turned out closed.", SUM(upstream_retries));
	stats_scalar(b, "devcloud_proxy_upgrades_total", "counter",
	    "Connections switched to a tunnel (WebSocket and others).",
	    SUM(upgrades));
	stats_scalar(b, "devcloud_proxy_bad_targets_total", "counter",
	    "Requests whose route names a target of a kind this proxy "
	    "cannot serve.", SUM(bad_targets));
}

static void
stats_render_apps(struct metrics_buf *b, void *arg)
{
	struct proxy *px = arg;
	struct proxy_app *a;

	pthread_mutex_lock(&px->apps_mu);
	a = px->app_list;
	pthread_mutex_unlock(&px->apps_mu);
	stats_family(b, "devcloud_proxy_app_requests_total", "counter",
	    "Requests routed to each app.");
	for (struct proxy_app *p = a; p != NULL; p = p->next)
		if (p->kind == PROXY_APP)
			metrics_buf_printf(b, "devcloud_proxy_app_requests_total"
		    "{app=\"%s\"} %" PRIu64 "\n", p->name,
		    (uint64_t)atomic_load(&p->requests_total));
	stats_family(b, "devcloud_proxy_app_open", "gauge",
	    "Open exchanges and tunnels of each app.");
	for (struct proxy_app *p = a; p != NULL; p = p->next)
		if (p->kind == PROXY_APP)
			metrics_buf_printf(b, "devcloud_proxy_app_open{app=\"%s\"} %"
		    PRId64 "\n", p->name, (int64_t)atomic_load(&p->inflight));
	stats_family(b, "devcloud_proxy_app_held", "gauge",
	    "Requests held for each app.");
	for (struct proxy_app *p = a; p != NULL; p = p->next)
		if (p->kind != PROXY_LEASE)
			metrics_buf_printf(b, "devcloud_proxy_app_held{%s=\"%s\"} %"
			    PRId64 "\n", apps_kind_name(p), p->name,
			    (int64_t)atomic_load(&p->held));
}

void
stats_init(struct proxy *px)
{
	metrics_add_renderer(stats_render, px);
	metrics_add_renderer(stats_render_apps, px);
}
