/*
 * The process member driver: a member is a directory
 * idepool.members_dir/POOL/ID/ holding its workspace (the pool's
 * workspace path taken relative to it, "workspace" when the pool names
 * none), its output (member.log) and, while it runs, its pid file
 * ("pid": "PID STARTTIME PORT"), which is how list, stop and remove find
 * a member that an earlier idepool started. The start time (from /proc)
 * guards against a recycled PID.
 *
 * Starting runs the pool's command with /bin/sh -c in a session of its
 * own (so its whole process group can be signalled), in the member's
 * directory, with $PORT a free loopback port, $DEVCLOUD_WORKSPACE the
 * workspace's absolute path and the pool's "K=V" lines; the member
 * answers at 127.0.0.1:$PORT. libuv (uv_spawn) reaps the processes this
 * idepool started; the others are no child of ours.
 *
 * Start runs on the loop thread (uv_spawn); everything else (signals and
 * the wait after them, copies, removal) on libuv's thread pool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "keys.h"
#include "log.h"
#include "member.h"
#include "proc.h"

#define MP_WORKSPACE "workspace"	/* when the pool names none */
#define MP_STOP_GRACE_MS 5000		/* SIGTERM, then SIGKILL */
#define MP_KILL_WAIT_MS 2000		/* after SIGKILL, before giving up */
#define MP_POLL_MS 20
/* a member's directory: members_dir/POOL/ID */
#define MP_DIR_MAX (CONFIG_PATH_MAX + MSG_NAME_MAX + MEMBER_ID_MAX + 4)


/* A process this idepool started: its handle, until it is reaped. */
struct mp_child {
	uv_process_t handle;
	char name[MSG_NAME_MAX + MEMBER_ID_MAX + 2];	/* POOL/ID */
	struct member_process *mp;	/* NULL once the driver is closed */
	struct mp_child *next;
};

struct member_process {
	uv_loop_t *loop;
	char dir[CONFIG_PATH_MAX];	/* members_dir */
	struct mp_child *children;
};

/* What a pid file says. */
struct mp_pid {
	long pid;
	unsigned long long starttime;
	int port;
};

/* PATH of member ID of pool P: "DIR/POOL/ID", with "/SUB" if SUB. */
static int
mp_path(const struct member_process *mp, const struct pool_spec *p,
    const char *id, const char *sub, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s%s%s", mp->dir, p->name, id,
	    sub ? "/" : "", sub ? sub : "");

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The workspace relative to the member's directory, into WS: leading
 * '/' dropped, "workspace" if empty, no "..". 0, or -1 with ERR. */
static int
mp_workspace(const struct pool_spec *p, char *ws, size_t len, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = member_path_clean(p->workspace, ws, len)) < 0) {
		snprintf(err, errlen, "pool %s: workspace \"%.200s\" %s",
		    p->name, p->workspace, rc == -1 ? "has a \"..\"" :
		    "is too long");
		return -1;
	}
	if (ws[0] == '\0')
		snprintf(ws, len, "%s", MP_WORKSPACE);
	return 0;
}

/* The member's pid file. 0, or -1 if there is none (or it is not one). */
static int
mp_pid_read(const char *mdir, struct mp_pid *pf)
{
	char path[PATH_MAX], buf[128];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/pid", mdir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fgets(buf, sizeof(buf), f) != NULL ? sscanf(buf, "%ld %llu %d",
	    &pf->pid, &pf->starttime, &pf->port) : 0;
	fclose(f);
	return n == 3 && pf->pid > 1 ? 0 : -1;
}

/* Write then rename: a crash never leaves half a pid file. */
static int
mp_pid_write(const char *mdir, const struct mp_pid *pf)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pid", mdir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%ld %llu %d\n", pf->pid, pf->starttime, pf->port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
mp_pid_remove(const char *mdir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/pid", mdir);
	unlink(path);
}

/* The member's leader runs, and is the process the pid file named. */
static bool
mp_running(const struct mp_pid *pf)
{
	unsigned long long st;
	char state;

	return proc_stat(pf->pid, &state, &st) == 0 && state != 'Z' &&
	    state != 'X' && st == pf->starttime;
}

/*
 * Whether the member's process group still has a process: its leader
 * (the pid file's, not a recycled PID) or what it left in its group.
 * A group whose leader's PID now names another process is not ours.
 */
static bool
mp_group_alive(const struct mp_pid *pf)
{
	unsigned long long st;
	char state;

	if (proc_stat(pf->pid, &state, &st) == 0 && st != pf->starttime)
		return false;
	return kill((pid_t)-pf->pid, 0) == 0 || errno == EPERM;
}

/* Waits up to MS for the group to end; true if it did. */
static bool
mp_wait_group(const struct mp_pid *pf, int ms)
{
	struct timespec ts = {0, MP_POLL_MS * 1000000L};

	for (int waited = 0; waited < ms; waited += MP_POLL_MS) {
		if (!mp_group_alive(pf))
			return true;
		nanosleep(&ts, NULL);
	}
	return !mp_group_alive(pf);
}

/*
 * Ends the member's process group: SIGTERM and GRACE_MS (none if 0),
 * then SIGKILL. On a worker thread: it sleeps. 0, or -1 with the job's
 * error.
 */
static int
mp_kill(struct member_job *j, const char *mdir, int grace_ms)
{
	struct mp_pid pf;

	if (mp_pid_read(mdir, &pf) < 0 || !mp_group_alive(&pf)) {
		mp_pid_remove(mdir);
		return 0;	/* stopped already */
	}
	if (grace_ms > 0) {
		kill((pid_t)-pf.pid, SIGTERM);
		if (mp_wait_group(&pf, grace_ms)) {
			mp_pid_remove(mdir);
			return 0;
		}
		log_warn("member ignored SIGTERM, killing it", "pool=%s "
		    "member=%s pid=%ld grace_ms=%d", j->spec.name, j->id,
		    pf.pid, grace_ms);
	}
	kill((pid_t)-pf.pid, SIGKILL);
	if (!mp_wait_group(&pf, MP_KILL_WAIT_MS)) {
		member_fail(j, "member %s: process group %ld survived "
		    "SIGKILL", j->id, pf.pid);
		return -1;
	}
	mp_pid_remove(mdir);
	return 0;
}

/* mkdir -p of PATH's components after the first SKIP bytes. */
static int
mp_mkdirs(char *path, size_t skip)
{
	for (char *p = path + skip + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static void
mp_create(struct member_job *j)
{
	struct member_process *mp = j->drv;
	char mdir[MP_DIR_MAX], ws[POOL_PATH_MAX], path[PATH_MAX];
	size_t n;

	mp_workspace(&j->spec, ws, sizeof(ws), j->res.err,
	    sizeof(j->res.err));
	if (mp_path(mp, &j->spec, j->id, NULL, mdir, sizeof(mdir)) < 0 ||
	    mp_path(mp, &j->spec, j->id, ws, path, sizeof(path)) < 0) {
		member_fail(j, "member %s: path too long", j->id);
		return;
	}
	/* the pool's directory (and members_dir) as needed, then ours */
	n = strlen(mdir) - strlen(j->id) - 1;
	mdir[n] = '\0';
	if (mp_mkdirs(mdir, 0) < 0) {
		member_fail(j, "cannot make %s: %s", mdir, strerror(errno));
		return;
	}
	mdir[n] = '/';
	if (mkdir(mdir, 0755) < 0) {
		member_fail(j, "cannot make %s: %s", mdir, errno == EEXIST ?
		    "member exists already" : strerror(errno));
		return;
	}
	if (mp_mkdirs(path, strlen(mdir)) < 0) {
		member_fail(j, "cannot make %s: %s", path, strerror(errno));
		return;
	}
	j->res.ok = true;
}

static void
mp_stop(struct member_job *j)
{
	char mdir[MP_DIR_MAX];

	mp_path(j->drv, &j->spec, j->id, NULL, mdir, sizeof(mdir));
	if (mp_kill(j, mdir, MP_STOP_GRACE_MS) == 0)
		j->res.ok = true;
}

static void
mp_remove(struct member_job *j)
{
	char mdir[MP_DIR_MAX], why[256];
	struct stat st;

	mp_path(j->drv, &j->spec, j->id, NULL, mdir, sizeof(mdir));
	if (mp_kill(j, mdir, 0) < 0)
		return;
	if (lstat(mdir, &st) < 0 && errno == ENOENT) {
		j->res.ok = true;	/* gone already */
		return;
	}
	if (artifact_remove(mdir, why, sizeof(why)) < 0 &&
	    !(lstat(mdir, &st) < 0 && errno == ENOENT)) {
		/* (another remover may have finished it meanwhile) */
		member_fail(j, "member %s: %s", j->id, why);
		return;
	}
	j->res.ok = true;
}

static void
mp_load(struct member_job *j)
{
	char ws[POOL_PATH_MAX], path[PATH_MAX], why[MEMBER_ERR_MAX];
	char what[MEMBER_ID_MAX + 8];

	mp_workspace(&j->spec, ws, sizeof(ws), why, sizeof(why));
	mp_path(j->drv, &j->spec, j->id, ws, path, sizeof(path));
	snprintf(what, sizeof(what), "member %s", j->id);
	member_copy_load(j, path, what);
}

static void
mp_save(struct member_job *j)
{
	char ws[POOL_PATH_MAX], path[PATH_MAX], why[MEMBER_ERR_MAX];
	char what[MEMBER_ID_MAX + 8];
	struct stat st = {.st_mode = S_IFDIR};

	mp_workspace(&j->spec, ws, sizeof(ws), why, sizeof(why));
	mp_path(j->drv, &j->spec, j->id, ws, path, sizeof(path));
	/* a missing workspace is not an empty one: nothing to save */
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		member_fail(j, "save of member %s: %s: %s", j->id, path,
		    S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
		return;
	}
	snprintf(what, sizeof(what), "member %s", j->id);
	member_copy_save(j, path, what);
}

static void
mp_list(struct member_job *j)
{
	struct member_process *mp = j->drv;
	char pdir[MP_DIR_MAX], mdir[MP_DIR_MAX + NAME_MAX + 2], pid[32];
	struct dirent *de;
	struct mp_pid pf;
	bool running;
	DIR *d;

	snprintf(pdir, sizeof(pdir), "%s/%s", mp->dir, j->spec.name);
	if ((d = opendir(pdir)) == NULL) {
		if (errno == ENOENT)
			j->res.ok = true;	/* no member yet */
		else
			member_fail(j, "cannot list %s: %s", pdir,
			    strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!keys_name_valid(de->d_name) ||
		    strlen(de->d_name) >= MEMBER_ID_MAX)
			continue;	/* ".", "..", a leftover ".x.new-" */
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		snprintf(mdir, sizeof(mdir), "%s/%s", pdir, de->d_name);
		running = mp_pid_read(mdir, &pf) == 0 && mp_running(&pf);
		snprintf(pid, sizeof(pid), "%ld", running ? pf.pid : 0L);
		if (member_found_add(j, de->d_name, running,
		    running ? pid : "") < 0) {
			member_fail(j, "cannot list %s: out of memory", pdir);
			closedir(d);
			return;
		}
	}
	closedir(d);
	j->res.ok = true;
}

static void
mp_child_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
mp_child_unlink(struct mp_child *c)
{
	if (c->mp == NULL)
		return;
	for (struct mp_child **pp = &c->mp->children; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->mp = NULL;
}

/* libuv reaped it: the stop or remove that waits sees the group end. */
static void
mp_child_exit(uv_process_t *h, int64_t status, int sig)
{
	struct mp_child *c = h->data;

	log_info("member process ended", "member=%s pid=%d status=%lld "
	    "signal=%d", c->name, h->pid, (long long)status, sig);
	mp_child_unlink(c);
	uv_close((uv_handle_t *)h, mp_child_closed);
}

/* A running member's result: at once, through the job with no work. */
static void
mp_result_running(struct member_job *j, const struct mp_pid *pf)
{
	j->res.ok = true;
	j->res.running = true;
	snprintf(j->res.addr, sizeof(j->res.addr), "127.0.0.1:%d", pf->port);
	snprintf(j->res.container, sizeof(j->res.container), "%ld", pf->pid);
	j->run = NULL;
}

static int
process_member_start(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	struct member_process *mp = drv;
	char mdir[MP_DIR_MAX], ws[POOL_PATH_MAX], wpath[PATH_MAX];
	char abs[PATH_MAX], log[PATH_MAX], *block = NULL, **env;
	char portvar[32], wsvar[PATH_MAX + 24];
	const char *set[] = {portvar, wsvar, NULL};
	char *args[] = {"/bin/sh", "-c", j->spec.command, NULL};
	uv_process_options_t opt = {0};
	uv_stdio_container_t stdio[3];
	struct mp_child *c;
	struct mp_pid pf = {0};
	struct stat st;
	char state;
	int fd, rc;

	if (j->spec.command[0] == '\0') {
		snprintf(err, errlen, "pool %s: a process pool needs a "
		    "command", j->spec.name);
		return -1;
	}
	if (mp_workspace(&j->spec, ws, sizeof(ws), err, errlen) < 0)
		return -1;
	if (mp_path(mp, &j->spec, j->id, NULL, mdir, sizeof(mdir)) < 0 ||
	    mp_path(mp, &j->spec, j->id, ws, wpath, sizeof(wpath)) < 0) {
		snprintf(err, errlen, "member %s: path too long", j->id);
		return -1;
	}
	if (mp_pid_read(mdir, &pf) == 0 && mp_running(&pf)) {
		mp_result_running(j, &pf);	/* started already */
		return 0;
	}
	if (lstat(mdir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    realpath(wpath, abs) == NULL) {
		snprintf(err, errlen, "member %s of pool %s: %s: %s", j->id,
		    j->spec.name, wpath, "not created (no such directory)");
		return -1;
	}
	if ((pf.port = proc_free_port()) <= 0) {
		snprintf(err, errlen, "no free port: %s", strerror(errno));
		return -1;
	}
	snprintf(log, sizeof(log), "%s/member.log", mdir);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW, 0644)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", log,
		    strerror(errno));
		return -1;
	}
	snprintf(portvar, sizeof(portvar), "PORT=%d", pf.port);
	snprintf(wsvar, sizeof(wsvar), "DEVCLOUD_WORKSPACE=%s", abs);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (env = proc_env(set, j->spec.env, &block)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(c);
		close(fd);
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s/%s", j->spec.name, j->id);
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
	stdio[1].data.fd = stdio[2].data.fd = fd;
	opt.file = args[0];
	opt.args = args;
	opt.env = env;
	opt.cwd = mdir;
	opt.flags = UV_PROCESS_DETACHED;	/* own session and group */
	opt.stdio_count = 3;
	opt.stdio = stdio;
	opt.exit_cb = mp_child_exit;
	c->handle.data = c;
	rc = uv_spawn(mp->loop, &c->handle, &opt);
	close(fd);
	free(env);
	free(block);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start \"%.200s\": %s",
		    j->spec.command, uv_strerror(rc));
		/* a failed uv_spawn still needs its handle closed */
		uv_close((uv_handle_t *)&c->handle, mp_child_closed);
		return -1;
	}
	c->mp = mp;
	c->next = mp->children;
	mp->children = c;
	pf.pid = c->handle.pid;
	proc_stat(pf.pid, &state, &pf.starttime);	/* else it stays 0 */
	if (mp_pid_write(mdir, &pf) < 0)
		log_warn("cannot write the member's pid file", "member=%s "
		    "dir=%s err=\"%s\"", c->name, mdir, strerror(errno));
	log_info("member process started", "member=%s pid=%ld port=%d",
	    c->name, pf.pid, pf.port);
	mp_result_running(j, &pf);
	return 0;
}

static int
mp_check(struct member_job *j, void (*run)(struct member_job *), bool files,
    char *err, size_t errlen)
{
	char ws[POOL_PATH_MAX];

	if (files && (j->path[0] == '\0' || j->max_bytes <= 0)) {
		snprintf(err, errlen, "pool %s: member %s: a directory and "
		    "max_bytes > 0 are needed", j->spec.name, j->id);
		return -1;
	}
	j->run = run;
	return mp_workspace(&j->spec, ws, sizeof(ws), err, errlen);
}

static int
process_member_create(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	return mp_check(j, mp_create, false, err, errlen);
}

static int
process_member_stop(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	return mp_check(j, mp_stop, false, err, errlen);
}

static int
process_member_remove(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	return mp_check(j, mp_remove, false, err, errlen);
}

static int
process_member_load(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	return mp_check(j, mp_load, true, err, errlen);
}

static int
process_member_save(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	return mp_check(j, mp_save, true, err, errlen);
}

static int
process_member_list(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	return mp_check(j, mp_list, false, err, errlen);
}

static void *
process_member_open(uv_loop_t *loop, const struct config *cfg)
{
	struct member_process *mp = calloc(1, sizeof(*mp));

	if (mp == NULL)
		return NULL;
	mp->loop = loop;
	snprintf(mp->dir, sizeof(mp->dir), "%s", cfg->idepool.members_dir);
	return mp;
}

/* Members keep running: their pid files let the next idepool find them.
 * The handles of the children close (libuv reaps them no more). */
static void
process_member_close(void *drv)
{
	struct member_process *mp = drv;
	struct mp_child *c, *next;

	for (c = mp->children; c != NULL; c = next) {
		next = c->next;
		c->mp = NULL;
		uv_close((uv_handle_t *)&c->handle, mp_child_closed);
	}
	free(mp);
}

const struct member_ops member_process_ops = {
	.name = "process",
	.open = process_member_open,
	.close = process_member_close,
	.create = process_member_create,
	.start = process_member_start,
	.stop = process_member_stop,
	.remove = process_member_remove,
	.load = process_member_load,
	.save = process_member_save,
	.list = process_member_list,
};
