/*
 * fuzz_rtcp - sv_rtcp_parse() on arbitrary datagrams. Every accepted datagram
 * is re-encoded (SR/RR, XR VoIP metrics) and parsed again; the report values
 * must survive the round trip.
 */
#include "base/buf.h"
#include "proto/rtcp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const struct sv_rtcp_compound *c)
{
	struct sv_buf b;
	sv_buf_init(&b);
	for (size_t i = 0; i < c->n_packets; i++) {
		const struct sv_rtcp_packet *p = &c->packets[i];
		if (p->pt == SV_RTCP_SR || p->pt == SV_RTCP_RR)
			if (sv_rtcp_encode_report(&b, p->ssrc, p->has_sender_info ? &p->si : NULL,
			                          &c->blocks[p->first_block], p->n_blocks) != 0)
				abort();
		if (p->pt == SV_RTCP_XR && p->n_xr > 0)
			if (sv_rtcp_encode_xr_voip(&b, p->ssrc, &c->xr[p->first_xr], p->n_xr) != 0)
				abort();
	}
	if (b.len > 0) {
		struct sv_rtcp_compound *again = malloc(sizeof(*again));
		if (again == NULL)
			abort();
		if (sv_rtcp_parse(b.data, b.len, again) != 0)
			abort();
		size_t nb = c->n_blocks < again->n_blocks ? c->n_blocks : again->n_blocks;
		for (size_t i = 0; i < nb; i++) {
			const struct sv_rtcp_report_block *x = &c->blocks[i],
			                                  *y = &again->blocks[i];
			if (x->ssrc != y->ssrc || x->cumulative_lost != y->cumulative_lost ||
			    x->fraction_lost != y->fraction_lost || x->jitter != y->jitter ||
			    x->lsr != y->lsr || x->dlsr != y->dlsr ||
			    x->ext_highest_seq != y->ext_highest_seq)
				abort();
		}
		for (size_t i = 0; i < c->n_xr && i < again->n_xr; i++)
			if (memcmp(&c->xr[i].ssrc, &again->xr[i].ssrc, sizeof(uint32_t)) != 0 ||
			    c->xr[i].mos_cq != again->xr[i].mos_cq ||
			    c->xr[i].jb_abs_max != again->xr[i].jb_abs_max)
				abort();
		free(again);
	}
	sv_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_rtcp_compound *c = malloc(sizeof(*c));
	if (c == NULL)
		return 0;
	(void)sv_rtcp_looks_like(data, size);
	if (sv_rtcp_parse(data, size, c) == 0) {
		for (size_t i = 0; i < c->n_blocks; i++)
			(void)sv_rtcp_block_packet(c, i);
		for (size_t i = 0; i < c->n_sdes; i++)
			if (strlen(c->sdes[i].cname) != c->sdes[i].cname_len)
				abort();
		check_roundtrip(c);
	}
	if (size >= 12) {
		double ms;
		(void)sv_rtcp_rtt_ms(sv_be32(data), sv_be32(data + 4), sv_be32(data + 8), &ms);
		(void)sv_rtcp_ntp_to_unix_ns(sv_be64(data));
	}
	free(c);
	return 0;
}
