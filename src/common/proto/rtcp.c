#include "proto/rtcp.h"

#include "base/errors.h"

#include <errno.h>
#include <string.h>

#define HDR_LEN     4
#define BLOCK_LEN   24
#define SENDER_LEN  20 /* NTP (8), RTP ts, packets, octets */
#define XR_VOIP_LEN 36 /* including the 4-byte block header */
#define XR_BT_VOIP  7
#define SDES_END    0
#define SDES_CNAME  1

void sv_rtcp_compound_init(struct sv_rtcp_compound *c)
{
	memset(c, 0, sizeof(*c));
}

const char *sv_rtcp_pt_name(uint8_t pt)
{
	switch (pt) {
	case SV_RTCP_SR:
		return "sr";
	case SV_RTCP_RR:
		return "rr";
	case SV_RTCP_SDES:
		return "sdes";
	case SV_RTCP_BYE:
		return "bye";
	case SV_RTCP_APP:
		return "app";
	case SV_RTCP_RTPFB:
		return "rtpfb";
	case SV_RTCP_PSFB:
		return "psfb";
	case SV_RTCP_XR:
		return "xr";
	default:
		return "unknown";
	}
}

const struct sv_rtcp_packet *sv_rtcp_block_packet(const struct sv_rtcp_compound *c, size_t block)
{
	if (block >= c->n_blocks || c->blocks[block].pkt >= c->n_packets)
		return NULL;
	return &c->packets[c->blocks[block].pkt];
}

bool sv_rtcp_looks_like(const uint8_t *data, size_t len)
{
	if (data == NULL || len < HDR_LEN || (data[0] >> 6) != 2)
		return false;
	if (data[1] < 192 || data[1] > 223)
		return false;
	return ((size_t)sv_be16(data + 2) + 1) * 4 <= len;
}

static int32_t sext24(uint32_t v)
{
	v &= 0xffffff;
	return (v & 0x800000) ? (int32_t)v - 0x1000000 : (int32_t)v;
}

static void read_block(const uint8_t *p, struct sv_rtcp_report_block *b)
{
	b->ssrc = sv_be32(p);
	b->fraction_lost = p[4];
	b->cumulative_lost = sext24(sv_be32(p + 4));
	b->ext_highest_seq = sv_be32(p + 8);
	b->jitter = sv_be32(p + 12);
	b->lsr = sv_be32(p + 16);
	b->dlsr = sv_be32(p + 20);
}

static void read_voip(const uint8_t *p, struct sv_rtcp_xr_voip *v)
{
	/* p points at the block header (BT, reserved, length). */
	v->partial = false;
	v->ssrc = sv_be32(p + 4);
	v->loss_rate = p[8];
	v->discard_rate = p[9];
	v->burst_density = p[10];
	v->gap_density = p[11];
	v->burst_duration = sv_be16(p + 12);
	v->gap_duration = sv_be16(p + 14);
	v->round_trip_delay = sv_be16(p + 16);
	v->end_system_delay = sv_be16(p + 18);
	v->signal_level = (int8_t)p[20];
	v->noise_level = (int8_t)p[21];
	v->rerl = p[22];
	v->gmin = p[23];
	v->r_factor = p[24];
	v->ext_r_factor = p[25];
	v->mos_lq = p[26];
	v->mos_cq = p[27];
	v->rx_config = p[28];
	/* p[29] reserved */
	v->jb_nominal = sv_be16(p + 30);
	v->jb_max = sv_be16(p + 32);
	v->jb_abs_max = sv_be16(p + 34);
}

/* Report blocks of an SR or RR; body starts after the sender SSRC/info. */
static int parse_blocks(const uint8_t *body, size_t body_len, unsigned rc, uint8_t pkt_index,
                        struct sv_rtcp_packet *pk, struct sv_rtcp_compound *c)
{
	if ((size_t)rc * BLOCK_LEN > body_len)
		return SV_E_PARSE;
	pk->first_block = (uint8_t)c->n_blocks;
	for (unsigned i = 0; i < rc; i++) {
		if (c->n_blocks >= SV_RTCP_MAX_BLOCKS) {
			c->dropped_blocks++;
			continue;
		}
		struct sv_rtcp_report_block *b = &c->blocks[c->n_blocks++];
		read_block(body + (size_t)i * BLOCK_LEN, b);
		b->pkt = pkt_index;
		pk->n_blocks++;
	}
	return 0;
}

/* SDES chunks: lenient. A malformed chunk stops item parsing for this packet
 * and sets a flag; the packet itself is still accepted (its length was
 * already validated against the datagram). */
static void parse_sdes(const uint8_t *body, size_t body_len, unsigned sc, uint8_t pkt_index,
                       struct sv_rtcp_packet *pk, struct sv_rtcp_compound *c)
{
	size_t off = 0;
	pk->first_sdes = (uint8_t)c->n_sdes;
	for (unsigned i = 0; i < sc; i++) {
		if (body_len - off < 4) {
			c->flags |= SV_RTCP_F_SDES_BAD;
			return;
		}
		uint32_t ssrc = sv_be32(body + off);
		if (i == 0)
			pk->ssrc = ssrc;
		off += 4;
		struct sv_rtcp_sdes_chunk *ch = NULL;
		if (c->n_sdes < SV_RTCP_MAX_SDES) {
			ch = &c->sdes[c->n_sdes++];
			memset(ch, 0, sizeof(*ch));
			ch->pkt = pkt_index;
			ch->ssrc = ssrc;
			pk->n_sdes++;
		} else {
			c->dropped_sdes++;
		}
		bool ended = false;
		while (off < body_len) {
			uint8_t type = body[off];
			if (type == SDES_END) {
				off++;
				ended = true;
				break;
			}
			if (body_len - off < 2 || body_len - off - 2 < body[off + 1]) {
				c->flags |= SV_RTCP_F_SDES_BAD;
				return;
			}
			uint8_t ilen = body[off + 1];
			if (type == SDES_CNAME && ch != NULL && ch->cname_len == 0) {
				/* Some agents count a trailing NUL in the item length
				 * (sip_ipv4_tcp.pcap: "c0\0"); stop at the first NUL. */
				const uint8_t *txt = body + off + 2;
				const uint8_t *nul = memchr(txt, 0, ilen);
				uint8_t n = nul ? (uint8_t)(nul - txt) : ilen;
				memcpy(ch->cname, txt, n);
				ch->cname[n] = '\0';
				ch->cname_len = n;
			}
			off += 2 + (size_t)ilen;
		}
		if (!ended) {
			c->flags |= SV_RTCP_F_SDES_BAD;
			return;
		}
		/* The END item is followed by padding to the next 32-bit boundary. */
		off = (off + 3) & ~(size_t)3;
		if (off > body_len)
			off = body_len;
	}
}

static int parse_xr(const uint8_t *body, size_t body_len, uint8_t pkt_index,
                    struct sv_rtcp_packet *pk, struct sv_rtcp_compound *c)
{
	size_t off = 0;
	pk->first_xr = (uint8_t)c->n_xr;
	while (off < body_len) {
		if (body_len - off < 4)
			return SV_E_PARSE;
		uint8_t bt = body[off];
		size_t blen = ((size_t)sv_be16(body + off + 2) + 1) * 4;
		if (blen > body_len - off)
			return SV_E_PARSE;
		if (bt == XR_BT_VOIP) {
			if (blen != XR_VOIP_LEN)
				return SV_E_PARSE;
			if (c->n_xr < SV_RTCP_MAX_XR_VOIP) {
				struct sv_rtcp_xr_voip *v = &c->xr[c->n_xr++];
				read_voip(body + off, v);
				v->pkt = pkt_index;
				pk->n_xr++;
			} else {
				c->dropped_xr++;
			}
		} else {
			c->skipped_xr_blocks++;
		}
		off += blen;
	}
	return 0;
}

static int parse_packet(const uint8_t *p, size_t plen, size_t payload_len, uint8_t pkt_index,
                        struct sv_rtcp_packet *pk, struct sv_rtcp_compound *c)
{
	/* p: packet start; plen: its length with padding; payload_len: without. */
	const uint8_t *body = p + HDR_LEN;
	size_t body_len = payload_len - HDR_LEN;
	unsigned count = pk->count;
	int rc;

	switch (pk->pt) {
	case SV_RTCP_SR:
		if (body_len < 4 + SENDER_LEN)
			return SV_E_PARSE;
		pk->ssrc = sv_be32(body);
		pk->has_sender_info = true;
		pk->si.ntp_sec = sv_be32(body + 4);
		pk->si.ntp_frac = sv_be32(body + 8);
		pk->si.rtp_ts = sv_be32(body + 12);
		pk->si.packet_count = sv_be32(body + 16);
		pk->si.octet_count = sv_be32(body + 20);
		return parse_blocks(body + 4 + SENDER_LEN, body_len - 4 - SENDER_LEN, count,
		                    pkt_index, pk, c);
	case SV_RTCP_RR:
		if (body_len < 4)
			return SV_E_PARSE;
		pk->ssrc = sv_be32(body);
		return parse_blocks(body + 4, body_len - 4, count, pkt_index, pk, c);
	case SV_RTCP_SDES:
		if (count > 0 && body_len < 4)
			return SV_E_PARSE;
		parse_sdes(body, body_len, count, pkt_index, pk, c);
		return 0;
	case SV_RTCP_BYE:
		if ((size_t)count * 4 > body_len)
			return SV_E_PARSE;
		pk->first_bye = (uint8_t)c->n_bye;
		for (unsigned i = 0; i < count; i++) {
			uint32_t s = sv_be32(body + (size_t)i * 4);
			if (i == 0)
				pk->ssrc = s;
			if (c->n_bye < SV_RTCP_MAX_BYE) {
				c->bye[c->n_bye].pkt = pkt_index;
				c->bye[c->n_bye++].ssrc = s;
				pk->n_bye++;
			} else {
				c->dropped_bye++;
			}
		}
		return 0;
	case SV_RTCP_XR:
		if (body_len < 4)
			return SV_E_PARSE;
		pk->ssrc = sv_be32(body);
		if ((rc = parse_xr(body + 4, body_len - 4, pkt_index, pk, c)) != 0)
			return rc;
		return 0;
	default:
		/* APP, feedback and unknown types: sender SSRC when present, then skip. */
		if (body_len >= 4)
			pk->ssrc = sv_be32(body);
		c->unknown_packets++;
		(void)plen;
		return 0;
	}
}

int sv_rtcp_parse(const uint8_t *data, size_t len, struct sv_rtcp_compound *out)
{
	sv_rtcp_compound_init(out);
	out->source = SV_RTCP_SRC_BINARY;
	if (data == NULL || len < HDR_LEN)
		return SV_E_TRUNC;

	size_t off = 0;
	size_t index = 0;
	while (off < len) {
		if (len - off < HDR_LEN) {
			/* 1-3 bytes after the last packet: seen from real senders
			 * (Wireshark sample SIP_CALL_RTP_G711); tolerated, flagged. */
			out->flags |= SV_RTCP_F_TRAILING;
			break;
		}
		const uint8_t *p = data + off;
		if ((p[0] >> 6) != 2)
			return SV_E_PARSE;
		bool padding = (p[0] & 0x20) != 0;
		size_t plen = ((size_t)sv_be16(p + 2) + 1) * 4;
		if (plen > len - off)
			return SV_E_TRUNC;
		size_t payload_len = plen;
		if (padding) {
			/* Only the last packet of a compound may be padded. */
			if (off + plen != len)
				return SV_E_PARSE;
			uint8_t pad = p[plen - 1];
			if (pad == 0 || pad > plen - HDR_LEN)
				return SV_E_PARSE;
			payload_len = plen - pad;
		}
		if (index == 0)
			out->compound_ok = (p[1] == SV_RTCP_SR || p[1] == SV_RTCP_RR) && !padding;

		struct sv_rtcp_packet scratch;
		struct sv_rtcp_packet *pk;
		bool kept = out->n_packets < SV_RTCP_MAX_PACKETS;
		pk = kept ? &out->packets[out->n_packets] : &scratch;
		memset(pk, 0, sizeof(*pk));
		pk->pt = p[1];
		pk->count = p[0] & 0x1f;
		pk->padding = padding;
		pk->len = (uint32_t)plen;
		/* Entries of a packet past the cap point at an index that does not exist;
		 * mark them with the cap so they never alias a stored packet. */
		uint8_t pkt_index = (uint8_t)(kept ? out->n_packets : SV_RTCP_MAX_PACKETS);
		int rc = parse_packet(p, plen, payload_len, pkt_index, pk, out);
		if (rc != 0)
			return rc;
		if (kept)
			out->n_packets++;
		else
			out->dropped_packets++;
		off += plen;
		index++;
	}
	return 0;
}

/* ---- time */

int64_t sv_rtcp_ntp_to_unix_ns(uint64_t ntp)
{
	uint64_t sec = ntp >> 32;
	uint64_t frac = ntp & 0xffffffffu;
	if ((sec & 0x80000000u) == 0)
		sec += 1ull << 32; /* era 1: February 2036 onwards */
	int64_t unix_sec = (int64_t)sec - (int64_t)SV_RTCP_NTP_UNIX_OFFSET;
	int64_t ns = (int64_t)((frac * 1000000000ull + (1ull << 31)) >> 32);
	return unix_sec * 1000000000 + ns;
}

uint64_t sv_rtcp_unix_ns_to_ntp(int64_t unix_ns)
{
	int64_t sec = unix_ns / 1000000000;
	int64_t rem = unix_ns % 1000000000;
	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	uint64_t ntp_sec = (uint64_t)(sec + (int64_t)SV_RTCP_NTP_UNIX_OFFSET) & 0xffffffffu;
	uint64_t frac = (((uint64_t)rem << 32) + 500000000u) / 1000000000u;
	if (frac > 0xffffffffu)
		frac = 0xffffffffu;
	return ntp_sec << 32 | frac;
}

uint32_t sv_rtcp_ntp_compact(uint64_t ntp)
{
	return (uint32_t)(ntp >> 16);
}

uint32_t sv_rtcp_unix_ns_to_compact(int64_t unix_ns)
{
	return sv_rtcp_ntp_compact(sv_rtcp_unix_ns_to_ntp(unix_ns));
}

int sv_rtcp_rtt_ms(uint32_t arrival_compact_ntp, uint32_t lsr, uint32_t dlsr, double *rtt_ms)
{
	if (lsr == 0)
		return -EINVAL;
	uint32_t since = arrival_compact_ntp - lsr; /* modulo 2^32 */
	if (since >= 0x80000000u || dlsr > since)
		return -ERANGE;
	if (rtt_ms != NULL)
		*rtt_ms = (double)(since - dlsr) * 1000.0 / 65536.0;
	return 0;
}

/* ---- encoder */

static int put_header(struct sv_buf *out, unsigned count, uint8_t pt, size_t total_len)
{
	int rc;
	if ((rc = sv_buf_put_u8(out, (uint8_t)(0x80 | (count & 0x1f)))) != 0 ||
	    (rc = sv_buf_put_u8(out, pt)) != 0 ||
	    (rc = sv_buf_put_u16(out, (uint16_t)(total_len / 4 - 1))) != 0)
		return rc;
	return 0;
}

int sv_rtcp_encode_report(struct sv_buf *out, uint32_t ssrc, const struct sv_rtcp_sender_info *si,
                          const struct sv_rtcp_report_block *blocks, size_t n)
{
	if (n > 31 || (n > 0 && blocks == NULL))
		return -EINVAL;
	size_t total = HDR_LEN + 4 + (si ? SENDER_LEN : 0) + n * BLOCK_LEN;
	size_t start = out->len;
	int rc;
	if ((rc = sv_buf_reserve(out, total)) != 0)
		return rc;
	if ((rc = put_header(out, (unsigned)n, si ? SV_RTCP_SR : SV_RTCP_RR, total)) != 0 ||
	    (rc = sv_buf_put_u32(out, ssrc)) != 0)
		goto fail;
	if (si != NULL) {
		if ((rc = sv_buf_put_u32(out, si->ntp_sec)) != 0 ||
		    (rc = sv_buf_put_u32(out, si->ntp_frac)) != 0 ||
		    (rc = sv_buf_put_u32(out, si->rtp_ts)) != 0 ||
		    (rc = sv_buf_put_u32(out, si->packet_count)) != 0 ||
		    (rc = sv_buf_put_u32(out, si->octet_count)) != 0)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct sv_rtcp_report_block *b = &blocks[i];
		int32_t lost = b->cumulative_lost;
		if (lost > 0x7fffff)
			lost = 0x7fffff;
		if (lost < -0x800000)
			lost = -0x800000;
		uint32_t word = (uint32_t)b->fraction_lost << 24 | ((uint32_t)lost & 0xffffff);
		if ((rc = sv_buf_put_u32(out, b->ssrc)) != 0 ||
		    (rc = sv_buf_put_u32(out, word)) != 0 ||
		    (rc = sv_buf_put_u32(out, b->ext_highest_seq)) != 0 ||
		    (rc = sv_buf_put_u32(out, b->jitter)) != 0 ||
		    (rc = sv_buf_put_u32(out, b->lsr)) != 0 ||
		    (rc = sv_buf_put_u32(out, b->dlsr)) != 0)
			goto fail;
	}
	return 0;
fail:
	out->len = start;
	return rc;
}

int sv_rtcp_encode_sdes_cname(struct sv_buf *out, uint32_t ssrc, const char *cname)
{
	if (cname == NULL)
		return -EINVAL;
	size_t clen = strlen(cname);
	if (clen > SV_RTCP_CNAME_MAX)
		return -EINVAL;
	/* SSRC, item (2 + clen), END, padding to 32 bits. */
	size_t body = 4 + 2 + clen + 1;
	body = (body + 3) & ~(size_t)3;
	size_t total = HDR_LEN + body;
	size_t start = out->len;
	int rc;
	if ((rc = sv_buf_reserve(out, total)) != 0)
		return rc;
	if ((rc = put_header(out, 1, SV_RTCP_SDES, total)) != 0 ||
	    (rc = sv_buf_put_u32(out, ssrc)) != 0 || (rc = sv_buf_put_u8(out, SDES_CNAME)) != 0 ||
	    (rc = sv_buf_put_u8(out, (uint8_t)clen)) != 0 ||
	    (rc = sv_buf_append(out, cname, clen)) != 0)
		goto fail;
	while (out->len - start < total)
		if ((rc = sv_buf_put_u8(out, 0)) != 0)
			goto fail;
	return 0;
fail:
	out->len = start;
	return rc;
}

int sv_rtcp_encode_xr_voip(struct sv_buf *out, uint32_t ssrc, const struct sv_rtcp_xr_voip *vm,
                           size_t n)
{
	if (vm == NULL || n == 0 || n > 16)
		return -EINVAL;
	size_t total = HDR_LEN + 4 + n * XR_VOIP_LEN;
	size_t start = out->len;
	int rc;
	if ((rc = sv_buf_reserve(out, total)) != 0)
		return rc;
	if ((rc = put_header(out, 0, SV_RTCP_XR, total)) != 0 ||
	    (rc = sv_buf_put_u32(out, ssrc)) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct sv_rtcp_xr_voip *v = &vm[i];
		uint8_t b[XR_VOIP_LEN];
		b[0] = XR_BT_VOIP;
		b[1] = 0;
		sv_put_be16(b + 2, XR_VOIP_LEN / 4 - 1);
		sv_put_be32(b + 4, v->ssrc);
		b[8] = v->loss_rate;
		b[9] = v->discard_rate;
		b[10] = v->burst_density;
		b[11] = v->gap_density;
		sv_put_be16(b + 12, v->burst_duration);
		sv_put_be16(b + 14, v->gap_duration);
		sv_put_be16(b + 16, v->round_trip_delay);
		sv_put_be16(b + 18, v->end_system_delay);
		b[20] = (uint8_t)v->signal_level;
		b[21] = (uint8_t)v->noise_level;
		b[22] = v->rerl;
		b[23] = v->gmin;
		b[24] = v->r_factor;
		b[25] = v->ext_r_factor;
		b[26] = v->mos_lq;
		b[27] = v->mos_cq;
		b[28] = v->rx_config;
		b[29] = 0;
		sv_put_be16(b + 30, v->jb_nominal);
		sv_put_be16(b + 32, v->jb_max);
		sv_put_be16(b + 34, v->jb_abs_max);
		if ((rc = sv_buf_append(out, b, sizeof(b))) != 0)
			goto fail;
	}
	return 0;
fail:
	out->len = start;
	return rc;
}

int sv_rtcp_encode_bye(struct sv_buf *out, const uint32_t *ssrcs, size_t n)
{
	if (n > 31 || (n > 0 && ssrcs == NULL))
		return -EINVAL;
	size_t total = HDR_LEN + 4 * n;
	size_t start = out->len;
	int rc;
	if ((rc = put_header(out, (unsigned)n, SV_RTCP_BYE, total)) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if ((rc = sv_buf_put_u32(out, ssrcs[i])) != 0)
			goto fail;
	return 0;
fail:
	out->len = start;
	return rc;
}
