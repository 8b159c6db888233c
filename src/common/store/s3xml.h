/*
 * s3xml.h - the XML documents of the S3 API that the client reads and writes:
 * ListObjectsV2 results, DeleteObjects requests and results, Error documents.
 *
 * Pure (no I/O), expat underneath. Parsing is namespace-agnostic (S3 and
 * Swift's s3api put the elements in the 2006-03-01 namespace; R2 too) and
 * tolerant of unknown elements; bad input gives SV_E_PARSE, never a crash.
 * Every parse function fills `out` (which it first initialises, so the
 * release function is always safe to call on it) and returns 0, SV_E_PARSE,
 * SV_E_TOOBIG (a document or a field beyond the limits below) or -ENOMEM.
 */
#ifndef SV_S3XML_H
#define SV_S3XML_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

/* A document larger than this is refused (SV_E_TOOBIG). */
#define SV_S3XML_MAX_DOC (16u * 1024 * 1024)
/* Longest text kept for one element (a key is at most 1024 bytes in S3). */
#define SV_S3XML_MAX_TEXT 4096u

/* An S3 <Error> document. Fields are "" when absent; longer values are cut. */
struct sv_s3_error_doc {
	char code[64];
	char message[512];
	char request_id[128];
	char region[64]; /* <Region>, sent with AuthorizationHeaderMalformed */
};

/* One <Contents> of a listing. */
struct sv_s3_object {
	char *key;
	int64_t size;        /* -1 when absent */
	char *etag;          /* "" when absent */
	char *last_modified; /* ISO 8601 as sent, "" when absent */
};

/* A ListObjectsV2 result; owns every string and array. */
struct sv_s3_list {
	struct sv_s3_object *objects;
	size_t n_objects;
	char **prefixes; /* <CommonPrefixes><Prefix> */
	size_t n_prefixes;
	int truncated;    /* <IsTruncated>true */
	char *next_token; /* <NextContinuationToken>, NULL when none */
	long key_count;   /* <KeyCount>, -1 when absent */
};

/* One failed key of a DeleteObjects result. */
struct sv_s3_delete_error {
	char *key;
	char *code;
	char *message;
};

/* A DeleteObjects result; owns every string and array. In quiet mode S3
 * lists only the errors. */
struct sv_s3_delete_result {
	char **deleted;
	size_t n_deleted;
	struct sv_s3_delete_error *errors;
	size_t n_errors;
};

/* Parses an <Error> document. */
int sv_s3xml_parse_error(const void *xml, size_t len, struct sv_s3_error_doc *out);

/* Parses a <ListBucketResult>. Release with sv_s3_list_release(). */
int sv_s3xml_parse_list(const void *xml, size_t len, struct sv_s3_list *out);

/* Parses a <DeleteResult>. Release with sv_s3_delete_result_release(). */
int sv_s3xml_parse_delete(const void *xml, size_t len, struct sv_s3_delete_result *out);

/* Appends a <Delete> request body for keys[0..n) (1..1000 keys, else
 * -EINVAL) with <Quiet>true</Quiet> when quiet; keys are XML-escaped.
 * 0, -EINVAL (also for a key with bytes XML 1.0 cannot carry) or -ENOMEM. */
int sv_s3xml_build_delete(const char *const *keys, size_t n, int quiet, struct sv_buf *out);

/* Appends s with &, <, >, ", ' escaped. 0, -EINVAL (control characters XML
 * 1.0 forbids) or -ENOMEM. */
int sv_s3xml_escape(const char *s, size_t len, struct sv_buf *out);

void sv_s3_list_init(struct sv_s3_list *l);
/* Frees everything and re-initialises; accepts NULL. */
void sv_s3_list_release(struct sv_s3_list *l);
void sv_s3_delete_result_init(struct sv_s3_delete_result *d);
void sv_s3_delete_result_release(struct sv_s3_delete_result *d);

#endif
