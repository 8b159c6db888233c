/*
 * agent.h - the parts of sipvault-agent (one single-threaded libevent
 * program; docs/agent.md describes how it works):
 *
 *   capture.c   libpcap live capture or --read FILE, the packet pipeline
 *               (dedup, IP fragments, TCP reassembly, call tracker) and the
 *               frames it produces;
 *   logtail.c   tails the proxy's log file across rotations;
 *   shipper.c   the disk ring and the connection to sipvault-server
 *               (handshake, batching, ACKs, heartbeats, reconnection, TLS);
 *   main.c      flags, configuration, signals, counters, the run loop.
 *
 * Every frame goes into the disk ring first (shipper_submit) and leaves the
 * agent's custody only when the server acknowledged it.
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

/* Everything the agent counts (logged periodically at info and at exit,
 * and sent to the server in AGENT_STATS when "stats" was negotiated). */
struct agent_counters {
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

extern struct agent_counters agent_ctr;

/* ------------------------------------------------------------ shipper */

enum shipper_state {
	SHIP_IDLE = 0,   /* waiting for the next attempt (backoff) */
	SHIP_CONNECTING, /* TCP (and TLS) connect in progress */
	SHIP_HANDSHAKE,  /* HANDSHAKE sent, waiting for HANDSHAKE_ACK */
	SHIP_READY,      /* shipping */
};

struct shipper;

/* Creates the shipper on base for conf (borrowed, must outlive it), owning
 * ring (closed by shipper_free). Does not connect yet (shipper_start).
 * Returns 0, -ENOMEM or SV_E_CONFIG (TLS setup failed; err says why). */
int shipper_new(struct event_base *base, const struct sv_agent_conf *conf, struct sv_diskring *ring,
                struct shipper **out, char *err, size_t errlen);
/* Starts connecting (and reconnecting for ever). */
void shipper_start(struct shipper *s);
/* Appends one whole wire frame (its header's sequence is rewritten when it
 * is sent) to the disk ring and schedules a flush. Returns 0 or the ring's
 * error (counted and logged; the frame is lost). */
int shipper_submit(struct shipper *s, const uint8_t *frame, size_t len);
/* Writes everything appended to the disk and fdatasync()s. 0 or -errno. */
int shipper_sync(struct shipper *s);
/* Everything appended was acknowledged (or released, without "ack"). */
bool shipper_drained(const struct shipper *s);
/* Frames in the ring not yet acknowledged. */
uint64_t shipper_pending(const struct shipper *s);
/* True when the ring holds more than half its capacity unacknowledged. */
bool shipper_backlogged(const struct shipper *s);
enum shipper_state shipper_state(const struct shipper *s);
/* Number of connection attempts that failed since the last success. */
unsigned shipper_failures(const struct shipper *s);
/* True when the current (or last) connection negotiated acknowledgements. */
bool shipper_acks(const struct shipper *s);
/* Appends the counters as a JSON object to out (for AGENT_STATS and logs). */
void shipper_stats_json(const struct shipper *s, struct sv_buf *out);
/* Syncs, closes the connection and the ring, frees. NULL ok. Returns the
 * final sync's result. */
int shipper_free(struct shipper *s);

/* ------------------------------------------------------------ capture */

struct capture;

/* Called by capture with every frame it produced. */
typedef void (*capture_emit_fn)(void *arg, const uint8_t *frame, size_t len);

/* Creates the pipeline (tracker, dedup, ipfrag, tcpreasm). Frames go to
 * emit(arg, ...). Returns 0 or -ENOMEM. */
int capture_new(const struct sv_agent_conf *conf, capture_emit_fn emit, void *arg,
                struct capture **out);
void capture_free(struct capture *c);
/* Opens libpcap on the configured (or default-route) interface with the
 * BPF filter and puts its fd on base. 0 or an error with err filled. */
int capture_open_live(struct capture *c, struct event_base *base, char *err, size_t errlen);
/* Opens FILE for --read. 0 or an error with err filled. */
int capture_open_file(struct capture *c, const char *path, char *err, size_t errlen);
/* --read: processes up to max packets. Returns 1 when more remain, 0 at the
 * end of the file (after the final flush of the pipeline), <0 on a corrupt
 * file (err filled). */
int capture_read_some(struct capture *c, unsigned max, char *err, size_t errlen);
/* Runs timed work (tracker events, TCP hole and fragment expiry, pcap
 * statistics) at now_ns (wall clock in live mode). */
void capture_tick(struct capture *c, uint64_t now_ns);
/* Offers one proxy log line, seen at now_ns, to the tracker. */
void capture_log_line(struct capture *c, uint64_t now_ns, const char *line, size_t len);
/* Stops live capture (removes the event, closes pcap). */
void capture_stop(struct capture *c);
/* The BPF filter for conf into out (for logs and tests). */
void capture_filter(const struct sv_agent_conf *conf, char *out, size_t len);
/* Tracker counters (for the periodic log line). */
void capture_tracker_stats(const struct capture *c, struct sv_tracker_stats *out);

/* ------------------------------------------------------------ log tail */

struct logtail;

typedef void (*logtail_line_fn)(void *arg, const char *line, size_t len);

/* Starts tailing path (at its current end; a file that does not exist yet
 * is read from its start once it appears), polling every 200 ms on base. */
int logtail_new(struct event_base *base, const char *path, logtail_line_fn fn, void *arg,
                struct logtail **out);
/* Reads whatever is there now (also called by the timer). */
void logtail_poll(struct logtail *t);
void logtail_free(struct logtail *t);

/* ------------------------------------------------------------ misc */

uint64_t agent_now_ns(void);
int64_t agent_now_ms(void);

#endif
