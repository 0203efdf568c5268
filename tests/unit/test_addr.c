/*
 * The host:port rule (common/addr.c): a table of addresses accepted, with
 * the host and port they split into, and a table of addresses refused,
 * with a word the reason must hold; then the output buffer's bounds and
 * the way back (addr_format).
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "unit.h"

struct good_row {
	const char *addr;
	int flags;
	const char *host;
	int port;
};

static const struct good_row good[] = {
	{"127.0.0.1:6379", 0, "127.0.0.1", 6379},
	{"localhost:80", 0, "localhost", 80},
	{"redis.internal-1_a:1", 0, "redis.internal-1_a", 1},
	{"0.0.0.0:65535", 0, "0.0.0.0", 65535},
	{"h:00080", 0, "h", 80},
	{"[::1]:6379", 0, "::1", 6379},
	{"[::]:8080", 0, "::", 8080},
	{"[2001:db8::42]:443", 0, "2001:db8::42", 443},
	{"[::ffff:192.0.2.1]:80", 0, "::ffff:192.0.2.1", 80},
	{"[fe80::1%eth0]:80", 0, "fe80::1%eth0", 80},
	{"[::1]:6379", ADDR_UNIX, "::1", 6379},
	{"/run/redis/redis.sock", ADDR_UNIX, "/run/redis/redis.sock", 0},
	{"/tmp/a:b.sock", ADDR_UNIX, "/tmp/a:b.sock", 0},
};

struct bad_row {
	const char *addr;
	int flags;
	const char *why;	/* a part of the reason */
};

static const struct bad_row bad[] = {
	{"", 0, "no ':PORT'"},
	{"host", 0, "no ':PORT'"},
	{"host:", 0, "no port"},
	{":80", 0, "no host"},
	{"host:0", 0, "1 to 65535"},
	{"host:65536", 0, "1 to 65535"},
	{"host:99999", 0, "1 to 65535"},
	{"host:100000", 0, "1 to 65535"},
	{"host:000080", 0, "1 to 65535"},
	{"host:-1", 0, "1 to 65535"},
	{"host:+80", 0, "1 to 65535"},
	{"host: 80", 0, "1 to 65535"},
	{"host:80 ", 0, "1 to 65535"},
	{"host:80x", 0, "1 to 65535"},
	{"host:0x50", 0, "1 to 65535"},
	{"host:http", 0, "1 to 65535"},
	{"ho st:80", 0, "letters, digits"},
	{" host:80", 0, "letters, digits"},
	{"user@host:80", 0, "letters, digits"},
	{"a/b:80", 0, "letters, digits"},
	{"host]:80", 0, "letters, digits"},
	{"::1", 0, "brackets"},
	{"::1:80", 0, "brackets"},
	{"2001:db8::42:443", 0, "brackets"},
	{"host:80:80", 0, "brackets"},
	{"[::1", 0, "without its ']'"},
	{"[::1:80", 0, "without its ']'"},
	{"[::1]", 0, "no ':PORT' after ']'"},
	{"[::1]80", 0, "other than ':PORT'"},
	{"[::1]x:80", 0, "other than ':PORT'"},
	{"[::1]:", 0, "no port"},
	{"[::1]:0", 0, "1 to 65535"},
	{"[::1]:65536", 0, "1 to 65535"},
	{"[::1]:80]", 0, "1 to 65535"},
	{"[]:80", 0, "IPv6"},
	{"[localhost]:80", 0, "IPv6"},
	{"[127.0.0.1]:80", 0, "IPv6"},
	{"[[::1]]:80", 0, "IPv6"},
	{"[::1%]:80", 0, "IPv6"},
	{"[::1%a b]:80", 0, "IPv6"},
	{"[::1%abcdefghijklmnop]:80", 0, "IPv6"},
	{"[1:2:3:4:5:6:7:8:9]:80", 0, "IPv6"},
	{"/run/redis.sock", 0, "unix socket"},
};

static void
test_good(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct good_row *r = &good[i];
		char host[256] = "unset";
		const char *why = NULL;
		int port = -1;

		if (addr_parse(r->addr, r->flags, host, sizeof(host), &port,
		    &why) != 0) {
			unit_fail(__FILE__, __LINE__, "\"%s\" refused: %s",
			    r->addr, why ? why : "(no reason)");
			continue;
		}
		CHECK_STREQ(host, r->host);
		CHECK_INTEQ(port, r->port);
		/* checking alone gives the same answer */
		CHECK(addr_parse(r->addr, r->flags, NULL, 0, NULL, NULL) == 0);
	}
}

static void
test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad_row *r = &bad[i];
		char host[256] = "unset";
		const char *why = NULL;
		int port = -1;

		if (addr_parse(r->addr, r->flags, host, sizeof(host), &port,
		    &why) == 0) {
			unit_fail(__FILE__, __LINE__, "\"%s\" accepted as "
			    "\"%s\" port %d", r->addr, host, port);
			continue;
		}
		if (why == NULL || strstr(why, r->why) == NULL)
			unit_fail(__FILE__, __LINE__, "\"%s\": reason \"%s\" "
			    "lacks \"%s\"", r->addr, why ? why : "(null)",
			    r->why);
		/* outputs are written only on success */
		CHECK_STREQ(host, "unset");
		CHECK_INTEQ(port, -1);
		CHECK(addr_parse(r->addr, r->flags, NULL, 0, NULL, NULL) < 0);
	}
}

/* The host must fit HOSTLEN with its NUL; a DNS name is 255 at most. */
static void
test_lengths(void)
{
	char addr[300], host[16] = "unset";
	const char *why = NULL;
	int port = -1;

	CHECK(addr_parse("[2001:db8::42]:1", 0, host, 13, &port, NULL) == 0);
	CHECK_STREQ(host, "2001:db8::42");
	CHECK(addr_parse("[2001:db8::42]:1", 0, host, 12, &port, &why) < 0);
	CHECK_CONTAINS(why, "too long");
	CHECK_STREQ(host, "2001:db8::42");
	CHECK(addr_parse("/run/x.sock", ADDR_UNIX, host, 11, &port, NULL) < 0);

	memset(addr, 'a', 255);
	snprintf(addr + 255, sizeof(addr) - 255, ":80");
	CHECK(addr_parse(addr, 0, NULL, 0, NULL, NULL) == 0);
	memset(addr, 'a', 256);
	snprintf(addr + 256, sizeof(addr) - 256, ":80");
	CHECK(addr_parse(addr, 0, NULL, 0, NULL, &why) < 0);
	CHECK_CONTAINS(why, "255");
}

/* What addr_format writes, addr_parse reads back to the same parts. */
static void
test_format(void)
{
	static const struct {
		const char *host;
		int port;
		const char *addr;
	} rows[] = {
		{"127.0.0.1", 80, "127.0.0.1:80"},
		{"db", 6379, "db:6379"},
		{"::1", 6379, "[::1]:6379"},
		{"fe80::1%eth0", 8080, "[fe80::1%eth0]:8080"},
	};
	char buf[64], host[64];
	int port;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		REQUIRE(addr_format(buf, sizeof(buf), rows[i].host,
		    rows[i].port) == 0);
		CHECK_STREQ(buf, rows[i].addr);
		REQUIRE(addr_parse(buf, 0, host, sizeof(host), &port,
		    NULL) == 0);
		CHECK_STREQ(host, rows[i].host);
		CHECK_INTEQ(port, rows[i].port);
	}
	CHECK(addr_format(buf, 11, "::1", 6379) == 0);
	CHECK(addr_format(buf, 10, "::1", 6379) < 0);
}

UNIT_TESTS = {
	{"accepted", test_good},
	{"refused", test_bad},
	{"lengths", test_lengths},
	{"format", test_format},
	{NULL, NULL},
};
