// links: services/regulator/decide.c
/*
 * The autoscaler's decision (services/regulator/decide.c), driven through
 * time: each case is a table of phases (so many seconds of a given load,
 * one figure a second) and what the app's instance count is after each
 * phase, the instances following every decision at once.
 */
#include <string.h>

#include "../../services/regulator/regulator.h"
#include "unit.h"

#define TICK_MS 1000
#define SILENCE (-1.0)			/* a phase without figures */

struct phase {
	int seconds;
	double load;
	int current_after;		/* instances at the end of the phase */
	int decisions;			/* decisions taken during it */
	const char *reason;		/* of its last decision, or NULL */
};

struct scale_case {
	const char *name;
	struct scale_params p;
	int current;			/* instances at the start */
	struct phase ph[6];		/* ends with seconds 0 */
};

/* target 4, min 1, max 10, up 10 s, down 300 s, panic x2, step 2; a
 * case names only what it changes, after DEFAULTS (hence the pragma) */
#pragma GCC diagnostic ignored "-Woverride-init"
#define DEFAULTS .target = 4, .min = 1, .max = 10, .up_window_ms = 10000, \
	.down_window_ms = 300000, .panic_factor = 2, .step = 2, \
	.max_gap_ms = 5000

static const struct scale_case cases[] = {
	{"above target within the up window: no change", {DEFAULTS}, 1, {
	    {10, 6, 1, 0, NULL},
	    {0}}},
	{"sustained above target: up once the window is covered", {DEFAULTS},
	    1, {
	    {11, 6, 2, 1, "load above target"},
	    {20, 6, 2, 0, NULL},
	    {0}}},
	{"step limit going up: two per decision", {DEFAULTS,
	    .panic_factor = 0}, 1, {
	    {11, 40, 3, 1, "load above target"},
	    {1, 40, 5, 1, "load above target"},
	    {3, 40, 10, 3, "load above target"},
	    {0}}},
	{"panic: at once, by step", {DEFAULTS}, 1, {
	    {1, 9, 3, 1, "panic"},
	    {5, 9, 3, 0, NULL},
	    {0}}},
	{"panic off: the window holds", {DEFAULTS, .panic_factor = 0}, 1, {
	    {10, 100, 1, 0, NULL},
	    {0}}},
	{"burst shorter than the up window: nothing", {DEFAULTS}, 1, {
	    {5, 7, 1, 0, NULL},
	    {30, 0, 1, 0, NULL},
	    {4, 7, 1, 0, NULL},
	    {0}}},
	{"down only after the down window", {DEFAULTS}, 3, {
	    {5, 10, 3, 0, NULL},
	    {299, 0, 3, 0, NULL},
	    {2, 0, 1, 1, "load below target"},
	    {0}}},
	{"down to the most the down window asked", {DEFAULTS,
	    .down_window_ms = 10000}, 4, {
	    {5, 11, 4, 0, NULL},
	    {10, 7, 3, 1, "load below target"},
	    {1, 7, 2, 1, "load below target"},
	    {0}}},
	{"a burst inside the down window holds the count", {DEFAULTS,
	    .down_window_ms = 10000}, 3, {
	    {8, 0, 3, 0, NULL},
	    {1, 11, 3, 0, NULL},
	    {9, 0, 3, 0, NULL},
	    {2, 0, 1, 1, "load below target"},
	    {0}}},
	{"step limit going down", {DEFAULTS, .down_window_ms = 0}, 10, {
	    {1, 0, 8, 1, "load below target"},
	    {3, 0, 2, 3, "load below target"},
	    {1, 0, 1, 1, "load below target"},
	    {0}}},
	{"clamped to max_instances", {DEFAULTS, .max = 3}, 1, {
	    {1, 1000, 3, 1, "panic"},
	    {20, 1000, 3, 0, NULL},
	    {0}}},
	{"clamped to min_instances", {DEFAULTS, .min = 2,
	    .down_window_ms = 0}, 4, {
	    {5, 0, 2, 1, "load below target"},
	    {0}}},
	{"above a lowered max_instances: down at once, whatever the step",
	    {DEFAULTS, .max = 2}, 7, {
	    {1, 100, 2, 1, "above max_instances"},
	    {0}}},
	{"below min_instances: left to autostart", {DEFAULTS, .min = 2}, 1, {
	    {20, 100, 1, 0, NULL},
	    {0}}},
	{"a silence forgets the figures", {DEFAULTS}, 1, {
	    {8, 6, 1, 0, NULL},
	    {10, SILENCE, 1, 0, NULL},
	    {8, 6, 1, 0, NULL},
	    {3, 6, 2, 1, "load above target"},
	    {0}}},
	{"two-decimal figures do not round up", {DEFAULTS,
	    .up_window_ms = 0}, 2, {
	    {5, 4.1 + 3.9, 2, 0, NULL},
	    {1, 8.01, 3, 1, "load above target"},
	    {0}}},
	{"no load: stays at min", {DEFAULTS}, 1, {
	    {400, 0, 1, 0, NULL},
	    {0}}},
};

static void
run_case(const struct scale_case *c)
{
	struct scale_history h;
	int64_t now = 1000000;
	int current = c->current;

	scale_history_reset(&h);
	for (const struct phase *ph = c->ph; ph->seconds > 0; ph++) {
		const char *reason = NULL;
		int n = 0;

		for (int i = 0; i < ph->seconds; i++) {
			struct scale_decision d;

			now += TICK_MS;
			if (ph->load == SILENCE)
				continue;
			if (scale_decide(&h, &c->p, now, ph->load, current,
			    &d)) {
				if (d.to == current)
					unit_fail(__FILE__, __LINE__,
					    "%s: decided for no change",
					    c->name);
				current = d.to;
				reason = d.reason;
				n++;
			} else if (d.to != current)
				unit_fail(__FILE__, __LINE__, "%s: no decision "
				    "but to %d", c->name, d.to);
		}
		if (current != ph->current_after || n != ph->decisions ||
		    (ph->reason != NULL && (reason == NULL ||
		    strcmp(reason, ph->reason) != 0)))
			unit_fail(__FILE__, __LINE__, "%s: phase %d: %d "
			    "instances after %d decisions (last: %s), want %d "
			    "after %d (%s)", c->name, (int)(ph - c->ph),
			    current, n, reason ? reason : "none",
			    ph->current_after, ph->decisions,
			    ph->reason ? ph->reason : "none");
	}
}

static void
test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Two replicas fed the same figures, one starting later: the later one
 * takes no decision the earlier would not, and agrees once its windows
 * are covered. */
static void
test_replicas_agree(void)
{
	struct scale_params p = {DEFAULTS};
	struct scale_history a, b;
	struct scale_decision da, db;
	int64_t now = 1000000;

	scale_history_reset(&a);
	scale_history_reset(&b);
	for (int i = 0; i < 30; i++) {
		int ra, rb;

		now += TICK_MS;
		ra = scale_decide(&a, &p, now, 6, 1, &da);
		if (i < 5)
			continue;	/* b starts 5 s later */
		rb = scale_decide(&b, &p, now, 6, 1, &db);
		CHECK(!rb || ra);
		if (i >= 15)
			CHECK(ra == rb && da.to == db.to);
	}
}

/* A decision says what the figure wants, even when it changes nothing. */
static void
test_want(void)
{
	struct scale_params p = {DEFAULTS};
	struct scale_history h;
	struct scale_decision d;

	scale_history_reset(&h);
	CHECK(scale_decide(&h, &p, 1000, 13, 4, &d) == 0);
	CHECK_INTEQ(d.want, 4);
	CHECK_INTEQ(d.to, 4);
	CHECK_STREQ(d.reason, "steady");
	CHECK(scale_decide(&h, &p, 2000, -3, 4, &d) == 0);
	CHECK_INTEQ(d.want, 1);
	CHECK(scale_decide(&h, &p, 3000, 1e300, 4, &d) == 1);
	CHECK_INTEQ(d.want, 10);
	CHECK_STREQ(d.reason, "panic");
	CHECK_INTEQ(d.to, 6);
}

UNIT_TESTS = {
	{"decisions through time", test_cases},
	{"replicas fed the same figures agree", test_replicas_agree},
	{"the want of a figure", test_want},
	{NULL, NULL},
};
