/*
 * Feeds arbitrary request targets to the deep-link parser and verifier and
 * aborts when an invariant breaks: a parsed Call-ID is non-empty, holds no
 * NUL, is never "." or ".." nor holds such a segment; an artifact name holds
 * no '/'; a link signed with the parsed fields verifies, and flipping one
 * byte of the Call-ID makes it fail.
 */
#include "base/buf.h"
#include "call/deeplink.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_dl_request r;
	char sig[65];
	int rc;

	rc = sv_dl_parse((const char *)data, size, &r);
	if (rc != 0)
		return 0;
	check(r.call_id != NULL && r.call_id_len > 0);
	check(memchr(r.call_id, 0, r.call_id_len) == NULL);
	check(strcmp(r.call_id, ".") != 0 && strcmp(r.call_id, "..") != 0);
	check(strstr(r.call_id, "/../") == NULL && strncmp(r.call_id, "../", 3) != 0);
	if (r.endpoint == SV_DL_ARTIFACT)
		check(r.artifact != NULL && strchr(r.artifact, '/') == NULL);
	if (r.customer != NULL && r.ts != NULL && r.ts[0] != 0 && strlen(r.ts) <= 18 &&
	    strspn(r.ts, "0123456789") == strlen(r.ts)) {
		int64_t now = strtoll(r.ts, NULL, 10);
		check(sv_dl_sign("k", 1, r.customer, r.call_id, r.call_id_len, r.ts, sig) == 0);
		check(sv_dl_verify("k", 1, r.customer, 1, r.call_id, r.call_id_len, r.ts, sig, now,
		                   10) == SV_DL_OK);
		r.call_id[0] ^= 1;
		check(sv_dl_verify("k", 1, r.customer, 1, r.call_id, r.call_id_len, r.ts, sig, now,
		                   10) == SV_DL_BAD_SIGNATURE);
	}
	if (r.sig != NULL)
		(void)sv_dl_verify("k", 1, r.customer, 1, r.call_id, r.call_id_len, r.ts, r.sig, 0,
		                   3600);
	sv_dl_request_release(&r);
	return 0;
}
