/*
 * The proxy's own answers: a status line, a few fields and a small HTML
 * page that says what happened to which domain, app or upstream, so a
 * developer looking at a browser tab knows where to look next.
 */
#include <stdio.h>
#include <string.h>

#include "proxy.h"

static const char *
page_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

/* Copies S into DST escaped for HTML text; returns the length. */
static size_t
page_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		const char *rep = NULL;
		size_t len;

		switch (*s) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		}
		len = rep != NULL ? strlen(rep) : 1;
		if (n + len >= cap)
			break;
		if (rep != NULL)
			memcpy(dst + n, rep, len);
		else
			dst[n] = *s;
		n += len;
	}
	dst[n] = '\0';
	return n;
}

size_t
page_build(char *dst, size_t cap, int status, const char *detail,
    const char *extra, bool keep)
{
	char body[1024], text[768];
	const char *reason = page_reason(status);
	int blen, n;

	page_escape(text, sizeof(text), detail);
	blen = snprintf(body, sizeof(body),
	    "<!doctype html>\n<html><head><title>%d %s</title></head>\n"
	    "<body><h1>%d %s</h1>\n<p>%s</p>\n"
	    "<hr><p>devcloud-proxy</p></body></html>\n",
	    status, reason, status, reason, text);
	if (blen < 0)
		blen = 0;
	else if ((size_t)blen >= sizeof(body))
		blen = sizeof(body) - 1;
	n = snprintf(dst, cap,
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %d\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s"
	    "Connection: %s\r\n\r\n%.*s",
	    status, reason, blen, extra != NULL ? extra : "",
	    keep ? "keep-alive" : "close", blen, body);
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}
