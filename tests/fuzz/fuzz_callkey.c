/*
 * Checks the call_key invariants on arbitrary input and aborts when one
 * breaks: a key is never empty, never holds '/' or a byte outside
 * A-Z a-z 0-9 @ . _ - %, is never "." or "..", and decodes back to the
 * Call-ID; every key the decoder accepts re-encodes to itself; object paths
 * parse back into their date and key.
 */
#include "base/buf.h"
#include "call/callkey.h"
#include "base/errors.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

static int key_byte(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '@' || c == '.' || c == '_' || c == '-' || c == '%';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct sv_buf k, d, p;
	sv_buf_init(&k);
	sv_buf_init(&d);
	sv_buf_init(&p);

	/* The input as a Call-ID. */
	int rc = sv_callkey_encode(s, size, &k);
	if (size == 0) {
		check(rc == -EINVAL && k.len == 0);
	} else {
		check(rc == 0 && k.len >= size && k.len <= 3 * size);
		check(memchr(k.data, '/', k.len) == NULL);
		for (size_t i = 0; i < k.len; i++)
			check(key_byte(k.data[i]));
		check(!(k.len == 1 && k.data[0] == '.'));
		check(!(k.len == 2 && k.data[0] == '.' && k.data[1] == '.'));
		check(sv_callkey_decode((char *)k.data, k.len, &d) == 0);
		check(d.len == size && memcmp(d.data, data, size) == 0);
	}

	/* The input as a key: accepted keys are canonical. */
	sv_buf_reset(&k);
	sv_buf_reset(&d);
	if (sv_callkey_decode(s, size, &d) == 0) {
		check(sv_callkey_encode((char *)d.data, d.len, &k) == 0);
		check(k.len == size && memcmp(k.data, data, size) == 0);
	} else {
		check(d.len == 0);
	}

	/* The input as an object key. */
	struct sv_callkey_path cp;
	if (sv_callkey_parse_path(s, size, &cp) == 0) {
		check(cp.call_key >= s && cp.call_key + cp.call_key_len <= s + size);
		check(cp.name + cp.name_len == s + size);
		sv_buf_reset(&d);
		check(sv_callkey_decode(cp.call_key, cp.call_key_len, &d) == 0);
	}
	unsigned n;
	if (sv_callkey_kind(s, size, &n) == SV_CALLKEY_LOG) {
		char name[16];
		check(sv_callkey_log_name(n, name) == 0);
		check(strlen(name) == size && memcmp(name, s, size) == 0);
	}

	/* First 8 bytes as a timestamp, the rest as a Call-ID: the path parses
	 * back to the same date and Call-ID. */
	if (size > 8) {
		uint64_t ts;
		memcpy(&ts, data, 8);
		check(sv_callkey_object_path(&p, ts, s + 8, size - 8, "quality.json") == 0);
		check(sv_callkey_parse_path((char *)p.data, p.len, &cp) == 0);
		int y, m, day;
		sv_callkey_date(ts, &y, &m, &day);
		check(cp.year == y && cp.month == m && cp.day == day);
		check(sv_callkey_kind(cp.name, cp.name_len, NULL) == SV_CALLKEY_QUALITY);
		sv_buf_reset(&d);
		check(sv_callkey_decode(cp.call_key, cp.call_key_len, &d) == 0);
		check(d.len == size - 8 && memcmp(d.data, data + 8, size - 8) == 0);
	}
	sv_buf_release(&k);
	sv_buf_release(&d);
	sv_buf_release(&p);
	return 0;
}
