/*
 * pcapfile.h - write the SIP messages of a call as a pcap file (sip.pcap.gz).
 *
 * The server knows, per captured SIP message, when it was seen, between which
 * addresses and ports, over which transport, and its bytes. The writer turns
 * that into a classic pcap file that Wireshark and tshark open directly:
 *
 * - nanosecond pcap (magic 0xa1b23c4d, written big-endian), LINKTYPE_RAW
 *   (101): every record is an IPv4 or IPv6 packet, no link-layer header;
 * - IPv4 headers carry a correct header checksum, UDP and TCP correct
 *   checksums (with the pseudo-header), TTL / hop limit 64;
 * - UDP messages become one datagram each (no IP fragmentation: a raw-IP pcap
 *   has no MTU, so one IP packet holds up to 65507 bytes of UDP payload over
 *   IPv4 and 65527 over IPv6; a larger message is refused with SV_E_TOOBIG);
 * - TCP, TLS, SCTP, WS and WSS messages are written as TCP segments (PSH|ACK)
 *   of one stream per address/port pair: each direction's sequence number
 *   advances by the bytes sent, the ACK field carries the peer's next
 *   sequence number, and a message longer than the segment size is split
 *   into several segments with the same timestamp. The stream starts without
 *   a handshake (tshark dissects it fine). Encrypted transports are written
 *   as the cleartext SIP the server received.
 *
 * Memory: the pcap records accumulate in an sv_buf inside the writer (the
 * whole call is in memory, about payload + 48 bytes per message); finish
 * copies them out.
 */
#ifndef SV_PCAPFILE_H
#define SV_PCAPFILE_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

enum sv_pcap_transport {
	SV_PCAP_UDP = 0,
	SV_PCAP_TCP = 1,
	SV_PCAP_TLS = 2,
	SV_PCAP_SCTP = 3,
	SV_PCAP_WS = 4,
	SV_PCAP_WSS = 5,
};

/* The default and the largest TCP segment payload: an IPv4 packet with
 * 20-byte IP and TCP headers stays at 65535 bytes. */
#define SV_PCAPW_MAX_SEGMENT 65495

/* One captured SIP message (all fields borrowed for the duration of add). */
struct sv_pcap_rec {
	uint64_t ts_ns;  /* capture time, ns since the epoch */
	int family;      /* AF_INET or AF_INET6 */
	uint8_t src[16]; /* IPv4 in the first 4 bytes */
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	enum sv_pcap_transport transport;
	const uint8_t *payload;
	size_t len;
};

struct sv_pcapw_flow; /* private: a TCP stream's sequence numbers */

struct sv_pcapw {
	struct sv_buf body; /* the records written so far */
	size_t count;       /* records (packets) written */
	size_t segment;     /* TCP segment payload size, 1..SV_PCAPW_MAX_SEGMENT */
	uint16_t ip_id;     /* next IPv4 identification */
	struct sv_pcapw_flow *flows;
	size_t nflows;
	size_t flows_cap;
};

/* Prepares an empty writer (no allocation). w->segment may be lowered after
 * this to split TCP messages into smaller segments. */
void sv_pcapw_init(struct sv_pcapw *w);

/*
 * Appends one message as one or more packets. Returns 0, -EINVAL (family or
 * transport unknown, payload NULL with len > 0, bad segment size), SV_E_TOOBIG
 * (UDP payload beyond one IP packet) or -ENOMEM. On error nothing is added.
 * Messages are written in call order; the caller sorts them by time if it
 * wants a time-ordered file.
 */
int sv_pcapw_add(struct sv_pcapw *w, const struct sv_pcap_rec *rec);

/* Appends the complete pcap file (header and every record) to out. The
 * writer is left as it was: more messages can be added and finish called
 * again. Returns 0 or -ENOMEM. */
int sv_pcapw_finish(struct sv_pcapw *w, struct sv_buf *out);

/* Like sv_pcapw_finish() but appends the gzip of the file (sip.pcap.gz).
 * Returns 0, -ENOMEM or -EIO. */
int sv_pcapw_finish_gz(struct sv_pcapw *w, struct sv_buf *out);

/* Frees the writer's memory; it is empty and usable again. Accepts NULL. */
void sv_pcapw_release(struct sv_pcapw *w);

#endif
