/*
 * The state transitions of an app, each one Lua script so that it is
 * atomic however many proxies and autostart replicas act at once.
 * Keys come from common/keys.h (passed as KEYS); owner is this replica's
 * source name, so only the lock holder finishes what it began.
 *
 *   stopped|failed --wake--> starting --ready--> running
 *                                     --failed-> failed (with backoff)
 *   running --stop_if_due|stop_now--> stopping --stopped--> stopped
 *   running --exited--> stopped (the app ended on its own)
 *   starting|stopping without a lock --takeover--> stopping (reconcile)
 *
 * An app's instances (PREFIX instances:APP, one hash each) change in the
 * same scripts: the wake creates the first one (starting), ready makes
 * it ready, failed and stopped remove them. While the app runs,
 * instance_reserve compares the live instances with the count asked
 * for (scale) and reserves one to start or picks one to drain, so two
 * replicas never start the same slot; instance_ready and instance_gone
 * finish what it began, and exited removes one that died.
 *
 * Scripts that name an instance or a host by a value they read get the
 * key as a template from keys.h (key_instance(APP, "X"), key_host("X"))
 * whose last character they replace: no key is spelled here.
 */
#include "autostart.h"

/*
 * Lua helpers: the key for ID from a template ending in one character;
 * the id of a new instance, the lowest number not in use (so a woken
 * app's first instance is "1" again, and its container or pid file line
 * is the one it had before).
 */
#define LUA_KEY \
    "local function key(tpl, id) return string.sub(tpl, 1, -2) .. id end\n" \
    "local function free_id(insts)\n" \
    "  local n = 1\n" \
    "  while redis.call('SISMEMBER', insts, tostring(n)) == 1 do" \
    " n = n + 1 end\n" \
    "  return tostring(n)\n" \
    "end\n"
/* Removes instance ID of app NAME: its hash, set member and host entry. */
#define LUA_DROP \
    "local function drop(insts, itpl, htpl, name, id)\n" \
    "  local ik = key(itpl, id)\n" \
    "  local h = redis.call('HGET', ik, 'host')\n" \
    "  if h and h ~= '' then\n" \
    "    redis.call('SREM', key(htpl, h), name .. '/' .. id)\n" \
    "  end\n" \
    "  redis.call('SREM', insts, id)\n" \
    "  return redis.call('DEL', ik)\n" \
    "end\n"
/* The count asked for, within the record's bounds. */
#define LUA_WANTED \
    "local function wanted(app)\n" \
    "  local mn = tonumber(redis.call('HGET', app, 'min_instances') or '1')" \
    " or 1\n" \
    "  local mx = tonumber(redis.call('HGET', app, 'max_instances') or '1')" \
    " or 1\n" \
    "  local d = tonumber(redis.call('HGET', app, 'desired') or '0') or 0\n" \
    "  if mx < mn then mx = mn end\n" \
    "  return math.max(mn, math.min(mx, d)), mn, mx\n" \
    "end\n"

/*
 * KEYS app, lock, transit, instances; ARGV name, owner, lock_ms, now_ms,
 * inst_tpl. Returns {"missing"} | {"running", addr} | {"stopping"} |
 * {"starting"} | {"backoff", reason, ms_left} | {"start", id} (the
 * caller holds the lock; instance ID is recorded as starting).
 */
const char script_wake[] =
    LUA_KEY
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if not st then return {'missing'} end\n"
    "if st == 'running' then\n"
    "  return {'running', redis.call('HGET', KEYS[1], 'addr') or ''}\n"
    "end\n"
    "if st == 'stopping' then return {'stopping'} end\n"
    "if st == 'failed' then\n"
    "  local ra = tonumber(redis.call('HGET', KEYS[1], 'retry_after') or"
    " '0') or 0\n"
    "  local now = tonumber(ARGV[4])\n"
    "  if ra > now then\n"
    "    return {'backoff', redis.call('HGET', KEYS[1], 'reason') or '',"
    " string.format('%d', ra - now)}\n"
    "  end\n"
    "end\n"
    "if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'starting', 'reason', '')\n"
    "  redis.call('SADD', KEYS[3], ARGV[1])\n"
    "  local id = free_id(KEYS[4])\n"
    "  redis.call('HSET', key(ARGV[5], id), 'state', 'starting', 'addr', '',"
    " 'host', '', 'release', redis.call('HGET', KEYS[1], 'release') or '',"
    " 'started', ARGV[4])\n"
    "  redis.call('SADD', KEYS[4], id)\n"
    "  return {'start', id}\n"
    "end\n"
    "return {'starting'}\n";

/*
 * KEYS app, lock, transit, deadlines, instances, hosts; ARGV name, owner,
 * addr, deadline, id, host, now_ms, inst_tpl, host_tpl.
 */
const char script_ready[] =
    LUA_KEY
    "if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'running', 'addr', ARGV[3],"
    " 'reason', '', 'failures', 0)\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('SREM', KEYS[3], ARGV[1])\n"
    "redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])\n"
    "redis.call('HSET', key(ARGV[8], ARGV[5]), 'state', 'ready', 'addr',"
    " ARGV[3], 'host', ARGV[6])\n"
    "redis.call('SADD', KEYS[5], ARGV[5])\n"
    "redis.call('SADD', key(ARGV[9], ARGV[6]), ARGV[1] .. '/' .. ARGV[5])\n"
    "redis.call('ZADD', KEYS[6], ARGV[7], ARGV[6])\n"
    "return 1\n";

/*
 * KEYS app, lock, transit, instances; ARGV name, owner, reason, now_ms,
 * id, inst_tpl, host_tpl. Returns the backoff in ms before the next
 * start may be tried, or -1.
 */
const char script_failed[] =
    LUA_KEY LUA_DROP
    "if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end\n"
    "drop(KEYS[4], ARGV[6], ARGV[7], ARGV[1], ARGV[5])\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)\n"
    "local backoff = math.min(500 * 2 ^ (n - 1), 60000)\n"
    "redis.call('HSET', KEYS[1], 'state', 'failed', 'addr', '',"
    " 'reason', ARGV[3], 'retry_after',"
    " string.format('%d', tonumber(ARGV[4]) + backoff))\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('SREM', KEYS[3], ARGV[1])\n"
    "return backoff\n";

/*
 * KEYS deadlines, app, lock, transit; ARGV name, owner, now_ms, lock_ms.
 * The stop happens only if the deadline is still past now.
 */
const char script_stop_if_due[] =
    "local d = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "if not d or tonumber(d) > tonumber(ARGV[3]) then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "if redis.call('HGET', KEYS[2], 'state') ~= 'running' then return 0 end\n"
    "if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[4]) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[2], 'state', 'stopping', 'reason', 'idle')\n"
    "redis.call('SADD', KEYS[4], ARGV[1])\n"
    "return 1\n";

/*
 * KEYS app, lock, transit, deadlines; ARGV name, owner, lock_ms, reason.
 * Returns "stopping" (the caller stops it), or the state that made a
 * stop needless or impossible: "missing", "stopped", "busy", ...
 */
const char script_stop_now[] =
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if not st then return 'missing' end\n"
    "if st == 'failed' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'stopped', 'retry_after', 0,"
    " 'failures', 0)\n"
    "  return 'stopped'\n"
    "end\n"
    "if st ~= 'running' then return st end\n"
    "if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then\n"
    "  return 'busy'\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'state', 'stopping', 'reason', ARGV[4])\n"
    "redis.call('SADD', KEYS[3], ARGV[1])\n"
    "redis.call('ZREM', KEYS[4], ARGV[1])\n"
    "return 'stopping'\n";

/*
 * KEYS app, lock, transit, instances; ARGV name, owner, reason, inst_tpl,
 * host_tpl. Every instance goes with the app.
 */
const char script_stopped[] =
    LUA_KEY LUA_DROP
    "if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'stopped', 'addr', '',"
    " 'reason', ARGV[3])\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('SREM', KEYS[3], ARGV[1])\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do\n"
    "  drop(KEYS[4], ARGV[4], ARGV[5], ARGV[1], id)\n"
    "end\n"
    "return 1\n";

/*
 * KEYS app, deadlines, instances; ARGV name, reason, id, inst_tpl,
 * host_tpl. Instance ID ended on its own. Returns "app" when it was the
 * app's last ready instance (the app is stopped), "instance" when others
 * still serve (the summary address moves to one of them), "none" when
 * the app was not running.
 */
const char script_exited[] =
    LUA_KEY LUA_DROP
    "local gone = redis.call('HGET', key(ARGV[4], ARGV[3]), 'addr')\n"
    "drop(KEYS[3], ARGV[4], ARGV[5], ARGV[1], ARGV[3])\n"
    "if redis.call('HGET', KEYS[1], 'state') ~= 'running' then\n"
    "  return 'none'\n"
    "end\n"
    "local addr\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "  local ik = key(ARGV[4], id)\n"
    "  if redis.call('HGET', ik, 'state') == 'ready' then\n"
    "    addr = redis.call('HGET', ik, 'addr')\n"
    "  end\n"
    "end\n"
    "if not addr then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'stopped', 'addr', '',"
    " 'reason', ARGV[2])\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  return 'app'\n"
    "end\n"
    "if redis.call('HGET', KEYS[1], 'addr') == gone then\n"
    "  redis.call('HSET', KEYS[1], 'addr', addr)\n"
    "end\n"
    "return 'instance'\n";

/*
 * KEYS app, instances; ARGV to, inst_tpl. Records how many instances
 * the app should have, within its bounds. Returns {"missing"} or
 * {"ok", live, to, min, max}: LIVE the instances starting or ready now.
 */
const char script_scale[] =
    LUA_KEY LUA_WANTED
    "if not redis.call('HGET', KEYS[1], 'state') then return {'missing'}"
    " end\n"
    "redis.call('HSET', KEYS[1], 'desired', ARGV[1])\n"
    "local to, mn, mx = wanted(KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'desired', to)\n"
    "local live = 0\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  local st = redis.call('HGET', key(ARGV[2], id), 'state')\n"
    "  if st == 'starting' or st == 'ready' then live = live + 1 end\n"
    "end\n"
    "return {'ok', live, to, mn, mx}\n";

/*
 * KEYS app, instances; ARGV now_ms, inst_tpl. While the app runs,
 * compares its live instances with the count wanted: {"start", id}
 * reserves a new instance (recorded as starting), {"drain", id} takes
 * the newest ready one out of service (draining), {"ok"} is when they
 * match, {"idle"} when the app is not running.
 */
const char script_instance_reserve[] =
    LUA_KEY LUA_WANTED
    "if redis.call('HGET', KEYS[1], 'state') ~= 'running' then"
    " return {'idle'} end\n"
    "local want = wanted(KEYS[1])\n"
    "local live, newest, newest_t = 0, nil, -1\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  local ik = key(ARGV[2], id)\n"
    "  local st = redis.call('HGET', ik, 'state')\n"
    "  if st == 'starting' or st == 'ready' then live = live + 1 end\n"
    "  local t = tonumber(redis.call('HGET', ik, 'started') or '0') or 0\n"
    "  if st == 'ready' and t >= newest_t then newest, newest_t = id, t end\n"
    "end\n"
    "if live < want then\n"
    "  local id = free_id(KEYS[2])\n"
    "  redis.call('HSET', key(ARGV[2], id), 'state', 'starting', 'addr', '',"
    " 'host', '', 'release', redis.call('HGET', KEYS[1], 'release') or '',"
    " 'started', ARGV[1])\n"
    "  redis.call('SADD', KEYS[2], id)\n"
    "  return {'start', id}\n"
    "end\n"
    "if live > want and newest then\n"
    "  redis.call('HSET', key(ARGV[2], newest), 'state', 'draining')\n"
    "  return {'drain', newest}\n"
    "end\n"
    "return {'ok'}\n";

/*
 * KEYS app, instances, hosts; ARGV name, id, addr, host, now_ms,
 * inst_tpl, host_tpl. A reserved instance passed its readiness check:
 * 1, or 0 when it is no longer wanted (the app stopped meanwhile).
 */
const char script_instance_ready[] =
    LUA_KEY
    "local ik = key(ARGV[6], ARGV[2])\n"
    "if redis.call('HGET', ik, 'state') ~= 'starting' or"
    " redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end\n"
    "redis.call('HSET', ik, 'state', 'ready', 'addr', ARGV[3], 'host',"
    " ARGV[4])\n"
    "redis.call('SADD', key(ARGV[7], ARGV[4]), ARGV[1] .. '/' .. ARGV[2])\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])\n"
    "return 1\n";

/* KEYS instances; ARGV name, id, inst_tpl, host_tpl. A drained or failed
 * instance is gone. Returns 1 if it was still recorded. */
const char script_instance_gone[] =
    LUA_KEY LUA_DROP
    "return drop(KEYS[1], ARGV[3], ARGV[4], ARGV[1], ARGV[2])\n";

/*
 * KEYS app, lock, transit; ARGV name, owner, lock_ms. An app left in
 * starting or stopping by a replica that died (its lock expired) is
 * taken over to be stopped cleanly. Returns 1 if the caller now owns it.
 */
const char script_takeover[] =
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if st ~= 'starting' and st ~= 'stopping' then\n"
    "  redis.call('SREM', KEYS[3], ARGV[1])\n"
    "  return 0\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'state', 'stopping', 'reason',"
    " 'interrupted')\n"
    "return 1\n";
