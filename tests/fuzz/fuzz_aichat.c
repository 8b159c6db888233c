/*
 * aichat invariants on arbitrary bytes: both stream decoders give the same
 * text and result however the stream is cut into pieces, and never crash;
 * the conversation parser, the error reader and the context builder accept
 * anything, and the context is always valid UTF-8 (a JSON string).
 */
#include "base/buf.h"
#include "call/aichat.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

static int on_text(const char *s, size_t len, void *arg)
{
	check(sv_buf_append(arg, s, len) == 0);
	return 0;
}

static int decode(enum sv_aichat_provider p, const uint8_t *data, size_t size, size_t step,
                  struct sv_buf *text)
{
	struct sv_aichat_dec d;
	int rc = 0;
	sv_aichat_dec_init(&d, p, on_text, text);
	for (size_t i = 0; i < size && rc == 0; i += step)
		rc = sv_aichat_dec_feed(&d, data + i, size - i < step ? size - i : step);
	if (rc == 0)
		rc = sv_aichat_dec_finish(&d);
	check(memchr(d.error, '\0', sizeof(d.error)) != NULL);
	sv_aichat_dec_release(&d);
	return rc;
}

static void valid_utf8(const struct sv_buf *b)
{
	json_t *s = json_stringn(b->len ? (const char *)b->data : "", b->len);
	check(s != NULL);
	json_decref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step = size ? (size_t)(data[0] % 17) + 1 : 1;
	for (int p = SV_AICHAT_OPENAI; p <= SV_AICHAT_ANTHROPIC; p++) {
		struct sv_buf a, b;
		sv_buf_init(&a);
		sv_buf_init(&b);
		int ra = decode((enum sv_aichat_provider)p, data, size, size ? size : 1, &a);
		int rb = decode((enum sv_aichat_provider)p, data, size, step, &b);
		check(ra == rb);
		check(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
		sv_buf_release(&a);
		sv_buf_release(&b);
	}

	char why[128], err[128];
	struct sv_aichat_conv conv;
	if (sv_aichat_conv_parse((const char *)data, size, &conv, why, sizeof(why)) == 0) {
		check(conv.n > 0 && conv.msgs[0].role == SV_AICHAT_USER);
		struct sv_buf req;
		sv_buf_init(&req);
		check(sv_aichat_request(SV_AICHAT_ANTHROPIC, NULL, "s", 1, &conv, &req) == 0);
		sv_buf_release(&req);
		sv_aichat_conv_release(&conv);
	} else {
		check(conv.n == 0 && conv.msgs == NULL && why[0] != '\0');
	}
	sv_aichat_http_error(400, (const char *)data, size, err, sizeof(err));
	check(strncmp(err, "HTTP 400", 8) == 0);

	/* the input as ladder, log and quality.json of a call */
	struct sv_aichat_evidence ev = {
	    .customer = "c",
	    .call_id = "id",
	    .quality_json = (const char *)data,
	    .quality_len = size / 3,
	    .ladder_text = (const char *)data + size / 3,
	    .ladder_len = size / 3,
	    .log_text = (const char *)data + 2 * (size / 3),
	    .log_len = size - 2 * (size / 3),
	};
	struct sv_buf ctx, lines;
	sv_buf_init(&ctx);
	sv_buf_init(&lines);
	check(sv_aichat_context(&ev, &ctx) == 0);
	valid_utf8(&ctx);
	size_t total = 0;
	check(sv_aichat_cut_lines((const char *)data, size, 2, 3, 8, &lines, &total) == 0);
	valid_utf8(&lines);
	size_t nl = 0;
	for (size_t i = 0; i < lines.len; i++)
		nl += lines.data[i] == '\n';
	check(nl <= total && nl <= 6);
	sv_buf_release(&ctx);
	sv_buf_release(&lines);
	return 0;
}
