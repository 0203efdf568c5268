/*
 * Route targets (common/target.c): a row per target read and refused,
 * the reason given for each refusal, the output left alone on failure,
 * and target_format writing only what target_parse reads back.
 */
#include <string.h>

#include "target.h"
#include "unit.h"

static const struct {
	const char *target;
	enum target_kind kind;
	const char *rest;
} good[] = {
	{"app:blog", TARGET_APP, "blog"},
	{"app:Blog-2.staging_x", TARGET_APP, "Blog-2.staging_x"},
	{"static:127.0.0.1:8080", TARGET_STATIC, "127.0.0.1:8080"},
	{"static:backend.local:80", TARGET_STATIC, "backend.local:80"},
	{"static:[::1]:80", TARGET_STATIC, "[::1]:80"},
	{"static:[fe80::1%eth0]:65535", TARGET_STATIC, "[fe80::1%eth0]:65535"},
};

static const char *const bad[] = {
	"", "app:", "static:", "app", "static", "blog", "http://x",
	"App:blog", "STATIC:127.0.0.1:80", " app:blog", "app: blog",
	"app:no/slash", "app:a:b", "app:.hidden", "app:-flag", "app:a b",
	"static:127.0.0.1", "static:127.0.0.1:0", "static:127.0.0.1:70000",
	"static::80", "static:a b:80", "static:::1:80", "static:/run/x.sock",
	"static:127.0.0.1:80 ", "lease:ide",
};

static void
test_parsed(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct target t;
		const char *why = NULL;

		if (target_parse(good[i].target, &t, &why) != 0) {
			unit_fail(__FILE__, __LINE__, "refused \"%s\": %s",
			    good[i].target, why != NULL ? why : "(no reason)");
			continue;
		}
		CHECK_INTEQ(t.kind, good[i].kind);
		CHECK_STREQ(t.rest, good[i].rest);
	}
}

/* Every refusal says why, and leaves the output as it was. */
static void
test_refused(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct target t = {.kind = TARGET_APP, .rest = "before"};
		const char *why = NULL;

		if (target_parse(bad[i], &t, &why) == 0) {
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"",
			    bad[i]);
			continue;
		}
		if (why == NULL || why[0] == '\0')
			unit_fail(__FILE__, __LINE__, "no reason for \"%s\"",
			    bad[i]);
		CHECK_INTEQ(t.kind, TARGET_APP);
		CHECK_STREQ(t.rest, "before");
	}
	/* the reason is optional, and so is a target */
	CHECK(target_parse("nope", &(struct target){0}, NULL) == -1);
	CHECK(target_parse(NULL, &(struct target){0}, NULL) == -1);
}

/* The reason names what is wrong with the part after the prefix. */
static void
test_reasons(void)
{
	struct target t;
	const char *why = NULL;

	CHECK(target_parse("static:127.0.0.1", &t, &why) == -1);
	CHECK_STREQ(why, "has no ':PORT'");
	CHECK(target_parse("app:a/b", &t, &why) == -1);
	CHECK_CONTAINS(why, "app name");
	CHECK(target_parse("ftp:x", &t, &why) == -1);
	CHECK_CONTAINS(why, "unknown kind");
}

/* The longest valid target fits; anything longer is refused. */
static void
test_lengths(void)
{
	char s[TARGET_MAX + 16], buf[TARGET_MAX];
	struct target t;
	const char *why = NULL;

	memcpy(s, "static:", 7);
	memset(s + 7, 'h', 255);
	memcpy(s + 7 + 255, ":65535", 7);
	CHECK(strlen(s) < TARGET_MAX);
	CHECK(target_parse(s, &t, &why) == 0);
	CHECK_INTEQ(strlen(t.rest), 255 + 6);
	CHECK(target_format(buf, sizeof(buf), TARGET_STATIC, t.rest) == buf);
	CHECK_STREQ(buf, s);

	memset(s, 'a', sizeof(s) - 1);
	memcpy(s, "app:", 4);
	s[sizeof(s) - 1] = '\0';
	CHECK(target_parse(s, &t, &why) == -1);
	CHECK_STREQ(why, "is too long");
}

static void
test_format(void)
{
	char buf[TARGET_MAX];

	CHECK_STREQ(target_format(buf, sizeof(buf), TARGET_APP, "blog"),
	    "app:blog");
	CHECK_STREQ(target_format(buf, sizeof(buf), TARGET_STATIC,
	    "127.0.0.1:8080"), "static:127.0.0.1:8080");
	CHECK_STREQ(target_format(buf, sizeof(buf), TARGET_STATIC,
	    "[::1]:80"), "static:[::1]:80");
	CHECK(target_format(buf, sizeof(buf), TARGET_APP, "blog") == buf);
}

/* What target_parse would refuse is never written. */
static void
test_format_refused(void)
{
	char buf[TARGET_MAX];

	CHECK(target_format(buf, sizeof(buf), TARGET_APP, "a/b") == NULL);
	CHECK(target_format(buf, sizeof(buf), TARGET_APP, "") == NULL);
	CHECK(target_format(buf, sizeof(buf), TARGET_APP, NULL) == NULL);
	CHECK(target_format(buf, sizeof(buf), TARGET_STATIC, "host") ==
	    NULL);
	CHECK(target_format(buf, sizeof(buf), TARGET_STATIC, "::1:80") ==
	    NULL);
	CHECK(target_format(buf, sizeof(buf), (enum target_kind)99, "x") ==
	    NULL);
	/* exactly enough room works; one byte less gives NULL */
	CHECK(target_format(buf, sizeof("app:b"), TARGET_APP, "b") != NULL);
	CHECK(target_format(buf, sizeof("app:b") - 1, TARGET_APP, "b") ==
	    NULL);
	CHECK(target_format(NULL, 0, TARGET_APP, "b") == NULL);
}

/* format then parse gives back the kind and the rest, for every kind. */
static void
test_round_trip(void)
{
	static const struct {
		enum target_kind kind;
		const char *rest;
	} rows[] = {
		{TARGET_APP, "blog"},
		{TARGET_STATIC, "backend.local:8080"},
		{TARGET_STATIC, "[::1]:443"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[TARGET_MAX];
		struct target t;

		REQUIRE(target_format(buf, sizeof(buf), rows[i].kind,
		    rows[i].rest) != NULL);
		REQUIRE(target_parse(buf, &t, NULL) == 0);
		CHECK_INTEQ(t.kind, rows[i].kind);
		CHECK_STREQ(t.rest, rows[i].rest);
	}
}

UNIT_TESTS = {
	{"parsed", test_parsed},
	{"refused", test_refused},
	{"reasons", test_reasons},
	{"lengths", test_lengths},
	{"format", test_format},
	{"format refused", test_format_refused},
	{"round trip", test_round_trip},
	{NULL, NULL},
};
