/*
 * The docker driver: an instance is a container, started, stopped and
 * inspected through the Docker Engine API on the daemon's unix socket
 * (autostart.docker_socket). The app names either an existing container
 * (its one instance) or an image; for an image the driver owns one
 * container per instance, "devcloud-NAME-ID", labelled devcloud.app=NAME
 * and devcloud.instance=ID, on the network autostart.docker_network
 * (Docker's default bridge if empty), created on the first start and kept
 * (stopped) between wakes, so a wake is one "docker start" and not a
 * create. An instance's host is the Docker daemon's Name (GET /info),
 * asked once and kept.
 *
 * libcurl blocks, so every call is a job on libuv's thread pool: the
 * worker talks to Docker and fills a driver_result, and the after-work
 * callback hands it to the caller on the loop thread. A job copies what
 * it needs from the app, so the caller's record may go away at once.
 * Docker's own error message ("No such container: x") becomes the
 * result's err; a daemon that is down or a missing socket becomes
 * "cannot reach SOCKET". Every request has a timeout.
 *
 * Deaths are known from Docker's event stream (docker_events.c), not at
 * the next inspect: a container of ours that dies, and that we did not
 * ask to stop, is reported to on_exit on the loop thread. Each container
 * the driver has been asked about has a struct docker_ct saying which
 * app and instance it is (a container devcloud did not create carries
 * no label of ours) and which of its deaths are our own stops.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "addr.h"
#include "docker_api.h"
#include "docker_events.h"
#include "driver.h"
#include "keys.h"
#include "log.h"

#define DOCKER_INSPECT_TIMEOUT_MS 5000
#define DOCKER_STOP_MARGIN_MS 10000	/* after the grace: kill and reap */
#define DOCKER_START_MARGIN_MS 2000
#define DOCKER_RETRY_MS 20		/* a start racing another's create */
#define DOCKER_DIE_LINGER_MS 10000	/* a stop's death may come this late */
#define DOCKER_OOM_STATUS 137		/* 128 + SIGKILL */

enum docker_op { DOCKER_START, DOCKER_STOP, DOCKER_INSPECT, DOCKER_INFO };

/*
 * A container the driver was asked about, for its events. Our stop of a
 * running container causes one "die", which may reach us before or
 * after the stop's own reply: while stops are in flight every death is
 * theirs (EARLY counts those), and a stop that ended without its death
 * seen leaves it OWED for a while.
 */
struct docker_ct {
	char name[256];			/* as the app names it, or ours */
	char app[64];
	char inst[64];
	bool owned;
	int stops;			/* stop calls in flight */
	int early;			/* deaths seen during them */
	int owed;			/* deaths finished stops still cause */
	long owed_until_ms;
	bool oom;			/* an "oom" event since its last death */
	struct docker_ct *next;
};

struct docker {
	uv_loop_t *loop;
	char socket[CONFIG_PATH_MAX];
	char network[64];		/* image apps join it; "": default */
	char host[DRIVER_HOST_MAX];	/* the daemon's Name; "" until known */
	bool info_queued;
	driver_exit_cb on_exit;
	void *arg;
	struct docker_events *events;	/* NULL until the first use */
	struct docker_ct *cts;
	int njobs;			/* queued or running */
	bool closing;			/* freed when the last job ends */
};

/*
 * One call. The worker thread owns everything but DK, which it never
 * touches; the loop thread frees the job after the callback.
 */
struct docker_job {
	uv_work_t work;
	struct docker *dk;
	enum docker_op op;
	struct docker_ct *ct;		/* loop thread only; NULL for info */
	char socket[CONFIG_PATH_MAX];
	char app[64];
	char inst[64];
	char id[256];			/* container name or id */
	bool owned;			/* "devcloud-NAME-ID", from the image */
	char image[256];
	char network[64];		/* HostConfig.NetworkMode; "": default */
	char env[APP_TEXT_MAX];
	char release[32];		/* the app's release ("": none) */
	char bind[1024];		/* "DIR:PATH:ro": the release */
	int cport;
	int grace_ms;			/* stop: before Docker kills */
	int timeout_ms;			/* the whole job's budget */
	driver_cb cb;
	void *arg;

	/* worker state */
	struct docker_call call;
	bool host_asked;		/* res.host is from GET /info */
	bool stopped;			/* a stop that (may have) ended it */
	struct driver_result res;
};

/* The job's error, cut to fit: Docker's messages may be long. */
static void docker_fail(struct docker_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
docker_fail(struct docker_job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->res.err, sizeof(j->res.err), fmt, ap);
	va_end(ap);
}

/* GET /info: the daemon's Name, made a host name, into res.host. */
static int
docker_info_now(struct docker_job *j)
{
	json_object *o = NULL, *v;
	int ret = -1;

	if (docker_request(&j->call, "GET", "/info", NULL) < 0)
		return -1;
	if (j->call.status != 200) {
		docker_call_error(&j->call, "info", j->id);
		return -1;
	}
	if ((o = json_tokener_parse(j->call.body)) == NULL ||
	    !json_object_object_get_ex(o, "Name", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		docker_fail(j, "docker: info: unexpected reply (no Name)");
		goto done;
	}
	host_name(json_object_get_string(v), j->res.host,
	    sizeof(j->res.host));
	j->host_asked = true;
	ret = 0;
done:
	json_object_put(o);
	return ret;
}

/*
 * The host of a running instance: the daemon's name if the driver knew
 * it when the job was queued (it is in res.host), else asked now. If
 * Docker will not say, this machine's name stands in, unremembered: the
 * socket is a local one.
 */
static void
docker_host(struct docker_job *j)
{
	if (j->res.host[0] != '\0' || docker_info_now(j) == 0)
		return;
	log_warn("docker daemon name unknown, using this machine's",
	    "app=%s instance=%s err=\"%s\"", j->app, j->inst, j->res.err);
	host_name(NULL, j->res.host, sizeof(j->res.host));
	j->res.err[0] = '\0';
}

/* The body of POST /containers/create for an image app. */
static char *
docker_create_body(const struct docker_job *j)
{
	json_object *o = json_object_new_object();
	json_object *env = docker_env_array(j->env);
	json_object *labels = json_object_new_object();
	json_object *ports = json_object_new_object();
	char port[16];
	char *s = NULL;

	if (o == NULL || env == NULL || labels == NULL || ports == NULL) {
		json_object_put(env);
		json_object_put(labels);
		json_object_put(ports);
		goto done;
	}
	json_object_object_add(labels, DOCKER_LABEL_APP,
	    json_object_new_string(j->app));
	json_object_object_add(labels, DOCKER_LABEL_INSTANCE,
	    json_object_new_string(j->inst));
	json_object_object_add(labels, DOCKER_LABEL_RELEASE,
	    json_object_new_string(j->release));
	snprintf(port, sizeof(port), "%d/tcp", j->cport);
	json_object_object_add(ports, port, json_object_new_object());
	json_object_object_add(o, "Image", json_object_new_string(j->image));
	json_object_object_add(o, "Env", env);
	json_object_object_add(o, "Labels", labels);
	json_object_object_add(o, "ExposedPorts", ports);
	if (j->network[0] != '\0' || j->bind[0] != '\0') {
		json_object *host = json_object_new_object();

		if (j->network[0] != '\0')
			json_object_object_add(host, "NetworkMode",
			    json_object_new_string(j->network));
		if (j->bind[0] != '\0') {
			json_object *binds = json_object_new_array();

			json_object_array_add(binds,
			    json_object_new_string(j->bind));
			json_object_object_add(host, "Binds", binds);
		}
		json_object_object_add(o, "HostConfig", host);
	}
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
done:
	json_object_put(o);
	return s;
}

/* The container's IP on its first network; "" if it has none. */
static const char *
docker_ip(json_object *net)
{
	json_object *v, *nets;

	if (json_object_object_get_ex(net, "IPAddress", &v) &&
	    json_object_get_string_len(v) > 0)
		return json_object_get_string(v);
	if (!json_object_object_get_ex(net, "Networks", &nets) ||
	    !json_object_is_type(nets, json_type_object))
		return "";
	json_object_object_foreach(nets, name, n) {
		(void)name;
		if (json_object_object_get_ex(n, "IPAddress", &v) &&
		    json_object_get_string_len(v) > 0)
			return json_object_get_string(v);
	}
	return "";
}

/* GET /containers/ID/json into res.running and res.addr. */
static int
docker_inspect_now(struct docker_job *j)
{
	json_object *o = NULL, *state, *v, *net, *host;
	char path[300];
	const char *ip, *mode = "";
	int ret = -1;

	snprintf(path, sizeof(path), "/containers/%s/json", j->id);
	if (docker_request(&j->call, "GET", path, NULL) < 0)
		return -1;
	if (j->call.status == 404 && j->owned) {
		/* Not created yet: a stopped app, not a broken one. */
		j->res.running = false;
		return 0;
	}
	if (j->call.status != 200) {
		docker_call_error(&j->call, "inspect", j->id);
		return -1;
	}
	if ((o = json_tokener_parse(j->call.body)) == NULL ||
	    !json_object_object_get_ex(o, "State", &state) ||
	    !json_object_object_get_ex(state, "Running", &v)) {
		docker_fail(j, "docker: inspect %s: unexpected reply", j->id);
		goto done;
	}
	j->res.running = json_object_get_boolean(v);
	if (!j->res.running) {
		ret = 0;
		goto done;
	}
	if (json_object_object_get_ex(o, "HostConfig", &host) &&
	    json_object_object_get_ex(host, "NetworkMode", &v))
		mode = json_object_get_string(v);
	ip = json_object_object_get_ex(o, "NetworkSettings", &net) ?
	    docker_ip(net) : "";
	if (*ip == '\0' && strcmp(mode, "host") == 0)
		ip = "127.0.0.1";
	if (*ip == '\0') {
		docker_fail(j, "docker: container %s has no IP address "
		    "(network mode \"%s\")", j->id, mode);
		goto done;
	}
	if (addr_format(j->res.addr, sizeof(j->res.addr), ip, j->cport) < 0) {
		docker_fail(j, "docker: container %s has an IP address too "
		    "long to use (\"%.64s\")", j->id, ip);
		goto done;
	}
	ret = 0;
done:
	json_object_put(o);
	return ret;
}

static int
docker_create(struct docker_job *j)
{
	char path[300], *body, *name;
	int ret;

	if ((body = docker_create_body(j)) == NULL ||
	    (name = curl_easy_escape(j->call.curl, j->id, 0)) == NULL) {
		free(body);
		docker_fail(j, "docker: create %s: out of memory", j->id);
		return -1;
	}
	snprintf(path, sizeof(path), "/containers/create?name=%s", name);
	curl_free(name);
	ret = docker_request(&j->call, "POST", path, body);
	free(body);
	if (ret < 0)
		return -1;
	/* 409: another autostart replica is creating it right now. */
	if (j->call.status != 201 && j->call.status != 409) {
		docker_call_error(&j->call, "create", j->id);
		return -1;
	}
	if (j->call.status == 201)
		log_info("docker container created", "app=%s container=%s "
		    "image=%s", j->app, j->id, j->image);
	return 0;
}

/*
 * A container kept from an earlier start runs the release it was made
 * for (its mount, its $DEVCLOUD_RELEASE): one whose devcloud.release
 * label is not the job's is removed, to be created anew. 0, or -1.
 */
static int
docker_release_check(struct docker_job *j)
{
	json_object *o = NULL, *cfg, *labels, *v;
	const char *have = "";
	char path[300];

	snprintf(path, sizeof(path), "/containers/%s/json", j->id);
	if (docker_request(&j->call, "GET", path, NULL) < 0)
		return -1;
	if (j->call.status == 404)
		return 0;
	if (j->call.status == 200 && j->call.body != NULL &&
	    (o = json_tokener_parse(j->call.body)) !=
	    NULL && json_object_object_get_ex(o, "Config", &cfg) &&
	    json_object_object_get_ex(cfg, "Labels", &labels) &&
	    json_object_object_get_ex(labels, DOCKER_LABEL_RELEASE, &v))
		have = json_object_get_string(v);
	if (strcmp(have, j->release) == 0) {
		json_object_put(o);
		return 0;
	}
	json_object_put(o);
	snprintf(path, sizeof(path), "/containers/%s?force=1", j->id);
	if (docker_request(&j->call, "DELETE", path, NULL) < 0)
		return -1;
	if (j->call.status != 204 && j->call.status != 404) {
		docker_call_error(&j->call, "remove", j->id);
		return -1;
	}
	return 0;
}

/*
 * Start first and create only if Docker does not know the container:
 * a wake of an app that ran before costs one call, not two.
 */
static int
docker_start_now(struct docker_job *j)
{
	char path[300];
	bool created = false;

	if (j->owned && j->release[0] != '\0' && docker_release_check(j) < 0)
		return -1;
	snprintf(path, sizeof(path), "/containers/%s/start", j->id);
	for (;;) {
		if (docker_request(&j->call, "POST", path, NULL) < 0)
			return -1;
		if (j->call.status != 404 || !j->owned)
			break;
		if (!created) {
			if (docker_create(j) < 0)
				return -1;
			created = true;
			continue;
		}
		/*
		 * Docker takes the name before the container exists: after
		 * our 409, someone else's create may still be under way.
		 */
		if (docker_now_ms() + DOCKER_RETRY_MS > j->call.deadline_ms)
			break;
		usleep(DOCKER_RETRY_MS * 1000);
	}
	/* 304: it was running */
	if (j->call.status != 204 && j->call.status != 304) {
		docker_call_error(&j->call, "start", j->id);
		return -1;
	}
	if (docker_inspect_now(j) < 0)
		return -1;
	if (!j->res.running) {
		docker_fail(j, "docker: container %s exited as soon as it "
		    "started (see docker logs %s)", j->id, j->id);
		return -1;
	}
	return 0;
}

static int
docker_stop_now(struct docker_job *j)
{
	char path[300];

	snprintf(path, sizeof(path), "/containers/%s/stop?t=%d", j->id,
	    (j->grace_ms + 999) / 1000);
	j->stopped = true;	/* unless Docker says it was not running */
	if (docker_request(&j->call, "POST", path, NULL) < 0)
		return -1;
	if (j->call.status == 304 || j->call.status == 404)
		j->stopped = false;
	/* An owned container that is gone is as stopped as it gets. */
	if (j->call.status != 204 && j->call.status != 304 &&
	    !(j->call.status == 404 && j->owned)) {
		docker_call_error(&j->call, "stop", j->id);
		return -1;
	}
	j->res.running = false;
	return 0;
}

/* Runs on a thread-pool thread: may block, never touches the loop. */
static void
docker_work(uv_work_t *w)
{
	struct docker_job *j = w->data;
	int ret = -1;

	if (docker_call_init(&j->call, j->socket, j->timeout_ms, j->res.err,
	    sizeof(j->res.err)) < 0) {
		docker_call_cleanup(&j->call);
		return;
	}
	switch (j->op) {
	case DOCKER_START:
		ret = docker_start_now(j);
		break;
	case DOCKER_STOP:
		ret = docker_stop_now(j);
		break;
	case DOCKER_INSPECT:
		ret = docker_inspect_now(j);
		break;
	case DOCKER_INFO:
		ret = docker_info_now(j);
		break;
	}
	if (ret == 0 && j->res.running)
		docker_host(j);
	docker_call_cleanup(&j->call);
	j->res.ok = ret == 0;
	/* outputs only on success; a host only where something runs */
	if (!j->res.ok)
		j->res.addr[0] = '\0';
	if (!j->res.ok || (!j->res.running && j->op != DOCKER_INFO))
		j->res.host[0] = '\0';
}

static void
docker_free(struct docker *dk)
{
	struct docker_ct *ct, *next;

	for (ct = dk->cts; ct != NULL; ct = next) {
		next = ct->next;
		free(ct);
	}
	free(dk);
	curl_global_cleanup();
}

/* A stop of CT ended; STOPPED: it may have caused a death. */
static void
docker_ct_stopped(struct docker_ct *ct, bool stopped)
{
	ct->stops--;
	if (stopped && ct->early > 0) {
		ct->early--;
	} else if (stopped) {
		ct->owed++;
		ct->owed_until_ms = docker_now_ms() + DOCKER_DIE_LINGER_MS;
	}
	if (ct->stops == 0)
		ct->early = 0;
}

/* Back on the loop thread: the caller's callback, then the job goes. */
static void
docker_done(uv_work_t *w, int status)
{
	struct docker_job *j = w->data;
	struct docker *dk = j->dk;

	if (status == UV_ECANCELED) {
		j->res.ok = false;
		j->stopped = true;
		docker_fail(j, "docker: %s: call cancelled", j->id);
	}
	if (j->res.ok && j->host_asked && dk->host[0] == '\0') {
		snprintf(dk->host, sizeof(dk->host), "%s", j->res.host);
		log_info("docker daemon named", "socket=%s host=%s",
		    dk->socket, dk->host);
	}
	if (j->op == DOCKER_INFO) {
		dk->info_queued = false;
		if (!j->res.ok)
			log_warn("cannot ask docker its name", "socket=%s "
			    "err=\"%s\" (asked again at the next start)",
			    dk->socket, j->res.err);
	}
	if (j->op == DOCKER_STOP && j->ct != NULL)
		docker_ct_stopped(j->ct, j->stopped);
	if (j->cb != NULL)
		j->cb(&j->res, j->arg);
	free(j);
	if (--dk->njobs == 0 && dk->closing)
		docker_free(dk);
}

/* Container names and ids as Docker accepts them; keeps URLs plain. */
static bool
docker_name_ok(const char *s)
{
	if (*s == '\0' || *s == '.' || *s == '-' || *s == '_')
		return false;
	for (; *s != '\0'; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '.' &&
		    *s != '-')
			return false;
	return true;
}

/*
 * Containers of ours, for their events. An owned container is found by
 * its name; one the app names, by its name or by the id (or prefix of
 * twelve or more characters) the app gave.
 */
static struct docker_ct *
docker_ct_find(struct docker *dk, const char *name, const char *id)
{
	size_t n;

	for (struct docker_ct *ct = dk->cts; ct != NULL; ct = ct->next) {
		if (strcmp(ct->name, name) == 0)
			return ct;
		n = strlen(ct->name);
		if (!ct->owned && id != NULL && n >= 12 &&
		    strncmp(ct->name, id, n) == 0)
			return ct;
	}
	return NULL;
}

/* CT for the container NAME of APP's instance INST; NULL if no memory. */
static struct docker_ct *
docker_ct_get(struct docker *dk, const char *name, const char *app,
    const char *inst, bool owned)
{
	struct docker_ct *ct = docker_ct_find(dk, name, NULL);

	if (ct == NULL) {
		if ((ct = calloc(1, sizeof(*ct))) == NULL)
			return NULL;
		snprintf(ct->name, sizeof(ct->name), "%s", name);
		ct->next = dk->cts;
		dk->cts = ct;
	}
	/* the app may have been re-created to name another container */
	snprintf(ct->app, sizeof(ct->app), "%s", app);
	snprintf(ct->inst, sizeof(ct->inst), "%s", inst);
	ct->owned = owned;
	return ct;
}

/* A death from Docker's stream: ours, asked for, or to be reported. */
static void
docker_died(struct docker *dk, struct docker_ct *ct,
    const struct docker_event *e)
{
	char why[64];
	bool oom = ct->oom;

	ct->oom = false;
	if (ct->stops > 0 || (ct->owed > 0 &&
	    docker_now_ms() < ct->owed_until_ms)) {
		if (ct->stops > 0)
			ct->early++;
		else
			ct->owed--;
		log_debug("docker container stopped as asked", "app=%s "
		    "instance=%s container=%s status=%d", ct->app, ct->inst,
		    e->name, e->exit_code);
		return;
	}
	ct->owed = 0;
	if (oom && e->exit_code == DOCKER_OOM_STATUS)
		snprintf(why, sizeof(why), "killed: out of memory");
	else if (e->exit_code >= 0)
		snprintf(why, sizeof(why), "exited with status %d",
		    e->exit_code);
	else
		snprintf(why, sizeof(why), "exited (status unknown)");
	log_info("instance exited", "app=%s instance=%s container=%s "
	    "why=\"%s\"", ct->app, ct->inst, e->name, why);
	if (dk->on_exit != NULL && !dk->closing)
		dk->on_exit(ct->app, ct->inst, why, dk->arg);
}

/* On the loop thread, for every event of the stream. */
static void
docker_on_event(const struct docker_event *e, void *arg)
{
	struct docker *dk = arg;
	struct docker_ct *ct;

	if (e->kind == DOCKER_EVENT_CONNECTED) {
		/* deaths owed from before the stream broke were missed */
		for (ct = dk->cts; ct != NULL; ct = ct->next)
			ct->owed = 0;
		return;
	}
	if ((ct = docker_ct_find(dk, e->name, e->id)) == NULL) {
		/* one we created before this daemon started, say */
		if (!keys_name_valid(e->app) || !keys_name_valid(e->inst))
			return;		/* not ours */
		if ((ct = docker_ct_get(dk, e->name, e->app, e->inst,
		    true)) == NULL) {
			log_warn("docker event dropped", "container=%s "
			    "err=\"out of memory\"", e->name);
			return;
		}
	}
	switch (e->kind) {
	case DOCKER_EVENT_OOM:
		log_info("docker container out of memory", "app=%s "
		    "instance=%s container=%s", ct->app, ct->inst, e->name);
		ct->oom = true;
		break;
	case DOCKER_EVENT_DIE:
		docker_died(dk, ct, e);
		break;
	case DOCKER_EVENT_CONNECTED:
		break;
	}
}

static int
docker_submit(struct docker *dk, struct docker_job *j, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = uv_queue_work(dk->loop, &j->work, docker_work,
	    docker_done)) != 0) {
		snprintf(err, errlen, "cannot queue docker call: %s",
		    uv_strerror(rc));
		return -1;
	}
	dk->njobs++;
	return 0;
}

/* Asks Docker its name on the thread pool, if nobody is asking yet. */
static void
docker_ask_name(struct docker *dk)
{
	struct docker_job *j;
	char err[128];

	if (dk->host[0] != '\0' || dk->info_queued ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->work.data = j;
	j->dk = dk;
	j->op = DOCKER_INFO;
	j->timeout_ms = DOCKER_INSPECT_TIMEOUT_MS;
	snprintf(j->socket, sizeof(j->socket), "%s", dk->socket);
	if (docker_submit(dk, j, err, sizeof(err)) < 0) {
		log_warn("cannot ask docker its name", "socket=%s err=\"%s\"",
		    dk->socket, err);
		free(j);
		return;
	}
	dk->info_queued = true;
}

/*
 * Follows Docker's events from the first use of the daemon on (or from
 * open, if its socket is there): a suite that runs no docker app never
 * knocks on a socket that is not there.
 */
static void
docker_watch(struct docker *dk)
{
	char err[128];

	if (dk->events != NULL || dk->closing)
		return;
	if ((dk->events = docker_events_open(dk->loop, dk->socket,
	    docker_on_event, dk, err, sizeof(err))) == NULL)
		log_error("cannot follow docker events", "socket=%s "
		    "err=\"%s\" (exits known at the next inspect only)",
		    dk->socket, err);
	docker_ask_name(dk);
}

/*
 * Copies what the job needs from A and queues it. 0, or -1 with ERR
 * (CB will not run).
 */
static int
docker_queue(struct docker *dk, enum docker_op op, const struct app *a,
    const char *inst, int grace_ms, int timeout_ms, driver_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct docker_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(err, errlen, "app %s: out of memory", a->name);
		return -1;
	}
	j->work.data = j;
	j->dk = dk;
	j->op = op;
	j->grace_ms = grace_ms;
	j->timeout_ms = timeout_ms;
	j->cb = cb;
	j->arg = arg;
	j->cport = a->cport;
	snprintf(j->socket, sizeof(j->socket), "%s", dk->socket);
	snprintf(j->app, sizeof(j->app), "%s", a->name);
	snprintf(j->inst, sizeof(j->inst), "%s", inst);
	snprintf(j->image, sizeof(j->image), "%s", a->image);
	snprintf(j->network, sizeof(j->network), "%s", dk->network);
	snprintf(j->env, sizeof(j->env), "%s", a->env);
	snprintf(j->release, sizeof(j->release), "%s", a->release);
	if (a->release_dir[0] != '\0' && a->release_path[0] != '\0')
		snprintf(j->bind, sizeof(j->bind), "%s:%s:ro", a->release_dir,
		    a->release_path);
	snprintf(j->res.host, sizeof(j->res.host), "%s", dk->host);
	j->owned = a->container[0] == '\0';
	if (j->owned)
		snprintf(j->id, sizeof(j->id), "devcloud-%s-%s", a->name, inst);
	else
		snprintf(j->id, sizeof(j->id), "%s", a->container);
	if (j->owned && a->image[0] == '\0') {
		snprintf(err, errlen, "app %s: docker needs a container or "
		    "an image", a->name);
		free(j);
		return -1;
	}
	if (!docker_name_ok(j->id)) {
		snprintf(err, errlen, "app %s: \"%s\" is not a docker "
		    "container name", a->name, a->container);
		free(j);
		return -1;
	}
	docker_watch(dk);
	/* Without it the container's events go unread: still started. */
	j->ct = docker_ct_get(dk, j->id, a->name, inst, j->owned);
	if (docker_submit(dk, j, err, errlen) < 0) {
		free(j);
		return -1;
	}
	if (op == DOCKER_STOP && j->ct != NULL)
		j->ct->stops++;
	return 0;
}

static void *
docker_open(uv_loop_t *loop, const struct config *cfg, driver_exit_cb on_exit,
    void *arg)
{
	struct docker *dk;

	/* Before any thread uses curl; counted, so other users may too. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	if ((dk = calloc(1, sizeof(*dk))) == NULL) {
		curl_global_cleanup();
		return NULL;
	}
	dk->loop = loop;
	dk->on_exit = on_exit;
	dk->arg = arg;
	snprintf(dk->socket, sizeof(dk->socket), "%s",
	    cfg->autostart.docker_socket);
	snprintf(dk->network, sizeof(dk->network), "%s",
	    cfg->autostart.docker_network);
	if (access(dk->socket, F_OK) == 0)
		docker_watch(dk);
	return dk;
}

/* Calls in flight still end with their callback; the last one frees. */
static void
docker_close(void *self)
{
	struct docker *dk = self;

	dk->closing = true;
	docker_events_close(dk->events);
	dk->events = NULL;
	if (dk->njobs == 0)
		docker_free(dk);
}

static int
docker_start(void *self, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	/* Never 0 here: app_defaults and app_set (>= 100 ms) see to it. */
	return docker_queue(self, DOCKER_START, a, inst, 0,
	    a->start_timeout_ms + DOCKER_START_MARGIN_MS, cb, arg, err,
	    errlen);
}

static int
docker_stop(void *self, const struct app *a, const char *inst, int grace_ms,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	if (grace_ms < 0)
		grace_ms = 0;
	return docker_queue(self, DOCKER_STOP, a, inst, grace_ms,
	    grace_ms + DOCKER_STOP_MARGIN_MS, cb, arg, err, errlen);
}

static int
docker_inspect(void *self, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	return docker_queue(self, DOCKER_INSPECT, a, inst, 0,
	    DOCKER_INSPECT_TIMEOUT_MS, cb, arg, err, errlen);
}

const struct driver_ops driver_docker_ops = {
	.name = "docker",
	.open = docker_open,
	.close = docker_close,
	.start = docker_start,
	.stop = docker_stop,
	.inspect = docker_inspect,
};
