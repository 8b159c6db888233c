/*
 * torture_wire: every wire corpus stream through the streaming decoder in
 * 7-byte chunks (so frames split across feeds are copied into its buffer);
 * each frame is decoded by type and re-encoded.
 */
#include "torture.h"

#include "base/buf.h"
#include "proto/wire.h"

static void reencode(const struct sv_wire_frame *f, struct sv_buf *b)
{
	switch (f->type) {
	case SV_WIRE_HANDSHAKE: {
		struct sv_wire_handshake m;
		if (torture_step(sv_wire_decode_handshake(f, &m)) == 0)
			torture_step(sv_wire_encode_handshake(b, f->seq, &m));
		break;
	}
	case SV_WIRE_DATA_SIP: {
		struct sv_wire_sip m;
		if (torture_step(sv_wire_decode_sip(f, &m)) == 0)
			torture_step(sv_wire_encode_sip(b, f->seq, &m));
		break;
	}
	case SV_WIRE_DATA_RTCP:
	case SV_WIRE_DATA_RTCP_ADDR: {
		struct sv_wire_rtcp m;
		if (torture_step(sv_wire_decode_rtcp(f, &m)) == 0)
			torture_step(sv_wire_encode_rtcp(b, f->seq, &m));
		break;
	}
	case SV_WIRE_DATA_LOG: {
		struct sv_wire_log m;
		if (torture_step(sv_wire_decode_log(f, &m)) == 0)
			torture_step(sv_wire_encode_log(b, f->seq, &m));
		break;
	}
	case SV_WIRE_DATA_QUALITY: {
		struct sv_wire_quality m;
		if (torture_step(sv_wire_decode_quality(f, &m)) == 0)
			torture_step(sv_wire_encode_quality(b, f->seq, &m));
		break;
	}
	case SV_WIRE_AGENT_STATS: {
		struct sv_wire_stats m;
		if (torture_step(sv_wire_decode_stats(f, &m)) == 0)
			torture_step(sv_wire_encode_stats(b, f->seq, &m));
		break;
	}
	default:
		torture_step(sv_wire_encode_raw(b, f->type, f->seq, f->payload, f->len));
		break;
	}
}

static int op(const uint8_t *data, size_t len)
{
	struct sv_wire_decoder d;
	struct sv_wire_frame f;
	struct sv_buf b;
	size_t pos = 0;
	int rc = 0;

	sv_wire_decoder_init(&d);
	sv_buf_init(&b);
	while (pos < len && rc >= 0) {
		size_t chunk = len - pos < 7 ? len - pos : 7;
		if (torture_step(sv_wire_decoder_feed(&d, data + pos, chunk)) != 0)
			break;
		while ((rc = torture_step(sv_wire_decoder_next(&d, &f))) == 1)
			reencode(&f, &b);
		pos += chunk;
	}
	torture_output(b.data, b.len);
	sv_wire_decoder_release(&d);
	sv_buf_release(&b);
	return torture_rc();
}

int main(void)
{
	torture_init("wire");
	torture_dir("tests/fuzz/corpus/wire", op, 30, 65536);
	return torture_done();
}
