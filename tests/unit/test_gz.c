#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "base/gz.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_roundtrip(void **state)
{
	struct sv_buf z, plain;
	sv_buf_init(&z);
	sv_buf_init(&plain);
	size_t n = 300000;
	char *in = malloc(n);
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)("SIP/2.0 200 OK\r\n"[i % 16] ^ (i / 997));
	assert_int_equal(sv_gz_compress(in, n, &z), 0);
	assert_true(z.len > 18);
	assert_int_equal(z.data[0], 0x1f);
	assert_int_equal(z.data[1], 0x8b);
	assert_int_equal(sv_gz_decompress(z.data, z.len, n, &plain), 0);
	assert_int_equal(plain.len, n);
	assert_memory_equal(plain.data, in, n);

	/* The limit is enforced. */
	sv_buf_reset(&plain);
	assert_int_equal(sv_gz_decompress(z.data, z.len, n - 1, &plain), SV_E_TOOBIG);
	/* A cut stream is truncated, a flipped byte is corrupt (or caught by the CRC). */
	sv_buf_reset(&plain);
	assert_int_equal(sv_gz_decompress(z.data, z.len / 2, n, &plain), SV_E_TRUNC);
	z.data[z.len - 6] ^= 0xff;
	sv_buf_reset(&plain);
	assert_int_not_equal(sv_gz_decompress(z.data, z.len, n, &plain), 0);
	free(in);
	sv_buf_release(&z);
	sv_buf_release(&plain);
}

static void test_empty_and_concatenated(void **state)
{
	struct sv_buf z, plain;
	sv_buf_init(&z);
	sv_buf_init(&plain);
	assert_int_equal(sv_gz_compress("", 0, &z), 0);
	assert_int_equal(sv_gz_compress("abc", 3, &z), 0);
	assert_int_equal(sv_gz_decompress(z.data, z.len, 100, &plain), 0);
	assert_int_equal(plain.len, 3);
	assert_memory_equal(plain.data, "abc", 3);
	sv_buf_release(&z);
	sv_buf_release(&plain);
}

static void test_read_file_plain_and_gzip(void **state)
{
	char *dir = tu_tmpdir();
	char p1[256], p2[256];
	snprintf(p1, sizeof(p1), "%s/plain.txt", dir);
	snprintf(p2, sizeof(p2), "%s/z.gz", dir);
	FILE *f = fopen(p1, "wb");
	fputs("hello\n", f);
	fclose(f);
	struct sv_buf z, out;
	sv_buf_init(&z);
	sv_buf_init(&out);
	assert_int_equal(sv_gz_compress("hello\n", 6, &z), 0);
	f = fopen(p2, "wb");
	fwrite(z.data, 1, z.len, f);
	fclose(f);
	assert_int_equal(sv_gz_read_file(p1, 100, &out), 0);
	assert_string_equal((char *)out.data, "hello\n");
	sv_buf_reset(&out);
	assert_int_equal(sv_gz_read_file(p2, 100, &out), 0);
	assert_string_equal((char *)out.data, "hello\n");
	sv_buf_reset(&out);
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	assert_true(sv_gz_read_file(missing, 100, &out) < 0);
	sv_buf_release(&z);
	sv_buf_release(&out);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_empty_and_concatenated),
	    cmocka_unit_test(test_read_file_plain_and_gzip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
