/*
 * evidence.h - what the call engine keeps of one call's traffic, and the
 * stored objects built from it: sip.pcap.gz, rtcp.json.gz, quality.json and
 * the log chunks (contract sections 4-6, docs/formats.md).
 *
 * The engine (session.c) decides which frames belong to a call and appends
 * them as records to the call's struct sv_evidence; at COMPLETE it hands the
 * evidence and what it knows of the call (times, status, end reason) to
 * sv_evidence_build(). Everything that needs the whole dialog (caller tag,
 * SDP endpoints and codec, RTCP direction) is worked out here, once, by
 * re-parsing the stored messages, so ingest stays cheap and packet order
 * does not matter.
 *
 * rtcp.json and quality.json: quality.json is exactly what
 * `sipvault-server --analyze` makes of the stored rtcp.json. The builder
 * does not parse the document it wrote: rtcpjson.h's
 * sv_rtcpjson_load_reports() gives the reader's view of the same reports
 * (rtcpjson owns that normalisation and its limits), and a codec whose SDP
 * clock rate the reader would refuse (above SV_RTCPJSON_CLOCK_MAX) is not
 * taken from that SDP.
 *
 * Pure: no clock, no files. Not thread-safe per evidence.
 */
#ifndef SV_EVIDENCE_H
#define SV_EVIDENCE_H

#include "base/buf.h"
#include "call/quality.h"
#include "proto/wire.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

/* Where an RTCP report came from. */
enum sv_rtcp_origin {
	SV_RTCP_FROM_AGENT = 0, /* DATA_RTCP / DATA_RTCP_ADDR: rtcp.json "source": "agent" */
	SV_RTCP_FROM_HEP = 1,   /* HEP type 5: "source": "hep" */
};

/* One SIP message as captured (one allocation with its bytes). */
struct sv_ev_sip {
	STAILQ_ENTRY(sv_ev_sip) link; /* arrival order */
	uint64_t ts_ns;
	uint64_t seq;      /* arrival order (ties in the time sort) */
	uint8_t family;    /* 4 or 6 */
	uint8_t transport; /* enum sv_pcap_transport */
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
	uint32_t len;
	uint8_t data[];
};

/* One RTCP report block (RFC 3550 fields) and the round trip worked out at ingest. */
struct sv_ev_block {
	uint32_t ssrc;
	uint8_t fraction_lost;
	int32_t cumulative_lost;
	uint32_t highest_seq, jitter, lsr, dlsr;
	float rtt_ms; /* < 0: unknown */
};

/* One SR, RR or XR packet of a compound (one allocation: blocks, then raw bytes). */
struct sv_ev_rtcp {
	SLIST_ENTRY(sv_ev_rtcp) link; /* newest first */
	uint64_t ts_ns;
	uint64_t hash; /* of the whole compound datagram (dedupe) */
	uint32_t compound_len;
	uint32_t ssrc;       /* sender SSRC of this packet */
	uint32_t first_ssrc; /* sender SSRC of the compound's first packet (dedupe) */
	uint32_t sr_ntp;     /* SR: compact NTP of the sender info, else 0 */
	uint8_t pt;          /* SV_RTCP_SR, _RR or _XR */
	uint8_t origin;      /* enum sv_rtcp_origin */
	uint8_t has_addr;
	uint8_t n_blocks;
	struct sv_wire_addr src, dst;
	uint32_t raw_len; /* this packet's bytes (0: none) */
	struct sv_ev_block blocks[];
};

/* The raw bytes of an RTCP record (raw_len of them). */
static inline const uint8_t *sv_ev_rtcp_raw(const struct sv_ev_rtcp *r)
{
	return (const uint8_t *)&r->blocks[r->n_blocks];
}

/* One proxy log line, without its line end. */
struct sv_ev_log {
	STAILQ_ENTRY(sv_ev_log) link;
	uint32_t len;
	uint8_t data[];
};

STAILQ_HEAD(sv_ev_sip_list, sv_ev_sip);
SLIST_HEAD(sv_ev_rtcp_list, sv_ev_rtcp);
STAILQ_HEAD(sv_ev_log_list, sv_ev_log);

/*
 * A call's evidence. Every record is one malloc'd block the evidence owns
 * (appended by the engine with the STAILQ/SLIST macros). Initialise with
 * sv_evidence_init() (the list heads point into the struct: it must not move
 * afterwards), free with sv_evidence_release().
 */
struct sv_evidence {
	struct sv_ev_sip_list sip;
	struct sv_ev_rtcp_list rtcp; /* newest first */
	struct sv_ev_log_list log;
	size_t n_log;
	uint8_t *quality; /* the agent's DATA_QUALITY JSON (NUL-terminated), or NULL */
	size_t quality_len;
	uint64_t quality_ts;
};

void sv_evidence_init(struct sv_evidence *ev);
/* Frees every record and the quality document; ev is empty afterwards. */
void sv_evidence_release(struct sv_evidence *ev);

/* Bytes a record holds (what the engine counts as the call's memory). */
static inline size_t sv_ev_sip_size(const struct sv_ev_sip *r)
{
	return sizeof(*r) + r->len;
}
static inline size_t sv_ev_rtcp_size(const struct sv_ev_rtcp *r)
{
	return sizeof(*r) + r->n_blocks * sizeof(struct sv_ev_block) + r->raw_len;
}
static inline size_t sv_ev_log_size(const struct sv_ev_log *r)
{
	return sizeof(*r) + r->len;
}

/*
 * Gzips the first n log lines, each followed by '\n', into out (a
 * "log-NNNNNN.gz" object); the lines stay. 0, -ENOMEM or -EIO.
 */
int sv_evidence_log_gz(const struct sv_evidence *ev, size_t n, struct sv_buf *out);

/* Frees the first n log lines; returns the bytes they held. */
size_t sv_evidence_drop_log(struct sv_evidence *ev, size_t n);

/* The objects of a completed call; buffers owned by the struct (the hook may
 * sv_buf_take() them). sv_call_objects_release() frees what is left. */
struct sv_call_objects {
	struct sv_buf sip_pcap_gz;  /* sip.pcap.gz */
	struct sv_buf rtcp_json_gz; /* rtcp.json.gz */
	struct sv_buf quality_json; /* quality.json */
	unsigned log_chunk;         /* number of the final log chunk, 0 when none */
	struct sv_buf log_gz;       /* log-NNNNNN.gz for log_chunk */
};

/* Empty objects (every buffer initialised, log_chunk 0). */
void sv_call_objects_init(struct sv_call_objects *objs);
/* Frees the buffers; accepts NULL. */
void sv_call_objects_release(struct sv_call_objects *objs);

/* What the engine knows of the call, beyond its records. */
struct sv_evidence_call {
	const char *customer;
	const uint8_t *call_id; /* bytes, any content (made valid UTF-8 in the objects) */
	size_t call_id_len;
	int answered;         /* a 2xx answered the initial INVITE */
	uint64_t started_ns;  /* the initial INVITE's capture time (else the first message's) */
	uint64_t answered_ns; /* the answer's capture time (when answered) */
	uint64_t ended_ns;    /* BYE / CANCEL / final failure, else the last message's time */
	int final_status;     /* final status of the INVITE, 0 when none */
	enum sv_quality_end end_reason;
	unsigned log_chunk; /* the number the final log chunk gets, when there are lines */
};

/*
 * Builds every object of a completed call into out (which must be empty, see
 * sv_call_objects_init): sip.pcap.gz (messages in capture order), rtcp.json.gz
 * (reports oldest first, each with its direction), quality.json (from the
 * RTCP samples, else from the agent's RTP quality document), and, when log
 * lines are left, the final chunk of all of them as out->log_gz numbered
 * call->log_chunk (the lines stay in ev: drop them once the objects are
 * handed on). *unknown_dir receives how many reports had no direction.
 * Returns 0, or -ENOMEM / -EIO with out partly filled (release it).
 */
int sv_evidence_build(const struct sv_evidence *ev, const struct sv_evidence_call *call,
                      struct sv_call_objects *out, size_t *unknown_dir);

#endif
