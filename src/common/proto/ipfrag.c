/*
 * ipfrag.c - IPv4/IPv6 fragment reassembly. See ipfrag.h.
 *
 * Datagrams in progress live in a hash table (base/htable.h) and, in order
 * of their first fragment, on an age list (a TAILQ whose head is the oldest:
 * the first to time out and the first to evict). Each keeps its fragments in an
 * array sorted by offset; completion is checked by walking it.
 */
#include "proto/ipfrag.h"

#include "base/buf.h"
#include "base/errors.h"
#include "base/hash.h"
#include "base/htable.h"
#include "proto/packet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define MAX_DATAGRAM 65535u

struct frag {
	uint32_t off;
	uint32_t len;
	uint8_t *data;
};

struct dgram {
	/* key */
	int family;
	uint8_t proto;
	uint32_t id;
	uint8_t src[16];
	uint8_t dst[16];

	uint64_t created_ns;
	int dead;       /* discarded: absorbs later fragments until timeout */
	int have_last;  /* the fragment without MF was seen */
	uint32_t total; /* datagram length, when have_last */
	size_t charged; /* bytes charged to f->bytes */
	struct frag *frags;
	unsigned nfrags;
	unsigned capfrags;

	struct sv_hnode node;   /* in f->table, under the key's hash */
	TAILQ_ENTRY(dgram) age; /* f->ages, oldest first */
};

struct sv_ipfrag {
	struct sv_ipfrag_config cfg;
	struct sv_htable table;
	TAILQ_HEAD(, dgram) ages;
	unsigned count;
	size_t bytes;
	struct sv_buf out;
	struct sv_ipfrag_stats st;
};

void sv_ipfrag_config_default(struct sv_ipfrag_config *c)
{
	c->max_bytes = 4u << 20;
	c->max_datagrams = 1024;
	c->max_fragments = 64;
	c->timeout_ns = 30ull * 1000000000ull;
}

struct sv_ipfrag *sv_ipfrag_new(const struct sv_ipfrag_config *cfg)
{
	struct sv_ipfrag_config def;
	sv_ipfrag_config_default(&def);
	struct sv_ipfrag *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->cfg = def;
	if (cfg != NULL) {
		if (cfg->max_bytes)
			f->cfg.max_bytes = cfg->max_bytes;
		if (cfg->max_datagrams)
			f->cfg.max_datagrams = cfg->max_datagrams;
		if (cfg->max_fragments)
			f->cfg.max_fragments = cfg->max_fragments;
		if (cfg->timeout_ns)
			f->cfg.timeout_ns = cfg->timeout_ns;
	}
	/* Sized so that the table never grows below max_datagrams. */
	sv_htable_presize(&f->table, f->cfg.max_datagrams, 1u << 20);
	TAILQ_INIT(&f->ages);
	sv_buf_init(&f->out);
	return f;
}

static void free_frags(struct sv_ipfrag *f, struct dgram *d)
{
	for (unsigned i = 0; i < d->nfrags; i++)
		free(d->frags[i].data);
	free(d->frags);
	d->frags = NULL;
	d->nfrags = d->capfrags = 0;
	f->bytes -= d->charged;
	d->charged = 0;
}

/* Unlinks d from the table and the age list and frees it. */
static void remove_dgram(struct sv_ipfrag *f, struct dgram *d)
{
	sv_htable_remove(&f->table, &d->node);
	TAILQ_REMOVE(&f->ages, d, age);
	free_frags(f, d);
	f->count--;
	free(d);
}

void sv_ipfrag_free(struct sv_ipfrag *f)
{
	if (f == NULL)
		return;
	struct dgram *d;
	while ((d = TAILQ_FIRST(&f->ages)) != NULL)
		remove_dgram(f, d);
	sv_htable_release(&f->table);
	sv_buf_release(&f->out);
	free(f);
}

/* Discards d's data; it stays as a tombstone until it times out. */
static void kill_dgram(struct sv_ipfrag *f, struct dgram *d, uint64_t *counter)
{
	free_frags(f, d);
	d->dead = 1;
	(*counter)++;
}

void sv_ipfrag_expire(struct sv_ipfrag *f, uint64_t now_ns)
{
	if (f == NULL)
		return;
	struct dgram *d;
	while ((d = TAILQ_FIRST(&f->ages)) != NULL) {
		if (now_ns >= d->created_ns && now_ns - d->created_ns < f->cfg.timeout_ns)
			break;
		if (now_ns < d->created_ns && d->created_ns - now_ns < f->cfg.timeout_ns)
			break; /* clock stepped back a little: keep */
		if (!d->dead)
			f->st.drop_timeout++;
		remove_dgram(f, d);
	}
}

/* Evicts the oldest datagram other than keep; returns 0 when there is none. */
static int evict_one(struct sv_ipfrag *f, const struct dgram *keep)
{
	struct dgram *d = TAILQ_FIRST(&f->ages);
	if (d != NULL && d == keep)
		d = TAILQ_NEXT(d, age);
	if (d == NULL)
		return 0;
	if (!d->dead)
		f->st.drop_evicted++;
	remove_dgram(f, d);
	return 1;
}

static uint64_t key_hash(const struct sv_ipfrag *f, int family, uint8_t proto, uint32_t id,
                         const uint8_t *src, const uint8_t *dst)
{
	uint8_t k[38];
	k[0] = (uint8_t)family;
	k[1] = proto;
	sv_put_be32(k + 2, id);
	memcpy(k + 6, src, 16);
	memcpy(k + 22, dst, 16);
	/* seeded with the instance's address: per process, not guessable offline */
	return sv_hash_bytes((uint64_t)(uintptr_t)f, k, sizeof(k));
}

static struct dgram *find_or_create(struct sv_ipfrag *f, const struct sv_packet *p, uint64_t now_ns,
                                    int *err)
{
	uint64_t h = key_hash(f, p->family, p->proto, p->frag_id, p->src, p->dst);
	for (struct sv_hnode *n = sv_htable_first(&f->table, h); n != NULL;
	     n = sv_htable_next(n, h)) {
		struct dgram *d = sv_container_of(n, struct dgram, node);
		if (d->family == p->family && d->proto == p->proto && d->id == p->frag_id &&
		    memcmp(d->src, p->src, 16) == 0 && memcmp(d->dst, p->dst, 16) == 0)
			return d;
	}
	while (f->count >= f->cfg.max_datagrams && evict_one(f, NULL))
		;
	struct dgram *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	d->family = p->family;
	d->proto = p->proto;
	d->id = p->frag_id;
	memcpy(d->src, p->src, 16);
	memcpy(d->dst, p->dst, 16);
	d->created_ns = now_ns;
	if (sv_htable_insert(&f->table, &d->node, h) != 0) {
		free(d);
		*err = -ENOMEM;
		return NULL;
	}
	TAILQ_INSERT_TAIL(&f->ages, d, age);
	f->count++;
	return d;
}

/* Index of the first fragment whose offset is >= off. */
static unsigned lower_bound(const struct dgram *d, uint32_t off)
{
	unsigned lo = 0, hi = d->nfrags;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (d->frags[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* 1 when [0, total) is covered. */
static int complete(const struct dgram *d)
{
	if (!d->have_last)
		return 0;
	uint32_t covered = 0;
	for (unsigned i = 0; i < d->nfrags; i++) {
		const struct frag *e = &d->frags[i];
		if (e->off > covered)
			return 0;
		if (e->off + e->len > covered)
			covered = e->off + e->len;
	}
	return covered >= d->total;
}

int sv_ipfrag_add(struct sv_ipfrag *f, const struct sv_packet *p, uint64_t now_ns,
                  const uint8_t **data, size_t *len)
{
	if (f == NULL || p == NULL || data == NULL || len == NULL)
		return -EINVAL;
	*data = NULL;
	*len = 0;
	if (!(p->flags & SV_PACKET_F_FRAG) || (p->family != AF_INET && p->family != AF_INET6))
		return -EINVAL;
	if (p->payload == NULL && p->payload_len > 0)
		return -EINVAL;
	sv_ipfrag_expire(f, now_ns);
	f->st.fragments++;

	uint32_t off = p->frag_offset;
	size_t flen = p->payload_len;
	if (off == 0 && !p->frag_more) {
		/* not fragmented after all */
		sv_buf_reset(&f->out);
		if (sv_buf_append(&f->out, p->payload, flen) != 0)
			return -ENOMEM;
		f->st.reassembled++;
		*data = f->out.data;
		*len = f->out.len;
		return 1;
	}
	if (flen == 0 && p->frag_more) {
		f->st.drop_invalid++;
		return 0;
	}

	int err = 0;
	struct dgram *d = find_or_create(f, p, now_ns, &err);
	if (d == NULL)
		return err;
	if (d->dead) {
		f->st.drop_late++;
		return 0;
	}
	if ((p->flags & SV_PACKET_F_TRUNC) || flen < p->l4_len) {
		kill_dgram(f, d, &f->st.drop_truncated);
		return 0;
	}
	uint64_t end = (uint64_t)off + flen;
	if (end > MAX_DATAGRAM || (p->frag_more && flen % 8 != 0)) {
		kill_dgram(f, d, &f->st.drop_malformed);
		return 0;
	}
	if (!p->frag_more) {
		if (d->have_last && d->total != end) {
			kill_dgram(f, d, &f->st.drop_malformed);
			return 0;
		}
		for (unsigned i = 0; i < d->nfrags; i++) {
			if ((uint64_t)d->frags[i].off + d->frags[i].len > end) {
				kill_dgram(f, d, &f->st.drop_malformed);
				return 0;
			}
		}
	} else if (d->have_last && end > d->total) {
		kill_dgram(f, d, &f->st.drop_malformed);
		return 0;
	}

	/* Overlaps (fragments are sorted by offset). */
	for (unsigned i = 0; i < d->nfrags; i++) {
		const struct frag *e = &d->frags[i];
		uint64_t eend = (uint64_t)e->off + e->len;
		if (e->off >= end)
			break;
		if (eend <= off)
			continue;
		if (e->off == off && e->len == flen && memcmp(e->data, p->payload, flen) == 0) {
			f->st.duplicates++;
			return 0;
		}
		if (d->family == AF_INET6) {
			kill_dgram(f, d, &f->st.drop_overlap);
			return 0;
		}
		uint32_t lo = e->off > off ? e->off : off;
		uint32_t hi = (uint32_t)(eend < end ? eend : end);
		if (memcmp(e->data + (lo - e->off), p->payload + (lo - off), hi - lo) != 0) {
			kill_dgram(f, d, &f->st.drop_overlap);
			return 0;
		}
	}
	if (d->nfrags >= f->cfg.max_fragments) {
		kill_dgram(f, d, &f->st.drop_too_many);
		return 0;
	}
	size_t charge = flen + SV_IPFRAG_FRAG_OVERHEAD;
	while (f->bytes + charge > f->cfg.max_bytes && evict_one(f, d))
		;
	if (f->bytes + charge > f->cfg.max_bytes) {
		kill_dgram(f, d, &f->st.drop_evicted);
		return 0;
	}

	size_t ncap = d->capfrags;
	struct frag *nf = sv_grow(d->frags, d->nfrags, &ncap, sizeof(*nf), 4);
	if (nf == NULL)
		return -ENOMEM;
	d->frags = nf;
	d->capfrags = (unsigned)ncap;
	uint8_t *copy = malloc(flen ? flen : 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, p->payload, flen);
	unsigned at = lower_bound(d, off);
	memmove(&d->frags[at + 1], &d->frags[at], (d->nfrags - at) * sizeof(*d->frags));
	d->frags[at].off = off;
	d->frags[at].len = (uint32_t)flen;
	d->frags[at].data = copy;
	d->nfrags++;
	d->charged += charge;
	f->bytes += charge;
	if (!p->frag_more) {
		d->have_last = 1;
		d->total = (uint32_t)end;
	}
	if (!complete(d))
		return 0;

	sv_buf_reset(&f->out);
	if (sv_buf_reserve(&f->out, d->total) != 0) {
		remove_dgram(f, d);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < d->nfrags; i++)
		memcpy(f->out.data + d->frags[i].off, d->frags[i].data, d->frags[i].len);
	f->out.len = d->total;
	remove_dgram(f, d);
	f->st.reassembled++;
	*data = f->out.data;
	*len = f->out.len;
	return 1;
}

void sv_ipfrag_stats(const struct sv_ipfrag *f, struct sv_ipfrag_stats *out)
{
	if (f == NULL || out == NULL)
		return;
	*out = f->st;
	out->datagrams_held = f->count;
	out->bytes_held = f->bytes;
}
