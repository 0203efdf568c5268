/*
 * The load hash's values (common/load.c): a row per value read and
 * refused, the output left alone on failure, and load_format writing
 * only what load_parse reads back.
 */
#include <math.h>
#include <string.h>

#include "load.h"
#include "unit.h"

static const struct {
	const char *s;
	double avg;
	long long peak, ms, tunnels;
} good[] = {
	{"0.00 0 0", 0, 0, 0, 0},
	{"3.25 7 1764158400123", 3.25, 7, 1764158400123LL, 0},
	{"12 12 1", 12, 12, 1, 0},
	{"0.5 1 99", 0.5, 1, 99, 0},
	{"1.00 2 99 1", 1, 2, 99, 1},
	{"0.00 0 5 0", 0, 0, 5, 0},
};

static const char *const bad[] = {
	"", "1", "1 2", "1 2 3 ", " 1 2 3", "1  2 3", "-1 2 3", "1 -2 3",
	"1 2 -3", "1e3 2 3", "inf 2 3", "nan 2 3", "0x10 2 3", "1. 2 3x",
	"1,5 2 3", "1 2.5 3", "1 2 3 4 5", "1 2 3 -4", "1 2 3 4 ",
	"1 2 3 x", "a b c", "1 99999999999999999999 3",
};

static void
test_parse(void)
{
	struct load_figure f;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(load_parse(good[i].s, &f) == 0);
		CHECK(fabs(f.avg - good[i].avg) < 1e-9);
		CHECK_INTEQ(f.peak, good[i].peak);
		CHECK_INTEQ(f.ms, good[i].ms);
		CHECK_INTEQ(f.tunnels, good[i].tunnels);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.avg = 42;
		f.peak = 43;
		f.ms = 44;
		if (load_parse(bad[i], &f) == 0)
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
		CHECK(f.avg == 42 && f.peak == 43 && f.ms == 44);
	}
	CHECK(load_parse(NULL, &f) < 0);
}

static void
test_format(void)
{
	struct load_figure f = {.avg = 2.0 / 3, .peak = 3, .ms = 1000,
	    .tunnels = 2}, g;
	char buf[LOAD_VALUE_MAX];

	CHECK(load_format(buf, sizeof(buf), &f) > 0);
	CHECK_STREQ(buf, "0.67 3 1000 2");
	REQUIRE(load_parse(buf, &g) == 0);
	CHECK(fabs(g.avg - 0.67) < 1e-9 && g.peak == 3 && g.ms == 1000 &&
	    g.tunnels == 2);
	CHECK(load_format(buf, 5, &f) < 0);
	f.avg = -1;
	CHECK(load_format(buf, sizeof(buf), &f) < 0);
	f.avg = NAN;
	CHECK(load_format(buf, sizeof(buf), &f) < 0);
}

static void
test_fresh(void)
{
	CHECK_INTEQ(load_fresh_ms(1000), 1000 * LOAD_FRESH_INTERVALS);
	CHECK_INTEQ(load_fresh_ms(10), LOAD_FRESH_MIN_MS);
}

UNIT_TESTS = {
	{"values read and refused", test_parse},
	{"format reads back", test_format},
	{"freshness", test_fresh},
	{NULL, NULL},
};
