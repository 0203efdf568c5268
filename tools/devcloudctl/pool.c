/*
 * devcloudctl pool create|update|rm|list|show|pause|resume|release: IDE
 * pools (DESIGN.md, "Pools and leases"). A pool's spec is a hash in Redis
 * (keys.h, pool:NAME); every change is announced with pool.changed, on
 * which idepool reads it again and refills or removes it. A pool's
 * --domain is also a route "*.D -> pool:NAME". Release is a command to
 * idepool, answered once the developer's files are saved.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "bus.h"
#include "keys.h"
#include "msg.h"
#include "target.h"
#include "ctl.h"

#define POOL_TEXT_MAX 2048

static const char pool_usage[] =
    "usage: devcloudctl pool create NAME (--image IMG --cport PORT |\n"
    "           --driver process --command CMD) [OPTIONS]\n"
    "       devcloudctl pool update NAME [OPTIONS]\n"
    "       devcloudctl pool rm NAME [--force]\n"
    "       devcloudctl pool list | show NAME | pause NAME | resume NAME\n"
    "       devcloudctl pool release DOMAIN\n"
    "\n"
    "Options:\n"
    "  --driver docker|process  how members run (default docker)\n"
    "  --image IMG              docker: the IDE image\n"
    "  --cport PORT             docker: the port the IDE serves\n"
    "  --command CMD            process: run by /bin/sh, $PORT to listen on,\n"
    "                           $DEVCLOUD_WORKSPACE its files\n"
    "  --ready tcp|http:/PATH   readiness (default tcp)\n"
    "  --domain '*.D'           route every domain under D to the pool\n"
    "  --active N               started, ready, free members (default 1)\n"
    "  --inactive M             created, not started (default 1)\n"
    "  --ttl SECONDS            a lease lapses this long after its last\n"
    "                           request (default 1800)\n"
    "  --workspace PATH         where the files are in a member\n"
    "                           (default /workspace; process: workspace)\n"
    "  --env K=V                for every member (repeat)\n"
    "  --force                  rm: save every workspace, release, remove\n";

static int
pool_redis_error(redisContext *rc, redisReply *r, const char *what)
{
	fprintf(stderr, "devcloudctl: pool %s: redis: %s\n", what,
	    r != NULL && r->str != NULL ? r->str : rc->errstr);
	freeReplyObject(r);
	return 1;
}

static void
pool_announce(struct ctl *c, const char *name, const char *state)
{
	struct msg m;

	msg_init(&m, MSG_POOL_CHANGED);
	snprintf(m.pool, sizeof(m.pool), "%s", name);
	snprintf(m.state, sizeof(m.state), "%s", state);
	if (ctl_publish(c, &m) != 0)
		fprintf(stderr, "devcloudctl: the change is saved; idepool "
		    "applies it at its next reconcile "
		    "(idepool.reconcile_interval_ms)\n");
}

static bool
pool_uint(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* The spec's fields as "field value" pairs, checked. */
struct pool_args {
	const char *av[40];
	int ac;
	char env[POOL_TEXT_MAX];
	char domain[256];
	bool force;
};

static int
pool_field(struct pool_args *pa, const char *field, const char *value)
{
	if (pa->ac + 2 > (int)(sizeof(pa->av) / sizeof(pa->av[0])))
		return ctl_usage_error("pool: too many options");
	pa->av[pa->ac++] = field;
	pa->av[pa->ac++] = value;
	return 0;
}

static int
pool_parse(struct pool_args *pa, int argc, char **argv)
{
	static const struct option opts[] = {
		{"driver", required_argument, NULL, 'D'},
		{"image", required_argument, NULL, 'i'},
		{"cport", required_argument, NULL, 'P'},
		{"command", required_argument, NULL, 'c'},
		{"ready", required_argument, NULL, 'r'},
		{"domain", required_argument, NULL, 'd'},
		{"active", required_argument, NULL, 'a'},
		{"inactive", required_argument, NULL, 'n'},
		{"ttl", required_argument, NULL, 't'},
		{"workspace", required_argument, NULL, 'w'},
		{"env", required_argument, NULL, 'e'},
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	long v;
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			if (strcmp(optarg, "docker") != 0 &&
			    strcmp(optarg, "process") != 0)
				return ctl_usage_error("pool: --driver is "
				    "docker or process, not \"%s\"", optarg);
			if (pool_field(pa, "driver", optarg) != 0)
				return 2;
			break;
		case 'i':
		case 'c':
		case 'w':
			if (optarg[0] == '\0' || strlen(optarg) >= 1000 ||
			    strchr(optarg, '\n') != NULL)
				return ctl_usage_error("pool: bad --%s",
				    ch == 'i' ? "image" : ch == 'c' ?
				    "command" : "workspace");
			if (ch == 'w' && strstr(optarg, "..") != NULL)
				return ctl_usage_error("pool: --workspace may "
				    "not hold \"..\"");
			if (pool_field(pa, ch == 'i' ? "image" : ch == 'c' ?
			    "command" : "workspace", optarg) != 0)
				return 2;
			break;
		case 'P':
		case 'a':
		case 'n':
		case 't':
			if (!pool_uint(optarg, ch == 'P' || ch == 't' ? 1 : 0,
			    ch == 'P' ? 65535 : ch == 't' ? 31536000 : 1000,
			    &v))
				return ctl_usage_error("pool: --%s wants a "
				    "number in range, got \"%s\"", ch == 'P' ?
				    "cport" : ch == 'a' ? "active" : ch == 'n' ?
				    "inactive" : "ttl", optarg);
			if (pool_field(pa, ch == 'P' ? "cport" : ch == 'a' ?
			    "active" : ch == 'n' ? "inactive" : "ttl",
			    optarg) != 0)
				return 2;
			break;
		case 'r':
			if (strcmp(optarg, "tcp") != 0 &&
			    strncmp(optarg, "http:/", 6) != 0)
				return ctl_usage_error("pool: --ready is tcp "
				    "or http:/PATH, not \"%s\"", optarg);
			if (pool_field(pa, "ready", optarg) != 0)
				return 2;
			break;
		case 'd':
			snprintf(pa->domain, sizeof(pa->domain), "%s", optarg);
			if (strncmp(pa->domain, "*.", 2) != 0 ||
			    app_domain_normalize(pa->domain) != 0)
				return ctl_usage_error("pool: --domain wants "
				    "a wildcard \"*.DOMAIN\", got \"%s\"",
				    optarg);
			if (pool_field(pa, "domain", pa->domain) != 0)
				return 2;
			break;
		case 'e': {
			size_t n = strlen(pa->env);

			if (strchr(optarg, '=') == NULL ||
			    strchr(optarg, '\n') != NULL ||
			    n + strlen(optarg) + 2 > sizeof(pa->env))
				return ctl_usage_error("pool: --env wants K=V, "
				    "got \"%s\"", optarg);
			snprintf(pa->env + n, sizeof(pa->env) - n, "%s%s",
			    n ? "\n" : "", optarg);
			break;
		}
		case 'f':
			pa->force = true;
			break;
		default:
			return ctl_usage_error("pool: unknown or incomplete "
			    "option \"%s\"\n%s", argv[optind - 1], pool_usage);
		}
	}
	if (optind < argc)
		return ctl_usage_error("pool: unexpected argument \"%s\"",
		    argv[optind]);
	if (pa->env[0] != '\0' && pool_field(pa, "env", pa->env) != 0)
		return 2;
	return 0;
}

/* The field F of the HGETALL reply R, or "". */
static const char *
pool_get(const redisReply *r, const char *f)
{
	return ctl_hash_get(r, f);
}

static int
pool_write(struct ctl *c, redisContext *rc, const char *name, bool create,
    int argc, char **argv)
{
	struct pool_args pa = {0};
	char key[KEY_MAX], kpools[KEY_MAX], kroutes[KEY_MAX];
	char target[TARGET_MAX];
	const char *av[48];
	redisReply *r, *old;
	int rv, ac = 0;

	if (!keys_name_valid(name))
		return ctl_usage_error("pool: \"%s\" is not a name "
		    "([A-Za-z0-9._-], 1-63)", name);
	if ((rv = pool_parse(&pa, argc, argv)) != 0)
		return rv;
	key_pool(key, sizeof(key), name);
	old = redisCommand(rc, "HGETALL %s", key);
	if (old == NULL || old->type != REDIS_REPLY_ARRAY)
		return pool_redis_error(rc, old, create ? "create" : "update");
	if (create && old->elements > 0) {
		freeReplyObject(old);
		return ctl_error("pool create: %s exists (pool update to "
		    "change it)", name);
	}
	if (!create && old->elements == 0) {
		freeReplyObject(old);
		return ctl_error("pool update: no pool %s", name);
	}
	if (create) {
		const char *driver = "docker";
		bool image = false, command = false, cport = false;

		for (int i = 0; i + 1 < pa.ac; i += 2) {
			if (strcmp(pa.av[i], "driver") == 0)
				driver = pa.av[i + 1];
			image |= strcmp(pa.av[i], "image") == 0;
			command |= strcmp(pa.av[i], "command") == 0;
			cport |= strcmp(pa.av[i], "cport") == 0;
		}
		if (strcmp(driver, "docker") == 0 && (!image || !cport)) {
			freeReplyObject(old);
			return ctl_usage_error("pool create: a docker pool "
			    "needs --image and --cport");
		}
		if (strcmp(driver, "process") == 0 && !command) {
			freeReplyObject(old);
			return ctl_usage_error("pool create: a process pool "
			    "needs --command");
		}
	}
	av[ac++] = "HSET";
	av[ac++] = key;
	if (create) {
		static const char *const defaults[] = {"driver", "docker",
		    "ready", "tcp", "active", "1", "inactive", "1", "ttl",
		    "1800", "workspace", ""};

		for (size_t i = 0; i < sizeof(defaults) / sizeof(*defaults);
		    i++)
			av[ac++] = defaults[i];
	}
	for (int i = 0; i < pa.ac; i++)
		av[ac++] = pa.av[i];
	if (create) {
		/* the workspace default follows the driver */
		const char *driver = "docker", *ws = NULL;

		for (int i = 0; i + 1 < pa.ac; i += 2) {
			if (strcmp(pa.av[i], "driver") == 0)
				driver = pa.av[i + 1];
			if (strcmp(pa.av[i], "workspace") == 0)
				ws = pa.av[i + 1];
		}
		if (ws == NULL) {
			av[ac++] = "workspace";
			av[ac++] = strcmp(driver, "process") == 0 ?
			    "workspace" : "/workspace";
		}
	}
	if (ac == 2) {
		freeReplyObject(old);
		return ctl_usage_error("pool update: nothing to change");
	}
	r = redisCommandArgv(rc, ac, av, NULL);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(old);
		return pool_redis_error(rc, r, "create");
	}
	freeReplyObject(r);
	freeReplyObject(redisCommand(rc, "SADD %s %s",
	    key_pools(kpools, sizeof(kpools)), name));
	if (pa.domain[0] != '\0' && target_format(target, sizeof(target),
	    TARGET_POOL, name) != NULL) {
		const char *was = pool_get(old, "domain");
		struct msg m;

		if (was[0] != '\0' && strcmp(was, pa.domain) != 0) {
			freeReplyObject(redisCommand(rc, "HDEL %s %s",
			    key_routes(kroutes, sizeof(kroutes)), was));
			msg_init(&m, MSG_ROUTE_CHANGED);
			snprintf(m.domain, sizeof(m.domain), "%s", was);
			ctl_publish(c, &m);
		}
		freeReplyObject(redisCommand(rc, "HSET %s %s %s",
		    key_routes(kroutes, sizeof(kroutes)), pa.domain, target));
		msg_init(&m, MSG_ROUTE_CHANGED);
		snprintf(m.domain, sizeof(m.domain), "%s", pa.domain);
		memcpy(m.target, target, strlen(target) + 1);
		ctl_publish(c, &m);
	}
	freeReplyObject(old);
	pool_announce(c, name, create ? "created" : "updated");
	printf("pool %s %s\n", name, create ? "created" : "updated");
	return 0;
}

static int
pool_flag(struct ctl *c, redisContext *rc, const char *name, bool pause)
{
	char key[KEY_MAX];
	redisReply *r;

	if (key_pool(key, sizeof(key), name) == NULL)
		return ctl_usage_error("pool: \"%s\" is not a name", name);
	r = redisCommand(rc, "EXISTS %s", key);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		return pool_redis_error(rc, r, pause ? "pause" : "resume");
	if (r->integer == 0) {
		freeReplyObject(r);
		return ctl_error("pool: no pool %s", name);
	}
	freeReplyObject(r);
	r = pause ? redisCommand(rc, "HSET %s paused 1", key) :
	    redisCommand(rc, "HSET %s paused 0 failing %s fails 0", key, "");
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		return pool_redis_error(rc, r, pause ? "pause" : "resume");
	freeReplyObject(r);
	pool_announce(c, name, pause ? "paused" : "resumed");
	printf("pool %s %s\n", name, pause ? "paused" : "resumed");
	return 0;
}

static int
pool_rm(struct ctl *c, redisContext *rc, const char *name, int argc,
    char **argv)
{
	struct pool_args pa = {0};
	char key[KEY_MAX], kl[KEY_MAX];
	redisReply *r;
	long leases = 0;
	int rv;

	if (key_pool(key, sizeof(key), name) == NULL)
		return ctl_usage_error("pool rm: \"%s\" is not a name", name);
	if ((rv = pool_parse(&pa, argc, argv)) != 0)
		return rv;
	r = redisCommand(rc, "EXISTS %s", key);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		return pool_redis_error(rc, r, "rm");
	if (r->integer == 0) {
		freeReplyObject(r);
		return ctl_error("pool rm: no pool %s", name);
	}
	freeReplyObject(r);
	/* the leases of this pool: values start "NAME " */
	r = redisCommand(rc, "HVALS %s", key_leases(kl, sizeof(kl)));
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return pool_redis_error(rc, r, "rm");
	for (size_t i = 0; i < r->elements; i++)
		if (strncmp(r->element[i]->str, name, strlen(name)) == 0 &&
		    r->element[i]->str[strlen(name)] == ' ')
			leases++;
	freeReplyObject(r);
	if (leases > 0 && !pa.force)
		return ctl_error("pool rm: %s has %ld lease%s; --force saves "
		    "every workspace, releases them and removes the pool",
		    name, leases, leases == 1 ? "" : "s");
	r = redisCommand(rc, "HSET %s removing 1", key);
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		return pool_redis_error(rc, r, "rm");
	freeReplyObject(r);
	pool_announce(c, name, "removing");
	printf("pool %s: removing (%ld lease%s released first)\n", name,
	    leases, leases == 1 ? "" : "s");
	return 0;
}

static int
pool_list(redisContext *rc)
{
	char key[KEY_MAX], kp[KEY_MAX], km[KEY_MAX], kf[KEY_MAX], ks[KEY_MAX];
	redisReply *names, *r;

	names = redisCommand(rc, "SMEMBERS %s", key_pools(key, sizeof(key)));
	if (names == NULL || names->type != REDIS_REPLY_ARRAY)
		return pool_redis_error(rc, names, "list");
	printf("%-20s %-8s %-7s %-7s %-8s %-8s %s\n", "POOL", "DRIVER",
	    "ACTIVE", "FREE", "SPARE", "MEMBERS", "STATE");
	for (size_t i = 0; i < names->elements; i++) {
		const char *n = names->element[i]->str;
		long nm = 0, nf = 0, ns = 0;

		if (key_pool(kp, sizeof(kp), n) == NULL)
			continue;
		key_pool_members(km, sizeof(km), n);
		key_pool_free(kf, sizeof(kf), n);
		key_pool_spare(ks, sizeof(ks), n);
		if ((r = redisCommand(rc, "SCARD %s", km)) != NULL &&
		    r->type == REDIS_REPLY_INTEGER)
			nm = (long)r->integer;
		freeReplyObject(r);
		if ((r = redisCommand(rc, "SCARD %s", kf)) != NULL &&
		    r->type == REDIS_REPLY_INTEGER)
			nf = (long)r->integer;
		freeReplyObject(r);
		if ((r = redisCommand(rc, "SCARD %s", ks)) != NULL &&
		    r->type == REDIS_REPLY_INTEGER)
			ns = (long)r->integer;
		freeReplyObject(r);
		if ((r = redisCommand(rc, "HGETALL %s", kp)) == NULL ||
		    r->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			continue;
		}
		printf("%-20s %-8s %-7s %-7ld %-8ld %-8ld %s\n", n,
		    pool_get(r, "driver"), pool_get(r, "active"), nf, ns, nm,
		    strcmp(pool_get(r, "removing"), "1") == 0 ? "removing" :
		    pool_get(r, "failing")[0] != '\0' ? "failing" :
		    strcmp(pool_get(r, "paused"), "1") == 0 ? "paused" :
		    "ok");
		freeReplyObject(r);
	}
	freeReplyObject(names);
	return 0;
}

static int
pool_show(redisContext *rc, const char *name)
{
	char kp[KEY_MAX], km[KEY_MAX], kz[KEY_MAX], kmem[KEY_MAX];
	redisReply *spec, *ids, *r, *d;
	long long now;
	bool docker;
	static const char *const fields[] = {"driver", "image", "command",
	    "cport", "ready", "domain", "active", "inactive", "ttl",
	    "workspace", "env", "paused", "fails", "failing"};

	if (key_pool(kp, sizeof(kp), name) == NULL)
		return ctl_usage_error("pool show: \"%s\" is not a name", name);
	spec = redisCommand(rc, "HGETALL %s", kp);
	if (spec == NULL || spec->type != REDIS_REPLY_ARRAY)
		return pool_redis_error(rc, spec, "show");
	if (spec->elements == 0) {
		freeReplyObject(spec);
		return ctl_error("pool show: no pool %s", name);
	}
	printf("%-18s %s\n", "pool", name);
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		const char *v = pool_get(spec, fields[i]);

		if (v[0] != '\0')
			printf("%-18s %s\n", fields[i], v);
	}
	if (strcmp(pool_get(spec, "removing"), "1") == 0)
		printf("%-18s %s\n", "removing", "yes");
	docker = strcmp(pool_get(spec, "driver"), "process") != 0;
	freeReplyObject(spec);
	r = redisCommand(rc, "TIME");
	now = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 ?
	    atoll(r->element[0]->str) * 1000 +
	    atoll(r->element[1]->str) / 1000 : 0;
	freeReplyObject(r);
	key_pool_members(km, sizeof(km), name);
	ids = redisCommand(rc, "SORT %s ALPHA", km);
	if (ids == NULL || ids->type != REDIS_REPLY_ARRAY)
		return pool_redis_error(rc, ids, "show");
	/* a member's container is named by the docker driver
	 * (member_docker.c); a process member is its directory */
	printf("\n%-10s %-10s %-22s %-32s %-10s %s\n", "MEMBER", "STATE",
	    "ADDR", "DOMAIN", "LEASE LEFT", "CONTAINER");
	for (size_t i = 0; i < ids->elements; i++) {
		const char *id = ids->element[i]->str;
		char left[32] = "-";

		if (key_member(kmem, sizeof(kmem), name, id) == NULL)
			continue;
		r = redisCommand(rc, "HGETALL %s", kmem);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			continue;
		}
		if (strcmp(pool_get(r, "state"), "leased") == 0 &&
		    (d = redisCommand(rc, "ZSCORE %s %s",
		    key_lease_deadlines(kz, sizeof(kz)),
		    pool_get(r, "domain"))) != NULL) {
			if (d->type == REDIS_REPLY_STRING)
				snprintf(left, sizeof(left), "%llds",
				    (atoll(d->str) - now) / 1000);
			freeReplyObject(d);
		}
		printf("%-10s %-10s %-22s %-32s %-10s %s%s%s%s%s\n", id,
		    pool_get(r, "state"), pool_get(r, "addr")[0] ?
		    pool_get(r, "addr") : "-", pool_get(r, "domain")[0] ?
		    pool_get(r, "domain") : "-", left,
		    docker ? "devcloud-pool-" : "members_dir/",
		    name, docker ? "-" : "/", id,
		    pool_get(r, "reason")[0] ? "  " : "");
		if (pool_get(r, "reason")[0] != '\0')
			printf("%-10s %s\n", "", pool_get(r, "reason"));
		freeReplyObject(r);
	}
	freeReplyObject(ids);
	return 0;
}

static int
pool_release(struct ctl *c, char *domain)
{
	struct msg m, reply;
	char err[600];

	if (app_domain_normalize(domain) != 0 || strchr(domain, '*') != NULL)
		return ctl_usage_error("pool release: \"%s\" is not a domain",
		    domain);
	msg_init(&m, MSG_RELEASE);
	snprintf(m.domain, sizeof(m.domain), "%s", domain);
	snprintf(m.reason, sizeof(m.reason), "manual");
	if (bus_call_sync(c->cfg.idepool.d.control, c->source, &m,
	    c->wait_ms, &reply, err, sizeof(err)) != 0)
		return ctl_error("pool release: %s", err);
	if (reply.type != MSG_RELEASE_OK)
		return ctl_error("pool release: %s", reply.reason);
	printf("%s released: files saved, member %s of pool %s destroyed\n",
	    domain, reply.instance, reply.pool);
	return 0;
}

int
ctl_pool(struct ctl *c, int argc, char **argv)
{
	redisContext *rc;
	int rv;

	if (argc < 1 || strcmp(argv[0], "--help") == 0) {
		fputs(pool_usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	if (strcmp(argv[0], "release") == 0) {
		if (argc != 2)
			return ctl_usage_error("usage: pool release DOMAIN");
		return pool_release(c, argv[1]);
	}
	if (strcmp(argv[0], "list") != 0 && argc < 2)
		return ctl_usage_error("usage: pool %s NAME", argv[0]);
	if ((rc = ctl_redis(c, false)) == NULL)
		return 1;
	if (strcmp(argv[0], "create") == 0 || strcmp(argv[0], "update") == 0)
		rv = pool_write(c, rc, argv[1], argv[0][0] == 'c', argc - 1,
		    argv + 1);
	else if (strcmp(argv[0], "rm") == 0)
		rv = pool_rm(c, rc, argv[1], argc - 1, argv + 1);
	else if (strcmp(argv[0], "list") == 0)
		rv = pool_list(rc);
	else if (strcmp(argv[0], "show") == 0)
		rv = pool_show(rc, argv[1]);
	else if (strcmp(argv[0], "pause") == 0 ||
	    strcmp(argv[0], "resume") == 0)
		rv = pool_flag(c, rc, argv[1], argv[0][0] == 'p');
	else
		rv = ctl_usage_error("pool: unknown command \"%s\"\n%s",
		    argv[0], pool_usage);
	redisFree(rc);
	return rv;
}
