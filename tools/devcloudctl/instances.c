/*
 * An app's instances as devcloudctl shows them: the table and the
 * in-flight line of `app show`, the READY/TOTAL column of `app list`.
 *
 * Autostart writes the instances (PREFIX instances:APP, a set of ids;
 * PREFIX instance:APP:ID, one hash each) and the proxies the load
 * (PREFIX load:APP, proxy -> "AVG PEAK MS TUNNELS"); this file only reads them,
 * in pipelines, so a command costs the same few round trips whatever
 * the number of instances. What it reads is someone else's writing: a
 * field it cannot read is shown as "?", never trusted.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "load.h"
#include "service.h"
#include "ctl.h"

struct inst {
	char id[64];
	char state[16];
	char host[64];
	char addr[256];
	char release[64];
	int64_t started;	/* ms since the epoch; 0: unknown */
};

/* Copies the string reply R into OUT, or "?" if it is not one. */
static void
inst_str(char *out, size_t size, const redisReply *r)
{
	snprintf(out, size, "%s", r != NULL && r->type == REDIS_REPLY_STRING &&
	    r->str[0] != '\0' ? r->str : "?");
}

/* Fills I from R, the HGETALL reply of its hash. */
static void
inst_from_hash(struct inst *i, const redisReply *r)
{
	char *end;

	snprintf(i->state, sizeof(i->state), "?");
	snprintf(i->host, sizeof(i->host), "?");
	snprintf(i->addr, sizeof(i->addr), "?");
	snprintf(i->release, sizeof(i->release), "-");
	i->started = 0;
	for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k + 1 < r->elements;
	    k += 2) {
		const redisReply *f = r->element[k], *v = r->element[k + 1];

		if (f->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->str, "state") == 0)
			inst_str(i->state, sizeof(i->state), v);
		else if (strcmp(f->str, "host") == 0)
			inst_str(i->host, sizeof(i->host), v);
		else if (strcmp(f->str, "addr") == 0)
			inst_str(i->addr, sizeof(i->addr), v);
		else if (strcmp(f->str, "release") == 0 &&
		    v->type == REDIS_REPLY_STRING && v->str[0] != '\0')
			inst_str(i->release, sizeof(i->release), v);
		else if (strcmp(f->str, "started") == 0 &&
		    v->type == REDIS_REPLY_STRING) {
			errno = 0;
			i->started = strtoll(v->str, &end, 10);
			if (errno != 0 || end == v->str || *end != '\0' ||
			    i->started <= 0)
				i->started = 0;
		}
	}
}

/* Ids are numbers as autostart gives them: "2" before "10". */
static int
inst_cmp(const void *a, const void *b)
{
	const struct inst *x = a, *y = b;
	size_t lx = strlen(x->id), ly = strlen(y->id);

	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->id, y->id);
}

/* "45s", "3m05s", "2h07m", "3d04h"; "-" when unknown. */
static void
inst_age(char *out, size_t size, int64_t started, int64_t now)
{
	int64_t s = (now - started) / 1000;

	if (started == 0)
		snprintf(out, size, "-");
	else if (s < 0)
		snprintf(out, size, "0s");	/* its clock is ahead of ours */
	else if (s < 60)
		snprintf(out, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, size, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, size, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(out, size, "%lldd%02lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
}

/* The proxies' figures for one app, summed over the fresh ones. */
struct load {
	double avg;
	double peak;
	int fresh;		/* proxies counted */
	int stale;		/* too old, or unreadable */
};

/* Sums R, the HGETALL reply of PREFIX load:APP, into L. */
static void
load_sum(struct load *l, const redisReply *r, int64_t now, int flush_ms)
{
	int64_t max_age = load_fresh_ms(flush_ms);

	memset(l, 0, sizeof(*l));
	for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k + 1 < r->elements;
	    k += 2) {
		const redisReply *v = r->element[k + 1];
		struct load_figure f;

		if (v->type != REDIS_REPLY_STRING ||
		    load_parse(v->str, &f) != 0 || now - f.ms > max_age) {
			l->stale++;
			continue;
		}
		l->avg += f.avg;
		l->peak += (double)f.peak;
		l->fresh++;
	}
}

static void
load_print(const struct load *l, int flush_ms)
{
	printf("%-*s ", CTL_FIELD_WIDTH, "in_flight");
	if (l->fresh == 0)
		printf("- (no figure from a proxy in the last %d ms)",
		    (int)load_fresh_ms(flush_ms));
	else
		printf("%.1f avg, %.0f peak (%d prox%s)", l->avg, l->peak,
		    l->fresh, l->fresh == 1 ? "y" : "ies");
	if (l->stale > 0)
		printf(", %d stale figure%s left out", l->stale,
		    l->stale == 1 ? "" : "s");
	printf("\n");
}

/* Reads the reply to the next pipelined command; NULL on a broken link. */
static redisReply *
inst_reply(redisContext *rc)
{
	void *r;

	return redisGetReply(rc, &r) == REDIS_OK ? r : NULL;
}

/*
 * Reads the instances named in IDS (a SMEMBERS reply) of APP, in one
 * pipeline. Returns a sorted array (caller frees) and its length in *N,
 * or NULL with a message printed. Ids that cannot be in a key are left
 * out and counted in *BAD.
 */
static struct inst *
inst_read(redisContext *rc, const char *app, const redisReply *ids, int *n,
    int *bad)
{
	struct inst *v;
	char key[KEY_MAX];
	redisReply *r;
	int count = 0;

	*bad = 0;
	if ((v = calloc(ids->elements + 1, sizeof(*v))) == NULL) {
		ctl_error("out of memory");
		return NULL;
	}
	for (size_t k = 0; k < ids->elements; k++) {
		const redisReply *id = ids->element[k];

		if (id->type != REDIS_REPLY_STRING ||
		    key_instance(key, sizeof(key), app, id->str) == NULL) {
			(*bad)++;
			continue;
		}
		snprintf(v[count++].id, sizeof(v[0].id), "%s", id->str);
		redisAppendCommand(rc, "HGETALL %s", key);
	}
	for (int k = 0; k < count; k++) {
		if ((r = inst_reply(rc)) == NULL) {
			ctl_error("redis: %s", rc->errstr);
			free(v);
			return NULL;
		}
		inst_from_hash(&v[k], r);
		freeReplyObject(r);
	}
	qsort(v, (size_t)count, sizeof(v[0]), inst_cmp);
	*n = count;
	return v;
}

int
ctl_instances_show(struct ctl *c, redisContext *rc, const char *app)
{
	char key[KEY_MAX], age[32];
	redisReply *ids = NULL, *load = NULL;
	struct inst *v = NULL;
	int n = 0, bad = 0, ready = 0, rv = 1;
	int64_t now = service_now_ms();
	struct load l;

	if (key_instances(key, sizeof(key), app) == NULL)
		return ctl_error("\"%s\" is not a valid app name", app);
	redisAppendCommand(rc, "SMEMBERS %s", key);
	redisAppendCommand(rc, "HGETALL %s", key_load(key, sizeof(key), app));
	if ((ids = inst_reply(rc)) == NULL || (load = inst_reply(rc)) == NULL) {
		ctl_error("redis: %s", rc->errstr);
		goto fail;
	}
	if (ids->type != REDIS_REPLY_ARRAY || load->type != REDIS_REPLY_ARRAY) {
		ctl_error("redis: %s", ids->type == REDIS_REPLY_ERROR ?
		    ids->str : load->type == REDIS_REPLY_ERROR ? load->str :
		    "unexpected reply");
		goto fail;
	}
	if ((v = inst_read(rc, app, ids, &n, &bad)) == NULL)
		goto fail;
	for (int k = 0; k < n; k++)
		ready += strcmp(v[k].state, "ready") == 0;
	printf("%-*s %d ready of %d\n", CTL_FIELD_WIDTH, "instances",
	    ready, n);
	load_sum(&l, load, now, c->cfg.proxy.flush_interval_ms);
	load_print(&l, c->cfg.proxy.flush_interval_ms);
	if (n > 0) {
		printf("\n%-8s %-16s %-22s %-9s %-12s %s\n", "INSTANCE",
		    "HOST", "ADDR", "STATE", "RELEASE", "AGE");
		for (int k = 0; k < n; k++) {
			inst_age(age, sizeof(age), v[k].started, now);
			printf("%-8s %-16s %-22s %-9s %-12s %s\n", v[k].id,
			    v[k].host, v[k].addr, v[k].state, v[k].release,
			    age);
		}
	}
	if (bad > 0)
		fprintf(stderr, "devcloudctl: %d instance id%s of %s cannot be "
		    "read (not a valid name)\n", bad, bad == 1 ? "" : "s", app);
	rv = 0;
fail:
	free(v);
	freeReplyObject(ids);
	freeReplyObject(load);
	return rv;
}

int
ctl_instances_count(redisContext *rc, char *const *names, size_t napps,
    int *ready, int *total)
{
	char key[KEY_MAX];
	redisReply **sets;
	redisReply *r;
	int rv = -1;

	if ((sets = calloc(napps + 1, sizeof(*sets))) == NULL) {
		ctl_error("out of memory");
		return -1;
	}
	/* One pipeline for the sets, one for every state of every app. */
	for (size_t a = 0; a < napps; a++)
		redisAppendCommand(rc, "SMEMBERS %s", key_instances(key,
		    sizeof(key), names[a]) ? key : "");
	for (size_t a = 0; a < napps; a++)
		if ((sets[a] = inst_reply(rc)) == NULL)
			goto fail;
	for (size_t a = 0; a < napps; a++) {
		ready[a] = total[a] = 0;
		for (size_t k = 0; sets[a]->type == REDIS_REPLY_ARRAY &&
		    k < sets[a]->elements; k++) {
			if (sets[a]->element[k]->type != REDIS_REPLY_STRING ||
			    key_instance(key, sizeof(key), names[a],
			    sets[a]->element[k]->str) == NULL)
				continue;
			redisAppendCommand(rc, "HGET %s state", key);
			total[a]++;
		}
	}
	for (size_t a = 0; a < napps; a++)
		for (int k = 0; k < total[a]; k++) {
			if ((r = inst_reply(rc)) == NULL)
				goto fail;
			ready[a] += r->type == REDIS_REPLY_STRING &&
			    strcmp(r->str, "ready") == 0;
			freeReplyObject(r);
		}
	rv = 0;
fail:
	if (rv != 0)
		ctl_error("redis: %s", rc->errstr);
	for (size_t a = 0; a < napps; a++)
		freeReplyObject(sets[a]);
	free(sets);
	return rv;
}
