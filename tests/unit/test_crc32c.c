#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/crc32c.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* A bit-at-a-time reference: what the tables must agree with. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

/* The RFC 3720 B.4 vectors, the check value, chaining at every split
 * (moved unchanged from test_journal.c when CRC-32C became its own module). */
static void test_crc32c_vectors(void **state)
{
	uint8_t b[32];
	memset(b, 0, sizeof(b));
	assert_int_equal(sv_crc32c(0, b, 32), 0x8A9136AA);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(sv_crc32c(0, b, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(sv_crc32c(0, b, 32), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(sv_crc32c(0, b, 32), 0x113FDB5C); /* RFC 3720 B.4, descending */
	assert_int_equal(sv_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(sv_crc32c(0, "", 0), 0);
	/* chaining at every split point, with unaligned starts */
	uint8_t big[301];
	for (int i = 0; i < 301; i++)
		big[i] = (uint8_t)(i * 13 + 5);
	uint32_t whole = sv_crc32c(0, big + 1, 300);
	for (size_t k = 0; k <= 300; k++)
		assert_int_equal(sv_crc32c(sv_crc32c(0, big + 1, k), big + 1 + k, 300 - k), whole);
	/* against a bitwise reference */
	uint32_t c = 0xffffffff;
	for (int i = 1; i < 301; i++) {
		c ^= big[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	assert_int_equal(~c, whole);
}

/* The catalogue's check value and a few well-known strings. */
static void test_known_strings(void **state)
{
	assert_int_equal(sv_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(sv_crc32c(0, "a", 1), 0xC1D04330);
	assert_int_equal(sv_crc32c(0, "abc", 3), 0x364B3FB7);
	const char *fox = "The quick brown fox jumps over the lazy dog";
	assert_int_equal(sv_crc32c(0, fox, strlen(fox)), 0x22620404);
	/* 0..255 four times: crosses the 8-byte fast path many times */
	uint8_t b[1024];
	for (int i = 0; i < 1024; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(sv_crc32c(0, b, sizeof(b)), 0x2CDF6E8F);
	/* an empty piece leaves any running value alone, NULL allowed */
	assert_int_equal(sv_crc32c(0x12345678, NULL, 0), 0x12345678);
}

/* Every length 0..64 at every alignment 0..7 against the bitwise reference. */
static void test_lengths_and_alignments(void **state)
{
	uint8_t buf[80];
	for (int i = 0; i < 80; i++)
		buf[i] = (uint8_t)(i * 151 + 17);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 64; n++)
			assert_int_equal(sv_crc32c(0, buf + off, n), crc_bitwise(0, buf + off, n));
}

/* A single flipped bit anywhere changes the CRC (it detects every 1-bit error). */
static void test_bit_flip_detected(void **state)
{
	uint8_t buf[64];
	for (int i = 0; i < 64; i++)
		buf[i] = (uint8_t)(i * 7);
	uint32_t good = sv_crc32c(0, buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(sv_crc32c(0, buf, sizeof(buf)), good);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_vectors),
	    cmocka_unit_test(test_known_strings),
	    cmocka_unit_test(test_lengths_and_alignments),
	    cmocka_unit_test(test_bit_flip_detected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
