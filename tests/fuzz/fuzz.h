/*
 * What the libFuzzer targets share: FUZZ_ASSERT, which names the failed
 * condition and its line before aborting, so a crash report says which
 * property broke.
 */
#ifndef DC_FUZZ_H
#define DC_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

#endif
