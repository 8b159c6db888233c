/*
 * fuzz_hep - sv_hep_parse() on arbitrary packets, with every type-5 payload
 * pushed through sv_hep_rtcp() (binary or JSON RTCP). Inputs starting with
 * '{' or '[' also go straight to the RTCP JSON parser. Accepted packets are
 * re-encoded and parsed again; the fields must survive.
 */
#include "base/buf.h"
#include "proto/hep.h"
#include "proto/rtcp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_slice(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_rtcp_compound *c = malloc(sizeof(*c));
	if (c == NULL)
		return 0;
	if (size > 0 && (data[0] == '{' || data[0] == '['))
		(void)sv_hep_rtcp_json_parse((const char *)data, size, c);

	struct sv_buf scratch, enc, scratch2;
	sv_buf_init(&scratch);
	sv_buf_init(&enc);
	sv_buf_init(&scratch2);
	struct sv_hep h, h2;
	size_t flen;
	(void)sv_hep_frame_len(data, size, &flen);
	if (sv_hep_parse(data, size, &h, &scratch) == 0) {
		if (h.total_len > size)
			abort();
		(void)sv_hep_rtcp(&h, c);
		int rc = sv_hep_encode(&h, &enc);
		if (rc == 0) {
			if (sv_hep_parse(enc.data, enc.len, &h2, &scratch2) != 0)
				abort();
			if (h2.capture_id != h.capture_id || h2.proto_type != h.proto_type ||
			    h2.src_port != h.src_port || h2.ts_usec != h.ts_usec ||
			    h2.compressed != h.compressed)
				abort();
			same_slice(h.payload, h.payload_len, h2.payload, h2.payload_len);
			same_slice(h.correlation_id, h.correlation_id_len, h2.correlation_id,
			           h2.correlation_id_len);
			same_slice(h.auth_key, h.auth_key_len, h2.auth_key, h2.auth_key_len);
		}
	}
	sv_buf_release(&scratch);
	sv_buf_release(&scratch2);
	sv_buf_release(&enc);
	free(c);
	return 0;
}
