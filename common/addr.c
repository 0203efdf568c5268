/*
 * The "host:port" rule (see addr.h). Checked here character by character
 * rather than with strtol, which would take " 80" and "+80", or with a
 * split at the last ':', which would make "::1:80" a host and a port.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

#define ADDR_HOST_MAX 255	/* a DNS name's limit */

/* 1 to 65535, one to five digits and nothing else. */
static bool
addr_port(const char *s, int *port)
{
	int p = 0;
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (n == 5 || s[n] < '0' || s[n] > '9')
			return false;
		p = p * 10 + (s[n] - '0');
	}
	if (n == 0 || p == 0 || p > 65535)
		return false;
	*port = p;
	return true;
}

/*
 * A name or an IPv4 address (the resolver judges the rest); also the
 * characters of an IPv6 zone.
 */
static bool
addr_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("._-", s[i]) == NULL)
			return false;
	return true;
}

/* What stands between '[' and ']': an IPv6 address, maybe %zone. */
static bool
addr_v6(const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;
	const char *pct = memchr(s, '%', len);
	size_t al = pct != NULL ? (size_t)(pct - s) : len;

	if (al == 0 || al >= sizeof(buf))
		return false;
	if (pct != NULL) {
		size_t zl = len - al - 1;

		if (zl == 0 || zl >= IF_NAMESIZE || !addr_name(pct + 1, zl))
			return false;
	}
	memcpy(buf, s, al);
	buf[al] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

int
addr_parse(const char *addr, int flags, char *host, size_t hostlen,
    int *port, const char **why)
{
	const char *h = addr, *colon, *err;
	size_t hl;
	int p = 0;

	if (addr[0] == '/') {
		if (!(flags & ADDR_UNIX)) {
			err = "is a path; a unix socket is not allowed here";
			goto fail;
		}
		hl = strlen(addr);
		goto done;
	}
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (close == NULL) {
			err = "has a '[' without its ']'";
			goto fail;
		}
		h = addr + 1;
		hl = (size_t)(close - h);
		if (!addr_v6(h, hl)) {
			err = "has no IPv6 address between '[' and ']'";
			goto fail;
		}
		if (close[1] != ':') {
			err = close[1] == '\0' ? "has no ':PORT' after ']'" :
			    "has something other than ':PORT' after ']'";
			goto fail;
		}
		colon = close + 1;
	} else {
		if ((colon = strchr(addr, ':')) == NULL) {
			err = "has no ':PORT'";
			goto fail;
		}
		if (strchr(colon + 1, ':') != NULL) {
			err = "holds more than one ':' (an IPv6 address must "
			    "be in brackets: [::1]:PORT)";
			goto fail;
		}
		hl = (size_t)(colon - addr);
		if (hl == 0) {
			err = "has no host before ':'";
			goto fail;
		}
		if (!addr_name(addr, hl)) {
			err = "has a host other than a name, an IPv4 address "
			    "or [IPV6] (letters, digits, '.', '-', '_')";
			goto fail;
		}
		if (hl > ADDR_HOST_MAX) {
			err = "has a host longer than 255 bytes";
			goto fail;
		}
	}
	if (colon[1] == '\0') {
		err = "has no port after ':'";
		goto fail;
	}
	if (!addr_port(colon + 1, &p)) {
		err = "has a port other than digits from 1 to 65535";
		goto fail;
	}
done:
	if (host != NULL) {
		if (hl >= hostlen) {
			err = "is too long";
			goto fail;
		}
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	if (port != NULL)
		*port = p;
	return 0;
fail:
	if (why != NULL)
		*why = err;
	return -1;
}

int
addr_format(char *buf, size_t len, const char *host, int port)
{
	int n = strchr(host, ':') != NULL ?
	    snprintf(buf, len, "[%s]:%d", host, port) :
	    snprintf(buf, len, "%s:%d", host, port);

	return n >= 0 && (size_t)n < len ? 0 : -1;
}
