/*
 * base64 invariants: decode(encode(x)) == x, and anything the strict decoder
 * accepts is the one encoding of its bytes (encode(decode(s)) == s).
 */
#include "base/b64.h"
#include "base/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_buf e, d;
	sv_buf_init(&e);
	sv_buf_init(&d);
	check(sv_b64_encode(data, size, &e) == 0);
	check(e.len == sv_b64_encoded_len(size));
	check(sv_b64_decode((char *)e.data, e.len, &d) == 0);
	check(d.len == size && (size == 0 || memcmp(d.data, data, size) == 0));
	sv_buf_reset(&e);
	sv_buf_reset(&d);
	if (sv_b64_decode((const char *)data, size, &d) == 0) {
		check(sv_b64_encode(d.data, d.len, &e) == 0);
		check(e.len == size && (size == 0 || memcmp(e.data, data, size) == 0));
	} else {
		check(d.len == 0);
	}
	sv_buf_release(&e);
	sv_buf_release(&d);
	return 0;
}
