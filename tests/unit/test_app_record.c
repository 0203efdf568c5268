/*
 * Reading an app's Redis hash (common/app.c): the summary a router keeps
 * (app_summary_from_hash) and the whole record (app_from_hash) read the
 * fields they share by the same rules, so a value one refuses the other
 * refuses too; the summary's defaults, the fields it skips, and the
 * replies that are not a hash of strings.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "unit.h"

/* An HGETALL-like reply from NULL-terminated field/value pairs. */
static redisReply *
reply_hash(const char *const *kv)
{
	redisReply *r = calloc(1, sizeof(*r));
	size_t n = 0;

	while (kv[n] != NULL)
		n++;
	if (r == NULL || (r->element = calloc(n + 1,
	    sizeof(*r->element))) == NULL)
		abort();
	r->type = REDIS_REPLY_ARRAY;
	r->elements = n;
	for (size_t i = 0; i < n; i++) {
		redisReply *e = calloc(1, sizeof(*e));

		if (e == NULL || (e->str = strdup(kv[i])) == NULL)
			abort();
		e->type = REDIS_REPLY_STRING;
		e->len = strlen(kv[i]);
		r->element[i] = e;
	}
	return r;
}

static void
reply_free(redisReply *r)
{
	for (size_t i = 0; i < r->elements; i++) {
		free(r->element[i]->str);
		free(r->element[i]);
	}
	free(r->element);
	free(r);
}

static void
test_summary_read(void)
{
	static const char *const kv[] = {
		"name", "blog", "domains", "blog.test", "driver", "process",
		"command", "x", "ttl", "300", "wake_page", "on",
		"state", "running", "addr", "127.0.0.1:9001",
		"failures", "0", "retry_after", "0", NULL,
	};
	redisReply *r = reply_hash(kv);
	struct app_summary s;
	char err[200];

	REQUIRE(app_summary_from_hash(&s, r, err, sizeof(err)) == 0);
	CHECK_INTEQ(s.state, APP_RUNNING);
	CHECK_STREQ(s.addr, "127.0.0.1:9001");
	CHECK_INTEQ(s.ttl_s, 300);
	CHECK(s.wake_page);
	reply_free(r);
}

/* An empty hash (the app was removed) gives a stopped app, no address. */
static void
test_summary_defaults(void)
{
	static const char *const none[] = {NULL};
	redisReply *r = reply_hash(none);
	struct app_summary s;
	char err[200];

	memset(&s, 0x55, sizeof(s));
	REQUIRE(app_summary_from_hash(&s, r, err, sizeof(err)) == 0);
	CHECK_INTEQ(s.state, APP_STOPPED);
	CHECK_STREQ(s.addr, "");
	CHECK_INTEQ(s.ttl_s, 0);
	CHECK(!s.wake_page);
	reply_free(r);
}

/*
 * A value refused by one reader is refused by both, with the field
 * named, and the summary is left as it was.
 */
static void
test_shared_rules(void)
{
	static const struct {
		const char *field, *value;
	} bad[] = {
		{"state", "running "}, {"state", "asleep"}, {"state", ""},
		{"ttl", "0"}, {"ttl", "-5"}, {"ttl", "10s"}, {"ttl", ""},
		{"ttl", "31536001"}, {"wake_page", "yes"}, {"wake_page", ""},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *kv[] = {bad[i].field, bad[i].value, NULL};
		redisReply *r = reply_hash(kv);
		struct app_summary s = {.state = APP_FAILED, .ttl_s = 7};
		struct app a;
		char err[200] = "";

		app_defaults(&a, 60, 1000);
		if (app_summary_from_hash(&s, r, err, sizeof(err)) == 0)
			unit_fail(__FILE__, __LINE__, "summary took %s=\"%s\"",
			    bad[i].field, bad[i].value);
		else
			CHECK_CONTAINS(err, bad[i].field);
		CHECK_INTEQ(s.state, APP_FAILED);
		CHECK_INTEQ(s.ttl_s, 7);
		if (app_from_hash(&a, r, err, sizeof(err)) == 0)
			unit_fail(__FILE__, __LINE__, "record took %s=\"%s\"",
			    bad[i].field, bad[i].value);
		reply_free(r);
	}
}

/* What the summary reads is what the whole record reads. */
static void
test_agrees_with_record(void)
{
	static const char *const kv[] = {
		"state", "stopping", "addr", "[::1]:8080", "ttl", "31536000",
		"wake_page", "off", NULL,
	};
	redisReply *r = reply_hash(kv);
	struct app_summary s;
	struct app a;
	char err[200];

	app_defaults(&a, 60, 1000);
	REQUIRE(app_summary_from_hash(&s, r, err, sizeof(err)) == 0);
	REQUIRE(app_from_hash(&a, r, err, sizeof(err)) == 0);
	CHECK_INTEQ(s.state, a.state);
	CHECK_STREQ(s.addr, a.addr);
	CHECK_INTEQ(s.ttl_s, a.ttl_s);
	CHECK(s.wake_page == a.wake_page);
	for (int st = APP_STOPPED; st <= APP_FAILED; st++)
		CHECK_INTEQ(app_state_parse(app_state_name(st)), st);
	reply_free(r);
}

/* Fields the summary does not carry are not checked by it. */
static void
test_summary_skips_others(void)
{
	static const char *const kv[] = {
		"driver", "lxc", "domains", "Not A Domain", "port", "x",
		"state", "starting", NULL,
	};
	redisReply *r = reply_hash(kv);
	struct app_summary s;
	char err[200];

	REQUIRE(app_summary_from_hash(&s, r, err, sizeof(err)) == 0);
	CHECK_INTEQ(s.state, APP_STARTING);
	reply_free(r);
}

/* Replies that are not a hash of strings. */
static void
test_not_a_hash(void)
{
	static const char *const kv[] = {"state", "running", NULL};
	redisReply *r = reply_hash(kv);
	redisReply nil = {.type = REDIS_REPLY_NIL};
	struct app_summary s = {.state = APP_FAILED};
	struct app a;
	char err[200];

	CHECK(app_summary_from_hash(&s, NULL, err, sizeof(err)) == -1);
	CHECK(app_summary_from_hash(&s, &nil, err, sizeof(err)) == -1);
	CHECK_STREQ(err, "not a hash");
	r->element[1]->type = REDIS_REPLY_INTEGER;
	CHECK(app_summary_from_hash(&s, r, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "not a string");
	app_defaults(&a, 60, 1000);
	CHECK(app_from_hash(&a, r, err, sizeof(err)) == -1);
	CHECK_INTEQ(s.state, APP_FAILED);
	reply_free(r);
}

/*
 * The release fields: "release" a number or empty, "release_path" an
 * absolute path; app_release_apply points the record at the release's
 * files and says which it is in the environment; app_fields never
 * writes "release" (the deployer's alone).
 */
static void
test_release(void)
{
	static const char *const kv[] = {"name", "web", "release", "12",
	    "env", "A=1", "dir", "/srv/web", NULL};
	const char *argv[APP_FIELDS_MAX];
	size_t argvlen[APP_FIELDS_MAX];
	char err[300], buf[APP_FIELDS_BUF];
	redisReply *r = reply_hash(kv);
	char root[] = "/tmp/dc-release-XXXXXX", dir[64], want[64];
	struct app a, b;
	int argc;

	REQUIRE(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/web", root);
	REQUIRE(mkdir(dir, 0700) == 0);
	snprintf(want, sizeof(want), "%s/web/12", root);
	REQUIRE(mkdir(want, 0700) == 0);
	app_defaults(&a, 60, 1000);
	CHECK(app_from_hash(&a, r, err, sizeof(err)) == 0);
	reply_free(r);
	CHECK(strcmp(a.release, "12") == 0);
	CHECK(app_set(&a, "release", "0", err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "release number");
	CHECK(app_set(&a, "release", "1x", err, sizeof(err)) == -1);
	CHECK(app_set(&a, "release_path", "rel", err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "absolute");
	CHECK(app_set(&a, "release_path", "/www/rel", err, sizeof(err)) == 0);
	b = a;
	CHECK(app_release_apply(&b, root, err, sizeof(err)) == 0);
	CHECK(strcmp(b.dir, want) == 0);
	CHECK(strcmp(b.release_dir, want) == 0);
	CHECK(strcmp(b.env, "A=1\nDEVCLOUD_RELEASE=12") == 0);
	/* docker: the files are mounted, the directory is not the cwd */
	b = a;
	snprintf(b.driver, sizeof(b.driver), "docker");
	CHECK(app_release_apply(&b, root, err, sizeof(err)) == 0);
	CHECK(strcmp(b.dir, "/srv/web") == 0);
	CHECK(strcmp(b.release_dir, want) == 0);
	/* an image release has no files: nothing to run in or mount */
	b = a;
	snprintf(b.release, sizeof(b.release), "13");
	CHECK(app_release_apply(&b, root, err, sizeof(err)) == 0);
	CHECK(strcmp(b.dir, "/srv/web") == 0 && b.release_dir[0] == '\0');
	CHECK(strcmp(b.env, "A=1\nDEVCLOUD_RELEASE=13") == 0);
	/* no release: nothing changes */
	b = a;
	b.release[0] = '\0';
	CHECK(app_release_apply(&b, root, err, sizeof(err)) == 0);
	CHECK(strcmp(b.dir, "/srv/web") == 0 && strcmp(b.env, "A=1") == 0);
	/* an environment with no room left: refused, left as it was */
	b = a;
	memset(b.env, 'x', sizeof(b.env) - 5);
	b.env[sizeof(b.env) - 5] = '\0';
	CHECK(app_release_apply(&b, root, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "DEVCLOUD_RELEASE");
	CHECK(strlen(b.env) == sizeof(b.env) - 5);
	CHECK(app_fields(&a, argv, argvlen, &argc, buf, sizeof(buf)) == 0);
	for (int i = 0; i < argc; i += 2)
		CHECK(strcmp(argv[i], "release") != 0);
	rmdir(want);
	rmdir(dir);
	rmdir(root);
}

UNIT_TESTS = {
	{"release fields", test_release},
	{"summary read", test_summary_read},
	{"summary defaults", test_summary_defaults},
	{"shared rules", test_shared_rules},
	{"agrees with the record", test_agrees_with_record},
	{"summary skips other fields", test_summary_skips_others},
	{"not a hash", test_not_a_hash},
	{NULL, NULL},
};
