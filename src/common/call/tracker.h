/*
 * tracker.h - the agent's call tracker: which SIP messages, RTCP packets and
 * log lines belong to which INVITE dialog, and RTP analysis for calls that
 * will send no RTCP.
 *
 * Pure and single-threaded: no sockets, no clock. The caller owns a struct
 * sv_tracker (sv_tracker_new / sv_tracker_free), passes the capture time
 * (ns since the epoch) into every call, and gets a decision back:
 *
 *   sv_tracker_sip()   ship this SIP message as DATA_SIP with Call-ID X,
 *                      or drop it (counted, with the reason);
 *   sv_tracker_media() ship this RTCP packet for call X with SSRC S (the
 *                      caller adds the UDP addresses for DATA_RTCP_ADDR), or
 *                      drop it (unmatched, counted); RTP of a call with
 *                      a=rtcp:0 is analysed here (nothing to ship);
 *   sv_tracker_log()   this log line belongs to call X, or to none (never
 *                      ship it);
 *   sv_tracker_poll()  timed events: DATA_QUALITY JSON for a call with RTP
 *                      analysis, shortly after its end; a call expired
 *                      (grace over, forgotten).
 *
 * Calls. Only INVITE dialogs are tracked: an INVITE with an unknown Call-ID
 * starts a call; every later request or response with that Call-ID is part
 * of it (ACK, BYE, CANCEL, PRACK, UPDATE, re-INVITE, INFO, REFER, in-dialog
 * NOTIFY / SUBSCRIBE / OPTIONS / MESSAGE, and the INVITE retried after a
 * 401/407 challenge, which reuses the Call-ID). Any other request with an
 * unknown Call-ID (OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, MESSAGE, PUBLISH...)
 * and any response with an unknown Call-ID is dropped and counted.
 *
 *   EARLY  --2xx to the INVITE-->  CONFIRMED
 *   EARLY  --final >= 300 to the INVITE, CANCEL-->  ENDED
 *   any    --BYE-->  ENDED
 *   EARLY / CONFIRMED  --no activity for pending / active timeout-->  ENDED
 *   ENDED  --a new INVITE (auth retry)-->  EARLY;  --2xx after CANCEL--> CONFIRMED
 *   ENDED  --grace over-->  forgotten (sv_tracker_poll reports it)
 *
 * While ENDED (the grace period) the call still takes its SIP messages (200
 * to BYE, ACK of a 487), RTCP and log lines.
 *
 * Media. Every SDP of the dialog (offers and answers, the original and the
 * one a media relay rewrote) adds endpoints: for each m= with a port and a
 * literal address, the RTCP endpoint (sdp.h sv_sdp_rtcp: the RTP port with
 * a=rtcp-mux, else a=rtcp's port/address, else RTP port + 1) is registered
 * for the call, and the side (caller/callee) whose SDP named it. With
 * a=rtcp:0 the RTP endpoint is registered instead and the call's RTP is
 * analysed (rtpstats.h). A datagram whose source or destination is a
 * registered endpoint belongs to that call (the newest registration wins
 * when two calls name the same endpoint); after the first match the RTCP
 * sender's SSRC is learned, so later reports from it match even from an
 * unknown address. Endpoints and SSRCs are forgotten when the call expires.
 *
 * Logs. A line belongs to the live (or in-grace) call whose Call-ID occurs
 * in it as a substring ("Call-ID: abc@host", "[B2B::abc@host]",
 * "dlg:abc@host" all match abc@host). The search is one pass over the line
 * with a hash lookup per byte: each Call-ID is indexed by one of its
 * SV_TRACKER_LOG_GRAM-byte substrings (the least shared one), and a hit is
 * verified with memcmp, so the cost does not grow with the number of calls.
 * Call-IDs shorter than SV_TRACKER_LOG_GRAM bytes are not used for logs
 * (they would match unrelated text). A line naming several calls goes to
 * the one whose Call-ID starts leftmost, the longest at equal starts (so
 * "11-42@h" beats "1-42@h" inside "[B2B::11-42@h]").
 *
 * Lifetime of returned slices: every call_id slice handed out points into
 * memory the tracker owns and stays valid until the next sv_tracker_poll()
 * or sv_tracker_free() (the only functions that forget calls); JSON of a
 * QUALITY event too.
 *
 * Memory is bounded: at most limits.max_calls calls (new INVITEs beyond are
 * dropped and counted), SV_TRACKER_MAX_ENDPOINTS endpoints and
 * SV_TRACKER_MAX_SSRCS SSRCs per call (the oldest is replaced), Call-IDs up
 * to SV_TRACKER_MAX_CALLID bytes.
 */
#ifndef SV_TRACKER_H
#define SV_TRACKER_H

#include "proto/packet.h"
#include "proto/rtpstats.h"
#include "proto/sip.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SV_TRACKER_MAX_CALLID    1024
#define SV_TRACKER_MAX_ENDPOINTS 16
#define SV_TRACKER_MAX_SSRCS     16
#define SV_TRACKER_LOG_GRAM      6 /* shortest Call-ID used for log slicing */

struct sv_tracker_limits {
	uint64_t grace_ns;           /* after the end; 0 means 5 s */
	uint64_t pending_timeout_ns; /* EARLY without SIP; 0 means 300 s */
	uint64_t active_timeout_ns;  /* CONFIRMED without SIP or media; 0 means 1800 s */
	uint64_t quality_delay_ns;   /* DATA_QUALITY after the end (capped at grace); 0 means 1 s */
	size_t max_calls;            /* 0 means 100000 */
};

/* One side of a UDP/TCP flow. family is AF_INET or AF_INET6; IPv4 uses
 * addr[0..4) and the rest must be zero. */
struct sv_tracker_flow {
	int family;
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
};

/* Which side of the call. */
enum sv_tracker_side {
	SV_TRACKER_SIDE_UNKNOWN = 0,
	SV_TRACKER_SIDE_UAC = 1, /* the caller (From of the initial INVITE) */
	SV_TRACKER_SIDE_UAS = 2, /* the called side */
};

enum sv_tracker_drop {
	SV_TRACKER_KEEP = 0,
	SV_TRACKER_DROP_PARSE,         /* not a parseable SIP message */
	SV_TRACKER_DROP_CALLID,        /* Call-ID empty or longer than SV_TRACKER_MAX_CALLID */
	SV_TRACKER_DROP_OUT_OF_DIALOG, /* a non-INVITE request with an unknown Call-ID */
	SV_TRACKER_DROP_NO_DIALOG,     /* a response with an unknown Call-ID */
	SV_TRACKER_DROP_FULL,          /* a new INVITE beyond max_calls */
	SV_TRACKER_DROP_NOMEM,         /* a new INVITE that could not be stored */
	SV_TRACKER_NDROP
};

/* Decision for one SIP message. */
struct sv_tracker_sip_res {
	enum sv_tracker_drop drop; /* SV_TRACKER_KEEP: ship it */
	struct sv_str call_id;     /* the call's Call-ID (tracker memory) when kept */
	bool created;              /* this INVITE started the call */
	enum sv_sip_method method; /* request method, or CSeq method of a response */
};

enum sv_tracker_media_kind {
	SV_TRACKER_MEDIA_RTCP = 0,  /* RTCP matched to a call: ship it */
	SV_TRACKER_MEDIA_UNMATCHED, /* RTCP matching no call: drop (counted) */
	SV_TRACKER_MEDIA_RTP,       /* RTP of an analysed call: accounted, nothing to ship */
	SV_TRACKER_MEDIA_IGNORED,   /* RTP not analysed, or neither RTP nor RTCP */
};

enum sv_tracker_match {
	SV_TRACKER_BY_NONE = 0,
	SV_TRACKER_BY_SRC, /* the source is a registered endpoint */
	SV_TRACKER_BY_DST, /* the destination is */
	SV_TRACKER_BY_SSRC /* the sender SSRC was learned earlier */
};

struct sv_tracker_media_res {
	enum sv_tracker_media_kind kind;
	struct sv_str call_id;       /* RTCP and RTP */
	uint32_t ssrc;               /* sender SSRC (RTCP: first packet's; RTP: header) */
	enum sv_tracker_side sender; /* side that sent the packet, when known */
	enum sv_tracker_match by;
};

enum sv_tracker_end {
	SV_TRACKER_END_NONE = 0,
	SV_TRACKER_END_BYE,
	SV_TRACKER_END_CANCEL,
	SV_TRACKER_END_FAILED, /* final >= 300 to the initial INVITE */
	SV_TRACKER_END_TIMEOUT,
};

enum sv_tracker_event_kind {
	SV_TRACKER_EV_QUALITY = 1, /* json: send as DATA_QUALITY for call_id */
	SV_TRACKER_EV_EXPIRED = 2, /* the call is forgotten */
};

struct sv_tracker_event {
	enum sv_tracker_event_kind kind;
	struct sv_str call_id;
	enum sv_tracker_end end_reason;
	int final_status; /* last final status to the INVITE, 0 when none */
	uint64_t end_ns;
	const uint8_t *json; /* QUALITY only */
	size_t json_len;
};

struct sv_tracker_stats {
	uint64_t calls_live;    /* calls held now (including ENDED) */
	uint64_t calls_created; /* INVITE dialogs started */
	uint64_t calls_revived; /* INVITE retried on an ended call (auth challenge) */
	uint64_t calls_expired;
	uint64_t sip_kept;
	uint64_t sip_dropped[SV_TRACKER_NDROP];   /* by reason */
	uint64_t out_of_dialog[SV_SIP_OTHER + 1]; /* dropped requests by method */
	uint64_t sdp_seen, sdp_bad;               /* SDP bodies parsed / unparseable */
	uint64_t endpoints;                       /* registered now */
	uint64_t rtcp_kept, rtcp_unmatched, rtcp_by_ssrc;
	uint64_t rtp_analysed, rtp_ignored;
	uint64_t log_matched, log_unmatched;
	uint64_t quality_emitted;
};

struct sv_tracker;

/* Creates a tracker (limits may be NULL: all defaults). Returns 0 and *out,
 * or -ENOMEM. Free with sv_tracker_free() (accepts NULL). */
int sv_tracker_new(const struct sv_tracker_limits *limits, struct sv_tracker **out);
void sv_tracker_free(struct sv_tracker *t);

/* Fills a flow from a decoded packet's addresses and ports. */
void sv_tracker_flow_from_packet(const struct sv_packet *p, struct sv_tracker_flow *f);

/*
 * Decides about one SIP message (a UDP payload or one message framed out of
 * a TCP stream) seen at now_ns, updating the dialog state and learning the
 * media endpoints of its SDP. flow may be NULL (used only for diagnostics
 * today). Returns 0 with *res filled: res->drop says whether to ship (an
 * allocation failure for a new call is SV_TRACKER_DROP_NOMEM; one while
 * learning endpoints only loses that endpoint).
 */
int sv_tracker_sip(struct sv_tracker *t, uint64_t now_ns, const struct sv_tracker_flow *flow,
                   const uint8_t *msg, size_t len, struct sv_tracker_sip_res *res);

/*
 * Decides about one UDP datagram in the RTP/RTCP port range seen at now_ns:
 * RTCP (sv_rtcp_looks_like) is matched to a call by its source endpoint,
 * then its destination endpoint, then its sender SSRC; RTP whose endpoint
 * belongs to a call with RTP analysis is accounted. Returns 0 with *res
 * filled, or -ENOMEM (RTP analysis state could not be allocated; res says
 * IGNORED).
 */
int sv_tracker_media(struct sv_tracker *t, uint64_t now_ns, const struct sv_tracker_flow *flow,
                     const uint8_t *data, size_t len, struct sv_tracker_media_res *res);

/*
 * Finds the call a log line belongs to. Returns 1 and sets *call_id, or 0
 * (ship nothing). The line may hold any bytes (no terminator needed).
 */
int sv_tracker_log(struct sv_tracker *t, uint64_t now_ns, const char *line, size_t len,
                   struct sv_str *call_id);

/*
 * Runs what is due at now_ns: timeouts end calls, QUALITY events for
 * analysed calls quality_delay after their end, EXPIRED events grace after
 * their end. Returns 1 with one event in *ev (call again until it returns
 * 0), or 0 when nothing more is due. Slices in *ev live until the next
 * sv_tracker_poll() / sv_tracker_free(); slices returned earlier by the other
 * functions may die here.
 */
int sv_tracker_poll(struct sv_tracker *t, uint64_t now_ns, struct sv_tracker_event *ev);

/* When sv_tracker_poll() has something to do next (ns), UINT64_MAX if never. */
uint64_t sv_tracker_next_deadline(const struct sv_tracker *t);

void sv_tracker_stats(const struct sv_tracker *t, struct sv_tracker_stats *out);

/* "keep", "parse", "call-id", "out-of-dialog", "no-dialog", "full", "nomem". */
const char *sv_tracker_drop_name(enum sv_tracker_drop d);

#endif
