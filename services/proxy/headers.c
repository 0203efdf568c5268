/*
 * The heads the proxy forwards. A parsed message is copied line by line
 * from its source bytes, minus the hop-by-hop fields (Connection and the
 * fields it names, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade
 * unless upgrading), plus what a reverse proxy adds: X-Forwarded-For,
 * -Proto and -Host on requests, and our own Connection field on both.
 * Framing fields (Content-Length, Transfer-Encoding) and Host are never
 * dropped, even when a Connection option names them: the body is
 * forwarded as it was framed.
 */
#include <string.h>
#include <strings.h>

#include "proxy.h"

struct out {
	char *p;
	size_t len;
	size_t cap;
	bool full;
};

static void
out_put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->cap - o->len < n) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void
out_span(struct out *o, const char *src, struct http_span s)
{
	out_put(o, src + s.off, s.len);
}

/* Does a Connection option of M name field F? */
static bool
headers_named_by_connection(const char *src, const struct http_msg *m,
    const struct http_field *f)
{
	for (uint32_t i = 0; i < m->ntokens; i++) {
		struct http_span t = m->tokens[i];

		if (t.len == f->name.len && strncasecmp(src + t.off,
		    src + f->name.off, t.len) == 0)
			return true;
	}
	return false;
}

/* Is F hop-by-hop, dropped whichever way it goes? UPGRADE keeps Upgrade. */
static bool
headers_hop_by_hop(const char *src, const struct http_msg *m,
    const struct http_field *f, bool upgrade)
{
	switch (f->kind) {
	case HTTP_H_CONNECTION:
	case HTTP_H_KEEP_ALIVE:
	case HTTP_H_PROXY_CONNECTION:
	case HTTP_H_TE:
		return true;
	case HTTP_H_UPGRADE:
		return !upgrade;
	case HTTP_H_OTHER:
		return headers_named_by_connection(src, m, f);
	default:
		return false;
	}
}

ssize_t
headers_request(char *dst, size_t cap, const char *src,
    const struct http_msg *m, const struct headers_req_ctx *ctx)
{
	struct out o = {dst, 0, cap, false};
	bool upgrade = http_wants_upgrade(m);
	bool xff = false;

	out_span(&o, src, m->method);
	out_put(&o, " ", 1);
	if (m->target.len == 0)
		out_put(&o, "/", 1);
	else
		out_span(&o, src, m->target);
	out_str(&o, m->minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");

	for (uint32_t i = 0; i < m->nfields; i++) {
		const struct http_field *f = &m->fields[i];

		/* the X-Forwarded-* fields and an absolute target's Host
		 * are written below */
		if (headers_hop_by_hop(src, m, f, upgrade) ||
		    f->kind == HTTP_H_TRAILER ||
		    f->kind == HTTP_H_X_FORWARDED_FOR ||
		    f->kind == HTTP_H_X_FORWARDED_PROTO ||
		    f->kind == HTTP_H_X_FORWARDED_HOST ||
		    (f->kind == HTTP_H_HOST && (m->flags & HTTP_F_ABSOLUTE)))
			continue;
		out_span(&o, src, f->line);
	}
	if (m->flags & HTTP_F_ABSOLUTE) {
		out_str(&o, "Host: ");
		out_span(&o, src, m->host);
		out_str(&o, "\r\n");
	}

	/* Earlier proxies' addresses first, ours last (one field). */
	out_str(&o, "X-Forwarded-For: ");
	for (uint32_t i = 0; i < m->nfields; i++) {
		const struct http_field *f = &m->fields[i];

		if (f->kind != HTTP_H_X_FORWARDED_FOR || f->value.len == 0)
			continue;
		if (xff)
			out_str(&o, ", ");
		out_span(&o, src, f->value);
		xff = true;
	}
	if (xff)
		out_str(&o, ", ");
	out_str(&o, ctx->peer);
	out_str(&o, "\r\nX-Forwarded-Proto: ");
	out_str(&o, ctx->proto);
	out_str(&o, "\r\nX-Forwarded-Host: ");
	out_span(&o, src, m->host);
	out_str(&o, "\r\n");
	if (upgrade)
		out_str(&o, "Connection: upgrade\r\n");
	else if (m->minor == 0)
		out_str(&o, "Connection: keep-alive\r\n");
	out_str(&o, "\r\n");
	return o.full ? -1 : (ssize_t)o.len;
}

ssize_t
headers_response(char *dst, size_t cap, const char *src,
    const struct http_msg *m, bool keep, int client_minor, bool upgrade)
{
	struct out o = {dst, 0, cap, false};

	out_put(&o, src, m->line_len);
	for (uint32_t i = 0; i < m->nfields; i++) {
		const struct http_field *f = &m->fields[i];

		/* Content-Length is dropped when Transfer-Encoding frames
		 * the body; an HTTP/1.0 client gets a chunked body without
		 * its framing (RFC 9112 7), closed by the connection's end */
		if (headers_hop_by_hop(src, m, f, upgrade) ||
		    (f->kind == HTTP_H_CONTENT_LENGTH &&
		    (m->flags & HTTP_F_TE)) ||
		    (client_minor == 0 && (m->flags & HTTP_F_CHUNKED) &&
		    (f->kind == HTTP_H_TRANSFER_ENCODING ||
		    f->kind == HTTP_H_TRAILER)))
			continue;
		out_span(&o, src, f->line);
	}
	if (upgrade)
		out_str(&o, "Connection: upgrade\r\n");
	else if (!keep)
		out_str(&o, "Connection: close\r\n");
	else if (client_minor == 0)
		out_str(&o, "Connection: keep-alive\r\n");
	out_str(&o, "\r\n");
	return o.full ? -1 : (ssize_t)o.len;
}
