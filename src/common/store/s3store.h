/*
 * s3store.h - the S3/R2 back end of the object store (objstore.h), with a
 * durable spool.
 *
 * A put is first made durable in the spool directory (one file per object:
 * bucket, key, content type and encoding, creation time and the data, CRC-32C
 * protected; written to a temporary file, fsync()ed, renamed, directory
 * fsync()ed). Only then is the put's done callback called with 0: from that
 * moment the object WILL reach S3, even across restarts. The object is then
 * uploaded with the S3 client (s3.h) on the caller's event loop; its spool
 * file is removed only after S3 confirmed the PutObject.
 *
 * Failed uploads are retried for ever: per bucket, after a failure the bucket
 * backs off exponentially (retry_base_ms .. retry_max_ms, with jitter) and is
 * then probed with one upload at a time until one succeeds. At most
 * max_uploads uploads are in flight; waiting objects are held on disk only
 * (their metadata in memory), so memory stays bounded whatever the outage.
 * A warning naming the bucket and the S3 error is logged at most once per
 * warn_interval_s per bucket (the S3 client never logs headers, and any
 * occurrence of the access or secret key in an error text is masked).
 *
 * On open, the spool's existing files are checked (header and size; the CRC is
 * checked before each upload) and re-enqueued oldest first, so the spool
 * survives restarts and drains by itself when S3 comes back. Unreadable or
 * corrupt files are renamed "*.corrupt", counted and logged, never uploaded;
 * temporary files left by a crash (never acknowledged) are removed.
 *
 * Single-threaded: everything runs on the event_base given at open. The
 * spool directory is locked (flock) against a second process.
 */
#ifndef SV_S3STORE_H
#define SV_S3STORE_H

#include "base/buf.h"
#include "store/objstore.h"
#include "store/s3.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sv_s3store;

struct sv_s3store_opts {
	const struct sv_s3_config *s3; /* required; copied by sv_s3_new */
	const char *spool_dir;         /* required; created (0700, parents too) */
	unsigned max_uploads;          /* uploads in flight; 0 → 16 */
	unsigned retry_base_ms;        /* first back-off after a failure; 0 → 1000 */
	unsigned retry_max_ms;         /* back-off cap; 0 → 60000 */
	unsigned warn_interval_s;      /* per-bucket warning rate limit; 0 → 30 */
};

/*
 * Opens the S3 store on base (borrowed, must outlive the store): creates the
 * S3 client and the spool directory, locks it, scans it and enqueues what it
 * holds (uploads start once the loop runs). *out is freed with
 * sv_objstore_free(); *handle (may be NULL) is the store's S3 side for stats
 * and the bucket check, valid until sv_objstore_free(*out). 0, -EINVAL
 * (missing option, bad endpoint or keys), -EBUSY (spool locked by another
 * process), -ENOMEM or -errno; err (may be NULL) gets one line.
 */
int sv_s3store_open(struct event_base *base, const struct sv_s3store_opts *opts,
                    struct sv_objstore **out, struct sv_s3store **handle, char *err, size_t errlen);

/* The same with default options. */
int sv_objstore_s3_new(struct event_base *base, const struct sv_s3_config *cfg,
                       const char *spool_dir, struct sv_objstore **out, char *err, size_t errlen);

/* Counters and gauges, for metrics. */
struct sv_s3store_stats {
	uint64_t spool_objects;    /* objects spooled and not yet confirmed by S3 */
	uint64_t spool_bytes;      /* their payload bytes */
	int64_t oldest_created_ns; /* creation time (Unix ns) of the oldest one; 0: empty */
	uint64_t uploads_active;   /* in flight now */
	uint64_t uploads_ok;       /* confirmed by S3 since open */
	uint64_t uploads_failed;   /* upload attempts that failed (each is retried) */
	uint64_t spooled;          /* puts made durable since open */
	uint64_t spool_errors;     /* puts that failed to reach the spool (done got rc) */
	uint64_t recovered;        /* objects found in the spool at open */
	uint64_t corrupt;          /* spool files found unusable (renamed *.corrupt) */
};

/* Fills *out; zeros for NULL. */
void sv_s3store_stats(const struct sv_s3store *ss, struct sv_s3store_stats *out);

/* Seconds since the oldest spooled object was created (0 when empty). */
double sv_s3store_oldest_age(const struct sv_s3store *ss, int64_t now_ns);

/* Per-bucket state (buckets seen by put, open or the check). */
struct sv_s3store_bucket_stats {
	char bucket[64];
	uint64_t waiting;       /* spooled objects of this bucket */
	uint64_t errors;        /* failed upload attempts */
	char last_error[1024];  /* one line, "" when none yet */
	int64_t last_error_ns;  /* when (Unix ns), 0 when none */
	int failing;            /* 1 while the last upload attempt failed */
	int check_rc;           /* bucket check: 1 not run/pending, 0 ok, else the error */
	char check_error[1024]; /* the check's error line, "" when ok */
};

/* Number of buckets known; sv_s3store_bucket(ss, i, out) for i below it
 * fills *out (0, or -ERANGE for a bad index). Indexes are stable: buckets
 * are never forgotten while the store lives. */
size_t sv_s3store_bucket_count(const struct sv_s3store *ss);
int sv_s3store_bucket(const struct sv_s3store *ss, size_t i, struct sv_s3store_bucket_stats *out);

/*
 * Start-up check: a HeadBucket on each buckets[i] (n of them; duplicates are
 * fine), asynchronous on the store's loop. For each one, when known,
 * fn(arg, i, rc, line) is called once, from the loop: rc 0 (ok) or the S3
 * result code, line a one-line reason without credentials, e.g. "bucket
 * acme-calls: bucket does not exist (GET acme-calls: 404 NoSuchBucket: ...)"
 * or "bucket acme-calls: signature refused: wrong secret key (or access key)
 * (...)" ("" when ok); line lives during the call. When HEAD fails with a
 * 4xx, a ListObjectsV2 (max-keys 1) is sent to read S3's error code (HEAD
 * answers carry no body). The result is also kept in the bucket's stats.
 * Returns 0 (checks started; fn is never called from inside this call),
 * -EINVAL (a NULL or invalid bucket name: nothing started), -ENOMEM, or the
 * client's submit error (-ENOBUFS): then the checks before the failing one
 * were started and still report through fn. Checks still running when the
 * store is freed are dropped without calling fn.
 */
typedef void (*sv_s3store_check_fn)(void *arg, size_t i, int rc, const char *line);
int sv_s3store_check_buckets(struct sv_s3store *ss, const char *const *buckets, size_t n,
                             sv_s3store_check_fn fn, void *arg);

/* The S3 client the store uses (borrowed; for tools and tests). */
struct sv_s3 *sv_s3store_client(struct sv_s3store *ss);

/* ---- the spool file format, exposed for tests and the fuzzer ----
 *
 *   "SVSP" | u8 version (1) | u8 flags (0) | u16 len + bucket | u16 len + key
 *   | u16 len + content type | u16 len + content encoding | u64 created (Unix
 *   ns) | u64 data length | data | u32 CRC-32C of everything before it
 *
 * big-endian. Bucket and key must pass sv_objstore_key_ok(); content type and
 * encoding are 0..255 printable ASCII bytes.
 */
struct sv_s3store_item {
	char bucket[64];
	char key[1025];
	char content_type[256];     /* "" when none */
	char content_encoding[256]; /* "" when none */
	int64_t created_ns;
	uint64_t data_len;
	size_t header_len; /* bytes before the data */
};

/* Appends the encoded file to out. content_type/encoding may be NULL. 0,
 * -EINVAL (bad bucket/key, strings too long or not printable) or -ENOMEM. */
int sv_s3store_encode(const char *bucket, const char *key, const char *content_type,
                      const char *content_encoding, int64_t created_ns, const void *data,
                      size_t len, struct sv_buf *out);

/* Parses the header from p[0..n) (at least the header; n may be shorter than
 * the whole file) into *it. 0, SV_E_TRUNC (header incomplete) or SV_E_PARSE
 * (bad magic/version/flags, invalid names, length fields inconsistent). */
int sv_s3store_decode_header(const uint8_t *p, size_t n, struct sv_s3store_item *it);

/* Parses and verifies a whole file p[0..n): header, total size
 * (header + data + 4 == n) and CRC. On success *data points into p at the
 * payload (it->data_len bytes). 0, SV_E_TRUNC, SV_E_PARSE (also a CRC
 * mismatch or trailing bytes). */
int sv_s3store_decode(const uint8_t *p, size_t n, struct sv_s3store_item *it, const uint8_t **data);

#endif
