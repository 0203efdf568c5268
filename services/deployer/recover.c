/*
 * Recovery: a deployer that dies mid-deploy (kill -9, a lost host)
 * leaves its app marked "deploying", perhaps with staged instances not
 * in service yet or old ones draining, and its lock to lapse. Every
 * replica looks, every DEPLOYER_RECOVER_MS, at the apps in PREFIX
 * deploying whose lock is gone, takes the lock and finishes the deploy
 * the one way that is always right: the app keeps the release its
 * record names (the switch is one script, so the record says whether it
 * happened), every staged and draining instance is retired, and the
 * deploy ends with deploy.done (the switch had happened) or
 * deploy.failed (it had not).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "deployer.h"

/*
 * KEYS app, lock, instances, deploying; ARGV app, lease_ms, inst_tpl.
 * Returns {"held"} (a live deploy), {"clean"} (nothing was left), or
 * {"recover", N, current, ids...}: the lock is ours, holding N, and IDS
 * are the staged and draining instances to retire.
 */
static const char script_recover[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return {'held'} end\n"
    "local n = redis.call('HGET', KEYS[1], 'deploying')\n"
    "if not n then\n"
    "  redis.call('SREM', KEYS[4], ARGV[1])\n"
    "  return {'clean'}\n"
    "end\n"
    "redis.call('SET', KEYS[2], n, 'PX', ARGV[2])\n"
    "local out = {'recover', n, redis.call('HGET', KEYS[1], 'release') or ''}"
    "\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "  local st = redis.call('HGET', string.sub(ARGV[3], 1, -2) .. id,"
    " 'state')\n"
    "  if st == 'staged' or st == 'draining' then out[#out + 1] = id end\n"
    "end\n"
    "return out\n";

static bool
recover_mine(struct deployer *dp, const char *app)
{
	struct deploy *d;

	LIST_FOREACH(d, &dp->deploys, link)
		if (!d->finished && strcmp(d->app, app) == 0)
			return true;
	return false;
}

static void
recover_app_cb(struct store *st, redisReply *r, void *arg)
{
	struct deploy *d = arg;
	struct deployer *dp = d->dp;
	char *end;

	(void)st;
	if (dp->stopping || r == NULL || r->type != REDIS_REPLY_ARRAY ||
	    r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->element[0]->str, "recover") != 0) {
		deploy_back(d);
		deploy_finish(d, NULL);	/* nothing to do: quietly */
		return;
	}
	for (size_t i = 1; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING) {
			deploy_back(d);
			deploy_finish(d, NULL);
			return;
		}
	d->pending--;
	d->release = strtoull(r->element[1]->str, &end, 10);
	d->target = d->release;
	snprintf(d->prev, sizeof(d->prev), "%s", r->element[2]->str);
	for (size_t i = 3; i < r->elements &&
	    d->nold < (int)(sizeof(d->old) / sizeof(d->old[0])); i++)
		snprintf(d->old[d->nold++], sizeof(d->old[0]), "%s",
		    r->element[i]->str);
	if (strcmp(d->prev, r->element[1]->str) != 0)
		snprintf(d->recover_why, sizeof(d->recover_why), "the "
		    "deployer stopped before the switch; release %s keeps "
		    "serving", d->prev[0] ? d->prev : "(none)");
	log_warn("recovering a deploy a deployer left", "app=%s release=%llu "
	    "current=%s retire=%d", d->app, d->release,
	    d->prev[0] ? d->prev : "-", d->nold);
	d->quiet = false;
	d->phase = "recover";
	d->switched = true;
	d->renew_at = service_mono_ms() + DEPLOYER_RENEW_MS;
	d->drain_at = service_mono_ms();	/* retired at the next tick */
}

static void
recover_app(struct deployer *dp, const char *app)
{
	char kapp[KEY_MAX], klock[KEY_MAX], kinsts[KEY_MAX], kset[KEY_MAX];
	char tpl[KEY_MAX], lease[16];
	struct deploy *d;

	if (recover_mine(dp, app) || (d = calloc(1, sizeof(*d))) == NULL)
		return;
	d->dp = dp;
	snprintf(d->app, sizeof(d->app), "%s", app);
	d->t0 = service_mono_ms();
	d->watch_ms = -1;
	d->quiet = true;		/* until it is ours */
	LIST_INSERT_HEAD(&dp->deploys, d, link);
	snprintf(lease, sizeof(lease), "%d", DEPLOYER_LEASE_MS);
	d->pending++;
	if (key_app(kapp, sizeof(kapp), app) == NULL ||
	    key_deploy_lock(klock, sizeof(klock), app) == NULL ||
	    key_instances(kinsts, sizeof(kinsts), app) == NULL ||
	    key_deploying(kset, sizeof(kset)) == NULL ||
	    key_instance(tpl, sizeof(tpl), app, "X") == NULL ||
	    store_command(dp->svc->store, recover_app_cb, d,
	    "EVAL %s 4 %s %s %s %s %s %s %s", script_recover, kapp, klock,
	    kinsts, kset, app, lease, tpl) != 0) {
		d->pending--;
		deploy_finish(d, NULL);
	}
}

static void
recover_scanned(struct store *st, redisReply *r, void *arg)
{
	struct deployer *dp = arg;

	(void)st;
	dp->recovering = false;
	if (dp->stopping || r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    keys_name_valid(r->element[i]->str))
			recover_app(dp, r->element[i]->str);
}

void
recover_scan(struct deployer *dp)
{
	char key[KEY_MAX];

	if (dp->recovering || key_deploying(key, sizeof(key)) == NULL)
		return;
	dp->recovering = true;
	if (store_command(dp->svc->store, recover_scanned, dp, "SMEMBERS %s",
	    key) != 0)
		dp->recovering = false;
}
