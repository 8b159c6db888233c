#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>

static void test_append_and_integers(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_put_u8(&b, 0x53), 0);
	assert_int_equal(sv_buf_put_u16(&b, 0x5601), 0);
	assert_int_equal(sv_buf_put_u32(&b, 0x01020304), 0);
	assert_int_equal(sv_buf_put_u64(&b, 0x1122334455667788ULL), 0);
	assert_int_equal(b.len, 15);
	static const uint8_t want[] = {0x53, 0x56, 0x01, 1,    2,    3,    4,   0x11,
	                               0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
	assert_memory_equal(b.data, want, sizeof(want));

	struct sv_rd r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	sv_rd_init(&r, b.data, b.len);
	assert_int_equal(sv_rd_u8(&r, &u8), 0);
	assert_int_equal(u8, 0x53);
	assert_int_equal(sv_rd_u16(&r, &u16), 0);
	assert_int_equal(u16, 0x5601);
	assert_int_equal(sv_rd_u32(&r, &u32), 0);
	assert_int_equal(u32, 0x01020304);
	assert_int_equal(sv_rd_u64(&r, &u64), 0);
	assert_true(u64 == 0x1122334455667788ULL);
	assert_int_equal(sv_rd_left(&r), 0);
	assert_int_equal(sv_rd_u8(&r, &u8), SV_E_TRUNC);
	sv_buf_release(&b);
	sv_buf_release(NULL);
}

static void test_truncated_reads_do_not_advance(void **state)
{
	const uint8_t two[] = {1, 2};
	struct sv_rd r;
	uint32_t v;
	sv_rd_init(&r, two, sizeof(two));
	assert_int_equal(sv_rd_u32(&r, &v), SV_E_TRUNC);
	assert_int_equal(r.off, 0);
	assert_int_equal(sv_rd_skip(&r, 3), SV_E_TRUNC);
	assert_int_equal(sv_rd_skip(&r, 2), 0);
}

static void test_printf_consume_take(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sv_buf_printf(&b, "%d-%s", 42, "ok"), 0);
	assert_int_equal(sv_buf_printf(&b, "%s", big), 0);
	assert_int_equal(b.len, 5 + 999);
	assert_memory_equal(b.data, "42-ok", 5);
	sv_buf_consume(&b, 3);
	assert_memory_equal(b.data, "okx", 3);
	size_t len;
	uint8_t *p = sv_buf_take(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 2 + 999);
	assert_int_equal(p[len], '\0');
	assert_null(b.data);
	free(p);
}

static void test_read_fd(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	static char big[200000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		size_t off = 0;
		while (off < sizeof(big)) {
			ssize_t n = write(p[1], big + off, sizeof(big) - off);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(p[1]);
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, "head:"), 0);
	assert_int_equal(sv_buf_read_fd(&b, p[0]), 0);
	close(p[0]);
	waitpid(pid, NULL, 0);
	assert_int_equal(b.len, 5 + sizeof(big));
	assert_memory_equal(b.data + 5, big, sizeof(big));
	assert_int_equal(b.data[b.len], '\0');
	/* an error leaves the buffer as it was */
	assert_int_equal(sv_buf_read_fd(&b, -1), -EBADF);
	assert_int_equal(b.len, 5 + sizeof(big));
	assert_int_equal(b.data[b.len], '\0');
	sv_buf_release(&b);
}

static void test_strerror(void **state)
{
	assert_string_equal(sv_strerror(0), "success");
	assert_string_equal(sv_strerror(SV_E_TRUNC), "truncated input");
	assert_string_equal(sv_strerror(-ENOMEM), strerror(ENOMEM));
	assert_string_equal(sv_strerror(-99999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_integers),
	    cmocka_unit_test(test_truncated_reads_do_not_advance),
	    cmocka_unit_test(test_printf_consume_take),
	    cmocka_unit_test(test_read_fd),
	    cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
