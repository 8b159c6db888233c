/*
 * emodel.c - simplified G.107 E-model and the codec impairment table.
 */
#include "call/emodel.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/*
 * Ie / Bpl per codec. Sources are in docs/formats.md; provisional rows are
 * our own choice where ITU-T G.113 Appendix I gives no value. The first row
 * is the fallback (G.711 with packet-loss concealment).
 */
static const struct sv_emodel_codec codecs[] = {
    {"g711", 0.0, 25.1, 0},    {"pcmu", 0.0, 25.1, 0},     {"pcma", 0.0, 25.1, 0},
    {"g726", 7.0, 25.1, 1},    {"g726-16", 50.0, 25.1, 1}, {"g726-24", 25.0, 25.1, 1},
    {"g726-40", 2.0, 25.1, 1}, {"g729", 11.0, 19.0, 0},    {"g729a", 11.0, 19.0, 0},
    {"g723", 15.0, 16.1, 0},   {"g722", 0.0, 25.1, 1},     {"g7221", 0.0, 25.1, 1},
    {"gsm", 20.0, 10.0, 1},    {"gsm-efr", 5.0, 10.0, 0},  {"amr", 5.0, 10.0, 1},
    {"amr-wb", 0.0, 10.0, 1},  {"ilbc", 11.0, 32.0, 1},    {"opus", 0.0, 25.1, 1},
    {"speex", 11.0, 19.0, 1},
};

#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

const struct sv_emodel_codec *sv_emodel_codec_table(size_t *n)
{
	*n = NCODECS;
	return codecs;
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
		if (strcasecmp(name, codecs[i].name) == 0) {
			if (how != NULL)
				*how = SV_EMODEL_MATCH_EXACT;
			return &codecs[i];
		}
	}
	for (size_t i = 0; i < NCODECS; i++) {
		size_t len = strlen(codecs[i].name);
		if (len > best_len && strcasestr(name, codecs[i].name) != NULL) {
			best = &codecs[i];
			best_len = len;
		}
	}
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
