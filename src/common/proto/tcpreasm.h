/*
 * tcpreasm.h - TCP stream reassembly and SIP message framing for a passive
 * capture.
 *
 * Each direction of a TCP connection is a stream, keyed by family, source and
 * destination address and port. Segments go in as sv_packet_decode() (or
 * sv_packet_decode_l4() after IP reassembly) reports them; complete SIP
 * messages come out through a callback, in stream order, framed with
 * sv_sip_frame() (header block plus Content-Length): several messages in one
 * segment give several calls, a message spread over segments gives one call
 * once its last byte is in. Leading CRLF keep-alives are skipped; bytes that
 * cannot start a SIP message are skipped up to the next plausible start line
 * (sv_sip_resync()) and counted.
 *
 * Sequence numbers are compared modulo 2^32 (wraparound is fine). A stream
 * starts at the SYN (ISN + 1) or, when the capture began mid-connection, at
 * the first data segment seen (the data before the first start line is
 * resynchronised away). Bytes already delivered are dropped (retransmissions,
 * also partial overlaps); segments ahead of the next expected byte are queued
 * (on overlap the bytes queued first win) and delivered when the hole before
 * them fills.
 *
 * A hole that does not fill within hole_timeout_ns, or whose queued data would
 * exceed max_stream_bytes, is given up: the incomplete message before it is
 * dropped, the stream continues at the first queued byte and resynchronises to
 * the next start line (counted in gaps, gap_bytes, drop_incomplete). A message
 * that alone exceeds max_stream_bytes (or sv_sip_frame()'s limits) is dropped
 * (drop_oversize). RST removes both directions, a FIN removes its direction
 * once every byte before it is in; streams idle for idle_timeout_ns are
 * removed; when max_streams or max_total_bytes would be exceeded the least
 * recently active streams are evicted. An incomplete message dropped by any
 * of these is counted in drop_incomplete.
 *
 * Time is the caller's clock (capture timestamps in ns), only compared.
 * Single-threaded: one object per thread.
 */
#ifndef SV_TCPREASM_H
#define SV_TCPREASM_H

#include <stddef.h>
#include <stdint.h>

struct sv_packet;

/* Bytes charged per queued out-of-order segment on top of its data. */
#define SV_TCPREASM_SEG_OVERHEAD 64

struct sv_tcpreasm_config {
	size_t max_stream_bytes;  /* incomplete message + queued segments; default 256 KiB */
	size_t max_total_bytes;   /* over all streams; default 64 MiB */
	unsigned max_streams;     /* default 4096 */
	uint64_t idle_timeout_ns; /* default 300 s */
	uint64_t hole_timeout_ns; /* wait for a missing segment; default 2 s */
};

/* One framed SIP message, handed to the callback. */
struct sv_tcpreasm_msg {
	int family;         /* AF_INET or AF_INET6 */
	const uint8_t *src; /* 16 bytes, IPv4 in the first 4 */
	const uint8_t *dst;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;   /* sequence number of the message's first byte */
	uint64_t ts_ns; /* time of the segment that completed the message */
	const uint8_t *data;
	size_t len;
};

/*
 * Called once per message. m and everything it points to are borrowed and
 * valid only during the call. The callback must not call sv_tcpreasm_*
 * functions on the same object.
 */
typedef void (*sv_tcpreasm_cb)(void *arg, const struct sv_tcpreasm_msg *m);

/* Counters since sv_tcpreasm_new(); the last two are gauges. */
struct sv_tcpreasm_stats {
	uint64_t segments;         /* TCP packets offered */
	uint64_t bytes;            /* payload bytes accepted into streams (new) */
	uint64_t messages;         /* messages delivered to the callback */
	uint64_t retrans_segments; /* segments holding only bytes already seen */
	uint64_t retrans_bytes;    /* already-seen bytes dropped (incl. partial) */
	uint64_t ooo_segments;     /* segments queued ahead of a hole */
	uint64_t gaps;             /* holes given up (timeout or memory) */
	uint64_t gap_bytes;        /* sequence space skipped by those */
	uint64_t resync_bytes;     /* bytes skipped looking for a start line */
	uint64_t drop_oversize;    /* messages too large to buffer or frame */
	uint64_t drop_incomplete;  /* partial messages dropped (gap, close, evict) */
	uint64_t drop_truncated;   /* segments cut short by the snap length */
	uint64_t streams_opened;
	uint64_t streams_fin;     /* closed by FIN */
	uint64_t streams_rst;     /* closed by RST (each direction counted) */
	uint64_t streams_expired; /* idle for idle_timeout_ns */
	uint64_t streams_evicted; /* max_streams / max_total_bytes */
	/* gauges */
	uint64_t streams_held;
	uint64_t bytes_held; /* incomplete messages + queued data (charged) */
};

struct sv_tcpreasm;

/* Fills *c with the defaults above. */
void sv_tcpreasm_config_default(struct sv_tcpreasm_config *c);

/*
 * Creates a reassembler delivering messages to cb(arg, msg). cfg may be NULL
 * for the defaults; zero fields take their default. Returns NULL when out of
 * memory or cb is NULL. Free with sv_tcpreasm_free().
 */
struct sv_tcpreasm *sv_tcpreasm_new(const struct sv_tcpreasm_config *cfg, sv_tcpreasm_cb cb,
                                    void *arg);

/* Frees everything; incomplete messages are dropped (not delivered, not
 * counted). Accepts NULL. */
void sv_tcpreasm_free(struct sv_tcpreasm *t);

/*
 * Offers one TCP segment (p->proto == TCP, not a fragment; p is borrowed).
 * Runs sv_tcpreasm_expire(t, now_ns) first, then delivers every message the
 * segment completes before returning. Returns 0, -EINVAL for a non-TCP
 * packet or NULL argument, -ENOMEM when memory ran out (the segment's new
 * bytes are lost as if never captured; the stream stays consistent).
 */
int sv_tcpreasm_add(struct sv_tcpreasm *t, const struct sv_packet *p, uint64_t now_ns);

/*
 * Gives up holes older than hole_timeout_ns (delivering the messages queued
 * behind them) and removes streams idle for idle_timeout_ns. Call it now and
 * then (e.g. once a second) when no segments arrive.
 */
void sv_tcpreasm_expire(struct sv_tcpreasm *t, uint64_t now_ns);

/* Copies the counters into *out. */
void sv_tcpreasm_stats(const struct sv_tcpreasm *t, struct sv_tcpreasm_stats *out);

#endif
