/*
 * torture_quality: every quality corpus document (rtcp.json) and the
 * analyzer's test inputs through the reader (rtcpjson), the report builder
 * (quality, from RTCP and from RTP samples) and the JSON dump.
 */
#include "torture.h"

#include "base/buf.h"
#include "call/quality.h"
#include "call/rtcpjson.h"

#include <string.h>

static int op(const uint8_t *data, size_t len)
{
	struct sv_rtcpjson doc;
	char err[256];

	if (torture_step(sv_rtcpjson_load(data, len, &doc, err, sizeof(err))) != 0) {
		if (torture_rc() == 0)
			torture_output(err, strlen(err));
		return torture_rc();
	}
	for (int src = 0; src < 2; src++) {
		json_t *report = NULL;
		struct sv_buf out;
		sv_buf_init(&out);
		if (torture_step(sv_quality_build(&doc.call, doc.samples, doc.n_samples,
		                                  (enum sv_quality_source)src, &report)) == 0 &&
		    torture_step(sv_quality_dump(report, &out)) == 0)
			torture_output(out.data, out.len);
		sv_buf_release(&out);
		json_decref(report);
	}
	sv_rtcpjson_release(&doc);
	return torture_rc();
}

int main(void)
{
	torture_init("quality");
	torture_dir("tests/fuzz/corpus/quality", op, 20, 65536);
	torture_dir("tests/data/analyze/in", op, 20, 65536);
	return torture_done();
}
