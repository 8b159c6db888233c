#include "base/gz.h"

#include "base/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/*
 * Window and hash sizes for an input of len bytes. zlib's defaults (32 KiB
 * window, memLevel 8) allocate about 256 KiB and clear a 64 KiB hash table
 * per stream, which costs far more than compressing the 1-4 KB objects of a
 * call. A window of at least len + 262 bytes (MIN_LOOKAHEAD) reaches every
 * match the default window would, so the output is the same or within a
 * few bytes (a smaller memLevel also means smaller blocks); large inputs
 * keep the defaults. Any inflater reads the result (RFC 1951 allows any
 * window up to 32 KiB).
 */
static void deflate_params(size_t len, int *wbits, int *mem_level)
{
	int wb = 9; /* zlib's smallest window for deflate */
	while (wb < 15 && ((size_t)1 << wb) < len + 262)
		wb++;
	*wbits = wb;
	*mem_level = wb - 7 < 2 ? 2 : wb - 7;
}

int sv_gz_compress(const void *in, size_t len, struct sv_buf *out)
{
	z_stream zs;
	int wbits, mem_level;
	memset(&zs, 0, sizeof(zs));
	deflate_params(len, &wbits, &mem_level);
	/* windowBits + 16 selects the gzip wrapper. Level 1: on a call's
	 * objects about 30 % less CPU than the default level 6 for about 5 %
	 * more bytes (docs/performance.md). */
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, wbits + 16, mem_level,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	int rc = 0;
	zs.next_in = (Bytef *)(uintptr_t)in;
	size_t left = len;
	int flush;
	do {
		uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
		zs.avail_in = chunk;
		left -= chunk;
		flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
		do {
			if ((rc = sv_buf_reserve(out, 16384)) != 0)
				goto out;
			zs.next_out = out->data + out->len;
			zs.avail_out = (uInt)(out->cap - out->len - 1);
			size_t before = zs.avail_out;
			int zr = deflate(&zs, flush);
			if (zr == Z_STREAM_ERROR) {
				rc = -EIO;
				goto out;
			}
			out->len += before - zs.avail_out;
		} while (zs.avail_out == 0);
	} while (flush != Z_FINISH);
out:
	deflateEnd(&zs);
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return rc;
}

int sv_gz_decompress(const void *in, size_t len, size_t max_out, struct sv_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK) /* +32: gzip or zlib header */
		return -ENOMEM;
	const uint8_t *p = in;
	size_t left = len, produced = 0;
	int rc = 0, zr = Z_OK;
	zs.next_in = (Bytef *)(uintptr_t)p;
	zs.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
	left -= zs.avail_in;
	for (;;) {
		if ((rc = sv_buf_reserve(out, 16384)) != 0)
			goto out;
		zs.next_out = out->data + out->len;
		zs.avail_out = (uInt)(out->cap - out->len - 1);
		size_t before = zs.avail_out;
		zr = inflate(&zs, Z_NO_FLUSH);
		size_t got = before - zs.avail_out;
		out->len += got;
		produced += got;
		if (produced > max_out) {
			rc = SV_E_TOOBIG;
			goto out;
		}
		if (zr == Z_STREAM_END) {
			/* Concatenated gzip members are one stream (RFC 1952 2.2). */
			if (zs.avail_in == 0 && left == 0)
				break;
			if (inflateReset(&zs) != Z_OK) {
				rc = SV_E_PARSE;
				goto out;
			}
			continue;
		}
		if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR) {
			rc = SV_E_PARSE;
			goto out;
		}
		if (zr == Z_MEM_ERROR) {
			rc = -ENOMEM;
			goto out;
		}
		if (zs.avail_in == 0) {
			if (left == 0) {
				if (zr == Z_BUF_ERROR || got == 0) {
					rc = SV_E_TRUNC;
					goto out;
				}
				continue;
			}
			zs.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
			left -= zs.avail_in;
		}
	}
out:
	inflateEnd(&zs);
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return rc;
}

int sv_gz_read_file(const char *path, size_t max_out, struct sv_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	struct sv_buf raw;
	sv_buf_init(&raw);
	int rc = 0;
	size_t n;
	do {
		if ((rc = sv_buf_reserve(&raw, 65536)) != 0)
			goto out;
		n = fread(raw.data + raw.len, 1, raw.cap - raw.len - 1, f);
		raw.len += n;
		if (raw.len > max_out &&
		    !(raw.len >= 2 && raw.data[0] == 0x1f && raw.data[1] == 0x8b)) {
			rc = SV_E_TOOBIG;
			goto out;
		}
	} while (n > 0);
	if (ferror(f)) {
		rc = -EIO;
		goto out;
	}
	if (raw.len >= 2 && raw.data[0] == 0x1f && raw.data[1] == 0x8b)
		rc = sv_gz_decompress(raw.data, raw.len, max_out, out);
	else
		rc = sv_buf_append(out, raw.data, raw.len);
out:
	fclose(f);
	sv_buf_release(&raw);
	return rc;
}
