/*
 * emodel.c - simplified G.107 E-model and the codec impairment table.
 */
#include "call/emodel.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/*
 * Ie / Bpl per codec: first the configuration guide's "Codec Support" table,
 * row for row, then our extensions (docs/formats.md section 3). No name or
 * alias of a guide row occurs in an extension's name or alias in a way that
 * changes how a guide name resolves: every guide name and alias is an exact
 * match of its own row, and test_emodel.c checks it. The first row is the
 * fallback.
 */
#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct sv_emodel_codec codecs[] = {
    /* the guide */
    {"G.711 mu-law", KEYS("pcmu", "g711"), 0.0, 25.0, 0},
    {"G.711 A-law", KEYS("pcma"), 0.0, 25.0, 0},
    {"G.722", KEYS("g722"), 0.0, 25.0, 0},
    {"G.729", KEYS("g729", "g729a"), 11.0, 19.0, 0},
    {"G.723.1", KEYS("g723"), 15.0, 16.0, 0},
    {"GSM-FR", KEYS("gsm"), 20.0, 17.0, 0},
    {"Opus", KEYS("opus"), 0.0, 25.0, 0},
    {"iLBC", KEYS("ilbc"), 11.0, 20.0, 0},
    {"AMR", KEYS("amr"), 5.0, 20.0, 0},
    {"AMR-WB", KEYS("amr-wb"), 0.0, 25.0, 0},
    {"SILK", KEYS("silk"), 0.0, 25.0, 0},
    {"Speex", KEYS("speex"), 11.0, 20.0, 0},
    /* ours */
    {"G.726-32", KEYS("g726"), 7.0, 25.0, 1},
    {"G.726-16", KEYS("g726-16"), 50.0, 25.0, 1},
    {"G.726-24", KEYS("g726-24"), 25.0, 25.0, 1},
    {"G.726-40", KEYS("g726-40"), 2.0, 25.0, 1},
    {"G.722.1", KEYS("g7221"), 0.0, 25.0, 1},
    {"GSM-EFR", KEYS("gsm-efr"), 5.0, 10.0, 1},
};

#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

const struct sv_emodel_codec *sv_emodel_codec_table(size_t *n)
{
	*n = NCODECS;
	return codecs;
}

/* exact: whether name equals the row's name or an alias (any case). Else:
 * whether the row has a name or alias longer than *best_len contained in
 * name, raising *best_len to the longest. */
static int row_matches(const struct sv_emodel_codec *c, const char *name, size_t *best_len,
                       int exact)
{
	int hit = 0;
	for (size_t k = 0; k == 0 || c->aliases[k - 1] != NULL; k++) {
		const char *key = k == 0 ? c->name : c->aliases[k - 1];
		if (exact) {
			if (strcasecmp(name, key) == 0)
				return 1;
		} else if (strlen(key) > *best_len && strcasestr(name, key) != NULL) {
			*best_len = strlen(key);
			hit = 1;
		}
	}
	return hit;
}

const struct sv_emodel_codec *sv_emodel_codec_lookup(const char *name, enum sv_emodel_match *how)
{
	const struct sv_emodel_codec *best = NULL;
	size_t best_len = 0;
	if (how != NULL)
		*how = SV_EMODEL_MATCH_FALLBACK;
	if (name == NULL || *name == '\0')
		return &codecs[0];
	for (size_t i = 0; i < NCODECS; i++) {
		if (row_matches(&codecs[i], name, NULL, 1)) {
			if (how != NULL)
				*how = SV_EMODEL_MATCH_EXACT;
			return &codecs[i];
		}
	}
	for (size_t i = 0; i < NCODECS; i++)
		if (row_matches(&codecs[i], name, &best_len, 0))
			best = &codecs[i];
	if (best == NULL)
		return &codecs[0];
	if (how != NULL)
		*how = SV_EMODEL_MATCH_SUBSTRING;
	return best;
}

double sv_emodel_id(double one_way_ms)
{
	double d = isnan(one_way_ms) || one_way_ms < 0 ? 0.0 : one_way_ms;
	double id = 0.024 * d;
	if (d > 177.3)
		id += 0.11 * (d - 177.3);
	return id;
}

double sv_emodel_ie_eff(double ie, double bpl, double loss_pct)
{
	double p = isnan(loss_pct) || loss_pct < 0 ? 0.0 : loss_pct;
	if (p > 100.0)
		p = 100.0;
	if (p == 0.0)
		return ie;
	return ie + (95.0 - ie) * p / (p + bpl);
}

double sv_emodel_r(const struct sv_emodel_codec *codec, double rtt_ms, double loss_pct)
{
	if (codec == NULL)
		codec = &codecs[0];
	return SV_EMODEL_R0 - sv_emodel_id(rtt_ms / 2.0) -
	       sv_emodel_ie_eff(codec->ie, codec->bpl, loss_pct);
}

double sv_emodel_mos_from_r(double r)
{
	if (isnan(r) || r < 0.0)
		return 1.0;
	if (r > 100.0)
		return 4.5;
	double mos = 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6;
	if (mos < 1.0)
		mos = 1.0;
	if (mos > 4.5)
		mos = 4.5;
	return mos;
}

double sv_emodel_mos(const struct sv_emodel_codec *codec, double rtt_ms, double loss_pct)
{
	return sv_emodel_mos_from_r(sv_emodel_r(codec, rtt_ms, loss_pct));
}
