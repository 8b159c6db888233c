/*
 * rtcpjson.h - reads an rtcp.json document (contract section 5) into the
 * call summary and samples that quality.h builds a report from.
 *
 * Every report block is one sample of the report's direction. Unknown fields
 * are ignored; a known field of the wrong type or range is an error whose
 * message names it with its path, e.g. "reports[3].blocks[0].jitter:
 * expected an integer in 0..4294967295". The optional extension fields
 * "customer" and "summary" (written by sipvault-server, see docs/formats.md)
 * fill in the call; without "summary" the call counts as answered, started
 * and answered at the first report and ended at the last one.
 */
#ifndef SV_RTCPJSON_H
#define SV_RTCPJSON_H

#include "call/quality.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The largest "clock_rate" the reader accepts (and the smallest is 1). */
#define SV_RTCPJSON_CLOCK_MAX 1000000u

struct sv_rtcpjson {
	struct sv_quality_call call;       /* strings borrowed from root */
	struct sv_quality_sample *samples; /* owned; n_samples entries */
	size_t n_samples;
	size_t n_reports;
	int has_summary; /* the document carried the "summary" extension */
	json_t *root;    /* the parsed document (owned) */
};

/*
 * Parses text[0..len) (plain JSON, not gzip) into doc. On success returns 0
 * and doc holds owned memory: release it with sv_rtcpjson_release(). On error
 * returns SV_E_PARSE (err receives one lower-case line naming the field and
 * report index, or the JSON syntax error with its line and column) or
 * -ENOMEM, and doc is left empty. err may be NULL.
 */
int sv_rtcpjson_load(const void *text, size_t len, struct sv_rtcpjson *doc, char *err,
                     size_t errlen);

/* Frees what sv_rtcpjson_load() allocated; leaves doc empty. Accepts NULL. */
void sv_rtcpjson_release(struct sv_rtcpjson *doc);

/* ---- writer */

/* One report block as written (RFC 3550 fields, raw units). */
struct sv_rtcpjson_block {
	uint32_t ssrc;
	uint8_t fraction_lost;
	int32_t cumulative_lost;
	uint32_t highest_seq;
	uint32_t jitter;
	uint32_t lsr;
	uint32_t dlsr;
	double rtt_ms; /* negative or NaN: null (unknown) */
};

/* One report (one SR, RR or XR packet). Strings are borrowed, NUL-terminated
 * and must be valid UTF-8; a NULL src/dst/raw is left out of the object. */
struct sv_rtcpjson_report {
	uint64_t ts_ns;
	const char *source;      /* "agent", "hep" (NULL: left out) */
	const char *direction;   /* "uac", "uas" or "unknown" (the reader skips unknown) */
	const char *src;         /* "addr:port" or NULL */
	const char *dst;         /* */
	uint32_t ssrc;           /* sender SSRC */
	const char *packet_type; /* "sr", "rr", "xr" */
	const struct sv_rtcpjson_block *blocks;
	size_t n_blocks;
	const uint8_t *raw; /* RTCP bytes (base64 in "raw"), or NULL */
	size_t raw_len;
};

/*
 * Appends an rtcp.json document (contract section 5) to out: call_id, codec,
 * clock_rate and customer from call (customer left out when NULL), the
 * reports in the order given, and, when with_summary is set, the "summary"
 * extension of docs/formats.md made from call (sample_count = blocks of the
 * uac/uas reports; answered_at written only when call->answered). The
 * document is compact JSON followed by a newline; sv_rtcpjson_load() of it
 * gives back the same call and samples. Strings of call (NULL reads as "")
 * must be valid UTF-8 without NUL. Returns 0, -EINVAL (invalid UTF-8,
 * clock_rate 0) or -ENOMEM; out is unchanged on error.
 */
int sv_rtcpjson_dump(const struct sv_quality_call *call, const struct sv_rtcpjson_report *reports,
                     size_t n, int with_summary, struct sv_buf *out);

/*
 * What sv_rtcpjson_load() gives back for the document
 * sv_rtcpjson_dump(call, reports, n, 1, ...) writes, without writing or
 * parsing it: the one normalisation of both (times at millisecond precision,
 * the status clamped to 0..699, "answered" as the reader infers it, report
 * times at 63 bits, an rtt outside 0..10000000 ms unknown, one sample per
 * block of the uac/uas reports in order). call->clock_rate must be in
 * 1..SV_RTCPJSON_CLOCK_MAX (the reader refuses the document otherwise).
 * doc->samples is owned (sv_rtcpjson_release); doc->root is NULL and the
 * call's strings are borrowed from call. Returns 0, -EINVAL or -ENOMEM (doc
 * then empty).
 */
int sv_rtcpjson_load_reports(const struct sv_quality_call *call,
                             const struct sv_rtcpjson_report *reports, size_t n,
                             struct sv_rtcpjson *doc);

#endif
