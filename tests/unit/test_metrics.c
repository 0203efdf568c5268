/*
 * Prometheus metrics (common/metrics.c). The registry is process-wide and
 * has no unregister, so cases register their own static metrics with
 * distinct names and look only at their lines of the whole exposition;
 * the last case checks the exposition as a whole.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"

/* The whole exposition; caller frees. */
static char *
render(void)
{
	struct metrics_buf b = {0};

	metrics_render(&b);
	if (b.data != NULL && strlen(b.data) != b.len)
		unit_fail(__FILE__, __LINE__, "len %zu but strlen %zu", b.len,
		    strlen(b.data));
	return b.data;
}

/* Occurrences of NEEDLE in HAY. */
static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL;
	    p += strlen(needle))
		n++;
	return n;
}

static struct metric m_req = METRIC_COUNTER("t_requests_total",
    "Requests served.");

static void
test_counter(void)
{
	char *text;

	metrics_register(&m_req);
	CHECK_INTEQ(metric_get(&m_req), 0);
	metric_add(&m_req, 3);
	metric_add(&m_req, 4);
	CHECK_INTEQ(metric_get(&m_req), 7);
	REQUIRE((text = render()) != NULL);
	CHECK_CONTAINS(text, "# HELP t_requests_total Requests served.\n"
	    "# TYPE t_requests_total counter\n"
	    "t_requests_total 7\n");
	free(text);
}

static struct metric m_conns = METRIC_GAUGE("t_connections",
    "Open connections.");

static void
test_gauge(void)
{
	char *text;

	metrics_register(&m_conns);
	metric_set(&m_conns, 12);
	metric_add(&m_conns, -20);
	CHECK_INTEQ(metric_get(&m_conns), -8);
	REQUIRE((text = render()) != NULL);
	CHECK_CONTAINS(text, "# HELP t_connections Open connections.\n"
	    "# TYPE t_connections gauge\n"
	    "t_connections -8\n");
	free(text);
	metric_set(&m_conns, INT64_MAX);
	REQUIRE((text = render()) != NULL);
	CHECK_CONTAINS(text, "\nt_connections 9223372036854775807\n");
	free(text);
}

static struct metric m_200 = METRIC_COUNTER(
    "t_responses_total{status=\"200\"}", "Responses by status.");
static struct metric m_503 = METRIC_COUNTER(
    "t_responses_total{status=\"503\"}", "Responses by status.");

/* One HELP and TYPE for the family, without the labels. */
static void
test_labels(void)
{
	char *text;

	metrics_register(&m_200);
	metrics_register(&m_503);
	metric_add(&m_200, 5);
	metric_add(&m_503, 1);
	REQUIRE((text = render()) != NULL);
	CHECK_CONTAINS(text, "# HELP t_responses_total Responses by "
	    "status.\n# TYPE t_responses_total counter\n"
	    "t_responses_total{status=\"200\"} 5\n"
	    "t_responses_total{status=\"503\"} 1\n");
	CHECK_INTEQ(count(text, "# HELP t_responses_total "), 1);
	CHECK_INTEQ(count(text, "# TYPE t_responses_total "), 1);
	CHECK_INTEQ(count(text, "# HELP t_responses_total{"), 0);
	free(text);
}

/* A family name that is a prefix of another is another family. */
static struct metric m_bytes = METRIC_COUNTER("t_bytes", "Bytes.");
static struct metric m_bytes_total = METRIC_COUNTER("t_bytes_total",
    "Bytes, total.");

static void
test_prefix_family(void)
{
	char *text;

	metrics_register(&m_bytes);
	metrics_register(&m_bytes_total);
	REQUIRE((text = render()) != NULL);
	CHECK_INTEQ(count(text, "# TYPE t_bytes counter\n"), 1);
	CHECK_INTEQ(count(text, "# TYPE t_bytes_total counter\n"), 1);
	free(text);
}

/*
 * Labelled metrics of one family registered apart (a daemon's metric
 * between them, as happens when modules register in turn) are still
 * written as one group under one HELP/TYPE: Prometheus refuses a
 * family declared twice.
 */
static struct metric m_drop_a = METRIC_COUNTER(
    "t_dropped_total{reason=\"a\"}", "Dropped.");
static struct metric m_between = METRIC_GAUGE("t_between", "Between.");
static struct metric m_drop_b = METRIC_COUNTER(
    "t_dropped_total{reason=\"b\"}", "Dropped.");

static void
test_family_registered_apart(void)
{
	char *text;

	metrics_register(&m_drop_a);
	metrics_register(&m_between);
	metrics_register(&m_drop_b);
	REQUIRE((text = render()) != NULL);
	CHECK_INTEQ(count(text, "# HELP t_dropped_total "), 1);
	CHECK_INTEQ(count(text, "# TYPE t_dropped_total "), 1);
	CHECK_CONTAINS(text, "t_dropped_total{reason=\"a\"} 0\n"
	    "t_dropped_total{reason=\"b\"} 0\n");
	free(text);
}

struct render_arg {
	int calls;
	int lines;
};

static void
render_apps(struct metrics_buf *b, void *arg)
{
	struct render_arg *ra = arg;

	ra->calls++;
	metrics_buf_printf(b, "# HELP t_app_requests_total Per app.\n"
	    "# TYPE t_app_requests_total counter\n");
	for (int i = 0; i < ra->lines; i++)
		metrics_buf_printf(b, "t_app_requests_total{app=\"app%05d\"} "
		    "%d\n", i, i);
}

/* Renderers run on every render, after the registered metrics. */
static void
test_renderer(void)
{
	static struct render_arg ra = {0, 3};
	char *text;

	metrics_add_renderer(render_apps, &ra);
	REQUIRE((text = render()) != NULL);
	CHECK_INTEQ(ra.calls, 1);
	CHECK_CONTAINS(text, "t_app_requests_total{app=\"app00002\"} 2\n");
	CHECK(strstr(text, "t_requests_total 7\n") <
	    strstr(text, "# HELP t_app_requests_total"));
	free(text);
	/* a big output grows the buffer as it goes */
	ra.lines = 20000;
	REQUIRE((text = render()) != NULL);
	CHECK_INTEQ(ra.calls, 2);
	CHECK_CONTAINS(text, "t_app_requests_total{app=\"app19999\"} 19999\n");
	CHECK_INTEQ(count(text, "t_app_requests_total{"), 20000);
	free(text);
	ra.lines = 0;
}

static void
test_buf_printf(void)
{
	struct metrics_buf b = {0};
	char big[10000];

	metrics_buf_printf(&b, "%s", "");
	REQUIRE(b.data != NULL);
	CHECK_INTEQ(b.len, 0);
	CHECK_STREQ(b.data, "");
	metrics_buf_printf(&b, "a=%d ", 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	metrics_buf_printf(&b, "%s", big);
	metrics_buf_printf(&b, " end");
	CHECK_INTEQ(b.len, 4 + sizeof(big) - 1 + 4);
	CHECK_INTEQ(strlen(b.data), b.len);
	CHECK(strncmp(b.data, "a=1 xxx", 7) == 0);
	CHECK(strcmp(b.data + b.len - 4, " end") == 0);
	free(b.data);
}

static struct metric m_threads = METRIC_COUNTER("t_thread_adds_total",
    "Adds from threads.");

static void *
adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		metric_add(&m_threads, 1);
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[4];

	metrics_register(&m_threads);
	for (int i = 0; i < 4; i++)
		REQUIRE(pthread_create(&t[i], NULL, adder, NULL) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_INTEQ(metric_get(&m_threads), 400000);
}

/*
 * The whole exposition, line by line: every sample belongs to the family
 * declared just above it, and no family is declared twice.
 */
static void
test_exposition_valid(void)
{
	char *text, *line, *next;
	char families[64][64], current[64] = "";
	int nfam = 0, samples = 0;

	REQUIRE((text = render()) != NULL);
	for (line = text; *line != '\0'; line = next) {
		char fam[64];

		if ((next = strchr(line, '\n')) == NULL) {
			unit_fail(__FILE__, __LINE__, "last line unterminated");
			break;
		}
		*next++ = '\0';

		if (strncmp(line, "# HELP ", 7) == 0) {
			snprintf(fam, sizeof(fam), "%.*s",
			    (int)strcspn(line + 7, " "), line + 7);
			for (int i = 0; i < nfam; i++)
				if (strcmp(families[i], fam) == 0)
					unit_fail(__FILE__, __LINE__,
					    "family %s declared twice", fam);
			if (nfam < 64)
				snprintf(families[nfam++], sizeof(families[0]),
				    "%s", fam);
			snprintf(current, sizeof(current), "%s", fam);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			CHECK(strncmp(line + 7, current, strlen(current)) ==
			    0);
			CHECK(strstr(line, " counter") || strstr(line,
			    " gauge"));
			continue;
		}
		samples++;
		snprintf(fam, sizeof(fam), "%.*s", (int)strcspn(line, "{ "),
		    line);
		if (strcmp(fam, current) != 0)
			unit_fail(__FILE__, __LINE__, "sample \"%s\" under "
			    "family %s", line, current);
		CHECK(strchr(line, ' ') != NULL);
	}
	CHECK(samples >= 10);
	free(text);
}

UNIT_TESTS = {
	{"counter", test_counter},
	{"gauge", test_gauge},
	{"labels share one HELP and TYPE", test_labels},
	{"family name prefix", test_prefix_family},
	{"family registered apart", test_family_registered_apart},
	{"renderer", test_renderer},
	{"buf printf", test_buf_printf},
	{"threads", test_threads},
	{"exposition valid", test_exposition_valid},
	{NULL, NULL},
};
