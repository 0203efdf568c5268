// links: services/proxy/http.c services/proxy/headers.c
/*
 * The proxy's HTTP parser (services/proxy/http.c) and forwarded heads
 * (headers.c). Requests are data: the bytes on the wire and the status
 * the proxy must answer with (0: accepted). Every ambiguous framing the
 * issue names has a row, so a relaxation shows up here first.
 */
#include <string.h>

#include "../../services/proxy/proxy.h"
#include "unit.h"

static const struct http_limits lim = {8192, 32768};

struct req_case {
	const char *name;
	const char *raw;
	int status;		/* 0: parsed; else the refusal's status */
};

static const struct req_case req_cases[] = {
	{"simple GET", "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", 0},
	{"HTTP/1.0 without Host",
	    "GET / HTTP/1.0\r\n\r\n", 400},
	{"HTTP/1.0 with Host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", 0},
	{"absolute form", "GET http://a.example/x HTTP/1.1\r\n\r\n", 0},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"host with port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n",
	    0},
	{"host IPv6", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0},
	{"chunked", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 0},
	{"gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n", 0},
	{"content-length", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\n\r\n", 0},
	{"field value with tabs and obs-text", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-A: \tv\xe9 v\t\r\n\r\n", 0},

	{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400},
	{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
	{"duplicate CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n", 400},
	{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n"
	    "\r\n", 400},
	{"CL signed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n"
	    "\r\n", 400},
	{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n"
	    "\r\n", 400},
	{"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	    400},
	{"CL huge", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 99999999999999999999\r\n\r\n", 400},
	{"TE gzip only", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n", 400},
	{"TE chunked not last", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
	{"TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	    400},
	{"TE chunked then identity field", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"
	    "\r\n", 400},
	{"TE empty element", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: , chunked\r\n\r\n", 400},
	{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400},
	{"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: xchunked\r\n\r\n", 400},
	{"obsolete folding", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n"
	    "\r\n", 400},
	{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding : chunked\r\n\r\n", 400},
	{"bare LF in fields", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400},
	{"bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
	{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
	    400},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400},
	{"empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
	{"missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
	{"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    400},
	{"bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
	{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
	{"absolute with userinfo", "GET http://u@a/ HTTP/1.1\r\n\r\n", 400},
	{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 501},
	{"too many Connection options", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: a, b, c, d, e, f, g, h, i\r\n\r\n", 400},
	{NULL, NULL, 0},
};

static int
parse(const char *raw, size_t len, struct http_msg *m)
{
	struct http_err err = {0, NULL};
	size_t scan = 0;
	ssize_t n = http_head_find(raw, len, &lim, &scan, &err);

	if (n < 0)
		return err.status;
	if (n == 0)
		return -1;
	if (http_parse_request(raw, (size_t)n, &lim, m, &err) < 0)
		return err.status;
	return 0;
}

static struct http_msg msg;

static void
test_request_table(void)
{
	for (const struct req_case *c = req_cases; c->name != NULL; c++) {
		/* sizeof would stop at the NUL case: find the real end */
		const char *end = strstr(c->raw, "\r\n\r\n");
		size_t len = end != NULL ? (size_t)(end - c->raw) + 4 :
		    strlen(c->raw);
		int got;

		if (strcmp(c->name, "NUL in value") == 0)
			len = sizeof("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n"
			    "\r\n") - 1;
		got = parse(c->raw, len, &msg);
		if (got != c->status)
			unit_fail(__FILE__, __LINE__, "%s: status %d, want %d",
			    c->name, got, c->status);
	}
}

static void
test_request_fields(void)
{
	const char *raw = "POST /up?x=1 HTTP/1.1\r\nHost: Web.Example:81\r\n"
	    "Connection: keep-alive, X-Drop, Upgrade\r\nUpgrade: websocket\r\n"
	    "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";

	REQUIRE(parse(raw, strlen(raw), &msg) == 0);
	CHECK(http_span_eq(raw, msg.method, "POST"));
	CHECK(http_span_eq(raw, msg.target, "/up?x=1"));
	CHECK(http_span_eq(raw, msg.host, "web.example:81"));
	CHECK_INTEQ(msg.minor, 1);
	CHECK(msg.flags & HTTP_F_CHUNKED);
	CHECK(msg.flags & HTTP_F_KEEPALIVE);
	CHECK(msg.flags & HTTP_F_CONN_UPGRADE);
	CHECK(msg.flags & HTTP_F_UPGRADE);
	CHECK(msg.flags & HTTP_F_CONTINUE);
	CHECK_INTEQ(msg.ntokens, 1);
	CHECK(http_span_eq(raw, msg.tokens[0], "x-drop"));
	CHECK_INTEQ(msg.content_length, -1);
	CHECK_INTEQ(msg.head_len, strlen(raw));
}

static void
test_idempotent(void)
{
	static const struct {
		const char *method;
		bool idempotent;
	} cases[] = {
		{"GET", true}, {"HEAD", true}, {"OPTIONS", true},
		{"PUT", true}, {"DELETE", true},
		{"POST", false}, {"PATCH", false}, {"get", false},
		{"GETX", false}, {"PROPFIND", false},
	};
	char raw[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(raw, sizeof(raw), "%s / HTTP/1.1\r\nHost: a\r\n\r\n",
		    cases[i].method);
		REQUIRE(parse(raw, strlen(raw), &msg) == 0);
		if (((msg.flags & HTTP_F_IDEMPOTENT) != 0) !=
		    cases[i].idempotent)
			unit_fail(__FILE__, __LINE__, "%s: idempotent %d, "
			    "want %d", cases[i].method,
			    (msg.flags & HTTP_F_IDEMPOTENT) != 0,
			    cases[i].idempotent);
	}
}

static void
test_absolute_target(void)
{
	const char *raw = "GET HTTP://a.example:8/p?q HTTP/1.1\r\n"
	    "Host: other\r\n\r\n";

	REQUIRE(parse(raw, strlen(raw), &msg) == 0);
	CHECK(msg.flags & HTTP_F_ABSOLUTE);
	CHECK(http_span_eq(raw, msg.host, "a.example:8"));
	CHECK(http_span_eq(raw, msg.target, "/p?q"));
}

static void
test_head_find_limits(void)
{
	static char buf[65536];
	struct http_limits small = {16, 64};
	struct http_err err = {0, NULL};
	size_t scan = 0;

	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET /", 5);
	CHECK(http_head_find(buf, 18, &small, &scan, &err) == 0);
	CHECK(http_head_find(buf, 19, &small, &scan, &err) == -1);
	CHECK_INTEQ(err.status, 414);

	scan = 0;
	memcpy(buf, "GET / HTTP/1.1\r\n", 16);
	CHECK(http_head_find(buf, 16 + 66, &small, &scan, &err) == 0);
	CHECK(http_head_find(buf, 16 + 67, &small, &scan, &err) == -1);
	CHECK_INTEQ(err.status, 431);
}

/* Fed one byte at a time, the head is found exactly once, at its end. */
static void
test_head_find_trickle(void)
{
	const char *raw = "\r\nGET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nNEXT";
	struct http_err err;
	size_t scan = 0, len = strlen(raw) - 4;
	ssize_t n = 0;

	/* (the leading CRLF is skipped by the caller; here it is a line) */
	raw += 2;
	len -= 2;
	for (size_t i = 1; i <= len; i++) {
		n = http_head_find(raw, i, &lim, &scan, &err);
		if (i < len)
			CHECK(n == 0);
	}
	CHECK_INTEQ(n, (ssize_t)len);
}

static void
test_response(void)
{
	const char *raw = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	    "Connection: close\r\n\r\n";
	const char *te = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	const char *bad = "HTTP/1.1 2x0 OK\r\n\r\n";
	const char *noreason = "HTTP/1.0 204\r\n\r\n";
	struct http_err err;

	REQUIRE(http_parse_response(raw, strlen(raw), &msg, &err) == 0);
	CHECK_INTEQ(msg.status, 200);
	CHECK_INTEQ(msg.content_length, 3);
	CHECK(msg.flags & HTTP_F_CLOSE);
	REQUIRE(http_parse_response(te, strlen(te), &msg, &err) == 0);
	CHECK(msg.flags & HTTP_F_CHUNKED);
	CHECK_INTEQ(msg.content_length, -1);
	CHECK(http_parse_response(bad, strlen(bad), &msg, &err) < 0);
	CHECK_INTEQ(err.status, 502);
	REQUIRE(http_parse_response(noreason, strlen(noreason), &msg,
	    &err) == 0);
	CHECK_INTEQ(msg.status, 204);
	CHECK_INTEQ(msg.minor, 0);
}

/* Scans BODY in pieces of STEP bytes; returns the bytes used through the
 * end of the body, or -1 on error, -2 if it never ended. */
static long
chunk_run(const char *body, size_t len, size_t step)
{
	struct http_body b;
	size_t off = 0, used;
	int r;

	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		r = http_body_scan(&b, body + off, n, &used);
		if (r < 0)
			return -1;
		off += used;
		if (r == 1)
			return (long)off;
	}
	return -2;
}

static void
test_chunked(void)
{
	const char *ok = "5\r\nhello\r\n1a;ext=\"x\"\r\n"
	    "abcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: v\r\n\r\nNEXT";
	const char *bad[] = {
		"0x5\r\nhello\r\n0\r\n\r\n",
		" 5\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"5\nhello\r\n0\r\n\r\n",
		"5\r\nhelloX\r\n0\r\n\r\n",
		"-5\r\nhello\r\n0\r\n\r\n",
		"ffffffffffffffff0\r\n",
		"\r\n",
		"0\r\nBad Trailer\n\r\n",
		NULL,
	};
	size_t len = strlen(ok) - 4;

	for (size_t step = 1; step <= len; step++)
		CHECK_INTEQ(chunk_run(ok, strlen(ok), step), (long)len);
	for (int i = 0; bad[i] != NULL; i++)
		if (chunk_run(bad[i], strlen(bad[i]), 1) != -1)
			unit_fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
	CHECK_INTEQ(chunk_run("5\r\nhel", 7, 3), -2);
}

static void
test_length_body(void)
{
	struct http_body b;
	size_t used;

	http_body_init(&b, HTTP_BODY_LENGTH, 5);
	CHECK(http_body_scan(&b, "abc", 3, &used) == 0);
	CHECK_INTEQ(used, 3);
	CHECK(http_body_scan(&b, "deGET", 5, &used) == 1);
	CHECK_INTEQ(used, 2);
	http_body_init(&b, HTTP_BODY_LENGTH, 0);
	CHECK(b.kind == HTTP_BODY_NONE);
}

/*
 * The head forwarded upstream for the request RAW, as a string (static
 * storage); NULL if RAW does not parse or the head does not fit.
 */
static const char *
forward_request(const char *raw, const struct headers_req_ctx *ctx)
{
	static char out[2048];
	ssize_t n;

	if (parse(raw, strlen(raw), &msg) != 0 ||
	    (n = headers_request(out, sizeof(out) - 1, raw, &msg, ctx)) < 0)
		return NULL;
	out[n] = '\0';
	return out;
}

/* The head sent to the client for the response RAW; NULL likewise. */
static const char *
forward_response(const char *raw, bool keep, int client_minor)
{
	static char out[2048];
	struct http_err err;
	ssize_t n;

	if (http_parse_response(raw, strlen(raw), &msg, &err) != 0 ||
	    (n = headers_response(out, sizeof(out) - 1, raw, &msg, keep,
	    client_minor, false)) < 0)
		return NULL;
	out[n] = '\0';
	return out;
}

static void
test_forwarded_request(void)
{
	const char *raw = "GET /x HTTP/1.1\r\nHost: a.example\r\n"
	    "Connection: close, X-Hop, Content-Length\r\nX-Hop: 1\r\n"
	    "Keep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\n"
	    "Content-Length: 0\r\nX-Forwarded-For: 10.0.0.1\r\n"
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
	    "Upgrade: h2c\r\nX-Keep: yes\r\n\r\n";
	struct headers_req_ctx ctx = {"192.0.2.7", "http"};
	char small[20];

	CHECK_STREQ(forward_request(raw, &ctx),
	    "GET /x HTTP/1.1\r\nHost: a.example\r\n"
	    "Content-Length: 0\r\nX-Keep: yes\r\n"
	    "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"
	    "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a.example\r\n\r\n");
	/* msg: RAW as parsed above */
	CHECK(headers_request(small, sizeof(small), raw, &msg, &ctx) == -1);
}

static void
test_forwarded_upgrade_and_10(void)
{
	const char *ws = "GET /ws HTTP/1.1\r\nHost: a\r\n"
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
	const char *old = "GET / HTTP/1.0\r\nHost: a\r\n\r\n";
	struct headers_req_ctx ctx = {"::1", "http"};
	const char *out;

	out = forward_request(ws, &ctx);
	CHECK_CONTAINS(out, "\r\nUpgrade: websocket\r\n");
	CHECK_CONTAINS(out, "\r\nConnection: upgrade\r\n\r\n");

	out = forward_request(old, &ctx);
	CHECK_CONTAINS(out, "GET / HTTP/1.0\r\n");
	CHECK_CONTAINS(out, "\r\nConnection: keep-alive\r\n\r\n");
}

static void
test_forwarded_response(void)
{
	const char *raw = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\n"
	    "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n";
	const char *te = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";

	CHECK_STREQ(forward_response(raw, true, 1),
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
	CHECK_STREQ(forward_response(raw, false, 1),
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\n");
	CHECK_CONTAINS(forward_response(raw, true, 0),
	    "Connection: keep-alive\r\n\r\n");
	CHECK_STREQ(forward_response(te, true, 1),
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

/* A request the proxy must not forward as it is: TRACE echoes cookies
 * and credentials back (RFC 9110 9.3.8), a fragment would let the app
 * see another path than the one routed on (RFC 9112 3.2). */
static void
test_refused_by_the_proxy(void)
{
	static const struct req_case cases[] = {
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405},
		{"TRACE with Max-Forwards 0", "TRACE / HTTP/1.1\r\nHost: a\r\n"
		    "Max-Forwards: 0\r\n\r\n", 405},
		{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"fragment after query", "GET /a?q=1#/admin HTTP/1.1\r\n"
		    "Host: a\r\n\r\n", 400},
		{"fragment in absolute form", "GET http://a/x#y HTTP/1.1\r\n"
		    "\r\n", 400},
		{"lower-case trace is another method", "trace / HTTP/1.1\r\n"
		    "Host: a\r\n\r\n", 0},
		{"encoded hash is a path byte", "GET /a%23b HTTP/1.1\r\n"
		    "Host: a\r\n\r\n", 0},
	};
	struct http_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = http_parse_request(cases[i].raw,
		    strlen(cases[i].raw), &lim, &msg, &err);
		int got = rc == 0 ? 0 : err.status;

		if (got != cases[i].status)
			unit_fail(__FILE__, __LINE__, "%s: status %d, want %d",
			    cases[i].name, got, cases[i].status);
	}
}

/* Runs a chunked body through http_body_dechunk STEP bytes at a time;
 * the data it finds, or NULL on a framing error. */
static const char *
dechunk_run(const char *p, size_t n, size_t step)
{
	static char out[256];
	struct http_body b;
	struct http_span d;
	size_t off = 0, olen = 0, used;
	int r = 0;

	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	while (r == 0 && off < n) {
		size_t len = n - off < step ? n - off : step;

		r = http_body_dechunk(&b, p + off, len, &used, &d);
		if (r < 0 || olen + d.len >= sizeof(out))
			return NULL;
		memcpy(out + olen, p + off + d.off, d.len);
		olen += d.len;
		off += used;
	}
	out[olen] = '\0';
	return r == 1 ? out : NULL;
}

static void
test_dechunk(void)
{
	const char *ok = "5\r\nhello\r\n1a;ext=\"x\"\r\n"
	    "abcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: v\r\n\r\n";
	const char *te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Trailer: X-Sum\r\nX-A: 1\r\n\r\n";

	for (size_t step = 1; step <= strlen(ok); step++) {
		const char *got = dechunk_run(ok, strlen(ok), step);

		if (got == NULL || strcmp(got,
		    "helloabcdefghijklmnopqrstuvwxyz") != 0)
			unit_fail(__FILE__, __LINE__, "step %zu: %s", step,
			    got != NULL ? got : "(error)");
	}
	CHECK(dechunk_run("5\r\nhelloX\r\n0\r\n\r\n", 18, 4) == NULL);
	/* an HTTP/1.0 client gets neither the framing nor its fields */
	CHECK_STREQ(forward_response(te, false, 0),
	    "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\n");
	CHECK_CONTAINS(forward_response(te, false, 1),
	    "Transfer-Encoding: chunked\r\n");
}

UNIT_TESTS = {
	{"refused_by_the_proxy", test_refused_by_the_proxy},
	{"dechunk", test_dechunk},
	{"request_table", test_request_table},
	{"request_fields", test_request_fields},
	{"idempotent", test_idempotent},
	{"absolute_target", test_absolute_target},
	{"head_find_limits", test_head_find_limits},
	{"head_find_trickle", test_head_find_trickle},
	{"response", test_response},
	{"chunked", test_chunked},
	{"length_body", test_length_body},
	{"forwarded_request", test_forwarded_request},
	{"forwarded_upgrade_and_10", test_forwarded_upgrade_and_10},
	{"forwarded_response", test_forwarded_response},
	{NULL, NULL},
};
