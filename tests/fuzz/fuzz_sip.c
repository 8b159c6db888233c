/*
 * fuzz_sip: sv_sip_parse on the input, then the input as a stream through
 * sv_sip_frame/sv_sip_resync, parsing every framed message.
 */
#include "base/errors.h"
#include "proto/sip.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(struct sv_str s)
{
	/* Read every byte of a slice so ASan checks it lies inside the input. */
	volatile unsigned char sink = 0;
	for (size_t i = 0; i < s.len; i++)
		sink ^= (unsigned char)s.p[i];
	(void)sink;
}

static void parse_one(const uint8_t *data, size_t size)
{
	struct sv_sip_msg m;
	if (sv_sip_parse(data, size, &m) != 0)
		return;
	touch(m.method_name);
	touch(m.ruri);
	touch(m.reason);
	touch(m.call_id);
	touch(m.from.uri);
	touch(m.from.display);
	touch(m.from.tag);
	touch(m.to.params);
	touch(m.via.host);
	touch(m.via.branch);
	touch(m.contact.uri);
	touch(m.body);
	if (m.msg_len > size || m.header_len > m.msg_len)
		abort();
	struct sv_str v;
	if (sv_sip_header(&m, "Call-ID", &v) == 0)
		touch(v);
	if (sv_sip_sdp_body(&m, &v) == 0)
		touch(v);
	(void)sv_sip_method_name(m.method);
	(void)sv_sip_is_dialog_creating(m.cseq_method);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_one(data, size);
	size_t off = 0;
	while (off < size) {
		size_t mlen, skip;
		int rc = sv_sip_frame(data + off, size - off, &mlen, &skip);
		if (skip > size - off)
			abort();
		if (rc == 0) {
			if (mlen == 0 || mlen > size - off - skip)
				abort();
			parse_one(data + off + skip, mlen);
			off += skip + mlen;
		} else if (rc == SV_E_PARSE) {
			size_t drop = sv_sip_resync(data + off, size - off);
			if (drop == 0 || drop > size - off)
				abort();
			off += drop;
		} else {
			break;
		}
	}
	return 0;
}
