/*
 * devcloudctl hosts: every registered host with what the regulator last
 * knew of it.
 *
 *   HOST  SEEN  APPS  STATE  FIGURE  STOPS  LAST ACTION
 *
 * Autostart registers hosts (PREFIX hosts, host -> ms last seen) and the
 * instances on them (PREFIX host:HOST); the regulator keeps its view in
 * PREFIX hoststate:HOST (keys.h). Read in one pipeline; written by
 * nobody here. A field that cannot be read is shown as "-".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "service.h"
#include "ctl.h"

const char *
ctl_hash_get(const redisReply *r, const char *field)
{
	for (size_t k = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    k + 1 < r->elements; k += 2)
		if (r->element[k]->type == REDIS_REPLY_STRING &&
		    r->element[k + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[k]->str, field) == 0)
			return r->element[k + 1]->str;
	return "";
}

/* Distinct apps among the "APP/ID" members of R. */
static int
apps_of(const redisReply *r)
{
	int n = 0;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return -1;
	for (size_t i = 0; i < r->elements; i++) {
		const char *m = r->element[i]->str, *slash;
		size_t len;
		bool dup = false;

		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    (slash = strrchr(m, '/')) == NULL)
			continue;
		len = (size_t)(slash - m);
		for (size_t j = 0; j < i && !dup; j++)
			dup = r->element[j]->type == REDIS_REPLY_STRING &&
			    strncmp(r->element[j]->str, m, len + 1) == 0;
		n += !dup;
	}
	return n;
}

/* "12.3s ago" of the ms timestamp S into BUF; "-" if none. */
static const char *
ago(char *buf, size_t len, const char *s, int64_t now)
{
	char *end;
	long long ms = s[0] ? strtoll(s, &end, 10) : 0;

	if (ms <= 0 || *end != '\0')
		return "-";
	snprintf(buf, len, "%.1fs", (double)(now - ms) / 1000.0);
	return buf;
}

int
ctl_hosts(struct ctl *c, int argc, char **argv)
{
	char key[KEY_MAX];
	redisContext *rc;
	redisReply *hosts = NULL, *r;
	int64_t now = service_now_ms();
	int rv = 1;

	(void)argv;
	if (argc != 0)
		return ctl_usage_error("usage: hosts");
	if ((rc = ctl_redis(c, false)) == NULL)
		return 1;
	key_hosts(key, sizeof(key));
	hosts = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", key);
	if (hosts == NULL || hosts->type != REDIS_REPLY_ARRAY) {
		ctl_error("hosts: %s", hosts == NULL ? rc->errstr :
		    hosts->type == REDIS_REPLY_ERROR ? hosts->str :
		    "unexpected reply");
		goto done;
	}
	for (size_t i = 0; i + 1 < hosts->elements; i += 2) {
		const char *h = hosts->element[i]->str;

		if (key_host(key, sizeof(key), h) != NULL)
			redisAppendCommand(rc, "SMEMBERS %s", key);
		if (key_hoststate(key, sizeof(key), h) != NULL)
			redisAppendCommand(rc, "HGETALL %s", key);
	}
	printf("%-20s %8s %5s %-11s %-28s %5s  %s\n", "HOST", "SEEN", "APPS",
	    "STATE", "FIGURE", "STOPS", "LAST ACTION");
	for (size_t i = 0; i + 1 < hosts->elements; i += 2) {
		const char *h = hosts->element[i]->str;
		redisReply *members = NULL, *state = NULL;
		char seen[32], when[32], figure[64], action[160];
		const char *ov;
		int napps;

		if (!keys_name_valid(h))
			continue;
		if (redisGetReply(rc, (void **)&members) != REDIS_OK ||
		    redisGetReply(rc, (void **)&state) != REDIS_OK) {
			freeReplyObject(members);
			ctl_error("hosts: %s", rc->errstr);
			goto done;
		}
		napps = apps_of(members);
		ov = ctl_hash_get(state, "overloaded");
		snprintf(figure, sizeof(figure), "%s",
		    ctl_hash_get(state, "figure")[0] ?
		    ctl_hash_get(state, "figure") : "-");
		if (ctl_hash_get(state, "action")[0])
			snprintf(action, sizeof(action), "%s (%s ago)",
			    ctl_hash_get(state, "action"), ago(when, sizeof(when),
			    ctl_hash_get(state, "action_ms"), now));
		else
			snprintf(action, sizeof(action), "-");
		printf("%-20s %8s %5d %-11s %-28s %5s  %s\n", h,
		    ago(seen, sizeof(seen), hosts->element[i + 1]->str, now),
		    napps, strcmp(ov, "1") == 0 ? "overloaded" : "ok", figure,
		    ctl_hash_get(state, "stops")[0] ?
		    ctl_hash_get(state, "stops") : "0", action);
		freeReplyObject(members);
		freeReplyObject(state);
	}
	rv = 0;
done:
	r = hosts;
	freeReplyObject(r);
	redisFree(rc);
	return rv;
}
