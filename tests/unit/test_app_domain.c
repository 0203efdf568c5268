/*
 * The one rule for route domains (common/app.c), shared by devcloudctl,
 * which writes routes, and the proxy, which loads them: a row per shape
 * accepted and refused, and the case folding of app_domain_normalize.
 */
#include <string.h>

#include "app.h"
#include "unit.h"

static const char *const good[] = {
	"a", "example.com", "app.example.com", "*.ide.example.com",
	"my_service.local", "x-1.test", "0.0.0.0.nip.io",
};

static const char *const bad[] = {
	"", "*.", "*", ".example.com", "example.com.", "a..b", "*.*.a",
	"a*.b", "ex ample.com", "example.com:80", "Example.com", "é.test",
	"a/b", "*example.com",
};

static void
test_accepted(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (app_domain_valid(good[i]) != 0)
			unit_fail(__FILE__, __LINE__, "refused \"%s\"", good[i]);
	}
}

static void
test_refused(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (app_domain_valid(bad[i]) == 0)
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
	}
}

/* Labels up to 63 characters, names up to APP_DOMAIN_MAX after "*.". */
static void
test_lengths(void)
{
	char d[APP_DOMAIN_MAX + 8];

	memset(d, 'a', 63);
	d[63] = '\0';
	CHECK(app_domain_valid(d) == 0);
	d[63] = 'a';
	d[64] = '\0';
	CHECK(app_domain_valid(d) < 0);

	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(d, 'a', APP_DOMAIN_MAX);
	d[63] = d[127] = d[191] = '.';
	d[APP_DOMAIN_MAX] = '\0';
	CHECK(app_domain_valid(d) == 0);
	memmove(d + 2, d, APP_DOMAIN_MAX + 1);
	memcpy(d, "*.", 2);
	CHECK(app_domain_valid(d) == 0);
	d[APP_DOMAIN_MAX + 2] = 'a';
	d[APP_DOMAIN_MAX + 3] = '\0';
	CHECK(app_domain_valid(d) < 0);
}

static void
test_normalize(void)
{
	char d[64];

	strcpy(d, "*.IDE.Example.COM");
	CHECK(app_domain_normalize(d) == 0);
	CHECK_STREQ(d, "*.ide.example.com");
	strcpy(d, "My_Service.Local");
	CHECK(app_domain_normalize(d) == 0);
	CHECK_STREQ(d, "my_service.local");
	strcpy(d, "Bad..Name");
	CHECK(app_domain_normalize(d) < 0);
}

UNIT_TESTS = {
	{"accepted", test_accepted},
	{"refused", test_refused},
	{"lengths", test_lengths},
	{"normalize", test_normalize},
	{NULL, NULL},
};
