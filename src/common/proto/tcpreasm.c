/*
 * tcpreasm.c - TCP stream reassembly and SIP framing. See tcpreasm.h.
 *
 * Streams live in a hash table (base/htable.h) and on an LRU TAILQ (head =
 * least recently active: first to expire, first to evict). Streams with a
 * hole are also on a second list so expiry only visits those. Each stream
 * has:
 *   - pending: in-order bytes not yet framed (the start of an incomplete
 *     message), as a buffer with a read offset;
 *   - ooo: segments ahead of next_seq, a TAILQ sorted by sequence number,
 *     non-overlapping.
 */
#include "proto/tcpreasm.h"

#include "base/buf.h"
#include "base/errors.h"
#include "base/hash.h"
#include "base/htable.h"
#include "proto/packet.h"
#include "proto/sip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct seg {
	uint32_t seq;
	uint32_t len;
	TAILQ_ENTRY(seg) link;
	uint8_t data[];
};

struct stream {
	int family;
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport, dport;

	uint32_t next_seq; /* next in-order byte */
	uint32_t isn;      /* ISN + 1 when a SYN was seen */
	int have_syn;
	int fin_seen;
	uint32_t fin_seq; /* sequence number of the FIN */

	uint64_t discard; /* in-order bytes still to drop: an oversize message */
	uint8_t *pbuf;    /* pending bytes pbuf[poff, plen) */
	size_t poff, plen, pcap;

	TAILQ_HEAD(, seg) ooo;
	size_t ooo_charged;
	uint64_t hole_since;
	int in_holes;

	uint64_t last_ns;
	struct sv_hnode node;     /* t->table, under the 4-tuple's hash */
	TAILQ_ENTRY(stream) lru;  /* t->lru */
	LIST_ENTRY(stream) holes; /* t->holes, while in_holes */
};

struct sv_tcpreasm {
	struct sv_tcpreasm_config cfg;
	sv_tcpreasm_cb cb;
	void *arg;
	struct sv_htable table;
	TAILQ_HEAD(, stream) lru;
	LIST_HEAD(, stream) holes;
	unsigned count;
	size_t bytes;
	struct sv_tcpreasm_stats st;
};

static int32_t sdiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

void sv_tcpreasm_config_default(struct sv_tcpreasm_config *c)
{
	c->max_stream_bytes = 256u << 10;
	c->max_total_bytes = 64u << 20;
	c->max_streams = 4096;
	c->idle_timeout_ns = 300ull * 1000000000ull;
	c->hole_timeout_ns = 2ull * 1000000000ull;
}

struct sv_tcpreasm *sv_tcpreasm_new(const struct sv_tcpreasm_config *cfg, sv_tcpreasm_cb cb,
                                    void *arg)
{
	if (cb == NULL)
		return NULL;
	struct sv_tcpreasm *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	sv_tcpreasm_config_default(&t->cfg);
	if (cfg != NULL) {
		if (cfg->max_stream_bytes)
			t->cfg.max_stream_bytes = cfg->max_stream_bytes;
		if (cfg->max_total_bytes)
			t->cfg.max_total_bytes = cfg->max_total_bytes;
		if (cfg->max_streams)
			t->cfg.max_streams = cfg->max_streams;
		if (cfg->idle_timeout_ns)
			t->cfg.idle_timeout_ns = cfg->idle_timeout_ns;
		if (cfg->hole_timeout_ns)
			t->cfg.hole_timeout_ns = cfg->hole_timeout_ns;
	}
	/* Sized so that the table never grows below max_streams. */
	sv_htable_presize(&t->table, t->cfg.max_streams, 1u << 20);
	TAILQ_INIT(&t->lru);
	LIST_INIT(&t->holes);
	t->cb = cb;
	t->arg = arg;
	return t;
}

/* ------------------------------------------------------------ bookkeeping */

static size_t stream_bytes(const struct stream *s)
{
	return (s->plen - s->poff) + s->ooo_charged;
}

static void holes_unlink(struct sv_tcpreasm *t, struct stream *s)
{
	(void)t;
	if (!s->in_holes)
		return;
	LIST_REMOVE(s, holes);
	s->in_holes = 0;
	s->hole_since = 0;
}

static void holes_link(struct sv_tcpreasm *t, struct stream *s, uint64_t now_ns)
{
	if (s->in_holes)
		return;
	s->hole_since = now_ns;
	s->in_holes = 1;
	LIST_INSERT_HEAD(&t->holes, s, holes);
}

static void free_ooo(struct sv_tcpreasm *t, struct stream *s)
{
	struct seg *g;
	while ((g = TAILQ_FIRST(&s->ooo)) != NULL) {
		TAILQ_REMOVE(&s->ooo, g, link);
		free(g);
	}
	t->bytes -= s->ooo_charged;
	s->ooo_charged = 0;
}

/* Drops the incomplete message held in pending (counted when non-empty). */
static void drop_pending(struct sv_tcpreasm *t, struct stream *s)
{
	size_t n = s->plen - s->poff;
	if (n > 0)
		t->st.drop_incomplete++;
	t->bytes -= n;
	s->poff = s->plen = 0;
}

static void remove_stream(struct sv_tcpreasm *t, struct stream *s, uint64_t *counter)
{
	if (counter != NULL) {
		(*counter)++;
		drop_pending(t, s);
	} else {
		t->bytes -= s->plen - s->poff;
	}
	free_ooo(t, s);
	holes_unlink(t, s);
	TAILQ_REMOVE(&t->lru, s, lru);
	sv_htable_remove(&t->table, &s->node);
	free(s->pbuf);
	free(s);
	t->count--;
}

void sv_tcpreasm_free(struct sv_tcpreasm *t)
{
	if (t == NULL)
		return;
	struct stream *s;
	while ((s = TAILQ_FIRST(&t->lru)) != NULL)
		remove_stream(t, s, NULL);
	sv_htable_release(&t->table);
	free(t);
}

static uint64_t key_hash(const struct sv_tcpreasm *t, int family, const uint8_t *src,
                         const uint8_t *dst, uint16_t sport, uint16_t dport)
{
	uint8_t k[37];
	k[0] = (uint8_t)family;
	memcpy(k + 1, src, 16);
	memcpy(k + 17, dst, 16);
	sv_put_be16(k + 33, sport);
	sv_put_be16(k + 35, dport);
	/* seeded with the instance's address: per process, not guessable offline */
	return sv_hash_bytes((uint64_t)(uintptr_t)t, k, sizeof(k));
}

static struct stream *lookup(struct sv_tcpreasm *t, int family, const uint8_t *src,
                             const uint8_t *dst, uint16_t sport, uint16_t dport, uint64_t *hout)
{
	uint64_t h = key_hash(t, family, src, dst, sport, dport);
	if (hout != NULL)
		*hout = h;
	for (struct sv_hnode *n = sv_htable_first(&t->table, h); n != NULL;
	     n = sv_htable_next(n, h)) {
		struct stream *s = sv_container_of(n, struct stream, node);
		if (s->family == family && s->sport == sport && s->dport == dport &&
		    memcmp(s->src, src, 16) == 0 && memcmp(s->dst, dst, 16) == 0)
			return s;
	}
	return NULL;
}

/* Evicts the least recently active stream other than keep; 0 when none. */
static int evict_one(struct sv_tcpreasm *t, const struct stream *keep)
{
	struct stream *s = TAILQ_FIRST(&t->lru);
	if (s != NULL && s == keep)
		s = TAILQ_NEXT(s, lru);
	if (s == NULL)
		return 0;
	remove_stream(t, s, &t->st.streams_evicted);
	return 1;
}

static struct stream *create(struct sv_tcpreasm *t, const struct sv_packet *p, uint64_t h,
                             uint32_t next_seq, uint64_t now_ns)
{
	while (t->count >= t->cfg.max_streams && evict_one(t, NULL))
		;
	struct stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->family = p->family;
	memcpy(s->src, p->src, 16);
	memcpy(s->dst, p->dst, 16);
	s->sport = p->sport;
	s->dport = p->dport;
	s->next_seq = next_seq;
	s->last_ns = now_ns;
	TAILQ_INIT(&s->ooo);
	if (sv_htable_insert(&t->table, &s->node, h) != 0) {
		free(s);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&t->lru, s, lru);
	t->count++;
	t->st.streams_opened++;
	return s;
}

/* -------------------------------------------------------------- framing */

static void deliver(struct sv_tcpreasm *t, struct stream *s, size_t off, size_t len,
                    uint64_t now_ns)
{
	struct sv_tcpreasm_msg m;
	m.family = s->family;
	m.src = s->src;
	m.dst = s->dst;
	m.sport = s->sport;
	m.dport = s->dport;
	/* pending ends at next_seq */
	m.seq = s->next_seq - (uint32_t)(s->plen - off);
	m.ts_ns = now_ns;
	m.data = s->pbuf + off;
	m.len = len;
	t->st.messages++;
	t->cb(t->arg, &m);
}

/*
 * Drops the message at the start of pending, which is too large to buffer
 * or frame. When its header block is complete, exactly its declared length is
 * skipped (also bytes still to come), so the next message is found right
 * after it; otherwise pending is dropped and the stream resynchronises.
 */
static void drop_big(struct sv_tcpreasm *t, struct stream *s)
{
	size_t avail = s->plen - s->poff;
	struct sv_sip_msg m;
	t->st.drop_oversize++;
	if (sv_sip_parse(s->pbuf + s->poff, avail, &m) == 0 && m.content_length >= 0) {
		uint64_t total = (uint64_t)m.header_len + (uint64_t)m.content_length;
		if (total > avail) {
			s->discard = total - avail;
		} else {
			avail = (size_t)total;
		}
	}
	s->poff += avail;
	t->bytes -= avail;
}

/* Frames and delivers every complete message in pending. */
static void frame(struct sv_tcpreasm *t, struct stream *s, uint64_t now_ns)
{
again:
	while (s->poff < s->plen) {
		const uint8_t *d = s->pbuf + s->poff;
		size_t avail = s->plen - s->poff;
		size_t mlen = 0, skip = 0;
		int rc = sv_sip_frame(d, avail, &mlen, &skip);
		if (rc == 0) {
			deliver(t, s, s->poff + skip, mlen, now_ns);
			s->poff += skip + mlen;
			t->bytes -= skip + mlen;
			continue;
		}
		if (rc == SV_E_AGAIN) {
			if (skip > avail)
				skip = avail;
			s->poff += skip;
			t->bytes -= skip;
			break;
		}
		if (rc == SV_E_TOOBIG) {
			s->poff += skip;
			t->bytes -= skip;
			drop_big(t, s);
			continue;
		}
		size_t n = sv_sip_resync(d, avail);
		if (n == 0 || n > avail)
			break;
		s->poff += n;
		t->bytes -= n;
		t->st.resync_bytes += n;
	}
	if (s->poff == s->plen)
		s->poff = s->plen = 0;
	/* An incomplete message larger than the bound is given up; what follows
	 * is resynchronised. */
	if (s->plen - s->poff > t->cfg.max_stream_bytes) {
		drop_big(t, s);
		goto again; /* the next message may already be in pending */
	}
}

/* Appends in-order bytes to pending (next_seq advances by len). */
static int append(struct sv_tcpreasm *t, struct stream *s, const uint8_t *p, size_t len)
{
	if (s->discard > 0) {
		size_t k = s->discard < len ? (size_t)s->discard : len;
		s->discard -= k;
		s->next_seq += (uint32_t)k;
		t->st.bytes += k;
		p += k;
		len -= k;
	}
	if (len == 0)
		return 0;
	if (s->poff > 0) {
		memmove(s->pbuf, s->pbuf + s->poff, s->plen - s->poff);
		s->plen -= s->poff;
		s->poff = 0;
	}
	if (s->plen + len > s->pcap) {
		size_t ncap = s->pcap ? s->pcap : 1024;
		while (ncap < s->plen + len)
			ncap *= 2;
		uint8_t *nb = realloc(s->pbuf, ncap);
		if (nb == NULL)
			return -ENOMEM;
		s->pbuf = nb;
		s->pcap = ncap;
	}
	memcpy(s->pbuf + s->plen, p, len);
	s->plen += len;
	s->next_seq += (uint32_t)len;
	t->bytes += len;
	t->st.bytes += len;
	return 0;
}

/* Moves queued segments that are now in order into pending. */
static int drain(struct sv_tcpreasm *t, struct stream *s)
{
	struct seg *g;
	while ((g = TAILQ_FIRST(&s->ooo)) != NULL && sdiff(g->seq, s->next_seq) <= 0) {
		uint32_t have = (uint32_t)sdiff(s->next_seq, g->seq); /* already in */
		int rc = 0;
		TAILQ_REMOVE(&s->ooo, g, link);
		s->ooo_charged -= g->len + SV_TCPREASM_SEG_OVERHEAD;
		t->bytes -= g->len + SV_TCPREASM_SEG_OVERHEAD;
		if (have < g->len) {
			/* counted as new when queued; append() counts it again */
			t->st.bytes -= g->len - have;
			rc = append(t, s, g->data + have, g->len - have);
		} else {
			have = g->len;
		}
		t->st.bytes -= have;
		t->st.retrans_bytes += have;
		free(g);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Gives up the hole before the first queued byte (or the FIN). */
static int skip_hole(struct sv_tcpreasm *t, struct stream *s)
{
	uint32_t target;
	if (!TAILQ_EMPTY(&s->ooo))
		target = TAILQ_FIRST(&s->ooo)->seq;
	else if (s->fin_seen && sdiff(s->fin_seq, s->next_seq) > 0)
		target = s->fin_seq;
	else
		return 0;
	t->st.gaps++;
	t->st.gap_bytes += (uint32_t)(target - s->next_seq);
	drop_pending(t, s);
	s->discard = 0;
	s->next_seq = target;
	return drain(t, s);
}

static void update_hole(struct sv_tcpreasm *t, struct stream *s, uint64_t now_ns)
{
	int hole = !TAILQ_EMPTY(&s->ooo) || (s->fin_seen && sdiff(s->fin_seq, s->next_seq) > 0);
	if (hole)
		holes_link(t, s, now_ns);
	else
		holes_unlink(t, s);
}

/* Queues [seq, seq+len) ahead of next_seq, keeping bytes already queued. */
static int queue(struct sv_tcpreasm *t, struct stream *s, uint32_t seq, const uint8_t *p,
                 uint32_t len)
{
	struct seg *e = TAILQ_FIRST(&s->ooo); /* the first queued segment not behind seq */
	int queued = 0;
	while (len > 0) {
		uint32_t piece = len;
		if (e != NULL) {
			int32_t before = sdiff(e->seq, seq);
			if (before <= 0) {
				/* e starts at or before seq */
				int32_t eend = sdiff(e->seq + e->len, seq);
				if (eend > 0) {
					uint32_t ov = (uint32_t)eend < len ? (uint32_t)eend : len;
					t->st.retrans_bytes += ov;
					seq += ov;
					p += ov;
					len -= ov;
				}
				e = TAILQ_NEXT(e, link);
				continue;
			}
			if ((uint32_t)before < piece)
				piece = (uint32_t)before;
		}
		struct seg *g = malloc(sizeof(*g) + piece);
		if (g == NULL)
			return -ENOMEM;
		g->seq = seq;
		g->len = piece;
		memcpy(g->data, p, piece);
		if (e != NULL)
			TAILQ_INSERT_BEFORE(e, g, link);
		else
			TAILQ_INSERT_TAIL(&s->ooo, g, link);
		s->ooo_charged += piece + SV_TCPREASM_SEG_OVERHEAD;
		t->bytes += piece + SV_TCPREASM_SEG_OVERHEAD;
		t->st.bytes += piece;
		queued = 1;
		seq += piece;
		p += piece;
		len -= piece;
	}
	if (queued)
		t->st.ooo_segments++;
	return 0;
}

/* Makes room for `need` more bytes in s and in total. 0 or -ENOSPC. */
static int make_room(struct sv_tcpreasm *t, struct stream *s, size_t need)
{
	while (t->bytes + need > t->cfg.max_total_bytes && evict_one(t, s))
		;
	if (t->bytes + need > t->cfg.max_total_bytes)
		return -ENOSPC;
	return 0;
}

static int data(struct sv_tcpreasm *t, struct stream *s, uint32_t seq, const uint8_t *p,
                size_t plen, uint64_t now_ns)
{
	int32_t rel = sdiff(seq, s->next_seq);
	if (rel < 0) {
		uint32_t old = (uint32_t) - (int64_t)rel;
		if (old >= plen) {
			t->st.retrans_segments++;
			t->st.retrans_bytes += plen;
			return 0;
		}
		t->st.retrans_bytes += old;
		seq += old;
		p += old;
		plen -= old;
		rel = 0;
	}
	if (rel == 0) {
		if (make_room(t, s, plen) != 0) {
			/* nothing else to evict: this stream alone is too big */
			drop_pending(t, s);
			t->st.drop_oversize++;
			if (make_room(t, s, plen) != 0) {
				t->st.gaps++;
				t->st.gap_bytes += plen;
				s->next_seq += (uint32_t)plen;
				return 0;
			}
		}
		int rc = append(t, s, p, plen);
		if (rc == 0)
			rc = drain(t, s);
		frame(t, s, now_ns);
		return rc;
	}
	/* ahead of a hole */
	size_t need = plen + SV_TCPREASM_SEG_OVERHEAD;
	while (stream_bytes(s) + need > t->cfg.max_stream_bytes && !TAILQ_EMPTY(&s->ooo)) {
		/* the queue is full: stop waiting for the hole */
		int rc = skip_hole(t, s);
		frame(t, s, now_ns);
		if (rc != 0)
			return rc;
		rel = sdiff(seq, s->next_seq);
		if (rel <= 0)
			return data(t, s, seq, p, plen, now_ns);
	}
	if (stream_bytes(s) + need > t->cfg.max_stream_bytes) {
		/* this segment alone does not fit behind pending: give up both */
		drop_pending(t, s);
		if (need > t->cfg.max_stream_bytes) {
			t->st.drop_oversize++;
			return 0;
		}
	}
	if (make_room(t, s, need) != 0) {
		t->st.drop_oversize++;
		return 0;
	}
	return queue(t, s, seq, p, (uint32_t)plen);
}

/* ------------------------------------------------------------------ API */

int sv_tcpreasm_add(struct sv_tcpreasm *t, const struct sv_packet *p, uint64_t now_ns)
{
	if (t == NULL || p == NULL || p->proto != SV_PACKET_PROTO_TCP ||
	    (p->flags & SV_PACKET_F_FRAG))
		return -EINVAL;
	if (p->payload == NULL && p->payload_len > 0)
		return -EINVAL;
	sv_tcpreasm_expire(t, now_ns);
	t->st.segments++;

	uint64_t h;
	struct stream *s = lookup(t, p->family, p->src, p->dst, p->sport, p->dport, &h);
	if (p->tcp_flags & SV_PACKET_TCP_RST) {
		if (s != NULL)
			remove_stream(t, s, &t->st.streams_rst);
		struct stream *r = lookup(t, p->family, p->dst, p->src, p->dport, p->sport, NULL);
		if (r != NULL)
			remove_stream(t, r, &t->st.streams_rst);
		return 0;
	}
	uint32_t seq = p->tcp_seq;
	if (p->tcp_flags & SV_PACKET_TCP_SYN) {
		if (s != NULL && !(s->have_syn && s->isn == seq + 1)) {
			/* a new connection on the same addresses and ports */
			remove_stream(t, s, &t->st.streams_fin);
			s = NULL;
		}
		if (s == NULL) {
			s = create(t, p, h, seq + 1, now_ns);
			if (s == NULL)
				return -ENOMEM;
			s->have_syn = 1;
			s->isn = seq + 1;
		}
		seq++; /* the SYN occupies one sequence number */
	}
	if (s == NULL) {
		if (p->payload_len == 0)
			return 0; /* ACK or FIN of a stream we do not hold */
		s = create(t, p, h, seq, now_ns);
		if (s == NULL)
			return -ENOMEM;
	}
	s->last_ns = now_ns;
	TAILQ_REMOVE(&t->lru, s, lru);
	TAILQ_INSERT_TAIL(&t->lru, s, lru);

	int rc = 0;
	size_t plen = p->payload_len;
	if (p->tcp_flags & SV_PACKET_TCP_FIN) {
		uint32_t fs = seq + (uint32_t)(p->l4_len > plen ? p->l4_len : plen);
		if (!s->fin_seen || sdiff(fs, s->fin_seq) < 0) {
			s->fin_seen = 1;
			s->fin_seq = fs;
		}
	}
	uint32_t before = s->next_seq;
	if (plen > 0) {
		int in_order = sdiff(seq, s->next_seq) <= 0;
		rc = data(t, s, seq, p->payload, plen, now_ns);
		if (p->l4_len > plen) {
			t->st.drop_truncated++;
			/* the missing tail is a hole that will never fill */
			uint32_t end = seq + (uint32_t)p->l4_len;
			if (in_order && sdiff(end, s->next_seq) > 0 && TAILQ_EMPTY(&s->ooo)) {
				t->st.gaps++;
				t->st.gap_bytes += (uint32_t)(end - s->next_seq);
				drop_pending(t, s);
				s->discard = 0;
				s->next_seq = end;
			}
		}
	}
	if (s->fin_seen && sdiff(s->next_seq, s->fin_seq) >= 0) {
		remove_stream(t, s, &t->st.streams_fin);
		return rc;
	}
	if (s->in_holes && s->next_seq != before)
		s->hole_since = now_ns; /* progress: wait afresh for the next hole */
	update_hole(t, s, now_ns);
	return rc;
}

void sv_tcpreasm_expire(struct sv_tcpreasm *t, uint64_t now_ns)
{
	if (t == NULL)
		return;
	struct stream *s = LIST_FIRST(&t->holes);
	while (s != NULL) {
		struct stream *next = LIST_NEXT(s, holes);
		if (now_ns >= s->hole_since && now_ns - s->hole_since >= t->cfg.hole_timeout_ns) {
			skip_hole(t, s);
			frame(t, s, now_ns);
			if (s->fin_seen && sdiff(s->next_seq, s->fin_seq) >= 0) {
				remove_stream(t, s, &t->st.streams_fin);
			} else {
				holes_unlink(t, s);
				update_hole(t, s, now_ns);
			}
		}
		s = next;
	}
	while ((s = TAILQ_FIRST(&t->lru)) != NULL) {
		if (now_ns < s->last_ns || now_ns - s->last_ns < t->cfg.idle_timeout_ns)
			break;
		remove_stream(t, s, &t->st.streams_expired);
	}
}

void sv_tcpreasm_stats(const struct sv_tcpreasm *t, struct sv_tcpreasm_stats *out)
{
	if (t == NULL || out == NULL)
		return;
	*out = t->st;
	out->streams_held = t->count;
	out->bytes_held = t->bytes;
}
