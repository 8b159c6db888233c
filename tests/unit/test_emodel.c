#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "call/emodel.h"
#include "testutil.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
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
	/* G.711 (guide: Bpl 25) at 5 % loss and 300 ms RTT (d = 150, below the knee). */
	assert_near(sv_emodel_r(g711, 300, 5), 93.2 - 3.6 - 95.0 * 5 / 30, 1e-9);
	/* d = 400 ms one-way: Id = 9.6 + 24.497. */
	assert_near(sv_emodel_r(g711, 800, 0), 93.2 - 34.097, 1e-9);
	double r = 93.2 - 34.097;
	assert_near(sv_emodel_mos(g711, 800, 0), 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6,
	            1e-9);
	/* Hopeless: R < 0 gives MOS 1. */
	assert_true(sv_emodel_r(g711, 4000, 100) < 0);
	assert_near(sv_emodel_mos(g711, 4000, 100), 1.0, 0);
	/* NULL codec means G.711. */
	assert_near(sv_emodel_r(NULL, 0, 1), 93.2 - 95.0 / 26, 1e-9);
}

/* The configuration guide's "Codec Support" table, row for row. */
static const struct {
	const char *name;
	const char *aliases[3];
	double ie, bpl;
} guide[] = {
    {"G.711 mu-law", {"pcmu", "g711"}, 0, 25},
    {"G.711 A-law", {"pcma"}, 0, 25},
    {"G.722", {"g722"}, 0, 25},
    {"G.729", {"g729", "g729a"}, 11, 19},
    {"G.723.1", {"g723"}, 15, 16},
    {"GSM-FR", {"gsm"}, 20, 17},
    {"Opus", {"opus"}, 0, 25},
    {"iLBC", {"ilbc"}, 11, 20},
    {"AMR", {"amr"}, 5, 20},
    {"AMR-WB", {"amr-wb"}, 0, 25},
    {"SILK", {"silk"}, 0, 25},
    {"Speex", {"speex"}, 11, 20},
};
#define NGUIDE (sizeof(guide) / sizeof(guide[0]))

/* Our extension rows (docs/formats.md). */
static const struct {
	const char *alias;
	double ie, bpl;
} ours[] = {
    {"g726", 7, 25},    {"g726-16", 50, 25}, {"g726-24", 25, 25},
    {"g726-40", 2, 25}, {"g7221", 0, 25},    {"gsm-efr", 5, 10},
};
#define NOURS (sizeof(ours) / sizeof(ours[0]))

static void upper(const char *in, char *out, size_t len)
{
	size_t i = 0;
	for (; in[i] != '\0' && i + 1 < len; i++)
		out[i] = (char)toupper((unsigned char)in[i]);
	out[i] = '\0';
}

/* Every guide row, by its name and each alias, in lower, upper and as written. */
static void test_guide_rows(void **state)
{
	for (size_t i = 0; i < NGUIDE; i++) {
		const char *keys[4] = {guide[i].name, guide[i].aliases[0], guide[i].aliases[1],
		                       guide[i].aliases[2]};
		const struct sv_emodel_codec *row = NULL;
		for (size_t k = 0; k < 4 && keys[k] != NULL; k++) {
			char up[64];
			upper(keys[k], up, sizeof(up));
			const char *forms[2] = {keys[k], up};
			for (size_t f = 0; f < 2; f++) {
				enum sv_emodel_match how = SV_EMODEL_MATCH_FALLBACK;
				const struct sv_emodel_codec *c =
				    sv_emodel_codec_lookup(forms[f], &how);
				if (how != SV_EMODEL_MATCH_EXACT || c->ie != guide[i].ie ||
				    c->bpl != guide[i].bpl || strcmp(c->name, guide[i].name) != 0)
					fail_msg("%s: %s %g/%g (how %d), guide says %s %g/%g",
					         forms[f], c->name, c->ie, c->bpl, how,
					         guide[i].name, guide[i].ie, guide[i].bpl);
				assert_false(c->extension);
				if (row == NULL)
					row = c;
				assert_ptr_equal(c, row); /* one row per guide codec */
			}
		}
	}
}

/* The table holds the guide's rows first, in its order, then only ours; no
 * alias is listed twice. */
static void test_table_shape(void **state)
{
	size_t n;
	const struct sv_emodel_codec *t = sv_emodel_codec_table(&n);
	assert_int_equal(n, NGUIDE + NOURS);
	for (size_t i = 0; i < n; i++) {
		assert_true(t[i].bpl > 0);
		assert_int_equal(t[i].extension, i >= NGUIDE);
		if (i < NGUIDE) {
			assert_string_equal(t[i].name, guide[i].name);
			size_t k = 0;
			for (; t[i].aliases[k] != NULL; k++)
				assert_string_equal(t[i].aliases[k], guide[i].aliases[k]);
			assert_null(guide[i].aliases[k]);
		} else {
			assert_string_equal(t[i].aliases[0], ours[i - NGUIDE].alias);
			assert_null(t[i].aliases[1]);
			assert_near(t[i].ie, ours[i - NGUIDE].ie, 0);
			assert_near(t[i].bpl, ours[i - NGUIDE].bpl, 0);
			assert_ptr_equal(sv_emodel_codec_lookup(ours[i - NGUIDE].alias, NULL),
			                 &t[i]);
		}
		for (size_t j = 0; j < i; j++)
			for (size_t a = 0; t[i].aliases[a] != NULL; a++)
				for (size_t b = 0; t[j].aliases[b] != NULL; b++)
					assert_string_not_equal(t[i].aliases[a], t[j].aliases[b]);
	}
	/* The fallback is G.711 mu-law, 0/25. */
	assert_ptr_equal(sv_emodel_codec_lookup(NULL, NULL), &t[0]);
	assert_near(t[0].ie, 0, 0);
	assert_near(t[0].bpl, 25, 0);
}

static void check(const char *name, double ie, double bpl, enum sv_emodel_match want_how)
{
	enum sv_emodel_match how = (enum sv_emodel_match) - 1;
	const struct sv_emodel_codec *c = sv_emodel_codec_lookup(name, &how);
	assert_non_null(c);
	if (c->ie != ie || c->bpl != bpl || how != want_how)
		fail_msg("lookup(%s) = %s %g/%g how %d, expected %g/%g how %d",
		         name ? name : "NULL", c->name, c->ie, c->bpl, how, ie, bpl, want_how);
}

/* Exact first, then substring (longest name or alias wins), then G.711. */
static void test_lookup_order(void **state)
{
	/* Exact beats substring: "amr-wb" contains "amr", "g729a" contains "g729",
	 * "gsm-efr" contains "gsm", "g726-16" contains "g726". */
	check("AMR-WB", 0, 25, SV_EMODEL_MATCH_EXACT);
	check("amr", 5, 20, SV_EMODEL_MATCH_EXACT);
	check("G729A", 11, 19, SV_EMODEL_MATCH_EXACT);
	check("GSM", 20, 17, SV_EMODEL_MATCH_EXACT);
	check("gsm-efr", 5, 10, SV_EMODEL_MATCH_EXACT);
	check("G726-16", 50, 25, SV_EMODEL_MATCH_EXACT);
	check("G.723.1", 15, 16, SV_EMODEL_MATCH_EXACT);
	check("g.729", 11, 19, SV_EMODEL_MATCH_EXACT);
	/* Substrings as SDP writes them; the longest key wins. */
	check("AMR-WB/16000/1", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("x-AMR-WB", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("AMR/8000", 5, 20, SV_EMODEL_MATCH_SUBSTRING);
	check("G729B", 11, 19, SV_EMODEL_MATCH_SUBSTRING);
	check("g729ab", 11, 19, SV_EMODEL_MATCH_SUBSTRING);
	check("G722/8000", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("G7221/16000", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("g723.1", 15, 16, SV_EMODEL_MATCH_SUBSTRING);
	check("x-GSM-HR", 20, 17, SV_EMODEL_MATCH_SUBSTRING);
	check("GSM-EFR/8000", 5, 10, SV_EMODEL_MATCH_SUBSTRING);
	check("AAL2-G726-32", 7, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("G726-24/8000", 25, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("opus/48000/2", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("SILK/16000", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("SPEEX-WB", 11, 20, SV_EMODEL_MATCH_SUBSTRING);
	check("iLBC/8000", 11, 20, SV_EMODEL_MATCH_SUBSTRING);
	check("G711U", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	check("audio/PCMA", 0, 25, SV_EMODEL_MATCH_SUBSTRING);
	/* Nothing known: the G.711 defaults. */
	check(NULL, 0, 25, SV_EMODEL_MATCH_FALLBACK);
	check("", 0, 25, SV_EMODEL_MATCH_FALLBACK);
	check("L16", 0, 25, SV_EMODEL_MATCH_FALLBACK);
	check("telephone-event", 0, 25, SV_EMODEL_MATCH_FALLBACK);
	check("G.711", 0, 25, SV_EMODEL_MATCH_FALLBACK);
	/* how may be NULL. */
	assert_string_equal(sv_emodel_codec_lookup("pcma", NULL)->name, "G.711 A-law");
}

/* Our extension rows change no guide name: with decorations too, every guide
 * alias resolves to its own row's values. */
static void test_extensions_change_no_guide_name(void **state)
{
	static const char *const deco[] = {"%s", "%s/8000", "x-%s", "audio/%s/16000/1"};
	for (size_t i = 0; i < NGUIDE; i++)
		for (size_t k = 0; k < 3 && guide[i].aliases[k] != NULL; k++)
			for (size_t d = 0; d < sizeof(deco) / sizeof(deco[0]); d++) {
				char name[64];
				snprintf(name, sizeof(name), deco[d], guide[i].aliases[k]);
				const struct sv_emodel_codec *c =
				    sv_emodel_codec_lookup(name, NULL);
				if (c->ie != guide[i].ie || c->bpl != guide[i].bpl)
					fail_msg("%s: %g/%g, guide says %g/%g", name, c->ie, c->bpl,
					         guide[i].ie, guide[i].bpl);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id),
	    cmocka_unit_test(test_ie_eff_vectors),
	    cmocka_unit_test(test_mos_from_r_vectors),
	    cmocka_unit_test(test_r_and_mos),
	    cmocka_unit_test(test_guide_rows),
	    cmocka_unit_test(test_table_shape),
	    cmocka_unit_test(test_lookup_order),
	    cmocka_unit_test(test_extensions_change_no_guide_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
