/*
 * devcloud-idepool: keeps online-IDE containers ready in pools (DESIGN.md,
 * "Pools and leases"). Each pool keeps N members started, ready and free
 * (ACTIVE) and M created but not started (INACTIVE: disk, not memory). A
 * proxy's "acquire" (pool, domain) binds a member to the domain in one
 * Lua script, whatever the number of idepool and proxy replicas: a free
 * ACTIVE one, else an INACTIVE one started now, else one created and
 * started now; the developer's files are copied in and the lease is
 * recorded with its deadline. The proxies push the deadline on activity;
 * when it lapses (or on `devcloudctl pool release`) the files are saved
 * and the member is destroyed: a member never serves two developers.
 *
 * State lives in Redis (keys.h: pools, pool:, members:, free:, spare:,
 * member:, domains, leases, leasedeadlines); a member in a transient
 * state names its owner (the replica driving it), so a replica that
 * died mid-way is finished by another or by itself after a restart
 * (reconcile.c).
 *
 *   pool.c       pool specs, the refill plan, starting members, the
 *                circuit breaker
 *   lease.c      acquire, release, the deadline sweep
 *   reconcile.c  Redis against what the drivers run, at start and
 *                periodically; pools being removed
 *   member*.c    the drivers (member.h)
 *   main.c       the hooks on the service skeleton, metrics
 */
#ifndef DC_IDEPOOL_H
#define DC_IDEPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "bus.h"
#include "member.h"
#include "metrics.h"
#include "service.h"

#define IDEPOOL_MAX_POOLS 256

/* A pool as this replica last read it. */
struct pool {
	struct pool_spec spec;
	char domain[MSG_DOMAIN_MAX];	/* its wildcard route, or "" */
	int active, inactive;		/* the tiers' targets */
	int ttl_s;
	bool paused, removing;
	char failing[MSG_TEXT_MAX];	/* the breaker's reason, or "" */
	bool loaded;
	bool refilling;			/* a plan is out */
	bool refill_again;		/* asked meanwhile */
};

/* Something waiting for a start slot. */
struct start_wait {
	struct start_wait *next;
	void (*run)(struct start_wait *w);
};

struct idepool {
	struct service *svc;
	struct members *members;
	struct pool pools[IDEPOOL_MAX_POOLS];
	int npools;
	int starts;			/* member starts in flight here */
	struct start_wait *waiting, *waiting_tail;
	uv_timer_t sweep;
	uv_timer_t reconcile;
	int64_t stats_due;		/* mono ms of the next gauge read */
	bool sweeping;
};

/* pool.c */
struct pool *pool_find(struct idepool *ip, const char *name);
/* Reads NAME's record; CB(ip, pool or NULL if gone, arg) when read. */
void pool_load(struct idepool *ip, const char *name,
    void (*cb)(struct idepool *, struct pool *, void *), void *arg);
/* Runs the refill plan of P now (or again when the plan out returns). */
void pool_refill(struct idepool *ip, struct pool *p);
/* A start slot: W runs now or when a start ends (idepool.max_concurrent_
 * starts over all pools); start_done gives the slot back. */
void start_slot(struct idepool *ip, struct start_wait *w);
void start_done(struct idepool *ip);
/* A member of P failed to start or be ready (true: trips the breaker
 * now) or came up (false after a success resets the count). */
void pool_start_failed(struct idepool *ip, struct pool *p, const char *why);
void pool_start_ok(struct idepool *ip, struct pool *p);
/*
 * Starts member ID of P (already created) and probes it until ready or
 * idepool.ready_timeout_ms; CB(ok, addr or reason, arg). Takes a start
 * slot for the whole of it.
 */
typedef void (*boot_cb)(struct idepool *ip, bool ok, const char *addr_or_why,
    void *arg);
void pool_boot(struct idepool *ip, struct pool *p, const char *id,
    bool create, boot_cb cb, void *arg);
/* Destroys member ID of P in the driver, then forgets it in Redis; if
 * DOMAIN is set, unbinds it first (only from this member). */
void pool_discard(struct idepool *ip, struct pool *p, const char *id,
    const char *domain);
/* EVAL helper: SCRIPT with NKEYS of ARGV (keys then arguments). */
int ip_eval(struct idepool *ip, const char *script, int nkeys, int argc,
    const char **argv, store_reply_cb cb, void *arg);
/* The template "PREFIXmember:POOL:" for scripts that name members. */
const char *pool_member_tpl(char *buf, size_t len, const char *pool);
void pool_publish(struct idepool *ip, struct msg *m);
void pool_init_metrics(void);
extern struct metric m_refill_failures;

/* lease.c */
bool lease_on_command(struct idepool *ip, struct bus_request *req,
    const struct msg *m);
void lease_sweep(struct idepool *ip);
/* Releases DOMAIN (bound to ID of P) whose member is "releasing" and
 * owned by us: save, destroy, forget. REQ answered if not NULL. */
void lease_release_run(struct idepool *ip, struct pool *p, const char *id,
    const char *domain, const char *reason, struct bus_request *req);
void lease_init_metrics(void);

/* reconcile.c */
/* Reads every pool again, reconciles and refills each. */
void reconcile_all(struct idepool *ip);
/* The reconcile and sweep timers, the members gauges. */
void reconcile_init(struct idepool *ip);

#endif
