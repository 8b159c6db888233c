#include "base/b64.h"

#include "base/errors.h"

#include <errno.h>
#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sv_b64_encoded_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);
	if (groups > SIZE_MAX / 4)
		return 0;
	return groups * 4;
}

int sv_b64_encode(const void *in, size_t len, struct sv_buf *out)
{
	const uint8_t *p = in;
	size_t n = sv_b64_encoded_len(len);
	int rc;
	if (n == 0 && len > 0)
		return -ENOMEM;
	if ((rc = sv_buf_reserve(out, n)) != 0)
		return rc;
	uint8_t *w = out->data + out->len;
	size_t i = 0;
	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*w++ = (uint8_t)alphabet[v >> 18];
		*w++ = (uint8_t)alphabet[(v >> 12) & 63];
		*w++ = (uint8_t)alphabet[(v >> 6) & 63];
		*w++ = (uint8_t)alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*w++ = (uint8_t)alphabet[v >> 18];
		*w++ = (uint8_t)alphabet[(v >> 12) & 63];
		*w++ = '=';
		*w++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*w++ = (uint8_t)alphabet[v >> 18];
		*w++ = (uint8_t)alphabet[(v >> 12) & 63];
		*w++ = (uint8_t)alphabet[(v >> 6) & 63];
		*w++ = '=';
	}
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sv_b64_decode(const char *in, size_t len, struct sv_buf *out)
{
	int rc;
	if (len % 4 != 0 || (len > 0 && in == NULL))
		return SV_E_PARSE;
	if (len == 0)
		return sv_buf_reserve(out, 0);
	size_t pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
	if ((rc = sv_buf_reserve(out, len / 4 * 3)) != 0)
		return rc;
	uint8_t *w = out->data + out->len;
	for (size_t i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		size_t real = last ? 4 - pad : 4;
		uint32_t v = 0;
		for (size_t k = 0; k < 4; k++) {
			int s = k < real ? sextet((unsigned char)in[i + k]) : 0;
			if (s < 0)
				goto bad;
			v = v << 6 | (uint32_t)s;
		}
		*w++ = (uint8_t)(v >> 16);
		if (real >= 3)
			*w++ = (uint8_t)(v >> 8);
		if (real == 4)
			*w++ = (uint8_t)v;
		/* The bits a short group does not use must be zero. */
		if ((real == 2 && (v & 0xffff) != 0) || (real == 3 && (v & 0xff) != 0))
			goto bad;
	}
	out->len = (size_t)(w - out->data);
	out->data[out->len] = '\0';
	return 0;
bad:
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return SV_E_PARSE;
}
