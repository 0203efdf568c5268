/*
 * SHA-256 (common/sha256.c) against the standard's test vectors (FIPS
 * 180-4's examples, as NIST and RFC 6234 list them), messages whose
 * padding falls on each side of a block's end, the same digest whatever
 * pieces the message is fed in, and the hex form read and refused.
 */
#include <string.h>

#include "sha256.h"
#include "unit.h"

static const char *
digest_hex(const void *data, size_t len)
{
	static char hex[SHA256_HEX_LEN];
	uint8_t d[SHA256_LEN];

	sha256(data, len, d);
	sha256_hex(d, hex);
	return hex;
}

static void
test_vectors(void)
{
	static const struct {
		const char *msg, *hex;
	} v[] = {
		{"abc", "ba7816bf8f01cfea414140de5dae2223"
			"b00361a396177a9cb410ff61f20015ad"},
		{"", "e3b0c44298fc1c149afbf4c8996fb924"
		     "27ae41e4649b934ca495991b7852b855"},
		/* 448 bits: the padding needs a second block */
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    "248d6a61d20638b8e5c026930c3e6039"
		    "a33ce45964ff2167f6ecedd419db06c1"},
		/* 896 bits */
		{"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		 "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		    "cf5b16a778af8380036ce59e7b049237"
		    "0b249b11e8f07a51afac45037afee9d1"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_STREQ(digest_hex(v[i].msg, strlen(v[i].msg)), v[i].hex);
}

static void
test_million(void)
{
	struct sha256_ctx c;
	char a[1000], hex[SHA256_HEX_LEN];
	uint8_t d[SHA256_LEN];

	memset(a, 'a', sizeof(a));
	sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		sha256_update(&c, a, sizeof(a));
	sha256_final(&c, d);
	sha256_hex(d, hex);
	CHECK_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67"
			 "f1809a48a497200e046d39ccc7112cd0");
}

/* n times 'a': the 0x80 and the length fit in the block, or need one
 * more (values from Python's hashlib) */
static void
test_block_edges(void)
{
	static const struct {
		size_t n;
		const char *hex;
	} v[] = {
		{55, "9f4390f8d30c2dd92ec9f095b65e2b9a"
		    "e9b0a925a5258e241c9f1e910f734318"},
		{56, "b35439a4ac6f0948b6d6f9e3c6af0f5f"
		    "590ce20f1bde7090ef7970686ec6738a"},
		{57, "f13b2d724659eb3bf47f2dd6af1accc8"
		    "7b81f09f59f2b75e5c0bed6589dfe8c6"},
		{63, "7d3e74a05d7db15bce4ad9ec0658ea98"
		    "e3f06eeecf16b4c6fff2da457ddc2f34"},
		{64, "ffe054fe7ae0cb6dc65c3af9b61d5209"
		    "f439851db43d0ba5997337df154668eb"},
		{65, "635361c48bb9eab14198e76ea8ab7f1a"
		    "41685d6ad62aa9146d301d4f17eb0ae0"},
		{119, "31eba51c313a5c08226adf18d4a359cf"
		    "dfd8d2e816b13f4af952f7ea6584dcfb"},
		{120, "2f3d335432c70b580af0e8e1b3674a7c"
		    "020d683aa5f73aaaedfdc55af904c21c"},
	};
	char a[128];

	memset(a, 'a', sizeof(a));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_STREQ(digest_hex(a, v[i].n), v[i].hex);
}

/* Any two pieces, and one byte at a time, give the one-call digest. */
static void
test_pieces(void)
{
	char msg[200];
	uint8_t whole[SHA256_LEN], d[SHA256_LEN];
	struct sha256_ctx c;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 7 + 3);
	sha256(msg, sizeof(msg), whole);
	for (size_t cut = 0; cut <= sizeof(msg); cut++) {
		sha256_init(&c);
		sha256_update(&c, msg, cut);
		sha256_update(&c, msg + cut, sizeof(msg) - cut);
		sha256_final(&c, d);
		if (memcmp(d, whole, sizeof(d)) != 0)
			unit_fail(__FILE__, __LINE__, "cut at %zu differs",
			    cut);
	}
	sha256_init(&c);
	for (size_t i = 0; i < sizeof(msg); i++)
		sha256_update(&c, msg + i, 1);
	sha256_final(&c, d);
	CHECK(memcmp(d, whole, sizeof(d)) == 0);
}

static void
test_hex(void)
{
	static const char *const bad[] = {
		"", "abc",
		/* 63 and 65 digits */
		"ba7816bf8f01cfea414140de5dae2223"
		"b00361a396177a9cb410ff61f20015a",
		"ba7816bf8f01cfea414140de5dae2223"
		"b00361a396177a9cb410ff61f20015ad0",
		"ba7816bf8f01cfea414140de5dae2223"
		"b00361a396177a9cb410ff61f20015ag",
		" a7816bf8f01cfea414140de5dae2223"
		"b00361a396177a9cb410ff61f20015ad",
		"0xba7816bf8f01cfea414140de5dae22"
		"23b00361a396177a9cb410ff61f20015",
	};
	uint8_t d[SHA256_LEN], want[SHA256_LEN], same[SHA256_LEN];
	char hex[SHA256_HEX_LEN];

	sha256("abc", 3, want);
	REQUIRE(sha256_parse_hex("ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad", d) == 0);
	CHECK(memcmp(d, want, sizeof(d)) == 0);
	REQUIRE(sha256_parse_hex("BA7816BF8F01CFEA414140DE5DAE2223"
				 "B00361A396177A9CB410FF61F20015AD", d) == 0);
	CHECK(memcmp(d, want, sizeof(d)) == 0);
	sha256_hex(d, hex);
	CHECK_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223"
			 "b00361a396177a9cb410ff61f20015ad");
	memcpy(same, d, sizeof(d));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sha256_parse_hex(bad[i], d) == 0)
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"",
			    bad[i]);
		CHECK(memcmp(d, same, sizeof(d)) == 0);
	}
	CHECK(sha256_parse_hex(NULL, d) < 0);
}

UNIT_TESTS = {
	{"standard vectors", test_vectors},
	{"one million a", test_million},
	{"padding at a block's end", test_block_edges},
	{"fed in pieces", test_pieces},
	{"hex read and refused", test_hex},
	{NULL, NULL},
};
