/*
 * The kubernetes driver: an app is a Deployment of a Kubernetes cluster,
 * scaled between 0 and the app's replicas through the Deployment's
 * "scale" subresource, and reached at the HOST:PORT of its Service (the
 * app's "service" field), its name resolved when the app is ready (the
 * readiness probe takes IP:PORT; a ClusterIP lasts as long as its
 * Service). The app is one devcloud instance however many replicas it
 * has: the Service spreads the requests over the pods.
 *
 *   start    GET  /apis/apps/v1/namespaces/NS/deployments/NAME/scale
 *            PATCH the same (application/merge-patch+json,
 *            {"spec":{"replicas":N}}) if spec.replicas is below N, then
 *            GET  /apis/apps/v1/namespaces/NS/deployments/NAME until the
 *            controller has seen the change (status.observedGeneration
 *            >= metadata.generation) and a pod is ready
 *            (status.readyReplicas >= 1), within the start timeout
 *   stop     PATCH .../scale {"spec":{"replicas":0}}
 *   inspect  GET the Deployment: running if spec.replicas > 0 and a pod
 *            is ready
 *
 * The API server is drivers.kubernetes_api, or, inside a pod,
 * https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the
 * service account's token (read again for every call: the kubelet
 * rotates it) and CA. The namespace is the app's "NS/", else
 * drivers.kubernetes_namespace, else the pod's own, else "default".
 * An instance's host is "kubernetes": its pods run on the cluster's
 * nodes, none of them this machine.
 *
 * libcurl blocks, so every call is a job on libuv's thread pool, as in
 * driver_docker.c. The API's errors (a Status object) become the
 * result's err with the HTTP status and the API's message; every request
 * has drivers.kubernetes_timeout_ms, every job a budget.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "addr.h"
#include "driver.h"
#include "log.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_HOST "kubernetes"
#define KUBE_CONNECT_TIMEOUT_MS 2000
#define KUBE_STOP_TIMEOUT_MS 10000	/* a stop: its PATCH, retried */
#define KUBE_START_MARGIN_MS 2000
#define KUBE_MIN_TIMEOUT_MS 200		/* for the last call of a job */
#define KUBE_POLL_FIRST_MS 20		/* readiness polls, doubling */
#define KUBE_POLL_MAX_MS 500
#define KUBE_BODY_MAX (4 << 20)
#define KUBE_TOKEN_MAX 8192

enum kube_op { KUBE_START, KUBE_STOP, KUBE_INSPECT };

struct kube {
	uv_loop_t *loop;
	char api[256];			/* "": none known */
	char token_file[CONFIG_PATH_MAX];
	char ca_file[CONFIG_PATH_MAX];
	char ns[64];
	int timeout_ms;
	int njobs;
	bool closing;			/* freed when the last job ends */
};

struct kube_buf {
	char *data;
	size_t len;
};

/* One call; the worker never touches K. */
struct kube_job {
	uv_work_t work;
	struct kube *k;
	enum kube_op op;
	char api[256];
	char token_file[CONFIG_PATH_MAX];
	char ca_file[CONFIG_PATH_MAX];
	char app[64];
	char ns[64];
	char name[128];
	char service[256];
	int replicas;
	int req_timeout_ms;
	int timeout_ms;			/* the whole job */
	driver_cb cb;
	void *arg;

	/* worker state */
	CURL *curl;
	struct kube_buf body;
	long status;
	long deadline_ms;
	struct driver_result res;
};

static long
kube_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kube_fail(struct kube_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
kube_fail(struct kube_job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->res.err, sizeof(j->res.err), fmt, ap);
	va_end(ap);
}

static size_t
kube_write(char *p, size_t size, size_t n, void *arg)
{
	struct kube_buf *b = arg;
	size_t len = size * n;
	char *data;

	if (b->len + len > KUBE_BODY_MAX)
		return 0;
	if ((data = realloc(b->data, b->len + len + 1)) == NULL)
		return 0;
	memcpy(data + b->len, p, len);
	b->len += len;
	data[b->len] = '\0';
	b->data = data;
	return len;
}

/*
 * The bearer token, from its file: "" if there is no file (an API
 * without authentication, such as kubectl proxy's); -1 with the job's
 * err if the file is there but cannot be read.
 */
static int
kube_token(struct kube_job *j, char *tok, size_t len)
{
	FILE *f;
	size_t n;

	tok[0] = '\0';
	if (j->token_file[0] == '\0' || access(j->token_file, F_OK) != 0)
		return 0;
	if ((f = fopen(j->token_file, "r")) == NULL) {
		kube_fail(j, "kubernetes: cannot read the token %s: %m",
		    j->token_file);
		return -1;
	}
	n = fread(tok, 1, len - 1, f);
	fclose(f);
	tok[n] = '\0';
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' ||
	    tok[n - 1] == ' '))
		tok[--n] = '\0';
	return 0;
}

/*
 * One request to the API within what is left of the job's budget and
 * the request timeout. 0 with j->status and j->body set, whatever the
 * status; -1 with j->res.err if no answer came.
 */
static int
kube_request(struct kube_job *j, const char *method, const char *path,
    const char *json, const char *ctype)
{
	struct curl_slist *hdrs = NULL;
	char url[768], tok[KUBE_TOKEN_MAX], auth[KUBE_TOKEN_MAX + 32];
	char ct[128];
	long left = j->deadline_ms - kube_now_ms(), oserr = 0;
	CURLcode rc;

	if (left > j->req_timeout_ms)
		left = j->req_timeout_ms;
	if (left < KUBE_MIN_TIMEOUT_MS)
		left = KUBE_MIN_TIMEOUT_MS;
	free(j->body.data);
	j->body.data = NULL;
	j->body.len = 0;
	if (kube_token(j, tok, sizeof(tok)) < 0)
		return -1;
	snprintf(url, sizeof(url), "%s%s", j->api, path);

	curl_easy_reset(j->curl);
	curl_easy_setopt(j->curl, CURLOPT_URL, url);
	curl_easy_setopt(j->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(j->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)KUBE_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(j->curl, CURLOPT_TIMEOUT_MS, left);
	curl_easy_setopt(j->curl, CURLOPT_WRITEFUNCTION, kube_write);
	curl_easy_setopt(j->curl, CURLOPT_WRITEDATA, &j->body);
	if (j->ca_file[0] != '\0' && access(j->ca_file, F_OK) == 0)
		curl_easy_setopt(j->curl, CURLOPT_CAINFO, j->ca_file);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (tok[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (json != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(j->curl, CURLOPT_POSTFIELDS, json);
	}
	curl_easy_setopt(j->curl, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(j->curl);
	curl_slist_free_all(hdrs);
	explicit_bzero(auth, sizeof(auth));
	explicit_bzero(tok, sizeof(tok));
	if (rc == CURLE_OK) {
		curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &j->status);
		return 0;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		kube_fail(j, "kubernetes: %s %s timed out after %ld ms",
		    method, path, left);
		return -1;
	}
	curl_easy_getinfo(j->curl, CURLINFO_OS_ERRNO, &oserr);
	if (oserr != 0)
		kube_fail(j, "kubernetes: cannot reach %s: %s (%s)", j->api,
		    curl_easy_strerror(rc), strerror((int)oserr));
	else
		kube_fail(j, "kubernetes: cannot reach %s: %s", j->api,
		    curl_easy_strerror(rc));
	return -1;
}

/*
 * The API's refusal as the job's error: its HTTP status, the Status
 * object's reason and message when the body is one.
 */
static void
kube_api_error(struct kube_job *j, const char *method, const char *what)
{
	json_object *o = NULL, *m = NULL, *r = NULL;

	if (j->body.data != NULL)
		o = json_tokener_parse(j->body.data);
	if (o != NULL && json_object_object_get_ex(o, "message", &m) &&
	    json_object_is_type(m, json_type_string)) {
		json_object_object_get_ex(o, "reason", &r);
		kube_fail(j, "kubernetes: %s %s/%s%s: HTTP %ld %s: %s",
		    method, j->ns, j->name, what, j->status,
		    r != NULL ? json_object_get_string(r) : "",
		    json_object_get_string(m));
	} else {
		kube_fail(j, "kubernetes: %s %s/%s%s: HTTP %ld", method,
		    j->ns, j->name, what, j->status);
	}
	json_object_put(o);
}

/* An integer member of O at PATH ("a.b"), 0 if absent (as the API
 * leaves out zero counts). */
static long
kube_int(json_object *o, const char *a, const char *b)
{
	json_object *v;

	if (!json_object_object_get_ex(o, a, &v))
		return 0;
	if (b != NULL && !json_object_object_get_ex(v, b, &v))
		return 0;
	return json_object_is_type(v, json_type_int) ?
	    (long)json_object_get_int64(v) : 0;
}

static void
kube_path(const struct kube_job *j, char *buf, size_t len, bool scale)
{
	snprintf(buf, len, "/apis/apps/v1/namespaces/%s/deployments/%s%s",
	    j->ns, j->name, scale ? "/scale" : "");
}

/* GET the Scale: its spec.replicas into *WANT. */
static int
kube_scale_get(struct kube_job *j, long *want)
{
	json_object *o;
	char path[400];

	kube_path(j, path, sizeof(path), true);
	if (kube_request(j, "GET", path, NULL, NULL) < 0)
		return -1;
	if (j->status != 200) {
		kube_api_error(j, "GET", "/scale");
		return -1;
	}
	if ((o = json_tokener_parse(j->body.data)) == NULL ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		kube_fail(j, "kubernetes: GET %s/%s/scale: not a Scale object",
		    j->ns, j->name);
		return -1;
	}
	*want = kube_int(o, "spec", "replicas");
	json_object_put(o);
	return 0;
}

/* PATCH the Scale to N replicas; a missing Deployment only if OK404. */
static int
kube_scale_set(struct kube_job *j, int n, bool ok404)
{
	char path[400], body[64];

	kube_path(j, path, sizeof(path), true);
	snprintf(body, sizeof(body), "{\"spec\":{\"replicas\":%d}}", n);
	if (kube_request(j, "PATCH", path, body,
	    "application/merge-patch+json") < 0)
		return -1;
	if (j->status == 404 && ok404)
		return 0;
	if (j->status != 200) {
		kube_api_error(j, "PATCH", "/scale");
		return -1;
	}
	log_info("kubernetes deployment scaled", "app=%s deployment=%s/%s "
	    "replicas=%d", j->app, j->ns, j->name, n);
	return 0;
}

/*
 * GET the Deployment: *READY pods ready and *SEEN whether its controller
 * has seen its latest spec; *WANT its spec.replicas. A deployment whose
 * rollout has given up (Progressing false, ProgressDeadlineExceeded)
 * fails the job with the API's message.
 */
static int
kube_deployment_get(struct kube_job *j, long *want, long *ready, bool *seen)
{
	json_object *o, *st, *conds, *c, *v;
	char path[400];
	int ret = -1;

	kube_path(j, path, sizeof(path), false);
	if (kube_request(j, "GET", path, NULL, NULL) < 0)
		return -1;
	if (j->status != 200) {
		kube_api_error(j, "GET", "");
		return -1;
	}
	if ((o = json_tokener_parse(j->body.data)) == NULL ||
	    !json_object_is_type(o, json_type_object)) {
		kube_fail(j, "kubernetes: GET %s/%s: not a Deployment",
		    j->ns, j->name);
		goto done;
	}
	*want = kube_int(o, "spec", "replicas");
	*ready = kube_int(o, "status", "readyReplicas");
	*seen = kube_int(o, "status", "observedGeneration") >=
	    kube_int(o, "metadata", "generation");
	if (json_object_object_get_ex(o, "status", &st) &&
	    json_object_object_get_ex(st, "conditions", &conds) &&
	    json_object_is_type(conds, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(conds); i++) {
			c = json_object_array_get_idx(conds, i);
			if (json_object_object_get_ex(c, "reason", &v) &&
			    strcmp(json_object_get_string(v),
			    "ProgressDeadlineExceeded") == 0 && *ready == 0) {
				json_object_object_get_ex(c, "message", &v);
				kube_fail(j, "kubernetes: deployment %s/%s: "
				    "%s", j->ns, j->name, v != NULL ?
				    json_object_get_string(v) :
				    "progress deadline exceeded");
				goto done;
			}
		}
	}
	ret = 0;
done:
	json_object_put(o);
	return ret;
}

/*
 * The Service's address as the app gives it, its name resolved: the
 * readiness probe and the record take IP:PORT (a Service's ClusterIP
 * stays as long as the Service does). Into res.addr.
 */
static int
kube_service_addr(struct kube_job *j)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char host[256], ip[INET6_ADDRSTRLEN], portstr[8];
	const void *in;
	int port, rc;

	if (addr_parse(j->service, 0, host, sizeof(host), &port, NULL) != 0) {
		kube_fail(j, "kubernetes: the Service address \"%s\" is not "
		    "HOST:PORT", j->service);
		return -1;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0) {
		kube_fail(j, "kubernetes: cannot resolve the Service %s: %s",
		    host, gai_strerror(rc));
		return -1;
	}
	in = ai->ai_family == AF_INET6 ?
	    (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr :
	    (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
	if (inet_ntop(ai->ai_family, in, ip, sizeof(ip)) == NULL ||
	    addr_format(j->res.addr, sizeof(j->res.addr), ip, port) < 0) {
		freeaddrinfo(ai);
		kube_fail(j, "kubernetes: the Service %s resolved to an "
		    "address that cannot be used", host);
		return -1;
	}
	freeaddrinfo(ai);
	return 0;
}

static int
kube_start_now(struct kube_job *j)
{
	long want = 0, ready = 0, delay = KUBE_POLL_FIRST_MS;
	bool seen = false;

	if (kube_scale_get(j, &want) < 0)
		return -1;
	/* More than ours is someone else's choice (an autoscaler's). */
	if (want < j->replicas && kube_scale_set(j, j->replicas, false) < 0)
		return -1;
	for (;;) {
		if (kube_deployment_get(j, &want, &ready, &seen) < 0)
			return -1;
		if (seen && ready > 0)
			break;
		if (kube_now_ms() + delay >= j->deadline_ms) {
			kube_fail(j, "kubernetes: deployment %s/%s: no ready "
			    "pod in time (replicas %ld, ready %ld%s)", j->ns,
			    j->name, want, ready, seen ? "" :
			    ", not yet seen by its controller");
			return -1;
		}
		usleep((useconds_t)delay * 1000);
		if ((delay *= 2) > KUBE_POLL_MAX_MS)
			delay = KUBE_POLL_MAX_MS;
	}
	j->res.running = true;
	return kube_service_addr(j);
}

static int
kube_inspect_now(struct kube_job *j)
{
	long want = 0, ready = 0;
	bool seen = false;

	if (kube_deployment_get(j, &want, &ready, &seen) < 0)
		return -1;
	j->res.running = want > 0 && ready > 0;
	return j->res.running ? kube_service_addr(j) : 0;
}

/* Runs on a thread-pool thread: may block, never touches the loop. */
static void
kube_work(uv_work_t *w)
{
	struct kube_job *j = w->data;
	int ret = -1;

	j->deadline_ms = kube_now_ms() + j->timeout_ms;
	if (j->api[0] == '\0') {
		kube_fail(j, "kubernetes: no API server known (set "
		    "drivers.kubernetes_api, or run in a pod)");
		goto out;
	}
	if ((j->curl = curl_easy_init()) == NULL) {
		kube_fail(j, "kubernetes: cannot create a curl handle");
		goto out;
	}
	switch (j->op) {
	case KUBE_START:
		ret = kube_start_now(j);
		break;
	case KUBE_STOP:
		/* A Deployment that is gone runs nothing. */
		ret = kube_scale_set(j, 0, true);
		j->res.running = false;
		break;
	case KUBE_INSPECT:
		ret = kube_inspect_now(j);
		break;
	}
	curl_easy_cleanup(j->curl);
	j->curl = NULL;
out:
	free(j->body.data);
	j->body.data = NULL;
	j->res.ok = ret == 0;
	if (j->res.ok && j->res.running)
		snprintf(j->res.host, sizeof(j->res.host), "%s", KUBE_HOST);
	else
		j->res.addr[0] = '\0';
}

static void
kube_free(struct kube *k)
{
	free(k);
	curl_global_cleanup();
}

static void
kube_done(uv_work_t *w, int status)
{
	struct kube_job *j = w->data;
	struct kube *k = j->k;

	if (status == UV_ECANCELED) {
		j->res.ok = false;
		j->res.running = false;
		kube_fail(j, "kubernetes: %s/%s: call cancelled", j->ns,
		    j->name);
	}
	if (!j->res.ok) {
		j->res.addr[0] = '\0';
		j->res.host[0] = '\0';
	}
	if (j->cb != NULL)
		j->cb(&j->res, j->arg);
	free(j);
	if (--k->njobs == 0 && k->closing)
		kube_free(k);
}

static int
kube_queue(struct kube *k, enum kube_op op, const struct app *a,
    int timeout_ms, driver_cb cb, void *arg, char *err, size_t errlen)
{
	struct kube_job *j;
	const char *slash = strchr(a->deployment, '/');
	int rc;

	if (app_deployment_valid(a->deployment) != 0) {
		snprintf(err, errlen, "app %s: \"%s\" is not a Deployment "
		    "(NAME or NAMESPACE/NAME)", a->name, a->deployment);
		return -1;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(err, errlen, "app %s: out of memory", a->name);
		return -1;
	}
	j->work.data = j;
	j->k = k;
	j->op = op;
	j->cb = cb;
	j->arg = arg;
	j->timeout_ms = timeout_ms;
	j->req_timeout_ms = k->timeout_ms;
	j->replicas = a->replicas > 0 ? a->replicas : 1;
	snprintf(j->api, sizeof(j->api), "%s", k->api);
	snprintf(j->token_file, sizeof(j->token_file), "%s", k->token_file);
	snprintf(j->ca_file, sizeof(j->ca_file), "%s", k->ca_file);
	snprintf(j->app, sizeof(j->app), "%s", a->name);
	snprintf(j->service, sizeof(j->service), "%s", a->service);
	if (slash != NULL) {
		snprintf(j->ns, sizeof(j->ns), "%.*s",
		    (int)(slash - a->deployment), a->deployment);
		snprintf(j->name, sizeof(j->name), "%s", slash + 1);
	} else {
		snprintf(j->ns, sizeof(j->ns), "%s", k->ns);
		snprintf(j->name, sizeof(j->name), "%s", a->deployment);
	}
	if ((rc = uv_queue_work(k->loop, &j->work, kube_work,
	    kube_done)) != 0) {
		snprintf(err, errlen, "cannot queue kubernetes call: %s",
		    uv_strerror(rc));
		free(j);
		return -1;
	}
	k->njobs++;
	return 0;
}

/* The pod's own namespace, from its service account; "" if none. */
static void
kube_pod_namespace(char *buf, size_t len)
{
	FILE *f = fopen(KUBE_SA_DIR "/namespace", "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f == NULL)
		return;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n ")] = '\0';
}

static void *
kube_open(uv_loop_t *loop, const struct config *cfg, driver_exit_cb on_exit,
    void *arg)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kube *k;

	(void)on_exit;		/* deaths: the pods are the cluster's */
	(void)arg;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		curl_global_cleanup();
		return NULL;
	}
	k->loop = loop;
	k->timeout_ms = cfg->drivers.kubernetes_timeout_ms;
	snprintf(k->token_file, sizeof(k->token_file), "%s",
	    cfg->drivers.kubernetes_token_file);
	snprintf(k->ca_file, sizeof(k->ca_file), "%s",
	    cfg->drivers.kubernetes_ca_file);
	if (cfg->drivers.kubernetes_api[0] != '\0')
		snprintf(k->api, sizeof(k->api), "%s",
		    cfg->drivers.kubernetes_api);
	else if (host != NULL && host[0] != '\0')
		snprintf(k->api, sizeof(k->api), strchr(host, ':') ?
		    "https://[%s]:%s" : "https://%s:%s", host,
		    port != NULL && port[0] != '\0' ? port : "443");
	/* "https://host/" and "https://host" are one API */
	if (k->api[0] != '\0' && k->api[strlen(k->api) - 1] == '/')
		k->api[strlen(k->api) - 1] = '\0';
	if (cfg->drivers.kubernetes_namespace[0] != '\0')
		snprintf(k->ns, sizeof(k->ns), "%s",
		    cfg->drivers.kubernetes_namespace);
	else
		kube_pod_namespace(k->ns, sizeof(k->ns));
	if (k->ns[0] == '\0')
		snprintf(k->ns, sizeof(k->ns), "default");
	return k;
}

static void
kube_close(void *self)
{
	struct kube *k = self;

	k->closing = true;
	if (k->njobs == 0)
		kube_free(k);
}

static int
kube_start(void *self, const struct app *a, const char *inst, driver_cb cb,
    void *arg, char *err, size_t errlen)
{
	(void)inst;		/* one instance: the whole Deployment */
	return kube_queue(self, KUBE_START, a,
	    a->start_timeout_ms + KUBE_START_MARGIN_MS, cb, arg, err, errlen);
}

static int
kube_stop(void *self, const struct app *a, const char *inst, int grace_ms,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	(void)inst;
	(void)grace_ms;	/* the pods' terminationGracePeriodSeconds */
	return kube_queue(self, KUBE_STOP, a, KUBE_STOP_TIMEOUT_MS, cb, arg,
	    err, errlen);
}

static int
kube_inspect(void *self, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	struct kube *k = self;

	(void)inst;
	return kube_queue(self, KUBE_INSPECT, a, k->timeout_ms, cb, arg, err,
	    errlen);
}

const struct driver_ops driver_kubernetes_ops = {
	.name = "kubernetes",
	.open = kube_open,
	.close = kube_close,
	.start = kube_start,
	.stop = kube_stop,
	.inspect = kube_inspect,
};
