/*
 * A pool member's life, through one of two drivers (member_docker.c,
 * member_process.c); the pool logic (pool.c, lease.c) never knows which.
 *
 *   create   docker: POST /containers/create, not started (INACTIVE:
 *            costs disk, not memory), named "devcloud-pool-POOL-ID",
 *            labelled devcloud.pool=POOL and devcloud.member=ID, on
 *            idepool.docker_network (Docker's default bridge if empty).
 *            process: the member's directory
 *            idepool.members_dir/POOL/ID/ with its workspace in it.
 *   start    docker: POST /containers/ID/start, then its address
 *            (container IP on its network, and the pool's cport).
 *            process: the pool's command run by /bin/sh in its own
 *            process group, working directory the member's directory,
 *            $PORT a free loopback port, $DEVCLOUD_WORKSPACE the
 *            workspace path; the address is 127.0.0.1:$PORT.
 *            Readiness is the caller's (common/probe.h).
 *   stop     stopped, kept (a member whose files could not be saved).
 *   remove   docker rm -f (and its anonymous volumes); process: the
 *            process group killed and the directory removed. Removing a
 *            member that is already gone is a success.
 *   load     the developer's files, a directory of the workspace store,
 *            copied into the member's workspace (Docker Engine API PUT
 *            /containers/ID/archive; process: a copy into the member's
 *            directory). More than max_bytes, an absolute path, "..",
 *            or a link leaving the workspace is refused, naming it;
 *            nothing is copied then.
 *   save     the member's workspace copied out into DEST, a directory of
 *            the store (GET /containers/ID/archive; process: a copy).
 *            Unpacked by common/artifact.c's rules into a temporary
 *            sibling and swapped in only when complete: a failed save
 *            leaves DEST as it was.
 *   list     every member the driver finds for POOL (containers with the
 *            pool's label, or member directories), for reconciling with
 *            Redis at start.
 *
 * Every call is asynchronous (Docker's calls run on libuv's thread pool,
 * libcurl blocking there); its callback runs on the loop thread exactly
 * once per accepted call. Each returns 0 if accepted, or -1 with the
 * reason in ERR (then CB will not run).
 *
 * For the caller:
 *   - Call on the loop given to members_open; a callback never runs
 *     inside the call that asked for it (even a result known at once
 *     goes through the thread pool).
 *   - The spec, the id and the paths are copied when the call is
 *     accepted: the caller's may change or go at once. The result is
 *     the callback's to read, not to keep (copy what you need).
 *   - Names: the pool's name and the member's id as keys_name_valid
 *     takes them, else refused at once.
 *   - addr is "HOST:PORT" as addr_format writes it: the container's IP
 *     on its network and the pool's cport, or 127.0.0.1:$PORT.
 *     container is Docker's full id (create, start, list) or the
 *     process's pid (start, list; "" when it is not running).
 *   - load: a SRC_DIR that does not exist is an empty workspace (a
 *     developer's first visit); the workspace is created if the image
 *     lacks it (its parent must exist). Files are added to what the
 *     workspace holds (docker overwrites a name that exists; a process
 *     member's fresh workspace is empty, a name that exists is
 *     refused). bytes: the files' bytes. The files belong to the
 *     container's user (the image's USER; root if none).
 *   - save: DEST_DIR becomes exactly the member's workspace (a file
 *     removed in the member is gone from DEST_DIR too); its parent must
 *     exist. A docker member's workspace must exist (loaded, or in the
 *     image). The workspace is held in memory on the way (twice, for
 *     Docker). A crash may leave directories named ".NAME.new-*" or
 *     "..NAME.new-*" beside DEST_DIR (NAME its last component): remove
 *     them at start (a process member's go with its directory).
 *   - max_bytes (load, save) must be > 0: the files' bytes, at most.
 *   - stop: docker stop with 5 s of grace; a process group gets SIGTERM,
 *     then SIGKILL after 5 s. remove does not wait: docker rm -f, or
 *     SIGKILL to the group. members_close leaves members running (the
 *     process members' pid files let the next idepool find them).
 */
#ifndef DC_IDEPOOL_MEMBER_H
#define DC_IDEPOOL_MEMBER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "msg.h"

#define POOL_IMAGE_MAX 256
#define POOL_COMMAND_MAX 1024
#define POOL_PATH_MAX 256
#define POOL_ENV_MAX 2048
#define MEMBER_ERR_MAX 512
#define MEMBER_ID_MAX 80		/* a container id is 64 hex digits */

/* What every member of a pool is made from: the pool's record. */
struct pool_spec {
	char name[MSG_NAME_MAX];
	char driver[16];		/* "docker" or "process" */
	char image[POOL_IMAGE_MAX];	/* docker */
	char command[POOL_COMMAND_MAX];	/* process */
	int cport;			/* docker: the port the IDE serves */
	char ready[POOL_PATH_MAX];	/* "tcp" or "http:/path" */
	char workspace[POOL_PATH_MAX];	/* path of the files in a member */
	char env[POOL_ENV_MAX];		/* "K=V" lines, '\n' between */
};

struct member_result {
	bool ok;
	bool running;			/* list: the member is started */
	char container[MEMBER_ID_MAX];	/* docker: its id; process: pid */
	char addr[MSG_ADDR_MAX];	/* start: where it answers */
	char err[MEMBER_ERR_MAX];
	int64_t bytes;			/* load, save: bytes of files copied */
};

typedef void (*member_cb)(const struct member_result *r, void *arg);
/* list: once per member found, then once with ID NULL at the end (R->ok
 * false there if the listing itself failed). */
typedef void (*member_list_cb)(const char *id, const struct member_result *r,
    void *arg);

struct members;

struct members *members_open(uv_loop_t *loop, const struct config *cfg);
void members_close(struct members *m);

int member_create(struct members *m, const struct pool_spec *p,
    const char *id, member_cb cb, void *arg, char *err, size_t errlen);
int member_start(struct members *m, const struct pool_spec *p,
    const char *id, member_cb cb, void *arg, char *err, size_t errlen);
int member_stop(struct members *m, const struct pool_spec *p,
    const char *id, member_cb cb, void *arg, char *err, size_t errlen);
int member_remove(struct members *m, const struct pool_spec *p,
    const char *id, member_cb cb, void *arg, char *err, size_t errlen);
int member_load(struct members *m, const struct pool_spec *p,
    const char *id, const char *src_dir, int64_t max_bytes, member_cb cb,
    void *arg, char *err, size_t errlen);
int member_save(struct members *m, const struct pool_spec *p,
    const char *id, const char *dest_dir, int64_t max_bytes, member_cb cb,
    void *arg, char *err, size_t errlen);
int members_list(struct members *m, const struct pool_spec *p,
    member_list_cb cb, void *arg, char *err, size_t errlen);

/* --- the drivers' side, for member*.c only --- */

/*
 * One call, queued on libuv's thread pool: RUN (a driver's, may block)
 * fills RES (and FOUND for a list) on a worker thread, then the caller's
 * callback runs on the loop thread and the job is freed. The job holds
 * copies of everything it names (the spec, the id, the paths): the
 * caller's may go away as soon as the call returns.
 */
struct member_found {
	char id[MEMBER_ID_MAX];
	struct member_result r;
};

struct member_job {
	uv_work_t work;
	struct members *m;
	void *drv;			/* the driver's state */
	void (*run)(struct member_job *j);	/* NULL: nothing to do */
	struct pool_spec spec;
	char id[MEMBER_ID_MAX];
	char path[POOL_PATH_MAX * 4];	/* load: the source; save: DEST */
	int64_t max_bytes;
	member_cb cb;
	member_list_cb list_cb;
	void *arg;
	struct member_result res;
	struct member_found *found;	/* list: what RUN found */
	size_t nfound;
};

struct member_ops {
	const char *name;
	void *(*open)(uv_loop_t *loop, const struct config *cfg);
	void (*close)(void *drv);	/* after every job has ended */
	/* each fills the job (j->run, and j->res for a call done at once)
	 * or returns -1 with ERR */
	int (*create)(void *drv, struct member_job *j, char *err,
	    size_t errlen);
	int (*start)(void *drv, struct member_job *j, char *err,
	    size_t errlen);
	int (*stop)(void *drv, struct member_job *j, char *err,
	    size_t errlen);
	int (*remove)(void *drv, struct member_job *j, char *err,
	    size_t errlen);
	int (*load)(void *drv, struct member_job *j, char *err,
	    size_t errlen);
	int (*save)(void *drv, struct member_job *j, char *err,
	    size_t errlen);
	int (*list)(void *drv, struct member_job *j, char *err,
	    size_t errlen);
};

extern const struct member_ops member_docker_ops;
extern const struct member_ops member_process_ops;

/* member.c: a worker's error into J->res.err; adds a member to a list;
 * the path S into OUT without leading, doubled or trailing '/' nor "."
 * components ("" for none): 0, -1 if it has "..", -2 if too long */
void member_fail(struct member_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int member_found_add(struct member_job *j, const char *id, bool running,
    const char *container);
int member_path_clean(const char *s, char *out, size_t len);

/* member_tar.c: the workspace's files as a tar, both ways (see there) */
int member_tar_pack(const char *src, const char *root, long uid, long gid,
    int64_t max_bytes, int64_t *bytes, char *err, size_t errlen);
int member_tar_rebase(int fd, const char *root, int64_t max_bytes,
    int64_t *bytes, char *err, size_t errlen);
int member_tar_replace(int fd, const char *dest, int64_t max_bytes,
    char *err, size_t errlen);
int member_tar_merge(int fd, const char *dir, int64_t max_bytes, char *err,
    size_t errlen);
/* A local copy of a workspace's files between two directories of this
 * host, by the same checks: J's files (J->path) into the member's DIR
 * (a load: merged in), or DIR's into J->path (a save: swapped in). WHAT
 * names the member in errors. J's result is filled either way. */
void member_copy_load(struct member_job *j, const char *dir,
    const char *what);
void member_copy_save(struct member_job *j, const char *dir,
    const char *what);

#endif
