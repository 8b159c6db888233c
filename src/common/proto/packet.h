/*
 * packet.h - decode captured frames (link, IP, transport) and read capture files.
 *
 * sv_packet_decode() takes one frame as libpcap hands it over and finds the
 * IP header, the addresses, the transport protocol and ports and the L4
 * payload. It never reassembles: an IP fragment is reported as a fragment
 * (id, offset, more) whose payload is the fragment data, and a TCP segment is
 * reported as the segment it is. Every pointer it stores borrows the frame.
 *
 * Link types (the DLT_ value pcap_datalink() returns or the LINKTYPE_ value
 * from a file header): Ethernet (1) with 802.1Q / 802.1ad / QinQ tags, PPPoE
 * session and MPLS label stacks, Linux
 * cooked SLL (113) and SLL2 (276), BSD loopback NULL (0) and LOOP (108), raw
 * IP (12, 14, 101), raw IPv4 (228) and raw IPv6 (229). IPv4 options and IPv6
 * extension headers (hop-by-hop, routing, destination options, fragment) are
 * skipped; IP-in-IP (protocol 4 or 41) is followed to the inner packet.
 *
 * The reader opens pcap and pcapng files through libpcap with nanosecond
 * timestamps, and gzip-compressed captures (e.g. our own sip.pcap.gz) by
 * decompressing them to memory first.
 */
#ifndef SV_PACKET_H
#define SV_PACKET_H

#include <stddef.h>
#include <stdint.h>

/* Link types accepted by sv_packet_decode(). */
#define SV_PACKET_LINK_NULL     0
#define SV_PACKET_LINK_ETHERNET 1
#define SV_PACKET_LINK_RAW12    12 /* DLT_RAW on most systems */
#define SV_PACKET_LINK_RAW14    14 /* DLT_RAW on BSD/OS */
#define SV_PACKET_LINK_RAW      101
#define SV_PACKET_LINK_LOOP     108
#define SV_PACKET_LINK_SLL      113
#define SV_PACKET_LINK_IPV4     228
#define SV_PACKET_LINK_IPV6     229
#define SV_PACKET_LINK_SLL2     276

/* IP protocol numbers of interest (struct sv_packet.proto). */
#define SV_PACKET_PROTO_TCP  6
#define SV_PACKET_PROTO_UDP  17
#define SV_PACKET_PROTO_SCTP 132

/* struct sv_packet.flags */
#define SV_PACKET_F_FRAG   0x01 /* an IP fragment: see frag_*; L4 not decoded */
#define SV_PACKET_F_TRUNC  0x02 /* the frame ends before the IP/L4 length says */
#define SV_PACKET_F_TUNNEL 0x04 /* IP-in-IP: addresses are the inner packet's */

/* struct sv_packet.tcp_flags */
#define SV_PACKET_TCP_FIN 0x01
#define SV_PACKET_TCP_SYN 0x02
#define SV_PACKET_TCP_RST 0x04
#define SV_PACKET_TCP_PSH 0x08
#define SV_PACKET_TCP_ACK 0x10

/* Room for "[ffff:...:ffff]:65535" and a NUL. */
#define SV_PACKET_ADDRSTRLEN 56

struct sv_packet {
	/* The frame (borrowed) and how it was captured; set by the reader,
	 * and by sv_packet_decode() for frame/caplen/linktype. */
	const uint8_t *frame;
	size_t caplen;
	size_t wirelen;
	int linktype;
	/* Result of sv_packet_decode() on this frame (the reader keeps frames
	 * that do not decode, e.g. ARP, and reports the error here). */
	int decode_rc;

	int vlan_count;   /* tags seen (may exceed 2; only 2 are recorded) */
	uint16_t vlan[2]; /* VLAN ids, outermost first */

	int family;      /* AF_INET or AF_INET6 */
	uint8_t src[16]; /* IPv4 in the first 4 bytes, rest zero */
	uint8_t dst[16];
	uint8_t proto;  /* IP protocol of the payload (after extension headers) */
	uint8_t ttl;    /* TTL / hop limit */
	unsigned flags; /* SV_PACKET_F_* */

	/* Fragment info (SV_PACKET_F_FRAG): IPv4 id or IPv6 identification,
	 * byte offset of this fragment, more-fragments bit. */
	uint32_t frag_id;
	uint32_t frag_offset;
	int frag_more;

	/* Transport (when not a fragment): ports for UDP, TCP and SCTP. */
	uint16_t sport;
	uint16_t dport;
	uint32_t tcp_seq;
	uint32_t tcp_ack;
	uint8_t tcp_flags; /* SV_PACKET_TCP_* */

	/* The L4 payload (UDP data, TCP segment data, SCTP chunks), the fragment
	 * data for a fragment, or the IP payload for any other protocol.
	 * payload_len counts captured bytes; l4_len is the length the headers
	 * declare (larger than payload_len only when SV_PACKET_F_TRUNC). */
	const uint8_t *payload;
	size_t payload_len;
	size_t l4_len;
};

/*
 * Decodes one frame into *out (which it clears first). Returns 0, or
 * SV_E_UNSUPP (unknown link type, non-IP ethertype such as ARP, IP version not
 * 4/6), SV_E_TRUNC (a header is cut short) or SV_E_PARSE (impossible lengths).
 * On error *out holds what was decoded so far. Pointers in *out borrow frame.
 */
int sv_packet_decode(int linktype, const uint8_t *frame, size_t caplen, struct sv_packet *out);

/*
 * Decodes an L4 header of protocol `proto` (UDP, TCP, SCTP; others are kept as
 * payload) from data[0..len) into the transport fields and payload of *p,
 * leaving the IP fields alone. For a datagram the agent reassembled from
 * fragments. Returns 0, SV_E_TRUNC or SV_E_PARSE. p->payload borrows data.
 */
int sv_packet_decode_l4(struct sv_packet *p, uint8_t proto, const uint8_t *data, size_t len);

/*
 * Formats "1.2.3.4:5060" or "[2001:db8::1]:5060" into buf (at least
 * SV_PACKET_ADDRSTRLEN bytes are always enough). Returns buf; an unknown
 * family gives "?".
 */
char *sv_packet_addr_str(int family, const uint8_t addr[16], uint16_t port, char *buf, size_t len);

/* ---------------------------------------------------------------- reader */

struct sv_packet_reader;

/*
 * Opens a pcap or pcapng file, plain or gzip-compressed (the latter is
 * decompressed to memory, at most 1 GiB). Timestamps are read with nanosecond
 * precision. Returns 0 and *out (free with sv_packet_reader_close()), or a
 * negative code with a message in err (when errlen > 0).
 */
int sv_packet_reader_open(const char *path, struct sv_packet_reader **out, char *err,
                          size_t errlen);

/*
 * Reads the next frame and decodes it. Returns 1 with *out and *ts_ns (ns
 * since the epoch) filled, 0 at end of file, or SV_E_PARSE when the file is
 * corrupt (sv_packet_reader_error() says why). Every frame is returned, also
 * those that do not decode: check out->decode_rc. The pointers in *out stay
 * valid until the next call or close.
 */
int sv_packet_reader_next(struct sv_packet_reader *r, struct sv_packet *out, uint64_t *ts_ns);

/* The capture's link type (DLT_ value). */
int sv_packet_reader_linktype(const struct sv_packet_reader *r);

/* The last libpcap error message (static to the reader, lives until close). */
const char *sv_packet_reader_error(const struct sv_packet_reader *r);

/* Closes the file and frees the reader. Accepts NULL. */
void sv_packet_reader_close(struct sv_packet_reader *r);

#endif
