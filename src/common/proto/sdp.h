/*
 * sdp.h - SDP parser (RFC 4566) with the offer/answer facts a call recorder
 * needs: media endpoints, codecs (RFC 3551 static table), RTCP endpoint
 * (RFC 3605 a=rtcp, RFC 5761 a=rtcp-mux), SSRCs and direction (RFC 3264).
 *
 * sv_sdp_parse() fills a caller-owned struct sv_sdp; nothing is allocated.
 * String fields are struct sv_str slices into the body passed in (borrowed,
 * valid while the body is), except codec names from the static table, which
 * point to static strings. Arrays have fixed capacities; what does not fit is
 * ignored and counted in the *_dropped fields.
 */
#ifndef SV_SDP_H
#define SV_SDP_H

#include "proto/sip.h" /* struct sv_str */

#include <stddef.h>
#include <stdint.h>

#define SV_SDP_MAX_MEDIA  8
#define SV_SDP_MAX_PT     32
#define SV_SDP_MAX_RTPMAP 16
#define SV_SDP_MAX_SSRC   8

enum sv_sdp_dir {
	SV_SDP_DIR_NONE = 0, /* not given at this level */
	SV_SDP_SENDRECV,
	SV_SDP_SENDONLY,
	SV_SDP_RECVONLY,
	SV_SDP_INACTIVE,
};

/* A connection address ("IN IP4 192.0.2.1", "IN IP6 2001:db8::1"). */
struct sv_sdp_addr {
	struct sv_str text; /* the address, without any /ttl or /count suffix */
	int family;         /* AF_INET, AF_INET6, or 0 when not a literal (FQDN) */
	uint8_t addr[16];   /* network order; IPv4 in the first 4 bytes */
};

struct sv_sdp_rtpmap {
	uint8_t pt;
	struct sv_str name; /* encoding name as written ("PCMU", "opus") */
	uint32_t clock_rate;
	uint8_t channels; /* 0 when not given */
};

struct sv_sdp_media {
	struct sv_str type;        /* "audio", "video", "application", ... */
	uint16_t port;             /* 0 = media rejected/disabled */
	uint16_t port_count;       /* 1 unless m=audio PORT/COUNT */
	struct sv_str proto;       /* "RTP/AVP", "UDP/TLS/RTP/SAVPF", ... */
	struct sv_str fmts;        /* the whole format list as written */
	uint8_t pt[SV_SDP_MAX_PT]; /* numeric formats 0..127 in order */
	unsigned n_pt;
	unsigned pt_dropped; /* numeric formats beyond SV_SDP_MAX_PT */
	struct sv_sdp_rtpmap rtpmap[SV_SDP_MAX_RTPMAP];
	unsigned n_rtpmap;
	unsigned rtpmap_dropped;
	uint32_t ssrc[SV_SDP_MAX_SSRC]; /* distinct a=ssrc ids in order */
	unsigned n_ssrc;
	unsigned ssrc_dropped;
	int has_conn;
	struct sv_sdp_addr conn; /* media-level c= */
	int rtcp_port;           /* a=rtcp port, -1 when absent */
	int has_rtcp_addr;
	struct sv_sdp_addr rtcp_addr; /* a=rtcp:PORT IN IP4 addr */
	int rtcp_mux;                 /* a=rtcp-mux present */
	enum sv_sdp_dir dir;          /* media-level direction attribute */
};

struct sv_sdp {
	int has_origin;
	struct sv_sdp_addr origin; /* o= unicast address */
	struct sv_str session_name;
	int has_conn;
	struct sv_sdp_addr conn; /* session-level c= */
	enum sv_sdp_dir dir;     /* session-level direction attribute */
	struct sv_sdp_media media[SV_SDP_MAX_MEDIA];
	unsigned n_media;
	unsigned media_dropped; /* m= sections beyond SV_SDP_MAX_MEDIA (their lines are ignored) */
	unsigned bad_lines;     /* recognised lines we could not make sense of and skipped */
};

/* The RTCP destination of a media stream (see sv_sdp_rtcp). */
struct sv_sdp_endpoint {
	const struct sv_sdp_addr *addr; /* NULL when no c= applies */
	uint16_t port;
};

/*
 * Parses an SDP body (lines end CRLF or LF; unknown line types are ignored).
 * Returns 0; SV_E_PARSE when the first line is not v=, a line is not
 * "<letter>=...", or an m= line is malformed. *out is always overwritten.
 */
int sv_sdp_parse(const uint8_t *body, size_t len, struct sv_sdp *out);

/* The first audio m= section with a non-zero port, or NULL. Borrowed from s. */
const struct sv_sdp_media *sv_sdp_audio(const struct sv_sdp *s);

/*
 * The negotiated codec: name and clock rate of the first payload type of the
 * audio section (sv_sdp_audio), from its a=rtpmap or else the RFC 3551 static
 * table (G722's RTP clock is 8000). Returns 0, or SV_E_NOTFOUND (no audio, no
 * payload type, or a dynamic type without rtpmap). *name is a slice of the body
 * or a static string.
 */
int sv_sdp_codec(const struct sv_sdp *s, struct sv_str *name, uint32_t *clock_rate);

/* Looks a payload type up in a media section's rtpmaps, then the static
 * table. 0 or SV_E_NOTFOUND. */
int sv_sdp_pt_codec(const struct sv_sdp_media *m, unsigned pt, struct sv_str *name,
                    uint32_t *clock_rate);

/* The RFC 3551 static entry for pt: static name and clock, 0 or SV_E_NOTFOUND. */
int sv_sdp_static_codec(unsigned pt, const char **name, uint32_t *clock_rate);

/* The connection address of a media section: its own c=, else the session
 * c=, else NULL. Borrowed from s. */
const struct sv_sdp_addr *sv_sdp_media_addr(const struct sv_sdp *s, const struct sv_sdp_media *m);

/* Effective direction: media level, else session level, else SENDRECV. */
enum sv_sdp_dir sv_sdp_media_dir(const struct sv_sdp *s, const struct sv_sdp_media *m);

/*
 * Where RTCP for media m goes: with a=rtcp-mux the RTP port itself (RFC 5761;
 * it wins over a=rtcp, as WebRTC offers both); else a=rtcp's port and address
 * (RFC 3605); else RTP port + 1. The address is the a=rtcp address, else
 * sv_sdp_media_addr(). Returns 0, or SV_E_NOTFOUND when there is no RTCP:
 * media port 0, a=rtcp:0, or RTP port 65535 without mux.
 */
int sv_sdp_rtcp(const struct sv_sdp *s, const struct sv_sdp_media *m, struct sv_sdp_endpoint *ep);

/* "sendrecv", "sendonly", "recvonly", "inactive" or "" (static). */
const char *sv_sdp_dir_name(enum sv_sdp_dir d);

#endif
