/*
 * Route targets (see target.h for the kinds): one table of prefixes and
 * the check of what follows each, read by target_parse and obeyed by
 * target_format.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "keys.h"
#include "target.h"

/* 0 if REST is valid for its kind, else -1 with *WHY set. */
typedef int (*target_check_fn)(const char *rest, const char **why);

static int
target_check_addr(const char *rest, const char **why)
{
	return addr_parse(rest, 0, NULL, 0, NULL, why);
}

static int
target_check_name(const char *rest, const char **why)
{
	if (keys_name_valid(rest))
		return 0;
	*why = "has an invalid app name (1-63 of letters, digits, '.', "
	    "'_', '-')";
	return -1;
}

static const struct {
	enum target_kind kind;
	const char *prefix;
	target_check_fn check;
} target_kinds[] = {
	{TARGET_STATIC, "static:", target_check_addr},
	{TARGET_APP, "app:", target_check_name},
	{TARGET_POOL, "pool:", target_check_name},
};

#define TARGET_NKINDS (sizeof(target_kinds) / sizeof(target_kinds[0]))

int
target_parse(const char *s, struct target *out, const char **why)
{
	const char *err = "has an unknown kind";
	size_t n;

	if (s == NULL)
		goto fail;
	if ((n = strlen(s)) >= TARGET_MAX) {
		err = "is too long";
		goto fail;
	}
	for (size_t i = 0; i < TARGET_NKINDS; i++) {
		size_t pl = strlen(target_kinds[i].prefix);

		if (strncmp(s, target_kinds[i].prefix, pl) != 0)
			continue;
		if (target_kinds[i].check(s + pl, &err) != 0)
			goto fail;
		out->kind = target_kinds[i].kind;
		memcpy(out->rest, s + pl, n - pl + 1);
		return 0;
	}
fail:
	if (why != NULL)
		*why = err;
	return -1;
}

const char *
target_format(char *buf, size_t len, enum target_kind kind, const char *rest)
{
	const char *why;
	int n;

	for (size_t i = 0; i < TARGET_NKINDS; i++) {
		if (target_kinds[i].kind != kind)
			continue;
		if (rest == NULL || target_kinds[i].check(rest, &why) != 0)
			return NULL;
		n = snprintf(buf, len, "%s%s", target_kinds[i].prefix, rest);
		return n < 0 || (size_t)n >= len ? NULL : buf;
	}
	return NULL;
}
