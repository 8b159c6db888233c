/*
 * dedup.c - duplicate packet suppression. See dedup.h.
 *
 * Fingerprints sit in a ring in arrival order (the oldest expires or is
 * evicted first) and are found through base/htable.h: each ring slot is a
 * node whose hash is the fingerprint itself, so the table's own hash
 * comparison is the fingerprint comparison. The slot array is sized to the
 * ring up front and never grows (the count never exceeds the ring size).
 */
#include "proto/dedup.h"

#include "base/buf.h"
#include "base/hash.h"
#include "base/htable.h"
#include "proto/packet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct entry {
	struct sv_hnode node; /* in d->table; node.hash is the fingerprint */
	uint64_t ts;
};

struct sv_dedup {
	struct sv_dedup_config cfg;
	struct entry *ring;
	struct sv_htable table;
	uint32_t cap; /* ring size and slot count, a power of two */
	uint32_t head;
	uint32_t count;
	struct sv_dedup_stats st;
};

void sv_dedup_config_default(struct sv_dedup_config *c)
{
	c->window_ns = 50ull * 1000000ull;
	c->max_entries = 65536;
}

struct sv_dedup *sv_dedup_new(const struct sv_dedup_config *cfg)
{
	struct sv_dedup *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	sv_dedup_config_default(&d->cfg);
	if (cfg != NULL) {
		if (cfg->window_ns)
			d->cfg.window_ns = cfg->window_ns;
		if (cfg->max_entries)
			d->cfg.max_entries = cfg->max_entries;
	}
	uint32_t cap = 16;
	while (cap < d->cfg.max_entries && cap < (1u << 24))
		cap <<= 1;
	d->cap = cap;
	d->ring = calloc(cap, sizeof(*d->ring));
	d->table.min_slots = cap;
	/* Allocate the slot array now (an insert then never fails): link and
	 * unlink one ring slot. */
	if (d->ring == NULL || sv_htable_insert(&d->table, &d->ring[0].node, 0) != 0) {
		sv_dedup_free(d);
		return NULL;
	}
	sv_htable_remove(&d->table, &d->ring[0].node);
	return d;
}

void sv_dedup_free(struct sv_dedup *d)
{
	if (d == NULL)
		return;
	free(d->ring);
	sv_htable_release(&d->table);
	free(d);
}

/* ---------------------------------------------------------- fingerprint */

/* The IPv4 identification of an unfragmented packet, from the innermost IPv4
 * header in the frame that matches p's addresses and protocol and ends
 * before the transport payload. -1 when not found. */
static int32_t ipv4_id(const struct sv_packet *p)
{
	if (p->frame == NULL || p->payload == NULL || p->payload < p->frame ||
	    p->payload > p->frame + p->caplen)
		return -1;
	size_t lim = (size_t)(p->payload - p->frame);
	if (lim < 20)
		return -1;
	for (size_t k = lim - 20 + 1; k-- > 0;) {
		const uint8_t *h = p->frame + k;
		if ((h[0] >> 4) != 4 || (h[0] & 0x0f) < 5 || h[9] != p->proto)
			continue;
		if ((size_t)(h[0] & 0x0f) * 4 + k > lim)
			continue;
		if (memcmp(h + 12, p->src, 4) != 0 || memcmp(h + 16, p->dst, 4) != 0)
			continue;
		return sv_be16(h + 4);
	}
	return -1;
}

uint64_t sv_dedup_fingerprint(const struct sv_packet *p)
{
	uint8_t k[80];
	size_t n = 0;
	int32_t id = -1;

	if (p->flags & SV_PACKET_F_FRAG)
		id = (int32_t)(p->frag_id & 0x7fffffff);
	else if (p->family == AF_INET)
		id = ipv4_id(p);
	k[n++] = (uint8_t)p->family;
	memcpy(k + n, p->src, 16);
	n += 16;
	memcpy(k + n, p->dst, 16);
	n += 16;
	k[n++] = p->proto;
	k[n++] = (uint8_t)(p->flags & (SV_PACKET_F_FRAG | SV_PACKET_F_TRUNC));
	sv_put_be32(k + n, (uint32_t)id);
	n += 4;
	sv_put_be32(k + n, p->frag_offset);
	n += 4;
	k[n++] = (uint8_t)(p->frag_more != 0);
	sv_put_be16(k + n, p->sport);
	n += 2;
	sv_put_be16(k + n, p->dport);
	n += 2;
	sv_put_be32(k + n, p->tcp_seq);
	n += 4;
	sv_put_be32(k + n, p->tcp_ack);
	n += 4;
	k[n++] = p->tcp_flags;
	sv_put_be32(k + n, (uint32_t)p->payload_len);
	n += 4;
	sv_put_be32(k + n, (uint32_t)p->l4_len);
	n += 4;
	uint64_t h = sv_hash_bytes(0x5356445550ull, k, n);
	if (p->payload != NULL && p->payload_len > 0)
		h = sv_hash_bytes(h, p->payload, p->payload_len);
	return h;
}

/* ---------------------------------------------------------------- table */

static void drop_oldest(struct sv_dedup *d)
{
	sv_htable_remove(&d->table, &d->ring[d->head].node);
	d->head = (d->head + 1) & (d->cap - 1);
	d->count--;
}

static int within(uint64_t a, uint64_t b, uint64_t w)
{
	return a >= b ? a - b <= w : b - a <= w;
}

int sv_dedup_check(struct sv_dedup *d, const struct sv_packet *p, uint64_t now_ns)
{
	if (d == NULL || p == NULL)
		return -EINVAL;
	d->st.packets++;
	while (d->count > 0) {
		const struct entry *e = &d->ring[d->head];
		if (now_ns < e->ts || now_ns - e->ts <= d->cfg.window_ns)
			break;
		drop_oldest(d);
	}
	uint64_t fp = sv_dedup_fingerprint(p);
	for (struct sv_hnode *n = sv_htable_first(&d->table, fp); n != NULL;
	     n = sv_htable_next(n, fp)) {
		const struct entry *e = sv_container_of(n, struct entry, node);
		if (within(now_ns, e->ts, d->cfg.window_ns)) {
			d->st.duplicates++;
			return 1;
		}
	}
	if (d->count == d->cap) {
		drop_oldest(d);
		d->st.evicted++;
	}
	uint32_t at = (d->head + d->count) & (d->cap - 1);
	d->ring[at].ts = now_ns;
	/* cannot fail: the slot array exists since sv_dedup_new() */
	(void)sv_htable_insert(&d->table, &d->ring[at].node, fp);
	d->count++;
	return 0;
}

void sv_dedup_stats(const struct sv_dedup *d, struct sv_dedup_stats *out)
{
	if (d == NULL || out == NULL)
		return;
	*out = d->st;
	out->held = d->count;
}
