// links: services/proxy/http.c services/proxy/headers.c
/*
 * libFuzzer target for the proxy's HTTP parser: request and response
 * heads (found incrementally and at once, which must agree), the heads
 * forwarded from them, and the chunked-body scanner fed in pieces of
 * every size. The first byte picks the mode and the piece size.
 *
 * Its corpus is written from the cases of tests/data/http, one seed per
 * case and piece size (tests/http_cases.py corpus):
 *
 *   make fuzz-corpus &&
 *       build/fuzz/fuzz_http -max_total_time=60 build/fuzz/corpus/http
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/proxy/proxy.h"

static struct http_msg msg;
static char out[70000];

static void
fuzz_request(const char *p, size_t len, size_t step)
{
	struct http_limits lim = {512, 2048};
	struct http_err err;
	struct headers_req_ctx ctx = {"192.0.2.1", "http"};
	size_t scan = 0, scan2 = 0;
	ssize_t once, n = 0;

	once = http_head_find(p, len, &lim, &scan, &err);
	for (size_t i = step; ; i += step) {
		if (i > len)
			i = len;
		n = http_head_find(p, i, &lim, &scan2, &err);
		if (n != 0 || i == len)
			break;
	}
	/* found at once or in pieces: the same head (or the same refusal) */
	if ((once > 0) != (n > 0) || (once > 0 && once != n))
		abort();
	if (once <= 0)
		return;
	if (http_parse_request(p, (size_t)once, &lim, &msg, &err) < 0) {
		if (err.status < 400 || err.status > 505 || err.why == NULL)
			abort();
		return;
	}
	if (msg.head_len != (uint32_t)once || msg.host.off + msg.host.len >
	    (uint32_t)once || msg.target.off + msg.target.len >
	    (uint32_t)once)
		abort();
	if ((msg.flags & HTTP_F_CHUNKED) && msg.content_length >= 0)
		abort();
	n = headers_request(out, sizeof(out), p, &msg, &ctx);
	if (n > (ssize_t)sizeof(out))
		abort();
	n = headers_request(out, (size_t)once / 2, p, &msg, &ctx);
	if (n > (ssize_t)once / 2)
		abort();
}

static void
fuzz_response(const char *p, size_t len)
{
	struct http_limits lim = {512, 2048};
	struct http_err err;
	size_t scan = 0;
	ssize_t n = http_head_find(p, len, &lim, &scan, &err);

	if (n <= 0)
		return;
	if (http_parse_response(p, (size_t)n, &msg, &err) < 0)
		return;
	if (msg.status < 100 || msg.status > 999)
		abort();
	n = headers_response(out, sizeof(out), p, &msg, len & 1, 1,
	    (len & 2) != 0);
	if (n > (ssize_t)sizeof(out))
		abort();
}

static void
fuzz_chunked(const char *p, size_t len, size_t step)
{
	struct http_body a, b;
	size_t used, off = 0, total_a = 0;
	int ra, rb = 0;

	http_body_init(&a, HTTP_BODY_CHUNKED, 0);
	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	ra = http_body_scan(&a, p, len, &used);
	if (ra >= 0)
		total_a = used;	/* USED is only set on success */
	if (total_a > len)
		abort();
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		rb = http_body_scan(&b, p + off, n, &used);
		if (rb < 0 || used > n)
			break;
		off += used;
		if (rb == 1)
			break;
	}
	/* in one piece or many: the same verdict, the same end */
	if ((ra < 0) != (rb < 0) || (ra == 1) != (rb == 1) ||
	    (ra == 1 && total_a != off))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] >> 2) + 1;
	switch (data[0] & 3) {
	case 0:
	case 1:
		fuzz_request((const char *)data + 1, size - 1, step);
		break;
	case 2:
		fuzz_response((const char *)data + 1, size - 1);
		break;
	case 3:
		fuzz_chunked((const char *)data + 1, size - 1, step);
		break;
	}
	return 0;
}
