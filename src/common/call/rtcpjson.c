/*
 * rtcpjson.c - rtcp.json reader.
 */
#include "call/rtcpjson.h"

#include "base/b64.h"
#include "base/errors.h"
#include "base/jsonw.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U32_MAX 4294967295LL
#define RTT_MAX 1e7 /* ms: a larger round trip is written and read as unknown */

/* ---- the normalisation the writer and the reader share */

static const char *const end_reasons[] = {"bye", "cancel", "failed", "timeout"};

/* A status as written: 0..699, else 0. */
static int norm_status(int status)
{
	return status >= 0 && status <= 699 ? status : 0;
}

/* What the reader infers from a summary: answered by a 2xx or an answer time. */
static int infer_answered(int status, uint64_t answered_ns)
{
	return (status >= 200 && status <= 299) || answered_ns != 0;
}

/* A report time as written ("ts_ns" is a JSON integer of 63 bits). */
static uint64_t norm_report_ts(uint64_t ts_ns)
{
	return ts_ns & INT64_MAX;
}

/* A summary time as written (ISO-8601 with milliseconds; 0 is null). */
static uint64_t norm_time(uint64_t ns)
{
	return ns - ns % 1000000u;
}

static int rtt_known(double rtt_ms)
{
	return isfinite(rtt_ms) && rtt_ms >= 0 && rtt_ms <= RTT_MAX;
}

/* "uac" / "uas" to a direction: 0, or -1 for anything else. */
static int parse_dir(const char *s, enum sv_quality_dir *dir)
{
	if (s != NULL && strcmp(s, "uac") == 0)
		*dir = SV_QUALITY_UAC;
	else if (s != NULL && strcmp(s, "uas") == 0)
		*dir = SV_QUALITY_UAS;
	else
		return -1;
	return 0;
}

/* Error context: err buffer plus the current path prefix. */
struct ctx {
	char *err;
	size_t errlen;
	char path[64];
};

static int fail(struct ctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const char *key, const char *fmt, ...)
{
	if (c->err != NULL && c->errlen > 0) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (c->path[0] != '\0')
			snprintf(c->err, c->errlen, "%s.%s: %s", c->path, key, msg);
		else
			snprintf(c->err, c->errlen, "%s: %s", key, msg);
	}
	return SV_E_PARSE;
}

/* An integer field in [min, max]; absent (or null when !required) leaves *out alone. */
static int get_int(struct ctx *c, json_t *o, const char *key, int required, long long min,
                   long long max, long long *out)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || (json_is_null(v) && !required)) {
		if (required)
			return fail(c, key, "missing");
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(c, key, "expected an integer in %lld..%lld", min, max);
	*out = json_integer_value(v);
	return 0;
}

/* A string field; absent or null leaves *out alone unless required. */
static int get_str(struct ctx *c, json_t *o, const char *key, int required, const char **out)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(c, key, "missing");
		return 0;
	}
	if (!json_is_string(v))
		return fail(c, key, "expected a string");
	*out = json_string_value(v);
	return 0;
}

/* A timestamp "…Z" or null (unknown, *ns = 0). */
static int get_time(struct ctx *c, json_t *o, const char *key, uint64_t *ns)
{
	const char *s = NULL;
	int rc = get_str(c, o, key, 0, &s);
	if (rc != 0)
		return rc;
	*ns = 0;
	if (s != NULL && sv_quality_iso8601_parse(s, ns) != 0)
		return fail(c, key, "expected an ISO-8601 UTC time like 2026-11-26T10:00:05.250Z");
	return 0;
}

static int parse_summary(struct ctx *c, json_t *sum, struct sv_quality_call *call)
{
	const char *const *reasons = end_reasons;
	const char *codec = NULL, *reason = NULL;
	long long status = 0, ignored;
	int rc;
	if (!json_is_object(sum))
		return fail(c, "summary", "expected an object");
	snprintf(c->path, sizeof(c->path), "summary");
	if ((rc = get_str(c, sum, "codec", 0, &codec)) != 0 ||
	    (rc = get_int(c, sum, "sample_count", 0, 0, LLONG_MAX, &ignored)) != 0 ||
	    (rc = get_time(c, sum, "started_at", &call->started_ns)) != 0 ||
	    (rc = get_time(c, sum, "answered_at", &call->answered_ns)) != 0 ||
	    (rc = get_time(c, sum, "ended_at", &call->ended_ns)) != 0 ||
	    (rc = get_int(c, sum, "final_status", 0, 0, 699, &status)) != 0 ||
	    (rc = get_str(c, sum, "end_reason", 0, &reason)) != 0 ||
	    (rc = get_str(c, sum, "from", 0, &call->from)) != 0 ||
	    (rc = get_str(c, sum, "to", 0, &call->to)) != 0)
		return rc;
	json_t *dur = json_object_get(sum, "duration_seconds");
	if (dur != NULL && !json_is_null(dur) && !json_is_number(dur))
		return fail(c, "duration_seconds", "expected a number");
	if (call->codec == NULL || call->codec[0] == '\0')
		call->codec = codec;
	call->final_status = (int)status;
	if (reason != NULL) {
		size_t i;
		for (i = 0; i < 4; i++)
			if (strcmp(reason, reasons[i]) == 0)
				break;
		if (i == 4)
			return fail(c, "end_reason", "expected bye, cancel, failed or timeout");
		call->end_reason = (enum sv_quality_end)i;
	}
	call->answered = infer_answered((int)status, call->answered_ns);
	c->path[0] = '\0';
	return 0;
}

/* Checks one report block and appends its sample. */
static int parse_block(struct ctx *c, json_t *b, uint64_t ts, enum sv_quality_dir dir,
                       unsigned clock_rate, struct sv_quality_sample *out)
{
	long long fl = 0, jit = 0, ignored;
	double rtt = -1;
	int rc;
	if ((rc = get_int(c, b, "ssrc", 0, 0, U32_MAX, &ignored)) != 0 ||
	    (rc = get_int(c, b, "fraction_lost", 1, 0, 255, &fl)) != 0 ||
	    (rc = get_int(c, b, "cumulative_lost", 0, -8388608, 16777215, &ignored)) != 0 ||
	    (rc = get_int(c, b, "highest_seq", 0, 0, U32_MAX, &ignored)) != 0 ||
	    (rc = get_int(c, b, "jitter", 1, 0, U32_MAX, &jit)) != 0 ||
	    (rc = get_int(c, b, "lsr", 0, 0, U32_MAX, &ignored)) != 0 ||
	    (rc = get_int(c, b, "dlsr", 0, 0, U32_MAX, &ignored)) != 0)
		return rc;
	json_t *r = json_object_get(b, "rtt_ms");
	if (r != NULL && !json_is_null(r)) {
		if (!json_is_number(r) || !rtt_known(json_number_value(r)))
			return fail(c, "rtt_ms", "expected null or a number in 0..10000000");
		rtt = json_number_value(r);
	}
	return sv_quality_sample_from_block(ts, dir, (uint8_t)fl, (uint32_t)jit, clock_rate, rtt,
	                                    out);
}

static int parse_report(struct ctx *c, json_t *rep, size_t idx, unsigned clock_rate,
                        struct sv_rtcpjson *doc, uint64_t *ts_out)
{
	const char *dir = NULL, *ignored_s;
	long long ts = 0, ignored;
	json_t *blocks;
	int rc;
	snprintf(c->path, sizeof(c->path), "reports[%zu]", idx);
	if (!json_is_object(rep)) {
		char key[40];
		c->path[0] = '\0';
		snprintf(key, sizeof(key), "reports[%zu]", idx);
		return fail(c, key, "expected an object");
	}
	if ((rc = get_int(c, rep, "ts_ns", 1, 0, LLONG_MAX, &ts)) != 0 ||
	    (rc = get_str(c, rep, "direction", 1, &dir)) != 0 ||
	    (rc = get_str(c, rep, "source", 0, &ignored_s)) != 0 ||
	    (rc = get_str(c, rep, "src", 0, &ignored_s)) != 0 ||
	    (rc = get_str(c, rep, "dst", 0, &ignored_s)) != 0 ||
	    (rc = get_str(c, rep, "packet_type", 0, &ignored_s)) != 0 ||
	    (rc = get_str(c, rep, "raw", 0, &ignored_s)) != 0 ||
	    (rc = get_int(c, rep, "ssrc", 0, 0, U32_MAX, &ignored)) != 0)
		return rc;
	enum sv_quality_dir d = SV_QUALITY_UAC;
	int skip = 0; /* "unknown": blocks are checked but give no sample */
	if (parse_dir(dir, &d) == 0)
		;
	else if (strcmp(dir, "unknown") == 0)
		skip = 1;
	else
		return fail(c, "direction", "expected \"uac\" or \"uas\"");
	*ts_out = (uint64_t)ts;
	blocks = json_object_get(rep, "blocks");
	if (blocks == NULL || json_is_null(blocks))
		return 0;
	if (!json_is_array(blocks))
		return fail(c, "blocks", "expected an array");
	for (size_t j = 0; j < json_array_size(blocks); j++) {
		snprintf(c->path, sizeof(c->path), "reports[%zu].blocks[%zu]", idx, j);
		if (!json_is_object(json_array_get(blocks, j))) {
			snprintf(c->path, sizeof(c->path), "reports[%zu]", idx);
			char key[40];
			snprintf(key, sizeof(key), "blocks[%zu]", j);
			return fail(c, key, "expected an object");
		}
		rc = parse_block(c, json_array_get(blocks, j), (uint64_t)ts, d, clock_rate,
		                 &doc->samples[doc->n_samples]);
		if (rc != 0)
			return rc;
		if (!skip)
			doc->n_samples++;
	}
	return 0;
}

void sv_rtcpjson_release(struct sv_rtcpjson *doc)
{
	if (doc == NULL)
		return;
	free(doc->samples);
	json_decref(doc->root);
	memset(doc, 0, sizeof(*doc));
	sv_quality_call_init(&doc->call);
}

int sv_rtcpjson_load(const void *text, size_t len, struct sv_rtcpjson *doc, char *err,
                     size_t errlen)
{
	struct ctx c = {.err = err, .errlen = errlen};
	json_error_t jerr;
	long long clock_rate = 8000;
	size_t total = 0;
	json_t *reports, *sum;
	uint64_t first = UINT64_MAX, last = 0;
	int rc;

	memset(doc, 0, sizeof(*doc));
	sv_quality_call_init(&doc->call);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	doc->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc->root == NULL) {
		if (err != NULL && errlen > 0) {
			snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
			         jerr.column, jerr.text);
			/* jansson quotes the offending input: keep the message one line */
			for (char *p = err; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = ' ';
		}
		return json_error_code(&jerr) == json_error_out_of_memory ? -ENOMEM : SV_E_PARSE;
	}
	json_t *root = doc->root;
	if (!json_is_object(root)) {
		rc = fail(&c, "document", "expected a JSON object");
		goto out;
	}
	if ((rc = get_str(&c, root, "call_id", 1, &doc->call.call_id)) != 0 ||
	    (rc = get_str(&c, root, "codec", 0, &doc->call.codec)) != 0 ||
	    (rc = get_int(&c, root, "clock_rate", 0, 1, SV_RTCPJSON_CLOCK_MAX, &clock_rate)) != 0 ||
	    (rc = get_str(&c, root, "customer", 0, &doc->call.customer)) != 0)
		goto out;
	doc->call.clock_rate = (unsigned)clock_rate;
	reports = json_object_get(root, "reports");
	if (reports == NULL) {
		rc = fail(&c, "reports", "missing");
		goto out;
	}
	if (!json_is_array(reports)) {
		rc = fail(&c, "reports", "expected an array");
		goto out;
	}
	doc->n_reports = json_array_size(reports);
	for (size_t i = 0; i < doc->n_reports; i++) {
		json_t *b = json_object_get(json_array_get(reports, i), "blocks");
		if (json_is_array(b))
			total += json_array_size(b);
	}
	if (total > 0 && (doc->samples = calloc(total, sizeof(*doc->samples))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < doc->n_reports; i++) {
		uint64_t ts = 0;
		if ((rc = parse_report(&c, json_array_get(reports, i), i, doc->call.clock_rate, doc,
		                       &ts)) != 0)
			goto out;
		if (ts < first)
			first = ts;
		if (ts > last)
			last = ts;
	}
	c.path[0] = '\0';
	sum = json_object_get(root, "summary");
	if (sum != NULL && !json_is_null(sum)) {
		doc->has_summary = 1;
		if ((rc = parse_summary(&c, sum, &doc->call)) != 0)
			goto out;
	} else {
		doc->call.answered = 1;
		doc->call.final_status = 200;
		doc->call.end_reason = SV_QUALITY_END_BYE;
		if (doc->n_reports > 0) {
			doc->call.started_ns = first;
			doc->call.answered_ns = first;
			doc->call.ended_ns = last;
		}
	}
	return 0;
out:
	sv_rtcpjson_release(doc);
	return rc;
}

/* ------------------------------------------------------------ writer */

/*
 * The writer produces text directly (no jansson tree): the same bytes
 * json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) gave for the tree the
 * writer used to build — key order, string escapes, integer and real
 * formatting — so readers and stored files see no difference.
 */

/* A JSON string of s (NULL = ""). -EINVAL for invalid UTF-8, -ENOMEM. */
static int put_str(struct sv_buf *out, const char *s)
{
	if (s == NULL)
		s = "";
	return sv_jsonw_string(out, s, strlen(s));
}

/* A decimal integer. */
static int put_int(struct sv_buf *out, int64_t v)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp), *p = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return sv_buf_append(out, p, (size_t)(e - p)) == 0 ? 0 : -ENOMEM;
}

/* A real as jansson writes it: %.17g, ".0" added when it would read back
 * as an integer, exponent without '+' and leading zeros. */
static int put_real(struct sv_buf *out, double v)
{
	char tmp[40];
	size_t n = sv_jsonw_real(v, 17, tmp, sizeof(tmp));
	if (n == 0)
		return -EINVAL;
	return sv_buf_append(out, tmp, n) == 0 ? 0 : -ENOMEM;
}

static int put_lit(struct sv_buf *out, const char *s)
{
	return sv_buf_append_str(out, s) == 0 ? 0 : -ENOMEM;
}

/* ,"key": (key is a literal of ours: no escaping needed) */
static int put_key(struct sv_buf *out, const char *key, int first)
{
	size_t n = strlen(key);
	if (sv_buf_reserve(out, n + 4) != 0)
		return -ENOMEM;
	uint8_t *o = out->data + out->len;
	if (!first)
		*o++ = ',';
	*o++ = '"';
	memcpy(o, key, n);
	o += n;
	*o++ = '"';
	*o++ = ':';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

static int put_time(struct sv_buf *out, uint64_t ns)
{
	char iso[40];
	if (ns == 0)
		return put_lit(out, "null");
	return put_str(out, sv_quality_iso8601(ns, iso, sizeof(iso)));
}

static int put_block(struct sv_buf *out, const struct sv_rtcpjson_block *b)
{
	int rc;
	if ((rc = put_key(out, "ssrc", 1)) != 0 || (rc = put_int(out, b->ssrc)) != 0 ||
	    (rc = put_key(out, "fraction_lost", 0)) != 0 ||
	    (rc = put_int(out, b->fraction_lost)) != 0 ||
	    (rc = put_key(out, "cumulative_lost", 0)) != 0 ||
	    (rc = put_int(out, b->cumulative_lost)) != 0 ||
	    (rc = put_key(out, "highest_seq", 0)) != 0 ||
	    (rc = put_int(out, b->highest_seq)) != 0 || (rc = put_key(out, "jitter", 0)) != 0 ||
	    (rc = put_int(out, b->jitter)) != 0 || (rc = put_key(out, "lsr", 0)) != 0 ||
	    (rc = put_int(out, b->lsr)) != 0 || (rc = put_key(out, "dlsr", 0)) != 0 ||
	    (rc = put_int(out, b->dlsr)) != 0 || (rc = put_key(out, "rtt_ms", 0)) != 0)
		return rc;
	if (rtt_known(b->rtt_ms))
		return put_real(out, b->rtt_ms);
	return put_lit(out, "null");
}

static int put_report(struct sv_buf *out, const struct sv_rtcpjson_report *r)
{
	int rc;
	if ((rc = put_key(out, "ts_ns", 1)) != 0 ||
	    (rc = put_int(out, (int64_t)norm_report_ts(r->ts_ns))) != 0 ||
	    (r->source != NULL &&
	     ((rc = put_key(out, "source", 0)) != 0 || (rc = put_str(out, r->source)) != 0)) ||
	    (rc = put_key(out, "direction", 0)) != 0 || (rc = put_str(out, r->direction)) != 0 ||
	    (r->src != NULL &&
	     ((rc = put_key(out, "src", 0)) != 0 || (rc = put_str(out, r->src)) != 0)) ||
	    (r->dst != NULL &&
	     ((rc = put_key(out, "dst", 0)) != 0 || (rc = put_str(out, r->dst)) != 0)) ||
	    (rc = put_key(out, "ssrc", 0)) != 0 || (rc = put_int(out, r->ssrc)) != 0 ||
	    (rc = put_key(out, "packet_type", 0)) != 0 ||
	    (rc = put_str(out, r->packet_type)) != 0 || (rc = put_key(out, "blocks", 0)) != 0 ||
	    (rc = put_lit(out, "[")) != 0)
		return rc;
	for (size_t i = 0; i < r->n_blocks; i++)
		if ((i > 0 && (rc = put_lit(out, ",")) != 0) || (rc = put_lit(out, "{")) != 0 ||
		    (rc = put_block(out, &r->blocks[i])) != 0 || (rc = put_lit(out, "}")) != 0)
			return rc;
	if ((rc = put_lit(out, "]")) != 0)
		return rc;
	if (r->raw != NULL) {
		if ((rc = put_key(out, "raw", 0)) != 0 || (rc = put_lit(out, "\"")) != 0 ||
		    (rc = sv_b64_encode(r->raw, r->raw_len, out)) != 0 ||
		    (rc = put_lit(out, "\"")) != 0)
			return rc;
	}
	return 0;
}

static int put_summary(struct sv_buf *out, const struct sv_quality_call *call, size_t samples)
{
	double duration = 0;
	int rc;
	if (call->answered && call->answered_ns != 0 && call->ended_ns >= call->answered_ns)
		duration = round((double)(call->ended_ns - call->answered_ns) / 1e6) / 1e3;
	if ((rc = put_key(out, "codec", 1)) != 0 || (rc = put_str(out, call->codec)) != 0 ||
	    (rc = put_key(out, "sample_count", 0)) != 0 ||
	    (rc = put_int(out, (int64_t)samples)) != 0 ||
	    (rc = put_key(out, "started_at", 0)) != 0 ||
	    (rc = put_time(out, call->started_ns)) != 0 ||
	    (rc = put_key(out, "answered_at", 0)) != 0 ||
	    (rc = put_time(out, call->answered ? call->answered_ns : 0)) != 0 ||
	    (rc = put_key(out, "ended_at", 0)) != 0 || (rc = put_time(out, call->ended_ns)) != 0 ||
	    (rc = put_key(out, "duration_seconds", 0)) != 0 ||
	    (rc = put_real(out, duration)) != 0 || (rc = put_key(out, "final_status", 0)) != 0 ||
	    (rc = put_int(out, norm_status(call->final_status))) != 0 ||
	    (rc = put_key(out, "end_reason", 0)) != 0 ||
	    (rc = put_str(out, end_reasons[(unsigned)call->end_reason & 3])) != 0 ||
	    (rc = put_key(out, "from", 0)) != 0 || (rc = put_str(out, call->from)) != 0 ||
	    (rc = put_key(out, "to", 0)) != 0 || (rc = put_str(out, call->to)) != 0)
		return rc;
	return 0;
}

int sv_rtcpjson_dump(const struct sv_quality_call *call, const struct sv_rtcpjson_report *reports,
                     size_t n, int with_summary, struct sv_buf *out)
{
	size_t samples = 0, before;
	int rc;

	if (call == NULL || out == NULL || (n > 0 && reports == NULL) || call->clock_rate == 0)
		return -EINVAL;
	before = out->len;
	if ((rc = put_lit(out, "{")) != 0 || (rc = put_key(out, "call_id", 1)) != 0 ||
	    (rc = put_str(out, call->call_id)) != 0 || (rc = put_key(out, "codec", 0)) != 0 ||
	    (rc = put_str(out, call->codec)) != 0 || (rc = put_key(out, "clock_rate", 0)) != 0 ||
	    (rc = put_int(out, call->clock_rate)) != 0 ||
	    (call->customer != NULL && ((rc = put_key(out, "customer", 0)) != 0 ||
	                                (rc = put_str(out, call->customer)) != 0)) ||
	    (rc = put_key(out, "reports", 0)) != 0 || (rc = put_lit(out, "[")) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((i > 0 && (rc = put_lit(out, ",")) != 0) || (rc = put_lit(out, "{")) != 0 ||
		    (rc = put_report(out, &reports[i])) != 0 || (rc = put_lit(out, "}")) != 0)
			goto out;
		enum sv_quality_dir dir;
		if (parse_dir(reports[i].direction, &dir) == 0)
			samples += reports[i].n_blocks;
	}
	if ((rc = put_lit(out, "]")) != 0)
		goto out;
	if (with_summary &&
	    ((rc = put_key(out, "summary", 0)) != 0 || (rc = put_lit(out, "{")) != 0 ||
	     (rc = put_summary(out, call, samples)) != 0 || (rc = put_lit(out, "}")) != 0))
		goto out;
	rc = put_lit(out, "}\n");
out:
	if (rc != 0) {
		out->len = before;
		if (out->data != NULL)
			out->data[before] = '\0';
	}
	return rc;
}

/* ------------------------------------------------------------ reader's view */

int sv_rtcpjson_load_reports(const struct sv_quality_call *call,
                             const struct sv_rtcpjson_report *reports, size_t n,
                             struct sv_rtcpjson *doc)
{
	struct sv_quality_call *dc = &doc->call;
	size_t total = 0;
	int rc;

	memset(doc, 0, sizeof(*doc));
	sv_quality_call_init(dc);
	if (call == NULL || (n > 0 && reports == NULL) || call->clock_rate == 0 ||
	    call->clock_rate > SV_RTCPJSON_CLOCK_MAX)
		return -EINVAL;
	*dc = *call;
	dc->codec = call->codec != NULL ? call->codec : "";
	dc->from = call->from != NULL ? call->from : "";
	dc->to = call->to != NULL ? call->to : "";
	dc->final_status = norm_status(call->final_status);
	dc->end_reason = (enum sv_quality_end)((unsigned)call->end_reason & 3);
	dc->started_ns = norm_time(call->started_ns);
	dc->answered_ns = call->answered ? norm_time(call->answered_ns) : 0;
	dc->ended_ns = norm_time(call->ended_ns);
	dc->answered = infer_answered(dc->final_status, dc->answered_ns);
	doc->has_summary = 1;
	doc->n_reports = n;
	for (size_t i = 0; i < n; i++)
		total += reports[i].n_blocks;
	if (total > 0 && (doc->samples = malloc(total * sizeof(*doc->samples))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct sv_rtcpjson_report *r = &reports[i];
		enum sv_quality_dir dir;
		if (parse_dir(r->direction, &dir) != 0)
			continue;
		for (size_t k = 0; k < r->n_blocks; k++) {
			const struct sv_rtcpjson_block *b = &r->blocks[k];
			rc = sv_quality_sample_from_block(
			    norm_report_ts(r->ts_ns), dir, b->fraction_lost, b->jitter,
			    dc->clock_rate, rtt_known(b->rtt_ms) ? b->rtt_ms : -1,
			    &doc->samples[doc->n_samples]);
			if (rc != 0)
				goto fail;
			doc->n_samples++;
		}
	}
	return 0;
fail:
	sv_rtcpjson_release(doc);
	return rc;
}
