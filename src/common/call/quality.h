/*
 * quality.h - builds the quality.json report of a call (contract section 6).
 *
 * The input is a call summary and a list of samples, one per RTCP report
 * block (or per RTP statistics report of an agent). Each sample belongs to
 * the direction of the side that SENT the report: a uac sample describes the
 * media the caller received. The builder computes per-sample MOS with the
 * E-model (emodel.h) for the call's codec, per-direction statistics, 5-second
 * timeseries buckets, the verdict, the audio status, the degraded leg and a
 * diagnostic, and returns the report as a jansson object with the keys in the
 * contract's order.
 *
 * Numbers: every MOS, jitter (ms), loss (%) and rtt (ms) in the report is
 * rounded to SV_QUALITY_DECIMALS decimals, and the verdict is computed from
 * those rounded averages, so a reader can reproduce it from the report.
 * Print the object with sv_quality_dump() (or json_dumpf with
 * SV_QUALITY_JSON_FLAGS) so reals come out short.
 */
#ifndef SV_QUALITY_H
#define SV_QUALITY_H

#include "base/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SV_QUALITY_DECIMALS 4
/* Bucket width of the timeseries, seconds (aligned to the Unix epoch). */
#define SV_QUALITY_BUCKET_S   5
#define SV_QUALITY_JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(12))

/* Verdict thresholds (contract section 6). */
#define SV_QUALITY_MOS_BAD       3.10  /* bad when MOS < */
#define SV_QUALITY_MOS_POOR      3.60  /* poor when MOS < */
#define SV_QUALITY_MOS_FAIR      4.03  /* fair when MOS <= */
#define SV_QUALITY_MOS_EXCELLENT 4.34  /* excellent when MOS > */
#define SV_QUALITY_MOS_DEGRADED  3.5   /* degraded leg when MOS avg < */
#define SV_QUALITY_JITTER_BAD    50.0  /* ms, bad when > */
#define SV_QUALITY_JITTER_FAIR   20.0  /* ms, fair when > */
#define SV_QUALITY_LOSS_BAD      5.0   /* %, bad when > */
#define SV_QUALITY_LOSS_FAIR     1.0   /* %, fair when > */
#define SV_QUALITY_LATENCY_BAD   400.0 /* ms one-way (rtt/2), bad when > */
#define SV_QUALITY_LATENCY_FAIR  150.0 /* ms one-way, fair when > */

enum sv_quality_dir {
	SV_QUALITY_UAC = 0, /* report sent by the caller side */
	SV_QUALITY_UAS = 1, /* report sent by the called side */
};

enum sv_quality_source {
	SV_QUALITY_SRC_RTCP = 0, /* samples from RTCP report blocks */
	SV_QUALITY_SRC_RTP = 1,  /* samples from an agent's RTP statistics (DATA_QUALITY) */
};

enum sv_quality_end {
	SV_QUALITY_END_BYE = 0,
	SV_QUALITY_END_CANCEL = 1,
	SV_QUALITY_END_FAILED = 2,
	SV_QUALITY_END_TIMEOUT = 3,
};

enum sv_quality_verdict {
	SV_QUALITY_EXCELLENT = 0,
	SV_QUALITY_GOOD = 1,
	SV_QUALITY_FAIR = 2,
	SV_QUALITY_POOR = 3,
	SV_QUALITY_BAD = 4,
	SV_QUALITY_UNKNOWN = 5,
};

struct sv_quality_sample {
	uint64_t ts_ns; /* when the report was seen, ns since the Unix epoch */
	enum sv_quality_dir dir;
	double jitter_ms; /* interarrival jitter, ms (>= 0) */
	double loss_pct;  /* fraction lost, percent (0..100) */
	double rtt_ms;    /* round-trip time, ms; 0 when unknown */
};

/* The call as the server knows it. Strings are borrowed (NULL reads as ""). */
struct sv_quality_call {
	const char *call_id;
	const char *customer;
	const char *codec;    /* SDP encoding name, e.g. "PCMU"; selects Ie/Bpl */
	unsigned clock_rate;  /* RTP clock rate in Hz (for RTCP jitter) */
	int answered;         /* a 2xx to the INVITE was seen */
	uint64_t started_ns;  /* INVITE time; 0 = unknown (null in the report) */
	uint64_t answered_ns; /* 2xx time; 0 = unknown */
	uint64_t ended_ns;    /* BYE/CANCEL/final failure/timeout time; 0 = unknown */
	int final_status;     /* final SIP status of the INVITE, 0 when none */
	enum sv_quality_end end_reason;
	const char *from;
	const char *to;
};

/* Fills a struct sv_quality_call with "unknown" everywhere (answered = 0). */
void sv_quality_call_init(struct sv_quality_call *call);

/*
 * Converts one RTCP report block into a sample: jitter (RTP timestamp units)
 * / clock_rate * 1000 ms, fraction_lost / 256 * 100 %, rtt_ms (negative or
 * NaN = unknown, stored as 0). Returns 0, or -EINVAL when clock_rate is 0.
 */
int sv_quality_sample_from_block(uint64_t ts_ns, enum sv_quality_dir dir, uint8_t fraction_lost,
                                 uint32_t jitter, unsigned clock_rate, double rtt_ms,
                                 struct sv_quality_sample *out);

/*
 * Builds the quality report. source says where the samples came from; the
 * report's "source" is "none" whenever n is 0. samples may be NULL when n is
 * 0; they need not be sorted. On success *out is a new object the caller
 * releases with json_decref(). Returns 0, -EINVAL (NULL call/out, samples
 * NULL with n > 0, a sample with a negative or non-finite value, loss above
 * 100 % or an unknown direction) or -ENOMEM; *out is NULL on error.
 */
int sv_quality_build(const struct sv_quality_call *call, const struct sv_quality_sample *samples,
                     size_t n, enum sv_quality_source source, json_t **out);

/* Appends the report as indented JSON plus a newline to out: the bytes
 * json_dumps(report, SV_QUALITY_JSON_FLAGS) gives (written without
 * jansson's dumper, for speed). 0, -EINVAL (NULL argument, or a report that is
 * not an object or array) or -ENOMEM; out
 * is unchanged on error. */
int sv_quality_dump(const json_t *report, struct sv_buf *out);

/*
 * The verdict of an answered call with audio in both directions (contract
 * section 6), from the worst direction MOS average and the highest direction
 * averages of jitter (ms), loss (%) and latency (one-way ms = rtt / 2):
 * bad if mos < 3.10 or jitter > 50 or loss > 5 or latency > 400; else poor if
 * mos < 3.60; else fair if mos <= 4.03 or jitter > 20 or loss > 1 or
 * latency > 150; else excellent if mos > 4.34; else good.
 */
enum sv_quality_verdict sv_quality_classify(double worst_mos, double jitter_ms, double loss_pct,
                                            double latency_ms);

/* Names used in the JSON: "excellent" ... "unknown", "uac"/"uas", "bye"/"cancel"/... */
const char *sv_quality_verdict_name(enum sv_quality_verdict v);
const char *sv_quality_dir_name(enum sv_quality_dir dir);
const char *sv_quality_end_name(enum sv_quality_end reason);

/*
 * Formats ns since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into
 * buf (at least 32 bytes). Returns buf.
 */
char *sv_quality_iso8601(uint64_t ns, char *buf, size_t len);

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (UTC only, up to 9 fraction
 * digits, 1970 up to 2554-07-21, the end of u64 nanoseconds) into ns since
 * the epoch. 0 or SV_E_PARSE.
 */
int sv_quality_iso8601_parse(const char *s, uint64_t *ns);

#endif
