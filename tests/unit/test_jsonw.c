#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/jsonw.h"
#include "testutil.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

static void put(const char *s, size_t len, const char *want)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_jsonw_string(&b, s, len), 0);
	assert_string_equal((char *)b.data, want);
	sv_buf_release(&b);
}

static void test_escapes(void **state)
{
	put("", 0, "\"\"");
	put("plain@host.example", 18, "\"plain@host.example\"");
	put("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
	put("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
	put("\x01\x1f\x7f", 3, "\"\\u0001\\u001F\x7f\"");
	put("a\0b", 3, "\"a\\u0000b\"");
	put("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e", 14,
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e\"");
}

static void test_invalid_utf8_leaves_out_unchanged(void **state)
{
	static const char *const bad[] = {
	    "\xc3",             /* cut at the end */
	    "\xe2\x82",         /* cut at the end */
	    "\xc0\xaf",         /* overlong */
	    "\xed\xa0\x80",     /* surrogate */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\x80",             /* lone continuation */
	    "ok\xffno",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sv_buf b;
		sv_buf_init(&b);
		assert_int_equal(sv_buf_append_str(&b, "x"), 0);
		assert_int_equal(sv_jsonw_string(&b, bad[i], strlen(bad[i])), -EINVAL);
		assert_int_equal(b.len, 1);
		assert_string_equal((char *)b.data, "x");
		sv_buf_release(&b);
	}
	/* a valid sequence must not be read past len */
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_jsonw_string(&b, "\xc3\xa9", 1), -EINVAL);
	sv_buf_release(&b);
}

/* Same bytes as jansson's json_dumps() for every single byte and some text. */
static void test_matches_jansson(void **state)
{
	for (int c = 0; c < 0x80; c++) {
		char s[2] = {(char)c, 0};
		json_t *j = json_stringn(s, 1);
		assert_non_null(j);
		char *want = json_dumps(j, JSON_ENCODE_ANY);
		put(s, 1, want);
		free(want);
		json_decref(j);
	}
	const char *t = "Call-ID: a84b4c76e66710@pc33.example.com \xc3\xbc \"q\" \\ \t";
	json_t *j = json_string(t);
	char *want = json_dumps(j, JSON_ENCODE_ANY);
	put(t, strlen(t), want);
	free(want);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_invalid_utf8_leaves_out_unchanged),
	    cmocka_unit_test(test_matches_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
