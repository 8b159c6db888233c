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
 */
#ifndef SV_SIGV4_H
#define SV_SIGV4_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

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
	const struct sv_sigv4_header *query; /* raw (unencoded) query parameters */
	size_t n_query;
	const struct sv_sigv4_header *headers; /* extra headers to sign (besides host, x-amz-*) */
	size_t n_headers;
	const char *payload_sha256_hex; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
	int64_t now;                    /* Unix seconds */
};

/*
 * Signs a request for the Authorization header. Appends to `out` the headers
 * to send, one "Name: value\r\n" per line: Authorization, X-Amz-Date,
 * X-Amz-Content-Sha256 (always) and X-Amz-Security-Token (with a session
 * token). canonical/sts (may be NULL) receive the canonical request and the
 * string to sign, for tests and debugging. Returns 0, -EINVAL or -ENOMEM.
 */
int sv_sigv4_sign_headers(const struct sv_sigv4_creds *creds, const struct sv_sigv4_request *req,
                          struct sv_buf *out, struct sv_buf *canonical, struct sv_buf *sts);

/*
 * Builds a pre-signed URL "scheme://host/path?X-Amz-Algorithm=...&X-Amz-
 * Signature=..." valid for `expires` seconds (1..604800) from req->now. The
 * payload hash of a pre-signed URL is UNSIGNED-PAYLOAD. Appends to out.
 */
int sv_sigv4_presign(const struct sv_sigv4_creds *creds, const struct sv_sigv4_request *req,
                     const char *scheme, int64_t expires, struct sv_buf *out,
                     struct sv_buf *canonical, struct sv_buf *sts);

/* RFC 3986 encoding as S3 wants it; keep_slash for paths. Appends to out. */
int sv_sigv4_uri_encode(const char *s, size_t len, int keep_slash, struct sv_buf *out);

/* Lower-case hex SHA-256 of data into hex[65]. */
void sv_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
