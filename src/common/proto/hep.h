/*
 * hep.h - HEP v3 (EEP) packets: decode, encode, and the RTCP they carry.
 *
 * A HEP v3 packet is "HEP3", a u16 total length (header included), then
 * chunks: u16 vendor id, u16 type id, u16 length (6-byte chunk header
 * included), value. All integers are big-endian. sv_hep_parse() fills a
 * struct sv_hep whose string and byte fields are borrowed slices of the
 * input (or of the scratch buffer, for a compressed payload): they live as
 * long as both of those stay untouched.
 *
 * RTCP is carried as protocol type 5, either as the raw RTCP datagram or as
 * a JSON summary (rtpengine, rtpproxy acct_rtcp_hep, captagent, heplify).
 * sv_hep_rtcp() decodes either form into the struct sv_rtcp_compound that
 * binary RTCP uses.
 */
#ifndef SV_HEP_H
#define SV_HEP_H

#include "base/buf.h"
#include "proto/rtcp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Generic chunk types (vendor 0). */
enum sv_hep_chunk {
	SV_HEP_IP_FAMILY = 0x0001,
	SV_HEP_IP_PROTO = 0x0002,
	SV_HEP_IPV4_SRC = 0x0003,
	SV_HEP_IPV4_DST = 0x0004,
	SV_HEP_IPV6_SRC = 0x0005,
	SV_HEP_IPV6_DST = 0x0006,
	SV_HEP_SRC_PORT = 0x0007,
	SV_HEP_DST_PORT = 0x0008,
	SV_HEP_TS_SEC = 0x0009,
	SV_HEP_TS_USEC = 0x000a,
	SV_HEP_PROTO_TYPE = 0x000b,
	SV_HEP_CAPTURE_ID = 0x000c,
	SV_HEP_KEEPALIVE = 0x000d,
	SV_HEP_AUTH_KEY = 0x000e,
	SV_HEP_PAYLOAD = 0x000f,
	SV_HEP_PAYLOAD_Z = 0x0010,
	SV_HEP_CORRELATION_ID = 0x0011,
	SV_HEP_VLAN = 0x0012,
	SV_HEP_NODE_NAME = 0x0013,
};

/* Protocol type values (chunk 0x000b) this project cares about. */
enum sv_hep_proto {
	SV_HEP_PROTO_SIP = 1,
	SV_HEP_PROTO_XMPP = 2,
	SV_HEP_PROTO_SDP = 3,
	SV_HEP_PROTO_RTP = 4,
	SV_HEP_PROTO_RTCP = 5, /* binary RTCP or its JSON summary */
	SV_HEP_PROTO_LOG = 100,
};

#define SV_HEP_HDR_LEN      6
#define SV_HEP_MAX_LEN      65535
#define SV_HEP_MAX_INFLATE  (1u << 20) /* limit for a decompressed payload */
#define SV_HEP_FAMILY_INET  2          /* AF_INET as HEP senders write it */
#define SV_HEP_FAMILY_INET6 10         /* AF_INET6 (Linux value) */
/* Bit for chunk type t in struct sv_hep.chunks. */
#define SV_HEP_HAS(t) (1u << (t))

struct sv_hep {
	uint32_t chunks;    /* SV_HEP_HAS(type) for each generic chunk seen (or to encode) */
	uint16_t total_len; /* bytes of this packet (the header's length field) */
	uint8_t ip_family;  /* SV_HEP_FAMILY_INET / _INET6 (as sent) */
	uint8_t ip_proto;   /* 17 UDP, 6 TCP, 132 SCTP, ... */
	uint8_t addr_len;   /* 4 or 16 when addresses are present, else 0 */
	uint8_t src_ip[16];
	uint8_t dst_ip[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint32_t ts_sec;
	uint32_t ts_usec;
	uint8_t proto_type; /* enum sv_hep_proto */
	uint32_t capture_id;
	uint16_t keepalive;
	uint16_t vlan;
	/* Borrowed slices; NULL/0 when absent. Not NUL-terminated. */
	const char *auth_key;
	size_t auth_key_len;
	const char *correlation_id;
	size_t correlation_id_len;
	const char *node_name;
	size_t node_name_len;
	const uint8_t *payload;
	size_t payload_len;
	/* Parse: payload came from chunk 0x0010 (decompressed into scratch).
	 * Encode: send the payload zlib-compressed in chunk 0x0010. */
	bool compressed;
	uint32_t skipped_chunks; /* vendor chunks and unknown generic types */
};

/*
 * Length of the HEP v3 packet at the start of a stream buffer: 0 with *len
 * set, SV_E_AGAIN when fewer than 6 bytes are there, SV_E_PARSE when it does
 * not start with "HEP3" or the length is below 6, SV_E_UNSUPP for HEP v1/v2.
 */
int sv_hep_frame_len(const uint8_t *data, size_t avail, size_t *len);

/*
 * Decodes one HEP v3 packet from data[0..len). Bytes after the packet's own
 * length are ignored (out->total_len tells how many were used). scratch is
 * reset and used only for a compressed payload (at most SV_HEP_MAX_INFLATE
 * bytes); it may be NULL when none is expected (then 0x0010 gives -EINVAL).
 * Returns 0, SV_E_TRUNC (packet or chunk longer than the data), SV_E_PARSE
 * (bad magic, chunk length, fixed-size chunk of the wrong size, corrupt
 * compressed payload), SV_E_UNSUPP (HEP v1/v2), SV_E_TOOBIG or -ENOMEM.
 */
int sv_hep_parse(const uint8_t *data, size_t len, struct sv_hep *out, struct sv_buf *scratch);

/*
 * Appends the HEP v3 encoding of h to out. Always written: IP family and
 * protocol, addresses (when addr_len is 4 or 16), ports, timestamps, protocol
 * type, capture id. Written when SV_HEP_HAS() is set in h->chunks: keep-alive,
 * VLAN. Written when non-NULL: auth key, correlation id, node name, payload
 * (compressed with zlib into chunk 0x0010 when h->compressed). Returns 0,
 * -EINVAL, -ENOMEM, -EIO (compression) or SV_E_TOOBIG (over 65535 bytes);
 * out is left as it was on error.
 */
int sv_hep_encode(const struct sv_hep *h, struct sv_buf *out);

/*
 * Maps an RTCP JSON document as sent over HEP (type 5) into out, the struct
 * binary RTCP uses (out->source = SV_RTCP_SRC_JSON). Accepts one object, a
 * sequence of objects (rtpproxy writes one per RTCP packet), or an array of
 * objects, in the rtpengine, rtpproxy, captagent and heplify dialects (see
 * docs/internals/hep.md). json need not be NUL-terminated. Returns 0,
 * SV_E_PARSE (not JSON, or no RTCP content recognised), -ENOMEM.
 */
int sv_hep_rtcp_json_parse(const char *json, size_t len, struct sv_rtcp_compound *out);

/*
 * Decodes the RTCP carried by a type-5 HEP packet: binary when the payload
 * starts with RTCP version 2, JSON when it starts with '{' or '['.
 * SV_E_UNSUPP when h is not type 5 or the payload is neither.
 */
int sv_hep_rtcp(const struct sv_hep *h, struct sv_rtcp_compound *out);

#endif
