#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "proto/rtcp.h"
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static struct sv_rtcp_compound *new_compound(void)
{
	struct sv_rtcp_compound *c = malloc(sizeof(*c));
	assert_non_null(c);
	return c;
}

static struct sv_rtcp_report_block mkblock(uint32_t ssrc, uint8_t frac, int32_t lost)
{
	struct sv_rtcp_report_block b;
	memset(&b, 0, sizeof(b));
	b.ssrc = ssrc;
	b.fraction_lost = frac;
	b.cumulative_lost = lost;
	b.ext_highest_seq = 0x00021234;
	b.jitter = 57;
	b.lsr = 0xc1708261;
	b.dlsr = 263452;
	return b;
}

static struct sv_rtcp_xr_voip mkvoip(void)
{
	struct sv_rtcp_xr_voip v;
	memset(&v, 0, sizeof(v));
	v.ssrc = 0x11223344;
	v.loss_rate = 12;
	v.discard_rate = 3;
	v.burst_density = 40;
	v.gap_density = 2;
	v.burst_duration = 120;
	v.gap_duration = 5000;
	v.round_trip_delay = 84;
	v.end_system_delay = 40;
	v.signal_level = -18;
	v.noise_level = -62;
	v.rerl = 127;
	v.gmin = 16;
	v.r_factor = 88;
	v.ext_r_factor = 127;
	v.mos_lq = 41;
	v.mos_cq = 40;
	v.rx_config = 0x94;
	v.jb_nominal = 60;
	v.jb_max = 120;
	v.jb_abs_max = 300;
	return v;
}

/* SR (2 blocks) + SDES CNAME + XR VoIP metrics, as a real agent sends. */
static void build_compound(struct sv_buf *b)
{
	struct sv_rtcp_sender_info si = {.ntp_sec = 3711615344u,
	                                 .ntp_frac = 1298222584u,
	                                 .rtp_ts = 32000,
	                                 .packet_count = 200,
	                                 .octet_count = 32000};
	struct sv_rtcp_report_block blocks[2] = {mkblock(0x01932db4, 25, 17),
	                                         mkblock(0x0badcafe, 0, -5)};
	struct sv_rtcp_xr_voip v = mkvoip();
	assert_int_equal(sv_rtcp_encode_report(b, 0x5d931534, &si, blocks, 2), 0);
	assert_int_equal(sv_rtcp_encode_sdes_cname(b, 0x5d931534, "alice@198.51.100.1"), 0);
	assert_int_equal(sv_rtcp_encode_xr_voip(b, 0x5d931534, &v, 1), 0);
}

/* ---------------------------------------------------------------- synthetic */

static void test_roundtrip_sr_sdes_xr(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	build_compound(&b);
	assert_int_equal(b.len, 28 + 48 + 32 + 44);
	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_true(c->compound_ok);
	assert_int_equal(c->source, SV_RTCP_SRC_BINARY);
	assert_int_equal(c->n_packets, 3);
	assert_int_equal(c->packets[0].pt, SV_RTCP_SR);
	assert_int_equal(c->packets[0].count, 2);
	assert_int_equal(c->packets[0].ssrc, 0x5d931534);
	assert_true(c->packets[0].has_sender_info);
	assert_int_equal(c->packets[0].si.ntp_sec, 3711615344u);
	assert_int_equal(c->packets[0].si.ntp_frac, 1298222584u);
	assert_int_equal(c->packets[0].si.packet_count, 200);
	assert_int_equal(c->packets[0].si.octet_count, 32000);
	assert_int_equal(c->packets[0].si.rtp_ts, 32000);
	assert_int_equal(c->n_blocks, 2);
	assert_int_equal(c->blocks[0].ssrc, 0x01932db4);
	assert_int_equal(c->blocks[0].fraction_lost, 25);
	assert_int_equal(c->blocks[0].cumulative_lost, 17);
	assert_int_equal(c->blocks[1].cumulative_lost, -5);
	assert_int_equal(c->blocks[1].ext_highest_seq, 0x00021234);
	assert_int_equal(c->blocks[1].jitter, 57);
	assert_int_equal(c->blocks[1].lsr, 0xc1708261);
	assert_int_equal(c->blocks[1].dlsr, 263452);
	assert_ptr_equal(sv_rtcp_block_packet(c, 1), &c->packets[0]);
	assert_null(sv_rtcp_block_packet(c, 2));

	assert_int_equal(c->packets[1].pt, SV_RTCP_SDES);
	assert_int_equal(c->n_sdes, 1);
	assert_int_equal(c->sdes[0].pkt, 1);
	assert_int_equal(c->sdes[0].ssrc, 0x5d931534);
	assert_string_equal(c->sdes[0].cname, "alice@198.51.100.1");
	assert_int_equal(c->sdes[0].cname_len, 18);

	assert_int_equal(c->packets[2].pt, SV_RTCP_XR);
	assert_int_equal(c->n_xr, 1);
	struct sv_rtcp_xr_voip want = mkvoip();
	const struct sv_rtcp_xr_voip *got = &c->xr[0];
	assert_int_equal(got->pkt, 2);
	assert_false(got->partial);
	assert_int_equal(got->ssrc, want.ssrc);
	assert_int_equal(got->loss_rate, want.loss_rate);
	assert_int_equal(got->discard_rate, want.discard_rate);
	assert_int_equal(got->burst_density, want.burst_density);
	assert_int_equal(got->gap_density, want.gap_density);
	assert_int_equal(got->burst_duration, want.burst_duration);
	assert_int_equal(got->gap_duration, want.gap_duration);
	assert_int_equal(got->round_trip_delay, want.round_trip_delay);
	assert_int_equal(got->end_system_delay, want.end_system_delay);
	assert_int_equal(got->signal_level, -18);
	assert_int_equal(got->noise_level, -62);
	assert_int_equal(got->rerl, 127);
	assert_int_equal(got->gmin, 16);
	assert_int_equal(got->r_factor, 88);
	assert_int_equal(got->ext_r_factor, 127);
	assert_int_equal(got->mos_lq, 41);
	assert_int_equal(got->mos_cq, 40);
	assert_int_equal(got->rx_config, 0x94);
	assert_int_equal(got->jb_nominal, 60);
	assert_int_equal(got->jb_max, 120);
	assert_int_equal(got->jb_abs_max, 300);
	assert_int_equal(c->unknown_packets, 0);
	free(c);
	sv_buf_release(&b);
}

static void test_cumulative_lost_clamped_and_signed(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_rtcp_report_block blocks[3] = {mkblock(1, 0, 0x7fffff), mkblock(2, 0, -0x800000),
	                                         mkblock(3, 0, 50000000)};
	assert_int_equal(sv_rtcp_encode_report(&b, 9, NULL, blocks, 3), 0);
	/* Third block's word: clamped to the largest positive 24-bit value. */
	assert_int_equal(sv_be32(b.data + 8 + 2 * 24 + 4) & 0xffffff, 0x7fffff);
	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_int_equal(c->packets[0].pt, SV_RTCP_RR);
	assert_false(c->packets[0].has_sender_info);
	assert_int_equal(c->blocks[0].cumulative_lost, 0x7fffff);
	assert_int_equal(c->blocks[1].cumulative_lost, -0x800000);
	assert_int_equal(c->blocks[2].cumulative_lost, 0x7fffff);
	/* A raw 0xFFFFFF on the wire is -1. */
	b.data[8 + 5] = 0xff;
	b.data[8 + 6] = 0xff;
	b.data[8 + 7] = 0xff;
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_int_equal(c->blocks[0].cumulative_lost, -1);
	free(c);
	sv_buf_release(&b);
}

static void test_lone_packets_not_compound(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_rtcp_xr_voip v = mkvoip();
	assert_int_equal(sv_rtcp_encode_xr_voip(&b, 77, &v, 1), 0);
	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_false(c->compound_ok);
	assert_int_equal(c->n_xr, 1);
	assert_int_equal(c->packets[0].ssrc, 77);

	/* A lone RR with no blocks is a valid compound by itself. */
	sv_buf_reset(&b);
	assert_int_equal(sv_rtcp_encode_report(&b, 5, NULL, NULL, 0), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_true(c->compound_ok);
	assert_int_equal(c->n_blocks, 0);

	/* SDES first: accepted, flagged as not a proper compound. */
	sv_buf_reset(&b);
	assert_int_equal(sv_rtcp_encode_sdes_cname(&b, 5, "x"), 0);
	assert_int_equal(sv_rtcp_encode_report(&b, 5, NULL, NULL, 0), 0);
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_false(c->compound_ok);
	assert_int_equal(c->n_packets, 2);
	free(c);
	sv_buf_release(&b);
}

static void test_bye_app_feedback_and_other_xr(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_rtcp_encode_report(&b, 5, NULL, NULL, 0), 0);
	/* APP: header, SSRC, name, 4 bytes of data. */
	static const uint8_t app[] = {0x81, 204, 0, 3, 0, 0, 0, 5, 'T', 'E', 'S', 'T', 1, 2, 3, 4};
	assert_int_equal(sv_buf_append(&b, app, sizeof(app)), 0);
	/* RTPFB (205) generic NACK, and PSFB (206) PLI. */
	static const uint8_t nack[] = {0x81, 205, 0, 3, 0, 0, 0, 5, 0, 0, 0, 6, 0, 10, 0, 0};
	static const uint8_t pli[] = {0x81, 206, 0, 2, 0, 0, 0, 5, 0, 0, 0, 6};
	assert_int_equal(sv_buf_append(&b, nack, sizeof(nack)), 0);
	assert_int_equal(sv_buf_append(&b, pli, sizeof(pli)), 0);
	/* XR with a Receiver Reference Time block (BT 4) and a VoIP block. */
	static const uint8_t xr[] = {0x80, 207, 0, 13, 0, 0, 0, 5, 4, 0,
	                             0,    2,   1, 2,  3, 4, 5, 6, 7, 8};
	size_t xr_at = b.len;
	assert_int_equal(sv_buf_append(&b, xr, sizeof(xr)), 0);
	struct sv_rtcp_xr_voip v = mkvoip();
	struct sv_buf vb;
	sv_buf_init(&vb);
	assert_int_equal(sv_rtcp_encode_xr_voip(&vb, 5, &v, 1), 0);
	assert_int_equal(sv_buf_append(&b, vb.data + 8, 36), 0); /* the block only */
	assert_int_equal(sv_be16(b.data + xr_at + 2), (b.len - xr_at) / 4 - 1);
	uint32_t bye[3] = {5, 6, 7};
	assert_int_equal(sv_rtcp_encode_bye(&b, bye, 3), 0);

	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_int_equal(c->n_packets, 6);
	assert_int_equal(c->unknown_packets, 3);
	assert_int_equal(c->skipped_xr_blocks, 1);
	assert_int_equal(c->n_xr, 1);
	assert_int_equal(c->xr[0].jb_abs_max, 300);
	assert_int_equal(c->packets[2].pt, SV_RTCP_RTPFB);
	assert_string_equal(sv_rtcp_pt_name(c->packets[3].pt), "psfb");
	assert_int_equal(c->packets[5].pt, SV_RTCP_BYE);
	assert_int_equal(c->n_bye, 3);
	assert_int_equal(c->bye[2].ssrc, 7);
	assert_int_equal(c->packets[5].first_bye, 0);
	assert_int_equal(c->packets[5].n_bye, 3);
	free(c);
	sv_buf_release(&vb);
	sv_buf_release(&b);
}

static void test_validation_errors(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	build_compound(&b);
	struct sv_rtcp_compound *c = new_compound();
	uint8_t *copy = malloc(b.len + 8);
	assert_non_null(copy);

	assert_int_equal(sv_rtcp_parse(NULL, 0, c), SV_E_TRUNC);
	assert_int_equal(sv_rtcp_parse(b.data, 3, c), SV_E_TRUNC);
	/* Cut inside the first packet, and inside the last one. */
	assert_int_equal(sv_rtcp_parse(b.data, 20, c), SV_E_TRUNC);
	assert_int_equal(sv_rtcp_parse(b.data, b.len - 4, c), SV_E_TRUNC);
	/* Two stray bytes after the last packet (seen in the wild): tolerated,
	 * flagged. Four stray zero bytes are a packet with version 0. */
	memcpy(copy, b.data, b.len);
	memset(copy + b.len, 0, 8);
	assert_int_equal(sv_rtcp_parse(copy, b.len + 2, c), 0);
	assert_true(c->flags & SV_RTCP_F_TRAILING);
	assert_int_equal(c->n_packets, 3);
	assert_int_equal(sv_rtcp_parse(copy, b.len + 4, c), SV_E_PARSE);
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_false(c->flags & SV_RTCP_F_TRAILING);
	/* Version 1 on the second packet. */
	memcpy(copy, b.data, b.len);
	copy[76] = (uint8_t)((copy[76] & 0x3f) | 0x40);
	assert_int_equal(sv_rtcp_parse(copy, b.len, c), SV_E_PARSE);
	/* RC claims 3 blocks, length holds 2. */
	memcpy(copy, b.data, b.len);
	copy[0] = (uint8_t)((copy[0] & 0xe0) | 3);
	assert_int_equal(sv_rtcp_parse(copy, b.len, c), SV_E_PARSE);
	/* Padding bit on the first (not last) packet. */
	memcpy(copy, b.data, b.len);
	copy[0] |= 0x20;
	assert_int_equal(sv_rtcp_parse(copy, b.len, c), SV_E_PARSE);
	/* XR VoIP block with a wrong block length. */
	memcpy(copy, b.data, b.len);
	copy[108 + 8 + 3] = 7;
	assert_int_equal(sv_rtcp_parse(copy, b.len, c), SV_E_PARSE);
	/* SR too short for its sender info. */
	static const uint8_t short_sr[] = {0x80, 200, 0, 1, 0, 0, 0, 1};
	assert_int_equal(sv_rtcp_parse(short_sr, sizeof(short_sr), c), SV_E_PARSE);
	/* BYE count larger than its length. */
	static const uint8_t bad_bye[] = {0x82, 203, 0, 1, 0, 0, 0, 1};
	assert_int_equal(sv_rtcp_parse(bad_bye, sizeof(bad_bye), c), SV_E_PARSE);
	free(copy);
	free(c);
	sv_buf_release(&b);
}

static void test_padding(void **state)
{
	/* RR (8 bytes) then a padded BYE: header, SSRC, 4 bytes of padding. */
	uint8_t p[20] = {0x80, 201, 0, 1, 0, 0, 0, 9, 0xa1, 203, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4};
	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_rtcp_parse(p, sizeof(p), c), 0);
	assert_true(c->packets[1].padding);
	assert_int_equal(c->n_bye, 1);
	assert_int_equal(c->bye[0].ssrc, 9);
	/* Pad count 0, or larger than the packet body: rejected. */
	p[19] = 0;
	assert_int_equal(sv_rtcp_parse(p, sizeof(p), c), SV_E_PARSE);
	p[19] = 9;
	assert_int_equal(sv_rtcp_parse(p, sizeof(p), c), SV_E_PARSE);
	/* Padding eating the SSRC the count needs. */
	p[19] = 8;
	assert_int_equal(sv_rtcp_parse(p, sizeof(p), c), SV_E_PARSE);
	free(c);
}

static void test_sdes_lenient(void **state)
{
	/* RR, then SDES with SC=2: chunk 1 fine (CNAME "ab"), chunk 2 item length
	 * runs past the packet. The datagram is accepted, the bad chunk flagged. */
	static const uint8_t p[] = {0x80, 201, 0, 1, 0, 0, 0, 1,   0x82, 202, 0,
	                            4,    0,   0, 0, 1, 1, 2, 'a', 'b',  0,   0,
	                            0,    0,   0, 0, 0, 2, 1, 40,  'x',  'y'};
	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_rtcp_parse(p, sizeof(p), c), SV_E_PARSE); /* length 4 != 24 bytes */
	uint8_t q[sizeof(p)];
	memcpy(q, p, sizeof(p));
	q[11] = 5; /* SDES length: 6 words = 24 bytes */
	assert_int_equal(sv_rtcp_parse(q, sizeof(q), c), 0);
	assert_int_equal(c->n_sdes, 2);
	assert_string_equal(c->sdes[0].cname, "ab");
	assert_int_equal(c->sdes[1].ssrc, 2);
	assert_int_equal(c->sdes[1].cname_len, 0);
	assert_true(c->flags & SV_RTCP_F_SDES_BAD);
	free(c);
}

static void test_capacity_limits(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_rtcp_report_block blocks[31];
	for (int i = 0; i < 31; i++)
		blocks[i] = mkblock((uint32_t)i + 1, 0, i);
	assert_int_equal(sv_rtcp_encode_report(&b, 1, NULL, blocks, 31), 0);
	assert_int_equal(sv_rtcp_encode_report(&b, 2, NULL, blocks, 31), 0);
	for (int i = 0; i < 18; i++)
		assert_int_equal(sv_rtcp_encode_report(&b, 3, NULL, NULL, 0), 0);
	assert_int_equal(sv_rtcp_encode_report(&b, 3, NULL, blocks, 32), -EINVAL);
	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_rtcp_parse(b.data, b.len, c), 0);
	assert_int_equal(c->n_packets, SV_RTCP_MAX_PACKETS);
	assert_int_equal(c->dropped_packets, 20 - SV_RTCP_MAX_PACKETS);
	assert_int_equal(c->n_blocks, SV_RTCP_MAX_BLOCKS);
	assert_int_equal(c->dropped_blocks, 62 - SV_RTCP_MAX_BLOCKS);
	assert_int_equal(c->packets[1].n_blocks, 1);
	assert_int_equal(c->blocks[31].pkt, 1);
	free(c);
	sv_buf_release(&b);
}

static void test_time_helpers(void **state)
{
	/* ndpi capture, frame 1: SR NTP 3711615344.1298222584, captured at
	 * 1502626544.321377 (Unix). */
	uint64_t ntp = (uint64_t)3711615344u << 32 | 1298222584u;
	int64_t ns = sv_rtcp_ntp_to_unix_ns(ntp);
	assert_true(ns / 1000000000 == 1502626544);
	assert_true(ns == 1502626544302266000LL);
	uint64_t back = sv_rtcp_unix_ns_to_ntp(ns);
	assert_true(back >> 32 == 3711615344u);
	assert_true(llabs((long long)(back & 0xffffffffu) - 1298222584LL) <= 5);
	assert_int_equal(sv_rtcp_ntp_compact(ntp), 3245362529u);
	/* Era 1: 2040-01-01T00:00:00Z. */
	int64_t t2040 = 2208988800LL * 1000000000;
	uint64_t n2040 = sv_rtcp_unix_ns_to_ntp(t2040);
	assert_true((n2040 >> 32) < 0x80000000u);
	assert_true(sv_rtcp_ntp_to_unix_ns(n2040) == t2040);

	double ms = -1;
	/* 1.5 s after LSR, DLSR 1.25 s: RTT 250 ms. */
	assert_int_equal(sv_rtcp_rtt_ms(0x00018000 + 100, 100, 0x00014000, &ms), 0);
	assert_true(fabs(ms - 250.0) < 1e-9);
	/* Across the 2^32 wrap of the compact clock. */
	assert_int_equal(sv_rtcp_rtt_ms(0x00000800, 0xfffff800, 0x00000800, &ms), 0);
	assert_true(fabs(ms - 1000.0 * 0x800 / 65536.0) < 1e-9);
	assert_int_equal(sv_rtcp_rtt_ms(1000, 0, 0, &ms), -EINVAL);
	assert_int_equal(sv_rtcp_rtt_ms(1000, 900, 200, &ms), -ERANGE);
	assert_int_equal(sv_rtcp_rtt_ms(900, 1000, 0, &ms), -ERANGE);
}

/* ---------------------------------------------------------------- tshark oracle */

static size_t split(char *s, char sep, char **out, size_t max)
{
	size_t n = 0;
	if (*s == '\0')
		return 0;
	for (;;) {
		assert_true(n < max);
		out[n++] = s;
		char *e = strchr(s, sep);
		if (e == NULL)
			return n;
		*e = '\0';
		s = e + 1;
	}
}

static uint32_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	assert_true(end != s && *end == '\0');
	return (uint32_t)v;
}

static long snum(const char *s)
{
	char *end;
	long v = strtol(s, &end, 0);
	assert_true(end != s && *end == '\0');
	return v;
}

enum {
	F_FRAME,
	F_PAYLOAD,
	F_PT,
	F_SENDER,
	F_IDENT,
	F_FRAC,
	F_CUM,
	F_EXT,
	F_JIT,
	F_LSR,
	F_DLSR,
	F_PKTS,
	F_OCTETS,
	F_MSW,
	F_LSW,
	F_RTPTS,
	F_SDES,
	F_TIME,
	F_COUNT
};

struct oracle_stats {
	int frames, packets, blocks, srs, cnames;
};

static void check_capture(const char *rel, struct oracle_stats *st)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -o rtcp.heuristic_rtcp:TRUE -Y rtcp -T fields -E separator='|' "
	         "-e frame.number -e udp.payload -e rtcp.pt -e rtcp.senderssrc "
	         "-e rtcp.ssrc.identifier -e rtcp.ssrc.fraction -e rtcp.ssrc.cum_nr "
	         "-e rtcp.ssrc.ext_high -e rtcp.ssrc.jitter -e rtcp.ssrc.lsr -e rtcp.ssrc.dlsr "
	         "-e rtcp.sender.packetcount -e rtcp.sender.octetcount -e rtcp.timestamp.ntp.msw "
	         "-e rtcp.timestamp.ntp.lsw -e rtcp.timestamp.rtp -e rtcp.sdes.text "
	         "-e frame.time_epoch 2>/dev/null",
	         tu_shared(rel));
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(tu_run(cmd, &out), 0);
	assert_int_equal(sv_buf_put_u8(&out, 0), 0);
	struct sv_rtcp_compound *c = new_compound();
	char *save = NULL;
	int frames = 0;
	for (char *line = strtok_r((char *)out.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[F_COUNT + 1];
		/* Split on '|' keeping empty fields. */
		size_t nf = 0;
		char *s = line;
		for (;;) {
			assert_true(nf < F_COUNT + 1);
			f[nf++] = s;
			char *e = strchr(s, '|');
			if (e == NULL)
				break;
			*e = '\0';
			s = e + 1;
		}
		assert_int_equal(nf, F_COUNT);
		struct sv_buf pl;
		sv_buf_init(&pl);
		assert_int_equal(tu_unhex(f[F_PAYLOAD], &pl), 0);
		int rc = sv_rtcp_parse(pl.data, pl.len, c);
		if (rc != 0)
			fail_msg("%s frame %s: sv_rtcp_parse: %s", rel, f[F_FRAME],
			         sv_strerror(rc));

		char *pts[32], *snd[32], *ids[64], *fr[64], *cum[64], *ext[64], *jit[64], *lsr[64],
		    *dlsr[64], *pk[8], *oc[8], *msw[8], *lsw[8], *rts[8], *sdes[64];
		size_t npt = split(f[F_PT], ',', pts, 32);
		size_t nsnd = split(f[F_SENDER], ',', snd, 32);
		size_t nid = split(f[F_IDENT], ',', ids, 64);
		size_t nfr = split(f[F_FRAC], ',', fr, 64);
		assert_int_equal(split(f[F_CUM], ',', cum, 64), nfr);
		assert_int_equal(split(f[F_EXT], ',', ext, 64), nfr);
		assert_int_equal(split(f[F_JIT], ',', jit, 64), nfr);
		assert_int_equal(split(f[F_LSR], ',', lsr, 64), nfr);
		assert_int_equal(split(f[F_DLSR], ',', dlsr, 64), nfr);
		size_t nsr = split(f[F_PKTS], ',', pk, 8);
		assert_int_equal(split(f[F_OCTETS], ',', oc, 8), nsr);
		assert_int_equal(split(f[F_MSW], ',', msw, 8), nsr);
		assert_int_equal(split(f[F_LSW], ',', lsw, 8), nsr);
		assert_int_equal(split(f[F_RTPTS], ',', rts, 8), nsr);
		size_t nsdes = split(f[F_SDES], ',', sdes, 64);

		/* Same packet types, in order. */
		assert_int_equal(c->n_packets, npt);
		for (size_t i = 0; i < npt; i++)
			assert_int_equal(c->packets[i].pt, num(pts[i]));
		/* Sender SSRCs of SR/RR; block and SDES chunk SSRCs in packet order. */
		size_t is = 0, ii = 0, isr = 0;
		for (size_t i = 0; i < c->n_packets; i++) {
			const struct sv_rtcp_packet *p = &c->packets[i];
			if (p->pt == SV_RTCP_SR || p->pt == SV_RTCP_RR) {
				assert_true(is < nsnd);
				assert_int_equal(p->ssrc, num(snd[is++]));
				for (size_t k = 0; k < p->n_blocks; k++) {
					assert_true(ii < nid);
					assert_int_equal(c->blocks[p->first_block + k].ssrc,
					                 num(ids[ii++]));
				}
			}
			if (p->pt == SV_RTCP_SR) {
				assert_true(isr < nsr);
				assert_true(p->has_sender_info);
				assert_int_equal(p->si.packet_count, num(pk[isr]));
				assert_int_equal(p->si.octet_count, num(oc[isr]));
				assert_int_equal(p->si.ntp_sec, num(msw[isr]));
				assert_int_equal(p->si.ntp_frac, num(lsw[isr]));
				assert_int_equal(p->si.rtp_ts, num(rts[isr]));
				isr++;
				st->srs++;
			}
			if (p->pt == SV_RTCP_SDES) {
				for (size_t k = 0; k < p->n_sdes; k++) {
					const struct sv_rtcp_sdes_chunk *ch =
					    &c->sdes[p->first_sdes + k];
					assert_true(ii < nid);
					assert_int_equal(ch->ssrc, num(ids[ii++]));
					if (ch->cname_len == 0)
						continue;
					bool found = false;
					for (size_t m = 0; m < nsdes; m++)
						found = found || strcmp(sdes[m], ch->cname) == 0;
					if (!found)
						fail_msg(
						    "%s frame %s: CNAME %s not in tshark's SDES",
						    rel, f[F_FRAME], ch->cname);
					st->cnames++;
				}
			}
		}
		assert_int_equal(is, nsnd);
		assert_int_equal(ii, nid);
		assert_int_equal(isr, nsr);
		/* Report block values. */
		assert_int_equal(c->n_blocks, nfr);
		for (size_t i = 0; i < nfr; i++) {
			const struct sv_rtcp_report_block *b = &c->blocks[i];
			assert_int_equal(b->fraction_lost, num(fr[i]));
			assert_int_equal(b->cumulative_lost, snum(cum[i]));
			assert_int_equal(b->ext_highest_seq, num(ext[i]));
			assert_int_equal(b->jitter, num(jit[i]));
			assert_int_equal(b->lsr, num(lsr[i]));
			assert_int_equal(b->dlsr, num(dlsr[i]));
		}
		st->packets += (int)npt;
		st->blocks += (int)nfr;
		frames++;
		sv_buf_release(&pl);
	}
	st->frames += frames;
	free(c);
	sv_buf_release(&out);
	if (frames == 0)
		fail_msg("%s: tshark decoded no RTCP", rel);
}

static void test_tshark_captures(void **state)
{
	if (!tu_have_tshark())
		fail_msg("tshark is required for the RTCP oracle test");
	struct oracle_stats st;
	memset(&st, 0, sizeof(st));
	check_capture("pcap/heplify/rtp_rtcp_sip_ipv4_udp.pcap", &st);
	assert_int_equal(st.frames, 26);
	check_capture("pcap/heplify/sip_ipv4_tcp.pcap", &st);
	check_capture("pcap/sipnab/rtp-protocol.pcap", &st);
	check_capture("pcap/ndpi/rtcp_multiple_pkts_in_the_same_datagram.pcap", &st);
	assert_int_equal(st.frames, 26 + 2 + 2 + 5);
	assert_true(st.blocks >= 20);
	assert_true(st.srs >= 20);
	assert_true(st.cnames >= 9);
	print_message("rtcp oracle: %d datagrams, %d packets, %d blocks, %d SR, %d CNAMEs\n",
	              st.frames, st.packets, st.blocks, st.srs, st.cnames);
}

/* The RR in frame 4 of the nDPI capture reports LSR = compact NTP of the SR
 * in frame 1; the capture time of frame 4 gives a plausible RTT. */
static void test_ndpi_rtt(void **state)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -o rtcp.heuristic_rtcp:TRUE -Y 'frame.number==1 || "
	         "frame.number==4' -T fields -E separator='|' -e frame.time_epoch -e udp.payload "
	         "2>/dev/null",
	         tu_shared("pcap/ndpi/rtcp_multiple_pkts_in_the_same_datagram.pcap"));
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(tu_run(cmd, &out), 0);
	assert_int_equal(sv_buf_put_u8(&out, 0), 0);
	char *save = NULL;
	char *l1 = strtok_r((char *)out.data, "\n", &save);
	char *l4 = strtok_r(NULL, "\n", &save);
	assert_non_null(l1);
	assert_non_null(l4);
	struct sv_buf p1, p4;
	sv_buf_init(&p1);
	sv_buf_init(&p4);
	assert_int_equal(tu_unhex(strchr(l1, '|') + 1, &p1), 0);
	assert_int_equal(tu_unhex(strchr(l4, '|') + 1, &p4), 0);
	struct sv_rtcp_compound *sr = new_compound(), *rr = new_compound();
	assert_int_equal(sv_rtcp_parse(p1.data, p1.len, sr), 0);
	assert_int_equal(sv_rtcp_parse(p4.data, p4.len, rr), 0);
	assert_int_equal(sr->packets[0].pt, SV_RTCP_SR);
	assert_int_equal(rr->packets[0].pt, SV_RTCP_RR);
	uint64_t ntp = (uint64_t)sr->packets[0].si.ntp_sec << 32 | sr->packets[0].si.ntp_frac;
	assert_int_equal(rr->blocks[0].lsr, sv_rtcp_ntp_compact(ntp));
	assert_int_equal(rr->blocks[0].ssrc, sr->packets[0].ssrc);
	/* SR clock agrees with the capture clock to within 50 ms. */
	double t1 = strtod(l1, NULL);
	assert_true(fabs((double)sv_rtcp_ntp_to_unix_ns(ntp) / 1e9 - t1) < 0.05);
	double t4 = strtod(l4, NULL);
	int64_t a_ns = (int64_t)llround(t4 * 1e6) * 1000;
	double ms = 0;
	assert_int_equal(sv_rtcp_rtt_ms(sv_rtcp_unix_ns_to_compact(a_ns), rr->blocks[0].lsr,
	                                rr->blocks[0].dlsr, &ms),
	                 0);
	assert_true(ms > 27.0 && ms < 27.6);
	free(sr);
	free(rr);
	sv_buf_release(&p1);
	sv_buf_release(&p4);
	sv_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_sr_sdes_xr),
	    cmocka_unit_test(test_cumulative_lost_clamped_and_signed),
	    cmocka_unit_test(test_lone_packets_not_compound),
	    cmocka_unit_test(test_bye_app_feedback_and_other_xr),
	    cmocka_unit_test(test_validation_errors),
	    cmocka_unit_test(test_padding),
	    cmocka_unit_test(test_sdes_lenient),
	    cmocka_unit_test(test_capacity_limits),
	    cmocka_unit_test(test_time_helpers),
	    cmocka_unit_test(test_tshark_captures),
	    cmocka_unit_test(test_ndpi_rtt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
