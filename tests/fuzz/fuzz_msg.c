/*
 * libFuzzer target for the bus message decoder (common/msg.c), which
 * reads frames from anyone who can reach the bus.
 *
 * Every input is decoded. A frame that decodes must re-encode (decoding
 * refuses everything the encoder refuses), the re-encoded frame must
 * decode again to the same message, and msg_to_json must accept it. A
 * frame that does not decode must leave a terminated reason.
 *
 *   make fuzz && build/fuzz/fuzz_msg -max_total_time=60 tests/fuzz/corpus/msg
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "fuzz.h"

/* Every string field of M is terminated inside its array. */
static void
check_terminated(const struct msg *m)
{
	const char *f[] = {m->source, m->service, m->instance, m->version,
	    m->control, m->app, m->domain, m->target, m->addr, m->state,
	    m->reason};
	const size_t n[] = {sizeof(m->source), sizeof(m->service),
	    sizeof(m->instance), sizeof(m->version), sizeof(m->control),
	    sizeof(m->app), sizeof(m->domain), sizeof(m->target),
	    sizeof(m->addr), sizeof(m->state), sizeof(m->reason)};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		FUZZ_ASSERT(memchr(f[i], '\0', n[i]) != NULL);
}

static void
check_same(const struct msg *a, const struct msg *b)
{
	FUZZ_ASSERT(a->type == b->type);
	/* the encoder stamps a zero ts with the time */
	FUZZ_ASSERT(a->ts == 0 || a->ts == b->ts);
	FUZZ_ASSERT(b->v == msg_type_version(a->type));
	FUZZ_ASSERT(strcmp(a->source, b->source) == 0);
	FUZZ_ASSERT(strcmp(a->service, b->service) == 0);
	FUZZ_ASSERT(strcmp(a->instance, b->instance) == 0);
	FUZZ_ASSERT(strcmp(a->version, b->version) == 0);
	FUZZ_ASSERT(strcmp(a->control, b->control) == 0);
	FUZZ_ASSERT(strcmp(a->app, b->app) == 0);
	FUZZ_ASSERT(strcmp(a->domain, b->domain) == 0);
	FUZZ_ASSERT(strcmp(a->target, b->target) == 0);
	FUZZ_ASSERT(strcmp(a->addr, b->addr) == 0);
	FUZZ_ASSERT(strcmp(a->state, b->state) == 0);
	FUZZ_ASSERT(strcmp(a->reason, b->reason) == 0);
	FUZZ_ASSERT(a->uptime_ms == b->uptime_ms);
	FUZZ_ASSERT(a->queued_ms == b->queued_ms);
	FUZZ_ASSERT(a->start_ms == b->start_ms);
	FUZZ_ASSERT(a->ready_ms == b->ready_ms);
	FUZZ_ASSERT(a->pid == b->pid);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg m, again;
	char err[256], *buf, *js;
	size_t len;

	memset(err, 'x', sizeof(err));
	if (msg_decode(&m, (const char *)data, size, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_ASSERT(err[0] != '\0');
		return 0;
	}
	FUZZ_ASSERT(msg_type_name(m.type) != NULL);
	check_terminated(&m);

	buf = msg_encode(&m, &len);
	FUZZ_ASSERT(buf != NULL);
	FUZZ_ASSERT(len <= MSG_MAX_BYTES);
	if (msg_decode(&again, buf, len, err, sizeof(err)) != 0) {
		fprintf(stderr, "re-encoded frame refused: %s\n%.*s\n", err,
		    (int)len, buf);
		abort();
	}
	check_same(&m, &again);
	free(buf);

	js = msg_to_json(&m);
	FUZZ_ASSERT(js != NULL && js[0] == '{');
	free(js);
	return 0;
}
