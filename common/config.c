/*
 * Configuration loading. The table below is the only place a setting is
 * declared: its name in the file ("section.setting"), its type, where it
 * lands in struct config, its default and bounds, and a line of help.
 */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "app.h"
#include "config.h"

enum conf_type { CONF_STR, CONF_INT };

/* What a string setting must look like. */
enum conf_check {
	CHECK_NONE,
	CHECK_URL,	/* an nng URL */
	CHECK_HOSTPORT,	/* HOST:PORT or [IPv6]:PORT (addr.h) */
	CHECK_LEVEL,	/* a log level */
	CHECK_NAME,	/* a key-safe name, may be empty */
	CHECK_ADDRESS,	/* the same or /path/to/unix.sock */
	CHECK_NONEMPTY,	/* anything but "" */
};

struct conf_setting {
	const char *name;	/* "section.setting" */
	enum conf_type type;
	size_t offset;
	size_t size;		/* of the char array, for CONF_STR */
	const char *def_str;
	int def_int;
	int min, max;
	enum conf_check check;
	const char *alias_env;	/* short environment name, or NULL */
};

#define STR(n, field, def, chk, env) { n, CONF_STR, \
	offsetof(struct config, field), \
	sizeof(((struct config *)0)->field), def, 0, 0, 0, chk, env }
#define INT(n, field, def, lo, hi) { n, CONF_INT, \
	offsetof(struct config, field), 0, NULL, def, lo, hi, CHECK_NONE, NULL }
#define DAEMON(sec, ctl, adm) \
	STR(#sec ".control", sec.d.control, ctl, CHECK_URL, NULL), \
	STR(#sec ".admin", sec.d.admin, adm, CHECK_HOSTPORT, NULL)
/* A PSI trigger's three settings: stall per window (the kernel takes
 * windows of 500 ms to 10 s; without CAP_SYS_RESOURCE, multiples of
 * 2 s), and the share of the last step below which it has recovered. */
#define PSI(res, stall, window, recover) \
	INT("regulator.psi_" #res "_stall_us", \
	    regulator.psi_##res.stall_us, stall, 0, 10000000), \
	INT("regulator.psi_" #res "_window_us", \
	    regulator.psi_##res.window_us, window, 500000, 10000000), \
	INT("regulator.psi_" #res "_recover_pct", \
	    regulator.psi_##res.recover_pct, recover, 0, 100)

static const struct conf_setting settings[] = {
	STR("log.level", log_level, "info", CHECK_LEVEL, NULL),
	STR("log.instance", instance, "", CHECK_NAME, "DEVCLOUD_INSTANCE"),

	STR("redis.address", redis.address, "127.0.0.1:6379", CHECK_ADDRESS,
	    "DEVCLOUD_REDIS"),
	STR("redis.prefix", redis.prefix, "dc:", CHECK_NONEMPTY, NULL),
	INT("redis.retry_max_ms", redis.retry_max_ms, 2000, 10, 60000),

	STR("bus.in", bus.in, "tcp://127.0.0.1:7400", CHECK_URL,
	    "DEVCLOUD_BUS_IN"),
	STR("bus.out", bus.out, "tcp://127.0.0.1:7401", CHECK_URL,
	    "DEVCLOUD_BUS_OUT"),
	STR("bus.admin", bus.admin, "127.0.0.1:7409", CHECK_HOSTPORT, NULL),
	INT("bus.heartbeat_ms", bus.heartbeat_ms, 2000, 100, 600000),
	INT("bus.max_msg_bytes", bus.max_msg_bytes, 65536, 1024, 65536),
	INT("bus.call_timeout_ms", bus.call_timeout_ms, 5000, 10, 600000),

	DAEMON(proxy, "tcp://127.0.0.1:7410", "127.0.0.1:7420"),
	STR("proxy.listen", proxy.listen, "0.0.0.0:8080", CHECK_HOSTPORT,
	    NULL),
	INT("proxy.workers", proxy.workers, 0, 0, 256),
	INT("proxy.max_connections", proxy.max_connections, 100000, 1,
	    10000000),
	INT("proxy.max_request_line", proxy.max_request_line, 8192, 64,
	    1048576),
	INT("proxy.max_header_bytes", proxy.max_header_bytes, 32768, 256,
	    1048576),
	INT("proxy.header_timeout_ms", proxy.header_timeout_ms, 10000, 10,
	    3600000),
	INT("proxy.keepalive_timeout_ms", proxy.keepalive_timeout_ms, 60000,
	    10, 3600000),
	INT("proxy.connect_timeout_ms", proxy.connect_timeout_ms, 5000, 10,
	    600000),
	INT("proxy.upstream_timeout_ms", proxy.upstream_timeout_ms, 60000, 10,
	    3600000),
	INT("proxy.upstream_max_conns", proxy.upstream_max_conns, 64, 0,
	    100000),
	INT("proxy.hold_max_requests", proxy.hold_max_requests, 1024, 0,
	    1000000),
	INT("proxy.hold_max_bytes", proxy.hold_max_bytes, 1048576, 0,
	    1073741824),
	INT("proxy.hold_timeout_ms", proxy.hold_timeout_ms, 60000, 10,
	    3600000),
	INT("proxy.flush_interval_ms", proxy.flush_interval_ms, 1000, 10,
	    60000),
	INT("proxy.route_refresh_ms", proxy.route_refresh_ms, 30000, 100,
	    3600000),
	INT("proxy.stop_grace_ms", proxy.stop_grace_ms, 5000, 0, 600000),

	DAEMON(autostart, "tcp://127.0.0.1:7411", "127.0.0.1:7421"),
	STR("autostart.run_dir", autostart.run_dir, "/tmp/devcloud",
	    CHECK_NONE, NULL),
	INT("autostart.default_ttl_s", autostart.default_ttl_s, 600, 1,
	    31536000),
	INT("autostart.sweep_interval_ms", autostart.sweep_interval_ms, 500,
	    10, 60000),
	INT("autostart.start_timeout_ms", autostart.start_timeout_ms, 60000,
	    100, 3600000),
	INT("autostart.stop_grace_ms", autostart.stop_grace_ms, 10000, 0,
	    600000),
	STR("autostart.docker_socket", autostart.docker_socket,
	    "/var/run/docker.sock", CHECK_NONE, NULL),
	STR("autostart.docker_network", autostart.docker_network, "",
	    CHECK_NONE, NULL),
	STR("autostart.host", autostart.host, "", CHECK_NONE, NULL),
	INT("autostart.drain_ms", autostart.drain_ms, 1000, 0, 600000),
	INT("autostart.instances_max", autostart.instances_max, 16, 1,
	    APP_INSTANCES_MAX),
	INT("autostart.max_concurrent_starts",
	    autostart.max_concurrent_starts, 4, 1, 100000),

	DAEMON(regulator, "tcp://127.0.0.1:7412", "127.0.0.1:7422"),
	INT("regulator.scale_interval_ms", regulator.scale_interval_ms, 1000,
	    50, 600000),
	INT("regulator.scale_up_window_ms", regulator.scale_up_window_ms,
	    10000, 0, 3600000),
	INT("regulator.scale_down_window_ms", regulator.scale_down_window_ms,
	    300000, 0, 86400000),
	INT("regulator.panic_factor", regulator.panic_factor, 2, 0, 1000),
	INT("regulator.scale_step", regulator.scale_step, 2, 1,
	    APP_INSTANCES_MAX),
	INT("regulator.apps_refresh_ms", regulator.apps_refresh_ms, 30000,
	    100, 3600000),
	INT("regulator.stop_batch", regulator.stop_batch, 1, 1, 1000),
	INT("regulator.step_interval_ms", regulator.step_interval_ms, 1000,
	    10, 600000),
	INT("regulator.max_stops_per_episode",
	    regulator.max_stops_per_episode, 50, 1, 1000000),
	INT("regulator.stop_leased_ides", regulator.stop_leased_ides, 0, 0, 1),
	STR("regulator.token", regulator.token, "", CHECK_NONE, NULL),
	STR("regulator.host_label", regulator.host_label, "instance",
	    CHECK_NONEMPTY, NULL),
	INT("regulator.watch_local", regulator.watch_local, 1, 0, 1),
	STR("regulator.host", regulator.host, "", CHECK_NONE, NULL),
	PSI(memory, 200000, 2000000, 5),
	PSI(cpu, 0, 2000000, 20),
	PSI(io, 0, 2000000, 10),
	INT("regulator.mem_available_min_mb", regulator.mem_available_min_mb,
	    0, 0, 100000000),
	INT("regulator.mem_available_recover_mb",
	    regulator.mem_available_recover_mb, 0, 0, 100000000),
	DAEMON(idepool, "tcp://127.0.0.1:7413", "127.0.0.1:7423"),
	STR("idepool.docker_socket", idepool.docker_socket,
	    "/var/run/docker.sock", CHECK_NONE, NULL),
	STR("idepool.docker_network", idepool.docker_network, "",
	    CHECK_NONE, NULL),
	STR("idepool.docker_bind_dir", idepool.docker_bind_dir, "",
	    CHECK_NONE, NULL),
	STR("idepool.members_dir", idepool.members_dir,
	    "/tmp/devcloud/pool", CHECK_NONEMPTY, NULL),
	STR("idepool.workspace_dir", idepool.workspace_dir,
	    "/var/lib/devcloud/workspaces", CHECK_NONEMPTY, NULL),
	INT("idepool.workspace_max_bytes", idepool.workspace_max_bytes,
	    1073741824, 1024, INT_MAX),
	INT("idepool.max_concurrent_starts", idepool.max_concurrent_starts, 4,
	    1, 1000),
	INT("idepool.ready_timeout_ms", idepool.ready_timeout_ms, 120000,
	    100, 3600000),
	INT("idepool.acquire_timeout_ms", idepool.acquire_timeout_ms, 120000,
	    100, 3600000),
	INT("idepool.fail_threshold", idepool.fail_threshold, 3, 1, 1000),
	INT("idepool.sweep_interval_ms", idepool.sweep_interval_ms, 500, 10,
	    60000),
	INT("idepool.reconcile_interval_ms", idepool.reconcile_interval_ms,
	    30000, 100, 3600000),
	DAEMON(deployer, "tcp://127.0.0.1:7414", "127.0.0.1:7424"),
	STR("deployer.token", deployer.token, "", CHECK_NONE, NULL),
	STR("deployer.releases_dir", deployer.releases_dir,
	    "/var/lib/devcloud/releases", CHECK_NONEMPTY, NULL),
	INT("deployer.max_artifact_bytes", deployer.max_artifact_bytes,
	    268435456, 1024, INT_MAX),
	INT("deployer.max_unpacked_bytes", deployer.max_unpacked_bytes,
	    1073741824, 1024, INT_MAX),
	INT("deployer.max_entries", deployer.max_entries, 100000, 1,
	    10000000),
	INT("deployer.keep_releases", deployer.keep_releases, 5, 1, 1000),
	INT("deployer.drain_ms", deployer.drain_ms, 2000, 0, 600000),
	INT("deployer.watch_ms", deployer.watch_ms, 30000, 0, 3600000),
	INT("deployer.watch_interval_ms", deployer.watch_interval_ms, 500, 50,
	    60000),
	INT("deployer.watch_failures", deployer.watch_failures, 2, 1, 100),
	INT("deployer.fetch_timeout_ms", deployer.fetch_timeout_ms, 300000,
	    100, 3600000),
	INT("deployer.fetch_connect_timeout_ms",
	    deployer.fetch_connect_timeout_ms, 10000, 100, 600000),
	INT("deployer.fetch_max_redirects", deployer.fetch_max_redirects, 5, 0,
	    50),
	STR("deployer.fetch_bearer", deployer.fetch_bearer, "", CHECK_NONE,
	    NULL),
	STR("deployer.fetch_user", deployer.fetch_user, "", CHECK_NONE, NULL),

	STR("drivers.kubernetes_api", drivers.kubernetes_api, "", CHECK_NONE,
	    NULL),
	STR("drivers.kubernetes_token_file", drivers.kubernetes_token_file,
	    "/var/run/secrets/kubernetes.io/serviceaccount/token", CHECK_NONE,
	    NULL),
	STR("drivers.kubernetes_ca_file", drivers.kubernetes_ca_file,
	    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", CHECK_NONE,
	    NULL),
	STR("drivers.kubernetes_namespace", drivers.kubernetes_namespace, "",
	    CHECK_NONE, NULL),
	INT("drivers.kubernetes_timeout_ms", drivers.kubernetes_timeout_ms,
	    10000, 100, 600000),
	STR("drivers.swarm_network", drivers.swarm_network, "", CHECK_NONE,
	    NULL),
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct conf_setting *
setting_find(const char *section, const char *name)
{
	size_t sl = strlen(section);

	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *n = settings[i].name;
		if (strncmp(n, section, sl) == 0 && n[sl] == '.' &&
		    strcmp(n + sl + 1, name) == 0)
			return &settings[i];
	}
	return NULL;
}

static bool
section_known(const char *section)
{
	size_t sl = strlen(section);

	for (size_t i = 0; i < NSETTINGS; i++)
		if (strncmp(settings[i].name, section, sl) == 0 &&
		    settings[i].name[sl] == '.')
			return true;
	return false;
}

/*
 * An nng URL; for tcp and tls+tcp, the HOST:PORT after the scheme follows
 * addr_parse's rule and *WHY says what is wrong with it.
 */
static bool
check_url(const char *s, const char **why)
{
	static const char *const schemes[] = {"tcp://", "tcp4://", "tcp6://",
	    "ipc://", "tls+tcp://", "inproc://"};

	*why = NULL;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(s, schemes[i], n) != 0)
			continue;
		if (strncmp(s, "tcp", 3) == 0 || strncmp(s, "tls", 3) == 0)
			return addr_parse(s + n, 0, NULL, 0, NULL, why) == 0;
		return s[n] != '\0';
	}
	return false;
}

bool
config_url_valid(const char *s)
{
	const char *why;

	return check_url(s, &why);
}

static bool
check_name(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("._-", *s) == NULL)
			return false;
	return true;
}

/*
 * Returns NULL if VALUE passes CHECK, else what it should look like
 * (static, or written to BUF).
 */
static const char *
check_string(enum conf_check check, const char *value, char *buf,
    size_t len)
{
	const char *why;

	switch (check) {
	case CHECK_NONE:
		return NULL;
	case CHECK_URL:
		if (check_url(value, &why))
			return NULL;
		snprintf(buf, len, "must be an nng URL such as tcp://HOST:PORT "
		    "or ipc:///path%s%s", why != NULL ? "; the address " : "",
		    why != NULL ? why : "");
		return buf;
	case CHECK_HOSTPORT:
		if (addr_parse(value, 0, NULL, 0, NULL, &why) == 0)
			return NULL;
		snprintf(buf, len, "must be HOST:PORT or [IPV6]:PORT; this %s",
		    why);
		return buf;
	case CHECK_LEVEL:
		return strcmp(value, "debug") == 0 ||
		    strcmp(value, "info") == 0 || strcmp(value, "warn") == 0 ||
		    strcmp(value, "error") == 0 ? NULL :
		    "must be one of debug, info, warn, error";
	case CHECK_NAME:
		return check_name(value) ? NULL :
		    "may hold only letters, digits, '.', '_' and '-'";
	case CHECK_ADDRESS:
		if (addr_parse(value, ADDR_UNIX, NULL, 0, NULL, &why) == 0)
			return NULL;
		snprintf(buf, len, "must be HOST:PORT, [IPV6]:PORT or the path "
		    "of a unix socket; this %s", why);
		return buf;
	case CHECK_NONEMPTY:
		return value[0] != '\0' ? NULL : "must not be empty";
	}
	return NULL;
}

/*
 * Stores a string value into CFG after checking it; WHERE names the origin
 * for errors ("devcloud.conf:12" or "environment DEVCLOUD_REDIS").
 */
static int
setting_set_str(struct config *cfg, const struct conf_setting *s,
    const char *value, const char *where, char *err, size_t errlen)
{
	char buf[256];
	const char *why;

	if (strlen(value) >= s->size) {
		snprintf(err, errlen, "%s: %s: too long (at most %zu bytes)",
		    where, s->name, s->size - 1);
		return -1;
	}
	if ((why = check_string(s->check, value, buf, sizeof(buf))) != NULL) {
		snprintf(err, errlen, "%s: %s: %s (got \"%s\")", where,
		    s->name, why, value);
		return -1;
	}
	memcpy((char *)cfg + s->offset, value, strlen(value) + 1);
	return 0;
}

static int
setting_set_int(struct config *cfg, const struct conf_setting *s,
    long long value, const char *where, char *err, size_t errlen)
{
	if (value < s->min || value > s->max) {
		snprintf(err, errlen,
		    "%s: %s: must be between %d and %d (got %lld)", where,
		    s->name, s->min, s->max, value);
		return -1;
	}
	*(int *)((char *)cfg + s->offset) = (int)value;
	return 0;
}

/* The file ITEM was read from: PATH, or the file PATH @include'd. */
static const char *
setting_file(const config_setting_t *item, const char *path)
{
	const char *f = config_setting_source_file(item);

	return f != NULL ? f : path;
}

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct conf_setting *s = &settings[i];
		if (s->type == CONF_STR)
			snprintf((char *)cfg + s->offset, s->size, "%s",
			    s->def_str);
		else
			*(int *)((char *)cfg + s->offset) = s->def_int;
	}
}

static int
config_apply_setting(struct config *cfg, const char *path,
    config_setting_t *section, config_setting_t *item, char *err,
    size_t errlen)
{
	const char *sname = config_setting_name(section);
	const char *iname = config_setting_name(item);
	const struct conf_setting *s = setting_find(sname, iname);
	char where[CONFIG_PATH_MAX + 16];
	int t = config_setting_type(item);

	snprintf(where, sizeof(where), "%s:%d", setting_file(item, path),
	    config_setting_source_line(item));
	if (s == NULL) {
		snprintf(err, errlen, "%s: %s.%s: unknown setting", where,
		    sname, iname);
		return -1;
	}
	if (s->type == CONF_STR) {
		if (t != CONFIG_TYPE_STRING) {
			snprintf(err, errlen, "%s: %s: must be a string",
			    where, s->name);
			return -1;
		}
		return setting_set_str(cfg, s, config_setting_get_string(item),
		    where, err, errlen);
	}
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		snprintf(err, errlen, "%s: %s: must be an integer", where,
		    s->name);
		return -1;
	}
	return setting_set_int(cfg, s, config_setting_get_int64(item), where,
	    err, errlen);
}

static int
conf_read_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	config_t lc;
	config_setting_t *root;
	int rc = -1;

	config_init(&lc);
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
		else
			snprintf(err, errlen, "%s:%d: %s",
			    config_error_file(&lc) ? config_error_file(&lc) :
			    path, config_error_line(&lc),
			    config_error_text(&lc));
		goto fail;
	}
	root = config_root_setting(&lc);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *sec = config_setting_get_elem(root, i);
		const char *sname = config_setting_name(sec);

		if (config_setting_type(sec) != CONFIG_TYPE_GROUP ||
		    !section_known(sname)) {
			snprintf(err, errlen, "%s:%d: %s: unknown section",
			    setting_file(sec, path),
			    config_setting_source_line(sec), sname);
			goto fail;
		}
		for (int j = 0; j < config_setting_length(sec); j++)
			if (config_apply_setting(cfg, path, sec,
			    config_setting_get_elem(sec, j), err, errlen) != 0)
				goto fail;
	}
	rc = 0;
fail:
	config_destroy(&lc);
	return rc;
}

const char *
config_table_env(size_t i, char *buf, size_t len)
{
	size_t n = 0;
	const char *p;

	if (i >= NSETTINGS || len == 0)
		return NULL;
	if (strlen("DEVCLOUD_") + strlen(settings[i].name) >= len)
		return NULL;
	n = (size_t)snprintf(buf, len, "DEVCLOUD_");
	for (p = settings[i].name; *p != '\0'; p++)
		buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	buf[n] = '\0';
	return buf;
}

static int
config_env_one(struct config *cfg, const struct conf_setting *s,
    const char *var, char *err, size_t errlen)
{
	const char *v = getenv(var);
	char where[128];
	long long n;
	char *end;

	if (v == NULL)
		return 0;
	snprintf(where, sizeof(where), "environment %s", var);
	if (s->type == CONF_STR)
		return setting_set_str(cfg, s, v, where, err, errlen);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0') {
		snprintf(err, errlen, "%s: %s: must be an integer (got \"%s\")",
		    where, s->name, v);
		return -1;
	}
	return setting_set_int(cfg, s, n, where, err, errlen);
}

/* The generic name first, then the short alias, which wins. */
static int
config_env(struct config *cfg, char *err, size_t errlen)
{
	char var[96];

	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct conf_setting *s = &settings[i];

		config_table_env(i, var, sizeof(var));
		if (config_env_one(cfg, s, var, err, errlen) != 0)
			return -1;
		if (s->alias_env != NULL &&
		    config_env_one(cfg, s, s->alias_env, err, errlen) != 0)
			return -1;
	}
	return 0;
}

int
config_load(struct config *out, const char *path, char *err, size_t errlen)
{
	struct config *cfg;

	if ((cfg = malloc(sizeof(*cfg))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	config_defaults(cfg);
	if (path != NULL) {
		if (strlen(path) >= sizeof(cfg->path)) {
			snprintf(err, errlen, "%s: path too long", path);
			goto fail;
		}
		snprintf(cfg->path, sizeof(cfg->path), "%s", path);
		if (conf_read_file(cfg, path, err, errlen) != 0)
			goto fail;
	}
	if (config_env(cfg, err, errlen) != 0)
		goto fail;
	*out = *cfg;
	free(cfg);
	return 0;
fail:
	free(cfg);
	return -1;
}

const struct config_daemon *
config_daemon(const struct config *cfg, const char *name)
{
	if (strcmp(name, "proxy") == 0)
		return &cfg->proxy.d;
	if (strcmp(name, "autostart") == 0)
		return &cfg->autostart.d;
	if (strcmp(name, "regulator") == 0)
		return &cfg->regulator.d;
	if (strcmp(name, "idepool") == 0)
		return &cfg->idepool.d;
	if (strcmp(name, "deployer") == 0)
		return &cfg->deployer.d;
	return NULL;
}

const char *
config_table_name(size_t i)
{
	return i < NSETTINGS ? settings[i].name : NULL;
}
