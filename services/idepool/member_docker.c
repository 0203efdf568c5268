/*
 * The docker member driver: a member is a container
 * "devcloud-pool-POOL-ID" made from the pool's image, labelled
 * devcloud.pool=POOL and devcloud.member=ID, on idepool.docker_network
 * (Docker's default bridge if empty), through the Docker Engine API on
 * idepool.docker_socket (common/docker_api.h). Every call is one job on
 * libuv's thread pool (member.c), where libcurl may block.
 *
 * The workspace is the pool's workspace path in the container, absolute
 * ("/workspace" when the pool names none). Loading packs the store's
 * directory into a tar whose root entry is the workspace's base name
 * (so a workspace the image lacks is created, its parent must exist)
 * and PUTs it at the workspace's parent, the files given to the
 * container's user (its image's USER, see md_owner; root's 0:0 when it
 * has none). Saving
 * GETs the workspace's archive (a stopped container's too), makes it
 * relative to the workspace, and swaps it into the store's directory
 * (member_tar.c).
 *
 * With idepool.docker_bind_dir set, a member's workspace is instead the
 * host directory DIR/POOL/ID, bind-mounted at the workspace path when
 * the container is created and given to the container's numeric USER;
 * loading and saving copy between it and the store on this host, with
 * the same checks, and no request to dockerd (its PUT /archive costs
 * 40-60 ms whatever the size). The directory goes with the container.
 * It must be the same path for idepool and for dockerd.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "addr.h"
#include "artifact.h"
#include "docker_api.h"
#include "log.h"
#include "member.h"

#define MD_LABEL_POOL "devcloud.pool"
#define MD_LABEL_MEMBER "devcloud.member"
#define MD_WORKSPACE "/workspace"	/* when the pool names none */
#define MD_STOP_GRACE_S 5

/* Budgets of the calls, all requests included. */
#define MD_CREATE_MS 60000
#define MD_START_MS 60000
#define MD_STOP_MS ((MD_STOP_GRACE_S + 15) * 1000)
#define MD_REMOVE_MS 30000
#define MD_ARCHIVE_MS 300000
#define MD_LIST_MS 15000
/* Docker's archive of a workspace of max_bytes: the files, plus tar
 * headers (512 bytes an entry and padding), bounded this much more. */
#define MD_ARCHIVE_SLACK (64 << 20)

struct member_docker {
	char socket[CONFIG_PATH_MAX];
	char network[64];
	char bind_dir[CONFIG_PATH_MAX];	/* "": archive copies */
};

/* What a worker needs besides the job: the driver's settings, copied so
 * that nothing is shared with the loop thread. */
struct md_ctx {
	struct member_job *j;
	struct docker_call call;
	char socket[CONFIG_PATH_MAX];
	char network[64];
	char name[256];			/* the container's */
	char ws[POOL_PATH_MAX];		/* the workspace, absolute */
	char bind[CONFIG_PATH_MAX + MSG_NAME_MAX + MEMBER_ID_MAX + 4];
};

/*
 * The workspace path of SPEC, absolute and clean into WS: "/workspace"
 * if empty; no ".." and not "/" itself. 0, or -1 with ERR.
 */
static int
md_workspace(const struct pool_spec *p, char *ws, size_t len, char *err,
    size_t errlen)
{
	const char *s = p->workspace[0] != '\0' ? p->workspace : MD_WORKSPACE;
	int rc;

	if (*s != '/') {
		snprintf(err, errlen, "pool %s: workspace \"%.200s\" is not "
		    "an absolute path", p->name, s);
		return -1;
	}
	if ((rc = member_path_clean(s, ws + 1, len - 1)) < 0 ||
	    ws[1] == '\0') {
		snprintf(err, errlen, "pool %s: workspace \"%.200s\" %s",
		    p->name, s, rc == -1 ? "has a \"..\"" : rc == -2 ?
		    "is too long" : "cannot be \"/\"");
		return -1;
	}
	ws[0] = '/';
	return 0;
}

/* The body of POST /containers/create. NULL if out of memory. */
static char *
md_create_body(const struct md_ctx *c)
{
	const struct pool_spec *p = &c->j->spec;
	json_object *o = json_object_new_object();
	json_object *env = docker_env_array(p->env);
	json_object *labels = json_object_new_object();
	json_object *ports = json_object_new_object();
	json_object *host = json_object_new_object();
	char port[16];
	char *s = NULL;

	if (o == NULL || env == NULL || labels == NULL || ports == NULL ||
	    host == NULL) {
		json_object_put(env);
		json_object_put(labels);
		json_object_put(ports);
		json_object_put(host);
		goto done;
	}
	json_object_object_add(labels, MD_LABEL_POOL,
	    json_object_new_string(p->name));
	json_object_object_add(labels, MD_LABEL_MEMBER,
	    json_object_new_string(c->j->id));
	snprintf(port, sizeof(port), "%d/tcp", p->cport);
	json_object_object_add(ports, port, json_object_new_object());
	if (c->network[0] != '\0')
		json_object_object_add(host, "NetworkMode",
		    json_object_new_string(c->network));
	if (c->bind[0] != '\0') {
		json_object *binds = json_object_new_array();
		char b[sizeof(c->bind) + POOL_PATH_MAX + 2];

		snprintf(b, sizeof(b), "%s:%s", c->bind, c->ws);
		if (binds != NULL)
			json_object_array_add(binds, json_object_new_string(b));
		json_object_object_add(host, "Binds", binds);
	}
	json_object_object_add(o, "Image", json_object_new_string(p->image));
	json_object_object_add(o, "Env", env);
	json_object_object_add(o, "Labels", labels);
	json_object_object_add(o, "ExposedPorts", ports);
	json_object_object_add(o, "HostConfig", host);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
done:
	json_object_put(o);
	return s;
}

/* A string member of O, or NULL. */
static const char *
md_str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* DIR/POOL/ID, made (empty, with DIR if need be) for a member about to
 * be created. */
static int
md_bind_make(struct md_ctx *c)
{
	char path[sizeof(c->bind)];

	snprintf(path, sizeof(path), "%s", c->bind);
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char was = *p;

		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			member_fail(c->j, "create %s: cannot make %s: %s",
			    c->name, path, strerror(errno));
			return -1;
		}
		if ((*p = was) == '\0')
			return 0;
	}
}

static int md_owner(struct md_ctx *c, long *uid, long *gid,
    bool *by_docker);

/* The bind-mounted workspace goes to the container's numeric USER (a
 * named one cannot be resolved here: root keeps it). */
static int
md_bind_own(struct md_ctx *c)
{
	long uid, gid;
	bool by_docker;

	if (md_owner(c, &uid, &gid, &by_docker) < 0)
		return -1;
	if ((uid != 0 || gid != 0) &&
	    chown(c->bind, (uid_t)uid, (gid_t)gid) < 0) {
		member_fail(c->j, "create %s: cannot give %s to %ld:%ld: %s",
		    c->name, c->bind, uid, gid, strerror(errno));
		return -1;
	}
	return 0;
}

static void
md_create(struct md_ctx *c)
{
	struct member_job *j = c->j;
	json_object *o;
	char path[300], *body;
	const char *id;

	if (c->bind[0] != '\0' && md_bind_make(c) < 0)
		return;
	if ((body = md_create_body(c)) == NULL) {
		member_fail(j, "docker: create %s: out of memory", c->name);
		return;
	}
	snprintf(path, sizeof(path), "/containers/create?name=%s", c->name);
	if (docker_request(&c->call, "POST", path, body) < 0) {
		free(body);
		return;
	}
	free(body);
	if (c->call.status != 201) {
		docker_call_error(&c->call, "create", c->name);
		return;
	}
	o = json_tokener_parse(c->call.body);
	if ((id = md_str(o, "Id")) != NULL)
		snprintf(j->res.container, sizeof(j->res.container), "%s", id);
	json_object_put(o);
	if (c->bind[0] != '\0' && md_bind_own(c) < 0)
		return;
	j->res.ok = true;
}

/* The container's IP on the pool's network (else on its first one). */
static const char *
md_ip(json_object *o, const char *network)
{
	json_object *net, *nets, *n;
	const char *ip;

	if (!json_object_object_get_ex(o, "NetworkSettings", &net))
		return NULL;
	if (json_object_object_get_ex(net, "Networks", &nets) &&
	    json_object_is_type(nets, json_type_object)) {
		if (network[0] != '\0' &&
		    json_object_object_get_ex(nets, network, &n) &&
		    (ip = md_str(n, "IPAddress")) != NULL && *ip != '\0')
			return ip;
		json_object_object_foreach(nets, name, v) {
			(void)name;
			ip = md_str(v, "IPAddress");
			if (ip != NULL && *ip != '\0')
				return ip;
		}
	}
	ip = md_str(net, "IPAddress");
	return ip != NULL && *ip != '\0' ? ip : NULL;
}

static void
md_start(struct md_ctx *c)
{
	struct member_job *j = c->j;
	json_object *o = NULL, *state, *v, *host;
	const char *ip, *id, *mode;
	char path[300];

	snprintf(path, sizeof(path), "/containers/%s/start", c->name);
	if (docker_request(&c->call, "POST", path, NULL) < 0)
		return;
	if (c->call.status != 204 && c->call.status != 304) {
		docker_call_error(&c->call, "start", c->name);
		return;
	}
	snprintf(path, sizeof(path), "/containers/%s/json", c->name);
	if (docker_request(&c->call, "GET", path, NULL) < 0)
		return;
	if (c->call.status != 200) {
		docker_call_error(&c->call, "inspect", c->name);
		return;
	}
	if ((o = json_tokener_parse(c->call.body)) == NULL ||
	    !json_object_object_get_ex(o, "State", &state) ||
	    !json_object_object_get_ex(state, "Running", &v)) {
		member_fail(j, "docker: inspect %s: unexpected reply",
		    c->name);
		goto done;
	}
	if (!json_object_get_boolean(v)) {
		member_fail(j, "docker: container %s exited as soon as it "
		    "started (see docker logs %s)", c->name, c->name);
		goto done;
	}
	mode = json_object_object_get_ex(o, "HostConfig", &host) ?
	    md_str(host, "NetworkMode") : NULL;
	if ((ip = md_ip(o, c->network)) == NULL && mode != NULL &&
	    strcmp(mode, "host") == 0)
		ip = "127.0.0.1";
	if (ip == NULL) {
		member_fail(j, "docker: container %s has no IP address "
		    "(network mode \"%s\")", c->name, mode ? mode : "?");
		goto done;
	}
	if (addr_format(j->res.addr, sizeof(j->res.addr), ip,
	    j->spec.cport) < 0) {
		member_fail(j, "docker: container %s has an IP address too "
		    "long to use (\"%.64s\")", c->name, ip);
		goto done;
	}
	if ((id = md_str(o, "Id")) != NULL)
		snprintf(j->res.container, sizeof(j->res.container), "%s", id);
	j->res.running = true;
	j->res.ok = true;
done:
	json_object_put(o);
}

static void
md_stop(struct md_ctx *c)
{
	char path[300];

	snprintf(path, sizeof(path), "/containers/%s/stop?t=%d", c->name,
	    MD_STOP_GRACE_S);
	if (docker_request(&c->call, "POST", path, NULL) < 0)
		return;
	/* 304: it was not running */
	if (c->call.status != 204 && c->call.status != 304) {
		docker_call_error(&c->call, "stop", c->name);
		return;
	}
	c->j->res.ok = true;
}

static void
md_remove(struct md_ctx *c)
{
	char path[300];

	snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", c->name);
	if (docker_request(&c->call, "DELETE", path, NULL) < 0)
		return;
	/* 404: gone already, which is what was asked */
	if (c->call.status != 204 && c->call.status != 404) {
		docker_call_error(&c->call, "remove", c->name);
		return;
	}
	if (c->bind[0] != '\0') {
		struct stat st;
		char why[256];

		if (lstat(c->bind, &st) == 0 &&
		    artifact_remove(c->bind, why, sizeof(why)) < 0) {
			member_fail(c->j, "remove %s: %s", c->name, why);
			return;
		}
	}
	c->j->res.ok = true;
}

/* The workspace's parent ("/" at the top) and base name, from WS. */
static void
md_split(const char *ws, char *parent, size_t plen, const char **base)
{
	const char *slash = strrchr(ws, '/');

	*base = slash + 1;
	snprintf(parent, plen, "%.*s", slash == ws ? 1 : (int)(slash - ws),
	    ws);
}

/*
 * Who the files go to: the container's Config.User. "" (root): the
 * tar's 0:0. Numeric "UID:GID": written into the tar, since Docker's
 * copyUIDGID looks both up in the container's passwd and group files
 * and fails when they are not there. A name (or a UID alone): Docker
 * resolves it as it does to run the container (*BY_DOCKER). 0, or -1
 * with the job's error.
 */
static int
md_owner(struct md_ctx *c, long *uid, long *gid, bool *by_docker)
{
	json_object *o = NULL, *cfg;
	const char *user = NULL;
	char path[300], *end;
	int ret = -1;

	*uid = *gid = 0;
	*by_docker = false;
	snprintf(path, sizeof(path), "/containers/%s/json", c->name);
	if (docker_request(&c->call, "GET", path, NULL) < 0)
		return -1;
	if (c->call.status != 200) {
		docker_call_error(&c->call, "inspect", c->name);
		return -1;
	}
	if ((o = json_tokener_parse(c->call.body)) == NULL ||
	    !json_object_object_get_ex(o, "Config", &cfg)) {
		member_fail(c->j, "docker: inspect %s: unexpected reply",
		    c->name);
		goto done;
	}
	if ((user = md_str(cfg, "User")) != NULL && *user != '\0') {
		*uid = strtol(user, &end, 10);
		if (end != user && *end == ':' && end[1] >= '0' &&
		    end[1] <= '9') {
			*gid = strtol(end + 1, &end, 10);
			*by_docker = *end != '\0';
		} else {
			*by_docker = true;
		}
		if (*by_docker)
			*uid = *gid = 0;
	}
	ret = 0;
done:
	json_object_put(o);
	return ret;
}

/* Owner of the files copied into a bind-mounted workspace: its
 * directory's, given at create. */
static int
md_bind_chown(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	static __thread uid_t uid;
	static __thread gid_t gid;

	(void)flag;
	if (ftw->level == 0) {
		uid = sb->st_uid;
		gid = sb->st_gid;
		return 0;
	}
	if (sb->st_uid != uid || sb->st_gid != gid)
		return lchown(path, uid, gid) < 0 ? -1 : 0;
	return 0;
}

static void
md_bind_load(struct md_ctx *c)
{
	struct member_job *j = c->j;
	struct stat st;

	member_copy_load(j, c->bind, c->name);
	if (j->res.ok && lstat(c->bind, &st) == 0 && st.st_uid != 0 &&
	    nftw(c->bind, md_bind_chown, 16, FTW_PHYS) != 0) {
		j->res.ok = false;
		member_fail(j, "load into %s: cannot give the files to uid "
		    "%ld: %s", c->name, (long)st.st_uid, strerror(errno));
	}
}

static void
md_bind_save(struct md_ctx *c)
{
	member_copy_save(c->j, c->bind, c->name);
}

static void
md_load(struct md_ctx *c)
{
	struct member_job *j = c->j;
	char parent[POOL_PATH_MAX], path[POOL_PATH_MAX * 3 + 300], *esc;
	const char *base;
	struct stat st;
	int64_t bytes;
	long uid, gid;
	bool by_docker;
	int fd;

	if (c->bind[0] != '\0') {
		md_bind_load(c);
		return;
	}
	md_split(c->ws, parent, sizeof(parent), &base);
	if (md_owner(c, &uid, &gid, &by_docker) < 0)
		return;
	if ((fd = member_tar_pack(j->path, base, uid, gid, j->max_bytes,
	    &bytes, j->res.err, sizeof(j->res.err))) < 0) {
		/* "load of member X: ..." reads better in a log than a path */
		char why[MEMBER_ERR_MAX];

		snprintf(why, sizeof(why), "%s", j->res.err);
		member_fail(j, "load into %s refused: %s", c->name, why);
		return;
	}
	if (fstat(fd, &st) < 0 ||
	    (esc = curl_easy_escape(c->call.curl, parent, 0)) == NULL) {
		member_fail(j, "load into %s: out of memory", c->name);
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/containers/%s/archive?path=%s&"
	    "noOverwriteDirNonDir=1%s", c->name, esc, by_docker ?
	    "&copyUIDGID=1" : "");
	curl_free(esc);
	if (docker_request_put_fd(&c->call, path, fd, st.st_size) < 0) {
		close(fd);
		return;
	}
	close(fd);
	if (c->call.status != 200) {
		docker_call_error(&c->call, "load into", c->name);
		return;
	}
	j->res.bytes = bytes;
	j->res.ok = true;
}

static void
md_save(struct md_ctx *c)
{
	struct member_job *j = c->j;
	char parent[POOL_PATH_MAX], path[POOL_PATH_MAX * 3 + 300];
	char why[MEMBER_ERR_MAX], *esc;
	const char *base;
	int64_t bytes;
	int raw, fd;

	if (c->bind[0] != '\0') {
		md_bind_save(c);
		return;
	}
	md_split(c->ws, parent, sizeof(parent), &base);
	if ((raw = memfd_create("devcloud-save", MFD_CLOEXEC)) < 0) {
		member_fail(j, "save of %s: cannot make a memfd: %s", c->name,
		    strerror(errno));
		return;
	}
	if ((esc = curl_easy_escape(c->call.curl, c->ws, 0)) == NULL) {
		member_fail(j, "save of %s: out of memory", c->name);
		close(raw);
		return;
	}
	snprintf(path, sizeof(path), "/containers/%s/archive?path=%s",
	    c->name, esc);
	curl_free(esc);
	if (docker_request_get_fd(&c->call, path, raw, j->max_bytes +
	    (j->max_bytes < MD_ARCHIVE_SLACK ? MD_ARCHIVE_SLACK :
	    j->max_bytes)) < 0) {
		close(raw);
		return;
	}
	if (c->call.status != 200) {
		docker_call_error(&c->call, "save of", c->name);
		close(raw);
		return;
	}
	fd = member_tar_rebase(raw, base, j->max_bytes, &bytes, why,
	    sizeof(why));
	close(raw);
	if (fd < 0) {
		member_fail(j, "save of %s refused: %s", c->name, why);
		return;
	}
	if (member_tar_replace(fd, j->path, j->max_bytes, why,
	    sizeof(why)) < 0) {
		member_fail(j, "save of %s into %s failed: %s", c->name,
		    j->path, why);
		close(fd);
		return;
	}
	close(fd);
	j->res.bytes = bytes;
	j->res.ok = true;
}

static void
md_list(struct md_ctx *c)
{
	struct member_job *j = c->j;
	json_object *o = NULL, *labels, *ct;
	char filter[200], path[600], *esc;
	const char *id, *state, *cid;
	size_t n;

	snprintf(filter, sizeof(filter), "{\"label\":[\"%s=%s\"]}",
	    MD_LABEL_POOL, j->spec.name);
	if ((esc = curl_easy_escape(c->call.curl, filter, 0)) == NULL) {
		member_fail(j, "docker: list: out of memory");
		return;
	}
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s", esc);
	curl_free(esc);
	if (docker_request(&c->call, "GET", path, NULL) < 0)
		return;
	if (c->call.status != 200) {
		docker_call_error(&c->call, "list", j->spec.name);
		return;
	}
	if ((o = json_tokener_parse(c->call.body)) == NULL ||
	    !json_object_is_type(o, json_type_array)) {
		member_fail(j, "docker: list: unexpected reply");
		goto done;
	}
	n = json_object_array_length(o);
	for (size_t i = 0; i < n; i++) {
		ct = json_object_array_get_idx(o, i);
		if (!json_object_object_get_ex(ct, "Labels", &labels) ||
		    (id = md_str(labels, MD_LABEL_MEMBER)) == NULL ||
		    strlen(id) >= MEMBER_ID_MAX)
			continue;	/* not one of ours after all */
		state = md_str(ct, "State");
		cid = md_str(ct, "Id");
		if (member_found_add(j, id, state != NULL &&
		    strcmp(state, "running") == 0, cid ? cid : "") < 0) {
			member_fail(j, "docker: list: out of memory");
			goto done;
		}
	}
	j->res.ok = true;
done:
	json_object_put(o);
}

/* On a worker thread: one call, start to end. */
static void
md_run(struct member_job *j, void (*fn)(struct md_ctx *), int timeout_ms)
{
	struct member_docker *dk = j->drv;
	struct md_ctx *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		member_fail(j, "docker: out of memory");
		return;
	}
	c->j = j;
	snprintf(c->socket, sizeof(c->socket), "%s", dk->socket);
	snprintf(c->network, sizeof(c->network), "%s", dk->network);
	snprintf(c->name, sizeof(c->name), "devcloud-pool-%s-%s",
	    j->spec.name, j->id);
	if (dk->bind_dir[0] != '\0')
		snprintf(c->bind, sizeof(c->bind), "%s/%s/%s", dk->bind_dir,
		    j->spec.name, j->id);
	/* checked when the call was made; cannot fail here */
	md_workspace(&j->spec, c->ws, sizeof(c->ws), j->res.err,
	    sizeof(j->res.err));
	if (docker_call_init(&c->call, c->socket, timeout_ms, j->res.err,
	    sizeof(j->res.err)) == 0)
		fn(c);
	docker_call_cleanup(&c->call);
	if (!j->res.ok) {
		j->res.addr[0] = '\0';
		j->res.running = false;
		j->res.bytes = 0;
	} else {
		j->res.err[0] = '\0';
	}
	free(c);
}

static void
md_run_create(struct member_job *j)
{
	md_run(j, md_create, MD_CREATE_MS);
}

static void
md_run_start(struct member_job *j)
{
	md_run(j, md_start, MD_START_MS);
}

static void
md_run_stop(struct member_job *j)
{
	md_run(j, md_stop, MD_STOP_MS);
}

static void
md_run_remove(struct member_job *j)
{
	md_run(j, md_remove, MD_REMOVE_MS);
}

static void
md_run_load(struct member_job *j)
{
	md_run(j, md_load, MD_ARCHIVE_MS);
}

static void
md_run_save(struct member_job *j)
{
	md_run(j, md_save, MD_ARCHIVE_MS);
}

static void
md_run_list(struct member_job *j)
{
	md_run(j, md_list, MD_LIST_MS);
}

/* What every call of a pool needs: a workspace that makes sense. */
static int
md_check(struct member_job *j, char *err, size_t errlen)
{
	char ws[POOL_PATH_MAX];

	return md_workspace(&j->spec, ws, sizeof(ws), err, errlen);
}

static int
docker_member_create(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	if (j->spec.image[0] == '\0') {
		snprintf(err, errlen, "pool %s: a docker pool needs an image",
		    j->spec.name);
		return -1;
	}
	if (j->spec.cport < 1 || j->spec.cport > 65535) {
		snprintf(err, errlen, "pool %s: cport %d is not a port",
		    j->spec.name, j->spec.cport);
		return -1;
	}
	j->run = md_run_create;
	return md_check(j, err, errlen);
}

static int
docker_member_start(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	if (j->spec.cport < 1 || j->spec.cport > 65535) {
		snprintf(err, errlen, "pool %s: cport %d is not a port",
		    j->spec.name, j->spec.cport);
		return -1;
	}
	j->run = md_run_start;
	return md_check(j, err, errlen);
}

static int
docker_member_stop(void *drv, struct member_job *j, char *err, size_t errlen)
{
	j->run = md_run_stop;
	return 0;
}

static int
docker_member_remove(void *drv, struct member_job *j, char *err,
    size_t errlen)
{
	j->run = md_run_remove;
	return 0;
}

static int
md_check_files(struct member_job *j, char *err, size_t errlen)
{
	if (j->path[0] == '\0' || j->max_bytes <= 0) {
		snprintf(err, errlen, "pool %s: member %s: a directory and "
		    "max_bytes > 0 are needed", j->spec.name, j->id);
		return -1;
	}
	return md_check(j, err, errlen);
}

static int
docker_member_load(void *drv, struct member_job *j, char *err, size_t errlen)
{
	j->run = md_run_load;
	return md_check_files(j, err, errlen);
}

static int
docker_member_save(void *drv, struct member_job *j, char *err, size_t errlen)
{
	j->run = md_run_save;
	return md_check_files(j, err, errlen);
}

static int
docker_member_list(void *drv, struct member_job *j, char *err, size_t errlen)
{
	j->run = md_run_list;
	return 0;
}

static void *
docker_member_open(uv_loop_t *loop, const struct config *cfg)
{
	struct member_docker *dk;

	/* Before any thread uses curl; counted, so other users may too. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	if ((dk = calloc(1, sizeof(*dk))) == NULL) {
		curl_global_cleanup();
		return NULL;
	}
	snprintf(dk->socket, sizeof(dk->socket), "%s",
	    cfg->idepool.docker_socket);
	snprintf(dk->network, sizeof(dk->network), "%s",
	    cfg->idepool.docker_network);
	snprintf(dk->bind_dir, sizeof(dk->bind_dir), "%s",
	    cfg->idepool.docker_bind_dir);
	return dk;
}

static void
docker_member_close(void *drv)
{
	free(drv);
	curl_global_cleanup();
}

const struct member_ops member_docker_ops = {
	.name = "docker",
	.open = docker_member_open,
	.close = docker_member_close,
	.create = docker_member_create,
	.start = docker_member_start,
	.stop = docker_member_stop,
	.remove = docker_member_remove,
	.load = docker_member_load,
	.save = docker_member_save,
	.list = docker_member_list,
};
