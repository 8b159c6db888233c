/*
 * s3.h - an S3 client (Cloudflare R2, AWS, Swift's s3api) on a libevent loop.
 *
 * Requests are signed with AWS Signature V4 (sigv4.h), path-style
 * ("endpoint/bucket/key"), and run through the curl multi socket interface on
 * the caller's event_base (the hiperfifo pattern): nothing ever blocks the
 * loop, many requests are in flight on a few keep-alive connections (HTTP/2
 * streams over https where the server offers it). At most max_inflight
 * requests are handed to curl; up to max_queued more wait in a FIFO; beyond
 * that (or beyond max_queued_bytes of request bodies) a submit fails with
 * -ENOBUFS, so memory stays bounded.
 *
 * Every attempt is signed afresh. Connection errors, timeouts, 5xx, 429 and
 * the S3 error SlowDown are retried with exponential backoff and jitter, up to
 * max_attempts; any other 4xx is final at once. Errors are reported with the
 * S3 error document parsed: code, message, request id, in one log-ready line.
 *
 * Asynchronous contract: a submit function returns 0 when it accepted the
 * request, and then `done` is called exactly once, later, from the event
 * loop (never from inside the submit call). A negative return means not
 * accepted and `done` is never called. The result passed to `done` belongs to
 * the client and lives until `done` returns; move what you need out of it
 * (sv_s3_result_move() or sv_buf_take() on its body). `done` may submit new
 * requests but must not free the client.
 *
 * Blocking wrappers (sv_s3_sync_*) run the client's event_base until their
 * request completes: for tools and tests, or a client made with base NULL
 * (which then owns a private event_base). Never call them from a callback
 * running on that base.
 */
#ifndef SV_S3_H
#define SV_S3_H

#include "base/buf.h"
#include "store/s3xml.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sv_s3;

/* A parsed endpoint URL "http[s]://host[:port][/path-prefix]". */
struct sv_s3_endpoint {
	int https;
	char host[256];     /* without brackets for IPv6 literals */
	int port;           /* explicit or 80/443 */
	char hostport[270]; /* Host header: "host" or "host:port" when not default */
	char prefix[256];   /* "" or "/some/prefix" without trailing '/' */
	char base[600];     /* "scheme://hostport" (+ bracketed IPv6) */
};

/* Parses url into ep. 0 or -EINVAL (other scheme, empty host, bad port,
 * user-info, query or fragment, a field too long). */
int sv_s3_endpoint_parse(const char *url, struct sv_s3_endpoint *ep);

struct sv_s3_config {
	const char *endpoint;        /* required */
	const char *region;          /* NULL or "" → "auto" */
	const char *access_key;      /* required */
	const char *secret_key;      /* required */
	const char *session_token;   /* NULL when none */
	unsigned max_inflight;       /* requests handed to curl at once; 0 → 32 */
	unsigned max_connections;    /* per host; 0 → 8 */
	unsigned max_queued;         /* waiting beyond max_inflight; 0 → 10000 */
	size_t max_queued_bytes;     /* request bodies held (in flight + queued); 0 → 256 MiB */
	size_t max_response;         /* response body kept per request; 0 → 64 MiB */
	unsigned max_attempts;       /* including the first; 0 → 5 */
	unsigned backoff_base_ms;    /* 0 → 200 */
	unsigned backoff_max_ms;     /* 0 → 10000 */
	unsigned connect_timeout_ms; /* 0 → 5000 */
	unsigned timeout_ms;         /* per attempt, whole transfer; 0 → 60000 */
	const char *ca_file;         /* NULL: the system's trust store */
	int insecure;                /* skip TLS verification (tests only) */
	int verbose;                 /* curl's informational text at debug level */
};

/* What one request ended with. Strings are "" when absent. */
struct sv_s3_result {
	int rc;     /* 0 or: SV_E_NOTFOUND (404), SV_E_AUTH (401/403), -EINVAL
	               (400), -EEXIST (409), -EIO (other HTTP errors, 5xx after
	               retries), -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH,
	               -EFBIG (response beyond max_response), -ECANCELED (client
	               freed), -ENOMEM, SV_E_PARSE (unreadable XML answer) */
	int status; /* HTTP status of the last attempt, 0 without a response */
	unsigned attempts;
	char error[1024];           /* one line: "GET bucket/key: 403 SignatureDoesNotMatch:
	                               <message> (request id ...)"; "" on success */
	struct sv_s3_error_doc err; /* the parsed S3 <Error>, if one came */
	char request_id[128];       /* x-amz-request-id header */
	char content_type[128];
	char content_encoding[64];
	char etag[80];
	char last_modified[64];
	int64_t content_length;         /* Content-Length (GET/HEAD), -1 when unknown */
	struct sv_buf body;             /* GET: the object bytes */
	struct sv_s3_list list;         /* ListObjectsV2 */
	struct sv_s3_delete_result del; /* DeleteObjects (rc 0 even with per-key errors) */
};

void sv_s3_result_init(struct sv_s3_result *r);
/* Frees body, list and del; accepts NULL. */
void sv_s3_result_release(struct sv_s3_result *r);
/* Moves src into dst (dst's previous content is released), leaving src empty. */
void sv_s3_result_move(struct sv_s3_result *dst, struct sv_s3_result *src);

typedef void (*sv_s3_done_fn)(struct sv_s3_result *res, void *arg);

/*
 * Creates a client on base (borrowed; must outlive the client), or on a
 * private event_base when base is NULL (then only the sync wrappers make it
 * progress). cfg's strings are copied. Calls curl_global_init once per
 * process (not thread-safe: create the first client before starting threads).
 * 0, -EINVAL (bad endpoint, missing keys) or -ENOMEM.
 */
int sv_s3_new(struct event_base *base, const struct sv_s3_config *cfg, struct sv_s3 **out);

/* Aborts every unfinished request, calling its done with rc -ECANCELED, then
 * frees the client (secrets wiped). Accepts NULL. Not from within a callback. */
void sv_s3_free(struct sv_s3 *s3);

/* The event_base the client runs on. */
struct event_base *sv_s3_base(struct sv_s3 *s3);
/* Requests accepted and not yet completed (in flight + waiting). */
size_t sv_s3_pending(const struct sv_s3 *s3);
/* Of those, the ones handed to curl right now (at most max_inflight). */
size_t sv_s3_inflight(const struct sv_s3 *s3);

/* Counters since sv_s3_new(), for metrics. */
struct sv_s3_stats {
	uint64_t requests;    /* completed (success or not) */
	uint64_t failures;    /* completed with rc != 0 */
	uint64_t attempts;    /* HTTP attempts, retries included */
	uint64_t retries;     /* attempts after a retryable failure */
	uint64_t connections; /* new TCP connections opened (low: keep-alive works) */
};
void sv_s3_get_stats(const struct sv_s3 *s3, struct sv_s3_stats *out);

struct sv_s3_put_opts {
	const char *content_type;     /* NULL → "application/octet-stream" */
	const char *content_encoding; /* e.g. "gzip" for stored .gz objects; NULL: none */
	const char *payload_sha256;   /* NULL: computed; else sent and signed as given
	                                 (hex or "UNSIGNED-PAYLOAD") */
	int no_content_md5;           /* 1: do not send Content-MD5 */
};

/* PutObject: data[0..len) is copied. opts may be NULL. */
int sv_s3_put(struct sv_s3 *s3, const char *bucket, const char *key, const void *data, size_t len,
              const struct sv_s3_put_opts *opts, sv_s3_done_fn done, void *arg);
/* GetObject: the object arrives in res->body. */
int sv_s3_get(struct sv_s3 *s3, const char *bucket, const char *key, sv_s3_done_fn done, void *arg);
/* HeadObject (key non-NULL) or HeadBucket (key NULL): headers only. */
int sv_s3_head(struct sv_s3 *s3, const char *bucket, const char *key, sv_s3_done_fn done,
               void *arg);
/* DeleteObject (one key; S3 answers 204 also when it did not exist). */
int sv_s3_delete(struct sv_s3 *s3, const char *bucket, const char *key, sv_s3_done_fn done,
                 void *arg);
/* CreateBucket (no location constraint). */
int sv_s3_create_bucket(struct sv_s3 *s3, const char *bucket, sv_s3_done_fn done, void *arg);

struct sv_s3_list_params {
	const char *prefix;             /* NULL: none */
	const char *delimiter;          /* NULL: none */
	const char *continuation_token; /* NULL: first page */
	const char *start_after;        /* NULL: none */
	unsigned max_keys;              /* 0: the server's default (1000) */
};

/* ListObjectsV2 (one page): res->list. p may be NULL. */
int sv_s3_list(struct sv_s3 *s3, const char *bucket, const struct sv_s3_list_params *p,
               sv_s3_done_fn done, void *arg);

/* DeleteObjects: keys[0..n) (1..1000, else -EINVAL) are copied; Content-MD5
 * is sent; res->del lists what was deleted (not in quiet mode) and per-key
 * errors. */
int sv_s3_delete_objects(struct sv_s3 *s3, const char *bucket, const char *const *keys, size_t n,
                         int quiet, sv_s3_done_fn done, void *arg);

/*
 * Appends to out a pre-signed GET URL for bucket/key valid `expires` seconds
 * (1..604800) from `now` (Unix seconds; pass time(NULL)). Pure: no request.
 * 0, -EINVAL or -ENOMEM.
 */
int sv_s3_presign_get(struct sv_s3 *s3, const char *bucket, const char *key, int64_t now,
                      int64_t expires, struct sv_buf *out);

/* ---- blocking wrappers: submit, run the base until done, move the result
 * into *res (initialised here; release it). Return res->rc (or the submit
 * error, also stored in res->rc). */
int sv_s3_sync_put(struct sv_s3 *s3, const char *bucket, const char *key, const void *data,
                   size_t len, const struct sv_s3_put_opts *opts, struct sv_s3_result *res);
int sv_s3_sync_get(struct sv_s3 *s3, const char *bucket, const char *key, struct sv_s3_result *res);
int sv_s3_sync_head(struct sv_s3 *s3, const char *bucket, const char *key,
                    struct sv_s3_result *res);
int sv_s3_sync_delete(struct sv_s3 *s3, const char *bucket, const char *key,
                      struct sv_s3_result *res);
int sv_s3_sync_create_bucket(struct sv_s3 *s3, const char *bucket, struct sv_s3_result *res);
int sv_s3_sync_list(struct sv_s3 *s3, const char *bucket, const struct sv_s3_list_params *p,
                    struct sv_s3_result *res);
int sv_s3_sync_delete_objects(struct sv_s3 *s3, const char *bucket, const char *const *keys,
                              size_t n, int quiet, struct sv_s3_result *res);
/* Runs the base until no request of this client is pending. 0 or -EIO. */
int sv_s3_sync_drain(struct sv_s3 *s3);

/* ---- pure parts, exposed for tests ---- */

/* Whether an attempt that ended so is retried: curl_code (CURLcode, 0 when
 * a response came), HTTP status and S3 error code ("" or NULL). 1 or 0. */
int sv_s3_retryable(int curl_code, int status, const char *s3_code);

/* Backoff before attempt number `attempt` (1 = the first retry): "equal
 * jitter" — half of min(max_ms, base_ms * 2^(attempt-1)) plus a random part
 * in [0, that half] drawn from rnd. */
unsigned sv_s3_backoff_ms(unsigned attempt, unsigned base_ms, unsigned max_ms, uint32_t rnd);

/*
 * Builds one signed request: appends the URL ("base/prefix/bucket/key?query",
 * path and query URI-encoded) to url and the header lines ("Name: value\r\n";
 * the signature headers, Host excepted, plus extra[]) to headers. bucket and
 * key may be NULL; query values may be "" (sent as "name="). The extra
 * headers are signed too. payload_sha256 is hex or "UNSIGNED-PAYLOAD".
 */
struct sv_sigv4_header;
int sv_s3_build_request(const struct sv_s3_endpoint *ep, const char *region, const char *access_key,
                        const char *secret_key, const char *session_token, const char *method,
                        const char *bucket, const char *key, const struct sv_sigv4_header *query,
                        size_t n_query, const struct sv_sigv4_header *extra, size_t n_extra,
                        const char *payload_sha256, int64_t now, struct sv_buf *url,
                        struct sv_buf *headers);

/* Base64 of the MD5 of data (the Content-MD5 header value) into b64[25]. */
void sv_s3_content_md5(const void *data, size_t len, char b64[25]);

/* Maps an HTTP status to the rc of struct sv_s3_result. */
int sv_s3_status_rc(int status);

#endif
