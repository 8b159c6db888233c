#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "call/emodel.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define assert_near(a, b, tol)                                                                    \
	do {                                                                                      \
		double a_ = (a), b_ = (b);                                                        \
		if (!(fabs(a_ - b_) <= (tol)))                                                    \
			fail_msg("%s = %.9f, expected %.9f (+/- %g)", #a, a_, b_, (double)(tol)); \
	} while (0)

/* Delay impairment: 0.024 d below the 177.3 ms knee, plus 0.11 (d - 177.3) above. */
static void test_id(void **state)
{
	assert_near(sv_emodel_id(0), 0.0, 1e-12);
	assert_near(sv_emodel_id(-5), 0.0, 1e-12);
	assert_near(sv_emodel_id(NAN), 0.0, 1e-12);
	assert_near(sv_emodel_id(100), 2.4, 1e-12);
	assert_near(sv_emodel_id(177.3), 0.024 * 177.3, 1e-12);
	assert_near(sv_emodel_id(200), 4.8 + 0.11 * 22.7, 1e-12);
	assert_near(sv_emodel_id(400), 9.6 + 0.11 * 222.7, 1e-12);
}

/* EMODEL_VECTORS.md table 1c, rows with BurstR = 1 (random loss), which is our model. */
static void test_ie_eff_vectors(void **state)
{
	assert_near(sv_emodel_ie_eff(11, 19, 0), 11.0, 1e-9);
	assert_near(sv_emodel_ie_eff(11, 19, 2), 19.0, 1e-9);
	assert_near(sv_emodel_ie_eff(0, 25.1, 1), 3.639847, 1e-6);
	assert_near(sv_emodel_ie_eff(0, 25.1, 5), 15.780731, 1e-6);
	/* 200 % is clamped to 100 %. */
	assert_near(sv_emodel_ie_eff(0, 25.1, 200), 75.939249, 1e-6);
	assert_near(sv_emodel_ie_eff(0, 25.1, 100), 75.939249, 1e-6);
	/* Negative and NaN loss count as none. */
	assert_near(sv_emodel_ie_eff(7, 25.1, -3), 7.0, 1e-12);
	assert_near(sv_emodel_ie_eff(7, 25.1, NAN), 7.0, 1e-12);
}

/* EMODEL_VECTORS.md table 1d (Annex B), plus the clamps. */
static void test_mos_from_r_vectors(void **state)
{
	assert_near(sv_emodel_mos_from_r(-10), 1.0, 0);
	assert_near(sv_emodel_mos_from_r(0), 1.0, 1e-12);
	assert_near(sv_emodel_mos_from_r(50), 2.575, 1e-9);
	assert_near(sv_emodel_mos_from_r(60), 3.1, 1e-9);
	assert_near(sv_emodel_mos_from_r(70), 3.597, 1e-9);
	assert_near(sv_emodel_mos_from_r(80), 4.024, 1e-9);
	assert_near(sv_emodel_mos_from_r(90), 4.339, 1e-9);
	assert_near(sv_emodel_mos_from_r(93.2), 4.409286, 1e-6);
	assert_near(sv_emodel_mos_from_r(100), 4.5, 1e-12);
	assert_near(sv_emodel_mos_from_r(103.206208), 4.5, 0);
	assert_near(sv_emodel_mos_from_r(1e9), 4.5, 0);
	assert_near(sv_emodel_mos_from_r(NAN), 1.0, 0);
	/* Small positive R: the polynomial dips below 1 there; the result is clamped. */
	assert_near(sv_emodel_mos_from_r(1), 1.0, 0);
	/* Monotonic over [0, 100]. */
	double prev = 0;
	for (double r = 0; r <= 100; r += 0.5) {
		double m = sv_emodel_mos_from_r(r);
		assert_true(m >= prev);
		assert_true(m >= 1.0 && m <= 4.5);
		prev = m;
	}
}

/* Composed R and MOS: R = 93.2 - Id(rtt/2) - Ie_eff. */
static void test_r_and_mos(void **state)
{
	const struct sv_emodel_codec *g711 = sv_emodel_codec_lookup("pcmu", NULL);
	const struct sv_emodel_codec *g729 = sv_emodel_codec_lookup("g729", NULL);
	/* All defaults: R = 93.2, MOS 4.409286 (G.107 7.7). */
	assert_near(sv_emodel_r(g711, 0, 0), 93.2, 1e-12);
	assert_near(sv_emodel_mos(g711, 0, 0), 4.409286, 1e-6);
	/* G.729A at 2 % loss: Ie_eff is exactly 19 (vector 1c), so R = 74.2. */
	assert_near(sv_emodel_r(g729, 0, 2), 74.2, 1e-9);
	/* G.711 at 5 % loss and 300 ms RTT (d = 150, below the knee). */
	assert_near(sv_emodel_r(g711, 300, 5), 93.2 - 3.6 - 15.780731, 1e-6);
	/* d = 400 ms one-way: Id = 9.6 + 24.497. */
	assert_near(sv_emodel_r(g711, 800, 0), 93.2 - 34.097, 1e-9);
	double r = 93.2 - 34.097;
	assert_near(sv_emodel_mos(g711, 800, 0), 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6,
	            1e-9);
	/* Hopeless: R < 0 gives MOS 1. */
	assert_true(sv_emodel_r(g711, 4000, 100) < 0);
	assert_near(sv_emodel_mos(g711, 4000, 100), 1.0, 0);
	/* NULL codec means G.711. */
	assert_near(sv_emodel_r(NULL, 0, 1), 93.2 - 3.639847, 1e-6);
}

/* Our own copy of the table (docs/formats.md): name, Ie, Bpl. */
static const struct {
	const char *name;
	double ie, bpl;
} expected_codecs[] = {
    {"g711", 0, 25.1},     {"pcmu", 0, 25.1},     {"pcma", 0, 25.1},    {"g726", 7, 25.1},
    {"g726-16", 50, 25.1}, {"g726-24", 25, 25.1}, {"g726-40", 2, 25.1}, {"g729", 11, 19},
    {"g729a", 11, 19},     {"g723", 15, 16.1},    {"g722", 0, 25.1},    {"g7221", 0, 25.1},
    {"gsm", 20, 10},       {"gsm-efr", 5, 10},    {"amr", 5, 10},       {"amr-wb", 0, 10},
    {"ilbc", 11, 32},      {"opus", 0, 25.1},     {"speex", 11, 19},
};

static void test_codec_table_exact(void **state)
{
	size_t n;
	const struct sv_emodel_codec *t = sv_emodel_codec_table(&n);
	assert_int_equal(n, sizeof(expected_codecs) / sizeof(expected_codecs[0]));
	for (size_t i = 0; i < n; i++) {
		enum sv_emodel_match how = SV_EMODEL_MATCH_FALLBACK;
		const struct sv_emodel_codec *c =
		    sv_emodel_codec_lookup(expected_codecs[i].name, &how);
		assert_string_equal(c->name, expected_codecs[i].name);
		assert_int_equal(how, SV_EMODEL_MATCH_EXACT);
		assert_near(c->ie, expected_codecs[i].ie, 0);
		assert_near(c->bpl, expected_codecs[i].bpl, 0);
		assert_true(c->bpl > 0);
		/* Every table row is reachable by its own name. */
		assert_ptr_equal(c, &t[i]);
	}
	/* The G.113 rows are not provisional; our choices are. */
	assert_false(sv_emodel_codec_lookup("pcmu", NULL)->provisional);
	assert_false(sv_emodel_codec_lookup("g729a", NULL)->provisional);
	assert_false(sv_emodel_codec_lookup("g723", NULL)->provisional);
	assert_true(sv_emodel_codec_lookup("opus", NULL)->provisional);
	assert_true(sv_emodel_codec_lookup("ilbc", NULL)->provisional);
}

static void check_lookup(const char *name, const char *want, enum sv_emodel_match want_how)
{
	enum sv_emodel_match how = (enum sv_emodel_match) - 1;
	const struct sv_emodel_codec *c = sv_emodel_codec_lookup(name, &how);
	assert_non_null(c);
	if (strcmp(c->name, want) != 0 || how != want_how)
		fail_msg("lookup(%s) = %s/%d, expected %s/%d", name ? name : "NULL", c->name, how,
		         want, want_how);
}

static void test_codec_lookup(void **state)
{
	/* Case-insensitive exact names. */
	check_lookup("PCMU", "pcmu", SV_EMODEL_MATCH_EXACT);
	check_lookup("PcmA", "pcma", SV_EMODEL_MATCH_EXACT);
	check_lookup("G729a", "g729a", SV_EMODEL_MATCH_EXACT);
	check_lookup("G729", "g729", SV_EMODEL_MATCH_EXACT);
	check_lookup("OPUS", "opus", SV_EMODEL_MATCH_EXACT);
	check_lookup("iLBC", "ilbc", SV_EMODEL_MATCH_EXACT);
	check_lookup("AMR-WB", "amr-wb", SV_EMODEL_MATCH_EXACT);
	check_lookup("G7221", "g7221", SV_EMODEL_MATCH_EXACT);
	check_lookup("GSM", "gsm", SV_EMODEL_MATCH_EXACT);
	check_lookup("G726-16", "g726-16", SV_EMODEL_MATCH_EXACT);
	/* Substrings; the longest key wins ("g7221" over "g722", "amr-wb" over "amr"). */
	check_lookup("G7221/16000", "g7221", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("G722/8000", "g722", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("AMR-WB/16000/1", "amr-wb", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("AMR/8000", "amr", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("G729B", "g729", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("g729ab", "g729a", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("AAL2-G726-32", "g726", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("G726-24/8000", "g726-24", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("G726-40/8000", "g726-40", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("g723.1", "g723", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("GSM-EFR/8000", "gsm-efr", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("x-GSM-HR", "gsm", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("opus/48000/2", "opus", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("SPEEX-WB", "speex", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("iLBC/8000", "ilbc", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("G711U", "g711", SV_EMODEL_MATCH_SUBSTRING);
	check_lookup("audio/PCMU", "pcmu", SV_EMODEL_MATCH_SUBSTRING);
	/* Fallback to G.711 with PLC. */
	check_lookup(NULL, "g711", SV_EMODEL_MATCH_FALLBACK);
	check_lookup("", "g711", SV_EMODEL_MATCH_FALLBACK);
	check_lookup("L16", "g711", SV_EMODEL_MATCH_FALLBACK);
	check_lookup("telephone-event", "g711", SV_EMODEL_MATCH_FALLBACK);
	check_lookup("G.729", "g711", SV_EMODEL_MATCH_FALLBACK);
	/* how may be NULL. */
	assert_string_equal(sv_emodel_codec_lookup("pcma", NULL)->name, "pcma");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id),
	    cmocka_unit_test(test_ie_eff_vectors),
	    cmocka_unit_test(test_mos_from_r_vectors),
	    cmocka_unit_test(test_r_and_mos),
	    cmocka_unit_test(test_codec_table_exact),
	    cmocka_unit_test(test_codec_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
