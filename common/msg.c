/*
 * The message registry and its codec. Two tables: the fields a message
 * may carry (JSON name, kind, place in struct msg) and the types (topic,
 * schema version, which fields are required and which optional).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "msg.h"

enum field_kind { F_STR, F_INT, F_NUM };

enum field_id {
	F_SERVICE, F_INSTANCE, F_VERSION, F_CONTROL, F_APP, F_DOMAIN,
	F_TARGET, F_ADDR, F_STATE, F_REASON, F_UPTIME_MS, F_QUEUED_MS,
	F_START_MS, F_READY_MS, F_PID, F_HOST, F_RELEASE, F_FROM, F_TO,
	F_ORIGIN, F_METRIC, F_VALUE, F_DURATION_MS, F_POOL, F_TIER, F_TTL_S,
	F_ACQUIRE_MS, F_PHASE, F_COUNT
};

#define BIT(f) (1u << (f))

struct field {
	const char *name;
	enum field_kind kind;
	size_t offset;
	size_t size;
};

#define FSTR(n, m) { n, F_STR, offsetof(struct msg, m), \
	sizeof(((struct msg *)0)->m) }
#define FINT(n, m) { n, F_INT, offsetof(struct msg, m), 0 }
#define FNUM(n, m) { n, F_NUM, offsetof(struct msg, m), 0 }

static const struct field fields[F_COUNT] = {
	[F_SERVICE] = FSTR("service", service),
	[F_INSTANCE] = FSTR("instance", instance),
	[F_VERSION] = FSTR("version", version),
	[F_CONTROL] = FSTR("control", control),
	[F_APP] = FSTR("app", app),
	[F_DOMAIN] = FSTR("domain", domain),
	[F_TARGET] = FSTR("target", target),
	[F_ADDR] = FSTR("addr", addr),
	[F_STATE] = FSTR("state", state),
	[F_REASON] = FSTR("reason", reason),
	[F_UPTIME_MS] = FINT("uptime_ms", uptime_ms),
	[F_QUEUED_MS] = FINT("queued_ms", queued_ms),
	[F_START_MS] = FINT("start_ms", start_ms),
	[F_READY_MS] = FINT("ready_ms", ready_ms),
	[F_PID] = FINT("pid", pid),
	[F_HOST] = FSTR("host", host),
	[F_RELEASE] = FSTR("release", release),
	[F_FROM] = FINT("from", from),
	[F_TO] = FINT("to", to),
	[F_ORIGIN] = FSTR("origin", origin),
	[F_METRIC] = FSTR("metric", metric),
	[F_VALUE] = FNUM("value", value),
	[F_DURATION_MS] = FINT("duration_ms", duration_ms),
	[F_POOL] = FSTR("pool", pool),
	[F_TIER] = FSTR("tier", tier),
	[F_TTL_S] = FINT("ttl_s", ttl_s),
	[F_ACQUIRE_MS] = FINT("acquire_ms", acquire_ms),
	[F_PHASE] = FSTR("phase", phase),
};

struct msg_def {
	const char *name;
	int version;
	unsigned required;
	unsigned optional;
};

#define SVC (BIT(F_SERVICE) | BIT(F_INSTANCE))

static const struct msg_def defs[MSG_TYPE_COUNT] = {
	[MSG_SERVICE_UP] = {"service.up", 1,
	    SVC | BIT(F_VERSION) | BIT(F_UPTIME_MS),
	    BIT(F_CONTROL) | BIT(F_PID)},
	[MSG_SERVICE_DOWN] = {"service.down", 1, SVC,
	    BIT(F_REASON) | BIT(F_UPTIME_MS)},
	[MSG_ROUTE_CHANGED] = {"route.changed", 1, BIT(F_DOMAIN),
	    BIT(F_TARGET)},
	[MSG_APP_CHANGED] = {"app.changed", 1, BIT(F_APP), BIT(F_STATE)},
	[MSG_APP_WAKING] = {"app.waking", 1, BIT(F_APP), BIT(F_REASON)},
	[MSG_APP_READY] = {"app.ready", 1, BIT(F_APP) | BIT(F_ADDR),
	    BIT(F_QUEUED_MS) | BIT(F_START_MS) | BIT(F_READY_MS)},
	[MSG_APP_STOPPING] = {"app.stopping", 1, BIT(F_APP), BIT(F_REASON)},
	[MSG_APP_STOPPED] = {"app.stopped", 1, BIT(F_APP), BIT(F_REASON)},
	[MSG_APP_FAILED] = {"app.failed", 1, BIT(F_APP) | BIT(F_REASON), 0},
	[MSG_APP_SCALED] = {"app.scaled", 1,
	    BIT(F_APP) | BIT(F_FROM) | BIT(F_TO), BIT(F_REASON)},
	[MSG_INSTANCE_READY] = {"instance.ready", 1,
	    BIT(F_APP) | BIT(F_INSTANCE) | BIT(F_ADDR),
	    BIT(F_HOST) | BIT(F_RELEASE) | BIT(F_START_MS) | BIT(F_READY_MS)},
	[MSG_INSTANCE_DRAINING] = {"instance.draining", 1,
	    BIT(F_APP) | BIT(F_INSTANCE), BIT(F_HOST) | BIT(F_REASON)},
	[MSG_INSTANCE_STOPPED] = {"instance.stopped", 1,
	    BIT(F_APP) | BIT(F_INSTANCE), BIT(F_HOST) | BIT(F_REASON)},
	[MSG_HOST_OVERLOADED] = {"host.overloaded", 1,
	    BIT(F_HOST) | BIT(F_ORIGIN) | BIT(F_METRIC) | BIT(F_VALUE), 0},
	[MSG_HOST_RECOVERED] = {"host.recovered", 1,
	    BIT(F_HOST) | BIT(F_ORIGIN) | BIT(F_METRIC) | BIT(F_VALUE), 0},
	[MSG_DEPLOY_STARTED] = {"deploy.started", 1,
	    BIT(F_APP) | BIT(F_RELEASE), 0},
	[MSG_DEPLOY_DONE] = {"deploy.done", 1,
	    BIT(F_APP) | BIT(F_RELEASE) | BIT(F_DURATION_MS), 0},
	[MSG_DEPLOY_FAILED] = {"deploy.failed", 1,
	    BIT(F_APP) | BIT(F_RELEASE) | BIT(F_REASON) | BIT(F_DURATION_MS),
	    BIT(F_PHASE)},
	[MSG_DEPLOY_PROGRESS] = {"deploy.progress", 1,
	    BIT(F_APP) | BIT(F_RELEASE) | BIT(F_PHASE), BIT(F_REASON)},
	[MSG_DEPLOY_SWITCHED] = {"deploy.switched", 1,
	    BIT(F_APP) | BIT(F_RELEASE), BIT(F_FROM) | BIT(F_TO)},
	[MSG_DEPLOY_ROLLEDBACK] = {"deploy.rolledback", 1,
	    BIT(F_APP) | BIT(F_RELEASE) | BIT(F_REASON), BIT(F_TO)},
	[MSG_POOL_LEASED] = {"pool.leased", 1,
	    BIT(F_POOL) | BIT(F_DOMAIN) | BIT(F_INSTANCE) | BIT(F_ADDR) |
	    BIT(F_TIER) | BIT(F_TTL_S) | BIT(F_ACQUIRE_MS), 0},
	[MSG_POOL_RELEASED] = {"pool.released", 1,
	    BIT(F_POOL) | BIT(F_DOMAIN) | BIT(F_INSTANCE) | BIT(F_REASON), 0},
	[MSG_POOL_REFILLED] = {"pool.refilled", 1,
	    BIT(F_POOL) | BIT(F_INSTANCE) | BIT(F_STATE), 0},
	[MSG_POOL_FAILING] = {"pool.failing", 1, BIT(F_POOL) | BIT(F_REASON),
	    0},
	[MSG_POOL_SAVE_FAILED] = {"pool.save_failed", 1,
	    BIT(F_POOL) | BIT(F_DOMAIN) | BIT(F_INSTANCE) | BIT(F_REASON), 0},
	[MSG_POOL_CHANGED] = {"pool.changed", 1, BIT(F_POOL), BIT(F_STATE)},
	[MSG_PING] = {"ping", 1, 0, 0},
	[MSG_PING_OK] = {"ping.ok", 1, SVC | BIT(F_VERSION) | BIT(F_UPTIME_MS),
	    BIT(F_PID)},
	[MSG_WAKE] = {"wake", 1, BIT(F_APP), 0},
	[MSG_WAKE_OK] = {"wake.ok", 1, BIT(F_APP) | BIT(F_ADDR),
	    BIT(F_STATE)},
	[MSG_STOP] = {"stop", 1, BIT(F_APP), BIT(F_REASON)},
	[MSG_STOP_OK] = {"stop.ok", 1, BIT(F_APP), BIT(F_STATE)},
	[MSG_SCALE] = {"scale", 1, BIT(F_APP) | BIT(F_TO), BIT(F_REASON)},
	[MSG_SCALE_OK] = {"scale.ok", 1, BIT(F_APP) | BIT(F_FROM) | BIT(F_TO),
	    BIT(F_REASON)},
	[MSG_ACQUIRE] = {"acquire", 1, BIT(F_POOL) | BIT(F_DOMAIN), 0},
	[MSG_ACQUIRE_OK] = {"acquire.ok", 1,
	    BIT(F_POOL) | BIT(F_DOMAIN) | BIT(F_INSTANCE) | BIT(F_ADDR) |
	    BIT(F_TTL_S), BIT(F_TIER) | BIT(F_ACQUIRE_MS)},
	[MSG_RELEASE] = {"release", 1, BIT(F_DOMAIN), BIT(F_REASON)},
	[MSG_RELEASE_OK] = {"release.ok", 1,
	    BIT(F_POOL) | BIT(F_DOMAIN) | BIT(F_INSTANCE) | BIT(F_REASON), 0},
	[MSG_STAGE] = {"stage", 1, BIT(F_APP) | BIT(F_RELEASE), 0},
	[MSG_STAGE_OK] = {"stage.ok", 1,
	    BIT(F_APP) | BIT(F_INSTANCE) | BIT(F_ADDR),
	    BIT(F_HOST) | BIT(F_RELEASE)},
	[MSG_RETIRE] = {"retire", 1, BIT(F_APP) | BIT(F_INSTANCE),
	    BIT(F_REASON)},
	[MSG_RETIRE_OK] = {"retire.ok", 1, BIT(F_APP) | BIT(F_INSTANCE), 0},
	[MSG_ERROR] = {"error", 1, BIT(F_REASON), BIT(F_APP)},
};

const char *
msg_type_name(enum msg_type type)
{
	if (type <= MSG_NONE || type >= MSG_TYPE_COUNT)
		return NULL;
	return defs[type].name;
}

enum msg_type
msg_type_lookup(const char *name, size_t len)
{
	for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++)
		if (strlen(defs[t].name) == len &&
		    memcmp(defs[t].name, name, len) == 0)
			return (enum msg_type)t;
	return MSG_NONE;
}

int
msg_type_version(enum msg_type type)
{
	return msg_type_name(type) ? defs[type].version : 0;
}

void
msg_init(struct msg *m, enum msg_type type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
}

static int64_t
msg_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char *
field_str(const struct msg *m, enum field_id f)
{
	return (const char *)m + fields[f].offset;
}

static int64_t
field_int(const struct msg *m, enum field_id f)
{
	return *(const int64_t *)(const void *)((const char *)m +
	    fields[f].offset);
}

static double
field_num(const struct msg *m, enum field_id f)
{
	return *(const double *)(const void *)((const char *)m +
	    fields[f].offset);
}

/* A number as people write it ("24.1", not json-c's "24.100000000000001");
 * JSON has no NaN or infinity, so those go out as 0. */
static json_object *
num_object(double d)
{
	char s[32];

	if (!isfinite(d))
		d = 0;
	snprintf(s, sizeof(s), "%.6g", d);
	return json_object_new_double_s(d, s);
}

/* Builds the JSON object of M, or NULL if a required field is empty. */
static json_object *
msg_object(const struct msg *m)
{
	const struct msg_def *d;
	json_object *o;
	unsigned all;

	if (msg_type_name(m->type) == NULL)
		return NULL;
	d = &defs[m->type];
	all = d->required | d->optional;
	for (int f = 0; f < F_COUNT; f++)
		if ((d->required & BIT(f)) && fields[f].kind == F_STR &&
		    field_str(m, f)[0] == '\0')
			return NULL;
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "v", json_object_new_int(d->version));
	json_object_object_add(o, "ts",
	    json_object_new_int64(m->ts ? m->ts : msg_now_ms()));
	json_object_object_add(o, "source",
	    json_object_new_string(m->source));
	for (int f = 0; f < F_COUNT; f++) {
		if (!(all & BIT(f)))
			continue;
		if (fields[f].kind == F_STR) {
			/* optional empty strings are left out */
			if (field_str(m, f)[0] != '\0' || (d->required & BIT(f)))
				json_object_object_add(o, fields[f].name,
				    json_object_new_string(field_str(m, f)));
		} else if (fields[f].kind == F_INT) {
			json_object_object_add(o, fields[f].name,
			    json_object_new_int64(field_int(m, f)));
		} else {
			json_object_object_add(o, fields[f].name,
			    num_object(field_num(m, f)));
		}
	}
	return o;
}

char *
msg_to_json(const struct msg *m)
{
	json_object *o = msg_object(m);
	char *s;

	if (o == NULL)
		return NULL;
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

char *
msg_encode(const struct msg *m, size_t *lenp)
{
	json_object *o = msg_object(m);
	const char *js;
	size_t tl, jl;
	char *buf = NULL;

	if (o == NULL)
		return NULL;
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	tl = strlen(defs[m->type].name);
	jl = strlen(js);
	if (tl + 1 + jl <= MSG_MAX_BYTES && (buf = malloc(tl + jl + 2))) {
		memcpy(buf, defs[m->type].name, tl);
		buf[tl] = ' ';
		memcpy(buf + tl + 1, js, jl + 1);
		*lenp = tl + 1 + jl;
	}
	json_object_put(o);
	return buf;
}

/*
 * json-c reads an integer that does not fit in int64 as INT64_MAX or
 * INT64_MIN without an error; no field of ours has those values, so they
 * mean "out of range".
 */
static bool
int_in_range(json_object *v)
{
	int64_t n = json_object_get_int64(v);

	return n != INT64_MAX && n != INT64_MIN;
}

static int
decode_field(struct msg *m, json_object *o, enum field_id f, bool required,
    char *err, size_t errlen)
{
	const struct field *fd = &fields[f];
	json_object *v;

	if (!json_object_object_get_ex(o, fd->name, &v) || v == NULL) {
		if (!required)
			return 0;
		snprintf(err, errlen, "missing field \"%s\"", fd->name);
		return -1;
	}
	if (fd->kind == F_STR) {
		const char *s;
		size_t n;

		if (!json_object_is_type(v, json_type_string)) {
			snprintf(err, errlen, "field \"%s\" must be a string",
			    fd->name);
			return -1;
		}
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (n >= fd->size || memchr(s, '\0', n) != NULL) {
			snprintf(err, errlen,
			    "field \"%s\" too long or holds NUL (max %zu)",
			    fd->name, fd->size - 1);
			return -1;
		}
		if (required && n == 0) {
			snprintf(err, errlen, "field \"%s\" is empty",
			    fd->name);
			return -1;
		}
		memcpy((char *)m + fd->offset, s, n + 1);
		return 0;
	}
	if (fd->kind == F_NUM) {
		double d;

		if (!json_object_is_type(v, json_type_int) &&
		    !json_object_is_type(v, json_type_double)) {
			snprintf(err, errlen, "field \"%s\" must be a number",
			    fd->name);
			return -1;
		}
		d = json_object_get_double(v);
		if (!isfinite(d)) {
			snprintf(err, errlen, "field \"%s\" out of range",
			    fd->name);
			return -1;
		}
		*(double *)(void *)((char *)m + fd->offset) = d;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "field \"%s\" must be an integer",
		    fd->name);
		return -1;
	}
	/* json-c clamps what does not fit in 64 bits to the limits */
	if (!int_in_range(v)) {
		snprintf(err, errlen, "field \"%s\" out of range", fd->name);
		return -1;
	}
	*(int64_t *)(void *)((char *)m + fd->offset) = json_object_get_int64(v);
	return 0;
}

int
msg_decode(struct msg *out, const char *buf, size_t len, char *err,
    size_t errlen)
{
	json_tokener *tok = NULL;
	json_object *o = NULL, *v;
	const char *sp;
	struct msg *m = NULL;
	const struct msg_def *d;
	enum msg_type type;
	enum json_tokener_error je;
	size_t jlen;
	int rc = -1;

	if (len > MSG_MAX_BYTES) {
		snprintf(err, errlen, "message of %zu bytes over the %d limit",
		    len, MSG_MAX_BYTES);
		return -1;
	}
	if ((sp = memchr(buf, ' ', len)) == NULL || sp == buf) {
		snprintf(err, errlen, "no topic (expected \"TOPIC JSON\")");
		return -1;
	}
	if ((type = msg_type_lookup(buf, (size_t)(sp - buf))) == MSG_NONE) {
		snprintf(err, errlen, "unknown type \"%.*s\"",
		    (int)(sp - buf) > 64 ? 64 : (int)(sp - buf), buf);
		return -1;
	}
	d = &defs[type];
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (tok = json_tokener_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	jlen = len - (size_t)(sp - buf) - 1;
	o = json_tokener_parse_ex(tok, sp + 1, (int)jlen);
	/*
	 * The tokener's error, not a NULL object, says whether the JSON
	 * parsed: a JSON null parses into NULL and is refused below.
	 */
	je = json_tokener_get_error(tok);
	if (je != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != jlen) {
		snprintf(err, errlen, "%s: malformed JSON (%s)", d->name,
		    je == json_tokener_success ? "trailing bytes" :
		    je == json_tokener_continue ? "truncated" :
		    json_tokener_error_desc(je));
		goto fail;
	}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "%s: body is not a JSON object", d->name);
		goto fail;
	}
	m->type = type;
	if (!json_object_object_get_ex(o, "v", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1 ||
	    json_object_get_int64(v) > 1000000) {
		snprintf(err, errlen, "%s: \"v\" must be a positive integer",
		    d->name);
		goto fail;
	}
	m->v = (int)json_object_get_int64(v);
	if (!json_object_object_get_ex(o, "ts", &v) ||
	    !json_object_is_type(v, json_type_int) || !int_in_range(v)) {
		snprintf(err, errlen, "%s: \"ts\" must be an integer",
		    d->name);
		goto fail;
	}
	m->ts = json_object_get_int64(v);
	if (!json_object_object_get_ex(o, "source", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= sizeof(m->source) ||
	    memchr(json_object_get_string(v), '\0',
	    (size_t)json_object_get_string_len(v)) != NULL) {
		snprintf(err, errlen, "%s: \"source\" must be a string "
		    "shorter than %zu bytes, without NUL", d->name,
		    sizeof(m->source));
		goto fail;
	}
	snprintf(m->source, sizeof(m->source), "%s", json_object_get_string(v));
	for (int f = 0; f < F_COUNT; f++) {
		char ferr[160];

		if (!((d->required | d->optional) & BIT(f)))
			continue;
		if (decode_field(m, o, f, (d->required & BIT(f)) != 0, ferr,
		    sizeof(ferr)) != 0) {
			snprintf(err, errlen, "%s: %s", d->name, ferr);
			goto fail;
		}
	}
	*out = *m;
	rc = 0;
fail:
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	free(m);
	return rc;
}
