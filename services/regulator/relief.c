/*
 * Host relief: an overloaded host loses its least recently used apps,
 * a few at a time, until it recovers.
 *
 * A signal (local.c's PSI triggers, or a webhook of alerts.c) says host
 * H crossed its threshold (firing) or fell below the lower one (not
 * firing). The episode lives in Redis, in hoststate:H, so that every
 * replica, and every source, sees one episode per host:
 *
 *   enter   overloaded 0 -> 1: this replica publishes host.overloaded
 *   step    every regulator.step_interval_ms while overloaded, the
 *           replica that takes lock:relief:H picks up to stop_batch
 *           victims (script_pick) and asks autostart to stop them
 *   leave   overloaded 1 -> 0, only by the origin that entered: this
 *           replica publishes host.recovered
 *
 * The victims are chosen in one script from the host's own set
 * (host:H, "APP/ID" of its instances), never from the list of every
 * app: running apps that are not protected, not being deployed and not
 * already stopped in this episode (relief:H), those without an open
 * tunnel first, then by last access (the lastaccess zset), oldest
 * first. An app is added to relief:H as it is picked, so across
 * replicas and steps each app is stopped at most once per episode; the
 * stop itself goes through autostart's stop command, which drains and
 * is race-free like an idle stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "regulator.h"
#include "store.h"

static struct metric m_episodes = METRIC_COUNTER(
    "devcloud_regulator_overloads_total",
    "Overload episodes this replica started (host.overloaded sent).");
static struct metric m_stops = METRIC_COUNTER(
    "devcloud_regulator_relief_stops_total",
    "Apps this replica asked autostart to stop to relieve a host.");
static struct metric m_stop_failures = METRIC_COUNTER(
    "devcloud_regulator_relief_stop_failures_total",
    "Relief stops that autostart refused or did not answer.");
static struct metric m_overloaded = METRIC_GAUGE(
    "devcloud_regulator_overloaded_hosts",
    "Hosts this replica is relieving now.");

/* Lua: the template trick of autostart's scripts, KEY("dc:app:X", n). */
#define LUA_KEY \
    "local function key(tpl, id) return string.sub(tpl, 1, -2) .. id end\n"

/*
 * An episode belongs to the condition that started it: its origin and
 * metric ("alertmanager" and an alertname, "psi" and "memory some %").
 * Only that condition's figures update it and only its recovery ends it,
 * so a resolved alert for another metric leaves the host overloaded.
 *
 * KEYS hoststate, relief, lock; ARGV origin, metric, value, now. Returns
 * 1 when this call started the episode (the last one's step lock goes,
 * so its first step is taken at once), 0 when one was on already.
 */
static const char script_enter[] =
    "redis.call('HSET', KEYS[1], 'figure', ARGV[2] .. ' ' .. ARGV[3],\n"
    "  'figure_ms', ARGV[4])\n"
    "if redis.call('HGET', KEYS[1], 'overloaded') == '1' then\n"
    "  if redis.call('HGET', KEYS[1], 'origin') == ARGV[1] and\n"
    "      redis.call('HGET', KEYS[1], 'metric') == ARGV[2] then\n"
    "    redis.call('HSET', KEYS[1], 'value', ARGV[3])\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', KEYS[2], KEYS[3])\n"
    "redis.call('HSET', KEYS[1], 'overloaded', '1', 'origin', ARGV[1],\n"
    "  'metric', ARGV[2], 'value', ARGV[3], 'since', ARGV[4], 'stops', '0')\n"
    "return 1\n";

/*
 * KEYS hoststate, relief, lock; ARGV origin, metric, value, now.
 * Returns 1 when this call ended the episode, 0 when there was none, -1 when it
 * belongs to another condition (which alone may end it).
 */
static const char script_leave[] =
    "if redis.call('HGET', KEYS[1], 'overloaded') ~= '1' then\n"
    "  redis.call('HSET', KEYS[1], 'figure', ARGV[2] .. ' ' .. ARGV[3],\n"
    "    'figure_ms', ARGV[4])\n"
    "  return 0\n"
    "end\n"
    "if redis.call('HGET', KEYS[1], 'origin') ~= ARGV[1] or\n"
    "    redis.call('HGET', KEYS[1], 'metric') ~= ARGV[2] then\n"
    "  return -1\n"
    "end\n"
    "redis.call('DEL', KEYS[2], KEYS[3])\n"
    "redis.call('HSET', KEYS[1], 'overloaded', '0', 'value', ARGV[3],\n"
    "  'recovered', ARGV[4], 'figure', ARGV[2] .. ' ' .. ARGV[3],\n"
    "  'figure_ms', ARGV[4])\n"
    "return 1\n";

/*
 * KEYS hoststate, relief, lock, host, lastaccess; ARGV app_tpl,
 * load_tpl, batch, max_stops, lock_ms, owner, now. Returns
 * {"recovered"} | {"limit"} | {"locked"} | {"stop", APP, LASTACCESS,
 * TUNNELS, ...} (no APP: nothing left to stop).
 *
 * The host's apps are sorted by last access (one ZMSCORE), then looked
 * at in that order only until the batch is full: apps with a tunnel are
 * set aside and taken last. A step costs a sort of the host's apps and a
 * few calls per app looked at, not per app on the host.
 */
static const char script_pick[] =
    LUA_KEY
    "if redis.call('HGET', KEYS[1], 'overloaded') ~= '1' then\n"
    "  return {'recovered'}\n"
    "end\n"
    "local stops = tonumber(redis.call('HGET', KEYS[1], 'stops') or '0')\n"
    "if stops >= tonumber(ARGV[4]) then return {'limit'} end\n"
    "if not redis.call('SET', KEYS[3], ARGV[6], 'NX', 'PX', ARGV[5]) then\n"
    "  return {'locked'}\n"
    "end\n"
    "local want = math.min(tonumber(ARGV[3]), tonumber(ARGV[4]) - stops)\n"
    "local seen, apps = {}, {}\n"
    "for _, m in ipairs(redis.call('SMEMBERS', KEYS[4])) do\n"
    "  local app = string.match(m, '^(.+)/[^/]+$')\n"
    "  if app and not seen[app] then\n"
    "    seen[app] = true\n"
    "    apps[#apps + 1] = app\n"
    "  end\n"
    "end\n"
    "local la = {}\n"
    "for i = 1, #apps, 1000 do\n"	/* unpack() has a stack limit */
    "  local j = math.min(i + 999, #apps)\n"
    "  local s = redis.call('ZMSCORE', KEYS[5], unpack(apps, i, j))\n"
    "  for k = i, j do la[apps[k]] = tonumber(s[k - i + 1] or '0') end\n"
    "end\n"
    "table.sort(apps, function(a, b)\n"
    "  if la[a] ~= la[b] then return la[a] < la[b] end\n"
    "  return a < b\n"
    "end)\n"
    "local picked, later = {}, {}\n"
    "for _, app in ipairs(apps) do\n"
    "  if #picked >= want then break end\n"
    "  local r = redis.call('HMGET', key(ARGV[1], app), 'state',\n"
    "    'protect', 'deploying')\n"
    "  if r[1] == 'running' and r[2] ~= 'on' and\n"
    "      (not r[3] or r[3] == '') and\n"
    "      redis.call('SISMEMBER', KEYS[2], app) == 0 then\n"
    "    local tunnels = 0\n"
    "    for _, v in ipairs(redis.call('HVALS', key(ARGV[2], app))) do\n"
    "      local t = string.match(v, '^%S+ %S+ %S+ (%d+)$')\n"
    "      if t then tunnels = tunnels + tonumber(t) end\n"
    "    end\n"
    "    if tunnels > 0 then\n"
    "      later[#later + 1] = {app, tunnels}\n"
    "    else\n"
    "      picked[#picked + 1] = {app, 0}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _, p in ipairs(later) do\n"
    "  if #picked >= want then break end\n"
    "  picked[#picked + 1] = p\n"
    "end\n"
    "local out = {'stop'}\n"
    "for _, p in ipairs(picked) do\n"
    "  redis.call('SADD', KEYS[2], p[1])\n"
    "  out[#out + 1] = p[1]\n"
    "  out[#out + 1] = string.format('%d', la[p[1]])\n"
    "  out[#out + 1] = tostring(p[2])\n"
    "end\n"
    "if #picked > 0 then\n"
    "  redis.call('HINCRBY', KEYS[1], 'stops', #picked)\n"
    "  redis.call('HSET', KEYS[1], 'action', 'stopped ' .. out[2],\n"
    "    'action_ms', ARGV[7])\n"
    "end\n"
    "return out\n";

/* The keys of one host's scripts. */
struct host_keys {
	char state[KEY_MAX];
	char relief[KEY_MAX];
	char lock[KEY_MAX];
	char host[KEY_MAX];
	char lastaccess[KEY_MAX];
	char app_tpl[KEY_MAX];
	char load_tpl[KEY_MAX];
};

static int
host_keys(const char *host, struct host_keys *k)
{
	return key_hoststate(k->state, sizeof(k->state), host) == NULL ||
	    key_relief(k->relief, sizeof(k->relief), host) == NULL ||
	    key_relief_lock(k->lock, sizeof(k->lock), host) == NULL ||
	    key_host(k->host, sizeof(k->host), host) == NULL ||
	    key_lastaccess(k->lastaccess, sizeof(k->lastaccess)) == NULL ||
	    key_app(k->app_tpl, sizeof(k->app_tpl), "X") == NULL ||
	    key_load(k->load_tpl, sizeof(k->load_tpl), "X") == NULL ? -1 : 0;
}

/* One signal on its way through script_enter or script_leave. */
struct relief_call {
	struct relief_host *h;
	bool firing;
	char origin[MSG_NAME_MAX];
	char metric[MSG_NAME_MAX * 2];
	double value;
};

static const struct config *
cfg_of(const struct regulator *rg)
{
	return &rg->svc->cfg;
}

static struct relief_host *
host_find(struct regulator *rg, const char *name)
{
	for (struct relief_host *h = rg->hosts; h != NULL; h = h->next)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

static struct relief_host *
host_get(struct regulator *rg, const char *name)
{
	struct relief_host *h = host_find(rg, name);

	if (h != NULL)
		return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->rg = rg;
	snprintf(h->name, sizeof(h->name), "%s", name);
	uv_timer_init(rg->svc->loop, &h->step);
	h->step.data = h;
	h->next = rg->hosts;
	rg->hosts = h;
	return h;
}

static void
overloaded_count(struct regulator *rg)
{
	int64_t n = 0;

	for (struct relief_host *h = rg->hosts; h != NULL; h = h->next)
		n += h->overloaded;
	metric_set(&m_overloaded, n);
}

/* Tells the bus (and the log) that C started or ended H's episode. */
static void
host_publish(struct relief_host *h, const struct relief_call *c)
{
	struct msg m;

	msg_init(&m, c->firing ? MSG_HOST_OVERLOADED : MSG_HOST_RECOVERED);
	snprintf(m.host, sizeof(m.host), "%s", h->name);
	snprintf(m.origin, sizeof(m.origin), "%s", c->origin);
	snprintf(m.metric, sizeof(m.metric), "%s", c->metric);
	m.value = c->value;
	if (c->firing)
		log_warn("host overloaded", "host=%s origin=%s metric=\"%s\" "
		    "value=%.1f", h->name, c->origin, c->metric, c->value);
	else
		log_info("host recovered", "host=%s origin=%s metric=\"%s\" "
		    "value=%.1f", h->name, c->origin, c->metric, c->value);
	bus_publish(h->rg->svc->bus, &m);
}

/* Why the script reply R is not one: for logs. */
static const char *
reply_error(const redisReply *r)
{
	return r == NULL ? "redis connection lost" :
	    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply";
}

static void relief_step(struct relief_host *h);

static void
step_timer_cb(uv_timer_t *t)
{
	relief_step(t->data);
}

/* This replica takes part in H's episode (or stops taking part). */
static void
host_set_overloaded(struct relief_host *h, bool on)
{
	if (h->overloaded == on)
		return;
	h->overloaded = on;
	h->told_empty = false;
	h->told_limit = false;
	if (on)
		uv_timer_start(&h->step, step_timer_cb, 0, 0);
	else
		uv_timer_stop(&h->step);
	overloaded_count(h->rg);
}

static void
stop_answered(const struct msg *r, enum bus_status st, const char *err,
    void *arg)
{
	char *app = arg;

	if (st != BUS_OK) {
		metric_add(&m_stop_failures, 1);
		log_warn("relief stop failed", "app=%s err=\"%s\"", app, err);
	}
	(void)r;
	free(app);
}

static void
relief_stop(struct relief_host *h, const char *app, const char *lastaccess,
    const char *tunnels)
{
	struct regulator *rg = h->rg;
	long long la = strtoll(lastaccess, NULL, 10);
	struct msg m;
	char *arg;

	msg_init(&m, MSG_STOP);
	snprintf(m.app, sizeof(m.app), "%s", app);
	snprintf(m.reason, sizeof(m.reason), "regulated: %s %.1f on %s",
	    h->metric, h->value, h->name);
	log_info("stopping least recently used app", "host=%s app=%s "
	    "idle_ms=%lld tunnels=%s reason=\"%s\"", h->name, app,
	    la > 0 ? (long long)service_now_ms() - la : -1LL, tunnels,
	    m.reason);
	metric_add(&m_stops, 1);
	if ((arg = strdup(app)) == NULL ||
	    /* autostart answers once the app is down: after its grace */
	    bus_call(rg->svc->bus, cfg_of(rg)->autostart.d.control, &m,
	    cfg_of(rg)->bus.call_timeout_ms +
	    cfg_of(rg)->autostart.stop_grace_ms, stop_answered, arg) != 0) {
		free(arg);
		metric_add(&m_stop_failures, 1);
		log_warn("relief stop failed", "app=%s err=\"cannot send\"",
		    app);
	}
}

static void
step_next(struct relief_host *h)
{
	if (h->overloaded && !h->rg->closing)
		uv_timer_start(&h->step, step_timer_cb,
		    (uint64_t)cfg_of(h->rg)->regulator.step_interval_ms, 0);
}

static void
step_done(struct store *st, redisReply *r, void *arg)
{
	struct relief_host *h = arg;
	const char *what;

	(void)st;
	h->stepping = false;
	if (h->rg->closing)
		return;
	log_debug("relief step", "host=%s ms=%.3f reply=%s", h->name,
	    (double)(uv_hrtime() - h->step_ns) / 1e6,
	    r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING ?
	    r->element[0]->str : "?");
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		log_warn("relief step failed", "host=%s err=\"%s\"", h->name,
		    reply_error(r));
		step_next(h);
		return;
	}
	what = r->element[0]->str;
	if (strcmp(what, "recovered") == 0) {
		host_set_overloaded(h, false);	/* another replica ended it */
		return;
	}
	if (strcmp(what, "limit") == 0 && !h->told_limit) {
		h->told_limit = true;
		log_warn("relief stop limit reached", "host=%s max=%d",
		    h->name, cfg_of(h->rg)->regulator.max_stops_per_episode);
	} else if (strcmp(what, "stop") == 0) {
		if (r->elements == 1 && !h->told_empty) {
			h->told_empty = true;
			log_warn("nothing left to stop on an overloaded host",
			    "host=%s", h->name);
		}
		for (size_t i = 1; i + 2 < r->elements; i += 3) {
			if (r->element[i]->type != REDIS_REPLY_STRING ||
			    r->element[i + 1]->type != REDIS_REPLY_STRING ||
			    r->element[i + 2]->type != REDIS_REPLY_STRING)
				break;
			relief_stop(h, r->element[i]->str,
			    r->element[i + 1]->str, r->element[i + 2]->str);
		}
	}
	step_next(h);
}

static void
relief_step(struct relief_host *h)
{
	struct regulator *rg = h->rg;
	const struct config *cfg = cfg_of(rg);
	struct host_keys k;
	char batch[16], max[16], lock_ms[16], now[32];

	if (rg->closing || h->stepping || !h->overloaded)
		return;
	if (host_keys(h->name, &k) != 0)
		return;
	snprintf(batch, sizeof(batch), "%d", cfg->regulator.stop_batch);
	snprintf(max, sizeof(max), "%d", cfg->regulator.max_stops_per_episode);
	/* held a little less than a step, so the next one finds it free */
	snprintf(lock_ms, sizeof(lock_ms), "%d",
	    cfg->regulator.step_interval_ms * 9 / 10 + 1);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	h->stepping = true;
	h->step_ns = uv_hrtime();
	if (store_command(rg->svc->store, step_done, h,
	    "EVAL %s 5 %s %s %s %s %s %s %s %s %s %s %s %s", script_pick,
	    k.state, k.relief, k.lock, k.host, k.lastaccess, k.app_tpl,
	    k.load_tpl, batch, max, lock_ms, rg->svc->source, now) != 0) {
		h->stepping = false;
		step_next(h);		/* Redis is away: try again later */
	}
}

static void
signal_done(struct store *st, redisReply *r, void *arg)
{
	struct relief_call *c = arg;
	struct relief_host *h = c->h;

	(void)st;
	if (h->rg->closing)
		goto done;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		log_warn("host signal not recorded", "host=%s err=\"%s\"",
		    h->name, reply_error(r));
		goto done;
	}
	if (r->integer == 1) {		/* this call started or ended it */
		metric_add(&m_episodes, c->firing);
		host_publish(h, c);
	}
	if (c->firing) {
		snprintf(h->metric, sizeof(h->metric), "%s", c->metric);
		h->value = c->value;
		host_set_overloaded(h, true);
	} else if (r->integer >= 0) {
		host_set_overloaded(h, false);
	}
done:
	free(c);
}

int
relief_signal(struct regulator *rg, const char *host, const char *origin,
    const char *metric, double value, bool firing)
{
	struct relief_host *h;
	struct relief_call *c;
	struct host_keys k;
	char val[32], now[32];

	if (!keys_name_valid(host) || host_keys(host, &k) != 0 ||
	    (h = host_get(rg, host)) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->h = h;
	c->firing = firing;
	snprintf(c->origin, sizeof(c->origin), "%s", origin);
	snprintf(c->metric, sizeof(c->metric), "%s", metric);
	c->value = value;
	snprintf(val, sizeof(val), "%.1f", value);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	if (store_command(rg->svc->store, signal_done, c,
	    "EVAL %s 3 %s %s %s %s %s %s %s", firing ? script_enter :
	    script_leave, k.state, k.relief, k.lock, origin, metric, val,
	    now) != 0) {
		free(c);
		return -1;
	}
	return 0;
}

void
relief_on_event(struct regulator *rg, const struct msg *m)
{
	struct relief_host *h;

	/* another replica's episode: take part in it, or stop doing so */
	if ((h = host_get(rg, m->host)) == NULL)
		return;
	if (m->type == MSG_HOST_OVERLOADED) {
		snprintf(h->metric, sizeof(h->metric), "%s", m->metric);
		h->value = m->value;
	}
	host_set_overloaded(h, m->type == MSG_HOST_OVERLOADED);
}

/* ---- the known hosts, for the webhooks' "unknown host" ---- */

static void
hosts_loaded(struct store *st, redisReply *r, void *arg)
{
	struct regulator *rg = arg;

	(void)st;
	if (rg->closing || r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++) {
		struct relief_host *h;

		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    keys_name_valid(r->element[i]->str) &&
		    (h = host_get(rg, r->element[i]->str)) != NULL)
			h->registered = true;
	}
}

static void
hosts_timer_cb(uv_timer_t *t)
{
	relief_refresh(t->data);
}

void
relief_init(struct regulator *rg)
{
	metrics_register(&m_episodes);
	metrics_register(&m_stops);
	metrics_register(&m_stop_failures);
	metrics_register(&m_overloaded);
	uv_timer_init(rg->svc->loop, &rg->hosts_timer);
	rg->hosts_timer.data = rg;
	uv_timer_start(&rg->hosts_timer, hosts_timer_cb, RELIEF_HOSTS_MS,
	    RELIEF_HOSTS_MS);
}

void
relief_refresh(struct regulator *rg)
{
	char key[KEY_MAX];

	if (key_hosts(key, sizeof(key)) != NULL)
		store_command(rg->svc->store, hosts_loaded, rg,
		    "ZRANGE %s 0 -1", key);
}

bool
relief_host_known(struct regulator *rg, const char *host)
{
	struct relief_host *h = host_find(rg, host);

	return h != NULL && h->registered;
}

void
relief_shutdown(struct regulator *rg)
{
	uv_timer_stop(&rg->hosts_timer);
	for (struct relief_host *h = rg->hosts; h != NULL; h = h->next)
		uv_timer_stop(&h->step);
}
