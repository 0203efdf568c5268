/*
 * Staging and retiring instances for the deployer: the two commands a
 * start-first deploy needs from the daemon that owns the drivers.
 *
 *   stage {app, release}   starts one more instance of a running app on
 *                          release RELEASE and waits for its readiness;
 *                          it is recorded "staged": the proxies send it
 *                          nothing until the deployer's switch makes it
 *                          "ready". Answer: stage.ok {instance, addr,
 *                          host}, or an error (the instance is gone).
 *   retire {app, instance} stops one instance (the deployer drained it,
 *                          or staged it for a deploy that failed) and
 *                          forgets it: instance.stopped. Answer:
 *                          retire.ok.
 *
 * The deployer decides what runs; autostart starts and stops, so an
 * instance's process stays the child of the daemon that watches exits
 * (a staged instance that dies fails its stage at once, one that dies
 * later is removed like any other, wake.c's wake_on_exit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "autostart.h"

enum stage_op { STAGE_START, STAGE_RETIRE };

struct stage {
	struct autostart *as;
	enum stage_op op;
	struct bus_request *req;
	char app[64];
	char inst[64];
	char release[MSG_NAME_MAX];
	char reason[MSG_TEXT_MAX];
	struct app rec;
	struct starter *starter;
	char addr[DRIVER_ADDR_MAX];
	char host[DRIVER_HOST_MAX];
	bool done;			/* answered: free when pending is 0 */
	int pending;			/* callbacks naming it */
	struct stage *next;
};

/*
 * KEYS app, instances, release; ARGV release, now_ms, inst_tpl. Reserves
 * a staged instance of a running app: {"start", id, image} (the
 * release's image, "" for none: an image deploy's, which the instance
 * runs), or {"missing"} / {"idle", state} when there is no app or it
 * does not run.
 */
static const char script_stage[] =
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if not st then return {'missing'} end\n"
    "if st ~= 'running' then return {'idle', st} end\n"
    "local n = 1\n"
    "while redis.call('SISMEMBER', KEYS[2], tostring(n)) == 1 do"
    " n = n + 1 end\n"
    "local id = tostring(n)\n"
    "redis.call('HSET', string.sub(ARGV[3], 1, -2) .. id, 'state', 'staged',"
    " 'addr', '', 'host', '', 'release', ARGV[1], 'started', ARGV[2])\n"
    "redis.call('SADD', KEYS[2], id)\n"
    "return {'start', id, redis.call('HGET', KEYS[3], 'image') or ''}\n";

/*
 * KEYS hosts; ARGV name, id, addr, host, now_ms, inst_tpl, host_tpl.
 * The staged instance answers: its address recorded, still staged.
 * 1, or 0 when it is no longer there (the app stopped meanwhile).
 */
static const char script_stage_ready[] =
    "local ik = string.sub(ARGV[6], 1, -2) .. ARGV[2]\n"
    "if redis.call('HGET', ik, 'state') ~= 'staged' then return 0 end\n"
    "redis.call('HSET', ik, 'addr', ARGV[3], 'host', ARGV[4])\n"
    "redis.call('SADD', string.sub(ARGV[7], 1, -2) .. ARGV[4],"
    " ARGV[1] .. '/' .. ARGV[2])\n"
    "redis.call('ZADD', KEYS[1], ARGV[5], ARGV[4])\n"
    "return 1\n";

static void
stage_free(struct stage *sg)
{
	struct stage **p;

	for (p = &sg->as->stages; *p != NULL; p = &(*p)->next)
		if (*p == sg) {
			*p = sg->next;
			break;
		}
	free(sg);
}

/* A callback naming SG is back: true if the caller must stop there. */
static bool
stage_back(struct stage *sg)
{
	sg->pending--;
	if (sg->as->closing)
		return true;
	if (sg->done && sg->pending == 0) {
		stage_free(sg);
		return true;
	}
	return false;
}

static void
stage_finish(struct stage *sg)
{
	sg->done = true;
	if (sg->pending == 0)
		stage_free(sg);
}

static void
stage_fail(struct stage *sg, const char *reason)
{
	log_warn(sg->op == STAGE_START ? "stage failed" : "retire failed",
	    "app=%s instance=%s release=%s reason=\"%s\"", sg->app, sg->inst,
	    sg->release, reason);
	if (sg->req != NULL)
		bus_reply_error(sg->as->svc->bus, sg->req, reason);
	sg->req = NULL;
	stage_finish(sg);
}

/* Forgets instance sg->inst in Redis (no answer awaited). */
static void
stage_forget(struct stage *sg, const char *reason)
{
	struct app_keys k;

	record_publish_instance(sg->as, MSG_INSTANCE_STOPPED, sg->app,
	    sg->inst, NULL, NULL, reason);
	if (record_keys(sg->app, &k) == 0)
		store_command(sg->as->svc->store, NULL, NULL,
		    "EVAL %s 1 %s %s %s %s %s", script_instance_gone,
		    k.instances, sg->app, sg->inst, k.inst_tpl, k.host_tpl);
}

static void
stage_ready_done(struct store *st, redisReply *r, void *arg)
{
	struct stage *sg = arg;
	struct msg m;

	(void)st;
	if (stage_back(sg))
		return;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
		starter_stop_failed(sg->as, &sg->rec, sg->inst);
		stage_forget(sg, "not needed");
		stage_fail(sg, "the app stopped while its instance started");
		return;
	}
	log_info("instance staged", "app=%s instance=%s release=%s addr=%s "
	    "host=%s", sg->app, sg->inst, sg->release, sg->addr, sg->host);
	msg_init(&m, MSG_STAGE_OK);
	snprintf(m.app, sizeof(m.app), "%s", sg->app);
	snprintf(m.instance, sizeof(m.instance), "%s", sg->inst);
	snprintf(m.addr, sizeof(m.addr), "%s", sg->addr);
	snprintf(m.host, sizeof(m.host), "%s", sg->host);
	snprintf(m.release, sizeof(m.release), "%s", sg->release);
	bus_reply(sg->as->svc->bus, sg->req, &m);
	sg->req = NULL;
	stage_finish(sg);
}

static void
stage_started(struct starter *st, const char *why, void *arg)
{
	struct stage *sg = arg;
	struct app_keys k;
	char now[32];

	sg->starter = NULL;		/* it goes after this callback */
	if (why != NULL) {
		starter_stop_failed(sg->as, &sg->rec, sg->inst);
		stage_forget(sg, why);
		stage_fail(sg, why);
		return;
	}
	snprintf(sg->addr, sizeof(sg->addr), "%s", st->addr);
	snprintf(sg->host, sizeof(sg->host), "%s", st->host);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (record_keys(sg->app, &k) != 0) {
		stage_fail(sg, "bad app name");
		return;
	}
	sg->pending++;
	if (store_command(sg->as->svc->store, stage_ready_done, sg,
	    "EVAL %s 1 %s %s %s %s %s %s %s %s", script_stage_ready, k.hosts,
	    sg->app, sg->inst, sg->addr, sg->host, now, k.inst_tpl,
	    k.host_tpl) != 0) {
		sg->pending--;
		starter_stop_failed(sg->as, &sg->rec, sg->inst);
		stage_fail(sg, "redis is not reachable");
	}
}

static void
stage_reserved(struct store *st, redisReply *r, void *arg)
{
	struct stage *sg = arg;
	char err[DRIVER_ERR_MAX], why[300];

	(void)st;
	if (stage_back(sg))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		stage_fail(sg, "redis: unexpected answer");
		return;
	}
	if (strcmp(r->element[0]->str, "start") != 0 || r->elements != 3 ||
	    r->element[2]->type != REDIS_REPLY_STRING) {
		snprintf(why, sizeof(why), "app %s is %s", sg->app,
		    r->elements > 1 && r->element[1]->type ==
		    REDIS_REPLY_STRING ? r->element[1]->str : "unknown");
		stage_fail(sg, why);
		return;
	}
	snprintf(sg->inst, sizeof(sg->inst), "%s", r->element[1]->str);
	if (r->element[2]->str[0] != '\0' && app_set(&sg->rec, "image",
	    r->element[2]->str, why, sizeof(why)) != 0) {
		stage_forget(sg, why);
		stage_fail(sg, why);
		return;
	}
	log_info("staging instance", "app=%s instance=%s release=%s", sg->app,
	    sg->inst, sg->release);
	if ((sg->starter = starter_run(sg->as, &sg->rec, sg->inst,
	    stage_started, sg, err, sizeof(err))) == NULL) {
		stage_forget(sg, err);
		stage_fail(sg, err);
	}
}

static void
stage_retired(const struct driver_result *r, void *arg)
{
	struct stage *sg = arg;
	struct msg m;

	if (stage_back(sg))
		return;
	if (!r->ok) {
		stage_fail(sg, r->err);
		return;
	}
	log_info("instance retired", "app=%s instance=%s reason=\"%s\"",
	    sg->app, sg->inst, sg->reason);
	stage_forget(sg, sg->reason);
	/* the count the app should have is the scaler's to keep */
	scale_apply(sg->as, sg->app);
	msg_init(&m, MSG_RETIRE_OK);
	snprintf(m.app, sizeof(m.app), "%s", sg->app);
	snprintf(m.instance, sizeof(m.instance), "%s", sg->inst);
	bus_reply(sg->as->svc->bus, sg->req, &m);
	sg->req = NULL;
	stage_finish(sg);
}

static void
stage_loaded(struct autostart *as, const struct app *a, const char *err,
    void *arg)
{
	struct stage *sg = arg;
	struct app_keys k;
	char now[32], derr[DRIVER_ERR_MAX], krel[KEY_MAX];

	if (stage_back(sg))
		return;
	if (a == NULL) {
		stage_fail(sg, err);
		return;
	}
	sg->rec = *a;
	if (sg->op == STAGE_RETIRE) {
		sg->pending++;
		if (driver_stop(as->drivers, &sg->rec, sg->inst,
		    as->svc->cfg.autostart.stop_grace_ms, stage_retired, sg,
		    derr, sizeof(derr)) != 0) {
			sg->pending--;
			stage_fail(sg, derr);
		}
		return;
	}
	/* checked by app_set in stage_request: it fits */
	memcpy(sg->rec.release, sg->release, strlen(sg->release) + 1);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (record_keys(sg->app, &k) != 0 || key_release(krel, sizeof(krel),
	    sg->app, strtoull(sg->release, NULL, 10)) == NULL) {
		stage_fail(sg, "bad app name");
		return;
	}
	sg->pending++;
	if (store_command(as->svc->store, stage_reserved, sg,
	    "EVAL %s 3 %s %s %s %s %s %s", script_stage, k.app, k.instances,
	    krel, sg->release, now, k.inst_tpl) != 0) {
		sg->pending--;
		stage_fail(sg, "redis is not reachable");
	}
}

void
stage_request(struct autostart *as, const struct msg *m,
    struct bus_request *req)
{
	struct stage *sg;
	char err[128];

	if ((sg = calloc(1, sizeof(*sg))) == NULL) {
		bus_reply_error(as->svc->bus, req, "out of memory");
		return;
	}
	sg->as = as;
	sg->req = req;
	sg->op = m->type == MSG_STAGE ? STAGE_START : STAGE_RETIRE;
	snprintf(sg->app, sizeof(sg->app), "%s", m->app);
	snprintf(sg->inst, sizeof(sg->inst), "%s", m->instance);
	snprintf(sg->release, sizeof(sg->release), "%s", m->release);
	snprintf(sg->reason, sizeof(sg->reason), "%s", m->reason[0] ?
	    m->reason : "retired");
	sg->next = as->stages;
	as->stages = sg;
	/* the release as the record would hold it, checked the same way */
	app_defaults(&sg->rec, 1, 1000);
	if (sg->op == STAGE_START && (m->release[0] == '\0' ||
	    app_set(&sg->rec, "release", m->release, err, sizeof(err)) != 0)) {
		stage_fail(sg, "stage: want a release number");
		return;
	}
	if (sg->op == STAGE_RETIRE && !keys_name_valid(sg->inst)) {
		stage_fail(sg, "retire: bad instance id");
		return;
	}
	sg->pending++;
	if (record_load(as, sg->app, stage_loaded, sg) != 0) {
		sg->pending--;
		stage_fail(sg, "bad app name or redis is not reachable");
	}
}

bool
stage_on_exit(struct autostart *as, const char *app, const char *inst,
    const char *why)
{
	for (struct stage *sg = as->stages; sg != NULL; sg = sg->next) {
		if (sg->done || sg->op != STAGE_START || sg->starter == NULL ||
		    strcmp(sg->app, app) != 0 || strcmp(sg->inst, inst) != 0)
			continue;
		starter_cancel(sg->starter);
		sg->starter = NULL;
		stage_forget(sg, why);
		stage_fail(sg, why);
		return true;
	}
	return false;
}

void
stage_app_stopped(struct autostart *as, const char *app)
{
	struct stage *sg, *next;

	for (sg = as->stages; sg != NULL; sg = next) {
		next = sg->next;
		if (sg->done || sg->op != STAGE_START || sg->starter == NULL ||
		    strcmp(sg->app, app) != 0)
			continue;
		/* a stop (stop.c) takes every instance, but an app that
		 * stopped because its last ready instance died leaves the
		 * others to whoever started them: this one goes here */
		starter_cancel(sg->starter);
		sg->starter = NULL;
		starter_stop_failed(as, &sg->rec, sg->inst);
		stage_forget(sg, "the app stopped");
		stage_fail(sg, "the app stopped while its instance started");
	}
}

void
stage_abort_all(struct autostart *as)
{
	for (struct stage *sg = as->stages; sg != NULL; sg = sg->next) {
		starter_cancel(sg->starter);
		sg->starter = NULL;
		if (sg->req != NULL)
			bus_reply_error(as->svc->bus, sg->req,
			    "autostart is shutting down");
		sg->req = NULL;
	}
}
