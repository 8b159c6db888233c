/*
 * objstore.h - where a call's objects go: a bucket/key interface with two
 * back ends, the local object store (DATA_DIR/objects/{bucket}/{key}) and
 * S3/R2 (a later module, same interface).
 *
 * Operations are asynchronous in shape: each takes a completion callback
 * that is called exactly once with 0 or a negative code. The local store
 * completes its puts at the next sv_objstore_flush() (group commit: one
 * durability step for many objects), or before put returns when the put
 * fails early; the S3 back end completes later from the event loop. Callers
 * handle both, and call sv_objstore_flush() soon after starting puts (e.g.
 * once per event-loop iteration, and before sv_objstore_free()).
 *
 * Keys are validated before use (sv_objstore_key_ok): non-empty, at most 1024
 * bytes, no leading '/', no empty, "." or ".." segment, no NUL or control
 * byte. Buckets follow the S3 naming rules. Nothing can land outside
 * DATA_DIR/objects/{bucket}/.
 */
#ifndef SV_OBJSTORE_H
#define SV_OBJSTORE_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

struct sv_objstore;

/* Called once per operation with 0 or a negative code (-errno, SV_E_*). */
typedef void (*sv_objstore_done_fn)(void *arg, int rc);

/* Opens the local store rooted at data_dir/objects (created with its missing
 * parents, mode 0755). Objects are files DATA_DIR/objects/{bucket}/{key}
 * (mode 0644, directories 0755). 0, or -errno with a message in err (which
 * may be NULL). *out is freed with sv_objstore_free. */
int sv_objstore_local_new(const char *data_dir, struct sv_objstore **out, char *err, size_t errlen);

/*
 * Stores data under bucket/key, replacing any previous object, atomically
 * and durably. Local store: the data is written at once to a temporary file
 * in the final directory (not synced, not visible); the next
 * sv_objstore_flush() makes it durable, renames it over the final name,
 * makes the rename durable and only then calls done(arg, 0). So an object
 * becomes visible only complete and durable, and done(0) means durable. A
 * reader sees the old object, the new one, or none — never a part. Early
 * failures (directory or temporary file cannot be made, write error) call
 * done before put returns. content_type (e.g. "application/json") and
 * content_encoding (e.g. NULL) are metadata an S3 back end sends; the local
 * store ignores them. Takes the memory of *data (left empty) once the
 * operation is started. done may be NULL. Returns 0 when the operation was
 * started (its result goes to done, exactly once), or -EINVAL when it was
 * refused at once (NULL store or data, invalid bucket or key): done is not
 * called and *data is left untouched. Every other failure (-ENOMEM, -errno
 * of the file system) goes through done.
 */
int sv_objstore_put(struct sv_objstore *st, const char *bucket, const char *key,
                    const char *content_type, const char *content_encoding, struct sv_buf *data,
                    sv_objstore_done_fn done, void *arg);

/* Reads bucket/key into out (appended). Synchronous. 0, SV_E_NOTFOUND (no
 * such object), -EINVAL (invalid bucket/key), -ENOMEM or -errno; on error out
 * holds what it held before. For the API and tests. */
int sv_objstore_get(struct sv_objstore *st, const char *bucket, const char *key,
                    struct sv_buf *out);

/* 1 when bucket is a valid S3 bucket name (3..63 of [a-z0-9.-], a letter or
 * digit at both ends, no "..", not shaped like an IPv4 address), 0 otherwise.
 * The customer registry (store/customers.h) applies the same rule. */
int sv_objstore_bucket_ok(const char *bucket);

/* 1 when bucket/key is an acceptable object name, 0 otherwise. */
int sv_objstore_key_ok(const char *bucket, const char *key);

/* Counters since the store was opened. Puts refused at once (invalid key)
 * are not counted; every put that reached done is, as ok or failed. */
struct sv_objstore_stats {
	uint64_t puts_ok;
	uint64_t puts_failed;
	uint64_t bytes_written; /* payload bytes of successful puts */
	uint64_t in_flight;     /* started, done not called yet */
};

/* Copies the counters into *out (zeros for a NULL store). */
void sv_objstore_stats(const struct sv_objstore *st, struct sv_objstore_stats *out);

/*
 * Completes the puts started since the last flush (back ends that batch;
 * the others ignore it and return 0). Local store: syncfs() of the store's
 * file system, rename of every temporary file, syncfs() again, then each
 * put's done is called (0, or the -errno of its rename or of a failed sync;
 * a failed put leaves no temporary file behind). done callbacks may start
 * new puts: they wait for the next flush. Blocks for the disk's flush
 * latency, once per call rather than per object. Returns 0, the first
 * error reported to a done, or -ENOMEM (nothing completed; the puts stay
 * queued for the next flush). Accepts NULL (0).
 */
int sv_objstore_flush(struct sv_objstore *st);

/* Frees the store; operations still in flight (local: staged and never
 * flushed — their temporary files are removed) are completed with
 * -ECANCELED first. Accepts NULL. */
void sv_objstore_free(struct sv_objstore *st);

/*
 * Back-end interface (for objstore.c and the back ends only, e.g. the S3
 * one). The common layer validates keys, counts, and tracks in-flight
 * operations; a back end only moves bytes.
 *
 * put: receives a validated bucket/key, the payload (the back end owns *data
 * and must sv_buf_release it when finished with it) and an operation handle.
 * It must call sv_objstore_op_done(op, rc) exactly once, before returning or
 * later from the event loop. Before that call bucket/key/content strings are
 * only borrowed for the duration of the put call itself: copy what is needed
 * later.
 * get: synchronous, same contract as sv_objstore_get (key already valid).
 * free: completes every operation still pending with -ECANCELED (through
 * sv_objstore_op_done), then frees the back end's state. May be NULL.
 * flush: optional (NULL: sv_objstore_flush does nothing); completes the
 * puts the back end holds back for a group commit, see sv_objstore_flush.
 */
struct sv_objstore_op;

struct sv_objstore_ops {
	const char *name; /* "local", "s3": for logs */
	void (*put)(void *impl, const char *bucket, const char *key, const char *content_type,
	            const char *content_encoding, struct sv_buf *data, struct sv_objstore_op *op);
	int (*get)(void *impl, const char *bucket, const char *key, struct sv_buf *out);
	void (*free)(void *impl);
	int (*flush)(void *impl);
};

/* Wraps a back end: on success *out owns impl (ops->free is called by
 * sv_objstore_free). 0 or -ENOMEM (then impl is still the caller's). */
int sv_objstore_new_backend(const struct sv_objstore_ops *ops, void *impl,
                            struct sv_objstore **out);

/* Completes one put: updates the stats, calls the caller's done(arg, rc),
 * frees op. bytes = payload size, counted when rc is 0. */
void sv_objstore_op_done(struct sv_objstore_op *op, int rc, uint64_t bytes);

/* Name of the back end ("local"), for logs; "" for NULL. */
const char *sv_objstore_backend_name(const struct sv_objstore *st);

#endif
