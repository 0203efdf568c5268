/*
 * The message registry and codec (common/msg.c). The table below is the
 * contract as docs/events.md states it: which fields every type carries
 * and which of them are required. Round trips, then every way a frame
 * from outside can be wrong, then the docs check.
 */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "unit.h"

enum kind { STR, INT };

struct field {
	const char *name;
	enum kind kind;
	size_t offset;
	size_t size;		/* of the char array */
};

#define FS(n) { #n, STR, offsetof(struct msg, n), \
	sizeof(((struct msg *)0)->n) }
#define FI(n) { #n, INT, offsetof(struct msg, n), 0 }

static const struct field fields[] = {
	FS(service), FS(instance), FS(version), FS(control), FS(app),
	FS(domain), FS(target), FS(addr), FS(state), FS(reason),
	FI(uptime_ms), FI(queued_ms), FI(start_ms), FI(ready_ms), FI(pid),
	FS(host), FS(release), FI(from), FI(to), FS(origin), FS(metric),
	FS(pool), FS(tier), FI(ttl_s), FI(acquire_ms),
	FS(phase),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Space-separated field names. */
struct spec {
	enum msg_type type;
	const char *name;
	const char *required;
	const char *optional;
};

static const struct spec specs[] = {
	{MSG_SERVICE_UP, "service.up", "service instance version uptime_ms",
	    "control pid"},
	{MSG_SERVICE_DOWN, "service.down", "service instance",
	    "reason uptime_ms"},
	{MSG_ROUTE_CHANGED, "route.changed", "domain", "target"},
	{MSG_APP_CHANGED, "app.changed", "app", "state"},
	{MSG_APP_WAKING, "app.waking", "app", "reason"},
	{MSG_APP_READY, "app.ready", "app addr",
	    "queued_ms start_ms ready_ms"},
	{MSG_APP_STOPPING, "app.stopping", "app", "reason"},
	{MSG_APP_STOPPED, "app.stopped", "app", "reason"},
	{MSG_APP_FAILED, "app.failed", "app reason", ""},
	{MSG_APP_SCALED, "app.scaled", "app from to", "reason"},
	{MSG_INSTANCE_READY, "instance.ready", "app instance addr",
	    "host release start_ms ready_ms"},
	{MSG_INSTANCE_DRAINING, "instance.draining", "app instance",
	    "host reason"},
	{MSG_INSTANCE_STOPPED, "instance.stopped", "app instance",
	    "host reason"},
	{MSG_HOST_OVERLOADED, "host.overloaded", "host origin metric value", ""},
	{MSG_HOST_RECOVERED, "host.recovered", "host origin metric value", ""},
	{MSG_DEPLOY_STARTED, "deploy.started", "app release", ""},
	{MSG_DEPLOY_DONE, "deploy.done", "app release duration_ms", ""},
	{MSG_DEPLOY_FAILED, "deploy.failed", "app release reason duration_ms",
	    "phase"},
	{MSG_DEPLOY_PROGRESS, "deploy.progress", "app release phase", "reason"},
	{MSG_DEPLOY_SWITCHED, "deploy.switched", "app release", "from to"},
	{MSG_DEPLOY_ROLLEDBACK, "deploy.rolledback", "app release reason",
	    "to"},
	{MSG_POOL_LEASED, "pool.leased",
	    "pool domain instance addr tier ttl_s acquire_ms", ""},
	{MSG_POOL_RELEASED, "pool.released", "pool domain instance reason",
	    ""},
	{MSG_POOL_REFILLED, "pool.refilled", "pool instance state", ""},
	{MSG_POOL_FAILING, "pool.failing", "pool reason", ""},
	{MSG_POOL_SAVE_FAILED, "pool.save_failed",
	    "pool domain instance reason", ""},
	{MSG_POOL_CHANGED, "pool.changed", "pool", "state"},
	{MSG_PING, "ping", "", ""},
	{MSG_PING_OK, "ping.ok", "service instance version uptime_ms", "pid"},
	{MSG_WAKE, "wake", "app", ""},
	{MSG_ACQUIRE, "acquire", "pool domain", ""},
	{MSG_ACQUIRE_OK, "acquire.ok", "pool domain instance addr ttl_s",
	    "tier acquire_ms"},
	{MSG_RELEASE, "release", "domain", "reason"},
	{MSG_RELEASE_OK, "release.ok", "pool domain instance reason", ""},
	{MSG_WAKE_OK, "wake.ok", "app addr", "state"},
	{MSG_STOP, "stop", "app", "reason"},
	{MSG_STOP_OK, "stop.ok", "app", "state"},
	{MSG_SCALE, "scale", "app to", "reason"},
	{MSG_SCALE_OK, "scale.ok", "app from to", "reason"},
	{MSG_STAGE, "stage", "app release", ""},
	{MSG_STAGE_OK, "stage.ok", "app instance addr", "host release"},
	{MSG_RETIRE, "retire", "app instance", "reason"},
	{MSG_RETIRE_OK, "retire.ok", "app instance", ""},
	{MSG_ERROR, "error", "reason", "app"},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

/* NAME is a word of the space-separated LIST. */
static bool
in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static bool
carried(const struct spec *s, const struct field *f)
{
	return in_list(s->required, f->name) || in_list(s->optional, f->name);
}

static char *
fstr(struct msg *m, const struct field *f)
{
	return (char *)m + f->offset;
}

static int64_t *
fint(struct msg *m, const struct field *f)
{
	return (int64_t *)(void *)((char *)m + f->offset);
}


/* Every field of M set to a distinct, valid value. */
static void
fill_all(struct msg *m, enum msg_type type)
{
	msg_init(m, type);
	m->ts = 1764158400123;
	snprintf(m->source, sizeof(m->source), "autostart/host-42");
	for (size_t i = 0; i < NFIELDS; i++) {
		if (fields[i].kind == STR)
			snprintf(fstr(m, &fields[i]), fields[i].size,
			    "%s-value \"quoted\" /slash/ caf\xc3\xa9",
			    fields[i].name);
		else
			*fint(m, &fields[i]) = 1000 + (int64_t)i * 7;
	}
}

/* Decodes the NUL-terminated FRAME; 0 or -1, ERR filled. */
static int
decode(struct msg *m, const char *frame, char *err, size_t errlen)
{
	err[0] = '\0';
	return msg_decode(m, frame, strlen(frame), err, errlen);
}

/*
 * A valid frame of SPEC with every carried field, as a json-c object the
 * case may change before framing it with frame_of().
 */
static json_object *
valid_object(const struct spec *s)
{
	struct msg m;
	char *js;
	json_object *o;

	fill_all(&m, s->type);
	if ((js = msg_to_json(&m)) == NULL)
		return NULL;
	o = json_tokener_parse(js);
	free(js);
	return o;
}

/* "TOPIC JSON" of O; takes O; caller frees. */
static char *
frame_of(const char *topic, json_object *o)
{
	const char *js = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(topic) + strlen(js) + 2;
	char *f = malloc(n);

	if (f != NULL)
		snprintf(f, n, "%s %s", topic, js);
	json_object_put(o);
	return f;
}

static void
test_type_names(void)
{
	CHECK_INTEQ(NSPECS, MSG_TYPE_COUNT - 1);
	for (size_t i = 0; i < NSPECS; i++) {
		const char *n = msg_type_name(specs[i].type);

		CHECK_STREQ(n, specs[i].name);
		CHECK_INTEQ(msg_type_lookup(specs[i].name,
		    strlen(specs[i].name)), specs[i].type);
		CHECK(msg_type_version(specs[i].type) >= 1);
	}
	CHECK(msg_type_name(MSG_NONE) == NULL);
	CHECK(msg_type_name(MSG_TYPE_COUNT) == NULL);
	CHECK(msg_type_name((enum msg_type)-1) == NULL);
	CHECK_INTEQ(msg_type_version(MSG_NONE), 0);
	CHECK_INTEQ(msg_type_lookup("app", 3), MSG_NONE);
	CHECK_INTEQ(msg_type_lookup("app.ready", 3), MSG_NONE);
	CHECK_INTEQ(msg_type_lookup("app.readyx", 10), MSG_NONE);
	CHECK_INTEQ(msg_type_lookup("APP.READY", 9), MSG_NONE);
	CHECK_INTEQ(msg_type_lookup("", 0), MSG_NONE);
	/* the length counts, not a NUL */
	CHECK_INTEQ(msg_type_lookup("pingpong", 4), MSG_PING);
}

/*
 * Encode then decode every type: the fields the type carries come back
 * equal, the others are not sent and come back empty.
 */
static void
test_roundtrip_every_type(void)
{
	for (size_t i = 0; i < NSPECS; i++) {
		const struct spec *s = &specs[i];
		struct msg in, out;
		char err[256], *buf;
		size_t len = 0;

		fill_all(&in, s->type);
		buf = msg_encode(&in, &len);
		CHECK(buf != NULL);
		if (buf == NULL)
			continue;
		CHECK_INTEQ(len, strlen(buf));
		CHECK(strncmp(buf, s->name, strlen(s->name)) == 0 &&
		    buf[strlen(s->name)] == ' ');
		memset(&out, 0x5a, sizeof(out));
		CHECK_INTEQ(msg_decode(&out, buf, len, err, sizeof(err)), 0);
		free(buf);
		CHECK_INTEQ(out.type, s->type);
		CHECK_INTEQ(out.v, msg_type_version(s->type));
		CHECK_INTEQ(out.ts, in.ts);
		CHECK_STREQ(out.source, in.source);
		for (size_t f = 0; f < NFIELDS; f++) {
			const struct field *fd = &fields[f];
			bool c = carried(s, fd);

			if (fd->kind == STR) {
				CHECK_STREQ(fstr(&out, fd),
				    c ? fstr(&in, fd) : "");
				if (c != (strcmp(fstr(&out, fd), "") != 0))
					fprintf(stderr, "  (%s.%s)\n",
					    s->name, fd->name);
			} else {
				CHECK_INTEQ(*fint(&out, fd),
				    c ? *fint(&in, fd) : 0);
			}
		}
	}
}

/* Only the required fields set: still a valid frame, nothing invented. */
static void
test_roundtrip_required_only(void)
{
	for (size_t i = 0; i < NSPECS; i++) {
		const struct spec *s = &specs[i];
		struct msg in, out;
		char err[256], *buf;
		size_t len;

		msg_init(&in, s->type);
		for (size_t f = 0; f < NFIELDS; f++) {
			if (!in_list(s->required, fields[f].name))
				continue;
			if (fields[f].kind == STR)
				snprintf(fstr(&in, &fields[f]),
				    fields[f].size, "x");
			else
				*fint(&in, &fields[f]) = -1;
		}
		buf = msg_encode(&in, &len);
		CHECK(buf != NULL);
		if (buf == NULL)
			continue;
		if (msg_decode(&out, buf, len, err, sizeof(err)) != 0) {
			unit_fail(__FILE__, __LINE__, "%s: %s", buf, err);
		} else {
			CHECK(out.ts > 0);	/* the encoder stamped it */
			CHECK_STREQ(out.source, "");
			CHECK_STREQ(out.reason,
			    in_list(s->required, "reason") ? "x" : "");
		}
		free(buf);
	}
}

static void
test_encode_keeps_ts(void)
{
	struct msg m, out;
	char err[256], *buf;
	size_t len;

	msg_init(&m, MSG_PING);
	m.ts = 42;
	REQUIRE((buf = msg_encode(&m, &len)) != NULL);
	CHECK_INTEQ(msg_decode(&out, buf, len, err, sizeof(err)), 0);
	CHECK_INTEQ(out.ts, 42);
	free(buf);
}

static void
test_encode_refuses(void)
{
	struct msg m;
	size_t len = 12345;

	/* each required string of each type, left empty */
	for (size_t i = 0; i < NSPECS; i++) {
		for (size_t f = 0; f < NFIELDS; f++) {
			const struct field *fd = &fields[f];
			char *buf;

			if (fd->kind != STR ||
			    !in_list(specs[i].required, fd->name))
				continue;
			fill_all(&m, specs[i].type);
			fstr(&m, fd)[0] = '\0';
			buf = msg_encode(&m, &len);
			CHECK(buf == NULL);
			if (buf != NULL)
				fprintf(stderr, "  encoded %s without %s\n",
				    specs[i].name, fd->name);
			free(buf);
		}
	}
	msg_init(&m, MSG_NONE);
	CHECK(msg_encode(&m, &len) == NULL);
	msg_init(&m, MSG_TYPE_COUNT);
	CHECK(msg_encode(&m, &len) == NULL);
	CHECK_INTEQ(len, 12345);	/* untouched on failure */
}

static void
test_to_json(void)
{
	struct msg m;
	json_object *o, *v;
	char *js;

	fill_all(&m, MSG_APP_READY);
	REQUIRE((js = msg_to_json(&m)) != NULL);
	CHECK(js[0] == '{');
	o = json_tokener_parse(js);
	free(js);
	REQUIRE(o != NULL);
	CHECK(json_object_object_get_ex(o, "v", &v) &&
	    json_object_get_int(v) == msg_type_version(MSG_APP_READY));
	CHECK(json_object_object_get_ex(o, "ts", &v) &&
	    json_object_get_int64(v) == m.ts);
	CHECK(json_object_object_get_ex(o, "source", &v) &&
	    strcmp(json_object_get_string(v), m.source) == 0);
	CHECK(json_object_object_get_ex(o, "app", &v) &&
	    strcmp(json_object_get_string(v), m.app) == 0);
	CHECK(json_object_object_get_ex(o, "addr", &v));
	CHECK(json_object_object_get_ex(o, "ready_ms", &v) &&
	    json_object_get_int64(v) == m.ready_ms);
	/* fields app.ready does not carry are not written */
	CHECK(!json_object_object_get_ex(o, "domain", NULL));
	CHECK(!json_object_object_get_ex(o, "pid", NULL));
	/* the type is the topic, not a field */
	CHECK(!json_object_object_get_ex(o, "type", NULL));
	json_object_put(o);

	/* optional empty strings are left out */
	fill_all(&m, MSG_STOP);
	m.reason[0] = '\0';
	REQUIRE((js = msg_to_json(&m)) != NULL);
	CHECK(strstr(js, "\"reason\"") == NULL);
	free(js);

	msg_init(&m, MSG_WAKE);
	CHECK(msg_to_json(&m) == NULL);		/* app is required */
	msg_init(&m, MSG_NONE);
	CHECK(msg_to_json(&m) == NULL);
}

static const char ping_ok[] = "ping {\"v\":1,\"ts\":5,\"source\":\"t/1\"}";

/* The reference frame decodes; the failure cases below differ from it. */
static void
test_minimal_frame(void)
{
	struct msg m;
	char err[256];

	CHECK_INTEQ(decode(&m, ping_ok, err, sizeof(err)), 0);
	CHECK_INTEQ(m.type, MSG_PING);
	CHECK_INTEQ(m.v, 1);
	CHECK_INTEQ(m.ts, 5);
	CHECK_STREQ(m.source, "t/1");
	/* whitespace around the JSON is JSON */
	CHECK_INTEQ(decode(&m, "ping  { \"v\" : 1, \"ts\" : 5, "
	    "\"source\" : \"\" }\n", err, sizeof(err)), 0);
}

/* Each frame must be refused with ERR containing WHY. */
struct bad {
	const char *frame;
	const char *why;
};

static void
check_bad(const struct bad *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct msg m, before;
		char err[256];

		memset(&m, 0xa5, sizeof(m));
		before = m;
		if (decode(&m, b[i].frame, err, sizeof(err)) == 0) {
			unit_fail(__FILE__, __LINE__, "accepted: %s",
			    b[i].frame);
			continue;
		}
		if (strstr(err, b[i].why) == NULL)
			unit_fail(__FILE__, __LINE__,
			    "%s: error \"%s\" lacks \"%s\"", b[i].frame, err,
			    b[i].why);
		/* M is written only on success */
		CHECK(memcmp(&m, &before, sizeof(m)) == 0);
	}
}

/* Frames O (taken) with the topic of S; it must be refused with WHY. */
static void
check_bad_object(const struct spec *s, json_object *o, const char *why)
{
	struct bad b = {frame_of(s->name, o), why};

	if (b.frame == NULL) {
		unit_fail(__FILE__, __LINE__, "%s: no frame", s->name);
		return;
	}
	check_bad(&b, 1);
	free((char *)b.frame);
}

static void
test_malformed_json(void)
{
	static const struct bad bad[] = {
		{"ping {", "malformed JSON"},
		{"ping {\"v\":1,\"ts\":5,", "malformed JSON"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\"", "malformed JSON"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1", "malformed JSON"},
		{"ping ", "malformed JSON"},
		{"ping {v:1}", "malformed JSON"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\",}",
		    "malformed JSON"},
		{"ping {\"v\":01,\"ts\":5,\"source\":\"t/1\"}",
		    "malformed JSON"},
		{"ping {\"v\" 1}", "malformed JSON"},
		{"ping }", "malformed JSON"},
		{"ping nonsense", "malformed JSON"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"\\x41\"}",
		    "malformed JSON"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\",\"x\":"
		    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		    "malformed JSON"},
	};

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

static void
test_truncated(void)
{
	struct bad b = {NULL, "malformed JSON"};
	char frame[sizeof(ping_ok)];

	/* every prefix of a good frame that still has its topic */
	for (size_t n = strlen("ping "); n < strlen(ping_ok); n++) {
		memcpy(frame, ping_ok, n);
		frame[n] = '\0';
		b.frame = frame;
		check_bad(&b, 1);
	}
}

static void
test_trailing_bytes(void)
{
	static const struct bad bad[] = {
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\"}x", "malformed"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\"} x", "malformed"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\"}{}", "malformed"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\"} 1", "malformed"},
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\"}]", "malformed"},
	};

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* Bytes after a NUL are still bytes of the frame: refused, not cut. */
static void
test_embedded_nul(void)
{
	char frame[sizeof(ping_ok) + 8], err[256];
	struct msg m;
	size_t n = strlen(ping_ok);

	memcpy(frame, ping_ok, n);
	memcpy(frame + n, "\0junk", 5);
	CHECK(msg_decode(&m, frame, n + 5, err, sizeof(err)) == -1);
	CHECK(msg_decode(&m, frame, n + 1, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "malformed");
	/* a NUL inside the JSON text */
	memcpy(frame, ping_ok, n + 1);
	frame[10] = '\0';
	CHECK(msg_decode(&m, frame, n, err, sizeof(err)) == -1);
	/* a NUL in the topic */
	memcpy(frame, ping_ok, n + 1);
	frame[2] = '\0';
	CHECK(msg_decode(&m, frame, n, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "unknown type");
}

/* "\u0000" inside a string: the field would be cut short, so refused. */
static void
test_escaped_nul(void)
{
	static const struct bad bad[] = {
		{"wake {\"v\":1,\"ts\":5,\"source\":\"t/1\","
		    "\"app\":\"blog\\u0000x\"}", "\"app\""},
		{"error {\"v\":1,\"ts\":5,\"source\":\"t/1\","
		    "\"reason\":\"x\",\"app\":\"\\u0000\"}", "\"app\""},
		/* source is a string like any other */
		{"ping {\"v\":1,\"ts\":5,\"source\":\"t/1\\u0000x\"}",
		    "source"},
	};

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

static void
test_not_an_object(void)
{
	static const struct bad bad[] = {
		{"ping []", "not a JSON object"},
		{"ping [{\"v\":1,\"ts\":5,\"source\":\"t/1\"}]",
		    "not a JSON object"},
		{"ping \"v\"", "not a JSON object"},
		{"ping true ", "not a JSON object"},
		{"ping 5 ", "not a JSON object"},
		/*
		 * A bare scalar at the very end of the frame could still
		 * grow ("5" -> "50"), so json-c calls it truncated: refused
		 * all the same.
		 */
		{"ping null", "malformed JSON"},
		{"ping true", "malformed JSON"},
		{"ping 5", "malformed JSON"},
	};

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/*
 * A JSON null is a complete value; json-c hands it back as a NULL object
 * with no error, which must not read "malformed JSON (success)".
 */
static void
test_null_body(void)
{
	static const struct bad bad[] = {
		{"ping null ", "not a JSON object"},
	};

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

static void
test_envelope(void)
{
	static const struct bad bad[] = {
		{"ping {\"ts\":5,\"source\":\"t/1\"}", "\"v\""},
		{"ping {\"v\":0,\"ts\":5,\"source\":\"t/1\"}", "\"v\""},
		{"ping {\"v\":-1,\"ts\":5,\"source\":\"t/1\"}", "\"v\""},
		{"ping {\"v\":1.0,\"ts\":5,\"source\":\"t/1\"}", "\"v\""},
		{"ping {\"v\":\"1\",\"ts\":5,\"source\":\"t/1\"}", "\"v\""},
		{"ping {\"v\":true,\"ts\":5,\"source\":\"t/1\"}", "\"v\""},
		{"ping {\"v\":null,\"ts\":5,\"source\":\"t/1\"}", "\"v\""},
		{"ping {\"v\":1,\"source\":\"t/1\"}", "\"ts\""},
		{"ping {\"v\":1,\"ts\":\"5\",\"source\":\"t/1\"}", "\"ts\""},
		{"ping {\"v\":1,\"ts\":5.5,\"source\":\"t/1\"}", "\"ts\""},
		{"ping {\"v\":1,\"ts\":5}", "\"source\""},
		{"ping {\"v\":1,\"ts\":5,\"source\":7}", "\"source\""},
		{"ping {\"v\":1,\"ts\":5,\"source\":null}", "\"source\""},
		{"ping {\"v\":1,\"ts\":5,\"source\":{}}", "\"source\""},
	};

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* Every field of every type, given the other kind of JSON value. */
static void
test_wrong_field_types(void)
{
	for (size_t i = 0; i < NSPECS; i++) {
		for (size_t f = 0; f < NFIELDS; f++) {
			const struct field *fd = &fields[f];
			json_object *o;
			char why[64];

			if (!carried(&specs[i], fd))
				continue;
			REQUIRE((o = valid_object(&specs[i])) != NULL);
			json_object_object_add(o, fd->name, fd->kind == STR ?
			    json_object_new_int(5) :
			    json_object_new_string("5"));
			snprintf(why, sizeof(why), "\"%s\" must be %s",
			    fd->name, fd->kind == STR ? "a string" :
			    "an integer");
			check_bad_object(&specs[i], o, why);
		}
	}
	/* a float, a bool, an object, null are no integer either */
	check_bad((const struct bad[]){
	    {"app.ready {\"v\":1,\"ts\":5,\"source\":\"t\",\"app\":\"a\","
		"\"addr\":\"b\",\"ready_ms\":1.5}", "\"ready_ms\""},
	    {"app.ready {\"v\":1,\"ts\":5,\"source\":\"t\",\"app\":\"a\","
		"\"addr\":\"b\",\"ready_ms\":true}", "\"ready_ms\""},
	    {"app.ready {\"v\":1,\"ts\":5,\"source\":\"t\",\"app\":\"a\","
		"\"addr\":\"b\",\"ready_ms\":{}}", "\"ready_ms\""},
	    {"wake {\"v\":1,\"ts\":5,\"source\":\"t\",\"app\":[\"a\"]}",
		"\"app\""},
	    {"wake {\"v\":1,\"ts\":5,\"source\":\"t\",\"app\":false}",
		"\"app\""},
	}, 5);
}

/* Every required field of every type, left out, then set to null. */
static void
test_missing_required(void)
{
	for (size_t i = 0; i < NSPECS; i++) {
		for (size_t f = 0; f < NFIELDS; f++) {
			const struct field *fd = &fields[f];
			json_object *o;
			char why[64];

			if (!in_list(specs[i].required, fd->name))
				continue;
			snprintf(why, sizeof(why), "missing field \"%s\"",
			    fd->name);

			REQUIRE((o = valid_object(&specs[i])) != NULL);
			json_object_object_del(o, fd->name);
			check_bad_object(&specs[i], o, why);

			REQUIRE((o = valid_object(&specs[i])) != NULL);
			json_object_object_add(o, fd->name, NULL);
			check_bad_object(&specs[i], o, why);
		}
	}
}

/* Optional fields may be left out; the rest of the message decodes. */
static void
test_optional_absent(void)
{
	for (size_t i = 0; i < NSPECS; i++) {
		json_object *o;
		struct msg m;
		char *frame, err[256];

		REQUIRE((o = valid_object(&specs[i])) != NULL);
		for (size_t f = 0; f < NFIELDS; f++)
			if (in_list(specs[i].optional, fields[f].name))
				json_object_object_del(o, fields[f].name);
		REQUIRE((frame = frame_of(specs[i].name, o)) != NULL);
		if (decode(&m, frame, err, sizeof(err)) != 0)
			unit_fail(__FILE__, __LINE__, "%s: %s", frame, err);
		free(frame);
	}
}

static void
test_empty_required_string(void)
{
	for (size_t i = 0; i < NSPECS; i++) {
		for (size_t f = 0; f < NFIELDS; f++) {
			const struct field *fd = &fields[f];
			json_object *o;
			char why[64];

			if (fd->kind != STR ||
			    !in_list(specs[i].required, fd->name))
				continue;
			REQUIRE((o = valid_object(&specs[i])) != NULL);
			json_object_object_add(o, fd->name,
			    json_object_new_string(""));
			snprintf(why, sizeof(why), "\"%s\" is empty",
			    fd->name);
			check_bad_object(&specs[i], o, why);
		}
	}
	/* an optional one may be empty */
	{
		struct msg m;
		char err[256];

		CHECK_INTEQ(decode(&m, "stop {\"v\":1,\"ts\":5,\"source\":\"t\","
		    "\"app\":\"a\",\"reason\":\"\"}", err, sizeof(err)), 0);
	}
}

static void
test_unknown_type(void)
{
	static const struct bad bad[] = {
		{"app.exploded {\"v\":1,\"ts\":5,\"source\":\"t/1\"}",
		    "unknown type \"app.exploded\""},
		{"PING {\"v\":1,\"ts\":5,\"source\":\"t/1\"}", "unknown type"},
		{"app. {\"v\":1,\"ts\":5,\"source\":\"t/1\"}", "unknown type"},
		{"app {\"v\":1,\"ts\":5,\"source\":\"t/1\"}", "unknown type"},
		{"pingx {\"v\":1,\"ts\":5,\"source\":\"t/1\"}", "unknown type"},
		{"{\"v\": 1}", "unknown type"},
	};
	char longtopic[300 + sizeof(ping_ok)], err[256];
	struct msg m;

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
	/* a long topic is quoted only in part */
	memset(longtopic, 't', 300);
	snprintf(longtopic + 300, sizeof(longtopic) - 300, "%s", ping_ok + 4);
	CHECK(decode(&m, longtopic, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "unknown type");
	CHECK(strlen(err) < 120);
}

static void
test_no_topic(void)
{
	static const struct bad bad[] = {
		{"{\"v\":1,\"ts\":5,\"source\":\"t/1\"}", "no topic"},
		{" {\"v\":1,\"ts\":5,\"source\":\"t/1\"}", "no topic"},
		{"ping", "no topic"},
		{"", "no topic"},
		{" ", "no topic"},
	};

	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* Fields a newer sender adds are skipped, whatever their shape. */
static void
test_unknown_fields_ignored(void)
{
	struct msg m;
	char err[256];

	CHECK_INTEQ(decode(&m, "wake {\"v\":1,\"ts\":5,\"source\":\"t/1\","
	    "\"app\":\"blog\",\"priority\":\"high\",\"n\":3,\"f\":1.5,"
	    "\"nested\":{\"a\":[1,2,{\"b\":null}]},\"flag\":true,"
	    "\"nothing\":null}", err, sizeof(err)), 0);
	CHECK_STREQ(m.app, "blog");
	/* a newer schema version of a known type decodes as well */
	CHECK_INTEQ(decode(&m, "wake {\"v\":2,\"ts\":5,\"source\":\"t/1\","
	    "\"app\":\"blog\",\"since\":\"v2\"}", err, sizeof(err)), 0);
	CHECK_INTEQ(m.v, 2);
	/* fields of other types are not taken either */
	CHECK_INTEQ(decode(&m, "wake {\"v\":1,\"ts\":5,\"source\":\"t/1\","
	    "\"app\":\"blog\",\"domain\":\"x.example\",\"pid\":7}", err,
	    sizeof(err)), 0);
	CHECK_STREQ(m.domain, "");
	CHECK_INTEQ(m.pid, 0);
}

/* Frame length: MSG_MAX_BYTES is accepted, one byte more is not. */
static void
test_oversized(void)
{
	static const char head[] = "wake {\"v\":1,\"ts\":5,\"source\":\"t\","
	    "\"app\":\"a\",\"pad\":\"";
	size_t n = MSG_MAX_BYTES + 1;
	char *frame, err[256];
	struct msg m;

	REQUIRE((frame = malloc(n + 1)) != NULL);
	memset(frame, 'x', n);
	memcpy(frame, head, strlen(head));
	frame[n - 2] = '"';
	frame[n - 1] = '}';
	frame[n] = '\0';
	CHECK(msg_decode(&m, frame, n, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "over the");
	/* same frame, one 'x' less */
	memmove(frame + n - 3, frame + n - 2, 3);
	CHECK_INTEQ(strlen(frame), MSG_MAX_BYTES);
	if (msg_decode(&m, frame, MSG_MAX_BYTES, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "%d bytes refused: %s",
		    MSG_MAX_BYTES, err);
	/* a huge length is refused before anything is read */
	CHECK(msg_decode(&m, frame, SIZE_MAX, err, sizeof(err)) == -1);
	free(frame);
}

/* Each string field: its size - 1 bytes fit, its size do not. */
static void
test_string_too_long(void)
{
	for (size_t i = 0; i < NSPECS; i++) {
		for (size_t f = 0; f < NFIELDS; f++) {
			const struct field *fd = &fields[f];
			json_object *o;
			char *s, *frame, err[256];
			struct msg m;

			if (fd->kind != STR || !carried(&specs[i], fd))
				continue;
			REQUIRE((s = malloc(fd->size + 1)) != NULL);
			memset(s, 'y', fd->size);
			s[fd->size - 1] = '\0';
			REQUIRE((o = valid_object(&specs[i])) != NULL);
			json_object_object_add(o, fd->name,
			    json_object_new_string(s));
			REQUIRE((frame = frame_of(specs[i].name, o)) != NULL);
			if (decode(&m, frame, err, sizeof(err)) != 0)
				unit_fail(__FILE__, __LINE__,
				    "%s.%s of %zu bytes refused: %s",
				    specs[i].name, fd->name, fd->size - 1,
				    err);
			else
				CHECK_INTEQ(strlen(fstr(&m, fd)),
				    fd->size - 1);
			free(frame);

			s[fd->size - 1] = 'y';
			s[fd->size] = '\0';
			REQUIRE((o = valid_object(&specs[i])) != NULL);
			json_object_object_add(o, fd->name,
			    json_object_new_string(s));
			check_bad_object(&specs[i], o, fd->name);
			free(s);
		}
	}
	/* the envelope's source as well */
	{
		char *frame;
		size_t n = sizeof(((struct msg *)0)->source);
		struct msg m;
		char err[256];

		REQUIRE((frame = malloc(n + 64)) != NULL);
		snprintf(frame, n + 64, "ping {\"v\":1,\"ts\":5,\"source\":\""
		    "%0*d\"}", (int)n - 1, 0);
		CHECK_INTEQ(decode(&m, frame, err, sizeof(err)), 0);
		snprintf(frame, n + 64, "ping {\"v\":1,\"ts\":5,\"source\":\""
		    "%0*d\"}", (int)n, 0);
		CHECK(decode(&m, frame, err, sizeof(err)) == -1);
		CHECK_CONTAINS(err, "source");
		free(frame);
	}
}

/*
 * An integer that does not fit in 64 bits is refused, not silently
 * replaced by INT64_MAX / INT64_MIN.
 */
static void
test_integer_range(void)
{
	static const struct bad bad[] = {
		{"ping.ok {\"v\":1,\"ts\":5,\"source\":\"t\",\"service\":\"s\","
		    "\"instance\":\"i\",\"version\":\"1\",\"uptime_ms\":1,"
		    "\"pid\":99999999999999999999}", "\"pid\""},
		{"ping.ok {\"v\":1,\"ts\":5,\"source\":\"t\",\"service\":\"s\","
		    "\"instance\":\"i\",\"version\":\"1\",\"uptime_ms\":1,"
		    "\"pid\":-99999999999999999999}", "\"pid\""},
		{"ping {\"v\":1,\"ts\":99999999999999999999,\"source\":\"t\"}",
		    "\"ts\""},
	};
	struct msg m;
	char err[256];

	CHECK_INTEQ(decode(&m, "ping.ok {\"v\":1,\"ts\":5,\"source\":\"t\","
	    "\"service\":\"s\",\"instance\":\"i\",\"version\":\"1\","
	    "\"uptime_ms\":9007199254740993,\"pid\":-1}", err, sizeof(err)),
	    0);
	CHECK_INTEQ(m.uptime_ms, 9007199254740993LL);
	CHECK_INTEQ(m.pid, -1);
	check_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* ERR is always a terminated string, even when small. */
static void
test_small_err_buffer(void)
{
	struct msg m;
	char err[8];

	memset(err, 'z', sizeof(err));
	CHECK(msg_decode(&m, "nope {}", 7, err, sizeof(err)) == -1);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
}

/* Returns the "### `NAME`" section of DOC (up to the next heading). */
static char *
doc_section(const char *doc, const char *name)
{
	char head[96];
	const char *p, *end;
	char *s;

	snprintf(head, sizeof(head), "\n### `%s`", name);
	if ((p = strstr(doc, head)) == NULL)
		return NULL;
	p += strlen(head);
	if (*p != '\n' && *p != ' ')
		return NULL;
	for (end = p; (end = strstr(end, "\n#")) != NULL; end++)
		if (strncmp(end, "\n## ", 4) == 0 ||
		    strncmp(end, "\n### ", 5) == 0)
			break;
	if (end == NULL)
		end = p + strlen(p);
	if ((s = malloc((size_t)(end - p) + 1)) == NULL)
		return NULL;
	memcpy(s, p, (size_t)(end - p));
	s[end - p] = '\0';
	return s;
}

/*
 * docs/events.md is the contract: a "### `TYPE`" section for every type
 * of the registry, naming each of its fields.
 */
static void
test_docs_events(void)
{
	char *doc = unit_read_source("docs/events.md");

	REQUIRE(doc != NULL);
	for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++) {
		const char *name = msg_type_name((enum msg_type)t);
		const struct spec *s = NULL;
		char *sec;

		REQUIRE(name != NULL);
		for (size_t i = 0; i < NSPECS; i++)
			if (specs[i].type == (enum msg_type)t)
				s = &specs[i];
		if ((sec = doc_section(doc, name)) == NULL) {
			unit_fail(__FILE__, __LINE__,
			    "docs/events.md has no \"### `%s`\" section",
			    name);
			continue;
		}
		for (size_t f = 0; s != NULL && f < NFIELDS; f++) {
			char tick[32];

			if (!carried(s, &fields[f]))
				continue;
			snprintf(tick, sizeof(tick), "`%s`", fields[f].name);
			if (strstr(sec, tick) == NULL)
				unit_fail(__FILE__, __LINE__,
				    "docs/events.md: %s does not list %s",
				    name, tick);
		}
		/* an example frame of the type */
		{
			char ex[96];

			snprintf(ex, sizeof(ex), "%s {", name);
			if (strstr(sec, ex) == NULL)
				unit_fail(__FILE__, __LINE__,
				    "docs/events.md: %s has no example frame",
				    name);
		}
		free(sec);
	}
	free(doc);
}

/* The example frames in docs/events.md decode. */
static void
test_docs_examples_decode(void)
{
	char *doc = unit_read_source("docs/events.md");
	int seen = 0;

	REQUIRE(doc != NULL);
	for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++) {
		const char *name = msg_type_name((enum msg_type)t);
		char *sec = doc_section(doc, name);
		char ex[96], err[256];
		const char *p, *nl;
		struct msg m;

		if (sec == NULL)
			continue;	/* test_docs_events says so */
		snprintf(ex, sizeof(ex), "\n%s {", name);
		if ((p = strstr(sec, ex)) != NULL) {
			p++;
			nl = strchr(p, '\n');
			if (msg_decode(&m, p, nl ? (size_t)(nl - p) :
			    strlen(p), err, sizeof(err)) != 0)
				unit_fail(__FILE__, __LINE__,
				    "docs/events.md: %s example: %s", name,
				    err);
			else
				CHECK_INTEQ(m.type, t);
			seen++;
		}
		free(sec);
	}
	CHECK_INTEQ(seen, MSG_TYPE_COUNT - 1);
	free(doc);
}

/* "value" is the one number that is not an integer: 24.1 stays 24.1. */
static void
test_number_field(void)
{
	struct msg in, out;
	char err[256], *buf;
	size_t len;

	msg_init(&in, MSG_HOST_OVERLOADED);
	snprintf(in.host, sizeof(in.host), "web-1");
	snprintf(in.origin, sizeof(in.origin), "psi");
	snprintf(in.metric, sizeof(in.metric), "memory some");
	in.value = 24.1;
	REQUIRE((buf = msg_encode(&in, &len)) != NULL);
	CHECK(strstr(buf, "\"value\":24.1") != NULL);
	CHECK_INTEQ(msg_decode(&out, buf, len, err, sizeof(err)), 0);
	CHECK(out.value == 24.1);
	free(buf);
	CHECK_INTEQ(decode(&out, "host.recovered {\"v\":1,\"ts\":1,"
	    "\"source\":\"r/1\",\"host\":\"h\",\"origin\":\"psi\","
	    "\"metric\":\"m\",\"value\":3}", err, sizeof(err)), 0);
	CHECK(out.value == 3.0);
	CHECK_INTEQ(decode(&out, "host.recovered {\"v\":1,\"ts\":1,"
	    "\"source\":\"r/1\",\"host\":\"h\",\"origin\":\"psi\","
	    "\"metric\":\"m\",\"value\":\"3\"}", err, sizeof(err)), -1);
	CHECK(strstr(err, "\"value\" must be a number") != NULL);
	CHECK_INTEQ(decode(&out, "host.recovered {\"v\":1,\"ts\":1,"
	    "\"source\":\"r/1\",\"host\":\"h\",\"origin\":\"psi\","
	    "\"metric\":\"m\"}", err, sizeof(err)), -1);
	CHECK(strstr(err, "missing field \"value\"") != NULL);
}

UNIT_TESTS = {
	{"type names", test_type_names},
	{"a number field", test_number_field},
	{"round trip every type", test_roundtrip_every_type},
	{"round trip required only", test_roundtrip_required_only},
	{"encode keeps ts", test_encode_keeps_ts},
	{"encode refuses", test_encode_refuses},
	{"to json", test_to_json},
	{"minimal frame", test_minimal_frame},
	{"malformed json", test_malformed_json},
	{"truncated", test_truncated},
	{"trailing bytes", test_trailing_bytes},
	{"embedded nul", test_embedded_nul},
	{"escaped nul in a string", test_escaped_nul},
	{"not an object", test_not_an_object},
	{"null body", test_null_body},
	{"envelope v ts source", test_envelope},
	{"wrong field types", test_wrong_field_types},
	{"missing required field", test_missing_required},
	{"optional fields absent", test_optional_absent},
	{"empty required string", test_empty_required_string},
	{"unknown type", test_unknown_type},
	{"no topic", test_no_topic},
	{"unknown fields ignored", test_unknown_fields_ignored},
	{"oversized frame", test_oversized},
	{"string longer than its field", test_string_too_long},
	{"integer out of range", test_integer_range},
	{"small err buffer", test_small_err_buffer},
	{"docs/events.md lists every type", test_docs_events},
	{"docs/events.md examples decode", test_docs_examples_decode},
	{NULL, NULL},
};
