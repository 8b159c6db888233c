/*
 * journal.h - the server's write-ahead journal (DATA_DIR/spool/journal).
 *
 * Every frame the server accepts is appended here before it is acknowledged
 * to an agent; markers record what has durably left the server (log chunks,
 * completed calls). At start-up the journal is replayed in order, which
 * rebuilds every call that was not complete: a restart (SIGTERM or a crash)
 * never splits a call or loses a frame.
 *
 * Layout: numbered segment files "NNNNNNNNNN.wal" (10 decimal digits). A
 * segment is a sequence of records:
 *
 *   u32 length of data | u8 kind | u32 CRC-32C of (kind, data) | data
 *
 * big-endian. A torn or corrupt record at the tail of the newest segment (a
 * crash mid-write) is detected by length/CRC, counted, and the file is
 * truncated there; nothing after it is replayed. Corruption inside an older
 * segment ends the replay of that segment (counted, logged by the caller).
 *
 * Appends are buffered in memory; sv_journal_sync() writes them and
 * fdatasync()s, and is the point after which they may be acknowledged.
 * Segments rotate at segment_bytes, only inside sv_journal_sync(), so the
 * current segment number is stable between syncs.
 *
 * Garbage collection by reference counting: the owner refs the segment
 * holding a call's first frame and unrefs it when the call's objects are
 * durable. A segment file is deleted when it is not the current one and it
 * and every older segment have no references.
 */
#ifndef SV_JOURNAL_H
#define SV_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sv_journal;

struct sv_journal_opts {
	const char *dir;      /* created (mode 0700) when missing */
	size_t segment_bytes; /* rotate after this many bytes; 0: 64 MiB */
};

/* Opens (creating) the journal. Returns 0, -errno, or SV_E_PARSE for a
 * segment name it does not understand; err gets one line naming the file. */
int sv_journal_open(const struct sv_journal_opts *opts, struct sv_journal **out, char *err,
                    size_t errlen);

/*
 * Replays every record of the existing segments, oldest first: fn is called
 * with the record's segment, kind and data (valid during the call). A non-zero
 * return from fn stops the replay and is returned. Call once, after open and
 * before the first append. Replayed segments start with a reference count of
 * zero: the owner re-refs what it still needs during or after the replay, and
 * the first sv_journal_sync() collects the rest.
 */
int sv_journal_replay(struct sv_journal *j,
                      int (*fn)(void *arg, uint32_t segment, uint8_t kind, const uint8_t *data,
                                size_t len),
                      void *arg);

/* Appends one record (data gathered from iov) to the current segment's
 * buffer. *segment (may be NULL) receives its segment number. 0 or -ENOMEM
 * / -EFBIG (a record over 16 MiB). */
int sv_journal_appendv(struct sv_journal *j, uint8_t kind, const struct iovec *iov, int iovcnt,
                       uint32_t *segment);
int sv_journal_append(struct sv_journal *j, uint8_t kind, const void *data, size_t len,
                      uint32_t *segment);

/* Writes what was appended and fdatasync()s; rotates and collects segments.
 * Returns 0 or -errno (then nothing appended since the last success may be
 * acknowledged; the next sync retries). */
int sv_journal_sync(struct sv_journal *j);

/* Bytes appended but not yet synced. */
size_t sv_journal_pending(const struct sv_journal *j);
/* The segment the next append goes to. */
uint32_t sv_journal_current(const struct sv_journal *j);

void sv_journal_ref(struct sv_journal *j, uint32_t segment);
void sv_journal_unref(struct sv_journal *j, uint32_t segment);

struct sv_journal_stats {
	uint64_t segments;        /* files on disk */
	uint64_t bytes;           /* bytes on disk */
	uint64_t oldest_segment;  /* number of the oldest file */
	int64_t oldest_mtime;     /* its modification time, Unix seconds */
	uint64_t records_written; /* since open */
	uint64_t records_replayed;
	uint64_t torn_records; /* corrupt or partial records dropped at replay */
	uint64_t segments_deleted;
};

void sv_journal_stats(const struct sv_journal *j, struct sv_journal_stats *out);

/* Syncs and closes. Accepts NULL. Returns the sync's result. */
int sv_journal_close(struct sv_journal *j);

/* CRC-32C (Castagnoli), as used in records; exposed for tests and the agent. */
uint32_t sv_crc32c(uint32_t crc, const void *data, size_t len);

#endif
