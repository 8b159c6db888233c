#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api_conf.h"
#include "base/errors.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cust_one =
    "[{\"id\":\"acme\",\"token\":\"s3cret\",\"bucket\":\"acme-calls\"}]";

/* ---------------------------------------------------------------- api */

static void test_api(void **state)
{
	char env_c[256];
	struct sv_api_conf c;
	char err[512] = "";
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {env_c, "SIPVAULT_HMAC_SECRET=k", NULL};
	int rc = sv_api_conf_parse(&c, NULL, 0, NULL, env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.listen.host, "127.0.0.1");
	assert_int_equal(c.listen.port, 8000);
	assert_int_equal(c.hmac_max_age, 3600); /* the guide's default */
	assert_int_equal(c.ai_provider, SV_AI_NONE);
	assert_string_equal(c.anthropic_base_url, "https://api.anthropic.com");
	assert_string_equal(c.sippulse_api_url, "https://api.sippulse.ai/v1");
	assert_string_equal(c.sippulse_model, "glm-4.7");
	assert_string_equal(c.s3_region, "auto");
	assert_null(c.anthropic_model);
	sv_api_conf_release(&c);

	const char *env2[] = {env_c, "SIPVAULT_HMAC_SECRET=k", "ANTHROPIC_API_KEY=ak", NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, NULL, env2, err, sizeof(err)), 0);
	assert_int_equal(c.ai_provider, SV_AI_ANTHROPIC);
	sv_api_conf_release(&c);
	const char *env3[] = {env_c, "SIPVAULT_HMAC_SECRET=k", "ANTHROPIC_API_KEY=ak",
	                      "SIPPULSE_API_KEY=sk", NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, NULL, env3, err, sizeof(err)), 0);
	assert_int_equal(c.ai_provider, SV_AI_SIPPULSE);
	sv_api_conf_release(&c);
	const char *j = "SIPVAULT_AI_PROVIDER=anthropic\nSIPVAULT_HMAC_MAX_AGE=7d\n";
	assert_int_equal(sv_api_conf_parse(&c, j, strlen(j), "api.env", env3, err, sizeof(err)), 0);
	assert_int_equal(c.ai_provider, SV_AI_ANTHROPIC);
	assert_int_equal(c.hmac_max_age, 7 * 86400);
	sv_api_conf_release(&c);

	const char *env4[] = {env_c, "SIPVAULT_HMAC_SECRET=k", "SIPVAULT_AI_PROVIDER=sippulse",
	                      NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, "api.env", env4, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(
	    strstr(err, "SIPPULSE_API_KEY: required when SIPVAULT_AI_PROVIDER is sippulse"));
	const char *env5[] = {env_c, NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, "api.env", env5, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "SIPVAULT_HMAC_SECRET: required"));
	const char *j2 = "# api\nANTHROPIC_BASE_URL=api.anthropic.com\n";
	assert_int_equal(sv_api_conf_parse(&c, j2, strlen(j2), "api.env", env, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "api.env:2: ANTHROPIC_BASE_URL: must be an http"));
	const char *j3 = "SIPVAULT_LISTEN_TCP=:1\n"; /* a server key */
	assert_int_equal(sv_api_conf_parse(&c, j3, strlen(j3), "api.env", env, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "api.env:1: SIPVAULT_LISTEN_TCP: unknown key"));
	/* An endpoint needs the guide's AWS_* keys. */
	const char *j4 = "SIPVAULT_S3_ENDPOINT=https://x.r2.cloudflarestorage.com\n"
	                 "AWS_ACCESS_KEY_ID=a\n";
	assert_int_equal(sv_api_conf_parse(&c, j4, strlen(j4), "api.env", env, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY: required when SIPVAULT_S3_ENDPOINT"));
}

/* The configuration guide's example api.env, verbatim. */
static const char *const guide_api_env =
    "SIPVAULT_S3_ENDPOINT=https://abcdef1234567890.r2.cloudflarestorage.com\n"
    "SIPVAULT_S3_REGION=auto\n"
    "SIPVAULT_HMAC_SECRET=YOUR_HMAC_SECRET_HERE\n"
    "SIPVAULT_HMAC_MAX_AGE=3600\n"
    "SIPPULSE_API_URL=https://api.sippulse.ai/v1\n"
    "SIPPULSE_API_KEY=your_sippulse_ai_key\n"
    "SIPPULSE_AI_MODEL=glm-4.7\n"
    "ANTHROPIC_API_KEY=your_anthropic_key\n"
    "AWS_ACCESS_KEY_ID=your_r2_read_access_key\n"
    "AWS_SECRET_ACCESS_KEY=your_r2_read_secret_key\n";

static void test_api_guide_and_customers(void **state)
{
	struct sv_api_conf c;
	char err[512] = "";
	const char *env[] = {"SIPVAULT_HMAC_MAX_AGE=60", "SIPPULSE_AI_MODEL=other", NULL};
	int rc = sv_api_conf_parse(&c, guide_api_env, strlen(guide_api_env), "api.env", env, err,
	                           sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c.hmac_max_age, 60);           /* the environment wins */
	assert_string_equal(c.sippulse_model, "other"); /* the environment wins */
	assert_string_equal(c.hmac_secret, "YOUR_HMAC_SECRET_HERE");
	assert_string_equal(c.s3_access_key, "your_r2_read_access_key");
	assert_string_equal(c.s3_secret_key, "your_r2_read_secret_key");
	assert_string_equal(c.s3_endpoint, "https://abcdef1234567890.r2.cloudflarestorage.com");
	assert_int_equal(c.ai_provider, SV_AI_SIPPULSE);
	assert_null(c.customers); /* not in the guide's api.env */

	/* Customers from the server's env file; its other keys are not looked at. */
	const char *srv = "SIPVAULT_LISTEN_TCP=:9060\n"
	                  "SIPVAULT_CUSTOMERS=[{\"id\":\"acme\",\"token\":\"securetoken123\","
	                  "\"bucket\":\"sipvault-acme-us\"}]\n";
	assert_int_equal(sv_api_conf_server_env(&c, srv, strlen(srv), "s.env", err, sizeof(err)),
	                 0);
	assert_string_equal(c.customers->v[0].bucket, "sipvault-acme-us");
	assert_int_equal(sv_api_conf_server_env(&c, NULL, 0, "s.env", err, sizeof(err)), 0);
	sv_api_conf_release(&c);

	assert_int_equal(sv_api_conf_parse(&c, guide_api_env, strlen(guide_api_env), "api.env",
	                                   NULL, err, sizeof(err)),
	                 0);
	assert_int_equal(sv_api_conf_server_env(&c, NULL, 0, "s.env", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "SIPVAULT_CUSTOMERS: required"));
	const char *srv2 = "SIPVAULT_LOG_LEVEL=info\n\nSIPVAULT_CUSTOMERS=[]\n";
	assert_int_equal(sv_api_conf_server_env(&c, srv2, strlen(srv2), "s.env", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "s.env:3: SIPVAULT_CUSTOMERS: at least one"));
	sv_api_conf_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_api),
	    cmocka_unit_test(test_api_guide_and_customers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
