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

/* The largest record data accepted by the append functions (and at replay). */
#define SV_JOURNAL_MAX_RECORD (16u << 20)

/*
 * Opens (creating) the journal: creates the directory (and missing parents)
 * when needed, takes an exclusive lock on it (flock; -EBUSY when another
 * process holds it), lists the segments and creates a new, empty current
 * segment numbered after the highest existing one, so replayed files are
 * never appended to. Files whose names do not end in ".wal" (and hidden
 * files) are ignored; a "*.wal" that is not "NNNNNNNNNN.wal" naming a regular
 * file is an error. Returns 0, -errno, or SV_E_PARSE for a segment name it
 * does not understand; err (may be NULL) gets one line naming the file.
 * *out is set only on success; free it with sv_journal_close().
 */
int sv_journal_open(const struct sv_journal_opts *opts, struct sv_journal **out, char *err,
                    size_t errlen);

/*
 * Replays every record of the segments that existed at open, oldest first:
 * fn is called with the record's segment, kind and data (valid during the
 * call). A non-zero return from fn stops the replay and is returned; so are
 * read errors (-errno, see sv_journal_error()). Call once, after open and
 * before the first append (a second call returns -EINVAL). Replayed segments
 * start with a reference count of zero: the owner re-refs what it still needs
 * during or after the replay, and the first sv_journal_sync() collects the
 * rest. Until a replay has run to its end, segments that existed at open are
 * never collected (so a journal that is synced but not replayed loses
 * nothing). fn may append and even sync; a sync during the replay collects
 * nothing.
 *
 * A partial or CRC-bad record in the newest segment that holds data (where a
 * crash leaves a torn write) ends the replay; the file is truncated there.
 * In an older segment it ends that segment's replay, which goes on with the
 * next one; that file is left as it is. Both count in torn_records.
 */
int sv_journal_replay(struct sv_journal *j,
                      int (*fn)(void *arg, uint32_t segment, uint8_t kind, const uint8_t *data,
                                size_t len),
                      void *arg);

/* Appends one record (data gathered from iov: each piece is copied once,
 * straight into the buffer) to the current segment's buffer; no I/O.
 * *segment (may be NULL) receives its segment number. 0, -ENOMEM, -EINVAL
 * (iovcnt < 0, NULL iov) or -EFBIG (data over SV_JOURNAL_MAX_RECORD); on
 * error nothing is appended. A record larger than segment_bytes is fine: it
 * fills its segment alone. */
int sv_journal_appendv(struct sv_journal *j, uint8_t kind, const struct iovec *iov, int iovcnt,
                       uint32_t *segment);
int sv_journal_append(struct sv_journal *j, uint8_t kind, const void *data, size_t len,
                      uint32_t *segment);

/* Writes what was appended (one pwrite(2)) and fdatasync()s; then rotates
 * (when the current segment reached segment_bytes: a new file, and an fsync
 * of the directory) and collects segments (unlink + directory fsync).
 * Returns 0 or -errno (then nothing appended since the last success may be
 * acknowledged; the next sync rewrites it all). A failed rotation is returned
 * too (the data is durable but the caller cannot know; it retries). A failed
 * collection is not: it counts in gc_errors and is retried at the next sync.
 * sv_journal_error() names the file of any failure. */
int sv_journal_sync(struct sv_journal *j);

/* Bytes appended but not yet synced. */
size_t sv_journal_pending(const struct sv_journal *j);
/* The segment the next append goes to. */
uint32_t sv_journal_current(const struct sv_journal *j);

/* Reference counts. Refs and unrefs of a segment that does not exist (never
 * created, or already deleted) are ignored, and so is an unref of a segment
 * without references. Collection happens in sv_journal_sync(), never here. */
void sv_journal_ref(struct sv_journal *j, uint32_t segment);
void sv_journal_unref(struct sv_journal *j, uint32_t segment);

/* One line describing the last failure of sync, replay or collection, naming
 * the file ("" when none); valid until the next call on j. Never NULL. */
const char *sv_journal_error(const struct sv_journal *j);

struct sv_journal_stats {
	uint64_t segments;        /* files on disk */
	uint64_t bytes;           /* bytes on disk */
	uint64_t oldest_segment;  /* number of the oldest file */
	int64_t oldest_mtime;     /* its modification time, Unix seconds */
	uint64_t records_written; /* since open */
	uint64_t records_replayed;
	uint64_t torn_records; /* corrupt or partial records dropped at replay */
	uint64_t segments_deleted;
	uint64_t gc_errors; /* failed unlinks / directory fsyncs while collecting */
};

/* Fills out (oldest_mtime via one fstatat; bytes counts synced data only). */
void sv_journal_stats(const struct sv_journal *j, struct sv_journal_stats *out);

/* Syncs and closes. Accepts NULL. Returns the sync's result. */
int sv_journal_close(struct sv_journal *j);

#endif
