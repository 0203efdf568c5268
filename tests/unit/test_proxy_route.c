// links: services/proxy/route.c services/proxy/map.c
/*
 * The proxy's route table (services/proxy/route.c) and the hash map under
 * it (map.c): exact domains before wildcards, the most specific wildcard
 * first, a wildcard never matching its own apex, targets checked where
 * they enter, and a map that survives growth and deletions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/proxy/proxy.h"
#include "keys.h"
#include "unit.h"

static struct proxy_app app_blog = {.name = "blog", .state = APP_RUNNING,
    .addr = "127.0.0.1:9001"};
static struct proxy_app app_ide = {.name = "ide", .state = APP_STOPPED};

static struct proxy_app pool_ws = {.name = "ws", .kind = PROXY_POOL};

static struct proxy_app *
app_of(const struct target *tg, void *arg)
{
	(void)arg;
	if (tg->kind == TARGET_POOL)
		return strcmp(tg->rest, "ws") == 0 ? &pool_ws : NULL;
	if (strcmp(tg->rest, "blog") == 0)
		return &app_blog;
	if (strcmp(tg->rest, "ide") == 0)
		return &app_ide;
	return NULL;
}

static const char *
look(const struct route_table *t, const char *host)
{
	const struct route *r = route_lookup(t, host, strlen(host));

	return r != NULL ? r->domain : NULL;
}

static void
test_lookup(void)
{
	struct route_table *t = route_table_new();

	REQUIRE(t != NULL);
	CHECK(route_table_add(t, "a.example.com", "static:127.0.0.1:8080",
	    app_of, NULL) == 0);
	CHECK(route_table_add(t, "*.example.com", "static:127.0.0.1:8081",
	    app_of, NULL) == 0);
	CHECK(route_table_add(t, "*.ide.example.com", "app:ide", app_of,
	    NULL) == 0);
	CHECK(route_table_add(t, "blog.example.org", "app:blog", app_of,
	    NULL) == 0);
	REQUIRE(route_table_seal(t) == 0);

	CHECK_STREQ(look(t, "a.example.com"), "a.example.com");
	CHECK_STREQ(look(t, "b.example.com"), "*.example.com");
	CHECK_STREQ(look(t, "x.y.example.com"), "*.example.com");
	CHECK_STREQ(look(t, "dev1.ide.example.com"), "*.ide.example.com");
	CHECK_STREQ(look(t, "a.dev1.ide.example.com"), "*.ide.example.com");
	CHECK_STREQ(look(t, "ide.example.com"), "*.example.com");
	CHECK_STREQ(look(t, "example.com"), NULL);
	CHECK_STREQ(look(t, "example.org"), NULL);
	CHECK_STREQ(look(t, ""), NULL);
	CHECK_STREQ(look(t, "."), NULL);

	{
		const struct route *r = route_lookup(t, "blog.example.org",
		    16);

		REQUIRE(r != NULL);
		CHECK(r->kind == TARGET_APP);
		CHECK(r->app == &app_blog);
		REQUIRE(r->set->n == 1);
		CHECK_STREQ(r->set->b[0].addr, "127.0.0.1:9001");
		r = route_lookup(t, "z.ide.example.com", 17);
		REQUIRE(r != NULL);
		CHECK_INTEQ(r->set->n, 0);
	}
	route_table_unref(t);
}

static void
test_refused(void)
{
	struct route_table *t = route_table_new();
	static const char *const bad[][2] = {
		{"a.example.com", "static:127.0.0.1"},
		{"a.example.com", "static:127.0.0.1:0"},
		{"a.example.com", "static:127.0.0.1:70000"},
		{"a.example.com", "static::80"},
		{"a.example.com", "static:a b:80"},
		{"a.example.com", "app:no/slash"},
		{"a.example.com", "app:unknown"},
		{"a.example.com", "http://x"},
		{"A.example.com", "static:127.0.0.1:80"},
		{"a..example.com", "static:127.0.0.1:80"},
		{"*.", "static:127.0.0.1:80"},
		{"a.*.com", "static:127.0.0.1:80"},
		{"", "static:127.0.0.1:80"},
		{NULL, NULL},
	};

	REQUIRE(t != NULL);
	for (int i = 0; bad[i][0] != NULL; i++)
		if (route_table_add(t, bad[i][0], bad[i][1], app_of, NULL) == 0)
			unit_fail(__FILE__, __LINE__, "accepted %s -> %s",
			    bad[i][0], bad[i][1]);
	CHECK_INTEQ(t->nroutes, 0);
	CHECK(route_table_add(t, "x.example", "static:[::1]:80", app_of,
	    NULL) == 0);
	CHECK(route_table_add(t, "y.example", "static:backend.local:80",
	    app_of, NULL) == 0);
	route_table_unref(t);
}

/* A pool's wildcard sends nowhere; each lease's exact route goes to its
 * member and wins over any other route of its domain. */
static void
test_leases(void)
{
	struct route_table *t = route_table_new();
	struct proxy_app a = {.name = "ws", .kind = PROXY_LEASE,
	    .state = APP_RUNNING, .addr = "127.0.0.1:9100", .member = "m1",
	    .pool = &pool_ws, .domain = "dev-a.ws.example"};
	struct proxy_app b = {.name = "ws", .kind = PROXY_LEASE,
	    .state = APP_RUNNING, .addr = "127.0.0.1:9101", .member = "m2",
	    .pool = &pool_ws, .domain = "dev-b.ws.example"};
	struct proxy_app gone = {.name = "ws", .kind = PROXY_LEASE,
	    .state = APP_STOPPED, .pool = &pool_ws,
	    .domain = "dev-c.ws.example"};
	struct proxy_app bad = {.name = "ws", .kind = PROXY_LEASE,
	    .state = APP_RUNNING, .addr = "127.0.0.1:1", .member = "m3",
	    .pool = &pool_ws, .domain = "../etc"};
	const struct route *r;

	REQUIRE(t != NULL);
	CHECK(route_table_add(t, "*.ws.example", "pool:ws", app_of, NULL) ==
	    0);
	CHECK(route_table_add(t, "*.ws.example", "pool:nopool", app_of,
	    NULL) < 0);
	CHECK(route_table_add(t, "dev-b.ws.example", "static:127.0.0.1:80",
	    app_of, NULL) == 0);
	CHECK(route_table_add_lease(t, &a) == 0);
	CHECK(route_table_add_lease(t, &b) == 0);
	CHECK(route_table_add_lease(t, &gone) < 0);
	CHECK(route_table_add_lease(t, &bad) < 0);
	CHECK(route_table_add_lease(t, &app_blog) < 0);
	REQUIRE(route_table_seal(t) == 0);

	r = route_lookup(t, "dev-a.ws.example", 16);
	REQUIRE(r != NULL);
	CHECK(r->kind == TARGET_POOL && r->app == &a);
	REQUIRE(r->set->n == 1);
	CHECK_STREQ(r->set->b[0].addr, "127.0.0.1:9100");
	CHECK_STREQ(r->set->b[0].id, "m1");
	r = route_lookup(t, "dev-b.ws.example", 16);
	REQUIRE(r != NULL);
	CHECK(r->app == &b && r->set->n == 1);
	r = route_lookup(t, "dev-c.ws.example", 16);
	REQUIRE(r != NULL);
	CHECK(r->app == &pool_ws && r->set->n == 0);
	CHECK_STREQ(r->domain, "*.ws.example");
	route_table_unref(t);
}

static void
test_refcount(void)
{
	struct route_table *t = route_table_new();

	REQUIRE(t != NULL);
	route_table_ref(t);
	route_table_unref(t);
	CHECK_INTEQ(atomic_load(&t->refs), 1);
	route_table_unref(t);		/* freed: ASan says if not */
	route_table_unref(NULL);
}

static void
test_map(void)
{
	struct map m = {0};
	static char keys[2000][16];
	size_t i, seen = 0;
	struct map_slot *s;

	for (i = 0; i < 2000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		REQUIRE(map_put(&m, keys[i], keys[i]) == 0);
	}
	CHECK_INTEQ(m.len, 2000);
	for (i = 0; i < 2000; i += 2)
		CHECK(map_del(&m, keys[i]) == keys[i]);
	CHECK_INTEQ(m.len, 1000);
	for (i = 0; i < 2000; i++) {
		void *v = map_get(&m, keys[i], strlen(keys[i]));

		if ((i % 2 == 0) != (v == NULL))
			unit_fail(__FILE__, __LINE__, "key %s wrong", keys[i]);
	}
	CHECK(map_get(&m, "k1x", 2) == keys[1]);	/* length-bounded */
	CHECK(map_del(&m, "absent") == NULL);
	i = 0;
	while ((s = map_next(&m, &i)) != NULL)
		seen++;
	CHECK_INTEQ(seen, 1000);
	map_free(&m);
}

UNIT_TESTS = {
	{"lookup", test_lookup},
	{"refused", test_refused},
	{"leases", test_leases},
	{"refcount", test_refcount},
	{"map", test_map},
	{NULL, NULL},
};
