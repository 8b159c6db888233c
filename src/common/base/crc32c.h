/*
 * crc32c.h - CRC-32C (Castagnoli, iSCSI / RFC 3720 polynomial 0x1EDC6F41,
 * reflected), the checksum of every record the journal, the disk ring and
 * the S3 spool write.
 *
 * Start with crc = 0; chaining works: crc32c(crc32c(0, a), b) is the CRC of
 * a followed by b. The check value of "123456789" is 0xE3069283.
 * Thread-safe (the tables are built once, on first use).
 */
#ifndef SV_CRC32C_H
#define SV_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of data[0..len) continuing from crc (0 to start). data may be
 * NULL when len is 0. */
uint32_t sv_crc32c(uint32_t crc, const void *data, size_t len);

#endif
