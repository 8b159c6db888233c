/*
 * b64.h - base64 (RFC 4648 section 4, standard alphabet, with padding).
 *
 * Used for the "raw" field of rtcp.json. Decoding is strict: the input length
 * must be a multiple of 4, only the alphabet and at most two trailing '='
 * are allowed, no whitespace, and the unused bits of the last group must be
 * zero (so every accepted input is the one encoding of its bytes).
 */
#ifndef SV_B64_H
#define SV_B64_H

#include "base/buf.h"

#include <stddef.h>

/* Length of the encoding of n bytes (without a NUL); 0 when it would
 * overflow size_t. */
size_t sv_b64_encoded_len(size_t n);

/* Appends the encoding of in[0..len) to out (NUL-terminated past its length).
 * 0 or -ENOMEM; out unchanged on error. */
int sv_b64_encode(const void *in, size_t len, struct sv_buf *out);

/* Appends the bytes that in[0..len) encodes to out. 0, SV_E_PARSE (bad
 * character, length or padding) or -ENOMEM; out unchanged on error. */
int sv_b64_decode(const char *in, size_t len, struct sv_buf *out);

#endif
