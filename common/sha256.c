/*
 * SHA-256 as FIPS 180-4 describes it (sections 4.1.2, 4.2.2, 5.1.1,
 * 5.3.3 and 6.2): 64-byte blocks, big-endian words, the length in bits
 * in the last eight bytes of the padding. Plain and portable rather than
 * fast: an artifact is hashed once per deploy.
 */
#include <ctype.h>
#include <string.h>

#include "sha256.h"

/* The first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes (4.2.2). */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t
sha256_ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

/* One block into the state (6.2.2). */
static void
sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 |
		    (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = sha256_ror(w[i - 15], 7) ^
		    sha256_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = sha256_ror(w[i - 2], 17) ^
		    sha256_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3];
	e = h[4], f = h[5], g = h[6], k = h[7];
	for (int i = 0; i < 64; i++) {
		t1 = k + (sha256_ror(e, 6) ^ sha256_ror(e, 11) ^
		    sha256_ror(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] +
		    w[i];
		t2 = (sha256_ror(a, 2) ^ sha256_ror(a, 13) ^
		    sha256_ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void
sha256_init(struct sha256_ctx *c)
{
	/* The first 32 bits of the fractional parts of the square roots of
	 * the first 8 primes (5.3.3). */
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
	    0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(c->h, h0, sizeof(h0));
	c->len = 0;
	c->fill = 0;
}

void
sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	c->len += len;
	if (c->fill > 0) {
		size_t n = sizeof(c->block) - c->fill;

		if (n > len)
			n = len;
		memcpy(c->block + c->fill, p, n);
		c->fill += n;
		p += n;
		len -= n;
		if (c->fill < sizeof(c->block))
			return;
		sha256_block(c->h, c->block);
		c->fill = 0;
	}
	for (; len >= sizeof(c->block); p += 64, len -= 64)
		sha256_block(c->h, p);
	memcpy(c->block, p, len);
	c->fill = len;
}

void
sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
	uint64_t bits = c->len * 8;

	/* a 1 bit, zeros up to 56 bytes into a block, the length (5.1.1) */
	c->block[c->fill++] = 0x80;
	if (c->fill > 56) {
		memset(c->block + c->fill, 0, sizeof(c->block) - c->fill);
		sha256_block(c->h, c->block);
		c->fill = 0;
	}
	memset(c->block + c->fill, 0, 56 - c->fill);
	for (int i = 0; i < 8; i++)
		c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_block(c->h, c->block);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
}

void
sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, out);
}

/* A digest's digits, and what each stands for (its index). */
static const char sha256_digits[] = "0123456789abcdef";

void
sha256_hex(const uint8_t d[SHA256_LEN], char hex[SHA256_HEX_LEN])
{
	for (int i = 0; i < SHA256_LEN; i++) {
		hex[2 * i] = sha256_digits[d[i] >> 4];
		hex[2 * i + 1] = sha256_digits[d[i] & 15];
	}
	hex[2 * SHA256_LEN] = '\0';
}

int
sha256_parse_hex(const char *s, uint8_t d[SHA256_LEN])
{
	uint8_t out[SHA256_LEN] = {0};

	if (s == NULL || strlen(s) != 2 * SHA256_LEN)
		return -1;
	for (int i = 0; i < 2 * SHA256_LEN; i++) {
		const char *v = memchr(sha256_digits,
		    tolower((unsigned char)s[i]), 16);
		int shift = i % 2 == 0 ? 4 : 0;

		if (v == NULL)
			return -1;
		out[i / 2] |= (uint8_t)((v - sha256_digits) << shift);
	}
	memcpy(d, out, sizeof(out));
	return 0;
}
