#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "store/s3xml.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Real answers of Swift's s3api (captured with boto3) and hand-made edge cases
 * live in the fuzz corpus; the tests read them from there. */
static void corpus(const char *name, struct sv_buf *out)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "tests/fuzz/corpus/s3xml/%s", name);
	sv_buf_init(out);
	tu_read_file(tu_source(rel), out);
}

static void test_error_documents(void **state)
{
	struct sv_buf b;
	struct sv_s3_error_doc e;
	corpus("swift-error-nosuchkey.xml", &b);
	assert_int_equal(sv_s3xml_parse_error(b.data, b.len, &e), 0);
	assert_string_equal(e.code, "NoSuchKey");
	assert_string_equal(e.message, "The specified key does not exist.");
	assert_string_equal(e.request_id, "txd729357c8efc4c63af69e-006b07f500");
	assert_string_equal(e.region, "");
	sv_buf_release(&b);

	corpus("swift-error-signature.xml", &b);
	assert_int_equal(sv_s3xml_parse_error(b.data, b.len, &e), 0);
	assert_string_equal(e.code, "SignatureDoesNotMatch");
	assert_non_null(strstr(e.message, "signature we calculated does not match"));
	assert_true(strncmp(e.request_id, "tx", 2) == 0);
	sv_buf_release(&b);

	corpus("error-region.xml", &b);
	assert_int_equal(sv_s3xml_parse_error(b.data, b.len, &e), 0);
	assert_string_equal(e.code, "AuthorizationHeaderMalformed");
	assert_string_equal(e.region, "auto");
	assert_non_null(strstr(e.message, "the region 'us-west-2' is wrong"));
	sv_buf_release(&b);

	/* A message longer than the field is cut, NUL-terminated. */
	struct sv_buf big;
	sv_buf_init(&big);
	sv_buf_append_str(&big, "<Error><Code>C</Code><Message>");
	for (int i = 0; i < 3000; i++)
		sv_buf_append_str(&big, "m");
	sv_buf_append_str(&big, "</Message></Error>");
	assert_int_equal(sv_s3xml_parse_error(big.data, big.len, &e), 0);
	assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
	sv_buf_release(&big);
}

static void test_refused_documents(void **state)
{
	static const char *const bad[] = {"doctype-entity.xml", "truncated.xml", "wrong-root.xml",
	                                  "empty.xml",          "deep.xml",      "control-char.xml",
	                                  "bad-utf8.xml"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sv_buf b;
		corpus(bad[i], &b);
		struct sv_s3_error_doc e;
		struct sv_s3_list l;
		struct sv_s3_delete_result d;
		assert_int_equal(sv_s3xml_parse_error(b.data, b.len, &e), SV_E_PARSE);
		assert_string_equal(e.code, "");
		assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), SV_E_PARSE);
		assert_int_equal(l.n_objects, 0);
		assert_int_equal(sv_s3xml_parse_delete(b.data, b.len, &d), SV_E_PARSE);
		sv_buf_release(&b);
	}
	struct sv_s3_list l;
	struct sv_buf b;
	corpus("list-missing-key.xml", &b);
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), SV_E_PARSE);
	sv_buf_release(&b);
	corpus("list-bad-size.xml", &b);
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), SV_E_PARSE);
	sv_buf_release(&b);
	/* A key beyond the text limit. */
	sv_buf_init(&b);
	sv_buf_append_str(&b, "<ListBucketResult><Contents><Key>");
	for (unsigned i = 0; i < SV_S3XML_MAX_TEXT + 1; i++)
		sv_buf_append_str(&b, "k");
	sv_buf_append_str(&b, "</Key></Contents></ListBucketResult>");
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), SV_E_TOOBIG);
	assert_int_equal(l.n_objects, 0);
	sv_buf_release(&b);
	assert_int_equal(sv_s3xml_parse_list(NULL, 0, &l), SV_E_PARSE);
	assert_int_equal(sv_s3xml_parse_list("<ListBucketResult/>", SV_S3XML_MAX_DOC + 1, &l),
	                 SV_E_TOOBIG);
}

static void test_list_swift(void **state)
{
	struct sv_buf b;
	struct sv_s3_list l;
	corpus("swift-list-truncated.xml", &b);
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), 0);
	assert_int_equal(l.n_objects, 2);
	assert_string_equal(l.objects[0].key, "a/1.txt");
	assert_int_equal(l.objects[0].size, 5);
	assert_string_equal(l.objects[0].etag, "\"fb0e22c79ac75679e9881e6ba183b354\"");
	assert_string_equal(l.objects[0].last_modified, "2026-11-26T08:59:45.000Z");
	/* boto3 asked for encoding-type=url; the key arrives as Swift sent it. */
	assert_string_equal(l.objects[1].key, "a/2%20%26%20%3Cx%3E.txt");
	assert_true(l.truncated);
	assert_string_equal(l.next_token, "YS8yICYgPHg+LnR4dA==");
	assert_int_equal(l.key_count, 2);
	assert_int_equal(l.n_prefixes, 0);
	sv_s3_list_release(&l);
	sv_s3_list_release(&l); /* idempotent */
	sv_buf_release(&b);

	corpus("swift-list-delimiter.xml", &b);
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), 0);
	assert_false(l.truncated);
	assert_null(l.next_token);
	assert_int_equal(l.n_objects, 1);
	assert_int_equal(l.n_prefixes, 2);
	assert_string_equal(l.prefixes[0], "a/");
	assert_string_equal(l.prefixes[1], "b/");
	sv_s3_list_release(&l);
	sv_buf_release(&b);

	corpus("swift-list-empty.xml", &b);
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), 0);
	assert_int_equal(l.n_objects, 0);
	assert_int_equal(l.key_count, 0);
	sv_s3_list_release(&l);
	sv_buf_release(&b);
}

static void test_list_other_shapes(void **state)
{
	struct sv_buf b;
	struct sv_s3_list l;
	corpus("list-ns-prefix.xml", &b);
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), 0);
	assert_int_equal(l.n_objects, 1);
	assert_string_equal(l.objects[0].key, "k & \xc3\xa9");
	assert_int_equal(l.objects[0].size, 0);
	assert_string_equal(l.objects[0].etag, "");
	assert_int_equal(l.n_prefixes, 1);
	assert_string_equal(l.prefixes[0], "p/");
	sv_s3_list_release(&l);
	sv_buf_release(&b);

	corpus("aws-list-prefixes.xml", &b);
	assert_int_equal(sv_s3xml_parse_list(b.data, b.len, &l), 0);
	assert_int_equal(l.n_objects, 1);
	assert_string_equal(l.objects[0].key, "calls/2026/sip.pcap.gz");
	assert_int_equal(l.objects[0].size, 1234);
	assert_string_equal(l.objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
	assert_int_equal(l.n_prefixes, 2);
	assert_string_equal(l.prefixes[1], "calls/2026/12/");
	/* <Prefix> of the result itself is not a common prefix. */
	sv_s3_list_release(&l);
	sv_buf_release(&b);
}

static void test_delete_results(void **state)
{
	struct sv_buf b;
	struct sv_s3_delete_result d;
	corpus("swift-delete.xml", &b);
	assert_int_equal(sv_s3xml_parse_delete(b.data, b.len, &d), 0);
	assert_int_equal(d.n_deleted, 2);
	assert_string_equal(d.deleted[0], "a/1.txt");
	assert_string_equal(d.deleted[1], "nope");
	assert_int_equal(d.n_errors, 0);
	sv_s3_delete_result_release(&d);
	sv_buf_release(&b);

	corpus("swift-delete-quiet.xml", &b);
	assert_int_equal(sv_s3xml_parse_delete(b.data, b.len, &d), 0);
	assert_int_equal(d.n_deleted, 0);
	assert_int_equal(d.n_errors, 0);
	sv_s3_delete_result_release(&d);
	sv_buf_release(&b);

	corpus("delete-errors.xml", &b);
	assert_int_equal(sv_s3xml_parse_delete(b.data, b.len, &d), 0);
	assert_int_equal(d.n_deleted, 1);
	assert_string_equal(d.deleted[0], "gone");
	assert_int_equal(d.n_errors, 2);
	assert_string_equal(d.errors[0].key, "locked/<1>");
	assert_string_equal(d.errors[0].code, "AccessDenied");
	assert_string_equal(d.errors[0].message, "Access Denied");
	assert_string_equal(d.errors[1].key, "x");
	assert_string_equal(d.errors[1].code, "InternalError");
	assert_string_equal(d.errors[1].message, "");
	sv_s3_delete_result_release(&d);
	sv_buf_release(&b);

	/* An <Error> without a <Key> is refused, not silently dropped. */
	const char *nokey = "<DeleteResult><Error><Code>X</Code></Error></DeleteResult>";
	assert_int_equal(sv_s3xml_parse_delete(nokey, strlen(nokey), &d), SV_E_PARSE);
	assert_int_equal(d.n_errors, 0);
}

static void test_build_delete(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	const char *keys[] = {"a/1.txt", "x & <y> \"q\" 'z'", "tab\there"};
	assert_int_equal(sv_s3xml_build_delete(keys, 3, 1, &b), 0);
	assert_int_equal(sv_buf_append(&b, "", 1), 0);
	assert_string_equal(
	    (const char *)b.data,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Quiet>true</Quiet>"
	    "<Object><Key>a/1.txt</Key></Object>"
	    "<Object><Key>x &amp; &lt;y&gt; &quot;q&quot; &apos;z&apos;</Key></Object>"
	    "<Object><Key>tab&#9;here</Key></Object>"
	    "</Delete>");
	sv_buf_reset(&b);
	assert_int_equal(sv_s3xml_build_delete(keys, 1, 0, &b), 0);
	assert_null(strstr((const char *)b.data, "Quiet"));
	size_t len = b.len;
	const char *ctl[] = {"ok", "bell\x07"};
	assert_int_equal(sv_s3xml_build_delete(ctl, 2, 0, &b), -EINVAL);
	assert_int_equal(b.len, len); /* unchanged on error */
	assert_int_equal(sv_s3xml_build_delete(keys, 0, 0, &b), -EINVAL);
	const char **many = calloc(1001, sizeof(char *));
	for (int i = 0; i < 1001; i++)
		many[i] = "k";
	assert_int_equal(sv_s3xml_build_delete(many, 1001, 0, &b), -EINVAL);
	sv_buf_reset(&b);
	assert_int_equal(sv_s3xml_build_delete(many, 1000, 0, &b), 0);
	free(many);
	const char *empty[] = {""};
	assert_int_equal(sv_s3xml_build_delete(empty, 1, 0, &b), -EINVAL);
	sv_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_documents), cmocka_unit_test(test_refused_documents),
	    cmocka_unit_test(test_list_swift),      cmocka_unit_test(test_list_other_shapes),
	    cmocka_unit_test(test_delete_results),  cmocka_unit_test(test_build_delete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
