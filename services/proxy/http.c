/*
 * HTTP/1.x message heads and body framing, parsed strictly.
 *
 * The proxy stands between clients it does not trust and upstreams that
 * may read a message differently than it does; any disagreement about
 * where a message ends is a request-smuggling hole. So this parser
 * accepts one reading of a message and refuses everything ambiguous:
 * bare LF or CR, obsolete line folding, whitespace before the colon,
 * Content-Length together with Transfer-Encoding, a duplicate or
 * malformed Content-Length, a Transfer-Encoding not ending in chunked,
 * chunk sizes that are not plain hex.
 *
 * Heads are parsed in one pass once complete (http_head_find says when),
 * so no state is kept between reads but a scan offset. Everything here
 * is pure: no allocation, no I/O.
 */
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "proxy.h"

/* RFC 9110 tchar. */
static const unsigned char http_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_WS(c) ((c) == ' ' || (c) == '\t')

static int
http_fail(struct http_err *err, int status, const char *why)
{
	err->status = status;
	err->why = why;
	return -1;
}

bool
http_span_eq(const char *base, struct http_span s, const char *word)
{
	return strlen(word) == s.len &&
	    strncasecmp(base + s.off, word, s.len) == 0;
}

/* Methods are case-sensitive (RFC 9110, 9.1): "get" is not GET. */
bool
http_method_is(const char *base, struct http_span s, const char *word)
{
	return strlen(word) == s.len && memcmp(base + s.off, word, s.len) == 0;
}

ssize_t
http_head_find(const char *p, size_t len, const struct http_limits *lim,
    size_t *scan, struct http_err *err)
{
	/* *scan packs how far we searched (low 32 bits) and where the first
	 * line ended (high 32 bits, 0 until its LF is seen), so a head that
	 * trickles in byte by byte is still searched once. */
	size_t pos = *scan & 0xffffffffu;
	size_t line_end = *scan >> 32;
	const char *nl;

	while (pos < len) {
		size_t k;

		if ((nl = memchr(p + pos, '\n', len - pos)) == NULL) {
			pos = len;
			break;
		}
		k = (size_t)(nl - p);
		pos = k + 1;
		if (line_end == 0) {
			line_end = k + 1;
			if (k > (size_t)lim->max_line + 1)
				return http_fail(err, 414,
				    "request line too long");
			continue;
		}
		if (p[k - 1] == '\n' ||
		    (p[k - 1] == '\r' && k >= 2 && p[k - 2] == '\n')) {
			if (k + 1 - line_end > (size_t)lim->max_fields + 2)
				return http_fail(err, 431,
				    "header fields too large");
			*scan = 0;
			return (ssize_t)(k + 1);
		}
	}
	if (line_end == 0 && len > (size_t)lim->max_line + 2)
		return http_fail(err, 414, "request line too long");
	if (line_end != 0 && len - line_end > (size_t)lim->max_fields + 2)
		return http_fail(err, 431, "header fields too large");
	*scan = pos | (line_end << 32);
	return 0;
}

static enum http_field_kind
http_field_kind(const char *n, size_t len)
{
	switch (len) {
	case 2:
		if (strncasecmp(n, "te", 2) == 0)
			return HTTP_H_TE;
		break;
	case 4:
		if (strncasecmp(n, "host", 4) == 0)
			return HTTP_H_HOST;
		break;
	case 6:
		if (strncasecmp(n, "expect", 6) == 0)
			return HTTP_H_EXPECT;
		break;
	case 7:
		if (strncasecmp(n, "trailer", 7) == 0)
			return HTTP_H_TRAILER;
		if (strncasecmp(n, "upgrade", 7) == 0)
			return HTTP_H_UPGRADE;
		break;
	case 10:
		if (strncasecmp(n, "connection", 10) == 0)
			return HTTP_H_CONNECTION;
		if (strncasecmp(n, "keep-alive", 10) == 0)
			return HTTP_H_KEEP_ALIVE;
		break;
	case 14:
		if (strncasecmp(n, "content-length", 14) == 0)
			return HTTP_H_CONTENT_LENGTH;
		break;
	case 15:
		if (strncasecmp(n, "x-forwarded-for", 15) == 0)
			return HTTP_H_X_FORWARDED_FOR;
		break;
	case 16:
		if (strncasecmp(n, "proxy-connection", 16) == 0)
			return HTTP_H_PROXY_CONNECTION;
		if (strncasecmp(n, "x-forwarded-host", 16) == 0)
			return HTTP_H_X_FORWARDED_HOST;
		break;
	case 17:
		if (strncasecmp(n, "transfer-encoding", 17) == 0)
			return HTTP_H_TRANSFER_ENCODING;
		if (strncasecmp(n, "x-forwarded-proto", 17) == 0)
			return HTTP_H_X_FORWARDED_PROTO;
		break;
	}
	return HTTP_H_OTHER;
}

/*
 * Calls FN on each element of the comma-separated list in V. Elements
 * must be tokens; empty elements are refused (RFC 9110 lets a recipient
 * skip them, but nothing legitimate sends them in these fields).
 */
static int
http_list_each(const char *base, struct http_span v,
    int (*fn)(const char *base, struct http_span tok, void *arg), void *arg)
{
	uint32_t i = v.off, end = v.off + v.len;

	if (v.len == 0)
		return -1;
	while (i <= end) {
		struct http_span tok;

		while (i < end && IS_WS(base[i]))
			i++;
		tok.off = i;
		while (i < end && http_tchar[(unsigned char)base[i]])
			i++;
		tok.len = i - tok.off;
		while (i < end && IS_WS(base[i]))
			i++;
		if (tok.len == 0 || (i < end && base[i] != ','))
			return -1;
		if (fn(base, tok, arg) < 0)
			return -1;
		i++;			/* past the comma, or past the end */
	}
	return 0;
}

static int
http_te_token(const char *base, struct http_span tok, void *arg)
{
	struct http_msg *m = arg;

	/* Anything after chunked (chunked again included) is ambiguous. */
	if (m->flags & HTTP_F_CHUNKED)
		return -1;
	if (http_span_eq(base, tok, "chunked"))
		m->flags |= HTTP_F_CHUNKED;
	return 0;
}

static int
http_conn_token(const char *base, struct http_span tok, void *arg)
{
	struct http_msg *m = arg;

	if (http_span_eq(base, tok, "close"))
		m->flags |= HTTP_F_CLOSE;
	else if (http_span_eq(base, tok, "keep-alive"))
		m->flags |= HTTP_F_KEEPALIVE;
	else if (http_span_eq(base, tok, "upgrade"))
		m->flags |= HTTP_F_CONN_UPGRADE;
	else if (m->ntokens == HTTP_MAX_CONN_TOKENS)
		return -1;
	else
		m->tokens[m->ntokens++] = tok;
	return 0;
}

static int
http_content_length(const char *base, struct http_span v, int64_t *out)
{
	int64_t n = 0;

	/* 1*DIGIT; 18 digits keep us far from overflow. */
	if (v.len == 0 || v.len > 18)
		return -1;
	for (uint32_t i = 0; i < v.len; i++) {
		char c = base[v.off + i];

		if (!IS_DIGIT(c))
			return -1;
		n = n * 10 + (c - '0');
	}
	*out = n;
	return 0;
}

/* host [ ":" port ], host a reg-name or an IP literal. */
static bool
http_host_valid(const char *p, struct http_span h)
{
	uint32_t i = h.off, end = h.off + h.len;

	if (h.len == 0 || h.len > 255)
		return false;
	if (p[i] == '[') {
		while (++i < end && p[i] != ']')
			if (!(IS_DIGIT(p[i]) || p[i] == ':' || p[i] == '.' ||
			    (p[i] >= 'a' && p[i] <= 'f') ||
			    (p[i] >= 'A' && p[i] <= 'F')))
				return false;
		if (i == end)
			return false;
		i++;
	} else {
		uint32_t start = i;

		for (; i < end && p[i] != ':'; i++) {
			char c = p[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    IS_DIGIT(c) || c == '-' || c == '.' || c == '_'))
				return false;
		}
		if (i == start)
			return false;
	}
	if (i < end) {
		if (p[i] != ':' || i + 1 == end || end - i > 6)
			return false;
		while (++i < end)
			if (!IS_DIGIT(p[i]))
				return false;
	}
	return true;
}

/*
 * The field lines from POS to the end of the head. Shared by requests
 * and responses; what differs is decided by the callers afterwards.
 */
static int
http_parse_fields(const char *p, size_t len, size_t pos, struct http_msg *m,
    struct http_err *err)
{
	bool seen_host = false;

	for (;;) {
		struct http_field *f;
		size_t start = pos, vend;

		if (pos >= len)
			return http_fail(err, 400, "truncated head");
		if (p[pos] == '\r') {
			if (pos + 2 != len || p[pos + 1] != '\n')
				return http_fail(err, 400, "bad end of head");
			return 0;
		}
		if (IS_WS(p[pos]))
			return http_fail(err, 400, "obsolete line folding");
		if (m->nfields == HTTP_MAX_FIELDS)
			return http_fail(err, 431, "too many header fields");
		f = &m->fields[m->nfields];
		f->name.off = (uint32_t)pos;
		while (pos < len && http_tchar[(unsigned char)p[pos]])
			pos++;
		f->name.len = (uint32_t)(pos - f->name.off);
		if (f->name.len == 0 || pos >= len || p[pos] != ':')
			return http_fail(err, 400, "bad field name");
		pos++;
		while (pos < len && IS_WS(p[pos]))
			pos++;
		f->value.off = (uint32_t)pos;
		for (; pos < len; pos++) {
			unsigned char c = (unsigned char)p[pos];

			if (c == '\r' || (c < 0x20 && c != '\t') || c == 0x7f)
				break;
		}
		if (pos + 1 >= len || p[pos] != '\r' || p[pos + 1] != '\n')
			return http_fail(err, 400, "bad character in field");
		vend = pos;
		while (vend > f->value.off && IS_WS(p[vend - 1]))
			vend--;
		f->value.len = (uint32_t)(vend - f->value.off);
		pos += 2;
		f->line.off = (uint32_t)start;
		f->line.len = (uint32_t)(pos - start);
		f->kind = http_field_kind(p + f->name.off, f->name.len);
		m->nfields++;

		switch (f->kind) {
		case HTTP_H_HOST:
			if (seen_host)
				return http_fail(err, 400, "duplicate Host");
			seen_host = true;
			if (!(m->flags & HTTP_F_ABSOLUTE))
				m->host = f->value;
			break;
		case HTTP_H_CONTENT_LENGTH:
			if (m->content_length >= 0)
				return http_fail(err, 400,
				    "duplicate Content-Length");
			if (http_content_length(p, f->value,
			    &m->content_length) < 0)
				return http_fail(err, 400,
				    "bad Content-Length");
			break;
		case HTTP_H_TRANSFER_ENCODING:
			m->flags |= HTTP_F_TE;
			if (http_list_each(p, f->value, http_te_token, m) < 0)
				return http_fail(err, 400,
				    "bad Transfer-Encoding");
			break;
		case HTTP_H_CONNECTION:
			if (http_list_each(p, f->value, http_conn_token, m) < 0)
				return http_fail(err, 400, "bad Connection");
			break;
		case HTTP_H_EXPECT:
			if (http_span_eq(p, f->value, "100-continue"))
				m->flags |= HTTP_F_CONTINUE;
			break;
		case HTTP_H_UPGRADE:
			m->flags |= HTTP_F_UPGRADE;
			break;
		default:
			break;
		}
	}
}

static void
http_msg_reset(struct http_msg *m)
{
	m->method.off = m->method.len = 0;
	m->target.off = m->target.len = 0;
	m->host.off = m->host.len = 0;
	m->is_head = false;
	m->status = 0;
	m->minor = 1;
	m->head_len = m->line_len = 0;
	m->content_length = -1;
	m->flags = 0;
	m->nfields = 0;
	m->ntokens = 0;
}

/* "HTTP/1.x" at P (8 bytes available); sets minor. */
static int
http_version(const char *p, struct http_msg *m, struct http_err *err)
{
	if (memcmp(p, "HTTP/", 5) != 0 || !IS_DIGIT(p[5]) || p[6] != '.' ||
	    !IS_DIGIT(p[7]))
		return http_fail(err, 400, "bad HTTP version");
	if (p[5] != '1')
		return http_fail(err, 505, "HTTP version not supported");
	m->minor = p[7] == '0' ? 0 : 1;
	return 0;
}

/* Absolute form: the authority becomes the host, the rest the target. */
static int
http_absolute_target(const char *p, struct http_msg *m, struct http_err *err)
{
	uint32_t i = m->target.off, end = m->target.off + m->target.len;
	uint32_t skip;

	if (m->target.len > 7 && strncasecmp(p + i, "http://", 7) == 0)
		skip = 7;
	else if (m->target.len > 8 && strncasecmp(p + i, "https://", 8) == 0)
		skip = 8;
	else
		return http_fail(err, 400, "bad request target");
	i += skip;
	m->host.off = i;
	while (i < end && p[i] != '/' && p[i] != '?') {
		if (p[i] == '@')
			return http_fail(err, 400, "userinfo in target");
		i++;
	}
	m->host.len = i - m->host.off;
	m->target.off = i;
	m->target.len = end - i;
	m->flags |= HTTP_F_ABSOLUTE;
	return 0;
}

int
http_parse_request(const char *p, size_t len, const struct http_limits *lim,
    struct http_msg *m, struct http_err *err)
{
	size_t pos = 0;

	http_msg_reset(m);
	while (pos < len && http_tchar[(unsigned char)p[pos]])
		pos++;
	if (pos == 0 || pos >= len || p[pos] != ' ')
		return http_fail(err, 400, "bad method");
	m->method.len = (uint32_t)pos;
	pos++;
	m->target.off = (uint32_t)pos;
	while (pos < len && (unsigned char)p[pos] > 0x20 &&
	    (unsigned char)p[pos] < 0x7f && p[pos] != '#')
		pos++;
	m->target.len = (uint32_t)(pos - m->target.off);
	/* RFC 9112 3.2: a fragment is the client's alone; routing on one
	 * path while the app sees another is how filters are bypassed */
	if (pos < len && p[pos] == '#')
		return http_fail(err, 400, "fragment in request target");
	if (m->target.len == 0 || pos >= len || p[pos] != ' ')
		return http_fail(err, 400, "bad request target");
	pos++;
	if (len - pos < 10)
		return http_fail(err, 400, "bad HTTP version");
	if (http_version(p + pos, m, err) < 0)
		return -1;
	pos += 8;
	if (p[pos] != '\r' || p[pos + 1] != '\n')
		return http_fail(err, 400, "bad request line");
	pos += 2;
	m->line_len = (uint32_t)pos;
	if (pos - 2 > lim->max_line)
		return http_fail(err, 414, "request line too long");
	if (len - pos > (size_t)lim->max_fields + 2)
		return http_fail(err, 431, "header fields too large");

	if (http_method_is(p, m->method, "CONNECT"))
		return http_fail(err, 501, "CONNECT is not supported");
	/* RFC 9110 9.3.8: an app answering TRACE echoes the request's
	 * fields, cookies and credentials among them, back to whoever
	 * can make a browser send it */
	if (http_method_is(p, m->method, "TRACE"))
		return http_fail(err, 405, "TRACE is not allowed");
	m->is_head = http_method_is(p, m->method, "HEAD");
	if (m->is_head || http_method_is(p, m->method, "GET") ||
	    http_method_is(p, m->method, "OPTIONS") ||
	    http_method_is(p, m->method, "PUT") ||
	    http_method_is(p, m->method, "DELETE"))
		m->flags |= HTTP_F_IDEMPOTENT;	/* RFC 9110, 9.2.2 */
	if (p[m->target.off] != '/' &&
	    !(m->target.len == 1 && p[m->target.off] == '*' &&
	    http_method_is(p, m->method, "OPTIONS")) &&
	    http_absolute_target(p, m, err) < 0)
		return -1;

	if (http_parse_fields(p, len, pos, m, err) < 0)
		return -1;
	m->head_len = (uint32_t)len;

	if (m->flags & HTTP_F_TE) {
		if (m->minor == 0)
			return http_fail(err, 400,
			    "Transfer-Encoding in HTTP/1.0");
		if (!(m->flags & HTTP_F_CHUNKED))
			return http_fail(err, 400,
			    "Transfer-Encoding does not end in chunked");
		if (m->content_length >= 0)
			return http_fail(err, 400,
			    "Content-Length with Transfer-Encoding");
	}
	if (m->host.len == 0 && !(m->flags & HTTP_F_ABSOLUTE))
		return http_fail(err, 400, "missing Host");
	if (!http_host_valid(p, m->host))
		return http_fail(err, 400, "bad Host");
	return 0;
}

int
http_parse_response(const char *p, size_t len, struct http_msg *m,
    struct http_err *err)
{
	size_t pos;

	http_msg_reset(m);
	if (len < 14 || http_version(p, m, err) < 0 || p[8] != ' ' ||
	    !IS_DIGIT(p[9]) || !IS_DIGIT(p[10]) || !IS_DIGIT(p[11]) ||
	    p[9] == '0')
		return http_fail(err, 502, "bad status line");
	m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	pos = 12;
	if (p[pos] == ' ') {
		for (pos++; pos < len; pos++) {
			unsigned char c = (unsigned char)p[pos];

			if (c == '\r' || (c < 0x20 && c != '\t') || c == 0x7f)
				break;
		}
	}
	if (pos + 1 >= len || p[pos] != '\r' || p[pos + 1] != '\n')
		return http_fail(err, 502, "bad status line");
	pos += 2;
	m->line_len = (uint32_t)pos;
	if (http_parse_fields(p, len, pos, m, err) < 0) {
		err->status = 502;
		return -1;
	}
	m->head_len = (uint32_t)len;
	/* A response may end a Transfer-Encoding with something else: it
	 * is then delimited by the close. Transfer-Encoding wins over
	 * Content-Length (RFC 9112 6.3), which is dropped when forwarded. */
	if (m->flags & HTTP_F_TE)
		m->content_length = -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Bodies */

enum {
	CK_SIZE_FIRST,		/* first hex digit of a chunk size */
	CK_SIZE,		/* more hex digits, ';' or CR */
	CK_EXT,			/* chunk extension, until CR */
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER_START,	/* a trailer field or the final CRLF */
	CK_TRAILER,
	CK_TRAILER_LF,
	CK_END_LF,
};

#define CK_MAX_DIGITS 15	/* 60 bits: no overflow */
#define CK_MAX_TRAILER 16384


/* DATA: when not NULL, stop after the first run of chunk data and say
 * where it is (http_body_dechunk). */
static int
http_chunk_scan(struct http_chunk *k, const char *p, size_t n, size_t *used,
    struct http_span *data)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)p[i];
		int h;

		switch (k->state) {
		case CK_SIZE_FIRST:
		case CK_SIZE:
			if ((h = hex_digit(c)) >= 0) {
				if (++k->digits > CK_MAX_DIGITS)
					return -1;
				k->left = k->left * 16 + (uint64_t)h;
				k->state = CK_SIZE;
			} else if (k->state == CK_SIZE_FIRST) {
				return -1;
			} else if (c == ';') {
				k->state = CK_EXT;
			} else if (c == '\r') {
				k->state = CK_SIZE_LF;
			} else {
				return -1;
			}
			i++;
			break;
		case CK_EXT:
			if (c == '\r')
				k->state = CK_SIZE_LF;
			else if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -1;
			i++;
			break;
		case CK_SIZE_LF:
			if (c != '\n')
				return -1;
			k->digits = 0;
			k->state = k->left == 0 ? CK_TRAILER_START : CK_DATA;
			i++;
			break;
		case CK_DATA: {
			size_t take = n - i;

			if (take > k->left)
				take = (size_t)k->left;
			k->left -= take;
			i += take;
			if (k->left == 0)
				k->state = CK_DATA_CR;
			if (data != NULL) {
				data->off = (uint32_t)(i - take);
				data->len = (uint32_t)take;
				*used = i;
				return 0;
			}
			break;
		}
		case CK_DATA_CR:
			if (c != '\r')
				return -1;
			k->state = CK_DATA_LF;
			i++;
			break;
		case CK_DATA_LF:
			if (c != '\n')
				return -1;
			k->state = CK_SIZE_FIRST;
			i++;
			break;
		case CK_TRAILER_START:
			if (c == '\r') {
				k->state = CK_END_LF;
				i++;
				break;
			}
			if (!http_tchar[c])
				return -1;
			k->state = CK_TRAILER;
			/* FALLTHROUGH */
		case CK_TRAILER:
			if (c == '\r')
				k->state = CK_TRAILER_LF;
			else if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -1;
			if (++k->trailer > CK_MAX_TRAILER)
				return -1;
			i++;
			break;
		case CK_TRAILER_LF:
			if (c != '\n')
				return -1;
			k->state = CK_TRAILER_START;
			i++;
			break;
		case CK_END_LF:
			if (c != '\n')
				return -1;
			*used = i + 1;
			return 1;
		default:
			return -1;
		}
	}
	*used = i;
	return 0;
}

void
http_body_init(struct http_body *b, enum http_body_kind kind, uint64_t length)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->left = length;
	if (kind == HTTP_BODY_LENGTH && length == 0)
		b->kind = HTTP_BODY_NONE;
}

int
http_body_scan(struct http_body *b, const char *p, size_t n, size_t *used)
{
	switch (b->kind) {
	case HTTP_BODY_NONE:
		*used = 0;
		return 1;
	case HTTP_BODY_LENGTH:
		*used = n < b->left ? n : (size_t)b->left;
		b->left -= *used;
		return b->left == 0;
	case HTTP_BODY_CHUNKED:
		return http_chunk_scan(&b->chunk, p, n, used, NULL);
	case HTTP_BODY_CLOSE:
		*used = n;
		return 0;
	}
	return -1;
}

int
http_body_dechunk(struct http_body *b, const char *p, size_t n, size_t *used,
    struct http_span *data)
{
	data->off = data->len = 0;
	return http_chunk_scan(&b->chunk, p, n, used, data);
}
