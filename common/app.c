/*
 * The app record: parsing each field from its stored string, checking
 * the whole, and writing it back as HSET pairs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hiredis/hiredis.h>

#include "addr.h"
#include "app.h"
#include "driver.h"
#include "keys.h"

static const char *const state_names[] = {
	[APP_STOPPED] = "stopped",
	[APP_STARTING] = "starting",
	[APP_RUNNING] = "running",
	[APP_STOPPING] = "stopping",
	[APP_FAILED] = "failed",
};

const char *
app_state_name(enum app_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ?
	    state_names[s] : "unknown";
}

int
app_state_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]);
	    i++)
		if (strcmp(s, state_names[i]) == 0)
			return (int)i;
	return -1;
}

void
app_defaults(struct app *a, int ttl_s, int start_timeout_ms)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->driver, sizeof(a->driver), "process");
	snprintf(a->ready, sizeof(a->ready), "tcp");
	a->ttl_s = ttl_s;
	a->start_timeout_ms = start_timeout_ms;
	a->min_instances = 1;
	a->max_instances = 1;
	a->replicas = 1;
	a->state = APP_STOPPED;
}

int
app_domain_valid(const char *d)
{
	size_t label = 0;

	if (strncmp(d, "*.", 2) == 0)
		d += 2;
	if (*d == '\0' || strlen(d) > APP_DOMAIN_MAX)
		return -1;
	for (; *d != '\0'; d++) {
		if (*d == '.') {
			if (label == 0)
				return -1;
			label = 0;
			continue;
		}
		if (!((*d >= 'a' && *d <= 'z') || (*d >= '0' && *d <= '9') ||
		    *d == '-' || *d == '_'))
			return -1;
		if (++label > 63)
			return -1;
	}
	return label == 0 ? -1 : 0;
}

int
app_domain_normalize(char *d)
{
	for (char *p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return app_domain_valid(d);
}

static int
app_set_int(int *out, const char *field, const char *v, long lo, long hi,
    char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi) {
		snprintf(err, errlen, "%s: want a whole number from %ld to %ld, "
		    "got \"%s\"", field, lo, hi, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int
app_set_str(char *out, size_t size, const char *field, const char *v,
    char *err, size_t errlen)
{
	if (strlen(v) >= size) {
		snprintf(err, errlen, "%s: longer than %zu bytes", field,
		    size - 1);
		return -1;
	}
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/*
 * The rules of the fields that app_set and app_summary_set both read:
 * one function each, so the record and its summary never disagree.
 */
static int
app_set_ttl(int *out, const char *v, char *err, size_t errlen)
{
	return app_set_int(out, "ttl", v, 1, 31536000, err, errlen);
}

static int
app_set_onoff(bool *out, const char *f, const char *v, char *err,
    size_t errlen)
{
	if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
		snprintf(err, errlen, "%s: want on or off, got \"%s\"", f,
		    v);
		return -1;
	}
	*out = strcmp(v, "on") == 0;
	return 0;
}

static int
app_set_state(enum app_state *out, const char *v, char *err, size_t errlen)
{
	int st;

	if ((st = app_state_parse(v)) < 0) {
		snprintf(err, errlen, "state: unknown \"%s\"", v);
		return -1;
	}
	*out = (enum app_state)st;
	return 0;
}

/* Splits a comma list into LIST (N entries of SIZE bytes), each checked. */
static int
app_set_list(char *list, size_t size, int max, int *n, const char *field,
    const char *v, bool domains, char *err, size_t errlen)
{
	char item[256];
	const char *p = v;
	int count = 0;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= sizeof(item) || len >= size ||
		    count == max) {
			snprintf(err, errlen, "%s: bad list \"%s\" (at most %d "
			    "entries, none empty)", field, v, max);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (domains ? app_domain_normalize(item) != 0 :
		    !keys_name_valid(item)) {
			snprintf(err, errlen, "%s: \"%s\" is not a valid %s",
			    field, item, domains ? "domain" : "app name");
			return -1;
		}
		memcpy(list + (size_t)count * size, item, strlen(item) + 1);
		count++;
		p += len;
		if (*p == ',')
			p++;
	}
	*n = count;
	return 0;
}

int
app_set(struct app *a, const char *f, const char *v, char *err, size_t errlen)
{
	if (strcmp(f, "name") == 0) {
		if (!keys_name_valid(v)) {
			snprintf(err, errlen, "name: \"%s\" is not valid (1-63 "
			    "of letters, digits, '.', '_', '-')", v);
			return -1;
		}
		return app_set_str(a->name, sizeof(a->name), f, v, err, errlen);
	}
	if (strcmp(f, "domains") == 0)
		return app_set_list(&a->domains[0][0], sizeof(a->domains[0]),
		    APP_MAX_DOMAINS, &a->ndomains, f, v, true, err, errlen);
	if (strcmp(f, "group") == 0)
		return app_set_list(&a->group[0][0], sizeof(a->group[0]),
		    APP_MAX_GROUP, &a->ngroup, f, v, false, err, errlen);
	if (strcmp(f, "driver") == 0) {
		if (!driver_known(v)) {
			snprintf(err, errlen, "driver: \"%s\" is not a driver "
			    "(process, docker, swarm, kubernetes)", v);
			return -1;
		}
		return app_set_str(a->driver, sizeof(a->driver), f, v, err,
		    errlen);
	}
	if (strcmp(f, "command") == 0)
		return app_set_str(a->command, sizeof(a->command), f, v, err,
		    errlen);
	if (strcmp(f, "dir") == 0)
		return app_set_str(a->dir, sizeof(a->dir), f, v, err, errlen);
	if (strcmp(f, "env") == 0)
		return app_set_str(a->env, sizeof(a->env), f, v, err, errlen);
	if (strcmp(f, "container") == 0)
		return app_set_str(a->container, sizeof(a->container), f, v,
		    err, errlen);
	if (strcmp(f, "image") == 0)
		return app_set_str(a->image, sizeof(a->image), f, v, err,
		    errlen);
	if (strcmp(f, "deployment") == 0)
		return app_set_str(a->deployment, sizeof(a->deployment), f, v,
		    err, errlen);
	if (strcmp(f, "service") == 0)
		return app_set_str(a->service, sizeof(a->service), f, v, err,
		    errlen);
	if (strcmp(f, "replicas") == 0)
		return app_set_int(&a->replicas, f, v, 1, APP_REPLICAS_MAX,
		    err, errlen);
	if (strcmp(f, "port") == 0)
		return app_set_int(&a->port, f, v, 0, 65535, err, errlen);
	if (strcmp(f, "cport") == 0)
		return app_set_int(&a->cport, f, v, 0, 65535, err, errlen);
	if (strcmp(f, "ttl") == 0)
		return app_set_ttl(&a->ttl_s, v, err, errlen);
	if (strcmp(f, "start_timeout") == 0)
		return app_set_int(&a->start_timeout_ms, f, v, 100, 3600000,
		    err, errlen);
	if (strcmp(f, "min_instances") == 0)
		return app_set_int(&a->min_instances, f, v, 1,
		    APP_INSTANCES_MAX, err, errlen);
	if (strcmp(f, "max_instances") == 0)
		return app_set_int(&a->max_instances, f, v, 1,
		    APP_INSTANCES_MAX, err, errlen);
	if (strcmp(f, "target_concurrency") == 0)
		return app_set_int(&a->target_concurrency, f, v, 0, 1000000,
		    err, errlen);
	if (strcmp(f, "ready") == 0) {
		if (strcmp(v, "tcp") != 0 && strncmp(v, "http:/", 6) != 0) {
			snprintf(err, errlen, "ready: want \"tcp\" or "
			    "\"http:/PATH\", got \"%s\"", v);
			return -1;
		}
		return app_set_str(a->ready, sizeof(a->ready), f, v, err,
		    errlen);
	}
	if (strcmp(f, "wake_page") == 0 || strcmp(f, "protect") == 0)
		return app_set_onoff(f[0] == 'w' ? &a->wake_page :
		    &a->protect, f, v, err, errlen);
	if (strcmp(f, "release_path") == 0) {
		if (v[0] != '\0' && v[0] != '/') {
			snprintf(err, errlen, "release_path: want an absolute "
			    "path, got \"%s\"", v);
			return -1;
		}
		return app_set_str(a->release_path, sizeof(a->release_path),
		    f, v, err, errlen);
	}
	if (strcmp(f, "release") == 0) {
		if (v[strspn(v, "0123456789")] != '\0' || v[0] == '0') {
			snprintf(err, errlen, "release: want a release number, "
			    "got \"%s\"", v);
			return -1;
		}
		return app_set_str(a->release, sizeof(a->release), f, v, err,
		    errlen);
	}
	if (strcmp(f, "state") == 0)
		return app_set_state(&a->state, v, err, errlen);
	if (strcmp(f, "addr") == 0)
		return app_set_str(a->addr, sizeof(a->addr), f, v, err, errlen);
	if (strcmp(f, "reason") == 0)
		return app_set_str(a->reason, sizeof(a->reason), f, v, err,
		    errlen);
	return 0;	/* a field from a newer writer */
}

/* Sets one field of OBJ from its stored string; 0, or -1 with ERR. */
typedef int (*app_field_fn)(void *obj, const char *field, const char *value,
    char *err, size_t errlen);

/* Calls SET for each field/value pair of R, an HGETALL reply. */
static int
app_hash_each(const redisReply *r, app_field_fn set, void *obj, char *err,
    size_t errlen)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "not a hash");
		return -1;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *v = r->element[i + 1];

		if (f->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING) {
			snprintf(err, errlen, "field %zu is not a string",
			    i / 2);
			return -1;
		}
		if (set(obj, f->str, v->str, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static int
app_set_any(void *a, const char *f, const char *v, char *err, size_t errlen)
{
	return app_set(a, f, v, err, errlen);
}

int
app_from_hash(struct app *a, const redisReply *r, char *err, size_t errlen)
{
	return app_hash_each(r, app_set_any, a, err, errlen);
}

static int
app_summary_set(void *arg, const char *f, const char *v, char *err,
    size_t errlen)
{
	struct app_summary *s = arg;

	if (strcmp(f, "state") == 0)
		return app_set_state(&s->state, v, err, errlen);
	if (strcmp(f, "addr") == 0)
		return app_set_str(s->addr, sizeof(s->addr), f, v, err,
		    errlen);
	if (strcmp(f, "ttl") == 0)
		return app_set_ttl(&s->ttl_s, v, err, errlen);
	if (strcmp(f, "wake_page") == 0)
		return app_set_onoff(&s->wake_page, f, v, err, errlen);
	return 0;	/* a field the summary does not carry */
}

int
app_summary_from_hash(struct app_summary *out, const redisReply *r,
    char *err, size_t errlen)
{
	struct app_summary s = {.state = APP_STOPPED};

	if (app_hash_each(r, app_summary_set, &s, err, errlen) != 0)
		return -1;
	*out = s;
	return 0;
}

/*
 * A Deployment as an app names it: NAME or NAMESPACE/NAME, each a DNS
 * name as Kubernetes takes them (the namespace a label of at most 63).
 */
int
app_deployment_valid(const char *d)
{
	const char *slash = strchr(d, '/'), *name = slash ? slash + 1 : d;
	size_t nslen = slash ? (size_t)(slash - d) : 0;

	if (slash != NULL && (nslen == 0 || nslen > 63 ||
	    strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789-") != nslen ||
	    d[0] == '-' || d[nslen - 1] == '-'))
		return -1;
	if (*name == '\0' || strlen(name) > 127 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") !=
	    strlen(name) || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[strlen(name) - 1]))
		return -1;
	return 0;
}

int
app_validate(const struct app *a, char *err, size_t errlen)
{
	const char *why = "";

	if (!keys_name_valid(a->name)) {
		snprintf(err, errlen, "name: missing or invalid");
		return -1;
	}
	if (a->ndomains == 0) {
		snprintf(err, errlen, "app %s: at least one domain is needed",
		    a->name);
		return -1;
	}
	if (strcmp(a->driver, "process") == 0) {
		if (a->command[0] == '\0') {
			snprintf(err, errlen, "app %s: the process driver needs "
			    "a command", a->name);
			return -1;
		}
	} else if (strcmp(a->driver, "docker") == 0) {
		if ((a->container[0] == '\0') == (a->image[0] == '\0')) {
			snprintf(err, errlen, "app %s: the docker driver needs "
			    "a container or an image (one of them)", a->name);
			return -1;
		}
		if (a->cport == 0) {
			snprintf(err, errlen, "app %s: the docker driver needs "
			    "the container port (cport)", a->name);
			return -1;
		}
	} else if (strcmp(a->driver, "swarm") == 0) {
		if (a->image[0] == '\0' || a->cport == 0) {
			snprintf(err, errlen, "app %s: the swarm driver needs "
			    "an image and the port it listens on (cport)",
			    a->name);
			return -1;
		}
	} else if (strcmp(a->driver, "kubernetes") == 0) {
		if (app_deployment_valid(a->deployment) != 0) {
			snprintf(err, errlen, "app %s: the kubernetes driver "
			    "needs its Deployment as NAME or NAMESPACE/NAME "
			    "(lower-case letters, digits, '-' and '.'), got "
			    "\"%s\"", a->name, a->deployment);
			return -1;
		}
		if (addr_parse(a->service, 0, NULL, 0, NULL, &why) != 0) {
			snprintf(err, errlen, "app %s: the kubernetes driver "
			    "needs the HOST:PORT of its Service, got \"%s\" "
			    "(%s)", a->name, a->service, why);
			return -1;
		}
	} else {
		snprintf(err, errlen, "app %s: unknown driver \"%s\"", a->name,
		    a->driver);
		return -1;
	}
	/* The orchestrator spreads the load over its replicas itself. */
	if (a->max_instances > 1 && (strcmp(a->driver, "swarm") == 0 ||
	    strcmp(a->driver, "kubernetes") == 0)) {
		snprintf(err, errlen, "app %s: a %s app is one instance of %d "
		    "replicas (max_instances 1; set replicas)", a->name,
		    a->driver, a->replicas);
		return -1;
	}
	if (a->max_instances < a->min_instances) {
		snprintf(err, errlen, "app %s: max_instances %d is below "
		    "min_instances %d", a->name, a->max_instances,
		    a->min_instances);
		return -1;
	}
	if (a->max_instances > 1 && (a->port != 0 || a->container[0] != '\0')) {
		snprintf(err, errlen, "app %s: one %s cannot run as %d "
		    "instances (max_instances 1)", a->name, a->port != 0 ?
		    "fixed port" : "existing container", a->max_instances);
		return -1;
	}
	for (int i = 0; i < a->ngroup; i++)
		if (strcmp(a->group[i], a->name) == 0) {
			snprintf(err, errlen, "app %s: cannot be in its own "
			    "group", a->name);
			return -1;
		}
	return 0;
}

/* Appends "name" and a printf-formatted value to the pairs. */
static int
app_pair(const char **argv, size_t *argvlen, int *argc, char *buf,
    size_t buflen, size_t *used, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static int
app_pair(const char **argv, size_t *argvlen, int *argc, char *buf,
    size_t buflen, size_t *used, const char *name, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*argc + 2 > APP_FIELDS_MAX)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, buflen - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= buflen - *used)
		return -1;
	argv[*argc] = name;
	argvlen[*argc] = strlen(name);
	argv[*argc + 1] = buf + *used;
	argvlen[*argc + 1] = (size_t)n;
	*argc += 2;
	*used += (size_t)n + 1;
	return 0;
}

static void
app_join(char *out, size_t size, const char *list, size_t isize, int n)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s",
		    i ? "," : "", list + (size_t)i * isize);
}

int
app_fields(const struct app *a, const char **argv, size_t *argvlen,
    int *argc, char *buf, size_t buflen)
{
	char domains[APP_MAX_DOMAINS * 256], group[APP_MAX_GROUP * 64];
	size_t used = 0;
	int n = 0, rc = 0;

	app_join(domains, sizeof(domains), &a->domains[0][0],
	    sizeof(a->domains[0]), a->ndomains);
	app_join(group, sizeof(group), &a->group[0][0], sizeof(a->group[0]),
	    a->ngroup);
#define PAIR(name, ...) rc |= app_pair(argv, argvlen, &n, buf, buflen, \
	&used, name, __VA_ARGS__)
	PAIR("name", "%s", a->name);
	PAIR("domains", "%s", domains);
	PAIR("driver", "%s", a->driver);
	PAIR("command", "%s", a->command);
	PAIR("dir", "%s", a->dir);
	PAIR("env", "%s", a->env);
	PAIR("port", "%d", a->port);
	PAIR("container", "%s", a->container);
	PAIR("image", "%s", a->image);
	PAIR("cport", "%d", a->cport);
	PAIR("deployment", "%s", a->deployment);
	PAIR("service", "%s", a->service);
	PAIR("replicas", "%d", a->replicas);
	PAIR("ttl", "%d", a->ttl_s);
	PAIR("ready", "%s", a->ready);
	PAIR("start_timeout", "%d", a->start_timeout_ms);
	PAIR("min_instances", "%d", a->min_instances);
	PAIR("max_instances", "%d", a->max_instances);
	PAIR("target_concurrency", "%d", a->target_concurrency);
	PAIR("wake_page", "%s", a->wake_page ? "on" : "off");
	PAIR("protect", "%s", a->protect ? "on" : "off");
	PAIR("group", "%s", group);
	PAIR("release_path", "%s", a->release_path);
	PAIR("state", "%s", app_state_name(a->state));
	PAIR("addr", "%s", a->addr);
	PAIR("reason", "%s", a->reason);
#undef PAIR
	if (rc != 0)
		return -1;
	*argc = n;
	return 0;
}

int
app_release_apply(struct app *a, const char *releases_dir, char *err,
    size_t errlen)
{
	size_t used = strlen(a->env);
	struct stat st;
	int n;

	if (a->release[0] == '\0')
		return 0;
	n = snprintf(a->release_dir, sizeof(a->release_dir), "%s/%s/%s",
	    releases_dir, a->name, a->release);
	if (n < 0 || (size_t)n >= sizeof(a->release_dir) ||
	    (size_t)n >= sizeof(a->dir)) {
		snprintf(err, errlen, "app %s: release %s: path too long",
		    a->name, a->release);
		return -1;
	}
	n = snprintf(a->env + used, sizeof(a->env) - used,
	    "%sDEVCLOUD_RELEASE=%s", used > 0 ? "\n" : "", a->release);
	if (n < 0 || (size_t)n >= sizeof(a->env) - used) {
		a->env[used] = '\0';
		snprintf(err, errlen, "app %s: env: no room for "
		    "DEVCLOUD_RELEASE", a->name);
		return -1;
	}
	/* an image deploy's release has no files: nothing to run in or
	 * to mount */
	if (stat(a->release_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		a->release_dir[0] = '\0';
		return 0;
	}
	if (strcmp(a->driver, "process") == 0)
		snprintf(a->dir, sizeof(a->dir), "%s", a->release_dir);
	return 0;
}
