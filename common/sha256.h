/*
 * SHA-256 (FIPS 180-4), for checking that an artifact is the one its
 * build published. None of our libraries exposes one (docs/decisions.md),
 * so it is written here: a context fed in pieces, and the digest's
 * lowercase hex form, which is how CI servers publish it.
 */
#ifndef DC_SHA256_H
#define DC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
/* Hex digits of a digest, with the NUL. */
#define SHA256_HEX_LEN (2 * SHA256_LEN + 1)

struct sha256_ctx {
	uint32_t h[8];
	uint64_t len;		/* bytes fed so far */
	uint8_t block[64];	/* the block being filled */
	size_t fill;		/* bytes of it filled */
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Writes the digest of everything fed into OUT; C must be initialised
 * again before it is fed anew. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);

/* The digest of DATA in one call. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* Writes D as 64 lowercase hex digits and a NUL into HEX. */
void sha256_hex(const uint8_t d[SHA256_LEN], char hex[SHA256_HEX_LEN]);

/* Reads 64 hex digits (either case, nothing else) into *D; 0, or -1 if
 * S has another shape (D then untouched). */
int sha256_parse_hex(const char *s, uint8_t d[SHA256_LEN]);

#endif
