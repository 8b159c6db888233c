#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/log.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int format_calls;

/* Counts how often an argument is evaluated: the level check must come first. */
static const char *counted(void)
{
	format_calls++;
	return "x";
}

static void capture_stderr(void (*fn)(void), char *out, size_t outlen)
{
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static void emit_three(void)
{
	sv_log_init("svtest", SV_LOG_WARN);
	log_info("hidden %s", counted());
	log_warnx("shown %d\nsecond line", 7);
	log_errx("error %s", "too");
}

static void test_threshold_and_format(void **state)
{
	char out[4096];
	format_calls = 0;
	capture_stderr(emit_three, out, sizeof(out));
	assert_int_equal(format_calls, 0);
	assert_null(strstr(out, "hidden"));
	/* One line per event, newlines inside a message folded to spaces. */
	assert_non_null(strstr(out, "warn  svtest: shown 7 second line\n"));
	assert_non_null(strstr(out, "error svtest: error too\n"));
	int lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	/* ISO-8601 UTC timestamp with milliseconds first. */
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[23], 'Z');
}

static void test_level_parse(void **state)
{
	enum sv_log_level l;
	assert_int_equal(sv_log_level_parse("DEBUG", &l), 0);
	assert_int_equal(l, SV_LOG_DEBUG);
	assert_int_equal(sv_log_level_parse("warning", &l), 0);
	assert_int_equal(l, SV_LOG_WARN);
	assert_int_equal(sv_log_level_parse("error", &l), 0);
	assert_int_equal(l, SV_LOG_ERROR);
	assert_int_equal(sv_log_level_parse("loud", &l), -EINVAL);
	assert_int_equal(sv_log_level_parse(NULL, &l), -EINVAL);
	assert_string_equal(sv_log_level_name(SV_LOG_INFO), "info");
}

/* Sets errno as a failing call would, then returns an argument. */
static const char *clobber(void)
{
	format_calls++;
	errno = ENOENT;
	return "arg";
}

static int errno_after[4];

static void emit_errno(void)
{
	sv_log_init("svtest", SV_LOG_WARN);
	errno = EACCES;
	log_warn("cannot remove %s", "x");
	errno_after[0] = errno;
	errno = EIO;
	log_err("sync of %s failed", "y");
	errno_after[1] = errno;
	/* errno is read before the arguments run: EPIPE, not clobber()'s ENOENT */
	errno = EPIPE;
	log_warn("send %s", clobber());
	errno_after[2] = errno;
	/* below the threshold: nothing formatted, errno untouched */
	errno = EAGAIN;
	sv_log_errno(SV_LOG_INFO, "hidden %s", clobber());
	errno_after[3] = errno;
	/* the x variants add nothing */
	errno = EACCES;
	log_warnx("plain");
	/* an explicit code, negative as the library returns them */
	sv_log_write_errno(SV_LOG_ERROR, -ENOSPC, "explicit");
}

static void test_errno_variants(void **state)
{
	char out[4096];
	format_calls = 0;
	capture_stderr(emit_errno, out, sizeof(out));
	assert_non_null(strstr(out, "warn  svtest: cannot remove x: Permission denied\n"));
	assert_non_null(strstr(out, "error svtest: sync of y failed: Input/output error\n"));
	assert_non_null(strstr(out, "warn  svtest: send arg: Broken pipe\n"));
	assert_non_null(strstr(out, "warn  svtest: plain\n"));
	assert_non_null(strstr(out, "error svtest: explicit: No space left on device\n"));
	assert_null(strstr(out, "hidden"));
	assert_int_equal(format_calls, 1);
	/* logging leaves errno as it found it, so `log_warn(); return -errno;` works */
	assert_int_equal(errno_after[0], EACCES);
	assert_int_equal(errno_after[1], EIO);
	assert_int_equal(errno_after[2], ENOENT); /* what clobber() left */
	assert_int_equal(errno_after[3], EAGAIN);
	int lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 5);
}

/* A message at the length limit still ends with the errno text. */
static void emit_long(void)
{
	char big[3000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sv_log_init("svtest", SV_LOG_WARN);
	errno = EEXIST;
	log_warn("%s", big);
}

static void test_errno_long_message(void **state)
{
	char out[8192];
	capture_stderr(emit_long, out, sizeof(out));
	assert_non_null(strstr(out, "aaa: File exists\n"));
}

static void emit_curl(void)
{
	sv_log_init("svtest", SV_LOG_DEBUG);
	char text[] = "Connected to 127.0.0.1\r\n";
	char data[] = "GET / HTTP/1.1";
	sv_log_curl_debug(NULL, 0, text, strlen(text), NULL);
	sv_log_curl_debug(NULL, 2, data, strlen(data), NULL); /* header out: never logged */
}

static void test_curl_route(void **state)
{
	char out[4096];
	capture_stderr(emit_curl, out, sizeof(out));
	assert_non_null(strstr(out, "libcurl: Connected to 127.0.0.1\n"));
	assert_null(strstr(out, "GET /"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threshold_and_format), cmocka_unit_test(test_level_parse),
	    cmocka_unit_test(test_curl_route),           cmocka_unit_test(test_errno_variants),
	    cmocka_unit_test(test_errno_long_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
