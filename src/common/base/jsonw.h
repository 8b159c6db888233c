/*
 * jsonw.h - pieces of JSON text written straight into an sv_buf, for the
 * documents the server writes at high rate (rtcp.json, quality.json) without
 * building jansson trees. The escaping matches jansson's json_dumps(): '"' and
 * '\\' escaped, \b \f \n \r \t, other control bytes as \u00XX (uppercase hex),
 * everything else (valid UTF-8) as is.
 */
#ifndef SV_JSONW_H
#define SV_JSONW_H

#include "base/buf.h"

#include <stddef.h>

/* Appends s[0..len) as a JSON string literal (quotes included; NUL bytes
 * become \u0000). Returns 0, -EINVAL when s is not valid UTF-8 (jansson's
 * rules: no overlong forms, no surrogates, nothing above U+10FFFF), or
 * -ENOMEM; out is unchanged on error. */
int sv_jsonw_string(struct sv_buf *out, const char *s, size_t len);

/* Formats the real v as jansson's json_dumps() does at this precision: %.Pg,
 * '.' whatever the locale, ".0" added when it would read back as an integer,
 * the exponent without '+' and leading zeros. Writes a NUL-terminated text to
 * buf (cap bytes) and returns its length, or 0 when it does not fit. */
size_t sv_jsonw_real(double v, int precision, char *buf, size_t cap);

#endif
