/*
 * Leases: a domain bound to one member.
 *
 * acquire (pool, domain), from a proxy holding the domain's first
 * request. One script binds the domain (domains hash) to a member, or
 * says it is bound already:
 *
 *   took ID TIER    ours to make ready: TIER active (free, ready),
 *                   inactive (created: start it), cold (create and
 *                   start it); then the files go in and the lease is
 *                   recorded (leases hash, leasedeadlines), and the
 *                   proxy is answered
 *   leased VALUE    served already: answered at once
 *   bound STATE     another replica (or an earlier acquire here) is
 *                   making it ready, or saving its files: asked again
 *                   every LEASE_RETRY_MS until leased or unbound
 *
 * A failure on the way unbinds the domain and destroys the member: the
 * developer's files were only read, so nothing is lost.
 *
 * Release (the deadline lapsed, or `devcloudctl pool release`): one
 * script takes the lease out of leases (the proxies stop routing) and
 * marks the member "releasing"; the files are saved into the store,
 * then the member is destroyed and forgotten, which unbinds the domain.
 * While it is bound, an acquire of the domain waits, so a developer who
 * comes back gets the files just saved. A save that fails stops the
 * member and keeps it ("kept"), bound: its files are in it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "idepool.h"
#include "keys.h"
#include "log.h"

#define LEASE_RETRY_MS 20

static struct metric m_leases = METRIC_COUNTER(
    "devcloud_idepool_leases_total", "Leases granted.");
static struct metric m_misses = METRIC_COUNTER(
    "devcloud_idepool_misses_total",
    "Acquires that found no free ACTIVE member.");
static struct metric m_acquire_failures = METRIC_COUNTER(
    "devcloud_idepool_acquire_failures_total",
    "Acquires answered with an error.");
static struct metric m_releases = METRIC_COUNTER(
    "devcloud_idepool_releases_total", "Leases released, files saved.");
static struct metric m_save_failures = METRIC_COUNTER(
    "devcloud_idepool_save_failures_total",
    "Releases whose files could not be saved (member kept).");

/* Acquire latency, ms: a fixed-bucket histogram. */
static const int64_t acq_bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500,
    1000, 2500, 5000, 10000, 30000, 60000};
#define ACQ_NB (sizeof(acq_bounds) / sizeof(acq_bounds[0]))
static int64_t acq_counts[ACQ_NB + 1];
static int64_t acq_sum, acq_n;

/*
 * KEYS domains, leases, pool, free, spare, members, memberseq; ARGV
 * domain, pool, member template, now, owner.
 */
static const char lease_bind_script[] =
    "local b = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if b then\n"
    "  local l = redis.call('HGET', KEYS[2], ARGV[1])\n"
    "  if l then return {'leased', l} end\n"
    "  local id = string.match(b, '^[^/]+/(.+)$')\n"
    "  local st = redis.call('HGET', ARGV[3] .. (id or ''), 'state')\n"
    "  return {'bound', st or '', b}\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[3]) == 0 then return {'nopool'} end\n"
    "local p = redis.call('HMGET', KEYS[3], 'failing', 'removing')\n"
    "if p[2] == '1' then return {'nopool'} end\n"
    "local id = redis.call('SPOP', KEYS[4])\n"
    "local tier = 'active'\n"
    "if not id then\n"
    "  if p[1] and p[1] ~= '' then return {'failing', p[1]} end\n"
    "  id = redis.call('SPOP', KEYS[5])\n"
    "  tier = 'inactive'\n"
    "  if not id then\n"
    "    id = 'm' .. redis.call('INCR', KEYS[7])\n"
    "    redis.call('SADD', KEYS[6], id)\n"
    "    tier = 'cold'\n"
    "  end\n"
    "end\n"
    "local mk = ARGV[3] .. id\n"
    "redis.call('HSET', mk, 'state', 'binding', 'domain', ARGV[1],"
    " 'owner', ARGV[5], 'since', ARGV[4], 'tier', tier)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '/' .. id)\n"
    "return {'took', id, tier, redis.call('HGET', mk, 'addr') or ''}\n";

/* KEYS domains, leases, leasedeadlines, member; ARGV domain, binding,
 * lease value, deadline, now. */
static const char lease_record_script[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', KEYS[4], 'state', 'leased', 'owner', '',"
    " 'since', ARGV[5])\n"
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])\n"
    "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])\n"
    "return 1\n";

/*
 * KEYS domains, leases, leasedeadlines, member; ARGV domain, binding,
 * now, owner, due ("1": only if the deadline has passed). Returns
 * {"release"} when the member is now ours to release, or why not.
 */
static const char lease_release_script[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then\n"
    "  return {'none'} end\n"
    "local st = redis.call('HGET', KEYS[4], 'state')\n"
    "if ARGV[5] == '1' then\n"
    "  local d = redis.call('ZSCORE', KEYS[3], ARGV[1])\n"
    "  if not d or tonumber(d) > tonumber(ARGV[3]) then\n"
    "    if not d and st ~= 'leased' then return {'busy', st or ''} end\n"
    "    if d then return {'notdue'} end\n"
    "  end\n"
    "end\n"
    "if st ~= 'leased' and st ~= 'kept' then return {'busy', st or ''} end\n"
    "redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "redis.call('HSET', KEYS[4], 'state', 'releasing', 'owner', ARGV[4],"
    " 'since', ARGV[3])\n"
    "return {'release'}\n";

/* A domain is a directory of the store: only what app_domain_valid
 * takes, and never a wildcard. */
static bool
lease_domain_ok(const char *d)
{
	return app_domain_valid(d) == 0 && strchr(d, '*') == NULL;
}

static int
lease_store_dir(struct idepool *ip, const char *domain, char *buf,
    size_t len)
{
	int n = snprintf(buf, len, "%s/%s", ip->svc->cfg.idepool.workspace_dir,
	    domain);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* ---- acquire ---- */

struct acquire {
	struct idepool *ip;
	struct bus_request *req;
	char pool[MSG_NAME_MAX];
	char domain[MSG_DOMAIN_MAX];
	char id[MSG_NAME_MAX];
	char tier[16];
	char addr[MSG_ADDR_MAX];
	int64_t t0;			/* mono ms */
	uv_timer_t retry;
	bool timer_on;
};

static void
acquire_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
acquire_free(struct acquire *a)
{
	uv_close((uv_handle_t *)&a->retry, acquire_closed);
}

static void
acquire_fail(struct acquire *a, const char *fmt, const char *why)
{
	char reason[MSG_TEXT_MAX];

	snprintf(reason, sizeof(reason), fmt, why);
	metric_add(&m_acquire_failures, 1);
	log_warn("acquire failed", "pool=%s domain=%s err=\"%s\"", a->pool,
	    a->domain, reason);
	if (a->req != NULL)
		(void)bus_reply_error(a->ip->svc->bus, a->req, reason);
	a->req = NULL;
	acquire_free(a);
}

/* A member we took could not serve: unbind and destroy it. */
static void
acquire_abandon(struct acquire *a, const char *why)
{
	struct pool *p = pool_find(a->ip, a->pool);

	if (p != NULL)
		pool_discard(a->ip, p, a->id, a->domain);
	acquire_fail(a, "%s", why);
}

static void
acquire_answer(struct acquire *a, const char *value)
{
	char member[MSG_NAME_MAX], addr[MSG_ADDR_MAX], pool[MSG_NAME_MAX];
	long long ttl;
	struct msg m;

	if (sscanf(value, "%63s %63s %255s %lld", pool, member, addr, &ttl) !=
	    4) {
		acquire_fail(a, "bad lease record: %s", value);
		return;
	}
	msg_init(&m, MSG_ACQUIRE_OK);
	snprintf(m.pool, sizeof(m.pool), "%s", pool);
	snprintf(m.domain, sizeof(m.domain), "%s", a->domain);
	snprintf(m.instance, sizeof(m.instance), "%s", member);
	snprintf(m.addr, sizeof(m.addr), "%s", addr);
	snprintf(m.tier, sizeof(m.tier), "%s", a->tier[0] ? a->tier : "leased");
	m.ttl_s = ttl;
	m.acquire_ms = service_mono_ms() - a->t0;
	if (a->req != NULL)
		(void)bus_reply(a->ip->svc->bus, a->req, &m);
	a->req = NULL;
	acquire_free(a);
}

static void acquire_try(struct acquire *a);

static void
acquire_retry_cb(uv_timer_t *t)
{
	acquire_try(t->data);
}

static void
acquire_recorded(struct store *st, redisReply *r, void *arg)
{
	struct acquire *a = arg;
	struct pool *p = pool_find(a->ip, a->pool);
	char value[MSG_NAME_MAX * 2 + MSG_ADDR_MAX + 32];
	int64_t ms = service_mono_ms() - a->t0;
	struct msg m;

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1 ||
	    p == NULL) {
		acquire_abandon(a, "the lease could not be recorded");
		return;
	}
	metric_add(&m_leases, 1);
	acq_sum += ms;
	acq_n++;
	{
		size_t i = 0;

		while (i < ACQ_NB && ms > acq_bounds[i])
			i++;
		acq_counts[i]++;
	}
	log_info("member leased", "pool=%s domain=%s member=%s tier=%s "
	    "acquire_ms=%lld", a->pool, a->domain, a->id, a->tier,
	    (long long)ms);
	msg_init(&m, MSG_POOL_LEASED);
	snprintf(m.pool, sizeof(m.pool), "%s", a->pool);
	snprintf(m.domain, sizeof(m.domain), "%s", a->domain);
	snprintf(m.instance, sizeof(m.instance), "%s", a->id);
	snprintf(m.addr, sizeof(m.addr), "%s", a->addr);
	snprintf(m.tier, sizeof(m.tier), "%s", a->tier);
	m.ttl_s = p->ttl_s;
	m.acquire_ms = ms;
	snprintf(value, sizeof(value), "%s %s %s %d", a->pool, a->id, a->addr,
	    p->ttl_s);
	acquire_answer(a, value);
	pool_publish(a->ip, &m);
	pool_refill(a->ip, p);
}

static void
acquire_loaded(const struct member_result *r, void *arg)
{
	struct acquire *a = arg;
	struct pool *p = pool_find(a->ip, a->pool);
	char kd[KEY_MAX], kl[KEY_MAX], kz[KEY_MAX], km[KEY_MAX];
	char binding[MSG_NAME_MAX * 2 + 2], value[MSG_NAME_MAX * 2 +
	    MSG_ADDR_MAX + 32], deadline[24], now[24];
	const char *av[9];
	char why[MSG_TEXT_MAX];

	if (!r->ok || p == NULL) {
		snprintf(why, sizeof(why), "the files of %.250s could not be "
		    "loaded: %.200s", a->domain, r->ok ? "pool removed" : r->err);
		acquire_abandon(a, why);
		return;
	}
	snprintf(binding, sizeof(binding), "%s/%s", a->pool, a->id);
	snprintf(value, sizeof(value), "%s %s %s %d", a->pool, a->id, a->addr,
	    p->ttl_s);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	snprintf(deadline, sizeof(deadline), "%lld",
	    (long long)(service_now_ms() + (int64_t)p->ttl_s * 1000));
	if (key_member(km, sizeof(km), a->pool, a->id) == NULL) {
		acquire_abandon(a, "bad member id");
		return;
	}
	av[0] = key_domains(kd, sizeof(kd));
	av[1] = key_leases(kl, sizeof(kl));
	av[2] = key_lease_deadlines(kz, sizeof(kz));
	av[3] = km;
	av[4] = a->domain;
	av[5] = binding;
	av[6] = value;
	av[7] = deadline;
	av[8] = now;
	if (ip_eval(a->ip, lease_record_script, 4, 9, av, acquire_recorded,
	    a) < 0)
		acquire_abandon(a, "Redis is not reachable");
}

/* The member answers at A->addr: its files go in. */
static void
acquire_load(struct acquire *a)
{
	struct pool *p = pool_find(a->ip, a->pool);
	char dir[CONFIG_PATH_MAX + MSG_DOMAIN_MAX + 2];
	char err[MEMBER_ERR_MAX], why[MSG_TEXT_MAX];

	if (p == NULL) {
		acquire_abandon(a, "the pool was removed");
		return;
	}
	if (lease_store_dir(a->ip, a->domain, dir, sizeof(dir)) < 0 ||
	    ((mkdir(a->ip->svc->cfg.idepool.workspace_dir, 0755) < 0 &&
	    errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST))) {
		snprintf(why, sizeof(why), "cannot make the workspace %.300s: %s",
		    dir, strerror(errno));
		acquire_abandon(a, why);
		return;
	}
	if (member_load(a->ip->members, &p->spec, a->id, dir,
	    a->ip->svc->cfg.idepool.workspace_max_bytes, acquire_loaded, a,
	    err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "the files of %.250s could not be "
		    "loaded: %.200s", a->domain, err);
		acquire_abandon(a, why);
	}
}

static void
acquire_booted(struct idepool *ip, bool ok, const char *what, void *arg)
{
	struct acquire *a = arg;
	struct pool *p = pool_find(ip, a->pool);

	if (!ok) {
		if (p != NULL)
			pool_start_failed(ip, p, what);
		acquire_abandon(a, what);
		return;
	}
	if (p != NULL)
		pool_start_ok(ip, p);
	snprintf(a->addr, sizeof(a->addr), "%s", what);
	acquire_load(a);
}

static void
acquire_bound(struct store *st, redisReply *r, void *arg)
{
	struct acquire *a = arg;
	struct pool *p = pool_find(a->ip, a->pool);
	const char *what;
	int64_t waited = service_mono_ms() - a->t0;

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		acquire_fail(a, "%s", r != NULL && r->type == REDIS_REPLY_ERROR ?
		    r->str : "Redis is not reachable");
		return;
	}
	what = r->element[0]->str;
	if (strcmp(what, "leased") == 0 && r->elements >= 2) {
		acquire_answer(a, r->element[1]->str);
		return;
	}
	if (strcmp(what, "nopool") == 0 || p == NULL) {
		acquire_fail(a, "no pool %s", a->pool);
		return;
	}
	if (strcmp(what, "failing") == 0) {
		acquire_fail(a, "pool is failing: %s", r->elements >= 2 ?
		    r->element[1]->str : "");
		return;
	}
	if (strcmp(what, "bound") == 0) {
		const char *state = r->elements >= 2 ? r->element[1]->str : "";

		if (strcmp(state, "kept") == 0) {
			acquire_fail(a, "the files of this workspace could not "
			    "be saved at its last release and are kept in its "
			    "member (%s); an operator must recover them: "
			    "devcloudctl pool release DOMAIN",
			    r->elements >= 3 ? r->element[2]->str : "");
			return;
		}
		if (waited >= a->ip->svc->cfg.idepool.acquire_timeout_ms) {
			acquire_fail(a, "the domain's member is still %s",
			    state[0] ? state : "being made ready");
			return;
		}
		uv_timer_start(&a->retry, acquire_retry_cb, LEASE_RETRY_MS, 0);
		return;
	}
	if (strcmp(what, "took") != 0 || r->elements < 4) {
		acquire_fail(a, "unexpected answer: %s", what);
		return;
	}
	snprintf(a->id, sizeof(a->id), "%s", r->element[1]->str);
	snprintf(a->tier, sizeof(a->tier), "%s", r->element[2]->str);
	snprintf(a->addr, sizeof(a->addr), "%s", r->element[3]->str);
	log_info("member bound", "pool=%s domain=%s member=%s tier=%s",
	    a->pool, a->domain, a->id, a->tier);
	if (strcmp(a->tier, "active") == 0 && a->addr[0] != '\0') {
		/* the refill waits for the lease (acquire_recorded): its
		 * docker start would compete with this load for dockerd */
		acquire_load(a);
		return;
	}
	pool_refill(a->ip, p);
	metric_add(&m_misses, 1);
	pool_boot(a->ip, p, a->id, strcmp(a->tier, "cold") == 0,
	    acquire_booted, a);
}

static void
acquire_try(struct acquire *a)
{
	char kd[KEY_MAX], kl[KEY_MAX], kp[KEY_MAX], kf[KEY_MAX], ks[KEY_MAX];
	char km[KEY_MAX], kq[KEY_MAX], tpl[KEY_MAX], now[24];
	const char *av[12];

	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (key_pool(kp, sizeof(kp), a->pool) == NULL ||
	    key_pool_free(kf, sizeof(kf), a->pool) == NULL ||
	    key_pool_spare(ks, sizeof(ks), a->pool) == NULL ||
	    key_pool_members(km, sizeof(km), a->pool) == NULL ||
	    key_member_seq(kq, sizeof(kq), a->pool) == NULL ||
	    pool_member_tpl(tpl, sizeof(tpl), a->pool) == NULL) {
		acquire_fail(a, "bad pool name %s", a->pool);
		return;
	}
	av[0] = key_domains(kd, sizeof(kd));
	av[1] = key_leases(kl, sizeof(kl));
	av[2] = kp;
	av[3] = kf;
	av[4] = ks;
	av[5] = km;
	av[6] = kq;
	av[7] = a->domain;
	av[8] = a->pool;
	av[9] = tpl;
	av[10] = now;
	av[11] = a->ip->svc->source;
	if (ip_eval(a->ip, lease_bind_script, 7, 12, av, acquire_bound, a) < 0)
		acquire_fail(a, "%s", "Redis is not reachable");
}

static void
acquire_start(struct idepool *ip, struct bus_request *req, const struct msg *m)
{
	struct acquire *a;
	struct pool *p = pool_find(ip, m->pool);

	if (!keys_name_valid(m->pool)) {
		(void)bus_reply_error(ip->svc->bus, req, "bad pool name");
		return;
	}
	if (!lease_domain_ok(m->domain)) {
		(void)bus_reply_error(ip->svc->bus, req, "bad domain");
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		(void)bus_reply_error(ip->svc->bus, req, "out of memory");
		return;
	}
	a->ip = ip;
	a->req = req;
	a->t0 = service_mono_ms();
	snprintf(a->pool, sizeof(a->pool), "%s", m->pool);
	snprintf(a->domain, sizeof(a->domain), "%s", m->domain);
	uv_timer_init(ip->svc->loop, &a->retry);
	a->retry.data = a;
	if (p == NULL || !p->loaded) {
		/* a pool made since we last read: read it first */
		pool_load(ip, m->pool, NULL, NULL);
	}
	acquire_try(a);
}

/* ---- release ---- */

struct release {
	struct idepool *ip;
	struct bus_request *req;
	char pool[MSG_NAME_MAX];
	char id[MSG_NAME_MAX];
	char domain[MSG_DOMAIN_MAX];
	char reason[32];
	bool due;
};

static void
release_reply(struct release *rl, const char *err)
{
	struct msg m;

	if (rl->req == NULL)
		return;
	if (err != NULL) {
		(void)bus_reply_error(rl->ip->svc->bus, rl->req, err);
	} else {
		msg_init(&m, MSG_RELEASE_OK);
		snprintf(m.pool, sizeof(m.pool), "%s", rl->pool);
		snprintf(m.domain, sizeof(m.domain), "%s", rl->domain);
		snprintf(m.instance, sizeof(m.instance), "%s", rl->id);
		snprintf(m.reason, sizeof(m.reason), "%s", rl->reason);
		(void)bus_reply(rl->ip->svc->bus, rl->req, &m);
	}
	rl->req = NULL;
}

static void
release_kept(const struct member_result *r, void *arg)
{
	struct release *rl = arg;

	if (!r->ok)
		log_warn("member not stopped", "pool=%s member=%s err=\"%s\"",
		    rl->pool, rl->id, r->err);
	free(rl);
}

static void
release_saved(const struct member_result *r, void *arg)
{
	struct release *rl = arg;
	struct idepool *ip = rl->ip;
	struct pool *p = pool_find(ip, rl->pool);
	char km[KEY_MAX], err[MEMBER_ERR_MAX], why[MSG_TEXT_MAX];
	struct msg m;

	if (p == NULL) {
		release_reply(rl, "the pool is gone");
		free(rl);
		return;
	}
	if (r->ok) {
		metric_add(&m_releases, 1);
		log_info("lease released", "pool=%s domain=%s member=%s "
		    "reason=%s bytes=%lld", rl->pool, rl->domain, rl->id,
		    rl->reason, (long long)r->bytes);
		pool_discard(ip, p, rl->id, rl->domain);
		msg_init(&m, MSG_POOL_RELEASED);
		snprintf(m.pool, sizeof(m.pool), "%s", rl->pool);
		snprintf(m.domain, sizeof(m.domain), "%s", rl->domain);
		snprintf(m.instance, sizeof(m.instance), "%s", rl->id);
		snprintf(m.reason, sizeof(m.reason), "%s", rl->reason);
		pool_publish(ip, &m);
		release_reply(rl, NULL);
		free(rl);
		return;
	}
	/* the files are in the member only: keep it, stopped */
	metric_add(&m_save_failures, 1);
	snprintf(why, sizeof(why), "%s", r->err);
	log_error("workspace not saved: member kept", "pool=%s domain=%s "
	    "member=%s err=\"%s\"", rl->pool, rl->domain, rl->id, why);
	if (key_member(km, sizeof(km), rl->pool, rl->id) != NULL &&
	    ip->svc->store != NULL)
		(void)store_command(ip->svc->store, NULL, NULL,
		    "HSET %s state kept owner %s reason %s", km, "", why);
	msg_init(&m, MSG_POOL_SAVE_FAILED);
	snprintf(m.pool, sizeof(m.pool), "%s", rl->pool);
	snprintf(m.domain, sizeof(m.domain), "%s", rl->domain);
	snprintf(m.instance, sizeof(m.instance), "%s", rl->id);
	snprintf(m.reason, sizeof(m.reason), "%s", why);
	pool_publish(ip, &m);
	{
		char reply[MSG_TEXT_MAX];

		snprintf(reply, sizeof(reply), "the files could not be saved "
		    "(member %s kept, stopped): %.380s", rl->id, why);
		release_reply(rl, reply);
	}
	if (member_stop(ip->members, &p->spec, rl->id, release_kept, rl, err,
	    sizeof(err)) < 0) {
		log_warn("member not stopped", "pool=%s member=%s err=\"%s\"",
		    rl->pool, rl->id, err);
		free(rl);
	}
}

void
lease_release_run(struct idepool *ip, struct pool *p, const char *id,
    const char *domain, const char *reason, struct bus_request *req)
{
	struct release *rl = calloc(1, sizeof(*rl));
	char dir[CONFIG_PATH_MAX + MSG_DOMAIN_MAX + 2], err[MEMBER_ERR_MAX];
	char why[MSG_TEXT_MAX];

	if (rl == NULL) {
		if (req != NULL)
			(void)bus_reply_error(ip->svc->bus, req,
			    "out of memory");
		return;
	}
	rl->ip = ip;
	rl->req = req;
	snprintf(rl->pool, sizeof(rl->pool), "%s", p->spec.name);
	snprintf(rl->id, sizeof(rl->id), "%s", id);
	snprintf(rl->domain, sizeof(rl->domain), "%s", domain);
	snprintf(rl->reason, sizeof(rl->reason), "%s", reason);
	if (lease_store_dir(ip, domain, dir, sizeof(dir)) < 0 ||
	    member_save(ip->members, &p->spec, id, dir,
	    ip->svc->cfg.idepool.workspace_max_bytes, release_saved, rl, err,
	    sizeof(err)) < 0) {
		struct member_result r = {.ok = false};

		snprintf(why, sizeof(why), "%s", err);
		snprintf(r.err, sizeof(r.err), "%s", why);
		release_saved(&r, rl);
	}
}

static void
release_marked(struct store *st, redisReply *r, void *arg)
{
	struct release *rl = arg;
	struct idepool *ip = rl->ip;
	struct pool *p = pool_find(ip, rl->pool);
	char err[MSG_TEXT_MAX];

	(void)st;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "release") == 0 && p != NULL) {
		lease_release_run(ip, p, rl->id, rl->domain, rl->reason,
		    rl->req);
		free(rl);
		return;
	}
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_STRING)
		snprintf(err, sizeof(err), "%s is not released: %s%s%s",
		    rl->domain, strcmp(r->element[0]->str, "none") == 0 ?
		    "no lease" : r->element[0]->str, r->elements >= 2 ?
		    " " : "", r->elements >= 2 ? r->element[1]->str : "");
	else
		snprintf(err, sizeof(err), "%s is not released: %s",
		    rl->domain, p == NULL ? "no such pool here" :
		    "Redis is not reachable");
	release_reply(rl, err);
	free(rl);
}

static void
release_binding_cb(struct store *st, redisReply *r, void *arg)
{
	struct release *rl = arg;
	struct idepool *ip = rl->ip;
	char kd[KEY_MAX], kl[KEY_MAX], kz[KEY_MAX], km[KEY_MAX], now[24];
	char binding[MSG_NAME_MAX * 2 + 2];
	const char *slash, *av[9];

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_STRING ||
	    (slash = strchr(r->str, '/')) == NULL ||
	    (size_t)(slash - r->str) >= sizeof(rl->pool)) {
		release_reply(rl, r != NULL && r->type == REDIS_REPLY_NIL ?
		    "no lease for this domain" : "Redis is not reachable");
		free(rl);
		return;
	}
	snprintf(binding, sizeof(binding), "%s", r->str);
	snprintf(rl->pool, sizeof(rl->pool), "%.*s", (int)(slash - r->str),
	    r->str);
	snprintf(rl->id, sizeof(rl->id), "%s", slash + 1);
	if (pool_find(ip, rl->pool) == NULL ||
	    key_member(km, sizeof(km), rl->pool, rl->id) == NULL) {
		release_reply(rl, "the domain's pool is unknown here");
		free(rl);
		return;
	}
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	av[0] = key_domains(kd, sizeof(kd));
	av[1] = key_leases(kl, sizeof(kl));
	av[2] = key_lease_deadlines(kz, sizeof(kz));
	av[3] = km;
	av[4] = rl->domain;
	av[5] = binding;
	av[6] = now;
	av[7] = ip->svc->source;
	av[8] = rl->due ? "1" : "0";
	if (ip_eval(ip, lease_release_script, 4, 9, av, release_marked, rl) <
	    0) {
		release_reply(rl, "Redis is not reachable");
		free(rl);
	}
}

/* Releases DOMAIN: when DUE, only if its deadline has passed. */
static void
lease_release(struct idepool *ip, const char *domain, const char *reason,
    bool due, struct bus_request *req)
{
	struct release *rl = calloc(1, sizeof(*rl));
	char kd[KEY_MAX];

	if (rl == NULL || ip->svc->store == NULL) {
		if (req != NULL)
			(void)bus_reply_error(ip->svc->bus, req,
			    "out of memory");
		free(rl);
		return;
	}
	rl->ip = ip;
	rl->req = req;
	rl->due = due;
	snprintf(rl->domain, sizeof(rl->domain), "%s", domain);
	snprintf(rl->reason, sizeof(rl->reason), "%s", reason);
	if (store_command(ip->svc->store, release_binding_cb, rl, "HGET %s %s",
	    key_domains(kd, sizeof(kd)), domain) < 0) {
		release_reply(rl, "Redis is not reachable");
		free(rl);
	}
}

static void
sweep_cb(struct store *st, redisReply *r, void *arg)
{
	struct idepool *ip = arg;

	(void)st;
	ip->sweeping = false;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    lease_domain_ok(r->element[i]->str))
			lease_release(ip, r->element[i]->str, "idle", true,
			    NULL);
}

void
lease_sweep(struct idepool *ip)
{
	char kz[KEY_MAX], now[24];

	if (ip->sweeping || ip->svc->store == NULL ||
	    !store_connected(ip->svc->store))
		return;
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (store_command(ip->svc->store, sweep_cb, ip,
	    "ZRANGEBYSCORE %s -inf %s LIMIT 0 64",
	    key_lease_deadlines(kz, sizeof(kz)), now) == 0)
		ip->sweeping = true;
}

bool
lease_on_command(struct idepool *ip, struct bus_request *req,
    const struct msg *m)
{
	switch (m->type) {
	case MSG_ACQUIRE:
		acquire_start(ip, req, m);
		return true;
	case MSG_RELEASE:
		if (!lease_domain_ok(m->domain)) {
			(void)bus_reply_error(ip->svc->bus, req, "bad domain");
			return true;
		}
		lease_release(ip, m->domain, m->reason[0] ? m->reason :
		    "manual", false, req);
		return true;
	default:
		return false;
	}
}

static void
lease_render(struct metrics_buf *b, void *arg)
{
	int64_t cum = 0;

	(void)arg;
	metrics_buf_printf(b, "# HELP devcloud_idepool_acquire_ms Time from "
	    "an acquire to its lease, files included.\n"
	    "# TYPE devcloud_idepool_acquire_ms histogram\n");
	for (size_t i = 0; i < ACQ_NB; i++) {
		cum += acq_counts[i];
		metrics_buf_printf(b, "devcloud_idepool_acquire_ms_bucket"
		    "{le=\"%lld\"} %lld\n", (long long)acq_bounds[i],
		    (long long)cum);
	}
	cum += acq_counts[ACQ_NB];
	metrics_buf_printf(b, "devcloud_idepool_acquire_ms_bucket{le=\"+Inf\"} "
	    "%lld\ndevcloud_idepool_acquire_ms_sum %lld\n"
	    "devcloud_idepool_acquire_ms_count %lld\n", (long long)cum,
	    (long long)acq_sum, (long long)acq_n);
}

void
lease_init_metrics(void)
{
	metrics_register(&m_leases);
	metrics_register(&m_misses);
	metrics_register(&m_acquire_failures);
	metrics_register(&m_releases);
	metrics_register(&m_save_failures);
	metrics_add_renderer(lease_render, NULL);
}
