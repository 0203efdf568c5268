/*
 * The swarm driver: an app is a Docker Swarm service, "devcloud-NAME",
 * made from the app's image (and env) on its first start and scaled
 * between 0 and the app's replicas, through the Engine API of a manager
 * (autostart.docker_socket). The app is one devcloud instance however
 * many replicas it has; Swarm places the tasks on its nodes.
 *
 *   start    GET /services/devcloud-NAME, then POST /services/create
 *            (404) or POST /services/ID/update?version=V with
 *            Mode.Replicated.Replicas = replicas; then GET /tasks of the
 *            service until one runs, within the start timeout
 *   stop     the same update with Replicas = 0, then GET /tasks until
 *            none runs (within the stop grace and a margin)
 *   inspect  GET /tasks: running if a task runs
 *
 * Where the app answers: the first running task's address (lowest
 * slot). With drivers.swarm_network set, the service joins that network
 * and the address is the task's on it (its NetworksAttachments), for a
 * proxy on that network; without, the tasks run on their node's local
 * bridge and the address is the task's container address there (GET
 * /containers/ID/json on this daemon), for a proxy on the same node.
 * Either way it is IP:PORT, as the readiness probe takes it, and one
 * task's: the others of an app of several replicas get no requests from
 * the proxy (a swarm's virtual IP would spread them, but needs IPVS).
 * The host is the task's node's host name (GET /nodes/ID).
 *
 * An update names the version it read: one made meanwhile by another
 * autostart replica makes Docker refuse it ("update out of sequence"),
 * and the driver reads the service again and retries. Swarm restarts a
 * task that dies by itself, so no exit is reported; the service's
 * containers carry no instance label of the docker driver's, whose
 * event stream therefore leaves them alone.
 *
 * As in driver_docker.c, libcurl blocks, so every call is a job on
 * libuv's thread pool, its requests made with docker_api.h (Docker's
 * "message" becomes the result's err).
 */
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
#include "docker_events.h"	/* DOCKER_LABEL_APP */
#include "driver.h"
#include "log.h"

#define SWARM_INSPECT_TIMEOUT_MS 5000
#define SWARM_START_MARGIN_MS 2000
#define SWARM_STOP_MARGIN_MS 10000
#define SWARM_POLL_FIRST_MS 20		/* task polls, doubling */
#define SWARM_POLL_MAX_MS 500
#define SWARM_UPDATE_TRIES 5		/* against concurrent updates */
#define SWARM_NS_PER_MS 1000000LL

enum swarm_op { SWARM_START, SWARM_STOP, SWARM_INSPECT };

struct swarm {
	uv_loop_t *loop;
	char socket[CONFIG_PATH_MAX];
	char network[64];		/* "": the nodes' local bridge */
	int stop_grace_ms;		/* the tasks' StopGracePeriod */
	int njobs;
	bool closing;
};

/* One call; the worker never touches SW. */
struct swarm_job {
	uv_work_t work;
	struct swarm *sw;
	enum swarm_op op;
	char socket[CONFIG_PATH_MAX];
	char network[64];
	char app[64];
	char name[128];			/* devcloud-NAME */
	char image[256];
	char env[APP_TEXT_MAX];
	int cport;
	int replicas;
	int stop_grace_ms;
	int timeout_ms;
	driver_cb cb;
	void *arg;

	/* worker state */
	struct docker_call call;
	char task_why[256];		/* the newest task's error, if any */
	char task_ip[64];		/* the task's address on NETWORK */
	struct driver_result res;
};

static void swarm_fail(struct swarm_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
swarm_fail(struct swarm_job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->res.err, sizeof(j->res.err), fmt, ap);
	va_end(ap);
}

/* Docker's message says another update came first. */
static bool
swarm_out_of_sequence(const struct swarm_job *j)
{
	return j->call.status != 200 && j->call.body != NULL &&
	    strstr(j->call.body, "out of sequence") != NULL;
}

/* O's member at the path of NULL-ended names; NULL if absent. */
static json_object *
swarm_get(json_object *o, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, o);
	while (o != NULL && (k = va_arg(ap, const char *)) != NULL)
		if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	va_end(ap);
	return o;
}

static const char *
swarm_str(json_object *o)
{
	return o != NULL && json_object_is_type(o, json_type_string) ?
	    json_object_get_string(o) : "";
}

/* The body of POST /services/create: the app's service at N replicas. */
static char *
swarm_create_body(const struct swarm_job *j, int n)
{
	json_object *o = json_object_new_object();
	json_object *tt = json_object_new_object();
	json_object *cs = json_object_new_object();
	json_object *env = docker_env_array(j->env);
	json_object *labels = json_object_new_object();
	json_object *mode = json_object_new_object();
	json_object *repl = json_object_new_object();
	json_object *ep = json_object_new_object();
	json_object *restart = json_object_new_object();
	char *s = NULL;

	if (o == NULL || tt == NULL || cs == NULL || env == NULL ||
	    labels == NULL || mode == NULL || repl == NULL || ep == NULL ||
	    restart == NULL) {
		json_object_put(tt);
		json_object_put(cs);
		json_object_put(env);
		json_object_put(labels);
		json_object_put(mode);
		json_object_put(repl);
		json_object_put(ep);
		json_object_put(restart);
		goto done;
	}
	json_object_object_add(cs, "Image", json_object_new_string(j->image));
	json_object_object_add(cs, "Env", env);
	json_object_object_add(cs, "StopGracePeriod",
	    json_object_new_int64(j->stop_grace_ms * SWARM_NS_PER_MS));
	json_object_object_add(tt, "ContainerSpec", cs);
	json_object_object_add(restart, "Condition",
	    json_object_new_string("any"));
	json_object_object_add(tt, "RestartPolicy", restart);
	if (j->network[0] != '\0') {
		json_object *nets = json_object_new_array();
		json_object *net = json_object_new_object();

		json_object_object_add(net, "Target",
		    json_object_new_string(j->network));
		json_object_array_add(nets, net);
		json_object_object_add(tt, "Networks", nets);
	}
	json_object_object_add(labels, DOCKER_LABEL_APP,
	    json_object_new_string(j->app));
	json_object_object_add(repl, "Replicas", json_object_new_int64(n));
	json_object_object_add(mode, "Replicated", repl);
	/* Virtual IPs need IPVS in the nodes' kernels; names do not. */
	json_object_object_add(ep, "Mode", json_object_new_string("dnsrr"));
	json_object_object_add(o, "Name", json_object_new_string(j->name));
	json_object_object_add(o, "Labels", labels);
	json_object_object_add(o, "TaskTemplate", tt);
	json_object_object_add(o, "Mode", mode);
	json_object_object_add(o, "EndpointSpec", ep);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
done:
	json_object_put(o);
	return s;
}

/* GET the service into *OUT (the caller's to put): 0, 1 if there is
 * none, -1 with the job's error. */
static int
swarm_service_get(struct swarm_job *j, json_object **out)
{
	char path[256];

	snprintf(path, sizeof(path), "/services/%s", j->name);
	if (docker_request(&j->call, "GET", path, NULL) < 0)
		return -1;
	if (j->call.status == 404)
		return 1;
	if (j->call.status != 200) {
		docker_call_error(&j->call, "inspect service", j->name);
		return -1;
	}
	if ((*out = json_tokener_parse(j->call.body)) == NULL ||
	    swarm_get(*out, "Spec", NULL) == NULL ||
	    swarm_get(*out, "Version", "Index", NULL) == NULL) {
		json_object_put(*out);
		*out = NULL;
		swarm_fail(j, "swarm: inspect service %s: unexpected reply",
		    j->name);
		return -1;
	}
	return 0;
}

/* 0 created (or being created by another replica), -1 with the error. */
static int
swarm_create(struct swarm_job *j, int n)
{
	char *body = swarm_create_body(j, n);
	int ret;

	if (body == NULL) {
		swarm_fail(j, "swarm: create %s: out of memory", j->name);
		return -1;
	}
	ret = docker_request(&j->call, "POST", "/services/create", body);
	free(body);
	if (ret < 0)
		return -1;
	if (j->call.status != 201 && j->call.status != 409) {
		docker_call_error(&j->call, "create service", j->name);
		return -1;
	}
	if (j->call.status == 201)
		log_info("swarm service created", "app=%s service=%s image=%s "
		    "replicas=%d", j->app, j->name, j->image, n);
	return 0;
}

/*
 * Brings the service to N replicas; creates it at N if it is missing
 * and CREATE. A start also brings its image up to the app's. 0, or -1
 * with the job's error.
 */
static int
swarm_set_replicas(struct swarm_job *j, int n, bool create)
{
	json_object *svc = NULL, *spec, *v, *cs;
	char path[300];
	long long version;
	int rc;

	for (int tries = 0; tries < SWARM_UPDATE_TRIES; tries++) {
		json_object_put(svc);
		svc = NULL;
		if ((rc = swarm_service_get(j, &svc)) < 0)
			return -1;
		if (rc == 1)
			return create ? swarm_create(j, n) : 0;
		spec = swarm_get(svc, "Spec", NULL);
		version = json_object_get_int64(swarm_get(svc, "Version",
		    "Index", NULL));
		v = swarm_get(spec, "Mode", "Replicated", "Replicas", NULL);
		cs = swarm_get(spec, "TaskTemplate", "ContainerSpec", NULL);
		if (swarm_get(spec, "Mode", "Replicated", NULL) == NULL) {
			swarm_fail(j, "swarm: service %s is not replicated "
			    "(global mode cannot be scaled)", j->name);
			json_object_put(svc);
			return -1;
		}
		/* More than ours on a start is someone else's choice. */
		if (v != NULL && (create ? json_object_get_int64(v) >= n :
		    json_object_get_int64(v) == n) && (!create ||
		    strcmp(swarm_str(swarm_get(cs, "Image", NULL)),
		    j->image) == 0)) {
			json_object_put(svc);
			return 0;
		}
		if (create && v != NULL && json_object_get_int64(v) > n)
			n = (int)json_object_get_int64(v);
		json_object_object_add(swarm_get(spec, "Mode", "Replicated",
		    NULL), "Replicas", json_object_new_int64(n));
		if (create && cs != NULL)
			json_object_object_add(cs, "Image",
			    json_object_new_string(j->image));
		snprintf(path, sizeof(path), "/services/%s/update?version=%lld",
		    j->name, version);
		if (docker_request(&j->call, "POST", path,
		    json_object_to_json_string_ext(spec,
		    JSON_C_TO_STRING_PLAIN)) < 0) {
			json_object_put(svc);
			return -1;
		}
		if (j->call.status == 200) {
			log_info("swarm service scaled", "app=%s service=%s "
			    "replicas=%d", j->app, j->name, n);
			json_object_put(svc);
			return 0;
		}
		if (!swarm_out_of_sequence(j))
			break;
	}
	docker_call_error(&j->call, "update service", j->name);
	json_object_put(svc);
	return -1;
}

/*
 * The first running task of the service (lowest slot): its container
 * and node into CID and NODE; 1 if none runs (with the newest task's
 * error, if one failed, in j->task_why); -1 with the job's error.
 */
/*
 * The task's address on the driver's network (NetworksAttachments:
 * "10.0.1.5/24") into IP; "" if it has none there.
 */
static void
swarm_task_ip(const struct swarm_job *j, json_object *t, char *ip,
    size_t iplen)
{
	json_object *atts = swarm_get(t, "NetworksAttachments", NULL), *a;
	const char *name, *id, *cidr;

	ip[0] = '\0';
	if (atts == NULL || !json_object_is_type(atts, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(atts); i++) {
		a = json_object_array_get_idx(atts, i);
		name = swarm_str(swarm_get(a, "Network", "Spec", "Name", NULL));
		id = swarm_str(swarm_get(a, "Network", "ID", NULL));
		if (strcmp(name, j->network) != 0 &&
		    strcmp(id, j->network) != 0)
			continue;
		a = swarm_get(a, "Addresses", NULL);
		if (a == NULL || !json_object_is_type(a, json_type_array) ||
		    json_object_array_length(a) == 0)
			return;
		cidr = swarm_str(json_object_array_get_idx(a, 0));
		snprintf(ip, iplen, "%.*s", (int)strcspn(cidr, "/"), cidr);
		return;
	}
}

static int
swarm_running_task(struct swarm_job *j, char *cid, size_t cidlen, char *node,
    size_t nodelen, int *nrunning)
{
	json_object *tasks = NULL, *t;
	char filters[300], *enc, path[512];
	const char *when, *newest = "";
	long slot, best = -1;

	snprintf(filters, sizeof(filters), "{\"service\":[\"%s\"]}", j->name);
	if ((enc = curl_easy_escape(j->call.curl, filters, 0)) == NULL) {
		swarm_fail(j, "swarm: tasks of %s: out of memory", j->name);
		return -1;
	}
	snprintf(path, sizeof(path), "/tasks?filters=%s", enc);
	curl_free(enc);
	if (docker_request(&j->call, "GET", path, NULL) < 0)
		return -1;
	if (j->call.status != 200) {
		docker_call_error(&j->call, "list tasks of", j->name);
		return -1;
	}
	if ((tasks = json_tokener_parse(j->call.body)) == NULL ||
	    !json_object_is_type(tasks, json_type_array)) {
		json_object_put(tasks);
		swarm_fail(j, "swarm: tasks of %s: unexpected reply", j->name);
		return -1;
	}
	*nrunning = 0;
	for (size_t i = 0; i < json_object_array_length(tasks); i++) {
		t = json_object_array_get_idx(tasks, i);
		when = swarm_str(swarm_get(t, "Status", "Timestamp", NULL));
		if (*swarm_str(swarm_get(t, "Status", "Err", NULL)) != '\0' &&
		    strcmp(when, newest) > 0) {
			newest = when;
			snprintf(j->task_why, sizeof(j->task_why), "%s",
			    swarm_str(swarm_get(t, "Status", "Err", NULL)));
		}
		if (strcmp(swarm_str(swarm_get(t, "DesiredState", NULL)),
		    "running") != 0 || strcmp(swarm_str(swarm_get(t,
		    "Status", "State", NULL)), "running") != 0)
			continue;
		(*nrunning)++;
		slot = (long)json_object_get_int64(swarm_get(t, "Slot",
		    NULL));
		if (best >= 0 && slot >= best)
			continue;
		best = slot;
		snprintf(cid, cidlen, "%s", swarm_str(swarm_get(t, "Status",
		    "ContainerStatus", "ContainerID", NULL)));
		snprintf(node, nodelen, "%s", swarm_str(swarm_get(t, "NodeID",
		    NULL)));
		if (j->network[0] != '\0')
			swarm_task_ip(j, t, j->task_ip, sizeof(j->task_ip));
	}
	json_object_put(tasks);
	return *nrunning > 0 ? 0 : 1;
}

/* The container's first IP address on this daemon into IP. */
static int
swarm_container_ip(struct swarm_job *j, const char *cid, char *ip,
    size_t iplen)
{
	json_object *o = NULL, *nets, *v;
	char path[300];
	int ret = -1;

	ip[0] = '\0';
	snprintf(path, sizeof(path), "/containers/%s/json", cid);
	if (docker_request(&j->call, "GET", path, NULL) < 0)
		return -1;
	if (j->call.status == 404) {
		swarm_fail(j, "swarm: the task of %s runs on another node "
		    "(its container is not on %s): set drivers.swarm_network "
		    "for a proxy on a swarm network", j->name, j->socket);
		return -1;
	}
	if (j->call.status != 200) {
		docker_call_error(&j->call, "inspect the task container of", j->name);
		return -1;
	}
	o = json_tokener_parse(j->call.body);
	if ((nets = swarm_get(o, "NetworkSettings", "Networks", NULL)) !=
	    NULL && json_object_is_type(nets, json_type_object)) {
		json_object_object_foreach(nets, name, n) {
			(void)name;
			if (json_object_object_get_ex(n, "IPAddress", &v) &&
			    json_object_get_string_len(v) > 0) {
				snprintf(ip, iplen, "%s",
				    json_object_get_string(v));
				break;
			}
		}
	}
	if (ip[0] == '\0')
		swarm_fail(j, "swarm: the task container of %s has no IP "
		    "address", j->name);
	else
		ret = 0;
	json_object_put(o);
	return ret;
}

/* The node's host name, made a host name (driver.h), into res.host. */
static void
swarm_node_host(struct swarm_job *j, const char *node)
{
	json_object *o;
	char path[300];

	snprintf(path, sizeof(path), "/nodes/%s", node);
	if (node[0] != '\0' && docker_request(&j->call, "GET", path, NULL) == 0 &&
	    j->call.status == 200 && (o = json_tokener_parse(j->call.body)) !=
	    NULL) {
		host_name(swarm_str(swarm_get(o, "Description", "Hostname",
		    NULL)), j->res.host, sizeof(j->res.host));
		json_object_put(o);
		return;
	}
	log_warn("swarm node name unknown, using this machine's", "app=%s "
	    "node=%s", j->app, node);
	j->res.err[0] = '\0';
	host_name(NULL, j->res.host, sizeof(j->res.host));
}

/* A running task's address and host into res. */
static int
swarm_locate(struct swarm_job *j, const char *cid, const char *node)
{
	char ip[64];

	if (j->network[0] != '\0') {
		if (j->task_ip[0] == '\0') {
			swarm_fail(j, "swarm: the task of %s has no address "
			    "on the network %s", j->name, j->network);
			return -1;
		}
		snprintf(ip, sizeof(ip), "%s", j->task_ip);
	} else if (swarm_container_ip(j, cid, ip, sizeof(ip)) < 0) {
		return -1;
	}
	if (addr_format(j->res.addr, sizeof(j->res.addr), ip, j->cport) < 0) {
		swarm_fail(j, "swarm: address of %s too long", j->name);
		return -1;
	}
	swarm_node_host(j, node);
	j->res.running = true;
	return 0;
}

/* Polls the tasks until one runs (START) or none does (!START). */
static int
swarm_wait(struct swarm_job *j, bool start, char *cid, size_t cidlen,
    char *node, size_t nodelen)
{
	long delay = SWARM_POLL_FIRST_MS;
	int rc, n = 0;

	for (;;) {
		if ((rc = swarm_running_task(j, cid, cidlen, node, nodelen,
		    &n)) < 0)
			return -1;
		if ((rc == 0) == start)
			return 0;
		if (docker_now_ms() + delay >= j->call.deadline_ms)
			break;
		usleep((useconds_t)delay * 1000);
		if ((delay *= 2) > SWARM_POLL_MAX_MS)
			delay = SWARM_POLL_MAX_MS;
	}
	if (start)
		swarm_fail(j, "swarm: no task of %s running in time%s%s",
		    j->name, j->task_why[0] ? ": " : "", j->task_why);
	else
		swarm_fail(j, "swarm: %d task(s) of %s still running after "
		    "the scale-down", n, j->name);
	return -1;
}

static int
swarm_start_now(struct swarm_job *j)
{
	char cid[128], node[128];

	if (swarm_set_replicas(j, j->replicas, true) < 0 ||
	    swarm_wait(j, true, cid, sizeof(cid), node, sizeof(node)) < 0)
		return -1;
	return swarm_locate(j, cid, node);
}

static int
swarm_stop_now(struct swarm_job *j)
{
	char cid[128], node[128];

	j->res.running = false;
	if (swarm_set_replicas(j, 0, false) < 0)
		return -1;
	return swarm_wait(j, false, cid, sizeof(cid), node, sizeof(node));
}

static int
swarm_inspect_now(struct swarm_job *j)
{
	char cid[128], node[128];
	int n, rc;

	if ((rc = swarm_running_task(j, cid, sizeof(cid), node,
	    sizeof(node), &n)) < 0)
		return -1;
	if (rc == 1) {
		j->res.running = false;
		return 0;
	}
	return swarm_locate(j, cid, node);
}

static void
swarm_work(uv_work_t *w)
{
	struct swarm_job *j = w->data;
	int ret = -1;

	if (docker_call_init(&j->call, j->socket, j->timeout_ms, j->res.err,
	    sizeof(j->res.err)) < 0)
		goto out;
	switch (j->op) {
	case SWARM_START:
		ret = swarm_start_now(j);
		break;
	case SWARM_STOP:
		ret = swarm_stop_now(j);
		break;
	case SWARM_INSPECT:
		ret = swarm_inspect_now(j);
		break;
	}
out:
	docker_call_cleanup(&j->call);
	j->res.ok = ret == 0;
	if (!j->res.ok || !j->res.running) {
		j->res.addr[0] = '\0';
		j->res.host[0] = '\0';
	}
}

static void
swarm_free(struct swarm *sw)
{
	free(sw);
	curl_global_cleanup();
}

static void
swarm_done(uv_work_t *w, int status)
{
	struct swarm_job *j = w->data;
	struct swarm *sw = j->sw;

	if (status == UV_ECANCELED) {
		j->res.ok = false;
		j->res.running = false;
		j->res.addr[0] = j->res.host[0] = '\0';
		swarm_fail(j, "swarm: %s: call cancelled", j->name);
	}
	if (j->cb != NULL)
		j->cb(&j->res, j->arg);
	free(j);
	if (--sw->njobs == 0 && sw->closing)
		swarm_free(sw);
}

static int
swarm_queue(struct swarm *sw, enum swarm_op op, const struct app *a,
    int timeout_ms, driver_cb cb, void *arg, char *err, size_t errlen)
{
	struct swarm_job *j;
	int rc;

	if (a->image[0] == '\0' || a->cport == 0) {
		snprintf(err, errlen, "app %s: the swarm driver needs an image "
		    "and a cport", a->name);
		return -1;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(err, errlen, "app %s: out of memory", a->name);
		return -1;
	}
	j->work.data = j;
	j->sw = sw;
	j->op = op;
	j->cb = cb;
	j->arg = arg;
	j->timeout_ms = timeout_ms;
	j->cport = a->cport;
	j->replicas = a->replicas > 0 ? a->replicas : 1;
	j->stop_grace_ms = sw->stop_grace_ms;
	snprintf(j->socket, sizeof(j->socket), "%s", sw->socket);
	snprintf(j->network, sizeof(j->network), "%s", sw->network);
	snprintf(j->app, sizeof(j->app), "%s", a->name);
	snprintf(j->name, sizeof(j->name), "devcloud-%s", a->name);
	snprintf(j->image, sizeof(j->image), "%s", a->image);
	snprintf(j->env, sizeof(j->env), "%s", a->env);
	if ((rc = uv_queue_work(sw->loop, &j->work, swarm_work,
	    swarm_done)) != 0) {
		snprintf(err, errlen, "cannot queue swarm call: %s",
		    uv_strerror(rc));
		free(j);
		return -1;
	}
	sw->njobs++;
	return 0;
}

static void *
swarm_open(uv_loop_t *loop, const struct config *cfg, driver_exit_cb on_exit,
    void *arg)
{
	struct swarm *sw;

	(void)on_exit;		/* Swarm restarts its tasks itself */
	(void)arg;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	if ((sw = calloc(1, sizeof(*sw))) == NULL) {
		curl_global_cleanup();
		return NULL;
	}
	sw->loop = loop;
	sw->stop_grace_ms = cfg->autostart.stop_grace_ms;
	snprintf(sw->socket, sizeof(sw->socket), "%s",
	    cfg->autostart.docker_socket);
	snprintf(sw->network, sizeof(sw->network), "%s",
	    cfg->drivers.swarm_network);
	return sw;
}

static void
swarm_close(void *self)
{
	struct swarm *sw = self;

	sw->closing = true;
	if (sw->njobs == 0)
		swarm_free(sw);
}

static int
swarm_start(void *self, const struct app *a, const char *inst, driver_cb cb,
    void *arg, char *err, size_t errlen)
{
	(void)inst;		/* one instance: the whole service */
	return swarm_queue(self, SWARM_START, a,
	    a->start_timeout_ms + SWARM_START_MARGIN_MS, cb, arg, err, errlen);
}

static int
swarm_stop(void *self, const struct app *a, const char *inst, int grace_ms,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	(void)inst;
	if (grace_ms < 0)
		grace_ms = 0;
	return swarm_queue(self, SWARM_STOP, a, grace_ms +
	    SWARM_STOP_MARGIN_MS, cb, arg, err, errlen);
}

static int
swarm_inspect(void *self, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	(void)inst;
	return swarm_queue(self, SWARM_INSPECT, a, SWARM_INSPECT_TIMEOUT_MS,
	    cb, arg, err, errlen);
}

const struct driver_ops driver_swarm_ops = {
	.name = "swarm",
	.open = swarm_open,
	.close = swarm_close,
	.start = swarm_start,
	.stop = swarm_stop,
	.inspect = swarm_inspect,
};
