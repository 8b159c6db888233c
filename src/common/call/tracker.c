/*
 * tracker.c - INVITE dialogs, media endpoints, RTCP/RTP matching, log slicing.
 *
 * Four base/htable.h tables (Call-ID, endpoint, SSRC, log anchor) give O(1)
 * work per packet; calls sit on one of three TAILQs ordered by their
 * deadline (EARLY and CONFIRMED by last activity, ENDED by end time,
 * constant timeouts per list keep appends in order), plus a fourth TAILQ of
 * ENDED calls waiting for their DATA_QUALITY document.
 */
#include "call/tracker.h"

#include "base/errors.h"
#include "base/hash.h"
#include "base/htable.h"
#include "proto/rtcp.h"
#include "proto/sdp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#define GRAM_MASK ((1ull << (8 * SV_TRACKER_LOG_GRAM)) - 1)
#define MIN_SLOTS 256

/* ------------------------------------------------------------ state */

enum { ST_EARLY = 0, ST_CONFIRMED = 1, ST_ENDED = 2 };
enum { EP_RTCP = 1, EP_RTP = 2 };

struct epkey {
	uint8_t addr[16];
	uint16_t port;
	uint8_t family; /* 4 or 6 */
	uint8_t pad;
};

struct ep {
	struct sv_hnode hn;
	struct epkey k;
	uint8_t side;  /* side whose SDP named it (it receives there) */
	uint8_t kinds; /* EP_* */
	struct call *call;
};

struct ssrc_ent {
	struct sv_hnode hn;
	uint32_t ssrc;
	uint8_t side;
	struct call *call;
};

struct call {
	struct sv_hnode hn; /* by Call-ID */
	struct sv_hnode an; /* log anchor */
	uint64_t gram;
	char *id;        /* Call-ID, NUL, the caller's From tag, NUL (one allocation) */
	uint16_t id_len; /* <= SV_TRACKER_MAX_CALLID */
	uint16_t an_off;
	uint32_t tag_len;
	uint8_t state;
	uint8_t end_reason;
	uint8_t first_sdp_side;
	bool codec_from_answer;
	bool has_an;
	bool in_q;
	bool analyse;
	uint8_t codec_len;
	int final_status;
	uint64_t last_ns, end_ns;
	TAILQ_ENTRY(call) link;  /* list of its state */
	TAILQ_ENTRY(call) qlink; /* the quality queue, when in_q */
	struct epkey eps[SV_TRACKER_MAX_ENDPOINTS];
	unsigned n_ep, ep_next;
	uint32_t ssrcs[SV_TRACKER_MAX_SSRCS];
	unsigned n_ssrc, ssrc_next;
	struct sv_rtpstats *rtp;
	char codec[32];
	uint32_t clock;
};

TAILQ_HEAD(clist, call);

struct sv_tracker {
	struct sv_tracker_limits lim;
	uint64_t seed;
	uint64_t now; /* the latest time seen: keeps list order */
	struct sv_htable calls, eps, ssrcs, grams;
	struct clist lists[3];
	struct clist q;    /* via qlink */
	struct call *dead; /* expired, freed at the next poll */
	struct sv_buf qjson;
	struct sv_tracker_stats st;
};

static const char *call_tag(const struct call *c)
{
	return c->id + c->id_len + 1;
}

static void q_add(struct sv_tracker *t, struct call *c)
{
	if (c->in_q)
		return;
	TAILQ_INSERT_TAIL(&t->q, c, qlink);
	c->in_q = true;
}

static void q_del(struct sv_tracker *t, struct call *c)
{
	if (!c->in_q)
		return;
	TAILQ_REMOVE(&t->q, c, qlink);
	c->in_q = false;
}

static void advance(struct sv_tracker *t, uint64_t now_ns)
{
	if (now_ns > t->now)
		t->now = now_ns;
}

/* Activity: the call moves to the tail of its list. */
static void touch(struct sv_tracker *t, struct call *c)
{
	if (c->state == ST_ENDED)
		return;
	c->last_ns = t->now;
	TAILQ_REMOVE(&t->lists[c->state], c, link);
	TAILQ_INSERT_TAIL(&t->lists[c->state], c, link);
}

static void set_state(struct sv_tracker *t, struct call *c, uint8_t st)
{
	TAILQ_REMOVE(&t->lists[c->state], c, link);
	c->state = st;
	TAILQ_INSERT_TAIL(&t->lists[st], c, link);
}

static void end_call(struct sv_tracker *t, struct call *c, enum sv_tracker_end why)
{
	if (c->state == ST_ENDED)
		return;
	set_state(t, c, ST_ENDED);
	c->end_reason = (uint8_t)why;
	c->end_ns = t->now;
	if (c->analyse)
		q_add(t, c);
}

static void revive(struct sv_tracker *t, struct call *c, uint8_t st)
{
	q_del(t, c);
	set_state(t, c, st);
	c->end_reason = SV_TRACKER_END_NONE;
	c->last_ns = t->now;
}

/* ------------------------------------------------------------ lifecycle */

int sv_tracker_new(const struct sv_tracker_limits *limits, struct sv_tracker **out)
{
	*out = NULL;
	struct sv_tracker *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	if (limits != NULL)
		t->lim = *limits;
	if (t->lim.grace_ns == 0)
		t->lim.grace_ns = 5000000000ull;
	if (t->lim.pending_timeout_ns == 0)
		t->lim.pending_timeout_ns = 300000000000ull;
	if (t->lim.active_timeout_ns == 0)
		t->lim.active_timeout_ns = 1800000000000ull;
	if (t->lim.quality_delay_ns == 0)
		t->lim.quality_delay_ns = 1000000000ull;
	if (t->lim.quality_delay_ns > t->lim.grace_ns)
		t->lim.quality_delay_ns = t->lim.grace_ns;
	if (t->lim.max_calls == 0)
		t->lim.max_calls = 100000;
	/* Seed the hashes so crafted Call-IDs cannot pick their buckets. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->seed = sv_hash_mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uintptr_t)t ^
	                        ((uintptr_t)&ts << 7));
	sv_buf_init(&t->qjson);
	t->calls.min_slots = t->eps.min_slots = t->ssrcs.min_slots = t->grams.min_slots = MIN_SLOTS;
	for (int i = 0; i < 3; i++)
		TAILQ_INIT(&t->lists[i]);
	TAILQ_INIT(&t->q);
	*out = t;
	return 0;
}

static void call_free(struct call *c)
{
	if (c == NULL)
		return;
	free(c->id);
	sv_rtpstats_free(c->rtp);
	free(c);
}

/* Frees every node of a table whose nodes sit at offset off in malloc'd blocks. */
static void free_table(struct sv_htable *t, size_t off)
{
	struct sv_hwalk w = {0};
	struct sv_hnode *n;
	while ((n = sv_htable_walk(t, &w)) != NULL)
		free((char *)n - off);
	sv_htable_release(t);
}

void sv_tracker_free(struct sv_tracker *t)
{
	struct call *c;
	if (t == NULL)
		return;
	for (int i = 0; i < 3; i++) {
		while ((c = TAILQ_FIRST(&t->lists[i])) != NULL) {
			TAILQ_REMOVE(&t->lists[i], c, link);
			call_free(c);
		}
	}
	call_free(t->dead);
	free_table(&t->eps, offsetof(struct ep, hn));
	free_table(&t->ssrcs, offsetof(struct ssrc_ent, hn));
	sv_htable_release(&t->calls);
	sv_htable_release(&t->grams);
	sv_buf_release(&t->qjson);
	free(t);
}

void sv_tracker_flow_from_packet(const struct sv_packet *p, struct sv_tracker_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->family = p->family;
	memcpy(f->src, p->src, 16);
	memcpy(f->dst, p->dst, 16);
	f->sport = p->sport;
	f->dport = p->dport;
}

/* ------------------------------------------------------------ lookups */

static struct call *find_call(const struct sv_tracker *t, const char *id, size_t len)
{
	uint64_t h = sv_hash_bytes(t->seed, id, len);
	for (struct sv_hnode *x = sv_htable_first(&t->calls, h); x != NULL;
	     x = sv_htable_next(x, h)) {
		struct call *c = sv_container_of(x, struct call, hn);
		if (c->id_len == len && memcmp(c->id, id, len) == 0)
			return c;
	}
	return NULL;
}

static int make_key(struct epkey *k, int family, const uint8_t *addr, uint16_t port)
{
	memset(k, 0, sizeof(*k));
	if (family == AF_INET) {
		k->family = 4;
		memcpy(k->addr, addr, 4);
	} else if (family == AF_INET6) {
		k->family = 6;
		memcpy(k->addr, addr, 16);
	} else {
		return -1;
	}
	k->port = port;
	return 0;
}

static struct ep *find_ep(const struct sv_tracker *t, const struct epkey *k)
{
	uint64_t h = sv_hash_bytes(t->seed, k, sizeof(*k));
	for (struct sv_hnode *x = sv_htable_first(&t->eps, h); x != NULL;
	     x = sv_htable_next(x, h)) {
		struct ep *e = sv_container_of(x, struct ep, hn);
		if (memcmp(&e->k, k, sizeof(*k)) == 0)
			return e;
	}
	return NULL;
}

static uint64_t ssrc_hash(const struct sv_tracker *t, uint32_t ssrc)
{
	return sv_hash_mix64(t->seed ^ ssrc);
}

static struct ssrc_ent *find_ssrc(const struct sv_tracker *t, uint32_t ssrc)
{
	uint64_t h = ssrc_hash(t, ssrc);
	for (struct sv_hnode *x = sv_htable_first(&t->ssrcs, h); x != NULL;
	     x = sv_htable_next(x, h)) {
		struct ssrc_ent *e = sv_container_of(x, struct ssrc_ent, hn);
		if (e->ssrc == ssrc)
			return e;
	}
	return NULL;
}

static void drop_ep(struct sv_tracker *t, const struct call *c, const struct epkey *k)
{
	struct ep *e = find_ep(t, k);
	if (e != NULL && e->call == c) {
		sv_htable_remove(&t->eps, &e->hn);
		free(e);
		t->st.endpoints--;
	}
}

static void drop_ssrc(struct sv_tracker *t, const struct call *c, uint32_t ssrc)
{
	struct ssrc_ent *e = find_ssrc(t, ssrc);
	if (e != NULL && e->call == c) {
		sv_htable_remove(&t->ssrcs, &e->hn);
		free(e);
	}
}

static void add_ep(struct sv_tracker *t, struct call *c, const struct epkey *k, uint8_t kinds,
                   uint8_t side)
{
	struct ep *e = find_ep(t, k);
	if (e != NULL && e->call == c) {
		e->kinds |= kinds;
		e->side = side;
		return;
	}
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return;
		e->k = *k;
		if (sv_htable_insert(&t->eps, &e->hn, sv_hash_bytes(t->seed, k, sizeof(*k))) != 0) {
			free(e);
			return;
		}
		t->st.endpoints++;
	}
	/* New, or taken over from an older call (newest registration wins). */
	e->call = c;
	e->side = side;
	e->kinds = kinds;
	if (c->n_ep == SV_TRACKER_MAX_ENDPOINTS) {
		struct epkey old = c->eps[c->ep_next];
		c->eps[c->ep_next] = *k; /* before drop_ep: old may equal k */
		if (memcmp(&old, k, sizeof(old)) != 0)
			drop_ep(t, c, &old);
	} else {
		c->eps[c->ep_next] = *k;
		c->n_ep++;
	}
	c->ep_next = (c->ep_next + 1) % SV_TRACKER_MAX_ENDPOINTS;
}

static void learn_ssrc(struct sv_tracker *t, struct call *c, uint32_t ssrc, uint8_t side)
{
	struct ssrc_ent *e = find_ssrc(t, ssrc);
	if (e != NULL && e->call == c) {
		e->side = side;
		return;
	}
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return;
		e->ssrc = ssrc;
		if (sv_htable_insert(&t->ssrcs, &e->hn, ssrc_hash(t, ssrc)) != 0) {
			free(e);
			return;
		}
	}
	e->call = c;
	e->side = side;
	if (c->n_ssrc == SV_TRACKER_MAX_SSRCS) {
		uint32_t old = c->ssrcs[c->ssrc_next];
		c->ssrcs[c->ssrc_next] = ssrc;
		if (old != ssrc)
			drop_ssrc(t, c, old);
	} else {
		c->ssrcs[c->ssrc_next] = ssrc;
		c->n_ssrc++;
	}
	c->ssrc_next = (c->ssrc_next + 1) % SV_TRACKER_MAX_SSRCS;
}

/* ------------------------------------------------------------ log anchors */

static uint64_t gram_hash(const struct sv_tracker *t, uint64_t g)
{
	return sv_hash_mix64(g ^ t->seed);
}

static unsigned gram_users(const struct sv_tracker *t, uint64_t g)
{
	uint64_t h = gram_hash(t, g);
	unsigned n = 0;
	for (struct sv_hnode *x = sv_htable_first(&t->grams, h); x != NULL;
	     x = sv_htable_next(x, h))
		if (sv_container_of(x, struct call, an)->gram == g)
			n++;
	return n;
}

/* Indexes the call by its least shared SV_TRACKER_LOG_GRAM-byte substring. */
static void add_anchor(struct sv_tracker *t, struct call *c)
{
	if (c->id_len < SV_TRACKER_LOG_GRAM)
		return;
	uint64_t g = 0, best_g = 0;
	unsigned best = ~0u;
	size_t best_off = 0;
	for (size_t i = 0; i < c->id_len; i++) {
		g = ((g << 8) | (uint8_t)c->id[i]) & GRAM_MASK;
		if (i + 1 < SV_TRACKER_LOG_GRAM)
			continue;
		unsigned n = gram_users(t, g);
		if (n < best) {
			best = n;
			best_g = g;
			best_off = i + 1 - SV_TRACKER_LOG_GRAM;
			if (n == 0)
				break;
		}
	}
	c->gram = best_g;
	c->an_off = (uint16_t)best_off;
	/* Without a slot array the call is simply not found in logs. */
	c->has_an = sv_htable_insert(&t->grams, &c->an, gram_hash(t, best_g)) == 0;
}

/* ------------------------------------------------------------ calls */

static struct call *call_new(struct sv_tracker *t, const struct sv_sip_msg *m)
{
	size_t idn = m->call_id.len, tagn = m->from.tag.len;
	struct call *c;
	if (tagn > UINT32_MAX)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->id = malloc(idn + tagn + 2)) == NULL) {
		free(c);
		return NULL;
	}
	memcpy(c->id, m->call_id.p, idn);
	c->id[idn] = '\0';
	if (tagn > 0)
		memcpy(c->id + idn + 1, m->from.tag.p, tagn);
	c->id[idn + 1 + tagn] = '\0';
	c->id_len = (uint16_t)idn;
	c->tag_len = (uint32_t)tagn;
	c->state = ST_EARLY;
	c->last_ns = t->now;
	c->clock = 8000;
	if (sv_htable_insert(&t->calls, &c->hn, sv_hash_bytes(t->seed, c->id, c->id_len)) != 0) {
		call_free(c);
		return NULL;
	}
	add_anchor(t, c);
	TAILQ_INSERT_TAIL(&t->lists[ST_EARLY], c, link);
	t->st.calls_live++;
	t->st.calls_created++;
	return c;
}

/* Forgets everything about the call; it becomes t->dead (freed later). */
static void call_unlink(struct sv_tracker *t, struct call *c)
{
	sv_htable_remove(&t->calls, &c->hn);
	if (c->has_an)
		sv_htable_remove(&t->grams, &c->an);
	for (unsigned i = 0; i < c->n_ep; i++)
		drop_ep(t, c, &c->eps[i]);
	for (unsigned i = 0; i < c->n_ssrc; i++)
		drop_ssrc(t, c, c->ssrcs[i]);
	TAILQ_REMOVE(&t->lists[c->state], c, link);
	q_del(t, c);
	t->st.calls_live--;
	t->st.calls_expired++;
}

static void learn_sdp(struct sv_tracker *t, struct call *c, const struct sv_sip_msg *m,
                      uint8_t side)
{
	struct sv_str body;
	struct sv_sdp sdp;
	if (sv_sip_sdp_body(m, &body) != 0)
		return;
	t->st.sdp_seen++;
	if (sv_sdp_parse((const uint8_t *)body.p, body.len, &sdp) != 0) {
		t->st.sdp_bad++;
		return;
	}
	for (unsigned i = 0; i < sdp.n_media; i++) {
		const struct sv_sdp_media *md = &sdp.media[i];
		struct sv_sdp_endpoint ep;
		struct epkey k;
		if (md->port == 0)
			continue;
		if (md->rtcp_port == 0 && !md->rtcp_mux) {
			/* a=rtcp:0: no RTCP will come; analyse RTP at its port. */
			const struct sv_sdp_addr *a = sv_sdp_media_addr(&sdp, md);
			if (a != NULL && make_key(&k, a->family, a->addr, md->port) == 0) {
				add_ep(t, c, &k, EP_RTP, side);
				c->analyse = true;
			}
			continue;
		}
		if (sv_sdp_rtcp(&sdp, md, &ep) == 0 && ep.addr != NULL &&
		    make_key(&k, ep.addr->family, ep.addr->addr, ep.port) == 0)
			add_ep(t, c, &k, EP_RTCP, side);
	}
	/* Codec: the offer's, replaced once by the first SDP of the other side. */
	struct sv_str name;
	uint32_t clock;
	bool first = c->codec_len == 0 && c->first_sdp_side == 0;
	bool answer = !first && !c->codec_from_answer && side != c->first_sdp_side;
	if ((first || answer) && sv_sdp_codec(&sdp, &name, &clock) == 0) {
		size_t n = name.len < sizeof(c->codec) ? name.len : sizeof(c->codec);
		memcpy(c->codec, name.p, n);
		c->codec_len = (uint8_t)n;
		c->clock = clock != 0 ? clock : 8000;
		if (first)
			c->first_sdp_side = side;
		else
			c->codec_from_answer = true;
	}
}

static bool tag_is_caller(const struct call *c, struct sv_str tag)
{
	return tag.len == c->tag_len && (tag.len == 0 || memcmp(tag.p, call_tag(c), tag.len) == 0);
}

int sv_tracker_sip(struct sv_tracker *t, uint64_t now_ns, const struct sv_tracker_flow *flow,
                   const uint8_t *msg, size_t len, struct sv_tracker_sip_res *res)
{
	struct sv_sip_msg m;
	memset(res, 0, sizeof(*res));
	advance(t, now_ns);
	if (sv_sip_parse(msg, len, &m) != 0) {
		res->drop = SV_TRACKER_DROP_PARSE;
		goto drop;
	}
	res->method = m.is_request ? m.method : m.cseq_method;
	if (m.call_id.len == 0 || m.call_id.len > SV_TRACKER_MAX_CALLID) {
		res->drop = SV_TRACKER_DROP_CALLID;
		goto drop;
	}
	struct call *c = find_call(t, m.call_id.p, m.call_id.len);
	if (c == NULL) {
		if (!m.is_request) {
			res->drop = SV_TRACKER_DROP_NO_DIALOG;
			goto drop;
		}
		if (m.method != SV_SIP_INVITE) {
			res->drop = SV_TRACKER_DROP_OUT_OF_DIALOG;
			t->st.out_of_dialog[m.method <= SV_SIP_OTHER ? m.method : SV_SIP_OTHER]++;
			goto drop;
		}
		if (t->st.calls_live >= t->lim.max_calls) {
			res->drop = SV_TRACKER_DROP_FULL;
			goto drop;
		}
		if ((c = call_new(t, &m)) == NULL) {
			res->drop = SV_TRACKER_DROP_NOMEM;
			goto drop;
		}
		res->created = true;
	}
	bool from_caller =
	    m.is_request ? tag_is_caller(c, m.from.tag) : !tag_is_caller(c, m.from.tag);
	if (m.is_request) {
		if (m.method == SV_SIP_INVITE && c->state == ST_ENDED) {
			revive(t, c, ST_EARLY);
			t->st.calls_revived++;
		} else if (m.method == SV_SIP_BYE) {
			end_call(t, c, SV_TRACKER_END_BYE);
		} else if (m.method == SV_SIP_CANCEL && c->state == ST_EARLY) {
			end_call(t, c, SV_TRACKER_END_CANCEL);
		}
	} else if (m.cseq_method == SV_SIP_INVITE && m.status >= 200) {
		if (m.status < 300) {
			if (c->state == ST_EARLY)
				set_state(t, c, ST_CONFIRMED);
			else if (c->state == ST_ENDED && c->end_reason == SV_TRACKER_END_CANCEL)
				revive(t, c, ST_CONFIRMED); /* the 2xx crossed the CANCEL */
			c->final_status = m.status;
		} else if (c->state == ST_EARLY) {
			c->final_status = m.status;
			end_call(t, c, SV_TRACKER_END_FAILED);
		}
	}
	touch(t, c);
	learn_sdp(t, c, &m, from_caller ? SV_TRACKER_SIDE_UAC : SV_TRACKER_SIDE_UAS);
	res->call_id.p = c->id;
	res->call_id.len = c->id_len;
	t->st.sip_kept++;
	return 0;
drop:
	t->st.sip_dropped[res->drop]++;
	return 0;
}

/* ------------------------------------------------------------ media */

static uint8_t other_side(uint8_t s)
{
	return s == SV_TRACKER_SIDE_UAC   ? SV_TRACKER_SIDE_UAS
	       : s == SV_TRACKER_SIDE_UAS ? SV_TRACKER_SIDE_UAC
	                                  : SV_TRACKER_SIDE_UNKNOWN;
}

int sv_tracker_media(struct sv_tracker *t, uint64_t now_ns, const struct sv_tracker_flow *flow,
                     const uint8_t *data, size_t len, struct sv_tracker_media_res *res)
{
	struct epkey ks, kd;
	struct ep *e;
	memset(res, 0, sizeof(*res));
	res->kind = SV_TRACKER_MEDIA_IGNORED;
	advance(t, now_ns);
	if (make_key(&ks, flow->family, flow->src, flow->sport) != 0 ||
	    make_key(&kd, flow->family, flow->dst, flow->dport) != 0) {
		t->st.rtp_ignored++;
		return 0;
	}
	if (sv_rtcp_looks_like(data, len)) {
		struct call *c = NULL;
		uint32_t ssrc = len >= 8 ? sv_be32(data + 4) : 0;
		struct ssrc_ent *se;
		res->ssrc = ssrc;
		if ((e = find_ep(t, &ks)) != NULL) {
			c = e->call;
			res->by = SV_TRACKER_BY_SRC;
			res->sender = (enum sv_tracker_side)e->side;
		} else if ((e = find_ep(t, &kd)) != NULL) {
			c = e->call;
			res->by = SV_TRACKER_BY_DST;
			res->sender = (enum sv_tracker_side)other_side(e->side);
		} else if ((se = find_ssrc(t, ssrc)) != NULL) {
			c = se->call;
			res->by = SV_TRACKER_BY_SSRC;
			res->sender = (enum sv_tracker_side)se->side;
			t->st.rtcp_by_ssrc++;
		}
		if (c == NULL) {
			res->kind = SV_TRACKER_MEDIA_UNMATCHED;
			t->st.rtcp_unmatched++;
			return 0;
		}
		if (res->by != SV_TRACKER_BY_SSRC)
			learn_ssrc(t, c, ssrc, (uint8_t)res->sender);
		if (c->state == ST_CONFIRMED) /* media keeps an answered call alive */
			touch(t, c);
		res->kind = SV_TRACKER_MEDIA_RTCP;
		res->call_id.p = c->id;
		res->call_id.len = c->id_len;
		t->st.rtcp_kept++;
		return 0;
	}
	struct sv_rtp_hdr h;
	uint8_t recv_side;
	if (sv_rtp_parse(data, len, &h) != 0) {
		t->st.rtp_ignored++;
		return 0;
	}
	if ((e = find_ep(t, &kd)) != NULL && (e->kinds & EP_RTP)) {
		recv_side = e->side;
		res->by = SV_TRACKER_BY_DST;
	} else if ((e = find_ep(t, &ks)) != NULL && (e->kinds & EP_RTP)) {
		recv_side = other_side(e->side);
		res->by = SV_TRACKER_BY_SRC;
	} else {
		res->by = SV_TRACKER_BY_NONE;
		t->st.rtp_ignored++;
		return 0;
	}
	struct call *c = e->call;
	if (recv_side == SV_TRACKER_SIDE_UNKNOWN) {
		t->st.rtp_ignored++;
		return 0;
	}
	if (c->rtp == NULL && (c->rtp = sv_rtpstats_new()) == NULL) {
		t->st.rtp_ignored++;
		return -ENOMEM;
	}
	enum sv_rtpstats_dir dir =
	    recv_side == SV_TRACKER_SIDE_UAC ? SV_RTPSTATS_UAC : SV_RTPSTATS_UAS;
	if (sv_rtpstats_packet(c->rtp, dir, c->clock, now_ns, data, len) != 0) {
		t->st.rtp_ignored++;
		return 0;
	}
	if (c->state == ST_CONFIRMED)
		touch(t, c);
	res->kind = SV_TRACKER_MEDIA_RTP;
	res->ssrc = h.ssrc;
	res->sender = (enum sv_tracker_side)other_side(recv_side);
	res->call_id.p = c->id;
	res->call_id.len = c->id_len;
	t->st.rtp_analysed++;
	return 0;
}

/* ------------------------------------------------------------ logs */

int sv_tracker_log(struct sv_tracker *t, uint64_t now_ns, const char *line, size_t len,
                   struct sv_str *call_id)
{
	call_id->p = NULL;
	call_id->len = 0;
	advance(t, now_ns);
	uint64_t g = 0;
	const struct call *best = NULL;
	size_t best_start = 0;
	if (sv_htable_count(&t->grams) > 0) {
		for (size_t i = 0; i < len; i++) {
			g = ((g << 8) | (uint8_t)line[i]) & GRAM_MASK;
			if (i + 1 < SV_TRACKER_LOG_GRAM)
				continue;
			size_t at = i + 1 - SV_TRACKER_LOG_GRAM; /* where the gram starts */
			uint64_t h = gram_hash(t, g);
			for (struct sv_hnode *x = sv_htable_first(&t->grams, h); x != NULL;
			     x = sv_htable_next(x, h)) {
				struct call *c = sv_container_of(x, struct call, an);
				if (c->gram != g || at < c->an_off)
					continue;
				size_t start = at - c->an_off;
				if (best != NULL &&
				    (start > best_start ||
				     (start == best_start && c->id_len <= best->id_len)))
					continue;
				if (start + c->id_len <= len &&
				    memcmp(line + start, c->id, c->id_len) == 0) {
					best = c;
					best_start = start;
				}
			}
		}
	}
	if (best == NULL) {
		t->st.log_unmatched++;
		return 0;
	}
	call_id->p = best->id;
	call_id->len = best->id_len;
	t->st.log_matched++;
	return 1;
}

/* ------------------------------------------------------------ time */

int sv_tracker_poll(struct sv_tracker *t, uint64_t now_ns, struct sv_tracker_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	call_free(t->dead);
	t->dead = NULL;
	advance(t, now_ns);
	struct call *c;
	while ((c = TAILQ_FIRST(&t->lists[ST_EARLY])) != NULL &&
	       c->last_ns + t->lim.pending_timeout_ns <= now_ns)
		end_call(t, c, SV_TRACKER_END_TIMEOUT);
	while ((c = TAILQ_FIRST(&t->lists[ST_CONFIRMED])) != NULL &&
	       c->last_ns + t->lim.active_timeout_ns <= now_ns)
		end_call(t, c, SV_TRACKER_END_TIMEOUT);
	while ((c = TAILQ_FIRST(&t->q)) != NULL && c->end_ns + t->lim.quality_delay_ns <= now_ns) {
		q_del(t, c);
		if (c->rtp == NULL || sv_rtpstats_packets(c->rtp) == 0)
			continue;
		sv_buf_reset(&t->qjson);
		if (sv_rtpstats_json(c->rtp, c->codec_len > 0 ? c->codec : NULL, c->codec_len,
		                     c->clock, &t->qjson) != 0)
			continue; /* out of memory: this document is lost */
		ev->kind = SV_TRACKER_EV_QUALITY;
		ev->json = t->qjson.data;
		ev->json_len = t->qjson.len;
		t->st.quality_emitted++;
		goto event;
	}
	if ((c = TAILQ_FIRST(&t->lists[ST_ENDED])) != NULL &&
	    c->end_ns + t->lim.grace_ns <= now_ns) {
		call_unlink(t, c);
		t->dead = c;
		ev->kind = SV_TRACKER_EV_EXPIRED;
		goto event;
	}
	return 0;
event:
	ev->call_id.p = c->id;
	ev->call_id.len = c->id_len;
	ev->end_reason = (enum sv_tracker_end)c->end_reason;
	ev->final_status = c->final_status;
	ev->end_ns = c->end_ns;
	return 1;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t sv_tracker_next_deadline(const struct sv_tracker *t)
{
	const struct call *c;
	uint64_t d = UINT64_MAX;
	if ((c = TAILQ_FIRST(&t->lists[ST_EARLY])) != NULL)
		d = min_u64(d, c->last_ns + t->lim.pending_timeout_ns);
	if ((c = TAILQ_FIRST(&t->lists[ST_CONFIRMED])) != NULL)
		d = min_u64(d, c->last_ns + t->lim.active_timeout_ns);
	if ((c = TAILQ_FIRST(&t->q)) != NULL)
		d = min_u64(d, c->end_ns + t->lim.quality_delay_ns);
	if ((c = TAILQ_FIRST(&t->lists[ST_ENDED])) != NULL)
		d = min_u64(d, c->end_ns + t->lim.grace_ns);
	return d;
}

void sv_tracker_stats(const struct sv_tracker *t, struct sv_tracker_stats *out)
{
	*out = t->st;
}

const char *sv_tracker_drop_name(enum sv_tracker_drop d)
{
	switch (d) {
	case SV_TRACKER_KEEP:
		return "keep";
	case SV_TRACKER_DROP_PARSE:
		return "parse";
	case SV_TRACKER_DROP_CALLID:
		return "call-id";
	case SV_TRACKER_DROP_OUT_OF_DIALOG:
		return "out-of-dialog";
	case SV_TRACKER_DROP_NO_DIALOG:
		return "no-dialog";
	case SV_TRACKER_DROP_FULL:
		return "full";
	case SV_TRACKER_DROP_NOMEM:
		return "nomem";
	case SV_TRACKER_NDROP:
		break;
	}
	return "unknown";
}
