/*
 * wire.h - the agent protocol, version 1, plus this project's negotiated
 * extensions (docs/wire-protocol.md is the full specification).
 *
 * Every frame is a 12-byte big-endian header followed by the payload:
 *
 *   53 56 | 01 | type u8 | payload length u32 (<= 1 MiB) | sequence u32
 *
 * The module has three parts, none of which does I/O:
 *   - encoders: sv_wire_encode_*() append one whole frame (header + payload)
 *     to a struct sv_buf;
 *   - payload decoders: sv_wire_decode_*() split a frame's payload into a
 *     per-type struct whose variable-length fields are slices borrowed from
 *     the payload (valid as long as the payload is);
 *   - a streaming decoder (struct sv_wire_decoder) that turns a TCP byte
 *     stream, split or coalesced in any way, into frames, with bounded memory.
 *
 * Decoders return 0, SV_E_TRUNC when a field runs past the end of the payload,
 * SV_E_PARSE for a value that cannot be valid, or -EINVAL when the frame is
 * not of the type the decoder handles. Bytes after the last field of a frame
 * that has no "remainder" field are ignored (room for later additions).
 */
#ifndef SV_WIRE_H
#define SV_WIRE_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

#define SV_WIRE_MAGIC0      0x53
#define SV_WIRE_MAGIC1      0x56
#define SV_WIRE_VERSION     0x01
#define SV_WIRE_HDR_LEN     12
#define SV_WIRE_MAX_PAYLOAD 1048576u /* 1 MiB, inclusive */
/* The reference agent truncates Call-IDs to this many bytes before sending.
 * It is NOT enforced here: any u16-length Call-ID (up to 65535 bytes) decodes,
 * and higher layers decide what to do with unusual ones. */
#define SV_WIRE_REF_MAX_CALLID 512

enum sv_wire_type {
	SV_WIRE_HANDSHAKE = 0x01,
	SV_WIRE_HANDSHAKE_ACK = 0x02,
	SV_WIRE_DATA_SIP = 0x03,
	SV_WIRE_DATA_RTCP = 0x04,
	SV_WIRE_DATA_LOG = 0x05,
	SV_WIRE_HEARTBEAT = 0x06,
	SV_WIRE_HEARTBEAT_ACK = 0x07,
	SV_WIRE_DATA_QUALITY = 0x08,
	/* extensions, only on connections that negotiated them */
	SV_WIRE_ACK = 0x09,            /* capability "ack" */
	SV_WIRE_DATA_RTCP_ADDR = 0x0A, /* capability "rtcp-addr" */
	SV_WIRE_AGENT_STATS = 0x0B,    /* capability "stats" */
};

/* HANDSHAKE_ACK status values. */
enum sv_wire_status {
	SV_WIRE_STATUS_OK = 0,
	SV_WIRE_STATUS_AUTH_FAILED = 1,
	SV_WIRE_STATUS_VERSION_MISMATCH = 2,
};

/* DATA_SIP direction byte: low bit = direction, bit 7 = IPv6 addresses.
 * The same bit 7 means IPv6 in the DATA_RTCP_ADDR flags byte. */
enum sv_wire_dir {
	SV_WIRE_DIR_INBOUND = 0,
	SV_WIRE_DIR_OUTBOUND = 1,
};
#define SV_WIRE_FLAG_IPV6 0x80

/* Capability bits; names on the wire are "ack", "rtcp-addr", "stats". */
enum sv_wire_cap {
	SV_WIRE_CAP_ACK = 1u << 0,
	SV_WIRE_CAP_RTCP_ADDR = 1u << 1,
	SV_WIRE_CAP_STATS = 1u << 2,
};
#define SV_WIRE_CAP_ALL (SV_WIRE_CAP_ACK | SV_WIRE_CAP_RTCP_ADDR | SV_WIRE_CAP_STATS)

/* A borrowed run of bytes (not NUL-terminated). */
struct sv_wire_str {
	const uint8_t *p;
	size_t len;
};

/* One frame: header fields and the payload, borrowed from the decoder or the
 * buffer it was parsed from. */
struct sv_wire_frame {
	uint8_t version;
	uint8_t type;
	uint32_t len; /* payload length */
	uint32_t seq;
	const uint8_t *payload;
};

/* An IP endpoint. family is 4 or 6; an IPv4 address uses ip[0..4). */
struct sv_wire_addr {
	uint8_t family;
	uint8_t ip[16];
	uint16_t port;
};

/* HANDSHAKE (agent -> server). caps is the optional 4th field (extension);
 * has_caps tells whether it was present (an empty list is still present). */
struct sv_wire_handshake {
	struct sv_wire_str customer_id;
	struct sv_wire_str token;
	struct sv_wire_str agent_version;
	int has_caps;
	struct sv_wire_str caps;
};

/* HANDSHAKE_ACK (server -> agent). caps: the optional trailing list of the
 * capabilities the server accepted (extension). status is passed through
 * as sent; anything but SV_WIRE_STATUS_OK is a refusal. */
struct sv_wire_handshake_ack {
	uint8_t status;
	struct sv_wire_str message;
	int has_caps;
	struct sv_wire_str caps;
};

/* DATA_SIP. direction is SV_WIRE_DIR_*; the IPv6 bit is reflected in the
 * addresses' family (both addresses always have the same family). */
struct sv_wire_sip {
	uint64_t ts_ns;
	struct sv_wire_str call_id;
	uint8_t direction;
	struct sv_wire_addr src;
	struct sv_wire_addr dst;
	struct sv_wire_str sip;
};

/* DATA_RTCP and DATA_RTCP_ADDR. has_addr is 1 for DATA_RTCP_ADDR, where
 * flags holds the flags byte as received and src/dst the endpoints; for
 * DATA_RTCP has_addr and flags are 0 and src/dst are zeroed. */
struct sv_wire_rtcp {
	uint64_t ts_ns;
	struct sv_wire_str call_id;
	int has_addr;
	uint8_t flags;
	struct sv_wire_addr src;
	struct sv_wire_addr dst;
	uint32_t ssrc;
	struct sv_wire_str rtcp;
};

/* DATA_LOG: one proxy log line (no framing inside; may lack a newline). */
struct sv_wire_log {
	uint64_t ts_ns;
	struct sv_wire_str call_id;
	struct sv_wire_str line;
};

/* DATA_QUALITY: a JSON document from the agent (not validated here). */
struct sv_wire_quality {
	uint64_t ts_ns;
	struct sv_wire_str call_id;
	struct sv_wire_str json;
};

/* HEARTBEAT and HEARTBEAT_ACK (the ack echoes the heartbeat's ts). */
struct sv_wire_heartbeat {
	uint64_t ts_ns;
};

/* ACK (extension, server -> agent): every frame with sequence <= seq (serial
 * number order, see sv_wire_seq_le) on this connection is durable. */
struct sv_wire_ack {
	uint32_t seq;
};

/* AGENT_STATS (extension, agent -> server): a JSON object. */
struct sv_wire_stats {
	uint64_t ts_ns;
	struct sv_wire_str json;
};

/* ------------------------------------------------------------ frames */

/* Parses and checks a 12-byte header. Returns 0, SV_E_PARSE (bad magic),
 * SV_E_UNSUPP (version other than 1) or SV_E_TOOBIG (payload over 1 MiB).
 * f->payload is set to NULL. */
int sv_wire_header_parse(const uint8_t hdr[SV_WIRE_HDR_LEN], struct sv_wire_frame *f);

/* Parses one whole frame at the start of p[0..len). On success *used is the
 * frame's total size and f->payload points into p. Returns 0, SV_E_AGAIN
 * when p holds less than a whole frame, or the codes of sv_wire_header_parse
 * (bad magic / version are reported even from fewer than 12 bytes). */
int sv_wire_frame_parse(const uint8_t *p, size_t len, struct sv_wire_frame *f, size_t *used);

/* Writes a 12-byte header (magic, version 1, type, payload length, sequence)
 * to hdr. For a frame whose payload is sent from elsewhere, e.g. a stored
 * frame re-sent with a new sequence. Never fails. */
void sv_wire_header_encode(uint8_t hdr[SV_WIRE_HDR_LEN], uint8_t type, uint32_t payload_len,
                           uint32_t seq);

/* Short name of a frame type ("DATA_SIP"), "UNKNOWN" for others; static. */
const char *sv_wire_type_name(uint8_t type);

/* ------------------------------------------------------------ encoders
 *
 * Each appends one complete frame with sequence `seq` to out. Returns 0,
 * -EINVAL (a u16-length field longer than 65535, or an address family other
 * than 4/6, or src and dst of different families), SV_E_TOOBIG (payload over
 * 1 MiB) or -ENOMEM. On error out is left as it was. Input structs are read
 * only; decoded structs can be re-encoded as they are. */
int sv_wire_encode_raw(struct sv_buf *out, uint8_t type, uint32_t seq, const void *payload,
                       size_t len);
int sv_wire_encode_handshake(struct sv_buf *out, uint32_t seq, const struct sv_wire_handshake *m);
int sv_wire_encode_handshake_ack(struct sv_buf *out, uint32_t seq,
                                 const struct sv_wire_handshake_ack *m);
int sv_wire_encode_sip(struct sv_buf *out, uint32_t seq, const struct sv_wire_sip *m);
/* Writes DATA_RTCP_ADDR when m->has_addr is set (flags' IPv6 bit is derived
 * from the address family; its other bits are sent as given), else DATA_RTCP. */
int sv_wire_encode_rtcp(struct sv_buf *out, uint32_t seq, const struct sv_wire_rtcp *m);
int sv_wire_encode_log(struct sv_buf *out, uint32_t seq, const struct sv_wire_log *m);
int sv_wire_encode_quality(struct sv_buf *out, uint32_t seq, const struct sv_wire_quality *m);
/* type is SV_WIRE_HEARTBEAT or SV_WIRE_HEARTBEAT_ACK (else -EINVAL). */
int sv_wire_encode_heartbeat(struct sv_buf *out, uint8_t type, uint32_t seq, uint64_t ts_ns);
int sv_wire_encode_ack(struct sv_buf *out, uint32_t seq, uint32_t acked);
int sv_wire_encode_stats(struct sv_buf *out, uint32_t seq, const struct sv_wire_stats *m);

/* ------------------------------------------------------------ payload decoders
 *
 * Each takes a frame of its type (else -EINVAL) and fills *m with slices
 * borrowed from f->payload. Returns 0, SV_E_TRUNC or SV_E_PARSE; *m is
 * unspecified on error. */
int sv_wire_decode_handshake(const struct sv_wire_frame *f, struct sv_wire_handshake *m);
int sv_wire_decode_handshake_ack(const struct sv_wire_frame *f, struct sv_wire_handshake_ack *m);
/* SV_E_PARSE when the direction's low 7 bits are neither 0 nor 1. */
int sv_wire_decode_sip(const struct sv_wire_frame *f, struct sv_wire_sip *m);
/* Accepts DATA_RTCP and DATA_RTCP_ADDR. */
int sv_wire_decode_rtcp(const struct sv_wire_frame *f, struct sv_wire_rtcp *m);
int sv_wire_decode_log(const struct sv_wire_frame *f, struct sv_wire_log *m);
int sv_wire_decode_quality(const struct sv_wire_frame *f, struct sv_wire_quality *m);
/* Accepts HEARTBEAT and HEARTBEAT_ACK. */
int sv_wire_decode_heartbeat(const struct sv_wire_frame *f, struct sv_wire_heartbeat *m);
int sv_wire_decode_ack(const struct sv_wire_frame *f, struct sv_wire_ack *m);
int sv_wire_decode_stats(const struct sv_wire_frame *f, struct sv_wire_stats *m);

/* ------------------------------------------------------------ capabilities */

/* Maps a comma-separated capability list to SV_WIRE_CAP_* bits. Unknown names
 * and empty items are ignored (that is what makes negotiation work); spaces
 * and tabs around names are trimmed. Never fails. */
unsigned sv_wire_caps_parse(const uint8_t *p, size_t len);
/* Appends the list for `caps` ("ack,rtcp-addr,stats" order; "" for 0) to out.
 * 0 or -ENOMEM. */
int sv_wire_caps_format(unsigned caps, struct sv_buf *out);

/* ------------------------------------------------------------ sequences
 *
 * With capability "ack" sequences are compared as RFC 1982 serial numbers:
 * a <= b when (uint32_t)(b - a) < 2^31. After 0xffffffff comes 1 (0 is never
 * used as a sequence by an "ack" agent). */
int sv_wire_seq_le(uint32_t a, uint32_t b);
uint32_t sv_wire_seq_next(uint32_t s);

/* ------------------------------------------------------------ streaming decoder
 *
 * Zero-copy where it can be: sv_wire_decoder_feed() only remembers the
 * caller's bytes; sv_wire_decoder_next() returns frames that lie wholly inside
 * them in place and copies only the tail of a frame split across feeds into
 * its own buffer, which therefore never holds more than one frame (header +
 * at most 1 MiB). Use:
 *
 *     sv_wire_decoder_feed(&d, chunk, n);
 *     while ((rc = sv_wire_decoder_next(&d, &f)) > 0)
 *             handle(&f);
 *     if (rc < 0)
 *             close the connection, logging sv_wire_decoder_fault(&d);
 *
 * The chunk must stay valid until next() has returned 0 or an error. */
struct sv_wire_decoder {
	uint8_t *buf; /* assembles one frame split across feeds */
	size_t cap;
	size_t have;       /* bytes of that frame in buf */
	size_t want;       /* its total size once the header is in, else 0 */
	const uint8_t *in; /* the borrowed chunk of the last feed */
	size_t in_len;
	size_t in_off;
	int err; /* sticky error */
	uint64_t frames;
	uint64_t bytes; /* consumed as frames */
	char fault[96];
};

void sv_wire_decoder_init(struct sv_wire_decoder *d);
/* Frees the buffer; the decoder is reset and usable again. Accepts NULL. */
void sv_wire_decoder_release(struct sv_wire_decoder *d);

/* Hands the decoder the next len bytes of the stream (borrowed). Returns 0,
 * -EBUSY when the previous chunk has not been consumed yet (call next() until
 * it returns 0 first), or the sticky error of an earlier failure. */
int sv_wire_decoder_feed(struct sv_wire_decoder *d, const void *data, size_t len);

/* Returns 1 and fills *f with the next frame (its payload valid until the
 * next call on the decoder, and no longer than the fed chunk if it points
 * there), 0 when more bytes are needed, or a negative error after which the
 * stream cannot continue and every later call returns it again:
 * SV_E_PARSE bad magic, SV_E_UNSUPP bad version, SV_E_TOOBIG payload over
 * 1 MiB, -ENOMEM. sv_wire_decoder_fault() then describes it. */
int sv_wire_decoder_next(struct sv_wire_decoder *d, struct sv_wire_frame *f);

/* Bytes received but not yet returned as a frame (a partial frame at EOF). */
size_t sv_wire_decoder_pending(const struct sv_wire_decoder *d);

/* A one-line description of the decoder's error ("" when none), valid until
 * the decoder is released or reinitialised. */
const char *sv_wire_decoder_fault(const struct sv_wire_decoder *d);

#endif
