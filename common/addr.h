/*
 * Network addresses written as text: the one rule for "host:port", used
 * by the configuration check and by every program that connects or
 * listens (Redis, the proxy's listen and upstream addresses, autostart's
 * readiness probe, devcloudctl), so that what the configuration accepts is
 * exactly what the daemons can use.
 *
 *   HOST:PORT      HOST a name or an IPv4 address: letters, digits, '.',
 *                  '-' and '_', at most 255 bytes
 *   [IPV6]:PORT    an IPv6 address in brackets, with an optional %zone;
 *                  the host comes back without the brackets
 *   /PATH          a unix socket (port 0), only where ADDR_UNIX allows it
 *
 * PORT is decimal digits only, 1 to 65535: no sign, no space, nothing
 * after it. An unbracketed host holding ':' ("::1:80") is refused: where
 * the address ends and the port begins would be a guess.
 */
#ifndef DC_ADDR_H
#define DC_ADDR_H

#include <stddef.h>

#define ADDR_UNIX 0x1		/* a path starting with '/' is allowed */

/*
 * Splits ADDR into HOST (NUL-terminated, no brackets) and *PORT (0 for a
 * unix socket path). HOST may be NULL (and HOSTLEN 0) to only check ADDR;
 * PORT may be NULL too. Returns 0, or -1 with *WHY (if WHY is not NULL)
 * set to a static phrase saying what is wrong, to follow the address in
 * a message ("has no ':PORT'"). HOST and *PORT are written only on
 * success.
 */
int addr_parse(const char *addr, int flags, char *host, size_t hostlen,
    int *port, const char **why);

/*
 * Writes HOST and PORT as addr_parse reads them back: "[HOST]:PORT" when
 * HOST holds ':' (IPv6), else "HOST:PORT". 0, or -1 if BUF is too small.
 */
int addr_format(char *buf, size_t len, const char *host, int port);

#endif
