// links: services/regulator/webhook.c
/*
 * The regulator's webhook parsers (services/regulator/webhook.c): the
 * payloads of tests/data/webhooks as their senders write them, then a
 * row per way a payload is read and per way it is refused. Every
 * refusal names what was wrong and leaves the outputs alone. Payloads
 * are handed over in buffers of their exact length, with no NUL after
 * them, so a read past the end shows under ASan.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/regulator/webhook.h"
#include "unit.h"

#define DATA "tests/data/webhooks/"
#define ERRLEN 256

/* BODY (LEN bytes) copied to a buffer of just LEN bytes, then read. */
static int
am(const char *body, size_t len, const char *label,
    struct webhook_signal *out, int max, int *n, char *err)
{
	char *copy = calloc(1, len > 0 ? len : 1);
	int rc;

	if (copy == NULL)
		return -2;
	memcpy(copy, body, len);
	rc = webhook_alertmanager(copy, len, label, out, max, n, err, ERRLEN);
	free(copy);
	return rc;
}

static int
of(const char *params, size_t len, struct webhook_signal *out, char *err)
{
	char *copy = calloc(1, len > 0 ? len : 1);
	int rc;

	if (copy == NULL)
		return -2;
	memcpy(copy, params, len);
	rc = webhook_openfalcon(copy, len, out, err, ERRLEN);
	free(copy);
	return rc;
}

/* A file of tests/data/webhooks; a .txt file without its newline. */
static char *
payload(const char *name, size_t *len)
{
	char path[128];
	char *s;

	snprintf(path, sizeof(path), DATA "%s", name);
	if ((s = unit_read_source(path)) == NULL)
		return NULL;
	*len = strlen(s);
	if (strstr(name, ".txt") != NULL && *len > 0 && s[*len - 1] == '\n')
		s[--*len] = '\0';
	return s;
}

/* S is as wanted; ROW names the case in the failure. */
static void
check_signal(const char *file, int line, const char *row,
    const struct webhook_signal *s, const char *host, const char *metric,
    bool firing, bool has_value, double value)
{
	if (strcmp(s->host, host) != 0 || strcmp(s->metric, metric) != 0 ||
	    s->firing != firing || s->has_value != has_value ||
	    fabs(s->value - value) > 1e-9)
		unit_fail(file, line, "%s: signal {%s, %s, %s, %s, %g}, "
		    "wanted {%s, %s, %s, %s, %g}", row, s->host, s->metric,
		    s->firing ? "firing" : "resolved",
		    s->has_value ? "value" : "no value", s->value, host,
		    metric, firing ? "firing" : "resolved",
		    has_value ? "value" : "no value", value);
}

#define CHECK_SIGNAL(s, host, metric, firing, has_value, value)	\
	check_signal(__FILE__, __LINE__, #s, (s), (host), (metric), (firing), \
	    (has_value), (value))

/*
 * The tables of cases: a payload read (and the one signal it gives), or
 * refused (and what the reason says).
 */
struct read_row {
	const char *name, *payload;
	const char *host, *metric;
	bool firing, has_value;
	double value;
};

struct refused_row {
	const char *name, *payload, *want;
};

enum sender { ALERTMANAGER, OPENFALCON };

/* Room for the signals of the refused payloads with several alerts. */
#define ROW_SIGNALS 4

/* PAYLOAD read by WHO's parser; *N is Alertmanager's count. */
static int
row_parse(enum sender who, const char *payload, struct webhook_signal *s,
    int *n, char *err)
{
	if (who == ALERTMANAGER)
		return am(payload, strlen(payload), NULL, s, ROW_SIGNALS, n,
		    err);
	return of(payload, strlen(payload), s, err);
}

/* The outputs a refusal must leave as they were. */
static void
fill(struct webhook_signal *s, size_t n)
{
	memset(s, 0x5a, n * sizeof(*s));
}

static bool
untouched(const struct webhook_signal *s, size_t n)
{
	for (size_t i = 0; i < n * sizeof(*s); i++)
		if (((const unsigned char *)s)[i] != 0x5a)
			return false;
	return true;
}

static void
check_read(enum sender who, const struct read_row *r, size_t count)
{
	struct webhook_signal s[ROW_SIGNALS];
	char err[ERRLEN];
	int n;

	for (size_t i = 0; i < count; i++) {
		n = 1;
		err[0] = '\0';
		if (row_parse(who, r[i].payload, s, &n, err) != 0 ||
		    n != 1) {
			unit_fail(__FILE__, __LINE__, "%s: refused (%s), or "
			    "%d signals", r[i].name, err, n);
			continue;
		}
		check_signal(__FILE__, __LINE__, r[i].name, &s[0], r[i].host,
		    r[i].metric, r[i].firing, r[i].has_value, r[i].value);
	}
}

static void
check_refused(enum sender who, const struct refused_row *r, size_t count)
{
	struct webhook_signal s[ROW_SIGNALS];
	char err[ERRLEN];
	int n;

	for (size_t i = 0; i < count; i++) {
		fill(s, ROW_SIGNALS);
		n = -7;
		err[0] = '\0';
		if (row_parse(who, r[i].payload, s, &n, err) != -1) {
			unit_fail(__FILE__, __LINE__, "%s: accepted",
			    r[i].name);
			continue;
		}
		if (strstr(err, r[i].want) == NULL)
			unit_fail(__FILE__, __LINE__, "%s: reason \"%s\" "
			    "lacks \"%s\"", r[i].name, err, r[i].want);
		if (!untouched(s, ROW_SIGNALS) || n != -7)
			unit_fail(__FILE__, __LINE__, "%s: output written",
			    r[i].name);
	}
}

#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

/* ------------------------------------------------------------------ */
/* The senders' own payloads                                            */

#define SIGNAL(host, metric, firing, has_value, value) {host, metric, \
	value, has_value, firing}

static const struct {
	const char *file;		/* in tests/data/webhooks */
	enum sender who;
	int n;
	struct webhook_signal want[3];
} examples[] = {
	{"alertmanager_firing.json", ALERTMANAGER, 3, {
	    SIGNAL("web-1", "HostHighLoad", true, true, 12.5),
	    /* "9.87k" is text, not a number: no value, not a refusal */
	    SIGNAL("db-2.example.com", "HostHighLoad", true, false, 0),
	    /* resolved inside a firing group: each alert's own status */
	    SIGNAL("web-3", "HostHighLoad", false, true, 0.4)}},
	/* one line as Go writes it; no "value" annotation: the label's */
	{"alertmanager_resolved.json", ALERTMANAGER, 1, {
	    SIGNAL("web-1", "HostHighLoad", false, true, 3.25)}},
	{"openfalcon_problem.txt", OPENFALCON, 1, {
	    SIGNAL("web-1", "df.bytes.used.percent", true, true, 92.5)}},
	/* to a callback URL with its own ?token= */
	{"openfalcon_ok.txt", OPENFALCON, 1, {
	    SIGNAL("web-1", "df.bytes.used.percent", false, true, 41.25)}},
};

static void
test_examples(void)
{
	struct webhook_signal s[WEBHOOK_MAX_SIGNALS];
	char err[ERRLEN], *body;
	size_t len;
	int n;

	for (size_t i = 0; i < NROWS(examples); i++) {
		const char *file = examples[i].file;

		if ((body = payload(file, &len)) == NULL) {
			unit_fail(__FILE__, __LINE__, "%s: not found", file);
			continue;
		}
		n = 1;
		err[0] = '\0';
		if (examples[i].who == ALERTMANAGER) {
			/* Go's json.Encoder ends the body with a newline */
			CHECK(body[len - 1] == '\n');
			if (am(body, len, "instance", s, examples[i].n, &n,
			    err) != 0)
				n = -1;
		} else if (of(body, len, s, err) != 0) {
			n = -1;
		}
		if (n != examples[i].n)
			unit_fail(__FILE__, __LINE__, "%s: %d signals (%s)",
			    file, n, err);
		for (int k = 0; k < n && k < examples[i].n; k++) {
			const struct webhook_signal *w = &examples[i].want[k];

			check_signal(__FILE__, __LINE__, file, &s[k], w->host,
			    w->metric, w->firing, w->has_value, w->value);
		}
		free(body);
	}
}

/* ------------------------------------------------------------------ */
/* Alertmanager                                                         */

/* A payload around ALERTS, and one alert of the documented shape. */
#define AM_BODY(alerts) "{\"version\":\"4\",\"groupKey\":\"{}:{}\"," \
	"\"truncatedAlerts\":0,\"status\":\"firing\",\"receiver\":\"r\"," \
	"\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{}," \
	"\"externalURL\":\"http://am:9093\",\"alerts\":[" alerts "]}"
#define AM_ALERT(status, labels, annotations) "{\"status\":\"" status \
	"\",\"labels\":{" labels "},\"annotations\":{" annotations "}," \
	"\"startsAt\":\"2024-03-01T10:15:00Z\",\"endsAt\":" \
	"\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://p:9090/graph\"," \
	"\"fingerprint\":\"5f0b7e1c2a9d3e44\"}"
#define AM_LOAD "\"alertname\":\"HostHighLoad\""
#define WEB1 AM_ALERT("firing", AM_LOAD ",\"instance\":\"web-1:9100\"", \
	"\"value\":\"12.5\"")
/* One alert whose annotation "value" is V. */
#define AM_VALUE(v) AM_BODY(AM_ALERT("firing", \
	"\"instance\":\"web-1:9100\"", "\"value\":\"" v "\""))

static const struct read_row am_good[] = {
	{"one firing alert", AM_BODY(WEB1), "web-1", "HostHighLoad", true,
	    true, 12.5},
	{"a host without port", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1\"", "")), "web-1", "", true, false, 0},
	{"an IPv4 address", AM_BODY(AM_ALERT("resolved",
	    "\"instance\":\"10.0.0.5:9100\"", "")), "10.0.0.5", "", false,
	    false, 0},
	{"alertname with spaces", AM_BODY(AM_ALERT("firing",
	    "\"alertname\":\"High CPU usage\",\"instance\":\"web-1:9100\"",
	    "")), "web-1", "High CPU usage", true, false, 0},
	{"annotation before label", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1:9100\",\"value\":\"3\"",
	    "\"value\":\"-0.5\"")), "web-1", "", true, true, -0.5},
	{"label when the annotation is text", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1:9100\",\"value\":\"3\"",
	    "\"value\":\"1.2k\"")), "web-1", "", true, true, 3},
	{"exponent", AM_VALUE("1.5e+06"), "web-1", "", true, true, 1.5e6},
	{"NaN is no value", AM_VALUE("NaN"), "web-1", "", true, false, 0},
	{"+Inf is no value", AM_VALUE("+Inf"), "web-1", "", true, false, 0},
	{"overflow is no value", AM_VALUE("1e999"), "web-1", "", true, false,
	    0},
	{"hex is no value", AM_VALUE("0x10"), "web-1", "", true, false, 0},
	{"spaces are no value", AM_VALUE(" 1"), "web-1", "", true, false, 0},
	{"unknown members", "{\"version\":\"4\",\"status\":\"firing\","
	    "\"notification_reason\":\"new\",\"orgId\":1,\"alerts\":["
	    "{\"status\":\"firing\",\"labels\":{\"instance\":\"web-1\"},"
	    "\"annotations\":{},\"startsAt\":\"x\",\"values\":{\"B\":4.2}}]}",
	    "web-1", "", true, false, 0},
	{"whitespace around", " \r\n\t" AM_BODY(WEB1) "\r\n\t ", "web-1",
	    "HostHighLoad", true, true, 12.5},
};

static void
test_am_read(void)
{
	static const char other[] = AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"[::1]:9100\",\"host\":\"node-7\"", ""));
	struct webhook_signal s;
	char err[ERRLEN] = "";
	int n = -1;

	check_read(ALERTMANAGER, am_good, NROWS(am_good));
	/* another label holds the host: the instance is not looked at */
	if (am(other, sizeof(other) - 1, "host", &s, 1, &n, err) != 0)
		unit_fail(__FILE__, __LINE__, "refused: %s", err);
	CHECK_INTEQ(n, 1);
	CHECK_SIGNAL(&s, "node-7", "", true, false, 0);
	CHECK(am(other, sizeof(other) - 1, "nodename", &s, 1, &n, err) == -1);
	CHECK_STREQ(err, "alerts[0].labels: no \"nodename\" label");
	/* "" is the default, "instance" */
	CHECK(am(other, sizeof(other) - 1, "", &s, 1, &n, err) == -1);
	CHECK_STREQ(err, "alerts[0].labels.instance: \"[::1]:9100\" is an "
	    "IPv6 address, not a host name");
}

#define LONG64 "a123456789b123456789c123456789d123456789e123456789" \
	"f123456789abcd"
#define LONG128 LONG64 LONG64

static const struct refused_row am_bad[] = {
	{"not JSON", "hello", "body: malformed JSON at byte 0"},
	{"truncated", "{\"version\":\"4\",\"status\":", "truncated JSON"},
	{"trailing garbage", AM_BODY(WEB1) " x", "trailing bytes"},
	{"two documents", AM_BODY(WEB1) AM_BODY(WEB1), "trailing bytes"},
	{"a trailing comma", "{\"version\":\"4\",}", "malformed JSON"},
	{"single quotes", "{'version':'4'}", "malformed JSON"},
	{"bad UTF-8", "{\"version\":\"4\",\"receiver\":\"\xff\"}",
	    "invalid utf-8"},
	{"nested too deep", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "too deep"},
	{"an array", "[]", "body: expected a JSON object, got array"},
	{"null", "null\n", "body: expected a JSON object, got null"},
	/* a bare literal could go on ("nullx"): json-c waits for more */
	{"null without newline", "null", "body: truncated JSON (4 bytes)"},
	{"no version", "{\"status\":\"firing\",\"alerts\":[]}",
	    "version: missing"},
	{"version 3", "{\"version\":\"3\",\"status\":\"firing\",\"alerts\":"
	    "[" WEB1 "]}", "version: expected \"4\", got \"3\""},
	{"version a number", "{\"version\":4,\"status\":\"firing\","
	    "\"alerts\":[]}", "version: expected a string, got int"},
	{"no status", "{\"version\":\"4\",\"alerts\":[]}", "status: missing"},
	{"status unknown", "{\"version\":\"4\",\"status\":\"pending\","
	    "\"alerts\":[" WEB1 "]}",
	    "status: expected \"firing\" or \"resolved\", got \"pending\""},
	{"status a number", "{\"version\":\"4\",\"status\":1,\"alerts\":[]}",
	    "status: expected a string, got int"},
	{"status with a NUL", "{\"version\":\"4\",\"status\":"
	    "\"firing\\u0000\",\"alerts\":[" WEB1 "]}",
	    "status: expected \"firing\" or \"resolved\", got \"firing?\""},
	{"no alerts", "{\"version\":\"4\",\"status\":\"firing\"}",
	    "alerts: missing"},
	{"alerts an object", "{\"version\":\"4\",\"status\":\"firing\","
	    "\"alerts\":{}}", "alerts: expected an array, got object"},
	{"alerts empty", AM_BODY(""), "alerts: empty"},
	{"an alert a string", AM_BODY("\"web-1\""),
	    "alerts[0]: expected an object, got string"},
	{"truncatedAlerts negative", "{\"version\":\"4\",\"status\":"
	    "\"firing\",\"truncatedAlerts\":-1,\"alerts\":[" WEB1 "]}",
	    "truncatedAlerts: expected an integer >= 0"},
	{"truncatedAlerts a string", "{\"version\":\"4\",\"status\":"
	    "\"firing\",\"truncatedAlerts\":\"0\",\"alerts\":[" WEB1 "]}",
	    "truncatedAlerts: expected an integer >= 0, got string"},
	{"groupLabels an array", "{\"version\":\"4\",\"status\":\"firing\","
	    "\"groupLabels\":[],\"alerts\":[" WEB1 "]}",
	    "groupLabels: expected an object of strings, got array"},
	{"receiver null", "{\"version\":\"4\",\"status\":\"firing\","
	    "\"receiver\":null,\"alerts\":[" WEB1 "]}",
	    "receiver: expected a string, got null"},
	{"alert status unknown", AM_BODY(WEB1 "," AM_ALERT("active",
	    "\"instance\":\"web-2\"", "")),
	    "alerts[1].status: expected \"firing\" or \"resolved\""},
	{"alert status a number", AM_BODY("{\"status\":0,\"labels\":{},"
	    "\"annotations\":{},\"startsAt\":\"x\"}"),
	    "alerts[0].status: expected a string, got int"},
	{"no labels", AM_BODY("{\"status\":\"firing\",\"annotations\":{},"
	    "\"startsAt\":\"x\"}"), "alerts[0].labels: missing"},
	{"labels an array", AM_BODY("{\"status\":\"firing\",\"labels\":"
	    "[\"web-1\"],\"annotations\":{},\"startsAt\":\"x\"}"),
	    "alerts[0].labels: expected an object of strings, got array"},
	{"a label a number", AM_BODY("{\"status\":\"firing\",\"labels\":"
	    "{\"instance\":\"web-1\",\"cpu\":7},\"annotations\":{},"
	    "\"startsAt\":\"x\"}"),
	    "alerts[0].labels.cpu: expected a string, got int"},
	{"an annotation an object", AM_BODY("{\"status\":\"firing\","
	    "\"labels\":{\"instance\":\"web-1\"},\"annotations\":"
	    "{\"value\":{}},\"startsAt\":\"x\"}"),
	    "alerts[0].annotations.value: expected a string, got object"},
	{"no annotations", AM_BODY("{\"status\":\"firing\",\"labels\":"
	    "{\"instance\":\"web-1\"},\"startsAt\":\"x\"}"),
	    "alerts[0].annotations: missing"},
	{"no startsAt", AM_BODY("{\"status\":\"firing\",\"labels\":"
	    "{\"instance\":\"web-1\"},\"annotations\":{}}"),
	    "alerts[0].startsAt: missing"},
	{"fingerprint a number", AM_BODY("{\"status\":\"firing\",\"labels\":"
	    "{\"instance\":\"web-1\"},\"annotations\":{},\"startsAt\":\"x\","
	    "\"fingerprint\":12}"),
	    "alerts[0].fingerprint: expected a string, got int"},
	{"no host label", AM_BODY(WEB1 "," AM_ALERT("firing", AM_LOAD
	    ",\"job\":\"node\"", "")),
	    "alerts[1].labels: no \"instance\" label"},
	{"host with a space", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web 1\"", "")),
	    "alerts[0].labels.instance: \"web 1\" is not a host name"},
	{"host with a slash", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web/1\"", "")), "\"web/1\" is not a host name"},
	{"host a URL", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"https://server.example.org\"", "")),
	    "alerts[0].labels.instance: \"https://server.example.org\" "
	    "has a port other than digits"},
	{"host starting with '-'", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"-web:9100\"", "")), "\"-web\" is not a host name"},
	{"host empty", AM_BODY(AM_ALERT("firing", "\"instance\":\"\"", "")),
	    "alerts[0].labels.instance: \"\" is not a host name"},
	{"port without host", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\":9100\"", "")), "has no host before ':'"},
	{"host too long", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"" LONG64 "\"", "")), "is not a host name"},
	{"host too long with port", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"" LONG64 ":9100\"", "")), "is too long"},
	{"host in UTF-8", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"w\xc3\xa9""b-1\"", "")),
	    "\"w??b-1\" is not a host name"},
	{"host with a NUL", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1\\u0000:9100\"", "")),
	    "alerts[0].labels.instance: holds a NUL byte"},
	{"port out of range", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1:99999\"", "")),
	    "has a port other than digits"},
	{"IPv6", AM_BODY(AM_ALERT("firing", "\"instance\":\"[::1]:9100\"",
	    "")), "\"[::1]:9100\" is an IPv6 address, not a host name"},
	{"IPv6 with a zone", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"[fe80::1%eth0]:9100\"", "")),
	    "is an IPv6 address"},
	{"IPv6 without port", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"[::1]\"", "")), "has no ':PORT' after ']'"},
	{"IPv6 without brackets", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"::1\"", "")), "holds more than one ':'"},
	{"alertname too long", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1\",\"alertname\":\"" LONG128 "\"", "")),
	    "alerts[0].labels.alertname: longer than 127 bytes"},
	{"alertname with a control", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1\",\"alertname\":\"Load\\u0007\"", "")),
	    "alerts[0].labels.alertname: byte 4 is not printable ASCII"},
	{"alertname in UTF-8", AM_BODY(AM_ALERT("firing",
	    "\"instance\":\"web-1\",\"alertname\":\"Last\\u00fcberlauf\"",
	    "")), "alerts[0].labels.alertname: byte 4 is not printable"},
};

static void
test_am_refused(void)
{
	check_refused(ALERTMANAGER, am_bad, NROWS(am_bad));
}

static void
test_am_sizes(void)
{
	struct webhook_signal s[WEBHOOK_MAX_SIGNALS + 1];
	static const char one[] = AM_BODY(WEB1);
	char err[ERRLEN] = "", *body;
	size_t len;
	int n = -7;

	/* an empty body */
	fill(s, 1);
	CHECK(am("", 0, NULL, s, 1, &n, err) == -1);
	CHECK_STREQ(err, "body: empty");
	CHECK(untouched(s, 1) && n == -7);

	/* exactly the limit (spaces after the JSON), then one byte more */
	REQUIRE((body = malloc(WEBHOOK_BODY_MAX + 1)) != NULL);
	memset(body, ' ', WEBHOOK_BODY_MAX + 1);
	memcpy(body, one, sizeof(one) - 1);
	CHECK(am(body, WEBHOOK_BODY_MAX, NULL, s, 1, &n, err) == 0 && n == 1);
	n = -7;
	fill(s, 1);
	CHECK(am(body, WEBHOOK_BODY_MAX + 1, NULL, s, 1, &n, err) == -1);
	CHECK_STREQ(err, "body: 262145 bytes, over the 262144 limit");
	CHECK(untouched(s, 1) && n == -7);
	free(body);

	/* WEBHOOK_MAX_SIGNALS alerts, then one more */
	len = strlen(AM_BODY("")) + (WEBHOOK_MAX_SIGNALS + 1) *
	    (strlen(WEB1) + 1);
	REQUIRE((body = malloc(len + 1)) != NULL);
	for (int count = WEBHOOK_MAX_SIGNALS; count <= WEBHOOK_MAX_SIGNALS + 1;
	    count++) {
		char *p = body;

		p += snprintf(p, len + 1, "%s", AM_BODY(""));
		p -= 2;		/* back over "]}" */
		for (int i = 0; i < count; i++)
			p += snprintf(p, len + 1 - (size_t)(p - body), "%s%s",
			    i > 0 ? "," : "", WEB1);
		p += snprintf(p, len + 1 - (size_t)(p - body), "]}");
		n = -7;
		fill(s, WEBHOOK_MAX_SIGNALS + 1);
		if (count == WEBHOOK_MAX_SIGNALS) {
			/* a MAX above WEBHOOK_MAX_SIGNALS does not raise it */
			CHECK(am(body, (size_t)(p - body), NULL, s,
			    WEBHOOK_MAX_SIGNALS + 1, &n, err) == 0);
			CHECK_INTEQ(n, WEBHOOK_MAX_SIGNALS);
			CHECK_STREQ(s[WEBHOOK_MAX_SIGNALS - 1].host, "web-1");
			continue;
		}
		CHECK(am(body, (size_t)(p - body), NULL, s,
		    WEBHOOK_MAX_SIGNALS + 1, &n, err) == -1);
		CHECK_STREQ(err, "alerts: 65 alerts, more than the 64 taken");
		CHECK(untouched(s, WEBHOOK_MAX_SIGNALS + 1) && n == -7);
	}
	free(body);

	/* the caller's MAX */
	{
		static const char three[] = AM_BODY(WEB1 "," WEB1 "," WEB1);

		fill(s, 3);
		CHECK(am(three, sizeof(three) - 1, NULL, s, 2, &n, err) == -1);
		CHECK_STREQ(err, "alerts: 3 alerts, more than the 2 taken");
		CHECK(untouched(s, 3) && n == -7);
		CHECK(am(three, sizeof(three) - 1, NULL, s, 0, &n, err) == -1);
		CHECK_CONTAINS(err, "more than the 0 taken");
	}

	/* every cut of a payload is a truncated one */
	for (size_t cut = 1; cut < sizeof(one) - 1; cut++) {
		err[0] = '\0';
		if (am(one, cut, NULL, s, 1, &n, err) != -1 ||
		    strstr(err, "body: truncated JSON") == NULL) {
			unit_fail(__FILE__, __LINE__, "cut at %zu: \"%s\"",
			    cut, err);
			break;
		}
	}

	/* a trailing NUL is a byte after the JSON, not its end */
	{
		static const char nul[] = AM_BODY(WEB1);

		CHECK(am(nul, sizeof(nul), NULL, s, 1, &n, err) == -1);
		CHECK_CONTAINS(err, "trailing bytes after the JSON, from "
		    "byte");
	}

	/* a short ERR buffer is cut, and terminated */
	{
		char small[8];

		memset(small, 'x', sizeof(small));
		CHECK(webhook_alertmanager("[]", 2, NULL, s, 1, &n, small,
		    sizeof(small)) == -1);
		CHECK_STREQ(small, "body: e");
	}
}

/* ------------------------------------------------------------------ */
/* Open-Falcon                                                          */

#define OF_REST "&step=1&priority=0&time=2024-03-01+10%3A15%3A00&tpl_id=3" \
	"&exp_id=0&stra_id=17&tags="
#define OF_WEB1 "endpoint=web-1&metric=cpu.busy&status=PROBLEM"

static const struct read_row of_good[] = {
	{"the required three", OF_WEB1, "web-1", "cpu.busy", true, false, 0},
	{"OK", "status=OK&endpoint=web-1&metric=cpu.busy" OF_REST
	    "&left_value=3", "web-1", "cpu.busy", false, true, 3},
	{"the older alarm's parameters", OF_WEB1 OF_REST "&link=http%3A%2F%2F"
	    "dash%2Fportal%2Ftemplate%2Fview%2F3&msg=&detail=all(%231)%3A"
	    "92.5%3E90", "web-1", "cpu.busy", true, false, 0},
	{"left_value negative", OF_WEB1 "&left_value=-12.25", "web-1",
	    "cpu.busy", true, true, -12.25},
	{"left_value NaN", OF_WEB1 "&left_value=NaN", "web-1", "cpu.busy",
	    true, false, 0},
	{"left_value +Inf", OF_WEB1 "&left_value=%2BInf", "web-1",
	    "cpu.busy", true, false, 0},
	{"left_value -Inf", OF_WEB1 "&left_value=-Inf", "web-1", "cpu.busy",
	    true, false, 0},
	{"empty pairs", "&" OF_WEB1 "&&left_value=1&", "web-1", "cpu.busy",
	    true, true, 1},
	{"token and unknown ones, twice", "token=a&" OF_WEB1 "&token=b&x&x=1",
	    "web-1", "cpu.busy", true, false, 0},
	{"escaped names and values", "end%70oint=web%2D1&metric=disk.io"
	    ".util%2fsda&st%61tus=%50ROBLEM", "web-1", "disk.io.util/sda",
	    true, false, 0},
	{"'+' is a space", OF_WEB1 "&tags=a%3Ab+c", "web-1", "cpu.busy",
	    true, false, 0},
	{"'+' in a metric", "endpoint=web-1&metric=net+in%2B&status=OK",
	    "web-1", "net in+", false, false, 0},
	{"an empty metric", "endpoint=web-1&metric=&status=OK", "web-1", "",
	    false, false, 0},
	{"UTF-8 in tags", OF_WEB1 "&tags=idc%3A%E5%8C%97%E4%BA%AC", "web-1",
	    "cpu.busy", true, false, 0},
	{"an '=' in a value", OF_WEB1 "&token=a=b", "web-1", "cpu.busy", true,
	    false, 0},
};

static void
test_of_read(void)
{
	check_read(OPENFALCON, of_good, NROWS(of_good));
}

static const struct refused_row of_bad[] = {
	{"no endpoint", "metric=cpu.busy&status=PROBLEM" OF_REST,
	    "endpoint: missing"},
	{"no metric", "endpoint=web-1&status=PROBLEM", "metric: missing"},
	{"no status", "endpoint=web-1&metric=cpu.busy", "status: missing"},
	{"only a token", "token=abc", "endpoint: missing"},
	{"endpoint empty", "endpoint=&metric=m&status=OK",
	    "endpoint: \"\" is not a host name"},
	{"endpoint without '='", "endpoint&metric=m&status=OK",
	    "endpoint: \"\" is not a host name"},
	{"endpoint with a space", "endpoint=web+1&metric=m&status=OK",
	    "endpoint: \"web 1\" is not a host name"},
	{"endpoint with a port", "endpoint=web-1%3A9100&metric=m&status=OK",
	    "endpoint: \"web-1:9100\" is not a host name"},
	{"endpoint in UTF-8", "endpoint=w%C3%A9b&metric=m&status=OK",
	    "endpoint: \"w??b\" is not a host name"},
	{"endpoint too long", "endpoint=" LONG64 "&metric=m&status=OK",
	    "is not a host name"},
	{"status twice, the second unknown", OF_WEB1 "&status=problem",
	    "status: given twice"},
	{"status unknown", "endpoint=web-1&metric=m&status=problem",
	    "status: expected \"PROBLEM\" or \"OK\", got \"problem\""},
	{"status FIRING", "endpoint=web-1&metric=m&status=FIRING",
	    "status: expected \"PROBLEM\" or \"OK\""},
	{"status with a space", "endpoint=web-1&metric=m&status=OK+",
	    "status: expected \"PROBLEM\" or \"OK\", got \"OK \""},
	{"endpoint twice", OF_WEB1 "&endpoint=web-2", "endpoint: given twice"},
	{"endpoint twice, the same", OF_WEB1 "&endpoint=web-1",
	    "endpoint: given twice"},
	{"left_value twice", OF_WEB1 "&left_value=1&left_value=1",
	    "left_value: given twice"},
	{"'%' at the end", OF_WEB1 "&tags=a%",
	    "parameter 4: bad %-escape at byte 52"},
	{"'%' and one digit", OF_WEB1 "&tags=%4",
	    "parameter 4: bad %-escape at byte 51"},
	{"'%' not hex", "endpoint=web%G1&metric=m&status=OK",
	    "parameter 1: bad %-escape at byte 12"},
	{"'%%'", "endpoint=web-1&metric=m%%41&status=OK",
	    "parameter 2: bad %-escape at byte 23"},
	{"bad escape in a name", "end%zpoint=web-1&metric=m&status=OK",
	    "parameter 1: bad %-escape at byte 3"},
	{"bad escape in an unknown one", OF_WEB1 "&token=%%",
	    "parameter 4: bad %-escape"},
	{"%00 in a value", "endpoint=web-1%00&metric=m&status=OK",
	    "parameter 1: %00 (a NUL byte) is not allowed"},
	{"%00 in a name", "endpoint%00x=web-1&metric=m&status=OK",
	    "parameter 1: %00 (a NUL byte) is not allowed"},
	{"%00 in a token", OF_WEB1 "&token=%00", "%00 (a NUL byte)"},
	{"metric too long", "endpoint=web-1&status=OK&metric=" LONG128,
	    "metric: longer than 127 bytes"},
	{"metric with a newline", "endpoint=web-1&status=OK&metric=a%0Ab",
	    "metric: byte 1 is not printable ASCII"},
	{"metric in UTF-8", "endpoint=web-1&status=OK&metric=%C3%A9",
	    "metric: byte 0 is not printable ASCII"},
	{"step not a number", OF_WEB1 "&step=one",
	    "step: expected an integer, got \"one\""},
	{"priority a fraction", OF_WEB1 "&priority=1.5",
	    "priority: expected an integer, got \"1.5\""},
	{"tpl_id empty", OF_WEB1 "&tpl_id=", "tpl_id: expected an integer"},
	{"stra_id too long", OF_WEB1 "&stra_id=1234567890123456789",
	    "stra_id: expected an integer"},
	{"exp_id signed +", OF_WEB1 "&exp_id=%2B1",
	    "exp_id: expected an integer"},
	{"time without seconds", OF_WEB1 "&time=2024-03-01+10%3A15",
	    "time: expected \"YYYY-MM-DD HH:MM:SS\", got "
	    "\"2024-03-01 10:15\""},
	{"time as seconds", OF_WEB1 "&time=1709288100",
	    "time: expected \"YYYY-MM-DD HH:MM:SS\""},
	{"left_value text", OF_WEB1 "&left_value=high",
	    "left_value: expected a number, got \"high\""},
	{"left_value empty", OF_WEB1 "&left_value=",
	    "left_value: expected a number, got \"\""},
	{"left_value inf", OF_WEB1 "&left_value=inf",
	    "left_value: expected a number"},
	{"left_value overflow", OF_WEB1 "&left_value=1e999",
	    "left_value: expected a number"},
};

static void
test_of_refused(void)
{
	check_refused(OPENFALCON, of_bad, NROWS(of_bad));
}

static void
test_of_sizes(void)
{
	struct webhook_signal s;
	char err[ERRLEN] = "", *params;
	size_t len = WEBHOOK_BODY_MAX + 1;

	fill(&s, 1);
	CHECK(of("", 0, &s, err) == -1);
	CHECK_STREQ(err, "parameters: empty");
	CHECK(of("&&", 2, &s, err) == -1);
	CHECK_STREQ(err, "endpoint: missing");
	CHECK(untouched(&s, 1));

	/* exactly the limit (a long unknown parameter), then a byte more */
	REQUIRE((params = malloc(len)) != NULL);
	memset(params, 'x', len);
	memcpy(params, OF_WEB1 "&pad=", strlen(OF_WEB1 "&pad="));
	CHECK(of(params, WEBHOOK_BODY_MAX, &s, err) == 0);
	CHECK_STREQ(s.host, "web-1");
	fill(&s, 1);
	CHECK(of(params, len, &s, err) == -1);
	CHECK_STREQ(err, "parameters: 262145 bytes, over the 262144 limit");
	CHECK(untouched(&s, 1));
	/* pairs without '=' all the way: the most the decoding can take */
	memset(params, '&', len);
	for (size_t i = 0; i < WEBHOOK_BODY_MAX; i += 2)
		params[i] = 'x';
	CHECK(of(params, WEBHOOK_BODY_MAX, &s, err) == -1);
	CHECK_STREQ(err, "endpoint: missing");
	free(params);
}

UNIT_TESTS = {
	{"the senders' payloads", test_examples},
	{"alertmanager: hosts, metrics and values read", test_am_read},
	{"alertmanager: malformed payloads refused", test_am_refused},
	{"alertmanager: empty, oversized, too many alerts", test_am_sizes},
	{"openfalcon: parameters read", test_of_read},
	{"openfalcon: malformed parameters refused", test_of_refused},
	{"openfalcon: empty and oversized", test_of_sizes},
	{NULL, NULL},
};
