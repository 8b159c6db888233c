/*
 * torture_rtcp: every rtcp corpus datagram parsed (allocation-free), then its
 * reports, XR VoIP metrics, SDES and BYE re-encoded into a growing buffer.
 */
#include "torture.h"

#include "base/buf.h"
#include "proto/rtcp.h"

#include <stdlib.h>

static struct sv_rtcp_compound c;

static int op(const uint8_t *data, size_t len)
{
	struct sv_buf b;
	sv_buf_init(&b);
	if (torture_step(sv_rtcp_parse(data, len, &c)) == 0) {
		for (size_t i = 0; i < c.n_packets; i++) {
			const struct sv_rtcp_packet *p = &c.packets[i];
			if (p->pt == SV_RTCP_SR || p->pt == SV_RTCP_RR)
				torture_step(sv_rtcp_encode_report(
				    &b, p->ssrc, p->has_sender_info ? &p->si : NULL,
				    &c.blocks[p->first_block], p->n_blocks));
			if (p->pt == SV_RTCP_XR && p->n_xr > 0)
				torture_step(sv_rtcp_encode_xr_voip(&b, p->ssrc, &c.xr[p->first_xr],
				                                    p->n_xr));
		}
		for (size_t i = 0; i < c.n_sdes; i++)
			torture_step(
			    sv_rtcp_encode_sdes_cname(&b, c.sdes[i].ssrc, c.sdes[i].cname));
		uint32_t ssrcs[SV_RTCP_MAX_BYE];
		for (size_t i = 0; i < c.n_bye; i++)
			ssrcs[i] = c.bye[i].ssrc;
		if (c.n_bye > 0)
			torture_step(sv_rtcp_encode_bye(&b, ssrcs, c.n_bye));
		torture_output(b.data, b.len);
	}
	sv_buf_release(&b);
	return torture_rc();
}

int main(void)
{
	torture_init("rtcp");
	torture_dir("tests/fuzz/corpus/rtcp", op, 20, 65536);
	return torture_done();
}
