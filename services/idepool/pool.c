/*
 * Pools: their specs as Redis holds them, the refill plan, starting a
 * member until it is ready, and the circuit breaker.
 *
 * Refill is driven by events (a lease taken, a member created or ready,
 * a release done, a pool changed), never by a poll; the reconcile timer
 * runs it too, as a safety net. The plan is one Lua script, so replicas
 * refilling at once never overshoot: it counts the free ACTIVE members
 * and those starting, the INACTIVE ones and those being created, and
 * reserves the members to start (spares taken out of spare:POOL) and to
 * create (new ids in state "creating"), owned by the replica that runs
 * them. Starts, the refill's and the acquires', share
 * idepool.max_concurrent_starts slots, so refilling cannot starve the
 * host; a broken image trips the breaker after fail_threshold failures
 * in a row and refill stops until `devcloudctl pool resume`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "idepool.h"
#include "keys.h"
#include "log.h"
#include "probe.h"

#define BOOT_PROBE_EVERY_MS 50
#define BOOT_ALIVE_EVERY_MS 500	/* is a member still probed running? */

struct metric m_refill_failures = METRIC_COUNTER(
    "devcloud_idepool_refill_failures_total",
    "Members that failed to be created, started or become ready.");
static struct metric m_refills = METRIC_COUNTER(
    "devcloud_idepool_refilled_total",
    "Members that joined a tier (created, or started and ready).");

/*
 * The plan. KEYS pool, free, spare, members, memberseq; ARGV member
 * template, now, owner, start slots, creates allowed. Returns
 * {"start", id, ..., "create", id, ...} in any order.
 */
static const char pool_plan_script[] =
    "local p = redis.call('HMGET', KEYS[1], 'active', 'inactive',"
    " 'paused', 'failing', 'removing')\n"
    "if p[3] == '1' or (p[4] and p[4] ~= '') or p[5] == '1' then\n"
    "  return {} end\n"
    "local starting, creating = 0, 0\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do\n"
    "  local st = redis.call('HGET', ARGV[1] .. id, 'state')\n"
    "  if st == 'starting' then starting = starting + 1\n"
    "  elseif st == 'creating' then creating = creating + 1 end\n"
    "end\n"
    "local out = {}\n"
    "local need_a = (tonumber(p[1]) or 0) - redis.call('SCARD', KEYS[2])"
    " - starting\n"
    "local slots = tonumber(ARGV[4])\n"
    "while need_a > 0 and slots > 0 do\n"
    "  local id = redis.call('SPOP', KEYS[3])\n"
    "  if not id then break end\n"
    "  redis.call('HSET', ARGV[1] .. id, 'state', 'starting', 'owner',"
    " ARGV[3], 'since', ARGV[2])\n"
    "  out[#out + 1] = 'start'\n"
    "  out[#out + 1] = id\n"
    "  need_a = need_a - 1\n"
    "  slots = slots - 1\n"
    "end\n"
    "if need_a < 0 then need_a = 0 end\n"
    "local need_i = (tonumber(p[2]) or 0) + need_a -"
    " redis.call('SCARD', KEYS[3]) - creating\n"
    "local creates = tonumber(ARGV[5])\n"
    "while need_i > 0 and creates > 0 do\n"
    "  local id = 'm' .. redis.call('INCR', KEYS[5])\n"
    "  redis.call('SADD', KEYS[4], id)\n"
    "  redis.call('HSET', ARGV[1] .. id, 'state', 'creating', 'owner',"
    " ARGV[3], 'since', ARGV[2])\n"
    "  out[#out + 1] = 'create'\n"
    "  out[#out + 1] = id\n"
    "  need_i = need_i - 1\n"
    "  creates = creates - 1\n"
    "end\n"
    "return out\n";

/*
 * A member joined a tier. KEYS member, free or spare; ARGV state, addr,
 * now. Only if still ours to set (a removed pool's member is not).
 */
static const char pool_joined_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', ARGV[1], 'addr', ARGV[2],"
    " 'owner', '', 'since', ARGV[3])\n"
    "redis.call('SADD', KEYS[2], string.match(KEYS[1], '([^:]+)$'))\n"
    "return 1\n";

/*
 * Forgets a member. KEYS member, members, free, spare, domains; ARGV id,
 * domain ("" for none), binding "POOL/ID".
 */
static const char pool_forget_script[] =
    "if ARGV[2] ~= '' and redis.call('HGET', KEYS[5], ARGV[2]) == ARGV[3]"
    " then\n"
    "  redis.call('HDEL', KEYS[5], ARGV[2]) end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "redis.call('SREM', KEYS[3], ARGV[1])\n"
    "redis.call('SREM', KEYS[4], ARGV[1])\n"
    "return 1\n";

/* The breaker. KEYS pool; ARGV threshold, reason. Returns 1 when this
 * failure tripped it. */
static const char pool_failed_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'fails', 1)\n"
    "local f = redis.call('HGET', KEYS[1], 'failing')\n"
    "if n >= tonumber(ARGV[1]) and (not f or f == '') then\n"
    "  redis.call('HSET', KEYS[1], 'failing', ARGV[2])\n"
    "  return 1 end\n"
    "return 0\n";

int
ip_eval(struct idepool *ip, const char *script, int nkeys, int argc,
    const char **argv, store_reply_cb cb, void *arg)
{
	const char *av[24];
	char nk[8];

	if (argc + 3 > (int)(sizeof(av) / sizeof(av[0])) ||
	    ip->svc->store == NULL || !store_connected(ip->svc->store))
		return -1;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = "EVAL";
	av[1] = script;
	av[2] = nk;
	for (int i = 0; i < argc; i++)
		av[3 + i] = argv[i];
	return store_commandv(ip->svc->store, cb, arg, argc + 3, av, NULL);
}

const char *
pool_member_tpl(char *buf, size_t len, const char *pool)
{
	size_t n;

	if (key_member(buf, len, pool, "X") == NULL)
		return NULL;
	n = strlen(buf);
	buf[n - 1] = '\0';
	return buf;
}

void
pool_publish(struct idepool *ip, struct msg *m)
{
	if (ip->svc->bus != NULL)
		(void)bus_publish(ip->svc->bus, m);
}

struct pool *
pool_find(struct idepool *ip, const char *name)
{
	for (int i = 0; i < ip->npools; i++)
		if (strcmp(ip->pools[i].spec.name, name) == 0)
			return &ip->pools[i];
	return NULL;
}

static struct pool *
pool_slot(struct idepool *ip, const char *name)
{
	struct pool *p = pool_find(ip, name);

	if (p != NULL || ip->npools == IDEPOOL_MAX_POOLS)
		return p;
	p = &ip->pools[ip->npools++];
	memset(p, 0, sizeof(*p));
	snprintf(p->spec.name, sizeof(p->spec.name), "%s", name);
	return p;
}

/* ---- reading a pool ---- */

struct pool_read {
	struct idepool *ip;
	void (*cb)(struct idepool *, struct pool *, void *);
	void *arg;
	char name[MSG_NAME_MAX];
};

static const char *
hget(const redisReply *r, const char *field)
{
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, field) == 0 &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			return r->element[i + 1]->str;
	return "";
}

/* FIELD of R as an integer within 0..MAX, else 0. */
static int
hget_int(const redisReply *r, const char *field, long max)
{
	char *end;
	const char *v = hget(r, field);
	long n = strtol(v, &end, 10);

	return *v != '\0' && *end == '\0' && n >= 0 && n <= max ? (int)n : 0;
}

static void
pool_read_cb(struct store *st, redisReply *r, void *arg)
{
	struct pool_read *q = arg;
	struct idepool *ip = q->ip;
	struct pool *p = NULL;

	(void)st;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    (p = pool_slot(ip, q->name)) != NULL) {
		struct pool_spec *s = &p->spec;

		snprintf(s->driver, sizeof(s->driver), "%s", hget(r, "driver"));
		snprintf(s->image, sizeof(s->image), "%s", hget(r, "image"));
		snprintf(s->command, sizeof(s->command), "%s",
		    hget(r, "command"));
		s->cport = hget_int(r, "cport", 65535);
		snprintf(s->ready, sizeof(s->ready), "%s", hget(r, "ready"));
		if (s->ready[0] == '\0')
			snprintf(s->ready, sizeof(s->ready), "tcp");
		snprintf(s->workspace, sizeof(s->workspace), "%s",
		    hget(r, "workspace"));
		snprintf(s->env, sizeof(s->env), "%s", hget(r, "env"));
		snprintf(p->domain, sizeof(p->domain), "%s",
		    hget(r, "domain"));
		p->active = hget_int(r, "active", 1000);
		p->inactive = hget_int(r, "inactive", 1000);
		p->ttl_s = hget_int(r, "ttl", 31536000);
		if (p->ttl_s <= 0)
			p->ttl_s = ip->svc->cfg.autostart.default_ttl_s;
		p->paused = strcmp(hget(r, "paused"), "1") == 0;
		p->removing = strcmp(hget(r, "removing"), "1") == 0;
		snprintf(p->failing, sizeof(p->failing), "%s",
		    hget(r, "failing"));
		p->loaded = true;
	} else if (r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    (p = pool_find(ip, q->name)) != NULL) {
		/* gone from Redis: forgotten here too */
		*p = ip->pools[--ip->npools];
		p = NULL;
	}
	if (q->cb != NULL)
		q->cb(ip, p, q->arg);
	free(q);
}

void
pool_load(struct idepool *ip, const char *name,
    void (*cb)(struct idepool *, struct pool *, void *), void *arg)
{
	struct pool_read *q;
	char key[KEY_MAX];

	if (key_pool(key, sizeof(key), name) == NULL ||
	    (q = calloc(1, sizeof(*q))) == NULL) {
		if (cb != NULL)
			cb(ip, NULL, arg);
		return;
	}
	q->ip = ip;
	q->cb = cb;
	q->arg = arg;
	snprintf(q->name, sizeof(q->name), "%s", name);
	if (ip->svc->store == NULL || store_command(ip->svc->store,
	    pool_read_cb, q, "HGETALL %s", key) < 0) {
		free(q);
		if (cb != NULL)
			cb(ip, NULL, arg);
	}
}

/* ---- start slots ---- */

void
start_slot(struct idepool *ip, struct start_wait *w)
{
	if (ip->starts < ip->svc->cfg.idepool.max_concurrent_starts) {
		ip->starts++;
		w->run(w);
		return;
	}
	w->next = NULL;
	if (ip->waiting_tail != NULL)
		ip->waiting_tail->next = w;
	else
		ip->waiting = w;
	ip->waiting_tail = w;
}

void
start_done(struct idepool *ip)
{
	struct start_wait *w = ip->waiting;

	if (w == NULL) {
		ip->starts--;
		return;
	}
	/* the slot goes to the next in line */
	if ((ip->waiting = w->next) == NULL)
		ip->waiting_tail = NULL;
	w->run(w);
}

/* ---- the breaker ---- */

struct pool_fail {
	struct idepool *ip;
	char name[MSG_NAME_MAX];
	char why[MSG_TEXT_MAX];
};

static void
pool_failed_cb(struct store *st, redisReply *r, void *arg)
{
	struct pool_fail *f = arg;
	struct pool *p;
	struct msg m;

	(void)st;
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		log_error("pool failing: refill paused", "pool=%s reason=\"%s\"",
		    f->name, f->why);
		if ((p = pool_find(f->ip, f->name)) != NULL)
			snprintf(p->failing, sizeof(p->failing), "%s", f->why);
		msg_init(&m, MSG_POOL_FAILING);
		snprintf(m.pool, sizeof(m.pool), "%s", f->name);
		snprintf(m.reason, sizeof(m.reason), "%s", f->why);
		pool_publish(f->ip, &m);
	}
	free(f);
}

void
pool_start_failed(struct idepool *ip, struct pool *p, const char *why)
{
	struct pool_fail *f = calloc(1, sizeof(*f));
	char key[KEY_MAX], thr[16];
	const char *av[3];

	metric_add(&m_refill_failures, 1);
	if (f == NULL || key_pool(key, sizeof(key), p->spec.name) == NULL) {
		free(f);
		return;
	}
	f->ip = ip;
	snprintf(f->name, sizeof(f->name), "%s", p->spec.name);
	snprintf(f->why, sizeof(f->why), "%s (%d failures in a row)", why,
	    ip->svc->cfg.idepool.fail_threshold);
	snprintf(thr, sizeof(thr), "%d", ip->svc->cfg.idepool.fail_threshold);
	av[0] = key;
	av[1] = thr;
	av[2] = f->why;
	if (ip_eval(ip, pool_failed_script, 1, 3, av, pool_failed_cb, f) < 0)
		free(f);
}

void
pool_start_ok(struct idepool *ip, struct pool *p)
{
	char key[KEY_MAX];

	if (key_pool(key, sizeof(key), p->spec.name) != NULL &&
	    ip->svc->store != NULL)
		(void)store_command(ip->svc->store, NULL, NULL,
		    "HSET %s fails 0", key);
}

/* ---- booting a member: (create,) start, probe until ready ---- */

struct boot {
	struct start_wait wait;
	struct idepool *ip;
	struct pool_spec spec;
	char pool[MSG_NAME_MAX];
	char id[MSG_NAME_MAX];
	char addr[MSG_ADDR_MAX];
	bool create;
	struct probe *probe;
	uv_timer_t timer;
	int64_t deadline;
	int64_t alive_due;		/* mono ms of the next running check */
	bool listing;			/* a members_list is out */
	bool seen_running;		/* the last list had it running */
	boot_cb cb;
	void *arg;
};

static void
boot_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
boot_end(struct boot *b, bool ok, const char *what)
{
	struct idepool *ip = b->ip;

	start_done(ip);
	b->cb(ip, ok, what, b->arg);
	uv_close((uv_handle_t *)&b->timer, boot_closed);
}

static void boot_probe(uv_timer_t *t);

/* A member that exits while it is probed fails now, not at the ready
 * timeout: a broken image trips the breaker in seconds. */
static void
boot_listed(const char *id, const struct member_result *r, void *arg)
{
	struct boot *b = arg;
	char err[MSG_TEXT_MAX];

	if (id != NULL) {
		if (strcmp(id, b->id) == 0 && r->running)
			b->seen_running = true;
		return;
	}
	b->listing = false;
	if (!r->ok || b->seen_running) {
		uv_timer_start(&b->timer, boot_probe, BOOT_PROBE_EVERY_MS, 0);
		return;
	}
	snprintf(err, sizeof(err), "member %s exited before it was ready",
	    b->id);
	boot_end(b, false, err);
}

static void
boot_probed(bool ready, const char *why, void *arg)
{
	struct boot *b = arg;
	char err[MSG_TEXT_MAX];
	int64_t now = service_mono_ms();

	b->probe = NULL;
	if (ready) {
		boot_end(b, true, b->addr);
		return;
	}
	if (now >= b->alive_due && now < b->deadline) {
		b->alive_due = now + BOOT_ALIVE_EVERY_MS;
		b->seen_running = false;
		if (members_list(b->ip->members, &b->spec, boot_listed, b, err,
		    sizeof(err)) == 0) {
			b->listing = true;
			return;
		}
	}
	if (service_mono_ms() >= b->deadline) {
		snprintf(err, sizeof(err), "member %s not ready in %d ms: %s",
		    b->id, b->ip->svc->cfg.idepool.ready_timeout_ms, why);
		boot_end(b, false, err);
		return;
	}
	uv_timer_start(&b->timer, boot_probe, BOOT_PROBE_EVERY_MS, 0);
}

static void
boot_probe(uv_timer_t *t)
{
	struct boot *b = t->data;

	if ((b->probe = probe_start(b->ip->svc->loop, b->addr, b->spec.ready,
	    boot_probed, b)) == NULL)
		boot_end(b, false, "out of memory");
}

static void
boot_started(const struct member_result *r, void *arg)
{
	struct boot *b = arg;
	char err[MSG_TEXT_MAX];

	if (!r->ok) {
		snprintf(err, sizeof(err), "member %s did not start: %.400s",
		    b->id, r->err);
		boot_end(b, false, err);
		return;
	}
	snprintf(b->addr, sizeof(b->addr), "%s", r->addr);
	boot_probe(&b->timer);
}

static void
boot_start(struct boot *b)
{
	char err[MEMBER_ERR_MAX], msg[MSG_TEXT_MAX];

	if (member_start(b->ip->members, &b->spec, b->id, boot_started, b,
	    err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "member %s did not start: %.400s",
		    b->id, err);
		boot_end(b, false, msg);
	}
}

static void
boot_created(const struct member_result *r, void *arg)
{
	struct boot *b = arg;
	char err[MSG_TEXT_MAX];

	if (!r->ok) {
		snprintf(err, sizeof(err), "member %s not created: %.400s", b->id,
		    r->err);
		boot_end(b, false, err);
		return;
	}
	boot_start(b);
}

static void
boot_run(struct start_wait *w)
{
	struct boot *b = (struct boot *)w;
	char err[MEMBER_ERR_MAX], msg[MSG_TEXT_MAX];

	b->deadline = service_mono_ms() +
	    b->ip->svc->cfg.idepool.ready_timeout_ms;
	b->alive_due = service_mono_ms() + BOOT_ALIVE_EVERY_MS;
	if (!b->create) {
		boot_start(b);
		return;
	}
	if (member_create(b->ip->members, &b->spec, b->id, boot_created, b,
	    err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "member %s not created: %.400s", b->id,
		    err);
		boot_end(b, false, msg);
	}
}

void
pool_boot(struct idepool *ip, struct pool *p, const char *id, bool create,
    boot_cb cb, void *arg)
{
	struct boot *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		cb(ip, false, "out of memory", arg);
		return;
	}
	b->ip = ip;
	b->spec = p->spec;
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->create = create;
	b->cb = cb;
	b->arg = arg;
	b->wait.run = boot_run;
	uv_timer_init(ip->svc->loop, &b->timer);
	b->timer.data = b;
	start_slot(ip, &b->wait);
}

/* ---- discarding a member ---- */

struct discard {
	struct idepool *ip;
	char pool[MSG_NAME_MAX];
	char id[MSG_NAME_MAX];
	char domain[MSG_DOMAIN_MAX];
};

static void
discard_forget(struct discard *d)
{
	char km[KEY_MAX], kms[KEY_MAX], kf[KEY_MAX], ks[KEY_MAX], kd[KEY_MAX];
	char binding[MSG_NAME_MAX * 2 + 2];
	const char *av[8];

	snprintf(binding, sizeof(binding), "%s/%s", d->pool, d->id);
	if (key_member(km, sizeof(km), d->pool, d->id) == NULL ||
	    key_pool_members(kms, sizeof(kms), d->pool) == NULL ||
	    key_pool_free(kf, sizeof(kf), d->pool) == NULL ||
	    key_pool_spare(ks, sizeof(ks), d->pool) == NULL)
		return;
	av[0] = km;
	av[1] = kms;
	av[2] = kf;
	av[3] = ks;
	av[4] = key_domains(kd, sizeof(kd));
	av[5] = d->id;
	av[6] = d->domain;
	av[7] = binding;
	(void)ip_eval(d->ip, pool_forget_script, 5, 8, av, NULL, NULL);
}

static void
discard_removed(const struct member_result *r, void *arg)
{
	struct discard *d = arg;
	struct pool *p;

	if (!r->ok) {
		/* kept in Redis: reconcile removes it again */
		log_warn("member not removed", "pool=%s member=%s err=\"%s\"",
		    d->pool, d->id, r->err);
	} else {
		discard_forget(d);
		log_info("member removed", "pool=%s member=%s", d->pool,
		    d->id);
	}
	if ((p = pool_find(d->ip, d->pool)) != NULL)
		pool_refill(d->ip, p);
	free(d);
}

void
pool_discard(struct idepool *ip, struct pool *p, const char *id,
    const char *domain)
{
	struct discard *d = calloc(1, sizeof(*d));
	char err[MEMBER_ERR_MAX], km[KEY_MAX];

	if (d == NULL)
		return;
	d->ip = ip;
	snprintf(d->pool, sizeof(d->pool), "%s", p->spec.name);
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->domain, sizeof(d->domain), "%s",
	    domain != NULL ? domain : "");
	if (key_member(km, sizeof(km), d->pool, id) != NULL &&
	    ip->svc->store != NULL)
		(void)store_command(ip->svc->store, NULL, NULL,
		    "HSET %s state removing owner %s", km, ip->svc->source);
	if (member_remove(ip->members, &p->spec, id, discard_removed, d, err,
	    sizeof(err)) < 0) {
		log_warn("member not removed", "pool=%s member=%s err=\"%s\"",
		    d->pool, id, err);
		free(d);
	}
}

/* ---- refill ---- */

struct refill_member {
	struct idepool *ip;
	char pool[MSG_NAME_MAX];
	char id[MSG_NAME_MAX];
	bool start;			/* else a create */
};

static void
pool_joined(struct idepool *ip, struct pool *p, const char *id,
    const char *state, const char *addr)
{
	char km[KEY_MAX], kset[KEY_MAX], now[24];
	const char *av[5];
	struct msg m;

	if (key_member(km, sizeof(km), p->spec.name, id) == NULL ||
	    (strcmp(state, "active") == 0 ?
	    key_pool_free(kset, sizeof(kset), p->spec.name) :
	    key_pool_spare(kset, sizeof(kset), p->spec.name)) == NULL)
		return;
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	av[0] = km;
	av[1] = kset;
	av[2] = state;
	av[3] = addr;
	av[4] = now;
	(void)ip_eval(ip, pool_joined_script, 2, 5, av, NULL, NULL);
	metric_add(&m_refills, 1);
	log_info("member joined", "pool=%s member=%s state=%s addr=%s",
	    p->spec.name, id, state, addr);
	msg_init(&m, MSG_POOL_REFILLED);
	snprintf(m.pool, sizeof(m.pool), "%s", p->spec.name);
	snprintf(m.instance, sizeof(m.instance), "%s", id);
	snprintf(m.state, sizeof(m.state), "%s", state);
	pool_publish(ip, &m);
}

static void
refill_booted(struct idepool *ip, bool ok, const char *what, void *arg)
{
	struct refill_member *rm = arg;
	struct pool *p = pool_find(ip, rm->pool);

	if (p == NULL) {
		free(rm);
		return;
	}
	if (ok) {
		pool_start_ok(ip, p);
		pool_joined(ip, p, rm->id, "active", what);
		pool_refill(ip, p);
	} else {
		log_warn("member failed", "pool=%s member=%s err=\"%s\"",
		    rm->pool, rm->id, what);
		pool_start_failed(ip, p, what);
		pool_discard(ip, p, rm->id, NULL);
	}
	free(rm);
}

static void
refill_created(const struct member_result *r, void *arg)
{
	struct refill_member *rm = arg;
	struct idepool *ip = rm->ip;
	struct pool *p = pool_find(ip, rm->pool);
	char why[MSG_TEXT_MAX];

	if (p != NULL && r->ok) {
		pool_joined(ip, p, rm->id, "inactive", "");
		pool_refill(ip, p);
	} else if (p != NULL) {
		snprintf(why, sizeof(why), "member %s not created: %.400s",
		    rm->id, r->err);
		log_warn("member failed", "pool=%s member=%s err=\"%s\"",
		    rm->pool, rm->id, why);
		pool_start_failed(ip, p, why);
		pool_discard(ip, p, rm->id, NULL);
	}
	free(rm);
}

static void
pool_plan_cb(struct store *st, redisReply *r, void *arg)
{
	struct idepool *ip = ((struct refill_member *)arg)->ip;
	char name[MSG_NAME_MAX];
	struct pool *p;

	(void)st;
	snprintf(name, sizeof(name), "%s", ((struct refill_member *)arg)->pool);
	free(arg);
	if ((p = pool_find(ip, name)) == NULL)
		return;
	p->refilling = false;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			log_error("refill plan failed", "pool=%s err=\"%s\"",
			    name, r->str);
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		struct refill_member *rm = calloc(1, sizeof(*rm));
		char err[MEMBER_ERR_MAX];

		if (rm == NULL)
			break;		/* reconcile takes them back */
		rm->ip = ip;
		snprintf(rm->pool, sizeof(rm->pool), "%s", name);
		snprintf(rm->id, sizeof(rm->id), "%s", r->element[i + 1]->str);
		rm->start = strcmp(r->element[i]->str, "start") == 0;
		if (rm->start) {
			pool_boot(ip, p, rm->id, false, refill_booted, rm);
			continue;
		}
		if (member_create(ip->members, &p->spec, rm->id,
		    refill_created, rm, err, sizeof(err)) < 0) {
			log_warn("member not created", "pool=%s member=%s "
			    "err=\"%s\"", name, rm->id, err);
			pool_discard(ip, p, rm->id, NULL);
			free(rm);
		}
	}
	if (p->refill_again) {
		p->refill_again = false;
		pool_refill(ip, p);
	}
}

void
pool_refill(struct idepool *ip, struct pool *p)
{
	struct refill_member *q;
	char kp[KEY_MAX], kf[KEY_MAX], ks[KEY_MAX], km[KEY_MAX], kq[KEY_MAX];
	char tpl[KEY_MAX], now[24], slots[16], creates[16];
	const char *av[10];
	int free_slots;

	if (!p->loaded || p->paused || p->removing || p->failing[0] != '\0')
		return;
	if (p->refilling) {
		p->refill_again = true;
		return;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return;
	q->ip = ip;
	snprintf(q->pool, sizeof(q->pool), "%s", p->spec.name);
	free_slots = ip->svc->cfg.idepool.max_concurrent_starts - ip->starts;
	if (free_slots < 0 || ip->waiting != NULL)
		free_slots = 0;
	snprintf(slots, sizeof(slots), "%d", free_slots);
	snprintf(creates, sizeof(creates), "%d",
	    ip->svc->cfg.idepool.max_concurrent_starts);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (key_pool(kp, sizeof(kp), p->spec.name) == NULL ||
	    key_pool_free(kf, sizeof(kf), p->spec.name) == NULL ||
	    key_pool_spare(ks, sizeof(ks), p->spec.name) == NULL ||
	    key_pool_members(km, sizeof(km), p->spec.name) == NULL ||
	    key_member_seq(kq, sizeof(kq), p->spec.name) == NULL ||
	    pool_member_tpl(tpl, sizeof(tpl), p->spec.name) == NULL) {
		free(q);
		return;
	}
	av[0] = kp;
	av[1] = kf;
	av[2] = ks;
	av[3] = km;
	av[4] = kq;
	av[5] = tpl;
	av[6] = now;
	av[7] = ip->svc->source;
	av[8] = slots;
	av[9] = creates;
	if (ip_eval(ip, pool_plan_script, 5, 10, av, pool_plan_cb, q) < 0) {
		free(q);
		return;
	}
	p->refilling = true;
}

void
pool_init_metrics(void)
{
	metrics_register(&m_refill_failures);
	metrics_register(&m_refills);
}
