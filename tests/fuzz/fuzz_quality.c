/*
 * fuzz_quality: arbitrary bytes as an rtcp.json document, through the reader
 * (rtcpjson), the report builder (quality) and the JSON dump.
 */
#include "call/quality.h"
#include "call/rtcpjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_rtcpjson doc;
	char err[256];
	if (sv_rtcpjson_load(data, size, &doc, err, sizeof(err)) != 0) {
		/* The message is one NUL-terminated line. */
		if (strlen(err) >= sizeof(err) || strchr(err, '\n') != NULL)
			abort();
		return 0;
	}
	for (int src = 0; src < 2; src++) {
		json_t *report = NULL;
		struct sv_buf out;
		sv_buf_init(&out);
		if (sv_quality_build(&doc.call, doc.samples, doc.n_samples,
		                     (enum sv_quality_source)src, &report) != 0)
			abort(); /* a loaded document always builds (short of memory) */
		if (sv_quality_dump(report, &out) != 0)
			abort();
		sv_buf_release(&out);
		json_decref(report);
	}
	sv_rtcpjson_release(&doc);
	return 0;
}
