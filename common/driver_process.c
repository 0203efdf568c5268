/*
 * The process driver: an instance is a shell command run in its own
 * session (so its whole process group can be signalled), with $PORT set
 * (a free port per instance unless the app fixes one), its output
 * appended to RUN_DIR/NAME.log, and a line "PID PORT STARTTIME ID" in
 * RUN_DIR/NAME.pid, one per instance. The pid file is how a restarted
 * autostart finds the instances it started before: none is orphaned or
 * started twice. The start time (from /proc) guards against a recycled
 * PID. Its exits are known from SIGCHLD (libuv's exit callback).
 *
 * A simple command (words and $PORT, nothing the shell would interpret)
 * is run directly, without /bin/sh: a shell's start is most of what a
 * small app's cold start costs here (decisions.md, "The cold path").
 * Anything else goes through /bin/sh -c as written.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "log.h"
#include "proc.h"

#define PROC_POLL_MS 10		/* how often a stopping app is checked */
#define PROC_ARGS_MAX 64	/* words of a command run without a shell */
#define PROC_KILL_WAIT_MS 2000	/* after SIGKILL, before giving up */


struct proc {
	struct process_driver *drv;
	char app[64];
	char inst[64];
	long pid;
	int port;
	unsigned long long starttime;
	uv_process_t handle;	/* valid if child */
	bool child;		/* started by this daemon (else adopted) */
	bool exited;
	int nclose;		/* handles still closing */

	/* a stop in progress */
	uv_timer_t timer;
	bool timer_init;
	bool stopping;
	bool killed;
	int waited_ms;
	int grace_ms;
	driver_cb stop_cb;
	void *stop_arg;

	struct proc *next;
};

struct process_driver {
	uv_loop_t *loop;
	char run_dir[CONFIG_PATH_MAX];
	char host[DRIVER_HOST_MAX];
	driver_exit_cb on_exit;
	void *arg;
	struct proc *procs;
};

/* A callback run on the next loop turn, so callers never re-enter. */
struct deferred {
	uv_timer_t timer;
	struct driver_result r;
	driver_cb cb;
	void *arg;
};

static void
deferred_free(uv_handle_t *h)
{
	free(h->data);
}

static void
deferred_fire(uv_timer_t *t)
{
	struct deferred *d = t->data;

	d->cb(&d->r, d->arg);
	uv_close((uv_handle_t *)&d->timer, deferred_free);
}

static int
defer(uv_loop_t *loop, const struct driver_result *r, driver_cb cb, void *arg)
{
	struct deferred *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	d->r = *r;
	d->cb = cb;
	d->arg = arg;
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, deferred_fire, 0, 0);
	return 0;
}

/* Alive: running, not a zombie, and not a recycled PID. */
static bool
proc_alive(const struct proc *p)
{
	unsigned long long st;
	char state;

	if (p->child)
		return !p->exited;
	return proc_stat(p->pid, &state, &st) == 0 && state != 'Z' &&
	    state != 'X' && st == p->starttime;
}

static void
proc_path(const struct process_driver *drv, const char *app, const char *ext,
    char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.%s", drv->run_dir, app, ext);
}

static struct proc *
proc_find(struct process_driver *drv, const char *app, const char *inst)
{
	for (struct proc *p = drv->procs; p != NULL; p = p->next)
		if (strcmp(p->app, app) == 0 && strcmp(p->inst, inst) == 0)
			return p;
	return NULL;
}

/* One line of a pid file: "PID PORT STARTTIME ID" (a line without its
 * ID is instance "1"). 0, or -1 if LINE is not one. */
static int
proc_line_parse(const char *line, long *pid, int *port,
    unsigned long long *starttime, char *inst, size_t instlen)
{
	char id[64] = "1";

	if (sscanf(line, "%ld %d %llu %63s", pid, port, starttime, id) < 3 ||
	    *pid <= 1)
		return -1;
	snprintf(inst, instlen, "%s", id);
	return 0;
}

/*
 * Rewrites APP's pid file without the line of instance INST (only if it
 * names PID, when PID is not 0), then with LINE added (NULL: none).
 * Write then rename: a crash never leaves half a pid file.
 */
static int
proc_file_update(struct process_driver *drv, const char *app,
    const char *inst, long pid, const char *line)
{
	char path[CONFIG_PATH_MAX + 80], tmp[CONFIG_PATH_MAX + 90];
	char buf[256], id[64];
	unsigned long long st;
	FILE *in, *out;
	long lpid;
	int port, n = 0;

	proc_path(drv, app, "pid", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((out = fopen(tmp, "w")) == NULL)
		return -1;
	if ((in = fopen(path, "r")) != NULL) {
		while (fgets(buf, sizeof(buf), in) != NULL) {
			if (proc_line_parse(buf, &lpid, &port, &st, id,
			    sizeof(id)) < 0)
				continue;
			if (strcmp(id, inst) == 0 && (pid == 0 || lpid == pid))
				continue;
			fprintf(out, "%ld %d %llu %s\n", lpid, port, st, id);
			n++;
		}
		fclose(in);
	}
	if (line != NULL) {
		fputs(line, out);
		n++;
	}
	if (fclose(out) != 0 || (n == 0 ? unlink(path) != 0 &&
	    errno != ENOENT : rename(tmp, path) != 0)) {
		unlink(tmp);
		return -1;
	}
	if (n == 0)
		unlink(tmp);
	return 0;
}

static void
proc_unlink(struct process_driver *drv, struct proc *p)
{
	/* Its line goes only if it still names this process. */
	if (proc_file_update(drv, p->app, p->inst, p->pid, NULL) != 0)
		log_warn("cannot update pid file", "app=%s dir=%s err=\"%s\"",
		    p->app, drv->run_dir, strerror(errno));
	for (struct proc **pp = &drv->procs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
}

static void
proc_free_cb(uv_handle_t *h)
{
	struct proc *p = h->data;

	if (--p->nclose == 0)
		free(p);
}

/* Closes P's handles; the last close frees P. */
static void
proc_free(struct proc *p)
{
	p->nclose = (p->child ? 1 : 0) + (p->timer_init ? 1 : 0);
	if (p->nclose == 0) {
		free(p);
		return;
	}
	if (p->timer_init)
		uv_close((uv_handle_t *)&p->timer, proc_free_cb);
	if (p->child)
		uv_close((uv_handle_t *)&p->handle, proc_free_cb);
}

/* Forgets P: its pid file if it is still P's, its handles, its memory. */
static void
proc_release(struct proc *p)
{
	proc_unlink(p->drv, p);
	proc_free(p);
}

static void
proc_stop_done(struct proc *p, bool ok, const char *err)
{
	struct driver_result r = {.ok = ok};
	driver_cb cb = p->stop_cb;
	void *arg = p->stop_arg;

	if (err != NULL)
		snprintf(r.err, sizeof(r.err), "%s", err);
	p->stop_cb = NULL;
	p->stopping = false;
	if (ok)
		proc_release(p);
	if (cb != NULL)
		cb(&r, arg);
}

/* Polls a stopping app: gone, or time for SIGKILL, or given up. */
static void
proc_stop_tick(uv_timer_t *t)
{
	struct proc *p = t->data;
	char err[128];

	if (!proc_alive(p)) {
		uv_timer_stop(&p->timer);
		proc_stop_done(p, true, NULL);
		return;
	}
	p->waited_ms += PROC_POLL_MS;
	if (!p->killed && p->waited_ms >= p->grace_ms) {
		log_warn("app ignored SIGTERM, killing it", "app=%s pid=%ld "
		    "grace_ms=%d instance=%s", p->app, p->pid, p->grace_ms,
		    p->inst);
		kill((pid_t)-p->pid, SIGKILL);
		p->killed = true;
		p->waited_ms = 0;
	} else if (p->killed && p->waited_ms >= PROC_KILL_WAIT_MS) {
		uv_timer_stop(&p->timer);
		snprintf(err, sizeof(err), "pid %ld survived SIGKILL", p->pid);
		proc_stop_done(p, false, err);
	}
}

static void
proc_exit_cb(uv_process_t *h, int64_t status, int sig)
{
	struct proc *p = h->data;
	struct process_driver *drv = p->drv;
	char why[96];

	p->exited = true;
	if (sig != 0)
		snprintf(why, sizeof(why), "killed by signal %d", sig);
	else
		snprintf(why, sizeof(why), "exited with status %lld",
		    (long long)status);
	log_info("app process ended", "app=%s pid=%ld why=\"%s\" instance=%s",
	    p->app, p->pid, why, p->inst);
	if (p->stopping)
		return;		/* the stop timer reports it */
	proc_release(p);	/* P's memory stays until its handle closes */
	if (drv->on_exit != NULL)
		drv->on_exit(p->app, p->inst, why, drv->arg);
}

/* Finds instance INST in RUN_DIR/APP.pid and adopts its process if it
 * still runs. */
static struct proc *
proc_adopt(struct process_driver *drv, const char *app, const char *inst)
{
	char path[CONFIG_PATH_MAX + 80], buf[256], id[64];
	struct proc *p = NULL, q = {0};
	FILE *f;

	proc_path(drv, app, "pid", path, sizeof(path));
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (proc_line_parse(buf, &q.pid, &q.port, &q.starttime, id,
		    sizeof(id)) == 0 && strcmp(id, inst) == 0)
			break;
		else
			q.pid = 0;
	fclose(f);
	if (q.pid == 0 || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	*p = q;
	p->drv = drv;
	snprintf(p->app, sizeof(p->app), "%s", app);
	snprintf(p->inst, sizeof(p->inst), "%s", inst);
	p->handle.data = p->timer.data = p;
	if (!proc_alive(p)) {
		/* stale: it died while we were away */
		proc_file_update(drv, app, inst, p->pid, NULL);
		free(p);
		return NULL;
	}
	p->next = drv->procs;
	drv->procs = p;
	log_info("adopted running app", "app=%s pid=%ld port=%d instance=%s",
	    app, p->pid, p->port, inst);
	return p;
}

static struct proc *
proc_get(struct process_driver *drv, const char *app, const char *inst)
{
	struct proc *p = proc_find(drv, app, inst);

	return p != NULL ? p : proc_adopt(drv, app, inst);
}

static int
proc_write_pidfile(struct process_driver *drv, const struct proc *p)
{
	char line[256];

	snprintf(line, sizeof(line), "%ld %d %llu %s\n", p->pid, p->port,
	    p->starttime, p->inst);
	return proc_file_update(drv, p->app, p->inst, 0, line);
}

static void
proc_result_running(const struct proc *p, struct driver_result *r)
{
	r->ok = true;
	r->running = true;
	snprintf(r->addr, sizeof(r->addr), "127.0.0.1:%d", p->port);
	snprintf(r->host, sizeof(r->host), "%s", p->drv->host);
}

/* NAME is a program the shell would run from a file: a path to an
 * executable, or one found in $PATH (not a builtin such as "exit"). */
static bool
proc_is_program(const char *name)
{
	const char *path = getenv("PATH"), *p, *end;
	char full[PATH_MAX];

	if (strchr(name, '/') != NULL)
		return access(name, X_OK) == 0;
	for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0'; p = end) {
		int n;

		end = p + strcspn(p, ":");
		n = snprintf(full, sizeof(full), "%.*s/%s", (int)(end - p), p,
		    name);
		if (end > p && n > 0 && (size_t)n < sizeof(full) &&
		    access(full, X_OK) == 0)
			return true;
		if (*end == ':')
			end++;
	}
	return false;
}

/*
 * Splits CMD into ARGV (words in BUF) when the shell would do nothing
 * but split it and run a program: words of characters no shell treats
 * specially, "$PORT" or "${PORT}" alone as a word (replaced by PORT), a
 * leading "exec", and a first word that is a program, not a builtin.
 * Returns the word count, or 0 when CMD needs /bin/sh.
 */
static int
proc_simple_argv(const char *cmd, int port, char *buf, size_t len,
    char **argv, int max)
{
	static const char special[] = "\\'\"`$;&|<>()*?[]{}~#=%!\n";
	size_t used = 0;
	int n = 0;

	while (*cmd != '\0') {
		size_t w;
		int k;

		while (*cmd == ' ' || *cmd == '\t')
			cmd++;
		if (*cmd == '\0')
			break;
		w = strcspn(cmd, " \t");
		if (n + 1 >= max)
			return 0;
		if ((w == 5 && strncmp(cmd, "$PORT", 5) == 0) ||
		    (w == 7 && strncmp(cmd, "${PORT}", 7) == 0))
			k = snprintf(buf + used, len - used, "%d", port);
		else if (strcspn(cmd, special) < w)
			return 0;
		else
			k = snprintf(buf + used, len - used, "%.*s", (int)w,
			    cmd);
		if (k < 0 || (size_t)k >= len - used)
			return 0;
		argv[n++] = buf + used;
		used += (size_t)k + 1;
		cmd += w;
	}
	if (n > 0 && strcmp(argv[0], "exec") == 0) {
		memmove(argv, argv + 1, (size_t)n * sizeof(*argv));
		n--;
	}
	argv[n] = NULL;
	return n > 0 && proc_is_program(argv[0]) ? n : 0;
}

static int
process_start(void *self, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	struct process_driver *drv = self;
	struct driver_result r = {0};
	uv_process_options_t opt = {0};
	uv_stdio_container_t stdio[3];
	char logpath[CONFIG_PATH_MAX + 80], *envblock = NULL, **env;
	char portvar[32];
	const char *set[] = {portvar, NULL};
	char *shell[] = {"/bin/sh", "-c", (char *)a->command, NULL};
	char *words[PROC_ARGS_MAX], wordbuf[APP_TEXT_MAX + 32], **args;
	struct proc *p;
	char state;
	int fd, rv;

	if ((p = proc_get(drv, a->name, inst)) != NULL && proc_alive(p)) {
		if (p->stopping) {
			snprintf(err, errlen, "app %s is being stopped",
			    a->name);
			return -1;
		}
		proc_result_running(p, &r);
		return defer(drv->loop, &r, cb, arg);
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->drv = drv;
	snprintf(p->app, sizeof(p->app), "%s", a->name);
	snprintf(p->inst, sizeof(p->inst), "%s", inst);
	if ((p->port = a->port ? a->port : proc_free_port()) <= 0) {
		snprintf(err, errlen, "no free port: %s", strerror(errno));
		free(p);
		return -1;
	}
	proc_path(drv, a->name, "log", logpath, sizeof(logpath));
	if ((fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", logpath,
		    strerror(errno));
		free(p);
		return -1;
	}
	snprintf(portvar, sizeof(portvar), "PORT=%d", p->port);
	if ((env = proc_env(set, a->env, &envblock)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		free(p);
		return -1;
	}
	args = proc_simple_argv(a->command, p->port, wordbuf, sizeof(wordbuf),
	    words, PROC_ARGS_MAX) > 0 ? words : shell;
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
	stdio[1].data.fd = stdio[2].data.fd = fd;
	opt.file = args[0];
	opt.args = args;
	opt.env = env;
	opt.cwd = a->dir[0] ? a->dir : drv->run_dir;
	opt.flags = UV_PROCESS_DETACHED;	/* own session and group */
	opt.stdio_count = 3;
	opt.stdio = stdio;
	opt.exit_cb = proc_exit_cb;
	p->handle.data = p;
	rv = uv_spawn(drv->loop, &p->handle, &opt);
	close(fd);
	free(env);
	free(envblock);
	if (rv != 0) {
		snprintf(err, errlen, "cannot start \"%s\": %s", a->command,
		    uv_strerror(rv));
		/* a failed uv_spawn still needs its handle closed */
		p->child = true;
		proc_free(p);
		return -1;
	}
	p->child = true;
	p->pid = p->handle.pid;
	proc_stat(p->pid, &state, &p->starttime);	/* else it stays 0 */
	p->next = drv->procs;
	drv->procs = p;
	if (proc_write_pidfile(drv, p) != 0)
		log_warn("cannot write pid file", "app=%s dir=%s err=\"%s\"",
		    a->name, drv->run_dir, strerror(errno));
	log_info("app process started", "app=%s pid=%ld port=%d instance=%s",
	    a->name, p->pid, p->port, inst);
	proc_result_running(p, &r);
	return defer(drv->loop, &r, cb, arg);
}

static int
process_stop(void *self, const struct app *a, const char *inst, int grace_ms,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	struct process_driver *drv = self;
	struct driver_result r = {.ok = true};
	struct proc *p = proc_get(drv, a->name, inst);

	if (p == NULL || !proc_alive(p)) {
		if (p != NULL && !p->stopping)
			proc_release(p);
		return defer(drv->loop, &r, cb, arg);	/* already stopped */
	}
	if (p->stopping) {
		snprintf(err, errlen, "app %s is already being stopped",
		    a->name);
		return -1;
	}
	if (kill((pid_t)-p->pid, SIGTERM) != 0 && errno != ESRCH) {
		snprintf(err, errlen, "cannot signal pid %ld: %s", p->pid,
		    strerror(errno));
		return -1;
	}
	p->stopping = true;
	p->killed = false;
	p->waited_ms = 0;
	p->grace_ms = grace_ms;
	p->stop_cb = cb;
	p->stop_arg = arg;
	if (!p->timer_init) {
		uv_timer_init(drv->loop, &p->timer);
		p->timer.data = p;
		p->timer_init = true;
	}
	uv_timer_start(&p->timer, proc_stop_tick, PROC_POLL_MS, PROC_POLL_MS);
	return 0;
}

static int
process_inspect(void *self, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	struct process_driver *drv = self;
	struct driver_result r = {.ok = true};
	struct proc *p = proc_get(drv, a->name, inst);

	(void)err;
	(void)errlen;
	if (p != NULL && proc_alive(p))
		proc_result_running(p, &r);
	return defer(drv->loop, &r, cb, arg);
}

static void *
process_open(uv_loop_t *loop, const struct config *cfg, driver_exit_cb on_exit,
    void *arg)
{
	struct process_driver *drv = calloc(1, sizeof(*drv));

	if (drv == NULL)
		return NULL;
	drv->loop = loop;
	drv->on_exit = on_exit;
	drv->arg = arg;
	snprintf(drv->run_dir, sizeof(drv->run_dir), "%s",
	    cfg->autostart.run_dir);
	host_name(cfg->autostart.host, drv->host, sizeof(drv->host));
	if (mkdir(drv->run_dir, 0755) != 0 && errno != EEXIST) {
		log_error("cannot create run_dir", "dir=%s err=\"%s\"",
		    drv->run_dir, strerror(errno));
		free(drv);
		return NULL;
	}
	return drv;
}

/* Apps keep running: their pid files let the next autostart adopt them. */
static void
process_close(void *self)
{
	struct process_driver *drv = self;
	struct proc *p, *next;

	for (p = drv->procs; p != NULL; p = next) {
		next = p->next;
		proc_free(p);
	}
	free(drv);
}

const struct driver_ops driver_process_ops = {
	.name = "process",
	.open = process_open,
	.close = process_close,
	.start = process_start,
	.stop = process_stop,
	.inspect = process_inspect,
};
