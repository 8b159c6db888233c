/*
 * hash.h - the 64-bit hashing the in-memory tables share (tracker, session,
 * dedup, ipfrag, tcpreasm, objstore).
 * Not cryptographic: tables that face attacker-chosen keys seed it with a
 * per-process random-ish value.
 */
#ifndef SV_HASH_H
#define SV_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A strong 64-bit finaliser (MurmurHash3's fmix64 constants). */
static inline uint64_t sv_hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Hash of data[0..n) under seed; chain calls (the result as the next seed)
 * to hash several pieces. */
uint64_t sv_hash_bytes(uint64_t seed, const void *data, size_t n);

#endif
