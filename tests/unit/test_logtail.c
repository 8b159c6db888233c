/*
 * test_agent_logtail.c - the agent's log follower (src/agent/logtail.c):
 * lines, partial lines, long lines, rename + create (with the old file's
 * drain window on a fake clock) and copytruncate, polled by hand (the event
 * loop is created but never run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent.h"
#include "base/buf.h"
#include "base/log.h"
#include "testutil.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t fake_wall_ns;
static uint64_t fake_mono_ms = 1000;

static uint64_t wall_ns(void)
{
	return fake_wall_ns;
}

static uint64_t mono_ms(void)
{
	return fake_mono_ms;
}

static const struct ag_clock fake_clock = {wall_ns, mono_ms};

struct fx {
	char *dir;
	char path[4096];
	struct event_base *base;
	struct ag_counters ctr;
	struct ag_logtail *t;
	struct sv_buf lines; /* every line seen, each followed by '|' */
	int n;
};

static void on_line(void *arg, const char *line, size_t len)
{
	struct fx *x = arg;
	sv_buf_append(&x->lines, line, len);
	sv_buf_append(&x->lines, "|", 1);
	x->n++;
}

static void write_file(const char *path, const char *mode, const char *text)
{
	FILE *f = fopen(path, mode);
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The lines seen since the last call, as "a|b|", then forgotten. */
static const char *seen(struct fx *x)
{
	static char out[65536];
	snprintf(out, sizeof(out), "%.*s", (int)x->lines.len,
	         x->lines.data ? (const char *)x->lines.data : "");
	sv_buf_reset(&x->lines);
	return out;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	fake_wall_ns = (uint64_t)time(NULL) * 1000000000u;
	x->dir = tu_tmpdir();
	snprintf(x->path, sizeof(x->path), "%s/proxy.log", x->dir);
	x->base = event_base_new();
	assert_non_null(x->base);
	sv_buf_init(&x->lines);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	ag_logtail_free(x->t);
	event_base_free(x->base);
	sv_buf_release(&x->lines);
	tu_rmrf(x->dir);
	free(x->dir);
	free(x);
	return 0;
}

static void start(struct fx *x)
{
	assert_int_equal(ag_logtail_new(x->base, x->path, &fake_clock, &x->ctr, on_line, x, &x->t),
	                 0);
}

/* Starts at the end; whole lines only; a line over 16 KiB is cut. */
static void test_lines(void **state)
{
	struct fx *x = *state;
	write_file(x->path, "w", "written before the start\n");
	start(x);
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "");

	write_file(x->path, "a", "one\r\ntwo\npar");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "one|two|");
	write_file(x->path, "a", "tial\n\n");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "partial|");

	char *big = malloc(20002);
	assert_non_null(big);
	memset(big, 'a', 20000);
	memcpy(big + 20000, "\n", 2);
	write_file(x->path, "a", big);
	write_file(x->path, "a", "after\n");
	ag_logtail_poll(x->t);
	assert_int_equal(x->lines.len, 16384 + 1 + 6);
	assert_memory_equal(x->lines.data + 16385, "after|", 6);
	assert_int_equal(x->ctr.log_truncated, 1);
	sv_buf_reset(&x->lines);
	free(big);
}

/* A log that does not exist yet is read from its start once it appears. */
static void test_appears_later(void **state)
{
	struct fx *x = *state;
	start(x);
	ag_logtail_poll(x->t);
	write_file(x->path, "w", "first\nsecond\n");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "first|second|");
}

/* rename + create: the old file is finished, drained for 2 s, then closed. */
static void test_rename_create(void **state)
{
	struct fx *x = *state;
	char old[4200];
	snprintf(old, sizeof(old), "%s.1", x->path);
	write_file(x->path, "w", "");
	start(x);
	write_file(x->path, "a", "before the rename\n");
	assert_int_equal(rename(x->path, old), 0);
	write_file(x->path, "w", "new file\n");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "before the rename|new file|");
	assert_int_equal(x->ctr.log_rotations, 1);

	fake_mono_ms += 1500; /* a writer still appending to the old file */
	write_file(old, "a", "late\n");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "late|");
	fake_mono_ms += 600; /* past the 2 s drain: closed */
	ag_logtail_poll(x->t);
	write_file(old, "a", "too late\n");
	write_file(x->path, "a", "more\n");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "more|");
}

/* copytruncate: lines written between the last poll and the truncation are
 * read from the copy; without a copy they are lost, counted. */
static void test_copytruncate(void **state)
{
	struct fx *x = *state;
	char copy[4200];
	struct sv_buf b;
	snprintf(copy, sizeof(copy), "%s.1", x->path);
	write_file(x->path, "w", "an old line that is long enough to fingerprint\n");
	start(x);
	write_file(x->path, "a", "unread before the copy\n");
	sv_buf_init(&b);
	tu_read_file(x->path, &b);
	write_file(copy, "w", (const char *)b.data);
	sv_buf_release(&b);
	assert_int_equal(truncate(x->path, 0), 0);
	write_file(x->path, "a", "after the truncation\n");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "unread before the copy|after the truncation|");
	assert_int_equal(x->ctr.log_truncations, 1);

	assert_int_equal(unlink(copy), 0);
	write_file(x->path, "a", "lost to the truncation\n");
	assert_int_equal(truncate(x->path, 0), 0);
	write_file(x->path, "a", "x\n");
	ag_logtail_poll(x->t);
	assert_string_equal(seen(x), "x|");
	assert_int_equal(x->ctr.log_truncations, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appears_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
	};
	sv_log_init("test_agent_logtail", SV_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
