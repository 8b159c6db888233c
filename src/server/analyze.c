/*
 * analyze.c - `sipvault-server --analyze FILE`: rtcp.json(.gz) to quality.json.
 */
#include "server.h"

#include "base/buf.h"
#include "base/errors.h"
#include "base/gz.h"
#include "call/quality.h"
#include "call/rtcpjson.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Largest rtcp.json accepted (after decompression). */
#define ANALYZE_MAX_BYTES (256u << 20)

int srv_analyze(const char *path, FILE *out)
{
	struct sv_buf text, dump;
	struct sv_rtcpjson doc;
	json_t *report = NULL;
	char err[512];
	struct stat st;
	int rc, status = 1;

	sv_buf_init(&text);
	sv_buf_init(&dump);
	memset(&doc, 0, sizeof(doc));
	if (stat(path, &st) != 0) {
		fprintf(stderr, "sipvault-server: --analyze %s: cannot read: %s\n", path,
		        strerror(errno));
		return 2;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "sipvault-server: --analyze %s: not a regular file\n", path);
		return 2;
	}
	rc = sv_gz_read_file(path, ANALYZE_MAX_BYTES, &text);
	if (rc != 0) {
		status = rc == -ENOMEM || rc == -EIO ? 1 : 2;
		fprintf(stderr, "sipvault-server: --analyze %s: cannot read: %s\n", path,
		        rc == SV_E_TRUNC ? "gzip stream is truncated" : sv_strerror(rc));
		goto out;
	}
	rc = sv_rtcpjson_load(text.data, text.len, &doc, err, sizeof(err));
	if (rc != 0) {
		status = rc == SV_E_PARSE ? 2 : 1;
		fprintf(stderr, "sipvault-server: --analyze %s: %s\n", path,
		        rc == SV_E_PARSE ? err : sv_strerror(rc));
		goto out;
	}
	rc = sv_quality_build(&doc.call, doc.samples, doc.n_samples, SV_QUALITY_SRC_RTCP, &report);
	if (rc == 0)
		rc = sv_quality_dump(report, &dump);
	if (rc != 0) {
		fprintf(stderr, "sipvault-server: --analyze %s: %s\n", path, sv_strerror(rc));
		goto out;
	}
	if (fwrite(dump.data, 1, dump.len, out) != dump.len || fflush(out) != 0) {
		fprintf(stderr, "sipvault-server: --analyze %s: writing the report: %s\n", path,
		        strerror(errno));
		goto out;
	}
	status = 0;
out:
	json_decref(report);
	sv_rtcpjson_release(&doc);
	sv_buf_release(&text);
	sv_buf_release(&dump);
	return status;
}
