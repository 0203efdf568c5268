/*
 * The key schema (see keys.h for the list of keys and their types).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"

static char prefix[32] = "dc:";

int
keys_init(const char *p)
{
	if (p == NULL || p[0] == '\0' || strlen(p) >= sizeof(prefix))
		return -1;
	memcpy(prefix, p, strlen(p) + 1);
	return 0;
}

const char *
keys_prefix(void)
{
	return prefix;
}

bool
keys_name_valid(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > 63 || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("._-", name[i]) == NULL)
			return false;
	return true;
}

static const char *
key_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
key_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? NULL : buf;
}

const char *
key_routes(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sroutes", prefix);
}

const char *
key_apps(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sapps", prefix);
}

const char *
key_app(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%sapp:%s", prefix, app);
}

const char *
key_deadlines(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sdeadlines", prefix);
}

const char *
key_lastaccess(char *buf, size_t len)
{
	return key_fmt(buf, len, "%slastaccess", prefix);
}

const char *
key_wake_lock(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%slock:wake:%s", prefix, app);
}

const char *
key_transit(char *buf, size_t len)
{
	return key_fmt(buf, len, "%stransit", prefix);
}

const char *
key_services(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sservices", prefix);
}

const char *
key_service(char *buf, size_t len, const char *service, const char *instance)
{
	if (!keys_name_valid(service) || !keys_name_valid(instance))
		return NULL;
	return key_fmt(buf, len, "%sservice:%s/%s", prefix, service, instance);
}

const char *
key_instances(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%sinstances:%s", prefix, app);
}

const char *
key_instance(char *buf, size_t len, const char *app, const char *id)
{
	if (!keys_name_valid(app) || !keys_name_valid(id))
		return NULL;
	return key_fmt(buf, len, "%sinstance:%s:%s", prefix, app, id);
}

const char *
key_hosts(char *buf, size_t len)
{
	return key_fmt(buf, len, "%shosts", prefix);
}

const char *
key_host(char *buf, size_t len, const char *host)
{
	if (!keys_name_valid(host))
		return NULL;
	return key_fmt(buf, len, "%shost:%s", prefix, host);
}

const char *
key_hoststate(char *buf, size_t len, const char *host)
{
	if (!keys_name_valid(host))
		return NULL;
	return key_fmt(buf, len, "%shoststate:%s", prefix, host);
}

const char *
key_relief(char *buf, size_t len, const char *host)
{
	if (!keys_name_valid(host))
		return NULL;
	return key_fmt(buf, len, "%srelief:%s", prefix, host);
}

const char *
key_relief_lock(char *buf, size_t len, const char *host)
{
	if (!keys_name_valid(host))
		return NULL;
	return key_fmt(buf, len, "%slock:relief:%s", prefix, host);
}

const char *
key_load(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%sload:%s", prefix, app);
}

const char *
key_scale_lock(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%slock:scale:%s", prefix, app);
}

const char *
key_deploy_lock(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%slock:deploy:%s", prefix, app);
}

const char *
key_release_seq(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%sreleaseseq:%s", prefix, app);
}

const char *
key_releases(char *buf, size_t len, const char *app)
{
	if (!keys_name_valid(app))
		return NULL;
	return key_fmt(buf, len, "%sreleases:%s", prefix, app);
}

const char *
key_release(char *buf, size_t len, const char *app,
    unsigned long long release)
{
	if (!keys_name_valid(app) || release == 0)
		return NULL;
	return key_fmt(buf, len, "%srelease:%s:%llu", prefix, app, release);
}

const char *
key_deploying(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sdeploying", prefix);
}

const char *
key_pools(char *buf, size_t len)
{
	return key_fmt(buf, len, "%spools", prefix);
}

/* PREFIX WHAT:POOL, for the pool's own keys. */
static const char *
key_of_pool(char *buf, size_t len, const char *what, const char *pool)
{
	if (!keys_name_valid(pool))
		return NULL;
	return key_fmt(buf, len, "%s%s:%s", prefix, what, pool);
}

const char *
key_pool(char *buf, size_t len, const char *pool)
{
	return key_of_pool(buf, len, "pool", pool);
}

const char *
key_pool_members(char *buf, size_t len, const char *pool)
{
	return key_of_pool(buf, len, "members", pool);
}

const char *
key_pool_free(char *buf, size_t len, const char *pool)
{
	return key_of_pool(buf, len, "free", pool);
}

const char *
key_pool_spare(char *buf, size_t len, const char *pool)
{
	return key_of_pool(buf, len, "spare", pool);
}

const char *
key_member_seq(char *buf, size_t len, const char *pool)
{
	return key_of_pool(buf, len, "memberseq", pool);
}

const char *
key_member(char *buf, size_t len, const char *pool, const char *id)
{
	if (!keys_name_valid(pool) || !keys_name_valid(id))
		return NULL;
	return key_fmt(buf, len, "%smember:%s:%s", prefix, pool, id);
}

const char *
key_domains(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sdomains", prefix);
}

const char *
key_leases(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sleases", prefix);
}

const char *
key_lease_deadlines(char *buf, size_t len)
{
	return key_fmt(buf, len, "%sleasedeadlines", prefix);
}
