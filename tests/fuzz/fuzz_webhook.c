// links: services/regulator/webhook.c
/*
 * libFuzzer target for the regulator's webhook parsers
 * (services/regulator/webhook.c), which read whatever reaches the
 * regulator's alert endpoints.
 *
 * Every input is read both ways, as an Alertmanager body and as
 * Open-Falcon's callback parameters, straight from libFuzzer's buffer
 * (exactly the input's length, no NUL after it). A refusal leaves a
 * terminated reason and the outputs as they were. An accepted payload
 * gives signals with a host keys_name_valid takes, a printable metric
 * and a finite value only with has_value; the same payload is taken with
 * MAX at its count and refused with one less; and the signals written
 * back in the sender's format read back the same.
 *
 *   make fuzz &&
 *       build/fuzz/fuzz_webhook -max_total_time=60 tests/fuzz/corpus/webhook
 */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/regulator/webhook.h"
#include "fuzz.h"
#include "keys.h"

static void
check_signal(const struct webhook_signal *s)
{
	FUZZ_ASSERT(memchr(s->host, '\0', sizeof(s->host)) != NULL);
	FUZZ_ASSERT(keys_name_valid(s->host));
	FUZZ_ASSERT(memchr(s->metric, '\0', sizeof(s->metric)) != NULL);
	for (const char *p = s->metric; *p != '\0'; p++)
		FUZZ_ASSERT(*p >= 0x20 && *p <= 0x7e);
	if (s->has_value)
		FUZZ_ASSERT(isfinite(s->value));
	else
		FUZZ_ASSERT(s->value == 0);
}

static void
check_same(const struct webhook_signal *a, const struct webhook_signal *b)
{
	FUZZ_ASSERT(strcmp(a->host, b->host) == 0);
	FUZZ_ASSERT(strcmp(a->metric, b->metric) == 0);
	FUZZ_ASSERT(a->firing == b->firing);
	FUZZ_ASSERT(a->has_value == b->has_value);
	FUZZ_ASSERT(a->value == b->value);
}

static void
check_refusal(const char *err, size_t errlen, const void *out, size_t size)
{
	FUZZ_ASSERT(memchr(err, '\0', errlen) != NULL && err[0] != '\0');
	for (size_t i = 0; i < size; i++)
		FUZZ_ASSERT(((const unsigned char *)out)[i] == 0x5a);
}

/* S's N signals as Alertmanager would send them. */
static char *
am_write(const struct webhook_signal *s, int n, size_t *len)
{
	json_object *root = json_object_new_object(),
	    *alerts = json_object_new_array();
	char num[32];
	char *body;

	json_object_object_add(root, "version", json_object_new_string("4"));
	json_object_object_add(root, "status",
	    json_object_new_string("firing"));
	for (int i = 0; i < n; i++) {
		json_object *a = json_object_new_object(),
		    *labels = json_object_new_object(),
		    *annotations = json_object_new_object();

		json_object_object_add(labels, "instance",
		    json_object_new_string(s[i].host));
		json_object_object_add(labels, "alertname",
		    json_object_new_string(s[i].metric));
		if (s[i].has_value) {
			snprintf(num, sizeof(num), "%.17g", s[i].value);
			json_object_object_add(annotations, "value",
			    json_object_new_string(num));
		}
		json_object_object_add(a, "status", json_object_new_string(
		    s[i].firing ? "firing" : "resolved"));
		json_object_object_add(a, "labels", labels);
		json_object_object_add(a, "annotations", annotations);
		json_object_object_add(a, "startsAt",
		    json_object_new_string("2024-03-01T10:15:00Z"));
		json_object_array_add(alerts, a);
	}
	json_object_object_add(root, "alerts", alerts);
	body = strdup(json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PLAIN));
	FUZZ_ASSERT(body != NULL);
	*len = strlen(body);
	json_object_put(root);
	return body;
}

static void
fuzz_alertmanager(const char *data, size_t size, const char *label)
{
	struct webhook_signal s[WEBHOOK_MAX_SIGNALS];
	struct webhook_signal again[WEBHOOK_MAX_SIGNALS];
	char err[256], *body;
	size_t len;
	int n = -7, m = -7;

	memset(s, 0x5a, sizeof(s));
	memset(err, 'x', sizeof(err));
	if (webhook_alertmanager(data, size, label, s, WEBHOOK_MAX_SIGNALS,
	    &n, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(n == -7);
		check_refusal(err, sizeof(err), s, sizeof(s));
		return;
	}
	FUZZ_ASSERT(n >= 1 && n <= WEBHOOK_MAX_SIGNALS);
	for (int i = 0; i < n; i++)
		check_signal(&s[i]);

	/* MAX: the count is enough, one less is not */
	FUZZ_ASSERT(webhook_alertmanager(data, size, label, again, n, &m,
	    err, sizeof(err)) == 0 && m == n);
	memset(again, 0x5a, sizeof(again));
	m = -7;
	FUZZ_ASSERT(webhook_alertmanager(data, size, label, again, n - 1, &m,
	    err, sizeof(err)) == -1 && m == -7);
	FUZZ_ASSERT(strstr(err, "alerts: ") == err);

	/* written back, read back */
	body = am_write(s, n, &len);
	if (webhook_alertmanager(body, len, NULL, again, WEBHOOK_MAX_SIGNALS,
	    &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "written back, refused: %s\n%s\n", err, body);
		abort();
	}
	FUZZ_ASSERT(m == n);
	for (int i = 0; i < n; i++)
		check_same(&s[i], &again[i]);
	free(body);
}

/* S's bytes, every one but [A-Za-z0-9._~-] as %XX, after P. */
static char *
of_escape(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._~-", c) != NULL) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	return p;
}

static void
fuzz_openfalcon(const char *data, size_t size)
{
	struct webhook_signal s, again;
	char err[256], params[1024], num[32], *p = params;

	memset(&s, 0x5a, sizeof(s));
	memset(err, 'x', sizeof(err));
	if (webhook_openfalcon(data, size, &s, err, sizeof(err)) != 0) {
		check_refusal(err, sizeof(err), &s, sizeof(s));
		return;
	}
	check_signal(&s);

	/* written back (in another order), read back */
	p += snprintf(p, 64, "status=%s&metric=", s.firing ? "PROBLEM" : "OK");
	p = of_escape(p, s.metric);
	p += snprintf(p, 96, "&endpoint=%s", s.host);
	if (s.has_value) {
		snprintf(num, sizeof(num), "%.17g", s.value);
		memcpy(p, "&left_value=", 12);
		p = of_escape(p + 12, num);
	}
	if (webhook_openfalcon(params, (size_t)(p - params), &again, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "written back, refused: %s\n%.*s\n", err,
		    (int)(p - params), params);
		abort();
	}
	check_same(&s, &again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_alertmanager((const char *)data, size, NULL);
	fuzz_alertmanager((const char *)data, size, "host");
	fuzz_openfalcon((const char *)data, size);
	return 0;
}
