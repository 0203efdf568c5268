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
 */
#include "autostart.h"

/*
 * KEYS app, lock, transit; ARGV name, owner, lock_ms, now_ms.
 * Returns {"missing"} | {"running", addr} | {"stopping"} | {"starting"}
 * | {"backoff", reason, ms_left} | {"start"} (the caller holds the lock).
 */
const char script_wake[] =
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
    "  return {'start'}\n"
    "end\n"
    "return {'starting'}\n";

/* KEYS app, lock, transit, deadlines; ARGV name, owner, addr, deadline. */
const char script_ready[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'running', 'addr', ARGV[3],"
    " 'reason', '', 'failures', 0)\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('SREM', KEYS[3], ARGV[1])\n"
    "redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])\n"
    "return 1\n";

/*
 * KEYS app, lock, transit; ARGV name, owner, reason, now_ms.
 * Returns the backoff in ms before the next start may be tried, or -1.
 */
const char script_failed[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end\n"
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

/* KEYS app, lock, transit; ARGV name, owner, reason. */
const char script_stopped[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'stopped', 'addr', '',"
    " 'reason', ARGV[3])\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('SREM', KEYS[3], ARGV[1])\n"
    "return 1\n";

/* KEYS app, deadlines; ARGV name, reason. The app ended on its own. */
const char script_exited[] =
    "if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'stopped', 'addr', '',"
    " 'reason', ARGV[2])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "return 1\n";

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
