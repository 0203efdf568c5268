/*
 * libFuzzer target for the host:port rule (common/addr.c), which reads
 * configuration values, route targets from Redis and apps' addresses.
 *
 * Every input is parsed with and without ADDR_UNIX. An accepted address
 * gives a terminated host without brackets and a port from 1 to 65535
 * (0 only for a path); written back with addr_format it parses to the
 * same host and port. Checking alone (no output buffer) gives the same
 * answer as splitting into a buffer it fits, and a refusal always says
 * why.
 *
 *   make fuzz && build/fuzz/fuzz_addr -max_total_time=60 tests/fuzz/corpus/addr
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"

/* HOST and AGAIN hold at least strlen(ADDR) + 1 bytes: any host fits. */
static void
check(const char *addr, int flags, char *host, char *again, size_t len)
{
	char back[320];
	const char *why = NULL;
	int port = -1, port2 = -1;
	int rv = addr_parse(addr, flags, host, len, &port, &why);

	FUZZ_ASSERT(addr_parse(addr, flags, NULL, 0, NULL, NULL) == rv);
	if (rv != 0) {
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
		FUZZ_ASSERT(port == -1);
		return;
	}
	FUZZ_ASSERT(memchr(host, '\0', len) != NULL);
	if (addr[0] == '/') {
		FUZZ_ASSERT(flags & ADDR_UNIX);
		FUZZ_ASSERT(port == 0 && strcmp(host, addr) == 0);
		return;
	}
	FUZZ_ASSERT(port >= 1 && port <= 65535);
	FUZZ_ASSERT(host[0] != '\0' && strpbrk(host, "[]/ ") == NULL);
	FUZZ_ASSERT(addr_format(back, sizeof(back), host, port) == 0);
	FUZZ_ASSERT(addr_parse(back, 0, again, len, &port2, NULL) == 0);
	FUZZ_ASSERT(strcmp(again, host) == 0 && port2 == port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *host = malloc(size + 1),
	    *again = malloc(size + 1);

	if (s != NULL && host != NULL && again != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		check(s, 0, host, again, size + 1);
		check(s, ADDR_UNIX, host, again, size + 1);
	}
	free(s);
	free(host);
	free(again);
	return 0;
}
