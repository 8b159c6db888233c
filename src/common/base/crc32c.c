/*
 * crc32c.c - CRC-32C, table-driven, slicing by 8 (see crc32c.h).
 *
 * tab[0] is the classic byte table of the reflected polynomial 0x82F63B78;
 * tab[k][i] is the CRC of byte i followed by k zero bytes, so eight table
 * lookups advance the CRC by eight input bytes at once.
 */
#include "base/crc32c.h"

#include <pthread.h>

static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
}

static inline uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t sv_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	pthread_once(&tab_once, tab_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ load_le32(p), hi = load_le32(p + 4);
		crc = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
		      tab[4][lo >> 24] ^ tab[3][hi & 0xff] ^ tab[2][(hi >> 8) & 0xff] ^
		      tab[1][(hi >> 16) & 0xff] ^ tab[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
