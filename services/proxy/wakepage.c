/*
 * The waiting page. A browser that asks for a sleeping app whose record
 * says wake_page=on gets this page at once instead of a silent wait: it
 * says the app is starting, and its script asks the proxy for
 * WAKEPAGE_WAIT_PATH, a request the proxy holds like any other until the
 * app is ready (or answers with why it could not wake). The page then
 * loads the app. No fixed refresh delay: the switch happens the moment
 * the proxy knows. API clients (anything that does not prefer HTML) are
 * always held, never shown a page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

/* Is the Accept item T (N bytes) "text/html" with a q above zero? */
static bool
wakepage_html_item(const char *t, size_t n)
{
	const char *semi = memchr(t, ';', n);
	size_t tl = semi != NULL ? (size_t)(semi - t) : n;
	char q[16];

	while (tl > 0 && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
		tl--;
	if (tl != 9 || strncasecmp(t, "text/html", 9) != 0)
		return false;
	for (const char *p = semi; p != NULL && p + 2 < t + n; p++)
		if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			size_t ql = (size_t)(t + n - (p + 2));

			snprintf(q, sizeof(q), "%.*s", (int)(ql < 15 ? ql : 15),
			    p + 2);
			return strtod(q, NULL) > 0;
		}
	return true;
}

bool
wakepage_wanted(const char *src, const struct http_msg *m)
{
	if (!http_method_is(src, m->method, "GET") ||
	    (m->flags & HTTP_F_UPGRADE))
		return false;
	for (uint32_t i = 0; i < m->nfields; i++) {
		const struct http_field *f = &m->fields[i];
		const char *v = src + f->value.off, *end = v + f->value.len;

		if (f->name.len != 6 ||
		    strncasecmp(src + f->name.off, "accept", 6) != 0)
			continue;
		while (v < end) {
			const char *comma = memchr(v, ',', (size_t)(end - v));
			size_t n = comma != NULL ? (size_t)(comma - v) :
			    (size_t)(end - v);

			while (n > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				n--;
			}
			if (wakepage_html_item(v, n))
				return true;
			v += n + (comma != NULL ? 1 : 0);
		}
	}
	return false;
}

bool
wakepage_is_wait(const char *src, const struct http_msg *m)
{
	size_t n = strlen(WAKEPAGE_WAIT_PATH);

	return m->target.len >= n &&
	    memcmp(src + m->target.off, WAKEPAGE_WAIT_PATH, n) == 0 &&
	    (m->target.len == n || src[m->target.off + n] == '?');
}

size_t
wakepage_build(char *dst, size_t cap, const char *app, bool keep)
{
	char body[2048];
	int blen, n;

	/* APP is a key-safe name: nothing in it needs escaping. */
	blen = snprintf(body, sizeof(body),
	    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>Starting %s</title>\n"
	    "<style>body{font:18px/1.5 system-ui,sans-serif;max-width:36em;"
	    "margin:5em auto;color:#222}#s{color:#666}"
	    ".e{color:#a00}</style></head>\n<body>\n"
	    "<h1>Starting %s&hellip;</h1>\n"
	    "<p id=\"s\">This app was asleep. It is starting now, and this "
	    "page switches to it the moment it is ready.</p>\n"
	    "<script>\n"
	    "(function wait(){\n"
	    "  fetch('%s', {cache: 'no-store'}).then(function (r) {\n"
	    "    if (r.status === 204) { location.reload(); return; }\n"
	    "    return r.text().then(function (t) {\n"
	    "      var s = document.getElementById('s');\n"
	    "      s.className = 'e';\n"
	    "      s.textContent = 'The app could not start (' + r.status +"
	    " '). Reload to try again.';\n"
	    "    });\n"
	    "  }, function () { setTimeout(wait, 1000); });\n"
	    "})();\n"
	    "</script>\n</body></html>\n", app, app, WAKEPAGE_WAIT_PATH);
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return 0;
	n = snprintf(dst, cap,
	    "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %d\r\n"
	    "Cache-Control: no-store\r\n"
	    "Retry-After: 2\r\n"
	    "Connection: %s\r\n\r\n%s",
	    blen, keep ? "keep-alive" : "close", body);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

size_t
wakepage_ready(char *dst, size_t cap, bool keep)
{
	int n = snprintf(dst, cap, "HTTP/1.1 204 No Content\r\n"
	    "Cache-Control: no-store\r\nConnection: %s\r\n\r\n",
	    keep ? "keep-alive" : "close");

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}
