#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "call/emodel.h"
#include "call/quality.h"
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0_S 1764151200ULL /* 2025-11-26T10:00:00Z, a multiple of 5 s */
#define NS   1000000000ULL

#define assert_near(a, b, tol)                                                                    \
	do {                                                                                      \
		double a_ = (a), b_ = (b);                                                        \
		if (!(fabs(a_ - b_) <= (tol)))                                                    \
			fail_msg("%s = %.9f, expected %.9f (+/- %g)", #a, a_, b_, (double)(tol)); \
	} while (0)

static struct sv_quality_sample mk(enum sv_quality_dir d, uint64_t ts_ns, double jitter,
                                   double loss, double rtt)
{
	struct sv_quality_sample s = {ts_ns, d, jitter, loss, rtt};
	return s;
}

static struct sv_quality_call answered_call(const char *codec)
{
	struct sv_quality_call c;
	sv_quality_call_init(&c);
	c.call_id = "test@example.org";
	c.customer = "acme";
	c.codec = codec;
	c.answered = 1;
	c.started_ns = T0_S * NS;
	c.answered_ns = T0_S * NS + 2 * NS;
	c.ended_ns = T0_S * NS + 62 * NS + 200000000;
	c.final_status = 200;
	c.from = "sip:alice@example.com";
	c.to = "sip:bob@example.com";
	return c;
}

/* Looks up "a.b.c" in nested objects; fails the test when absent. */
static json_t *jget(json_t *root, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = root;
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k != NULL;
	     k = strtok_r(NULL, ".", &save)) {
		cur = json_object_get(cur, k);
		if (cur == NULL)
			fail_msg("no %s in report", path);
	}
	return cur;
}

static const char *jstr(json_t *root, const char *path)
{
	json_t *v = jget(root, path);
	if (!json_is_string(v))
		fail_msg("%s is not a string", path);
	return json_string_value(v);
}

static double jnum(json_t *root, const char *path)
{
	json_t *v = jget(root, path);
	if (!json_is_number(v))
		fail_msg("%s is not a number", path);
	return json_number_value(v);
}

static json_t *build(const struct sv_quality_call *c, const struct sv_quality_sample *s, size_t n)
{
	json_t *r = NULL;
	assert_int_equal(sv_quality_build(c, s, n, SV_QUALITY_SRC_RTCP, &r), 0);
	assert_non_null(r);
	return r;
}

/* ------------------------------------------------------------ classify */

static void test_classify_boundaries(void **state)
{
	static const struct {
		double mos, jitter, loss, latency;
		enum sv_quality_verdict want;
	} cases[] = {
	    /* MOS thresholds: < 3.10 bad, < 3.60 poor, <= 4.03 fair, > 4.34 excellent. */
	    {3.0999, 0, 0, 0, SV_QUALITY_BAD},
	    {3.10, 0, 0, 0, SV_QUALITY_POOR},
	    {3.5999, 0, 0, 0, SV_QUALITY_POOR},
	    {3.60, 0, 0, 0, SV_QUALITY_FAIR},
	    {4.03, 0, 0, 0, SV_QUALITY_FAIR},
	    {4.0301, 0, 0, 0, SV_QUALITY_GOOD},
	    {4.34, 0, 0, 0, SV_QUALITY_GOOD},
	    {4.3401, 0, 0, 0, SV_QUALITY_EXCELLENT},
	    {1.0, 0, 0, 0, SV_QUALITY_BAD},
	    {4.5, 0, 0, 0, SV_QUALITY_EXCELLENT},
	    /* jitter > 50 bad, > 20 fair */
	    {4.4, 50, 0, 0, SV_QUALITY_FAIR},
	    {4.4, 50.0001, 0, 0, SV_QUALITY_BAD},
	    {4.4, 20, 0, 0, SV_QUALITY_EXCELLENT},
	    {4.4, 20.0001, 0, 0, SV_QUALITY_FAIR},
	    {4.2, 20, 0, 0, SV_QUALITY_GOOD},
	    /* loss > 5 bad, > 1 fair */
	    {4.4, 0, 5, 0, SV_QUALITY_FAIR},
	    {4.4, 0, 5.0001, 0, SV_QUALITY_BAD},
	    {4.4, 0, 1, 0, SV_QUALITY_EXCELLENT},
	    {4.4, 0, 1.0001, 0, SV_QUALITY_FAIR},
	    /* latency > 400 bad, > 150 fair */
	    {4.4, 0, 0, 400, SV_QUALITY_FAIR},
	    {4.4, 0, 0, 400.0001, SV_QUALITY_BAD},
	    {4.4, 0, 0, 150, SV_QUALITY_EXCELLENT},
	    {4.4, 0, 0, 150.0001, SV_QUALITY_FAIR},
	    /* bad network metrics win over a poor MOS */
	    {3.5, 0, 5.5, 0, SV_QUALITY_BAD},
	    {3.5, 21, 2, 151, SV_QUALITY_POOR},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sv_quality_verdict v = sv_quality_classify(cases[i].mos, cases[i].jitter,
		                                                cases[i].loss, cases[i].latency);
		if (v != cases[i].want)
			fail_msg("case %zu (mos %g jitter %g loss %g latency %g): %s, expected %s",
			         i, cases[i].mos, cases[i].jitter, cases[i].loss, cases[i].latency,
			         sv_quality_verdict_name(v),
			         sv_quality_verdict_name(cases[i].want));
	}
	assert_string_equal(sv_quality_verdict_name(SV_QUALITY_UNKNOWN), "unknown");
	assert_string_equal(sv_quality_verdict_name((enum sv_quality_verdict)42), "unknown");
}

/* ------------------------------------------------------------ end to end verdicts */

/* R with MOS(R) = mos, by bisection over [0, 100] where MOS is increasing. */
static double r_for_mos(double mos)
{
	double lo = 0, hi = 100;
	for (int i = 0; i < 200; i++) {
		double mid = (lo + hi) / 2;
		if (sv_emodel_mos_from_r(mid) < mos)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/* The loss % giving MOS = mos for codec at rtt 0: Ie_eff = 93.2 - R. */
static double loss_for_mos(const char *codec, double mos)
{
	const struct sv_emodel_codec *c = sv_emodel_codec_lookup(codec, NULL);
	double ie_eff = 93.2 - r_for_mos(mos);
	assert_true(ie_eff >= c->ie);
	return c->bpl * (ie_eff - c->ie) / (95.0 - ie_eff);
}

struct verdict_case {
	const char *name;
	const char *codec;
	double mos; /* > 0: the uac loss is chosen so the uac MOS is this */
	double jitter, loss, rtt;
	const char *verdict;
};

static void test_verdict_boundaries_end_to_end(void **state)
{
	static const struct verdict_case cases[] = {
	    {"mos just under 3.10", "g726-24", 3.0999, 0, 0, 0, "bad"},
	    {"mos exactly 3.10", "g726-24", 3.10, 0, 0, 0, "poor"},
	    {"mos just under 3.60", "g729", 3.5999, 0, 0, 0, "poor"},
	    {"mos exactly 3.60", "g729", 3.60, 0, 0, 0, "fair"},
	    {"mos exactly 4.03", "g729", 4.03, 0, 0, 0, "fair"},
	    {"mos just over 4.03", "g729", 4.0301, 0, 0, 0, "good"},
	    {"mos exactly 4.34", "pcmu", 4.34, 0, 0, 0, "good"},
	    {"mos just over 4.34", "pcmu", 4.3401, 0, 0, 0, "excellent"},
	    {"jitter exactly 50", "pcmu", 0, 50, 0, 0, "fair"},
	    {"jitter just over 50", "pcmu", 0, 50.0001, 0, 0, "bad"},
	    {"jitter exactly 20", "pcmu", 0, 20, 0, 0, "excellent"},
	    {"jitter just over 20", "pcmu", 0, 20.0001, 0, 0, "fair"},
	    {"loss exactly 5", "pcmu", 0, 0, 5, 0, "fair"},
	    {"loss just over 5", "pcmu", 0, 0, 5.0001, 0, "bad"},
	    {"loss exactly 1", "pcmu", 0, 0, 1, 0, "good"},
	    {"loss just over 1", "pcmu", 0, 0, 1.0001, 0, "fair"},
	    {"latency exactly 150", "pcmu", 0, 0, 0, 300, "good"},
	    {"latency just over 150", "pcmu", 0, 0, 0, 300.0002, "fair"},
	    /* One-way 400 ms already costs MOS < 3.10 in this model (Id = 34.1),
	     * so both sides of the 400 ms line are bad; classify() tests the line. */
	    {"latency exactly 400", "pcmu", 0, 0, 0, 800, "bad"},
	    {"latency just over 400", "pcmu", 0, 0, 0, 800.0002, "bad"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict_case *vc = &cases[i];
		struct sv_quality_call call = answered_call(vc->codec);
		double loss = vc->mos > 0 ? loss_for_mos(vc->codec, vc->mos) : vc->loss;
		/* The uac side carries the case; the uas side is clean (rtt equal so
		 * that latency is the same both ways). */
		struct sv_quality_sample s[3] = {
		    mk(SV_QUALITY_UAC, (T0_S + 1) * NS, vc->jitter, loss, vc->rtt),
		    mk(SV_QUALITY_UAC, (T0_S + 6) * NS, vc->jitter, loss, vc->rtt),
		    mk(SV_QUALITY_UAS, (T0_S + 2) * NS, 0, 0, vc->rtt),
		};
		json_t *r = build(&call, s, 3);
		if (vc->mos > 0)
			assert_near(jnum(r, "directions.uac.mos.avg"), vc->mos, 1e-9);
		if (strcmp(jstr(r, "verdict"), vc->verdict) != 0)
			fail_msg("%s: verdict %s, expected %s (uac mos %.6f)", vc->name,
			         jstr(r, "verdict"), vc->verdict,
			         jnum(r, "directions.uac.mos.avg"));
		assert_string_equal(jstr(r, "audio_status"), "normal");
		/* A diagnostic for everything but good and excellent. */
		int quiet =
		    strcmp(vc->verdict, "good") == 0 || strcmp(vc->verdict, "excellent") == 0;
		assert_int_equal(jstr(r, "diagnostic.probable_cause")[0] == '\0', quiet);
		assert_int_equal(jstr(r, "diagnostic.recommendation")[0] == '\0', quiet);
		json_decref(r);
	}
}

static void test_degraded_leg(void **state)
{
	static const struct {
		double uac, uas; /* target MOS per direction */
		const char *want;
	} cases[] = {
	    {4.4, 4.4, ""},       {3.5, 3.5, ""},           {3.4999, 4.4, "uac"},
	    {4.4, 3.4999, "uas"}, {3.4999, 3.4999, "both"}, {3.5, 3.4999, "uas"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sv_quality_call call = answered_call("G729");
		struct sv_quality_sample s[2] = {
		    mk(SV_QUALITY_UAC, T0_S * NS, 0,
		       loss_for_mos("g729", cases[i].uac > 4.1 ? 4.1 : cases[i].uac), 0),
		    mk(SV_QUALITY_UAS, T0_S * NS, 0,
		       loss_for_mos("g729", cases[i].uas > 4.1 ? 4.1 : cases[i].uas), 0),
		};
		json_t *r = build(&call, s, 2);
		if (strcmp(jstr(r, "degraded_leg"), cases[i].want) != 0)
			fail_msg("case %zu: degraded_leg '%s', expected '%s'", i,
			         jstr(r, "degraded_leg"), cases[i].want);
		json_decref(r);
	}
}

/* ------------------------------------------------------------ audio status */

static void test_owa_each_side(void **state)
{
	for (int d = 0; d < 2; d++) {
		struct sv_quality_call call = answered_call("PCMU");
		struct sv_quality_sample s[2] = {
		    mk((enum sv_quality_dir)d, T0_S * NS, 1, 0, 20),
		    mk((enum sv_quality_dir)d, (T0_S + 5) * NS, 1, 0, 20),
		};
		json_t *r = build(&call, s, 2);
		assert_string_equal(jstr(r, "verdict"), "bad");
		assert_string_equal(jstr(r, "audio_status"), "owa");
		assert_string_equal(jstr(r, "source"), "rtcp");
		json_t *dirs = jget(r, "directions");
		assert_int_equal(json_object_size(dirs), 1);
		assert_non_null(json_object_get(dirs, d == 0 ? "uac" : "uas"));
		const char *cause = jstr(r, "diagnostic.probable_cause");
		const char *missing = d == 0 ? "nothing arrived from the callee (uas)"
		                             : "nothing arrived from the caller (uac)";
		if (strstr(cause, missing) == NULL)
			fail_msg("owa cause '%s' does not name the missing side", cause);
		assert_non_null(strstr(jstr(r, "diagnostic.recommendation"), "NAT"));
		/* A healthy single direction is not a degraded leg. */
		assert_string_equal(jstr(r, "degraded_leg"), "");
		json_decref(r);
	}
}

static void test_noa_and_empty(void **state)
{
	struct sv_quality_call call = answered_call("PCMU");
	json_t *r = build(&call, NULL, 0);
	assert_string_equal(jstr(r, "verdict"), "bad");
	assert_string_equal(jstr(r, "audio_status"), "noa");
	assert_string_equal(jstr(r, "source"), "none");
	assert_string_equal(jstr(r, "degraded_leg"), "");
	assert_int_equal(json_object_size(jget(r, "directions")), 0);
	assert_int_equal(json_array_size(jget(r, "timeseries")), 0);
	assert_near(jnum(r, "summary.sample_count"), 0, 0);
	assert_non_null(strstr(jstr(r, "diagnostic.probable_cause"), "no audio"));
	json_decref(r);

	/* Even for RTP-sourced input an empty list is "none". */
	assert_int_equal(sv_quality_build(&call, NULL, 0, SV_QUALITY_SRC_RTP, &r), 0);
	assert_string_equal(jstr(r, "source"), "none");
	json_decref(r);
}

static void test_not_answered(void **state)
{
	struct sv_quality_call call = answered_call("PCMU");
	call.answered = 0;
	call.answered_ns = 0;
	call.final_status = 486;
	call.end_reason = SV_QUALITY_END_FAILED;
	struct sv_quality_sample s = mk(SV_QUALITY_UAC, T0_S * NS, 80, 50, 0);
	json_t *r = build(&call, &s, 1);
	assert_string_equal(jstr(r, "verdict"), "unknown");
	assert_string_equal(jstr(r, "audio_status"), "not_answered");
	assert_true(json_is_null(jget(r, "summary.answered_at")));
	assert_near(jnum(r, "summary.duration_seconds"), 0, 0);
	assert_near(jnum(r, "summary.final_status"), 486, 0);
	assert_string_equal(jstr(r, "summary.end_reason"), "failed");
	/* Early media is still described. */
	assert_near(jnum(r, "directions.uac.sample_count"), 1, 0);
	assert_string_equal(jstr(r, "degraded_leg"), "uac");
	assert_non_null(strstr(jstr(r, "diagnostic.probable_cause"), "486"));
	json_decref(r);

	/* No samples, cancelled, no final status. */
	call.final_status = 0;
	call.end_reason = SV_QUALITY_END_CANCEL;
	r = build(&call, NULL, 0);
	assert_string_equal(jstr(r, "verdict"), "unknown");
	assert_string_equal(jstr(r, "audio_status"), "not_answered");
	assert_string_equal(jstr(r, "summary.end_reason"), "cancel");
	assert_non_null(strstr(jstr(r, "diagnostic.probable_cause"), "no final response"));
	json_decref(r);
}

/* ------------------------------------------------------------ statistics */

static void test_percentiles(void **state)
{
	struct sv_quality_call call = answered_call("PCMU");
	/* Unsorted jitter 50,10,40,20,30: rank(p5) = 0.2 -> 12, rank(p95) = 3.8 -> 48. */
	const double jit[5] = {50, 10, 40, 20, 30};
	struct sv_quality_sample s[9];
	for (int i = 0; i < 5; i++)
		s[i] = mk(SV_QUALITY_UAC, (T0_S + (uint64_t)i) * NS, jit[i], i, 10.0 * i);
	/* Two uas samples: rtt 0 and 100 -> p5 5, p95 95. */
	s[5] = mk(SV_QUALITY_UAS, T0_S * NS, 3, 0, 100);
	s[6] = mk(SV_QUALITY_UAS, T0_S * NS, 3, 0, 0);
	json_t *r = build(&call, s, 7);
	assert_near(jnum(r, "directions.uac.sample_count"), 5, 0);
	assert_near(jnum(r, "directions.uac.jitter.avg"), 30, 1e-9);
	assert_near(jnum(r, "directions.uac.jitter.min"), 10, 1e-9);
	assert_near(jnum(r, "directions.uac.jitter.max"), 50, 1e-9);
	assert_near(jnum(r, "directions.uac.jitter.p5"), 12, 1e-9);
	assert_near(jnum(r, "directions.uac.jitter.p95"), 48, 1e-9);
	/* loss 0..4: p5 = 0.2, p95 = 3.8 */
	assert_near(jnum(r, "directions.uac.loss.p5"), 0.2, 1e-9);
	assert_near(jnum(r, "directions.uac.loss.p95"), 3.8, 1e-9);
	assert_near(jnum(r, "directions.uac.rtt.avg"), 20, 1e-9);
	/* MOS decreases with loss: min is the 4 % sample, max the clean one. */
	const struct sv_emodel_codec *c = sv_emodel_codec_lookup("pcmu", NULL);
	assert_near(jnum(r, "directions.uac.mos.max"), sv_emodel_mos(c, 0, 0), 1e-4);
	assert_near(jnum(r, "directions.uac.mos.min"), sv_emodel_mos(c, 40, 4), 1e-4);
	double m3 = sv_emodel_mos(c, 30, 3), m4 = sv_emodel_mos(c, 40, 4);
	assert_near(jnum(r, "directions.uac.mos.p5"), m4 + 0.2 * (m3 - m4), 1e-4);
	assert_near(jnum(r, "directions.uas.rtt.p5"), 5, 1e-9);
	assert_near(jnum(r, "directions.uas.rtt.p95"), 95, 1e-9);
	assert_near(jnum(r, "directions.uas.rtt.avg"), 50, 1e-9);
	json_decref(r);

	/* One sample: every statistic is that value. */
	s[0] = mk(SV_QUALITY_UAS, T0_S * NS, 7.5, 0, 0);
	r = build(&call, s, 1);
	const char *keys[] = {"avg", "min", "max", "p5", "p95"};
	for (int i = 0; i < 5; i++) {
		char path[64];
		snprintf(path, sizeof(path), "directions.uas.jitter.%s", keys[i]);
		assert_near(jnum(r, path), 7.5, 0);
	}
	json_decref(r);
}

static void test_timeseries_buckets(void **state)
{
	struct sv_quality_call call = answered_call("PCMU");
	const uint64_t t = T0_S * NS;
	struct sv_quality_sample s[] = {
	    /* given out of order on purpose */
	    mk(SV_QUALITY_UAS, t + 17 * NS + NS / 2, 8, 0, 0), /* bucket T0+15 */
	    mk(SV_QUALITY_UAC, t, 10, 0, 0),                   /* bucket T0, on the edge */
	    mk(SV_QUALITY_UAC, t + 5 * NS - 1, 20, 2, 0),      /* bucket T0, last ns */
	    mk(SV_QUALITY_UAS, t + 5 * NS, 4, 0, 0),           /* bucket T0+5, on the edge */
	    mk(SV_QUALITY_UAC, t + 9 * NS, 30, 0, 0),          /* bucket T0+5 */
	    mk(SV_QUALITY_UAS, t + 3 * NS, 6, 1, 0),           /* bucket T0 */
	};
	json_t *r = build(&call, s, sizeof(s) / sizeof(s[0]));
	json_t *ts = jget(r, "timeseries");
	assert_int_equal(json_array_size(ts), 3); /* no empty T0+10 bucket */
	json_t *b0 = json_array_get(ts, 0), *b1 = json_array_get(ts, 1),
	       *b2 = json_array_get(ts, 2);
	assert_near(jnum(b0, "t"), (double)T0_S, 0);
	assert_near(jnum(b1, "t"), (double)T0_S + 5, 0);
	assert_near(jnum(b2, "t"), (double)T0_S + 15, 0);
	assert_true(json_is_integer(jget(b0, "t")));
	assert_near(jnum(b0, "uac.jitter"), 15, 1e-9);
	assert_near(jnum(b0, "uac.loss"), 1, 1e-9);
	const struct sv_emodel_codec *c = sv_emodel_codec_lookup("pcmu", NULL);
	assert_near(jnum(b0, "uac.mos"), (sv_emodel_mos(c, 0, 0) + sv_emodel_mos(c, 0, 2)) / 2,
	            1e-4);
	assert_near(jnum(b0, "uas.jitter"), 6, 1e-9);
	assert_near(jnum(b0, "uas.loss"), 1, 1e-9);
	assert_near(jnum(b1, "uac.jitter"), 30, 1e-9);
	assert_near(jnum(b1, "uas.jitter"), 4, 1e-9);
	assert_null(json_object_get(b2, "uac")); /* only present directions */
	assert_near(jnum(b2, "uas.jitter"), 8, 1e-9);
	assert_null(json_object_get(b0, "rtt"));
	json_decref(r);

	/* Epoch alignment for a call that starts off a 5 s boundary. */
	s[0] = mk(SV_QUALITY_UAC, (T0_S + 3) * NS + 700000000, 1, 0, 0);
	s[1] = mk(SV_QUALITY_UAS, (T0_S + 7) * NS, 1, 0, 0);
	r = build(&call, s, 2);
	ts = jget(r, "timeseries");
	assert_int_equal(json_array_size(ts), 2);
	assert_near(jnum(json_array_get(ts, 0), "t"), (double)T0_S, 0);
	assert_near(jnum(json_array_get(ts, 1), "t"), (double)T0_S + 5, 0);
	json_decref(r);
}

/* ------------------------------------------------------------ codecs */

/* The guide's table (and our extensions): a report per codec, MOS recomputed
 * here from Ie/Bpl. */
static void test_every_codec(void **state)
{
	static const struct {
		const char *codec;
		double ie, bpl;
	} cases[] = {
	    {"PCMU", 0, 25},     {"PCMA", 0, 25},     {"G711", 0, 25},    {"G726-32", 7, 25},
	    {"G726-16", 50, 25}, {"G726-24", 25, 25}, {"G726-40", 2, 25}, {"G729", 11, 19},
	    {"G729a", 11, 19},   {"G723", 15, 16},    {"G722", 0, 25},    {"G7221", 0, 25},
	    {"GSM", 20, 17},     {"GSM-EFR", 5, 10},  {"AMR", 5, 20},     {"AMR-WB", 0, 25},
	    {"iLBC", 11, 20},    {"opus", 0, 25},     {"SILK", 0, 25},    {"speex", 11, 20},
	    {"L16", 0, 25},      {"", 0, 25},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sv_quality_call call = answered_call(cases[i].codec);
		struct sv_quality_sample s[2] = {
		    mk(SV_QUALITY_UAC, T0_S * NS, 5, 2, 100),
		    mk(SV_QUALITY_UAS, T0_S * NS, 5, 0, 100),
		};
		json_t *r = build(&call, s, 2);
		double ie_eff = cases[i].ie + (95 - cases[i].ie) * 2 / (2 + cases[i].bpl);
		double rr = 93.2 - 0.024 * 50 - ie_eff;
		double want = 1 + 0.035 * rr + rr * (rr - 60) * (100 - rr) * 7e-6;
		double got = jnum(r, "directions.uac.mos.avg");
		if (fabs(got - want) > 6e-5)
			fail_msg("codec %s: mos %.5f, expected %.5f", cases[i].codec, got, want);
		rr = 93.2 - 1.2 - cases[i].ie;
		want = 1 + 0.035 * rr + rr * (rr - 60) * (100 - rr) * 7e-6;
		assert_near(jnum(r, "directions.uas.mos.avg"), want, 6e-5);
		assert_string_equal(jstr(r, "summary.codec"), cases[i].codec);
		json_decref(r);
	}
}

/* ------------------------------------------------------------ shape */

static void check_keys(json_t *o, const char *const *keys, size_t n)
{
	assert_int_equal(json_object_size(o), n);
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		(void)v;
		if (strcmp(k, keys[i]) != 0)
			fail_msg("key %zu is %s, expected %s", i, k, keys[i]);
		i++;
	}
}

static void test_shape_and_summary(void **state)
{
	static const char *const top[] = {"call_id",      "customer",  "verdict", "audio_status",
	                                  "degraded_leg", "source",    "summary", "directions",
	                                  "timeseries",   "diagnostic"};
	static const char *const summary[] = {"codec",        "sample_count",
	                                      "started_at",   "answered_at",
	                                      "ended_at",     "duration_seconds",
	                                      "final_status", "end_reason",
	                                      "from",         "to"};
	static const char *const dir[] = {"sample_count", "mos", "jitter", "loss", "rtt"};
	static const char *const st[] = {"avg", "min", "max", "p5", "p95"};
	static const char *const diag[] = {"probable_cause", "recommendation"};
	struct sv_quality_call call = answered_call("PCMU");
	call.end_reason = SV_QUALITY_END_TIMEOUT;
	struct sv_quality_sample s[2] = {
	    mk(SV_QUALITY_UAS, T0_S * NS + 250000000, 1, 0, 20),
	    mk(SV_QUALITY_UAC, T0_S * NS + 250000000, 1, 0, 20),
	};
	json_t *r = build(&call, s, 2);
	check_keys(r, top, 10);
	check_keys(jget(r, "summary"), summary, 10);
	check_keys(jget(r, "directions"), (const char *const[]){"uac", "uas"}, 2);
	check_keys(jget(r, "directions.uas"), dir, 5);
	check_keys(jget(r, "directions.uac.rtt"), st, 5);
	check_keys(jget(r, "diagnostic"), diag, 2);
	check_keys(json_array_get(jget(r, "timeseries"), 0),
	           (const char *const[]){"t", "uac", "uas"}, 3);
	check_keys(jget(json_array_get(jget(r, "timeseries"), 0), "uas"),
	           (const char *const[]){"mos", "jitter", "loss"}, 3);
	assert_string_equal(jstr(r, "call_id"), "test@example.org");
	assert_string_equal(jstr(r, "customer"), "acme");
	assert_string_equal(jstr(r, "summary.started_at"), "2025-11-26T10:00:00.000Z");
	assert_string_equal(jstr(r, "summary.answered_at"), "2025-11-26T10:00:02.000Z");
	assert_string_equal(jstr(r, "summary.ended_at"), "2025-11-26T10:01:02.200Z");
	assert_near(jnum(r, "summary.duration_seconds"), 60.2, 1e-9);
	assert_near(jnum(r, "summary.sample_count"), 2, 0);
	assert_string_equal(jstr(r, "summary.end_reason"), "timeout");
	assert_string_equal(jstr(r, "summary.from"), "sip:alice@example.com");
	assert_string_equal(jstr(r, "summary.to"), "sip:bob@example.com");
	assert_string_equal(jstr(r, "verdict"), "excellent");

	/* Dumped: valid JSON, reals printed short, one trailing newline. */
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_quality_dump(r, &out), 0);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	assert_int_equal(sv_buf_put_u8(&out, 0), 0);
	assert_non_null(strstr((char *)out.data, "\"duration_seconds\": 60.2,"));
	json_error_t e;
	json_t *back = json_loads((char *)out.data, 0, &e);
	assert_non_null(back);
	assert_true(json_equal(back, r));
	json_decref(back);
	sv_buf_release(&out);
	json_decref(r);

	/* Unknown times are null; unset strings are empty; odd bytes are replaced. */
	struct sv_quality_call bare;
	sv_quality_call_init(&bare);
	bare.answered = 1;
	bare.call_id = "caf\xe9\xff@x";
	r = build(&bare, NULL, 0);
	assert_true(json_is_null(jget(r, "summary.started_at")));
	assert_true(json_is_null(jget(r, "summary.answered_at")));
	assert_true(json_is_null(jget(r, "summary.ended_at")));
	assert_string_equal(jstr(r, "customer"), "");
	assert_string_equal(jstr(r, "summary.codec"), "");
	assert_string_equal(jstr(r, "call_id"), "caf??@x");
	json_decref(r);
}

static void test_source_rtp(void **state)
{
	struct sv_quality_call call = answered_call("PCMA");
	struct sv_quality_sample s[2] = {
	    mk(SV_QUALITY_UAC, T0_S * NS, 2, 0, 30),
	    mk(SV_QUALITY_UAS, T0_S * NS, 2, 0, 30),
	};
	json_t *r = NULL;
	assert_int_equal(sv_quality_build(&call, s, 2, SV_QUALITY_SRC_RTP, &r), 0);
	assert_string_equal(jstr(r, "source"), "rtp");
	json_decref(r);
}

static void test_diagnostic_names_metric_and_leg(void **state)
{
	struct sv_quality_call call = answered_call("PCMU");
	/* uas reports 6 % loss: bad, on the media the callee receives. */
	struct sv_quality_sample s[2] = {
	    mk(SV_QUALITY_UAC, T0_S * NS, 2, 0, 30),
	    mk(SV_QUALITY_UAS, T0_S * NS, 2, 6, 30),
	};
	json_t *r = build(&call, s, 2);
	assert_string_equal(jstr(r, "verdict"), "bad");
	const char *cause = jstr(r, "diagnostic.probable_cause");
	assert_non_null(strstr(cause, "high packet loss"));
	assert_non_null(strstr(cause, "callee (uas)"));
	assert_non_null(strstr(jstr(r, "diagnostic.recommendation"), "DSCP"));
	json_decref(r);

	/* uac jitter 30 ms: fair, jitter on the caller's side. */
	s[0].jitter_ms = 30;
	s[1].loss_pct = 0;
	r = build(&call, s, 2);
	assert_string_equal(jstr(r, "verdict"), "fair");
	cause = jstr(r, "diagnostic.probable_cause");
	assert_non_null(strstr(cause, "jitter"));
	assert_non_null(strstr(cause, "caller (uac)"));
	json_decref(r);

	/* A codec-limited poor call (G.726-24, Ie 25) blames the codec. */
	call.codec = "G726-24";
	s[0].jitter_ms = 2;
	r = build(&call, s, 2);
	assert_string_equal(jstr(r, "verdict"), "poor");
	assert_non_null(strstr(jstr(r, "diagnostic.probable_cause"), "codec impairment"));
	assert_non_null(strstr(jstr(r, "diagnostic.recommendation"), "codec"));
	json_decref(r);
}

/* ------------------------------------------------------------ helpers and errors */

static void test_sample_from_block(void **state)
{
	struct sv_quality_sample s;
	assert_int_equal(sv_quality_sample_from_block(5, SV_QUALITY_UAS, 3, 400, 8000, 41.5, &s),
	                 0);
	assert_int_equal(s.ts_ns, 5);
	assert_int_equal(s.dir, SV_QUALITY_UAS);
	assert_near(s.jitter_ms, 50, 1e-12);
	assert_near(s.loss_pct, 3.0 / 256 * 100, 1e-12);
	assert_near(s.rtt_ms, 41.5, 0);
	assert_int_equal(sv_quality_sample_from_block(0, SV_QUALITY_UAC, 255, 480, 48000, -1, &s),
	                 0);
	assert_near(s.loss_pct, 99.609375, 1e-12);
	assert_near(s.jitter_ms, 10, 1e-12);
	assert_near(s.rtt_ms, 0, 0);
	assert_int_equal(sv_quality_sample_from_block(0, SV_QUALITY_UAC, 0, 0, 8000, NAN, &s), 0);
	assert_near(s.rtt_ms, 0, 0);
	assert_int_equal(sv_quality_sample_from_block(0, SV_QUALITY_UAC, 0, 0, 0, 1, &s), -EINVAL);
}

static void test_iso8601(void **state)
{
	char buf[40];
	uint64_t ns = 0;
	assert_string_equal(sv_quality_iso8601(1764151205250000000ULL, buf, sizeof(buf)),
	                    "2025-11-26T10:00:05.250Z");
	assert_string_equal(sv_quality_iso8601(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
	assert_int_equal(sv_quality_iso8601_parse("2025-11-26T10:00:05.250Z", &ns), 0);
	assert_true(ns == 1764151205250000000ULL);
	assert_int_equal(sv_quality_iso8601_parse("2025-11-26T10:00:05Z", &ns), 0);
	assert_true(ns == 1764151205000000000ULL);
	assert_int_equal(sv_quality_iso8601_parse("2024-02-29T23:59:59.123456789Z", &ns), 0);
	assert_string_equal(sv_quality_iso8601(ns, buf, sizeof(buf)), "2024-02-29T23:59:59.123Z");
	assert_int_equal(sv_quality_iso8601_parse("2000-02-29T00:00:00Z", &ns), 0);
	assert_int_equal(sv_quality_iso8601_parse("1970-01-01T00:00:00Z", &ns), 0);
	assert_true(ns == 0);
	static const char *const bad[] = {
	    "2023-02-29T00:00:00Z",      "1900-02-29T00:00:00Z",  "2025-11-26T10:00:05",
	    "2025-11-26 10:00:05Z",      "2025-11-26T24:00:00Z",  "2025-13-01T00:00:00Z",
	    "2025-11-31T00:00:00Z",      "2025-11-26T10:00:05.Z", "2025-11-26T10:00:05.1234567890Z",
	    "2025-11-26T10:00:05+01:00", "1969-12-31T23:59:59Z",  "",
	    "2025-11-26T10:00:05Zx",     "2025-1-26T10:00:05Z",   "2600-01-01T00:00:00Z",
	    "9999-12-31T23:59:59Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sv_quality_iso8601_parse(bad[i], &ns) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_not_equal(sv_quality_iso8601_parse(NULL, &ns), 0);
}

static void test_invalid_arguments(void **state)
{
	struct sv_quality_call call = answered_call("PCMU");
	struct sv_quality_sample ok = mk(SV_QUALITY_UAC, 0, 1, 1, 1);
	json_t *r = (json_t *)&call; /* must be reset to NULL */
	assert_int_equal(sv_quality_build(NULL, &ok, 1, SV_QUALITY_SRC_RTCP, &r), -EINVAL);
	assert_null(r);
	assert_int_equal(sv_quality_build(&call, &ok, 1, SV_QUALITY_SRC_RTCP, NULL), -EINVAL);
	assert_int_equal(sv_quality_build(&call, NULL, 1, SV_QUALITY_SRC_RTCP, &r), -EINVAL);
	const struct sv_quality_sample bad[] = {
	    mk(SV_QUALITY_UAC, 0, NAN, 0, 0),   mk(SV_QUALITY_UAC, 0, 0, INFINITY, 0),
	    mk(SV_QUALITY_UAC, 0, 0, 0, -1),    mk(SV_QUALITY_UAC, 0, -1, 0, 0),
	    mk(SV_QUALITY_UAC, 0, 0, 100.5, 0), mk((enum sv_quality_dir)7, 0, 0, 0, 0),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sv_quality_sample two[2] = {ok, bad[i]};
		r = (json_t *)&call;
		assert_int_equal(sv_quality_build(&call, two, 2, SV_QUALITY_SRC_RTCP, &r), -EINVAL);
		assert_null(r);
	}
	assert_int_equal(sv_quality_dump(NULL, NULL), -EINVAL);
	assert_string_equal(sv_quality_dir_name(SV_QUALITY_UAS), "uas");
	assert_string_equal(sv_quality_end_name((enum sv_quality_end)9), "bye");
}

/* Every jansson allocation fails in turn: -ENOMEM and no leak, then success. */
static int fail_at = -1;
static void *failing_malloc(size_t n)
{
	if (fail_at == 0)
		return NULL;
	if (fail_at > 0)
		fail_at--;
	return malloc(n);
}

static void test_allocation_failures(void **state)
{
	struct sv_quality_call call = answered_call("PCMU");
	struct sv_quality_sample s[3] = {
	    mk(SV_QUALITY_UAC, T0_S * NS, 1, 2, 30),
	    mk(SV_QUALITY_UAS, (T0_S + 5) * NS, 30, 0, 30),
	    mk(SV_QUALITY_UAS, (T0_S + 6) * NS, 3, 0, 30),
	};
	json_set_alloc_funcs(failing_malloc, free);
	int k, rc = -1;
	for (k = 0; k < 10000; k++) {
		json_t *r = NULL;
		fail_at = k;
		rc = sv_quality_build(&call, s, 3, SV_QUALITY_SRC_RTCP, &r);
		if (rc == 0) {
			json_decref(r);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_null(r);
	}
	fail_at = -1;
	json_set_alloc_funcs(malloc, free);
	assert_int_equal(rc, 0);
	assert_true(k > 50); /* the report really needs many allocations */
}

static int jansson_cb(const char *b, size_t n, void *d)
{
	return sv_buf_append(d, b, n) == 0 ? 0 : -1;
}

/* sv_quality_dump() must give exactly the bytes jansson's own dumper gives
 * with SV_QUALITY_JSON_FLAGS (it is written without it, for speed). */
static void expect_same_as_jansson(const json_t *j)
{
	struct sv_buf ours, theirs;
	sv_buf_init(&ours);
	sv_buf_init(&theirs);
	assert_int_equal(sv_quality_dump(j, &ours), 0);
	assert_int_equal(json_dump_callback(j, jansson_cb, &theirs, SV_QUALITY_JSON_FLAGS), 0);
	assert_int_equal(sv_buf_append(&theirs, "\n", 1), 0);
	assert_int_equal(ours.len, theirs.len);
	assert_memory_equal(ours.data, theirs.data, ours.len);
	sv_buf_release(&ours);
	sv_buf_release(&theirs);
}

static void test_dump_matches_jansson(void **state)
{
	(void)state;
	/* reals of every kind: short (<= 4 decimals), long, tiny, huge, -0 */
	static const double reals[] = {0.0,          -0.0,    1.0,        10.0,      4.4093,
	                               -3.25,        0.0001,  0.00005,    1e-5,      123456.7891,
	                               9999999.9999, 1e7,     12345678.5, 1.0 / 3.0, 2.5e-12,
	                               1e300,        -1e-300, 60.2,       99.99};
	json_t *arr = json_array();
	assert_non_null(arr);
	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
		assert_int_equal(json_array_append_new(arr, json_real(reals[i])), 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(
		    json_array_append_new(arr, json_real((double)(i * 7919 % 1000003) / 10000.0)),
		    0);
	expect_same_as_jansson(arr);
	json_decref(arr);

	/* nesting, empty containers, escapes, integers, literals */
	json_t *o = json_object(), *a = json_array(), *in = json_object();
	assert_non_null(o);
	json_object_set_new(o, "empty_o", json_object());
	json_object_set_new(o, "empty_a", json_array());
	json_array_append_new(a, json_integer(-5));
	json_array_append_new(a, json_true());
	json_array_append_new(a, json_false());
	json_array_append_new(a, json_null());
	json_array_append_new(a, json_stringn("x\0y\"\\\x01\x1f\t\n\r\b\f/\xc3\xa9",
	                                      sizeof("x\0y\"\\\x01\x1f\t\n\r\b\f/\xc3\xa9") - 1));
	json_object_set_new(in, "k\"\xe2\x82\xac", json_real(0.5));
	json_array_append_new(a, in);
	json_object_set_new(o, "arr", a);
	json_object_set_new(o, "last", json_string("end"));
	expect_same_as_jansson(o);
	json_decref(o);

	/* whole reports */
	struct sv_quality_call call;
	sv_quality_call_init(&call);
	call.call_id = "dump-check";
	call.customer = "acme";
	call.codec = "G729";
	call.clock_rate = 8000;
	call.answered = 1;
	call.started_ns = 1764151200123456789ull;
	call.answered_ns = call.started_ns + 1500000000ull;
	call.ended_ns = call.answered_ns + 63123456789ull;
	call.final_status = 200;
	call.from = "sip:a@x";
	call.to = "sip:b@y";
	struct sv_quality_sample s[24];
	for (size_t i = 0; i < 24; i++) {
		s[i].ts_ns = call.answered_ns + i * 2700000000ull;
		s[i].dir = i % 2 ? SV_QUALITY_UAS : SV_QUALITY_UAC;
		s[i].jitter_ms = (double)(i * 37 % 101) / 7.0;
		s[i].loss_pct = (double)(i * 13 % 17) / 3.0;
		s[i].rtt_ms = i % 3 ? (double)(i * 29 % 400) / 3.0 : 0;
	}
	for (size_t n = 0; n <= 24; n += 6) {
		json_t *r = NULL;
		assert_int_equal(sv_quality_build(&call, s, n, SV_QUALITY_SRC_RTCP, &r), 0);
		expect_same_as_jansson(r);
		json_decref(r);
	}
	/* a scalar is refused, as jansson refuses it */
	json_t *x = json_real(1.5);
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_quality_dump(x, &out), -EINVAL);
	assert_int_equal(out.len, 0);
	json_decref(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify_boundaries),
	    cmocka_unit_test(test_verdict_boundaries_end_to_end),
	    cmocka_unit_test(test_degraded_leg),
	    cmocka_unit_test(test_owa_each_side),
	    cmocka_unit_test(test_noa_and_empty),
	    cmocka_unit_test(test_not_answered),
	    cmocka_unit_test(test_percentiles),
	    cmocka_unit_test(test_timeseries_buckets),
	    cmocka_unit_test(test_every_codec),
	    cmocka_unit_test(test_shape_and_summary),
	    cmocka_unit_test(test_source_rtp),
	    cmocka_unit_test(test_diagnostic_names_metric_and_leg),
	    cmocka_unit_test(test_sample_from_block),
	    cmocka_unit_test(test_iso8601),
	    cmocka_unit_test(test_invalid_arguments),
	    cmocka_unit_test(test_allocation_failures),
	    cmocka_unit_test(test_dump_matches_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
