/*
 * The key schema: every Redis key devcloud uses is built here and nowhere
 * else. All keys start with the configured prefix (default "dc:").
 *
 *   PREFIX routes              hash  domain -> target (see target.h)
 *   PREFIX apps                set   names of registered apps
 *   PREFIX app:NAME            hash  the app's record (driver, spec,
 *                                     state, addr, ttl, ...)
 *   PREFIX deadlines           zset  app -> ms when it may be stopped
 *   PREFIX lastaccess          zset  app -> ms of its last request
 *   PREFIX lock:wake:NAME      string lock held while one replica starts
 *                                     or stops the app (expires)
 *   PREFIX transit             set   apps in a transition (starting,
 *                                     stopping): what reconcile looks at
 *   PREFIX services            zset  "service/instance" -> last heartbeat
 *   PREFIX service:SVC/INST    hash  the heartbeat's fields
 *   PREFIX instances:APP       set   ids of the app's instances
 *   PREFIX instance:APP:ID     hash  one instance: state (starting,
 *                                     ready, draining, stopping, or
 *                                     staged: a deploy's, not in service
 *                                     yet), addr, host, release, started
 *                                     (ms)
 *   PREFIX hosts               zset  host -> ms it was last seen
 *   PREFIX host:HOST           set   "APP/ID" of the instances on HOST
 *   PREFIX hoststate:HOST      hash  the regulator's view of HOST:
 *                                     overloaded (0/1), origin, metric,
 *                                     value, since (ms), stops, action,
 *                                     action_ms, and the latest figure
 *                                     (figure, figure_ms)
 *   PREFIX relief:HOST         set   apps stopped in HOST's current
 *                                     overload episode (each once)
 *   PREFIX lock:relief:HOST    string held by the regulator replica
 *                                     taking HOST's next relief step
 *                                     (expires)
 *   PREFIX load:APP            hash  proxy "service/instance" -> "AVG PEAK
 *                                     MS": in-flight requests over the
 *                                     proxy's last flush interval
 *                                     (format and expiry: load.h)
 *   PREFIX lock:scale:APP      string the autoscaler's decision for APP
 *                                     this interval (expires)
 *   PREFIX lock:deploy:APP     string the release number of APP's deploy
 *                                     in progress (expires)
 *   PREFIX releaseseq:APP      string the last release number given to
 *                                     APP (INCR; numbers are never reused)
 *   PREFIX releases:APP        zset  APP's release numbers, scored by
 *                                     their number
 *   PREFIX release:APP:N       hash  one release: sha256, size, source,
 *                                     time (ms), state
 *   PREFIX pools               set   names of the IDE pools
 *   PREFIX pool:POOL           hash  the pool's spec (driver, image,
 *                                     command, cport, ready, domain,
 *                                     workspace, env, active, inactive,
 *                                     ttl) and its health (paused,
 *                                     fails, failing)
 *   PREFIX members:POOL        set   ids of the pool's members
 *   PREFIX free:POOL           set   members started, ready, not leased
 *   PREFIX spare:POOL          set   members created, not started
 *   PREFIX member:POOL:ID      hash  one member: state, container,
 *                                     addr, domain, owner, since, tier
 *   PREFIX memberseq:POOL      string the last member number given
 *   PREFIX domains             hash  domain -> "POOL/ID": the member a
 *                                     domain is bound to, from the
 *                                     acquire until its files are saved
 *   PREFIX leases              hash  domain -> "POOL ID ADDR TTL": the
 *                                     bound members serving (what the
 *                                     proxies route)
 *   PREFIX leasedeadlines      zset  domain -> ms when its lease lapses
 *   PREFIX deploying           set   apps with a deploy in progress (the
 *                                     deployer's recovery looks here
 *                                     for deploys whose lock lapsed)
 *
 * Each function writes the key into BUF and returns BUF, or NULL when the
 * name is not a valid name (keys_name_valid) or the key does not fit.
 */
#ifndef DC_KEYS_H
#define DC_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEY_MAX 384

/* Sets the prefix (copied; at most 31 bytes). Default "dc:". */
int keys_init(const char *prefix);
const char *keys_prefix(void);

/*
 * App, service and instance names: 1-63 bytes of [A-Za-z0-9._-], not
 * starting with '.' or '-'. Names are put into keys unescaped, so
 * anything else is refused where it enters.
 */
bool keys_name_valid(const char *name);

const char *key_routes(char *buf, size_t len);
const char *key_apps(char *buf, size_t len);
const char *key_app(char *buf, size_t len, const char *app);
const char *key_deadlines(char *buf, size_t len);
const char *key_lastaccess(char *buf, size_t len);
const char *key_wake_lock(char *buf, size_t len, const char *app);
const char *key_transit(char *buf, size_t len);
const char *key_services(char *buf, size_t len);
const char *key_service(char *buf, size_t len, const char *service,
    const char *instance);
const char *key_instances(char *buf, size_t len, const char *app);
const char *key_instance(char *buf, size_t len, const char *app,
    const char *id);
const char *key_hosts(char *buf, size_t len);
/* HOST: a host name as keys_name_valid takes it (host_name() in
 * driver.h makes one of the machine's). */
const char *key_host(char *buf, size_t len, const char *host);
const char *key_hoststate(char *buf, size_t len, const char *host);
const char *key_relief(char *buf, size_t len, const char *host);
const char *key_relief_lock(char *buf, size_t len, const char *host);
const char *key_load(char *buf, size_t len, const char *app);
const char *key_scale_lock(char *buf, size_t len, const char *app);
const char *key_deploy_lock(char *buf, size_t len, const char *app);
const char *key_release_seq(char *buf, size_t len, const char *app);
const char *key_releases(char *buf, size_t len, const char *app);
/* RELEASE: a release number (1 and up). */
const char *key_release(char *buf, size_t len, const char *app,
    unsigned long long release);
const char *key_deploying(char *buf, size_t len);

/* POOL: a pool name as keys_name_valid takes it; ID a member id. */
const char *key_pools(char *buf, size_t len);
const char *key_pool(char *buf, size_t len, const char *pool);
const char *key_pool_members(char *buf, size_t len, const char *pool);
const char *key_pool_free(char *buf, size_t len, const char *pool);
const char *key_pool_spare(char *buf, size_t len, const char *pool);
const char *key_member(char *buf, size_t len, const char *pool,
    const char *id);
const char *key_member_seq(char *buf, size_t len, const char *pool);
const char *key_domains(char *buf, size_t len);
const char *key_leases(char *buf, size_t len);
const char *key_lease_deadlines(char *buf, size_t len);

#endif
