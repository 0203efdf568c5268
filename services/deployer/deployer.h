/*
 * devcloud-deployer: replaces an app's running build with a new one (an
 * artifact from CI) without failing a request, and rolls back when the
 * new version is unhealthy.
 *
 * intake.c takes artifacts in: an upload on its admin port (or a URL
 * it downloads, or a docker image) becomes a numbered release, checked
 * and unpacked under deployer.releases_dir/APP/N (release.c, on the
 * thread pool) and recorded in Redis. switch.c makes it what the app
 * runs: start-first for a running app (autostart stages the new
 * instances, one script switches, the old ones drain), watched and
 * rolled back when bad; the record alone for a sleeping one. recover.c
 * finishes what a deployer that died left.
 */
#ifndef DC_DEPLOYER_H
#define DC_DEPLOYER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "admin.h"
#include "msg.h"
#include "service.h"
#include "sha256.h"

/*
 * An app's deploy lock (PREFIX lock:deploy:APP) is a lease: it lives
 * DEPLOYER_LEASE_MS and the deployer that holds it renews it every
 * DEPLOYER_RENEW_MS while the deploy runs, however long that is (an
 * unpack, a slow start, the watch). A deployer that dies keeps the
 * app's next deploy out for at most the lease; then any replica's
 * recovery (recover.c) finishes what it left.
 */
#define DEPLOYER_LEASE_MS 15000
#define DEPLOYER_RENEW_MS 5000
/* The loop's tick: drains, watch probes, renewals and recovery. */
#define DEPLOYER_TICK_MS 100
/* How often the recovery looks for deploys whose lease lapsed. */
#define DEPLOYER_RECOVER_MS 2000

/* One instance a deploy started (staged) and switched to. */
struct deploy_inst {
	char id[MSG_NAME_MAX];
	char addr[MSG_ADDR_MAX];
	char host[MSG_DOMAIN_MAX];
	bool gone;			/* exited or failed a probe */
};

#define DEPLOY_INSTANCES_MAX 64
#define DEPLOY_URL_MAX 2048

/*
 * One deploy, from its request to its deploy.done or deploy.failed.
 * The loop owns it; while a step runs on the thread pool (release.c)
 * only that step touches it, and the loop takes it back in the step's
 * completion. A deploy is freed only on the loop, never by a step.
 */
struct deploy {
	struct deployer *dp;
	char app[MSG_NAME_MAX];
	unsigned long long release;	/* 0 until the lock was taken */
	char want_sha256[SHA256_HEX_LEN];	/* "": the upload gave none */
	char url[DEPLOY_URL_MAX];	/* "": the body is the artifact */
	char image[256];		/* an image deploy: no files */
	char *body;			/* the artifact, until written */
	size_t len;
	struct admin_later later;	/* the request */
	bool waiting;			/* not answered yet */
	int64_t t0;			/* service_mono_ms at the request */

	/* what a step on the thread pool found */
	int rc;				/* 0 or -1 */
	char err[512];
	char sha256[SHA256_HEX_LEN];	/* of the artifact */
	unsigned long long prune[64];	/* releases to remove from disk */
	size_t nprune;

	/* what the request asked of the switch-over (switch.c) */
	char check[256];		/* a path that must answer 2xx; "" */
	bool wake;			/* a sleeping app is started now */
	int watch_ms;			/* -1: deployer.watch_ms */
	bool manual_rollback;		/* no artifact: back to release */

	/* the switch-over */
	const char *phase;		/* the step running, for events */
	unsigned long long target;	/* the release switched to */
	char prev[MSG_NAME_MAX];	/* current before the switch ("") */
	int want;			/* instances to stage */
	int start_timeout_ms;		/* the app's */
	struct deploy_inst staged[DEPLOY_INSTANCES_MAX];
	int nstaged;
	char old[DEPLOY_INSTANCES_MAX * 2][MSG_NAME_MAX];	/* to retire */
	int nold;
	int out;			/* stage calls or probes out */
	int retiring;			/* retire calls out */
	char fail[512];			/* the first failure of a step */
	bool switched;			/* the new instances serve */
	bool rolling_back;		/* the watch found it bad */
	bool recheck;			/* a stage failed: does it run? */
	char bad_why[512];		/* what the watch found */
	char exited[400];		/* a new instance ended: why */
	char recover_why[300];		/* a recovery that fails it */
	bool quiet;			/* a recovery not ours: no event */
	int64_t drain_at;		/* mono ms: retire the old ones */
	int64_t watch_end;		/* mono ms: the watch is over */
	int64_t probe_at;		/* mono ms: the next watch probe */
	int64_t renew_at;		/* mono ms: the lease's renewal */
	int bad_probes;			/* in a row */
	int pending;			/* callbacks that name it */
	bool finished;			/* freed when pending is 0 */
	LIST_ENTRY(deploy) link;
};
LIST_HEAD(deploy_list, deploy);

/* The daemon's state, held in s->priv. */
struct deployer {
	struct service *svc;
	struct admin_route routes[1];
	struct deploy_list deploys;	/* in progress */
	bool stopping;			/* the store and bus are going */
	uv_timer_t tick;		/* DEPLOYER_TICK_MS */
	int64_t recover_at;		/* mono ms */
	bool recovering;		/* a recovery pass is out */
};

/* artifact.c: an artifact checked (checksum, sizes) and unpacked safely
 * into a release directory; its prototypes are in artifact.h, which
 * needs nothing else, so its unit test and fuzz target link it alone */

/* intake.c: POST /v1/apps/APP/releases, the lock, the release's record
 * and the events */
void intake_routes(struct deployer *dp);
void intake_shutdown(struct deployer *dp);
/* Ends D: unlocks the app, sends deploy.done (REASON NULL) or
 * deploy.failed (with d->phase), frees D once nothing names it. */
void deploy_finish(struct deploy *d, const char *reason);
/* A callback naming D is back: true if it must stop there (D freed or
 * the daemon stopping). */
bool deploy_back(struct deploy *d);
void deploy_progress(struct deploy *d, const char *phase);

/*
 * switch.c: the switch-over, once release d->target is on disk: a
 * running app's instances replaced start-first, watched, rolled back
 * when bad; a sleeping app's record pointed at it.
 */
void switch_begin(struct deploy *d);
/* What the app runs decides the path (again, after a failed stage or
 * for a rollback: d->target is where it goes). */
void switch_activate(struct deploy *d);
/* Retires the staged instances (STAGED) or the old ones. */
void switch_retire_all(struct deploy *d, bool staged);
/* Ends D once its old instances are stopped: done, or rolled back. */
void switch_done(struct deploy *d);
/* Records what became of release N (ready, failed, bad). */
void switch_release_state(struct deploy *d, unsigned long long n,
    const char *state);

/* watch.c: after the switch */
/* The tick: drains, the watch's probes, lease renewals. */
void watch_tick(struct deployer *dp);
/* instance.stopped: one of a watched deploy's new instances died. */
void watch_on_event(struct deployer *dp, const struct msg *m);

/* recover.c: deploys a dead deployer left (their lease lapsed) */
void recover_scan(struct deployer *dp);

/*
 * release.c: the steps that touch the disk, each on libuv's thread pool,
 * then DONE on the loop with D back (D->rc, D->err say how it went).
 * release_unpack: writes D->body (or what D->url answers, downloaded
 * with libcurl: deployer.fetch_* settings) to an unnamed file in the
 * app's directory, hashes it and unpacks it as release D->release.
 * release_prune: removes the releases D->prune names.
 * release_remove: removes release D->release (recorded it could not be).
 * release_sweep: removes what a crash left in releases_dir (temporary
 * directories of artifact_unpack).
 * Each returns 0, or -1 if the step could not be queued.
 */
typedef void (*release_done_fn)(struct deploy *d);
int release_unpack(struct deploy *d, release_done_fn done);
int release_prune(struct deploy *d, release_done_fn done);
int release_remove(struct deploy *d, release_done_fn done);
int release_sweep(struct deployer *dp);
/* DIR/APP/N into BUF; 0, or -1 if it does not fit. */
int release_path(char *buf, size_t len, const char *dir, const char *app,
    unsigned long long n);

/* main.c: the hooks on the service skeleton (no topics: on_event's
 * switch has only its default, which logs and counts) */
int main(int argc, char **argv);

#endif
