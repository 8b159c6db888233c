#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "base/sse.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>

/* Events seen, as "name|data|id\n" lines. */
struct seen {
	struct sv_buf log;
	int stop_after; /* return 42 after this many events (0: never) */
	int n;
};

static int on_event(const struct sv_sse_event *ev, void *arg)
{
	struct seen *s = arg;
	assert_int_equal(ev->event[ev->event_len], '\0');
	assert_int_equal(ev->data[ev->data_len], '\0');
	sv_buf_append(&s->log, ev->event, ev->event_len);
	sv_buf_append(&s->log, "|", 1);
	sv_buf_append(&s->log, ev->data, ev->data_len);
	sv_buf_append(&s->log, "|", 1);
	sv_buf_append(&s->log, ev->id, ev->id_len);
	sv_buf_append(&s->log, "\n", 1);
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? 42 : 0;
}

/* Parses text in pieces of `step` bytes (0: at once); returns the log. */
static void parse(const char *text, size_t step, const char *want)
{
	struct seen s = {.n = 0};
	struct sv_sse p;
	size_t len = strlen(text);
	sv_buf_init(&s.log);
	sv_sse_init(&p, 0, 0, on_event, &s);
	if (step == 0)
		step = len ? len : 1;
	for (size_t i = 0; i < len; i += step)
		assert_int_equal(sv_sse_feed(&p, text + i, len - i < step ? len - i : step), 0);
	assert_int_equal(sv_sse_finish(&p), 0);
	sv_buf_append(&s.log, "", 1);
	assert_string_equal((char *)s.log.data, want);
	sv_sse_release(&p);
	sv_buf_release(&s.log);
}

static void parse_all_ways(const char *text, const char *want)
{
	for (size_t step = 0; step <= 7; step++)
		parse(text, step, want);
}

static void test_fields(void **state)
{
	parse_all_ways("data: hello\n\n", "message|hello|\n");
	parse_all_ways("event: token\ndata: {\"a\":1}\n\n", "token|{\"a\":1}|\n");
	parse_all_ways("data: a\ndata: b\n\n", "message|a\nb|\n");
	parse_all_ways("data:no-space\n\n", "message|no-space|\n");
	parse_all_ways("data:  two\n\n", "message| two|\n");
	parse_all_ways("data\n\n", "message||\n");
	parse_all_ways("id: 7\ndata: x\n\ndata: y\n\n", "message|x|7\nmessage|y|7\n");
	parse_all_ways(": comment\ndata: x\n: another\n\n", "message|x|\n");
	parse_all_ways("event: nodata\n\ndata: x\n\n", "message|x|\n");
	parse_all_ways("foo: bar\ndata: x\n\n", "message|x|\n");
	parse_all_ways("event: a\ndata: 1\n\nevent: b\ndata: 2\n\n", "a|1|\nb|2|\n");
}

static void test_line_ends(void **state)
{
	parse_all_ways("data: a\r\n\r\ndata: b\r\rdata: c\n\n",
	               "message|a|\nmessage|b|\nmessage|c|\n");
	parse_all_ways("data: a\r\ndata: b\r\n\r\n", "message|a\nb|\n");
	parse_all_ways("\xef\xbb\xbf"
	               "data: bom\n\n",
	               "message|bom|\n");
	/* Not a BOM: the two bytes belong to the first line's field name. */
	parse_all_ways("\xef\xbb"
	               "data: x\n\ndata: y\n\n",
	               "message|y|\n");
}

static void test_end_of_stream(void **state)
{
	parse_all_ways("data: complete\n\ndata: cut", "message|complete|\n");
	parse_all_ways("data: no empty line\n", "");
}

static void test_retry(void **state)
{
	struct sv_sse p;
	sv_sse_init(&p, 0, 0, NULL, NULL);
	assert_int_equal(sv_sse_feed(&p, "retry: 1500\n", 12), 0);
	assert_int_equal(p.retry_ms, 1500);
	assert_int_equal(sv_sse_feed(&p, "retry: 15x\n", 11), 0);
	assert_int_equal(p.retry_ms, 1500);
	sv_sse_release(&p);
}

static void test_limits(void **state)
{
	struct seen s = {.n = 0};
	struct sv_sse p;
	sv_buf_init(&s.log);
	sv_sse_init(&p, 16, 24, on_event, &s);
	assert_int_equal(sv_sse_feed(&p, "data: 0123456789\n", 17), 0);
	assert_int_equal(sv_sse_feed(&p, "data: 0123456789\n", 17), 0);
	assert_int_equal(sv_sse_feed(&p, "data: 0123456789\n", 17), SV_E_TOOBIG);
	assert_int_equal(sv_sse_feed(&p, "\n", 1), SV_E_TOOBIG); /* sticky */
	assert_int_equal(sv_sse_finish(&p), SV_E_TOOBIG);
	assert_int_equal(s.n, 0);
	sv_sse_release(&p);

	sv_sse_init(&p, 16, 0, on_event, &s);
	assert_int_equal(sv_sse_feed(&p, "data: 0123456789", 16), 0);
	assert_int_equal(sv_sse_feed(&p, "a", 1), SV_E_TOOBIG);
	sv_sse_release(&p);
	sv_buf_release(&s.log);
}

static void test_callback_stops(void **state)
{
	struct seen s = {.stop_after = 1};
	struct sv_sse p;
	sv_buf_init(&s.log);
	sv_sse_init(&p, 0, 0, on_event, &s);
	assert_int_equal(sv_sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18), 42);
	assert_int_equal(s.n, 1);
	assert_int_equal(sv_sse_feed(&p, "data: 3\n\n", 9), 42);
	assert_int_equal(s.n, 1);
	sv_sse_release(&p);
	sv_buf_release(&s.log);
}

static void test_write(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_sse_write(&b, "token", "{\"text\":\"hi\"}", 13), 0);
	assert_int_equal(sv_sse_write(&b, NULL, "a\nb\r\nc\rd", 8), 0);
	assert_int_equal(sv_sse_write(&b, NULL, "end\n", 4), 0);
	assert_int_equal(sv_sse_write(&b, NULL, NULL, 0), 0);
	sv_buf_append(&b, "", 1);
	assert_string_equal((char *)b.data, "event: token\ndata: {\"text\":\"hi\"}\n\n"
	                                    "data: a\ndata: b\ndata: c\ndata: d\n\n"
	                                    "data: end\ndata: \n\n"
	                                    "data: \n\n");
	b.len--;
	size_t len = b.len;
	assert_int_equal(sv_sse_write(&b, "bad\nname", "x", 1), -EINVAL);
	assert_int_equal(b.len, len);
	sv_buf_append(&b, "", 1);
	parse_all_ways(
	    (char *)b.data,
	    "token|{\"text\":\"hi\"}|\nmessage|a\nb\nc\nd|\nmessage|end\n|\nmessage||\n");
	sv_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields),        cmocka_unit_test(test_line_ends),
	    cmocka_unit_test(test_end_of_stream), cmocka_unit_test(test_retry),
	    cmocka_unit_test(test_limits),        cmocka_unit_test(test_callback_stops),
	    cmocka_unit_test(test_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
