/*
 * One hexadecimal digit's value: the HTTP chunk sizes of the proxy and
 * the %XX escapes of the regulator's webhooks read digits the same way.
 */
#ifndef DC_HEX_H
#define DC_HEX_H

/* 0-15 for [0-9a-fA-F], else -1. */
static inline int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
