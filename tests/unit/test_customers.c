#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "store/customers.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- customers */

static const char *const good_customers =
    "[{\"id\":\"acme\",\"token\":\"tok-acme\",\"bucket\":\"acme-calls\","
    "\"hep_sources\":[\"10.0.0.0/8\",\"2001:db8::/32\"]},"
    " {\"id\":\"beta.co_2\",\"token\":\"tok-beta\",\"bucket\":\"beta.calls\","
    "\"hep_sources\":[\"10.1.0.0/16\",\"192.0.2.7/32\",\"::1/128\"]},"
    " {\"id\":\"all\",\"token\":\"tok-all\",\"bucket\":\"all-calls\",\"hep_sources\":[\"0.0.0.0/"
    "0\"]},"
    " {\"id\":\"nohep\",\"token\":\"tok-nohep\",\"bucket\":\"nohep\"}]";

static struct sv_customers *load_good(void)
{
	struct sv_customers *cs = NULL;
	char err[512] = "";
	int rc = sv_customers_parse(good_customers, strlen(good_customers), &cs, err, sizeof(err));
	if (rc != 0)
		fail_msg("good customers rejected: %s", err);
	return cs;
}

static void test_customers_valid_and_lookups(void **state)
{
	struct sv_customers *cs = load_good();
	const struct sv_customer *c;
	uint8_t a4[4], a6[16];

	assert_int_equal(cs->n, 4);
	assert_string_equal(cs->v[0].bucket, "acme-calls");
	assert_int_equal(cs->v[0].n_hep_sources, 2);
	assert_int_equal(cs->v[3].n_hep_sources, 0);

	assert_ptr_equal(sv_customers_find_by_id(cs, "beta.co_2"), &cs->v[1]);
	assert_null(sv_customers_find_by_id(cs, "BETA.co_2"));
	assert_null(sv_customers_find_by_id(cs, "acm"));
	assert_null(sv_customers_find_by_id(NULL, "acme"));

	assert_ptr_equal(sv_customers_find_by_token(cs, "tok-beta", 8), &cs->v[1]);
	assert_ptr_equal(sv_customers_find_by_token(cs, "tok-nohep", 9), &cs->v[3]);
	assert_null(sv_customers_find_by_token(cs, "tok-bet", 7));
	assert_null(sv_customers_find_by_token(cs, "tok-betaa", 9));
	assert_null(sv_customers_find_by_token(cs, "", 0));
	/* Lengths are explicit: an embedded NUL does not truncate the comparison. */
	assert_null(sv_customers_find_by_token(cs, "tok-beta\0x", 10));
	assert_true(sv_customer_token_ok(&cs->v[0], "tok-acme", 8));
	assert_false(sv_customer_token_ok(&cs->v[0], "tok-beta", 8));
	assert_false(sv_customer_token_ok(NULL, "tok-beta", 8));

	/* Longest prefix wins: 10.1.x is beta (/16) over acme (/8) over all (/0). */
	inet_pton(AF_INET, "10.1.2.3", a4);
	c = sv_customers_find_by_addr(cs, AF_INET, a4);
	assert_ptr_equal(c, &cs->v[1]);
	inet_pton(AF_INET, "10.2.0.1", a4);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET, a4), &cs->v[0]);
	inet_pton(AF_INET, "192.0.2.7", a4);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET, a4), &cs->v[1]);
	inet_pton(AF_INET, "192.0.2.8", a4);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET, a4), &cs->v[2]);
	inet_pton(AF_INET6, "2001:db8:1::5", a6);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET6, a6), &cs->v[0]);
	inet_pton(AF_INET6, "::1", a6);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET6, a6), &cs->v[1]);
	inet_pton(AF_INET6, "::2", a6);
	assert_null(sv_customers_find_by_addr(cs, AF_INET6, a6));
	inet_pton(AF_INET6, "::ffff:10.1.0.9", a6);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET6, a6), &cs->v[1]);
	sv_customers_free(cs);
	sv_customers_free(NULL);
}

/*
 * Token lookup: a near miss (same first 119 bytes) and a far miss are both
 * refused, the exact token is found. That the comparison is constant-time is
 * a property of the code (SHA-256 digests compared with CRYPTO_memcmp over
 * every customer, no early exit), not asserted with timings here: test
 * machines are shared and noisy.
 */
static void test_token_lookup(void **state)
{
	char json[8192], tok[200];
	struct sv_customers *cs = NULL;
	char err[256];
	size_t o = 0;
	o += (size_t)snprintf(json + o, sizeof(json) - o, "[");
	for (int i = 0; i < 20; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o,
		                      "%s{\"id\":\"c%d\",\"token\":\"%0120d\",\"bucket\":\"b-%d\"}",
		                      i ? "," : "", i, i, i);
	snprintf(json + o, sizeof(json) - o, "]");
	assert_int_equal(sv_customers_parse(json, strlen(json), &cs, err, sizeof(err)), 0);

	snprintf(tok, sizeof(tok), "%0120d", 19);
	tok[119] = 'x';
	assert_null(sv_customers_find_by_token(cs, tok, 120));
	char far[200];
	memset(far, 'z', 120);
	far[120] = '\0';
	assert_null(sv_customers_find_by_token(cs, far, 120));
	assert_null(sv_customers_find_by_token(cs, far, 0));
	snprintf(tok, sizeof(tok), "%0120d", 19);
	assert_null(sv_customers_find_by_token(cs, tok, 119));
	assert_ptr_equal(sv_customers_find_by_token(cs, tok, 120), &cs->v[19]);
	snprintf(tok, sizeof(tok), "%0120d", 0);
	assert_ptr_equal(sv_customers_find_by_token(cs, tok, 120), &cs->v[0]);
	sv_customers_free(cs);
}

static void cust_bad(const char *json, const char *expect)
{
	struct sv_customers *cs = (struct sv_customers *)1;
	char err[512] = "";
	int rc = sv_customers_parse(json, strlen(json), &cs, err, sizeof(err));
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", json);
	assert_null(cs);
	if (strstr(err, expect) == NULL)
		fail_msg("for %s: \"%s\" lacks \"%s\"", json, err, expect);
}

static void test_customers_invalid(void **state)
{
	cust_bad("", "not valid JSON");
	cust_bad("{}", "JSON array");
	cust_bad("[]", "at least one");
	cust_bad("[1]", "customers[0]: must be a JSON object");
	cust_bad("[{\"token\":\"t\",\"bucket\":\"abc\"}]", "customers[0]: id: missing");
	cust_bad("[{\"id\":\"a\",\"bucket\":\"abc\"}]", "customers[0] (id \"a\"): token: missing");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\"}]", "bucket: missing");
	cust_bad("[{\"id\":5,\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be a string");
	cust_bad("[{\"id\":\"\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be 1..64");
	cust_bad("[{\"id\":\"a/b\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be");
	cust_bad("[{\"id\":\"..\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be");
	cust_bad("[{\"id\":\"a b\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be");
	cust_bad("[{\"id\":\"a\\u0000b\",\"token\":\"t\",\"bucket\":\"abc\"}]", "not valid JSON");
	cust_bad("[{\"id\":\"a\",\"token\":\"\",\"bucket\":\"abc\"}]", "token: must be non-empty");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"ab\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"Abc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"-abc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc.\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"a..bc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"a_bc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"192.168.1.1\"}]", "bucket");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":"
	         "\"a234567890123456789012345678901234567890123456789012345678901234\"}]",
	         "bucket");
	cust_bad(
	    "[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"hep_sources\":\"10.0.0.0/8\"}]",
	    "hep_sources: must be an array");
	cust_bad(
	    "[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"hep_sources\":[\"10.0.0.0/33\"]}]",
	    "hep_sources[0]: not a CIDR");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\","
	         "\"hep_sources\":[\"::/0\",\"10.0.0.1/8\"]}]",
	         "hep_sources[1]");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"hep_sources\":[7]}]",
	         "hep_sources[0]");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"color\":\"red\"}]",
	         "customers[0] (id \"a\"): unknown field \"color\"");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"},"
	         "{\"id\":\"a\",\"token\":\"u\",\"bucket\":\"abd\"}]",
	         "customers[1] (id \"a\"): id: duplicate of customers[0]");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"},"
	         "{\"id\":\"b\",\"token\":\"t\",\"bucket\":\"abd\"}]",
	         "customers[1] (id \"b\"): token: same token as customers[0]");
	cust_bad("[{\"id\":\"a\",\"id\":\"b\",\"token\":\"t\",\"bucket\":\"abc\"}]",
	         "not valid JSON");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_customers_valid_and_lookups),
	    cmocka_unit_test(test_token_lookup),
	    cmocka_unit_test(test_customers_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
