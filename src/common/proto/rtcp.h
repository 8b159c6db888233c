/*
 * rtcp.h - RTCP compound packets (RFC 3550) and XR VoIP metrics (RFC 3611).
 *
 * sv_rtcp_parse() decodes one UDP payload into a caller-owned struct
 * sv_rtcp_compound without allocating. Capacities are fixed; what does not
 * fit is counted in the dropped_* fields, never written out of bounds.
 * Report blocks, XR VoIP-metrics blocks, SDES chunks and BYE SSRCs are stored
 * in flat arrays, each entry naming the packet (index into packets[]) it
 * came from; each packet also records the range of its entries.
 *
 * Validation follows RFC 3550 appendix A.2: version 2 on every packet, every
 * length inside the datagram, lengths summing exactly to the datagram (1-3
 * trailing bytes, which real senders produce, are tolerated and flagged),
 * padding only on the last packet with a count that fits, and report / source
 * counts consistent with the packet length. A datagram whose first packet is
 * not SR or RR is still accepted (HEP agents send lone XR or SDES packets);
 * compound_ok says whether that header check passed.
 *
 * The same struct is filled from the JSON forms of RTCP sent over HEP by
 * sv_hep_rtcp_json_parse() (hep.h); `source` tells the two apart.
 */
#ifndef SV_RTCP_H
#define SV_RTCP_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sv_rtcp_pt {
	SV_RTCP_SR = 200,
	SV_RTCP_RR = 201,
	SV_RTCP_SDES = 202,
	SV_RTCP_BYE = 203,
	SV_RTCP_APP = 204,
	SV_RTCP_RTPFB = 205,
	SV_RTCP_PSFB = 206,
	SV_RTCP_XR = 207,
};

#define SV_RTCP_MAX_PACKETS 16 /* packets kept per compound */
#define SV_RTCP_MAX_BLOCKS  32 /* report blocks kept per compound */
#define SV_RTCP_MAX_XR_VOIP 4  /* XR VoIP-metrics blocks kept */
#define SV_RTCP_MAX_SDES    8  /* SDES chunks kept */
#define SV_RTCP_MAX_BYE     16 /* BYE SSRCs kept */
#define SV_RTCP_CNAME_MAX   255

/* Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
#define SV_RTCP_NTP_UNIX_OFFSET 2208988800u

enum sv_rtcp_source {
	SV_RTCP_SRC_BINARY = 0,
	SV_RTCP_SRC_JSON = 1,
};

/* Flags describing oddities seen while decoding (mostly JSON dialect quirks). */
enum sv_rtcp_flag {
	SV_RTCP_F_NTP_FRAC_RANGE = 1u << 0, /* JSON ntp_timestamp_usec beyond 32 bits: set to 0 */
	SV_RTCP_F_ZERO_BLOCK = 1u << 1,     /* JSON all-zero placeholder report block dropped */
	SV_RTCP_F_SDES_BAD = 1u << 2,       /* an SDES chunk was malformed; its items skipped */
	SV_RTCP_F_TYPE_GUESSED = 1u << 3,   /* JSON packet type inferred from the keys present */
	SV_RTCP_F_XR_PARTIAL = 1u << 4,     /* JSON XR gave only the first VoIP-metrics fields */
	SV_RTCP_F_TRAILING = 1u << 5,       /* 1-3 bytes after the last packet were ignored */
};

struct sv_rtcp_sender_info {
	uint32_t ntp_sec;  /* NTP timestamp, most significant word */
	uint32_t ntp_frac; /* NTP timestamp, least significant word (fraction) */
	uint32_t rtp_ts;
	uint32_t packet_count;
	uint32_t octet_count;
};

struct sv_rtcp_report_block {
	uint8_t pkt;             /* index of the SR/RR in packets[] */
	uint8_t fraction_lost;   /* 8-bit fixed point, loss / 256 */
	int32_t cumulative_lost; /* signed 24-bit value, sign-extended */
	uint32_t ssrc;           /* the source this block reports on */
	uint32_t ext_highest_seq;
	uint32_t jitter; /* RTP timestamp units */
	uint32_t lsr;    /* middle 32 bits of the NTP time of the last SR (0: none) */
	uint32_t dlsr;   /* 1/65536 s */
};

/* RFC 3611 section 4.7, field by field, raw wire units. */
struct sv_rtcp_xr_voip {
	uint8_t pkt;
	bool partial; /* only ssrc .. end_system_delay are known (JSON summaries) */
	uint32_t ssrc;
	uint8_t loss_rate;    /* fraction of packets lost, /256 */
	uint8_t discard_rate; /* fraction discarded, /256 */
	uint8_t burst_density;
	uint8_t gap_density;
	uint16_t burst_duration; /* ms */
	uint16_t gap_duration;   /* ms */
	uint16_t round_trip_delay;
	uint16_t end_system_delay;
	int8_t signal_level; /* dBm, 127 = unavailable */
	int8_t noise_level;  /* dBm, 127 = unavailable */
	uint8_t rerl;        /* residual echo return loss, dB, 127 = unavailable */
	uint8_t gmin;
	uint8_t r_factor; /* 127 = unavailable */
	uint8_t ext_r_factor;
	uint8_t mos_lq; /* MOS x 10, 127 = unavailable */
	uint8_t mos_cq;
	uint8_t rx_config;
	uint16_t jb_nominal;
	uint16_t jb_max;
	uint16_t jb_abs_max;
};

struct sv_rtcp_sdes_chunk {
	uint8_t pkt;
	uint32_t ssrc;
	uint8_t cname_len; /* 0 when no CNAME item; text stops at a NUL */
	char cname[SV_RTCP_CNAME_MAX + 1];
};

struct sv_rtcp_bye_ssrc {
	uint8_t pkt;
	uint32_t ssrc;
};

struct sv_rtcp_packet {
	uint8_t pt;
	uint8_t count; /* RC / SC / subtype field of the header */
	bool padding;  /* P bit set (last packet only) */
	uint32_t len;  /* bytes including the 4-byte header (0 for JSON) */
	uint32_t ssrc; /* sender SSRC (SR, RR, XR, APP, FB) or first SSRC (SDES, BYE) */
	bool has_sender_info;
	struct sv_rtcp_sender_info si; /* SR only */
	/* Ranges of this packet's entries in the flat arrays. */
	uint8_t first_block, n_blocks;
	uint8_t first_xr, n_xr;
	uint8_t first_sdes, n_sdes;
	uint8_t first_bye, n_bye;
};

struct sv_rtcp_compound {
	uint8_t source;   /* enum sv_rtcp_source */
	bool compound_ok; /* first packet is SR or RR (RFC 3550 A.2 header check) */
	uint32_t flags;   /* enum sv_rtcp_flag */
	size_t n_packets;
	struct sv_rtcp_packet packets[SV_RTCP_MAX_PACKETS];
	size_t n_blocks;
	struct sv_rtcp_report_block blocks[SV_RTCP_MAX_BLOCKS];
	size_t n_xr;
	struct sv_rtcp_xr_voip xr[SV_RTCP_MAX_XR_VOIP];
	size_t n_sdes;
	struct sv_rtcp_sdes_chunk sdes[SV_RTCP_MAX_SDES];
	size_t n_bye;
	struct sv_rtcp_bye_ssrc bye[SV_RTCP_MAX_BYE];
	/* Validated but not stored for lack of room. */
	uint32_t dropped_packets, dropped_blocks, dropped_xr, dropped_sdes, dropped_bye;
	uint32_t unknown_packets;   /* packets of a type not decoded (APP, 205, 206, ...) */
	uint32_t skipped_xr_blocks; /* XR blocks other than VoIP metrics */
};

/* Empties *c (all counters zero). */
void sv_rtcp_compound_init(struct sv_rtcp_compound *c);

/*
 * Decodes one RTCP datagram. Returns 0, SV_E_TRUNC when a header or a
 * length points past the end, SV_E_PARSE for any other violation (version,
 * padding, counts, lengths not summing up). *out is reset first; on error its
 * content is unspecified but safe to read. Nothing is allocated and nothing
 * points into data.
 */
int sv_rtcp_parse(const uint8_t *data, size_t len, struct sv_rtcp_compound *out);

/* Cheap check: data looks like RTCP (version 2, a type 192..223, length fits). */
bool sv_rtcp_looks_like(const uint8_t *data, size_t len);

/* "sr", "rr", "sdes", "bye", "app", "rtpfb", "psfb", "xr" or "unknown". */
const char *sv_rtcp_pt_name(uint8_t pt);

/* The SR or RR packet a report block came from (NULL only for a bad index). */
const struct sv_rtcp_packet *sv_rtcp_block_packet(const struct sv_rtcp_compound *c, size_t block);

/* ---- time helpers */

/* 64-bit NTP timestamp (seconds << 32 | fraction) to Unix nanoseconds.
 * Seconds with the top bit clear are taken as NTP era 1 (after 2036). */
int64_t sv_rtcp_ntp_to_unix_ns(uint64_t ntp);
uint64_t sv_rtcp_unix_ns_to_ntp(int64_t unix_ns);
/* The middle 32 bits of an NTP timestamp (the form LSR and "A" use). */
uint32_t sv_rtcp_ntp_compact(uint64_t ntp);
/* Compact NTP of a Unix time in nanoseconds. */
uint32_t sv_rtcp_unix_ns_to_compact(int64_t unix_ns);

/*
 * Round-trip time per RFC 3550 6.4.1: A - LSR - DLSR, all in 1/65536 s,
 * arithmetic modulo 2^32. Stores milliseconds in *rtt_ms and returns 0;
 * -EINVAL when lsr is 0 (no SR received yet), -ERANGE when the result would
 * be negative (clock skew or a stale report).
 */
int sv_rtcp_rtt_ms(uint32_t arrival_compact_ntp, uint32_t lsr, uint32_t dlsr, double *rtt_ms);

/* ---- encoder (appends to out; returns 0, -EINVAL or -ENOMEM) */

/*
 * Appends an SR (si != NULL) or an RR (si == NULL) from sender ssrc with n
 * report blocks (n <= 31; the pkt field of each block is ignored and
 * cumulative_lost is clamped to the signed 24-bit range).
 */
int sv_rtcp_encode_report(struct sv_buf *out, uint32_t ssrc, const struct sv_rtcp_sender_info *si,
                          const struct sv_rtcp_report_block *blocks, size_t n);
/* Appends an SDES packet with one chunk holding one CNAME item (<= 255 bytes). */
int sv_rtcp_encode_sdes_cname(struct sv_buf *out, uint32_t ssrc, const char *cname);
/* Appends an XR packet from ssrc carrying n VoIP-metrics blocks (1 <= n <= 16). */
int sv_rtcp_encode_xr_voip(struct sv_buf *out, uint32_t ssrc, const struct sv_rtcp_xr_voip *vm,
                           size_t n);
/* Appends a BYE for n SSRCs (n <= 31). */
int sv_rtcp_encode_bye(struct sv_buf *out, const uint32_t *ssrcs, size_t n);

#endif
