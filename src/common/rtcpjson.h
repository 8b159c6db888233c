/*
 * rtcpjson.h - reads an rtcp.json document (contract section 5) into the
 * call summary and samples that quality.h builds a report from.
 *
 * Every report block is one sample of the report's direction. Unknown fields
 * are ignored; a known field of the wrong type or range is an error whose
 * message names it with its path, e.g. "reports[3].blocks[0].jitter:
 * expected an integer in 0..4294967295". The optional extension fields
 * "customer" and "summary" (written by sipvault-server, see docs/formats.md)
 * fill in the call; without "summary" the call counts as answered, started
 * and answered at the first report and ended at the last one.
 */
#ifndef SV_RTCPJSON_H
#define SV_RTCPJSON_H

#include "quality.h"

#include <jansson.h>
#include <stddef.h>

struct sv_rtcpjson {
	struct sv_quality_call call;       /* strings borrowed from root */
	struct sv_quality_sample *samples; /* owned; n_samples entries */
	size_t n_samples;
	size_t n_reports;
	int has_summary; /* the document carried the "summary" extension */
	json_t *root;    /* the parsed document (owned) */
};

/*
 * Parses text[0..len) (plain JSON, not gzip) into doc. On success returns 0
 * and doc holds owned memory: release it with sv_rtcpjson_release(). On error
 * returns SV_E_PARSE (err receives one lower-case line naming the field and
 * report index, or the JSON syntax error with its line and column) or
 * -ENOMEM, and doc is left empty. err may be NULL.
 */
int sv_rtcpjson_load(const void *text, size_t len, struct sv_rtcpjson *doc, char *err,
                     size_t errlen);

/* Frees what sv_rtcpjson_load() allocated; leaves doc empty. Accepts NULL. */
void sv_rtcpjson_release(struct sv_rtcpjson *doc);

#endif
