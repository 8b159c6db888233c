/*
 * dedup.h - drop packets captured twice within a short window.
 *
 * Capturing on "any" (or on a bridge and its ports, or a VLAN device and its
 * parent) shows a packet once per interface it crosses: loopback traffic
 * appears going out and coming in, forwarded traffic entering and leaving.
 * sv_dedup_check() remembers a 64-bit fingerprint of every packet for
 * window_ns and reports a second sighting within the window as a duplicate.
 *
 * The fingerprint covers family, addresses, IP protocol, the IPv4
 * identification, fragment id/offset/more bit, ports, TCP sequence and
 * acknowledgement numbers and flags, declared and captured payload length
 * and the captured payload bytes. It leaves out what changes between two
 * sightings of the same packet: link header, VLAN tags, TTL / hop limit and
 * checksums. So a SIP retransmission (a new IPv4 id, or sent after at least
 * T1 = 500 ms) is kept, while the two copies of one packet are not. The
 * IPv4 identification is not in struct sv_packet for unfragmented packets;
 * it is read from the IP header found in p->frame just before the transport
 * header (left out when p->frame is NULL or no matching header is there).
 *
 * Memory is bounded by max_entries fingerprints (32 bytes each plus an
 * 8-byte hash slot); when full the oldest is forgotten (counted in evicted) even if it
 * is still inside the window. Two different packets with the same 64-bit
 * fingerprint within the window would be taken for duplicates (probability
 * about n/2^64 per packet).
 *
 * Time is the caller's clock (capture timestamps in ns), only compared.
 */
#ifndef SV_DEDUP_H
#define SV_DEDUP_H

#include <stddef.h>
#include <stdint.h>

struct sv_packet;

struct sv_dedup_config {
	uint64_t window_ns;   /* default 50 ms, well below SIP's T1 */
	unsigned max_entries; /* rounded up to a power of two; default 65536 */
};

struct sv_dedup_stats {
	uint64_t packets;    /* packets checked */
	uint64_t duplicates; /* reported as duplicates (to drop) */
	uint64_t evicted;    /* fingerprints forgotten early: table full */
	uint64_t held;       /* gauge: fingerprints remembered */
};

struct sv_dedup;

/* Fills *c with the defaults above. */
void sv_dedup_config_default(struct sv_dedup_config *c);

/* Creates a deduplicator (cfg NULL or zero fields: defaults). NULL when out
 * of memory. Free with sv_dedup_free(). */
struct sv_dedup *sv_dedup_new(const struct sv_dedup_config *cfg);

/* Frees it. Accepts NULL. */
void sv_dedup_free(struct sv_dedup *d);

/*
 * Checks one decoded packet (borrowed) seen at now_ns and remembers it.
 * Returns 1 when the same packet was seen within window_ns before (drop it),
 * 0 when it is the first sighting (keep it), -EINVAL for a NULL argument.
 */
int sv_dedup_check(struct sv_dedup *d, const struct sv_packet *p, uint64_t now_ns);

/* The fingerprint sv_dedup_check() uses (for tests and logs). */
uint64_t sv_dedup_fingerprint(const struct sv_packet *p);

/* Copies the counters into *out. */
void sv_dedup_stats(const struct sv_dedup *d, struct sv_dedup_stats *out);

#endif
