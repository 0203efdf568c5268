/*
 * Configuration loading (common/config.c): defaults, a good file, every
 * kind of error with the file, line and setting it must name, the
 * environment overrides, and the docs and the example config kept in
 * step with the settings table. Files are written to a mkdtemp directory
 * removed at exit; every case starts and ends with no DEVCLOUD_* variable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "unit.h"

extern char **environ;

static char tmpdir[64];
static char tmpfiles[32][128];
static int ntmpfiles;

static void
tmp_cleanup(void)
{
	for (int i = 0; i < ntmpfiles; i++)
		unlink(tmpfiles[i]);
	if (tmpdir[0] != '\0')
		rmdir(tmpdir);
}

/*
 * Writes TEXT to NAME in the temp dir and returns its path (static
 * storage, one slot per distinct NAME).
 */
static const char *
write_conf(const char *name, const char *text)
{
	char path[128];
	FILE *f;
	int i;

	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "%s/dc-test-config.XXXXXX",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			fprintf(stderr, "mkdtemp %s: %s\n", tmpdir,
			    strerror(errno));
			exit(1);
		}
		atexit(tmp_cleanup);
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	for (i = 0; i < ntmpfiles; i++)
		if (strcmp(tmpfiles[i], path) == 0)
			break;
	if (i == ntmpfiles) {
		if (ntmpfiles == 32) {
			fprintf(stderr, "too many temp files\n");
			exit(1);
		}
		snprintf(tmpfiles[ntmpfiles++], sizeof(tmpfiles[0]), "%s",
		    path);
	}
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0) {
		fprintf(stderr, "write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return tmpfiles[i];
}

/* Unsets every DEVCLOUD_* variable (a runner may have set some). */
static void
env_clear(void)
{
	char name[128];

	for (;;) {
		char **e;

		for (e = environ; *e != NULL; e++)
			if (strncmp(*e, "DEVCLOUD_", 9) == 0 &&
			    strncmp(*e, "DEVCLOUD_SRCDIR=", 16) != 0)
				break;
		if (*e == NULL)
			return;
		snprintf(name, sizeof(name), "%.*s",
		    (int)strcspn(*e, "="), *e);
		unsetenv(name);
	}
}

/*
 * Loads TEXT as a config file named NAME; expects failure with an error
 * naming the file at LINE (0: no line check) and containing each of the
 * NULL-terminated WANT strings. CFG must come back untouched.
 */
static void
expect_error(const char *file, int line, const char *name, const char *text,
    int cline, ...)
{
	struct config cfg, before;
	char err[CONFIG_ERR_MAX], where[256];
	const char *path = write_conf(name, text);
	const char *want;
	va_list ap;

	memset(&cfg, 0xa5, sizeof(cfg));
	before = cfg;
	err[0] = '\0';
	if (config_load(&cfg, path, err, sizeof(err)) != -1) {
		unit_fail(file, line, "accepted:\n%s", text);
		return;
	}
	if (memcmp(&cfg, &before, sizeof(cfg)) != 0)
		unit_fail(file, line, "config written on error");
	if (cline > 0)
		snprintf(where, sizeof(where), "%s:%d: ", path, cline);
	else
		snprintf(where, sizeof(where), "%s", path);
	if (strncmp(err, where, strlen(where)) != 0)
		unit_fail(file, line, "error \"%s\" does not start with "
		    "\"%s\"", err, where);
	va_start(ap, cline);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (strstr(err, want) == NULL)
			unit_fail(file, line, "error \"%s\" lacks \"%s\"", err,
			    want);
	va_end(ap);
}

#define EXPECT_ERROR(text, cline, ...) expect_error(__FILE__, __LINE__, \
	"bad.conf", text, cline, __VA_ARGS__, (const char *)NULL)

/* config_load with no file and the current environment; 0 or -1. */
static int
load_env(struct config *cfg, char *err, size_t errlen)
{
	err[0] = '\0';
	return config_load(cfg, NULL, err, errlen);
}

static void
test_defaults(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];

	env_clear();
	memset(&cfg, 0xa5, sizeof(cfg));
	REQUIRE(load_env(&cfg, err, sizeof(err)) == 0);
	CHECK_STREQ(cfg.path, "");
	CHECK_STREQ(cfg.log_level, "info");
	CHECK_STREQ(cfg.instance, "");
	CHECK_STREQ(cfg.redis.address, "127.0.0.1:6379");
	CHECK_STREQ(cfg.redis.prefix, "dc:");
	CHECK_INTEQ(cfg.redis.retry_max_ms, 2000);
	CHECK_STREQ(cfg.bus.in, "tcp://127.0.0.1:7400");
	CHECK_STREQ(cfg.bus.out, "tcp://127.0.0.1:7401");
	CHECK_STREQ(cfg.bus.admin, "127.0.0.1:7409");
	CHECK_INTEQ(cfg.bus.heartbeat_ms, 2000);
	CHECK_INTEQ(cfg.bus.max_msg_bytes, 65536);
	CHECK_INTEQ(cfg.bus.call_timeout_ms, 5000);
	CHECK_STREQ(cfg.proxy.d.control, "tcp://127.0.0.1:7410");
	CHECK_STREQ(cfg.proxy.d.admin, "127.0.0.1:7420");
	CHECK_STREQ(cfg.proxy.listen, "0.0.0.0:8080");
	CHECK_INTEQ(cfg.proxy.workers, 0);
	CHECK_INTEQ(cfg.proxy.max_connections, 100000);
	CHECK_INTEQ(cfg.proxy.hold_timeout_ms, 60000);
	CHECK_INTEQ(cfg.proxy.route_refresh_ms, 30000);
	CHECK_STREQ(cfg.autostart.d.control, "tcp://127.0.0.1:7411");
	CHECK_STREQ(cfg.autostart.run_dir, "/tmp/devcloud");
	CHECK_INTEQ(cfg.autostart.default_ttl_s, 600);
	CHECK_STREQ(cfg.autostart.docker_socket, "/var/run/docker.sock");
	CHECK_STREQ(cfg.regulator.d.control, "tcp://127.0.0.1:7412");
	CHECK_STREQ(cfg.idepool.d.admin, "127.0.0.1:7423");
	CHECK_STREQ(cfg.deployer.d.control, "tcp://127.0.0.1:7414");
	CHECK_STREQ(cfg.deployer.d.admin, "127.0.0.1:7424");
}

static const char good_conf[] =
    "# a comment\n"
    "log = {\n"
    "  level = \"debug\";\n"
    "  instance = \"web-1\";\n"
    "};\n"
    "redis = {\n"
    "  address = \"/run/redis/redis.sock\";\n"
    "  prefix = \"staging:\";\n"
    "  retry_max_ms = 500;\n"
    "};\n"
    "bus = {\n"
    "  in = \"ipc:///run/devcloud/in\";\n"
    "  out = \"tls+tcp://bus.example:7401\";\n"
    "  admin = \"[::1]:7409\";\n"
    "  heartbeat_ms = 100;\n"
    "  max_msg_bytes = 1024;\n"
    "  call_timeout_ms = 600000;\n"
    "};\n"
    "proxy = {\n"
    "  control = \"tcp://10.0.0.1:9410\";\n"
    "  admin = \"0.0.0.0:9420\";\n"
    "  listen = \"0.0.0.0:80\";\n"
    "  workers = 256;\n"
    "  max_connections = 1;\n"
    "  hold_max_bytes = 0;\n"
    "  flush_interval_ms = 60000;\n"
    "};\n"
    "autostart = {\n"
    "  run_dir = \"/var/lib/devcloud\";\n"
    "  default_ttl_s = 31536000;\n"
    "  stop_grace_ms = 0;\n"
    "};\n"
    "regulator = { control = \"tcp://127.0.0.1:9412\"; };\n"
    "idepool = { admin = \"localhost:9423\"; };\n"
    "deployer = { control = \"inproc://deployer\"; };\n";

static void
test_good_file(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX] = "";
	const char *path = write_conf("good.conf", good_conf);

	env_clear();
	if (config_load(&cfg, path, err, sizeof(err)) != 0) {
		unit_fail(__FILE__, __LINE__, "%s", err);
		return;
	}
	CHECK_STREQ(cfg.path, path);
	CHECK_STREQ(cfg.log_level, "debug");
	CHECK_STREQ(cfg.instance, "web-1");
	CHECK_STREQ(cfg.redis.address, "/run/redis/redis.sock");
	CHECK_STREQ(cfg.redis.prefix, "staging:");
	CHECK_INTEQ(cfg.redis.retry_max_ms, 500);
	CHECK_STREQ(cfg.bus.in, "ipc:///run/devcloud/in");
	CHECK_STREQ(cfg.bus.out, "tls+tcp://bus.example:7401");
	CHECK_STREQ(cfg.bus.admin, "[::1]:7409");
	CHECK_INTEQ(cfg.bus.heartbeat_ms, 100);
	CHECK_INTEQ(cfg.bus.max_msg_bytes, 1024);
	CHECK_INTEQ(cfg.bus.call_timeout_ms, 600000);
	CHECK_STREQ(cfg.proxy.d.control, "tcp://10.0.0.1:9410");
	CHECK_STREQ(cfg.proxy.d.admin, "0.0.0.0:9420");
	CHECK_STREQ(cfg.proxy.listen, "0.0.0.0:80");
	CHECK_INTEQ(cfg.proxy.workers, 256);
	CHECK_INTEQ(cfg.proxy.max_connections, 1);
	CHECK_INTEQ(cfg.proxy.hold_max_bytes, 0);
	CHECK_INTEQ(cfg.proxy.flush_interval_ms, 60000);
	CHECK_STREQ(cfg.autostart.run_dir, "/var/lib/devcloud");
	CHECK_INTEQ(cfg.autostart.default_ttl_s, 31536000);
	CHECK_INTEQ(cfg.autostart.stop_grace_ms, 0);
	CHECK_STREQ(cfg.regulator.d.control, "tcp://127.0.0.1:9412");
	CHECK_STREQ(cfg.idepool.d.admin, "localhost:9423");
	CHECK_STREQ(cfg.deployer.d.control, "inproc://deployer");
	/* what the file does not say keeps its default */
	CHECK_INTEQ(cfg.proxy.max_request_line, 8192);
	CHECK_STREQ(cfg.autostart.d.control, "tcp://127.0.0.1:7411");
	CHECK_STREQ(cfg.regulator.d.admin, "127.0.0.1:7422");
	CHECK_STREQ(cfg.autostart.docker_socket, "/var/run/docker.sock");
}

/* An empty file, or one of comments only, is the defaults. */
static void
test_empty_file(void)
{
	struct config cfg, def;
	char err[CONFIG_ERR_MAX] = "";
	const char *path;

	env_clear();
	REQUIRE(load_env(&def, err, sizeof(err)) == 0);
	path = write_conf("empty.conf", "");
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), 0);
	path = write_conf("comments.conf", "# hash\n// slashes\n/* block\n"
	    "   comment */\n\n");
	REQUIRE(config_load(&cfg, path, err, sizeof(err)) == 0);
	snprintf(def.path, sizeof(def.path), "%s", path);
	CHECK(memcmp(&cfg, &def, sizeof(cfg)) == 0);
}

static void
test_daemon_part(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];

	env_clear();
	REQUIRE(load_env(&cfg, err, sizeof(err)) == 0);
	CHECK(config_daemon(&cfg, "proxy") == &cfg.proxy.d);
	CHECK(config_daemon(&cfg, "autostart") == &cfg.autostart.d);
	CHECK(config_daemon(&cfg, "regulator") == &cfg.regulator.d);
	CHECK(config_daemon(&cfg, "idepool") == &cfg.idepool.d);
	CHECK(config_daemon(&cfg, "deployer") == &cfg.deployer.d);
	CHECK(config_daemon(&cfg, "bus") == NULL);
	CHECK(config_daemon(&cfg, "") == NULL);
	CHECK(config_daemon(&cfg, "Proxy") == NULL);
	/* every daemon has its own, distinct addresses by default */
	CHECK(strcmp(cfg.proxy.d.control, cfg.autostart.d.control) != 0);
	CHECK(strcmp(cfg.idepool.d.admin, cfg.deployer.d.admin) != 0);
}

static void
test_syntax_error(void)
{
	env_clear();
	EXPECT_ERROR("proxy = {\n  workers = 4;\n  listen = ;\n};\n", 3,
	    "bad.conf");
	EXPECT_ERROR("\n\nproxy = { workers = 4; };\n}\n", 4, "bad.conf");
	/* at the end of the file: libconfig names the line after the last */
	EXPECT_ERROR("proxy = {\n  workers = 4;\n", 0, "bad.conf:3:");
	EXPECT_ERROR("log = { level = \"info; };\n", 0, "bad.conf:");
	EXPECT_ERROR("redis = { prefix = \"a\"; prefix = \"b\"; };\n", 1,
	    "duplicate");
}

static void
test_unknown_section(void)
{
	env_clear();
	EXPECT_ERROR("log = { level = \"info\"; };\n\nmetrics = { x = 1; };\n",
	    3, "metrics", "unknown section");
	/* a lone setting at the top is not a section */
	EXPECT_ERROR("# top\nworkers = 4;\n", 2, "workers");
	/* a known section must be a group */
	EXPECT_ERROR("proxy = 5;\n", 1, "proxy");
	EXPECT_ERROR("PROXY = { workers = 4; };\n", 1, "PROXY");
}

static void
test_unknown_setting(void)
{
	env_clear();
	EXPECT_ERROR("proxy = {\n  workers = 4;\n  wokers = 4;\n};\n", 3,
	    "proxy.wokers", "unknown setting");
	/* a setting of another section */
	EXPECT_ERROR("bus = {\n  listen = \"0.0.0.0:80\";\n};\n", 2,
	    "bus.listen", "unknown setting");
	/* no nesting below a section */
	EXPECT_ERROR("proxy = {\n  d = { control = \"tcp://h:1\"; };\n};\n",
	    2, "proxy.d", "unknown setting");
}

static void
test_wrong_type(void)
{
	env_clear();
	EXPECT_ERROR("proxy = {\n  workers = \"4\";\n};\n", 2,
	    "proxy.workers", "must be an integer");
	EXPECT_ERROR("proxy = { workers = 4.0; };\n", 1, "proxy.workers",
	    "must be an integer");
	EXPECT_ERROR("proxy = { workers = true; };\n", 1, "proxy.workers",
	    "must be an integer");
	EXPECT_ERROR("proxy = { workers = [4]; };\n", 1, "proxy.workers",
	    "must be an integer");
	EXPECT_ERROR("\nproxy = { listen = 8080; };\n", 2, "proxy.listen",
	    "must be a string");
	EXPECT_ERROR("bus = { in = { url = \"tcp://h:1\"; }; };\n", 1,
	    "bus.in", "must be a string");
	EXPECT_ERROR("log = { level = (\"info\"); };\n", 1, "log.level",
	    "must be a string");
}

static void
test_out_of_bounds(void)
{
	env_clear();
	EXPECT_ERROR("proxy = {\n\n  workers = 257;\n};\n", 3,
	    "proxy.workers", "between 0 and 256", "257");
	EXPECT_ERROR("proxy = { workers = -1; };\n", 1, "proxy.workers",
	    "between 0 and 256");
	EXPECT_ERROR("bus = { heartbeat_ms = 99; };\n", 1, "bus.heartbeat_ms",
	    "between 100 and 600000");
	EXPECT_ERROR("bus = { max_msg_bytes = 65537; };\n", 1,
	    "bus.max_msg_bytes", "between 1024 and 65536");
	/*
	 * A 64-bit value (L suffix) is not cut down to 32 bits first.
	 * Without the suffix libconfig 1.5 itself wraps the literal
	 * (4294967304 reads as 8) before we see it; docs/config.md says so.
	 */
	EXPECT_ERROR("proxy = { workers = 4294967304L; };\n", 1,
	    "proxy.workers", "4294967304");
}

static void
test_bounds_inclusive(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX] = "";
	const char *path;

	env_clear();
	path = write_conf("edge.conf", "proxy = { workers = 0; "
	    "hold_max_requests = 1000000; };\nbus = { heartbeat_ms = 100; "
	    "max_msg_bytes = 65536; };\n");
	if (config_load(&cfg, path, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "%s", err);
	CHECK_INTEQ(cfg.proxy.hold_max_requests, 1000000);
	CHECK_INTEQ(cfg.bus.heartbeat_ms, 100);
}

static void
test_bad_url(void)
{
	static const char *const bad[] = {
		"http://127.0.0.1:7400", "127.0.0.1:7400", "tcp://",
		"tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://h:65536",
		"tcp://h:port", "ipc://", "tls+tcp://h", "inproc://", "",
		"tcp://:7400x",
	};
	char text[256];

	env_clear();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "bus = {\n  in = \"%s\";\n};\n",
		    bad[i]);
		EXPECT_ERROR(text, 2, "bus.in", "nng URL");
	}
	EXPECT_ERROR("deployer = { control = \"udp://h:1\"; };\n", 1,
	    "deployer.control", "udp://h:1");
}

static void
test_bad_hostport(void)
{
	static const char *const bad[] = {
		"8080", ":8080", "host:", "host:http", "host:0", "host:65536",
		"host:-1", "host:80x", "", "host",
	};
	char text[256];

	env_clear();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "proxy = {\n  listen = \"%s\";\n"
		    "};\n", bad[i]);
		EXPECT_ERROR(text, 2, "proxy.listen", "HOST:PORT");
	}
	EXPECT_ERROR("regulator = { admin = \"x\"; };\n", 1,
	    "regulator.admin", "HOST:PORT");
	EXPECT_ERROR("bus = { admin = \"x:99999\"; };\n", 1, "bus.admin");
}

/*
 * The port is digits only: strtol alone would take " 80" and "+80",
 * which nng and the proxy then refuse at run time instead.
 */
static void
test_hostport_digits_only(void)
{
	env_clear();
	EXPECT_ERROR("proxy = { listen = \"host: 80\"; };\n", 1,
	    "proxy.listen");
	EXPECT_ERROR("proxy = { listen = \"host:+80\"; };\n", 1,
	    "proxy.listen");
	EXPECT_ERROR("bus = { in = \"tcp://host: 7400\"; };\n", 1, "bus.in");
}

/*
 * Loads FMT with ADDR in it; fails if the config's answer differs from
 * addr_parse's with FLAGS.
 */
static void
expect_same_as_addr_parse(const char *file, int line, const char *fmt,
    const char *addr, int flags)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX] = "", text[256];
	int want = addr_parse(addr, flags, NULL, 0, NULL, NULL);

	snprintf(text, sizeof(text), fmt, addr, addr);
	if (config_load(&cfg, write_conf("addr.conf", text), err,
	    sizeof(err)) != want)
		unit_fail(file, line, "%s: addr_parse %s it, the config %s",
		    text, want ? "refuses" : "accepts", want ? "accepts" : err);
}

/*
 * Addresses are checked by addr_parse itself, so what the file accepts is
 * what the daemons can connect to or listen on: IPv6 in brackets, never
 * bare, and a unix path only for redis.address.
 */
static void
test_addresses_follow_addr_parse(void)
{
	static const char *const rows[] = {
		"[::1]:8080", "[2001:db8::1]:1", "[fe80::1%eth0]:9", "h:1",
		"::1:8080", "::1", "[::1", "[::1]", "[::1]:0", "[::1]x:1",
		"[h]:1", "h:80:80", "h: 80", "/run/x.sock", "a b:1",
	};

	env_clear();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		expect_same_as_addr_parse(__FILE__, __LINE__,
		    "proxy = { listen = \"%s\"; };\n"
		    "bus = { in = \"tcp://%s\"; };\n", rows[i], 0);
		expect_same_as_addr_parse(__FILE__, __LINE__,
		    "redis = { address = \"%s\"; };\n", rows[i], ADDR_UNIX);
	}
}

/* A refused address says why, in the setting's own words. */
static void
test_address_errors(void)
{
	static const struct {
		const char *text;
		const char *setting, *shape, *why;
	} rows[] = {
		{"proxy = { listen = \"::1:8080\"; };\n", "proxy.listen",
		    "HOST:PORT or [IPV6]:PORT", "brackets"},
		{"redis = { address = \"::1:6379\"; };\n", "redis.address",
		    "unix socket", "brackets"},
		{"bus = { in = \"tcp://::1:7400\"; };\n", "bus.in", "nng URL",
		    "brackets"},
		{"bus = { admin = \"[::1:7409\"; };\n", "bus.admin",
		    "[IPV6]:PORT", "without its ']'"},
		{"proxy = { listen = \"/run/p.sock\"; };\n", "proxy.listen",
		    "HOST:PORT", "not allowed here"},
		{"proxy = { listen = \"host:\"; };\n", "proxy.listen",
		    "HOST:PORT", "no port"},
	};

	env_clear();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		EXPECT_ERROR(rows[i].text, 1, rows[i].setting, rows[i].shape,
		    rows[i].why);
}

static void
test_bad_log_level(void)
{
	env_clear();
	EXPECT_ERROR("log = {\n  level = \"verbose\";\n};\n", 2, "log.level",
	    "debug, info, warn, error", "verbose");
	EXPECT_ERROR("log = { level = \"\"; };\n", 1, "log.level");
	EXPECT_ERROR("log = { level = \"info \"; };\n", 1, "log.level");
}

static void
test_bad_instance(void)
{
	char text[256];

	env_clear();
	EXPECT_ERROR("log = { instance = \"a b\"; };\n", 1, "log.instance");
	EXPECT_ERROR("log = { instance = \"a/b\"; };\n", 1, "log.instance");
	/* 64 bytes do not fit the 63 the field holds */
	snprintf(text, sizeof(text), "log = { instance = \"%064d\"; };\n", 0);
	EXPECT_ERROR(text, 1, "log.instance", "too long");
}

/* redis.prefix is 1 to 31 bytes; an error names its line like any other. */
static void
test_bad_prefix(void)
{
	char text[256];

	env_clear();
	snprintf(text, sizeof(text), "redis = { prefix = \"%032d\"; };\n", 0);
	EXPECT_ERROR(text, 1, "redis.prefix");
	EXPECT_ERROR("log = { level = \"info\"; };\nredis = {\n"
	    "  prefix = \"\";\n};\n", 3, "redis.prefix");
}

/* redis.address is HOST:PORT or a unix socket path, checked at load. */
static void
test_bad_redis_address(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX] = "";
	const char *path;

	env_clear();
	EXPECT_ERROR("redis = {\n  address = \"localhost\";\n};\n", 2,
	    "redis.address");
	EXPECT_ERROR("redis = { address = \"redis://h:6379\"; };\n", 1,
	    "redis.address");
	EXPECT_ERROR("redis = { address = \"h:0\"; };\n", 1, "redis.address");
	EXPECT_ERROR("redis = { address = \"\"; };\n", 1, "redis.address");
	path = write_conf("redis.conf", "redis = { address = \"h:6380\"; };\n");
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), 0);
	path = write_conf("redis.conf", "redis = { address = \"/s.sock\"; };\n");
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), 0);
}

static void
test_file_missing(void)
{
	struct config cfg, before;
	char err[CONFIG_ERR_MAX] = "", path[256];

	env_clear();
	write_conf("exists.conf", "");
	snprintf(path, sizeof(path), "%s/no-such.conf", tmpdir);
	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), -1);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK_CONTAINS(err, "No such file");
	CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
	/* a directory is no file either */
	CHECK_INTEQ(config_load(&cfg, tmpdir, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, tmpdir);
	CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
}

static void
test_path_too_long(void)
{
	struct config cfg;
	char err[2 * CONFIG_PATH_MAX] = "", path[CONFIG_PATH_MAX + 16];

	env_clear();
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "too long");
}

/* An error in an @include'd file names that file and its line. */
static void
test_include_error_names_file(void)
{
	struct config cfg;
	char text[256], err[CONFIG_ERR_MAX] = "", where[256];
	const char *inc, *path;

	env_clear();
	inc = write_conf("inc.conf", "proxy = {\n  workers = 4;\n"
	    "  bogus = 1;\n};\n");
	snprintf(text, sizeof(text), "# main\n@include \"%s\"\n", inc);
	path = write_conf("main.conf", text);
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(where, sizeof(where), "%s:3: ", inc);
	if (strncmp(err, where, strlen(where)) != 0)
		unit_fail(__FILE__, __LINE__, "error \"%s\" does not start "
		    "with \"%s\"", err, where);
	CHECK_CONTAINS(err, "proxy.bogus");
}

/* Errors never overflow ERR, and come back terminated. */
static void
test_small_err_buffer(void)
{
	struct config cfg;
	char err[16];
	const char *path = write_conf("bad.conf", "proxy = { wokers = 1; };\n");

	env_clear();
	memset(err, 'z', sizeof(err));
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), -1);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
}

static void
test_env_generic(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX] = "";
	const char *path = write_conf("env.conf",
	    "proxy = { workers = 4; listen = \"0.0.0.0:81\"; };\n");

	env_clear();
	setenv("DEVCLOUD_PROXY_WORKERS", "8", 1);
	setenv("DEVCLOUD_AUTOSTART_RUN_DIR", "/srv/run", 1);
	setenv("DEVCLOUD_LOG_LEVEL", "warn", 1);
	setenv("DEVCLOUD_REGULATOR_CONTROL", "ipc:///tmp/reg", 1);
	if (config_load(&cfg, path, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "%s", err);
	/* environment over file over default */
	CHECK_INTEQ(cfg.proxy.workers, 8);
	CHECK_STREQ(cfg.proxy.listen, "0.0.0.0:81");
	CHECK_STREQ(cfg.autostart.run_dir, "/srv/run");
	CHECK_STREQ(cfg.log_level, "warn");
	CHECK_STREQ(cfg.regulator.d.control, "ipc:///tmp/reg");
	env_clear();
}

static void
test_env_short_names_win(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX] = "";
	const char *path = write_conf("env.conf",
	    "redis = { address = \"file:1\"; };\n"
	    "bus = { in = \"tcp://file:1\"; out = \"tcp://file:2\"; };\n"
	    "log = { instance = \"from-file\"; };\n");

	env_clear();
	setenv("DEVCLOUD_REDIS_ADDRESS", "generic:6379", 1);
	setenv("DEVCLOUD_REDIS", "short:6380", 1);
	setenv("DEVCLOUD_BUS_IN", "tcp://bus:7400", 1);
	setenv("DEVCLOUD_BUS_OUT", "ipc:///run/out", 1);
	setenv("DEVCLOUD_LOG_INSTANCE", "generic", 1);
	setenv("DEVCLOUD_INSTANCE", "short", 1);
	if (config_load(&cfg, path, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "%s", err);
	CHECK_STREQ(cfg.redis.address, "short:6380");
	CHECK_STREQ(cfg.bus.in, "tcp://bus:7400");
	CHECK_STREQ(cfg.bus.out, "ipc:///run/out");
	CHECK_STREQ(cfg.instance, "short");
	/* the generic name alone works too */
	unsetenv("DEVCLOUD_REDIS");
	unsetenv("DEVCLOUD_INSTANCE");
	if (config_load(&cfg, path, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "%s", err);
	CHECK_STREQ(cfg.redis.address, "generic:6379");
	CHECK_STREQ(cfg.instance, "generic");
	env_clear();
}

/* Loads with NAME=VALUE set; expects an error naming NAME and WANT. */
static void
expect_env_error(const char *file, int line, const char *name,
    const char *value, const char *want)
{
	struct config cfg, before;
	char err[CONFIG_ERR_MAX] = "";

	env_clear();
	setenv(name, value, 1);
	memset(&cfg, 0xa5, sizeof(cfg));
	before = cfg;
	if (load_env(&cfg, err, sizeof(err)) != -1) {
		unit_fail(file, line, "%s=\"%s\" accepted", name, value);
	} else {
		if (strstr(err, name) == NULL)
			unit_fail(file, line, "%s=\"%s\": error \"%s\" does "
			    "not name the variable", name, value, err);
		if (strstr(err, want) == NULL)
			unit_fail(file, line, "%s=\"%s\": error \"%s\" lacks "
			    "\"%s\"", name, value, err, want);
		if (memcmp(&cfg, &before, sizeof(cfg)) != 0)
			unit_fail(file, line, "config written on error");
	}
	env_clear();
}

#define EXPECT_ENV_ERROR(name, value, want) \
	expect_env_error(__FILE__, __LINE__, name, value, want)

static void
test_env_bad_value(void)
{
	EXPECT_ENV_ERROR("DEVCLOUD_PROXY_WORKERS", "abc", "proxy.workers");
	EXPECT_ENV_ERROR("DEVCLOUD_PROXY_WORKERS", "8x", "integer");
	EXPECT_ENV_ERROR("DEVCLOUD_PROXY_WORKERS", "", "integer");
	EXPECT_ENV_ERROR("DEVCLOUD_PROXY_WORKERS", "257", "between 0 and 256");
	EXPECT_ENV_ERROR("DEVCLOUD_PROXY_WORKERS", "99999999999999999999",
	    "proxy.workers");
	EXPECT_ENV_ERROR("DEVCLOUD_PROXY_WORKERS", "4294967304",
	    "between 0 and 256");
	EXPECT_ENV_ERROR("DEVCLOUD_BUS_IN", "localhost:7400", "nng URL");
	EXPECT_ENV_ERROR("DEVCLOUD_BUS_OUT", "tcp://h", "bus.out");
	EXPECT_ENV_ERROR("DEVCLOUD_LOG_LEVEL", "loud", "log.level");
	EXPECT_ENV_ERROR("DEVCLOUD_INSTANCE", "a b", "log.instance");
	EXPECT_ENV_ERROR("DEVCLOUD_PROXY_LISTEN", "80", "HOST:PORT");
}

/* The same rules as the file: an empty prefix, an unusable address. */
static void
test_env_bad_prefix_and_redis(void)
{
	EXPECT_ENV_ERROR("DEVCLOUD_REDIS_PREFIX", "", "redis.prefix");
	EXPECT_ENV_ERROR("DEVCLOUD_REDIS", "nonsense", "redis.address");
}

/* A bad variable wins over a good file: the file's values do not leak. */
static void
test_env_error_after_file(void)
{
	struct config cfg, before;
	char err[CONFIG_ERR_MAX] = "";
	const char *path = write_conf("good.conf", good_conf);

	env_clear();
	setenv("DEVCLOUD_BUS_HEARTBEAT_MS", "1", 1);
	memset(&cfg, 0, sizeof(cfg));
	before = cfg;
	CHECK_INTEQ(config_load(&cfg, path, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "DEVCLOUD_BUS_HEARTBEAT_MS");
	CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
	env_clear();
}

static void
test_table(void)
{
	size_t n;
	char env[96];
	bool found = false;

	for (n = 0; config_table_name(n) != NULL; n++) {
		const char *name = config_table_name(n);
		const char *dot = strchr(name, '.');

		CHECK(dot != NULL && dot != name && dot[1] != '\0' &&
		    strchr(dot + 1, '.') == NULL);
		for (size_t j = 0; j < n; j++)
			CHECK(strcmp(config_table_name(j), name) != 0);
		REQUIRE(config_table_env(n, env, sizeof(env)) == env);
		CHECK(strncmp(env, "DEVCLOUD_", 9) == 0);
		CHECK_INTEQ(strlen(env), 9 + strlen(name));
	}
	CHECK(n >= 30);
	CHECK(config_table_env(n, env, sizeof(env)) == NULL);
	CHECK_STREQ(config_table_name(0), "log.level");
	CHECK_STREQ(config_table_env(0, env, sizeof(env)), "DEVCLOUD_LOG_LEVEL");
	for (n = 0; config_table_name(n) != NULL; n++)
		if (strcmp(config_table_name(n), "proxy.max_connections") == 0) {
			CHECK_STREQ(config_table_env(n, env, sizeof(env)),
			    "DEVCLOUD_PROXY_MAX_CONNECTIONS");
			found = true;
		}
	CHECK(found);
}

/* A buffer too small for the name is never written past its end. */
static void
test_table_env_small_buffer(void)
{
	for (size_t len = 1; len <= 24; len++) {
		char buf[64];
		const char *r;

		memset(buf, 'Z', sizeof(buf));
		r = config_table_env(0, buf, len);	/* DEVCLOUD_LOG_LEVEL */
		for (size_t i = len; i < sizeof(buf); i++)
			if (buf[i] != 'Z') {
				unit_fail(__FILE__, __LINE__, "len %zu: byte "
				    "%zu written", len, i);
				break;
			}
		CHECK(r == NULL || memchr(r, '\0', len) != NULL);
	}
}

/* docs/config.md names every setting and its environment variable. */
static void
test_docs_config(void)
{
	char *doc = unit_read_source("docs/config.md");
	static const char *const aliases[] = {"DEVCLOUD_REDIS",
	    "DEVCLOUD_BUS_IN", "DEVCLOUD_BUS_OUT", "DEVCLOUD_INSTANCE"};
	char want[128], env[96];

	REQUIRE(doc != NULL);
	for (size_t i = 0; config_table_name(i) != NULL; i++) {
		snprintf(want, sizeof(want), "`%s`", config_table_name(i));
		if (strstr(doc, want) == NULL)
			unit_fail(__FILE__, __LINE__,
			    "docs/config.md does not document %s", want);
		snprintf(want, sizeof(want), "`%s`",
		    config_table_env(i, env, sizeof(env)));
		if (strstr(doc, want) == NULL)
			unit_fail(__FILE__, __LINE__,
			    "docs/config.md does not name %s", want);
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		snprintf(want, sizeof(want), "`%s`", aliases[i]);
		if (strstr(doc, want) == NULL)
			unit_fail(__FILE__, __LINE__,
			    "docs/config.md does not name %s", want);
	}
	free(doc);
}

/*
 * deploy/devcloud.conf loads, sets every setting of the table, and its
 * values are the built-in defaults (so it documents them truthfully).
 */
static void
test_example_config(void)
{
	char *text = unit_read_source("deploy/devcloud.conf");
	struct config cfg, def;
	char err[CONFIG_ERR_MAX] = "";
	const char *path;

	REQUIRE(text != NULL);
	env_clear();
	path = write_conf("devcloud.conf", text);
	if (config_load(&cfg, path, err, sizeof(err)) != 0) {
		unit_fail(__FILE__, __LINE__, "%s", err);
		free(text);
		return;
	}
	REQUIRE(load_env(&def, err, sizeof(err)) == 0);
	snprintf(def.path, sizeof(def.path), "%s", path);
	CHECK(memcmp(&cfg, &def, sizeof(cfg)) == 0);
	for (size_t i = 0; config_table_name(i) != NULL; i++) {
		const char *name = config_table_name(i);
		const char *dot = strchr(name, '.');
		const char *start, *end, *p;
		char sec[64], set[96];

		/* "SECTION = {" ... "\n};" holds "\n  SETTING = " */
		snprintf(sec, sizeof(sec), "\n%.*s = {", (int)(dot - name),
		    name);
		snprintf(set, sizeof(set), "\n  %s = ", dot + 1);
		if ((start = strstr(text, sec)) == NULL ||
		    (end = strstr(start, "\n};")) == NULL ||
		    (p = strstr(start, set)) == NULL || p > end)
			unit_fail(__FILE__, __LINE__,
			    "deploy/devcloud.conf does not set %s", name);
	}
	free(text);
}

UNIT_TESTS = {
	{"defaults", test_defaults},
	{"good file", test_good_file},
	{"empty file", test_empty_file},
	{"daemon part", test_daemon_part},
	{"syntax error", test_syntax_error},
	{"unknown section", test_unknown_section},
	{"unknown setting", test_unknown_setting},
	{"wrong type", test_wrong_type},
	{"out of bounds", test_out_of_bounds},
	{"bounds inclusive", test_bounds_inclusive},
	{"bad url", test_bad_url},
	{"bad host:port", test_bad_hostport},
	{"host:port digits only", test_hostport_digits_only},
	{"addresses follow addr_parse", test_addresses_follow_addr_parse},
	{"address errors say why", test_address_errors},
	{"bad log level", test_bad_log_level},
	{"bad instance", test_bad_instance},
	{"bad redis prefix", test_bad_prefix},
	{"bad redis address", test_bad_redis_address},
	{"file missing", test_file_missing},
	{"path too long", test_path_too_long},
	{"include error names its file", test_include_error_names_file},
	{"small err buffer", test_small_err_buffer},
	{"env generic names", test_env_generic},
	{"env short names win", test_env_short_names_win},
	{"env bad value", test_env_bad_value},
	{"env bad prefix and redis", test_env_bad_prefix_and_redis},
	{"env error after a good file", test_env_error_after_file},
	{"settings table", test_table},
	{"table env small buffer", test_table_env_small_buffer},
	{"docs/config.md lists every setting", test_docs_config},
	{"deploy/devcloud.conf", test_example_config},
	{NULL, NULL},
};
