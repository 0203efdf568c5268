/*
 * Requests for an app that is not running wait here while it wakes.
 * Each worker keeps its held connections in a list; the bounds (count
 * and bytes per app) are shared by all workers through the app's
 * atomics. Holding asks the main thread for a wake; the main thread
 * sends one wake command per app to autostart, however many requests
 * wait, and tells every worker how it ended (hold_done).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy.h"

void
hold_add(struct proxy_conn *c, struct proxy_app *app)
{
	struct proxy_worker *w = c->s.w;
	const struct config *cfg = w->px->cfg;
	int64_t bytes = (int64_t)(c->ex.rqhead->end + stream_avail(&c->s));
	int64_t held, held_bytes;
	char detail[512];

	/* Add to both before checking either: a refusal takes both back. */
	held = atomic_fetch_add(&app->held, 1);
	held_bytes = atomic_fetch_add(&app->held_bytes, bytes);
	if (held >= cfg->proxy.hold_max_requests ||
	    held_bytes + bytes > cfg->proxy.hold_max_bytes) {
		atomic_fetch_sub(&app->held, 1);
		atomic_fetch_sub(&app->held_bytes, bytes);
		snprintf(detail, sizeof(detail), "%s %s is starting and too "
		    "many requests are already waiting for it",
		    apps_kind_name(app), app->name);
		conn_fail(c, 503, detail, "Retry-After: 5\r\n");
		return;
	}
	c->ex.held_bytes = bytes;
	c->state = CONN_HELD;
	LIST_INSERT_HEAD(&w->held, c, ex.hold_link);
	stat_gauge(&w->stats.held, 1);
	log_debug("request held", "app=%s host=%s", app->name, c->host);
	hold_wake(w, app, c->host);
	conn_arm(c, (uint64_t)cfg->proxy.hold_timeout_ms);
}

void
hold_wake(struct proxy_worker *w, struct proxy_app *app, const char *domain)
{
	struct wmsg *m;

	/* Ask every time: the main thread keeps one wake in flight per app,
	 * and answers at once if the app became ready meanwhile. */
	if ((m = calloc(1, sizeof(*m))) != NULL) {
		m->type = WMSG_WAKE;
		m->app = app;
		snprintf(m->domain, sizeof(m->domain), "%s", domain);
		wqueue_push(&w->px->inbox, m);
	}
}

void
hold_remove(struct proxy_conn *c)
{
	struct proxy_worker *w = c->s.w;

	LIST_REMOVE(c, ex.hold_link);
	atomic_fetch_sub(&c->ex.app->held, 1);
	atomic_fetch_sub(&c->ex.app->held_bytes, c->ex.held_bytes);
	c->ex.held_bytes = 0;
	stat_gauge(&w->stats.held, -1);
}

void
hold_done(struct proxy_worker *w, struct proxy_app *app, const char *domain,
    int status, const char *reason)
{
	struct proxy_conn *c, *next;
	char detail[768];

	for (c = LIST_FIRST(&w->held); c != NULL; c = next) {
		next = LIST_NEXT(c, ex.hold_link);
		if (c->ex.app != app || (app->kind == PROXY_POOL &&
		    strcmp(c->host, domain) != 0))
			continue;
		/* the answers take C out of the hold themselves */
		if (status == 0 && c->ex.wait_only) {
			conn_wake_answer(c, false);
			continue;
		}
		if (status == 0) {
			hold_remove(c);
			dispatch_route(c);
			continue;
		}
		if (app->kind == PROXY_POOL)
			snprintf(detail, sizeof(detail), "pool %s could not "
			    "lease a member to %s: %s", app->name, c->host,
			    reason);
		else
			snprintf(detail, sizeof(detail), "app %s could not be "
			    "woken: %s", app->name, reason);
		conn_fail(c, status, detail, "Retry-After: 5\r\n");
	}
}
