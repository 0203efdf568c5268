/*
 * Lines of Docker's event stream (common/docker_events.c): the deaths
 * and OOM kills read, with their labels and exit status; other events
 * passed over; anything malformed refused, the output left alone.
 */
#include <string.h>

#include "docker_events.h"
#include "unit.h"

/* As dockerd 20.10 writes them (ids shortened). */
#define DIE_KILLED "{\"status\":\"die\",\"id\":\"c900cde4c649\"," \
	"\"from\":\"img\",\"Type\":\"container\",\"Action\":\"die\"," \
	"\"Actor\":{\"ID\":\"c900cde4c649\",\"Attributes\":{" \
	"\"devcloud.app\":\"blog\",\"devcloud.instance\":\"2\"," \
	"\"exitCode\":\"137\",\"image\":\"img\"," \
	"\"name\":\"devcloud-blog-2\"}},\"scope\":\"local\"," \
	"\"time\":1796006050,\"timeNano\":1796006050054962472}"

static const struct {
	const char *line;
	enum docker_event_kind kind;
	const char *id, *name, *app, *inst;
	int exit_code;
} read_rows[] = {
	{DIE_KILLED, DOCKER_EVENT_DIE, "c900cde4c649", "devcloud-blog-2",
	    "blog", "2", 137},
	{"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"ab\","
	    "\"Attributes\":{\"name\":\"mine\",\"exitCode\":\"0\"}}}",
	    DOCKER_EVENT_DIE, "ab", "mine", "", "", 0},
	/* no exit status, or one that is not a status */
	{"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"ab\","
	    "\"Attributes\":{\"name\":\"x\"}}}", DOCKER_EVENT_DIE, "ab", "x",
	    "", "", -1},
	{"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"ab\","
	    "\"Attributes\":{\"name\":\"x\",\"exitCode\":\"9x\"}}}",
	    DOCKER_EVENT_DIE, "ab", "x", "", "", -1},
	{"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"ab\","
	    "\"Attributes\":{\"name\":\"x\",\"exitCode\":137}}}",
	    DOCKER_EVENT_DIE, "ab", "x", "", "", -1},
	{"{\"Type\":\"container\",\"Action\":\"oom\",\"Actor\":{\"ID\":\"cd\","
	    "\"Attributes\":{\"name\":\"devcloud-a-1\",\"devcloud.app\":\"a\","
	    "\"devcloud.instance\":\"1\"}}}", DOCKER_EVENT_OOM, "cd",
	    "devcloud-a-1", "a", "1", -1},
	/* a label that is not a string is no label */
	{"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"ab\","
	    "\"Attributes\":{\"name\":\"x\",\"devcloud.app\":7}}}",
	    DOCKER_EVENT_DIE, "ab", "x", "", "", -1},
};

/* Well-formed events of another kind: 1, nothing read. */
static const char *const other_rows[] = {
	"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{}}",
	"{\"Type\":\"container\",\"Action\":\"kill\",\"Actor\":{\"ID\":\"a\","
	    "\"Attributes\":{\"name\":\"x\",\"signal\":\"9\"}}}",
	"{\"Type\":\"network\",\"Action\":\"die\"}",
	"{\"Type\":\"container\",\"Action\":\"health_status: healthy\"}",
};

static const char *const bad_rows[] = {
	"", "{", "[]", "null", "\"die\"", "{}",
	"{\"Type\":\"container\"}",
	"{\"Action\":\"die\"}",
	"{\"Type\":1,\"Action\":\"die\"}",
	"{\"Type\":\"container\",\"Action\":\"die\"}",
	"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":[]}",
	"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\"}}",
	"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\","
	    "\"Attributes\":[]}}",
	"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\","
	    "\"Attributes\":{}}}",
	"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"\","
	    "\"Attributes\":{\"name\":\"x\"}}}",
	"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\","
	    "\"Attributes\":{\"name\":\"\"}}}",
	"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":7,"
	    "\"Attributes\":{\"name\":\"x\"}}}",
};

static void
test_read(void)
{
	for (size_t i = 0; i < sizeof(read_rows) / sizeof(read_rows[0]); i++) {
		struct docker_event e;

		memset(&e, 0x55, sizeof(e));
		if (docker_event_parse(read_rows[i].line, &e) != 0) {
			unit_fail(__FILE__, __LINE__, "not read: %s",
			    read_rows[i].line);
			continue;
		}
		CHECK_INTEQ(e.kind, read_rows[i].kind);
		CHECK_STREQ(e.id, read_rows[i].id);
		CHECK_STREQ(e.name, read_rows[i].name);
		CHECK_STREQ(e.app, read_rows[i].app);
		CHECK_STREQ(e.inst, read_rows[i].inst);
		CHECK_INTEQ(e.exit_code, read_rows[i].exit_code);
	}
}

/* Passed over or refused: the output is as it was. */
static void
check_untouched(const char *line, int want)
{
	struct docker_event e, before;

	memset(&e, 0x55, sizeof(e));
	before = e;
	if (docker_event_parse(line, &e) != want)
		unit_fail(__FILE__, __LINE__, "not %d: %s", want, line);
	CHECK(memcmp(&e, &before, sizeof(e)) == 0);
}

static void
test_other(void)
{
	for (size_t i = 0; i < sizeof(other_rows) / sizeof(other_rows[0]);
	    i++)
		check_untouched(other_rows[i], 1);
}

static void
test_refused(void)
{
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++)
		check_untouched(bad_rows[i], -1);
}

/* A name or label longer than the fields: refused, or no label. */
static void
test_lengths(void)
{
	char line[1024], big[300];
	struct docker_event e;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(line, sizeof(line), "{\"Type\":\"container\",\"Action\":"
	    "\"die\",\"Actor\":{\"ID\":\"a\",\"Attributes\":{\"name\":"
	    "\"%s\"}}}", big);
	check_untouched(line, -1);
	snprintf(line, sizeof(line), "{\"Type\":\"container\",\"Action\":"
	    "\"die\",\"Actor\":{\"ID\":\"a\",\"Attributes\":{\"name\":\"x\","
	    "\"devcloud.app\":\"%.80s\",\"exitCode\":\"1\"}}}", big);
	REQUIRE(docker_event_parse(line, &e) == 0);
	CHECK_STREQ(e.app, "");
	CHECK_INTEQ(e.exit_code, 1);
}

UNIT_TESTS = {
	{"read", test_read},
	{"other kinds", test_other},
	{"refused", test_refused},
	{"lengths", test_lengths},
	{NULL, NULL},
};
