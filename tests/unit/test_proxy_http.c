// links: services/proxy/http.c services/proxy/headers.c
/*
 * The proxy's HTTP parser (services/proxy/http.c) and forwarded heads
 * (headers.c). Framing is data: tests/data/http holds the bytes on the
 * wire and the verdict the proxy must reach on them (its README gives
 * the format), and every ambiguous framing has a file there, so a
 * relaxation shows up here first. proxy_limits.sh sends the same refused
 * requests to a real proxy, and fuzz_http starts from them.
 */
#include <dirent.h>
#include <string.h>

#include "../../services/proxy/proxy.h"
#include "unit.h"

static const struct http_limits lim = {8192, 32768};

#define CASES_DIR "tests/data/http"

struct http_case {
	char name[256];		/* the file's name */
	char kind[16];		/* request, response or chunked */
	int status;		/* 0: accepted; else the refusal's status */
	char bytes[4096];
	size_t len;
};

/*
 * Appends the bytes the escaped text S stands for to C's bytes; -1 on an
 * escape the format does not have, or when they do not fit.
 */
static int
case_unescape(const char *s, struct http_case *c)
{
	static const char hex[] = "0123456789abcdef";
	const char *h, *l;

	for (; *s != '\0'; s++) {
		char b = *s;

		if (c->len == sizeof(c->bytes))
			return -1;
		if (b == '\\') {
			switch (*++s) {
			case 'r': b = '\r'; break;
			case 'n': b = '\n'; break;
			case 't': b = '\t'; break;
			case '0': b = '\0'; break;
			case '\\': b = '\\'; break;
			case 'x':
				if (s[1] == '\0' || s[2] == '\0' ||
				    (h = strchr(hex, s[1] | 0x20)) == NULL ||
				    (l = strchr(hex, s[2] | 0x20)) == NULL)
					return -1;
				b = (char)((h - hex) << 4 | (l - hex));
				s += 2;
				break;
			default:
				return -1;
			}
		}
		c->bytes[c->len++] = b;
	}
	return 0;
}

/* Parses TEXT, the case file NAME, into C; -1 with a failure recorded. */
static int
case_parse(const char *name, char *text, struct http_case *c)
{
	char *line, *next;
	int n = 0;

	memset(c, 0, sizeof(*c));
	c->status = -1;
	snprintf(c->name, sizeof(c->name), "%s", name);
	for (line = text; line != NULL && *line != '\0'; line = next) {
		char *v;

		n++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (strncmp(line, "kind: ", 6) == 0 && (v = line + 6) &&
		    (strcmp(v, "request") == 0 || strcmp(v, "response") == 0 ||
		    strcmp(v, "chunked") == 0)) {
			snprintf(c->kind, sizeof(c->kind), "%s", v);
		} else if (strncmp(line, "status: ", 8) == 0) {
			char *end;
			long st = strtol(line + 8, &end, 10);

			if (end == line + 8 || *end != '\0' || st < 0 ||
			    st > 599)
				goto bad;
			c->status = (int)st;
		} else if (strcmp(line, "bytes:") == 0) {
			continue;
		} else if (strncmp(line, "bytes: ", 7) == 0) {
			if (case_unescape(line + 7, c) != 0)
				goto bad;
		} else {
			goto bad;
		}
	}
	if (c->kind[0] == '\0' || c->status < 0 || c->len == 0) {
		unit_fail(__FILE__, __LINE__, "%s/%s: wants kind, status "
		    "and bytes", CASES_DIR, name);
		return -1;
	}
	return 0;
bad:
	unit_fail(__FILE__, __LINE__, "%s/%s:%d: not a line of a case",
	    CASES_DIR, name, n);
	return -1;
}

static int
case_file(const struct dirent *d)
{
	return d->d_name[0] != '.' && strcmp(d->d_name, "README") != 0;
}

/*
 * Every case of KIND in tests/data/http, in name order, into a new array
 * (caller frees) of *NP cases; NULL with a failure recorded when the
 * directory cannot be read, a file is malformed or there is no case.
 */
static struct http_case *
cases_load(const char *kind, size_t *np)
{
	char dir[4096], path[4096 + 64];
	struct dirent **names = NULL;
	struct http_case *cases = NULL, c;
	size_t n = 0;
	int count, i;

	if (unit_source_path(CASES_DIR, dir, sizeof(dir)) != 0 ||
	    (count = scandir(dir, &names, case_file, alphasort)) < 0) {
		unit_fail(__FILE__, __LINE__, "cannot read %s", CASES_DIR);
		return NULL;
	}
	if ((cases = calloc((size_t)count + 1, sizeof(*cases))) == NULL)
		goto fail;
	for (i = 0; i < count; i++) {
		char *text;
		int rv;

		snprintf(path, sizeof(path), CASES_DIR "/%s", names[i]->d_name);
		if ((text = unit_read_source(path)) == NULL) {
			unit_fail(__FILE__, __LINE__, "cannot read %s", path);
			goto fail;
		}
		rv = case_parse(names[i]->d_name, text, &c);
		free(text);
		if (rv != 0)
			goto fail;
		if (strcmp(c.kind, kind) == 0)
			cases[n++] = c;
	}
	if (n == 0) {
		unit_fail(__FILE__, __LINE__, "no %s case in %s", kind,
		    CASES_DIR);
		goto fail;
	}
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	*np = n;
	return cases;
fail:
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(cases);
	return NULL;
}

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

/* Each request case: the head's verdict (bytes after it are a body). */
static void
test_request_table(void)
{
	struct http_case *cases;
	size_t n;

	if ((cases = cases_load("request", &n)) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		int got = parse(cases[i].bytes, cases[i].len, &msg);

		if (got != cases[i].status)
			unit_fail(__FILE__, __LINE__, "%s: status %d, want %d",
			    cases[i].name, got, cases[i].status);
	}
	free(cases);
}

/* Each response case: 0 if the head is accepted, else 502. */
static void
test_response_table(void)
{
	struct http_case *cases;
	struct http_err err = {0, NULL};
	size_t n, scan;

	if ((cases = cases_load("response", &n)) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct http_case *c = &cases[i];
		ssize_t len;
		int got;

		scan = 0;
		len = http_head_find(c->bytes, c->len, &lim, &scan, &err);
		if (len <= 0)
			got = len < 0 ? err.status : -1;
		else
			got = http_parse_response(c->bytes, (size_t)len, &msg,
			    &err) < 0 ? err.status : 0;
		if (got != c->status)
			unit_fail(__FILE__, __LINE__, "%s: status %d, want %d",
			    c->name, got, c->status);
	}
	free(cases);
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
	size_t len = strlen(ok) - 4;

	for (size_t step = 1; step <= len; step++)
		CHECK_INTEQ(chunk_run(ok, strlen(ok), step), (long)len);
	CHECK_INTEQ(chunk_run("5\r\nhel", 7, 3), -2);
}

/*
 * Each chunked case: an accepted body ends at its last byte in pieces of
 * every size; a refused one is refused fed a byte at a time.
 */
static void
test_chunked_table(void)
{
	struct http_case *cases;
	size_t n;

	if ((cases = cases_load("chunked", &n)) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct http_case *c = &cases[i];

		if (c->status != 0 && chunk_run(c->bytes, c->len, 1) != -1)
			unit_fail(__FILE__, __LINE__, "%s: accepted", c->name);
		for (size_t step = 1; c->status == 0 && step <= c->len; step++)
			if (chunk_run(c->bytes, c->len, step) != (long)c->len)
				unit_fail(__FILE__, __LINE__, "%s: in pieces "
				    "of %zu, not accepted to its end",
				    c->name, step);
	}
	free(cases);
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
	{"dechunk", test_dechunk},
	{"request_table", test_request_table},
	{"response_table", test_response_table},
	{"chunked_table", test_chunked_table},
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
