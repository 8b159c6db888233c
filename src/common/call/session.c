/*
 * session.c - the call engine (see session.h and docs/internals/session.md).
 *
 * Layout: a chained hash table of calls keyed by (interned customer, Call-ID);
 * per state an intrusive deadline-ordered list; a second list of ACTIVE calls
 * ordered by their next log flush. A call keeps its SIP messages, RTCP
 * reports and log lines as singly linked records of one allocation each.
 * Everything that needs the whole dialog (caller tag, SDP endpoints, codec,
 * RTCP direction) is worked out once, at COMPLETE, by re-parsing the stored
 * messages, so ingest stays cheap and packet order does not matter.
 */
#include "call/session.h"

#include "base/errors.h"
#include "base/gz.h"
#include "base/hash.h"
#include "proto/pcapfile.h"
#include "call/quality.h"
#include "call/rtcpjson.h"
#include "proto/sdp.h"
#include "proto/sip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NS_PER_S          1000000000ull
#define DEDUPE_WINDOW_NS  (2 * NS_PER_S) /* same raw RTCP + SSRC within this: duplicate */
#define TOMBSTONE_DEFAULT (600 * NS_PER_S)
#define MIN_BUCKETS       1024
#define RECENT_REPORTS    64 /* reports searched for a duplicate or the SR an RR echoes */

/* ------------------------------------------------------------ records */

struct sip_rec {
	struct sip_rec *next;
	uint64_t ts_ns;
	uint64_t seq; /* arrival order (ties in the time sort) */
	uint8_t family;
	uint8_t transport; /* enum sv_pcap_transport */
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
	uint32_t len;
	uint8_t data[];
};

struct blk {
	uint32_t ssrc;
	uint8_t fraction_lost;
	int32_t cumulative_lost;
	uint32_t highest_seq, jitter, lsr, dlsr;
	float rtt_ms; /* < 0: unknown */
};

struct rtcp_rec {
	struct rtcp_rec *next; /* newest first */
	uint64_t ts_ns;
	uint64_t hash; /* of the whole compound datagram (dedupe) */
	uint32_t compound_len;
	uint32_t ssrc;       /* sender SSRC of this packet */
	uint32_t first_ssrc; /* sender SSRC of the compound's first packet (dedupe) */
	uint32_t sr_ntp;     /* SR: compact NTP of the sender info, else 0 */
	uint8_t pt;
	uint8_t origin;
	uint8_t has_addr;
	uint8_t n_blocks;
	struct sv_wire_addr src, dst;
	uint32_t raw_len; /* this packet's bytes (0: none) */
	/* blocks[n_blocks], then raw bytes */
	struct blk blocks[];
};

struct log_rec {
	struct log_rec *next;
	uint32_t len;
	uint8_t data[];
};

struct cust {
	struct cust *next;
	char name[];
};

enum {
	CF_HAS_INVITE = 1 << 0, /* the initial INVITE request was seen */
	CF_ANSWERED = 1 << 1,
	CF_CANCEL = 1 << 2,
	CF_IN_FLUSH = 1 << 3, /* on the flush list */
};

struct call {
	struct call *hnext;
	struct call *tprev, *tnext; /* the list of its state (tombstones too) */
	struct call *fprev, *fnext; /* the flush list (ACTIVE) */
	const struct cust *cust;
	uint64_t hash;
	uint64_t deadline;
	uint64_t flush_at;
	uint64_t first_ts, invite_ts, answered_ts, ended_ts, last_ts;
	uint64_t serial;
	uint64_t user;
	struct sip_rec *sip_head, *sip_tail;
	size_t n_sip;
	struct rtcp_rec *rtcp; /* newest first */
	size_t n_rtcp;
	struct log_rec *log_head, *log_tail;
	size_t n_log;
	uint8_t *quality;
	size_t quality_len;
	uint64_t quality_ts;
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

struct tlist {
	struct call *head, *tail;
};

struct sv_sessions {
	struct sv_session_limits lim;
	struct sv_session_hooks hooks;
	struct call **buckets;
	size_t nbuckets;
	size_t ncalls; /* live + tombstones in the table */
	struct cust *custs;
	struct tlist lists[SV_CALL_NSTATES]; /* COMPLETE: tombstones */
	struct tlist flush;
	uint64_t serial;
	uint64_t sip_seq;
	uint64_t now; /* the latest now_ns seen (for markers, which have none) */
	struct sv_session_stats st;
};

/* ------------------------------------------------------------ lists */

static void tl_append(struct tlist *l, struct call *c)
{
	c->tnext = NULL;
	c->tprev = l->tail;
	if (l->tail != NULL)
		l->tail->tnext = c;
	else
		l->head = c;
	l->tail = c;
}

static void tl_remove(struct tlist *l, struct call *c)
{
	if (c->tprev != NULL)
		c->tprev->tnext = c->tnext;
	else
		l->head = c->tnext;
	if (c->tnext != NULL)
		c->tnext->tprev = c->tprev;
	else
		l->tail = c->tprev;
	c->tprev = c->tnext = NULL;
}

static void fl_append(struct tlist *l, struct call *c)
{
	c->fnext = NULL;
	c->fprev = l->tail;
	if (l->tail != NULL)
		l->tail->fnext = c;
	else
		l->head = c;
	l->tail = c;
	c->flags |= CF_IN_FLUSH;
}

static void fl_remove(struct tlist *l, struct call *c)
{
	if (!(c->flags & CF_IN_FLUSH))
		return;
	if (c->fprev != NULL)
		c->fprev->fnext = c->fnext;
	else
		l->head = c->fnext;
	if (c->fnext != NULL)
		c->fnext->fprev = c->fprev;
	else
		l->tail = c->fprev;
	c->fprev = c->fnext = NULL;
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
	tl_remove(&s->lists[c->state], c);
	s->st.calls[c->state]--;
	c->state = (uint8_t)st;
	c->deadline = deadline;
	tl_append(&s->lists[st], c);
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
	for (const struct cust *c = s->custs; c != NULL; c = c->next)
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
	c->next = s->custs;
	s->custs = c;
	return c;
}

static struct call *find_call(const struct sv_sessions *s, const struct cust *cu, uint64_t h,
                              const uint8_t *id, size_t len)
{
	if (cu == NULL)
		return NULL;
	for (struct call *c = s->buckets[h & (s->nbuckets - 1)]; c != NULL; c = c->hnext)
		if (c->hash == h && c->cust == cu && c->call_id_len == len &&
		    (len == 0 || memcmp(c->call_id, id, len) == 0))
			return c;
	return NULL;
}

static void table_grow(struct sv_sessions *s)
{
	size_t n = s->nbuckets * 2;
	struct call **nb = calloc(n, sizeof(*nb));
	if (nb == NULL)
		return; /* keep the longer chains */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct call *c = s->buckets[i], *next;
		for (; c != NULL; c = next) {
			next = c->hnext;
			c->hnext = nb[c->hash & (n - 1)];
			nb[c->hash & (n - 1)] = c;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->nbuckets = n;
}

static void table_unlink(struct sv_sessions *s, struct call *c)
{
	struct call **pp = &s->buckets[c->hash & (s->nbuckets - 1)];
	while (*pp != NULL && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp == c)
		*pp = c->hnext;
	s->ncalls--;
}

/* ------------------------------------------------------------ call memory */

static void free_records(struct sv_sessions *s, struct call *c)
{
	for (struct sip_rec *r = c->sip_head, *n; r != NULL; r = n) {
		n = r->next;
		free(r);
	}
	for (struct rtcp_rec *r = c->rtcp, *n; r != NULL; r = n) {
		n = r->next;
		free(r);
	}
	for (struct log_rec *r = c->log_head, *n; r != NULL; r = n) {
		n = r->next;
		free(r);
	}
	free(c->quality);
	c->sip_head = c->sip_tail = NULL;
	c->rtcp = NULL;
	c->log_head = c->log_tail = NULL;
	c->quality = NULL;
	c->quality_len = 0;
	c->n_sip = c->n_rtcp = c->n_log = 0;
	s->st.bytes_held -= c->bytes;
	c->bytes = 0;
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
	if (len > 0)
		memcpy(c->call_id, id, len);
	c->call_id_len = len;
	c->cust = cu;
	c->hash = h;
	c->first_ts = first_ts;
	c->serial = ++s->serial;
	c->next_chunk = 1;
	c->end_reason = SV_QUALITY_END_TIMEOUT;
	c->state = SV_CALL_PENDING;
	c->deadline = add_sat(now, s->lim.pending_timeout_ns);
	tl_append(&s->lists[SV_CALL_PENDING], c);
	s->st.calls[SV_CALL_PENDING]++;
	c->hnext = s->buckets[h & (s->nbuckets - 1)];
	s->buckets[h & (s->nbuckets - 1)] = c;
	s->ncalls++;
	s->st.bytes_held += sizeof(*c) + len;
	if (s->ncalls > s->nbuckets)
		table_grow(s);
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
	fl_remove(&s->flush, c);
	free_records(s, c);
	set_state(s, c, SV_CALL_COMPLETE,
	          add_sat(now, s->lim.tombstone_ns ? s->lim.tombstone_ns : TOMBSTONE_DEFAULT));
}

static void destroy(struct sv_sessions *s, struct call *c)
{
	fl_remove(&s->flush, c);
	tl_remove(&s->lists[c->state], c);
	s->st.calls[c->state]--;
	table_unlink(s, c);
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
	s->nbuckets = MIN_BUCKETS;
	if ((s->buckets = calloc(s->nbuckets, sizeof(*s->buckets))) == NULL) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void sv_sessions_free(struct sv_sessions *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		for (struct call *c = s->buckets[i], *n; c != NULL; c = n) {
			n = c->hnext;
			free_records(s, c);
			free(c);
		}
	}
	for (struct cust *c = s->custs, *n; c != NULL; c = n) {
		n = c->next;
		free(c);
	}
	free(s->buckets);
	free(s);
}

void sv_call_objects_release(struct sv_call_objects *objs)
{
	if (objs == NULL)
		return;
	sv_buf_release(&objs->sip_pcap_gz);
	sv_buf_release(&objs->rtcp_json_gz);
	sv_buf_release(&objs->quality_json);
	sv_buf_release(&objs->log_gz);
	objs->log_chunk = 0;
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
				fl_remove(&s->flush, c);
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
		fl_append(&s->flush, c);
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
	see(s, now_ns);
	struct sv_sip_msg m;
	*res = SV_INGEST_MALFORMED;
	if (customer == NULL || sip == NULL || (sip->sip.p == NULL && sip->sip.len > 0) ||
	    sip->sip.len > UINT32_MAX || sv_sip_parse(sip->sip.p, sip->sip.len, &m) != 0 ||
	    (sip->src.family != 4 && sip->src.family != 6) || sip->dst.family != sip->src.family) {
		count(s, res, SV_INGEST_MALFORMED);
		return 0;
	}
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
	struct sip_rec *r = malloc(sizeof(*r) + msg_len);
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
	r->next = NULL;
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
	if (c->sip_tail != NULL)
		c->sip_tail->next = r;
	else
		c->sip_head = r;
	c->sip_tail = r;
	c->n_sip++;
	hold(s, c, sizeof(*r) + msg_len);
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
	for (const struct rtcp_rec *r = c->rtcp; r != NULL && seen++ < RECENT_REPORTS;
	     r = r->next) {
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
	see(s, now_ns);
	*res = SV_INGEST_MALFORMED;
	if (customer == NULL || in == NULL) {
		count(s, res, SV_INGEST_MALFORMED);
		return 0;
	}
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
		for (const struct rtcp_rec *r = c->rtcp; r != NULL && seen++ < RECENT_REPORTS;
		     r = r->next) {
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
		struct rtcp_rec *r = malloc(sizeof(*r) + nb * sizeof(struct blk) + plen);
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
			struct blk *d = &r->blocks[b];
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
		r->next = c->rtcp;
		c->rtcp = r;
		c->n_rtcp++;
		hold(s, c, sizeof(*r) + nb * sizeof(struct blk) + plen);
	}
	free(parsed);
	touch(s, c, now_ns);
	count(s, res, SV_INGEST_STORED);
	return 0;
}

/* ------------------------------------------------------------ logs, quality */

int sv_sessions_log(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                    const struct sv_wire_log *log, enum sv_ingest *res)
{
	see(s, now_ns);
	*res = SV_INGEST_MALFORMED;
	if (customer == NULL || log == NULL || (log->line.p == NULL && log->line.len > 0) ||
	    log->line.len > UINT32_MAX) {
		count(s, res, SV_INGEST_MALFORMED);
		return 0;
	}
	struct call *c = lookup(s, customer, log->call_id.p, log->call_id.len, res);
	if (c == NULL)
		return 0;
	size_t n = log->line.len;
	while (n > 0 && (log->line.p[n - 1] == '\n' || log->line.p[n - 1] == '\r'))
		n--;
	struct log_rec *r = malloc(sizeof(*r) + n);
	if (r == NULL)
		return -ENOMEM;
	r->next = NULL;
	r->len = (uint32_t)n;
	if (n > 0)
		memcpy(r->data, log->line.p, n);
	if (c->log_tail != NULL)
		c->log_tail->next = r;
	else
		c->log_head = r;
	c->log_tail = r;
	c->n_log++;
	hold(s, c, sizeof(*r) + n);
	touch(s, c, now_ns);
	count(s, res, SV_INGEST_STORED);
	return 0;
}

int sv_sessions_quality(struct sv_sessions *s, const char *customer, uint64_t now_ns,
                        const struct sv_wire_quality *q, enum sv_ingest *res)
{
	see(s, now_ns);
	*res = SV_INGEST_MALFORMED;
	if (customer == NULL || q == NULL || (q->json.p == NULL && q->json.len > 0)) {
		count(s, res, SV_INGEST_MALFORMED);
		return 0;
	}
	struct call *c = lookup(s, customer, q->call_id.p, q->call_id.len, res);
	if (c == NULL)
		return 0;
	uint8_t *copy = malloc(q->json.len + 1);
	if (copy == NULL)
		return -ENOMEM;
	if (q->json.len > 0)
		memcpy(copy, q->json.p, q->json.len);
	copy[q->json.len] = '\0';
	s->st.bytes_held -= c->quality_len;
	c->bytes -= c->quality_len;
	free(c->quality);
	c->quality = copy;
	c->quality_len = q->json.len;
	c->quality_ts = q->ts_ns;
	hold(s, c, q->json.len);
	touch(s, c, now_ns);
	count(s, res, SV_INGEST_STORED);
	return 0;
}

/* Gzips the first n buffered lines (each '\n'-terminated) into out and drops
 * them. Returns 0 or -ENOMEM / -EIO (lines kept). */
static int take_lines(struct sv_sessions *s, struct call *c, size_t n, struct sv_buf *out)
{
	struct sv_buf text;
	int rc = 0;
	sv_buf_init(&text);
	size_t i = 0;
	for (struct log_rec *r = c->log_head; r != NULL && i < n; r = r->next, i++)
		if ((rc = sv_buf_append(&text, r->data, r->len)) != 0 ||
		    (rc = sv_buf_append(&text, "\n", 1)) != 0)
			break;
	if (rc == 0)
		rc = sv_gz_compress(text.data != NULL ? text.data : (const uint8_t *)"", text.len,
		                    out);
	sv_buf_release(&text);
	if (rc != 0)
		return rc;
	for (i = 0; i < n && c->log_head != NULL; i++) {
		struct log_rec *r = c->log_head;
		c->log_head = r->next;
		c->bytes -= sizeof(*r) + r->len;
		s->st.bytes_held -= sizeof(*r) + r->len;
		free(r);
		c->n_log--;
	}
	if (c->log_head == NULL)
		c->log_tail = NULL;
	return 0;
}

/* ------------------------------------------------------------ COMPLETE */

/* A valid UTF-8, NUL-free copy of bytes (bad sequences and NUL become U+FFFD). */
static char *utf8_copy(const void *p, size_t len)
{
	const uint8_t *b = p;
	struct sv_buf o;
	sv_buf_init(&o);
	size_t i = 0;
	while (i < len) {
		uint8_t c = b[i];
		size_t n = c < 0x80             ? 1
		           : (c & 0xe0) == 0xc0 ? 2
		           : (c & 0xf0) == 0xe0 ? 3
		           : (c & 0xf8) == 0xf0 ? 4
		                                : 0;
		int ok = n > 0 && c != 0 && i + n <= len;
		if (ok && n > 1) {
			uint32_t cp = c & (0x7f >> n);
			for (size_t k = 1; k < n; k++) {
				if ((b[i + k] & 0xc0) != 0x80) {
					ok = 0;
					break;
				}
				cp = cp << 6 | (b[i + k] & 0x3f);
			}
			if (ok && ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
			           (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
			           (cp >= 0xd800 && cp <= 0xdfff)))
				ok = 0;
		}
		if (ok) {
			if (sv_buf_append(&o, b + i, n) != 0)
				goto fail;
			i += n;
		} else {
			if (sv_buf_append(&o, "\xef\xbf\xbd", 3) != 0)
				goto fail;
			i++;
		}
	}
	if (sv_buf_append(&o, "", 1) != 0)
		goto fail;
	return (char *)o.data;
fail:
	sv_buf_release(&o);
	return NULL;
}

struct endpoint {
	int family;
	uint8_t addr[16];
	uint16_t port;
	uint8_t side; /* enum sv_quality_dir */
};

struct ssrc_side {
	uint32_t ssrc;
	uint8_t side;
};

/* What the dialog's messages say, worked out at COMPLETE. */
struct dialog {
	char *from, *to;
	char codec[32];
	unsigned clock_rate;
	struct endpoint *ep;
	size_t n_ep, cap_ep;
	struct ssrc_side *ss;
	size_t n_ss, cap_ss;
};

static void dialog_release(struct dialog *d)
{
	free(d->from);
	free(d->to);
	free(d->ep);
	free(d->ss);
}

static int add_ep(struct dialog *d, const struct sv_sdp_addr *a, uint16_t port, int side)
{
	if (a == NULL || (a->family != AF_INET && a->family != AF_INET6))
		return 0;
	for (size_t i = 0; i < d->n_ep; i++)
		if (d->ep[i].family == a->family && d->ep[i].port == port &&
		    d->ep[i].side == side && memcmp(d->ep[i].addr, a->addr, 16) == 0)
			return 0;
	if (d->n_ep == d->cap_ep) {
		size_t n = d->cap_ep ? d->cap_ep * 2 : 8;
		struct endpoint *e = realloc(d->ep, n * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		d->ep = e;
		d->cap_ep = n;
	}
	struct endpoint *e = &d->ep[d->n_ep++];
	e->family = a->family;
	memcpy(e->addr, a->addr, 16);
	e->port = port;
	e->side = (uint8_t)side;
	return 0;
}

static int add_ssrc(struct dialog *d, uint32_t ssrc, int side)
{
	for (size_t i = 0; i < d->n_ss; i++)
		if (d->ss[i].ssrc == ssrc)
			return 0; /* first attribution wins */
	if (d->n_ss == d->cap_ss) {
		size_t n = d->cap_ss ? d->cap_ss * 2 : 8;
		struct ssrc_side *e = realloc(d->ss, n * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		d->ss = e;
		d->cap_ss = n;
	}
	d->ss[d->n_ss].ssrc = ssrc;
	d->ss[d->n_ss].side = (uint8_t)side;
	d->n_ss++;
	return 0;
}

static int str_eq(struct sv_str a, struct sv_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int set_codec(char *dst, size_t cap, unsigned *rate, const struct sv_sdp *sdp)
{
	struct sv_str name;
	uint32_t cr;
	if (sv_sdp_codec(sdp, &name, &cr) != 0 || cr == 0 || name.len == 0 || name.len >= cap)
		return 0;
	for (size_t i = 0; i < name.len; i++)
		if ((unsigned char)name.p[i] < 0x20 || (unsigned char)name.p[i] >= 0x7f)
			return 0;
	memcpy(dst, name.p, name.len);
	dst[name.len] = '\0';
	*rate = cr;
	return 1;
}

static int analyse_dialog(const struct call *c, struct dialog *d)
{
	struct sv_sip_msg m;
	struct sv_str caller = {NULL, 0};
	int have_offer = 0, have_answer = 0, offer_side = -1;
	char answer_codec[32] = "";
	unsigned answer_rate = 0;
	const struct sip_rec *inv = NULL, *any_inv = NULL;

	memset(d, 0, sizeof(*d));
	/* The caller's tag: From-tag of the initial INVITE, else of the first
	 * message of the INVITE transaction. */
	for (const struct sip_rec *r = c->sip_head; r != NULL; r = r->next) {
		if (sv_sip_parse(r->data, r->len, &m) != 0 || m.cseq_method != SV_SIP_INVITE)
			continue;
		if (m.is_request && m.method == SV_SIP_INVITE && m.to.tag.len == 0) {
			caller = m.from.tag;
			inv = r;
			break;
		}
		if (any_inv == NULL) {
			any_inv = r;
			caller = m.from.tag;
		}
	}
	if (inv == NULL)
		inv = any_inv;
	if (inv != NULL && sv_sip_parse(inv->data, inv->len, &m) == 0) {
		d->from = utf8_copy(m.from.uri.p, m.from.uri.len);
		d->to = utf8_copy(m.to.uri.p, m.to.uri.len);
	} else {
		d->from = utf8_copy("", 0);
		d->to = utf8_copy("", 0);
	}
	if (d->from == NULL || d->to == NULL)
		return -ENOMEM;
	strcpy(d->codec, "PCMU");
	d->clock_rate = 8000;
	for (const struct sip_rec *r = c->sip_head; r != NULL; r = r->next) {
		struct sv_str body;
		struct sv_sdp sdp;
		if (sv_sip_parse(r->data, r->len, &m) != 0 || sv_sip_sdp_body(&m, &body) != 0 ||
		    sv_sdp_parse((const uint8_t *)body.p, body.len, &sdp) != 0)
			continue;
		int from_caller = str_eq(m.from.tag, caller);
		int side =
		    (m.is_request ? from_caller : !from_caller) ? SV_QUALITY_UAC : SV_QUALITY_UAS;
		for (unsigned i = 0; i < sdp.n_media; i++) {
			struct sv_sdp_endpoint ep;
			const struct sv_sdp_media *md = &sdp.media[i];
			if (sv_sdp_rtcp(&sdp, md, &ep) == 0 &&
			    add_ep(d, ep.addr, ep.port, side) != 0)
				return -ENOMEM;
			for (unsigned k = 0; k < md->n_ssrc; k++)
				if (add_ssrc(d, md->ssrc[k], side) != 0)
					return -ENOMEM;
		}
		if (!have_offer) {
			have_offer = set_codec(d->codec, sizeof(d->codec), &d->clock_rate, &sdp);
			if (have_offer)
				offer_side = side;
		} else if (!have_answer && side != offer_side) {
			have_answer =
			    set_codec(answer_codec, sizeof(answer_codec), &answer_rate, &sdp);
		}
	}
	if (have_answer) {
		memcpy(d->codec, answer_codec, sizeof(d->codec));
		d->clock_rate = answer_rate;
	}
	return 0;
}

/* Which side an address belongs to: 0 uac, 1 uas, -1 none or both. */
static int ep_side(const struct dialog *d, const struct sv_wire_addr *a, int with_port)
{
	int family = a->family == 4 ? AF_INET : a->family == 6 ? AF_INET6 : 0;
	int found = -1;
	for (size_t i = 0; i < d->n_ep; i++) {
		const struct endpoint *e = &d->ep[i];
		if (e->family != family ||
		    memcmp(e->addr, a->ip, family == AF_INET ? 4 : 16) != 0 ||
		    (with_port && e->port != a->port))
			continue;
		if (found >= 0 && found != e->side)
			return -1;
		found = e->side;
	}
	return found;
}

static int report_side(struct dialog *d, const struct rtcp_rec *r)
{
	if (r->has_addr) {
		int x;
		if ((x = ep_side(d, &r->src, 1)) >= 0)
			return x;
		if ((x = ep_side(d, &r->dst, 1)) >= 0)
			return !x;
		if ((x = ep_side(d, &r->src, 0)) >= 0)
			return x;
		if ((x = ep_side(d, &r->dst, 0)) >= 0)
			return !x;
	}
	for (size_t i = 0; i < d->n_ss; i++)
		if (d->ss[i].ssrc == r->ssrc)
			return d->ss[i].side;
	return -1;
}

static void addr_text(const struct sv_wire_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->ip, ip, sizeof(ip)) == NULL)
		strcpy(ip, "?");
	if (a->family == 6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
}

static const char *pt_name(uint8_t pt)
{
	return pt == SV_RTCP_SR ? "sr" : pt == SV_RTCP_RR ? "rr" : "xr";
}

static int cmp_sip(const void *a, const void *b)
{
	const struct sip_rec *x = *(const struct sip_rec *const *)a;
	const struct sip_rec *y = *(const struct sip_rec *const *)b;
	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int build_pcap(const struct call *c, struct sv_buf *out)
{
	struct sv_pcapw w;
	const struct sip_rec **v = NULL;
	int rc = 0;
	if (c->n_sip > 0 && (v = malloc(c->n_sip * sizeof(*v))) == NULL)
		return -ENOMEM;
	size_t n = 0;
	for (const struct sip_rec *r = c->sip_head; r != NULL; r = r->next)
		v[n++] = r;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_sip);
	sv_pcapw_init(&w);
	for (size_t i = 0; i < n; i++) {
		struct sv_pcap_rec pr = {
		    .ts_ns = v[i]->ts_ns,
		    .family = v[i]->family == 6 ? AF_INET6 : AF_INET,
		    .sport = v[i]->sport,
		    .dport = v[i]->dport,
		    .transport = (enum sv_pcap_transport)v[i]->transport,
		    .payload = v[i]->data,
		    .len = v[i]->len,
		};
		memcpy(pr.src, v[i]->src, 16);
		memcpy(pr.dst, v[i]->dst, 16);
		rc = sv_pcapw_add(&w, &pr);
		if (rc == -ENOMEM)
			break;
		rc = 0; /* a message too big for one datagram is left out */
	}
	if (rc == 0)
		rc = sv_pcapw_finish_gz(&w, out);
	sv_pcapw_release(&w);
	free(v);
	return rc;
}

/* Samples from an agent's DATA_QUALITY document (RTP statistics); SIZE_MAX
 * when out of memory. */
static size_t rtp_samples(const struct call *c, struct sv_quality_sample out[2])
{
	static const char *const dirs[2] = {"uac", "uas"};
	size_t n = 0;
	if (c->quality == NULL)
		return 0;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)c->quality, c->quality_len, 0, &jerr);
	if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory)
		return SIZE_MAX;
	json_t *ds = json_object_get(root, "directions");
	for (int d = 0; d < 2 && json_is_object(ds); d++) {
		json_t *o = json_object_get(ds, dirs[d]);
		json_t *j = json_object_get(json_object_get(o, "jitter"), "avg");
		json_t *l = json_object_get(json_object_get(o, "loss"), "avg");
		json_t *t = json_object_get(json_object_get(o, "rtt"), "avg");
		if (!json_is_number(j) || !json_is_number(l))
			continue;
		double jv = json_number_value(j), lv = json_number_value(l);
		double tv = json_is_number(t) ? json_number_value(t) : 0;
		if (!isfinite(jv) || jv < 0 || jv > 1e7 || !isfinite(lv) || lv < 0 || lv > 100 ||
		    !isfinite(tv) || tv < 0 || tv > 1e7)
			continue;
		out[n].ts_ns = c->quality_ts;
		out[n].dir = (enum sv_quality_dir)d;
		out[n].jitter_ms = jv;
		out[n].loss_pct = lv;
		out[n].rtt_ms = tv;
		n++;
	}
	json_decref(root);
	return n;
}

/* Largest clock_rate sv_rtcpjson_load() accepts. */
#define RTCPJSON_CLOCK_MAX 1000000u

static uint64_t ms_floor(uint64_t ns)
{
	return ns - ns % 1000000u;
}

/*
 * What sv_rtcpjson_load() gives back for the document sv_rtcpjson_dump()
 * wrote from call + reports (with the summary), without the text round
 * trip: times at millisecond precision (ISO-8601 in the summary), the status
 * clamped to 0..699, "answered" as the reader infers it, one sample per block
 * of the uac/uas reports in document order, timestamps as written (63 bits),
 * rtt as written (null = unknown). doc->samples is owned (release with
 * sv_rtcpjson_release); the call's strings stay borrowed from call.
 * test_session.c checks the result against --analyze byte for byte.
 */
static int read_back(const struct sv_quality_call *call, const struct sv_rtcpjson_report *reps,
                     size_t n, struct sv_rtcpjson *doc)
{
	size_t total = 0;
	struct sv_quality_call *rc = &doc->call;

	*rc = *call;
	rc->codec = call->codec != NULL ? call->codec : "";
	rc->final_status =
	    call->final_status >= 0 && call->final_status <= 699 ? call->final_status : 0;
	rc->end_reason = (enum sv_quality_end)((unsigned)call->end_reason & 3);
	rc->started_ns = ms_floor(call->started_ns);
	rc->answered_ns = call->answered ? ms_floor(call->answered_ns) : 0;
	rc->ended_ns = ms_floor(call->ended_ns);
	rc->answered = (rc->final_status >= 200 && rc->final_status <= 299) || rc->answered_ns != 0;
	rc->from = call->from != NULL ? call->from : "";
	rc->to = call->to != NULL ? call->to : "";
	doc->has_summary = 1;
	doc->n_reports = n;
	for (size_t i = 0; i < n; i++)
		total += reps[i].n_blocks;
	if (total > 0 && (doc->samples = malloc(total * sizeof(*doc->samples))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct sv_rtcpjson_report *r = &reps[i];
		enum sv_quality_dir dir;
		if (strcmp(r->direction, "uac") == 0)
			dir = SV_QUALITY_UAC;
		else if (strcmp(r->direction, "uas") == 0)
			dir = SV_QUALITY_UAS;
		else
			continue;
		for (size_t k = 0; k < r->n_blocks; k++) {
			const struct sv_rtcpjson_block *b = &r->blocks[k];
			double rtt = isfinite(b->rtt_ms) && b->rtt_ms >= 0 && b->rtt_ms <= 1e7
			                 ? b->rtt_ms
			                 : -1;
			int e = sv_quality_sample_from_block(
			    r->ts_ns & INT64_MAX, dir, b->fraction_lost, b->jitter, rc->clock_rate,
			    rtt, &doc->samples[doc->n_samples]);
			if (e != 0)
				return e;
			doc->n_samples++;
		}
	}
	return 0;
}

static int build_objects(struct sv_sessions *s, struct call *c, struct sv_call_objects *o)
{
	struct dialog d;
	struct sv_quality_call qc;
	struct sv_rtcpjson_report *reps = NULL;
	struct sv_rtcpjson_block *blks = NULL;
	const struct rtcp_rec **order = NULL;
	char(*addrs)[2][64] = NULL;
	struct sv_buf json;
	struct sv_rtcpjson doc;
	json_t *q = NULL;
	char *cid = NULL;
	int rc;

	sv_buf_init(&json);
	memset(&doc, 0, sizeof(doc));
	if ((rc = analyse_dialog(c, &d)) != 0)
		goto out;
	rc = -ENOMEM;
	if ((cid = utf8_copy(c->call_id, c->call_id_len)) == NULL)
		goto out;
	sv_quality_call_init(&qc);
	qc.call_id = cid;
	qc.customer = c->cust->name;
	qc.codec = d.codec;
	qc.clock_rate = d.clock_rate;
	qc.answered = (c->flags & CF_ANSWERED) != 0;
	qc.started_ns = (c->flags & CF_HAS_INVITE) ? c->invite_ts : c->first_ts;
	qc.answered_ns = qc.answered ? c->answered_ts : 0;
	qc.ended_ns = c->ended_ts != 0 ? c->ended_ts : c->last_ts;
	qc.final_status = c->final_status;
	qc.end_reason = (enum sv_quality_end)c->end_reason;
	qc.from = d.from;
	qc.to = d.to;

	/* RTCP reports, oldest first. */
	size_t nb = 0, n = c->n_rtcp;
	if (n > 0) {
		if ((order = malloc(n * sizeof(*order))) == NULL ||
		    (reps = calloc(n, sizeof(*reps))) == NULL ||
		    (addrs = malloc(n * sizeof(*addrs))) == NULL)
			goto out;
		size_t i = n;
		for (const struct rtcp_rec *r = c->rtcp; r != NULL; r = r->next) {
			order[--i] = r;
			nb += r->n_blocks;
		}
		if (nb > 0 && (blks = calloc(nb, sizeof(*blks))) == NULL)
			goto out;
	}
	/* Directions: addressed reports teach the sender SSRCs, then the rest. */
	int *side = n > 0 ? malloc(n * sizeof(int)) : NULL;
	if (n > 0 && side == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		side[i] = order[i]->has_addr ? report_side(&d, order[i]) : -1;
		if (side[i] >= 0 && add_ssrc(&d, order[i]->ssrc, side[i]) != 0) {
			free(side);
			goto out;
		}
	}
	size_t bi = 0;
	for (size_t i = 0; i < n; i++) {
		const struct rtcp_rec *r = order[i];
		if (side[i] < 0)
			side[i] = report_side(&d, r);
		if (side[i] < 0)
			s->st.rtcp_unknown_direction++;
		struct sv_rtcpjson_report *p = &reps[i];
		p->ts_ns = r->ts_ns;
		p->source = r->origin == SV_RTCP_FROM_HEP ? "hep" : "agent";
		p->direction = side[i] == SV_QUALITY_UAC   ? "uac"
		               : side[i] == SV_QUALITY_UAS ? "uas"
		                                           : "unknown";
		if (r->has_addr) {
			addr_text(&r->src, addrs[i][0], sizeof(addrs[i][0]));
			addr_text(&r->dst, addrs[i][1], sizeof(addrs[i][1]));
			p->src = addrs[i][0];
			p->dst = addrs[i][1];
		}
		p->ssrc = r->ssrc;
		p->packet_type = pt_name(r->pt);
		p->blocks = blks != NULL ? &blks[bi] : NULL;
		p->n_blocks = r->n_blocks;
		for (size_t k = 0; k < r->n_blocks; k++, bi++) {
			const struct blk *b = &r->blocks[k];
			blks[bi] = (struct sv_rtcpjson_block){
			    .ssrc = b->ssrc,
			    .fraction_lost = b->fraction_lost,
			    .cumulative_lost = b->cumulative_lost,
			    .highest_seq = b->highest_seq,
			    .jitter = b->jitter,
			    .lsr = b->lsr,
			    .dlsr = b->dlsr,
			    .rtt_ms =
			        b->rtt_ms >= 0 ? round((double)b->rtt_ms * 1000.0) / 1000.0 : -1,
			};
		}
		if (r->raw_len > 0) {
			p->raw = (const uint8_t *)&r->blocks[r->n_blocks];
			p->raw_len = r->raw_len;
		}
	}
	free(side);
	if ((rc = sv_rtcpjson_dump(&qc, reps, n, 1, &json)) != 0 ||
	    (rc = sv_gz_compress(json.data, json.len, &o->rtcp_json_gz)) != 0)
		goto out;
	/* quality.json is what --analyze makes of that rtcp.json. Built from the
	 * reports directly (no parse of the document just written); a clock
	 * rate the reader refuses takes the reader's path, so both agree. */
	if (d.clock_rate > RTCPJSON_CLOCK_MAX) {
		if ((rc = sv_rtcpjson_load(json.data, json.len, &doc, NULL, 0)) != 0)
			goto out;
	} else {
		if ((rc = read_back(&qc, reps, n, &doc)) != 0)
			goto out;
	}
	if (doc.n_samples > 0) {
		rc = sv_quality_build(&doc.call, doc.samples, doc.n_samples, SV_QUALITY_SRC_RTCP,
		                      &q);
	} else {
		struct sv_quality_sample rs[2];
		size_t k = rtp_samples(c, rs);
		rc = k == SIZE_MAX ? -ENOMEM
		                   : sv_quality_build(&doc.call, rs, k, SV_QUALITY_SRC_RTP, &q);
	}
	if (rc != 0 || (rc = sv_quality_dump(q, &o->quality_json)) != 0)
		goto out;
	if ((rc = build_pcap(c, &o->sip_pcap_gz)) != 0)
		goto out;
	if (c->n_log > 0) {
		if ((rc = take_lines(s, c, c->n_log, &o->log_gz)) != 0)
			goto out;
		o->log_chunk = c->next_chunk++;
	}
out:
	json_decref(q);
	sv_rtcpjson_release(&doc);
	sv_buf_release(&json);
	free(order);
	free(reps);
	free(blks);
	free(addrs);
	free(cid);
	dialog_release(&d);
	return rc;
}

/* COMPLETE: objects, hook, tombstone. */
static void complete(struct sv_sessions *s, struct call *c, uint64_t now)
{
	struct sv_call_objects o;
	memset(&o, 0, sizeof(o));
	sv_buf_init(&o.sip_pcap_gz);
	sv_buf_init(&o.rtcp_json_gz);
	sv_buf_init(&o.quality_json);
	sv_buf_init(&o.log_gz);
	if (build_objects(s, c, &o) == 0) {
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
	fl_remove(&s->flush, c);
	c->flush_at = add_sat(now, s->lim.log_flush_ns ? s->lim.log_flush_ns : NS_PER_S);
	fl_append(&s->flush, c);
	if (c->n_log == 0)
		return;
	struct sv_buf gz;
	sv_buf_init(&gz);
	size_t lines = c->n_log;
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
	while ((c = s->flush.head) != NULL && c->flush_at <= now_ns)
		flush_logs(s, c, now_ns);
	while ((c = s->lists[SV_CALL_CLOSING].head) != NULL && c->deadline <= now_ns)
		complete(s, c, now_ns);
	while ((c = s->lists[SV_CALL_PENDING].head) != NULL && c->deadline <= now_ns) {
		c->end_reason = SV_QUALITY_END_TIMEOUT;
		complete(s, c, now_ns);
	}
	while ((c = s->lists[SV_CALL_ACTIVE].head) != NULL && c->deadline <= now_ns) {
		c->end_reason = SV_QUALITY_END_TIMEOUT;
		complete(s, c, now_ns);
	}
	while ((c = s->lists[SV_CALL_COMPLETE].head) != NULL && c->deadline <= now_ns)
		destroy(s, c);
	uint64_t next = UINT64_MAX;
	for (int i = 0; i < SV_CALL_NSTATES; i++)
		if (s->lists[i].head != NULL && s->lists[i].head->deadline < next)
			next = s->lists[i].head->deadline;
	if (s->flush.head != NULL && s->flush.head->flush_at < next)
		next = s->flush.head->flush_at;
	return next;
}

void sv_sessions_complete_all(struct sv_sessions *s, uint64_t now_ns)
{
	static const enum sv_call_state order[] = {SV_CALL_CLOSING, SV_CALL_PENDING,
	                                           SV_CALL_ACTIVE};
	for (size_t i = 0; i < 3; i++) {
		struct call *c;
		uint64_t guard = s->st.calls[order[i]];
		while ((c = s->lists[order[i]].head) != NULL && guard-- > 0) {
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
	for (size_t i = 0; i < lines && c->log_head != NULL; i++) {
		struct log_rec *r = c->log_head;
		c->log_head = r->next;
		c->bytes -= sizeof(*r) + r->len;
		s->st.bytes_held -= sizeof(*r) + r->len;
		free(r);
		c->n_log--;
	}
	if (c->log_head == NULL)
		c->log_tail = NULL;
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
	for (const struct cust *cu = s->custs; cu != NULL; cu = cu->next) {
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
