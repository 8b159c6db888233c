#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "base/gz.h"
#include "call/rtcpjson.h"
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define REPORT(dir, ts, blocks)                                                            \
	"{\"ts_ns\":" #ts ",\"source\":\"agent\",\"direction\":\"" dir "\",\"ssrc\":4096," \
	"\"packet_type\":\"rr\",\"blocks\":[" blocks "]}"
#define BLOCK(fl, jit, rtt)                                                                     \
	"{\"ssrc\":8192,\"fraction_lost\":" #fl ",\"cumulative_lost\":12,\"highest_seq\":1200," \
	"\"jitter\":" #jit ",\"lsr\":0,\"dlsr\":0,\"rtt_ms\":" #rtt "}"

static int load(const char *text, struct sv_rtcpjson *doc, char *err, size_t errlen)
{
	return sv_rtcpjson_load(text, strlen(text), doc, err, errlen);
}

static void test_contract_example(void **state)
{
	const char *text =
	    "{\"call_id\":\"abc@host\",\"codec\":\"pcmu\",\"clock_rate\":8000,\"reports\":["
	    "{\"ts_ns\":1764151205250000000,\"source\":\"agent\",\"direction\":\"uac\","
	    "\"src\":\"198.51.100.1:10001\",\"dst\":\"203.0.113.1:20001\",\"ssrc\":4096,"
	    "\"packet_type\":\"sr\",\"blocks\":[{\"ssrc\":8192,\"fraction_lost\":3,"
	    "\"cumulative_lost\":12,\"highest_seq\":1200,\"jitter\":24,\"lsr\":0,\"dlsr\":0,"
	    "\"rtt_ms\":41.5}],\"raw\":\"gckAAQ==\"}]}";
	struct sv_rtcpjson doc;
	char err[256];
	assert_int_equal(load(text, &doc, err, sizeof(err)), 0);
	assert_string_equal(doc.call.call_id, "abc@host");
	assert_string_equal(doc.call.codec, "pcmu");
	assert_int_equal(doc.call.clock_rate, 8000);
	assert_int_equal(doc.n_reports, 1);
	assert_int_equal(doc.n_samples, 1);
	assert_int_equal(doc.has_summary, 0);
	assert_true(doc.samples[0].ts_ns == 1764151205250000000ULL);
	assert_int_equal(doc.samples[0].dir, SV_QUALITY_UAC);
	assert_true(fabs(doc.samples[0].jitter_ms - 3.0) < 1e-12);
	assert_true(fabs(doc.samples[0].loss_pct - 3.0 / 256 * 100) < 1e-12);
	assert_true(fabs(doc.samples[0].rtt_ms - 41.5) < 1e-12);
	/* Without the summary extension: answered, started/ended at the reports. */
	assert_int_equal(doc.call.answered, 1);
	assert_int_equal(doc.call.final_status, 200);
	assert_true(doc.call.started_ns == 1764151205250000000ULL);
	assert_true(doc.call.answered_ns == 1764151205250000000ULL);
	assert_true(doc.call.ended_ns == 1764151205250000000ULL);
	assert_null(doc.call.customer);
	sv_rtcpjson_release(&doc);
	sv_rtcpjson_release(&doc); /* harmless twice */
	sv_rtcpjson_release(NULL);
}

static void test_blocks_directions_and_unknown_fields(void **state)
{
	const char *text =
	    "{\"call_id\":\"c\",\"codec\":\"opus\",\"clock_rate\":48000,"
	    "\"future\":{\"x\":[1,2]},\"reports\":[" REPORT(
	        "uas", 3000000000,
	        BLOCK(0, 480, null) "," BLOCK(
	            128, 960, 10)) "," REPORT("uac", 1000000000,
	                                      "") ","
	                                          "{\"ts_ns\":2000000000,\"direction\":\"uac\","
	                                          "\"packet_type\":\"xr\","
	                                          "\"extra\":true,\"blocks\":null,\"src\":null}]}";
	struct sv_rtcpjson doc;
	char err[256] = "";
	if (load(text, &doc, err, sizeof(err)) != 0)
		fail_msg("load failed: %s", err);
	assert_int_equal(doc.n_reports, 3);
	assert_int_equal(doc.n_samples, 2);
	assert_int_equal(doc.samples[0].dir, SV_QUALITY_UAS);
	assert_true(fabs(doc.samples[0].jitter_ms - 10.0) < 1e-12);
	assert_true(doc.samples[0].rtt_ms == 0);
	assert_true(fabs(doc.samples[1].jitter_ms - 20.0) < 1e-12);
	assert_true(fabs(doc.samples[1].loss_pct - 50.0) < 1e-12);
	assert_true(doc.samples[1].rtt_ms == 10);
	/* first / last report times, whatever the order */
	assert_true(doc.call.started_ns == 1000000000ULL);
	assert_true(doc.call.ended_ns == 3000000000ULL);
	sv_rtcpjson_release(&doc);
}

static void test_summary_extension(void **state)
{
	const char *text = "{\"call_id\":\"c\",\"customer\":\"acme\",\"reports\":[],"
	                   "\"summary\":{\"codec\":\"G729\",\"sample_count\":0,"
	                   "\"started_at\":\"2025-11-26T10:00:00.120Z\",\"answered_at\":null,"
	                   "\"ended_at\":\"2025-11-26T10:00:09Z\",\"duration_seconds\":0,"
	                   "\"final_status\":486,\"end_reason\":\"failed\",\"from\":\"sip:a@x\","
	                   "\"to\":\"sip:b@y\"}}";
	struct sv_rtcpjson doc;
	char err[256] = "";
	if (load(text, &doc, err, sizeof(err)) != 0)
		fail_msg("load failed: %s", err);
	assert_int_equal(doc.has_summary, 1);
	assert_string_equal(doc.call.customer, "acme");
	assert_string_equal(doc.call.codec, "G729"); /* top-level codec absent */
	assert_int_equal(doc.call.clock_rate, 8000); /* default */
	assert_int_equal(doc.call.answered, 0);
	assert_int_equal(doc.call.final_status, 486);
	assert_int_equal(doc.call.end_reason, SV_QUALITY_END_FAILED);
	assert_true(doc.call.started_ns == 1764151200120000000ULL);
	assert_true(doc.call.answered_ns == 0);
	assert_true(doc.call.ended_ns == 1764151209000000000ULL);
	assert_string_equal(doc.call.from, "sip:a@x");
	assert_string_equal(doc.call.to, "sip:b@y");
	json_t *r = NULL;
	assert_int_equal(
	    sv_quality_build(&doc.call, doc.samples, doc.n_samples, SV_QUALITY_SRC_RTCP, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "unknown");
	assert_string_equal(json_string_value(json_object_get(r, "audio_status")), "not_answered");
	json_decref(r);
	sv_rtcpjson_release(&doc);

	/* 2xx final status means answered, even without answered_at. */
	text = "{\"call_id\":\"c\",\"codec\":\"pcma\",\"reports\":[],"
	       "\"summary\":{\"final_status\":200,\"end_reason\":\"timeout\"}}";
	assert_int_equal(load(text, &doc, err, sizeof(err)), 0);
	assert_int_equal(doc.call.answered, 1);
	assert_int_equal(doc.call.end_reason, SV_QUALITY_END_TIMEOUT);
	assert_string_equal(doc.call.codec, "pcma");
	sv_rtcpjson_release(&doc);
}

struct bad_case {
	const char *text;
	const char *msg; /* expected substring of the error */
};

static void test_malformed(void **state)
{
	static const struct bad_case cases[] = {
	    {"", "invalid JSON"},
	    {"{\"call_id\":", "invalid JSON at line 1"},
	    {"not json", "invalid JSON"},
	    {"{\"call_id\":\"caf\\u\n\"}", "invalid JSON"}, /* error quotes a newline */
	    {"[]", "document: expected a JSON object"},
	    {"{\"call_id\":\"a\",\"call_id\":\"b\",\"reports\":[]}", "invalid JSON"},
	    {"{\"reports\":[]}", "call_id: missing"},
	    {"{\"call_id\":5,\"reports\":[]}", "call_id: expected a string"},
	    {"{\"call_id\":\"c\"}", "reports: missing"},
	    {"{\"call_id\":\"c\",\"reports\":{}}", "reports: expected an array"},
	    {"{\"call_id\":\"c\",\"codec\":1,\"reports\":[]}", "codec: expected a string"},
	    {"{\"call_id\":\"c\",\"clock_rate\":0,\"reports\":[]}",
	     "clock_rate: expected an integer"},
	    {"{\"call_id\":\"c\",\"clock_rate\":\"8000\",\"reports\":[]}", "clock_rate"},
	    {"{\"call_id\":\"c\",\"clock_rate\":8000.5,\"reports\":[]}", "clock_rate"},
	    {"{\"call_id\":\"c\",\"customer\":[],\"reports\":[]}", "customer: expected a string"},
	    {"{\"call_id\":\"c\",\"reports\":[1]}", "reports[0]: expected an object"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uac", 1, "") ",{\"direction\":\"uac\"}]}",
	     "reports[1].ts_ns: missing"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":-1,\"direction\":\"uac\"}]}",
	     "reports[0].ts_ns: expected an integer"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":\"1\",\"direction\":\"uac\"}]}",
	     "reports[0].ts_ns"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":1}]}", "reports[0].direction: missing"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":1,\"direction\":\"UAC\"}]}",
	     "reports[0].direction: expected \"uac\" or \"uas\""},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":1,\"direction\":\"uac\",\"source\":7}]}",
	     "reports[0].source: expected a string"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":1,\"direction\":\"uac\",\"ssrc\":-4}]}",
	     "reports[0].ssrc"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":1,\"direction\":\"uac\",\"raw\":{}}]}",
	     "reports[0].raw: expected a string"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":1,\"direction\":\"uac\",\"blocks\":{}}]}",
	     "reports[0].blocks: expected an array"},
	    {"{\"call_id\":\"c\",\"reports\":[{\"ts_ns\":1,\"direction\":\"uac\",\"blocks\":[3]}]}",
	     "reports[0].blocks[0]: expected an object"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uac", 1, BLOCK(256, 1, 1)) "]}",
	     "reports[0].blocks[0].fraction_lost: expected an integer in 0..255"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uac", 1,
	                                               BLOCK(1, 1, 1) "," BLOCK(1, -1, 1)) "]}",
	     "reports[0].blocks[1].jitter"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uas", 1, BLOCK(1, "24", 1)) "]}",
	     "reports[0].blocks[0].jitter"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uas", 1, BLOCK(1, 4294967296, 1)) "]}",
	     "reports[0].blocks[0].jitter"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uas", 1, BLOCK(1, 2, "41")) "]}",
	     "reports[0].blocks[0].rtt_ms: expected null or a number"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uas", 1, BLOCK(1, 2, -1)) "]}",
	     "reports[0].blocks[0].rtt_ms"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uas", 1, "{\"jitter\":1}") "]}",
	     "reports[0].blocks[0].fraction_lost: missing"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT("uas", 1, "{\"fraction_lost\":1}") "]}",
	     "reports[0].blocks[0].jitter: missing"},
	    {"{\"call_id\":\"c\",\"reports\":[" REPORT(
	         "uas", 1, "{\"fraction_lost\":1,\"jitter\":1,\"cumulative_lost\":\"x\"}") "]}",
	     "reports[0].blocks[0].cumulative_lost"},
	    {"{\"call_id\":\"c\",\"reports\":[],\"summary\":[]}", "summary: expected an object"},
	    {"{\"call_id\":\"c\",\"reports\":[],\"summary\":{\"started_at\":\"today\"}}",
	     "summary.started_at: expected an ISO-8601"},
	    {"{\"call_id\":\"c\",\"reports\":[],\"summary\":{\"ended_at\":5}}",
	     "summary.ended_at: expected a string"},
	    {"{\"call_id\":\"c\",\"reports\":[],\"summary\":{\"final_status\":700}}",
	     "summary.final_status"},
	    {"{\"call_id\":\"c\",\"reports\":[],\"summary\":{\"end_reason\":\"hangup\"}}",
	     "summary.end_reason: expected bye, cancel, failed or timeout"},
	    {"{\"call_id\":\"c\",\"reports\":[],\"summary\":{\"duration_seconds\":\"1\"}}",
	     "summary.duration_seconds: expected a number"},
	    {"{\"call_id\":\"c\",\"reports\":[],\"summary\":{\"from\":1}}", "summary.from"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sv_rtcpjson doc;
		char err[256] = "";
		int rc = load(cases[i].text, &doc, err, sizeof(err));
		if (rc != SV_E_PARSE)
			fail_msg("case %zu: rc %d, expected SV_E_PARSE (%s)", i, rc, cases[i].text);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].msg);
		if (strchr(err, '\n') != NULL)
			fail_msg("case %zu: error is more than one line", i);
		/* doc is left empty and releasable */
		assert_null(doc.root);
		assert_null(doc.samples);
		sv_rtcpjson_release(&doc);
		/* err may be NULL */
		assert_int_equal(load(cases[i].text, &doc, NULL, 0), SV_E_PARSE);
	}
}

/* The bundled demo sample and the integration inputs all load and build. */
static void test_bundled_samples(void **state)
{
	static const char *const files[] = {
	    "etc/sample/rtcp.json",
	    "tests/data/analyze/in/sample.json",
	    "tests/data/analyze/in/bad_loss.json.gz",
	    "tests/data/analyze/in/latency_bare.json",
	    "tests/data/analyze/in/noa.json",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct sv_buf text;
		struct sv_rtcpjson doc;
		char err[256] = "";
		sv_buf_init(&text);
		assert_int_equal(sv_gz_read_file(tu_source(files[i]), 1 << 24, &text), 0);
		if (sv_rtcpjson_load(text.data, text.len, &doc, err, sizeof(err)) != 0)
			fail_msg("%s: %s", files[i], err);
		json_t *r = NULL;
		assert_int_equal(sv_quality_build(&doc.call, doc.samples, doc.n_samples,
		                                  SV_QUALITY_SRC_RTCP, &r),
		                 0);
		json_decref(r);
		sv_rtcpjson_release(&doc);
		sv_buf_release(&text);
	}
}

/* The writer: what it dumps loads back as the same call and samples; "unknown"
 * reports are kept in the file but give no sample. */
static void test_dump_roundtrip(void **state)
{
	(void)state;
	struct sv_quality_call call;
	sv_quality_call_init(&call);
	call.call_id = "abc@host";
	call.customer = "acme";
	call.codec = "PCMA";
	call.clock_rate = 8000;
	call.answered = 1;
	call.started_ns = 1764151200120000000ULL;
	call.answered_ns = 1764151203480000000ULL;
	call.ended_ns = 1764151261910000000ULL;
	call.final_status = 200;
	call.end_reason = SV_QUALITY_END_BYE;
	call.from = "sip:alice@example.com";
	call.to = "sip:bob@example.net";
	struct sv_rtcpjson_block b[3] = {
	    {.ssrc = 8192,
	     .fraction_lost = 3,
	     .cumulative_lost = -2,
	     .highest_seq = 1200,
	     .jitter = 24,
	     .lsr = 7,
	     .dlsr = 9,
	     .rtt_ms = 41.5},
	    {.ssrc = 4096, .fraction_lost = 0, .jitter = 80, .rtt_ms = -1},
	    {.ssrc = 1, .fraction_lost = 255, .jitter = 1, .rtt_ms = NAN},
	};
	const uint8_t raw[] = {0x81, 0xc9, 0x00, 0x01, 0, 0, 0x10, 0};
	struct sv_rtcpjson_report r[3] = {
	    {.ts_ns = 1764151205250000000ULL,
	     .source = "agent",
	     .direction = "uac",
	     .src = "198.51.100.1:10001",
	     .dst = "[2001:db8::1]:20001",
	     .ssrc = 4096,
	     .packet_type = "rr",
	     .blocks = &b[0],
	     .n_blocks = 1,
	     .raw = raw,
	     .raw_len = sizeof(raw)},
	    {.ts_ns = 1764151206250000000ULL,
	     .source = "hep",
	     .direction = "uas",
	     .ssrc = 8192,
	     .packet_type = "sr",
	     .blocks = &b[1],
	     .n_blocks = 1},
	    {.ts_ns = 1764151207250000000ULL,
	     .direction = "unknown",
	     .ssrc = 5,
	     .packet_type = "rr",
	     .blocks = &b[2],
	     .n_blocks = 1},
	};
	struct sv_buf out;
	struct sv_rtcpjson doc;
	char err[256] = "";
	sv_buf_init(&out);
	assert_int_equal(sv_rtcpjson_dump(&call, r, 3, 1, &out), 0);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	if (sv_rtcpjson_load(out.data, out.len, &doc, err, sizeof(err)) != 0)
		fail_msg("reload: %s", err);
	assert_int_equal(doc.n_reports, 3);
	assert_int_equal(doc.n_samples, 2);
	assert_int_equal(doc.has_summary, 1);
	assert_string_equal(doc.call.call_id, "abc@host");
	assert_string_equal(doc.call.customer, "acme");
	assert_string_equal(doc.call.codec, "PCMA");
	assert_string_equal(doc.call.from, "sip:alice@example.com");
	assert_string_equal(doc.call.to, "sip:bob@example.net");
	assert_int_equal(doc.call.final_status, 200);
	assert_int_equal(doc.call.answered, 1);
	assert_true(doc.call.started_ns == call.started_ns);
	assert_true(doc.call.answered_ns == call.answered_ns);
	assert_true(doc.call.ended_ns == call.ended_ns);
	assert_int_equal(doc.samples[0].dir, SV_QUALITY_UAC);
	assert_true(fabs(doc.samples[0].rtt_ms - 41.5) < 1e-12);
	assert_int_equal(doc.samples[1].dir, SV_QUALITY_UAS);
	assert_true(doc.samples[1].rtt_ms == 0);
	assert_true(fabs(doc.samples[1].jitter_ms - 10.0) < 1e-12);
	json_t *rep = json_array_get(json_object_get(doc.root, "reports"), 0);
	assert_string_equal(json_string_value(json_object_get(rep, "raw")), "gckAAQAAEAA=");
	assert_string_equal(json_string_value(json_object_get(rep, "dst")), "[2001:db8::1]:20001");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(rep, "blocks"), 0), "cumulative_lost")),
	                 -2);
	rep = json_array_get(json_object_get(doc.root, "reports"), 1);
	assert_null(json_object_get(rep, "src"));
	assert_null(json_object_get(rep, "raw"));
	assert_true(json_is_null(
	    json_object_get(json_array_get(json_object_get(rep, "blocks"), 0), "rtt_ms")));
	json_t *sum = json_object_get(doc.root, "summary");
	assert_int_equal(json_integer_value(json_object_get(sum, "sample_count")), 2);
	assert_true(fabs(json_real_value(json_object_get(sum, "duration_seconds")) - 58.43) < 1e-9);
	assert_string_equal(json_string_value(json_object_get(sum, "end_reason")), "bye");
	sv_rtcpjson_release(&doc);

	/* Not answered, no summary, no customer. */
	sv_buf_reset(&out);
	call.answered = 0;
	call.final_status = 486;
	call.end_reason = SV_QUALITY_END_FAILED;
	call.customer = NULL;
	assert_int_equal(sv_rtcpjson_dump(&call, NULL, 0, 1, &out), 0);
	assert_int_equal(sv_rtcpjson_load(out.data, out.len, &doc, err, sizeof(err)), 0);
	assert_int_equal(doc.call.answered, 0);
	assert_true(doc.call.answered_ns == 0);
	assert_int_equal(doc.call.end_reason, SV_QUALITY_END_FAILED);
	assert_null(doc.call.customer);
	sv_rtcpjson_release(&doc);
	sv_buf_reset(&out);
	assert_int_equal(sv_rtcpjson_dump(&call, r, 1, 0, &out), 0);
	assert_int_equal(sv_rtcpjson_load(out.data, out.len, &doc, err, sizeof(err)), 0);
	assert_int_equal(doc.has_summary, 0);
	sv_rtcpjson_release(&doc);

	/* Bad input: invalid UTF-8, zero clock rate; out is left alone. */
	sv_buf_reset(&out);
	call.from = "\xff";
	assert_int_equal(sv_rtcpjson_dump(&call, r, 1, 1, &out), -EINVAL);
	assert_int_equal(out.len, 0);
	call.from = "";
	call.clock_rate = 0;
	assert_int_equal(sv_rtcpjson_dump(&call, r, 1, 1, &out), -EINVAL);
	sv_buf_release(&out);
}

/* "unknown" direction: accepted, blocks validated, no sample. */
static void test_unknown_direction(void **state)
{
	(void)state;
	const char *text = "{\"call_id\":\"c\",\"reports\":[" REPORT(
	    "unknown", 5, BLOCK(9, 80, 3)) "," REPORT("uas", 6, BLOCK(0, 8, null)) "]}";
	struct sv_rtcpjson doc;
	char err[256] = "";
	assert_int_equal(load(text, &doc, err, sizeof(err)), 0);
	assert_int_equal(doc.n_reports, 2);
	assert_int_equal(doc.n_samples, 1);
	assert_int_equal(doc.samples[0].dir, SV_QUALITY_UAS);
	sv_rtcpjson_release(&doc);
	text = "{\"call_id\":\"c\",\"reports\":[" REPORT("unknown", 5, "{\"jitter\":1}") "]}";
	assert_int_equal(load(text, &doc, err, sizeof(err)), SV_E_PARSE);
	assert_non_null(strstr(err, "fraction_lost"));
}

/* The writer produces text itself: it must be exactly what jansson writes
 * (compact, keys in order) for the same document. */
static void test_dump_matches_jansson(void **state)
{
	(void)state;
	static const uint8_t raw[] = {0x81, 0xc8, 0x00, 0x0c, 0xde, 0xad, 0xbe, 0xef, 0x01};
	struct sv_rtcpjson_block b[3] = {
	    {0xffffffffu, 255, -8388608, 4294967295u, 0, 1, 2, 12.345678901234567},
	    {7, 0, 8388607, 0, 4294967295u, 0, 0, -1},
	    {9, 1, 0, 1, 1, 1, 1, 2.5e-9},
	};
	struct sv_rtcpjson_report r[2] = {
	    {1764151200123456789ull, "agent", "uac", "192.0.2.1:5004", "[2001:db8::1]:5005", 42,
	     "sr", b, 3, raw, sizeof(raw)},
	    {0xffffffffffffffffull, NULL, "unknown", NULL, NULL, 0, "rr", NULL, 0, NULL, 0},
	};
	struct sv_quality_call c;
	sv_quality_call_init(&c);
	c.call_id = "q\"uote\\back\x01\x1f\t\n\xc3\xa9\xf0\x9f\x98\x80/";
	c.codec = "PCMU";
	c.clock_rate = 8000;
	c.customer = "acme";
	c.answered = 1;
	c.started_ns = 1764151200000000000ull;
	c.answered_ns = 1764151201234567891ull;
	c.ended_ns = 1764151263999999999ull;
	c.final_status = 200;
	c.from = "sip:a@x";
	c.to = NULL;
	for (int ws = 0; ws <= 1; ws++) {
		struct sv_buf out;
		sv_buf_init(&out);
		assert_int_equal(sv_rtcpjson_dump(&c, r, 2, ws, &out), 0);
		json_error_t e;
		json_t *j = json_loadb((const char *)out.data, out.len, 0, &e);
		assert_non_null(j);
		char *again = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		assert_non_null(again);
		assert_int_equal(out.len, strlen(again) + 1);
		assert_memory_equal(out.data, again, out.len - 1);
		assert_int_equal(out.data[out.len - 1], '\n');
		free(again);
		json_decref(j);
		sv_buf_release(&out);
	}
}

/* sv_rtcpjson_load_reports() is what sv_rtcpjson_load() makes of the
 * document sv_rtcpjson_dump() writes, for ordinary and odd values alike. */
static void check_reader_view(const struct sv_quality_call *call,
                              const struct sv_rtcpjson_report *reps, size_t n)
{
	struct sv_rtcpjson a, b;
	struct sv_buf text;
	char err[256] = "";
	sv_buf_init(&text);
	assert_int_equal(sv_rtcpjson_dump(call, reps, n, 1, &text), 0);
	if (sv_rtcpjson_load(text.data, text.len, &a, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	assert_int_equal(sv_rtcpjson_load_reports(call, reps, n, &b), 0);
	assert_null(b.root);
	assert_int_equal(a.has_summary, b.has_summary);
	assert_int_equal(a.n_reports, b.n_reports);
	assert_int_equal(a.n_samples, b.n_samples);
	for (size_t i = 0; i < a.n_samples; i++) {
		assert_int_equal(a.samples[i].ts_ns, b.samples[i].ts_ns);
		assert_int_equal(a.samples[i].dir, b.samples[i].dir);
		assert_true(a.samples[i].jitter_ms == b.samples[i].jitter_ms);
		assert_true(a.samples[i].loss_pct == b.samples[i].loss_pct);
		assert_true(a.samples[i].rtt_ms == b.samples[i].rtt_ms);
	}
	assert_string_equal(a.call.call_id, b.call.call_id);
	assert_string_equal(a.call.codec, b.call.codec);
	assert_string_equal(a.call.from, b.call.from);
	assert_string_equal(a.call.to, b.call.to);
	assert_int_equal(a.call.clock_rate, b.call.clock_rate);
	assert_int_equal(a.call.answered, b.call.answered);
	assert_int_equal(a.call.started_ns, b.call.started_ns);
	assert_int_equal(a.call.answered_ns, b.call.answered_ns);
	assert_int_equal(a.call.ended_ns, b.call.ended_ns);
	assert_int_equal(a.call.final_status, b.call.final_status);
	assert_int_equal(a.call.end_reason, b.call.end_reason);
	sv_rtcpjson_release(&a);
	sv_rtcpjson_release(&b);
	sv_buf_release(&text);
}

static void test_reader_view(void **state)
{
	struct sv_rtcpjson_block blk[3] = {
	    {.ssrc = 1, .fraction_lost = 12, .jitter = 80, .rtt_ms = 41.25},
	    {.ssrc = 2, .fraction_lost = 255, .jitter = 4294967295u, .rtt_ms = 2e7},
	    {.ssrc = 3, .fraction_lost = 0, .jitter = 0, .rtt_ms = NAN},
	};
	struct sv_rtcpjson_report reps[4] = {
	    {.ts_ns = 1764151205000000007ull,
	     .direction = "uac",
	     .packet_type = "rr",
	     .blocks = &blk[0],
	     .n_blocks = 1},
	    {.ts_ns = UINT64_MAX,
	     .direction = "uas",
	     .packet_type = "sr",
	     .blocks = &blk[1],
	     .n_blocks = 2},
	    {.ts_ns = 1764151206000000000ull,
	     .direction = "unknown",
	     .packet_type = "rr",
	     .blocks = &blk[0],
	     .n_blocks = 1},
	    {.ts_ns = 1764151207000000000ull, .direction = "uac", .packet_type = "xr"},
	};
	struct sv_quality_call call;
	sv_quality_call_init(&call);
	call.call_id = "rv@test";
	call.codec = "G729";
	call.clock_rate = 8000;
	call.answered = 1;
	call.started_ns = 1764151200120999999ull;
	call.answered_ns = 1764151203480000001ull;
	call.ended_ns = 1764151261910500000ull;
	call.final_status = 200;
	call.end_reason = SV_QUALITY_END_BYE;
	check_reader_view(&call, reps, 4);
	/* Not answered, status out of range, end reason out of range, no strings. */
	call.answered = 0;
	call.final_status = 1234;
	call.end_reason = (enum sv_quality_end)7;
	call.codec = NULL;
	call.clock_rate = SV_RTCPJSON_CLOCK_MAX;
	check_reader_view(&call, reps, 2);
	/* A 2xx status makes the reader call it answered. */
	call.final_status = 204;
	call.started_ns = 0;
	check_reader_view(&call, NULL, 0);
	/* A clock rate the reader refuses. */
	struct sv_rtcpjson doc;
	call.clock_rate = SV_RTCPJSON_CLOCK_MAX + 1;
	assert_int_equal(sv_rtcpjson_load_reports(&call, reps, 1, &doc), -EINVAL);
	assert_null(doc.samples);
	call.clock_rate = 0;
	assert_int_equal(sv_rtcpjson_load_reports(&call, reps, 1, &doc), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_contract_example),
	    cmocka_unit_test(test_blocks_directions_and_unknown_fields),
	    cmocka_unit_test(test_summary_extension),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_bundled_samples),
	    cmocka_unit_test(test_dump_roundtrip),
	    cmocka_unit_test(test_dump_matches_jansson),
	    cmocka_unit_test(test_unknown_direction),
	    cmocka_unit_test(test_reader_view),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
