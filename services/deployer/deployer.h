/*
 * devcloud-deployer: replaces an app's running build with a new one (an
 * artifact from CI) without failing a request, and rolls back when the
 * new version is unhealthy.
 *
 * Today the daemon takes artifacts in (intake.c): an upload on its
 * admin port becomes a numbered release, checked and unpacked under
 * deployer.releases_dir/APP/N and recorded in Redis. Switching the app
 * to a release (its record's "release" field, instances started on it
 * first) is still to come.
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
 * How long an app's deploy lock lives (PREFIX lock:deploy:APP). A
 * deploy ends well within it (an upload is at most 2 GiB, unpacked on
 * the thread pool); it only bounds how long a deployer that died
 * mid-deploy keeps the app's next deploy out.
 */
#define DEPLOYER_LOCK_MS 600000

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
	LIST_ENTRY(deploy) link;
};
LIST_HEAD(deploy_list, deploy);

/* The daemon's state, held in s->priv. */
struct deployer {
	struct service *svc;
	struct admin_route routes[1];
	struct deploy_list deploys;	/* in progress */
	bool stopping;			/* the store and bus are going */
};

/* artifact.c: an artifact checked (checksum, sizes) and unpacked safely
 * into a release directory; its prototypes are in artifact.h, which
 * needs nothing else, so its unit test and fuzz target link it alone */

/* intake.c: POST /v1/apps/APP/releases, the lock, the release's record
 * and the events */
void intake_routes(struct deployer *dp);
void intake_shutdown(struct deployer *dp);

/*
 * release.c: the steps that touch the disk, each on libuv's thread pool,
 * then DONE on the loop with D back (D->rc, D->err say how it went).
 * release_unpack: writes D->body to an unnamed file in the app's
 * directory, hashes it and unpacks it as release D->release.
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
