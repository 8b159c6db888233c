/*
 * gz.h - gzip in memory and whole-file reads that accept gzip or plain bytes.
 */
#ifndef SV_GZ_H
#define SV_GZ_H

#include "base/buf.h"

#include <stddef.h>

/* Appends the gzip (RFC 1952) encoding of in[0..len) to out. 0, -ENOMEM or -EIO. */
int sv_gz_compress(const void *in, size_t len, struct sv_buf *out);

/* Appends the decompression of a gzip member (or concatenated members) to out,
 * refusing to produce more than max_out bytes (SV_E_TOOBIG). SV_E_PARSE on
 * corrupt input, SV_E_TRUNC when the stream ends early. */
int sv_gz_decompress(const void *in, size_t len, size_t max_out, struct sv_buf *out);

/* Reads a whole file into out; when it starts with the gzip magic it is
 * decompressed. max_out bounds the result. Returns 0 or -errno / SV_E_*. */
int sv_gz_read_file(const char *path, size_t max_out, struct sv_buf *out);

#endif
