/*
 * ipfrag.h - IPv4 and IPv6 fragment reassembly for a passive capture.
 *
 * sv_packet_decode() reports an IP fragment as it is (SV_PACKET_F_FRAG with
 * frag_id, frag_offset, frag_more, proto and the fragment data as payload).
 * Hand every such packet to sv_ipfrag_add(); when the last missing piece of a
 * datagram arrives it returns 1 with the reassembled transport segment (the
 * bytes after the IP header and extension headers). Decode it with
 *
 *     struct sv_packet whole = *p;
 *     sv_packet_decode_l4(&whole, p->proto, data, len);
 *
 * Fragments belong to the same datagram when family, source, destination,
 * protocol and identification are equal (RFC 791, RFC 8200). The policy is
 * the one current Linux applies, since a passive observer should see what the
 * receiving host sees:
 *   - an exact duplicate (same offset, length and bytes) is ignored;
 *   - IPv6: any other overlap discards the whole datagram, and fragments that
 *     arrive later for it are discarded too until its timeout (RFC 5722);
 *   - IPv4: an overlap whose overlapping bytes are identical is accepted, one
 *     whose bytes differ discards the datagram like IPv6;
 *   - a non-last fragment whose length is not a multiple of 8, a datagram
 *     longer than 65535 bytes, two different "last" fragments or data past
 *     the last fragment's end discard the datagram (malformed);
 *   - a fragment cut short by the capture's snap length makes the datagram
 *     impossible to rebuild: it is discarded (truncated).
 *
 * Memory is bounded: at most max_datagrams datagrams in progress, at most
 * max_fragments per datagram and at most max_bytes of held fragment data
 * (each fragment is charged its length plus SV_IPFRAG_FRAG_OVERHEAD). When a
 * new fragment would exceed a bound, the oldest datagrams are evicted first.
 * A datagram not complete timeout_ns after its first fragment is dropped.
 *
 * Time is whatever clock the caller uses (capture timestamps in ns); it is
 * only compared, never read. Single-threaded: one object per thread.
 */
#ifndef SV_IPFRAG_H
#define SV_IPFRAG_H

#include <stddef.h>
#include <stdint.h>

struct sv_packet;

/* Bytes charged per held fragment on top of its data (bookkeeping). */
#define SV_IPFRAG_FRAG_OVERHEAD 64

struct sv_ipfrag_config {
	size_t max_bytes;       /* held fragment data, in total; default 4 MiB */
	unsigned max_datagrams; /* datagrams in progress; default 1024 */
	unsigned max_fragments; /* fragments per datagram; default 64 */
	uint64_t timeout_ns;    /* from a datagram's first fragment; default 30 s */
};

/*
 * Counters since sv_ipfrag_new(). "drop_*" count datagrams discarded for that
 * reason (each datagram once), except drop_late and drop_invalid, which count
 * fragments.
 */
struct sv_ipfrag_stats {
	uint64_t fragments;      /* fragments offered to sv_ipfrag_add() */
	uint64_t reassembled;    /* datagrams completed and returned */
	uint64_t duplicates;     /* exact duplicate fragments ignored */
	uint64_t drop_overlap;   /* conflicting (v4) or any (v6) overlap */
	uint64_t drop_malformed; /* bad length/offset, conflicting end */
	uint64_t drop_truncated; /* a fragment cut short by the snap length */
	uint64_t drop_too_many;  /* more than max_fragments fragments */
	uint64_t drop_timeout;   /* not complete within timeout_ns */
	uint64_t drop_evicted;   /* evicted by max_bytes or max_datagrams */
	uint64_t drop_late;      /* fragments of a datagram already discarded */
	uint64_t drop_invalid;   /* fragments refused before lookup (0-length) */
	/* gauges */
	uint64_t datagrams_held; /* in progress (and discarded, until timeout) */
	uint64_t bytes_held;     /* charged bytes, <= max_bytes */
};

struct sv_ipfrag;

/* Fills *c with the defaults above. */
void sv_ipfrag_config_default(struct sv_ipfrag_config *c);

/*
 * Creates a reassembler. cfg may be NULL for the defaults; zero fields take
 * their default too. Returns NULL when out of memory. Free with
 * sv_ipfrag_free().
 */
struct sv_ipfrag *sv_ipfrag_new(const struct sv_ipfrag_config *cfg);

/* Frees the reassembler and everything it holds. Accepts NULL. */
void sv_ipfrag_free(struct sv_ipfrag *f);

/*
 * Offers one fragment (p as decoded by sv_packet_decode(), with
 * SV_PACKET_F_FRAG set; p is borrowed, its payload copied). Expires timed-out
 * datagrams first (as sv_ipfrag_expire(f, now_ns)).
 *
 * Returns 1 when p completed a datagram: *data and *len are its transport
 * segment, in memory owned by f that stays valid until the next call of any
 * sv_ipfrag_* function on f. Returns 0 when the fragment was held, ignored as
 * a duplicate or discarded (the stats say which). Returns -EINVAL when p is
 * not a fragment or an argument is NULL, -ENOMEM when memory ran out (the
 * fragment is lost, the state stays consistent).
 *
 * A packet with SV_PACKET_F_FRAG but offset 0 and no more-fragments bit is a
 * whole datagram: it is returned at once.
 */
int sv_ipfrag_add(struct sv_ipfrag *f, const struct sv_packet *p, uint64_t now_ns,
                  const uint8_t **data, size_t *len);

/* Drops the datagrams whose first fragment is timeout_ns old or older. */
void sv_ipfrag_expire(struct sv_ipfrag *f, uint64_t now_ns);

/* Copies the counters into *out. */
void sv_ipfrag_stats(const struct sv_ipfrag *f, struct sv_ipfrag_stats *out);

#endif
