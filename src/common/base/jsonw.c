#include "base/jsonw.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..left), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int sv_jsonw_string(struct sv_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	/* worst case: every byte a \u00XX escape */
	if (len > (SIZE_MAX - 3) / 6 || sv_buf_reserve(out, len * 6 + 3) != 0)
		return -ENOMEM;
	uint8_t *o = out->data + out->len;
	*o++ = '"';
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t n = utf8_seq(p + i, len - i);
			if (n == 0) {
				/* out->len untouched; restore the terminator overwritten */
				out->data[out->len] = '\0';
				return -EINVAL;
			}
			for (size_t k = 0; k < n; k++)
				*o++ = p[i + k];
			i += n;
			continue;
		}
		i++;
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = c;
		} else if (c >= 0x20) {
			*o++ = c;
		} else {
			*o++ = '\\';
			switch (c) {
			case '\b':
				*o++ = 'b';
				break;
			case '\f':
				*o++ = 'f';
				break;
			case '\n':
				*o++ = 'n';
				break;
			case '\r':
				*o++ = 'r';
				break;
			case '\t':
				*o++ = 't';
				break;
			default:
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = hex[c >> 4];
				*o++ = hex[c & 15];
			}
		}
	}
	*o++ = '"';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

size_t sv_jsonw_real(double v, int precision, char *buf, size_t cap)
{
	if (cap < 3)
		return 0;
	int n = snprintf(buf, cap - 2, "%.*g", precision, v);
	if (n < 0 || (size_t)n >= cap - 2)
		return 0;
	for (char *c = buf; *c != '\0'; c++)
		if (*c == ',')
			*c = '.'; /* a locale's decimal comma */
	char *e = strchr(buf, 'e');
	if (strchr(buf, '.') == NULL && e == NULL) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	if (e != NULL) {
		char *from = e + 1, *to = e + 1;
		if (*from == '+') {
			from++;
		} else if (*from == '-') {
			from++;
			to++;
		}
		while (*from == '0' && from[1] != '\0')
			from++;
		memmove(to, from, strlen(from) + 1);
		n = (int)strlen(buf);
	}
	return (size_t)n;
}
