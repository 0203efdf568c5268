/*
 * Reconcile: Redis against what the drivers run, at start, every
 * idepool.reconcile_interval_ms, and when a pool changes. What a replica
 * that died (kill -9) left half-done is finished here:
 *
 *   a member in a transient state whose owner is no longer alive (no
 *   heartbeat in the services zset for 3 heartbeat intervals):
 *     releasing            the release is taken over: save, destroy
 *     creating, starting,  destroyed and forgotten (a binding one is
 *     binding, removing    unbound first: the developer's next request
 *                          acquires again, and the store still holds
 *                          the files, which were only read)
 *   a member Redis has but the driver does not (a container removed
 *   behind our back): forgotten; a lease of it is ended, "lost"
 *   an ACTIVE member that is not running: destroyed and forgotten
 *   a member the driver runs that Redis does not know: destroyed
 *
 * A pool marked "removing" releases its leases (files saved), destroys
 * its other members and, once it has none, is deleted with its route.
 *
 * The same dump of the members, every two seconds, gives /metrics its
 * members-by-state gauges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idepool.h"
#include "keys.h"
#include "log.h"

#define STATS_EVERY_MS 2000

static const char *const states[] = {"creating", "inactive", "starting",
    "active", "binding", "leased", "releasing", "kept", "removing"};
#define NSTATES (sizeof(states) / sizeof(states[0]))

static int64_t counts[IDEPOOL_MAX_POOLS][NSTATES];
static char count_names[IDEPOOL_MAX_POOLS][MSG_NAME_MAX];
static int ncounted;

/*
 * Every member of a pool: {id, state, owner, domain, alive, since, ...}.
 * KEYS
 * members, services; ARGV member template, stale before (ms). An owner
 * is alive if its heartbeat is recent, or if it changed the member
 * recently: a replica just started has written no heartbeat yet (its
 * first comes 200 ms after its start), and its peers must not take its
 * first members for a dead replica's.
 */
static const char dump_script[] =
    "local out = {}\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local v = redis.call('HMGET', ARGV[1] .. id, 'state', 'owner',"
    " 'domain', 'since')\n"
    "  local alive = '1'\n"
    "  if v[2] and v[2] ~= '' then\n"
    "    local hb = redis.call('ZSCORE', KEYS[2], v[2])\n"
    "    if (not hb or tonumber(hb) < tonumber(ARGV[2])) and\n"
    "      (tonumber(v[4]) or 0) < tonumber(ARGV[2]) then alive = '0' end\n"
    "  end\n"
    "  out[#out + 1] = id\n"
    "  out[#out + 1] = v[1] or ''\n"
    "  out[#out + 1] = v[2] or ''\n"
    "  out[#out + 1] = v[3] or ''\n"
    "  out[#out + 1] = alive\n"
    "  out[#out + 1] = v[4] or '0'\n"
    "end\n"
    "return out\n";

/* A lease lost with its member. KEYS leases, leasedeadlines; ARGV
 * domain, "POOL ID " prefix of the lease value. */
static const char lost_script[] =
    "local l = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if l and string.sub(l, 1, #ARGV[2]) == ARGV[2] then\n"
    "  redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  return 1 end\n"
    "return 0\n";

/* Deletes a removed pool once it has no member. KEYS pool, members,
 * free, spare, memberseq, pools, routes; ARGV pool, domain. */
static const char drop_script[] =
    "if redis.call('SCARD', KEYS[2]) > 0 then return 0 end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])\n"
    "redis.call('SREM', KEYS[6], ARGV[1])\n"
    "if ARGV[2] ~= '' and redis.call('HGET', KEYS[7], ARGV[2]) =="
    " 'pool:' .. ARGV[1] then\n"
    "  redis.call('HDEL', KEYS[7], ARGV[2])\n"
    "  return 2 end\n"
    "return 1\n";

struct rec_member {
	char id[MSG_NAME_MAX];
	char state[16];
	char domain[MSG_DOMAIN_MAX];
	bool alive;
	bool ours;			/* the owner is this replica */
	int64_t since;			/* its last change (ms) */
	bool in_driver;
	bool running;
};

struct rec {
	struct idepool *ip;
	char pool[MSG_NAME_MAX];
	bool full;			/* with the driver's list */
	struct rec_member *m;
	size_t n;
	/* what the driver listed, before Redis is read: a member is
	 * recorded in Redis before the driver makes it, so one listed
	 * that Redis does not know afterwards is an orphan */
	struct rec_listed {
		char *id;
		bool running;
	} *listed;
	size_t nlisted;
	int64_t listed_ms;		/* when the listing started */
};

static void
rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->nlisted; i++)
		free(r->listed[i].id);
	free(r->listed);
	free(r->m);
	free(r);
}

static int
state_index(const char *s)
{
	for (size_t i = 0; i < NSTATES; i++)
		if (strcmp(states[i], s) == 0)
			return (int)i;
	return -1;
}

static void
rec_count(struct rec *r)
{
	int slot;

	for (slot = 0; slot < ncounted; slot++)
		if (strcmp(count_names[slot], r->pool) == 0)
			break;
	if (slot == ncounted) {
		if (ncounted == IDEPOOL_MAX_POOLS)
			return;
		snprintf(count_names[ncounted++], MSG_NAME_MAX, "%s", r->pool);
	}
	memset(counts[slot], 0, sizeof(counts[slot]));
	for (size_t i = 0; i < r->n; i++) {
		int k = state_index(r->m[i].state);

		if (k >= 0)
			counts[slot][k]++;
	}
}

/* The lease of member M (of P) is gone with it. */
static void
rec_lost(struct idepool *ip, struct pool *p, const struct rec_member *m)
{
	char kl[KEY_MAX], kz[KEY_MAX], prefix[MSG_NAME_MAX * 2 + 4];
	const char *av[4];
	struct msg e;

	snprintf(prefix, sizeof(prefix), "%s %s ", p->spec.name, m->id);
	av[0] = key_leases(kl, sizeof(kl));
	av[1] = key_lease_deadlines(kz, sizeof(kz));
	av[2] = m->domain;
	av[3] = prefix;
	(void)ip_eval(ip, lost_script, 2, 4, av, NULL, NULL);
	log_error("leased member lost", "pool=%s member=%s domain=%s",
	    p->spec.name, m->id, m->domain);
	msg_init(&e, MSG_POOL_RELEASED);
	snprintf(e.pool, sizeof(e.pool), "%s", p->spec.name);
	snprintf(e.domain, sizeof(e.domain), "%s", m->domain);
	snprintf(e.instance, sizeof(e.instance), "%s", m->id);
	snprintf(e.reason, sizeof(e.reason), "lost");
	pool_publish(ip, &e);
}

static void
rec_take_release(struct idepool *ip, struct pool *p,
    const struct rec_member *m, const char *reason)
{
	char km[KEY_MAX];

	if (key_member(km, sizeof(km), p->spec.name, m->id) != NULL)
		(void)store_command(ip->svc->store, NULL, NULL,
		    "HSET %s state releasing owner %s", km, ip->svc->source);
	log_info("release taken over", "pool=%s member=%s domain=%s",
	    p->spec.name, m->id, m->domain);
	lease_release_run(ip, p, m->id, m->domain, reason, NULL);
}

/* Asks idepool to release DOMAIN as if by hand (reason R). */
static void
rec_release_lease(struct idepool *ip, struct pool *p,
    const struct rec_member *m, const char *reason)
{
	char kd[KEY_MAX], kl[KEY_MAX], kz[KEY_MAX], km[KEY_MAX];

	/* the same transition as lease.c's script, done in one MULTI */
	if (key_member(km, sizeof(km), p->spec.name, m->id) == NULL)
		return;
	(void)kd;
	(void)store_command(ip->svc->store, NULL, NULL, "MULTI");
	(void)store_command(ip->svc->store, NULL, NULL, "HDEL %s %s",
	    key_leases(kl, sizeof(kl)), m->domain);
	(void)store_command(ip->svc->store, NULL, NULL, "ZREM %s %s",
	    key_lease_deadlines(kz, sizeof(kz)), m->domain);
	(void)store_command(ip->svc->store, NULL, NULL, "EXEC");
	rec_take_release(ip, p, m, reason);
}

static void
rec_drop_cb(struct store *st, redisReply *r, void *arg)
{
	struct idepool *ip = ((struct rec *)arg)->ip;
	char name[MSG_NAME_MAX];
	struct pool *p;
	struct msg m;

	(void)st;
	snprintf(name, sizeof(name), "%s", ((struct rec *)arg)->pool);
	p = pool_find(ip, name);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 1) {
		log_info("pool removed", "pool=%s", name);
		if (r->integer == 2 && p != NULL) {
			msg_init(&m, MSG_ROUTE_CHANGED);
			snprintf(m.domain, sizeof(m.domain), "%s", p->domain);
			pool_publish(ip, &m);
		}
		if (p != NULL)
			*p = ip->pools[--ip->npools];
	}
	rec_free(arg);
}

static void
rec_removing(struct rec *r, struct pool *p)
{
	struct idepool *ip = r->ip;
	char kp[KEY_MAX], km[KEY_MAX], kf[KEY_MAX], ks[KEY_MAX], kq[KEY_MAX];
	char kps[KEY_MAX], kr[KEY_MAX];
	const char *av[9];

	for (size_t i = 0; i < r->n; i++) {
		struct rec_member *m = &r->m[i];

		if (strcmp(m->state, "leased") == 0)
			rec_release_lease(ip, p, m, "pool_removed");
		else if (strcmp(m->state, "releasing") != 0 &&
		    (!m->ours || strcmp(m->state, "removing") == 0 ||
		    strcmp(m->state, "kept") == 0 ||
		    strcmp(m->state, "active") == 0 ||
		    strcmp(m->state, "inactive") == 0))
			pool_discard(ip, p, m->id, m->domain);
	}
	if (r->n > 0 || key_pool(kp, sizeof(kp), r->pool) == NULL ||
	    key_pool_members(km, sizeof(km), r->pool) == NULL ||
	    key_pool_free(kf, sizeof(kf), r->pool) == NULL ||
	    key_pool_spare(ks, sizeof(ks), r->pool) == NULL ||
	    key_member_seq(kq, sizeof(kq), r->pool) == NULL) {
		rec_free(r);
		return;
	}
	av[0] = kp;
	av[1] = km;
	av[2] = kf;
	av[3] = ks;
	av[4] = kq;
	av[5] = key_pools(kps, sizeof(kps));
	av[6] = key_routes(kr, sizeof(kr));
	av[7] = r->pool;
	av[8] = p->domain;
	if (ip_eval(ip, drop_script, 7, 9, av, rec_drop_cb, r) < 0)
		rec_free(r);
}

static bool
transient(const char *s)
{
	return strcmp(s, "creating") == 0 || strcmp(s, "starting") == 0 ||
	    strcmp(s, "binding") == 0 || strcmp(s, "removing") == 0 ||
	    strcmp(s, "releasing") == 0;
}

static struct rec_member *rec_find(struct rec *r, const char *id);

/* Both answers are in: act. */
static void
rec_act(struct rec *r)
{
	struct idepool *ip = r->ip;
	struct pool *p = pool_find(ip, r->pool);

	rec_count(r);
	if (p == NULL || !r->full) {
		rec_free(r);
		return;
	}
	if (p->removing) {
		rec_removing(r, p);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct rec_member *m = &r->m[i];

		if (transient(m->state)) {
			if (m->alive)
				continue;
			log_warn("member left half-done by a replica gone",
			    "pool=%s member=%s state=%s", r->pool, m->id,
			    m->state);
			if (strcmp(m->state, "releasing") == 0)
				rec_take_release(ip, p, m, "idle");
			else
				pool_discard(ip, p, m->id,
				    strcmp(m->state, "binding") == 0 ?
				    m->domain : NULL);
			continue;
		}
		/* one that joined after the listing is not in it */
		if (!m->in_driver && m->since < r->listed_ms) {
			log_warn("member gone from its driver", "pool=%s "
			    "member=%s state=%s", r->pool, m->id, m->state);
			if (strcmp(m->state, "leased") == 0)
				rec_lost(ip, p, m);
			pool_discard(ip, p, m->id, m->domain[0] != '\0' ?
			    m->domain : NULL);
			continue;
		}
		if (m->in_driver && (strcmp(m->state, "active") == 0 ||
		    strcmp(m->state, "leased") == 0) && !m->running) {
			log_warn("member not running", "pool=%s member=%s "
			    "state=%s", r->pool, m->id, m->state);
			if (strcmp(m->state, "leased") == 0)
				rec_take_release(ip, p, m, "idle");
			else
				pool_discard(ip, p, m->id, NULL);
		}
	}
	for (size_t i = 0; i < r->nlisted; i++) {
		if (rec_find(r, r->listed[i].id) != NULL)
			continue;
		log_warn("orphan member removed", "pool=%s member=%s", r->pool,
		    r->listed[i].id);
		pool_discard(ip, p, r->listed[i].id, NULL);
	}
	pool_refill(ip, p);
	rec_free(r);
}

static struct rec_member *
rec_find(struct rec *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->m[i].id, id) == 0)
			return &r->m[i];
	return NULL;
}

static void
rec_dumped(struct store *st, redisReply *reply, void *arg)
{
	struct rec *r = arg;

	(void)st;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    (r->m = calloc(reply->elements / 6 + 1, sizeof(*r->m))) == NULL) {
		rec_free(r);
		return;
	}
	for (size_t i = 0; i + 5 < reply->elements; i += 6) {
		struct rec_member *m = &r->m[r->n++];

		snprintf(m->id, sizeof(m->id), "%s", reply->element[i]->str);
		snprintf(m->state, sizeof(m->state), "%s",
		    reply->element[i + 1]->str);
		m->ours = strcmp(reply->element[i + 2]->str,
		    r->ip->svc->source) == 0;
		snprintf(m->domain, sizeof(m->domain), "%s",
		    reply->element[i + 3]->str);
		m->alive = strcmp(reply->element[i + 4]->str, "1") == 0;
		m->since = atoll(reply->element[i + 5]->str);
		for (size_t k = 0; k < r->nlisted; k++)
			if (strcmp(r->listed[k].id, m->id) == 0) {
				m->in_driver = true;
				m->running = r->listed[k].running;
			}
	}
	rec_act(r);
}

/* Reads POOL's members from Redis (after the driver's list, if any). */
static void
rec_dump(struct rec *r)
{
	struct idepool *ip = r->ip;
	char km[KEY_MAX], ks[KEY_MAX], tpl[KEY_MAX], stale[24];
	const char *av[4];

	snprintf(stale, sizeof(stale), "%lld", (long long)(service_now_ms() -
	    3 * (int64_t)ip->svc->cfg.bus.heartbeat_ms));
	if (key_pool_members(km, sizeof(km), r->pool) == NULL ||
	    pool_member_tpl(tpl, sizeof(tpl), r->pool) == NULL) {
		rec_free(r);
		return;
	}
	av[0] = km;
	av[1] = key_services(ks, sizeof(ks));
	av[2] = tpl;
	av[3] = stale;
	if (ip_eval(ip, dump_script, 2, 4, av, rec_dumped, r) < 0)
		rec_free(r);
}


static void
rec_listed(const char *id, const struct member_result *res, void *arg)
{
	struct rec *r = arg;
	struct rec_listed *l;

	if (id == NULL) {
		if (!res->ok) {
			log_warn("members not listed", "pool=%s err=\"%s\"",
			    r->pool, res->err);
			rec_free(r);
			return;
		}
		rec_dump(r);
		return;
	}
	if ((l = realloc(r->listed, (r->nlisted + 1) * sizeof(*l))) == NULL)
		return;
	r->listed = l;
	if ((l[r->nlisted].id = strdup(id)) != NULL)
		l[r->nlisted++].running = res->running;
}

/* Dumps POOL's members; FULL: and reconciles them with the driver,
 * listed first. */
static void
rec_pool(struct idepool *ip, const char *pool, bool full)
{
	struct rec *r = calloc(1, sizeof(*r));
	struct pool *p = pool_find(ip, pool);
	char err[MEMBER_ERR_MAX];

	if (r == NULL)
		return;
	r->ip = ip;
	r->full = full && p != NULL;
	snprintf(r->pool, sizeof(r->pool), "%s", pool);
	if (!r->full) {
		rec_dump(r);
		return;
	}
	r->listed_ms = service_now_ms();
	if (members_list(ip->members, &p->spec, rec_listed, r, err,
	    sizeof(err)) < 0) {
		log_warn("members not listed", "pool=%s err=\"%s\"", pool, err);
		rec_free(r);
	}
}

static void
rec_loaded(struct idepool *ip, struct pool *p, void *arg)
{
	(void)arg;
	if (p != NULL)
		rec_pool(ip, p->spec.name, true);
}

static void
rec_names_cb(struct store *st, redisReply *r, void *arg)
{
	struct idepool *ip = arg;

	(void)st;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    keys_name_valid(r->element[i]->str))
			pool_load(ip, r->element[i]->str, rec_loaded, NULL);
}

void
reconcile_all(struct idepool *ip)
{
	char key[KEY_MAX];

	if (ip->svc->store != NULL && store_connected(ip->svc->store))
		(void)store_command(ip->svc->store, rec_names_cb, ip,
		    "SMEMBERS %s", key_pools(key, sizeof(key)));
}

static void
reconcile_timer_cb(uv_timer_t *t)
{
	reconcile_all(t->data);
}

static void
sweep_timer_cb(uv_timer_t *t)
{
	struct idepool *ip = t->data;
	int64_t now = service_mono_ms();

	lease_sweep(ip);
	if (now >= ip->stats_due) {
		ip->stats_due = now + STATS_EVERY_MS;
		for (int i = 0; i < ip->npools; i++)
			rec_pool(ip, ip->pools[i].spec.name, false);
	}
}

static void
rec_render(struct metrics_buf *b, void *arg)
{
	(void)arg;
	metrics_buf_printf(b, "# HELP devcloud_idepool_members Members of "
	    "each pool by state (read every 2 s).\n"
	    "# TYPE devcloud_idepool_members gauge\n");
	for (int p = 0; p < ncounted; p++)
		for (size_t k = 0; k < NSTATES; k++)
			metrics_buf_printf(b, "devcloud_idepool_members"
			    "{pool=\"%s\",state=\"%s\"} %lld\n",
			    count_names[p], states[k], (long long)counts[p][k]);
}

void
reconcile_init(struct idepool *ip)
{
	uv_timer_init(ip->svc->loop, &ip->reconcile);
	ip->reconcile.data = ip;
	uv_timer_start(&ip->reconcile, reconcile_timer_cb,
	    (uint64_t)ip->svc->cfg.idepool.reconcile_interval_ms,
	    (uint64_t)ip->svc->cfg.idepool.reconcile_interval_ms);
	uv_timer_init(ip->svc->loop, &ip->sweep);
	ip->sweep.data = ip;
	uv_timer_start(&ip->sweep, sweep_timer_cb,
	    (uint64_t)ip->svc->cfg.idepool.sweep_interval_ms,
	    (uint64_t)ip->svc->cfg.idepool.sweep_interval_ms);
	metrics_add_renderer(rec_render, NULL);
}
