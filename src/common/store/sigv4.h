/*
 * sigv4.h - AWS Signature Version 4 for S3 (Cloudflare R2, OpenStack Swift's
 * s3api, AWS): header-signed requests and pre-signed query URLs, with one
 * canonicalisation shared by both.
 *
 * Pure: no I/O, no clock (the caller passes the time). HMAC-SHA256 and SHA-256
 * from OpenSSL. Path-style addressing: the canonical URI is the request path
 * as given, each segment URI-encoded per RFC 3986 (unreserved characters kept,
 * '/' kept, everything else %XX uppercase) — S3 paths are NOT normalised (no
 * "." / ".." removal, no double-slash folding). Query parameters are sorted by
 * encoded name then value, names and values fully encoded.
 *
 * A zero-initialised struct sv_sigv4_request (apart from the required fields)
 * gives S3 behaviour. The option fields at its end exist for generic AWS
 * services (and the AWS test suites): path normalisation, double encoding,
 * no X-Amz-Content-Sha256, an unsigned session token.
 *
 * All functions borrow their arguments; output is appended to caller-owned
 * buffers. On error the output buffers may hold a partial result (reset them
 * before reuse); nothing else is modified.
 */
#ifndef SV_SIGV4_H
#define SV_SIGV4_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Longest accepted pre-signed URL lifetime (7 days, as S3 allows). */
#define SV_SIGV4_MAX_EXPIRES 604800
/* Hex SHA-256 of the empty string: the payload hash of a body-less request. */
#define SV_SIGV4_EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SV_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sv_sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL when none (X-Amz-Security-Token) */
	const char *region;        /* e.g. "auto" (R2), "us-east-1" */
	const char *service;       /* "s3" */
};

struct sv_sigv4_header {
	const char *name; /* any case; canonicalised to lower case */
	const char *value;
};

struct sv_sigv4_request {
	const char *method; /* "GET", "PUT", ... */
	const char *host;   /* Host header value, with ":port" when not default */
	const char *path;   /* raw (unencoded) path, e.g. "/bucket/calls/2026/.../sip.pcap.gz" */
	/* raw (unencoded) query parameters; a NULL value is the empty value
	 * ("?delete" is {"delete", NULL} or {"delete", ""}) */
	const struct sv_sigv4_header *query;
	size_t n_query;
	/* extra headers to sign (besides host, x-amz-*): all of them are signed.
	 * Values are trimmed and inner runs of white space (SP, HTAB, CR, LF)
	 * folded to one space; repeated names are joined with ',' in the order
	 * given. Host, Authorization, X-Amz-Date, X-Amz-Content-Sha256 and
	 * X-Amz-Security-Token are set by the signer and rejected here. */
	const struct sv_sigv4_header *headers;
	size_t n_headers;
	/* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"; NULL means the
	 * empty body (SV_SIGV4_EMPTY_SHA256) */
	const char *payload_sha256_hex;
	int64_t now; /* Unix seconds */

	/* ---- options for generic AWS services; all 0 for S3 ---- */
	/* Remove "." and ".." segments and fold repeated '/' before encoding. */
	int normalize_path;
	/* Canonical URI = encode(encode(path)): for services other than S3,
	 * whose canonical URI encodes the already-encoded request path. */
	int double_encode_path;
	/* Do not send or sign X-Amz-Content-Sha256 (the payload hash is still
	 * the last line of the canonical request). */
	int omit_content_sha256;
	/* Add the session token after signing (sent, not signed). */
	int unsigned_session_token;
	/* sv_sigv4_presign(): sign payload_sha256_hex (or the empty-body hash
	 * when NULL) instead of UNSIGNED-PAYLOAD. */
	int presign_payload_hash;
};

/*
 * Signs a request for the Authorization header. Appends to `out` the headers
 * to send, one "Name: value\r\n" per line: Authorization, X-Amz-Date,
 * X-Amz-Content-Sha256 (always, unless omit_content_sha256) and
 * X-Amz-Security-Token (with a session token). canonical/sts (may be NULL)
 * receive the canonical request and the string to sign, for tests and
 * debugging. Returns 0, -EINVAL (missing field, control characters, a header
 * the signer owns, time out of range) or -ENOMEM.
 */
int sv_sigv4_sign_headers(const struct sv_sigv4_creds *creds, const struct sv_sigv4_request *req,
                          struct sv_buf *out, struct sv_buf *canonical, struct sv_buf *sts);

/*
 * Builds a pre-signed URL "scheme://host/path?X-Amz-Algorithm=...&X-Amz-
 * Signature=..." valid for `expires` seconds (1..604800) from req->now. The
 * payload hash of a pre-signed URL is UNSIGNED-PAYLOAD (unless
 * presign_payload_hash). Appends to out. The query keeps the caller's
 * parameters in the order given, then X-Amz-Algorithm, -Credential, -Date,
 * -Expires, -SignedHeaders, -Security-Token, -Signature (botocore's layout).
 * Signed headers are host plus req->headers. Returns 0, -EINVAL (as for
 * sv_sigv4_sign_headers, a bad scheme/expires, or a query parameter named
 * like one of the X-Amz-* ones above) or -ENOMEM.
 */
int sv_sigv4_presign(const struct sv_sigv4_creds *creds, const struct sv_sigv4_request *req,
                     const char *scheme, int64_t expires, struct sv_buf *out,
                     struct sv_buf *canonical, struct sv_buf *sts);

/*
 * Appends the request target to put on the wire (or after "scheme://host" in
 * a URL): the encoded path, then "?" and the canonical (sorted, encoded) query
 * when there are parameters. The path is encoded once and never normalised,
 * whatever the options. Returns 0, -EINVAL or -ENOMEM.
 */
int sv_sigv4_request_target(const struct sv_sigv4_request *req, struct sv_buf *out);

/*
 * Appends the canonical query string: parameters encoded (names and values
 * fully, see sv_sigv4_uri_encode), sorted by encoded name then encoded value
 * (byte order), joined as "n=v&n=v". Nothing for n == 0. Returns 0, -EINVAL
 * (NULL name, or NULL array with n > 0) or -ENOMEM.
 */
int sv_sigv4_canonical_query(const struct sv_sigv4_header *params, size_t n, struct sv_buf *out);

/* RFC 3986 encoding as S3 wants it; keep_slash for paths. Appends to out.
 * Unreserved bytes (A-Z a-z 0-9 - . _ ~) are kept, '/' too with keep_slash,
 * every other byte becomes %XX (upper-case hex). Returns 0, -ENOMEM, or -EINVAL for
 * s == NULL with len > 0. */
int sv_sigv4_uri_encode(const char *s, size_t len, int keep_slash, struct sv_buf *out);

/* Lower-case hex SHA-256 of data into hex[65]. */
void sv_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
