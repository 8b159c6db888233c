/*
 * itest_s3store - the S3 object store (spool + uploads) against a real
 * SigV4-checking S3 server: Swift's s3api, started by
 * tests/integration/s3_store.py (through tests/integration/s3_store.sh).
 *
 * Environment: SIPVAULT_S3_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY; the
 * buckets SV_BUCKET_A and SV_BUCKET_B (created by the driver);
 * SV_SWIFT_PROXY_PGID (the Swift proxy's process group: SIGSTOP/SIGCONT it
 * for the outage tests); SV_MANIFEST (a file where every object put is listed
 * as "bucket<TAB>key<TAB>size<TAB>sha256<TAB>content-type<TAB>encoding" for
 * the driver's byte-for-byte check with boto3); SV_OUTAGE_S (seconds the
 * proxy stays stopped, default 12). Fails when any of them is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "store/objstore.h"
#include "store/s3.h"
#include "store/s3store.h"
#include "testutil.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || v[0] == '\0')
		fail_msg("%s is not set (run tests/integration/s3_store.sh)", name);
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
	c.max_attempts = 2;
	c.backoff_base_ms = 100;
	c.connect_timeout_ms = 2000;
	c.timeout_ms = 4000; /* so attempts time out during the outage */
	return c;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run_for(struct event_base *base, double s)
{
	double end = mono() + s;
	while (mono() < end) {
		struct timeval tv = {0, 20000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static int spool_empty(struct sv_s3store *ss)
{
	struct sv_s3store_stats st;
	sv_s3store_stats(ss, &st);
	return st.spool_objects == 0;
}

static int run_until_empty(struct event_base *base, struct sv_s3store *ss, double limit_s)
{
	double end = mono() + limit_s;
	while (!spool_empty(ss) && mono() < end)
		run_for(base, 0.05);
	return spool_empty(ss);
}

static void swift_signal(int sig)
{
	pid_t pg = (pid_t)atol(env("SV_SWIFT_PROXY_PGID"));
	assert_true(pg > 1);
	assert_int_equal(kill(-pg, sig), 0);
}

static int count_files(const char *dir)
{
	char cmd[700];
	struct sv_buf out;
	sv_buf_init(&out);
	snprintf(cmd, sizeof(cmd), "ls -1 '%s' | grep -c '\\.obj$' || true", dir);
	tu_run(cmd, &out);
	int n = atoi(out.data != NULL ? (char *)out.data : "0");
	sv_buf_release(&out);
	return n;
}

/* Deterministic content: object i of a run, size n. */
static void make_body(struct sv_buf *b, unsigned seed, size_t n)
{
	uint32_t x = seed * 2654435761u + 1;
	sv_buf_reset(b);
	sv_buf_reserve(b, n + 1);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b->data[i] = (uint8_t)x;
	}
	b->len = n;
}

static void manifest(const char *bucket, const char *key, const struct sv_buf *b, const char *ct,
                     const char *ce)
{
	FILE *f = fopen(env("SV_MANIFEST"), "a");
	uint8_t md[SHA256_DIGEST_LENGTH];
	assert_non_null(f);
	SHA256(b->data != NULL ? b->data : (const uint8_t *)"", b->len, md);
	fprintf(f, "%s\t%s\t%zu\t", bucket, key, b->len);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		fprintf(f, "%02x", md[i]);
	fprintf(f, "\t%s\t%s\n", ct != NULL ? ct : "", ce != NULL ? ce : "");
	fclose(f);
}

struct done_rec {
	int calls;
	int rc;
};

static void on_done(void *arg, int rc)
{
	struct done_rec *d = arg;
	d->calls++;
	d->rc = rc;
}

/* Puts one object (recorded in the manifest); done must report 0 at once. */
static void put_obj(struct sv_objstore *st, const char *bucket, const char *key, unsigned seed,
                    size_t n, const char *ct, const char *ce)
{
	struct sv_buf b;
	struct done_rec d = {0, 0};
	sv_buf_init(&b);
	make_body(&b, seed, n);
	manifest(bucket, key, &b, ct, ce);
	assert_int_equal(sv_objstore_put(st, bucket, key, ct, ce, &b, on_done, &d), 0);
	assert_int_equal(d.calls, 1); /* durable in the spool: done at once */
	assert_int_equal(d.rc, 0);
	sv_buf_release(&b);
}

/* The object as S3 has it equals what was put. */
static void verify(struct sv_s3 *s3, const char *bucket, const char *key, unsigned seed, size_t n,
                   const char *ct)
{
	struct sv_s3_result res;
	struct sv_buf want;
	sv_buf_init(&want);
	make_body(&want, seed, n);
	int rc = sv_s3_sync_get(s3, bucket, key, &res);
	if (rc != 0)
		fail_msg("get %s/%s: %s", bucket, key, res.error);
	assert_int_equal(res.body.len, n);
	if (n > 0)
		assert_memory_equal(res.body.data, want.data, n);
	if (ct != NULL)
		assert_string_equal(res.content_type, ct);
	sv_s3_result_release(&res);
	sv_buf_release(&want);
}

/* Number of keys under prefix (all pages). */
static size_t count_keys(struct sv_s3 *s3, const char *bucket, const char *prefix)
{
	struct sv_s3_list_params lp = {.prefix = prefix};
	char token[1024] = "";
	size_t n = 0;
	for (;;) {
		struct sv_s3_result res;
		lp.continuation_token = token[0] != '\0' ? token : NULL;
		int rc = sv_s3_sync_list(s3, bucket, &lp, &res);
		if (rc != 0)
			fail_msg("list %s: %s", bucket, res.error);
		n += res.list.n_objects;
		int more = res.list.truncated;
		snprintf(token, sizeof(token), "%s",
		         res.list.next_token != NULL ? res.list.next_token : "");
		sv_s3_result_release(&res);
		if (!more)
			break;
	}
	return n;
}

struct ctx {
	char *dir;
	char spool[600];
	struct event_base *base;
	struct sv_s3_config cfg;
	struct sv_s3store_opts opts;
	struct sv_s3 *reader; /* blocking client for checks */
	char run[16];         /* unique prefix per run */
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->dir = tu_tmpdir();
	snprintf(c->spool, sizeof(c->spool), "%s/spool/objects", c->dir);
	c->base = event_base_new();
	c->cfg = base_cfg();
	c->opts.s3 = &c->cfg;
	c->opts.spool_dir = c->spool;
	c->opts.max_uploads = 8;
	c->opts.retry_base_ms = 200;
	c->opts.retry_max_ms = 2000;
	c->opts.warn_interval_s = 5;
	struct sv_s3_config rc = base_cfg();
	rc.timeout_ms = 20000;
	if (sv_s3_new(NULL, &rc, &c->reader) != 0)
		return -1;
	snprintf(c->run, sizeof(c->run), "%lx", (unsigned long)(time(NULL) & 0xffffff));
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	sv_s3_free(c->reader);
	event_base_free(c->base);
	tu_rmrf(c->dir);
	free(c->dir);
	free(c);
	return 0;
}

static struct sv_objstore *open_store(struct ctx *c, struct sv_s3store **ss)
{
	struct sv_objstore *st = NULL;
	char err[256];
	int rc = sv_s3store_open(c->base, &c->opts, &st, ss, err, sizeof(err));
	if (rc != 0)
		fail_msg("open: %s", err);
	return st;
}

/* ------------------------------------------------------------ tests */

static void test_puts_land_in_s3(void **state)
{
	struct ctx *c = *state;
	struct sv_s3store *ss;
	struct sv_objstore *st = open_store(c, &ss);
	const char *a = env("SV_BUCKET_A"), *b = env("SV_BUCKET_B");
	static const size_t sizes[] = {0, 1, 17, 1000, 65536, 65537, 300000, 1048576};
	char key[256];
	int n = 0;
	for (int i = 0; i < 40; i++) {
		size_t len = sizes[i % 8];
		const char *ct = i % 3 == 0   ? "application/json"
		                 : i % 3 == 1 ? "application/gzip"
		                              : "application/vnd.tcpdump.pcap";
		snprintf(key, sizeof(key), "%s/land/calls/2026/11/26/call-%d%%40host/obj %d.bin",
		         c->run, i, i);
		put_obj(st, i % 2 ? a : b, key, 1000u + (unsigned)i, len, ct,
		        i == 5 ? "gzip" : NULL);
		n++;
	}
	assert_true(run_until_empty(c->base, ss, 60));
	assert_int_equal(count_files(c->spool), 0);
	struct sv_s3store_stats s;
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.uploads_ok, (uint64_t)n);
	assert_int_equal(s.uploads_failed, 0);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "%s/land/calls/2026/11/26/call-%d%%40host/obj %d.bin",
		         c->run, i, i);
		verify(c->reader, i % 2 ? a : b, key, 1000u + (unsigned)i, sizes[i % 8], NULL);
	}
	/* get through the store: served by S3 now. */
	struct sv_buf got;
	sv_buf_init(&got);
	snprintf(key, sizeof(key), "%s/land/calls/2026/11/26/call-6%%40host/obj 6.bin", c->run);
	assert_int_equal(sv_objstore_get(st, b, key, &got), 0);
	assert_int_equal(got.len, sizes[6]);
	sv_buf_release(&got);
	sv_objstore_free(st);
}

static void test_outage_nothing_lost_nothing_duplicated(void **state)
{
	struct ctx *c = *state;
	struct sv_s3store *ss;
	struct sv_objstore *st = open_store(c, &ss);
	const char *a = env("SV_BUCKET_A"), *b = env("SV_BUCKET_B");
	double outage = atof(getenv("SV_OUTAGE_S") ? getenv("SV_OUTAGE_S") : "12");
	char key[256], prefix[64];
	int n = 0;
	snprintf(prefix, sizeof(prefix), "%s/outage/", c->run);

	/* A few before the outage. */
	for (; n < 10; n++) {
		snprintf(key, sizeof(key), "%s%04d", prefix, n);
		put_obj(st, n % 2 ? a : b, key, 5000u + (unsigned)n, 2000 + (size_t)n * 37,
		        "application/json", NULL);
	}
	swift_signal(SIGSTOP);
	fprintf(stderr, "itest_s3store: Swift proxy stopped for %.0f s while puts continue\n",
	        outage);
	double end = mono() + outage;
	while (mono() < end) {
		snprintf(key, sizeof(key), "%s%04d", prefix, n);
		put_obj(st, n % 2 ? a : b, key, 5000u + (unsigned)n, 2000 + (size_t)n * 37,
		        "application/json", NULL);
		n++;
		run_for(c->base, 0.1);
	}
	struct sv_s3store_stats s;
	sv_s3store_stats(ss, &s);
	fprintf(stderr,
	        "itest_s3store: during the outage: %d puts, spool %llu objects / %llu bytes, "
	        "oldest %.1f s, %llu failed attempts\n",
	        n, (unsigned long long)s.spool_objects, (unsigned long long)s.spool_bytes,
	        sv_s3store_oldest_age(ss, (int64_t)time(NULL) * 1000000000),
	        (unsigned long long)s.uploads_failed);
	assert_true(s.spool_objects >= (uint64_t)(n - 10));
	assert_true(s.uploads_active <= 8);
	assert_true(count_files(c->spool) >= n - 10);
	/* Attempts timed out meanwhile: the buckets report it. */
	assert_true(s.uploads_failed > 0);
	struct sv_s3store_bucket_stats bs;
	int failing = 0;
	for (size_t i = 0; i < sv_s3store_bucket_count(ss); i++) {
		assert_int_equal(sv_s3store_bucket(ss, i, &bs), 0);
		if (bs.errors > 0) {
			failing++;
			assert_true(bs.last_error[0] != '\0');
			assert_null(strstr(bs.last_error, c->cfg.secret_key));
		}
	}
	assert_true(failing >= 1);

	swift_signal(SIGCONT);
	fprintf(stderr, "itest_s3store: Swift proxy resumed\n");
	/* More puts while it drains. */
	for (int k = 0; k < 10; k++, n++) {
		snprintf(key, sizeof(key), "%s%04d", prefix, n);
		put_obj(st, n % 2 ? a : b, key, 5000u + (unsigned)n, 2000 + (size_t)n * 37,
		        "application/json", NULL);
	}
	double t0 = mono();
	assert_true(run_until_empty(c->base, ss, 90));
	fprintf(stderr, "itest_s3store: spool drained %.1f s after the resume\n", mono() - t0);
	assert_int_equal(count_files(c->spool), 0);
	sv_s3store_stats(ss, &s);
	/* Each object confirmed exactly once. */
	assert_int_equal(s.uploads_ok, (uint64_t)n);
	assert_int_equal(s.spooled, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%04d", prefix, i);
		verify(c->reader, i % 2 ? a : b, key, 5000u + (unsigned)i, 2000 + (size_t)i * 37,
		       "application/json");
	}
	/* Exactly the keys put, no extra. */
	assert_int_equal(count_keys(c->reader, a, prefix) + count_keys(c->reader, b, prefix),
	                 (size_t)n);
	for (size_t i = 0; i < sv_s3store_bucket_count(ss); i++) {
		assert_int_equal(sv_s3store_bucket(ss, i, &bs), 0);
		assert_false(bs.failing);
	}
	sv_objstore_free(st);
}

static void test_restart_drains_spool(void **state)
{
	struct ctx *c = *state;
	struct sv_s3store *ss;
	const char *a = env("SV_BUCKET_A");
	char key[256], prefix[64];
	snprintf(prefix, sizeof(prefix), "%s/restart/", c->run);

	swift_signal(SIGSTOP);
	struct sv_objstore *st = open_store(c, &ss);
	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "%s%03d", prefix, i);
		put_obj(st, a, key, 9000u + (unsigned)i, 100 + (size_t)i * 1000, "application/gzip",
		        "gzip");
	}
	run_for(c->base, 0.3);
	sv_objstore_free(st); /* "crash": uploads cancelled, spool kept */
	assert_int_equal(count_files(c->spool), 25);
	swift_signal(SIGCONT);

	st = open_store(c, &ss);
	struct sv_s3store_stats s;
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.recovered, 25);
	assert_int_equal(s.corrupt, 0);
	assert_true(run_until_empty(c->base, ss, 60));
	assert_int_equal(count_files(c->spool), 0);
	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "%s%03d", prefix, i);
		verify(c->reader, a, key, 9000u + (unsigned)i, 100 + (size_t)i * 1000,
		       "application/gzip");
	}
	assert_int_equal(count_keys(c->reader, a, prefix), 25);
	sv_objstore_free(st);
}

struct check_rec {
	int calls;
	int rc[4];
	char line[4][1024];
};

static void on_check(void *arg, size_t i, int rc, const char *line)
{
	struct check_rec *r = arg;
	r->calls++;
	r->rc[i] = rc;
	snprintf(r->line[i], sizeof(r->line[i]), "%s", line);
	fprintf(stderr, "itest_s3store: check %zu: rc %d %s\n", i, rc, line);
}

static void check_with(struct ctx *c, const char *access, const char *secret, struct check_rec *r)
{
	struct sv_s3_config cfg = base_cfg();
	struct sv_s3store_opts o = c->opts;
	struct sv_objstore *st = NULL;
	struct sv_s3store *ss = NULL;
	char err[256], spool[700];
	if (access != NULL)
		cfg.access_key = access;
	if (secret != NULL)
		cfg.secret_key = secret;
	o.s3 = &cfg;
	snprintf(spool, sizeof(spool), "%s/check-spool", c->dir);
	o.spool_dir = spool;
	assert_int_equal(sv_s3store_open(c->base, &o, &st, &ss, err, sizeof(err)), 0);
	const char *buckets[] = {env("SV_BUCKET_A"), "sv-no-such-bucket"};
	memset(r, 0, sizeof(*r));
	assert_int_equal(sv_s3store_check_buckets(ss, buckets, 2, on_check, r), 0);
	double end = mono() + 20;
	while (r->calls < 2 && mono() < end)
		run_for(c->base, 0.05);
	assert_int_equal(r->calls, 2);
	sv_objstore_free(st);
}

static void test_bucket_check(void **state)
{
	struct ctx *c = *state;
	struct check_rec r;

	check_with(c, NULL, NULL, &r);
	assert_int_equal(r.rc[0], 0);
	assert_string_equal(r.line[0], "");
	assert_int_equal(r.rc[1], SV_E_NOTFOUND);
	assert_non_null(strstr(r.line[1], "bucket sv-no-such-bucket: bucket does not exist"));
	assert_non_null(strstr(r.line[1], "NoSuchBucket"));

	check_with(c, NULL, "wrong-secret-xyz", &r);
	assert_int_equal(r.rc[0], SV_E_AUTH);
	assert_non_null(strstr(r.line[0], "wrong secret key"));
	assert_non_null(strstr(r.line[0], "SignatureDoesNotMatch"));
	assert_null(strstr(r.line[0], "wrong-secret-xyz"));
	assert_int_equal(r.rc[1], SV_E_AUTH);

	check_with(c, "nobody:nouser", NULL, &r);
	assert_int_equal(r.rc[0], SV_E_AUTH);
	/* Swift answers an unknown access key with SignatureDoesNotMatch too. */
	assert_non_null(strstr(r.line[0], "bucket sv-store-a: signature refused"));
	assert_non_null(strstr(r.line[0], "access key"));
	assert_null(strstr(r.line[0], "nobody:nouser"));
	assert_null(strstr(r.line[0], c->cfg.secret_key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_puts_land_in_s3),
	    cmocka_unit_test(test_bucket_check),
	    cmocka_unit_test(test_restart_drains_spool),
	    cmocka_unit_test(test_outage_nothing_lost_nothing_duplicated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
