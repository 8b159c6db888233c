/*
 * emodel.h - the simplified ITU-T G.107 E-model used for quality.json.
 *
 * R = 93.2 - Id - Ie_eff, with
 *   d      = one-way delay in ms (rtt / 2),
 *   Id     = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)      (H = Heaviside step),
 *   Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl)           (Ppl = packet loss in %),
 * and MOS = 1 + 0.035 R + R (R - 60) (100 - R) 7e-6 (G.107 Annex B), 1 for
 * R < 0, 4.5 for R > 100, always clamped to [1, 4.5].
 *
 * Codec parameters (Ie, Bpl) come from a static table: the configuration
 * guide's "Codec Support" table (ITU-T G.113 Appendix I values), plus a few
 * rows of ours the guide lacks (docs/formats.md section 3). Every function
 * here is pure and never fails.
 */
#ifndef SV_EMODEL_H
#define SV_EMODEL_H

#include <stddef.h>

/* The default transmission rating with every G.107 parameter at its default. */
#define SV_EMODEL_R0 93.2

/* One row: a codec, the names it is looked up by, its Ie and Bpl. */
struct sv_emodel_codec {
	const char *name;           /* the guide's codec name, e.g. "G.729"; ours for extensions */
	const char *const *aliases; /* lower-case lookup keys, NULL-terminated, e.g. "g729" */
	double ie;                  /* equipment impairment factor */
	double bpl;                 /* packet-loss robustness factor (> 0) */
	int extension;              /* 1: a row of ours that the guide's table lacks */
};

/* How sv_emodel_codec_lookup() found its answer. */
enum sv_emodel_match {
	SV_EMODEL_MATCH_EXACT = 0,     /* the name equals a codec name or alias (any case) */
	SV_EMODEL_MATCH_SUBSTRING = 1, /* a codec name or alias occurs in it (longest wins) */
	SV_EMODEL_MATCH_FALLBACK = 2,  /* nothing matched: the G.711 defaults (Ie 0, Bpl 25) */
};

/*
 * Looks a codec name up as the guide says: case-insensitively by exact match
 * on every row's name and aliases, then by the longest name or alias contained
 * in it (so "AMR-WB/16000" is AMR-WB, not AMR, and "G7221" is our g7221 row,
 * not G.722), else the G.711 mu-law row (0/25). Ties go to the earlier row.
 * name may be NULL or empty (fallback). how may be NULL. Returns a pointer
 * into the static table, never NULL, valid for the life of the program.
 */
const struct sv_emodel_codec *sv_emodel_codec_lookup(const char *name, enum sv_emodel_match *how);

/* The whole static table (for docs and tests); *n receives its length. */
const struct sv_emodel_codec *sv_emodel_codec_table(size_t *n);

/* Delay impairment Id for a one-way delay in ms (negative or NaN counts as 0). */
double sv_emodel_id(double one_way_ms);

/* Effective equipment impairment for loss_pct in percent (clamped to [0, 100]). */
double sv_emodel_ie_eff(double ie, double bpl, double loss_pct);

/* R for a codec, a round-trip time in ms and a loss in percent. */
double sv_emodel_r(const struct sv_emodel_codec *codec, double rtt_ms, double loss_pct);

/* MOS (G.107 Annex B) for a rating R, clamped to [1, 4.5]; NaN gives 1. */
double sv_emodel_mos_from_r(double r);

/* sv_emodel_mos_from_r(sv_emodel_r(codec, rtt_ms, loss_pct)). */
double sv_emodel_mos(const struct sv_emodel_codec *codec, double rtt_ms, double loss_pct);

#endif
