/*
 * The switch-over: release d->target, on disk and recorded, becomes what
 * the app runs, without a failed request.
 *
 * A sleeping app (stopped, failed): its record's "release" is pointed
 * at the target, so its next wake runs it; with "wake", it is woken now.
 *
 * A running app, start-first:
 *
 *   activate (script): how many instances serve, the current release
 *   -> stage (autostart's stage command, one per instance, at once):
 *      new instances on the target, ready but sent nothing ("staged")
 *   -> check (optional): GET PATH on each answers 2xx
 *   -> switch (script): the staged ones "ready", the old ones
 *      "draining", the record's release and addr the new ones', in one
 *      step; then instance.ready / instance.draining tell the proxies,
 *      which send new requests to the new ones only
 *   -> the old ones are retired (autostart's retire) after
 *      deployer.drain_ms, while the new ones are watched for watch_ms
 *      (watch.c): an exit, or deployer.watch_failures probes in a row
 *      that fail (no connection, or a 5xx on the check path, "/" by
 *      default), and the deploy switches back to the previous release
 *      by the same start-first path (deploy.rolledback).
 *
 * A failure before the switch retires the staged instances: the old
 * ones never stopped serving. The app's record carries "deploying"
 * while a deploy runs (the regulator leaves such an app alone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "probe.h"
#include "deployer.h"

/* A stage may take the app's whole start timeout, and some more. */
#define SWITCH_STAGE_SLACK_MS 10000
#define SWITCH_RETIRE_TIMEOUT_MS 60000
#define SWITCH_BUSY_RETRY_MS 200

static void switch_stage(struct deploy *d);

/* The record's image follows the release's (an image deploy's, or the
 * one the record had when a files release was made). KEYS[4]: the
 * target's release hash. */
#define LUA_IMAGE \
    "local img = redis.call('HGET', KEYS[4], 'image') or ''\n" \
    "local function set_image()\n" \
    "  if img ~= '' then redis.call('HSET', KEYS[1], 'image', img) end\n" \
    "end\n"

/*
 * KEYS app, lock, instances, target's release; ARGV N (the lock's),
 * target, inst_tpl. Returns {"lost"} (the lock is not ours), {"busy",
 * state} (starting or stopping: ask again), {"sleeping", prev} (the
 * record now names the target), {"unsupported", driver} (a running
 * app of another driver), or {"running", count, prev,
 * start_timeout, ready}: COUNT the instances to start, as many as are
 * ready or as the app should have (min_instances, desired), whichever
 * is more.
 */
static const char script_activate[] =
    LUA_IMAGE
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lost'} end\n"
    "local st = redis.call('HGET', KEYS[1], 'state') or 'stopped'\n"
    "local prev = redis.call('HGET', KEYS[1], 'release') or ''\n"
    "if st == 'starting' or st == 'stopping' then return {'busy', st} end\n"
    "if st ~= 'running' then\n"
    "  if prev ~= ARGV[2] then\n"
    "    redis.call('HSET', KEYS[1], 'release', ARGV[2], 'release_prev',"
    " prev)\n"
    "    set_image()\n"
    "  end\n"
    "  return {'sleeping', prev}\n"
    "end\n"
    "local drv = redis.call('HGET', KEYS[1], 'driver') or 'process'\n"
    "if drv ~= 'process' and drv ~= 'docker' then\n"
    "  return {'unsupported', drv}\n"
    "end\n"
    "local n = 0\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "  if redis.call('HGET', string.sub(ARGV[3], 1, -2) .. id, 'state') =="
    " 'ready' then n = n + 1 end\n"
    "end\n"
    "if n == 0 then return {'busy', 'running without a ready instance'}"
    " end\n"
    /* as many as run, or as many as it should run (autostart's
     * scaler may be on its way there) */
    "local mn = tonumber(redis.call('HGET', KEYS[1], 'min_instances') or"
    " '1') or 1\n"
    "local mx = tonumber(redis.call('HGET', KEYS[1], 'max_instances') or"
    " '1') or 1\n"
    "local want = tonumber(redis.call('HGET', KEYS[1], 'desired') or '0')"
    " or 0\n"
    "want = math.max(mn, math.min(math.max(mx, mn), want))\n"
    "if want > n then n = want end\n"
    "return {'running', tostring(n), prev,"
    " redis.call('HGET', KEYS[1], 'start_timeout') or '30000',"
    " redis.call('HGET', KEYS[1], 'ready') or 'tcp'}\n";

/*
 * KEYS app, lock, instances, target's release; ARGV N, target,
 * inst_tpl, new ids... The
 * switch: each new one must still be staged and the app running; the
 * new ones become ready, every other ready one draining, the record
 * names the target. Returns {"ok", prev, old ids...}, or {"lost"},
 * {"idle", state}, {"gone", id}.
 */
static const char script_switch[] =
    LUA_IMAGE
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lost'} end\n"
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if st ~= 'running' then return {'idle', st or 'missing'} end\n"
    "local function key(id) return string.sub(ARGV[3], 1, -2) .. id end\n"
    "local new, addr = {}, nil\n"
    "for i = 4, #ARGV do\n"
    "  if redis.call('HGET', key(ARGV[i]), 'state') ~= 'staged' then\n"
    "    return {'gone', ARGV[i]}\n"
    "  end\n"
    "  new[ARGV[i]] = true\n"
    "end\n"
    "local out = {'ok', redis.call('HGET', KEYS[1], 'release') or ''}\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "  if not new[id] and redis.call('HGET', key(id), 'state') == 'ready'"
    " then\n"
    "    redis.call('HSET', key(id), 'state', 'draining')\n"
    "    out[#out + 1] = id\n"
    "  end\n"
    "end\n"
    "for i = 4, #ARGV do\n"
    "  redis.call('HSET', key(ARGV[i]), 'state', 'ready')\n"
    "  addr = addr or redis.call('HGET', key(ARGV[i]), 'addr')\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'addr', addr, 'release', ARGV[2],"
    " 'release_prev', out[2])\n"
    "set_image()\n"
    "return out\n";

/* KEYS release hash; ARGV state. What became of a release. */
static const char script_release_state[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'state', ARGV[1])\n"
    "end\n"
    "return 0\n";

static const char *
switch_autostart(const struct deploy *d)
{
	return d->dp->svc->cfg.autostart.d.control;
}

void
switch_release_state(struct deploy *d, unsigned long long n,
    const char *state)
{
	char key[KEY_MAX];

	if (key_release(key, sizeof(key), d->app, n) != NULL)
		store_command(d->dp->svc->store, NULL, NULL, "EVAL %s 1 %s %s",
		    script_release_state, key, state);
}

/* Fails the deploy in step d->phase; what was staged is retired. */
static void
switch_fail(struct deploy *d, const char *reason)
{
	if (d->switched) {
		/* after the switch the new ones serve: the deploy is
		 * over, only its watch failed to finish */
		deploy_finish(d, reason);
		return;
	}
	switch_retire_all(d, true);
	if (d->rolling_back) {
		char why[sizeof(d->fail)];

		/* the bad release still serves: say so */
		snprintf(why, sizeof(why), "%.240s; the rollback to release "
		    "%llu failed: %.200s", d->bad_why, d->target, reason);
		deploy_finish(d, why);
		return;
	}
	if (!d->manual_rollback)
		switch_release_state(d, d->target, "failed");
	deploy_finish(d, reason);
}

/* --- retiring: autostart stops one instance and forgets it --- */

static void
switch_retired(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	struct deploy *d = arg;

	d->retiring--;
	if (st != BUS_OK)
		log_warn("cannot retire an instance", "app=%s err=\"%s\"",
		    d->app, err);
	if (deploy_back(d))
		return;
	/* the last old one stopped: a deploy whose watch is over ends */
	if (d->retiring == 0 && d->switched && d->watch_end == 0 &&
	    d->drain_at == 0 && d->out == 0)
		switch_done(d);
}

static void
switch_retire(struct deploy *d, const char *id, const char *reason)
{
	struct msg m;

	msg_init(&m, MSG_RETIRE);
	snprintf(m.app, sizeof(m.app), "%s", d->app);
	snprintf(m.instance, sizeof(m.instance), "%s", id);
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	d->pending++;
	d->retiring++;
	if (bus_call(d->dp->svc->bus, switch_autostart(d), &m,
	    SWITCH_RETIRE_TIMEOUT_MS, switch_retired, d) != 0) {
		d->pending--;
		d->retiring--;
		log_warn("cannot retire an instance", "app=%s instance=%s "
		    "err=\"bus call refused\"", d->app, id);
	}
}

/*
 * KEYS instances; ARGV inst_tpl. The app's staged instances: with its
 * deploy lock held, every one is this deploy's.
 */
static const char script_staged[] =
    "local out = {}\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if redis.call('HGET', string.sub(ARGV[1], 1, -2) .. id, 'state') =="
    " 'staged' then out[#out + 1] = id end\n"
    "end\n"
    "return out\n";

static void
switch_strays(struct store *st, redisReply *r, void *arg)
{
	struct deploy *d = arg;

	(void)st;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && !d->dp->stopping)
		for (size_t i = 0; i < r->elements; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    keys_name_valid(r->element[i]->str))
				switch_retire(d, r->element[i]->str,
				    "staged, not switched to");
	deploy_back(d);
}

/*
 * Staged instances the deploy does not know of: a stage whose answer
 * never came (autostart restarted, or was slower than the call's
 * timeout) may still have made one. Each is retired, so that a failed
 * deploy leaves nothing behind.
 */
static void
switch_retire_strays(struct deploy *d)
{
	char kinsts[KEY_MAX], tpl[KEY_MAX];

	d->pending++;
	if (key_instances(kinsts, sizeof(kinsts), d->app) == NULL ||
	    key_instance(tpl, sizeof(tpl), d->app, "X") == NULL ||
	    store_command(d->dp->svc->store, switch_strays, d,
	    "EVAL %s 1 %s %s", script_staged, kinsts, tpl) != 0)
		d->pending--;
}

/* STAGED: the staged ones (a failed deploy); else the old ones. */
void
switch_retire_all(struct deploy *d, bool staged)
{
	if (staged) {
		for (int i = 0; i < d->nstaged; i++)
			switch_retire(d, d->staged[i].id, "deploy failed");
		d->nstaged = 0;
		switch_retire_strays(d);
		return;
	}
	for (int i = 0; i < d->nold; i++)
		switch_retire(d, d->old[i], "replaced by a deploy");
	d->nold = 0;
	d->drain_at = 0;
}

/* --- the end: done, or the watch's verdict --- */

void
switch_done(struct deploy *d)
{
	char why[600];

	if (d->nold > 0 || d->retiring > 0)
		return;		/* retired by the tick; done when stopped */
	if (d->recover_why[0] != '\0') {
		deploy_finish(d, d->recover_why);
		return;
	}
	if (d->rolling_back) {
		snprintf(why, sizeof(why), "rolled back to release %llu: %s",
		    d->target, d->bad_why);
		d->phase = "watch";
		deploy_finish(d, why);
		return;
	}
	deploy_finish(d, NULL);
}

/* deploy.rolledback: release d->target serves (or will) again. */
static void
switch_rolledback(struct deploy *d)
{
	struct msg m;

	msg_init(&m, MSG_DEPLOY_ROLLEDBACK);
	snprintf(m.app, sizeof(m.app), "%s", d->app);
	snprintf(m.release, sizeof(m.release), "%llu", d->release);
	snprintf(m.reason, sizeof(m.reason), "%s", d->bad_why);
	m.to = (int64_t)d->target;
	bus_publish(d->dp->svc->bus, &m);
}

/* --- the switch --- */

static void
switch_switched(struct store *st, redisReply *r, void *arg)
{
	struct deploy *d = arg;
	char why[300];
	struct msg m;

	(void)st;
	if (deploy_back(d))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		switch_fail(d, "redis: the switch did not answer");
		return;
	}
	if (strcmp(r->element[0]->str, "idle") == 0 && !d->rolling_back) {
		/* the app stopped while its new instances started (its
		 * stop took them too): the sleeping path, then */
		log_info("app stopped during its deploy", "app=%s "
		    "release=%llu", d->app, d->target);
		switch_retire_all(d, true);
		switch_activate(d);
		return;
	}
	if (strcmp(r->element[0]->str, "ok") != 0 || r->elements < 2) {
		snprintf(why, sizeof(why), "the switch found %s %s",
		    r->element[0]->str, r->elements > 1 &&
		    r->element[1]->type == REDIS_REPLY_STRING ?
		    r->element[1]->str : "");
		switch_fail(d, why);
		return;
	}
	d->switched = true;
	for (size_t i = 2; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    d->nold < (int)(sizeof(d->old) / sizeof(d->old[0])))
			snprintf(d->old[d->nold++], sizeof(d->old[0]), "%s",
			    r->element[i]->str);
	/* the new ones first: a proxy never has nothing to send to */
	for (int i = 0; i < d->nstaged; i++) {
		msg_init(&m, MSG_INSTANCE_READY);
		snprintf(m.app, sizeof(m.app), "%s", d->app);
		snprintf(m.instance, sizeof(m.instance), "%s",
		    d->staged[i].id);
		snprintf(m.addr, sizeof(m.addr), "%s", d->staged[i].addr);
		snprintf(m.host, sizeof(m.host), "%s", d->staged[i].host);
		snprintf(m.release, sizeof(m.release), "%llu", d->target);
		bus_publish(d->dp->svc->bus, &m);
	}
	for (int i = 0; i < d->nold; i++) {
		msg_init(&m, MSG_INSTANCE_DRAINING);
		snprintf(m.app, sizeof(m.app), "%s", d->app);
		snprintf(m.instance, sizeof(m.instance), "%s", d->old[i]);
		snprintf(m.reason, sizeof(m.reason), "deploy");
		bus_publish(d->dp->svc->bus, &m);
	}
	if (d->rolling_back) {
		switch_rolledback(d);
	} else {
		msg_init(&m, MSG_DEPLOY_SWITCHED);
		snprintf(m.app, sizeof(m.app), "%s", d->app);
		snprintf(m.release, sizeof(m.release), "%llu", d->target);
		m.from = strtoll(d->prev, NULL, 10);
		m.to = (int64_t)d->target;
		bus_publish(d->dp->svc->bus, &m);
	}
	log_info(d->rolling_back ? "deploy rolled back" : "deploy switched",
	    "app=%s release=%llu from=%s instances=%d draining=%d", d->app,
	    d->target, d->prev[0] ? d->prev : "-", d->nstaged, d->nold);
	if (!d->rolling_back && !d->manual_rollback)
		switch_release_state(d, d->target, "ready");
	/* a stage answered twice (nng's req0 resends a request whose
	 * peer died, to the autostart that replaced it) left one */
	switch_retire_strays(d);
	d->drain_at = service_mono_ms() + d->dp->svc->cfg.deployer.drain_ms;
	if (d->rolling_back || d->manual_rollback) {
		d->watch_end = 0;
		deploy_progress(d, "draining");
		return;
	}
	d->watch_end = service_mono_ms() + (d->watch_ms >= 0 ? d->watch_ms :
	    d->dp->svc->cfg.deployer.watch_ms);
	d->probe_at = service_mono_ms() +
	    d->dp->svc->cfg.deployer.watch_interval_ms;
	deploy_progress(d, "watching");
}

static void
switch_switch(struct deploy *d)
{
	struct service *s = d->dp->svc;
	char kapp[KEY_MAX], klock[KEY_MAX], kinsts[KEY_MAX], tpl[KEY_MAX];
	char krel[KEY_MAX], n[32], target[32];
	const char *argv[10 + DEPLOY_INSTANCES_MAX];
	int i = 0;

	deploy_progress(d, "switching");
	snprintf(n, sizeof(n), "%llu", d->release);
	snprintf(target, sizeof(target), "%llu", d->target);
	argv[i++] = "EVAL";
	argv[i++] = script_switch;
	argv[i++] = "4";
	argv[i++] = key_app(kapp, sizeof(kapp), d->app);
	argv[i++] = key_deploy_lock(klock, sizeof(klock), d->app);
	argv[i++] = key_instances(kinsts, sizeof(kinsts), d->app);
	argv[i++] = key_release(krel, sizeof(krel), d->app, d->target);
	argv[i++] = n;
	argv[i++] = target;
	argv[i++] = key_instance(tpl, sizeof(tpl), d->app, "X");
	for (int k = 0; k < d->nstaged; k++)
		argv[i++] = d->staged[k].id;
	d->pending++;
	if (argv[3] == NULL || argv[4] == NULL || argv[5] == NULL ||
	    argv[6] == NULL || argv[9] == NULL ||
	    store_commandv(s->store, switch_switched, d, i,
	    argv, NULL) != 0) {
		d->pending--;
		switch_fail(d, "redis is not reachable");
	}
}

/* --- the optional check: GET PATH answers 2xx on every new one --- */

static void
switch_checked(bool ready, const char *why, void *arg)
{
	struct deploy *d = arg;

	d->out--;
	if (!ready && d->fail[0] == '\0')
		snprintf(d->fail, sizeof(d->fail), "check %s: %s", d->check,
		    why);
	if (deploy_back(d) || d->out > 0)
		return;
	if (d->fail[0] != '\0') {
		switch_fail(d, d->fail);
		return;
	}
	switch_switch(d);
}

static void
switch_check(struct deploy *d)
{
	char how[300];

	if (d->check[0] == '\0') {
		switch_switch(d);
		return;
	}
	deploy_progress(d, "checking");
	snprintf(how, sizeof(how), "http:%s", d->check);
	d->fail[0] = '\0';
	for (int i = 0; i < d->nstaged; i++) {
		d->out++;
		d->pending++;
		if (probe_start(d->dp->svc->loop, d->staged[i].addr, how,
		    switch_checked, d) == NULL) {
			d->out--;
			d->pending--;
			snprintf(d->fail, sizeof(d->fail), "check: out of "
			    "memory");
		}
	}
	if (d->out == 0)
		switch_fail(d, d->fail);
}

/* --- staging: autostart starts the new instances, not in service --- */

static void
switch_staged(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	struct deploy *d = arg;
	struct deploy_inst *in;

	d->out--;
	if (st == BUS_OK && d->nstaged < DEPLOY_INSTANCES_MAX) {
		in = &d->staged[d->nstaged++];
		memset(in, 0, sizeof(*in));
		snprintf(in->id, sizeof(in->id), "%s", r->instance);
		snprintf(in->addr, sizeof(in->addr), "%s", r->addr);
		snprintf(in->host, sizeof(in->host), "%s", r->host);
	} else if (d->fail[0] == '\0') {
		snprintf(d->fail, sizeof(d->fail), "release %llu: %s",
		    d->target, st == BUS_OK ? "too many instances" : err);
	}
	if (deploy_back(d) || d->out > 0)
		return;
	if (d->fail[0] != '\0' && !d->recheck) {
		/* the app may have stopped meanwhile (its stop takes its
		 * staged instances too; a rollback's, when the last bad
		 * instance died): if so, the sleeping path */
		switch_retire_all(d, true);
		d->recheck = true;
		switch_activate(d);
		return;
	}
	if (d->fail[0] != '\0') {
		switch_fail(d, d->fail);
		return;
	}
	switch_check(d);
}

static void
switch_stage(struct deploy *d)
{
	struct msg m;

	if (!d->rolling_back)
		deploy_progress(d, "starting");
	d->nstaged = 0;
	d->fail[0] = '\0';
	for (int i = 0; i < d->want; i++) {
		msg_init(&m, MSG_STAGE);
		snprintf(m.app, sizeof(m.app), "%s", d->app);
		snprintf(m.release, sizeof(m.release), "%llu", d->target);
		d->out++;
		d->pending++;
		if (bus_call(d->dp->svc->bus, switch_autostart(d), &m,
		    d->start_timeout_ms + SWITCH_STAGE_SLACK_MS, switch_staged,
		    d) != 0) {
			d->out--;
			d->pending--;
			snprintf(d->fail, sizeof(d->fail), "cannot call "
			    "autostart at %s", switch_autostart(d));
			break;
		}
	}
	if (d->out == 0)
		switch_fail(d, d->fail);
}

/* --- a sleeping app --- */

static void
switch_woken(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	struct deploy *d = arg;
	char why[400];

	if (deploy_back(d))
		return;
	if (st != BUS_OK) {
		snprintf(why, sizeof(why), "release %llu is current, but the "
		    "wake failed: %s", d->target, err);
		deploy_finish(d, why);
		return;
	}
	deploy_finish(d, NULL);
}

static void
switch_sleeping(struct deploy *d)
{
	struct msg m;

	log_info("release made current for the next wake", "app=%s "
	    "release=%llu previous=%s wake=%s", d->app, d->target,
	    d->prev[0] ? d->prev : "-", d->wake ? "now" : "next request");
	if (d->rolling_back) {
		/* every new instance died and the app stopped: its next
		 * wake runs the release it had */
		switch_rolledback(d);
		d->switched = true;
		d->watch_end = 0;
		switch_done(d);	/* or once the old ones are retired */
		return;
	}
	if (!d->manual_rollback)
		switch_release_state(d, d->target, "ready");
	if (!d->wake) {
		deploy_finish(d, NULL);
		return;
	}
	deploy_progress(d, "waking");
	msg_init(&m, MSG_WAKE);
	snprintf(m.app, sizeof(m.app), "%s", d->app);
	d->pending++;
	if (bus_call(d->dp->svc->bus, switch_autostart(d), &m,
	    d->start_timeout_ms + SWITCH_STAGE_SLACK_MS, switch_woken,
	    d) != 0) {
		d->pending--;
		deploy_finish(d, "cannot call autostart to wake the app");
	}
}

/* --- activate: what the app runs now decides the path --- */

static void
switch_retry(uv_timer_t *t)
{
	struct deploy *d = t->data;

	uv_close((uv_handle_t *)t, (uv_close_cb)free);
	if (deploy_back(d))
		return;
	switch_activate(d);
}

static void
switch_activated(struct store *st, redisReply *r, void *arg)
{
	struct deploy *d = arg;
	const char *what;
	uv_timer_t *t;

	(void)st;
	if (deploy_back(d))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		switch_fail(d, "redis: no answer");
		return;
	}
	what = r->element[0]->str;
	for (size_t i = 1; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING) {
			switch_fail(d, "redis: unexpected answer");
			return;
		}
	if (strcmp(what, "sleeping") == 0 && r->elements == 2) {
		if (d->recheck)
			log_info("app stopped during its deploy", "app=%s "
			    "release=%llu", d->app, d->target);
		else
			snprintf(d->prev, sizeof(d->prev), "%s",
			    r->element[1]->str);
		switch_sleeping(d);
	} else if (strcmp(what, "running") == 0 && d->recheck) {
		switch_fail(d, d->fail);	/* it runs: the stage failed */
	} else if (strcmp(what, "running") == 0 && r->elements == 5) {
		d->want = (int)strtol(r->element[1]->str, NULL, 10);
		snprintf(d->prev, sizeof(d->prev), "%s", r->element[2]->str);
		d->start_timeout_ms = (int)strtol(r->element[3]->str, NULL,
		    10);
		if (d->want > DEPLOY_INSTANCES_MAX)
			d->want = DEPLOY_INSTANCES_MAX;
		if (d->start_timeout_ms < 100)
			d->start_timeout_ms = 30000;
		switch_stage(d);
	} else if (strcmp(what, "busy") == 0 &&
	    service_mono_ms() - d->t0 < 10 * 60 * 1000) {
		/* a wake or a stop is under way: its end decides */
		if ((t = malloc(sizeof(*t))) == NULL) {
			switch_fail(d, "out of memory");
			return;
		}
		uv_timer_init(d->dp->svc->loop, t);
		t->data = d;
		d->pending++;
		uv_timer_start(t, switch_retry, SWITCH_BUSY_RETRY_MS, 0);
	} else if (strcmp(what, "unsupported") == 0 && r->elements == 2) {
		/* an orchestrator's replicas are its own to replace */
		snprintf(d->fail, sizeof(d->fail), "a running app of the %s "
		    "driver is not switched by the deployer (process and "
		    "docker apps are)", r->element[1]->str);
		switch_fail(d, d->fail);
	} else {
		switch_fail(d, strcmp(what, "lost") == 0 ? "the deploy lock "
		    "was lost" : "the app is busy");
	}
}

void
switch_activate(struct deploy *d)
{
	char kapp[KEY_MAX], klock[KEY_MAX], kinsts[KEY_MAX], tpl[KEY_MAX];
	char krel[KEY_MAX], n[32], target[32];

	snprintf(n, sizeof(n), "%llu", d->release);
	snprintf(target, sizeof(target), "%llu", d->target);
	d->pending++;
	if (key_app(kapp, sizeof(kapp), d->app) == NULL ||
	    key_deploy_lock(klock, sizeof(klock), d->app) == NULL ||
	    key_instances(kinsts, sizeof(kinsts), d->app) == NULL ||
	    key_release(krel, sizeof(krel), d->app, d->target) == NULL ||
	    key_instance(tpl, sizeof(tpl), d->app, "X") == NULL ||
	    store_command(d->dp->svc->store, switch_activated, d,
	    "EVAL %s 4 %s %s %s %s %s %s %s", script_activate, kapp, klock,
	    kinsts, krel, n, target, tpl) != 0) {
		d->pending--;
		switch_fail(d, "redis is not reachable");
	}
}

void
switch_begin(struct deploy *d)
{
	if (d->target == 0)
		d->target = d->release;
	deploy_progress(d, "activating");
	switch_activate(d);
}
