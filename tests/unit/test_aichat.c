#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "call/aichat.h"
#include "testutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ conversation */

static int parse_conv(const char *json, struct sv_aichat_conv *c, char *why)
{
	return sv_aichat_conv_parse(json, strlen(json), c, why, 128);
}

static void test_conv_ok(void **state)
{
	struct sv_aichat_conv c;
	char why[128];
	assert_int_equal(parse_conv("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
	                            "{\"role\":\"assistant\",\"content\":\"hello\"},"
	                            "{\"role\":\"user\",\"content\":\"why \\u00e9?\",\"x\":1}],"
	                            "\"other\":true}",
	                            &c, why),
	                 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.msgs[1].role, SV_AICHAT_ASSISTANT);
	assert_string_equal(c.msgs[2].content, "why \xc3\xa9?");
	assert_int_equal(c.msgs[2].len, 7);
	sv_aichat_conv_release(&c);
	sv_aichat_conv_release(&c);
	sv_aichat_conv_release(NULL);
}

static void test_conv_rejects(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"messages\":[]}",
	    "{\"messages\":{}}",
	    "{\"messages\":[1]}",
	    "{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}",
	    "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
	    "{\"messages\":[{\"role\":\"user\"}]}",
	    "{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\","
	    "\"content\":\"b\"}]}",
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\","
	    "\"content\":\"b\"}]}",
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"messages\":[]}",
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sv_aichat_conv c;
		char why[128];
		assert_int_equal(parse_conv(bad[i], &c, why), SV_E_PARSE);
		assert_true(why[0] != '\0');
		assert_null(c.msgs);
		assert_int_equal(c.n, 0);
	}
}

static void test_conv_limits(void **state)
{
	struct sv_buf b;
	struct sv_aichat_conv c;
	char why[128];
	sv_buf_init(&b);
	/* one message too long */
	sv_buf_append_str(&b, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
	for (int i = 0; i <= SV_AICHAT_MAX_CONTENT; i++)
		sv_buf_append(&b, "x", 1);
	sv_buf_append_str(&b, "\"}]}");
	assert_int_equal(sv_aichat_conv_parse((char *)b.data, b.len, &c, why, sizeof(why)),
	                 SV_E_PARSE);
	assert_string_equal(why, "message too long");
	/* too many messages */
	sv_buf_reset(&b);
	sv_buf_append_str(&b, "{\"messages\":[");
	for (int i = 0; i <= SV_AICHAT_MAX_MESSAGES; i++)
		sv_buf_printf(&b, "%s{\"role\":\"user\",\"content\":\"m\"}", i ? "," : "");
	sv_buf_append_str(&b, "]}");
	assert_int_equal(sv_aichat_conv_parse((char *)b.data, b.len, &c, why, sizeof(why)),
	                 SV_E_PARSE);
	assert_string_equal(why, "too many messages");
	sv_buf_release(&b);
}

/* ------------------------------------------------------------ text */

static void cut(const char *text, size_t head, size_t tail, size_t line_max, const char *want,
                size_t want_total)
{
	struct sv_buf b;
	size_t total = 99;
	sv_buf_init(&b);
	assert_int_equal(
	    sv_aichat_cut_lines(text, text ? strlen(text) : 0, head, tail, line_max, &b, &total),
	    0);
	sv_buf_append(&b, "", 1);
	assert_string_equal((char *)b.data, want);
	assert_int_equal(total, want_total);
	sv_buf_release(&b);
}

static void test_cut_lines(void **state)
{
	cut(NULL, 2, 2, 100, "", 0);
	cut("", 2, 2, 100, "", 0);
	cut("a\nb\nc", 2, 2, 100, "a\nb\nc\n", 3);
	cut("a\r\nb\r\n", 2, 2, 100, "a\nb\n", 2);
	cut("1\n2\n3\n4\n", 2, 2, 100, "1\n2\n3\n4\n", 4);
	cut("1\n2\n3\n4\n5\n6\n7\n", 2, 2, 100, "1\n2\n[... 3 lines cut ...]\n6\n7\n", 7);
	cut("1\n2\n3\n4\n5\n", 0, 1, 100, "[... 4 lines cut ...]\n5\n", 5);
	cut("1\n2\n3\n", 1, 0, 100, "1\n[... 2 lines cut ...]\n", 3);
	cut("\n\n", 5, 5, 100, "\n\n", 2);
	cut("abcdefgh\n", 1, 1, 4, "abcd [...]\n", 1);
	/* a two-byte character is not split */
	cut("abc\xc3\xa9z\n", 1, 1, 4, "abc [...]\n", 1);
	cut("ab\xc3\xa9z\n", 1, 1, 4, "ab\xc3\xa9 [...]\n", 1);
	/* invalid UTF-8 and control characters */
	cut("a\xff\xc3.b\x01\tc\n", 1, 1, 100, "a??.b \tc\n", 1);
	cut("\xed\xa0\x80\n", 1, 1, 100, "???\n", 1); /* surrogate */
}

static void test_sanitize(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_aichat_sanitize("ok \xe2\x82\xac\n\x7f\xf4\x90\x80\x80", 12, &b), 0);
	sv_buf_append(&b, "", 1);
	assert_string_equal((char *)b.data, "ok \xe2\x82\xac\n ????");
	sv_buf_release(&b);
}

static void test_context(void **state)
{
	struct sv_buf b, ladder, logs;
	sv_buf_init(&b);
	sv_buf_init(&ladder);
	sv_buf_init(&logs);
	struct sv_aichat_evidence ev = {.customer = "acme", .call_id = "abc@host\nInjected: x"};
	assert_int_equal(sv_aichat_context(&ev, &b), 0);
	sv_buf_append(&b, "", 1);
	const char *t = (char *)b.data;
	assert_non_null(strstr(t, "\nCustomer: acme\nCall-ID: abc@host\n[... 1 lines cut ...]\n"));
	assert_non_null(strstr(t, "## Quality report (quality.json)\n(none)\n"));
	assert_non_null(strstr(t, "## SIP ladder (0 messages)\n(none)\n"));
	assert_non_null(strstr(t, "## Log lines (0 lines)\n(none)\n"));

	for (int i = 0; i < 1000; i++)
		sv_buf_printf(&ladder, "%d INVITE\n", i);
	for (int i = 0; i < 3; i++)
		sv_buf_printf(&logs, "log %d\n", i);
	char quality[SV_AICHAT_QUALITY_MAX + 100];
	memset(quality, 'q', sizeof(quality));
	ev.call_id = "abc@host";
	ev.ladder_text = (char *)ladder.data;
	ev.ladder_len = ladder.len;
	ev.log_text = (char *)logs.data;
	ev.log_len = logs.len;
	ev.quality_json = quality;
	ev.quality_len = sizeof(quality);
	sv_buf_reset(&b);
	assert_int_equal(sv_aichat_context(&ev, &b), 0);
	sv_buf_append(&b, "", 1);
	t = (char *)b.data;
	assert_non_null(strstr(t, "[... 100 bytes cut ...]\n"));
	assert_non_null(strstr(t, "## SIP ladder (1000 messages)\n0 INVITE\n"));
	char line[64];
	snprintf(line, sizeof(line), "%d INVITE\n[... %d lines cut ...]\n%d INVITE\n",
	         SV_AICHAT_LADDER_HEAD - 1, 1000 - SV_AICHAT_LADDER_HEAD - SV_AICHAT_LADDER_TAIL,
	         1000 - SV_AICHAT_LADDER_TAIL);
	assert_non_null(strstr(t, line));
	assert_non_null(strstr(t, "999 INVITE\n\n## Log lines (3 lines)\nlog 0\nlog 1\nlog 2\n"));
	/* valid UTF-8 throughout */
	json_t *js = json_stringn(t, strlen(t));
	assert_non_null(js);
	json_decref(js);
	sv_buf_release(&b);
	sv_buf_release(&ladder);
	sv_buf_release(&logs);
}

/* ------------------------------------------------------------ requests */

static void one_conv(struct sv_aichat_conv *c)
{
	char why[128];
	const char *j = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
	                "{\"role\":\"assistant\",\"content\":\"b\"},"
	                "{\"role\":\"user\",\"content\":\"c\"}]}";
	assert_int_equal(sv_aichat_conv_parse(j, strlen(j), c, why, sizeof(why)), 0);
}

static void test_request_openai(void **state)
{
	struct sv_aichat_conv c;
	struct sv_buf b;
	json_error_t e;
	one_conv(&c);
	sv_buf_init(&b);
	assert_int_equal(sv_aichat_request(SV_AICHAT_OPENAI, NULL, "sys", 3, &c, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(sv_aichat_request(SV_AICHAT_OPENAI, "glm-4.7", "sys", 3, &c, &b), 0);
	json_t *r = json_loadb((char *)b.data, b.len, 0, &e);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "model")), "glm-4.7");
	assert_true(json_is_true(json_object_get(r, "stream")));
	assert_int_equal(json_integer_value(json_object_get(r, "max_tokens")),
	                 SV_AICHAT_MAX_TOKENS);
	json_t *m = json_object_get(r, "messages");
	assert_int_equal(json_array_size(m), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")),
	                    "system");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
	                    "sys");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "role")),
	                    "assistant");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3), "content")),
	                    "c");
	assert_null(json_object_get(r, "system"));
	json_decref(r);
	/* invalid UTF-8 in the system prompt */
	size_t len = b.len;
	assert_int_equal(sv_aichat_request(SV_AICHAT_OPENAI, "m", "\xff", 1, &c, &b), -EINVAL);
	assert_int_equal(b.len, len);
	sv_buf_release(&b);
	sv_aichat_conv_release(&c);
}

static void test_request_anthropic(void **state)
{
	struct sv_aichat_conv c;
	struct sv_buf b;
	json_error_t e;
	one_conv(&c);
	sv_buf_init(&b);
	assert_int_equal(sv_aichat_request(SV_AICHAT_ANTHROPIC, NULL, "sys", 3, &c, &b), 0);
	json_t *r = json_loadb((char *)b.data, b.len, 0, &e);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "model")),
	                    SV_AICHAT_ANTHROPIC_MODEL);
	assert_string_equal(json_string_value(json_object_get(r, "system")), "sys");
	assert_true(json_is_true(json_object_get(r, "stream")));
	assert_true(json_integer_value(json_object_get(r, "max_tokens")) > 0);
	json_t *m = json_object_get(r, "messages");
	assert_int_equal(json_array_size(m), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")),
	                    "user");
	json_decref(r);
	sv_buf_release(&b);
	sv_aichat_conv_release(&c);
}

/* ------------------------------------------------------------ decoders */

struct text {
	struct sv_buf b;
	int stop; /* return this from the callback */
};

static int on_text(const char *s, size_t len, void *arg)
{
	struct text *t = arg;
	sv_buf_append(&t->b, s, len);
	return t->stop;
}

/* Decodes stream in pieces of step bytes; returns finish's value, text in *out. */
static int decode(enum sv_aichat_provider p, const char *stream, size_t step, char *out, size_t cap,
                  struct sv_aichat_dec *d)
{
	struct text t = {.stop = 0};
	size_t len = strlen(stream);
	int rc = 0;
	sv_buf_init(&t.b);
	sv_aichat_dec_init(d, p, on_text, &t);
	if (step == 0)
		step = len ? len : 1;
	for (size_t i = 0; i < len && rc == 0; i += step)
		rc = sv_aichat_dec_feed(d, stream + i, len - i < step ? len - i : step);
	if (rc == 0)
		rc = sv_aichat_dec_finish(d);
	snprintf(out, cap, "%.*s", (int)t.b.len, t.b.data ? (char *)t.b.data : "");
	sv_buf_release(&t.b);
	sv_aichat_dec_release(d);
	return rc;
}

static const char openai_stream[] =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
    "\"finish_reason\":null}]}\n\n"
    ": keep-alive\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}"
    "\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\"},"
    "\"finish_reason\":null}]}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"total_tokens\":9}}\n\n"
    "data: [DONE]\n\n";

static void test_dec_openai(void **state)
{
	struct sv_aichat_dec d;
	char out[256];
	for (size_t step = 0; step < 9; step++) {
		assert_int_equal(
		    decode(SV_AICHAT_OPENAI, openai_stream, step, out, sizeof(out), &d), 0);
		assert_string_equal(out, "Hello \xc3\xa9");
		assert_int_equal(d.state, SV_AICHAT_DONE);
		assert_string_equal(d.stop, "stop");
	}
	/* finish_reason without [DONE]: complete */
	char cut[sizeof(openai_stream)];
	strcpy(cut, openai_stream);
	*strstr(cut, "data: [DONE]") = '\0';
	assert_int_equal(decode(SV_AICHAT_OPENAI, cut, 0, out, sizeof(out), &d), 0);
	/* cut before the finish: -EPIPE */
	*strstr(cut, "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},") = '\0';
	assert_int_equal(decode(SV_AICHAT_OPENAI, cut, 0, out, sizeof(out), &d), -EPIPE);
	assert_string_equal(out, "Hello \xc3\xa9");
	assert_non_null(strstr(d.error, "ended"));
	/* an error in the stream */
	assert_int_equal(
	    decode(SV_AICHAT_OPENAI,
	           "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
	           "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_"
	           "error\"}}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}"
	           "\n\n",
	           1, out, sizeof(out), &d),
	    -EPROTO);
	assert_string_equal(out, "a");
	assert_string_equal(d.error, "server_error: Overloaded");
	/* not JSON, wrong shapes */
	assert_int_equal(decode(SV_AICHAT_OPENAI, "data: {oops\n\n", 0, out, sizeof(out), &d),
	                 SV_E_PARSE);
	assert_int_equal(decode(SV_AICHAT_OPENAI, "data: [1]\n\n", 0, out, sizeof(out), &d),
	                 SV_E_PARSE);
	assert_int_equal(
	    decode(SV_AICHAT_OPENAI, "data: {\"choices\":{}}\n\n", 0, out, sizeof(out), &d),
	    SV_E_PARSE);
	assert_int_equal(decode(SV_AICHAT_OPENAI, "", 0, out, sizeof(out), &d), -EPIPE);
}

static const char anthropic_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,"
    "\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Hello\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"hmm\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"!\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: something_new\ndata: {\"type\":\"something_new\"}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void test_dec_anthropic(void **state)
{
	struct sv_aichat_dec d;
	char out[256];
	for (size_t step = 0; step < 9; step++) {
		assert_int_equal(
		    decode(SV_AICHAT_ANTHROPIC, anthropic_stream, step, out, sizeof(out), &d), 0);
		assert_string_equal(out, "Hello!");
		assert_string_equal(d.stop, "end_turn");
	}
	char cut[sizeof(anthropic_stream)];
	strcpy(cut, anthropic_stream);
	*strstr(cut, "event: message_stop") = '\0';
	assert_int_equal(decode(SV_AICHAT_ANTHROPIC, cut, 0, out, sizeof(out), &d), -EPIPE);
	/* error event mid-stream */
	strcpy(cut, anthropic_stream);
	strcpy(strstr(cut, "event: content_block_stop"),
	       "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
	       "\"message\":\"Overloaded\"}}\n\n");
	assert_int_equal(decode(SV_AICHAT_ANTHROPIC, cut, 3, out, sizeof(out), &d), -EPROTO);
	assert_string_equal(out, "Hello!");
	assert_string_equal(d.error, "overloaded_error: Overloaded");
	/* text before message_start */
	assert_int_equal(
	    decode(SV_AICHAT_ANTHROPIC,
	           "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	           "\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
	           0, out, sizeof(out), &d),
	    SV_E_PARSE);
}

static void test_dec_callback_stops(void **state)
{
	struct sv_aichat_dec d;
	struct text t = {.stop = 7};
	sv_buf_init(&t.b);
	sv_aichat_dec_init(&d, SV_AICHAT_ANTHROPIC, on_text, &t);
	assert_int_equal(sv_aichat_dec_feed(&d, anthropic_stream, strlen(anthropic_stream)), 7);
	assert_int_equal(sv_aichat_dec_finish(&d), 7);
	sv_aichat_dec_release(&d);
	sv_buf_release(&t.b);
}

static void test_http_error(void **state)
{
	char out[128];
	const char *a = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
	                "\"message\":\"Too many requests\"}}";
	sv_aichat_http_error(429, a, strlen(a), out, sizeof(out));
	assert_string_equal(out, "HTTP 429: rate_limit_error: Too many requests");
	const char *o =
	    "{\"error\":{\"message\":\"Invalid key\",\"type\":\"invalid_request_error\","
	    "\"code\":\"invalid_api_key\"}}";
	sv_aichat_http_error(401, o, strlen(o), out, sizeof(out));
	assert_string_equal(out, "HTTP 401: invalid_request_error: Invalid key");
	sv_aichat_http_error(502, "<html>bad gateway</html>", 24, out, sizeof(out));
	assert_string_equal(out, "HTTP 502");
	sv_aichat_http_error(500, "{\"error\":\"boom\"}", 16, out, sizeof(out));
	assert_string_equal(out, "HTTP 500: boom");
	sv_aichat_http_error(500, NULL, 0, out, 5);
	assert_string_equal(out, "HTTP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conv_ok),
	    cmocka_unit_test(test_conv_rejects),
	    cmocka_unit_test(test_conv_limits),
	    cmocka_unit_test(test_cut_lines),
	    cmocka_unit_test(test_sanitize),
	    cmocka_unit_test(test_context),
	    cmocka_unit_test(test_request_openai),
	    cmocka_unit_test(test_request_anthropic),
	    cmocka_unit_test(test_dec_openai),
	    cmocka_unit_test(test_dec_anthropic),
	    cmocka_unit_test(test_dec_callback_stops),
	    cmocka_unit_test(test_http_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
