/*
 * devcloudctl app create|update|rm|list|show|wake|stop|scale.
 *
 * Records are written by one Lua script each, so a record and the routes
 * of its domains change together or not at all, and a domain can never
 * route to two apps. Arguments are checked before anything is written:
 * a bad option changes nothing. wake, stop and scale are autostart's
 * commands; this file only sends them and prints the answer.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "bus.h"
#include "keys.h"
#include "msg.h"
#include "service.h"
#include "target.h"
#include "ctl.h"

/*
 * KEYS app, apps, routes; ARGV mode ("create"|"update"), name, target,
 * ndomains, domains..., then field/value pairs. Returns "OK", or an
 * error reply naming what is in the way. Domains the app no longer has
 * are unrouted; the old list is returned after "OK" for announcing.
 */
static const char script_save[] =
    "local mode, name, target = ARGV[1], ARGV[2], ARGV[3]\n"
    "local nd = tonumber(ARGV[4])\n"
    "local exists = redis.call('EXISTS', KEYS[1]) == 1\n"
    "if mode == 'create' and exists then\n"
    "  return redis.error_reply('app ' .. name .. ' already exists')\n"
    "end\n"
    "if mode == 'update' and not exists then\n"
    "  return redis.error_reply('no such app: ' .. name)\n"
    "end\n"
    "local new = {}\n"
    "for i = 1, nd do\n"
    "  local d = ARGV[4 + i]\n"
    "  local cur = redis.call('HGET', KEYS[3], d)\n"
    "  if cur and cur ~= target then\n"
    "    return redis.error_reply('domain ' .. d .. ' already routes to '"
    " .. cur)\n"
    "  end\n"
    "  new[d] = true\n"
    "end\n"
    "local old = {}\n"
    "if exists then\n"
    "  local od = redis.call('HGET', KEYS[1], 'domains') or ''\n"
    "  for d in string.gmatch(od, '[^,]+') do\n"
    "    if not new[d] and redis.call('HGET', KEYS[3], d) == target then\n"
    "      redis.call('HDEL', KEYS[3], d)\n"
    "      table.insert(old, d)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for i = 1, nd do redis.call('HSET', KEYS[3], ARGV[4 + i], target) end\n"
    "local pairs = {}\n"
    "for i = 5 + nd, #ARGV do table.insert(pairs, ARGV[i]) end\n"
    "redis.call('HSET', KEYS[1], unpack(pairs))\n"
    "redis.call('SADD', KEYS[2], name)\n"
    "return {'OK', unpack(old)}\n";

/*
 * KEYS app, apps, routes, deadlines, lastaccess; ARGV name, target.
 * Only a stopped (or failed) app is removed.
 */
static const char script_rm[] =
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if not st then return redis.error_reply('no such app: ' .. ARGV[1]) end\n"
    "if st ~= 'stopped' and st ~= 'failed' then\n"
    "  return redis.error_reply('app ' .. ARGV[1] .. ' is ' .. st .."
    " '; stop it first (devcloudctl app stop ' .. ARGV[1] .. ')')\n"
    "end\n"
    "local ds = {}\n"
    "for d in string.gmatch(redis.call('HGET', KEYS[1], 'domains') or '',"
    " '[^,]+') do\n"
    "  if redis.call('HGET', KEYS[3], d) == ARGV[2] then\n"
    "    redis.call('HDEL', KEYS[3], d)\n"
    "    table.insert(ds, d)\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZREM', KEYS[4], ARGV[1])\n"
    "redis.call('ZREM', KEYS[5], ARGV[1])\n"
    "return ds\n";

static const char app_usage[] =
    "usage: devcloudctl app create NAME --domain D [--domain D2 ...] [OPTIONS]\n"
    "       devcloudctl app update NAME [OPTIONS]\n"
    "       devcloudctl app rm|show|wake|stop NAME\n"
    "       devcloudctl app scale NAME N\n"
    "       devcloudctl app list\n"
    "options:\n"
    "  --domain D            a domain routed to the app (repeat for more;\n"
    "                        update replaces the list)\n"
    "  --driver process|docker|swarm|kubernetes   (default process)\n"
    "  --command CMD         process: shell command; $PORT is its port\n"
    "  --port N              process: fixed port (default: a free one)\n"
    "  --dir DIR             process: working directory\n"
    "  --env K=V             extra environment (repeat for more)\n"
    "  --container C         docker: an existing container\n"
    "  --image I             docker: or an image to create it from;\n"
    "                        swarm: its service's image\n"
    "  --cport N             docker, swarm: the port the app listens on\n"
    "                        inside\n"
    "  --deployment [NS/]D   kubernetes: the Deployment it scales\n"
    "  --service HOST:PORT   kubernetes: where the app answers (its Service)\n"
    "  --replicas N          swarm, kubernetes: replicas while awake\n"
    "                        (default 1)\n"
    "  --release-path PATH   docker: where the deployed release is mounted\n"
    "                        (read-only) in the container\n"
    "  --ttl SECONDS         idle time before it is stopped (default from\n"
    "                        autostart.default_ttl_s)\n"
    "  --ready tcp|http:/PATH   readiness check (default tcp)\n"
    "  --start-timeout MS    time it has to become ready\n"
    "  --wake-page on|off    browsers see a waiting page while it starts\n"
    "  --group A,B           apps woken and stopped with it\n"
    "  --min N               instances kept while it is awake (default 1)\n"
    "  --max N               at most this many (default 1; 1 with --port or\n"
    "                        --container; at most autostart.instances_max)\n"
    "  --target-concurrency N   in-flight requests per instance the\n"
    "                        autoscaler aims at (default 0: no autoscaling)\n"
    "  --protect on|off      never stopped to relieve an overloaded host\n";

/* Appends ITEM to the list in BUF (room checked by the caller). */
static void
app_append(char *buf, size_t size, const char *sep, const char *item)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s", n ? sep : "", item);
}

/* Applies the options in ARGV to A. */
static int
app_parse_options(struct app *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{"domain", required_argument, NULL, 'd'},
		{"driver", required_argument, NULL, 'D'},
		{"command", required_argument, NULL, 'c'},
		{"port", required_argument, NULL, 'p'},
		{"dir", required_argument, NULL, 'w'},
		{"env", required_argument, NULL, 'e'},
		{"container", required_argument, NULL, 'C'},
		{"image", required_argument, NULL, 'i'},
		{"cport", required_argument, NULL, 'P'},
		{"deployment", required_argument, NULL, 'y'},
		{"service", required_argument, NULL, 's'},
		{"replicas", required_argument, NULL, 'R'},
		{"ttl", required_argument, NULL, 't'},
		{"ready", required_argument, NULL, 'r'},
		{"start-timeout", required_argument, NULL, 'T'},
		{"wake-page", required_argument, NULL, 'W'},
		{"group", required_argument, NULL, 'g'},
		{"min", required_argument, NULL, 'm'},
		{"max", required_argument, NULL, 'M'},
		{"target-concurrency", required_argument, NULL, 'k'},
		{"protect", required_argument, NULL, 'x'},
		{"release-path", required_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	static const struct {
		int opt;
		const char *field;
	} fields[] = {
		{'D', "driver"}, {'c', "command"}, {'p', "port"}, {'w', "dir"},
		{'C', "container"}, {'i', "image"}, {'P', "cport"},
		{'y', "deployment"}, {'s', "service"}, {'R', "replicas"},
		{'t', "ttl"}, {'r', "ready"}, {'T', "start_timeout"},
		{'W', "wake_page"}, {'g', "group"}, {'m', "min_instances"},
		{'M', "max_instances"}, {'k', "target_concurrency"},
		{'x', "protect"}, {'R', "release_path"},
	};
	char domains[APP_MAX_DOMAINS * 256] = "", env[APP_TEXT_MAX] = "";
	char err[600];
	bool domains_set = false;
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *field = NULL;

		if (ch == 'd') {
			if (strlen(domains) + strlen(optarg) + 2 >
			    sizeof(domains))
				return ctl_usage_error("too many domains");
			if (strchr(optarg, ',') != NULL)
				return ctl_usage_error("--domain takes one "
				    "domain, got \"%s\"", optarg);
			app_append(domains, sizeof(domains), ",", optarg);
			domains_set = true;
			continue;
		}
		if (ch == 'e') {
			if (strchr(optarg, '=') == NULL ||
			    strchr(optarg, '\n') != NULL ||
			    strlen(env) + strlen(optarg) + 2 > sizeof(env))
				return ctl_usage_error("--env wants K=V, got "
				    "\"%s\"", optarg);
			app_append(env, sizeof(env), "\n", optarg);
			continue;
		}
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (fields[i].opt == ch)
				field = fields[i].field;
		if (field == NULL)
			return ctl_usage_error("app: unknown or incomplete "
			    "option \"%s\"", argv[optind - 1]);
		if (app_set(a, field, optarg, err, sizeof(err)) != 0)
			return ctl_usage_error("%s", err);
	}
	if (optind < argc)
		return ctl_usage_error("app: unexpected argument \"%s\"",
		    argv[optind]);
	if (domains_set && app_set(a, "domains", domains, err,
	    sizeof(err)) != 0)
		return ctl_usage_error("%s", err);
	if (env[0] != '\0' && app_set(a, "env", env, err, sizeof(err)) != 0)
		return ctl_usage_error("%s", err);
	return 0;
}

static void
app_announce(struct ctl *c, const struct app *a, redisReply *removed)
{
	struct msg m;

	msg_init(&m, MSG_ROUTE_CHANGED);
	for (int i = 0; i < a->ndomains; i++) {
		snprintf(m.domain, sizeof(m.domain), "%s", a->domains[i]);
		if (target_format(m.target, sizeof(m.target), TARGET_APP,
		    a->name) != NULL)
			ctl_publish(c, &m);
	}
	for (size_t i = 0; removed != NULL && i < removed->elements; i++) {
		if (removed->element[i]->type != REDIS_REPLY_STRING ||
		    strcmp(removed->element[i]->str, "OK") == 0)
			continue;
		snprintf(m.domain, sizeof(m.domain), "%s",
		    removed->element[i]->str);
		m.target[0] = '\0';
		ctl_publish(c, &m);
	}
	msg_init(&m, MSG_APP_CHANGED);
	snprintf(m.app, sizeof(m.app), "%s", a->name);
	snprintf(m.state, sizeof(m.state), "%s", app_state_name(a->state));
	ctl_publish(c, &m);
}

/*
 * Reads NAME's record into A, and prints its stored fields if SHOW (only
 * once the whole record parsed); 0, or -1 with a message printed.
 */
static int
app_read(struct ctl *c, redisContext *rc, const char *name, struct app *a,
    bool show)
{
	char key[KEY_MAX], err[600];
	redisReply *r;
	int rv = -1;

	app_defaults(a, c->cfg.autostart.default_ttl_s,
	    c->cfg.autostart.start_timeout_ms);
	if (key_app(key, sizeof(key), name) == NULL) {
		ctl_error("\"%s\" is not a valid app name", name);
		return -1;
	}
	r = redisCommand(rc, "HGETALL %s", key);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		ctl_error("redis: %s", r && r->str ? r->str : rc->errstr);
	else if (r->elements == 0)
		ctl_error("no such app: %s", name);
	else if (app_from_hash(a, r, err, sizeof(err)) != 0)
		ctl_error("stored record is bad: %s", err);
	else
		rv = 0;
	for (size_t i = 0; show && rv == 0 && i + 1 < r->elements; i += 2)
		printf("%-*s %s\n", CTL_FIELD_WIDTH, r->element[i]->str,
		    r->element[i + 1]->str);
	freeReplyObject(r);
	return rv;
}

static int
app_save(struct ctl *c, redisContext *rc, struct app *a, const char *mode)
{
	const char *argv[8 + APP_MAX_DOMAINS + APP_FIELDS_MAX];
	size_t argvlen[8 + APP_MAX_DOMAINS + APP_FIELDS_MAX];
	char k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX], target[TARGET_MAX], nd[8];
	static char buf[APP_FIELDS_BUF];
	int n = 0, nf;
	redisReply *r;

	if (target_format(target, sizeof(target), TARGET_APP, a->name) ==
	    NULL)
		return ctl_error("app %s: not a valid app name", a->name);
#define ARG(s) (argv[n] = (s), argvlen[n] = strlen(argv[n]), n++)
	ARG("EVAL");
	ARG(script_save);
	ARG("3");
	ARG(key_app(k1, sizeof(k1), a->name));
	ARG(key_apps(k2, sizeof(k2)));
	ARG(key_routes(k3, sizeof(k3)));
	ARG(mode);
	ARG(a->name);
	ARG(target);
	snprintf(nd, sizeof(nd), "%d", a->ndomains);
	ARG(nd);
	for (int i = 0; i < a->ndomains; i++)
		ARG(a->domains[i]);
#undef ARG
	if (app_fields(a, argv + n, argvlen + n, &nf, buf, sizeof(buf)) != 0)
		return ctl_error("app %s: record too large", a->name);
	r = redisCommandArgv(rc, n + nf, argv, argvlen);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		ctl_error("app %s: %s", mode, r ? r->str : rc->errstr);
		freeReplyObject(r);
		return 1;
	}
	app_announce(c, a, r);
	freeReplyObject(r);
	return 0;
}

/* create (a new record) and update (the stored one): options on top. */
static int
app_write(struct ctl *c, redisContext *rc, const char *mode, int argc,
    char **argv)
{
	bool create = strcmp(mode, "create") == 0;
	struct app a;
	char err[600];

	if (create) {
		app_defaults(&a, c->cfg.autostart.default_ttl_s,
		    c->cfg.autostart.start_timeout_ms);
		if (app_set(&a, "name", argv[0], err, sizeof(err)) != 0)
			return ctl_usage_error("%s", err);
	} else if (app_read(c, rc, argv[0], &a, false) != 0) {
		return 1;
	}
	if (app_parse_options(&a, argc, argv) != 0)
		return 2;
	if (app_validate(&a, err, sizeof(err)) != 0)
		return ctl_usage_error("%s", err);
	/*
	 * The ceiling is this installation's, not the record's: app_validate
	 * cannot know it. Checked on every write, so a record stored before
	 * the ceiling was lowered is brought under it at its next update.
	 */
	if (a.max_instances > c->cfg.autostart.instances_max)
		return ctl_usage_error("app %s: max_instances %d is above "
		    "autostart.instances_max %d (%s); lower it with --max",
		    a.name, a.max_instances, c->cfg.autostart.instances_max,
		    c->cfg.path[0] ? c->cfg.path : "no configuration file");
	if (app_save(c, rc, &a, mode) != 0)
		return 1;
	if (create)
		printf("app %s created (%s, stopped until visited)\n", a.name,
		    a.driver);
	else
		printf("app %s updated%s\n", a.name, a.state == APP_RUNNING ?
		    " (the running instance keeps its old settings until it "
		    "restarts)" : "");
	return 0;
}

static int
app_rm(struct ctl *c, redisContext *rc, const char *name)
{
	char k[5][KEY_MAX], target[TARGET_MAX];
	redisReply *r;
	struct msg m;

	if (key_app(k[0], KEY_MAX, name) == NULL ||
	    target_format(target, sizeof(target), TARGET_APP, name) == NULL)
		return ctl_usage_error("\"%s\" is not a valid app name", name);
	r = redisCommand(rc, "EVAL %s 5 %s %s %s %s %s %s %s", script_rm,
	    k[0], key_apps(k[1], KEY_MAX), key_routes(k[2], KEY_MAX),
	    key_deadlines(k[3], KEY_MAX), key_lastaccess(k[4], KEY_MAX), name,
	    target);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		ctl_error("app rm: %s", r ? r->str : rc->errstr);
		freeReplyObject(r);
		return 1;
	}
	msg_init(&m, MSG_ROUTE_CHANGED);
	for (size_t i = 0; i < r->elements; i++) {
		snprintf(m.domain, sizeof(m.domain), "%s", r->element[i]->str);
		ctl_publish(c, &m);
	}
	freeReplyObject(r);
	msg_init(&m, MSG_APP_CHANGED);
	snprintf(m.app, sizeof(m.app), "%s", name);
	snprintf(m.state, sizeof(m.state), "removed");
	ctl_publish(c, &m);
	printf("app %s removed\n", name);
	return 0;
}

/* Names a page of `app list` shows at once: what it asks of Redis and
 * holds at a time, however many apps there are. */
#define APP_LIST_PAGE 500

static int
app_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every app name, sorted, into *NAMES (the caller frees each and the
 * array): read with SSCAN, a bounded reply at a time, and sorted here,
 * so Redis never sends all of them in one reply. Their count, or -1.
 */
static long
app_names(redisContext *rc, char ***names)
{
	char key[KEY_MAX], cursor[32] = "0";
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;
	redisReply *r;

	key_apps(key, sizeof(key));
	do {
		r = redisCommand(rc, "SSCAN %s %s COUNT 1000", key, cursor);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			ctl_error("redis: %s", r != NULL && r->str != NULL ?
			    r->str : rc->errstr);
			goto fail;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const redisReply *e = r->element[1]->element[i];

			if (e->type != REDIS_REPLY_STRING)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
					goto oom;
				v = nv;
			}
			if ((v[n] = strdup(e->str)) == NULL)
				goto oom;
			n++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	/* SSCAN may return a name twice: sorted, the copies are adjacent */
	qsort(v, n, sizeof(*v), app_name_cmp);
	*names = v;
	return (long)n;
oom:
	ctl_error("out of memory");
fail:
	freeReplyObject(r);
	while (n > 0)
		free(v[--n]);
	free(v);
	return -1;
}

/* Prints the rows of the N apps NAMES. */
static int
app_list_page(redisContext *rc, char *const *names, size_t n)
{
	int ready[APP_LIST_PAGE], total[APP_LIST_PAGE];
	char key[KEY_MAX], inst[32];
	redisReply *r;

	if (ctl_instances_count(rc, names, n, ready, total) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		redisAppendCommand(rc, "HMGET %s state driver addr domains",
		    key_app(key, sizeof(key), names[i]));
	for (size_t i = 0; i < n; i++) {
		if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
			ctl_error("redis: %s", rc->errstr);
			return -1;
		}
		/* ready/total: ready instances of those autostart lists */
		snprintf(inst, sizeof(inst), "%d/%d", ready[i], total[i]);
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 4)
			printf("%-24s %-9s %-8s %-22s %-5s %s\n", names[i],
			    r->element[0]->str ? r->element[0]->str : "?",
			    r->element[1]->str ? r->element[1]->str : "?",
			    r->element[2]->str && r->element[2]->str[0] ?
			    r->element[2]->str : "-", inst,
			    r->element[3]->str ? r->element[3]->str : "");
		freeReplyObject(r);
	}
	return 0;
}

/* Every app, sorted by name, a page of APP_LIST_PAGE at a time. */
static int
app_list(redisContext *rc)
{
	char **names = NULL;
	long n;
	size_t i, j, k;
	int rv = 0;

	if ((n = app_names(rc, &names)) < 0)
		return 1;
	/* drop the copies SSCAN may give */
	for (i = j = 0; i < (size_t)n; i++) {
		if (j > 0 && strcmp(names[j - 1], names[i]) == 0)
			free(names[i]);
		else
			names[j++] = names[i];
	}
	printf("%-24s %-9s %-8s %-22s %-5s %s\n", "APP", "STATE", "DRIVER",
	    "ADDR", "INST", "DOMAINS");
	for (k = 0; k < j && rv == 0; k += APP_LIST_PAGE)
		rv = app_list_page(rc, names + k, j - k < APP_LIST_PAGE ?
		    j - k : APP_LIST_PAGE) == 0 ? 0 : 1;
	for (i = 0; i < j; i++)
		free(names[i]);
	free(names);
	return rv;
}

/*
 * wake, stop and scale go to autostart, which owns all three, each
 * answered by its own type or by error.
 */
struct app_cmd {
	const char *name;
	enum msg_type type;
	enum msg_type answer;
};

static const struct app_cmd app_cmds[] = {
	{"wake", MSG_WAKE, MSG_WAKE_OK},
	{"stop", MSG_STOP, MSG_STOP_OK},
	{"scale", MSG_SCALE, MSG_SCALE_OK},
};

/*
 * The N of `app scale NAME N`: digits only (no sign, no space), at most
 * INT_MAX. Zero is sent as asked: the clamp to min_instances is
 * autostart's, and its answer says so.
 */
static int
app_scale_count(const char *s, int64_t *out)
{
	char *end;
	long long n;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n > INT_MAX)
		return -1;
	*out = n;
	return 0;
}

/* Prints the answer R to a scale of NAME to ASKED instances. */
static void
app_scale_print(const struct msg *r, int64_t asked)
{
	char why[MSG_TEXT_MAX + 32];

	if (r->to == asked) {
		printf("%s: %lld instances (was %lld)\n", r->app,
		    (long long)r->to, (long long)r->from);
		return;
	}
	/* autostart's reason names the bound; without one, the bound is
	 * the count it set. */
	if (r->reason[0] != '\0')
		snprintf(why, sizeof(why), "%s", r->reason);
	else
		snprintf(why, sizeof(why), "%s %lld", r->to < asked ?
		    "max_instances" : "min_instances", (long long)r->to);
	printf("%s: %lld instances asked, %lld set (%s)\n", r->app,
	    (long long)asked, (long long)r->to, why);
}

static int
app_command(struct ctl *c, const struct app_cmd *cmd, const char *name,
    int64_t to)
{
	struct msg m, r;
	char err[600];
	int64_t t0 = service_mono_ms();

	msg_init(&m, cmd->type);
	snprintf(m.app, sizeof(m.app), "%s", name);
	if (cmd->type == MSG_STOP || cmd->type == MSG_SCALE)
		snprintf(m.reason, sizeof(m.reason), "manual");
	m.to = to;
	if (bus_call_sync(c->cfg.autostart.d.control, c->source, &m,
	    c->wait_ms >= 0 ? c->wait_ms : c->cfg.autostart.start_timeout_ms +
	    c->cfg.autostart.stop_grace_ms + 5000, &r, err, sizeof(err)) != 0)
		return ctl_error("app %s: %s", cmd->name, err);
	if (r.type != cmd->answer)
		return ctl_error("app %s: autostart answered %s, not %s",
		    cmd->name, msg_type_name(r.type),
		    msg_type_name(cmd->answer));
	if (cmd->type == MSG_WAKE)
		printf("%s running at %s (%lld ms)\n", r.app, r.addr,
		    (long long)(service_mono_ms() - t0));
	else if (cmd->type == MSG_STOP)
		printf("%s %s\n", r.app, r.state);
	else
		app_scale_print(&r, to);
	return 0;
}

/* app wake|stop NAME, app scale NAME N: checked before anything is sent. */
static int
app_command_args(struct ctl *c, const struct app_cmd *cmd, int argc,
    char **argv)
{
	bool scale = cmd->type == MSG_SCALE;
	int64_t to = 0;

	if (argc != (scale ? 3 : 2))
		return ctl_usage_error("usage: app %s NAME%s", cmd->name,
		    scale ? " N" : "");
	if (!keys_name_valid(argv[1]))
		return ctl_usage_error("\"%s\" is not a valid app name",
		    argv[1]);
	if (scale && app_scale_count(argv[2], &to) != 0)
		return ctl_usage_error("app scale: N wants a number of "
		    "instances (0 or more), got \"%s\"", argv[2]);
	return app_command(c, cmd, argv[1], to);
}

int
ctl_app(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	redisContext *rc;
	struct app a;
	int rv;

	for (size_t i = 0; i < sizeof(app_cmds) / sizeof(app_cmds[0]); i++)
		if (strcmp(sub, app_cmds[i].name) == 0)
			return app_command_args(c, &app_cmds[i], argc, argv);
	if (strcmp(sub, "list") == 0 ? argc != 1 :
	    strcmp(sub, "create") == 0 || strcmp(sub, "update") == 0 ?
	    argc < 2 : strcmp(sub, "rm") == 0 || strcmp(sub, "show") == 0 ?
	    argc != 2 : true) {
		fputs(app_usage, stderr);
		return 2;
	}
	if ((rc = ctl_redis(c, false)) == NULL)
		return 1;
	if (strcmp(sub, "create") == 0 || strcmp(sub, "update") == 0)
		rv = app_write(c, rc, sub, argc - 1, argv + 1);
	else if (strcmp(sub, "rm") == 0)
		rv = app_rm(c, rc, argv[1]);
	else if (strcmp(sub, "show") == 0)
		rv = app_read(c, rc, argv[1], &a, true) == 0 ?
		    ctl_instances_show(c, rc, argv[1]) : 1;
	else
		rv = app_list(rc);
	redisFree(rc);
	return rv;
}
