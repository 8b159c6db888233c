/*
 * ladder.h - the SIP messages of a call's sip.pcap.gz, in order, for a ladder
 * diagram: read from memory (classic pcap, micro- or nanosecond, either byte
 * order, any link type sv_packet_decode() knows), TCP streams reassembled
 * per direction and framed with sv_sip_frame(), each message parsed with
 * sv_sip_parse() and flagged as a retransmission the way tshark's SIP
 * dissector does (sip.resend): over UDP, a message that repeats the previous
 * message of the same Call-ID in the same direction (same addresses and
 * ports) with the same CSeq number and method and, for responses, the same
 * status code.
 */
#ifndef SV_LADDER_H
#define SV_LADDER_H

#include "base/buf.h"
#include "proto/sip.h"

#include <stddef.h>
#include <stdint.h>

struct sv_ladder_msg {
	uint64_t ts_ns;
	int family; /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	const char *transport; /* "UDP", "TCP", "TLS", "WS", "WSS", "SCTP": static */
	uint8_t *raw;          /* the message bytes (owned) */
	size_t len;
	int parsed;            /* sv_sip_parse() accepted it: sip is valid */
	struct sv_sip_msg sip; /* slices into raw */
	int retransmission;
};

struct sv_ladder {
	struct sv_ladder_msg *v;
	size_t n, cap;
};

/* Most messages read from one capture; the rest are dropped. */
#define SV_LADDER_MAX_MSGS 100000

void sv_ladder_init(struct sv_ladder *l);
void sv_ladder_release(struct sv_ladder *l);
/* Reads a pcap (not compressed) into l (appended). 0, SV_E_PARSE (not a
 * pcap, or a corrupt record header: what was read before stays), -ENOMEM.
 * Frames that are not IP/UDP/TCP/SCTP are skipped. */
int sv_ladder_read_pcap(struct sv_ladder *l, const uint8_t *data, size_t len);
/* Appends the JSON array of the messages: {"index","ts_ns","time" (ISO 8601,
 * ns, UTC),"src","dst","transport","kind" ("request"|"response"|"unparsed"),
 * "method","status","reason","cseq","cseq_method","call_id",
 * "retransmission","raw"}. Invalid UTF-8 in text fields reads as U+FFFD.
 * 0 or -ENOMEM. */
int sv_ladder_json(const struct sv_ladder *l, struct sv_buf *out);
/* Appends one compact line per message: "+1.234s 10.0.0.1:5060 -> 10.0.0.2:5060
 * UDP INVITE (CSeq 1 INVITE)" [" retransmission"]. For the AI context. */
int sv_ladder_text(const struct sv_ladder *l, struct sv_buf *out);
/* Appends s[0..len) as a JSON string, invalid UTF-8 bytes as U+FFFD.
 * 0 or -ENOMEM. */
int sv_ladder_json_string(struct sv_buf *out, const char *s, size_t len);
/* Formats ts_ns as "2026-12-04T04:09:45.123456789Z" into buf[40]. */
void sv_ladder_iso(uint64_t ts_ns, char buf[40]);

#endif
