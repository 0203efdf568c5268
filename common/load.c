/*
 * The load hash's values (see load.h): written by the proxy, read by
 * the regulator, both through here.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "load.h"

int
load_format(char *buf, size_t len, const struct load_figure *f)
{
	int n;

	if (!isfinite(f->avg) || f->avg < 0 || f->peak < 0 || f->ms < 0 ||
	    f->tunnels < 0)
		return -1;
	n = snprintf(buf, len, "%.2f %lld %lld %lld", f->avg,
	    (long long)f->peak, (long long)f->ms, (long long)f->tunnels);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* A decimal integer >= 0 at *P, up to a space or the end. */
static int
load_int(const char **p, int64_t *out)
{
	char *end;
	long long v;

	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	v = strtoll(*p, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\0'))
		return -1;
	*out = v;
	*p = end;
	return 0;
}

int
load_parse(const char *s, struct load_figure *f)
{
	struct load_figure g;
	const char *p = s;
	char *end;

	if (s == NULL || *p < '0' || *p > '9')
		return -1;
	/* digits, then an optional '.' and digits: no exponent, no hex */
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p != ' ')
		return -1;
	p = s;
	errno = 0;
	g.avg = strtod(p, &end);
	if (errno != 0 || *end != ' ' || !isfinite(g.avg) || g.avg < 0)
		return -1;
	p = end + 1;
	if (load_int(&p, &g.peak) < 0 || *p != ' ')
		return -1;
	p++;
	if (load_int(&p, &g.ms) < 0)
		return -1;
	g.tunnels = 0;			/* a proxy older than the field */
	if (*p == ' ' && (p++, load_int(&p, &g.tunnels) < 0))
		return -1;
	if (*p != '\0')
		return -1;
	*f = g;
	return 0;
}

int64_t
load_fresh_ms(int flush_interval_ms)
{
	int64_t ms = (int64_t)flush_interval_ms * LOAD_FRESH_INTERVALS;

	return ms < LOAD_FRESH_MIN_MS ? LOAD_FRESH_MIN_MS : ms;
}
