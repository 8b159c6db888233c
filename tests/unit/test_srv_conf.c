#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "srv_conf.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_help_lists_every_server_key(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	sv_conf_print_help(f, sv_server_conf_keys, sv_server_conf_nkeys);
	fclose(f);
	for (size_t i = 0; i < sv_server_conf_nkeys; i++)
		assert_non_null(strstr(text, sv_server_conf_keys[i].name));
	free(text);
}

/* ---------------------------------------------------------------- server */

static const char *const cust_one =
    "[{\"id\":\"acme\",\"token\":\"s3cret\",\"bucket\":\"acme-calls\"}]";

static void server_bad(const char *json, const char *const *env, const char *expect)
{
	struct sv_server_conf c;
	char err[1024] = "";
	int rc = sv_server_conf_parse(&c, json, json != NULL ? strlen(json) : 0, "/etc/sv.conf",
	                              env, err, sizeof(err));
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", json != NULL ? json : "(env only)");
	if (strstr(err, expect) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, expect);
	assert_null(strchr(err, '\n'));
	assert_null(c.customers);
}

static void test_server_defaults_env_only(void **state)
{
	char env_c[256];
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {"PATH=/bin", env_c, NULL};
	struct sv_server_conf c;
	char err[512] = "";
	int rc = sv_server_conf_parse(&c, NULL, 0, NULL, env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_true(c.listen_tcp.enabled);
	assert_string_equal(c.listen_tcp.host, "");
	assert_int_equal(c.listen_tcp.port, 9060);
	assert_int_equal(c.listen_hep.port, 9060);
	assert_null(c.s3_endpoint);
	assert_string_equal(c.s3_region, "auto");
	assert_int_equal(c.customers->n, 1);
	assert_int_equal(c.log_level, SV_LOG_INFO);
	assert_string_equal(c.data_dir, "/var/lib/sipvault");
	assert_int_equal(c.pending_timeout, 300);
	assert_int_equal(c.active_timeout, 1800);
	assert_int_equal(c.closing_grace, 5);
	assert_int_equal(c.log_flush, 60);
	assert_false(c.metrics_listen.enabled);
	sv_server_conf_release(&c);
	sv_server_conf_release(&c); /* idempotent */

	server_bad(NULL, NULL, "SIPVAULT_CUSTOMERS: required");
	const char *e2[] = {env_c, "SIPVAULT_PENDING_TIMEOUT=0", NULL};
	server_bad(NULL, e2,
	           "environment variable SIPVAULT_PENDING_TIMEOUT: must be 1..86400 seconds");
	const char *e3[] = {env_c, "SIPVAULT_S3_ENDPOINT=https://r2.example.com",
	                    "SIPVAULT_S3_ACCESS_KEY=AK", NULL};
	server_bad(NULL, e3, "SIPVAULT_S3_SECRET_KEY: required when SIPVAULT_S3_ENDPOINT is set");
	const char *e4[] = {env_c, "SIPVAULT_S3_ENDPOINT=https://r2.example.com", NULL};
	server_bad(NULL, e4, "SIPVAULT_S3_ACCESS_KEY: required when");
	const char *e5[] = {"SIPVAULT_CUSTOMERS=[]", NULL};
	server_bad(NULL, e5, "environment variable SIPVAULT_CUSTOMERS: at least one customer");
}

static void test_server_file_and_precedence(void **state)
{
	const char *json = "{\n"
	                   "  \"SIPVAULT_LISTEN_TCP\": \"[::1]:9061\",\n"
	                   "  \"SIPVAULT_PENDING_TIMEOUT\": 120,\n"
	                   "  \"SIPVAULT_LOG_LEVEL\": \"debug\",\n"
	                   "  \"SIPVAULT_METRICS_LISTEN\": \"127.0.0.1:9100\",\n"
	                   "  \"SIPVAULT_S3_ENDPOINT\": \"https://s3.example.com\",\n"
	                   "  \"SIPVAULT_S3_ACCESS_KEY\": \"AK\",\n"
	                   "  \"SIPVAULT_S3_SECRET_KEY\": \"SK\",\n"
	                   "  \"SIPVAULT_CUSTOMERS\": [{\"id\": \"acme\", \"token\": \"t\",\n"
	                   "                          \"bucket\": \"acme-calls\"}]\n"
	                   "}\n";
	const char *env[] = {"SIPVAULT_PENDING_TIMEOUT=45", "SIPVAULT_LOG_LEVEL=", NULL};
	struct sv_server_conf c;
	char err[512] = "";
	int rc =
	    sv_server_conf_parse(&c, json, strlen(json), "/etc/sv.conf", env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.listen_tcp.host, "::1");
	assert_int_equal(c.listen_tcp.port, 9061);
	assert_int_equal(c.pending_timeout, 45);     /* the environment wins */
	assert_int_equal(c.log_level, SV_LOG_DEBUG); /* empty variable = unset */
	assert_true(c.metrics_listen.enabled);
	assert_int_equal(c.metrics_listen.port, 9100);
	assert_string_equal(c.s3_secret_key, "SK");
	assert_string_equal(c.customers->v[0].id, "acme");
	sv_server_conf_release(&c);

	/* Customers as a string in the file, and a customer error names the key's line. */
	const char *j2 =
	    "{\"SIPVAULT_CUSTOMERS\": \"[{\\\"id\\\":\\\"x\\\",\\\"token\\\":\\\"t\\\","
	    "\\\"bucket\\\":\\\"xyz\\\"}]\"}";
	rc = sv_server_conf_parse(&c, j2, strlen(j2), "f", NULL, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.customers->v[0].bucket, "xyz");
	sv_server_conf_release(&c);
	/* An env customers list replaces a broken file one without even reading it. */
	const char *env2[] = {
	    "SIPVAULT_CUSTOMERS=[{\"id\":\"e\",\"token\":\"t\",\"bucket\":\"eee\"}]", NULL};
	rc = sv_server_conf_parse(&c, "{\"SIPVAULT_CUSTOMERS\": 5}", 25, "f", env2, err,
	                          sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.customers->v[0].id, "e");
	sv_server_conf_release(&c);
}

static void test_server_file_errors(void **state)
{
	char env_c[256];
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {env_c, NULL};
	server_bad("{\n  \"SIPVAULT_LOG_LEVEL\": \"info\",\n\n  \"SIPVAULT_LISTEN_TPC\": \":1\"\n}",
	           env, "/etc/sv.conf:4: \"SIPVAULT_LISTEN_TPC\": unknown key");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"info\",\n\"SIPVAULT_ACTIVE_TIMEOUT\": 0\n}", env,
	           "/etc/sv.conf:3: SIPVAULT_ACTIVE_TIMEOUT: must be 1..604800 seconds");
	server_bad("{\"SIPVAULT_ACTIVE_TIMEOUT\": 1.5}", env,
	           "/etc/sv.conf:1: SIPVAULT_ACTIVE_TIMEOUT");
	server_bad("{\"SIPVAULT_LISTEN_HEP\": null}", env, "SIPVAULT_LISTEN_HEP: must be a string");
	server_bad("{\"SIPVAULT_LISTEN_HEP\": [1]}", env, "SIPVAULT_LISTEN_HEP: must be a string");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"loud\"\n}", env,
	           "/etc/sv.conf:2: SIPVAULT_LOG_LEVEL: must be debug, info, warn or error, got "
	           "\"loud\"");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"info\",\n\"SIPVAULT_LOG_LEVEL\": \"debug\"}", env,
	           "/etc/sv.conf:3: invalid JSON");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"info\"\n\"x\": 1}", env,
	           "/etc/sv.conf:3: invalid JSON");
	server_bad("[1, 2]", env, "/etc/sv.conf:1: the file must hold one JSON object");
	server_bad("{\"SIPVAULT_DATA_DIR\": \"\"}", env, "SIPVAULT_DATA_DIR: required");
	/* A key text inside a string value does not confuse the line finder. */
	server_bad("{\"SIPVAULT_S3_REGION\": \"\\\"SIPVAULT_LOG_LEVEL\\\": x\",\n"
	           "\"SIPVAULT_LOG_LEVEL\": \"x\"}",
	           env, "/etc/sv.conf:2: SIPVAULT_LOG_LEVEL");
	server_bad(
	    "{\n\"SIPVAULT_CUSTOMERS\": [{\"id\": \"a\", \"token\": \"t\", \"bucket\": \"B\"}]}",
	    NULL, "/etc/sv.conf:2: SIPVAULT_CUSTOMERS: customers[0] (id \"a\"): bucket");
}

static void test_server_load_files(void **state)
{
	char *dir = tu_tmpdir();
	char path[512], err[1024];
	struct sv_server_conf c;
	char env_c[256];
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {env_c, NULL};

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_int_equal(sv_server_conf_load(&c, path, env, err, sizeof(err)), SV_E_CONFIG);
	assert_non_null(strstr(err, "missing.conf: cannot read"));
	snprintf(path, sizeof(path), "%s/server.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"SIPVAULT_DATA_DIR\": \"/srv/sv\"}\n", f);
	fclose(f);
	assert_int_equal(sv_server_conf_load(&c, path, env, err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/srv/sv");
	sv_server_conf_release(&c);
	tu_rmrf(dir);
	free(dir);
}

static void test_server_envfile(void **state)
{
	const char *text =
	    "SIPVAULT_CUSTOMERS='[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]'\n"
	    "SIPVAULT_DATA_DIR=/srv/file\n"
	    "SIPVAULT_LOG_FLUSH=30\n";
	const char *env[] = {"SIPVAULT_DATA_DIR=/srv/env", NULL};
	struct sv_server_conf c;
	char err[512] = "";
	int rc =
	    sv_server_conf_parse_envfile(&c, text, strlen(text), "s.env", env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.data_dir, "/srv/env"); /* the environment wins */
	assert_int_equal(c.log_flush, 30);
	assert_string_equal(c.customers->v[0].id, "a");
	sv_server_conf_release(&c);

	const char *t2 =
	    "SIPVAULT_CUSTOMERS='[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]'\n"
	    "\n"
	    "SIPVAULT_LOG_FLUSH=0\n";
	assert_int_equal(
	    sv_server_conf_parse_envfile(&c, t2, strlen(t2), "s.env", NULL, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_non_null(strstr(err, "s.env:3: SIPVAULT_LOG_FLUSH: must be 1..3600 seconds"));
	const char *t3 =
	    "SIPVAULT_CUSTOMERS='[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]'\n"
	    "SIPVAULT_HMAC_SECRET=x\n";
	assert_int_equal(
	    sv_server_conf_parse_envfile(&c, t3, strlen(t3), "s.env", NULL, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_non_null(strstr(err, "s.env:2: SIPVAULT_HMAC_SECRET: unknown key"));
	/* The default file may be missing; an explicit one may not. */
	const char *env2[] = {
	    "SIPVAULT_CUSTOMERS=[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]", NULL};
	assert_int_equal(
	    sv_server_conf_load_envfile(&c, "/nonexistent/server.env", env2, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_non_null(strstr(err, "/nonexistent/server.env: cannot read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_help_lists_every_server_key),
	    cmocka_unit_test(test_server_defaults_env_only),
	    cmocka_unit_test(test_server_file_and_precedence),
	    cmocka_unit_test(test_server_file_errors),
	    cmocka_unit_test(test_server_load_files),
	    cmocka_unit_test(test_server_envfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
