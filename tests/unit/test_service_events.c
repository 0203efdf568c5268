/*
 * The default of every daemon's on_event switch (common/service.c):
 * service_event_ignored counts each ignored event under its type, one
 * family with one HELP and TYPE, and ignores a type it does not know
 * without a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "msg.h"
#include "service.h"
#include "unit.h"

static char *
render(void)
{
	struct metrics_buf b = {0};

	metrics_render(&b);
	return b.data != NULL ? b.data : calloc(1, 1);
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL;
	    p += strlen(needle))
		n++;
	return n;
}

static void
test_counted_by_type(void)
{
	struct service s = {.name = "test"};
	struct msg m;
	char *text;

	msg_init(&m, MSG_APP_WAKING);
	service_event_ignored(&s, &m);
	service_event_ignored(&s, &m);
	msg_init(&m, MSG_ROUTE_CHANGED);
	service_event_ignored(&s, &m);
	text = render();
	CHECK_CONTAINS(text,
	    "devcloud_events_ignored_total{type=\"app.waking\"} 2\n");
	CHECK_CONTAINS(text,
	    "devcloud_events_ignored_total{type=\"route.changed\"} 1\n");
	CHECK_INTEQ(count(text, "# TYPE devcloud_events_ignored_total "
	    "counter\n"), 1);
	CHECK_INTEQ(count(text, "app.changed"), 0);
	free(text);
}

static void
test_unknown_type(void)
{
	struct service s = {.name = "test"};
	struct msg m;
	char *before, *after;

	before = render();
	msg_init(&m, MSG_NONE);
	m.type = MSG_TYPE_COUNT + 3;
	service_event_ignored(&s, &m);
	after = render();
	CHECK_STREQ(after, before);
	free(before);
	free(after);
}

UNIT_TESTS = {
	{"counted by type", test_counted_by_type},
	{"unknown type", test_unknown_type},
	{NULL, NULL},
};
