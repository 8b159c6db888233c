#include "base/hash.h"

#include <string.h>

uint64_t sv_hash_bytes(uint64_t seed, const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = sv_hash_mix64(h ^ w) + 0x9e3779b97f4a7c15ull;
		p += 8;
		n -= 8;
	}
	uint64_t w = 0;
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return sv_hash_mix64(h ^ w ^ ((uint64_t)n << 56));
}
