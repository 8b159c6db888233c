/*
 * fuzz_s3store - the spool file decoder of the S3 store. Whatever the input,
 * decoding must not crash or read out of bounds; a file it accepts must
 * re-encode to exactly the same bytes (so nothing but what was written can
 * ever be uploaded), and its header alone must decode the same way.
 */
#include "base/errors.h"
#include "store/s3store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_s3store_item it, h;
	const uint8_t *payload = NULL;
	int r = sv_s3store_decode(data, size, &it, &payload);
	int rh = sv_s3store_decode_header(data, size, &h);
	if (r != 0) {
		if (r != SV_E_TRUNC && r != SV_E_PARSE)
			abort();
		return 0;
	}
	if (rh != 0 || h.header_len != it.header_len || h.data_len != it.data_len ||
	    payload != data + it.header_len)
		abort();
	struct sv_buf out;
	sv_buf_init(&out);
	if (sv_s3store_encode(it.bucket, it.key, it.content_type, it.content_encoding,
	                      it.created_ns, payload, (size_t)it.data_len, &out) != 0 ||
	    out.len != size || memcmp(out.data, data, size) != 0)
		abort();
	sv_buf_release(&out);
	return 0;
}
