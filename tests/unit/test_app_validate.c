/*
 * The whole-record check (app_validate in common/app.c) for the
 * orchestrator drivers: what a swarm app and a kubernetes app must name,
 * the Deployment names the kubernetes driver takes, the one instance
 * of replicas they run as, and the fields read back from their stored
 * form. A table of records, each with the words its refusal must say.
 */
#include <string.h>

#include "app.h"
#include "unit.h"

struct vcase {
	const char *name;
	const char *const *kv;	/* field/value pairs, NULL-ended */
	const char *want;		/* NULL: valid; else in the error */
};

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct vcase cases[] = {
	{"swarm: image and cport", KV("driver", "swarm", "image", "web:1",
	    "cport", "8080", "replicas", "3"), NULL},
	{"swarm: no image", KV("driver", "swarm", "cport", "8080"),
	    "swarm driver needs an image"},
	{"swarm: no cport", KV("driver", "swarm", "image", "web:1"),
	    "(cport)"},
	{"swarm: max_instances 2", KV("driver", "swarm", "image", "web:1",
	    "cport", "80", "max_instances", "2"), "max_instances 1"},
	{"kubernetes: NAME", KV("driver", "kubernetes", "deployment", "web",
	    "service", "web.apps.svc:80"), NULL},
	{"kubernetes: NS/NAME", KV("driver", "kubernetes", "deployment",
	    "team-a/web.v2", "service", "10.0.0.7:8080"), NULL},
	{"kubernetes: IPv6 service", KV("driver", "kubernetes", "deployment",
	    "web", "service", "[fd00::7]:80"), NULL},
	{"kubernetes: no deployment", KV("driver", "kubernetes", "service",
	    "web:80"), "needs its Deployment"},
	{"kubernetes: upper case", KV("driver", "kubernetes", "deployment",
	    "Web", "service", "web:80"), "needs its Deployment"},
	{"kubernetes: underscore", KV("driver", "kubernetes", "deployment",
	    "my_web", "service", "web:80"), "needs its Deployment"},
	{"kubernetes: empty namespace", KV("driver", "kubernetes",
	    "deployment", "/web", "service", "web:80"), "needs its Deployment"},
	{"kubernetes: two slashes", KV("driver", "kubernetes", "deployment",
	    "a/b/c", "service", "web:80"), "needs its Deployment"},
	{"kubernetes: dot in namespace", KV("driver", "kubernetes",
	    "deployment", "a.b/web", "service", "web:80"),
	    "needs its Deployment"},
	{"kubernetes: leading dash", KV("driver", "kubernetes", "deployment",
	    "-web", "service", "web:80"), "needs its Deployment"},
	{"kubernetes: no service", KV("driver", "kubernetes", "deployment",
	    "web"), "HOST:PORT of its Service"},
	{"kubernetes: service without port", KV("driver", "kubernetes",
	    "deployment", "web", "service", "web"), "HOST:PORT of its Service"},
	{"kubernetes: max_instances 2", KV("driver", "kubernetes",
	    "deployment", "web", "service", "web:80", "max_instances", "2"),
	    "max_instances 1"},
};

static void
test_validate_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vcase *c = &cases[i];
		struct app a;
		char err[600] = "";
		int rc;

		app_defaults(&a, 60, 1000);
		REQUIRE(app_set(&a, "name", "web", err, sizeof(err)) == 0);
		REQUIRE(app_set(&a, "domains", "web.test", err,
		    sizeof(err)) == 0);
		for (size_t k = 0; c->kv[k] != NULL; k += 2)
			if (app_set(&a, c->kv[k], c->kv[k + 1], err,
			    sizeof(err)) != 0)
				unit_fail(__FILE__, __LINE__, "%s: set %s: %s",
				    c->name, c->kv[k], err);
		rc = app_validate(&a, err, sizeof(err));
		if (c->want == NULL && rc != 0)
			unit_fail(__FILE__, __LINE__, "%s: refused: %s",
			    c->name, err);
		else if (c->want != NULL && rc == 0)
			unit_fail(__FILE__, __LINE__, "%s: accepted", c->name);
		else if (c->want != NULL && strstr(err, c->want) == NULL)
			unit_fail(__FILE__, __LINE__, "%s: \"%s\" does not say "
			    "\"%s\"", c->name, err, c->want);
	}
}

/* replicas: 1 by default, 1 to APP_REPLICAS_MAX, and read back. */
static void
test_replicas(void)
{
	static const char *const bad[] = {"0", "-1", "1001", "2x", ""};
	const char *argv[APP_FIELDS_MAX];
	size_t argvlen[APP_FIELDS_MAX];
	char buf[APP_FIELDS_BUF], err[200];
	struct app a;
	int argc = 0;
	bool seen = false;

	app_defaults(&a, 60, 1000);
	CHECK_INTEQ(a.replicas, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(app_set(&a, "replicas", bad[i], err, sizeof(err)) == -1);
		CHECK_CONTAINS(err, "replicas");
	}
	CHECK_INTEQ(a.replicas, 1);
	REQUIRE(app_set(&a, "replicas", "1000", err, sizeof(err)) == 0);
	REQUIRE(app_set(&a, "deployment", "ns/web", err, sizeof(err)) == 0);
	REQUIRE(app_set(&a, "service", "web:80", err, sizeof(err)) == 0);
	REQUIRE(app_fields(&a, argv, argvlen, &argc, buf, sizeof(buf)) == 0);
	for (int i = 0; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "replicas") == 0) {
			CHECK_STREQ(argv[i + 1], "1000");
			seen = true;
		}
		if (strcmp(argv[i], "deployment") == 0)
			CHECK_STREQ(argv[i + 1], "ns/web");
		if (strcmp(argv[i], "service") == 0)
			CHECK_STREQ(argv[i + 1], "web:80");
	}
	CHECK(seen);
}

static void
test_drivers_known(void)
{
	char err[200];
	struct app a;

	app_defaults(&a, 60, 1000);
	CHECK(app_set(&a, "driver", "swarm", err, sizeof(err)) == 0);
	CHECK(app_set(&a, "driver", "kubernetes", err, sizeof(err)) == 0);
	CHECK(app_set(&a, "driver", "nomad", err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "swarm, kubernetes");
}

UNIT_TESTS = {
	{"validate: swarm and kubernetes records", test_validate_table},
	{"replicas", test_replicas},
	{"drivers known", test_drivers_known},
	{NULL, NULL},
};
