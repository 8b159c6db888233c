/*
 * session.h - the server's call engine: every call of every customer, from
 * its first INVITE to the objects written at COMPLETE.
 *
 * Pure: no sockets, no files, no clock. The caller passes `now_ns` (wall
 * clock, ns since the Unix epoch) into every entry point, so the timeouts of
 * contract section 2 are tested without sleeping. A call is identified by
 * customer id + Call-ID (bytes, any content).
 *
 *   PENDING  (INVITE seen)  --2xx to the INVITE-->  ACTIVE
 *   PENDING/ACTIVE  --BYE, CANCEL, final non-2xx to the INVITE-->  CLOSING
 *   CLOSING  --grace expired-->  COMPLETE (objects built, hook called)
 *   PENDING  --pending_timeout since the INVITE-->  COMPLETE (end_reason timeout)
 *   ACTIVE   --active_timeout without any frame-->  COMPLETE (end_reason timeout)
 *
 * A new INVITE with the same Call-ID while CLOSING (after a 401/407 or other
 * challenge) returns the call to PENDING: one call, not two. Frames for a
 * COMPLETE call are counted as late (a tombstone remembers the key for
 * tombstone_ns) and never start a new call.
 *
 * Timers: each state keeps an intrusive list ordered by deadline (timeouts
 * are constant per state, so appending keeps the order); sv_sessions_tick()
 * pops expired calls from the list heads. O(1) per frame and per expiry,
 * cheap at 100k concurrent calls.
 *
 * Output goes through hooks: log_chunk and complete are called from inside
 * sv_sessions_tick() / sv_sessions_complete_all() only (never from the ingest
 * functions), so the owner's state is never re-entered while it is feeding a
 * frame. The `created` notification is the one exception: it is called from
 * the ingest function that creates the call (so the owner can fill
 * call->user for the frame it is feeding) and must not call the engine.
 */
#ifndef SV_SESSION_H
#define SV_SESSION_H

#include "base/buf.h"
#include "call/evidence.h"
#include "proto/rtcp.h"
#include "proto/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sv_sessions;

struct sv_session_limits {
	uint64_t pending_timeout_ns; /* SIPVAULT_PENDING_TIMEOUT */
	uint64_t active_timeout_ns;  /* SIPVAULT_ACTIVE_TIMEOUT */
	uint64_t closing_grace_ns;   /* SIPVAULT_CLOSING_GRACE */
	uint64_t log_flush_ns;       /* SIPVAULT_LOG_FLUSH */
	uint64_t tombstone_ns;       /* how long a completed call's key is remembered (0: 600 s) */
};

enum sv_call_state {
	SV_CALL_PENDING = 0,
	SV_CALL_ACTIVE = 1,
	SV_CALL_CLOSING = 2,
	SV_CALL_COMPLETE = 3,
};
#define SV_CALL_NSTATES 4

/* What happened to one ingested frame. */
enum sv_ingest {
	SV_INGEST_STORED = 0,    /* attached to a call */
	SV_INGEST_CREATED = 1,   /* attached to a call it just created */
	SV_INGEST_NOT_CALL = 2,  /* SIP outside an INVITE dialog (OPTIONS, REGISTER, ...) */
	SV_INGEST_LATE = 3,      /* the call is already COMPLETE */
	SV_INGEST_NO_CALL = 4,   /* RTCP / log / quality for a Call-ID with no live call */
	SV_INGEST_DUPLICATE = 5, /* the same RTCP report seen again (e.g. both sides of a relay) */
	SV_INGEST_MALFORMED = 6, /* unparseable SIP or RTCP: counted, not stored */
};
#define SV_INGEST_NKINDS 7

/* Identity of a call, handed to hooks; valid for the duration of the hook. */
struct sv_call_ref {
	const char *customer;
	const uint8_t *call_id;
	size_t call_id_len;
	uint64_t first_ts_ns; /* capture time of its first message: the object path's date */
	uint64_t serial;      /* unique per call in this process */
	uint64_t *user; /* a slot the owner may use (e.g. its journal segment); 0 at creation */
};

/* struct sv_call_objects and sv_call_objects_release(): see evidence.h. */

struct sv_session_hooks {
	void *arg;
	/* A call was created (first frame), called from inside sv_sessions_sip()
	 * before it returns SV_INGEST_CREATED; must not call back into the
	 * engine. Optional (may be NULL). */
	void (*created)(void *arg, const struct sv_call_ref *call);
	/* A periodic log chunk of an ACTIVE call is ready: chunk numbers start at
	 * 1 and are contiguous per call; gz holds "log-NNNNNN.gz" made of the
	 * first `lines` buffered lines, which are never handed out again (see
	 * sv_sessions_mark_log_flushed for replay). */
	void (*log_chunk)(void *arg, const struct sv_call_ref *call, unsigned chunk, size_t lines,
	                  struct sv_buf *gz);
	/* The call reached COMPLETE. After the hook returns the call is gone
	 * (only its tombstone remains). */
	void (*complete)(void *arg, const struct sv_call_ref *call, struct sv_call_objects *objs);
};

/* Creates an engine. Returns 0 or -ENOMEM / -EINVAL. Free with sv_sessions_free(). */
int sv_sessions_new(const struct sv_session_limits *limits, const struct sv_session_hooks *hooks,
                    struct sv_sessions **out);
/* Frees every call without completing it. Accepts NULL. */
void sv_sessions_free(struct sv_sessions *s);

/*
 * Ingest. `customer` is the authenticated customer id (copied when kept).
 * Every function returns 0 and sets *res (never NULL) to what happened, or
 * -ENOMEM. Bad input is *res = SV_INGEST_MALFORMED with 0 returned.
 */

/* DATA_SIP: the SIP bytes with capture time and addresses. The transport
 * (UDP/TCP/TLS/SCTP/WS) is read from the message's top Via. */
int sv_sessions_sip(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                    const struct sv_wire_sip *sip, enum sv_ingest *res);

/* enum sv_rtcp_origin: see evidence.h. */
struct sv_rtcp_input {
	uint64_t ts_ns;
	const uint8_t *call_id;
	size_t call_id_len;
	enum sv_rtcp_origin origin;
	bool has_addr; /* src/dst known (DATA_RTCP_ADDR, HEP) */
	struct sv_wire_addr src, dst;
	uint32_t ssrc;                     /* SSRC field of DATA_RTCP; 0 when unknown */
	const uint8_t *raw;                /* raw RTCP bytes, or NULL (HEP JSON) */
	size_t raw_len;                    /* */
	const struct sv_rtcp_compound *rc; /* already parsed (HEP JSON), or NULL to parse raw */
};

/* RTCP reports. Direction (uac/uas) comes from the media endpoints of the
 * dialog's SDPs; rtt from LSR/DLSR against the matching SR's capture time,
 * or the XR VoIP metrics round-trip delay. */
int sv_sessions_rtcp(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                     const struct sv_rtcp_input *in, enum sv_ingest *res);

/* DATA_LOG: one proxy log line. */
int sv_sessions_log(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                    const struct sv_wire_log *log, enum sv_ingest *res);

/* DATA_QUALITY: the agent's RTP-derived report, used (source "rtp") when the
 * call has no RTCP samples. */
int sv_sessions_quality(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                        const struct sv_wire_quality *q, enum sv_ingest *res);

/*
 * Runs everything due at now_ns: periodic log flushes of ACTIVE calls,
 * PENDING/ACTIVE timeouts, CLOSING grace expiry (COMPLETE, objects built,
 * complete hook), tombstone expiry. Returns the next deadline (ns), or
 * UINT64_MAX when nothing is scheduled.
 */
uint64_t sv_sessions_tick(struct sv_sessions *s, uint64_t now_ns);

/* Completes every live call now (end_reason timeout for PENDING/ACTIVE),
 * calling the complete hook for each: for tests and a final drain. */
void sv_sessions_complete_all(struct sv_sessions *s, uint64_t now_ns);

/*
 * Restart support. The server journals every frame it ingests and replays
 * the journal at start-up through the ingest functions above; these markers,
 * journaled when the corresponding objects were durably written, restore
 * what had already left the engine.
 */
/* The first `lines` log lines buffered for this call went out as `chunk`:
 * drop them and continue numbering at chunk + 1. */
int sv_sessions_mark_log_flushed(struct sv_sessions *s, const char *customer,
                                 const uint8_t *call_id, size_t len, unsigned chunk, size_t lines);
/* The call was completed and written before the restart: drop it, keep a
 * tombstone. */
int sv_sessions_mark_complete(struct sv_sessions *s, const char *customer, const uint8_t *call_id,
                              size_t len);

/*
 * HEP attribution by Call-ID: returns how many customers have a live call
 * with this Call-ID, and when exactly one, sets *customer to its id (valid
 * until the call completes).
 */
size_t sv_sessions_customers_of(const struct sv_sessions *s, const uint8_t *call_id, size_t len,
                                const char **customer);

struct sv_session_stats {
	uint64_t calls[SV_CALL_NSTATES];   /* live calls per state (COMPLETE: tombstones) */
	uint64_t completed;                /* calls completed since start */
	uint64_t ingest[SV_INGEST_NKINDS]; /* frames by outcome */
	uint64_t rtcp_unknown_direction;   /* reports whose sender side could not be told */
	uint64_t log_chunks;               /* periodic chunks handed out */
	uint64_t bytes_held;               /* approximate memory held by live calls */
};

void sv_sessions_stats(const struct sv_sessions *s, struct sv_session_stats *out);

const char *sv_call_state_name(enum sv_call_state st);
const char *sv_ingest_name(enum sv_ingest r);

#endif
