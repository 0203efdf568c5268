/*
 * The key schema (common/keys.c): every key with the default and a custom
 * prefix, the name rules that keep keys unambiguous, and the refusals
 * (bad names, a buffer too small) that return NULL instead of a key.
 */
#include <string.h>

#include "keys.h"
#include "unit.h"

/* Every case starts and ends with the default prefix. */
static void
reset_prefix(void)
{
	keys_init("dc:");
}

static void
test_default_prefix(void)
{
	char buf[KEY_MAX];

	CHECK_STREQ(keys_prefix(), "dc:");
	CHECK_STREQ(key_routes(buf, sizeof(buf)), "dc:routes");
	CHECK_STREQ(key_apps(buf, sizeof(buf)), "dc:apps");
	CHECK_STREQ(key_app(buf, sizeof(buf), "blog"), "dc:app:blog");
	CHECK_STREQ(key_deadlines(buf, sizeof(buf)), "dc:deadlines");
	CHECK_STREQ(key_lastaccess(buf, sizeof(buf)), "dc:lastaccess");
	CHECK_STREQ(key_wake_lock(buf, sizeof(buf), "blog"),
	    "dc:lock:wake:blog");
	CHECK_STREQ(key_services(buf, sizeof(buf)), "dc:services");
	CHECK_STREQ(key_instances(buf, sizeof(buf), "blog"),
	    "dc:instances:blog");
	CHECK_STREQ(key_instance(buf, sizeof(buf), "blog", "3"),
	    "dc:instance:blog:3");
	CHECK_STREQ(key_hosts(buf, sizeof(buf)), "dc:hosts");
	CHECK_STREQ(key_host(buf, sizeof(buf), "web1"), "dc:host:web1");
	CHECK_STREQ(key_hoststate(buf, sizeof(buf), "web1"),
	    "dc:hoststate:web1");
	CHECK_STREQ(key_relief(buf, sizeof(buf), "web1"), "dc:relief:web1");
	CHECK_STREQ(key_relief_lock(buf, sizeof(buf), "web1"),
	    "dc:lock:relief:web1");
	CHECK(key_relief(buf, sizeof(buf), "a b") == NULL);
	CHECK_STREQ(key_load(buf, sizeof(buf), "blog"), "dc:load:blog");
	CHECK_STREQ(key_scale_lock(buf, sizeof(buf), "blog"),
	    "dc:lock:scale:blog");
	CHECK_STREQ(key_deploy_lock(buf, sizeof(buf), "blog"),
	    "dc:lock:deploy:blog");
	CHECK_STREQ(key_release_seq(buf, sizeof(buf), "blog"),
	    "dc:releaseseq:blog");
	CHECK_STREQ(key_releases(buf, sizeof(buf), "blog"),
	    "dc:releases:blog");
	CHECK_STREQ(key_release(buf, sizeof(buf), "blog", 12),
	    "dc:release:blog:12");
	CHECK(key_release(buf, sizeof(buf), "blog", 0) == NULL);
	CHECK(key_deploy_lock(buf, sizeof(buf), "../x") == NULL);
	CHECK(key_instance(buf, sizeof(buf), "blog", "a:b") == NULL);
	CHECK(key_host(buf, sizeof(buf), "") == NULL);
	CHECK_STREQ(key_service(buf, sizeof(buf), "proxy", "web1-42"),
	    "dc:service:proxy/web1-42");
}

/* The key is written into BUF and BUF is what comes back. */
static void
test_returns_buf(void)
{
	char buf[KEY_MAX];

	CHECK(key_routes(buf, sizeof(buf)) == buf);
	CHECK(key_app(buf, sizeof(buf), "a") == buf);
	CHECK(key_service(buf, sizeof(buf), "a", "b") == buf);
}

static void
test_custom_prefix(void)
{
	char buf[KEY_MAX];

	CHECK_INTEQ(keys_init("staging:"), 0);
	CHECK_STREQ(keys_prefix(), "staging:");
	CHECK_STREQ(key_routes(buf, sizeof(buf)), "staging:routes");
	CHECK_STREQ(key_apps(buf, sizeof(buf)), "staging:apps");
	CHECK_STREQ(key_app(buf, sizeof(buf), "blog"), "staging:app:blog");
	CHECK_STREQ(key_deadlines(buf, sizeof(buf)), "staging:deadlines");
	CHECK_STREQ(key_lastaccess(buf, sizeof(buf)), "staging:lastaccess");
	CHECK_STREQ(key_wake_lock(buf, sizeof(buf), "blog"),
	    "staging:lock:wake:blog");
	CHECK_STREQ(key_services(buf, sizeof(buf)), "staging:services");
	CHECK_STREQ(key_service(buf, sizeof(buf), "idepool", "i-1"),
	    "staging:service:idepool/i-1");
	reset_prefix();
	CHECK_STREQ(key_apps(buf, sizeof(buf)), "dc:apps");
}

static void
test_prefix_refused(void)
{
	char longest[32], too_long[33];

	memset(longest, 'p', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(too_long, 'p', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';

	CHECK_INTEQ(keys_init(NULL), -1);
	CHECK_INTEQ(keys_init(""), -1);
	CHECK_INTEQ(keys_init(too_long), -1);
	/* a refused prefix leaves the current one in place */
	CHECK_STREQ(keys_prefix(), "dc:");
	CHECK_INTEQ(keys_init(longest), 0);
	CHECK_STREQ(keys_prefix(), longest);
	reset_prefix();
}

static void
test_name_accepted(void)
{
	char max[64];

	memset(max, 'a', sizeof(max) - 1);
	max[sizeof(max) - 1] = '\0';
	CHECK(keys_name_valid("a"));
	CHECK(keys_name_valid("blog"));
	CHECK(keys_name_valid("Blog-2.staging_x"));
	CHECK(keys_name_valid("0day"));
	CHECK(keys_name_valid("_x"));
	CHECK(keys_name_valid("a.-_"));
	CHECK(keys_name_valid(max));
}

static void
test_name_refused(void)
{
	char over[65];

	memset(over, 'a', sizeof(over) - 1);
	over[sizeof(over) - 1] = '\0';
	CHECK(!keys_name_valid(NULL));
	CHECK(!keys_name_valid(""));
	CHECK(!keys_name_valid(over));
	CHECK(!keys_name_valid(".hidden"));
	CHECK(!keys_name_valid("-flag"));
	CHECK(!keys_name_valid("a:b"));
	CHECK(!keys_name_valid("a/b"));
	CHECK(!keys_name_valid("a b"));
	CHECK(!keys_name_valid("a*"));
	CHECK(!keys_name_valid("a\nb"));
	CHECK(!keys_name_valid("caf\xc3\xa9"));
}

/* A name that could forge another key never makes one. */
static void
test_invalid_name_no_key(void)
{
	char buf[KEY_MAX];

	CHECK(key_app(buf, sizeof(buf), NULL) == NULL);
	CHECK(key_app(buf, sizeof(buf), "") == NULL);
	CHECK(key_app(buf, sizeof(buf), "x:routes") == NULL);
	CHECK(key_wake_lock(buf, sizeof(buf), "a b") == NULL);
	CHECK(key_wake_lock(buf, sizeof(buf), NULL) == NULL);
	CHECK(key_service(buf, sizeof(buf), "proxy", "a/b") == NULL);
	CHECK(key_service(buf, sizeof(buf), "a/b", "i1") == NULL);
	CHECK(key_service(buf, sizeof(buf), "proxy", "") == NULL);
	CHECK(key_service(buf, sizeof(buf), NULL, "i1") == NULL);
}

/* Exactly enough room works; one byte less gives NULL, for every key. */
static void
test_small_buffer(void)
{
	char buf[KEY_MAX];

	CHECK(key_routes(buf, sizeof("dc:routes")) != NULL);
	CHECK(key_routes(buf, sizeof("dc:routes") - 1) == NULL);
	CHECK(key_apps(buf, sizeof("dc:apps")) != NULL);
	CHECK(key_apps(buf, sizeof("dc:apps") - 1) == NULL);
	CHECK(key_app(buf, sizeof("dc:app:blog"), "blog") != NULL);
	CHECK(key_app(buf, sizeof("dc:app:blog") - 1, "blog") == NULL);
	CHECK(key_deadlines(buf, sizeof("dc:deadlines")) != NULL);
	CHECK(key_deadlines(buf, sizeof("dc:deadlines") - 1) == NULL);
	CHECK(key_lastaccess(buf, sizeof("dc:lastaccess")) != NULL);
	CHECK(key_lastaccess(buf, sizeof("dc:lastaccess") - 1) == NULL);
	CHECK(key_wake_lock(buf, sizeof("dc:lock:wake:b"), "b") != NULL);
	CHECK(key_wake_lock(buf, sizeof("dc:lock:wake:b") - 1, "b") == NULL);
	CHECK(key_services(buf, sizeof("dc:services")) != NULL);
	CHECK(key_services(buf, sizeof("dc:services") - 1) == NULL);
	CHECK(key_service(buf, sizeof("dc:service:p/i"), "p", "i") != NULL);
	CHECK(key_service(buf, sizeof("dc:service:p/i") - 1, "p", "i") ==
	    NULL);
	CHECK(key_routes(buf, 0) == NULL);
	CHECK(key_routes(NULL, 0) == NULL);
}

/* The longest names with the longest prefix still fit in KEY_MAX. */
static void
test_key_max_fits(void)
{
	char prefix[32], name[64], buf[KEY_MAX];

	memset(prefix, 'p', sizeof(prefix) - 1);
	prefix[sizeof(prefix) - 1] = '\0';
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	REQUIRE(keys_init(prefix) == 0);
	CHECK(key_service(buf, sizeof(buf), name, name) != NULL);
	CHECK(key_wake_lock(buf, sizeof(buf), name) != NULL);
	CHECK(key_app(buf, sizeof(buf), name) != NULL);
	reset_prefix();
}

UNIT_TESTS = {
	{"default prefix", test_default_prefix},
	{"returns buf", test_returns_buf},
	{"custom prefix", test_custom_prefix},
	{"prefix refused", test_prefix_refused},
	{"name accepted", test_name_accepted},
	{"name refused", test_name_refused},
	{"invalid name makes no key", test_invalid_name_no_key},
	{"buffer too small", test_small_buffer},
	{"longest key fits KEY_MAX", test_key_max_fits},
	{NULL, NULL},
};
