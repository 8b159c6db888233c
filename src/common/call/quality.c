/*
 * quality.c - per-call quality report (quality.json) from samples.
 */
#include "call/quality.h"

#include "call/emodel.h"
#include "base/jsonw.h"
#include "base/errors.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1000000000ULL

/* The four statistics of one direction, over its samples. */
enum metric { M_MOS, M_JITTER, M_LOSS, M_RTT, M_COUNT };

static const char *const metric_names[M_COUNT] = {"mos", "jitter", "loss", "rtt"};

struct stats {
	double avg, min, max, p5, p95;
};

struct dirstats {
	size_t n;
	struct stats m[M_COUNT]; /* rounded as reported */
};

static double round_dec(double x, int decimals)
{
	double f = pow(10.0, decimals);
	double r = round(x * f) / f;
	return r == 0.0 ? 0.0 : r; /* no -0 */
}

static double rnd(double x)
{
	return round_dec(x, SV_QUALITY_DECIMALS);
}

void sv_quality_call_init(struct sv_quality_call *call)
{
	memset(call, 0, sizeof(*call));
	call->clock_rate = 8000;
	call->end_reason = SV_QUALITY_END_BYE;
}

enum sv_quality_verdict sv_quality_classify(double worst_mos, double jitter_ms, double loss_pct,
                                            double latency_ms)
{
	if (worst_mos < SV_QUALITY_MOS_BAD || jitter_ms > SV_QUALITY_JITTER_BAD ||
	    loss_pct > SV_QUALITY_LOSS_BAD || latency_ms > SV_QUALITY_LATENCY_BAD)
		return SV_QUALITY_BAD;
	if (worst_mos < SV_QUALITY_MOS_POOR)
		return SV_QUALITY_POOR;
	if (worst_mos <= SV_QUALITY_MOS_FAIR || jitter_ms > SV_QUALITY_JITTER_FAIR ||
	    loss_pct > SV_QUALITY_LOSS_FAIR || latency_ms > SV_QUALITY_LATENCY_FAIR)
		return SV_QUALITY_FAIR;
	if (worst_mos > SV_QUALITY_MOS_EXCELLENT)
		return SV_QUALITY_EXCELLENT;
	return SV_QUALITY_GOOD;
}

const char *sv_quality_verdict_name(enum sv_quality_verdict v)
{
	static const char *const names[] = {"excellent", "good", "fair", "poor", "bad", "unknown"};
	return (unsigned)v < 6 ? names[v] : "unknown";
}

const char *sv_quality_dir_name(enum sv_quality_dir dir)
{
	return dir == SV_QUALITY_UAS ? "uas" : "uac";
}

const char *sv_quality_end_name(enum sv_quality_end reason)
{
	switch (reason) {
	case SV_QUALITY_END_CANCEL:
		return "cancel";
	case SV_QUALITY_END_FAILED:
		return "failed";
	case SV_QUALITY_END_TIMEOUT:
		return "timeout";
	case SV_QUALITY_END_BYE:
	default:
		return "bye";
	}
}

int sv_quality_sample_from_block(uint64_t ts_ns, enum sv_quality_dir dir, uint8_t fraction_lost,
                                 uint32_t jitter, unsigned clock_rate, double rtt_ms,
                                 struct sv_quality_sample *out)
{
	if (clock_rate == 0)
		return -EINVAL;
	out->ts_ns = ts_ns;
	out->dir = dir;
	out->jitter_ms = (double)jitter / (double)clock_rate * 1000.0;
	out->loss_pct = (double)fraction_lost / 256.0 * 100.0;
	out->rtt_ms = isfinite(rtt_ms) && rtt_ms > 0 ? rtt_ms : 0.0;
	return 0;
}

char *sv_quality_iso8601(uint64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / NS_PER_S);
	unsigned ms = (unsigned)(ns % NS_PER_S / 1000000U);
	struct tm tm;
	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, len, "1970-01-01T00:00:00.000Z");
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	return buf;
}

/* Reads exactly n decimal digits. */
static int digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*v = *v * 10 + (**p - '0');
		(*p)++;
	}
	return 0;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 1970). */
static int64_t days_from_epoch(int y, int m, int d)
{
	static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	int64_t days = 0;
	for (int yy = 1970; yy < y; yy++)
		days += is_leap(yy) ? 366 : 365;
	days += cum[m - 1] + (m > 2 && is_leap(y)) + d - 1;
	return days;
}

int sv_quality_iso8601_parse(const char *s, uint64_t *ns)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s;
	int y, mo, d, h, mi, sec;
	uint64_t frac = 0;
	if (s == NULL || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d) || *p++ != 'T' || digits(&p, 2, &h) || *p++ != ':' ||
	    digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &sec))
		return SV_E_PARSE;
	if (*p == '.') {
		int nd = 0;
		p++;
		uint64_t scale = 100000000ULL;
		while (isdigit((unsigned char)*p)) {
			if (++nd > 9)
				return SV_E_PARSE;
			frac += (uint64_t)(*p - '0') * scale;
			scale /= 10;
			p++;
		}
		if (nd == 0)
			return SV_E_PARSE;
	}
	if (*p++ != 'Z' || *p != '\0')
		return SV_E_PARSE;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
		return SV_E_PARSE;
	if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
		return SV_E_PARSE;
	int64_t t = days_from_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	if ((uint64_t)t > (UINT64_MAX - frac) / NS_PER_S)
		return SV_E_PARSE; /* beyond 2554: does not fit in u64 nanoseconds */
	*ns = (uint64_t)t * NS_PER_S + frac;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Linear interpolation between order statistics, rank = p/100 * (n - 1). */
static double percentile(const double *sorted, size_t n, double p)
{
	double rank = p / 100.0 * (double)(n - 1);
	size_t lo = (size_t)floor(rank);
	size_t hi = lo + 1 < n ? lo + 1 : lo;
	return sorted[lo] + (rank - (double)lo) * (sorted[hi] - sorted[lo]);
}

/* Sorts v in place and fills s (rounded). n > 0. */
static void compute_stats(double *v, size_t n, struct stats *s)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof(*v), cmp_double);
	s->avg = rnd(sum / (double)n);
	s->min = rnd(v[0]);
	s->max = rnd(v[n - 1]);
	s->p5 = rnd(percentile(v, n, 5));
	s->p95 = rnd(percentile(v, n, 95));
}

static double sample_metric(const struct sv_quality_sample *s, const struct sv_emodel_codec *c,
                            enum metric m)
{
	switch (m) {
	case M_MOS:
		return sv_emodel_mos(c, s->rtt_ms, s->loss_pct);
	case M_JITTER:
		return s->jitter_ms;
	case M_LOSS:
		return s->loss_pct;
	case M_RTT:
	default:
		return s->rtt_ms;
	}
}

static int dir_stats(const struct sv_quality_sample *samples, size_t n,
                     const struct sv_emodel_codec *codec, enum sv_quality_dir dir,
                     struct dirstats *ds)
{
	memset(ds, 0, sizeof(*ds));
	for (size_t i = 0; i < n; i++)
		if (samples[i].dir == dir)
			ds->n++;
	if (ds->n == 0)
		return 0;
	double *v = malloc(ds->n * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (int m = 0; m < M_COUNT; m++) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (samples[i].dir == dir)
				v[k++] = sample_metric(&samples[i], codec, (enum metric)m);
		compute_stats(v, ds->n, &ds->m[m]);
	}
	free(v);
	return 0;
}

/* ------------------------------------------------------------ verdict */

struct assessment {
	const char *verdict;
	const char *audio_status;
	const char *degraded_leg;
	struct sv_buf cause;
	struct sv_buf advice;
};

static const char *side_name(int dir)
{
	return dir == SV_QUALITY_UAS ? "callee (uas)" : "caller (uac)";
}

/* Adds "; " between phrases. */
static int add_phrase(struct sv_buf *b, const char *text)
{
	int rc;
	if (b->len > 0 && (rc = sv_buf_append_str(b, "; ")) != 0)
		return rc;
	return sv_buf_append_str(b, text);
}

/* Adds a recommendation unless the same text is already there. */
static int add_advice(struct sv_buf *b, const char *text)
{
	if (b->len > 0 && memmem(b->data, b->len, text, strlen(text)) != NULL)
		return 0;
	if (b->len > 0) {
		int rc = sv_buf_append_str(b, " ");
		if (rc != 0)
			return rc;
	}
	return sv_buf_append_str(b, text);
}

enum cause_kind { C_LOSS, C_JITTER, C_LATENCY, C_CODEC };

static const char *advice_text(enum cause_kind k)
{
	switch (k) {
	case C_LOSS:
		return "Check the media path for congestion, link errors, Wi-Fi or an overloaded "
		       "media relay, and give RTP priority (DSCP EF) on access links.";
	case C_JITTER:
		return "Enable QoS (DSCP EF) for RTP and look for congested or bufferbloated links "
		       "on the media path; an adaptive jitter buffer hides jitter at the cost of "
		       "delay.";
	case C_LATENCY:
		return "Check the media route: distant or hairpinned media relays, VPN or "
		       "satellite hops; anchor media close to the endpoints.";
	case C_CODEC:
	default:
		return "The codec limits quality; prefer G.711 or a wideband codec where bandwidth "
		       "allows.";
	}
}

/* Adds a cause phrase and the advice for its kind: 0 or -ENOMEM. */
static int add_cause(struct assessment *a, const char *text, enum cause_kind k)
{
	int rc = add_phrase(&a->cause, text);
	return rc != 0 ? rc : add_advice(&a->advice, advice_text(k));
}

/* The largest E-model impairment of one direction, from its averages. */
static enum cause_kind dominant(const struct dirstats *ds, const struct sv_emodel_codec *c)
{
	double id = sv_emodel_id(ds->m[M_RTT].avg / 2.0);
	double loss = sv_emodel_ie_eff(c->ie, c->bpl, ds->m[M_LOSS].avg) - c->ie;
	if (loss >= id && loss >= c->ie && loss > 0)
		return C_LOSS;
	if (id >= c->ie && id > 0)
		return C_LATENCY;
	return C_CODEC;
}

static const char *kind_name(enum cause_kind k)
{
	switch (k) {
	case C_LOSS:
		return "packet loss";
	case C_JITTER:
		return "jitter";
	case C_LATENCY:
		return "delay";
	case C_CODEC:
	default:
		return "codec impairment";
	}
}

/* Index of the direction with the lowest (want_max = 0) or highest metric average. */
static int pick_dir(const struct dirstats ds[2], enum metric m, int want_max)
{
	if (ds[0].n == 0)
		return 1;
	if (ds[1].n == 0)
		return 0;
	double a = ds[0].m[m].avg, b = ds[1].m[m].avg;
	if (want_max)
		return b > a ? 1 : 0;
	return b < a ? 1 : 0;
}

/*
 * Verdict of an answered call with both directions, and its diagnostic: the
 * metrics past the thresholds of the verdict's level, each with its leg.
 */
static int assess_normal(const struct dirstats ds[2], const struct sv_emodel_codec *codec,
                         struct assessment *a)
{
	int dmos = pick_dir(ds, M_MOS, 0), djit = pick_dir(ds, M_JITTER, 1);
	int dloss = pick_dir(ds, M_LOSS, 1), drtt = pick_dir(ds, M_RTT, 1);
	double mos = ds[dmos].m[M_MOS].avg, jitter = ds[djit].m[M_JITTER].avg;
	double loss = ds[dloss].m[M_LOSS].avg, latency = ds[drtt].m[M_RTT].avg / 2.0;
	int mos_hit, jit_hit, loss_hit, lat_hit;
	const char *adj;
	char text[512];
	int rc;

	enum sv_quality_verdict v = sv_quality_classify(mos, jitter, loss, latency);
	a->verdict = sv_quality_verdict_name(v);
	switch (v) {
	case SV_QUALITY_BAD:
		adj = "high";
		mos_hit = mos < SV_QUALITY_MOS_BAD;
		jit_hit = jitter > SV_QUALITY_JITTER_BAD;
		loss_hit = loss > SV_QUALITY_LOSS_BAD;
		lat_hit = latency > SV_QUALITY_LATENCY_BAD;
		break;
	case SV_QUALITY_POOR:
	case SV_QUALITY_FAIR:
		adj = v == SV_QUALITY_POOR ? "elevated" : "moderate";
		mos_hit = mos <= SV_QUALITY_MOS_FAIR;
		jit_hit = jitter > SV_QUALITY_JITTER_FAIR;
		loss_hit = loss > SV_QUALITY_LOSS_FAIR;
		lat_hit = latency > SV_QUALITY_LATENCY_FAIR;
		break;
	default:
		return 0; /* excellent or good: nothing to diagnose */
	}

	if (loss_hit) {
		snprintf(text, sizeof(text),
		         "%s packet loss (avg %.2f%%) on the media received by the %s", adj, loss,
		         side_name(dloss));
		if ((rc = add_cause(a, text, C_LOSS)) != 0)
			return rc;
	}
	if (jit_hit) {
		snprintf(text, sizeof(text),
		         "%s jitter (avg %.1f ms) on the media received by the %s", adj, jitter,
		         side_name(djit));
		if ((rc = add_cause(a, text, C_JITTER)) != 0)
			return rc;
	}
	if (lat_hit) {
		snprintf(text, sizeof(text),
		         "%s latency (one-way %.0f ms, avg RTT %.0f ms) reported by the %s", adj,
		         latency, latency * 2.0, side_name(drtt));
		if ((rc = add_cause(a, text, C_LATENCY)) != 0)
			return rc;
	}
	if (mos_hit) {
		enum cause_kind k = dominant(&ds[dmos], codec);
		snprintf(text, sizeof(text),
		         "low MOS (avg %.2f) on the media received by the %s, "
		         "mainly from %s",
		         mos, side_name(dmos), kind_name(k));
		if (k == C_CODEC) {
			size_t l = strlen(text);
			snprintf(text + l, sizeof(text) - l, " (%s, Ie %.0f)", codec->name,
			         codec->ie);
		}
		if ((rc = add_cause(a, text, k)) != 0)
			return rc;
	}
	return 0;
}

static int assess(const struct sv_quality_call *call, const struct dirstats ds[2],
                  const struct sv_emodel_codec *codec, struct assessment *a)
{
	char text[512];
	int rc;
	int deg_uac = ds[0].n > 0 && ds[0].m[M_MOS].avg < SV_QUALITY_MOS_DEGRADED;
	int deg_uas = ds[1].n > 0 && ds[1].m[M_MOS].avg < SV_QUALITY_MOS_DEGRADED;
	a->degraded_leg = deg_uac && deg_uas ? "both" : deg_uac ? "uac" : deg_uas ? "uas" : "";

	if (!call->answered) {
		a->verdict = "unknown";
		a->audio_status = "not_answered";
		if (call->final_status > 0)
			snprintf(text, sizeof(text),
			         "the call was not answered (final status %d, end reason %s)",
			         call->final_status, sv_quality_end_name(call->end_reason));
		else
			snprintf(text, sizeof(text),
			         "the call was not answered (no final response, end reason %s)",
			         sv_quality_end_name(call->end_reason));
		if ((rc = sv_buf_append_str(&a->cause, text)) != 0)
			return rc;
		return sv_buf_append_str(&a->advice, "No media quality to assess; the SIP messages "
		                                     "show why the call was not answered.");
	}
	if (ds[0].n > 0 && ds[1].n > 0) {
		a->audio_status = "normal";
		return assess_normal(ds, codec, a);
	}
	a->verdict = "bad";
	if (ds[0].n == 0 && ds[1].n == 0) {
		a->audio_status = "noa";
		if ((rc = sv_buf_append_str(
		         &a->cause, "no audio measured: neither side sent RTCP reports that "
		                    "reached the server; media may not flow at all (NAT, "
		                    "firewall, unreachable SDP address) or the endpoints "
		                    "do not send RTCP")) != 0)
			return rc;
		return sv_buf_append_str(&a->advice,
		                         "Check that RTP flows both ways: SDP connection addresses "
		                         "and ports, NAT and firewall rules. If audio was fine, "
		                         "enable RTCP on the endpoints or capture it via HEP.");
	}
	a->audio_status = "owa";
	int present = ds[0].n > 0 ? 0 : 1, missing = 1 - present;
	snprintf(text, sizeof(text),
	         "one-way audio: reports came only from the %s; nothing arrived from the %s, "
	         "whose media does not reach the far side or the capture point (typically NAT, "
	         "a firewall or a private/wrong address in its SDP)",
	         side_name(present), side_name(missing));
	if ((rc = sv_buf_append_str(&a->cause, text)) != 0)
		return rc;
	snprintf(text, sizeof(text),
	         "Check NAT traversal and firewall rules for the %s and that the connection "
	         "address and port in its SDP are reachable (e.g. fix_nated_sdp or a media relay "
	         "such as rtpengine).",
	         side_name(missing));
	return sv_buf_append_str(&a->advice, text);
}

/* ------------------------------------------------------------ JSON */

/* A JSON string of s; invalid UTF-8 (possible from the C API) becomes '?'. */
static json_t *str_json(const char *s)
{
	if (s == NULL)
		s = "";
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	/* NULL for invalid UTF-8, or when out of memory: then no '?' either */
	struct sv_buf chk;
	sv_buf_init(&chk);
	int bad = sv_jsonw_string(&chk, s, strlen(s)) == -EINVAL;
	sv_buf_release(&chk);
	if (!bad)
		return NULL;
	char *copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *time_or_null(uint64_t ns)
{
	char iso[40];
	if (ns == 0)
		return json_null();
	return json_string(sv_quality_iso8601(ns, iso, sizeof(iso)));
}

static json_t *stats_json(const struct stats *s)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "avg", json_real(s->avg)) != 0 ||
	    json_object_set_new(o, "min", json_real(s->min)) != 0 ||
	    json_object_set_new(o, "max", json_real(s->max)) != 0 ||
	    json_object_set_new(o, "p5", json_real(s->p5)) != 0 ||
	    json_object_set_new(o, "p95", json_real(s->p95)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *dir_json(const struct dirstats *ds)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "sample_count", json_integer((json_int_t)ds->n)) != 0)
		goto fail;
	for (int m = 0; m < M_COUNT; m++)
		if (json_object_set_new(o, metric_names[m], stats_json(&ds->m[m])) != 0)
			goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *summary_json(const struct sv_quality_call *call, size_t n)
{
	double duration = 0;
	if (call->answered && call->answered_ns != 0 && call->ended_ns >= call->answered_ns)
		duration = round_dec((double)(call->ended_ns - call->answered_ns) / 1e9, 3);
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "codec", str_json(call->codec)) != 0 ||
	    json_object_set_new(o, "sample_count", json_integer((json_int_t)n)) != 0 ||
	    json_object_set_new(o, "started_at", time_or_null(call->started_ns)) != 0 ||
	    json_object_set_new(o, "answered_at",
	                        time_or_null(call->answered ? call->answered_ns : 0)) != 0 ||
	    json_object_set_new(o, "ended_at", time_or_null(call->ended_ns)) != 0 ||
	    json_object_set_new(o, "duration_seconds", json_real(duration)) != 0 ||
	    json_object_set_new(o, "final_status", json_integer(call->final_status)) != 0 ||
	    json_object_set_new(o, "end_reason",
	                        json_string(sv_quality_end_name(call->end_reason))) != 0 ||
	    json_object_set_new(o, "from", str_json(call->from)) != 0 ||
	    json_object_set_new(o, "to", str_json(call->to)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int cmp_ts(const void *a, const void *b)
{
	const struct sv_quality_sample *x = a, *y = b;
	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return (int)x->dir - (int)y->dir;
}

/* One bucket's averages for one direction, or NULL when it has no samples. */
static json_t *bucket_dir_json(const struct sv_quality_sample *s, size_t n,
                               const struct sv_emodel_codec *codec, enum sv_quality_dir dir,
                               int *nomem)
{
	double sum[3] = {0, 0, 0};
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].dir != dir)
			continue;
		sum[0] += sv_emodel_mos(codec, s[i].rtt_ms, s[i].loss_pct);
		sum[1] += s[i].jitter_ms;
		sum[2] += s[i].loss_pct;
		k++;
	}
	if (k == 0)
		return NULL;
	json_t *o = json_object();
	if (o == NULL || json_object_set_new(o, "mos", json_real(rnd(sum[0] / (double)k))) != 0 ||
	    json_object_set_new(o, "jitter", json_real(rnd(sum[1] / (double)k))) != 0 ||
	    json_object_set_new(o, "loss", json_real(rnd(sum[2] / (double)k))) != 0) {
		json_decref(o);
		*nomem = 1;
		return NULL;
	}
	return o;
}

static json_t *timeseries_json(const struct sv_quality_sample *samples, size_t n,
                               const struct sv_emodel_codec *codec)
{
	const uint64_t width = SV_QUALITY_BUCKET_S * NS_PER_S;
	json_t *arr = json_array();
	struct sv_quality_sample *s = NULL;
	if (arr == NULL)
		return NULL;
	if (n == 0)
		return arr;
	if ((s = malloc(n * sizeof(*s))) == NULL)
		goto fail;
	memcpy(s, samples, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_ts);
	for (size_t i = 0; i < n;) {
		uint64_t bucket = s[i].ts_ns / width;
		size_t j = i;
		while (j < n && s[j].ts_ns / width == bucket)
			j++;
		json_t *b = json_object();
		if (b == NULL || json_array_append_new(arr, b) != 0 ||
		    json_object_set_new(b, "t", json_integer((json_int_t)(bucket * 5))) != 0)
			goto fail;
		for (int d = 0; d < 2; d++) {
			int nomem = 0;
			json_t *o =
			    bucket_dir_json(s + i, j - i, codec, (enum sv_quality_dir)d, &nomem);
			if (nomem)
				goto fail;
			if (o != NULL && json_object_set_new(b, sv_quality_dir_name(d), o) != 0)
				goto fail;
		}
		i = j;
	}
	free(s);
	return arr;
fail:
	free(s);
	json_decref(arr);
	return NULL;
}

int sv_quality_build(const struct sv_quality_call *call, const struct sv_quality_sample *samples,
                     size_t n, enum sv_quality_source source, json_t **out)
{
	struct assessment a = {0};
	struct dirstats ds[2];
	json_t *r = NULL, *dirs;
	int rc = -ENOMEM;

	if (out != NULL)
		*out = NULL;
	if (call == NULL || out == NULL || (n > 0 && samples == NULL))
		return -EINVAL;
	if (n > SIZE_MAX / sizeof(struct sv_quality_sample))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct sv_quality_sample *s = &samples[i];
		if ((s->dir != SV_QUALITY_UAC && s->dir != SV_QUALITY_UAS) ||
		    !isfinite(s->jitter_ms) || !isfinite(s->loss_pct) || !isfinite(s->rtt_ms) ||
		    s->jitter_ms < 0 || s->loss_pct < 0 || s->loss_pct > 100 || s->rtt_ms < 0)
			return -EINVAL;
	}
	const struct sv_emodel_codec *codec = sv_emodel_codec_lookup(call->codec, NULL);
	sv_buf_init(&a.cause);
	sv_buf_init(&a.advice);
	for (int d = 0; d < 2; d++)
		if ((rc = dir_stats(samples, n, codec, (enum sv_quality_dir)d, &ds[d])) != 0)
			goto out;
	if ((rc = assess(call, ds, codec, &a)) != 0)
		goto out;
	rc = -ENOMEM;
	if ((r = json_object()) == NULL)
		goto out;
	if (json_object_set_new(r, "call_id", str_json(call->call_id)) ||
	    json_object_set_new(r, "customer", str_json(call->customer)) ||
	    json_object_set_new(r, "verdict", json_string(a.verdict)) ||
	    json_object_set_new(r, "audio_status", json_string(a.audio_status)) ||
	    json_object_set_new(r, "degraded_leg", json_string(a.degraded_leg)) ||
	    json_object_set_new(r, "source",
	                        json_string(n == 0                         ? "none"
	                                    : source == SV_QUALITY_SRC_RTP ? "rtp"
	                                                                   : "rtcp")) ||
	    json_object_set_new(r, "summary", summary_json(call, n)))
		goto out;
	if ((dirs = json_object()) == NULL || json_object_set_new(r, "directions", dirs) != 0)
		goto out;
	for (int d = 0; d < 2; d++)
		if (ds[d].n > 0 &&
		    json_object_set_new(dirs, sv_quality_dir_name(d), dir_json(&ds[d])) != 0)
			goto out;
	if (json_object_set_new(r, "timeseries", timeseries_json(samples, n, codec)) != 0)
		goto out;
	json_t *diag = json_object();
	if (json_object_set_new(r, "diagnostic", diag) != 0 ||
	    json_object_set_new(
	        diag, "probable_cause",
	        json_stringn(a.cause.len ? (char *)a.cause.data : "", a.cause.len)) != 0 ||
	    json_object_set_new(
	        diag, "recommendation",
	        json_stringn(a.advice.len ? (char *)a.advice.data : "", a.advice.len)) != 0)
		goto out;
	*out = r;
	r = NULL; /* transferred */
	rc = 0;
out:
	json_decref(r);
	sv_buf_release(&a.cause);
	sv_buf_release(&a.advice);
	return rc;
}

/*
 * The dump walks the tree itself and writes what json_dump_callback() with
 * SV_QUALITY_JSON_FLAGS writes (two-space indent, ": " between key and
 * value, keys in the object's order, jansson's string escapes, reals as
 * %.12g with ".0" added to integral values) without jansson's per-value
 * callback and printf costs: reals with at most SV_QUALITY_DECIMALS
 * decimals, which is what the report holds, are formatted without printf.
 * test_quality.c compares the bytes with jansson's own dump.
 */
static int dump_indent(struct sv_buf *out, size_t depth)
{
	if (sv_buf_reserve(out, 1 + depth * 2) != 0)
		return -ENOMEM;
	uint8_t *o = out->data + out->len;
	*o++ = '\n';
	memset(o, ' ', depth * 2);
	out->len += 1 + depth * 2;
	out->data[out->len] = '\0';
	return 0;
}

/* v as %.12g would print it, when v has at most 4 decimals and |v| < 1e7
 * (then it has at most 11 significant digits and %.12g prints them exactly,
 * in fixed notation, trailing zeros removed). 0 when v is not such a value. */
static size_t short_real(double v, char *buf)
{
	if (!(fabs(v) < 1e7) || (v == 0 && signbit(v)))
		return 0;
	double scaled = v * 10000.0;
	long long m = llround(scaled);
	if ((double)m / 10000.0 != v)
		return 0;
	char tmp[32], *e = tmp + sizeof(tmp), *p = e;
	unsigned long long u = m < 0 ? (unsigned long long)-m : (unsigned long long)m;
	unsigned frac = (unsigned)(u % 10000u);
	unsigned long long whole = u / 10000u;
	int digits = 4;
	while (digits > 0 && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	if (digits > 0) {
		for (int i = 0; i < digits; i++) {
			*--p = (char)('0' + frac % 10);
			frac /= 10;
		}
	} else {
		*--p = '0'; /* jansson's ".0" for an integral value */
	}
	*--p = '.';
	do {
		*--p = (char)('0' + whole % 10);
		whole /= 10;
	} while (whole != 0);
	if (m < 0)
		*--p = '-';
	memcpy(buf, p, (size_t)(e - p));
	return (size_t)(e - p);
}

static int dump_value(const json_t *j, size_t depth, struct sv_buf *out)
{
	char num[48];
	size_t n;
	int rc = 0;
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *v;
		void *it = json_object_iter((json_t *)(uintptr_t)j);
		if (sv_buf_put_u8(out, '{') != 0)
			return -ENOMEM;
		if (it == NULL)
			return sv_buf_put_u8(out, '}') == 0 ? 0 : -ENOMEM;
		for (; it != NULL; it = json_object_iter_next((json_t *)(uintptr_t)j, it)) {
			key = json_object_iter_key(it);
			v = json_object_iter_value(it);
			if ((rc = dump_indent(out, depth + 1)) != 0 ||
			    (rc = sv_jsonw_string(out, key, strlen(key))) != 0 ||
			    (rc = sv_buf_append(out, ": ", 2)) != 0 ||
			    (rc = dump_value(v, depth + 1, out)) != 0)
				return rc == -EINVAL ? rc : -ENOMEM;
			if (json_object_iter_next((json_t *)(uintptr_t)j, it) != NULL &&
			    sv_buf_put_u8(out, ',') != 0)
				return -ENOMEM;
		}
		if (dump_indent(out, depth) != 0 || sv_buf_put_u8(out, '}') != 0)
			return -ENOMEM;
		return 0;
	}
	case JSON_ARRAY: {
		size_t len = json_array_size(j);
		if (sv_buf_put_u8(out, '[') != 0)
			return -ENOMEM;
		for (size_t i = 0; i < len; i++) {
			if ((i > 0 && sv_buf_put_u8(out, ',') != 0) ||
			    (rc = dump_indent(out, depth + 1)) != 0 ||
			    (rc = dump_value(json_array_get(j, i), depth + 1, out)) != 0)
				return rc == -EINVAL ? rc : -ENOMEM;
		}
		if ((len > 0 && dump_indent(out, depth) != 0) || sv_buf_put_u8(out, ']') != 0)
			return -ENOMEM;
		return 0;
	}
	case JSON_STRING:
		return sv_jsonw_string(out, json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		n = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		                     json_integer_value(j));
		return sv_buf_append(out, num, n) == 0 ? 0 : -ENOMEM;
	case JSON_REAL: {
		double v = json_real_value(j);
		if ((n = short_real(v, num)) == 0 &&
		    (n = sv_jsonw_real(v, 12, num, sizeof(num))) == 0)
			return -EINVAL;
		return sv_buf_append(out, num, n) == 0 ? 0 : -ENOMEM;
	}
	case JSON_TRUE:
		return sv_buf_append_str(out, "true") == 0 ? 0 : -ENOMEM;
	case JSON_FALSE:
		return sv_buf_append_str(out, "false") == 0 ? 0 : -ENOMEM;
	case JSON_NULL:
		return sv_buf_append_str(out, "null") == 0 ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

int sv_quality_dump(const json_t *report, struct sv_buf *out)
{
	if (report == NULL || out == NULL || (!json_is_object(report) && !json_is_array(report)))
		return -EINVAL; /* jansson dumps only objects and arrays too */
	size_t before = out->len;
	int rc = dump_value(report, 0, out);
	if (rc == 0)
		rc = sv_buf_append_str(out, "\n") == 0 ? 0 : -ENOMEM;
	if (rc != 0) {
		out->len = before;
		if (out->data != NULL)
			out->data[before] = '\0';
	}
	return rc;
}
