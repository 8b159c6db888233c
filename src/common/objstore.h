/*
 * objstore.h - where a call's objects go: a bucket/key interface with two
 * back ends, the local object store (DATA_DIR/objects/{bucket}/{key}) and
 * S3/R2 (a later module, same interface).
 *
 * Operations are asynchronous in shape: each takes a completion callback
 * that is called exactly once with 0 or a negative code. The local store
 * completes synchronously, i.e. before the call returns; the S3 back end
 * completes later from the event loop. Callers handle both.
 *
 * Keys are validated before use (sv_objstore_key_ok): non-empty, at most 1024
 * bytes, no leading '/', no empty, "." or ".." segment, no NUL or control
 * byte. Buckets follow the S3 naming rules. Nothing can land outside
 * DATA_DIR/objects/{bucket}/.
 */
#ifndef SV_OBJSTORE_H
#define SV_OBJSTORE_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

struct sv_objstore;

/* Called once per operation with 0 or a negative code (-errno, SV_E_*). */
typedef void (*sv_objstore_done_fn)(void *arg, int rc);

/* Opens the local store rooted at data_dir/objects (created when missing). */
int sv_objstore_local_new(const char *data_dir, struct sv_objstore **out, char *err, size_t errlen);

/*
 * Stores data under bucket/key, replacing any previous object, atomically:
 * written to a temporary file in the same directory, fsync()ed, renamed over
 * the final name, directory fsync()ed. A reader sees the old object, the new
 * one, or none — never a part. content_type (e.g. "application/json") and
 * content_encoding (e.g. NULL) are metadata an S3 back end sends; the local
 * store ignores them. Takes the memory of *data (left empty). done may be
 * NULL. Returns 0 when the operation was started (its result goes to done),
 * or a negative code when it was refused at once (invalid key: done is not
 * called).
 */
int sv_objstore_put(struct sv_objstore *st, const char *bucket, const char *key,
                    const char *content_type, const char *content_encoding, struct sv_buf *data,
                    sv_objstore_done_fn done, void *arg);

/* Reads bucket/key into out (appended). Synchronous. 0, SV_E_NOTFOUND,
 * -errno. For the API and tests. */
int sv_objstore_get(struct sv_objstore *st, const char *bucket, const char *key,
                    struct sv_buf *out);

/* 1 when bucket/key is an acceptable object name, 0 otherwise. */
int sv_objstore_key_ok(const char *bucket, const char *key);

struct sv_objstore_stats {
	uint64_t puts_ok;
	uint64_t puts_failed;
	uint64_t bytes_written;
	uint64_t in_flight;
};

void sv_objstore_stats(const struct sv_objstore *st, struct sv_objstore_stats *out);

/* Frees the store; operations still in flight are completed with -ECANCELED
 * first. Accepts NULL. */
void sv_objstore_free(struct sv_objstore *st);

#endif
