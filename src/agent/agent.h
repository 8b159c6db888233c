/*
 * agent.h - the parts of sipvault-agent (one single-threaded libevent
 * program; docs/agent.md describes how it works):
 *
 *   capture.c    libpcap live capture or --read FILE, the packet pipeline
 *                (dedup, IP fragments, TCP reassembly, call tracker) and the
 *                frames it produces;
 *   logtail.c    tails the proxy's log file across rotations;
 *   shipper.c    the disk ring and the protocol with sipvault-server
 *                (handshake, batching, ACKs, heartbeats, reconnection): a
 *                state machine with no sockets and no timers of its own;
 *   transport.c  what the shipper drives: the libevent connection (DNS, TCP,
 *                TLS) and its timers;
 *   main.c       flags, configuration, signals, the clock, the run loop.
 *
 * Every frame goes into the disk ring first (ag_shipper_submit) and leaves
 * the agent's custody only when the server acknowledged it.
 *
 * Nothing here is process-global: the counters and the clock belong to the
 * agent (struct agent in main.c) and each part borrows them, so the parts run
 * under a fake clock in tests (tests/unit/test_agent_shipper.c).
 */
#ifndef SV_AGENT_H
#define SV_AGENT_H

#include "agent_conf.h"
#include "store/diskring.h"
#include "call/tracker.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The agent's clock, injected. */
struct ag_clock {
	uint64_t (*wall_ns)(void); /* CLOCK_REALTIME, ns: frame and disk-ring timestamps */
	uint64_t (*mono_ms)(void); /* CLOCK_MONOTONIC, ms: timeouts and intervals */
};

/* Wall-clock milliseconds (the disk ring's unit). */
static inline int64_t ag_wall_ms(const struct ag_clock *c)
{
	return (int64_t)(c->wall_ns() / 1000000u);
}

/* Everything the agent counts (logged periodically at info and at exit,
 * and sent to the server in AGENT_STATS when "stats" was negotiated). One
 * per agent; the parts borrow it. */
struct ag_counters {
	/* capture */
	uint64_t packets;       /* frames captured or read */
	uint64_t decode_errors; /* frames that did not decode (non-IP, truncated) */
	uint64_t duplicates;    /* second sightings dropped by dedup */
	uint64_t not_udp_tcp;   /* IP packets of other protocols */
	uint64_t pcap_drops;    /* kernel + interface drops (pcap_stats) */
	uint64_t pcap_ifdrops;
	/* frames */
	uint64_t sip_frames, rtcp_frames, log_frames, quality_frames;
	uint64_t encode_errors; /* frames that could not be encoded (too big) */
	/* log tail */
	uint64_t log_lines, log_unmatched, log_truncated, log_rotations, log_truncations;
	/* ring */
	uint64_t ring_appended;
	uint64_t ring_drops;       /* unacknowledged frames dropped for room */
	uint64_t ring_drop_bytes;  /* their bytes */
	uint64_t ring_errors;      /* appends that failed (frame lost) */
	uint64_t ring_sync_errors; /* fdatasync failures (retried) */
	/* connection */
	uint64_t connects, connect_failures, handshake_timeouts, rx_timeouts, auth_failures;
	uint64_t frames_sent, frames_acked, bytes_sent, heartbeats;
};

/* ------------------------------------------------------------ shipper
 *
 * A state machine. It never touches a socket or a timer itself: it asks
 * struct ag_ship_io for those, and is told what happened through the
 * ag_shipper_on_*() calls. transport.c is the real io; tests use a fake one.
 *
 *   IDLE --backoff timer--> CONNECTING --on_connected: HANDSHAKE sent-->
 *   HANDSHAKE --HANDSHAKE_ACK ok--> READY
 *   any state --error, EOF, timeout, refusal--> IDLE (backoff 1 s, doubling
 *   to 30 s; reset by a successful handshake)
 *
 * In READY frames are sent from the ring's cursor (rewound at each
 * handshake, so unacknowledged frames are re-sent first, in ring order) while
 * fewer than AG_SHIP_WINDOW frames are unacknowledged and the transport holds
 * less than AG_SHIP_OUT_HIGH bytes.
 */

#define AG_SHIP_CONNECT_TIMEOUT_MS 5000u
#define AG_SHIP_BACKOFF_MIN_S      1u
#define AG_SHIP_BACKOFF_MAX_S      30u
#define AG_SHIP_FLUSH_MS           20u
#define AG_SHIP_TICK_MS            250u
#define AG_SHIP_OUT_HIGH           (1u << 20) /* stop pulling from the ring above this */
#define AG_SHIP_WINDOW             65536u     /* frames sent, not yet acknowledged */

enum ag_ship_state {
	AG_SHIP_IDLE = 0,   /* waiting for the next attempt (backoff) */
	AG_SHIP_CONNECTING, /* TCP (and TLS) connect in progress */
	AG_SHIP_HANDSHAKE,  /* HANDSHAKE sent, waiting for HANDSHAKE_ACK */
	AG_SHIP_READY,      /* shipping */
};

/* The shipper's one-shot timers. */
enum ag_ship_timer {
	AG_SHIP_T_STATE, /* connect or handshake timeout, or the backoff */
	AG_SHIP_T_FLUSH, /* sync the ring, then send what it holds */
	AG_SHIP_T_TICK,  /* every AG_SHIP_TICK_MS: heartbeats, rx timeout, stats */
	AG_SHIP_NTIMERS,
};

/* What the shipper needs from the outside world; every call gets arg. */
struct ag_ship_io {
	void *arg;
	/* Starts a connection attempt to the configured server. Its outcome is
	 * reported with ag_shipper_on_connected() or ag_shipper_on_closed(),
	 * possibly before connect returns. 0, or <0 with why filled when the
	 * attempt could not start. */
	int (*connect)(void *arg, char *why, size_t whylen);
	/* Closes the connection, if any, discarding what is queued; no
	 * ag_shipper_on_*() call follows for it. */
	void (*close)(void *arg);
	/* Queues len bytes on the connection. 0 or -ENOMEM. */
	int (*write)(void *arg, const void *data, size_t len);
	/* Bytes queued and not yet taken by the socket. */
	size_t (*queued)(void *arg);
	/* Arms timer t (re-arms it when pending) to call ag_shipper_on_timer()
	 * once, ms from now. */
	void (*timer_set)(void *arg, enum ag_ship_timer t, uint64_t ms);
	void (*timer_cancel)(void *arg, enum ag_ship_timer t);
};

struct ag_shipper;

/* Creates the shipper for conf, owning ring (closed by ag_shipper_free);
 * conf, io (copied), clock and ctr are borrowed and must outlive it. Does
 * not connect yet (ag_shipper_start). Returns 0 or -ENOMEM. */
int ag_shipper_new(const struct sv_agent_conf *conf, struct sv_diskring *ring,
                   const struct ag_ship_io *io, const struct ag_clock *clock,
                   struct ag_counters *ctr, struct ag_shipper **out);
/* Starts the tick and the first connection attempt (and reconnects for ever). */
void ag_shipper_start(struct ag_shipper *s);

/* Events, from the transport. */
/* The connection is up: sends HANDSHAKE. */
void ag_shipper_on_connected(struct ag_shipper *s);
/* The connection failed or was closed (why: for the log). */
void ag_shipper_on_closed(struct ag_shipper *s, const char *why);
/* len bytes arrived from the server. */
void ag_shipper_on_input(struct ag_shipper *s, const uint8_t *data, size_t len);
/* The transport's output queue drained: everything written was taken. */
void ag_shipper_on_sent(struct ag_shipper *s);
/* Timer t fired. */
void ag_shipper_on_timer(struct ag_shipper *s, enum ag_ship_timer t);

/* Appends one whole wire frame (its header's sequence is rewritten when it
 * is sent) to the disk ring and schedules a flush. Returns 0 or the ring's
 * error (counted and logged; the frame is lost). */
int ag_shipper_submit(struct ag_shipper *s, const uint8_t *frame, size_t len);
/* Writes everything appended to the disk and fdatasync()s. 0 or -errno. */
int ag_shipper_sync(struct ag_shipper *s);
/* Everything appended was acknowledged (or released, without "ack"). */
bool ag_shipper_drained(const struct ag_shipper *s);
/* Frames in the ring not yet acknowledged. */
uint64_t ag_shipper_pending(const struct ag_shipper *s);
/* True when the ring holds more than half its capacity unacknowledged. */
bool ag_shipper_backlogged(const struct ag_shipper *s);
enum ag_ship_state ag_shipper_state(const struct ag_shipper *s);
/* Number of connection attempts that failed since the last success. */
unsigned ag_shipper_failures(const struct ag_shipper *s);
/* True when the current (or last) connection negotiated acknowledgements. */
bool ag_shipper_acks(const struct ag_shipper *s);
/* Appends the counters as a JSON object to out (for AGENT_STATS and logs). */
void ag_shipper_stats_json(const struct ag_shipper *s, struct sv_buf *out);
/* Closes the connection and the ring, frees. NULL ok. Returns the ring's
 * final sync result (sv_diskring_close). */
int ag_shipper_free(struct ag_shipper *s);

/* ------------------------------------------------------------ transport */

struct ag_transport;

/* The libevent side of the shipper: a (TLS) connection to conf's server on
 * base, resolved with evdns, and the shipper's timers. conf is borrowed.
 * Returns 0, -ENOMEM, or SV_E_CONFIG (TLS setup failed); err says why. */
int ag_transport_new(struct event_base *base, const struct sv_agent_conf *conf,
                     struct ag_transport **out, char *err, size_t errlen);
/* Fills io with the transport's functions (arg = t), for ag_shipper_new. */
void ag_transport_io(struct ag_transport *t, struct ag_ship_io *io);
/* Sends the transport's events and timers to ship (borrowed). */
void ag_transport_attach(struct ag_transport *t, struct ag_shipper *ship);
/* Closes the connection, frees the timers. NULL ok. Free the shipper first. */
void ag_transport_free(struct ag_transport *t);

/* ------------------------------------------------------------ capture */

struct ag_capture;

/* Called by capture with every frame it produced. */
typedef void (*ag_capture_emit_fn)(void *arg, const uint8_t *frame, size_t len);

/* Creates the pipeline (tracker, dedup, ipfrag, tcpreasm). Frames go to
 * emit(arg, ...); conf and ctr are borrowed. Returns 0 or -ENOMEM. */
int ag_capture_new(const struct sv_agent_conf *conf, struct ag_counters *ctr,
                   ag_capture_emit_fn emit, void *arg, struct ag_capture **out);
void ag_capture_free(struct ag_capture *c);
/* Opens libpcap on the configured (or default-route) interface with the
 * BPF filter and puts its fd on base. 0 or an error with err filled. */
int ag_capture_open_live(struct ag_capture *c, struct event_base *base, char *err, size_t errlen);
/* Opens FILE for --read. 0 or an error with err filled. */
int ag_capture_open_file(struct ag_capture *c, const char *path, char *err, size_t errlen);
/* --read: processes up to max packets. Returns 1 when more remain, 0 at the
 * end of the file (after the final flush of the pipeline), <0 on a corrupt
 * file (err filled). */
int ag_capture_read_some(struct ag_capture *c, unsigned max, char *err, size_t errlen);
/* Runs timed work (tracker events, TCP hole and fragment expiry, pcap
 * statistics) at now_ns (wall clock in live mode). */
void ag_capture_tick(struct ag_capture *c, uint64_t now_ns);
/* Offers one proxy log line, seen at now_ns, to the tracker. */
void ag_capture_log_line(struct ag_capture *c, uint64_t now_ns, const char *line, size_t len);
/* Stops live capture (removes the event, closes pcap). */
void ag_capture_stop(struct ag_capture *c);
/* The BPF filter for conf into out (for logs and tests). */
void ag_capture_filter(const struct sv_agent_conf *conf, char *out, size_t len);
/* Tracker counters (for the periodic log line). */
void ag_capture_tracker_stats(const struct ag_capture *c, struct sv_tracker_stats *out);

/* ------------------------------------------------------------ log tail */

struct ag_logtail;

typedef void (*ag_logtail_line_fn)(void *arg, const char *line, size_t len);

/* Starts tailing path (at its current end; a file that does not exist yet
 * is read from its start once it appears), polling every 200 ms on base.
 * clock and ctr are borrowed. Returns 0 or -ENOMEM. */
int ag_logtail_new(struct event_base *base, const char *path, const struct ag_clock *clock,
                   struct ag_counters *ctr, ag_logtail_line_fn fn, void *arg,
                   struct ag_logtail **out);
/* Reads whatever is there now (also called by the timer). */
void ag_logtail_poll(struct ag_logtail *t);
void ag_logtail_free(struct ag_logtail *t);

#endif
