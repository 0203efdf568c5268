/*
 * The autoscaler's decision, in the vocabulary of Kubernetes' HPA
 * `behavior` and Knative's KPA, as a pure function of the figures so a
 * unit test can drive it through time (tests/unit/test_autoscale.c).
 *
 * Each figure (the app's in-flight requests, summed over the proxies)
 * becomes a want: ceil(load / target_concurrency), within the record's
 * min..max. Then:
 *
 *   up     only to the least want of the up window, and only once
 *          figures cover the whole window (HPA's scale-up
 *          stabilization): a burst shorter than the window moves
 *          nothing;
 *   panic  at once when the load is panic_factor times what the current
 *          instances are meant to carry (KPA's panic mode);
 *   down   only to the most want of the down window, once figures cover
 *          it (HPA's scale-down stabilization): a panic's wants hold the
 *          instances for the whole window after it;
 *   step   at most `step` instances more or fewer per decision.
 *
 * The windows hold wants, not loads, so a replica that reads the same
 * figures keeps the same history and takes the same decision.
 */
#include <math.h>
#include <string.h>

#include "regulator.h"

static int
clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static struct scale_sample *
q_at(struct scale_queue *q, int i)
{
	return &q->s[(q->head + i) % SCALE_QUEUE_MAX];
}

static void
q_pop_front(struct scale_queue *q)
{
	q->head = (q->head + 1) % SCALE_QUEUE_MAX;
	q->len--;
}

/*
 * Appends (MS, WANT) after dropping the entries behind it that it makes
 * useless: those not below it when RISING (the front is then the
 * least), not above it otherwise (the front is the most).
 */
static void
q_push(struct scale_queue *q, bool rising, int64_t ms, int want)
{
	while (q->len > 0) {
		int back = q_at(q, q->len - 1)->want;

		if (rising ? back < want : back > want)
			break;
		q->len--;
	}
	if (q->len == SCALE_QUEUE_MAX)
		q_pop_front(q);		/* cannot happen: wants are bounded */
	*q_at(q, q->len) = (struct scale_sample){.ms = ms, .want = want};
	q->len++;
}

/* The front's want once entries older than NOW - WINDOW are gone. */
static int
q_front(struct scale_queue *q, int64_t now, int64_t window)
{
	while (q->len > 1 && q_at(q, 0)->ms < now - window)
		q_pop_front(q);
	return q_at(q, 0)->want;
}

void
scale_history_reset(struct scale_history *h)
{
	memset(h, 0, sizeof(*h));
}

int
scale_decide(struct scale_history *h, const struct scale_params *p,
    int64_t now, double load, int current, struct scale_decision *d)
{
	int min = clamp(p->min, 1, APP_INSTANCES_MAX);
	int max = clamp(p->max, min, APP_INSTANCES_MAX);
	int step = p->step < 1 ? 1 : p->step;
	int want, lo, hi, to = current;
	const char *reason = "steady";
	double per;

	if (h->first_ms != 0 && (now - h->last_ms > p->max_gap_ms ||
	    now < h->last_ms))
		scale_history_reset(h);
	if (!(load > 0))		/* also NaN */
		load = 0;
	/* Figures have two decimals: a sum such as 4.1 + 3.9 must not
	 * round up to one instance more. */
	per = load / (p->target > 0 ? p->target : 1) - 1e-6;
	want = per <= 0 ? 0 : per >= max ? max : (int)ceil(per);
	want = clamp(want, min, max);
	q_push(&h->lo, true, now, want);
	q_push(&h->hi, false, now, want);
	if (h->first_ms == 0)
		h->first_ms = now;
	h->last_ms = now;
	lo = q_front(&h->lo, now, p->up_window_ms);
	hi = q_front(&h->hi, now, p->down_window_ms);
	d->want = want;

	if (current > max) {
		to = max;
		reason = "above max_instances";
	} else if (current < min) {
		/* autostart keeps min_instances of an awake app itself */
	} else if (want > current) {
		if (p->panic_factor > 0 && load >= (double)p->panic_factor *
		    p->target * current) {
			to = want;
			reason = "panic";
		} else if (now - h->first_ms >= p->up_window_ms &&
		    lo > current) {
			to = lo;
			reason = "load above target";
		}
	} else if (want < current) {
		if (now - h->first_ms >= p->down_window_ms && hi < current) {
			to = hi;
			reason = "load below target";
		}
	}
	if (current <= max)
		to = clamp(to, current - step, current + step);
	d->to = to;
	d->reason = to == current ? "steady" : reason;
	return to != current;
}
