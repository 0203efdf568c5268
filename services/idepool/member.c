/*
 * The member layer's front (member.h): checks a call, copies what it
 * names into a job, hands the job to the pool's driver ("docker" or
 * "process") and runs the job on libuv's thread pool, the caller's
 * callback on the loop thread after it. A job the driver finished at once
 * still goes through the thread pool, so a callback never runs inside
 * the call that asked for it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "member.h"

struct members {
	uv_loop_t *loop;
	void *docker;
	void *process;
	int njobs;			/* queued or running */
	bool closing;			/* freed when the last job ends */
};

void
member_fail(struct member_job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->res.err, sizeof(j->res.err), fmt, ap);
	va_end(ap);
}

int
member_found_add(struct member_job *j, const char *id, bool running,
    const char *container)
{
	struct member_found *f;

	if ((f = realloc(j->found, (j->nfound + 1) * sizeof(*f))) == NULL)
		return -1;
	j->found = f;
	f += j->nfound++;
	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->r.ok = true;
	f->r.running = running;
	snprintf(f->r.container, sizeof(f->r.container), "%s", container);
	return 0;
}

int
member_path_clean(const char *s, char *out, size_t len)
{
	size_t n = 0, k;

	while (*s != '\0') {
		while (*s == '/')
			s++;
		k = strcspn(s, "/");
		if (k == 0 || (k == 1 && s[0] == '.')) {
			s += k;
			continue;
		}
		if (k == 2 && s[0] == '.' && s[1] == '.')
			return -1;
		if (n + k + 2 > len)
			return -2;
		if (n > 0)
			out[n++] = '/';
		memcpy(out + n, s, k);
		n += k;
		s += k;
	}
	if (len > 0)
		out[n] = '\0';
	return 0;
}

struct members *
members_open(uv_loop_t *loop, const struct config *cfg)
{
	struct members *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->loop = loop;
	if ((m->docker = member_docker_ops.open(loop, cfg)) == NULL ||
	    (m->process = member_process_ops.open(loop, cfg)) == NULL) {
		log_error("cannot open the member drivers", "docker=%s "
		    "process=%s", m->docker ? "ok" : "failed",
		    m->process ? "ok" : "failed");
		if (m->docker != NULL)
			member_docker_ops.close(m->docker);
		free(m);
		return NULL;
	}
	return m;
}

static void
members_free(struct members *m)
{
	member_docker_ops.close(m->docker);
	member_process_ops.close(m->process);
	free(m);
}

void
members_close(struct members *m)
{
	if (m == NULL)
		return;
	m->closing = true;
	if (m->njobs == 0)
		members_free(m);
}

static void
member_work(uv_work_t *w)
{
	struct member_job *j = w->data;

	if (j->run != NULL)
		j->run(j);
}

/* Back on the loop thread: the caller's callback(s), then the job goes. */
static void
member_done(uv_work_t *w, int status)
{
	struct member_job *j = w->data;
	struct members *m = j->m;

	if (status == UV_ECANCELED) {
		j->res.ok = false;
		j->nfound = 0;
		member_fail(j, "member %s: call cancelled", j->id);
	}
	if (j->list_cb != NULL) {
		for (size_t i = 0; j->res.ok && i < j->nfound; i++)
			j->list_cb(j->found[i].id, &j->found[i].r, j->arg);
		j->list_cb(NULL, &j->res, j->arg);
	} else {
		j->cb(&j->res, j->arg);
	}
	free(j->found);
	free(j);
	if (--m->njobs == 0 && m->closing)
		members_free(m);
}

enum member_op {
	MEMBER_CREATE,
	MEMBER_START,
	MEMBER_STOP,
	MEMBER_REMOVE,
	MEMBER_LOAD,
	MEMBER_SAVE,
	MEMBER_LIST,
};

/* The spec's name, id and driver, as the drivers put them in names and
 * paths unescaped. */
static int
member_check(const struct pool_spec *p, const char *id, char *err,
    size_t errlen)
{
	if (!keys_name_valid(p->name)) {
		snprintf(err, errlen, "pool name \"%.64s\" is not valid",
		    p->name);
		return -1;
	}
	if (id != NULL && (!keys_name_valid(id) ||
	    strlen(id) >= MEMBER_ID_MAX)) {
		snprintf(err, errlen, "pool %s: member id \"%.80s\" is not "
		    "valid", p->name, id);
		return -1;
	}
	return 0;
}

static int
member_call(struct members *m, enum member_op op, const struct pool_spec *p,
    const char *id, const char *path, int64_t max_bytes, member_cb cb,
    member_list_cb list_cb, void *arg, char *err, size_t errlen)
{
	const struct member_ops *ops;
	struct member_job *j;
	void *drv;
	int rc;

	if (m->closing) {
		snprintf(err, errlen, "members are closing");
		return -1;
	}
	if (member_check(p, id, err, errlen) < 0)
		return -1;
	if (strcmp(p->driver, "docker") == 0) {
		ops = &member_docker_ops;
		drv = m->docker;
	} else if (strcmp(p->driver, "process") == 0) {
		ops = &member_process_ops;
		drv = m->process;
	} else {
		snprintf(err, errlen, "pool %s: unknown driver \"%.16s\"",
		    p->name, p->driver);
		return -1;
	}
	if (path != NULL && strlen(path) >= sizeof(j->path)) {
		snprintf(err, errlen, "pool %s: path too long", p->name);
		return -1;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(err, errlen, "pool %s: out of memory", p->name);
		return -1;
	}
	j->work.data = j;
	j->m = m;
	j->drv = drv;
	j->spec = *p;
	snprintf(j->id, sizeof(j->id), "%s", id != NULL ? id : "");
	snprintf(j->path, sizeof(j->path), "%s", path != NULL ? path : "");
	j->max_bytes = max_bytes;
	j->cb = cb;
	j->list_cb = list_cb;
	j->arg = arg;
	switch (op) {
	case MEMBER_CREATE:
		rc = ops->create(drv, j, err, errlen);
		break;
	case MEMBER_START:
		rc = ops->start(drv, j, err, errlen);
		break;
	case MEMBER_STOP:
		rc = ops->stop(drv, j, err, errlen);
		break;
	case MEMBER_REMOVE:
		rc = ops->remove(drv, j, err, errlen);
		break;
	case MEMBER_LOAD:
		rc = ops->load(drv, j, err, errlen);
		break;
	case MEMBER_SAVE:
		rc = ops->save(drv, j, err, errlen);
		break;
	case MEMBER_LIST:
		rc = ops->list(drv, j, err, errlen);
		break;
	default:
		snprintf(err, errlen, "member call %d unknown", (int)op);
		rc = -1;
		break;
	}
	if (rc == 0 && (rc = uv_queue_work(m->loop, &j->work, member_work,
	    member_done)) != 0) {
		snprintf(err, errlen, "cannot queue member call: %s",
		    uv_strerror(rc));
		rc = -1;
	}
	if (rc != 0) {
		free(j->found);
		free(j);
		return -1;
	}
	m->njobs++;
	return 0;
}

int
member_create(struct members *m, const struct pool_spec *p, const char *id,
    member_cb cb, void *arg, char *err, size_t errlen)
{
	return member_call(m, MEMBER_CREATE, p, id, NULL, 0, cb, NULL, arg,
	    err, errlen);
}

int
member_start(struct members *m, const struct pool_spec *p, const char *id,
    member_cb cb, void *arg, char *err, size_t errlen)
{
	return member_call(m, MEMBER_START, p, id, NULL, 0, cb, NULL, arg,
	    err, errlen);
}

int
member_stop(struct members *m, const struct pool_spec *p, const char *id,
    member_cb cb, void *arg, char *err, size_t errlen)
{
	return member_call(m, MEMBER_STOP, p, id, NULL, 0, cb, NULL, arg,
	    err, errlen);
}

int
member_remove(struct members *m, const struct pool_spec *p, const char *id,
    member_cb cb, void *arg, char *err, size_t errlen)
{
	return member_call(m, MEMBER_REMOVE, p, id, NULL, 0, cb, NULL, arg,
	    err, errlen);
}

int
member_load(struct members *m, const struct pool_spec *p, const char *id,
    const char *src_dir, int64_t max_bytes, member_cb cb, void *arg,
    char *err, size_t errlen)
{
	return member_call(m, MEMBER_LOAD, p, id, src_dir, max_bytes, cb,
	    NULL, arg, err, errlen);
}

int
member_save(struct members *m, const struct pool_spec *p, const char *id,
    const char *dest_dir, int64_t max_bytes, member_cb cb, void *arg,
    char *err, size_t errlen)
{
	return member_call(m, MEMBER_SAVE, p, id, dest_dir, max_bytes, cb,
	    NULL, arg, err, errlen);
}

int
members_list(struct members *m, const struct pool_spec *p,
    member_list_cb cb, void *arg, char *err, size_t errlen)
{
	return member_call(m, MEMBER_LIST, p, NULL, NULL, 0, NULL, cb, arg,
	    err, errlen);
}
