/*
 * A tiny unit-test harness in the style of nng's NUTS and libuv's
 * test-list.h. A test file defines functions and lists them in a table:
 *
 *   #include "unit.h"
 *
 *   static void
 *   test_roundtrip(void)
 *   {
 *       CHECK(1 + 1 == 2);
 *       CHECK_STREQ(keys_prefix(), "dc:");
 *   }
 *
 *   UNIT_TESTS = {
 *       {"roundtrip", test_roundtrip},
 *       {NULL, NULL},
 *   };
 *
 * main() (defined here) runs every case and prints one line per case on
 * stdout, "ok - FILE: NAME" or "not ok - FILE: NAME", with the failed
 * checks (file:line and the values) on stderr. It exits 1 if any case
 * failed. Arguments name the cases to run (all by default); -l lists them.
 *
 * CHECK records a failure and goes on, so one run shows every broken
 * expectation; REQUIRE also returns from the case, for when going on would
 * only crash (a NULL that the rest of the case dereferences).
 *
 * SKIP("why") returns from a case that cannot run here (no IPv6 loopback,
 * say), which is then reported as tests/run.sh counts skips, the TAP way:
 * "ok - FILE: NAME # SKIP why". Only what this machine may truly lack is
 * skipped; anything the test needs and should always have (127.0.0.1, a
 * file of the tree) is a failure when missing. A case that failed a check
 * before skipping is reported as failed.
 *
 * Cases run in one process, in table order: a case must leave the
 * process as it found it (environment, globals) and free what it took,
 * so that a run under ASan checks for leaks once at the end.
 */
#ifndef DC_UNIT_H
#define DC_UNIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

/* The table a test file defines; ends with {NULL, NULL}. */
extern const struct unit_test unit_tests[];
#define UNIT_TESTS const struct unit_test unit_tests[]

/* The running case, its failed checks so far, and why it skipped. */
static const char *unit_current;
static int unit_failures;
static char unit_skip_why[256];

#define UNIT_UNUSED __attribute__((unused))

static UNIT_UNUSED void unit_fail(const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static UNIT_UNUSED void
unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	unit_failures++;
	fprintf(stderr, "%s:%d: %s: ", file, line, unit_current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static UNIT_UNUSED void unit_skip(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static UNIT_UNUSED void
unit_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(unit_skip_why, sizeof(unit_skip_why), fmt, ap);
	va_end(ap);
	if (unit_skip_why[0] == '\0')
		snprintf(unit_skip_why, sizeof(unit_skip_why), "no reason");
}

/* Ends the case as skipped, saying why (printf-style). */
#define SKIP(...) do {							\
	unit_skip(__VA_ARGS__);						\
	return;								\
} while (0)

#define CHECK(cond) do {						\
	if (!(cond))							\
		unit_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond); \
} while (0)

#define REQUIRE(cond) do {						\
	if (!(cond)) {							\
		unit_fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond); \
		return;							\
	}								\
} while (0)

/* Either side may be NULL; two NULLs are equal. */
#define CHECK_STREQ(a, b) do {						\
	const char *unit_a_ = (a), *unit_b_ = (b);			\
	if ((unit_a_ == NULL) != (unit_b_ == NULL) ||			\
	    (unit_a_ != NULL && strcmp(unit_a_, unit_b_) != 0))		\
		unit_fail(__FILE__, __LINE__,				\
		    "CHECK_STREQ(%s, %s) failed: \"%s\" != \"%s\"", #a, #b, \
		    unit_a_ ? unit_a_ : "(null)",			\
		    unit_b_ ? unit_b_ : "(null)");			\
} while (0)

#define CHECK_INTEQ(a, b) do {						\
	long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);	\
	if (unit_a_ != unit_b_)						\
		unit_fail(__FILE__, __LINE__,				\
		    "CHECK_INTEQ(%s, %s) failed: %lld != %lld", #a, #b,	\
		    unit_a_, unit_b_);					\
} while (0)

/* HAY (may be NULL) contains NEEDLE. */
#define CHECK_CONTAINS(hay, needle) do {				\
	const char *unit_h_ = (hay), *unit_n_ = (needle);		\
	if (unit_h_ == NULL || strstr(unit_h_, unit_n_) == NULL)	\
		unit_fail(__FILE__, __LINE__,				\
		    "CHECK_CONTAINS(%s, %s) failed: \"%s\" lacks \"%s\"", \
		    #hay, #needle, unit_h_ ? unit_h_ : "(null)", unit_n_); \
} while (0)

/*
 * Writes into FULL (LEN bytes) the path of PATH, relative to the source
 * tree; -1 if the tree is not found or the path does not fit. The tree
 * is $DEVCLOUD_SRCDIR, or else found by walking up from the current
 * directory to the one holding common/msg.h, so tests run from anywhere
 * inside it.
 */
static UNIT_UNUSED int
unit_source_path(const char *path, char *full, size_t len)
{
	const char *srcdir = getenv("DEVCLOUD_SRCDIR");
	char up[64] = ".";
	int n;

	for (int depth = 0; srcdir == NULL; depth++) {
		size_t ul = strlen(up);

		snprintf(full, len, "%s/common/msg.h", up);
		if (access(full, F_OK) == 0)
			srcdir = up;
		else if (depth == 7 || ul + sizeof("/..") > sizeof(up))
			return -1;
		else
			memcpy(up + ul, "/..", sizeof("/.."));
	}
	n = snprintf(full, len, "%s/%s", srcdir, path);
	return n >= 0 && (size_t)n < len ? 0 : -1;
}

/*
 * Reads the file at PATH, relative to the source tree (unit_source_path),
 * into a new NUL-terminated buffer (caller frees). NULL if absent.
 */
static UNIT_UNUSED char *
unit_read_source(const char *path)
{
	char full[4096];
	FILE *f;
	char *buf = NULL;
	long n;

	if (unit_source_path(path, full, sizeof(full)) != 0 ||
	    (f = fopen(full, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = '\0';
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static const char *
unit_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

static bool
unit_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	/* The test's own file, not this header's. */
	const char *file = unit_basename(__BASE_FILE__);
	int failed = 0, ran = 0;

	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (const struct unit_test *t = unit_tests; t->name; t++)
			printf("%s\n", t->name);
		return 0;
	}
	/* Keep stdout and stderr in order when both go to one file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (const struct unit_test *t = unit_tests; t->name != NULL; t++) {
		if (!unit_selected(t->name, argc, argv))
			continue;
		unit_current = t->name;
		unit_failures = 0;
		unit_skip_why[0] = '\0';
		t->fn();
		ran++;
		if (unit_failures != 0) {
			failed++;
			printf("not ok - %s: %s\n", file, t->name);
		} else if (unit_skip_why[0] != '\0') {
			printf("ok - %s: %s # SKIP %s\n", file, t->name,
			    unit_skip_why);
		} else {
			printf("ok - %s: %s\n", file, t->name);
		}
		fflush(stdout);
	}
	if (ran == 0 && argc > 1) {
		fprintf(stderr, "%s: no case named", argv[0]);
		for (int i = 1; i < argc; i++)
			fprintf(stderr, " \"%s\"", argv[i]);
		fprintf(stderr, " (-l lists them)\n");
		return 1;
	}
	return failed != 0;
}

#endif
