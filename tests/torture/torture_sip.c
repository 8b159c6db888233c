/*
 * torture_sip: SIP framing and parsing of every sip corpus input, and the SDP
 * parser on each message's body and on every sdp corpus input. Both parsers
 * are zero-copy (slices into the input) and allocate nothing today: this
 * program keeps it so, and checks any allocation they grow.
 */
#include "torture.h"

#include "base/errors.h"
#include "proto/sdp.h"
#include "proto/sip.h"

#include <string.h>

static void sdp(const uint8_t *data, size_t len)
{
	struct sv_sdp s;
	if (torture_step(sv_sdp_parse(data, len, &s)) != 0)
		return;
	struct sv_str name;
	uint32_t rate = 0;
	if (torture_step(sv_sdp_codec(&s, &name, &rate)) == 0) {
		torture_output(name.p, name.len);
		torture_output(&rate, sizeof(rate));
	}
	const struct sv_sdp_media *m = sv_sdp_audio(&s);
	if (m != NULL) {
		struct sv_sdp_endpoint ep;
		memset(&ep, 0, sizeof(ep));
		if (torture_step(sv_sdp_rtcp(&s, m, &ep)) == 0)
			torture_output(&ep.port, sizeof(ep.port));
		int dir = (int)sv_sdp_media_dir(&s, m);
		torture_output(&dir, sizeof(dir));
	}
}

static void sip(const uint8_t *data, size_t len)
{
	struct sv_sip_msg m;
	if (torture_step(sv_sip_parse(data, len, &m)) != 0)
		return;
	torture_output(m.call_id.p, m.call_id.len);
	torture_output(m.via.branch.p, m.via.branch.len);
	torture_output(&m.msg_len, sizeof(m.msg_len));
	struct sv_str body;
	if (torture_step(sv_sip_sdp_body(&m, &body)) == 0)
		sdp((const uint8_t *)body.p, body.len);
}

static int op_sip(const uint8_t *data, size_t len)
{
	sip(data, len);
	size_t off = 0;
	while (off < len) {
		size_t mlen = 0, skip = 0;
		int rc = torture_step(sv_sip_frame(data + off, len - off, &mlen, &skip));
		if (rc == 0) {
			sip(data + off + skip, mlen);
			off += skip + mlen;
		} else if (rc == SV_E_PARSE) {
			off += sv_sip_resync(data + off, len - off);
		} else {
			break;
		}
	}
	return torture_rc();
}

static int op_sdp(const uint8_t *data, size_t len)
{
	sdp(data, len);
	return torture_rc();
}

int main(void)
{
	torture_init("sip");
	torture_dir("tests/fuzz/corpus/sip", op_sip, 20, 65536);
	torture_dir("tests/fuzz/corpus/sdp", op_sdp, 20, 65536);
	return torture_done();
}
