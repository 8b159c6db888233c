/*
 * itest_s3 - the S3 client against a real SigV4-checking S3 server (Swift's
 * s3api, started by tests/integration/s3_client.sh through
 * tests/tools/swiftfixture.py). Reads SIPVAULT_S3_ENDPOINT, _REGION,
 * _ACCESS_KEY and _SECRET_KEY; fails when they are missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "store/s3.h"
#include "store/sigv4.h"
#include "testutil.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKET "sv-itest"

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || v[0] == '\0')
		fail_msg("%s is not set (run tests/integration/s3_client.sh)", name);
	return v;
}

static struct sv_s3_config base_cfg(void)
{
	struct sv_s3_config c;
	memset(&c, 0, sizeof(c));
	c.endpoint = env("SIPVAULT_S3_ENDPOINT");
	c.region = env("SIPVAULT_S3_REGION");
	c.access_key = env("SIPVAULT_S3_ACCESS_KEY");
	c.secret_key = env("SIPVAULT_S3_SECRET_KEY");
	c.max_attempts = 3;
	c.backoff_base_ms = 50;
	c.timeout_ms = 20000;
	return c;
}

static struct sv_s3 *client(const struct sv_s3_config *c)
{
	struct sv_s3 *s3 = NULL;
	assert_int_equal(sv_s3_new(NULL, c, &s3), 0);
	return s3;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int group_setup(void **state)
{
	struct sv_s3_config c = base_cfg();
	struct sv_s3 *s3 = client(&c);
	struct sv_s3_result res;
	int rc = sv_s3_sync_create_bucket(s3, BUCKET, &res);
	if (rc != 0)
		fprintf(stderr, "create bucket: %s\n", res.error);
	sv_s3_result_release(&res);
	sv_s3_free(s3);
	return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- round trip */

static const char *const odd_keys[] = {
    "plain.txt",
    "dir/sub/with space.txt",
    "at@plus+equals=percent%tilde~",
    "utf8/\xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xe2\x82\xac.bin",
    "  leading and trailing  ",
    "q?hash#amp&semi;colon:comma,star*",
};

static void test_roundtrip_odd_keys(void **state)
{
	struct sv_s3_config c = base_cfg();
	struct sv_s3 *s3 = client(&c);
	for (size_t i = 0; i < sizeof(odd_keys) / sizeof(odd_keys[0]); i++) {
		char body[256];
		int n = snprintf(body, sizeof(body), "object %zu: %s\n", i, odd_keys[i]);
		struct sv_s3_put_opts po = {.content_type = i % 2 ? "text/plain; charset=utf-8"
		                                                  : "application/vnd.tcpdump.pcap"};
		if (i == 2)
			po.content_encoding = "gzip";
		struct sv_s3_result res;
		int rc = sv_s3_sync_put(s3, BUCKET, odd_keys[i], body, (size_t)n, &po, &res);
		if (rc != 0)
			fail_msg("put %s: %s", odd_keys[i], res.error);
		assert_int_equal(res.status, 200);
		char md5etag[80];
		assert_true(res.etag[0] == '"' && strlen(res.etag) == 34);
		snprintf(md5etag, sizeof(md5etag), "%s", res.etag);
		sv_s3_result_release(&res);

		rc = sv_s3_sync_get(s3, BUCKET, odd_keys[i], &res);
		if (rc != 0)
			fail_msg("get %s: %s", odd_keys[i], res.error);
		assert_int_equal(res.body.len, (size_t)n);
		assert_memory_equal(res.body.data, body, (size_t)n);
		assert_string_equal(res.content_type, po.content_type);
		if (i == 2)
			assert_string_equal(res.content_encoding, "gzip");
		assert_string_equal(res.etag, md5etag);
		sv_s3_result_release(&res);

		rc = sv_s3_sync_head(s3, BUCKET, odd_keys[i], &res);
		if (rc != 0)
			fail_msg("head %s: %s", odd_keys[i], res.error);
		assert_int_equal(res.content_length, n);
		assert_int_equal(res.body.len, 0);
		assert_string_equal(res.content_type, po.content_type);
		sv_s3_result_release(&res);
	}
	/* An empty object, and HeadBucket. */
	struct sv_s3_result res;
	assert_int_equal(sv_s3_sync_put(s3, BUCKET, "empty", "", 0, NULL, &res), 0);
	sv_s3_result_release(&res);
	assert_int_equal(sv_s3_sync_get(s3, BUCKET, "empty", &res), 0);
	assert_int_equal(res.body.len, 0);
	assert_string_equal(res.content_type, "application/octet-stream");
	sv_s3_result_release(&res);
	assert_int_equal(sv_s3_sync_head(s3, BUCKET, NULL, &res), 0);
	sv_s3_result_release(&res);
	/* Missing key: 404, no retry. */
	assert_int_equal(sv_s3_sync_get(s3, BUCKET, "no/such key", &res), SV_E_NOTFOUND);
	assert_string_equal(res.err.code, "NoSuchKey");
	assert_int_equal(res.attempts, 1);
	sv_s3_result_release(&res);
	assert_int_equal(sv_s3_sync_head(s3, BUCKET, "no/such key", &res), SV_E_NOTFOUND);
	assert_int_equal(res.status, 404);
	sv_s3_result_release(&res);
	sv_s3_free(s3);

	/* A second opinion: boto3 reads what we wrote under the same odd key. */
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "/usr/bin/python3 -c 'import boto3,os,sys\n"
	         "from botocore.config import Config\n"
	         "c=boto3.client(\"s3\",endpoint_url=os.environ[\"SIPVAULT_S3_ENDPOINT\"],"
	         "aws_access_key_id=os.environ[\"SIPVAULT_S3_ACCESS_KEY\"],"
	         "aws_secret_access_key=os.environ[\"SIPVAULT_S3_SECRET_KEY\"],"
	         "region_name=os.environ[\"SIPVAULT_S3_REGION\"],"
	         "config=Config(s3={\"addressing_style\":\"path\"}))\n"
	         "o=c.get_object(Bucket=\"%s\",Key=sys.argv[1])\n"
	         "sys.stdout.write(o[\"ContentType\"]+\"|\"+o[\"Body\"].read().decode())' '%s'",
	         BUCKET, odd_keys[3]);
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(tu_run(cmd, &out), 0);
	assert_int_equal(sv_buf_append(&out, "", 1), 0);
	char want[256];
	snprintf(want, sizeof(want), "text/plain; charset=utf-8|object 3: %s\n", odd_keys[3]);
	assert_string_equal((const char *)out.data, want);
	sv_buf_release(&out);
}

/* ------------------------------------------------- concurrency, list, delete */

#define N_MANY 1100
#define N_SUB  7

struct many {
	int ok, failed;
	size_t peak;
	size_t peak_inflight;
	struct sv_s3 *s3;
	char first_error[1024];
};

static void many_done(struct sv_s3_result *res, void *arg)
{
	struct many *m = arg;
	/* This one was taken off curl already: the others still running were in
	 * flight at the same time. */
	if (sv_s3_inflight(m->s3) + 1 > m->peak_inflight)
		m->peak_inflight = sv_s3_inflight(m->s3) + 1;
	if (res->rc == 0) {
		m->ok++;
	} else {
		if (m->failed++ == 0)
			snprintf(m->first_error, sizeof(m->first_error), "%s", res->error);
	}
}

static void list_all(struct sv_s3 *s3, const char *prefix, const char *delim, unsigned max_keys,
                     size_t *n_objects, size_t *n_prefixes, int *pages, char **prefixes_out)
{
	*n_objects = *n_prefixes = 0;
	*pages = 0;
	char *token = NULL;
	char last[64] = "";
	do {
		struct sv_s3_list_params p = {prefix, delim, token, NULL, max_keys};
		struct sv_s3_result res;
		int rc = sv_s3_sync_list(s3, BUCKET, &p, &res);
		if (rc != 0)
			fail_msg("list: %s", res.error);
		(*pages)++;
		for (size_t i = 0; i < res.list.n_objects; i++) {
			/* Keys come in order, never twice. */
			assert_true(strcmp(last, res.list.objects[i].key) < 0);
			snprintf(last, sizeof(last), "%s", res.list.objects[i].key);
			assert_true(res.list.objects[i].size > 0);
		}
		*n_objects += res.list.n_objects;
		*n_prefixes += res.list.n_prefixes;
		if (prefixes_out != NULL && res.list.n_prefixes > 0 && *prefixes_out == NULL)
			*prefixes_out = strdup(res.list.prefixes[0]);
		free(token);
		token = NULL;
		if (res.list.truncated) {
			assert_non_null(res.list.next_token);
			token = strdup(res.list.next_token);
		}
		sv_s3_result_release(&res);
	} while (token != NULL);
}

static void test_many_list_delete(void **state)
{
	struct sv_s3_config c = base_cfg();
	c.max_inflight = 24;
	c.max_connections = 6;
	struct sv_s3 *s3 = client(&c);
	struct many m = {0};
	m.s3 = s3;
	double t0 = now_s();
	char key[64], body[64];
	for (int i = 0; i < N_MANY + N_SUB; i++) {
		if (i < N_MANY)
			snprintf(key, sizeof(key), "many/%05d.json", i);
		else
			snprintf(key, sizeof(key), "many/sub/%d.json", i);
		int n = snprintf(body, sizeof(body), "{\"i\":%d}", i);
		struct sv_s3_put_opts po = {.content_type = "application/json"};
		assert_int_equal(sv_s3_put(s3, BUCKET, key, body, (size_t)n, &po, many_done, &m),
		                 0);
		if (sv_s3_pending(s3) > m.peak)
			m.peak = sv_s3_pending(s3);
	}
	assert_int_equal(sv_s3_sync_drain(s3), 0);
	double t1 = now_s();
	if (m.failed)
		fail_msg("%d puts failed, first: %s", m.failed, m.first_error);
	assert_int_equal(m.ok, N_MANY + N_SUB);
	assert_int_equal(m.peak, N_MANY + N_SUB); /* all accepted at once, queued beyond 24 */
	assert_true(m.peak_inflight > 6);         /* queued by curl on the 6 connections too */
	assert_true(m.peak_inflight <= 24);
	struct sv_s3_stats st;
	sv_s3_get_stats(s3, &st);
	fprintf(stderr,
	        "itest_s3: %d PUTs in %.2f s, up to %zu in flight, %llu TCP connections, "
	        "%llu retries\n",
	        m.ok, t1 - t0, m.peak_inflight, (unsigned long long)st.connections,
	        (unsigned long long)st.retries);
	assert_true(st.connections <= 12); /* keep-alive: a handful, not one per request */

	size_t n_obj, n_pre;
	int pages;
	list_all(s3, "many/", NULL, 0, &n_obj, &n_pre, &pages, NULL);
	assert_int_equal(n_obj, N_MANY + N_SUB);
	assert_int_equal(pages, 2); /* the server's page is 1000 keys */
	list_all(s3, "many/", NULL, 400, &n_obj, &n_pre, &pages, NULL);
	assert_int_equal(n_obj, N_MANY + N_SUB);
	assert_int_equal(pages, 3);
	char *pre = NULL;
	list_all(s3, "many/", "/", 0, &n_obj, &n_pre, &pages, &pre);
	assert_int_equal(n_obj, N_MANY);
	assert_int_equal(n_pre, 1);
	assert_string_equal(pre, "many/sub/");
	free(pre);
	list_all(s3, "many/sub/", NULL, 0, &n_obj, &n_pre, &pages, NULL);
	assert_int_equal(n_obj, N_SUB);

	/* DeleteObjects: 1000 reported one by one, then the rest in quiet mode. */
	char **keys = calloc(N_MANY, sizeof(char *));
	assert_non_null(keys);
	for (int i = 0; i < N_MANY; i++) {
		snprintf(key, sizeof(key), "many/%05d.json", i);
		keys[i] = strdup(key);
	}
	struct sv_s3_result res;
	assert_int_equal(
	    sv_s3_sync_delete_objects(s3, BUCKET, (const char *const *)keys, 1001, 0, &res),
	    -EINVAL);
	sv_s3_result_release(&res);
	int rc = sv_s3_sync_delete_objects(s3, BUCKET, (const char *const *)keys, 1000, 0, &res);
	if (rc != 0)
		fail_msg("delete: %s", res.error);
	assert_int_equal(res.del.n_deleted, 1000);
	assert_int_equal(res.del.n_errors, 0);
	sv_s3_result_release(&res);
	rc = sv_s3_sync_delete_objects(s3, BUCKET, (const char *const *)keys + 1000, N_MANY - 1000,
	                               1, &res);
	if (rc != 0)
		fail_msg("delete: %s", res.error);
	assert_int_equal(res.del.n_deleted, 0);
	assert_int_equal(res.del.n_errors, 0);
	sv_s3_result_release(&res);
	for (int i = 0; i < N_MANY; i++)
		free(keys[i]);
	free(keys);
	list_all(s3, "many/", NULL, 0, &n_obj, &n_pre, &pages, NULL);
	assert_int_equal(n_obj, N_SUB);
	sv_s3_free(s3);
}

/* ---------------------------------------------------------------- errors */

static void test_wrong_secret(void **state)
{
	struct sv_s3_config c = base_cfg();
	c.secret_key = "not-the-secret";
	struct sv_s3 *s3 = client(&c);
	struct sv_s3_result res;
	assert_int_equal(sv_s3_sync_get(s3, BUCKET, "plain.txt", &res), SV_E_AUTH);
	assert_int_equal(res.status, 403);
	assert_string_equal(res.err.code, "SignatureDoesNotMatch");
	assert_non_null(strstr(res.error, "403 SignatureDoesNotMatch: The request signature"));
	assert_non_null(strstr(res.error, "(request id "));
	assert_int_equal(res.attempts, 1);
	fprintf(stderr, "itest_s3: wrong secret -> %s\n", res.error);
	sv_s3_result_release(&res);
	assert_int_equal(sv_s3_sync_put(s3, BUCKET, "x", "x", 1, NULL, &res), SV_E_AUTH);
	assert_string_equal(res.err.code, "SignatureDoesNotMatch");
	sv_s3_result_release(&res);
	sv_s3_free(s3);
}

static void test_wrong_region(void **state)
{
	struct sv_s3_config c = base_cfg();
	c.region = "us-west-2";
	struct sv_s3 *s3 = client(&c);
	struct sv_s3_result res;
	assert_int_equal(sv_s3_sync_get(s3, BUCKET, "plain.txt", &res), -EINVAL);
	assert_int_equal(res.status, 400);
	assert_string_equal(res.err.code, "AuthorizationHeaderMalformed");
	assert_non_null(strstr(res.error, "us-west-2"));
	assert_int_equal(res.attempts, 1);
	fprintf(stderr, "itest_s3: wrong region -> %s\n", res.error);
	sv_s3_result_release(&res);
	sv_s3_free(s3);
}

static void test_wrong_payload_hash(void **state)
{
	struct sv_s3_config c = base_cfg();
	struct sv_s3 *s3 = client(&c);
	char other[65];
	sv_sha256_hex("other bytes", 11, other);
	/* No Content-MD5: only the signed SHA-256 can give the mismatch away. */
	struct sv_s3_put_opts po = {.payload_sha256 = other, .no_content_md5 = 1};
	struct sv_s3_result res;
	assert_int_equal(sv_s3_sync_put(s3, BUCKET, "hash-mismatch", "these bytes", 11, &po, &res),
	                 -EINVAL);
	assert_int_equal(res.status, 400);
	assert_true(strcmp(res.err.code, "BadDigest") == 0 ||
	            strcmp(res.err.code, "XAmzContentSHA256Mismatch") == 0);
	assert_int_equal(res.attempts, 1);
	fprintf(stderr, "itest_s3: wrong payload hash -> %s\n", res.error);
	sv_s3_result_release(&res);
	/* Nothing was stored. */
	assert_int_equal(sv_s3_sync_head(s3, BUCKET, "hash-mismatch", &res), SV_E_NOTFOUND);
	sv_s3_result_release(&res);
	sv_s3_free(s3);
}

static void test_missing_bucket(void **state)
{
	struct sv_s3_config c = base_cfg();
	struct sv_s3 *s3 = client(&c);
	struct sv_s3_result res;
	assert_int_equal(sv_s3_sync_get(s3, "no-such-bucket", "k", &res), SV_E_NOTFOUND);
	assert_string_equal(res.err.code, "NoSuchBucket");
	assert_non_null(strstr(res.error, "GET no-such-bucket/k: 404 NoSuchBucket"));
	sv_s3_result_release(&res);
	assert_int_equal(sv_s3_sync_put(s3, "no-such-bucket", "k", "v", 1, NULL, &res),
	                 SV_E_NOTFOUND);
	assert_string_equal(res.err.code, "NoSuchBucket");
	sv_s3_result_release(&res);
	struct sv_s3_list_params p = {0};
	assert_int_equal(sv_s3_sync_list(s3, "no-such-bucket", &p, &res), SV_E_NOTFOUND);
	assert_string_equal(res.err.code, "NoSuchBucket");
	sv_s3_result_release(&res);
	assert_int_equal(sv_s3_sync_head(s3, "no-such-bucket", NULL, &res), SV_E_NOTFOUND);
	sv_s3_result_release(&res);
	sv_s3_free(s3);
}

/* ---------------------------------------------------------------- presign */

static int curl_fetch(const char *url, const char *outfile)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "curl -s -g -o '%s' -w '%%{http_code}' '%s'", outfile, url);
	struct sv_buf out;
	sv_buf_init(&out);
	int st = tu_run(cmd, &out);
	assert_int_equal(st, 0);
	assert_int_equal(sv_buf_append(&out, "", 1), 0);
	int code = atoi((const char *)out.data);
	sv_buf_release(&out);
	return code;
}

static void test_presigned_get(void **state)
{
	struct sv_s3_config c = base_cfg();
	struct sv_s3 *s3 = client(&c);
	const char *key = odd_keys[2]; /* @ + = % ~ */
	struct sv_s3_result res;
	assert_int_equal(sv_s3_sync_get(s3, BUCKET, key, &res), 0);
	char *dir = tu_tmpdir();
	char file[512];
	snprintf(file, sizeof(file), "%s/got", dir);

	struct sv_buf url;
	sv_buf_init(&url);
	int64_t now = (int64_t)time(NULL);
	assert_int_equal(sv_s3_presign_get(s3, BUCKET, key, now, 300, &url), 0);
	assert_int_equal(sv_buf_append(&url, "", 1), 0);
	assert_int_equal(curl_fetch((const char *)url.data, file), 200);
	struct sv_buf got;
	sv_buf_init(&got);
	tu_read_file(file, &got);
	assert_int_equal(got.len, res.body.len);
	assert_memory_equal(got.data, res.body.data, got.len);
	sv_buf_release(&got);

	/* Tampered signature: flip its last hex digit. */
	char *u = (char *)url.data;
	size_t ul = strlen(u);
	char orig = u[ul - 1];
	u[ul - 1] = orig == '0' ? '1' : '0';
	assert_int_equal(curl_fetch(u, file), 403);
	u[ul - 1] = orig;
	assert_int_equal(curl_fetch(u, file), 200); /* restored: valid again */
	/* Tampered key: another object's name with the same signature. */
	sv_buf_reset(&url);
	assert_int_equal(sv_s3_presign_get(s3, BUCKET, "plain.txt", now, 300, &url), 0);
	assert_int_equal(sv_buf_append(&url, "", 1), 0);
	u = strstr((char *)url.data, "plain.txt");
	assert_non_null(u);
	u[0] = 'P';
	assert_int_equal(curl_fetch((const char *)url.data, file), 403);
	/* Expired: signed an hour ago for 60 s. */
	sv_buf_reset(&url);
	assert_int_equal(sv_s3_presign_get(s3, BUCKET, key, now - 3600, 60, &url), 0);
	assert_int_equal(sv_buf_append(&url, "", 1), 0);
	assert_int_equal(curl_fetch((const char *)url.data, file), 403);

	sv_buf_release(&url);
	sv_s3_result_release(&res);
	tu_rmrf(dir);
	free(dir);
	sv_s3_free(s3);
}

/* ---------------------------------------------------------------- retries */

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_retry_closed_port(void **state)
{
	struct sv_s3_config c = base_cfg();
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", closed_port());
	c.endpoint = ep;
	c.max_attempts = 4;
	c.backoff_base_ms = 100;
	c.backoff_max_ms = 1000;
	struct sv_s3 *s3 = client(&c);
	struct sv_s3_result res;
	double t0 = now_s();
	assert_int_equal(sv_s3_sync_put(s3, BUCKET, "k", "v", 1, NULL, &res), -ECONNREFUSED);
	double dt = now_s() - t0;
	assert_int_equal(res.attempts, 4);
	assert_int_equal(res.status, 0);
	assert_non_null(strstr(res.error, "cannot connect to 127.0.0.1:"));
	assert_non_null(strstr(res.error, "after 4 attempts"));
	fprintf(stderr, "itest_s3: closed port -> %s (%.2f s)\n", res.error, dt);
	/* Backoffs at least 50 + 100 + 200 ms (the deterministic halves), at most
	 * 100 + 200 + 400 ms plus connection attempts. */
	assert_true(dt >= 0.35);
	assert_true(dt < 3.0);
	sv_s3_result_release(&res);
	sv_s3_free(s3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_odd_keys), cmocka_unit_test(test_many_list_delete),
	    cmocka_unit_test(test_wrong_secret),       cmocka_unit_test(test_wrong_region),
	    cmocka_unit_test(test_wrong_payload_hash), cmocka_unit_test(test_missing_bucket),
	    cmocka_unit_test(test_presigned_get),      cmocka_unit_test(test_retry_closed_port),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
