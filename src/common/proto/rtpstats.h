/*
 * rtpstats.h - RTP receive statistics per SSRC (RFC 3550): packets expected
 * and lost with sequence-number wrap (appendix A.1, without probation),
 * duplicates and late (reordered) packets, and the interarrival jitter of
 * appendix A.8. The agent uses it for calls whose SDP says a=rtcp:0 (no RTCP
 * will come) and sends the result as the DATA_QUALITY JSON document.
 *
 * Caller-owned state: sv_rtpstats_new() / sv_rtpstats_free(). Time is passed
 * in (capture time, ns). Nothing is global; nothing points into the packets.
 *
 * Directions are named after the side that RECEIVES the stream, the way an
 * RTCP receiver report would be sent by that side (quality.h: a "uac" sample
 * is a report sent by the caller side, i.e. about what the caller hears):
 * SV_RTPSTATS_UAC is RTP sent to the caller, SV_RTPSTATS_UAS RTP sent to the
 * called side.
 */
#ifndef SV_RTPSTATS_H
#define SV_RTPSTATS_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

#define SV_RTPSTATS_MAX_STREAMS 16   /* SSRCs tracked per instance; more are counted */
#define SV_RTPSTATS_WINDOW      1024 /* sequence numbers remembered for duplicate detection */

enum sv_rtpstats_dir {
	SV_RTPSTATS_UAC = 0, /* received by the caller */
	SV_RTPSTATS_UAS = 1, /* received by the called side */
};

/* The fixed RTP header fields (RFC 3550 5.1) of one packet. */
struct sv_rtp_hdr {
	uint8_t pt;
	uint8_t marker;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	size_t header_len;  /* fixed header + CSRCs + extension */
	size_t payload_len; /* without padding */
};

/* Totals of one direction (all its SSRCs together). Jitter in milliseconds
 * (RTP timestamp units / clock rate); loss_pct = lost / expected * 100. */
struct sv_rtpstats_summary {
	unsigned streams;    /* SSRCs seen in this direction */
	uint64_t packets;    /* distinct packets received (duplicates excluded) */
	uint64_t expected;   /* from the extended sequence numbers */
	uint64_t lost;       /* expected - packets, never negative */
	uint64_t duplicates; /* the same sequence number seen again */
	uint64_t reordered;  /* arrived after a higher sequence number */
	double loss_pct;
	double jitter_avg_ms; /* mean of the running A.8 estimate over packets */
	double jitter_max_ms;
	double jitter_last_ms; /* the estimate after the last packet (the RR value) */
};

struct sv_rtpstats;

/* Returns a new, empty instance or NULL (out of memory). Free with
 * sv_rtpstats_free(), which accepts NULL. */
struct sv_rtpstats *sv_rtpstats_new(void);
void sv_rtpstats_free(struct sv_rtpstats *s);

/*
 * Decodes an RTP header (version 2, CSRC list, extension and padding inside
 * the datagram). Returns 0, SV_E_TRUNC (shorter than its headers say) or
 * SV_E_PARSE (not version 2, bad padding, or a payload type 72..76, which is
 * RTCP per RFC 5761).
 */
int sv_rtp_parse(const uint8_t *data, size_t len, struct sv_rtp_hdr *out);

/*
 * Accounts one captured RTP packet received at arrival_ns (capture time) in
 * direction dir; clock_rate (Hz) converts the arrival time to RTP units for
 * jitter (0: 8000). A stream is keyed by SSRC (its first packet fixes its
 * direction and clock rate). Returns 0; SV_E_PARSE / SV_E_TRUNC when the
 * bytes are not RTP (nothing counted); -EINVAL for a bad dir; SV_E_TOOBIG
 * when a new SSRC would exceed SV_RTPSTATS_MAX_STREAMS (counted, ignored).
 */
int sv_rtpstats_packet(struct sv_rtpstats *s, enum sv_rtpstats_dir dir, uint32_t clock_rate,
                       uint64_t arrival_ns, const uint8_t *data, size_t len);

/* Total distinct RTP packets accounted (all directions). */
uint64_t sv_rtpstats_packets(const struct sv_rtpstats *s);

/* Fills *out with the totals of one direction (zeros when none). */
void sv_rtpstats_summary(const struct sv_rtpstats *s, enum sv_rtpstats_dir dir,
                         struct sv_rtpstats_summary *out);

/*
 * Appends the DATA_QUALITY JSON document to out:
 *   {"source":"rtp","codec":"PCMA","clock_rate":8000,
 *    "directions":{"uac":{"streams":1,"packets":..,"expected":..,"lost":..,
 *                         "duplicates":..,"reordered":..,
 *                         "jitter":{"avg":ms,"max":ms,"last":ms},
 *                         "loss":{"avg":pct}},
 *                  "uas":{...}}}
 * A direction without packets is left out. codec (may be NULL: left out) is
 * JSON-escaped; clock_rate 0 is left out. This is the shape the server's
 * DATA_QUALITY fallback reads (directions.{uac,uas}.jitter.avg in ms and
 * loss.avg in %). Returns 0 or -ENOMEM (out then holds what it held).
 */
int sv_rtpstats_json(const struct sv_rtpstats *s, const char *codec, size_t codec_len,
                     uint32_t clock_rate, struct sv_buf *out);

#endif
