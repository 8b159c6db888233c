/*
 * srv.h - the sipvault-server daemon's shared state (one event loop).
 *
 * srv_core.c    start-up, journal replay, engine hooks, object writes,
 *               session timer, signals, metrics endpoint, shutdown
 * srv_agent.c   TCP agent connections (wire protocol v1 + extensions)
 * srv_hep.c     HEP v3 over UDP
 *
 * Everything runs on one event_base; nothing here is thread-safe.
 */
#ifndef SV_SRV_H
#define SV_SRV_H

#include "srv_conf.h"
#include "store/journal.h"
#include "base/metrics.h"
#include "store/objstore.h"
#include "store/s3store.h"
#include "proto/rtcp.h"
#include "call/session.h"
#include "proto/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct event;
struct evconnlistener;
struct evhttp;
struct srv_conn;
struct srv_group;

/* Journal record kinds (docs/server.md). */
enum {
	SRV_J_AGENT_FRAME = 1,
	SRV_J_HEP_PACKET = 2,
	SRV_J_LOG_FLUSHED = 3,
	SRV_J_COMPLETE = 4,
};

/* Drop reasons (sipvault_drops_total{reason}). */
enum srv_drop {
	SRV_DROP_NOT_CALL,
	SRV_DROP_LATE,
	SRV_DROP_NO_CALL,
	SRV_DROP_DUPLICATE,
	SRV_DROP_MALFORMED_SIP,
	SRV_DROP_MALFORMED_RTCP,
	SRV_DROP_MALFORMED_FRAME,
	SRV_DROP_HEP_UNATTRIBUTED,
	SRV_DROP_HEP_MALFORMED,
	SRV_DROP_HEP_UNSUPPORTED,
	SRV_DROP_UNKNOWN_FRAME,
	SRV_DROP_AUTH_FAILED,
	SRV_DROP_PROTOCOL_ERROR,
	SRV_DROP_RTCP_UNKNOWN_DIR,
	SRV_DROP_N,
};

/* HEP results (sipvault_hep_packets_total{result}). */
enum srv_hep_result {
	SRV_HEP_STORED,
	SRV_HEP_NO_CALL,
	SRV_HEP_DUPLICATE,
	SRV_HEP_LATE,
	SRV_HEP_MALFORMED,
	SRV_HEP_UNATTRIBUTED,
	SRV_HEP_UNSUPPORTED,
	SRV_HEP_N,
};

/* Object kinds (sipvault_objects_written_total{object}). */
enum srv_obj {
	SRV_OBJ_SIP,
	SRV_OBJ_RTCP,
	SRV_OBJ_QUALITY,
	SRV_OBJ_LOG,
	SRV_OBJ_N,
};

#define SRV_FTYPES 13 /* frame types 0x00..0x0B, then "UNKNOWN" at 12 */

/* Per-customer counters; created on first use and kept until shutdown (a
 * customer removed by SIGHUP keeps its series). Connections point here. */
struct srv_cstats {
	struct srv_cstats *next;
	char id[72];
	uint64_t frames[SRV_FTYPES], bytes[SRV_FTYPES];
	uint64_t frames_rep[SRV_FTYPES], bytes_rep[SRV_FTYPES]; /* already in metrics */
	uint64_t completed, completed_rep;
	uint64_t agents;
};

struct srv {
	struct event_base *base;
	const struct sv_server_conf *conf; /* borrowed (customers taken out) */
	const char *config_path;           /* for SIGHUP; NULL = default file */
	struct sv_customers *customers;    /* owned; replaced by SIGHUP */
	struct sv_sessions *sessions;
	struct sv_journal *journal;
	struct sv_objstore *store;
	struct sv_s3store *s3store; /* the store's S3 side (NULL: local store); borrowed */
	char **s3check_ids;         /* customer id per bucket check (owned) */
	size_t s3check_n;
	uint64_t (*clock)(void);

	/* listeners */
	struct evconnlistener *tcp[2];
	int ntcp;
	int hep_fd[2];
	struct event *hep_ev[2];
	int nhep;
	struct evhttp *http;

	struct event *tick_ev, *sync_ev, *sig_ev[3];
	uint64_t tick_at; /* when tick_ev fires (ns), 0 = not armed */
	bool stopping;
	bool sync_failed;

	/* ingest context */
	bool replaying;
	uint32_t cur_segment; /* segment of the record being ingested */
	struct srv_replay_map *replay_map;

	/* connections */
	struct srv_conn *conns;
	struct srv_conn *ack_list; /* connections owed an ACK after the next sync */
	uint64_t nconns;

	/* object writes that have not finished (failed ones wait for a retry):
	 * calls' final objects and periodic log chunks, in two lists */
	struct srv_group *groups, *log_groups;
	size_t nwaiting; /* complete groups waiting for a log chunk of their call */
	/* groups not started yet, written a time slice at a time (writer_ev) */
	struct srv_group *wq_head, *wq_tail;
	size_t wq_bytes;
	struct event *writer_ev;
	/* puts started since the last sv_objstore_flush(): the local store
	 * completes them (group commit) when flush_ev runs, after the writer
	 * in the same loop iteration */
	bool flush_wanted;
	struct event *flush_ev;

	struct sv_buf wbuf; /* scratch for encoding frames to agents */

	/* HEP scratch */
	struct sv_buf hep_scratch;
	struct sv_rtcp_compound *rc;
	uint8_t *hep_bufs;

	/* counters */
	struct srv_cstats *cstats;
	uint64_t drops[SRV_DROP_N], drops_rep[SRV_DROP_N];
	uint64_t hep[SRV_HEP_N], hep_rep[SRV_HEP_N];
	uint64_t obj_ok[SRV_OBJ_N], obj_ok_rep[SRV_OBJ_N];
	uint64_t obj_err[SRV_OBJ_N], obj_err_rep[SRV_OBJ_N];
	uint64_t rtcp_unknown_rep;

	struct sv_metrics *metrics;
	struct sv_metric *m_frames, *m_bytes, *m_sessions, *m_completed, *m_objects, *m_obj_err,
	    *m_drops, *m_agents, *m_jsegs, *m_jbytes, *m_hep, *m_conns, *m_held;
	struct sv_metric *m_spool_objs, *m_spool_bytes, *m_spool_age, *m_s3_errors, *m_s3_uploads,
	    *m_s3_check;
};

/* srv_core.c */
uint64_t srv_now(const struct srv *s);
struct srv_cstats *srv_cstats_get(struct srv *s, const char *customer);
/* Asks for a journal sync (and ACKs) once the current callbacks are done. */
void srv_want_sync(struct srv *s);
/* Re-arms the session timer if the engine may have an earlier deadline. */
void srv_kick_timer(struct srv *s, uint64_t now);
/* Formats a Call-ID for a log line: printable ASCII kept, others \xNN, cut
 * at about 200 bytes. Returns out. */
const char *srv_callid_str(const uint8_t *id, size_t len, char *out, size_t outlen);
#define SRV_CALLID_STR 256
/* Counts one engine outcome for a frame of `ftype`. */
void srv_count_outcome(struct srv *s, const char *customer, uint8_t ftype, enum sv_ingest res,
                       const uint8_t *call_id, size_t call_id_len);

/*
 * Feeds one agent frame of `customer` to the engine (after decoding it) and,
 * unless replaying, journals it first. Returns 0, or a negative code when
 * the frame's payload is malformed (why says what; nothing was journaled),
 * or -ENOMEM / a journal error.
 */
int srv_ingest_frame(struct srv *s, const char *customer, const uint8_t *cust_rec,
                     size_t cust_rec_len, const struct sv_wire_frame *f, uint64_t now, char *why,
                     size_t whylen);

/* srv_agent.c */
int srv_agent_listen(struct srv *s, char *err, size_t errlen);
void srv_agent_stop_listening(struct srv *s);
void srv_agent_close_all(struct srv *s);
/* After a successful sync: sends ACKs owed. */
void srv_agent_send_acks(struct srv *s);
/* After a customer reload: rebinds or closes connections. */
void srv_agent_rebind(struct srv *s);

/* srv_hep.c */
int srv_hep_listen(struct srv *s, char *err, size_t errlen);
void srv_hep_close(struct srv *s);
/* Replays one journaled HEP packet. */
int srv_hep_replay(struct srv *s, const char *customer, uint64_t recv_ns, const uint8_t *pkt,
                   size_t len);

/* srv_core.c: socket helpers shared by the listeners. Opens up to two
 * sockets for addr (host "" = every address: one dual-stack [::] socket, or
 * 0.0.0.0 when IPv6 is unavailable); type SOCK_STREAM or SOCK_DGRAM. Returns
 * the number opened (>= 1) or a negative code with err set. */
int srv_open_sockets(const struct sv_conf_addr *addr, int type, int fds[2], char *err,
                     size_t errlen);
/* "1.2.3.4:5" / "[::1]:5" of a sockaddr. */
void srv_addr_str(const struct sockaddr *sa, char *out, size_t len);

#endif
