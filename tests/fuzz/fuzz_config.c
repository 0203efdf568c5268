/*
 * libFuzzer target for configuration loading (common/config.c over
 * libconfig). Each input is written to a file in a private temp dir and
 * loaded with config_load.
 *
 * A load either succeeds, and loading the same file again gives the same
 * struct config, or fails with a terminated error that starts with the
 * file's path (every error names its file). No DEVCLOUD_* variable is
 * set, so only the file is under test.
 *
 * Inputs with "@include" are skipped: an include reads any file the
 * fuzzer names (/dev/zero, /dev/stdin), which would hang the run without
 * telling anything about our code.
 *
 *   make fuzz && build/fuzz/fuzz_config -max_total_time=60 tests/fuzz/corpus/config
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

extern char **environ;

/*
 * libconfig 1.5's scanner leaks the string it is reading when the parse
 * fails inside or right after it (a file holding just "" is enough).
 * That is the library's, and fixed in later releases; suppress exactly
 * those allocations so a leak of ours still stops the run.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig_yylex\nleak:strbuf_append\n";
}

static char dir[64];
static char path[128];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char name[128];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/dc-fuzz-config.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/devcloud.conf", dir);
	atexit(cleanup);
	/* the file alone decides */
	for (char **e = environ; *e != NULL;) {
		if (strncmp(*e, "DEVCLOUD_", 9) == 0) {
			snprintf(name, sizeof(name), "%.*s",
			    (int)strcspn(*e, "="), *e);
			unsetenv(name);
			e = environ;
		} else {
			e++;
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *a, *b;
	char err[CONFIG_ERR_MAX];
	FILE *f;
	int rc;

	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		abort();
	}
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		perror(path);
		abort();
	}
	fclose(f);

	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	FUZZ_ASSERT(a != NULL && b != NULL);
	memset(a, 0x5a, sizeof(*a));
	memset(err, 'x', sizeof(err));
	rc = config_load(a, path, err, sizeof(err));
	if (rc != 0) {
		FUZZ_ASSERT(rc == -1);
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_ASSERT(strncmp(err, path, strlen(path)) == 0);
		/* nothing written on error */
		for (size_t i = 0; i < sizeof(*a); i++)
			FUZZ_ASSERT(((unsigned char *)a)[i] == 0x5a);
	} else {
		FUZZ_ASSERT(strcmp(a->path, path) == 0);
		FUZZ_ASSERT(config_load(b, path, err, sizeof(err)) == 0);
		FUZZ_ASSERT(memcmp(a, b, sizeof(*a)) == 0);
		FUZZ_ASSERT(a->proxy.workers >= 0 && a->proxy.workers <= 256);
		FUZZ_ASSERT(a->bus.max_msg_bytes >= 1024 &&
		    a->bus.max_msg_bytes <= 65536);
		FUZZ_ASSERT(a->redis.prefix[0] != '\0');
	}
	free(a);
	free(b);
	return 0;
}
