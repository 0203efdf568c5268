/*
 * After the switch: the loop's tick drives each deploy's timed steps
 * (the old instances retired after deployer.drain_ms, the lease
 * renewed, the watch's probes), and the watch decides whether the new
 * release stays. An exit of a new instance (instance.stopped) or
 * deployer.watch_failures failed checks in a row (no answer, or a 5xx on
 * the check path) and the deploy goes back to the previous release by
 * switch.c's own path (switch_activate), marked bad.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "probe.h"
#include "deployer.h"

/* The watch found the new release bad: back to the previous one. */
static void
watch_rollback(struct deploy *d, const char *why)
{
	unsigned long long prev = strtoull(d->prev, NULL, 10);

	if (d->rolling_back)
		return;
	d->watch_end = 0;
	snprintf(d->bad_why, sizeof(d->bad_why), "%s", why);
	log_warn("new release is bad", "app=%s release=%llu why=\"%s\"",
	    d->app, d->target, why);
	switch_release_state(d, d->target, "bad");
	if (prev == 0) {
		/* nothing to go back to: the bad one keeps serving */
		d->phase = "watch";
		deploy_finish(d, d->bad_why);
		return;
	}
	/* back the way it came: the app may run (the switch back lists the
	 * bad ones as the old ones to retire) or may have stopped, when
	 * every new instance died (its record is pointed back) */
	d->rolling_back = true;
	d->switched = false;
	snprintf(d->prev, sizeof(d->prev), "%llu", d->target);
	d->target = prev;
	deploy_progress(d, "rollback");
	switch_activate(d);
}

static void
watch_checked(bool ready, const char *why, void *arg)
{
	struct deploy *d = arg;
	bool ok;
	char bad[300];

	d->out--;
	/* a 4xx is the app's answer; a 5xx or no answer is not */
	ok = ready || (strncmp(why, "answered ", 9) == 0 && why[9] != '5');
	if (!ok && d->fail[0] == '\0')
		snprintf(d->fail, sizeof(d->fail), "%s", why);
	if (deploy_back(d) || d->out > 0)
		return;
	if (d->fail[0] == '\0' || d->rolling_back || d->watch_end == 0) {
		d->bad_probes = 0;
		return;
	}
	if (++d->bad_probes >= d->dp->svc->cfg.deployer.watch_failures) {
		snprintf(bad, sizeof(bad), "GET %.100s: %.120s (%d checks "
		    "in a row)", d->check[0] ? d->check : "/", d->fail,
		    d->bad_probes);
		watch_rollback(d, bad);
	}
}

static void
watch_probe(struct deploy *d)
{
	char how[300];

	snprintf(how, sizeof(how), "http:%s", d->check[0] ? d->check : "/");
	d->fail[0] = '\0';
	for (int i = 0; i < d->nstaged; i++) {
		d->out++;
		d->pending++;
		if (probe_start(d->dp->svc->loop, d->staged[i].addr, how,
		    watch_checked, d) == NULL) {
			d->out--;
			d->pending--;
		}
	}
}

static void
watch_renewed(struct store *st, redisReply *r, void *arg)
{
	struct deploy *d = arg;

	(void)st;
	if (deploy_back(d))
		return;
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
		log_warn("deploy lease lost", "app=%s release=%llu", d->app,
		    d->release);
}

/* KEYS lock; ARGV N, lease_ms. */
static const char script_renew[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n";

static void
watch_renew(struct deploy *d)
{
	char key[KEY_MAX], n[32], ms[16];

	snprintf(n, sizeof(n), "%llu", d->release);
	snprintf(ms, sizeof(ms), "%d", DEPLOYER_LEASE_MS);
	d->pending++;
	if (key_deploy_lock(key, sizeof(key), d->app) == NULL ||
	    store_command(d->dp->svc->store, watch_renewed, d,
	    "EVAL %s 1 %s %s %s", script_renew, key, n, ms) != 0)
		d->pending--;
}

void
watch_tick(struct deployer *dp)
{
	int64_t now = service_mono_ms();
	struct deploy *d, *next;

	for (d = LIST_FIRST(&dp->deploys); d != NULL; d = next) {
		next = LIST_NEXT(d, link);
		if (d->finished || d->release == 0)
			continue;
		if (now >= d->renew_at) {
			d->renew_at = now + DEPLOYER_RENEW_MS;
			watch_renew(d);
		}
		if (d->drain_at != 0 && now >= d->drain_at) {
			deploy_progress(d, "retiring");
			switch_retire_all(d, false);
			if (d->watch_end == 0 && d->out == 0 && d->switched) {
				switch_done(d);
				continue;
			}
		}
		if (d->watch_end == 0 || !d->switched)
			continue;
		if (d->exited[0] != '\0' && d->out == 0) {
			watch_rollback(d, d->exited);
			continue;
		}
		if (now >= d->watch_end && d->out == 0) {
			d->watch_end = 0;
			if (d->nold == 0)
				switch_done(d);
			else
				deploy_progress(d, "draining");
			continue;
		}
		if (now >= d->probe_at && d->out == 0) {
			d->probe_at = now +
			    dp->svc->cfg.deployer.watch_interval_ms;
			watch_probe(d);
		}
	}
}

void
watch_on_event(struct deployer *dp, const struct msg *m)
{
	struct deploy *d;
	char why[400];

	if (m->type != MSG_INSTANCE_STOPPED)
		return;
	LIST_FOREACH(d, &dp->deploys, link) {
		if (d->finished || !d->switched || d->watch_end == 0 ||
		    d->rolling_back || strcmp(d->app, m->app) != 0)
			continue;
		for (int i = 0; i < d->nstaged; i++) {
			if (strcmp(d->staged[i].id, m->instance) != 0)
				continue;
			snprintf(why, sizeof(why), "instance %s ended: %.300s",
			    m->instance, m->reason[0] ? m->reason : "exited");
			d->staged[i].gone = true;
			/* the tick rolls back once no probe is out */
			if (d->exited[0] == '\0')
				snprintf(d->exited, sizeof(d->exited), "%s",
				    why);
			return;
		}
	}
}
