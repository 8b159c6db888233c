/*
 * diskring.h - the agent's disk buffer: a crash-safe ring of checksummed
 * records in one file of bounded size ([buffer] path and max_size).
 *
 * Every frame the agent ships is appended here first; it leaves the agent's
 * custody only when the server acknowledged it (sv_diskring_ack). The agent
 * always sends from the ring's cursor (sv_diskring_next), so frames replayed
 * after a reconnect or a restart and frames captured live go out in one
 * order: the records' sequence numbers.
 *
 * File layout (big-endian; docs/internals/diskring.md has the details):
 *
 *   [0, 4096)         two 512-byte header slots (A at 0, B at 512): magic,
 *                     geometry, ring id, write counter, life (bumped at every
 *                     open), position and sequence of the first
 *                     unacknowledged record, CRC-32C. The valid slot with
 *                     the higher counter wins; writes alternate slots, so a
 *                     torn header write leaves the other one intact.
 *   [4096, max_size)  the data area, a ring of 8-byte-aligned records:
 *                     u32 crc | u32 len | u64 seq | u32 life | u32 flags |
 *                     i64 time_ms | payload | zero padding to 8
 *                     (crc = CRC-32C of the ring id, bytes 4..31 and the
 *                     payload). A record that does not fit before the end
 *                     of the area goes to its start.
 *
 * Recovery at open starts at the header's first-unacknowledged record and
 * follows the chain (seq + 1, same or newer life, CRC correct) until it
 * breaks: a torn or damaged record ends the ring there and is never
 * replayed; what follows it is overwritten by the next appends. The header
 * is rewritten only at open, at a sync whose acknowledgement moved, and
 * (with an fdatasync first) before data may overwrite the record it names;
 * so a synced record is never lost to a crash, and acknowledged records may
 * be replayed again after a crash when the ack had not been synced yet.
 *
 * Single-threaded: one ring per file (flock), used from one thread.
 */
#ifndef SV_DISKRING_H
#define SV_DISKRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sv_diskring;

/* The largest payload accepted: a whole wire frame (12-byte header + 1 MiB). */
#define SV_DISKRING_MAX_RECORD (1048576u + 12u)
/* The smallest max_size (file size) accepted. A ring stores a record only
 * when its 32-byte header and padded payload fit the data area (max_size -
 * 4096): for frames of SV_DISKRING_MAX_RECORD, max_size must be at least
 * SV_DISKRING_MAX_RECORD + 4136. */
#define SV_DISKRING_MIN_SIZE     16384u
#define SV_DISKRING_DEFAULT_SIZE (100u << 20)
#define SV_DISKRING_MAX_SIZE     ((uint64_t)1 << 40) /* 1 TiB */

struct sv_diskring_opts {
	const char *path;  /* the file; created (mode 0600) when missing */
	uint64_t max_size; /* file size, SV_DISKRING_MIN/MAX_SIZE; 0: 100 MiB */
};

/* What one append had to drop to make room (unacknowledged records only;
 * acknowledged ones are reclaimed silently). */
struct sv_diskring_drop {
	uint64_t records;
	uint64_t bytes;     /* their payload bytes */
	uint64_t first_seq; /* the range dropped (0 when none) */
	uint64_t last_seq;
};

/*
 * Opens (creating or recovering) the ring at opts->path and takes an
 * exclusive flock on it (-EBUSY when another process holds it).
 *  - a missing or empty file is formatted: max_size bytes allocated
 *    (fallocate, else a sparse ftruncate), header written and synced;
 *  - an existing ring is recovered (see above), its life bumped and its
 *    header rewritten (synced) before this returns;
 *  - a ring made with another max_size is migrated: its unacknowledged
 *    records are copied, oldest first and keeping their sequence numbers,
 *    into PATH.tmp with the new geometry (the oldest dropped if they do not
 *    fit, counted in stats), which then replaces the file (rename, fsync of
 *    the directory);
 *  - a file whose header slots both carry our magic but fail their CRC is
 *    reformatted (its content is lost; stats.reformatted is 1);
 *  - any other non-empty file is refused with SV_E_PARSE and left alone.
 * Returns 0, -errno, SV_E_CONFIG (max_size out of range) or SV_E_PARSE; err
 * (may be NULL) receives one line naming the file. *out is set only on
 * success; free it with sv_diskring_close().
 */
int sv_diskring_open(const struct sv_diskring_opts *opts, struct sv_diskring **out, char *err,
                     size_t errlen);

/*
 * Appends one record (payload gathered from iov, each piece copied once)
 * stamped with now_ms (the caller's clock, kept for stats) and gives it the
 * next sequence number (*seq, may be NULL; the first record of a ring is 1,
 * numbers are never reused). Appends are buffered in memory and written by
 * sv_diskring_sync(); a buffer over 4 MiB, or a record that wraps to the start
 * of the area, writes what is buffered (pwrite, no fdatasync) first.
 * When the ring is full the oldest records are removed until the new one
 * fits: acknowledged ones silently, unacknowledged ones counted in *drop
 * (may be NULL; zeroed first) and in stats. Returns 0; -EFBIG for a payload
 * over SV_DISKRING_MAX_RECORD or one that cannot fit the area even when
 * empty; -EINVAL for a bad iov; -ENOMEM; -errno of a failed write (nothing
 * appended then, but records may have been dropped and reported in *drop);
 * -EIO when the file no longer holds what was written (see
 * sv_diskring_next).
 */
int sv_diskring_appendv(struct sv_diskring *r, const struct iovec *iov, int iovcnt, int64_t now_ms,
                        uint64_t *seq, struct sv_diskring_drop *drop);
int sv_diskring_append(struct sv_diskring *r, const void *data, size_t len, int64_t now_ms,
                       uint64_t *seq, struct sv_diskring_drop *drop);

/*
 * Writes what was appended and fdatasync()s; records appended before a
 * successful sync survive a crash (kill -9, power loss) unless the ring
 * dropped them for room. Also persists the acknowledgement position when it
 * moved (the header, one small write, same fdatasync). Returns 0 or -errno
 * (then nothing since the last success is known durable; call again).
 */
int sv_diskring_sync(struct sv_diskring *r);

/*
 * Acknowledges every record with a sequence number <= seq: they will not be
 * returned by the cursor after the next rewind and their room is reusable.
 * In memory; persisted by the next sync. A seq below the current
 * acknowledgement is ignored (0). Returns 0, -EINVAL when seq was never
 * appended (>= sv_diskring_next_seq()), or -EIO (see sv_diskring_next).
 */
int sv_diskring_ack(struct sv_diskring *r, uint64_t seq);

/* Moves the cursor back to the oldest unacknowledged record (after a
 * reconnect: resend everything not acknowledged). */
void sv_diskring_rewind(struct sv_diskring *r);

/*
 * Returns the record at the cursor and moves past it: 0 with *data and *len (the
 * payload, valid until the next call on r), *seq and *time_ms (either may be
 * NULL); SV_E_AGAIN when the cursor is at the end (nothing appended since).
 * Records dropped for room while the cursor was behind are skipped (the
 * caller sees the gap in *seq). The cursor starts at the oldest
 * unacknowledged record at open. -EIO when a record read back from the file
 * fails its checksum (the file was damaged behind our back): every record
 * still held is then dropped (counted), never returned as garbage.
 */
int sv_diskring_next(struct sv_diskring *r, const uint8_t **data, size_t *len, uint64_t *seq,
                     int64_t *time_ms);

/* The sequence number the next append will get. */
uint64_t sv_diskring_next_seq(const struct sv_diskring *r);
/* The highest acknowledged sequence number (0: none). */
uint64_t sv_diskring_acked(const struct sv_diskring *r);

struct sv_diskring_stats {
	uint64_t file_size;       /* max_size the ring was formatted with */
	uint64_t capacity;        /* bytes of the data area */
	uint64_t bytes;           /* area used by unacknowledged records (with headers, padding) */
	uint64_t records;         /* unacknowledged records */
	uint64_t unsynced;        /* bytes appended since the last successful sync */
	int64_t oldest_age_ms;    /* now_ms - append time of the oldest unacked; 0 when none */
	uint64_t recovered;       /* unacknowledged records found at open */
	uint64_t appended;        /* records appended since open */
	uint64_t dropped_records; /* unacknowledged records dropped for room since open */
	uint64_t dropped_bytes;   /* their payload bytes */
	uint64_t corrupt;         /* -EIO events (damaged file under a live ring) */
	uint64_t header_writes;   /* since open (including open's) */
	uint64_t syncs;           /* fdatasync calls since open */
	uint32_t life;            /* opens of this ring file so far */
	int reformatted;          /* open found a corrupt header and started afresh */
};

/* Fills out; oldest_age_ms is computed against now_ms. */
void sv_diskring_stats(const struct sv_diskring *r, int64_t now_ms, struct sv_diskring_stats *out);

/* One line describing the last failure ("" when none), valid until the next
 * call on r. Never NULL. */
const char *sv_diskring_error(const struct sv_diskring *r);

/* Syncs, unlocks and closes; accepts NULL. Returns the sync's result. */
int sv_diskring_close(struct sv_diskring *r);

#endif
