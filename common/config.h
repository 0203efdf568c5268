/*
 * Configuration. One libconfig file (devcloud.conf) with shared sections
 * (log, redis, bus) and one section per daemon; every daemon reads the
 * whole file and uses its own part. Settings are declared once, in the
 * table in config.c (type, default, bounds, help); docs/config.md lists
 * the same table and a unit test keeps the two in step.
 *
 * Precedence: built-in default < file < environment. Every setting can be
 * overridden by DEVCLOUD_<SECTION>_<NAME> (DEVCLOUD_PROXY_LISTEN), and the
 * few that containers always need have short names too: DEVCLOUD_REDIS,
 * DEVCLOUD_BUS_IN, DEVCLOUD_BUS_OUT, DEVCLOUD_INSTANCE.
 */
#ifndef DC_CONFIG_H
#define DC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_ADDR_MAX 256
#define CONFIG_PATH_MAX 512
#define CONFIG_ERR_MAX 512

/* What every daemon has: where it answers commands and serves /metrics. */
struct config_daemon {
	char control[CONFIG_ADDR_MAX];	/* nng URL of its rep socket */
	char admin[CONFIG_ADDR_MAX];	/* HOST:PORT of /healthz, /metrics */
};

struct config {
	char path[CONFIG_PATH_MAX];	/* file read, "" for defaults only */
	char log_level[16];
	char instance[64];		/* "" = hostname-pid */

	struct {
		char address[CONFIG_ADDR_MAX];	/* HOST:PORT or /path.sock */
		char prefix[32];
		int retry_max_ms;
	} redis;

	struct {
		char in[CONFIG_ADDR_MAX];
		char out[CONFIG_ADDR_MAX];
		char admin[CONFIG_ADDR_MAX];	/* the broker's admin port */
		int heartbeat_ms;
		int max_msg_bytes;
		int call_timeout_ms;
	} bus;

	struct {
		struct config_daemon d;
		char listen[CONFIG_ADDR_MAX];
		int workers;			/* 0 = one per core */
		int max_connections;
		int max_request_line;
		int max_header_bytes;
		int header_timeout_ms;
		int keepalive_timeout_ms;
		int connect_timeout_ms;
		int upstream_timeout_ms;
		int upstream_max_conns;		/* per upstream; 0 = no limit */
		int hold_max_requests;
		int hold_max_bytes;
		int hold_timeout_ms;
		int flush_interval_ms;
		int route_refresh_ms;
		int stop_grace_ms;		/* drain on SIGTERM; 0: none */
	} proxy;

	struct {
		struct config_daemon d;
		char run_dir[CONFIG_PATH_MAX];
		int default_ttl_s;
		int sweep_interval_ms;
		int start_timeout_ms;
		int stop_grace_ms;
		char docker_socket[CONFIG_PATH_MAX];
		char docker_network[64];	/* "": Docker's default */
		char host[64];		/* "": the host name */
		int drain_ms;
		int instances_max;
		int max_concurrent_starts;	/* on an overloaded host */
	} autostart;

	struct {
		struct config_daemon d;
		int scale_interval_ms;		/* autoscaler: one tick */
		int scale_up_window_ms;
		int scale_down_window_ms;
		int panic_factor;		/* 0: no panic */
		int scale_step;			/* instances per decision */
		int apps_refresh_ms;		/* full rescan of the apps */
		/* host relief (relief.c) */
		int stop_batch;			/* apps stopped per step */
		int step_interval_ms;
		int max_stops_per_episode;
		int stop_leased_ides;		/* 0/1 */
		char token[128];		/* the webhooks' bearer token */
		char host_label[64];		/* Alertmanager's host label */
		/* the local source (local.c): PSI triggers, MemAvailable */
		int watch_local;		/* 0/1 */
		char host[64];			/* "": the host name */
		struct config_psi {
			int stall_us;		/* 0: not watched */
			int window_us;
			int recover_pct;	/* below: recovered */
		} psi_memory, psi_cpu, psi_io;
		int mem_available_min_mb;	/* 0: not watched */
		int mem_available_recover_mb;
	} regulator;

	struct {
		struct config_daemon d;
		char docker_socket[CONFIG_PATH_MAX];
		char docker_network[64];	/* "": Docker's default */
		/* "": files copied through the Engine API; else each
		 * member's workspace is DIR/POOL/ID bind-mounted */
		char docker_bind_dir[CONFIG_PATH_MAX];
		char members_dir[CONFIG_PATH_MAX];	/* process members */
		char workspace_dir[CONFIG_PATH_MAX];	/* the developers' files */
		int workspace_max_bytes;
		int max_concurrent_starts;	/* refills at once, all pools */
		int ready_timeout_ms;		/* a member's start to ready */
		int acquire_timeout_ms;		/* an acquire, all waits */
		int fail_threshold;		/* failed starts in a row */
		int sweep_interval_ms;		/* lease deadlines */
		int reconcile_interval_ms;	/* Redis against the driver */
	} idepool;

	struct {
		struct config_daemon d;
		char token[128];		/* the upload's bearer token */
		char releases_dir[CONFIG_PATH_MAX];
		int max_artifact_bytes;		/* the upload, compressed */
		int max_unpacked_bytes;		/* its files, unpacked */
		int max_entries;		/* its entries */
		int keep_releases;		/* kept per app, current aside */
		int drain_ms;			/* old instances, after switch */
		int watch_ms;			/* new ones watched after it */
		int watch_interval_ms;		/* between the watch's probes */
		int watch_failures;		/* probes failed in a row: bad */
		int fetch_timeout_ms;		/* a download, whole */
		int fetch_connect_timeout_ms;
		int fetch_max_redirects;
		char fetch_bearer[256];		/* the CI server's token */
		char fetch_user[256];		/* or USER:PASSWORD (basic) */
	} deployer;

	/* The orchestrator drivers (driver_kubernetes.c, driver_swarm.c). */
	struct {
		char kubernetes_api[256];	/* "": in-cluster */
		char kubernetes_token_file[CONFIG_PATH_MAX];
		char kubernetes_ca_file[CONFIG_PATH_MAX];
		char kubernetes_namespace[64];	/* "": the pod's own */
		int kubernetes_timeout_ms;	/* one API request */
		char swarm_network[64];		/* "": local bridge */
	} drivers;
};

/*
 * Fills CFG with the defaults, then the file at PATH (NULL: none), then
 * the environment. Returns 0, or -1 with ERR naming file:line and the
 * setting. CFG is written only on success.
 */
int config_load(struct config *cfg, const char *path, char *err,
    size_t errlen);

/* An nng URL we can use: tcp://HOST:PORT, ipc://PATH, tls+tcp://, ... */
bool config_url_valid(const char *url);

/* Returns the part of CFG that belongs to daemon NAME, or NULL. */
const struct config_daemon *config_daemon(const struct config *cfg,
    const char *name);

/* The setting table, for docs and tests: iterate with i until NULL. */
const char *config_table_name(size_t i);
const char *config_table_env(size_t i, char *buf, size_t len);

#endif
