#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "call/deeplink.h"
#include "testutil.h"

#include <string.h>

#define SECRET "s3cret"

static int parse(const char *t, struct sv_dl_request *r)
{
	return sv_dl_parse(t, strlen(t), r);
}

static void test_decode(void **state)
{
	struct sv_buf b;
	(void)state;
	sv_buf_init(&b);
	assert_int_equal(sv_dl_url_decode("a%2Fb+c%25", 10, 1, &b), 0);
	assert_string_equal((char *)b.data, "a/b c%");
	sv_buf_reset(&b);
	assert_int_equal(sv_dl_url_decode("a+b", 3, 0, &b), 0);
	assert_string_equal((char *)b.data, "a+b");
	sv_buf_reset(&b);
	assert_int_equal(sv_dl_url_decode("a%00", 4, 0, &b), SV_E_PARSE);
	assert_int_equal(sv_dl_url_decode("a%2", 3, 0, &b), SV_E_PARSE);
	assert_int_equal(sv_dl_url_decode("%zz", 3, 0, &b), SV_E_PARSE);
	assert_int_equal(sv_dl_url_decode("%", 1, 0, &b), SV_E_PARSE);
	assert_int_equal(b.len, 0);
	/* decoded once: %2525 is "%25", not "%" */
	assert_int_equal(sv_dl_url_decode("%2525", 5, 0, &b), 0);
	assert_string_equal((char *)b.data, "%25");
	sv_buf_release(&b);
}

static void test_parse_path_forms(void **state)
{
	struct sv_dl_request r;
	(void)state;
	assert_int_equal(parse("/calls/abc%40x?customer=acme&ts=10&sig=ab&date=2026-02-28", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_SUMMARY);
	assert_string_equal(r.call_id, "abc@x");
	assert_string_equal(r.customer, "acme");
	assert_string_equal(r.ts, "10");
	assert_string_equal(r.sig, "ab");
	assert_int_equal(r.year, 2026);
	assert_int_equal(r.month, 2);
	assert_int_equal(r.day, 28);
	sv_dl_request_release(&r);

	assert_int_equal(parse("/calls/a%2Fb%20c/sip", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_SIP);
	assert_string_equal(r.call_id, "a/b c");
	assert_null(r.customer);
	sv_dl_request_release(&r);

	assert_int_equal(parse("/calls/x/logs", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_LOGS);
	sv_dl_request_release(&r);
	assert_int_equal(parse("/calls/x/chat", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_CHAT);
	sv_dl_request_release(&r);
	assert_int_equal(parse("/calls/x/artifacts/sip.pcap.gz", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_ARTIFACT);
	assert_string_equal(r.artifact, "sip.pcap.gz");
	sv_dl_request_release(&r);

	/* query form: '+' is a space there, the path names the endpoint only */
	assert_int_equal(parse("/calls/sip?call_id=a%2Fb+%2B%25%3D@x&customer=acme", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_SIP);
	assert_string_equal(r.call_id, "a/b +%=@x");
	assert_true(r.call_id_in_query);
	sv_dl_request_release(&r);
	assert_int_equal(parse("/calls?call_id=sip", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_SUMMARY);
	assert_string_equal(r.call_id, "sip");
	sv_dl_request_release(&r);
	assert_int_equal(parse("/calls/?call_id=x", &r), 0);
	assert_int_equal(r.endpoint, SV_DL_SUMMARY);
	sv_dl_request_release(&r);
}

static void test_parse_refusals(void **state)
{
	struct sv_dl_request r;
	(void)state;
	assert_int_equal(parse("/health", &r), SV_E_NOTFOUND);
	assert_int_equal(parse("/callsx/a", &r), SV_E_NOTFOUND);
	assert_int_equal(parse("/calls/a/other", &r), SV_E_NOTFOUND);
	assert_int_equal(parse("/calls/a/", &r), SV_E_NOTFOUND);
	assert_int_equal(parse("/calls/a/artifacts/x/y", &r), SV_E_NOTFOUND);
	assert_int_equal(parse("/calls", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a%00b", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a?call_id=x%00", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/..", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/../etc", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/%2E%2E", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/..%2F..%2Fetc", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a%2F..%2Fb", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls?call_id=../x", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a/artifacts/..", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a/artifacts/%2E%2E", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a/artifacts/x%2Fy", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a?customer=x&customer=y", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a?date=2026-02-30", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a?date=2026-2-3", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls/a%zz", &r), SV_E_PARSE);
	assert_int_equal(parse("/calls?call_id=", &r), SV_E_PARSE);
	/* a..b is a fine Call-ID */
	assert_int_equal(parse("/calls/a..b", &r), 0);
	sv_dl_request_release(&r);
}

static void verify_case(const char *customer, int known, const char *id, const char *ts,
                        const char *sig, int64_t now, enum sv_dl_verdict want)
{
	assert_int_equal(sv_dl_verify(SECRET, strlen(SECRET), customer, known, id,
	                              id != NULL ? strlen(id) : 0, ts, sig, now, 3600),
	                 want);
}

static void test_verify(void **state)
{
	char sig[65], other[65], up[65];
	size_t i;
	(void)state;
	assert_int_equal(sv_dl_sign(SECRET, strlen(SECRET), "acme", "c1@x", 4, "1000000", sig), 0);
	/* known answer: python3 -c "import hmac,hashlib;print(hmac.new(b's3cret',
	 * b'acme\nc1@x\n1000000',hashlib.sha256).hexdigest())" */
	assert_string_equal(sig,
	                    "f7f0f3a9254ca03eb68931d620600c613532268a54fd5dcc878f8ef949a89f99");
	verify_case("acme", 1, "c1@x", "1000000", sig, 1000000, SV_DL_OK);
	verify_case("acme", 1, "c1@x", "1000000", sig, 1003600, SV_DL_OK);
	verify_case("acme", 1, "c1@x", "1000000", sig, 1003601, SV_DL_EXPIRED);
	verify_case("acme", 1, "c1@x", "1000000", sig, 1000000 - 60, SV_DL_OK);
	verify_case("acme", 1, "c1@x", "1000000", sig, 1000000 - 61, SV_DL_FUTURE);
	verify_case("acme", 1, "c2@x", "1000000", sig, 1000000, SV_DL_BAD_SIGNATURE);
	verify_case("beta", 1, "c1@x", "1000000", sig, 1000000, SV_DL_BAD_SIGNATURE);
	verify_case("acme", 1, "c1@x", "1000001", sig, 1000000, SV_DL_BAD_SIGNATURE);
	verify_case("nope", 0, "c1@x", "1000000", sig, 1000000, SV_DL_UNKNOWN_CUSTOMER);
	verify_case(NULL, 1, "c1@x", "1000000", sig, 1000000, SV_DL_MISSING);
	verify_case("acme", 1, "c1@x", NULL, sig, 1000000, SV_DL_MISSING);
	verify_case("acme", 1, "c1@x", "1000000", NULL, 1000000, SV_DL_MISSING);
	verify_case("acme", 1, "c1@x", "1e6", sig, 1000000, SV_DL_MALFORMED);
	verify_case("acme", 1, "c1@x", "", sig, 1000000, SV_DL_MALFORMED);
	verify_case("acme", 1, "c1@x", "1000000", "abcd", 1000000, SV_DL_MALFORMED);
	memcpy(other, sig, sizeof(other));
	other[63] = 'g';
	verify_case("acme", 1, "c1@x", "1000000", other, 1000000, SV_DL_MALFORMED);
	other[63] = sig[63] == '0' ? '1' : '0';
	verify_case("acme", 1, "c1@x", "1000000", other, 1000000, SV_DL_BAD_SIGNATURE);
	/* a forged link with an old ts is counted as forged, not as expired */
	verify_case("acme", 1, "c1@x", "1", other, 1000000, SV_DL_BAD_SIGNATURE);
	for (i = 0; i < 64; i++)
		up[i] = (char)(sig[i] >= 'a' ? sig[i] - 32 : sig[i]);
	up[64] = 0;
	verify_case("acme", 1, "c1@x", "1000000", up, 1000000, SV_DL_OK);
	assert_string_equal(sv_dl_verdict_name(SV_DL_EXPIRED), "expired");
	assert_string_equal(sv_dl_verdict_name(99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_parse_path_forms),
	    cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
