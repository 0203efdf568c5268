/*
 * The webhook payload parsers (see webhook.h). What each sender writes:
 *
 *   Alertmanager  docs/configuration.md, <webhook_config>: a POST of one
 *                 JSON object: version "4", groupKey, truncatedAlerts,
 *                 status, receiver, groupLabels, commonLabels,
 *                 commonAnnotations, externalURL, and alerts[], each with
 *                 status, labels, annotations, startsAt, endsAt,
 *                 generatorURL, fingerprint. notify/webhook/webhook.go
 *                 writes it with Go's json.Encoder, which ends the body
 *                 with a newline; template.Data makes labels and
 *                 annotations maps of strings, so they are always
 *                 objects of strings, never null.
 *   Open-Falcon   falcon-plus modules/alarm/cron/callback.go: a GET of
 *                 the configured callback URL with endpoint, metric,
 *                 status (PROBLEM or OK), step, priority, time
 *                 ("2006-01-02 15:04:05"), tpl_id, exp_id, stra_id,
 *                 left_value (utils.ReadableFloat: fixed-point, at most
 *                 five decimals) and tags ("k:v,k:v"). toolkits/net's
 *                 httplib encodes each name and value with Go's
 *                 url.QueryEscape (a space as '+'), joins them in map
 *                 order, and appends them to the URL after '?', or after
 *                 '&' when the URL holds a query already. The older
 *                 open-falcon/alarm sent link, msg and detail instead of
 *                 left_value.
 *
 * Fields we do not know are passed over (both senders have added some
 * over the years); those we know are checked even when we do not use
 * them, so a payload of another shape is refused rather than half read.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "hex.h"
#include "keys.h"
#include "webhook.h"

/* ------------------------------------------------------------------ */
/* shared: reasons, host names, metric names, numbers                   */

static int wh_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the reason into ERR; returns -1. */
static int
wh_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * S (N bytes, from outside) fit to stand between quotes in a reason:
 * printable ASCII but '"' and '\', anything else as '?', cut after 40
 * bytes with "...". Into BUF (at least 48 bytes); returns BUF.
 */
#define WH_QUOTE_SIZE 48

static const char *
wh_quote(char *buf, const char *s, size_t n)
{
	size_t i, cut = n > 40 ? 40 : n;

	for (i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' ?
		    (char)c : '?';
	}
	memcpy(buf + i, cut < n ? "..." : "", cut < n ? 4 : 1);
	return buf;
}

/* S (N bytes) into HOST if keys_name_valid takes it; WHAT names it. */
static int
wh_host(const char *s, size_t n, char host[64], const char *what,
    char *err, size_t errlen)
{
	char q[WH_QUOTE_SIZE], name[64];

	if (memchr(s, '\0', n) != NULL)
		return wh_fail(err, errlen, "%s: holds a NUL byte", what);
	if (n < sizeof(name)) {
		memcpy(name, s, n);
		name[n] = '\0';
		if (keys_name_valid(name)) {
			memcpy(host, name, n + 1);
			return 0;
		}
	}
	return wh_fail(err, errlen, "%s: \"%s\" is not a host name (1-63 "
	    "bytes of letters, digits, '.', '-', '_')", what,
	    wh_quote(q, s, n));
}

/* S (N bytes) into METRIC: printable ASCII, at most 127 bytes. */
static int
wh_metric(const char *s, size_t n, char metric[128], const char *what,
    char *err, size_t errlen)
{
	if (n >= 128)
		return wh_fail(err, errlen, "%s: longer than 127 bytes", what);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return wh_fail(err, errlen, "%s: byte %zu is not "
			    "printable ASCII", what, i);
	memcpy(metric, s, n);
	metric[n] = '\0';
	return 0;
}

/* A payload's size: something, and at most WEBHOOK_BODY_MAX bytes. */
static int
wh_size(size_t len, const char *what, char *err, size_t errlen)
{
	if (len == 0)
		return wh_fail(err, errlen, "%s: empty", what);
	if (len > WEBHOOK_BODY_MAX)
		return wh_fail(err, errlen, "%s: %zu bytes, over the %d limit",
		    what, len, WEBHOOK_BODY_MAX);
	return 0;
}

static bool
wh_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * S (N bytes) as a finite decimal number into *OUT: an optional sign,
 * digits with an optional fraction, an optional exponent. Nothing else
 * (no hex, "inf", "nan", spaces), as strtod alone would take.
 */
static bool
wh_number(const char *s, size_t n, double *out)
{
	char buf[64], *end;
	size_t i = 0, digits = 0;
	double d;

	if (n == 0 || n >= sizeof(buf))
		return false;
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; i < n && wh_digit(s[i]); i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && wh_digit(s[i]); i++)
			digits++;
	if (digits == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || !wh_digit(s[i]))
			return false;
		while (i < n && wh_digit(s[i]))
			i++;
	}
	if (i != n)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	d = strtod(buf, &end);
	if (end != buf + n || !isfinite(d))
		return false;
	*out = d;
	return true;
}

/* ------------------------------------------------------------------ */
/* Alertmanager                                                         */

enum am_kind { AM_STRING, AM_ARRAY, AM_COUNT, AM_STRINGS };

static const char *const am_kind_name[] = {
	[AM_STRING] = "a string",
	[AM_ARRAY] = "an array",
	[AM_COUNT] = "an integer >= 0",
	[AM_STRINGS] = "an object of strings",
};

struct am_field {
	const char *name;
	enum am_kind kind;
	bool required;
};

/* The payload's members. notification_reason is newer than the rest. */
static const struct am_field am_top[] = {
	{"version", AM_STRING, true},
	{"status", AM_STRING, true},
	{"alerts", AM_ARRAY, true},
	{"groupKey", AM_STRING, false},
	{"truncatedAlerts", AM_COUNT, false},
	{"receiver", AM_STRING, false},
	{"groupLabels", AM_STRINGS, false},
	{"commonLabels", AM_STRINGS, false},
	{"commonAnnotations", AM_STRINGS, false},
	{"externalURL", AM_STRING, false},
	{"notification_reason", AM_STRING, false},
};

/* An alert's members. fingerprint came in Alertmanager 0.19. */
static const struct am_field am_alert_fields[] = {
	{"status", AM_STRING, true},
	{"labels", AM_STRINGS, true},
	{"annotations", AM_STRINGS, true},
	{"startsAt", AM_STRING, true},
	{"endsAt", AM_STRING, false},
	{"generatorURL", AM_STRING, false},
	{"fingerprint", AM_STRING, false},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Whether V is of KIND, its members too for AM_STRINGS (else BADKEY). */
static bool
am_is(json_object *v, enum am_kind kind, const char **badkey)
{
	switch (kind) {
	case AM_STRING:
		return json_object_is_type(v, json_type_string);
	case AM_ARRAY:
		return json_object_is_type(v, json_type_array);
	case AM_COUNT:
		return json_object_is_type(v, json_type_int) &&
		    json_object_get_int64(v) >= 0;
	case AM_STRINGS: {
		if (!json_object_is_type(v, json_type_object))
			return false;
		json_object_object_foreach(v, key, member) {
			if (!json_object_is_type(member, json_type_string)) {
				*badkey = key;
				return false;
			}
		}
		return true;
	}
	}
	return false;
}

/*
 * Checks that O has every required field of F and that each field
 * present has its kind. WHERE prefixes the field's name in the reason
 * ("" or "alerts[2]."). json-c keeps the last of repeated keys; Go's
 * encoder writes none.
 */
static int
am_check(json_object *o, const struct am_field *f, size_t nf,
    const char *where, char *err, size_t errlen)
{
	char q[WH_QUOTE_SIZE];

	for (size_t i = 0; i < nf; i++) {
		const char *badkey = NULL;
		json_object *v;

		if (!json_object_object_get_ex(o, f[i].name, &v)) {
			if (f[i].required)
				return wh_fail(err, errlen, "%s%s: missing",
				    where, f[i].name);
			continue;
		}
		if (am_is(v, f[i].kind, &badkey))
			continue;
		if (badkey != NULL) {
			json_object_object_get_ex(v, badkey, &v);
			return wh_fail(err, errlen, "%s%s.%s: expected a "
			    "string, got %s", where, f[i].name,
			    wh_quote(q, badkey, strlen(badkey)),
			    json_type_to_name(json_object_get_type(v)));
		}
		return wh_fail(err, errlen, "%s%s: expected %s, got %s", where,
		    f[i].name, am_kind_name[f[i].kind],
		    f[i].kind == AM_COUNT &&
		    json_object_is_type(v, json_type_int) ? "a negative one" :
		    json_type_to_name(json_object_get_type(v)));
	}
	return 0;
}

/* O's member KEY if it is a string (its length in *N), else NULL. */
static const char *
am_str(json_object *o, const char *key, size_t *n)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*n = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* O's "status" (checked a string) as firing or not. */
static int
am_status(json_object *o, const char *where, bool *firing, char *err,
    size_t errlen)
{
	char q[WH_QUOTE_SIZE];
	size_t n = 0;
	const char *s = am_str(o, "status", &n);

	if (n == 6 && memcmp(s, "firing", 6) == 0)
		*firing = true;
	else if (n == 8 && memcmp(s, "resolved", 8) == 0)
		*firing = false;
	else
		return wh_fail(err, errlen, "%sstatus: expected \"firing\" or "
		    "\"resolved\", got \"%s\"", where, wh_quote(q, s, n));
	return 0;
}

/*
 * The host label's value S (N bytes): HOST, HOST:PORT or [IPV6]:PORT,
 * the port dropped (addr_parse's rule), into HOST.
 */
static int
am_host(const char *s, size_t n, char host[64], const char *what,
    char *err, size_t errlen)
{
	char q[WH_QUOTE_SIZE], addr[320], h[64];
	const char *why;

	if (memchr(s, '\0', n) != NULL)
		return wh_fail(err, errlen, "%s: holds a NUL byte", what);
	if (n > 0 && (s[0] == '[' || memchr(s, ':', n) != NULL)) {
		if (n >= sizeof(addr))
			return wh_fail(err, errlen, "%s: \"%s\" is not a host "
			    "name or HOST:PORT", what, wh_quote(q, s, n));
		memcpy(addr, s, n);
		addr[n] = '\0';
		if (addr_parse(addr, 0, h, sizeof(h), NULL, &why) != 0)
			return wh_fail(err, errlen, "%s: \"%s\" %s", what,
			    wh_quote(q, s, n), why);
		if (strchr(h, ':') != NULL)
			return wh_fail(err, errlen, "%s: \"%s\" is an IPv6 "
			    "address, not a host name", what,
			    wh_quote(q, s, n));
		s = h;
		n = strlen(h);
	}
	return wh_host(s, n, host, what, err, errlen);
}

/* Alert I of the array, A, into SIG (zeroed). */
static int
am_alert(json_object *a, size_t i, const char *label,
    struct webhook_signal *sig, char *err, size_t errlen)
{
	char where[32], what[128], q[WH_QUOTE_SIZE];
	json_object *labels, *annotations;
	const char *s;
	size_t n;

	snprintf(where, sizeof(where), "alerts[%zu].", i);
	if (!json_object_is_type(a, json_type_object))
		return wh_fail(err, errlen, "alerts[%zu]: expected an object, "
		    "got %s", i, json_type_to_name(json_object_get_type(a)));
	if (am_check(a, am_alert_fields, NELEM(am_alert_fields), where, err,
	    errlen) != 0 ||
	    am_status(a, where, &sig->firing, err, errlen) != 0)
		return -1;
	json_object_object_get_ex(a, "labels", &labels);
	json_object_object_get_ex(a, "annotations", &annotations);

	if ((s = am_str(labels, label, &n)) == NULL)
		return wh_fail(err, errlen, "%slabels: no \"%s\" label", where,
		    wh_quote(q, label, strlen(label)));
	snprintf(what, sizeof(what), "%slabels.%s", where,
	    wh_quote(q, label, strlen(label)));
	if (am_host(s, n, sig->host, what, err, errlen) != 0)
		return -1;
	if ((s = am_str(labels, "alertname", &n)) != NULL) {
		snprintf(what, sizeof(what), "%slabels.alertname", where);
		if (wh_metric(s, n, sig->metric, what, err, errlen) != 0)
			return -1;
	}
	/* the annotation first: where rules put {{ $value }} */
	if ((s = am_str(annotations, "value", &n)) != NULL &&
	    wh_number(s, n, &sig->value))
		sig->has_value = true;
	else if ((s = am_str(labels, "value", &n)) != NULL &&
	    wh_number(s, n, &sig->value))
		sig->has_value = true;
	return 0;
}

/* BODY (LEN bytes) as one JSON document, nothing after it but spaces. */
static int
am_parse(const char *body, size_t len, json_object **root, char *err,
    size_t errlen)
{
	json_tokener *tok;
	enum json_tokener_error je;
	size_t end;
	int rc = -1;

	*root = NULL;
	if (wh_size(len, "body", err, errlen) != 0)
		return -1;
	if ((tok = json_tokener_new()) == NULL)
		return wh_fail(err, errlen, "body: out of memory");
	/*
	 * Allowing trailing bytes makes the tokener stop after the document
	 * and its spaces, so that what comes after it is told apart from a
	 * document malformed inside; a NUL byte stops it there too.
	 */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8);
	*root = json_tokener_parse_ex(tok, body, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (je == json_tokener_continue)
		wh_fail(err, errlen, "body: truncated JSON (%zu bytes)", len);
	else if (je != json_tokener_success)
		wh_fail(err, errlen, "body: malformed JSON at byte %zu (%s)",
		    end, json_tokener_error_desc(je));
	else if (end != len)
		wh_fail(err, errlen, "body: trailing bytes after the JSON, "
		    "from byte %zu", end);
	else
		rc = 0;
	if (rc != 0) {
		json_object_put(*root);
		*root = NULL;
	}
	json_tokener_free(tok);
	return rc;
}

int
webhook_alertmanager(const char *body, size_t len, const char *label,
    struct webhook_signal *out, int max, int *n, char *err, size_t errlen)
{
	json_object *root, *alerts;
	struct webhook_signal *sig = NULL;
	char q[WH_QUOTE_SIZE];
	const char *version;
	size_t count, limit, vn = 0;
	bool firing;
	int rc = -1;

	if (label == NULL || label[0] == '\0')
		label = WEBHOOK_LABEL_DEFAULT;
	limit = max <= 0 ? 0 :
	    max < WEBHOOK_MAX_SIGNALS ? (size_t)max : WEBHOOK_MAX_SIGNALS;
	if (am_parse(body, len, &root, err, errlen) != 0)
		return -1;
	if (!json_object_is_type(root, json_type_object)) {
		wh_fail(err, errlen, "body: expected a JSON object, got %s",
		    json_type_to_name(json_object_get_type(root)));
		goto fail;
	}
	if (am_check(root, am_top, NELEM(am_top), "", err, errlen) != 0)
		goto fail;
	version = am_str(root, "version", &vn);
	if (vn != 1 || version[0] != '4') {
		wh_fail(err, errlen, "version: expected \"4\", got \"%s\"",
		    wh_quote(q, version, vn));
		goto fail;
	}
	/* checked, though each alert's own status is what counts */
	if (am_status(root, "", &firing, err, errlen) != 0)
		goto fail;
	json_object_object_get_ex(root, "alerts", &alerts);
	count = json_object_array_length(alerts);
	if (count == 0) {
		wh_fail(err, errlen, "alerts: empty");
		goto fail;
	}
	if (count > limit) {
		wh_fail(err, errlen, "alerts: %zu alerts, more than the %zu "
		    "taken", count, limit);
		goto fail;
	}
	if ((sig = calloc(count, sizeof(*sig))) == NULL) {
		wh_fail(err, errlen, "alerts: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < count; i++)
		if (am_alert(json_object_array_get_idx(alerts, i), i, label,
		    &sig[i], err, errlen) != 0)
			goto fail;
	memcpy(out, sig, count * sizeof(*sig));
	*n = (int)count;
	rc = 0;
fail:
	json_object_put(root);
	free(sig);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Open-Falcon                                                          */

enum of_kind { OF_HOST, OF_METRIC, OF_STATUS, OF_INT, OF_TIME, OF_VALUE,
	OF_TEXT };

/* The parameters falcon-plus's alarm sends, all of them. */
static const struct of_param {
	const char *name;
	enum of_kind kind;
	bool required;
} of_params[] = {
	{"endpoint", OF_HOST, true},
	{"metric", OF_METRIC, true},
	{"status", OF_STATUS, true},
	{"step", OF_INT, false},
	{"priority", OF_INT, false},
	{"time", OF_TIME, false},
	{"tpl_id", OF_INT, false},
	{"exp_id", OF_INT, false},
	{"stra_id", OF_INT, false},
	{"left_value", OF_VALUE, false},
	{"tags", OF_TEXT, false},
};

#define OF_NPARAMS NELEM(of_params)


/*
 * Decodes S's bytes FROM to TO (urlencoded: '+' a space, %XX a byte)
 * into DST, which has room for TO - FROM bytes, and its length into
 * *DLEN; or -1 with *BAD the offset in S of a '%' without two hex digits
 * after it.
 */
static int
of_decode(const char *s, size_t from, size_t to, char *dst, size_t *dlen,
    size_t *bad)
{
	size_t i, d = 0;

	for (i = from; i < to; i++) {
		if (s[i] == '+') {
			dst[d++] = ' ';
		} else if (s[i] != '%') {
			dst[d++] = s[i];
		} else if (to - i < 3 || hex_digit(s[i + 1]) < 0 ||
		    hex_digit(s[i + 2]) < 0) {
			*bad = i;
			return -1;
		} else {
			dst[d++] = (char)(hex_digit(s[i + 1]) << 4 |
			    hex_digit(s[i + 2]));
			i += 2;
		}
	}
	*dlen = d;
	return 0;
}

/* Digits where PATTERN has '0', PATTERN's other bytes where it has them. */
static bool
of_pattern(const char *s, size_t n, const char *pattern)
{
	if (n != strlen(pattern))
		return false;
	for (size_t i = 0; i < n; i++)
		if (pattern[i] == '0' ? !wh_digit(s[i]) : s[i] != pattern[i])
			return false;
	return true;
}

/* An integer as Go's %d writes one: an optional '-', 1 to 18 digits. */
static bool
of_int(const char *s, size_t n)
{
	size_t i = n > 0 && s[0] == '-' ? 1 : 0;

	if (n == i || n - i > 18)
		return false;
	for (; i < n; i++)
		if (!wh_digit(s[i]))
			return false;
	return true;
}

/* Parameter P's value S (N bytes, NUL-terminated) into SIG. */
static int
of_value(const struct of_param *p, const char *s, size_t n,
    struct webhook_signal *sig, char *err, size_t errlen)
{
	char q[WH_QUOTE_SIZE];

	switch (p->kind) {
	case OF_HOST:
		return wh_host(s, n, sig->host, p->name, err, errlen);
	case OF_METRIC:
		return wh_metric(s, n, sig->metric, p->name, err, errlen);
	case OF_STATUS:
		if (strcmp(s, "PROBLEM") == 0 || strcmp(s, "OK") == 0) {
			sig->firing = s[0] == 'P';
			return 0;
		}
		return wh_fail(err, errlen, "%s: expected \"PROBLEM\" or "
		    "\"OK\", got \"%s\"", p->name, wh_quote(q, s, n));
	case OF_INT:
		if (of_int(s, n))
			return 0;
		return wh_fail(err, errlen, "%s: expected an integer, got "
		    "\"%s\"", p->name, wh_quote(q, s, n));
	case OF_TIME:
		if (of_pattern(s, n, "0000-00-00 00:00:00"))
			return 0;
		return wh_fail(err, errlen, "%s: expected \"YYYY-MM-DD "
		    "HH:MM:SS\", got \"%s\"", p->name, wh_quote(q, s, n));
	case OF_VALUE:
		/* what Go's FormatFloat writes for the values without one */
		if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 ||
		    strcmp(s, "-Inf") == 0)
			return 0;
		if (wh_number(s, n, &sig->value)) {
			sig->has_value = true;
			return 0;
		}
		return wh_fail(err, errlen, "%s: expected a number, got "
		    "\"%s\"", p->name, wh_quote(q, s, n));
	case OF_TEXT:
		return 0;
	}
	return wh_fail(err, errlen, "%s: unknown kind", p->name);
}

int
webhook_openfalcon(const char *params, size_t len,
    struct webhook_signal *out, char *err, size_t errlen)
{
	const char *val[OF_NPARAMS] = {NULL};
	size_t vlen[OF_NPARAMS] = {0};
	struct webhook_signal sig;
	char *scratch, *w;
	size_t end, pair = 0;
	int rc = -1;

	if (wh_size(len, "parameters", err, errlen) != 0)
		return -1;
	/*
	 * Every pair decodes, name and value each NUL-terminated, to at most
	 * its length plus one: the '&' after it pays for that, and the one
	 * more byte here for the last.
	 */
	if ((scratch = malloc(len + 1)) == NULL)
		return wh_fail(err, errlen, "parameters: out of memory");
	w = scratch;
	for (size_t i = 0; i <= len; i = end + 1) {
		const char *p = params + i, *eq, *amp;
		char *name, *value;
		size_t plen, nlen, nn, vn = 0, bad = 0, k;

		amp = memchr(p, '&', len - i);
		end = amp != NULL ? (size_t)(amp - params) : len;
		/* "a=1&&b=2", or a callback URL ending in '?' or '&' */
		if ((plen = end - i) == 0)
			continue;
		pair++;
		eq = memchr(p, '=', plen);
		nlen = eq != NULL ? (size_t)(eq - p) : plen;
		name = w;
		if (of_decode(params, i, i + nlen, name, &nn, &bad) != 0 ||
		    (eq != NULL && of_decode(params, i + nlen + 1, end,
		    name + nn + 1, &vn, &bad) != 0)) {
			wh_fail(err, errlen, "parameter %zu: bad %%-escape at "
			    "byte %zu", pair, bad);
			goto fail;
		}
		name[nn] = '\0';
		/* without '=', the value is the name's terminator: "" */
		value = eq != NULL ? name + nn + 1 : name + nn;
		value[vn] = '\0';
		w = value + vn + 1;
		if (memchr(name, '\0', nn) != NULL ||
		    memchr(value, '\0', vn) != NULL) {
			wh_fail(err, errlen, "parameter %zu: %%00 (a NUL "
			    "byte) is not allowed", pair);
			goto fail;
		}
		for (k = 0; k < OF_NPARAMS; k++)
			if (strcmp(name, of_params[k].name) == 0)
				break;
		/* "token", the callback URL's own, an older alarm's "msg" */
		if (k == OF_NPARAMS)
			continue;
		/* Open-Falcon sends each once: which one is meant? */
		if (val[k] != NULL) {
			wh_fail(err, errlen, "%s: given twice", name);
			goto fail;
		}
		val[k] = value;
		vlen[k] = vn;
	}
	memset(&sig, 0, sizeof(sig));
	for (size_t k = 0; k < OF_NPARAMS; k++) {
		if (val[k] == NULL) {
			if (!of_params[k].required)
				continue;
			wh_fail(err, errlen, "%s: missing", of_params[k].name);
			goto fail;
		}
		if (of_value(&of_params[k], val[k], vlen[k], &sig, err,
		    errlen) != 0)
			goto fail;
	}
	*out = sig;
	rc = 0;
fail:
	free(scratch);
	return rc;
}
