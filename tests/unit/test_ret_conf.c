#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "ret_conf.h"
#include "store/customers.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sv_customers *load_customers(void)
{
	static const char json[] =
	    "[{\"id\":\"acme\",\"token\":\"tok-acme\",\"bucket\":\"acme-calls\"},"
	    " {\"id\":\"beta.co_2\",\"token\":\"tok-beta\",\"bucket\":\"beta.calls\"}]";
	struct sv_customers *cs = NULL;
	char err[512] = "";
	if (sv_customers_parse(json, strlen(json), &cs, err, sizeof(err)) != 0)
		fail_msg("customers rejected: %s", err);
	return cs;
}

/* ---------------------------------------------------------------- retention */

static void test_retention_ok(void **state)
{
	const char *y = "# retention\n"
	                "default:\n"
	                "  sip_pcap_days: 90\n"
	                "  rtcp_raw_days: 90\n"
	                "  quality_json_days: 365\n"
	                "  log_chunks_days: 30\n"
	                "customers:\n"
	                "  acme:\n"
	                "    sip_pcap_days: 30\n"
	                "    log_chunks_days: forever\n"
	                "  beta: {quality_json_days: 7}\n"
	                "  gamma:\n";
	struct sv_retention_conf c;
	char err[512] = "";
	int rc = sv_retention_conf_parse(&c, y, strlen(y), "r.yml", err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(sv_retention_days(&c, NULL, SV_RET_SIP), 90);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 90);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), SV_RET_FOREVER);
	assert_int_equal(sv_retention_days(&c, "beta", SV_RET_QUALITY), 7);
	assert_int_equal(sv_retention_days(&c, "gamma", SV_RET_QUALITY), 365);
	assert_int_equal(sv_retention_days(&c, "zeta", SV_RET_LOGS), 30);
	assert_int_equal(c.n_customers, 3);
	assert_int_equal(c.customers[1].line, 11);
	assert_string_equal(sv_ret_type_name(SV_RET_QUALITY), "quality");
	assert_string_equal(sv_ret_type_key(SV_RET_QUALITY), "quality_json_days");

	struct sv_customers *cs = load_customers(); /* acme, beta.co_2 */
	assert_int_equal(sv_retention_conf_check(&c, cs, err, sizeof(err)), SV_E_CONFIG);
	assert_string_equal(err, "r.yml:11: customers: beta: not in SIPVAULT_CUSTOMERS");
	sv_customers_free(cs);
	sv_retention_conf_release(&c);

	/* Empty file and keys left out: the guide's defaults 7, 7, 30, 14. */
	rc = sv_retention_conf_parse(&c, "", 0, "r.yml", err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 7);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 7);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_QUALITY), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 14);
	sv_retention_conf_release(&c);
	const char *y2 = "default:\n  log_chunks_days: 1\n";
	rc = sv_retention_conf_parse(&c, y2, strlen(y2), "r.yml", err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 1);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 7);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_QUALITY), 30);
	sv_retention_conf_release(&c);
	const char *y3 = "default:\ncustomers:\n  acme:\n    rtcp_raw_days: 3\n";
	rc = sv_retention_conf_parse(&c, y3, strlen(y3), "r.yml", err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 3);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 14);
	sv_retention_conf_release(&c);
}

/* The configuration guide's retention.yml, verbatim. */
static const char *const guide_retention =
    "# /etc/sipvault/retention.yml\n"
    "# Run nightly via cron: 0 3 * * * /usr/local/bin/sipvault-retention\n"
    "\n"
    "default:\n"
    "  sip_pcap_days: 7\n"
    "  rtcp_raw_days: 7\n"
    "  quality_json_days: 30\n"
    "  log_chunks_days: 14\n"
    "\n"
    "customers:\n"
    "  # Per-customer overrides using the customer ID as key\n"
    "  acme:\n"
    "    sip_pcap_days: 30\n"
    "    rtcp_raw_days: 30\n"
    "    quality_json_days: 365\n"
    "    log_chunks_days: 90\n";

static void test_retention_guide(void **state)
{
	struct sv_retention_conf c;
	char err[512] = "";
	int rc = sv_retention_conf_parse(&c, guide_retention, strlen(guide_retention), "r.yml", err,
	                                 sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_SIP), 7);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_RTCP), 7);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_QUALITY), 30);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_LOGS), 14);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_QUALITY), 365);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 90);
	assert_int_equal(c.customers[0].line, 12);
	sv_retention_conf_release(&c);
}

static void ret_bad(const char *y, const char *expect)
{
	struct sv_retention_conf c;
	char err[512] = "";
	int rc = sv_retention_conf_parse(&c, y, strlen(y), "/etc/sipvault/retention.yml", err,
	                                 sizeof(err));
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", y);
	if (strstr(err, expect) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, expect);
	assert_null(c.customers);
}

static void test_retention_errors(void **state)
{
	ret_bad("default:\n  sip_pcap_days: 90\n  rtcp_raw_days: 0\n",
	        "retention.yml:3: default: rtcp_raw_days: must be 1..36500 days or \"forever\", "
	        "got \"0\"");
	ret_bad("default:\n  sip_pcap_days: 90\n  video: 3\n",
	        "retention.yml:3: default: \"video\": unknown key");
	ret_bad("default:\n  sip_pcap_days: 9\nkeep: 1\n",
	        "retention.yml:3: \"keep\": unknown key");
	ret_bad("defaults:\n  sip: 9\n", "retention.yml:1: \"defaults\": unknown key (expected "
	                                 "default, customers)");
	ret_bad("default:\n  sip_pcap_days: 9\n  sip_pcap_days: 10\n",
	        "retention.yml:3: default: sip_pcap_days: duplicate key");
	ret_bad("default:\n  sip_pcap_days: [1, 2]\n",
	        "retention.yml:2: default: sip_pcap_days: must be a value or a mapping");
	ret_bad("default:\n  sip_pcap_days: 36501\n", "retention.yml:2:");
	ret_bad("default:\n  sip_pcap_days: 9.5\n", "retention.yml:2:");
	ret_bad("default:\n  sip_pcap_days: {a: 1}\n",
	        "retention.yml:2: default: sip_pcap_days: must be 1..36500 days or \"forever\", "
	        "got a mapping");
	ret_bad("default: 90\n", "retention.yml:1: default: must be a mapping");
	ret_bad("- sip\n", "retention.yml:1: the file must be a mapping");
	ret_bad("7\n", "retention.yml:1: the file must be a mapping");
	ret_bad("default:\n  sip_pcap_days: 9\n customers: {\n",
	        "retention.yml:3: YAML syntax error");
	ret_bad("default: {sip_pcap_days: 1\n", "YAML syntax error");
	ret_bad("customers:\n  acme:\n    sip_pcap_days: 1\n  \"a/b\":\n    sip_pcap_days: 2\n",
	        "retention.yml:4: customers: \"a/b\": not a customer id");
	ret_bad("customers:\n  acme:\n    sip_pcap_days: 1\n    log_chunks_days: never\n",
	        "retention.yml:4: customers: acme: log_chunks_days: must be");
	ret_bad("customers:\n  acme: 5\n", "retention.yml:2: customers: acme: must be a mapping");
	ret_bad("customers: [a]\n", "retention.yml:1: customers: must be a value or a mapping");
	ret_bad("customers: 5\n", "retention.yml:1: customers: must be a mapping");
	ret_bad("customers:\n  acme: {}\n  acme: {}\n",
	        "retention.yml:3: customers: acme: duplicate");
	ret_bad("? [a]\n: 1\n", "keys must be plain names");
	ret_bad("default: {}\n---\ndefault: {}\n", "retention.yml:3: only one YAML document");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retention_ok),
	    cmocka_unit_test(test_retention_guide),
	    cmocka_unit_test(test_retention_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
