/*
 * Route targets: what a domain routes to, as the routes hash
 * (key_routes) and route.changed events carry it. Every target is read
 * by target_parse and written by target_format; no prefix is written
 * anywhere else.
 *
 *   kind            stored as          the rest
 *   TARGET_STATIC   static:HOST:PORT   a fixed upstream (addr_parse's
 *                                      rule, no unix path)
 *   TARGET_APP      app:NAME           a registered app
 *                                      (keys_name_valid)
 *   TARGET_POOL     pool:NAME          an IDE pool: each domain its
 *                                      lease's member (keys_name_valid)
 *
 * A new kind is one enumerator here and one row of the table in
 * target.c; the compiler then names the switches that must handle it.
 */
#ifndef DC_TARGET_H
#define DC_TARGET_H

#include <stddef.h>

/*
 * A whole target with its NUL fits in TARGET_MAX bytes: the longest is
 * the static prefix, a 255-byte host and ":65535" (269 bytes).
 */
#define TARGET_MAX 280

enum target_kind {
	TARGET_STATIC,
	TARGET_APP,
	TARGET_POOL,
};

struct target {
	enum target_kind kind;
	char rest[TARGET_MAX];		/* what follows the prefix */
};

/*
 * Reads S (e.g. app:blog) into *OUT. Returns 0, or -1 with *WHY (if WHY is
 * not NULL) set to a static phrase saying what is wrong, to follow the
 * target in a message ("has an unknown kind"). *OUT is written only on
 * success.
 */
int target_parse(const char *s, struct target *out, const char **why);

/*
 * Writes the target of KIND with REST into BUF and returns BUF, or NULL
 * when REST is not valid for KIND (target_parse would refuse the result)
 * or the target does not fit in LEN bytes.
 */
const char *target_format(char *buf, size_t len, enum target_kind kind,
    const char *rest);

#endif
