/*
 * session.c - the call engine (see session.h and docs/internals/session.md).
 *
 * Layout: one hash table (base/htable.h) of calls keyed by (interned
 * customer, Call-ID), tombstones included; per state a TAILQ ordered by
 * deadline; a TAILQ of ACTIVE calls ordered by their next log flush. A call
 * keeps its SIP messages, RTCP reports and log lines as records of its
 * struct sv_evidence (evidence.h), which also builds the stored objects at
 * COMPLETE.
 */
#include "call/session.h"

#include "base/errors.h"
#include "base/hash.h"
#include "base/htable.h"
#include "call/evidence.h"
#include "call/quality.h"
#include "proto/pcapfile.h"
#include "proto/sip.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define NS_PER_S          1000000000ull
#define DEDUPE_WINDOW_NS  (2 * NS_PER_S) /* same raw RTCP + SSRC within this: duplicate */
#define TOMBSTONE_DEFAULT (600 * NS_PER_S)
#define MIN_BUCKETS       1024
#define RECENT_REPORTS    64 /* reports searched for a duplicate or the SR an RR echoes */

/* ------------------------------------------------------------ calls */

struct cust {
	SLIST_ENTRY(cust) link;
	char name[];
};

enum {
	CF_HAS_INVITE = 1 << 0, /* the initial INVITE request was seen */
	CF_ANSWERED = 1 << 1,
	CF_CANCEL = 1 << 2,
	CF_IN_FLUSH = 1 << 3, /* on the flush list */
};

struct call {
	struct sv_hnode hnode;   /* in sv_sessions.calls */
	TAILQ_ENTRY(call) tlink; /* the list of its state (tombstones too) */
	TAILQ_ENTRY(call) flink; /* the flush list (ACTIVE, CF_IN_FLUSH) */
	const struct cust *cust;
	uint64_t deadline;
	uint64_t flush_at;
	uint64_t first_ts, invite_ts, answered_ts, ended_ts, last_ts;
	uint64_t serial;
	uint64_t user;
	struct sv_evidence ev;
	size_t bytes; /* memory held by the records */
	uint32_t invite_cseq;
	int final_status;
	uint64_t answer_tag; /* hash of the To-tag of the 2xx that answered (0: none) */
	unsigned next_chunk;
	uint8_t state;
	uint8_t end_reason; /* enum sv_quality_end */
	uint8_t flags;
	size_t call_id_len;
	uint8_t call_id[];
};

TAILQ_HEAD(clist, call);

struct sv_sessions {
	struct sv_session_limits lim;
	struct sv_session_hooks hooks;
	struct sv_htable calls; /* live + tombstones */
	SLIST_HEAD(, cust) custs;
	struct clist lists[SV_CALL_NSTATES]; /* COMPLETE: tombstones */
	struct clist flush;
	uint64_t serial;
	uint64_t sip_seq;
	uint64_t now; /* the latest now_ns seen (for markers, which have none) */
	struct sv_session_stats st;
};

/* ------------------------------------------------------------ lists */

static void fl_append(struct sv_sessions *s, struct call *c)
{
	TAILQ_INSERT_TAIL(&s->flush, c, flink);
	c->flags |= CF_IN_FLUSH;
}

static void fl_remove(struct sv_sessions *s, struct call *c)
{
	if (!(c->flags & CF_IN_FLUSH))
		return;
	TAILQ_REMOVE(&s->flush, c, flink);
	c->flags &= (uint8_t)~CF_IN_FLUSH;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Moves a call to a state (and the tail of that state's list). */
static void set_state(struct sv_sessions *s, struct call *c, enum sv_call_state st,
                      uint64_t deadline)
{
	TAILQ_REMOVE(&s->lists[c->state], c, tlink);
	s->st.calls[c->state]--;
	c->state = (uint8_t)st;
	c->deadline = deadline;
	TAILQ_INSERT_TAIL(&s->lists[st], c, tlink);
	s->st.calls[st]++;
}

/* ------------------------------------------------------------ hash table */

static uint64_t key_hash(const char *customer, const uint8_t *id, size_t len)
{
	uint64_t h = sv_hash_bytes(14695981039346656037ull, customer, strlen(customer) + 1);
	return sv_hash_bytes(h, id, len);
}

static const struct cust *cust_find(const struct sv_sessions *s, const char *name)
{
	const struct cust *c;
	SLIST_FOREACH(c, &s->custs, link)
	if (strcmp(c->name, name) == 0)
		return c;
	return NULL;
}

static const struct cust *cust_intern(struct sv_sessions *s, const char *name)
{
	const struct cust *f = cust_find(s, name);
	if (f != NULL)
		return f;
	size_t n = strlen(name);
	struct cust *c = malloc(sizeof(*c) + n + 1);
	if (c == NULL)
		return NULL;
	memcpy(c->name, name, n + 1);
	SLIST_INSERT_HEAD(&s->custs, c, link);
	return c;
}

static struct call *find_call(const struct sv_sessions *s, const struct cust *cu, uint64_t h,
                              const uint8_t *id, size_t len)
{
	if (cu == NULL)
		return NULL;
	for (struct sv_hnode *n = sv_htable_first(&s->calls, h); n != NULL;
	     n = sv_htable_next(n, h)) {
		struct call *c = sv_container_of(n, struct call, hnode);
		if (c->cust == cu && c->call_id_len == len &&
		    (len == 0 || memcmp(c->call_id, id, len) == 0))
			return c;
	}
	return NULL;
}

/* ------------------------------------------------------------ call memory */

static void free_records(struct sv_sessions *s, struct call *c)
{
	sv_evidence_release(&c->ev);
	s->st.bytes_held -= c->bytes;
	c->bytes = 0;
}

/* Frees the first n log lines of a call. */
static void drop_lines(struct sv_sessions *s, struct call *c, size_t n)
{
	size_t freed = sv_evidence_drop_log(&c->ev, n);
	c->bytes -= freed;
	s->st.bytes_held -= freed;
}

static void hold(struct sv_sessions *s, struct call *c, size_t n)
{
	c->bytes += n;
	s->st.bytes_held += n;
}

static struct call *new_call(struct sv_sessions *s, const struct cust *cu, uint64_t h,
                             const uint8_t *id, size_t len, uint64_t first_ts, uint64_t now)
{
	struct call *c = calloc(1, sizeof(*c) + len);
	if (c == NULL)
		return NULL;
	if (sv_htable_insert(&s->calls, &c->hnode, h) != 0) {
		free(c);
		return NULL;
	}
	if (len > 0)
		memcpy(c->call_id, id, len);
	c->call_id_len = len;
	c->cust = cu;
	sv_evidence_init(&c->ev);
	c->first_ts = first_ts;
	c->serial = ++s->serial;
	c->next_chunk = 1;
	c->end_reason = SV_QUALITY_END_TIMEOUT;
	c->state = SV_CALL_PENDING;
	c->deadline = add_sat(now, s->lim.pending_timeout_ns);
	TAILQ_INSERT_TAIL(&s->lists[SV_CALL_PENDING], c, tlink);
	s->st.calls[SV_CALL_PENDING]++;
	s->st.bytes_held += sizeof(*c) + len;
	return c;
}

static void fill_ref(const struct call *c, struct sv_call_ref *ref)
{
	ref->customer = c->cust->name;
	ref->call_id = c->call_id;
	ref->call_id_len = c->call_id_len;
	ref->first_ts_ns = c->first_ts;
	ref->serial = c->serial;
	ref->user = (uint64_t *)&c->user;
}

/* Turns a live call into a tombstone (records freed, key kept). */
static void bury(struct sv_sessions *s, struct call *c, uint64_t now)
{
	fl_remove(s, c);
	free_records(s, c);
	set_state(s, c, SV_CALL_COMPLETE,
	          add_sat(now, s->lim.tombstone_ns ? s->lim.tombstone_ns : TOMBSTONE_DEFAULT));
}

static void destroy(struct sv_sessions *s, struct call *c)
{
	fl_remove(s, c);
	TAILQ_REMOVE(&s->lists[c->state], c, tlink);
	s->st.calls[c->state]--;
	sv_htable_remove(&s->calls, &c->hnode);
	free_records(s, c);
	s->st.bytes_held -= sizeof(*c) + c->call_id_len;
	free(c);
}

/* ------------------------------------------------------------ engine */

int sv_sessions_new(const struct sv_session_limits *limits, const struct sv_session_hooks *hooks,
                    struct sv_sessions **out)
{
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (limits == NULL)
		return -EINVAL;
	struct sv_sessions *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->lim = *limits;
	if (hooks != NULL)
		s->hooks = *hooks;
	s->calls.min_slots = MIN_BUCKETS;
	SLIST_INIT(&s->custs);
	for (int i = 0; i < SV_CALL_NSTATES; i++)
		TAILQ_INIT(&s->lists[i]);
	TAILQ_INIT(&s->flush);
	*out = s;
	return 0;
}

void sv_sessions_free(struct sv_sessions *s)
{
	struct sv_hwalk w = {0};
	struct sv_hnode *n;
	struct cust *cu;

	if (s == NULL)
		return;
	while ((n = sv_htable_walk(&s->calls, &w)) != NULL) {
		struct call *c = sv_container_of(n, struct call, hnode);
		sv_evidence_release(&c->ev);
		free(c);
	}
	sv_htable_release(&s->calls);
	while ((cu = SLIST_FIRST(&s->custs)) != NULL) {
		SLIST_REMOVE_HEAD(&s->custs, link);
		free(cu);
	}
	free(s);
}

const char *sv_call_state_name(enum sv_call_state st)
{
	static const char *const n[] = {"pending", "active", "closing", "complete"};
	return (unsigned)st < SV_CALL_NSTATES ? n[st] : "unknown";
}

const char *sv_ingest_name(enum sv_ingest r)
{
	static const char *const n[] = {"stored",  "created",   "not_call", "late",
	                                "no_call", "duplicate", "malformed"};
	return (unsigned)r < SV_INGEST_NKINDS ? n[r] : "unknown";
}

void sv_sessions_stats(const struct sv_sessions *s, struct sv_session_stats *out)
{
	*out = s->st;
}

static void see(struct sv_sessions *s, uint64_t now)
{
	if (now > s->now)
		s->now = now;
}

static void count(struct sv_sessions *s, enum sv_ingest *res, enum sv_ingest r)
{
	*res = r;
	s->st.ingest[r]++;
}

/* Any frame for an ACTIVE call restarts its inactivity timer. */
static void touch(struct sv_sessions *s, struct call *c, uint64_t now)
{
	if (c->state == SV_CALL_ACTIVE)
		set_state(s, c, SV_CALL_ACTIVE, add_sat(now, s->lim.active_timeout_ns));
}

/* Starts an ingested frame: advances the clock and, when the frame is
 * malformed (bad), counts it so. Returns bad. */
static int frame_bad(struct sv_sessions *s, uint64_t now_ns, int bad, enum sv_ingest *res)
{
	see(s, now_ns);
	*res = SV_INGEST_MALFORMED;
	if (bad)
		count(s, res, SV_INGEST_MALFORMED);
	return bad;
}

/* Ends an RTCP / log / quality frame that was kept: an active call's timeout
 * restarts and the frame counts as stored. Returns 0. */
static int frame_stored(struct sv_sessions *s, struct call *c, uint64_t now_ns, enum sv_ingest *res)
{
	touch(s, c, now_ns);
	count(s, res, SV_INGEST_STORED);
	return 0;
}

/* Looks a call up for RTCP / log / quality frames. */
static struct call *lookup(struct sv_sessions *s, const char *customer, const uint8_t *id,
                           size_t len, enum sv_ingest *res)
{
	const struct cust *cu = cust_find(s, customer);
	struct call *c = find_call(s, cu, key_hash(customer, id, len), id, len);
	if (c == NULL || len == 0) {
		count(s, res, SV_INGEST_NO_CALL);
		return NULL;
	}
	if (c->state == SV_CALL_COMPLETE) {
		count(s, res, SV_INGEST_LATE);
		return NULL;
	}
	return c;
}

/* ------------------------------------------------------------ SIP */

static enum sv_pcap_transport via_transport(struct sv_str t)
{
	if (sv_sip_str_ieq(t, "TCP"))
		return SV_PCAP_TCP;
	if (sv_sip_str_ieq(t, "TLS"))
		return SV_PCAP_TLS;
	if (sv_sip_str_ieq(t, "SCTP") || sv_sip_str_ieq(t, "TLS-SCTP"))
		return SV_PCAP_SCTP;
	if (sv_sip_str_ieq(t, "WS"))
		return SV_PCAP_WS;
	if (sv_sip_str_ieq(t, "WSS"))
		return SV_PCAP_WSS;
	return SV_PCAP_UDP;
}

/* Messages that belong to (or start) an INVITE dialog. `existing`: a live
 * call with this Call-ID is known, so in-dialog requests of other methods
 * (and their responses) attach to it. */
static int dialog_message(const struct sv_sip_msg *m, int existing)
{
	switch (m->cseq_method) {
	case SV_SIP_INVITE:
	case SV_SIP_ACK:
	case SV_SIP_CANCEL:
	case SV_SIP_BYE:
	case SV_SIP_PRACK:
	case SV_SIP_UPDATE:
	case SV_SIP_INFO:
	case SV_SIP_REFER:
		return 1;
	case SV_SIP_NOTIFY:
		/* in-dialog NOTIFY (a REFER's progress): the request has a To-tag */
		return existing || (m->is_request && m->to.tag.len > 0);
	case SV_SIP_REGISTER:
	case SV_SIP_SUBSCRIBE:
	case SV_SIP_PUBLISH:
		return 0;
	default: /* OPTIONS, MESSAGE, other: only inside an existing dialog */
		return existing && m->to.tag.len > 0;
	}
}

/* Hash of a dialog tag; 0 stands for "no tag". */
static uint64_t tag_hash(struct sv_str tag)
{
	if (tag.len == 0)
		return 0;
	uint64_t h = sv_hash_bytes(14695981039346656037ull, tag.p, tag.len);
	return h != 0 ? h : 1;
}

/* Whether a BYE belongs to the dialog that answered the call: its To-tag
 * (BYE from the caller) or From-tag (BYE from the callee) is the answer's
 * tag. Without a known answer tag every BYE counts. */
static int bye_ends_call(const struct call *c, const struct sv_sip_msg *m)
{
	if (c->answer_tag == 0)
		return 1;
	return tag_hash(m->to.tag) == c->answer_tag || tag_hash(m->from.tag) == c->answer_tag;
}

/* The state machine for one SIP message of a live call. */
static void sip_event(struct sv_sessions *s, struct call *c, const struct sv_sip_msg *m,
                      uint64_t ts, uint64_t now)
{
	if (m->is_request) {
		switch (m->method) {
		case SV_SIP_INVITE:
			if (m->to.tag.len > 0)
				break; /* re-INVITE: stored, media learned at COMPLETE */
			if (!(c->flags & CF_HAS_INVITE)) {
				c->flags |= CF_HAS_INVITE;
				c->invite_ts = ts;
			}
			if (m->cseq > c->invite_cseq || c->invite_cseq == 0) {
				/* a new initial INVITE (e.g. with credentials after 401/407) */
				c->invite_cseq = m->cseq;
				if (c->state == SV_CALL_CLOSING && !(c->flags & CF_ANSWERED) &&
				    c->end_reason == SV_QUALITY_END_FAILED) {
					c->final_status = 0;
					c->ended_ts = 0;
					c->end_reason = SV_QUALITY_END_TIMEOUT;
					set_state(s, c, SV_CALL_PENDING,
					          add_sat(now, s->lim.pending_timeout_ns));
				}
			}
			break;
		case SV_SIP_CANCEL:
			if (c->state == SV_CALL_PENDING) {
				c->flags |= CF_CANCEL;
				c->end_reason = SV_QUALITY_END_CANCEL;
				c->ended_ts = ts;
				set_state(s, c, SV_CALL_CLOSING,
				          add_sat(now, s->lim.closing_grace_ns));
			}
			break;
		case SV_SIP_BYE:
			/* With forked 2xx the caller BYEs the extra dialogs at once: only a
			 * BYE of the dialog that answered ends the call. */
			if (!bye_ends_call(c, m))
				break;
			if (c->state == SV_CALL_PENDING || c->state == SV_CALL_ACTIVE) {
				c->end_reason = SV_QUALITY_END_BYE;
				c->ended_ts = ts;
				fl_remove(s, c);
				set_state(s, c, SV_CALL_CLOSING,
				          add_sat(now, s->lim.closing_grace_ns));
			}
			break;
		default:
			break;
		}
		return;
	}
	if (m->cseq_method != SV_SIP_INVITE || m->status < 200)
		return;
	/* A final response to an INVITE: only the initial INVITE's decides. */
	if (c->invite_cseq == 0 && !(c->flags & CF_HAS_INVITE))
		c->invite_cseq = m->cseq; /* the INVITE has not been seen (yet) */
	if (m->cseq != c->invite_cseq)
		return;
	if (m->status <= 299) {
		if (c->flags & CF_ANSWERED)
			return; /* another fork's 2xx, or a retransmission */
		int revive = c->state == SV_CALL_CLOSING && c->end_reason != SV_QUALITY_END_BYE;
		if (c->state != SV_CALL_PENDING && !revive)
			return;
		c->flags |= CF_ANSWERED;
		c->answered_ts = ts;
		c->answer_tag = tag_hash(m->to.tag);
		c->final_status = m->status;
		c->ended_ts = 0;
		c->end_reason = SV_QUALITY_END_TIMEOUT;
		set_state(s, c, SV_CALL_ACTIVE, add_sat(now, s->lim.active_timeout_ns));
		c->flush_at = add_sat(now, s->lim.log_flush_ns);
		fl_append(s, c);
		return;
	}
	if (c->flags & CF_ANSWERED)
		return; /* a losing fork's failure after the call was answered */
	if (c->state == SV_CALL_PENDING) {
		c->final_status = m->status;
		c->end_reason =
		    (c->flags & CF_CANCEL) ? SV_QUALITY_END_CANCEL : SV_QUALITY_END_FAILED;
		c->ended_ts = ts;
		set_state(s, c, SV_CALL_CLOSING, add_sat(now, s->lim.closing_grace_ns));
	} else if (c->state == SV_CALL_CLOSING && c->final_status == 0) {
		c->final_status = m->status; /* the 487 after a CANCEL */
	}
}

int sv_sessions_sip(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                    const struct sv_wire_sip *sip, enum sv_ingest *res)
{
	struct sv_sip_msg m;
	if (frame_bad(s, now_ns,
	              customer == NULL || sip == NULL || (sip->sip.p == NULL && sip->sip.len > 0) ||
	                  sip->sip.len > UINT32_MAX ||
	                  sv_sip_parse(sip->sip.p, sip->sip.len, &m) != 0 ||
	                  (sip->src.family != 4 && sip->src.family != 6) ||
	                  sip->dst.family != sip->src.family,
	              res))
		return 0;
	const uint8_t *id = sip->call_id.p;
	size_t idlen = sip->call_id.len;
	if (idlen == 0) {
		id = (const uint8_t *)m.call_id.p;
		idlen = m.call_id.len;
	}
	if (idlen == 0) {
		count(s, res, SV_INGEST_MALFORMED);
		return 0;
	}
	uint64_t h = key_hash(customer, id, idlen);
	struct call *c = find_call(s, cust_find(s, customer), h, id, idlen);
	if (c != NULL && c->state == SV_CALL_COMPLETE) {
		count(s, res, SV_INGEST_LATE);
		return 0;
	}
	if (!dialog_message(&m, c != NULL)) {
		count(s, res, SV_INGEST_NOT_CALL);
		return 0;
	}
	size_t msg_len = sip->sip.len;
	struct sv_ev_sip *r = malloc(sizeof(*r) + msg_len);
	if (r == NULL)
		return -ENOMEM;
	int created = 0;
	if (c == NULL) {
		const struct cust *cu = cust_intern(s, customer);
		if (cu == NULL || (c = new_call(s, cu, h, id, idlen, sip->ts_ns, now_ns)) == NULL) {
			free(r);
			return -ENOMEM;
		}
		created = 1;
	}
	r->ts_ns = sip->ts_ns;
	r->seq = ++s->sip_seq;
	r->family = sip->src.family;
	r->transport = (uint8_t)via_transport(m.via.transport);
	r->sport = sip->src.port;
	r->dport = sip->dst.port;
	memcpy(r->src, sip->src.ip, 16);
	memcpy(r->dst, sip->dst.ip, 16);
	r->len = (uint32_t)msg_len;
	if (msg_len > 0)
		memcpy(r->data, sip->sip.p, msg_len);
	STAILQ_INSERT_TAIL(&c->ev.sip, r, link);
	hold(s, c, sv_ev_sip_size(r));
	if (sip->ts_ns < c->first_ts)
		c->first_ts = sip->ts_ns;
	if (sip->ts_ns > c->last_ts)
		c->last_ts = sip->ts_ns;
	touch(s, c, now_ns);
	sip_event(s, c, &m, sip->ts_ns, now_ns);
	count(s, res, created ? SV_INGEST_CREATED : SV_INGEST_STORED);
	if (created && s->hooks.created != NULL) {
		struct sv_call_ref ref;
		fill_ref(c, &ref);
		s->hooks.created(s->hooks.arg, &ref);
	}
	return 0;
}

/* ------------------------------------------------------------ RTCP */

static uint32_t packet_offset(const struct sv_rtcp_compound *rc, size_t i)
{
	uint64_t off = 0;
	for (size_t j = 0; j < i; j++)
		off += rc->packets[j].len;
	return off > UINT32_MAX ? UINT32_MAX : (uint32_t)off;
}

/* RTT from LSR/DLSR against an SR of the reported source seen earlier. */
static double block_rtt(const struct call *c, uint64_t ts, const struct sv_rtcp_report_block *b)
{
	if (b->lsr == 0)
		return -1;
	size_t seen = 0;
	const struct sv_ev_rtcp *r;
	SLIST_FOREACH(r, &c->ev.rtcp, link)
	{
		if (seen++ == RECENT_REPORTS)
			break;
		if (r->pt != SV_RTCP_SR || r->ssrc != b->ssrc || r->sr_ntp != b->lsr ||
		    r->ts_ns > ts)
			continue;
		double ms = (double)(ts - r->ts_ns) / 1e6 - (double)b->dlsr * 1000.0 / 65536.0;
		if (ms < 0)
			return -1;
		return round(ms * 1000.0) / 1000.0;
	}
	return -1;
}

int sv_sessions_rtcp(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                     const struct sv_rtcp_input *in, enum sv_ingest *res)
{
	if (frame_bad(s, now_ns, customer == NULL || in == NULL, res))
		return 0;
	struct call *c = lookup(s, customer, in->call_id, in->call_id_len, res);
	if (c == NULL)
		return 0;
	const struct sv_rtcp_compound *rc = NULL;
	struct sv_rtcp_compound *parsed = NULL;
	const uint8_t *raw = in->raw;
	size_t raw_len = raw != NULL ? in->raw_len : 0;
	if (raw_len > UINT32_MAX)
		raw = NULL, raw_len = 0;
	if (in->rc != NULL) {
		rc = in->rc;
	} else {
		if (raw == NULL || (parsed = malloc(sizeof(*parsed))) == NULL) {
			if (raw != NULL)
				return -ENOMEM;
			count(s, res, SV_INGEST_MALFORMED);
			return 0;
		}
		if (sv_rtcp_parse(raw, raw_len, parsed) != 0) {
			free(parsed);
			count(s, res, SV_INGEST_MALFORMED);
			return 0;
		}
		rc = parsed;
	}
	uint32_t first_ssrc = rc->n_packets > 0 ? rc->packets[0].ssrc : in->ssrc;
	uint64_t hash = raw != NULL ? sv_hash_bytes(14695981039346656037ull, raw, raw_len) : 0;
	if (raw != NULL) {
		size_t seen = 0;
		const struct sv_ev_rtcp *r;
		SLIST_FOREACH(r, &c->ev.rtcp, link)
		{
			if (seen++ == RECENT_REPORTS)
				break;
			uint64_t d =
			    r->ts_ns > in->ts_ns ? r->ts_ns - in->ts_ns : in->ts_ns - r->ts_ns;
			if (d > DEDUPE_WINDOW_NS)
				continue;
			if (r->hash == hash && r->compound_len == raw_len &&
			    r->first_ssrc == first_ssrc) {
				free(parsed);
				touch(s, c, now_ns);
				count(s, res, SV_INGEST_DUPLICATE);
				return 0;
			}
		}
	}
	/* The XR round-trip delay of the compound, per sender. */
	for (size_t i = 0; i < rc->n_packets; i++) {
		const struct sv_rtcp_packet *p = &rc->packets[i];
		if (p->pt != SV_RTCP_SR && p->pt != SV_RTCP_RR && p->pt != SV_RTCP_XR)
			continue;
		size_t nb = p->pt == SV_RTCP_XR ? 0 : p->n_blocks;
		if ((size_t)p->first_block + nb > rc->n_blocks)
			nb = rc->n_blocks > p->first_block ? rc->n_blocks - p->first_block : 0;
		uint32_t off = raw != NULL && rc->source == SV_RTCP_SRC_BINARY
		                   ? packet_offset(rc, i)
		                   : UINT32_MAX;
		uint32_t plen = 0;
		if (off != UINT32_MAX && off <= raw_len && p->len <= raw_len - off)
			plen = p->len;
		struct sv_ev_rtcp *r = malloc(sizeof(*r) + nb * sizeof(struct sv_ev_block) + plen);
		if (r == NULL) {
			free(parsed);
			return -ENOMEM;
		}
		memset(r, 0, sizeof(*r));
		r->ts_ns = in->ts_ns;
		r->hash = hash;
		r->compound_len = (uint32_t)raw_len;
		r->ssrc = p->ssrc;
		r->first_ssrc = first_ssrc;
		r->pt = p->pt;
		r->origin = (uint8_t)in->origin;
		r->has_addr = in->has_addr ? 1 : 0;
		if (in->has_addr) {
			r->src = in->src;
			r->dst = in->dst;
		}
		if (p->pt == SV_RTCP_SR && p->has_sender_info)
			r->sr_ntp = p->si.ntp_sec << 16 | p->si.ntp_frac >> 16;
		double xr_rtt = -1;
		for (size_t x = 0; x < rc->n_xr; x++) {
			const struct sv_rtcp_xr_voip *v = &rc->xr[x];
			if (v->pkt < rc->n_packets && rc->packets[v->pkt].ssrc == p->ssrc &&
			    v->round_trip_delay != 0) {
				xr_rtt = v->round_trip_delay;
				break;
			}
		}
		r->n_blocks = (uint8_t)nb;
		for (size_t b = 0; b < nb; b++) {
			const struct sv_rtcp_report_block *src = &rc->blocks[p->first_block + b];
			struct sv_ev_block *d = &r->blocks[b];
			d->ssrc = src->ssrc;
			d->fraction_lost = src->fraction_lost;
			d->cumulative_lost = src->cumulative_lost;
			d->highest_seq = src->ext_highest_seq;
			d->jitter = src->jitter;
			d->lsr = src->lsr;
			d->dlsr = src->dlsr;
			double rtt = block_rtt(c, in->ts_ns, src);
			d->rtt_ms = (float)(rtt >= 0 ? rtt : xr_rtt);
		}
		r->raw_len = plen;
		if (plen > 0)
			memcpy((uint8_t *)&r->blocks[nb], raw + off, plen);
		SLIST_INSERT_HEAD(&c->ev.rtcp, r, link);
		hold(s, c, sv_ev_rtcp_size(r));
	}
	free(parsed);
	return frame_stored(s, c, now_ns, res);
}

/* ------------------------------------------------------------ logs, quality */

int sv_sessions_log(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                    const struct sv_wire_log *log, enum sv_ingest *res)
{
	if (frame_bad(s, now_ns,
	              customer == NULL || log == NULL ||
	                  (log->line.p == NULL && log->line.len > 0) || log->line.len > UINT32_MAX,
	              res))
		return 0;
	struct call *c = lookup(s, customer, log->call_id.p, log->call_id.len, res);
	if (c == NULL)
		return 0;
	size_t n = log->line.len;
	while (n > 0 && (log->line.p[n - 1] == '\n' || log->line.p[n - 1] == '\r'))
		n--;
	struct sv_ev_log *r = malloc(sizeof(*r) + n);
	if (r == NULL)
		return -ENOMEM;
	r->len = (uint32_t)n;
	if (n > 0)
		memcpy(r->data, log->line.p, n);
	STAILQ_INSERT_TAIL(&c->ev.log, r, link);
	c->ev.n_log++;
	hold(s, c, sv_ev_log_size(r));
	return frame_stored(s, c, now_ns, res);
}

int sv_sessions_quality(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                        const struct sv_wire_quality *q, enum sv_ingest *res)
{
	if (frame_bad(s, now_ns,
	              customer == NULL || q == NULL || (q->json.p == NULL && q->json.len > 0), res))
		return 0;
	struct call *c = lookup(s, customer, q->call_id.p, q->call_id.len, res);
	if (c == NULL)
		return 0;
	uint8_t *copy = malloc(q->json.len + 1);
	if (copy == NULL)
		return -ENOMEM;
	if (q->json.len > 0)
		memcpy(copy, q->json.p, q->json.len);
	copy[q->json.len] = '\0';
	s->st.bytes_held -= c->ev.quality_len;
	c->bytes -= c->ev.quality_len;
	free(c->ev.quality);
	c->ev.quality = copy;
	c->ev.quality_len = q->json.len;
	c->ev.quality_ts = q->ts_ns;
	hold(s, c, q->json.len);
	return frame_stored(s, c, now_ns, res);
}

/* Gzips the first n buffered lines (each '\n'-terminated) into out and drops
 * them. Returns 0 or -ENOMEM / -EIO (lines kept). */
static int take_lines(struct sv_sessions *s, struct call *c, size_t n, struct sv_buf *out)
{
	int rc = sv_evidence_log_gz(&c->ev, n, out);
	if (rc == 0)
		drop_lines(s, c, n);
	return rc;
}

/* ------------------------------------------------------------ COMPLETE */

/* COMPLETE: objects, hook, tombstone. */
static void complete(struct sv_sessions *s, struct call *c, uint64_t now)
{
	struct sv_call_objects o;
	struct sv_evidence_call ec = {
	    .customer = c->cust->name,
	    .call_id = c->call_id,
	    .call_id_len = c->call_id_len,
	    .answered = (c->flags & CF_ANSWERED) != 0,
	    .started_ns = (c->flags & CF_HAS_INVITE) ? c->invite_ts : c->first_ts,
	    .answered_ns = c->answered_ts,
	    .ended_ns = c->ended_ts != 0 ? c->ended_ts : c->last_ts,
	    .final_status = c->final_status,
	    .end_reason = (enum sv_quality_end)c->end_reason,
	    .log_chunk = c->next_chunk,
	};
	size_t unknown = 0;

	sv_call_objects_init(&o);
	if (sv_evidence_build(&c->ev, &ec, &o, &unknown) == 0) {
		s->st.rtcp_unknown_direction += unknown;
		if (o.log_chunk != 0)
			c->next_chunk++;
		if (s->hooks.complete != NULL) {
			struct sv_call_ref ref;
			fill_ref(c, &ref);
			s->hooks.complete(s->hooks.arg, &ref, &o);
		}
		s->st.completed++;
		sv_call_objects_release(&o);
		bury(s, c, now);
		return;
	}
	/* Out of memory: try again at the next tick. */
	sv_call_objects_release(&o);
	set_state(s, c, (enum sv_call_state)c->state, add_sat(now, NS_PER_S));
}

static void flush_logs(struct sv_sessions *s, struct call *c, uint64_t now)
{
	fl_remove(s, c);
	c->flush_at = add_sat(now, s->lim.log_flush_ns ? s->lim.log_flush_ns : NS_PER_S);
	fl_append(s, c);
	if (c->ev.n_log == 0)
		return;
	struct sv_buf gz;
	sv_buf_init(&gz);
	size_t lines = c->ev.n_log;
	if (take_lines(s, c, lines, &gz) == 0) {
		unsigned chunk = c->next_chunk++;
		s->st.log_chunks++;
		if (s->hooks.log_chunk != NULL) {
			struct sv_call_ref ref;
			fill_ref(c, &ref);
			s->hooks.log_chunk(s->hooks.arg, &ref, chunk, lines, &gz);
		}
	}
	sv_buf_release(&gz);
}

uint64_t sv_sessions_tick(struct sv_sessions *s, uint64_t now_ns)
{
	see(s, now_ns);
	struct call *c;
	while ((c = TAILQ_FIRST(&s->flush)) != NULL && c->flush_at <= now_ns)
		flush_logs(s, c, now_ns);
	while ((c = TAILQ_FIRST(&s->lists[SV_CALL_CLOSING])) != NULL && c->deadline <= now_ns)
		complete(s, c, now_ns);
	while ((c = TAILQ_FIRST(&s->lists[SV_CALL_PENDING])) != NULL && c->deadline <= now_ns) {
		c->end_reason = SV_QUALITY_END_TIMEOUT;
		complete(s, c, now_ns);
	}
	while ((c = TAILQ_FIRST(&s->lists[SV_CALL_ACTIVE])) != NULL && c->deadline <= now_ns) {
		c->end_reason = SV_QUALITY_END_TIMEOUT;
		complete(s, c, now_ns);
	}
	while ((c = TAILQ_FIRST(&s->lists[SV_CALL_COMPLETE])) != NULL && c->deadline <= now_ns)
		destroy(s, c);
	uint64_t next = UINT64_MAX;
	for (int i = 0; i < SV_CALL_NSTATES; i++)
		if ((c = TAILQ_FIRST(&s->lists[i])) != NULL && c->deadline < next)
			next = c->deadline;
	if ((c = TAILQ_FIRST(&s->flush)) != NULL && c->flush_at < next)
		next = c->flush_at;
	return next;
}

void sv_sessions_complete_all(struct sv_sessions *s, uint64_t now_ns)
{
	static const enum sv_call_state order[] = {SV_CALL_CLOSING, SV_CALL_PENDING,
	                                           SV_CALL_ACTIVE};
	for (size_t i = 0; i < 3; i++) {
		struct call *c;
		uint64_t guard = s->st.calls[order[i]];
		while ((c = TAILQ_FIRST(&s->lists[order[i]])) != NULL && guard-- > 0) {
			if (order[i] != SV_CALL_CLOSING)
				c->end_reason = SV_QUALITY_END_TIMEOUT;
			complete(s, c, now_ns);
		}
	}
}

/* ------------------------------------------------------------ replay markers */

int sv_sessions_mark_log_flushed(struct sv_sessions *s, const char *customer,
                                 const uint8_t *call_id, size_t len, unsigned chunk, size_t lines)
{
	if (s == NULL || customer == NULL || (call_id == NULL && len > 0) || chunk == 0)
		return -EINVAL;
	struct call *c =
	    find_call(s, cust_find(s, customer), key_hash(customer, call_id, len), call_id, len);
	if (c == NULL || c->state == SV_CALL_COMPLETE)
		return SV_E_NOTFOUND;
	drop_lines(s, c, lines);
	if (chunk >= c->next_chunk)
		c->next_chunk = chunk + 1;
	return 0;
}

int sv_sessions_mark_complete(struct sv_sessions *s, const char *customer, const uint8_t *call_id,
                              size_t len)
{
	if (s == NULL || customer == NULL || (call_id == NULL && len > 0) || len == 0)
		return -EINVAL;
	uint64_t h = key_hash(customer, call_id, len);
	const struct cust *cu = cust_intern(s, customer);
	if (cu == NULL)
		return -ENOMEM;
	struct call *c = find_call(s, cu, h, call_id, len);
	if (c == NULL && (c = new_call(s, cu, h, call_id, len, 0, 0)) == NULL)
		return -ENOMEM;
	if (c->state != SV_CALL_COMPLETE)
		bury(s, c, s->now);
	return 0;
}

size_t sv_sessions_customers_of(const struct sv_sessions *s, const uint8_t *call_id, size_t len,
                                const char **customer)
{
	size_t n = 0;
	if (customer != NULL)
		*customer = NULL;
	if (s == NULL || len == 0 || call_id == NULL)
		return 0;
	const struct cust *cu;
	SLIST_FOREACH(cu, &s->custs, link)
	{
		struct call *c = find_call(s, cu, key_hash(cu->name, call_id, len), call_id, len);
		if (c == NULL || c->state == SV_CALL_COMPLETE)
			continue;
		if (n++ == 0 && customer != NULL)
			*customer = cu->name;
	}
	if (n != 1 && customer != NULL)
		*customer = NULL;
	return n;
}
